#include "ctrlplane/reporting.h"

#include <algorithm>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "ctrlplane/report/json_model.h"
#include "ctrlplane/report_http.h"
#include "ctrlplane/version.h"
#include "dataplane/io/clock.h"
#include "dataplane/proto/talker_alias.h"
#include "spdlog/spdlog.h"

namespace dmrswitch::cp {
namespace {

using report::CallEndReason;
using report::CallRecord;
using report::CallType;

constexpr route::TimeNs kViewEvery = 100 * route::kMs;     // lastheard on the API within this
constexpr route::TimeNs kViewAtLeast = 1 * route::kSec;    // gauges and uptime refresh
constexpr route::TimeNs kStateEvery = 1 * route::kSec;     // dashboards' state at most this often
constexpr route::TimeNs kStateAtLeast = 10 * route::kSec;  // ... and at least (timers)
constexpr size_t kMaxEndedEarly = 4096;
// How long a call's end may lag behind the next call's start of the same client and slot (they
// come from different shards) before the call counts as superseded.
constexpr route::TimeNs kSupersedeGrace = 1 * route::kSec;
constexpr size_t kMaxTxLegs = 64;

// The endpoint "a.b.c.d:port" as host and port (the parser made it canonical).
std::pair<std::string, uint16_t> SplitAddress(const std::string& a) {
  const size_t colon = a.rfind(':');
  return {a.substr(0, colon), static_cast<uint16_t>(std::stoi(a.substr(colon + 1)))};
}

// The first line of `path` (a secret kept out of the configuration file).
absl::StatusOr<std::string> ReadFirstLine(const std::string& path, std::string_view key) {
  std::ifstream in(path);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat("report.", std::string(key), " = \"", path, "\": cannot read the file"));
  }
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

CallType TypeOf(const route::Event& e) {
  if (e.data != 0) return e.call_type == 0 ? CallType::kGroupData : CallType::kUnitData;
  return e.call_type == 0 ? CallType::kGroupVoice : CallType::kPrivateVoice;
}

bool IsGroup(CallType t) { return t == CallType::kGroupVoice || t == CallType::kGroupData; }

CallEndReason ReasonOf(route::StreamEnd end) {
  switch (end) {
    case route::StreamEnd::kTerminator:
      return CallEndReason::kTerminator;
    case route::StreamEnd::kMaxAge:
      return CallEndReason::kMaxAge;
    case route::StreamEnd::kTimeout:
    case route::StreamEnd::kNone:
      break;
  }
  return CallEndReason::kTimeout;
}

report::NamedCounter Counter(std::string name, uint64_t value, std::string help,
                             std::string reason = "") {
  report::NamedCounter c;
  c.name = std::move(name);
  c.labels.reason = std::move(reason);
  c.value = value;
  c.help = std::move(help);
  return c;
}

report::Slot SlotOf(unsigned ts) {
  return ts == route::kTs1 ? report::Slot::kTs1 : report::Slot::kTs2;
}

report::ClientView ViewOf(const ClientRecord& r, int64_t wall_offset) {
  report::ClientView v;
  v.id = r.id;
  v.callsign = r.callsign;
  v.location = r.location;
  v.description = r.description;
  v.url = r.url;
  v.software_id = r.software_id;
  v.package_id = r.package_id;
  v.rx_freq = r.rx_freq;
  v.tx_freq = r.tx_freq;
  v.color_code = static_cast<uint8_t>(std::clamp(std::atoi(r.color_code.c_str()), 0, 15));
  v.slots = static_cast<uint8_t>(r.slots >= '0' && r.slots <= '4' ? r.slots - '0' : 3);
  v.address = FormatAddress(r.addr);
  v.port = r.addr.port;
  v.logged_in_unix_ns = static_cast<int64_t>(r.logged_in_at) + wall_offset;
  v.fixed = r.fixed;
  return v;
}

}  // namespace

ReportingSettings MakeReportingSettings(const HubConfig& c) {
  ReportingSettings s;
  s.report = c.report;
  s.server_id = c.hub.server_id;
  s.mode = std::string(HubModeName(c.hub.mode));
  s.shards = c.hub.shards;
  s.group_hangtime_s = c.hbp.group_hangtime_s;
  s.ping_time_s = c.hbp.ping_time_s;
  s.max_missed = c.hbp.max_missed;
  s.single_mode = c.hbp.single_mode;
  s.stream_lost_after = route::TimeNs{c.hbp.stream_lost_s} * route::kSec;
  s.call_lost_after =
      route::TimeNs{c.hbp.max_stream_age_s + c.hbp.stream_lost_s + 30} * route::kSec;
  return s;
}

