// Enough Ethernet/ARP/IPv4/IPv6/UDP/ICMP/ICMPv6 (echo, Neighbour Discovery) for a DPDK lcore to
// live on a network alone (DESIGN.md §4 step 1, issue #4 item 2). Pure functions over byte spans:
// no DPDK, no sockets, no clocks, no allocation. The shard loop calls them on mbuf data; checksum
// offload results come in as flags.
//
// Parsers never read past the span and return one NetReject per failure. Builders write into a
// caller-supplied buffer and return the bytes written, 0 when they do not apply or do not fit.
// Addresses and ports are host-order integers (192.0.2.1 is 0xc0000201); MACs are byte arrays.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "dataplane/net/checksum.h"
#include "dataplane/proto/bytes.h"

namespace dmrswitch::net {

using Mac = std::array<uint8_t, 6>;
using Ip6 = std::array<uint8_t, 16>;  // an IPv6 address, network byte order
inline constexpr Mac kBroadcastMac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoUdp = 17;
inline constexpr uint8_t kIpProtoIcmp6 = 58;

// ICMPv6 message types the hub answers or learns from (RFC 4443, RFC 4861).
inline constexpr uint8_t kIcmp6EchoRequest = 128;
inline constexpr uint8_t kIcmp6EchoReply = 129;
inline constexpr uint8_t kIcmp6NeighborSolicit = 135;
inline constexpr uint8_t kIcmp6NeighborAdvert = 136;

inline constexpr size_t kEthHeaderBytes = 14;
inline constexpr size_t kVlanTagBytes = 4;
inline constexpr size_t kIpv4MinHeaderBytes = 20;
inline constexpr size_t kUdpHeaderBytes = 8;
inline constexpr size_t kIcmpHeaderBytes = 8;
inline constexpr size_t kArpBodyBytes = 28;  // IPv4 over Ethernet (RFC 826)
inline constexpr size_t kUdpHeadersBytes = kEthHeaderBytes + kIpv4MinHeaderBytes + kUdpHeaderBytes;
inline constexpr size_t kUdpHeadersVlanBytes = kUdpHeadersBytes + kVlanTagBytes;
inline constexpr size_t kArpFrameBytes = kEthHeaderBytes + kArpBodyBytes;  // before NIC padding
inline constexpr size_t kIpv6HeaderBytes = 40;
inline constexpr size_t kUdp6HeadersBytes = kEthHeaderBytes + kIpv6HeaderBytes + kUdpHeaderBytes;
inline constexpr size_t kUdp6HeadersVlanBytes = kUdp6HeadersBytes + kVlanTagBytes;
// NS/NA: 8-byte ICMPv6 header, 16-byte target, one 8-byte link-layer address option.
inline constexpr size_t kNdMessageBytes = 32;
// Extension headers (Hop-by-Hop, Destination Options, Routing with Segments Left 0) the parser
// walks before it gives up on a packet. The XDP shield walks the same number (shield_parse.h).
inline constexpr int kIpv6MaxExtHeaders = 4;

// Why ParseFrame (or an address check) refused a frame. Counted per lcore like proto::Reject.
enum class NetReject : uint8_t {
  kOk = 0,
  kTooShort,      // shorter than the Ethernet header (and VLAN tag)
  kNotIpv4OrArp,  // another EtherType: LLDP, a second (QinQ) tag... (IPv6 is parsed)
  kBadSource,     // source MAC is multicast, or source IP multicast/broadcast (IPv6: multicast,
                  // loopback, v4-mapped, unspecified except DAD, link-local UDP): never a neighbour
  kBadArp,        // ARP that is not IPv4-over-Ethernet request/reply, or truncated
  kBadIpHeader,   // version ≠ 4/6, IHL < 5, header or total length beyond the frame
  kIpChecksum,    // IPv4 header checksum wrong
  kFragment,      // MF set or fragment offset ≠ 0: the hub never reassembles
  kNotUdpOrIcmp,  // another IP protocol (TCP, IGMP, ...)
  kBadUdpLength,  // UDP length < 8 or ≠ the IP payload length
  kUdpChecksum,   // non-zero UDP checksum wrong
  kBadIcmp,       // ICMP message shorter than its 8-byte header
  kIcmpChecksum,  // ICMP checksum wrong
  kNotForUs,      // destination MAC/IP not ours (AddressedToUs)
  kIpv6ExtChain,  // IPv6: more than kIpv6MaxExtHeaders extension headers, a truncated one, a
                  // Hop-by-Hop header not first, or a Routing header with segments left
  kBadNd,         // Neighbour Discovery with hop limit ≠ 255, code ≠ 0, too short, a multicast
                  // target, or a malformed option
  kUdpChecksumZero,  // UDP over IPv6 with checksum 0 (forbidden, RFC 8200 §8.1)
  kCount,
};

inline constexpr std::array<std::string_view, static_cast<size_t>(NetReject::kCount)>
    kNetRejectNames = {
        "ok",           "too_short",         "not_ipv4_or_arp", "bad_source",      "bad_arp",
        "bad_ip_hdr",   "ip_checksum",       "fragment",        "not_udp_or_icmp", "bad_udp_len",
        "udp_checksum", "bad_icmp",          "icmp_checksum",   "not_for_us",      "ipv6_ext_chain",
        "bad_nd",       "udp_checksum_zero",
};

constexpr std::string_view NetRejectName(NetReject r) {
  const auto i = static_cast<size_t>(r);
  return kNetRejectNames[i < kNetRejectNames.size() ? i : 0];
}

// Per-lcore counters: written by one thread only, summed by readers.
struct NetRejectCounters {
  std::array<uint64_t, static_cast<size_t>(NetReject::kCount)> by_reason{};

