// Fuzzes the link control decoders. Input: a 33-byte burst (shorter inputs are ignored), then
// optionally 16 more bytes as the four big-endian embedded LC fragments (without them the first 16
// burst bytes are used). Whatever decodes must re-encode to something that decodes to the same LC,
// and the precomputed rewrite must agree with the plain encoder on the fuzzed burst.
#include <array>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "dataplane/proto/bytes.h"
#include "dataplane/proto/dmr_lc.h"

namespace {

using dmrswitch::proto::dmr::DecodeEmbeddedLc;
using dmrswitch::proto::dmr::DecodeFullLc;
using dmrswitch::proto::dmr::EmbeddedLcFragments;
using dmrswitch::proto::dmr::EncodeEmbeddedLc;
using dmrswitch::proto::dmr::EncodeFullLc;
using dmrswitch::proto::dmr::FullLcKind;
using dmrswitch::proto::dmr::kBurstBytes;
using dmrswitch::proto::dmr::Lc;
using dmrswitch::proto::dmr::LcRewrite;

using BurstBytes = std::array<uint8_t, kBurstBytes>;

void CheckFullLc(const BurstBytes& burst, FullLcKind kind) {
  Lc lc;
  if (!DecodeFullLc(burst, kind, &lc)) return;
  BurstBytes again = burst;
  EncodeFullLc(lc, kind, again);
  Lc lc2;
  if (!DecodeFullLc(again, kind, &lc2) || !(lc2 == lc)) std::abort();
  // Slot type and sync (bits 98..165) survive the encoder.
  if (std::memcmp(&again[13], &burst[13], 7) != 0 || (again[12] & 0x3F) != (burst[12] & 0x3F) ||
      (again[20] & 0xFC) != (burst[20] & 0xFC)) {
    std::abort();
  }
  // The masked copy is the same thing as encoding.
  BurstBytes applied = burst;
  const LcRewrite rw = LcRewrite::For(lc);
  if (kind == FullLcKind::kVoiceHeader) {
    rw.ApplyHeader(applied);
  } else {
    rw.ApplyTerminator(applied);
  }
  if (applied != again) std::abort();
}

void CheckEmbeddedLc(const EmbeddedLcFragments& fragments) {
  Lc lc;
  if (!DecodeEmbeddedLc(fragments, &lc)) return;
  const EmbeddedLcFragments again = EncodeEmbeddedLc(lc);
  Lc lc2;
  if (!DecodeEmbeddedLc(again, &lc2) || !(lc2 == lc)) std::abort();
  // The decoder corrects at most one bit in each of the seven Hamming rows.
  int distance = 0;
  for (size_t i = 0; i < fragments.size(); ++i) distance += std::popcount(fragments[i] ^ again[i]);
  if (distance > 7) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kBurstBytes) return 0;
  BurstBytes burst;
  std::memcpy(burst.data(), data, kBurstBytes);
  CheckFullLc(burst, FullLcKind::kVoiceHeader);
  CheckFullLc(burst, FullLcKind::kTerminator);

  const uint8_t* frag_bytes = size >= kBurstBytes + 16 ? data + kBurstBytes : data;
  EmbeddedLcFragments fragments;
  for (size_t i = 0; i < fragments.size(); ++i)
    fragments[i] = dmrswitch::proto::LoadBe32(frag_bytes + 4 * i);
  CheckEmbeddedLc(fragments);
  return 0;
}
