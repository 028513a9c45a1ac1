// ObpLinks: the state of the OpenBridge / FreeBridge links (PROTOCOL.md §2.1–2.3, Part C), as a
// pure component of the control plane. The packet plane verifies and routes DMRD/DMRE (and acts
// on BCSQ); the bridge-control packets it does not handle (BCKA, BCVE, BCST) and DMRD it refused
// on an FBP peer arrive here. ObpLinks keeps, per peer, the target address (configured, or learned
// from an authentic BCKA), when the peer was last heard and whether it is alive, sends BCKA and
// BCVE on its timers, and tells the caller when the routing snapshot must change.
//
// Decisions (PROTOCOL.md Part A §5, §6):
//  * Only a packet with a valid MAC changes state, and a keepalive never moves a link. A BCKA's
//    MAC covers only the constant "BCKA", so one captured keepalive replays from anywhere for
//    ever: with relax_checks = false only a BCKA from the target counts (others are dropped and
//    counted); with relax_checks = true a BCKA from anywhere counts as the peer heard, but the
//    target stays. FreeDMR adopts a BCKA's source as the new target; here the link follows a
//    peer to a new address only on the first packet of a new FBP stream from there, which the
//    packet plane hands over after routing it (route::Verdict::kRoutedToControl): signed,
//    timestamped within fbp_max_age and under a stream ID never seen, so not a replay. Classic
//    OBP (no timestamp) never moves.
//  * BCST's MAC is checked (FreeDMR never does); it is counted and otherwise has no effect.
//  * The configured version is authoritative: a peer's BCVE offering another version is noted
//    (peer_version, counters) but does not switch our wire format, so the routing snapshot never
//    changes because of an unauthenticated or downgraded offer; operators change `version`.
//  * A classic-OBP DMRD on an FBP peer is answered with BCVE(our version) to its sender, as
//    FreeDMR does, but only if its HMAC is valid and at most once per `bcve_answer_interval`.
//  * FBP peers start not alive: they become alive when first heard (a BCKA or traffic) and die
//    after `dead_after` of silence. Classic OBP (v1) has no keepalive: v1 peers are always alive
//    and get no BCKA/BCVE.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ctrlplane/datagram.h"
#include "dataplane/proto/bytes.h"
#include "dataplane/proto/crypto.h"
#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/types.h"

namespace dmrswitch::cp {

// One peer's link timers ([[obp]] keepalive_s, dead_after_s, bcve_interval_s).
struct LinkTimers {
  route::TimeNs keepalive_interval = 10 * route::kSec;  // BCKA
  route::TimeNs dead_after = 60 * route::kSec;          // no BCKA/traffic: not alive
  route::TimeNs bcve_interval = 60 * route::kSec;       // BCVE
  bool operator==(const LinkTimers&) const = default;
};

// A peer as configured: its routing view and its own timers.
struct LinkConfig {
  route::PeerSpec spec;
  LinkTimers timers;
};

struct ObpLinksSettings {
  LinkTimers timers;                                     // of every peer given as a bare PeerSpec
  route::TimeNs bcve_answer_interval = 5 * route::kSec;  // BCVE answers to v1 DMRD, per peer
};

struct ObpLinkCounters {
  uint64_t bcka_sent = 0;
  uint64_t bcve_sent = 0;
  uint64_t bcve_answers = 0;             // BCVE sent in answer to a classic DMRD on an FBP peer
  uint64_t bcve_answers_suppressed = 0;  // rate-limited
  uint64_t bcka_rx = 0;                  // valid BCKA
  uint64_t bcve_rx = 0;                  // valid BCVE
  uint64_t bcst_rx = 0;                  // valid BCST (no effect)
  uint64_t targets_learned = 0;          // target moved by a fresh signed stream (DMRE)
  uint64_t bcka_elsewhere = 0;  // valid BCKA from an address other than the target: no move
  uint64_t bad_mac = 0;
  uint64_t malformed = 0;     // wrong length/tag
  uint64_t refused = 0;       // DMRD/DMRE/BCSQ the packet plane did not take, or unknown tag
  uint64_t unknown_peer = 0;  // peer index out of range
  uint64_t traffic = 0;       // OnTraffic calls
  uint64_t became_alive = 0;
  uint64_t became_dead = 0;
};

struct ObpLinkState {
  route::PeerSpec spec;  // as configured, with the current target and alive flag
  LinkTimers timers;
  route::Endpoint configured_target;
  route::TimeNs last_heard = 0;  // 0 = never
  uint8_t peer_version = 0;      // last version the peer offered (BCVE), 0 = none
  route::TimeNs next_bcka = 0;
  route::TimeNs next_bcve = 0;
  route::TimeNs last_bcve_answer = 0;
  bool bcve_answered = false;
  ObpLinkCounters counters;
};

class ObpLinks {
 public:
  // Each peer with its own timers.
  ObpLinks(std::vector<LinkConfig> peers, ObpLinksSettings settings);
  // Every peer with settings.timers.
  explicit ObpLinks(std::vector<route::PeerSpec> peers, ObpLinksSettings settings = {});

