// The IPv6 half of dataplane/net: ParseFrame on IPv6 (extension headers, UDP and ICMPv6
// checksums, Neighbour Discovery checks), AddressedToUs6, the NA/NS/echo builders and
// Udp6HeaderTemplate, against frames written by hand from the RFC 8200 / RFC 4443 / RFC 4861
// layouts. Goldens come from an independent Python script; hand-built frames are checksummed by
// the test's own slow RFC 1071 sum, never by the code under test.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "dataplane/net/packet.h"
#include "tests/net/frame_writer.h"

namespace dmrswitch::net {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr Mac kHubMac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
constexpr Mac kClientMac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
constexpr Ip6 kHubIp6 = {0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
constexpr Ip6 kClientIp6 = {0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
constexpr uint32_t kHubIp = 0xc6120001;

using testing::Get16;
using testing::Put16;
using testing::RefChecksum;
using testing::W;

struct V6Spec {
  Mac dst_mac = kHubMac;
  Mac src_mac = kClientMac;
  bool vlan = false;
  uint16_t tci = 0;
  Ip6 src = kClientIp6;
  Ip6 dst = kHubIp6;
  uint8_t hop_limit = 64;
  uint8_t tc = 0;
  Bytes ext;             // extension headers, already chained (the last names `proto`)
  uint8_t first_nh = 0;  // next header of the fixed header when ext is not empty
  uint8_t proto = kIpProtoUdp;
  uint16_t sport = 62031;
  uint16_t dport = 62031;
  Bytes payload;  // UDP payload, or the whole ICMPv6 message (checksum field filled here)
  bool fill_checksum = true;
  size_t pad_to = 0;
};

// Ethernet/IPv6/[ext]/UDP or ICMPv6, field by field.
Bytes HandV6(const V6Spec& s) {
  W w;
  w.raw(s.dst_mac).raw(s.src_mac);
  if (s.vlan) w.u16(0x8100).u16(s.tci);
  w.u16(0x86dd);
  Bytes l4;
  if (s.proto == kIpProtoUdp) {
    W u;
    u.u16(s.sport).u16(s.dport).u16(static_cast<uint16_t>(8 + s.payload.size())).u16(0);
    u.raw(s.payload);
    l4 = u.b;
  } else {
    l4 = s.payload;
  }
  const size_t csum_at = s.proto == kIpProtoUdp ? 6 : 2;
  if (s.fill_checksum && l4.size() >= csum_at + 2) {
    Put16(l4, csum_at, 0);
    W ph;
    ph.raw(s.src).raw(s.dst).u32(static_cast<uint32_t>(l4.size())).u8(0).u8(0).u8(0).u8(s.proto);
    ph.raw(l4);
    uint16_t c = RefChecksum(ph.b);
    if (c == 0 && s.proto == kIpProtoUdp) c = 0xffff;
    Put16(l4, csum_at, c);
  }
  const auto plen = static_cast<uint16_t>(s.ext.size() + l4.size());
  w.u32((6u << 28) | (uint32_t{s.tc} << 20)).u16(plen);
  w.u8(s.ext.empty() ? s.proto : s.first_nh).u8(s.hop_limit).raw(s.src).raw(s.dst);
  w.raw(s.ext).raw(l4);
  if (w.b.size() < s.pad_to) w.b.resize(s.pad_to, 0);
  return w.b;
}

// A Hop-by-Hop or Destination Options header of `len8` 8-byte units whose next header is `nh`,
// its options area one PadN.
Bytes Ext(uint8_t nh, size_t len8) {
  Bytes e(len8 * 8, 0);
  e[0] = nh;
  e[1] = static_cast<uint8_t>(len8 - 1);
  e[2] = 1;
  e[3] = static_cast<uint8_t>(len8 * 8 - 4);
  return e;
}

Bytes NdMessage(uint8_t type, const Ip6& target, uint8_t opt_type, const Mac* lla,
                uint32_t flags = 0) {
  W m;
  m.u8(type).u8(0).u16(0).u32(flags).raw(target);
  if (lla != nullptr) m.u8(opt_type).u8(1).raw(*lla);
  return m.b;
}

Bytes Echo6(uint16_t id, uint16_t seq, const Bytes& data) {
  W m;
  m.u8(kIcmp6EchoRequest).u8(0).u16(0).u16(id).u16(seq).raw(data);
  return m.b;
}

Bytes Iota(size_t n, uint8_t start = 0) {
  Bytes p(n);
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(start + i * 7);
  return p;
}

// A 115-byte DMRD-like frame 2001:2::2:62031 → 2001:2::1:62031, hop limit 64, 53-byte payload
// ("DMRD" and 0..48), UDP checksum 0xe9f7. Written out with an independent script.
const Bytes kGoldenUdp6 = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,  //
    0x86, 0xdd, 0x60, 0x00, 0x00, 0x00, 0x00, 0x3d, 0x11, 0x40, 0x20, 0x01,  //
    0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  //
    0x00, 0x02, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xf2, 0x4f, 0xf2, 0x4f, 0x00, 0x3d,  //
    0xe9, 0xf7, 0x44, 0x4d, 0x52, 0x44, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05,  //
    0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11,  //
    0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,  //
    0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29,  //
    0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30,
};

// The NA the hub owes an NS from 2001:2::2 (MAC 02:..:02) for 2001:2::1: S|O, TLLA 02:..:01.
const Bytes kGoldenNa = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  //
    0x86, 0xdd, 0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0x20, 0x01,  //
    0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  //
    0x00, 0x01, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x88, 0x00, 0xb3, 0x95, 0x60, 0x00,  //
    0x00, 0x00, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x01, 0x02, 0x00, 0x00, 0x00,  //
    0x00, 0x01,
};

// The NS the hub sends for 2001:2::2: to ff02::1:ff00:2 / 33:33:ff:00:00:02, SLLA 02:..:01.
const Bytes kGoldenNs = {
    0x33, 0x33, 0xff, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  //
    0x86, 0xdd, 0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0x20, 0x01,  //
    0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  //
    0x00, 0x01, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  //
    0x00, 0x01, 0xff, 0x00, 0x00, 0x02, 0x87, 0x00, 0x37, 0x93, 0x00, 0x00,  //
    0x00, 0x00, 0x20, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00,  //
    0x00, 0x01,
};

Bytes GoldenPayload() {
  Bytes p = {'D', 'M', 'R', 'D'};
  for (uint8_t i = 0; i < 49; ++i) p.push_back(i);
  return p;
}

// The NS a client sends for the hub's address (to the solicited-node group, with SLLA).
Bytes ClientNs(bool vlan = false) {
  V6Spec s;
  s.dst = SolicitedNodeAddress(kHubIp6);
  s.dst_mac = Ipv6MulticastMac(s.dst);
  s.hop_limit = 255;
  s.vlan = vlan;
  s.tci = 0x2005;
  s.proto = kIpProtoIcmp6;
  s.payload = NdMessage(kIcmp6NeighborSolicit, kHubIp6, 1, &kClientMac);
  return HandV6(s);
}

TEST(Ipv6Parse, GoldenUdp) {
  FrameView v;
  ASSERT_EQ(ParseFrame(kGoldenUdp6, &v), NetReject::kOk);
  EXPECT_TRUE(v.is_ipv6());
  EXPECT_TRUE(v.is_udp());
  EXPECT_FALSE(v.is_icmp6());
  EXPECT_EQ(v.l3_offset, 14);
  EXPECT_EQ(v.l4_offset, 54);
  EXPECT_EQ(v.l3_length, 40 + 61);
  EXPECT_EQ(v.ip_header_bytes, 40);
  EXPECT_EQ(v.ttl, 64);
  EXPECT_EQ(std::memcmp(v.src_ip6(), kClientIp6.data(), 16), 0);
  EXPECT_EQ(std::memcmp(v.dst_ip6(), kHubIp6.data(), 16), 0);
  EXPECT_EQ(v.src_port, 62031);
  EXPECT_EQ(v.dst_port, 62031);
  EXPECT_EQ(Bytes(v.payload.begin(), v.payload.end()), GoldenPayload());
  EXPECT_EQ(AddressedToUs(v, kHubMac, kHubIp, &kHubIp6), NetReject::kOk);
  // A plane without an IPv6 address takes none.
  EXPECT_EQ(AddressedToUs(v, kHubMac, kHubIp), NetReject::kNotForUs);

  V6Spec s;
  s.payload = GoldenPayload();
  EXPECT_EQ(HandV6(s), kGoldenUdp6);
}

TEST(Ipv6Parse, VlanPaddingAndTrafficClass) {
  V6Spec s;
  s.vlan = true;
  s.tci = 0xa00c;
  s.tc = 0xb8;
  s.payload = Iota(3);
  s.pad_to = 100;
  const Bytes f = HandV6(s);
  FrameView v;
  ASSERT_EQ(ParseFrame(f, &v), NetReject::kOk);
  EXPECT_TRUE(v.vlan.present);
  EXPECT_EQ(v.vlan.id(), 12);
  EXPECT_EQ(v.tos, 0xb8);
  EXPECT_EQ(v.payload.size(), 3u);
  EXPECT_EQ(v.l3_length, 40 + 11);
}

TEST(Ipv6Parse, ExtensionChainsUpToTheBound) {
  // HBH first, then up to three of Destination Options / Routing (segments left 0).
  for (int n = 1; n <= kIpv6MaxExtHeaders; ++n) {
    V6Spec s;
    s.payload = Iota(20, static_cast<uint8_t>(n));
    s.first_nh = 0;
    const uint8_t kinds[] = {0, 60, 43, 60};
    for (int i = 0; i < n; ++i) {
      const uint8_t next = i + 1 < n ? kinds[i + 1] : kIpProtoUdp;
      Bytes e = kinds[i] == 43 ? Bytes{next, 0, 0, 0, 0, 0, 0, 0} : Ext(next, 1 + i % 2);
      s.ext.insert(s.ext.end(), e.begin(), e.end());
    }
    const Bytes f = HandV6(s);
    FrameView v;
    ASSERT_EQ(ParseFrame(f, &v), NetReject::kOk) << n;
    EXPECT_EQ(v.ip_header_bytes, 40 + s.ext.size());
    EXPECT_EQ(v.payload.size(), 20u);
    EXPECT_EQ(v.payload[0], static_cast<uint8_t>(n));
  }
}

struct RejectCase {
  std::string name;
  Bytes frame;
  NetReject want;
};

std::vector<RejectCase> Ipv6RejectCases() {
  std::vector<RejectCase> c;
  V6Spec base;
  base.payload = Iota(10);
  const Bytes ok = HandV6(base);
  {
    Bytes f(ok.begin(), ok.begin() + 14 + 39);
    c.push_back({"header cut", f, NetReject::kBadIpHeader});
    f = ok;
    f[14] = 0x40;
    c.push_back({"version 4 in 86dd", f, NetReject::kBadIpHeader});
    f = ok;
    Put16(f, 18, 0);
    c.push_back({"jumbogram", f, NetReject::kBadIpHeader});
    f = ok;
    Put16(f, 18, static_cast<uint16_t>(Get16(ok, 18) + 1));
    c.push_back({"payload beyond frame", f, NetReject::kBadIpHeader});
  }
  const auto with = [&](auto edit) {
    V6Spec s = base;
    edit(s);
    return HandV6(s);
  };
  c.push_back(
      {"multicast source", with([](V6Spec& s) { s.src[0] = 0xff; }), NetReject::kBadSource});
  c.push_back({"loopback source", with([](V6Spec& s) {
                 s.src = Ip6{};
                 s.src[15] = 1;
               }),
               NetReject::kBadSource});
  c.push_back({"v4-mapped source", with([](V6Spec& s) {
                 s.src = Ip6{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 2};
               }),
               NetReject::kBadSource});
  c.push_back(
      {"unspecified udp source", with([](V6Spec& s) { s.src = Ip6{}; }), NetReject::kBadSource});
  c.push_back({"link-local udp source", with([](V6Spec& s) {
                 s.src = Ip6{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
               }),
               NetReject::kBadSource});
  c.push_back({"fragment header", with([](V6Spec& s) {
                 s.first_nh = 44;
                 s.ext = {kIpProtoUdp, 0, 0, 1, 0, 0, 0, 7};
               }),
               NetReject::kFragment});
  c.push_back({"tcp", with([](V6Spec& s) { s.proto = 6; }), NetReject::kNotUdpOrIcmp});
  c.push_back({"esp", with([](V6Spec& s) {
                 s.first_nh = 50;
                 s.ext = Bytes(16, 0);
               }),
               NetReject::kNotUdpOrIcmp});
  c.push_back({"five extension headers", with([](V6Spec& s) {
                 s.first_nh = 60;
                 for (int i = 0; i < 5; ++i) {
                   Bytes e = Ext(i < 4 ? 60 : kIpProtoUdp, 1);
                   s.ext.insert(s.ext.end(), e.begin(), e.end());
                 }
               }),
               NetReject::kIpv6ExtChain});
  c.push_back({"hop-by-hop not first", with([](V6Spec& s) {
                 s.first_nh = 60;
                 s.ext = Ext(0, 1);
                 Bytes e = Ext(kIpProtoUdp, 1);
                 s.ext.insert(s.ext.end(), e.begin(), e.end());
               }),
               NetReject::kIpv6ExtChain});
  c.push_back({"routing with segments left", with([](V6Spec& s) {
                 s.first_nh = 43;
                 s.ext = {kIpProtoUdp, 0, 0, 1, 0, 0, 0, 0};
               }),
               NetReject::kIpv6ExtChain});
  {
    // An extension header claiming more than the packet holds.
    Bytes f = with([](V6Spec& s) {
      s.first_nh = 60;
      s.ext = Ext(kIpProtoUdp, 1);
    });
    f[14 + 40 + 1] = 200;
    c.push_back({"extension beyond payload", f, NetReject::kIpv6ExtChain});
  }
  {
    Bytes f = ok;
    Put16(f, 14 + 40 + 4, 9);
    c.push_back({"udp length", f, NetReject::kBadUdpLength});
    f = with([](V6Spec& s) { s.fill_checksum = false; });
    c.push_back({"udp checksum zero", f, NetReject::kUdpChecksumZero});
    f = ok;
    f.back() ^= 0x40;
    c.push_back({"udp checksum wrong", f, NetReject::kUdpChecksum});
  }
  const auto icmp = [&](Bytes msg, uint8_t hl = 255, bool fill = true) {
    V6Spec s = base;
    s.proto = kIpProtoIcmp6;
    s.payload = std::move(msg);
    s.hop_limit = hl;
    s.fill_checksum = fill;
    return HandV6(s);
  };
  c.push_back({"icmp6 7 bytes", icmp(Bytes{128, 0, 0, 0, 0, 0, 0}), NetReject::kBadIcmp});
  {
    Bytes f = icmp(Echo6(1, 1, Iota(8)));
    f.back() ^= 1;
    c.push_back({"icmp6 checksum", f, NetReject::kIcmpChecksum});
  }
  const Bytes ns = NdMessage(kIcmp6NeighborSolicit, kHubIp6, 1, &kClientMac);
  c.push_back({"ns hop limit 64", icmp(ns, 64), NetReject::kBadNd});
  {
    Bytes m = ns;
    m[1] = 1;
    c.push_back({"ns code 1", icmp(m), NetReject::kBadNd});
    m = ns;
    m.resize(20);
    c.push_back({"ns 20 bytes", icmp(m), NetReject::kBadNd});
    m = ns;
    m[8] = 0xff;
    c.push_back({"ns multicast target", icmp(m), NetReject::kBadNd});
    m = ns;
    m[25] = 0;
    c.push_back({"ns option length 0", icmp(m), NetReject::kBadNd});
    m = ns;
    m[25] = 2;
    c.push_back({"ns option beyond message", icmp(m), NetReject::kBadNd});
  }
  {
    // DAD probe: from ::, must go to the solicited-node group and carry no SLLA.
    V6Spec s = base;
    s.proto = kIpProtoIcmp6;
    s.hop_limit = 255;
    s.src = Ip6{};
    s.payload = ns;
    c.push_back({"dad with slla", HandV6(s), NetReject::kBadNd});
    s.payload = NdMessage(kIcmp6NeighborSolicit, kHubIp6, 1, nullptr);
    c.push_back({"dad to unicast", HandV6(s), NetReject::kBadNd});
    s.payload = Echo6(1, 1, {});
    c.push_back({"echo from ::", HandV6(s), NetReject::kBadSource});
  }
  return c;
}

TEST(Ipv6Parse, EveryIpv6RejectReason) {
  NetRejectCounters counters;
  for (const RejectCase& rc : Ipv6RejectCases()) {
    FrameView v;
    EXPECT_EQ(counters.Count(ParseFrame(rc.frame, &v)), rc.want)
        << rc.name << ": got " << NetRejectName(ParseFrame(rc.frame, &v));
  }
  // The reasons only IPv6 has are each reached.
  for (NetReject r : {NetReject::kIpv6ExtChain, NetReject::kBadNd, NetReject::kUdpChecksumZero}) {
    EXPECT_GT(counters[r], 0u) << NetRejectName(r);
  }
}

TEST(Ipv6Parse, TruncationsNeverReadPastTheSpan) {
  V6Spec s;
  s.first_nh = 0;
  s.ext = Ext(60, 1);
  Bytes e = Ext(kIpProtoUdp, 2);
  s.ext.insert(s.ext.end(), e.begin(), e.end());
  s.payload = Iota(30);
  const Bytes full = HandV6(s);
  for (size_t n = 0; n < full.size(); ++n) {
    // A heap copy of exactly n bytes: ASan reports any read past it.
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<long>(n));
    FrameView v;
    EXPECT_NE(ParseFrame(cut, &v), NetReject::kOk) << n;
  }
}

TEST(Ipv6Parse, OffloadedUdpChecksumIsNotRechecked) {
  Bytes f = kGoldenUdp6;
  f.back() ^= 1;
  FrameView v;
  EXPECT_EQ(ParseFrame(f, &v), NetReject::kUdpChecksum);
  EXPECT_EQ(ParseFrame(f, &v, ParseOptions{.udp_checksum_good = true}), NetReject::kOk);
}

TEST(Ipv6Parse, RandomPayloadChecksums) {
  std::mt19937 rng(6);
  for (int i = 0; i < 300; ++i) {
    V6Spec s;
    s.payload.resize(rng() % 400);
    for (auto& b : s.payload) b = static_cast<uint8_t>(rng());
    s.src[15] = static_cast<uint8_t>(rng());
    s.src[15] |= 2;
    const Bytes f = HandV6(s);
    FrameView v;
    ASSERT_EQ(ParseFrame(f, &v), NetReject::kOk) << i;
  }
}

TEST(NeighborDiscovery, SolicitedNodeGroup) {
  const Ip6 g = SolicitedNodeAddress(
      Ip6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78});
  EXPECT_EQ(g, (Ip6{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0x34, 0x56, 0x78}));
  EXPECT_EQ(Ipv6MulticastMac(g), (Mac{0x33, 0x33, 0xff, 0x34, 0x56, 0x78}));
  EXPECT_EQ(Ipv6MulticastMac(kAllNodesAddress), (Mac{0x33, 0x33, 0, 0, 0, 1}));
}

