// The control plane (DESIGN.md §2, §6): components with one job each, composed and supervised
// here, talking to the shards only through the rings. The same class runs hosted (a thread of
// dmrswitch-dp, `control_plane = "hosted"`) and in dmrswitch-cp.
//
//   ShardLink            the rings: what the shards send, in order; datagrams and commands out
//   HbpAuth              HBP logins (ctrlplane/login)
//   ObpLinks             OpenBridge/FBP links: keepalives, liveness, learned addresses
//   Subscriptions        who hears which talkgroup (ctrlplane/subscriptions)
//   SubscriberLocations  where each subscriber was last heard
//   HeldReplies          login replies waiting for the snapshot that carries their client
//   RouteSnapshots       the persistent snapshot builder and the publisher
//   Drain                stop admitting, wait for idle
//   ShardHealth          heartbeats, silent shards, the status line's figures
//   CtlApi               dmrswitch-ctl's socket and commands
//   ShieldControl        the XDP shield's pinned maps: rate, exempt peers, block list, counters
//   Reporting            calls, lastheard, events and the operator surfaces (ctrlplane/reporting.h)
// and the configuration: this class owns the running HubConfig and applies reloads through the
// key table's appliers (ctrlplane/config/reload.h).
//
// Changes flow one way: an input changes a component; the component's change goes into the
// snapshot builder as the pieces it touches (a login: the client's chunk and its talkgroups), and
// a burst of changes becomes one new generation. Each component runs under the Supervisor: a
// step that fails is rebuilt after a backoff from the last published snapshot, while the others
// and the shards carry on.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "ctrlplane/api_options.h"
#include "ctrlplane/client_activity.h"
#include "ctrlplane/config/config.h"
#include "ctrlplane/ctl_api.h"
#include "ctrlplane/datagram.h"
#include "ctrlplane/drain.h"
#include "ctrlplane/held_replies.h"
#include "ctrlplane/log_text.h"
#include "ctrlplane/login/hbp_auth.h"
#include "ctrlplane/login/obp_links.h"
#include "ctrlplane/report/sd_notify.h"
#include "ctrlplane/reporting.h"
#include "ctrlplane/route_snapshots.h"
#include "ctrlplane/shard_health.h"
#include "ctrlplane/shard_link.h"
#include "ctrlplane/shield_control.h"
#include "ctrlplane/subscriber_locations.h"
#include "ctrlplane/subscriptions/subscriptions.h"
#include "ctrlplane/supervisor.h"
#include "dataplane/ipc/channel.h"

namespace dmrswitch::cp {

class ControlPlane {
 public:
  // `shard_wake_fds[i]` is poked after handing shard i work (-1: it polls). `cp_cmd` carries
  // commands for the control plane itself (reload, drain, resume). `plane_info` (separate mode;
  // null when hosted) records the published generations so that a restarted control plane
  // continues from the current one, and names the packet plane's listeners; hosted, they are
  // `listeners` (empty: as the configuration names them).
  ControlPlane(HubConfig config, std::string config_path, std::vector<ipc::ShardChannel> channels,
               rte_ring* cp_cmd, rte_mempool* pool, std::vector<int> shard_wake_fds,
               ipc::PlaneInfo* plane_info = nullptr, std::vector<route::Endpoint> listeners = {});

  // The shards' counter blocks (dmrswitch-ctl stats/errors, /metrics). Call before Start.
  void SetShardStats(const ipc::ShardStatsZone* stats) { shard_stats_ = stats; }
  // systemd (Type=notify): READY=1 once the listeners are up — the caller's to say, after it
  // launched the shards. WATCHDOG=1 follows from the loop (Step); hosted, only while every shard
  // heartbeats too, so a hung shard stops it as a hung loop would.
  void NotifyReady();

  // Publishes the first snapshot — or, when `plane_info` holds generations a previous control
  // plane published, adopts them and restores clients, subscriptions and timers from the
  // current one. Call once before Run.
  absl::Status Start(route::TimeNs now);
  // True when Start continued from a predecessor's snapshot.
  bool restored() const { return restored_; }
  // Until `stop`: wait for work (`wake_fd` or a few milliseconds), then Step. `reload` (set by
  // SIGHUP) re-reads the configuration file.
  void Run(const std::atomic<bool>& stop, std::atomic<bool>& reload, int wake_fd);
  // One round: rings in, components, snapshot, rings out.
  void Step(route::TimeNs now);
  // Re-reads the configuration file: every live key applies at once, every restart key keeps its
  // running value (and the log says which). On a file with an error the running configuration
  // stays. Live streams are not touched.
  absl::Status Reload(route::TimeNs now);
  // MSTCL to every client (hub stopping).
  void Shutdown();

