// dmrswitch-cp: the control plane as its own process (DESIGN.md §2, §6). A DPDK secondary
// process of the dmrswitch-dp that runs with control_plane = "separate": it looks up the dp's
// rings, control packet pool and PlaneInfo block by name, and runs the same ControlPlane as the
// hosted mode. Snapshots are built in the dp's snapshot arena (a hugepage memzone with a
// lock-free allocator, ctrlplane/snapshot_memory.h), where the shards can read them and where
// they outlive this process: a restarted cp reclaims what its predecessor left half-done, adopts
// the recorded generations and continues from the current one. Nothing this process holds can
// stop its successor: it may be killed at any instant.
//
//   dmrswitch-cp --config FILE [--cpus LIST]
//
// Stopping the cp (or killing it) never stops voice: the dp's shards keep routing and answering
// keepalives; new logins wait until a cp is back. The cp exits when the dp it serves goes away.
#include <rte_eal.h>
#include <rte_errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "ctrlplane/config/config.h"
#include "ctrlplane/config/secret_files.h"
#include "ctrlplane/control_plane.h"
#include "ctrlplane/cp_attach_journal.h"
#include "ctrlplane/snapshot_memory.h"
#include "dataplane/io/clock.h"
#include "dataplane/ipc/channel.h"
#include "dataplane/ipc/eal_lock_recovery.h"
#include "dataplane/ipc/plane_info.h"
#include "dataplane/ipc/ring_recovery.h"
#include "dataplane/ipc/shard_stats.h"
#include "dataplane/ipc/snapshot_arena_zone.h"
#include "spdlog/spdlog.h"

namespace {

constexpr char kRingPrefix[] = "dsw";  // dp_main.cc kSeparateRingPrefix
constexpr int kExitDpGone = 3;
// EX_CONFIG: the configuration asks for no separate control plane; the systemd unit does not
// restart on it (RestartPreventExitStatus).
constexpr int kExitNotSeparate = 78;

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};
// Set once this process has attached to the dp's shared memory and claimed the plane.
std::atomic<bool> g_attached{false};

// How long attaching (EAL secondary init, lookups, claim, arena recovery) may take. It takes
// well under a second; what makes it take for ever is a lock in DPDK's shared memory config left
// held by a process killed inside DPDK, which no wait ends.
constexpr auto kAttachTimeout = std::chrono::seconds(30);
// A stop asked for while attaching waits this long for the attach to finish cleanly.
constexpr auto kStopWhileAttaching = std::chrono::seconds(5);

void OnSignal(int sig) {
  if (sig == SIGHUP) {
    g_reload.store(true);
  } else {
    g_stop.store(true);
  }
}

int Fail(const std::string& msg) {
  std::fprintf(stderr, "dmrswitch-cp: %s\n", msg.c_str());
  return 1;
}

// How long a malloc heap lock found held before attaching may take to come free: the dp checks
// a heap whose lock has been held for 200 ms with no secondary attached, again every second, and
// waits 12 s first when its holder was growing the heap through the dp (memory_hotplug_lock held
// as well).
constexpr absl::Duration kHeapLockWait = absl::Seconds(5);
constexpr absl::Duration kGrowingHeapLockWait = absl::Seconds(20);

