#include "dataplane/io/plane.h"

#include <rte_launch.h>
#include <rte_lcore.h>

#include "absl/strings/str_cat.h"
#include "dataplane/io/dpdk_plane.h"
#include "dataplane/io/kernel_plane.h"

namespace dmrswitch::io {

Plane::Plane(const PlaneConfig& config) : config_(config), listeners_(config.listeners) {}

Plane::~Plane() = default;

RuntimeConfig Plane::ShardRuntimeConfig(uint32_t shard) const {
  RuntimeConfig r;
  r.index = shard;
  r.nshards = config_.shards;
  r.listeners = static_cast<uint32_t>(config_.listeners.size());
  r.core.stream_capacity = config_.stream_capacity;
  r.core.table_seed = 0x5EED5EED ^ (shard * 0x9E3779B9u);
  r.stats = stats_ != nullptr ? stats_->shard(shard) : nullptr;
  r.core.parrot_recordings = config_.parrot_recordings;
  r.core.parrot_max_frames = config_.parrot_max_frames;
  return r;
}

XdpShieldOptions Plane::ShieldOptions() const {
  XdpShieldOptions o;
  o.interface = config_.shield.interface;
  o.attach = config_.shield.attach;
  o.runtime_name = config_.shield.runtime_name;
  o.afxdp = config_.mode == PlaneMode::kAfXdp;
  o.exempt = config_.shield.exempt;
  o.rate = config_.shield.rate;
  // XdpShieldMaps::SetListeners refuses a port that is both (two listeners on different
  // addresses): the shield knows ports only.
  for (size_t l = 0; l < listeners_.size(); ++l) {
    o.listeners.push_back(XdpListener{listeners_[l].port, l == route::kHbpListener
                                                              ? XdpListenerFamily::kHbp
                                                              : XdpListenerFamily::kOpenBridge});
  }
  return o;
}

absl::Status Plane::CreateStats() {
  auto zone = ipc::CreateShardStatsZone(config_.ring_prefix, config_.shards);
  if (!zone.ok()) return zone.status();
  stats_ = *zone;
  return absl::OkStatus();
}

int Plane::ShardMain(void* arg) {
  const auto* l = static_cast<const Launched*>(arg);
  l->plane->RunShard(l->shard, l->plane->stop_);
  return 0;
}

absl::Status Plane::Launch() {
  launched_shards_.clear();
  for (uint32_t s = 0; s < config_.shards; ++s) launched_shards_.push_back(Launched{this, s});
  uint32_t s = 0;
  unsigned lcore;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    if (s == config_.shards) break;
    if (rte_eal_remote_launch(&Plane::ShardMain, &launched_shards_[s], lcore) != 0) {
      return absl::InternalError(absl::StrCat("cannot launch shard ", s, " on lcore ", lcore));
    }
    launched_ = true;
    ++s;
  }
  if (s != config_.shards) {
    return absl::FailedPreconditionError(absl::StrCat(
        "EAL has ", s, " worker lcore(s) for ", config_.shards,
        " shard(s): give EAL one lcore per shard plus one for the main lcore (dpdk.eal_args, "
        "e.g. \"-l 0-",
        config_.shards, "\")"));
  }
  return absl::OkStatus();
}

void Plane::Stop() {
  if (!launched_) return;
  stop_.store(true);
  WakeShards();
  rte_eal_mp_wait_lcore();
  launched_ = false;
}

absl::StatusOr<std::unique_ptr<Plane>> CreatePlane(const PlaneConfig& config, int cp_wake_fd) {
  switch (config.mode) {
    case PlaneMode::kKernel:
      return KernelPlane::Create(config, cp_wake_fd);
    case PlaneMode::kDpdk:
    case PlaneMode::kAfXdp:
      return DpdkPlane::Create(config);
  }
  return absl::InvalidArgumentError("unknown packet plane mode");
}

}  // namespace dmrswitch::io
