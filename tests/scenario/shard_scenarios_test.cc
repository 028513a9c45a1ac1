// Scenarios for the shard state machine: each pins one rule of PROTOCOL.md §3 (as Part A keeps
// or fixes it) with packets in, clock steps, and the exact packets and events out.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <functional>
#include <random>

#include "tests/scenario/scenario_harness.h"

namespace dmrswitch::scenario {
namespace {

using route::DropReason;
using route::kMs;
using route::kSec;
using route::kTs1;
using route::kTs2;
using route::SubscriptionAction;
using route::Verdict;

Endpoint Addr(uint8_t last, uint16_t port) {
  return Endpoint{(198u << 24) | (18u << 16) | (1u << 8) | last, port};
}

// Three hotspots with TG 91 static on TS2; a fourth without.
World ThreeOn91(unsigned nshards = 1) {
  World w(nshards);
  w.policy.server_id = 310999;
  w.clients = {
      {3120001, Addr(1, 50001), 3, {{kTs2, 91}}},
      {3120002, Addr(2, 50002), 3, {{kTs2, 91}}},
      {3120003, Addr(3, 50003), 3, {{kTs2, 91}}},
      {3120004, Addr(4, 50004), 3, {}},
  };
  w.Publish();
  return w;
}

std::vector<std::vector<uint8_t>> BytesTo(const std::vector<Sent>& sent, SystemRef to) {
  std::vector<std::vector<uint8_t>> out;
  for (const Sent& s : sent) {
    if (s.to == to) out.push_back(s.bytes);
  }
  return out;
}

TEST(GroupCall, EveryFrameReachesEveryOtherMemberByteForByte) {
  World w = ThreeOn91();
  const auto call = Call(3120101, 91, 3120001, 0xCAFE0001, kTs2, 12);
  for (const Frame& f : call) {
    ASSERT_EQ(w.FromClient(0, f), Verdict::kConsumed);
    const auto sent = w.TakeSent();
    ASSERT_EQ(sent.size(), 2u);  // members 1 and 2; never back to the source
    EXPECT_EQ(sent[0].to, SystemRef::Client(1));
    EXPECT_EQ(sent[0].addr, w.clients[1].addr);
    EXPECT_EQ(Hex(sent[0].bytes), Hex(w.ExpectedHbp(f, 1, kTs2, 91, false)));
    EXPECT_EQ(sent[1].to, SystemRef::Client(2));
    EXPECT_EQ(Hex(sent[1].bytes), Hex(w.ExpectedHbp(f, 2, kTs2, 91, false)));
    w.Advance(60 * kMs);
  }
  const auto events = w.TakeEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, EventType::kStreamStarted) << Describe(events[0]);
  EXPECT_EQ(events[0].source, SystemRef::Client(0));
  EXPECT_EQ(events[0].source_id, 3120001u);
  EXPECT_EQ(events[0].rf_src, 3120101u);
  EXPECT_EQ(events[0].tg, 91u);
  EXPECT_EQ(events[1].type, EventType::kStreamEnded) << Describe(events[1]);
  EXPECT_EQ(events[1].packets, call.size());
  EXPECT_EQ(events[1].lost, 0u);
}

TEST(GroupCall, ShortDmrdIsForwardedAs55Bytes) {
  World w = ThreeOn91();
  Frame f = Call(3120101, 91, 3120001, 0xCAFE0002, kTs2, 0)[0];
  f.length = 53;
  ASSERT_EQ(w.FromClient(0, f), Verdict::kConsumed);
  const auto sent = w.TakeSent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].bytes.size(), 55u);
  EXPECT_EQ(Hex(sent[0].bytes), Hex(w.ExpectedHbp(f, 1, kTs2, 91, false)));
}

TEST(Admission, UnknownClientAndWrongAddressAreDroppedSilently) {
  World w = ThreeOn91();
  Frame f = Call(3120101, 91, 0, 0xCAFE0003, kTs2, 0)[0];
  f.repeater_id = 3129999;  // not logged in
  EXPECT_EQ(w.HbpDatagram(f.Bytes(), Addr(9, 50009)), Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kUnknownClient), 1u);
  f.repeater_id = 3120001;
  const Endpoint spoof = Addr(9, 50001);
  EXPECT_EQ(w.FromClient(0, f, &spoof), Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kAddressMismatch), 1u);
  EXPECT_TRUE(w.TakeSent().empty());
  EXPECT_TRUE(w.TakeEvents().empty());
}

// IPv6 clients (2001:2::/48) route as IPv4 ones, and their source address is the whole address:
// a datagram from another IPv6 address with the same port, or from an IPv4 address, in a client's
// name is dropped.
TEST(Admission, Ipv6ClientsRouteAndTheirWholeAddressIsChecked) {
  const auto v6 = [](uint8_t last, uint16_t port) {
    const uint8_t a[16] = {0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last};
    return Endpoint::V6(a, port);
  };
  World w;
  w.policy.server_id = 310999;
  w.clients = {
      {3120001, v6(1, 50001), 3, {{kTs2, 91}}},
      {3120002, v6(2, 50002), 3, {{kTs2, 91}}},
      {3120003, Addr(3, 50003), 3, {{kTs2, 91}}},
  };
  w.Publish();
  const auto call = Call(3120101, 91, 3120001, 0xCAFE0601, kTs2, 1);
  ASSERT_EQ(w.FromClient(0, call[0]), Verdict::kConsumed);
  std::vector<Sent> sent = w.TakeSent();
  ASSERT_EQ(sent.size(), 2u);
  for (const Sent& s : sent) {
    const size_t to = s.to.index;
    EXPECT_EQ(s.addr, w.clients[to].addr) << "client " << to;
    EXPECT_EQ(Hex(s.bytes), Hex(w.ExpectedHbp(call[0], to, kTs2, 91, false)));
  }
  const Endpoint neighbour = v6(9, 50001);  // same port, another address
  const Endpoint v4 = Endpoint{0, 50001};   // the IPv4 fields alike
  EXPECT_EQ(w.FromClient(0, call[1], &neighbour), Verdict::kDropped);
  EXPECT_EQ(w.FromClient(0, call[1], &v4), Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kAddressMismatch), 2u);
  EXPECT_TRUE(w.TakeSent().empty());
}

TEST(Contention, HangTimeKeepsOtherTgOffABusySlotThenReleases) {
  World w = ThreeOn91();
  w.clients[1].statics.push_back({kTs2, 3100});
  w.clients[3].statics.push_back({kTs2, 3100});
  w.Publish();
  // Client 0 talks on 91: client 1 hears it on TS2.
  w.PlayCall(0, Call(3120101, 91, 3120001, 0xA0000001, kTs2, 3));
  EXPECT_EQ(BytesTo(w.TakeSent(), SystemRef::Client(1)).size(), 5u);
  w.TakeEvents();
  // 1 s later client 3 talks on 3100: client 1's TS2 is in hang time for TG 91 → skipped.
  w.Advance(1 * kSec);
  w.PlayCall(3, Call(3120104, 3100, 3120004, 0xA0000002, kTs2, 3));
  EXPECT_TRUE(BytesTo(w.TakeSent(), SystemRef::Client(1)).empty());
  EXPECT_GT(w.shard(0).counters().contention_skips, 0u);
  // After the hang time (5 s) it gets through.
  w.Advance(5 * kSec);
  w.PlayCall(3, Call(3120104, 3100, 3120004, 0xA0000003, kTs2, 3));
  EXPECT_EQ(BytesTo(w.TakeSent(), SystemRef::Client(1)).size(), 5u);
}

// A client slot is reused by the next login after a logout (the lowest free slot). The calls its
// previous occupant heard do not hold the newcomer off: it hears TG 3100 at once, not after the
// hang time of a TG 91 call it never heard. The same client republished keeps its hang time.
TEST(Contention, ANewClientInAReusedSlotWaitsOutNoHangTimeOfThePreviousOne) {
  for (unsigned nshards : {1u, 2u}) {
    SCOPED_TRACE(nshards);
    World w = ThreeOn91(nshards);
    w.clients[3].statics.push_back({kTs2, 3100});
    w.Publish();
    w.PlayCall(0, Call(3120101, 91, 3120001, 0xA0000001, kTs2, 3));
    const std::vector<Sent> heard = w.TakeSent();
    ASSERT_EQ(BytesTo(heard, SystemRef::Client(1)).size(), 5u);
    ASSERT_EQ(BytesTo(heard, SystemRef::Client(2)).size(), 5u);
    // Client 2 stays, gains TG 3100 (a republished snapshot, same occupant): still in hang time.
    // Client 1 logs out and another hotspot logs into its slot with TG 3100 static.
    w.clients[2].statics.push_back({kTs2, 3100});
    w.clients[1] = {3120009, Addr(9, 50009), 3, {{kTs2, 3100}}};
    w.Publish();
    w.Advance(1 * kSec);
    const auto call = Call(3120104, 3100, 3120004, 0xA0000002, kTs2, 3);
    w.PlayCall(3, call);
    const std::vector<Sent> sent = w.TakeSent();
    const auto to1 = BytesTo(sent, SystemRef::Client(1));
    ASSERT_EQ(to1.size(), call.size());
    EXPECT_EQ(Hex(to1[0]), Hex(w.ExpectedHbp(call[0], 1, kTs2, 3100, false)));
    EXPECT_TRUE(BytesTo(sent, SystemRef::Client(2)).empty()) << "client 2 heard TG 91 1 s ago";
  }
}

TEST(TwoShards, StreamsOwnedByDifferentShardsContendForOneSlotLease) {
  World w = ThreeOn91(/*nshards=*/2);
  w.clients[1].statics.push_back({kTs2, 3100});
  w.clients[3].statics.push_back({kTs2, 3100});
  w.Publish();
  // Find two stream IDs owned by different shards.
  uint32_t a = 0xB0000000, b = 0xB0000001;
  while (w.OwnerOf(b) == w.OwnerOf(a)) ++b;
  const auto call_a = Call(3120101, 91, 3120001, a, kTs2, 6);
  const auto call_b = Call(3120104, 3100, 3120004, b, kTs2, 6);
  // Interleave: A starts first and holds client 1's TS2; B (other shard) must not get in.
  for (size_t i = 0; i < call_a.size(); ++i) {
    w.FromClient(0, call_a[i]);
    w.FromClient(3, call_b[i]);
    w.Advance(60 * kMs);
  }
  const auto to1 = BytesTo(w.TakeSent(), SystemRef::Client(1));
  ASSERT_EQ(to1.size(), call_a.size());
  for (size_t i = 0; i < to1.size(); ++i) {
    EXPECT_EQ(Hex(to1[i]), Hex(w.ExpectedHbp(call_a[i], 1, kTs2, 91, false)));
  }
  EXPECT_GT(w.shard(w.OwnerOf(b)).counters().contention_skips, 0u);
}

TEST(UserActivated, NonMemberActivatesAtCallStartAndIsHeard) {
  World w = ThreeOn91();
  // Client 3 (no statics) keys up TG 91: routed now, and a UA request goes to the control plane.
  const auto call = Call(3120104, 91, 3120004, 0xC0000001, kTs2, 2);
  w.PlayCall(3, call);
  EXPECT_EQ(BytesTo(w.TakeSent(), SystemRef::Client(0)).size(), call.size());
  const auto ev = w.TakeEvents();
  ASSERT_GE(ev.size(), 2u);
  EXPECT_EQ(ev[0].type, EventType::kStreamStarted);
  EXPECT_EQ(ev[1].type, EventType::kSubscriptionRequest);
  EXPECT_EQ(ev[1].action, SubscriptionAction::kActivateUa);
  EXPECT_EQ(ev[1].source, SystemRef::Client(3));
  EXPECT_EQ(ev[1].ts, kTs2);
  EXPECT_EQ(ev[1].tg, 91u);
}

TEST(UserActivated, ActivateOnEndRestoresKeyUpTwice) {
  World w = ThreeOn91();
  w.policy.activate_on = route::ActivateOn::kEnd;
  w.Publish();
  const auto call = Call(3120104, 91, 3120004, 0xC0000002, kTs2, 2);
  w.PlayCall(3, call);
  EXPECT_TRUE(w.TakeSent().empty());  // the first transmission is not heard
  const auto ev = w.TakeEvents();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[1].type, EventType::kStreamEnded);
  EXPECT_EQ(ev[2].type, EventType::kSubscriptionRequest);  // at the terminator
  EXPECT_EQ(ev[2].action, SubscriptionAction::kActivateUa);
  // The control plane activates it; the second key-up is heard.
  w.ua.push_back({3, kTs2, 91, w.now() + 10 * 60 * kSec});
  w.Publish();
  w.PlayCall(3, Call(3120104, 91, 3120004, 0xC0000003, kTs2, 2));
  EXPECT_EQ(BytesTo(w.TakeSent(), SystemRef::Client(0)).size(), 4u);
}

// ---------------------------------------------------------------------------------------------
// Admission and ACLs (PROTOCOL.md §1.5, §3.9, Part A §6)

TEST(Admission, TimeslotTheClientDidNotDeclareIsDropped) {
  World w = ThreeOn91();
  w.clients[0].slot_mask = 2;  // simplex hotspot: TS2 only
  w.Publish();
  EXPECT_EQ(w.FromClient(0, Call(3120101, 91, 3120001, 0xD0000001, kTs1, 0)[0]), Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kSlotNotConfigured), 1u);
}

TEST(Admission, LoginAndKeepalivePacketsGoToTheControlPlane) {
  World w = ThreeOn91();
  std::vector<uint8_t> ping = {'R', 'P', 'T', 'P', 'I', 'N', 'G', 0x00, 0x2F, 0x9B, 0x21};
  EXPECT_EQ(w.HbpDatagram(ping, w.clients[0].addr), Verdict::kToControl);
  std::vector<uint8_t> junk = {'X', 'Y', 'Z', 'W', 1, 2, 3};
  EXPECT_EQ(w.HbpDatagram(junk, w.clients[0].addr), Verdict::kDropped);
  EXPECT_EQ(w.TotalRejects(proto::Reject::kUnknownTag), 1u);
  std::vector<uint8_t> runt = Call(3120101, 91, 3120001, 0xD0000002, kTs2, 0)[0].Bytes();
  runt.resize(40);
  EXPECT_EQ(w.HbpDatagram(runt, w.clients[0].addr), Verdict::kDropped);
  EXPECT_EQ(w.TotalRejects(proto::Reject::kTruncated), 1u);
  Frame zero = Call(3120101, 91, 3120001, 0xD0000003, kTs2, 0)[0];
  zero.stream_id = 0;
  EXPECT_EQ(w.FromClient(0, zero), Verdict::kDropped);
  EXPECT_EQ(w.TotalRejects(proto::Reject::kZeroStreamId), 1u);
  EXPECT_TRUE(w.TakeSent().empty());
}

TEST(Acl, GlobalSubDenyOneIsFreeDmrsDefault) {
  World w = ThreeOn91();
  const auto call = Call(1, 91, 3120001, 0xD0000010, kTs2, 2);
  for (const Frame& f : call) EXPECT_EQ(w.FromClient(0, f), Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kSubAcl), call.size());
  EXPECT_TRUE(w.TakeSent().empty());
  EXPECT_TRUE(w.TakeEvents().empty());  // refused streams make no events
}

TEST(Acl, GlobalTgAclIsPerTimeslot) {
  World w = ThreeOn91();
  w.policy.tg_acl[kTs2] = *route::Acl::Parse("DENY:91");
  w.clients[1].statics.push_back({kTs1, 91});
  w.clients[0].statics.push_back({kTs1, 91});
  w.Publish();
  EXPECT_EQ(w.FromClient(0, Call(3120101, 91, 3120001, 0xD0000011, kTs2, 0)[0]), Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kTgAcl), 1u);
  // The same TG on TS1 is allowed.
  EXPECT_EQ(w.FromClient(0, Call(3120101, 91, 3120001, 0xD0000012, kTs1, 0)[0]),
            Verdict::kConsumed);
  // Every other member (client, slot): client 0's own TS2, client 1 on both slots, client 2.
  EXPECT_EQ(w.TakeSent().size(), 4u);
}

// ---------------------------------------------------------------------------------------------
// Slot state (PROTOCOL.md §3.6 step 3, contention rules (a)–(d))

TEST(Contention, SecondTransmissionOnAReceivingSlotIsACollision) {
  World w = ThreeOn91();
  const auto a = Call(3120101, 91, 3120001, 0xE0000001, kTs2, 6);
  const auto b = Call(3120109, 91, 3120001, 0xE0000002, kTs2, 6);
  w.FromClient(0, a[0]);
  w.Advance(60 * kMs);
  EXPECT_EQ(w.FromClient(0, b[0]), Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kSlotCollision), 1u);
  // Once A has ended, B may start.
  for (size_t i = 1; i < a.size(); ++i) {
    w.FromClient(0, a[i]);
    w.Advance(60 * kMs);
  }
  w.TakeSent();
  w.Advance(400 * kMs);
  EXPECT_EQ(w.FromClient(0, b[0]), Verdict::kConsumed);
}

TEST(Contention, ClientsOwnTransmissionTakesItsSlotFromTheHub) {
  World w = ThreeOn91();
  const auto a = Call(3120101, 91, 3120001, 0xE0000011, kTs2, 6);
  const auto b = Call(3120102, 91, 3120002, 0xE0000012, kTs2, 6);
  w.FromClient(0, a[0]);  // client 1 starts receiving A
  EXPECT_EQ(BytesTo(w.TakeSent(), SystemRef::Client(1)).size(), 1u);
  w.Advance(60 * kMs);
  // Client 1's user keys up anyway: the radio has the channel.
  EXPECT_EQ(w.FromClient(1, b[0]), Verdict::kConsumed);
  w.TakeSent();
  w.Advance(60 * kMs);
  w.FromClient(0, a[1]);
  EXPECT_TRUE(BytesTo(w.TakeSent(), SystemRef::Client(1)).empty());
  EXPECT_GT(w.shard(0).counters().contention_skips, 0u);
}

