// One kernel-mode shard (DESIGN.md §4, "Kernel mode"): a run-to-completion loop on its own
// lcore that owns one UDP socket per listener, receives with recvmmsg, runs the routing core
// (route::Shard) and sends with sendmmsg. Packets that belong to another shard arrive here only
// when the sk_reuseport program could not be loaded: then the loop steers them in user space
// over per-(from, to) single-producer rings. The control plane is reached only through the
// shard's ipc::ShardChannel.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "dataplane/io/clock.h"
#include "dataplane/ipc/channel.h"
#include "dataplane/route/client_liveness.h"
#include "dataplane/route/shard.h"

namespace dmrswitch::io {

// Which socket each listener index is: 0 = HBP, 1.. = distinct OpenBridge listen addresses.
struct ListenerPlan {
  std::vector<route::Endpoint> endpoints;
  std::vector<uint32_t> listener_of_peer;                // by peer index
  std::vector<std::vector<uint32_t>> peers_of_listener;  // by listener index (0: none)
};

// Counters of the I/O layer around the routing core. Written only by the shard's own lcore.
struct KernelShardCounters {
  uint64_t rx_datagrams = 0;
  uint64_t rx_truncated = 0;
  uint64_t tx_datagrams = 0;
  uint64_t tx_errors = 0;
  uint64_t pongs = 0;
  uint64_t steered_out = 0;  // user-space steering: handed to the owner shard
  uint64_t steered_in = 0;
  uint64_t steer_full = 0;  // owner's ring full: dropped
  uint64_t to_control = 0;
  uint64_t to_control_full = 0;  // control ring or pool full: dropped
  uint64_t from_control = 0;
  uint64_t events_dropped = 0;  // event ring full (DESIGN.md §6: counted, never blocks)
  uint64_t unknown_peer = 0;    // datagram on a shared OBP listener from no configured target
};

struct KernelShardConfig {
  uint32_t index = 0;
  uint32_t nshards = 1;
  route::ShardConfig core;
  route::TimeNs ping_timeout = 30 * route::kSec;
  bool userspace_steering = false;
};

class KernelShard {
 public:
  // `sockets[l]` is this shard's socket of listener l. `steer_in[i]`/`steer_out[i]` are the rings
  // from/to shard i (null for i == index or when the kernel steers). `wake_fds[i]` is shard i's
  // eventfd (poked after handing it packets); `cp_wake_fd` the control plane's (-1: none).
  KernelShard(const KernelShardConfig& config, route::SlotLeases* leases, ipc::ShardChannel channel,
              rte_mempool* pool, ListenerPlan plan, std::vector<int> sockets,
              std::vector<rte_ring*> steer_in, std::vector<rte_ring*> steer_out,
              std::vector<int> wake_fds, int cp_wake_fd);
  ~KernelShard();

  // The loop. Returns when `stop` becomes true or a Stop message arrives.
  void Run(const std::atomic<bool>& stop);

  const route::ShardCounters& core_counters() const { return core_.counters(); }
  const KernelShardCounters& counters() const { return counters_; }

 private:
  static constexpr unsigned kRxBurst = 64;
  static constexpr unsigned kTxBatch = 256;
  static constexpr unsigned kRxBytes = 512;  // > the longest datagram we accept (RPTO, 308)

  struct TxBatch {
    int fd = -1;
    unsigned n = 0;
    uint8_t buf[kTxBatch][route::PacketSink::kMaxPacketBytes];
    sockaddr_in addr[kTxBatch];
    iovec iov[kTxBatch];
    mmsghdr msg[kTxBatch];
  };

  class Sink final : public route::PacketSink {
   public:
    explicit Sink(KernelShard* s) : s_(s) {}
    uint8_t* Begin(route::SystemRef to, const route::Endpoint& addr) override;
    void Commit(uint16_t len) override;

   private:
    KernelShard* s_;
    TxBatch* cur_ = nullptr;
  };
  class Events final : public route::EventSink {
   public:
    explicit Events(KernelShard* s) : s_(s) {}
    void Emit(const route::Event& e) override;

   private:
    KernelShard* s_;
  };

  uint8_t* BeginTx(uint32_t listener, const route::Endpoint& addr, TxBatch** batch);
  void FlushTx(TxBatch& b);
  void FlushAll();
  void SendRaw(uint32_t listener, route::Endpoint to, std::span<const uint8_t> bytes);

  bool PollCommands(route::TimeNs now);
  unsigned PollFromControl();
  unsigned PollSteered(route::TimeNs now);
  unsigned PollSocket(uint32_t listener, route::TimeNs now);
  void Process(uint32_t listener, std::span<const uint8_t> pkt, route::Endpoint from,
               route::TimeNs now, bool steered);
  void ToControl(uint32_t listener, uint32_t peer, std::span<const uint8_t> pkt,
                 route::Endpoint from);
  int64_t ResolvePeer(uint32_t listener, route::Endpoint from) const;
  void Timers(route::TimeNs now);
  void SendHealth(route::TimeNs now);
  void WaitForWork();

  KernelShardConfig config_;
  ipc::ShardChannel channel_;
  rte_mempool* pool_;
  ListenerPlan plan_;
  std::vector<int> sockets_;
  std::vector<rte_ring*> steer_in_;
  std::vector<rte_ring*> steer_out_;
  std::vector<int> wake_fds_;
  int cp_wake_fd_;
  std::vector<uint8_t> wake_pending_;  // per shard: handed packets this round, poke once
  bool cp_wake_pending_ = false;

  Sink sink_{this};
  Events events_{this};
  route::Shard core_;
  route::ClientLiveness liveness_;
  KernelShardCounters counters_;
  std::vector<std::unique_ptr<TxBatch>> tx_;  // by listener

  // Receive buffers for one burst.
  uint8_t rx_buf_[kRxBurst][kRxBytes];
  sockaddr_in rx_addr_[kRxBurst];
  iovec rx_iov_[kRxBurst];
  mmsghdr rx_msg_[kRxBurst];

  uint64_t generation_ = 0;
  uint32_t seq_ = 0;
  route::TimeNs next_expire_ = 0;
  route::TimeNs next_health_ = 0;
  bool stop_requested_ = false;
};

}  // namespace dmrswitch::io
