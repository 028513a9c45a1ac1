// DPDK mode (DESIGN.md §5): the packet plane on DPDK ports — NICs, or virtual devices (net_pcap,
// net_af_packet, net_af_xdp, net_tap, net_memif, net_null) named in `[dpdk] eal_args`. EAL is
// already initialised with those arguments. Every port gets one RX/TX queue pair per shard (RSS
// spreads ingress where the port has it; the shards steer by stream ID among themselves), one
// mbuf pool per NUMA socket, and one DpdkShardLoop per shard.
//
// afxdp mode is this plane on DPDK's net_af_xdp (dataplane/io/afxdp.h): the one port's XDP
// program is the shield (loaded by the PMD, adopted here: pins and configuration), and the
// kernel keeps ARP and ICMP, resolving next hops for the shards (KernelNeighbors).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/io/afxdp.h"
#include "dataplane/io/dpdk_shard_loop.h"
#include "dataplane/io/mbuf_budget.h"
#include "dataplane/io/plane.h"
#include "dataplane/io/xdp/xdp_shield.h"

namespace dmrswitch::io {

class DpdkPlane final : public Plane {
 public:
  static absl::StatusOr<std::unique_ptr<Plane>> Create(const PlaneConfig& config);
  // What can hold mbufs of one socket's pool (MbufsFor sizes it): `ports` ports, `shards_here` of
  // the plane's `shards` shards on that socket, queues of `rx_desc`/`tx_desc` descriptors (0:
  // what the plane asks the ports for). dmrswitch-dp --hugepages estimates from it too.
  static MbufDemand PoolDemand(uint32_t ports, uint32_t shards_here, uint32_t shards,
                               uint32_t rx_desc = 0, uint32_t tx_desc = 0);
  ~DpdkPlane() override;

  std::string Summary() const override;
  // One line per port: name, driver, MAC, queues, RSS.
  std::vector<std::string> DeviceLines() const override { return port_descriptions_; }
  // After Stop: one line per shard with its counters and loop latency percentiles.
  std::vector<std::string> ShardSummaries() const override;

 private:
  explicit DpdkPlane(const PlaneConfig& config) : Plane(config) {}
  void RunShard(uint32_t shard, const std::atomic<bool>& stop) override;

  std::vector<uint16_t> ports_;
  std::vector<std::string> port_descriptions_;
  std::vector<std::unique_ptr<DpdkShardLoop>> shards_;
  // afxdp mode
  std::unique_ptr<XdpShield> shield_;  // adopted: Detach unpins, the PMD removes the program
  std::unique_ptr<KernelNeighbors> kernel_neighbors_;
  std::string bind_mode_;  // "zero-copy" / "copy"
};

}  // namespace dmrswitch::io
