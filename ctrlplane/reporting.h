// Reporting: the control plane's component that turns what the hub does into what operators see
// (issue 11, docs/reporting.md). One owner, fed by ControlPlane from its one thread:
//
//   shard events (StreamStarted/Ended/Lost)   → CallRecords: lastheard, the talkgroup activity
//                                               table, calls by type, MQTT and both feeds
//   logins, logouts, lost clients             → ClientEvents
//   peers' liveness (ObpLinks)                → PeerEvents and PeerViews
//   clients, subscriptions, peers             → the HubState dashboards draw from
//
// and that drives the surfaces: report::ReportHub (the HBlink/FreeDMR feed, HBlink3 v3's JSON
// feed, MQTT; each on its own thread behind a bounded queue) and ReportHttp (/metrics and the
// JSON API on cpp-httplib's threads). Nothing here ever waits for a consumer: what a surface cannot
// take is dropped and counted by the surface.
//
// Calls: a call is live from its StreamStarted to its StreamEnded/StreamLost. The shard says why
// it ended (terminator, timeout, max_age); the control plane adds `superseded` (the same client
// started another call on the same slot: its terminator was lost), `lost` (no end arrived in
// time: the event was dropped on a full ring) and `drain` (live at the hub's stop while it
// drained). An end that arrives for a call the control plane never saw start (its start event was
// dropped, or a restarted control plane) still makes a complete record from the end event.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "ctrlplane/client_activity.h"
#include "ctrlplane/config/config.h"
#include "ctrlplane/login/hbp_auth.h"
#include "ctrlplane/login/obp_links.h"
#include "ctrlplane/report/event_stream.h"
#include "ctrlplane/report/model.h"
#include "ctrlplane/report/report_hub.h"
#include "ctrlplane/report_http.h"
#include "ctrlplane/subscriptions/subscriptions.h"
#include "dataplane/ipc/shard_stats.h"
#include "dataplane/route/events.h"
#include "dataplane/route/route_snapshot.h"
#include "nlohmann/json.hpp"

namespace dmrswitch::cp {

// One talkgroup's activity (the per-TG table of /api/v1/talkgroups and lastheard).
struct TalkgroupActivity {
  uint32_t tg = 0;
  uint8_t slot = 0;  // of the last call (1 or 2)
  uint64_t calls = 0;
  double seconds = 0;  // talk time of the ended calls
  int64_t last_unix_ns = 0;
  uint32_t last_rf_src = 0;
  std::string last_source;  // client callsign (or ID) or peer name
  bool live = false;        // a call on it has not ended
  // The streams of those calls, started since it entered the table (a handful at most: one per
  // slot and source at a time).
  std::vector<uint32_t> live_streams;
};

// What the HTTP threads serve besides the shards' counters (which they read themselves): built
// by the control plane's thread, immutable once published.
struct ReportView {
  report::HubView hub;
  uint64_t clients = 0;
  uint64_t live_calls = 0;
  uint64_t calls_total[report::kCallTypeCount] = {};
  std::vector<report::PeerView> peers;
  std::vector<report::NamedCounter> counters;  // control-plane counters (logins, events ...)
  std::vector<report::NamedGauge> gauges;
  std::vector<report::CallRecord> lastheard;  // newest first
  std::vector<report::CallRecord> live;       // the live calls, oldest first
  std::vector<TalkgroupActivity> talkgroups;  // most recently active first
  // Clients with their talkgroups, as of the last SetState (at most a second old after a change);
  // null before the first.
  std::shared_ptr<const report::HubState> state;
};

struct ReportingSettings {
  ReportSection report;  // [report]
  uint32_t server_id = 0;
  std::string mode;  // "kernel", "dpdk", "afxdp"
  uint32_t shards = 0;
  // [hbp] settings the feeds show (stamped on every HubState, so a reload shows at once).
  uint32_t group_hangtime_s = 5;
  uint32_t ping_time_s = 10;
  uint32_t max_missed = 3;
  bool single_mode = true;
  // A live call that has had no end for longer than this is ended as `lost` (its end event was
  // dropped): max_stream_age + stream_lost_after, plus a margin.
  route::TimeNs call_lost_after = 200 * route::kSec;
  // Lost streams end stream_lost_after after their last frame (for the start of a call only its
  // end was seen).
  route::TimeNs stream_lost_after = 5 * route::kSec;
};
ReportingSettings MakeReportingSettings(const HubConfig& config);

class Reporting {
 public:
  // Starts the configured surfaces; an error names the surface and what to fix. `stats` (the
  // shards' counter blocks) may be null (no shard counters on /metrics).
  static absl::StatusOr<std::unique_ptr<Reporting>> Start(const ReportingSettings& settings,
                                                          const ipc::ShardStatsZone* stats,
                                                          route::TimeNs now);
  ~Reporting();
  Reporting(const Reporting&) = delete;
  Reporting& operator=(const Reporting&) = delete;

