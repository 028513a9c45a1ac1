// Where RouteSnapshot memory comes from. The control-plane process builds snapshots and the
// packet-plane process reads them through a raw pointer (DESIGN.md §6), so every byte reachable
// from a snapshot must lie in memory that both map at the same address — with DPDK, the hugepage
// heap of rte_malloc. The routing core knows nothing of DPDK: it allocates through a process-wide
// pair of hooks, which the control plane points at rte_malloc/rte_free.
//
// Contract:
//  * Readers never allocate or free. A snapshot is freed by the process that built it, or by a
//    process whose hooks free the same heap (another DPDK process of the same hugepage memory,
//    e.g. a restarted control plane taking over its predecessor's generations).
//  * Install hooks before any snapshot memory exists, or have the free hook recognise memory it
//    did not allocate: route::Acl allocates through the hooks too (it is part of snapshots), so
//    configuration parsed before SetSnapshotMemory() holds memory from the previous hooks. An
//    rte_free-based hook can pass such pointers (rte_mem_virt2memseg_list() == nullptr) to
//    DefaultSnapshotMemory().deallocate.
//  * Not synchronised: install hooks before other threads allocate or free snapshot memory.
//
// Cross-process layout rules for types placed in this memory: no virtual functions (a vtable
// pointer is an address in one process's image), no pointer to static storage, no container
// that allocates elsewhere or hashes with a per-process seed (absl's tables do both).
#pragma once

#include <cstddef>
#include <limits>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

namespace dmrswitch::route {

struct SnapshotMemory {
  // `alignment` is a power of two; nullptr when out of memory.
  void* (*allocate)(size_t bytes, size_t alignment);
  // Gets back exactly what allocate returned, with the same size and alignment.
  void (*deallocate)(void* p, size_t bytes, size_t alignment);
};

// Aligned ::operator new/delete: right for a single process (kernel mode, tests).
SnapshotMemory DefaultSnapshotMemory();
// Replaces the hooks. Both or neither: SnapshotMemory{} restores the defaults.
void SetSnapshotMemory(SnapshotMemory memory);
SnapshotMemory CurrentSnapshotMemory();

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
