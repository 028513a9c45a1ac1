// SnapshotArena: the memory a separate control plane (dmrswitch-cp) builds routing snapshots in
// (docs/control-plane.md, "Snapshots across the process boundary"). dmrswitch-dp lays it out at
// start in a memzone of its own; the one attached control plane allocates and frees in it; the
// shards only read what it holds. It replaces rte_malloc, whose heap lock a control plane killed
// at the wrong instant would leave held for ever: this allocator has no lock at all.
//
// Why no lock is needed: PlaneInfo's claim (ClaimControl) admits one live control plane at a
// time, the only process that writes the arena's metadata; readers never allocate or free. A
// successor starts after its predecessor is gone, so there is never a second writer — only a
// writer that may have been killed at any instruction.
//
// Crash consistency: every allocation and every free takes effect with one aligned 8-byte store
// (a commit); what is written before a commit is not yet part of the arena's state, what is
// written after it is not needed to read the state back. So whatever instant a writer dies at,
// the metadata describes a valid arena, and Attach() can read it; a kill can at most leave
// blocks allocated that nobody will free (a leak), never a block that is free and allocated at
// once, and never a lock.
//
// Leaks are reclaimed by owner: every block carries the owner it was allocated for (a nonzero ID
// from NewOwner(); the snapshot code gives each root and piece its own), and Reclaim() frees the
// blocks whose owner is not live. The allocator never writes into a block — free or allocated —
// and never reads one; metadata lives apart from the blocks.
//
// Layout of the region (all offsets from its start, the data pages aligned to kPageBytes):
//   header                 magic, geometry, the owner counter, figures
//   desc[npages]           per page: 0, or the head of a slab (size class) or of a run (pages)
//   run_owner[npages]      per page: the owner of the run whose head it is
//   data pages             slabs (a bitmap and an owner per slot at the slab's end) and runs
// A block of at most kMaxSlotBytes is a slot of a slab of its size class; a larger one is a run
// of whole pages. A head descriptor covers its whole slab or run; the other pages of it keep
// descriptor 0, so a commit is always the one store of the head.
//
// Not thread-safe: one thread of one process allocates and frees (the control plane's).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dmrswitch::ipc {

class SnapshotArena {
 public:
  static constexpr size_t kPageBytes = 4096;
  // Blocks up to this size are slots of a slab; larger ones are runs of whole pages.
  static constexpr size_t kMaxSlotBytes = 2048;
  // A slot is aligned to the largest power of two that divides its class's size (a block gets
  // a class whose slots are aligned as asked), a run to a page; more is refused.
  static constexpr size_t kMaxAlignment = kPageBytes;

  struct Block {
    void* p;
    size_t bytes;  // as allocated: the slot size or the run's pages
    uint64_t owner;
  };
  struct Usage {
    uint64_t capacity_bytes = 0;  // the data pages
    uint64_t pages_in_use = 0;    // pages of slabs (full, partial or empty) and runs
    uint64_t peak_pages = 0;      // the most pages_in_use ever was, since Format
    uint64_t blocks = 0;          // live blocks
    uint64_t block_bytes = 0;     // their sizes as allocated
  };
  struct Reclaimed {
    uint64_t blocks = 0;
    uint64_t bytes = 0;
  };
  // What the header says across processes (any process may read it; figures are approximate
  // while a writer runs).
  struct Totals {
    uint64_t attaches = 0;          // Attach() calls: control planes that took the arena over
    uint64_t reclaimed_blocks = 0;  // by Reclaim(), over the arena's life
    uint64_t reclaimed_bytes = 0;
    uint64_t ignored_frees = 0;  // Free() of something that was not a live block
    uint64_t pages_in_use = 0;   // as of the writer's last change
    uint64_t peak_pages = 0;
  };

  // The smallest region that holds `capacity_bytes` of data pages (metadata and alignment
  // slack included).
  static size_t RegionBytesFor(size_t capacity_bytes);