  uint64_t generation() const { return snapshots_.generation(); }
  const SnapshotPublisher& publisher() const { return snapshots_.publisher(); }
  const Supervisor& supervisor() const { return supervisor_; }
  const HubConfig& config() const { return config_; }
  // Operations and tests: the named component ("auth", "obp-links", "subscriptions",
  // "snapshot", "status") fails at its next step.
  bool InjectFault(std::string_view component);
  PlaneTotals totals() const { return health_.Totals(); }
  // The last snapshot build's work (benchmarks).
  const route::RouteSnapshotBuilder::BuildStats& last_build() const {
    return snapshots_.last_build();
  }

  // Drain (DESIGN.md §7): no shard admits a new stream from now on; live streams get up to
  // `timeout` to end. The outcome is logged and answered to dmrswitch-ctl. Resume ends it.
  void BeginDrain(route::TimeNs now, route::TimeNs timeout);
  void Resume(route::TimeNs now);
  bool draining() const { return drain_.active(); }
  // Measures the control channel (dmrswitch-ctl probe): `pings` ring round trips cp → shard →
  // cp (one outstanding per shard) and `publishes` snapshot publications until every shard
  // acked. Busy-waits: a diagnostic that holds the control plane for its duration (bounded).
  nlohmann::json Probe(uint32_t pings, uint32_t publishes);
  // Shards whose heartbeat is overdue.
  std::vector<uint32_t> SilentShards(route::TimeNs now) const { return health_.Silent(now); }
  // The reporting component (null while it waits to restart after a failure).
  Reporting* reporting() { return reporting_.get(); }
  // dmrswitch-cp, before Start(): control mbufs through the dp's supply and return rings
  // instead of the shared pool (dataplane/ipc/channel.h).
  void UseControlMbufRings(rte_ring* supply, rte_ring* returned) {
    link_.UseMbufRings(supply, returned);
  }
  // What `dmrswitch-ctl status` says under "snapshot_memory" (dmrswitch-cp: the snapshot
  // arena's figures; null when unset).
  void SetMemoryStatus(std::function<nlohmann::json()> status) {
    memory_status_ = std::move(status);
  }

 private:
  // Inputs.
  void OnSupervision(const ShardLink::Supervision& s, route::TimeNs now);
  void OnEvent(const route::Event& e, route::TimeNs now);
  void OnPacket(const Datagram& d, route::TimeNs now);
  void OnCommand(const ipc::Message& m, route::TimeNs now);
  void OnCtl(const CtlCommand& c, route::TimeNs now);
  // The JSON API's writes (ReportHttp): checked (a hotspot's key), applied, answered.
  void OnApiWrite(const ApiWrite& w, route::TimeNs now);
  ApiAnswer ApiWriteAnswer(const ApiWrite& w, route::TimeNs now);
  ApiAnswer ApiSetOptions(uint32_t id, std::string options, route::TimeNs now);
  // The stored-options change the write being answered queued for the file: its answer waits
  // until that is on disk (ApiOptions::WhenWritten), off this thread.
  std::optional<uint64_t> api_options_ticket_;
  uint64_t pending_evicted_logged_ = 0;  // HbpAuth's pending_evicted as of the last log line
  // The options the API stored for `id` (ApiOptions) go over whatever the client sent: after its
  // login's options and after every RPTO.
  void ApplyStoredOptions(uint32_t id, route::TimeNs now);
  // Component changes into the snapshot builder.
  void ApplyAuthChanges(route::TimeNs now);
  // Failed logins and blocks into the log, rate-limited.
  void LogAuthNotices(route::TimeNs now);
  // How many lines the log budgets refused since the last call.
  void LogSuppressed();
  // Rebuilds the snapshot pieces and restart records of clients whose memberships changed, and
  // with `with_timers` of those whose timers alone moved.
  void FeedSubscriptions(bool with_timers = false);
  void FeedLocations();
  void FeedPeers();
  void FeedRestartRecords();
  absl::Status PublishIfDue(route::TimeNs now, bool force = false);
  // Held login replies whose snapshot every shard routes with go out.
  void ReleaseReplies(route::TimeNs now);
  // Every component's whole state into a fresh builder (start, successor, component restart).
  absl::Status FeedEverything();
  void CheckDrain(route::TimeNs now);
  // Sources HbpAuth blocked for a login flood go into the XDP shield's block list for as long.
  void MirrorLoginBlocks();
  nlohmann::json OnShieldCtl(const CtlCommand& c);
  void StatusLine(route::TimeNs now);
  absl::Status RestartReporting(route::TimeNs now);
  void TickReporting(route::TimeNs now);
  std::vector<report::NamedCounter> ControlCounters() const;
  nlohmann::json StatusJson(route::TimeNs now) const;

