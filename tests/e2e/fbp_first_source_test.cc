// End to end: two FreeDMR FBP v5 peers (PROTOCOL.md §2.2–2.3) on their own listeners of a running
// dmrswitch-dp. Keepalives and liveness (Part C: FreeDMR sends nothing before it hears a BCKA, so
// the hub must send BCKA unprompted), and loop election when both peers deliver the same stream
// (§3.7, Part A §2: the source of the *first* packet wins, the loser gets one BCSQ, the client
// hears the call once).

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
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
constexpr uint32_t kPeer1Id = 234101;
constexpr uint32_t kPeer2Id = 234102;
constexpr uint32_t kClientId = 3120201;
constexpr uint32_t kTg = 3100;

class FbpTwoPeersTest : public ::testing::Test {
 protected:
  // `keepalives`: whether the simulated peers send BCKA on their own.
  void StartHubAndPeers(bool keepalives) {
    hbp_port_ = FreeUdpPort();
    for (int i = 0; i < 2; ++i) {
      listen_[i] = FreeUdpPort();
      local_[i] = FreeUdpPort();
    }
    const std::string toml =
        absl::StrCat(HubHeader(kServerId, hbp_port_), HbpStatic(kClientId, "", absl::StrCat(kTg)),
                     ObpSection("fbp-1", listen_[0], local_[0], kPeer1Id, "pass-one", 5),
                     ObpSection("fbp-2", listen_[1], local_[1], kPeer2Id, "pass-two", 5));
    // The peers exist before the hub: the hub's first BCKA (sent at start) reaches them.
    for (int i = 0; i < 2; ++i) {
      sim::ObpPeerOptions o =
          PeerOptions(ObpMode::kFbpV5, listen_[i], local_[i], i == 0 ? kPeer1Id : kPeer2Id,
                      i == 0 ? "pass-one" : "pass-two");
      o.keepalives = keepalives;
      peer_[i] = std::make_unique<ObpPeer>(o);
      ASSERT_TRUE(peer_[i]->status().ok()) << peer_[i]->status();
    }
    auto hub = HubProcess::Start(toml);
    ASSERT_TRUE(hub.ok()) << hub.status();
    hub_ = *std::move(hub);
    client_ = std::make_unique<HbpClient>(ClientOptions(hbp_port_, kClientId));
    ASSERT_TRUE(client_->Login(absl::Seconds(5)).ok()) << client_->status();
    client_->RunFor(absl::Milliseconds(200));
  }

  std::vector<sim::Pollable*> All() { return {client_.get(), peer_[0].get(), peer_[1].get()}; }

  // Both peers send the same call (same stream ID, same frames): peer `first` starts, the other
  // follows half a frame later.
  void SameStreamFromBoth(int first, uint32_t stream_id) {
    ObpPeer* winner = peer_[first].get();
    ObpPeer* loser = peer_[1 - first].get();
    const uint64_t rx_before = client_->counters().dmrd_rx;
    const size_t winner_quenches = winner->quenches().size();
    const size_t loser_quenches = loser->quenches().size();
    sim::VoiceCallSpec spec = GroupCall(kTg, 1, 2341777);
    spec.stream_id = stream_id;
    const size_t n = FramesOf(spec);
    winner->StartVoiceCall(spec);
    sim::PollFor(All(), absl::Milliseconds(30));
    loser->StartVoiceCall(spec);
    PollThenSettle(
        All(),
        [&] {
          return !winner->transmitting() && !loser->transmitting() &&
                 client_->counters().dmrd_rx >= rx_before + n;
        },
        absl::Seconds(5), absl::Milliseconds(400));

    // The client hears the call exactly once: one stream, every frame once, in order.
    const std::vector<ReceivedCall> got = client_->TakeReceived();
    ASSERT_EQ(got.size(), 1u) << "client rx_unknown " << client_->counters().rx_unknown;
    EXPECT_EQ(got[0].stream_id, stream_id);
    EXPECT_EQ(client_->counters().dmrd_rx - rx_before, n) << "duplicate frames reached the client";
    ExpectedCall want;
    want.tg = kTg;
    want.ts = 2;
    want.rf_src = 2341777;
    want.repeater_id = kClientId;
    want.frames = n;
    EXPECT_TRUE(sim::Verify(got[0], want).ok()) << sim::Verify(got[0], want) << "\n"
                                                << got[0].DebugString();

    // The loser is quenched once for this stream; the winner is not.
    ASSERT_EQ(loser->quenches().size(), loser_quenches + 1);
    EXPECT_EQ(loser->quenches().back().stream_id, stream_id);
    EXPECT_EQ(loser->quenches().back().tg, kTg);
    EXPECT_EQ(winner->quenches().size(), winner_quenches);
    // What the peers got back is not checked here (the winner's stream is relayed to the loser
    // until the loser quenches it, as FreeDMR does); forget it.
    winner->TakeReceived();
    loser->TakeReceived();
  }

