// EalLockRecovery: the locks in a DPDK primary's shared memory configuration that a secondary
// killed inside EAL left held.
//
// Every EAL process maps the primary's `struct rte_mem_config` (the runtime directory's `config`
// file). Its rwlocks are plain counters: a secondary killed while it holds one (during its
// rte_eal_init, a memzone/ring/mempool lookup or its rte_eal_cleanup) leaves the count raised
// for ever, and the next process that wants it for writing — the next secondary's init, or the
// primary's next memzone or heap change — waits for ever, blocking every reader behind it too.
// EAL has no API to see or release them, so this reads the layout of DPDK 22.11 (checked by the
// version field; any other version is left alone) and, for a caller that knows the holder is
// dead (ctrlplane/cp_attach_journal.h), clears what stays held. Only the rwlocks are cleared: a
// reader or an attaching/detaching writer changes no shared data under them. A held spinlock (a
// malloc heap's, the timer lock) guards data its dead holder may have left half-changed; it is
// reported, never cleared — the dp needs a restart.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace dmrswitch::ipc {

// The runtime directory EAL uses for `file_prefix` in this process ($RUNTIME_DIRECTORY, /var/run
// for root, else $XDG_RUNTIME_DIR or /tmp; then dpdk/<file_prefix>).
std::string EalRuntimeDir(const std::string& file_prefix);

// The PID of the EAL primary that serves `runtime_dir` (the holder of its fcntl lock on the
// config file), or 0 if none runs.
pid_t EalPrimaryPid(const std::string& runtime_dir);

// Every process attached to `runtime_dir`, the primary included (the holders of the shared flock
// each EAL process keeps on fbarray_memzone).
std::vector<pid_t> EalAttachedPids(const std::string& runtime_dir);

struct EalLock {
  std::string name;  // "mlock", "memzones.rwlock", "memsegs[1].rwlock", "malloc_heaps[0].lock"
  uint32_t offset = 0;
  int32_t value = 0;
  bool spinlock = false;
};

// The locks that are not free now.
absl::StatusOr<std::vector<EalLock>> HeldEalLocks(const std::string& runtime_dir);

struct EalLockRepair {
  std::vector<EalLock> cleared;  // rwlocks held at the same value at every look, now free
  std::vector<EalLock> left;     // held spinlocks (not ours to clear) and locks that moved
};

// For a caller that knows a dead process held them and that no other secondary is attached:
// looks `looks` times, `interval` apart, and clears each rwlock that kept one non-zero value
// throughout by a compare-and-swap from that value (a lock that changed meanwhile has a live
// holder and is left). FailedPrecondition when the runtime is not a DPDK 22.11 primary's that
// this build understands, or when any secondary is attached (the caller is not yet).
absl::StatusOr<EalLockRepair> ClearLeakedEalLocks(const std::string& runtime_dir, int looks,
                                                  absl::Duration interval);

}  // namespace dmrswitch::ipc
