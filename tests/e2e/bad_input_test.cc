// End to end: a barrage of malformed, spoofed and unauthenticated datagrams against a running
// dmrswitch-dp (issue #3 "Bad input"; PROTOCOL.md Part A §4 and §6, §1.5, §2). While two clients
// are logged in and talking, strangers and one client's own socket send every malformed class on
// the HBP listener and both OpenBridge listeners, then random garbage, then a login flood. The hub
// must stay up with bounded memory, answer nothing it should not (an RPTL flood: one RPTACK each),
// and the clients must still talk to each other and get MSTPONG afterwards.

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dataplane/proto/bytes.h"
#include "dataplane/proto/crypto.h"
#include "dataplane/proto/hbp.h"
#include "dataplane/proto/obp.h"
#include "tests/e2e/e2e_sim_util.h"
#include "tests/e2e/hub_process.h"

namespace dmrswitch::e2e {
namespace {

using sim::ExpectedCall;
using sim::HbpClient;
using sim::ObpMode;
using sim::ObpPeer;
using sim::ReceivedCall;
using sim::UdpSocket;
using Bytes = std::vector<uint8_t>;

constexpr uint32_t kServerId = 310999;
constexpr uint32_t kClientA = 3120401;
constexpr uint32_t kClientB = 3120402;
constexpr uint32_t kObpId = 2341;
constexpr uint32_t kFbpId = 234101;
constexpr uint32_t kTg = 3100;
constexpr uint32_t kLoginBurst = 30;
constexpr uint64_t kMaxRssGrowthKib = 4 * 1024;

// Every HBP tag with its one legal length (RPTO: the shortest).
struct Tag {
  const char* tag;
  size_t length;
};
constexpr Tag kHbpTags[] = {
    {"RPTL", 8},     {"RPTK", 40}, {"RPTC", 302},   {"RPTO", 8},    {"RPTPING", 11},
    {"RPTCL", 9},    {"DMRD", 55}, {"DMRA", 15},    {"DMRA", 19},   {"DMRG", 14},
    {"DMRG", 18},    {"RPTG", 25}, {"DMRC", 119},   {"RPTACK", 10}, {"MSTNAK", 10},
    {"MSTPONG", 11}, {"MSTCL", 9}, {"RPTSBKN", 11},
};

// `tag` + `id` (big-endian, right after the tag, if it fits) + filler, exactly `length` bytes.
Bytes Packet(std::string_view tag, size_t length, uint32_t id, uint8_t fill = 0x20) {
  Bytes b(length, fill);
  std::memcpy(b.data(), tag.data(), std::min(tag.size(), length));
  if (tag.size() + 4 <= length) proto::StoreBe32(b.data() + tag.size(), id);
  return b;
}

// A 55-byte voice burst of a group call on TS2 TG 3100 from `repeater_id`.
Bytes Dmrd(uint32_t repeater_id, uint32_t rf_src, uint32_t stream_id, uint8_t seq,
           size_t length = proto::kDmrdBytes) {
  sim::VoiceCallSpec spec = GroupCall(kTg, 2, rf_src, 1);
  spec.stream_id = stream_id == 0 ? 1 : stream_id;
  const std::vector<sim::DmrdFrame> frames = sim::BuildVoiceCall(spec, repeater_id);
  Bytes b(frames[2].begin(), frames[2].end());
  b[proto::dmrd_offset::kSeq] = seq;
  proto::StoreBe32(b.data() + proto::dmrd_offset::kStreamId, stream_id);
  b.resize(length, 0);
  return b;
}

// The malformed HBP classes: empty, 1..3 bytes, every tag truncated (tag only, one short) and
// oversized (one long, and longer than any accepted datagram), wrong magic, DMRD with stream ID
// 0, 54-byte DMRD. `id` goes where the tag's ID goes.
std::vector<Bytes> MalformedHbp(uint32_t id) {
  std::vector<Bytes> v;
  v.push_back({});
  v.push_back({'D'});
  v.push_back({'D', 'M'});
  v.push_back({'R', 'P', 'T'});
  for (const Tag& t : kHbpTags) {
    const size_t tag_len = std::strlen(t.tag);
    v.push_back(Packet(t.tag, tag_len, id));
    v.push_back(Packet(t.tag, t.length - 1, id));
    if (std::string_view(t.tag) != "RPTO") v.push_back(Packet(t.tag, t.length + 1, id));
    v.push_back(Packet(t.tag, 309, id));   // longer than the longest RPTO
    v.push_back(Packet(t.tag, 1400, id));  // longer than the hub's receive buffer
  }
  for (const char* magic : {"DMRX", "dmrd", "XXXX", "RPT ", "MST ", "DMR\0"}) {
    Bytes b = Dmrd(id, 2340001, 0x7777, 0);
    std::memcpy(b.data(), magic, 4);
    v.push_back(b);
  }
  v.push_back(Dmrd(id, 2340001, 0, 0));           // stream ID 0
  v.push_back(Dmrd(id, 2340001, 0x5454, 0, 54));  // 54 bytes
  v.push_back(Dmrd(id, 2340001, 0x5656, 0, 56));  // 56 bytes
  v.push_back(Dmrd(id, 2340001, 0x7171, 0, 71));  // DMRGateway trunking length
  return v;
}

// OpenBridge frames that must all be refused: bad MACs on every packet type, wrong lengths.
std::vector<Bytes> BadObp(const ObpPeer& v1, const ObpPeer& v5, uint32_t stream_id) {
  std::vector<Bytes> v;
  sim::VoiceCallSpec spec = GroupCall(kTg, 1, 2340009, 1);
  spec.stream_id = stream_id;
  const std::vector<sim::DmrdFrame> frames = sim::BuildVoiceCall(spec, kObpId);
  for (const sim::DmrdFrame& f : frames) {
    Bytes a = v1.Sign(f, absl::Now());  // 73 bytes, HMAC-SHA1
    a[a.size() - 1] ^= 0x80;
    v.push_back(a);
    Bytes e = v5.Sign(f, absl::Now());  // 89 bytes, BLAKE2b
    e[80] ^= 0x01;
    v.push_back(e);
    Bytes e2 = v5.Sign(f, absl::Now());
    e2[30] ^= 0x01;  // payload changed after signing
    v.push_back(e2);
  }
  Bytes good_v1 = v1.Sign(frames[0], absl::Now());
  Bytes good_v5 = v5.Sign(frames[0], absl::Now());
  for (size_t n : {good_v1.size() - 1, good_v1.size() + 1}) {
    Bytes b = good_v1;
    b.resize(n, 0);
    v.push_back(b);
  }
  for (size_t n : {size_t{84}, size_t{85}, size_t{86}, size_t{88}, size_t{90}}) {
    Bytes b = good_v5;
    b.resize(n, 0);
    v.push_back(b);
  }
  // Bridge control with bad MACs (a bad BCKA must not move the target, a bad BCSQ must not
  // quench anything).
  for (const char* tag : {"BCKA", "BCST"}) v.push_back(Packet(tag, proto::kBckaBytes, 0, 0x55));
  Bytes bcsq = Packet("BCSQ", proto::kBcsqBytes, 0, 0x55);
  proto::StoreBe24(bcsq.data() + 4, kTg);
  proto::StoreBe32(bcsq.data() + 7, stream_id);
  v.push_back(bcsq);
  v.push_back(Packet("BCVE", proto::kBcveBytes, 0, 0x55));
  for (const char* tag : {"BCKA", "BCSQ", "BCVE", "BCST", "DMRE", "DMRF", "EOBP"}) {
    v.push_back(Packet(tag, 4, 0));
    v.push_back(Packet(tag, 200, 0));
  }
  return v;
}

class Stranger {
 public:
  explicit Stranger(uint16_t hub_port) {
    auto s = UdpSocket::Open({"127.0.0.1", 0}, sim::Endpoint{"127.0.0.1", hub_port});
    if (s.ok()) socket_ = *std::move(s);
  }
  bool ok() const { return socket_.is_open(); }
  void Send(const Bytes& b) { (void)socket_.Send(b); }
  // Drains what arrived; counts the datagrams that start with `tag_prefix` (all if empty).
  size_t Drain(std::string_view tag_prefix = "") {
    size_t n = 0;
    std::array<uint8_t, 2048> buf;
    for (;;) {
      auto d = socket_.Receive(buf);
      if (!d.ok()) continue;  // ICMP error
      if (!d->has_value()) break;
      const size_t len = (*d)->length;
      if (tag_prefix.empty() ||
          (len >= tag_prefix.size() &&
           std::memcmp(buf.data(), tag_prefix.data(), tag_prefix.size()) == 0)) {
        ++n;
      }
    }
    return n;
  }

