// RouteSnapshot: the immutable view of clients, peers, policy and subscriptions that shards route
// with (DESIGN.md §3, §6). The control plane owns the state behind it and publishes a new
// generation whenever it changes; a shard never mutates a snapshot.
//
// Routing model. FreeDMR's bridges become *conferences*, one per talkgroup: the set of
// (client, timeslot, TG-on-that-client) members that hear TG N, plus every OpenBridge/FBP peer.
// A client is a member by a static TG (config or RPTO options), a user-activated TG (timer), or a
// dial-a-TG link (heard and spoken as TG 9 on TS2). FreeDMR's "#N" and "N" bridges are one
// conference here, so one copy per destination holds by construction (PROTOCOL.md Part A §2).
//
// Memory. The control-plane process builds a snapshot and the packet-plane process reads it through
// a raw pointer (DESIGN.md §6): the snapshot object and every container reachable from it allocate
// through the snapshot memory hooks (shared_memory.h), tables are FrozenMaps (frozen_map.h), and no
// type in it has virtual functions. The builder's working tables stay on the ordinary heap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dataplane/proto/crypto.h"
#include "dataplane/route/acl.h"
#include "dataplane/route/frozen_map.h"
#include "dataplane/route/shared_memory.h"
#include "dataplane/route/slot_lease.h"
#include "dataplane/route/tg_policy.h"
#include "dataplane/route/types.h"

namespace dmrswitch::route {

enum class ActivateOn : uint8_t { kStart, kEnd };

// Hub-wide policy and timers (PROTOCOL.md §3.11 defaults).
struct HubPolicy {
  uint32_t server_id = 0;
  Acl sub_acl = *Acl::Parse("DENY:1");
  Acl tg_acl[2] = {Acl::PermitAll(), Acl::PermitAll()};  // by timeslot
  LeaseTimers lease;                       // group hang time, stream timeout (collision window)
  TimeNs stream_lost_after = 5 * kSec;     // silence that ends a stream without terminator
  TimeNs stream_forget_after = 10 * kSec;  // how long an ended stream ID is remembered (loops)
  TimeNs max_stream_age = 180 * kSec;      // FreeDMR source timeout
  uint32_t rate_limit_after_packets = 18;  // rate limit: > 18 packets and > 25 packets/s
  uint32_t rate_limit_pps = 25;
  ActivateOn activate_on = ActivateOn::kStart;
  // A logged-in client silent this long is lost (ping_time × max_missed; ClientLiveness).
  TimeNs client_timeout = 30 * kSec;
  uint8_t fbp_max_hops = 10;
  TimeNs fbp_max_age = 5 * kSec;  // DMRE timestamps older than this are dropped (+ BCSQ)
};

// FreeDMR and HBlink3 disagree on bytes 11..14 of OpenBridge DMRD (PROTOCOL.md §2.1).
enum class PeerIdMode : uint8_t {
  kFreeDmr,  // send our server ID; accept only packets carrying the peer's network_id
  kHblink3,  // send network_id; do not check it on receive
};

struct ClientSpec {
  uint32_t id = 0;
  Endpoint addr;
  uint8_t slot_mask = 3;  // bit 0 TS1, bit 1 TS2 (RPTC slots)
  // Configured ([[hbp.fixed_client]]): logged in without a login exchange, never timed out for
  // missing keepalives (ClientLiveness skips it).
  bool fixed = false;
  bool use_acl = false;
  Acl sub_acl;
  Acl tg_acl[2];
};

struct PeerSpec {
  std::string name;
  uint32_t network_id = 0;
  Endpoint target;
  uint8_t version = 1;  // 1 = classic OBP (HMAC-SHA1), 5 = FBP DMRE (BLAKE2b)
  PeerIdMode id_mode = PeerIdMode::kFreeDmr;
  bool relax_checks = true;  // FreeDMR RELAX_CHECKS: skip the source address check
  // Forward traffic that arrived from other peers to this one. FBP meshes have hop counts and
  // source quench against loops; classic OBP has neither, so v1 peers get only local traffic.
  bool relay = false;
  bool alive = true;  // FBP: a BCKA or traffic heard within 60 s (the control plane tracks it)
  // The packet-plane listener this peer is served on (its `listen` address), or kNoListener:
  // nothing is sent to it or accepted from it.
  uint32_t listener = kNoListener;
  std::string passphrase;
  bool use_acl = false;
  Acl sub_acl;
  Acl tg_acl;  // TGID_ACL (TS1)
};

struct ClientInfo {
  bool present = false;
  uint32_t id = 0;
  Endpoint addr;
  uint8_t slot_mask = 3;
  uint32_t dial_tg = 0;  // dial-a-TG link (0 = none)
  bool fixed = false;    // ClientSpec::fixed
  bool use_acl = false;
  Acl sub_acl;
  Acl tg_acl[2];
};

struct PeerInfo {
  PeerInfo(const PeerSpec& spec);
  SnapshotString name;
  uint32_t network_id;
  Endpoint target;
  uint8_t version;
  PeerIdMode id_mode;
  bool relax_checks;
  bool relay;
  bool alive;
  uint32_t listener;
  bool use_acl;
  Acl sub_acl;
  Acl tg_acl;
  proto::HmacSha1 hmac;
  proto::Blake2bMac128 blake2b;
};

// One destination of a conference: everything the fanout needs, without chasing pointers.
struct Destination {
  SystemRef to;
  uint8_t ts = kTs1;         // timeslot on the destination
  uint32_t tg = 0;           // TG on the destination; 0 = the conference TG (peers)
  uint32_t repeater_id = 0;  // client: its own ID (bytes 11..14 of what it receives)
  Endpoint addr;
};

enum class MemberKind : uint8_t { kStatic, kUserActivated, kDial };

struct Conference {
  uint32_t tg = 0;
  SnapshotVector<Destination> members;  // clients first, then every peer
};

// Allocated and freed through the snapshot memory hooks (class operator new/delete), so `delete`,
// or a shared_ptr that owns a raw pointer (say one that a predecessor control plane published),
// frees it correctly.
class RouteSnapshot {
 public:
  static void* operator new(size_t bytes) {
    return AllocateSnapshotBytes(bytes, alignof(RouteSnapshot));
  }
  static void operator delete(void* p, size_t bytes) {
    FreeSnapshotBytes(p, bytes, alignof(RouteSnapshot));
  }

