#include "ctrlplane/report_http.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <vector>

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

// A parsed `?limit=`: absent or 0 is the default, anything above kMaxLimit is kMaxLimit.
size_t LimitOf(std::optional<uint64_t> limit) {
  return limit && *limit > 0 ? std::min<uint64_t>(*limit, kMaxLimit) : kDefaultLimit;
}

void Json(httplib::Response& res, const nlohmann::json& body) {
  res.set_content(report::Dump(body) + "\n", "application/json");
}

void Error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  Json(res, {{"error", message}});
}

// An optional unsigned query parameter: false (and a 400 answer) when present but not a number.
bool UintParam(const httplib::Request& req, httplib::Response& res, const char* name,
               std::optional<uint64_t>* out) {
  if (!req.has_param(name)) return true;
  const std::string v = req.get_param_value(name);
  // Digits only (strtoull alone would take spaces, signs and "-1" as 2^64-1).
  const bool digits = !v.empty() && v.size() <= 20 &&
                      std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
  errno = 0;
  const unsigned long long n = digits ? std::strtoull(v.c_str(), nullptr, 10) : 0;
  if (!digits || errno == ERANGE) {
    Error(res, 400, absl::StrCat("query parameter ", name, " must be an unsigned integer"));
    return false;
  }
  *out = n;
  return true;
}

// `?limit=` and `?offset=` of a paged list.
bool PageParams(const httplib::Request& req, httplib::Response& res, size_t* offset,
                size_t* limit) {
  std::optional<uint64_t> o, l;
  if (!UintParam(req, res, "offset", &o) || !UintParam(req, res, "limit", &l)) return false;
  *offset = o.value_or(0);
  *limit = LimitOf(l);
  return true;
}

nlohmann::json LabelsJson(const report::CounterLabels& l) {
  nlohmann::json j = nlohmann::json::object();
  if (l.shard >= 0) j["shard"] = l.shard;
  if (!l.reason.empty()) j["reason"] = l.reason;
  if (!l.peer.empty()) j["peer"] = l.peer;
  return j;
}

const report::ClientView* FindClient(const ReportView& v, uint64_t id) {
  if (!v.state) return nullptr;
  for (const report::ClientView& c : v.state->clients) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

}  // namespace

