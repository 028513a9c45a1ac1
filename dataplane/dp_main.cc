// dmrswitch-dp: the packet plane (DESIGN.md §2): one shard per worker lcore (kernel UDP sockets
// or DPDK ports), and — with control_plane = "hosted" — the control plane on the main lcore,
// talking to the shards over the same rings that dmrswitch-cp uses. With control_plane =
// "separate" the dp runs EAL as a primary with shared hugepage memory, publishes its rings and
// a PlaneInfo block, and dmrswitch-cp attaches to them as a secondary process.
//
//   dmrswitch-dp [--config FILE] [--print-default-config] [--print-config-keys]
//                [--needs-hugepages]
//
// Without --config the embedded default runs: kernel mode on loopback (HBP 62031), so a hotspot
// or DMRGateway on the same box can log in at once.
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_memory.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "ctrlplane/config/config.h"
#include "ctrlplane/config/memory.h"
#include "ctrlplane/config/secret_files.h"
#include "ctrlplane/control_plane.h"
#include "ctrlplane/snapshot_memory.h"
#include "ctrlplane/version.h"
#include "dataplane/io/afxdp.h"
#include "dataplane/io/clock.h"
#include "dataplane/io/dpdk_plane.h"
#include "dataplane/io/instance_lock.h"
#include "dataplane/io/mbuf_budget.h"
#include "dataplane/io/plane.h"
#include "dataplane/io/telemetry.h"
#include "dataplane/io/udp_socket.h"
#include "dataplane/ipc/eal_lock_recovery.h"
#include "dataplane/ipc/plane_info.h"
#include "dataplane/ipc/snapshot_arena_zone.h"
#include "spdlog/spdlog.h"

namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};

void OnSignal(int sig) {
  if (sig == SIGHUP) {
    g_reload.store(true);
  } else {
    g_stop.store(true);
  }
}

int Usage(const char* argv0, int rc) {
  std::fprintf(rc == 0 ? stdout : stderr,
               "usage: %s [--config FILE] [--print-default-config] [--print-config-keys]\n"
               "          [--needs-hugepages] [--hugepages]\n"
               "  --config FILE            the hub's TOML configuration (docs/config.md);\n"
               "                           without it the embedded default runs (kernel mode,\n"
               "                           HBP on 127.0.0.1:62031)\n"
               "  --print-default-config   print the embedded default configuration and exit\n"
               "  --print-config-keys      print every configuration key: type, default, reload\n"
               "                           class and what applies it (docs/config.md)\n"
               "  --needs-hugepages        print \"yes\" if the configuration needs hugepages\n"
               "                           (dpdk/afxdp mode without --no-huge, or a separate\n"
               "                           control plane), else \"no\", and exit (the systemd\n"
               "                           unit reserves them only then)\n"
               "  --hugepages              print how many 2 MiB hugepages the configuration\n"
               "                           needs (0: none; EAL's -m/--socket-mem when given,\n"
               "                           else an estimate) and exit (hugepages.sh reserves\n"
               "                           that many)\n",
               argv0);
  return rc;
}

// The hugepage files behind this process's memory (none with --no-huge, and none to remove with
// --in-memory or --huge-unlink=always, whose files are already unlinked). EAL keeps them after
// rte_eal_cleanup (a secondary could still attach), and a page in a file that nobody removes
// stays allocated: on a box whose hugetlbfs stays mounted (systemd's /dev/hugepages) every
// stop would leak the hub's whole heap until the next start, and the unit's ExecStopPost could
// not give the pages back. Read before the cleanup closes the segments' descriptors; the walk
// takes the memory lock as the cleanup does anyway (EAL's multi-process thread may still be
// mapping memory for an attached cp).
std::vector<std::string> HugepageFiles() {
  std::vector<std::string> files;
  rte_memseg_walk(
      [](const rte_memseg_list* msl, const rte_memseg* ms, void* arg) {
        if (msl->external) return 0;
        const int fd = rte_memseg_get_fd_thread_unsafe(ms);
        if (fd < 0) return 0;
        char path[4096];
        const ssize_t n =
            readlink(absl::StrCat("/proc/self/fd/", fd).c_str(), path, sizeof(path) - 1);
        if (n <= 0) return 0;
        std::string file(path, static_cast<size_t>(n));
        if (file.front() != '/' || absl::EndsWith(file, " (deleted)")) return 0;
        auto* out = static_cast<std::vector<std::string>*>(arg);
        // One file per page, or per segment list with --single-file-segments (consecutive).
        if (out->empty() || out->back() != file) out->push_back(std::move(file));
        return 0;
      },
      &files);
  return files;
}

// rte_eal_cleanup, then the hugepage files (unless the operator keeps them for reuse with
// --huge-unlink=never), then the per-process runtime directory (--file-prefix), whose config
// file keeps another primary of the same prefix out until the files are gone: they would
// otherwise pile up under /var/run/dpdk (root) or $XDG_RUNTIME_DIR, and hold their pages.
void CleanupEal(bool keep_hugepage_files) {
  const std::string runtime_dir = rte_eal_get_runtime_dir();
  std::vector<std::string> hugepage_files;
  if (!keep_hugepage_files) hugepage_files = HugepageFiles();
  rte_eal_cleanup();
  std::error_code ec;
  for (const std::string& f : hugepage_files) std::filesystem::remove(f, ec);
  std::filesystem::remove_all(runtime_dir, ec);
}

