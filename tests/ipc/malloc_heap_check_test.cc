// CheckMallocHeap on heaps laid out in plain memory as DPDK 22.11 lays them out. The kill
// windows are DPDK's own sequences of writes (malloc_elem_alloc splitting a free element,
// malloc_elem_free joining its neighbours), replayed one write at a time: a heap cut off after
// any write is called intact only where DPDK's structures really agree (before and after), and
// is repaired where its only faults are in the free lists. The real thing (a DPDK
// secondary killed inside rte_malloc, the dp checking and releasing) is
// tests/e2e/separate_cp_test.cc.
#include "dataplane/ipc/malloc_heap_check.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace dmrswitch::ipc {
namespace {

using namespace malloc_layout;

// A stretch of address space: the heap header at its base, elements above it.
class FakeMemory {
 public:
  static constexpr uint64_t kBase = 0x7f1200000000ull;
  static constexpr uint64_t kHeap = kBase;
  FakeMemory() : bytes_(1 << 20) {}

  bool Write(uint64_t addr, const void* in, size_t len) {
    if (addr < kBase || addr - kBase > bytes_.size() || len > bytes_.size() - (addr - kBase)) {
      return false;
    }
    std::memcpy(bytes_.data() + (addr - kBase), in, len);
    return true;
  }
  bool Read(uint64_t addr, void* out, size_t len) const {
    if (addr < kBase || addr - kBase > bytes_.size() || len > bytes_.size() - (addr - kBase)) {
      return false;
    }
    std::memcpy(out, bytes_.data() + (addr - kBase), len);
    return true;
  }
  uint64_t Get(uint64_t addr) const {
    uint64_t v = 0;
    EXPECT_TRUE(Read(addr, &v, 8));
    return v;
  }
  bool Same(const FakeMemory& o) const { return bytes_ == o.bytes_; }
  void Put(uint64_t addr, uint64_t v) { std::memcpy(bytes_.data() + (addr - kBase), &v, 8); }
  void Put32(uint64_t addr, uint32_t v) { std::memcpy(bytes_.data() + (addr - kBase), &v, 4); }

  MallocHeapReport Check(uint64_t max = uint64_t{1} << 22) const {
    return CheckMallocHeap([this](uint64_t a, void* o, size_t n) { return Read(a, o, n); }, kHeap,
                           max);
  }
  MallocHeapReport Repair(const MallocHeapReport& r) {
    return RepairMallocHeap([this](uint64_t a, void* o, size_t n) { return Read(a, o, n); },
                            [this](uint64_t a, const void* i, size_t n) { return Write(a, i, n); },
                            kHeap, r);
  }

  // Element fields.
  void SetState(uint64_t e, uint32_t s) { Put32(e + kElemState, s); }
  uint32_t State(uint64_t e) const { return static_cast<uint32_t>(Get(e + kElemState)) & 7u; }
  uint64_t Head(uint32_t list) const { return kHeap + kHeapFreeHead + 8ull * list; }

 private:
  std::vector<uint8_t> bytes_;
};

struct Spec {
  uint64_t offset;  // from FakeMemory::kBase
  uint64_t size;
  uint32_t state;
};

// A heap of `specs` in address order, free ones on their lists (last listed first, as
// LIST_INSERT_HEAD leaves them).
std::vector<uint64_t> Build(FakeMemory& m, const std::vector<Spec>& specs) {
  std::vector<uint64_t> at;
  for (const Spec& s : specs) at.push_back(FakeMemory::kBase + s.offset);
  for (size_t i = 0; i < specs.size(); ++i) {
    m.Put(at[i] + kElemHeap, FakeMemory::kHeap);
    m.Put(at[i] + kElemPrev, i == 0 ? 0 : at[i - 1]);
    m.Put(at[i] + kElemNext, i + 1 == specs.size() ? 0 : at[i + 1]);
    m.Put(at[i] + kElemSize, specs[i].size);
    m.SetState(at[i], specs[i].state);
  }
  m.Put(FakeMemory::kHeap + kHeapFirst, at.empty() ? 0 : at.front());
  m.Put(FakeMemory::kHeap + kHeapLast, at.empty() ? 0 : at.back());
  for (size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].state != kElemFree) continue;
    const uint64_t head = m.Head(FreeListIndex(specs[i].size));
    const uint64_t old = m.Get(head);
    m.Put(at[i] + kElemFreeNext, old);
    if (old != 0) m.Put(old + kElemFreePrev, at[i] + kElemFreeNext);
    m.Put(head, at[i]);
    m.Put(at[i] + kElemFreePrev, head);
  }
  return at;
}

