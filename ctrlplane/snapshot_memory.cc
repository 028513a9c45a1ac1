#include "ctrlplane/snapshot_memory.h"

#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "dataplane/route/shared_memory.h"

namespace dmrswitch::cp {
namespace {

ipc::SnapshotArena* g_arena = nullptr;

void* ArenaAllocate(size_t bytes, size_t alignment) {
  const uint64_t owner = route::CurrentSnapshotOwner();
  // Process-local (no owner): nothing another process reads, nothing a successor must free.
  if (owner == 0) return route::DefaultSnapshotMemory().allocate(bytes, alignment);
  return g_arena->Allocate(bytes, alignment, owner);
}

void ArenaFree(void* p, size_t bytes, size_t alignment) {
  if (!g_arena->Contains(p)) {
    route::DefaultSnapshotMemory().deallocate(p, bytes, alignment);
    return;
  }
  std::memset(p, 0xA5, bytes);
  g_arena->Free(p);
}

uint64_t ArenaNewOwner() { return g_arena->NewOwner(); }

}  // namespace

std::vector<const route::RouteSnapshot*> RecordedSnapshots(const ipc::PlaneInfo& info,
                                                           std::vector<uint64_t>* incomplete) {
  std::vector<const route::RouteSnapshot*> roots;
  for (const ipc::SnapshotRecord& r : info.retained) {
    const uint64_t generation = r.generation.load();
    if (generation == 0) continue;
    // The pointer is stored before the generation: a nonzero generation has its snapshot.
    const auto* snap = static_cast<const route::RouteSnapshot*>(r.snapshot.load());
    if (snap == nullptr || snap->generation() != generation) {
      if (incomplete != nullptr) incomplete->push_back(generation);
      continue;
    }
    roots.push_back(snap);
  }
  return roots;
}

ArenaRecovery ReclaimSnapshotArena(ipc::SnapshotArena& arena, const ipc::PlaneInfo& info) {
  const std::vector<const route::RouteSnapshot*> roots = RecordedSnapshots(info);
  const absl::flat_hash_set<uint64_t> live = route::RouteSnapshot::LiveOwners(roots);
  ArenaRecovery out;
  out.generations = roots.size();
  out.live_owners = live.size();
  out.reclaimed = arena.Reclaim([&](uint64_t owner) { return live.contains(owner); });
  return out;
}

void UseSnapshotArena(ipc::SnapshotArena* arena) {
  g_arena = arena;
  route::SetSnapshotMemory(arena == nullptr
                               ? route::SnapshotMemory{}
                               : route::SnapshotMemory{ArenaAllocate, ArenaFree, ArenaNewOwner});
}

nlohmann::json SnapshotArenaStatus(const ipc::SnapshotArena& arena, const ipc::PlaneInfo& info) {
  const ipc::SnapshotArena::Usage u = arena.usage();
  const ipc::SnapshotArena::Totals t = arena.totals();
  const absl::flat_hash_set<uint64_t> live =
      route::RouteSnapshot::LiveOwners(RecordedSnapshots(info));
  uint64_t unreferenced = 0;
  arena.ForEachBlock([&](const ipc::SnapshotArena::Block& b) {
    if (!live.contains(b.owner)) ++unreferenced;
  });
  return {{"capacity_bytes", u.capacity_bytes},
          {"used_bytes", u.pages_in_use * ipc::SnapshotArena::kPageBytes},
          {"peak_bytes", u.peak_pages * ipc::SnapshotArena::kPageBytes},
          {"blocks", u.blocks},
          {"block_bytes", u.block_bytes},
          {"unreferenced_blocks", unreferenced},
          {"control_planes", t.attaches},
          {"reclaimed_blocks", t.reclaimed_blocks},
          {"reclaimed_bytes", t.reclaimed_bytes},
          {"ignored_frees", t.ignored_frees}};
}

uint64_t SnapshotArenaBytes(const HubConfig& config) {
  if (config.hub.snapshot_arena_mb != 0) return uint64_t{config.hub.snapshot_arena_mb} << 20;
  // A generation of N clients, each with a restart record, talkgroups and 20 heard subscribers,
  // takes less than kPerClientBytes × N plus kFixedBytes for the partition tables
  // (snapshot_memory_test measures it). Two full generations, half as much again for what
  // shards have not acked, rounded up to 16 MiB.
  constexpr uint64_t kFixedBytes = 4 << 20;
  constexpr uint64_t kPerClientBytes = 4096;
  const uint64_t generation = kFixedBytes + kPerClientBytes * config.hbp.max_clients;
  const uint64_t bytes = generation * 5 / 2;
  constexpr uint64_t kStep = 16 << 20;
  return (bytes + kStep - 1) / kStep * kStep;
}

}  // namespace dmrswitch::cp
