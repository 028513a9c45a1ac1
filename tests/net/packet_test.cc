// ParseFrame, the ARP/ICMP responders and UdpHeaderTemplate against frames written out by hand
// from the RFC 894 / 802.1Q / RFC 826 / RFC 791 / RFC 768 / RFC 792 layouts. Expected bytes never
// come from the code under test: golden arrays, or the test's own byte writer and checksum.

#include "dataplane/net/packet.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tests/net/frame_writer.h"

namespace dmrswitch::net {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr Mac kHubMac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
constexpr Mac kClientMac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
constexpr uint32_t kHubIp = 0xc6120001;     // 198.18.0.1
constexpr uint32_t kClientIp = 0xc6120002;  // 198.18.0.2

using testing::Get16;
using testing::Put16;
using testing::RefChecksum;
using testing::W;

struct UdpSpec {
  Mac dst_mac = kHubMac;
  Mac src_mac = kClientMac;
  bool vlan = false;
  uint16_t tci = 0;
  uint32_t src_ip = kClientIp;
  uint32_t dst_ip = kHubIp;
  uint16_t sport = 62031;
  uint16_t dport = 62031;
  uint8_t ttl = 64;
  uint16_t id = 0x1234;
  uint16_t frag = 0x4000;
  uint8_t proto = kIpProtoUdp;
  Bytes options;  // IPv4 options, a multiple of 4 bytes
  Bytes payload;
  bool udp_checksum = true;
  size_t pad_to = 0;  // Ethernet padding up to this frame size
};

// Ethernet/IPv4/UDP written field by field, checksums by RefChecksum.
Bytes HandUdp(const UdpSpec& s) {
  W w;
  w.mac(s.dst_mac).mac(s.src_mac);
  if (s.vlan) w.u16(0x8100).u16(s.tci);
  w.u16(0x0800);
  const size_t ip = w.size();
  const size_t ihl = 20 + s.options.size();
  const auto udp_len = static_cast<uint16_t>(8 + s.payload.size());
  w.u8(static_cast<uint8_t>(0x40 | (ihl / 4))).u8(0).u16(static_cast<uint16_t>(ihl + udp_len));
  w.u16(s.id).u16(s.frag).u8(s.ttl).u8(s.proto).u16(0).u32(s.src_ip).u32(s.dst_ip);
  w.raw(s.options);
  const size_t udp = w.size();
  w.u16(s.sport).u16(s.dport).u16(udp_len).u16(0).raw(s.payload);
  Bytes& b = w.b;
  Put16(b, ip + 10, RefChecksum(b.data() + ip, ihl));
  if (s.udp_checksum) {
    W ph;
    ph.u32(s.src_ip).u32(s.dst_ip).u8(0).u8(17).u16(udp_len);
    ph.raw(Bytes(b.begin() + static_cast<long>(udp), b.end()));
    uint16_t c = RefChecksum(ph.b);
    Put16(b, udp + 6, c == 0 ? 0xffff : c);
  }
  if (b.size() < s.pad_to) b.resize(s.pad_to, 0);
  return b;
}

Bytes IotaPayload(size_t n, uint8_t start = 0) {
  Bytes p(n);
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(start + i * 7);
  return p;
}

// A 95-byte DMRD/UDP frame: client 198.18.0.2:62031 → hub 198.18.0.1:62031, ID 0x1234, DF,
// TTL 64, 53-byte DMRD, UDP checksum present. Written out with an independent script.
const Bytes kGoldenDmrdFrame = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,  //
    0x08, 0x00, 0x45, 0x00, 0x00, 0x51, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11,  //
    0x9c, 0x40, 0xc6, 0x12, 0x00, 0x02, 0xc6, 0x12, 0x00, 0x01, 0xf2, 0x4f,  //
    0xf2, 0x4f, 0x00, 0x3d, 0x3d, 0x9c, 0x44, 0x4d, 0x52, 0x44, 0x07, 0x2f,  //
    0x9b, 0x65, 0x00, 0x00, 0x09, 0x00, 0x2f, 0x9b, 0x65, 0xa1, 0x12, 0x34,  //
    0x56, 0x78, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,  //
    0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,  //
    0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
};

TEST(ParseFrame, GoldenDmrdFrame) {
  ASSERT_EQ(kGoldenDmrdFrame.size(), 95u);
  FrameView v;
  ASSERT_EQ(ParseFrame(kGoldenDmrdFrame, &v), NetReject::kOk);
  EXPECT_TRUE(v.is_udp());
  EXPECT_FALSE(v.vlan.present);
  EXPECT_EQ(v.l3_offset, 14);
  EXPECT_EQ(v.l4_offset, 34);
  EXPECT_EQ(v.l3_length, 81);
  EXPECT_EQ(v.ip_header_bytes, 20);
  EXPECT_EQ(v.ttl, 64);
  EXPECT_EQ(v.ip_id, 0x1234);
  EXPECT_EQ(v.src_ip, kClientIp);
  EXPECT_EQ(v.dst_ip, kHubIp);
  EXPECT_EQ(v.src_port, 62031);
  EXPECT_EQ(v.dst_port, 62031);
  EXPECT_EQ(v.src_mac_array(), kClientMac);
  EXPECT_EQ(0, std::memcmp(v.dst_mac(), kHubMac.data(), 6));
  ASSERT_EQ(v.payload.size(), 53u);
  EXPECT_EQ(v.payload.data(), kGoldenDmrdFrame.data() + 42);
  EXPECT_EQ(0, std::memcmp(v.payload.data(), "DMRD", 4));
  EXPECT_EQ(AddressedToUs(v, kHubMac, kHubIp), NetReject::kOk);
}

