// A report feed's wire format: what a dashboard that connects is sent first (a full snapshot),
// and what each event becomes. The FeedServer (feed_server.h) calls one FeedFormat from its own
// thread only; implementations need no locking.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ctrlplane/report/model.h"

namespace dmrswitch::cp::report {

class FeedFormat {
 public:
  virtual ~FeedFormat() = default;
  // A new hub state arrived (before it is used for snapshots or events).
  virtual void UpdateState(const HubState& state) = 0;
  // The complete picture, as framed messages, for a dashboard that just connected or a periodic
  // refresh. `now_unix_ns` stamps computed fields (timers).
  virtual void Snapshot(const HubState& state, int64_t now_unix_ns,
                        std::vector<std::string>* out) = 0;
  // One event as zero or more framed messages.
  virtual void Event(const ReportEvent& event, std::vector<std::string>* out) = 0;
  // Bytes a dashboard sent; returns true if it asked for a snapshot (HBlink's CONFIG_REQ).
  // `buffer` holds what was not consumed yet; implementations keep it small.
  virtual bool ClientInput(std::string* buffer) {
    buffer->clear();
    return false;
  }
  // Counters of what could not be shown (trimmed to fit size limits), for metrics.
  virtual uint64_t trimmed() const { return 0; }
};

}  // namespace dmrswitch::cp::report