  // Counts `r` unless it is kOk; returns r so that callers can write `if (Count(Parse(...)))`.
  NetReject Count(NetReject r) {
    if (r != NetReject::kOk) ++by_reason[static_cast<size_t>(r)];
    return r;
  }
  uint64_t operator[](NetReject r) const { return by_reason[static_cast<size_t>(r)]; }
  uint64_t total_rejects() const {
    uint64_t n = 0;
    for (size_t i = 1; i < by_reason.size(); ++i) n += by_reason[i];
    return n;
  }
};

// An 802.1Q tag control word: PCP (3 bits), DEI (1), VLAN ID (12).
struct Vlan {
  bool present = false;
  uint16_t tci = 0;

  static constexpr Vlan None() { return {}; }
  static constexpr Vlan Tag(uint16_t id, uint8_t pcp = 0) {
    return {true, static_cast<uint16_t>((uint16_t{pcp} << 13) | (id & 0x0fff))};
  }
  constexpr uint16_t id() const { return tci & 0x0fff; }
  constexpr uint8_t pcp() const { return static_cast<uint8_t>(tci >> 13); }
  constexpr bool dei() const { return (tci & 0x1000) != 0; }
  constexpr size_t bytes() const { return present ? kVlanTagBytes : 0; }
  friend constexpr bool operator==(const Vlan&, const Vlan&) = default;
};

enum class L3Kind : uint8_t { kArp, kIpv4, kIpv6 };

// Checksums the NIC has already validated (from the mbuf's RTE_MBUF_F_RX_*_CKSUM_GOOD flags).
// ICMP is always checked in software: NICs do not, and it is rare.
struct ParseOptions {
  bool ip_checksum_good = false;
  bool udp_checksum_good = false;
};

// What ParseFrame found. Offsets are from the start of `frame`; spans point into it. Fields of
// the layers the frame does not have are zero.
struct FrameView {
  ByteSpan frame;  // the whole frame as received, trailing Ethernet padding included
  Vlan vlan;       // the tag, if one was present
  L3Kind l3 = L3Kind::kIpv4;
  uint8_t ip_proto = 0;  // kIpProtoUdp, kIpProtoIcmp (IPv4) or kIpProtoIcmp6 (IPv6)
  uint16_t l3_offset = 0;
  uint16_t l4_offset = 0;       // UDP/ICMP header (IPv4 options, IPv6 extension headers skipped)
  uint16_t l3_length = 0;       // ARP: 28; IPv4: total length; IPv6: 40 + payload length
  uint8_t ip_header_bytes = 0;  // IPv4 header with options; IPv6: 40 + extension headers
  uint8_t ttl = 0;              // IPv6: hop limit
  uint8_t tos = 0;
  uint16_t ip_id = 0;
  uint32_t src_ip = 0;  // IPv4 source, or ARP sender protocol address
  uint32_t dst_ip = 0;  // IPv4 destination, or ARP target protocol address
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint16_t arp_op = 0;  // 1 request, 2 reply
  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;
  // Neighbour Discovery (NS/NA): offset of the link-layer address in the source (NS) or target
  // (NA) link-layer address option; 0 when the message has none.
  uint16_t nd_lla_offset = 0;
  ByteSpan payload;  // UDP payload; ICMP body after the 8-byte header; empty for ARP

