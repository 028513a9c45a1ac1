// Rings a killed control plane was in the middle of. A single-producer enqueue moves the ring's
// producer head, copies the elements and then moves the producer tail (the consumer reads up to
// the tail); a single-consumer dequeue does the same with the consumer's head and tail. A process
// killed between the two stores leaves head ahead of tail for ever: the next producer would
// write after the gap and publish the gap with it (stale elements from an earlier lap — an old
// SnapshotPublish, an mbuf already sent), and the next consumer would skip what the gap holds.
//
// A successor control plane, the only producer or consumer of its side of these rings once it
// has claimed the plane (ClaimControl), puts each head back on its tail before it touches them:
// the interrupted enqueue never happened (its mbufs, at most one burst, are lost to the pool),
// the interrupted dequeue is read again (its caller never saw the elements).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/ipc/channel.h"

namespace dmrswitch::ipc {

struct RingRepair {
  std::string ring;
  // The cp's enqueue (cmd, pkt_down, cp_return) or its dequeue (evt, sup, pkt_up, cp_cmd,
  // cp_supply).
  bool producer_side;
  uint32_t entries;  // elements between head and tail
};

// Repairs the control plane's side of every ring in `channels`; returns what it repaired.
std::vector<RingRepair> RecoverControlPlaneRings(ChannelSet& channels);

// One ring: its producer head back to the tail (the caller is its only producer) or its consumer
// head (the only consumer). The number of elements between them before; 0: nothing to repair.
uint32_t ResetInterruptedEnqueue(rte_ring* ring);
uint32_t ResetInterruptedDequeue(rte_ring* ring);

}  // namespace dmrswitch::ipc
