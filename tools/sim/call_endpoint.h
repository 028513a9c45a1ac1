// What HbpClient and ObpPeer have in common: transmitting calls (paced by their cadence, sent
// while polled) and collecting and analysing the calls they receive. A subclass supplies the
// ID its frames carry in bytes 11..14, how many frames it has received, and the socket.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/time/time.h"
#include "tools/sim/dmr_calls.h"
#include "tools/sim/paced_sender.h"
#include "tools/sim/udp.h"

namespace dmrswitch::sim {

class CallEndpoint : public Pollable {
 public:
  // Transmission. Start* queue the frames (paced by the spec's cadence, sent while polling) and
  // return the stream ID; Send* also poll until the last frame is out.
  uint32_t StartVoiceCall(const VoiceCallSpec& spec);
  SentCall SendVoiceCall(const VoiceCallSpec& spec);
  uint32_t StartDataCall(const DataCallSpec& spec);
  SentCall SendDataCall(const DataCallSpec& spec);
  void StartFrames(std::vector<DmrdFrame> frames, absl::Duration cadence);
  SentCall SendFrames(std::vector<DmrdFrame> frames, absl::Duration cadence);
  bool transmitting() const { return !sender_.idle(); }

  // Reception. Polls until at least `min_calls` streams have ended with a terminator and then
  // nothing arrived for `settle`, or `timeout` passes; returns every stream collected so far
  // (complete or not, in first-arrival order) and forgets them.
  std::vector<ReceivedCall> Receive(absl::Duration timeout, size_t min_calls = 1,
                                    absl::Duration settle = absl::Milliseconds(100));
  // Everything that arrives within `duration` (e.g. to check that nothing does).
  std::vector<ReceivedCall> ReceiveFor(absl::Duration duration);
  // What has been collected so far, without polling.
  std::vector<ReceivedCall> TakeReceived() { return collector_.Take(); }
  // Called for every frame received (also when frames are not collected).
  void SetFrameCallback(std::function<void(const ReceivedFrame&)> cb) { on_frame_ = std::move(cb); }

  // One poll round for this endpoint alone (see PollOnce); RunFor polls for `duration`.
  void Poll(absl::Duration timeout);
  void RunFor(absl::Duration duration);

 protected:
  // Bytes 11..14 of the frames this endpoint builds (unless the spec sets repeater_id).
  virtual uint32_t sender_id() const = 0;
  // Frames received so far (Receive waits for them to stop arriving).
  virtual uint64_t frames_received() const = 0;

  PacedSender sender_;
  StreamCollector collector_;
  std::function<void(const ReceivedFrame&)> on_frame_;
};

}  // namespace dmrswitch::sim
