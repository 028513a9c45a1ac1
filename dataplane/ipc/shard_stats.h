// The shards' named counters (DESIGN.md §3 "counters: per lcore, written only by that lcore"; the
// model is VPP's `show errors`): one block per shard in a memzone of its own, which the shard
// alone writes and anyone may read at any time — the control plane (hosted: a thread of the dp;
// separate: dmrswitch-cp, a DPDK secondary process), the dp's DPDK telemetry commands, and
// through them dmrswitch-ctl, Prometheus and dpdk-telemetry.py.
//
// Every counter has a name from a fixed table: the I/O counters of every mode (a mode marks the
// ones it counts), the routing core's and the shard runtime's, every DropReason, every decoder
// Reject and every L2-L4 NetReject. Gauges: streams, clients, snapshot generation and the depth
// of each ring. The loop-latency histogram: busy loop iterations (from the top of the iteration
// to the TX burst handed to the port or socket), log2 buckets of TSC cycles.
//
// How it is written: the shard keeps counting in its own plain structs (nothing changes on the
// per-packet path) and copies them into its block on a timer (ShardRuntime: every 10 ms) under a
// sequence lock: the sequence is odd while the copy is being written, and a reader that saw it
// change retries. Every word is a std::atomic<uint64_t> written and read with relaxed order (a
// plain move on x86-64 and ARMv8), so a reader never sees a torn word and a consistent block
// comes out of at most a few retries. A reader never writes, never blocks the shard, and gives up
// after a bounded number of retries (a shard that died in the middle of a copy).
//
// The block also keeps the shard's last kRecentStreams stream events (start, end, lost) as the
// shard emitted them, so that the telemetry socket can show calls while no control plane runs.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/net/packet.h"
#include "dataplane/proto/reject.h"
#include "dataplane/route/events.h"

