#include "tests/unit/route_snapshot_fixture.h"

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "dataplane/proto/crypto.h"
#include "dataplane/route/acl.h"
#include "dataplane/route/shared_memory.h"
#include "dataplane/route/types.h"

namespace dmrswitch::route::snapshot_fixture {
namespace {

// Longer than any short-string buffer, so the name lives in its own allocation.
constexpr char kLongPeerName[] = "OBP-A-a-peer-name-well-beyond-the-short-string-buffer";
constexpr char kShortPeerName[] = "F";
constexpr char kPassphrase[] = "passw0rd";
constexpr uint64_t kGeneration = 42;
constexpr TimeNs kUaExpiry = 1'700'000'123 * kSec;
constexpr uint32_t kControlStateBytes = 300;

uint8_t ControlStateByte(uint32_t i) { return static_cast<uint8_t>(i * 7 + 3); }

ClientSpec Client(uint32_t id, uint8_t slot_mask = 3) {
  ClientSpec c;
  c.id = id;
  c.addr = Endpoint{0xC6120000u + (id & 0xFFFF), static_cast<uint16_t>(40000 + id % 1000)};
  c.slot_mask = slot_mask;
  return c;
}

PeerSpec Peer(std::string name, uint8_t version) {
  PeerSpec p;
  p.name = std::move(name);
  p.version = version;
  p.passphrase = kPassphrase;
  p.network_id = 310000 + version;
  p.target = Endpoint{0xC6130000u + version, static_cast<uint16_t>(62030 + version)};
  return p;
}

// "c<slot>/ts<1|2>/tg<N>" for a client, "p<index>" for a peer, space-separated.
std::string Describe(const Conference& conf) {
  std::string out;
  for (const Destination& d : conf.members) {
    if (!out.empty()) out += ' ';
    if (d.to.is_client()) {
      absl::StrAppend(&out, "c", d.to.index, "/ts", d.ts + 1, "/tg", d.tg);
    } else {
      absl::StrAppend(&out, "p", d.to.index);
    }
  }
  return out;
}

class Checker {
 public:
  void Expect(bool ok, std::string what) {
    if (!ok) failures_.push_back(std::move(what));
  }
  template <class T>
  void ExpectEq(const T& actual, const T& expected, const std::string& what) {
    if (!(actual == expected)) {
      failures_.push_back(absl::StrCat(what, ": got ", actual, ", want ", expected));
    }
  }
  std::vector<std::string> Take() { return std::move(failures_); }

