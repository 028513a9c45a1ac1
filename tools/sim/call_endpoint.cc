#include "tools/sim/call_endpoint.h"

#include <algorithm>

#include "dataplane/proto/bytes.h"
#include "dataplane/proto/hbp.h"

namespace dmrswitch::sim {
namespace {

uint32_t StreamOf(const std::vector<DmrdFrame>& frames) {
  return proto::LoadBe32(frames.front().data() + proto::dmrd_offset::kStreamId);
}

}  // namespace

uint32_t CallEndpoint::StartVoiceCall(const VoiceCallSpec& spec) {
  std::vector<DmrdFrame> frames = BuildVoiceCall(spec, sender_id());
  const uint32_t stream = StreamOf(frames);
  sender_.Add(std::move(frames), spec.cadence, absl::Now());
  return stream;
}

SentCall CallEndpoint::SendVoiceCall(const VoiceCallSpec& spec) {
  return SendFrames(BuildVoiceCall(spec, sender_id()), spec.cadence);
}

uint32_t CallEndpoint::StartDataCall(const DataCallSpec& spec) {
  std::vector<DmrdFrame> frames = BuildDataCall(spec, sender_id());
  const uint32_t stream = StreamOf(frames);
  sender_.Add(std::move(frames), spec.cadence, absl::Now());
  return stream;
}

SentCall CallEndpoint::SendDataCall(const DataCallSpec& spec) {
  return SendFrames(BuildDataCall(spec, sender_id()), spec.cadence);
}

void CallEndpoint::StartFrames(std::vector<DmrdFrame> frames, absl::Duration cadence) {
  sender_.Add(std::move(frames), cadence, absl::Now());
}

SentCall CallEndpoint::SendFrames(std::vector<DmrdFrame> frames, absl::Duration cadence) {
  const absl::Duration budget = cadence * static_cast<int64_t>(frames.size()) + absl::Seconds(5);
  const uint64_t job = sender_.Add(std::move(frames), cadence, absl::Now(), /*record=*/true);
  Pollable* self[] = {this};
  PollUntil(
      self, [&] { return sender_.done(job); }, budget);
  return sender_.TakeFinished(job);
}

std::vector<ReceivedCall> CallEndpoint::Receive(absl::Duration timeout, size_t min_calls,
                                                absl::Duration settle) {
  const absl::Time deadline = absl::Now() + timeout;
  Pollable* self[] = {this};
  uint64_t seen = frames_received();
  absl::Time quiet_since = absl::Now();
  for (;;) {
    const absl::Time now = absl::Now();
    if (frames_received() != seen) {
      seen = frames_received();
      quiet_since = now;
    }
    if (collector_.completed() >= min_calls && now - quiet_since >= settle) break;
    if (now >= deadline) break;
    PollOnce(self, std::min(deadline - now, absl::Milliseconds(10)));
  }
  return collector_.Take();
}

std::vector<ReceivedCall> CallEndpoint::ReceiveFor(absl::Duration duration) {
  RunFor(duration);
  return collector_.Take();
}

void CallEndpoint::Poll(absl::Duration timeout) {
  Pollable* self[] = {this};
  PollOnce(self, timeout);
}

void CallEndpoint::RunFor(absl::Duration duration) {
  Pollable* self[] = {this};
  PollFor(self, duration);
}

}  // namespace dmrswitch::sim