  const uint8_t* dst_mac() const { return frame.data(); }
  const uint8_t* src_mac() const { return frame.data() + 6; }
  Mac src_mac_array() const {
    Mac m;
    std::memcpy(m.data(), src_mac(), m.size());
    return m;
  }
  // ARP sender/target hardware addresses (valid when l3 is kArp).
  const uint8_t* arp_sender_mac() const { return frame.data() + l3_offset + 8; }
  const uint8_t* arp_target_mac() const { return frame.data() + l3_offset + 18; }
  // IPv6 source and destination (valid when l3 is kIpv6), and an NS/NA's target address.
  const uint8_t* src_ip6() const { return frame.data() + l3_offset + 8; }
  const uint8_t* dst_ip6() const { return frame.data() + l3_offset + 24; }
  const uint8_t* nd_target() const { return frame.data() + l4_offset + 8; }
  const uint8_t* nd_lla() const { return frame.data() + nd_lla_offset; }
  size_t l2_bytes() const { return l3_offset; }
  bool is_ipv6() const { return l3 == L3Kind::kIpv6; }
  bool is_udp() const { return l3 != L3Kind::kArp && ip_proto == kIpProtoUdp; }
  bool is_icmp() const { return l3 == L3Kind::kIpv4 && ip_proto == kIpProtoIcmp; }
  bool is_icmp6() const { return l3 == L3Kind::kIpv6 && ip_proto == kIpProtoIcmp6; }
  bool is_arp() const { return l3 == L3Kind::kArp; }
};

// The solicited-node multicast group of `addr` (ff02::1:ffXX:XXXX, RFC 4291 §2.7.1) and the
// Ethernet group it maps to (33:33 + the low 32 bits, RFC 2464 §7).
Ip6 SolicitedNodeAddress(const Ip6& addr);
Mac Ipv6MulticastMac(const Ip6& group);
inline constexpr Ip6 kAllNodesAddress = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

// Parses Ethernet II, at most one 802.1Q tag, then ARP or IPv4 (options skipped, no fragments,
// header checksum checked unless `opts` says the NIC did) carrying UDP (length must equal the IP
// payload; a non-zero checksum is verified unless offloaded) or ICMP (checksum verified). Bytes
// after the IPv4 total length are Ethernet padding and ignored. IPv6 the same way: at most
// kIpv6MaxExtHeaders extension headers skipped, no fragments, UDP checksum required and checked
// unless offloaded, ICMPv6 checksum always checked, NS/NA checked as RFC 4861 §7.1 asks. On kOk
// `*out` is complete; on a reject it is partly filled and must not be used.
NetReject ParseFrame(ByteSpan frame, FrameView* out, const ParseOptions& opts = {});

// Whether a parsed frame is addressed to us: unicast to our MAC (or broadcast, for ARP only),
// and IPv4 to our address. ARP is "for us" when it targets our IP. IPv6 (only when `our_ip6` is
// given): unicast to our MAC and address; an NS also to our solicited-node group (MAC and
// address) and only when it asks for our address; an NA also to all-nodes. kOk or kNotForUs.
NetReject AddressedToUs(const FrameView& v, const Mac& our_mac, uint32_t our_ip,
                        const Ip6* our_ip6 = nullptr);

// The ARP reply to `request` (an ARP request whose target IP is `our_ip`; anything else: 0),
// unicast to the requester with the request's VLAN tag. Writes 42 bytes (46 tagged) and leaves
// the pad to 60 bytes to the NIC, as every Ethernet MAC does on transmit.
size_t BuildArpReply(const FrameView& request, const Mac& our_mac, uint32_t our_ip,
                     MutableByteSpan out);

// A broadcast ARP request for `target_ip` (resolving a peer's next hop), 42 or 46 bytes.
size_t BuildArpRequest(const Mac& our_mac, uint32_t our_ip, uint32_t target_ip, Vlan vlan,
                       MutableByteSpan out);

// The echo reply to `request` (ICMP echo request, code 0, addressed to `our_ip`; else 0): MACs
// and IPs swapped, same VLAN tag, a fresh 20-byte IPv4 header (request options are not echoed;
// TTL 64, TOS and ID copied), ICMP type 0 with the checksum updated incrementally (RFC 1624) and
// identifier, sequence and data echoed. Ethernet padding of the request is not copied.
size_t BuildIcmpEchoReply(const FrameView& request, const Mac& our_mac, uint32_t our_ip,
                          MutableByteSpan out);

// The Neighbour Advertisement answering `ns` (a Neighbor Solicitation for `our_ip6`; else 0):
// solicited and override flags, our MAC in a target link-layer address option, hop limit 255,
// the request's VLAN tag. A duplicate-address probe (source ::) is answered to all-nodes without
// the solicited flag (RFC 4861 §7.2.4). Unicast to the source link-layer address option's MAC,
// or the frame's source MAC. May be built over the request itself. 86 bytes (90 tagged).
size_t BuildNeighborAdvert(const FrameView& ns, const Mac& our_mac, const Ip6& our_ip6,
                           MutableByteSpan out);

// A Neighbor Solicitation for `target` (a next hop with no known MAC) to its solicited-node
// group, from our address with our MAC as source link-layer address option. 86 or 90 bytes.
size_t BuildNeighborSolicit(const Mac& our_mac, const Ip6& our_ip6, const Ip6& target, Vlan vlan,
                            MutableByteSpan out);

// The ICMPv6 echo reply to `request` (echo request, code 0, unicast to `our_ip6`; else 0):
// addresses swapped, a fresh 40-byte header (extension headers of the request are not echoed;
// hop limit 64, traffic class copied), type 129 with the checksum updated incrementally (the
// pseudo-header is symmetric in the addresses), identifier, sequence and data echoed.
size_t BuildIcmp6EchoReply(const FrameView& request, const Mac& our_mac, const Ip6& our_ip6,
                           MutableByteSpan out);

// How a UdpHeaderTemplate fills the UDP checksum field.
enum class UdpChecksumMode : uint8_t {
  // 0: "no checksum", legal for UDP over IPv4 (RFC 768) and what every DMR server sends.
  kNone,
  // The pseudo-header sum (src, dst, protocol 17, UDP length), folded and NOT complemented:
  // what a NIC asked for RTE_MBUF_F_TX_UDP_CKSUM (with l2_len/l3_len set) expects to find in the
  // field before it adds the UDP header and payload — the value rte_ipv4_phdr_cksum() gives.
  kOffloadPseudoHeader,
};

// Per-destination Ethernet (+VLAN) / IPv4 / UDP headers, built once when the destination is
// resolved. Write() stamps the lengths and the IPv4 checksum for one payload: the checksum comes
// from a sum precomputed over every fixed field plus the total length, one addition and fold per
// packet (the RFC 1624 idea applied to the only field that varies).
class UdpHeaderTemplate {
 public:
  struct Params {
    Mac dst_mac{};  // next hop
    Mac src_mac{};  // ours
    Vlan vlan;
    uint32_t src_ip = 0;
    uint32_t dst_ip = 0;
    uint16_t src_port = 0;
    uint16_t dst_port = 0;
    uint8_t ttl = 64;
    uint8_t tos = 0;
    UdpChecksumMode udp_checksum = UdpChecksumMode::kNone;
  };

