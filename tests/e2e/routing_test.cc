// End to end: how the hub routes HBP group calls (PROTOCOL.md §1.3, §3.4-3.6, docs/routing.md):
// static TGs from RPTO and from [[hbp.static]], slot rewrite, dial-a-TG (TG N heard and spoken as
// TG 9 on TS2, with the LC rewritten) and its unlink by a private call to 4000.

#include <gtest/gtest.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tests/e2e/hub_process.h"
#include "tests/e2e/routing_helpers.h"
#include "tools/sim/hbp_client.h"

namespace dmrswitch::e2e {
namespace {

using sim::HbpClient;

constexpr uint32_t kA = 3120101;
constexpr uint32_t kB = 3120102;
constexpr uint32_t kC = 3120103;  // statics from the configuration file
constexpr uint32_t kD = 3120104;  // no statics
constexpr uint32_t kSrcA = 3121101;
constexpr uint32_t kSrcB = 3121102;
constexpr uint32_t kSrcD = 3121104;

class StaticTgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = FreeUdpPort();
    ASSERT_NO_FATAL_FAILURE(
        StartHub(RoutingHubToml(port_, "group_hangtime_s = 0\n",
                                "[[hbp.static]]\nclient = 3120103\nts1 = [3101]\nts2 = [3100]\n"),
                 &hub_));
    clients_ = std::make_unique<ClientSet>(port_);
  }
  uint16_t port_ = 0;
  std::unique_ptr<HubProcess> hub_;
  std::unique_ptr<ClientSet> clients_;
};

TEST_F(StaticTgTest, RptoStaticTgHearsTheCallWithItsOwnIdAndIntactLc) {
  HbpClient* a = clients_->Add(kA, "TS2=3100");
  HbpClient* b = clients_->Add(kB);
  HbpClient* d = clients_->Add(kD);
  clients_->Settle();

  const sim::SentCall sent = b->SendVoiceCall(GroupCall(3100, 2, kSrcB));
  ASSERT_EQ(sent.frames, VoiceFrames(2));
  // Bytes 11..14 carry the receiving client's ID (PROTOCOL.md §1.3), not the talker's.
  ExpectOneCall(*a, Delivered(3100, 2, kSrcB, kA));
  ExpectNothing(*d);
  ExpectNothing(*b);  // never back to the talker
}

TEST_F(StaticTgTest, ConfigStaticTgIsHeardOnItsSlot) {
  HbpClient* c = clients_->Add(kC);
  HbpClient* b = clients_->Add(kB);
  HbpClient* d = clients_->Add(kD);
  clients_->Settle();

  b->SendVoiceCall(GroupCall(3100, 2, kSrcB));
  ExpectOneCall(*c, Delivered(3100, 2, kSrcB, kC));
  ExpectNothing(*d);
}

TEST_F(StaticTgTest, StaticOnTheOtherSlotGetsTheCallWithTheSlotRewritten) {
  // C has 3101 on TS1 (configuration); the talker uses TS2.
  HbpClient* c = clients_->Add(kC);
  HbpClient* b = clients_->Add(kB);
  clients_->Settle();

  b->SendVoiceCall(GroupCall(3101, 2, kSrcB));
  ExpectOneCall(*c, Delivered(3101, 1, kSrcB, kC));
}

TEST_F(StaticTgTest, OptionsAddToConfigStaticsAndEachMemberGetsOneCopy) {
  // C: configuration TS2=3100 plus options TS2=3102; A: options TS2=3100,3102.
  HbpClient* c = clients_->Add(kC, "TS2=3102");
  HbpClient* a = clients_->Add(kA, "TS2=3100,3102");
  HbpClient* b = clients_->Add(kB);
  clients_->Settle();

  b->SendVoiceCall(GroupCall(3102, 2, kSrcB));
  ExpectOneCall(*c, Delivered(3102, 2, kSrcB, kC));
  ExpectOneCall(*a, Delivered(3102, 2, kSrcB, kA));
  // The configuration static is still there (group_hangtime_s = 0 in this hub: another TG may
  // follow at once).
  b->SendVoiceCall(GroupCall(3100, 2, kSrcB));
  ExpectOneCall(*c, Delivered(3100, 2, kSrcB, kC));
  ExpectOneCall(*a, Delivered(3100, 2, kSrcB, kA));
}

