// afxdp mode (DESIGN.md §5, docs/dpdk-mode.md "afxdp mode"): the dpdk-mode plane (DpdkPlane, the
// same shard loop) on DPDK's net_af_xdp, with the XDP shield as the port's XDP program. The pieces
// here are what differs around DPDK:
//  * before EAL starts, the shield's leftovers on the interface are removed (net_af_xdp refuses
//    an interface that carries any XDP program) and the port's vdev argument is built — by the
//    dp, not the operator: the interface from [xdp], one queue per shard, our object as
//    xdp_prog=;
//  * after the port started, how the kernel bound its AF_XDP sockets (zero-copy or copy);
//  * the kernel keeps the interface's address and answers ARP and ICMP itself (the shield
//    redirects only hub traffic), so a next hop the shards never heard from is resolved by the
//    kernel: KernelNeighbors.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/io/dpdk_shard_loop.h"
#include "dataplane/io/plane_config.h"

struct rte_ring;

namespace dmrswitch::io {

// The --vdev EAL argument of afxdp mode's one port:
//   net_af_xdp0,iface=<xdp.interface>,start_queue=0,queue_count=<shards>,xdp_prog=<shield object>
// Removes a stale shield (a SIGKILLed dp's, or a kernel-mode one) from the interface and the
// runtime's stale pins first. Warns when the interface has more RX queues than the hub takes
// (traffic hashed to the others reaches the kernel, which has no socket for it).
absl::StatusOr<std::string> PrepareAfXdpPort(const PlaneConfig& config);

// How the kernel bound this process's AF_XDP sockets: "zero-copy", "copy", or "unknown" (no
// socket found). Read from the sockets themselves (XDP_OPTIONS), since DPDK does not say.
std::string AfXdpBindMode();

// A next hop the kernel resolved, as the shards take it (DpdkShardLoop's NeighborUpdate).
struct KernelNeighborsCounters {
  std::atomic<uint64_t> requests{0};  // addresses the shards asked for
  std::atomic<uint64_t> resolved{0};  // neighbour entries handed to the shards
};

// Resolves next hops through the kernel's neighbour table (ARP) for the shards of an afxdp
// plane, on a thread of its own. A shard that has no MAC for a destination puts its IPv4 address
// (uint32_t, host order) on its `requests` ring; the thread asks the kernel to resolve it
// (RTM_NEWNEIGH with NTF_USE, as `ip neigh replace ADDR dev IF use` does) and hands every
// neighbour the kernel knows on the interface — a dump at start, then its RTNLGRP_NEIGH
// notifications — to every shard on its `updates` ring, as learned on `port`.
class KernelNeighbors {
 public:
  static absl::StatusOr<std::unique_ptr<KernelNeighbors>> Start(const std::string& interface,
                                                                uint16_t port,
                                                                std::vector<rte_ring*> requests,
                                                                std::vector<rte_ring*> updates);
  ~KernelNeighbors();
  KernelNeighbors(const KernelNeighbors&) = delete;
  KernelNeighbors& operator=(const KernelNeighbors&) = delete;

  const KernelNeighborsCounters& counters() const { return counters_; }

 private:
  KernelNeighbors() = default;
  void Loop();
  void Receive();
  void Resolve(const NeighborRequest& r);

  int netlink_ = -1;
  int ifindex_ = 0;
  uint16_t port_ = 0;
  uint32_t sequence_ = 0;
  std::vector<rte_ring*> requests_;
  std::vector<rte_ring*> updates_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  KernelNeighborsCounters counters_;
};

}  // namespace dmrswitch::io
