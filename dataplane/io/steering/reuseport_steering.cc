#include "dataplane/io/steering/reuseport_steering.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_format.h"
#include "ebpf/reuseport_steer.skel.h"
#include "ebpf/steer_common.h"

namespace dmrswitch::io {
namespace {

static_assert(ReuseportSteering::kMaxShards == DMRSWITCH_STEER_MAX_SHARDS);

std::string ErrnoText(int err) { return std::strerror(err < 0 ? -err : err); }

// A load failure the operator can act on: the privilege, not libbpf's internals.
absl::Status LoadError(std::string_view step, int err) {
  if (err < 0) err = -err;
  if (err == EPERM || err == EACCES) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "cannot load the sk_reuseport program: %s (needs CAP_BPF; CAP_SYS_ADMIN before Linux 5.8)",
        ErrnoText(err)));
  }
  return absl::UnavailableError(
      absl::StrFormat("cannot load the sk_reuseport program (%s): %s", step, ErrnoText(err)));
}

bool SameLocalAddress(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET) {
    const auto& x = reinterpret_cast<const sockaddr_in&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in&>(b);
    return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
  }
  if (a.ss_family == AF_INET6) {
    const auto& x = reinterpret_cast<const sockaddr_in6&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in6&>(b);
    return x.sin6_port == y.sin6_port &&
           std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof(x.sin6_addr)) == 0;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReuseportSteering>> ReuseportSteering::Load(uint32_t nshards) {
  if (nshards == 0 || nshards > kMaxShards) {
    return absl::InvalidArgumentError(
        absl::StrFormat("sk_reuseport steering: %u shards, want 1..%u", nshards, kMaxShards));
  }
  reuseport_steer* skel = reuseport_steer__open();
  if (skel == nullptr) return LoadError("open", errno);
  // rodata is frozen at load: the shard count is a constant the verifier and JIT see.
  skel->rodata->nshards = nshards;
  if (int err = reuseport_steer__load(skel); err != 0) {
    reuseport_steer__destroy(skel);
    return LoadError("load", err);
  }
  return std::unique_ptr<ReuseportSteering>(new ReuseportSteering(skel, nshards));
}

ReuseportSteering::~ReuseportSteering() { reuseport_steer__destroy(skel_); }

int ReuseportSteering::prog_fd() const { return bpf_program__fd(skel_->progs.dmrswitch_steer); }

absl::Status ReuseportSteering::AttachGroup(std::span<const int> fds) {
  if (attached_) {
    return absl::FailedPreconditionError(
        "sk_reuseport steering: this instance already serves a group; Load() one per listener");
  }
  if (fds.size() != nshards_) {
    return absl::InvalidArgumentError(
        absl::StrFormat("sk_reuseport steering: %u sockets for %u shards", fds.size(), nshards_));
  }
  // A socket of another group would make every selection for its shard fail (the kernel
  // refuses cross-group picks), so catch the wiring mistake here, with the fd named.
  sockaddr_storage first{};
  for (size_t i = 0; i < fds.size(); ++i) {
    sockaddr_storage local{};
    socklen_t local_len = sizeof(local);
    if (getsockname(fds[i], reinterpret_cast<sockaddr*>(&local), &local_len) != 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "sk_reuseport steering: shard %u socket (fd %d): %s", i, fds[i], ErrnoText(errno)));
    }
    if (i == 0) {
      first = local;
    } else if (!SameLocalAddress(first, local)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "sk_reuseport steering: shard %u socket (fd %d) is bound to another address than "
          "shard 0's",
          i, fds[i]));
    }
  }

  const int map_fd = bpf_map__fd(skel_->maps.shard_sockets);
  for (uint32_t i = 0; i < fds.size(); ++i) {
    const uint64_t fd = static_cast<uint64_t>(fds[i]);
    if (bpf_map_update_elem(map_fd, &i, &fd, BPF_ANY) != 0) {
      const int err = errno;
      return absl::InvalidArgumentError(absl::StrFormat(
          "sk_reuseport steering: cannot put shard %u socket (fd %d) in the socket array: %s "
          "(it must be a bound SO_REUSEPORT UDP socket)",
          i, fds[i], ErrnoText(err)));
    }
  }
  // The array is complete before the program goes live, so no datagram sees an empty slot.
  const int prog = prog_fd();
  if (setsockopt(fds[0], SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &prog, sizeof(prog)) != 0) {
    const int err = errno;
    return absl::InternalError(absl::StrFormat(
        "sk_reuseport steering: SO_ATTACH_REUSEPORT_EBPF on fd %d: %s", fds[0], ErrnoText(err)));
  }
  attached_ = true;
  return absl::OkStatus();
}

ReuseportSteering::Counters ReuseportSteering::counters() const {
  Counters c;
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return c;
  const int map_fd = bpf_map__fd(skel_->maps.steer_counters);
  std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpus));
  uint64_t sums[DMRSWITCH_STEER_CTR_COUNT] = {};
  for (uint32_t k = 0; k < DMRSWITCH_STEER_CTR_COUNT; ++k) {
    if (bpf_map_lookup_elem(map_fd, &k, per_cpu.data()) != 0) continue;
    for (uint64_t v : per_cpu) sums[k] += v;
  }
  c.steered_dmrd = sums[DMRSWITCH_STEER_CTR_DMRD];
  c.steered_bcsq = sums[DMRSWITCH_STEER_CTR_BCSQ];
  c.steered_client_id = sums[DMRSWITCH_STEER_CTR_CLIENT_ID];
  c.default_shard = sums[DMRSWITCH_STEER_CTR_DEFAULT];
  c.select_failed = sums[DMRSWITCH_STEER_CTR_SELECT_FAILED];
  return c;
}

}  // namespace dmrswitch::io