 private:
  std::vector<std::string> failures_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<const RouteSnapshot>> BuildFixtureSnapshot() {
  HubPolicy policy;
  policy.server_id = 310999;
  absl::StatusOr<Acl> sub_acl = Acl::Parse("DENY:1,5-9");
  absl::StatusOr<Acl> tg_acl = Acl::Parse("PERMIT:91,3100,2350");
  if (!sub_acl.ok()) return sub_acl.status();
  if (!tg_acl.ok()) return tg_acl.status();
  policy.sub_acl = *sub_acl;
  policy.tg_acl[kTs2] = *tg_acl;

  RouteSnapshotBuilder b(policy, 8);
  ClientSpec with_acl = Client(3120005);
  with_acl.use_acl = true;
  with_acl.sub_acl = *Acl::Parse("PERMIT:3100000-3199999");
  for (const auto& [slot, spec] :
       {std::pair{0u, Client(3120001)}, std::pair{1u, Client(3120002, 2)},
        std::pair{2u, Client(312000301)}, std::pair{5u, with_acl}}) {
    if (absl::Status s = b.AddClient(slot, spec); !s.ok()) return s;
  }
  for (const PeerSpec& p : {Peer(kLongPeerName, 1), Peer(kShortPeerName, 5)}) {
    if (absl::StatusOr<uint32_t> i = b.AddPeer(p); !i.ok()) return i.status();
  }
  const std::array<absl::Status, 6> steps = {
      b.Subscribe(0, kTs1, 91, MemberKind::kStatic),
      b.Subscribe(0, kTs2, 3100, MemberKind::kUserActivated, kUaExpiry),
      b.Subscribe(1, kTs2, 91, MemberKind::kStatic),
      b.Subscribe(2, kTs2, 3100, MemberKind::kStatic),
      b.Subscribe(5, kTs2, 2350, MemberKind::kStatic),  // replaced by the dial link below
      b.SetDial(5, 2350),
  };
  for (const absl::Status& s : steps) {
    if (!s.ok()) return s;
  }
  b.AddSubscriberLocation(3120101, 0, kTs1);
  b.AddSubscriberLocation(2345678, 2, kTs2);
  std::vector<uint8_t> control_state(kControlStateBytes);
  for (uint32_t i = 0; i < kControlStateBytes; ++i) control_state[i] = ControlStateByte(i);
  b.SetControlState(control_state);
  return b.Build(kGeneration);
}

std::vector<std::string> CheckFixtureSnapshot(const RouteSnapshot& snap) {
  Checker c;
  c.ExpectEq(snap.generation(), kGeneration, "generation");
  c.ExpectEq(snap.policy().server_id, 310999u, "policy().server_id");
  c.ExpectEq(snap.policy().sub_acl.ToString(), std::string("DENY:1,5-9"), "policy().sub_acl");
  c.Expect(!snap.policy().sub_acl.Permits(7) && snap.policy().sub_acl.Permits(2),
           "policy().sub_acl.Permits");
  c.ExpectEq(snap.policy().tg_acl[kTs2].ToString(), std::string("PERMIT:91,2350,3100"),
             "policy().tg_acl[TS2]");

  c.ExpectEq(snap.client_capacity(), 8u, "client_capacity()");
  for (const auto& [id, slot] : std::initializer_list<std::pair<uint32_t, int64_t>>{
           {3120001, 0}, {3120002, 1}, {312000301, 2}, {3120005, 5}, {3120004, -1}, {0, -1}}) {
    c.ExpectEq(snap.FindClient(id), slot, absl::StrCat("FindClient(", id, ")"));
  }
  c.ExpectEq(snap.FindClientByPrefix(3120003), int64_t{2}, "FindClientByPrefix(3120003)");
  c.ExpectEq(snap.FindClientByPrefix(3120004), int64_t{-1}, "FindClientByPrefix(3120004)");
  for (uint32_t slot = 0; slot < 8; ++slot) {
    const bool present = slot <= 2 || slot == 5;
    c.Expect((snap.client(slot) != nullptr) == present, absl::StrCat("client(", slot, ")"));
  }
  if (const ClientInfo* ci = snap.client(5); ci != nullptr) {
    c.ExpectEq(ci->id, 3120005u, "client(5)->id");
    c.ExpectEq(ci->dial_tg, 2350u, "client(5)->dial_tg");
    c.Expect(ci->addr == Client(3120005).addr, "client(5)->addr");
    c.Expect(ci->use_acl && ci->sub_acl.Permits(3120101) && !ci->sub_acl.Permits(2345678),
             "client(5)->sub_acl");
  }
  if (const ClientInfo* ci = snap.client(1); ci != nullptr) {
    c.ExpectEq(int{ci->slot_mask}, 2, "client(1)->slot_mask");
  }

  c.ExpectEq(snap.peers().size(), size_t{2}, "peers().size()");
  if (snap.peers().size() == 2) {
    const PeerInfo& a = snap.peers()[0];
    const PeerInfo& f = snap.peers()[1];
    c.ExpectEq(std::string(a.name), std::string(kLongPeerName), "peers()[0].name");
    c.ExpectEq(std::string(f.name), std::string(kShortPeerName), "peers()[1].name");
    c.ExpectEq(a.network_id, 310001u, "peers()[0].network_id");
    c.ExpectEq(int{f.version}, 5, "peers()[1].version");
    // The precomputed key states arrive intact: signatures match a locally keyed MAC.
    const std::array<uint8_t, proto::kObpKeyBytes> key = proto::ObpKeyFromPassphrase(kPassphrase);
    const std::array<uint8_t, 5> msg = {1, 2, 3, 4, 5};
    std::array<uint8_t, proto::HmacSha1::kMacBytes> want_sha1{}, got_sha1{};
    proto::HmacSha1(key).Sign(msg, want_sha1.data());
    a.hmac.Sign(msg, got_sha1.data());
    c.Expect(got_sha1 == want_sha1, "peers()[0].hmac signs as the passphrase does");
    std::array<uint8_t, proto::Blake2bMac128::kMacBytes> want_b2{}, got_b2{};
    proto::Blake2bMac128(key).Sign(msg, want_b2.data());
    f.blake2b.Sign(msg, got_b2.data());
    c.Expect(got_b2 == want_b2, "peers()[1].blake2b signs as the passphrase does");
  }

  c.ExpectEq(Describe(snap.FindConference(91)), std::string("c0/ts1/tg91 c1/ts2/tg91"),
             "FindConference(91)");
  c.ExpectEq(Describe(snap.FindConference(3100)), std::string("c0/ts2/tg3100 c2/ts2/tg3100"),
             "FindConference(3100)");
  c.ExpectEq(Describe(snap.FindConference(2350)), std::string("c5/ts2/tg9"),
             "FindConference(2350)");
  c.ExpectEq(Describe(snap.FindConference(777)), std::string(""), "FindConference(777)");
  c.ExpectEq(snap.FindConference(91).tg, 91u, "FindConference(91).tg");

  c.Expect(snap.IsMember(0, kTs1, 91), "IsMember(0, TS1, 91)");
  c.Expect(!snap.IsMember(0, kTs2, 91), "!IsMember(0, TS2, 91)");
  c.Expect(snap.IsMember(2, kTs2, 3100), "IsMember(2, TS2, 3100)");
  c.Expect(snap.IsMember(5, kTs2, kDialTg), "IsMember(5, TS2, 9)");
  c.Expect(!snap.IsMember(5, kTs2, 2350), "!IsMember(5, TS2, 2350): replaced by the dial link");
  c.ExpectEq(snap.UaExpiry(0, kTs2, 3100), kUaExpiry, "UaExpiry(0, TS2, 3100)");
  c.ExpectEq(snap.UaExpiry(2, kTs2, 3100), TimeNs{0}, "UaExpiry(2, TS2, 3100)");

  std::vector<std::string> memberships;
  snap.ForEachMembership([&](const RouteSnapshot::Membership& m) {
    memberships.push_back(absl::StrCat(m.client_slot, "/ts", m.ts + 1, "/tg", m.tg, "/kind",
                                       static_cast<int>(m.kind), "/", m.ua_expires_at));
  });
  std::sort(memberships.begin(), memberships.end());
  const std::vector<std::string> want_memberships = {
      "0/ts1/tg91/kind0/0", absl::StrCat("0/ts2/tg3100/kind1/", kUaExpiry), "1/ts2/tg91/kind0/0",
      "2/ts2/tg3100/kind0/0", "5/ts2/tg2350/kind2/0"};
  c.ExpectEq(absl::StrJoin(memberships, " "), absl::StrJoin(want_memberships, " "),
             "ForEachMembership");

  const Location* loc = snap.FindSubscriber(3120101);
  c.Expect(loc != nullptr && loc->at == SystemRef::Client(0) && loc->ts == kTs1,
           "FindSubscriber(3120101)");
  c.Expect(snap.FindSubscriber(999) == nullptr, "FindSubscriber(999) is nullptr");
  std::vector<std::string> subscribers;
  snap.ForEachSubscriber([&](uint32_t rf_src, const Location& l) {
    subscribers.push_back(absl::StrCat(rf_src, "@", l.at.index, "/ts", l.ts + 1));
  });
  std::sort(subscribers.begin(), subscribers.end());
  c.ExpectEq(absl::StrJoin(subscribers, " "), std::string("2345678@2/ts2 3120101@0/ts1"),
             "ForEachSubscriber");

  const std::span<const uint8_t> state = snap.control_state();
  bool state_ok = state.size() == kControlStateBytes;
  for (uint32_t i = 0; state_ok && i < state.size(); ++i) {
    state_ok = state[i] == ControlStateByte(i);
  }
  c.Expect(state_ok, absl::StrCat("control_state(): ", state.size(), " bytes, not the ",
                                  kControlStateBytes, " stored"));
  return c.Take();
}

SnapshotArena* SnapshotArena::current_ = nullptr;

SnapshotArena::SnapshotArena(void* base, size_t size)
    : base_(static_cast<uint8_t*>(base)), size_(size) {
  current_ = this;
  SetSnapshotMemory({Allocate, Free});
}

SnapshotArena::~SnapshotArena() {
  SetSnapshotMemory({});
  current_ = nullptr;
}

bool SnapshotArena::Contains(const void* p) const {
  const auto* b = static_cast<const uint8_t*>(p);
  return b >= base_ && b < base_ + size_;
}

void* SnapshotArena::Allocate(size_t bytes, size_t alignment) {
  SnapshotArena& a = *current_;
  const size_t start = (a.used_ + alignment - 1) & ~(alignment - 1);
  if (start > a.size_ || bytes > a.size_ - start) return nullptr;
  a.used_ = start + bytes;
  ++a.allocations_;
  return a.base_ + start;
}

void SnapshotArena::Free(void* p, size_t, size_t) {
  SnapshotArena& a = *current_;
  if (!a.Contains(p)) std::abort();  // memory from other hooks: a test setup error
  ++a.frees_;
}

std::vector<std::string> PointersOutside(const SnapshotArena& arena) {
  struct Mapping {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Mapping> mappings;
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    Mapping m;
    std::istringstream fields(line);
    std::string range, perms, offset, dev, inode;
    fields >> range >> perms >> offset >> dev >> inode;
    std::getline(fields >> std::ws, m.name);
    if (std::sscanf(range.c_str(), "%" SCNx64 "-%" SCNx64, &m.begin, &m.end) != 2) continue;
    // Under AddressSanitizer its shadow is terabytes of reserved anonymous memory in which any
    // small integer "lies"; no heap, stack or image mapping comes near that size.
    constexpr uint64_t kShadowSized = uint64_t{1} << 40;
    if (m.name.empty() && m.end - m.begin >= kShadowSized) continue;
    if (perms.rfind("---", 0) == 0) continue;  // inaccessible: nothing can point into it
    mappings.push_back(std::move(m));
  }
  std::vector<std::string> found;
  for (size_t off = 0; off + sizeof(uint64_t) <= arena.used(); off += sizeof(uint64_t)) {
    uint64_t word;
    std::memcpy(&word, arena.base() + off, sizeof word);
    if (arena.Contains(reinterpret_cast<const void*>(word))) continue;
    // Hash values and IDs are 32-bit; no heap, stack or image of a PIE process on x86-64 Linux
    // lies below 4 GiB, but under ASan its low shadow does, and random values fall into it.
    if (word < (uint64_t{1} << 32)) continue;
    for (const Mapping& m : mappings) {
      if (word >= m.begin && word < m.end) {
        found.push_back(absl::StrCat("arena offset ", off, " holds 0x", absl::Hex(word),
                                     ", an address in ", m.name.empty() ? "[anonymous]" : m.name));
      }
    }
  }
  return found;
}

}  // namespace dmrswitch::route::snapshot_fixture
