// End to end: what rides inside a call survives the hub (PROTOCOL.md Part A §2) — talker alias
// and GPS in the embedded LC of bursts B–E reach the other hotspot and the FBP peer byte for
// byte when the TG is not rewritten; group data and unit data (data header, rate ½ and ¾ blocks)
// reach the TG's listeners and the target's hotspot byte for byte; malformed data of every data
// type neither stops the hub nor the next call.

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dataplane/proto/dmr_lc.h"
#include "tests/e2e/e2e_sim_util.h"
#include "tests/e2e/hub_process.h"

namespace dmrswitch::e2e {
namespace {

using sim::DmrdFrame;
using sim::HbpClient;
using sim::ObpMode;
using sim::ObpPeer;
using sim::ReceivedCall;

constexpr uint32_t kServerId = 310997;
constexpr uint32_t kPeerId = 234103;
constexpr uint32_t kHotspotA = 3120701;
constexpr uint32_t kHotspotB = 3120702;
constexpr uint32_t kRadioA = 3121701;
constexpr uint32_t kRadioB = 3121702;
constexpr uint32_t kTg = 3100;

// A talker alias header (FLCO 4, "DL1ABC") and a GPS LC (FLCO 8) as radios send them in the
// embedded LC of whole superframes.
proto::dmr::Lc AliasLc() {
  proto::dmr::Lc lc{};
  lc.bytes = {0x04, 0x00, 0x4C, 0x89, 0x19, 0x05, 0x04, 0x08, 0x70};
  return lc;
}
proto::dmr::Lc GpsLc() {
  proto::dmr::Lc lc{};
  lc.bytes = {0x08, 0x00, 0x03, 0x5A, 0x3C, 0x71, 0x14, 0xB2, 0x9E};
  return lc;
}

class InBandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hbp_port_ = FreeUdpPort();
    listen_ = FreeUdpPort();
    local_ = FreeUdpPort();
    const std::string toml =
        absl::StrCat(HubHeader(kServerId, hbp_port_, "", "group_hangtime_s = 1\n"),
                     HbpStatic(kHotspotA, "", "3100"), HbpStatic(kHotspotB, "", "3100"),
                     ObpSection("fdmr", listen_, local_, kPeerId, "passw0rd", 5));
    peer_ = std::make_unique<ObpPeer>(
        PeerOptions(ObpMode::kFbpV5, listen_, local_, kPeerId, "passw0rd"));
    ASSERT_TRUE(peer_->status().ok()) << peer_->status();
    auto hub = HubProcess::Start(toml);
    ASSERT_TRUE(hub.ok()) << hub.status();
    hub_ = *std::move(hub);
    for (uint32_t id : {kHotspotA, kHotspotB}) {
      clients_.push_back(std::make_unique<HbpClient>(ClientOptions(hbp_port_, id)));
      ASSERT_TRUE(clients_.back()->Login(absl::Seconds(5)).ok()) << clients_.back()->status();
    }
    ASSERT_TRUE(PollUntilLog(*hub_, All(), "peers 1/1 alive", absl::Seconds(4))) << hub_->Log();
    Quiet();
  }

  HbpClient& A() { return *clients_[0]; }
  HbpClient& B() { return *clients_[1]; }
  std::vector<sim::Pollable*> All() { return {clients_[0].get(), clients_[1].get(), peer_.get()}; }
  void Quiet(absl::Duration d = absl::Milliseconds(1300)) {
    sim::PollFor(All(), d);
    for (auto& c : clients_) c->TakeReceived();
    peer_->TakeReceived();
  }
  // Sends `frames` from `from` at 60 ms and polls everyone until they are out, then 500 ms.
  void Send(HbpClient& from, std::vector<DmrdFrame> frames) {
    from.StartFrames(std::move(frames), absl::Milliseconds(60));
    PollThenSettle(
        All(), [&] { return !from.transmitting(); }, absl::Seconds(10), absl::Milliseconds(500));
  }

