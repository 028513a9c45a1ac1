// SnapshotArena (dataplane/ipc/snapshot_arena.h): the lock-free allocator a separate control
// plane builds snapshots in. What it must do as an allocator (aligned, distinct blocks; a
// refused free changes nothing; full and empty again), and what it must survive: a writer killed
// before any one of its metadata writes, and a writer killed by SIGKILL at any instant. After
// either, Attach reads a valid arena, every operation that returned took effect, the one in
// flight took effect or did not, Reclaim frees exactly the blocks of owners that are gone, and
// the arena is as good as new once everything is freed.
#include "dataplane/ipc/snapshot_arena.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace dmrswitch::ipc {
namespace {

using Block = SnapshotArena::Block;

// A shared anonymous mapping: a forked child writes the arena in it and the parent reads what
// the child left, at the same address.
class SharedRegion {
 public:
  explicit SharedRegion(size_t bytes) : bytes_(bytes) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    base_ = p == MAP_FAILED ? nullptr : p;
  }
  ~SharedRegion() {
    if (base_ != nullptr) munmap(base_, bytes_);
  }
  SharedRegion(const SharedRegion&) = delete;
  SharedRegion& operator=(const SharedRegion&) = delete;
  void* base() const { return base_; }
  size_t bytes() const { return bytes_; }

 private:
  size_t bytes_;
  void* base_;
};

std::map<uintptr_t, Block> Blocks(const SnapshotArena& a) {
  std::map<uintptr_t, Block> out;
  a.ForEachBlock([&](const Block& b) { out[reinterpret_cast<uintptr_t>(b.p)] = b; });
  return out;
}

// Sizes from 1 byte to several pages, biased to the small ones snapshots are made of.
size_t RandomSize(std::mt19937_64& rng) {
  switch (rng() % 8) {
    case 0:
      return 1 + rng() % 16;
    case 1:
    case 2:
    case 3:
      return 1 + rng() % 256;
    case 4:
    case 5:
      return 1 + rng() % 2048;
    case 6:
      return 2049 + rng() % 6000;
    default:
      return 1 + rng() % (40 * 1024);
  }
}
size_t RandomAlignment(std::mt19937_64& rng) {
  static constexpr size_t kAlignments[] = {1, 8, 16, 16, 16, 64, 64, 128, 4096};
  return kAlignments[rng() % std::size(kAlignments)];
}

TEST(SnapshotArenaTest, FormatAttachAndRefuseWhatIsNoArena) {
  SharedRegion region(4 << 20);
  ASSERT_NE(region.base(), nullptr);
  std::memset(region.base(), 0x5C, region.bytes());
  auto garbage = SnapshotArena::Attach(region.base(), region.bytes());
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kDataLoss) << garbage.status();

  auto a = SnapshotArena::Format(region.base(), region.bytes());
  ASSERT_TRUE(a.ok()) << a.status();
  const SnapshotArena::Usage u = a->usage();
  EXPECT_GE(u.capacity_bytes, region.bytes() - region.bytes() / 100);  // metadata < 1 %
  EXPECT_EQ(u.blocks, 0u);
  EXPECT_EQ(u.pages_in_use, 0u);
  EXPECT_TRUE(a->Check().ok()) << a->Check();
  EXPECT_GE(SnapshotArena::RegionBytesFor(u.capacity_bytes), u.capacity_bytes);
  auto sized = SnapshotArena::Format(region.base(), SnapshotArena::RegionBytesFor(1 << 20));
  ASSERT_TRUE(sized.ok()) << sized.status();
  EXPECT_GE(sized->usage().capacity_bytes, uint64_t{1} << 20);

  a = SnapshotArena::Format(region.base(), region.bytes());
  ASSERT_TRUE(a.ok());
  void* p = a->Allocate(100, 64, 7);
  ASSERT_NE(p, nullptr);
  // Another process (here: another handle) finds the same arena; the wrong size is refused.
  auto again = SnapshotArena::Attach(region.base(), region.bytes());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->usage().blocks, 1u);
  EXPECT_EQ(again->totals().attaches, 2u);  // Format's own, and this one
  auto wrong = SnapshotArena::Attach(region.base(), region.bytes() - 4096);
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kDataLoss) << wrong.status();
  // A descriptor that is no slab and no run is damage, named as such.
  std::memset(static_cast<char*>(region.base()) + 256, 0x77, 8);
  auto damaged = SnapshotArena::Attach(region.base(), region.bytes());
  EXPECT_EQ(damaged.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(damaged.status().message().find("damaged at page 0"), std::string::npos)
      << damaged.status();
  EXPECT_FALSE(SnapshotArena::Format(region.base(), 4096).ok());  // no room for a page
}