namespace dmrswitch::ipc {

// A counter's name, what it counts, and whether it counts something that went wrong (an error
// in `dmrswitch-ctl errors`).
struct StatName {
  std::string_view name;
  std::string_view help;
  bool error = false;
};

// I/O counters of the shard loops (kernel sockets, DPDK ports). A mode sets the bits of the ones
// it has in ShardStatsSnapshot::io_present; the others stay zero and are not shown.
enum class IoStat : uint8_t {
  kRxPackets,        // datagrams (kernel) or frames (DPDK) received
  kTxPackets,        // ... sent
  kTxDropped,        // TX queue or socket buffer full: dropped
  kRxTruncated,      // kernel: datagram longer than the receive buffer
  kSteeredOut,       // handed to the owner shard over a steering ring
  kSteeredIn,        // received from another shard's steering ring
  kSteerFull,        // owner's steering ring or the mbuf pool full: dropped
  kArpReplies,       // DPDK: ARP answered for the hub's address
  kArpRequests,      // DPDK: ARP requests sent for unknown next hops
  kIcmpReplies,      // DPDK: ICMP echo answered
  kNotHubTraffic,    // DPDK: parsed fine, not for a listener of ours
  kNoMbuf,           // DPDK: mbuf pool empty
  kNoNeighbor,       // DPDK: destination MAC unknown (ARP sent, packet dropped)
  kNeighborUpdates,  // DPDK: learned MACs announced to the other shards
  kNdAdverts,        // DPDK: IPv6 Neighbor Solicitations for the hub's address answered
  kNdSolicits,       // DPDK: Neighbor Solicitations sent for unknown IPv6 next hops
  kIcmp6Replies,     // DPDK: ICMPv6 echo answered
  kCount,
};
inline constexpr std::array<StatName, static_cast<size_t>(IoStat::kCount)> kIoStatNames = {{
    {"rx_packets", "Datagrams (kernel mode) or frames (DPDK) received."},
    {"tx_packets", "Datagrams or frames sent."},
    {"tx_dropped", "Datagrams or frames dropped because the TX queue or socket was full.", true},
    {"rx_truncated", "Datagrams longer than the receive buffer, dropped.", true},
    {"steered_out", "Datagrams handed to their owner shard."},
    {"steered_in", "Datagrams received from another shard."},
    {"steer_full", "Datagrams dropped: the owner shard's ring or the packet pool was full.", true},
    {"arp_replies", "ARP requests for the hub's address answered."},
    {"arp_requests", "ARP requests sent for unknown next hops."},
    {"icmp_replies", "ICMP echo requests answered."},
    {"not_hub_traffic", "Frames that were not for a listener of the hub.", true},
    {"no_mbuf", "Packets dropped: the mbuf pool was empty.", true},
    {"no_neighbor", "Packets dropped: the destination's MAC address is unknown.", true},
    {"neighbor_updates", "Learned MAC addresses announced to the other shards."},
    {"nd_adverts", "IPv6 neighbour solicitations for the hub's address answered."},
    {"nd_solicits", "IPv6 neighbour solicitations sent for unknown next hops."},
    {"icmp6_replies", "ICMPv6 echo requests answered."},
}};

// The routing core's counters (route::RoutingCounters) besides its drops and rejects.
enum class RouteStat : uint8_t {
  kPacketsIn,
  kPacketsRouted,
  kPacketsOut,
  kToControl,
  kContentionSkips,
  kQuenchSkips,
  kSinkFull,
  kStreamsStarted,
  kStreamsEnded,
  kStreamsLost,
  kSequenceGaps,
  kFramesLate,
  kFramesEarly,
  kRouteResolutions,
  kSupersededSkips,
  kParrotRecorded,
  kParrotPlayed,
  kParrotDropped,
  kCount,
};
inline constexpr std::array<StatName, static_cast<size_t>(RouteStat::kCount)> kRouteStatNames = {{
    {"packets_in", "Datagrams the routing core looked at."},
    {"packets_routed", "Voice and data frames accepted and fanned out."},
    {"packets_out", "Datagrams written to destinations."},
    {"packets_to_control", "Datagrams for the control plane (logins, keepalives, options)."},
    {"contention_skips", "Destinations skipped because their timeslot was busy."},
    {"quench_skips", "Peers skipped because they asked to stop a stream (BCSQ)."},
    {"sink_full", "Datagrams not written: no transmit buffer.", true},
    {"streams_started", "Streams (calls) started."},
    {"streams_ended", "Streams ended by a terminator."},
    {"streams_lost", "Streams ended by silence."},
    {"sequence_gaps", "Frames missing from streams (sequence number gaps)."},
    {"frames_late", "Frames more than 30 ms behind the 60 ms cadence."},
    {"frames_early", "Frames more than 30 ms ahead of the 60 ms cadence."},
    {"route_resolutions", "Stream routes resolved (new streams and changed inputs)."},
    {"superseded_skips",
     "Destinations skipped because the same talker's next call had already taken the slot."},
    {"parrot_recorded", "Calls to the parrot (9990) recorded."},
    {"parrot_played", "Parrot recordings played back whole to their caller."},
    {"parrot_dropped",
     "Parrot recordings not played back (the caller's slot busy too long, or the caller gone)."},
}};

// The shard runtime's counters (io::RuntimeCounters).
enum class RuntimeStat : uint8_t {
  kPongs,
  kHandedToControl,
  kToControlFull,
  kFromControl,
  kFromControlBadListener,
  kEventsSent,
  kEventsDropped,
  kSupervisionDropped,
  kUnknownPeer,
  kTxNoBuffer,
  kCount,
};
inline constexpr std::array<StatName, static_cast<size_t>(RuntimeStat::kCount)> kRuntimeStatNames =
    {{
        {"keepalives_answered", "Client keepalives answered by the shard (MSTPONG)."},
        {"handed_to_control", "Datagrams handed to the control plane."},
        {"to_control_full", "Datagrams for the control plane dropped: ring or pool full.", true},
        {"from_control", "Datagrams the control plane had the shard send."},
        {"from_control_bad_listener", "Datagrams from the control plane for no listener.", true},
        {"events_sent", "Events (calls, requests) put on the event ring."},
        {"events_dropped", "Events dropped because the event ring was full.", true},
        {"supervision_dropped",
         "Heartbeats and notices not sent: supervision ring full (a lost-client notice is "
         "tried again each second, and each try counts).",
         true},
        {"unknown_peer", "Datagrams on an OpenBridge listener from no configured peer.", true},
        {"tx_no_buffer", "Control datagrams not sent: no transmit buffer.", true},
    }};

// Gauges: what the shard holds right now.
enum class ShardGauge : uint8_t {
  kLiveStreams,
  kTrackedStreams,
  kStreamCapacity,
  kClients,
  kSnapshotGeneration,
  kDraining,
  kCmdRing,
  kEvtRing,
  kSupRing,
  kPktUpRing,
  kPktDownRing,
  kSteerInRings,
  kCount,
};
inline constexpr std::array<StatName, static_cast<size_t>(ShardGauge::kCount)> kShardGaugeNames = {{
    {"live_streams", "Streams live on the shard."},
    {"tracked_streams", "Entries in the shard's stream table (live, and recently ended)."},
    {"stream_capacity", "Size of the shard's stream table."},
    {"clients", "Logged-in clients whose keepalives this shard answers."},
    {"snapshot_generation", "Routing snapshot generation the shard routes with."},
    {"draining", "1 while the shard admits no new streams (drain)."},
    {"ring_cmd_depth", "Messages waiting on the control plane's command ring to the shard."},
    {"ring_evt_depth", "Events waiting on the shard's event ring to the control plane."},
    {"ring_sup_depth", "Messages waiting on the shard's supervision ring."},
    {"ring_pkt_up_depth", "Datagrams waiting for the control plane."},
    {"ring_pkt_down_depth", "Datagrams from the control plane waiting to be sent."},
    {"ring_steer_in_depth", "Datagrams waiting on the steering rings into the shard."},
}};

inline constexpr size_t kIoStats = static_cast<size_t>(IoStat::kCount);
inline constexpr size_t kRouteStats = static_cast<size_t>(RouteStat::kCount);
inline constexpr size_t kRuntimeStats = static_cast<size_t>(RuntimeStat::kCount);
inline constexpr size_t kDropStats = static_cast<size_t>(route::DropReason::kCount);
inline constexpr size_t kRejectStats = static_cast<size_t>(proto::Reject::kCount);
inline constexpr size_t kNetRejectStats = static_cast<size_t>(net::NetReject::kCount);
inline constexpr size_t kGauges = static_cast<size_t>(ShardGauge::kCount);
inline constexpr size_t kLoopBuckets = 48;  // bucket b: [2^(b-1), 2^b) TSC cycles
// The same iterations in quarter octaves (LoopFineBucket), for percentiles: a log2 bucket's
// upper bound can be twice the value it stands for (a p99 "in 12.6-25.2 us" cannot say whether
// it is under 20), a quarter octave's at most 25 % more (from 4 cycles up; the last bucket
// also holds everything beyond it).
inline constexpr size_t kLoopFineBuckets = 192;

// Quarter-octave bucket of `cycles`: 0..3 hold 0..3 exactly; from there each octave
// [2^e, 2^(e+1)) is split into four equal parts.
constexpr size_t LoopFineBucket(uint64_t cycles) {
  if (cycles < 4) return static_cast<size_t>(cycles);
  const auto e = static_cast<size_t>(std::bit_width(cycles)) - 1;  // >= 2
  const size_t b = 4 * (e - 1) + static_cast<size_t>((cycles >> (e - 2)) & 3);
  return b < kLoopFineBuckets ? b : kLoopFineBuckets - 1;
}
// The first cycle count above fine bucket `b` (its exclusive upper bound).
constexpr uint64_t LoopFineUpperCycles(size_t b) {
  if (b < 4) return b + 1;
  const size_t e = b / 4 + 1;
  return (uint64_t{4} + b % 4 + 1) << (e - 2);
}
inline constexpr size_t kRecentStreams = 32;

// The busy loop iterations' service time, in TSC cycles, as the loops count it.
struct LoopHistogram {
  std::array<uint64_t, kLoopBuckets> buckets{};   // Prometheus' buckets, the raw JSON
  std::array<uint64_t, kLoopFineBuckets> fine{};  // percentiles
  uint64_t sum_cycles = 0;
  void Add(uint64_t cycles) {
    ++buckets[std::min<size_t>(std::bit_width(cycles), kLoopBuckets - 1)];
    ++fine[LoopFineBucket(cycles)];
    sum_cycles += cycles;
  }
  // Percentile q (0..1) in nanoseconds: the upper bound of the quarter octave it falls in.
  double PercentileNs(double q, uint64_t tsc_hz) const;
};

// A consistent copy of one shard's block, in plain integers (the reader's side).
struct ShardStatsSnapshot {
  uint32_t shard = 0;
  uint64_t published_ns = 0;  // CLOCK_MONOTONIC of the copy; 0: never published
  uint64_t updates = 0;       // copies published so far
  uint64_t tsc_hz = 0;
  uint64_t io_present = 0;  // bit i: IoStat i is counted in this mode
  std::array<uint64_t, kIoStats> io{};
  std::array<uint64_t, kRouteStats> route{};
  std::array<uint64_t, kRuntimeStats> runtime{};
  std::array<uint64_t, kDropStats> drops{};
  std::array<uint64_t, kRejectStats> rejects{};
  std::array<uint64_t, kNetRejectStats> net_rejects{};
  std::array<uint64_t, kGauges> gauges{};
  LoopHistogram loop;

