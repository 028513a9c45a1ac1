#include "dataplane/route/route_snapshot.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace dmrswitch::route {
namespace {

std::span<const uint8_t> AsBytes(const std::array<uint8_t, proto::kObpKeyBytes>& a) {
  return {a.data(), a.size()};
}

// Pieces are counted by the roots (a Conference by the conference partitions) that use them and
// freed with the last one — on the control plane's thread only.
template <class T>
void Retain(const T* p) {
  if (p != nullptr) ++p->refs;
}
template <class T>
void Release(const T* p) {
  if (p != nullptr && --p->refs == 0) delete p;
}
void Release(const ConferencePart* p) {
  if (p == nullptr || --p->refs != 0) return;
  for (const auto& e : p->by_tg) Release(e.value);
  delete p;
}

template <class K, class V>
FrozenMap<K, V> Freeze(const absl::flat_hash_map<K, V>& m) {
  return FrozenMap<K, V>(std::vector<std::pair<K, V>>(m.begin(), m.end()));
}

}  // namespace

PeerInfo::PeerInfo(const PeerSpec& spec)
    : name(spec.name),
      network_id(spec.network_id),
      target(spec.target),
      version(spec.version),
      id_mode(spec.id_mode),
      relax_checks(spec.relax_checks),
      relay(spec.relay),
      alive(spec.alive),
      listener(spec.listener),
      use_acl(spec.use_acl),
      sub_acl(spec.sub_acl),
      tg_acl(spec.tg_acl),
      hmac(AsBytes(proto::ObpKeyFromPassphrase(spec.passphrase))),
      blake2b(AsBytes(proto::ObpKeyFromPassphrase(spec.passphrase))) {}

// ---------------------------------------------------------------------------------------------
// RouteSnapshot

RouteSnapshot::~RouteSnapshot() {
  ForEachPiece([](const auto* p) { Release(p); });
}

void RouteSnapshot::Retain() const {
  ForEachPiece([](const auto* p) { route::Retain(p); });
}

void RouteSnapshot::RecountPieces(std::span<const RouteSnapshot* const> roots) {
  // Zero every piece reachable from the roots, then count again: one per root that uses it, and
  // one per distinct conference partition for each conference.
  absl::flat_hash_set<const ConferencePart*> parts;
  for (const RouteSnapshot* r : roots) {
    r->ForEachPiece([&](const auto* p) {
      p->refs = 0;
      if constexpr (std::is_same_v<std::remove_cvref_t<decltype(*p)>, ConferencePart>) {
        parts.insert(p);
        for (const auto& e : p->by_tg) e.value->refs = 0;
      }
    });
  }
  for (const RouteSnapshot* r : roots) r->Retain();
  for (const ConferencePart* p : parts) {
    for (const auto& e : p->by_tg) route::Retain(e.value);
  }
}

absl::flat_hash_set<uint64_t> RouteSnapshot::LiveOwners(
    std::span<const RouteSnapshot* const> roots) {
  absl::flat_hash_set<uint64_t> owners;
  for (const RouteSnapshot* r : roots) {
    owners.insert(r->owner_);
    r->ForEachPiece([&](const auto* p) {
      owners.insert(p->owner);
      if constexpr (std::is_same_v<std::remove_cvref_t<decltype(*p)>, ConferencePart>) {
        for (const auto& e : p->by_tg) owners.insert(e.value->owner);
      }
    });
  }
  return owners;
}

RouteSnapshot::Membership RouteSnapshot::MembershipOf(uint64_t key, const MemberEntry& e) const {
  const auto slot = static_cast<uint32_t>(key >> 32);
  const auto ts = static_cast<uint8_t>((key >> 24) & 1);
  const auto tg_on_client = static_cast<uint32_t>(key & 0xFFFFFF);
  if (e.kind == MemberKind::kDial) {
    // TG 9 cannot be subscribed to: on TS2 it is a dial link, whose TG the client record names.
    return Membership{slot, ts, client(slot)->dial_tg, MemberKind::kDial, 0};
  }
  return Membership{slot, ts, tg_on_client, e.kind, e.ua_expires_at};
}

// ---------------------------------------------------------------------------------------------
// RouteSnapshotBuilder: changes

