// End to end: private calls (PROTOCOL.md Part A §9) through a running dmrswitch-dp with simulated
// hotspots and a FreeDMR FBP peer. A private voice call to a subscriber the hub has heard goes to
// where it was heard — a hotspot's slot or the peer — and nowhere else; private calls from the
// peer are delivered the same way; a call to a subscriber nobody heard is dropped, counted, and
// links the caller to nothing.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/e2e_sim_util.h"
#include "tests/e2e/hub_process.h"

namespace dmrswitch::e2e {
namespace {

using sim::HbpClient;
using sim::ObpMode;
using sim::ObpPeer;
using sim::ReceivedCall;

constexpr uint32_t kServerId = 310999;
constexpr uint32_t kPeerId = 234101;
constexpr uint32_t kHotspotA = 3120501;
constexpr uint32_t kHotspotB = 3120502;
constexpr uint32_t kHotspotC = 3120503;
constexpr uint32_t kRadioA = 3121501;  // on hotspot A, TS2
constexpr uint32_t kRadioB = 3121502;  // on hotspot B, TS1
constexpr uint32_t kRadioP = 2341501;  // behind the FBP peer
constexpr uint32_t kNobody = 3129876;  // never heard

class PrivateCallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hbp_port_ = FreeUdpPort();
    listen_ = FreeUdpPort();
    local_ = FreeUdpPort();
    ctl_ = absl::StrCat(::testing::TempDir(), "/dmrswitch-private-", getpid(), ".sock");
    // C listens to TG 3100 (where the peer's radio is heard first); hang time 1 s keeps the test
    // short (private calls honour it like group calls).
    const std::string toml =
        absl::StrCat(HubHeader(kServerId, hbp_port_, absl::StrCat("ctl_socket = \"", ctl_, "\"\n"),
                               "group_hangtime_s = 1\n"),
                     HbpStatic(kHotspotC, "", "3100"),
                     ObpSection("fdmr", listen_, local_, kPeerId, "passw0rd", 5));
    peer_ = std::make_unique<ObpPeer>(
        PeerOptions(ObpMode::kFbpV5, listen_, local_, kPeerId, "passw0rd"));
    ASSERT_TRUE(peer_->status().ok()) << peer_->status();
    auto hub = HubProcess::Start(toml);
    ASSERT_TRUE(hub.ok()) << hub.status();
    hub_ = *std::move(hub);
    for (uint32_t id : {kHotspotA, kHotspotB, kHotspotC}) {
      clients_.push_back(std::make_unique<HbpClient>(ClientOptions(hbp_port_, id)));
      ASSERT_TRUE(clients_.back()->Login(absl::Seconds(5)).ok()) << clients_.back()->status();
    }
    ASSERT_TRUE(PollUntilLog(*hub_, All(), "peers 1/1 alive", absl::Seconds(4))) << hub_->Log();
    Quiet();
  }

  HbpClient& A() { return *clients_[0]; }
  HbpClient& B() { return *clients_[1]; }
  HbpClient& C() { return *clients_[2]; }
  std::vector<sim::Pollable*> All() {
    return {clients_[0].get(), clients_[1].get(), clients_[2].get(), peer_.get()};
  }
  // Lets the hub settle (locations go into a new snapshot; hang times pass) and forgets what
  // everyone received.
  void Quiet(absl::Duration d = absl::Milliseconds(1300)) {
    sim::PollFor(All(), d);
    for (auto& c : clients_) c->TakeReceived();
    peer_->TakeReceived();
  }
  // `from` sends a call; everyone is polled until it is out and a little longer.
  uint32_t Send(sim::CallEndpoint& from, const sim::VoiceCallSpec& spec) {
    const uint32_t stream = from.StartVoiceCall(spec);
    PollThenSettle(
        All(), [&] { return !from.transmitting(); }, absl::Seconds(5), absl::Milliseconds(400));
    return stream;
  }
  static sim::VoiceCallSpec PrivateCall(uint32_t from, uint32_t to, unsigned ts) {
    sim::VoiceCallSpec s = GroupCall(to, ts, from);
    s.private_call = true;
    return s;
  }
  static sim::ExpectedCall Private(uint32_t from, uint32_t to, unsigned ts, uint32_t receiver,
                                   const sim::VoiceCallSpec& spec) {
    sim::ExpectedCall e;
    e.tg = to;
    e.ts = ts;
    e.rf_src = from;
    e.repeater_id = receiver;
    e.call_type = proto::CallType::kPrivate;
    e.frames = FramesOf(spec);
    return e;
  }
  // Nobody but `except` received anything.
  void ExpectOnlyReceiver(const sim::CallEndpoint* except) {
    for (auto& c : clients_) {
      if (c.get() == except) continue;
      const std::vector<ReceivedCall> got = c->TakeReceived();
      EXPECT_TRUE(got.empty()) << "hotspot " << c->id() << " received " << got.size();
    }
    if (peer_.get() != except) {
      EXPECT_TRUE(peer_->TakeReceived().empty()) << "the peer received a call";
    }
  }
  uint64_t HubDropped() {
    auto r = HubProcess::RunCommand({HubProcess::CtlPath(), "--socket", ctl_, "status"},
                                    absl::Seconds(5));
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return 0;
    const nlohmann::json j = nlohmann::json::parse(r->second, nullptr, false);
    uint64_t n = 0;
    if (!j.is_discarded()) {
      for (const auto& s : j["shards"]) n += s["dropped"].get<uint64_t>();
    }
    return n;
  }

