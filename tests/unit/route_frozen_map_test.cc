// FrozenMap / FrozenSet: the read-only tables of RouteSnapshot. Lookups of present and absent
// keys against a reference map, home groups that overflow and wrap around the end of the table,
// control bytes that match without the key matching, keys at the ends of the key range,
// iteration, and storage through the snapshot memory hooks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "dataplane/route/frozen_map.h"
#include "dataplane/route/shared_memory.h"

namespace dmrswitch::route {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

template <class K, class V>
std::vector<std::pair<K, V>> Entries(const FrozenMap<K, V>& m) {
  std::vector<std::pair<K, V>> out;
  for (const auto& e : m) out.emplace_back(e.key, e.value);
  return out;
}

// Checks `m` against `want` for every key in `probes` and for every key of `want`, and that
// iteration yields exactly `want`.
template <class K, class V>
void ExpectSame(const FrozenMap<K, V>& m, const std::map<K, V>& want,
                const std::vector<K>& probes) {
  EXPECT_EQ(m.size(), want.size());
  EXPECT_EQ(m.empty(), want.empty());
  for (const auto& [k, v] : want) {
    const V* got = m.find(k);
    ASSERT_NE(got, nullptr) << k;
    EXPECT_EQ(*got, v) << k;
    EXPECT_TRUE(m.contains(k)) << k;
  }
  for (K k : probes) {
    const auto it = want.find(k);
    const V* got = m.find(k);
    if (it == want.end()) {
      EXPECT_EQ(got, nullptr) << k;
      EXPECT_FALSE(m.contains(k)) << k;
    } else {
      ASSERT_NE(got, nullptr) << k;
      EXPECT_EQ(*got, it->second) << k;
    }
  }
  std::vector<std::pair<K, V>> iterated = Entries(m);
  std::sort(iterated.begin(), iterated.end());
  EXPECT_EQ(iterated, (std::vector<std::pair<K, V>>(want.begin(), want.end())));
}

// `n` keys from `start` on whose home group is `group` of `group_count` (at least 2), and whose
// control byte is `control` unless that is negative.
template <class K>
std::vector<K> KeysWithHome(size_t group, size_t group_count, size_t n, K start = 0,
                            int control = -1) {
  const int shift = 64 - std::countr_zero(group_count);
  std::vector<K> keys;
  for (K k = start; keys.size() < n; ++k) {
    const uint64_t h = FrozenMap<K, int>::Hash(k);
    const uint64_t control_of_k = (h >> (shift - 7)) & 0x7F;
    if ((h >> shift) == group && (control < 0 || control_of_k == static_cast<uint64_t>(control))) {
      keys.push_back(k);
    }
  }
  return keys;
}

TEST(FrozenMapTest, DefaultIsEmptyAndOwnsNothing) {
  const FrozenMap<uint32_t, int> m;
  EXPECT_EQ(m.size(), 0u);
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.slot_count(), 0u);
  EXPECT_TRUE(m.begin() == m.end());
  for (uint32_t k : {0u, 1u, 0xFFFFFFFFu}) {
    EXPECT_EQ(m.find(k), nullptr);
    EXPECT_FALSE(m.contains(k));
  }
}

TEST(FrozenMapTest, BuiltFromNothingIsEmptyAndAllocatesNothing) {
  static size_t allocations;
  allocations = 0;
  SetSnapshotMemory({[](size_t bytes, size_t alignment) {
                       ++allocations;
                       return DefaultSnapshotMemory().allocate(bytes, alignment);
                     },
                     DefaultSnapshotMemory().deallocate});
  {
    const FrozenMap<uint64_t, int> m{std::vector<std::pair<uint64_t, int>>{}};
    EXPECT_EQ(m.size(), 0u);
    EXPECT_EQ(m.slot_count(), 0u);
    EXPECT_EQ(m.find(0), nullptr);
    EXPECT_EQ(m.find(~uint64_t{0}), nullptr);
    EXPECT_TRUE(m.begin() == m.end());
    const FrozenSet<uint32_t> s{std::vector<uint32_t>{}};
    EXPECT_FALSE(s.contains(0));
    EXPECT_TRUE(s.begin() == s.end());
  }
  // An empty table points at nothing, so nothing in another process's image either.
  EXPECT_EQ(allocations, 0u);
  SetSnapshotMemory({});
}

TEST(FrozenMapTest, OneEntry) {
  const FrozenMap<uint32_t, int> m({{3120001, 7}});
  EXPECT_EQ(m.slot_count(), 16u);  // one group
  ExpectSame<uint32_t, int>(m, {{3120001, 7}}, {0, 1, 3120000, 3120002, 0xFFFFFFFE, 0xFFFFFFFF});
}