  UdpHeaderTemplate() : UdpHeaderTemplate(Params{}) {}
  explicit UdpHeaderTemplate(const Params& p);

  // Writes header_bytes() bytes at `out` (which is followed by `payload_len` payload bytes), for
  // payloads up to kMaxPayload. Returns header_bytes().
  size_t Write(uint8_t* out, uint16_t payload_len) const {
    if (vlan_) {
      std::memcpy(out, bytes_.data(), kUdpHeadersVlanBytes);
      Stamp(out + kEthHeaderBytes + kVlanTagBytes, payload_len);
      return kUdpHeadersVlanBytes;
    }
    std::memcpy(out, bytes_.data(), kUdpHeadersBytes);
    Stamp(out + kEthHeaderBytes, payload_len);
    return kUdpHeadersBytes;
  }

  size_t header_bytes() const { return vlan_ ? kUdpHeadersVlanBytes : kUdpHeadersBytes; }
  size_t l2_bytes() const { return vlan_ ? kEthHeaderBytes + kVlanTagBytes : kEthHeaderBytes; }
  const Params& params() const { return params_; }

  static constexpr uint16_t kMaxPayload = 0xffff - kIpv4MinHeaderBytes - kUdpHeaderBytes;

 private:
  void Stamp(uint8_t* ip, uint16_t payload_len) const {
    const auto udp_len = static_cast<uint16_t>(payload_len + kUdpHeaderBytes);
    const auto total = static_cast<uint16_t>(udp_len + kIpv4MinHeaderBytes);
    StoreBe16(ip + 2, total);
    // ip_sum_ ≤ 0xffff and total ≤ 0xffff: one end-around carry folds the sum.
    uint32_t s = uint32_t{ip_sum_} + total;
    s = (s & 0xffff) + (s >> 16);
    StoreBe16(ip + 10, static_cast<uint16_t>(~s));
    uint8_t* udp = ip + kIpv4MinHeaderBytes;
    StoreBe16(udp + 4, udp_len);
    if (offload_) {
      uint32_t u = uint32_t{pseudo_sum_} + udp_len;
      u = (u & 0xffff) + (u >> 16);
      StoreBe16(udp + 6, static_cast<uint16_t>(u));
    }
  }

