#include "dataplane/ipc/shard_stats.h"

#include <rte_errno.h>
#include <rte_memzone.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace dmrswitch::ipc {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;
// A copy takes well under a microsecond; a reader that still sees it odd after this many tries
// is looking at a shard that stopped in the middle of one.
constexpr int kReadRetries = 10000;

template <size_t N>
void Store(std::atomic<uint64_t> (&to)[N], const std::array<uint64_t, N>& from) {
  for (size_t i = 0; i < N; ++i) to[i].store(from[i], kRelaxed);
}
template <size_t N>
void Load(const std::atomic<uint64_t> (&from)[N], std::array<uint64_t, N>* to) {
  for (size_t i = 0; i < N; ++i) (*to)[i] = from[i].load(kRelaxed);
}

std::string ZoneName(const std::string& prefix) { return prefix + "_stats"; }
size_t ZoneBytes(uint32_t nshards) {
  return sizeof(ShardStatsZone) + 64 + size_t{nshards} * sizeof(ShardStats);
}

}  // namespace

double LoopHistogram::PercentileNs(double q, uint64_t tsc_hz) const {
  uint64_t total = 0;
  for (uint64_t c : fine) total += c;
  if (total == 0 || tsc_hz == 0) return 0;
  const auto want = static_cast<uint64_t>(q * static_cast<double>(total));
  uint64_t seen = 0;
  for (size_t b = 0; b < fine.size(); ++b) {
    seen += fine[b];
    if (seen > want) {
      return static_cast<double>(LoopFineUpperCycles(b)) * 1e9 / static_cast<double>(tsc_hz);
    }
  }
  return 0;
}

double ShardStatsSnapshot::LoopPercentileNs(double q) const { return loop.PercentileNs(q, tsc_hz); }

void ShardStats::Publish(const ShardStatsSnapshot& s) {
  const uint64_t start = seq.load(kRelaxed) + 1;
  seq.store(start, kRelaxed);
  std::atomic_thread_fence(std::memory_order_release);
  published_ns.store(s.published_ns, kRelaxed);
  updates.store(updates.load(kRelaxed) + 1, kRelaxed);
  tsc_hz.store(s.tsc_hz, kRelaxed);
  io_present.store(s.io_present, kRelaxed);
  Store(io, s.io);
  Store(route, s.route);
  Store(runtime, s.runtime);
  Store(drops, s.drops);
  Store(rejects, s.rejects);
  Store(net_rejects, s.net_rejects);
  Store(gauges, s.gauges);
  Store(loop_buckets, s.loop.buckets);
  Store(loop_fine, s.loop.fine);
  loop_sum_cycles.store(s.loop.sum_cycles, kRelaxed);
  seq.store(start + 1, std::memory_order_release);
}

void ShardStats::RecordStream(const route::Event& e) {
  const uint64_t n = recent_count.load(kRelaxed);
  Recent& r = recent[n % kRecentStreams];
  uint64_t words[sizeof(route::Event) / 8];
  std::memcpy(words, &e, sizeof(e));
  const uint64_t start = r.seq.load(kRelaxed) + 1;
  r.seq.store(start, kRelaxed);
  std::atomic_thread_fence(std::memory_order_release);
  for (size_t i = 0; i < std::size(words); ++i) r.words[i].store(words[i], kRelaxed);
  r.seq.store(start + 1, std::memory_order_release);
  recent_count.store(n + 1, std::memory_order_release);
}

ShardStatsSnapshot SumShardStats(const std::vector<ShardStatsSnapshot>& snaps) {
  ShardStatsSnapshot t;
  auto add = [](auto& to, const auto& from) {
    for (size_t i = 0; i < to.size(); ++i) to[i] += from[i];
  };
  for (const ShardStatsSnapshot& s : snaps) {
    t.io_present |= s.io_present;
    t.tsc_hz = s.tsc_hz;
    t.published_ns = std::max(t.published_ns, s.published_ns);
    add(t.io, s.io);
    add(t.route, s.route);
    add(t.runtime, s.runtime);
    add(t.drops, s.drops);
    add(t.rejects, s.rejects);
    add(t.net_rejects, s.net_rejects);
    add(t.gauges, s.gauges);
    add(t.loop.buckets, s.loop.buckets);
    add(t.loop.fine, s.loop.fine);
    t.loop.sum_cycles += s.loop.sum_cycles;
  }
  const size_t gen = static_cast<size_t>(ShardGauge::kSnapshotGeneration);
  t.gauges[gen] = snaps.empty() ? 0 : ~uint64_t{0};
  for (const ShardStatsSnapshot& s : snaps) t.gauges[gen] = std::min(t.gauges[gen], s.gauges[gen]);
  return t;
}

