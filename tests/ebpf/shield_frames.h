// Ethernet frames for the XDP shield's fixtures: Ethernet, 0-3 VLAN tags, IPv4 (options,
// fragments, lying length fields), UDP, and the non-hub frames that must pass untouched (ARP,
// ICMP, TCP, IPv6). Header-only, byte-exact, no sockets.
#pragma once

#include <cstdint>
#include <optional>
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

// IPv6 UDP to the hub port: the shield must not look at it (yet).
inline Packet Ipv6UdpFrame(uint16_t dst_port, const Packet& payload) {
  Packet p = EthernetHeader(0x86DD);
  Packet ip6(40, 0);
  ip6[0] = 0x60;
  PutBe16(ip6, 4, static_cast<uint16_t>(8 + payload.size()));
  ip6[6] = 17;
  ip6[7] = 64;
  ip6[8] = 0x20;  // 2001:db8::2 -> 2001:db8::1 (documentation prefix; never sent anywhere)
  ip6[9] = 0x01;
  ip6[10] = 0x0d;
  ip6[11] = 0xb8;
  ip6[23] = 2;
  ip6[24] = 0x20;
  ip6[25] = 0x01;
  ip6[26] = 0x0d;
  ip6[27] = 0xb8;
  ip6[39] = 1;
  p.insert(p.end(), ip6.begin(), ip6.end());
  Packet udp(8, 0);
  PutBe16(udp, 0, 40000);
  PutBe16(udp, 2, dst_port);
  PutBe16(udp, 4, static_cast<uint16_t>(8 + payload.size()));
  udp.insert(udp.end(), payload.begin(), payload.end());
  p.insert(p.end(), udp.begin(), udp.end());
  return p;
}

}  // namespace dmrswitch::io::testing
