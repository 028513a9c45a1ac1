#include "dataplane/ipc/snapshot_arena_zone.h"

#include <rte_errno.h>
#include <rte_memzone.h>

#include "absl/strings/str_cat.h"

namespace dmrswitch::ipc {
namespace {

std::string ZoneName(const std::string& ring_prefix) { return ring_prefix + "_arena"; }

}  // namespace

absl::StatusOr<SnapshotArena> CreateSnapshotArena(const std::string& ring_prefix,
                                                  size_t capacity_bytes) {
  const size_t bytes = SnapshotArena::RegionBytesFor(capacity_bytes);
  const rte_memzone* mz = rte_memzone_reserve_aligned(ZoneName(ring_prefix).c_str(), bytes,
                                                      SOCKET_ID_ANY, 0, SnapshotArena::kPageBytes);
  if (mz == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "cannot reserve the snapshot arena (", bytes >> 20,
        " MiB of hugepage memory for "
        "dmrswitch-cp's routing snapshots): ",
        rte_strerror(rte_errno),
        ". Reserve more hugepages (tools/hugepages.sh up PAGES) or lower hub.snapshot_arena_mb"));
  }
  return SnapshotArena::Format(mz->addr, mz->len);
}

absl::StatusOr<SnapshotArena> AttachSnapshotArena(const std::string& ring_prefix) {
  const rte_memzone* mz = rte_memzone_lookup(ZoneName(ring_prefix).c_str());
  if (mz == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("the packet plane's snapshot arena (memzone ", ZoneName(ring_prefix),
                     ") does not exist: dmrswitch-dp and dmrswitch-cp must come from one build"));
  }
  return SnapshotArena::Attach(mz->addr, mz->len);
}

}  // namespace dmrswitch::ipc
