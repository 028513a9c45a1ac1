#include "tools/sim/dmr_calls.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "dataplane/proto/bytes.h"

namespace dmrswitch::sim {
namespace {

using proto::CallType;
using proto::DmrdFlags;
using proto::FrameType;
using proto::dmr::Burst;
using proto::dmr::ConstBurst;
using proto::dmr::FullLcKind;
using proto::dmr::Lc;

using BurstBytes = std::array<uint8_t, proto::dmr::kBurstBytes>;

// The AMBE+2 silence frame (72 bits), three per voice burst.
constexpr std::array<uint8_t, 9> kAmbeSilence = {0xB9, 0xE8, 0x81, 0x52, 0x61,
                                                 0x73, 0x00, 0x2A, 0x6B};

Burst AsBurst(BurstBytes& b) { return Burst(b.data(), b.size()); }

void PutSync(BurstBytes& b, uint64_t sync) { SetBurstBits(AsBurst(b), 108, 48, sync); }

// Slot type: colour code (4) and data type (4), Golay(20,8) parity bits left zero.
void PutSlotType(BurstBytes& b, uint8_t color_code, uint8_t data_type) {
  const uint32_t slot_type = (uint32_t{color_code & 0x0Fu} << 16) | (uint32_t{data_type} << 12);
  SetBurstBits(AsBurst(b), 98, 10, slot_type >> 10);
  SetBurstBits(AsBurst(b), 156, 10, slot_type & 0x3FF);
}

// EMB: colour code (4), PI = 0 (1), LCSS (2), QR(16,7,6) parity bits left zero.
void PutEmb(BurstBytes& b, uint8_t color_code, unsigned lcss) {
  const uint32_t emb = (uint32_t{color_code & 0x0Fu} << 12) | (uint32_t{lcss & 3u} << 9);
  SetBurstBits(AsBurst(b), 108, 8, emb >> 8);
  SetBurstBits(AsBurst(b), 148, 8, emb & 0xFF);
}

BurstBytes SilenceVoiceBurst() {
  // 216 vocoder bits: 108 in bits 0..107, 108 in bits 156..263.
  BurstBytes b{};
  unsigned out = 0;
  for (unsigned frame = 0; frame < 3; ++frame) {
    for (unsigned bit = 0; bit < 72; ++bit, ++out) {
      const unsigned v = (kAmbeSilence[bit / 8] >> (7 - bit % 8)) & 1u;
      SetBurstBits(AsBurst(b), out < 108 ? out : out + 48, 1, v);
    }
  }
  return b;
}

DmrdFrame MakeFrame(uint8_t seq, uint32_t src, uint32_t dst, uint32_t repeater, DmrdFlags flags,
                    uint32_t stream, const BurstBytes& burst, uint8_t ber, uint8_t rssi) {
  proto::DmrdFields f;
  f.seq = seq;
  f.rf_src = src;
  f.dst = dst;
  f.repeater_id = repeater;
  f.flags = flags;
  f.stream_id = stream;
  f.payload = burst;
  f.ber = ber;
  f.rssi = rssi;
  DmrdFrame out{};
  proto::EncodeDmrd(f, out);
  return out;
}

bool IsDataSync(uint64_t sync) { return sync == kBsDataSync || sync == kMsDataSync; }
bool IsVoiceSync(uint64_t sync) { return sync == kBsVoiceSync || sync == kMsVoiceSync; }

}  // namespace

uint64_t GetBurstBits(ConstBurst burst, unsigned first_bit, unsigned count) {
  uint64_t v = 0;
  for (unsigned i = first_bit; i < first_bit + count; ++i) {
    v = (v << 1) | ((burst[i / 8] >> (7 - i % 8)) & 1u);
  }
  return v;
}

void SetBurstBits(Burst burst, unsigned first_bit, unsigned count, uint64_t value) {
  for (unsigned k = 0; k < count; ++k) {
    const unsigned i = first_bit + k;
    const unsigned bit = (value >> (count - 1 - k)) & 1u;
    const uint8_t mask = static_cast<uint8_t>(0x80u >> (i % 8));
    burst[i / 8] = static_cast<uint8_t>(bit ? (burst[i / 8] | mask) : (burst[i / 8] & ~mask));
  }
}

Lc VoiceLc(uint32_t dst, uint32_t src, bool private_call) {
  Lc lc = Lc::GroupVoice(dst, src);
  if (private_call) lc.bytes[0] = 0x03;  // FLCO 3: unit-to-unit voice channel user
  return lc;
}

uint32_t RandomStreamId() {
  thread_local std::mt19937 rng{std::random_device{}()};
  uint32_t id = 0;
  while (id == 0) id = static_cast<uint32_t>(rng());
  return id;
}

std::vector<DmrdFrame> BuildVoiceCall(const VoiceCallSpec& spec, uint32_t sender_id) {
  const uint32_t stream = spec.stream_id != 0 ? spec.stream_id : RandomStreamId();
  const uint32_t repeater = spec.repeater_id != 0 ? spec.repeater_id : sender_id;
  const CallType ct = spec.private_call ? CallType::kPrivate : CallType::kGroup;
  const Lc lc = VoiceLc(spec.tg, spec.rf_src, spec.private_call);
  std::vector<DmrdFrame> out;
  out.reserve(2 + 6 * size_t{spec.superframes});
  uint8_t seq = spec.first_seq;
  auto emit = [&](FrameType ft, unsigned nibble, const BurstBytes& burst) {
    out.push_back(MakeFrame(seq++, spec.rf_src, spec.tg, repeater,
                            DmrdFlags::Make(spec.ts, ct, ft, nibble), stream, burst, spec.ber,
                            spec.rssi));
  };

  if (spec.header) {
    BurstBytes b{};
    proto::dmr::EncodeFullLc(lc, FullLcKind::kVoiceHeader, AsBurst(b));
    PutSlotType(b, spec.color_code, proto::data_type::kVoiceLcHeader);
    PutSync(b, kBsDataSync);
    emit(FrameType::kDataSync, proto::data_type::kVoiceLcHeader, b);
  }
  const proto::dmr::EmbeddedLcFragments emb = proto::dmr::EncodeEmbeddedLc(lc);
  const BurstBytes silence = SilenceVoiceBurst();
  static constexpr std::array<unsigned, 6> kLcss = {
      0, kLcssFirst, kLcssContinuation, kLcssContinuation, kLcssLast, kLcssSingle};
  for (unsigned sf = 0; sf < spec.superframes; ++sf) {
    for (unsigned v = 0; v < 6; ++v) {
      BurstBytes b = silence;
      if (v == 0) {
        PutSync(b, kBsVoiceSync);
        emit(FrameType::kVoiceSync, 0, b);
        continue;
      }
      PutEmb(b, spec.color_code, kLcss[v]);
      proto::dmr::SetEmbeddedFragment(AsBurst(b), v <= 4 ? emb[v - 1] : 0u);
      emit(FrameType::kVoice, v, b);
    }
  }
  if (spec.terminator) {
    BurstBytes b{};
    proto::dmr::EncodeFullLc(lc, FullLcKind::kTerminator, AsBurst(b));
    PutSlotType(b, spec.color_code, proto::data_type::kTerminatorWithLc);
    PutSync(b, kBsDataSync);
    emit(FrameType::kDataSync, proto::data_type::kTerminatorWithLc, b);
  }
  return out;
}

std::vector<DmrdFrame> BuildDataCall(const DataCallSpec& spec, uint32_t sender_id) {
  const uint32_t stream = spec.stream_id != 0 ? spec.stream_id : RandomStreamId();
  const uint32_t repeater = spec.repeater_id != 0 ? spec.repeater_id : sender_id;
  const CallType ct = spec.private_call ? CallType::kPrivate : CallType::kGroup;
  std::vector<DmrdFrame> out;
  out.reserve(1 + size_t{spec.blocks});
  for (unsigned i = 0; i <= spec.blocks; ++i) {
    const uint8_t dt = i == 0 ? proto::data_type::kDataHeader : proto::data_type::kRateHalfData;
    BurstBytes b;
    for (size_t k = 0; k < b.size(); ++k) b[k] = static_cast<uint8_t>((i << 4) ^ (k * 7 + 1));
    PutSlotType(b, spec.color_code, dt);
    PutSync(b, kBsDataSync);
    out.push_back(MakeFrame(static_cast<uint8_t>(i), spec.rf_src, spec.dst, repeater,
                            DmrdFlags::Make(spec.ts, ct, FrameType::kDataSync, dt), stream, b,
                            spec.ber, spec.rssi));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Receive side.

ReceivedFrame MakeReceivedFrame(const uint8_t* dmrd, size_t length, absl::Time arrival) {
  ReceivedFrame f;
  f.arrival = arrival;
  f.length = static_cast<uint8_t>(std::min(length, f.bytes.size()));
  std::memcpy(f.bytes.data(), dmrd, f.length);
  proto::DmrdView v;
  proto::FillDmrdFields(dmrd, &v);
  f.seq = v.seq;
  f.rf_src = v.rf_src;
  f.dst = v.dst;
  f.repeater_id = v.repeater_id;
  f.flags = v.flags;
  f.stream_id = v.stream_id;
  return f;
}

ReceivedCall AnalyzeCall(std::vector<ReceivedFrame> frames) {
  ReceivedCall c;
  c.frames = std::move(frames);
  if (c.frames.empty()) return c;
  const ReceivedFrame& first = c.frames.front();
  c.stream_id = first.stream_id;
  c.tg = first.dst;
  c.rf_src = first.rf_src;
  c.repeater_id = first.repeater_id;
  c.ts = first.flags.slot();
  c.call_type = first.flags.call_type();
  c.first_arrival = first.arrival;
  c.last_arrival = c.frames.back().arrival;

  proto::dmr::EmbeddedLcFragments fragments{};
  unsigned have = 0;  // bit v-1 set when fragment of burst v (B..E) is in `fragments`
  int expect_vseq = -1;
  for (size_t i = 0; i < c.frames.size(); ++i) {
    const ReceivedFrame& f = c.frames[i];
    if (f.length != proto::kDmrdBytes) c.all_55_bytes = false;
    if (f.rf_src != c.rf_src || f.dst != c.tg || f.flags.slot() != c.ts ||
        f.flags.call_type() != c.call_type || f.repeater_id != c.repeater_id) {
      c.fields_consistent = false;
    }
    if (i > 0) {
      const unsigned step = (f.seq - c.frames[i - 1].seq) & 0xFFu;
      if (step != 1) {
        c.seq_monotonic = false;
        if (step > 1 && step < 128) c.seq_gaps += step - 1;
      }
    }
    const ConstBurst burst = f.burst();
    const uint64_t sync = GetSync(burst);
    switch (f.flags.frame_type()) {
      case FrameType::kDataSync:
        if (!IsDataSync(sync)) c.sync_ok = false;
        if (f.flags.is_voice_header()) {
          if (!c.has_header) {
            c.header_lc_ok =
                proto::dmr::DecodeFullLc(burst, FullLcKind::kVoiceHeader, &c.header_lc);
          }
          c.has_header = true;
          if (i == 0) c.header_first = true;
        } else if (f.flags.is_terminator()) {
          if (!c.has_terminator) {
            c.terminator_lc_ok =
                proto::dmr::DecodeFullLc(burst, FullLcKind::kTerminator, &c.terminator_lc);
          }
          c.has_terminator = true;
          if (i + 1 == c.frames.size()) c.terminator_last = true;
        } else {
          ++c.data_bursts;
        }
        expect_vseq = -1;
        break;
      case FrameType::kVoiceSync:
        ++c.voice_bursts;
        ++c.superframes;
        if (!IsVoiceSync(sync)) c.sync_ok = false;
        if (f.flags.low_nibble() != 0 || (expect_vseq != -1 && expect_vseq != 0)) {
          c.voice_order_ok = false;
        }
        expect_vseq = 1;
        have = 0;
        break;
      case FrameType::kVoice: {
        ++c.voice_bursts;
        const unsigned v = f.flags.low_nibble();
        // Voice frames other than A may open a late-entry stream; after that the order is fixed.
        if (v < 1 || v > 5 || (expect_vseq != -1 && static_cast<int>(v) != expect_vseq)) {
          c.voice_order_ok = false;
        }
        expect_vseq = v >= 5 ? 0 : static_cast<int>(v) + 1;
        if (v >= 1 && v <= 4) {
          fragments[v - 1] = proto::dmr::GetEmbeddedFragment(burst);
          have |= 1u << (v - 1);
          if (v == 4 && have == 0xF) {
            Lc lc;
            if (proto::dmr::DecodeEmbeddedLc(fragments, &lc)) {
              ++c.embedded_lc_ok;
              if (!c.embedded_lc) {
                c.embedded_lc = lc;
              } else if (!(*c.embedded_lc == lc)) {
                c.embedded_lc_consistent = false;
              }
            } else {
              ++c.embedded_lc_bad;
            }
          }
        }
        break;
      }
    }
  }
  return c;
}

std::string ReceivedCall::DebugString() const {
  return absl::StrFormat(
      "stream %08x %s TS%u src %u dst %u rpt %u: %u frames (%u voice, %u data, %u superframes), "
      "header %s/%s, terminator %s/%s, emb ok %u bad %u, seq %s gaps %u, 55B %s, consistent %s, "
      "sync %s, order %s, %.3fs",
      stream_id, call_type == proto::CallType::kGroup ? "group" : "private", ts, rf_src, tg,
      repeater_id, frames.size(), voice_bursts, data_bursts, superframes, has_header ? "yes" : "no",
      header_lc_ok ? "lc-ok" : "lc-bad", has_terminator ? "yes" : "no",
      terminator_lc_ok ? "lc-ok" : "lc-bad", embedded_lc_ok, embedded_lc_bad,
      seq_monotonic ? "monotonic" : "broken", seq_gaps, all_55_bytes ? "yes" : "no",
      fields_consistent ? "yes" : "no", sync_ok ? "ok" : "bad", voice_order_ok ? "ok" : "bad",
      absl::ToDoubleSeconds(duration()));
}

absl::Status Verify(const ReceivedCall& c, const ExpectedCall& want) {
  std::vector<std::string> errors;
  auto expect = [&errors](bool ok, std::string what) {
    if (!ok) errors.push_back(std::move(what));
  };
  if (c.frames.empty()) return absl::FailedPreconditionError("no frames");
  if (want.tg) expect(c.tg == *want.tg, absl::StrCat("dst ", c.tg, " != ", *want.tg));
  if (want.ts) expect(c.ts == *want.ts, absl::StrCat("TS", c.ts, " != TS", *want.ts));
  if (want.rf_src) {
    expect(c.rf_src == *want.rf_src, absl::StrCat("rf_src ", c.rf_src, " != ", *want.rf_src));
  }
  if (want.repeater_id) {
    expect(c.repeater_id == *want.repeater_id,
           absl::StrCat("repeater id ", c.repeater_id, " != ", *want.repeater_id));
  }
  if (want.call_type) {
    expect(c.call_type == *want.call_type, "call type differs");
  }
  if (want.frames) {
    expect(c.frames.size() == *want.frames,
           absl::StrCat(c.frames.size(), " frames != ", *want.frames));
  }
  expect(c.fields_consistent, "fields change within the stream");
  expect(c.sync_ok, "sync pattern missing");
  expect(c.voice_order_ok, "voice bursts out of A..F order");
  auto check_lc = [&](const char* what, bool ok, const proto::dmr::Lc& lc) {
    if (!ok) {
      errors.push_back(absl::StrCat(what, " LC does not decode"));
      return;
    }
    expect(lc.dst() == c.tg, absl::StrCat(what, " LC dst ", lc.dst(), " != frame dst ", c.tg));
    expect(lc.src() == c.rf_src,
           absl::StrCat(what, " LC src ", lc.src(), " != frame src ", c.rf_src));
    const uint8_t flco = c.call_type == proto::CallType::kGroup ? 0 : 3;
    expect(lc.flco() == flco, absl::StrCat(what, " LC FLCO ", lc.flco(), " != ", flco));
  };
  if (want.header) {
    expect(c.has_header, "no voice LC header");
    expect(!c.has_header || c.header_first, "header is not the first frame");
    if (c.has_header) check_lc("header", c.header_lc_ok, c.header_lc);
  }
  if (want.terminator) {
    expect(c.has_terminator, "no terminator");
    expect(!c.has_terminator || c.terminator_last, "terminator is not the last frame");
    if (c.has_terminator) check_lc("terminator", c.terminator_lc_ok, c.terminator_lc);
  }
  if (want.embedded) {
    expect(c.embedded_lc_bad == 0, absl::StrCat(c.embedded_lc_bad, " embedded LCs fail"));
    expect(c.embedded_lc_consistent, "embedded LC changes within the stream");
    if (c.embedded_lc) {
      check_lc("embedded", true, *c.embedded_lc);
    } else {
      errors.push_back("no complete embedded LC (bursts B..E)");
    }
  }
  if (want.seq) {
    expect(c.seq_monotonic, absl::StrCat("seq not monotonic (", c.seq_gaps, " missing)"));
  }
  if (want.frame_bytes) {
    bool all = std::all_of(c.frames.begin(), c.frames.end(),
                           [&](const ReceivedFrame& f) { return f.length == *want.frame_bytes; });
    expect(all, absl::StrCat("not every frame is ", *want.frame_bytes, " bytes"));
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(absl::StrJoin(errors, "; "), " [", c.DebugString(), "]"));
}

// ---------------------------------------------------------------------------------------------
// StreamCollector

void StreamCollector::Add(const ReceivedFrame& frame) {
  auto [it, inserted] = index_.try_emplace(frame.stream_id, order_.size());
  if (inserted) {
    order_.push_back(frame.stream_id);
    frames_.emplace_back();
    terminated_.push_back(false);
  }
  frames_[it->second].push_back(frame);
  if (frame.flags.is_terminator() && !terminated_[it->second]) {
    terminated_[it->second] = true;
    ++completed_;
  }
}

std::vector<ReceivedCall> StreamCollector::Take() {
  std::vector<ReceivedCall> out;
  out.reserve(frames_.size());
  for (auto& f : frames_) out.push_back(AnalyzeCall(std::move(f)));
  index_.clear();
  order_.clear();
  frames_.clear();
  terminated_.clear();
  completed_ = 0;
  return out;
}

}  // namespace dmrswitch::sim
