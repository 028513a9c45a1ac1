// RoutingCore: a shard's routing state machine (DESIGN.md §4, PROTOCOL.md §3.6–3.9): everything
// that happens to a DMR packet between "decoded" and "written to its destinations", for the
// streams this shard owns. (A shard is one lcore: its RoutingCore, the ShardRuntime around it
// and the mode's shard loop, KernelShardLoop or DpdkShardLoop.)
//
// Pure: packets, their source addresses and the time are inputs; packets out go to a PacketSink,
// events to an EventSink. No DPDK, sockets, threads or clocks, so the same object runs under the
// DPDK lcore loop, the kernel-socket loop and the scenario tests.
//
// Per packet (known stream): source check, rate limit, max age, sequence/duplicate check, lease
// check per HBP destination, rewrite and write per destination.
// Per stream (first packet): admission and ACLs, loop election (the first source of a stream ID
// wins, from its very first packet), FBP hop/age/scope checks, route resolution against the
// snapshot (cached until the snapshot changes), the client's own slot lease, events.
// Stream end: terminator, or silence (leases released after stream_timeout, StreamLost after
// stream_lost_after); ended stream IDs are remembered for stream_forget_after so late copies via
// a mesh are recognised. A peer's ended stream never starts again while it is remembered (a
// replayed call is dropped), and it is remembered at least twice fbp_max_age: a DMRE timestamp
// must lie within fbp_max_age of our wall clock, either way, so a replay that outlives the memory
// is stale.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <type_traits>
#include <vector>

#include "dataplane/proto/dmr_lc.h"
#include "dataplane/proto/hbp.h"
#include "dataplane/proto/obp.h"
#include "dataplane/proto/reject.h"
#include "dataplane/route/events.h"
#include "dataplane/route/parrot.h"
#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/slot_lease.h"
#include "dataplane/route/stream_table.h"

namespace dmrswitch::route {

struct RoutingCounters {
  proto::RejectCounters rejects;
  std::array<uint64_t, static_cast<size_t>(DropReason::kCount)> drops{};
  uint64_t packets_in = 0;
  uint64_t packets_routed = 0;    // accepted packets (fanned out, possibly to no one)
  uint64_t packets_out = 0;       // destination packets written
  uint64_t to_control = 0;        // packets handed to the control plane
  uint64_t contention_skips = 0;  // destination slot busy (contention rules)
  uint64_t quench_skips = 0;      // peer asked us not to send this stream
  // Destination slot taken by the same talker's next over, which superseded this stream
  // (slot_lease.h): the old over's last frames, not contention.
  uint64_t superseded_skips = 0;
  uint64_t sink_full = 0;  // PacketSink had no buffer
  uint64_t streams_started = 0;
  uint64_t streams_ended = 0;
  uint64_t streams_lost = 0;
  uint64_t sequence_gaps = 0;
  uint64_t frames_late = 0;  // against the 60 ms cadence (events.h kCadenceTolerance)
  uint64_t frames_early = 0;
  uint64_t route_resolutions = 0;  // a stream's route resolved (new stream or changed inputs)
  uint64_t parrot_recorded = 0;    // calls to the parrot recorded
  uint64_t parrot_played = 0;      // ... played back whole
  uint64_t parrot_dropped = 0;     // ... not played back (slot busy too long, client gone)

  uint64_t drop(DropReason r) const { return drops[static_cast<size_t>(r)]; }
};

// What the caller does next with a packet.
enum class Verdict : uint8_t {
  kConsumed,   // routed (or deliberately not), nothing more to do
  kDropped,    // counted under a reject or drop reason
  kToControl,  // not the shard's business: login, keepalive, options, BCKA, BCVE ...
  // Routed, and the control plane sees the packet too: the first packet of a new FBP stream that
  // a peer with relax_checks sent from an address other than its target. Signed, fresh (DMRE
  // timestamp) and not a replay (a new stream ID), it is the one packet that may move the link
  // to a new address (ctrlplane/login/obp_links.h).
  kRoutedToControl,
};

struct RoutingCoreConfig {
  uint32_t stream_capacity = 4096;
  uint32_t table_seed = 0x5EED5EED;
  // The parrot (PROTOCOL.md Part A §10): recordings this shard holds at once (0: no parrot) and
  // the frames each may hold (60 s = 1000 frames of 60 ms).
  uint32_t parrot_recordings = 0;
  uint32_t parrot_max_frames = 1000;
};

class RoutingCore {
 public:
  RoutingCore(const RoutingCoreConfig& config, SlotLeases* leases, PacketSink* out,
              EventSink* events);
  // The memory one shard's tables take for `stream_capacity` streams and `max_clients` client
  // slots (configuration checks, before anything is allocated).
  static uint64_t TableBytes(uint32_t stream_capacity, uint32_t max_clients) {
    return Table::BytesFor(stream_capacity) + uint64_t{max_clients} * 2;
  }

