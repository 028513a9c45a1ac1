#include "ctrlplane/control_plane.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "ctrlplane/restart_state.h"
#include "dataplane/io/clock.h"
#include "spdlog/spdlog.h"

namespace dmrswitch::cp {
namespace {

// Snapshots are rebuilt at most this often: a burst of logins or new talkers becomes one
// generation, and the shards re-resolve live routes once.
constexpr route::TimeNs kRebuildEvery = 20 * route::kMs;
// Unit-data locations are forgotten after a day (FreeDMR prunes SUB_MAP at 24 h), and the map
// is bounded so that random rf_src values cannot grow it without limit.
constexpr route::TimeNs kHeardFor = 24 * 3600 * route::kSec;
constexpr size_t kMaxHeard = 200000;
constexpr int kIdleWaitMs = 5;

nlohmann::json Percentiles(std::vector<uint64_t> v) {
  if (v.empty()) return {{"count", 0}};
  std::sort(v.begin(), v.end());
  const auto at = [&](double q) {
    return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))];
  };
  return {{"count", v.size()},  {"min_ns", v.front()}, {"p50_ns", at(0.50)},
          {"p90_ns", at(0.90)}, {"p99_ns", at(0.99)},  {"max_ns", v.back()}};
}

ObpLinksSettings LinkTimers(const HubConfig& c) {
  // The link timers are hub-wide in ObpLinks; the first peer's values stand for all (the
  // defaults are FreeDMR's, and peers rarely differ).
  ObpLinksSettings s;
  if (!c.obp.empty()) {
    s.keepalive_interval = route::TimeNs{c.obp[0].keepalive_s} * route::kSec;
    s.dead_after = route::TimeNs{c.obp[0].dead_after_s} * route::kSec;
    s.bcve_interval = route::TimeNs{c.obp[0].bcve_interval_s} * route::kSec;
  }
  return s;
}

}  // namespace

ControlPlane::ControlPlane(HubConfig config, std::string config_path,
                           std::vector<ipc::ShardChannel> channels, rte_ring* cp_cmd,
                           rte_mempool* pool, std::vector<int> shard_wake_fds,
                           ipc::PlaneInfo* plane_info)
    : config_(std::move(config)),
      config_path_(std::move(config_path)),
      channels_(channels),
      cp_cmd_(cp_cmd),
      pool_(pool),
      shard_wake_fds_(std::move(shard_wake_fds)),
      plane_info_(plane_info),
      publisher_(channels, plane_info),
      health_(channels.size()),
      health_seen_at_(channels.size(), 0),
      silent_reported_(channels.size(), false) {
  auth_ = std::make_unique<HbpAuth>(AuthSettings());
  links_ = std::make_unique<ObpLinks>(MakePeerSpecs(config_), LinkTimers(config_));
  subs_ = std::make_unique<Subscriptions>(SubsSettings());
  auth_id_ = supervisor_.Add("auth", [this](route::TimeNs now) { RestartAuth(now); });
  links_id_ = supervisor_.Add("obp-links", [this](route::TimeNs now) { RestartLinks(now); });
  subs_id_ =
      supervisor_.Add("subscriptions", [this](route::TimeNs now) { RestartSubscriptions(now); });
  snapshot_id_ = supervisor_.Add("snapshot", [this](route::TimeNs) { dirty_ = true; });
  status_id_ = supervisor_.Add("status", [](route::TimeNs) {});
}

SubscriptionSettings ControlPlane::SubsSettings() const {
  SubscriptionSettings s;
  s.default_ua_timer =
      static_cast<route::TimeNs>(config_.hbp.default_ua_timer_min * 60 * route::kSec);
  s.single_mode = config_.hbp.single_mode;
  s.activate_on = config_.hbp.activate_on;
  for (const StaticTgs& st : config_.hbp.statics) s.statics[st.client] = {st.ts[0], st.ts[1]};
  return s;
}

HbpAuthSettings ControlPlane::AuthSettings() const {
  HbpAuthSettings s;
  s.passphrase = config_.hbp.passphrase;
  s.allow_null_passphrase = config_.hbp.allow_null_passphrase;
  s.reg_acl = config_.acl.reg;
  s.max_clients = config_.hbp.max_clients;
  s.login_burst = config_.hbp.login_burst;
  s.login_window = route::TimeNs{config_.hbp.login_window_s} * route::kSec;
  s.block_time = route::TimeNs{config_.hbp.login_block_s} * route::kSec;
  s.seed = std::random_device{}();
  // [[hbp.fixed_client]]: logged in from the start, in configuration order at slots 0, 1, ...
  for (size_t i = 0; i < config_.hbp.fixed_clients.size(); ++i) {
    const FixedClient& f = config_.hbp.fixed_clients[i];
    ClientRecord r;
    r.id = f.id;
    r.slot = static_cast<uint32_t>(i);
    r.addr = f.addr;
    r.slots = f.slots;
    r.slot_mask = proto::RptcSlotMask(f.slots);
    r.callsign = f.callsign;
    r.options = f.options;
    r.fixed = true;
    s.fixed_clients.push_back(std::move(r));
  }
  return s;
}

