#include "dataplane/io/kernel_shard_loop.h"

#include <poll.h>
#include <rte_cycles.h>
#include <unistd.h>

#include <cerrno>

#include "absl/base/optimization.h"
#include "dataplane/io/steering/reuseport_steering.h"
#include "dataplane/io/udp_socket.h"

namespace dmrswitch::io {
namespace {

constexpr int kIdlePollMs = 10;

}  // namespace

KernelShardLoop::KernelShardLoop(const KernelShardLoopConfig& config, route::SlotLeases* leases,
                                 ipc::ShardChannel channel, rte_mempool* pool,
                                 std::vector<int> sockets, std::vector<rte_ring*> steer_in,
                                 std::vector<rte_ring*> steer_out, std::vector<int> wake_fds,
                                 int cp_wake_fd)
    : config_(config),
      pool_(pool),
      sockets_(std::move(sockets)),
      steer_in_(std::move(steer_in)),
      steer_out_(std::move(steer_out)),
      wake_fds_(std::move(wake_fds)),
      cp_wake_fd_(cp_wake_fd),
      wake_pending_(config.runtime.nshards, 0),
      runtime_(config.runtime, leases, channel, pool, this) {
  for (size_t l = 0; l < sockets_.size(); ++l) {
    auto b = std::make_unique<TxBatch>();
    b->fd = sockets_[l];
    SockAddr bound{};
    socklen_t bound_len = sizeof(bound);
    if (getsockname(b->fd, &bound.sa, &bound_len) == 0) b->family = bound.sa.sa_family;
    for (unsigned i = 0; i < kTxBatch; ++i) {
      b->iov[i] = {b->buf[i], 0};
      b->msg[i].msg_hdr = {};
      b->msg[i].msg_hdr.msg_name = &b->addr[i];
      b->msg[i].msg_hdr.msg_namelen = 0;
      b->msg[i].msg_hdr.msg_iov = &b->iov[i];
      b->msg[i].msg_hdr.msg_iovlen = 1;
    }
    tx_.push_back(std::move(b));
  }
  for (unsigned i = 0; i < kRxBurst; ++i) {
    rx_iov_[i] = {rx_buf_[i], kRxBytes};
    rx_msg_[i].msg_hdr = {};
    rx_msg_[i].msg_hdr.msg_name = &rx_addr_[i];
    rx_msg_[i].msg_hdr.msg_namelen = sizeof(SockAddr);
    rx_msg_[i].msg_hdr.msg_iov = &rx_iov_[i];
    rx_msg_[i].msg_hdr.msg_iovlen = 1;
  }
}

KernelShardLoop::~KernelShardLoop() = default;

// ---------------------------------------------------------------------------------------------
// Transmit

uint8_t* KernelShardLoop::Begin(uint32_t listener, const route::Endpoint& to) {
  if (ABSL_PREDICT_FALSE(listener >= tx_.size())) return nullptr;
  TxBatch& b = *tx_[listener];
  if (b.n == kTxBatch) FlushTx(b);
  const socklen_t len = ToSockaddr(to, b.family, &b.addr[b.n]);
  if (ABSL_PREDICT_FALSE(len == 0)) {
    ++counters_.tx_errors;  // an IPv6 destination on an IPv4-only listener
    return nullptr;
  }
  b.msg[b.n].msg_hdr.msg_namelen = len;
  cur_ = &b;
  return b.buf[b.n];
}

void KernelShardLoop::Commit(uint16_t len) {
  cur_->iov[cur_->n].iov_len = len;
  ++cur_->n;
}

void KernelShardLoop::FlushTx(TxBatch& b) {
  unsigned next = 0, sent = 0;
  while (next < b.n) {
    const int r = sendmmsg(b.fd, &b.msg[next], b.n - next, MSG_DONTWAIT);
    if (r > 0) {
      next += static_cast<unsigned>(r);
      sent += static_cast<unsigned>(r);
      continue;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
      // Socket buffer full: what is left is dropped and counted, the loop never waits for the
      // kernel.
      counters_.tx_errors += b.n - next;
      break;
    }
    // sendmmsg stops at the first datagram the kernel refuses and reports it on the next call:
    // a destination of its own (no route to a peer's network, an output firewall rule, a
    // broadcast address) costs that datagram only, never the rest of the batch.
    ++counters_.tx_errors;
    ++next;
  }
  counters_.tx_datagrams += sent;
  b.n = 0;
}

void KernelShardLoop::FlushAll() {
  for (auto& b : tx_) {
    if (b->n != 0) FlushTx(*b);
  }
}

// ---------------------------------------------------------------------------------------------
// Receive

unsigned KernelShardLoop::PollSocket(uint32_t listener, route::TimeNs now) {
  for (unsigned i = 0; i < kRxBurst; ++i) rx_msg_[i].msg_hdr.msg_namelen = sizeof(SockAddr);
  const int n = recvmmsg(sockets_[listener], rx_msg_, kRxBurst, MSG_DONTWAIT, nullptr);
  if (n <= 0) return 0;
  counters_.rx_datagrams += static_cast<unsigned>(n);
  const uint32_t self = config_.runtime.index;
  for (int i = 0; i < n; ++i) {
    if (i + 1 < n) __builtin_prefetch(rx_buf_[i + 1]);
    if (ABSL_PREDICT_FALSE(rx_msg_[i].msg_hdr.msg_flags & MSG_TRUNC)) {
      ++counters_.rx_truncated;
      continue;
    }
    const std::span<const uint8_t> pkt(rx_buf_[i], rx_msg_[i].msg_len);
    const route::Endpoint from = FromSockaddr(rx_addr_[i]);
    if (config_.userspace_steering) {
      const uint32_t owner = SteeringKeyOwner(pkt, config_.runtime.nshards);
      if (owner != self) {
        const ipc::PacketMeta meta{listener, 0, from};
        rte_mbuf* m = ipc::PacketToMbuf(pool_, pkt, meta);
        if (m == nullptr || !ipc::SendMbuf(steer_out_[owner], m)) {
          if (m != nullptr) ipc::FreeMbuf(m);
          ++counters_.steer_full;
          continue;
        }
        ++counters_.steered_out;
        wake_pending_[owner] = 1;
        continue;
      }
    }
    runtime_.Deliver(listener, pkt, from, now);
  }
  return static_cast<unsigned>(n);
}

unsigned KernelShardLoop::PollSteered(route::TimeNs now) {
  unsigned total = 0;
  for (rte_ring* r : steer_in_) {
    if (r == nullptr) continue;
    rte_mbuf* m[32];
    const unsigned n = ipc::ReceiveMbufs(r, m, 32);
    for (unsigned i = 0; i < n; ++i) {
      const ipc::PacketMeta meta = ipc::MetaOf(m[i]);
      if (meta.listener < sockets_.size()) {
        runtime_.Deliver(meta.listener, ipc::BytesOf(m[i]), meta.addr, now);
      }
      ipc::FreeMbuf(m[i]);
    }
    counters_.steered_in += n;
    total += n;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// The loop

void KernelShardLoop::WaitForWork() {
  pollfd fds[16];
  nfds_t n = 0;
  for (int fd : sockets_) {
    if (n < 15) fds[n++] = {fd, POLLIN, 0};
  }
  const int wake = wake_fds_.empty() ? -1 : wake_fds_[config_.runtime.index];
  if (wake >= 0) fds[n++] = {wake, POLLIN, 0};
  if (poll(fds, n, kIdlePollMs) > 0 && wake >= 0 && (fds[n - 1].revents & POLLIN)) {
    uint64_t v;
    [[maybe_unused]] ssize_t r = read(wake, &v, sizeof(v));
  }
}

void KernelShardLoop::PublishStats(route::TimeNs now) {
  using ipc::IoStat;
  const auto io = [this](IoStat k, uint64_t v) {
    stats_.io[static_cast<size_t>(k)] = v;
    stats_.io_present |= uint64_t{1} << static_cast<size_t>(k);
  };
  io(IoStat::kRxPackets, counters_.rx_datagrams);
  io(IoStat::kTxPackets, counters_.tx_datagrams);
  io(IoStat::kTxDropped, counters_.tx_errors);
  io(IoStat::kRxTruncated, counters_.rx_truncated);
  if (config_.userspace_steering) {
    io(IoStat::kSteeredOut, counters_.steered_out);
    io(IoStat::kSteeredIn, counters_.steered_in);
    io(IoStat::kSteerFull, counters_.steer_full);
  }
  uint64_t steer_depth = 0;
  for (rte_ring* r : steer_in_) {
    if (r != nullptr) steer_depth += ipc::RingFill(r);
  }
  stats_.gauges[static_cast<size_t>(ipc::ShardGauge::kSteerInRings)] = steer_depth;
  stats_.loop = counters_.loop;
  runtime_.PublishStats(now, &stats_);
}

void KernelShardLoop::Run(const std::atomic<bool>& stop) {
  while (!stop.load(std::memory_order_relaxed) && !runtime_.stop_requested()) {
    if (Step() == 0) WaitForWork();
  }
  FlushAll();
  if (runtime_.publishes_stats()) PublishStats(clock_.Now());  // the final counts
}

unsigned KernelShardLoop::Step() {
  const uint64_t t0 = rte_rdtsc();
  const route::TimeNs now = clock_.Now();
  unsigned work = runtime_.PollCommands(now) ? 1 : 0;
  work += runtime_.PollFromControl();
  work += PollSteered(now);
  for (uint32_t l = 0; l < sockets_.size(); ++l) work += PollSocket(l, now);
  FlushAll();
  if (work != 0) counters_.loop.Add(rte_rdtsc() - t0);
  runtime_.Timers(now,
                  IoTotals{counters_.rx_datagrams, counters_.tx_datagrams,
                           counters_.rx_truncated + counters_.tx_errors + counters_.steer_full});
  FlushAll();  // what the timers sent (the parrot's playback) leaves now, not after the next poll
  if (runtime_.StatsDue(now)) PublishStats(now);
  for (uint32_t s = 0; s < wake_pending_.size(); ++s) {
    if (wake_pending_[s] == 0) continue;
    wake_pending_[s] = 0;
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t r = write(wake_fds_[s], &one, sizeof(one));
  }
  if (runtime_.TakeControlWake() && cp_wake_fd_ >= 0) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t r = write(cp_wake_fd_, &one, sizeof(one));
  }
  return work;
}

}  // namespace dmrswitch::io
