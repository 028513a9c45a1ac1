// Why a decoder refused a packet. One reason per failure, counted per lcore by whoever decodes
// (the STYLE.md habit of VPP's error lists): operators see every drop by name.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace dmrswitch::proto {

enum class Reject : uint8_t {
  kOk = 0,
  kTruncated,           // shorter than the packet type's fixed size
  kOversized,           // longer than the packet type allows
  kBadLength,           // a length that no variant of this packet type has
  kUnknownTag,          // no known packet starts with these bytes
  kBadMagic,            // tag prefix matched but the full tag did not
  kZeroStreamId,        // DMRD/DMRE stream ID 0 (dropped by every server)
  kBadFrameType,        // DMRD flags frame type 3 (reserved)
  kBadMac,              // HMAC-SHA1 or BLAKE2b check failed
  kUnsupportedVersion,  // DMRE protocol version below 4 (> 4 reads as v5, like FreeDMR)
  kBadField,            // a field that must be ASCII/decimal is not
  kCount,
};

inline constexpr std::array<std::string_view, static_cast<size_t>(Reject::kCount)> kRejectNames = {
    "ok",          "truncated",      "oversized", "bad_length",          "unknown_tag", "bad_magic",
    "zero_stream", "bad_frame_type", "bad_mac",   "unsupported_version", "bad_field",
};

constexpr std::string_view RejectName(Reject r) {
  return kRejectNames[static_cast<size_t>(r) < kRejectNames.size() ? static_cast<size_t>(r) : 0];
}

// Per-lcore counters: written by one thread only, summed by readers.
struct RejectCounters {
  std::array<uint64_t, static_cast<size_t>(Reject::kCount)> by_reason{};

  // Counts `r` unless it is kOk; returns r so that callers can write `if (Count(Decode(...)))`.
  Reject Count(Reject r) {
    if (r != Reject::kOk) ++by_reason[static_cast<size_t>(r)];
    return r;
  }
  uint64_t operator[](Reject r) const { return by_reason[static_cast<size_t>(r)]; }
  uint64_t total_rejects() const {
    uint64_t n = 0;
    for (size_t i = 1; i < by_reason.size(); ++i) n += by_reason[i];
    return n;
  }
};

}  // namespace dmrswitch::proto