uint64_t RouteSnapshotBuilder::BytesFor(uint32_t client_capacity) {
  return uint64_t{client_capacity} * sizeof(Slot);
}

RouteSnapshotBuilder::RouteSnapshotBuilder(HubPolicy policy, uint32_t client_capacity)
    : capacity_(client_capacity),
      policy_(std::move(policy)),
      slots_(client_capacity),
      ids_(RouteSnapshot::kIdParts),
      tgs_(RouteSnapshot::kConferenceParts),
      prefixes_(RouteSnapshot::kIdParts),
      locations_(RouteSnapshot::kSubscriberParts) {}

// The last generation (last_) holds every piece the builder shares, the empty conference too.
RouteSnapshotBuilder::~RouteSnapshotBuilder() = default;

absl::Status RouteSnapshotBuilder::CheckSlot(uint32_t slot) const {
  if (slot >= capacity_) {
    return absl::OutOfRangeError(
        absl::StrCat("client slot ", slot, " is beyond the capacity of ", capacity_));
  }
  return absl::OkStatus();
}

void RouteSnapshotBuilder::MarkClient(uint32_t slot) {
  dirty_chunks_.insert(slot / kClientChunkSlots);
}

void RouteSnapshotBuilder::MarkConference(uint32_t tg) { dirty_tgs_.insert(tg); }

void RouteSnapshotBuilder::IndexId(uint32_t id, uint32_t slot, bool add) {
  const uint32_t part = RouteSnapshot::PartOf(id, RouteSnapshot::kIdParts);
  if (add) {
    ids_[part][id] = slot;
  } else {
    ids_[part].erase(id);
  }
  dirty_id_parts_.insert(part);
  // Unit data for a 7-digit subscriber ID reaches a hotspot with that ID or a 9-digit ID made of
  // it and a 2-digit suffix (PROTOCOL.md §3.8). A client's own ID always finds it, and wins over
  // another client's prefix; of several prefixed IDs the lowest slot wins.
  const auto update = [&](uint32_t key, auto&& change) {
    const uint32_t p = RouteSnapshot::PartOf(key, RouteSnapshot::kIdParts);
    PrefixEntry& e = prefixes_[p][key];
    change(e);
    if (e.exact < 0 && e.prefixed.empty()) prefixes_[p].erase(key);
    dirty_prefix_parts_.insert(p);
  };
  update(id, [&](PrefixEntry& e) { e.exact = add ? int64_t{slot} : -1; });
  if (id >= 100000000) {
    update(id / 100, [&](PrefixEntry& e) {
      if (add) {
        e.prefixed.insert(slot);
      } else {
        e.prefixed.erase(slot);
      }
    });
  }
}

absl::Status RouteSnapshotBuilder::AddClient(uint32_t slot, const ClientSpec& spec) {
  if (absl::Status st = CheckSlot(slot); !st.ok()) return st;
  if (spec.id == 0) return absl::InvalidArgumentError("client ID 0 is not valid");
  if (slots_[slot].info.present) {
    return absl::AlreadyExistsError(absl::StrCat("client slot ", slot, " is already in use"));
  }
  return SetClient(slot, spec);
}

absl::Status RouteSnapshotBuilder::SetClient(uint32_t slot, const ClientSpec& spec) {
  if (absl::Status st = CheckSlot(slot); !st.ok()) return st;
  if (spec.id == 0) return absl::InvalidArgumentError("client ID 0 is not valid");
  const uint32_t part = RouteSnapshot::PartOf(spec.id, RouteSnapshot::kIdParts);
  if (auto it = ids_[part].find(spec.id); it != ids_[part].end() && it->second != slot) {
    return absl::AlreadyExistsError(absl::StrCat("client ID ", spec.id, " is already present"));
  }
  Slot& s = slots_[slot];
  if (s.info.present && s.info.id == spec.id && s.info.addr == spec.addr &&
      s.info.slot_mask == spec.slot_mask && s.info.fixed == spec.fixed &&
      s.info.session == spec.session && s.info.use_acl == spec.use_acl &&
      s.info.sub_acl == spec.sub_acl && s.info.tg_acl[0] == spec.tg_acl[0] &&
      s.info.tg_acl[1] == spec.tg_acl[1]) {
    return absl::OkStatus();  // nothing changes: no piece to rebuild
  }
  if (s.info.present && s.info.id != spec.id) RemoveClient(slot);
  if (!s.info.present) IndexId(spec.id, slot, true);
  ClientInfo& c = s.info;
  c.present = true;
  c.id = spec.id;
  c.addr = spec.addr;
  c.slot_mask = spec.slot_mask;
  c.dial_tg = s.dial;
  c.fixed = spec.fixed;
  c.session = spec.session;
  c.use_acl = spec.use_acl;
  c.sub_acl = spec.sub_acl;
  c.tg_acl[0] = spec.tg_acl[0];
  c.tg_acl[1] = spec.tg_acl[1];
  MarkClient(slot);
  // Its conferences carry its address and ID: every one of them changes.
  for (const auto& [tg, m] : s.in_conferences) MarkConference(tg);
  UpdateConferences(slot);
  return absl::OkStatus();
}