TEST(NeighborDiscovery, AdvertGoldenAndInPlace) {
  const Bytes ns = ClientNs();
  FrameView v;
  ASSERT_EQ(ParseFrame(ns, &v), NetReject::kOk);
  ASSERT_NE(v.nd_lla_offset, 0);
  EXPECT_EQ(std::memcmp(v.nd_lla(), kClientMac.data(), 6), 0);
  EXPECT_EQ(AddressedToUs(v, kHubMac, kHubIp, &kHubIp6), NetReject::kOk);
  Bytes out(200, 0xee);
  const size_t n = BuildNeighborAdvert(v, kHubMac, kHubIp6, MutableByteSpan(out.data(), 200));
  ASSERT_EQ(n, kGoldenNa.size());
  EXPECT_EQ(Bytes(out.begin(), out.begin() + static_cast<long>(n)), kGoldenNa);
  // Built over the request itself.
  Bytes in_place = ns;
  in_place.resize(200);
  FrameView v2;
  ASSERT_EQ(ParseFrame(ByteSpan(in_place.data(), ns.size()), &v2), NetReject::kOk);
  ASSERT_EQ(BuildNeighborAdvert(v2, kHubMac, kHubIp6, MutableByteSpan(in_place.data(), 200)), n);
  EXPECT_EQ(Bytes(in_place.begin(), in_place.begin() + static_cast<long>(n)), kGoldenNa);
  // Too small a buffer: nothing.
  EXPECT_EQ(BuildNeighborAdvert(v, kHubMac, kHubIp6, MutableByteSpan(out.data(), n - 1)), 0u);
  // And it parses as an NA to the client.
  FrameView na;
  ASSERT_EQ(ParseFrame(kGoldenNa, &na), NetReject::kOk);
  EXPECT_EQ(na.icmp_type, kIcmp6NeighborAdvert);
  EXPECT_EQ(std::memcmp(na.nd_lla(), kHubMac.data(), 6), 0);
}

