#include "dataplane/route/routing_core.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <span>
#include <utility>

#include "absl/base/optimization.h"

namespace dmrswitch::route {

using proto::ByteSpan;
using proto::CallType;
using proto::DmrdView;
using proto::Reject;

namespace {

// First `n` decimal digits of `id` (PROTOCOL.md §2.2 scope rules compare server ID prefixes).
uint32_t LeadingDigits(uint32_t id, unsigned n) {
  uint32_t limit = 1;
  for (unsigned i = 0; i < n; ++i) limit *= 10;
  while (id >= limit) id /= 10;
  return id;
}

unsigned DecimalDigits(uint32_t id) {
  unsigned d = 1;
  while (id >= 10) {
    id /= 10;
    ++d;
  }
  return d;
}

// Unit data per FreeDMR (PROTOCOL.md §3.8): data header and rate ½/¾ data, or a CSBK.
bool IsUnitData(const DmrdView& d) {
  if (d.flags.frame_type() != proto::FrameType::kDataSync) return false;
  const unsigned dt = d.flags.low_nibble();
  return dt == proto::data_type::kDataHeader || dt == proto::data_type::kRateHalfData ||
         dt == proto::data_type::kRateThreeQuarterData || dt == proto::data_type::kCsbk;
}

// The parrot (PROTOCOL.md Part A §10): playback starts this long after the caller's terminator
// (the radio turns round, the hotspot leaves transmit), one frame per DMR burst period
// (kFramePeriod), and is given up if the caller's slot is still busy this long after it was due.
constexpr TimeNs kParrotDelay = 1 * kSec;
constexpr TimeNs kParrotGiveUp = 10 * kSec;

// FreeDMR's late-entry LC when no voice header was seen: FLCO 0, FID 0, service options 0x20.
proto::dmr::Lc SynthesisedLc(uint32_t dst, uint32_t src) {
  proto::dmr::Lc lc = proto::dmr::Lc::GroupVoice(dst, src);
  lc.bytes[2] = 0x20;
  return lc;
}

}  // namespace

RoutingCore::RoutingCore(const RoutingCoreConfig& config, SlotLeases* leases, PacketSink* out,
                         EventSink* events)
    : config_(config),
      leases_(leases),
      out_(out),
      events_(events),
      table_(config.stream_capacity, config.table_seed),
      parrot_(config.parrot_recordings, config.parrot_max_frames),
      rng_(uint64_t{config.table_seed} * 0x9E3779B97F4A7C15ull | 1),
      keep_scratch_(uint64_t{leases->max_clients()} * 2, 0) {}

uint32_t RoutingCore::live_streams() const {
  return table_.ListSize(kHot) + table_.ListSize(kQuiet);
}

// ---------------------------------------------------------------------------------------------
// Snapshots

void RoutingCore::SetSnapshot(std::shared_ptr<const RouteSnapshot> snapshot, TimeNs now) {
  std::shared_ptr<const RouteSnapshot> old = std::move(snap_);
  snap_ = std::move(snapshot);
  if (snap_) {
    const uint32_t pps = snap_->policy().rate_limit_pps;
    rate_interval_ = kSec / (pps == 0 ? 1 : pps);
  }
  if (!old || !snap_) return;
  if (old->peer_table() != snap_->peer_table()) RenumberPeers(*old);
  // Re-resolve live streams whose route may differ, while the old destination lists are still
  // alive (`old` holds them); the others keep their route and leases untouched.
  auto reresolve = [&](uint32_t stream_id, StreamState& s) {
    if (s.phase != Phase::kLive) return;
    if (RouteUnchanged(s)) {
      s.generation = snap_->generation();
      return;
    }
    const Destination* old_dests = s.dests;
    const uint32_t old_n = s.n_dests;
    const bool old_unit = s.has_unit_dest;
    const Destination old_unit_dest = s.unit_dest;
    Resolve(&s);
    // Mark what is still routed, release the rest, clear the marks.
    auto mark = [&](const Destination& d, uint8_t v) {
      if (d.to.is_client()) keep_scratch_[uint64_t{d.to.index} * 2 + d.ts] = v;
    };
    for (uint32_t i = 0; i < s.n_dests; ++i) mark(s.dests[i], 1);
    if (s.has_unit_dest) mark(s.unit_dest, 1);
    StreamState old_view = s;
    old_view.dests = old_dests;
    old_view.n_dests = old_n;
    old_view.has_unit_dest = old_unit;
    old_view.unit_dest = old_unit_dest;
    old_view.rx_lease = false;  // the source's own slot is not a destination
    ReleaseLeases(old_view, stream_id, now, keep_scratch_.data());
    for (uint32_t i = 0; i < s.n_dests; ++i) mark(s.dests[i], 0);
    if (s.has_unit_dest) mark(s.unit_dest, 0);
  };
  table_.ForEach(kHot, reresolve);
  table_.ForEach(kQuiet, reresolve);
  ForgetPreviousOccupants(*old);
}

void RoutingCore::ForgetPreviousOccupants(const RouteSnapshot& old) {
  // A client slot is reused by the next login once its client has logged out. The lease words
  // its previous occupant's calls left ended would keep the newcomer off other TGs for the hang
  // time, so they are forgotten (SlotLeases::ForgetEnded). Every shard does it, each when it
  // takes the snapshot; a chunk shared with the previous generation holds the same clients and
  // is skipped, so a snapshot costs one pointer compare per 64 slots unless clients changed.
  // Two cases are left as they are, both needing a call to end within the moments around a
  // logout and the next login: a shard that takes the snapshot late may also forget a word the
  // newcomer's first call ended meanwhile on another shard (its hang time then protects it no
  // longer), and an over of the previous occupant that is still live when the snapshot arrives
  // keeps its own slot until it goes quiet (it is the stream's rx lease, released only by its
  // stream), so the newcomer waits out that over's hang time.
  const uint32_t chunks = std::min(old.client_chunks(), snap_->client_chunks());
  for (uint32_t i = 0; i < snap_->client_chunks(); ++i) {
    if (i < chunks && snap_->client_chunk(i) == old.client_chunk(i)) continue;
    const uint32_t end = std::min<uint32_t>(
        (i + 1) * kClientChunkSlots, std::min(snap_->client_capacity(), leases_->max_clients()));
    for (uint32_t slot = i * kClientChunkSlots; slot < end; ++slot) {
      const ClientInfo* now_in = snap_->client(slot);
      if (now_in == nullptr) continue;
      const ClientInfo* before = old.client(slot);
      if (before != nullptr && before->id == now_in->id && before->addr == now_in->addr) continue;
      leases_->ForgetEnded(slot);
    }
  }
}

void RoutingCore::RenumberPeers(const RouteSnapshot& old) {
  const std::span<const PeerInfo> before = old.peers();
  const std::span<const PeerInfo> after = snap_->peers();
  // Old index -> new index; kNoPeer for a peer the new snapshot does not have (a stream from it
  // then has no source peer any more: nothing it sends matches, and it goes silent).
  constexpr uint32_t kNoPeer = PeerSet::kMaxPeers;
  std::array<uint32_t, PeerSet::kMaxPeers> to;
  bool renumbered = false;
  for (uint32_t i = 0; i < before.size(); ++i) {
    if (i < after.size() && after[i].name == before[i].name) {
      to[i] = i;
      continue;
    }
    renumbered = true;
    to[i] = kNoPeer;
    for (uint32_t j = 0; j < after.size(); ++j) {
      if (after[j].name == before[i].name) {
        to[i] = j;
        break;
      }
    }
  }
  if (!renumbered) return;  // the same peers at the same places (and perhaps new ones after)
  // A peer renamed in place (the same position, listener and target under a new name: the
  // control plane keeps its link state, ObpLinks::Reconfigure) is the same link. Its datagrams
  // are told apart by listener and source address, never by name.
  std::array<bool, PeerSet::kMaxPeers> taken{};
  for (uint32_t i = 0; i < before.size(); ++i) {
    if (to[i] != kNoPeer) taken[to[i]] = true;
  }
  for (uint32_t i = 0; i < before.size() && i < after.size(); ++i) {
    if (to[i] != kNoPeer || taken[i] || after[i].listener != before[i].listener ||
        !(after[i].target == before[i].target)) {
      continue;
    }
    to[i] = i;
    taken[i] = true;
  }
  const auto map = [&](const PeerSet& set) {
    PeerSet out;
    for (uint32_t i = 0; i < before.size(); ++i) {
      if (set.test(i) && to[i] != kNoPeer) out.set(to[i]);
    }
    return out;
  };
  const auto renumber = [&](uint32_t, StreamState& s) {
    if (s.source.is_peer()) {
      s.source.index = s.source.index < before.size() ? to[s.source.index] : kNoPeer;
    }
    s.quenched = map(s.quenched);
    s.bcsq_sent = map(s.bcsq_sent);
  };
  table_.ForEach(kHot, renumber);
  table_.ForEach(kQuiet, renumber);
  table_.ForEach(kGone, renumber);
}

// ---------------------------------------------------------------------------------------------
// Ingress

Verdict RoutingCore::OnHbpPacket(ByteSpan pkt, const Endpoint& from, TimeNs now) {
  ++counters_.packets_in;
  const proto::HbpType type = proto::ClassifyHbp(pkt);
  if (ABSL_PREDICT_FALSE(type != proto::HbpType::kDmrd)) {
    if (type == proto::HbpType::kUnknown) return Rejected(Reject::kUnknownTag);
    ++counters_.to_control;
    return Verdict::kToControl;
  }
  DmrdView d;
  if (const Reject r = proto::DecodeDmrd(pkt, &d); ABSL_PREDICT_FALSE(r != Reject::kOk)) {
    return Rejected(r);
  }
  if (ABSL_PREDICT_FALSE(!snap_)) return Drop(DropReason::kNoSnapshot);
  return OnDmrd(Ingress{&d, SystemRef{}, d.repeater_id, from, nullptr}, now);
}

Verdict RoutingCore::OnObpPacket(uint32_t peer_index, ByteSpan pkt, const Endpoint& from,
                                 TimeNs now) {
  ++counters_.packets_in;
  if (ABSL_PREDICT_FALSE(!snap_)) return Drop(DropReason::kNoSnapshot);
  if (ABSL_PREDICT_FALSE(peer_index >= snap_->peers().size())) {
    return Drop(DropReason::kUnknownClient);
  }
  const PeerInfo& peer = snap_->peers()[peer_index];
  const SystemRef source = SystemRef::Peer(peer_index);
  switch (proto::ClassifyObp(pkt)) {
    case proto::ObpType::kDmrd: {
      if (peer.version > 1) {
        // FBP peers must speak DMRE; the control plane answers with BCVE (PROTOCOL.md §2.2).
        ++counters_.drops[static_cast<size_t>(DropReason::kPeerVersion)];
        ++counters_.to_control;
        return Verdict::kToControl;
      }
      DmrdView d;
      if (const Reject r = proto::DecodeObpV1(pkt, peer.hmac, &d); r != Reject::kOk) {
        return Rejected(r);
      }
      if (!peer.relax_checks && !(from == peer.target)) return Drop(DropReason::kPeerAddress);
      return OnDmrd(Ingress{&d, source, peer.network_id, from, nullptr}, now);
    }
    case proto::ObpType::kDmre: {
      if (peer.version == 1) return Drop(DropReason::kPeerVersion);
      proto::DmreView e;
      if (const Reject r = proto::DecodeDmre(pkt, peer.blake2b, &e); r != Reject::kOk) {
        return Rejected(r);
      }
      const bool moved = !(from == peer.target);
      if (!peer.relax_checks && moved) return Drop(DropReason::kPeerAddress);
      const bool new_stream = moved && table_.Find(e.dmrd.stream_id) == nullptr;
      const Verdict v = OnDmrd(Ingress{&e.dmrd, source, peer.network_id, from, &e}, now);
      return v == Verdict::kConsumed && new_stream ? Verdict::kRoutedToControl : v;
    }
    case proto::ObpType::kBcsq: {
      proto::Bcsq q;
      if (const Reject r = proto::DecodeBcsq(pkt, peer.hmac, &q); r != Reject::kOk) {
        return Rejected(r);
      }
      return OnBcsq(peer_index, q, now);
    }
    case proto::ObpType::kBcka:
    case proto::ObpType::kBcve:
    case proto::ObpType::kBcst:
      ++counters_.to_control;
      return Verdict::kToControl;
    case proto::ObpType::kUnknown:
      break;
  }
  return Rejected(Reject::kUnknownTag);
}

Verdict RoutingCore::OnBcsq(uint32_t peer, const proto::Bcsq& q, TimeNs now) {
  StreamState* s = table_.Find(q.stream_id);
  if (s != nullptr && s->phase == Phase::kLive) {
    s->quenched.set(peer);
    Event e;
    e.type = EventType::kSourceQuenchReceived;
    e.source = SystemRef::Peer(peer);
    e.source_id = snap_->peers()[peer].network_id;
    e.stream_id = q.stream_id;
    e.tg = q.tg;
    e.at = now;
    events_->Emit(e);
  }
  return Verdict::kConsumed;
}

Verdict RoutingCore::OnDmrd(const Ingress& in, TimeNs now) {
  StreamState* s = table_.Find(in.dmrd->stream_id);
  if (s == nullptr) return OnNewStream(in, now);
  return OnKnownStream(s, in, now);
}

DropReason RoutingCore::AdmitHbp(const DmrdView& d, const Endpoint& from,
                                 uint32_t* client_slot) const {
  const int64_t slot = snap_->FindClient(d.repeater_id);
  if (slot < 0) return DropReason::kUnknownClient;
  const ClientInfo* c = snap_->client(static_cast<uint32_t>(slot));
  if (!(c->addr == from)) return DropReason::kAddressMismatch;
  if ((c->slot_mask & (1u << d.flags.slot_index())) == 0) return DropReason::kSlotNotConfigured;
  *client_slot = static_cast<uint32_t>(slot);
  return DropReason::kNone;
}

DropReason RoutingCore::CheckAcls(const DmrdView& d, SystemRef source, unsigned ts) const {
  // Global SUB, global TG (by slot), then the system's own lists (PROTOCOL.md §3.9).
  const HubPolicy& p = snap_->policy();
  const bool group = d.flags.call_type() == CallType::kGroup;
  if (!p.sub_acl.Permits(d.rf_src)) return DropReason::kSubAcl;
  if (group && !p.tg_acl[ts].Permits(d.dst)) return DropReason::kTgAcl;
  if (source.is_client()) {
    const ClientInfo* c = snap_->client(source.index);
    if (c->use_acl) {
      if (!c->sub_acl.Permits(d.rf_src)) return DropReason::kSubAcl;
      if (group && !c->tg_acl[ts].Permits(d.dst)) return DropReason::kTgAcl;
    }
  } else {
    const PeerInfo& peer = snap_->peers()[source.index];
    if (peer.use_acl) {
      if (!peer.sub_acl.Permits(d.rf_src)) return DropReason::kSubAcl;
      if (group && !peer.tg_acl.Permits(d.dst)) return DropReason::kTgAcl;
    }
  }
  return DropReason::kNone;
}

DropReason RoutingCore::CheckPeerIngress(const PeerInfo& peer, const Ingress& in,
                                         TimeNs now) const {
  const DmrdView& d = *in.dmrd;
  const HubPolicy& p = snap_->policy();
  if (peer.id_mode == PeerIdMode::kFreeDmr && d.repeater_id != peer.network_id) {
    return DropReason::kPeerNetworkId;
  }
  const bool group = d.flags.call_type() == CallType::kGroup;
  if (in.dmre == nullptr) {
    // Classic OBP carries TS1 only; FreeDMR's v1 ingress scope (PROTOCOL.md §2.1).
    if (d.flags.slot_index() != kTs1) return DropReason::kPeerScope;
    if (group && !ObpV1AcceptsGroupTg(d.dst)) return DropReason::kPeerScope;
    return DropReason::kNone;
  }
  // FBP, in FreeDMR's order (PROTOCOL.md §2.2).
  const proto::DmreView& e = *in.dmre;
  // DMRE timestamps are wall-clock time: the one comparison in the core that is not monotonic.
  const TimeNs wall = WallOf(now);
  if (wall > e.timestamp_ns && wall - e.timestamp_ns > p.fbp_max_age) {
    return DropReason::kFbpStale;
  }
  // From the future (a peer's clock ahead, or a timestamp forged to outlive our replay memory):
  // the same bound the other way. Checked at a stream's first packet, like the age: later
  // packets of a live stream are held by the sequence check, and a wall-clock step must not cut
  // a call for the tick it takes the two ends to notice it.
  if (e.timestamp_ns > wall && e.timestamp_ns - wall > p.fbp_max_age) {
    return DropReason::kFbpFuture;
  }
  const unsigned digits = DecimalDigits(e.origin_server);
  if (digits < 4 || digits > 7) return DropReason::kFbpServerId;
  if (uint32_t{e.hops} + 1 > p.fbp_max_hops) return DropReason::kFbpHops;
  if (group) {
    const uint32_t tg = d.dst;
    if (IsHubLocalTg(tg)) return DropReason::kPeerScope;
    if (IsFourDigitScopedTg(tg) &&
        LeadingDigits(e.origin_server, 4) != LeadingDigits(p.server_id, 4)) {
      return DropReason::kPeerScope;
    }
    if (IsThreeDigitScopedTg(tg) &&
        LeadingDigits(e.origin_server, 3) != LeadingDigits(p.server_id, 3)) {
      return DropReason::kPeerScope;
    }
  }
  return DropReason::kNone;
}

RoutingCore::StreamState* RoutingCore::NewEntry(uint32_t stream_id, TimeNs now) {
  StreamState* s = table_.Insert(stream_id, now, kHot);
  if (s == nullptr && table_.size() == table_.capacity()) {
    // Full: forget the oldest ended stream rather than refuse a live one.
    bool evicted = false;
    table_.Expire(kGone, ~TimeNs{0}, 1, [&evicted](uint32_t, StreamState&) {
      evicted = true;
      return Table::EraseIt();
    });
    if (evicted) s = table_.Insert(stream_id, now, kHot);
  }
  return s;
}

Verdict RoutingCore::Refuse(uint32_t stream_id, const Ingress& in, DropReason r, TimeNs now,
                            bool remember) {
  // Remember the refusal so that the rest of the stream is dropped without re-evaluation, and
  // tell an FBP source once (PROTOCOL.md §2.2: every drop after the network-ID check answers
  // BCSQ, as FreeDMR does; the peer then stops sending the stream).
  StreamState* s = remember ? NewEntry(stream_id, now) : nullptr;
  if (s != nullptr) {
    s->phase = Phase::kRefused;
    s->refused = r;
    s->source = in.source;
    s->source_id = in.source_id;
    s->source_addr = in.from;
    s->start = now;
    table_.Touch(s, now, kGone);
  }
  if (in.source.is_peer() && in.dmre != nullptr) {
    // Without a table entry (full) there is no memory of it: the next packet answers again.
    if (s != nullptr) s->bcsq_sent.set(in.source.index);
    SendBcsq(in.source.index, in.dmrd->dst, stream_id, now);
  }
  return Drop(r);
}

Verdict RoutingCore::OnNewStream(const Ingress& in_arg, TimeNs now) {
  Ingress in = in_arg;
  const DmrdView& d = *in.dmrd;
  unsigned ts = d.flags.slot_index();

  if (in.source.kind == SystemKind::kNone) {
    if (ABSL_PREDICT_FALSE(!admitting_)) return Drop(DropReason::kDraining);
    uint32_t slot = 0;
    if (const DropReason r = AdmitHbp(d, in.from, &slot); r != DropReason::kNone) return Drop(r);
    in.source = SystemRef::Client(slot);
  } else {
    const PeerInfo& peer = snap_->peers()[in.source.index];
    if (const DropReason r = CheckPeerIngress(peer, in, now); r != DropReason::kNone) {
      // A packet that does not carry the peer's network ID is not the peer's: no answer.
      if (r == DropReason::kPeerNetworkId) return Drop(r);
      return Refuse(d.stream_id, in, r, now);
    }
    if (ABSL_PREDICT_FALSE(!admitting_)) return Refuse(d.stream_id, in, DropReason::kDraining, now);
    ts = kTs1;  // OpenBridge traffic belongs to the peer's single conference slot
  }
  if (const DropReason r = CheckAcls(d, in.source, d.flags.slot_index()); r != DropReason::kNone) {
    return Refuse(d.stream_id, in, r, now);
  }

  // Classify before claiming anything.
  Kind kind = Kind::kGroup;
  SubscriptionAction action = SubscriptionAction::kNone;
  const bool parrot = d.dst == kParrotId && in.source.is_client() && parrot_.size() != 0;
  if (d.flags.call_type() == CallType::kPrivate) {
    if (IsUnitData(d)) {
      kind = Kind::kUnitData;
    } else if (parrot) {
      kind = Kind::kParrot;
    } else if (RoutablePrivateCall(d.dst, in.source)) {
      kind = Kind::kPrivateVoice;  // to where the subscriber was last heard (Part A §9)
    } else if (in.source.is_client() && d.dst < kMinSubscriberId && d.dst != kParrotId) {
      kind = Kind::kControl;  // FreeDMR's command meaning (PROTOCOL.md §3.5)
      if (d.dst == kUnlinkId) {
        action = SubscriptionAction::kUnlink;
      } else if (d.dst == kStatusId) {
        action = SubscriptionAction::kStatus;
      } else if (ts == kTs2 && IsDialableTg(d.dst)) {
        action = SubscriptionAction::kDial;
      } else {
        action = SubscriptionAction::kRejectDial;
      }
    } else {
      // A subscriber the hub has not heard (or a command from a peer): dropped, counted, and
      // the caller is linked to nothing.
      return Refuse(d.stream_id, in, DropReason::kNotRoutable, now);
    }
  } else if (parrot && !IsUnitData(d)) {
    kind = Kind::kParrot;  // FreeDMR's echo TG 9990: the parrot too, not a conference
  }
  int32_t recording = -1;
  if (kind == Kind::kParrot) {
    recording = parrot_.Acquire(d.stream_id);
    // Every recording in use: refused (counted); the caller hears nothing back rather than a
    // part of someone else's.
    if (recording < 0) return Refuse(d.stream_id, in, DropReason::kParrotBusy, now);
  }

  // The client's own timeslot: a second transmission on it is a collision. A command (private
  // call to 4000, 5000 or a TG to dial) leaves the slot marked as TG 9, the TG the dialled link
  // arrives on: the link is then heard after the collision window, not after the hang time that
  // any other TG would have to wait. A private call marks it with its conversation (LeaseTg).
  std::optional<uint32_t> superseded;
  if (in.source.is_client()) {
    const uint32_t rx_tg = LeaseTg(kind, d.dst, d.rf_src);
    if (leases_->ClaimRx(in.source.index, ts, d.stream_id, rx_tg, d.rf_src, &superseded) ==
        LeaseVerdict::kBusy) {
      if (recording >= 0) parrot_.Release(recording);
      return Drop(DropReason::kSlotCollision);  // not remembered: the slot may free up
    }
  }

  StreamState* s = NewEntry(d.stream_id, now);
  if (s == nullptr) {
    if (recording >= 0) parrot_.Release(recording);
    if (in.source.is_client()) leases_->Release(in.source.index, ts, d.stream_id, now);
    return Refuse(d.stream_id, in, DropReason::kTableFull, now, /*remember=*/false);
  }
  s->phase = Phase::kLive;
  s->kind = kind;
  s->ts = static_cast<uint8_t>(ts);
  s->call_type = d.flags.call_type();
  s->source = in.source;
  s->source_id = in.source_id;
  s->source_addr = in.from;
  s->rf_src = d.rf_src;
  s->superseded = superseded;
  s->dst = d.dst;
  s->start = now;
  s->rx_lease = in.source.is_client();
  s->data = kind == Kind::kUnitData || IsUnitData(d);
  if (recording >= 0) {
    s->parrot = recording;
    Parrot::Recording& r = parrot_.at(recording);
    r.client_slot = in.source.index;
    r.client_id = in.source_id;
    r.ts = static_cast<uint8_t>(ts);
    r.private_call = d.flags.call_type() == CallType::kPrivate;
    r.rf_src = d.rf_src;
    ++counters_.parrot_recorded;
  }
  if (in.dmre != nullptr) {
    s->hops = in.dmre->hops;
    s->origin_server = in.dmre->origin_server;
    s->origin_repeater = in.dmre->origin_repeater;
  } else if (in.source.is_client()) {
    s->origin_server = snap_->policy().server_id;
    s->origin_repeater = in.source_id;
  } else {
    s->origin_server = in.source_id;
  }
  if (d.flags.is_voice_header() &&
      proto::dmr::DecodeFullLc(proto::dmr::ConstBurst(d.payload(), proto::dmr::kBurstBytes),
                               proto::dmr::FullLcKind::kVoiceHeader, &s->lc)) {
    s->lc_known = true;
  } else {
    s->lc = SynthesisedLc(d.dst, d.rf_src);
  }

  // User activation of a TG by a client that is not a member (PROTOCOL.md Part A §3).
  bool ua_now = false;
  if (kind == Kind::kGroup && in.source.is_client()) {
    const ClientInfo* c = snap_->client(in.source.index);
    const bool dialled = ts == kTs2 && d.dst == kDialTg && c->dial_tg != 0;
    if (!dialled && IsUserActivatableTg(d.dst) && !snap_->IsMember(in.source.index, ts, d.dst)) {
      action = SubscriptionAction::kActivateUa;
      ua_now = snap_->policy().activate_on == ActivateOn::kStart;
      s->ua_on_end = !ua_now;
    }
  }
  Resolve(s);

  ++counters_.streams_started;
  Emit(EventType::kStreamStarted, *s, d.stream_id, now);
  if (action != SubscriptionAction::kNone && !s->ua_on_end) {
    Event e;
    e.type = EventType::kSubscriptionRequest;
    e.action = action;
    e.ts = static_cast<uint8_t>(ts);
    e.call_type = static_cast<uint8_t>(s->call_type);
    e.source = s->source;
    e.source_id = s->source_id;
    e.stream_id = d.stream_id;
    e.rf_src = d.rf_src;
    e.dst = d.dst;
    e.tg = d.dst;
    e.at = now;
    events_->Emit(e);
  }
  return OnKnownStream(s, in, now);
}

Verdict RoutingCore::OnDuplicateSource(StreamState* s, const Ingress& in, TimeNs now) {
  if (in.source.is_peer()) {
    const uint32_t peer = in.source.index;
    const PeerInfo& p = snap_->peers()[peer];
    if (p.version > 1 && !s->bcsq_sent.test(peer)) {
      s->bcsq_sent.set(peer);
      SendBcsq(peer, in.dmrd->dst, in.dmrd->stream_id, now);
    }
  }
  return Drop(DropReason::kLoopDuplicate);
}

Verdict RoutingCore::OnKnownStream(StreamState* s, const Ingress& in_arg, TimeNs now) {
  Ingress in = in_arg;
  const DmrdView& d = *in.dmrd;

  // Same source? HBP packets name their client in bytes 11..14; peers by their listener.
  if (in.source.kind == SystemKind::kNone) {
    if (s->source.is_client() && d.repeater_id == s->source_id) {
      if (!(in.from == s->source_addr)) return Drop(DropReason::kAddressMismatch);
      in.source = s->source;
    } else {
      uint32_t slot = 0;
      if (const DropReason r = AdmitHbp(d, in.from, &slot); r != DropReason::kNone) return Drop(r);
      in.source = SystemRef::Client(slot);
    }
  }
  if (!(in.source == s->source)) {
    // Loop election: the stream belongs to whoever delivered its first packet.
    return OnDuplicateSource(s, in, now);
  }

  if (s->phase == Phase::kRefused) {
    table_.Touch(s, now, kGone);
    return Drop(s->refused);
  }
  if (s->phase == Phase::kEnded) {
    // MMDVMHost picks a new stream ID per call; a new header under an old ID from a client starts
    // over. A peer's signed frames can be replayed by anyone who captured them: a peer's ended
    // stream stays ended while it is remembered.
    if (!d.flags.is_voice_header() || s->source.is_peer()) return Drop(DropReason::kAfterEnd);
    table_.Erase(s);
    return OnNewStream(in_arg, now);
  }

  // Per-packet policing (PROTOCOL.md §3.6 step 4–5).
  const HubPolicy& p = snap_->policy();
  if (now - s->start > p.max_stream_age) {
    s->cut_max_age = true;
    // The stream is cut from here on: an FBP source hears it once. (Rate, sequence and duplicate
    // drops are single packets of an accepted stream and get no BCSQ.)
    if (in.source.is_peer() && in.dmre != nullptr && !s->bcsq_sent.test(in.source.index)) {
      s->bcsq_sent.set(in.source.index);
      SendBcsq(in.source.index, d.dst, d.stream_id, now);
    }
    return Drop(DropReason::kMaxStreamAge);
  }
  // Faster than rate_limit_pps on average since the start: packets × (1 s / pps) > elapsed.
  // (Written this way so that no product can overflow, whatever the configured rate.)
  if (s->packets > p.rate_limit_after_packets &&
      uint64_t{s->packets} * rate_interval_ > now - s->start) {
    return Drop(DropReason::kRateLimit);
  }
  unsigned seq_delta = 1;
  if (s->seq_valid) {
    const uint8_t delta = static_cast<uint8_t>(d.seq - s->last_seq);
    if (delta == 0) return Drop(DropReason::kDuplicate);
    if (delta >= 128) return Drop(DropReason::kOutOfOrder);
    if (delta > 1) {
      s->lost += delta - 1u;
      counters_.sequence_gaps += delta - 1u;
    }
    seq_delta = delta;
  }
  s->seq_valid = true;
  s->last_seq = d.seq;
  ++s->packets;
  TrackCadence(s, seq_delta, now);

  if (table_.ListOf(s) == kQuiet && s->rx_lease && !s->overtaken) {
    // Back from silence: take the client's own slot again, as it was released when the stream
    // went quiet (Expire: ended at the last packet), unless the talker's newer over used it.
    const uint32_t rx_tg = LeaseTg(s->kind, s->dst, s->rf_src);
    const LeaseVerdict v = leases_->ResumeRx(s->source.index, s->ts, d.stream_id, rx_tg, s->rf_src,
                                             LeaseWord::Ended(rx_tg, true, table_.TouchedAt(s)));
    if (v == LeaseVerdict::kOvertaken) {
      s->overtaken = true;  // routed to peers only; every client destination counts a skip
    } else if (v == LeaseVerdict::kBusy) {
      table_.Touch(s, now, kQuiet);
      return Drop(DropReason::kSlotCollision);
    }
  }
  table_.Touch(s, now, kHot);

  RefreshRoute(s);
  ++counters_.packets_routed;
  if (s->kind == Kind::kParrot) {
    if (s->parrot >= 0) {
      // The frame as the caller will hear it back: 55 bytes, BER/RSSI appended if absent.
      uint8_t frame[proto::kDmrdBytes];
      std::memcpy(frame, d.data, proto::kDmrdShortBytes);
      frame[proto::dmrd_offset::kBer] = d.ber();
      frame[proto::dmrd_offset::kRssi] = d.rssi();
      parrot_.Append(s->parrot, frame, d.flags.is_terminator());
    }
  } else if (s->kind != Kind::kControl) {
    FanOut(s, d, now);
  }

  if (d.flags.is_terminator()) EndStream(s, now, EventType::kStreamEnded);
  return Verdict::kConsumed;
}

// ---------------------------------------------------------------------------------------------
// Routing

bool RoutingCore::PeerCarries(const PeerInfo& p, uint32_t tg) const {
  if (!PeerCarriesTg(tg)) return false;
  if (!snap_->policy().tg_acl[kTs1].Permits(tg)) return false;
  if (p.use_acl && !p.tg_acl.Permits(tg)) return false;
  return true;
}

bool RoutingCore::RouteUnchanged(const StreamState& s) const {
  const RouteSnapshot& snap = *snap_;
  switch (s.kind) {
    case Kind::kControl:
    case Kind::kParrot:
      return true;  // no destinations
    case Kind::kUnitData:
    case Kind::kPrivateVoice:
      return false;  // by subscriber location: short and rare, always resolved again
    case Kind::kGroup:
      break;
  }
  if (s.route_peers != snap.peer_table() || s.route_policy != snap.policy_piece()) return false;
  if (s.route_source != nullptr && s.route_source != snap.client_chunk_of(s.source.index)) {
    return false;
  }
  return s.conf_tg == 0 ? s.route_conference == nullptr
                        : s.route_conference == &snap.FindConference(s.conf_tg);
}

void RoutingCore::Resolve(StreamState* s) {
  ++counters_.route_resolutions;
  const RouteSnapshot& snap = *snap_;
  s->generation = snap.generation();
  s->dests = nullptr;
  s->n_dests = 0;
  s->to_peers = false;
  s->has_unit_dest = false;
  s->peer_skip.clear();
  s->route_conference = nullptr;
  s->route_peers = snap.peer_table();
  s->route_policy = snap.policy_piece();
  s->route_source = nullptr;
  s->n_destinations = 0;
  const auto& peers = snap.peers();
  const bool from_peer = s->source.is_peer();

  if (s->kind == Kind::kControl || s->kind == Kind::kParrot) return;

  if (s->kind == Kind::kUnitData || s->kind == Kind::kPrivateVoice) {
    ResolveUnit(s);
    s->n_destinations = CountDestinations(*s, peers.size());
    return;
  }

  // Group call: which conference?
  uint32_t tg = s->dst;
  if (s->source.is_client() && s->ts == kTs2 && s->dst == kDialTg) {
    tg = snap.client(s->source.index)->dial_tg;  // 0 (not linked) has no conference
    s->route_source = snap.client_chunk_of(s->source.index);
  }
  s->conf_tg = tg;
  if (tg == 0) return;
  const Conference& conf = snap.FindConference(tg);
  s->route_conference = &conf;
  s->dests = conf.members.data();
  s->n_dests = static_cast<uint32_t>(conf.members.size());
  s->to_peers = true;
  for (uint32_t i = 0; i < peers.size(); ++i) {
    const PeerInfo& p = peers[i];
    const bool skip = !p.alive || p.listener == kNoListener || !PeerCarries(p, tg) ||
                      (from_peer && (s->source.index == i || !p.relay));
    if (skip) s->peer_skip.set(i);
  }
  if (s->ua_on_end) {
    // FreeDMR's key-up-twice behaviour: not routed until the activation takes effect.
    s->dests = nullptr;
    s->n_dests = 0;
    s->to_peers = false;
  }
  s->n_destinations = CountDestinations(*s, peers.size());
}

uint32_t RoutingCore::CountDestinations(const StreamState& s, size_t npeers) {
  uint32_t n = s.n_dests + (s.has_unit_dest ? 1 : 0);
  if (s.source.is_client() && s.n_dests != 0) {
    // FanOut skips the source's own slot: conference members are ordered by client slot, then
    // timeslot, so a binary search finds it without walking a big conference.
    const Destination* end = s.dests + s.n_dests;
    const Destination* it =
        std::lower_bound(s.dests, end, std::pair<uint32_t, uint8_t>(s.source.index, s.ts),
                         [](const Destination& d, const std::pair<uint32_t, uint8_t>& key) {
                           return std::pair<uint32_t, uint8_t>(d.to.index, d.ts) < key;
                         });
    if (it != end && it->to == s.source && it->ts == s.ts) --n;
  }
  if (s.to_peers) {
    for (size_t i = 0; i < npeers; ++i) n += s.peer_skip.test(static_cast<uint32_t>(i)) ? 0 : 1;
  }
  return n;
}

bool RoutingCore::RoutablePrivateCall(uint32_t dst, SystemRef source) const {
  if (dst < kMinSubscriberId) return false;
  const Location* loc = snap_->FindSubscriber(dst);
  if (loc == nullptr) return false;
  if (!loc->at.is_peer() || !source.is_peer()) return true;
  // From a peer to a peer: not back to the sender, and only to a peer that relays (FBP), as for
  // group calls.
  return !(loc->at == source) && loc->at.index < snap_->peers().size() &&
         snap_->peers()[loc->at.index].relay;
}

void RoutingCore::ResolveUnit(StreamState* s) {
  // Where the subscriber was last heard: a client on the slot it was heard on, or the peer it
  // came from (PROTOCOL.md Part A §9). Loop control as for group calls: never back to the source
  // slot or peer, a peer's call to another peer only if that one relays (FBP).
  const RouteSnapshot& snap = *snap_;
  const auto& peers = snap.peers();
  const bool from_peer = s->source.is_peer();
  s->conf_tg = s->dst;
  auto skip_all_peers_but = [&](uint32_t keep) {
    for (uint32_t i = 0; i < peers.size(); ++i) {
      if (i != keep) s->peer_skip.set(i);
    }
  };
  if (const Location* loc = snap.FindSubscriber(s->dst); loc != nullptr) {
    if (loc->at.is_client()) {
      const ClientInfo* c = snap.client(loc->at.index);
      if (c != nullptr && (c->slot_mask & (1u << loc->ts)) != 0 &&
          !(loc->at == s->source && loc->ts == s->ts)) {
        s->unit_dest = Destination{loc->at, loc->ts, s->dst, c->id, c->addr};
        s->has_unit_dest = true;
      }
      return;
    }
    const uint32_t i = loc->at.index;
    if (i >= peers.size()) return;
    const PeerInfo& p = peers[i];
    if (!p.alive || p.listener == kNoListener ||
        (from_peer && (s->source.index == i || !p.relay))) {
      return;
    }
    s->to_peers = true;
    skip_all_peers_but(i);
    return;
  }
  if (s->kind != Kind::kUnitData) return;
  // Data for a subscriber not heard (FreeDMR, PROTOCOL.md §3.8): the hotspot with that ID (or
  // its 7-digit prefix) on TS2, and every FBP peer for IDs beyond the 6-digit range.
  if (const int64_t slot = snap.FindClientByPrefix(s->dst); slot >= 0) {
    const ClientInfo* c = snap.client(static_cast<uint32_t>(slot));
    s->unit_dest =
        Destination{SystemRef::Client(static_cast<uint32_t>(slot)), kTs2, s->dst, c->id, c->addr};
    s->has_unit_dest = !(s->unit_dest.to == s->source && s->ts == kTs2);
  }
  if (s->dst >= kMinSubscriberId) {
    s->to_peers = true;
    for (uint32_t i = 0; i < peers.size(); ++i) {
      if (peers[i].version == 1 || !peers[i].alive || peers[i].listener == kNoListener ||
          (from_peer && (s->source.index == i || !peers[i].relay))) {
        s->peer_skip.set(i);
      }
    }
  }
}

const proto::dmr::LcRewrite& RoutingCore::RewriteFor(StreamState* s, uint32_t tg,
                                                     proto::dmr::LcRewrite* scratch) {
  for (unsigned i = 0; i < s->n_rewrites; ++i) {
    if (s->rewrite_tg[i] == tg) return s->rewrites[i];
  }
  proto::dmr::Lc lc = s->lc;
  lc.set_dst(tg);
  if (s->n_rewrites < s->rewrites.size()) {
    const unsigned i = s->n_rewrites++;
    s->rewrite_tg[i] = tg;
    s->rewrites[i] = proto::dmr::LcRewrite::For(lc);
    return s->rewrites[i];
  }
  *scratch = proto::dmr::LcRewrite::For(lc);
  return *scratch;
}

void RoutingCore::FanOut(StreamState* s, const DmrdView& d, TimeNs now) {
  const RouteSnapshot& snap = *snap_;
  const HubPolicy& policy = snap.policy();
  const auto& peers = snap.peers();

  // The packet as every destination starts from: 55 bytes, BER/RSSI appended if absent.
  alignas(64) uint8_t base[proto::kDmrdBytes];
  std::memcpy(base, d.data, proto::kDmrdShortBytes);
  // A DMRE (FBP) frame's view starts at its "DMRE" tag: HBP clients and classic OBP peers get
  // DMRD (FBP egress writes its own tag).
  std::memcpy(base, "DMRD", 4);
  base[proto::dmrd_offset::kBer] = d.ber();
  base[proto::dmrd_offset::kRssi] = d.rssi();
  const uint8_t flags = d.flags.raw;
  const bool header = d.flags.is_voice_header();
  const bool terminator = d.flags.is_terminator();
  const bool embedded = d.flags.carries_embedded_lc();
  const unsigned vseq = d.flags.low_nibble();
  const bool lc_frame = header || terminator || embedded;

  auto apply_tg = [&](uint8_t* b, uint32_t tg) {
    if (tg == s->dst) return;
    proto::StoreBe24(b + proto::dmrd_offset::kDst, tg);
    if (!lc_frame) return;
    const proto::dmr::LcRewrite& rw = RewriteFor(s, tg, &lc_scratch_);
    proto::dmr::Burst burst(b + proto::dmrd_offset::kPayload, proto::dmr::kBurstBytes);
    if (header) {
      rw.ApplyHeader(burst);
    } else if (terminator) {
      rw.ApplyTerminator(burst);
    } else {
      rw.ApplyEmbedded(burst, vseq);
    }
  };

  const ClientSlot own{s->source.index, s->ts};
  auto send_client = [&](const Destination& dst) {
    LeaseVerdict v;
    if (ABSL_PREDICT_FALSE(s->overtaken)) {
      v = leases_->Holds(dst.to.index, dst.ts, d.stream_id) ? LeaseVerdict::kMine
                                                            : LeaseVerdict::kOvertaken;
    } else {
      v = leases_->ClaimTx(dst.to.index, dst.ts, d.stream_id,
                           s->kind == Kind::kGroup ? dst.tg : LeaseTg(s->kind, s->dst, s->rf_src),
                           s->rf_src, now, policy.lease, s->superseded,
                           s->rx_lease ? &own : nullptr);
    }
    if (v == LeaseVerdict::kOvertaken) {
      s->overtaken = true;
      ++counters_.superseded_skips;
      return;
    }
    if (v == LeaseVerdict::kBusy) {
      // Off the per-packet path: only a busy destination costs the load of the own slot.
      if (s->rx_lease && !leases_->Holds(s->source.index, s->ts, d.stream_id)) {
        s->overtaken = true;
        ++counters_.superseded_skips;
      } else {
        ++counters_.contention_skips;
      }
      return;
    }
    uint8_t* b = out_->Begin(kHbpListener, dst.addr);
    if (ABSL_PREDICT_FALSE(b == nullptr)) {
      ++counters_.sink_full;
      return;
    }
    std::memcpy(b, base, proto::kDmrdBytes);
    apply_tg(b, dst.tg);
    proto::StoreBe32(b + proto::dmrd_offset::kRepeaterId, dst.repeater_id);
    b[proto::dmrd_offset::kFlags] = static_cast<uint8_t>((flags & 0x7F) | (dst.ts << 7));
    out_->Commit(proto::kDmrdBytes);
    ++counters_.packets_out;
  };

  auto send_peer = [&](uint32_t i) {
    if (s->peer_skip.test(i)) return;
    if (s->quenched.test(i)) {
      ++counters_.quench_skips;
      return;
    }
    const PeerInfo& p = peers[i];
    uint8_t* b = out_->Begin(p.listener, p.target);
    if (ABSL_PREDICT_FALSE(b == nullptr)) {
      ++counters_.sink_full;
      return;
    }
    std::memcpy(b, base, proto::kDmrdBytes);
    apply_tg(b, s->conf_tg);
    // Classic OpenBridge is TS1; FBP carries a private call or unit data on the slot it was sent
    // on (PROTOCOL.md Part A §9) and group calls on TS1.
    if (p.version == 1 || s->kind == Kind::kGroup) {
      b[proto::dmrd_offset::kFlags] = static_cast<uint8_t>(flags & 0x7F);
    }
    if (p.version == 1) {
      const uint32_t id = p.id_mode == PeerIdMode::kFreeDmr ? policy.server_id : p.network_id;
      proto::StoreBe32(b + proto::dmrd_offset::kRepeaterId, id);
      proto::SignObpV1InPlace(b, p.hmac);
      out_->Commit(proto::kObpV1Bytes);
    } else {
      proto::StoreBe32(b + proto::dmrd_offset::kRepeaterId, policy.server_id);
      proto::DmreTrailer t;
      t.version = p.version;
      t.timestamp_ns = WallOf(now);
      t.origin_server = s->origin_server;
      t.origin_repeater = s->origin_repeater;
      t.hops = static_cast<uint8_t>(s->source.is_peer() ? s->hops + 1 : 1);
      const size_t n = proto::EncodeDmre(b, t, p.blake2b,
                                         proto::MutableByteSpan(b, PacketSink::kMaxPacketBytes));
      out_->Commit(static_cast<uint16_t>(n));
    }
    ++counters_.packets_out;
  };

  const SystemRef src = s->source;
  const uint8_t src_ts = s->ts;
  for (uint32_t i = 0; i < s->n_dests; ++i) {
    if (i + 2 < s->n_dests) __builtin_prefetch(&s->dests[i + 2]);
    const Destination& dst = s->dests[i];
    if (dst.to == src && dst.ts == src_ts) continue;
    send_client(dst);
  }
  if (s->has_unit_dest) send_client(s->unit_dest);
  if (s->to_peers) {
    for (uint32_t i = 0; i < peers.size(); ++i) send_peer(i);
  }
}

// ---------------------------------------------------------------------------------------------
// Stream end and timers

void RoutingCore::ReleaseLeases(const StreamState& st, uint32_t id, TimeNs at,
                                const uint8_t* keep) {
  const StreamState* s = &st;
  auto release = [&](const Destination& d) {
    if (!d.to.is_client()) return;
    if (keep != nullptr && keep[uint64_t{d.to.index} * 2 + d.ts]) return;
    // The talker's own slot is in its conference when it is a member: it is the rx lease, never
    // sent to, and released last (below). Released here, before the listeners' slots, it would
    // tell the talker's next over on another shard that this over is over while listeners'
    // slots are still held — a collision instead of the supersede (SlotLeases::ClaimRx).
    if (d.to == s->source && d.ts == s->ts) return;
    leases_->Release(d.to.index, d.ts, id, at);
  };
  for (uint32_t i = 0; i < s->n_dests; ++i) release(s->dests[i]);
  if (s->has_unit_dest) release(s->unit_dest);
  if (s->rx_lease) leases_->Release(s->source.index, s->ts, id, at);
}

void RoutingCore::EndStream(StreamState* s, TimeNs now, EventType why) {
  const uint32_t stream_id = table_.KeyOf(s);
  ReleaseLeases(*s, stream_id, why == EventType::kStreamEnded ? now : table_.TouchedAt(s), nullptr);
  s->phase = Phase::kEnded;
  FinishParrot(s, now);
  if (why == EventType::kStreamEnded) {
    ++counters_.streams_ended;
  } else {
    ++counters_.streams_lost;
  }
  Emit(why, *s, stream_id, now);
  if (s->ua_on_end && why == EventType::kStreamEnded) {
    Event e;
    e.type = EventType::kSubscriptionRequest;
    e.action = SubscriptionAction::kActivateUa;
    e.ts = s->ts;
    e.source = s->source;
    e.source_id = s->source_id;
    e.stream_id = stream_id;
    e.rf_src = s->rf_src;
    e.dst = s->dst;
    e.tg = s->dst;
    e.at = now;
    events_->Emit(e);
  }
  table_.Touch(s, now, kGone);
}

void RoutingCore::Expire(TimeNs now) {
  if (!snap_) return;
  const HubPolicy& p = snap_->policy();
  constexpr uint32_t kMaxVisits = 256;  // bounded work per call
  auto before = [now](TimeNs age) { return now > age ? now - age : 0; };
  // Silent past the collision window: free the slots for others (hang time counts from the last
  // packet), keep the stream.
  table_.Expire(kHot, before(p.lease.stream_timeout), kMaxVisits,
                [this](uint32_t key, StreamState& s) {
                  // The client's own slot taken meanwhile: only a newer over of the same talker
                  // takes it from a live transmission (SlotLeases::ClaimRx).
                  if (s.rx_lease && !leases_->Holds(s.source.index, s.ts, key)) s.overtaken = true;
                  ReleaseLeases(s, key, table_.TouchedAt(&s), nullptr);
                  return Table::MoveTo(kQuiet);
                });
  table_.Expire(kQuiet, before(p.stream_lost_after), kMaxVisits,
                [this, now](uint32_t key, StreamState& s) {
                  s.phase = Phase::kEnded;
                  FinishParrot(&s, now);
                  ++counters_.streams_lost;
                  Emit(EventType::kStreamLost, s, key, now);
                  return Table::MoveTo(kGone);
                });
  // Ended streams are remembered long enough that a replay of one is stale by then (see the
  // header): a DMRE may be stamped up to fbp_max_age ahead of our clock and is accepted up to
  // fbp_max_age after its stamp.
  const TimeNs forget = std::max(p.stream_forget_after, 2 * p.fbp_max_age + kSec);
  table_.Expire(kGone, before(forget), kMaxVisits,
                [](uint32_t, StreamState&) { return Table::EraseIt(); });
}

// ---------------------------------------------------------------------------------------------
// The parrot (PROTOCOL.md Part A §10)

uint32_t RoutingCore::NewPlaybackStreamId() {
  for (;;) {
    // xorshift64*: any non-zero ID this shard does not track will do.
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    const uint32_t id = static_cast<uint32_t>((rng_ * 0x2545F4914F6CDD1Dull) >> 32);
    if (id == 0 || table_.Find(id) != nullptr) continue;
    bool used = false;
    for (uint32_t i = 0; i < parrot_.size(); ++i) {
      const Parrot::Recording& r = parrot_.at(static_cast<int32_t>(i));
      used |= r.state != Parrot::State::kFree && r.playback_stream == id;
    }
    if (!used) return id;
  }
}

void RoutingCore::FinishParrot(StreamState* s, TimeNs now) {
  if (s->kind != Kind::kParrot || s->parrot < 0) return;
  const int32_t i = s->parrot;
  s->parrot = -1;
  Parrot::Recording& r = parrot_.at(i);
  if (r.frames == 0) {
    parrot_.Release(i);
    return;
  }
  r.state = Parrot::State::kWaiting;
  r.next_at = now + kParrotDelay;
  r.give_up_at = r.next_at + kParrotGiveUp;
  r.playback_stream = NewPlaybackStreamId();
  if (r.private_call) {
    // Played back as a private call from 9990 to the caller, so that the caller's radio opens
    // for it: the LC (header, terminator, embedded in B..E) says so too.
    proto::dmr::Lc lc = s->lc;
    lc.bytes[0] = static_cast<uint8_t>((lc.bytes[0] & 0xC0) | 0x03);  // FLCO 3: unit to unit
    lc.set_dst(r.rf_src);
    lc.set_src(kParrotId);
    r.lc = proto::dmr::LcRewrite::For(lc);
  }
}

void RoutingCore::Play(TimeNs now) {
  if (parrot_.in_use() == 0 || !snap_) return;
  for (uint32_t i = 0; i < parrot_.size(); ++i) {
    const Parrot::Recording& r = parrot_.at(static_cast<int32_t>(i));
    if ((r.state == Parrot::State::kWaiting || r.state == Parrot::State::kPlaying) &&
        r.next_at <= now) {
      PlayRecording(static_cast<int32_t>(i), now);
    }
  }
}

void RoutingCore::PlayRecording(int32_t i, TimeNs now) {
  Parrot::Recording& r = parrot_.at(i);
  // The caller's client must still be the one that called (a slot is reused after a logout).
  const ClientInfo* c = snap_->client(r.client_slot);
  auto drop = [&] {
    if (r.state == Parrot::State::kPlaying) {
      leases_->Release(r.client_slot, r.ts, r.playback_stream, now);
    }
    ++counters_.parrot_dropped;
    parrot_.Release(i);
  };
  if (c == nullptr || c->id != r.client_id) return drop();
  if (r.state == Parrot::State::kWaiting) {
    // The caller's slot, as for any stream to it: busy with another call → wait for it.
    const uint32_t talker = r.private_call ? kParrotId : r.rf_src;
    if (leases_->ClaimTx(r.client_slot, r.ts, r.playback_stream, kParrotId, talker, now,
                         snap_->policy().lease) == LeaseVerdict::kBusy) {
      ++counters_.contention_skips;
      if (now >= r.give_up_at) return drop();
      r.next_at = now + kFramePeriod;
      return;
    }
    r.state = Parrot::State::kPlaying;
    r.played = 0;
    r.next_at = now;
  }
  // At most two frames per call: a late loop catches up without a burst.
  for (int n = 0; n < 2 && r.next_at <= now && r.played < r.frames; ++n) {
    // The caller keying up again takes the slot back (its radio has the channel): playback ends.
    if (!leases_->Holds(r.client_slot, r.ts, r.playback_stream)) return drop();
    if (!SendParrotFrame(i, *c)) break;
    ++r.played;
    r.next_at += kFramePeriod;
  }
  if (r.played == r.frames) {
    leases_->Release(r.client_slot, r.ts, r.playback_stream, now);
    ++counters_.parrot_played;
    parrot_.Release(i);
  }
}

bool RoutingCore::SendParrotFrame(int32_t i, const ClientInfo& to) {
  Parrot::Recording& r = parrot_.at(i);
  uint8_t* b = out_->Begin(kHbpListener, to.addr);
  if (ABSL_PREDICT_FALSE(b == nullptr)) {
    ++counters_.sink_full;
    return false;  // tried again on the next call
  }
  std::memcpy(b, parrot_.frame(i, r.played), proto::kDmrdBytes);
  b[proto::dmrd_offset::kSeq] = static_cast<uint8_t>(r.played);
  proto::StoreBe32(b + proto::dmrd_offset::kRepeaterId, to.id);
  proto::StoreBe32(b + proto::dmrd_offset::kStreamId, r.playback_stream);
  const proto::DmrdFlags flags{b[proto::dmrd_offset::kFlags]};
  b[proto::dmrd_offset::kFlags] = static_cast<uint8_t>((flags.raw & 0x7F) | (r.ts << 7));
  if (r.private_call) {
    proto::StoreBe24(b + proto::dmrd_offset::kRfSrc, kParrotId);
    proto::StoreBe24(b + proto::dmrd_offset::kDst, r.rf_src);
    proto::dmr::Burst burst(b + proto::dmrd_offset::kPayload, proto::dmr::kBurstBytes);
    if (flags.is_voice_header()) {
      r.lc.ApplyHeader(burst);
    } else if (flags.is_terminator()) {
      r.lc.ApplyTerminator(burst);
    } else if (flags.carries_embedded_lc()) {
      r.lc.ApplyEmbedded(burst, flags.low_nibble());
    }
  }
  out_->Commit(proto::kDmrdBytes);
  ++counters_.packets_out;
  return true;
}

void RoutingCore::Emit(EventType type, const StreamState& s, uint32_t stream_id, TimeNs now) {
  Event e;
  e.type = type;
  e.ts = s.ts;
  e.call_type = static_cast<uint8_t>(s.call_type);
  e.source = s.source;
  e.source_id = s.source_id;
  e.stream_id = stream_id;
  e.rf_src = s.rf_src;
  e.dst = s.dst;
  e.tg = s.conf_tg;
  e.data = s.data ? 1 : 0;
  e.destinations = Saturate16(s.n_destinations);
  if (type != EventType::kStreamStarted) {
    e.end = type == EventType::kStreamEnded ? StreamEnd::kTerminator
            : s.cut_max_age                 ? StreamEnd::kMaxAge
                                            : StreamEnd::kTimeout;
    e.packets = s.packets;
    e.lost = Saturate16(s.lost);
    e.late = Saturate16(s.late);
    e.early = Saturate16(s.early);
    const uint64_t gaps = s.packets > 1 ? s.packets - 1 : 0;
    e.jitter_10us = gaps == 0 ? 0 : Saturate16(s.deviation_sum / gaps / kJitterUnit);
    e.duration_ms =
        static_cast<uint32_t>((s.last_frame_at > s.start ? s.last_frame_at - s.start : 0) / kMs);
  }
  e.at = now;
  events_->Emit(e);
}

void RoutingCore::TrackCadence(StreamState* s, unsigned seq_delta, TimeNs now) {
  if (s->packets > 1) {
    const int64_t gap = static_cast<int64_t>(now - s->last_frame_at);
    const int64_t due = static_cast<int64_t>(seq_delta * kFramePeriod);
    const int64_t deviation = gap - due;
    if (deviation > static_cast<int64_t>(kCadenceTolerance)) {
      ++s->late;
      ++counters_.frames_late;
    } else if (deviation < -static_cast<int64_t>(kCadenceTolerance)) {
      ++s->early;
      ++counters_.frames_early;
    }
    s->deviation_sum += static_cast<uint64_t>(deviation < 0 ? -deviation : deviation);
  }
  s->last_frame_at = now;
}

void RoutingCore::SendBcsq(uint32_t peer, uint32_t tg, uint32_t stream_id, TimeNs now) {
  const PeerInfo& p = snap_->peers()[peer];
  // Classic OBP has no source quench; a peer no listener serves is sent nothing.
  if (p.version == 1 || p.listener == kNoListener) return;
  uint8_t* b = out_->Begin(p.listener, p.target);
  if (b == nullptr) {
    ++counters_.sink_full;
    return;
  }
  const size_t n = proto::EncodeBcsq(proto::Bcsq{tg, stream_id}, p.hmac,
                                     proto::MutableByteSpan(b, PacketSink::kMaxPacketBytes));
  out_->Commit(static_cast<uint16_t>(n));
  ++counters_.packets_out;
  Event e;
  e.type = EventType::kSourceQuenchSent;
  e.source = SystemRef::Peer(peer);
  e.source_id = p.network_id;
  e.stream_id = stream_id;
  e.tg = tg;
  e.at = now;
  events_->Emit(e);
}

}  // namespace dmrswitch::route