// Every path the JSON API serves (GET), as docs/api.yaml names them.
const std::vector<std::string>& ReportHttp::ApiPaths() {
  static const std::vector<std::string> paths = {
      "/api/v1",
      "/api/v1/hub",
      "/api/v1/clients",
      "/api/v1/clients/{id}",
      "/api/v1/peers",
      "/api/v1/calls",
      "/api/v1/lastheard",
      "/api/v1/talkgroups",
      "/api/v1/talkgroups/{tg}",
      "/api/v1/counters",
  };
  return paths;
}

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
  s.Get("/api/v1", [self](const httplib::Request&, httplib::Response& res) {
    ++self->requests_;
    Json(res, {{"endpoints", ApiPaths()}});
  });
  s.Get("/api/v1/hub", [self](const httplib::Request&, httplib::Response& res) {
    ++self->requests_;
    const std::shared_ptr<const ReportView> v = self->view_.load();
    if (!v) return Error(res, 503, "starting");
    nlohmann::json by_type = nlohmann::json::object();
    for (int t = 0; t < report::kCallTypeCount; ++t) {
      by_type[std::string(report::CallTypeName(static_cast<report::CallType>(t)))] =
          v->calls_total[t];
    }
    const auto up = std::count_if(v->peers.begin(), v->peers.end(),
                                  [](const report::PeerView& p) { return p.up; });
    Json(res, {{"hub", report::ToJson(v->hub)},
               {"clients", v->clients},
               {"peers", {{"configured", v->peers.size()}, {"up", up}}},
               {"live_calls", v->live_calls},
               {"calls_total", std::move(by_type)}});
  });
  s.Get("/api/v1/clients", [self](const httplib::Request& req, httplib::Response& res) {
    ++self->requests_;
    size_t offset = 0, limit = 0;
    if (!PageParams(req, res, &offset, &limit)) return;
    const std::shared_ptr<const ReportView> v = self->view_.load();
    // By client ID, so that pages stay put while clients come and go around them.
    std::vector<const report::ClientView*> sorted;
    if (v && v->state) {
      sorted.reserve(v->state->clients.size());
      for (const report::ClientView& c : v->state->clients) sorted.push_back(&c);
    }
    std::sort(
        sorted.begin(), sorted.end(),
        [](const report::ClientView* a, const report::ClientView* b) { return a->id < b->id; });
    nlohmann::json page = nlohmann::json::array();
    for (size_t i = offset; i < sorted.size() && page.size() < limit; ++i) {
      page.push_back(report::ToJson(*sorted[i]));
    }
    Json(res, {{"total", sorted.size()}, {"offset", offset}, {"clients", std::move(page)}});
  });
  s.Get(R"(/api/v1/clients/(\d{1,10}))",
        [self](const httplib::Request& req, httplib::Response& res) {
          ++self->requests_;
          const uint64_t id = std::strtoull(req.matches[1].str().c_str(), nullptr, 10);
          const std::shared_ptr<const ReportView> v = self->view_.load();
          const report::ClientView* c = v ? FindClient(*v, id) : nullptr;
          if (c == nullptr)
            return Error(res, 404, absl::StrCat("client ", id, " is not logged in"));
          Json(res, {{"client", report::ToJson(*c)}});
        });
  s.Get("/api/v1/peers", [self](const httplib::Request&, httplib::Response& res) {
    ++self->requests_;
    const std::shared_ptr<const ReportView> v = self->view_.load();
    nlohmann::json peers = nlohmann::json::array();
    if (v) {
      for (const report::PeerView& p : v->peers) peers.push_back(report::ToJson(p));
    }
    Json(res, {{"peers", std::move(peers)}});
  });
  s.Get("/api/v1/calls", [self](const httplib::Request&, httplib::Response& res) {
    ++self->requests_;
    const std::shared_ptr<const ReportView> v = self->view_.load();
    nlohmann::json calls = nlohmann::json::array();
    if (v) {
      for (const report::CallRecord& c : v->live) calls.push_back(report::ToJson(c));
    }
    Json(res, {{"calls", std::move(calls)}});
  });
  s.Get("/api/v1/lastheard", [self](const httplib::Request& req, httplib::Response& res) {
    ++self->requests_;
    std::optional<uint64_t> tg, id, since, limit_param;
    if (!UintParam(req, res, "tg", &tg) || !UintParam(req, res, "id", &id) ||
        !UintParam(req, res, "since", &since) || !UintParam(req, res, "limit", &limit_param)) {
      return;
    }
    constexpr uint64_t kMaxSince = std::numeric_limits<int64_t>::max() / 1'000'000'000;
    const int64_t since_ns =
        static_cast<int64_t>(std::min(since.value_or(0), kMaxSince)) * 1'000'000'000;
    const std::shared_ptr<const ReportView> v = self->view_.load();
    const size_t limit = LimitOf(limit_param);
    nlohmann::json calls = nlohmann::json::array();
    nlohmann::json tgs = nlohmann::json::array();
    uint64_t live = 0;
    if (v) {
      live = v->live_calls;
      for (const report::CallRecord& c : v->lastheard) {
        if (calls.size() == limit) break;
        if (tg && (c.dst != *tg || (c.type != report::CallType::kGroupVoice &&
                                    c.type != report::CallType::kGroupData))) {
          continue;
        }
        if (id && c.rf_src != *id &&
            !(c.source.kind == report::CallSource::Kind::kClient && c.source.client_id == *id)) {
          continue;
        }
        if (since && c.start_unix_ns < since_ns) continue;
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
    std::optional<uint64_t> limit_param;
    if (!UintParam(req, res, "limit", &limit_param)) return;
    const std::shared_ptr<const ReportView> v = self->view_.load();
    const size_t limit = LimitOf(limit_param);
    nlohmann::json tgs = nlohmann::json::array();
    if (v) {
      for (const TalkgroupActivity& t : v->talkgroups) {
        if (tgs.size() == limit) break;
        tgs.push_back(Reporting::ToJson(t));
      }
    }
    Json(res, {{"talkgroups", std::move(tgs)}});
  });
  s.Get(R"(/api/v1/talkgroups/(\d{1,10}))", [self](const httplib::Request& req,
                                                   httplib::Response& res) {
    ++self->requests_;
    const uint64_t tg = std::strtoull(req.matches[1].str().c_str(), nullptr, 10);
    const std::shared_ptr<const ReportView> v = self->view_.load();
    nlohmann::json activity;  // null: no call on it in the table
    nlohmann::json members = nlohmann::json::array();
    if (v) {
      for (const TalkgroupActivity& t : v->talkgroups) {
        if (t.tg == tg) activity = Reporting::ToJson(t);
      }
      if (v->state) {
        for (const report::ClientView& c : v->state->clients) {
          for (const report::TalkgroupSubscription& sub : c.talkgroups) {
            if (sub.tg != tg) continue;
            members.push_back({{"client_id", c.id},
                               {"callsign", c.callsign},
                               {"slot", static_cast<int>(sub.slot)},
                               {"dynamic", sub.dynamic}});
          }
        }
      }
    }
    Json(res, {{"tg", tg}, {"activity", std::move(activity)}, {"members", std::move(members)}});
  });
  s.Get("/api/v1/counters", [self](const httplib::Request&, httplib::Response& res) {
    ++self->requests_;
    report::MetricsSnapshot m = self->Snapshot();
    nlohmann::json counters = nlohmann::json::array();
    for (const report::NamedCounter& c : m.counters) {
      counters.push_back({{"name", c.name}, {"labels", LabelsJson(c.labels)}, {"value", c.value}});
    }
    nlohmann::json gauges = nlohmann::json::array();
    for (const report::NamedGauge& g : m.gauges) {
      gauges.push_back({{"name", g.name}, {"labels", LabelsJson(g.labels)}, {"value", g.value}});
    }
    Json(res, {{"counters", std::move(counters)}, {"gauges", std::move(gauges)}});
  });
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status != 404 || !res.body.empty()) return;
    if (req.path.rfind("/api/", 0) == 0) {
      Json(res,
           {{"error", absl::StrCat("no such endpoint: ", req.path, " (GET /api/v1 lists them)")}});
    } else {
      res.set_content("not found: /metrics, /api/v1 (the JSON API)\n", "text/plain");
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

std::string ReportHttp::Metrics() const { return report::RenderMetrics(Snapshot()); }

report::MetricsSnapshot ReportHttp::Snapshot() const {
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
  return m;
}

}  // namespace dmrswitch::cp
