// Enough Ethernet/ARP/IPv4/UDP/ICMP for a DPDK lcore to live on a network alone (DESIGN.md §4
// step 1, issue #4 item 2). Pure functions over byte spans: no DPDK, no sockets, no clocks, no
// allocation. The shard loop calls them on mbuf data; checksum offload results come in as flags.
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
inline constexpr Mac kBroadcastMac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;
inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoUdp = 17;

inline constexpr size_t kEthHeaderBytes = 14;
inline constexpr size_t kVlanTagBytes = 4;
inline constexpr size_t kIpv4MinHeaderBytes = 20;
inline constexpr size_t kUdpHeaderBytes = 8;
inline constexpr size_t kIcmpHeaderBytes = 8;
inline constexpr size_t kArpBodyBytes = 28;  // IPv4 over Ethernet (RFC 826)
inline constexpr size_t kUdpHeadersBytes = kEthHeaderBytes + kIpv4MinHeaderBytes + kUdpHeaderBytes;
inline constexpr size_t kUdpHeadersVlanBytes = kUdpHeadersBytes + kVlanTagBytes;
inline constexpr size_t kArpFrameBytes = kEthHeaderBytes + kArpBodyBytes;  // before NIC padding

// Why ParseFrame (or an address check) refused a frame. Counted per lcore like proto::Reject.
enum class NetReject : uint8_t {
  kOk = 0,
  kTooShort,      // shorter than the Ethernet header (and VLAN tag)
  kNotIpv4OrArp,  // another EtherType: IPv6, LLDP, a second (QinQ) tag...
  kBadSource,     // source MAC is multicast, or source IP multicast/broadcast: never a neighbour
  kBadArp,        // ARP that is not IPv4-over-Ethernet request/reply, or truncated
  kBadIpHeader,   // version ≠ 4, IHL < 5, header or total length beyond the frame
  kIpChecksum,    // IPv4 header checksum wrong
  kFragment,      // MF set or fragment offset ≠ 0: the hub never reassembles
  kNotUdpOrIcmp,  // another IP protocol (TCP, IGMP, ...)
  kBadUdpLength,  // UDP length < 8 or ≠ the IP payload length
  kUdpChecksum,   // non-zero UDP checksum wrong
  kBadIcmp,       // ICMP message shorter than its 8-byte header
  kIcmpChecksum,  // ICMP checksum wrong
  kNotForUs,      // destination MAC/IP not ours (AddressedToUs)
  kCount,
};

inline constexpr std::array<std::string_view, static_cast<size_t>(NetReject::kCount)>
    kNetRejectNames = {
        "ok",           "too_short",   "not_ipv4_or_arp", "bad_source",      "bad_arp",
        "bad_ip_hdr",   "ip_checksum", "fragment",        "not_udp_or_icmp", "bad_udp_len",
        "udp_checksum", "bad_icmp",    "icmp_checksum",   "not_for_us",
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

enum class L3Kind : uint8_t { kArp, kIpv4 };

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
  uint8_t ip_proto = 0;  // kIpProtoUdp or kIpProtoIcmp when l3 is kIpv4
  uint16_t l3_offset = 0;
  uint16_t l4_offset = 0;  // UDP/ICMP header (IPv4 options skipped)
  uint16_t l3_length = 0;  // ARP: 28; IPv4: total length (without Ethernet padding)
  uint8_t ip_header_bytes = 0;
  uint8_t ttl = 0;
  uint8_t tos = 0;
  uint16_t ip_id = 0;
  uint32_t src_ip = 0;  // IPv4 source, or ARP sender protocol address
  uint32_t dst_ip = 0;  // IPv4 destination, or ARP target protocol address
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint16_t arp_op = 0;  // 1 request, 2 reply
  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;
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
  size_t l2_bytes() const { return l3_offset; }
  bool is_udp() const { return l3 == L3Kind::kIpv4 && ip_proto == kIpProtoUdp; }
  bool is_icmp() const { return l3 == L3Kind::kIpv4 && ip_proto == kIpProtoIcmp; }
  bool is_arp() const { return l3 == L3Kind::kArp; }
};

// Parses Ethernet II, at most one 802.1Q tag, then ARP or IPv4 (options skipped, no fragments,
// header checksum checked unless `opts` says the NIC did) carrying UDP (length must equal the IP
// payload; a non-zero checksum is verified unless offloaded) or ICMP (checksum verified). Bytes
// after the IPv4 total length are Ethernet padding and ignored. On kOk `*out` is complete; on a
// reject it is partly filled and must not be used.
NetReject ParseFrame(ByteSpan frame, FrameView* out, const ParseOptions& opts = {});

// Whether a parsed frame is addressed to us: unicast to our MAC (or broadcast, for ARP only),
// and IPv4 to our address. ARP is "for us" when it targets our IP. kOk or kNotForUs.
NetReject AddressedToUs(const FrameView& v, const Mac& our_mac, uint32_t our_ip);

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

}  // namespace dmrswitch::net
