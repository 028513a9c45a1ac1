// StreamTable: fixed-capacity open-addressing map with intrusive expiry lists.

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <random>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dataplane/route/stream_table.h"
#include "dataplane/route/types.h"
#include "ebpf/steer_common.h"

namespace dmrswitch::route {
namespace {

struct Value {
  uint32_t a = 0;
  uint64_t b = 0;
};

using Table = StreamTable<Value, 2>;
using Table3 = StreamTable<Value, 3>;

template <typename T>
std::vector<uint32_t> ListKeys(T& t, unsigned list) {
  std::vector<uint32_t> keys;
  t.ForEach(list, [&](uint32_t key, Value&) { keys.push_back(key); });
  return keys;
}

TEST(StreamTableTest, InsertFindErase) {
  Table t(100);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.capacity(), 100u);
  EXPECT_EQ(t.Find(42), nullptr);

  Value* v = t.Insert(42, 1000);
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->a, 0u);
  EXPECT_EQ(v->b, 0u);
  v->a = 7;
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.Find(42), v);
  EXPECT_EQ(t.Find(42)->a, 7u);
  EXPECT_EQ(t.Find(43), nullptr);
  EXPECT_EQ(t.KeyOf(v), 42u);
  EXPECT_EQ(t.TouchedAt(v), 1000u);
  EXPECT_EQ(t.ListOf(v), 0u);

  EXPECT_TRUE(t.Erase(42));
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.Find(42), nullptr);
  EXPECT_FALSE(t.Erase(42));
  EXPECT_EQ(t.ListSize(0), 0u);

  // A re-inserted key starts with a default value again.
  Value* w = t.Insert(42, 2000, 1);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->a, 0u);
  EXPECT_EQ(t.ListOf(w), 1u);
  EXPECT_EQ(t.TouchedAt(w), 2000u);
  EXPECT_TRUE(t.Erase(w));
  EXPECT_EQ(t.Find(42), nullptr);
}

TEST(StreamTableTest, ExtremeKeys) {
  Table t(8);
  for (uint32_t key : {1u, 0xFFFFFFFFu, 0x80000000u, 0x5EED5EEDu}) {
    ASSERT_NE(t.Insert(key, 0), nullptr) << key;
  }
  for (uint32_t key : {1u, 0xFFFFFFFFu, 0x80000000u, 0x5EED5EEDu}) {
    ASSERT_NE(t.Find(key), nullptr) << key;
    EXPECT_EQ(t.KeyOf(t.Find(key)), key);
  }
}

TEST(StreamTableTest, KeyZeroRefused) {
  Table t(4);
  EXPECT_EQ(t.Insert(0, 0), nullptr);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.refused_full(), 0u);
  EXPECT_EQ(t.Find(0), nullptr);
  EXPECT_FALSE(t.Erase(0u));
  ASSERT_NE(t.Insert(5, 0), nullptr);
  EXPECT_EQ(t.Find(0), nullptr);
}

TEST(StreamTableTest, DuplicateInsertReturnsNull) {
  Table t(4);
  Value* v = t.Insert(9, 10);
  ASSERT_NE(v, nullptr);
  v->a = 99;
  EXPECT_EQ(t.Insert(9, 20), nullptr);
  EXPECT_EQ(t.Insert(9, 20, 1), nullptr);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.refused_full(), 0u);
  EXPECT_EQ(t.Find(9), v);
  EXPECT_EQ(v->a, 99u);  // untouched
  EXPECT_EQ(t.TouchedAt(v), 10u);
  EXPECT_EQ(t.ListOf(v), 0u);
  EXPECT_EQ(t.ListSize(0), 1u);
  EXPECT_EQ(t.ListSize(1), 0u);
}