TEST(NeighborDiscovery, AdvertKeepsVlanAndFallsBackToFrameMac) {
  FrameView v;
  const Bytes tagged = ClientNs(true);
  ASSERT_EQ(ParseFrame(tagged, &v), NetReject::kOk);
  Bytes out(200);
  const size_t n = BuildNeighborAdvert(v, kHubMac, kHubIp6, MutableByteSpan(out.data(), 200));
  ASSERT_EQ(n, kGoldenNa.size() + 4);
  FrameView na;
  ASSERT_EQ(ParseFrame(ByteSpan(out.data(), n), &na), NetReject::kOk);
  EXPECT_EQ(na.vlan, v.vlan);

  // No SLLA option (allowed for a unicast NS): the reply goes to the frame's source MAC.
  V6Spec s;
  s.hop_limit = 255;
  s.proto = kIpProtoIcmp6;
  s.src_mac = Mac{0x02, 9, 9, 9, 9, 9};
  s.payload = NdMessage(kIcmp6NeighborSolicit, kHubIp6, 1, nullptr);
  const Bytes unicast = HandV6(s);
  ASSERT_EQ(ParseFrame(unicast, &v), NetReject::kOk);
  EXPECT_EQ(v.nd_lla_offset, 0);
  EXPECT_EQ(AddressedToUs(v, kHubMac, kHubIp, &kHubIp6), NetReject::kOk);
  ASSERT_NE(BuildNeighborAdvert(v, kHubMac, kHubIp6, MutableByteSpan(out.data(), 200)), 0u);
  EXPECT_EQ(Bytes(out.begin(), out.begin() + 6), Bytes(s.src_mac.begin(), s.src_mac.end()));
}

