// HbpAuth: the master side of the Homebrew login (PROTOCOL.md §1.5), as a pure state machine of
// the control plane. The packet plane routes DMRD and answers RPTPING of clients that are in the
// published routing snapshot; every other datagram on the HBP listener lands here. Packets and the
// time are inputs, replies are appended to an Outbox, and client changes to a vector the caller
// turns into routing snapshots (DESIGN.md §3: the cp's auth component owns the client table).
//
// Where dmrswitch differs from FreeDMR (PROTOCOL.md Part A):
//  * Anti-spoofing (§6): every packet a client sends after RPTL must come from the address pinned
//    at RPTL. A packet from another address draws MSTNAK (so a client whose NAT mapping changed
//    learns to log in again) and changes nothing.
//  * A second RPTL for a logged-in ID does not end the running session at once: the old session
//    ends when the new login proves the passphrase (a correct RPTK), so an unauthenticated RPTL
//    from anywhere cannot kick a client. The new session then runs from the new address.
//  * Client slots (the index the routing snapshot and the per-slot leases use) are taken at RPTC,
//    not at RPTL: half-open logins never hold a slot, so a flood of RPTLs cannot lock out clients.
//    The RPTL capacity check counts logged-in clients; a known ID may always log in again.
//  * DMRC (MMDVMHost's unauthenticated config) is refused: no reply, counted.
//  * Fixed clients (HbpAuthSettings::fixed_clients, from [[hbp.fixed_client]]) are logged in from
//    construction, at their configured address and slot, and are never removed: not by lost
//    keepalives (OnClientLost), not by RPTCL, not by a re-login. Their ID is reserved: RPTL for it
//    from any other address is answered MSTNAK. From the fixed address a login runs as usual (a
//    real repeater behind a fixed link may log in); at RPTC it updates the record in place (same
//    slot, still fixed) and re-applies its options (the RPTO sent, else the configured ones).
//  * Stateless challenge: nothing is stored and nothing is charged for an RPTL. Its salt is a
//    keyed hash of the source address, the ID and a coarse time (HbpAuthSettings::challenge_epoch),
//    so RPTK is checked by computing the salts again; only a source that received our RPTACK can
//    answer it. A half-open login exists from a correct RPTK on, so spoofed RPTLs — naming a
//    victim's ID or address, or a flood from many addresses — replace, evict or block nothing.
//  * No amplification towards unverified sources: every datagram is answered by at most one, of
//    at most 10 bytes (the shortest request is 8; on Ethernet both are minimum-size frames). RPTCL
//    from an address that is not the session's gets no answer.
//  * Login churn limit on verified sources only: every correct RPTK is charged to its (source IP,
//    client ID); more than `login_burst` within `login_window` blocks that pair for
//    `block_time`: its RPTL and RPTK are not answered. Nothing an unauthenticated packet does is
//    charged, so a spoofer cannot block anyone. Tracked pairs and half-open logins are bounded;
//    a limiter full of blocked pairs admits new pairs untracked (fail open).
//  * Failed logins (bad digest, ACL, full hub, a fixed client's ID from elsewhere, a refused
//    RPTO) and blocks are reported as notices (TakeNotices) for the host to log, rate-limited.
//  * A refused RPTO (HbpAuthSettings::check_options says no) is answered MSTNAK, PROTOCOL.md
//    §1.5's refusal; a refused RPTO during a login also ends that login.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "ctrlplane/datagram.h"
#include "dataplane/proto/bytes.h"
#include "dataplane/proto/crypto.h"
#include "dataplane/proto/hbp.h"
#include "dataplane/route/acl.h"
#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/types.h"

