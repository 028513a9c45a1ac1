// End to end: classic OpenBridge (OBP v1, PROTOCOL.md §2.1, Part A §5) between simulated
// BrandMeister/HBlink3-style peers and HBP clients of a running dmrswitch-dp.
//
// Two v1 peers: "bm" with id_mode = "freedmr" (bytes 11..14 = our server ID; ingress must carry
// its network ID) and "hbl" with id_mode = "hblink3" (bytes 11..14 = its network ID, unchecked).
// One client 3120101 with static TS2 = 3100.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dataplane/proto/bytes.h"
#include "dataplane/proto/hbp.h"
#include "tests/e2e/e2e_sim_util.h"
#include "tests/e2e/hub_process.h"

namespace dmrswitch::e2e {
namespace {

using sim::ExpectedCall;
using sim::HbpClient;
using sim::ObpMode;
using sim::ObpPeer;
using sim::ReceivedCall;

constexpr uint32_t kServerId = 310999;
constexpr uint32_t kBmId = 2341;     // BrandMeister-style network ID, id_mode freedmr
constexpr uint32_t kHblId = 310888;  // HBlink3 network ID, id_mode hblink3
constexpr uint32_t kClientId = 3120101;
constexpr uint32_t kTg = 3100;

class ObpV1Test : public ::testing::Test {
 protected:
  void SetUp() override {
    hbp_port_ = FreeUdpPort();
    bm_listen_ = FreeUdpPort();
    bm_local_ = FreeUdpPort();
    hbl_listen_ = FreeUdpPort();
    hbl_local_ = FreeUdpPort();
    const std::string toml =
        absl::StrCat(HubHeader(kServerId, hbp_port_), HbpStatic(kClientId, "", absl::StrCat(kTg)),
                     ObpSection("bm", bm_listen_, bm_local_, kBmId, "mypass", 1),
                     ObpSection("hbl", hbl_listen_, hbl_local_, kHblId, "hblpass", 1,
                                "id_mode = \"hblink3\"\n"));
    auto hub = HubProcess::Start(toml);
    ASSERT_TRUE(hub.ok()) << hub.status();
    hub_ = *std::move(hub);
    bm_ = std::make_unique<ObpPeer>(
        PeerOptions(ObpMode::kObpV1, bm_listen_, bm_local_, kBmId, "mypass"));
    hbl_ = std::make_unique<ObpPeer>(
        PeerOptions(ObpMode::kObpV1, hbl_listen_, hbl_local_, kHblId, "hblpass"));
    ASSERT_TRUE(bm_->status().ok()) << bm_->status();
    ASSERT_TRUE(hbl_->status().ok()) << hbl_->status();
    client_ = std::make_unique<HbpClient>(ClientOptions(hbp_port_, kClientId));
    ASSERT_TRUE(client_->Login(absl::Seconds(5)).ok()) << client_->status();
    ASSERT_TRUE(hub_->WaitForLog("client 3120101 logged in", absl::Seconds(2)));
    // Let the snapshot with the client and its static reach the shards.
    client_->RunFor(absl::Milliseconds(200));
  }

  std::vector<sim::Pollable*> All() { return {client_.get(), bm_.get(), hbl_.get()}; }

  uint16_t hbp_port_ = 0, bm_listen_ = 0, bm_local_ = 0, hbl_listen_ = 0, hbl_local_ = 0;
  std::unique_ptr<HubProcess> hub_;
  std::unique_ptr<ObpPeer> bm_, hbl_;
  std::unique_ptr<HbpClient> client_;
};

TEST_F(ObpV1Test, PeerCallReachesClientRewrittenToItsSlot) {
  const sim::VoiceCallSpec spec = GroupCall(kTg, 1, 2340001);
  const uint32_t stream = bm_->StartVoiceCall(spec);
  PollThenSettle(
      All(), [&] { return !bm_->transmitting() && client_->counters().dmrd_rx >= FramesOf(spec); },
      absl::Seconds(5));
  const std::vector<ReceivedCall> got = client_->TakeReceived();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].stream_id, stream);
  ExpectedCall want;
  want.tg = kTg;
  want.ts = 2;  // the client's static is on TS2: slot bit rewritten, LC kept
  want.rf_src = 2340001;
  want.repeater_id = kClientId;
  want.frames = FramesOf(spec);
  EXPECT_TRUE(sim::Verify(got[0], want).ok()) << sim::Verify(got[0], want) << "\n"
                                              << got[0].DebugString();
  // Classic OBP peers get local traffic only (relay = false for v1): "hbl" hears nothing.
  EXPECT_EQ(hbl_->counters().dmrd_rx, 0u);
  EXPECT_TRUE(hbl_->TakeReceived().empty());
}

