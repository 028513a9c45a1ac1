#include "dataplane/net/packet.h"

#include <cstring>

namespace dmrswitch::net {

static_assert(kNetRejectNames.size() == static_cast<size_t>(NetReject::kCount));

namespace {

using proto::LoadBe32;
using proto::StoreBe32;

// The I/G bit: set on group (multicast and broadcast) addresses, never on a station's own.
bool IsGroupMac(const uint8_t* mac) { return (mac[0] & 0x01) != 0; }

// A source no neighbour can have: 0.0.0.0, class D multicast, the limited broadcast.
bool IsBadSourceIp(uint32_t ip) { return ip == 0 || (ip >> 28) == 0xe || ip == 0xffffffff; }

// ARP may come from 0.0.0.0: RFC 5227 probes do, and deserve an answer.
bool IsBadArpSenderIp(uint32_t ip) { return (ip >> 28) == 0xe || ip == 0xffffffff; }

// Writes the Ethernet header (+tag) and returns its length.
size_t WriteEth(uint8_t* o, const uint8_t* dst, const uint8_t* src, Vlan vlan, uint16_t type) {
  std::memcpy(o, dst, 6);
  std::memcpy(o + 6, src, 6);
  size_t n = 12;
  if (vlan.present) {
    StoreBe16(o + n, kEtherTypeVlan);
    StoreBe16(o + n + 2, vlan.tci);
    n += kVlanTagBytes;
  }
  StoreBe16(o + n, type);
  return n + 2;
}

void WriteArpBody(uint8_t* a, uint16_t op, const uint8_t* sha, uint32_t spa, const uint8_t* tha,
                  uint32_t tpa) {
  StoreBe16(a, 1);  // hardware type: Ethernet
  StoreBe16(a + 2, kEtherTypeIpv4);
  a[4] = 6;
  a[5] = 4;
  StoreBe16(a + 6, op);
  std::memcpy(a + 8, sha, 6);
  StoreBe32(a + 14, spa);
  std::memcpy(a + 18, tha, 6);
  StoreBe32(a + 24, tpa);
}

NetReject ParseArp(const uint8_t* a, size_t avail, FrameView* v) {
  if (avail < kArpBodyBytes) return NetReject::kBadArp;
  if (LoadBe16(a) != 1 || LoadBe16(a + 2) != kEtherTypeIpv4 || a[4] != 6 || a[5] != 4) {
    return NetReject::kBadArp;
  }
  const uint16_t op = LoadBe16(a + 6);
  if (op != 1 && op != 2) return NetReject::kBadArp;
  v->l3 = L3Kind::kArp;
  v->arp_op = op;
  v->l3_length = kArpBodyBytes;
  v->l4_offset = static_cast<uint16_t>(v->l3_offset + kArpBodyBytes);
  v->src_ip = LoadBe32(a + 14);
  v->dst_ip = LoadBe32(a + 24);
  if (IsGroupMac(a + 8) || IsBadArpSenderIp(v->src_ip)) return NetReject::kBadSource;
  return NetReject::kOk;
}

// Ports and payload of a UDP header whose length was checked against the IP payload.
void TakeUdp(const uint8_t* l4, size_t l4_len, FrameView* v) {
  v->src_port = LoadBe16(l4);
  v->dst_port = LoadBe16(l4 + 2);
  v->payload = ByteSpan(l4 + kUdpHeaderBytes, l4_len - kUdpHeaderBytes);
}

NetReject ParseIpv4(const uint8_t* ip, size_t avail, const ParseOptions& opts, FrameView* v) {
  if (avail < kIpv4MinHeaderBytes) return NetReject::kBadIpHeader;
  const uint8_t vihl = ip[0];
  const size_t ihl = size_t{vihl & 0x0fu} * 4;
  if ((vihl >> 4) != 4 || ihl < kIpv4MinHeaderBytes || ihl > avail) return NetReject::kBadIpHeader;
  const uint16_t total = LoadBe16(ip + 2);
  if (total < ihl || total > avail) return NetReject::kBadIpHeader;
  if (!opts.ip_checksum_good && !Ipv4HeaderChecksumOk(ip, ihl)) return NetReject::kIpChecksum;
  if ((LoadBe16(ip + 6) & 0x3fff) != 0) return NetReject::kFragment;  // MF | offset

  v->l3 = L3Kind::kIpv4;
  v->l3_length = total;
  v->ip_header_bytes = static_cast<uint8_t>(ihl);
  v->tos = ip[1];
  v->ip_id = LoadBe16(ip + 4);
  v->ttl = ip[8];
  v->ip_proto = ip[9];
  v->src_ip = LoadBe32(ip + 12);
  v->dst_ip = LoadBe32(ip + 16);
  v->l4_offset = static_cast<uint16_t>(v->l3_offset + ihl);
  if (IsBadSourceIp(v->src_ip)) return NetReject::kBadSource;

  const uint8_t* l4 = ip + ihl;
  const size_t l4_len = total - ihl;
  if (v->ip_proto == kIpProtoUdp) {
    if (l4_len < kUdpHeaderBytes || LoadBe16(l4 + 4) != l4_len) return NetReject::kBadUdpLength;
    if (LoadBe16(l4 + 6) != 0 && !opts.udp_checksum_good) {
      const uint16_t sum = ChecksumAdd(
          Ipv4PseudoHeaderSum(v->src_ip, v->dst_ip, kIpProtoUdp, static_cast<uint16_t>(l4_len)),
          ChecksumPartial(l4, l4_len));
      if (sum != 0xffff) return NetReject::kUdpChecksum;
    }
    TakeUdp(l4, l4_len, v);
    return NetReject::kOk;
  }
  if (v->ip_proto == kIpProtoIcmp) {
    if (l4_len < kIcmpHeaderBytes) return NetReject::kBadIcmp;
    if (ChecksumPartial(l4, l4_len) != 0xffff) return NetReject::kIcmpChecksum;
    v->icmp_type = l4[0];
    v->icmp_code = l4[1];
    v->payload = ByteSpan(l4 + kIcmpHeaderBytes, l4_len - kIcmpHeaderBytes);
    return NetReject::kOk;
  }
  return NetReject::kNotUdpOrIcmp;
}

bool IsZero6(const uint8_t* a) {
  for (int i = 0; i < 16; ++i) {
    if (a[i] != 0) return false;
  }
  return true;
}
bool IsMulticast6(const uint8_t* a) { return a[0] == 0xff; }
bool IsLinkLocal6(const uint8_t* a) { return a[0] == 0xfe && (a[1] & 0xc0) == 0x80; }
bool IsLoopback6(const uint8_t* a) {
  for (int i = 0; i < 15; ++i) {
    if (a[i] != 0) return false;
  }
  return a[15] == 1;
}
// ::ffff:a.b.c.d on the wire would let an IPv6 sender pass for an IPv4 client (route::Endpoint
// folds the two): never a real source (RFC 4291 §2.5.5.2 reserves it for the socket API).
bool IsV4Mapped6(const uint8_t* a) {
  for (int i = 0; i < 10; ++i) {
    if (a[i] != 0) return false;
  }
  return a[10] == 0xff && a[11] == 0xff;
}

// RFC 4861 §7.1.1/§7.1.2 on an NS or NA at `m` (`len` bytes, checksum already verified): hop
// limit 255, code 0, at least 24 bytes, a unicast target, options of non-zero length that fit, and
// for a DAD probe (source ::) a solicited-node destination and no source link-layer option.
NetReject ParseNd(const uint8_t* ip, const uint8_t* m, size_t len, FrameView* v) {
  if (v->ttl != 255 || m[1] != 0 || len < 24 || IsMulticast6(m + 8)) return NetReject::kBadNd;
  const uint8_t want = m[0] == kIcmp6NeighborSolicit ? 1 : 2;  // source / target LLA option
  const bool dad = IsZero6(ip + 8);
  for (size_t o = 24; o < len;) {
    if (len - o < 2 || m[o + 1] == 0) return NetReject::kBadNd;
    const size_t olen = size_t{m[o + 1]} * 8;
    if (olen > len - o) return NetReject::kBadNd;
    if (m[o] == want) {
      if (olen != 8 || dad) return NetReject::kBadNd;  // Ethernet: 6-byte address in 8
      v->nd_lla_offset = static_cast<uint16_t>((m - v->frame.data()) + o + 2);
    }
    o += olen;
  }
  if (dad) {
    static constexpr uint8_t kSolicitedPrefix[13] = {0xff, 0x02, 0, 0, 0, 0,   0,
                                                     0,    0,    0, 0, 1, 0xff};
    if (m[0] != kIcmp6NeighborSolicit || std::memcmp(ip + 24, kSolicitedPrefix, 13) != 0) {
      return NetReject::kBadNd;
    }
  }
  return NetReject::kOk;
}

NetReject ParseIpv6(const uint8_t* ip, size_t avail, const ParseOptions& opts, FrameView* v) {
  if (avail < kIpv6HeaderBytes || (ip[0] >> 4) != 6) return NetReject::kBadIpHeader;
  const size_t payload_len = LoadBe16(ip + 4);
  // Payload length 0 is a jumbogram (RFC 2675): never on an Ethernet port.
  if (payload_len == 0 || kIpv6HeaderBytes + payload_len > avail) return NetReject::kBadIpHeader;
  v->l3 = L3Kind::kIpv6;
  v->l3_length = static_cast<uint16_t>(kIpv6HeaderBytes + payload_len);
  v->tos = static_cast<uint8_t>((LoadBe16(ip) >> 4) & 0xff);
  v->ttl = ip[7];
  const uint8_t* src = ip + 8;
  if (IsMulticast6(src) || IsLoopback6(src) || IsV4Mapped6(src)) return NetReject::kBadSource;

  uint8_t nh = ip[6];
  size_t off = kIpv6HeaderBytes;
  const size_t end = kIpv6HeaderBytes + payload_len;
  for (int n = 0;; ++n) {
    if (nh == kIpProtoUdp || nh == kIpProtoIcmp6) break;
    if (nh == 44) return NetReject::kFragment;
    if (nh != 0 && nh != 43 && nh != 60) return NetReject::kNotUdpOrIcmp;  // ESP, AH, none, TCP...
    // Hop-by-Hop only directly after the fixed header (RFC 8200 §4.3); a Routing header with
    // segments left would send the packet on to another node: not ours to take.
    if (n == kIpv6MaxExtHeaders || (nh == 0 && n != 0) || end - off < 8) {
      return NetReject::kIpv6ExtChain;
    }
    const size_t hlen = (size_t{ip[off + 1]} + 1) * 8;
    if (hlen > end - off || (nh == 43 && ip[off + 3] != 0)) return NetReject::kIpv6ExtChain;
    nh = ip[off];
    off += hlen;
  }
  // FrameView keeps the header length in a byte; no hub client sends more than a few options.
  if (off > 0xff) return NetReject::kIpv6ExtChain;
  v->ip_proto = nh;
  v->ip_header_bytes = static_cast<uint8_t>(off);
  v->l4_offset = static_cast<uint16_t>(v->l3_offset + off);
  const uint8_t* l4 = ip + off;
  const size_t l4_len = end - off;
  const uint8_t* dst = ip + 24;

  if (nh == kIpProtoUdp) {
    // Link-local and unspecified sources are for the link's own protocols, never a client.
    if (IsZero6(src) || IsLinkLocal6(src)) return NetReject::kBadSource;
    if (l4_len < kUdpHeaderBytes || LoadBe16(l4 + 4) != l4_len) return NetReject::kBadUdpLength;
    if (LoadBe16(l4 + 6) == 0) return NetReject::kUdpChecksumZero;
    if (!opts.udp_checksum_good) {
      const uint16_t sum =
          ChecksumAdd(Ipv6PseudoHeaderSum(src, dst, kIpProtoUdp, static_cast<uint32_t>(l4_len)),
                      ChecksumPartial(l4, l4_len));
      if (sum != 0xffff) return NetReject::kUdpChecksum;
    }
    TakeUdp(l4, l4_len, v);
    return NetReject::kOk;
  }
  if (l4_len < kIcmpHeaderBytes) return NetReject::kBadIcmp;
  const uint16_t sum =
      ChecksumAdd(Ipv6PseudoHeaderSum(src, dst, kIpProtoIcmp6, static_cast<uint32_t>(l4_len)),
                  ChecksumPartial(l4, l4_len));
  if (sum != 0xffff) return NetReject::kIcmpChecksum;
  v->icmp_type = l4[0];
  v->icmp_code = l4[1];
  v->payload = ByteSpan(l4 + kIcmpHeaderBytes, l4_len - kIcmpHeaderBytes);
  if (v->icmp_type == kIcmp6NeighborSolicit || v->icmp_type == kIcmp6NeighborAdvert) {
    const NetReject r = ParseNd(ip, l4, l4_len, v);
    if (r != NetReject::kOk) return r;
    // Only a DAD probe may come from :: (ParseNd checked its shape).
    return NetReject::kOk;
  }
  if (IsZero6(src)) return NetReject::kBadSource;
  return NetReject::kOk;
}

// Writes an IPv6 header (version, traffic class, flow label 0).
void WriteIpv6(uint8_t* ip, uint8_t tc, uint16_t payload_len, uint8_t nh, uint8_t hop_limit,
               const uint8_t* src, const uint8_t* dst) {
  StoreBe32(ip, (uint32_t{6} << 28) | (uint32_t{tc} << 20));
  StoreBe16(ip + 4, payload_len);
  ip[6] = nh;
  ip[7] = hop_limit;
  std::memmove(ip + 8, src, 16);
  std::memmove(ip + 24, dst, 16);
}

// Writes an NS or NA (32 bytes: header, target, one link-layer address option) behind the IPv6
// header at `ip` and its checksum.
void WriteNdMessage(uint8_t* ip, uint8_t type, uint32_t flags, const uint8_t* target,
                    uint8_t option, const Mac& lla) {
  uint8_t* m = ip + kIpv6HeaderBytes;
  m[0] = type;
  m[1] = 0;
  StoreBe16(m + 2, 0);
  StoreBe32(m + 4, flags);
  std::memmove(m + 8, target, 16);
  m[24] = option;
  m[25] = 1;
  std::memcpy(m + 26, lla.data(), 6);
  const uint16_t sum =
      ChecksumAdd(Ipv6PseudoHeaderSum(ip + 8, ip + 24, kIpProtoIcmp6, kNdMessageBytes),
                  ChecksumPartial(m, kNdMessageBytes));
  StoreBe16(m + 2, static_cast<uint16_t>(~sum));
}

}  // namespace

Ip6 SolicitedNodeAddress(const Ip6& addr) {
  Ip6 g = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, addr[13], addr[14], addr[15]};
  return g;
}

