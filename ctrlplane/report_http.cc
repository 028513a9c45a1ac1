#include "ctrlplane/report_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "ctrlplane/dashboard_files.h"
#include "ctrlplane/report/json_model.h"
#include "ctrlplane/report/prometheus.h"
#include "ctrlplane/reporting.h"
#include "ctrlplane/shard_metrics.h"
#include "dataplane/io/clock.h"
#include "dataplane/proto/crypto.h"
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

// A JSON object body, or false (and a 400 answer).
bool JsonBody(const httplib::Request& req, httplib::Response& res, nlohmann::json* out) {
  *out = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (!out->is_object()) {
    Error(res, 400, "the body must be a JSON object");
    return false;
  }
  return true;
}

// An unsigned integer member of a JSON body within [lo, hi], or false (and a 400 answer).
bool UintMember(const nlohmann::json& body, httplib::Response& res, const char* name, uint64_t lo,
                uint64_t hi, uint64_t* out) {
  if (!body.contains(name) || !body[name].is_number_unsigned() || body[name].get<uint64_t>() < lo ||
      body[name].get<uint64_t>() > hi) {
    Error(res, 400, absl::StrCat("\"", name, "\" must be an integer ", lo, "..", hi));
    return false;
  }
  *out = body[name].get<uint64_t>();
  return true;
}

uint32_t IdOf(const httplib::Request& req, size_t group) {
  return static_cast<uint32_t>(std::strtoull(req.matches[group].str().c_str(), nullptr, 10));
}

// The client ID of the path (its first group, up to 10 digits), or false (and a 404 answer) when
// it is beyond what an ID can be: never truncated into another client's ID.
bool ClientIdOf(const httplib::Request& req, httplib::Response& res, uint32_t* id) {
  const uint64_t v = std::strtoull(req.matches[1].str().c_str(), nullptr, 10);
  if (v > std::numeric_limits<uint32_t>::max()) {
    Error(res, 404, absl::StrCat("client ", v, " cannot exist: IDs are 32-bit"));
    return false;
  }
  *id = static_cast<uint32_t>(v);
  return true;
}

// The bearer of `Authorization: Bearer <token>`; false (and a 401 answer) when there is none.
bool Bearer(const httplib::Request& req, httplib::Response& res, std::string* token) {
  static constexpr std::string_view kScheme = "Bearer ";
  const std::string h = req.get_header_value("Authorization");
  if (h.size() <= kScheme.size() || h.size() > kScheme.size() + 256 ||
      h.compare(0, kScheme.size(), kScheme) != 0) {
    res.set_header("WWW-Authenticate", "Bearer");
    Error(res, 401,
          "writes need \"Authorization: Bearer <token>\": the API token, or a hotspot's options "
          "KEY for that hotspot");
    return false;
  }
  *token = h.substr(kScheme.size());
  return true;
}

void SseEvent(std::string* out, const std::string& id, const std::string& data) {
  absl::StrAppend(out, "id: ", id, "\ndata: ", data, "\n\n");
}

bool IsLoopback(const std::string& address) {
  return address.rfind("127.", 0) == 0 || address == "::1" || address.rfind("::ffff:127.", 0) == 0;
}

// The address a request's limits are charged to: its peer's, or behind a reverse proxy on this
// machine (a loopback peer that sends X-Forwarded-For) the client address the proxy appended
// last. Only loopback peers are believed: anyone else could name any address.
std::string ClientAddress(const httplib::Request& req) {
  if (!IsLoopback(req.remote_addr) || !req.has_header("X-Forwarded-For")) return req.remote_addr;
  std::string v = req.get_header_value("X-Forwarded-For");
  if (const size_t comma = v.rfind(','); comma != std::string::npos) v = v.substr(comma + 1);
  v = std::string(absl::StripAsciiWhitespace(v));
  const bool plausible =
      !v.empty() && v.size() <= 45 && std::all_of(v.begin(), v.end(), [](char c) {
        return std::isxdigit(static_cast<unsigned char>(c)) || c == '.' || c == ':';
      });
  return plausible ? v : std::string("proxied");
}