void RouteSnapshotBuilder::RemoveClient(uint32_t slot) {
  if (slot >= capacity_ || !slots_[slot].info.present) return;
  Slot& s = slots_[slot];
  IndexId(s.info.id, slot, false);
  s.info = ClientInfo{};
  s.restart.clear();
  s.members.clear();
  s.dial = 0;
  UpdateConferences(slot);
  MarkClient(slot);
}

void RouteSnapshotBuilder::SetClientRestart(uint32_t slot, std::span<const uint8_t> bytes) {
  if (slot >= capacity_) return;
  slots_[slot].restart.assign(bytes.begin(), bytes.end());
  MarkClient(slot);
}

namespace {

absl::Status CheckPeer(const PeerSpec& spec) {
  if (spec.version != 1 && spec.version != 4 && spec.version != 5) {
    return absl::InvalidArgumentError(
        absl::StrCat("peer \"", spec.name, "\": version ", spec.version, " is not 1, 4 or 5"));
  }
  if (spec.passphrase.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("peer \"", spec.name, "\": an OpenBridge passphrase is required"));
  }
  return absl::OkStatus();
}

absl::Status CheckMember(unsigned ts, uint32_t tg, MemberKind kind) {
  if (ts > kTs2) return absl::InvalidArgumentError(absl::StrCat("timeslot index ", ts));
  if (!IsUserActivatableTg(tg)) {
    return absl::InvalidArgumentError(absl::StrCat("TG ", tg, " cannot be subscribed to"));
  }
  if (kind == MemberKind::kDial) {
    return absl::InvalidArgumentError("use SetDial for dial-a-TG links");
  }
  return absl::OkStatus();
}

