// Benchmarks of the deterministic core, one core, no I/O: what a shard spends per packet before
// any driver is involved. Figures and the command are recorded in docs/benchmarks.md.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "dataplane/proto/bytes.h"
#include "dataplane/proto/dmr_lc.h"
#include "dataplane/proto/hbp.h"
#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/routing_core.h"
#include "dataplane/route/stream_table.h"
#include "ebpf/steer_common.h"

namespace dmrswitch {
namespace {

using route::kMs;
using route::kSec;
using route::TimeNs;

std::vector<uint8_t> VoiceDmrd(uint32_t stream_id, uint32_t repeater_id, uint32_t tg,
                               uint8_t flags) {
  proto::DmrdFields f;
  f.seq = 0;
  f.rf_src = 3120101;
  f.dst = tg;
  f.repeater_id = repeater_id;
  f.flags = proto::DmrdFlags{flags};
  f.stream_id = stream_id;
  for (size_t i = 0; i < f.payload.size(); ++i) f.payload[i] = static_cast<uint8_t>(i * 37);
  std::vector<uint8_t> b(proto::kDmrdBytes);
  proto::EncodeDmrd(f, b);
  return b;
}

void BM_ParseValidateDmrd(benchmark::State& state) {
  const std::vector<uint8_t> pkt = VoiceDmrd(0x12345678, 3120001, 91, 0x81);
  proto::DmrdView v;
  for (auto _ : state) {
    benchmark::DoNotOptimize(pkt.data());
    const proto::Reject r = proto::DecodeDmrd(pkt, &v);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseValidateDmrd);

struct Payload {
  uint64_t a[4];
};

// Lookups of present keys in a table whose probe array is 90% full.
void BM_StreamLookup90(benchmark::State& state) {
  const uint32_t slots = static_cast<uint32_t>(state.range(0));
  const uint32_t n = slots / 10 * 9;
  route::StreamTable<Payload> table(n);
  if (table.slot_count() != slots) state.SkipWithError("unexpected slot count");
  std::mt19937 rng(42);
  std::vector<uint32_t> keys;
  keys.reserve(n);
  while (keys.size() < n) {
    const uint32_t k = rng() | 1;
    if (table.Insert(k, 0) != nullptr) keys.push_back(k);
  }
  std::shuffle(keys.begin(), keys.end(), rng);
  size_t i = 0;
  for (auto _ : state) {
    Payload* p = table.Find(keys[i]);
    benchmark::DoNotOptimize(p);
    if (++i == keys.size()) i = 0;
  }
  state.counters["load"] = static_cast<double>(table.size()) / table.slot_count();
  state.counters["max_probe"] = table.MaxProbeLength();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StreamLookup90)->Arg(1 << 12)->Arg(1 << 16)->Arg(1 << 20);

// A transmit queue: hands out buffers from a fixed array, as a TX burst would.
class BurstSink : public route::PacketSink {
 public:
  uint8_t* Begin(uint32_t, const route::Endpoint&) override { return bufs_[next_ & (kBurst - 1)]; }
  void Commit(uint16_t len) override {
    bytes_ += len;
    ++next_;
  }
  uint64_t packets() const { return next_; }

 private:
  static constexpr size_t kBurst = 32;
  alignas(64) uint8_t bufs_[kBurst][128];
  uint64_t next_ = 0;
  uint64_t bytes_ = 0;
};

class NullEvents : public route::EventSink {
 public:
  void Emit(const route::Event&) override { ++n; }
  uint64_t n = 0;
};

// Route + fanout of one voice burst of a live stream to `fanout` destinations.
void RouteFanout(benchmark::State& state, bool obp) {
  const uint32_t fanout = static_cast<uint32_t>(state.range(0));
  route::HubPolicy policy;
  policy.server_id = 310999;
  policy.max_stream_age = ~TimeNs{0} / 4;  // a stream that lasts the whole benchmark
  policy.rate_limit_pps = 1'000'000'000;
  const uint32_t clients = obp ? 1 : fanout + 1;
  // TG 3100 is carried on OpenBridge (TG >= 80); the source client is subscribed too.
  const uint32_t tg = obp ? 3100 : 91;
  route::SlotLeases leases(clients + 1);
  route::RouteSnapshotBuilder b(policy, clients + 1);
  for (uint32_t i = 0; i < clients; ++i) {
    route::ClientSpec c;
    c.id = 3120000 + i;
    c.addr = route::Endpoint{0xC6120000 + i, static_cast<uint16_t>(50000 + i)};
    if (!b.AddClient(i, c).ok() ||
        !b.Subscribe(i, route::kTs2, tg, route::MemberKind::kStatic).ok()) {
      state.SkipWithError("snapshot");
      return;
    }
  }
  if (obp) {
    for (uint32_t i = 0; i < fanout; ++i) {
      route::PeerSpec p;
      p.listener = 1;
      p.name = "peer" + std::to_string(i);
      p.network_id = 400000 + i;
      p.target = route::Endpoint{0xC6130000 + i, 62035};
      p.version = 1;
      p.passphrase = "passw0rd";
      if (!b.AddPeer(p).ok()) {
        state.SkipWithError("peer");
        return;
      }
    }
  }
  auto snap = b.Build(1);
  BurstSink sink;
  NullEvents events;
  route::RoutingCoreConfig cfg;
  cfg.stream_capacity = 1024;
  route::RoutingCore shard(cfg, &leases, &sink, &events);
  TimeNs now = 1'700'000'000 * kSec;
  shard.SetSnapshot(*snap, now);

  std::vector<uint8_t> pkt = VoiceDmrd(0xABCD0001, 3120000, tg, 0xA1);
  const route::Endpoint from{0xC6120000, 50000};
  if (shard.OnHbpPacket(pkt, from, now) != route::Verdict::kConsumed) {
    state.SkipWithError("header not routed");
    return;
  }
  pkt[15] = 0x81;  // voice burst B: carries embedded LC, the common case
  uint8_t seq = 0;
  const uint64_t before = sink.packets();
  for (auto _ : state) {
    pkt[4] = ++seq;
    now += 60 * kMs;
    benchmark::DoNotOptimize(shard.OnHbpPacket(pkt, from, now));
  }
  const uint64_t out = sink.packets() - before;
  if (out != static_cast<uint64_t>(state.iterations()) * fanout) {
    state.SkipWithError("unexpected egress count");
  }
  state.SetItemsProcessed(static_cast<int64_t>(out));
  state.counters["fanout"] = fanout;
  state.counters["ns_per_output"] = benchmark::Counter(
      static_cast<double>(out), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_RouteFanoutHbp(benchmark::State& state) { RouteFanout(state, false); }
void BM_RouteFanoutObpV1(benchmark::State& state) { RouteFanout(state, true); }
BENCHMARK(BM_RouteFanoutHbp)->Arg(1)->Arg(16)->Arg(256);
BENCHMARK(BM_RouteFanoutObpV1)->Arg(1)->Arg(16)->Arg(256);

// Route + fanout at scale (issue 15 items 1 and 3): N live streams, each from its own client on
// its own TG to one listener (2N clients), their voice bursts interleaved round-robin in a
// shuffled order as a busy hub receives them, with the stream table and client state far
// bigger than the caches for large N (the per-packet cost as the working set outgrows L1, L2,
// L3 and the TLB).
void BM_RouteManyStreams(benchmark::State& state) {
  const auto n = static_cast<uint32_t>(state.range(0));
  route::HubPolicy policy;
  policy.server_id = 310999;
  policy.max_stream_age = ~TimeNs{0} / 4;
  policy.rate_limit_pps = 1'000'000'000;
  const uint32_t clients = 2 * n;
  route::SlotLeases leases(clients);
  route::RouteSnapshotBuilder b(policy, clients);
  for (uint32_t i = 0; i < clients; ++i) {
    route::ClientSpec c;
    c.id = 3120000 + i;
    c.addr = route::Endpoint{0xC6120000 + i, static_cast<uint16_t>(50000 + (i & 0x3FFF))};
    const uint32_t tg = 100000 + (i % n);  // source i and listener n + i share TG 100000 + i
    if (!b.AddClient(i, c).ok() ||
        !b.Subscribe(i, route::kTs2, tg, route::MemberKind::kStatic).ok()) {
      state.SkipWithError("snapshot");
      return;
    }
  }
  auto snap = b.Build(1);
  BurstSink sink;
  NullEvents events;
  route::RoutingCoreConfig cfg;
  cfg.stream_capacity = n + n / 8;
  route::RoutingCore shard(cfg, &leases, &sink, &events);
  TimeNs now = 1'700'000'000 * kSec;
  shard.SetSnapshot(*snap, now);

  std::vector<std::vector<uint8_t>> pkts(n);
  std::vector<route::Endpoint> from(n);
  for (uint32_t i = 0; i < n; ++i) {
    proto::DmrdFields f;
    f.rf_src = 3200000 + i;
    f.dst = 100000 + i;
    f.repeater_id = 3120000 + i;
    f.flags = proto::DmrdFlags{0xA1};  // TS2, group, voice header
    f.stream_id = 0x10000000 + i * 7919;
    pkts[i].resize(proto::kDmrdBytes);
    proto::EncodeDmrd(f, pkts[i]);
    from[i] = route::Endpoint{0xC6120000 + i, static_cast<uint16_t>(50000 + (i & 0x3FFF))};
    if (shard.OnHbpPacket(pkts[i], from[i], now) != route::Verdict::kConsumed) {
      state.SkipWithError("header not routed");
      return;
    }
    pkts[i][15] = 0x81;  // voice burst B from here on
  }
  std::vector<uint32_t> order(n);
  for (uint32_t i = 0; i < n; ++i) order[i] = i;
  std::mt19937 rng(7);
  std::shuffle(order.begin(), order.end(), rng);
  const TimeNs step = 60 * kMs / n;  // every stream at its 60 ms cadence
  const uint64_t before = sink.packets();
  size_t k = 0;
  for (auto _ : state) {
    const uint32_t i = order[k];
    ++pkts[i][4];
    now += step;
    benchmark::DoNotOptimize(shard.OnHbpPacket(pkts[i], from[i], now));
    if (++k == n) k = 0;
  }
  const uint64_t out = sink.packets() - before;
  if (out != static_cast<uint64_t>(state.iterations())) {
    state.SkipWithError("unexpected egress count");
  }
  state.SetItemsProcessed(static_cast<int64_t>(out));
  state.counters["streams"] = n;
}
BENCHMARK(BM_RouteManyStreams)->Arg(64)->Arg(2048)->Arg(16384)->Arg(131072);

}  // namespace
}  // namespace dmrswitch

BENCHMARK_MAIN();
