// RouteSnapshot: the immutable view of clients, peers, policy and subscriptions that shards route
// with (DESIGN.md §3, §6). The control plane owns the state behind it and publishes a new
// generation whenever it changes; a shard never mutates a snapshot.
//
// Routing model. FreeDMR's bridges become *conferences*, one per talkgroup: the set of
// (client, timeslot, TG-on-that-client) members that hear TG N. Every OpenBridge/FBP peer is a
// destination of every conference (subject to the peer's scope and ACLs). A client is a member by
// a static TG (config or RPTO options), a user-activated TG (timer), or a dial-a-TG link (heard
// and spoken as TG 9 on TS2). FreeDMR's "#N" and "N" bridges are one conference here, so one copy
// per destination holds by construction (PROTOCOL.md Part A §2).
//
// Generations share pieces. A snapshot is a small root that points at immutable pieces: the
// policy, the peer table, one chunk per 64 client slots (clients, their memberships and their
// restart records), and partitions of the lookup tables (client IDs, ID prefixes, conferences,
// subscriber locations), each conference an object of its own. The builder (RouteSnapshotBuilder)
// is persistent: it rebuilds only the pieces a change touched and shares the rest with the
// previous generation, so a login or a subscription change costs the pieces of that client and
// its talkgroups, not the whole hub (docs/benchmarks.md: 10,000 clients, 200,000 subscribers).
// A shard that switches generations re-resolves only the streams whose conference, peer table,
// policy or (dial-routed) source client piece changed: unrelated calls are not touched.
//
// Memory. The control-plane process builds a snapshot and the packet-plane process reads it through
// a raw pointer (DESIGN.md §6): every root and piece, and every container reachable from them,
// allocates through the snapshot memory hooks (shared_memory.h), tables are FrozenMaps
// (frozen_map.h), and no type in it has virtual functions. Pieces are counted by the roots that
// use them (on the control plane's thread only: shards never count, allocate or free); a piece is
// freed with the last root that uses it. The builder's working tables stay on the ordinary heap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
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
#include "ebpf/steer_common.h"

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
  bool operator==(const HubPolicy&) const = default;
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
  // The login this entry belongs to (HbpAuth: the login time): a new one, even from the same
  // address into the same slot, starts the client's liveness and keepalive count afresh.
  uint64_t session = 0;
  bool use_acl = false;
  Acl sub_acl;
  Acl tg_acl[2];
  bool operator==(const ClientSpec&) const = default;
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
  bool operator==(const PeerSpec&) const = default;
};

