// The reporting data model: plain values that the control plane fills in from the shards' call
// events, its login and peer state and the per-lcore counter blocks, and that every operator
// surface (Prometheus, the HBlink/FreeDMR feeds, MQTT, later the JSON API and the dashboard)
// renders. Nothing here knows about rings, snapshots or sockets, and nothing here holds a secret:
// passphrases, keys and salts have no field, so no surface can leak one.
//
// Times: `*_unix_ns` are wall-clock nanoseconds since the Unix epoch, for display only (they jump
// when the clock is set); `*_mono_ns` are CLOCK_MONOTONIC nanoseconds, for durations and ordering.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace dmrswitch::cp::report {

enum class Slot : uint8_t { kTs1 = 1, kTs2 = 2 };

// What DMR carries in a call; named as dashboards name them.
enum class CallType : uint8_t { kGroupVoice, kPrivateVoice, kGroupData, kUnitData };
inline constexpr int kCallTypeCount = 4;
// "group_voice", "private_voice", "group_data", "unit_data" (metric labels, JSON).
std::string_view CallTypeName(CallType type);

// Why a call ended. kNone while it is live.
enum class CallEndReason : uint8_t {
  kNone,        // live
  kTerminator,  // voice terminator (or the last data block) received
  kTimeout,     // no frame within the stream timeout
  kMaxAge,      // the stream exceeded the maximum call length
  kDrain,       // cut by a drain (dp restart)
  kSuperseded,  // another stream took the slot (contention, late entry)
  kLost,        // the owning shard lost it (restart, table full, event dropped)
};
// "live", "terminator", "timeout", "max_age", "drain", "superseded", "lost".
std::string_view CallEndReasonName(CallEndReason reason);

// Where a call entered the hub: a logged-in HBP client, or an OBP/FBP peer.
struct CallSource {
  enum class Kind : uint8_t { kClient, kPeer };
  Kind kind = Kind::kClient;
  uint32_t client_id = 0;   // kClient: the repeater/hotspot ID that sent it
  std::string callsign;     // kClient: that client's callsign ("" if unknown)
  std::string peer_name;    // kPeer: the peer's configured name
  uint32_t network_id = 0;  // kPeer: the peer's network ID
};

// One call (a stream), live or ended. The control plane publishes it once at start (ended =
// false, duration and frame counts so far) and once at end (ended = true, final counts).
struct CallRecord {
  uint32_t stream_id = 0;
  uint32_t rf_src = 0;          // the talker's radio ID
  std::string talker_callsign;  // "" if not known (no user database, no talker alias)
  uint32_t dst = 0;             // talkgroup (group calls) or radio ID (private/unit calls)
  Slot slot = Slot::kTs1;
  CallType type = CallType::kGroupVoice;
  CallSource source;
  uint32_t destinations = 0;  // clients and peers the call fans out to
  // Optional: client IDs among the destinations, for the per-destination TX legs of the
  // HBlink/FreeDMR feed. May be empty (no TX legs are reported) or truncated.
  std::vector<uint32_t> destination_clients;
  int64_t start_unix_ns = 0;  // first frame, wall clock (display)
  int64_t start_mono_ns = 0;  // first frame, monotonic
  int64_t duration_ns = 0;    // first to last frame
  uint64_t frames = 0;        // frames received
  uint64_t frames_lost = 0;   // sequence gaps
  uint64_t frames_late = 0;   // arrived later than the 60 ms cadence allows
  uint64_t frames_early = 0;  // arrived earlier than the cadence allows
  double jitter_ms = 0;       // mean absolute deviation of inter-frame gaps from 60 ms
  bool ended = false;
  CallEndReason end_reason = CallEndReason::kNone;
};

// A static talkgroup (always subscribed) or a dynamic one (dial-a-TG / user-activated, with a
// timer) of a client.
struct TalkgroupSubscription {
  uint32_t tg = 0;
  Slot slot = Slot::kTs1;
  bool dynamic = false;
  int64_t expires_unix_ns = 0;  // dynamic: when the timer drops it (0: no timer)
  uint32_t timeout_s = 0;       // dynamic: the timer's length
  // Static: off for now because single mode holds the slot for another TG (PROTOCOL.md §3.2);
  // the client hears nothing on it until `suspended_until_unix_ns` (0: no timer) or until it
  // talks on it.
  bool suspended = false;
  int64_t suspended_until_unix_ns = 0;
};

// A logged-in HBP client (repeater or hotspot) as its RPTC configuration described it.
struct ClientView {
  uint32_t id = 0;
  std::string callsign;
  std::string location;
  std::string description;
  std::string url;
  std::string software_id;
  std::string package_id;
  std::string rx_freq;  // as sent in RPTC: 9 digits in Hz ("438800000"), "" if unknown
  std::string tx_freq;
  uint8_t color_code = 1;
  uint8_t slots = 3;    // RPTC slots field: 0 none, 1, 2, 3 both, 4 simplex/DMO
  std::string address;  // IP address the client logs in from
  uint16_t port = 0;
  std::vector<TalkgroupSubscription> talkgroups;
  bool single_mode = true;  // effective: the hub's default or the client's SINGLE=
  int64_t logged_in_unix_ns = 0;
  int64_t last_ping_unix_ns = 0;   // last keepalive (RPTPING)
  int64_t last_heard_unix_ns = 0;  // last keepalive, or start or end of a call it sourced
  uint64_t pings_received = 0;
  bool fixed = false;  // [[hbp.fixed_client]]: logged in by configuration; may never ping
};