absl::Status ControlPlane::Start(route::TimeNs now) {
  next_second_ = now;
  next_status_ = now + route::TimeNs{config_.hub.status_interval_s} * route::kSec;
  last_status_at_ = now;
  started_at_ = now;
  if (const std::string path = CtlSocketPath(config_); !path.empty()) {
    auto ctl = CtlServer::Listen(path);
    if (!ctl.ok()) return ctl.status();
    ctl_ = *std::move(ctl);
  }
  if (plane_info_ != nullptr && plane_info_->current_generation.load() != 0) {
    return RestoreFromPlane(now);
  }
  // Fixed clients are logged in already (HbpAuth's constructor): subscribe them as a login with
  // their options would, so that the first snapshot carries their statics.
  for (size_t i = 0; i < config_.hbp.fixed_clients.size(); ++i) {
    const FixedClient& f = config_.hbp.fixed_clients[i];
    const ClientRecord* r = auth_->Find(f.id);
    if (r == nullptr) continue;
    subs_->OnClientUp(r->id, r->slot, r->slot_mask, now);
    if (r->options.empty()) continue;
    std::vector<std::string> warnings;
    if (absl::Status st = subs_->ApplyOptions(r->id, r->options, now, &warnings); !st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(config_.source, ": hbp.fixed_client[", i,
                                                     "].options = \"", r->options,
                                                     "\": ", st.message()));
    }
    for (const std::string& w : warnings) {
      spdlog::warn("fixed client {} options: {}", r->id, w);
    }
  }
  if (!config_.hbp.fixed_clients.empty()) {
    spdlog::info("{} fixed clients logged in by configuration", config_.hbp.fixed_clients.size());
  }
  links_->Tick(now, &outbox_);
  if (absl::Status st = Rebuild(now); !st.ok()) return st;
  Flush();
  return absl::OkStatus();
}

void ControlPlane::Run(const std::atomic<bool>& stop, std::atomic<bool>& reload, int wake_fd) {
  while (!stop.load()) {
    if (reload.exchange(false)) {
      if (absl::Status st = Reload(io::MonotonicNs()); !st.ok()) {
        spdlog::error("reload refused, running configuration kept: {}", std::string(st.message()));
      }
    }
    Step(io::MonotonicNs());
    pollfd p{wake_fd, POLLIN, 0};
    if (poll(&p, wake_fd >= 0 ? 1 : 0, kIdleWaitMs) > 0) {
      uint64_t v;
      [[maybe_unused]] ssize_t r = read(wake_fd, &v, sizeof(v));
    }
  }
}

bool ControlPlane::InjectFault(std::string_view component) {
  for (size_t id = 0; id < supervisor_.size(); ++id) {
    if (supervisor_.name(id) == component) {
      supervisor_.InjectFault(id);
      return true;
    }
  }
  return false;
}