struct ClientInfo {
  bool present = false;
  uint32_t id = 0;
  Endpoint addr;
  uint8_t slot_mask = 3;
  uint32_t dial_tg = 0;  // dial-a-TG link (0 = none)
  bool fixed = false;    // ClientSpec::fixed
  uint64_t session = 0;  // ClientSpec::session
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

// One client destination of a conference: everything the fanout needs, without chasing pointers.
struct Destination {
  SystemRef to;
  uint8_t ts = kTs1;         // timeslot on the destination
  uint32_t tg = 0;           // TG on the destination
  uint32_t repeater_id = 0;  // its own ID (bytes 11..14 of what it receives)
  Endpoint addr;
};

enum class MemberKind : uint8_t { kStatic, kUserActivated, kDial };

// --- Pieces: immutable, shared by the generations that use them -----------------------------

// Allocated and freed through the snapshot memory hooks (class operator new/delete), so that
// another process reads them at the same address. `refs` counts the roots (or, for a Conference,
// the conference partitions) that use the piece; only the control plane's thread touches it.
// `owner` is the owner (shared_memory.h) of the piece and of everything it allocated: the
// builder makes each piece in a SnapshotOwnerScope of its own.
struct SnapshotPiece {
  static void* operator new(size_t bytes) { return AllocateSnapshotBytes(bytes, 64); }
  static void operator delete(void* p, size_t bytes) { FreeSnapshotBytes(p, bytes, 64); }
  mutable uint32_t refs = 0;
  const uint64_t owner = CurrentSnapshotOwner();
};

struct PolicyPiece : SnapshotPiece {
  HubPolicy policy;
};

struct PeerTable : SnapshotPiece {
  SnapshotVector<PeerInfo> peers;
  SnapshotVector<SnapshotVector<uint32_t>> by_listener;  // listener -> peer indices
};

// A membership's kind and, for a user-activated one, its expiry.
struct MemberEntry {
  TimeNs ua_expires_at = 0;
  MemberKind kind = MemberKind::kStatic;
};

inline constexpr uint32_t kClientChunkSlots = 64;

// Client slots [64 i, 64 i + 64): the clients, their memberships (as IsMember answers them) and
// the control plane's restart record of each (bytes the packet plane never reads).
struct ClientChunk : SnapshotPiece {
  ClientInfo clients[kClientChunkSlots];
  FrozenMap<uint64_t, MemberEntry> members;  // RouteSnapshot::MemberKey -> entry
  SnapshotVector<uint8_t> restart[kClientChunkSlots];
};

struct Conference : SnapshotPiece {
  uint32_t tg = 0;
  SnapshotVector<Destination> members;  // clients, by slot then timeslot
};

struct IdPart : SnapshotPiece {
  FrozenMap<uint32_t, uint32_t> slots;  // ID (or 7-digit prefix) -> client slot
};
struct ConferencePart : SnapshotPiece {
  FrozenMap<uint32_t, const Conference*> by_tg;  // only TGs with members
};

// Where a subscriber was last heard (private calls and unit data, PROTOCOL.md Part A §9, §3.8):
// a client slot and the timeslot it was heard on, or an OpenBridge/FBP peer.
struct Location {
  SystemRef at;
  uint8_t ts = kTs1;    // clients: the timeslot; peers: as received (not used for routing)
  TimeNs heard_at = 0;  // monotonic; the control plane ages locations out
  bool operator==(const Location&) const = default;
};
struct SubscriberPart : SnapshotPiece {
  FrozenMap<uint32_t, Location> by_rf_src;
};

// The root of one generation.
class RouteSnapshot {
 public:
  static constexpr uint32_t kIdParts = 256;
  static constexpr uint32_t kConferenceParts = 256;
  static constexpr uint32_t kSubscriberParts = 1024;
  static uint32_t PartOf(uint32_t key, uint32_t parts) {
    return dmrswitch_mix32(key) & (parts - 1);
  }

  static void* operator new(size_t bytes) {
    return AllocateSnapshotBytes(bytes, alignof(RouteSnapshot));
  }
  static void operator delete(void* p, size_t bytes) {
    FreeSnapshotBytes(p, bytes, alignof(RouteSnapshot));
  }
  // Releases the pieces; frees those no other root uses (control plane only).
  ~RouteSnapshot();
  RouteSnapshot(const RouteSnapshot&) = delete;
  RouteSnapshot& operator=(const RouteSnapshot&) = delete;

  uint64_t generation() const { return generation_; }
  const HubPolicy& policy() const { return policy_->policy; }

  uint32_t client_capacity() const { return client_capacity_; }
  const ClientInfo* client(uint32_t slot) const {
    if (slot >= client_capacity_) return nullptr;
    const ClientChunk* c = clients_[slot / kClientChunkSlots];
    if (c == nullptr) return nullptr;
    const ClientInfo& info = c->clients[slot % kClientChunkSlots];
    return info.present ? &info : nullptr;
  }
  // Client slot by DMR/repeater ID, or -1.
  int64_t FindClient(uint32_t id) const { return Lookup(id_parts_, kIdParts, id); }
  std::span<const PeerInfo> peers() const { return peers_->peers; }
  // The peers served on `listener` (indices into peers()), in index order. Several peers on one
  // listener are told apart by their source address (their target).
  std::span<const uint32_t> PeersOn(uint32_t listener) const {
    if (listener >= peers_->by_listener.size()) return {};
    return peers_->by_listener[listener];
  }

  // The client members of `tg`'s conference (an empty conference if no client subscribes).
  const Conference& FindConference(uint32_t tg) const {
    const ConferencePart* part = conferences_[PartOf(tg, kConferenceParts)];
    if (part == nullptr) return *no_members_;
    const Conference* const* conf = part->by_tg.find(tg);
    return conf == nullptr ? *no_members_ : **conf;
  }
  bool IsMember(uint32_t client_slot, unsigned ts, uint32_t tg) const {
    return FindMember(client_slot, ts, tg) != nullptr;
  }

  const Location* FindSubscriber(uint32_t rf_src) const {
    const SubscriberPart* part = subscribers_[PartOf(rf_src, kSubscriberParts)];
    return part == nullptr ? nullptr : part->by_rf_src.find(rf_src);
  }
  // A client whose ID is `id` or whose 9-digit ID starts with the 7-digit `id`.
  int64_t FindClientByPrefix(uint32_t id) const { return Lookup(prefix_parts_, kIdParts, id); }

