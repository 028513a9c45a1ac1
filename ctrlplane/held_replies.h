// HeldReplies: login replies that wait until the routing snapshot carrying their change is live.
//
// A client may use the hub from the moment it is told it is logged in: MMDVMHost sends its first
// DMRD right after the RPTACK of its RPTC (or RPTO), and a shard drops DMRD from a client its
// snapshot does not know yet. So the replies to a packet that changed the client table or a
// client's options (RPTC, RPTO, a re-login's RPTK, RPTCL) are held here until a published
// generation that carries the change has been acked by every shard; only then do they go out.
// A shard that never acks (wedged: ShardHealth reports it) holds nothing for longer than
// `max_wait` — the replies then go out anyway, counted, so a login never hangs on it.
//
// Pure: the time and the publisher's generations are inputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

#include "ctrlplane/datagram.h"
#include "dataplane/route/types.h"

namespace dmrswitch::cp {

class HeldReplies {
 public:
  static constexpr route::TimeNs kDefaultMaxWait = 2 * route::kSec;
  static constexpr size_t kDefaultCapacity = 4096;

  explicit HeldReplies(route::TimeNs max_wait = kDefaultMaxWait, size_t capacity = kDefaultCapacity)
      : max_wait_(max_wait), capacity_(capacity) {}

  // Holds `out[first..]` (the replies to a packet that changed routing state) and removes them
  // from `out`. When full, the oldest held reply goes out at once (counted as overdue).
  void Hold(Outbox* out, size_t first, route::TimeNs now);
  // Every change made so far is in generation `generation` (the snapshot builder has nothing
  // pending): replies not yet assigned a generation wait for it.
  void Published(uint64_t generation);
  // Moves to `out`, in the order they were held, the replies whose generation every shard has
  // acked (`acked_by_all`) and those held longer than max_wait.
  void Release(uint64_t acked_by_all, route::TimeNs now, Outbox* out);

  size_t size() const { return held_.size(); }
  uint64_t released() const { return released_; }
  // Replies that went out before their snapshot was live everywhere (max_wait or capacity).
  uint64_t overdue() const { return overdue_; }

 private:
  struct Held {
    Datagram reply;
    route::TimeNs since = 0;
    uint64_t generation = 0;  // 0: the change is not in a published generation yet
  };

  route::TimeNs max_wait_;
  size_t capacity_;
  std::deque<Held> held_;
  uint64_t released_ = 0;
  uint64_t overdue_ = 0;
};

}  // namespace dmrswitch::cp
