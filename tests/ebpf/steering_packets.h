// Datagram builders for the steering tests. Offsets are written out literally from
// PROTOCOL.md §1.2, §1.3, §2 rather than taken from ebpf/steer_common.h, so a wrong constant
// there shows up as a test failure instead of agreeing with itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace dmrswitch::io::testing {

using Packet = std::vector<uint8_t>;

inline void PutBe32(Packet& p, size_t off, uint32_t v) {
  p[off] = static_cast<uint8_t>(v >> 24);
  p[off + 1] = static_cast<uint8_t>(v >> 16);
  p[off + 2] = static_cast<uint8_t>(v >> 8);
  p[off + 3] = static_cast<uint8_t>(v);
}

// A packet of `len` bytes starting with `tag`, the rest filled with `fill` (so two packets
// with the same key still differ, which lets the socket tests match sent and received bytes).
inline Packet Tagged(std::string_view tag, size_t len, uint8_t fill = 0xA5) {
  Packet p(len, fill);
  for (size_t i = 0; i < tag.size() && i < len; ++i) p[i] = static_cast<uint8_t>(tag[i]);
  return p;
}

inline Packet KeyAt(std::string_view tag, size_t len, size_t key_off, uint32_t key,
                    uint8_t fill = 0xA5) {
  Packet p = Tagged(tag, len, fill);
  PutBe32(p, key_off, key);
  return p;
}

// HBP DMRD: 55 bytes (53 without BER/RSSI); stream ID at 16..19.
inline Packet Dmrd(uint32_t stream, size_t len = 55, uint8_t fill = 0xA5) {
  Packet p = KeyAt("DMRD", len, 16, stream, fill);
  PutBe32(p, 11, 312000);  // repeater ID: must not be mistaken for the key
  return p;
}
// OBP v1: 53-byte DMRD + 20-byte HMAC.
inline Packet ObpDmrd(uint32_t stream, uint8_t fill = 0xA5) { return Dmrd(stream, 73, fill); }
// FBP DMRE v4 (85) / v5 (89).
inline Packet Dmre(uint32_t stream, size_t len = 89, uint8_t fill = 0xA5) {
  Packet p = KeyAt("DMRE", len, 16, stream, fill);
  PutBe32(p, 11, 2341);
  return p;
}
// BCSQ: tag + tgid(3) + stream(4) + HMAC(20) = 31.
inline Packet Bcsq(uint32_t stream, uint8_t fill = 0xA5) {
  Packet p = KeyAt("BCSQ", 31, 7, stream, fill);
  p[4] = 0x00;
  p[5] = 0x0B;
  p[6] = 0xB8;  // TG 3000
  return p;
}
inline Packet Rptping(uint32_t id) { return KeyAt("RPTPING", 11, 7, id); }
inline Packet Rpto(uint32_t id, std::string_view options = "TS1=91;TS2=3100") {
  Packet p = KeyAt("RPTO", 8 + options.size(), 4, id);
  for (size_t i = 0; i < options.size(); ++i) p[8 + i] = static_cast<uint8_t>(options[i]);
  return p;
}
inline Packet Rptl(uint32_t id) { return KeyAt("RPTL", 8, 4, id); }
inline Packet Rptk(uint32_t id) { return KeyAt("RPTK", 40, 4, id); }
inline Packet Rptc(uint32_t id) { return KeyAt("RPTC", 302, 4, id, 0x20); }
inline Packet Rptcl(uint32_t id) { return KeyAt("RPTCL", 9, 5, id); }
inline Packet DmraGateway(uint32_t id) { return KeyAt("DMRA", 19, 4, id); }
inline Packet DmrgGateway(uint32_t id) { return KeyAt("DMRG", 18, 4, id); }
inline Packet Rptg(uint32_t id) { return KeyAt("RPTG", 25, 4, id, '0'); }

}  // namespace dmrswitch::io::testing
