// End to end, as an attacker who captured a FreeDMR FBP link's packets would try it (issue 14):
//  * a BCKA's MAC covers only the constant "BCKA", so one captured keepalive replays from any
//    address for ever — it must not move the link there (with relax_checks false or true);
//  * a signed call replayed after its terminator must not be routed again, nor later when the
//    hub has forgotten the stream (then its timestamps are stale);
//  * DMRE timestamps too far in the future or the past are dropped.
// The legitimate move stays possible: with relax_checks = true the link follows its peer to a new
// address on a fresh signed call from there.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dataplane/proto/crypto.h"
#include "dataplane/proto/obp.h"
#include "tests/e2e/attack_lab.h"
#include "tests/e2e/e2e_sim_util.h"
#include "tests/e2e/hub_process.h"

namespace dmrswitch::e2e {
namespace {

using sim::HbpClient;
using sim::ObpMode;
using sim::ObpPeer;

constexpr uint32_t kServerId = 310999;
constexpr uint32_t kPeerId = 234101;
constexpr uint32_t kListener = 3120301;  // hears TG 3100 on TS2
constexpr uint32_t kTalker = 3120302;
constexpr uint32_t kTg = 3100;
constexpr char kKey[] = "fbp-key";

// What a peer with `key` sends as its keepalive: byte for byte the same every time.
std::vector<uint8_t> CapturedBcka() {
  const auto key = proto::ObpKeyFromPassphrase(kKey);
  const proto::HmacSha1 hmac({key.data(), key.size()});
  std::vector<uint8_t> b(proto::kBckaBytes);
  b.resize(proto::EncodeBcka(hmac, b));
  return b;
}

class PeerAttackTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(EnterAttackNetwork().ok()) << EnterAttackNetwork(); }

  void Start(bool relax_checks) {
    hbp_port_ = FreeUdpPort();
    obp_port_ = FreeUdpPort();
    peer_port_ = FreeUdpPort();
    // The peer exists first: the hub's first BCKA (at start) reaches it.
    peer_ = MakePeer(LabHost(20), peer_port_);
    const std::string toml = absl::StrCat(
        HubHeader(kServerId, hbp_port_), HbpStatic(kListener, "", absl::StrCat(kTg)),
        "[[obp]]\nname = \"fdmr\"\nlisten = \"127.0.0.1:", obp_port_, "\"\ntarget = \"",
        LabHost(20), ":", peer_port_, "\"\nnetwork_id = ", kPeerId, "\npassphrase = \"", kKey,
        "\"\nversion = 5\nkeepalive_s = 1\ndead_after_s = 10\nrelax_checks = ",
        relax_checks ? "true" : "false", "\n");
    auto hub = HubProcess::Start(toml);
    ASSERT_TRUE(hub.ok()) << hub.status();
    hub_ = *std::move(hub);
    for (uint32_t id : {kListener, kTalker}) {
      sim::HbpClientOptions o = ClientOptions(hbp_port_, id);
      auto c = std::make_unique<HbpClient>(o);
      ASSERT_TRUE(c->Login(absl::Seconds(5)).ok()) << c->status();
      (id == kListener ? listener_ : talker_) = std::move(c);
    }
    ASSERT_TRUE(PollUntilLog(*hub_, All(), "peers 1/1 alive", absl::Seconds(5))) << hub_->Log();
  }

  std::unique_ptr<ObpPeer> MakePeer(const std::string& host, uint16_t port,
                                    absl::Duration timestamp_offset = absl::ZeroDuration()) {
    sim::ObpPeerOptions o = PeerOptions(ObpMode::kFbpV5, obp_port_, port, kPeerId, kKey);
    o.local = {host, port};
    o.keepalive_interval = absl::Seconds(1);
    o.timestamp_offset = timestamp_offset;
    auto p = std::make_unique<ObpPeer>(o);
    EXPECT_TRUE(p->status().ok()) << p->status();
    return p;
  }

  std::vector<sim::Pollable*> All() {
    std::vector<sim::Pollable*> v = {listener_.get(), talker_.get(), peer_.get()};
    for (ObpPeer* x : extra_) v.push_back(x);
    return v;
  }

  // A call from `from` (TS1, TG 3100), signed as it goes; returns the datagrams sent, byte for
  // byte, for replaying.
  std::vector<std::vector<uint8_t>> SendCall(ObpPeer* from, uint32_t stream_id) {
    sim::VoiceCallSpec spec = GroupCall(kTg, 1, 2341777);
    spec.stream_id = stream_id;
    std::vector<std::vector<uint8_t>> sent;
    for (const sim::DmrdFrame& f : sim::BuildVoiceCall(spec, kPeerId)) {
      sent.push_back(from->Sign(f, absl::Now()));
      EXPECT_TRUE(from->SendRaw(sent.back()).ok());
      sim::PollFor(All(), absl::Milliseconds(60));
    }
    return sent;
  }
  void Replay(ObpPeer* from, const std::vector<std::vector<uint8_t>>& datagrams) {
    for (const auto& d : datagrams) {
      EXPECT_TRUE(from->SendRaw(d).ok());
      sim::PollFor(All(), absl::Milliseconds(60));
    }
  }
  // Frames the listener got within `settle` (after what was already queued).
  size_t ListenerFrames(absl::Duration settle = absl::Milliseconds(600)) {
    sim::PollFor(All(), settle);
    size_t n = 0;
    for (const sim::ReceivedCall& c : listener_->TakeReceived()) n += c.frames.size();
    return n;
  }

  uint16_t hbp_port_ = 0, obp_port_ = 0, peer_port_ = 0;
  std::unique_ptr<HubProcess> hub_;
  std::unique_ptr<ObpPeer> peer_;
  std::vector<ObpPeer*> extra_;
  std::unique_ptr<HbpClient> listener_, talker_;
};

