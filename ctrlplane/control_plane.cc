#include "ctrlplane/control_plane.h"

#include <poll.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ctrlplane/config/reload.h"
#include "ctrlplane/config/secret_files.h"
#include "ctrlplane/restart_state.h"
#include "ctrlplane/shard_metrics.h"
#include "ctrlplane/snapshot_memory.h"
#include "ctrlplane/subscriptions/options.h"
#include "ctrlplane/version.h"
#include "dataplane/io/clock.h"
#include "dataplane/ipc/plane_info.h"
#include "dataplane/route/tg_policy.h"
#include "spdlog/spdlog.h"

namespace dmrswitch::cp {
namespace {

constexpr int kIdleWaitMs = 5;

// N bytes from the kernel's random source (getrandom waits only until the pool is first seeded
// at boot). A hub without them would hand out guessable login challenges: it stops instead.
template <size_t N>
std::array<uint8_t, N> OsRandomBytes() {
  std::array<uint8_t, N> out{};
  size_t got = 0;
  while (got < N) {
    const ssize_t n = ::getrandom(out.data() + got, N - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      spdlog::critical("getrandom: {}: no random key for the login challenges",
                       std::strerror(errno));
      std::abort();
    }
    got += static_cast<size_t>(n);
  }
  return out;
}

nlohmann::json Percentiles(std::vector<uint64_t> v) {
  if (v.empty()) return {{"count", 0}};
  std::sort(v.begin(), v.end());
  const auto at = [&](double q) {
    return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))];
  };
  return {{"count", v.size()},  {"min_ns", v.front()}, {"p50_ns", at(0.50)},
          {"p90_ns", at(0.90)}, {"p99_ns", at(0.99)},  {"max_ns", v.back()}};
}

}  // namespace

ControlPlane::ControlPlane(HubConfig config, std::string config_path,
                           std::vector<ipc::ShardChannel> channels, rte_ring* cp_cmd,
                           rte_mempool* pool, std::vector<int> shard_wake_fds,
                           ipc::PlaneInfo* plane_info, std::vector<route::Endpoint> listeners)
    : config_(std::move(config)),
      config_path_(std::move(config_path)),
      listeners_(std::move(listeners)),
      plane_info_(plane_info),
      link_(channels, cp_cmd, pool, std::move(shard_wake_fds)),
      snapshots_(channels, plane_info, MakeHubPolicy(config_), config_.hbp.max_clients),
      health_(static_cast<uint32_t>(channels.size()), 0),
      shield_(config_) {
  if (listeners_.empty()) {
    listeners_ =
        plane_info_ != nullptr ? ipc::PlaneListeners(*plane_info_) : ConfigListeners(config_);
  }
  MapPeerListeners();
  constructed_at_ = io::MonotonicNs();
  auth_ = std::make_unique<HbpAuth>(AuthSettings());
  links_ = std::make_unique<ObpLinks>(LinkConfigs(), ObpLinksSettings{});
  subs_ = std::make_unique<Subscriptions>(SubsSettings());
  auth_id_ = supervisor_.Add("auth", [this](route::TimeNs now) { return RestartAuth(now); });
  links_id_ = supervisor_.Add("obp-links", [this](route::TimeNs now) { return RestartLinks(now); });
  subs_id_ = supervisor_.Add("subscriptions",
                             [this](route::TimeNs now) { return RestartSubscriptions(now); });
  snapshot_id_ = supervisor_.Add("snapshot", [this](route::TimeNs) { return FeedEverything(); });
  status_id_ = supervisor_.Add("status", [](route::TimeNs) { return absl::OkStatus(); });
  report_id_ =
      supervisor_.Add("report", [this](route::TimeNs now) { return RestartReporting(now); });
  if (auto n = report::SystemdNotifier::FromEnvironment(); n.ok()) {
    notifier_ = *std::move(n);
  } else {
    spdlog::warn("systemd notification off: {}", std::string(n.status().message()));
  }
  if (const auto every = report::WatchdogInterval(); every && notifier_.active()) {
    watchdog_every_ = static_cast<route::TimeNs>(every->count()) * 1000;
  }
}

// --- Settings from the configuration ----------------------------------------------------------

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
  // Room for every client to be half-way through its login at once: after a restart of a busy
  // hub they all come back within seconds, and a full table forgets logins (their RPTCs get
  // MSTNAK and they try again later). Only an address that answered its challenge gets an entry.
  s.max_pending = std::max<uint32_t>(1024, config_.hbp.max_clients);
  s.login_burst = config_.hbp.login_burst;
  s.login_window = route::TimeNs{config_.hbp.login_window_s} * route::kSec;
  s.block_time = route::TimeNs{config_.hbp.login_block_s} * route::kSec;
  // The challenge key decides which sources may log in at all: 256 bits from the kernel, never a
  // PRNG seeded with the 32 bits std::random_device gives.
  std::array<uint8_t, 40> random = OsRandomBytes<40>();
  s.challenge_key.emplace();
  std::copy_n(random.begin(), 32, s.challenge_key->begin());
  std::memcpy(&s.seed, random.data() + 32, sizeof s.seed);
  // RPTO is refused (MSTNAK) when the subscriptions would refuse its options.
  s.check_options = [this](uint32_t id, std::string_view options, bool new_session) {
    return subs_->CheckOptions(id, options, new_session);
  };
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
    // Logged in by configuration since the control plane came up (a successor keeps the
    // restored record's time); its own RPTC, if it sends one, restamps it.
    r.logged_in_at = constructed_at_;
    s.fixed_clients.push_back(std::move(r));
  }
  return s;
}

void ControlPlane::MapPeerListeners() {
  peer_listener_.clear();
  for (const ObpPeer& p : config_.obp) peer_listener_.push_back(PeerListener(p, listeners_));
}

std::vector<LinkConfig> ControlPlane::LinkConfigs() const {
  std::vector<route::PeerSpec> specs = MakePeerSpecs(config_, listeners_);
  std::vector<LinkConfig> out;
  for (size_t i = 0; i < specs.size(); ++i) {
    const ObpPeer& o = config_.obp[i];
    out.push_back(LinkConfig{std::move(specs[i]),
                             LinkTimers{route::TimeNs{o.keepalive_s} * route::kSec,
                                        route::TimeNs{o.dead_after_s} * route::kSec,
                                        route::TimeNs{o.bcve_interval_s} * route::kSec}});
  }
  return out;
}

void ControlPlane::ApplyLogLevel() {
  const spdlog::level::level_enum level = spdlog::level::from_str(config_.hub.log_level);
  spdlog::set_level(level);
  // A separate dp follows the level the control plane applies.
  if (plane_info_ != nullptr) plane_info_->log_level.store(static_cast<int32_t>(level));
}

// --- Start and the loop --------------------------------------------------------------------------