  uint64_t io_stat(IoStat s) const { return io[static_cast<size_t>(s)]; }
  uint64_t route_stat(RouteStat s) const { return route[static_cast<size_t>(s)]; }
  uint64_t runtime_stat(RuntimeStat s) const { return runtime[static_cast<size_t>(s)]; }
  uint64_t gauge(ShardGauge g) const { return gauges[static_cast<size_t>(g)]; }
  uint64_t drop(route::DropReason r) const { return drops[static_cast<size_t>(r)]; }
  bool has_io(IoStat s) const { return (io_present >> static_cast<size_t>(s)) & 1; }
  // The latency below which fraction `q` of the busy iterations fall (the upper bound of the
  // quarter octave, LoopHistogram::PercentileNs), in nanoseconds; 0 without samples.
  double LoopPercentileNs(double q) const;
};

// One shard's block in shared memory. Only its shard writes it (Publish, RecordStream).
struct alignas(64) ShardStats {
  std::atomic<uint64_t> seq{0};  // odd while a copy is being written
  std::atomic<uint64_t> published_ns{0};
  std::atomic<uint64_t> updates{0};
  std::atomic<uint64_t> tsc_hz{0};
  std::atomic<uint64_t> io_present{0};
  std::atomic<uint64_t> io[kIoStats];
  std::atomic<uint64_t> route[kRouteStats];
  std::atomic<uint64_t> runtime[kRuntimeStats];
  std::atomic<uint64_t> drops[kDropStats];
  std::atomic<uint64_t> rejects[kRejectStats];
  std::atomic<uint64_t> net_rejects[kNetRejectStats];
  std::atomic<uint64_t> gauges[kGauges];
  std::atomic<uint64_t> loop_buckets[kLoopBuckets];
  std::atomic<uint64_t> loop_fine[kLoopFineBuckets];
  std::atomic<uint64_t> loop_sum_cycles{0};

