#include "dataplane/io/kernel_shard.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "absl/base/optimization.h"
#include "dataplane/io/steering/reuseport_steering.h"
#include "dataplane/io/udp_socket.h"
#include "dataplane/proto/hbp.h"

namespace dmrswitch::io {
namespace {

constexpr route::TimeNs kExpireEvery = 20 * route::kMs;
constexpr route::TimeNs kHealthEvery = 1 * route::kSec;
constexpr int kIdlePollMs = 10;

}  // namespace

KernelShard::KernelShard(const KernelShardConfig& config, route::SlotLeases* leases,
                         ipc::ShardChannel channel, rte_mempool* pool, ListenerPlan plan,
                         std::vector<int> sockets, std::vector<rte_ring*> steer_in,
                         std::vector<rte_ring*> steer_out, std::vector<int> wake_fds,
                         int cp_wake_fd)
    : config_(config),
      channel_(channel),
      pool_(pool),
      plan_(std::move(plan)),
      sockets_(std::move(sockets)),
      steer_in_(std::move(steer_in)),
      steer_out_(std::move(steer_out)),
      wake_fds_(std::move(wake_fds)),
      cp_wake_fd_(cp_wake_fd),
      wake_pending_(config.nshards, 0),
      core_(config.core, leases, &sink_, &events_),
      liveness_(config.index, config.nshards, config.ping_timeout) {
  for (size_t l = 0; l < sockets_.size(); ++l) {
    auto b = std::make_unique<TxBatch>();
    b->fd = sockets_[l];
    for (unsigned i = 0; i < kTxBatch; ++i) {
      b->iov[i] = {b->buf[i], 0};
      b->msg[i].msg_hdr = {};
      b->msg[i].msg_hdr.msg_name = &b->addr[i];
      b->msg[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
      b->msg[i].msg_hdr.msg_iov = &b->iov[i];
      b->msg[i].msg_hdr.msg_iovlen = 1;
    }
    tx_.push_back(std::move(b));
  }
  for (unsigned i = 0; i < kRxBurst; ++i) {
    rx_iov_[i] = {rx_buf_[i], kRxBytes};
    rx_msg_[i].msg_hdr = {};
    rx_msg_[i].msg_hdr.msg_name = &rx_addr_[i];
    rx_msg_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    rx_msg_[i].msg_hdr.msg_iov = &rx_iov_[i];
    rx_msg_[i].msg_hdr.msg_iovlen = 1;
  }
}

KernelShard::~KernelShard() = default;

// ---------------------------------------------------------------------------------------------
// Transmit

uint8_t* KernelShard::BeginTx(uint32_t listener, const route::Endpoint& addr, TxBatch** batch) {
  TxBatch& b = *tx_[listener];
  if (b.n == kTxBatch) FlushTx(b);
  b.addr[b.n] = ToSockaddr(addr);
  *batch = &b;
  return b.buf[b.n];
}

uint8_t* KernelShard::Sink::Begin(route::SystemRef to, const route::Endpoint& addr) {
  const uint32_t listener = to.is_peer() ? s_->plan_.listener_of_peer[to.index] : 0;
  return s_->BeginTx(listener, addr, &cur_);
}

void KernelShard::Sink::Commit(uint16_t len) {
  cur_->iov[cur_->n].iov_len = len;
  ++cur_->n;
}

void KernelShard::FlushTx(TxBatch& b) {
  unsigned sent = 0;
  while (sent < b.n) {
    const int r = sendmmsg(b.fd, &b.msg[sent], b.n - sent, MSG_DONTWAIT);
    if (r <= 0) {
      // Socket buffer full or a transient error: what is left is dropped and counted, the loop
      // never waits for the kernel.
      counters_.tx_errors += b.n - sent;
      break;
    }
    sent += static_cast<unsigned>(r);
  }
  counters_.tx_datagrams += sent;
  b.n = 0;
}

void KernelShard::FlushAll() {
  for (auto& b : tx_) {
    if (b->n != 0) FlushTx(*b);
  }
}

void KernelShard::SendRaw(uint32_t listener, route::Endpoint to, std::span<const uint8_t> bytes) {
  if (listener >= tx_.size() || bytes.size() > route::PacketSink::kMaxPacketBytes) {
    // Long control replies are rare (none today); send them on their own.
    if (listener < sockets_.size()) {
      const sockaddr_in sa = ToSockaddr(to);
      if (sendto(sockets_[listener], bytes.data(), bytes.size(), MSG_DONTWAIT,
                 reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) < 0) {
        ++counters_.tx_errors;
      } else {
        ++counters_.tx_datagrams;
      }
    }
    return;
  }
  TxBatch* b = nullptr;
  uint8_t* p = BeginTx(listener, to, &b);
  std::memcpy(p, bytes.data(), bytes.size());
  b->iov[b->n].iov_len = bytes.size();
  ++b->n;
}

void KernelShard::Events::Emit(const route::Event& e) {
  const ipc::Message m =
      ipc::Message::Make(ipc::MsgType::kEvent, static_cast<uint8_t>(s_->config_.index), e);
  if (!ipc::SendMessage(s_->channel_.evt, m)) ++s_->counters_.events_dropped;
}

// ---------------------------------------------------------------------------------------------
// Control channel

bool KernelShard::PollCommands(route::TimeNs now) {
  ipc::Message msgs[16];
  const unsigned n = ipc::ReceiveMessages(channel_.cmd, msgs, 16);
  for (unsigned i = 0; i < n; ++i) {
    switch (msgs[i].type) {
      case ipc::MsgType::kSnapshotPublish: {
        const auto pub = msgs[i].As<ipc::SnapshotPublish>();
        const auto* snap = static_cast<const route::RouteSnapshot*>(pub.snapshot);
        // Non-owning: the control plane frees a generation only after every shard acked a newer
        // one, so the shard never frees (or allocates for) a snapshot on its loop.
        core_.SetSnapshot(std::shared_ptr<const route::RouteSnapshot>(
                              std::shared_ptr<const route::RouteSnapshot>(), snap),
                          now);
        liveness_.OnSnapshot(*snap, now);
        generation_ = pub.generation;
        const ipc::Message ack =
            ipc::Message::Make(ipc::MsgType::kSnapshotAck, static_cast<uint8_t>(config_.index),
                               ipc::SnapshotAck{pub.generation});
        // An ack must not be lost: the control plane would keep the old generation forever.
        // The evt ring is drained every few milliseconds, so this spins at most that long.
        while (!ipc::SendMessage(channel_.evt, ack)) {
          if (stop_requested_) break;
        }
        break;
      }
      case ipc::MsgType::kStop:
        stop_requested_ = true;
        break;
      default:
        break;
    }
  }
  return n != 0;
}

unsigned KernelShard::PollFromControl() {
  rte_mbuf* m[32];
  const unsigned n = ipc::ReceiveMbufs(channel_.pkt_down, m, 32);
  for (unsigned i = 0; i < n; ++i) {
    const ipc::PacketMeta meta = ipc::MetaOf(m[i]);
    uint32_t listener = 0;
    if (meta.listener_kind == 1) {
      listener = meta.peer < plan_.listener_of_peer.size() ? plan_.listener_of_peer[meta.peer]
                                                           : UINT32_MAX;
    }
    if (listener < sockets_.size()) {
      SendRaw(listener, meta.addr, ipc::BytesOf(m[i]));
      ++counters_.from_control;
    }
    ipc::FreeMbuf(m[i]);
  }
  return n;
}

void KernelShard::ToControl(uint32_t listener, uint32_t peer, std::span<const uint8_t> pkt,
                            route::Endpoint from) {
  const ipc::PacketMeta meta{static_cast<uint8_t>(listener == 0 ? 0 : 1), peer, from};
  rte_mbuf* m = ipc::PacketToMbuf(pool_, pkt, meta);
  if (m == nullptr || !ipc::SendMbuf(channel_.pkt_up, m)) {
    if (m != nullptr) ipc::FreeMbuf(m);
    ++counters_.to_control_full;
    return;
  }
  ++counters_.to_control;
  cp_wake_pending_ = true;
}

// ---------------------------------------------------------------------------------------------
// Receive

int64_t KernelShard::ResolvePeer(uint32_t listener, route::Endpoint from) const {
  const std::vector<uint32_t>& peers = plan_.peers_of_listener[listener];
  if (peers.size() == 1) return peers[0];
  // Several peers share this listen address: the source address tells them apart (learned
  // targets included, so the snapshot's view is the one to ask).
  const route::RouteSnapshot* snap = core_.snapshot();
  for (uint32_t p : peers) {
    if (snap != nullptr && p < snap->peers().size() && snap->peers()[p].target == from) return p;
  }
  return -1;
}

void KernelShard::Process(uint32_t listener, std::span<const uint8_t> pkt, route::Endpoint from,
                          route::TimeNs now, bool steered) {
  if (config_.userspace_steering && !steered) {
    const uint32_t owner = SteeringKeyOwner(pkt, config_.nshards);
    if (owner != config_.index) {
      const ipc::PacketMeta meta{static_cast<uint8_t>(listener), 0, from};
      rte_mbuf* m = ipc::PacketToMbuf(pool_, pkt, meta);
      if (m == nullptr || !ipc::SendMbuf(steer_out_[owner], m)) {
        if (m != nullptr) ipc::FreeMbuf(m);
        ++counters_.steer_full;
        return;
      }
      ++counters_.steered_out;
      wake_pending_[owner] = 1;
      return;
    }
  }
  if (listener == 0) {
    if (core_.OnHbpPacket(pkt, from, now) != route::Verdict::kToControl) return;
    // Keepalives of logged-in clients are answered here, so they survive a busy or absent
    // control plane (DESIGN.md §2).
    proto::HbpIdPacket ping;
    const route::RouteSnapshot* snap = core_.snapshot();
    if (snap != nullptr && proto::ClassifyHbp(pkt) == proto::HbpType::kRptping &&
        proto::DecodeHbpIdPacket(pkt, &ping) == proto::Reject::kOk &&
        liveness_.OnPing(*snap, ping.value, from, now)) {
      uint8_t pong[proto::kMstpongBytes];
      const size_t len = proto::EncodeHbpIdPacket(proto::HbpType::kMstpong, ping.value, pong);
      SendRaw(0, from, {pong, len});
      ++counters_.pongs;
      return;
    }
    ToControl(0, 0, pkt, from);
    return;
  }
  const int64_t peer = ResolvePeer(listener, from);
  if (peer < 0) {
    ++counters_.unknown_peer;
    return;
  }
  if (core_.OnObpPacket(static_cast<uint32_t>(peer), pkt, from, now) ==
      route::Verdict::kToControl) {
    ToControl(listener, static_cast<uint32_t>(peer), pkt, from);
  }
}

unsigned KernelShard::PollSocket(uint32_t listener, route::TimeNs now) {
  for (unsigned i = 0; i < kRxBurst; ++i) rx_msg_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
  const int n = recvmmsg(sockets_[listener], rx_msg_, kRxBurst, MSG_DONTWAIT, nullptr);
  if (n <= 0) return 0;
  counters_.rx_datagrams += static_cast<unsigned>(n);
  for (int i = 0; i < n; ++i) {
    if (i + 1 < n) __builtin_prefetch(rx_buf_[i + 1]);
    if (ABSL_PREDICT_FALSE(rx_msg_[i].msg_hdr.msg_flags & MSG_TRUNC)) {
      ++counters_.rx_truncated;
      continue;
    }
    Process(listener, {rx_buf_[i], rx_msg_[i].msg_len}, FromSockaddr(rx_addr_[i]), now, false);
  }
  return static_cast<unsigned>(n);
}

unsigned KernelShard::PollSteered(route::TimeNs now) {
  unsigned total = 0;
  for (rte_ring* r : steer_in_) {
    if (r == nullptr) continue;
    rte_mbuf* m[32];
    const unsigned n = ipc::ReceiveMbufs(r, m, 32);
    for (unsigned i = 0; i < n; ++i) {
      const ipc::PacketMeta meta = ipc::MetaOf(m[i]);
      if (meta.listener_kind < sockets_.size()) {
        Process(meta.listener_kind, ipc::BytesOf(m[i]), meta.addr, now, true);
      }
      ipc::FreeMbuf(m[i]);
    }
    counters_.steered_in += n;
    total += n;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// Timers and the loop

void KernelShard::SendHealth(route::TimeNs now) {
  const route::ShardCounters& c = core_.counters();
  uint64_t dropped = c.rejects.total_rejects() + c.sink_full + counters_.rx_truncated +
                     counters_.tx_errors + counters_.steer_full + counters_.to_control_full;
  for (uint64_t d : c.drops) dropped += d;
  ipc::WorkerHealth h{};
  h.packets_in = counters_.rx_datagrams;
  h.packets_out = counters_.tx_datagrams;
  h.dropped = dropped;
  h.events_dropped = counters_.events_dropped;
  h.live_streams = core_.live_streams();
  h.generation_low = static_cast<uint32_t>(generation_);
  h.at = now;
  ipc::Message m =
      ipc::Message::Make(ipc::MsgType::kWorkerHealth, static_cast<uint8_t>(config_.index), h);
  m.seq = seq_++;
  if (!ipc::SendMessage(channel_.evt, m)) ++counters_.events_dropped;
}

void KernelShard::Timers(route::TimeNs now) {
  if (now >= next_expire_) {
    next_expire_ = now + kExpireEvery;
    core_.Expire(now);
  }
  if (now >= next_health_) {
    next_health_ = now + kHealthEvery;
    // Keepalive timeouts are whole seconds: one pass over the client slots a second is enough.
    liveness_.Expire(now, [&](uint32_t slot, uint32_t id) {
      const ipc::Message m =
          ipc::Message::Make(ipc::MsgType::kClientLost, static_cast<uint8_t>(config_.index),
                             ipc::ClientLost{slot, id, now});
      if (!ipc::SendMessage(channel_.evt, m)) ++counters_.events_dropped;
    });
    SendHealth(now);
  }
}

void KernelShard::WaitForWork() {
  pollfd fds[16];
  nfds_t n = 0;
  for (int fd : sockets_) {
    if (n < 15) fds[n++] = {fd, POLLIN, 0};
  }
  const int wake = wake_fds_.empty() ? -1 : wake_fds_[config_.index];
  if (wake >= 0) fds[n++] = {wake, POLLIN, 0};
  if (poll(fds, n, kIdlePollMs) > 0 && wake >= 0 && (fds[n - 1].revents & POLLIN)) {
    uint64_t v;
    [[maybe_unused]] ssize_t r = read(wake, &v, sizeof(v));
  }
}

void KernelShard::Run(const std::atomic<bool>& stop) {
  while (!stop.load(std::memory_order_relaxed) && !stop_requested_) {
    const route::TimeNs now = RealtimeNs();
    unsigned work = PollCommands(now) ? 1 : 0;
    work += PollFromControl();
    work += PollSteered(now);
    for (uint32_t l = 0; l < sockets_.size(); ++l) work += PollSocket(l, now);
    FlushAll();
    Timers(now);
    for (uint32_t s = 0; s < wake_pending_.size(); ++s) {
      if (wake_pending_[s] == 0) continue;
      wake_pending_[s] = 0;
      const uint64_t one = 1;
      [[maybe_unused]] ssize_t r = write(wake_fds_[s], &one, sizeof(one));
    }
    if (cp_wake_pending_ && cp_wake_fd_ >= 0) {
      cp_wake_pending_ = false;
      const uint64_t one = 1;
      [[maybe_unused]] ssize_t r = write(cp_wake_fd_, &one, sizeof(one));
    }
    if (work == 0) WaitForWork();
  }
  FlushAll();
}

}  // namespace dmrswitch::io