TEST(SnapshotArenaTest, BlocksAreAlignedDistinctAndReported) {
  SharedRegion region(64 << 20);
  auto a = SnapshotArena::Format(region.base(), region.bytes());
  ASSERT_TRUE(a.ok());
  std::mt19937_64 rng(1);
  struct Live {
    size_t bytes;
    uint64_t owner;
    uint8_t fill;
  };
  std::map<uintptr_t, Live> live;
  for (uint64_t i = 1; i <= 3000; ++i) {
    const size_t bytes = RandomSize(rng);
    const size_t alignment = RandomAlignment(rng);
    void* p = a->Allocate(bytes, alignment, i);
    ASSERT_NE(p, nullptr) << bytes;
    const auto addr = reinterpret_cast<uintptr_t>(p);
    EXPECT_EQ(addr % alignment, 0u) << bytes << " aligned to " << alignment;
    EXPECT_TRUE(a->Contains(p));
    EXPECT_TRUE(a->Contains(static_cast<char*>(p) + bytes - 1));
    const auto fill = static_cast<uint8_t>(i);
    std::memset(p, fill, bytes);  // would overwrite a neighbour or the metadata if misplaced
    live[addr] = Live{bytes, i, fill};
  }
  for (const auto& [addr, l] : live) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(addr);
    ASSERT_TRUE(std::all_of(bytes, bytes + l.bytes, [&](uint8_t b) { return b == l.fill; }))
        << "block of owner " << l.owner << " was overwritten";
  }
  const std::map<uintptr_t, Block> blocks = Blocks(*a);
  ASSERT_EQ(blocks.size(), live.size());
  uintptr_t end = 0;
  for (const auto& [addr, b] : blocks) {
    ASSERT_TRUE(live.contains(addr));
    EXPECT_EQ(b.owner, live[addr].owner);
    EXPECT_GE(b.bytes, live[addr].bytes);
    EXPECT_GE(addr, end) << "blocks overlap";
    end = addr + b.bytes;
  }
  EXPECT_TRUE(a->Check().ok()) << a->Check();
  EXPECT_EQ(a->usage().blocks, live.size());
  for (const auto& [addr, l] : live) EXPECT_TRUE(a->Free(reinterpret_cast<void*>(addr)));
  EXPECT_EQ(a->usage().blocks, 0u);
  EXPECT_EQ(a->usage().block_bytes, 0u);
  // At most one empty slab of each class stays.
  EXPECT_LE(a->usage().pages_in_use, 24u * 8);
  EXPECT_TRUE(a->Check().ok()) << a->Check();
  // Alignment beyond a page, or not a power of two, is refused.
  EXPECT_EQ(a->Allocate(64, 8192, 1), nullptr);
  EXPECT_EQ(a->Allocate(64, 24, 1), nullptr);
}

TEST(SnapshotArenaTest, AFreeOfWhatIsNotALiveBlockChangesNothing) {
  SharedRegion region(8 << 20);
  auto a = SnapshotArena::Format(region.base(), region.bytes());
  ASSERT_TRUE(a.ok());
  void* small = a->Allocate(48, 16, 1);
  void* other = a->Allocate(48, 16, 2);
  void* big = a->Allocate(10000, 64, 3);
  ASSERT_TRUE(small && other && big);
  const std::map<uintptr_t, Block> before = Blocks(*a);
  EXPECT_FALSE(a->Free(static_cast<char*>(small) + 16));  // inside a slot
  EXPECT_FALSE(a->Free(static_cast<char*>(big) + 4096));  // a run's second page
  EXPECT_FALSE(a->Free(static_cast<char*>(big) + 64));
  int outside = 0;
  EXPECT_FALSE(a->Free(&outside));
  EXPECT_EQ(Blocks(*a).size(), before.size());
  EXPECT_TRUE(a->Free(small));
  EXPECT_FALSE(a->Free(small));  // twice
  EXPECT_TRUE(a->Free(big));
  EXPECT_FALSE(a->Free(big));
  // The slab of `small` is still in use by `other`; once empty and released, a late free of its
  // slots is refused as well.
  EXPECT_TRUE(a->Free(other));
  EXPECT_FALSE(a->Free(other));
  EXPECT_EQ(a->usage().blocks, 0u);
  EXPECT_EQ(a->totals().ignored_frees, 7u);
  EXPECT_TRUE(a->Check().ok()) << a->Check();
}