Mac Ipv6MulticastMac(const Ip6& group) {
  return Mac{0x33, 0x33, group[12], group[13], group[14], group[15]};
}

NetReject ParseFrame(ByteSpan frame, FrameView* out, const ParseOptions& opts) {
  *out = FrameView{};
  out->frame = frame;
  const uint8_t* p = frame.data();
  const size_t n = frame.size();
  if (n < kEthHeaderBytes) return NetReject::kTooShort;
  size_t off = 12;
  uint16_t type = LoadBe16(p + off);
  if (type == kEtherTypeVlan) {
    if (n < kEthHeaderBytes + kVlanTagBytes) return NetReject::kTooShort;
    out->vlan = Vlan{true, LoadBe16(p + off + 2)};
    off += kVlanTagBytes;
    type = LoadBe16(p + off);
  }
  off += 2;
  out->l3_offset = static_cast<uint16_t>(off);
  if (type != kEtherTypeIpv4 && type != kEtherTypeArp && type != kEtherTypeIpv6) {
    return NetReject::kNotIpv4OrArp;
  }
  if (IsGroupMac(p + 6)) return NetReject::kBadSource;
  const size_t avail = n - off;
  if (type == kEtherTypeArp) return ParseArp(p + off, avail, out);
  if (type == kEtherTypeIpv6) return ParseIpv6(p + off, avail, opts, out);
  return ParseIpv4(p + off, avail, opts, out);
}