namespace dmrswitch::cp {

// Talker alias fragments and GPS that a client reported (DMRA/DMRG, PROTOCOL.md §1.7) and its
// DMRGateway home position (RPTG). For reporting only: the hub never forwards them.
struct ClientSideInfo {
  uint32_t alias_rf_src = 0;
  std::array<uint8_t, 28> alias{};  // header block (7 bytes) + blocks 1..3
  uint8_t alias_blocks = 0;         // bit b set = block b received for alias_rf_src
  route::TimeNs alias_time = 0;
  uint32_t gps_rf_src = 0;
  std::array<uint8_t, 7> gps{};
  route::TimeNs gps_time = 0;
  std::string home_latitude;  // RPTG, as sent ("%+08.4f")
  std::string home_longitude;
  route::TimeNs home_time = 0;
  bool operator==(const ClientSideInfo&) const = default;
};

// A talker alias that a client's DMRA fragments completed (again each time the radio repeats
// it): reporting names the talker of that client's calls with it.
struct TalkerAliasHeard {
  uint32_t client_id = 0;
  uint32_t rf_src = 0;
  std::string alias;  // printable UTF-8 (proto::dmr::DecodeTalkerAlias)
};

// A logged-in (state YES) client. Text fields are copies of the RPTC fields with trailing spaces
// and NULs removed.
struct ClientRecord {
  uint32_t id = 0;
  uint32_t slot = 0;  // stable client slot in [0, max_clients)
  route::Endpoint addr;
  char slots = '3';       // RPTC slots character
  uint8_t slot_mask = 3;  // proto::RptcSlotMask(slots)
  std::string callsign;
  std::string rx_freq;
  std::string tx_freq;
  std::string tx_power;
  std::string color_code;
  std::string latitude;
  std::string longitude;
  std::string height;
  std::string location;
  std::string description;
  std::string url;
  std::string software_id;
  std::string package_id;
  std::string options;  // last RPTO (empty if none); fixed clients: the configured options
  route::TimeNs logged_in_at = 0;
  bool fixed = false;  // [[hbp.fixed_client]]: never removed, never timed out
  ClientSideInfo side;

