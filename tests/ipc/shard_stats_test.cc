// The shards' counter blocks (dataplane/ipc/shard_stats.h): a memzone a reader finds by name, a
// sequence lock that never hands a reader half a copy while the shard writes, the recent-stream
// board, and a real ShardRuntime publishing its counters into its block.

#include "dataplane/ipc/shard_stats.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <rte_eal.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dataplane/io/shard_runtime.h"
#include "dataplane/ipc/channel.h"

namespace dmrswitch::ipc {
namespace {

class ShardStatsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The CPUs this process may use, before rte_eal_init pins the thread to one of them.
    CPU_ZERO(&started_on_);
    ASSERT_EQ(sched_getaffinity(0, sizeof(started_on_), &started_on_), 0);
    std::vector<std::string> args = {"shard_stats_test",
                                     "--no-huge",
                                     "--no-pci",
                                     "--no-shconf",
                                     "-m",
                                     "64",
                                     "--log-level=lib.eal:error",
                                     "--no-telemetry",
                                     absl::StrCat("--file-prefix=sst", getpid())};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    ASSERT_GE(rte_eal_init(static_cast<int>(argv.size()), argv.data()), 0);
  }
  static void TearDownTestSuite() {
    const std::string runtime_dir = rte_eal_get_runtime_dir();
    rte_eal_cleanup();
    std::error_code ec;
    std::filesystem::remove_all(runtime_dir, ec);
  }
  static cpu_set_t started_on_;
};
cpu_set_t ShardStatsTest::started_on_;

// Every word of a snapshot set to `v` (so that a torn copy shows as a mix).
ShardStatsSnapshot Filled(uint64_t v) {
  ShardStatsSnapshot s;
  s.published_ns = v;
  s.tsc_hz = v;
  s.io_present = v;
  s.io.fill(v);
  s.route.fill(v);
  s.runtime.fill(v);
  s.drops.fill(v);
  s.rejects.fill(v);
  s.net_rejects.fill(v);
  s.gauges.fill(v);
  s.loop.buckets.fill(v);
  s.loop.fine.fill(v);
  s.loop.sum_cycles = v;
  return s;
}

// Whether every word of `s` is `v`.
bool AllAre(const ShardStatsSnapshot& s, uint64_t v) {
  auto all = [v](const auto& a) {
    for (uint64_t x : a) {
      if (x != v) return false;
    }
    return true;
  };
  return s.published_ns == v && s.tsc_hz == v && s.io_present == v && all(s.io) && all(s.route) &&
         all(s.runtime) && all(s.drops) && all(s.rejects) && all(s.net_rejects) && all(s.gauges) &&
         all(s.loop.buckets) && all(s.loop.fine) && s.loop.sum_cycles == v;
}