NetReject AddressedToUs(const FrameView& v, const Mac& our_mac, uint32_t our_ip,
                        const Ip6* our_ip6) {
  const bool to_our_mac = std::memcmp(v.dst_mac(), our_mac.data(), 6) == 0;
  if (v.is_ipv6()) {
    if (our_ip6 == nullptr) return NetReject::kNotForUs;
    const bool to_us = to_our_mac && std::memcmp(v.dst_ip6(), our_ip6->data(), 16) == 0;
    if (v.is_icmp6() && v.icmp_type == kIcmp6NeighborSolicit) {
      if (std::memcmp(v.nd_target(), our_ip6->data(), 16) != 0) return NetReject::kNotForUs;
      const Ip6 group = SolicitedNodeAddress(*our_ip6);
      const Mac group_mac = Ipv6MulticastMac(group);
      const bool to_group = std::memcmp(v.dst_mac(), group_mac.data(), 6) == 0 &&
                            std::memcmp(v.dst_ip6(), group.data(), 16) == 0;
      return to_us || to_group ? NetReject::kOk : NetReject::kNotForUs;
    }
    if (v.is_icmp6() && v.icmp_type == kIcmp6NeighborAdvert) {
      const Mac all_mac = Ipv6MulticastMac(kAllNodesAddress);
      const bool to_all = std::memcmp(v.dst_mac(), all_mac.data(), 6) == 0 &&
                          std::memcmp(v.dst_ip6(), kAllNodesAddress.data(), 16) == 0;
      return to_us || to_all ? NetReject::kOk : NetReject::kNotForUs;
    }
    return to_us ? NetReject::kOk : NetReject::kNotForUs;
  }
  if (v.is_arp()) {
    const bool to_broadcast = std::memcmp(v.dst_mac(), kBroadcastMac.data(), 6) == 0;
    return (to_our_mac || to_broadcast) && v.dst_ip == our_ip ? NetReject::kOk
                                                              : NetReject::kNotForUs;
  }
  return to_our_mac && v.dst_ip == our_ip ? NetReject::kOk : NetReject::kNotForUs;
}