  // One datagram from the listener of peer `peer`.
  void OnPacket(uint32_t peer, proto::ByteSpan pkt, route::Endpoint from, route::TimeNs now,
                Outbox* out);
  // The packet plane accepted DMRD/DMRE from `peer`: counts as a keepalive.
  void OnTraffic(uint32_t peer, route::TimeNs now);
  // Sends due BCKA/BCVE and updates liveness. Call at least once a second; the first call sends
  // BCKA (and BCVE) to every FBP peer with a known target at once.
  void Tick(route::TimeNs now, Outbox* out);

  // True once after anything that changes the routing snapshot (alive flipped, target moved,
  // reconfigured). True after construction, so that the first snapshot is built from Specs().
  bool TakeChanged();
  // The peers as the routing snapshot should see them: current target and alive flag.
  std::vector<route::PeerSpec> Specs() const;
  // New configuration. A peer whose name is unchanged keeps its learned state (last heard,
  // alive, learned target unless its configured target changed, timers unless its version
  // changed), and so does a peer renamed in place: the same position, listener and configured
  // target under a new name (routing never depends on a name). Others start fresh. Peer indices
  // follow the new vector.
  // A peer's new timers apply from its next keepalive and liveness check.
  void Reconfigure(std::vector<LinkConfig> peers);
  void Reconfigure(std::vector<route::PeerSpec> peers);

  // A restarted control plane takes over the link state the packet plane routes with (the
  // published snapshot): the peer named `name` is at `target` and, if `alive`, counts as heard
  // `now` (it then has a full dead_after to send its next BCKA). False when no peer has that name.
  bool Restore(std::string_view name, route::Endpoint target, bool alive, route::TimeNs now);

  size_t size() const { return peers_.size(); }
  const ObpLinkState* peer(uint32_t i) const {
    return i < peers_.size() ? &peers_[i].state : nullptr;
  }
  // Sum over peers.
  ObpLinkCounters counters() const;

 private:
  struct Peer {
    explicit Peer(const LinkConfig& config);
    proto::HmacSha1 hmac;
    proto::Blake2bMac128 blake2b;
    ObpLinkState state;
  };

  static bool IsFbp(const route::PeerSpec& s) { return s.version > 1; }
  static bool HasTarget(route::Endpoint e) { return !e.any_address() && e.port != 0; }
  void Heard(Peer* p, route::TimeNs now);
  void SetAlive(Peer* p, bool alive);
  void SendBcve(uint32_t index, route::Endpoint to, Outbox* out);

  ObpLinksSettings settings_;
  std::vector<Peer> peers_;
  bool changed_ = true;
  ObpLinkCounters removed_counters_;  // counters of peers removed by Reconfigure
};

}  // namespace dmrswitch::cp
