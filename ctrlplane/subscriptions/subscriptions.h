// Subscriptions: who hears which talkgroup (PROTOCOL.md §3.2-3.5, docs/routing.md). The control
// plane feeds it logins, options strings and the shards' events, and asks it to add its
// memberships to each new RouteSnapshot. Pure: the time is an argument, nothing here has sockets,
// threads or clocks. No voice announcements are generated (no "linked to"/"not linked" prompts,
// no ident, no on-demand playback); VOICE/IDENTTG/LANG are only stored and reported.
//
// Per logged-in client (keyed by client ID, with its snapshot slot index):
// * config statics ([[hbp.static]]) and option statics (TS1=/TS2=); options add to the config
//   statics, and a new TS1=/TS2= replaces the previous option statics of that slot;
// * user-activated (UA) TGs with an expiry: a group call by a non-member on a user-activatable TG
//   (SubscriptionRequest/kActivateUa) activates it for the UA timer; traffic on it extends it;
// * one dial-a-TG link on TS2 (heard and spoken as TG 9). The DIAL= default is permanent; a link
//   dialled by a private call to N has the UA timer, and when it expires or is dropped the default
//   comes back ("auto-relink"). Dialling the default TG itself gives it back permanently.
// * single mode (FreeDMR SINGLE_MODE): a group call on TG X on slot s drops the client's other UA
//   TGs on s (and a dialled link when s is TS2) and suspends its statics on s other than X (and,
//   on TS2, the DIAL= default unless it is X) for the UA timer, counted again from each further
//   call on s. When the suspension ends the statics return. A call on a suspended static X is
//   requested by the shard as a UA activation; it lifts X (X becomes the slot's TG in use).
// * the UA timer (settings, TIMER= overrides; 0 = never expires) and single mode (settings,
//   SINGLE= overrides).
//
// Decisions:
// * Traffic triggers (UA timer extension and the single-mode rules) fire at kStreamEnded, and
//   also at kStreamStarted and kStreamLost when activate_on = start (then a long call cannot
//   outlive its own UA membership). With activate_on = end they fire at the terminator only, as
//   in FreeDMR; the shard then sends the activation after the terminator too.
// * Single mode follows the call that *started* last on a slot, not the event that arrived last.
//   A client's consecutive calls may be handled by different shards, and a lagging shard can
//   report the end of the earlier call after the next call has started; such a stale trigger
//   still extends timers but no longer applies single mode (which would drop the newer call's
//   TG), and with single mode on a stale activation is ignored, as the newer call would have
//   dropped it. Start order comes from the kStreamStarted events' shard timestamps.
// * 4000 (kUnlink) removes the dial link, and the DIAL= default stays unlinked until the next
//   successfully applied options string, the next login, or until the user dials it again
//   (FreeDMR instead relinks it after the UA timer).
// * DIAL= in an options string sets the default and links it at once, replacing a dialled link;
//   DIAL=0 removes the link. TIMER= applies to activations and extensions from then on.
// * UA timers are extended by traffic on the TG (on that slot); a dialled link by traffic on it
//   (TG 9 on TS2, or the linked TG itself on TS2). Calls on TGs that cannot be subscribed
//   (route::IsUserActivatableTg false) change nothing.
// * The KEY latch lives as long as the client's session: the first KEY= of a session latches it,
//   and later options strings of that session must carry the same key. The latch ends when the
//   session does (logout, lost keepalives, a new login of the ID), so nobody who once knew the
//   shared passphrase can lock the owner of an ID out of its options. ForgetKey() clears it.
// * Memberships on a timeslot the client did not declare (slot_mask) are not subscribed; each
//   such static is warned about once per login.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "ctrlplane/subscriptions/options.h"
#include "dataplane/proto/crypto.h"
#include "dataplane/route/events.h"
#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/types.h"

