#include "ctrlplane/shard_link.h"

#include <unistd.h>

#include <algorithm>

#include "dataplane/route/types.h"

namespace dmrswitch::cp {
namespace {

constexpr int kRounds = 16;  // bursts per ring and call: bounded work per loop

}  // namespace

ShardLink::ShardLink(std::vector<ipc::ShardChannel> channels, rte_ring* cp_cmd, rte_mempool* pool,
                     std::vector<int> wake_fds)
    : channels_(std::move(channels)),
      cp_cmd_(cp_cmd),
      pool_(pool),
      wake_fds_(std::move(wake_fds)) {}

void ShardLink::PollSupervision(std::vector<Supervision>* out) {
  ipc::Message msgs[64];
  for (uint32_t s = 0; s < channels_.size(); ++s) {
    for (int round = 0; round < kRounds; ++round) {
      const unsigned n = ipc::ReceiveMessages(channels_[s].sup, msgs, 64);
      for (unsigned i = 0; i < n; ++i) out->push_back(Supervision{s, msgs[i]});
      if (n < 64) break;
    }
  }
}

rte_mbuf* ShardLink::NewMbuf(std::span<const uint8_t> bytes, const ipc::PacketMeta& meta) {
  if (supply_ == nullptr) return ipc::PacketToMbuf(pool_, bytes, meta);
  rte_mbuf* m = nullptr;
  if (ipc::ReceiveMbufs(supply_, &m, 1) != 1) return nullptr;  // the dp refills it
  if (!ipc::FillMbuf(m, bytes, meta)) {
    Release(m);
    return nullptr;
  }
  return m;
}

void ShardLink::Release(rte_mbuf* m) {
  if (return_ == nullptr) {
    ipc::FreeMbuf(m);
  } else if (!held_.empty() || !ipc::SendMbuf(return_, m)) {
    held_.push_back(m);  // in order, once the dp has made room
  }
}

void ShardLink::ReturnHeld() {
  size_t sent = 0;
  while (sent < held_.size() && ipc::SendMbuf(return_, held_[sent])) ++sent;
  held_.erase(held_.begin(), held_.begin() + static_cast<ptrdiff_t>(sent));
}

void ShardLink::Poll(Inbox* in) {
  if (!held_.empty()) ReturnHeld();
  if (cp_cmd_ != nullptr) {
    ipc::Message cmds[8];
    const unsigned n = ipc::ReceiveMessages(cp_cmd_, cmds, 8);
    in->commands.insert(in->commands.end(), cmds, cmds + n);
  }
  PollSupervision(&in->supervision);
  const size_t first_event = in->events.size();
  ipc::Message msgs[64];
  for (uint32_t s = 0; s < channels_.size(); ++s) {
    for (int round = 0; round < kRounds; ++round) {
      const unsigned n = ipc::ReceiveMessages(channels_[s].evt, msgs, 64);
      for (unsigned i = 0; i < n; ++i) {
        if (msgs[i].type == ipc::MsgType::kEvent) {
          in->events.push_back(msgs[i].As<route::Event>());
        } else if (msgs[i].type == ipc::MsgType::kClientPings) {
          in->pings.push_back(msgs[i].As<ipc::ClientPings>());
        }
      }
      if (n < 64) break;
    }
    rte_mbuf* pkts[32];
    for (int round = 0; round < kRounds; ++round) {
      const unsigned n = ipc::ReceiveMbufs(channels_[s].pkt_up, pkts, 32);
      for (unsigned i = 0; i < n; ++i) {
        const ipc::PacketMeta meta = ipc::MetaOf(pkts[i]);
        const std::span<const uint8_t> bytes = ipc::BytesOf(pkts[i]);
        in->packets.push_back(Datagram{
            meta.listener == route::kHbpListener ? Listener::Hbp() : Listener::Obp(meta.peer),
            meta.addr, std::vector<uint8_t>(bytes.begin(), bytes.end())});
        Release(pkts[i]);
      }
      if (n < 32) break;
    }
  }
  // Each shard's events are in order, but the shards are drained one after the other: a call
  // that started and ended on shard 1 must not be applied before an earlier call on shard 0
  // (single mode keeps the TG used *last*). Merge by the shards' (monotonic) timestamps.
  std::stable_sort(in->events.begin() + static_cast<ptrdiff_t>(first_event), in->events.end(),
                   [](const route::Event& a, const route::Event& b) { return a.at < b.at; });
}

void ShardLink::Send(Outbox* out, std::span<const uint32_t> peer_listener) {
  if (out->empty()) return;
  constexpr uint32_t kShard = 0;
  for (const Datagram& d : *out) {
    uint32_t listener = route::kHbpListener;
    if (d.listener.kind == Listener::kObp) {
      listener = d.listener.peer < peer_listener.size() ? peer_listener[d.listener.peer]
                                                        : route::kNoListener;
      if (listener == route::kNoListener) {
        ++dropped_to_shards_;  // a peer no listener serves: nothing can carry it
        continue;
      }
    }
    const ipc::PacketMeta meta{listener, d.listener.peer, d.addr};
    rte_mbuf* m = NewMbuf(d.bytes, meta);
    if (m == nullptr || !ipc::SendMbuf(channels_[kShard].pkt_down, m)) {
      if (m != nullptr) Release(m);
      ++dropped_to_shards_;
    }
  }
  out->clear();
  Wake(kShard);
}

bool ShardLink::Broadcast(ipc::MsgType type) {
  bool all = true;
  for (uint32_t s = 0; s < channels_.size(); ++s) {
    all &= ipc::SendMessage(channels_[s].cmd, ipc::Message::Make(type, static_cast<uint8_t>(s)));
  }
  return all;
}

bool ShardLink::SendTo(uint32_t shard, const ipc::Message& m) {
  return ipc::SendMessage(channels_[shard].cmd, m);
}

void ShardLink::Wake(uint32_t shard) {
  if (shard >= wake_fds_.size() || wake_fds_[shard] < 0) return;
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t r = write(wake_fds_[shard], &one, sizeof(one));
}

void ShardLink::WakeAll() {
  for (uint32_t s = 0; s < wake_fds_.size(); ++s) Wake(s);
}

}  // namespace dmrswitch::cp