class KeepaliveReplayTest : public PeerAttackTest, public ::testing::WithParamInterface<bool> {};

TEST_P(KeepaliveReplayTest, AReplayedKeepaliveFromElsewhereDoesNotMoveTheLink) {
  const bool relax = GetParam();
  ASSERT_NO_FATAL_FAILURE(Start(relax));
  // The attacker's own socket: sends the captured keepalive and catches anything the hub sends
  // there.
  auto attacker_socket = sim::UdpSocket::Open({LabHost(66), 40066});
  ASSERT_TRUE(attacker_socket.ok()) << attacker_socket.status();
  sim::UdpSocket attacker = *std::move(attacker_socket);
  auto hub_sa = sim::ToSockaddr({"127.0.0.1", obp_port_});
  ASSERT_TRUE(hub_sa.ok());
  const std::vector<uint8_t> bcka = CapturedBcka();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(attacker.SendTo(bcka, *hub_sa).ok());
    sim::PollFor(All(), absl::Milliseconds(200));
  }
  // The hub still greets the real peer, and a local call reaches it — not the attacker.
  const absl::Time since = absl::Now();
  sim::PollFor(All(), absl::Milliseconds(1500));
  EXPECT_GT(peer_->last_bcka(), since) << "the hub stopped greeting the real peer";
  const sim::VoiceCallSpec call = GroupCall(kTg, 2, kTalker);
  talker_->SendVoiceCall(call);
  sim::PollFor(All(), absl::Milliseconds(600));
  size_t at_peer = 0;
  for (const sim::ReceivedCall& c : peer_->TakeReceived()) at_peer += c.frames.size();
  EXPECT_EQ(at_peer, FramesOf(call));
  uint8_t buf[256];
  size_t to_attacker = 0;
  for (;;) {
    auto d = attacker.Receive(buf);
    if (!d.ok() || !d->has_value()) break;
    ++to_attacker;
  }
  EXPECT_EQ(to_attacker, 0u) << "the link moved to the replayer";
  EXPECT_EQ(hub_->Log().find("0/1 alive", hub_->Log().find("1/1 alive")), std::string::npos)
      << hub_->Log();
}

INSTANTIATE_TEST_SUITE_P(RelaxChecks, KeepaliveReplayTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "relaxed" : "strict"; });

TEST_F(PeerAttackTest, WithRelaxChecksTheLinkFollowsAFreshSignedCallToANewAddress) {
  ASSERT_NO_FATAL_FAILURE(Start(/*relax_checks=*/true));
  // The peer is behind a NAT that rebinds: the same peer (same key) now at another address.
  std::unique_ptr<ObpPeer> moved = MakePeer(LabHost(21), FreeUdpPort());
  extra_.push_back(moved.get());
  SendCall(moved.get(), 0x71000001);
  EXPECT_EQ(ListenerFrames(), 2 + 6 * 2u) << "the call from the new address was routed";
  const absl::Time since = absl::Now();
  sim::PollFor(All(), absl::Milliseconds(1500));
  EXPECT_GT(moved->last_bcka(), since) << "the hub did not follow its peer";
}

TEST_F(PeerAttackTest, ASignedCallReplayedAfterItsTerminatorIsDropped) {
  ASSERT_NO_FATAL_FAILURE(Start(/*relax_checks=*/true));
  const std::vector<std::vector<uint8_t>> captured = SendCall(peer_.get(), 0x72000001);
  ASSERT_EQ(ListenerFrames(), captured.size()) << "the original call";

  // One second after the terminator, from the peer's own address: nothing.
  sim::PollFor(All(), absl::Seconds(1));
  Replay(peer_.get(), captured);
  EXPECT_EQ(ListenerFrames(), 0u) << "a replayed call was routed again";
  // From another address (relax_checks accepts any source with a valid MAC): nothing either.
  std::unique_ptr<ObpPeer> replayer = MakePeer(LabHost(67), FreeUdpPort());
  extra_.push_back(replayer.get());
  Replay(replayer.get(), captured);
  EXPECT_EQ(ListenerFrames(), 0u) << "a replayed call from elsewhere was routed";
  // After the hub has forgotten the stream (hbp.stream_forget_s = 10, at least 2 × fbp.max_age_s
  // + 1 = 11 s), the frames are stale.
  sim::PollFor(All(), absl::Seconds(11));
  Replay(peer_.get(), captured);
  EXPECT_EQ(ListenerFrames(), 0u) << "a replay outlived the hub's memory";
  // A new call still goes through.
  SendCall(peer_.get(), 0x72000002);
  EXPECT_EQ(ListenerFrames(), captured.size());
}

TEST_F(PeerAttackTest, DmreFromTheFutureOrThePastIsDropped) {
  ASSERT_NO_FATAL_FAILURE(Start(/*relax_checks=*/true));
  struct Case {
    absl::Duration offset;
    bool routed;
  } cases[] = {
      {absl::Seconds(60), false}, {absl::Hours(24 * 365), false}, {absl::Seconds(-60), false},
      {absl::Seconds(3), true},   {absl::Seconds(-3), true},
  };
  uint32_t stream = 0x73000000;
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat("timestamp offset ", absl::FormatDuration(c.offset)));
    peer_.reset();
    peer_ = MakePeer(LabHost(20), peer_port_, c.offset);
    const auto sent = SendCall(peer_.get(), ++stream);
    EXPECT_EQ(ListenerFrames(), c.routed ? sent.size() : 0u);
    if (!c.routed) {
      EXPECT_FALSE(peer_->quenches().empty()) << "refused with BCSQ";
    }
  }
}

}  // namespace
}  // namespace dmrswitch::e2e