namespace dmrswitch::cp {

// Static TGs by timeslot index (route::kTs1, route::kTs2).
using TgsBySlot = std::array<std::vector<uint32_t>, 2>;

// "Never": the expiry of a timer that does not run out.
inline constexpr route::TimeNs kNever = std::numeric_limits<route::TimeNs>::max();

// Most UA TGs one client may hold; activating one more drops the one that expires first.
inline constexpr size_t kMaxUaPerClient = 64;

struct SubscriptionSettings {
  route::TimeNs default_ua_timer = 10 * 60 * route::kSec;  // 0 = UA TGs never expire
  bool single_mode = true;
  route::ActivateOn activate_on = route::ActivateOn::kStart;
  absl::flat_hash_map<uint32_t, TgsBySlot> statics;  // [[hbp.static]] by client ID
};

struct UaMembership {
  uint8_t ts = 0;
  uint32_t tg = 0;
  route::TimeNs expires_at = 0;  // kNever: no timeout
  bool operator==(const UaMembership&) const = default;
};

// Single mode: the slot's statics other than `except_tg` are off until `until` (0 = none).
struct Suspension {
  route::TimeNs until = 0;
  uint32_t except_tg = 0;
  bool operator==(const Suspension&) const = default;
};

enum class DialKind : uint8_t { kNone, kDefault, kDialled };

// Read side (reporting, API).
struct ClientView {
  uint32_t id = 0;
  uint32_t slot = 0;
  uint8_t slot_mask = 3;
  TgsBySlot config_statics;  // valid ones, sorted
  TgsBySlot option_statics;  // sorted
  TgsBySlot suspended;       // statics not subscribed right now because of single mode
  std::array<Suspension, 2> suspension;
  std::vector<UaMembership> ua;  // sorted by (ts, tg)
  uint32_t dial_tg = 0;          // the effective link (0 = none)
  DialKind dial_kind = DialKind::kNone;
  route::TimeNs dial_expires_at = 0;  // kNever for a permanent link, 0 when none
  uint32_t default_dial = 0;          // DIAL=
  bool default_unlinked = false;      // 4000 was dialled since the last options string/login
  bool single_mode = true;            // effective
  route::TimeNs ua_timer = 0;         // effective, 0 = never
  std::optional<bool> voice;
  std::optional<uint32_t> ident_tg;
  std::optional<std::string> lang;
  bool key_latched = false;
  bool operator==(const ClientView&) const = default;
};

// Input of Restore(): what a client's subscriptions can be rebuilt from. Export() produces it
// exactly; from a published RouteSnapshot a caller can fill id/slot/slot_mask (client()),
// dial_tg (ClientInfo::dial_tg) and members (ForEachMembership: static and user-activated ones).
// Unknown fields keep their defaults.
struct RestoredMember {
  uint8_t ts = 0;
  uint32_t tg = 0;
  route::TimeNs ua_expires_at = 0;  // 0 = static; kNever = UA without timeout
  bool operator==(const RestoredMember&) const = default;
};
struct RestoredClient {
  uint32_t id = 0;
  uint32_t slot = 0;
  uint8_t slot_mask = 3;
  // An options string applied first without the KEY check (it latches a KEY if none is): the
  // client's last RPTO if the caller kept it; Export() writes a canonical one.
  std::string options;
  std::vector<RestoredMember> members;  // statics that are not config statics = option statics
  uint32_t dial_tg = 0;
  // 0: dial_tg is the DIAL= default (permanent); else the dialled link's expiry (kNever: none).
  route::TimeNs dial_expires_at = 0;
  bool default_unlinked = false;
  std::array<Suspension, 2> suspension;
  bool operator==(const RestoredClient&) const = default;
};

class Subscriptions {
 public:
  // A latched options KEY and its digest (compared in constant time).
  struct LatchedKey {
    std::string key;
    std::array<uint8_t, proto::kSecretDigestBytes> digest{};
    static LatchedKey Of(std::string key) {
      LatchedKey k;
      k.digest = proto::SecretDigest(key);
      k.key = std::move(key);
      return k;
    }
  };

  explicit Subscriptions(SubscriptionSettings settings);

  // Replaces the settings (configuration reload): config statics, defaults and activate_on
  // apply to logged-in clients at once; options overrides stay.
  void UpdateSettings(SubscriptionSettings settings);
  const SubscriptionSettings& settings() const { return settings_; }

