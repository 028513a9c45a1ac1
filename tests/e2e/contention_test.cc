// End to end: destination slot contention and source collisions (PROTOCOL.md §3.6 step 3 and
// to_target rules (a)-(d), §3.11; docs/routing.md "Destination slot leases"). The hub runs with
// group_hangtime_s = 2 and the default 360 ms stream timeout (collision window).

#include <gtest/gtest.h>

#include <algorithm>
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

constexpr uint32_t kA = 3120301;
constexpr uint32_t kB = 3120302;
constexpr uint32_t kC = 3120303;
constexpr uint32_t kD = 3120304;
constexpr uint32_t kSrcA = 3121301;
constexpr uint32_t kSrcA2 = 3121311;
constexpr uint32_t kSrcB = 3121302;
constexpr uint32_t kSrcC = 3121303;
constexpr uint32_t kSrcD = 3121304;

constexpr absl::Duration kHangTime = absl::Seconds(2);
constexpr absl::Duration kStreamTimeout = absl::Milliseconds(360);

class ContentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = FreeUdpPort();
    ASSERT_NO_FATAL_FAILURE(StartHub(RoutingHubToml(port_, "group_hangtime_s = 2\n"), &hub_));
    clients_ = std::make_unique<ClientSet>(port_);
  }
  uint16_t port_ = 0;
  std::unique_ptr<HubProcess> hub_;
  std::unique_ptr<ClientSet> clients_;
};

TEST_F(ContentionTest, BusySlotThenGroupHangTimeKeepOtherTgsAway) {
  HbpClient* c = clients_->Add(kC, "TS2=3100,3101");
  HbpClient* a = clients_->Add(kA);
  HbpClient* b = clients_->Add(kB);
  clients_->Settle();

  // A talks 3100 at the real 60 ms cadence (14 frames, 780 ms); B starts 3101 while it is live.
  const uint32_t a_stream = a->StartVoiceCall(GroupCall(3100, 2, kSrcA, absl::Milliseconds(60)));
  clients_->PollFor(absl::Milliseconds(200));
  ASSERT_TRUE(a->transmitting());
  const uint32_t b_stream = b->StartVoiceCall(GroupCall(3101, 2, kSrcB));
  ASSERT_TRUE(clients_->FinishTransmissions());
  const absl::Time a_end = absl::Now();
  {
    const std::vector<sim::ReceivedCall> calls = c->Receive(absl::Seconds(2), 1);
    ASSERT_EQ(calls.size(), 1u) << "B's call must not reach C while A's holds the slot";
    EXPECT_EQ(calls[0].stream_id, a_stream);
    EXPECT_NE(calls[0].stream_id, b_stream);
    const absl::Status st = sim::Verify(calls[0], Delivered(3100, 2, kSrcA, kC));
    EXPECT_TRUE(st.ok()) << st << "\n" << calls[0].DebugString();
  }

  // B again, within the hang time of A's call: still kept away (rule (a)).
  ASSERT_LT(absl::Now() - a_end, kHangTime - absl::Milliseconds(500))
      << "too slow to test within the hang time";
  b->SendVoiceCall(GroupCall(3101, 2, kSrcB));
  ExpectNothing(*c);

  // After the hang time C hears 3101.
  clients_->PollUntilTime(a_end + kHangTime + absl::Milliseconds(300));
  b->SendVoiceCall(GroupCall(3101, 2, kSrcB));
  ExpectOneCall(*c, Delivered(3101, 2, kSrcB, kC));
}

TEST_F(ContentionTest, SameTgWaitsOnlyTheCollisionWindow) {
  HbpClient* c = clients_->Add(kC, "TS2=3100");
  HbpClient* a = clients_->Add(kA);
  HbpClient* d = clients_->Add(kD);
  clients_->Settle();

  // D follows A's terminator at once on the same TG: inside the 360 ms window (rules (c)/(d)).
  const sim::SentCall a_call = a->SendVoiceCall(GroupCall(3100, 2, kSrcA));
  d->SendVoiceCall(GroupCall(3100, 2, kSrcD, absl::ZeroDuration()));
  ASSERT_LT(absl::Now() - a_call.last_sent, kStreamTimeout - absl::Milliseconds(200))
      << "too slow to test within the collision window";
  {
    const std::vector<sim::ReceivedCall> calls = c->Receive(absl::Seconds(2), 1);
    ASSERT_EQ(calls.size(), 1u) << "D's call must not reach C within the collision window";
    EXPECT_EQ(calls[0].stream_id, a_call.stream_id);
    const absl::Status st = sim::Verify(calls[0], Delivered(3100, 2, kSrcA, kC));
    EXPECT_TRUE(st.ok()) << st << "\n" << calls[0].DebugString();
  }

  // Well past the window (but within the 2 s hang time: same TG is not held by it).
  clients_->PollUntilTime(a_call.last_sent + absl::Milliseconds(700));
  d->SendVoiceCall(GroupCall(3100, 2, kSrcD));
  ExpectOneCall(*c, Delivered(3100, 2, kSrcD, kC));
}