  std::array<uint8_t, kUdpHeadersVlanBytes> bytes_{};
  uint16_t ip_sum_ = 0;      // partial sum of the IPv4 header with total length and checksum 0
  uint16_t pseudo_sum_ = 0;  // partial pseudo-header sum without the UDP length
  bool vlan_ = false;
  bool offload_ = false;
  Params params_;
};

// The IPv6 twin of UdpHeaderTemplate. IPv6 makes the UDP checksum mandatory, so without offload
// Write() computes it over the payload (which must already be in place behind the headers): the
// pseudo-header and both ports are summed once here, the length (which appears twice) and the
// payload per packet. With offload it writes the pseudo-header sum, as rte_ipv6_phdr_cksum()
// gives it, for RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM.
class Udp6HeaderTemplate {
 public:
  struct Params {
    Mac dst_mac{};
    Mac src_mac{};
    Vlan vlan;
    Ip6 src_ip{};
    Ip6 dst_ip{};
    uint16_t src_port = 0;
    uint16_t dst_port = 0;
    uint8_t hop_limit = 64;
    uint8_t traffic_class = 0;
    bool checksum_offload = false;
  };

  Udp6HeaderTemplate() : Udp6HeaderTemplate(Params{}) {}
  explicit Udp6HeaderTemplate(const Params& p);

  size_t Write(uint8_t* out, uint16_t payload_len) const {
    const size_t n = header_bytes();
    std::memcpy(out, bytes_.data(), n);
    uint8_t* ip = out + n - kIpv6HeaderBytes - kUdpHeaderBytes;
    uint8_t* udp = ip + kIpv6HeaderBytes;
    const auto udp_len = static_cast<uint16_t>(payload_len + kUdpHeaderBytes);
    StoreBe16(ip + 4, udp_len);
    StoreBe16(udp + 4, udp_len);
    if (offload_) {
      StoreBe16(udp + 6, ChecksumAdd(pseudo_sum_, udp_len));
      return n;
    }
    // The length counts twice: in the pseudo-header and in the UDP header.
    uint32_t s = uint32_t{fixed_sum_} + udp_len + udp_len + ChecksumPartial(udp + 8, payload_len);
    const auto sum = static_cast<uint16_t>(~ChecksumFold(s));
    StoreBe16(udp + 6, sum == 0 ? 0xffff : sum);  // 0 means "none", which IPv6 forbids
    return n;
  }

  size_t header_bytes() const { return vlan_ ? kUdp6HeadersVlanBytes : kUdp6HeadersBytes; }
  size_t l2_bytes() const { return vlan_ ? kEthHeaderBytes + kVlanTagBytes : kEthHeaderBytes; }
  const Params& params() const { return params_; }

  static constexpr uint16_t kMaxPayload = 0xffff - kUdpHeaderBytes;

 private:
  std::array<uint8_t, kUdp6HeadersVlanBytes> bytes_{};
  uint16_t pseudo_sum_ = 0;  // addresses and next header, without the length
  uint16_t fixed_sum_ = 0;   // pseudo_sum_ plus both ports
  bool vlan_ = false;
  bool offload_ = false;
  Params params_;
};

}  // namespace dmrswitch::net