TEST(Contention, SameTgWithinTheCollisionWindowWaitsThenGetsIn) {
  World w = ThreeOn91();
  w.PlayCall(0, Call(3120101, 91, 3120001, 0xE0000021, kTs2, 2));
  w.TakeSent();
  // Client 2 answers 100 ms after the terminator: client 1's slot ended < 360 ms ago.
  w.Advance(100 * kMs - 60 * kMs);
  const auto b = Call(3120103, 91, 3120003, 0xE0000022, kTs2, 8);
  w.FromClient(2, b[0]);
  EXPECT_TRUE(BytesTo(w.TakeSent(), SystemRef::Client(1)).empty());
  // 360 ms after the end the same TG gets through (late entry, mid-stream).
  w.Advance(300 * kMs);
  w.FromClient(2, b[1]);
  const auto to1 = BytesTo(w.TakeSent(), SystemRef::Client(1));
  ASSERT_EQ(to1.size(), 1u);
  EXPECT_EQ(Hex(to1[0]), Hex(w.ExpectedHbp(b[1], 1, kTs2, 91, false)));
}

// Part A §11: the collision window holds off a *different* talker only. The same rf_src keying
// up again on the same TG right after its terminator is heard from its first frame, header and
// all (FreeDMR/HBlink3 rule (d) compares rf_src; a lease without it lost the first 360 ms).
TEST(ReKey, SameTalkerBackToBackIsRoutedFromItsFirstFrame) {
  World w = ThreeOn91();
  const auto first = Call(3120101, 91, 3120001, 0xE1000001, kTs2, 2);
  w.PlayCall(0, first);  // ends 60 ms after its terminator
  w.TakeSent();
  w.TakeEvents();
  const auto again = Call(3120101, 91, 3120001, 0xE1000002, kTs2, 2);
  for (size_t i = 0; i < again.size(); ++i) {
    ASSERT_EQ(w.FromClient(0, again[i]), Verdict::kConsumed);
    const auto sent = w.TakeSent();
    for (size_t to : {1u, 2u}) {
      const auto got = BytesTo(sent, SystemRef::Client(to));
      ASSERT_EQ(got.size(), 1u) << "frame " << i << " to client " << to;
      EXPECT_EQ(Hex(got[0]), Hex(w.ExpectedHbp(again[i], to, kTs2, 91, false)));
    }
    w.Advance(60 * kMs);
  }
  EXPECT_EQ(w.shard(0).counters().contention_skips, 0u);
}

TEST(ReKey, SameTalkerFromAnotherHotspotIsRoutedToo) {
  // The radio moved to the next repeater between two overs: still the same talker.
  World w = ThreeOn91();
  w.PlayCall(0, Call(3120101, 91, 3120001, 0xE1000011, kTs2, 1));
  w.TakeSent();
  const auto again = Call(3120101, 91, 3120004, 0xE1000012, kTs2, 1);
  ASSERT_EQ(w.FromClient(3, again[0]), Verdict::kConsumed);
  const auto sent = w.TakeSent();
  EXPECT_EQ(BytesTo(sent, SystemRef::Client(1)).size(), 1u);
  EXPECT_EQ(BytesTo(sent, SystemRef::Client(2)).size(), 1u);
  // Client 0, where the first over came from, hears it too: its slot's last talker is the same.
  ASSERT_EQ(BytesTo(sent, SystemRef::Client(0)).size(), 1u);
  EXPECT_EQ(Hex(BytesTo(sent, SystemRef::Client(0))[0]),
            Hex(w.ExpectedHbp(again[0], 0, kTs2, 91, false)));
}

TEST(ReKey, DifferentTalkerIsStillHeldOffForTheStreamTimeout) {
  World w = ThreeOn91();
  w.PlayCall(0, Call(3120101, 91, 3120001, 0xE1000021, kTs2, 2));
  w.TakeSent();
  // Another radio on the same hotspot and slot, 60 ms after the terminator: its header is not
  // sent to the listeners (their slots ended < 360 ms ago with another talker).
  const auto other = Call(3120109, 91, 3120001, 0xE1000022, kTs2, 8);
  ASSERT_EQ(w.FromClient(0, other[0]), Verdict::kConsumed);
  EXPECT_TRUE(BytesTo(w.TakeSent(), SystemRef::Client(1)).empty());
  EXPECT_GT(w.shard(0).counters().contention_skips, 0u);
  // After the window it enters late.
  for (size_t i = 1; i < 7; ++i) {
    w.Advance(60 * kMs);
    w.FromClient(0, other[i]);
  }
  const auto to1 = BytesTo(w.TakeSent(), SystemRef::Client(1));
  ASSERT_FALSE(to1.empty());
  EXPECT_LT(to1.size(), 6u);
  EXPECT_EQ(Hex(to1.back()), Hex(w.ExpectedHbp(other[6], 1, kTs2, 91, false)));
}

TEST(ReKey, SameTalkerAcrossShards) {
  // The two overs are owned by different shards: the talker crosses with the lease.
  World w = ThreeOn91(/*nshards=*/2);
  uint32_t a = 0xE1000031, b = 0xE1000032;
  while (w.OwnerOf(b) == w.OwnerOf(a)) ++b;
  w.PlayCall(0, Call(3120101, 91, 3120001, a, kTs2, 1));
  w.TakeSent();
  const auto again = Call(3120101, 91, 3120001, b, kTs2, 1);
  w.FromClient(0, again[0]);
  const auto to1 = BytesTo(w.TakeSent(), SystemRef::Client(1));
  ASSERT_EQ(to1.size(), 1u);
  EXPECT_EQ(Hex(to1[0]), Hex(w.ExpectedHbp(again[0], 1, kTs2, 91, false)));
}

// Back to back with no gap, across shards: the next over's header is processed by its shard
// before the shard that owns the previous over has seen that over's terminator (the soak's
// simulator starts the next call the moment it sends a terminator). The same talker's new over
// supersedes the old one: heard from its header, nothing dropped as a collision, and the old
// over's late terminator reaches nobody who already hears the new one.
TEST(ReKey, SameTalkerBackToBackOvertakesTheTerminatorOnTheOtherShard) {
  World w = ThreeOn91(/*nshards=*/2);
  uint32_t a = 0xE1000041, b = 0xE1000042;
  while (w.OwnerOf(b) == w.OwnerOf(a)) ++b;
  const auto first = Call(3120101, 91, 3120001, a, kTs2, 3);
  for (size_t i = 0; i + 1 < first.size(); ++i) {
    w.FromClient(0, first[i]);
    w.Advance(60 * kMs);
  }
  w.TakeSent();
  const auto again = Call(3120101, 91, 3120001, b, kTs2, 3);
  ASSERT_EQ(w.FromClient(0, again[0]), Verdict::kConsumed);
  ASSERT_EQ(w.FromClient(0, first.back()), Verdict::kConsumed);  // A's terminator, late
  for (size_t i = 1; i < again.size(); ++i) {
    w.Advance(60 * kMs);
    ASSERT_EQ(w.FromClient(0, again[i]), Verdict::kConsumed);
  }
  const auto sent = w.TakeSent();
  for (size_t to : {1u, 2u}) {
    const auto got = BytesTo(sent, SystemRef::Client(to));
    ASSERT_EQ(got.size(), again.size()) << "client " << to;
    for (size_t i = 0; i < again.size(); ++i) {
      EXPECT_EQ(Hex(got[i]), Hex(w.ExpectedHbp(again[i], to, kTs2, 91, false)))
          << "frame " << i << " to client " << to;
    }
  }
  EXPECT_EQ(w.TotalDrops(DropReason::kSlotCollision), 0u);
  EXPECT_EQ(w.shard(w.OwnerOf(b)).counters().contention_skips, 0u);
  // A's late terminator was not sent to the two listeners B had taken, and is counted so.
  EXPECT_EQ(w.shard(w.OwnerOf(a)).counters().superseded_skips, 2u);
  EXPECT_EQ(w.shard(w.OwnerOf(a)).counters().contention_skips, 0u);
}

// Two repeaters that hear one radio send two streams of the same talker at once: neither
// supersedes the other (they are different clients' slots), so a listener hears one of them.
TEST(ReKey, TheSameTalkerThroughTwoRepeatersAtOnceDoesNotInterleave) {
  World w = ThreeOn91(/*nshards=*/2);
  uint32_t a = 0xE1000051, b = 0xE1000052;
  while (w.OwnerOf(b) == w.OwnerOf(a)) ++b;
  const auto via0 = Call(3120101, 91, 3120001, a, kTs2, 3);
  const auto via3 = Call(3120101, 91, 3120004, b, kTs2, 3);
  for (size_t i = 0; i < via0.size(); ++i) {
    w.FromClient(0, via0[i]);
    w.FromClient(3, via3[i]);
    w.Advance(60 * kMs);
  }
  // Client 1 hears the first stream whole; the second's terminator, which comes after the
  // first's, may follow (the slot ended with the same talker on the same TG), nothing before.
  const auto to1 = BytesTo(w.TakeSent(), SystemRef::Client(1));
  ASSERT_GE(to1.size(), via0.size());
  ASSERT_LE(to1.size(), via0.size() + 1);
  for (size_t i = 0; i < via0.size(); ++i) {
    EXPECT_EQ(Hex(to1[i]), Hex(w.ExpectedHbp(via0[i], 1, kTs2, 91, false))) << "frame " << i;
  }
}

// The superseded over lags on its shard while the new one runs to its end: a late frame of the
// old over must not take the listeners' slots back through the same-talker rule (the slots ended
// with the same talker on the same TG), where it would hold off the next talker's call.
TEST(ReKey, AnOvertakenOverTakesNothingBackAfterTheNewOverEnds) {
  World w = ThreeOn91(/*nshards=*/2);
  uint32_t a = 0xE1000061, b = 0xE1000062;
  while (w.OwnerOf(b) == w.OwnerOf(a)) ++b;
  const auto first = Call(3120101, 91, 3120001, a, kTs2, 3);
  const auto again = Call(3120101, 91, 3120001, b, kTs2, 1);  // header, 1 voice, terminator
  ASSERT_EQ(w.FromClient(0, first[0]), Verdict::kConsumed);   // t=0
  w.Advance(60 * kMs);
  ASSERT_EQ(w.FromClient(0, first[1]), Verdict::kConsumed);  // t=60
  for (const Frame& f : again) {                             // t=60, 120, 180: B whole
    ASSERT_EQ(w.FromClient(0, f), Verdict::kConsumed);
    w.Advance(60 * kMs);
  }
  w.Advance(60 * kMs);
  w.TakeSent();
  // t=300: A's next frame, late; A is still live (silent 240 ms < the 360 ms stream timeout).
  w.FromClient(0, first[2]);
  EXPECT_TRUE(BytesTo(w.TakeSent(), SystemRef::Client(1)).empty());
  EXPECT_EQ(w.shard(w.OwnerOf(a)).counters().superseded_skips, 2u);  // clients 1 and 2
  // t=600: another talker on TG 91, 420 ms after B's end, is heard from its header.
  w.Advance(300 * kMs);
  const auto other = Call(3120109, 91, 3120003, 0xE1000071, kTs2, 1);
  for (const Frame& f : other) {
    ASSERT_EQ(w.FromClient(2, f), Verdict::kConsumed);
    w.Advance(60 * kMs);
  }
  const auto to1 = BytesTo(w.TakeSent(), SystemRef::Client(1));
  ASSERT_EQ(to1.size(), other.size());
  for (size_t i = 0; i < other.size(); ++i) {
    EXPECT_EQ(Hex(to1[i]), Hex(w.ExpectedHbp(other[i], 1, kTs2, 91, false))) << "frame " << i;
  }
  for (unsigned i = 0; i < 2; ++i) EXPECT_EQ(w.shard(i).counters().contention_skips, 0u);
}

// The old over's late frame `old_frame` reaches no listener; the new over `again`, from its
// second frame on, reaches listener 1 whole and never collides.
void ExpectTheOldOverSilentAndTheNewOneResumed(World& w, const Frame& old_frame,
                                               const std::vector<Frame>& again) {
  w.TakeSent();
  w.FromClient(0, old_frame);
  EXPECT_TRUE(BytesTo(w.TakeSent(), SystemRef::Client(1)).empty());
  for (size_t i = 1; i < again.size(); ++i) {
    ASSERT_EQ(w.FromClient(0, again[i]), Verdict::kConsumed);
    w.Advance(60 * kMs);
  }
  const auto to1 = BytesTo(w.TakeSent(), SystemRef::Client(1));
  ASSERT_EQ(to1.size(), again.size() - 1);
  for (size_t i = 1; i < again.size(); ++i) {
    EXPECT_EQ(Hex(to1[i - 1]), Hex(w.ExpectedHbp(again[i], 1, kTs2, 91, false))) << "frame " << i;
  }
  EXPECT_EQ(w.TotalDrops(DropReason::kSlotCollision), 0u);
}

// Both overs go quiet with the new one holding the client's slot: the old one, back from
// silence, is not its talker's current over and must not take the slot (or the listeners') back
// from the new one, which is.
TEST(ReKey, AnOvertakenOverBackFromSilenceStaysOvertaken) {
  World w = ThreeOn91(/*nshards=*/2);
  uint32_t a = 0xE1000081, b = 0xE1000082;
  while (w.OwnerOf(b) == w.OwnerOf(a)) ++b;
  const auto first = Call(3120101, 91, 3120001, a, kTs2, 3);
  const auto again = Call(3120101, 91, 3120001, b, kTs2, 3);
  ASSERT_EQ(w.FromClient(0, first[0]), Verdict::kConsumed);
  w.Advance(60 * kMs);
  ASSERT_EQ(w.FromClient(0, first[1]), Verdict::kConsumed);
  ASSERT_EQ(w.FromClient(0, again[0]), Verdict::kConsumed);  // B supersedes A
  w.Advance(400 * kMs);                                      // both quiet
  ExpectTheOldOverSilentAndTheNewOneResumed(w, first[2], again);
}

// The old over went quiet first (it released the client's slot), then the same talker's new
// over came and went quiet too: the old one, back from silence, finds the slot last used by a
// newer over of its talker and stays silent; the new one resumes.
TEST(ReKey, AnOverBackFromSilenceAfterItsTalkersNewerOverStaysSilent) {
  World w = ThreeOn91(/*nshards=*/2);
  uint32_t a = 0xE1000091, b = 0xE1000092;
  while (w.OwnerOf(b) == w.OwnerOf(a)) ++b;
  const auto first = Call(3120101, 91, 3120001, a, kTs2, 3);
  const auto again = Call(3120101, 91, 3120001, b, kTs2, 3);
  ASSERT_EQ(w.FromClient(0, first[0]), Verdict::kConsumed);
  w.Advance(60 * kMs);
  ASSERT_EQ(w.FromClient(0, first[1]), Verdict::kConsumed);
  w.Advance(400 * kMs);  // A quiet
  ASSERT_EQ(w.FromClient(0, again[0]), Verdict::kConsumed);
  w.Advance(400 * kMs);  // B quiet
  ExpectTheOldOverSilentAndTheNewOneResumed(w, first[2], again);
}

// One talker's back-to-back overs (the next header sent with the previous terminator), owned by
// two shards that each run behind by their own varying lag: whatever the interleaving, a listener
// never counts contention and the talker never collides with itself (the soak's load on one call
// group). Each shard handles its own frames in order; the lags sometimes pass the stream timeout.
TEST(ReKey, BackToBackOversUnderRandomShardLagNeverContend) {
  std::mt19937_64 rng(20261204);
  for (int round = 0; round < 400; ++round) {
    World w = ThreeOn91(/*nshards=*/2);
    struct Due {
      TimeNs at;
      Frame f;
    };
    std::vector<Due> due;
    std::array<TimeNs, 2> shard_done{};  // each shard's last handling time: its order is FIFO
    TimeNs sent = w.now();
    for (int call = 0; call < 6; ++call) {
      const uint32_t stream = 0xF0000000u + static_cast<uint32_t>(round * 16 + call);
      const auto frames = Call(3120101, 91, 3120001, stream, kTs2, 1 + static_cast<int>(rng() % 6));
      for (size_t i = 0; i < frames.size(); ++i) {
        if (i > 0) sent += 60 * kMs;
        const unsigned owner = w.OwnerOf(stream);
        // Mostly a few ms behind, now and then far behind (a busy shard).
        const TimeNs lag = rng() % 8 == 0 ? (rng() % 500) * kMs : (rng() % 20) * kMs;
        const TimeNs at = std::max(shard_done[owner], sent + lag);
        shard_done[owner] = at;
        due.push_back({at, frames[i]});
      }
      if (rng() % 3 == 0) sent += (rng() % 80) * kMs;  // sometimes a short gap before the next
    }
    std::stable_sort(due.begin(), due.end(),
                     [](const Due& a, const Due& b) { return a.at < b.at; });
    for (const Due& d : due) {
      if (d.at > w.now()) w.Advance(d.at - w.now());
      w.FromClient(0, d.f);
    }
    w.Advance(1 * kSec);
    for (unsigned i = 0; i < 2; ++i) {
      ASSERT_EQ(w.shard(i).counters().contention_skips, 0u) << "round " << round << " shard " << i;
    }
    ASSERT_EQ(w.TotalDrops(DropReason::kSlotCollision), 0u) << "round " << round;
  }
}