TEST_F(ContentionTest, ListenersOwnTransmissionHoldsItsSlotForTheHangTime) {
  // C talks on 3200 (TS2); a call for its static 3100 right after waits out the hang time.
  HbpClient* c = clients_->Add(kC, "TS2=3100;SINGLE=0");
  HbpClient* a = clients_->Add(kA);
  clients_->Settle();

  c->SendVoiceCall(GroupCall(3200, 2, kSrcC));
  const absl::Time c_end = absl::Now();
  clients_->PollFor(absl::Milliseconds(500));  // past the collision window, within the hang time
  a->SendVoiceCall(GroupCall(3100, 2, kSrcA));
  ASSERT_LT(absl::Now() - c_end, kHangTime - absl::Milliseconds(500));
  ExpectNothing(*c);

  clients_->PollUntilTime(c_end + kHangTime + absl::Milliseconds(300));
  a->SendVoiceCall(GroupCall(3100, 2, kSrcA));
  ExpectOneCall(*c, Delivered(3100, 2, kSrcA, kC));
}

TEST_F(ContentionTest, ListenerKeyingUpTakesItsSlotFromTheHub) {
  // The radio has the channel: C's own transmission on TS2 interrupts A's call to it (docs/
  // routing.md: a client's own transmission takes its slot from a stream the hub sends it).
  HbpClient* c = clients_->Add(kC, "TS2=3100;SINGLE=0");
  HbpClient* a = clients_->Add(kA);
  HbpClient* d = clients_->Add(kD, "TS2=3200");
  clients_->Settle();

  const uint32_t a_stream = a->StartVoiceCall(GroupCall(3100, 2, kSrcA, absl::Milliseconds(40)));
  clients_->PollFor(absl::Milliseconds(150));
  const uint32_t c_stream = c->StartVoiceCall(GroupCall(3200, 2, kSrcC));
  ASSERT_TRUE(clients_->FinishTransmissions());
  // D hears C's call complete.
  {
    const std::vector<sim::ReceivedCall> calls = d->Receive(absl::Seconds(2), 1);
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].stream_id, c_stream);
    const absl::Status st = sim::Verify(calls[0], Delivered(3200, 2, kSrcC, kD));
    EXPECT_TRUE(st.ok()) << st << "\n" << calls[0].DebugString();
  }
  // C got the beginning of A's call only: its header, not its terminator (after C's own call
  // the hang time keeps the rest of A's call, another TG, away).
  {
    const std::vector<sim::ReceivedCall> calls = c->ReceiveFor(absl::Milliseconds(300));
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].stream_id, a_stream);
    EXPECT_TRUE(calls[0].has_header);
    EXPECT_FALSE(calls[0].has_terminator);
    EXPECT_LT(calls[0].frame_count(), VoiceFrames(2));
  }
}

// Part A §11: a radio user who releases PTT and keys up again at once (back-to-back overs, 60 ms
// apart at the real cadence) is heard from the header of every over; another radio doing the
// same right after is still held off for the collision window.
TEST_F(ContentionTest, SameTalkerReKeyingBackToBackIsHeardFromEveryHeader) {
  HbpClient* c = clients_->Add(kC, "TS2=3100");
  HbpClient* a = clients_->Add(kA);
  clients_->Settle();

  // Three overs by kSrcA, then one by kSrcA2 (another radio on the same hotspot), one frame
  // stream at the real 60 ms cadence: each header follows the previous terminator by 60 ms.
  std::vector<sim::DmrdFrame> frames;
  std::vector<uint32_t> streams;
  for (int i = 0; i < 4; ++i) {
    sim::VoiceCallSpec spec = GroupCall(3100, 2, i < 3 ? kSrcA : kSrcA2);
    spec.cadence = absl::Milliseconds(60);
    spec.stream_id = 0xE2E00001 + static_cast<uint32_t>(i);
    const std::vector<sim::DmrdFrame> call = sim::BuildVoiceCall(spec, kA);
    frames.insert(frames.end(), call.begin(), call.end());
    streams.push_back(spec.stream_id);
  }
  a->StartFrames(frames, absl::Milliseconds(60));
  ASSERT_TRUE(clients_->FinishTransmissions());

  const std::vector<sim::ReceivedCall> calls = c->Receive(absl::Seconds(3), 4);
  ASSERT_EQ(calls.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(calls[i].stream_id, streams[i]);
    const absl::Status st = sim::Verify(calls[i], Delivered(3100, 2, kSrcA, kC));
    EXPECT_TRUE(st.ok()) << "over " << i << ": " << st << "\n" << calls[i].DebugString();
    // Real cadence end to end: the hub adds no gaps.
    EXPECT_LT(calls[i].duration(),
              absl::Milliseconds(60) * (VoiceFrames(2) - 1) + absl::Milliseconds(200));
  }
  // The other radio: its header and first frames fall in the window after kSrcA's last over.
  EXPECT_EQ(calls[3].stream_id, streams[3]);
  EXPECT_FALSE(calls[3].has_header) << calls[3].DebugString();
  EXPECT_TRUE(calls[3].has_terminator);
  EXPECT_LT(calls[3].frame_count(), VoiceFrames(2));
  EXPECT_GE(calls[3].frame_count(), VoiceFrames(2) - 7);
}