  // --- Inputs, from the control plane's thread ---
  // A stream event. `snap` (the current snapshot, may be null) names the client destinations of
  // a group call for the HBlink feed's TX legs.
  void OnStreamEvent(const route::Event& e, route::TimeNs now, const route::RouteSnapshot* snap);
  void OnClientUp(const ClientRecord& client, route::TimeNs now);
  // A client logged in before this component started (restored or fixed): named in calls, no
  // login event.
  void KnowClient(uint32_t id, const std::string& callsign) { callsigns_[id] = callsign; }
  // A talker alias a client reported for `rf_src` (HbpAuth::TakeTalkerAliases): its first word
  // names the talker (CallRecord::talker_callsign) of that client's live call from rf_src, and
  // of rf_src's later calls wherever they come from, until another alias replaces it.
  void OnTalkerAlias(uint32_t client_id, uint32_t rf_src, const std::string& alias);
  // Most talkers remembered (the oldest is forgotten first).
  static constexpr size_t kMaxTalkers = 16384;
  // `reason` as HbpAuth gives it: "lost" (keepalive timeout) is a ClientEvent kLost, anything
  // else a logout with that reason.
  void OnClientDown(uint32_t id, std::string_view reason, route::TimeNs now);
  // A logged-in client's settings changed (`reason`: "options" for its RPTO, "api" for the JSON
  // API's writes): an event on GET /api/v1/events, so that dashboards refresh it.
  void OnClientChanged(uint32_t id, std::string_view reason, route::TimeNs now);
  // The peers as the links see them: up/down changes become PeerEvents.
  void OnPeers(const ObpLinks& links, route::TimeNs now);
  // Clients, subscriptions or peers changed: the dashboards' state is rebuilt (at most once a
  // second; every 10 s regardless, for timers).
  void StateChanged() { state_dirty_ = true; }
  bool StateDue(route::TimeNs now) const;
  void SetState(report::HubState state, route::TimeNs now);
  // Timers: calls whose end never came, the HTTP view. `generation` and `draining` are the
  // hub's as the control plane sees them; `counters` gives its own (logins, ...) when the view
  // is rebuilt.
  void Tick(route::TimeNs now, uint64_t generation, bool draining, uint64_t clients,
            const std::function<std::vector<report::NamedCounter>()>& counters);
  // The hub stops: every live call ends (`drain` if it was draining, else `lost`).
  void EndLiveCalls(report::CallEndReason why, route::TimeNs now);
  // A reload: surfaces whose keys changed are restarted; sizes apply (trimming the oldest).
  absl::Status Reconfigure(const ReportingSettings& settings, route::TimeNs now);

  // --- Queries ---
  // dmrswitch-ctl lastheard: {"lastheard": [...], "talkgroups": [...]}; `limit` calls at most.
  nlohmann::json LastheardJson(size_t limit) const;
  const std::deque<std::shared_ptr<report::CallRecord>>& lastheard() const { return lastheard_; }
  uint64_t live_calls() const { return live_.size(); }
  uint16_t http_port() const;  // 0 when [report] http is off
  // The JSON API's writes that arrived (ReportHttp::TakeWrites); none when http is off.
  std::vector<ApiWrite> TakeApiWrites();
  // The live events of GET /api/v1/events, numbered across restarts of the HTTP surface.
  const report::EventStream& events() const { return *events_; }
  static constexpr size_t kEventsKept = 4096;
  // Shortest API token accepted (report.api_token_file): guessing is rate-limited, not barred.
  static constexpr size_t kMinApiTokenBytes = 16;
  report::ReportHub* hub() { return hub_.get(); }

  // Helpers shared with the HTTP server and the tests.
  static nlohmann::json ToJson(const TalkgroupActivity& t);

 private:
  Reporting(const ReportingSettings& settings, const ipc::ShardStatsZone* stats);
  absl::Status StartSurfaces();
  void StopSurfaces();
  // Whether the API token in `path` differs from the running one (or cannot be read).
  bool TokenFileChanged(const std::string& path) const;

