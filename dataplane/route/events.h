// What a shard tells the world: finished packets (PacketSink) and events for the control plane
// (EventSink). Both are caller-supplied so the core runs the same in tests, kernel mode and DPDK.
#pragma once

#include <array>
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

// Fixed-size, trivially copyable: it travels over DPDK rings as the body of a 64-byte message.
struct Event {
  EventType type = EventType::kStreamStarted;
  SubscriptionAction action = SubscriptionAction::kNone;
  uint8_t ts = 0;          // ingress timeslot index
  uint8_t call_type = 0;   // 0 group, 1 private
  SystemRef source;        // where the stream came from (client slot or peer index)
  uint32_t source_id = 0;  // client ID or peer network ID
  uint32_t stream_id = 0;
  uint32_t rf_src = 0;
  uint32_t dst = 0;      // TG or subscriber as received
  uint32_t tg = 0;       // conference TG; subscription/quench TG
  uint32_t packets = 0;  // ended/lost: packets accepted
  uint32_t lost = 0;     // ended/lost: sequence gaps
  uint32_t duration_ms = 0;
  TimeNs at = 0;
};
static_assert(sizeof(Event) <= 56, "an Event must fit a 64-byte ring message with its header");

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
};
constexpr std::string_view DropReasonName(DropReason r) {
  return kDropReasonNames[static_cast<size_t>(r) < kDropReasonNames.size() ? static_cast<size_t>(r)
                                                                           : 0];
}

}  // namespace dmrswitch::route
