// OpenBridge (classic OBP v1) and FreeDMR's FreeBridge extensions (FBP: DMRE v4/v5 and the
// BCKA/BCSQ/BCVE/BCST bridge-control packets), PROTOCOL.md §2. Same conventions as hbp.h: no
// allocation, bounds-checked, one Reject reason per failure, views into the caller's buffer.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dataplane/proto/bytes.h"
#include "dataplane/proto/crypto.h"
#include "dataplane/proto/hbp.h"
#include "dataplane/proto/reject.h"

namespace dmrswitch::proto {

enum class ObpType : uint8_t {
  kUnknown = 0,
  kDmrd,  // classic OBP: 53-byte DMRD + HMAC-SHA1
  kDmre,  // FBP v4/v5
  kBcka,  // keepalive
  kBcsq,  // source quench
  kBcve,  // version
  kBcst,  // "stun"
};
std::string_view ObpTypeName(ObpType t);
ObpType ClassifyObp(ByteSpan pkt);

inline constexpr size_t kObpV1Bytes = kDmrdShortBytes + HmacSha1::kMacBytes;  // 73
inline constexpr size_t kDmreV4Bytes = 85;
inline constexpr size_t kDmreV5Bytes = 89;
inline constexpr size_t kBckaBytes = 24;
inline constexpr size_t kBcsqBytes = 31;
inline constexpr size_t kBcveBytes = 25;
inline constexpr size_t kBcstBytes = 24;
inline constexpr size_t kObpMaxBytes = kDmreV5Bytes;

// ---------------------------------------------------------------------------------------------
// Classic OBP v1.

// 73 bytes: a 53-byte DMRD and HMAC-SHA1 over it. The view's length is 53.
Reject DecodeObpV1(ByteSpan pkt, const HmacSha1& key, DmrdView* out);
// Signs the first 53 bytes of `dmrd` (which must hold at least 53) into a 73-byte packet.
size_t EncodeObpV1(const uint8_t* dmrd, const HmacSha1& key, MutableByteSpan out);
// In place: `pkt` holds a 53-byte DMRD followed by room for the MAC.
void SignObpV1InPlace(uint8_t* pkt, const HmacSha1& key);

// ---------------------------------------------------------------------------------------------
// DMRE (FBP v4 and v5).

namespace dmre_offset {
inline constexpr size_t kVersion = 55;
inline constexpr size_t kTimestamp = 56;
inline constexpr size_t kOriginServer = 64;
inline constexpr size_t kOriginRepeaterV5 = 68;
inline constexpr size_t kHopsV5 = 72;
inline constexpr size_t kMacV5 = 73;
inline constexpr size_t kHopsV4 = 68;
inline constexpr size_t kMacV4 = 69;
}  // namespace dmre_offset

struct DmreView {
  DmrdView dmrd;  // bytes 0..54 (tag "DMRE"); repeater_id = the sending server's ID
  uint8_t version = 0;
  uint64_t timestamp_ns = 0;
  uint32_t origin_server = 0;
  uint32_t origin_repeater = 0;  // v5 only
  uint8_t hops = 0;
};

// Picks the layout by byte 55 (> 4 → v5, 4 → v4, anything else refused), checks the BLAKE2b MAC
// and the stream ID.
Reject DecodeDmre(ByteSpan pkt, const Blake2bMac128& key, DmreView* out);

struct DmreTrailer {
  uint8_t version = 5;
  uint64_t timestamp_ns = 0;
  uint32_t origin_server = 0;
  uint32_t origin_repeater = 0;
  uint8_t hops = 1;
};
// Builds a DMRE from bytes 4..54 of a DMRD-shaped buffer (`dmrd` must hold 55 bytes; bytes 53/54
// are BER/RSSI) and the trailer; v5 → 89 bytes, v4 → 85.
size_t EncodeDmre(const uint8_t* dmrd, const DmreTrailer& t, const Blake2bMac128& key,
                  MutableByteSpan out);

// ---------------------------------------------------------------------------------------------
// Bridge control (HMAC-SHA1 with the OBP key; see PROTOCOL.md §2.3 for what each MAC covers).

Reject DecodeBcka(ByteSpan pkt, const HmacSha1& key);
size_t EncodeBcka(const HmacSha1& key, MutableByteSpan out);

struct Bcsq {
  uint32_t tg = 0;
  uint32_t stream_id = 0;
};
Reject DecodeBcsq(ByteSpan pkt, const HmacSha1& key, Bcsq* out);
size_t EncodeBcsq(const Bcsq& q, const HmacSha1& key, MutableByteSpan out);

Reject DecodeBcve(ByteSpan pkt, const HmacSha1& key, uint8_t* version);
size_t EncodeBcve(uint8_t version, const HmacSha1& key, MutableByteSpan out);

// FreeDMR never validates BCST's MAC (a quirk, PROTOCOL.md §2.3); we do.
Reject DecodeBcst(ByteSpan pkt, const HmacSha1& key);
size_t EncodeBcst(const HmacSha1& key, MutableByteSpan out);

}  // namespace dmrswitch::proto