Reporting::Reporting(const ReportingSettings& settings, const ipc::ShardStatsZone* stats)
    : settings_(settings),
      stats_(stats),
      events_(std::make_shared<report::EventStream>(kEventsKept, io::WallNs() / 1'000'000)) {}

Reporting::~Reporting() { StopSurfaces(); }

absl::StatusOr<std::unique_ptr<Reporting>> Reporting::Start(const ReportingSettings& settings,
                                                            const ipc::ShardStatsZone* stats,
                                                            route::TimeNs now) {
  std::unique_ptr<Reporting> r(new Reporting(settings, stats));
  r->started_ = now;
  r->wall_offset_ = static_cast<int64_t>(io::WallNs() - io::MonotonicNs());
  if (absl::Status st = r->StartSurfaces(); !st.ok()) return st;
  r->PublishView(now);
  return r;
}

absl::Status Reporting::StartSurfaces() {
  const ReportSection& c = settings_.report;
  report::HubView hub;
  hub.server_id = settings_.server_id;
  hub.version = DMRSWITCH_VERSION;
  hub.mode = settings_.mode;
  hub.shards = settings_.shards;
  hub.started_unix_ns = WallOf(started_);
  if (!c.feed.empty() || !c.feed_json.empty() || !c.mqtt.empty()) {
    report::ReportHubOptions o;
    if (!c.feed.empty()) {
      report::FeedServerOptions f;
      std::tie(f.bind_address, f.port) = SplitAddress(c.feed);
      f.max_connections = c.feed_max_connections;
      o.feed = f;
      o.feed_format.systems = c.feed_systems;
      o.feed_format.max_message = c.feed_max_message;
    }
    if (!c.feed_json.empty()) {
      report::FeedServerOptions f;
      std::tie(f.bind_address, f.port) = SplitAddress(c.feed_json);
      f.max_connections = c.feed_max_connections;
      o.feed_json = f;
    }
    if (!c.mqtt.empty()) {
      report::MqttOptions m;
      std::tie(m.host, m.port) = SplitAddress(c.mqtt);
      m.topic_prefix = c.mqtt_topic;
      m.username = c.mqtt_username;
      if (!c.mqtt_password_file.empty()) {
        auto password = ReadFirstLine(c.mqtt_password_file, "mqtt_password_file");
        if (!password.ok()) return password.status();
        m.password = *std::move(password);
      }
      m.bm_session = c.mqtt_bm_session;
      o.mqtt = m;
    }
    auto started = report::ReportHub::Start(std::move(o), hub);
    if (!started.ok()) return started.status();
    hub_ = *std::move(started);
    // A dashboard that connects before the control plane's first state still gets a snapshot.
    report::HubState empty;
    empty.hub = hub;
    StampHbpSettings(&empty.hub);
    empty.peers = peer_views_;
    hub_->SetState(std::make_shared<const report::HubState>(std::move(empty)));
  }
  std::string api_token;
  if (!c.api_token_file.empty()) {
    auto token = ReadFirstLine(c.api_token_file, "api_token_file");
    if (!token.ok()) return token.status();
    // The token is never quoted: only its length.
    if (token->size() < kMinApiTokenBytes || token->size() > 256) {
      return absl::InvalidArgumentError(absl::StrCat(
          "report.api_token_file = \"", c.api_token_file, "\": the token (its first line) has ",
          token->size(), " characters; it must have ", kMinApiTokenBytes,
          " to 256 (e.g. `openssl rand -hex 24 > FILE`)"));
    }
    api_token = *std::move(token);
  }
  api_token_ = api_token;
  if (!c.http.empty()) {
    ReportHttpOptions o;
    std::tie(o.host, o.port) = SplitAddress(c.http);
    o.stats = stats_;
    o.events = events_;
    o.api_token = std::move(api_token);
    auto http = ReportHttp::Start(std::move(o));
    if (!http.ok()) return http.status();
    http_ = *std::move(http);
  }
  state_dirty_ = true;
  view_dirty_ = true;
  return absl::OkStatus();
}

void Reporting::StopSurfaces() {
  http_.reset();
  hub_.reset();
}

uint16_t Reporting::http_port() const { return http_ ? http_->port() : 0; }

bool Reporting::TokenFileChanged(const std::string& path) const {
  if (path.empty()) return false;
  // A rotated token (the same file, new contents) takes effect at the reload too.
  const absl::StatusOr<std::string> token = ReadFirstLine(path, "api_token_file");
  return !token.ok() || *token != api_token_;
}