void ControlPlane::Step(route::TimeNs now) {
  if (cp_cmd_ != nullptr) {
    ipc::Message cmds[8];
    const unsigned n = ipc::ReceiveMessages(cp_cmd_, cmds, 8);
    for (unsigned i = 0; i < n; ++i) {
      switch (cmds[i].type) {
        case ipc::MsgType::kReload:
          if (absl::Status st = Reload(now); !st.ok()) {
            spdlog::error("reload refused, running configuration kept: {}",
                          std::string(st.message()));
          }
          break;
        case ipc::MsgType::kDrain:
          BeginDrain(now, route::TimeNs{cmds[i].As<ipc::DrainRequest>().timeout_ms} * route::kMs);
          break;
        case ipc::MsgType::kResume:
          Resume();
          break;
        default:
          break;
      }
    }
  }
  if (ctl_) {
    for (const CtlRequest& r : ctl_->Poll()) OnCtl(r, now);
  }
  for (uint32_t s = 0; s < channels_.size(); ++s) DrainShard(s, now);
  // Each shard's events are in order, but the shards are drained one after the other: a call
  // that started and ended on shard 1 must not be applied before an earlier call on shard 0
  // (single mode keeps the TG used *last*). Merge by the shards' timestamps.
  std::stable_sort(events_.begin(), events_.end(),
                   [](const route::Event& a, const route::Event& b) { return a.at < b.at; });
  for (const route::Event& e : events_) OnEvent(e, now);
  events_.clear();
  ApplyAuthChanges(now);

  if (now >= next_second_) {
    next_second_ = now + route::kSec;
    supervisor_.Run(auth_id_, now, [&] { auth_->Expire(now, &outbox_, &changes_); });
    ApplyAuthChanges(now);
    supervisor_.Run(subs_id_, now, [&] {
      if (subs_->Expire(now)) dirty_ = true;
    });
    for (auto it = heard_.begin(); it != heard_.end();) {
      if (now - it->second.at > kHeardFor) {
        heard_.erase(it++);
      } else {
        ++it;
      }
    }
  }
  supervisor_.Run(links_id_, now, [&] {
    links_->Tick(now, &outbox_);
    if (links_->TakeChanged()) dirty_ = true;
  });
  supervisor_.Run(subs_id_, now, [&] {
    if (subs_->TakeChanged()) dirty_ = true;
    for (const std::string& w : subs_->TakeWarnings()) spdlog::info("subscriptions: {}", w);
  });

  if (dirty_ && now >= next_rebuild_) {
    supervisor_.Run(snapshot_id_, now, [&] {
      if (absl::Status st = Rebuild(now); !st.ok()) {
        throw std::runtime_error(std::string(st.message()));
      }
    });
  }
  publisher_.Retry();
  Flush();
  CheckDrain(now);
  CheckHeartbeats(now);
  if (now >= next_status_) {
    next_status_ = now + route::TimeNs{config_.hub.status_interval_s} * route::kSec;
    supervisor_.Run(status_id_, now, [&] { StatusLine(now); });
  }
}

void ControlPlane::DrainShard(uint32_t shard, route::TimeNs now) {
  // Supervision first (acks, heartbeats, ClientLost: never crowded out by events), then events.
  ipc::Message msgs[64];
  for (rte_ring* ring : {channels_[shard].sup, channels_[shard].evt}) {
    for (int round = 0; round < 16; ++round) {
      const unsigned n = ipc::ReceiveMessages(ring, msgs, 64);
      for (unsigned i = 0; i < n; ++i) OnMessage(shard, msgs[i], now);
      if (n < 64) break;
    }
  }
  rte_mbuf* pkts[32];
  for (int round = 0; round < 16; ++round) {
    const unsigned n = ipc::ReceiveMbufs(channels_[shard].pkt_up, pkts, 32);
    for (unsigned i = 0; i < n; ++i) {
      OnPacket(pkts[i], now);
      ipc::FreeMbuf(pkts[i]);
    }
    if (n < 32) break;
  }
}

void ControlPlane::OnMessage(uint32_t shard, const ipc::Message& m, route::TimeNs now) {
  switch (m.type) {
    case ipc::MsgType::kEvent:
      events_.push_back(m.As<route::Event>());
      break;
    case ipc::MsgType::kPong:
      pongs_.push_back(Pong{shard, m.As<ipc::Ping>(), io::MonotonicNs()});
      break;
    case ipc::MsgType::kSnapshotAck:
      publisher_.OnAck(shard, m.As<ipc::SnapshotAck>().generation);
      break;
    case ipc::MsgType::kWorkerHealth:
      health_[shard] = m.As<ipc::WorkerHealth>();
      health_seen_at_[shard] = now;
      if (health_[shard].draining != 0 && !drain_.active) {
        // A drain begun by a predecessor control plane: it stays in effect (resume ends it).
        drain_.active = true;
        drain_.done = true;
        drain_.started = health_[shard].at;
      }
      if (silent_reported_[shard]) {
        spdlog::info("shard {} heartbeats again", shard);
        silent_reported_[shard] = false;
      }
      break;
    case ipc::MsgType::kClientLost: {
      const auto lost = m.As<ipc::ClientLost>();
      supervisor_.Run(auth_id_, now,
                      [&] { auth_->OnClientLost(lost.id, now, &outbox_, &changes_); });
      break;
    }
    default:
      break;
  }
}

void ControlPlane::OnPacket(rte_mbuf* m, route::TimeNs now) {
  const ipc::PacketMeta meta = ipc::MetaOf(m);
  const std::span<const uint8_t> bytes = ipc::BytesOf(m);
  if (meta.listener == route::kHbpListener) {
    supervisor_.Run(auth_id_, now,
                    [&] { auth_->OnPacket(bytes, meta.addr, now, &outbox_, &changes_); });
  } else {
    supervisor_.Run(links_id_, now,
                    [&] { links_->OnPacket(meta.peer, bytes, meta.addr, now, &outbox_); });
  }
}

