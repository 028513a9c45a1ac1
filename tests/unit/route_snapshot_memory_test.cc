// Where a RouteSnapshot's memory comes from (shared_memory.h): every byte through the snapshot
// memory hooks, all of it given back when the snapshot goes, nothing pointing outside it, and
// another program (route_snapshot_reader) reading it through shared memory mapped at the same
// address — what the packet-plane process does with the control plane's snapshots.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/shared_memory.h"
#include "tests/unit/route_snapshot_fixture.h"

extern char** environ;

namespace dmrswitch::route {
namespace {

using snapshot_fixture::BuildFixtureSnapshot;
using snapshot_fixture::CheckFixtureSnapshot;
using snapshot_fixture::PointersOutside;
using snapshot_fixture::SnapshotArena;
using ::testing::IsEmpty;

constexpr size_t kArenaBytes = 16 << 20;

struct Counts {
  size_t allocations = 0;
  size_t frees = 0;
  size_t live() const { return allocations - frees; }
};
Counts counts;

void* CountingAllocate(size_t bytes, size_t alignment) {
  ++counts.allocations;
  return DefaultSnapshotMemory().allocate(bytes, alignment);
}
void CountingFree(void* p, size_t bytes, size_t alignment) {
  ++counts.frees;
  DefaultSnapshotMemory().deallocate(p, bytes, alignment);
}

TEST(SnapshotMemoryTest, SetSnapshotMemoryInstallsAndRestores) {
  SetSnapshotMemory({CountingAllocate, CountingFree});
  EXPECT_EQ(CurrentSnapshotMemory().allocate, CountingAllocate);
  const size_t before = counts.allocations;
  void* p = AllocateSnapshotBytes(100, 64);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  FreeSnapshotBytes(p, 100, 64);
  EXPECT_EQ(counts.allocations, before + 1);
  SetSnapshotMemory({CountingAllocate, nullptr});  // both or neither: the defaults again
  EXPECT_EQ(CurrentSnapshotMemory().allocate, DefaultSnapshotMemory().allocate);
  EXPECT_EQ(CurrentSnapshotMemory().deallocate, DefaultSnapshotMemory().deallocate);
}

TEST(SnapshotMemoryTest, AllocationFailureThrowsBadAlloc) {
  SetSnapshotMemory({[](size_t, size_t) -> void* { return nullptr; }, CountingFree});
  EXPECT_THROW(AllocateSnapshotBytes(8, 8), std::bad_alloc);
  EXPECT_THROW(SnapshotVector<int>(4), std::bad_alloc);
  SetSnapshotMemory({});
}

// The snapshot holds what it allocated until it goes and then gives back all of it; reading it
// allocates nothing.
TEST(SnapshotMemoryTest, SnapshotFreesEverythingItAllocatedAndReadingAllocatesNothing) {
  counts = {};
  SetSnapshotMemory({CountingAllocate, CountingFree});
  {
    absl::StatusOr<std::shared_ptr<const RouteSnapshot>> snap = BuildFixtureSnapshot();
    ASSERT_TRUE(snap.ok()) << snap.status();
    // The builder, the specs and the policy are gone: what is live is the snapshot.
    const Counts built = counts;
    EXPECT_GT(built.live(), 10u);
    EXPECT_THAT(CheckFixtureSnapshot(**snap), IsEmpty());
    EXPECT_EQ(counts.allocations, built.allocations);
    EXPECT_EQ(counts.frees, built.frees);
    snap->reset();
    EXPECT_EQ(counts.frees - built.frees, built.live());
    EXPECT_EQ(counts.live(), 0u);
  }
  SetSnapshotMemory({});
}

TEST(SnapshotMemoryTest, EveryByteOfASnapshotComesFromTheHooks) {
  void* region =
      mmap(nullptr, kArenaBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(region, MAP_FAILED);
  {
    SnapshotArena arena(region, kArenaBytes);
    absl::StatusOr<std::shared_ptr<const RouteSnapshot>> snap = BuildFixtureSnapshot();
    ASSERT_TRUE(snap.ok()) << snap.status();
    const RouteSnapshot& s = **snap;
    EXPECT_THAT(CheckFixtureSnapshot(s), IsEmpty());
    EXPECT_TRUE(arena.Contains(&s));
    EXPECT_TRUE(arena.Contains(s.peers().data()));
    for (const PeerInfo& p : s.peers()) EXPECT_TRUE(arena.Contains(p.name.data())) << p.name;
    EXPECT_TRUE(arena.Contains(s.FindConference(91).members.data()));
    EXPECT_TRUE(arena.Contains(&s.FindConference(91)));
    EXPECT_TRUE(arena.Contains(&s.FindConference(777)));  // the shared empty conference
    EXPECT_TRUE(arena.Contains(s.client_chunk(0)));
    EXPECT_TRUE(arena.Contains(s.FindSubscriber(3120101)));
    EXPECT_TRUE(arena.Contains(s.control_state().data()));
    EXPECT_TRUE(arena.Contains(s.client(0)));
    // And nothing in it leads out: no heap, no library's static data, no vtable.
    EXPECT_THAT(PointersOutside(arena), IsEmpty());

    snap->reset();
    EXPECT_EQ(arena.frees(), arena.allocations());
  }
  munmap(region, kArenaBytes);
}

// Runs route_snapshot_reader with `args`; its exit status, or 128 + the signal that ended it.
int RunReader(const std::vector<std::string>& args) {
  const char* path = std::getenv("ROUTE_SNAPSHOT_READER");
  if (path == nullptr) {
    ADD_FAILURE() << "ROUTE_SNAPSHOT_READER names no reader (meson test sets it)";
    return -1;
  }
  std::vector<std::string> all = {path};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  if (const int err = posix_spawn(&pid, path, nullptr, nullptr, argv.data(), environ); err != 0) {
    ADD_FAILURE() << "posix_spawn " << path << ": " << std::strerror(err);
    return -1;
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The address both processes map the region at. High in the user half of the address space, far
// from where the kernel places executables, libraries, heap and stacks, and from ASan's shadow.
const uintptr_t kSharedRegionAddress = 0x3a0000000000;

TEST(SnapshotMemoryTest, AnotherProcessReadsTheSnapshotThroughSharedMemory) {
  const int fd = memfd_create("route-snapshot", 0);  // inherited by the reader
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ASSERT_EQ(ftruncate(fd, kArenaBytes), 0) << std::strerror(errno);
  void* region = mmap(reinterpret_cast<void*>(kSharedRegionAddress), kArenaBytes,
                      PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
  if (region != reinterpret_cast<void*>(kSharedRegionAddress)) {
    if (region != MAP_FAILED) munmap(region, kArenaBytes);
    close(fd);
    GTEST_SKIP() << "cannot map the shared region at 0x" << std::hex << kSharedRegionAddress;
  }
  {
    SnapshotArena arena(region, kArenaBytes);
    absl::StatusOr<std::shared_ptr<const RouteSnapshot>> snap = BuildFixtureSnapshot();
    ASSERT_TRUE(snap.ok()) << snap.status();
    ASSERT_THAT(CheckFixtureSnapshot(**snap), IsEmpty());
    const std::vector<std::string> where = {
        std::to_string(fd), absl::StrCat(absl::Hex(kSharedRegionAddress)),
        std::to_string(kArenaBytes),
        absl::StrCat(absl::Hex(reinterpret_cast<uintptr_t>(snap->get())))};

    const int read_status = RunReader(where);
    if (read_status == 77) GTEST_SKIP() << "the reader has something else at the address";
    EXPECT_EQ(read_status, 0) << "the reader's messages are above";

    // A process with the same hooks (a restarted control plane) frees a predecessor's snapshot:
    // exactly the blocks still live here, each inside the region.
    std::vector<std::string> free_args = where;
    free_args.push_back(std::to_string(arena.allocations() - arena.frees()));
    EXPECT_EQ(RunReader(free_args), 0) << "the reader's messages are above";

    snap->reset();
    EXPECT_EQ(arena.frees(), arena.allocations());
  }
  munmap(region, kArenaBytes);
  close(fd);
}

}  // namespace
}  // namespace dmrswitch::route