std::vector<ApiWrite> Reporting::TakeApiWrites() {
  return http_ ? http_->TakeWrites() : std::vector<ApiWrite>{};
}

void Reporting::Emit(std::string_view type, std::string_view key, nlohmann::json value) {
  nlohmann::json e = {{"type", type}};
  if (!key.empty()) e[std::string(key)] = std::move(value);
  events_->Append(report::Dump(e));
}

absl::Status Reporting::Reconfigure(const ReportingSettings& settings, route::TimeNs now) {
  const ReportSection& a = settings_.report;
  const ReportSection& b = settings.report;
  const bool surfaces =
      a.http != b.http || a.feed != b.feed || a.feed_json != b.feed_json || a.mqtt != b.mqtt ||
      a.mqtt_topic != b.mqtt_topic || a.mqtt_username != b.mqtt_username ||
      a.mqtt_password_file != b.mqtt_password_file || a.mqtt_bm_session != b.mqtt_bm_session ||
      a.feed_systems != b.feed_systems || a.feed_max_message != b.feed_max_message ||
      a.feed_max_connections != b.feed_max_connections || a.api_token_file != b.api_token_file ||
      settings_.server_id != settings.server_id || TokenFileChanged(b.api_token_file);
  const ReportingSettings before = settings_;
  settings_ = settings;
  state_dirty_ = true;  // ping, hang time and single mode show in the feeds' next snapshot
  while (lastheard_.size() > settings_.report.lastheard_size) lastheard_.pop_back();
  while (talkgroups_.size() > settings_.report.talkgroups_size) {
    tg_index_.erase(talkgroups_.back().tg);
    talkgroups_.pop_back();
  }
  view_dirty_ = true;
  if (!surfaces) return absl::OkStatus();
  StopSurfaces();
  absl::Status st = StartSurfaces();
  if (!st.ok()) {
    // Refused, not half-applied: a [report] value the surfaces cannot take (a message limit below
    // what the configured systems need, a port in use) must not take the operator's dashboards
    // and MQTT away. They start again as they were; the bounds of the tables stay new.
    StopSurfaces();
    ReportingSettings kept = settings_;
    kept.report = before.report;
    kept.report.lastheard_size = settings_.report.lastheard_size;
    kept.report.talkgroups_size = settings_.report.talkgroups_size;
    kept.server_id = before.server_id;
    settings_ = std::move(kept);
    std::string why = absl::StrCat(st.message(), "; the [report] surfaces keep their settings");
    if (absl::Status again = StartSurfaces(); !again.ok()) {
      absl::StrAppend(&why, ", but could not start again: ", again.message());
    }
    st = absl::InvalidArgumentError(why);
  }
  PublishView(now);
  return st;
}

// --- Calls ----------------------------------------------------------------------------------

std::string Reporting::SourceName(const report::CallSource& s) const {
  if (s.kind == report::CallSource::Kind::kPeer) return s.peer_name;
  return s.callsign.empty() ? std::to_string(s.client_id) : s.callsign;
}

CallRecord Reporting::StartRecord(const route::Event& e, route::TimeNs start) const {
  CallRecord c;
  c.stream_id = e.stream_id;
  c.rf_src = e.rf_src;
  c.type = TypeOf(e);
  // A group call is shown with the talkgroup it reached (a dialled link's TG, not 9).
  c.dst = IsGroup(c.type) && e.tg != 0 ? e.tg : e.dst;
  c.slot = SlotOf(e.ts);
  if (e.source.is_peer()) {
    c.source.kind = report::CallSource::Kind::kPeer;
    c.source.network_id = e.source_id;
    c.source.peer_name = e.source.index < peers_.size() ? peers_[e.source.index].name
                                                        : absl::StrCat("peer-", e.source.index);
  } else {
    c.source.kind = report::CallSource::Kind::kClient;
    c.source.client_id = e.source_id;
    if (auto it = callsigns_.find(e.source_id); it != callsigns_.end()) {
      c.source.callsign = it->second;
    }
  }
  if (auto it = talkers_.find(e.rf_src); it != talkers_.end()) c.talker_callsign = it->second;
  c.destinations = e.destinations;
  c.start_mono_ns = static_cast<int64_t>(start);
  c.start_unix_ns = WallOf(start);
  return c;
}

