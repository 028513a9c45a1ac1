#include "ctrlplane/subscriber_locations.h"

namespace dmrswitch::cp {
namespace {

constexpr route::TimeNs kScanEvery = 60 * route::kSec;

}  // namespace

void SubscriberLocations::Set(uint32_t rf_src, const route::Location& l) {
  auto it = by_rf_src_.find(rf_src);
  if (it != by_rf_src_.end() && !(it->second.at == l.at)) {
    if (auto s = by_system_.find(SystemKey(it->second.at)); s != by_system_.end()) {
      s->second.erase(rf_src);
      if (s->second.empty()) by_system_.erase(s);
    }
  }
  by_rf_src_[rf_src] = l;
  by_system_[SystemKey(l.at)].insert(rf_src);
  changes_[rf_src] = l;
}

void SubscriberLocations::Erase(uint32_t rf_src) {
  auto it = by_rf_src_.find(rf_src);
  if (it == by_rf_src_.end()) return;
  if (auto s = by_system_.find(SystemKey(it->second.at)); s != by_system_.end()) {
    s->second.erase(rf_src);
    if (s->second.empty()) by_system_.erase(s);
  }
  by_rf_src_.erase(it);
  changes_[rf_src] = std::nullopt;
}

void SubscriberLocations::Heard(uint32_t rf_src, route::SystemRef at, uint8_t ts,
                                route::TimeNs now) {
  if (rf_src == 0 || at.kind == route::SystemKind::kNone) return;
  auto it = by_rf_src_.find(rf_src);
  if (it != by_rf_src_.end() && it->second.at == at && it->second.ts == ts) {
    // Same place: only the age changes, which the next snapshot need not carry (the routing does
    // not depend on it; a restarted control plane at worst forgets it a little early).
    it->second.heard_at = now;
    return;
  }
  if (it == by_rf_src_.end() && by_rf_src_.size() >= capacity_) {
    ++refused_full_;
    return;
  }
  Set(rf_src, route::Location{at, ts, now});
}

void SubscriberLocations::ForgetSystem(route::SystemRef at) {
  auto s = by_system_.find(SystemKey(at));
  if (s == by_system_.end()) return;
  const absl::flat_hash_set<uint32_t> gone = std::move(s->second);
  by_system_.erase(s);
  for (uint32_t rf_src : gone) {
    by_rf_src_.erase(rf_src);
    changes_[rf_src] = std::nullopt;
  }
}

void SubscriberLocations::ForgetPeers() {
  std::vector<uint32_t> peers;
  for (const auto& [rf_src, l] : by_rf_src_) {
    if (l.at.is_peer()) peers.push_back(rf_src);
  }
  for (uint32_t rf_src : peers) Erase(rf_src);
}

void SubscriberLocations::Expire(route::TimeNs now) {
  if (now < next_scan_) return;
  next_scan_ = now + kScanEvery;
  std::vector<uint32_t> old;
  for (const auto& [rf_src, l] : by_rf_src_) {
    if (now > l.heard_at && now - l.heard_at > keep_for_) old.push_back(rf_src);
  }
  for (uint32_t rf_src : old) Erase(rf_src);
}

std::vector<SubscriberLocations::Change> SubscriberLocations::TakeChanges() {
  std::vector<Change> out;
  out.reserve(changes_.size());
  for (const auto& [rf_src, l] : changes_) out.push_back(Change{rf_src, l});
  changes_.clear();
  return out;
}

void SubscriberLocations::Restore(std::span<const HeardSubscriber> heard) {
  for (const HeardSubscriber& h : heard) {
    if (h.rf_src == 0 || h.where.kind == route::SystemKind::kNone ||
        by_rf_src_.size() >= capacity_) {
      continue;
    }
    Set(h.rf_src, route::Location{h.where, h.ts, h.at});
  }
}

const route::Location* SubscriberLocations::Find(uint32_t rf_src) const {
  auto it = by_rf_src_.find(rf_src);
  return it == by_rf_src_.end() ? nullptr : &it->second;
}

}  // namespace dmrswitch::cp
