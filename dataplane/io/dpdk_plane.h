// DPDK mode (DESIGN.md §5): the packet plane on DPDK ports — NICs, or virtual devices (net_pcap,
// net_af_packet, net_af_xdp, net_tap, net_memif, net_null) named in `[dpdk] eal_args`. EAL is
// already initialised with those arguments. Every port gets one RX/TX queue pair per shard (RSS
// spreads ingress where the port has it; the shards steer by stream ID among themselves), one
// mbuf pool per NUMA socket, and one DpdkShardLoop per worker lcore.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ctrlplane/config/config.h"
#include "dataplane/io/dpdk_shard_loop.h"
#include "dataplane/ipc/channel.h"
#include "dataplane/route/slot_lease.h"

namespace dmrswitch::io {

class DpdkPlane {
 public:
  static absl::StatusOr<std::unique_ptr<DpdkPlane>> Create(const cp::HubConfig& config,
                                                           const std::string& ring_prefix);
  ~DpdkPlane();

  absl::Status Launch();
  void Stop();

  ipc::ChannelSet& channels() { return channels_; }
  // After Stop: one line per shard with its counters and loop latency percentiles.
  std::vector<std::string> ShardSummaries() const;
  // One line per port: name, driver, MAC, queues, RSS.
  const std::vector<std::string>& port_descriptions() const { return port_descriptions_; }

 private:
  DpdkPlane() = default;
  static int ShardMain(void* arg);

  std::vector<uint16_t> ports_;
  std::vector<std::string> port_descriptions_;
  ipc::ChannelSet channels_;
  std::unique_ptr<route::SlotLeases> leases_;
  std::vector<std::unique_ptr<DpdkShardLoop>> shards_;
  std::atomic<bool> stop_{false};
  bool launched_ = false;
};

}  // namespace dmrswitch::io
