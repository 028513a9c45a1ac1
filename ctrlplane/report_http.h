// ReportHttp: `[report] http` (docs/reporting.md, docs/api.yaml, docs/dashboard.md): the
// Prometheus page, the JSON API, its live events and the dashboard, served by HttpServer
// (ctrlplane/http_server.h) on threads of its own.
//
//   GET /metrics            text exposition format 0.0.4 (report::RenderMetrics)
//   GET /api/v1/...         the JSON API's reads: hub, clients (paged), peers, live calls,
//                           lastheard (filters), talkgroups and their members, counters
//   GET /api/v1/events      Server-Sent Events from report::EventStream, resumable by
//                           Last-Event-ID
//   PUT/POST/DELETE ...     the JSON API's writes (static TGs and options, dynamic TGs, kick,
//                           drain/resume/reload, blocks) and BrandMeister's /v2/device subset
//   GET /dashboard/         the dashboard (static files built into the binary)
//
// It never touches the control plane's components. Reads come from an immutable ReportView the
// loop publishes (an atomic pointer swap) and from the shards' counter blocks. A write is checked
// here (its form, the API token) and handed to the loop as an ApiWrite in a bounded queue; the
// loop checks a hotspot's key, applies it and sets the answer, which the HTTP thread waits for
// (a few seconds at most: then 503). So a slow, broken or hostile HTTP client costs the loop
// nothing. Bounds: small request bodies and headers, read/write timeouts, per-address request
// rates (writes and failed authentications tighter), a cap on event streams, each of which ends
// after some minutes (EventSource reconnects and resumes).
#pragma once

#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "ctrlplane/ctl_api.h"
#include "ctrlplane/http_server.h"
#include "ctrlplane/report/event_stream.h"
#include "ctrlplane/report/model.h"
#include "dataplane/ipc/shard_stats.h"
#include "nlohmann/json.hpp"

namespace dmrswitch::cp {

struct ReportView;

// The control plane's answer to an ApiWrite: an HTTP status and a JSON body.
struct ApiAnswer {
  int status = 200;
  nlohmann::json body;
};

// A write request of the JSON API, for the control plane's thread.
struct ApiWrite {
  enum Kind : uint8_t {
    kSetOptions,    // client_id, options
    kClearOptions,  // client_id
    kAddStatic,     // client_id, slot (1, 2), tg
    kRemoveStatic,  // client_id, slot, tg
    kDropDynamic,   // client_id, slot (0 = both)
    kKick,          // client_id; admin only from here on
    kDrain,         // timeout_s
    kResume,
    kReload,
    kBlock,  // ip, block_s (0 = until unblocked)
    kUnblock,
  };
  Kind kind = kSetOptions;
  uint32_t client_id = 0;
  uint8_t slot = 0;
  uint32_t tg = 0;
  std::string options;
  double timeout_s = 60;
  BlockAddress block;  // kBlock, kUnblock
  double block_s = 0;
  // Who asks: the API token (admin), else a bearer that may be the options KEY of the client it
  // names, which only the control plane can check.
  bool admin = false;
  std::string key;
  // Set once, by the control plane's thread.
  std::shared_ptr<std::promise<ApiAnswer>> answer;

  bool AdminOnly() const { return kind >= kKick; }
  std::string_view name() const;  // "set_options", "kick", ... (for the log)
};

struct ReportHttpOptions {
  std::string host;
  uint16_t port = 0;  // 0: any free port (see ReportHttp::port())
  const ipc::ShardStatsZone* stats = nullptr;
  std::shared_ptr<report::EventStream> events;  // null: no /api/v1/events
  std::string api_token;                        // "": every write is refused (403)
  // Bounds, as documented in docs/api.yaml; tests lower them.
  double requests_per_s = 20;         // per client address, burst 2x
  bool limit_loopback_reads = false;  // reads from 127/8 and ::1 are not limited (tests: true)
  double writes_per_s = 2;            // writes and failed authentications, per address, burst 5x
  int event_streams = 16;             // open event streams, all addresses
  int event_streams_per_address = 4;
  int event_stream_s = 300;     // an event stream ends after this long (the client reconnects)
  int write_timeout_ms = 5000;  // a write the control plane has not answered by then: 503
  // The sockets' bounds: head/body sizes, request/idle/send timeouts, connection caps.
  HttpServerOptions server;
};

class ReportHttp {
 public:
  // Binds `host:port` and starts serving.
  static absl::StatusOr<std::unique_ptr<ReportHttp>> Start(ReportHttpOptions options);
  ~ReportHttp();  // stops and joins; waiting writes are answered 503
  ReportHttp(const ReportHttp&) = delete;
  ReportHttp& operator=(const ReportHttp&) = delete;

  // Any thread; never blocks.
  void SetView(std::shared_ptr<const ReportView> view);
  // The writes that arrived (control plane's thread): answer each through its promise.
  std::vector<ApiWrite> TakeWrites();
  uint16_t port() const { return port_; }
  // The JSON API's paths, in docs/api.yaml's spelling ("/api/v1/clients/{id}"), with the
  // methods served on each.
  struct PathMethods {
    std::string path;
    std::vector<std::string> methods;
  };
  static const std::vector<PathMethods>& ApiPaths();
  uint64_t requests() const { return requests_.load(); }

  static constexpr size_t kMaxQueuedWrites = 64;

 private:
  ReportHttp() = default;
  std::string Metrics() const;
  report::MetricsSnapshot Snapshot() const;  // the view's figures and the shards' counters
  void Routes();
  // Queues `w` for the loop and waits for its answer (503 when the loop does not answer).
  ApiAnswer Submit(ApiWrite w);

  ReportHttpOptions options_;
  std::unique_ptr<HttpServer> server_;
  std::atomic<std::shared_ptr<const ReportView>> view_;
  std::atomic<uint64_t> requests_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<int> streams_{0};
  std::mutex writes_mu_;
  std::vector<ApiWrite> writes_;  // guarded by writes_mu_
  struct Limiter;
  std::unique_ptr<Limiter> limiter_;
  uint16_t port_ = 0;
};

}  // namespace dmrswitch::cp
