// The snapshot arena's memzone, "<ring prefix>_arena" (dataplane/ipc/snapshot_arena.h): with a
// separate control plane, dmrswitch-dp reserves it in hugepage memory at start and lays it out
// empty; dmrswitch-cp looks it up and takes it over.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "dataplane/ipc/snapshot_arena.h"

namespace dmrswitch::ipc {

// dp: reserves a memzone whose data pages hold `capacity_bytes` and formats it.
absl::StatusOr<SnapshotArena> CreateSnapshotArena(const std::string& ring_prefix,
                                                  size_t capacity_bytes);
// cp (after ClaimControl): attaches to the dp's arena.
absl::StatusOr<SnapshotArena> AttachSnapshotArena(const std::string& ring_prefix);

}  // namespace dmrswitch::ipc