TEST(NeighborDiscovery, DuplicateAddressProbeIsAnsweredToAllNodes) {
  V6Spec s;
  s.src = Ip6{};
  s.dst = SolicitedNodeAddress(kHubIp6);
  s.dst_mac = Ipv6MulticastMac(s.dst);
  s.hop_limit = 255;
  s.proto = kIpProtoIcmp6;
  s.payload = NdMessage(kIcmp6NeighborSolicit, kHubIp6, 1, nullptr);
  const Bytes probe = HandV6(s);
  FrameView v;
  ASSERT_EQ(ParseFrame(probe, &v), NetReject::kOk);
  ASSERT_EQ(AddressedToUs(v, kHubMac, kHubIp, &kHubIp6), NetReject::kOk);
  Bytes out(200);
  const size_t n = BuildNeighborAdvert(v, kHubMac, kHubIp6, MutableByteSpan(out.data(), 200));
  ASSERT_EQ(n, 86u);
  FrameView na;
  ASSERT_EQ(ParseFrame(ByteSpan(out.data(), n), &na), NetReject::kOk);
  EXPECT_EQ(std::memcmp(na.dst_ip6(), kAllNodesAddress.data(), 16), 0);
  EXPECT_EQ(Bytes(out.begin(), out.begin() + 6), (Bytes{0x33, 0x33, 0, 0, 0, 1}));
  EXPECT_EQ(out[14 + 40 + 4], 0x20);  // override only: not solicited
}

