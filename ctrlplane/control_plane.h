// The control plane's main loop (DESIGN.md §2, §6): the components that own logins, OpenBridge
// links and subscriptions, the snapshot builder and publisher, and the status line — all talking
// to the shards only through the ipc rings. The same class runs hosted (a thread of
// dmrswitch-dp, `control_plane = "hosted"`) and, later, in dmrswitch-cp.
//
// Each component runs under the Supervisor: a component that throws is rebuilt after a backoff
// from the last published state, while the others and the shards carry on.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "ctrlplane/config/config.h"
#include "ctrlplane/ctl_server.h"
#include "ctrlplane/datagram.h"
#include "ctrlplane/login/hbp_auth.h"
#include "ctrlplane/login/obp_links.h"
#include "ctrlplane/snapshot_publisher.h"
#include "ctrlplane/subscriptions/subscriptions.h"
#include "ctrlplane/supervisor.h"
#include "dataplane/ipc/channel.h"

namespace dmrswitch::cp {

// Sums of the shards' last WorkerHealth, for the status line and tests.
struct PlaneTotals {
  uint64_t packets_in = 0;
  uint64_t packets_out = 0;
  uint64_t dropped = 0;
  uint64_t events_dropped = 0;
  uint32_t live_streams = 0;
};

class ControlPlane {
 public:
  // `shard_wake_fds[i]` is poked after handing shard i datagrams to send (-1: none). `cp_cmd`
  // carries commands for the control plane itself (Reload).
  // `plane_info` (separate mode; null when hosted) records the published generations so that a
  // restarted control plane continues from the current one.
  ControlPlane(HubConfig config, std::string config_path, std::vector<ipc::ShardChannel> channels,
               rte_ring* cp_cmd, rte_mempool* pool, std::vector<int> shard_wake_fds,
               ipc::PlaneInfo* plane_info = nullptr);

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
  // Re-reads the configuration file and applies what can change without a restart as a new
  // snapshot; live streams are not touched. On error the running configuration stays.
  absl::Status Reload(route::TimeNs now);
  // MSTCL to every client (hub stopping).
  void Shutdown();

  uint64_t generation() const { return publisher_.generation(); }
  const SnapshotPublisher& publisher() const { return publisher_; }
  const Supervisor& supervisor() const { return supervisor_; }
  // Operations and tests: the named component ("auth", "obp-links", "subscriptions",
  // "snapshot", "status") fails at its next step, as if it had thrown.
  bool InjectFault(std::string_view component);
  PlaneTotals totals() const;

  // Drain (DESIGN.md §7): no shard admits a new stream from now on; live streams get up to
  // `timeout` to end. The outcome is logged and answered to dmrswitch-ctl. Resume ends it.
  void BeginDrain(route::TimeNs now, route::TimeNs timeout);
  void Resume();
  bool draining() const { return drain_.active; }
  // Measures the control channel (dmrswitch-ctl probe): `pings` ring round trips cp → shard →
  // cp (one outstanding per shard) and `publishes` snapshot publications until every shard
  // acked. Busy-waits: a diagnostic that holds the control plane for its duration (bounded).
  nlohmann::json Probe(uint32_t pings, uint32_t publishes);
  // Shards whose heartbeat is overdue (reported once per silence, in the log and `status`).
  std::vector<uint32_t> SilentShards(route::TimeNs now) const;

 private:
  void DrainShard(uint32_t shard, route::TimeNs now);
  void OnMessage(uint32_t shard, const ipc::Message& m, route::TimeNs now);
  void OnEvent(const route::Event& e, route::TimeNs now);
  void OnPacket(rte_mbuf* m, route::TimeNs now);
  void ApplyAuthChanges(route::TimeNs now);
  void Flush();
  absl::Status Rebuild(route::TimeNs now);
  absl::Status RestoreFromPlane(route::TimeNs now);
  void RestoreLinksFrom(const route::RouteSnapshot& snap, route::TimeNs now);
  void StatusLine(route::TimeNs now);
  void OnCtl(const CtlRequest& r, route::TimeNs now);
  void CheckDrain(route::TimeNs now);
  void CheckHeartbeats(route::TimeNs now);
  nlohmann::json StatusJson(route::TimeNs now) const;
  void RestartAuth(route::TimeNs now);
  void RestartLinks(route::TimeNs now);
  void RestartSubscriptions(route::TimeNs now);
  HbpAuthSettings AuthSettings() const;
  SubscriptionSettings SubsSettings() const;

  HubConfig config_;
  std::string config_path_;
  std::vector<ipc::ShardChannel> channels_;
  rte_ring* cp_cmd_;
  rte_mempool* pool_;
  std::vector<int> shard_wake_fds_;
  ipc::PlaneInfo* plane_info_;
  bool restored_ = false;
  bool publish_refused_logged_ = false;

  Supervisor supervisor_;
  size_t auth_id_ = 0, links_id_ = 0, subs_id_ = 0, snapshot_id_ = 0, status_id_ = 0;
  std::unique_ptr<HbpAuth> auth_;
  std::unique_ptr<ObpLinks> links_;
  std::unique_ptr<Subscriptions> subs_;
  SnapshotPublisher publisher_;

  Outbox outbox_;
  std::vector<route::Event> events_;  // drained from every shard, applied in time order
  std::vector<AuthChange> changes_;
  bool dirty_ = false;
  uint64_t next_generation_ = 1;
  route::TimeNs next_rebuild_ = 0;
  route::TimeNs next_second_ = 0;
  route::TimeNs next_status_ = 0;

  // Where subscribers were last heard (unit data routing, PROTOCOL.md §3.8): rf_src → slot, ts.
  struct Heard {
    uint32_t slot;
    uint8_t ts;
    route::TimeNs at;
  };
  absl::flat_hash_map<uint32_t, Heard> heard_;
  // Clients as last published, to rebuild a restarted auth component from.
  std::vector<ClientRecord> published_clients_;
  // Subscriptions as last published, to rebuild a restarted subscriptions component from.
  std::vector<RestoredClient> published_subs_;

  std::vector<ipc::WorkerHealth> health_;
  std::vector<route::TimeNs> health_seen_at_;  // control plane's clock at the last heartbeat
  std::vector<bool> silent_reported_;
  route::TimeNs started_at_ = 0;

  std::unique_ptr<CtlServer> ctl_;
  struct Pong {
    uint32_t shard;
    ipc::Ping ping;
    uint64_t received_ns;
  };
  std::vector<Pong> pongs_;  // Probe()
  struct Drain {
    bool active = false;
    bool done = false;
    route::TimeNs started = 0;
    route::TimeNs deadline = 0;
    uint32_t live_at_start = 0;
    std::vector<uint64_t> waiters;  // dmrswitch-ctl connections waiting for the outcome
  };
  Drain drain_;
  PlaneTotals last_status_totals_;
  route::TimeNs last_status_at_ = 0;
  uint64_t streams_started_ = 0;
  uint64_t packets_to_shards_dropped_ = 0;
};

}  // namespace dmrswitch::cp