TEST(FrozenMapTest, KeysAtTheEndsOfTheRange) {
  const uint32_t max = std::numeric_limits<uint32_t>::max();
  const std::map<uint32_t, int> want = {{0, 1}, {max, 2}, {max - 1, 3}, {max - 2, 4}, {5, 5}};
  const FrozenMap<uint32_t, int> m(std::vector<std::pair<uint32_t, int>>(want.begin(), want.end()));
  ExpectSame(m, want, {1, 2, 4, 6, max - 3, max - 4, max / 2});

  const uint64_t max64 = std::numeric_limits<uint64_t>::max();
  const std::map<uint64_t, int> want64 = {{max64, 1}, {0, 2}};
  const FrozenMap<uint64_t, int> m64(
      std::vector<std::pair<uint64_t, int>>(want64.begin(), want64.end()));
  ExpectSame(m64, want64, {1, max64 - 1, max64 - 2, uint64_t{1} << 63});
}

TEST(FrozenMapTest, FullHomeGroupsOverflowAndWrapAroundTheEnd) {
  // 40 entries: 128 slots, 8 groups. 20 keys have the last group as home: 16 fill it, 4 wrap to
  // group 0, where 6 keys of its own and 14 others spread over groups 1..6 join them.
  const size_t groups = 8;
  const std::vector<uint32_t> last = KeysWithHome<uint32_t>(groups - 1, groups, 24);
  const std::vector<uint32_t> first = KeysWithHome<uint32_t>(0, groups, 8);
  std::map<uint32_t, int> want;
  for (size_t i = 0; i < 20; ++i) want[last[i]] = static_cast<int>(i);
  for (size_t i = 0; i < 6; ++i) want[first[i]] = static_cast<int>(100 + i);
  for (uint32_t k = 1'000'000; want.size() < 40; ++k) {
    if (const size_t g = FrozenMap<uint32_t, int>::Hash(k) >> 61; g != 0 && g != groups - 1) {
      want[k] = static_cast<int>(k);
    }
  }
  const FrozenMap<uint32_t, int> m(std::vector<std::pair<uint32_t, int>>(want.begin(), want.end()));
  ASSERT_EQ(m.slot_count(), groups * 16);
  // Absent keys of the same homes probe past the full group before they miss.
  ExpectSame(m, want, {last[20], last[21], last[22], last[23], first[6], first[7], 0, 1, 2});
}

TEST(FrozenMapTest, ControlBytesThatMatchWithoutTheKey) {
  // Keys that share home group and control byte: each lookup compares keys behind every match.
  const std::vector<uint64_t> same = KeysWithHome<uint64_t>(3, 4, 12, 0, 0x55);
  std::map<uint64_t, int> want;
  for (size_t i = 0; i < 8; ++i) want[same[i]] = static_cast<int>(i);
  for (uint64_t k = 0; want.size() < 20; ++k) want.emplace(k << 40, -1);
  const FrozenMap<uint64_t, int> m(std::vector<std::pair<uint64_t, int>>(want.begin(), want.end()));
  ASSERT_EQ(m.slot_count(), 64u);
  ExpectSame(m, want, {same[8], same[9], same[10], same[11]});
}

TEST(FrozenMapTest, GroupMatchAgreesWithTheScalarOne) {
  std::mt19937 rng(3);
  frozen_internal::ControlGroup g;
  for (int round = 0; round < 1000; ++round) {
    for (uint8_t& b : g.bytes) b = rng() % 4 == 0 ? frozen_internal::kUnused : rng() % 8;
    for (uint8_t byte : {uint8_t{0}, uint8_t{3}, uint8_t{7}, frozen_internal::kUnused}) {
      EXPECT_EQ(frozen_internal::Match(g, byte), frozen_internal::MatchScalar(g, byte));
    }
    EXPECT_EQ(frozen_internal::HasUnused(g),
              frozen_internal::MatchScalar(g, frozen_internal::kUnused) != 0);
  }
}

TEST(FrozenMapTest, ManyKeysAgainstAReferenceMap) {
  std::mt19937 rng(7);
  for (size_t n : {2u, 3u, 15u, 16u, 17u, 1000u, 100000u}) {
    std::map<uint32_t, uint32_t> want;
    while (want.size() < n) want[rng()] = rng();
    std::vector<uint32_t> probes;
    for (size_t i = 0; i < 2 * n; ++i) probes.push_back(rng());  // almost all absent
    const FrozenMap<uint32_t, uint32_t> m(
        std::vector<std::pair<uint32_t, uint32_t>>(want.begin(), want.end()));
    EXPECT_TRUE(std::has_single_bit(m.slot_count()));
    EXPECT_GE(m.slot_count(), 2 * n);
    EXPECT_LE(m.slot_count(), std::max<size_t>(16, 4 * n));
    ExpectSame(m, want, probes);
  }
}

TEST(FrozenMapTest, DenseAndStridedKeysLikeSnapshotKeys) {
  // Client slots, member keys (slot << 32 | ts << 24 | tg) and consecutive IDs.
  std::map<uint64_t, int> want;
  for (uint64_t slot = 0; slot < 200; ++slot) {
    for (uint64_t tg : {91u, 3100u, 310000u + static_cast<unsigned>(slot)}) {
      want[(slot << 32) | (uint64_t{1} << 24) | tg] = static_cast<int>(slot);
    }
  }
  std::vector<uint64_t> probes;
  for (uint64_t slot = 0; slot < 210; ++slot) probes.push_back((slot << 32) | 91);  // TS1: absent
  const FrozenMap<uint64_t, int> m(std::vector<std::pair<uint64_t, int>>(want.begin(), want.end()));
  ExpectSame(m, want, probes);
}