  uint64_t generation() const { return generation_; }
  const HubPolicy& policy() const { return policy_; }

  uint32_t client_capacity() const { return static_cast<uint32_t>(clients_.size()); }
  const ClientInfo* client(uint32_t slot) const {
    return slot < clients_.size() && clients_[slot].present ? &clients_[slot] : nullptr;
  }
  // Client slot by DMR/repeater ID, or -1.
  int64_t FindClient(uint32_t id) const {
    const uint32_t* slot = client_by_id_.find(id);
    return slot == nullptr ? -1 : int64_t{*slot};
  }
  std::span<const PeerInfo> peers() const { return peers_; }
  // The peers served on `listener` (indices into peers()), in index order. Several peers on one
  // listener are told apart by their source address (their target).
  std::span<const uint32_t> PeersOn(uint32_t listener) const {
    if (listener >= peers_by_listener_.size()) return {};
    return peers_by_listener_[listener];
  }

  // The conference for `tg`, or the peers-only conference if no client subscribes to it.
  const Conference& FindConference(uint32_t tg) const {
    const Conference* conf = conferences_.find(tg);
    return conf == nullptr ? peers_only_ : *conf;
  }
  bool IsMember(uint32_t client_slot, unsigned ts, uint32_t tg) const {
    return membership_.contains(MemberKey(client_slot, ts, tg));
  }
  const Conference& fbp_peers() const { return fbp_peers_; }

  // Where a subscriber was last heard (unit data routing, PROTOCOL.md §3.8).
  struct Location {
    uint32_t client_slot;
    uint8_t ts;
  };
  const Location* FindSubscriber(uint32_t rf_src) const { return subscribers_.find(rf_src); }
  // A client whose ID is `id` or whose 9-digit ID starts with the 7-digit `id`.
  int64_t FindClientByPrefix(uint32_t id) const {
    const uint32_t* slot = client_by_prefix_.find(id);
    return slot == nullptr ? -1 : int64_t{*slot};
  }

  // Expiry of a user-activated membership (0 = none), for the control plane's timers.
  TimeNs UaExpiry(uint32_t client_slot, unsigned ts, uint32_t tg) const {
    const TimeNs* expiry = ua_expiry_.find(MemberKey(client_slot, ts, tg));
    return expiry == nullptr ? 0 : *expiry;
  }

  // Reading a snapshot back (a restarted control plane starts from the published one).