// An OpenBridge (version 1) or FreeDMR bridge protocol (version 5) peer.
struct PeerView {
  std::string name;
  uint8_t version = 1;  // 1 = OBP, 5 = FBP
  bool up = false;
  uint32_t network_id = 0;
  std::string target_address;  // where the hub sends to
  uint16_t target_port = 0;
  int64_t last_keepalive_unix_ns = 0;  // 0: never
  int64_t state_since_unix_ns = 0;     // when `up` last changed
  uint64_t packets_received = 0;
  uint64_t packets_sent = 0;
  uint64_t packets_rejected = 0;  // bad HMAC, wrong source, malformed
};

// The hub itself.
struct HubView {
  uint32_t server_id = 0;
  std::string version;  // dmrswitch version
  std::string mode;     // "dpdk", "afxdp", "kernel"
  uint32_t shards = 0;
  uint64_t snapshot_generation = 0;
  int64_t started_unix_ns = 0;
  int64_t uptime_ns = 0;
  bool draining = false;
  // Server-wide default static talkgroups as FreeDMR's TS1_STATIC/TS2_STATIC options strings
  // (comma-separated); empty when none.
  std::string default_ts1_static;
  std::string default_ts2_static;
  // The [hbp] settings the feeds show, as the hub runs them (a reload changes them).
  uint32_t ping_time_s = 5;
  uint32_t max_missed = 3;
  uint32_t group_hangtime_s = 5;
  bool single_mode = true;  // the hub's default (a client's SINGLE= overrides it)
};

// A client logged in, logged out (RPTCL, kicked, reload) or was lost (keepalive timeout).
struct ClientEvent {
  enum class Kind : uint8_t { kLogin, kLogout, kLost };
  Kind kind = Kind::kLogin;
  uint32_t client_id = 0;
  std::string callsign;
  std::string reason;  // logout/lost: "rptcl", "kicked", "keepalive_timeout", ...
  int64_t time_unix_ns = 0;
  // kLogin: the client as it logged in (so a feed can show it before the next snapshot).
  std::shared_ptr<const ClientView> client;
};
std::string_view ClientEventKindName(ClientEvent::Kind kind);  // "login", "logout", "lost"

// A peer came up or went down.
struct PeerEvent {
  bool up = false;
  std::string name;
  std::string reason;  // down: "keepalive_timeout", "removed", ...
  int64_t time_unix_ns = 0;
  std::shared_ptr<const PeerView> peer;  // the peer after the change
};

// Everything a dashboard needs to draw the hub from scratch; sent in full at connect and
// periodically. The control plane builds a new one when clients, peers or subscriptions change
// (it is immutable once published, so surfaces on other threads may read it freely).
struct HubState {
  HubView hub;
  std::vector<ClientView> clients;
  std::vector<PeerView> peers;
};

// The events that travel, in order, from the control plane to the surfaces.
using ReportEvent = std::variant<CallRecord, ClientEvent, PeerEvent>;

// A named counter. Prometheus renders `dmrswitch_<name>_total` with the labels that are set,
// e.g. {"packets_dropped", shard 0, reason "rate_limit"}. Names are snake_case from fixed name
// tables (DropReason names and the like); label values come from bounded sets too (shard index,
// reason table, configured peers), never from traffic (no rf_src, no stream ID).
struct CounterLabels {
  int32_t shard = -1;  // -1: not per shard
  std::string reason;  // "" : no reason label
  std::string peer;    // "" : no peer label
};
struct NamedCounter {
  std::string name;
  CounterLabels labels;
  uint64_t value = 0;
  std::string help;  // "" : a generic help line
};
// A gauge, e.g. {"ring_depth", shard 1} or {"stream_table_entries", shard 0}.
struct NamedGauge {
  std::string name;
  CounterLabels labels;
  double value = 0;
  std::string help;
};

// A shard's loop-latency histogram: busy loop iterations (those that received something), from
// the top of the iteration to the transmit burst handed to the port or socket.
// `bucket_counts[i]` counts iterations with latency <= upper_bounds_s[i] and above the previous
// bound (not cumulative); the last element, at index upper_bounds_s.size(), counts those above
// every bound (+Inf).
struct LatencyHistogram {
  uint32_t shard = 0;
  std::vector<double> upper_bounds_s;
  std::vector<uint64_t> bucket_counts;
  double sum_s = 0;
};

// What /metrics renders.
struct MetricsSnapshot {
  HubView hub;
  uint64_t clients = 0;  // logged in
  uint64_t live_calls = 0;
  uint64_t calls_total[kCallTypeCount] = {};  // started since the cp started, by CallType
  std::vector<PeerView> peers;
  std::vector<NamedCounter> counters;
  std::vector<NamedGauge> gauges;
  std::vector<LatencyHistogram> loop_latency;
};

}  // namespace dmrswitch::cp::report
