#include "dataplane/io/shard_runtime.h"

#include <rte_cycles.h>

#include <cstring>

#include "dataplane/io/clock.h"
#include "dataplane/proto/hbp.h"

namespace dmrswitch::io {
namespace {

constexpr route::TimeNs kExpireEvery = 20 * route::kMs;
constexpr route::TimeNs kHealthEvery = 1 * route::kSec;

}  // namespace

ShardRuntime::ShardRuntime(const RuntimeConfig& config, route::SlotLeases* leases,
                           ipc::ShardChannel channel, rte_mempool* control_pool,
                           route::PacketSink* out)
    : config_(config),
      channel_(channel),
      control_pool_(control_pool),
      out_(out),
      core_(config.core, leases, out, &events_),
      liveness_(config.index, config.nshards) {
  core_.SetWallOffset(WallNs() - MonotonicNs());
}

// ---------------------------------------------------------------------------------------------
// Out

void ShardRuntime::Send(uint32_t listener, route::Endpoint to, std::span<const uint8_t> bytes) {
  if (bytes.size() > route::PacketSink::kMaxPacketBytes) {
    ++counters_.tx_no_buffer;  // no control datagram is this long; refuse rather than truncate
    return;
  }
  uint8_t* p = out_->Begin(listener, to);
  if (p == nullptr) {
    ++counters_.tx_no_buffer;
    return;
  }
  std::memcpy(p, bytes.data(), bytes.size());
  out_->Commit(static_cast<uint16_t>(bytes.size()));
}

void ShardRuntime::Events::Emit(const route::Event& e) {
  const ipc::Message m =
      ipc::Message::Make(ipc::MsgType::kEvent, static_cast<uint8_t>(r_->config_.index), e);
  if (ipc::SendMessage(r_->channel_.evt, m)) {
    ++r_->counters_.events_sent;
  } else {
    ++r_->counters_.events_dropped;
  }
  // The call board of the telemetry socket: kept whether or not a control plane drains the ring.
  if (r_->config_.stats != nullptr && e.type <= route::EventType::kStreamLost) {
    r_->config_.stats->RecordStream(e);
  }
}

// ---------------------------------------------------------------------------------------------
// Control channel

bool ShardRuntime::PollCommands(route::TimeNs now) {
  if (pending_ack_ != 0 &&
      ipc::SendMessage(channel_.sup, ipc::Message::Make(ipc::MsgType::kSnapshotAck,
                                                        static_cast<uint8_t>(config_.index),
                                                        ipc::SnapshotAck{pending_ack_}))) {
    pending_ack_ = 0;
  }
  ipc::Message msgs[16];
  const unsigned n = ipc::ReceiveMessages(channel_.cmd, msgs, 16);
  for (unsigned i = 0; i < n; ++i) {
    switch (msgs[i].type) {
      case ipc::MsgType::kSnapshotPublish: {
        const auto pub = msgs[i].As<ipc::SnapshotPublish>();
        const auto* snap = static_cast<const route::RouteSnapshot*>(pub.snapshot);
        // Non-owning: the control plane frees a generation only after every shard acked a newer
        // one, so the shard never frees (or allocates for) a snapshot on its loop.
        core_.SetSnapshot(std::shared_ptr<const route::RouteSnapshot>(
                              std::shared_ptr<const route::RouteSnapshot>(), snap),
                          now);
        liveness_.OnSnapshot(*snap, now);
        generation_ = pub.generation;
        const ipc::Message ack =
            ipc::Message::Make(ipc::MsgType::kSnapshotAck, static_cast<uint8_t>(config_.index),
                               ipc::SnapshotAck{pub.generation});
        // An ack must not be lost: the control plane would keep the old generation forever.
        // When the sup ring is full (no control plane drained it for a long time) it waits in
        // pending_ack_ and goes out at the next loop that has room; the shard never spins here.
        if (!ipc::SendMessage(channel_.sup, ack)) pending_ack_ = pub.generation;
        break;
      }
      case ipc::MsgType::kStop:
        stop_requested_ = true;
        break;
      case ipc::MsgType::kPing: {
        ipc::Message pong = msgs[i];
        pong.type = ipc::MsgType::kPong;
        pong.shard = static_cast<uint8_t>(config_.index);
        if (!ipc::SendMessage(channel_.sup, pong)) ++counters_.supervision_dropped;
        break;
      }
      case ipc::MsgType::kDrainBegin:
      case ipc::MsgType::kDrainEnd:
        core_.SetAdmitting(msgs[i].type == ipc::MsgType::kDrainEnd);
        // The control plane counts live streams from heartbeats: give it one now.
        next_health_ = now;
        break;
      default:
        break;
    }
  }
  return n != 0;
}

unsigned ShardRuntime::PollFromControl() {
  rte_mbuf* m[32];
  const unsigned n = ipc::ReceiveMbufs(channel_.pkt_down, m, 32);
  for (unsigned i = 0; i < n; ++i) {
    const ipc::PacketMeta meta = ipc::MetaOf(m[i]);
    if (meta.listener < config_.listeners) {
      Send(meta.listener, meta.addr, ipc::BytesOf(m[i]));
      ++counters_.from_control;
    } else {
      ++counters_.from_control_bad_listener;
    }
    ipc::FreeMbuf(m[i]);
  }
  return n;
}

void ShardRuntime::ToControl(uint32_t listener, uint32_t peer, std::span<const uint8_t> pkt,
                             route::Endpoint from) {
  const ipc::PacketMeta meta{listener, peer, from};
  rte_mbuf* m = ipc::PacketToMbuf(control_pool_, pkt, meta);
  if (m == nullptr || !ipc::SendMbuf(channel_.pkt_up, m)) {
    if (m != nullptr) ipc::FreeMbuf(m);
    ++counters_.to_control_full;
    return;
  }
  ++counters_.to_control;
  control_wake_ = true;
}

// ---------------------------------------------------------------------------------------------
// Receive

int64_t ShardRuntime::ResolvePeer(uint32_t listener, const route::Endpoint& from) const {
  const route::RouteSnapshot* snap = core_.snapshot();
  if (snap == nullptr) return -1;
  const std::span<const uint32_t> peers = snap->PeersOn(listener);
  if (peers.size() == 1) return peers[0];
  // Several peers share this listen address: the source address tells them apart (learned
  // targets included, so the snapshot's view is the one to ask).
  for (uint32_t p : peers) {
    if (snap->peers()[p].target == from) return p;
  }
  return -1;
}

void ShardRuntime::Deliver(uint32_t listener, std::span<const uint8_t> pkt,
                           const route::Endpoint& from, route::TimeNs now) {
  if (listener == route::kHbpListener) {
    if (core_.OnHbpPacket(pkt, from, now) != route::Verdict::kToControl) return;
    // Keepalives of logged-in clients are answered here, so they survive a busy or absent
    // control plane (DESIGN.md §2).
    proto::HbpIdPacket ping;
    const route::RouteSnapshot* snap = core_.snapshot();
    if (snap != nullptr && proto::ClassifyHbp(pkt) == proto::HbpType::kRptping &&
        proto::DecodeHbpIdPacket(pkt, &ping) == proto::Reject::kOk &&
        liveness_.OnPing(*snap, ping.value, from, now)) {
      uint8_t pong[proto::kMstpongBytes];
      const size_t len = proto::EncodeHbpIdPacket(proto::HbpType::kMstpong, ping.value, pong);
      Send(route::kHbpListener, from, {pong, len});
      ++counters_.pongs;
      return;
    }
    ToControl(route::kHbpListener, 0, pkt, from);
    return;
  }
  const int64_t peer = ResolvePeer(listener, from);
  if (peer < 0) {
    ++counters_.unknown_peer;
    return;
  }
  const route::Verdict v = core_.OnObpPacket(static_cast<uint32_t>(peer), pkt, from, now);
  if (v == route::Verdict::kToControl || v == route::Verdict::kRoutedToControl) {
    ToControl(listener, static_cast<uint32_t>(peer), pkt, from);
  }
}

// ---------------------------------------------------------------------------------------------
// Timers

void ShardRuntime::SendHealth(route::TimeNs now, const IoTotals& io) {
  const route::RoutingCounters& c = core_.counters();
  uint64_t dropped = io.dropped + c.rejects.total_rejects() + c.sink_full +
                     counters_.to_control_full + counters_.tx_no_buffer + counters_.unknown_peer;
  for (uint64_t d : c.drops) dropped += d;
  ipc::WorkerHealth h{};
  h.packets_in = io.rx;
  h.packets_out = io.tx;
  h.dropped = dropped;
  h.events_dropped = counters_.events_dropped;
  h.live_streams = core_.live_streams();
  h.generation_low = static_cast<uint32_t>(generation_);
  h.at = now;
  h.draining = core_.admitting() ? 0 : 1;
  ipc::Message m =
      ipc::Message::Make(ipc::MsgType::kWorkerHealth, static_cast<uint8_t>(config_.index), h);
  m.seq = seq_++;
  // Heartbeats leave the sup ring's second half to acks and ClientLost: with no control plane
  // attached for a long time, those must still fit when one comes back.
  if (ipc::RingFill(channel_.sup) * 2 >= ipc::RingCapacity(channel_.sup) ||
      !ipc::SendMessage(channel_.sup, m)) {
    ++counters_.supervision_dropped;
  }
}

void ShardRuntime::Timers(route::TimeNs now, const IoTotals& io) {
  if (now >= next_expire_) {
    next_expire_ = now + kExpireEvery;
    // FBP timestamps follow the wall clock, steps included, within one tick; no timer does.
    core_.SetWallOffset(WallNs() - now);
    core_.Expire(now);
  }
  core_.Play(now);  // every pass: the parrot's 60 ms cadence is kept to the loop's resolution
  if (now >= next_health_) {
    next_health_ = now + kHealthEvery;
    // Keepalive timeouts are whole seconds: one pass over the client slots a second is enough.
    liveness_.Tick(
        now,
        [&](uint32_t slot, uint32_t id, const route::Endpoint& addr) {
          const ipc::Message m =
              ipc::Message::Make(ipc::MsgType::kClientLost, static_cast<uint8_t>(config_.index),
                                 ipc::ClientLost{slot, id, now, addr});
          if (ipc::SendMessage(channel_.sup, m)) return true;
          ++counters_.supervision_dropped;
          return false;  // reported again at the next pass
        },
        // Reporting, not supervision: on the event ring, and only while it is at most half full
        // so that call events keep their room; what does not fit goes next second, newer.
        [&](uint32_t slot, uint32_t id, const route::Endpoint& addr, route::TimeNs last_ping,
            uint64_t pings) {
          if (ipc::RingFill(channel_.evt) * 2 >= ipc::RingCapacity(channel_.evt)) return false;
          return ipc::SendMessage(
              channel_.evt,
              ipc::Message::Make(ipc::MsgType::kClientPings, static_cast<uint8_t>(config_.index),
                                 ipc::ClientPings{slot, id, last_ping, pings, addr}));
        });
    SendHealth(now, io);
  }
}

void ShardRuntime::PublishStats(route::TimeNs now, ipc::ShardStatsSnapshot* s) {
  next_stats_ = now + kStatsEvery;
  using ipc::RouteStat;
  using ipc::RuntimeStat;
  using ipc::ShardGauge;
  const route::RoutingCounters& c = core_.counters();
  const auto route = [s](RouteStat k, uint64_t v) { s->route[static_cast<size_t>(k)] = v; };
  route(RouteStat::kPacketsIn, c.packets_in);
  route(RouteStat::kPacketsRouted, c.packets_routed);
  route(RouteStat::kPacketsOut, c.packets_out);
  route(RouteStat::kToControl, c.to_control);
  route(RouteStat::kContentionSkips, c.contention_skips);
  route(RouteStat::kQuenchSkips, c.quench_skips);
  route(RouteStat::kSinkFull, c.sink_full);
  route(RouteStat::kStreamsStarted, c.streams_started);
  route(RouteStat::kStreamsEnded, c.streams_ended);
  route(RouteStat::kStreamsLost, c.streams_lost);
  route(RouteStat::kSequenceGaps, c.sequence_gaps);
  route(RouteStat::kFramesLate, c.frames_late);
  route(RouteStat::kFramesEarly, c.frames_early);
  route(RouteStat::kRouteResolutions, c.route_resolutions);
  route(RouteStat::kSupersededSkips, c.superseded_skips);
  route(RouteStat::kParrotRecorded, c.parrot_recorded);
  route(RouteStat::kParrotPlayed, c.parrot_played);
  route(RouteStat::kParrotDropped, c.parrot_dropped);
  const auto runtime = [s](RuntimeStat k, uint64_t v) { s->runtime[static_cast<size_t>(k)] = v; };
  runtime(RuntimeStat::kPongs, counters_.pongs);
  runtime(RuntimeStat::kHandedToControl, counters_.to_control);
  runtime(RuntimeStat::kToControlFull, counters_.to_control_full);
  runtime(RuntimeStat::kFromControl, counters_.from_control);
  runtime(RuntimeStat::kFromControlBadListener, counters_.from_control_bad_listener);
  runtime(RuntimeStat::kEventsSent, counters_.events_sent);
  runtime(RuntimeStat::kEventsDropped, counters_.events_dropped);
  runtime(RuntimeStat::kSupervisionDropped, counters_.supervision_dropped);
  runtime(RuntimeStat::kUnknownPeer, counters_.unknown_peer);
  runtime(RuntimeStat::kTxNoBuffer, counters_.tx_no_buffer);
  s->drops = c.drops;
  s->rejects = c.rejects.by_reason;
  // The table refuses a stream only when even forgetting an ended one made no room: counted as
  // the drop it causes (DropReason::kTableFull), so it needs no counter of its own here.
  const auto gauge = [s](ShardGauge k, uint64_t v) { s->gauges[static_cast<size_t>(k)] = v; };
  gauge(ShardGauge::kLiveStreams, core_.live_streams());
  gauge(ShardGauge::kTrackedStreams, core_.tracked_streams());
  gauge(ShardGauge::kStreamCapacity, config_.core.stream_capacity);
  gauge(ShardGauge::kClients, liveness_.clients());
  gauge(ShardGauge::kSnapshotGeneration, generation_);
  gauge(ShardGauge::kDraining, core_.admitting() ? 0 : 1);
  gauge(ShardGauge::kCmdRing, ipc::RingFill(channel_.cmd));
  gauge(ShardGauge::kEvtRing, ipc::RingFill(channel_.evt));
  gauge(ShardGauge::kSupRing, ipc::RingFill(channel_.sup));
  gauge(ShardGauge::kPktUpRing, ipc::RingFill(channel_.pkt_up));
  gauge(ShardGauge::kPktDownRing, ipc::RingFill(channel_.pkt_down));
  s->shard = config_.index;
  s->published_ns = now;
  s->tsc_hz = rte_get_tsc_hz();
  config_.stats->Publish(*s);
}

}  // namespace dmrswitch::io