  // What the routing snapshot needs (ACLs are the config's business).
  route::ClientSpec Spec() const;
  bool operator==(const ClientRecord&) const = default;
};

struct HbpAuthSettings {
  std::string passphrase;
  // FreeDMR ALLOW_NULL_PASSPHRASE: with an empty passphrase any RPTK digest is accepted (and so
  // nothing verifies a source: every defence against spoofing here needs a passphrase).
  bool allow_null_passphrase = true;
  route::Acl reg_acl = route::Acl::PermitAll();    // REG_ACL on the client (repeater) ID
  uint32_t max_clients = 64;                       // logged-in clients, and so client slots
  route::TimeNs login_timeout = 30 * route::kSec;  // a half-open login is forgotten after this
  // Challenge salts change every `challenge_epoch`; an RPTK is checked against the salts of the
  // current and the previous epoch, so a salt stays good for one to two epochs.
  route::TimeNs challenge_epoch = 10 * route::kSec;
  // Login churn limit per (source IP, client ID), verified logins only: more than `login_burst`
  // correct RPTKs within `login_window` blocks the pair for `block_time`. 0 disables it.
  uint32_t login_burst = 40;
  route::TimeNs login_window = 60 * route::kSec;
  route::TimeNs block_time = 300 * route::kSec;
  uint32_t max_tracked = 4096;  // (IP, ID) pairs tracked by the churn limit
  uint32_t max_pending = 1024;  // half-open logins (correct RPTK seen, no RPTC yet)
  // Clients logged in by configuration ([[hbp.fixed_client]]): id, addr, slots/slot_mask,
  // callsign, options and the preferred slot. `fixed` is set on them by the constructor.
  std::vector<ClientRecord> fixed_clients;
  // Eviction choices come from a PRNG seeded with `seed`; the challenge key is `challenge_key`
  // (the host passes 32 bytes from the kernel's random source, getrandom(2)) or, when
  // that is unset, derived from `seed` (tests: a fixed one). A key derived from a seed has no more
  // entropy than the seed: never leave it unset outside tests.
  uint64_t seed = 0;
  std::optional<std::array<uint8_t, 32>> challenge_key;
  // Tests: the salt sent to (address, ID) instead of the keyed hash (PROTOCOL.md's test vector).
  std::function<uint32_t(route::Endpoint from, uint32_t id)> salt_source;
  // Whether an RPTO's options would be accepted (not null: the host's subscriptions decide).
  // `new_session`: sent during a login, before RPTC. A non-OK status refuses the RPTO.
  std::function<absl::Status(uint32_t id, std::string_view options, bool new_session)>
      check_options;
};

// A failed login or a block, for the host to log (rate-limited: failures may come from a flood
// of spoofed packets).
struct AuthNotice {
  enum Kind : uint8_t {
    kBadDigest,       // RPTK with a wrong digest (or a salt this address was never sent)
    kAclDenied,       // REG ACL refused the ID
    kFull,            // no free client slot
    kReservedId,      // a fixed client's ID from another address
    kBlocked,         // (IP, ID) blocked for logging in too often; `until` says how long
    kOptionsRefused,  // RPTO refused; `detail` says why
  };
  Kind kind = kBadDigest;
  uint32_t id = 0;
  route::Endpoint addr;
  route::TimeNs until = 0;  // kBlocked
  std::string detail;       // kOptionsRefused
};
// "bad passphrase", "ACL denied", ... (for log lines).
std::string_view AuthNoticeName(AuthNotice::Kind k);

struct AuthChange {
  enum Kind : uint8_t { kClientUp, kClientDown, kOptions };
  Kind kind = kClientUp;
  uint32_t id = 0;
  uint32_t slot = 0;
  route::Endpoint addr;     // kClientUp: the login address
  uint8_t slot_mask = 3;    // kClientUp
  std::string options;      // kClientUp (options sent before RPTC) and kOptions
  const char* reason = "";  // static string: "login", "rptcl", "lost", "relogin", "options", ...
};

// The source IP of an (IP, ID) pair the login churn limit just blocked, for `block_time` from
// `at`. The control plane mirrors it into the XDP shield's block list, which blocks the whole IP
// (the shield has no notion of IDs): only a source that received its challenge and answered it
// correctly gets blocked, so a spoofer cannot get anyone's IP blocked, but other clients behind
// the same NAT address are cut too for as long.
struct SourceBlocked {
  uint32_t ip = 0;
  route::TimeNs at = 0;
  route::TimeNs duration = 0;
  bool v6 = false;  // an IPv6 source (ip is 0): the shield blocks its /64
  std::array<uint8_t, 16> ip6{};
  bool operator==(const SourceBlocked&) const = default;
};

struct HbpAuthCounters {
  uint64_t logins_ok = 0;      // RPTC accepted: client up
  uint64_t challenges = 0;     // RPTACK+salt sent
  uint64_t status_probes = 0;  // RPTL from 0xFFFFFFFF
  uint64_t auth_ok = 0;        // RPTK digest correct
  uint64_t bad_digest = 0;
  uint64_t acl_denied = 0;
  uint64_t full = 0;  // refused: no free client slot
  uint64_t naks_sent = 0;
  uint64_t pongs_sent = 0;
  uint64_t wrong_address = 0;  // packet for a known ID from another address
  uint64_t wrong_state = 0;
  uint64_t unknown_id = 0;
  uint64_t options = 0;          // RPTO accepted
  uint64_t options_refused = 0;  // RPTO refused (MSTNAK)
  uint64_t disconnects = 0;      // RPTCL
  uint64_t lost = 0;             // OnClientLost
  uint64_t kicked = 0;           // Kick (the JSON API)
  uint64_t relogins = 0;         // a running session replaced by a new login
  uint64_t login_timeouts = 0;   // half-open logins expired
  uint64_t pending_evicted = 0;  // half-open logins evicted because the table was full
  uint64_t rate_limited = 0;     // (IP, ID) pairs blocked for login churn
  uint64_t blocked_drops = 0;    // RPTL/RPTK of a blocked pair, not answered
  uint64_t limiter_full = 0;     // verified logins admitted untracked: churn table full
  uint64_t notices_dropped = 0;  // notices not kept: the host did not take them in time
  uint64_t dmrc_refused = 0;
  uint64_t talker_alias = 0;  // DMRA recorded
  uint64_t gps = 0;           // DMRG recorded
  uint64_t positions = 0;     // RPTG recorded
  uint64_t side_unknown = 0;  // DMRA/DMRG/RPTG from no logged-in client
  uint64_t dmrd_dropped = 0;  // DMRD the packet plane did not route (unknown source)
  uint64_t malformed = 0;     // decoder refused the packet
  uint64_t unexpected = 0;    // unknown tag or master-to-client packet

