// ShardHealth: the shards' heartbeats (about one a second each, DESIGN.md §6): their last
// counters, which shard has gone silent (reported once per silence), and the sums and rates the
// status line shows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/ipc/messages.h"
#include "dataplane/route/types.h"

namespace dmrswitch::cp {

// Sums of the shards' last WorkerHealth, for the status line and tests.
struct PlaneTotals {
  uint64_t packets_in = 0;
  uint64_t packets_out = 0;
  uint64_t dropped = 0;
  uint64_t events_dropped = 0;
  uint32_t live_streams = 0;
};

class ShardHealth {
 public:
  // A shard sends a heartbeat every second; three missed ones is a shard in trouble.
  static constexpr route::TimeNs kSilentAfter = 3 * route::kSec;

  ShardHealth(uint32_t nshards, route::TimeNs now);

  void OnHeartbeat(uint32_t shard, const ipc::WorkerHealth& h, route::TimeNs now);
  // Shards whose heartbeat is overdue.
  std::vector<uint32_t> Silent(route::TimeNs now) const;
  // Logs each shard that fell silent, once per silence.
  void ReportSilent(route::TimeNs now);

  PlaneTotals Totals() const;
  const std::vector<ipc::WorkerHealth>& last() const { return health_; }
  // Packet rates as the status line shows them: each shard's counters over the span between the
  // heartbeat used at the previous call and its latest one, by the shard's own clock stamps
  // (`WorkerHealth::at`), summed. Dividing by the control plane's call interval instead would
  // alias: heartbeats and status lines both come about once a second, so a window would hold
  // two heartbeats' increments or none. A shard with no new heartbeat since keeps its last rate
  // until it is silent (then 0).
  std::string Rates(route::TimeNs now);

 private:
  std::vector<ipc::WorkerHealth> health_;
  std::vector<route::TimeNs> seen_at_;  // the control plane's clock at the last heartbeat
  std::vector<bool> silent_reported_;
  route::TimeNs started_at_;
  struct ShardRate {
    ipc::WorkerHealth rated{};  // the heartbeat the last rate was computed up to
    double in = 0, out = 0, dropped = 0;
  };
  std::vector<ShardRate> rates_;
};

}  // namespace dmrswitch::cp
