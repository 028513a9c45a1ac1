// Drain (DESIGN.md §7): stop admitting new streams, let the live ones end (bounded wait), report
// idle — before a planned restart. The shards are told once (DrainBegin / DrainEnd); their
// heartbeats say whether they have stopped admitting and how many streams are still live.
//
// Pure: the time and the heartbeats are inputs; the caller sends the commands and the answers.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "dataplane/ipc/messages.h"
#include "dataplane/route/types.h"
#include "nlohmann/json.hpp"

namespace dmrswitch::cp {

class Drain {
 public:
  // Starts a drain (or extends a running one to a new deadline). `live_now`: streams live at
  // the start, for the report.
  void Begin(route::TimeNs now, route::TimeNs timeout, uint32_t live_now);
  // Ends it at `now`; returns the operators still waiting for its outcome.
  std::vector<uint64_t> Resume(route::TimeNs now);
  // An operator connection waits for the outcome.
  void AddWaiter(uint64_t connection) { waiters_.push_back(connection); }
  // A heartbeat that says "draining" when no drain runs here: a predecessor control plane began
  // it, and it stays in effect until resumed. Not one sent within kResumeGrace of a resume here:
  // a shard stamps "draining" until it has taken the DrainEnd, and the control plane reads
  // heartbeats after the commands of its step.
  void OnHeartbeat(const ipc::WorkerHealth& h);
  static constexpr route::TimeNs kResumeGrace = 2 * route::kSec;

  struct Outcome {
    nlohmann::json answer;  // for the waiters
    std::vector<uint64_t> waiters;
  };
  // Once every shard confirmed and nothing is live, or at the deadline: the outcome (once).
  std::optional<Outcome> Check(route::TimeNs now, std::span<const ipc::WorkerHealth> health);

  bool active() const { return active_; }

 private:
  bool active_ = false;
  bool done_ = false;
  route::TimeNs started_ = 0;
  route::TimeNs deadline_ = 0;
  uint32_t live_at_start_ = 0;
  std::vector<uint64_t> waiters_;
  std::optional<route::TimeNs> resumed_at_;  // the last Resume, kept across it
};

}  // namespace dmrswitch::cp