// The talker is a member of the TG it talks on (every hotspot of a group has it static): its own
// slot is then one of the conference's entries, between the listeners in slot order. The own
// slot is the rx lease and is released last — at the end, when the route changes, when the
// stream goes quiet — so that the talker's next over on another shard finds it held (and
// supersedes) for as long as any listener's slot is held. Released with the listeners, in slot
// order, the next over saw it ended, superseded nothing and collided with the listeners still
// held (the soak's few contention skips, one header to 3..18 listeners).
TEST(ReKey, AnOverKeepsItsOwnSlotUntilItsListenersSlotsAreReleased) {
  World w = ThreeOn91(/*nshards=*/2);  // client 0 talks, and is a member of TG 91 itself
  uint32_t a = 0xE10000A1, b = 0xE10000A2;
  while (w.OwnerOf(b) == w.OwnerOf(a)) ++b;
  const auto first = Call(3120101, 91, 3120001, a, kTs2, 3);
  const auto again = Call(3120101, 91, 3120001, b, kTs2, 3);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(w.FromClient(0, first[i]), Verdict::kConsumed);
    w.Advance(60 * kMs);
  }
  // A's route changes: the talker leaves the TG (listeners 1 and 2 stay).
  w.clients[0].statics.clear();
  w.Publish();
  EXPECT_TRUE(w.leases().Holds(0, kTs2, a)) << "the talker's own slot went with the route";
  w.TakeSent();
  ASSERT_EQ(w.FromClient(0, again[0]), Verdict::kConsumed);  // B, on the other shard
  const auto sent = w.TakeSent();
  EXPECT_EQ(BytesTo(sent, SystemRef::Client(1)).size(), 1u);
  EXPECT_EQ(BytesTo(sent, SystemRef::Client(2)).size(), 1u);
  EXPECT_EQ(w.shard(w.OwnerOf(b)).counters().contention_skips, 0u);

  // And at A's end, interleaved with B as two shards can: the own slot is released after every
  // listener's, so whenever B finds it ended, the listeners are free too. Emulated by releasing
  // what A's end releases one lease at a time, in A's order, with B's header after each step.
  for (size_t k = 0; k <= 3; ++k) {
    World v = ThreeOn91(/*nshards=*/2);
    uint32_t c = 0xE10000B1 + static_cast<uint32_t>(k) * 16, d = c + 1;
    while (v.OwnerOf(d) == v.OwnerOf(c)) ++d;
    const auto one = Call(3120101, 91, 3120001, c, kTs2, 3);
    const auto two = Call(3120101, 91, 3120001, d, kTs2, 3);
    for (size_t i = 0; i + 1 < one.size(); ++i) {
      ASSERT_EQ(v.FromClient(0, one[i]), Verdict::kConsumed);
      v.Advance(60 * kMs);
    }
    // What ending `one` releases, in order: listeners 1 and 2, then the own slot.
    const std::array<uint32_t, 3> order = {1, 2, 0};
    for (size_t i = 0; i < k; ++i) v.leases().Release(order[i], kTs2, c, v.now());
    v.TakeSent();
    ASSERT_EQ(v.FromClient(0, two[0]), Verdict::kConsumed);
    const auto got = v.TakeSent();
    EXPECT_EQ(BytesTo(got, SystemRef::Client(1)).size(), 1u) << "k=" << k;
    EXPECT_EQ(BytesTo(got, SystemRef::Client(2)).size(), 1u) << "k=" << k;
    EXPECT_EQ(v.shard(v.OwnerOf(d)).counters().contention_skips, 0u) << "k=" << k;
  }
}

TEST(Contention, SilentStreamReleasesItsSlotsHangTimeFromItsLastPacket) {
  World w = ThreeOn91();
  w.clients[1].statics.push_back({kTs2, 3100});
  w.clients[3].statics.push_back({kTs2, 3100});
  w.Publish();
  const auto a = Call(3120101, 91, 3120001, 0xE0000031, kTs2, 6);
  for (int i = 0; i < 3; ++i) {
    w.FromClient(0, a[i]);
    w.Advance(60 * kMs);
  }
  // A goes silent (no terminator). 5 s after its last packet another TG may use client 1's TS2.
  w.Advance(5 * kSec);
  w.TakeSent();
  w.PlayCall(3, Call(3120104, 3100, 3120004, 0xE0000032, kTs2, 1));
  EXPECT_EQ(BytesTo(w.TakeSent(), SystemRef::Client(1)).size(), 3u);
}

// ---------------------------------------------------------------------------------------------
// Per-packet policing (PROTOCOL.md §3.6 steps 4–5)

TEST(Policing, RateLimitAfter18PacketsAbove25PerSecond) {
  World w = ThreeOn91();
  auto call = Call(3120101, 91, 3120001, 0xF0000001, kTs2, 40);
  size_t dropped = 0;
  for (const Frame& f : call) {
    if (w.FromClient(0, f) == Verdict::kDropped) ++dropped;
    w.Advance(10 * kMs);  // 100 packets/s: a flood
  }
  EXPECT_GT(dropped, 0u);
  EXPECT_EQ(w.TotalDrops(DropReason::kRateLimit), dropped);
  // The first 19 packets always pass.
  EXPECT_GE(call.size() - dropped, 19u);
}

TEST(Policing, RealCadenceIsNeverRateLimited) {
  World w = ThreeOn91();
  w.PlayCall(0, Call(3120101, 91, 3120001, 0xF0000002, kTs2, 300));
  EXPECT_EQ(w.TotalDrops(DropReason::kRateLimit), 0u);
}

TEST(Policing, StreamOlderThanMaxAgeIsCut) {
  World w = ThreeOn91();
  w.policy.max_stream_age = 2 * kSec;
  w.Publish();
  const auto call = Call(3120101, 91, 3120001, 0xF0000003, kTs2, 50);  // 3 s of voice
  w.PlayCall(0, call);
  EXPECT_GT(w.TotalDrops(DropReason::kMaxStreamAge), 0u);
  EXPECT_LE(BytesTo(w.TakeSent(), SystemRef::Client(1)).size(), 34u);  // 2 s / 60 ms + 1
}

TEST(Policing, DuplicatesAndReorderingAreDroppedGapsForwardedAndCounted) {
  World w = ThreeOn91();
  const auto call = Call(3120101, 91, 3120001, 0xF0000004, kTs2, 8);
  w.FromClient(0, call[0]);
  w.FromClient(0, call[1]);
  EXPECT_EQ(w.FromClient(0, call[1]), Verdict::kDropped);  // same seq again
  EXPECT_EQ(w.TotalDrops(DropReason::kDuplicate), 1u);
  w.FromClient(0, call[4]);                                // 2 and 3 lost
  EXPECT_EQ(w.FromClient(0, call[3]), Verdict::kDropped);  // late: backwards
  EXPECT_EQ(w.TotalDrops(DropReason::kOutOfOrder), 1u);
  w.FromClient(0, call.back());
  const auto ev = w.TakeEvents();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].type, EventType::kStreamEnded);
  EXPECT_EQ(ev[1].packets, 4u);
  EXPECT_EQ(ev[1].lost, 2u + (call.size() - 1 - 5));
  EXPECT_EQ(BytesTo(w.TakeSent(), SystemRef::Client(1)).size(), 4u);
}

TEST(Policing, SequenceWrapsFrom255To0) {
  World w = ThreeOn91();
  auto call = Call(3120101, 91, 3120001, 0xF0000005, kTs2, 300);
  call.pop_back();  // no terminator: keep it live
  for (const Frame& f : call) {
    ASSERT_EQ(w.FromClient(0, f), Verdict::kConsumed) << int(f.seq);
    w.Advance(60 * kMs);
  }
  EXPECT_EQ(w.TotalDrops(DropReason::kOutOfOrder), 0u);
}

TEST(StreamEnd, FramesAfterTheTerminatorAreDroppedANewHeaderStartsOver) {
  World w = ThreeOn91();
  const auto call = Call(3120101, 91, 3120001, 0xF0000006, kTs2, 2);
  w.PlayCall(0, call);
  w.TakeSent();
  w.TakeEvents();
  EXPECT_EQ(w.FromClient(0, call[1]), Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kAfterEnd), 1u);
  w.Advance(500 * kMs);
  EXPECT_EQ(w.FromClient(0, call[0]), Verdict::kConsumed);  // same ID, new header
  const auto ev = w.TakeEvents();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, EventType::kStreamStarted);
}

TEST(StreamEnd, SilenceLosesTheStreamAfterFiveSeconds) {
  World w = ThreeOn91();
  const auto call = Call(3120101, 91, 3120001, 0xF0000007, kTs2, 6);
  for (int i = 0; i < 4; ++i) {
    w.FromClient(0, call[i]);
    w.Advance(60 * kMs);
  }
  w.TakeEvents();
  w.Advance(4 * kSec);
  EXPECT_TRUE(w.TakeEvents().empty());
  w.Advance(1 * kSec);
  const auto ev = w.TakeEvents();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, EventType::kStreamLost);
  EXPECT_EQ(ev[0].packets, 4u);
  EXPECT_EQ(w.shard(0).live_streams(), 0u);
}

TEST(StreamTable, FullTableRefusesNewStreamsAndForgetsEndedOnesFirst) {
  World w(1, /*stream_capacity=*/2);
  w.policy.server_id = 310999;
  w.clients = {{3120001, Addr(1, 50001), 3, {{kTs2, 91}, {kTs1, 92}}},
               {3120002, Addr(2, 50002), 3, {{kTs2, 91}, {kTs1, 92}}},
               {3120003, Addr(3, 50003), 3, {{kTs2, 91}}}};
  w.Publish();
  w.FromClient(0, Call(3120101, 91, 3120001, 0x1001, kTs2, 2)[0]);
  w.FromClient(1, Call(3120102, 92, 3120002, 0x1002, kTs1, 2)[0]);
  EXPECT_EQ(w.FromClient(2, Call(3120103, 91, 3120003, 0x1003, kTs2, 2)[0]), Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kTableFull), 1u);
  // End one; the next new stream evicts the remembered ended one.
  w.FromClient(0, Call(3120101, 91, 3120001, 0x1001, kTs2, 2).back());
  w.Advance(400 * kMs);
  EXPECT_EQ(w.FromClient(2, Call(3120103, 91, 3120003, 0x1003, kTs2, 2)[0]), Verdict::kConsumed);
}

// ---------------------------------------------------------------------------------------------
// Private-call controls and dial-a-TG (PROTOCOL.md §3.5)

route::Event OnlyRequest(const std::vector<Event>& ev) {
  for (const Event& e : ev) {
    if (e.type == EventType::kSubscriptionRequest) return e;
  }
  return Event{};
}

TEST(PrivateCall, DialUnlinkStatusAreRequestsNotRoutedCalls) {
  World w = ThreeOn91();
  struct Case {
    uint32_t dst;
    unsigned ts;
    SubscriptionAction want;
  } cases[] = {
      {3100, kTs2, SubscriptionAction::kDial},       {4000, kTs2, SubscriptionAction::kUnlink},
      {5000, kTs2, SubscriptionAction::kStatus},     {9, kTs2, SubscriptionAction::kRejectDial},
      {9995, kTs2, SubscriptionAction::kRejectDial}, {3100, kTs1, SubscriptionAction::kRejectDial}};
  uint32_t stream = 0x2001;
  for (const Case& c : cases) {
    w.PlayCall(0, Call(3120101, c.dst, 3120001, stream++, c.ts, 2, /*private_call=*/true));
    w.Advance(1 * kSec);
    EXPECT_TRUE(w.TakeSent().empty()) << c.dst;
    const Event e = OnlyRequest(w.TakeEvents());
    EXPECT_EQ(e.action, c.want) << c.dst;
    EXPECT_EQ(e.source, SystemRef::Client(0));
    EXPECT_EQ(e.tg, c.dst);
  }
}

TEST(DialATg, DialledClientSpeaksTg9AndIsHeardAsTheRealTgWithRewrittenLc) {
  World w = ThreeOn91();
  w.clients[1].statics = {{kTs2, 3100}};
  w.clients[3].dial_tg = 3100;
  w.Publish();
  const auto call = Call(3120104, 9, 3120004, 0x3001, kTs2, 7);
  for (const Frame& f : call) {
    ASSERT_EQ(w.FromClient(3, f), Verdict::kConsumed);
    const auto to1 = BytesTo(w.TakeSent(), SystemRef::Client(1));
    ASSERT_EQ(to1.size(), 1u);
    EXPECT_EQ(Hex(to1[0]), Hex(w.ExpectedHbp(f, 1, kTs2, 3100, /*rewrite_lc=*/true)))
        << "flags " << int(f.flags);
    w.Advance(60 * kMs);
  }
}

TEST(DialATg, TrafficOnTheTgReachesTheDialledClientAsTg9OnTs2) {
  World w = ThreeOn91();
  w.clients[1].statics = {{kTs1, 3100}};
  w.clients[3].dial_tg = 3100;
  w.Publish();
  const auto call = Call(3120102, 3100, 3120002, 0x3002, kTs1, 7);
  for (const Frame& f : call) {
    ASSERT_EQ(w.FromClient(1, f), Verdict::kConsumed);
    const auto to3 = BytesTo(w.TakeSent(), SystemRef::Client(3));
    ASSERT_EQ(to3.size(), 1u);
    // Slot flipped to TS2, TG 3100 → 9, LC rewritten to match.
    EXPECT_EQ(Hex(to3[0]), Hex(w.ExpectedHbp(f, 3, kTs2, 9, /*rewrite_lc=*/true)));
    w.Advance(60 * kMs);
  }
}

TEST(DialATg, TheLinkIsHeardRightAfterTheDialCallNotAfterTheHangTime) {
  World w = ThreeOn91();
  w.clients[1].statics = {{kTs1, 3100}};
  w.Publish();
  // Client 3 dials 3100 (a private call on TS2); the control plane links it.
  w.PlayCall(3, Call(3120104, 3100, 3120004, 0x3010, kTs2, 2, /*private_call=*/true));
  w.clients[3].dial_tg = 3100;
  w.Publish();
  // Past the collision window, well inside the 5 s group hang time: the link's traffic (TG 9
  // on client 3's TS2) is the TG the command left the slot on, so it is heard.
  w.Advance(500 * kMs);
  const auto call = Call(3120102, 3100, 3120002, 0x3011, kTs1, 1);
  ASSERT_EQ(w.FromClient(1, call[0]), Verdict::kConsumed);
  EXPECT_EQ(BytesTo(w.TakeSent(), SystemRef::Client(3)).size(), 1u);
}

TEST(DialATg, OneCopyPerDestinationWhenDialAndStaticMatch) {
  World w = ThreeOn91();
  w.clients[3].statics = {{kTs2, 3100}};
  w.clients[3].dial_tg = 3100;  // both "#3100" and "3100" would match in FreeDMR
  w.clients[1].statics = {{kTs2, 3100}};
  w.Publish();
  w.FromClient(1, Call(3120102, 3100, 3120002, 0x3003, kTs2, 1)[0]);
  EXPECT_EQ(BytesTo(w.TakeSent(), SystemRef::Client(3)).size(), 1u);
}

TEST(DialATg, EmbeddedLcIsRewrittenOnVoiceOnlyNeverOnDataBursts) {
  World w = ThreeOn91();
  w.clients[1].statics = {{kTs2, 3100}};
  w.clients[3].dial_tg = 3100;
  w.Publish();
  // A group CSBK (data sync, data type 3: low nibble 3 like voice burst D) on TG 9.
  Frame csbk = Call(3120104, 9, 3120004, 0x3004, kTs2, 0)[0];
  csbk.flags = 0xA3;
  for (size_t i = 0; i < 33; ++i) csbk.payload[i] = static_cast<uint8_t>(0xC0 + i);
  ASSERT_EQ(w.FromClient(3, csbk), Verdict::kConsumed);
  const auto to1 = BytesTo(w.TakeSent(), SystemRef::Client(1));
  ASSERT_EQ(to1.size(), 1u);
  // TG rewritten in the header fields, the burst itself untouched (FreeDMR quirk not copied).
  EXPECT_EQ(Hex(to1[0]), Hex(w.ExpectedHbp(csbk, 1, kTs2, 3100, /*rewrite_lc=*/false)));
}

TEST(GroupCall, CrossSlotMemberGetsTheSlotBitFlipped) {
  World w = ThreeOn91();
  w.clients[1].statics = {{kTs1, 91}};
  w.Publish();
  const Frame f = Call(3120101, 91, 3120001, 0x3005, kTs2, 0)[0];
  w.FromClient(0, f);
  const auto to1 = BytesTo(w.TakeSent(), SystemRef::Client(1));
  ASSERT_EQ(to1.size(), 1u);
  EXPECT_EQ(to1[0][15] & 0x80, 0);
  EXPECT_EQ(Hex(to1[0]), Hex(w.ExpectedHbp(f, 1, kTs1, 91, false)));
}

// ---------------------------------------------------------------------------------------------
// OpenBridge and FBP (PROTOCOL.md §2, §3.7)

route::PeerSpec Peer(std::string name, uint32_t network_id, uint8_t last, uint8_t version) {
  route::PeerSpec p;
  p.name = std::move(name);
  p.network_id = network_id;
  p.target = Addr(last, 62035);
  p.version = version;
  p.relay = version > 1;
  p.passphrase = "mypass";
  return p;
}