  absl::Status RestoreFromPlane(route::TimeNs now);
  void RestoreLinksFrom(const route::RouteSnapshot& snap, route::TimeNs now);
  absl::Status RestartAuth(route::TimeNs now);
  // A shard's ClientLost: closes the client's session if it is the one at `addr` (a later login
  // of the same ID from another address is not the session that went silent).
  void CloseLostClient(uint32_t id, const route::Endpoint& addr, route::TimeNs now);
  uint64_t stale_lost_reports_ = 0;  // ClientLost about a session that has been replaced
  absl::Status RestartLinks(route::TimeNs now);
  absl::Status RestartSubscriptions(route::TimeNs now);
  void ApplyLogLevel();

  HbpAuthSettings AuthSettings() const;
  SubscriptionSettings SubsSettings() const;
  std::vector<LinkConfig> LinkConfigs() const;
  // The packet-plane listener of each configured peer (route::kNoListener: not served).
  void MapPeerListeners();

  HubConfig config_;
  std::string config_path_;
  std::vector<route::Endpoint> listeners_;  // the packet plane's
  std::vector<uint32_t> peer_listener_;     // by peer index
  ipc::PlaneInfo* plane_info_;
  bool restored_ = false;

  ShardLink link_;
  Supervisor supervisor_;
  size_t auth_id_ = 0, links_id_ = 0, subs_id_ = 0, snapshot_id_ = 0, status_id_ = 0,
         report_id_ = 0;
  std::unique_ptr<HbpAuth> auth_;
  std::unique_ptr<ObpLinks> links_;
  std::unique_ptr<Subscriptions> subs_;
  std::unique_ptr<ApiOptions> api_options_;  // the JSON API's stored options
  SubscriberLocations locations_;
  RouteSnapshots snapshots_;
  HeldReplies held_replies_;
  Drain drain_;
  ShardHealth health_;
  std::unique_ptr<CtlApi> ctl_;
  ShieldControl shield_;

  // Log lines about what clients send (their text, failed logins): budgets, so that no client
  // and no flood of spoofed packets can fill the log.
  LogBudget client_text_log_;
  LogBudget auth_log_;
  std::unique_ptr<Reporting> reporting_;
  const ipc::ShardStatsZone* shard_stats_ = nullptr;
  report::SystemdNotifier notifier_;
  route::TimeNs watchdog_every_ = 0;  // 0: no watchdog asked for
  route::TimeNs next_watchdog_ = 0;

  ShardLink::Inbox inbox_;
  // Keepalives and calls per client, for the dashboards' state (MakeHubState).
  ClientActivity activity_;
  Outbox outbox_;
  std::vector<AuthChange> changes_;
  // Clients whose restart record must be written again before the next publication.
  absl::flat_hash_set<uint32_t> restart_dirty_;
  // Clients a shard reported lost while auth was down (ClientLost): RestartAuth closes them.
  static constexpr size_t kMaxLostWhileAuthDown = 65536;
  absl::flat_hash_map<uint32_t, route::Endpoint> lost_while_auth_down_;  // ID -> its address
  route::TimeNs next_second_ = 0;
  // When this control plane was made: the login time its fixed clients show.
  route::TimeNs constructed_at_ = 0;
  route::TimeNs next_status_ = 0;
  uint64_t streams_started_ = 0;

  struct Pong {
    uint32_t shard;
    ipc::Ping ping;
    uint64_t received_ns;
  };
  std::vector<Pong> pongs_;  // Probe()
  std::function<nlohmann::json()> memory_status_;
};

}  // namespace dmrswitch::cp