TEST(StreamTableTest, CapacityEnforced) {
  for (uint32_t cap : {1u, 2u, 14u, 15u, 100u, 1000u}) {
    Table t(cap);
    for (uint32_t k = 1; k <= cap; ++k) ASSERT_NE(t.Insert(k * 7919, k), nullptr) << cap;
    EXPECT_EQ(t.size(), cap);
    EXPECT_EQ(t.Insert(0xABCDEF, 0), nullptr);
    EXPECT_EQ(t.refused_full(), 1u);
    EXPECT_EQ(t.size(), cap);
    EXPECT_EQ(t.Find(0xABCDEF), nullptr);
    for (uint32_t k = 1; k <= cap; ++k) ASSERT_NE(t.Find(k * 7919), nullptr);
    // Freeing one entry makes room for exactly one more.
    ASSERT_TRUE(t.Erase(7919u));
    ASSERT_NE(t.Insert(0xABCDEF, 0), nullptr);
    EXPECT_EQ(t.Insert(0xABCDF0, 0), nullptr);
    EXPECT_EQ(t.refused_full(), 2u);
  }
}

TEST(StreamTableTest, ZeroCapacityMeansOne) {
  Table t(0);
  EXPECT_EQ(t.capacity(), 1u);
  EXPECT_NE(t.Insert(1, 0), nullptr);
  EXPECT_EQ(t.Insert(2, 0), nullptr);
  EXPECT_EQ(t.refused_full(), 1u);
}

TEST(StreamTableTest, SlotCountPowerOfTwoAtMostNinetyPercentLoaded) {
  std::vector<uint32_t> caps;
  for (uint32_t c = 1; c <= 3000; ++c) caps.push_back(c);
  for (uint32_t c : {14745u, 14746u, 16384u, 58982u, 58983u, 100000u}) caps.push_back(c);
  for (uint32_t cap : caps) {
    Table t(cap);
    const uint32_t slots = t.slot_count();
    ASSERT_TRUE(std::has_single_bit(slots)) << cap << " -> " << slots;
    ASSERT_GE(slots, 16u);
    ASSERT_LE(uint64_t{cap} * 10, uint64_t{slots} * 9) << cap << " -> " << slots;
    // The smallest such power of two (beyond the minimum of 16).
    if (slots > 16) {
      ASSERT_GT(uint64_t{cap} * 10, uint64_t{slots / 2} * 9) << cap << " -> " << slots;
    }
  }
  EXPECT_EQ(Table(14745).slot_count(), 16384u);
  EXPECT_EQ(Table(14746).slot_count(), 32768u);
}

TEST(StreamTableTest, ValuePointersStable) {
  Table t(500);
  std::mt19937 rng(1);
  std::vector<std::pair<uint32_t, Value*>> kept;
  for (uint32_t k = 1; k <= 50; ++k) {
    Value* v = t.Insert(k * 1000003u, 0);
    ASSERT_NE(v, nullptr);
    v->a = k;
    v->b = uint64_t{k} << 40;
    kept.emplace_back(k * 1000003u, v);
  }
  // Churn other keys around them, including erasures that shift probe entries back.
  std::vector<uint32_t> others;
  for (int i = 0; i < 20000; ++i) {
    if (others.size() < 400 && (others.empty() || rng() % 3 != 0)) {
      const uint32_t key = rng() | 1;
      if (t.Find(key) != nullptr) continue;
      Value* v = t.Insert(key, 0);
      ASSERT_NE(v, nullptr);
      v->a = 0xDEAD;
      others.push_back(key);
    } else {
      const size_t j = rng() % others.size();
      ASSERT_TRUE(t.Erase(others[j]));
      others[j] = others.back();
      others.pop_back();
    }
    if (i % 1000 == 0) {
      for (const auto& [key, v] : kept) {
        ASSERT_EQ(t.Find(key), v);
        ASSERT_EQ(v->a * 1000003u, key);
        ASSERT_EQ(v->b, uint64_t{v->a} << 40);
      }
    }
  }
  for (const auto& [key, v] : kept) {
    EXPECT_EQ(t.Find(key), v);
    EXPECT_EQ(t.KeyOf(v), key);
    EXPECT_EQ(v->b, uint64_t{v->a} << 40);
  }
}

// Checks every live key of the model is found with its value, and some dead ones are not.
void CheckAgainstModel(Table& t, const std::unordered_map<uint32_t, uint32_t>& model,
                       const std::vector<uint32_t>& universe) {
  ASSERT_EQ(t.size(), model.size());
  for (const auto& [key, val] : model) {
    Value* v = t.Find(key);
    ASSERT_NE(v, nullptr) << "lost key " << key;
    ASSERT_EQ(v->a, val) << key;
    ASSERT_EQ(t.KeyOf(v), key);
  }
  for (uint32_t key : universe) {
    if (!model.contains(key)) {
      ASSERT_EQ(t.Find(key), nullptr) << "ghost key " << key;
    }
  }
}