int64_t SteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// Per client address: token buckets for requests and for writes (failed authentications are
// writes), and the event streams it holds open. Bounded: when the table is full, addresses whose
// buckets are full and that hold no stream are forgotten; if none is, new addresses share one
// entry (they are limited together).
struct ReportHttp::Limiter {
  static constexpr size_t kMaxAddresses = 4096;
  struct Bucket {
    double requests = 0;
    double writes = 0;
    int64_t at_ns = 0;
    int streams = 0;
  };
  std::mutex mu;
  absl::flat_hash_map<std::string, Bucket> by_address;  // guarded by mu

  Bucket& Find(const std::string& address, const ReportHttpOptions& o, int64_t now) {
    auto it = by_address.find(address);
    if (it == by_address.end()) {
      if (by_address.size() >= kMaxAddresses) {
        absl::erase_if(by_address, [&](const auto& e) {
          const Bucket& b = e.second;
          const double dt = static_cast<double>(now - b.at_ns) / 1e9;
          return b.streams == 0 && b.requests + dt * o.requests_per_s >= 2 * o.requests_per_s &&
                 b.writes + dt * o.writes_per_s >= 5 * o.writes_per_s;
        });
      }
      const std::string& key = by_address.size() >= kMaxAddresses ? std::string("*") : address;
      it = by_address.try_emplace(key, Bucket{2 * o.requests_per_s, 5 * o.writes_per_s, now, 0})
               .first;
    }
    Bucket& b = it->second;
    const double dt = static_cast<double>(now - b.at_ns) / 1e9;
    b.requests = std::min(2 * o.requests_per_s, b.requests + dt * o.requests_per_s);
    b.writes = std::min(5 * o.writes_per_s, b.writes + dt * o.writes_per_s);
    b.at_ns = now;
    return b;
  }
  // Takes a request (and a write) from the address's buckets: false when it has none left.
  bool Take(const std::string& address, bool write, const ReportHttpOptions& o) {
    std::lock_guard<std::mutex> lock(mu);
    Bucket& b = Find(address, o, SteadyNs());
    if (b.requests < 1 || (write && b.writes < 1)) return false;
    b.requests -= 1;
    if (write) b.writes -= 1;
    return true;
  }
  // A failed authentication costs a write more (so guessing tokens is slow).
  void ChargeFailure(const std::string& address, const ReportHttpOptions& o) {
    std::lock_guard<std::mutex> lock(mu);
    Bucket& b = Find(address, o, SteadyNs());
    b.writes = std::max(-5 * o.writes_per_s, b.writes - 1);
  }
  bool OpenStream(const std::string& address, const ReportHttpOptions& o) {
    std::lock_guard<std::mutex> lock(mu);
    Bucket& b = Find(address, o, SteadyNs());
    if (b.streams >= o.event_streams_per_address) return false;
    ++b.streams;
    return true;
  }
  void CloseStream(const std::string& address) {
    std::lock_guard<std::mutex> lock(mu);
    for (const std::string& key : {address, std::string("*")}) {
      if (auto it = by_address.find(key); it != by_address.end() && it->second.streams > 0) {
        --it->second.streams;
        return;
      }
    }
  }
};

// Every path the JSON API serves, as docs/api.yaml names them, with its methods.
const std::vector<ReportHttp::PathMethods>& ReportHttp::ApiPaths() {
  static const std::vector<PathMethods> paths = {
      {"/api/v1", {"get"}},
      {"/api/v1/hub", {"get"}},
      {"/api/v1/clients", {"get"}},
      {"/api/v1/clients/{id}", {"get"}},
      {"/api/v1/clients/{id}/options", {"put", "delete"}},
      {"/api/v1/clients/{id}/talkgroups", {"post"}},
      {"/api/v1/clients/{id}/talkgroups/{slot}/{tg}", {"delete"}},
      {"/api/v1/clients/{id}/drop_dynamic/{slot}", {"post"}},
      {"/api/v1/clients/{id}/kick", {"post"}},
      {"/api/v1/peers", {"get"}},
      {"/api/v1/calls", {"get"}},
      {"/api/v1/lastheard", {"get"}},
      {"/api/v1/talkgroups", {"get"}},
      {"/api/v1/talkgroups/{tg}", {"get"}},
      {"/api/v1/counters", {"get"}},
      {"/api/v1/events", {"get"}},
      {"/api/v1/drain", {"post"}},
      {"/api/v1/resume", {"post"}},
      {"/api/v1/reload", {"post"}},
      {"/api/v1/blocks", {"post"}},
      {"/api/v1/blocks/{address}", {"delete"}},
      {"/v2/device/{id}/profile", {"get"}},
      {"/v2/device/{id}/talkgroup", {"post"}},
      {"/v2/device/{id}/talkgroup/{slot}/{tg}", {"delete"}},
      {"/v2/device/{id}/action/dropDynamicGroups/{slot}", {"post"}},
  };
  return paths;
}

