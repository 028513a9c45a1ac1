// Paced transmission of prepared DMRD frames: one burst per cadence on an absolute schedule
// (a late round catches up by sending every frame that is due), zero cadence = all at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "tools/sim/dmr_calls.h"

namespace dmrswitch::sim {

// What was sent for one call.
struct SentCall {
  uint32_t stream_id = 0;
  size_t frames = 0;
  absl::Time first_sent = absl::InfinitePast();
  absl::Time last_sent = absl::InfinitePast();
};

class PacedSender {
 public:
  // Queues a call; the first frame is due at `start`. Returns a job number; with `record`, what
  // was sent is kept for TakeFinished once the job is done.
  uint64_t Add(std::vector<DmrdFrame> frames, absl::Duration cadence, absl::Time start,
               bool record = false);
  absl::Time NextDeadline() const;
  // Hands every frame due at `now` to `send`, in order.
  void Run(absl::Time now, const std::function<void(const DmrdFrame&)>& send);
  bool idle() const { return jobs_.empty(); }
  size_t active() const { return jobs_.size(); }
  bool done(uint64_t job) const { return finished_.contains(job); }
  // The record of a finished job (and forgets it); empty SentCall if unknown or not finished.
  SentCall TakeFinished(uint64_t job);

 private:
  struct Job {
    uint64_t id = 0;
    std::vector<DmrdFrame> frames{};
    size_t next = 0;
    absl::Duration cadence{};
    absl::Time start{};
    SentCall sent;
    bool record = false;
  };
  static absl::Time Due(const Job& j) { return j.start + j.cadence * static_cast<int64_t>(j.next); }

  std::deque<Job> jobs_{};
  absl::flat_hash_map<uint64_t, SentCall> finished_{};
  uint64_t next_id_ = 1;
};

}  // namespace dmrswitch::sim