size_t BuildArpReply(const FrameView& request, const Mac& our_mac, uint32_t our_ip,
                     MutableByteSpan out) {
  if (!request.is_arp() || request.arp_op != 1 || request.dst_ip != our_ip) return 0;
  const size_t n = request.vlan.bytes() + kArpFrameBytes;
  if (out.size() < n) return 0;
  // Copies first: `out` may be the request's own buffer (a reply built in place).
  Mac requester;
  std::memcpy(requester.data(), request.arp_sender_mac(), 6);
  const uint32_t requester_ip = request.src_ip;
  const Vlan vlan = request.vlan;
  uint8_t* o = out.data();
  const size_t l2 = WriteEth(o, requester.data(), our_mac.data(), vlan, kEtherTypeArp);
  WriteArpBody(o + l2, 2, our_mac.data(), our_ip, requester.data(), requester_ip);
  return n;
}

size_t BuildArpRequest(const Mac& our_mac, uint32_t our_ip, uint32_t target_ip, Vlan vlan,
                       MutableByteSpan out) {
  const size_t n = vlan.bytes() + kArpFrameBytes;
  if (out.size() < n) return 0;
  // RFC 826 leaves the target hardware address of a request open; zeros, as Linux sends.
  static constexpr Mac kZeroMac{};
  uint8_t* o = out.data();
  const size_t l2 = WriteEth(o, kBroadcastMac.data(), our_mac.data(), vlan, kEtherTypeArp);
  WriteArpBody(o + l2, 1, our_mac.data(), our_ip, kZeroMac.data(), target_ip);
  return n;
}