// 100k random operations on a small table whose keys collide heavily: backward-shift deletion
// must keep every live key reachable and never leave a hole inside a cluster.
void Churn(uint32_t capacity, uint32_t universe_size, uint32_t seed, bool check_every_erase) {
  Table t(capacity, seed);
  std::mt19937 rng(seed);
  std::vector<uint32_t> universe;
  for (uint32_t i = 0; i < universe_size; ++i) universe.push_back(rng() | 0x80000000u);
  std::unordered_map<uint32_t, uint32_t> model;
  uint32_t next_val = 1;
  uint32_t worst_probe = 0;
  for (int op = 0; op < 100000; ++op) {
    const uint32_t key = universe[rng() % universe.size()];
    const uint32_t r = rng() % 10;
    if (r < 5) {
      Value* v = t.Insert(key, static_cast<TimeNs>(op), rng() & 1);
      if (model.contains(key)) {
        ASSERT_EQ(v, nullptr);
      } else if (model.size() == capacity) {
        ASSERT_EQ(v, nullptr);
      } else {
        ASSERT_NE(v, nullptr);
        v->a = next_val;
        model[key] = next_val++;
      }
    } else if (r < 9) {
      const bool erased = t.Erase(key);
      ASSERT_EQ(erased, model.erase(key) == 1) << key;
      if (erased && check_every_erase) {
        ASSERT_NO_FATAL_FAILURE(CheckAgainstModel(t, model, {}));
      }
    } else {
      Value* v = t.Find(key);
      const auto it = model.find(key);
      if (it == model.end()) {
        ASSERT_EQ(v, nullptr);
      } else {
        ASSERT_NE(v, nullptr);
        ASSERT_EQ(v->a, it->second);
      }
    }
    // Every entry sits in a gap-free run that starts at its home, so no probe is longer than the
    // number of entries.
    const uint32_t probe = t.MaxProbeLength();
    ASSERT_LE(probe, t.size());
    worst_probe = std::max(worst_probe, probe);
    ASSERT_EQ(t.ListSize(0) + t.ListSize(1), t.size());
    if (op % 5000 == 0) {
      ASSERT_NO_FATAL_FAILURE(CheckAgainstModel(t, model, universe));
    }
  }
  ASSERT_NO_FATAL_FAILURE(CheckAgainstModel(t, model, universe));
  EXPECT_LT(worst_probe, t.slot_count());
  // Drain: everything erases cleanly and leaves an empty table.
  std::vector<uint32_t> live;
  for (const auto& [key, val] : model) live.push_back(key);
  for (uint32_t key : live) {
    ASSERT_TRUE(t.Erase(key));
    model.erase(key);
    ASSERT_NO_FATAL_FAILURE(CheckAgainstModel(t, model, {}));
  }
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.MaxProbeLength(), 0u);
  EXPECT_EQ(t.ListSize(0), 0u);
  EXPECT_EQ(t.ListSize(1), 0u);
}

TEST(StreamTableTest, ChurnTinyTableAgainstModel) {
  // 14 entries in 16 slots, 40 candidate keys: nearly every insert collides and wraps.
  Churn(14, 40, 7, true);
}

TEST(StreamTableTest, ChurnTinyTableOtherSeeds) {
  Churn(12, 200, 1234, true);
  Churn(1, 3, 99, true);
}

TEST(StreamTableTest, ChurnLargerTableAgainstModel) { Churn(900, 2000, 42, false); }

