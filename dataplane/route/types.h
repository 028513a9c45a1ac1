// Vocabulary shared by the routing core. Everything here is plain data: no DPDK, sockets or
// clocks. Time is an input (TimeNs), supplied by whoever drives the core.
#pragma once

#include <cstdint>

namespace dmrswitch::route {

// Monotonic nanoseconds (CLOCK_MONOTONIC in the hub): every timer of the core runs on it, so a
// step of the wall clock moves none of them. The wall clock enters only as an offset
// (RoutingCore::SetWallOffset) for FBP timestamps (PROTOCOL.md §2.2).
using TimeNs = uint64_t;
inline constexpr TimeNs kMs = 1'000'000;
inline constexpr TimeNs kSec = 1'000 * kMs;

// An IPv4 or IPv6 address and UDP port. IPv4: `ip` in host byte order, `ip6` all zero (so that
// `Endpoint{ip, port}` stays an IPv4 endpoint). IPv6: `v6` set, `ip6` the address in network byte
// order, `ip` 0. An IPv4 client of a dual-stack socket arrives as ::ffff:a.b.c.d and is stored
// as IPv4 (V6() converts it), so one client has one Endpoint whichever socket it reaches.
struct Endpoint {
  uint32_t ip = 0;
  uint16_t port = 0;
  bool v6 = false;
  uint8_t ip6[16] = {};
  // By hand: an IPv4 endpoint (the per-packet case) compares 7 bytes, not 23.
  bool operator==(const Endpoint& o) const {
    if (ip != o.ip || port != o.port || v6 != o.v6) return false;
    if (!v6) return true;
    for (int i = 0; i < 16; ++i) {
      if (ip6[i] != o.ip6[i]) return false;
    }
    return true;
  }

  static Endpoint V6(const uint8_t (&addr)[16], uint16_t port) {
    Endpoint e;
    e.port = port;
    if (IsV4Mapped(addr)) {
      e.ip = (uint32_t{addr[12]} << 24) | (uint32_t{addr[13]} << 16) | (uint32_t{addr[14]} << 8) |
             addr[15];
      return e;
    }
    e.v6 = true;
    for (int i = 0; i < 16; ++i) e.ip6[i] = addr[i];
    return e;
  }
  static bool IsV4Mapped(const uint8_t (&a)[16]) {
    for (int i = 0; i < 10; ++i) {
      if (a[i] != 0) return false;
    }
    return a[10] == 0xFF && a[11] == 0xFF;
  }
  // The unspecified address (0.0.0.0 or ::): "any" for a listener.
  bool any_address() const {
    if (!v6) return ip == 0;
    for (uint8_t b : ip6) {
      if (b != 0) return false;
    }
    return true;
  }
};

// A place packets come from or go to: an HBP client (indexed by its stable client slot) or an
// OpenBridge/FBP peer (indexed by its position in the configuration).
enum class SystemKind : uint8_t { kNone = 0, kClient, kPeer };
struct SystemRef {
  SystemKind kind = SystemKind::kNone;
  uint32_t index = 0;
  bool operator==(const SystemRef&) const = default;
  static SystemRef Client(uint32_t i) { return {SystemKind::kClient, i}; }
  static SystemRef Peer(uint32_t i) { return {SystemKind::kPeer, i}; }
  bool is_client() const { return kind == SystemKind::kClient; }
  bool is_peer() const { return kind == SystemKind::kPeer; }
};

// A set of peer indices (per-stream peer state: excluded, quenched, quench sent). Fixed size, so
// stream state needs no allocation; the snapshot builder enforces the bound.
struct PeerSet {
  static constexpr uint32_t kMaxPeers = 256;
  uint64_t words[kMaxPeers / 64] = {};
  bool test(uint32_t i) const { return (words[i >> 6] >> (i & 63)) & 1; }
  void set(uint32_t i) { words[i >> 6] |= uint64_t{1} << (i & 63); }
  void clear() { *this = PeerSet{}; }
};

// Packet-plane listeners (the sockets or UDP ports the hub receives on): 0 is the HBP listener,
// 1.. the OpenBridge listen addresses in the order the packet plane opened them. A datagram
// leaves by the listener of its destination: clients by kHbpListener, a peer by its own.
inline constexpr uint32_t kHbpListener = 0;
inline constexpr uint32_t kNoListener = 0xFFFFFFFF;  // a peer that no listener serves

// Timeslot index: 0 = TS1, 1 = TS2.
inline constexpr unsigned kTs1 = 0;
inline constexpr unsigned kTs2 = 1;

// Special IDs (PROTOCOL.md §3.5, §5).
inline constexpr uint32_t kDialTg = 9;
inline constexpr uint32_t kUnlinkId = 4000;
inline constexpr uint32_t kStatusId = 5000;
inline constexpr uint32_t kParrotId = 9990;  // echo: private call, or FreeDMR's TG 9990
inline constexpr uint32_t kAllCall = 16777215;
inline constexpr uint32_t kMaxSubscriberId = 16776415;
// Radio (subscriber) IDs start here; below are talkgroups and command codes (Part A §9).
inline constexpr uint32_t kMinSubscriberId = 1000000;

}  // namespace dmrswitch::route