void ControlPlane::OnEvent(const route::Event& e, route::TimeNs now) {
  switch (e.type) {
    case route::EventType::kStreamStarted:
      ++streams_started_;
      if (e.source.is_peer()) {
        supervisor_.Run(links_id_, now, [&] { links_->OnTraffic(e.source.index, now); });
      } else if (e.source.is_client() && e.rf_src != 0) {
        auto it = heard_.find(e.rf_src);
        if (it == heard_.end() || it->second.slot != e.source.index || it->second.ts != e.ts) {
          if (heard_.size() < kMaxHeard || it != heard_.end()) {
            heard_[e.rf_src] = Heard{e.source.index, e.ts, now};
            dirty_ = true;
          }
        } else {
          it->second.at = now;
        }
      }
      spdlog::debug("stream {:08x} started: rf_src {} → {} TS{} from {} {}", e.stream_id, e.rf_src,
                    e.dst, e.ts + 1, e.source.is_peer() ? "peer" : "client", e.source_id);
      break;
    case route::EventType::kStreamEnded:
    case route::EventType::kStreamLost:
      spdlog::debug("stream {:08x} {}: {} packets, {} lost, {} ms", e.stream_id,
                    e.type == route::EventType::kStreamEnded ? "ended" : "lost", e.packets, e.lost,
                    e.duration_ms);
      [[fallthrough]];
    case route::EventType::kSubscriptionRequest:
      supervisor_.Run(subs_id_, now, [&] { subs_->OnEvent(e, now); });
      break;
    case route::EventType::kSourceQuenchSent:
    case route::EventType::kSourceQuenchReceived:
      break;
  }
}

void ControlPlane::ApplyAuthChanges(route::TimeNs now) {
  if (changes_.empty()) return;
  for (const AuthChange& c : changes_) {
    supervisor_.Run(subs_id_, now, [&] {
      std::vector<std::string> warnings;
      switch (c.kind) {
        case AuthChange::kClientUp:
          spdlog::info("client {} logged in from {} (slot {})", c.id, FormatEndpoint(c.addr),
                       c.slot);
          subs_->OnClientUp(c.id, c.slot, c.slot_mask, now);
          [[fallthrough]];
        case AuthChange::kOptions:
          if (!c.options.empty()) {
            if (absl::Status st = subs_->ApplyOptions(c.id, c.options, now, &warnings); !st.ok()) {
              spdlog::warn("client {} options refused: {}", c.id, std::string(st.message()));
            }
            for (const std::string& w : warnings) spdlog::info("client {} options: {}", c.id, w);
          }
          break;
        case AuthChange::kClientDown:
          spdlog::info("client {} logged out ({})", c.id, c.reason);
          subs_->OnClientDown(c.id);
          break;
      }
    });
  }
  changes_.clear();
  dirty_ = true;
}

absl::Status ControlPlane::Rebuild(route::TimeNs now) {
  route::RouteSnapshotBuilder b(MakeHubPolicy(config_), config_.hbp.max_clients);
  std::vector<ClientRecord> clients;
  for (const ClientRecord* c : auth_->Clients()) {
    if (absl::Status st = b.AddClient(c->slot, c->Spec()); !st.ok()) return st;
    clients.push_back(*c);
  }
  for (const route::PeerSpec& p : links_->Specs()) {
    if (auto st = b.AddPeer(p); !st.ok()) return st.status();
  }
  if (absl::Status st = subs_->AddTo(&b); !st.ok()) return st;
  for (const auto& [rf_src, h] : heard_) b.AddSubscriberLocation(rf_src, h.slot, h.ts);
  RestartState state;
  state.clients = clients;
  state.subscriptions = subs_->Export();
  state.heard.reserve(heard_.size());
  for (const auto& [rf_src, h] : heard_) {
    state.heard.push_back(HeardSubscriber{rf_src, h.slot, h.ts, h.at});
  }
  state.streams_started = streams_started_;
  b.SetControlState(EncodeRestartState(state));
  auto snap = b.Build(next_generation_);
  if (!snap.ok()) return snap.status();
  if (!publisher_.Publish(*std::move(snap))) {
    // Shards that do not ack pin old generations; keep the change and try again later.
    if (!publish_refused_logged_) {
      spdlog::error("snapshot g{} not published: {} generations wait for shard acks",
                    next_generation_, ipc::PlaneInfo::kMaxRetained);
      publish_refused_logged_ = true;
    }
    next_rebuild_ = now + kRebuildEvery;
    return absl::OkStatus();
  }
  publish_refused_logged_ = false;
  // Kernel-mode shards sleep in poll() between packets: wake them to switch now.
  for (int fd : shard_wake_fds_) {
    if (fd < 0) continue;
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t r = write(fd, &one, sizeof(one));
  }
  ++next_generation_;
  published_clients_ = std::move(clients);
  published_subs_ = std::move(state.subscriptions);
  dirty_ = false;
  next_rebuild_ = now + kRebuildEvery;
  return absl::OkStatus();
}