// Hosted kernel mode gives each dp its own EAL runtime directory (dmrswitch-dp-<pid>), which
// CleanupEal removes at a stop. A dp that never stopped (SIGKILL, the OOM killer, a crash) leaves
// it behind, with EAL's telemetry socket in it; each start removes those whose dp no longer runs
// (the PID is gone, or now names another program).
void SweepStaleRuntimeDirs() {
  constexpr std::string_view kPrefix = "dmrswitch-dp-";
  const std::filesystem::path base =
      std::filesystem::path(dmrswitch::ipc::EalRuntimeDir("x")).parent_path();
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(base, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kPrefix, 0) != 0) continue;
    const std::string digits = name.substr(kPrefix.size());
    pid_t pid = 0;
    const auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
    if (err != std::errc() || end != digits.data() + digits.size() || pid <= 0) continue;
    if (pid == getpid()) continue;
    std::string comm;
    std::ifstream(absl::StrCat("/proc/", pid, "/comm")) >> comm;
    if (comm == "dmrswitch-dp") continue;  // running (its own directory, or a reused PID's)
    std::error_code rm;
    std::filesystem::remove_all(entry.path(), rm);
    if (!rm)
      spdlog::debug("dmrswitch-dp: removed {} (its dp no longer runs)", entry.path().string());
  }
}

void InstallSignals() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
}

int Fail(const std::string& msg) {
  std::fprintf(stderr, "dmrswitch-dp: %s\n", msg.c_str());
  return 1;
}

// Separate mode: the rings, pool and plane information live under this prefix inside the
// runtime (EAL --file-prefix) that dmrswitch-dp and dmrswitch-cp share.
constexpr char kSeparateRingPrefix[] = "dsw";
// Separate mode: where the primary maps its memory. dmrswitch-cp must map it at the same
// addresses, so they must be free in both processes: far above where the kernel puts binaries,
// libraries and mmaps, and outside the ranges AddressSanitizer reserves (shadow below
// 0x10007fff8000, its allocator at 0x600000000000) — DPDK's own default (4 GiB) is ASan shadow.
constexpr char kSeparateBaseVirtaddr[] = "--base-virtaddr=0x200000000000";

// Why a DPDK primary with shared hugepage memory cannot start here ("" when it can): the EAL's
// 128 MiB (kernel mode asks for -m 128) and the snapshot arena of `arena_bytes` must fit in the
// free hugepages.
std::string HugepagesMissing(uint64_t arena_bytes) {
  bool mounted = false;
  std::ifstream mounts("/proc/mounts");
  for (std::string line; std::getline(mounts, line);) {
    if (line.find(" hugetlbfs ") != std::string::npos) mounted = true;
  }
  long free_pages = 0;
  long page_kib = 2048;
  std::ifstream meminfo("/proc/meminfo");
  for (std::string line; std::getline(meminfo, line);) {
    if (line.rfind("HugePages_Free:", 0) == 0) free_pages = std::atol(line.c_str() + 15);
    if (line.rfind("Hugepagesize:", 0) == 0) page_kib = std::max(1L, std::atol(line.c_str() + 13));
  }
  const uint64_t page_bytes = uint64_t(page_kib) << 10;
  const uint64_t need_bytes = (uint64_t{128} << 20) + arena_bytes;
  const long need_pages = static_cast<long>((need_bytes + page_bytes - 1) / page_bytes);
  if (mounted && free_pages >= need_pages) return "";
  return absl::StrCat(
      "hub.control_plane = \"separate\" needs hugepages: dmrswitch-cp attaches as a DPDK "
      "secondary process, which only works when the dp's memory is in shared hugepage files (",
      mounted ? "" : "no hugetlbfs is mounted; ", free_pages, " free hugepages of ", page_kib,
      " KiB, at least ", need_pages, " needed: 128 MiB for the packet plane and ",
      arena_bytes >> 20,
      " MiB for the snapshot arena, hub.snapshot_arena_mb). Set them up with tools/hugepages.sh "
      "up PAGES (or: echo PAGES > /proc/sys/vm/nr_hugepages; mount -t hugetlbfs nodev "
      "/dev/hugepages), or use control_plane = \"hosted\"");
}

std::string SeparateEalHint(const dmrswitch::cp::HubConfig& config) {
  return absl::StrCat(
      " (separate control plane, runtime name \"", dmrswitch::cp::EalFilePrefix(config),
      "\": too few free hugepages for the EAL arguments, or another dmrswitch-dp with this name "
      "is running — hub.runtime_name tells hubs apart)");
}