  // Switches to a new snapshot (top of the loop, before acking it). Live streams re-resolve their
  // routes now; leases on destinations that are no longer routed are released.
  void SetSnapshot(std::shared_ptr<const RouteSnapshot> snapshot, TimeNs now);
  const RouteSnapshot* snapshot() const { return snap_.get(); }

  // A datagram that arrived on the HBP listener from `from`.
  Verdict OnHbpPacket(proto::ByteSpan pkt, const Endpoint& from, TimeNs now);
  // A datagram that arrived on the listener of peer `peer` (index in the snapshot) from `from`.
  Verdict OnObpPacket(uint32_t peer, proto::ByteSpan pkt, const Endpoint& from, TimeNs now);
  // Timers: lease release of silent streams, StreamLost, forgetting ended streams. Call every
  // few tens of milliseconds; bounded work per call.
  void Expire(TimeNs now);
  // The parrot's playback: frames that are due go out (one recording's frames are 60 ms apart,
  // so call it every loop for an even cadence). Bounded: at most two frames per recording per
  // call; with no recording in use it is one comparison.
  void Play(TimeNs now);
  const Parrot& parrot() const { return parrot_; }

  const RoutingCounters& counters() const { return counters_; }
  // Wall-clock time minus the monotonic `now` the core is driven with (mod 2^64). FBP DMRE
  // timestamps and their age check are the only wall-clock values in the core; the caller
  // refreshes the offset on a timer, so a step of the wall clock changes FBP timestamps within a
  // tick and nothing else.
  void SetWallOffset(TimeNs offset) { wall_offset_ = offset; }
  TimeNs WallOf(TimeNs now) const { return now + wall_offset_; }
  uint32_t live_streams() const;
  // Drain (DESIGN.md §7): while not admitting, new streams are dropped (DropReason::kDraining)
  // and live ones carry on to their end.
  void SetAdmitting(bool admitting) { admitting_ = admitting; }
  bool admitting() const { return admitting_; }
  uint32_t tracked_streams() const { return table_.size(); }
  uint64_t table_refused_full() const { return table_.refused_full(); }

 private:
  enum class Phase : uint8_t { kLive, kEnded, kRefused };
  enum class Kind : uint8_t {
    kGroup,
    kControl,       // private voice to a command code (4000, 5000, dial): routed nowhere
    kUnitData,      // private data: to the target's location, else FreeDMR's fallbacks
    kPrivateVoice,  // private voice to a subscriber heard somewhere: to that location only
    kParrot,        // a call to the parrot (9990): recorded, played back to the caller alone
  };

  // Laid out for the per-packet path: a voice frame of a live group call reads and writes only
  // the fields up to `source_addr`'s IPv4 part, which the stream table keeps in the same two
  // cache lines as its own bookkeeping (StreamTable: a node starts a cache line, the value
  // follows 24 bytes of table state). A packet costs its stream two lines, whose misses overlap
  // (both addresses are known at once), instead of the five or six the declaration order used
  // to spread them over. The fields after are read when a stream starts, ends or turns, on an
  // irregular frame, for peers, for a destination whose TG is rewritten (the LC rewrites, on
  // frames that carry LC) and by the parrot. The static_asserts below hold where the
  // per-packet part ends.
  struct StreamState {
    // --- per packet
    uint64_t generation = 0;  // snapshot generation the route was resolved in
    TimeNs start = 0;
    // Call quality against the 60 ms cadence (events.h): the last accepted frame's arrival, the
    // sum of the inter-frame gaps' absolute deviations (ns, over packets - 1 gaps), and (cold,
    // written only on an irregular frame) the late and early frames.
    TimeNs last_frame_at = 0;
    uint64_t deviation_sum = 0;
    const Destination* dests = nullptr;  // client destinations (a conference's members)
    SystemRef source;
    // The same talker's earlier over on this client slot that this stream superseded at its
    // start (SlotLeases::ClaimRx): its destination slots on the same TG are taken over.
    std::optional<uint32_t> superseded;
    uint32_t source_id = 0;
    uint32_t packets = 0;
    uint32_t n_dests = 0;
    uint32_t rf_src = 0;
    uint32_t dst = 0;
    uint32_t conf_tg = 0;
    Phase phase = Phase::kLive;
    Kind kind = Kind::kGroup;
    uint8_t ts = 0;
    bool seq_valid = false;
    uint8_t last_seq = 0;
    bool rx_lease = false;  // holds its source client's slot
    // Superseded by its talker's newer over (SlotLeases kOvertaken): it claims no slot any more
    // and its frames reach peers only. Kept for the rest of the stream.
    bool overtaken = false;
    bool has_unit_dest = false;
    bool to_peers = false;  // peers are destinations too (those not in peer_skip)
    // Compared per HBP packet: an IPv4 source reads its first 7 bytes only.
    Endpoint source_addr;

