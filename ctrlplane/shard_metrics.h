// The shards' named counters (dataplane/ipc/shard_stats.h) as the operator surfaces show them:
// Prometheus families (docs/reporting.md §2), the JSON of `dmrswitch-ctl stats` and the error
// list of `dmrswitch-ctl errors` (VPP's `show errors`: every counter of something that went
// wrong that is not zero, by shard and reason).
//
// Reading the blocks is safe from any thread at any time (sequence lock); the HTTP threads do it
// on every scrape, so /metrics shows the shards' counters as of their last copy (10 ms) whatever
// the control plane's loop is doing.
#pragma once

#include <cstdint>
#include <vector>

#include "ctrlplane/report/model.h"
#include "dataplane/ipc/shard_stats.h"
#include "dataplane/route/types.h"
#include "nlohmann/json.hpp"

namespace dmrswitch::cp {

struct ShardStatsRead {
  std::vector<ipc::ShardStatsSnapshot> shards;  // in shard order, readable ones only
  uint32_t unreadable = 0;                      // blocks left odd through every retry
};
ShardStatsRead ReadAllShardStats(const ipc::ShardStatsZone& zone);

// Counters (dmrswitch_<name>_total{shard,...}), gauges and the loop-latency histograms.
void AppendShardMetrics(const ShardStatsRead& read, report::MetricsSnapshot* metrics);

// `dmrswitch-ctl stats --json`: {"shards": [{"shard", "age_ms", "io", "route", "runtime",
// "drops", "rejects", "net_rejects", "gauges", "loop_latency"}...], "total": {...}}.
nlohmann::json ShardStatsJson(const ShardStatsRead& read, route::TimeNs now);
// `dmrswitch-ctl errors --json`: {"errors": [{"shard", "counter", "reason", "count"}...],
// "total"} — what went wrong, not zero, most first.
nlohmann::json ShardErrorsJson(const ShardStatsRead& read);

}  // namespace dmrswitch::cp
