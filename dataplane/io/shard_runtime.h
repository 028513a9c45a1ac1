// The part of a shard that is the same in every I/O mode (DESIGN.md §4): the routing core
// (route::RoutingCore) and client liveness behind the control channel. A shard loop (kernel
// sockets, DPDK ports) receives a datagram, works out its listener, source and UDP payload, and
// calls Deliver; what leaves the shard — fanout, keepalive replies, datagrams from the control
// plane — goes out through the loop's route::PacketSink. Commands, snapshots, heartbeats,
// ClientLost and the hand-over of control packets are here, once.
//
// Everything it uses at run time besides its sizes comes from the snapshot: the client timeout,
// the policy, and which peers each listener serves.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "dataplane/ipc/channel.h"
#include "dataplane/ipc/shard_stats.h"
#include "dataplane/route/client_liveness.h"
#include "dataplane/route/routing_core.h"

namespace dmrswitch::io {

// Counters of the runtime around the routing core. Written only by the shard's own lcore.
struct RuntimeCounters {
  uint64_t pongs = 0;
  uint64_t to_control = 0;
  uint64_t to_control_full = 0;  // control ring or pool full: dropped
  uint64_t from_control = 0;
  uint64_t from_control_bad_listener = 0;  // a datagram for a listener this plane lacks
  uint64_t events_sent = 0;
  uint64_t events_dropped = 0;       // event ring full (DESIGN.md §6: counted, never blocks)
  uint64_t supervision_dropped = 0;  // sup ring full: a heartbeat, ClientLost or pong
  uint64_t unknown_peer = 0;         // datagram on an OpenBridge listener from no peer it serves
  uint64_t tx_no_buffer = 0;         // the shard loop had no buffer
};

// What the I/O mode reports in the heartbeat besides the runtime's own counters.
struct IoTotals {
  uint64_t rx = 0;
  uint64_t tx = 0;
  uint64_t dropped = 0;
};

struct RuntimeConfig {
  uint32_t index;      // this shard
  uint32_t nshards;    // shards of the plane
  uint32_t listeners;  // listeners of the plane (PlaneConfig::listeners.size())
  route::RoutingCoreConfig core;
  ipc::ShardStats* stats = nullptr;  // the shard's counter block (null: none is published)
};

class ShardRuntime {
 public:
  // `out` is the shard loop's transmit side; it outlives the runtime.
  ShardRuntime(const RuntimeConfig& config, route::SlotLeases* leases, ipc::ShardChannel channel,
               rte_mempool* control_pool, route::PacketSink* out);

  // Commands from the control plane (snapshot switch and ack, stop). True if any arrived.
  bool PollCommands(route::TimeNs now);
  // Datagrams the control plane wants sent. Returns how many.
  unsigned PollFromControl();
  // One datagram received on `listener` from `from`, owned by this shard.
  void Deliver(uint32_t listener, std::span<const uint8_t> pkt, const route::Endpoint& from,
               route::TimeNs now);
  // Stream timers, client liveness, heartbeat.
  void Timers(route::TimeNs now, const IoTotals& io);
  // The shard's counter block is due for a copy (every kStatsEvery, when it has one).
  static constexpr route::TimeNs kStatsEvery = 10 * route::kMs;
  bool StatsDue(route::TimeNs now) const { return config_.stats != nullptr && now >= next_stats_; }
  bool publishes_stats() const { return config_.stats != nullptr; }
  // Fills in the routing core's and the runtime's counters and gauges around what the I/O mode
  // put in `stats` (io, io_present, loop, the steering ring gauge) and publishes the copy.
  void PublishStats(route::TimeNs now, ipc::ShardStatsSnapshot* stats);

  bool stop_requested() const { return stop_requested_; }
  // True once after control packets were handed over (the I/O mode may wake the control plane).
  bool TakeControlWake() {
    const bool w = control_wake_;
    control_wake_ = false;
    return w;
  }
  const route::RoutingCore& core() const { return core_; }
  const RuntimeCounters& counters() const { return counters_; }
  uint32_t index() const { return config_.index; }

 private:
  class Events final : public route::EventSink {
   public:
    explicit Events(ShardRuntime* r) : r_(r) {}
    void Emit(const route::Event& e) override;

   private:
    ShardRuntime* r_;
  };

  void ToControl(uint32_t listener, uint32_t peer, std::span<const uint8_t> pkt,
                 route::Endpoint from);
  void Send(uint32_t listener, route::Endpoint to, std::span<const uint8_t> bytes);
  int64_t ResolvePeer(uint32_t listener, const route::Endpoint& from) const;
  void SendHealth(route::TimeNs now, const IoTotals& io);

  RuntimeConfig config_;
  ipc::ShardChannel channel_;
  rte_mempool* control_pool_;
  route::PacketSink* out_;
  Events events_{this};
  route::RoutingCore core_;
  route::ClientLiveness liveness_;
  RuntimeCounters counters_;
  uint64_t generation_ = 0;
  uint64_t pending_ack_ = 0;  // an ack the full sup ring did not take yet
  uint32_t seq_ = 0;
  route::TimeNs next_expire_ = 0;
  route::TimeNs next_health_ = 0;
  route::TimeNs next_stats_ = 0;
  bool stop_requested_ = false;
  bool control_wake_ = false;
};

}  // namespace dmrswitch::io
