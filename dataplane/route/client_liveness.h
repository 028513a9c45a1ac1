// Client liveness, owned by the shard `owner(client_id)` (DESIGN.md §3): the packet plane answers
// keepalives of logged-in clients itself, so voice and keepalives keep flowing while the control
// plane is busy, restarting or gone. A client silent for longer than the timeout is reported
// (ClientLost); the control plane then closes it (MSTCL) and publishes a snapshot without it. A
// client still in the snapshots a whole timeout after its report is reported again: the control
// plane that took the first report may have died before closing it (dmrswitch-cp killed), and
// its successor restores the client from the last snapshot it finds.
//
// Fixed clients ([[hbp.fixed_client]], ClientInfo::fixed) have their keepalives answered like any
// other but are never reported: they are logged in by configuration, not by a session.
//
// The keepalives themselves are what operators see of a client's health (last ping, pings
// received): a session's count and last keepalive go to the control plane's reporting whenever
// they changed (Tick, once a second), since only this shard hears them.
//
// Pure: the snapshot and the time are inputs. Fixed capacity: one entry per client slot,
// allocated when the first snapshot arrives.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/types.h"
#include "ebpf/steer_common.h"

namespace dmrswitch::route {

class ClientLiveness {
 public:
  ClientLiveness(uint32_t shard, uint32_t nshards) : shard_(shard), nshards_(nshards) {}

  bool Owns(uint32_t client_id) const { return dmrswitch_owner(client_id, nshards_) == shard_; }
  // The memory one shard's table for `client_capacity` slots takes.
  static uint64_t BytesFor(uint32_t client_capacity) {
    return uint64_t{client_capacity} * sizeof(Entry) +
           (uint64_t{client_capacity} / kClientChunkSlots + 1) * sizeof(const ClientChunk*);
  }

  // A new snapshot: clients that appeared in a slot (or changed) start their clock now; slots
  // that emptied are forgotten. The timeout is the snapshot's (HubPolicy::client_timeout), so a
  // reload that changes ping_time_s or max_missed applies to every client at once.
  void OnSnapshot(const RouteSnapshot& snap, TimeNs now) {
    timeout_ = snap.policy().client_timeout;
    if (entries_.size() < snap.client_capacity()) entries_.resize(snap.client_capacity());
    chunks_.resize(snap.client_chunks(), nullptr);
    for (uint32_t i = 0; i < snap.client_chunks(); ++i) {
      // A chunk shared with the previous generation holds the same clients: nothing to do. (That
      // generation is alive until this shard acks the new one, so no other chunk can have taken
      // its address.)
      const ClientChunk* chunk = snap.client_chunk(i);
      if (seen_ && chunk == chunks_[i]) continue;
      chunks_[i] = chunk;
      const uint32_t end = std::min<uint32_t>((i + 1) * kClientChunkSlots, entries_.size());
      for (uint32_t slot = i * kClientChunkSlots; slot < end; ++slot) {
        const ClientInfo* c = snap.client(slot);
        Entry& e = entries_[slot];
        if (e.id != 0) --clients_;
        if (c == nullptr || !Owns(c->id)) {
          e = Entry{};
          continue;
        }
        if (e.id != c->id || !(e.addr == c->addr) || e.session != c->session) {
          e = Entry{c->id, c->addr, now};
          e.session = c->session;
        }
        e.fixed = c->fixed;
        ++clients_;
      }
    }
    seen_ = true;
  }

  // A keepalive from `from` for client `id`: true if the client is ours, logged in, and spoke
  // from its login address (the caller answers MSTPONG); false sends it to the control plane.
  bool OnPing(const RouteSnapshot& snap, uint32_t id, Endpoint from, TimeNs now) {
    const int64_t slot = snap.FindClient(id);
    if (slot < 0 || static_cast<uint64_t>(slot) >= entries_.size()) return false;
    Entry& e = entries_[static_cast<size_t>(slot)];
    if (e.id != id || !(e.addr == from)) return false;
    e.last_seen = now;
    e.last_ping = now;
    ++e.pings;
    e.pings_unreported = true;
    e.reported = false;
    return true;
  }

  // Logged-in clients this shard owns (answers the keepalives of), as of the last snapshot.
  uint32_t clients() const { return clients_; }

  // The most keepalive reports one pass sends: the event ring they share with call events is
  // drained a burst at a time, and a pass must not put thousands ahead of a call's start.
  static constexpr uint32_t kMaxPingReports = 256;

  // One pass over the client slots, once a second. Calls `lost(slot, id, addr)` for each client
  // silent longer than the timeout, and again each timeout it stays in the snapshots after that:
  // `lost` returns whether the report went out, and one that did not (a full ring) is tried
  // again next time. Calls `report(slot, id, addr, last_ping, pings)` for up to kMaxPingReports
  // sessions whose keepalives changed since they were last sent, from where the last pass
  // stopped: at the first that does not go out (a full ring) or past the cap, reporting stops
  // and the next pass starts there, so every slot gets its turn.
  template <typename Lost, typename Report>
  void Tick(TimeNs now, Lost&& lost, Report&& report) {
    Pass(now, lost, &report);
  }

  // Tick without keepalive reports.
  template <typename Fn>
  void Expire(TimeNs now, Fn&& lost) {
    Pass(now, lost, static_cast<NoReport*>(nullptr));
  }

 private:
  using NoReport = bool(uint32_t, uint32_t, const Endpoint&, TimeNs, uint64_t);

  template <typename Lost, typename Report>
  void Pass(TimeNs now, Lost& lost, Report* report) {
    const auto n = static_cast<uint32_t>(entries_.size());
    const uint32_t start = report != nullptr && ping_cursor_ < n ? ping_cursor_ : 0;
    uint32_t reports = 0;
    bool reporting = report != nullptr;
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t slot = start + i < n ? start + i : start + i - n;
      Entry& e = entries_[slot];
      if (e.id == 0) continue;
      if (!e.fixed && now >= e.last_seen + timeout_ &&
          (!e.reported || now >= e.reported_at + timeout_) && lost(slot, e.id, e.addr)) {
        e.reported = true;
        e.reported_at = now;
      }
      if (!reporting || !e.pings_unreported) continue;
      if (reports < kMaxPingReports && (*report)(slot, e.id, e.addr, e.last_ping, e.pings)) {
        e.pings_unreported = false;
        ++reports;
      } else {
        reporting = false;
        ping_cursor_ = slot;
      }
    }
  }

  struct Entry {
    uint32_t id = 0;
    Endpoint addr;
    TimeNs last_seen = 0;
    bool reported = false;  // since the last keepalive, at `reported_at`
    bool fixed = false;     // never reported
    TimeNs reported_at = 0;
    uint64_t session = 0;           // ClientInfo::session
    TimeNs last_ping = 0;           // 0: none yet in this session
    uint64_t pings = 0;             // keepalives answered in this session
    bool pings_unreported = false;  // pings/last_ping changed since Tick reported them
  };
  uint32_t shard_;
  uint32_t nshards_;
  TimeNs timeout_ = 0;
  uint32_t clients_ = 0;
  std::vector<Entry> entries_;
  std::vector<const ClientChunk*> chunks_;  // of the last snapshot
  uint32_t ping_cursor_ = 0;                // the slot whose report the last Tick could not send
  bool seen_ = false;
};

}  // namespace dmrswitch::route