// ---------------------------------------------------------------------------------------------
// Source side (PROTOCOL.md §3.6 step 3; docs/routing.md step 4): one transmission per client slot.

TEST_F(ContentionTest, SecondConcurrentCallFromOneClientSlotIsDropped) {
  HbpClient* c = clients_->Add(kC, "TS1=3101;TS2=3100");
  HbpClient* a = clients_->Add(kA);
  clients_->Settle();

  // X: TS2, 14 frames at 20 ms (260 ms). Y: same slot, other radio, starts 60 ms later and ends
  // before X. Z: the other slot, concurrently: allowed.
  const uint32_t x = a->StartVoiceCall(GroupCall(3100, 2, kSrcA, absl::Milliseconds(20)));
  clients_->PollFor(absl::Milliseconds(60));
  const uint32_t y = a->StartVoiceCall(GroupCall(3100, 2, kSrcA2, absl::Milliseconds(20), 1));
  const uint32_t z = a->StartVoiceCall(GroupCall(3101, 1, kSrcA2, absl::Milliseconds(20), 1));
  ASSERT_TRUE(clients_->FinishTransmissions());

  std::vector<sim::ReceivedCall> calls = c->Receive(absl::Seconds(2), 2);
  ASSERT_EQ(calls.size(), 2u) << "Y must be dropped entirely";
  std::sort(calls.begin(), calls.end(),
            [](const sim::ReceivedCall& l, const sim::ReceivedCall& r) { return l.ts > r.ts; });
  EXPECT_EQ(calls[0].stream_id, x);
  EXPECT_EQ(calls[1].stream_id, z);
  EXPECT_NE(calls[0].stream_id, y);
  EXPECT_NE(calls[1].stream_id, y);
  absl::Status st = sim::Verify(calls[0], Delivered(3100, 2, kSrcA, kC));
  EXPECT_TRUE(st.ok()) << st << "\n" << calls[0].DebugString();
  st = sim::Verify(calls[1], Delivered(3101, 1, kSrcA2, kC, 1));
  EXPECT_TRUE(st.ok()) << st << "\n" << calls[1].DebugString();
}

TEST_F(ContentionTest, CallWithoutTerminatorHoldsTheSourceSlotForTheStreamTimeout) {
  HbpClient* c = clients_->Add(kC, "TS2=3100");
  HbpClient* a = clients_->Add(kA);
  clients_->Settle();

  sim::VoiceCallSpec x = GroupCall(3100, 2, kSrcA);
  x.terminator = false;
  const sim::SentCall x_sent = a->SendVoiceCall(x);
  // A new stream on the slot at once: X is not over yet (no terminator, silent < 360 ms).
  const sim::SentCall y_sent = a->SendVoiceCall(GroupCall(3100, 2, kSrcA2, absl::ZeroDuration()));
  ASSERT_LT(absl::Now() - x_sent.last_sent, kStreamTimeout - absl::Milliseconds(200));
  std::vector<sim::ReceivedCall> calls = c->ReceiveFor(absl::Milliseconds(300));
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].stream_id, x_sent.stream_id);
  EXPECT_NE(calls[0].stream_id, y_sent.stream_id);
  sim::ExpectedCall want = Delivered(3100, 2, kSrcA, kC);
  want.terminator = false;
  want.frames = VoiceFrames(2) - 1;
  const absl::Status st = sim::Verify(calls[0], want);
  EXPECT_TRUE(st.ok()) << st << "\n" << calls[0].DebugString();

  // Once X has been silent past the window, a new call goes through.
  clients_->PollUntilTime(x_sent.last_sent + absl::Milliseconds(800));
  a->SendVoiceCall(GroupCall(3100, 2, kSrcA2));
  ExpectOneCall(*c, Delivered(3100, 2, kSrcA2, kC));
}

}  // namespace
}  // namespace dmrswitch::e2e
