// Fuzzes dataplane/net: ParseFrame on an exact-size heap copy of the input (ASan flags any read
// past the span), with and without offload flags. Whatever it accepts must be self-consistent
// and re-serialise: ARP and echo replies built from accepted requests parse back as replies
// (in place and out of place, byte-identical), and a UDP frame rebuilt from its view with a
// UdpHeaderTemplate parses back to the same addresses, ports and payload. IPv6 the same way:
// NAs built from accepted NSs, ICMPv6 echo replies, Udp6HeaderTemplate round trips, and the
// IPv6 neighbour table.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "dataplane/net/neighbor_table.h"
#include "dataplane/net/packet.h"

namespace {

namespace net = dmrswitch::net;
using net::ByteSpan;
using net::FrameView;
using net::NetReject;

constexpr net::Mac kOurMac = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x01};

void Check(bool ok) {
  if (!ok) std::abort();
}

bool Inside(ByteSpan outer, ByteSpan inner) {
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

bool GoodSource(uint32_t ip) { return ip != 0 && (ip >> 28) != 0xe && ip != 0xffffffff; }

net::Ip6 Addr6(const uint8_t* p) {
  net::Ip6 a;
  std::memcpy(a.data(), p, 16);
  return a;
}

void CheckView(ByteSpan in, const FrameView& v) {
  Check(v.frame.data() == in.data() && v.frame.size() == in.size());
  Check(v.l3_offset == 14 + v.vlan.bytes());
  Check(v.l3_offset + v.l3_length <= in.size());
  if (v.is_ipv6()) {
    Check(v.ip_header_bytes >= 40 && v.ip_header_bytes % 8 == 0);
    Check(v.l4_offset == v.l3_offset + v.ip_header_bytes);
    Check(v.src_ip6()[0] != 0xff);
    Check(v.is_udp() || v.is_icmp6());
    const size_t l4_len = v.l3_length - v.ip_header_bytes;
    Check(Inside(in, v.payload));
    Check(v.payload.data() == in.data() + v.l4_offset + 8 && v.payload.size() == l4_len - 8);
    if (v.nd_lla_offset != 0) {
      Check(v.nd_lla_offset >= v.l4_offset + 24 &&
            v.nd_lla_offset + 6u <= v.l3_offset + v.l3_length);
    }
    return;
  }
  if (v.is_arp()) {
    Check(v.l3_length == net::kArpBodyBytes && (v.arp_op == 1 || v.arp_op == 2));
    Check(v.payload.empty());
    return;
  }
  Check(v.ip_header_bytes >= 20 && v.ip_header_bytes % 4 == 0);
  Check(v.l4_offset == v.l3_offset + v.ip_header_bytes);
  Check(GoodSource(v.src_ip));
  const size_t l4_len = v.l3_length - v.ip_header_bytes;
  Check(v.is_udp() || v.is_icmp());
  Check(Inside(in, v.payload));
  Check(v.payload.data() == in.data() + v.l4_offset + 8 && v.payload.size() == l4_len - 8);
}

void CheckArp(const FrameView& v) {
  if (v.arp_op != 1) return;
  const uint32_t our_ip = v.dst_ip;
  std::array<uint8_t, 64> out{};
  const size_t n = net::BuildArpReply(v, kOurMac, our_ip, out);
  Check(n == v.vlan.bytes() + net::kArpFrameBytes);
  Check(net::BuildArpReply(v, kOurMac, our_ip + 1, out) == 0);
  FrameView r;
  // Our reply's sender is our address: it parses unless that address is not a legal source.
  const NetReject rr = net::ParseFrame(ByteSpan(out.data(), n), &r);
  if ((our_ip >> 28) == 0xe || our_ip == 0xffffffff) {
    Check(rr == NetReject::kBadSource);
    return;
  }
  Check(rr == NetReject::kOk);
  Check(r.is_arp() && r.arp_op == 2 && r.src_ip == our_ip && r.dst_ip == v.src_ip);
  Check(r.vlan == v.vlan);
  Check(std::memcmp(r.arp_target_mac(), v.arp_sender_mac(), 6) == 0);
  Check(std::memcmp(r.dst_mac(), v.arp_sender_mac(), 6) == 0);
  net::Mac requester;
  std::memcpy(requester.data(), v.arp_sender_mac(), 6);
  Check(net::AddressedToUs(r, requester, v.src_ip) == NetReject::kOk);
}

void CheckEcho(ByteSpan in, const FrameView& v) {
  if (v.icmp_type != 8 || v.icmp_code != 0) return;
  const uint32_t our_ip = v.dst_ip;
  std::vector<uint8_t> out(in.size() + 4);
  const size_t n = net::BuildIcmpEchoReply(v, kOurMac, our_ip, out);
  Check(n == v.l2_bytes() + 20 + (v.l3_length - v.ip_header_bytes));
  // The same reply built in the request's own buffer.
  std::vector<uint8_t> inplace(in.begin(), in.end());
  FrameView v2;
  Check(net::ParseFrame(inplace, &v2) == NetReject::kOk);
  Check(net::BuildIcmpEchoReply(v2, kOurMac, our_ip, inplace) == n);
  Check(std::memcmp(inplace.data(), out.data(), n) == 0);
  FrameView r;
  const NetReject rr = net::ParseFrame(ByteSpan(out.data(), n), &r);
  if (!GoodSource(our_ip)) {
    Check(rr == NetReject::kBadSource);
    return;
  }
  Check(rr == NetReject::kOk);  // IP and ICMP checksums verified by the parser
  Check(r.is_icmp() && r.icmp_type == 0 && r.icmp_code == 0);
  Check(r.src_ip == our_ip && r.dst_ip == v.src_ip && r.vlan == v.vlan);
  Check(r.payload.size() == v.payload.size() &&
        std::memcmp(r.payload.data(), v.payload.data(), v.payload.size()) == 0);
  Check(std::memcmp(r.dst_mac(), v.src_mac(), 6) == 0);
}

void CheckUdp(const FrameView& v) {
  net::UdpHeaderTemplate::Params p;
  std::memcpy(p.dst_mac.data(), v.dst_mac(), 6);
  p.src_mac = v.src_mac_array();
  p.vlan = v.vlan;
  p.src_ip = v.src_ip;
  p.dst_ip = v.dst_ip;
  p.src_port = v.src_port;
  p.dst_port = v.dst_port;
  p.ttl = v.ttl;
  p.tos = v.tos;
  const net::UdpHeaderTemplate t(p);
  std::vector<uint8_t> f(t.header_bytes() + v.payload.size());
  std::memcpy(f.data() + t.header_bytes(), v.payload.data(), v.payload.size());
  Check(t.Write(f.data(), static_cast<uint16_t>(v.payload.size())) == t.header_bytes());
  FrameView r;
  Check(net::ParseFrame(f, &r) == NetReject::kOk);
  Check(r.is_udp() && r.src_ip == v.src_ip && r.dst_ip == v.dst_ip);
  Check(r.src_port == v.src_port && r.dst_port == v.dst_port && r.vlan == v.vlan);
  Check(r.ttl == v.ttl && r.tos == v.tos);
  Check(r.payload.size() == v.payload.size() &&
        std::memcmp(r.payload.data(), v.payload.data(), v.payload.size()) == 0);
}

void CheckNeighborSolicit(ByteSpan in, const FrameView& v) {
  const net::Ip6 our = Addr6(v.nd_target());
  std::vector<uint8_t> out(128);
  const size_t n = net::BuildNeighborAdvert(v, kOurMac, our, out);
  Check(n == v.l2_bytes() + 40 + net::kNdMessageBytes);
  net::Ip6 other = our;
  other[15] ^= 1;
  Check(net::BuildNeighborAdvert(v, kOurMac, other, out) == 0);
  // In place, byte-identical.
  std::vector<uint8_t> inplace(in.begin(), in.end());
  inplace.resize(std::max(inplace.size(), n));
  FrameView v2;
  Check(net::ParseFrame(ByteSpan(inplace.data(), in.size()), &v2) == NetReject::kOk);
  Check(net::BuildNeighborAdvert(v2, kOurMac, our, inplace) == n);
  Check(std::memcmp(inplace.data(), out.data(), n) == 0);
  FrameView r;
  const NetReject rr = net::ParseFrame(ByteSpan(out.data(), n), &r);
  // Our address as a source: refused only where no source may be (multicast is no target).
  if (rr != NetReject::kOk) {
    // An NA from :: is no DAD probe, so the parser calls it bad ND rather than a bad source.
    Check(rr == NetReject::kBadSource || (rr == NetReject::kBadNd && our == net::Ip6{}));
    return;
  }
  Check(r.is_icmp6() && r.icmp_type == net::kIcmp6NeighborAdvert && r.ttl == 255);
  Check(r.nd_lla_offset != 0 && std::memcmp(r.nd_lla(), kOurMac.data(), 6) == 0);
  Check(std::memcmp(r.nd_target(), our.data(), 16) == 0 && r.vlan == v.vlan);
}

void CheckEcho6(ByteSpan in, const FrameView& v) {
  if (v.icmp_type != net::kIcmp6EchoRequest || v.icmp_code != 0) return;
  const net::Ip6 our = Addr6(v.dst_ip6());
  std::vector<uint8_t> out(in.size() + 4);
  const size_t n = net::BuildIcmp6EchoReply(v, kOurMac, our, out);
  Check(n == v.l2_bytes() + 40 + (v.l3_length - v.ip_header_bytes));
  std::vector<uint8_t> inplace(in.begin(), in.end());
  FrameView v2;
  Check(net::ParseFrame(inplace, &v2) == NetReject::kOk);
  Check(net::BuildIcmp6EchoReply(v2, kOurMac, our, inplace) == n);
  Check(std::memcmp(inplace.data(), out.data(), n) == 0);
  FrameView r;
  const NetReject rr = net::ParseFrame(ByteSpan(out.data(), n), &r);
  if (rr != NetReject::kOk) {
    Check(rr == NetReject::kBadSource);  // our "address" was one no source may have
    return;
  }
  Check(r.is_icmp6() && r.icmp_type == net::kIcmp6EchoReply && r.vlan == v.vlan);
  Check(std::memcmp(r.dst_ip6(), v.src_ip6(), 16) == 0);
  Check(r.payload.size() == v.payload.size() &&
        std::memcmp(r.payload.data(), v.payload.data(), v.payload.size()) == 0);
}

void CheckUdp6(const FrameView& v) {
  net::Udp6HeaderTemplate::Params p;
  std::memcpy(p.dst_mac.data(), v.dst_mac(), 6);
  p.src_mac = v.src_mac_array();
  p.vlan = v.vlan;
  p.src_ip = Addr6(v.src_ip6());
  p.dst_ip = Addr6(v.dst_ip6());
  p.src_port = v.src_port;
  p.dst_port = v.dst_port;
  p.hop_limit = v.ttl;
  p.traffic_class = v.tos;
  const net::Udp6HeaderTemplate t(p);
  std::vector<uint8_t> f(t.header_bytes() + v.payload.size());
  std::memcpy(f.data() + t.header_bytes(), v.payload.data(), v.payload.size());
  Check(t.Write(f.data(), static_cast<uint16_t>(v.payload.size())) == t.header_bytes());
  FrameView r;
  Check(net::ParseFrame(f, &r) == NetReject::kOk);  // the checksum verified by the parser
  Check(r.is_udp() && r.is_ipv6() && r.src_port == v.src_port && r.dst_port == v.dst_port);
  Check(std::memcmp(r.src_ip6(), v.src_ip6(), 16) == 0);
  Check(std::memcmp(r.dst_ip6(), v.dst_ip6(), 16) == 0);
  Check(r.ttl == v.ttl && r.tos == v.tos && r.vlan == v.vlan);
  Check(r.payload.size() == v.payload.size() &&
        std::memcmp(r.payload.data(), v.payload.data(), v.payload.size()) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exact-size copy: the span ends where the allocation ends.
  std::unique_ptr<uint8_t[]> buf(new uint8_t[size == 0 ? 1 : size]);
  if (size != 0) std::memcpy(buf.get(), data, size);
  const ByteSpan in(buf.get(), size);

  FrameView v;
  const NetReject r = net::ParseFrame(in, &v);
  Check(static_cast<size_t>(r) < static_cast<size_t>(NetReject::kCount));
  Check(r != NetReject::kNotForUs);  // only AddressedToUs says that

  // Skipping checksum checks only ever turns checksum rejects into accepts.
  FrameView vo;
  const NetReject ro =
      net::ParseFrame(in, &vo, {.ip_checksum_good = true, .udp_checksum_good = true});
  if (r == NetReject::kOk) Check(ro == NetReject::kOk);
  if (r != NetReject::kIpChecksum && r != NetReject::kUdpChecksum) Check(ro == r);
  if (ro == NetReject::kOk) CheckView(in, vo);
  if (r != NetReject::kOk) return 0;

  CheckView(in, v);
  if (v.is_ipv6()) {
    const net::Ip6 dst = Addr6(v.dst_ip6());
    const NetReject a = net::AddressedToUs(v, kOurMac, 0, &dst);
    Check(a == NetReject::kOk || a == NetReject::kNotForUs);
    Check(net::AddressedToUs(v, kOurMac, v.dst_ip) == NetReject::kNotForUs);
    if (v.is_icmp6() && v.icmp_type == net::kIcmp6NeighborSolicit) CheckNeighborSolicit(in, v);
    if (v.is_icmp6()) CheckEcho6(in, v);
    if (v.is_udp()) CheckUdp6(v);
    static net::NeighborTable6 table6(net::NeighborTable6::Options{.capacity = 4});
    static net::TimeNs now6 = 0;
    now6 += 1'000'000;
    const net::Ip6 src = Addr6(v.src_ip6());
    const net::Mac mac = v.src_mac_array();
    if (table6.Learn(src, mac, now6) != net::NeighborLearnResult::kRefusedFull &&
        src != net::Ip6{}) {
      const auto got = table6.Lookup(src, now6);
      Check(got.has_value() && *got == mac);
    }
    Check(table6.size() <= table6.capacity());
    table6.Expire(now6, 3);
    return 0;
  }
  const NetReject a = net::AddressedToUs(v, kOurMac, v.dst_ip);
  Check(a == NetReject::kOk || a == NetReject::kNotForUs);
  if (v.is_arp()) CheckArp(v);
  if (v.is_icmp()) CheckEcho(in, v);
  if (v.is_udp()) CheckUdp(v);

  // The neighbour table never holds more than its capacity, and what it holds reads back.
  static net::NeighborTable table(net::NeighborTable::Options{.capacity = 4});
  static net::TimeNs now = 0;
  now += 1'000'000;
  const net::Mac mac = v.src_mac_array();
  if (table.Learn(v.src_ip, mac, now) != net::NeighborTable::LearnResult::kRefusedFull &&
      v.src_ip != 0) {
    const auto got = table.Lookup(v.src_ip, now);
    Check(got.has_value() && *got == mac);
  }
  Check(table.size() <= table.capacity());
  table.Expire(now, 3);
  return 0;
}