// One write of DPDK's, and whether the heap agrees with itself once it is done.
struct Write {
  std::string what;
  std::function<void(FakeMemory&)> apply;
  bool intact_after = false;
  bool repairable_after = false;  // its only faults are in the free lists
};

// Marks the writes (numbered from 1) after which the heap can be made whole by RepairMallocHeap.
void Repairable(std::vector<Write>& w, const std::vector<size_t>& after) {
  for (size_t k : after) w.at(k - 1).repairable_after = true;
}

// LIST_REMOVE(e, free_list), as two writes.
void ListRemove(std::vector<Write>& w, const FakeMemory& m, uint64_t e) {
  const uint64_t next = m.Get(e + kElemFreeNext), prev_link = m.Get(e + kElemFreePrev);
  if (next != 0) {
    w.push_back(
        {"remove: next->le_prev", [=](FakeMemory& x) { x.Put(next + kElemFreePrev, prev_link); }});
  }
  w.push_back({"remove: *le_prev", [=](FakeMemory& x) { x.Put(prev_link, next); }});
}

// malloc_elem_free_list_insert(e) for an element of `size` bytes: state, then LIST_INSERT_HEAD.
void ListInsert(std::vector<Write>& w, const FakeMemory& m, uint64_t e, uint64_t size) {
  const uint64_t head = m.Head(FreeListIndex(size));
  w.push_back({"insert: state", [=](FakeMemory& x) { x.SetState(e, kElemFree); }});
  w.push_back({"insert: le_next and old first's le_prev", [=](FakeMemory& x) {
                 const uint64_t old = x.Get(head);
                 x.Put(e + kElemFreeNext, old);
                 if (old != 0) x.Put(old + kElemFreePrev, e + kElemFreeNext);
               }});
  w.push_back({"insert: head", [=](FakeMemory& x) { x.Put(head, e); }});
  w.push_back({"insert: le_prev", [=](FakeMemory& x) { x.Put(e + kElemFreePrev, head); }});
}

// Cuts DPDK's sequence off after every write and compares the verdict with what is true.
void ReplayEveryPrefix(const std::function<void(FakeMemory&)>& build,
                       const std::function<std::vector<Write>(const FakeMemory&)>& plan) {
  FakeMemory start;
  build(start);
  ASSERT_TRUE(start.Check().intact) << start.Check().problem;
  const std::vector<Write> writes = plan(start);
  ASSERT_TRUE(writes.back().intact_after);
  for (size_t k = 1; k <= writes.size(); ++k) {
    FakeMemory m;
    build(m);
    for (size_t i = 0; i < k; ++i) writes[i].apply(m);
    const MallocHeapReport r = m.Check();
    const Write& last = writes[k - 1];
    EXPECT_EQ(r.intact, last.intact_after)
        << "killed after write " << k << " of " << writes.size() << " (" << last.what
        << "): " << (r.intact ? "called intact" : r.problem);
    if (r.intact) continue;
    EXPECT_EQ(r.free_lists_only, last.repairable_after)
        << "killed after write " << k << " (" << last.what << "): " << r.problem;
    const MallocHeapReport fixed = m.Repair(r);
    EXPECT_EQ(fixed.intact, last.repairable_after)
        << "killed after write " << k << " (" << last.what << "), repaired: " << fixed.problem;
    if (!fixed.intact) continue;
    // No element changed.
    EXPECT_EQ(fixed.elements, r.elements);
    EXPECT_EQ(fixed.free_elements, r.free_elements);
  }
}

TEST(MallocHeapCheckTest, AnIntactHeapIsIntact) {
  FakeMemory m;
  Build(m, {{4096, 128 + 256, kElemFree},
            {4096 + 384, 1024, kElemBusy},
            {4096 + 1408, 128 + 4096, kElemFree},
            // Another memory segment: not adjacent.
            {65536, 8192, kElemBusy},
            {65536 + 8192, 128 + 65536, kElemFree},
            {65536 + 8192 + 128 + 65536, 512, kElemFree}});
  m.Put32(FakeMemory::kHeap + kHeapAllocCount, 2);
  const MallocHeapReport r = m.Check();
  EXPECT_TRUE(r.intact) << r.problem;
  EXPECT_EQ(r.elements, 6u);
  EXPECT_EQ(r.free_elements, 4u);
  EXPECT_EQ(r.busy_elements, 2u);
  EXPECT_EQ(r.alloc_count, 2u);
}