TEST(StreamTableTest, ChurnDoesNotDegradeProbeLength) {
  // Tombstone-free deletion: after heavy churn at steady 50% fill, probe lengths look like a
  // freshly built table's, not a saturated one.
  constexpr uint32_t kCap = 14745;  // 16384 slots
  Table t(kCap);
  std::mt19937 rng(5);
  std::vector<uint32_t> live;
  while (live.size() < 8192) {
    const uint32_t key = rng() | 1;
    if (t.Insert(key, 0) != nullptr) live.push_back(key);
  }
  for (int i = 0; i < 200000; ++i) {
    const size_t j = rng() % live.size();
    ASSERT_TRUE(t.Erase(live[j]));
    uint32_t key;
    do key = rng() | 1;
    while (t.Insert(key, 0) == nullptr);
    live[j] = key;
  }
  EXPECT_EQ(t.size(), 8192u);
  EXPECT_LE(t.MaxProbeLength(), 64u);
  for (uint32_t key : live) ASSERT_NE(t.Find(key), nullptr);
}

TEST(StreamTableTest, HashIndependentOfOwner) {
  // A shard only ever sees keys that owner() maps to it: their mix32 high bits agree. The table
  // must still spread them over all of its slots.
  for (const auto& [nshards, shard] :
       std::vector<std::pair<uint32_t, uint32_t>>{{4, 0}, {4, 3}, {8, 5}, {64, 0}}) {
    constexpr uint32_t kCap = 14745;  // 16384 slots
    Table t(kCap);
    std::mt19937 rng(nshards * 100 + shard);
    uint32_t inserted = 0;
    std::vector<uint32_t> keys;
    while (inserted < 8192) {
      const uint32_t key = rng();
      if (key == 0 || dmrswitch_owner(key, nshards) != shard) continue;
      if (t.Insert(key, 0) != nullptr) {
        ++inserted;
        keys.push_back(key);
      }
    }
    for (uint32_t key : keys) ASSERT_EQ(dmrswitch_owner(key, nshards), shard);
    EXPECT_LE(t.MaxProbeLength(), 64u) << nshards << "/" << shard;
    // And a full table (90% load) stays usable.
    while (t.size() < kCap) {
      const uint32_t key = rng();
      if (key == 0 || dmrswitch_owner(key, nshards) != shard) continue;
      t.Insert(key, 0);
    }
    EXPECT_LE(t.MaxProbeLength(), 1024u) << nshards << "/" << shard;
  }
}

TEST(StreamTableTest, SequentialKeysSpread) {
  Table t(14745);
  for (uint32_t k = 1; k <= 8192; ++k) ASSERT_NE(t.Insert(k, 0), nullptr);
  EXPECT_LE(t.MaxProbeLength(), 64u);
}

TEST(StreamTableTest, ListOrderAndTouch) {
  Table t(16);
  Value* a = t.Insert(1, 100);
  Value* b = t.Insert(2, 200);
  Value* c = t.Insert(3, 300);
  Value* d = t.Insert(4, 400, 1);
  ASSERT_TRUE(a && b && c && d);
  EXPECT_EQ(ListKeys(t, 0), (std::vector<uint32_t>{1, 2, 3}));
  EXPECT_EQ(ListKeys(t, 1), (std::vector<uint32_t>{4}));
  EXPECT_EQ(t.ListSize(0), 3u);
  EXPECT_EQ(t.ListSize(1), 1u);

  // Touch moves to the back of the named list and records the time.
  t.Touch(a, 500, 0);
  EXPECT_EQ(ListKeys(t, 0), (std::vector<uint32_t>{2, 3, 1}));
  EXPECT_EQ(t.TouchedAt(a), 500u);
  EXPECT_EQ(t.ListOf(a), 0u);

  t.Touch(c, 600, 1);
  EXPECT_EQ(ListKeys(t, 0), (std::vector<uint32_t>{2, 1}));
  EXPECT_EQ(ListKeys(t, 1), (std::vector<uint32_t>{4, 3}));
  EXPECT_EQ(t.ListOf(c), 1u);
  EXPECT_EQ(t.TouchedAt(c), 600u);
  EXPECT_EQ(t.ListSize(0), 2u);
  EXPECT_EQ(t.ListSize(1), 2u);

  // Touching the tail or the only element keeps the list consistent.
  t.Touch(c, 700, 1);
  EXPECT_EQ(ListKeys(t, 1), (std::vector<uint32_t>{4, 3}));
  t.Touch(d, 800, 1);
  EXPECT_EQ(ListKeys(t, 1), (std::vector<uint32_t>{3, 4}));

  // Erasing from the middle, head and tail unlinks.
  Value* e = t.Insert(5, 900);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(ListKeys(t, 0), (std::vector<uint32_t>{2, 1, 5}));
  ASSERT_TRUE(t.Erase(1u));
  EXPECT_EQ(ListKeys(t, 0), (std::vector<uint32_t>{2, 5}));
  ASSERT_TRUE(t.Erase(2u));
  EXPECT_EQ(ListKeys(t, 0), (std::vector<uint32_t>{5}));
  ASSERT_TRUE(t.Erase(5u));
  EXPECT_TRUE(ListKeys(t, 0).empty());
  EXPECT_EQ(t.ListSize(0), 0u);
  EXPECT_EQ(ListKeys(t, 1), (std::vector<uint32_t>{3, 4}));

  // The list is usable again after emptying.
  ASSERT_NE(t.Insert(6, 1000), nullptr);
  ASSERT_NE(t.Insert(7, 1001), nullptr);
  EXPECT_EQ(ListKeys(t, 0), (std::vector<uint32_t>{6, 7}));
}