TEST(SnapshotArenaTest, FullThenEmptyAgain) {
  SharedRegion region(2 << 20);
  auto a = SnapshotArena::Format(region.base(), region.bytes());
  ASSERT_TRUE(a.ok());
  const uint64_t capacity = a->usage().capacity_bytes;
  std::mt19937_64 rng(2);
  for (int round = 0; round < 3; ++round) {
    std::vector<void*> got;
    uint64_t bytes = 0;
    for (int misses = 0; misses < 50;) {
      const size_t n = RandomSize(rng);
      void* p = a->Allocate(n, 16, 1);
      if (p == nullptr) {
        ++misses;
        continue;
      }
      got.push_back(p);
      bytes += n;
    }
    // Full means full: the blocks took most of the pages.
    EXPECT_GT(a->usage().block_bytes, capacity * 7 / 10) << "round " << round;
    EXPECT_GE(a->usage().peak_pages * SnapshotArena::kPageBytes, capacity * 9 / 10);
    EXPECT_TRUE(a->Check().ok()) << a->Check();
    for (void* p : got) ASSERT_TRUE(a->Free(p));
    EXPECT_EQ(a->usage().blocks, 0u);
    // Every page can be one run again: nothing leaked, nothing fragmented for good.
    auto fresh = SnapshotArena::Attach(region.base(), region.bytes());
    ASSERT_TRUE(fresh.ok());
    *a = std::move(*fresh);
    void* all = a->Allocate(capacity, 4096, 1);
    ASSERT_NE(all, nullptr) << "round " << round;
    ASSERT_TRUE(a->Free(all));
  }
}

TEST(SnapshotArenaTest, RandomOperationsAgainstAModelAndAcrossAttaches) {
  SharedRegion region(16 << 20);
  auto a = SnapshotArena::Format(region.base(), region.bytes());
  ASSERT_TRUE(a.ok());
  std::mt19937_64 rng(3);
  std::map<uintptr_t, uint64_t> model;  // block -> owner
  for (int i = 1; i <= 200000; ++i) {
    if (model.empty() || rng() % 100 < 55) {
      void* p = a->Allocate(RandomSize(rng), RandomAlignment(rng), static_cast<uint64_t>(i));
      if (p == nullptr) continue;
      ASSERT_TRUE(model.emplace(reinterpret_cast<uintptr_t>(p), i).second) << "handed out twice";
    } else {
      auto it = model.begin();
      std::advance(it, static_cast<long>(rng() % model.size()));
      ASSERT_TRUE(a->Free(reinterpret_cast<void*>(it->first)));
      model.erase(it);
    }
    if (i % 20000 == 0) {
      ASSERT_TRUE(a->Check().ok()) << a->Check();
      // A successor's view: the same blocks, the same figures; it carries on from here.
      auto next = SnapshotArena::Attach(region.base(), region.bytes());
      ASSERT_TRUE(next.ok()) << next.status();
      const std::map<uintptr_t, Block> blocks = Blocks(*next);
      ASSERT_EQ(blocks.size(), model.size());
      for (const auto& [addr, b] : blocks) ASSERT_EQ(model.at(addr), b.owner);
      *a = std::move(*next);
      ASSERT_TRUE(a->Check().ok()) << a->Check();
    }
  }
}

TEST(SnapshotArenaTest, ReclaimFreesTheBlocksOfGoneOwnersOnly) {
  SharedRegion region(8 << 20);
  auto a = SnapshotArena::Format(region.base(), region.bytes());
  ASSERT_TRUE(a.ok());
  std::mt19937_64 rng(4);
  std::map<uintptr_t, uint64_t> owner_of;
  for (int i = 0; i < 5000; ++i) {
    const uint64_t owner = 1 + rng() % 50;
    void* p = a->Allocate(RandomSize(rng) % 3000 + 1, 16, owner);
    ASSERT_NE(p, nullptr);
    owner_of[reinterpret_cast<uintptr_t>(p)] = owner;
  }
  const auto live = [](uint64_t owner) { return owner % 3 == 0; };
  const SnapshotArena::Reclaimed r = a->Reclaim(live);
  uint64_t gone = 0;
  for (const auto& [addr, owner] : owner_of) gone += live(owner) ? 0 : 1;
  EXPECT_EQ(r.blocks, gone);
  for (const auto& [addr, b] : Blocks(*a)) {
    EXPECT_TRUE(live(b.owner));
    EXPECT_EQ(owner_of.at(addr), b.owner);
  }
  EXPECT_EQ(a->usage().blocks, owner_of.size() - gone);
  EXPECT_EQ(a->totals().reclaimed_blocks, gone);
  EXPECT_TRUE(a->Check().ok()) << a->Check();
  EXPECT_EQ(a->Reclaim(live).blocks, 0u);  // idempotent
}

