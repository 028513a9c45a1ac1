#include "ctrlplane/shard_health.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "spdlog/spdlog.h"

namespace dmrswitch::cp {

ShardHealth::ShardHealth(uint32_t nshards, route::TimeNs now)
    : health_(nshards),
      seen_at_(nshards, 0),
      silent_reported_(nshards, false),
      started_at_(now),
      last_rates_at_(now) {}

void ShardHealth::OnHeartbeat(uint32_t shard, const ipc::WorkerHealth& h, route::TimeNs now) {
  if (shard >= health_.size()) return;
  health_[shard] = h;
  seen_at_[shard] = now;
  if (silent_reported_[shard]) {
    spdlog::info("shard {} heartbeats again", shard);
    silent_reported_[shard] = false;
  }
}

std::vector<uint32_t> ShardHealth::Silent(route::TimeNs now) const {
  std::vector<uint32_t> out;
  for (uint32_t s = 0; s < seen_at_.size(); ++s) {
    const route::TimeNs last = std::max(seen_at_[s], started_at_);
    if (now > last && now - last > kSilentAfter) out.push_back(s);
  }
  return out;
}

void ShardHealth::ReportSilent(route::TimeNs now) {
  for (uint32_t s : Silent(now)) {
    if (silent_reported_[s]) continue;
    silent_reported_[s] = true;
    spdlog::error("shard {} sent no heartbeat for {:.1f} s: it may be stuck", s,
                  static_cast<double>(now - std::max(seen_at_[s], started_at_)) / route::kSec);
  }
}

PlaneTotals ShardHealth::Totals() const {
  PlaneTotals t;
  for (const ipc::WorkerHealth& h : health_) {
    t.packets_in += h.packets_in;
    t.packets_out += h.packets_out;
    t.dropped += h.dropped;
    t.events_dropped += h.events_dropped;
    t.live_streams += h.live_streams;
  }
  return t;
}

std::string ShardHealth::Rates(route::TimeNs now) {
  const PlaneTotals t = Totals();
  const double secs = static_cast<double>(now - last_rates_at_) / route::kSec;
  const auto rate = [&](uint64_t cur, uint64_t prev) {
    return secs > 0 && cur >= prev ? static_cast<double>(cur - prev) / secs : 0.0;
  };
  std::string out = absl::StrFormat(
      "streams %u live, in %.0f pps, out %.0f pps, dropped %.0f pps, events dropped %u",
      t.live_streams, rate(t.packets_in, last_totals_.packets_in),
      rate(t.packets_out, last_totals_.packets_out), rate(t.dropped, last_totals_.dropped),
      t.events_dropped);
  last_totals_ = t;
  last_rates_at_ = now;
  return out;
}

}  // namespace dmrswitch::cp