TEST(StreamTableTest, ForEachSeesValuesAndOrder) {
  Table3 t(32);
  for (uint32_t k = 1; k <= 10; ++k) {
    Value* v = t.Insert(k * 11, k, k % 3);
    ASSERT_NE(v, nullptr);
    v->a = k;
  }
  for (unsigned list = 0; list < 3; ++list) {
    std::vector<uint32_t> expect;
    for (uint32_t k = 1; k <= 10; ++k) {
      if (k % 3 == list) expect.push_back(k * 11);
    }
    std::vector<uint32_t> got;
    t.ForEach(list, [&](uint32_t key, Value& v) {
      EXPECT_EQ(v.a * 11, key);
      got.push_back(key);
      v.b = 1;  // values are mutable through ForEach
    });
    EXPECT_EQ(got, expect) << list;
    EXPECT_EQ(t.ListSize(list), expect.size());
  }
  EXPECT_EQ(t.Find(11)->b, 1u);
}

TEST(StreamTableTest, ExpireEraseRespectsCutoff) {
  Table t(16);
  for (uint32_t k = 1; k <= 6; ++k) ASSERT_NE(t.Insert(k, k * 100), nullptr);
  std::vector<uint32_t> seen;
  // Entries touched before 400 (100, 200, 300) go; 400 itself is not before the cutoff.
  const uint32_t n = t.Expire(0, 400, 100, [&](uint32_t key, Value&) {
    seen.push_back(key);
    return Table::EraseIt();
  });
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(seen, (std::vector<uint32_t>{1, 2, 3}));
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.Find(1), nullptr);
  EXPECT_EQ(t.Find(3), nullptr);
  EXPECT_NE(t.Find(4), nullptr);
  EXPECT_EQ(ListKeys(t, 0), (std::vector<uint32_t>{4, 5, 6}));
  EXPECT_EQ(t.ListSize(0), 3u);
  // Nothing left before the cutoff: no visit.
  EXPECT_EQ(t.Expire(0, 400, 100, [&](uint32_t, Value&) { return Table::EraseIt(); }), 0u);
}