TEST(MallocHeapCheckTest, AnEmptyHeapIsIntact) {
  FakeMemory m;
  EXPECT_TRUE(m.Check().intact);
  m.Put(FakeMemory::kHeap + kHeapLast, FakeMemory::kBase + 4096);
  EXPECT_FALSE(m.Check().intact);
}

TEST(MallocHeapCheckTest, FreeListIndexIsDpdks) {
  EXPECT_EQ(FreeListIndex(128 + 64), 0u);
  EXPECT_EQ(FreeListIndex(128 + 256), 0u);
  EXPECT_EQ(FreeListIndex(128 + 257), 1u);
  EXPECT_EQ(FreeListIndex(128 + 1024), 1u);
  EXPECT_EQ(FreeListIndex(128 + 1025), 2u);
  EXPECT_EQ(FreeListIndex(128 + 4096), 2u);
  EXPECT_EQ(FreeListIndex(uint64_t{1} << 40), kFreeLists - 1);
}

// Each kind of damage, alone, is named.
TEST(MallocHeapCheckTest, DamageIsFound) {
  const auto fresh = [](FakeMemory& m) {
    return Build(m, {{4096, 128 + 256, kElemFree},
                     {4096 + 384, 1024, kElemBusy},
                     {4096 + 1408, 128 + 4096, kElemFree},
                     {4096 + 1408 + 4224, 320, kElemFree}});
  };
  struct Case {
    std::string name;
    std::function<void(FakeMemory&, const std::vector<uint64_t>&)> damage;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"unmapped next",
       [](FakeMemory& m, auto& e) { m.Put(e[1] + kElemNext, FakeMemory::kBase + (4 << 20)); },
       "not mapped"},
      {"misaligned next", [](FakeMemory& m, auto& e) { m.Put(e[1] + kElemNext, e[2] + 8); },
       "misaligned"},
      {"wrong back link", [](FakeMemory& m, auto& e) { m.Put(e[2] + kElemPrev, e[0]); },
       "links back"},
      {"other heap", [](FakeMemory& m, auto& e) { m.Put(e[2] + kElemHeap, 0x40); }, "names heap"},
      {"bad state", [](FakeMemory& m, auto& e) { m.SetState(e[1], 5); }, "state 5"},
      {"overlap", [](FakeMemory& m, auto& e) { m.Put(e[1] + kElemSize, 2048); }, "followed by"},
      {"backwards", [](FakeMemory& m, auto& e) { m.Put(e[3] + kElemNext, e[0]); }, "followed by"},
      {"tiny", [](FakeMemory& m, auto& e) { m.Put(e[1] + kElemSize, 64); }, "size 64"},
      {"last", [](FakeMemory& m, auto& e) { m.Put(FakeMemory::kHeap + kHeapLast, e[2]); },
       "heap's last"},
      {"busy on a list", [](FakeMemory& m, auto& e) { m.SetState(e[0], kElemBusy); }, "state 1"},
      {"stranger on a list", [](FakeMemory& m, auto& e) { m.Put(m.Head(0), e[0] + 64); },
       "not an element"},
      {"free on no list", [](FakeMemory& m, auto&) { m.Put(m.Head(FreeListIndex(128 + 4096)), 0); },
       "on no free list"},
      {"wrong list",
       [](FakeMemory& m, auto& e) {
         m.Put(m.Head(FreeListIndex(128 + 4096)), 0);
         m.Put(m.Head(5), e[2]);
         m.Put(e[2] + kElemFreePrev, m.Head(5));
       },
       "is on list 5"},
      {"list cycle",
       [](FakeMemory& m, auto& e) {
         // e[3] and e[0] share list 0 (head, e[3], e[0]): point e[0] back at e[3].
         m.Put(e[0] + kElemFreeNext, e[3]);
       },
       "listed twice"},
      {"stale le_prev on a list",
       [](FakeMemory& m, auto& e) { m.Put(e[0] + kElemFreePrev, m.Head(0)); }, "links back"},
  };
  for (const Case& c : cases) {
    FakeMemory m;
    const std::vector<uint64_t> e = fresh(m);
    ASSERT_TRUE(m.Check().intact) << m.Check().problem;
    c.damage(m, e);
    const MallocHeapReport r = m.Check();
    EXPECT_FALSE(r.intact) << c.name;
    EXPECT_NE(r.problem.find(c.says), std::string::npos) << c.name << ": " << r.problem;
    // Damage to the free lists alone is repaired; damage to the elements is not touched.
    const bool lists = c.name.find("list") != std::string::npos;
    EXPECT_EQ(r.free_lists_only, lists) << c.name;
    FakeMemory before = m;
    const MallocHeapReport fixed = m.Repair(r);
    EXPECT_EQ(fixed.intact, lists) << c.name << ": " << fixed.problem;
    if (!lists) {
      EXPECT_EQ(fixed.problem, r.problem) << c.name;
      EXPECT_TRUE(m.Same(before)) << c.name << ": changed by a refused repair";
    }
  }
}

