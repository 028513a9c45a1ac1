#include "dataplane/ipc/plane_info.h"

#include <rte_errno.h>
#include <rte_memzone.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <new>

#include "absl/strings/str_cat.h"

namespace dmrswitch::ipc {
namespace {

std::string ZoneName(const std::string& ring_prefix) { return ring_prefix + "_info"; }

// This object file is linked into both binaries of one build, so the stamp is the same in both
// and differs between builds.
constexpr char kBuild[] = __DATE__ " " __TIME__;

}  // namespace

bool ProcessAlive(pid_t pid) {
  if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM)) return false;
  // A killed process that nobody has reaped yet still answers kill(pid, 0): a zombie is gone.
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(stat, line)) return true;
  const size_t paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] != 'Z';
}

namespace {}  // namespace

absl::StatusOr<PlaneInfo*> CreatePlaneInfo(const std::string& ring_prefix, uint32_t nshards,
                                           uint32_t client_capacity,
                                           std::span<const route::Endpoint> listeners,
                                           bool hosted) {
  if (ring_prefix.size() >= sizeof(PlaneInfo::ring_prefix)) {
    return absl::InvalidArgumentError(absl::StrCat("ring prefix \"", ring_prefix, "\" too long"));
  }
  if (listeners.size() > PlaneInfo::kMaxListeners) {
    return absl::InvalidArgumentError(
        absl::StrCat(listeners.size(), " listeners; at most ", PlaneInfo::kMaxListeners));
  }
  const rte_memzone* mz =
      rte_memzone_reserve(ZoneName(ring_prefix).c_str(), sizeof(PlaneInfo), SOCKET_ID_ANY, 0);
  if (mz == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot reserve the plane information memzone: ", rte_strerror(rte_errno)));
  }
  auto* info = new (mz->addr) PlaneInfo();
  info->layout_version = PlaneInfo::kLayoutVersion;
  info->nshards = nshards;
  info->client_capacity = client_capacity;
  info->nlisteners = static_cast<uint32_t>(listeners.size());
  for (size_t i = 0; i < listeners.size(); ++i) {
    info->listeners[i] = listeners[i];
  }
  info->log_level.store(-1);
  std::snprintf(info->build, sizeof(info->build), "%s", kBuild);
  info->dp_pid = getpid();
  info->hosted = hosted ? 1 : 0;
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  info->dp_started_ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
  std::memcpy(info->ring_prefix, ring_prefix.c_str(), ring_prefix.size() + 1);
  info->magic.store(PlaneInfo::kMagic, std::memory_order_release);
  return info;
}

std::vector<route::Endpoint> PlaneListeners(const PlaneInfo& info) {
  std::vector<route::Endpoint> out;
  for (uint32_t i = 0; i < info.nlisteners && i < PlaneInfo::kMaxListeners; ++i) {
    out.push_back(info.listeners[i]);
  }
  return out;
}

absl::StatusOr<PlaneInfo*> AttachPlaneInfo(const std::string& ring_prefix, uint32_t nshards,
                                           uint32_t client_capacity) {
  const rte_memzone* mz = rte_memzone_lookup(ZoneName(ring_prefix).c_str());
  if (mz == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "the packet plane's memzone ", ZoneName(ring_prefix),
        " does not exist: is dmrswitch-dp running with control_plane = \"separate\"?"));
  }
  auto* info = static_cast<PlaneInfo*>(mz->addr);
  for (int i = 0; i < 100 && info->magic.load(std::memory_order_acquire) == 0; ++i) {
    usleep(10000);  // the dp is still filling it in
  }
  if (info->magic.load(std::memory_order_acquire) != PlaneInfo::kMagic ||
      info->layout_version != PlaneInfo::kLayoutVersion ||
      std::strncmp(info->build, kBuild, sizeof(info->build)) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "dmrswitch-dp (build \"",
        std::string(info->build, strnlen(info->build, sizeof(info->build))),
        "\") and this dmrswitch-cp (build \"", kBuild,
        "\") must come from the same build: snapshots and messages cross between them as laid "
        "out in memory. Drain, then restart both"));
  }
  if (info->hosted != 0) {
    return absl::FailedPreconditionError(
        "dmrswitch-dp hosts its own control plane (control_plane = \"hosted\")");
  }
  const auto differs = [](const char* key, uint32_t dp, uint32_t cp) {
    return absl::FailedPreconditionError(absl::StrCat(
        "dmrswitch-dp runs with ", key, " = ", dp, " but the configuration now says ", cp,
        ": that needs a dp restart (drain first), or the cp must read the file the dp started "
        "with"));
  };
  if (info->nshards != nshards) return differs("hub.shards", info->nshards, nshards);
  if (info->client_capacity != client_capacity) {
    return differs("hbp.max_clients", info->client_capacity, client_capacity);
  }
  return info;
}

absl::Status ClaimControl(PlaneInfo* info, pid_t pid) {
  int32_t holder = info->cp_pid.load();
  while (true) {
    if (holder != 0 && holder != pid && ProcessAlive(holder)) {
      return absl::AlreadyExistsError(
          absl::StrCat("another dmrswitch-cp (pid ", holder, ") is attached to this hub"));
    }
    if (info->cp_pid.compare_exchange_weak(holder, pid)) break;
  }
  info->cp_attaches.fetch_add(1);
  return absl::OkStatus();
}

void ReleaseControl(PlaneInfo* info, pid_t pid) {
  int32_t expected = pid;
  info->cp_pid.compare_exchange_strong(expected, 0);
}

bool RecordSnapshot(PlaneInfo* info, uint64_t generation, const void* snapshot) {
  for (SnapshotRecord& r : info->retained) {
    if (r.generation.load() != 0) continue;
    r.snapshot.store(snapshot);
    r.generation.store(generation);
    info->current_generation.store(generation);
    return true;
  }
  return false;
}

void ForgetSnapshot(PlaneInfo* info, uint64_t generation) {
  for (SnapshotRecord& r : info->retained) {
    if (r.generation.load() != generation) continue;
    r.generation.store(0);
    r.snapshot.store(nullptr);
  }
}

}  // namespace dmrswitch::ipc