absl::Status ControlPlane::RestoreFromPlane(route::TimeNs now) {
  std::vector<std::shared_ptr<const route::RouteSnapshot>> retained;
  for (const ipc::SnapshotRecord& r : plane_info_->retained) {
    if (r.generation.load() == 0) continue;
    const auto* snap = static_cast<const route::RouteSnapshot*>(r.snapshot.load());
    if (snap == nullptr || snap->generation() != r.generation.load()) {
      // A predecessor killed between the two stores of a record: nothing a shard can have seen.
      spdlog::warn("plane record of g{} is incomplete; skipped", r.generation.load());
      continue;
    }
    // RouteSnapshot frees itself through the snapshot memory hooks (rte_free here).
    retained.emplace_back(snap);
  }
  if (retained.empty()) {
    return absl::DataLossError("the plane records a current generation but no snapshot");
  }
  // The publisher owns them from here on: whatever fails below, it hands them over (never frees
  // them) when this control plane goes away, and the shards keep reading them.
  publisher_.Adopt(retained);
  const std::shared_ptr<const route::RouteSnapshot> current = publisher_.current();
  auto state = DecodeRestartState(current->control_state());
  if (!state.ok()) return state.status();
  published_clients_ = state->clients;
  published_subs_ = state->subscriptions;
  auth_->Restore(std::move(state->clients));
  subs_->Restore(published_subs_, now);
  for (const HeardSubscriber& h : state->heard) heard_[h.rf_src] = Heard{h.slot, h.ts, h.at};
  streams_started_ = state->streams_started;
  next_generation_ = current->generation() + 1;
  RestoreLinksFrom(*current, now);
  spdlog::info(
      "control plane continues from snapshot g{} ({} retained): {} clients, {} with "
      "subscriptions",
      current->generation(), retained.size(), published_clients_.size(), published_subs_.size());
  restored_ = true;
  links_->Tick(now, &outbox_);
  // The configuration file may have changed while no control plane ran: the next snapshot
  // carries the current policy.
  dirty_ = true;
  Flush();
  return absl::OkStatus();
}

void ControlPlane::RestoreLinksFrom(const route::RouteSnapshot& snap, route::TimeNs now) {
  // Peers the shards route to (alive, learned address) stay so; a fresh ObpLinks would call
  // every FBP peer dead until its next keepalive and cut inter-hub calls meanwhile.
  for (const route::PeerInfo& p : snap.peers()) {
    links_->Restore(std::string(p.name.data(), p.name.size()), p.target, p.alive, now);
  }
}

// --- Drain, heartbeats, dmrswitch-ctl -----------------------------------------------------------

namespace {
// A shard sends a heartbeat every second; three missed ones is a shard in trouble.
constexpr route::TimeNs kShardSilentAfter = 3 * route::kSec;
}  // namespace

void ControlPlane::BeginDrain(route::TimeNs now, route::TimeNs timeout) {
  for (uint32_t s = 0; s < channels_.size(); ++s) {
    // A full command ring would be a wedged shard; the drain then reports it as not idle.
    ipc::SendMessage(channels_[s].cmd,
                     ipc::Message::Make(ipc::MsgType::kDrainBegin, static_cast<uint8_t>(s)));
  }
  if (!drain_.active || drain_.done) {
    drain_.started = now;
    drain_.live_at_start = totals().live_streams;
  }
  drain_.active = true;
  drain_.done = false;
  drain_.deadline = now + timeout;
  spdlog::info("drain: admitting no new streams; {} live, waiting up to {:.1f} s for them to end",
               drain_.live_at_start, static_cast<double>(timeout) / route::kSec);
}

void ControlPlane::Resume() {
  for (uint32_t s = 0; s < channels_.size(); ++s) {
    ipc::SendMessage(channels_[s].cmd,
                     ipc::Message::Make(ipc::MsgType::kDrainEnd, static_cast<uint8_t>(s)));
  }
  if (drain_.active) spdlog::info("drain ended: admitting new streams again");
  for (uint64_t w : drain_.waiters) {
    if (ctl_) ctl_->Reply(w, {{"ok", false}, {"error", "drain ended by resume"}});
  }
  drain_ = Drain{};
}