TEST(NeighborDiscovery, OnlySolicitationsForOurAddress) {
  V6Spec s;
  s.hop_limit = 255;
  s.proto = kIpProtoIcmp6;
  Ip6 other = kHubIp6;
  other[15] = 9;
  // Sent to our solicited-node group (same low 24 bits would be needed; this one is not ours).
  s.dst = SolicitedNodeAddress(other);
  s.dst_mac = Ipv6MulticastMac(s.dst);
  s.payload = NdMessage(kIcmp6NeighborSolicit, other, 1, &kClientMac);
  Bytes f = HandV6(s);
  FrameView v;
  ASSERT_EQ(ParseFrame(f, &v), NetReject::kOk);
  EXPECT_EQ(AddressedToUs(v, kHubMac, kHubIp, &kHubIp6), NetReject::kNotForUs);
  Bytes out(200);
  EXPECT_EQ(BuildNeighborAdvert(v, kHubMac, kHubIp6, MutableByteSpan(out.data(), 200)), 0u);
  // For our address but to another group: not ours either.
  s.payload = NdMessage(kIcmp6NeighborSolicit, kHubIp6, 1, &kClientMac);
  f = HandV6(s);
  ASSERT_EQ(ParseFrame(f, &v), NetReject::kOk);
  EXPECT_EQ(AddressedToUs(v, kHubMac, kHubIp, &kHubIp6), NetReject::kNotForUs);
  // A UDP datagram to the solicited-node group is never ours.
  V6Spec u;
  u.dst = SolicitedNodeAddress(kHubIp6);
  u.dst_mac = Ipv6MulticastMac(u.dst);
  u.payload = Iota(4);
  f = HandV6(u);
  ASSERT_EQ(ParseFrame(f, &v), NetReject::kOk);
  EXPECT_EQ(AddressedToUs(v, kHubMac, kHubIp, &kHubIp6), NetReject::kNotForUs);
  // An unsolicited NA to all-nodes is taken (the shard decides whether to learn from it).
  V6Spec a;
  a.hop_limit = 255;
  a.proto = kIpProtoIcmp6;
  a.dst = kAllNodesAddress;
  a.dst_mac = Ipv6MulticastMac(a.dst);
  a.payload = NdMessage(kIcmp6NeighborAdvert, kClientIp6, 2, &kClientMac, 0x20000000);
  f = HandV6(a);
  ASSERT_EQ(ParseFrame(f, &v), NetReject::kOk);
  EXPECT_EQ(AddressedToUs(v, kHubMac, kHubIp, &kHubIp6), NetReject::kOk);
  EXPECT_EQ(std::memcmp(v.nd_lla(), kClientMac.data(), 6), 0);
}

