// Kernel mode (DESIGN.md §5): the packet plane on kernel UDP sockets. Sets up one socket per
// shard per listener (SO_REUSEPORT groups), the steering (sk_reuseport program, or user-space
// rings when the kernel refuses it), the control channel, and runs one KernelShardLoop per worker
// lcore. EAL is already initialised (--no-huge: no hugepages, no PCI).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "ctrlplane/config/config.h"
#include "dataplane/io/kernel_shard_loop.h"
#include "dataplane/ipc/channel.h"
#include "dataplane/route/slot_lease.h"

namespace dmrswitch::io {

// The parts of a shard's configuration that every I/O mode derives from the hub's config.
RuntimeConfig MakeEngineConfig(const cp::HubConfig& config, uint32_t shard);
// Listener 0 = HBP, then the distinct OpenBridge listen addresses in configuration order.
ListenerPlan MakeListenerPlan(const cp::HubConfig& config);

class KernelPlane {
 public:
  // Opens the sockets and rings; `cp_wake_fd` is poked when the shards hand packets to control.
  static absl::StatusOr<std::unique_ptr<KernelPlane>> Create(const cp::HubConfig& config,
                                                             const std::string& ring_prefix,
                                                             int cp_wake_fd);
  ~KernelPlane();

  // Launches the shards on the worker lcores (shard i on the i-th worker).
  absl::Status Launch();
  // Asks the shards to stop and waits for them.
  void Stop();

  ipc::ChannelSet& channels() { return channels_; }
  route::SlotLeases& leases() { return *leases_; }
  bool bpf_steering() const { return bpf_steering_; }
  const std::vector<int>& wake_fds() const { return wake_fds_; }
  // The HBP listener's port (useful when configured as 0).
  uint16_t hbp_port() const;

 private:
  KernelPlane() = default;
  static int ShardMain(void* arg);

  std::vector<std::vector<int>> sockets_;  // [shard][listener]
  ipc::ChannelSet channels_;
  std::unique_ptr<route::SlotLeases> leases_;
  std::vector<std::unique_ptr<KernelShardLoop>> shards_;
  std::vector<rte_ring*> steer_rings_;  // [from * n + to]
  std::vector<int> wake_fds_;
  std::atomic<bool> stop_{false};
  bool bpf_steering_ = false;
  bool launched_ = false;
};

}  // namespace dmrswitch::io
