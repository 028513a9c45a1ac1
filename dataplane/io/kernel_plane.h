// Kernel mode (DESIGN.md §5): the packet plane on kernel UDP sockets. Sets up one socket per
// shard per listener (SO_REUSEPORT groups), the steering (sk_reuseport program, or user-space
// rings when the kernel refuses it), the XDP shield in front of them when [xdp] names an
// interface, and one KernelShardLoop per shard. EAL is already initialised (--no-huge: no
// hugepages, no PCI).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/io/kernel_shard_loop.h"
#include "dataplane/io/plane.h"
#include "dataplane/io/xdp/xdp_shield.h"

namespace dmrswitch::io {

class KernelPlane final : public Plane {
 public:
  // Opens the sockets and rings; `cp_wake_fd` is poked when the shards hand packets to control.
  static absl::StatusOr<std::unique_ptr<Plane>> Create(const PlaneConfig& config, int cp_wake_fd);
  ~KernelPlane() override;

  std::vector<int> wake_fds() const override { return wake_fds_; }
  std::string Summary() const override;
  // One line per shard (logged at stop): what it received, routed and sent, and what steering
  // moved between shards.
  std::vector<std::string> ShardSummaries() const override;
  bool bpf_steering() const { return bpf_steering_; }
  // The attached shield, or null (none configured, or attach = "auto" and it failed).
  const XdpShield* shield() const { return shield_.get(); }

 private:
  explicit KernelPlane(const PlaneConfig& config) : Plane(config) {}
  void RunShard(uint32_t shard, const std::atomic<bool>& stop) override;
  void WakeShards() override;

  std::vector<std::vector<int>> sockets_;  // [shard][listener]
  std::vector<std::unique_ptr<KernelShardLoop>> shards_;
  std::vector<rte_ring*> steer_rings_;  // [from * n + to]
  std::vector<int> wake_fds_;
  bool bpf_steering_ = false;
  // Detached (program and pins removed) when the plane goes, on every exit path but SIGKILL,
  // whose leftovers the next start's Attach replaces.
  std::unique_ptr<XdpShield> shield_;
  std::string shield_refused_;  // why an "auto" shield is not there
};

}  // namespace dmrswitch::io