size_t BuildIcmpEchoReply(const FrameView& request, const Mac& our_mac, uint32_t our_ip,
                          MutableByteSpan out) {
  if (!request.is_icmp() || request.icmp_type != 8 || request.icmp_code != 0 ||
      request.dst_ip != our_ip) {
    return 0;
  }
  const size_t icmp_len = request.l3_length - request.ip_header_bytes;
  const size_t l2 = request.vlan.bytes() + kEthHeaderBytes;
  const size_t n = l2 + kIpv4MinHeaderBytes + icmp_len;
  if (out.size() < n) return 0;
  // Everything read from the request is taken before the first write (in-place replies).
  Mac requester = request.src_mac_array();
  const uint32_t requester_ip = request.src_ip;
  const Vlan vlan = request.vlan;
  const uint8_t tos = request.tos;
  const uint16_t id = request.ip_id;
  uint8_t* o = out.data();
  uint8_t* icmp = o + l2 + kIpv4MinHeaderBytes;
  // Moves down (or stays) when the request had IP options: memmove handles the overlap.
  std::memmove(icmp, request.frame.data() + request.l4_offset, icmp_len);
  const uint16_t old_sum = LoadBe16(icmp + 2);
  icmp[0] = 0;  // echo reply; code stays 0
  uint16_t sum = ChecksumUpdate16(old_sum, 0x0800, 0x0000);
  if (sum == 0) {
    // -0 from the update (see ChecksumUpdate16): the message may now be all zero, which only
    // 0xffff verifies. Rare (1 in 65536 or an empty all-zero echo): recompute in full.
    StoreBe16(icmp + 2, 0);
    sum = InternetChecksum(ByteSpan(icmp, icmp_len));
  }
  StoreBe16(icmp + 2, sum);

  WriteEth(o, requester.data(), our_mac.data(), vlan, kEtherTypeIpv4);
  uint8_t* ip = o + l2;
  ip[0] = 0x45;
  ip[1] = tos;
  StoreBe16(ip + 2, static_cast<uint16_t>(kIpv4MinHeaderBytes + icmp_len));
  StoreBe16(ip + 4, id);
  StoreBe16(ip + 6, 0);
  ip[8] = 64;
  ip[9] = kIpProtoIcmp;
  StoreBe16(ip + 10, 0);
  StoreBe32(ip + 12, our_ip);
  StoreBe32(ip + 16, requester_ip);
  StoreBe16(ip + 10, Ipv4HeaderChecksum(ip, kIpv4MinHeaderBytes));
  return n;
}

