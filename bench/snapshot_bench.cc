// Lookups in a RouteSnapshot, the tables a shard consults per packet (FindClient: every HBP
// packet) and per new stream (IsMember, FindConference, FindSubscriber). Keys are present and
// visited in a shuffled order; the table size sets how much of it stays in cache.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

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

}  // namespace
}  // namespace dmrswitch