World Meshed(unsigned nshards = 1) {
  World w(nshards);
  w.policy.server_id = 310999;
  w.clients = {{3120001, Addr(1, 50001), 3, {{kTs2, 3100}}},
               {3120002, Addr(2, 50002), 3, {{kTs2, 3100}}}};
  w.peers = {Peer("bm", 2341, 101, 1), Peer("fdmr-a", 234101, 102, 5),
             Peer("fdmr-b", 234102, 103, 5)};
  w.Publish();
  return w;
}

TEST(OpenBridge, LocalCallGoesToEveryPeerInItsOwnFormatByteForByte) {
  World w = Meshed();
  const auto call = Call(3120101, 3100, 3120001, 0x4001, kTs2, 7);
  for (const Frame& f : call) {
    ASSERT_EQ(w.FromClient(0, f), Verdict::kConsumed);
    const auto sent = w.TakeSent();
    const auto obp = BytesTo(sent, SystemRef::Peer(0));
    const auto a = BytesTo(sent, SystemRef::Peer(1));
    const auto b = BytesTo(sent, SystemRef::Peer(2));
    ASSERT_EQ(obp.size(), 1u);
    ASSERT_EQ(a.size(), 1u);
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(Hex(obp[0]), Hex(w.ExpectedObpV1(f, 0, 3100)));
    EXPECT_EQ(Hex(a[0]), Hex(w.ExpectedDmre(f, 1, 3100, 310999, 3120001, 1, w.now())));
    EXPECT_EQ(Hex(b[0]), Hex(w.ExpectedDmre(f, 2, 3100, 310999, 3120001, 1, w.now())));
    w.Advance(60 * kMs);
  }
}

TEST(OpenBridge, Hblink3IdModeWritesTheNetworkId) {
  World w = Meshed();
  w.peers[0].id_mode = route::PeerIdMode::kHblink3;
  w.Publish();
  const Frame f = Call(3120101, 3100, 3120001, 0x4002, kTs2, 0)[0];
  w.FromClient(0, f);
  const auto obp = BytesTo(w.TakeSent(), SystemRef::Peer(0));
  ASSERT_EQ(obp.size(), 1u);
  EXPECT_EQ(proto::LoadBe32(&obp[0][11]), 2341u);
  EXPECT_EQ(Hex(obp[0]), Hex(w.ExpectedObpV1(f, 0, 3100)));
}

TEST(OpenBridge, LocalOnlyTgsAreNotBridged) {
  World w = Meshed();
  w.clients[1].statics = {{kTs2, 79}, {kTs2, 9990}};
  w.clients[0].statics = {{kTs2, 79}, {kTs2, 9990}};
  w.Publish();
  w.FromClient(0, Call(3120101, 79, 3120001, 0x4003, kTs2, 0)[0]);
  w.FromClient(0, Call(3120101, 9990, 3120001, 0x4004, kTs2, 0)[0]);
  for (const Sent& s : w.TakeSent()) EXPECT_TRUE(s.to.is_client());
}

TEST(OpenBridge, ClassicObpIngressReachesClientsAndTheFbpMesh) {
  World w = Meshed();
  const auto call = Call(2345678, 3100, 0, 0x4010, kTs1, 3);
  for (const Frame& f : call) {
    ASSERT_EQ(w.FromPeer(0, w.ObpV1From(0, f)), Verdict::kConsumed);
    const auto sent = w.TakeSent();
    // Both clients (TS2 statics) and both FBP peers, which relay; never back to the source.
    ASSERT_EQ(sent.size(), 4u);
    Frame as_received = f;
    as_received.length = 53;
    EXPECT_EQ(Hex(sent[0].bytes), Hex(w.ExpectedHbp(as_received, 0, kTs2, 3100, false)));
    EXPECT_EQ(Hex(sent[1].bytes), Hex(w.ExpectedHbp(as_received, 1, kTs2, 3100, false)));
    // Origin server = the OBP peer's network ID, no origin repeater, first FBP hop.
    EXPECT_EQ(Hex(sent[2].bytes), Hex(w.ExpectedDmre(as_received, 1, 3100, 2341, 0, 1, w.now())));
    EXPECT_EQ(Hex(sent[3].bytes), Hex(w.ExpectedDmre(as_received, 2, 3100, 2341, 0, 1, w.now())));
    w.Advance(60 * kMs);
  }
}

TEST(OpenBridge, FbpTrafficIsNotRelayedToClassicObp) {
  World w = Meshed();
  w.FromPeer(1, w.DmreFrom(1, Call(2345678, 3100, 0, 0x4015, kTs1, 0)[0], 234101, 0, 1, w.now()));
  const auto sent = w.TakeSent();
  EXPECT_TRUE(BytesTo(sent, SystemRef::Peer(0)).empty());  // no hop count, no quench: no relay
  EXPECT_EQ(BytesTo(sent, SystemRef::Peer(2)).size(), 1u);
}

TEST(OpenBridge, ClassicObpIngressChecks) {
  World w = Meshed();
  // Bad MAC.
  auto pkt = w.ObpV1From(0, Call(2345678, 3100, 0, 0x4011, kTs1, 0)[0]);
  pkt[30] ^= 1;
  EXPECT_EQ(w.FromPeer(0, pkt), Verdict::kDropped);
  EXPECT_EQ(w.TotalRejects(proto::Reject::kBadMac), 1u);
  // TS2 is not carried on classic OBP.
  EXPECT_EQ(w.FromPeer(0, w.ObpV1From(0, Call(2345678, 3100, 0, 0x4012, kTs2, 0)[0])),
            Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kPeerScope), 1u);
  // Local-only TGs.
  for (uint32_t tg : {79u, 150u, 9990u, 900999u}) {
    EXPECT_EQ(w.FromPeer(0, w.ObpV1From(0, Call(2345678, tg, 0, 0x4100 + tg, kTs1, 0)[0])),
              Verdict::kDropped);
  }
  EXPECT_EQ(w.TotalDrops(DropReason::kPeerScope), 5u);
  // FreeDMR id mode: bytes 11..14 must be the peer's network ID.
  Frame f = Call(2345678, 3100, 0, 0x4013, kTs1, 0)[0];
  auto wrong = w.ObpV1From(0, f);
  proto::StoreBe32(&wrong[11], 9999);
  proto::HmacSha1 h(proto::ObpKeyFromPassphrase("mypass"));
  h.Sign(proto::ByteSpan(wrong.data(), 53), &wrong[53]);
  EXPECT_EQ(w.FromPeer(0, wrong), Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kPeerNetworkId), 1u);
  // Strict address check when relax_checks is off.
  w.peers[0].relax_checks = false;
  w.Publish();
  const Endpoint elsewhere = Addr(200, 62035);
  EXPECT_EQ(w.FromPeer(0, w.ObpV1From(0, Call(2345678, 3100, 0, 0x4014, kTs1, 0)[0]), &elsewhere),
            Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kPeerAddress), 1u);
  EXPECT_TRUE(w.TakeSent().empty());
}

TEST(Fbp, RelayedToOtherFbpPeersWithHopsPlusOneOriginPreserved) {
  World w = Meshed();
  const TimeNs sent_at = w.now() - 20 * kMs;
  const auto call = Call(2345678, 3100, 0, 0x5001, kTs1, 3);
  for (const Frame& f : call) {
    ASSERT_EQ(w.FromPeer(1, w.DmreFrom(1, f, 234101, 2340001, 2, sent_at)), Verdict::kConsumed);
    const auto sent = w.TakeSent();
    EXPECT_TRUE(BytesTo(sent, SystemRef::Peer(0)).empty());  // classic OBP: local traffic only
    EXPECT_TRUE(BytesTo(sent, SystemRef::Peer(1)).empty());  // never back to the source
    const auto b = BytesTo(sent, SystemRef::Peer(2));
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(Hex(b[0]), Hex(w.ExpectedDmre(f, 2, 3100, 234101, 2340001, 3, w.now())));
    // What a client gets from a DMRE is an HBP DMRD: tag included (a DMRE tag would make every
    // client drop it), 55 bytes.
    const auto c = BytesTo(sent, SystemRef::Client(0));
    ASSERT_EQ(c.size(), 1u);
    ASSERT_EQ(c[0].size(), 55u);
    EXPECT_EQ(std::string(c[0].begin(), c[0].begin() + 4), "DMRD");
    w.Advance(60 * kMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Time: every timer runs on the monotonic clock; the wall clock only stamps and ages DMRE.

constexpr int64_t kHour = 3600 * static_cast<int64_t>(kSec);
constexpr int64_t kNinetyDays = 90 * 24 * kHour;

TEST(WallClockStep, LocalCallsAndTheirTimersIgnoreStepsOfAnySize) {
  for (const int64_t step : {kHour, -kHour, kNinetyDays, -kNinetyDays}) {
    World w = ThreeOn91();
    const auto call = Call(3120101, 91, 3120001, 0x7001, kTs2, 30);
    size_t delivered = 0;
    for (size_t i = 0; i < call.size(); ++i) {
      if (i == 10) w.StepWallClock(step);
      ASSERT_EQ(w.FromClient(0, call[i]), Verdict::kConsumed) << "frame " << i << " step " << step;
      delivered += w.TakeSent().size();
      w.Advance(60 * kMs);
    }
    EXPECT_EQ(delivered, 2 * call.size()) << "both other members get every frame";
    bool ended = false;
    for (const Event& e : w.TakeEvents()) {
      EXPECT_NE(e.type, EventType::kStreamLost) << Describe(e);
      ended |= e.type == EventType::kStreamEnded;
    }
    EXPECT_TRUE(ended);
  }
}

TEST(WallClockStep, FbpTimestampsFollowTheWallClockAndAStepOnBothEndsIsAccepted) {
  for (const int64_t step : {kHour, -kHour, kNinetyDays}) {
    World w = Meshed();
    const auto out = Call(3120101, 3100, 3120001, 0x7101, kTs2, 10);
    const auto in = Call(2345678, 3100, 0, 0x7102, kTs1, 10);
    for (size_t i = 0; i < out.size(); ++i) {
      // Both ends are NTP-synchronised: the peer's clock steps with ours.
      if (i == 4) w.StepWallClock(step);
      ASSERT_EQ(w.FromClient(0, out[i]), Verdict::kConsumed);
      const auto egress = BytesTo(w.TakeSent(), SystemRef::Peer(1));
      ASSERT_EQ(egress.size(), 1u);
      EXPECT_EQ(Hex(egress[0]), Hex(w.ExpectedDmre(out[i], 1, 3100, 310999, 3120001, 1, w.wall())))
          << "DMRE carries the stepped wall clock, frame " << i << " step " << step;
      ASSERT_EQ(w.FromPeer(1, w.DmreFrom(1, in[i], 234101, 0, 1, w.wall() - 20 * kMs)),
                Verdict::kConsumed)
          << "frame " << i << " step " << step;
      w.TakeSent();
      w.Advance(60 * kMs);
    }
    for (const Event& e : w.TakeEvents()) EXPECT_NE(e.type, EventType::kStreamLost) << Describe(e);
  }
}

TEST(WallClockStep, DmreAgeIsMeasuredAgainstTheWallClock) {
  World w = Meshed();
  w.StepWallClock(kNinetyDays);
  // A peer whose clock did not step is 90 days behind: its DMRE is stale (dropped, quenched).
  EXPECT_EQ(w.FromPeer(1, w.DmreFrom(1, Call(2345678, 3100, 0, 0x7201, kTs1, 0)[0], 234101, 0, 1,
                                     w.now())),
            Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(route::DropReason::kFbpStale), 1u);
  // One within fbp_max_age of our wall clock is fresh.
  EXPECT_EQ(w.FromPeer(1, w.DmreFrom(1, Call(2345678, 3100, 0, 0x7202, kTs1, 0)[0], 234101, 0, 1,
                                     w.wall() - kSec)),
            Verdict::kConsumed);
}

TEST(Fbp, FirstSourceWinsFromTheFirstPacketAndTheOtherGetsOneBcsq) {
  World w = Meshed();
  const auto call = Call(2345678, 3100, 0, 0x5002, kTs1, 4);
  for (const Frame& f : call) {
    ASSERT_EQ(w.FromPeer(1, w.DmreFrom(1, f, 234199, 0, 1, w.now())), Verdict::kConsumed);
    // The same stream via the other FBP peer, a few ms later: never forwarded, not even once.
    ASSERT_EQ(w.FromPeer(2, w.DmreFrom(2, f, 234199, 0, 2, w.now())), Verdict::kDropped);
    w.Advance(60 * kMs);
  }
  const auto sent = w.TakeSent();
  EXPECT_EQ(BytesTo(sent, SystemRef::Client(0)).size(), call.size());  // exactly one copy each
  EXPECT_EQ(BytesTo(sent, SystemRef::Client(1)).size(), call.size());
  std::vector<std::vector<uint8_t>> bcsq;
  for (const Sent& s : sent) {
    if (s.bytes.size() == 31) bcsq.push_back(s.bytes);
  }
  ASSERT_EQ(bcsq.size(), 1u);
  std::vector<uint8_t> want = {'B', 'C', 'S', 'Q', 0x00, 0x0C, 0x1C, 0x00, 0x00, 0x50, 0x02};
  proto::HmacSha1 h(proto::ObpKeyFromPassphrase("mypass"));
  want.resize(31);
  h.Sign(proto::ByteSpan(want.data(), 11), &want[11]);
  EXPECT_EQ(Hex(bcsq[0]), Hex(want));
  EXPECT_EQ(w.TotalDrops(DropReason::kLoopDuplicate), call.size());
  bool quench_event = false;
  for (const Event& e : w.TakeEvents()) {
    if (e.type == EventType::kSourceQuenchSent) {
      quench_event = true;
      EXPECT_EQ(e.source, SystemRef::Peer(2));
      EXPECT_EQ(e.stream_id, 0x5002u);
    }
  }
  EXPECT_TRUE(quench_event);
}

TEST(Fbp, OurOwnStreamComingBackIsDroppedAndQuenched) {
  World w = Meshed();
  const auto call = Call(3120101, 3100, 3120001, 0x5003, kTs2, 3);
  w.FromClient(0, call[0]);
  w.TakeSent();
  EXPECT_EQ(w.FromPeer(1, w.DmreFrom(1, call[1], 310999, 3120001, 2, w.now())), Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kLoopDuplicate), 1u);
  const auto sent = w.TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, SystemRef::Peer(1));
  EXPECT_EQ(sent[0].bytes.size(), 31u);  // BCSQ
}

TEST(Fbp, IngressGuardsDropAndQuench) {
  World w = Meshed();
  struct Case {
    const char* what;
    uint32_t tg;
    uint32_t origin;
    uint8_t hops;
    TimeNs age;
    DropReason want;
  } cases[] = {
      {"stale", 3100, 234101, 1, 6 * kSec, DropReason::kFbpStale},
      {"server id 3 digits", 3100, 234, 1, 0, DropReason::kFbpServerId},
      {"server id 8 digits", 3100, 23410199, 1, 0, DropReason::kFbpServerId},
      {"hops", 3100, 234101, 10, 0, DropReason::kFbpHops},
      {"tg <= 79", 79, 234101, 1, 0, DropReason::kPeerScope},
      {"echo range", 9990, 234101, 1, 0, DropReason::kPeerScope},
      {"92..199 from another country", 150, 234101, 1, 0, DropReason::kPeerScope},
      {"80..89 from another MCC", 85, 234101, 1, 0, DropReason::kPeerScope},
  };
  uint32_t stream = 0x6000;
  for (const Case& c : cases) {
    const Frame f = Call(2345678, c.tg, 0, ++stream, kTs1, 0)[0];
    const uint64_t before = w.TotalDrops(c.want);
    EXPECT_EQ(w.FromPeer(1, w.DmreFrom(1, f, c.origin, 0, c.hops, w.now() - c.age)),
              Verdict::kDropped)
        << c.what;
    EXPECT_EQ(w.TotalDrops(c.want), before + 1) << c.what;
    const auto sent = w.TakeSent();
    ASSERT_EQ(sent.size(), 1u) << c.what;
    EXPECT_EQ(sent[0].bytes.size(), 31u) << c.what;  // BCSQ
  }
  EXPECT_EQ(w.TotalDrops(DropReason::kPeerScope), 4u);
  // Same-country and same-MCC local ranges are accepted.
  w.policy.server_id = 234199;
  w.clients[0].statics = {{kTs2, 150}, {kTs2, 85}};
  w.Publish();
  EXPECT_EQ(w.FromPeer(
                1, w.DmreFrom(1, Call(2345678, 150, 0, 0x6100, kTs1, 0)[0], 234101, 0, 1, w.now())),
            Verdict::kConsumed);
  EXPECT_EQ(
      w.FromPeer(1, w.DmreFrom(1, Call(2345678, 85, 0, 0x6101, kTs1, 0)[0], 234501, 0, 1, w.now())),
      Verdict::kConsumed);
}

// FreeDMR answers every drop after the network-ID check with BCSQ, ACLs included (PROTOCOL.md
// §2.2): otherwise the peer keeps sending the whole refused stream. One BCSQ per stream, naming
// its TG and stream ID, however many of its frames arrive.
TEST(Fbp, EveryRefusalAfterTheNetworkIdAnswersOneBcsqPerStream) {
  struct Case {
    const char* what;
    std::function<void(World&)> setup;
    uint32_t rf_src;
    uint32_t tg;
    DropReason want;
  };
  const Case cases[] = {
      {"global SUB_ACL", [](World&) {}, 1, 3100, DropReason::kSubAcl},
      {"global TS1 TG ACL",
       [](World& w) { w.policy.tg_acl[kTs1] = *route::Acl::Parse("DENY:3100"); }, 2345678, 3100,
       DropReason::kTgAcl},
      {"peer SUB_ACL",
       [](World& w) {
         w.peers[1].use_acl = true;
         w.peers[1].sub_acl = *route::Acl::Parse("DENY:2345678");
         w.peers[1].tg_acl = route::Acl::PermitAll();
       },
       2345678, 3100, DropReason::kSubAcl},
      {"peer TGID_ACL",
       [](World& w) {
         w.peers[1].use_acl = true;
         w.peers[1].sub_acl = route::Acl::PermitAll();
         w.peers[1].tg_acl = *route::Acl::Parse("PERMIT:91");
       },
       2345678, 3100, DropReason::kTgAcl},
      {"draining", [](World& w) { w.shard(0).SetAdmitting(false); }, 2345678, 3100,
       DropReason::kDraining},
  };
  uint32_t stream = 0x6A00;
  for (const Case& c : cases) {
    World w = Meshed();
    c.setup(w);
    w.Publish();
    const auto call = Call(c.rf_src, c.tg, 0, ++stream, kTs1, 2);
    for (const Frame& f : call) {
      EXPECT_EQ(w.FromPeer(1, w.DmreFrom(1, f, 234101, 0, 1, w.now())), Verdict::kDropped)
          << c.what;
      w.Advance(60 * kMs);
    }
    EXPECT_EQ(w.TotalDrops(c.want), call.size()) << c.what;
    const auto sent = w.TakeSent();
    ASSERT_EQ(sent.size(), 1u) << c.what << ": one BCSQ and nothing else";
    EXPECT_EQ(sent[0].to, SystemRef::Peer(1)) << c.what;
    proto::Bcsq q;
    ASSERT_EQ(proto::DecodeBcsq(sent[0].bytes,
                                proto::HmacSha1(proto::ObpKeyFromPassphrase("mypass")), &q),
              proto::Reject::kOk)
        << c.what;
    EXPECT_EQ(q.tg, c.tg) << c.what;
    EXPECT_EQ(q.stream_id, stream) << c.what;
    const auto ev = w.TakeEvents();
    ASSERT_EQ(ev.size(), 1u) << c.what;
    EXPECT_EQ(ev[0].type, EventType::kSourceQuenchSent) << c.what;
  }
}

TEST(Fbp, NoBcsqForAWrongNetworkIdOrForAClassicObpPeer) {
  World w = Meshed();
  w.policy.sub_acl = *route::Acl::Parse("DENY:2345678");
  w.Publish();
  // Bytes 11..14 that are not the peer's network ID: not the peer's packet, no answer.
  w.peers[1].network_id = 234199;  // what DmreFrom writes; the snapshot still says 234101
  EXPECT_EQ(w.FromPeer(1, w.DmreFrom(1, Call(2345678, 3100, 0, 0x6B01, kTs1, 0)[0], 234101, 0, 1,
                                     w.now())),
            Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kPeerNetworkId), 1u);
  // Classic OBP has no source quench.
  EXPECT_EQ(w.FromPeer(0, w.ObpV1From(0, Call(2345678, 3100, 0, 0x6B02, kTs1, 0)[0])),
            Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kSubAcl), 1u);
  EXPECT_TRUE(w.TakeSent().empty());
}