TEST(ParseFrame, HandBuiltMatchesGolden) {
  // The test's own writer reproduces the golden frame: it is trustworthy for the cases below.
  UdpSpec s;
  s.payload = Bytes(kGoldenDmrdFrame.begin() + 42, kGoldenDmrdFrame.end());
  EXPECT_EQ(HandUdp(s), kGoldenDmrdFrame);
}

TEST(ParseFrame, VlanTag) {
  UdpSpec s;
  s.vlan = true;
  s.tci = (5 << 13) | 0x1000 | 100;  // PCP 5, DEI, VID 100
  s.payload = IotaPayload(55);
  const Bytes f = HandUdp(s);
  FrameView v;
  ASSERT_EQ(ParseFrame(f, &v), NetReject::kOk);
  EXPECT_TRUE(v.vlan.present);
  EXPECT_EQ(v.vlan.id(), 100);
  EXPECT_EQ(v.vlan.pcp(), 5);
  EXPECT_TRUE(v.vlan.dei());
  EXPECT_EQ(v.l3_offset, 18);
  EXPECT_EQ(v.l4_offset, 38);
  EXPECT_EQ(v.payload.data(), f.data() + 46);
  EXPECT_EQ(v.payload.size(), 55u);
}

TEST(ParseFrame, EthernetPaddingIgnored) {
  UdpSpec s;
  s.payload = {1, 2, 3, 4};
  s.pad_to = 60;
  Bytes f = HandUdp(s);
  ASSERT_EQ(f.size(), 60u);
  f[59] = 0xee;  // padding content is anything
  FrameView v;
  ASSERT_EQ(ParseFrame(f, &v), NetReject::kOk);
  EXPECT_EQ(v.l3_length, 20 + 8 + 4);
  EXPECT_EQ(v.payload.size(), 4u);
  EXPECT_EQ(v.frame.size(), 60u);
}

TEST(ParseFrame, IpOptionsSkipped) {
  UdpSpec s;
  s.options = {0x01, 0x01, 0x01, 0x00, 0x94, 0x04, 0x00, 0x00};  // NOP NOP NOP EOL, router alert
  s.payload = IotaPayload(10);
  const Bytes f = HandUdp(s);
  FrameView v;
  ASSERT_EQ(ParseFrame(f, &v), NetReject::kOk);
  EXPECT_EQ(v.ip_header_bytes, 28);
  EXPECT_EQ(v.l4_offset, 14 + 28);
  EXPECT_EQ(v.payload.data(), f.data() + 14 + 28 + 8);
  EXPECT_EQ(v.payload.size(), 10u);
}

TEST(ParseFrame, UdpChecksumZeroMeansNone) {
  UdpSpec s;
  s.udp_checksum = false;
  s.payload = IotaPayload(33);
  FrameView v;
  EXPECT_EQ(ParseFrame(HandUdp(s), &v), NetReject::kOk);
}

