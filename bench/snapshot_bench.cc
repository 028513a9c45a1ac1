// Lookups in a RouteSnapshot, the tables a shard consults per packet (FindClient: every HBP
// packet) and per new stream (IsMember, FindConference, FindSubscriber). Keys are present and
// visited in a shuffled order; the table size sets how much of it stays in cache. Snapshot keys
// are regular (IDs in steps), which suits multiplicative hashing; BM_TableRandomKeys compares
// FrozenMap with absl::flat_hash_map, which the snapshot used before, on random keys.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "dataplane/route/frozen_map.h"
#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/types.h"

namespace dmrswitch {
namespace {

constexpr uint32_t kFirstClientId = 3120000;  // client IDs 7 apart, as sparse as real ones
constexpr uint32_t kFirstRfSrc = 3100000;
constexpr uint32_t kFirstTg = 10000;  // TGs 10000.. and 110000.. avoid 4000 and 5000

uint32_t ClientIdOf(uint32_t slot) { return kFirstClientId + slot * 7; }
uint32_t TgOf(uint32_t slot) { return kFirstTg + slot / 4; }

// `clients` clients, each a static member on TS2 of TgOf(slot) (4 clients a TG) and of a TG that 16
// clients share, and the location of one subscriber each.
std::shared_ptr<const route::RouteSnapshot> LookupSnapshot(uint32_t clients) {
  route::RouteSnapshotBuilder b(route::HubPolicy{}, clients);
  for (uint32_t i = 0; i < clients; ++i) {
    route::ClientSpec c;
    c.id = ClientIdOf(i);
    c.addr = route::Endpoint{0xC6120000 + i, static_cast<uint16_t>(50000 + (i & 0x3FFF))};
    if (!b.AddClient(i, c).ok()) return nullptr;
    for (uint32_t tg : {TgOf(i), kFirstTg + 100000 + i / 16}) {
      if (!b.Subscribe(i, route::kTs2, tg, route::MemberKind::kStatic).ok()) return nullptr;
    }
    b.AddSubscriberLocation(kFirstRfSrc + i * 3, i, route::kTs2);
  }
  absl::StatusOr<std::shared_ptr<const route::RouteSnapshot>> snap = b.Build(1);
  return snap.ok() ? *snap : nullptr;
}

// Calls `lookup(snapshot, key_of(slot), slot)` for every client slot in a shuffled order, round
// robin.
template <class KeyOf, class Lookup>
void LookupLoop(benchmark::State& state, KeyOf key_of, Lookup lookup) {
  const uint32_t clients = static_cast<uint32_t>(state.range(0));
  const auto snap = LookupSnapshot(clients);
  if (snap == nullptr) return state.SkipWithError("snapshot");
  std::vector<uint32_t> slots(clients);
  for (uint32_t i = 0; i < clients; ++i) slots[i] = i;
  std::shuffle(slots.begin(), slots.end(), std::mt19937(42));
  std::vector<uint32_t> keys;
  for (uint32_t slot : slots) keys.push_back(key_of(slot));
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(lookup(*snap, keys[i], slots[i]));
    if (++i == keys.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_SnapshotFindClient(benchmark::State& state) {
  LookupLoop(state, ClientIdOf,
             [](const route::RouteSnapshot& s, uint32_t id, uint32_t) { return s.FindClient(id); });
}
BENCHMARK(BM_SnapshotFindClient)->Arg(64)->Arg(4096)->Arg(65536);

// Unknown repeater IDs (the kUnknownClient drop path): every lookup misses.
void BM_SnapshotFindClientMiss(benchmark::State& state) {
  LookupLoop(
      state, [](uint32_t slot) { return ClientIdOf(slot) + 3; },
      [](const route::RouteSnapshot& s, uint32_t id, uint32_t) { return s.FindClient(id); });
}
BENCHMARK(BM_SnapshotFindClientMiss)->Arg(64)->Arg(4096)->Arg(65536);

void BM_SnapshotIsMember(benchmark::State& state) {
  LookupLoop(state, TgOf, [](const route::RouteSnapshot& s, uint32_t tg, uint32_t slot) {
    return s.IsMember(slot, route::kTs2, tg);
  });
}
BENCHMARK(BM_SnapshotIsMember)->Arg(64)->Arg(4096)->Arg(65536);

void BM_SnapshotFindConference(benchmark::State& state) {
  LookupLoop(state, TgOf, [](const route::RouteSnapshot& s, uint32_t tg, uint32_t) {
    return s.FindConference(tg).members.data();
  });
}
BENCHMARK(BM_SnapshotFindConference)->Arg(64)->Arg(4096)->Arg(65536);

void BM_SnapshotFindSubscriber(benchmark::State& state) {
  LookupLoop(
      state, [](uint32_t slot) { return kFirstRfSrc + slot * 3; },
      [](const route::RouteSnapshot& s, uint32_t rf_src, uint32_t) {
        return s.FindSubscriber(rf_src);
      });
}
BENCHMARK(BM_SnapshotFindSubscriber)->Arg(64)->Arg(4096)->Arg(65536);

// state.range(0) random keys of type K (distinct, below 2^24 like DMR IDs, or spread over 64 bits),
// looked up in a shuffled order: all present (range(1) = 1) or all absent (0).
template <class K, class Table>
void BM_TableRandomKeys(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::mt19937_64 rng(99);
  std::vector<K> keys;  // n present, then n absent
  absl::flat_hash_map<K, bool> seen;
  while (keys.size() < 2 * n) {
    const K k = static_cast<K>(sizeof(K) == 4 ? rng() % 16777216 : rng());
    if (seen.emplace(k, true).second) keys.push_back(k);
  }
  std::vector<std::pair<K, uint32_t>> entries;
  for (size_t i = 0; i < n; ++i) entries.emplace_back(keys[i], static_cast<uint32_t>(i));
  const Table table(entries);
  std::vector<K> probes(keys.begin() + (state.range(1) ? 0 : n),
                        keys.begin() + (state.range(1) ? n : 2 * n));
  std::shuffle(probes.begin(), probes.end(), rng);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(table.find(probes[i]));
    if (++i == probes.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

template <class K>
struct Frozen {
  explicit Frozen(const std::vector<std::pair<K, uint32_t>>& entries) : map(entries) {}
  const uint32_t* find(K key) const { return map.find(key); }
  route::FrozenMap<K, uint32_t> map;
};
template <class K>
struct Absl {
  explicit Absl(const std::vector<std::pair<K, uint32_t>>& entries)
      : map(entries.begin(), entries.end()) {}
  const uint32_t* find(K key) const {
    auto it = map.find(key);
    return it == map.end() ? nullptr : &it->second;
  }
  absl::flat_hash_map<K, uint32_t> map;
};

void TableArgs(benchmark::internal::Benchmark* b) {
  for (int64_t present : {1, 0}) {
    for (int64_t n : {64, 4096, 65536}) b->Args({n, present});
  }
}
BENCHMARK(BM_TableRandomKeys<uint32_t, Frozen<uint32_t>>)->Apply(TableArgs);
BENCHMARK(BM_TableRandomKeys<uint32_t, Absl<uint32_t>>)->Apply(TableArgs);
BENCHMARK(BM_TableRandomKeys<uint64_t, Frozen<uint64_t>>)->Apply(TableArgs);
BENCHMARK(BM_TableRandomKeys<uint64_t, Absl<uint64_t>>)->Apply(TableArgs);

}  // namespace
}  // namespace dmrswitch
