// Fuzzes dataplane/net: ParseFrame on an exact-size heap copy of the input (ASan flags any read
// past the span), with and without offload flags. Whatever it accepts must be self-consistent
// and re-serialise: ARP and echo replies built from accepted requests parse back as replies
// (in place and out of place, byte-identical), and a UDP frame rebuilt from its view with a
// UdpHeaderTemplate parses back to the same addresses, ports and payload.
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

void CheckView(ByteSpan in, const FrameView& v) {
  Check(v.frame.data() == in.data() && v.frame.size() == in.size());
  Check(v.l3_offset == 14 + v.vlan.bytes());
  Check(v.l3_offset + v.l3_length <= in.size());
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