// rte_free lists an element before it zeroes its data and clears its pad: a free element that
// says it is clean, or has a pad, is intact to the walk, and is settled before any release.
TEST(MallocHeapCheckTest, SettlingMarksEveryFreeElementDirtyAndClearsItsPad) {
  FakeMemory m;
  const std::vector<uint64_t> e = Build(
      m, {{4096, 1024, kElemFree}, {4096 + 1024, 2048, kElemBusy}, {4096 + 3072, 4096, kElemFree}});
  m.Put32(e[0] + kElemPad, 128);
  m.Put32(e[1] + kElemPad, 64);  // a busy element's pad is its own business
  ASSERT_TRUE(m.Check().intact);
  const int64_t n = SettleFreeElements(
      [&](uint64_t a, void* o, size_t len) { return m.Read(a, o, len); },
      [&](uint64_t a, const void* i, size_t len) { return m.Write(a, i, len); }, FakeMemory::kHeap);
  EXPECT_EQ(n, 2);
  for (uint64_t f : {e[0], e[2]}) {
    EXPECT_TRUE(m.Get(f + kElemState) & (1u << kElemDirtyBit));
    EXPECT_EQ(m.Get(f + kElemPad) & 0xffffffffu, 0u);
    EXPECT_EQ(m.State(f), kElemFree);
  }
  EXPECT_FALSE(m.Get(e[1] + kElemState) & (1u << kElemDirtyBit));
  EXPECT_EQ(m.Get(e[1] + kElemPad) & 0xffffffffu, 64u);
  EXPECT_TRUE(m.Check().intact);
}

TEST(MallocHeapCheckTest, TheWalkIsBounded) {
  FakeMemory m;
  std::vector<Spec> specs;
  for (uint64_t i = 0; i < 100; ++i) specs.push_back({4096 + i * 256, 256, kElemBusy});
  Build(m, specs);
  EXPECT_TRUE(m.Check(100).intact);
  const MallocHeapReport r = m.Check(99);
  EXPECT_FALSE(r.intact);
  EXPECT_NE(r.problem.find("more than 99"), std::string::npos) << r.problem;
}

