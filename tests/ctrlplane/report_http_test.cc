// ReportHttp's write path, live events and bounds, against a real server on loopback: what a
// write looks like when it reaches the control plane's thread (the test plays that thread and
// answers through the promise), authentication, the event stream and its resume, the dashboard's
// files and headers, and the rate and stream limits.
#include "ctrlplane/report_http.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ctrlplane/dashboard_files.h"
#include "ctrlplane/report/event_stream.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace dmrswitch::cp {
namespace {

using report::EventStream;

constexpr char kToken[] = "0123456789abcdef0123";

ReportHttpOptions Options() {
  ReportHttpOptions o;
  o.host = "127.0.0.1";
  o.events = std::make_shared<EventStream>(8, 1234);
  o.api_token = kToken;
  o.requests_per_s = 1000;
  o.writes_per_s = 1000;
  o.write_timeout_ms = 2000;
  // Streams a test has stopped reading hold their slot until the server's next write fails.
  o.event_streams_per_address = 16;
  return o;
}

// Plays the control plane's thread: takes writes, records them, answers with `answer`.
class Loop {
 public:
  explicit Loop(ReportHttp* http) : http_(http), thread_([this] { Run(); }) {}
  ~Loop() {
    stop_ = true;
    thread_.join();
  }
  std::vector<ApiWrite> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

