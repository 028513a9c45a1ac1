// What a shard tells the world: finished packets (PacketSink) and events for the control plane
// (EventSink). Both are caller-supplied so the core runs the same in tests, kernel mode and DPDK.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dataplane/route/types.h"

namespace dmrswitch::route {

enum class EventType : uint8_t {
  kStreamStarted = 1,
  kStreamEnded,           // terminator seen
  kStreamLost,            // silent for stream_lost_after
  kSubscriptionRequest,   // a client asked for a subscription change (UA, dial, unlink, status)
  kSourceQuenchSent,      // we told a peer to stop sending a stream (BCSQ)
  kSourceQuenchReceived,  // a peer told us to stop sending a stream
};

enum class SubscriptionAction : uint8_t {
  kNone = 0,
  kActivateUa,  // group call by a non-member on a user-activatable TG: activate (client, ts, tg)
  kDial,        // private call to N: link the client's TS2 to TG N
  kUnlink,      // private call to 4000
  kStatus,      // private call to 5000
  kRejectDial,  // private voice call to an ID that is not a valid dial target
};

// Why a stream ended (kStreamEnded / kStreamLost).
enum class StreamEnd : uint8_t {
  kNone = 0,
  kTerminator,  // voice terminator received
  kTimeout,     // silent for stream_lost_after (no terminator)
  kMaxAge,      // longer than max_stream_age: its later frames were dropped, then it fell silent
};

// A SystemRef in four bytes, so that an Event fits a ring message: client slots stay below 2^24
// (hbp.max_clients is at most 2^20) and peers below 256. Reads like a SystemRef.
struct PackedSystemRef {
  uint32_t index : 24 = 0;
  SystemKind kind : 8 = SystemKind::kNone;

  PackedSystemRef() = default;
  PackedSystemRef(SystemRef r) : index(r.index), kind(r.kind) {}  // NOLINT: implicit by design
  operator SystemRef() const { return SystemRef{kind, index}; }   // NOLINT
  bool is_client() const { return kind == SystemKind::kClient; }
  bool is_peer() const { return kind == SystemKind::kPeer; }
  friend bool operator==(PackedSystemRef a, SystemRef b) { return SystemRef(a) == b; }
};
static_assert(sizeof(PackedSystemRef) == 4);

// The cadence a DMR transmission keeps: one frame (burst) per 60 ms per timeslot. A frame is
// late (early) when it arrives more than kCadenceTolerance after (before) the cadence says,
// counted from the previous frame of its stream and the sequence numbers between them (a frame
// after a gap of n lost frames is due (n + 1) × 60 ms after its predecessor). Jitter is the mean
// absolute deviation of those inter-frame gaps from what the cadence says (docs/reporting.md).
inline constexpr TimeNs kFramePeriod = 60 * kMs;
inline constexpr TimeNs kCadenceTolerance = 30 * kMs;
inline constexpr TimeNs kJitterUnit = 10'000;  // Event::jitter_10us: 10 µs

// Fixed-size, trivially copyable: it travels over DPDK rings as the body of a 64-byte message,
// so its fields are packed by hand (offsets in the comments). Counters that rarely reach 16 bits
// saturate there (a call at 16.7 frames/s reaches 65,535 frames after 65 minutes; the default
// max_stream_age is 3 minutes).
struct Event {
  EventType type = EventType::kStreamStarted;             // 0
  SubscriptionAction action = SubscriptionAction::kNone;  // 1  kSubscriptionRequest
  uint8_t ts = 0;                                         // 2  ingress timeslot index
  uint8_t call_type = 0;                                  // 3  0 group, 1 private
  StreamEnd end = StreamEnd::kNone;                       // 4  ended/lost: why
  uint8_t data = 0;                                       // 5  1: a data call (data header,
                                                          //    rate 1/2, 3/4 data, CSBK)
  uint16_t jitter_10us = 0;                               // 6  ended/lost: jitter, 10 µs units
  PackedSystemRef source;                                 // 8  client slot or peer index
  uint32_t source_id = 0;                                 // 12 client ID or peer network ID
  uint32_t stream_id = 0;                                 // 16
  uint32_t rf_src = 0;                                    // 20
  uint32_t dst = 0;                                       // 24 TG or subscriber as received
  uint32_t tg = 0;                                        // 28 conference TG; request/quench TG
  uint32_t packets = 0;                                   // 32 ended/lost: frames accepted
  uint32_t duration_ms = 0;                               // 36 ended/lost: first to last frame
  uint16_t destinations = 0;                              // 40 clients and peers routed to
  uint16_t lost = 0;                                      // 42 ended/lost: sequence gaps
  uint16_t late = 0;                                      // 44 ended/lost: late frames
  uint16_t early = 0;                                     // 46 ended/lost: early frames
  TimeNs at = 0;                                          // 48 when the shard emitted it
};
static_assert(sizeof(Event) <= 56, "an Event must fit a 64-byte ring message with its header");
static_assert(offsetof(Event, at) == 48 && sizeof(Event) == 56, "the layout the comments show");

// Saturating narrowing for Event's 16-bit fields.
constexpr uint16_t Saturate16(uint64_t v) { return v > 0xFFFF ? 0xFFFF : static_cast<uint16_t>(v); }

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void Emit(const Event& e) = 0;
};