  // `got` is `sent` as a hotspot receives it: the same 55 bytes but for bytes 11..14 (the
  // receiving hotspot's ID).
  static void ExpectSameFramesAtHotspot(const ReceivedCall& got, const std::vector<DmrdFrame>& sent,
                                        uint32_t receiver) {
    ASSERT_EQ(got.frames.size(), sent.size()) << got.DebugString();
    for (size_t i = 0; i < sent.size(); ++i) {
      DmrdFrame expected = sent[i];
      proto::StoreBe32(expected.data() + proto::dmrd_offset::kRepeaterId, receiver);
      ASSERT_EQ(got.frames[i].length, proto::kDmrdBytes);
      EXPECT_EQ(std::vector<uint8_t>(got.frames[i].bytes.begin(), got.frames[i].bytes.end()),
                std::vector<uint8_t>(expected.begin(), expected.end()))
          << "frame " << i;
    }
  }
  // ... and as the FBP peer receives it: DMRE, bytes 4..10 and 15..54 (sequence, addresses,
  // flags, stream ID, the 33-byte burst, BER, RSSI) as sent, but for the slot bit: a group call
  // is carried on the peer's single conference slot, TS1.
  static void ExpectSameFramesAtPeer(const ReceivedCall& got, const std::vector<DmrdFrame>& sent) {
    ASSERT_EQ(got.frames.size(), sent.size()) << got.DebugString();
    for (size_t i = 0; i < sent.size(); ++i) {
      const auto& b = got.frames[i].bytes;
      EXPECT_EQ(std::memcmp(b.data() + 4, sent[i].data() + 4, 7), 0) << "frame " << i;
      EXPECT_EQ(b[proto::dmrd_offset::kFlags], sent[i][proto::dmrd_offset::kFlags] & 0x7F)
          << "frame " << i;
      EXPECT_EQ(std::memcmp(b.data() + 16, sent[i].data() + 16, 39), 0) << "frame " << i;
    }
  }

  uint16_t hbp_port_ = 0, listen_ = 0, local_ = 0;
  std::unique_ptr<HubProcess> hub_;
  std::unique_ptr<ObpPeer> peer_;
  std::vector<std::unique_ptr<HbpClient>> clients_;
};

TEST_F(InBandTest, TalkerAliasAndGpsReachTheOtherHotspotAndThePeerByteForByte) {
  sim::VoiceCallSpec spec = GroupCall(kTg, 2, kRadioA, 3);
  spec.ber = 4;
  spec.rssi = 66;
  std::vector<DmrdFrame> call = sim::BuildVoiceCall(spec, A().id());
  // Superframe 2 carries the talker alias, superframe 3 GPS (bursts B–E; header is frame 0).
  const auto alias = proto::dmr::EncodeEmbeddedLc(AliasLc());
  const auto gps = proto::dmr::EncodeEmbeddedLc(GpsLc());
  for (size_t k = 1; k <= 2; ++k) {
    for (size_t b = 0; b < 4; ++b) {
      DmrdFrame& f = call.at(1 + 6 * k + 1 + b);
      proto::dmr::SetEmbeddedFragment(
          proto::dmr::Burst(f.data() + proto::dmrd_offset::kPayload, proto::dmr::kBurstBytes),
          (k == 1 ? alias : gps)[b]);
    }
  }
  Send(A(), call);
  const std::vector<ReceivedCall> at_b = B().TakeReceived();
  ASSERT_EQ(at_b.size(), 1u);
  ExpectSameFramesAtHotspot(at_b[0], call, kHotspotB);
  const std::vector<ReceivedCall> at_peer = peer_->TakeReceived();
  ASSERT_EQ(at_peer.size(), 1u);
  ExpectSameFramesAtPeer(at_peer[0], call);
  EXPECT_TRUE(A().TakeReceived().empty());
}

