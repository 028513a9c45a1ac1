// A separate control plane's snapshot memory (ctrlplane/snapshot_memory.h) with the real
// snapshot code on top: RouteSnapshots builds and publishes generations in a SnapshotArena and
// records them in a PlaneInfo, both in memory shared with a forked child that plays the control
// plane. The child is killed before each one of its arena metadata writes in turn, and at random
// instants in a chain of successors that each adopt what the one before left. Every time, the
// next control plane finds a valid arena, reclaims exactly the blocks no recorded generation
// uses, reads the current generation as the killed one built it, and once it frees the recorded
// generations the arena is empty: nothing leaked, nothing freed twice.
#include "ctrlplane/snapshot_memory.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ctrlplane/route_snapshots.h"
#include "dataplane/ipc/plane_info.h"
#include "dataplane/ipc/snapshot_arena.h"
#include "dataplane/route/acl.h"
#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/shared_memory.h"

namespace dmrswitch::cp {
namespace {

using ipc::PlaneInfo;
using ipc::SnapshotArena;

constexpr uint32_t kCapacity = 256;
constexpr size_t kInfoBytes = 1 << 20;
constexpr size_t kArenaBytes = 24 << 20;

// PlaneInfo and the arena in one shared anonymous mapping: a forked child writes them and the
// parent reads what the child left, at the same addresses.
class SharedPlane {
 public:
  SharedPlane() {
    void* p = mmap(nullptr, kInfoBytes + kArenaBytes, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    base_ = p == MAP_FAILED ? nullptr : static_cast<char*>(p);
  }
  ~SharedPlane() {
    if (base_ != nullptr) munmap(base_, kInfoBytes + kArenaBytes);
  }
  SharedPlane(const SharedPlane&) = delete;
  SharedPlane& operator=(const SharedPlane&) = delete;

  bool ok() const { return base_ != nullptr; }
  // An empty plane: no control plane, no generation, an empty arena.
  absl::Status Reset() {
    static_assert(sizeof(PlaneInfo) + sizeof(uint64_t) <= kInfoBytes);
    std::memset(base_, 0, kInfoBytes);
    new (base_) PlaneInfo();
    auto a = SnapshotArena::Format(arena_base(), kArenaBytes);
    return a.status();
  }
  PlaneInfo* info() const { return reinterpret_cast<PlaneInfo*>(base_); }
  // A word after PlaneInfo for the child to report through.
  uint64_t* note() const { return reinterpret_cast<uint64_t*>(base_ + kInfoBytes) - 1; }
  void* arena_base() const { return base_ + kInfoBytes; }

 private:
  char* base_ = nullptr;
};

route::ClientSpec Client(uint32_t slot, uint64_t variant) {
  route::ClientSpec c;
  c.id = 3120000 + slot;
  c.addr = route::Endpoint{0xC6120000u + slot, static_cast<uint16_t>(40000 + variant % 1000)};
  if (variant % 3 == 0) {
    c.use_acl = true;
    c.sub_acl = *route::Acl::Parse(absl::StrCat("PERMIT:", 1 + variant % 900, "-2000"));
  }
  return c;
}

// What a control plane does to its snapshots, as a deterministic function of `seed`: logins and
// logouts, subscriptions, dial links, restart records, heard subscribers, peers and policy, and a
// generation published after each step. Stops after `steps` steps, or when a generation
// `stop_at` was published (0: never).
void Script(RouteSnapshots& rs, uint64_t seed, uint64_t steps, uint64_t stop_at = 0) {
  std::mt19937_64 rng(seed);
  route::RouteSnapshotBuilder& b = rs.builder();
  route::TimeNs now = 1000 * route::kSec;
  for (uint64_t step = 0; step < steps; ++step) {
    const int changes = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < changes; ++i) {
      const auto slot = static_cast<uint32_t>(rng() % kCapacity);
      switch (rng() % 10) {
        case 0:
        case 1:
          (void)b.SetClient(slot, Client(slot, rng()));
          break;
        case 2:
          b.RemoveClient(slot);
          break;
        case 3:
          (void)b.Subscribe(
              slot, rng() % 2, 90 + static_cast<uint32_t>(rng() % 40),
              rng() % 2 == 0 ? route::MemberKind::kStatic : route::MemberKind::kUserActivated,
              static_cast<route::TimeNs>(rng() % 1000));
          break;
        case 4:
          (void)b.SetDial(slot, rng() % 3 == 0 ? 0 : 2300 + static_cast<uint32_t>(rng() % 5));
          break;
        case 5: {
          std::vector<uint8_t> record(rng() % 600);
          for (uint8_t& x : record) x = static_cast<uint8_t>(rng());
          b.SetClientRestart(slot, record);
          break;
        }
        case 6:
          b.AddSubscriberLocation(2000000 + static_cast<uint32_t>(rng() % 3000), slot, rng() % 2,
                                  static_cast<route::TimeNs>(rng() % 100000));
          break;
        case 7:
          b.RemoveSubscriberLocation(2000000 + static_cast<uint32_t>(rng() % 3000));
          break;
        case 8: {
          std::vector<route::PeerSpec> peers;
          for (int p = 0; p < static_cast<int>(rng() % 4); ++p) {
            route::PeerSpec s;
            s.name = absl::StrCat("peer-", p, "-", rng() % 3);
            s.version = 1;
            s.passphrase = "secret";
            s.network_id = 310000 + p;
            s.target = route::Endpoint{0xC6130000u + p, static_cast<uint16_t>(62040 + p)};
            peers.push_back(std::move(s));
          }
          (void)b.SetPeers(peers);
          break;
        }
        default: {
          route::HubPolicy p;
          p.server_id = static_cast<uint32_t>(rng() % 3);
          p.tg_acl[0] = *route::Acl::Parse(absl::StrCat("DENY:", 1 + rng() % 50));
          b.SetPolicy(p);
          break;
        }
      }
    }
    std::vector<uint8_t> hub_state(rng() % 200, static_cast<uint8_t>(step));
    if (!rs.Publish(now += 30 * route::kMs, hub_state, /*force=*/true).ok()) return;
    if (stop_at != 0 && rs.generation() == stop_at) return;
  }
}

// Everything a shard or a successor reads from a generation, as text.
std::string Digest(const route::RouteSnapshot& s) {
  std::vector<std::string> lines;
  s.ForEachMembership([&](const route::RouteSnapshot::Membership& m) {
    lines.push_back(absl::StrCat("member ", m.client_slot, " ", m.ts, " ", m.tg, " ",
                                 static_cast<int>(m.kind), " ", m.ua_expires_at));
  });
  s.ForEachSubscriber([&](uint32_t rf_src, const route::Location& l) {
    lines.push_back(absl::StrCat("heard ", rf_src, " ", static_cast<int>(l.at.kind), " ",
                                 l.at.index, " ", l.ts, " ", l.heard_at));
  });
  s.ForEachClientRestartRecord([&](uint32_t slot, std::span<const uint8_t> bytes) {
    lines.push_back(absl::StrCat("restart ", slot, " ", std::string(bytes.begin(), bytes.end())));
  });
  for (uint32_t slot = 0; slot < kCapacity; ++slot) {
    lines.push_back(absl::StrCat("find ", slot, " ", s.FindClient(3120000 + slot)));
  }
  const std::span<const uint8_t> state = s.control_state();
  lines.push_back(absl::StrCat("state ", std::string(state.begin(), state.end())));
  std::sort(lines.begin(), lines.end());
  return absl::StrJoin(lines, "\n");
}

// The generation `generation` of Script(seed), built again in this process's heap.
std::string ReplayedDigest(uint64_t seed, uint64_t steps, uint64_t generation) {
  route::SetSnapshotMemory({});
  RouteSnapshots rs({}, nullptr, route::HubPolicy{}, kCapacity);
  Script(rs, seed, steps, generation);
  if (rs.generation() != generation) return absl::StrCat("no generation ", generation);
  return Digest(*rs.publisher().current());
}

// The blocks of `arena` no recorded generation uses.
uint64_t Unreferenced(const SnapshotArena& arena, const PlaneInfo& info) {
  const absl::flat_hash_set<uint64_t> live =
      route::RouteSnapshot::LiveOwners(RecordedSnapshots(info));
  uint64_t n = 0;
  arena.ForEachBlock([&](const SnapshotArena::Block& b) { n += live.contains(b.owner) ? 0 : 1; });
  return n;
}

// A successor: frees every recorded generation (what adopting them and publishing newer ones
// ends in). Afterwards the arena must be empty.
void FreeRecorded(SnapshotArena& arena, PlaneInfo& info) {
  UseSnapshotArena(&arena);
  const std::vector<const route::RouteSnapshot*> roots = RecordedSnapshots(info);
  route::RouteSnapshot::RecountPieces(roots);
  std::vector<std::shared_ptr<const route::RouteSnapshot>> adopted(roots.begin(), roots.end());
  for (const auto& r : adopted) ipc::ForgetSnapshot(&info, r->generation());
  adopted.clear();
  UseSnapshotArena(nullptr);
}

// Runs `fn` in a child process; returns its wait status.
template <class Fn>
int InChild(Fn&& fn) {
  const pid_t pid = fork();
  if (pid == 0) {
    fn();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

TEST(SnapshotMemoryTest, AControlPlaneKilledBeforeAnyArenaWriteLeavesNothingBehind) {
  SharedPlane plane;
  ASSERT_TRUE(plane.ok());
  constexpr uint64_t kSeed = 41;
  constexpr uint64_t kSteps = 60;
  // The whole script once, to count its metadata writes.
  ASSERT_TRUE(plane.Reset().ok());
  int status = InChild([&] {
    auto arena = SnapshotArena::Attach(plane.arena_base(), kArenaBytes);
    if (!arena.ok()) _exit(2);
    UseSnapshotArena(&*arena);
    RouteSnapshots rs({}, plane.info(), route::HubPolicy{}, kCapacity);
    const uint64_t before = SnapshotArena::metadata_writes();
    Script(rs, kSeed, kSteps);
    *plane.note() = SnapshotArena::metadata_writes() - before;
    if (rs.generation() < kSteps / 2) _exit(3);
  });
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  const uint64_t writes = *plane.note();
  ASSERT_GT(writes, 1000u);

  // Killed before write n, for n over all of them (every write in the first 300, then spread).
  std::vector<uint64_t> kill_points;
  for (uint64_t n = 1; n <= std::min<uint64_t>(writes, 300); ++n) kill_points.push_back(n);
  for (uint64_t n = 301; n <= writes; n += std::max<uint64_t>(1, writes / 500)) {
    kill_points.push_back(n);
  }
  kill_points.push_back(writes);
  uint64_t reclaimed_runs = 0;
  for (uint64_t n : kill_points) {
    SCOPED_TRACE(absl::StrCat("killed before metadata write ", n, " of ", writes));
    ASSERT_TRUE(plane.Reset().ok());
    status = InChild([&] {
      auto arena = SnapshotArena::Attach(plane.arena_base(), kArenaBytes);
      if (!arena.ok()) _exit(2);
      UseSnapshotArena(&*arena);
      RouteSnapshots rs({}, plane.info(), route::HubPolicy{}, kCapacity);
      SnapshotArena::KillBeforeMetadataWriteForTesting(n);
      Script(rs, kSeed, kSteps);
      _exit(4);  // every kill point lies inside the script
    });
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;

    // The successor.
    auto arena = SnapshotArena::Attach(plane.arena_base(), kArenaBytes);
    ASSERT_TRUE(arena.ok()) << arena.status();
    ASSERT_TRUE(arena->Check().ok()) << arena->Check();
    const ArenaRecovery recovery = ReclaimSnapshotArena(*arena, *plane.info());
    if (recovery.reclaimed.blocks > 0) ++reclaimed_runs;
    ASSERT_TRUE(arena->Check().ok()) << arena->Check();
    ASSERT_EQ(Unreferenced(*arena, *plane.info()), 0u);
    std::vector<uint64_t> incomplete;
    const std::vector<const route::RouteSnapshot*> roots =
        RecordedSnapshots(*plane.info(), &incomplete);
    ASSERT_TRUE(incomplete.empty());
    if (!roots.empty()) {
      const route::RouteSnapshot* current = *std::max_element(
          roots.begin(), roots.end(),
          [](const auto* a, const auto* b) { return a->generation() < b->generation(); });
      ASSERT_EQ(current->generation(), plane.info()->current_generation.load());
      ASSERT_EQ(Digest(*current), ReplayedDigest(kSeed, kSteps, current->generation()));
    }
    FreeRecorded(*arena, *plane.info());
    ASSERT_EQ(arena->usage().blocks, 0u) << "leaked";
    ASSERT_EQ(arena->totals().ignored_frees, 0u) << "freed twice";
    ASSERT_TRUE(arena->Check().ok()) << arena->Check();
  }
  // The kills did land in the middle of builds and frees.
  EXPECT_GT(reclaimed_runs, kill_points.size() / 4);
}

TEST(SnapshotMemoryTest, AChainOfControlPlanesKilledAtRandomInstantsLeaksNothing) {
  SharedPlane plane;
  ASSERT_TRUE(plane.ok());
  ASSERT_TRUE(plane.Reset().ok());
  std::mt19937_64 rng(7);
  uint64_t reclaimed_blocks = 0;
  uint64_t last_generation = 0;
  constexpr int kControlPlanes = 200;
  for (int i = 0; i < kControlPlanes; ++i) {
    SCOPED_TRACE(absl::StrCat("control plane ", i));
    const uint64_t seed = rng();
    const pid_t pid = fork();
    if (pid == 0) {
      // As dmrswitch-cp starts: reclaim, adopt what is recorded, continue its generations.
      auto arena = SnapshotArena::Attach(plane.arena_base(), kArenaBytes);
      if (!arena.ok()) _exit(2);
      const ArenaRecovery recovery = ReclaimSnapshotArena(*arena, *plane.info());
      __atomic_fetch_add(plane.note(), recovery.reclaimed.blocks, __ATOMIC_RELAXED);
      UseSnapshotArena(&*arena);
      const std::vector<const route::RouteSnapshot*> roots = RecordedSnapshots(*plane.info());
      route::RouteSnapshot::RecountPieces(roots);
      RouteSnapshots rs({}, plane.info(), route::HubPolicy{}, kCapacity);
      uint64_t newest = 0;
      for (const auto* r : roots) newest = std::max(newest, r->generation());
      rs.publisher().Adopt({roots.begin(), roots.end()});
      rs.ContinueAfter(newest);
      Script(rs, seed, UINT64_MAX);  // until killed
      _exit(4);
    }
    ASSERT_GT(pid, 0);
    // Every other control plane is let publish a few generations first, however slow the
    // machine (sanitizers, a busy VM), so that the chain gets work done; then 0 to 4 ms: some
    // die while adopting, most while building, publishing or freeing.
    if (i % 2 == 0) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (plane.info()->current_generation.load() < last_generation + 4 &&
             std::chrono::steady_clock::now() < deadline) {
        usleep(100);
      }
    }
    usleep(static_cast<useconds_t>(rng() % 4000));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "exit " << WEXITSTATUS(status);
    auto arena = SnapshotArena::Attach(plane.arena_base(), kArenaBytes);
    ASSERT_TRUE(arena.ok()) << arena.status();
    ASSERT_TRUE(arena->Check().ok()) << arena->Check();
    const uint64_t generation = plane.info()->current_generation.load();
    ASSERT_GE(generation, last_generation) << "generations go backwards";
    last_generation = generation;
  }
  reclaimed_blocks = *plane.note();
  auto arena = SnapshotArena::Attach(plane.arena_base(), kArenaBytes);
  ASSERT_TRUE(arena.ok());
  ReclaimSnapshotArena(*arena, *plane.info());
  EXPECT_EQ(Unreferenced(*arena, *plane.info()), 0u);
  const SnapshotArena::Usage u = arena->usage();
  // Bounded: what the recorded generations hold, not what 200 kills left.
  EXPECT_LT(u.pages_in_use * SnapshotArena::kPageBytes, kArenaBytes / 2);
  FreeRecorded(*arena, *plane.info());
  EXPECT_EQ(arena->usage().blocks, 0u) << "leaked";
  EXPECT_EQ(arena->totals().ignored_frees, 0u) << "freed twice";
  EXPECT_TRUE(arena->Check().ok()) << arena->Check();
  EXPECT_GT(last_generation, 300u) << "the control planes got work done between kills";
  EXPECT_GT(reclaimed_blocks, 0u) << "no kill landed in the middle of a build or a free";
  // Format, each control plane that lived long enough to attach, the test's checks.
  EXPECT_LE(arena->totals().attaches, 1u + 2u * kControlPlanes + 1u);
  EXPECT_GT(arena->totals().attaches, 1u + kControlPlanes + kControlPlanes / 2);
}

// hub.snapshot_arena_mb = 0 sizes the arena from hbp.max_clients: two full generations of that
// many clients — each with a restart record, talkgroups on both timeslots and 20 heard
// subscribers — fit, with room for more, and an explicit size is taken as given.
TEST(SnapshotMemoryTest, TheDefaultArenaHoldsTwoFullGenerations) {
  HubConfig config;
  config.hub.snapshot_arena_mb = 0;
  config.hbp.max_clients = 2000;
  const uint64_t capacity = SnapshotArenaBytes(config);
  EXPECT_EQ(capacity % (16 << 20), 0u);
  const size_t region_bytes = SnapshotArena::RegionBytesFor(capacity);
  void* region =
      mmap(nullptr, region_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(region, MAP_FAILED);
  {
    auto arena = SnapshotArena::Format(region, region_bytes);
    ASSERT_TRUE(arena.ok());
    UseSnapshotArena(&*arena);
    uint64_t one_generation = 0;
    {
      std::vector<std::unique_ptr<RouteSnapshots>> planes;
      for (int copy = 0; copy < 2; ++copy) {
        // Two builders share nothing: the second is what a successor builds first.
        planes.push_back(std::make_unique<RouteSnapshots>(
            std::vector<ipc::ShardChannel>{}, nullptr, route::HubPolicy{}, config.hbp.max_clients));
        route::RouteSnapshotBuilder& b = planes.back()->builder();
        std::mt19937_64 rng(copy);
        for (uint32_t slot = 0; slot < config.hbp.max_clients; ++slot) {
          ASSERT_TRUE(b.AddClient(slot, Client(slot, slot)).ok());
          std::vector<uint8_t> record(300);  // an RPTC's fields, options, timers
          for (uint8_t& x : record) x = static_cast<uint8_t>(rng());
          b.SetClientRestart(slot, record);
          for (unsigned ts : {1u, 2u}) {
            for (uint32_t tg = 0; tg < 3; ++tg) {
              ASSERT_TRUE(
                  b.Subscribe(slot, ts % 2, 100 + (slot + tg) % 500, route::MemberKind::kStatic)
                      .ok());
            }
          }
          for (uint32_t s = 0; s < 20; ++s) {
            b.AddSubscriberLocation(1000000 + slot * 20 + s, slot, s % 2, 1000);
          }
        }
        const uint64_t before = arena->usage().pages_in_use;
        ASSERT_TRUE(planes.back()->Publish(1, {}, true).ok());
        ASSERT_EQ(planes.back()->generation(), 1u);
        one_generation = (arena->usage().pages_in_use - before) * SnapshotArena::kPageBytes;
      }
      std::printf("one generation of %u clients: %lu KiB of a %lu MiB arena\n",
                  config.hbp.max_clients, static_cast<unsigned long>(one_generation >> 10),
                  static_cast<unsigned long>(capacity >> 20));
      EXPECT_LE(one_generation * 5 / 2, capacity);
    }
    EXPECT_EQ(arena->usage().blocks, 0u);
    UseSnapshotArena(nullptr);
  }
  munmap(region, region_bytes);

  config.hub.snapshot_arena_mb = 40;
  EXPECT_EQ(SnapshotArenaBytes(config), uint64_t{40} << 20);
}

}  // namespace
}  // namespace dmrswitch::cp
