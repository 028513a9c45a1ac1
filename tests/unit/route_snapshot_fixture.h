// A RouteSnapshot that exercises every container in it, the checks of what it must say, and a
// bump arena to build it in: shared by the in-process memory tests and by route_snapshot_reader,
// the separate binary that reads the snapshot through shared memory. No GoogleTest here: the
// reader is a plain program.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/route/route_snapshot.h"

namespace dmrswitch::route::snapshot_fixture {

// Builds the fixture snapshot through the current snapshot memory hooks. The builder is gone
// when this returns.
absl::StatusOr<std::shared_ptr<const RouteSnapshot>> BuildFixtureSnapshot();

// What is wrong with `snap` as the fixture snapshot, one line per failed check; empty if nothing.
// Reads only (no allocation through the hooks).
std::vector<std::string> CheckFixtureSnapshot(const RouteSnapshot& snap);

// A bump allocator over [base, base + size), installed as the snapshot memory hooks while it
// lives (one at a time). Frees are counted, never reused; the destructor restores the default
// hooks, so everything allocated from the arena must be gone by then.
class SnapshotArena {
 public:
  SnapshotArena(void* base, size_t size);
  ~SnapshotArena();
  SnapshotArena(const SnapshotArena&) = delete;
  SnapshotArena& operator=(const SnapshotArena&) = delete;

  bool Contains(const void* p) const;
  const uint8_t* base() const { return base_; }
  size_t used() const { return used_; }
  size_t allocations() const { return allocations_; }
  size_t frees() const { return frees_; }

 private:
  static void* Allocate(size_t bytes, size_t alignment);
  static void Free(void* p, size_t bytes, size_t alignment);

  static SnapshotArena* current_;
  uint8_t* base_;
  size_t size_;
  size_t used_ = 0;
  size_t allocations_ = 0;
  size_t frees_ = 0;
};

// Every 8-byte word in the used part of `arena` whose value is an address in another mapping of
// this process (heap, stack, a library's data): one line each. Memory that another process maps
// at the same address must point only into itself.
std::vector<std::string> PointersOutside(const SnapshotArena& arena);

}  // namespace dmrswitch::route::snapshot_fixture