TEST_F(ShardStatsTest, AReaderFindsTheZoneByNameAndRefusesAnotherLayout) {
  auto zone = CreateShardStatsZone("sst_a", 3);
  ASSERT_TRUE(zone.ok()) << zone.status();
  auto found = AttachShardStatsZone("sst_a", 3);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, *zone);
  EXPECT_EQ((*found)->nshards, 3u);
  // Blocks are distinct, cache-line aligned, zeroed.
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>((*zone)->shard(i)) % 64, 0u);
    ShardStatsSnapshot s;
    ASSERT_TRUE(ReadShardStats(*(*found)->shard(i), &s));
    EXPECT_TRUE(AllAre(s, 0));
  }
  EXPECT_NE((*zone)->shard(0), (*zone)->shard(1));

  auto other = AttachShardStatsZone("sst_a", 4);
  ASSERT_FALSE(other.ok());
  EXPECT_NE(std::string(other.status().message()).find("3 shards"), std::string::npos)
      << other.status();
  EXPECT_EQ(AttachShardStatsZone("sst_nowhere", 1).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ShardStatsTest, ACopyReadsBackWordForWordAndCountsItsUpdates) {
  auto zone = CreateShardStatsZone("sst_b", 1);
  ASSERT_TRUE(zone.ok()) << zone.status();
  ShardStats& block = *(*zone)->shard(0);
  ShardStatsSnapshot s = Filled(0);
  s.route[static_cast<size_t>(RouteStat::kPacketsIn)] = 17;
  s.drops[static_cast<size_t>(route::DropReason::kRateLimit)] = 5;
  s.net_rejects[static_cast<size_t>(net::NetReject::kUdpChecksum)] = 3;
  s.io_present = uint64_t{1} << static_cast<size_t>(IoStat::kRxPackets);
  s.io[static_cast<size_t>(IoStat::kRxPackets)] = 99;
  s.gauges[static_cast<size_t>(ShardGauge::kEvtRing)] = 12;
  s.tsc_hz = 1'000'000'000;
  s.loop.Add(1000);  // bucket 10: [512, 1024)
  s.loop.Add(1000);
  s.loop.Add(3000);  // bucket 12
  block.Publish(s);
  block.Publish(s);
  ShardStatsSnapshot r;
  ASSERT_TRUE(ReadShardStats(block, &r));
  EXPECT_EQ(r.updates, 2u);
  EXPECT_EQ(r.route_stat(RouteStat::kPacketsIn), 17u);
  EXPECT_EQ(r.drop(route::DropReason::kRateLimit), 5u);
  EXPECT_EQ(r.net_rejects[static_cast<size_t>(net::NetReject::kUdpChecksum)], 3u);
  EXPECT_TRUE(r.has_io(IoStat::kRxPackets));
  EXPECT_FALSE(r.has_io(IoStat::kNoMbuf));
  EXPECT_EQ(r.io_stat(IoStat::kRxPackets), 99u);
  EXPECT_EQ(r.gauge(ShardGauge::kEvtRing), 12u);
  EXPECT_EQ(r.loop.buckets[10], 2u);
  EXPECT_EQ(r.loop.buckets[12], 1u);
  EXPECT_EQ(r.loop.sum_cycles, 5000u);
  // At 1 GHz a cycle is a nanosecond. Percentiles come from the quarter octaves: the median is
  // in [896, 1024), the p99 in [2560, 3072).
  EXPECT_EQ(r.loop.fine[LoopFineBucket(1000)], 2u);
  EXPECT_EQ(r.loop.fine[LoopFineBucket(3000)], 1u);
  EXPECT_EQ(r.LoopPercentileNs(0.5), 1024.0);
  EXPECT_EQ(r.LoopPercentileNs(0.99), 3072.0);
}

TEST(LoopFineBucket, QuarterOctavesCoverEveryCountOnceAndInOrder) {
  // Every count falls in the bucket whose bounds hold it, and buckets follow one another with
  // no gap: checked for every count below 2^16 and around every power of two above.
  std::vector<uint64_t> misplaced;
  auto check = [&misplaced](uint64_t c) {
    const size_t b = LoopFineBucket(c);
    if (c >= LoopFineUpperCycles(b) || (b > 0 && c < LoopFineUpperCycles(b - 1))) {
      misplaced.push_back(c);
    }
  };
  for (uint64_t c = 0; c < (1u << 16); ++c) check(c);
  for (unsigned e = 16; e < 48; ++e) {
    for (uint64_t c : {(uint64_t{1} << e) - 1, uint64_t{1} << e, (uint64_t{1} << e) + 1,
                       (uint64_t{5} << (e - 2)) - 1, uint64_t{5} << (e - 2)}) {
      check(c);
    }
  }
  EXPECT_TRUE(misplaced.empty()) << misplaced.size() << " counts misplaced, the first "
                                 << misplaced.front();
  // A quarter octave's upper bound is at most 25 % above the smallest count it holds.
  for (size_t b = 4; b + 1 < kLoopFineBuckets; ++b) {
    const uint64_t lo = LoopFineUpperCycles(b - 1);
    EXPECT_LE(LoopFineUpperCycles(b) * 4, lo * 5) << b;
  }
  // Beyond the last bucket everything is counted in it.
  EXPECT_EQ(LoopFineBucket(~uint64_t{0}), kLoopFineBuckets - 1);
  EXPECT_EQ(LoopFineBucket(0), 0u);
  EXPECT_EQ(LoopFineBucket(4), 4u);
  EXPECT_EQ(LoopFineBucket(8), 8u);
}