  // A client logged in (RPTC accepted) in snapshot slot `slot`. A client already up is reset as
  // if it had logged out first; a different client recorded in the same slot is dropped.
  void OnClientUp(uint32_t id, uint32_t slot, uint8_t slot_mask, route::TimeNs now);
  // Forgets the client's dynamic state; its config statics return at its next login.
  void OnClientDown(uint32_t id);

  // Applies an options string (PROTOCOL.md §3.4). Parse warnings and slot_mask warnings are
  // appended to `warnings` (may be null: then they wait in TakeWarnings()). Errors, after which
  // nothing has changed: NotFound (client not up), InvalidArgument (oversized string),
  // PermissionDenied (the string lacks the latched KEY or carries another one).
  // `from` = kOperator (the JSON API, its caller authenticated): no KEY check, and a KEY= in the
  // string is ignored (the latch is the hotspot's own, from its RPTO).
  enum class OptionsFrom : uint8_t { kClient, kOperator };
  absl::Status ApplyOptions(uint32_t id, std::string_view options, route::TimeNs now,
                            std::vector<std::string>* warnings,
                            OptionsFrom from = OptionsFrom::kClient);

  // Drops the client's user-activated TGs on the slots of `ts_mask` (bit route::kTs1/kTs2), and
  // on TS2 a dialled link (the DIAL= default stays): BrandMeister's dropDynamicGroups.
  // NotFound if the client is not logged in.
  absl::Status DropDynamic(uint32_t id, uint8_t ts_mask);

  // Shard events. Events from peers, unknown clients, or a client ID/slot pair that does not
  // match the current login are ignored. kStatus and kRejectDial change nothing.
  void OnEvent(const route::Event& e, route::TimeNs now);

  // Ends UA memberships, dialled links and suspensions due at `now`. True if memberships or dial
  // links changed (also flagged for TakeChanged()).
  bool Expire(route::TimeNs now);
  // Earliest pending expiry, kNever if none.
  route::TimeNs NextExpiry() const;

  // True once after any change of memberships or dial links (a new snapshot is needed).
  // Clears the timers flag too: a snapshot built now carries the current expiries.
  bool TakeChanged();
  // True once after timers (UA expiries, a dialled link's, a suspension's) moved without a
  // membership change (the published snapshot's UaExpiry may be stale; republishing can wait).
  bool TakeTimersChanged();
  // Warnings produced outside ApplyOptions (invalid or undeclared-slot config statics).
  std::vector<std::string> TakeWarnings();

  // Clients whose memberships or dial link changed (or who logged in or out) since the last call:
  // the routing snapshot's pieces of these clients, and nobody else's, need rebuilding.
  std::vector<uint32_t> TakeChangedClients();
  // Clients whose timers moved without a membership change since the last call: a UA TG's
  // expiry, a dialled link's, a single-mode suspension's (traffic extends them). Their restart
  // records and the snapshot's expiries are stale; the caller may batch these.
  std::vector<uint32_t> TakeTimerChangedClients();
  // A logged-in client's memberships as the routing snapshot takes them (statics with expiry 0),
  // and its dial link. nullopt: not logged in.
  struct Memberships {
    std::vector<route::MemberSpec> members;
    uint32_t dial_tg = 0;
  };
  std::optional<Memberships> MembershipsOf(uint32_t id) const;

  // Subscribe()s and SetDial()s every logged-in client's memberships as they are at this moment.
  // The caller has added the clients (same slots) to `b`; errors name the client.
  absl::Status AddTo(route::RouteSnapshotBuilder* b) const;

  bool IsUp(uint32_t id) const { return clients_.contains(id); }
  size_t client_count() const { return clients_.size(); }
  std::optional<ClientView> View(uint32_t id) const;
  std::vector<ClientView> Views() const;  // sorted by client ID

  // Whether ApplyOptions would accept `options` for `id`, without applying them: the string
  // parses, and within a running session (not `new_session`: a login's own RPTO) it carries the
  // latched KEY if one is.
  absl::Status CheckOptions(uint32_t id, std::string_view options, bool new_session) const;
  // The user API may authenticate with the options key: true if `key` is the latched key.
  // Compared in constant time (proto::SecretEqual).
  bool CheckKey(uint32_t id, std::string_view key) const;
  // Whether `key` is the latched key of any logged-in client (tells "a hotspot's key, for
  // another hotspot" from "no valid credential at all").
  bool IsAnyKey(std::string_view key) const;
  void ForgetKey(uint32_t id);