  uint16_t hbp_port_ = 0, listen_[2] = {0, 0}, local_[2] = {0, 0};
  std::unique_ptr<HubProcess> hub_;
  std::unique_ptr<ObpPeer> peer_[2];
  std::unique_ptr<HbpClient> client_;
};

TEST_F(FbpTwoPeersTest, HubSendsBckaUnpromptedAndRoutesToAPeerOnlyOnceHeard) {
  StartHubAndPeers(/*keepalives=*/false);
  // Neither peer has said anything, yet both hear the hub's BCKA (first at start, then every
  // keepalive_s = 1 s).
  ASSERT_TRUE(sim::PollUntil(
      All(), [&] { return peer_[0]->counters().bcka_rx >= 2 && peer_[1]->counters().bcka_rx >= 2; },
      absl::Seconds(4)))
      << peer_[0]->counters().bcka_rx << " / " << peer_[1]->counters().bcka_rx;
  EXPECT_EQ(peer_[0]->counters().bad_mac, 0u);
  EXPECT_EQ(peer_[1]->counters().bad_mac, 0u);
  EXPECT_TRUE(hub_->WaitForLog("peers 0/2 alive", absl::Seconds(3)));

  // A peer never heard is not alive: a local call goes nowhere.
  const sim::VoiceCallSpec spec = GroupCall(kTg, 2, 3120201);
  client_->StartVoiceCall(spec);
  PollThenSettle(
      All(), [&] { return !client_->transmitting(); }, absl::Seconds(5));
  EXPECT_EQ(peer_[0]->counters().dmre_rx, 0u);
  EXPECT_EQ(peer_[1]->counters().dmre_rx, 0u);

  // Peer 1's BCKA reaches the hub: it becomes alive, and the next call reaches it (only it).
  const size_t log_at = hub_->LogSize();
  peer_[0]->SendBcka();
  EXPECT_TRUE(PollUntilLog(*hub_, All(), "peers 1/2 alive", absl::Seconds(3), log_at))
      << hub_->Log();
  const uint32_t stream = client_->StartVoiceCall(spec);
  PollThenSettle(
      All(),
      [&] { return !client_->transmitting() && peer_[0]->counters().dmre_rx >= FramesOf(spec); },
      absl::Seconds(5));
  EXPECT_EQ(peer_[1]->counters().dmre_rx, 0u);
  const std::vector<ReceivedCall> got = peer_[0]->TakeReceived();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].stream_id, stream);
  ExpectedCall want;
  want.tg = kTg;
  want.ts = 1;
  want.rf_src = 3120201;
  want.repeater_id = kServerId;  // bytes 11..14: our server ID
  want.frames = FramesOf(spec);
  EXPECT_TRUE(sim::Verify(got[0], want).ok()) << sim::Verify(got[0], want);
  for (const sim::ReceivedFrame& f : got[0].frames) {
    ASSERT_TRUE(f.dmre.has_value());
    EXPECT_EQ(f.dmre->version, 5);
    EXPECT_EQ(f.dmre->hops, 1);  // locally originated
    EXPECT_EQ(f.dmre->origin_server, kServerId);
    EXPECT_EQ(f.dmre->origin_repeater, kClientId);
  }
}

TEST_F(FbpTwoPeersTest, SameStreamFromBothPeersFirstPacketWins) {
  StartHubAndPeers(/*keepalives=*/true);
  ASSERT_TRUE(PollUntilLog(*hub_, All(), "peers 2/2 alive", absl::Seconds(4))) << hub_->Log();
  ASSERT_TRUE(sim::PollUntil(
      All(), [&] { return peer_[0]->counters().bcka_rx > 0 && peer_[1]->counters().bcka_rx > 0; },
      absl::Seconds(3)));
  {
    SCOPED_TRACE("peer 1 first");
    SameStreamFromBoth(0, 0x51AE0001);
  }
  client_->RunFor(absl::Milliseconds(500));  // past the collision window of the last call
  {
    // The election follows the first packet, not the configuration order.
    SCOPED_TRACE("peer 2 first");
    SameStreamFromBoth(1, 0x51AE0002);
  }
}

}  // namespace
}  // namespace dmrswitch::e2e
