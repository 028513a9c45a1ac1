// SubscriberLocations: where each subscriber (rf_src) was last heard — which client and timeslot,
// or which OpenBridge/FBP peer (PROTOCOL.md Part A §9, §3.8). The shards' StreamStarted events
// feed it, from clients and from peers alike; private calls and unit data route by it. It is
// bounded (a flood of random rf_src values cannot grow it) and forgets a location after a day
// (FreeDMR prunes SUB_MAP at 24 h), when its client logs out, or when the peers are reconfigured
// (peer indices may name other peers then). Only what changed goes into the next routing
// snapshot (TakeChanges).
//
// Pure: the time is an input.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "ctrlplane/restart_state.h"
#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/types.h"

namespace dmrswitch::cp {

class SubscriberLocations {
 public:
  static constexpr size_t kDefaultCapacity = 200000;
  static constexpr route::TimeNs kDefaultKeepFor = 24 * 3600 * route::kSec;

  struct Change {
    uint32_t rf_src;
    std::optional<route::Location> location;  // nullopt: forgotten
  };

  explicit SubscriberLocations(size_t capacity = kDefaultCapacity,
                               route::TimeNs keep_for = kDefaultKeepFor)
      : capacity_(capacity), keep_for_(keep_for) {}

  // A stream by `rf_src` from `at` (a client slot or a peer index) on timeslot `ts`.
  void Heard(uint32_t rf_src, route::SystemRef at, uint8_t ts, route::TimeNs now);
  void Heard(uint32_t rf_src, uint32_t slot, uint8_t ts, route::TimeNs now) {
    Heard(rf_src, route::SystemRef::Client(slot), ts, now);
  }
  // The client in `slot` logged out: nobody is to be found there any more.
  void ForgetSlot(uint32_t slot) { ForgetSystem(route::SystemRef::Client(slot)); }
  void ForgetSystem(route::SystemRef at);
  // The peer table changed: every location at a peer is forgotten.
  void ForgetPeers();
  // Forgets locations not heard for `keep_for`. Cheap to call often: it scans the table at most
  // once a minute.
  void Expire(route::TimeNs now);
  // What changed since the last call (the next snapshot's location updates).
  std::vector<Change> TakeChanges();
  // A restarted control plane: the locations the published snapshot carried.
  void Restore(std::span<const HeardSubscriber> heard);

  const route::Location* Find(uint32_t rf_src) const;
  // Calls fn(uint32_t rf_src, const route::Location&) for every location.
  template <class Fn>
  void ForEach(Fn&& fn) const {
    for (const auto& [rf_src, l] : by_rf_src_) fn(rf_src, l);
  }
  size_t size() const { return by_rf_src_.size(); }
  uint64_t refused_full() const { return refused_full_; }

 private:
  static uint64_t SystemKey(route::SystemRef at) {
    return (uint64_t{static_cast<uint8_t>(at.kind)} << 32) | at.index;
  }
  void Set(uint32_t rf_src, const route::Location& l);
  void Erase(uint32_t rf_src);

  size_t capacity_;
  route::TimeNs keep_for_;
  absl::flat_hash_map<uint32_t, route::Location> by_rf_src_;
  absl::flat_hash_map<uint64_t, absl::flat_hash_set<uint32_t>> by_system_;  // SystemKey → rf_srcs
  absl::flat_hash_map<uint32_t, std::optional<route::Location>> changes_;
  route::TimeNs next_scan_ = 0;
  uint64_t refused_full_ = 0;
};

}  // namespace dmrswitch::cp