// Returns once no malloc heap lock of the dp's shared memory config is held, or an error naming
// the lock if one stays held that long (the dp found its heap damaged, or is too old to
// look). Anything this cannot read is left to rte_eal_init to report.
absl::Status WaitForHeapLocks(const std::string& eal_dir, pid_t primary, bool* waited) {
  *waited = false;
  if (primary == 0) return absl::OkStatus();
  const absl::Time start = absl::Now();
  bool said = false;
  while (true) {
    auto held = dmrswitch::ipc::HeldEalLocks(eal_dir);
    if (!held.ok()) return absl::OkStatus();
    const bool growing = std::any_of(held->begin(), held->end(),
                                     [](const auto& l) { return l.name == "memory_hotplug_lock"; });
    const absl::Duration limit = growing ? kGrowingHeapLockWait : kHeapLockWait;
    std::erase_if(*held, [](const dmrswitch::ipc::EalLock& l) {
      return l.name.rfind("malloc_heaps[", 0) != 0;
    });
    if (held->empty()) {
      if (said) spdlog::info("the malloc heap lock is free again: attaching");
      return absl::OkStatus();
    }
    *waited = true;
    if (absl::Now() - start > limit) {
      return absl::FailedPreconditionError(absl::StrCat(
          held->front().name, " of dmrswitch-dp pid ", primary,
          "'s shared memory is held by a process that no longer runs and was not released in ",
          absl::FormatDuration(limit),
          " (the dp's log says whether the heap behind it is damaged): restart dmrswitch-dp "
          "(drain first)"));
    }
    if (!said && absl::Now() - start > absl::Milliseconds(300)) {
      spdlog::warn(
          "{} of dmrswitch-dp pid {} is held: waiting for the dp to check the heap behind it "
          "and release it (a process killed inside rte_malloc held it)",
          held->front().name, primary);
      said = true;
    }
    if (g_stop.load()) return absl::CancelledError("stopped while waiting to attach");
    absl::SleepFor(absl::Milliseconds(20));
  }
}

