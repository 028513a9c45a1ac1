#include "ctrlplane/report_http.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "ctrlplane/report/json_model.h"
#include "ctrlplane/report/prometheus.h"
#include "ctrlplane/reporting.h"
#include "ctrlplane/shard_metrics.h"
#include "dataplane/io/clock.h"
#include "httplib.h"

namespace dmrswitch::cp {
namespace {

constexpr size_t kDefaultLimit = 100;
constexpr size_t kMaxLimit = 100000;

size_t LimitOf(const httplib::Request& req) {
  if (!req.has_param("limit")) return kDefaultLimit;
  const std::string v = req.get_param_value("limit");
  char* end = nullptr;
  const unsigned long n = std::strtoul(v.c_str(), &end, 10);
  if (end == v.c_str() || *end != '\0' || n == 0) return kDefaultLimit;
  return std::min<size_t>(n, kMaxLimit);
}

void Json(httplib::Response& res, const nlohmann::json& body) {
  res.set_content(report::Dump(body) + "\n", "application/json");
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReportHttp>> ReportHttp::Start(const std::string& host,
                                                              uint16_t port,
                                                              const ipc::ShardStatsZone* stats) {
  std::unique_ptr<ReportHttp> h(new ReportHttp());
  h->stats_ = stats;
  h->server_ = std::make_unique<httplib::Server>();
  httplib::Server& s = *h->server_;
  // Two workers are plenty for Prometheus and a dashboard; slow clients time out.
  s.new_task_queue = [] { return new httplib::ThreadPool(2); };
  s.set_read_timeout(5, 0);
  s.set_write_timeout(5, 0);
  s.set_idle_interval(0, 100000);
  s.set_keep_alive_max_count(100);
  s.set_keep_alive_timeout(10);
  s.set_payload_max_length(1024);
  // SO_REUSEADDR only: cpp-httplib would also set SO_REUSEPORT, which lets a second hub take the
  // same port silently.
  s.set_socket_options([](int fd) {
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  ReportHttp* self = h.get();
  s.Get("/metrics", [self](const httplib::Request&, httplib::Response& res) {
    ++self->requests_;
    res.set_content(self->Metrics(), std::string(report::kExpositionContentType));
  });
  s.Get("/api/v1/lastheard", [self](const httplib::Request& req, httplib::Response& res) {
    ++self->requests_;
    const std::shared_ptr<const ReportView> v = self->view_.load();
    const size_t limit = LimitOf(req);
    nlohmann::json calls = nlohmann::json::array();
    nlohmann::json tgs = nlohmann::json::array();
    uint64_t live = 0;
    if (v) {
      live = v->live_calls;
      for (const report::CallRecord& c : v->lastheard) {
        if (calls.size() == limit) break;
        calls.push_back(report::ToJson(c));
      }
      for (const TalkgroupActivity& t : v->talkgroups) {
        if (tgs.size() == limit) break;
        tgs.push_back(Reporting::ToJson(t));
      }
    }
    Json(res,
         {{"live_calls", live}, {"lastheard", std::move(calls)}, {"talkgroups", std::move(tgs)}});
  });
  s.Get("/api/v1/talkgroups", [self](const httplib::Request& req, httplib::Response& res) {
    ++self->requests_;
    const std::shared_ptr<const ReportView> v = self->view_.load();
    const size_t limit = LimitOf(req);
    nlohmann::json tgs = nlohmann::json::array();
    if (v) {
      for (const TalkgroupActivity& t : v->talkgroups) {
        if (tgs.size() == limit) break;
        tgs.push_back(Reporting::ToJson(t));
      }
    }
    Json(res, {{"talkgroups", std::move(tgs)}});
  });
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.status == 404) {
      res.set_content("not found: /metrics, /api/v1/lastheard, /api/v1/talkgroups\n", "text/plain");
    }
  });
  if (port == 0) {
    const int bound = s.bind_to_any_port(host);
    if (bound <= 0) {
      return absl::UnavailableError(absl::StrCat("report.http: cannot bind ", host, ":0"));
    }
    h->port_ = static_cast<uint16_t>(bound);
  } else {
    if (!s.bind_to_port(host, port)) {
      return absl::UnavailableError(
          absl::StrCat("report.http = \"", host, ":", port,
                       "\": cannot bind (address in use, or not an address of this host)"));
    }
    h->port_ = port;
  }
  h->thread_ = std::thread([self] { self->server_->listen_after_bind(); });
  return h;
}

ReportHttp::~ReportHttp() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

void ReportHttp::SetView(std::shared_ptr<const ReportView> view) { view_.store(std::move(view)); }

std::string ReportHttp::Metrics() const {
  report::MetricsSnapshot m;
  if (const std::shared_ptr<const ReportView> v = view_.load(); v) {
    m.hub = v->hub;
    m.clients = v->clients;
    m.live_calls = v->live_calls;
    std::copy(std::begin(v->calls_total), std::end(v->calls_total), std::begin(m.calls_total));
    m.peers = v->peers;
    m.counters = v->counters;
    m.gauges = v->gauges;
  }
  if (stats_ != nullptr) AppendShardMetrics(ReadAllShardStats(*stats_), &m);
  return report::RenderMetrics(m);
}

}  // namespace dmrswitch::cp
