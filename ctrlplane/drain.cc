#include "ctrlplane/drain.h"

#include "spdlog/spdlog.h"

namespace dmrswitch::cp {

void Drain::Begin(route::TimeNs now, route::TimeNs timeout, uint32_t live_now) {
  if (!active_ || done_) {
    started_ = now;
    live_at_start_ = live_now;
  }
  active_ = true;
  done_ = false;
  deadline_ = now + timeout;
  spdlog::info("drain: admitting no new streams; {} live, waiting up to {:.1f} s for them to end",
               live_at_start_, static_cast<double>(timeout) / route::kSec);
}

std::vector<uint64_t> Drain::Resume(route::TimeNs now) {
  if (active_) spdlog::info("drain ended: admitting new streams again");
  std::vector<uint64_t> w = std::move(waiters_);
  *this = Drain{};
  resumed_at_ = now;
  return w;
}

void Drain::OnHeartbeat(const ipc::WorkerHealth& h) {
  if (h.draining == 0 || active_) return;
  if (resumed_at_ && h.at < *resumed_at_ + kResumeGrace) return;  // sent before the DrainEnd
  active_ = true;
  done_ = true;
  started_ = h.at;
}

std::optional<Drain::Outcome> Drain::Check(route::TimeNs now,
                                           std::span<const ipc::WorkerHealth> health) {
  if (!active_ || done_) return std::nullopt;
  bool all_draining = true;
  uint32_t live = 0;
  for (const ipc::WorkerHealth& h : health) {
    // A heartbeat from after the drain began that says "draining": the shard has stopped
    // admitting, so its live count only goes down from here.
    all_draining &= h.draining != 0 && h.at >= started_;
    live += h.live_streams;
  }
  const bool idle = all_draining && live == 0;
  if (!idle && now < deadline_) return std::nullopt;
  done_ = true;
  const uint32_t cut = idle ? 0 : live;
  const double waited = static_cast<double>(now - started_) / route::kSec;
  if (idle) {
    spdlog::info("drain: idle after {:.1f} s, 0 streams cut; the dp can be restarted", waited);
  } else {
    spdlog::warn("drain: {} stream(s) still live after {:.1f} s{}; a dp restart cuts them", cut,
                 waited, all_draining ? "" : " (a shard did not confirm the drain)");
  }
  Outcome o;
  o.answer = nlohmann::json{{"ok", true},         {"idle", idle},
                            {"cut", cut},         {"live_at_start", live_at_start_},
                            {"waited_s", waited}, {"all_shards_confirmed", all_draining}};
  o.waiters = std::move(waiters_);
  waiters_.clear();
  return o;
}

}  // namespace dmrswitch::cp