int Usage(const char* argv0, int rc) {
  std::fprintf(rc == 0 ? stdout : stderr,
               "usage: %s --config FILE [--cpus LIST]\n"
               "  --config FILE   the hub's TOML configuration, the same file dmrswitch-dp was\n"
               "                  started with (hub.control_plane = \"separate\")\n"
               "  --cpus LIST     CPUs the control plane may run on (EAL syntax: 0, 0-1, 0,2);\n"
               "                  default all — keep it off the shards' CPUs on busy hubs\n",
               argv0);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace dmrswitch;
  // Signals first, before anything else main does: a stop or reload asked for while the cp
  // starts is kept for the main loop (which sees g_stop at once), never the default action at an
  // arbitrary instant of the start or of EAL's init, where a kill could leave a shared lock held.
  // (Before main — the dynamic loader mapping DPDK's libraries — no program can catch one.)
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  std::string config_path;
  std::string cpus;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a == "--cpus" && i + 1 < argc) {
      cpus = argv[++i];
      if (cpus.empty() || cpus.find_first_not_of("0123456789,-") != std::string::npos) {
        return Fail("--cpus takes a CPU list such as 0, 0-1 or 0,2");
      }
    } else if (a.rfind("--config=", 0) == 0) {
      config_path = a.substr(9);
    } else if (a == "--help" || a == "-h") {
      return Usage(argv[0], 0);
    } else {
      std::fprintf(stderr, "dmrswitch-cp: unknown argument %s\n", a.c_str());
      return Usage(argv[0], 2);
    }
  }
  if (config_path.empty()) return Usage(argv[0], 2);
  auto config = cp::LoadConfigFile(config_path);
  if (!config.ok()) return Fail(std::string(config.status().message()));
  if (config->hub.control_plane != cp::ControlPlaneMode::kSeparate) {
    Fail(absl::StrCat(config_path,
                      ": hub.control_plane is \"hosted\": the control plane runs inside "
                      "dmrswitch-dp; set control_plane = \"separate\" to run dmrswitch-cp"));
    // Type=notify: a unit that exits before READY=1 failed; this one has nothing to do.
    if (auto n = cp::report::SystemdNotifier::FromEnvironment(); n.ok()) {
      (void)n->Notify("READY=1\nSTATUS=not needed: the control plane is hosted\nSTOPPING=1");
    }
    return kExitNotSeparate;
  }
  spdlog::set_level(spdlog::level::from_str(config->hub.log_level));
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ cp %v");
  for (const std::string& w : cp::WorldReadableSecretFiles(*config, config_path)) {
    spdlog::warn("{}", w);
  }

  // A hung attach turns into an error that says why, and a stop during it still stops.
  std::thread([] {
    const auto start = std::chrono::steady_clock::now();
    auto stop_seen = std::chrono::steady_clock::time_point::max();
    while (!g_attached.load()) {
      const auto now = std::chrono::steady_clock::now();
      if (g_stop.load() && stop_seen == std::chrono::steady_clock::time_point::max()) {
        stop_seen = now;
      }
      if (now - stop_seen > kStopWhileAttaching) {
        std::fprintf(stderr, "dmrswitch-cp: stopped while attaching to dmrswitch-dp\n");
        std::_Exit(1);
      }
      if (now - start > kAttachTimeout) {
        std::fprintf(stderr,
                     "dmrswitch-cp: attaching to dmrswitch-dp did not finish in %lld s. A lock in "
                     "DPDK's shared memory configuration is held by a process that no longer "
                     "runs (a DPDK secondary killed inside EAL); restart dmrswitch-dp (drain "
                     "first) to clear it\n",
                     static_cast<long long>(kAttachTimeout.count()));
        std::_Exit(1);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }).detach();

  const std::string file_prefix = cp::EalFilePrefix(*config);
  // One cp per hub, and what the last one was doing inside EAL (ctrlplane/cp_attach_journal.h).
  const std::string run_dir = cp::RunDir(*config);
  if (::mkdir(run_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return Fail(absl::StrCat("cannot create the run directory ", run_dir, ": ",
                             std::strerror(errno), " (hub.run_dir names it)"));
  }
  auto journal = cp::CpAttachJournal::Open(run_dir, file_prefix);
  if (!journal.ok()) return Fail(std::string(journal.status().message()));
  const std::string eal_dir = ipc::EalRuntimeDir(file_prefix);
  const pid_t primary = ipc::EalPrimaryPid(eal_dir);
  const bool predecessor_died = journal->PredecessorDiedInsideEal(primary);
  bool hotplug_left = false;
  // Clears the rwlocks the dead cp left held, and says what stays held: while a malloc heap
  // lock is among them, that is the dp's to release and memory_hotplug_lock waits for it
  // (ipc::HeapLockWatch); then the repair runs again. Returns whether memory_hotplug_lock
  // stayed held.
  const auto clear_leaked_locks = [&] {
    auto repair = ipc::ClearLeakedEalLocks(eal_dir, /*looks=*/10, absl::Milliseconds(20));
    if (!repair.ok()) {
      spdlog::warn("shared DPDK locks not cleared: {}", std::string(repair.status().message()));
      return false;
    }
    for (const ipc::EalLock& l : repair->cleared) {
      spdlog::warn("cleared {} (held at {:#x} by the dead cp)", l.name, l.value);
    }
    const bool heap_held = std::any_of(repair->left.begin(), repair->left.end(), [](auto& l) {
      return l.name.rfind("malloc_heaps[", 0) == 0;
    });
    bool hotplug = false;
    for (const ipc::EalLock& l : repair->left) {
      hotplug |= l.name == "memory_hotplug_lock";
      if (heap_held) {
        spdlog::info("{} is held ({:#x}): left to dmrswitch-dp for now", l.name, l.value);
      } else {
        spdlog::error(
            "{} is held ({:#x}): if this cp does not attach, restart dmrswitch-dp (drain first)",
            l.name, l.value);
      }
    }
    return hotplug;
  };
  if (predecessor_died) {
    const cp::CpAttachJournal::Entry& was = journal->previous();
    spdlog::warn(
        "the previous dmrswitch-cp (pid {}) died while {} dmrswitch-dp pid {}: clearing the "
        "shared DPDK locks it may have left held",
        was.cp,
        was.phase == cp::CpAttachJournal::Phase::kAttaching ? "attaching to" : "detaching from",
        primary);
    hotplug_left = clear_leaked_locks();
  }
  // A malloc heap lock left held (a cp killed inside rte_malloc) would stop rte_eal_init for
  // ever: the dp checks that heap and releases the lock (ipc::HeapLockWatch) while no secondary
  // is attached, so wait for that here, before attaching, and say so if it does not come.
  bool waited = false;
  if (absl::Status st = WaitForHeapLocks(eal_dir, primary, &waited); !st.ok()) {
    return Fail(std::string(st.message()));
  }
  // Again once the heap locks are free: memory_hotplug_lock is left while one is held (it may
  // have come free during the looks, before the wait).
  if (predecessor_died && (waited || hotplug_left)) clear_leaked_locks();
  // Written before EAL is entered, so that a kill at any instant after it is known to the next.
  if (absl::Status st = journal->Record(cp::CpAttachJournal::Phase::kAttaching, primary);
      !st.ok()) {
    return Fail(std::string(st.message()));
  }
  // Leaves EAL (recorded around it: rte_eal_cleanup takes shared locks too).
  const auto detach = [&] {
    (void)journal->Record(cp::CpAttachJournal::Phase::kDetaching, primary);
    rte_eal_cleanup();
    (void)journal->Record(cp::CpAttachJournal::Phase::kDetached, primary);
  };
  const long ncpu = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  std::vector<std::string> eal = {
      "dmrswitch-cp",
      "--proc-type=secondary",
      absl::StrCat("--file-prefix=", file_prefix),
      "--no-pci",
      // An lcore ID no dp uses (they count from 0): per-lcore mempool caches are per ID, and
      // the control packet pool is shared.
      cpus.empty() ? absl::StrCat("--lcores=(", RTE_MAX_LCORE - 1, ")@(0-", ncpu - 1, ")")
                   : absl::StrCat("--lcores=(", RTE_MAX_LCORE - 1, ")@(", cpus, ")"),
      "--log-level=lib.eal:error",
      "--no-telemetry",
  };
  std::vector<char*> eal_argv;
  for (std::string& s : eal) eal_argv.push_back(s.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    (void)journal->Record(cp::CpAttachJournal::Phase::kDetached, primary);
    return Fail(absl::StrCat("cannot attach to dmrswitch-dp (runtime name \"", file_prefix,
                             "\"): ", rte_strerror(rte_errno), ". Start dmrswitch-dp --config ",
                             config_path, " first; it must run with hugepages"));
  }

  auto info = ipc::AttachPlaneInfo(kRingPrefix, config->hub.shards, config->hbp.max_clients);
  if (!info.ok()) {
    detach();
    return Fail(std::string(info.status().message()));
  }
  auto channels = ipc::ChannelSet::Attach(kRingPrefix, config->hub.shards);
  if (!channels.ok()) {
    detach();
    return Fail(std::string(channels.status().message()));
  }
  const pid_t self = getpid();
  if (absl::Status st = ipc::ClaimControl(*info, self); !st.ok()) {
    detach();
    return Fail(std::string(st.message()));
  }
  auto stats = ipc::AttachShardStatsZone(kRingPrefix, config->hub.shards);
  if (!stats.ok()) {
    ipc::ReleaseControl(*info, self);  // or the next cp is refused as if this one still ran
    detach();
    return Fail(std::string(stats.status().message()));
  }
  // Snapshots live in the dp's snapshot arena, which its shards map at the same addresses. What a
  // killed predecessor left half-built or half-freed goes first, and the rings it may have been
  // in the middle of are set right.
  auto arena = ipc::AttachSnapshotArena(kRingPrefix);
  if (!arena.ok()) {
    ipc::ReleaseControl(*info, self);
    detach();
    return Fail(std::string(arena.status().message()));
  }
  const cp::ArenaRecovery recovery = cp::ReclaimSnapshotArena(*arena, **info);
  if (recovery.reclaimed.blocks != 0) {
    spdlog::info(
        "snapshot arena: reclaimed {} block(s), {} KiB, that a previous control plane left",
        recovery.reclaimed.blocks, recovery.reclaimed.bytes >> 10);
  }
  for (const ipc::RingRepair& r : ipc::RecoverControlPlaneRings(*channels)) {
    spdlog::warn(
        "ring {}: a previous control plane was killed in the middle of a{} ({} entries); {}",
        r.ring, r.producer_side ? "n enqueue" : " dequeue", r.entries,
        r.producer_side ? "undone" : "read again");
  }
  cp::UseSnapshotArena(&*arena);
  // From here to rte_eal_cleanup this process uses the dp's memory through rings, its snapshot
  // arena and atomics only: nothing a kill can leave locked.
  if (absl::Status st = journal->Record(cp::CpAttachJournal::Phase::kAttached, primary); !st.ok()) {
    spdlog::warn("{}", std::string(st.message()));
  }
  g_attached.store(true);
  {
    const ipc::SnapshotArena::Usage u = arena->usage();
    spdlog::info("snapshot arena: {} of {} MiB in use by {} recorded generation(s)",
                 (u.pages_in_use * ipc::SnapshotArena::kPageBytes) >> 20, u.capacity_bytes >> 20,
                 recovery.generations);
  }

  std::vector<ipc::ShardChannel> shard_channels;
  for (uint32_t s = 0; s < config->hub.shards; ++s) shard_channels.push_back(channels->shard(s));
  const pid_t dp_pid = (*info)->dp_pid;
  int rc = 0;
  {
    cp::ControlPlane control(*config, config_path, shard_channels, channels->cp_cmd(),
                             channels->pool(), std::vector<int>(config->hub.shards, -1), *info);
    control.SetShardStats(*stats);
    control.SetMemoryStatus([&] { return cp::SnapshotArenaStatus(*arena, **info); });
    // No pool operation of this process can be cut short by a kill with the shards waiting on it.
    control.UseControlMbufRings(channels->cp_supply(), channels->cp_return());
    std::string start_error;
    if (absl::Status st = control.Start(io::MonotonicNs()); !st.ok()) {
      start_error = std::string(st.message());
      g_stop.store(true);
      rc = 1;
    }

    // The dp's memory goes with it: leave (a service manager starts a cp for the next dp).
    std::atomic<bool> dp_gone{false};
    std::thread watch([&] {
      while (!g_stop.load()) {
        if (!ipc::ProcessAlive(dp_pid)) {
          dp_gone.store(true);
          g_stop.store(true);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
    if (!start_error.empty()) {
      Fail(start_error);
    } else {
      spdlog::info(
          "dmrswitch-cp: attached to dmrswitch-dp pid {} (runtime name {}, {} shard(s)), {}; "
          "config {}",
          dp_pid, file_prefix, config->hub.shards,
          control.restored() ? absl::StrCat("continuing from snapshot g", control.generation())
                             : std::string("fresh start"),
          config_path);
      control.NotifyReady();
    }
    control.Run(g_stop, g_reload, -1);
    watch.join();
    if (!start_error.empty()) {
      // rc = 1 already; the publisher hands over whatever it adopted.
    } else if (dp_gone.load()) {
      spdlog::warn("dmrswitch-cp: dmrswitch-dp (pid {}) is gone; exiting", dp_pid);
      rc = kExitDpGone;
    } else {
      // No MSTCL: stopping the control plane is not stopping the hub.
      spdlog::info("dmrswitch-cp: stopping; the dp keeps routing");
    }
  }
  ipc::ReleaseControl(*info, self);
  // What is still allocated outside the arena (the configuration) is ordinary heap; the
  // generations in the arena stay for the shards and the next control plane.
  cp::UseSnapshotArena(nullptr);
  if (rc != kExitDpGone) {
    detach();
  } else {
    // The dp and its shared memory are gone: nothing of ours can be left held in it.
    (void)journal->Record(cp::CpAttachJournal::Phase::kDetached, primary);
  }
  return rc;
}