// Whether every shard copied its counters within `within` (a shard that stopped looping stops
// copying): systemd's watchdog follows it.
bool ShardsAlive(const dmrswitch::ipc::ShardStatsZone& stats, dmrswitch::route::TimeNs within) {
  const dmrswitch::route::TimeNs now = dmrswitch::io::MonotonicNs();
  for (uint32_t s = 0; s < stats.nshards; ++s) {
    const uint64_t at = stats.shard(s)->published_ns.load(std::memory_order_relaxed);
    if (at == 0 || now > at + within) return false;
  }
  return true;
}

// The main lcore of a dp without a hosted control plane: says when a dmrswitch-cp attaches or
// goes away, forwards SIGHUP to it as a Reload command, serves its control mbufs, and returns on
// SIGINT/SIGTERM. Voice does not depend on any of this. systemd (Type=notify) hears WATCHDOG=1
// from here while every shard loops, and STATUS= with the control plane's state.
void WatchSeparateControlPlane(const dmrswitch::ipc::PlaneInfo& info,
                               dmrswitch::ipc::ChannelSet& channels,
                               const dmrswitch::ipc::ShardStatsZone& stats,
                               dmrswitch::cp::report::SystemdNotifier& notifier) {
  using namespace dmrswitch;
  int32_t cp = 0;         // the attached cp as last seen
  int32_t said_gone = 0;  // its death was reported
  int32_t applied_level = -1;
  const auto watchdog = cp::report::WatchdogInterval();
  route::TimeNs next_watchdog = 0;
  std::string status;
  // A cp killed inside rte_malloc leaves a heap lock held: released here once the heap checks out.
  auto heap_watch = ipc::HeapLockWatch::Open(rte_eal_get_runtime_dir());
  if (!heap_watch.ok()) {
    spdlog::warn(
        "dmrswitch-dp: no watch over DPDK's malloc heap locks ({}): a dmrswitch-cp killed inside "
        "rte_malloc would need a dp restart",
        std::string(heap_watch.status().message()));
  }
  while (!g_stop.load()) {
    const route::TimeNs now = io::MonotonicNs();
    if (watchdog && now >= next_watchdog) {
      next_watchdog = now + static_cast<route::TimeNs>(watchdog->count()) * 1000;
      if (ShardsAlive(stats, 3 * route::kSec)) (void)notifier.Watchdog();
    }
    const int32_t attached = info.cp_pid.load();
    std::string s = attached != 0 && ipc::ProcessAlive(attached)
                        ? absl::StrCat("routing; control plane dmrswitch-cp pid ", attached)
                        : std::string("routing; no control plane attached (logins wait)");
    if (s != status) {
      (void)notifier.Status(s);
      status = std::move(s);
    }
    const int32_t now_cp = info.cp_pid.load();
    if (now_cp != cp) {
      if (now_cp != 0) {
        spdlog::info("dmrswitch-dp: control plane attached (dmrswitch-cp pid {})", now_cp);
      } else if (said_gone != cp) {
        spdlog::info(
            "dmrswitch-dp: control plane (pid {}) detached; voice keeps flowing, logins "
            "wait for a dmrswitch-cp",
            cp);
      }
      cp = now_cp;
    } else if (cp != 0 && said_gone != cp && !ipc::ProcessAlive(cp)) {
      spdlog::warn(
          "dmrswitch-dp: control plane (pid {}) is gone; voice keeps flowing, logins "
          "wait for a dmrswitch-cp",
          cp);
      said_gone = cp;
    }
    // The log level follows the control plane's (hub.log_level is a live key).
    if (const int32_t level = info.log_level.load(); level >= 0 && level != applied_level) {
      spdlog::set_level(static_cast<spdlog::level::level_enum>(level));
      applied_level = level;
    }
    if (g_reload.exchange(false)) {
      if (!ipc::SendMessage(channels.cp_cmd(), ipc::Message::Make(ipc::MsgType::kReload, 0))) {
        spdlog::warn(
            "dmrswitch-dp: reload not passed on: the control plane's command ring is full");
      }
    }
    // The cp's control mbufs: it never takes them from the shared pool itself.
    ipc::ServeControlMbufs(channels);
    if (heap_watch.ok()) {
      for (const ipc::HeapLockWatch::Event& ev : heap_watch->Poll(absl::Now())) {
        if (ev.released) {
          spdlog::warn(
              "dmrswitch-dp: released {}, held by a DPDK secondary that no longer runs (a "
              "dmrswitch-cp killed inside rte_malloc); the heap it guards is intact ({} elements, "
              "{} free, {} in use){}{}",
              ev.lock, ev.heap.elements, ev.heap.free_elements, ev.heap.busy_elements,
              ev.relisted == 0 ? std::string()
                               : absl::StrCat(" once its free lists were rebuilt from its ",
                                              ev.relisted, " free elements (", ev.damage, ")"),
              ev.growth ? "; it was growing or shrinking the heap through this process, which "
                          "has finished that since"
                        : "");
        } else {
          spdlog::error(
              "dmrswitch-dp: {} is held by a DPDK secondary that no longer runs, and the heap it "
              "guards is damaged ({}): it stays held, and no dmrswitch-cp can attach until "
              "dmrswitch-dp restarts (drain first)",
              ev.lock, ev.heap.problem);
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Separate mode after set-up: the shards run on the workers, the main lcore watches the control
// plane and serves its control mbufs until SIGINT/SIGTERM.
int ServeSeparate(dmrswitch::io::Plane& plane, const dmrswitch::ipc::PlaneInfo& info,
                  const std::function<void()>& say_started) {
  using dmrswitch::cp::report::SystemdNotifier;
  if (absl::Status st = plane.Launch(); !st.ok()) return Fail(std::string(st.message()));
  InstallSignals();
  say_started();
  auto notifier = SystemdNotifier::FromEnvironment();
  if (!notifier.ok()) {
    spdlog::warn("systemd notification off: {}", std::string(notifier.status().message()));
  }
  SystemdNotifier none;
  SystemdNotifier& n = notifier.ok() ? *notifier : none;
  (void)n.Ready();
  WatchSeparateControlPlane(info, plane.channels(), *plane.stats(), n);
  (void)n.Stopping();
  spdlog::info("dmrswitch-dp: stopping");
  return 0;
}

// What the packet plane takes from the configuration (DESIGN.md §2): sizes, listeners and
// devices; the rest reaches the shards from the control plane.
dmrswitch::io::PlaneConfig MakePlaneConfig(const dmrswitch::cp::HubConfig& c,
                                           const std::string& ring_prefix) {
  using namespace dmrswitch;
  io::PlaneConfig p;
  switch (c.hub.mode) {
    case cp::HubMode::kKernel:
      p.mode = io::PlaneMode::kKernel;
      break;
    case cp::HubMode::kDpdk:
      p.mode = io::PlaneMode::kDpdk;
      break;
    case cp::HubMode::kAfXdp:
      p.mode = io::PlaneMode::kAfXdp;
      break;
  }
  p.shards = c.hub.shards;
  p.stream_capacity = c.hub.stream_capacity;
  p.parrot_recordings = c.hub.parrot_recordings;
  p.parrot_max_frames = route::Parrot::FramesFor(c.hub.parrot_max_s);
  p.client_capacity = c.hbp.max_clients;
  p.listeners.push_back(c.hbp.listen);
  for (const route::Endpoint& e : c.obp_listeners) p.listeners.push_back(e);
  p.ring_prefix = ring_prefix;
  switch (c.hub.steering) {
    case cp::Steering::kAuto:
      p.steering = io::KernelSteering::kAuto;
      break;
    case cp::Steering::kBpf:
      p.steering = io::KernelSteering::kBpf;
      break;
    case cp::Steering::kUserspace:
      p.steering = io::KernelSteering::kUserspace;
      break;
  }
  p.shield.interface = c.xdp.interface;
  switch (c.xdp.attach) {
    case cp::XdpAttach::kAuto:
      p.shield.attach = io::XdpAttachMode::kAuto;
      break;
    case cp::XdpAttach::kNative:
      p.shield.attach = io::XdpAttachMode::kNative;
      break;
    case cp::XdpAttach::kGeneric:
      p.shield.attach = io::XdpAttachMode::kGeneric;
      break;
  }
  p.shield.runtime_name = c.hub.runtime_name;
  for (const cp::XdpSource& x : cp::ShieldExemptSources(c)) {
    p.shield.exempt.push_back(io::XdpSource{x.ip, x.port, x.v6, x.ip6});
  }
  p.shield.rate = io::XdpRate{c.xdp.source_pps, c.xdp.source_burst, c.xdp.source_prefix6};
  p.address = c.dpdk.address;
  if (c.dpdk.has_address6) p.address6 = c.dpdk.address6;
  p.tx_port = c.dpdk.tx_port;
  p.promiscuous = c.dpdk.promiscuous;
  if (c.dpdk.has_gateway_mac) p.gateway_mac = c.dpdk.gateway_mac;
  return p;
}

// Whether this configuration's dp needs hugepages reserved before it starts: a separate control
// plane attaches to shared hugepage memory, and dpdk/afxdp mode's EAL takes its memory from
// hugepages unless the operator's eal_args say --no-huge. Kernel mode with a hosted control
// plane (the Raspberry Pi profile) never does.
bool NeedsHugepages(const dmrswitch::cp::HubConfig& config) {
  using namespace dmrswitch;
  if (config.hub.control_plane == cp::ControlPlaneMode::kSeparate) return true;
  if (config.hub.mode == cp::HubMode::kKernel) return false;
  for (const std::string& a : config.dpdk.eal_args) {
    if (a == "--no-huge") return false;
  }
  return true;
}

// MiB of hugepage memory the operator's EAL arguments give EAL (-m MB, --socket-mem a,b,...),
// or 0 when they say nothing.
uint64_t EalMemoryMiB(const std::vector<std::string>& eal_args) {
  uint64_t mib = 0;
  for (size_t i = 0; i < eal_args.size(); ++i) {
    const std::string& a = eal_args[i];
    std::string value;
    if ((a == "-m" || a == "--socket-mem") && i + 1 < eal_args.size()) {
      value = eal_args[i + 1];
    } else if (a.rfind("--socket-mem=", 0) == 0) {
      value = a.substr(13);
    } else if (a.size() > 2 && a.rfind("-m", 0) == 0 && std::isdigit(a[2])) {
      value = a.substr(2);
    } else {
      continue;
    }
    // "512" or "512,1024" (per NUMA socket): the sum.
    uint64_t sum = 0;
    const char* p = value.data();
    const char* end = value.data() + value.size();
    while (p < end) {
      uint64_t n = 0;
      auto [next, ec] = std::from_chars(p, end, n);
      if (ec == std::errc()) sum += n;
      p = std::find(next, end, ',');
      if (p < end) ++p;
    }
    mib = std::max(mib, sum);
  }
  return mib;
}

// How many 2 MiB hugepages this configuration's dp (and its separate cp) use, so that the unit
// reserves that many rather than a fixed figure (0: none, NeedsHugepages says no). What the
// operator's EAL arguments give EAL when they say (-m, --socket-mem); else an estimate with
// margin: in dpdk/afxdp mode the mbuf pool (~160 MiB for the minimum of 65,535 mbufs; measured:
// 168 MiB in use with one shard and one port; more with many shards, as MbufsFor sizes it for
// the ports the EAL arguments name, at least two) and rings and per-shard state (16 MiB a
// shard); with a separate
// control plane twice the table memory (as margin), the rings and the snapshot arena the dp
// reserves at start (hub.snapshot_arena_mb, or sized from hbp.max_clients), and in kernel mode
// at least what HugepagesMissing asks for (EAL's -m 128 and the arena); EAL's own 64 MiB.
uint64_t HugepagesNeeded(const dmrswitch::cp::HubConfig& config) {
  using namespace dmrswitch;
  if (!NeedsHugepages(config)) return 0;
  constexpr uint64_t kMiB = uint64_t{1} << 20;
  constexpr uint64_t kPage = 2 * kMiB;
  if (config.hub.mode != cp::HubMode::kKernel) {
    if (const uint64_t mib = EalMemoryMiB(config.dpdk.eal_args); mib > 0) {
      return (mib * kMiB + kPage - 1) / kPage;
    }
  }
  uint64_t bytes = 64 * kMiB;
  if (config.hub.mode != cp::HubMode::kKernel) {
    // The pool DpdkPlane::Create will make (one socket assumed), scaled from 160 MiB per 65,535.
    uint32_t ports = 0;
    for (const std::string& a : config.dpdk.eal_args) {
      if (a.rfind("--vdev", 0) == 0 || a == "-a" || a.rfind("--allow", 0) == 0) ++ports;
    }
    const uint32_t shards = config.hub.shards;
    const io::MbufDemand d =
        io::DpdkPlane::PoolDemand(std::max<uint32_t>(ports, 2), shards, shards);
    bytes += 160 * kMiB * io::MbufsFor(d) / io::kMinMbufs;
  }
  bytes += uint64_t{config.hub.shards} * 16 * kMiB;
  if (config.hub.control_plane == cp::ControlPlaneMode::kSeparate) {
    const uint64_t arena = ipc::SnapshotArena::RegionBytesFor(cp::SnapshotArenaBytes(config));
    const cp::TableMemory tables = cp::EstimateTableMemory(config);
    bytes += 2 * (tables.streams + tables.clients) + 32 * kMiB + arena;
    if (config.hub.mode == cp::HubMode::kKernel) bytes = std::max(bytes, 128 * kMiB + arena);
  }
  return (bytes + kPage - 1) / kPage;
}

// EAL's arguments for the configured mode. Kernel mode: never PCI (the host's own NIC is a PCI
// device), one lcore for the main lcore plus one per shard, all free to float over the host's
// CPUs; hosted: no hugepages and no shared configuration (several hubs may run side by side).
// DPDK mode: the operator's eal_args, completed. afxdp mode: the same, plus the one port the dp
// creates itself (`afxdp_vdev`, io::PrepareAfXdpPort). Separate control plane: hugepages and the
// shared runtime name, so that dmrswitch-cp can attach as a DPDK secondary process.
absl::StatusOr<std::vector<std::string>> EalArguments(const dmrswitch::cp::HubConfig& config,
                                                      const std::string& afxdp_vdev) {
  using namespace dmrswitch;
  const bool separate = config.hub.control_plane == cp::ControlPlaneMode::kSeparate;
  const uint32_t shards = config.hub.shards;
  const long ncpu = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  std::vector<std::string> eal = {"dmrswitch-dp"};
  if (config.hub.mode == cp::HubMode::kKernel) {
    eal.push_back("--no-pci");
    if (separate) {
      eal.push_back("--proc-type=primary");
      eal.push_back(absl::StrCat("--file-prefix=", cp::EalFilePrefix(config)));
      eal.push_back(kSeparateBaseVirtaddr);
    } else {
      eal.push_back("--no-huge");
      eal.push_back("--no-shconf");
      eal.push_back(absl::StrCat("--file-prefix=dmrswitch-dp-", getpid()));
    }
    for (std::string a : {std::string("-m"), std::string("128"),
                          absl::StrCat("--lcores=(0-", shards, ")@(0-", ncpu - 1, ")"),
                          std::string("--log-level=lib.eal:error"),
                          std::string("--log-level=lib.telemetry:warning")}) {
      eal.push_back(std::move(a));
    }
    return eal;
  }
  bool has_pci_choice = false, has_lcores = false, has_log = false, has_prefix = false,
       has_base = false;
  const bool afxdp = config.hub.mode == cp::HubMode::kAfXdp;
  for (const std::string& a : config.dpdk.eal_args) {
    if (afxdp && (a.rfind("--vdev", 0) == 0 || a == "-a" || a.rfind("-a", 0) == 0 ||
                  a.rfind("--allow", 0) == 0)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "hub.mode = \"afxdp\" and dpdk.eal_args has ", a,
          ": in afxdp mode the dp creates its one port itself (net_af_xdp on [xdp] interface, "
          "one queue per shard, the XDP shield as its program); remove it"));
    }
    if (separate && (a == "--no-huge" || a == "--in-memory")) {
      return absl::FailedPreconditionError(absl::StrCat(
          "hub.control_plane = \"separate\" and dpdk.eal_args has ", a,
          ": a DPDK secondary process (dmrswitch-cp) can attach only to a primary whose memory "
          "is in shared hugepage files; drop ",
          a, " (and set up hugepages: tools/hugepages.sh up) or use control_plane = \"hosted\""));
    }
    has_prefix |= a.rfind("--file-prefix", 0) == 0;
    has_base |= a.rfind("--base-virtaddr", 0) == 0;
    eal.push_back(a);
    has_pci_choice |=
        a == "--no-pci" || a == "-a" || a.rfind("-a", 0) == 0 || a.rfind("--allow", 0) == 0;
    has_lcores |= a == "-l" || a.rfind("-l", 0) == 0 || a.rfind("--lcores", 0) == 0 || a == "-c" ||
                  a.rfind("-c", 0) == 0;
    has_log |= a.rfind("--log-level", 0) == 0;
  }
  // Never probe PCI devices nobody allow-listed: on these boxes the host's own NIC is one.
  if (!has_pci_choice) eal.push_back("--no-pci");
  if (afxdp) eal.push_back(afxdp_vdev);
  if (!has_lcores) {
    eal.push_back(static_cast<long>(shards) < ncpu
                      ? absl::StrCat("-l", "0-", shards)
                      : absl::StrCat("--lcores=(0-", shards, ")@(0-", ncpu - 1, ")"));
  }
  if (!has_log) {
    eal.push_back("--log-level=lib.eal:error");
    eal.push_back("--log-level=lib.telemetry:warning");
  }
  // The hub's own prefix (hub.runtime_name) unless the operator chose one, hosted too: EAL's
  // default ("rte") is every other DPDK program's, whose hugepage files and runtime directory a
  // hub must never share or remove.
  if (!has_prefix) eal.push_back(absl::StrCat("--file-prefix=", cp::EalFilePrefix(config)));
  if (separate) {
    eal.push_back("--proc-type=primary");
    if (!has_base) eal.push_back(kSeparateBaseVirtaddr);
  }
  return eal;
}

// The start-up line the operator (and the tests) read: mode, shards, how the plane reaches the
// network, where the control plane runs, listeners and peers.
std::string StartLine(const dmrswitch::cp::HubConfig& config, const std::string& config_path,
                      const dmrswitch::io::Plane& plane) {
  using namespace dmrswitch;
  const bool separate = config.hub.control_plane == cp::ControlPlaneMode::kSeparate;
  const std::string control =
      separate ? absl::StrCat("control plane separate (dmrswitch-cp, runtime name ",
                              cp::EalFilePrefix(config), ")")
               : std::string("control plane hosted");
  const std::string where =
      config.hub.mode == cp::HubMode::kKernel
          ? absl::StrCat("HBP on ", io::EndpointString(plane.listeners()[route::kHbpListener]))
          : absl::StrCat("hub address ", cp::FormatIpv4(config.dpdk.address),
                         config.dpdk.has_address6
                             ? absl::StrCat(" and ", cp::FormatIpv6(config.dpdk.address6))
                             : "",
                         ", HBP port ", config.hbp.listen.port);
  return absl::StrCat("dmrswitch-dp: ", std::string(cp::HubModeName(config.hub.mode)), " mode, ",
                      config.hub.shards, " shard(s), ", plane.Summary(), ", ", control, "; ", where,
                      ", ", config.obp.size(), " OpenBridge peer(s); config ",
                      config_path.empty() ? "embedded default" : config_path);
}

int RunHosted(const dmrswitch::cp::HubConfig& config, const std::string& config_path,
              dmrswitch::io::Plane& plane, int cp_wake);

// What the instance lock guards: the runtime name and the UDP addresses the hub will serve (in
// dpdk and afxdp mode the listeners' ports on the hub's own address).
dmrswitch::io::InstanceIdentity InstanceOf(const dmrswitch::cp::HubConfig& config,
                                           const std::string& config_path) {
  using namespace dmrswitch;
  io::InstanceIdentity id;
  id.run_dir = cp::RunDir(config);
  id.runtime_name = cp::EalFilePrefix(config);
  std::error_code ec;
  id.config_path = config_path.empty() ? "" : std::filesystem::absolute(config_path, ec).string();
  for (route::Endpoint e : cp::ConfigListeners(config)) {
    if (config.hub.mode != cp::HubMode::kKernel) {
      e = route::Endpoint{config.dpdk.address, e.port};
      if (config.dpdk.has_address6) {
        // The port is served on the IPv6 address too: another hub on it is a clash as well.
        route::Endpoint e6;
        e6.v6 = true;
        std::copy(config.dpdk.address6.begin(), config.dpdk.address6.end(), e6.ip6);
        e6.port = e.port;
        id.listeners.push_back(e6);
      }
    }
    id.listeners.push_back(e);
  }
  id.kernel_sockets = config.hub.mode == cp::HubMode::kKernel;
  return id;
}

// The /dmrswitch/ commands on DPDK's telemetry socket: answered from the shards' counter blocks
// and the plane's notice board, so they keep answering whatever the control plane does.
void StartTelemetry(const dmrswitch::cp::HubConfig& config, const dmrswitch::io::Plane& plane,
                    const dmrswitch::ipc::PlaneInfo* info) {
  using namespace dmrswitch;
  io::TelemetrySources sources;
  sources.stats = plane.stats();
  sources.plane_info = info;
  sources.mode = std::string(cp::HubModeName(config.hub.mode));
  sources.version = DMRSWITCH_VERSION;
  sources.hosted = config.hub.control_plane == cp::ControlPlaneMode::kHosted;
  const std::string path = io::RegisterTelemetry(sources);
  if (path.empty()) {
    spdlog::info("dmrswitch-dp: DPDK telemetry is off (--no-telemetry in dpdk.eal_args)");
  } else {
    spdlog::info("dmrswitch-dp: telemetry on {} (dpdk-telemetry.py -f {}; /dmrswitch/...)", path,
                 std::filesystem::path(path).parent_path().filename().string());
  }
}

// The packet plane of any mode, with the control plane hosted on the main lcore or, with
// control_plane = "separate", in dmrswitch-cp.
int RunPlane(const dmrswitch::cp::HubConfig& config, const std::string& config_path) {
  using namespace dmrswitch;
  const bool separate = config.hub.control_plane == cp::ControlPlaneMode::kSeparate;
  if (separate) {
    if (std::string why =
            HugepagesMissing(ipc::SnapshotArena::RegionBytesFor(cp::SnapshotArenaBytes(config)));
        !why.empty()) {
      return Fail(why);
    }
  }
  const std::string prefix = separate ? kSeparateRingPrefix : absl::StrCat("dsw", getpid());
  const io::PlaneConfig plane_config = MakePlaneConfig(config, prefix);
  const bool afxdp = config.hub.mode == cp::HubMode::kAfXdp;
  std::string afxdp_vdev;
  if (afxdp) {
    // Before EAL probes the port: net_af_xdp refuses an interface that carries any XDP program.
    absl::StatusOr<std::string> vdev = io::PrepareAfXdpPort(plane_config);
    if (!vdev.ok()) return Fail(std::string(vdev.status().message()));
    afxdp_vdev = *std::move(vdev);
  }
  auto eal = EalArguments(config, afxdp_vdev);
  if (!eal.ok()) return Fail(std::string(eal.status().message()));
  if (!separate && config.hub.mode == cp::HubMode::kKernel) SweepStaleRuntimeDirs();
  std::vector<char*> eal_argv;
  for (std::string& a : *eal) eal_argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    return Fail(absl::StrCat(
        "EAL initialisation failed",
        config.hub.mode == cp::HubMode::kKernel ? "" : " (dpdk.eal_args)", ": ",
        rte_strerror(rte_errno), separate ? SeparateEalHint(config) : "",
        afxdp ? absl::StrCat(" (afxdp: ", afxdp_vdev,
                             "; hub.shards must not exceed the interface's combined channels — a "
                             "veth offers one — and the kernel needs AF_XDP, CONFIG_XDP_SOCKETS)")
              : ""));
  }

  const bool kernel = config.hub.mode == cp::HubMode::kKernel;
  const int cp_wake = !separate && kernel ? eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) : -1;
  int rc = 0;
  {
    auto plane = io::CreatePlane(plane_config, cp_wake);
    if (!plane.ok()) {
      rc = Fail(std::string(plane.status().message()));
    } else if (auto info = ipc::CreatePlaneInfo(prefix, config.hub.shards, config.hbp.max_clients,
                                                (*plane)->config().listeners, !separate);
               !info.ok()) {
      rc = Fail(std::string(info.status().message()));
    } else if (separate) {
      // Where dmrswitch-cp builds routing snapshots: a memzone only the attached cp allocates in.
      auto arena = ipc::CreateSnapshotArena(prefix, cp::SnapshotArenaBytes(config));
      if (!arena.ok()) {
        rc = Fail(std::string(arena.status().message()));
      } else {
        StartTelemetry(config, **plane, *info);
        rc = ServeSeparate(**plane, **info, [&] {
          for (const std::string& d : (*plane)->DeviceLines()) spdlog::info("{}", d);
          spdlog::info("dmrswitch-dp: snapshot arena of {} MiB for dmrswitch-cp",
                       arena->usage().capacity_bytes >> 20);
          spdlog::info("{}", StartLine(config, config_path, **plane));
        });
      }
    } else {
      StartTelemetry(config, **plane, *info);
      rc = RunHosted(config, config_path, **plane, cp_wake);
    }
    io::RetireTelemetry();
    if (plane.ok()) {
      (*plane)->Stop();
      for (const std::string& line : (*plane)->ShardSummaries()) spdlog::info("{}", line);
    }
  }
  if (cp_wake >= 0) close(cp_wake);
  bool keep_files = false;  // --huge-unlink=never: the operator reuses the pages' files
  for (size_t i = 0; i < eal->size(); ++i) {
    keep_files |= (*eal)[i] == "--huge-unlink=never" ||
                  ((*eal)[i] == "--huge-unlink" && i + 1 < eal->size() && (*eal)[i + 1] == "never");
  }
  CleanupEal(keep_files);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace dmrswitch;
  std::string config_path;
  bool needs_hugepages = false;
  bool hugepages = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      config_path = a.substr(9);
    } else if (a == "--print-default-config") {
      std::fwrite(cp::DefaultConfigToml().data(), 1, cp::DefaultConfigToml().size(), stdout);
      return 0;
    } else if (a == "--print-config-keys") {
      // The key table as docs/config.md's columns: key, type, default, reload, applier.
      for (const cp::ConfigKey* k : cp::AllConfigKeys()) {
        std::printf("%s\t%s\t%s\t%s\t%s\n", std::string(k->path).c_str(), cp::TypeText(*k).c_str(),
                    cp::DefaultText(*k).c_str(), cp::ReloadText(*k).c_str(),
                    std::string(cp::ApplierName(k->applier)).c_str());
      }
      return 0;
    } else if (a == "--needs-hugepages") {
      needs_hugepages = true;
    } else if (a == "--hugepages") {
      hugepages = true;
    } else if (a == "--help" || a == "-h") {
      return Usage(argv[0], 0);
    } else {
      std::fprintf(stderr, "dmrswitch-dp: unknown argument %s\n", a.c_str());
      return Usage(argv[0], 2);
    }
  }

  auto config = config_path.empty()
                    ? cp::ParseConfig(cp::DefaultConfigToml(), "<embedded default config>")
                    : cp::LoadConfigFile(config_path);
  if (!config.ok()) return Fail(std::string(config.status().message()));
  if (needs_hugepages) {
    std::printf("%s\n", NeedsHugepages(*config) ? "yes" : "no");
    return 0;
  }
  if (hugepages) {
    std::printf("%llu\n", static_cast<unsigned long long>(HugepagesNeeded(*config)));
    return 0;
  }
  spdlog::set_level(spdlog::level::from_str(config->hub.log_level));
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  for (const std::string& w : cp::WorldReadableSecretFiles(*config, config_path)) {
    spdlog::warn("{}", w);
  }
  // One hub per runtime name and listening address (dataplane/io/instance_lock.h), before
  // anything is bound or EAL touches its runtime files. Held until the process ends.
  auto instance = io::InstanceLock::Acquire(InstanceOf(*config, config_path));
  if (!instance.ok()) return Fail(std::string(instance.status().message()));
  return RunPlane(*config, config_path);
}