 private:
  void Run() {
    while (!stop_) {
      for (ApiWrite& w : http_->TakeWrites()) {
        const bool ok = w.admin || w.key == "hotspot-key";
        w.answer->set_value(ok ? ApiAnswer{200, {{"ok", true}}}
                               : ApiAnswer{403, {{"error", "not this hotspot's key"}}});
        std::lock_guard<std::mutex> lock(mu_);
        seen_.push_back(std::move(w));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  ReportHttp* http_;
  std::mutex mu_;
  std::vector<ApiWrite> seen_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

httplib::Headers Bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

TEST(ReportHttp, AWriteReachesTheLoopCheckedAndTypedAndItsAnswerComesBack) {
  auto http = ReportHttp::Start(Options());
  ASSERT_TRUE(http.ok()) << http.status();
  Loop loop(http->get());
  httplib::Client c("127.0.0.1", (*http)->port());

  auto r = c.Put("/api/v1/clients/3120001/options", Bearer(kToken), R"({"options":"TS2=3100"})",
                 "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(nlohmann::json::parse(r->body)["ok"], true);
  r = c.Post("/v2/device/3120002/talkgroup", Bearer("hotspot-key"), R"({"slot":1,"group":235})",
             "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = c.Delete("/api/v1/clients/3120002/talkgroups/2/91", Bearer("other-key"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);  // the loop's answer
  r = c.Post("/api/v1/clients/3120002/drop_dynamic/0", Bearer(kToken), "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = c.Post("/api/v1/drain", Bearer(kToken), R"({"timeout_s":30})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = c.Delete("/api/v1/blocks/198.18.0.7", Bearer(kToken));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // IPv6: an address, and a /64 with the slash escaped.
  r = c.Post("/api/v1/blocks", Bearer(kToken), R"({"address":"2001:2::7","for_s":60})",
             "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = c.Delete("/api/v1/blocks/2001:2::%2F64", Bearer(kToken));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = c.Post("/api/v1/blocks", Bearer(kToken), R"({"address":"2001:2::/48"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(absl::StrContains(r->body, "not /48")) << r->body;
  r = c.Post("/api/v1/blocks", Bearer(kToken), R"({"address":"ff02::1"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);

  const std::vector<ApiWrite> seen = loop.seen();
  ASSERT_EQ(seen.size(), 8u);
  EXPECT_EQ(seen[0].kind, ApiWrite::kSetOptions);
  EXPECT_EQ(seen[0].client_id, 3120001u);
  EXPECT_EQ(seen[0].options, "TS2=3100");
  EXPECT_TRUE(seen[0].admin);
  EXPECT_TRUE(seen[0].key.empty());  // the token is not passed on
  EXPECT_EQ(seen[1].kind, ApiWrite::kAddStatic);
  EXPECT_EQ(seen[1].slot, 1);
  EXPECT_EQ(seen[1].tg, 235u);
  EXPECT_FALSE(seen[1].admin);
  EXPECT_EQ(seen[1].key, "hotspot-key");
  EXPECT_EQ(seen[2].kind, ApiWrite::kRemoveStatic);
  EXPECT_EQ(seen[2].slot, 2);
  EXPECT_EQ(seen[2].tg, 91u);
  EXPECT_EQ(seen[3].kind, ApiWrite::kDropDynamic);
  EXPECT_EQ(seen[3].slot, 0);
  EXPECT_EQ(seen[4].kind, ApiWrite::kDrain);
  EXPECT_EQ(seen[4].timeout_s, 30);
  EXPECT_EQ(seen[5].kind, ApiWrite::kUnblock);
  EXPECT_EQ(seen[5].block.ip, (198u << 24) | (18u << 16) | 7u);
  EXPECT_FALSE(seen[5].block.v6);
  EXPECT_EQ(seen[6].kind, ApiWrite::kBlock);
  EXPECT_TRUE(seen[6].block.v6);
  EXPECT_EQ(seen[6].block.prefix_len, 128u);
  EXPECT_EQ(seen[6].block.ip6[15], 7);
  EXPECT_EQ(seen[6].block_s, 60);
  EXPECT_EQ(seen[7].kind, ApiWrite::kUnblock);
  EXPECT_TRUE(seen[7].block.v6);
  EXPECT_EQ(seen[7].block.prefix_len, 64u);
}

TEST(ReportHttp, WritesWithoutAValidFormOrBearerNeverReachTheLoop) {
  auto http = ReportHttp::Start(Options());
  ASSERT_TRUE(http.ok()) << http.status();
  Loop loop(http->get());
  httplib::Client c("127.0.0.1", (*http)->port());
  const auto status = [](const httplib::Result& r) { return r ? r->status : -1; };

  auto r = c.Put("/api/v1/clients/1/options", R"({"options":"TS2=1"})", "application/json");
  EXPECT_EQ(status(r), 401);
  EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(status(c.Put("/api/v1/clients/1/options", {{"Authorization", "Basic abc"}},
                         R"({"options":"TS2=1"})", "application/json")),
            401);
  EXPECT_EQ(status(c.Put("/api/v1/clients/1/options", Bearer(std::string(300, 'k')),
                         R"({"options":"TS2=1"})", "application/json")),
            401);
  // Malformed bodies: 400 before anything else.
  for (const char* body : {"", "[]", "{\"options\":5}", "not json"}) {
    EXPECT_EQ(status(c.Put("/api/v1/clients/1/options", Bearer(kToken), body, "application/json")),
              400)
        << body;
  }
  for (const char* body : {R"({"slot":3,"tg":91})", R"({"slot":1})", R"({"slot":1,"tg":-1})",
                           R"({"slot":1,"tg":16777216})", R"({"slot":"1","tg":91})"}) {
    EXPECT_EQ(
        status(c.Post("/api/v1/clients/1/talkgroups", Bearer(kToken), body, "application/json")),
        400)
        << body;
  }
  EXPECT_EQ(status(c.Post("/api/v1/blocks", Bearer(kToken), R"({"address":"1.2.3"})",
                          "application/json")),
            400);
  EXPECT_EQ(
      status(c.Post("/api/v1/drain", Bearer(kToken), R"({"timeout_s":9999})", "application/json")),
      400);
  // No route: slot 3, an ID of 11 digits, an unknown action.
  EXPECT_EQ(status(c.Delete("/api/v1/clients/1/talkgroups/3/91", Bearer(kToken))), 404);
  EXPECT_EQ(status(c.Post("/api/v1/clients/99999999999/kick", Bearer(kToken), "", "text/plain")),
            404);
  // An ID beyond 32 bits is no client (never truncated into another one's ID).
  EXPECT_EQ(status(c.Post("/api/v1/clients/4294967296/kick", Bearer(kToken), "", "text/plain")),
            404);
  EXPECT_EQ(status(c.Post("/v2/device/4294967297/talkgroup", Bearer(kToken),
                          R"({"slot":1,"group":235})", "application/json")),
            404);
  EXPECT_EQ(status(c.Get("/v2/device/9999999999/profile")), 404);
  EXPECT_EQ(status(c.Post("/v2/device/1/action/dropCallRoute/1", Bearer(kToken), "", "text/plain")),
            404);
  // Too big: the body limit.
  EXPECT_EQ(status(c.Put("/api/v1/clients/1/options", Bearer(kToken),
                         absl::StrCat(R"({"options":")", std::string(8000, 'x'), R"("})"),
                         "application/json")),
            413);
  EXPECT_TRUE(loop.seen().empty());
}

TEST(ReportHttp, WithoutATokenFileEveryWriteIsRefused) {
  ReportHttpOptions o = Options();
  o.api_token.clear();
  auto http = ReportHttp::Start(o);
  ASSERT_TRUE(http.ok()) << http.status();
  Loop loop(http->get());
  httplib::Client c("127.0.0.1", (*http)->port());
  for (const std::string& bearer : {std::string(kToken), std::string("hotspot-key")}) {
    auto r = c.Post("/api/v1/clients/1/kick", Bearer(bearer), "", "text/plain");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
    EXPECT_NE(r->body.find("api_token_file"), std::string::npos);
  }
  EXPECT_TRUE(loop.seen().empty());
}

// A write the loop does not take in time is answered 503 and taken back: it is never applied
// after its answer (a client retrying it would otherwise kick or drain twice).
TEST(ReportHttp, AWriteTheLoopDoesNotTakeInTimeEndsIn503AndIsNeverApplied) {
  ReportHttpOptions o = Options();
  o.write_timeout_ms = 300;
  auto http = ReportHttp::Start(o);
  ASSERT_TRUE(http.ok()) << http.status();
  httplib::Client c("127.0.0.1", (*http)->port());
  auto r = c.Post("/api/v1/resume", Bearer(kToken), "", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(nlohmann::json::parse(r->body)["error"],
            "the control plane did not answer in time; nothing was done");
  EXPECT_TRUE((*http)->TakeWrites().empty());
}

// Writes queued when the server stops are answered 503 by the destructor: no promise is left
// unset and no HTTP thread waits on the loop.
TEST(ReportHttp, StoppingAnswersTheQueuedWrites) {
  ReportHttpOptions o = Options();
  auto started = ReportHttp::Start(o);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<ReportHttp> http = *std::move(started);
  const uint16_t port = http->port();
  int status = 0;
  std::thread client([&] {
    httplib::Client c("127.0.0.1", port);
    auto r = c.Post("/api/v1/resume", Bearer(kToken), "", "text/plain");
    status = r ? r->status : -1;
  });
  while (true) {  // until the write is queued (nobody takes it)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (http->requests() > 0) break;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  http.reset();
  client.join();
  EXPECT_EQ(status, 503);
}

// A reload through the API that changes [report] makes the loop destroy this server while the
// write that asked for it waits for its answer: the destructor must not wait for it (the loop
// would stall for the write's whole timeout).
TEST(ReportHttp, TheLoopMayStopTheServerWhileAWriteWaitsForIt) {
  ReportHttpOptions o = Options();
  o.write_timeout_ms = 10000;
  auto started = ReportHttp::Start(o);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<ReportHttp> http = *std::move(started);
  const uint16_t port = http->port();
  std::chrono::steady_clock::duration stop_took{};
  std::thread loop([&] {
    std::vector<ApiWrite> got;
    while (got.empty()) {
      got = http->TakeWrites();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const auto t0 = std::chrono::steady_clock::now();
    http.reset();  // the reload restarts the surfaces
    stop_took = std::chrono::steady_clock::now() - t0;
    got[0].answer->set_value({200, {{"ok", true}}});  // answered after all, to nobody
  });
  httplib::Client c("127.0.0.1", port);
  auto r = c.Post("/api/v1/reload", Bearer(kToken), "", "text/plain");
  loop.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("restarted"), std::string::npos) << r->body;
  EXPECT_LT(stop_took, std::chrono::seconds(3));
}

TEST(ReportHttp, RequestsAndWritesAreRateLimitedPerAddress) {
  ReportHttpOptions o = Options();
  o.requests_per_s = 5;  // burst 10
  o.writes_per_s = 1;    // burst 5
  o.limit_loopback_reads = true;
  auto http = ReportHttp::Start(o);
  ASSERT_TRUE(http.ok()) << http.status();
  Loop loop(http->get());
  httplib::Client c("127.0.0.1", (*http)->port());
  int ok = 0, limited = 0;
  for (int i = 0; i < 8; ++i) {
    auto r = c.Post("/api/v1/resume", Bearer(kToken), "", "text/plain");
    ASSERT_TRUE(r);
    ok += r->status == 200;
    limited += r->status == 429;
    if (r->status == 429) {
      EXPECT_EQ(r->get_header_value("Retry-After"), "1");
    }
  }
  EXPECT_EQ(ok, 5);
  EXPECT_EQ(limited, 3);
  int reads = 0;
  for (int i = 0; i < 20; ++i) {
    auto r = c.Get("/api/v1/hub");
    ASSERT_TRUE(r);
    reads += r->status != 429;
  }
  EXPECT_LT(reads, 10);  // 10 - the 8 writes' requests, plus what refilled meanwhile
}

TEST(ReportHttp, ReadsFromLoopbackAreNotLimitedButWritesAre) {
  ReportHttpOptions o = Options();
  o.requests_per_s = 1;
  o.writes_per_s = 1;
  auto http = ReportHttp::Start(o);
  ASSERT_TRUE(http.ok()) << http.status();
  Loop loop(http->get());
  httplib::Client c("127.0.0.1", (*http)->port());
  for (int i = 0; i < 30; ++i) {
    auto r = c.Get("/api/v1/hub");
    ASSERT_TRUE(r);
    EXPECT_NE(r->status, 429);
  }
  int limited = 0;
  for (int i = 0; i < 8; ++i) {
    auto r = c.Post("/api/v1/resume", Bearer(kToken), "", "text/plain");
    ASSERT_TRUE(r);
    limited += r->status == 429;
  }
  EXPECT_GE(limited, 2);
}

// Behind a reverse proxy on the hub's machine every request comes from loopback: the limits go
// by the client the proxy names in X-Forwarded-For (and only a loopback peer is believed).
TEST(ReportHttp, BehindALocalProxyTheLimitsGoByTheForwardedAddress) {
  ReportHttpOptions o = Options();
  o.requests_per_s = 1;  // burst 2
  auto http = ReportHttp::Start(o);
  ASSERT_TRUE(http.ok()) << http.status();
  httplib::Client c("127.0.0.1", (*http)->port());
  const auto reads_from = [&](const std::string& forwarded) {
    int ok = 0;
    for (int i = 0; i < 5; ++i) {
      auto r = c.Get("/api/v1/hub", {{"X-Forwarded-For", forwarded}});
      ok += r && r->status != 429;
    }
    return ok;
  };
  EXPECT_EQ(reads_from("203.0.113.7, 198.18.0.9"), 2);  // the last hop's client: 198.18.0.9
  EXPECT_EQ(reads_from("198.18.0.10"), 2);              // another client, its own budget
  EXPECT_EQ(reads_from("not an address"), 2);           // implausible: one shared bucket
  EXPECT_EQ(reads_from("127.0.0.1"), 5);                // local after all: not limited
}

TEST(ReportHttp, FailedAuthenticationsCostMoreThanWrites) {
  ReportHttpOptions o = Options();
  o.writes_per_s = 1;  // burst 5
  auto http = ReportHttp::Start(o);
  ASSERT_TRUE(http.ok()) << http.status();
  Loop loop(http->get());
  httplib::Client c("127.0.0.1", (*http)->port());
  int refused = 0;
  for (int i = 0; i < 6; ++i) {
    auto r = c.Post("/api/v1/resume", "", "text/plain");  // no bearer: 401
    ASSERT_TRUE(r);
    refused += r->status == 401;
  }
  // Each 401 took its write and one more: three guesses, then 429.
  EXPECT_EQ(refused, 3);
}

// Reads an event stream until `enough` returns true or `timeout` passes; returns what arrived.
std::string ReadEvents(uint16_t port, const httplib::Headers& headers,
                       const std::function<bool(const std::string&)>& enough,
                       std::chrono::milliseconds timeout = std::chrono::seconds(5),
                       int* status = nullptr, std::atomic<bool>* opened = nullptr) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(std::chrono::duration_cast<std::chrono::seconds>(timeout).count() + 1, 0);
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto r = c.Get("/api/v1/events", headers, [&](const char* data, size_t n) {
    got.append(data, n);
    if (opened != nullptr && got.find("retry: ") != std::string::npos) *opened = true;
    return !enough(got) && std::chrono::steady_clock::now() < deadline;
  });
  if (status != nullptr)
    *status = r ? r->status : (r.error() == httplib::Error::Canceled ? 200 : -1);
  return got;
}

std::vector<std::string> Ids(const std::string& text) {
  std::vector<std::string> ids;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, "id: ")) ids.emplace_back(line.substr(4));
  }
  return ids;
}

TEST(ReportHttp, EventsStreamLiveAndResumeFromLastEventId) {
  ReportHttpOptions o = Options();
  auto http = ReportHttp::Start(o);
  ASSERT_TRUE(http.ok()) << http.status();
  const uint16_t port = (*http)->port();
  EventStream& events = *o.events;
  events.Append(R"({"type":"before"})");  // before the client: not sent to a new client

  std::atomic<bool> opened{false};
  std::thread appender([&] {
    while (!opened) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    events.Append(R"({"type":"call_start","n":1})");
    events.Append(R"({"type":"call_end","n":2})");
  });
  const std::string first = ReadEvents(
      port, {}, [](const std::string& s) { return s.find(R"("n":2)") != std::string::npos; },
      std::chrono::seconds(5), nullptr, &opened);
  opened = true;  // the appender ends even if the stream never opened
  appender.join();
  EXPECT_EQ(first.rfind("retry: 2000\nid: 1234-1\n\n", 0), 0u) << first;
  EXPECT_EQ(first.find("before"), std::string::npos);
  EXPECT_NE(first.find("id: 1234-2\ndata: {\"type\":\"call_start\",\"n\":1}\n\n"),
            std::string::npos)
      << first;
  // The opening block's id is where the stream starts, then the events'.
  EXPECT_EQ(Ids(first), (std::vector<std::string>{"1234-1", "1234-2", "1234-3"}));

  // Reconnecting with the id of the first of them: the second, then what came since.
  events.Append(R"({"type":"client","n":3})");
  const std::string resumed =
      ReadEvents(port, {{"Last-Event-ID", "1234-2"}},
                 [](const std::string& s) { return s.find(R"("n":3)") != std::string::npos; });
  EXPECT_EQ(Ids(resumed), (std::vector<std::string>{"1234-2", "1234-3", "1234-4"}));
  EXPECT_EQ(resumed.find("resync"), std::string::npos);

  // An id from another epoch, from the future, or too old for the 8 kept: resync first.
  for (int i = 0; i < 10; ++i) events.Append(R"({"type":"peer"})");
  for (const char* stale : {"999-3", "1234-99", "1234-1", "garbage", "1234-"}) {
    const std::string s = ReadEvents(port, {{"Last-Event-ID", stale}}, [](const std::string& s) {
      return s.find("resync") != std::string::npos;
    });
    EXPECT_NE(s.find("id: 1234-14\ndata: {\"type\":\"resync\"}\n\n"), std::string::npos)
        << stale << ": " << s;
  }
}

TEST(ReportHttp, EventStreamsAreCappedAndEndAfterTheirTime) {
  ReportHttpOptions o = Options();
  o.event_streams = 2;
  o.event_streams_per_address = 2;
  o.limit_loopback_reads = true;
  o.event_stream_s = 1;
  auto http = ReportHttp::Start(o);
  ASSERT_TRUE(http.ok()) << http.status();
  const uint16_t port = (*http)->port();
  // Two streams held open; a third is refused while they last.
  std::vector<std::thread> holders;
  for (int i = 0; i < 2; ++i) {
    holders.emplace_back([port] {
      int status = 0;
      ReadEvents(
          port, {}, [](const std::string&) { return false; }, std::chrono::seconds(3), &status);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  httplib::Client c("127.0.0.1", port);
  auto r = c.Get("/api/v1/events");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->status == 503 || r->status == 429) << r->status;
  // Each stream ends by itself after event_stream_s: the holders return well before their 3 s.
  const auto t0 = std::chrono::steady_clock::now();
  for (std::thread& t : holders) t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(2500));
  // Slots are given back (once the server has finished with the ended streams).
  int status = 0;
  for (int i = 0; i < 20 && status != 200; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ReadEvents(
        port, {}, [](const std::string& s) { return s.find("retry") != std::string::npos; },
        std::chrono::seconds(2), &status);
  }
  EXPECT_EQ(status, 200);
}

TEST(ReportHttp, TheDashboardIsServedWithItsSecurityHeaders) {
  auto http = ReportHttp::Start(Options());
  ASSERT_TRUE(http.ok()) << http.status();
  httplib::Client c("127.0.0.1", (*http)->port());
  auto r = c.Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 302);
  EXPECT_EQ(r->get_header_value("Location"), "/dashboard/");
  ASSERT_FALSE(DashboardFiles().empty());
  for (const DashboardFile& f : DashboardFiles()) {
    r = c.Get("/dashboard/" + std::string(f.name));
    ASSERT_TRUE(r) << f.name;
    EXPECT_EQ(r->status, 200) << f.name;
    EXPECT_EQ(r->body, f.body) << f.name;
    EXPECT_EQ(r->get_header_value("Content-Type"), f.content_type);
    EXPECT_NE(r->get_header_value("Content-Security-Policy").find("default-src 'self'"),
              std::string::npos);
    EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(r->get_header_value("X-Frame-Options"), "DENY");
  }
  r = c.Get("/dashboard/");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("<html"), std::string::npos);
  for (const char* missing :
       {"/dashboard/nothing.js", "/dashboard/../etc/passwd", "/dashboard/%2e%2e/x"}) {
    r = c.Get(missing);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404) << missing;
  }
  r = c.Get("/api/v1/hub");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Cache-Control"), "no-store");
}

TEST(EventStream, KeepsTheNewestAndTellsAReaderWhatItMissed) {
  EventStream s(4, 77);
  EXPECT_EQ(s.Resume(std::nullopt).after, 0u);
  for (int i = 1; i <= 6; ++i) s.Append(absl::StrCat(i));
  EXPECT_EQ(s.newest(), 6u);
  EXPECT_EQ(s.IdOf(6), "77-6");
  // Kept: 3..6. A reader at 2 resumes; at 1 (3 dropped after it... 2 is gone) it resyncs.
  EXPECT_FALSE(s.Resume("77-2").resync);
  EXPECT_EQ(s.Resume("77-2").after, 2u);
  EXPECT_TRUE(s.Resume("77-1").resync);
  EXPECT_EQ(s.Resume("77-1").after, 6u);
  EXPECT_TRUE(s.Resume("77-7").resync);
  EXPECT_TRUE(s.Resume("78-5").resync);
  EXPECT_TRUE(s.Resume("-5").resync);
  EXPECT_FALSE(s.Resume("77-6").resync);
  bool lost = false;
  auto got = s.After(2, std::chrono::milliseconds(0), &lost);
  EXPECT_FALSE(lost);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got.front()->data, "3");
  got = s.After(0, std::chrono::milliseconds(0), &lost);
  EXPECT_TRUE(lost);
  EXPECT_EQ(got.size(), 4u);
  got = s.After(6, std::chrono::milliseconds(20), &lost);
  EXPECT_TRUE(got.empty());
  // A waiting reader wakes for the next event.
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    s.Append("7");
  });
  const auto t0 = std::chrono::steady_clock::now();
  got = s.After(6, std::chrono::seconds(5), &lost);
  t.join();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]->data, "7");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

}  // namespace
}  // namespace dmrswitch::cp