TEST(Fbp, AStreamCutAtItsMaximumAgeIsQuenchedOnce) {
  World w = Meshed();
  w.policy.max_stream_age = 1 * kSec;
  w.Publish();
  const auto call = Call(2345678, 3100, 0, 0x6C01, kTs1, 30);  // 32 frames, 1.9 s
  size_t bcsq = 0, delivered = 0;
  for (const Frame& f : call) {
    w.FromPeer(1, w.DmreFrom(1, f, 234101, 0, 1, w.now()));
    for (const Sent& s : w.TakeSent()) {
      if (s.to == SystemRef::Peer(1) && s.bytes.size() == 31) ++bcsq;
      if (s.to == SystemRef::Client(0)) ++delivered;
    }
    w.Advance(60 * kMs);
  }
  EXPECT_EQ(bcsq, 1u);
  EXPECT_EQ(delivered, 17u);  // frames within the first second (0 .. 960 ms)
  EXPECT_EQ(w.TotalDrops(DropReason::kMaxStreamAge), call.size() - 17);
}

TEST(Fbp, TableFullAnswersBcsq) {
  World w(1, /*stream_capacity=*/1);
  w.policy.server_id = 310999;
  w.clients = {{3120001, Addr(1, 50001), 3, {{kTs2, 3100}}}};
  w.peers = {Peer("bm", 2341, 101, 1), Peer("fdmr-a", 234101, 102, 5)};
  w.Publish();
  // One live stream fills the table; a second one from the FBP peer is refused and quenched.
  ASSERT_EQ(w.FromClient(0, Call(3120101, 3100, 3120001, 0x6D01, kTs2, 2)[0]), Verdict::kConsumed);
  w.TakeSent();
  EXPECT_EQ(w.FromPeer(1, w.DmreFrom(1, Call(2345678, 3100, 0, 0x6D02, kTs1, 0)[0], 234101, 0, 1,
                                     w.now())),
            Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kTableFull), 1u);
  const auto sent = w.TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].bytes.size(), 31u);
}

TEST(Fbp, BcsqStopsThatStreamToThatPeerOnly) {
  World w = Meshed();
  const auto call = Call(3120101, 3100, 3120001, 0x5004, kTs2, 4);
  w.FromClient(0, call[0]);
  w.TakeSent();
  std::vector<uint8_t> bcsq(31);
  proto::HmacSha1 h(proto::ObpKeyFromPassphrase("mypass"));
  proto::EncodeBcsq(proto::Bcsq{3100, 0x5004}, h, bcsq);
  EXPECT_EQ(w.FromPeer(1, bcsq), Verdict::kConsumed);
  w.Advance(60 * kMs);
  w.FromClient(0, call[1]);
  const auto sent = w.TakeSent();
  EXPECT_TRUE(BytesTo(sent, SystemRef::Peer(1)).empty());
  EXPECT_EQ(BytesTo(sent, SystemRef::Peer(2)).size(), 1u);
  EXPECT_EQ(BytesTo(sent, SystemRef::Peer(0)).size(), 1u);
  EXPECT_EQ(w.shard(0).counters().quench_skips, 1u);
}

TEST(Fbp, VersionMismatchesAreRefused) {
  World w = Meshed();
  // Plain DMRD to an FBP peer's listener: the control plane answers with BCVE.
  EXPECT_EQ(w.FromPeer(1, w.ObpV1From(1, Call(2345678, 3100, 0, 0x5005, kTs1, 0)[0])),
            Verdict::kToControl);
  // DMRE on a classic OBP listener.
  EXPECT_EQ(w.FromPeer(0, w.DmreFrom(0, Call(2345678, 3100, 0, 0x5006, kTs1, 0)[0], 234101, 0, 1,
                                     w.now())),
            Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kPeerVersion), 2u);
}

TEST(Fbp, DeadPeerIsSkipped) {
  World w = Meshed();
  w.peers[2].alive = false;
  w.Publish();
  w.FromClient(0, Call(3120101, 3100, 3120001, 0x5007, kTs2, 0)[0]);
  EXPECT_TRUE(BytesTo(w.TakeSent(), SystemRef::Peer(2)).empty());
}

TEST(Fbp, PeerTgAclFiltersEgress) {
  World w = Meshed();
  w.peers[1].use_acl = true;
  w.peers[1].tg_acl = *route::Acl::Parse("PERMIT:91");
  w.Publish();
  w.FromClient(0, Call(3120101, 3100, 3120001, 0x5008, kTs2, 0)[0]);
  const auto sent = w.TakeSent();
  EXPECT_TRUE(BytesTo(sent, SystemRef::Peer(1)).empty());
  EXPECT_EQ(BytesTo(sent, SystemRef::Peer(2)).size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Unit data (PROTOCOL.md §3.8)

// ---------------------------------------------------------------------------------------------
// Private calls (PROTOCOL.md Part A §9): to where the subscriber was last heard.

std::vector<Event> OfType(const std::vector<Event>& events, EventType t) {
  std::vector<Event> out;
  for (const Event& e : events) {
    if (e.type == t) out.push_back(e);
  }
  return out;
}

TEST(PrivateCall, LocalToLocalGoesToTheSlotTheTargetWasHeardOnOnlyByteForByte) {
  World w = Meshed();
  w.subscriber_locations.push_back({3120222, {1, kTs1}});  // heard on client 1, TS1
  w.Publish();
  const auto call = Call(3120111, 3120222, 3120001, 0x7101, kTs2, 8, /*private_call=*/true);
  for (const Frame& f : call) {
    ASSERT_EQ(w.FromClient(0, f), Verdict::kConsumed);
    const auto sent = w.TakeSent();
    ASSERT_EQ(sent.size(), 1u) << "the target's client only: no peer, no other client";
    EXPECT_EQ(sent[0].to, SystemRef::Client(1));
    // 55 bytes, the target's slot, bytes 11..14 = its hotspot's ID, dst and LC untouched.
    EXPECT_EQ(Hex(sent[0].bytes), Hex(w.ExpectedHbp(f, 1, kTs1, 3120222, false)));
    w.Advance(60 * kMs);
  }
  const auto ev = w.TakeEvents();
  EXPECT_TRUE(OfType(ev, EventType::kSubscriptionRequest).empty()) << "not a command";
  const auto started = OfType(ev, EventType::kStreamStarted);
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].call_type, 1u);
  EXPECT_EQ(started[0].dst, 3120222u);
  EXPECT_EQ(started[0].rf_src, 3120111u);
  ASSERT_EQ(OfType(ev, EventType::kStreamEnded).size(), 1u);
}

TEST(PrivateCall, TheTargetsSlotContendsAsForGroupCalls) {
  World w = Meshed();
  w.clients[1].statics = {{kTs1, 3200}};
  w.clients.push_back({3120003, Addr(3, 50003), 3, {{kTs1, 3200}}});
  w.subscriber_locations.push_back({3120222, {1, kTs1}});
  w.Publish();
  // Client 2 talks on TG 3200: client 1's TS1 is busy with it.
  const auto group = Call(3120333, 3200, 3120003, 0x7111, kTs1, 20);
  w.FromClient(2, group[0]);
  ASSERT_EQ(BytesTo(w.TakeSent(), SystemRef::Client(1)).size(), 1u);
  w.Advance(60 * kMs);
  const auto priv = Call(3120111, 3120222, 3120001, 0x7112, kTs2, 2, /*private_call=*/true);
  w.FromClient(0, priv[0]);
  EXPECT_TRUE(BytesTo(w.TakeSent(), SystemRef::Client(1)).empty()) << "slot busy";
  EXPECT_GT(w.shard(0).counters().contention_skips, 0u);
  // The group call ends; within the hang time the private call (another "TG") still waits.
  for (size_t i = 1; i < group.size(); ++i) w.FromClient(2, group[i]);
  w.TakeSent();
  w.Advance(1 * kSec);
  w.PlayCall(0, Call(3120111, 3120222, 3120001, 0x7113, kTs2, 2, true));
  EXPECT_TRUE(BytesTo(w.TakeSent(), SystemRef::Client(1)).empty()) << "hang time";
  // After it, the private call gets through from its header.
  w.Advance(5 * kSec);
  const auto later = Call(3120111, 3120222, 3120001, 0x7114, kTs2, 2, true);
  w.PlayCall(0, later);
  const auto to1 = BytesTo(w.TakeSent(), SystemRef::Client(1));
  ASSERT_EQ(to1.size(), later.size());
  EXPECT_EQ(Hex(to1[0]), Hex(w.ExpectedHbp(later[0], 1, kTs1, 3120222, false)));
}

// A conversation is one "talkgroup" for the contention rules: the answer waits the collision
// window, as the next over on a TG does, not the hang time of another TG.
TEST(PrivateCall, TheAnswerWaitsTheCollisionWindowNotTheHangTime) {
  World w = Meshed();
  w.subscriber_locations = {{3120111, {0, kTs2}}, {3120222, {1, kTs1}}};
  w.Publish();
  w.PlayCall(0, Call(3120111, 3120222, 3120001, 0x7191, kTs2, 2, true));
  EXPECT_EQ(BytesTo(w.TakeSent(), SystemRef::Client(1)).size(), 4u);
  // B answers 100 ms after A's terminator: A's slot ended < 360 ms ago with another talker.
  w.Advance(40 * kMs);
  const auto answer = Call(3120222, 3120111, 3120002, 0x7192, kTs1, 8, true);
  w.FromClient(1, answer[0]);
  EXPECT_TRUE(BytesTo(w.TakeSent(), SystemRef::Client(0)).empty());
  w.TakeSent();
  // Well within the 5 s hang time, 400 ms after A's over, the answer is heard.
  w.Advance(300 * kMs);
  w.FromClient(1, answer[1]);
  const auto to0 = BytesTo(w.TakeSent(), SystemRef::Client(0));
  ASSERT_EQ(to0.size(), 1u);
  EXPECT_EQ(Hex(to0[0]), Hex(w.ExpectedHbp(answer[1], 0, kTs2, 3120111, false)));
}

TEST(PrivateCall, LocalToPeerGoesToThatPeerOnlyFbpKeepsTheSlotClassicObpIsTs1) {
  World w = Meshed();
  w.peer_locations = {{2345601, 1}, {2345602, 0}};  // heard from fdmr-a, from bm
  w.Publish();
  const auto to_fbp = Call(3120111, 2345601, 3120001, 0x7121, kTs2, 2, true);
  for (const Frame& f : to_fbp) {
    ASSERT_EQ(w.FromClient(0, f), Verdict::kConsumed);
    const auto sent = w.TakeSent();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].to, SystemRef::Peer(1));
    EXPECT_EQ(Hex(sent[0].bytes), Hex(w.ExpectedDmre(f, 1, 2345601, 310999, 3120001, 1, w.now(),
                                                     /*keep_slot=*/true)));
    w.Advance(60 * kMs);
  }
  w.Advance(1 * kSec);
  const auto to_obp = Call(3120111, 2345602, 3120001, 0x7122, kTs2, 2, true);
  for (const Frame& f : to_obp) {
    ASSERT_EQ(w.FromClient(0, f), Verdict::kConsumed);
    const auto sent = w.TakeSent();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].to, SystemRef::Peer(0));
    EXPECT_EQ(Hex(sent[0].bytes), Hex(w.ExpectedObpV1(f, 0, 2345602)));  // TS1, 73 bytes
    w.Advance(60 * kMs);
  }
}

TEST(PrivateCall, FromAPeerToALocalSubscriber) {
  World w = Meshed();
  w.subscriber_locations.push_back({3120222, {1, kTs2}});
  w.Publish();
  // BrandMeister (classic OBP) and a FreeDMR peer both deliver private calls.
  const auto from_bm = Call(2345678, 3120222, 0, 0x7131, kTs1, 2, true);
  for (const Frame& f : from_bm) {
    ASSERT_EQ(w.FromPeer(0, w.ObpV1From(0, f)), Verdict::kConsumed);
    const auto sent = w.TakeSent();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].to, SystemRef::Client(1));
    Frame as_sent = f;
    as_sent.length = 53;  // classic OBP carries no BER/RSSI: appended as 0
    EXPECT_EQ(Hex(sent[0].bytes), Hex(w.ExpectedHbp(as_sent, 1, kTs2, 3120222, false)));
    w.Advance(60 * kMs);
  }
  w.Advance(6 * kSec);  // another conversation: past the hang time
  const auto from_fbp = Call(2345679, 3120222, 0, 0x7132, kTs2, 2, true);
  for (const Frame& f : from_fbp) {
    ASSERT_EQ(w.FromPeer(1, w.DmreFrom(1, f, 234101, 0, 1, w.now())), Verdict::kConsumed);
    const auto sent = w.TakeSent();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].to, SystemRef::Client(1));
    EXPECT_EQ(Hex(sent[0].bytes), Hex(w.ExpectedHbp(f, 1, kTs2, 3120222, false)));
    w.Advance(60 * kMs);
  }
  EXPECT_EQ(OfType(w.TakeEvents(), EventType::kStreamStarted).size(), 2u);
}

TEST(PrivateCall, LoopControlBetweenPeers) {
  World w = Meshed();
  w.peer_locations = {{2345601, 1}, {2345602, 2}, {2345603, 0}};
  w.Publish();
  // fdmr-a → subscriber at fdmr-b: relayed (FBP relays), hops + 1, slot kept.
  const Frame f = Call(2345700, 2345602, 0, 0x7141, kTs1, 0, true)[0];
  ASSERT_EQ(w.FromPeer(1, w.DmreFrom(1, f, 234101, 0, 2, w.now())), Verdict::kConsumed);
  auto sent = w.TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, SystemRef::Peer(2));
  EXPECT_EQ(Hex(sent[0].bytes), Hex(w.ExpectedDmre(f, 2, 2345602, 234101, 0, 3, w.now(), true)));
  // fdmr-a → a subscriber heard at fdmr-a: back to the sender is no route; refused with a BCSQ.
  ASSERT_EQ(w.FromPeer(1, w.DmreFrom(1, Call(2345700, 2345601, 0, 0x7142, kTs1, 0, true)[0], 234101,
                                     0, 1, w.now())),
            Verdict::kDropped);
  sent = w.TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, SystemRef::Peer(1));
  EXPECT_EQ(sent[0].bytes.size(), 31u);
  // fdmr-a → a subscriber at bm: classic OBP gets local traffic only.
  ASSERT_EQ(w.FromPeer(1, w.DmreFrom(1, Call(2345700, 2345603, 0, 0x7143, kTs1, 0, true)[0], 234101,
                                     0, 1, w.now())),
            Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kNotRoutable), 2u);
}