TEST(SnapshotArenaTest, OwnersAreNeverGivenOutTwiceAcrossProcesses) {
  SharedRegion region(1 << 20);
  auto a = SnapshotArena::Format(region.base(), region.bytes());
  ASSERT_TRUE(a.ok());
  std::set<uint64_t> seen;
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(seen.insert(a->NewOwner()).second);
  const pid_t child = fork();
  if (child == 0) {
    auto b = SnapshotArena::Attach(region.base(), region.bytes());
    for (int i = 0; i < 100; ++i) b->NewOwner();
    _exit(0);
  }
  waitpid(child, nullptr, 0);
  auto c = SnapshotArena::Attach(region.base(), region.bytes());
  ASSERT_TRUE(c.ok());
  const uint64_t next = c->NewOwner();
  EXPECT_GT(next, *seen.rbegin() + 100);
  EXPECT_NE(next, 0u);
}

// --- Killed writers ------------------------------------------------------------------------------

// What a writer did, written by the writer after each operation returned, in the shared region:
// the checker knows which operations completed and which one was in flight.
struct Journal {
  std::atomic<uint64_t> done;    // operations that returned
  std::atomic<uint64_t> writes;  // metadata writes of a writer that finished
  struct Entry {
    uint64_t op;  // index into the script
    uintptr_t block;
    uint64_t owner;  // NewOwner's result
  } entries[1 << 16];
};

struct Op {
  enum Kind { kAllocate, kFree, kNewOwner } kind;
  size_t bytes = 0;
  size_t alignment = 0;
  uint64_t owner = 0;
  size_t target = 0;  // kFree: the allocation (op index) whose block it frees
};

// A deterministic mix: allocations of every size, frees of earlier ones (a block at most once),
// new owners.
std::vector<Op> Script(uint64_t seed, size_t n) {
  std::mt19937_64 rng(seed);
  std::vector<Op> ops;
  std::vector<size_t> allocated;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t r = rng() % 100;
    if (r < 5) {
      ops.push_back(Op{Op::kNewOwner});
    } else if (r < 60 || allocated.empty()) {
      ops.push_back(Op{Op::kAllocate, RandomSize(rng), RandomAlignment(rng), 1000 + i});
      allocated.push_back(i);
    } else {
      const size_t k = rng() % allocated.size();
      ops.push_back(Op{Op::kFree, 0, 0, 0, allocated[k]});
      allocated.erase(allocated.begin() + static_cast<long>(k));
    }
  }
  return ops;
}

// The writer: attaches, runs the script from `first`, journals each operation.
[[noreturn]] void RunWriter(void* arena, size_t bytes, Journal* journal, const std::vector<Op>& ops,
                            size_t first, uint64_t kill_before_write) {
  const uint64_t writes_before = SnapshotArena::metadata_writes();
  SnapshotArena::KillBeforeMetadataWriteForTesting(kill_before_write);
  auto a = SnapshotArena::Attach(arena, bytes);
  if (!a.ok()) _exit(2);
  std::vector<uintptr_t> block_of(ops.size(), 0);
  for (uint64_t k = 0; k < journal->done.load(); ++k) {
    block_of[journal->entries[k].op] = journal->entries[k].block;
  }
  for (size_t i = first; i < ops.size(); ++i) {
    const Op& op = ops[i];
    Journal::Entry e{i, 0, 0};
    if (op.kind == Op::kAllocate) {
      void* p = a->Allocate(op.bytes, op.alignment, op.owner);
      if (p == nullptr) _exit(3);
      e.block = reinterpret_cast<uintptr_t>(p);
      block_of[i] = e.block;
    } else if (op.kind == Op::kFree) {
      if (!a->Free(reinterpret_cast<void*>(block_of[op.target]))) _exit(4);
      e.block = block_of[op.target];
    } else {
      e.owner = a->NewOwner();
    }
    const uint64_t k = journal->done.load(std::memory_order_relaxed);
    journal->entries[k] = e;
    journal->done.store(k + 1, std::memory_order_release);
  }
  journal->writes.store(SnapshotArena::metadata_writes() - writes_before);
  _exit(0);
}