TEST(ParseFrame, UdpChecksumRandomPayloads) {
  std::mt19937 rng(7);
  for (int i = 0; i < 500; ++i) {
    UdpSpec s;
    s.payload.resize(rng() % 200);
    for (auto& x : s.payload) x = static_cast<uint8_t>(rng());
    s.src_ip = static_cast<uint32_t>(rng()) & 0x7fffffff;
    s.src_ip |= 1;
    s.sport = static_cast<uint16_t>(rng());
    Bytes f = HandUdp(s);
    FrameView v;
    ASSERT_EQ(ParseFrame(f, &v), NetReject::kOk) << i;
    if (s.payload.empty()) continue;
    // Flipping a bit of the payload must be caught (a flip never preserves the sum).
    f[42 + rng() % s.payload.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
    EXPECT_EQ(ParseFrame(f, &v), NetReject::kUdpChecksum) << i;
    EXPECT_EQ(ParseFrame(f, &v, ParseOptions{.udp_checksum_good = true}), NetReject::kOk);
  }
}

TEST(ParseFrame, UdpChecksumOfAllOnesIsAccepted) {
  // RFC 768: a computed checksum of zero is sent as all ones. Find a payload whose checksum
  // computes to 0 by fixing its last two bytes.
  UdpSpec s;
  s.payload = IotaPayload(20);
  s.udp_checksum = false;
  Bytes f = HandUdp(s);
  W ph;
  ph.u32(s.src_ip).u32(s.dst_ip).u8(0).u8(17).u16(28);
  ph.raw(Bytes(f.begin() + 34, f.end()));
  // Current sum with payload tail 0, then choose the tail so the total sum is 0xffff.
  ph.b[ph.b.size() - 2] = 0;
  ph.b[ph.b.size() - 1] = 0;
  const uint16_t c = RefChecksum(ph.b);  // ~sum
  f[f.size() - 2] = static_cast<uint8_t>(c >> 8);
  f[f.size() - 1] = static_cast<uint8_t>(c);
  ph.b[ph.b.size() - 2] = f[f.size() - 2];
  ph.b[ph.b.size() - 1] = f[f.size() - 1];
  ASSERT_EQ(RefChecksum(ph.b), 0);
  Put16(f, 40, 0xffff);
  FrameView v;
  EXPECT_EQ(ParseFrame(f, &v), NetReject::kOk);
}

TEST(ParseFrame, Icmp) {
  W w;
  w.mac(kHubMac).mac(kClientMac).u16(0x0800);
  w.u8(0x45).u8(0).u16(20 + 8 + 4).u16(1).u16(0).u8(64).u8(1).u16(0).u32(kClientIp).u32(kHubIp);
  w.u8(8).u8(0).u16(0).u16(0xbeef).u16(1).u8(1).u8(2).u8(3).u8(4);
  Put16(w.b, 24, RefChecksum(w.b.data() + 14, 20));
  Put16(w.b, 36, RefChecksum(w.b.data() + 34, 12));
  FrameView v;
  ASSERT_EQ(ParseFrame(w.b, &v), NetReject::kOk);
  EXPECT_TRUE(v.is_icmp());
  EXPECT_EQ(v.icmp_type, 8);
  EXPECT_EQ(v.icmp_code, 0);
  EXPECT_EQ(v.payload.size(), 4u);
  EXPECT_EQ(v.payload.data(), w.b.data() + 42);
}

// ---------------------------------------------------------------------------------------------
// Every reject reason, each from a frame that is valid except for one thing.

Bytes ValidUdp() {
  UdpSpec s;
  s.payload = IotaPayload(53);
  return HandUdp(s);
}

void FixIpChecksum(Bytes& f, size_t ip = 14) {
  const size_t ihl = (f[ip] & 0x0f) * 4u;
  Put16(f, ip + 10, 0);
  Put16(f, ip + 10, RefChecksum(f.data() + ip, ihl));
}

Bytes ArpRequestFrame(const Mac& sender_mac, uint32_t sender_ip, uint32_t target_ip,
                      bool vlan = false, uint16_t tci = 0) {
  W w;
  w.mac(kBroadcastMac).mac(sender_mac);
  if (vlan) w.u16(0x8100).u16(tci);
  w.u16(0x0806).u16(1).u16(0x0800).u8(6).u8(4).u16(1);
  w.mac(sender_mac).u32(sender_ip).mac(Mac{}).u32(target_ip);
  return w.b;
}

struct RejectCase {
  std::string name;
  Bytes frame;
  NetReject want;
};

std::vector<RejectCase> RejectCases() {
  std::vector<RejectCase> c;
  c.push_back({"empty", {}, NetReject::kTooShort});
  {
    Bytes f = ValidUdp();
    f.resize(13);
    c.push_back({"13 bytes", f, NetReject::kTooShort});
  }
  {
    Bytes f = ValidUdp();
    f[12] = 0x81;
    f[13] = 0x00;
    f.resize(16);
    c.push_back({"vlan tag cut", f, NetReject::kTooShort});
  }
  {
    Bytes f = ValidUdp();
    Put16(f, 12, 0x88cc);
    c.push_back({"lldp", f, NetReject::kNotIpv4OrArp});
  }
  {
    UdpSpec s;
    s.vlan = true;
    s.tci = 7;
    Bytes f = HandUdp(s);
    f.insert(f.begin() + 16, {0x00, 0x08, 0x81, 0x00});  // a second 0x8100 tag (QinQ)
    c.push_back({"two tags", f, NetReject::kNotIpv4OrArp});
  }
  {
    UdpSpec s;
    s.src_mac = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
    c.push_back({"multicast src mac", HandUdp(s), NetReject::kBadSource});
  }
  {
    UdpSpec s;
    s.src_ip = 0xe0000001;
    c.push_back({"multicast src ip", HandUdp(s), NetReject::kBadSource});
    s.src_ip = 0xffffffff;
    c.push_back({"broadcast src ip", HandUdp(s), NetReject::kBadSource});
    s.src_ip = 0;
    c.push_back({"zero src ip", HandUdp(s), NetReject::kBadSource});
  }
  {
    Bytes f = ArpRequestFrame(kClientMac, kClientIp, kHubIp);
    f.pop_back();
    c.push_back({"arp cut", f, NetReject::kBadArp});
    f = ArpRequestFrame(kClientMac, kClientIp, kHubIp);
    Put16(f, 14, 6);  // hardware type IEEE 802
    c.push_back({"arp htype", f, NetReject::kBadArp});
    f = ArpRequestFrame(kClientMac, kClientIp, kHubIp);
    Put16(f, 16, 0x86dd);
    c.push_back({"arp ptype", f, NetReject::kBadArp});
    f = ArpRequestFrame(kClientMac, kClientIp, kHubIp);
    f[18] = 8;
    c.push_back({"arp hlen", f, NetReject::kBadArp});
    f = ArpRequestFrame(kClientMac, kClientIp, kHubIp);
    f[19] = 16;
    c.push_back({"arp plen", f, NetReject::kBadArp});
    f = ArpRequestFrame(kClientMac, kClientIp, kHubIp);
    Put16(f, 20, 3);  // RARP request
    c.push_back({"arp op", f, NetReject::kBadArp});
    f = ArpRequestFrame(kClientMac, 0xe0000005, kHubIp);
    c.push_back({"arp multicast sender", f, NetReject::kBadSource});
    f = ArpRequestFrame(kClientMac, kClientIp, kHubIp);
    f[22] |= 1;  // sender hardware address multicast
    c.push_back({"arp group sha", f, NetReject::kBadSource});
  }
  {
    Bytes f = ValidUdp();
    f.resize(14 + 19);
    c.push_back({"ip header cut", f, NetReject::kBadIpHeader});
    f = ValidUdp();
    f[14] = 0x65;
    FixIpChecksum(f);
    c.push_back({"ip version 6", f, NetReject::kBadIpHeader});
    f = ValidUdp();
    f[14] = 0x44;
    c.push_back({"ihl 4", f, NetReject::kBadIpHeader});
    f = ValidUdp();
    f.resize(14 + 24);
    f[14] = 0x47;  // IHL 28 bytes, only 24 there
    c.push_back({"ihl beyond frame", f, NetReject::kBadIpHeader});
    f = ValidUdp();
    Put16(f, 16, static_cast<uint16_t>(f.size() - 14 + 1));
    FixIpChecksum(f);
    c.push_back({"total length beyond frame", f, NetReject::kBadIpHeader});
    f = ValidUdp();
    Put16(f, 16, 19);
    FixIpChecksum(f);
    c.push_back({"total length < ihl", f, NetReject::kBadIpHeader});
  }
  {
    Bytes f = ValidUdp();
    f[24] ^= 0x01;
    c.push_back({"ip checksum", f, NetReject::kIpChecksum});
  }
  {
    UdpSpec s;
    s.frag = 0x2000;  // MF
    c.push_back({"more fragments", HandUdp(s), NetReject::kFragment});
    s.frag = 0x0001;
    c.push_back({"fragment offset", HandUdp(s), NetReject::kFragment});
    s.frag = 0x1fff;
    c.push_back({"last fragment", HandUdp(s), NetReject::kFragment});
  }
  {
    UdpSpec s;
    s.proto = 6;
    s.udp_checksum = false;
    c.push_back({"tcp", HandUdp(s), NetReject::kNotUdpOrIcmp});
  }
  {
    Bytes f = ValidUdp();
    Put16(f, 38, 7);
    c.push_back({"udp length 7", f, NetReject::kBadUdpLength});
    f = ValidUdp();
    Put16(f, 38, static_cast<uint16_t>(Get16(f, 38) - 1));
    c.push_back({"udp length short of ip payload", f, NetReject::kBadUdpLength});
    f = ValidUdp();
    Put16(f, 38, static_cast<uint16_t>(Get16(f, 38) + 1));
    c.push_back({"udp length past ip payload", f, NetReject::kBadUdpLength});
    f = ValidUdp();
    Put16(f, 16, 20 + 7);  // IP payload shorter than a UDP header
    FixIpChecksum(f);
    c.push_back({"ip payload < udp header", f, NetReject::kBadUdpLength});
  }
  {
    Bytes f = ValidUdp();
    f[50] ^= 0x10;
    c.push_back({"udp checksum", f, NetReject::kUdpChecksum});
  }
  {
    W w;
    w.mac(kHubMac).mac(kClientMac).u16(0x0800);
    w.u8(0x45).u8(0).u16(20 + 7).u16(1).u16(0).u8(64).u8(1).u16(0).u32(kClientIp).u32(kHubIp);
    w.u8(8).u8(0).u16(0).u16(0).u8(0);
    FixIpChecksum(w.b);
    c.push_back({"icmp 7 bytes", w.b, NetReject::kBadIcmp});
    Bytes g = w.b;
    g.push_back(0);
    Put16(g, 16, 28);
    FixIpChecksum(g);
    Put16(g, 36, 0x1234);
    c.push_back({"icmp checksum", g, NetReject::kIcmpChecksum});
  }
  return c;
}

TEST(ParseFrame, EveryRejectReason) {
  NetRejectCounters counters;
  std::vector<bool> seen(static_cast<size_t>(NetReject::kCount));
  for (const RejectCase& rc : RejectCases()) {
    FrameView v;
    EXPECT_EQ(counters.Count(ParseFrame(rc.frame, &v)), rc.want)
        << rc.name << ": got " << NetRejectName(ParseFrame(rc.frame, &v));
    seen[static_cast<size_t>(rc.want)] = true;
  }
  // kNotForUs comes from AddressedToUs.
  FrameView v;
  const Bytes valid = ValidUdp();  // outlives the view
  ASSERT_EQ(ParseFrame(valid, &v), NetReject::kOk);
  EXPECT_EQ(counters.Count(AddressedToUs(v, kHubMac, kHubIp + 1)), NetReject::kNotForUs);
  seen[static_cast<size_t>(NetReject::kNotForUs)] = true;
  // The reasons only IPv6 has are reached in packet6_test.cc.
  for (NetReject r : {NetReject::kIpv6ExtChain, NetReject::kBadNd, NetReject::kUdpChecksumZero}) {
    seen[static_cast<size_t>(r)] = true;
    counters.Count(r);
  }
  for (size_t i = 1; i < seen.size(); ++i) {
    EXPECT_TRUE(seen[i]) << "no case for " << NetRejectName(static_cast<NetReject>(i));
    EXPECT_GT(counters.by_reason[i], 0u) << NetRejectName(static_cast<NetReject>(i));
  }
  EXPECT_EQ(counters.by_reason[0], 0u);
  EXPECT_EQ(counters.total_rejects(), RejectCases().size() + 1 + 3);
}

TEST(ParseFrame, OffloadFlagsSkipChecks) {
  Bytes f = ValidUdp();
  f[24] ^= 0x01;  // IP checksum wrong, but the NIC said good
  FrameView v;
  EXPECT_EQ(ParseFrame(f, &v, ParseOptions{.ip_checksum_good = true}), NetReject::kOk);
}

TEST(ParseFrame, RejectNamesAreDistinct) {
  for (size_t i = 0; i < kNetRejectNames.size(); ++i) {
    EXPECT_FALSE(kNetRejectNames[i].empty());
    for (size_t j = i + 1; j < kNetRejectNames.size(); ++j) {
      EXPECT_NE(kNetRejectNames[i], kNetRejectNames[j]);
    }
  }
  EXPECT_EQ(NetRejectName(NetReject::kFragment), "fragment");
  EXPECT_EQ(NetRejectName(static_cast<NetReject>(200)), "ok");
}

TEST(AddressedToUs, UnicastAndBroadcast) {
  FrameView v;
  const Bytes valid = ValidUdp();  // outlives the view
  ASSERT_EQ(ParseFrame(valid, &v), NetReject::kOk);
  EXPECT_EQ(AddressedToUs(v, kHubMac, kHubIp), NetReject::kOk);
  EXPECT_EQ(AddressedToUs(v, kClientMac, kHubIp), NetReject::kNotForUs);
  UdpSpec s;
  s.dst_mac = kBroadcastMac;
  const Bytes bcast_udp = HandUdp(s);
  ASSERT_EQ(ParseFrame(bcast_udp, &v), NetReject::kOk);
  EXPECT_EQ(AddressedToUs(v, kHubMac, kHubIp), NetReject::kNotForUs);  // IPv4: unicast only

  const Bytes arp = ArpRequestFrame(kClientMac, kClientIp, kHubIp);
  ASSERT_EQ(ParseFrame(arp, &v), NetReject::kOk);
  EXPECT_EQ(AddressedToUs(v, kHubMac, kHubIp), NetReject::kOk);  // broadcast ARP for us
  EXPECT_EQ(AddressedToUs(v, kHubMac, kHubIp + 5), NetReject::kNotForUs);
}

// ---------------------------------------------------------------------------------------------
// ARP

const Bytes kGoldenArpRequest = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x06,  //
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,                                      //
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0xc6, 0x12, 0x00, 0x02,                          //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc6, 0x12, 0x00, 0x01,
};
const Bytes kGoldenArpReply = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06,  //
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02,                                      //
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x01,                          //
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0xc6, 0x12, 0x00, 0x02,
};