absl::StatusOr<std::unique_ptr<ReportHttp>> ReportHttp::Start(ReportHttpOptions options) {
  std::unique_ptr<ReportHttp> h(new ReportHttp());
  h->options_ = std::move(options);
  h->limiter_ = std::make_unique<Limiter>();
  if (h->options_.limit_loopback_reads) h->options_.server.limit_loopback_connections = true;
  h->server_ = std::make_unique<HttpServer>(h->options_.server);
  h->Routes();
  const std::string& host = h->options_.host;
  absl::StatusOr<uint16_t> bound = h->server_->Listen(host, h->options_.port);
  if (!bound.ok()) {
    return absl::UnavailableError(absl::StrCat("report.http = \"", host, ":", h->options_.port,
                                               "\": cannot listen: ", bound.status().message()));
  }
  h->port_ = *bound;
  return h;
}

void ReportHttp::Routes() {
  HttpServer& s = *server_;
  ReportHttp* self = this;
  // Rates first: a request over its address's budget is answered 429 before anything else.
  s.SetPreRouting([self](const httplib::Request& req, httplib::Response& res) {
    ++self->requests_;
    const bool write = req.method != "GET" && req.method != "HEAD";
    const std::string address = ClientAddress(req);
    // Reads from this machine are not limited: the dashboard and scripts of an operator on the
    // hub's own box. Through a reverse proxy here they are charged to the proxied client.
    if (!write && !self->options_.limit_loopback_reads && IsLoopback(address)) {
      return false;
    }
    if (self->limiter_->Take(address, write, self->options_)) {
      return false;
    }
    res.set_header("Retry-After", "1");
    Error(res, 429, write ? "too many writes from this address" : "too many requests");
    return true;
  });
  s.SetPostRouting([self](const httplib::Request& req, httplib::Response& res) {
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    if (req.path.rfind("/dashboard/", 0) == 0) {
      res.set_header("Content-Security-Policy",
                     "default-src 'self'; style-src 'self'; script-src 'self'; "
                     "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
      res.set_header("X-Frame-Options", "DENY");
    } else {
      res.set_header("Cache-Control", "no-store");
    }
    if (res.status == 401 || res.status == 403) {
      self->limiter_->ChargeFailure(ClientAddress(req), self->options_);
    }
  });
  s.Get("/metrics", [self](const httplib::Request&, httplib::Response& res) {
    res.set_content(self->Metrics(), std::string(report::kExpositionContentType));
  });
  s.Get("/api/v1", [self](const httplib::Request&, httplib::Response& res) {
    nlohmann::json endpoints = nlohmann::json::array();
    for (const PathMethods& p : ApiPaths()) {
      endpoints.push_back({{"path", p.path}, {"methods", p.methods}});
    }
    Json(res, {{"endpoints", std::move(endpoints)}});
  });
  s.Get("/api/v1/hub", [self](const httplib::Request&, httplib::Response& res) {
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
          const uint64_t id = std::strtoull(req.matches[1].str().c_str(), nullptr, 10);
          const std::shared_ptr<const ReportView> v = self->view_.load();
          const report::ClientView* c = v ? FindClient(*v, id) : nullptr;
          if (c == nullptr)
            return Error(res, 404, absl::StrCat("client ", id, " is not logged in"));
          Json(res, {{"client", report::ToJson(*c)}});
        });
  s.Get("/api/v1/peers", [self](const httplib::Request&, httplib::Response& res) {
    const std::shared_ptr<const ReportView> v = self->view_.load();
    nlohmann::json peers = nlohmann::json::array();
    if (v) {
      for (const report::PeerView& p : v->peers) peers.push_back(report::ToJson(p));
    }
    Json(res, {{"peers", std::move(peers)}});
  });
  s.Get("/api/v1/calls", [self](const httplib::Request&, httplib::Response& res) {
    const std::shared_ptr<const ReportView> v = self->view_.load();
    nlohmann::json calls = nlohmann::json::array();
    if (v) {
      for (const report::CallRecord& c : v->live) calls.push_back(report::ToJson(c));
    }
    Json(res, {{"calls", std::move(calls)}});
  });
  s.Get("/api/v1/lastheard", [self](const httplib::Request& req, httplib::Response& res) {
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
                               {"dynamic", sub.dynamic},
                               {"suspended", sub.suspended}});
          }
        }
      }
    }
    Json(res, {{"tg", tg}, {"activity", std::move(activity)}, {"members", std::move(members)}});
  });
  s.Get("/api/v1/counters", [self](const httplib::Request&, httplib::Response& res) {
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

  // --- Live events (Server-Sent Events) ----------------------------------------------------
  s.Get("/api/v1/events", [self](const httplib::Request& req, httplib::Response& res) {
    const std::shared_ptr<report::EventStream> events = self->options_.events;
    if (!events) return Error(res, 404, "no event stream");
    if (self->streams_.fetch_add(1) >= self->options_.event_streams) {
      --self->streams_;
      res.set_header("Retry-After", "10");
      return Error(res, 503, "too many event streams open");
    }
    const std::string address = ClientAddress(req);
    const bool counted = self->options_.limit_loopback_reads || !IsLoopback(address);
    if (counted && !self->limiter_->OpenStream(address, self->options_)) {
      --self->streams_;
      res.set_header("Retry-After", "10");
      return Error(res, 429, "too many event streams from this address");
    }
    std::optional<std::string_view> last;
    const std::string last_id = req.get_header_value("Last-Event-ID");
    if (req.has_header("Last-Event-ID")) last = last_id;
    struct Stream {
      report::EventStream::Cursor cursor;
      int64_t started_ns = 0;
      int64_t written_ns = 0;
      bool opened = false;
    };
    auto stream = std::make_shared<Stream>();
    stream->cursor = events->Resume(last);
    stream->started_ns = stream->written_ns = SteadyNs();
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [self, events, stream](size_t, httplib::DataSink& sink) {
          std::string out;
          if (!stream->opened) {
            stream->opened = true;
            // The opening block carries the stream's position: a client whose stream ends before
            // any event still reconnects with a Last-Event-ID, and misses nothing in between.
            out = absl::StrCat("retry: 2000\nid: ", events->IdOf(stream->cursor.after), "\n\n");
            if (stream->cursor.resync) {
              SseEvent(&out, events->IdOf(stream->cursor.after), R"({"type":"resync"})");
            }
          }
          const int64_t now = SteadyNs();
          if (self->stopping_ ||
              now - stream->started_ns > int64_t{self->options_.event_stream_s} * 1'000'000'000) {
            if (!out.empty()) sink.write(out.data(), out.size());
            sink.done();
            return true;
          }
          bool lost = false;
          for (const auto& e :
               events->After(stream->cursor.after, std::chrono::milliseconds(200), &lost)) {
            if (lost) {
              SseEvent(&out, events->IdOf(e->seq - 1), R"({"type":"resync"})");
              lost = false;
            }
            SseEvent(&out, events->IdOf(e->seq), e->data);
            stream->cursor.after = e->seq;
          }
          // A comment when idle: keeps proxies from timing the stream out, and finds a client
          // that went away (the write after its reset fails) so that its slot is freed.
          if (out.empty() && now - stream->written_ns > 2'000'000'000) out = ": keepalive\n\n";
          if (out.empty()) return true;
          stream->written_ns = now;
          return sink.write(out.data(), out.size());
        },
        [self, address, counted](bool) {
          if (counted) self->limiter_->CloseStream(address);
          --self->streams_;
        });
  });

  // --- Writes --------------------------------------------------------------------------------
  // Checks the bearer (the API token makes `w` an admin write; anything else is a key for the
  // loop to check), submits, answers.
  // Whether the request may go on: writes are on and it has a bearer (else answered 403/401).
  // Checked before the body, so that nobody learns anything from an unauthenticated write.
  // `token` (may be null) receives the bearer.
  const auto authenticated = [self](const httplib::Request& req, httplib::Response& res,
                                    std::string* token = nullptr) {
    if (self->options_.api_token.empty()) {
      Error(res, 403, "writes are off: report.api_token_file names no token");
      return false;
    }
    std::string ignored;
    return Bearer(req, res, token != nullptr ? token : &ignored);
  };
  const auto write = [self, authenticated](const httplib::Request& req, httplib::Response& res,
                                           ApiWrite w) {
    std::string token;
    if (!authenticated(req, res, &token)) return;
    w.admin = proto::SecretEqual(token, self->options_.api_token);
    if (!w.admin) w.key = std::move(token);
    const ApiAnswer a = self->Submit(std::move(w));
    res.status = a.status;
    Json(res, a.body);
  };
  const auto client_write = [write](ApiWrite::Kind kind) {
    return [write, kind](const httplib::Request& req, httplib::Response& res) {
      ApiWrite w;
      w.kind = kind;
      if (!ClientIdOf(req, res, &w.client_id)) return;
      write(req, res, std::move(w));
    };
  };
  s.Put(R"(/api/v1/clients/(\d{1,10})/options)",
        [write, authenticated](const httplib::Request& req, httplib::Response& res) {
          nlohmann::json body;
          if (!authenticated(req, res) || !JsonBody(req, res, &body)) return;
          if (!body.contains("options") || !body["options"].is_string()) {
            return Error(res, 400, "\"options\" must be a string (FreeDMR's: \"TS1=1;TS2=91\")");
          }
          ApiWrite w;
          w.kind = ApiWrite::kSetOptions;
          if (!ClientIdOf(req, res, &w.client_id)) return;
          w.options = body["options"].get<std::string>();
          write(req, res, std::move(w));
        });
  s.Delete(R"(/api/v1/clients/(\d{1,10})/options)", client_write(ApiWrite::kClearOptions));
  // One static TG: ours is {"slot", "tg"}, BrandMeister's {"slot", "group"}.
  const auto add_static = [write, authenticated](const char* tg_name) {
    return [write, authenticated, tg_name](const httplib::Request& req, httplib::Response& res) {
      nlohmann::json body;
      uint64_t slot = 0, tg = 0;
      if (!authenticated(req, res) || !JsonBody(req, res, &body) ||
          !UintMember(body, res, "slot", 1, 2, &slot) ||
          !UintMember(body, res, tg_name, 1, 16777215, &tg)) {
        return;
      }
      ApiWrite w;
      w.kind = ApiWrite::kAddStatic;
      if (!ClientIdOf(req, res, &w.client_id)) return;
      w.slot = static_cast<uint8_t>(slot);
      w.tg = static_cast<uint32_t>(tg);
      write(req, res, std::move(w));
    };
  };
  const auto remove_static = [write](const httplib::Request& req, httplib::Response& res) {
    ApiWrite w;
    w.kind = ApiWrite::kRemoveStatic;
    if (!ClientIdOf(req, res, &w.client_id)) return;
    w.slot = static_cast<uint8_t>(IdOf(req, 2));
    w.tg = IdOf(req, 3);
    write(req, res, std::move(w));
  };
  const auto drop_dynamic = [write](const httplib::Request& req, httplib::Response& res) {
    ApiWrite w;
    w.kind = ApiWrite::kDropDynamic;
    if (!ClientIdOf(req, res, &w.client_id)) return;
    w.slot = static_cast<uint8_t>(IdOf(req, 2));
    write(req, res, std::move(w));
  };
  s.Post(R"(/api/v1/clients/(\d{1,10})/talkgroups)", add_static("tg"));
  s.Delete(R"(/api/v1/clients/(\d{1,10})/talkgroups/([12])/(\d{1,8}))", remove_static);
  s.Post(R"(/api/v1/clients/(\d{1,10})/drop_dynamic/([012]))", drop_dynamic);
  s.Post(R"(/api/v1/clients/(\d{1,10})/kick)", client_write(ApiWrite::kKick));
  s.Post("/api/v1/drain",
         [write, authenticated](const httplib::Request& req, httplib::Response& res) {
           ApiWrite w;
           w.kind = ApiWrite::kDrain;
           if (!authenticated(req, res)) return;
           if (!req.body.empty()) {
             nlohmann::json body;
             if (!JsonBody(req, res, &body)) return;
             if (body.contains("timeout_s")) {
               uint64_t t = 0;
               if (!UintMember(body, res, "timeout_s", 0, 3600, &t)) return;
               w.timeout_s = static_cast<double>(t);
             }
           }
           write(req, res, std::move(w));
         });
  const auto simple = [write](ApiWrite::Kind kind) {
    return [write, kind](const httplib::Request& req, httplib::Response& res) {
      ApiWrite w;
      w.kind = kind;
      write(req, res, std::move(w));
    };
  };
  s.Post("/api/v1/resume", simple(ApiWrite::kResume));
  s.Post("/api/v1/reload", simple(ApiWrite::kReload));
  const auto address_of = [](const std::string& text, httplib::Response& res, BlockAddress* out) {
    absl::StatusOr<BlockAddress> b = ParseBlockAddress(text);
    if (!b.ok()) {
      Error(res, 400, absl::StrCat("\"address\" ", b.status().message()));
      return false;
    }
    *out = *b;
    return true;
  };
  s.Post("/api/v1/blocks",
         [write, address_of, authenticated](const httplib::Request& req, httplib::Response& res) {
           nlohmann::json body;
           if (!authenticated(req, res) || !JsonBody(req, res, &body)) return;
           ApiWrite w;
           w.kind = ApiWrite::kBlock;
           const std::string a = body.contains("address") && body["address"].is_string()
                                     ? body["address"].get<std::string>()
                                     : std::string();
           if (!address_of(a, res, &w.block)) return;
           if (body.contains("for_s")) {
             uint64_t f = 0;
             if (!UintMember(body, res, "for_s", 1, 366 * 86400, &f)) return;
             w.block_s = static_cast<double>(f);
           }
           write(req, res, std::move(w));
         });
  // IPv4, or IPv6 with an optional /64 or /128 (the slash raw or as %2F).
  s.Delete(R"(/api/v1/blocks/([0-9A-Fa-f:.]{2,45}(?:(?:/|%2[Ff])\d{1,3})?))",
           [write, address_of, authenticated](const httplib::Request& req, httplib::Response& res) {
             ApiWrite w;
             w.kind = ApiWrite::kUnblock;
             if (!authenticated(req, res)) return;
             std::string text = req.matches[1].str();
             if (const size_t pct = text.find('%'); pct != std::string::npos) {
               text.replace(pct, 3, "/");
             }
             if (!address_of(text, res, &w.block)) return;
             write(req, res, std::move(w));
           });

  // --- BrandMeister API v2's device subset (hotspot dashboards) ---------------------------------
  s.Get(R"(/v2/device/(\d{1,10})/profile)",
        [self](const httplib::Request& req, httplib::Response& res) {
          uint32_t id = 0;
          if (!ClientIdOf(req, res, &id)) return;
          const std::shared_ptr<const ReportView> v = self->view_.load();
          const report::ClientView* c = v ? FindClient(*v, id) : nullptr;
          if (c == nullptr)
            return Error(res, 404, absl::StrCat("device ", id, " is not logged in"));
          nlohmann::json statics = nlohmann::json::array(), dynamics = nlohmann::json::array();
          for (const report::TalkgroupSubscription& t : c->talkgroups) {
            nlohmann::json e = {
                {"repeaterid", id}, {"slot", static_cast<int>(t.slot)}, {"talkgroup", t.tg}};
            (t.dynamic ? dynamics : statics).push_back(std::move(e));
          }
          Json(res, {{"blockedGroups", nlohmann::json::array()},
                     {"staticSubscriptions", std::move(statics)},
                     {"dynamicSubscriptions", std::move(dynamics)},
                     {"timedSubscriptions", nlohmann::json::array()},
                     {"cluster", nlohmann::json::array()}});
        });
  s.Post(R"(/v2/device/(\d{1,10})/talkgroup)", add_static("group"));
  s.Delete(R"(/v2/device/(\d{1,10})/talkgroup/([12])/(\d{1,8}))", remove_static);
  s.Post(R"(/v2/device/(\d{1,10})/action/dropDynamicGroups/([012]))", drop_dynamic);

  // --- The dashboard ---------------------------------------------------------------------------
  s.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.status = 302;
    res.set_header("Location", "/dashboard/");
  });
  s.Get(
      R"(/dashboard/([a-z0-9_.-]{0,64}))", [](const httplib::Request& req, httplib::Response& res) {
        const std::string name = req.matches[1].str().empty() ? "index.html" : req.matches[1].str();
        for (const DashboardFile& f : DashboardFiles()) {
          if (f.name == name) {
            res.set_content(std::string(f.body), std::string(f.content_type));
            return;
          }
        }
        res.status = 404;
        res.set_content("not found\n", "text/plain");
      });

  s.SetErrorHandler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status != 404 || !res.body.empty()) return;
    if (req.path.rfind("/api/", 0) == 0 || req.path.rfind("/v2/", 0) == 0) {
      Json(res, {{"error", absl::StrCat("no such endpoint: ", req.method, " ", req.path,
                                        " (GET /api/v1 lists them)")}});
    } else {
      res.set_content("not found: /dashboard/, /metrics, /api/v1 (the JSON API)\n", "text/plain");
    }
  });
}

