// Snapshot owners (shared_memory.h): every allocation a snapshot holds was made for the root or
// piece it belongs to, and that owner is among RouteSnapshot::LiveOwners of the generations that
// use it — what a successor control plane relies on to free everything else a killed
// predecessor left. Process-local allocations (no owner) are never reachable from a snapshot. And
// a build that runs out of snapshot memory gives back all it took and leaves the previous
// generation as it was.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "dataplane/route/acl.h"
#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/shared_memory.h"

namespace dmrswitch::route {
namespace {

// Every live allocation through the hooks with its size and owner; optionally refuses owned
// allocations after a budget.
struct Tracker {
  struct Allocation {
    size_t bytes;
    uint64_t owner;
    bool operator==(const Allocation&) const = default;
  };
  std::map<uintptr_t, Allocation> live;
  int64_t owned_budget = -1;  // owned allocations still allowed (-1: any)

  static Tracker* current;
  static void* Allocate(size_t bytes, size_t alignment) {
    const uint64_t owner = CurrentSnapshotOwner();
    if (owner != 0 && current->owned_budget >= 0) {
      if (current->owned_budget == 0) return nullptr;
      --current->owned_budget;
    }
    void* p = DefaultSnapshotMemory().allocate(bytes, alignment);
    if (p != nullptr) current->live[reinterpret_cast<uintptr_t>(p)] = {bytes, owner};
    return p;
  }
  static void Free(void* p, size_t bytes, size_t alignment) {
    current->live.erase(reinterpret_cast<uintptr_t>(p));
    DefaultSnapshotMemory().deallocate(p, bytes, alignment);
  }

  Tracker() {
    current = this;
    SetSnapshotMemory({Allocate, Free});
  }
  ~Tracker() {
    SetSnapshotMemory({});
    current = nullptr;
  }

