// What the dataplane/net tests build frames with, independent of the code under test: a
// big-endian byte writer and RFC 1071 the slow, obvious way.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace dmrswitch::net::testing {

using Bytes = std::vector<uint8_t>;

// 16-bit big-endian words, 32-bit sum, carries folded at the end, complemented.
inline uint16_t RefChecksum(const uint8_t* d, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i < n; i += 2) {
    s += static_cast<uint32_t>(d[i]) << 8;
    if (i + 1 < n) s += d[i + 1];
  }
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(~s);
}
inline uint16_t RefChecksum(const Bytes& b) { return RefChecksum(b.data(), b.size()); }

// A byte writer for hand-built frames.
struct W {
  Bytes b;
  W& u8(uint8_t v) {
    b.push_back(v);
    return *this;
  }
  W& u16(uint16_t v) { return u8(static_cast<uint8_t>(v >> 8)).u8(static_cast<uint8_t>(v)); }
  W& u32(uint32_t v) { return u16(static_cast<uint16_t>(v >> 16)).u16(static_cast<uint16_t>(v)); }
  // MACs, IPv6 addresses: any byte array, as is.
  template <size_t N>
  W& raw(const std::array<uint8_t, N>& r) {
    b.insert(b.end(), r.begin(), r.end());
    return *this;
  }
  template <size_t N>
  W& mac(const std::array<uint8_t, N>& m) {
    return raw(m);
  }
  W& raw(const Bytes& r) {
    b.insert(b.end(), r.begin(), r.end());
    return *this;
  }
  size_t size() const { return b.size(); }
};

inline void Put16(Bytes& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}
inline uint16_t Get16(const Bytes& b, size_t at) {
  return static_cast<uint16_t>(b[at] << 8 | b[at + 1]);
}

}  // namespace dmrswitch::net::testing
