#include "tools/sim/paced_sender.h"

#include <algorithm>
#include <utility>

#include "dataplane/proto/bytes.h"

namespace dmrswitch::sim {

uint64_t PacedSender::Add(std::vector<DmrdFrame> frames, absl::Duration cadence, absl::Time start,
                          bool record) {
  Job j;
  j.record = record;
  j.id = next_id_++;
  j.sent.stream_id =
      frames.empty() ? 0 : proto::LoadBe32(frames.front().data() + proto::dmrd_offset::kStreamId);
  j.frames = std::move(frames);
  j.cadence = cadence;
  j.start = start;
  const uint64_t id = j.id;
  if (j.frames.empty()) {
    if (record) finished_[id] = j.sent;
  } else {
    jobs_.push_back(std::move(j));
  }
  return id;
}

absl::Time PacedSender::NextDeadline() const {
  absl::Time t = absl::InfiniteFuture();
  for (const Job& j : jobs_) t = std::min(t, Due(j));
  return t;
}

void PacedSender::Run(absl::Time now, const std::function<void(const DmrdFrame&)>& send) {
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    Job& j = *it;
    while (j.next < j.frames.size() && Due(j) <= now) {
      send(j.frames[j.next]);
      if (j.next == 0) j.sent.first_sent = now;
      j.sent.last_sent = now;
      ++j.sent.frames;
      ++j.next;
    }
    if (j.next == j.frames.size()) {
      if (j.record) finished_[j.id] = j.sent;
      it = jobs_.erase(it);
    } else {
      ++it;
    }
  }
}

SentCall PacedSender::TakeFinished(uint64_t job) {
  auto it = finished_.find(job);
  if (it == finished_.end()) return SentCall{};
  SentCall s = it->second;
  finished_.erase(it);
  return s;
}

}  // namespace dmrswitch::sim