  // What IsMember answers true for, one membership at a time.
  struct Membership {
    uint32_t client_slot;
    uint8_t ts;
    // The conference TG. A dial-a-TG link (kDial) is heard and spoken as TG 9 on TS2; a client
    // without TS2 has no such membership, but ClientInfo::dial_tg still names its link.
    uint32_t tg;
    MemberKind kind;
    TimeNs ua_expires_at;  // kUserActivated: as given to Subscribe(); else 0
  };
  // Calls fn(const Membership&) for every membership, in no particular order. A subscription that
  // a dial link replaced (same client, TS2, same TG) is not one.
  template <class Fn>
  void ForEachMembership(Fn&& fn) const {
    for (uint64_t key : membership_) fn(MembershipOf(key));
  }
  // Calls fn(uint32_t rf_src, const Location&) for every subscriber location, in no particular
  // order.
  template <class Fn>
  void ForEachSubscriber(Fn&& fn) const {
    for (const auto& entry : subscribers_) fn(entry.key, entry.value);
  }
  // Bytes the control plane stored with RouteSnapshotBuilder::SetControlState (its own restart
  // state); the packet plane never reads them.
  std::span<const uint8_t> control_state() const { return control_state_; }

  static uint64_t MemberKey(uint32_t client_slot, unsigned ts, uint32_t tg) {
    return (uint64_t{client_slot} << 32) | (uint64_t{ts & 1} << 24) | (tg & 0xFFFFFF);
  }

 private:
  friend class RouteSnapshotBuilder;
  RouteSnapshot() = default;

  Membership MembershipOf(uint64_t key) const;

  uint64_t generation_ = 0;
  HubPolicy policy_;
  SnapshotVector<ClientInfo> clients_;
  FrozenMap<uint32_t, uint32_t> client_by_id_;
  FrozenMap<uint32_t, uint32_t> client_by_prefix_;
  SnapshotVector<PeerInfo> peers_;
  SnapshotVector<SnapshotVector<uint32_t>> peers_by_listener_;
  FrozenMap<uint32_t, Conference> conferences_;
  FrozenSet<uint64_t> membership_;
  FrozenMap<uint64_t, TimeNs> ua_expiry_;
  Conference peers_only_;
  Conference fbp_peers_;
  FrozenMap<uint32_t, Location> subscribers_;
  SnapshotVector<uint8_t> control_state_;
};

// Another process reads these through the snapshot: a vtable pointer would be an address in the
// builder's image (shared_memory.h).
static_assert(!std::is_polymorphic_v<RouteSnapshot> && !std::is_polymorphic_v<HubPolicy> &&
              !std::is_polymorphic_v<ClientInfo> && !std::is_polymorphic_v<PeerInfo> &&
              !std::is_polymorphic_v<Conference> && !std::is_polymorphic_v<Destination> &&
              !std::is_polymorphic_v<Acl> && !std::is_polymorphic_v<proto::HmacSha1> &&
              !std::is_polymorphic_v<proto::Blake2bMac128>);

// Assembles a snapshot from the control plane's state. Every method validates its input and
// names what is wrong; Build() can be called once.
class RouteSnapshotBuilder {
 public:
  static constexpr uint32_t kMaxPeers = PeerSet::kMaxPeers;

  // `client_capacity` bounds client slots (and so the lease table the shards share).
  RouteSnapshotBuilder(HubPolicy policy, uint32_t client_capacity);

  absl::Status AddClient(uint32_t slot, const ClientSpec& spec);
  absl::StatusOr<uint32_t> AddPeer(const PeerSpec& spec);
  // Client `slot` hears and speaks `tg` on timeslot `ts`.
  absl::Status Subscribe(uint32_t slot, unsigned ts, uint32_t tg, MemberKind kind,
                         TimeNs ua_expires_at = 0);
  // Dial-a-TG: client `slot` is linked to `tg`, heard and spoken as TG 9 on TS2 (0 unlinks).
  absl::Status SetDial(uint32_t slot, uint32_t tg);
  void AddSubscriberLocation(uint32_t rf_src, uint32_t client_slot, unsigned ts);
  // Opaque bytes for the control plane (RouteSnapshot::control_state); replaces earlier ones.
  void SetControlState(std::span<const uint8_t> bytes);

  absl::StatusOr<std::shared_ptr<const RouteSnapshot>> Build(uint64_t generation);

 private:
  struct Member {
    uint32_t slot;
    uint8_t ts;
    uint32_t tg_on_client;
  };
  // Allocated through the snapshot memory hooks from the start; the tables below are the
  // mutable working copies, frozen into it by Build().
  std::unique_ptr<RouteSnapshot> snap_;
  absl::flat_hash_map<uint32_t, uint32_t> client_by_id_;
  absl::flat_hash_map<uint32_t, uint32_t> client_by_prefix_;
  absl::flat_hash_set<uint64_t> membership_;
  absl::flat_hash_map<uint64_t, TimeNs> ua_expiry_;
  absl::flat_hash_map<uint32_t, RouteSnapshot::Location> subscribers_;
  absl::flat_hash_map<uint32_t, std::vector<Member>> members_by_tg_;
  bool built_ = false;
};

}  // namespace dmrswitch::route
