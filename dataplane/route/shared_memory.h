// Where RouteSnapshot memory comes from. The control-plane process builds snapshots and the
// packet-plane process reads them through a raw pointer (DESIGN.md §6), so every byte reachable
// from a snapshot must lie in memory that both map at the same address — with a separate control
// plane, the dp's snapshot arena in hugepage memory (dataplane/ipc/snapshot_arena.h). The routing
// core knows nothing of DPDK: it allocates through a process-wide set of hooks, which
// dmrswitch-cp points at the arena (ctrlplane/snapshot_memory.h).
//
// Contract:
//  * Readers never allocate or free. A snapshot is freed by the process that built it, or by a
//    process whose hooks free the same memory (a restarted control plane taking over its
//    predecessor's generations).
//  * Install hooks before any snapshot memory exists, or have the free hook recognise memory it
//    did not allocate: route::Acl allocates through the hooks too (it is part of snapshots), so
//    configuration parsed before SetSnapshotMemory() holds memory from the previous hooks. The
//    arena's hook passes pointers outside the arena to DefaultSnapshotMemory().deallocate.
//  * Not synchronised: install hooks before other threads allocate or free snapshot memory.
//
// Owners. Every allocation is made for an owner: the snapshot root or piece being built when it
// was made (RouteSnapshotBuilder opens a SnapshotOwnerScope for each, and each records its owner
// ID). A separate control plane's hooks tag every block with it, so that a successor can tell
// the blocks of the pieces the recorded generations still use from everything a killed
// predecessor left half-built or half-freed, and free the rest (docs/control-plane.md, "Restart
// and recovery"). Outside any scope the owner is 0: process-local objects that allocate through
// the hooks (a configuration's Acl, the builder's working state) — the control plane's hooks
// keep those on the process heap.
//
// Cross-process layout rules for types placed in this memory: no virtual functions (a vtable
// pointer is an address in one process's image), no pointer to static storage, no container
// that allocates elsewhere or hashes with a per-process seed (absl's tables do both).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

namespace dmrswitch::route {

struct SnapshotMemory {
  // `alignment` is a power of two; nullptr when out of memory. CurrentSnapshotOwner() says whom
  // the block is for.
  void* (*allocate)(size_t bytes, size_t alignment);
  // Gets back exactly what allocate returned, with the same size and alignment.
  void (*deallocate)(void* p, size_t bytes, size_t alignment);
  // A new owner ID: nonzero and never given out before, also by an earlier process on the same
  // memory. nullptr: a counter of this process.
  uint64_t (*new_owner)() = nullptr;
};

// Aligned ::operator new/delete: right for a single process (kernel mode, tests).
SnapshotMemory DefaultSnapshotMemory();
// Replaces the hooks. Both or neither of allocate and deallocate: SnapshotMemory{} restores the
// defaults.
void SetSnapshotMemory(SnapshotMemory memory);
SnapshotMemory CurrentSnapshotMemory();

// The owner of what this thread allocates now (0: none, process-local).
uint64_t CurrentSnapshotOwner();

// A new owner (from the hooks' new_owner) for what this thread allocates while the scope lives;
// the enclosing owner again after it. Scopes nest.
class SnapshotOwnerScope {
 public:
  SnapshotOwnerScope();
  ~SnapshotOwnerScope();
  SnapshotOwnerScope(const SnapshotOwnerScope&) = delete;
  SnapshotOwnerScope& operator=(const SnapshotOwnerScope&) = delete;
  uint64_t owner() const { return owner_; }

 private:
  uint64_t owner_;
  uint64_t enclosing_;
};

// Through the current hooks; throws std::bad_alloc when the allocate hook returns nullptr.
void* AllocateSnapshotBytes(size_t bytes, size_t alignment);
void FreeSnapshotBytes(void* p, size_t bytes, size_t alignment) noexcept;

// An STL allocator over the hooks. Stateless, so a container stores no allocator state (no
// process-local pointer) in the shared memory, and any two instances compare equal.
template <class T>
class SnapshotAllocator {
 public:
  using value_type = T;

  SnapshotAllocator() = default;
  template <class U>
  SnapshotAllocator(const SnapshotAllocator<U>&) noexcept {}  // NOLINT: rebinding is implicit

  T* allocate(size_t n) {
    if (n > std::numeric_limits<size_t>::max() / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(AllocateSnapshotBytes(n * sizeof(T), alignof(T)));
  }
  void deallocate(T* p, size_t n) noexcept { FreeSnapshotBytes(p, n * sizeof(T), alignof(T)); }

  template <class U>
  bool operator==(const SnapshotAllocator<U>&) const noexcept {
    return true;
  }
};

template <class T>
using SnapshotVector = std::vector<T, SnapshotAllocator<T>>;
// libstdc++'s (C++11 ABI) short strings point into the string object itself: valid in every
// process that maps the object at the same address.
using SnapshotString = std::basic_string<char, std::char_traits<char>, SnapshotAllocator<char>>;

static_assert(std::is_empty_v<SnapshotAllocator<int>>);

}  // namespace dmrswitch::route