    // --- per stream, per irregular frame, per peer
    uint32_t late = 0;
    uint32_t early = 0;
    uint32_t lost = 0;
    DropReason refused = DropReason::kNone;
    proto::CallType call_type = proto::CallType::kGroup;
    bool lc_known = false;
    bool ua_on_end = false;    // activate_on = end: request UA activation at the terminator
    bool data = false;         // a data call (data header, rate 1/2, 3/4 data or CSBK first)
    bool cut_max_age = false;  // frames were dropped for max_stream_age: it ends as kMaxAge
    uint8_t hops = 0;          // FBP: hop count as received
    uint8_t n_rewrites = 0;
    uint32_t origin_server = 0;
    uint32_t origin_repeater = 0;
    uint32_t n_destinations = 0;  // clients (not the source itself) and peers routed to
    // What the route was resolved from: a new generation that shares these pieces leaves the
    // stream as it is (RouteSnapshot: pieces shared between generations are the same objects).
    const void* route_conference = nullptr;
    const void* route_peers = nullptr;
    const void* route_policy = nullptr;
    const void* route_source = nullptr;  // the source client's chunk, for dial-routed streams
    Destination unit_dest;               // private call / unit data: the local client, if any
    PeerSet peer_skip;                   // peers excluded for this stream
    PeerSet quenched;                    // peers that sent us BCSQ for this stream
    PeerSet bcsq_sent;                   // peers we sent BCSQ for this stream
    proto::dmr::Lc lc;
    std::array<uint32_t, 2> rewrite_tg{};
    std::array<proto::dmr::LcRewrite, 2> rewrites{};
    int32_t parrot = -1;  // kParrot: the recording, while the call is live
  };

  // Lists of the stream table: ordered by last packet.
  static constexpr unsigned kHot = 0;    // live, leases held
  static constexpr unsigned kQuiet = 1;  // live, silent > stream_timeout, leases released
  static constexpr unsigned kGone = 2;   // ended, lost or refused: remembered, then forgotten
  using Table = StreamTable<StreamState, 3>;
  // The per-packet fields end inside the first 104 bytes: 128 with the table's 24, two lines.
  static_assert(std::is_standard_layout_v<StreamState> && alignof(StreamState) <= 8);
  static_assert(offsetof(StreamState, source_addr) + 8 <= 128 - Table::kNodeHeaderBytes);

  // Ingress description shared by HBP and OBP paths.
  struct Ingress {
    const proto::DmrdView* dmrd;
    SystemRef source;
    uint32_t source_id;
    // A reference: an Endpoint is built field by field just before (the L4 parse), and copying
    // it whole reads wider than those stores wrote, which stalls store-to-load forwarding.
    const Endpoint& from;
    const proto::DmreView* dmre;  // FBP only
  };

  Verdict Drop(DropReason r) {
    ++counters_.drops[static_cast<size_t>(r)];
    return Verdict::kDropped;
  }
  Verdict Rejected(proto::Reject r) {
    counters_.rejects.Count(r);
    return Verdict::kDropped;
  }

  Verdict OnDmrd(const Ingress& in, TimeNs now);
  Verdict OnKnownStream(StreamState* s, const Ingress& in, TimeNs now);
  Verdict OnNewStream(const Ingress& in, TimeNs now);
  Verdict OnDuplicateSource(StreamState* s, const Ingress& in, TimeNs now);
  Verdict OnBcsq(uint32_t peer, const proto::Bcsq& q, TimeNs now);

  DropReason AdmitHbp(const proto::DmrdView& d, const Endpoint& from, uint32_t* client_slot) const;
  DropReason CheckAcls(const proto::DmrdView& d, SystemRef source, unsigned ts) const;
  DropReason CheckPeerIngress(const PeerInfo& peer, const Ingress& in, TimeNs now) const;