TEST_F(ObpV1Test, ClientCallReachesBothPeersSignedOnTs1WithIdPerMode) {
  const sim::VoiceCallSpec spec = GroupCall(kTg, 2, 3120101);
  const uint32_t stream = client_->StartVoiceCall(spec);
  PollThenSettle(
      All(),
      [&] {
        return !client_->transmitting() && bm_->counters().dmrd_rx >= FramesOf(spec) &&
               hbl_->counters().dmrd_rx >= FramesOf(spec);
      },
      absl::Seconds(5));
  struct Case {
    ObpPeer* peer;
    uint32_t want_id;
  };
  for (const Case& c : {Case{bm_.get(), kServerId}, Case{hbl_.get(), kHblId}}) {
    SCOPED_TRACE(c.peer->options().network_id);
    // dmrd_rx counts only 73-byte frames whose HMAC-SHA1 verified with the peer's passphrase.
    EXPECT_EQ(c.peer->counters().dmrd_rx, FramesOf(spec));
    EXPECT_EQ(c.peer->counters().bad_mac, 0u);
    EXPECT_EQ(c.peer->counters().rx_unknown, 0u);
    EXPECT_EQ(c.peer->counters().bcka_rx, 0u) << "classic OBP has no keepalive";
    const std::vector<ReceivedCall> got = c.peer->TakeReceived();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].stream_id, stream);
    ExpectedCall want;
    want.tg = kTg;
    want.ts = 1;  // OpenBridge is TS1
    want.rf_src = 3120101;
    want.repeater_id = c.want_id;  // freedmr: our server ID; hblink3: the peer's network ID
    want.frames = FramesOf(spec);
    want.frame_bytes = proto::kDmrdShortBytes;  // 53 bytes + 20-byte MAC, as collected
    EXPECT_TRUE(sim::Verify(got[0], want).ok()) << sim::Verify(got[0], want) << "\n"
                                                << got[0].DebugString();
  }
}

TEST_F(ObpV1Test, FramesWithBadHmacAreDropped) {
  sim::VoiceCallSpec spec = GroupCall(kTg, 1, 2340002);
  spec.stream_id = 0x0BAD0001;
  const std::vector<sim::DmrdFrame> frames = sim::BuildVoiceCall(spec, kBmId);
  ObpPeer wrong_key(PeerOptions(ObpMode::kObpV1, bm_listen_, 0, kBmId, "notmypass"));
  // The same call with one MAC bit flipped in every frame: nothing may come through.
  for (const sim::DmrdFrame& f : frames) {
    std::vector<uint8_t> pkt = bm_->Sign(f, absl::Now());
    ASSERT_EQ(pkt.size(), 73u);
    pkt[60] ^= 0x01;
    ASSERT_TRUE(bm_->SendRaw(pkt).ok());
    // A MAC computed with the wrong passphrase, and a MAC over other bytes.
    pkt = wrong_key.Sign(f, absl::Now());
    ASSERT_TRUE(bm_->SendRaw(pkt).ok());
    pkt = bm_->Sign(f, absl::Now());
    pkt[30] ^= 0x40;  // payload changed after signing
    ASSERT_TRUE(bm_->SendRaw(pkt).ok());
    client_->Poll(absl::Milliseconds(20));
  }
  EXPECT_TRUE(client_->ReceiveFor(absl::Milliseconds(500)).empty());
  EXPECT_EQ(client_->counters().dmrd_rx, 0u);

  // The stream ID was not remembered as refused: the same call, correctly signed, goes through.
  bm_->StartFrames(frames, spec.cadence);
  PollThenSettle(
      All(), [&] { return !bm_->transmitting() && client_->counters().dmrd_rx >= frames.size(); },
      absl::Seconds(5));
  const std::vector<ReceivedCall> got = client_->TakeReceived();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].stream_id, spec.stream_id);
  EXPECT_EQ(got[0].frame_count(), frames.size());
}

TEST_F(ObpV1Test, OutOfScopeAndWrongNetworkIdAreDropped) {
  // TS2 (classic OBP is TS1 only), a local-only TG (9990, echo) and, for the freedmr-mode peer,
  // bytes 11..14 that are not its network ID: none reaches the client.
  sim::VoiceCallSpec ts2 = GroupCall(kTg, 2, 2340003);
  sim::VoiceCallSpec echo = GroupCall(9990, 1, 2340004);
  sim::VoiceCallSpec wrong_id = GroupCall(kTg, 1, 2340005);
  wrong_id.repeater_id = 2342;
  bm_->StartVoiceCall(ts2);
  bm_->StartVoiceCall(echo);
  bm_->StartVoiceCall(wrong_id);
  sim::PollUntil(
      All(), [&] { return !bm_->transmitting(); }, absl::Seconds(5));
  EXPECT_TRUE(client_->ReceiveFor(absl::Milliseconds(300)).empty());
  // The hblink3-mode peer's bytes 11..14 are not checked.
  sim::VoiceCallSpec any_id = GroupCall(kTg, 1, 2340006);
  any_id.repeater_id = 12345;
  hbl_->StartVoiceCall(any_id);
  PollThenSettle(
      All(),
      [&] { return !hbl_->transmitting() && client_->counters().dmrd_rx >= FramesOf(any_id); },
      absl::Seconds(5));
  const std::vector<ReceivedCall> got = client_->TakeReceived();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].rf_src, 2340006u);
}

}  // namespace
}  // namespace dmrswitch::e2e