namespace {

// The control plane on the main lcore of the dp (control_plane = "hosted").
int RunHosted(const dmrswitch::cp::HubConfig& config, const std::string& config_path,
              dmrswitch::io::Plane& plane, int cp_wake) {
  using namespace dmrswitch;
  std::vector<ipc::ShardChannel> channels;
  for (uint32_t s = 0; s < config.hub.shards; ++s) channels.push_back(plane.channels().shard(s));
  cp::ControlPlane control(config, config_path, channels, plane.channels().cp_cmd(),
                           plane.channels().pool(), plane.wake_fds(), nullptr,
                           plane.config().listeners);
  control.SetShardStats(plane.stats());
  if (absl::Status st = control.Start(io::MonotonicNs()); !st.ok()) {
    return Fail(std::string(st.message()));
  }
  if (absl::Status st = plane.Launch(); !st.ok()) return Fail(std::string(st.message()));
  InstallSignals();
  for (const std::string& d : plane.DeviceLines()) spdlog::info("{}", d);
  spdlog::info("{}", StartLine(config, config_path, plane));
  control.NotifyReady();  // every listener is up: the plane's sockets, the report surfaces

  control.Run(g_stop, g_reload, cp_wake);

  spdlog::info("dmrswitch-dp: stopping");
  control.Shutdown();
  // Let shard 0 send the MSTCLs before the loops stop.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  // The shards route with snapshots this control plane published and owns: they stop before it
  // is destroyed (at the end of this scope), never after.
  plane.Stop();
  return 0;
}

}  // namespace