  // Expiry of a user-activated membership (0 = none), for the control plane's timers.
  TimeNs UaExpiry(uint32_t client_slot, unsigned ts, uint32_t tg) const {
    const MemberEntry* e = FindMember(client_slot, ts, tg);
    return e != nullptr && e->kind == MemberKind::kUserActivated ? e->ua_expires_at : 0;
  }

  // What a stream's route was resolved from, so that a shard switching generations re-resolves
  // only the streams whose inputs changed (pointer identity: a piece shared with the previous
  // generation is the same object).
  const void* policy_piece() const { return policy_; }
  const void* peer_table() const { return peers_; }
  const void* client_chunk_of(uint32_t slot) const {
    return slot < client_capacity_ ? clients_[slot / kClientChunkSlots] : nullptr;
  }
  uint32_t client_chunks() const { return static_cast<uint32_t>(clients_.size()); }
  const ClientChunk* client_chunk(uint32_t i) const { return clients_[i]; }

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
    for (uint32_t i = 0; i < clients_.size(); ++i) {
      if (clients_[i] == nullptr) continue;
      for (const auto& e : clients_[i]->members) fn(MembershipOf(e.key, e.value));
    }
  }
  // Calls fn(uint32_t rf_src, const Location&) for every subscriber location, in no particular
  // order.
  template <class Fn>
  void ForEachSubscriber(Fn&& fn) const {
    for (const SubscriberPart* part : subscribers_) {
      if (part == nullptr) continue;
      for (const auto& entry : part->by_rf_src) fn(entry.key, entry.value);
    }
  }
  // Calls fn(uint32_t slot, std::span<const uint8_t>) for every client with a restart record.
  template <class Fn>
  void ForEachClientRestartRecord(Fn&& fn) const {
    for (uint32_t i = 0; i < clients_.size(); ++i) {
      if (clients_[i] == nullptr) continue;
      for (uint32_t k = 0; k < kClientChunkSlots; ++k) {
        if (clients_[i]->clients[k].present && !clients_[i]->restart[k].empty()) {
          fn(i * kClientChunkSlots + k, std::span<const uint8_t>(clients_[i]->restart[k]));
        }
      }
    }
  }
  // Bytes the control plane stored with RouteSnapshotBuilder::SetControlState (its own restart
  // state); the packet plane never reads them.
  std::span<const uint8_t> control_state() const { return control_state_; }

  static uint64_t MemberKey(uint32_t client_slot, unsigned ts, uint32_t tg) {
    return (uint64_t{client_slot} << 32) | (uint64_t{ts & 1} << 24) | (tg & 0xFFFFFF);
  }

  // A restarted control plane adopts the generations its predecessor left: the pieces' counts
  // are recomputed from the roots (a predecessor killed mid-build may have left them wrong).
  static void RecountPieces(std::span<const RouteSnapshot* const> roots);
  // The owners (shared_memory.h) of `roots` and of every piece they use: whatever else a killed
  // predecessor allocated (a generation it never recorded, what it was freeing) is garbage.
  static absl::flat_hash_set<uint64_t> LiveOwners(std::span<const RouteSnapshot* const> roots);
  uint64_t owner() const { return owner_; }

 private:
  friend class RouteSnapshotBuilder;
  RouteSnapshot() = default;

  template <class Part>
  static int64_t Lookup(const SnapshotVector<const Part*>& parts, uint32_t n, uint32_t key) {
    const Part* part = parts[PartOf(key, n)];
    if (part == nullptr) return -1;
    const uint32_t* slot = part->slots.find(key);
    return slot == nullptr ? -1 : int64_t{*slot};
  }
  const MemberEntry* FindMember(uint32_t slot, unsigned ts, uint32_t tg) const {
    if (slot >= client_capacity_) return nullptr;
    const ClientChunk* c = clients_[slot / kClientChunkSlots];
    return c == nullptr ? nullptr : c->members.find(MemberKey(slot, ts, tg));
  }
  Membership MembershipOf(uint64_t key, const MemberEntry& e) const;
  // Takes a reference to every piece (a new root), or gives them back (its destruction).
  void Retain() const;
  // fn(piece) for every piece this root points at (the conference partitions, not the
  // conferences in them), as the piece's own type.
  template <class Fn>
  void ForEachPiece(Fn&& fn) const {
    const auto each = [&](const auto& pieces) {
      for (const auto* p : pieces) {
        if (p != nullptr) fn(p);
      }
    };
    if (policy_ != nullptr) fn(policy_);
    if (peers_ != nullptr) fn(peers_);
    if (no_members_ != nullptr) fn(no_members_);
    each(clients_);
    each(id_parts_);
    each(prefix_parts_);
    each(conferences_);
    each(subscribers_);
  }

