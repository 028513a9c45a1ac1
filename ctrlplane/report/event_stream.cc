#include "ctrlplane/report/event_stream.h"

#include <charconv>

#include "absl/strings/str_cat.h"

namespace dmrswitch::cp::report {

EventStream::EventStream(size_t capacity, uint64_t epoch_ms)
    : capacity_(capacity == 0 ? 1 : capacity), epoch_ms_(epoch_ms) {}

void EventStream::Append(std::string json) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto e = std::make_shared<Event>();
    e->seq = next_seq_++;
    e->data = std::move(json);
    events_.push_back(std::move(e));
    while (events_.size() > capacity_) events_.pop_front();
  }
  cv_.notify_all();
}

EventStream::Cursor EventStream::Resume(std::optional<std::string_view> last_event_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t newest = next_seq_ - 1;
  if (!last_event_id) return {newest, false};
  // "<epoch>-<seq>", both decimal.
  const std::string_view id = *last_event_id;
  const size_t dash = id.find('-');
  uint64_t epoch = 0, seq = 0;
  const bool parsed = dash != std::string_view::npos &&
                      std::from_chars(id.data(), id.data() + dash, epoch).ptr == id.data() + dash &&
                      std::from_chars(id.data() + dash + 1, id.data() + id.size(), seq).ptr ==
                          id.data() + id.size() &&
                      dash > 0 && dash + 1 < id.size();
  const uint64_t oldest = events_.empty() ? next_seq_ : events_.front()->seq;
  // Resumable: this epoch, not in the future, and nothing after it dropped yet.
  if (!parsed || epoch != epoch_ms_ || seq > newest || seq + 1 < oldest) return {newest, true};
  return {seq, false};
}

std::vector<std::shared_ptr<const EventStream::Event>> EventStream::After(
    uint64_t after, std::chrono::milliseconds wait, bool* lost) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, wait, [&] { return next_seq_ - 1 > after; });
  std::vector<std::shared_ptr<const Event>> out;
  *lost = false;
  if (events_.empty() || events_.back()->seq <= after) return out;
  if (events_.front()->seq > after + 1) *lost = true;
  // Events are numbered consecutively: the first one after `after` is found by index.
  const uint64_t first = std::max(after + 1, events_.front()->seq);
  for (size_t i = first - events_.front()->seq; i < events_.size(); ++i) {
    out.push_back(events_[i]);
  }
  return out;
}

std::string EventStream::IdOf(uint64_t seq) const { return absl::StrCat(epoch_ms_, "-", seq); }

uint64_t EventStream::newest() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_seq_ - 1;
}

}  // namespace dmrswitch::cp::report
