#include "dataplane/io/kernel_plane.h"

#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "dataplane/io/steering/reuseport_steering.h"
#include "dataplane/io/udp_socket.h"
#include "spdlog/spdlog.h"

namespace dmrswitch::io {

RuntimeConfig MakeEngineConfig(const cp::HubConfig& config, uint32_t shard) {
  RuntimeConfig e;
  e.index = shard;
  e.nshards = config.hub.shards;
  e.core.stream_capacity = config.hub.stream_capacity;
  e.core.table_seed = 0x5EED5EED ^ (shard * 0x9E3779B9u);
  e.ping_timeout = route::TimeNs{config.hbp.ping_time_s} * config.hbp.max_missed * route::kSec;
  return e;
}

ListenerPlan MakeListenerPlan(const cp::HubConfig& config) {
  ListenerPlan plan;
  plan.endpoints.push_back(config.hbp.listen);
  plan.peers_of_listener.emplace_back();
  for (const route::Endpoint& e : config.obp_listeners) {
    plan.endpoints.push_back(e);
    plan.peers_of_listener.emplace_back();
  }
  for (uint32_t p = 0; p < config.obp.size(); ++p) {
    const uint32_t l = config.obp[p].listener + 1;
    plan.listener_of_peer.push_back(l);
    plan.peers_of_listener[l].push_back(p);
  }
  return plan;
}

absl::StatusOr<std::unique_ptr<KernelPlane>> KernelPlane::Create(const cp::HubConfig& config,
                                                                 const std::string& ring_prefix,
                                                                 int cp_wake_fd) {
  std::unique_ptr<KernelPlane> k(new KernelPlane());
  const uint32_t n = config.hub.shards;

  ListenerPlan plan = MakeListenerPlan(config);

  // Sockets: shard 0 binds first; if a port is 0 (tests), the others join the port it got.
  k->sockets_.assign(n, std::vector<int>(plan.endpoints.size(), -1));
  for (size_t l = 0; l < plan.endpoints.size(); ++l) {
    for (uint32_t s = 0; s < n; ++s) {
      auto fd = OpenReuseportUdp(plan.endpoints[l]);
      if (!fd.ok()) return fd.status();
      k->sockets_[s][l] = *fd;
      if (s == 0 && plan.endpoints[l].port == 0) plan.endpoints[l].port = BoundPort(*fd);
    }
  }

  // Steering.
  bool userspace = n > 1 && config.hub.steering == cp::Steering::kUserspace;
  if (n > 1 && config.hub.steering != cp::Steering::kUserspace) {
    absl::Status st = absl::OkStatus();
    for (size_t l = 0; l < plan.endpoints.size() && st.ok(); ++l) {
      auto prog = ReuseportSteering::Load(n);
      if (!prog.ok()) {
        st = prog.status();
        break;
      }
      std::vector<int> group;
      for (uint32_t s = 0; s < n; ++s) group.push_back(k->sockets_[s][l]);
      st = (*prog)->AttachGroup(group);
    }
    if (!st.ok()) {
      if (config.hub.steering == cp::Steering::kBpf) {
        return absl::FailedPreconditionError(
            absl::StrCat("hub.steering = \"bpf\": ", st.message()));
      }
      // Said once, at start: the hub works either way, a little slower.
      spdlog::warn("{}; steering by stream ID in user space instead", std::string(st.message()));
      userspace = true;
      // The program may have been attached to some groups: fresh sockets drop it.
      for (auto& row : k->sockets_) {
        for (int& fd : row) close(fd);
      }
      for (size_t l = 0; l < plan.endpoints.size(); ++l) {
        for (uint32_t s = 0; s < n; ++s) {
          auto fd = OpenReuseportUdp(plan.endpoints[l]);
          if (!fd.ok()) return fd.status();
          k->sockets_[s][l] = *fd;
        }
      }
    } else {
      k->bpf_steering_ = true;
    }
  }

  auto channels = ipc::ChannelSet::Create(ring_prefix, n);
  if (!channels.ok()) return channels.status();
  k->channels_ = std::move(*channels);
  k->leases_ = std::make_unique<route::SlotLeases>(config.hbp.max_clients);

  for (uint32_t s = 0; s < n; ++s) {
    const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) return absl::InternalError("eventfd failed");
    k->wake_fds_.push_back(fd);
  }
  k->steer_rings_.assign(size_t{n} * n, nullptr);
  if (userspace) {
    for (uint32_t from = 0; from < n; ++from) {
      for (uint32_t to = 0; to < n; ++to) {
        if (from == to) continue;
        const std::string name = absl::StrCat(ring_prefix, "_st", from, "_", to);
        rte_ring* r = rte_ring_create_elem(name.c_str(), sizeof(void*), 4096, SOCKET_ID_ANY,
                                           RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (r == nullptr) {
          return absl::ResourceExhaustedError(
              absl::StrCat("cannot create steering ring ", name, ": ", rte_strerror(rte_errno)));
        }
        k->steer_rings_[size_t{from} * n + to] = r;
      }
    }
  }

  for (uint32_t s = 0; s < n; ++s) {
    KernelShardLoopConfig sc;
    sc.engine = MakeEngineConfig(config, s);
    sc.userspace_steering = userspace;
    std::vector<rte_ring*> in(n, nullptr), out(n, nullptr);
    for (uint32_t o = 0; o < n; ++o) {
      in[o] = k->steer_rings_[size_t{o} * n + s];
      out[o] = k->steer_rings_[size_t{s} * n + o];
    }
    k->shards_.push_back(std::make_unique<KernelShardLoop>(
        sc, k->leases_.get(), k->channels_.shard(s), k->channels_.pool(), plan, k->sockets_[s], in,
        out, k->wake_fds_, cp_wake_fd));
  }
  return k;
}

KernelPlane::~KernelPlane() {
  Stop();
  for (auto& row : sockets_) {
    for (int fd : row) {
      if (fd >= 0) close(fd);
    }
  }
  for (int fd : wake_fds_) close(fd);
}

uint16_t KernelPlane::hbp_port() const { return BoundPort(sockets_[0][0]); }

int KernelPlane::ShardMain(void* arg) {
  auto* self = static_cast<std::pair<KernelPlane*, uint32_t>*>(arg);
  self->first->shards_[self->second]->Run(self->first->stop_);
  delete self;
  return 0;
}

absl::Status KernelPlane::Launch() {
  uint32_t s = 0;
  unsigned lcore;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    if (s == shards_.size()) break;
    auto* arg = new std::pair<KernelPlane*, uint32_t>(this, s);
    if (rte_eal_remote_launch(&KernelPlane::ShardMain, arg, lcore) != 0) {
      delete arg;
      return absl::InternalError(absl::StrCat("cannot launch shard ", s, " on lcore ", lcore));
    }
    ++s;
  }
  if (s != shards_.size()) {
    return absl::InternalError(
        absl::StrCat("EAL has ", s, " worker lcores for ", shards_.size(), " shards"));
  }
  launched_ = true;
  return absl::OkStatus();
}

void KernelPlane::Stop() {
  if (!launched_) return;
  stop_.store(true);
  for (int fd : wake_fds_) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t r = write(fd, &one, sizeof(one));
  }
  rte_eal_mp_wait_lcore();
  launched_ = false;
}

}  // namespace dmrswitch::io