  uint64_t owner_ = CurrentSnapshotOwner();
  uint64_t generation_ = 0;
  uint32_t client_capacity_ = 0;
  const PolicyPiece* policy_ = nullptr;
  const PeerTable* peers_ = nullptr;
  const Conference* no_members_ = nullptr;
  SnapshotVector<const ClientChunk*> clients_;
  SnapshotVector<const IdPart*> id_parts_;
  SnapshotVector<const IdPart*> prefix_parts_;
  SnapshotVector<const ConferencePart*> conferences_;
  SnapshotVector<const SubscriberPart*> subscribers_;
  SnapshotVector<uint8_t> control_state_;
};

// Another process reads these through the snapshot: a vtable pointer would be an address in the
// builder's image (shared_memory.h).
static_assert(!std::is_polymorphic_v<RouteSnapshot> && !std::is_polymorphic_v<HubPolicy> &&
              !std::is_polymorphic_v<ClientInfo> && !std::is_polymorphic_v<PeerInfo> &&
              !std::is_polymorphic_v<Conference> && !std::is_polymorphic_v<Destination> &&
              !std::is_polymorphic_v<ClientChunk> && !std::is_polymorphic_v<Acl> &&
              !std::is_polymorphic_v<proto::HmacSha1> &&
              !std::is_polymorphic_v<proto::Blake2bMac128>);

// One membership as the control plane's subscriptions give it.
struct MemberSpec {
  uint8_t ts = kTs1;
  uint32_t tg = 0;
  MemberKind kind = MemberKind::kStatic;  // kStatic or kUserActivated
  TimeNs ua_expires_at = 0;
  bool operator==(const MemberSpec&) const = default;
};

// Builds generations from the control plane's state. Persistent: each call changes the working
// state and marks what it touched; Build() makes a new generation that shares every untouched
// piece with the previous one. Every method validates its input and names what is wrong.
class RouteSnapshotBuilder {
 public:
  static constexpr uint32_t kMaxPeers = PeerSet::kMaxPeers;

  // `client_capacity` bounds client slots (and so the lease table the shards share).
  RouteSnapshotBuilder(HubPolicy policy, uint32_t client_capacity);
  // The memory the builder's per-slot table for `client_capacity` takes (before any client).
  static uint64_t BytesFor(uint32_t client_capacity);
  ~RouteSnapshotBuilder();
  RouteSnapshotBuilder(const RouteSnapshotBuilder&) = delete;
  RouteSnapshotBuilder& operator=(const RouteSnapshotBuilder&) = delete;

  void SetPolicy(HubPolicy policy);

  // Clients. AddClient refuses a slot or an ID in use; SetClient replaces whatever is in the slot
  // (its memberships stay unless the ID changed); RemoveClient empties it.
  absl::Status AddClient(uint32_t slot, const ClientSpec& spec);
  absl::Status SetClient(uint32_t slot, const ClientSpec& spec);
  void RemoveClient(uint32_t slot);
  // The control plane's restart record of the client in `slot` (RouteSnapshot::
  // ForEachClientRestartRecord); cleared when the slot empties.
  void SetClientRestart(uint32_t slot, std::span<const uint8_t> bytes);

  // Peers: AddPeer appends one; SetPeers replaces them all (indices follow the vector).
  absl::StatusOr<uint32_t> AddPeer(const PeerSpec& spec);
  absl::Status SetPeers(std::span<const PeerSpec> peers);

  // Client `slot` hears and speaks `tg` on timeslot `ts` (added to its memberships).
  absl::Status Subscribe(uint32_t slot, unsigned ts, uint32_t tg, MemberKind kind,
                         TimeNs ua_expires_at = 0);
  // Dial-a-TG: client `slot` is linked to `tg`, heard and spoken as TG 9 on TS2 (0 unlinks).
  absl::Status SetDial(uint32_t slot, uint32_t tg);
  // Replaces all memberships of client `slot` and its dial link.
  absl::Status SetMemberships(uint32_t slot, std::span<const MemberSpec> members, uint32_t dial_tg);