void Reporting::OnTalkerAlias(uint32_t client_id, uint32_t rf_src, const std::string& alias) {
  std::string callsign = proto::dmr::TalkerAliasCallsign(alias);
  if (callsign.empty()) return;
  for (const uint64_t ts : {route::kTs1, route::kTs2}) {  // the client's live calls
    auto by = live_by_source_.find((uint64_t{client_id} << 1) | ts);
    if (by == live_by_source_.end()) continue;
    auto call = live_.find(by->second);
    if (call != live_.end() && call->second->rf_src == rf_src) {
      call->second->talker_callsign = callsign;
      view_dirty_ = true;
    }
  }
  auto [it, added] = talkers_.try_emplace(rf_src);
  it->second = std::move(callsign);
  if (!added) return;
  talkers_order_.push_back(rf_src);
  if (talkers_order_.size() > kMaxTalkers) {
    talkers_.erase(talkers_order_.front());
    talkers_order_.pop_front();
  }
}

void Reporting::Publish(const CallRecord& call) {
  if (hub_) hub_->Publish(call);
  Emit(call.ended ? "call_end" : "call_start", "call", report::ToJson(call));
}

void Reporting::AddToLastheard(std::shared_ptr<CallRecord> call) {
  lastheard_.push_front(std::move(call));
  while (lastheard_.size() > settings_.report.lastheard_size) lastheard_.pop_back();
}

void Reporting::Touch(const CallRecord& call, bool ended) {
  if (!IsGroup(call.type)) return;
  auto it = tg_index_.find(call.dst);
  if (it == tg_index_.end()) {
    if (ended) return;  // the TG dropped out of the table since the call started
    TalkgroupActivity fresh;
    fresh.tg = call.dst;
    talkgroups_.push_front(std::move(fresh));
    it = tg_index_.emplace(call.dst, talkgroups_.begin()).first;
    while (talkgroups_.size() > settings_.report.talkgroups_size) {
      tg_index_.erase(talkgroups_.back().tg);
      talkgroups_.pop_back();
    }
  } else if (!ended) {
    talkgroups_.splice(talkgroups_.begin(), talkgroups_, it->second);
  }
  TalkgroupActivity& t = *it->second;
  if (!ended) {
    ++t.calls;
    t.slot = static_cast<uint8_t>(call.slot);
    t.last_unix_ns = call.start_unix_ns;
    t.last_rf_src = call.rf_src;
    t.last_source = SourceName(call.source);
    t.live_streams.push_back(call.stream_id);
  } else {
    t.seconds += static_cast<double>(call.duration_ns) / 1e9;
    // (A call that started before its TG re-entered the table is not among them.)
    std::erase(t.live_streams, call.stream_id);
  }
  // Live while any call on it is: one on each slot, or a peer's call beside a client's.
  t.live = !t.live_streams.empty();
}

void Reporting::OnStreamEvent(const route::Event& e, route::TimeNs now,
                              const route::RouteSnapshot* snap) {
  view_dirty_ = true;
  if (e.type == route::EventType::kStreamStarted) {
    if (e.source.is_client()) {
      // The same client starting again on the same slot: its previous call's terminator was
      // lost on the way (the shard ends it only after stream_lost_after of silence).
      // Events of different shards can arrive a little out of order (a terminator on one shard,
      // the next call's header 60 ms later on another): the old call is superseded only if its
      // end has not come after a grace period.
      const auto key = (uint64_t{e.source_id} << 1) | e.ts;
      if (auto by = live_by_source_.find(key);
          by != live_by_source_.end() && by->second != e.stream_id) {
        supersede_.push_back({by->second, now + kSupersedeGrace});
      }
      live_by_source_[key] = e.stream_id;
    }
    auto call = std::make_shared<CallRecord>(StartRecord(e, e.at));
    if (IsGroup(call->type) && snap != nullptr && e.tg != 0) {
      // The HBlink feed's TX legs: the conference's clients as the shard resolved them.
      for (const route::Destination& d : snap->FindConference(e.tg).members) {
        if (call->destination_clients.size() == kMaxTxLegs) break;
        if (e.source.is_client() && d.to.index == e.source.index && d.ts == e.ts) continue;
        call->destination_clients.push_back(d.repeater_id);
      }
    }
    ++calls_total_[static_cast<int>(call->type)];
    live_[e.stream_id] = call;
    AddToLastheard(call);
    Touch(*call, false);
    Publish(*call);
    return;
  }
  if (e.type != route::EventType::kStreamEnded && e.type != route::EventType::kStreamLost) return;
  const auto fill = [&](CallRecord& c) {
    c.frames = e.packets;
    c.frames_lost = e.lost;
    c.frames_late = e.late;
    c.frames_early = e.early;
    c.jitter_ms = static_cast<double>(e.jitter_10us) * route::kJitterUnit / 1e6;
    c.duration_ns = static_cast<int64_t>(e.duration_ms) * 1'000'000;
    c.destinations = e.destinations;
  };
  if (auto it = ended_early_.find(e.stream_id); it != ended_early_.end()) {
    fill(*it->second);  // ended (superseded) already: the final counts, nothing published again
    ended_early_.erase(it);
    return;
  }
  std::shared_ptr<CallRecord> call;
  if (auto it = live_.find(e.stream_id); it != live_.end()) {
    call = it->second;
  } else {
    // Its start never arrived (dropped on a full ring, or before this control plane started).
    const route::TimeNs last_frame =
        e.type == route::EventType::kStreamLost && e.at > settings_.stream_lost_after
            ? e.at - settings_.stream_lost_after
            : e.at;
    const route::TimeNs duration = route::TimeNs{e.duration_ms} * route::kMs;
    call = std::make_shared<CallRecord>(
        StartRecord(e, last_frame > duration ? last_frame - duration : 0));
    ++ends_without_start_;
    ++calls_total_[static_cast<int>(call->type)];
    live_[e.stream_id] = call;
    AddToLastheard(call);
    Touch(*call, false);
  }
  fill(*call);
  End(call, ReasonOf(e.end), now);
}