 private:
  UdpSocket socket_;
};

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hbp_port_ = FreeUdpPort();
    obp_listen_ = FreeUdpPort();
    obp_local_ = FreeUdpPort();
    fbp_listen_ = FreeUdpPort();
    fbp_local_ = FreeUdpPort();
    const std::string toml = absl::StrCat(
        HubHeader(kServerId, hbp_port_, "",
                  absl::StrCat("login_burst = ", kLoginBurst,
                               "\nlogin_window_s = 60\nlogin_block_s = 2\n")),
        HbpStatic(kClientA, "", absl::StrCat(kTg)), HbpStatic(kClientB, "", absl::StrCat(kTg)),
        ObpSection("obp", obp_listen_, obp_local_, kObpId, "mypass", 1),
        ObpSection("fbp", fbp_listen_, fbp_local_, kFbpId, "fbppass", 5));
    auto hub = HubProcess::Start(toml);
    ASSERT_TRUE(hub.ok()) << hub.status();
    hub_ = *std::move(hub);
    a_ = std::make_unique<HbpClient>(ClientOptions(hbp_port_, kClientA));
    b_ = std::make_unique<HbpClient>(ClientOptions(hbp_port_, kClientB));
    ASSERT_TRUE(a_->Login(absl::Seconds(5)).ok()) << a_->status();
    ASSERT_TRUE(b_->Login(absl::Seconds(5)).ok()) << b_->status();
    obp_ = std::make_unique<ObpPeer>(
        PeerOptions(ObpMode::kObpV1, obp_listen_, obp_local_, kObpId, "mypass"));
    fbp_ = std::make_unique<ObpPeer>(
        PeerOptions(ObpMode::kFbpV5, fbp_listen_, fbp_local_, kFbpId, "fbppass"));
    ASSERT_TRUE(PollUntilLog(*hub_, All(), "peers 2/2 alive", absl::Seconds(4))) << hub_->Log();
  }