size_t BuildNeighborAdvert(const FrameView& ns, const Mac& our_mac, const Ip6& our_ip6,
                           MutableByteSpan out) {
  if (!ns.is_icmp6() || ns.icmp_type != kIcmp6NeighborSolicit ||
      std::memcmp(ns.nd_target(), our_ip6.data(), 16) != 0) {
    return 0;
  }
  const size_t l2 = ns.vlan.bytes() + kEthHeaderBytes;
  const size_t n = l2 + kIpv6HeaderBytes + kNdMessageBytes;
  if (out.size() < n) return 0;
  const bool dad = IsZero6(ns.src_ip6());
  Ip6 to;
  Mac to_mac;
  if (dad) {
    to = kAllNodesAddress;
    to_mac = Ipv6MulticastMac(to);
  } else {
    std::memcpy(to.data(), ns.src_ip6(), 16);
    if (ns.nd_lla_offset != 0) {
      std::memcpy(to_mac.data(), ns.nd_lla(), 6);
    } else {
      to_mac = ns.src_mac_array();
    }
  }
  const Vlan vlan = ns.vlan;
  // Router 0, Solicited (unless DAD), Override (RFC 4861 §7.2.4).
  const uint32_t flags = dad ? 0x20000000u : 0x60000000u;
  uint8_t* o = out.data();
  WriteEth(o, to_mac.data(), our_mac.data(), vlan, kEtherTypeIpv6);
  WriteIpv6(o + l2, 0, kNdMessageBytes, kIpProtoIcmp6, 255, our_ip6.data(), to.data());
  WriteNdMessage(o + l2, kIcmp6NeighborAdvert, flags, our_ip6.data(), 2, our_mac);
  return n;
}

size_t BuildNeighborSolicit(const Mac& our_mac, const Ip6& our_ip6, const Ip6& target, Vlan vlan,
                            MutableByteSpan out) {
  const size_t l2 = vlan.bytes() + kEthHeaderBytes;
  const size_t n = l2 + kIpv6HeaderBytes + kNdMessageBytes;
  if (out.size() < n) return 0;
  const Ip6 group = SolicitedNodeAddress(target);
  const Mac group_mac = Ipv6MulticastMac(group);
  uint8_t* o = out.data();
  WriteEth(o, group_mac.data(), our_mac.data(), vlan, kEtherTypeIpv6);
  WriteIpv6(o + l2, 0, kNdMessageBytes, kIpProtoIcmp6, 255, our_ip6.data(), group.data());
  WriteNdMessage(o + l2, kIcmp6NeighborSolicit, 0, target.data(), 1, our_mac);
  return n;
}