TEST(NeighborDiscovery, SolicitGolden) {
  Bytes out(200, 0xee);
  const size_t n = BuildNeighborSolicit(kHubMac, kHubIp6, kClientIp6, Vlan::None(),
                                        MutableByteSpan(out.data(), out.size()));
  ASSERT_EQ(n, kGoldenNs.size());
  EXPECT_EQ(Bytes(out.begin(), out.begin() + static_cast<long>(n)), kGoldenNs);
  const size_t t = BuildNeighborSolicit(kHubMac, kHubIp6, kClientIp6, Vlan::Tag(7),
                                        MutableByteSpan(out.data(), out.size()));
  ASSERT_EQ(t, n + 4);
  FrameView v;
  ASSERT_EQ(ParseFrame(ByteSpan(out.data(), t), &v), NetReject::kOk);
  EXPECT_EQ(v.vlan.id(), 7);
  EXPECT_EQ(v.icmp_type, kIcmp6NeighborSolicit);
  EXPECT_EQ(std::memcmp(v.nd_target(), kClientIp6.data(), 16), 0);
}

void CheckEchoReply(const Bytes& request, const Bytes& want_icmp_data) {
  FrameView v;
  ASSERT_EQ(ParseFrame(request, &v), NetReject::kOk);
  ASSERT_EQ(AddressedToUs(v, kHubMac, kHubIp, &kHubIp6), NetReject::kOk);
  Bytes out(request.size() + 64);
  const size_t n =
      BuildIcmp6EchoReply(v, kHubMac, kHubIp6, MutableByteSpan(out.data(), out.size()));
  ASSERT_NE(n, 0u);
  out.resize(n);
  FrameView r;
  ASSERT_EQ(ParseFrame(out, &r), NetReject::kOk);  // checksum verified by the parser
  EXPECT_EQ(r.icmp_type, kIcmp6EchoReply);
  EXPECT_EQ(r.ttl, 64);
  EXPECT_EQ(r.ip_header_bytes, 40);
  EXPECT_EQ(std::memcmp(r.src_ip6(), kHubIp6.data(), 16), 0);
  EXPECT_EQ(std::memcmp(r.dst_ip6(), v.src_ip6(), 16), 0);
  EXPECT_EQ(std::memcmp(r.dst_mac(), v.src_mac(), 6), 0);
  EXPECT_EQ(r.vlan, v.vlan);
  EXPECT_EQ(Bytes(r.payload.begin(), r.payload.end()), want_icmp_data);
  // Identifier and sequence echoed.
  EXPECT_EQ(std::memcmp(out.data() + r.l4_offset + 4, request.data() + v.l4_offset + 4, 4), 0);
  // The same reply from the slow checksum.
  Bytes icmp(out.begin() + static_cast<long>(r.l4_offset), out.end());
  Put16(icmp, 2, 0);
  W ph;
  ph.raw(kHubIp6).raw(Bytes(v.src_ip6(), v.src_ip6() + 16)).u32(static_cast<uint32_t>(icmp.size()));
  ph.u32(kIpProtoIcmp6).raw(icmp);
  EXPECT_EQ(Get16(out, r.l4_offset + 2), RefChecksum(ph.b));
}