  std::vector<sim::Pollable*> All() { return {a_.get(), b_.get(), obp_.get(), fbp_.get()}; }

  // A complete call from A reaches B (and nobody else hears anything unexpected).
  void ExpectCallAToB(uint32_t rf_src) {
    const sim::VoiceCallSpec spec = GroupCall(kTg, 2, rf_src);
    const uint64_t before = b_->counters().dmrd_rx;
    const uint32_t stream = a_->StartVoiceCall(spec);
    PollThenSettle(
        All(),
        [&] { return !a_->transmitting() && b_->counters().dmrd_rx >= before + FramesOf(spec); },
        absl::Seconds(5));
    const std::vector<ReceivedCall> got = b_->TakeReceived();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].stream_id, stream);
    ExpectedCall want;
    want.tg = kTg;
    want.ts = 2;
    want.rf_src = rf_src;
    want.repeater_id = kClientB;
    want.frames = FramesOf(spec);
    EXPECT_TRUE(sim::Verify(got[0], want).ok()) << sim::Verify(got[0], want);
    a_->RunFor(absl::Milliseconds(400));  // past the collision window
    for (auto* p : {obp_.get(), fbp_.get()}) p->TakeReceived();
    a_->TakeReceived();
  }

  uint16_t hbp_port_ = 0, obp_listen_ = 0, obp_local_ = 0, fbp_listen_ = 0, fbp_local_ = 0;
  std::unique_ptr<HubProcess> hub_;
  std::unique_ptr<HbpClient> a_, b_;
  std::unique_ptr<ObpPeer> obp_, fbp_;
};