size_t BuildIcmp6EchoReply(const FrameView& request, const Mac& our_mac, const Ip6& our_ip6,
                           MutableByteSpan out) {
  if (!request.is_icmp6() || request.icmp_type != kIcmp6EchoRequest || request.icmp_code != 0 ||
      std::memcmp(request.dst_ip6(), our_ip6.data(), 16) != 0) {
    return 0;
  }
  const size_t icmp_len = request.l3_length - request.ip_header_bytes;
  const size_t l2 = request.vlan.bytes() + kEthHeaderBytes;
  const size_t n = l2 + kIpv6HeaderBytes + icmp_len;
  if (out.size() < n) return 0;
  // Everything read from the request is taken before the first write (in-place replies).
  const Mac requester = request.src_mac_array();
  Ip6 requester_ip;
  std::memcpy(requester_ip.data(), request.src_ip6(), 16);
  const Vlan vlan = request.vlan;
  const uint8_t tc = request.tos;
  uint8_t* o = out.data();
  uint8_t* icmp = o + l2 + kIpv6HeaderBytes;
  // Moves down (or stays) when the request had extension headers.
  std::memmove(icmp, request.frame.data() + request.l4_offset, icmp_len);
  const uint16_t old_sum = LoadBe16(icmp + 2);
  icmp[0] = kIcmp6EchoReply;
  // The pseudo-header sum does not change when the addresses swap; only the type word does.
  uint16_t sum =
      ChecksumUpdate16(old_sum, uint16_t{kIcmp6EchoRequest} << 8, uint16_t{kIcmp6EchoReply} << 8);
  WriteEth(o, requester.data(), our_mac.data(), vlan, kEtherTypeIpv6);
  uint8_t* ip = o + l2;
  WriteIpv6(ip, tc, static_cast<uint16_t>(icmp_len), kIpProtoIcmp6, 64, our_ip6.data(),
            requester_ip.data());
  if (sum == 0) {
    // -0 from the update (see ChecksumUpdate16): recompute in full, as BuildIcmpEchoReply does.
    StoreBe16(icmp + 2, 0);
    sum = static_cast<uint16_t>(~ChecksumAdd(
        Ipv6PseudoHeaderSum(ip + 8, ip + 24, kIpProtoIcmp6, static_cast<uint32_t>(icmp_len)),
        ChecksumPartial(icmp, icmp_len)));
  }
  StoreBe16(icmp + 2, sum);
  return n;
}

Udp6HeaderTemplate::Udp6HeaderTemplate(const Params& p)
    : vlan_(p.vlan.present), offload_(p.checksum_offload), params_(p) {
  uint8_t* o = bytes_.data();
  const size_t l2 = WriteEth(o, p.dst_mac.data(), p.src_mac.data(), p.vlan, kEtherTypeIpv6);
  uint8_t* ip = o + l2;
  WriteIpv6(ip, p.traffic_class, 0, kIpProtoUdp, p.hop_limit, p.src_ip.data(), p.dst_ip.data());
  uint8_t* udp = ip + kIpv6HeaderBytes;
  StoreBe16(udp, p.src_port);
  StoreBe16(udp + 2, p.dst_port);
  StoreBe16(udp + 4, 0);
  StoreBe16(udp + 6, 0);
  pseudo_sum_ = Ipv6PseudoHeaderSum(p.src_ip.data(), p.dst_ip.data(), kIpProtoUdp, 0);
  fixed_sum_ = ChecksumAdd(pseudo_sum_, ChecksumAdd(p.src_port, p.dst_port));
}

UdpHeaderTemplate::UdpHeaderTemplate(const Params& p)
    : vlan_(p.vlan.present),
      offload_(p.udp_checksum == UdpChecksumMode::kOffloadPseudoHeader),
      params_(p) {
  uint8_t* o = bytes_.data();
  const size_t l2 = WriteEth(o, p.dst_mac.data(), p.src_mac.data(), p.vlan, kEtherTypeIpv4);
  uint8_t* ip = o + l2;
  ip[0] = 0x45;
  ip[1] = p.tos;
  StoreBe16(ip + 2, 0);       // total length: per packet
  StoreBe16(ip + 4, 0);       // ID 0: DF is set and we never fragment (RFC 6864 §4.1)
  StoreBe16(ip + 6, 0x4000);  // DF
  ip[8] = p.ttl;
  ip[9] = kIpProtoUdp;
  StoreBe16(ip + 10, 0);  // checksum: per packet
  StoreBe32(ip + 12, p.src_ip);
  StoreBe32(ip + 16, p.dst_ip);
  uint8_t* udp = ip + kIpv4MinHeaderBytes;
  StoreBe16(udp, p.src_port);
  StoreBe16(udp + 2, p.dst_port);
  StoreBe16(udp + 4, 0);  // length: per packet
  StoreBe16(udp + 6, 0);  // checksum: 0, or the pseudo-header sum per packet
  ip_sum_ = ChecksumPartial(ip, kIpv4MinHeaderBytes);
  pseudo_sum_ = Ipv4PseudoHeaderSum(p.src_ip, p.dst_ip, kIpProtoUdp, 0);
}

}  // namespace dmrswitch::net