TEST(PrivateCall, UnknownTargetIsDroppedCountedAndLinksTheCallerNowhere) {
  World w = Meshed();
  for (unsigned ts : {kTs1, kTs2}) {
    const auto call = Call(3120111, 3129876, 3120001, 0x7150 + ts, ts, 2, true);
    for (const Frame& f : call) {
      EXPECT_EQ(w.FromClient(0, f), Verdict::kDropped);
      w.Advance(60 * kMs);
    }
    EXPECT_EQ(w.TotalDrops(DropReason::kNotRoutable), call.size() * (ts + 1));
  }
  EXPECT_TRUE(w.TakeSent().empty());
  EXPECT_TRUE(w.TakeEvents().empty()) << "no stream, no dial, no subscription request";
}

TEST(PrivateCall, CommandCodesKeepTheirMeaning) {
  World w = Meshed();
  // A 6-digit ID heard somewhere is still a TG to dial on TS2 (subscribers start at 1,000,000).
  w.subscriber_locations.push_back({310123, {1, kTs2}});
  w.Publish();
  w.PlayCall(0, Call(3120111, 310123, 3120001, 0x7161, kTs2, 2, true));
  w.PlayCall(0, Call(3120111, route::kUnlinkId, 3120001, 0x7162, kTs2, 2, true));
  EXPECT_TRUE(w.TakeSent().empty());
  const auto req = OfType(w.TakeEvents(), EventType::kSubscriptionRequest);
  ASSERT_EQ(req.size(), 2u);
  EXPECT_EQ(req[0].action, SubscriptionAction::kDial);
  EXPECT_EQ(req[0].tg, 310123u);
  EXPECT_EQ(req[1].action, SubscriptionAction::kUnlink);
}

TEST(PrivateCall, TheTargetMovingMidCallFollowsTheNewSnapshot) {
  World w = Meshed();
  w.subscriber_locations.push_back({3120222, {1, kTs1}});
  w.Publish();
  const auto call = Call(3120111, 3120222, 3120001, 0x7171, kTs2, 6, true);
  w.FromClient(0, call[0]);
  EXPECT_EQ(BytesTo(w.TakeSent(), SystemRef::Client(1)).size(), 1u);
  w.Advance(60 * kMs);
  // Heard at fdmr-b now.
  w.subscriber_locations.clear();
  w.peer_locations = {{3120222, 2}};
  w.Publish();
  w.FromClient(0, call[1]);
  const auto sent = w.TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, SystemRef::Peer(2));
}

TEST(UnitData, DataForASubscriberHeardAtAPeerGoesToThatPeerOnly) {
  World w = Meshed();
  w.peer_locations = {{2345601, 2}};
  w.Publish();
  Frame f = Call(3120101, 2345601, 3120001, 0x7181, kTs2, 0, /*private_call=*/true)[0];
  f.flags = 0xE6;  // TS2, private, data sync, data header
  ASSERT_EQ(w.FromClient(0, f), Verdict::kConsumed);
  const auto sent = w.TakeSent();
  ASSERT_EQ(sent.size(), 1u) << "no flood to every FBP peer once the target is known";
  EXPECT_EQ(sent[0].to, SystemRef::Peer(2));
  EXPECT_EQ(Hex(sent[0].bytes), Hex(w.ExpectedDmre(f, 2, 2345601, 310999, 3120001, 1, w.now(),
                                                   /*keep_slot=*/true)));
}

TEST(UnitData, DataGoesWhereTheSubscriberWasLastHeard) {
  World w = Meshed();
  w.subscriber_locations.push_back({3120999, {1, kTs1}});
  w.Publish();
  Frame f = Call(3120101, 3120999, 3120001, 0x7001, kTs2, 0, /*private_call=*/true)[0];
  f.flags = 0xE6;  // TS2, private, data sync, data header
  ASSERT_EQ(w.FromClient(0, f), Verdict::kConsumed);
  const auto to1 = BytesTo(w.TakeSent(), SystemRef::Client(1));
  ASSERT_EQ(to1.size(), 1u);
  EXPECT_EQ(Hex(to1[0]), Hex(w.ExpectedHbp(f, 1, kTs1, 3120999, false)));
}

TEST(UnitData, HotspotIdPrefixOnTs2AndFbpPeersForLongIds) {
  World w = Meshed();
  w.clients[1].id = 312000299;  // 9-digit hotspot ID of subscriber 3120002
  w.Publish();
  Frame f = Call(3120101, 3120002, 3120001, 0x7002, kTs2, 0, true)[0];
  f.flags = 0xE7;  // rate-1/2 data
  ASSERT_EQ(w.FromClient(0, f), Verdict::kConsumed);
  const auto sent = w.TakeSent();
  // IDs >= 1,000,000 also go to the FBP peers, never to classic OBP.
  EXPECT_EQ(BytesTo(sent, SystemRef::Client(1)).size(), 1u);
  EXPECT_EQ(BytesTo(sent, SystemRef::Peer(1)).size(), 1u);
  EXPECT_EQ(BytesTo(sent, SystemRef::Peer(2)).size(), 1u);
  EXPECT_TRUE(BytesTo(sent, SystemRef::Peer(0)).empty());
}

TEST(UnitData, PrivateVoiceFromAPeerToAnUnknownSubscriberIsNotRouted) {
  World w = Meshed();
  Frame f = Call(2345678, 3120001, 0, 0x7003, kTs1, 0, true)[0];
  EXPECT_EQ(w.FromPeer(1, w.DmreFrom(1, f, 234101, 0, 1, w.now())), Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kNotRoutable), 1u);
}

// ---------------------------------------------------------------------------------------------
// Parrot (PROTOCOL.md Part A §10): recorded, played back to the caller alone, new stream ID,
// 60 ms cadence, after the terminator.

// What the caller gets back for its frame `f`, built from the wire layout: frame `seq` of stream
// `stream`, bytes 11..14 = its client's ID; a private call comes back from 9990 to the caller,
// with header, terminator and embedded LC saying so.
std::vector<uint8_t> ExpectedEcho(const World& w, const Frame& f, size_t client, uint32_t stream,
                                  uint8_t seq) {
  namespace dmr = proto::dmr;
  Frame g = f;
  g.seq = seq;
  g.stream_id = stream;
  g.repeater_id = w.clients.at(client).id;
  if (f.flags & 0x40) {
    g.rf_src = route::kParrotId;
    g.dst = f.rf_src;
    dmr::Lc lc = dmr::Lc::GroupVoice(f.rf_src, route::kParrotId);
    lc.bytes[0] = 0x03;  // unit to unit
    const unsigned frame_type = (f.flags >> 4) & 3, low = f.flags & 0x0F;
    if (frame_type == 2 && low == 1) {
      dmr::EncodeFullLc(lc, dmr::FullLcKind::kVoiceHeader, g.payload);
    } else if (frame_type == 2 && low == 2) {
      dmr::EncodeFullLc(lc, dmr::FullLcKind::kTerminator, g.payload);
    } else if (frame_type == 0 && low >= 1 && low <= 4) {
      dmr::SetEmbeddedFragment(g.payload, dmr::EncodeEmbeddedLc(lc)[low - 1]);
    }
  }
  return g.Bytes();
}

struct Echo {
  std::vector<std::vector<uint8_t>> frames;
  std::vector<TimeNs> at;
};

// Advances the clock in 10 ms steps for `d`, collecting what each client received and when.
std::vector<Echo> Listen(World& w, TimeNs d) {
  std::vector<Echo> got(w.clients.size());
  for (TimeNs t = 0; t < d; t += 10 * kMs) {
    w.Advance(10 * kMs);
    for (const Sent& s : w.TakeSent()) {
      if (!s.to.is_client()) {
        ADD_FAILURE() << "parrot traffic to a peer";
        continue;
      }
      got.at(s.to.index).frames.push_back(s.bytes);
      got.at(s.to.index).at.push_back(w.now());
    }
  }
  return got;
}

uint32_t StreamIdOf(const std::vector<uint8_t>& b) {
  return (uint32_t{b[16]} << 24) | (uint32_t{b[17]} << 16) | (uint32_t{b[18]} << 8) | b[19];
}

TEST(Parrot, APrivateCallTo9990IsPlayedBackToTheCallerAloneAfterItsTerminator) {
  World w = ThreeOn91();
  const auto call = Call(3120101, route::kParrotId, 3120001, 0x9000, kTs2, 14, true);
  for (const Frame& f : call) {
    ASSERT_EQ(w.FromClient(0, f), Verdict::kConsumed);
    EXPECT_TRUE(w.TakeSent().empty()) << "nothing goes anywhere while recording";
    w.Advance(60 * kMs);
  }
  const TimeNs end = w.now() - 60 * kMs;  // the terminator
  const auto ev = w.TakeEvents();
  ASSERT_EQ(ev.size(), 2u);  // started and ended, no subscription request
  EXPECT_EQ(ev[0].type, EventType::kStreamStarted);
  EXPECT_EQ(ev[0].tg, 0u) << "no conference: subscriptions do not count it as traffic";
  EXPECT_EQ(ev[1].type, EventType::kStreamEnded);

  const std::vector<Echo> got = Listen(w, 3 * kSec);
  for (size_t c = 1; c < got.size(); ++c) EXPECT_TRUE(got[c].frames.empty()) << "client " << c;
  const Echo& echo = got[0];
  ASSERT_EQ(echo.frames.size(), call.size());
  const uint32_t stream = StreamIdOf(echo.frames[0]);
  EXPECT_NE(stream, 0x9000u);
  for (size_t i = 0; i < call.size(); ++i) {
    EXPECT_EQ(Hex(echo.frames[i]),
              Hex(ExpectedEcho(w, call[i], 0, stream, static_cast<uint8_t>(i))))
        << "frame " << i;
    // 1 s after the terminator, then one frame per 60 ms (the harness clock steps by 10 ms).
    EXPECT_EQ(echo.at[i], end + 1 * kSec + 60 * kMs * i) << "frame " << i;
  }
  EXPECT_EQ(w.shard(0).counters().parrot_recorded, 1u);
  EXPECT_EQ(w.shard(0).counters().parrot_played, 1u);
  EXPECT_EQ(w.shard(0).parrot().in_use(), 0u);
  EXPECT_TRUE(w.TakeEvents().empty()) << "the playback is no stream of the hub";
}

TEST(Parrot, FreeDmrsEchoTg9990IsTheParrotTooAndComesBackUnchanged) {
  World w = ThreeOn91();
  const auto call = Call(3120101, route::kParrotId, 3120001, 0x9010, kTs1, 8);
  w.PlayCall(0, call);
  const auto ev = w.TakeEvents();
  for (const Event& e : ev) {
    EXPECT_NE(e.type, EventType::kSubscriptionRequest) << "9990 is not activated as a TG";
  }
  const std::vector<Echo> got = Listen(w, 2 * kSec);
  for (size_t c = 1; c < got.size(); ++c) EXPECT_TRUE(got[c].frames.empty());
  ASSERT_EQ(got[0].frames.size(), call.size());
  const uint32_t stream = StreamIdOf(got[0].frames[0]);
  for (size_t i = 0; i < call.size(); ++i) {
    EXPECT_EQ(Hex(got[0].frames[i]),
              Hex(ExpectedEcho(w, call[i], 0, stream, static_cast<uint8_t>(i))));
  }
}

TEST(Parrot, SixtySecondsAreKeptAndTheTerminatorWithThem) {
  World w = ThreeOn91();
  const auto call = Call(3120101, route::kParrotId, 3120001, 0x9020, kTs2, 1100, true);
  w.PlayCall(0, call);  // 66 s (the max stream age is 180 s)
  const std::vector<Echo> got = Listen(w, 62 * kSec);
  ASSERT_EQ(got[0].frames.size(), 1000u);
  const uint32_t stream = StreamIdOf(got[0].frames[0]);
  for (size_t i = 0; i < 999; ++i) {
    ASSERT_EQ(Hex(got[0].frames[i]),
              Hex(ExpectedEcho(w, call[i], 0, stream, static_cast<uint8_t>(i))));
  }
  EXPECT_EQ(Hex(got[0].frames[999]),
            Hex(ExpectedEcho(w, call.back(), 0, stream, static_cast<uint8_t>(999))));
}

TEST(Parrot, EveryRecordingInUseRefusesTheNextCallOthersStillPlay) {
  World w = ThreeOn91();  // two recordings
  const auto a = Call(3120101, route::kParrotId, 3120001, 0x9031, kTs2, 4, true);
  const auto b = Call(3120102, route::kParrotId, 3120002, 0x9032, kTs2, 4, true);
  const auto c = Call(3120103, route::kParrotId, 3120003, 0x9033, kTs2, 4, true);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(w.FromClient(0, a[i]), Verdict::kConsumed);
    EXPECT_EQ(w.FromClient(1, b[i]), Verdict::kConsumed);
    EXPECT_EQ(w.FromClient(2, c[i]), Verdict::kDropped);
    w.Advance(60 * kMs);
  }
  EXPECT_EQ(w.TotalDrops(DropReason::kParrotBusy), c.size());
  const std::vector<Echo> got = Listen(w, 2 * kSec);
  EXPECT_EQ(got[0].frames.size(), a.size());
  EXPECT_EQ(got[1].frames.size(), b.size());
  EXPECT_TRUE(got[2].frames.empty());
  // Both recordings are free again: the third caller's next try is recorded.
  w.PlayCall(2, Call(3120103, route::kParrotId, 3120003, 0x9034, kTs2, 4, true));
  EXPECT_EQ(Listen(w, 2 * kSec)[2].frames.size(), a.size());
}

TEST(Parrot, ABusySlotDelaysThePlaybackAndTheCallerKeyingUpEndsIt) {
  World w = ThreeOn91();
  w.policy.lease.group_hangtime = 0;  // so that TG 91 reaches client 0 right after its call
  w.Publish();
  w.PlayCall(0, Call(3120101, route::kParrotId, 3120001, 0x9041, kTs2, 20, true));
  // A group call to client 0's TS2 (static TG 91) starts before the playback is due and lasts
  // 2 s: the playback waits for it.
  const auto group = Call(3120102, 91, 3120002, 0x9042, kTs2, 32);
  w.PlayCall(1, group);
  const TimeNs group_end = w.now() - 60 * kMs;
  std::vector<Echo> got = Listen(w, 1 * kSec);
  ASSERT_FALSE(got[0].frames.empty());
  // Client 0 got the group call whole, then the playback from its first frame.
  EXPECT_GT(got[0].at[0], group_end);
  EXPECT_EQ(got[0].frames[0][15] & 0x0F, 1) << "the echo starts with its header";
  EXPECT_NE(StreamIdOf(got[0].frames[0]), 0x9041u);
  // The caller keys up in the middle of its playback: the playback ends there.
  w.FromClient(0, Call(3120101, 91, 3120001, 0x9043, kTs2, 2)[0]);
  w.TakeSent();
  got = Listen(w, 3 * kSec);
  EXPECT_TRUE(got[0].frames.empty());
  EXPECT_EQ(w.shard(0).counters().parrot_dropped, 1u);
  EXPECT_EQ(w.shard(0).parrot().in_use(), 0u);
}

TEST(Parrot, ACallerThatLoggedOutGetsNothing) {
  World w = ThreeOn91();
  w.PlayCall(0, Call(3120101, route::kParrotId, 3120001, 0x9051, kTs2, 4, true));
  // Another hotspot takes the slot before the playback (a logout and a new login).
  w.clients[0].id = 3120009;
  w.Publish();
  const std::vector<Echo> got = Listen(w, 2 * kSec);
  EXPECT_TRUE(got[0].frames.empty());
  EXPECT_EQ(w.shard(0).counters().parrot_dropped, 1u);
}

TEST(Parrot, WithoutRecordingsPrivate9990GoesNowhereAndTg9990IsATalkgroup) {
  World w(1, 256, /*parrot_recordings=*/0);
  w.clients = {{3120001, Addr(1, 50001), 3, {}}, {3120002, Addr(2, 50002), 3, {}}};
  w.Publish();
  EXPECT_EQ(w.FromClient(0, Call(3120101, route::kParrotId, 3120001, 0x9061, kTs2, 2, true)[0]),
            Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kNotRoutable), 1u);
  w.PlayCall(1, Call(3120102, route::kParrotId, 3120002, 0x9062, kTs1, 2));
  const auto ev = w.TakeEvents();
  ASSERT_GE(ev.size(), 2u);
  EXPECT_EQ(ev[1].type, EventType::kSubscriptionRequest);  // a user-activated TG, as FreeDMR
  EXPECT_EQ(ev[1].action, SubscriptionAction::kActivateUa);
}

// ---------------------------------------------------------------------------------------------
// In-band data (PROTOCOL.md Part A §2): talker alias and GPS in bursts B–E, data calls.

// Talker alias header ("DL1ABC", 7-bit, FLCO 4) and GPS (FLCO 8) LCs as radios put them into the
// embedded LC of whole superframes instead of the voice LC.
proto::dmr::Lc TalkerAliasHeaderLc() {
  proto::dmr::Lc lc{};
  lc.bytes = {0x04, 0x00, 0x4C, 0x89, 0x19, 0x05, 0x04, 0x08, 0x70};
  return lc;
}
proto::dmr::Lc GpsLc() {
  proto::dmr::Lc lc{};
  lc.bytes = {0x08, 0x00, 0x03, 0x5A, 0x3C, 0x71, 0x14, 0xB2, 0x9E};
  return lc;
}

