#include "dataplane/route/route_snapshot.h"

#include <algorithm>
#include <span>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace dmrswitch::route {
namespace {

std::span<const uint8_t> AsBytes(const std::array<uint8_t, proto::kObpKeyBytes>& a) {
  return {a.data(), a.size()};
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

RouteSnapshot::Membership RouteSnapshot::MembershipOf(uint64_t key) const {
  const auto slot = static_cast<uint32_t>(key >> 32);
  const auto ts = static_cast<uint8_t>((key >> 24) & 1);
  const auto tg_on_client = static_cast<uint32_t>(key & 0xFFFFFF);
  // TG 9 cannot be subscribed to: on TS2 it is a dial link, whose TG the client record names.
  if (ts == kTs2 && tg_on_client == kDialTg) {
    return Membership{slot, ts, clients_[slot].dial_tg, MemberKind::kDial, 0};
  }
  if (const TimeNs* expiry = ua_expiry_.find(key); expiry != nullptr) {
    return Membership{slot, ts, tg_on_client, MemberKind::kUserActivated, *expiry};
  }
  return Membership{slot, ts, tg_on_client, MemberKind::kStatic, 0};
}

RouteSnapshotBuilder::RouteSnapshotBuilder(HubPolicy policy, uint32_t client_capacity)
    : snap_(new RouteSnapshot()) {
  snap_->policy_ = std::move(policy);
  snap_->clients_.resize(client_capacity);
}

absl::Status RouteSnapshotBuilder::AddClient(uint32_t slot, const ClientSpec& spec) {
  if (slot >= snap_->clients_.size()) {
    return absl::OutOfRangeError(
        absl::StrCat("client slot ", slot, " is beyond the capacity of ", snap_->clients_.size()));
  }
  if (spec.id == 0) return absl::InvalidArgumentError("client ID 0 is not valid");
  if (snap_->clients_[slot].present) {
    return absl::AlreadyExistsError(absl::StrCat("client slot ", slot, " is already in use"));
  }
  if (!client_by_id_.emplace(spec.id, slot).second) {
    return absl::AlreadyExistsError(absl::StrCat("client ID ", spec.id, " is already present"));
  }
  ClientInfo& c = snap_->clients_[slot];
  c.present = true;
  c.id = spec.id;
  c.addr = spec.addr;
  c.slot_mask = spec.slot_mask;
  c.fixed = spec.fixed;
  c.use_acl = spec.use_acl;
  c.sub_acl = spec.sub_acl;
  c.tg_acl[0] = spec.tg_acl[0];
  c.tg_acl[1] = spec.tg_acl[1];
  // Unit data for a 7-digit subscriber ID reaches a hotspot with that ID or a 9-digit ID made of
  // it and a 2-digit suffix (PROTOCOL.md §3.8). A client's own ID always finds it, and wins over
  // another client's prefix.
  client_by_prefix_.insert_or_assign(spec.id, slot);
  if (spec.id >= 100000000) client_by_prefix_.emplace(spec.id / 100, slot);
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> RouteSnapshotBuilder::AddPeer(const PeerSpec& spec) {
  if (snap_->peers_.size() >= kMaxPeers) {
    return absl::ResourceExhaustedError(
        absl::StrCat("at most ", kMaxPeers, " OpenBridge/FBP peers are supported"));
  }
  if (spec.version != 1 && spec.version != 4 && spec.version != 5) {
    return absl::InvalidArgumentError(
        absl::StrCat("peer \"", spec.name, "\": version ", spec.version, " is not 1, 4 or 5"));
  }
  if (spec.passphrase.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("peer \"", spec.name, "\": an OpenBridge passphrase is required"));
  }
  snap_->peers_.emplace_back(spec);
  return static_cast<uint32_t>(snap_->peers_.size() - 1);
}

absl::Status RouteSnapshotBuilder::Subscribe(uint32_t slot, unsigned ts, uint32_t tg,
                                             MemberKind kind, TimeNs ua_expires_at) {
  if (slot >= snap_->clients_.size() || !snap_->clients_[slot].present) {
    return absl::NotFoundError(absl::StrCat("no client in slot ", slot));
  }
  if (ts > kTs2) return absl::InvalidArgumentError(absl::StrCat("timeslot index ", ts));
  if (!IsUserActivatableTg(tg)) {
    return absl::InvalidArgumentError(absl::StrCat("TG ", tg, " cannot be subscribed to"));
  }
  if (kind == MemberKind::kDial) {
    return absl::InvalidArgumentError("use SetDial for dial-a-TG links");
  }
  const uint64_t key = RouteSnapshot::MemberKey(slot, ts, tg);
  if (!membership_.insert(key).second) return absl::OkStatus();  // already a member
  if (kind == MemberKind::kUserActivated) ua_expiry_[key] = ua_expires_at;
  members_by_tg_[tg].push_back(Member{slot, static_cast<uint8_t>(ts), tg});
  return absl::OkStatus();
}

absl::Status RouteSnapshotBuilder::SetDial(uint32_t slot, uint32_t tg) {
  if (slot >= snap_->clients_.size() || !snap_->clients_[slot].present) {
    return absl::NotFoundError(absl::StrCat("no client in slot ", slot));
  }
  if (tg != 0 && !IsDialableTg(tg)) {
    return absl::InvalidArgumentError(absl::StrCat("TG ", tg, " cannot be dialled"));
  }
  snap_->clients_[slot].dial_tg = tg;
  return absl::OkStatus();
}

void RouteSnapshotBuilder::AddSubscriberLocation(uint32_t rf_src, uint32_t client_slot,
                                                 unsigned ts) {
  subscribers_[rf_src] = RouteSnapshot::Location{client_slot, static_cast<uint8_t>(ts)};
}

void RouteSnapshotBuilder::SetControlState(std::span<const uint8_t> bytes) {
  snap_->control_state_.assign(bytes.begin(), bytes.end());
}

absl::StatusOr<std::shared_ptr<const RouteSnapshot>> RouteSnapshotBuilder::Build(
    uint64_t generation) {
  if (built_) return absl::FailedPreconditionError("RouteSnapshotBuilder::Build called twice");
  built_ = true;
  RouteSnapshot& s = *snap_;
  s.generation_ = generation;

  // Dial links are members heard as TG 9 on TS2; a dial link replaces a subscription of the
  // same client to the same TG on TS2, so a destination never gets two copies.
  for (uint32_t slot = 0; slot < s.clients_.size(); ++slot) {
    const ClientInfo& c = s.clients_[slot];
    if (!c.present || c.dial_tg == 0) continue;
    auto& members = members_by_tg_[c.dial_tg];
    std::erase_if(members, [slot](const Member& m) { return m.slot == slot && m.ts == kTs2; });
    // The replaced subscription is gone from the lookups too: the client is a member of this
    // conference as TG 9 now.
    const uint64_t replaced = RouteSnapshot::MemberKey(slot, kTs2, c.dial_tg);
    membership_.erase(replaced);
    ua_expiry_.erase(replaced);
    members.push_back(Member{slot, kTs2, kDialTg});
  }

  std::vector<Destination> peer_dests;
  for (uint32_t i = 0; i < s.peers_.size(); ++i) {
    const PeerInfo& p = s.peers_[i];
    if (p.listener != kNoListener) {
      if (p.listener >= s.peers_by_listener_.size()) s.peers_by_listener_.resize(p.listener + 1);
      s.peers_by_listener_[p.listener].push_back(i);
    }
    peer_dests.push_back(Destination{SystemRef::Peer(i), kTs1, 0, 0, p.target});
    if (p.version > 1) s.fbp_peers_.members.push_back(peer_dests.back());
  }
  s.peers_only_.members.assign(peer_dests.begin(), peer_dests.end());

  std::vector<std::pair<uint32_t, Conference>> conferences;
  conferences.reserve(members_by_tg_.size());
  for (auto& [tg, members] : members_by_tg_) {
    // Stable order (by client slot, then timeslot) so that egress order is deterministic.
    std::sort(members.begin(), members.end(), [](const Member& a, const Member& b) {
      return a.slot != b.slot ? a.slot < b.slot : a.ts < b.ts;
    });
    Conference& conf = conferences.emplace_back(tg, Conference{}).second;
    conf.tg = tg;
    for (const Member& m : members) {
      const ClientInfo& c = s.clients_[m.slot];
      if ((c.slot_mask & (1u << m.ts)) == 0) continue;  // the client has no such timeslot
      conf.members.push_back(
          Destination{SystemRef::Client(m.slot), m.ts, m.tg_on_client, c.id, c.addr});
      membership_.insert(RouteSnapshot::MemberKey(m.slot, m.ts, m.tg_on_client));
    }
    conf.members.insert(conf.members.end(), peer_dests.begin(), peer_dests.end());
  }
  s.conferences_ = FrozenMap<uint32_t, Conference>(std::move(conferences));
  s.client_by_id_ = Freeze(client_by_id_);
  s.client_by_prefix_ = Freeze(client_by_prefix_);
  s.membership_ =
      FrozenSet<uint64_t>(std::vector<uint64_t>(membership_.begin(), membership_.end()));
  s.ua_expiry_ = Freeze(ua_expiry_);
  s.subscribers_ = Freeze(subscribers_);
  // The default deleter's `delete` goes through RouteSnapshot::operator delete, the hooks.
  return std::shared_ptr<const RouteSnapshot>(std::move(snap_));
}

}  // namespace dmrswitch::route
