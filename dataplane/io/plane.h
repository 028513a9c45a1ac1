// The packet plane of one I/O mode (DESIGN.md §2, §5): its shards, the control channel to the
// control plane, and the slot leases they share. A mode (kernel sockets, DPDK ports, DPDK's
// AF_XDP driver) sets up its devices and shard loops in its factory; launching the shards on the
// worker lcores, stopping them and everything the control plane attaches to are here, once.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dataplane/io/plane_config.h"
#include "dataplane/io/shard_runtime.h"
#include "dataplane/ipc/channel.h"
#include "dataplane/ipc/shard_stats.h"
#include "dataplane/route/slot_lease.h"

namespace dmrswitch::io {

class Plane {
 public:
  virtual ~Plane();
  Plane(const Plane&) = delete;
  Plane& operator=(const Plane&) = delete;

  // Runs shard i on the i-th worker lcore (EAL has one per shard).
  absl::Status Launch();
  // Asks the shards to stop and waits for them.
  void Stop();

  const PlaneConfig& config() const { return config_; }
  ipc::ChannelSet& channels() { return channels_; }
  // The shards' counter blocks (memzone "<ring_prefix>_stats", ipc/shard_stats.h): any thread or
  // process may read them at any time.
  const ipc::ShardStatsZone* stats() const { return stats_; }
  // The listeners as bound (kernel mode: a port configured as 0 is the one the kernel chose).
  const std::vector<route::Endpoint>& listeners() const { return listeners_; }
  // Per shard: the fd that wakes it from an idle wait after the control plane handed it work,
  // or -1 where the shard never sleeps.
  virtual std::vector<int> wake_fds() const { return std::vector<int>(config_.shards, -1); }
  // How the plane reaches the network, for the start-up line (e.g. "steering sk_reuseport BPF").
  virtual std::string Summary() const = 0;
  // Start-up lines about the devices (DPDK ports), if any.
  virtual std::vector<std::string> DeviceLines() const { return {}; }
  // After Stop: one line per shard with its counters.
  virtual std::vector<std::string> ShardSummaries() const { return {}; }

 protected:
  explicit Plane(const PlaneConfig& config);
  // The shard loop of shard `shard`; returns when `stop` becomes true or the shard is told to.
  virtual void RunShard(uint32_t shard, const std::atomic<bool>& stop) = 0;
  // Called once `stop` is set, so that sleeping shards notice at once.
  virtual void WakeShards() {}
  // What every mode's shard `shard` runs its ShardRuntime with.
  RuntimeConfig ShardRuntimeConfig(uint32_t shard) const;
  // The XDP shield's options for this plane: config_.shield, and the listeners' ports with their
  // family (HBP for route::kHbpListener, OpenBridge/FBP for the others).
  XdpShieldOptions ShieldOptions() const;
  // Reserves the counter blocks; a mode's factory calls it before it builds its shards.
  absl::Status CreateStats();

  PlaneConfig config_;
  std::vector<route::Endpoint> listeners_;
  ipc::ChannelSet channels_;
  std::unique_ptr<route::SlotLeases> leases_;
  ipc::ShardStatsZone* stats_ = nullptr;

 private:
  struct Launched {
    Plane* plane;
    uint32_t shard;
  };
  static int ShardMain(void* arg);

  std::vector<Launched> launched_shards_;
  std::atomic<bool> stop_{false};
  bool launched_ = false;
};

// The plane of `config.mode`, set up and ready to launch. EAL is initialised. `cp_wake_fd` is
// poked when kernel-mode shards hand packets to a hosted control plane (-1: none).
absl::StatusOr<std::unique_ptr<Plane>> CreatePlane(const PlaneConfig& config, int cp_wake_fd);

}  // namespace dmrswitch::io