std::string_view ApiWrite::name() const {
  static constexpr std::string_view kNames[] = {
      "set_options", "clear_options", "add_static", "remove_static", "drop_dynamic", "kick",
      "drain",       "resume",        "reload",     "block",         "unblock"};
  return kind < std::size(kNames) ? kNames[kind] : "unknown";
}

ApiAnswer ReportHttp::Submit(ApiWrite w) {
  auto answer = std::make_shared<std::promise<ApiAnswer>>();
  std::future<ApiAnswer> done = answer->get_future();
  w.answer = answer;
  {
    std::lock_guard<std::mutex> lock(writes_mu_);
    if (stopping_) return {503, {{"error", "the HTTP server is stopping"}}};
    if (writes_.size() >= kMaxQueuedWrites) {
      return {503, {{"error", "too many writes waiting for the control plane"}}};
    }
    writes_.push_back(std::move(w));
  }
  // In short steps: a server being stopped by the loop itself (a reload that restarts [report])
  // must not wait for the loop's answer.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.write_timeout_ms);
  while (done.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready) {
    if (stopping_)
      return {503, {{"error", "the HTTP server restarted (a reload changed [report])"}}};
    if (std::chrono::steady_clock::now() >= deadline) {
      // Still queued: taken back, so that it is never applied after its 503. Taken by the loop
      // already: it may still apply.
      std::lock_guard<std::mutex> lock(writes_mu_);
      const auto queued = std::find_if(writes_.begin(), writes_.end(),
                                       [&](const ApiWrite& q) { return q.answer == answer; });
      if (queued != writes_.end()) {
        writes_.erase(queued);
        return {503, {{"error", "the control plane did not answer in time; nothing was done"}}};
      }
      return {503, {{"error", "the control plane did not answer in time; it may still apply"}}};
    }
  }
  return done.get();
}

std::vector<ApiWrite> ReportHttp::TakeWrites() {
  std::lock_guard<std::mutex> lock(writes_mu_);
  return std::exchange(writes_, {});
}

ReportHttp::~ReportHttp() {
  {
    std::lock_guard<std::mutex> lock(writes_mu_);
    stopping_ = true;
    for (ApiWrite& w : writes_) {
      w.answer->set_value({503, {{"error", "the HTTP server is stopping"}}});
    }
    writes_.clear();
  }
  if (server_) server_->Stop();
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
  if (options_.stats != nullptr) AppendShardMetrics(ReadAllShardStats(*options_.stats), &m);
  return m;
}

}  // namespace dmrswitch::cp
