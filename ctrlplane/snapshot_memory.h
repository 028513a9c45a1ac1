// Where a separate control plane builds its routing snapshots: the packet plane's snapshot arena
// (dataplane/ipc/snapshot_arena.h), a memzone with a lock-free allocator that only the attached
// control plane writes — never the DPDK heap, whose lock a killed control plane would leave held
// (docs/control-plane.md, "Snapshots across the process boundary" and "Restart and recovery").
//
// What a kill can leave, and how the successor reclaims it before it allocates anything:
//  * a generation being built or waiting to be recorded in PlaneInfo;
//  * a generation being freed (its record is cleared before the first free);
//  * the pieces and blocks in flight in either.
// Every block carries the owner it was allocated for (a root or a piece, shared_memory.h); the
// recorded generations name every owner still in use (RouteSnapshot::LiveOwners), and every
// other block is freed. No freed memory is read, no order of the predecessor's steps assumed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ctrlplane/config/config.h"
#include "dataplane/ipc/plane_info.h"
#include "dataplane/ipc/snapshot_arena.h"
#include "dataplane/route/route_snapshot.h"
#include "nlohmann/json.hpp"

namespace dmrswitch::cp {

// The generations `info` records, complete records only (a predecessor killed between a
// record's two stores leaves one no shard can have seen); the incomplete ones' generations in
// `incomplete`.
std::vector<const route::RouteSnapshot*> RecordedSnapshots(
    const ipc::PlaneInfo& info, std::vector<uint64_t>* incomplete = nullptr);

struct ArenaRecovery {
  size_t generations = 0;  // recorded, kept with every piece they use
  size_t live_owners = 0;
  ipc::SnapshotArena::Reclaimed reclaimed;  // what the predecessor left
};
// Frees every block of `arena` that no generation `info` records uses. Call after ClaimControl
// and before anything is allocated in the arena.
ArenaRecovery ReclaimSnapshotArena(ipc::SnapshotArena& arena, const ipc::PlaneInfo& info);

// Installs the snapshot memory hooks over `arena` (nullptr: the defaults again): what is
// allocated for an owner goes to the arena, tagged with it; what is allocated outside any owner
// scope (process-local objects) stays on this process's heap; a free goes where the address
// lies. Freed arena blocks are overwritten first, so that a shard reading a freed snapshot
// misroutes at once in the tests instead of reading stale data that looks right.
void UseSnapshotArena(ipc::SnapshotArena* arena);

// The arena's figures for `dmrswitch-ctl status`, with the blocks that no generation `info`
// records uses ("unreferenced_blocks"): 0 while the control plane is idle, or memory leaks.
nlohmann::json SnapshotArenaStatus(const ipc::SnapshotArena& arena, const ipc::PlaneInfo& info);

// hub.snapshot_arena_mb in bytes, or when it is 0 the size the configuration needs
// (docs/config.md): room for two full generations of hbp.max_clients clients — a successor's
// first generation shares nothing with its predecessor's — and half as much again for the
// pieces of the generations shards have not acked yet (tests/ctrlplane/snapshot_memory_test.cc
// measures a generation).
uint64_t SnapshotArenaBytes(const HubConfig& config);

}  // namespace dmrswitch::cp