// After a writer died: the arena is readable and consistent; the blocks are those the completed
// operations leave, give or take the operation in flight; owners handed out are not handed out
// again. Returns the expected live blocks (block -> owner) after the in-flight operation is
// settled the way the arena says it went.
std::map<uintptr_t, uint64_t> CheckAfterKill(void* arena, size_t bytes, const Journal& journal,
                                             const std::vector<Op>& ops,
                                             std::map<uintptr_t, uint64_t> expected,
                                             uint64_t* max_owner) {
  auto a = SnapshotArena::Attach(arena, bytes);
  EXPECT_TRUE(a.ok()) << a.status();
  if (!a.ok()) return {};
  EXPECT_TRUE(a->Check().ok()) << a->Check();
  const uint64_t done = journal.done.load();
  std::map<size_t, uintptr_t> block_of;  // allocation (op index) -> its block
  size_t next_op = 0;
  for (uint64_t k = 0; k < done; ++k) {
    const Journal::Entry& e = journal.entries[k];
    const Op& op = ops[e.op];
    if (op.kind == Op::kAllocate) {
      expected[e.block] = op.owner;
      block_of[e.op] = e.block;
    }
    if (op.kind == Op::kFree) expected.erase(e.block);
    if (op.kind == Op::kNewOwner) *max_owner = std::max(*max_owner, e.owner);
    next_op = e.op + 1;
  }
  const std::map<uintptr_t, Block> actual = Blocks(*a);
  std::vector<uintptr_t> extra, missing;
  for (const auto& [addr, b] : actual) {
    const auto it = expected.find(addr);
    if (it == expected.end()) {
      extra.push_back(addr);
    } else {
      EXPECT_EQ(b.owner, it->second) << "block 0x" << std::hex << addr;
    }
  }
  for (const auto& [addr, owner] : expected) {
    if (!actual.contains(addr)) missing.push_back(addr);
  }
  // Only the operation in flight may be either way: one allocation more, or one free done.
  const bool in_flight_alloc = next_op < ops.size() && ops[next_op].kind == Op::kAllocate;
  const bool in_flight_free = next_op < ops.size() && ops[next_op].kind == Op::kFree;
  EXPECT_LE(extra.size(), in_flight_alloc ? 1u : 0u) << "op " << next_op;
  EXPECT_LE(missing.size(), in_flight_free ? 1u : 0u) << "op " << next_op;
  for (uintptr_t addr : extra) {
    EXPECT_EQ(actual.at(addr).owner, ops[next_op].owner);
    expected[addr] = actual.at(addr).owner;
  }
  for (uintptr_t addr : missing) {
    EXPECT_EQ(addr, block_of[ops[next_op].target]) << "a block freed that nobody freed";
    expected.erase(addr);
  }
  EXPECT_GT(a->NewOwner(), *max_owner);
  return expected;
}