  int64_t WallOf(route::TimeNs mono) const { return static_cast<int64_t>(mono) + wall_offset_; }
  report::CallRecord StartRecord(const route::Event& e, route::TimeNs start) const;
  void Publish(const report::CallRecord& call);
  void End(std::shared_ptr<report::CallRecord> call, report::CallEndReason why, route::TimeNs now);
  void Supersede(route::TimeNs now);
  void AddToLastheard(std::shared_ptr<report::CallRecord> call);
  void Touch(const report::CallRecord& call, bool ended);
  void PublishView(route::TimeNs now);
  // The [hbp] settings of settings_ onto a HubState's hub, as the feeds show them.
  void StampHbpSettings(report::HubView* hub) const;
  // An event for GET /api/v1/events: {"type": type, key: value}.
  void Emit(std::string_view type, std::string_view key, nlohmann::json value);
  std::string SourceName(const report::CallSource& s) const;

  ReportingSettings settings_;
  const ipc::ShardStatsZone* stats_;
  std::unique_ptr<report::ReportHub> hub_;
  std::unique_ptr<ReportHttp> http_;
  std::shared_ptr<report::EventStream> events_;
  std::string api_token_;    // the running API token ("" = writes off); never logged
  int64_t wall_offset_ = 0;  // wall clock minus monotonic clock, refreshed every Tick
  route::TimeNs started_ = 0;

  // Calls: live ones by stream ID; lastheard (newest first) shares the records, so an end
  // updates the entry its start made.
  absl::flat_hash_map<uint32_t, std::shared_ptr<report::CallRecord>> live_;
  // Calls the control plane ended itself (superseded): their shard end updates the record's
  // counts and publishes nothing more. Bounded (oldest forgotten).
  absl::flat_hash_map<uint32_t, std::shared_ptr<report::CallRecord>> ended_early_;
  std::list<uint32_t> ended_early_order_;
  // A client's live call on each of its slots ((client ID << 1) | ts → stream ID).
  absl::flat_hash_map<uint64_t, uint32_t> live_by_source_;
  // Calls another start of their client and slot may have superseded: (stream ID, deadline).
  std::deque<std::pair<uint32_t, route::TimeNs>> supersede_;
  std::deque<std::shared_ptr<report::CallRecord>> lastheard_;  // newest first
  // Talkgroups, most recently active first, bounded by talkgroups_size.
  std::list<TalkgroupActivity> talkgroups_;
  absl::flat_hash_map<uint32_t, std::list<TalkgroupActivity>::iterator> tg_index_;
  uint64_t calls_total_[report::kCallTypeCount] = {};
  uint64_t calls_superseded_ = 0;
  uint64_t calls_lost_ = 0;
  uint64_t ends_without_start_ = 0;

  // Names for calls and events.
  absl::flat_hash_map<uint32_t, std::string> callsigns_;  // client ID -> callsign
  absl::flat_hash_map<uint32_t, std::string> talkers_;    // rf_src -> talker alias callsign
  std::deque<uint32_t> talkers_order_;                    // rf_src, oldest first
  struct PeerSeen {
    std::string name;
    uint32_t network_id = 0;
    bool up = false;
    int64_t since_unix_ns = 0;
  };
  std::vector<PeerSeen> peers_;               // by peer index, as last seen
  std::vector<report::PeerView> peer_views_;  // the same, as views

  bool state_dirty_ = true;
  route::TimeNs state_at_ = 0;
  std::shared_ptr<const report::HubState> state_;  // the last SetState, for the HTTP view
  bool view_dirty_ = true;
  route::TimeNs view_at_ = 0;
  uint64_t generation_ = 0;
  bool draining_ = false;
  uint64_t clients_ = 0;
  std::vector<report::NamedCounter> cp_counters_;
};

// The dashboards' view of the hub from the control plane's components.
// A client's last ping, pings and last heard come from `activity` (the shards' reports); before
// its first reported keepalive, its last ping is its login.
report::HubState MakeHubState(const report::HubView& hub, const HbpAuth& auth,
                              const Subscriptions& subs, const ObpLinks& links,
                              const ClientActivity& activity, int64_t wall_offset);
std::vector<report::PeerView> MakePeerViews(const ObpLinks& links, int64_t wall_offset,
                                            const std::vector<int64_t>& since_unix_ns);

}  // namespace dmrswitch::cp
