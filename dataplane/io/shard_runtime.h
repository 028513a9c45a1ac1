// The part of a shard loop that is the same in every I/O mode (DESIGN.md §4): the routing core
// (route::RoutingCore) and client liveness behind the control channel. An I/O mode (kernel sockets,
// DPDK ports) receives a datagram, works out its listener, source and UDP payload, and calls
// Deliver; what leaves the shard — fanout, keepalive replies, datagrams from the control plane —
// goes back through the mode's DatagramOut. Commands, snapshots, heartbeats, ClientLost and the
// hand-over of control packets are here, once.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "dataplane/ipc/channel.h"
#include "dataplane/route/client_liveness.h"
#include "dataplane/route/routing_core.h"

namespace dmrswitch::io {

// Which socket/port binding each listener index is: 0 = HBP, 1.. = distinct OpenBridge listen
// addresses.
struct ListenerPlan {
  std::vector<route::Endpoint> endpoints;
  std::vector<uint32_t> listener_of_peer;                // by peer index
  std::vector<std::vector<uint32_t>> peers_of_listener;  // by listener index (0: none)
};

// The I/O mode's transmit side: one datagram at a time, from listener `listener` to `to`.
class DatagramOut {
 public:
  static constexpr uint16_t kMaxBytes = route::PacketSink::kMaxPacketBytes;
  virtual ~DatagramOut() = default;
  // A buffer of at least kMaxBytes, or nullptr (no buffer: the datagram is dropped and counted).
  virtual uint8_t* Begin(uint32_t listener, const route::Endpoint& to) = 0;
  virtual void Commit(uint16_t len) = 0;
};

// Counters of the engine around the routing core. Written only by the shard's own lcore.
struct RuntimeCounters {
  uint64_t pongs = 0;
  uint64_t to_control = 0;
  uint64_t to_control_full = 0;  // control ring or pool full: dropped
  uint64_t from_control = 0;
  uint64_t events_dropped = 0;  // event ring full (DESIGN.md §6: counted, never blocks)
  uint64_t unknown_peer = 0;    // datagram on a shared OBP listener from no configured target
  uint64_t tx_no_buffer = 0;    // DatagramOut had no buffer
};

// What the I/O mode reports in the heartbeat besides the engine's own counters.
struct IoTotals {
  uint64_t rx = 0;
  uint64_t tx = 0;
  uint64_t dropped = 0;
};

struct RuntimeConfig {
  uint32_t index = 0;
  uint32_t nshards = 1;
  route::RoutingCoreConfig core;
  route::TimeNs ping_timeout = 30 * route::kSec;
};

class ShardRuntime {
 public:
  ShardRuntime(const RuntimeConfig& config, route::SlotLeases* leases, ipc::ShardChannel channel,
               rte_mempool* control_pool, ListenerPlan plan, DatagramOut* out);

  // Commands from the control plane (snapshot switch and ack, stop). True if any arrived.
  bool PollCommands(route::TimeNs now);
  // Datagrams the control plane wants sent. Returns how many.
  unsigned PollFromControl();
  // One datagram received on `listener` from `from`, owned by this shard.
  void Deliver(uint32_t listener, std::span<const uint8_t> pkt, route::Endpoint from,
               route::TimeNs now);
  // Stream timers, client liveness, heartbeat.
  void Timers(route::TimeNs now, const IoTotals& io);

  bool stop_requested() const { return stop_requested_; }
  // True once after control packets were handed over (the I/O mode may wake the control plane).
  bool TakeControlWake() {
    const bool w = control_wake_;
    control_wake_ = false;
    return w;
  }
  const route::RoutingCore& core() const { return core_; }
  const RuntimeCounters& counters() const { return counters_; }
  const ListenerPlan& plan() const { return plan_; }
  uint32_t index() const { return config_.index; }

 private:
  class Sink final : public route::PacketSink {
   public:
    explicit Sink(ShardRuntime* e) : e_(e) {}
    uint8_t* Begin(route::SystemRef to, const route::Endpoint& addr) override;
    void Commit(uint16_t len) override { e_->out_->Commit(len); }

   private:
    ShardRuntime* e_;
  };
  class Events final : public route::EventSink {
   public:
    explicit Events(ShardRuntime* e) : e_(e) {}
    void Emit(const route::Event& e) override;

   private:
    ShardRuntime* e_;
  };

  void ToControl(uint32_t listener, uint32_t peer, std::span<const uint8_t> pkt,
                 route::Endpoint from);
  void Send(uint32_t listener, route::Endpoint to, std::span<const uint8_t> bytes);
  int64_t ResolvePeer(uint32_t listener, route::Endpoint from) const;
  void SendHealth(route::TimeNs now, const IoTotals& io);

  RuntimeConfig config_;
  ipc::ShardChannel channel_;
  rte_mempool* control_pool_;
  ListenerPlan plan_;
  DatagramOut* out_;
  Sink sink_{this};
  Events events_{this};
  route::RoutingCore core_;
  route::ClientLiveness liveness_;
  RuntimeCounters counters_;
  uint64_t generation_ = 0;
  uint64_t pending_ack_ = 0;  // an ack the full sup ring did not take yet
  uint32_t seq_ = 0;
  route::TimeNs next_expire_ = 0;
  route::TimeNs next_health_ = 0;
  bool stop_requested_ = false;
  bool control_wake_ = false;
};

}  // namespace dmrswitch::io