TEST(Icmp6Echo, PlainVlanAndExtensionHeaders) {
  V6Spec s;
  s.proto = kIpProtoIcmp6;
  s.payload = Echo6(0x1234, 7, Iota(56));
  const Bytes data = Iota(56);
  CheckEchoReply(HandV6(s), data);
  s.vlan = true;
  s.tci = 3;
  s.tc = 0x20;
  CheckEchoReply(HandV6(s), data);
  s.first_nh = 60;
  s.ext = Ext(kIpProtoIcmp6, 3);
  CheckEchoReply(HandV6(s), data);
}

TEST(Icmp6Echo, ManyPayloadsIncludingTheUpdateThatYieldsMinusZero) {
  std::mt19937 rng(7);
  for (int i = 0; i < 500; ++i) {
    V6Spec s;
    s.proto = kIpProtoIcmp6;
    Bytes d(rng() % 64);
    for (auto& b : d) b = static_cast<uint8_t>(rng());
    s.payload = Echo6(static_cast<uint16_t>(rng()), static_cast<uint16_t>(rng()), d);
    Bytes want(s.payload.begin() + 8, s.payload.end());
    CheckEchoReply(HandV6(s), want);
  }
  // Search for an identifier that makes the reply's checksum an incremental -0: the code must
  // still produce the value that verifies.
  for (uint32_t id = 0; id < 0x10000; ++id) {
    V6Spec s;
    s.proto = kIpProtoIcmp6;
    s.payload = Echo6(static_cast<uint16_t>(id), 0, {});
    const Bytes f = HandV6(s);
    FrameView v;
    ASSERT_EQ(ParseFrame(f, &v), NetReject::kOk);
    if (Get16(f, 14 + 40 + 2) != 0x0100) continue;  // the reply's sum would be 0x0000 → 0xffff
    CheckEchoReply(f, Bytes{});
    return;
  }
  FAIL() << "no identifier gives the -0 case";
}