TEST(Arp, ParseRequest) {
  ASSERT_EQ(ArpRequestFrame(kClientMac, kClientIp, kHubIp), kGoldenArpRequest);
  Bytes padded = kGoldenArpRequest;
  padded.resize(60, 0);
  FrameView v;
  ASSERT_EQ(ParseFrame(padded, &v), NetReject::kOk);
  EXPECT_TRUE(v.is_arp());
  EXPECT_EQ(v.arp_op, 1);
  EXPECT_EQ(v.src_ip, kClientIp);
  EXPECT_EQ(v.dst_ip, kHubIp);
  EXPECT_EQ(0, std::memcmp(v.arp_sender_mac(), kClientMac.data(), 6));
  EXPECT_TRUE(v.payload.empty());
}

TEST(Arp, ReplyGolden) {
  FrameView v;
  ASSERT_EQ(ParseFrame(kGoldenArpRequest, &v), NetReject::kOk);
  uint8_t out[64];
  ASSERT_EQ(BuildArpReply(v, kHubMac, kHubIp, out), 42u);
  EXPECT_EQ(Bytes(out, out + 42), kGoldenArpReply);
  // Too small a buffer, a request for someone else, a reply: nothing.
  EXPECT_EQ(BuildArpReply(v, kHubMac, kHubIp, MutableByteSpan(out, 41)), 0u);
  EXPECT_EQ(BuildArpReply(v, kHubMac, kHubIp + 1, out), 0u);
  FrameView reply;
  ASSERT_EQ(ParseFrame(kGoldenArpReply, &reply), NetReject::kOk);
  EXPECT_EQ(reply.arp_op, 2);
  EXPECT_EQ(BuildArpReply(reply, kHubMac, kHubIp, out), 0u);
  // A UDP frame is not an ARP request even to our IP.
  FrameView udp;
  const Bytes valid = ValidUdp();
  ASSERT_EQ(ParseFrame(valid, &udp), NetReject::kOk);
  EXPECT_EQ(BuildArpReply(udp, kHubMac, kHubIp, out), 0u);
}