TEST(StreamTableTest, ExpireMaxVisits) {
  Table t(16);
  for (uint32_t k = 1; k <= 6; ++k) ASSERT_NE(t.Insert(k, k), nullptr);
  std::vector<uint32_t> seen;
  auto erase = [&](uint32_t key, Value&) {
    seen.push_back(key);
    return Table::EraseIt();
  };
  EXPECT_EQ(t.Expire(0, 1000, 2, erase), 2u);
  EXPECT_EQ(seen, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(t.Expire(0, 1000, 0, erase), 0u);
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(t.Expire(0, 1000, 10, erase), 4u);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(seen, (std::vector<uint32_t>{1, 2, 3, 4, 5, 6}));
}

TEST(StreamTableTest, ExpireMoveToKeepsTouchTime) {
  Table t(16);
  ASSERT_NE(t.Insert(1, 10), nullptr);
  ASSERT_NE(t.Insert(2, 20), nullptr);
  ASSERT_NE(t.Insert(3, 30), nullptr);
  ASSERT_NE(t.Insert(9, 5, 1), nullptr);
  const uint32_t n = t.Expire(0, 25, 100, [](uint32_t, Value& v) {
    v.a = 1;
    return Table::MoveTo(1);
  });
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(ListKeys(t, 0), (std::vector<uint32_t>{3}));
  EXPECT_EQ(ListKeys(t, 1), (std::vector<uint32_t>{9, 1, 2}));
  EXPECT_EQ(t.ListSize(0), 1u);
  EXPECT_EQ(t.ListSize(1), 3u);
  EXPECT_EQ(t.size(), 4u);
  Value* v1 = t.Find(1);
  ASSERT_NE(v1, nullptr);
  EXPECT_EQ(t.ListOf(v1), 1u);
  EXPECT_EQ(t.TouchedAt(v1), 10u);
  EXPECT_EQ(v1->a, 1u);
  EXPECT_EQ(t.TouchedAt(t.Find(2)), 20u);
  // A second stage on the other list then erases them.
  std::vector<uint32_t> seen;
  EXPECT_EQ(t.Expire(1, 25, 100,
                     [&](uint32_t key, Value&) {
                       seen.push_back(key);
                       return Table::EraseIt();
                     }),
            3u);
  EXPECT_EQ(seen, (std::vector<uint32_t>{9, 1, 2}));
  EXPECT_EQ(t.size(), 1u);
}

TEST(StreamTableTest, ExpireMoveToSameListIsBounded) {
  Table t(16);
  ASSERT_NE(t.Insert(1, 1), nullptr);
  ASSERT_NE(t.Insert(2, 2), nullptr);
  int calls = 0;
  EXPECT_EQ(t.Expire(0, 100, 7,
                     [&](uint32_t, Value&) {
                       ++calls;
                       return Table::MoveTo(0);
                     }),
            7u);
  EXPECT_EQ(calls, 7);
  EXPECT_EQ(t.ListSize(0), 2u);
  EXPECT_EQ(t.size(), 2u);
}

TEST(StreamTableTest, ExpireKeepStopsTheWalk) {
  Table t(16);
  for (uint32_t k = 1; k <= 4; ++k) ASSERT_NE(t.Insert(k, k), nullptr);
  std::vector<uint32_t> seen;
  const uint32_t n = t.Expire(0, 100, 100, [&](uint32_t key, Value&) {
    seen.push_back(key);
    return key == 2 ? Table::Keep() : Table::EraseIt();
  });
  EXPECT_EQ(n, 2u);  // the kept entry was visited
  EXPECT_EQ(seen, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(ListKeys(t, 0), (std::vector<uint32_t>{2, 3, 4}));  // 2 stays at the front
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.TouchedAt(t.Find(2)), 2u);
  // Again: stops at the same entry immediately.
  seen.clear();
  EXPECT_EQ(t.Expire(0, 100, 100,
                     [&](uint32_t key, Value&) {
                       seen.push_back(key);
                       return Table::Keep();
                     }),
            1u);
  EXPECT_EQ(seen, (std::vector<uint32_t>{2}));
}

TEST(StreamTableTest, ExpireOnEmptyList) {
  Table t(4);
  ASSERT_NE(t.Insert(1, 0, 0), nullptr);
  EXPECT_EQ(t.Expire(1, ~TimeNs{0}, 100, [](uint32_t, Value&) { return Table::EraseIt(); }), 0u);
  EXPECT_EQ(t.size(), 1u);
}

TEST(StreamTableTest, ExpiredSlotsAreReused) {
  // A full table that expires entries accepts as many new ones, forever.
  Table t(50);
  uint32_t key = 1;
  TimeNs now = 0;
  for (int round = 0; round < 200; ++round) {
    while (t.size() < t.capacity()) ASSERT_NE(t.Insert(key++, now), nullptr);
    EXPECT_EQ(t.Insert(key, now), nullptr);
    now += 10;
    EXPECT_EQ(t.Expire(0, now, 1000, [](uint32_t, Value&) { return Table::EraseIt(); }), 50u);
    EXPECT_EQ(t.size(), 0u);
  }
  EXPECT_EQ(t.refused_full(), 200u);
}

}  // namespace
}  // namespace dmrswitch::route