absl::Status ControlPlane::Start(route::TimeNs now) {
  next_second_ = now;
  next_status_ = now + route::TimeNs{config_.hub.status_interval_s} * route::kSec;
  health_ = ShardHealth(link_.nshards(), now);
  ApplyLogLevel();
  shield_.Tick(now);
  auto api_options = ApiOptions::Open(ApiOptionsPath(config_));
  if (!api_options.ok()) return api_options.status();
  api_options_ = *std::move(api_options);
  if (const std::string path = CtlSocketPath(config_); !path.empty()) {
    auto ctl = CtlApi::Listen(path);
    if (!ctl.ok()) return ctl.status();
    ctl_ = *std::move(ctl);
  }
  auto reporting = Reporting::Start(MakeReportingSettings(config_), shard_stats_, now);
  if (!reporting.ok()) return reporting.status();
  reporting_ = *std::move(reporting);
  if (plane_info_ != nullptr && plane_info_->current_generation.load() != 0) {
    absl::Status st = RestoreFromPlane(now);
    for (const ClientRecord* r : auth_->Clients()) reporting_->KnowClient(r->id, r->callsign);
    return st;
  }
  // Fixed clients are logged in already (HbpAuth's constructor): subscribe them as a login with
  // their options would, so that the first snapshot carries their statics.
  for (size_t i = 0; i < config_.hbp.fixed_clients.size(); ++i) {
    const FixedClient& f = config_.hbp.fixed_clients[i];
    const ClientRecord* r = auth_->Find(f.id);
    if (r == nullptr) continue;
    subs_->OnClientUp(r->id, r->slot, r->slot_mask, now);
    if (r->options.empty()) {
      ApplyStoredOptions(r->id, now);
      continue;
    }
    std::vector<std::string> warnings;
    if (absl::Status st = subs_->ApplyOptions(r->id, r->options, now, &warnings); !st.ok()) {
      // The options string is not repeated: it may carry the client's KEY.
      return absl::InvalidArgumentError(
          absl::StrCat(config_.source, ": hbp.fixed_client[", i, "].options: ", st.message()));
    }
    for (const std::string& w : warnings) spdlog::warn("fixed client {} options: {}", r->id, w);
    ApplyStoredOptions(r->id, now);
  }
  if (!config_.hbp.fixed_clients.empty()) {
    spdlog::info("{} fixed clients logged in by configuration", config_.hbp.fixed_clients.size());
  }
  for (const ClientRecord* r : auth_->Clients()) reporting_->KnowClient(r->id, r->callsign);
  links_->Tick(now, &outbox_);
  if (absl::Status st = FeedEverything(); !st.ok()) return st;
  if (absl::Status st = PublishIfDue(now, /*force=*/true); !st.ok()) return st;
  link_.Send(&outbox_, peer_listener_);
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
  inbox_.clear();
  link_.Poll(&inbox_);
  for (const ipc::Message& m : inbox_.commands) OnCommand(m, now);
  if (ctl_) {
    for (const CtlCommand& c : ctl_->Poll()) OnCtl(c, now);
  }
  if (reporting_) {
    for (const ApiWrite& w : reporting_->TakeApiWrites()) OnApiWrite(w, now);
  }
  for (const ShardLink::Supervision& s : inbox_.supervision) OnSupervision(s, now);
  for (const route::Event& e : inbox_.events) OnEvent(e, now);
  for (const ipc::ClientPings& p : inbox_.pings) activity_.OnPings(p);
  for (const Datagram& d : inbox_.packets) OnPacket(d, now);
  for (const TalkerAliasHeard& a : auth_->TakeTalkerAliases()) {
    supervisor_.Run(report_id_, now, [&] {
      if (reporting_) reporting_->OnTalkerAlias(a.client_id, a.rf_src, a.alias);
    });
  }
  ApplyAuthChanges(now);
  LogAuthNotices(now);

  bool peers_changed = false;
  const bool second_passed = now >= next_second_;
  if (second_passed) {
    next_second_ = now + route::kSec;
    LogSuppressed();
    supervisor_.Run(auth_id_, now, [&] { auth_->Expire(now, &outbox_, &changes_); });
    ApplyAuthChanges(now);
    supervisor_.Run(subs_id_, now, [&] { subs_->Expire(now); });
    locations_.Expire(now);
    // Bounded by the client table whether or not a surface reads it.
    activity_.KeepOnly([&](uint32_t id) { return auth_->Find(id) != nullptr; });
    shield_.Tick(now);
    peers_changed = true;  // the reporting component's peer views: last keepalive, counters
  }
  MirrorLoginBlocks();
  supervisor_.Run(links_id_, now, [&] {
    links_->Tick(now, &outbox_);
    if (links_->TakeChanged()) {
      FeedPeers();
      peers_changed = true;
    }
  });
  if (peers_changed) {
    supervisor_.Run(report_id_, now, [&] {
      if (reporting_) reporting_->OnPeers(*links_, now);
    });
  }
  supervisor_.Run(subs_id_, now, [&] {
    for (const std::string& w : subs_->TakeWarnings()) {
      if (client_text_log_.Allow(0, now)) spdlog::info("subscriptions: {}", w);
    }
    // Timers that traffic extended change no membership, but the snapshot's expiries and the
    // restart records (what a successor control plane restores) must follow them: once a
    // second, all such clients in one publication rather than one per call end.
    FeedSubscriptions(/*with_timers=*/second_passed);
  });
  FeedLocations();
  supervisor_.Run(snapshot_id_, now, [&] { return PublishIfDue(now); });
  snapshots_.publisher().Retry();
  ReleaseReplies(now);
  link_.Send(&outbox_, peer_listener_);
  CheckDrain(now);
  health_.ReportSilent(now);
  if (now >= next_status_) {
    next_status_ = now + route::TimeNs{config_.hub.status_interval_s} * route::kSec;
    supervisor_.Run(status_id_, now, [&] { StatusLine(now); });
  }
  TickReporting(now);
}

void ControlPlane::TickReporting(route::TimeNs now) {
  supervisor_.Run(report_id_, now, [&] {
    if (!reporting_) return;
    if (reporting_->StateDue(now)) {
      report::HubView hub;
      hub.server_id = config_.hub.server_id;
      hub.version = DMRSWITCH_VERSION;
      hub.mode = std::string(HubModeName(config_.hub.mode));
      hub.shards = config_.hub.shards;
      hub.snapshot_generation = snapshots_.generation();
      hub.draining = drain_.active();
      const auto wall_offset = static_cast<int64_t>(io::WallNs() - io::MonotonicNs());
      reporting_->SetState(MakeHubState(hub, *auth_, *subs_, *links_, activity_, wall_offset), now);
    }
    reporting_->Tick(now, snapshots_.generation(), drain_.active(), auth_->size(),
                     [this] { return ControlCounters(); });
  });
  // systemd's watchdog: this loop is alive; hosted, the shards too (their heartbeats).
  if (watchdog_every_ != 0 && now >= next_watchdog_) {
    next_watchdog_ = now + watchdog_every_;
    if (plane_info_ != nullptr || health_.Silent(now).empty()) (void)notifier_.Watchdog();
  }
}

std::vector<report::NamedCounter> ControlPlane::ControlCounters() const {
  std::vector<report::NamedCounter> out;
  for (const auto& [name, value] : auth_->counters().Named()) {
    report::NamedCounter c;
    c.name = "hbp_" + std::string(name);
    c.value = value;
    c.help = "HBP logins (control plane): " + std::string(name) + ".";
    out.push_back(std::move(c));
  }
  report::NamedCounter stale;
  stale.name = "lost_reports_stale";
  stale.value = stale_lost_reports_;
  stale.help =
      "Shard reports of a silent client whose session had been replaced by a login from another "
      "address (ignored).";
  out.push_back(std::move(stale));
  report::NamedCounter d;
  d.name = "control_datagrams_dropped";
  d.value = link_.dropped_to_shards();
  d.help = "Datagrams the control plane could not hand to the shards (ring or pool full).";
  out.push_back(std::move(d));
  return out;
}