TEST_F(StaticTgTest, ShortIngressFramesLeaveAs55Bytes) {
  // Part A §4: ingress accepts 53-byte DMRD (no BER/RSSI); egress to HBP is always 55 bytes.
  HbpClient* a = clients_->Add(kA, "TS2=3100");
  HbpClient* b = clients_->Add(kB);
  clients_->Settle();

  const std::vector<sim::DmrdFrame> frames = sim::BuildVoiceCall(GroupCall(3100, 2, kSrcB), kB);
  for (const sim::DmrdFrame& f : frames) {
    ASSERT_TRUE(b->SendRaw(std::span<const uint8_t>(f.data(), proto::kDmrdShortBytes)).ok());
    b->Poll(absl::Milliseconds(5));
  }
  const std::vector<sim::ReceivedCall> calls = a->Receive(absl::Seconds(3), 1);
  ASSERT_EQ(calls.size(), 1u);
  const absl::Status st = sim::Verify(calls[0], Delivered(3100, 2, kSrcB, kA));
  EXPECT_TRUE(st.ok()) << st << "\n" << calls[0].DebugString();
  for (const sim::ReceivedFrame& f : calls[0].frames) {
    EXPECT_EQ(f.bytes[proto::dmrd_offset::kBer], 0);
    EXPECT_EQ(f.bytes[proto::dmrd_offset::kRssi], 0);
  }
}

// ---------------------------------------------------------------------------------------------
// Dial-a-TG (PROTOCOL.md §3.5): a private voice call to N on TS2 links the caller to TG N, heard
// and spoken as TG 9 on TS2; 4000 unlinks.

class DialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = FreeUdpPort();
    // A short hang time: after the dialling call the caller's TS2 was last used for TG 91 (the
    // private call's destination), and TG 9 traffic waits out the hang time (see the tests).
    ASSERT_NO_FATAL_FAILURE(StartHub(RoutingHubToml(port_, "group_hangtime_s = 1\n"), &hub_));
    clients_ = std::make_unique<ClientSet>(port_);
  }
  // Dials `tg` from `c` and waits until a group call could reach it again (hang time).
  void Dial(HbpClient* c, uint32_t tg, uint32_t rf_src) {
    c->SendVoiceCall(ControlCall(tg, rf_src));
    clients_->Settle(absl::Milliseconds(1300));
  }
  uint16_t port_ = 0;
  std::unique_ptr<HubProcess> hub_;
  std::unique_ptr<ClientSet> clients_;
};

TEST_F(DialTest, DialledTgArrivesAsTg9OnTs2AndTg9ReachesTheTgOnItsSlot) {
  HbpClient* a = clients_->Add(kA);
  HbpClient* b = clients_->Add(kB, "TS1=91");
  clients_->Settle();
  Dial(a, 91, kSrcA);

  // B talks TG 91 on TS1 → A hears TG 9 on TS2, LC rewritten to TG 9, repeater field = A.
  b->SendVoiceCall(GroupCall(91, 1, kSrcB));
  ExpectOneCall(*a, Delivered(9, 2, kSrcB, kA));
  ExpectNothing(*b);

  // A talks TG 9 on TS2 → B hears TG 91 on TS1 (after B's own call's collision window).
  clients_->Settle(absl::Milliseconds(500));
  a->SendVoiceCall(GroupCall(9, 2, kSrcA));
  ExpectOneCall(*b, Delivered(91, 1, kSrcA, kB));
  ExpectNothing(*a);
}