TEST(Arp, ReplyKeepsVlanTag) {
  const uint16_t tci = (3 << 13) | 42;
  const Bytes req = ArpRequestFrame(kClientMac, kClientIp, kHubIp, true, tci);
  FrameView v;
  ASSERT_EQ(ParseFrame(req, &v), NetReject::kOk);
  uint8_t out[64];
  ASSERT_EQ(BuildArpReply(v, kHubMac, kHubIp, out), 46u);
  Bytes want(kGoldenArpReply.begin(), kGoldenArpReply.begin() + 12);
  want.insert(want.end(), {0x81, 0x00, static_cast<uint8_t>(tci >> 8), static_cast<uint8_t>(tci)});
  want.insert(want.end(), kGoldenArpReply.begin() + 12, kGoldenArpReply.end());
  EXPECT_EQ(Bytes(out, out + 46), want);
}

TEST(Arp, ReplyInPlace) {
  Bytes buf = kGoldenArpRequest;
  buf.resize(60, 0);
  FrameView v;
  ASSERT_EQ(ParseFrame(buf, &v), NetReject::kOk);
  ASSERT_EQ(BuildArpReply(v, kHubMac, kHubIp, buf), 42u);
  EXPECT_EQ(Bytes(buf.begin(), buf.begin() + 42), kGoldenArpReply);
}