TEST(FrozenMapTest, DuplicateKeysKeepTheLastValue) {
  const FrozenMap<uint32_t, int> m({{5, 1}, {9, 2}, {5, 3}, {9, 4}, {5, 5}});
  ExpectSame<uint32_t, int>(m, {{5, 5}, {9, 4}}, {4, 6, 8, 10});
}

TEST(FrozenMapTest, LayoutDependsOnTheKeysOnlyNotTheirOrder) {
  std::vector<std::pair<uint32_t, int>> entries;
  for (uint32_t i = 0; i < 50; ++i) entries.emplace_back(i * 16, static_cast<int>(i));
  const FrozenMap<uint32_t, int> a(entries);
  std::shuffle(entries.begin(), entries.end(), std::mt19937(1));
  const FrozenMap<uint32_t, int> b(entries);
  EXPECT_EQ(Entries(a), Entries(b));
}

TEST(FrozenMapTest, ValuesThatOwnMemoryAreMovedInAndCopied) {
  std::vector<std::pair<uint32_t, SnapshotVector<int>>> entries;
  entries.emplace_back(1, SnapshotVector<int>{1, 2, 3});
  entries.emplace_back(2, SnapshotVector<int>{});
  const int* data = entries[0].second.data();
  FrozenMap<uint32_t, SnapshotVector<int>> m(std::move(entries));
  ASSERT_NE(m.find(1), nullptr);
  EXPECT_EQ(m.find(1)->data(), data);  // moved, not copied
  EXPECT_THAT(*m.find(1), ElementsAre(1, 2, 3));

  const FrozenMap<uint32_t, SnapshotVector<int>> copy = m;
  EXPECT_THAT(*copy.find(1), ElementsAre(1, 2, 3));
  EXPECT_NE(copy.find(1)->data(), data);

  FrozenMap<uint32_t, SnapshotVector<int>> moved = std::move(m);
  EXPECT_EQ(moved.find(1)->data(), data);
  EXPECT_EQ(m.size(), 0u);  // NOLINT(bugprone-use-after-move): moved-from is empty and usable
  EXPECT_EQ(m.find(1), nullptr);
  EXPECT_TRUE(m.begin() == m.end());
  m = std::move(moved);
  EXPECT_THAT(*m.find(1), ElementsAre(1, 2, 3));
}

TEST(FrozenMapTest, StorageComesFromTheHooksAndGoesBack) {
  static size_t live, live_bytes;
  live = live_bytes = 0;
  SetSnapshotMemory({[](size_t bytes, size_t alignment) {
                       ++live;
                       live_bytes += bytes;
                       return DefaultSnapshotMemory().allocate(bytes, alignment);
                     },
                     [](void* p, size_t bytes, size_t alignment) {
                       --live;
                       live_bytes -= bytes;
                       DefaultSnapshotMemory().deallocate(p, bytes, alignment);
                     }});
  {
    // One group: 16 control bytes and 16 slots of (key, value).
    const FrozenMap<uint32_t, uint32_t> m({{1, 1}, {2, 2}, {3, 3}});
    EXPECT_EQ(live, 2u);
    EXPECT_EQ(live_bytes, 16 + 16 * 8u);
    const FrozenSet<uint64_t> s({1, 2, 3});
    EXPECT_EQ(live, 4u);
    EXPECT_EQ(live_bytes, 2 * (16 + 16 * 8u));  // a set's slot is its key alone
  }
  EXPECT_EQ(live, 0u);
  SetSnapshotMemory({});
}

TEST(FrozenSetTest, ContainsAndIteration) {
  const FrozenSet<uint64_t> s({7, 1, 7, 0, ~uint64_t{0}});
  EXPECT_EQ(s.size(), 4u);
  EXPECT_FALSE(s.empty());
  for (uint64_t k : {0ull, 1ull, 7ull, ~0ull}) EXPECT_TRUE(s.contains(k)) << k;
  for (uint64_t k : {2ull, 6ull, 8ull, ~1ull}) EXPECT_FALSE(s.contains(k)) << k;
  EXPECT_THAT(std::vector<uint64_t>(s.begin(), s.end()),
              UnorderedElementsAre(0, 1, 7, ~uint64_t{0}));
}

TEST(FrozenSetTest, ManyKeysAgainstAReferenceSet) {
  std::mt19937_64 rng(11);
  std::set<uint64_t> want;
  while (want.size() < 20000) want.insert(rng() >> (rng() % 64));  // all magnitudes
  const FrozenSet<uint64_t> s(std::vector<uint64_t>(want.begin(), want.end()));
  EXPECT_EQ(s.size(), want.size());
  for (uint64_t k : want) EXPECT_TRUE(s.contains(k));
  for (int i = 0; i < 40000; ++i) {
    const uint64_t k = rng();
    EXPECT_EQ(s.contains(k), want.contains(k)) << k;
  }
  EXPECT_EQ(std::set<uint64_t>(s.begin(), s.end()), want);
}

}  // namespace
}  // namespace dmrswitch::route
