// The Internet checksum (RFC 1071) and its incremental update (RFC 1624), over byte spans.
//
// Values are handled as host-order numbers whose big-endian encoding is the wire field: a
// checksum returned here is stored with StoreBe16 and a field read with LoadBe16 can be passed
// in. Sums are accumulated over native-order words and swapped once at the end, which RFC 1071
// §2(B) allows (the one's complement sum is byte-order independent); that keeps the inner loop
// to plain 32-bit loads.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "dataplane/proto/bytes.h"

namespace dmrswitch::net {

using proto::ByteSpan;
using proto::MutableByteSpan;

// bytes.h has no 16-bit helpers (no DMR field is 16 bits wide); the network headers need them.
inline uint16_t LoadBe16(const uint8_t* p) {
  return static_cast<uint16_t>((uint16_t{p[0]} << 8) | uint16_t{p[1]});
}
inline void StoreBe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// Folds a wide one's complement accumulator to 16 bits (end-around carry), not complemented.
constexpr uint16_t ChecksumFold(uint64_t sum) {
  sum = (sum & 0xffffffff) + (sum >> 32);
  sum = (sum & 0xffffffff) + (sum >> 32);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// One's complement sum of `data` taken as big-endian 16-bit words (an odd last byte is the high
// half of a zero-padded word), folded to 16 bits and not complemented: the partial sum that
// pseudo-header and multi-part checksums add together.
inline uint16_t ChecksumPartial(const uint8_t* data, size_t len) {
  // Two accumulators of 32-bit halves of 64-bit loads: short dependency chains, and a 64-bit
  // sum of 32-bit values cannot overflow below 2^32 bytes. The tail is taken with fixed-size
  // copies only, so no length-dependent memcpy call is left in the loop's exit.
  uint64_t s0 = 0;
  uint64_t s1 = 0;
  size_t i = 0;
  for (; i + 16 <= len; i += 16) {
    uint64_t a;
    uint64_t b;
    std::memcpy(&a, data + i, 8);
    std::memcpy(&b, data + i + 8, 8);
    s0 += (a & 0xffffffff) + (a >> 32);
    s1 += (b & 0xffffffff) + (b >> 32);
  }
  for (; i + 4 <= len; i += 4) {
    uint32_t w;
    std::memcpy(&w, data + i, 4);
    s0 += w;
  }
  if (len - i >= 2) {
    uint16_t w;
    std::memcpy(&w, data + i, 2);
    s1 += w;
    i += 2;
  }
  if (i < len) {
    // An odd last byte is the high (first) half of a zero-padded word, as RFC 1071 pads: in
    // native order that is the low byte on a little-endian machine.
    s1 += std::endian::native == std::endian::little ? uint64_t{data[i]} : uint64_t{data[i]} << 8;
  }
  uint16_t folded = ChecksumFold(s0 + s1);
  if constexpr (std::endian::native == std::endian::little) {
    folded = static_cast<uint16_t>((folded >> 8) | (folded << 8));
  }
  return folded;
}
inline uint16_t ChecksumPartial(ByteSpan data) { return ChecksumPartial(data.data(), data.size()); }

// Adds two partial sums (one's complement addition).
constexpr uint16_t ChecksumAdd(uint16_t a, uint16_t b) {
  return ChecksumFold(uint32_t{a} + uint32_t{b});
}

// The checksum field value for `data` (whose own checksum field must be zero, or be verified:
// over data that includes a correct checksum this returns 0).
inline uint16_t InternetChecksum(ByteSpan data) {
  return static_cast<uint16_t>(~ChecksumPartial(data));
}

// IPv4 header checksum over `ihl_bytes` bytes at `ip` (a multiple of 4, ≥ 20), treating the
// checksum field as zero so the result can be stored directly.
inline uint16_t Ipv4HeaderChecksum(const uint8_t* ip, size_t ihl_bytes) {
  const uint16_t with_field = ChecksumPartial(ip, ihl_bytes);
  // Subtracting the stored field in one's complement = adding its complement.
  const uint16_t without = ChecksumAdd(with_field, static_cast<uint16_t>(~LoadBe16(ip + 10)));
  return static_cast<uint16_t>(~without);
}

// True when the IPv4 header at `ip` carries a correct checksum (the sum over the whole header,
// field included, is all ones).
inline bool Ipv4HeaderChecksumOk(const uint8_t* ip, size_t ihl_bytes) {
  if (ihl_bytes == 20) {
    // The header without options, every received frame's: three fixed loads and one fold
    // instead of ChecksumPartial's loops (~15 instructions, not ~55). All ones is all ones in
    // either byte order, so the native-order sum needs no swap.
    uint64_t a;
    uint64_t b;
    uint32_t c;
    std::memcpy(&a, ip, 8);
    std::memcpy(&b, ip + 8, 8);
    std::memcpy(&c, ip + 16, 4);
    return ChecksumFold((a & 0xffffffff) + (a >> 32) + (b & 0xffffffff) + (b >> 32) + c) == 0xffff;
  }
  return ChecksumPartial(ip, ihl_bytes) == 0xffff;
}

// RFC 1624 eqn. 3: the new checksum after one 16-bit word of the covered data changed from
// `old_word` to `new_word`: HC' = ~(~HC + ~m + m'). Equals a full recomputation unless the data
// becomes all zero: then the sum is one's complement -0 and this returns 0x0000 where the full
// computation gives 0xffff (only the latter verifies). Callers whose data can become all zero
// (ICMP) check for a 0 result; an IPv4 header never is.
constexpr uint16_t ChecksumUpdate16(uint16_t old_checksum, uint16_t old_word, uint16_t new_word) {
  uint32_t sum = static_cast<uint16_t>(~old_checksum);
  sum += static_cast<uint16_t>(~old_word);
  sum += new_word;
  return static_cast<uint16_t>(~ChecksumFold(sum));
}

// The same for a 32-bit field (an IPv4 address) as two words.
constexpr uint16_t ChecksumUpdate32(uint16_t old_checksum, uint32_t old_value, uint32_t new_value) {
  uint32_t sum = static_cast<uint16_t>(~old_checksum);
  sum += static_cast<uint16_t>(~(old_value >> 16));
  sum += static_cast<uint16_t>(~old_value);
  sum += new_value >> 16;
  sum += new_value & 0xffff;
  return static_cast<uint16_t>(~ChecksumFold(sum));
}

// Partial (uncomplemented) sum of the IPv4 pseudo-header of RFC 768 for a UDP/TCP segment.
constexpr uint16_t Ipv4PseudoHeaderSum(uint32_t src_ip, uint32_t dst_ip, uint8_t proto,
                                       uint16_t l4_len) {
  uint64_t sum = (src_ip >> 16) + (src_ip & 0xffff) + (dst_ip >> 16) + (dst_ip & 0xffff);
  sum += proto;
  sum += l4_len;
  return ChecksumFold(sum);
}

// Partial (uncomplemented) sum of the IPv6 pseudo-header of RFC 8200 §8.1: both addresses, the
// upper-layer length (32 bits) and the next header.
inline uint16_t Ipv6PseudoHeaderSum(const uint8_t* src_ip6, const uint8_t* dst_ip6, uint8_t proto,
                                    uint32_t l4_len) {
  uint64_t sum = ChecksumPartial(src_ip6, 16);
  sum += ChecksumPartial(dst_ip6, 16);
  sum += (l4_len >> 16) + (l4_len & 0xffff);
  sum += proto;
  return ChecksumFold(sum);
}

}  // namespace dmrswitch::net
