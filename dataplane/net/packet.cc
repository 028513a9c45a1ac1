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
    v->src_port = LoadBe16(l4);
    v->dst_port = LoadBe16(l4 + 2);
    v->payload = ByteSpan(l4 + kUdpHeaderBytes, l4_len - kUdpHeaderBytes);
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

}  // namespace

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
  if (type != kEtherTypeIpv4 && type != kEtherTypeArp) return NetReject::kNotIpv4OrArp;
  if (IsGroupMac(p + 6)) return NetReject::kBadSource;
  const size_t avail = n - off;
  if (type == kEtherTypeArp) return ParseArp(p + off, avail, out);
  return ParseIpv4(p + off, avail, opts, out);
}

NetReject AddressedToUs(const FrameView& v, const Mac& our_mac, uint32_t our_ip) {
  const bool to_our_mac = std::memcmp(v.dst_mac(), our_mac.data(), 6) == 0;
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
