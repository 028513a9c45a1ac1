// The rings between one shard and the control plane (DESIGN.md §6), and the packet pool they
// share. Messages travel by value (64-byte ring elements); datagrams travel as mbufs whose
// private area says which listener they belong to and the remote address.
//
//   cmd       cp → shard   ipc::Message   SnapshotPublish, Stop
//   evt       shard → cp   ipc::Message   packet-plane events (StreamStarted/Ended/...)
//   sup       shard → cp   ipc::Message   supervision: SnapshotAck, WorkerHealth, ClientLost — a
//                                          ring of their own, so a flood of events never loses
//                                          an ack or a heartbeat
//   pkt_up    shard → cp   rte_mbuf*      datagrams the shard hands to control (logins, BCKA ...)
//   pkt_down  cp → shard   rte_mbuf*      datagrams the control plane wants sent
//   cp_cmd    any → cp     ipc::Message   Reload (one per hub, not per shard)
//   cp_supply dp → cp      rte_mbuf*      empty control mbufs for a separate cp (pkt_down)
//   cp_return cp → dp      rte_mbuf*      control mbufs a separate cp is done with (pkt_up)
//
// A separate control plane never takes mbufs from the shared pool or gives them back itself: the
// pool's ring has several producers and consumers, and a cp killed inside one of its operations
// would leave that ring's tail behind its head for ever — the next shard to refill or flush its
// mempool cache would wait for it and stop routing. It gets them from cp_supply and returns them
// to cp_return, single-producer single-consumer rings whose cp side a successor repairs
// (ring_recovery.h); the dp's main lcore serves both (ServeControlMbufs).
//
// Every per-shard ring has one producer and one consumer. Nothing blocks: a full ring refuses, and
// the producer counts what it could not send.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/ipc/messages.h"
#include "dataplane/route/types.h"

struct rte_ring;
struct rte_mempool;
struct rte_mbuf;

namespace dmrswitch::ipc {

// Stored in each mbuf's private area.
struct PacketMeta {
  uint32_t listener;     // packet-plane listener (route::kHbpListener, or an OpenBridge one)
  uint32_t peer;         // pkt_up from an OpenBridge listener: the peer it came from (snapshot
                         // index); unused otherwise
  route::Endpoint addr;  // source (up, and between shards) or destination (down)
};

struct ShardChannel {
  rte_ring* cmd = nullptr;
  rte_ring* evt = nullptr;
  rte_ring* sup = nullptr;
  rte_ring* pkt_up = nullptr;
  rte_ring* pkt_down = nullptr;
};

class ChannelSet {
 public:
  // Creates the rings of `nshards` shards and the packet pool, named after `prefix` so that a
  // secondary process can look them up.
  static absl::StatusOr<ChannelSet> Create(const std::string& prefix, uint32_t nshards,
                                           uint32_t ring_size = 4096);
  // Looks up the rings and pool that a primary created with Create(prefix, nshards) (DPDK
  // secondary process: dmrswitch-cp).
  static absl::StatusOr<ChannelSet> Attach(const std::string& prefix, uint32_t nshards);
  uint32_t nshards() const { return static_cast<uint32_t>(shards_.size()); }
  ShardChannel& shard(uint32_t i) { return shards_[i]; }
  rte_mempool* pool() const { return pool_; }
  // Commands addressed to the control plane itself (reload, later drain): several producers
  // (signal glue, dmrswitch-ctl), one consumer.
  rte_ring* cp_cmd() const { return cp_cmd_; }
  // A separate control plane's mbufs (above).
  rte_ring* cp_supply() const { return cp_supply_; }
  rte_ring* cp_return() const { return cp_return_; }

 private:
  std::vector<ShardChannel> shards_;
  rte_ring* cp_cmd_ = nullptr;
  rte_ring* cp_supply_ = nullptr;
  rte_ring* cp_return_ = nullptr;
  rte_mempool* pool_ = nullptr;
};

// The dp's side of a separate control plane's mbufs: frees what the cp returned and fills the
// supply up again from the pool. Returns the mbufs freed.
unsigned ServeControlMbufs(ChannelSet& channels);

bool SendMessage(rte_ring* r, const Message& m);
unsigned RingFill(const rte_ring* r);
unsigned RingCapacity(const rte_ring* r);
unsigned ReceiveMessages(rte_ring* r, Message* out, unsigned max);

// Copies a datagram into a new mbuf from `pool` (nullptr when the pool is empty or the datagram
// does not fit).
rte_mbuf* PacketToMbuf(rte_mempool* pool, std::span<const uint8_t> bytes, const PacketMeta& meta);
// The same into `m`, an empty mbuf (false, and `m` unchanged, when the datagram does not fit).
bool FillMbuf(rte_mbuf* m, std::span<const uint8_t> bytes, const PacketMeta& meta);
PacketMeta& MetaOf(rte_mbuf* m);
std::span<const uint8_t> BytesOf(const rte_mbuf* m);
void FreeMbuf(rte_mbuf* m);
bool SendMbuf(rte_ring* r, rte_mbuf* m);  // false (mbuf not consumed) when full
unsigned ReceiveMbufs(rte_ring* r, rte_mbuf** out, unsigned max);

}  // namespace dmrswitch::ipc