// rte_malloc of 1 KiB from a free element of 8 KiB that is not the last: malloc_elem_alloc takes
// it off its list, splits the new element off its end (split_elem), marks that busy and puts the
// shrunk free element back on the list its new size selects.
TEST(MallocHeapCheckTest, AKillAnywhereInsideAnAllocationIsSeen) {
  constexpr uint64_t kFree = 4096, kFreeSize = 8192, kNew = kFree + kFreeSize - 1152;
  const auto build = [](FakeMemory& m) {
    Build(m, {{kFree, kFreeSize, kElemFree},
              {kFree + kFreeSize, 512, kElemBusy},
              {kFree + kFreeSize + 512, 128 + 8192, kElemFree}});
  };
  const auto plan = [](const FakeMemory& m) {
    const uint64_t elem = FakeMemory::kBase + kFree, nu = FakeMemory::kBase + kNew;
    const uint64_t next = m.Get(elem + kElemNext);
    std::vector<Write> w;
    ListRemove(w, m, elem);
    // split_elem -> malloc_elem_init(new) field by field, then the links and the shrink.
    w.push_back({"init: heap", [=](FakeMemory& x) { x.Put(nu + kElemHeap, FakeMemory::kHeap); }});
    w.push_back({"init: prev", [=](FakeMemory& x) { x.Put(nu + kElemPrev, 0); }});
    w.push_back({"init: next", [=](FakeMemory& x) { x.Put(nu + kElemNext, 0); }});
    w.push_back({"init: free_list", [=](FakeMemory& x) {
                   x.Put(nu + kElemFreeNext, 0);
                   x.Put(nu + kElemFreePrev, 0);
                 }});
    w.push_back({"init: state", [=](FakeMemory& x) { x.SetState(nu, kElemFree); }});
    w.push_back({"init: size", [=](FakeMemory& x) { x.Put(nu + kElemSize, 1152); }});
    w.push_back({"split: new->prev", [=](FakeMemory& x) { x.Put(nu + kElemPrev, elem); }});
    w.push_back({"split: new->next", [=](FakeMemory& x) { x.Put(nu + kElemNext, next); }});
    w.push_back({"split: next->prev", [=](FakeMemory& x) { x.Put(next + kElemPrev, nu); }});
    w.push_back({"split: elem->next", [=](FakeMemory& x) { x.Put(elem + kElemNext, nu); }});
    w.push_back(
        {"split: elem->size", [=](FakeMemory& x) { x.Put(elem + kElemSize, kNew - kFree); }});
    w.push_back({"new busy", [=](FakeMemory& x) { x.SetState(nu, kElemBusy); }});
    ListInsert(w, m, elem, kNew - kFree);
    w.back().intact_after = true;
    // Not: new linked from next but not from elem (10), elem overlapping new (11).
    Repairable(w, {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16});
    return w;
  };
  ReplayEveryPrefix(build, plan);
}

// rte_free of a busy element between two free ones: malloc_heap_free marks it free,
// malloc_elem_join_adjacent_free takes the next off its list and joins it, takes the previous off
// its list and joins into it, and malloc_elem_free_list_insert lists the result.
TEST(MallocHeapCheckTest, AKillAnywhereInsideAFreeIsSeen) {
  constexpr uint64_t kPrev = 4096, kBusy = kPrev + 1024, kNext = kBusy + 2048;
  const auto build = [](FakeMemory& m) {
    Build(m, {{kPrev, 1024, kElemFree},
              {kBusy, 2048, kElemBusy},
              {kNext, 4096, kElemFree},
              {kNext + 4096, 640, kElemBusy}});
  };
  const auto plan = [](const FakeMemory& m) {
    const uint64_t prev = FakeMemory::kBase + kPrev, busy = FakeMemory::kBase + kBusy,
                   next = FakeMemory::kBase + kNext, after = m.Get(next + kElemNext);
    std::vector<Write> w;
    w.push_back({"mark free", [=](FakeMemory& x) { x.SetState(busy, kElemFree); }});
    ListRemove(w, m, next);
    // join_elem(busy, next)
    w.push_back({"join next: size", [=](FakeMemory& x) { x.Put(busy + kElemSize, 2048 + 4096); }});
    w.push_back({"join next: after->prev", [=](FakeMemory& x) { x.Put(after + kElemPrev, busy); }});
    w.push_back({"join next: busy->next", [=](FakeMemory& x) { x.Put(busy + kElemNext, after); }});
    // The erase of the swallowed header (MALLOC_POISON).
    w.push_back({"erase next's header", [=](FakeMemory& x) {
                   for (uint32_t i = 0; i < kElemHeaderBytes; i += 8) {
                     x.Put(next + i, 0x6b6b6b6b6b6b6b6bull);
                   }
                 }});
    // The previous element's removal: its list has only itself, so one write.
    FakeMemory rest = m;
    for (const Write& x : w) x.apply(rest);
    ListRemove(w, rest, prev);
    w.push_back(
        {"join prev: size", [=](FakeMemory& x) { x.Put(prev + kElemSize, 1024 + 2048 + 4096); }});
    w.push_back({"join prev: after->prev", [=](FakeMemory& x) { x.Put(after + kElemPrev, prev); }});
    w.push_back({"join prev: prev->next", [=](FakeMemory& x) { x.Put(prev + kElemNext, after); }});
    ListInsert(w, rest, prev, 1024 + 2048 + 4096);
    w.back().intact_after = true;
    // Not: the joins half done (3, 4, 8, 9).
    Repairable(w, {1, 2, 5, 6, 7, 10, 11, 12, 13});
    return w;
  };
  ReplayEveryPrefix(build, plan);
}

}  // namespace
}  // namespace dmrswitch::ipc
