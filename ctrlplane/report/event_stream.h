// EventStream: the live events of the JSON API (`GET /api/v1/events`, Server-Sent Events): call
// starts and ends, client and peer changes, the hub's drain state. The control plane's thread
// appends; the HTTP threads read, each from where its client stopped, waiting for the next event.
//
// Events are numbered from 1 within one stream; the id on the wire is "<epoch>-<seq>", the epoch
// being the stream's creation time in milliseconds, so that a Last-Event-ID from before a restart
// (of the hub or of the HTTP surfaces) is recognised as such instead of matching other events.
// The newest `capacity` events are kept; a client that reconnects with an id older than those, or
// from another epoch, is told to resynchronise (reload its state) and goes on from the newest.
//
// The lock is held only to append a pointer or to copy pointers out: a reader never holds it
// while it writes to its socket, so no HTTP client can slow the control plane's thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dmrswitch::cp::report {

class EventStream {
 public:
  struct Event {
    uint64_t seq = 0;
    std::string data;  // one JSON object, without newlines
  };
  // Where a reader goes on from.
  struct Cursor {
    uint64_t after = 0;   // the last seq it has
    bool resync = false;  // its Last-Event-ID was not resumable: it must reload its state
  };

  explicit EventStream(size_t capacity, uint64_t epoch_ms);

  // Control plane's thread. `json` is serialized JSON without newlines.
  void Append(std::string json);

  // The cursor for a client that sent `last_event_id` (nullopt: a new client, which starts at
  // the newest event).
  Cursor Resume(std::optional<std::string_view> last_event_id) const;
  // Events after `after`, oldest first, waiting up to `wait` for the first one; none when the
  // wait ran out. `lost` is set when events after `after` were dropped
  // (the reader fell more than `capacity` behind).
  std::vector<std::shared_ptr<const Event>> After(uint64_t after, std::chrono::milliseconds wait,
                                                  bool* lost);
  std::string IdOf(uint64_t seq) const;
  uint64_t epoch_ms() const { return epoch_ms_; }
  uint64_t newest() const;

 private:
  const size_t capacity_;
  const uint64_t epoch_ms_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<const Event>> events_;  // guarded by mu_
  uint64_t next_seq_ = 1;                            // guarded by mu_
};

}  // namespace dmrswitch::cp::report