  // The last kRecentStreams stream events, as route::Event bytes, each behind its own sequence.
  struct alignas(64) Recent {
    std::atomic<uint64_t> seq{0};
    std::atomic<uint64_t> words[sizeof(route::Event) / 8];
  };
  static_assert(sizeof(route::Event) % 8 == 0);
  std::atomic<uint64_t> recent_count{0};  // events recorded so far (the next slot mod size)
  Recent recent[kRecentStreams];

  // Shard side: `s` (whose `shard`, `published_ns`, `updates` are taken from it) becomes visible.
  void Publish(const ShardStatsSnapshot& s);
  // Shard side: a stream event, for the telemetry socket.
  void RecordStream(const route::Event& e);
};

// Reader side: a consistent copy of `block` (false when the shard kept it odd through every
// retry: it died in the middle of a copy, and `out` holds no consistent copy).
bool ReadShardStats(const ShardStats& block, ShardStatsSnapshot* out);
// The recorded stream events, oldest first (at most kRecentStreams).
std::vector<route::Event> ReadRecentStreams(const ShardStats& block);
// The sum of `snaps`: counters, histograms and the gauges that add up (streams, clients, ring
// depths); the snapshot generation is not a sum but the oldest in use, published_ns the newest.
ShardStatsSnapshot SumShardStats(const std::vector<ShardStatsSnapshot>& snaps);

// The memzone "<prefix>_stats": a header and one block per shard.
struct ShardStatsZone {
  static constexpr uint32_t kMagic = 0x44535753;  // "DSWS"
  // 2: IPv6 rejects and ND counters; 3: quarter-octave loop histogram; 4: parrot counters
  static constexpr uint32_t kLayoutVersion = 4;
  std::atomic<uint32_t> magic;  // written last by the dp
  uint32_t layout_version;
  uint32_t nshards;
  uint32_t block_bytes;  // sizeof(ShardStats) as the dp laid it out
  ShardStats* shard(uint32_t i) { return &blocks()[i]; }
  const ShardStats* shard(uint32_t i) const { return &blocks()[i]; }

 private:
  ShardStats* blocks() const;
};

// dp: reserves the memzone and zeroes the blocks.
absl::StatusOr<ShardStatsZone*> CreateShardStatsZone(const std::string& prefix, uint32_t nshards);
// cp (or a test): finds the memzone a dp created and checks its layout.
absl::StatusOr<const ShardStatsZone*> AttachShardStatsZone(const std::string& prefix,
                                                           uint32_t nshards);

}  // namespace dmrswitch::ipc
