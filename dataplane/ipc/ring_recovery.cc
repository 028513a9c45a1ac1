#include "dataplane/ipc/ring_recovery.h"

#include <rte_ring.h>

#include "absl/strings/str_cat.h"

namespace dmrswitch::ipc {
namespace {

uint32_t Reset(rte_ring_headtail& side) {
  // Only a single-producer or single-consumer side: on a shared side another live process may be
  // between its own two stores.
  if (side.sync_type != RTE_RING_SYNC_ST) return 0;
  const uint32_t tail = __atomic_load_n(&side.tail, __ATOMIC_ACQUIRE);
  const uint32_t head = __atomic_load_n(&side.head, __ATOMIC_RELAXED);
  if (head == tail) return 0;
  __atomic_store_n(&side.head, tail, __ATOMIC_RELEASE);
  return head - tail;
}

}  // namespace

uint32_t ResetInterruptedEnqueue(rte_ring* ring) { return Reset(ring->prod); }
uint32_t ResetInterruptedDequeue(rte_ring* ring) { return Reset(ring->cons); }

std::vector<RingRepair> RecoverControlPlaneRings(ChannelSet& channels) {
  std::vector<RingRepair> out;
  const auto check = [&](rte_ring* r, bool producer) {
    if (r == nullptr) return;
    const uint32_t n = producer ? ResetInterruptedEnqueue(r) : ResetInterruptedDequeue(r);
    if (n != 0) out.push_back(RingRepair{r->name, producer, n});
  };
  check(channels.cp_cmd(), false);
  check(channels.cp_supply(), false);
  check(channels.cp_return(), true);
  for (uint32_t s = 0; s < channels.nshards(); ++s) {
    ShardChannel& c = channels.shard(s);
    check(c.cmd, true);
    check(c.pkt_down, true);
    check(c.evt, false);
    check(c.sup, false);
    check(c.pkt_up, false);
  }
  return out;
}

}  // namespace dmrswitch::ipc
