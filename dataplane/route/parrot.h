// Parrot: the recordings of the echo service (PROTOCOL.md Part A §10) of one shard — a fixed
// pool allocated at start, never grown (DESIGN.md §8).
//
// A call to the parrot (a private call to 9990, or FreeDMR's echo TG 9990) is recorded by the
// shard that owns its stream, frame by frame, into one of the pool's recordings, up to
// `max_frames` frames (the rest of a longer call is not kept; the last slot is kept for the
// terminator). After the terminator the recording waits, then is played back to the caller's
// client and slot alone with a new stream ID at one frame per 60 ms; the routing core does the
// sending (slot lease, LC, egress) and asks this pool what is due. Recording is a 55-byte copy
// and playback one frame per due recording per call: nothing here can stall a shard.
//
// Pure: no clock, no I/O.
#pragma once

#include <cstdint>
#include <memory>

#include "dataplane/proto/dmr_lc.h"
#include "dataplane/proto/hbp.h"
#include "dataplane/route/types.h"

namespace dmrswitch::route {

class Parrot {
 public:
  enum class State : uint8_t {
    kFree,
    kRecording,  // the caller's stream is live
    kWaiting,    // recorded; playback starts at `next_at` (or when the slot is free)
    kPlaying,    // frame `played` goes out at `next_at`
  };

  struct Recording {
    State state = State::kFree;
    uint32_t frames = 0;  // recorded
    uint32_t played = 0;  // sent back
    bool truncated = false;
    uint32_t caller_stream = 0;
    uint32_t playback_stream = 0;
    // Who gets it back: the caller's client (slot and ID, checked again before playing) and
    // timeslot, the caller's rf_src, and whether it was a private call (played back as a
    // private call from 9990 to the caller, LC rewritten) or a call to TG 9990 (unchanged).
    uint32_t client_slot = 0;
    uint32_t client_id = 0;
    uint8_t ts = 0;
    bool private_call = false;
    uint32_t rf_src = 0;
    TimeNs next_at = 0;
    TimeNs give_up_at = 0;  // a slot still busy then: the playback is dropped
    proto::dmr::LcRewrite lc;
  };

  static constexpr uint32_t kFrameBytes = proto::kDmrdBytes;

  // `recordings` recordings of up to `max_frames` frames each (0 recordings: no parrot).
  Parrot(uint32_t recordings, uint32_t max_frames);
  // The memory the constructor allocates (and zero-fills) for them.
  static uint64_t BytesFor(uint32_t recordings, uint32_t max_frames) {
    if (max_frames < 2) return 0;
    return uint64_t{recordings} * (sizeof(Recording) + uint64_t{max_frames} * kFrameBytes);
  }
  // hub.parrot_max_s in frames: one DMR burst per 60 ms.
  static constexpr uint32_t FramesFor(uint32_t seconds) { return seconds * 1000 / 60; }

  uint32_t size() const { return recordings_; }
  uint32_t max_frames() const { return max_frames_; }
  // A free recording for the caller's stream, or -1 (all in use: the call is refused).
  int32_t Acquire(uint32_t caller_stream);
  void Release(int32_t i);
  Recording& at(int32_t i) { return meta_[static_cast<uint32_t>(i)]; }
  const Recording& at(int32_t i) const { return meta_[static_cast<uint32_t>(i)]; }
  uint32_t in_use() const { return in_use_; }

  // Appends one 55-byte frame. The last slot is kept for a terminator: other frames beyond
  // max_frames - 1 are not kept (counted as truncated).
  void Append(int32_t i, const uint8_t* frame, bool terminator);
  uint8_t* frame(int32_t i, uint32_t n) {
    return &frames_[(uint64_t{static_cast<uint32_t>(i)} * max_frames_ + n) * kFrameBytes];
  }

 private:
  uint32_t recordings_;
  uint32_t max_frames_;
  std::unique_ptr<Recording[]> meta_;
  std::unique_ptr<uint8_t[]> frames_;
  uint32_t in_use_ = 0;
};

}  // namespace dmrswitch::route
