// ReportHttp: `[report] http` (docs/reporting.md): the Prometheus page and the JSON API, served by
// cpp-httplib on threads of its own.
//
//   GET /metrics      text exposition format 0.0.4 (report::RenderMetrics)
//   GET /api/v1/...   the JSON API: the hub, clients (paged), peers, live calls, lastheard
//                     (filters), talkgroups and their members, counters; docs/api.yaml is its
//                     OpenAPI description and ApiPaths() its list of paths
//
// It never talks to the control plane's loop: the loop publishes an immutable ReportView (an
// atomic pointer swap, at most every 100 ms when something changed), and the handlers read the
// newest one together with the shards' counter blocks, which they read themselves. A scrape
// therefore costs the loop nothing, and shows the shards' counters as of their last copy even
// while the loop is busy. Requests are bounded: GET only, small headers and bodies, read and
// write timeouts, two worker threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "ctrlplane/report/model.h"
#include "dataplane/ipc/shard_stats.h"

namespace httplib {
class Server;
}

namespace dmrswitch::cp {

struct ReportView;

class ReportHttp {
 public:
  // Binds `host:port` (port 0: any free port, see port()) and starts serving.
  static absl::StatusOr<std::unique_ptr<ReportHttp>> Start(const std::string& host, uint16_t port,
                                                           const ipc::ShardStatsZone* stats);
  ~ReportHttp();  // stops and joins
  ReportHttp(const ReportHttp&) = delete;
  ReportHttp& operator=(const ReportHttp&) = delete;

  // Any thread; never blocks.
  void SetView(std::shared_ptr<const ReportView> view);
  uint16_t port() const { return port_; }
  // The JSON API's paths (GET), in docs/api.yaml's spelling ("/api/v1/clients/{id}").
  static const std::vector<std::string>& ApiPaths();
  uint64_t requests() const { return requests_.load(); }

 private:
  ReportHttp() = default;
  std::string Metrics() const;
  report::MetricsSnapshot Snapshot() const;  // the view's figures and the shards' counters

  std::unique_ptr<httplib::Server> server_;
  const ipc::ShardStatsZone* stats_ = nullptr;
  std::atomic<std::shared_ptr<const ReportView>> view_;
  std::atomic<uint64_t> requests_{0};
  uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace dmrswitch::cp