TEST(Icmp6Echo, OnlyEchoRequestsToOurAddress) {
  V6Spec s;
  s.proto = kIpProtoIcmp6;
  s.payload = Echo6(1, 1, Iota(4));
  s.dst[15] = 9;
  Bytes f = HandV6(s);
  FrameView v;
  ASSERT_EQ(ParseFrame(f, &v), NetReject::kOk);
  Bytes out(200);
  EXPECT_EQ(AddressedToUs(v, kHubMac, kHubIp, &kHubIp6), NetReject::kNotForUs);
  EXPECT_EQ(BuildIcmp6EchoReply(v, kHubMac, kHubIp6, MutableByteSpan(out.data(), 200)), 0u);
  s.dst = kHubIp6;
  s.payload[0] = kIcmp6EchoReply;
  f = HandV6(s);
  ASSERT_EQ(ParseFrame(f, &v), NetReject::kOk);
  EXPECT_EQ(BuildIcmp6EchoReply(v, kHubMac, kHubIp6, MutableByteSpan(out.data(), 200)), 0u);
}

TEST(Udp6HeaderTemplate, EqualsHandBuiltForManyLengthsAndParams) {
  std::mt19937 rng(8);
  for (int i = 0; i < 400; ++i) {
    Udp6HeaderTemplate::Params p;
    p.dst_mac = kClientMac;
    p.src_mac = kHubMac;
    p.vlan = (i & 1) ? Vlan::Tag(static_cast<uint16_t>(rng() & 0xfff), 5) : Vlan::None();
    p.src_ip = kHubIp6;
    p.dst_ip = kClientIp6;
    p.dst_ip[8] = static_cast<uint8_t>(rng());
    p.dst_ip[15] = static_cast<uint8_t>(rng() | 1);
    p.src_port = static_cast<uint16_t>(rng());
    p.dst_port = static_cast<uint16_t>(rng());
    const Udp6HeaderTemplate t(p);
    V6Spec s;
    s.dst_mac = p.dst_mac;
    s.src_mac = p.src_mac;
    s.vlan = p.vlan.present;
    s.tci = p.vlan.tci;
    s.src = p.src_ip;
    s.dst = p.dst_ip;
    s.sport = p.src_port;
    s.dport = p.dst_port;
    s.payload.resize(i % 7 == 0 ? 0 : rng() % 300);
    for (auto& b : s.payload) b = static_cast<uint8_t>(rng());
    const Bytes want = HandV6(s);
    Bytes got(t.header_bytes() + s.payload.size());
    // std::copy: an empty payload's data() may be null, which memcpy must never get.
    std::copy(s.payload.begin(), s.payload.end(),
              got.begin() + static_cast<long>(t.header_bytes()));
    ASSERT_EQ(t.Write(got.data(), static_cast<uint16_t>(s.payload.size())), t.header_bytes());
    ASSERT_EQ(got, want) << i;
    FrameView v;
    ASSERT_EQ(ParseFrame(got, &v), NetReject::kOk) << i;
  }
}

TEST(Udp6HeaderTemplate, ChecksumZeroIsSentAsAllOnes) {
  // Find a payload word that makes the checksum come out 0: the template must send 0xffff.
  Udp6HeaderTemplate::Params p;
  p.dst_mac = kClientMac;
  p.src_mac = kHubMac;
  p.src_ip = kHubIp6;
  p.dst_ip = kClientIp6;
  p.src_port = 62031;
  p.dst_port = 62031;
  const Udp6HeaderTemplate t(p);
  for (uint32_t w = 0; w < 0x10000; ++w) {
    Bytes f(t.header_bytes() + 2);
    f[t.header_bytes()] = static_cast<uint8_t>(w >> 8);
    f[t.header_bytes() + 1] = static_cast<uint8_t>(w);
    t.Write(f.data(), 2);
    const uint16_t sum = Get16(f, t.header_bytes() - 2);
    ASSERT_NE(sum, 0);
    if (sum != 0xffff) continue;
    FrameView v;
    EXPECT_EQ(ParseFrame(f, &v), NetReject::kOk);
    return;
  }
  FAIL() << "no payload gives a zero checksum";
}

TEST(Udp6HeaderTemplate, OffloadWritesThePseudoHeaderSum) {
  Udp6HeaderTemplate::Params p;
  p.dst_mac = kClientMac;
  p.src_mac = kHubMac;
  p.src_ip = kHubIp6;
  p.dst_ip = kClientIp6;
  p.src_port = 1;
  p.dst_port = 2;
  p.checksum_offload = true;
  const Udp6HeaderTemplate t(p);
  Bytes f(t.header_bytes() + 10, 0x5a);
  t.Write(f.data(), 10);
  // rte_ipv6_phdr_cksum: addresses, 32-bit length, next header; folded, not complemented.
  W ph;
  ph.raw(kHubIp6).raw(kClientIp6).u32(18).u32(17);
  EXPECT_EQ(Get16(f, t.header_bytes() - 2), static_cast<uint16_t>(~RefChecksum(ph.b)));
  EXPECT_EQ(Udp6HeaderTemplate().header_bytes(), 62u);
}

}  // namespace
}  // namespace dmrswitch::net
