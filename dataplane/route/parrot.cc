#include "dataplane/route/parrot.h"

#include <cstring>

namespace dmrswitch::route {

Parrot::Parrot(uint32_t recordings, uint32_t max_frames)
    : recordings_(max_frames < 2 ? 0 : recordings),
      max_frames_(max_frames),
      meta_(std::make_unique<Recording[]>(recordings_)),
      frames_(std::make_unique<uint8_t[]>(uint64_t{recordings_} * max_frames_ * kFrameBytes)) {}

int32_t Parrot::Acquire(uint32_t caller_stream) {
  for (uint32_t i = 0; i < recordings_; ++i) {
    if (meta_[i].state != State::kFree) continue;
    meta_[i] = Recording{};
    meta_[i].state = State::kRecording;
    meta_[i].caller_stream = caller_stream;
    ++in_use_;
    return static_cast<int32_t>(i);
  }
  return -1;
}

void Parrot::Release(int32_t i) {
  Recording& r = at(i);
  if (r.state == State::kFree) return;
  r.state = State::kFree;
  --in_use_;
}

void Parrot::Append(int32_t i, const uint8_t* frame, bool terminator) {
  Recording& r = at(i);
  if (r.frames + 1 >= max_frames_ && !(terminator && r.frames < max_frames_)) {
    r.truncated = true;
    return;
  }
  std::memcpy(this->frame(i, r.frames), frame, kFrameBytes);
  ++r.frames;
}

}  // namespace dmrswitch::route