  // `rf_src` was last heard at `at` (a client slot or a peer index), on timeslot `ts`.
  void AddSubscriberLocation(uint32_t rf_src, SystemRef at, unsigned ts, TimeNs heard_at = 0);
  void AddSubscriberLocation(uint32_t rf_src, uint32_t client_slot, unsigned ts,
                             TimeNs heard_at = 0) {
    AddSubscriberLocation(rf_src, SystemRef::Client(client_slot), ts, heard_at);
  }
  void RemoveSubscriberLocation(uint32_t rf_src);
  // Opaque bytes for the control plane (RouteSnapshot::control_state); replaces earlier ones.
  void SetControlState(std::span<const uint8_t> bytes);

  // A new generation: the previous one's pieces where nothing changed, new ones elsewhere.
  absl::StatusOr<std::shared_ptr<const RouteSnapshot>> Build(uint64_t generation);
  // Something changed since the last Build.
  bool dirty() const;

  // What the last Build rebuilt (benchmarks and tests).
  struct BuildStats {
    uint32_t client_chunks = 0;
    uint32_t id_parts = 0;
    uint32_t conference_parts = 0;
    uint32_t conferences = 0;
    uint32_t subscriber_parts = 0;
    bool peers = false;
    bool policy = false;
  };
  const BuildStats& last_build() const { return stats_; }

 private:
  struct ConfMember {
    uint32_t slot;
    uint8_t ts;
    uint32_t tg_on_client;
    auto operator<=>(const ConfMember&) const = default;
  };
  struct Slot {
    ClientInfo info;  // info.present: a client is here
    std::vector<uint8_t> restart;
    std::vector<MemberSpec> members;
    uint32_t dial = 0;
    // (conference TG, member) pairs this client is in now, as last entered into members_by_tg_.
    std::vector<std::pair<uint32_t, ConfMember>> in_conferences;
  };
  struct PrefixEntry {
    int64_t exact = -1;           // slot of the client with exactly this ID
    std::set<uint32_t> prefixed;  // slots of 9-digit IDs with this 7-digit prefix
  };

  absl::Status CheckSlot(uint32_t slot) const;
  void MarkClient(uint32_t slot);
  void IndexId(uint32_t id, uint32_t slot, bool add);
  // Recomputes the conferences client `slot` is in, marking the TGs whose members change.
  void UpdateConferences(uint32_t slot);
  void MarkConference(uint32_t tg);

  const ClientChunk* BuildClientChunk(uint32_t chunk) const;
  const IdPart* BuildIdPart(uint32_t part) const;
  const IdPart* BuildPrefixPart(uint32_t part) const;
  const ConferencePart* BuildConferencePart(uint32_t part, const ConferencePart* previous);
  const SubscriberPart* BuildSubscriberPart(uint32_t part) const;
  const PeerTable* BuildPeerTable() const;
  // Fills `root` (made in its own owner scope) with the pieces of a new generation.
  void BuildInto(RouteSnapshot& root, const RouteSnapshot* prev, uint64_t generation);

  uint32_t capacity_;
  HubPolicy policy_;
  std::vector<PeerSpec> peers_;
  std::vector<Slot> slots_;
  std::vector<absl::flat_hash_map<uint32_t, uint32_t>> ids_;  // by part: ID -> slot
  std::vector<absl::flat_hash_set<uint32_t>> tgs_;  // by conference part: TGs with members
  std::vector<absl::flat_hash_map<uint32_t, PrefixEntry>> prefixes_;  // by part
  absl::flat_hash_map<uint32_t, std::set<ConfMember>> members_by_tg_;
  std::vector<absl::flat_hash_map<uint32_t, Location>> locations_;  // by part
  std::vector<uint8_t> control_state_;

  // What changed since the last Build.
  bool policy_dirty_ = true;
  bool peers_dirty_ = true;
  bool control_dirty_ = true;
  absl::flat_hash_set<uint32_t> dirty_chunks_;
  absl::flat_hash_set<uint32_t> dirty_id_parts_;
  absl::flat_hash_set<uint32_t> dirty_prefix_parts_;
  absl::flat_hash_set<uint32_t> dirty_tgs_;
  absl::flat_hash_set<uint32_t> dirty_subscriber_parts_;

  // The last generation built: its pieces are what the next one shares.
  std::shared_ptr<const RouteSnapshot> last_;
  BuildStats stats_;
};

}  // namespace dmrswitch::route
