// Ethernet frames for the XDP shield's fixtures: Ethernet, 0-3 VLAN tags, IPv4 (options,
// fragments, lying length fields), UDP, and the non-hub frames that must pass untouched (ARP,
// ICMP, TCP, IPv6). Header-only, byte-exact, no sockets.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "tests/ebpf/steering_packets.h"

namespace dmrswitch::io::testing {

inline constexpr uint32_t kClientIp = 0xC6120002;  // 198.18.0.2
inline constexpr uint32_t kHubIp = 0xC6120001;     // 198.18.0.1
inline constexpr uint16_t kHbpPort = 62031;
inline constexpr uint16_t kObpPort = 62035;

struct FrameSpec {
  int vlan_tags = 0;  // 0..3: the outer one 802.1ad when there are two or more
  uint32_t src_ip = kClientIp;
  uint32_t dst_ip = kHubIp;
  uint16_t src_port = 40000;
  uint16_t dst_port = kHbpPort;
  uint8_t protocol = 17;             // IPPROTO_UDP
  int ip_option_words = 0;           // 0..10 (IHL = 5 + words)
  uint16_t frag_field = 0;           // the IPv4 flags+offset field, host order (0x2000 = MF)
  std::optional<uint8_t> ihl;        // lie about the IHL
  std::optional<uint16_t> ip_total;  // lie about the IPv4 total length
  std::optional<uint16_t> udp_len;   // lie about the UDP length
};

inline void PutBe16(Packet& p, size_t off, uint16_t v) {
  p[off] = static_cast<uint8_t>(v >> 8);
  p[off + 1] = static_cast<uint8_t>(v);
}

inline void PutBe32At(Packet& p, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[off + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}

// Ethernet header (and VLAN tags) for an inner EtherType.
inline Packet EthernetHeader(uint16_t ethertype, int vlan_tags = 0) {
  Packet p = {0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02};
  for (int i = 0; i < vlan_tags; ++i) {
    const uint16_t tpid = (vlan_tags >= 2 && i == 0) ? 0x88A8 : 0x8100;
    p.push_back(static_cast<uint8_t>(tpid >> 8));
    p.push_back(static_cast<uint8_t>(tpid));
    p.push_back(0x00);
    p.push_back(static_cast<uint8_t>(10 + i));  // VLAN ID 10, 11, ...
  }
  p.push_back(static_cast<uint8_t>(ethertype >> 8));
  p.push_back(static_cast<uint8_t>(ethertype));
  return p;
}

inline uint16_t Ipv4Checksum(const uint8_t* h, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += (uint32_t{h[i]} << 8) | h[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// An IPv4 packet of `protocol` carrying `l4` (already including any L4 header).
inline Packet Ipv4Frame(const FrameSpec& s, const Packet& l4) {
  Packet p = EthernetHeader(0x0800, s.vlan_tags);
  const size_t ip_off = p.size();
  const size_t hdr = 20 + 4 * static_cast<size_t>(s.ip_option_words);
  p.resize(ip_off + hdr, 0);
  p[ip_off] = static_cast<uint8_t>(0x40 | (s.ihl.has_value() ? *s.ihl : (hdr / 4)));
  PutBe16(p, ip_off + 2,
          s.ip_total.has_value() ? *s.ip_total : static_cast<uint16_t>(hdr + l4.size()));
  PutBe16(p, ip_off + 4, 0x1234);
  PutBe16(p, ip_off + 6, s.frag_field);
  p[ip_off + 8] = 64;
  p[ip_off + 9] = s.protocol;
  PutBe32At(p, ip_off + 12, s.src_ip);
  PutBe32At(p, ip_off + 16, s.dst_ip);
  for (size_t i = 20; i < hdr; ++i) p[ip_off + i] = 0x01;  // NOP options
  PutBe16(p, ip_off + 10, Ipv4Checksum(p.data() + ip_off, hdr));
  p.insert(p.end(), l4.begin(), l4.end());
  return p;
}

inline Packet UdpFrame(const FrameSpec& s, const Packet& payload) {
  Packet udp(8, 0);
  PutBe16(udp, 0, s.src_port);
  PutBe16(udp, 2, s.dst_port);
  PutBe16(udp, 4, s.udp_len.has_value() ? *s.udp_len : static_cast<uint16_t>(8 + payload.size()));
  udp.insert(udp.end(), payload.begin(), payload.end());
  return Ipv4Frame(s, udp);
}

inline Packet HbpFrame(const Packet& payload, uint32_t src_ip = kClientIp,
                       uint16_t src_port = 40000) {
  FrameSpec s;
  s.src_ip = src_ip;
  s.src_port = src_port;
  return UdpFrame(s, payload);
}

inline Packet ObpFrame(const Packet& payload, uint32_t src_ip = kClientIp,
                       uint16_t src_port = 62036) {
  FrameSpec s;
  s.src_ip = src_ip;
  s.src_port = src_port;
  s.dst_port = kObpPort;
  return UdpFrame(s, payload);
}

inline Packet Truncated(Packet p, size_t len) {
  p.resize(len);
  return p;
}

inline Packet ArpFrame(int vlan_tags = 0) {
  Packet p = EthernetHeader(0x0806, vlan_tags);
  const Packet arp = {0,   1,  8, 0, 6, 4, 0, 1, 0x02, 0, 0,   0,  0, 0x02,
                      198, 18, 0, 2, 0, 0, 0, 0, 0,    0, 198, 18, 0, 1};
  p.insert(p.end(), arp.begin(), arp.end());
  return p;
}

inline Packet IcmpEchoFrame(int vlan_tags = 0) {
  FrameSpec s;
  s.vlan_tags = vlan_tags;
  s.protocol = 1;
  const Packet icmp = {8, 0, 0xf7, 0xff, 0, 0, 0, 0, 'p', 'i', 'n', 'g'};
  return Ipv4Frame(s, icmp);
}

inline Packet TcpFrame(uint16_t dst_port) {
  FrameSpec s;
  s.protocol = 6;
  Packet tcp(20, 0);
  PutBe16(tcp, 0, 50000);
  PutBe16(tcp, 2, dst_port);
  tcp[12] = 0x50;
  tcp[13] = 0x02;  // SYN
  return Ipv4Frame(s, tcp);
}

using Ip6 = std::array<uint8_t, 16>;
// 2001:2::2 and 2001:2::1 (the benchmarking range; frames here are never sent anywhere).
inline constexpr Ip6 kClientIp6 = {0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
inline constexpr Ip6 kHubIp6 = {0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

struct Ipv6Spec {
  int vlan_tags = 0;
  Ip6 src = kClientIp6;
  Ip6 dst = kHubIp6;
  uint16_t src_port = 40000;
  uint16_t dst_port = kHbpPort;
  uint8_t next_header = 17;  // of the last header before the L4 one
  // Extension headers between the fixed header and L4, each given as (type, total bytes); the
  // writer chains them (a Fragment header is always 8 bytes: `frag_field` is its offset/M).
  std::vector<std::pair<uint8_t, size_t>> ext;
  uint16_t frag_field = 0;
  uint8_t version = 6;
  std::optional<uint16_t> payload_len;  // lie about the IPv6 payload length
  std::optional<uint16_t> udp_len;      // lie about the UDP length
};

// Ethernet/IPv6/[extension headers]/L4: UDP around `payload` when next_header is 17, else
// `payload` as the whole L4 message. No checksums: the shield never verifies them.
inline Packet Ipv6Frame(const Ipv6Spec& s, const Packet& payload) {
  Packet l4 = payload;
  if (s.next_header == 17) {
    Packet udp(8, 0);
    PutBe16(udp, 0, s.src_port);
    PutBe16(udp, 2, s.dst_port);
    PutBe16(udp, 4, s.udp_len.value_or(static_cast<uint16_t>(8 + payload.size())));
    udp.insert(udp.end(), payload.begin(), payload.end());
    l4 = udp;
  }
  Packet ext;
  for (size_t i = 0; i < s.ext.size(); ++i) {
    const uint8_t next = i + 1 < s.ext.size() ? s.ext[i + 1].first : s.next_header;
    const bool frag = s.ext[i].first == 44;
    const size_t len = frag ? 8 : s.ext[i].second;
    Packet h(len, 0);
    h[0] = next;
    if (frag) {
      PutBe16(h, 2, s.frag_field);
    } else {
      h[1] = static_cast<uint8_t>(len / 8 - 1);
      h[2] = 1;  // PadN over the rest
      h[3] = static_cast<uint8_t>(len - 4);
    }
    ext.insert(ext.end(), h.begin(), h.end());
  }
  Packet p = EthernetHeader(0x86DD, s.vlan_tags);
  Packet ip6(40, 0);
  ip6[0] = static_cast<uint8_t>(s.version << 4);
  PutBe16(ip6, 4, s.payload_len.value_or(static_cast<uint16_t>(ext.size() + l4.size())));
  ip6[6] = s.ext.empty() ? s.next_header : s.ext[0].first;
  ip6[7] = 64;
  std::copy(s.src.begin(), s.src.end(), ip6.begin() + 8);
  std::copy(s.dst.begin(), s.dst.end(), ip6.begin() + 24);
  p.insert(p.end(), ip6.begin(), ip6.end());
  p.insert(p.end(), ext.begin(), ext.end());
  p.insert(p.end(), l4.begin(), l4.end());
  return p;
}

inline Packet Ipv6UdpFrame(uint16_t dst_port, const Packet& payload) {
  Ipv6Spec s;
  s.dst_port = dst_port;
  return Ipv6Frame(s, payload);
}

inline Packet Hbp6Frame(const Packet& payload, const Ip6& src = kClientIp6,
                        uint16_t src_port = 40000) {
  Ipv6Spec s;
  s.src = src;
  s.src_port = src_port;
  return Ipv6Frame(s, payload);
}

}  // namespace dmrswitch::io::testing