void ControlPlane::CheckDrain(route::TimeNs now) {
  if (!drain_.active || drain_.done) return;
  bool all_draining = true;
  uint32_t live = 0;
  for (const ipc::WorkerHealth& h : health_) {
    // A heartbeat from after the drain began that says "draining": the shard has stopped
    // admitting, so its live count only goes down from here.
    all_draining &= h.draining != 0 && h.at >= drain_.started;
    live += h.live_streams;
  }
  const bool idle = all_draining && live == 0;
  if (!idle && now < drain_.deadline) return;
  drain_.done = true;
  const uint32_t cut = idle ? 0 : live;
  const double waited = static_cast<double>(now - drain_.started) / route::kSec;
  if (idle) {
    spdlog::info("drain: idle after {:.1f} s, 0 streams cut; the dp can be restarted", waited);
  } else {
    spdlog::warn("drain: {} stream(s) still live after {:.1f} s{}; a dp restart cuts them", cut,
                 waited, all_draining ? "" : " (a shard did not confirm the drain)");
  }
  const nlohmann::json answer{{"ok", true},         {"idle", idle},
                              {"cut", cut},         {"live_at_start", drain_.live_at_start},
                              {"waited_s", waited}, {"all_shards_confirmed", all_draining}};
  for (uint64_t w : drain_.waiters) {
    if (ctl_) ctl_->Reply(w, answer);
  }
  drain_.waiters.clear();
}

std::vector<uint32_t> ControlPlane::SilentShards(route::TimeNs now) const {
  std::vector<uint32_t> out;
  for (uint32_t s = 0; s < health_seen_at_.size(); ++s) {
    const route::TimeNs last = std::max(health_seen_at_[s], started_at_);
    if (now > last && now - last > kShardSilentAfter) out.push_back(s);
  }
  return out;
}

void ControlPlane::CheckHeartbeats(route::TimeNs now) {
  for (uint32_t s : SilentShards(now)) {
    if (silent_reported_[s]) continue;
    silent_reported_[s] = true;
    spdlog::error(
        "shard {} sent no heartbeat for {:.1f} s: it may be stuck", s,
        static_cast<double>(now - std::max(health_seen_at_[s], started_at_)) / route::kSec);
  }
}

nlohmann::json ControlPlane::StatusJson(route::TimeNs now) const {
  const PlaneTotals t = totals();
  nlohmann::json shards = nlohmann::json::array();
  const std::vector<uint32_t> silent = SilentShards(now);
  for (uint32_t s = 0; s < health_.size(); ++s) {
    const ipc::WorkerHealth& h = health_[s];
    shards.push_back({{"shard", s},
                      {"packets_in", h.packets_in},
                      {"packets_out", h.packets_out},
                      {"dropped", h.dropped},
                      {"events_dropped", h.events_dropped},
                      {"live_streams", h.live_streams},
                      {"draining", h.draining != 0},
                      {"silent", std::find(silent.begin(), silent.end(), s) != silent.end()}});
  }
  return {{"ok", true},
          {"clients", auth_->size()},
          {"generation", publisher_.generation()},
          {"acked_by_all", publisher_.acked_by_all()},
          {"live_streams", t.live_streams},
          {"events_dropped", t.events_dropped},
          {"draining", drain_.active},
          {"restored", restored_},
          {"shards", std::move(shards)}};
}