void Reporting::End(std::shared_ptr<CallRecord> call, CallEndReason why, route::TimeNs now) {
  call->ended = true;
  call->end_reason = why;
  if (why == CallEndReason::kSuperseded || why == CallEndReason::kLost ||
      why == CallEndReason::kDrain) {
    // The control plane ends it: no frame counts from the shard (yet); the duration as seen.
    const auto start = static_cast<route::TimeNs>(call->start_mono_ns);
    call->duration_ns = static_cast<int64_t>(now > start ? now - start : 0);
  }
  live_.erase(call->stream_id);
  if (call->source.kind == report::CallSource::Kind::kClient) {
    const auto key = (uint64_t{call->source.client_id} << 1) |
                     (call->slot == report::Slot::kTs1 ? route::kTs1 : route::kTs2);
    if (auto by = live_by_source_.find(key);
        by != live_by_source_.end() && by->second == call->stream_id) {
      live_by_source_.erase(by);
    }
  }
  Touch(*call, true);
  Publish(*call);
  view_dirty_ = true;
}

void Reporting::Supersede(route::TimeNs now) {
  while (!supersede_.empty() && supersede_.front().second <= now) {
    const uint32_t stream_id = supersede_.front().first;
    supersede_.pop_front();
    auto it = live_.find(stream_id);
    if (it == live_.end()) continue;  // its end came in time
    std::shared_ptr<CallRecord> call = it->second;
    End(call, CallEndReason::kSuperseded, now);
    ++calls_superseded_;
    ended_early_.emplace(stream_id, call);
    ended_early_order_.push_back(stream_id);
    while (ended_early_order_.size() > kMaxEndedEarly) {
      ended_early_.erase(ended_early_order_.front());
      ended_early_order_.pop_front();
    }
  }
}

void Reporting::EndLiveCalls(CallEndReason why, route::TimeNs now) {
  std::vector<std::shared_ptr<CallRecord>> calls;
  for (auto& [id, call] : live_) calls.push_back(call);
  for (auto& call : calls) End(call, why, now);
}

// --- Clients and peers ------------------------------------------------------------------------

void Reporting::OnClientUp(const ClientRecord& client, route::TimeNs now) {
  callsigns_[client.id] = client.callsign;
  report::ClientEvent e;
  e.kind = report::ClientEvent::Kind::kLogin;
  e.client_id = client.id;
  e.callsign = client.callsign;
  e.time_unix_ns = WallOf(now);
  e.client = std::make_shared<const report::ClientView>(ViewOf(client, wall_offset_));
  if (hub_) hub_->Publish(e);
  Emit("client", "event", report::ToJson(e));
  state_dirty_ = true;
}

void Reporting::OnClientDown(uint32_t id, std::string_view reason, route::TimeNs now) {
  report::ClientEvent e;
  e.kind = reason == "lost" ? report::ClientEvent::Kind::kLost : report::ClientEvent::Kind::kLogout;
  e.client_id = id;
  e.reason = reason == "lost" ? "keepalive_timeout" : std::string(reason);
  if (auto it = callsigns_.find(id); it != callsigns_.end()) {
    e.callsign = it->second;
    callsigns_.erase(it);
  }
  e.time_unix_ns = WallOf(now);
  if (hub_) hub_->Publish(e);
  Emit("client", "event", report::ToJson(e));
  state_dirty_ = true;
}

