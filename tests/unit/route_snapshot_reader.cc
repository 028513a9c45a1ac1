// The packet plane's side of the cross-process snapshot test (route_snapshot_memory_test): a
// separate program, so another image and other ASLR offsets, that maps the region holding a
// fixture snapshot at the address where it was built and checks what the snapshot says.
//
//   route_snapshot_reader <memfd> <region address, hex> <region bytes> <snapshot address, hex>
//                         [<blocks to free>]
//
// With <blocks to free>, the reader then does what a restarted control plane does with its
// predecessor's snapshots: takes ownership and frees it through hooks of its own, which check that
// exactly that many blocks, all inside the region, come back. The region is mapped privately
// then, so the builder's copy stays as it was.
//
// Exit status: 0 the snapshot reads correctly, 1 it does not, 2 usage, 77 the address is taken in
// this process (the test skips).
#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/shared_memory.h"
#include "tests/unit/route_snapshot_fixture.h"

namespace {

uintptr_t region_begin = 0, region_end = 0;
size_t blocks_freed = 0;

// A reader that allocated or freed snapshot memory would be a bug: fail loudly.
void* RefuseAllocate(size_t, size_t) {
  std::fputs("route_snapshot_reader: the reader allocated snapshot memory\n", stderr);
  std::abort();
}
void RefuseFree(void*, size_t, size_t) {
  std::fputs("route_snapshot_reader: the reader freed snapshot memory\n", stderr);
  std::abort();
}
// The successor's free hook: counts, and refuses what is not in the region.
void CountFree(void* p, size_t bytes, size_t) {
  const auto at = reinterpret_cast<uintptr_t>(p);
  if (at < region_begin || at + bytes > region_end) {
    std::fprintf(stderr, "route_snapshot_reader: freed 0x%jx, outside the region\n",
                 static_cast<uintmax_t>(at));
    std::abort();
  }
  ++blocks_freed;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    std::fputs("usage: route_snapshot_reader <memfd> <address> <bytes> <snapshot> [<blocks>]\n",
               stderr);
    return 2;
  }
  const int fd = std::atoi(argv[1]);
  const uintptr_t address = std::strtoull(argv[2], nullptr, 16);
  const size_t bytes = std::strtoull(argv[3], nullptr, 10);
  const uintptr_t snapshot = std::strtoull(argv[4], nullptr, 16);
  const bool free_it = argc == 6;
  dmrswitch::route::SetSnapshotMemory({RefuseAllocate, free_it ? CountFree : RefuseFree});
  region_begin = address;
  region_end = address + bytes;

  // Read-only for a reader: one that wrote to the snapshot would fault.
  void* p =
      mmap(reinterpret_cast<void*>(address), bytes, free_it ? PROT_READ | PROT_WRITE : PROT_READ,
           (free_it ? MAP_PRIVATE : MAP_SHARED) | MAP_FIXED_NOREPLACE, fd, 0);
  if (p == MAP_FAILED && errno == EEXIST) {
    std::fprintf(stderr, "route_snapshot_reader: 0x%jx is taken in this process\n",
                 static_cast<uintmax_t>(address));
    return 77;
  }
  if (p != reinterpret_cast<void*>(address)) {
    std::fprintf(stderr, "route_snapshot_reader: cannot map the region at 0x%jx: %s\n",
                 static_cast<uintmax_t>(address), std::strerror(errno));
    return 1;
  }
  const auto* snap = reinterpret_cast<const dmrswitch::route::RouteSnapshot*>(snapshot);
  const std::vector<std::string> failures =
      dmrswitch::route::snapshot_fixture::CheckFixtureSnapshot(*snap);
  for (const std::string& f : failures) std::fprintf(stderr, "reader: %s\n", f.c_str());
  if (!failures.empty()) return 1;
  if (free_it) {
    const size_t want = std::strtoull(argv[5], nullptr, 10);
    // As the successor adopts it: a shared_ptr owning the raw pointer from the plane.
    std::shared_ptr<const dmrswitch::route::RouteSnapshot> owner(snap);
    owner.reset();
    if (blocks_freed != want) {
      std::fprintf(stderr, "route_snapshot_reader: freed %zu blocks, not %zu\n", blocks_freed,
                   want);
      return 1;
    }
  }
  return 0;
}
