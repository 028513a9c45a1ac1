// ClientLiveness: keepalives answered by the packet plane, silence reported once per timeout.

#include <gtest/gtest.h>

#include <memory>
#include <utility>
#include <vector>

#include "dataplane/route/client_liveness.h"
#include "dataplane/route/route_snapshot.h"
#include "ebpf/steer_common.h"

namespace dmrswitch::route {
namespace {

constexpr Endpoint kAddrA{0xC6120001, 40001};
constexpr Endpoint kAddrB{0xC6120002, 40002};

// `session`: every client's login stamp (ClientSpec::session).
std::shared_ptr<const RouteSnapshot> Snap(std::vector<std::pair<uint32_t, Endpoint>> clients,
                                          uint64_t generation = 1, TimeNs timeout = 30 * kSec,
                                          uint64_t session = 0) {
  HubPolicy policy;
  policy.client_timeout = timeout;
  RouteSnapshotBuilder b(policy, 8);
  uint32_t slot = 0;
  for (const auto& [id, addr] : clients) {
    ClientSpec c;
    c.id = id;
    c.addr = addr;
    c.session = session;
    EXPECT_TRUE(b.AddClient(slot++, c).ok());
  }
  auto s = b.Build(generation);
  EXPECT_TRUE(s.ok()) << s.status();
  return *s;
}

std::vector<std::pair<uint32_t, uint32_t>> Lost(ClientLiveness& l, TimeNs now) {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  l.Expire(now, [&](uint32_t slot, uint32_t id, const Endpoint&) {
    out.emplace_back(slot, id);
    return true;
  });
  return out;
}

TEST(ClientLiveness, OneShardOwnsEveryClientAndReportsSilenceOnce) {
  ClientLiveness l(0, 1);
  auto snap = Snap({{3120001, kAddrA}, {3120002, kAddrB}});
  l.OnSnapshot(*snap, 100 * kSec);
  EXPECT_TRUE(l.OnPing(*snap, 3120001, kAddrA, 120 * kSec));
  EXPECT_TRUE(Lost(l, 129 * kSec).empty());
  // Client 2 never pinged after login: lost 30 s after the snapshot that brought it.
  EXPECT_EQ(Lost(l, 130 * kSec), (std::vector<std::pair<uint32_t, uint32_t>>{{1, 3120002}}));
  EXPECT_TRUE(Lost(l, 140 * kSec).empty()) << "reported once";
  EXPECT_EQ(Lost(l, 150 * kSec), (std::vector<std::pair<uint32_t, uint32_t>>{{0, 3120001}}));
}

// The control plane that took a report may die before it closes the client (dmrswitch-cp killed
// between the two); its successor restores the client from the last snapshot. A client still in
// the snapshots a whole timeout after its report is reported again, so it is not logged in for
// ever; one the control plane closed leaves the snapshot and is never reported again.
TEST(ClientLiveness, AClientStillInTheSnapshotsATimeoutAfterItsReportIsReportedAgain) {
  ClientLiveness l(0, 1);
  auto g1 = Snap({{3120001, kAddrA}, {3120002, kAddrB}}, 1);
  l.OnSnapshot(*g1, 100 * kSec);
  const std::vector<std::pair<uint32_t, uint32_t>> both = {{0, 3120001}, {1, 3120002}};
  EXPECT_EQ(Lost(l, 130 * kSec), both);
  EXPECT_TRUE(Lost(l, 159 * kSec).empty()) << "not before a whole timeout has passed";
  // The successor's snapshot still has both; the same generation's chunks change nothing.
  auto g2 = Snap({{3120001, kAddrA}, {3120002, kAddrB}}, 2);
  l.OnSnapshot(*g2, 140 * kSec);
  EXPECT_EQ(Lost(l, 160 * kSec), both) << "reported again";
  // The control plane closes client 2; client 1 keeps being reported, each timeout.
  auto g3 = Snap({{3120001, kAddrA}}, 3);
  l.OnSnapshot(*g3, 161 * kSec);
  EXPECT_TRUE(Lost(l, 189 * kSec).empty());
  EXPECT_EQ(Lost(l, 190 * kSec), (std::vector<std::pair<uint32_t, uint32_t>>{{0, 3120001}}));
  // A keepalive ends it: silence is counted from there, once again.
  EXPECT_TRUE(l.OnPing(*g3, 3120001, kAddrA, 195 * kSec));
  EXPECT_TRUE(Lost(l, 224 * kSec).empty());
  EXPECT_EQ(Lost(l, 225 * kSec), (std::vector<std::pair<uint32_t, uint32_t>>{{0, 3120001}}));
}

// A report the shard could not send (its supervision ring to the control plane was full) is
// made again at the next pass, until one goes out; then once only, as ever.
TEST(ClientLiveness, AReportThatCouldNotBeSentIsMadeAgain) {
  ClientLiveness l(0, 1);
  auto snap = Snap({{3120001, kAddrA}});
  l.OnSnapshot(*snap, 100 * kSec);
  int attempts = 0;
  auto full_ring = [&](uint32_t, uint32_t, const Endpoint&) {
    ++attempts;
    return false;
  };
  l.Expire(130 * kSec, full_ring);
  l.Expire(131 * kSec, full_ring);
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(Lost(l, 132 * kSec), (std::vector<std::pair<uint32_t, uint32_t>>{{0, 3120001}}));
  EXPECT_TRUE(Lost(l, 133 * kSec).empty()) << "sent: reported once";
}

TEST(ClientLiveness, PingFromAnotherAddressOrUnknownIdIsNotAnswered) {
  ClientLiveness l(0, 1);
  auto snap = Snap({{3120001, kAddrA}});
  l.OnSnapshot(*snap, 0);
  EXPECT_FALSE(l.OnPing(*snap, 3120001, kAddrB, kSec)) << "anti-spoofing: login address only";
  EXPECT_FALSE(l.OnPing(*snap, 3120009, kAddrA, kSec)) << "not logged in";
}

TEST(ClientLiveness, APingAfterReportRearms) {
  ClientLiveness l(0, 1);
  auto snap = Snap({{3120001, kAddrA}}, 1, 10 * kSec);
  l.OnSnapshot(*snap, 0);
  EXPECT_EQ(Lost(l, 10 * kSec).size(), 1u);
  EXPECT_TRUE(l.OnPing(*snap, 3120001, kAddrA, 11 * kSec));
  EXPECT_TRUE(Lost(l, 20 * kSec).empty());
  EXPECT_EQ(Lost(l, 21 * kSec).size(), 1u);
}

TEST(ClientLiveness, NewSnapshotKeepsClocksOfUnchangedClientsAndResetsNewOnes) {
  ClientLiveness l(0, 1);
  auto g1 = Snap({{3120001, kAddrA}}, 1);
  l.OnSnapshot(*g1, 0);
  // Slot 0 now holds another client (the first logged out, a new one logged in).
  auto g2 = Snap({{3120002, kAddrB}}, 2);
  l.OnSnapshot(*g2, 25 * kSec);
  EXPECT_TRUE(Lost(l, 30 * kSec).empty()) << "the new client's clock started at 25 s";
  EXPECT_FALSE(l.OnPing(*g2, 3120001, kAddrA, 31 * kSec));
  auto g3 = Snap({{3120002, kAddrB}}, 3);
  l.OnSnapshot(*g3, 40 * kSec);
  EXPECT_EQ(Lost(l, 55 * kSec), (std::vector<std::pair<uint32_t, uint32_t>>{{0, 3120002}}))
      << "an unchanged client keeps its clock across snapshots";
}

TEST(ClientLiveness, EachClientBelongsToExactlyOneShard) {
  std::vector<std::pair<uint32_t, Endpoint>> clients;
  for (uint32_t i = 0; i < 8; ++i) clients.push_back({3120001 + i * 7919, kAddrA});
  auto snap = Snap(clients, 1, 10 * kSec);
  constexpr uint32_t kShards = 3;
  std::vector<std::unique_ptr<ClientLiveness>> shards;
  for (uint32_t s = 0; s < kShards; ++s) {
    shards.push_back(std::make_unique<ClientLiveness>(s, kShards));
    shards.back()->OnSnapshot(*snap, 0);
  }
  for (const auto& [id, addr] : clients) {
    int answered = 0;
    for (uint32_t s = 0; s < kShards; ++s) {
      const bool ok = shards[s]->OnPing(*snap, id, addr, kSec);
      EXPECT_EQ(ok, dmrswitch_owner(id, kShards) == s);
      answered += ok;
    }
    EXPECT_EQ(answered, 1);
  }
  size_t lost = 0;
  uint32_t counted = 0;
  for (auto& s : shards) {
    lost += Lost(*s, 11 * kSec).size();
    counted += s->clients();
  }
  EXPECT_EQ(lost, clients.size());
  EXPECT_EQ(counted, clients.size()) << "each shard counts the clients it owns";
}

TEST(ClientLiveness, CountsTheClientsItOwnsAcrossSnapshots) {
  ClientLiveness l(0, 1);
  EXPECT_EQ(l.clients(), 0u);
  auto g1 = Snap({{3120001, kAddrA}, {3120002, kAddrB}}, 1);
  l.OnSnapshot(*g1, 0);
  EXPECT_EQ(l.clients(), 2u);
  auto g2 = Snap({{3120003, kAddrB}}, 2);  // slot 0 changes hands, slot 1 empties
  l.OnSnapshot(*g2, kSec);
  EXPECT_EQ(l.clients(), 1u);
  auto g3 = Snap({}, 3);
  l.OnSnapshot(*g3, 2 * kSec);
  EXPECT_EQ(l.clients(), 0u);
}

TEST(ClientLiveness, FixedClientsAreAnsweredButNeverReported) {
  HubPolicy policy;
  policy.client_timeout = 2 * kSec;
  RouteSnapshotBuilder b(policy, 8);
  ClientSpec fixed;
  fixed.id = 3120001;
  fixed.addr = kAddrA;
  fixed.fixed = true;
  ClientSpec normal;
  normal.id = 3120002;
  normal.addr = kAddrB;
  ASSERT_TRUE(b.AddClient(0, fixed).ok());
  ASSERT_TRUE(b.AddClient(1, normal).ok());
  auto built = b.Build(1);
  ASSERT_TRUE(built.ok()) << built.status();
  const RouteSnapshot& snap = **built;
  ASSERT_TRUE(snap.client(0)->fixed) << "the builder copies ClientSpec::fixed";
  EXPECT_FALSE(snap.client(1)->fixed);

  ClientLiveness l(0, 1);
  l.OnSnapshot(snap, 0);
  const std::vector<std::pair<uint32_t, uint32_t>> normal_only = {{1, 3120002}};
  EXPECT_EQ(Lost(l, 2 * kSec), normal_only) << "only the ordinary client times out";
  EXPECT_EQ(Lost(l, 3600 * kSec), normal_only) << "a fixed client is never reported";
  EXPECT_TRUE(l.OnPing(snap, 3120001, kAddrA, 3601 * kSec)) << "its keepalives are answered";
  EXPECT_FALSE(l.OnPing(snap, 3120001, kAddrB, 3601 * kSec)) << "from its address only";
  EXPECT_EQ(Lost(l, 7200 * kSec), normal_only);

  // The same client without the flag in a later snapshot is timed out again.
  auto g2 = Snap({{3120001, kAddrA}}, 2);
  l.OnSnapshot(*g2, 7200 * kSec);
  EXPECT_EQ(Lost(l, 7202 * kSec), (std::vector<std::pair<uint32_t, uint32_t>>{{0, 3120001}}));
}

TEST(ClientLiveness, TimeoutComesFromTheSnapshotAndAReloadAppliesItToEveryClient) {
  ClientLiveness l(0, 1);
  auto g1 = Snap({{3120001, kAddrA}}, 1, 30 * kSec);
  l.OnSnapshot(*g1, 0);
  EXPECT_TRUE(Lost(l, 20 * kSec).empty());
  // A reload shortens ping_time_s x max_missed: the same client, its clock kept, the new limit.
  auto g2 = Snap({{3120001, kAddrA}}, 2, 10 * kSec);
  l.OnSnapshot(*g2, 20 * kSec);
  EXPECT_EQ(Lost(l, 20 * kSec), (std::vector<std::pair<uint32_t, uint32_t>>{{0, 3120001}}))
      << "silent since 0 s, and the limit is now 10 s";
}

struct PingReport {
  uint32_t slot;
  uint32_t id;
  TimeNs last_ping;
  uint64_t pings;
  bool operator==(const PingReport&) const = default;
};

// Sends every changed session, accepting at most `room` reports (a ring with that much room).
std::vector<PingReport> Pings(ClientLiveness& l, size_t room = 100) {
  std::vector<PingReport> out;
  // At time 0 nobody is silent for long: only the reports.
  l.Tick(
      0, [](uint32_t, uint32_t, const Endpoint&) { return true; },
      [&](uint32_t slot, uint32_t id, const Endpoint&, TimeNs last, uint64_t n) {
        if (out.size() == room) return false;
        out.push_back({slot, id, last, n});
        return true;
      });
  return out;
}

// Operators see a client's keepalives (last ping, pings received) from the shard that answers
// them: each session is reported when its figures changed, with the newest ones.
TEST(ClientLiveness, ReportsEachSessionsKeepalivesWhenTheyChange) {
  ClientLiveness l(0, 1);
  auto snap = Snap({{3120001, kAddrA}, {3120002, kAddrB}});
  l.OnSnapshot(*snap, 100 * kSec);
  EXPECT_TRUE(Pings(l).empty()) << "no keepalive yet: nothing to say";
  ASSERT_TRUE(l.OnPing(*snap, 3120001, kAddrA, 105 * kSec));
  ASSERT_TRUE(l.OnPing(*snap, 3120001, kAddrA, 110 * kSec));
  ASSERT_FALSE(l.OnPing(*snap, 3120002, kAddrA, 110 * kSec)) << "another address: not counted";
  EXPECT_EQ(Pings(l), (std::vector<PingReport>{{0, 3120001, 110 * kSec, 2}}));
  EXPECT_TRUE(Pings(l).empty()) << "reported once";
  ASSERT_TRUE(l.OnPing(*snap, 3120002, kAddrB, 111 * kSec));
  ASSERT_TRUE(l.OnPing(*snap, 3120001, kAddrA, 115 * kSec));
  EXPECT_EQ(Pings(l),
            (std::vector<PingReport>{{0, 3120001, 115 * kSec, 3}, {1, 3120002, 111 * kSec, 1}}));
}

// A full ring stops the pass; what did not fit goes at the next one, with the figures of then.
TEST(ClientLiveness, AReportThatDidNotFitGoesNextTimeWithNewerFigures) {
  ClientLiveness l(0, 1);
  auto snap = Snap({{3120001, kAddrA}, {3120002, kAddrB}});
  l.OnSnapshot(*snap, 100 * kSec);
  ASSERT_TRUE(l.OnPing(*snap, 3120001, kAddrA, 105 * kSec));
  ASSERT_TRUE(l.OnPing(*snap, 3120002, kAddrB, 105 * kSec));
  EXPECT_EQ(Pings(l, 1), (std::vector<PingReport>{{0, 3120001, 105 * kSec, 1}}));
  ASSERT_TRUE(l.OnPing(*snap, 3120002, kAddrB, 110 * kSec));
  EXPECT_EQ(Pings(l), (std::vector<PingReport>{{1, 3120002, 110 * kSec, 2}}));
}

// Clients that keep pinging faster than a full ring lets their reports out all get their turn:
// each pass starts where the last one stopped, not at slot 0 (the low slots, fixed clients among
// them, would otherwise take every report and the others' last ping would freeze).
TEST(ClientLiveness, EverySlotGetsItsTurnWhenTheRingIsShort) {
  ClientLiveness l(0, 1);
  auto snap = Snap({{3120001, kAddrA}, {3120002, kAddrB}, {3120003, Endpoint{0xC6120003, 3}}});
  l.OnSnapshot(*snap, 100 * kSec);
  std::vector<uint32_t> slots;
  for (int pass = 0; pass < 6; ++pass) {
    const TimeNs t = (101 + pass) * kSec;
    ASSERT_TRUE(l.OnPing(*snap, 3120001, kAddrA, t));
    ASSERT_TRUE(l.OnPing(*snap, 3120002, kAddrB, t));
    ASSERT_TRUE(l.OnPing(*snap, 3120003, Endpoint{0xC6120003, 3}, t));
    const std::vector<PingReport> r = Pings(l, 1);
    ASSERT_EQ(r.size(), 1u);
    slots.push_back(r[0].slot);
  }
  EXPECT_EQ(slots, (std::vector<uint32_t>{0, 1, 2, 0, 1, 2}));
}

// A client that logs in again from the same address into the same slot is a new session (the
// snapshot's session stamp changed, in the same builder as the control plane changes it): its
// keepalives count from zero and its silence clock starts again.
TEST(ClientLiveness, ALoginAgainFromTheSameAddressIsANewSession) {
  HubPolicy policy;
  policy.client_timeout = 30 * kSec;
  RouteSnapshotBuilder b(policy, 8);
  ClientSpec c;
  c.id = 3120001;
  c.addr = kAddrA;
  c.session = 100 * kSec;
  ASSERT_TRUE(b.AddClient(0, c).ok());
  auto first = b.Build(1);
  ASSERT_TRUE(first.ok()) << first.status();
  ClientLiveness l(0, 1);
  l.OnSnapshot(**first, 100 * kSec);
  ASSERT_TRUE(l.OnPing(**first, 3120001, kAddrA, 105 * kSec));
  ASSERT_TRUE(l.OnPing(**first, 3120001, kAddrA, 110 * kSec));
  EXPECT_EQ(Pings(l), (std::vector<PingReport>{{0, 3120001, 110 * kSec, 2}}));

  c.session = 112 * kSec;  // RPTK, RPTC: the same ID, address and slot
  ASSERT_TRUE(b.SetClient(0, c).ok());
  auto again = b.Build(2);
  ASSERT_TRUE(again.ok()) << again.status();
  l.OnSnapshot(**again, 112 * kSec);
  EXPECT_TRUE(Lost(l, 141 * kSec).empty()) << "silent since the new session (112 s), not 110 s";
  EXPECT_EQ(Lost(l, 142 * kSec), (std::vector<std::pair<uint32_t, uint32_t>>{{0, 3120001}}));
  ASSERT_TRUE(l.OnPing(**again, 3120001, kAddrA, 143 * kSec));
  EXPECT_EQ(Pings(l), (std::vector<PingReport>{{0, 3120001, 143 * kSec, 1}}));
}

// One pass sends at most kMaxPingReports; the rest go in the next.
TEST(ClientLiveness, APassSendsAtMostTheCapAndTheNextOneTheRest) {
  constexpr uint32_t kClients = ClientLiveness::kMaxPingReports + 44;
  HubPolicy policy;
  policy.client_timeout = 30 * kSec;
  RouteSnapshotBuilder b(policy, kClients);
  for (uint32_t i = 0; i < kClients; ++i) {
    ClientSpec c;
    c.id = 3120000 + i;
    c.addr = Endpoint{0xC6120000 + i, 40000};
    ASSERT_TRUE(b.AddClient(i, c).ok());
  }
  auto snap = b.Build(1);
  ASSERT_TRUE(snap.ok()) << snap.status();
  ClientLiveness l(0, 1);
  l.OnSnapshot(**snap, 100 * kSec);
  for (uint32_t i = 0; i < kClients; ++i) {
    ASSERT_TRUE(l.OnPing(**snap, 3120000 + i, Endpoint{0xC6120000 + i, 40000}, 105 * kSec));
  }
  EXPECT_EQ(Pings(l, 1000).size(), ClientLiveness::kMaxPingReports);
  const std::vector<PingReport> rest = Pings(l, 1000);
  ASSERT_EQ(rest.size(), 44u);
  EXPECT_EQ(rest.front().slot, ClientLiveness::kMaxPingReports);
  EXPECT_TRUE(Pings(l, 1000).empty());
}

// A new session in the slot (another client, or the same ID from another address) counts from
// zero; a client of another shard is never reported here.
TEST(ClientLiveness, ANewSessionCountsItsOwnKeepalives) {
  ClientLiveness l(0, 1);
  auto snap = Snap({{3120001, kAddrA}});
  l.OnSnapshot(*snap, 100 * kSec);
  ASSERT_TRUE(l.OnPing(*snap, 3120001, kAddrA, 105 * kSec));
  ASSERT_TRUE(l.OnPing(*snap, 3120001, kAddrA, 110 * kSec));
  auto moved = Snap({{3120001, kAddrB}}, 2);
  l.OnSnapshot(*moved, 112 * kSec);
  EXPECT_TRUE(Pings(l).empty()) << "the old session's unsent figures are not the new one's";
  ASSERT_TRUE(l.OnPing(*moved, 3120001, kAddrB, 115 * kSec));
  EXPECT_EQ(Pings(l), (std::vector<PingReport>{{0, 3120001, 115 * kSec, 1}}));

  uint32_t foreign = 1;
  while (dmrswitch_owner(foreign, 2) == 0) ++foreign;
  ClientLiveness shard0(0, 2);
  auto other = Snap({{foreign, kAddrA}}, 3);
  shard0.OnSnapshot(*other, 100 * kSec);
  EXPECT_FALSE(shard0.OnPing(*other, foreign, kAddrA, 105 * kSec));
  EXPECT_TRUE(Pings(shard0).empty());
}

}  // namespace
}  // namespace dmrswitch::route
