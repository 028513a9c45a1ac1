// DMR link control (ETSI TS 102 361-1): the 72-bit LC and its two carriers in a 264-bit burst.
//
// * Full LC in voice LC header and terminator-with-LC bursts: LC + RS(12,9) parity XORed with a
//   per-kind mask (0x96 header, 0x99 terminator), BPTC(196,96) with interleaving, in burst bits
//   0..97 and 166..263 (bits 98..165 are slot type + sync and stay untouched).
// * Embedded LC in voice bursts B..E: LC + 5-bit checksum, Hamming(16,11,4) rows plus column
//   parity, transposed, cut into four 32-bit fragments in burst bits 116..147.
//
// Bit numbering: bit 0 is the most significant bit of byte 0 of the 33-byte burst.
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace dmrswitch::proto::dmr {

inline constexpr size_t kBurstBytes = 33;
using Burst = std::span<uint8_t, kBurstBytes>;
using ConstBurst = std::span<const uint8_t, kBurstBytes>;

// The 9-byte LC: FLCO/PF (byte 0), FID (1), service options (2), destination (3..5),
// source (6..8).
struct Lc {
  std::array<uint8_t, 9> bytes{};

  // Group voice channel user LC (FLCO 0), FID 0, service options 0.
  static Lc GroupVoice(uint32_t dst, uint32_t src);
  uint8_t flco() const { return bytes[0] & 0x3F; }
  uint32_t dst() const;
  uint32_t src() const;
  void set_dst(uint32_t dst);
  void set_src(uint32_t src);
  bool operator==(const Lc&) const = default;
};

enum class FullLcKind : uint8_t { kVoiceHeader, kTerminator };

// Decodes the full LC of a header/terminator burst. Single-bit errors per BPTC row/column are
// corrected; returns false when the BPTC cannot be repaired or the RS(12,9) check fails.
bool DecodeFullLc(ConstBurst burst, FullLcKind kind, Lc* out);
// Encodes `lc` into bits 0..97 and 166..263 of `burst`; bits 98..165 are left as they are.
void EncodeFullLc(const Lc& lc, FullLcKind kind, Burst burst);

// The four 32-bit fragments carried by voice bursts B, C, D, E (in that order).
using EmbeddedLcFragments = std::array<uint32_t, 4>;
EmbeddedLcFragments EncodeEmbeddedLc(const Lc& lc);
// Returns false when a Hamming row cannot be corrected or the 5-bit checksum fails.
bool DecodeEmbeddedLc(const EmbeddedLcFragments& fragments, Lc* out);
uint32_t GetEmbeddedFragment(ConstBurst burst);  // bits 116..147
void SetEmbeddedFragment(Burst burst, uint32_t fragment);

// Everything needed to rewrite the LC of one stream for one destination TG, computed once per
// (stream, TG) so that the per-packet rewrite is a masked copy.
struct LcRewrite {
  std::array<uint8_t, kBurstBytes> header{};      // encoded header LC bits, zero elsewhere
  std::array<uint8_t, kBurstBytes> terminator{};  // encoded terminator LC bits, zero elsewhere
  EmbeddedLcFragments embedded{};

  static LcRewrite For(const Lc& lc);
  // burst = (burst & keep-mask) | image, keep-mask preserving bits 98..165.
  void ApplyHeader(Burst burst) const;
  void ApplyTerminator(Burst burst) const;
  // voice_seq 1..4 (bursts B..E) replaces bits 116..147; other values are left alone.
  void ApplyEmbedded(Burst burst, unsigned voice_seq) const;
};

}  // namespace dmrswitch::proto::dmr