  // Rebuilds clients (each is logged in anew, replacing any current state of that ID). Config
  // statics come from the settings; expired entries are dropped by the next Expire().
  void Restore(std::span<const RestoredClient> clients, route::TimeNs now);
  std::vector<RestoredClient> Export() const;  // sorted by client ID
  std::optional<RestoredClient> ExportClient(uint32_t id) const;

 private:
  struct Ua {
    uint8_t ts;
    uint32_t tg;
    route::TimeNs expires_at;
  };
  struct RecentStream {
    uint32_t stream_id = 0;
    route::TimeNs start = 0;
  };
  static constexpr size_t kRecentStreams = 4;
  struct Client {
    uint32_t id = 0;
    uint32_t slot = 0;
    uint8_t slot_mask = 3;
    TgsBySlot config_statics;
    TgsBySlot option_statics;
    std::optional<route::TimeNs> ua_timer;  // TIMER= (0 = never)
    std::optional<bool> single;             // SINGLE=
    std::optional<bool> voice;
    std::optional<uint32_t> ident_tg;
    std::optional<std::string> lang;
    std::array<Suspension, 2> suspension;
    std::vector<Ua> ua;
    uint32_t default_dial = 0;
    bool default_unlinked = false;
    uint32_t dialled_tg = 0;
    route::TimeNs dialled_expires_at = 0;
    std::vector<uint64_t> warned;  // (ts, tg) already warned about for slot_mask
    // The streams this client started last on each slot (kStreamStarted), to tell a stale
    // trigger from the current call's (see "Single mode follows the call that started last").
    std::array<std::array<RecentStream, kRecentStreams>, 2> recent{};
  };
  // What AddTo emits for a client: used to tell membership from timer changes.
  struct Effective {
    std::vector<UaMembership> members;  // statics have expires_at 0
    uint32_t dial = 0;
  };

  route::TimeNs UaTimer(const Client& c) const;
  bool SingleMode(const Client& c) const;
  static bool IsStatic(const Client& c, unsigned ts, uint32_t tg);
  static bool IsSuspended(const Client& c, unsigned ts, uint32_t tg);
  static uint32_t EffectiveDial(const Client& c, DialKind* kind);
  static Effective EffectiveOf(const Client& c);
  static TgsBySlot MergedStatics(const Client& c);

  Client* Find(const route::Event& e);
  void Reset(Client& c, uint32_t slot, uint8_t slot_mask);
  void SetConfigStatics(Client& c, std::vector<std::string>* warnings);
  void WarnSlotMask(Client& c, std::vector<std::string>* warnings);
  // Runs `f` on `c` and records what changed.
  template <typename F>
  bool Mutate(Client& c, F&& f);

  void Activate(Client& c, unsigned ts, uint32_t tg, route::TimeNs now);
  void Traffic(Client& c, const route::Event& e, route::TimeNs now);
  static void NoteStart(Client& c, const route::Event& e);
  // Whether `e`'s stream started before another stream this client started on the same slot.
  static bool IsStale(const Client& c, const route::Event& e);
  void ApplySingle(Client& c, unsigned ts, uint32_t in_use, route::TimeNs now);
  ClientView ViewOf(const Client& c) const;
  RestoredClient ExportOf(const Client& c) const;

  SubscriptionSettings settings_;
  absl::flat_hash_map<uint32_t, Client> clients_;    // by client ID
  absl::flat_hash_map<uint32_t, uint32_t> by_slot_;  // slot -> client ID
  absl::flat_hash_map<uint32_t, LatchedKey> keys_;   // latched KEY by client ID
  std::vector<std::string> pending_warnings_;
  bool changed_ = false;
  absl::flat_hash_set<uint32_t> changed_clients_;        // TakeChangedClients()
  absl::flat_hash_set<uint32_t> timer_changed_clients_;  // TakeTimerChangedClients()
  bool timers_changed_ = false;
  mutable bool next_expiry_valid_ = false;
  mutable route::TimeNs next_expiry_ = kNever;
};

}  // namespace dmrswitch::cp
