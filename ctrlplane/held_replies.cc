#include "ctrlplane/held_replies.h"

#include <iterator>
#include <utility>

namespace dmrswitch::cp {

void HeldReplies::Hold(Outbox* out, size_t first, route::TimeNs now) {
  if (first >= out->size()) return;
  Outbox replies(std::make_move_iterator(out->begin() + static_cast<std::ptrdiff_t>(first)),
                 std::make_move_iterator(out->end()));
  out->resize(first);
  for (Datagram& d : replies) {
    if (held_.size() >= capacity_) {
      // Bounded: the oldest goes out now rather than never.
      out->push_back(std::move(held_.front().reply));
      held_.pop_front();
      ++overdue_;
      ++released_;
    }
    held_.push_back(Held{std::move(d), now, 0});
  }
}

void HeldReplies::Published(uint64_t generation) {
  for (Held& h : held_) {
    if (h.generation == 0) h.generation = generation;
  }
}

void HeldReplies::Release(uint64_t acked_by_all, route::TimeNs now, Outbox* out) {
  // In order: a later reply never overtakes an earlier one to the same client.
  while (!held_.empty()) {
    Held& h = held_.front();
    const bool live = h.generation != 0 && h.generation <= acked_by_all;
    const bool overdue = now >= h.since && now - h.since >= max_wait_;
    if (!live && !overdue) break;
    if (!live) ++overdue_;
    ++released_;
    out->push_back(std::move(h.reply));
    held_.pop_front();
  }
}

}  // namespace dmrswitch::cp