void ControlPlane::NotifyReady() {
  (void)notifier_.Ready();
  next_watchdog_ = 0;
}

absl::Status ControlPlane::RestartReporting(route::TimeNs now) {
  reporting_.reset();
  auto r = Reporting::Start(MakeReportingSettings(config_), shard_stats_, now);
  if (!r.ok()) return r.status();
  reporting_ = *std::move(r);
  for (const ClientRecord* c : auth_->Clients()) reporting_->KnowClient(c->id, c->callsign);
  reporting_->OnPeers(*links_, now);
  return absl::OkStatus();
}

// --- Inputs ------------------------------------------------------------------------------------

void ControlPlane::OnCommand(const ipc::Message& m, route::TimeNs now) {
  switch (m.type) {
    case ipc::MsgType::kReload:
      if (absl::Status st = Reload(now); !st.ok()) {
        spdlog::error("reload refused, running configuration kept: {}", std::string(st.message()));
      }
      break;
    case ipc::MsgType::kDrain:
      BeginDrain(now, route::TimeNs{m.As<ipc::DrainRequest>().timeout_ms} * route::kMs);
      break;
    case ipc::MsgType::kResume:
      Resume(now);
      break;
    default:
      break;
  }
}

void ControlPlane::OnSupervision(const ShardLink::Supervision& s, route::TimeNs now) {
  const ipc::Message& m = s.message;
  switch (m.type) {
    case ipc::MsgType::kPong:
      pongs_.push_back(Pong{s.shard, m.As<ipc::Ping>(), io::MonotonicNs()});
      break;
    case ipc::MsgType::kSnapshotAck:
      snapshots_.publisher().OnAck(s.shard, m.As<ipc::SnapshotAck>().generation);
      break;
    case ipc::MsgType::kWorkerHealth: {
      const auto h = m.As<ipc::WorkerHealth>();
      health_.OnHeartbeat(s.shard, h, now);
      drain_.OnHeartbeat(h);
      break;
    }
    case ipc::MsgType::kClientLost: {
      const auto lost = m.As<ipc::ClientLost>();
      bool ran = false;
      supervisor_.Run(auth_id_, now, [&] {
        ran = true;
        CloseLostClient(lost.id, lost.addr, now);
      });
      // With auth down (failed, waiting for its restart) the report would be lost and the
      // restarted auth, restoring its clients from the snapshot, would keep this one logged in
      // until the shard reports it again, a whole timeout later: RestartAuth applies it.
      if (!ran && lost_while_auth_down_.size() < kMaxLostWhileAuthDown) {
        lost_while_auth_down_[lost.id] = lost.addr;
      }
      break;
    }
    default:
      break;
  }
}

void ControlPlane::OnPacket(const Datagram& d, route::TimeNs now) {
  if (d.listener.kind == Listener::kHbp) {
    const size_t replies_from = outbox_.size();
    const size_t changes_from = changes_.size();
    supervisor_.Run(auth_id_, now,
                    [&] { auth_->OnPacket(d.bytes, d.addr, now, &outbox_, &changes_); });
    // A reply to a packet that changed the client table or options goes out once every shard
    // routes with the change (a client sends DMRD the moment it is told it is logged in).
    if (changes_.size() > changes_from) held_replies_.Hold(&outbox_, replies_from, now);
  } else {
    supervisor_.Run(links_id_, now,
                    [&] { links_->OnPacket(d.listener.peer, d.bytes, d.addr, now, &outbox_); });
  }
}