// A group call whose superframes carry, in turn, the voice LC, a talker alias and GPS.
std::vector<Frame> CallWithAliasAndGps(uint32_t rf_src, uint32_t dst, uint32_t repeater,
                                       uint32_t stream, unsigned ts, bool private_call = false) {
  std::vector<Frame> call = Call(rf_src, dst, repeater, stream, ts, 18, private_call);
  const auto alias = proto::dmr::EncodeEmbeddedLc(TalkerAliasHeaderLc());
  const auto gps = proto::dmr::EncodeEmbeddedLc(GpsLc());
  for (size_t i = 1; i + 1 < call.size(); ++i) {
    const size_t superframe = (i - 1) / 6, vseq = (i - 1) % 6;
    if (superframe == 0 || vseq < 1 || vseq > 4) continue;
    proto::dmr::SetEmbeddedFragment(call[i].payload, (superframe == 1 ? alias : gps)[vseq - 1]);
  }
  return call;
}

// The embedded LC of superframe `k` (bursts B–E) of what a client received.
proto::dmr::Lc EmbeddedLcOf(const std::vector<std::vector<uint8_t>>& frames, size_t k) {
  proto::dmr::EmbeddedLcFragments frags{};
  for (size_t b = 0; b < 4; ++b) {
    const std::vector<uint8_t>& f = frames.at(1 + 6 * k + 1 + b);
    frags[b] = proto::dmr::GetEmbeddedFragment(
        proto::dmr::ConstBurst(f.data() + proto::dmrd_offset::kPayload, 33));
  }
  proto::dmr::Lc lc{};
  EXPECT_TRUE(proto::dmr::DecodeEmbeddedLc(frags, &lc)) << "superframe " << k;
  return lc;
}

TEST(InBand, TalkerAliasAndGpsReachMembersAndEveryPeerByteForByte) {
  World w = Meshed();
  w.clients.push_back({3120003, Addr(3, 50003), 3, {{kTs1, 3100}}});  // on the other slot
  w.Publish();
  const auto call = CallWithAliasAndGps(3120101, 3100, 3120001, 0x8001, kTs2);
  std::vector<std::vector<uint8_t>> to1;
  for (const Frame& f : call) {
    ASSERT_EQ(w.FromClient(0, f), Verdict::kConsumed);
    const auto sent = w.TakeSent();
    const auto c1 = BytesTo(sent, SystemRef::Client(1));
    const auto c2 = BytesTo(sent, SystemRef::Client(2));
    const auto obp = BytesTo(sent, SystemRef::Peer(0));
    const auto a = BytesTo(sent, SystemRef::Peer(1));
    ASSERT_EQ(c1.size(), 1u);
    ASSERT_EQ(c2.size(), 1u);
    ASSERT_EQ(obp.size(), 1u);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(Hex(c1[0]), Hex(w.ExpectedHbp(f, 1, kTs2, 3100, false)));
    EXPECT_EQ(Hex(c2[0]), Hex(w.ExpectedHbp(f, 2, kTs1, 3100, false)));
    EXPECT_EQ(Hex(obp[0]), Hex(w.ExpectedObpV1(f, 0, 3100)));
    EXPECT_EQ(Hex(a[0]), Hex(w.ExpectedDmre(f, 1, 3100, 310999, 3120001, 1, w.now())));
    // The payload itself, not only as the harness rebuilds it: the caller's 33 bytes.
    EXPECT_TRUE(std::equal(f.payload.begin(), f.payload.end(),
                           c2[0].begin() + proto::dmrd_offset::kPayload));
    to1.push_back(c1[0]);
    w.Advance(60 * kMs);
  }
  EXPECT_EQ(EmbeddedLcOf(to1, 0), proto::dmr::Lc::GroupVoice(3100, 3120101));
  EXPECT_EQ(EmbeddedLcOf(to1, 1), TalkerAliasHeaderLc());
  EXPECT_EQ(EmbeddedLcOf(to1, 2), GpsLc());
}

TEST(InBand, TalkerAliasFromAPeerAndOnPrivateCallsIsKept) {
  World w = Meshed();
  w.subscriber_locations.push_back({3120222, {1, kTs1}});
  w.Publish();
  // From the FBP peer on TG 3100: both clients hear it unchanged.
  for (const Frame& f : CallWithAliasAndGps(2345678, 3100, 0, 0x8002, kTs1)) {
    ASSERT_EQ(w.FromPeer(1, w.DmreFrom(1, f, 234101, 0, 1, w.now())), Verdict::kConsumed);
    const auto c0 = BytesTo(w.TakeSent(), SystemRef::Client(0));
    ASSERT_EQ(c0.size(), 1u);
    EXPECT_EQ(Hex(c0[0]), Hex(w.ExpectedHbp(f, 0, kTs2, 3100, false)));
    w.Advance(60 * kMs);
  }
  w.Advance(6 * kSec);
  // A private call to a subscriber heard on client 1's TS1: alias and GPS arrive as sent.
  for (const Frame& f : CallWithAliasAndGps(3120111, 3120222, 3120001, 0x8003, kTs2, true)) {
    ASSERT_EQ(w.FromClient(0, f), Verdict::kConsumed);
    const auto c1 = BytesTo(w.TakeSent(), SystemRef::Client(1));
    ASSERT_EQ(c1.size(), 1u);
    EXPECT_EQ(Hex(c1[0]), Hex(w.ExpectedHbp(f, 1, kTs1, 3120222, false)));
    w.Advance(60 * kMs);
  }
}

// A data call as radios send it: data header (type 6), then blocks of rate ½ (7) or ¾ (8),
// no terminator; payload bytes as random as the air makes them.
std::vector<Frame> DataCall(uint32_t rf_src, uint32_t dst, uint32_t repeater, uint32_t stream,
                            unsigned ts, bool unit, uint8_t block_type, int blocks) {
  std::vector<Frame> frames;
  uint32_t x = stream;
  for (int i = 0; i <= blocks; ++i) {
    Frame f;
    f.seq = static_cast<uint8_t>(i);
    f.rf_src = rf_src;
    f.dst = dst;
    f.repeater_id = repeater;
    f.stream_id = stream;
    f.flags = static_cast<uint8_t>((ts == kTs2 ? 0x80 : 0) | (unit ? 0x40 : 0) | 0x20 |
                                   (i == 0 ? 0x06 : block_type));
    for (uint8_t& b : f.payload) {
      x = x * 1103515245u + 12345u;
      b = static_cast<uint8_t>(x >> 24);
    }
    f.ber = 2;
    f.rssi = 77;
    frames.push_back(f);
  }
  return frames;
}

TEST(InBand, GroupDataReachesTgSubscribersAndFbpPeersByteForByte) {
  World w = Meshed();
  for (uint8_t type : {uint8_t{0x07}, uint8_t{0x08}}) {
    const auto call = DataCall(3120101, 3100, 3120001, 0x8010 + type, kTs2, false, type, 5);
    for (const Frame& f : call) {
      ASSERT_EQ(w.FromClient(0, f), Verdict::kConsumed);
      const auto sent = w.TakeSent();
      const auto c1 = BytesTo(sent, SystemRef::Client(1));
      const auto a = BytesTo(sent, SystemRef::Peer(1));
      ASSERT_EQ(c1.size(), 1u);
      ASSERT_EQ(a.size(), 1u);
      EXPECT_EQ(Hex(c1[0]), Hex(w.ExpectedHbp(f, 1, kTs2, 3100, false)));
      EXPECT_EQ(Hex(a[0]), Hex(w.ExpectedDmre(f, 1, 3100, 310999, 3120001, 1, w.now())));
      w.Advance(60 * kMs);
    }
    w.Advance(6 * kSec);  // no terminator: the stream ends by silence, the slots free up
    w.TakeSent();
  }
}

TEST(InBand, UnitDataWithEveryBlockRateGoesToTheTargetByteForByte) {
  World w = Meshed();
  w.subscriber_locations.push_back({3120999, {1, kTs1}});
  w.Publish();
  for (uint8_t type : {uint8_t{0x07}, uint8_t{0x08}}) {
    const auto call = DataCall(3120101, 3120999, 3120001, 0x8020 + type, kTs2, true, type, 4);
    for (const Frame& f : call) {
      ASSERT_EQ(w.FromClient(0, f), Verdict::kConsumed);
      const auto sent = w.TakeSent();
      ASSERT_EQ(sent.size(), 1u);
      EXPECT_EQ(sent[0].to, SystemRef::Client(1));
      EXPECT_EQ(Hex(sent[0].bytes), Hex(w.ExpectedHbp(f, 1, kTs1, 3120999, false)));
      w.Advance(60 * kMs);
    }
    w.Advance(6 * kSec);
  }
}

TEST(InBand, MalformedDataNeitherWedgesASlotNorStopsTheNextCall) {
  World w = Meshed();
  // Every data type (including reserved ones) with garbage payloads, streams without header,
  // a header and nothing else, short frames, from clients and from the FBP peer, group and unit.
  uint32_t stream = 0x8100;
  for (unsigned type = 0; type < 16; ++type) {
    for (bool unit : {false, true}) {
      auto call = DataCall(3120101, unit ? 3120002 : 3100, 3120001, ++stream, kTs2, unit,
                           static_cast<uint8_t>(type), 2);
      call.erase(call.begin());  // no header
      for (Frame& f : call) {
        f.flags = static_cast<uint8_t>((f.flags & 0xF0) | type);
        f.length = (type & 1) ? 53 : 55;
        w.FromClient(0, f);
        w.FromPeer(1, w.DmreFrom(1, f, 234101, 0, 1, w.now()));
        w.Advance(20 * kMs);
      }
    }
  }
  w.FromClient(0, DataCall(3120101, 3100, 3120001, ++stream, kTs2, false, 7, 0)[0]);
  w.Advance(10 * kSec);  // every one of them goes quiet, then is lost
  w.TakeSent();
  w.TakeEvents();
  EXPECT_EQ(w.shard(0).live_streams(), 0u);
  // A voice call afterwards is heard whole by the other member and by the peers.
  const auto call = Call(3120102, 3100, 3120002, 0x8200, kTs2, 6);
  w.PlayCall(1, call);
  const auto sent = w.TakeSent();
  EXPECT_EQ(BytesTo(sent, SystemRef::Client(0)).size(), call.size());
  EXPECT_EQ(BytesTo(sent, SystemRef::Peer(1)).size(), call.size());
}

// ---------------------------------------------------------------------------------------------
// Snapshots

TEST(Snapshot, NewGenerationReroutesLiveStreamsAndReleasesDroppedDestinations) {
  World w = ThreeOn91();
  const auto call = Call(3120101, 91, 3120001, 0x8001, kTs2, 10);
  w.FromClient(0, call[0]);
  w.Advance(60 * kMs);
  EXPECT_EQ(w.TakeSent().size(), 2u);
  // Client 2 unsubscribes, client 3 subscribes, mid-call.
  w.clients[2].statics.clear();
  w.clients[3].statics = {{kTs2, 91}};
  w.Publish();
  w.FromClient(0, call[1]);
  const auto sent = w.TakeSent();
  EXPECT_EQ(BytesTo(sent, SystemRef::Client(1)).size(), 1u);
  EXPECT_TRUE(BytesTo(sent, SystemRef::Client(2)).empty());
  EXPECT_EQ(BytesTo(sent, SystemRef::Client(3)).size(), 1u);
  // Client 2's slot was released at the switch: it is ended, not held by the stream.
  EXPECT_TRUE(w.leases().Load(2, kTs2).ended());
}

TEST(Snapshot, NoSnapshotDropsEverything) {
  World w;
  EXPECT_EQ(w.HbpDatagram(Call(3120101, 91, 3120001, 0x8002, kTs2, 0)[0].Bytes(), Addr(1, 50001)),
            Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kNoSnapshot), 1u);
}

// ---------------------------------------------------------------------------------------------
// Several shards sharing one set of slot leases

// A new generation re-resolves only the streams whose route it changes (RouteSnapshot: pieces
// are shared between generations): a login elsewhere does not touch a live call.
TEST(SnapshotSwitch, AnUnrelatedChangeLeavesLiveStreamsAloneARelatedOneReResolves) {
  World w = ThreeOn91(/*nshards=*/2);
  w.clients[3].statics = {{kTs2, 3100}};
  w.Publish();
  const auto call91 = Call(3120101, 91, 3120001, 0x8001, kTs2, 20);
  const auto call3100 = Call(3120104, 3100, 3120004, 0x8002, kTs2, 20);
  size_t i = 0;
  const auto step = [&] {
    w.FromClient(0, call91[i]);
    w.FromClient(3, call3100[i]);
    ++i;
    w.Advance(60 * kMs);
  };
  for (int k = 0; k < 4; ++k) step();
  const uint64_t resolved = w.TotalResolutions();
  EXPECT_EQ(resolved, 2u) << "each stream resolved once, at its start";

  // A client joins a third TG: neither call's conference, the peers or the policy change.
  w.clients.push_back({3120005, Addr(5, 50005), 3, {{kTs2, 92}}});
  w.Publish();
  step();
  EXPECT_EQ(w.TotalResolutions(), resolved) << "an unrelated login re-resolved a live call";

  // Another member for TG 91: that call (only) takes the new route from its next frame.
  w.clients[4].statics.push_back({kTs1, 91});
  w.Publish();
  EXPECT_EQ(w.TotalResolutions(), resolved + 1);
  w.TakeSent();
  step();
  EXPECT_EQ(BytesTo(w.TakeSent(), SystemRef::Client(4)).size(), 1u) << "the new member hears it";
  while (i < call91.size()) step();
  for (const Event& e : w.TakeEvents()) EXPECT_NE(e.type, EventType::kStreamLost) << Describe(e);
}

// A reload that removes a peer renumbers the ones after it (a peer's index in the snapshot is its
// position in the configuration). Live streams follow their peers: a call from a renumbered peer
// carries on, and a quench stays with the peer that sent it.
TEST(SnapshotSwitch, RemovingAPeerRenumbersTheOthersWithoutCuttingTheirStreams) {
  World w = Meshed();
  for (size_t p = 0; p < w.peers.size(); ++p) w.peers[p].listener = 1 + p;  // sockets stay put
  w.Publish();
  // fdmr-b (peer 2) talks on 3100; a client's call goes to every peer and fdmr-b quenches it.
  const auto from_b = Call(2345678, 3100, 0, 0x8101, kTs1, 4);
  const auto from_client = Call(3120101, 3100, 3120001, 0x8102, kTs1, 4);
  w.clients[1].statics = {{kTs1, 3100}};
  w.Publish();
  const auto peer_frame = [&](size_t p, size_t i) {
    return w.DmreFrom(p, from_b[i], 234102, 0, 1, w.now());
  };
  ASSERT_EQ(w.FromPeer(2, peer_frame(2, 0)), Verdict::kConsumed);
  ASSERT_EQ(w.FromClient(0, from_client[0]), Verdict::kConsumed);
  std::vector<uint8_t> bcsq(31);
  proto::HmacSha1 h(proto::ObpKeyFromPassphrase("mypass"));
  proto::EncodeBcsq(proto::Bcsq{3100, 0x8102}, h, bcsq);
  ASSERT_EQ(w.FromPeer(2, bcsq), Verdict::kConsumed);
  w.Advance(60 * kMs);
  w.TakeSent();

  // "bm" (peer 0) goes: fdmr-a becomes peer 0, fdmr-b peer 1, on their own listeners.
  w.peers.erase(w.peers.begin());
  w.Publish();
  EXPECT_EQ(w.FromPeer(1, peer_frame(1, 1)), Verdict::kConsumed);
  auto sent = w.TakeSent();
  EXPECT_EQ(BytesTo(sent, SystemRef::Client(0)).size(), 1u) << "the call from fdmr-b was cut";
  EXPECT_EQ(BytesTo(sent, SystemRef::Peer(0)).size(), 1u);  // relayed to fdmr-a
  EXPECT_TRUE(BytesTo(sent, SystemRef::Peer(1)).empty());   // never back to its source
  EXPECT_EQ(w.TotalDrops(DropReason::kLoopDuplicate), 0u);
  ASSERT_EQ(w.FromClient(0, from_client[1]), Verdict::kConsumed);
  sent = w.TakeSent();
  EXPECT_EQ(BytesTo(sent, SystemRef::Peer(0)).size(), 1u);
  EXPECT_TRUE(BytesTo(sent, SystemRef::Peer(1)).empty()) << "fdmr-b quenched this stream";
}

// A peer renamed where it stands (same position, listener and target) is the same link: a call
// from it carries on.
TEST(SnapshotSwitch, APeerRenamedInPlaceKeepsItsStreams) {
  World w = Meshed();
  const auto from_b = Call(2345678, 3100, 0, 0x8201, kTs1, 4);
  const auto frame = [&](size_t i) { return w.DmreFrom(2, from_b[i], 234102, 0, 1, w.now()); };
  ASSERT_EQ(w.FromPeer(2, frame(0)), Verdict::kConsumed);
  w.Advance(60 * kMs);
  w.TakeSent();
  w.peers[2].name = "fdmr-b-renamed";
  w.Publish();
  EXPECT_EQ(w.FromPeer(2, frame(1)), Verdict::kConsumed);
  EXPECT_EQ(BytesTo(w.TakeSent(), SystemRef::Client(0)).size(), 1u) << "the call was cut";
  EXPECT_EQ(w.TotalDrops(DropReason::kLoopDuplicate), 0u);
}

TEST(TwoShards, EventsAndEgressAreIndependentOfWhichShardOwnsTheStream) {
  for (unsigned n : {1u, 2u, 3u}) {
    World w = ThreeOn91(n);
    for (uint32_t stream = 0x9000; stream < 0x9010; ++stream) {
      w.PlayCall(0, Call(3120101, 91, 3120001, stream, kTs2, 2));
      w.Advance(6 * kSec);
    }
    EXPECT_EQ(w.TakeSent().size(), 16u * 4u * 2u) << n;
    EXPECT_EQ(w.TakeEvents().size(), 16u * 2u) << n;
  }
}