nlohmann::json ControlPlane::Probe(uint32_t pings, uint32_t publishes) {
  // The probe holds the control plane (no events, logins or keepalives are handled meanwhile):
  // bounded, also against a wedged shard.
  constexpr uint64_t kGiveUpNs = 10'000'000'000ull;
  const uint32_t n = static_cast<uint32_t>(channels_.size());
  const auto poll_sup = [&] {
    for (uint32_t s = 0; s < n; ++s) {
      ipc::Message msgs[16];
      const unsigned got = ipc::ReceiveMessages(channels_[s].sup, msgs, 16);
      for (unsigned i = 0; i < got; ++i) OnMessage(s, msgs[i], io::MonotonicNs());
    }
  };

  // Round trips: one ping in flight per shard, the next sent when its pong is back.
  std::vector<uint64_t> rtt;
  rtt.reserve(pings);
  std::vector<bool> in_flight(n, false);
  uint32_t sent = 0;
  uint64_t start = io::MonotonicNs();
  pongs_.clear();
  while (rtt.size() < pings && io::MonotonicNs() - start < kGiveUpNs) {
    for (uint32_t s = 0; s < n && sent < pings; ++s) {
      if (in_flight[s]) continue;
      const ipc::Message m = ipc::Message::Make(ipc::MsgType::kPing, static_cast<uint8_t>(s),
                                                ipc::Ping{sent, io::MonotonicNs()});
      if (ipc::SendMessage(channels_[s].cmd, m)) {
        in_flight[s] = true;
        ++sent;
      }
    }
    poll_sup();
    for (const Pong& p : pongs_) {
      rtt.push_back(p.received_ns - p.ping.sent_ns);
      if (p.shard < n) in_flight[p.shard] = false;
    }
    pongs_.clear();
  }

  // Publish to ack: a new generation of the same state, until every shard acked it.
  std::vector<uint64_t> publish_to_ack;
  start = io::MonotonicNs();
  for (uint32_t i = 0; i < publishes && io::MonotonicNs() - start < kGiveUpNs; ++i) {
    const route::TimeNs now = io::MonotonicNs();
    dirty_ = true;
    if (!Rebuild(now).ok()) break;
    const uint64_t generation = publisher_.generation();
    const uint64_t t0 = io::MonotonicNs();
    while (publisher_.acked_by_all() < generation && io::MonotonicNs() - start < kGiveUpNs) {
      poll_sup();
      publisher_.Retry();
    }
    if (publisher_.acked_by_all() >= generation) publish_to_ack.push_back(io::MonotonicNs() - t0);
  }
  next_rebuild_ = 0;
  return {{"ok", true},
          {"shards", n},
          {"ring_round_trip", Percentiles(std::move(rtt))},
          {"publish_to_ack", Percentiles(std::move(publish_to_ack))}};
}

void ControlPlane::OnCtl(const CtlRequest& r, route::TimeNs now) {
  const std::string cmd = r.body["cmd"].get<std::string>();
  if (cmd == "drain") {
    double timeout_s = 60;
    if (r.body.contains("timeout_s") && !r.body["timeout_s"].is_number()) {
      ctl_->Reply(r.connection, {{"ok", false}, {"error", "timeout_s must be a number"}});
      return;
    }
    if (r.body.contains("timeout_s")) {
      if (!r.body["timeout_s"].is_number() || r.body["timeout_s"].get<double>() < 0 ||
          r.body["timeout_s"].get<double>() > 3600) {
        ctl_->Reply(r.connection, {{"ok", false}, {"error", "timeout_s must be 0..3600"}});
        return;
      }
      timeout_s = r.body["timeout_s"].get<double>();
    }
    BeginDrain(now, static_cast<route::TimeNs>(timeout_s * route::kSec));
    drain_.waiters.push_back(r.connection);
  } else if (cmd == "probe") {
    const auto count = [&](const char* key, uint64_t fallback) -> int64_t {
      if (!r.body.contains(key)) return static_cast<int64_t>(fallback);
      return r.body[key].is_number_unsigned() ? r.body[key].get<int64_t>() : -1;
    };
    const int64_t pings = count("pings", 10000), publishes = count("publishes", 100);
    if (pings < 0 || publishes < 0 || pings > 1000000 || publishes > 10000) {
      ctl_->Reply(r.connection,
                  {{"ok", false}, {"error", "at most 1000000 pings, 10000 publishes"}});
      return;
    }
    ctl_->Reply(r.connection,
                Probe(static_cast<uint32_t>(pings), static_cast<uint32_t>(publishes)));
  } else if (cmd == "resume") {
    Resume();
    ctl_->Reply(r.connection, {{"ok", true}});
  } else if (cmd == "status") {
    ctl_->Reply(r.connection, StatusJson(now));
  } else if (cmd == "reload") {
    const absl::Status st = Reload(now);
    ctl_->Reply(r.connection,
                st.ok() ? nlohmann::json{{"ok", true}}
                        : nlohmann::json{{"ok", false}, {"error", std::string(st.message())}});
  } else {
    ctl_->Reply(r.connection, {{"ok", false},
                               {"error", "unknown command \"" + cmd +
                                             "\" (drain, resume, status, reload, probe)"}});
  }
}

void ControlPlane::Flush() {
  if (outbox_.empty()) return;
  // Replies leave through shard 0's sockets: any socket of a listener's group sends from the
  // listener's address, and one shard keeps a client's replies in order.
  const uint32_t shard = 0;
  for (const Datagram& d : outbox_) {
    uint32_t listener = route::kHbpListener;
    if (d.listener.kind == Listener::kObp) {
      listener = d.listener.peer < config_.obp.size() ? config_.obp[d.listener.peer].listener + 1
                                                      : route::kNoListener;
    }
    const ipc::PacketMeta meta{listener, d.listener.peer, d.addr};
    rte_mbuf* m = ipc::PacketToMbuf(pool_, d.bytes, meta);
    if (m == nullptr || !ipc::SendMbuf(channels_[shard].pkt_down, m)) {
      if (m != nullptr) ipc::FreeMbuf(m);
      ++packets_to_shards_dropped_;
    }
  }
  outbox_.clear();
  if (shard < shard_wake_fds_.size() && shard_wake_fds_[shard] >= 0) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t r = write(shard_wake_fds_[shard], &one, sizeof(one));
  }
}