TEST(Arp, ProbeFromZeroAddressIsAnswered) {
  // RFC 5227 probe: sender IP 0.0.0.0. The reply goes to the prober's MAC.
  const Bytes req = ArpRequestFrame(kClientMac, 0, kHubIp);
  FrameView v;
  ASSERT_EQ(ParseFrame(req, &v), NetReject::kOk);
  uint8_t out[64];
  ASSERT_EQ(BuildArpReply(v, kHubMac, kHubIp, out), 42u);
  EXPECT_EQ(0, std::memcmp(out, kClientMac.data(), 6));
  EXPECT_EQ(out[38], 0);
  EXPECT_EQ(out[41], 0);
}

TEST(Arp, RequestGolden) {
  uint8_t out[64];
  // Our request for the client: the golden request with roles swapped.
  W w;
  w.mac(kBroadcastMac).mac(kHubMac).u16(0x0806).u16(1).u16(0x0800).u8(6).u8(4).u16(1);
  w.mac(kHubMac).u32(kHubIp).mac(Mac{}).u32(kClientIp);
  ASSERT_EQ(BuildArpRequest(kHubMac, kHubIp, kClientIp, Vlan::None(), out), 42u);
  EXPECT_EQ(Bytes(out, out + 42), w.b);
  // Tagged.
  W t;
  t.mac(kBroadcastMac).mac(kHubMac).u16(0x8100).u16(0x0123).u16(0x0806).u16(1).u16(0x0800);
  t.u8(6).u8(4).u16(1).mac(kHubMac).u32(kHubIp).mac(Mac{}).u32(kClientIp);
  ASSERT_EQ(BuildArpRequest(kHubMac, kHubIp, kClientIp, Vlan::Tag(0x123), out), 46u);
  EXPECT_EQ(Bytes(out, out + 46), t.b);
  EXPECT_EQ(BuildArpRequest(kHubMac, kHubIp, kClientIp, Vlan::Tag(1), MutableByteSpan(out, 45)),
            0u);
  // It parses as an ARP request for the client.
  FrameView v;
  ASSERT_EQ(ParseFrame(ByteSpan(out, 46), &v), NetReject::kOk);
  EXPECT_EQ(v.arp_op, 1);
  EXPECT_EQ(v.dst_ip, kClientIp);
  EXPECT_EQ(v.vlan.id(), 0x123);
}

// ---------------------------------------------------------------------------------------------
// ICMP echo

struct EchoSpec {
  bool vlan = false;
  uint16_t tci = 0;
  Bytes options;
  uint8_t tos = 0;
  uint16_t id = 0x4d2;
  uint8_t type = 8;
  uint8_t code = 0;
  uint16_t ident = 0x1a2b;
  uint16_t seq = 7;
  Bytes data;
  uint32_t dst_ip = kHubIp;
  size_t pad_to = 0;
};

Bytes HandEcho(const EchoSpec& s) {
  W w;
  w.mac(kHubMac).mac(kClientMac);
  if (s.vlan) w.u16(0x8100).u16(s.tci);
  w.u16(0x0800);
  const size_t ip = w.size();
  const size_t ihl = 20 + s.options.size();
  const size_t icmp_len = 8 + s.data.size();
  w.u8(static_cast<uint8_t>(0x40 | ihl / 4)).u8(s.tos).u16(static_cast<uint16_t>(ihl + icmp_len));
  w.u16(s.id).u16(0x4000).u8(55).u8(1).u16(0).u32(kClientIp).u32(s.dst_ip).raw(s.options);
  const size_t icmp = w.size();
  w.u8(s.type).u8(s.code).u16(0).u16(s.ident).u16(s.seq).raw(s.data);
  Put16(w.b, ip + 10, RefChecksum(w.b.data() + ip, ihl));
  Put16(w.b, icmp + 2, RefChecksum(w.b.data() + icmp, icmp_len));
  if (w.b.size() < s.pad_to) w.b.resize(s.pad_to, 0);
  return w.b;
}

