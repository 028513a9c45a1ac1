// MallocHeapCheck: whether a DPDK 22.11 malloc heap's bookkeeping is intact, read through a
// reader that fails, instead of faulting, on memory that is not mapped.
//
// A DPDK secondary killed inside rte_malloc/rte_free leaves its heap's spinlock held, and may
// leave the heap half-changed: an element split but not yet linked, a free element taken off its
// free list but not put back. The dp (the primary, which maps every element) checks the heap
// before it releases such a lock (ipc::HeapLockWatch): every element in address order with its
// links agreeing both ways and no overlap, the first and last ends where the heap says, and each
// free element on exactly the free list its size selects. Any disagreement means the heap is not
// safe to use and the lock stays held (a dp restart is the answer).
//
// The layouts read are DPDK 22.11's `struct malloc_heap` and `struct malloc_elem`
// (lib/eal/common/malloc_heap.h and malloc_elem.h, not installed; unchanged through 22.11.11).
// Time and memory are inputs: the caller supplies the reader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/functional/function_ref.h"

namespace dmrswitch::ipc {

namespace malloc_layout {
// struct malloc_heap (cache aligned: 192 bytes).
inline constexpr uint32_t kHeapLock = 0;      // rte_spinlock_t
inline constexpr uint32_t kHeapFreeHead = 8;  // LIST_HEAD free_head[kFreeLists]: lh_first each
inline constexpr uint32_t kFreeLists = 13;    // RTE_HEAP_NUM_FREELISTS
inline constexpr uint32_t kHeapFirst = 112;   // struct malloc_elem *first
inline constexpr uint32_t kHeapLast = 120;    // struct malloc_elem *last
inline constexpr uint32_t kHeapAllocCount = 128;
inline constexpr uint32_t kHeapBytes = 192;
// struct malloc_elem (cache aligned: 128 bytes, MALLOC_ELEM_HEADER_LEN).
inline constexpr uint32_t kElemHeap = 0;
inline constexpr uint32_t kElemPrev = 8;
inline constexpr uint32_t kElemNext = 16;
inline constexpr uint32_t kElemFreeNext = 24;  // free_list.le_next
inline constexpr uint32_t kElemFreePrev = 32;  // free_list.le_prev (address of the link to it)
inline constexpr uint32_t kElemState = 48;     // enum elem_state state : 3 (low bits)
inline constexpr uint32_t kElemDirtyBit = 3;   // uint32_t dirty : 1, after state
inline constexpr uint32_t kElemPad = 52;       // uint32_t pad
inline constexpr uint32_t kElemSize = 56;
inline constexpr uint32_t kElemHeaderBytes = 128;
inline constexpr uint32_t kElemFree = 0, kElemBusy = 1, kElemPadState = 2;
inline constexpr uint32_t kElemAlign = 64;  // RTE_CACHE_LINE_SIZE

// The free list an element of `size` bytes (header included) belongs on
// (malloc_elem_free_list_index of its data size).
uint32_t FreeListIndex(uint64_t size);
}  // namespace malloc_layout

// Reads `len` bytes at `addr` into `out`; false if any of them is not mapped.
using MemoryReader = absl::FunctionRef<bool(uint64_t addr, void* out, size_t len)>;

struct MallocHeapReport {
  bool intact = false;
  std::string problem;  // the first inconsistency found, when not intact
  // The elements agree with each other and with the heap; only the free lists (which they
  // determine) do not: what a holder killed while taking an element off its list, or before
  // putting the pieces back, leaves. RepairMallocHeap rebuilds them.
  bool free_lists_only = false;
  uint64_t elements = 0;
  uint64_t free_elements = 0;
  uint64_t busy_elements = 0;
  uint32_t alloc_count = 0;  // as the heap records it (may lag a killed allocation by one)
};

// Writes `len` bytes from `in` at `addr`; false if any of them is not mapped.
using MemoryWriter = absl::FunctionRef<bool(uint64_t addr, const void* in, size_t len)>;

// Checks the heap whose `struct malloc_heap` is at `heap` in the memory `read` reads. Bounded:
// at most `max_elements` elements are followed.
MallocHeapReport CheckMallocHeap(MemoryReader read, uint64_t heap,
                                 uint64_t max_elements = uint64_t{1} << 22);

// Rebuilds the heap's free lists from its elements — each free element on the list its size
// selects (LIST_INSERT_HEAD, as malloc_elem_free_list_insert does) — then checks the heap again.
// Only for a report with `free_lists_only`: the dead holder's allocation is then undone, or its
// free completed; two adjacent free elements left unjoined cost fragmentation, nothing else. The
// heap's lock must be held (by the dead) throughout.
MallocHeapReport RepairMallocHeap(MemoryReader read, MemoryWriter write, uint64_t heap,
                                  const MallocHeapReport& report);

// Before a lock is released over an intact heap: every free element marked dirty and its pad
// cleared. rte_free lists an element before it zeroes its data and clears its pad, so a holder
// killed there leaves a free element that says it is clean (rte_zmalloc would skip the memset)
// or that has a stale pad (split_elem and join_elem write through it). Returns the number of
// free elements settled, or -1 if one could not be written.
int64_t SettleFreeElements(MemoryReader read, MemoryWriter write, uint64_t heap,
                           uint64_t max_elements = uint64_t{1} << 22);

}  // namespace dmrswitch::ipc