void ControlPlane::OnEvent(const route::Event& e, route::TimeNs now) {
  if (e.type <= route::EventType::kStreamLost) {
    supervisor_.Run(report_id_, now, [&] {
      if (reporting_) reporting_->OnStreamEvent(e, now, snapshots_.publisher().current().get());
    });
  }
  if ((e.type == route::EventType::kStreamStarted || e.type == route::EventType::kStreamEnded) &&
      !e.source.is_peer()) {
    activity_.OnHeard(e.source_id, e.at);
  }
  switch (e.type) {
    case route::EventType::kStreamStarted:
      ++streams_started_;
      if (e.source.is_peer()) {
        supervisor_.Run(links_id_, now, [&] { links_->OnTraffic(e.source.index, now); });
      }
      // Private calls find a subscriber where it last spoke: a client's slot or a peer.
      locations_.Heard(e.rf_src, e.source, e.ts, now);
      spdlog::debug("stream {:08x} started: rf_src {} → {} TS{} from {} {}", e.stream_id, e.rf_src,
                    e.dst, e.ts + 1, e.source.is_peer() ? "peer" : "client", e.source_id);
      // Subscriptions needs every start: it orders a client's overs by them (single mode follows
      // the over that started last), and with activate_on = start a start is traffic.
      supervisor_.Run(subs_id_, now, [&] { subs_->OnEvent(e, now); });
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

// --- Component changes into the snapshot ------------------------------------------------------

void ControlPlane::ReleaseReplies(route::TimeNs now) {
  if (held_replies_.size() == 0) return;
  if (!snapshots_.pending()) held_replies_.Published(snapshots_.generation());
  const uint64_t overdue = held_replies_.overdue();
  held_replies_.Release(snapshots_.publisher().acked_by_all(), now, &outbox_);
  if (held_replies_.overdue() != overdue) {
    spdlog::warn(
        "{} login replies sent before every shard acked their snapshot (a shard is not acking)",
        held_replies_.overdue() - overdue);
  }
}

void ControlPlane::ApplyAuthChanges(route::TimeNs now) {
  if (changes_.empty()) return;
  route::RouteSnapshotBuilder& b = snapshots_.builder();
  for (const AuthChange& c : changes_) {
    switch (c.kind) {
      case AuthChange::kClientUp: {
        spdlog::info("client {} logged in from {} (slot {})", c.id, FormatEndpoint(c.addr), c.slot);
        if (const ClientRecord* r = auth_->Find(c.id); r != nullptr) {
          if (absl::Status st = b.SetClient(c.slot, r->Spec()); !st.ok()) {
            spdlog::error("client {}: {}", c.id, std::string(st.message()));
          }
          supervisor_.Run(report_id_, now, [&] {
            if (reporting_) reporting_->OnClientUp(*r, now);
          });
        }
        restart_dirty_.insert(c.id);
        break;
      }
      case AuthChange::kOptions:
        if (const ClientRecord* r = auth_->Find(c.id); r != nullptr && r->fixed) {
          // A fixed client's own login restamps its session: the shards count its keepalives
          // afresh (nothing else in its entry changes; an RPTO alone changes nothing here).
          if (absl::Status st = b.SetClient(r->slot, r->Spec()); !st.ok()) {
            spdlog::error("client {}: {}", c.id, std::string(st.message()));
          }
        }
        restart_dirty_.insert(c.id);
        supervisor_.Run(report_id_, now, [&] {
          if (reporting_) reporting_->OnClientChanged(c.id, "options", now);
        });
        break;
      case AuthChange::kClientDown:
        spdlog::info("client {} logged out ({})", c.id, c.reason);
        supervisor_.Run(report_id_, now, [&] {
          if (reporting_) reporting_->OnClientDown(c.id, c.reason, now);
        });
        b.RemoveClient(c.slot);
        locations_.ForgetSlot(c.slot);
        restart_dirty_.erase(c.id);
        break;
    }
    supervisor_.Run(subs_id_, now, [&] {
      std::vector<std::string> warnings;
      if (c.kind == AuthChange::kClientUp) subs_->OnClientUp(c.id, c.slot, c.slot_mask, now);
      if (c.kind == AuthChange::kClientDown) subs_->OnClientDown(c.id);
      if (c.kind != AuthChange::kClientDown && !c.options.empty()) {
        if (absl::Status st = subs_->ApplyOptions(c.id, c.options, now, &warnings); !st.ok()) {
          if (client_text_log_.Allow(c.id, now)) {
            spdlog::warn("client {} options refused: {}", c.id, std::string(st.message()));
          }
        }
        // Warnings quote the client's own text (escaped by the parser): a budget per client.
        for (const std::string& w : warnings) {
          if (client_text_log_.Allow(c.id, now)) spdlog::info("client {} options: {}", c.id, w);
        }
      }
      if (c.kind != AuthChange::kClientDown) ApplyStoredOptions(c.id, now);
    });
  }
  changes_.clear();
  FeedSubscriptions();
}

void ControlPlane::LogAuthNotices(route::TimeNs now) {
  for (const AuthNotice& n : auth_->TakeNotices()) {
    if (n.kind == AuthNotice::kBlocked) {
      // Only a client that proved the passphrase can be blocked: rare, always logged.
      spdlog::warn("login: client {} from {} blocked for {} s: more than {} logins in {} s", n.id,
                   FormatAddress(n.addr), (n.until - std::min(n.until, now)) / route::kSec,
                   config_.hbp.login_burst, config_.hbp.login_window_s);
      continue;
    }
    // Failures may come from a flood of spoofed packets: a budget per ID and for all.
    if (!auth_log_.Allow(n.id, now)) continue;
    if (n.kind == AuthNotice::kOptionsRefused) {
      spdlog::warn("client {} from {}: RPTO refused (MSTNAK): {}", n.id, FormatEndpoint(n.addr),
                   n.detail);
      continue;
    }
    spdlog::warn("login refused: client {} from {}: {}", n.id, FormatEndpoint(n.addr),
                 AuthNoticeName(n.kind));
  }
}

void ControlPlane::LogSuppressed() {
  // Half-open logins forgotten for lack of room: once a second at most, with the count.
  if (auth_) {
    const uint64_t evicted = auth_->counters().pending_evicted;
    if (evicted > pending_evicted_logged_) {
      spdlog::warn(
          "login: {} half-open logins forgotten in the last second (a login storm: all {} "
          "places taken); their RPTCs get MSTNAK and the clients log in again",
          evicted - pending_evicted_logged_, auth_->settings().max_pending);
    }
    pending_evicted_logged_ = evicted;
  }
  if (const uint64_t n = auth_log_.TakeSuppressed(); n > 0) {
    spdlog::warn("login: {} more refused logins not logged (rate limit; see the counters)", n);
  }
  if (const uint64_t n = client_text_log_.TakeSuppressed(); n > 0) {
    spdlog::info("{} more lines about client options not logged (rate limit)", n);
  }
}

void ControlPlane::FeedSubscriptions(bool with_timers) {
  std::vector<uint32_t> changed = subs_->TakeChangedClients();
  if (!changed.empty() && reporting_) reporting_->StateChanged();
  if (with_timers) {
    const std::vector<uint32_t> timers = subs_->TakeTimerChangedClients();
    changed.insert(changed.end(), timers.begin(), timers.end());
  }
  route::RouteSnapshotBuilder& b = snapshots_.builder();
  for (uint32_t id : changed) {
    const ClientRecord* r = auth_->Find(id);
    if (r == nullptr) continue;  // logged out: its slot is empty already
    const std::optional<Subscriptions::Memberships> m = subs_->MembershipsOf(id);
    if (!m) continue;
    if (absl::Status st = b.SetMemberships(r->slot, m->members, m->dial_tg); !st.ok()) {
      spdlog::error("client {} subscriptions: {}", id, std::string(st.message()));
    }
    restart_dirty_.insert(id);
  }
}

void ControlPlane::FeedLocations() {
  route::RouteSnapshotBuilder& b = snapshots_.builder();
  for (const SubscriberLocations::Change& c : locations_.TakeChanges()) {
    if (c.location) {
      b.AddSubscriberLocation(c.rf_src, c.location->at, c.location->ts, c.location->heard_at);
    } else {
      b.RemoveSubscriberLocation(c.rf_src);
    }
  }
}

void ControlPlane::FeedPeers() {
  if (absl::Status st = snapshots_.builder().SetPeers(links_->Specs()); !st.ok()) {
    spdlog::error("peers: {}", std::string(st.message()));
  }
}

void ControlPlane::FeedRestartRecords() {
  route::RouteSnapshotBuilder& b = snapshots_.builder();
  for (uint32_t id : restart_dirty_) {
    const ClientRecord* r = auth_->Find(id);
    const std::optional<RestoredClient> subs = subs_->ExportClient(id);
    if (r == nullptr || !subs) continue;
    b.SetClientRestart(r->slot, EncodeClientRestart(*r, *subs));
  }
  restart_dirty_.clear();
}

absl::Status ControlPlane::PublishIfDue(route::TimeNs now, bool force) {
  FeedRestartRecords();
  const uint64_t before = snapshots_.generation();
  absl::Status st = snapshots_.Publish(now, EncodeHubRestart(streams_started_), force);
  // Kernel-mode shards sleep in poll() between packets: wake them to switch now.
  if (snapshots_.generation() != before) link_.WakeAll();
  return st;
}

absl::Status ControlPlane::FeedEverything() {
  // The pending change lists are covered by what follows.
  (void)subs_->TakeChangedClients();
  (void)subs_->TakeTimerChangedClients();
  (void)locations_.TakeChanges();
  snapshots_.ResetBuilder(MakeHubPolicy(config_));
  route::RouteSnapshotBuilder& b = snapshots_.builder();
  if (absl::Status st = b.SetPeers(links_->Specs()); !st.ok()) return st;
  for (const ClientRecord* r : auth_->Clients()) {
    if (absl::Status st = b.SetClient(r->slot, r->Spec()); !st.ok()) return st;
    if (const std::optional<Subscriptions::Memberships> m = subs_->MembershipsOf(r->id); m) {
      if (absl::Status st = b.SetMemberships(r->slot, m->members, m->dial_tg); !st.ok()) {
        return absl::Status(st.code(), absl::StrCat("client ", r->id, ": ", st.message()));
      }
    }
    restart_dirty_.insert(r->id);
  }
  locations_.ForEach([&](uint32_t rf_src, const route::Location& l) {
    b.AddSubscriberLocation(rf_src, l.at, l.ts, l.heard_at);
  });
  return absl::OkStatus();
}

// --- Restart and restore ------------------------------------------------------------------------

absl::Status ControlPlane::RestoreFromPlane(route::TimeNs now) {
  std::vector<std::shared_ptr<const route::RouteSnapshot>> retained;
  std::vector<uint64_t> incomplete;
  const std::vector<const route::RouteSnapshot*> roots =
      RecordedSnapshots(*plane_info_, &incomplete);
  for (uint64_t g : incomplete) {
    // A predecessor killed between the two stores of a record: nothing a shard can have seen.
    spdlog::warn("plane record of g{} is incomplete; skipped", g);
  }
  if (roots.empty()) {
    return absl::DataLossError("the plane records a current generation but no snapshot");
  }
  // The predecessor may have died in the middle of counting: count the shared pieces again
  // before anything can free one. Then RouteSnapshot frees itself through the snapshot memory
  // hooks (into the snapshot arena here).
  route::RouteSnapshot::RecountPieces(roots);
  for (const route::RouteSnapshot* r : roots) retained.emplace_back(r);
  // The publisher owns them from here on: whatever fails below, it hands them over (never frees
  // them) when this control plane goes away, and the shards keep reading them.
  snapshots_.publisher().Adopt(retained);
  const std::shared_ptr<const route::RouteSnapshot> current = snapshots_.publisher().current();
  auto state = ReadRestartState(*current);
  if (!state.ok()) return state.status();
  auth_->Restore(state->clients);
  subs_->Restore(state->subscriptions, now);
  locations_.Restore(state->heard);
  streams_started_ = state->streams_started;
  snapshots_.ContinueAfter(current->generation());
  RestoreLinksFrom(*current, now);
  spdlog::info(
      "control plane continues from snapshot g{} ({} retained): {} clients, {} with "
      "subscriptions",
      current->generation(), retained.size(), state->clients.size(), state->subscriptions.size());
  restored_ = true;
  links_->Tick(now, &outbox_);
  // The configuration file may have changed while no control plane ran, and this control plane
  // builds with pieces of its own: the next step publishes a generation carrying everything anew
  // (the shards meanwhile have the adopted current one again).
  if (absl::Status st = FeedEverything(); !st.ok()) return st;
  link_.Send(&outbox_, peer_listener_);
  return absl::OkStatus();
}

void ControlPlane::RestoreLinksFrom(const route::RouteSnapshot& snap, route::TimeNs now) {
  // Peers the shards route to (alive, learned address) stay so; a fresh ObpLinks would call
  // every FBP peer dead until its next keepalive and cut inter-hub calls meanwhile.
  for (const route::PeerInfo& p : snap.peers()) {
    links_->Restore(std::string(p.name.data(), p.name.size()), p.target, p.alive, now);
  }
}

absl::Status ControlPlane::RestartAuth(route::TimeNs now) {
  // Back to the clients of the last published snapshot; subscriptions of clients it does not
  // know (logged in since) go with them.
  std::vector<ClientRecord> clients;
  if (const auto current = snapshots_.publisher().current(); current != nullptr) {
    auto state = ReadRestartState(*current);
    if (!state.ok()) return state.status();
    clients = std::move(state->clients);
  }
  auth_ = std::make_unique<HbpAuth>(AuthSettings());
  auth_->Restore(std::move(clients));
  // Clients the shards reported lost while auth was down are closed now, before any packet
  // reaches the new auth: later, a report would close the session of a client that has logged
  // in again since.
  for (const auto& [id, addr] : lost_while_auth_down_) CloseLostClient(id, addr, now);
  lost_while_auth_down_.clear();
  for (const ClientView& v : subs_->Views()) {
    if (auth_->Find(v.id) == nullptr) subs_->OnClientDown(v.id);
  }
  for (const ClientRecord* r : auth_->Clients()) {
    if (!subs_->IsUp(r->id)) subs_->OnClientUp(r->id, r->slot, r->slot_mask, now);
  }
  return FeedEverything();
}

void ControlPlane::CloseLostClient(uint32_t id, const route::Endpoint& addr, route::TimeNs now) {
  const ClientRecord* r = auth_->Find(id);
  if (r == nullptr) return;
  if (!(r->addr == addr)) {
    // A shard whose snapshot lags (it re-reports each timeout) names the session it saw.
    ++stale_lost_reports_;
    return;
  }
  auth_->OnClientLost(id, now, &outbox_, &changes_);
}

absl::Status ControlPlane::RestartLinks(route::TimeNs now) {
  links_ = std::make_unique<ObpLinks>(LinkConfigs(), ObpLinksSettings{});
  if (const auto current = snapshots_.publisher().current(); current != nullptr) {
    RestoreLinksFrom(*current, now);
  }
  links_->Tick(now, &outbox_);
  FeedPeers();
  return absl::OkStatus();
}

absl::Status ControlPlane::RestartSubscriptions(route::TimeNs now) {
  subs_ = std::make_unique<Subscriptions>(SubsSettings());
  if (const auto current = snapshots_.publisher().current(); current != nullptr) {
    auto state = ReadRestartState(*current);
    if (!state.ok()) return state.status();
    std::vector<RestoredClient> still_here;
    for (RestoredClient& r : state->subscriptions) {
      if (auth_->Find(r.id) != nullptr) still_here.push_back(std::move(r));
    }
    subs_->Restore(still_here, now);
  }
  // Clients that logged in after the last publication start as a login would.
  for (const ClientRecord* r : auth_->Clients()) {
    if (subs_->IsUp(r->id)) continue;
    subs_->OnClientUp(r->id, r->slot, r->slot_mask, now);
    if (!r->options.empty()) (void)subs_->ApplyOptions(r->id, r->options, now, nullptr);
    ApplyStoredOptions(r->id, now);
  }
  return FeedEverything();
}

// --- Reload ------------------------------------------------------------------------------------

absl::Status ControlPlane::Reload(route::TimeNs now) {
  if (config_path_.empty()) {
    return absl::FailedPreconditionError("the hub runs the embedded default configuration");
  }
  auto next = LoadConfigFile(config_path_);
  if (!next.ok()) return next.status();
  for (const std::string& w : WorldReadableSecretFiles(*next, config_path_)) spdlog::warn("{}", w);
  ReloadPlan plan = PlanReload(config_, *std::move(next), listeners_);
  config_ = std::move(plan.config);
  // Each live key through the component the key table names for it.
  for (const Applier a : plan.appliers) {
    switch (a) {
      case Applier::kNone:
      case Applier::kPolicy:
      case Applier::kReport:
        break;
      case Applier::kLogging:
        ApplyLogLevel();
        break;
      case Applier::kStatus:
        next_status_ = now + route::TimeNs{config_.hub.status_interval_s} * route::kSec;
        break;
      case Applier::kLogin:
        // Sessions, half-open logins and blocks stay; the new settings apply from the next
        // packet.
        auth_->UpdateSettings(AuthSettings());
        break;
      case Applier::kSubscriptions:
        subs_->UpdateSettings(SubsSettings());
        break;
      case Applier::kPeers: {
        auto names = [&] {
          std::vector<std::string> n;
          for (const route::PeerSpec& p : links_->Specs()) n.push_back(p.name);
          return n;
        };
        const std::vector<std::string> before = names();
        MapPeerListeners();
        links_->Reconfigure(LinkConfigs());
        // Peer indices may name other peers now: subscribers heard at a peer must be heard again.
        if (names() != before) locations_.ForgetPeers();
        break;
      }
      case Applier::kShield:
        break;  // below: the peers are exempt too
    }
  }
  if (plan.appliers.contains(Applier::kShield) || plan.appliers.contains(Applier::kPeers)) {
    if (absl::Status st = shield_.Apply(config_); !st.ok()) {
      spdlog::error("reload: XDP shield: {}", std::string(st.message()));
    }
  }
  if (reporting_) {
    // [report] keys restart the surfaces they name; hang time and ping settings show on them.
    if (absl::Status st = reporting_->Reconfigure(MakeReportingSettings(config_), now); !st.ok()) {
      spdlog::error("reload: reporting: {}", std::string(st.message()));
    }
  }
  // The routing policy holds hub-wide timers, ACLs and activate_on.
  if (plan.appliers.contains(Applier::kPolicy) || plan.appliers.contains(Applier::kSubscriptions)) {
    snapshots_.builder().SetPolicy(MakeHubPolicy(config_));
  }
  if (!plan.applied.empty()) {
    spdlog::info("reload: applied {}", absl::StrJoin(plan.applied, "; "));
  }
  if (!plan.kept.empty()) {
    spdlog::warn("reload: kept until restart: {}", absl::StrJoin(plan.kept, "; "));
  }
  spdlog::info("configuration reloaded from {}", config_path_);
  return PublishIfDue(now, /*force=*/true);
}

void ControlPlane::Shutdown() {
  (void)notifier_.Stopping();
  if (reporting_) {
    reporting_->EndLiveCalls(
        drain_.active() ? report::CallEndReason::kDrain : report::CallEndReason::kLost,
        io::MonotonicNs());
  }
  auth_->Shutdown(&outbox_);
  link_.Send(&outbox_, peer_listener_);
}

// --- Drain, status, dmrswitch-ctl ---------------------------------------------------------------

void ControlPlane::BeginDrain(route::TimeNs now, route::TimeNs timeout) {
  // A full command ring would be a wedged shard; the drain then reports it as not idle.
  link_.Broadcast(ipc::MsgType::kDrainBegin);
  drain_.Begin(now, timeout, health_.Totals().live_streams);
}

void ControlPlane::Resume(route::TimeNs now) {
  link_.Broadcast(ipc::MsgType::kDrainEnd);
  for (uint64_t w : drain_.Resume(now)) {
    if (ctl_) ctl_->Reply(w, {{"ok", false}, {"error", "drain ended by resume"}});
  }
}

void ControlPlane::CheckDrain(route::TimeNs now) {
  std::optional<Drain::Outcome> o = drain_.Check(now, health_.last());
  if (!o || !ctl_) return;
  for (uint64_t w : o->waiters) ctl_->Reply(w, o->answer);
}

void ControlPlane::MirrorLoginBlocks() {
  // HbpAuth has logged the (IP, ID) block itself (a notice); with a shield, the whole IP — for
  // IPv6 the sender's /64, which it could otherwise rotate through — is dropped in the kernel
  // for as long.
  for (const SourceBlocked& b : auth_->TakeBlockedSources()) {
    if (!shield_.configured()) continue;
    const auto seconds = b.duration / route::kSec;
    const std::chrono::nanoseconds duration(b.duration);
    std::string what;
    absl::Status st;
    if (b.v6) {
      route::Endpoint e;
      e.v6 = true;
      std::copy(b.ip6.begin(), b.ip6.begin() + 8, e.ip6);  // the /64
      what = FormatAddress(e) + "/64";
      st = shield_.Block6(b.ip6, 64, duration);
    } else {
      what = FormatIpv4(b.ip);
      st = shield_.Block(b.ip, duration);
    }
    if (st.ok()) {
      spdlog::info("login churn from {}: blocked for {} s (XDP shield)", what, seconds);
    } else {
      spdlog::warn("login churn from {}: the XDP shield could not block it: {}", what,
                   std::string(st.message()));
    }
  }
}

namespace {

// A block command's address as the answer and the log show it: "a.b.c.d", "2001:db8::1/128",
// "2001:db8::/64" (an IPv6 prefix masked as the shield keys it).
std::string CtlAddress(const BlockAddress& c) {
  if (!c.v6) return FormatIpv4(c.ip);
  route::Endpoint e;
  e.v6 = true;
  std::copy(c.ip6.begin(), c.ip6.begin() + c.prefix_len / 8, e.ip6);
  return absl::StrCat(FormatAddress(e), "/", c.prefix_len);
}

}  // namespace

nlohmann::json ControlPlane::OnShieldCtl(const CtlCommand& c) {
  const auto error = [](const absl::Status& st) {
    return nlohmann::json{{"ok", false}, {"error", std::string(st.message())}};
  };
  switch (c.kind) {
    case CtlCommand::kBlock: {
      std::optional<std::chrono::nanoseconds> duration;
      if (c.block_s > 0) {
        duration = std::chrono::nanoseconds(static_cast<int64_t>(c.block_s * 1e9));
      }
      const absl::Status st = c.block.v6 ? shield_.Block6(c.block.ip6, c.block.prefix_len, duration)
                                         : shield_.Block(c.block.ip, duration);
      if (!st.ok()) return error(st);
      const std::string what = CtlAddress(c.block);
      spdlog::info(
          "dmrswitch-ctl: {} blocked {}", what,
          duration ? absl::StrCat("for ", c.block_s, " s") : std::string("until unblocked"));
      nlohmann::json answer{{"ok", true}, {"address", what}};
      if (duration) {
        answer["for_s"] = c.block_s;
      } else {
        answer["forever"] = true;
      }
      return answer;
    }
    case CtlCommand::kUnblock: {
      const absl::Status st = c.block.v6 ? shield_.Unblock6(c.block.ip6, c.block.prefix_len)
                                         : shield_.Unblock(c.block.ip);
      if (!st.ok()) return error(st);
      spdlog::info("dmrswitch-ctl: {} unblocked", CtlAddress(c.block));
      return {{"ok", true}, {"address", CtlAddress(c.block)}};
    }
    case CtlCommand::kBlocked: {
      absl::StatusOr<std::vector<io::XdpBlockedSource>> blocked = shield_.Blocked();
      if (!blocked.ok()) return error(blocked.status());
      nlohmann::json list = nlohmann::json::array();
      for (const io::XdpBlockedSource& b : *blocked) {
        nlohmann::json e{{"address", FormatIpv4(b.ip)}};
        if (b.v6) {
          route::Endpoint a;
          a.v6 = true;
          std::copy(b.ip6.begin(), b.ip6.end(), a.ip6);
          e["address"] = absl::StrCat(FormatAddress(a), "/", b.prefix_len);
        }
        if (b.remaining) {
          e["remaining_s"] = std::chrono::duration<double>(*b.remaining).count();
        } else {
          e["forever"] = true;
        }
        list.push_back(std::move(e));
      }
      return {{"ok", true}, {"blocked", std::move(list)}};
    }
    default:
      return {{"ok", false}, {"error", "not a shield command"}};
  }
}

void ControlPlane::StatusLine(route::TimeNs now) {
  size_t alive = 0;
  const std::vector<route::PeerSpec> peers = links_->Specs();
  for (const route::PeerSpec& p : peers) alive += p.alive ? 1 : 0;
  const std::string line = fmt::format(
      "clients {}, peers {}/{} alive, {}, snapshot g{} (all shards on g{}), calls {} live, {}",
      auth_->size(), alive, peers.size(), health_.Rates(now), snapshots_.generation(),
      snapshots_.publisher().acked_by_all(), reporting_ ? reporting_->live_calls() : 0,
      shield_.StatusText());
  spdlog::info("status: {}", line);
  (void)notifier_.Status(line);
}

nlohmann::json ControlPlane::StatusJson(route::TimeNs now) const {
  const PlaneTotals t = health_.Totals();
  nlohmann::json shards = nlohmann::json::array();
  const std::vector<uint32_t> silent = health_.Silent(now);
  for (uint32_t s = 0; s < health_.last().size(); ++s) {
    const ipc::WorkerHealth& h = health_.last()[s];
    shards.push_back({{"shard", s},
                      {"packets_in", h.packets_in},
                      {"packets_out", h.packets_out},
                      {"dropped", h.dropped},
                      {"events_dropped", h.events_dropped},
                      {"live_streams", h.live_streams},
                      {"draining", h.draining != 0},
                      {"silent", std::find(silent.begin(), silent.end(), s) != silent.end()}});
  }
  nlohmann::json peers = nlohmann::json::array();
  for (const route::PeerSpec& p : links_->Specs()) {
    peers.push_back({{"name", p.name},
                     {"version", p.version},
                     {"alive", p.alive},
                     {"target", FormatEndpoint(p.target)},
                     {"served", p.listener != route::kNoListener}});
  }
  return {{"ok", true},
          {"clients", auth_->size()},
          {"generation", snapshots_.generation()},
          {"acked_by_all", snapshots_.publisher().acked_by_all()},
          {"live_streams", t.live_streams},
          {"events_dropped", t.events_dropped},
          {"draining", drain_.active()},
          {"restored", restored_},
          {"snapshot_memory", memory_status_ ? memory_status_() : nlohmann::json(nullptr)},
          {"peers", std::move(peers)},
          {"shards", std::move(shards)}};
}

nlohmann::json ControlPlane::Probe(uint32_t pings, uint32_t publishes) {
  // The probe holds the control plane (no events, logins or keepalives are handled meanwhile):
  // bounded, also against a wedged shard.
  constexpr uint64_t kGiveUpNs = 10'000'000'000ull;
  const uint32_t n = link_.nshards();
  std::vector<ShardLink::Supervision> sup;
  const auto poll_sup = [&] {
    sup.clear();
    link_.PollSupervision(&sup);
    for (const ShardLink::Supervision& s : sup) OnSupervision(s, io::MonotonicNs());
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
      if (link_.SendTo(s, m)) {
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

  // Publish to ack: a new generation of the same state (every piece shared), until every shard
  // acked it.
  std::vector<uint64_t> publish_to_ack;
  start = io::MonotonicNs();
  for (uint32_t i = 0; i < publishes && io::MonotonicNs() - start < kGiveUpNs; ++i) {
    snapshots_.builder().SetControlState(EncodeHubRestart(streams_started_));
    if (!PublishIfDue(io::MonotonicNs(), /*force=*/true).ok()) break;
    const uint64_t generation = snapshots_.generation();
    const uint64_t t0 = io::MonotonicNs();
    while (snapshots_.publisher().acked_by_all() < generation &&
           io::MonotonicNs() - start < kGiveUpNs) {
      poll_sup();
      snapshots_.publisher().Retry();
    }
    if (snapshots_.publisher().acked_by_all() >= generation) {
      publish_to_ack.push_back(io::MonotonicNs() - t0);
    }
  }
  return {{"ok", true},
          {"shards", n},
          {"ring_round_trip", Percentiles(std::move(rtt))},
          {"publish_to_ack", Percentiles(std::move(publish_to_ack))}};
}

void ControlPlane::OnCtl(const CtlCommand& c, route::TimeNs now) {
  switch (c.kind) {
    case CtlCommand::kDrain:
      BeginDrain(now, static_cast<route::TimeNs>(c.timeout_s * route::kSec));
      drain_.AddWaiter(c.connection);
      break;
    case CtlCommand::kProbe:
      ctl_->Reply(c.connection, Probe(c.pings, c.publishes));
      break;
    case CtlCommand::kResume:
      Resume(now);
      ctl_->Reply(c.connection, {{"ok", true}});
      break;
    case CtlCommand::kStatus: {
      nlohmann::json status = StatusJson(now);
      status["xdp"] = shield_.StatusJson();
      ctl_->Reply(c.connection, status);
      break;
    }
    case CtlCommand::kBlock:
    case CtlCommand::kUnblock:
    case CtlCommand::kBlocked:
      ctl_->Reply(c.connection, OnShieldCtl(c));
      break;
    case CtlCommand::kReload: {
      const absl::Status st = Reload(now);
      ctl_->Reply(c.connection,
                  st.ok() ? nlohmann::json{{"ok", true}}
                          : nlohmann::json{{"ok", false}, {"error", std::string(st.message())}});
      break;
    }
    case CtlCommand::kStats:
    case CtlCommand::kErrors:
      if (shard_stats_ == nullptr) {
        ctl_->Reply(c.connection,
                    {{"ok", false}, {"error", "the shards' counters are not mapped"}});
      } else if (c.kind == CtlCommand::kStats) {
        ctl_->Reply(c.connection, ShardStatsJson(ReadAllShardStats(*shard_stats_), now));
      } else {
        ctl_->Reply(c.connection, ShardErrorsJson(ReadAllShardStats(*shard_stats_)));
      }
      break;
    case CtlCommand::kLastheard:
      ctl_->Reply(c.connection,
                  reporting_ ? reporting_->LastheardJson(c.limit)
                             : nlohmann::json{{"ok", false},
                                              {"error", "the reporting component is restarting"}});
      break;
  }
}

// --- The JSON API's writes ------------------------------------------------------------------

void ControlPlane::ApplyStoredOptions(uint32_t id, route::TimeNs now) {
  const std::string* stored = api_options_ ? api_options_->Find(id) : nullptr;
  if (stored == nullptr || !subs_->IsUp(id)) return;
  std::vector<std::string> warnings;
  if (absl::Status st =
          subs_->ApplyOptions(id, *stored, now, &warnings, Subscriptions::OptionsFrom::kOperator);
      !st.ok()) {
    spdlog::warn("client {}: the API's options: {}", id, std::string(st.message()));
  }
  restart_dirty_.insert(id);
}

void ControlPlane::OnApiWrite(const ApiWrite& w, route::TimeNs now) {
  ApiAnswer a;
  api_options_ticket_.reset();
  supervisor_.Run(subs_id_, now, [&] { a = ApiWriteAnswer(w, now); });
  if (a.body.is_null()) a = {503, {{"error", "the subscriptions component is restarting"}}};
  if (a.status == 200) {
    // Who did what, never with what credential.
    spdlog::info("api: {}{} by {}", w.name(),
                 w.client_id != 0 ? absl::StrCat(" client ", w.client_id) : std::string(),
                 w.admin ? "the API token" : "the client's own key");
    supervisor_.Run(report_id_, now, [&] {
      if (!reporting_) return;
      if (w.client_id != 0 && w.kind != ApiWrite::kKick) {
        reporting_->OnClientChanged(w.client_id, "api", now);
      } else {
        reporting_->StateChanged();
      }
    });
  }
  const std::optional<uint64_t> ticket = std::exchange(api_options_ticket_, std::nullopt);
  if (a.status != 200 || !ticket) {
    w.answer->set_value(std::move(a));
    return;
  }
  // Acknowledged once it is on disk; the writer's thread answers.
  api_options_->WhenWritten(
      *ticket, [answer = w.answer, a = std::move(a), id = w.client_id](absl::Status st) mutable {
        if (!st.ok()) {
          spdlog::error("api: client {}: options applied but not saved: {}", id,
                        std::string(st.message()));
          a = {500,
               {{"error", absl::StrCat("applied, but not saved (they end with this run of the "
                                       "hub): ",
                                       st.message())}}};
        }
        answer->set_value(std::move(a));
      });
}

ApiAnswer ControlPlane::ApiSetOptions(uint32_t id, std::string options, route::TimeNs now) {
  absl::StatusOr<ClientOptions> parsed = ParseOptions(options);
  if (!parsed.ok()) return {400, {{"error", std::string(parsed.status().message())}}};
  absl::StatusOr<uint64_t> ticket = api_options_->Set(id, std::move(options));
  if (!ticket.ok()) {
    spdlog::error("api: client {}: {}", id, std::string(ticket.status().message()));
    return {ticket.status().code() == absl::StatusCode::kResourceExhausted ? 507 : 400,
            {{"error", std::string(ticket.status().message())}}};
  }
  api_options_ticket_ = *ticket;
  nlohmann::json warnings = nlohmann::json::array();
  for (const std::string& w : parsed->warnings) warnings.push_back(w);
  const bool up = subs_->IsUp(id);
  ApplyStoredOptions(id, now);
  nlohmann::json answer = {
      {"ok", true}, {"client_id", id}, {"applied", up}, {"warnings", std::move(warnings)}};
  if (up) {
    const std::optional<ClientView> v = subs_->View(id);
    for (unsigned ts : {route::kTs1, route::kTs2}) {
      answer[ts == route::kTs1 ? "ts1" : "ts2"] = v->option_statics[ts];
    }
  }
  return {200, std::move(answer)};
}

ApiAnswer ControlPlane::ApiWriteAnswer(const ApiWrite& w, route::TimeNs now) {
  const auto error = [](int status, std::string message) {
    return ApiAnswer{status, {{"error", std::move(message)}}};
  };
  // A bearer that is not the API token: the options KEY of the client it names, for that client
  // and only for its own settings.
  if (!w.admin) {
    const bool own = !w.AdminOnly() && subs_->CheckKey(w.client_id, w.key);
    if (!own) {
      if (!subs_->IsAnyKey(w.key)) return error(401, "invalid token");
      return error(403, w.AdminOnly()
                            ? "a hotspot's key may not do this: it needs the API token"
                            : absl::StrCat("this key is not client ", w.client_id,
                                           "'s: a hotspot's key changes only that hotspot"));
    }
  }
  switch (w.kind) {
    case ApiWrite::kSetOptions:
      return ApiSetOptions(w.client_id, w.options, now);
    case ApiWrite::kClearOptions: {
      absl::StatusOr<uint64_t> ticket = api_options_->Clear(w.client_id);
      if (!ticket.ok()) return error(500, std::string(ticket.status().message()));
      api_options_ticket_ = *ticket;
      // The option statics go; the client's own options (its last RPTO, a fixed client's
      // configured ones) apply again.
      if (subs_->IsUp(w.client_id)) {
        (void)subs_->ApplyOptions(w.client_id, "TS1=;TS2=", now, nullptr,
                                  Subscriptions::OptionsFrom::kOperator);
        const ClientRecord* r = auth_->Find(w.client_id);
        if (r != nullptr && !r->options.empty()) {
          (void)subs_->ApplyOptions(w.client_id, r->options, now, nullptr,
                                    Subscriptions::OptionsFrom::kOperator);
        }
        restart_dirty_.insert(w.client_id);
      }
      return {200, {{"ok", true}, {"client_id", w.client_id}}};
    }
    case ApiWrite::kAddStatic:
    case ApiWrite::kRemoveStatic: {
      if (w.kind == ApiWrite::kAddStatic && !route::IsValidStaticTg(w.tg)) {
        return error(400, absl::StrCat("TG ", w.tg, " cannot be a static TG"));
      }
      // On top of what the API stored, else of the client's own options.
      const std::string* stored = api_options_->Find(w.client_id);
      const ClientRecord* r = auth_->Find(w.client_id);
      const std::string base = stored != nullptr ? *stored : r != nullptr ? r->options : "";
      const unsigned ts = w.slot == 1 ? route::kTs1 : route::kTs2;
      std::vector<uint32_t> tgs;
      if (const std::optional<ClientView> v = subs_->View(w.client_id); v) {
        tgs = v->option_statics[ts];
      } else if (absl::StatusOr<ClientOptions> o = ParseOptions(base); o.ok() && o->statics[ts]) {
        tgs = *o->statics[ts];
      }
      const auto at = std::find(tgs.begin(), tgs.end(), w.tg);
      if (w.kind == ApiWrite::kAddStatic && at == tgs.end()) tgs.push_back(w.tg);
      if (w.kind == ApiWrite::kRemoveStatic) {
        if (at == tgs.end()) {
          return error(404, absl::StrCat("TG ", w.tg, " is not a static TG of client ", w.client_id,
                                         " on TS", int{w.slot}));
        }
        tgs.erase(at);
      }
      std::sort(tgs.begin(), tgs.end());
      return ApiSetOptions(w.client_id, WithSlotStatics(base, w.slot, tgs), now);
    }
    case ApiWrite::kDropDynamic: {
      const uint8_t mask = w.slot == 0   ? (1u << route::kTs1) | (1u << route::kTs2)
                           : w.slot == 1 ? (1u << route::kTs1)
                                         : (1u << route::kTs2);
      if (absl::Status st = subs_->DropDynamic(w.client_id, mask); !st.ok()) {
        return error(404, std::string(st.message()));
      }
      return {200, {{"ok", true}, {"client_id", w.client_id}}};
    }
    case ApiWrite::kKick: {
      if (absl::Status st = auth_->Kick(w.client_id, &outbox_, &changes_); !st.ok()) {
        return error(st.code() == absl::StatusCode::kNotFound ? 404 : 409,
                     std::string(st.message()));
      }
      ApplyAuthChanges(now);
      return {200, {{"ok", true}, {"client_id", w.client_id}}};
    }
    case ApiWrite::kDrain:
      BeginDrain(now, static_cast<route::TimeNs>(w.timeout_s * route::kSec));
      return {200, {{"ok", true}, {"draining", true}}};
    case ApiWrite::kResume:
      Resume(now);
      return {200, {{"ok", true}, {"draining", false}}};
    case ApiWrite::kReload: {
      const absl::Status st = Reload(now);
      if (!st.ok()) return error(400, std::string(st.message()));
      return {200, {{"ok", true}}};
    }
    case ApiWrite::kBlock:
    case ApiWrite::kUnblock: {
      CtlCommand c;
      c.kind = w.kind == ApiWrite::kBlock ? CtlCommand::kBlock : CtlCommand::kUnblock;
      c.block = w.block;
      c.block_s = w.block_s;
      nlohmann::json answer = OnShieldCtl(c);
      const bool ok = answer.value("ok", false);
      return {ok ? 200 : 409, std::move(answer)};
    }
  }
  return error(400, "unknown write");
}

}  // namespace dmrswitch::cp