  // The packet plane at start: lays out an empty arena over [region, region + bytes).
  static absl::StatusOr<SnapshotArena> Format(void* region, size_t bytes);
  // A control plane: takes over the arena that Format laid out there — fresh, or as a killed
  // predecessor left it — and rebuilds its own index from the metadata. Refused when the
  // metadata is not an arena's (DataLoss). Releases empty slabs. Call only while no other
  // process can write the arena (after ClaimControl).
  static absl::StatusOr<SnapshotArena> Attach(void* region, size_t bytes);

  SnapshotArena(SnapshotArena&&) = default;
  SnapshotArena& operator=(SnapshotArena&&) = default;
  SnapshotArena(const SnapshotArena&) = delete;
  SnapshotArena& operator=(const SnapshotArena&) = delete;

  // `alignment` is a power of two up to kMaxAlignment. nullptr when the arena has no room.
  void* Allocate(size_t bytes, size_t alignment, uint64_t owner);
  // Frees the block that starts at `p`. False — and nothing changes — when `p` is not the start
  // of a live block (freed already, never allocated, inside a block); counted in Totals.
  bool Free(void* p);
  // Whether `p` lies in the data pages.
  bool Contains(const void* p) const {
    const auto a = reinterpret_cast<uintptr_t>(p);
    return a >= data_ && a < data_ + npages_ * kPageBytes;
  }
  // A new owner ID: nonzero, never given out before by any process on this arena.
  uint64_t NewOwner();

  // Every live block, in address order.
  void ForEachBlock(absl::FunctionRef<void(const Block&)> fn) const;
  // Frees every block whose owner `live` says is gone.
  Reclaimed Reclaim(absl::FunctionRef<bool(uint64_t owner)> live);

  Usage usage() const;
  Totals totals() const;
  // Every invariant of the shared metadata and of this process's index (tests).
  absl::Status Check() const;

  // Tests of crash consistency: the calling process raises SIGKILL just before its n-th
  // metadata write from now (0: never). metadata_writes() counts them since the process began.
  static void KillBeforeMetadataWriteForTesting(uint64_t n);
  static uint64_t metadata_writes();

 private:
  struct Header;
  static constexpr uint32_t kNoHead = UINT32_MAX;

  SnapshotArena() = default;
  absl::Status BuildIndex();
  void* AllocateSlot(uint32_t cls, uint64_t owner);
  void* AllocateRun(size_t pages, uint64_t owner);
  bool FreeSlot(uint32_t head, uintptr_t address);
  int64_t NewSlab(uint32_t cls);
  void ReleaseSlab(uint32_t head);
  // The first run of `pages` free pages, or -1.
  int64_t FindFreePages(size_t pages) const;
  void TakePages(uint32_t head, size_t pages);
  void GivePages(uint32_t head, size_t pages);
  void RemovePartial(uint32_t cls, uint32_t head);
  uintptr_t PageAddress(uint32_t page) const { return data_ + uint64_t{page} * kPageBytes; }
  std::atomic<uint64_t>* SlabBitmap(uint32_t head, uint32_t cls) const;
  std::atomic<uint64_t>* SlabOwners(uint32_t head, uint32_t cls) const;
  void NoteUsage();

  Header* header_ = nullptr;
  std::atomic<uint64_t>* desc_ = nullptr;
  std::atomic<uint64_t>* run_owner_ = nullptr;
  uintptr_t data_ = 0;
  uint32_t npages_ = 0;

  // This process's index, rebuilt from the metadata by Attach().
  std::vector<uint32_t> head_of_;     // page -> head page of its slab or run, kNoHead: free
  std::vector<uint64_t> free_pages_;  // bit set: the page is free
  uint32_t first_free_ = 0;           // no free page below it
  std::vector<uint32_t> slab_used_;   // by head page: allocated slots of a slab
  std::vector<uint8_t> in_partial_;   // by head page: listed in partial_
  std::vector<std::vector<uint32_t>> partial_;  // by class: slabs with a free slot
  std::vector<uint32_t> spare_slab_;  // by class: one empty slab kept for the next allocation
  Usage usage_;
};

}  // namespace dmrswitch::ipc
