#include "dataplane/io/kernel_plane.h"

#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dataplane/io/steering/reuseport_steering.h"
#include "dataplane/io/udp_socket.h"
#include "spdlog/spdlog.h"

namespace dmrswitch::io {

absl::StatusOr<std::unique_ptr<Plane>> KernelPlane::Create(const PlaneConfig& config,
                                                           int cp_wake_fd) {
  std::unique_ptr<KernelPlane> k(new KernelPlane(config));
  const uint32_t n = config.shards;
  std::vector<route::Endpoint>& listeners = k->listeners_;

  // Sockets: shard 0 binds first; if a port is 0 (tests), the others join the port it got.
  k->sockets_.assign(n, std::vector<int>(listeners.size(), -1));
  for (size_t l = 0; l < listeners.size(); ++l) {
    for (uint32_t s = 0; s < n; ++s) {
      auto fd = OpenReuseportUdp(listeners[l]);
      if (!fd.ok()) return fd.status();
      k->sockets_[s][l] = *fd;
      if (s == 0 && listeners[l].port == 0) listeners[l].port = BoundPort(*fd);
    }
  }

  // Steering.
  bool userspace = n > 1 && config.steering == KernelSteering::kUserspace;
  if (n > 1 && config.steering != KernelSteering::kUserspace) {
    absl::Status st = absl::OkStatus();
    for (size_t l = 0; l < listeners.size() && st.ok(); ++l) {
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
      if (config.steering == KernelSteering::kBpf) {
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
      for (size_t l = 0; l < listeners.size(); ++l) {
        for (uint32_t s = 0; s < n; ++s) {
          auto fd = OpenReuseportUdp(listeners[l]);
          if (!fd.ok()) return fd.status();
          k->sockets_[s][l] = *fd;
        }
      }
    } else {
      k->bpf_steering_ = true;
    }
  }

  // The shield, once the listeners' ports are known (a port configured as 0 is bound by now).
  // A few datagrams may reach the sockets before it is attached: it fails open anyway.
  if (!config.shield.interface.empty()) {
    auto shield = XdpShield::Attach(k->ShieldOptions());
    if (shield.ok()) {
      k->shield_ = *std::move(shield);
    } else if (config.shield.attach != XdpAttachMode::kAuto ||
               absl::IsPermissionDenied(shield.status())) {
      // The operator insisted on a mode, or the dp lacks the privilege for any: a configuration
      // (or unit) to fix, not a hub to run half-protected without saying so.
      return shield.status();
    } else {
      // Kernel mode works without it: run, and say so at start and in every status line.
      spdlog::warn("{}; running without the XDP shield", std::string(shield.status().message()));
      k->shield_refused_ = std::string(shield.status().message());
    }
  }

  auto channels = ipc::ChannelSet::Create(config.ring_prefix, n);
  if (!channels.ok()) return channels.status();
  k->channels_ = std::move(*channels);
  k->leases_ = std::make_unique<route::SlotLeases>(config.client_capacity);
  if (absl::Status st = k->CreateStats(); !st.ok()) return st;

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
        const std::string name = absl::StrCat(config.ring_prefix, "_st", from, "_", to);
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
    sc.runtime = k->ShardRuntimeConfig(s);
    sc.userspace_steering = userspace;
    std::vector<rte_ring*> in(n, nullptr), out(n, nullptr);
    for (uint32_t o = 0; o < n; ++o) {
      in[o] = k->steer_rings_[size_t{o} * n + s];
      out[o] = k->steer_rings_[size_t{s} * n + o];
    }
    k->shards_.push_back(std::make_unique<KernelShardLoop>(
        sc, k->leases_.get(), k->channels_.shard(s), k->channels_.pool(), k->sockets_[s], in, out,
        k->wake_fds_, cp_wake_fd));
  }
  return std::unique_ptr<Plane>(std::move(k));
}

KernelPlane::~KernelPlane() {
  Stop();
  shards_.clear();
  for (auto& row : sockets_) {
    for (int fd : row) {
      if (fd >= 0) close(fd);
    }
  }
  for (int fd : wake_fds_) close(fd);
}

std::string KernelPlane::Summary() const {
  std::string shield;
  if (shield_ != nullptr) {
    shield = absl::StrCat(", XDP shield ", std::string(XdpAttachedModeName(shield_->mode())),
                          " on ", shield_->interface());
  } else if (!config_.shield.interface.empty()) {
    shield = absl::StrCat(", XDP shield off (", config_.shield.interface, ": attach failed)");
  }
  return absl::StrCat("steering ",
                      config_.shards == 1 ? "none (one shard)"
                      : bpf_steering_     ? "sk_reuseport BPF"
                                          : "user space",
                      shield);
}

void KernelPlane::RunShard(uint32_t shard, const std::atomic<bool>& stop) {
  shards_[shard]->Run(stop);
}

void KernelPlane::WakeShards() {
  for (int fd : wake_fds_) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t r = write(fd, &one, sizeof(one));
  }
}

std::vector<std::string> KernelPlane::ShardSummaries() const {
  std::vector<std::string> out;
  for (const auto& s : shards_) {
    const KernelShardLoopCounters& c = s->counters();
    const route::RoutingCounters& r = s->runtime().core().counters();
    out.push_back(absl::StrFormat(
        "shard %u: rx %u tx %u tx_errors %u routed %u out %u steered out/in %u/%u steer_full %u "
        "truncated %u",
        s->runtime().index(), c.rx_datagrams, c.tx_datagrams, c.tx_errors, r.packets_routed,
        r.packets_out, c.steered_out, c.steered_in, c.steer_full, c.rx_truncated));
  }
  return out;
}

}  // namespace dmrswitch::io