TEST_F(ShardStatsTest, AReaderNeverSeesHalfACopyWhileTheShardWrites) {
  auto zone = CreateShardStatsZone("sst_c", 1);
  ASSERT_TRUE(zone.ok()) << zone.status();
  ShardStats& block = *(*zone)->shard(0);
  // rte_eal_init pinned this thread to one CPU, and a std::thread inherits the pin: reader and
  // writer would take turns on that CPU and never overlap. Let both run on every CPU the process
  // started with. With one CPU they can only take turns: each turn shows the reader one new copy.
  cpu_set_t pinned;
  ASSERT_EQ(pthread_getaffinity_np(pthread_self(), sizeof(pinned), &pinned), 0);
  ASSERT_EQ(pthread_setaffinity_np(pthread_self(), sizeof(started_on_), &started_on_), 0);
  const bool overlap = CPU_COUNT(&started_on_) > 1;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> written{0};
  std::thread shard([&] {
    ShardStatsSnapshot s;
    for (uint64_t v = 1; !stop.load(std::memory_order_relaxed); ++v) {
      s = Filled(v);
      block.Publish(s);
      written.store(v, std::memory_order_relaxed);
      // A shard publishes on a timer, never back to back; a copy that is rewritten the moment it
      // is done leaves a reader hardly any window, and the test would measure retries, not
      // tearing. A microsecond's gap still overlaps most reads with a write.
      const auto resume = std::chrono::steady_clock::now() + std::chrono::microseconds(1);
      while (std::chrono::steady_clock::now() < resume) {
      }
    }
  });
  // The check is only worth something while both threads run, and on a 2-core box beside other
  // tests either may sit descheduled for a while: read until the reader has seen enough distinct
  // copies go by, not for a fixed time. The deadline bounds a slow machine (sanitizers on a busy
  // VM read ~500 copies a second): by then at least kDistinctEnough copies must have gone by,
  // which is plenty to catch a torn one (a reader that skips the sequence check reports one
  // within the first few hundred).
  const uint64_t kDistinctWanted = overlap ? 20000 : 100;
  const uint64_t kDistinctEnough = overlap ? 2000 : 100;
  uint64_t reads = 0, last = 0, distinct = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (distinct < kDistinctWanted && std::chrono::steady_clock::now() < deadline) {
    ShardStatsSnapshot r;
    if (!ReadShardStats(block, &r)) continue;
    ++reads;
    const uint64_t v = r.published_ns;
    ASSERT_TRUE(AllAre(r, v)) << "a torn copy at " << v;
    ASSERT_GE(v, last) << "copies go forward";
    if (v != last) ++distinct;
    last = v;
  }
  stop.store(true);
  shard.join();
  ASSERT_EQ(pthread_setaffinity_np(pthread_self(), sizeof(pinned), &pinned), 0);
  EXPECT_GE(reads, kDistinctEnough);
  EXPECT_GE(distinct, kDistinctEnough) << "the reader saw the writer make progress";
  EXPECT_GE(written.load(), kDistinctEnough);
}

TEST_F(ShardStatsTest, AReaderGivesUpOnAShardThatDiedInTheMiddleOfACopy) {
  auto zone = CreateShardStatsZone("sst_d", 1);
  ASSERT_TRUE(zone.ok()) << zone.status();
  ShardStats& block = *(*zone)->shard(0);
  block.seq.store(7);  // odd: a copy that never finished
  ShardStatsSnapshot r;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(ReadShardStats(block, &r));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
}

