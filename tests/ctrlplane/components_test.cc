// The control plane's pure components on their own (control_plane.h lists them): each is driven
// with time and inputs as values, without rings or a ControlPlane around it.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "ctrlplane/drain.h"
#include "ctrlplane/restart_state.h"
#include "ctrlplane/shard_health.h"
#include "ctrlplane/subscriber_locations.h"

namespace dmrswitch::cp {
namespace {

constexpr route::TimeNs kSec = route::kSec;
constexpr route::TimeNs kMs = route::kMs;

// Changes as (rf_src, slot or -1 when forgotten), sorted.
std::vector<std::pair<uint32_t, int64_t>> Taken(SubscriberLocations& l) {
  std::vector<std::pair<uint32_t, int64_t>> out;
  for (const auto& c : l.TakeChanges()) {
    out.emplace_back(c.rf_src, c.location ? static_cast<int64_t>(c.location->at.index) : -1);
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(SubscriberLocationsTest, AMoveIsAChangeAndHearingAgainInPlaceIsNot) {
  SubscriberLocations l;
  l.Heard(2345001, 3, 1, 10 * kSec);
  EXPECT_EQ(Taken(l), (std::vector<std::pair<uint32_t, int64_t>>{{2345001, 3}}));
  l.Heard(2345001, 3, 1, 20 * kSec);  // same client and timeslot: only the age moves
  EXPECT_TRUE(Taken(l).empty());
  ASSERT_NE(l.Find(2345001), nullptr);
  EXPECT_EQ(l.Find(2345001)->heard_at, 20 * kSec);
  l.Heard(2345001, 3, 0, 21 * kSec);  // other timeslot of the same client
  l.Heard(2345001, 8, 0, 22 * kSec);  // then another client
  EXPECT_EQ(Taken(l), (std::vector<std::pair<uint32_t, int64_t>>{{2345001, 8}}));
  EXPECT_EQ(l.Find(2345001)->at.index, 8u);
  l.Heard(0, 3, 1, 23 * kSec);  // rf_src 0 is nobody
  EXPECT_EQ(l.size(), 1u);
}

TEST(SubscriberLocationsTest, ALogoutForgetsOnlyThatClientsSubscribers) {
  SubscriberLocations l;
  l.Heard(1, 3, 1, kSec);
  l.Heard(2, 3, 0, kSec);
  l.Heard(3, 4, 1, kSec);
  l.Heard(2, 4, 1, kSec);  // moved away from slot 3 before the logout
  Taken(l);
  l.ForgetSlot(3);
  EXPECT_EQ(Taken(l), (std::vector<std::pair<uint32_t, int64_t>>{{1, -1}}));
  EXPECT_EQ(l.Find(1), nullptr);
  ASSERT_NE(l.Find(2), nullptr);
  EXPECT_EQ(l.Find(2)->at.index, 4u);
  l.ForgetSlot(99);  // nobody there
  EXPECT_TRUE(Taken(l).empty());
}

TEST(SubscriberLocationsTest, FullRefusesNewSubscribersAndCountsButMovesKnownOnes) {
  SubscriberLocations l(/*capacity=*/2);
  l.Heard(1, 1, 0, kSec);
  l.Heard(2, 1, 0, kSec);
  l.Heard(3, 1, 0, kSec);
  EXPECT_EQ(l.size(), 2u);
  EXPECT_EQ(l.Find(3), nullptr);
  EXPECT_EQ(l.refused_full(), 1u);
  l.Heard(2, 5, 1, 2 * kSec);
  EXPECT_EQ(l.Find(2)->at.index, 5u);
}

TEST(SubscriberLocationsTest, ExpiryForgetsTheSilentAndScansAtMostOnceAMinute) {
  SubscriberLocations l(/*capacity=*/100, /*keep_for=*/3600 * kSec);
  l.Heard(1, 1, 0, 0);
  l.Heard(2, 1, 0, 3000 * kSec);
  Taken(l);
  l.Expire(3601 * kSec);  // first scan: 1 is older than an hour
  EXPECT_EQ(Taken(l), (std::vector<std::pair<uint32_t, int64_t>>{{1, -1}}));
  l.Expire(6601 * kSec + 30 * kSec);  // 2 is old now, and the last scan is > 1 min ago
  EXPECT_EQ(l.Find(2), nullptr);
  l.Heard(3, 1, 0, 0);                // heard "long ago" (a restored location)
  l.Expire(6601 * kSec + 40 * kSec);  // within a minute of the last scan: no scan
  EXPECT_NE(l.Find(3), nullptr);
}

TEST(SubscriberLocationsTest, RestoreRecreatesLocationsAsChanges) {
  SubscriberLocations l(/*capacity=*/2);
  const std::vector<HeardSubscriber> heard = {{7, route::SystemRef::Client(2), 1, 5},
                                              {0, route::SystemRef::Client(2), 1, 5},
                                              {8, route::SystemRef::Client(3), 0, 6},
                                              {9, route::SystemRef::Client(3), 0, 7}};
  l.Restore(heard);
  EXPECT_EQ(l.size(), 2u);  // rf_src 0 skipped, 9 over capacity
  EXPECT_EQ(l.Find(7)->heard_at, 5);
  EXPECT_EQ(Taken(l), (std::vector<std::pair<uint32_t, int64_t>>{{7, 2}, {8, 3}}));
}

ipc::WorkerHealth Health(route::TimeNs at, bool draining, uint32_t live) {
  ipc::WorkerHealth h{};
  h.at = at;
  h.draining = draining ? 1 : 0;
  h.live_streams = live;
  return h;
}

TEST(DrainTest, IdleOnlyOnceEveryShardConfirmedAfterTheStart) {
  Drain d;
  d.Begin(10 * kSec, 60 * kSec, 2);
  d.AddWaiter(41);
  EXPECT_TRUE(d.active());
  // Heartbeats from before the drain began prove nothing, even when they say "draining".
  std::vector<ipc::WorkerHealth> h = {Health(9 * kSec, true, 0), Health(11 * kSec, true, 0)};
  EXPECT_FALSE(d.Check(12 * kSec, h).has_value());
  h[0] = Health(12 * kSec, true, 1);  // confirmed, one stream still live
  EXPECT_FALSE(d.Check(12 * kSec, h).has_value());
  h[0] = Health(13 * kSec, true, 0);
  auto out = d.Check(13 * kSec, h);
  ASSERT_TRUE(out.has_value());
  EXPECT_TRUE(out->answer["idle"].get<bool>());
  EXPECT_EQ(out->answer["cut"].get<int>(), 0);
  EXPECT_EQ(out->answer["live_at_start"].get<int>(), 2);
  EXPECT_EQ(out->waiters, std::vector<uint64_t>{41});
  EXPECT_FALSE(d.Check(14 * kSec, h).has_value());  // reported once
  EXPECT_TRUE(d.active());                          // stays in effect until resumed
  EXPECT_TRUE(d.Resume(20 * kSec).empty());
  EXPECT_FALSE(d.active());
}

TEST(DrainTest, TheDeadlineReportsWhatARestartWouldCut) {
  Drain d;
  d.Begin(0, 5 * kSec, 3);
  std::vector<ipc::WorkerHealth> h = {Health(kSec, true, 2), Health(kSec, false, 1)};
  EXPECT_FALSE(d.Check(4 * kSec, h).has_value());
  auto out = d.Check(5 * kSec, h);
  ASSERT_TRUE(out.has_value());
  EXPECT_FALSE(out->answer["idle"].get<bool>());
  EXPECT_EQ(out->answer["cut"].get<int>(), 3);
  EXPECT_FALSE(out->answer["all_shards_confirmed"].get<bool>());
}

TEST(DrainTest, ResumeHandsBackTheWaitersOfAnUnfinishedDrain) {
  Drain d;
  d.Begin(0, 5 * kSec, 0);
  d.AddWaiter(1);
  d.AddWaiter(2);
  EXPECT_EQ(d.Resume(kSec), (std::vector<uint64_t>{1, 2}));
  EXPECT_FALSE(d.Check(10 * kSec, {}).has_value());
}

// A shard's heartbeat stamped before it took the DrainEnd still says "draining"; read after the
// resume it must not bring the drain back. A shard still draining well after the resume (its
// DrainEnd lost) is shown as it is.
TEST(DrainTest, AHeartbeatFromBeforeTheResumeDoesNotBringTheDrainBack) {
  Drain d;
  d.Begin(10 * kSec, 60 * kSec, 0);
  d.Resume(20 * kSec);
  d.OnHeartbeat(Health(20 * kSec - kMs, true, 0));
  EXPECT_FALSE(d.active()) << "sent before the resume";
  d.OnHeartbeat(Health(20 * kSec + 5 * kMs, true, 0));
  EXPECT_FALSE(d.active()) << "sent before the shard took the DrainEnd";
  d.OnHeartbeat(Health(20 * kSec + Drain::kResumeGrace, true, 0));
  EXPECT_TRUE(d.active()) << "still draining long after: shown as it is";
}

TEST(DrainTest, APredecessorsDrainIsAdoptedFromTheHeartbeats) {
  Drain d;
  d.OnHeartbeat(Health(3 * kSec, false, 0));
  EXPECT_FALSE(d.active());
  d.OnHeartbeat(Health(4 * kSec, true, 0));
  EXPECT_TRUE(d.active());
  // Its outcome was reported by the predecessor; this one reports nothing.
  EXPECT_FALSE(
      d.Check(100 * kSec, std::vector<ipc::WorkerHealth>{Health(5 * kSec, true, 0)}).has_value());
}

TEST(ShardHealthTest, ASilentShardIsNamedAndRecoversWithItsNextHeartbeat) {
  ShardHealth s(2, 100 * kSec);
  EXPECT_TRUE(s.Silent(102 * kSec).empty());  // grace from the start
  s.OnHeartbeat(0, Health(103 * kSec, false, 0), 103 * kSec);
  EXPECT_EQ(s.Silent(104 * kSec), std::vector<uint32_t>{1});
  s.ReportSilent(104 * kSec);
  s.OnHeartbeat(1, Health(105 * kSec, false, 0), 105 * kSec);
  EXPECT_TRUE(s.Silent(106 * kSec).empty());
  EXPECT_EQ(s.Silent(107 * kSec), std::vector<uint32_t>{0});
  s.OnHeartbeat(7, Health(107 * kSec, false, 0), 107 * kSec);  // no such shard: ignored
}

// Two shards' first heartbeats, both seen at 1 s: shard 0 (stamped 1 s, 3 live streams) has had
// 1000 in, 4000 out, 10 dropped and 2 events dropped; shard 1 (stamped `b_at`, 1 live) 500 in.
// Returns shard 0's heartbeat, for the test to send on from.
ipc::WorkerHealth FirstHeartbeats(ShardHealth* s, route::TimeNs b_at) {
  ipc::WorkerHealth a = Health(kSec, false, 3);
  a.packets_in = 1000;
  a.packets_out = 4000;
  a.dropped = 10;
  a.events_dropped = 2;
  ipc::WorkerHealth b = Health(b_at, false, 1);
  b.packets_in = 500;
  s->OnHeartbeat(0, a, kSec);
  s->OnHeartbeat(1, b, kSec);
  return a;
}

TEST(ShardHealthTest, TotalsSumTheLastHeartbeats) {
  ShardHealth s(2, 0);
  ipc::WorkerHealth a = FirstHeartbeats(&s, kSec);
  const PlaneTotals t = s.Totals();
  EXPECT_EQ(t.packets_in, 1500u);
  EXPECT_EQ(t.packets_out, 4000u);
  EXPECT_EQ(t.dropped, 10u);
  EXPECT_EQ(t.events_dropped, 2u);
  EXPECT_EQ(t.live_streams, 4u);
  a.packets_in = 2000;  // a heartbeat replaces the shard's figures, it does not add to them
  s.OnHeartbeat(0, a, 3 * kSec);
  EXPECT_EQ(s.Totals().packets_in, 2500u);
}

TEST(ShardHealthTest, RatesAreOverEachShardsOwnHeartbeatSpan) {
  ShardHealth s(2, 0);
  ipc::WorkerHealth a = FirstHeartbeats(&s, kSec / 2);
  // Shard 0: 1000 in over its first second; shard 1: 500 in over half a second. The control
  // plane's own call time (2 s) does not enter.
  EXPECT_EQ(s.Rates(2 * kSec),
            "streams 4 live, in 2000 pps, out 4000 pps, dropped 10 pps, events dropped 2");
  // No heartbeat since: the same rates (a status line between two heartbeats shows no dip).
  EXPECT_EQ(s.Rates(2 * kSec + kSec / 2),
            "streams 4 live, in 2000 pps, out 4000 pps, dropped 10 pps, events dropped 2");
  // Two heartbeats of shard 0 land in one status interval: the rate is over both, not doubled.
  a.packets_in = 2000;
  a.packets_out = 8000;
  a.at = 2 * kSec;
  s.OnHeartbeat(0, a, 2 * kSec);
  a.packets_in = 3000;
  a.packets_out = 12000;
  a.at = 3 * kSec;
  s.OnHeartbeat(0, a, 3 * kSec);
  EXPECT_EQ(s.Rates(3 * kSec),
            "streams 4 live, in 2000 pps, out 4000 pps, dropped 0 pps, events dropped 2");
  // Shard 1 has been silent for more than kSilentAfter: its rate drops to 0.
  a.at = 4 * kSec;
  s.OnHeartbeat(0, a, 4 * kSec + kSec / 2);
  EXPECT_EQ(s.Rates(4 * kSec + kSec / 2),
            "streams 4 live, in 0 pps, out 0 pps, dropped 0 pps, events dropped 2");
  // A counter that went backwards (a shard's state reset) reads as 0, then counts on from there.
  a.packets_in = 100;
  a.at = 5 * kSec;
  s.OnHeartbeat(0, a, 5 * kSec);
  EXPECT_EQ(s.Rates(5 * kSec),
            "streams 4 live, in 0 pps, out 0 pps, dropped 0 pps, events dropped 2");
  a.packets_in = 1100;
  a.at = 6 * kSec;
  s.OnHeartbeat(0, a, 6 * kSec);
  EXPECT_EQ(s.Rates(6 * kSec),
            "streams 4 live, in 1000 pps, out 0 pps, dropped 0 pps, events dropped 2");
}

}  // namespace
}  // namespace dmrswitch::cp