TEST_F(BadInputTest, BarrageLeavesHubUpClientsTalkingAndMemoryBounded) {
  ExpectCallAToB(3120401);  // warm-up: every code path of a call has run once
  const pid_t pid = hub_->pid();
  ASSERT_GT(pid, 0);
  const uint64_t rss_before = RssKib(pid);
  ASSERT_GT(rss_before, 0u);
  const sim::HbpClientCounters a0 = a_->counters();
  const sim::HbpClientCounters b0 = b_->counters();

  // --- 1. A talks (a long call) while everything malformed arrives from strangers and from A's
  // own socket; the spoofed frames carry A's ID and A's live stream ID from other sockets.
  sim::VoiceCallSpec talk = GroupCall(kTg, 2, 3120401, 8);
  const uint32_t live = a_->StartVoiceCall(talk);
  Stranger hbp_stranger(hbp_port_), obp_stranger(obp_listen_), fbp_stranger(fbp_listen_);
  ASSERT_TRUE(hbp_stranger.ok() && obp_stranger.ok() && fbp_stranger.ok());
  auto pump = [&] { sim::PollOnce(All(), absl::ZeroDuration()); };
  for (uint32_t id : {kClientA, kClientB, 3129001u}) {
    for (const Bytes& b : MalformedHbp(id)) {
      hbp_stranger.Send(b);
      if (id == kClientA) {
        ASSERT_TRUE(a_->SendRaw(b).ok());
      }
    }
    pump();
  }
  // Spoofing: A's ID and live stream from a stranger (in sequence, another talker), and a new
  // stream under A's ID; also a stranger's DMRD under B's ID.
  for (uint8_t seq = 1; seq < 40; ++seq) {
    hbp_stranger.Send(Dmrd(kClientA, 9999001, live, seq));
    hbp_stranger.Send(Dmrd(kClientA, 9999002, 0x5B00F001, seq));
    hbp_stranger.Send(Dmrd(kClientB, 9999003, 0x5B00F002, seq));
    pump();
  }
  // OpenBridge: bad MACs and lengths, from the peers' own sockets and from strangers.
  for (const Bytes& b : BadObp(*obp_, *fbp_, 0x0B0B0001)) {
    ASSERT_TRUE(obp_->SendRaw(b).ok());
    ASSERT_TRUE(fbp_->SendRaw(b).ok());
    obp_stranger.Send(b);
    fbp_stranger.Send(b);
  }
  for (const Bytes& b : MalformedHbp(kObpId)) {
    obp_stranger.Send(b);
    fbp_stranger.Send(b);
  }
  PollThenSettle(
      All(), [&] { return !a_->transmitting(); }, absl::Seconds(8));
  {
    // B heard A's call and nothing else: no spoofed stream, no foreign frame in A's stream.
    const std::vector<ReceivedCall> got = b_->TakeReceived();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].stream_id, live);
    EXPECT_TRUE(got[0].fields_consistent) << got[0].DebugString();
    EXPECT_EQ(got[0].rf_src, 3120401u);
    EXPECT_LE(got[0].frame_count(), FramesOf(talk));
    EXPECT_GE(got[0].frame_count(), FramesOf(talk) - 4) << "most of the call got through";
    // The peers heard A's call only.
    for (ObpPeer* p : {obp_.get(), fbp_.get()}) {
      for (const ReceivedCall& c : p->TakeReceived()) EXPECT_EQ(c.stream_id, live);
      EXPECT_EQ(p->counters().bad_mac, 0u);
      EXPECT_EQ(p->counters().rx_unknown, 0u);
    }
  }
  // Malformed packets and DMRD from the wrong address are dropped silently (Part A §4, §6).
  EXPECT_EQ(hbp_stranger.Drain(), 0u) << "the hub answers malformed or spoofed HBP packets";
  EXPECT_EQ(obp_stranger.Drain(), 0u) << "OpenBridge answers unauthenticated packets";
  EXPECT_EQ(fbp_stranger.Drain(), 0u) << "FBP answers unauthenticated packets";
  // Nothing that A's own socket sent was malformed enough to cost it its session.
  EXPECT_EQ(a_->counters().naks, a0.naks);
  EXPECT_EQ(a_->counters().mstcl, a0.mstcl);
  EXPECT_EQ(a_->counters().logins, a0.logins);
  EXPECT_EQ(b_->counters().logins, b0.logins);
  EXPECT_TRUE(a_->running());
  EXPECT_TRUE(b_->running());
  a_->RunFor(absl::Milliseconds(400));

  // --- 2. Wrong-state logins from strangers are answered with MSTNAK (so real clients learn to
  // log in again), and change nothing for A and B; an RPTCL from an address other than the
  // session's is not answered at all (ctrlplane/login/hbp_auth.cc: never amplify toward a
  // stranger).
  {
    Stranger s(hbp_port_);
    proto::Rptk k{};
    k.id = kClientA;
    std::array<uint8_t, proto::kRptkBytes> rptk;
    ASSERT_EQ(proto::EncodeRptk(k, rptk), rptk.size());
    s.Send(Bytes(rptk.begin(), rptk.end()));
    s.Send(Packet("RPTC", proto::kRptcBytes, kClientB));
    s.Send(Packet("RPTO", 16, kClientB));                   // an options "hijack": "        "
    s.Send(Packet("RPTCL", proto::kRptclBytes, kClientA));  // must not log A out
    sim::PollFor(All(), absl::Milliseconds(200));
    EXPECT_EQ(s.Drain("MSTNAK"), 3u) << "RPTK, RPTC and RPTO are refused, the RPTCL ignored";
  }

  // --- 3. Login flood from one source: the challenge is stateless, so every RPTL is answered by
  // exactly one RPTACK (no amplification, nothing stored, nothing charged) and the source is not
  // blocked: login churn is charged only to correct logins (tests/e2e/login_attack_test).
  {
    Stranger flood(hbp_port_);
    size_t answered = 0;  // RPTACKs
    for (uint32_t i = 0; i < 300; ++i) {
      flood.Send(Packet("RPTL", proto::kRptlBytes, 3128000 + i));
      if (i % 20 == 19) {
        sim::PollFor(All(), absl::Milliseconds(5));
        answered += flood.Drain("RPTACK");
      }
    }
    sim::PollFor(All(), absl::Milliseconds(300));
    answered += flood.Drain("RPTACK");
    EXPECT_LE(answered, 300u) << "an RPTL was answered more than once";
    EXPECT_GE(answered, 290u) << "RPTLs lost or the source blocked by a flood of challenges";
    EXPECT_EQ(flood.Drain(), 0u) << "anything but RPTACK answered an RPTL";
    std::printf("login flood: %zu of 300 RPTL answered, one RPTACK each\n", answered);
  }

  // --- 4. Random garbage: a few thousand datagrams, random lengths and bytes, some with a valid
  // tag in front, to every listener.
  {
    std::mt19937 rng(0xD3A05EED);
    const char* tags[] = {"DMRD", "DMRE", "RPTL", "RPTK", "RPTC", "RPTO", "RPTP", "BCKA", "BCSQ"};
    Stranger* to[] = {&hbp_stranger, &obp_stranger, &fbp_stranger};
    for (int i = 0; i < 3000; ++i) {
      Bytes b(rng() % 600);
      for (uint8_t& x : b) x = static_cast<uint8_t>(rng());
      if (b.size() >= 4 && i % 3 == 0) std::memcpy(b.data(), tags[rng() % 9], 4);
      to[i % 3]->Send(b);
      if (i % 32 == 0) {
        if (i % 3 == 0) (void)a_->SendRaw(b);
        pump();
        sim::PollFor(All(), absl::Milliseconds(1));  // let the hub keep up (socket buffers)
      }
    }
    sim::PollFor(All(), absl::Milliseconds(200));
    EXPECT_EQ(obp_stranger.Drain(), 0u);
    EXPECT_EQ(fbp_stranger.Drain(), 0u);
    hbp_stranger.Drain();
  }
  EXPECT_TRUE(hub_->running()) << hub_->Log();

  // --- The hub is up, its memory did not grow, and A and B still talk and get MSTPONG.
  ASSERT_TRUE(hub_->running()) << hub_->Log();
  const uint64_t pongs_a = a_->counters().pongs, pongs_b = b_->counters().pongs;
  ExpectCallAToB(3120401);
  sim::PollFor(All(), absl::Milliseconds(1200));
  EXPECT_GT(a_->counters().pongs, pongs_a);
  EXPECT_GT(b_->counters().pongs, pongs_b);
  EXPECT_TRUE(a_->running());
  EXPECT_TRUE(b_->running());
  EXPECT_EQ(a_->counters().logins, a0.logins) << "A had to log in again";
  EXPECT_EQ(b_->counters().logins, b0.logins) << "B had to log in again";
  // The FBP peer still hears our keepalives (a bad BCKA did not move its target).
  const uint64_t bcka = fbp_->counters().bcka_rx;
  sim::PollFor(All(), absl::Milliseconds(1200));
  EXPECT_GT(fbp_->counters().bcka_rx, bcka);
  const uint64_t rss_after = RssKib(pid);
  EXPECT_LE(rss_after, rss_before + kMaxRssGrowthKib)
      << "VmRSS grew from " << rss_before << " KiB to " << rss_after << " KiB";
  std::printf("hub VmRSS %llu KiB before the barrage, %llu KiB after\n",
              static_cast<unsigned long long>(rss_before),
              static_cast<unsigned long long>(rss_after));
}

}  // namespace
}  // namespace dmrswitch::e2e
