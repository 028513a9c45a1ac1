#include "ctrlplane/shard_metrics.h"

#include <algorithm>
#include <string>
#include <string_view>

namespace dmrswitch::cp {
namespace {

using ipc::ShardStatsSnapshot;

// Histogram buckets shown: from 2^7 cycles (tens of nanoseconds) to 2^30 (a fraction of a
// second); everything below folds into the first, everything above is +Inf.
constexpr size_t kFirstBucket = 7;
constexpr size_t kLastBucket = 30;

report::NamedCounter Counter(std::string_view name, int32_t shard, std::string_view reason,
                             uint64_t value, std::string_view help) {
  report::NamedCounter c;
  c.name = std::string(name);
  c.labels.shard = shard;
  c.labels.reason = std::string(reason);
  c.value = value;
  c.help = std::string(help);
  return c;
}

report::NamedGauge Gauge(std::string_view name, int32_t shard, double value,
                         std::string_view help) {
  report::NamedGauge g;
  g.name = std::string(name);
  g.labels.shard = shard;
  g.value = value;
  g.help = std::string(help);
  return g;
}

// Prometheus name of a gauge: the shard's own view of streams and clients is prefixed so that it
// is not mistaken for the hub-wide families (dmrswitch_clients, dmrswitch_live_calls).
std::string GaugeMetricName(size_t i) {
  const std::string_view name = ipc::kShardGaugeNames[i].name;
  if (name.rfind("ring_", 0) == 0) return std::string(name);
  return "shard_" + std::string(name);
}

nlohmann::json Group(const auto& names, const auto& values, uint64_t present = ~uint64_t{0}) {
  nlohmann::json g = nlohmann::json::object();
  for (size_t i = 0; i < names.size(); ++i) {
    if (i < 64 && ((present >> i) & 1) == 0) continue;
    g[std::string(names[i].name)] = values[i];
  }
  return g;
}

// Reason tables (entry 0 is "none"/"ok" and never counted).
nlohmann::json Reasons(const auto& names, const auto& values) {
  nlohmann::json g = nlohmann::json::object();
  for (size_t i = 1; i < names.size(); ++i) g[std::string(names[i])] = values[i];
  return g;
}

nlohmann::json Latency(const ShardStatsSnapshot& s) {
  uint64_t n = 0;
  for (uint64_t b : s.loop.buckets) n += b;
  // The raw histogram too (bucket b: [2^(b-1), 2^b) TSC cycles), for tools that take the
  // difference of two readings (bench/reporting_bench.cc).
  return {{"busy_iterations", n},
          {"tsc_hz", s.tsc_hz},
          {"buckets_log2_cycles", s.loop.buckets},
          {"p50_ns", s.LoopPercentileNs(0.5)},
          {"p99_ns", s.LoopPercentileNs(0.99)},
          {"p999_ns", s.LoopPercentileNs(0.999)},
          {"mean_ns", n == 0 || s.tsc_hz == 0
                          ? 0.0
                          : static_cast<double>(s.loop.sum_cycles) * 1e9 /
                                static_cast<double>(s.tsc_hz) / static_cast<double>(n)}};
}

nlohmann::json OneShard(const ShardStatsSnapshot& s) {
  nlohmann::json j = {
      {"io", Group(ipc::kIoStatNames, s.io, s.io_present)},
      {"route", Group(ipc::kRouteStatNames, s.route)},
      {"runtime", Group(ipc::kRuntimeStatNames, s.runtime)},
      {"drops", Reasons(route::kDropReasonNames, s.drops)},
      {"rejects", Reasons(proto::kRejectNames, s.rejects)},
      {"gauges", Group(ipc::kShardGaugeNames, s.gauges)},
      {"loop_latency", Latency(s)},
  };
  if (s.has_io(ipc::IoStat::kArpReplies)) {
    j["net_rejects"] = Reasons(net::kNetRejectNames, s.net_rejects);
  }
  return j;
}

}  // namespace

ShardStatsRead ReadAllShardStats(const ipc::ShardStatsZone& zone) {
  ShardStatsRead out;
  for (uint32_t i = 0; i < zone.nshards; ++i) {
    ShardStatsSnapshot s;
    if (ipc::ReadShardStats(*zone.shard(i), &s)) {
      s.shard = i;
      out.shards.push_back(s);
    } else {
      ++out.unreadable;
    }
  }
  return out;
}

void AppendShardMetrics(const ShardStatsRead& read, report::MetricsSnapshot* m) {
  for (const ShardStatsSnapshot& s : read.shards) {
    const auto shard = static_cast<int32_t>(s.shard);
    for (size_t i = 0; i < s.io.size(); ++i) {
      if (!s.has_io(static_cast<ipc::IoStat>(i))) continue;
      m->counters.push_back(
          Counter(ipc::kIoStatNames[i].name, shard, "", s.io[i], ipc::kIoStatNames[i].help));
    }
    for (size_t i = 0; i < s.route.size(); ++i) {
      m->counters.push_back(Counter(ipc::kRouteStatNames[i].name, shard, "", s.route[i],
                                    ipc::kRouteStatNames[i].help));
    }
    for (size_t i = 0; i < s.runtime.size(); ++i) {
      m->counters.push_back(Counter(ipc::kRuntimeStatNames[i].name, shard, "", s.runtime[i],
                                    ipc::kRuntimeStatNames[i].help));
    }
    for (size_t i = 1; i < s.drops.size(); ++i) {
      m->counters.push_back(Counter("packets_dropped", shard, route::kDropReasonNames[i],
                                    s.drops[i],
                                    "Voice and data frames the routing core dropped, by reason."));
    }
    for (size_t i = 1; i < s.rejects.size(); ++i) {
      m->counters.push_back(Counter("packets_rejected", shard, proto::kRejectNames[i], s.rejects[i],
                                    "Datagrams the decoders refused (malformed), by reason."));
    }
    if (s.has_io(ipc::IoStat::kArpReplies)) {
      for (size_t i = 1; i < s.net_rejects.size(); ++i) {
        m->counters.push_back(Counter("frames_rejected", shard, net::kNetRejectNames[i],
                                      s.net_rejects[i],
                                      "Frames refused by the L2-L4 parser (DPDK), by reason."));
      }
    }
    for (size_t i = 0; i < s.gauges.size(); ++i) {
      m->gauges.push_back(Gauge(GaugeMetricName(i), shard, static_cast<double>(s.gauges[i]),
                                ipc::kShardGaugeNames[i].help));
    }
    if (s.tsc_hz != 0) {
      report::LatencyHistogram h;
      h.shard = s.shard;
      const double hz = static_cast<double>(s.tsc_hz);
      uint64_t folded = 0;
      for (size_t b = 0; b <= kFirstBucket; ++b) folded += s.loop.buckets[b];
      h.upper_bounds_s.push_back(static_cast<double>(uint64_t{1} << kFirstBucket) / hz);
      h.bucket_counts.push_back(folded);
      for (size_t b = kFirstBucket + 1; b <= kLastBucket; ++b) {
        h.upper_bounds_s.push_back(static_cast<double>(uint64_t{1} << b) / hz);
        h.bucket_counts.push_back(s.loop.buckets[b]);
      }
      uint64_t above = 0;
      for (size_t b = kLastBucket + 1; b < s.loop.buckets.size(); ++b) above += s.loop.buckets[b];
      h.bucket_counts.push_back(above);
      h.sum_s = static_cast<double>(s.loop.sum_cycles) / hz;
      m->loop_latency.push_back(std::move(h));
    }
  }
}

nlohmann::json ShardStatsJson(const ShardStatsRead& read, route::TimeNs now) {
  nlohmann::json shards = nlohmann::json::array();
  for (const ShardStatsSnapshot& s : read.shards) {
    nlohmann::json j = OneShard(s);
    j["shard"] = s.shard;
    j["age_ms"] =
        s.published_ns == 0 || now < s.published_ns ? 0 : (now - s.published_ns) / route::kMs;
    shards.push_back(std::move(j));
  }
  return {{"ok", true},
          {"shards", std::move(shards)},
          {"total", OneShard(ipc::SumShardStats(read.shards))},
          {"unreadable", read.unreadable}};
}

nlohmann::json ShardErrorsJson(const ShardStatsRead& read) {
  struct Row {
    uint32_t shard;
    std::string counter;
    std::string reason;
    uint64_t count;
  };
  std::vector<Row> rows;
  uint64_t total = 0;
  for (const ShardStatsSnapshot& s : read.shards) {
    auto add = [&](std::string_view counter, std::string_view reason, uint64_t v) {
      if (v == 0) return;
      rows.push_back(Row{s.shard, std::string(counter), std::string(reason), v});
      total += v;
    };
    for (size_t i = 1; i < s.drops.size(); ++i) {
      add("packets_dropped", route::kDropReasonNames[i], s.drops[i]);
    }
    for (size_t i = 1; i < s.rejects.size(); ++i) {
      add("packets_rejected", proto::kRejectNames[i], s.rejects[i]);
    }
    for (size_t i = 1; i < s.net_rejects.size(); ++i) {
      add("frames_rejected", net::kNetRejectNames[i], s.net_rejects[i]);
    }
    for (size_t i = 0; i < s.io.size(); ++i) {
      if (ipc::kIoStatNames[i].error) add(ipc::kIoStatNames[i].name, "", s.io[i]);
    }
    for (size_t i = 0; i < s.route.size(); ++i) {
      if (ipc::kRouteStatNames[i].error) add(ipc::kRouteStatNames[i].name, "", s.route[i]);
    }
    for (size_t i = 0; i < s.runtime.size(); ++i) {
      if (ipc::kRuntimeStatNames[i].error) add(ipc::kRuntimeStatNames[i].name, "", s.runtime[i]);
    }
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const Row& a, const Row& b) { return a.count > b.count; });
  nlohmann::json errors = nlohmann::json::array();
  for (const Row& r : rows) {
    errors.push_back(
        {{"shard", r.shard}, {"counter", r.counter}, {"reason", r.reason}, {"count", r.count}});
  }
  return {{"ok", true},
          {"errors", std::move(errors)},
          {"total", total},
          {"unreadable", read.unreadable}};
}

}  // namespace dmrswitch::cp