void Reporting::OnClientChanged(uint32_t id, std::string_view reason, route::TimeNs now) {
  const auto it = callsigns_.find(id);
  Emit("client", "event",
       {{"event", "changed"},
        {"client_id", id},
        {"callsign", it == callsigns_.end() ? std::string() : it->second},
        {"reason", reason},
        {"time", static_cast<double>(WallOf(now)) / 1e9}});
  state_dirty_ = true;
}

void Reporting::OnPeers(const ObpLinks& links, route::TimeNs now) {
  std::vector<PeerSeen> next;
  std::vector<int64_t> since;
  std::vector<report::PeerEvent> events;
  for (uint32_t i = 0; i < links.size(); ++i) {
    const route::PeerSpec& spec = links.peer(i)->spec;
    PeerSeen seen{spec.name, spec.network_id, spec.alive, WallOf(now)};
    const auto old = std::find_if(peers_.begin(), peers_.end(),
                                  [&](const PeerSeen& p) { return p.name == spec.name; });
    if (old != peers_.end() && old->up == spec.alive) {
      seen.since_unix_ns = old->since_unix_ns;
    } else if (old != peers_.end() || spec.alive) {
      report::PeerEvent ev;
      ev.up = spec.alive;
      ev.name = spec.name;
      ev.reason = spec.alive ? "" : old != peers_.end() ? "keepalive_timeout" : "";
      ev.time_unix_ns = WallOf(now);
      events.push_back(std::move(ev));
    }
    since.push_back(seen.since_unix_ns);
    next.push_back(std::move(seen));
  }
  for (const PeerSeen& p : peers_) {
    if (std::none_of(next.begin(), next.end(),
                     [&](const PeerSeen& n) { return n.name == p.name; })) {
      report::PeerEvent ev;
      ev.up = false;
      ev.name = p.name;
      ev.reason = "removed";
      ev.time_unix_ns = WallOf(now);
      events.push_back(std::move(ev));
    }
  }
  peers_ = std::move(next);
  peer_views_ = MakePeerViews(links, wall_offset_, since);
  for (report::PeerEvent& ev : events) {
    for (const report::PeerView& v : peer_views_) {
      if (v.name == ev.name) ev.peer = std::make_shared<const report::PeerView>(v);
    }
    if (!ev.peer) {
      report::PeerView gone;
      gone.name = ev.name;
      gone.state_since_unix_ns = ev.time_unix_ns;
      ev.peer = std::make_shared<const report::PeerView>(gone);
    }
    if (hub_) hub_->Publish(ev);
    Emit("peer", "event", report::ToJson(ev));
  }
  if (!events.empty()) {
    state_dirty_ = true;
    view_dirty_ = true;
  }
}

bool Reporting::StateDue(route::TimeNs now) const {
  if (!hub_ && !http_) return false;
  return (state_dirty_ && now >= state_at_ + kStateEvery) || now >= state_at_ + kStateAtLeast;
}

void Reporting::StampHbpSettings(report::HubView* hub) const {
  hub->ping_time_s = settings_.ping_time_s;
  hub->max_missed = settings_.max_missed;
  hub->group_hangtime_s = settings_.group_hangtime_s;
  hub->single_mode = settings_.single_mode;
}

void Reporting::SetState(report::HubState state, route::TimeNs now) {
  state_dirty_ = false;
  state_at_ = now;
  state.peers = peer_views_;  // with the times their state last changed
  StampHbpSettings(&state.hub);
  state_ = std::make_shared<const report::HubState>(std::move(state));
  if (hub_) hub_->SetState(state_);
  view_dirty_ = true;
}

// --- Timers and the HTTP view -----------------------------------------------------------------

void Reporting::Tick(route::TimeNs now, uint64_t generation, bool draining, uint64_t clients,
                     const std::function<std::vector<report::NamedCounter>()>& counters) {
  wall_offset_ = static_cast<int64_t>(io::WallNs() - io::MonotonicNs());
  if (generation != generation_ || draining != draining_ || clients != clients_) view_dirty_ = true;
  if (draining != draining_) {
    Emit("hub", "hub",
         {{"draining", draining},
          {"generation", generation},
          {"clients", clients},
          {"live_calls", live_.size()}});
  }
  generation_ = generation;
  draining_ = draining;
  clients_ = clients;
  Supersede(now);
  if (now >= view_at_ + kViewAtLeast) {
    // Calls whose end never came: their end event was dropped on a full ring.
    std::vector<std::shared_ptr<CallRecord>> stale;
    for (auto& [id, call] : live_) {
      if (now > static_cast<route::TimeNs>(call->start_mono_ns) + settings_.call_lost_after) {
        stale.push_back(call);
      }
    }
    for (auto& call : stale) {
      End(call, CallEndReason::kLost, now);
      ++calls_lost_;
    }
  }
  if ((view_dirty_ && now >= view_at_ + kViewEvery) || now >= view_at_ + kViewAtLeast) {
    if (http_ && counters) cp_counters_ = counters();
    PublishView(now);
  }
}