TEST(SnapshotArenaTest, AWriterKilledBeforeAnyMetadataWriteLeavesAValidArena) {
  SharedRegion region(4 << 20);
  SharedRegion journal_region(sizeof(Journal));
  auto* journal = new (journal_region.base()) Journal();
  const std::vector<Op> ops = Script(5, 1200);
  // A starting state with empty slabs for Attach to release (writes of its own) and some blocks.
  auto a = SnapshotArena::Format(region.base(), region.bytes());
  ASSERT_TRUE(a.ok());
  std::vector<void*> tmp;
  for (int i = 0; i < 40; ++i) tmp.push_back(a->Allocate(16u << (i % 8), 16, 1));
  for (int i = 0; i < 40; i += 2) a->Free(tmp[i]);
  std::vector<uint8_t> start(static_cast<uint8_t*>(region.base()),
                             static_cast<uint8_t*>(region.base()) + region.bytes());
  std::map<uintptr_t, uint64_t> start_blocks;
  for (const auto& [addr, b] : Blocks(*a)) start_blocks[addr] = b.owner;

  const auto run = [&](uint64_t kill_before) {
    std::memcpy(region.base(), start.data(), start.size());
    journal->done.store(0);
    const pid_t child = fork();
    if (child == 0) RunWriter(region.base(), region.bytes(), journal, ops, 0, kill_before);
    int status = 0;
    waitpid(child, &status, 0);
    return status;
  };
  // How many metadata writes the whole script makes (Attach's included): a writer that is never
  // killed says.
  const int finished = run(0);
  ASSERT_TRUE(WIFEXITED(finished) && WEXITSTATUS(finished) == 0) << finished;
  const uint64_t writes = journal->writes.load();
  ASSERT_GT(writes, ops.size());
  std::printf("the script makes %llu metadata writes; killed before each\n",
              static_cast<unsigned long long>(writes));

  // Before every one of them: killed, and the arena is what the journal says.
  for (uint64_t n = 1; n <= writes; ++n) {
    const int st = run(n);
    ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << "write " << n;
    uint64_t max_owner = 0;
    const std::map<uintptr_t, uint64_t> expected =
        CheckAfterKill(region.base(), region.bytes(), *journal, ops, start_blocks, &max_owner);
    if (HasFailure()) {
      ADD_FAILURE() << "killed before metadata write " << n << " of " << writes;
      return;
    }
    // Reclaim what no owner of the script's completed state has, then free everything: a new
    // arena, every page free.
    auto b = SnapshotArena::Attach(region.base(), region.bytes());
    ASSERT_TRUE(b.ok());
    std::set<uint64_t> owners;
    for (const auto& [addr, owner] : expected) owners.insert(owner);
    b->Reclaim([&](uint64_t o) { return owners.contains(o); });
    ASSERT_EQ(b->usage().blocks, expected.size()) << "write " << n;
    for (const auto& [addr, owner] : expected) ASSERT_TRUE(b->Free(reinterpret_cast<void*>(addr)));
    ASSERT_TRUE(b->Check().ok()) << b->Check();
    auto c = SnapshotArena::Attach(region.base(), region.bytes());
    ASSERT_TRUE(c.ok());
    ASSERT_EQ(c->usage().pages_in_use, 0u) << "write " << n;
  }
}

TEST(SnapshotArenaTest, AWriterKilledAtRandomInstantsLeavesAValidArena) {
  SharedRegion region(64 << 20);
  SharedRegion journal_region(sizeof(Journal));
  auto* journal = new (journal_region.base()) Journal();
  auto a = SnapshotArena::Format(region.base(), region.bytes());
  ASSERT_TRUE(a.ok());
  std::mt19937_64 rng(6);
  std::map<uintptr_t, uint64_t> expected;
  uint64_t max_owner = 0;
  constexpr int kKills = 300;
  int killed_mid_script = 0;
  for (int round = 0; round < kKills; ++round) {
    // Each writer runs a script of its own over what the previous ones left (the frees of the
    // script are of its own allocations; the previous blocks stay).
    const std::vector<Op> ops = Script(1000 + round, 20000);
    journal->done.store(0);
    const pid_t child = fork();
    if (child == 0) RunWriter(region.base(), region.bytes(), journal, ops, 0, 0);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    if (WIFSIGNALED(status)) {
      ++killed_mid_script;
    } else {
      ASSERT_EQ(WEXITSTATUS(status), 0) << "writer failed";
    }
    expected = CheckAfterKill(region.base(), region.bytes(), *journal, ops, expected, &max_owner);
    if (HasFailure()) {
      ADD_FAILURE() << "after kill " << round;
      return;
    }
    // Keep the arena from filling: a successor reclaims owners that are gone (here: a random
    // half of the script's).
    auto b = SnapshotArena::Attach(region.base(), region.bytes());
    ASSERT_TRUE(b.ok());
    b->Reclaim([&](uint64_t owner) { return owner % 2 == static_cast<uint64_t>(round % 2); });
    std::map<uintptr_t, uint64_t> kept;
    for (const auto& [addr, blk] : Blocks(*b)) kept[addr] = blk.owner;
    for (const auto& [addr, owner] : kept) ASSERT_EQ(expected.at(addr), owner);
    expected = kept;
    ASSERT_TRUE(b->Check().ok()) << b->Check();
  }
  EXPECT_GT(killed_mid_script, kKills / 2) << "the writers finished before the kill: no test";
  std::printf("%d of %d writers killed in the middle of their script\n", killed_mid_script, kKills);
  auto b = SnapshotArena::Attach(region.base(), region.bytes());
  ASSERT_TRUE(b.ok());
  for (const auto& [addr, owner] : expected) ASSERT_TRUE(b->Free(reinterpret_cast<void*>(addr)));
  auto c = SnapshotArena::Attach(region.base(), region.bytes());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->usage().pages_in_use, 0u);
  EXPECT_TRUE(c->Check().ok()) << c->Check();
}

}  // namespace
}  // namespace dmrswitch::ipc
