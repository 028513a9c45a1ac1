// End to end: user-activated TGs, their timer, activate_on and single mode (PROTOCOL.md Part A §3,
// §3.2-3.4, §3.11; docs/routing.md step 6). The UA timer is set in fractional minutes
// (hbp.default_ua_timer_min = 0.05, i.e. 3 s) so that expiry can be watched; the hub checks
// timers once a second, so a membership ends between 3 and about 4 s after the last call.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "tests/e2e/hub_process.h"
#include "tests/e2e/routing_helpers.h"
#include "tools/sim/hbp_client.h"

namespace dmrswitch::e2e {
namespace {

using sim::HbpClient;

constexpr uint32_t kA = 3120201;
constexpr uint32_t kB = 3120202;
constexpr uint32_t kC = 3120203;
constexpr uint32_t kD = 3120204;
constexpr uint32_t kSrcA = 3121201;
constexpr uint32_t kSrcB = 3121202;
constexpr uint32_t kSrcC = 3121203;
constexpr uint32_t kSrcD = 3121204;

constexpr absl::Duration kUaTimer = absl::Seconds(3);  // default_ua_timer_min = 0.05
// Past this after the last call, a UA membership (or suspension) must be gone: the 3 s timer,
// the once-a-second expiry check, and a snapshot rebuild.
constexpr absl::Duration kUaGone = absl::Milliseconds(4700);

class UaTest : public ::testing::Test {
 protected:
  void Start(std::string hbp_extra) {
    port_ = FreeUdpPort();
    ASSERT_NO_FATAL_FAILURE(
        StartHub(RoutingHubToml(port_, "default_ua_timer_min = 0.05\n" + hbp_extra), &hub_));
    clients_ = std::make_unique<ClientSet>(port_);
  }
  uint16_t port_ = 0;
  std::unique_ptr<HubProcess> hub_;
  std::unique_ptr<ClientSet> clients_;
};

TEST_F(UaTest, KeyUpActivatesTheTgUntilTheUaTimerRunsOut) {
  ASSERT_NO_FATAL_FAILURE(Start(""));
  HbpClient* b = clients_->Add(kB);
  HbpClient* c = clients_->Add(kC);
  HbpClient* d = clients_->Add(kD, "TS2=2345");  // static member: shows C's calls are routed
  clients_->Settle();

  // B keys up on 2345 (activate_on = "start"): its first transmission is already heard.
  b->SendVoiceCall(GroupCall(2345, 2, kSrcB));
  const absl::Time b_end = absl::Now();
  ExpectOneCall(*d, Delivered(2345, 2, kSrcB, kD));

  // C talks on 2345 (after the 360 ms collision window on B's slot) → B hears it.
  clients_->PollUntilTime(b_end + absl::Milliseconds(600));
  c->SendVoiceCall(GroupCall(2345, 2, kSrcC));
  ExpectOneCall(*b, Delivered(2345, 2, kSrcC, kB));
  ExpectOneCall(*d, Delivered(2345, 2, kSrcC, kD));

  // Still a member 2 s after its own call.
  clients_->PollUntilTime(b_end + absl::Seconds(2));
  ASSERT_LT(absl::Now() - b_end, kUaTimer) << "too slow to observe the membership before expiry";
  c->SendVoiceCall(GroupCall(2345, 2, kSrcC));
  ExpectOneCall(*b, Delivered(2345, 2, kSrcC, kB));
  ExpectOneCall(*d, Delivered(2345, 2, kSrcC, kD));

  // After the UA timer B hears nothing, while the static member still does.
  clients_->PollUntilTime(b_end + kUaGone);
  clients_->Settle(absl::Milliseconds(1));
  c->SendVoiceCall(GroupCall(2345, 2, kSrcC));
  ExpectOneCall(*d, Delivered(2345, 2, kSrcC, kD));
  ExpectNothing(*b);
}

TEST_F(UaTest, OwnTrafficOnTheTgExtendsTheUaTimer) {
  ASSERT_NO_FATAL_FAILURE(Start(""));
  HbpClient* b = clients_->Add(kB);
  HbpClient* c = clients_->Add(kC);
  clients_->Settle();

  b->SendVoiceCall(GroupCall(2345, 2, kSrcB));
  const absl::Time first = absl::Now();
  clients_->PollUntilTime(first + absl::Seconds(2));
  b->SendVoiceCall(GroupCall(2345, 2, kSrcB));  // the timer now runs from here
  const absl::Time second = absl::Now();
  // Past the first call's expiry (3 s + the once-a-second check), before the second's.
  clients_->PollUntilTime(first + kUaGone);
  clients_->Settle(absl::Milliseconds(1));
  ASSERT_LT(absl::Now() - second, kUaTimer) << "too slow to observe the extension";
  c->SendVoiceCall(GroupCall(2345, 2, kSrcC));
  ExpectOneCall(*b, Delivered(2345, 2, kSrcC, kB));
}

TEST_F(UaTest, ActivateOnEndNeedsAKeyUpTwice) {
  ASSERT_NO_FATAL_FAILURE(Start("activate_on = \"end\"\n"));
  HbpClient* b = clients_->Add(kB);
  HbpClient* d = clients_->Add(kD, "TS2=2345");
  clients_->Settle();

  // Before B has keyed up, D's calls on 2345 do not reach it.
  d->SendVoiceCall(GroupCall(2345, 2, kSrcD));
  ExpectNothing(*b);

  // First key-up: not routed at all (FreeDMR's kerchunk), the activation follows the terminator.
  clients_->Settle(absl::Milliseconds(500));
  b->SendVoiceCall(GroupCall(2345, 2, kSrcB));
  ExpectNothing(*d);

  // Now B is a member: it hears D, and its second transmission is routed.
  clients_->Settle(absl::Milliseconds(500));
  d->SendVoiceCall(GroupCall(2345, 2, kSrcD));
  ExpectOneCall(*b, Delivered(2345, 2, kSrcD, kB));
  clients_->Settle(absl::Milliseconds(500));
  b->SendVoiceCall(GroupCall(2345, 2, kSrcB));
  ExpectOneCall(*d, Delivered(2345, 2, kSrcB, kD));
}

TEST_F(UaTest, ActivateOnStartRoutesTheFirstTransmissionToStaticMembers) {
  ASSERT_NO_FATAL_FAILURE(Start(""));
  HbpClient* b = clients_->Add(kB);
  HbpClient* d = clients_->Add(kD, "TS2=2346");
  clients_->Settle();
  b->SendVoiceCall(GroupCall(2346, 2, kSrcB));
  ExpectOneCall(*d, Delivered(2346, 2, kSrcB, kD));
}

// ---------------------------------------------------------------------------------------------
// Single mode (PROTOCOL.md §3.2 SINGLE_MODE, §3.4 SINGLE=): a call on a user-activated TG suspends
// the slot's statics for the UA timer. group_hangtime_s = 0 so that the hang time after the
// listener's own call cannot be what keeps the static TG away.

TEST_F(UaTest, SingleModeSuspendsStaticsUntilTheUaTimerRunsOut) {
  ASSERT_NO_FATAL_FAILURE(Start("group_hangtime_s = 0\n"));
  HbpClient* s = clients_->Add(kA, "TS2=3100");            // single mode (hub default)
  HbpClient* s0 = clients_->Add(kB, "TS2=3100;SINGLE=0");  // single mode off
  HbpClient* t = clients_->Add(kC);                        // talks on 3100
  HbpClient* u = clients_->Add(kD);                        // talks on the UA TGs
  clients_->Settle();

  t->SendVoiceCall(GroupCall(3100, 2, kSrcC));
  ExpectOneCall(*s, Delivered(3100, 2, kSrcC, kA));
  ExpectOneCall(*s0, Delivered(3100, 2, kSrcC, kB));

  // Both listeners talk on a user-activated TG of their own on TS2.
  s->SendVoiceCall(GroupCall(2345, 2, kSrcA));
  const absl::Time s_end = absl::Now();
  s0->SendVoiceCall(GroupCall(2346, 2, kSrcB));
  clients_->Settle(absl::Milliseconds(500));  // past the collision window

  t->SendVoiceCall(GroupCall(3100, 2, kSrcC));
  ExpectOneCall(*s0, Delivered(3100, 2, kSrcC, kB));  // SINGLE=0: the static stays
  ExpectNothing(*s);                                  // single mode: suspended

  // Both still hear their user-activated TG.
  u->SendVoiceCall(GroupCall(2345, 2, kSrcD));
  ExpectOneCall(*s, Delivered(2345, 2, kSrcD, kA));
  clients_->Settle(absl::Milliseconds(50));
  u->SendVoiceCall(GroupCall(2346, 2, kSrcD));
  ExpectOneCall(*s0, Delivered(2346, 2, kSrcD, kB));
  ASSERT_LT(absl::Now() - s_end, kUaTimer) << "too slow to observe the suspension";

  // When the UA timer has run out the static is back.
  clients_->PollUntilTime(s_end + kUaGone);
  clients_->Settle(absl::Milliseconds(1));
  t->SendVoiceCall(GroupCall(3100, 2, kSrcC));
  ExpectOneCall(*s, Delivered(3100, 2, kSrcC, kA));
  ExpectOneCall(*s0, Delivered(3100, 2, kSrcC, kB));
}

TEST_F(UaTest, TalkingOnASuspendedStaticBringsItBack) {
  ASSERT_NO_FATAL_FAILURE(Start("group_hangtime_s = 0\n"));
  HbpClient* s = clients_->Add(kA, "TS2=3100");
  HbpClient* t = clients_->Add(kC);
  HbpClient* u = clients_->Add(kD);
  clients_->Settle();

  s->SendVoiceCall(GroupCall(2345, 2, kSrcA));  // 3100 suspended
  clients_->Settle(absl::Milliseconds(500));
  t->SendVoiceCall(GroupCall(3100, 2, kSrcC));
  ExpectNothing(*s);
  // S talks on its static: 3100 is the slot's TG in use now, 2345 is dropped (single mode).
  s->SendVoiceCall(GroupCall(3100, 2, kSrcA));
  clients_->Settle(absl::Milliseconds(500));
  t->SendVoiceCall(GroupCall(3100, 2, kSrcC));
  ExpectOneCall(*s, Delivered(3100, 2, kSrcC, kA));
  u->SendVoiceCall(GroupCall(2345, 2, kSrcD));
  ExpectNothing(*s);
}

TEST_F(UaTest, SingleModeDropsTheOtherUaTgOnThatSlot) {
  ASSERT_NO_FATAL_FAILURE(Start("group_hangtime_s = 0\n"));
  HbpClient* s = clients_->Add(kA);
  HbpClient* u = clients_->Add(kD);
  clients_->Settle();

  s->SendVoiceCall(GroupCall(2345, 2, kSrcA));
  s->SendVoiceCall(GroupCall(2346, 2, kSrcA));  // replaces 2345 on TS2
  // The activation goes through the control plane and a new snapshot: give a slow machine
  // (sanitizers) time, well inside the 3 s UA timer that the rest of the test needs.
  clients_->Settle(absl::Milliseconds(1500));
  u->SendVoiceCall(GroupCall(2345, 2, kSrcD));
  ExpectNothing(*s);
  u->SendVoiceCall(GroupCall(2346, 2, kSrcD));
  ExpectOneCall(*s, Delivered(2346, 2, kSrcD, kA));
}

}  // namespace
}  // namespace dmrswitch::e2e
