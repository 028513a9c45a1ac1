// ShardLink: the control plane's end of the rings (DESIGN.md §6). What the shards send comes in
// here in a fixed order — supervision first (snapshot acks, heartbeats, ClientLost, pongs: never
// crowded out by events), then events merged across shards in time order, then the datagrams they
// hand over to control — together with the commands addressed to the control plane itself.
// Datagrams, commands and wake-ups go out here. Nothing else in the control plane touches a ring.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ctrlplane/datagram.h"
#include "dataplane/ipc/channel.h"
#include "dataplane/route/events.h"

namespace dmrswitch::cp {

class ShardLink {
 public:
  struct Supervision {
    uint32_t shard;
    ipc::Message message;
  };
  struct Inbox {
    std::vector<Supervision> supervision;  // acks, heartbeats, ClientLost, pongs
    std::vector<route::Event> events;      // every shard's, in time order
    std::vector<Datagram> packets;         // HBP and OpenBridge datagrams for the components
    std::vector<ipc::Message> commands;    // cp_cmd: reload, drain, resume
    std::vector<ipc::ClientPings> pings;   // keepalives the shards answered, per client
    void clear() {
      supervision.clear();
      events.clear();
      pings.clear();
      packets.clear();
      commands.clear();
    }
  };

  // `wake_fds[i]` is poked after handing shard i work (-1: it polls). `cp_cmd` may be null.
  ShardLink(std::vector<ipc::ShardChannel> channels, rte_ring* cp_cmd, rte_mempool* pool,
            std::vector<int> wake_fds);

  // Drains every ring into `in` (appending). Bounded per call, so a flood cannot hold the loop.
  void Poll(Inbox* in);
  // Only the supervision rings (the probe's busy wait).
  void PollSupervision(std::vector<Supervision>* out);
  // Hands `out`'s datagrams to shard 0 and empties it: any socket of a listener's group sends
  // from the listener's address, and one shard keeps a client's replies in order. A peer's
  // datagram leaves by `peer_listener[peer]`.
  void Send(Outbox* out, std::span<const uint32_t> peer_listener);
  // A message without a body to every shard (drain begin / end). False if a ring was full.
  bool Broadcast(ipc::MsgType type);
  bool SendTo(uint32_t shard, const ipc::Message& m);
  // Kernel-mode shards sleep in poll() between packets: after a snapshot publication.
  void WakeAll();
  // A separate control plane: mbufs come from `supply` and go back to `returned`, never to or
  // from the pool (dataplane/ipc/channel.h says why).
  void UseMbufRings(rte_ring* supply, rte_ring* returned) {
    supply_ = supply;
    return_ = returned;
  }

  uint32_t nshards() const { return static_cast<uint32_t>(channels_.size()); }
  const std::vector<ipc::ShardChannel>& channels() const { return channels_; }
  // Datagrams the control plane could not hand to the shards (pool or ring full).
  uint64_t dropped_to_shards() const { return dropped_to_shards_; }

 private:
  void Wake(uint32_t shard);
  rte_mbuf* NewMbuf(std::span<const uint8_t> bytes, const ipc::PacketMeta& meta);
  void Release(rte_mbuf* m);
  void ReturnHeld();

  std::vector<ipc::ShardChannel> channels_;
  rte_ring* cp_cmd_;
  rte_mempool* pool_;
  rte_ring* supply_ = nullptr;
  rte_ring* return_ = nullptr;
  std::vector<rte_mbuf*> held_;  // to go back to return_ once it has room
  std::vector<int> wake_fds_;
  uint64_t dropped_to_shards_ = 0;
};

}  // namespace dmrswitch::cp