absl::Status CheckDial(uint32_t tg) {
  if (tg != 0 && !IsDialableTg(tg)) {
    return absl::InvalidArgumentError(absl::StrCat("TG ", tg, " cannot be dialled"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<uint32_t> RouteSnapshotBuilder::AddPeer(const PeerSpec& spec) {
  if (peers_.size() >= kMaxPeers) {
    return absl::ResourceExhaustedError(
        absl::StrCat("at most ", kMaxPeers, " OpenBridge/FBP peers are supported"));
  }
  if (absl::Status st = CheckPeer(spec); !st.ok()) return st;
  peers_.push_back(spec);
  peers_dirty_ = true;
  return static_cast<uint32_t>(peers_.size() - 1);
}

absl::Status RouteSnapshotBuilder::SetPeers(std::span<const PeerSpec> peers) {
  if (peers.size() > kMaxPeers) {
    return absl::ResourceExhaustedError(
        absl::StrCat("at most ", kMaxPeers, " OpenBridge/FBP peers are supported"));
  }
  for (const PeerSpec& p : peers) {
    if (absl::Status st = CheckPeer(p); !st.ok()) return st;
  }
  if (std::equal(peers.begin(), peers.end(), peers_.begin(), peers_.end())) {
    return absl::OkStatus();
  }
  peers_.assign(peers.begin(), peers.end());
  peers_dirty_ = true;
  return absl::OkStatus();
}

void RouteSnapshotBuilder::SetPolicy(HubPolicy policy) {
  if (policy == policy_) return;
  policy_ = std::move(policy);
  policy_dirty_ = true;
}

absl::Status RouteSnapshotBuilder::Subscribe(uint32_t slot, unsigned ts, uint32_t tg,
                                             MemberKind kind, TimeNs ua_expires_at) {
  if (slot >= capacity_ || !slots_[slot].info.present) {
    return absl::NotFoundError(absl::StrCat("no client in slot ", slot));
  }
  if (absl::Status st = CheckMember(ts, tg, kind); !st.ok()) return st;
  Slot& s = slots_[slot];
  for (const MemberSpec& m : s.members) {
    if (m.ts == ts && m.tg == tg) return absl::OkStatus();  // already a member
  }
  s.members.push_back(MemberSpec{static_cast<uint8_t>(ts), tg, kind,
                                 kind == MemberKind::kUserActivated ? ua_expires_at : 0});
  UpdateConferences(slot);
  MarkClient(slot);
  return absl::OkStatus();
}

absl::Status RouteSnapshotBuilder::SetDial(uint32_t slot, uint32_t tg) {
  if (slot >= capacity_ || !slots_[slot].info.present) {
    return absl::NotFoundError(absl::StrCat("no client in slot ", slot));
  }
  if (absl::Status st = CheckDial(tg); !st.ok()) return st;
  Slot& s = slots_[slot];
  s.dial = tg;
  s.info.dial_tg = tg;
  UpdateConferences(slot);
  MarkClient(slot);
  return absl::OkStatus();
}

absl::Status RouteSnapshotBuilder::SetMemberships(uint32_t slot,
                                                  std::span<const MemberSpec> members,
                                                  uint32_t dial_tg) {
  if (slot >= capacity_ || !slots_[slot].info.present) {
    return absl::NotFoundError(absl::StrCat("no client in slot ", slot));
  }
  for (const MemberSpec& m : members) {
    if (absl::Status st = CheckMember(m.ts, m.tg, m.kind); !st.ok()) return st;
  }
  if (absl::Status st = CheckDial(dial_tg); !st.ok()) return st;
  Slot& s = slots_[slot];
  std::vector<MemberSpec> kept;
  for (const MemberSpec& m : members) {
    const bool seen = std::any_of(kept.begin(), kept.end(), [&](const MemberSpec& k) {
      return k.ts == m.ts && k.tg == m.tg;
    });
    if (seen) continue;
    MemberSpec copy = m;
    if (copy.kind != MemberKind::kUserActivated) copy.ua_expires_at = 0;
    kept.push_back(copy);
  }
  if (kept == s.members && s.dial == dial_tg) return absl::OkStatus();
  s.members = std::move(kept);
  s.dial = dial_tg;
  s.info.dial_tg = dial_tg;
  UpdateConferences(slot);
  MarkClient(slot);
  return absl::OkStatus();
}

void RouteSnapshotBuilder::UpdateConferences(uint32_t slot) {
  Slot& s = slots_[slot];
  std::vector<std::pair<uint32_t, ConfMember>> now;
  if (s.info.present) {
    for (const MemberSpec& m : s.members) {
      if (m.ts == kTs2 && s.dial != 0 && m.tg == s.dial) continue;  // the dial link replaces it
      if ((s.info.slot_mask & (1u << m.ts)) == 0) continue;  // the client has no such timeslot
      now.emplace_back(m.tg, ConfMember{slot, m.ts, m.tg});
    }
    if (s.dial != 0 && (s.info.slot_mask & (1u << kTs2)) != 0) {
      now.emplace_back(s.dial, ConfMember{slot, static_cast<uint8_t>(kTs2), kDialTg});
    }
  }
  std::sort(now.begin(), now.end());
  std::vector<std::pair<uint32_t, ConfMember>> before = std::move(s.in_conferences);
  std::sort(before.begin(), before.end());
  std::vector<std::pair<uint32_t, ConfMember>> gone, added;
  std::set_difference(before.begin(), before.end(), now.begin(), now.end(),
                      std::back_inserter(gone));
  std::set_difference(now.begin(), now.end(), before.begin(), before.end(),
                      std::back_inserter(added));
  for (const auto& [tg, m] : gone) {
    auto it = members_by_tg_.find(tg);
    if (it == members_by_tg_.end()) continue;
    it->second.erase(m);
    if (it->second.empty()) {
      members_by_tg_.erase(it);
      tgs_[RouteSnapshot::PartOf(tg, RouteSnapshot::kConferenceParts)].erase(tg);
    }
    MarkConference(tg);
  }
  for (const auto& [tg, m] : added) {
    members_by_tg_[tg].insert(m);
    tgs_[RouteSnapshot::PartOf(tg, RouteSnapshot::kConferenceParts)].insert(tg);
    MarkConference(tg);
  }
  s.in_conferences = std::move(now);
}

void RouteSnapshotBuilder::AddSubscriberLocation(uint32_t rf_src, SystemRef at, unsigned ts,
                                                 TimeNs heard_at) {
  const uint32_t part = RouteSnapshot::PartOf(rf_src, RouteSnapshot::kSubscriberParts);
  // Built on zeroed bytes: the padding after `ts` is copied into the shared snapshot memory and
  // must not carry stale stack contents (addresses of this process) there.
  Location next;
  std::memset(static_cast<void*>(&next), 0, sizeof(next));
  next.at = at;
  next.ts = static_cast<uint8_t>(ts);
  next.heard_at = heard_at;
  auto [it, added] = locations_[part].try_emplace(rf_src, next);
  if (!added) {
    if (it->second == next) return;  // nothing changes
    it->second = next;
  }
  dirty_subscriber_parts_.insert(part);
}

void RouteSnapshotBuilder::RemoveSubscriberLocation(uint32_t rf_src) {
  const uint32_t part = RouteSnapshot::PartOf(rf_src, RouteSnapshot::kSubscriberParts);
  if (locations_[part].erase(rf_src) != 0) dirty_subscriber_parts_.insert(part);
}

void RouteSnapshotBuilder::SetControlState(std::span<const uint8_t> bytes) {
  control_state_.assign(bytes.begin(), bytes.end());
  control_dirty_ = true;
}

bool RouteSnapshotBuilder::dirty() const {
  return last_ == nullptr || policy_dirty_ || peers_dirty_ || control_dirty_ ||
         !dirty_chunks_.empty() || !dirty_id_parts_.empty() || !dirty_prefix_parts_.empty() ||
         !dirty_tgs_.empty() || !dirty_subscriber_parts_.empty();
}

// ---------------------------------------------------------------------------------------------
// RouteSnapshotBuilder: pieces

// Each piece is made in an owner scope of its own (shared_memory.h), and freed again if making it
// throws (out of snapshot memory).

const ClientChunk* RouteSnapshotBuilder::BuildClientChunk(uint32_t chunk) const {
  SnapshotOwnerScope owner;
  std::unique_ptr<ClientChunk> c(new ClientChunk());
  std::vector<std::pair<uint64_t, MemberEntry>> entries;
  bool any = false;
  for (uint32_t k = 0; k < kClientChunkSlots; ++k) {
    const uint32_t slot = chunk * kClientChunkSlots + k;
    if (slot >= capacity_) break;
    const Slot& s = slots_[slot];
    if (!s.info.present) continue;
    any = true;
    c->clients[k] = s.info;
    c->restart[k].assign(s.restart.begin(), s.restart.end());
    for (const MemberSpec& m : s.members) {
      if (m.ts == kTs2 && s.dial != 0 && m.tg == s.dial) continue;  // replaced by the dial link
      entries.emplace_back(RouteSnapshot::MemberKey(slot, m.ts, m.tg),
                           MemberEntry{m.ua_expires_at, m.kind});
    }
    if (s.dial != 0 && (s.info.slot_mask & (1u << kTs2)) != 0) {
      entries.emplace_back(RouteSnapshot::MemberKey(slot, kTs2, kDialTg),
                           MemberEntry{0, MemberKind::kDial});
    }
  }
  if (!any) return nullptr;
  c->members = FrozenMap<uint64_t, MemberEntry>(std::move(entries));
  return c.release();
}

const IdPart* RouteSnapshotBuilder::BuildIdPart(uint32_t part) const {
  if (ids_[part].empty()) return nullptr;
  SnapshotOwnerScope owner;
  std::unique_ptr<IdPart> p(new IdPart());
  p->slots = Freeze(ids_[part]);
  return p.release();
}

const IdPart* RouteSnapshotBuilder::BuildPrefixPart(uint32_t part) const {
  if (prefixes_[part].empty()) return nullptr;
  std::vector<std::pair<uint32_t, uint32_t>> entries;
  for (const auto& [key, e] : prefixes_[part]) {
    entries.emplace_back(key, e.exact >= 0 ? static_cast<uint32_t>(e.exact) : *e.prefixed.begin());
  }
  SnapshotOwnerScope owner;
  std::unique_ptr<IdPart> p(new IdPart());
  p->slots = FrozenMap<uint32_t, uint32_t>(std::move(entries));
  return p.release();
}

const ConferencePart* RouteSnapshotBuilder::BuildConferencePart(uint32_t part,
                                                                const ConferencePart* previous) {
  std::vector<std::pair<uint32_t, const Conference*>> entries;
  std::vector<std::unique_ptr<Conference>> built;  // this call's own, until the part holds them
  for (uint32_t tg : tgs_[part]) {
    if (previous != nullptr && !dirty_tgs_.contains(tg)) {
      if (const Conference* const* c = previous->by_tg.find(tg); c != nullptr) {
        entries.emplace_back(tg, *c);
        continue;
      }
    }
    const auto it = members_by_tg_.find(tg);
    if (it == members_by_tg_.end()) continue;
    SnapshotOwnerScope owner;
    std::unique_ptr<Conference> conf(new Conference());
    conf->tg = tg;
    conf->members.reserve(it->second.size());
    for (const ConfMember& m : it->second) {
      const ClientInfo& c = slots_[m.slot].info;
      conf->members.push_back(
          Destination{SystemRef::Client(m.slot), m.ts, m.tg_on_client, c.id, c.addr});
    }
    entries.emplace_back(tg, conf.get());
    built.push_back(std::move(conf));
    ++stats_.conferences;
  }
  if (entries.empty()) return nullptr;
  SnapshotOwnerScope owner;
  std::unique_ptr<ConferencePart> p(new ConferencePart());
  p->by_tg = FrozenMap<uint32_t, const Conference*>(std::move(entries));
  for (const auto& e : p->by_tg) route::Retain(e.value);
  for (std::unique_ptr<Conference>& c : built) (void)c.release();
  return p.release();
}

const SubscriberPart* RouteSnapshotBuilder::BuildSubscriberPart(uint32_t part) const {
  if (locations_[part].empty()) return nullptr;
  SnapshotOwnerScope owner;
  std::unique_ptr<SubscriberPart> p(new SubscriberPart());
  p->by_rf_src = Freeze(locations_[part]);
  return p.release();
}

const PeerTable* RouteSnapshotBuilder::BuildPeerTable() const {
  SnapshotOwnerScope owner;
  std::unique_ptr<PeerTable> t(new PeerTable());
  t->peers.reserve(peers_.size());
  for (uint32_t i = 0; i < peers_.size(); ++i) {
    t->peers.emplace_back(peers_[i]);
    const uint32_t l = peers_[i].listener;
    if (l == kNoListener) continue;
    if (l >= t->by_listener.size()) t->by_listener.resize(l + 1);
    t->by_listener[l].push_back(i);
  }
  return t.release();
}

absl::StatusOr<std::shared_ptr<const RouteSnapshot>> RouteSnapshotBuilder::Build(
    uint64_t generation) {
  const RouteSnapshot* prev = last_.get();
  stats_ = BuildStats{};
  std::unique_ptr<RouteSnapshot> r;
  try {
    // The root and its tables belong to an owner of their own; each piece to its own (Build*).
    SnapshotOwnerScope root_owner;
    r.reset(new RouteSnapshot());
    BuildInto(*r, prev, generation);
  } catch (const std::bad_alloc&) {
    // Out of snapshot memory. The half-built root counts what it holds so far and gives it back:
    // its own new pieces go, the previous generation's keep their counts.
    if (r != nullptr) {
      r->Retain();
      r.reset();
    }
    return absl::ResourceExhaustedError(
        absl::StrCat("out of snapshot memory while building generation ", generation, " (",
                     capacity_, " client slots); the previous generation stays in use"));
  }
  r->Retain();

  policy_dirty_ = peers_dirty_ = control_dirty_ = false;
  dirty_chunks_.clear();
  dirty_id_parts_.clear();
  dirty_prefix_parts_.clear();
  dirty_tgs_.clear();
  dirty_subscriber_parts_.clear();
  // The default deleter's `delete` runs ~RouteSnapshot (the pieces go back) and then
  // RouteSnapshot::operator delete, the hooks.
  last_ = std::shared_ptr<const RouteSnapshot>(std::move(r));
  return last_;
}

void RouteSnapshotBuilder::BuildInto(RouteSnapshot& root, const RouteSnapshot* prev,
                                     uint64_t generation) {
  RouteSnapshot* r = &root;
  r->generation_ = generation;
  r->client_capacity_ = capacity_;
  // One empty conference for every generation of this builder: a stream on a TG without members
  // resolves to the same object in each, so a new generation does not touch it.
  if (prev != nullptr) {
    r->no_members_ = prev->no_members_;
  } else {
    SnapshotOwnerScope owner;
    r->no_members_ = new Conference();
  }
  if (prev == nullptr || policy_dirty_) {
    SnapshotOwnerScope owner;
    std::unique_ptr<PolicyPiece> p(new PolicyPiece());
    p->policy = policy_;
    r->policy_ = p.release();
    stats_.policy = true;
  } else {
    r->policy_ = prev->policy_;
  }
  if (prev == nullptr || peers_dirty_) {
    r->peers_ = BuildPeerTable();
    stats_.peers = true;
  } else {
    r->peers_ = prev->peers_;
  }
  const uint32_t chunks = (capacity_ + kClientChunkSlots - 1) / kClientChunkSlots;
  r->clients_.resize(chunks);
  for (uint32_t i = 0; i < chunks; ++i) {
    if (prev == nullptr || dirty_chunks_.contains(i)) {
      r->clients_[i] = BuildClientChunk(i);
      ++stats_.client_chunks;
    } else {
      r->clients_[i] = prev->clients_[i];
    }
  }
  r->id_parts_.resize(RouteSnapshot::kIdParts);
  r->prefix_parts_.resize(RouteSnapshot::kIdParts);
  for (uint32_t p = 0; p < RouteSnapshot::kIdParts; ++p) {
    if (prev == nullptr || dirty_id_parts_.contains(p)) {
      r->id_parts_[p] = BuildIdPart(p);
      ++stats_.id_parts;
    } else {
      r->id_parts_[p] = prev->id_parts_[p];
    }
    r->prefix_parts_[p] = prev == nullptr || dirty_prefix_parts_.contains(p)
                              ? BuildPrefixPart(p)
                              : prev->prefix_parts_[p];
  }
  absl::flat_hash_set<uint32_t> dirty_conf_parts;
  for (uint32_t tg : dirty_tgs_) {
    dirty_conf_parts.insert(RouteSnapshot::PartOf(tg, RouteSnapshot::kConferenceParts));
  }
  r->conferences_.resize(RouteSnapshot::kConferenceParts);
  for (uint32_t p = 0; p < RouteSnapshot::kConferenceParts; ++p) {
    if (prev == nullptr || dirty_conf_parts.contains(p)) {
      r->conferences_[p] =
          BuildConferencePart(p, prev == nullptr ? nullptr : prev->conferences_[p]);
      ++stats_.conference_parts;
    } else {
      r->conferences_[p] = prev->conferences_[p];
    }
  }
  r->subscribers_.resize(RouteSnapshot::kSubscriberParts);
  for (uint32_t p = 0; p < RouteSnapshot::kSubscriberParts; ++p) {
    if (prev == nullptr || dirty_subscriber_parts_.contains(p)) {
      r->subscribers_[p] = BuildSubscriberPart(p);
      ++stats_.subscriber_parts;
    } else {
      r->subscribers_[p] = prev->subscribers_[p];
    }
  }
  r->control_state_.assign(control_state_.begin(), control_state_.end());
}

}  // namespace dmrswitch::route
