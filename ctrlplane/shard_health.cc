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
      rates_(nshards) {
  // A shard starts counting from zero about when the plane starts.
  for (ShardRate& r : rates_) r.rated.at = now;
}

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
  double in = 0, out = 0, dropped = 0;
  for (size_t s = 0; s < health_.size(); ++s) {
    const ipc::WorkerHealth& h = health_[s];
    ShardRate& r = rates_[s];
    if (h.at > r.rated.at) {
      const double secs = static_cast<double>(h.at - r.rated.at) / route::kSec;
      // A counter that went backwards (a shard's state reset) starts a new baseline at 0 pps.
      const auto rate = [&](uint64_t cur, uint64_t prev) {
        return cur >= prev ? static_cast<double>(cur - prev) / secs : 0.0;
      };
      r.in = rate(h.packets_in, r.rated.packets_in);
      r.out = rate(h.packets_out, r.rated.packets_out);
      r.dropped = rate(h.dropped, r.rated.dropped);
      r.rated = h;
    } else if (now - std::max(seen_at_[s], started_at_) > kSilentAfter) {
      r.in = r.out = r.dropped = 0;  // silent: nothing known to be moving
    }
    in += r.in;
    out += r.out;
    dropped += r.dropped;
  }
  const PlaneTotals t = Totals();
  return absl::StrFormat(
      "streams %u live, in %.0f pps, out %.0f pps, dropped %.0f pps, events dropped %u",
      t.live_streams, in, out, dropped, t.events_dropped);
}

}  // namespace dmrswitch::cp