TEST_F(ShardStatsTest, TheBoardKeepsTheLastStreamEventsInOrder) {
  auto zone = CreateShardStatsZone("sst_e", 1);
  ASSERT_TRUE(zone.ok()) << zone.status();
  ShardStats& block = *(*zone)->shard(0);
  EXPECT_TRUE(ReadRecentStreams(block).empty());
  for (uint32_t i = 1; i <= kRecentStreams + 5; ++i) {
    route::Event e;
    e.type = i % 2 ? route::EventType::kStreamStarted : route::EventType::kStreamEnded;
    e.stream_id = i;
    e.rf_src = 3120000 + i;
    e.source = route::SystemRef::Client(i);
    e.packets = i * 3;
    block.RecordStream(e);
  }
  const std::vector<route::Event> recent = ReadRecentStreams(block);
  ASSERT_EQ(recent.size(), kRecentStreams);
  for (size_t k = 0; k < recent.size(); ++k) {
    const uint32_t i = static_cast<uint32_t>(k + 6);  // the first five were overwritten
    EXPECT_EQ(recent[k].stream_id, i);
    EXPECT_EQ(recent[k].rf_src, 3120000 + i);
    EXPECT_EQ(recent[k].source, route::SystemRef::Client(i));
    EXPECT_EQ(recent[k].packets, i * 3);
  }
}

// A shard runtime writes its own block: what it routed, dropped and emitted, its ring depths.
class NullSink final : public route::PacketSink {
 public:
  uint8_t* Begin(uint32_t, const route::Endpoint&) override { return buf_; }
  void Commit(uint16_t) override {}

 private:
  uint8_t buf_[kMaxPacketBytes];
};

TEST_F(ShardStatsTest, AShardRuntimePublishesItsCountersOnItsTimer) {
  auto zone = CreateShardStatsZone("sst_f", 1);
  ASSERT_TRUE(zone.ok()) << zone.status();
  auto channels = ChannelSet::Create("sstf", 1);
  ASSERT_TRUE(channels.ok()) << channels.status();
  route::SlotLeases leases(16);
  NullSink sink;
  io::RuntimeConfig config{0, 1, 1, {}, (*zone)->shard(0)};
  config.core.stream_capacity = 64;
  io::ShardRuntime runtime(config, &leases, channels->shard(0), channels->pool(), &sink);
  ShardStatsSnapshot io_part;
  io_part.io_present = uint64_t{1} << static_cast<size_t>(IoStat::kRxPackets);
  io_part.io[static_cast<size_t>(IoStat::kRxPackets)] = 2;

  // Two DMRD frames before any snapshot: dropped as no_snapshot.
  std::vector<uint8_t> dmrd(55, 0);
  std::memcpy(dmrd.data(), "DMRD", 4);
  dmrd[16] = 1;  // stream ID 1
  runtime.Deliver(route::kHbpListener, dmrd, route::Endpoint{0x7F000001, 40000}, 0);
  runtime.Deliver(route::kHbpListener, dmrd, route::Endpoint{0x7F000001, 40000}, 0);
  // Commands waiting for the shard show as the command ring's depth.
  ASSERT_TRUE(SendMessage(channels->shard(0).cmd, Message::Make(MsgType::kDrainBegin, 0)));

  const route::TimeNs now = 5 * route::kSec;
  ASSERT_TRUE(runtime.StatsDue(now));
  runtime.PublishStats(now, &io_part);
  EXPECT_FALSE(runtime.StatsDue(now + io::ShardRuntime::kStatsEvery - 1));
  EXPECT_TRUE(runtime.StatsDue(now + io::ShardRuntime::kStatsEvery));

  ShardStatsSnapshot r;
  ASSERT_TRUE(ReadShardStats(*(*zone)->shard(0), &r));
  EXPECT_EQ(r.shard, 0u);
  EXPECT_EQ(r.published_ns, now);
  EXPECT_GT(r.tsc_hz, 0u);
  EXPECT_EQ(r.route_stat(RouteStat::kPacketsIn), 2u);
  EXPECT_EQ(r.drop(route::DropReason::kNoSnapshot), 2u);
  EXPECT_EQ(r.io_stat(IoStat::kRxPackets), 2u);
  EXPECT_EQ(r.gauge(ShardGauge::kCmdRing), 1u);
  EXPECT_EQ(r.gauge(ShardGauge::kStreamCapacity), 64u);
  EXPECT_EQ(r.gauge(ShardGauge::kDraining), 0u);

  // The drain command, taken: the shard now says it drains and the ring is empty.
  runtime.PollCommands(now);
  runtime.PublishStats(now + route::kSec, &io_part);
  ASSERT_TRUE(ReadShardStats(*(*zone)->shard(0), &r));
  EXPECT_EQ(r.gauge(ShardGauge::kDraining), 1u);
  EXPECT_EQ(r.gauge(ShardGauge::kCmdRing), 0u);
}