  // (name, value) for exporters, in declaration order.
  std::vector<std::pair<std::string_view, uint64_t>> Named() const;
};

class HbpAuth {
 public:
  explicit HbpAuth(HbpAuthSettings settings);

  // One datagram from the HBP listener.
  void OnPacket(proto::ByteSpan pkt, route::Endpoint from, route::TimeNs now, Outbox* out,
                std::vector<AuthChange>* changes);
  // The packet plane heard nothing from `id` for ping_time × max_missed: MSTCL, remove.
  void OnClientLost(uint32_t id, route::TimeNs now, Outbox* out, std::vector<AuthChange>* changes);
  // The operator ends a client's session (the JSON API's kick): MSTCL, remove. A client logged in
  // again at once (MMDVMHost does after MSTCL). NotFound: not logged in; FailedPrecondition: a
  // fixed client, which is never removed.
  absl::Status Kick(uint32_t id, Outbox* out, std::vector<AuthChange>* changes);
  // Forgets half-open logins older than login_timeout, ended blocks and idle churn entries.
  // Call about once a second.
  void Expire(route::TimeNs now, Outbox* out, std::vector<AuthChange>* changes);
  // Hub stopping: MSTCL to every logged-in client, then forget all state.
  void Shutdown(Outbox* out);
  // A restarted control plane takes its clients back from the last published snapshot. Replaces
  // the client table; a record whose ID repeats is dropped, one whose slot is out of range or
  // taken gets the lowest free slot, and records beyond max_clients are dropped. Fixed clients of
  // the settings are always present afterwards (a restored record of theirs is kept, marked
  // fixed); a record marked fixed whose ID the settings no longer name becomes an ordinary client.
  void Restore(std::vector<ClientRecord> clients);
  // A configuration reload: new passphrase, REG ACL, churn limits and options check from the next
  // packet. Sessions, half-open logins, blocks and the challenge key stay (a reload lifts no
  // block). max_clients and the fixed clients are restart keys: their running values stay.
  void UpdateSettings(HbpAuthSettings settings);

  const ClientRecord* Find(uint32_t id) const;
  bool IsFixed(uint32_t id) const { return fixed_.contains(id); }
  // Logged-in clients ordered by slot.
  std::vector<const ClientRecord*> Clients() const;
  size_t size() const { return clients_.size(); }
  size_t pending_size() const { return pending_.size(); }
  size_t tracked() const { return churn_.size(); }
  bool IsBlocked(route::Endpoint from, uint32_t id, route::TimeNs now) const;
  // The salt an RPTL from `from` for `id` is answered with at `now`.
  uint32_t ChallengeSalt(route::Endpoint from, uint32_t id, route::TimeNs now) const;
  // Failed logins and blocks since the last call (at most kMaxNotices are kept; the rest are
  // counted in notices_dropped).
  std::vector<AuthNotice> TakeNotices() { return std::exchange(notices_, {}); }
  static constexpr size_t kMaxNotices = 256;
  // The sources blocked since the last call, in order.
  std::vector<SourceBlocked> TakeBlockedSources() { return std::exchange(blocked_, {}); }
  // The talker aliases completed since the last call, in order (at most kMaxAliases are kept;
  // a flood of DMRA cannot grow it).
  std::vector<TalkerAliasHeard> TakeTalkerAliases() { return std::exchange(aliases_, {}); }
  static constexpr size_t kMaxAliases = 256;
  const HbpAuthCounters& counters() const { return counters_; }
  const HbpAuthSettings& settings() const { return settings_; }

 private:
  // A login whose RPTK was correct, waiting for RPTC.
  struct Pending {
    route::Endpoint addr;
    route::TimeNs started = 0;
    std::string options;  // RPTO before RPTC
    size_t dense = 0;     // index in pending_ids_
  };
  // Verified logins of one (source IP, client ID).
  struct Churn {
    route::TimeNs window_start = 0;
    uint32_t logins = 0;
    route::TimeNs blocked_until = 0;  // 0 = not blocked
    size_t dense = 0;                 // index in churn_keys_
  };

