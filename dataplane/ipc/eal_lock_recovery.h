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
// reported, never cleared here; the dp itself releases a malloc heap's once it has checked the
// heap (HeapLockWatch below).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dataplane/ipc/malloc_heap_check.h"

namespace dmrswitch::ipc {

// The runtime directory EAL uses for `file_prefix` in this process ($RUNTIME_DIRECTORY, /var/run
// for root, else $XDG_RUNTIME_DIR or /tmp; then dpdk/<file_prefix>).
std::string EalRuntimeDir(const std::string& file_prefix);

// The PID of the EAL primary that serves `runtime_dir` (the holder of its fcntl lock on the
// config file), or 0 if none runs.
pid_t EalPrimaryPid(const std::string& runtime_dir);

// Every process attached to `runtime_dir`, the primary included (the holders of the shared flock
// each EAL process keeps on fbarray_memzone); 0 stands for one in another PID namespace.
std::vector<pid_t> EalAttachedPids(const std::string& runtime_dir);

struct EalLock {
  std::string name;  // "mlock", "memzones.rwlock", "memsegs[1].rwlock", "malloc_heaps[0].lock"
  uint32_t offset = 0;
  int32_t value = 0;
  bool spinlock = false;
};

// The locks that are not free now.
absl::StatusOr<std::vector<EalLock>> HeldEalLocks(const std::string& runtime_dir);

// memory_hotplug_lock is left alone while a malloc heap lock is held: the dp decides when the
// heap's growth is over (HeapLockWatch); ask again once the heap lock is free.
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

// HeapLockWatch: the dp's watch over the malloc heap locks of its own EAL runtime. A secondary
// (a dmrswitch-cp) killed inside rte_malloc/rte_free leaves its heap's spinlock held, and every
// later rte_malloc on that heap — the next cp's rte_eal_init among them — waits for ever. The
// primary maps every element of every heap, so it can tell whether the dead holder left the heap
// intact (CheckMallocHeap, reading through process_vm_readv so that a damaged pointer is an
// answer, not a fault); when only its free lists are wrong (what a kill inside rte_malloc or
// rte_free most often leaves) they are rebuilt from the elements (RepairMallocHeap).
//
// Whose hold it is: a lock held for `held_for` while no other process is attached, and first
// seen held within a second of a secondary being attached (the watch looks at every poll), has
// no live holder; one that began with no secondary about belongs to this process's own threads
// and is never touched. If its heap is intact (or was made so) the free elements are settled
// (SettleFreeElements) and the lock released; otherwise it stays held and the dp needs a
// restart. A lock held together with memory_hotplug_lock is a growth or shrink of the heap
// through this process, whose EAL keeps changing the heap for the dead (without the lock its
// requester holds) until an IPC timeout and a rollback: it is checked only after 12 s and 7 s
// of an unchanged heap header, and never repaired. Call Poll from one thread, every few ms.
class HeapLockWatch {
 public:
  struct Event {
    std::string lock;       // "malloc_heaps[0].lock"
    bool released = false;  // false: the heap is damaged and the lock stays held
    bool growth = false;    // memory_hotplug_lock was held too: a growth or shrink through the dp
    MallocHeapReport heap;
    size_t relisted = 0;  // free elements put back on rebuilt free lists (0: none rebuilt)
    std::string damage;   // what was wrong with the free lists before
  };

  // FailedPrecondition when `runtime_dir` is not a DPDK 22.11 runtime whose shared config this
  // process maps where the config says (its own).
  static absl::StatusOr<HeapLockWatch> Open(const std::string& runtime_dir,
                                            absl::Duration held_for = absl::Milliseconds(200));
  HeapLockWatch(HeapLockWatch&&) noexcept;
  HeapLockWatch& operator=(HeapLockWatch&&) noexcept;
  ~HeapLockWatch();

  // Looks at the locks at `now`: cheap while all are free. What was released or found damaged
  // (each damaged heap once per hold).
  std::vector<Event> Poll(absl::Time now);

 private:
  struct State;
  explicit HeapLockWatch(std::unique_ptr<State> s);
  std::unique_ptr<State> s_;
};

}  // namespace dmrswitch::ipc