void Reporting::PublishView(route::TimeNs now) {
  view_dirty_ = false;
  view_at_ = now;
  if (!http_) return;
  auto v = std::make_shared<ReportView>();
  v->hub.server_id = settings_.server_id;
  v->hub.version = DMRSWITCH_VERSION;
  v->hub.mode = settings_.mode;
  v->hub.shards = settings_.shards;
  v->hub.snapshot_generation = generation_;
  v->hub.started_unix_ns = WallOf(started_);
  v->hub.uptime_ns = static_cast<int64_t>(now - started_);
  v->hub.draining = draining_;
  v->clients = clients_;
  v->live_calls = live_.size();
  std::copy(std::begin(calls_total_), std::end(calls_total_), std::begin(v->calls_total));
  v->peers = peer_views_;
  v->counters = cp_counters_;
  v->counters.push_back(Counter("report_calls_ended_by_control_plane", calls_superseded_,
                                "Calls the control plane ended itself, by reason.", "superseded"));
  v->counters.push_back(Counter("report_calls_ended_by_control_plane", calls_lost_,
                                "Calls the control plane ended itself, by reason.", "lost"));
  v->counters.push_back(Counter("report_call_ends_without_start", ends_without_start_,
                                "Calls whose start event never reached the control plane."));
  if (hub_) {
    report::MetricsSnapshot surfaces;
    hub_->AppendMetrics(&surfaces);
    for (auto& c : surfaces.counters) v->counters.push_back(std::move(c));
    for (auto& g : surfaces.gauges) v->gauges.push_back(std::move(g));
  }
  v->lastheard.reserve(lastheard_.size());
  for (const auto& c : lastheard_) v->lastheard.push_back(*c);
  v->live.reserve(live_.size());
  for (const auto& [id, c] : live_) v->live.push_back(*c);
  std::sort(v->live.begin(), v->live.end(), [](const CallRecord& a, const CallRecord& b) {
    return a.start_mono_ns != b.start_mono_ns ? a.start_mono_ns < b.start_mono_ns
                                              : a.stream_id < b.stream_id;
  });
  v->state = state_;
  v->talkgroups.assign(talkgroups_.begin(), talkgroups_.end());
  http_->SetView(std::move(v));
}

nlohmann::json Reporting::ToJson(const TalkgroupActivity& t) {
  return {{"tg", t.tg},
          {"slot", t.slot},
          {"calls", t.calls},
          {"seconds", t.seconds},
          {"last", static_cast<double>(t.last_unix_ns) / 1e9},
          {"last_rf_src", t.last_rf_src},
          {"last_source", t.last_source},
          {"live", t.live}};
}

nlohmann::json Reporting::LastheardJson(size_t limit) const {
  nlohmann::json calls = nlohmann::json::array();
  for (const auto& c : lastheard_) {
    if (calls.size() == limit) break;
    calls.push_back(report::ToJson(*c));
  }
  nlohmann::json tgs = nlohmann::json::array();
  for (const TalkgroupActivity& t : talkgroups_) {
    if (tgs.size() == limit) break;
    tgs.push_back(ToJson(t));
  }
  return {{"ok", true},
          {"live_calls", live_.size()},
          {"lastheard", std::move(calls)},
          {"talkgroups", std::move(tgs)}};
}

// --- The dashboards' state --------------------------------------------------------------------

std::vector<report::PeerView> MakePeerViews(const ObpLinks& links, int64_t wall_offset,
                                            const std::vector<int64_t>& since_unix_ns) {
  std::vector<report::PeerView> out;
  for (uint32_t i = 0; i < links.size(); ++i) {
    const ObpLinkState& s = *links.peer(i);
    report::PeerView v;
    v.name = s.spec.name;
    v.version = s.spec.version;
    v.up = s.spec.alive;
    v.network_id = s.spec.network_id;
    v.target_address = FormatAddress(s.spec.target);
    v.target_port = s.spec.target.port;
    v.last_keepalive_unix_ns =
        s.last_heard == 0 ? 0 : static_cast<int64_t>(s.last_heard) + wall_offset;
    v.state_since_unix_ns = i < since_unix_ns.size() ? since_unix_ns[i] : 0;
    // The control plane's view of the link: keepalives and version notices, and the streams the
    // shards accepted from the peer; voice frames are counted by the shards.
    v.packets_received =
        s.counters.bcka_rx + s.counters.bcve_rx + s.counters.bcst_rx + s.counters.traffic;
    v.packets_sent = s.counters.bcka_sent + s.counters.bcve_sent + s.counters.bcve_answers;
    v.packets_rejected = s.counters.bad_mac + s.counters.malformed + s.counters.refused;
    out.push_back(std::move(v));
  }
  return out;
}