  uint16_t hbp_port_ = 0, listen_ = 0, local_ = 0;
  std::string ctl_;
  std::unique_ptr<HubProcess> hub_;
  std::unique_ptr<ObpPeer> peer_;
  std::vector<std::unique_ptr<HbpClient>> clients_;
};

TEST_F(PrivateCallTest, LocalToLocalBothWays) {
  // B's radio speaks once (a group call on TS1): the hub now knows where it is.
  Send(B(), GroupCall(3200, 1, kRadioB));
  Quiet();
  // A's radio calls it on TS2: only hotspot B hears it, on TS1, addressed to radio B.
  const sim::VoiceCallSpec call = PrivateCall(kRadioA, kRadioB, 2);
  const uint32_t stream = Send(A(), call);
  {
    const std::vector<ReceivedCall> got = B().TakeReceived();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].stream_id, stream);
    const absl::Status st = sim::Verify(got[0], Private(kRadioA, kRadioB, 1, kHotspotB, call));
    EXPECT_TRUE(st.ok()) << st << "\n" << got[0].DebugString();
    ExpectOnlyReceiver(&B());
  }
  // B answers at once (0.4 s later: a conversation waits the collision window only): A hears it
  // on TS2, where its radio was heard calling.
  const sim::VoiceCallSpec answer = PrivateCall(kRadioB, kRadioA, 1);
  const uint32_t answer_stream = Send(B(), answer);
  const std::vector<ReceivedCall> got = A().TakeReceived();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].stream_id, answer_stream);
  const absl::Status st = sim::Verify(got[0], Private(kRadioB, kRadioA, 2, kHotspotA, answer));
  EXPECT_TRUE(st.ok()) << st << "\n" << got[0].DebugString();
  ExpectOnlyReceiver(&A());
}

TEST_F(PrivateCallTest, LocalToPeerAndPeerToLocal) {
  // The peer's radio is heard on TG 3100 (C hears that group call).
  Send(*peer_, GroupCall(3100, 1, kRadioP));
  EXPECT_EQ(C().TakeReceived().size(), 1u);
  Quiet();
  // A's radio calls it: only the peer gets it, as DMRE on the slot it was sent on (FBP as-is).
  const sim::VoiceCallSpec call = PrivateCall(kRadioA, kRadioP, 2);
  const uint32_t stream = Send(A(), call);
  {
    const std::vector<ReceivedCall> got = peer_->TakeReceived();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].stream_id, stream);
    const absl::Status st = sim::Verify(got[0], Private(kRadioA, kRadioP, 2, kServerId, call));
    EXPECT_TRUE(st.ok()) << st << "\n" << got[0].DebugString();
    ASSERT_TRUE(got[0].frames[0].dmre.has_value());
    EXPECT_EQ(got[0].frames[0].dmre->origin_repeater, kHotspotA);
    ExpectOnlyReceiver(peer_.get());
  }
  // The peer's radio answers: delivered to hotspot A on TS2.
  const sim::VoiceCallSpec answer = PrivateCall(kRadioP, kRadioA, 1);
  const uint32_t answer_stream = Send(*peer_, answer);
  const std::vector<ReceivedCall> got = A().TakeReceived();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].stream_id, answer_stream);
  const absl::Status st = sim::Verify(got[0], Private(kRadioP, kRadioA, 2, kHotspotA, answer));
  EXPECT_TRUE(st.ok()) << st << "\n" << got[0].DebugString();
  ExpectOnlyReceiver(&A());
  EXPECT_TRUE(peer_->quenches().empty());
}

TEST_F(PrivateCallTest, UnknownTargetIsDroppedCountedAndLinksNothing) {
  const uint64_t dropped_before = HubDropped();
  const sim::VoiceCallSpec call = PrivateCall(kRadioA, kNobody, 2);
  Send(A(), call);
  ExpectOnlyReceiver(nullptr);
  // Counted (heartbeats carry the shards' counters once a second).
  uint64_t dropped = 0;
  ASSERT_TRUE(sim::PollUntil(
      All(),
      [&] {
        dropped = HubDropped() - dropped_before;
        return dropped >= FramesOf(call);
      },
      absl::Seconds(4)));
  EXPECT_EQ(dropped, FramesOf(call));
  // The caller is linked to nothing: had the call dialled TG 3129876 (FreeDMR's meaning on
  // TS2), A would hear C talking on it, as TG 9.
  Quiet();
  Send(C(), GroupCall(kNobody, 2, 3121503));
  ExpectOnlyReceiver(peer_.get());  // the peer carries every TG >= 80
  peer_->TakeReceived();
  // The peer, asked for a subscriber nobody heard, is quenched once.
  const sim::VoiceCallSpec from_peer = PrivateCall(kRadioP, kNobody, 1);
  const uint32_t stream = Send(*peer_, from_peer);
  ASSERT_EQ(peer_->quenches().size(), 1u);
  EXPECT_EQ(peer_->quenches()[0].stream_id, stream);
  ExpectOnlyReceiver(nullptr);
}

}  // namespace
}  // namespace dmrswitch::e2e
