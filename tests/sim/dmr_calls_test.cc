// The simulator's call builders against the project's own decoders (DecodeDmrd, DecodeFullLc,
// DecodeEmbeddedLc), frame order and flags as MMDVMHost sends them (PROTOCOL.md Part C), and the
// received-call analysis on good and damaged streams.
#include "tools/sim/dmr_calls.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "dataplane/proto/dmr_lc.h"
#include "dataplane/proto/hbp.h"

namespace dmrswitch::sim {
namespace {

using proto::CallType;
using proto::dmr::ConstBurst;
using proto::dmr::FullLcKind;
using proto::dmr::Lc;
using ::testing::HasSubstr;

constexpr uint32_t kHotspot = 312000101;

ConstBurst BurstOf(const DmrdFrame& f) {
  return ConstBurst(f.data() + proto::dmrd_offset::kPayload, proto::dmr::kBurstBytes);
}

proto::DmrdView Decode(const DmrdFrame& f) {
  proto::DmrdView v;
  EXPECT_EQ(proto::DecodeDmrd(f, &v), proto::Reject::kOk);
  return v;
}

std::vector<ReceivedFrame> AsReceived(const std::vector<DmrdFrame>& frames) {
  std::vector<ReceivedFrame> out;
  absl::Time t = absl::UnixEpoch();
  for (const DmrdFrame& f : frames) {
    out.push_back(MakeReceivedFrame(f.data(), f.size(), t));
    t += absl::Milliseconds(60);
  }
  return out;
}

TEST(VoiceCallTest, GroupCallOnTs2HasMmdvmHostFramesAndFlags) {
  const VoiceCallSpec spec{.tg = 3100, .ts = 2, .rf_src = 3120001, .superframes = 3};
  const std::vector<DmrdFrame> frames = BuildVoiceCall(spec, kHotspot);
  ASSERT_EQ(frames.size(), 1u + 3 * 6 + 1);

  std::vector<uint8_t> flags;
  const uint32_t stream = Decode(frames[0]).stream_id;
  EXPECT_NE(stream, 0u);
  for (size_t i = 0; i < frames.size(); ++i) {
    const proto::DmrdView v = Decode(frames[i]);
    EXPECT_EQ(v.length, 55);
    EXPECT_EQ(v.seq, i);
    EXPECT_EQ(v.rf_src, 3120001u);
    EXPECT_EQ(v.dst, 3100u);
    EXPECT_EQ(v.repeater_id, kHotspot);
    EXPECT_EQ(v.stream_id, stream);
    EXPECT_EQ(v.ber(), 0);
    EXPECT_EQ(v.rssi(), 60);
    flags.push_back(v.flags.raw);
  }
  const std::vector<uint8_t> want = {0xA1, 0x90, 0x81, 0x82, 0x83, 0x84, 0x85,
                                     0x90, 0x81, 0x82, 0x83, 0x84, 0x85,  //
                                     0x90, 0x81, 0x82, 0x83, 0x84, 0x85, 0xA2};
  EXPECT_EQ(flags, want);
}

TEST(VoiceCallTest, Ts1AndPrivateCallFlags) {
  std::vector<DmrdFrame> ts1 =
      BuildVoiceCall({.tg = 91, .ts = 1, .rf_src = 1, .superframes = 1}, 1);
  ASSERT_EQ(ts1.size(), 8u);
  EXPECT_EQ(Decode(ts1[0]).flags.raw, 0x21);
  EXPECT_EQ(Decode(ts1[1]).flags.raw, 0x10);
  EXPECT_EQ(Decode(ts1[2]).flags.raw, 0x01);
  EXPECT_EQ(Decode(ts1[6]).flags.raw, 0x05);
  EXPECT_EQ(Decode(ts1[7]).flags.raw, 0x22);

  std::vector<DmrdFrame> priv = BuildVoiceCall(
      {.tg = 4000, .ts = 2, .rf_src = 3120001, .superframes = 1, .private_call = true}, 1);
  EXPECT_EQ(Decode(priv[0]).flags.raw, 0xE1);
  EXPECT_EQ(Decode(priv[1]).flags.raw, 0xD0);
  EXPECT_EQ(Decode(priv[3]).flags.raw, 0xC2);
  EXPECT_EQ(Decode(priv[7]).flags.raw, 0xE2);
  for (const DmrdFrame& f : priv) EXPECT_EQ(Decode(f).flags.call_type(), CallType::kPrivate);
}

TEST(VoiceCallTest, HeaderAndTerminatorLcDecodeWithTheirOwnMasks) {
  const std::vector<DmrdFrame> frames =
      BuildVoiceCall({.tg = 3100, .ts = 2, .rf_src = 3120001, .superframes = 1}, kHotspot);
  Lc lc;
  ASSERT_TRUE(proto::dmr::DecodeFullLc(BurstOf(frames.front()), FullLcKind::kVoiceHeader, &lc));
  EXPECT_EQ(lc, Lc::GroupVoice(3100, 3120001));
  EXPECT_EQ(lc.flco(), 0);
  EXPECT_FALSE(proto::dmr::DecodeFullLc(BurstOf(frames.front()), FullLcKind::kTerminator, &lc));
  ASSERT_TRUE(proto::dmr::DecodeFullLc(BurstOf(frames.back()), FullLcKind::kTerminator, &lc));
  EXPECT_EQ(lc, Lc::GroupVoice(3100, 3120001));

  const std::vector<DmrdFrame> priv = BuildVoiceCall(
      {.tg = 5000, .ts = 2, .rf_src = 3120001, .superframes = 1, .private_call = true}, 1);
  ASSERT_TRUE(proto::dmr::DecodeFullLc(BurstOf(priv.front()), FullLcKind::kVoiceHeader, &lc));
  EXPECT_EQ(lc.flco(), 3);
  EXPECT_EQ(lc.dst(), 5000u);
  EXPECT_EQ(lc.src(), 3120001u);
}

TEST(VoiceCallTest, EmbeddedLcOfBurstsBToEReassemblesInEverySuperframe) {
  const std::vector<DmrdFrame> frames =
      BuildVoiceCall({.tg = 2345678, .ts = 1, .rf_src = 7654321, .superframes = 4}, 1);
  for (unsigned sf = 0; sf < 4; ++sf) {
    const size_t a = 1 + 6 * sf;
    proto::dmr::EmbeddedLcFragments frag;
    for (unsigned v = 1; v <= 4; ++v) {
      frag[v - 1] = proto::dmr::GetEmbeddedFragment(BurstOf(frames[a + v]));
    }
    Lc lc;
    ASSERT_TRUE(proto::dmr::DecodeEmbeddedLc(frag, &lc)) << "superframe " << sf;
    EXPECT_EQ(lc, Lc::GroupVoice(2345678, 7654321));
    EXPECT_EQ(frag, proto::dmr::EncodeEmbeddedLc(lc));
    EXPECT_EQ(proto::dmr::GetEmbeddedFragment(BurstOf(frames[a + 5])), 0u) << "burst F";
  }
}

TEST(VoiceCallTest, SyncSlotTypeAndEmbFields) {
  const std::vector<DmrdFrame> frames =
      BuildVoiceCall({.tg = 9, .ts = 2, .rf_src = 1, .superframes = 1, .color_code = 7}, 1);
  EXPECT_EQ(GetSync(BurstOf(frames[0])), kBsDataSync);
  EXPECT_EQ(GetSync(BurstOf(frames[1])), kBsVoiceSync);
  EXPECT_EQ(GetSync(BurstOf(frames[7])), kBsDataSync);
  // Slot type: colour code then data type, split around the sync.
  EXPECT_EQ(GetBurstBits(BurstOf(frames[0]), 98, 8), 0x71u);
  EXPECT_EQ(GetBurstBits(BurstOf(frames[7]), 98, 8), 0x72u);
  // EMB: colour code, PI, LCSS (B first, C/D continuation, E last, F single).
  const unsigned lcss[] = {kLcssFirst, kLcssContinuation, kLcssContinuation, kLcssLast,
                           kLcssSingle};
  for (unsigned v = 1; v <= 5; ++v) {
    const uint64_t emb = GetBurstBits(BurstOf(frames[1 + v]), 108, 7);
    EXPECT_EQ(emb >> 3, 7u) << v;
    EXPECT_EQ((emb >> 2) & 1, 0u) << v;
    EXPECT_EQ(emb & 3, lcss[v - 1]) << v;
  }
  // Vocoder bits: the AMBE+2 silence frame three times.
  EXPECT_EQ(GetBurstBits(BurstOf(frames[1]), 0, 64), 0xB9E881526173002AULL);
  EXPECT_EQ(GetBurstBits(BurstOf(frames[3]), 192, 64), 0xB9E881526173002AULL);
}

TEST(VoiceCallTest, StreamIdsAreRandomAndNonZero) {
  std::set<uint32_t> ids;
  for (int i = 0; i < 200; ++i) {
    const std::vector<DmrdFrame> f = BuildVoiceCall({.tg = 1, .rf_src = 1, .superframes = 1}, 1);
    const uint32_t id = Decode(f[0]).stream_id;
    EXPECT_NE(id, 0u);
    ids.insert(id);
  }
  EXPECT_GT(ids.size(), 195u);
  const std::vector<DmrdFrame> fixed =
      BuildVoiceCall({.tg = 1, .rf_src = 1, .superframes = 1, .stream_id = 0xCAFE}, 1);
  EXPECT_EQ(Decode(fixed[3]).stream_id, 0xCAFEu);
}

TEST(VoiceCallTest, SeqWrapsAt255) {
  const std::vector<DmrdFrame> frames = BuildVoiceCall(
      {.tg = 1, .rf_src = 1, .superframes = 2, .cadence = absl::ZeroDuration(), .first_seq = 250},
      1);
  EXPECT_EQ(Decode(frames[5]).seq, 255);
  EXPECT_EQ(Decode(frames[6]).seq, 0);
  EXPECT_TRUE(AnalyzeCall(AsReceived(frames)).seq_monotonic);
}

TEST(DataCallTest, DataHeaderThenRateHalfBlocks) {
  const std::vector<DmrdFrame> frames =
      BuildDataCall({.dst = 3120002, .ts = 2, .rf_src = 3120001, .blocks = 3}, kHotspot);
  ASSERT_EQ(frames.size(), 4u);
  const uint32_t stream = Decode(frames[0]).stream_id;
  EXPECT_EQ(Decode(frames[0]).flags.raw, 0xE6);
  for (size_t i = 1; i < frames.size(); ++i) {
    const proto::DmrdView v = Decode(frames[i]);
    EXPECT_EQ(v.flags.raw, 0xE7);
    EXPECT_EQ(v.stream_id, stream);
    EXPECT_EQ(v.seq, i);
    EXPECT_FALSE(v.flags.carries_embedded_lc());
  }
  for (const DmrdFrame& f : frames) {
    EXPECT_EQ(GetSync(BurstOf(f)), kBsDataSync);
    EXPECT_EQ(Decode(f).dst, 3120002u);
  }
  const std::vector<DmrdFrame> group =
      BuildDataCall({.dst = 91, .ts = 1, .private_call = false}, 1);
  EXPECT_EQ(Decode(group[0]).flags.raw, 0x26);
  EXPECT_TRUE(Decode(group[1]).flags.is_vcsbk());  // HBlink's classification of rate-1/2 blocks

  const ReceivedCall c = AnalyzeCall(AsReceived(frames));
  EXPECT_EQ(c.data_bursts, 4u);
  EXPECT_EQ(c.voice_bursts, 0u);
  EXPECT_TRUE(c.seq_monotonic);
  EXPECT_EQ(c.call_type, CallType::kPrivate);
}

// ---------------------------------------------------------------------------------------------
// Analysis.

TEST(AnalyzeCallTest, WellFormedCallVerifies) {
  const std::vector<DmrdFrame> frames =
      BuildVoiceCall({.tg = 3100, .ts = 2, .rf_src = 3120001, .superframes = 3}, kHotspot);
  const ReceivedCall c = AnalyzeCall(AsReceived(frames));
  EXPECT_EQ(c.frame_count(), 20u);
  EXPECT_TRUE(c.has_header && c.header_first && c.header_lc_ok);
  EXPECT_TRUE(c.has_terminator && c.terminator_last && c.terminator_lc_ok);
  EXPECT_EQ(c.superframes, 3u);
  EXPECT_EQ(c.voice_bursts, 18u);
  EXPECT_EQ(c.embedded_lc_ok, 3u);
  EXPECT_EQ(c.embedded_lc_bad, 0u);
  EXPECT_EQ(c.duration(), absl::Milliseconds(19 * 60));
  EXPECT_TRUE(Verify(c, {.tg = 3100,
                         .ts = 2,
                         .rf_src = 3120001,
                         .repeater_id = kHotspot,
                         .call_type = CallType::kGroup,
                         .frames = 20})
                  .ok())
      << Verify(c, {}).message();

  const absl::Status wrong = Verify(c, {.tg = 91, .ts = 1});
  EXPECT_THAT(wrong.message(), HasSubstr("dst 3100 != 91"));
  EXPECT_THAT(wrong.message(), HasSubstr("TS2 != TS1"));
}

TEST(AnalyzeCallTest, PrivateCallVerifies) {
  const std::vector<DmrdFrame> frames = BuildVoiceCall(
      {.tg = 4000, .ts = 2, .rf_src = 3120001, .superframes = 1, .private_call = true}, 1);
  const ReceivedCall c = AnalyzeCall(AsReceived(frames));
  EXPECT_TRUE(Verify(c, {.tg = 4000, .call_type = CallType::kPrivate}).ok())
      << Verify(c, {}).message();
}

TEST(AnalyzeCallTest, LostFrameShowsAsSeqGap) {
  std::vector<DmrdFrame> frames =
      BuildVoiceCall({.tg = 3100, .ts = 2, .rf_src = 1, .superframes = 2}, 1);
  frames.erase(frames.begin() + 3);  // burst C of the first superframe
  const ReceivedCall c = AnalyzeCall(AsReceived(frames));
  EXPECT_FALSE(c.seq_monotonic);
  EXPECT_EQ(c.seq_gaps, 1u);
  EXPECT_FALSE(c.voice_order_ok);
  EXPECT_EQ(c.embedded_lc_ok, 1u);  // only the complete superframe
  EXPECT_THAT(Verify(c, {}).message(), HasSubstr("seq not monotonic (1 missing)"));
}

TEST(AnalyzeCallTest, DamagedLcIsReported) {
  std::vector<DmrdFrame> frames =
      BuildVoiceCall({.tg = 3100, .ts = 2, .rf_src = 1, .superframes = 1}, 1);
  // 48 bad bits in the header's BPTC block: beyond its error correction.
  for (size_t i = 0; i < 6; ++i) frames[0][proto::dmrd_offset::kPayload + i] ^= 0xFF;
  // Two bad bits in one Hamming row of the embedded LC (fragment bits 4 and 12 of burst B).
  frames[2][proto::dmrd_offset::kPayload + 15] ^= 0x80;
  frames[2][proto::dmrd_offset::kPayload + 16] ^= 0x80;
  const ReceivedCall c = AnalyzeCall(AsReceived(frames));
  EXPECT_TRUE(c.has_header);
  EXPECT_FALSE(c.header_lc_ok);
  EXPECT_TRUE(c.terminator_lc_ok);
  EXPECT_EQ(c.embedded_lc_bad, 1u);
  const absl::Status s = Verify(c, {.tg = 3100});
  EXPECT_THAT(s.message(), HasSubstr("header LC does not decode"));
  EXPECT_THAT(s.message(), HasSubstr("embedded LCs fail"));
}

TEST(AnalyzeCallTest, LateEntryAndMissingTerminator) {
  const std::vector<DmrdFrame> frames = BuildVoiceCall(
      {.tg = 3100, .rf_src = 1, .superframes = 2, .header = false, .terminator = false}, 1);
  const ReceivedCall c = AnalyzeCall(AsReceived(frames));
  EXPECT_FALSE(c.has_header);
  EXPECT_FALSE(c.has_terminator);
  EXPECT_TRUE(Verify(c, {.tg = 3100, .header = false, .terminator = false}).ok());
  EXPECT_THAT(Verify(c, {.tg = 3100}).message(), HasSubstr("no voice LC header"));
}

// What a hub does when routing to another TG (PROTOCOL.md §3.6 rewrite): the analysis must see
// the new TG in the frames and in every LC.
TEST(AnalyzeCallTest, HubStyleTgRewriteVerifiesAgainstTheNewTg) {
  std::vector<DmrdFrame> frames =
      BuildVoiceCall({.tg = 91, .ts = 1, .rf_src = 3120001, .superframes = 2}, 1);
  const proto::dmr::LcRewrite rw = proto::dmr::LcRewrite::For(Lc::GroupVoice(9, 3120001));
  for (DmrdFrame& f : frames) {
    proto::DmrdView v = Decode(f);
    proto::StoreBe24(f.data() + proto::dmrd_offset::kDst, 9);
    f[proto::dmrd_offset::kFlags] |= 0x80;  // TS1 → TS2
    proto::dmr::Burst b(f.data() + proto::dmrd_offset::kPayload, proto::dmr::kBurstBytes);
    if (v.flags.is_voice_header()) rw.ApplyHeader(b);
    if (v.flags.is_terminator()) rw.ApplyTerminator(b);
    if (v.flags.carries_embedded_lc()) rw.ApplyEmbedded(b, v.flags.low_nibble());
  }
  const ReceivedCall c = AnalyzeCall(AsReceived(frames));
  EXPECT_TRUE(Verify(c, {.tg = 9, .ts = 2, .rf_src = 3120001}).ok()) << Verify(c, {}).message();

  // Rewriting only the frame header, not the LC, is caught.
  std::vector<DmrdFrame> lazy =
      BuildVoiceCall({.tg = 91, .ts = 1, .rf_src = 3120001, .superframes = 1}, 1);
  for (DmrdFrame& f : lazy) proto::StoreBe24(f.data() + proto::dmrd_offset::kDst, 9);
  EXPECT_THAT(Verify(AnalyzeCall(AsReceived(lazy)), {.tg = 9}).message(),
              HasSubstr("header LC dst 91 != frame dst 9"));
}

TEST(AnalyzeCallTest, ChangingFieldsAndShortFramesAreReported) {
  std::vector<DmrdFrame> frames = BuildVoiceCall({.tg = 91, .rf_src = 1, .superframes = 1}, 1);
  std::vector<ReceivedFrame> rx = AsReceived(frames);
  rx[4].repeater_id = 2;
  rx[5].length = 53;
  const ReceivedCall c = AnalyzeCall(rx);
  EXPECT_FALSE(c.fields_consistent);
  EXPECT_FALSE(c.all_55_bytes);
  const absl::Status s = Verify(c, {});
  EXPECT_THAT(s.message(), HasSubstr("fields change"));
  EXPECT_THAT(s.message(), HasSubstr("not every frame is 55 bytes"));
}

TEST(StreamCollectorTest, GroupsInterleavedStreams) {
  const std::vector<DmrdFrame> a = BuildVoiceCall({.tg = 1, .rf_src = 11, .superframes = 1}, 1);
  const std::vector<DmrdFrame> b = BuildVoiceCall({.tg = 2, .rf_src = 22, .superframes = 2}, 1);
  StreamCollector col;
  for (size_t i = 0; i < b.size(); ++i) {
    if (i < a.size()) col.Add(MakeReceivedFrame(a[i].data(), a[i].size(), absl::Now()));
    col.Add(MakeReceivedFrame(b[i].data(), b[i].size(), absl::Now()));
  }
  EXPECT_EQ(col.streams(), 2u);
  EXPECT_EQ(col.completed(), 2u);
  const std::vector<ReceivedCall> calls = col.Take();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].rf_src, 11u);
  EXPECT_EQ(calls[0].frame_count(), 8u);
  EXPECT_EQ(calls[1].rf_src, 22u);
  EXPECT_EQ(calls[1].frame_count(), 14u);
  EXPECT_TRUE(Verify(calls[0], {.tg = 1}).ok());
  EXPECT_TRUE(Verify(calls[1], {.tg = 2}).ok());
  EXPECT_TRUE(col.empty());
}

TEST(BurstBitsTest, SetThenGet) {
  std::array<uint8_t, 33> b{};
  proto::dmr::Burst burst(b.data(), b.size());
  SetBurstBits(burst, 5, 48, 0xABCDEF012345ULL);
  EXPECT_EQ(GetBurstBits(burst, 5, 48), 0xABCDEF012345ULL);
  EXPECT_EQ(b[0], 0x05);  // 0xA = 1010 lands in bits 5..7 of byte 0 (101) and byte 1
  SetBurstBits(burst, 5, 48, 0);
  EXPECT_EQ(b, (std::array<uint8_t, 33>{}));
}

}  // namespace
}  // namespace dmrswitch::sim