TEST_F(InBandTest, GroupAndUnitDataOfEveryBlockRateArriveByteForByte) {
  // Group data on the TG: the other hotspot and the peer.
  for (uint8_t rate : {uint8_t{7}, uint8_t{8}}) {
    sim::DataCallSpec spec;
    spec.dst = kTg;
    spec.ts = 2;
    spec.rf_src = kRadioA;
    spec.blocks = 4;
    spec.private_call = false;
    std::vector<DmrdFrame> data = sim::BuildDataCall(spec, A().id());
    if (rate == 8) {
      // Rate ¾ blocks: data type 8 in the flags (the burst content is opaque to the hub).
      for (size_t i = 1; i < data.size(); ++i) {
        auto& flags = data[i][proto::dmrd_offset::kFlags];
        flags = static_cast<uint8_t>((flags & 0xF0) | 0x08);
      }
    }
    Send(A(), data);
    const std::vector<ReceivedCall> at_b = B().TakeReceived();
    ASSERT_EQ(at_b.size(), 1u) << "rate " << int{rate};
    ExpectSameFramesAtHotspot(at_b[0], data, kHotspotB);
    const std::vector<ReceivedCall> at_peer = peer_->TakeReceived();
    ASSERT_EQ(at_peer.size(), 1u);
    ExpectSameFramesAtPeer(at_peer[0], data);
    Quiet(absl::Milliseconds(1500));  // hang time
  }
  // Unit data (an SMS) to B's radio once it was heard on B's TS2: B alone, byte for byte.
  Send(B(), sim::BuildVoiceCall(GroupCall(3200, 2, kRadioB, 1), B().id()));
  Quiet(absl::Milliseconds(1500));
  sim::DataCallSpec sms;
  sms.dst = kRadioB;
  sms.ts = 2;
  sms.rf_src = kRadioA;
  sms.blocks = 6;
  const std::vector<DmrdFrame> unit = sim::BuildDataCall(sms, A().id());
  Send(A(), unit);
  const std::vector<ReceivedCall> at_b = B().TakeReceived();
  ASSERT_EQ(at_b.size(), 1u);
  ExpectSameFramesAtHotspot(at_b[0], unit, kHotspotB);
  EXPECT_TRUE(peer_->TakeReceived().empty()) << "the target is local: no copy to the peer";
}

TEST_F(InBandTest, MalformedDataStopsNeitherTheHubNorTheNextCall) {
  // Every data type, group and unit, without header, with garbage bursts, 53 and 55 bytes, and
  // stray frames of one stream across slots.
  uint32_t x = 0x1234567;
  auto next = [&] {
    x = x * 1103515245u + 12345u;
    return static_cast<uint8_t>(x >> 24);
  };
  for (unsigned type = 0; type < 16; ++type) {
    for (bool unit : {false, true}) {
      for (int i = 0; i < 3; ++i) {
        std::vector<uint8_t> f(proto::kDmrdBytes);
        std::memcpy(f.data(), "DMRD", 4);
        f[4] = static_cast<uint8_t>(i);
        proto::StoreBe24(f.data() + 5, kRadioA);
        proto::StoreBe24(f.data() + 8, unit ? kRadioB : kTg);
        proto::StoreBe32(f.data() + 11, kHotspotA);
        f[15] = static_cast<uint8_t>(((i & 1) ? 0x80 : 0) | (unit ? 0x40 : 0) | 0x20 | type);
        proto::StoreBe32(f.data() + 16, 0x5EED0000 + type * 2 + (unit ? 1 : 0));
        for (size_t k = 20; k < f.size(); ++k) f[k] = next();
        if (type & 1) f.resize(53);
        ASSERT_TRUE(A().SendRaw(f).ok());
        sim::PollFor(All(), absl::Milliseconds(20));
      }
    }
  }
  Quiet(absl::Seconds(7));  // every one of them is over (silence), slots free again
  const std::vector<DmrdFrame> call = sim::BuildVoiceCall(GroupCall(kTg, 2, kRadioA, 2), A().id());
  Send(A(), call);
  const std::vector<ReceivedCall> at_b = B().TakeReceived();
  ASSERT_EQ(at_b.size(), 1u);
  ExpectSameFramesAtHotspot(at_b[0], call, kHotspotB);
  EXPECT_EQ(peer_->TakeReceived().size(), 1u);
  EXPECT_TRUE(hub_->running());
}

}  // namespace
}  // namespace dmrswitch::e2e