PlaneTotals ControlPlane::totals() const {
  PlaneTotals t;
  for (const ipc::WorkerHealth& h : health_) {
    t.packets_in += h.packets_in;
    t.packets_out += h.packets_out;
    t.dropped += h.dropped;
    t.events_dropped += h.events_dropped;
    t.live_streams += h.live_streams;
  }
  return t;
}

void ControlPlane::StatusLine(route::TimeNs now) {
  const PlaneTotals t = totals();
  const double secs = static_cast<double>(now - last_status_at_) / route::kSec;
  auto rate = [&](uint64_t cur, uint64_t prev) {
    return secs > 0 ? static_cast<double>(cur - prev) / secs : 0.0;
  };
  size_t alive = 0;
  const std::vector<route::PeerSpec> peers = links_->Specs();
  for (const route::PeerSpec& p : peers) alive += p.alive ? 1 : 0;
  spdlog::info(
      "status: clients {}, peers {}/{} alive, streams {} live, in {:.0f} pps, out {:.0f} pps, "
      "dropped {:.0f} pps, events dropped {}, snapshot g{} (all shards on g{})",
      auth_->size(), alive, peers.size(), t.live_streams,
      rate(t.packets_in, last_status_totals_.packets_in),
      rate(t.packets_out, last_status_totals_.packets_out),
      rate(t.dropped, last_status_totals_.dropped), t.events_dropped, publisher_.generation(),
      publisher_.acked_by_all());
  last_status_totals_ = t;
  last_status_at_ = now;
}

absl::Status ControlPlane::Reload(route::TimeNs now) {
  if (config_path_.empty()) {
    return absl::FailedPreconditionError("the hub runs the embedded default configuration");
  }
  auto next = LoadConfigFile(config_path_);
  if (!next.ok()) return next.status();
  std::string why;
  if (RequiresRestart(config_, *next, &why)) {
    spdlog::warn("reload: {} need a restart; those keep their running values", why);
    next->hub = config_.hub;
    next->hbp.listen = config_.hbp.listen;
    next->hbp.max_clients = config_.hbp.max_clients;
    next->hbp.fixed_clients = config_.hbp.fixed_clients;
    next->obp_listeners = config_.obp_listeners;
    next->dpdk = config_.dpdk;
    if (next->obp.size() != config_.obp.size()) {
      return absl::FailedPreconditionError(
          "reload: adding or removing [[obp]] peers needs a restart");
    }
    for (size_t i = 0; i < next->obp.size(); ++i) {
      next->obp[i].listen = config_.obp[i].listen;
      next->obp[i].listener = config_.obp[i].listener;
      next->obp[i].shared_listen = config_.obp[i].shared_listen;
    }
  }
  config_ = *std::move(next);
  // Components keep their live state (logins, learned peer addresses, subscriptions) and take
  // the new settings; the next snapshot carries the new policy.
  std::vector<ClientRecord> logged_in;
  for (const ClientRecord* c : auth_->Clients()) logged_in.push_back(*c);
  auth_ = std::make_unique<HbpAuth>(AuthSettings());
  auth_->Restore(std::move(logged_in));
  links_->Reconfigure(MakePeerSpecs(config_));
  subs_->UpdateSettings(SubsSettings());
  (void)now;
  dirty_ = true;
  next_rebuild_ = 0;
  spdlog::info("configuration reloaded from {}", config_path_);
  return absl::OkStatus();
}

void ControlPlane::Shutdown() {
  auth_->Shutdown(&outbox_);
  Flush();
}

void ControlPlane::RestartAuth(route::TimeNs) {
  auth_ = std::make_unique<HbpAuth>(AuthSettings());
  auth_->Restore(published_clients_);
}

void ControlPlane::RestartLinks(route::TimeNs now) {
  links_ = std::make_unique<ObpLinks>(MakePeerSpecs(config_), LinkTimers(config_));
  if (publisher_.current()) RestoreLinksFrom(*publisher_.current(), now);
  links_->Tick(now, &outbox_);
  dirty_ = true;
}

void ControlPlane::RestartSubscriptions(route::TimeNs now) {
  subs_ = std::make_unique<Subscriptions>(SubsSettings());
  subs_->Restore(published_subs_, now);
  dirty_ = true;
}

}  // namespace dmrswitch::cp
