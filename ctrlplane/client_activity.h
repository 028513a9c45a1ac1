// What the control plane knows of its clients' activity for reporting: the keepalives the shards
// answered (ipc::ClientPings, from the shard that owns the client's liveness) and when each client
// was last the source of a call (stream events). A copy for the dashboards' state, never a
// decision: liveness itself stays with the shards (DESIGN.md §3), which report a silent client.
//
// Pure: times are the monotonic clock's, given by the caller.
#pragma once

#include <algorithm>
#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "dataplane/ipc/messages.h"
#include "dataplane/route/types.h"

namespace dmrswitch::cp {

class ClientActivity {
 public:
  struct Seen {
    route::TimeNs last_ping = 0;   // 0: no keepalive reported for this session yet
    uint64_t pings = 0;            // keepalives the owning shard answered in this session
    route::TimeNs last_heard = 0;  // last keepalive, or start or end of a call it sourced
  };

  // A shard's report. The session is the one at `p.addr`: a report about an earlier session at
  // another address (a lagging shard) is kept apart by View's address check.
  void OnPings(const ipc::ClientPings& p) {
    Entry& e = entries_[p.id];
    if (!(e.addr == p.addr)) {
      e.addr = p.addr;
      e.last_ping = 0;
    }
    e.last_ping = std::max(e.last_ping, p.last_ping);
    e.pings = p.pings;
  }

  // Client `id` was the source of a call that started or ended at `at`.
  void OnHeard(uint32_t id, route::TimeNs at) {
    Entry& e = entries_[id];
    e.heard = std::max(e.heard, at);
  }

  // The activity of client `id`'s session at `addr` since `since` (its login): nothing from
  // before it counts.
  Seen View(uint32_t id, const route::Endpoint& addr, route::TimeNs since) const {
    Seen s;
    const auto it = entries_.find(id);
    if (it == entries_.end()) return s;
    const Entry& e = it->second;
    if (e.addr == addr && e.last_ping >= since) {
      s.last_ping = e.last_ping;
      s.pings = e.pings;
    }
    s.last_heard = std::max(s.last_ping, e.heard >= since ? e.heard : 0);
    return s;
  }

  // Forgets clients that are no longer logged in (`logged_in(id)` false): bounded by the
  // client table.
  template <typename Pred>
  void KeepOnly(Pred&& logged_in) {
    absl::erase_if(entries_, [&](const auto& kv) { return !logged_in(kv.first); });
  }

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    route::Endpoint addr;         // of the session last reported
    route::TimeNs last_ping = 0;  // its last keepalive
    uint64_t pings = 0;           // its keepalives
    route::TimeNs heard = 0;      // calls, whatever the session's address
  };
  absl::flat_hash_map<uint32_t, Entry> entries_;
};

}  // namespace dmrswitch::cp