// The reply RFC 792 asks for, written independently: fresh header, addresses swapped.
Bytes HandEchoReply(const EchoSpec& s) {
  W w;
  w.mac(kClientMac).mac(kHubMac);
  if (s.vlan) w.u16(0x8100).u16(s.tci);
  w.u16(0x0800);
  const size_t ip = w.size();
  const size_t icmp_len = 8 + s.data.size();
  w.u8(0x45).u8(s.tos).u16(static_cast<uint16_t>(20 + icmp_len)).u16(s.id).u16(0).u8(64).u8(1);
  w.u16(0).u32(kHubIp).u32(kClientIp);
  const size_t icmp = w.size();
  w.u8(0).u8(0).u16(0).u16(s.ident).u16(s.seq).raw(s.data);
  Put16(w.b, ip + 10, RefChecksum(w.b.data() + ip, 20));
  Put16(w.b, icmp + 2, RefChecksum(w.b.data() + icmp, icmp_len));
  return w.b;
}

void ExpectEcho(const EchoSpec& s) {
  const Bytes req = HandEcho(s);
  FrameView v;
  ASSERT_EQ(ParseFrame(req, &v), NetReject::kOk);
  std::vector<uint8_t> out(req.size() + 8);
  const size_t n = BuildIcmpEchoReply(v, kHubMac, kHubIp, out);
  const Bytes want = HandEchoReply(s);
  ASSERT_EQ(n, want.size());
  EXPECT_EQ(Bytes(out.begin(), out.begin() + static_cast<long>(n)), want);
  // In place, in the request's own buffer.
  Bytes inplace = req;
  ASSERT_EQ(ParseFrame(inplace, &v), NetReject::kOk);
  ASSERT_EQ(BuildIcmpEchoReply(v, kHubMac, kHubIp, inplace), n);
  EXPECT_EQ(Bytes(inplace.begin(), inplace.begin() + static_cast<long>(n)), want);
  // And the reply parses.
  FrameView r;
  ASSERT_EQ(ParseFrame(ByteSpan(out.data(), n), &r), NetReject::kOk);
  EXPECT_EQ(r.icmp_type, 0);
}

TEST(IcmpEcho, Plain) {
  EchoSpec s;
  s.data = IotaPayload(56);
  ExpectEcho(s);
}

TEST(IcmpEcho, VlanTosOptionsOddLengthPadding) {
  EchoSpec s;
  s.vlan = true;
  s.tci = 0xe00a;
  s.tos = 0xb8;
  s.options = {0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00};
  s.data = IotaPayload(3, 0xfe);
  s.pad_to = 64;
  ExpectEcho(s);
}

TEST(IcmpEcho, AllZeroReplyGetsTheChecksumThatVerifies) {
  // Identifier 0, sequence 0, no data: the reply message is all zero but its checksum field,
  // which must then be 0xffff (the incremental update alone would give 0x0000).
  EchoSpec s;
  s.ident = 0;
  s.seq = 0;
  ExpectEcho(s);
  EXPECT_EQ(Get16(HandEchoReply(s), 36), 0xffff);
}

TEST(IcmpEcho, ManyPayloads) {
  std::mt19937 rng(3);
  for (int i = 0; i < 300; ++i) {
    EchoSpec s;
    s.ident = static_cast<uint16_t>(rng());
    s.seq = static_cast<uint16_t>(rng());
    s.id = static_cast<uint16_t>(rng());
    s.data.resize(rng() % 1400);
    for (auto& x : s.data) x = static_cast<uint8_t>(rng());
    ExpectEcho(s);
  }
}

TEST(IcmpEcho, OnlyEchoRequestsToUs) {
  uint8_t out[256];
  FrameView v;
  EchoSpec s;
  s.type = 0;  // a reply
  Bytes f = HandEcho(s);
  ASSERT_EQ(ParseFrame(f, &v), NetReject::kOk);
  EXPECT_EQ(BuildIcmpEchoReply(v, kHubMac, kHubIp, out), 0u);
  s.type = 8;
  s.code = 1;
  f = HandEcho(s);
  ASSERT_EQ(ParseFrame(f, &v), NetReject::kOk);
  EXPECT_EQ(BuildIcmpEchoReply(v, kHubMac, kHubIp, out), 0u);
  s.code = 0;
  s.dst_ip = kHubIp + 9;
  f = HandEcho(s);
  ASSERT_EQ(ParseFrame(f, &v), NetReject::kOk);
  EXPECT_EQ(BuildIcmpEchoReply(v, kHubMac, kHubIp, out), 0u);
  s.dst_ip = kHubIp;
  f = HandEcho(s);
  ASSERT_EQ(ParseFrame(f, &v), NetReject::kOk);
  EXPECT_EQ(BuildIcmpEchoReply(v, kHubMac, kHubIp, MutableByteSpan(out, f.size() - 1)), 0u);
  EXPECT_EQ(BuildIcmpEchoReply(v, kHubMac, kHubIp, out), f.size());
}

// ---------------------------------------------------------------------------------------------
// UdpHeaderTemplate

// A 46-byte tagged header written out with an independent script: hub 198.18.0.1:62031 →
// 198.18.0.2:62032, VLAN 100 PCP 5, TTL 64, DF, ID 0, 55-byte payload, UDP checksum 0.
const Bytes kGoldenTemplateVlan55 = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  //
    0x81, 0x00, 0xa0, 0x64, 0x08, 0x00, 0x45, 0x00, 0x00, 0x53, 0x00, 0x00,  //
    0x40, 0x00, 0x40, 0x11, 0xae, 0x72, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12,  //
    0x00, 0x02, 0xf2, 0x4f, 0xf2, 0x50, 0x00, 0x3f, 0x00, 0x00,
};

