// End to end: an FBP peer whose stream dmrswitch refuses hears one BCSQ for it, whatever the
// reason — scope, the hub's ACLs, the peer's own ACLs (PROTOCOL.md §2.2: FreeDMR answers every
// drop after the network-ID check with BCSQ; without it a FreeDMR peer keeps sending the whole
// refused stream). A packet that does not carry the peer's network ID gets no answer.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/e2e/e2e_sim_util.h"
#include "tests/e2e/hub_process.h"

namespace dmrswitch::e2e {
namespace {

using sim::HbpClient;
using sim::ObpMode;
using sim::ObpPeer;

constexpr uint32_t kServerId = 310999;
constexpr uint32_t kPeerId = 234101;
constexpr uint32_t kClientId = 3120211;

class FbpQuenchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hbp_port_ = FreeUdpPort();
    listen_ = FreeUdpPort();
    local_ = FreeUdpPort();
    // The hub denies subscriber 2341999 everywhere; the peer's own ACL admits TG 3100..3199.
    const std::string toml = absl::StrCat(
        HubHeader(kServerId, hbp_port_), "[acl]\nsub = \"DENY:1,2341999\"\n\n",
        HbpStatic(kClientId, "", "3100,3200"),
        ObpSection("fdmr", listen_, local_, kPeerId, "passw0rd", 5,
                   "use_acl = true\nsub_acl = \"DENY:1\"\ntgid_acl = \"PERMIT:3100-3199\"\n"));
    sim::ObpPeerOptions o = PeerOptions(ObpMode::kFbpV5, listen_, local_, kPeerId, "passw0rd");
    o.keepalive_interval = absl::Milliseconds(500);
    peer_ = std::make_unique<ObpPeer>(o);
    ASSERT_TRUE(peer_->status().ok()) << peer_->status();
    auto hub = HubProcess::Start(toml);
    ASSERT_TRUE(hub.ok()) << hub.status();
    hub_ = *std::move(hub);
    client_ = std::make_unique<HbpClient>(ClientOptions(hbp_port_, kClientId));
    ASSERT_TRUE(client_->Login(absl::Seconds(5)).ok()) << client_->status();
    ASSERT_TRUE(PollUntilLog(*hub_, All(), "peers 1/1 alive", absl::Seconds(4))) << hub_->Log();
    sim::PollFor(All(), absl::Milliseconds(200));
    client_->TakeReceived();
  }

  std::vector<sim::Pollable*> All() { return {client_.get(), peer_.get()}; }

  // The peer sends a whole call (real cadence) and waits a little for answers.
  void SendFromPeer(const sim::VoiceCallSpec& spec) {
    peer_->StartVoiceCall(spec);
    PollThenSettle(
        All(), [&] { return !peer_->transmitting(); }, absl::Seconds(5), absl::Milliseconds(400));
  }

  uint16_t hbp_port_ = 0, listen_ = 0, local_ = 0;
  std::unique_ptr<HubProcess> hub_;
  std::unique_ptr<ObpPeer> peer_;
  std::unique_ptr<HbpClient> client_;
};

TEST_F(FbpQuenchTest, EveryRefusedStreamIsQuenchedOnceAndAcceptedOnesAreNot) {
  struct Case {
    const char* what;
    uint32_t rf_src;
    uint32_t tg;
  };
  const Case refused[] = {
      {"hub SUB ACL", 2341999, 3100},
      {"peer TGID_ACL", 2341777, 3200},
      {"hub-local TG (scope)", 2341777, 9990},
  };
  uint32_t stream = 0xB5C00001;
  for (const Case& c : refused) {
    SCOPED_TRACE(c.what);
    const size_t before = peer_->quenches().size();
    sim::VoiceCallSpec spec = GroupCall(c.tg, 1, c.rf_src, 3);  // 20 frames
    spec.stream_id = stream++;
    SendFromPeer(spec);
    ASSERT_EQ(peer_->quenches().size(), before + 1) << "one BCSQ for the whole stream";
    EXPECT_EQ(peer_->quenches().back().stream_id, spec.stream_id);
    EXPECT_EQ(peer_->quenches().back().tg, c.tg);
    EXPECT_TRUE(client_->TakeReceived().empty());
  }

  // An accepted stream: heard by the client, no BCSQ.
  const size_t before = peer_->quenches().size();
  sim::VoiceCallSpec ok = GroupCall(3100, 1, 2341777);
  ok.stream_id = stream++;
  SendFromPeer(ok);
  EXPECT_EQ(peer_->quenches().size(), before);
  const std::vector<sim::ReceivedCall> got = client_->TakeReceived();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].stream_id, ok.stream_id);
  EXPECT_EQ(got[0].frame_count(), FramesOf(ok));
}

TEST_F(FbpQuenchTest, APacketWithAnotherNetworkIdIsNotAnswered) {
  // Bytes 11..14 name another network: FreeDMR drops it silently, and so does dmrswitch.
  sim::VoiceCallSpec spec = GroupCall(3100, 1, 2341777, 1);
  spec.repeater_id = 234555;
  const size_t before = peer_->quenches().size();
  SendFromPeer(spec);
  EXPECT_EQ(peer_->quenches().size(), before);
  EXPECT_TRUE(client_->TakeReceived().empty());
}

}  // namespace
}  // namespace dmrswitch::e2e