report::HubState MakeHubState(const report::HubView& hub, const HbpAuth& auth,
                              const Subscriptions& subs, const ObpLinks& links,
                              const ClientActivity& activity, int64_t wall_offset) {
  report::HubState s;
  s.hub = hub;
  const auto wall = [&](route::TimeNs t) { return static_cast<int64_t>(t) + wall_offset; };
  for (const ClientRecord* r : auth.Clients()) {
    report::ClientView v = ViewOf(*r, wall_offset);
    // The packet plane answers its keepalives and reports them (ClientActivity); until the first
    // report the login stands for the last ping, as in HBlink.
    const ClientActivity::Seen seen = activity.View(r->id, r->addr, r->logged_in_at);
    const route::TimeNs last_ping = seen.last_ping != 0 ? seen.last_ping : r->logged_in_at;
    v.last_ping_unix_ns = wall(last_ping);
    v.last_heard_unix_ns = wall(std::max(last_ping, seen.last_heard));
    v.pings_received = seen.pings;
    if (const std::optional<ClientView> sv = subs.View(r->id); sv) {
      // Only what the hub routes to it: nothing on a timeslot the client did not declare
      // (Subscriptions leaves those out of the snapshot and warns about them).
      const auto declared = [&](unsigned ts) { return (sv->slot_mask & (1u << ts)) != 0; };
      for (unsigned ts : {route::kTs1, route::kTs2}) {
        if (!declared(ts)) continue;
        std::vector<uint32_t> statics = sv->config_statics[ts];
        statics.insert(statics.end(), sv->option_statics[ts].begin(), sv->option_statics[ts].end());
        std::sort(statics.begin(), statics.end());
        statics.erase(std::unique(statics.begin(), statics.end()), statics.end());
        const std::vector<uint32_t>& suspended = sv->suspended[ts];
        for (uint32_t tg : statics) {
          report::TalkgroupSubscription t;
          t.tg = tg;
          t.slot = SlotOf(ts);
          if (std::find(suspended.begin(), suspended.end(), tg) != suspended.end()) {
            t.suspended = true;
            const route::TimeNs until = sv->suspension[ts].until;
            t.suspended_until_unix_ns = until == kNever ? 0 : wall(until);
          }
          v.talkgroups.push_back(t);
        }
      }
      v.single_mode = sv->single_mode;
      const auto is_static = [&](unsigned ts, uint32_t tg) {
        return std::binary_search(sv->config_statics[ts].begin(), sv->config_statics[ts].end(),
                                  tg) ||
               std::binary_search(sv->option_statics[ts].begin(), sv->option_statics[ts].end(), tg);
      };
      for (const UaMembership& u : sv->ua) {
        // A key-up on one of its statics makes no second membership (Subscriptions::EffectiveOf).
        if (!declared(u.ts) || is_static(u.ts, u.tg)) continue;
        report::TalkgroupSubscription t;
        t.tg = u.tg;
        t.slot = SlotOf(u.ts);
        t.dynamic = true;
        t.expires_unix_ns = u.expires_at == kNever ? 0 : wall(u.expires_at);
        t.timeout_s = static_cast<uint32_t>(sv->ua_timer / route::kSec);
        v.talkgroups.push_back(t);
      }
      if (sv->dial_tg != 0 && declared(route::kTs2)) {
        report::TalkgroupSubscription t;
        t.tg = sv->dial_tg;
        t.slot = report::Slot::kTs2;
        t.dynamic = sv->dial_kind == DialKind::kDialled;
        t.expires_unix_ns = sv->dial_expires_at == kNever || sv->dial_expires_at == 0
                                ? 0
                                : wall(sv->dial_expires_at);
        t.timeout_s = t.dynamic ? static_cast<uint32_t>(sv->ua_timer / route::kSec) : 0;
        v.talkgroups.push_back(t);
      }
    }
    s.clients.push_back(std::move(v));
  }
  s.peers = MakePeerViews(links, wall_offset, {});
  return s;
}

}  // namespace dmrswitch::cp