  void OnRptl(uint32_t id, route::Endpoint from, route::TimeNs now, Outbox* out);
  // The half-open login of `id` from `from`, or nullptr after counting and answering MSTNAK
  // (no such login, or another address).
  Pending* PendingAt(uint32_t id, route::Endpoint from, Outbox* out);
  void OnRptk(proto::ByteSpan pkt, route::Endpoint from, route::TimeNs now, Outbox* out,
              std::vector<AuthChange>* changes);
  void OnRptc(proto::ByteSpan pkt, route::Endpoint from, route::TimeNs now, Outbox* out,
              std::vector<AuthChange>* changes);
  void OnRpto(proto::ByteSpan pkt, route::Endpoint from, route::TimeNs now, Outbox* out,
              std::vector<AuthChange>* changes);
  void OnRptping(uint32_t id, route::Endpoint from, route::TimeNs now, Outbox* out);
  void OnRptcl(uint32_t id, route::Endpoint from, route::TimeNs now, Outbox* out,
               std::vector<AuthChange>* changes);
  void OnSideInfo(proto::ByteSpan pkt, proto::HbpType type, route::Endpoint from,
                  route::TimeNs now);

  // Why `id` may not log in from `from` (ACL, full hub, a fixed client's ID), counted and noted;
  // false if it may.
  bool Refused(uint32_t id, route::Endpoint from);
  // Charges one verified login to (from's address, id); false if the pair is (now) blocked.
  bool ChargeLogin(route::Endpoint from, uint32_t id, route::TimeNs now);
  uint64_t V6Key(uint8_t domain, const route::Endpoint& e, uint32_t value) const;
  uint64_t AddrKeyOf(const route::Endpoint& e) const;                   // id_by_addr_
  uint64_t ChurnKeyOf(const route::Endpoint& from, uint32_t id) const;  // churn_
  // MSTNAK+id to `to`.
  void Nak(uint32_t id, route::Endpoint to, Outbox* out);
  void Send(proto::HbpType type, uint32_t value, route::Endpoint to, Outbox* out);
  void Notice(AuthNotice::Kind kind, uint32_t id, route::Endpoint addr, route::TimeNs until = 0,
              std::string detail = {});

  Pending* NewPending(uint32_t id);
  void ErasePending(uint32_t id);
  void EraseChurn(uint64_t key);
  void RemoveClient(uint32_t id, const char* reason, std::vector<AuthChange>* changes);
  int64_t FreeSlot() const;
  uint64_t NextRandom();
  uint32_t SaltAt(route::Endpoint from, uint32_t id, uint64_t epoch) const;
  // A correct digest for one of the salts `from` may hold for `id`.
  bool DigestOk(route::Endpoint from, uint32_t id, route::TimeNs now, const uint8_t* digest) const;

  // Puts the fixed clients that are not in the table into it (configured slot, else the lowest
  // free one).
  void InstallFixed();

  HbpAuthSettings settings_;
  absl::flat_hash_map<uint32_t, size_t> fixed_;  // fixed client ID → index in settings_
  std::mt19937_64 rng_;
  proto::Blake2bMac128 challenge_key_;  // salts: a MAC of (address, ID, epoch) under a random key
  absl::flat_hash_map<uint32_t, ClientRecord> clients_;  // state YES, by ID
  absl::flat_hash_map<uint64_t, uint32_t> id_by_addr_;   // YES clients, for 15/14-byte DMRA/DMRG
  std::vector<bool> slot_used_;
  absl::flat_hash_map<uint32_t, Pending> pending_;  // half-open logins, by ID
  std::vector<uint32_t> pending_ids_;               // dense, for random eviction
  absl::flat_hash_map<uint64_t, Churn> churn_;      // churn limit, by (IP << 32 | ID)
  std::vector<uint64_t> churn_keys_;                // dense, for random eviction
  std::vector<AuthNotice> notices_;
  std::vector<SourceBlocked> blocked_;     // since TakeBlockedSources
  std::vector<TalkerAliasHeard> aliases_;  // since TakeTalkerAliases
  HbpAuthCounters counters_;
};

}  // namespace dmrswitch::cp