UdpHeaderTemplate::Params HubToClient() {
  UdpHeaderTemplate::Params p;
  p.dst_mac = kClientMac;
  p.src_mac = kHubMac;
  p.src_ip = kHubIp;
  p.dst_ip = kClientIp;
  p.src_port = 62031;
  p.dst_port = 62032;
  return p;
}

TEST(UdpHeaderTemplate, GoldenVlan) {
  auto p = HubToClient();
  p.vlan = Vlan::Tag(100, 5);
  const UdpHeaderTemplate t(p);
  EXPECT_EQ(t.header_bytes(), 46u);
  EXPECT_EQ(t.l2_bytes(), 18u);
  uint8_t out[64];
  std::memset(out, 0xcc, sizeof(out));
  ASSERT_EQ(t.Write(out, 55), 46u);
  EXPECT_EQ(Bytes(out, out + 46), kGoldenTemplateVlan55);
  EXPECT_EQ(out[46], 0xcc);  // nothing past the header
}

// The header the template must produce, field by field.
Bytes HandHeader(const UdpHeaderTemplate::Params& p, uint16_t payload_len) {
  W w;
  w.mac(p.dst_mac).mac(p.src_mac);
  if (p.vlan.present) w.u16(0x8100).u16(p.vlan.tci);
  w.u16(0x0800);
  const size_t ip = w.size();
  const auto udp_len = static_cast<uint16_t>(8 + payload_len);
  w.u8(0x45).u8(p.tos).u16(static_cast<uint16_t>(20 + udp_len)).u16(0).u16(0x4000).u8(p.ttl);
  w.u8(17).u16(0).u32(p.src_ip).u32(p.dst_ip);
  w.u16(p.src_port).u16(p.dst_port).u16(udp_len);
  if (p.udp_checksum == UdpChecksumMode::kOffloadPseudoHeader) {
    // The folded, uncomplemented pseudo-header sum: ~checksum of the pseudo-header alone.
    W ph;
    ph.u32(p.src_ip).u32(p.dst_ip).u8(0).u8(17).u16(udp_len);
    w.u16(static_cast<uint16_t>(~RefChecksum(ph.b)));
  } else {
    w.u16(0);
  }
  Put16(w.b, ip + 10, RefChecksum(w.b.data() + ip, 20));
  return w.b;
}

TEST(UdpHeaderTemplate, EqualsHandBuiltForManyLengthsAndParams) {
  std::mt19937 rng(11);
  for (int round = 0; round < 200; ++round) {
    UdpHeaderTemplate::Params p;
    for (auto& b : p.dst_mac) b = static_cast<uint8_t>(rng());
    for (auto& b : p.src_mac) b = static_cast<uint8_t>(rng());
    p.vlan = (round % 2) ? Vlan{true, static_cast<uint16_t>(rng())} : Vlan::None();
    p.src_ip = static_cast<uint32_t>(rng());
    p.dst_ip = static_cast<uint32_t>(rng());
    p.src_port = static_cast<uint16_t>(rng());
    p.dst_port = static_cast<uint16_t>(rng());
    p.ttl = static_cast<uint8_t>(rng());
    p.tos = static_cast<uint8_t>(rng());
    p.udp_checksum =
        (round % 4 < 2) ? UdpChecksumMode::kNone : UdpChecksumMode::kOffloadPseudoHeader;
    const UdpHeaderTemplate t(p);
    uint8_t out[64];
    for (int k = 0; k < 64; ++k) {
      uint16_t len;
      if (k < 10) {
        len = static_cast<uint16_t>(k);
      } else if (k < 12) {
        len = static_cast<uint16_t>(UdpHeaderTemplate::kMaxPayload - (k - 10));
      } else {
        len = static_cast<uint16_t>(rng() % (UdpHeaderTemplate::kMaxPayload + 1));
      }
      const size_t n = t.Write(out, len);
      const Bytes want = HandHeader(p, len);
      ASSERT_EQ(n, want.size());
      ASSERT_EQ(Bytes(out, out + n), want) << "round " << round << " len " << len;
    }
  }
}

TEST(UdpHeaderTemplate, OutputParsesWithPayload) {
  auto p = HubToClient();
  const UdpHeaderTemplate t(p);
  for (uint16_t len : {0, 1, 53, 55, 73, 1472}) {
    std::vector<uint8_t> frame(t.header_bytes() + len);
    for (size_t i = 0; i < len; ++i) frame[t.header_bytes() + i] = static_cast<uint8_t>(i);
    t.Write(frame.data(), len);
    FrameView v;
    ASSERT_EQ(ParseFrame(frame, &v), NetReject::kOk) << len;
    EXPECT_EQ(v.payload.size(), len);
    EXPECT_EQ(v.src_ip, kHubIp);
    EXPECT_EQ(v.dst_port, 62032);
  }
}

TEST(UdpHeaderTemplate, SameBytesAsTheGoldenIngressFrameWouldNeed) {
  // Without VLAN the header is 42 bytes and the payload starts right after it.
  const UdpHeaderTemplate t(HubToClient());
  EXPECT_EQ(t.header_bytes(), 42u);
  EXPECT_EQ(t.l2_bytes(), 14u);
  EXPECT_EQ(UdpHeaderTemplate().header_bytes(), 42u);
}

}  // namespace
}  // namespace dmrswitch::net