TEST(TwoShards, ADuplicateStreamIsRecognisedByItsOwnerWhicheverPathItTakes) {
  World w = Meshed(2);
  const auto call = Call(2345678, 3100, 0, 0x9100, kTs1, 3);
  for (const Frame& f : call) {
    w.FromPeer(2, w.DmreFrom(2, f, 234199, 0, 1, w.now()));
    w.FromPeer(1, w.DmreFrom(1, f, 234199, 0, 1, w.now()));
    w.Advance(60 * kMs);
  }
  EXPECT_EQ(BytesTo(w.TakeSent(), SystemRef::Client(0)).size(), call.size());
  EXPECT_EQ(w.shard(w.OwnerOf(0x9100)).counters().drop(DropReason::kLoopDuplicate), call.size());
}

// ---------------------------------------------------------------------------------------------
// Replays (issue 14): a peer's signed frames can be captured and sent again by anyone.

TEST(Replay, ASignedFbpCallSentAgainAfterItsTerminatorIsDropped) {
  for (const bool classic : {false, true}) {
    SCOPED_TRACE(classic ? "classic OBP" : "FBP");
    World w = Meshed();
    const size_t peer = classic ? 0 : 1;
    const auto call = Call(2345678, 3100, 0, classic ? 0x6201 : 0x6200, kTs1, 2);
    std::vector<std::vector<uint8_t>> captured;
    for (const Frame& f : call) {
      captured.push_back(classic ? w.ObpV1From(peer, f)
                                 : w.DmreFrom(peer, f, 234101, 0, 1, w.wall()));
      ASSERT_EQ(w.FromPeer(peer, captured.back()), Verdict::kConsumed);
      w.Advance(60 * kMs);
    }
    EXPECT_EQ(BytesTo(w.TakeSent(), SystemRef::Client(0)).size(), call.size());
    w.TakeEvents();
    // One second after the terminator, the captured call again, byte for byte, from the peer's
    // own address: the header no longer starts the ended stream over.
    w.Advance(kSec);
    for (const auto& b : captured) EXPECT_EQ(w.FromPeer(peer, b), Verdict::kDropped);
    EXPECT_TRUE(w.TakeSent().empty());
    EXPECT_TRUE(w.TakeEvents().empty());
    EXPECT_EQ(w.TotalDrops(DropReason::kAfterEnd), captured.size());
  }
}

TEST(Replay, EndedPeerStreamsAreRememberedUntilAReplayIsStale) {
  World w = Meshed();
  // Even with a short stream_forget_after, a peer's ended stream is remembered for at least
  // 2 × fbp_max_age + 1 s: by then its frames are stale.
  w.policy.stream_forget_after = kSec;
  w.policy.fbp_max_age = 5 * kSec;
  w.Publish();
  // The peer's clock runs 4 s ahead of ours (within fbp_max_age): its stamps are in our future.
  const auto call = Call(2345678, 3100, 0, 0x6300, kTs1, 1);
  std::vector<std::vector<uint8_t>> captured;
  for (const Frame& f : call) {
    captured.push_back(w.DmreFrom(1, f, 234101, 0, 1, w.wall() + 4 * kSec));
    ASSERT_EQ(w.FromPeer(1, captured.back()), Verdict::kConsumed);
    w.Advance(60 * kMs);
  }
  w.TakeSent();
  w.TakeEvents();
  for (int second = 1; second <= 15; ++second) {
    w.Advance(kSec);
    EXPECT_EQ(w.FromPeer(1, captured[0]), Verdict::kDropped) << second << " s after the end";
  }
  // Remembered, then forgotten and refused as stale (one BCSQ): never started again.
  for (const Event& e : w.TakeEvents()) EXPECT_NE(e.type, EventType::kStreamStarted) << Describe(e);
  EXPECT_GT(w.TotalDrops(DropReason::kAfterEnd), 0u);
  EXPECT_GT(w.TotalDrops(DropReason::kFbpStale), 0u);
  EXPECT_TRUE(BytesTo(w.TakeSent(), SystemRef::Client(0)).empty());
}

TEST(Replay, DmreTimestampsAreBoundedBothWays) {
  World w = Meshed();  // fbp_max_age 5 s
  uint32_t stream = 0x6400;
  auto send = [&](int64_t offset) {
    const Frame f = Call(2345678, 3100, 0, ++stream, kTs1, 0)[0];
    return w.FromPeer(1, w.DmreFrom(1, f, 234101, 0, 1,
                                    static_cast<TimeNs>(static_cast<int64_t>(w.wall()) + offset)));
  };
  EXPECT_EQ(send(-4 * static_cast<int64_t>(kSec)), Verdict::kConsumed);
  EXPECT_EQ(send(4 * static_cast<int64_t>(kSec)), Verdict::kConsumed);
  EXPECT_EQ(send(-6 * static_cast<int64_t>(kSec)), Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kFbpStale), 1u);
  EXPECT_EQ(send(6 * static_cast<int64_t>(kSec)), Verdict::kDropped);
  EXPECT_EQ(send(365 * 24 * 3600 * static_cast<int64_t>(kSec)), Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kFbpFuture), 2u);
  EXPECT_EQ(route::DropReasonName(DropReason::kFbpFuture), "fbp_future");
  // Refused like a stale one: quenched once, the rest of the stream dropped unevaluated.
  size_t bcsq = 0;
  for (const Sent& s : w.TakeSent()) bcsq += s.bytes.size() == 31 ? 1 : 0;
  EXPECT_EQ(bcsq, 3u);
}

TEST(Replay, OnlyAFreshStreamFromANewAddressIsShownToTheControlPlane) {
  World w = Meshed();
  const Endpoint elsewhere = Addr(200, 40000);
  const auto call = Call(2345678, 3100, 0, 0x6500, kTs1, 1);
  // From the target: routed, nothing more.
  EXPECT_EQ(w.FromPeer(1, w.DmreFrom(1, call[0], 234101, 0, 1, w.wall())), Verdict::kConsumed);
  // The same stream's next frame from elsewhere: routed (relax_checks), not a new stream.
  EXPECT_EQ(w.FromPeer(1, w.DmreFrom(1, call[1], 234101, 0, 1, w.wall()), &elsewhere),
            Verdict::kConsumed);
  // A new stream's first frame from elsewhere: routed and handed to the control plane, which may
  // move the link there; its later frames are routed only.
  const auto next = Call(2345678, 3100, 0, 0x6501, kTs1, 1);
  EXPECT_EQ(w.FromPeer(1, w.DmreFrom(1, next[0], 234101, 0, 1, w.wall()), &elsewhere),
            Verdict::kRoutedToControl);
  EXPECT_EQ(w.FromPeer(1, w.DmreFrom(1, next[1], 234101, 0, 1, w.wall()), &elsewhere),
            Verdict::kConsumed);
  // A stale new stream from elsewhere is dropped, never shown.
  const auto stale = Call(2345678, 3100, 0, 0x6502, kTs1, 1);
  EXPECT_EQ(w.FromPeer(1, w.DmreFrom(1, stale[0], 234101, 0, 1, w.wall() - 6 * kSec), &elsewhere),
            Verdict::kDropped);
  // Classic OBP carries no timestamp: never shown.
  const auto v1 = Call(2345678, 3100, 0, 0x6503, kTs1, 1);
  EXPECT_EQ(w.FromPeer(0, w.ObpV1From(0, v1[0]), &elsewhere), Verdict::kConsumed);
  // relax_checks = false: from elsewhere is dropped outright.
  w.peers[1].relax_checks = false;
  w.Publish();
  const auto strict = Call(2345678, 3100, 0, 0x6504, kTs1, 1);
  EXPECT_EQ(w.FromPeer(1, w.DmreFrom(1, strict[0], 234101, 0, 1, w.wall()), &elsewhere),
            Verdict::kDropped);
  EXPECT_EQ(w.TotalDrops(DropReason::kPeerAddress), 1u);
}

TEST(Egress, FullTransmitQueueIsCountedNotFatal) {
  World w = ThreeOn91();
  w.sink().FailNext(1);
  w.FromClient(0, Call(3120101, 91, 3120001, 0x9200, kTs2, 0)[0]);
  EXPECT_EQ(w.TakeSent().size(), 1u);
  EXPECT_EQ(w.shard(0).counters().sink_full, 1u);
}

// ---------------------------------------------------------------------------------------------
// Call quality (events.h, docs/reporting.md): frames, sequence gaps, late and early frames and
// jitter against the 60 ms cadence, why the call ended, how many destinations it had.

// The ended/lost event of the one stream in `ev`.
const Event& EndOf(const std::vector<Event>& ev) {
  static const Event kNone{};
  for (const Event& e : ev) {
    if (e.type == EventType::kStreamEnded || e.type == EventType::kStreamLost) return e;
  }
  ADD_FAILURE() << "no end event";
  return kNone;
}

TEST(CallQuality, APerfectCadenceHasNoLateEarlyOrJitter) {
  World w = ThreeOn91();
  const auto call = Call(3120101, 91, 3120001, 0xD1000001, kTs2, 12);
  w.PlayCall(0, call);
  const auto ev = w.TakeEvents();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].type, EventType::kStreamStarted);
  EXPECT_EQ(ev[0].destinations, 2u) << "members 1 and 2; never the talker itself";
  EXPECT_EQ(ev[0].end, route::StreamEnd::kNone);
  EXPECT_EQ(ev[0].data, 0u);
  const Event& end = ev[1];
  EXPECT_EQ(end.type, EventType::kStreamEnded) << Describe(end);
  EXPECT_EQ(end.end, route::StreamEnd::kTerminator);
  EXPECT_EQ(end.packets, call.size());
  EXPECT_EQ(end.lost, 0u);
  EXPECT_EQ(end.late, 0u);
  EXPECT_EQ(end.early, 0u);
  EXPECT_EQ(end.jitter_10us, 0u);
  EXPECT_EQ(end.destinations, 2u);
  // First to last frame: 13 gaps of 60 ms.
  EXPECT_EQ(end.duration_ms, (call.size() - 1) * 60);
}

TEST(CallQuality, ADelayedFrameIsLateAndTheOneInItsShadowEarly) {
  World w = ThreeOn91();
  const auto call = Call(3120101, 91, 3120001, 0xD1000002, kTs2, 6);
  // Frame 3 arrives 45 ms behind the cadence (late), frame 4 on schedule, so 15 ms after frame 3
  // (early); frame 6 20 ms behind (within the 30 ms tolerance: jitter only) and frame 7 40 ms
  // after it (jitter only).
  const TimeNs kGap[] = {0, 60, 60, 105, 15, 60, 80, 40};
  TimeNs deviation_sum = 0;
  for (size_t i = 0; i < call.size(); ++i) {
    const TimeNs gap = i < std::size(kGap) ? kGap[i] : 60;
    if (i > 0) {
      w.Advance(gap * kMs);
      deviation_sum += gap > 60 ? gap - 60 : 60 - gap;
    }
    ASSERT_EQ(w.FromClient(0, call[i]), Verdict::kConsumed) << i;
  }
  const Event end = EndOf(w.TakeEvents());  // a copy: the vector is a temporary
  EXPECT_EQ(end.late, 1u) << Describe(end);
  EXPECT_EQ(end.early, 1u);
  EXPECT_EQ(end.lost, 0u);
  // Mean absolute deviation over the gaps: (45 + 45 + 20 + 20) ms / (frames - 1).
  EXPECT_EQ(deviation_sum, 130u);
  EXPECT_EQ(end.jitter_10us, deviation_sum * kMs / (call.size() - 1) / route::kJitterUnit);
  EXPECT_EQ(w.shard(0).counters().frames_late, 1u);
  EXPECT_EQ(w.shard(0).counters().frames_early, 1u);
}

TEST(CallQuality, AFrameAfterLostOnesIsDueOnePeriodPerSequenceNumber) {
  World w = ThreeOn91();
  const auto call = Call(3120101, 91, 3120001, 0xD1000003, kTs2, 6);
  for (size_t i = 0; i < call.size(); ++i) {
    if (i == 4 || i == 5 || i == 6) {  // lost on the way: the cadence goes on
      w.Advance(60 * kMs);
      continue;
    }
    ASSERT_EQ(w.FromClient(0, call[i]), Verdict::kConsumed) << i;
    w.Advance(60 * kMs);
  }
  const Event end = EndOf(w.TakeEvents());  // a copy: the vector is a temporary
  EXPECT_EQ(end.lost, 3u) << Describe(end);
  EXPECT_EQ(end.packets, call.size() - 3);
  EXPECT_EQ(end.late, 0u) << "frame 7 came 4 periods after frame 3, as its sequence number says";
  EXPECT_EQ(end.early, 0u);
  EXPECT_EQ(end.jitter_10us, 0u);
  EXPECT_EQ(end.duration_ms, (call.size() - 1) * 60);
}

TEST(CallQuality, SilenceEndsAsTimeoutWithTheDurationToTheLastFrame) {
  World w = ThreeOn91();
  const auto call = Call(3120101, 91, 3120001, 0xD1000004, kTs2, 6);
  for (int i = 0; i < 5; ++i) {
    if (i > 0) w.Advance(60 * kMs);
    w.FromClient(0, call[i]);
  }
  w.Advance(6 * kSec);
  const auto ev = w.TakeEvents();
  const Event& end = EndOf(ev);
  EXPECT_EQ(end.type, EventType::kStreamLost) << Describe(end);
  EXPECT_EQ(end.end, route::StreamEnd::kTimeout);
  EXPECT_EQ(end.packets, 5u);
  EXPECT_EQ(end.duration_ms, 4u * 60) << "not the 5 s of silence that lost it";
  EXPECT_GE(end.at, ev[0].at + 5 * kSec);
}

TEST(CallQuality, ACallCutForMaxAgeEndsAsMaxAge) {
  World w = ThreeOn91();
  w.policy.max_stream_age = 1 * kSec;
  w.Publish();
  w.PlayCall(0, Call(3120101, 91, 3120001, 0xD1000005, kTs2, 40));  // 2.5 s
  w.Advance(6 * kSec);
  const Event end = EndOf(w.TakeEvents());  // a copy: the vector is a temporary
  EXPECT_EQ(end.type, EventType::kStreamLost) << Describe(end);
  EXPECT_EQ(end.end, route::StreamEnd::kMaxAge);
  EXPECT_LE(end.duration_ms, 1000u);
  EXPECT_GE(end.duration_ms, 940u);
}

TEST(CallQuality, DestinationsCountClientsAndPeersNotTheTalker) {
  World w = Meshed();
  // Client 0 is a member of 3100 itself: client 1 and the three peers.
  w.PlayCall(0, Call(3120101, 3100, 3120001, 0xD1000006, kTs2, 1));
  auto ev = w.TakeEvents();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev[0].destinations, 4u) << Describe(ev[0]);
  EXPECT_EQ(EndOf(ev).destinations, 4u);
  // A non-member on a TG nobody has (a UA activation): the peers only.
  w.clients.push_back({3120003, Addr(3, 50003), 3, {}});
  w.Publish();
  w.PlayCall(2, Call(3120103, 3200, 3120003, 0xD1000007, kTs2, 1));
  ev = w.TakeEvents();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev[0].destinations, 3u) << Describe(ev[0]);
}

TEST(CallQuality, DataCallsAreMarkedAsData) {
  World w = Meshed();
  w.subscriber_locations.push_back({3120999, {1, kTs1}});
  w.Publish();
  // Unit data: a data header to a subscriber.
  Frame f = Call(3120101, 3120999, 3120001, 0xD1000008, kTs2, 0, /*private_call=*/true)[0];
  f.flags = 0xE6;  // TS2, private, data sync, data header
  ASSERT_EQ(w.FromClient(0, f), Verdict::kConsumed);
  auto ev = w.TakeEvents();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, 1u);
  EXPECT_EQ(ev[0].call_type, 1u);
  // Where the subscriber was heard, and only there (Part A §9: no copy to the FBP mesh once the
  // target's location is known).
  EXPECT_EQ(ev[0].destinations, 1u) << Describe(ev[0]);
  // Group data: a data header to a talkgroup (after the collision window of the first).
  w.Advance(1 * kSec);
  Frame g = Call(3120101, 3100, 3120001, 0xD1000009, kTs2, 0)[0];
  g.flags = 0xA6;  // TS2, group, data sync, data header
  ASSERT_EQ(w.FromClient(0, g), Verdict::kConsumed);
  ev = w.TakeEvents();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, 1u);
  EXPECT_EQ(ev[0].call_type, 0u);
  // Voice is not data.
  w.Advance(1 * kSec);
  w.PlayCall(0, Call(3120101, 3100, 3120001, 0xD100000A, kTs2, 1));
  ev = w.TakeEvents();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev[0].data, 0u);
}

TEST(CallQuality, CountersSaturateInTheirSixteenBitFields) {
  EXPECT_EQ(route::Saturate16(65535), 65535u);
  EXPECT_EQ(route::Saturate16(65536), 65535u);
  EXPECT_EQ(route::Saturate16(uint64_t{1} << 40), 65535u);
  // A peer index and the largest client slot survive the packing.
  Event e;
  e.source = SystemRef::Client((1u << 20) - 1);
  EXPECT_EQ(e.source, SystemRef::Client((1u << 20) - 1));
  EXPECT_TRUE(e.source.is_client());
  e.source = SystemRef::Peer(255);
  EXPECT_EQ(SystemRef(e.source), SystemRef::Peer(255));
  EXPECT_TRUE(e.source.is_peer());
}

}  // namespace
}  // namespace dmrswitch::scenario
