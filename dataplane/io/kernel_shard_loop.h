// One kernel-mode shard (DESIGN.md §4, "Kernel mode"): a run-to-completion loop on its own lcore
// that owns one UDP socket per listener, receives with recvmmsg, hands each datagram to the
// ShardRuntime (routing core, keepalives, control hand-over) and sends with sendmmsg. Datagrams
// that belong to another shard arrive here only when the sk_reuseport program could not be
// loaded: then the loop steers them in user space over per-(from, to) single-producer rings.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "dataplane/io/clock.h"
#include "dataplane/io/shard_runtime.h"
#include "dataplane/io/udp_socket.h"

namespace dmrswitch::io {

// Counters of the kernel I/O around the shard runtime. Written only by the shard's own lcore.
struct KernelShardLoopCounters {
  uint64_t rx_datagrams = 0;
  uint64_t rx_truncated = 0;
  uint64_t tx_datagrams = 0;
  uint64_t tx_errors = 0;
  uint64_t steered_out = 0;  // user-space steering: handed to the owner shard
  uint64_t steered_in = 0;
  uint64_t steer_full = 0;  // owner's ring full: dropped
  // Service time of busy loop iterations (top of the iteration to the sendmmsg flush).
  ipc::LoopHistogram loop;
};

struct KernelShardLoopConfig {
  RuntimeConfig runtime;
  bool userspace_steering = false;
};

class KernelShardLoop final : public route::PacketSink {
 public:
  // `sockets[l]` is this shard's socket of listener l. `steer_in[i]`/`steer_out[i]` are the rings
  // from/to shard i (null for i == index or when the kernel steers). `wake_fds[i]` is shard i's
  // eventfd (poked after handing it packets); `cp_wake_fd` the control plane's (-1: none).
  KernelShardLoop(const KernelShardLoopConfig& config, route::SlotLeases* leases,
                  ipc::ShardChannel channel, rte_mempool* pool, std::vector<int> sockets,
                  std::vector<rte_ring*> steer_in, std::vector<rte_ring*> steer_out,
                  std::vector<int> wake_fds, int cp_wake_fd);
  ~KernelShardLoop() override;

  // The loop. Returns when `stop` becomes true or a Stop message arrives.
  void Run(const std::atomic<bool>& stop);
  // One iteration of Run's loop without the idle wait: commands, control datagrams, steered
  // datagrams, one burst per socket, TX, timers, wake-ups. Returns the work done (0: idle).
  unsigned Step();

  const ShardRuntime& runtime() const { return runtime_; }
  const KernelShardLoopCounters& counters() const { return counters_; }

  // route::PacketSink: a slot in the listener's sendmmsg batch (nullptr for a listener this
  // plane does not have).
  uint8_t* Begin(uint32_t listener, const route::Endpoint& to) override;
  void Commit(uint16_t len) override;

 private:
  static constexpr unsigned kRxBurst = 64;
  static constexpr unsigned kTxBatch = 256;
  static constexpr unsigned kRxBytes = 512;  // > the longest datagram we accept (RPTO, 308)

  struct TxBatch {
    int fd = -1;
    int family = AF_INET;  // of the socket: how destinations are written (ToSockaddr)
    unsigned n = 0;
    uint8_t buf[kTxBatch][kMaxPacketBytes];
    SockAddr addr[kTxBatch];
    iovec iov[kTxBatch];
    mmsghdr msg[kTxBatch];
  };

  void FlushTx(TxBatch& b);
  void FlushAll();
  unsigned PollSteered(route::TimeNs now);
  unsigned PollSocket(uint32_t listener, route::TimeNs now);
  void WaitForWork();
  void PublishStats(route::TimeNs now);

  KernelShardLoopConfig config_;
  rte_mempool* pool_;
  std::vector<int> sockets_;
  std::vector<rte_ring*> steer_in_;
  std::vector<rte_ring*> steer_out_;
  std::vector<int> wake_fds_;
  int cp_wake_fd_;
  std::vector<uint8_t> wake_pending_;         // per shard: handed packets this round, poke once
  std::vector<std::unique_ptr<TxBatch>> tx_;  // by listener
  TxBatch* cur_ = nullptr;
  KernelShardLoopCounters counters_;
  ShardClock clock_;
  ShardRuntime runtime_;
  ipc::ShardStatsSnapshot stats_;  // the copy PublishStats fills (no allocation on the loop)

  // Receive buffers for one burst.
  uint8_t rx_buf_[kRxBurst][kRxBytes];
  SockAddr rx_addr_[kRxBurst];
  iovec rx_iov_[kRxBurst];
  mmsghdr rx_msg_[kRxBurst];
};

}  // namespace dmrswitch::io