  // Client slots that the new snapshot gives to another client than `old` did: their ended
  // lease words are forgotten (SlotLeases::ForgetEnded).
  void ForgetPreviousOccupants(const RouteSnapshot& old);
  // The new snapshot may number the peers differently from `old` (a reload added or removed
  // one): each stream's per-peer state (its source, the peers that quenched it, those it
  // quenched) follows its peer, found by name (or renamed in place), to its new index.
  void RenumberPeers(const RouteSnapshot& old);
  StreamState* NewEntry(uint32_t stream_id, TimeNs now);
  // Drops a new stream: remembered (unless `remember` is false: the table is full), and an FBP
  // source is sent one BCSQ.
  Verdict Refuse(uint32_t stream_id, const Ingress& in, DropReason r, TimeNs now,
                 bool remember = true);
  void Resolve(StreamState* s);
  // What a stream's slot leases are marked with (the "TG" of the contention rules): the TG of a
  // group call, TG 9 for a command (the dialled link arrives on it), and for private calls and
  // unit data the conversation — the same value both ways, rf_src XOR dst — so that an answer
  // waits the collision window like the next over on a talkgroup, not the hang time of another.
  static uint32_t LeaseTg(Kind kind, uint32_t dst, uint32_t rf_src) {
    switch (kind) {
      case Kind::kGroup:
        return dst;
      case Kind::kControl:
        return kDialTg;
      case Kind::kParrot:
        return kParrotId;  // the playback is the same "TG": it waits the collision window only
      case Kind::kUnitData:
      case Kind::kPrivateVoice:
        break;
    }
    return (dst ^ rf_src) & 0xFFFFFF;
  }
  // Private voice and unit data: the destination by the subscriber's location.
  void ResolveUnit(StreamState* s);
  // Private voice to `dst` goes somewhere: a subscriber ID the hub heard, not at `source`'s peer.
  bool RoutablePrivateCall(uint32_t dst, SystemRef source) const;
  void RefreshRoute(StreamState* s) {
    if (s->generation != snap_->generation()) Resolve(s);
  }
  // True if `s` resolves in the current snapshot exactly as it did when last resolved.
  bool RouteUnchanged(const StreamState& s) const;
  void FanOut(StreamState* s, const proto::DmrdView& d, TimeNs now);
  // Clients and peers a resolved stream is sent to (FanOut's skips of its own source included).
  static uint32_t CountDestinations(const StreamState& s, size_t npeers);
  void EndStream(StreamState* s, TimeNs now, EventType why);
  void ReleaseLeases(const StreamState& s, uint32_t stream_id, TimeNs at,
                     const uint8_t* keep_bitmap);
  void Emit(EventType type, const StreamState& s, uint32_t stream_id, TimeNs now);
  // The cadence bookkeeping of an accepted frame that came `seq_delta` frames after the last.
  void TrackCadence(StreamState* s, unsigned seq_delta, TimeNs now);
  void SendBcsq(uint32_t peer, uint32_t tg, uint32_t stream_id, TimeNs now);
  // The parrot: the recording of a call that ended (or went silent) waits for its playback.
  void FinishParrot(StreamState* s, TimeNs now);
  void PlayRecording(int32_t i, TimeNs now);
  bool SendParrotFrame(int32_t i, const ClientInfo& to);
  uint32_t NewPlaybackStreamId();
  const proto::dmr::LcRewrite& RewriteFor(StreamState* s, uint32_t tg,
                                          proto::dmr::LcRewrite* scratch);
  bool PeerCarries(const PeerInfo& p, uint32_t tg) const;

  RoutingCoreConfig config_;
  SlotLeases* leases_;
  PacketSink* out_;
  EventSink* events_;
  std::shared_ptr<const RouteSnapshot> snap_;
  // 1 s / the snapshot's rate_limit_pps, set with the snapshot: the per-packet rate check
  // multiplies by it instead of dividing by the rate.
  TimeNs rate_interval_ = kSec;
  // Where RewriteFor builds the images of a TG it has not cached; a member so that FanOut does
  // not zero ~80 bytes per packet for a rewrite few destinations need.
  proto::dmr::LcRewrite lc_scratch_;
  bool admitting_ = true;
  TimeNs wall_offset_ = 0;
  Table table_;
  Parrot parrot_;
  uint64_t rng_;  // playback stream IDs
  RoutingCounters counters_;
  std::vector<uint8_t> keep_scratch_;  // SetSnapshot: destinations still routed, by client slot
};

}  // namespace dmrswitch::route