// Totals over shards: counters and histograms add up, so do streams and clients; the snapshot
// generation is the oldest in use and the publication time the newest.
TEST(SumShardStats, AddsCountersAndTakesTheOldestGeneration) {
  ShardStatsSnapshot a, b;
  a.io[static_cast<size_t>(IoStat::kRxPackets)] = 10;
  b.io[static_cast<size_t>(IoStat::kRxPackets)] = 32;
  a.gauges[static_cast<size_t>(ShardGauge::kClients)] = 3;
  b.gauges[static_cast<size_t>(ShardGauge::kClients)] = 4;
  a.gauges[static_cast<size_t>(ShardGauge::kSnapshotGeneration)] = 9;
  b.gauges[static_cast<size_t>(ShardGauge::kSnapshotGeneration)] = 7;
  a.loop.buckets[12] = 5;
  b.loop.buckets[12] = 6;
  a.loop.fine[41] = 2;
  b.loop.fine[41] = 3;
  a.loop.sum_cycles = 100;
  b.loop.sum_cycles = 50;
  a.published_ns = 2000;
  b.published_ns = 1000;
  const ShardStatsSnapshot t = SumShardStats({a, b});
  EXPECT_EQ(t.io_stat(IoStat::kRxPackets), 42u);
  EXPECT_EQ(t.gauge(ShardGauge::kClients), 7u);
  EXPECT_EQ(t.gauge(ShardGauge::kSnapshotGeneration), 7u);
  EXPECT_EQ(t.loop.buckets[12], 11u);
  EXPECT_EQ(t.loop.fine[41], 5u);
  EXPECT_EQ(t.loop.sum_cycles, 150u);
  EXPECT_EQ(t.published_ns, 2000u);
  EXPECT_EQ(SumShardStats({}).gauge(ShardGauge::kSnapshotGeneration), 0u);
}

TEST(StatNames, EveryCounterHasAUniqueSnakeCaseNameAndHelp) {
  std::set<std::string_view> seen;
  auto check = [&](const auto& table) {
    for (const StatName& n : table) {
      EXPECT_FALSE(n.name.empty());
      EXPECT_FALSE(n.help.empty()) << n.name;
      // Prometheus metric name characters, lower case: a letter first, then letters, digits
      // ("icmp6") and underscores.
      EXPECT_TRUE(n.name[0] >= 'a' && n.name[0] <= 'z') << n.name;
      for (char c : n.name) {
        EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') << n.name;
      }
      EXPECT_TRUE(seen.insert(n.name).second) << n.name << " twice";
    }
  };
  check(kIoStatNames);
  check(kRouteStatNames);
  check(kRuntimeStatNames);
  check(kShardGaugeNames);
}

}  // namespace
}  // namespace dmrswitch::ipc