TEST_F(DialTest, PrivateCallsToCommandCodesAreNotRoutedButToAHeardSubscriberTheyAre) {
  HbpClient* a = clients_->Add(kA);
  HbpClient* b = clients_->Add(kB, "TS1=91");
  clients_->Settle();
  // Dialling 91 reaches nobody, not even a member of TG 91 (PROTOCOL.md §3.5).
  a->SendVoiceCall(ControlCall(91, kSrcA));
  ExpectNothing(*b);

  // B's subscriber is heard on B's TS2; after the hang time of that call, a private voice call to
  // it reaches B there (Part A §9; tests/e2e/private_call_test.cc has the rest) ...
  b->SendVoiceCall(GroupCall(3100, 2, kSrcB));
  clients_->Settle(absl::Milliseconds(1300));
  const sim::SentCall voice = a->SendVoiceCall(ControlCall(kSrcB, kSrcA));
  {
    const std::vector<sim::ReceivedCall> got = b->ReceiveFor(absl::Milliseconds(500));
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].stream_id, voice.stream_id);
    EXPECT_EQ(got[0].call_type, proto::CallType::kPrivate);
    EXPECT_EQ(got[0].ts, 2u);
  }
  clients_->Settle(absl::Milliseconds(1300));
  // ... and so does unit data (PROTOCOL.md §3.8): data header + 3 blocks on B's TS2.
  sim::DataCallSpec data;
  data.dst = kSrcB;
  data.ts = 2;
  data.rf_src = kSrcA;
  data.blocks = 3;
  data.cadence = absl::Milliseconds(5);
  const sim::SentCall sent = a->SendDataCall(data);
  const std::vector<sim::ReceivedCall> got = b->ReceiveFor(absl::Milliseconds(500));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].stream_id, sent.stream_id);
  EXPECT_EQ(got[0].tg, kSrcB);
  EXPECT_EQ(got[0].ts, 2u);
  EXPECT_EQ(got[0].repeater_id, kB);
  EXPECT_EQ(got[0].call_type, proto::CallType::kPrivate);
  EXPECT_EQ(got[0].frame_count(), 4u);
  EXPECT_TRUE(got[0].all_55_bytes);
}

TEST_F(DialTest, UnlinkBy4000StopsTheDialledTraffic) {
  HbpClient* a = clients_->Add(kA);
  HbpClient* d = clients_->Add(kD);  // stays linked: proves B's calls are still routed
  HbpClient* b = clients_->Add(kB, "TS1=91");
  clients_->Settle();
  Dial(a, 91, kSrcA);
  Dial(d, 91, kSrcD);

  b->SendVoiceCall(GroupCall(91, 1, kSrcB));
  ExpectOneCall(*a, Delivered(9, 2, kSrcB, kA));
  ExpectOneCall(*d, Delivered(9, 2, kSrcB, kD));

  // A unlinks; once the hang time of that control call has passed, TG 91 would be deliverable.
  a->SendVoiceCall(ControlCall(4000, kSrcA));
  clients_->Settle(absl::Milliseconds(1300));
  b->SendVoiceCall(GroupCall(91, 1, kSrcB));
  ExpectOneCall(*d, Delivered(9, 2, kSrcB, kD));
  ExpectNothing(*a);

  // A's TG 9 now goes nowhere (not linked): B does not hear it.
  clients_->Settle(absl::Milliseconds(500));
  a->SendVoiceCall(GroupCall(9, 2, kSrcA));
  ExpectNothing(*b);
  ExpectNothing(*d);
}

TEST_F(DialTest, DialOptionLinksAtLoginAndUnlinkDropsIt) {
  // DIAL= in the options: linked at once (PROTOCOL.md §3.4/§3.5), no control call needed.
  HbpClient* a = clients_->Add(kA, "DIAL=91");
  HbpClient* b = clients_->Add(kB, "TS1=91");
  clients_->Settle();

  b->SendVoiceCall(GroupCall(91, 1, kSrcB));
  ExpectOneCall(*a, Delivered(9, 2, kSrcB, kA));
  clients_->Settle(absl::Milliseconds(500));
  a->SendVoiceCall(GroupCall(9, 2, kSrcA));
  ExpectOneCall(*b, Delivered(91, 1, kSrcA, kB));

  a->SendVoiceCall(ControlCall(4000, kSrcA));
  clients_->Settle(absl::Milliseconds(1300));
  b->SendVoiceCall(GroupCall(91, 1, kSrcB));
  ExpectNothing(*a);
}

TEST_F(DialTest, DiallingAnotherTgReplacesTheLink) {
  HbpClient* a = clients_->Add(kA);
  HbpClient* b = clients_->Add(kB, "TS1=91;TS2=92");
  clients_->Settle();
  Dial(a, 91, kSrcA);
  Dial(a, 92, kSrcA);

  b->SendVoiceCall(GroupCall(91, 1, kSrcB));
  ExpectNothing(*a);
  clients_->Settle(absl::Milliseconds(100));
  b->SendVoiceCall(GroupCall(92, 2, kSrcB));
  ExpectOneCall(*a, Delivered(9, 2, kSrcB, kA));
}

}  // namespace
}  // namespace dmrswitch::e2e