bool ReadShardStats(const ShardStats& b, ShardStatsSnapshot* out) {
  for (int attempt = 0; attempt < kReadRetries; ++attempt) {
    const uint64_t before = b.seq.load(std::memory_order_acquire);
    if (before & 1) continue;
    out->published_ns = b.published_ns.load(kRelaxed);
    out->updates = b.updates.load(kRelaxed);
    out->tsc_hz = b.tsc_hz.load(kRelaxed);
    out->io_present = b.io_present.load(kRelaxed);
    Load(b.io, &out->io);
    Load(b.route, &out->route);
    Load(b.runtime, &out->runtime);
    Load(b.drops, &out->drops);
    Load(b.rejects, &out->rejects);
    Load(b.net_rejects, &out->net_rejects);
    Load(b.gauges, &out->gauges);
    Load(b.loop_buckets, &out->loop.buckets);
    Load(b.loop_fine, &out->loop.fine);
    out->loop.sum_cycles = b.loop_sum_cycles.load(kRelaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (b.seq.load(kRelaxed) == before) return true;
  }
  return false;
}

std::vector<route::Event> ReadRecentStreams(const ShardStats& b) {
  std::vector<route::Event> out;
  const uint64_t n = b.recent_count.load(std::memory_order_acquire);
  const uint64_t first = n > kRecentStreams ? n - kRecentStreams : 0;
  for (uint64_t i = first; i < n; ++i) {
    const ShardStats::Recent& r = b.recent[i % kRecentStreams];
    for (int attempt = 0; attempt < kReadRetries; ++attempt) {
      const uint64_t before = r.seq.load(std::memory_order_acquire);
      if (before & 1) continue;
      uint64_t words[sizeof(route::Event) / 8];
      for (size_t w = 0; w < std::size(words); ++w) words[w] = r.words[w].load(kRelaxed);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (r.seq.load(kRelaxed) != before) continue;
      route::Event e;
      std::memcpy(&e, words, sizeof(e));
      out.push_back(e);
      break;
    }
  }
  return out;
}

ShardStats* ShardStatsZone::blocks() const {
  // The blocks follow the header, cache-line aligned.
  const auto base = reinterpret_cast<uintptr_t>(this) + sizeof(ShardStatsZone);
  return reinterpret_cast<ShardStats*>((base + 63) & ~uintptr_t{63});
}

absl::StatusOr<ShardStatsZone*> CreateShardStatsZone(const std::string& prefix, uint32_t nshards) {
  const std::string name = ZoneName(prefix);
  const rte_memzone* mz =
      rte_memzone_reserve_aligned(name.c_str(), ZoneBytes(nshards), SOCKET_ID_ANY, 0, 64);
  if (mz == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot reserve the counter memzone ", name, ": ", rte_strerror(rte_errno)));
  }
  std::memset(mz->addr, 0, ZoneBytes(nshards));
  auto* z = static_cast<ShardStatsZone*>(mz->addr);
  z->layout_version = ShardStatsZone::kLayoutVersion;
  z->nshards = nshards;
  z->block_bytes = sizeof(ShardStats);
  for (uint32_t i = 0; i < nshards; ++i) new (z->shard(i)) ShardStats();
  z->magic.store(ShardStatsZone::kMagic, std::memory_order_release);
  return z;
}

absl::StatusOr<const ShardStatsZone*> AttachShardStatsZone(const std::string& prefix,
                                                           uint32_t nshards) {
  const std::string name = ZoneName(prefix);
  const rte_memzone* mz = rte_memzone_lookup(name.c_str());
  if (mz == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no counter memzone ", name, " (is this dmrswitch-dp from the same build?)"));
  }
  const auto* z = static_cast<const ShardStatsZone*>(mz->addr);
  if (z->magic.load(std::memory_order_acquire) != ShardStatsZone::kMagic ||
      z->layout_version != ShardStatsZone::kLayoutVersion || z->block_bytes != sizeof(ShardStats) ||
      z->nshards != nshards) {
    return absl::FailedPreconditionError(absl::StrCat(
        "counter memzone ", name, " has another layout (", z->nshards, " shards, ", z->block_bytes,
        "-byte blocks; expected ", nshards, " and ", sizeof(ShardStats), ")"));
  }
  return z;
}

}  // namespace dmrswitch::ipc