// Datagrams out: the one interface between whatever builds datagrams (the routing core, the
// shard runtime's keepalive replies and control-plane hand-overs) and an I/O mode. Begin() hands
// out a buffer of at least kMaxPacketBytes for one datagram leaving by listener `listener`
// (kHbpListener, or a peer's listener) to `to` — nullptr when none is free or the listener is
// not one of the packet plane's: the datagram is dropped and counted; Commit() sends the `len`
// bytes written. One Begin/Commit pair at a time.
class PacketSink {
 public:
  static constexpr uint16_t kMaxPacketBytes = 96;
  virtual ~PacketSink() = default;
  virtual uint8_t* Begin(uint32_t listener, const Endpoint& to) = 0;
  virtual void Commit(uint16_t len) = 0;
};

// Why the shard dropped a packet that decoded fine. One name each, counted per shard.
enum class DropReason : uint8_t {
  kNone = 0,
  kNoSnapshot,         // no routing snapshot published yet
  kUnknownClient,      // DMRD from an ID that is not logged in
  kAddressMismatch,    // ... or from another address than it logged in from
  kSlotNotConfigured,  // client sent on a timeslot it did not declare
  kSubAcl,             // rf_src denied
  kTgAcl,              // destination TG denied
  kSlotCollision,      // a second transmission on a client timeslot already receiving one
  kRateLimit,          // > 18 packets and > 25 packets/s
  kMaxStreamAge,       // stream older than max_stream_age
  kDuplicate,          // same sequence number again
  kOutOfOrder,         // sequence number went backwards
  kLoopDuplicate,      // the stream is already being received from another source
  kAfterEnd,           // frames of a stream after its terminator
  kTableFull,          // no room for a new stream
  kPeerVersion,        // DMRD from an FBP peer or DMRE from a classic OBP peer
  kPeerAddress,        // OpenBridge packet from an address other than the peer's target
  kPeerNetworkId,      // bytes 11..14 are not the peer's network ID
  kPeerScope,          // slot/TG not carried on OpenBridge (PROTOCOL.md §2.1, §2.2)
  kFbpStale,           // DMRE timestamp older than fbp_max_age
  kFbpServerId,        // implausible originating server ID
  kFbpHops,            // hop limit exceeded
  kNotRoutable,        // private voice that is no control code, data with no destination
  kDraining,           // a new stream while the hub drains (DESIGN.md §7)
  kFbpFuture,          // DMRE timestamp more than fbp_max_age ahead of our wall clock
  kParrotBusy,         // a call to the parrot while every recording is in use
  kCount,
};

inline constexpr std::array<std::string_view, static_cast<size_t>(DropReason::kCount)>
    kDropReasonNames = {
        "none",
        "no_snapshot",
        "unknown_client",
        "address_mismatch",
        "slot_not_configured",
        "sub_acl",
        "tg_acl",
        "slot_collision",
        "rate_limit",
        "max_stream_age",
        "duplicate",
        "out_of_order",
        "loop_duplicate",
        "after_end",
        "table_full",
        "peer_version",
        "peer_address",
        "peer_network_id",
        "peer_scope",
        "fbp_stale",
        "fbp_server_id",
        "fbp_hops",
        "not_routable",
        "draining",
        "fbp_future",
        "parrot_busy",
};
constexpr std::string_view DropReasonName(DropReason r) {
  return kDropReasonNames[static_cast<size_t>(r) < kDropReasonNames.size() ? static_cast<size_t>(r)
                                                                           : 0];
}

}  // namespace dmrswitch::route