  std::map<uintptr_t, Allocation> Owned() const {
    std::map<uintptr_t, Allocation> out;
    for (const auto& [p, a] : live) {
      if (a.owner != 0) out[p] = a;
    }
    return out;
  }
  // The owned allocations whose owner is not in `owners`, one line each.
  std::vector<std::string> Orphans(const absl::flat_hash_set<uint64_t>& owners) const {
    std::vector<std::string> out;
    for (const auto& [p, a] : live) {
      if (a.owner != 0 && !owners.contains(a.owner)) {
        out.push_back(absl::StrCat(a.bytes, " bytes of owner ", a.owner));
      }
    }
    return out;
  }
  // Words of owned allocations that point into a process-local (ownerless) one: a snapshot that
  // would lead another process into this one's heap.
  std::vector<std::string> PointersToLocal() const {
    std::vector<std::string> out;
    for (const auto& [p, a] : live) {
      if (a.owner == 0) continue;
      for (size_t off = 0; off + 8 <= a.bytes; off += 8) {
        uint64_t word;
        std::memcpy(&word, reinterpret_cast<const void*>(p + off), 8);
        auto it = live.upper_bound(word);
        if (it == live.begin()) continue;
        --it;
        if (it->second.owner == 0 && word < it->first + it->second.bytes) {
          out.push_back(absl::StrCat("owner ", a.owner, " +", off, " -> local allocation of ",
                                     it->second.bytes, " bytes"));
        }
      }
    }
    return out;
  }
};
Tracker* Tracker::current = nullptr;

ClientSpec Client(uint32_t id, bool acl) {
  ClientSpec c;
  c.id = id;
  c.addr = Endpoint{0xC6120000u + (id & 0xFFFF), static_cast<uint16_t>(40000 + id % 1000)};
  if (acl) {
    c.use_acl = true;
    c.sub_acl = *Acl::Parse(absl::StrCat("PERMIT:", 1 + id % 1000, "-", id % 1000 + 51));
    c.tg_acl[1] = *Acl::Parse("DENY:1-90,200-300");
  }
  return c;
}

PeerSpec Peer(int i) {
  PeerSpec p;
  p.name = absl::StrCat("peer-", i, "-with-a-name-longer-than-any-short-string-buffer");
  p.version = i % 2 == 0 ? 1 : 5;
  p.passphrase = "secret";
  p.network_id = 310000 + i;
  p.target = Endpoint{0xC6130000u + i, static_cast<uint16_t>(62040 + i)};
  p.listener = static_cast<uint32_t>(i % 3);
  p.use_acl = true;
  p.tg_acl = *Acl::Parse("PERMIT:1-5000");
  return p;
}

// One random change of every kind the control plane makes.
void Change(RouteSnapshotBuilder& b, std::mt19937_64& rng, uint32_t capacity) {
  const uint32_t slot = static_cast<uint32_t>(rng() % capacity);
  switch (rng() % 9) {
    case 0:
      (void)b.SetClient(slot, Client(3120000 + slot, rng() % 2 == 0));
      break;
    case 1:
      b.RemoveClient(slot);
      break;
    case 2:
      (void)b.Subscribe(slot, rng() % 2, 90 + rng() % 40,
                        rng() % 2 == 0 ? MemberKind::kStatic : MemberKind::kUserActivated,
                        static_cast<TimeNs>(rng() % 1000));
      break;
    case 3:
      (void)b.SetDial(slot, rng() % 3 == 0 ? 0 : 2300 + static_cast<uint32_t>(rng() % 5));
      break;
    case 4: {
      std::vector<uint8_t> record(rng() % 400);
      for (uint8_t& x : record) x = static_cast<uint8_t>(rng());
      b.SetClientRestart(slot, record);
      break;
    }
    case 5:
      b.AddSubscriberLocation(2000000 + static_cast<uint32_t>(rng() % 5000), slot, rng() % 2,
                              static_cast<TimeNs>(rng() % 100000));
      break;
    case 6:
      b.RemoveSubscriberLocation(2000000 + static_cast<uint32_t>(rng() % 5000));
      break;
    case 7: {
      std::vector<PeerSpec> peers;
      for (int i = 0; i < static_cast<int>(rng() % 4); ++i) peers.push_back(Peer(i));
      (void)b.SetPeers(peers);
      break;
    }
    default: {
      HubPolicy p;
      p.server_id = static_cast<uint32_t>(rng() % 3);
      p.tg_acl[0] = *Acl::Parse(absl::StrCat("DENY:", 1 + rng() % 50));
      b.SetPolicy(p);
      std::vector<uint8_t> state(rng() % 300, 7);
      b.SetControlState(state);
      break;
    }
  }
}

std::vector<const RouteSnapshot*> Roots(
    const std::vector<std::shared_ptr<const RouteSnapshot>>& g) {
  std::vector<const RouteSnapshot*> out;
  for (const auto& s : g) out.push_back(s.get());
  return out;
}

TEST(SnapshotOwnerTest, EveryAllocationOfASnapshotHasALiveOwnerAndNoneIsLocal) {
  Tracker tracker;
  constexpr uint32_t kCapacity = 200;
  std::mt19937_64 rng(11);
  {
    RouteSnapshotBuilder b(HubPolicy{}, kCapacity);
    for (uint32_t s = 0; s < 150; ++s)
      ASSERT_TRUE(b.AddClient(s, Client(3120000 + s, s % 3 == 0)).ok());
    std::vector<std::shared_ptr<const RouteSnapshot>> kept;  // as the publisher keeps a few
    for (uint64_t g = 1; g <= 300; ++g) {
      for (int i = 0; i < 1 + static_cast<int>(rng() % 8); ++i) Change(b, rng, kCapacity);
      auto snap = b.Build(g);
      ASSERT_TRUE(snap.ok()) << snap.status();
      kept.push_back(*snap);
      while (kept.size() > 1 + rng() % 4) kept.erase(kept.begin());
      const std::vector<const RouteSnapshot*> roots = Roots(kept);
      ASSERT_TRUE(tracker.Orphans(RouteSnapshot::LiveOwners(roots)).empty())
          << "generation " << g << ": " << tracker.Orphans(RouteSnapshot::LiveOwners(roots))[0];
      if (g % 50 == 0) {
        const std::vector<std::string> local = tracker.PointersToLocal();
        ASSERT_TRUE(local.empty()) << "generation " << g << ": " << local[0];
      }
    }
    // The process-local side (the builder's working state, the specs) owns nothing.
    EXPECT_GT(tracker.live.size(), tracker.Owned().size());
  }
  EXPECT_TRUE(tracker.Owned().empty()) << tracker.Owned().size() << " owned allocations left";
}

TEST(SnapshotOwnerTest, ABuildOutOfMemoryGivesBackAllItTookAndKeepsThePreviousGeneration) {
  Tracker tracker;
  constexpr uint32_t kCapacity = 130;
  std::mt19937_64 rng(12);
  RouteSnapshotBuilder b(HubPolicy{}, kCapacity);
  for (uint32_t s = 0; s < 100; ++s) {
    ASSERT_TRUE(b.AddClient(s, Client(3120000 + s, s % 2 == 0)).ok());
  }
  for (int i = 0; i < 200; ++i) Change(b, rng, kCapacity);
  std::shared_ptr<const RouteSnapshot> prev;
  {
    auto first = b.Build(1);
    ASSERT_TRUE(first.ok());
    prev = *std::move(first);
  }
  // A small change (one chunk, one conference), then a new policy and many clients; refused at
  // every owned allocation of each build in turn.
  for (bool many : {false, true}) {
    if (many) {
      b.SetPolicy(HubPolicy{});
      for (uint32_t s = 0; s < kCapacity; s += 7) (void)b.SetClient(s, Client(3130000 + s, true));
    } else {
      ASSERT_TRUE(b.SetClient(3, Client(3120003, true)).ok());
      ASSERT_TRUE(b.Subscribe(3, kTs2, 3100, MemberKind::kStatic).ok());
    }
    const std::map<uintptr_t, Tracker::Allocation> before = tracker.Owned();
    const int64_t found = prev->FindClient(3120004);
    int64_t needed = -1;
    for (int64_t budget = 0; needed < 0; ++budget) {
      tracker.owned_budget = budget;
      auto next = b.Build(prev->generation() + 1);
      tracker.owned_budget = -1;
      if (next.ok()) {
        needed = budget;
        prev = *next;
        break;
      }
      EXPECT_EQ(next.status().code(), absl::StatusCode::kResourceExhausted) << next.status();
      // Nothing kept, nothing lost: the previous generation as it was, counted once.
      ASSERT_TRUE(tracker.Owned() == before) << "budget " << budget;
      ASSERT_EQ(prev->FindClient(3120004), found);
      ASSERT_TRUE(b.dirty()) << "the refused changes are still to be built";
    }
    EXPECT_GT(needed, many ? 200 : 3);  // every owned allocation of the build was refused once
    EXPECT_EQ(prev->FindClient(3120003), 3);
    EXPECT_TRUE(tracker.Orphans(RouteSnapshot::LiveOwners(Roots({prev}))).empty());
  }
}

}  // namespace
}  // namespace dmrswitch::route
