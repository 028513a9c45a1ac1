// The reporting component (ctrlplane/reporting.h) driven with shard events, logins and peers as
// the control plane feeds it: calls and their end reasons, lastheard and the talkgroup table and
// their bounds, and what reaches a real HBlink3 v3 feed connection and the HTTP API.

#include "ctrlplane/reporting.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ctrlplane/login/hbp_auth.h"
#include "ctrlplane/login/obp_links.h"
#include "ctrlplane/report/json_model.h"
#include "ctrlplane/report_http.h"
#include "ctrlplane/subscriptions/subscriptions.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace dmrswitch::cp {
namespace {

using report::CallEndReason;
using report::CallType;
using route::kMs;
using route::kSec;

constexpr route::TimeNs kT0 = 1000 * kSec;

route::Event Start(uint32_t stream, uint32_t client, uint32_t tg, unsigned ts, route::TimeNs at) {
  route::Event e;
  e.type = route::EventType::kStreamStarted;
  e.ts = static_cast<uint8_t>(ts);
  e.source = route::SystemRef::Client(client % 1000);
  e.source_id = client;
  e.stream_id = stream;
  e.rf_src = client + 1000;
  e.dst = tg;
  e.tg = tg;
  e.destinations = 3;
  e.at = at;
  return e;
}

route::Event End(const route::Event& start, route::EventType type, route::StreamEnd why,
                 uint32_t frames, route::TimeNs at) {
  route::Event e = start;
  e.type = type;
  e.end = why;
  e.packets = frames;
  e.lost = 2;
  e.late = 3;
  e.early = 1;
  e.jitter_10us = 250;  // 2.5 ms
  e.duration_ms = (frames - 1) * 60;
  e.at = at;
  return e;
}

ReportingSettings Settings() {
  ReportingSettings s;
  s.server_id = 310999;
  s.mode = "kernel";
  s.shards = 2;
  s.report.lastheard_size = 5;
  s.report.talkgroups_size = 3;
  return s;
}

// Lines of a TCP feed connection (HBlink3 v3's NDJSON feed), read as they come.
class FeedReader {
 public:
  explicit FeedReader(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~FeedReader() { close(fd_); }
  bool connected() const { return connected_; }
  // Reads until a line of `type` satisfying `match` arrives (or the time is up).
  std::optional<nlohmann::json> WaitFor(const std::string& type,
                                        const std::function<bool(const nlohmann::json&)>& match,
                                        std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      size_t eol;
      while ((eol = buf_.find('\n')) != std::string::npos) {
        nlohmann::json j = nlohmann::json::parse(buf_.substr(0, eol), nullptr, false);
        buf_.erase(0, eol + 1);
        if (j.is_object() && j.value("type", "") == type && match(j)) return j;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char b[65536];
      const ssize_t n = read(fd_, b, sizeof(b));
      if (n <= 0) return std::nullopt;
      buf_.append(b, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

std::unique_ptr<Reporting> MustStart(const ReportingSettings& s) {
  auto r = Reporting::Start(s, nullptr, kT0);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : nullptr;
}

TEST(Reporting, ATalkerAliasNamesTheLiveCallAndTheTalkersLaterCalls) {
  auto r = MustStart(Settings());
  ASSERT_NE(r, nullptr);
  const route::Event s = Start(0xB1, 3120001, 91, route::kTs2, kT0);  // rf_src 3121001
  r->OnStreamEvent(s, kT0, nullptr);
  EXPECT_EQ(r->lastheard()[0]->talker_callsign, "");
  // Another client's alias for the same radio ID does not name this client's call.
  r->OnTalkerAlias(3120002, 3121001, "G0BAD Spoof");
  EXPECT_EQ(r->lastheard()[0]->talker_callsign, "");
  // The radio's alias arrives during the call (MMDVMHost sends DMRA as it decodes it).
  r->OnTalkerAlias(3120001, 3121001, "DL1ABC Hans");
  EXPECT_EQ(r->lastheard()[0]->talker_callsign, "DL1ABC");
  r->OnStreamEvent(
      End(s, route::EventType::kStreamEnded, route::StreamEnd::kTerminator, 20, kT0 + 2 * kSec),
      kT0 + 2 * kSec, nullptr);
  EXPECT_EQ(r->lastheard()[0]->talker_callsign, "DL1ABC");
  // The same radio later, through another hotspot: named from its start.
  route::Event again = Start(0xB2, 3120001, 92, route::kTs1, kT0 + 5 * kSec);
  again.source_id = 3120003;
  again.source = route::SystemRef::Client(3);
  r->OnStreamEvent(again, kT0 + 5 * kSec, nullptr);
  EXPECT_EQ(r->lastheard()[0]->talker_callsign, "DL1ABC");
  EXPECT_EQ(r->LastheardJson(1)["lastheard"][0]["talker"], "DL1ABC");
  // An alias that is all spaces names nobody and keeps the last one.
  r->OnTalkerAlias(3120003, 3121001, "   ");
  EXPECT_EQ(r->lastheard()[0]->talker_callsign, "DL1ABC");
}

TEST(Reporting, TalkersAreBounded) {
  auto r = MustStart(Settings());
  ASSERT_NE(r, nullptr);
  for (uint32_t i = 0; i <= Reporting::kMaxTalkers; ++i) {
    r->OnTalkerAlias(3120001, 2000000 + i, absl::StrCat("T", i));
  }
  // The first talker was forgotten, the last is known.
  route::Event first = Start(0xC1, 3120001, 91, route::kTs2, kT0);
  first.rf_src = 2000000;
  r->OnStreamEvent(first, kT0, nullptr);
  EXPECT_EQ(r->lastheard()[0]->talker_callsign, "");
  route::Event last = Start(0xC2, 3120002, 91, route::kTs2, kT0);
  last.rf_src = 2000000 + Reporting::kMaxTalkers;
  r->OnStreamEvent(last, kT0, nullptr);
  EXPECT_EQ(r->lastheard()[0]->talker_callsign, absl::StrCat("T", Reporting::kMaxTalkers));
}

TEST(Reporting, ACallStartsLiveAndEndsWithTheShardsQualityFigures) {
  auto r = MustStart(Settings());
  ASSERT_NE(r, nullptr);
  ClientRecord c;
  c.id = 3120001;
  c.callsign = "N0CALL";
  r->OnClientUp(c, kT0);
  const route::Event s = Start(0xA1, 3120001, 91, route::kTs2, kT0 + kSec);
  r->OnStreamEvent(s, kT0 + kSec, nullptr);
  ASSERT_EQ(r->lastheard().size(), 1u);
  EXPECT_FALSE(r->lastheard()[0]->ended);
  EXPECT_EQ(r->live_calls(), 1u);
  EXPECT_EQ(r->lastheard()[0]->source.callsign, "N0CALL");
  EXPECT_EQ(r->lastheard()[0]->type, CallType::kGroupVoice);
  EXPECT_EQ(r->lastheard()[0]->slot, report::Slot::kTs2);

  r->OnStreamEvent(
      End(s, route::EventType::kStreamEnded, route::StreamEnd::kTerminator, 40, kT0 + 4 * kSec),
      kT0 + 4 * kSec, nullptr);
  ASSERT_EQ(r->lastheard().size(), 1u) << "the end updates the entry its start made";
  const report::CallRecord& call = *r->lastheard()[0];
  EXPECT_TRUE(call.ended);
  EXPECT_EQ(call.end_reason, CallEndReason::kTerminator);
  EXPECT_EQ(call.frames, 40u);
  EXPECT_EQ(call.frames_lost, 2u);
  EXPECT_EQ(call.frames_late, 3u);
  EXPECT_EQ(call.frames_early, 1u);
  EXPECT_DOUBLE_EQ(call.jitter_ms, 2.5);
  EXPECT_EQ(call.duration_ns, 39 * 60 * static_cast<int64_t>(kMs));
  EXPECT_EQ(r->live_calls(), 0u);

  const nlohmann::json j = r->LastheardJson(10);
  ASSERT_EQ(j["talkgroups"].size(), 1u);
  EXPECT_EQ(j["talkgroups"][0]["tg"], 91);
  EXPECT_EQ(j["talkgroups"][0]["calls"], 1);
  EXPECT_EQ(j["talkgroups"][0]["live"], false);
  EXPECT_NEAR(j["talkgroups"][0]["seconds"].get<double>(), 2.34, 1e-9);
  EXPECT_EQ(j["talkgroups"][0]["last_source"], "N0CALL");
}

TEST(Reporting, AnEndWithoutItsStartStillMakesACompleteRecord) {
  auto r = MustStart(Settings());
  ASSERT_NE(r, nullptr);
  // A lost stream ends stream_lost_after (5 s) after its last frame.
  const route::Event s = Start(0xA2, 3120002, 3100, route::kTs1, 0);
  const route::TimeNs at = kT0 + 20 * kSec;
  r->OnStreamEvent(End(s, route::EventType::kStreamLost, route::StreamEnd::kTimeout, 11, at), at,
                   nullptr);
  ASSERT_EQ(r->lastheard().size(), 1u);
  const report::CallRecord& call = *r->lastheard()[0];
  EXPECT_TRUE(call.ended);
  EXPECT_EQ(call.end_reason, CallEndReason::kTimeout);
  EXPECT_EQ(call.frames, 11u);
  EXPECT_EQ(call.start_mono_ns, static_cast<int64_t>(at - 5 * kSec - 600 * kMs));
  EXPECT_EQ(call.dst, 3100u);
  EXPECT_EQ(call.slot, report::Slot::kTs1);
}

TEST(Reporting, MaxAgeAndDataAndPrivateCallsAreNamed) {
  auto r = MustStart(Settings());
  ASSERT_NE(r, nullptr);
  route::Event s = Start(0xA3, 3120003, 91, route::kTs2, kT0);
  r->OnStreamEvent(s, kT0, nullptr);
  r->OnStreamEvent(
      End(s, route::EventType::kStreamLost, route::StreamEnd::kMaxAge, 50, kT0 + 9 * kSec),
      kT0 + 9 * kSec, nullptr);
  EXPECT_EQ(r->lastheard()[0]->end_reason, CallEndReason::kMaxAge);
  route::Event d = Start(0xA4, 3120003, 3120999, route::kTs2, kT0 + 10 * kSec);
  d.data = 1;
  d.call_type = 1;
  r->OnStreamEvent(d, kT0 + 10 * kSec, nullptr);
  EXPECT_EQ(r->lastheard()[0]->type, CallType::kUnitData);
  route::Event p = Start(0xA5, 3120004, 4000, route::kTs2, kT0 + 11 * kSec);
  p.call_type = 1;
  r->OnStreamEvent(p, kT0 + 11 * kSec, nullptr);
  EXPECT_EQ(r->lastheard()[0]->type, CallType::kPrivateVoice);
  EXPECT_EQ(r->LastheardJson(10)["talkgroups"].size(), 1u) << "only group calls are talkgroups";
}

TEST(Reporting, AStartOnTheSameSlotSupersedesACallWhoseEndDoesNotCome) {
  auto r = MustStart(Settings());
  ASSERT_NE(r, nullptr);
  const route::Event a = Start(0xB1, 3120001, 91, route::kTs2, kT0);
  r->OnStreamEvent(a, kT0, nullptr);
  // The next call of the client arrives first (another shard); the end of `a` 20 ms later.
  const route::Event b = Start(0xB2, 3120001, 91, route::kTs2, kT0 + 2 * kSec);
  r->OnStreamEvent(b, kT0 + 2 * kSec, nullptr);
  r->OnStreamEvent(End(a, route::EventType::kStreamEnded, route::StreamEnd::kTerminator, 30,
                       kT0 + 2 * kSec - 1 * kMs),
                   kT0 + 2 * kSec + 20 * kMs, nullptr);
  r->Tick(kT0 + 4 * kSec, 1, false, 1, {});
  ASSERT_EQ(r->lastheard().size(), 2u);
  EXPECT_EQ(r->lastheard()[1]->end_reason, CallEndReason::kTerminator) << "its end came in time";

  // `b`'s terminator is lost; a third call starts on the slot and nothing ends `b` in time.
  const route::Event c = Start(0xB3, 3120001, 91, route::kTs2, kT0 + 5 * kSec);
  r->OnStreamEvent(c, kT0 + 5 * kSec, nullptr);
  r->Tick(kT0 + 5 * kSec + 500 * kMs, 1, false, 1, {});
  EXPECT_FALSE(r->lastheard()[1]->ended) << "within the grace period";
  r->Tick(kT0 + 6 * kSec + 1 * kMs, 1, false, 1, {});
  const report::CallRecord& superseded = *r->lastheard()[1];
  EXPECT_EQ(superseded.stream_id, 0xB2u);
  EXPECT_EQ(superseded.end_reason, CallEndReason::kSuperseded);
  EXPECT_EQ(superseded.frames, 0u);
  // The shard's own end comes 5 s later: the counts, still superseded, no second entry.
  r->OnStreamEvent(
      End(b, route::EventType::kStreamLost, route::StreamEnd::kTimeout, 25, kT0 + 10 * kSec),
      kT0 + 10 * kSec, nullptr);
  ASSERT_EQ(r->lastheard().size(), 3u);
  EXPECT_EQ(r->lastheard()[1]->frames, 25u);
  EXPECT_EQ(r->lastheard()[1]->end_reason, CallEndReason::kSuperseded);
  EXPECT_EQ(r->live_calls(), 1u);
}

TEST(Reporting, ACallWhoseEndNeverComesIsLostAndTheHubsStopEndsTheRest) {
  ReportingSettings s = Settings();
  s.call_lost_after = 60 * kSec;
  auto r = MustStart(s);
  ASSERT_NE(r, nullptr);
  r->OnStreamEvent(Start(0xC1, 3120001, 91, route::kTs2, kT0), kT0, nullptr);
  r->OnStreamEvent(Start(0xC2, 3120002, 92, route::kTs2, kT0 + 50 * kSec), kT0 + 50 * kSec,
                   nullptr);
  r->Tick(kT0 + 61 * kSec, 1, false, 2, {});
  EXPECT_EQ(r->live_calls(), 1u);
  EXPECT_EQ(r->lastheard()[1]->end_reason, CallEndReason::kLost);
  r->EndLiveCalls(CallEndReason::kDrain, kT0 + 62 * kSec);
  EXPECT_EQ(r->live_calls(), 0u);
  EXPECT_EQ(r->lastheard()[0]->end_reason, CallEndReason::kDrain);
  EXPECT_EQ(r->lastheard()[0]->duration_ns, static_cast<int64_t>(12 * kSec));
}

// A talkgroup is live while any call on it is: here a client's on TS1 and a later one on TS2
// that ends first.
TEST(Reporting, ATalkgroupStaysLiveUntilItsLastCallEnds) {
  auto r = MustStart(Settings());
  ASSERT_NE(r, nullptr);
  const auto live_91 = [&] {
    const nlohmann::json tgs = r->LastheardJson(10)["talkgroups"];
    EXPECT_EQ(tgs.size(), 1u);
    return tgs.empty() ? false : tgs[0]["live"].get<bool>();
  };
  const route::Event a = Start(0xA1, 3120001, 91, route::kTs1, kT0);
  const route::Event b = Start(0xB1, 3120002, 91, route::kTs2, kT0 + kSec);
  r->OnStreamEvent(a, kT0, nullptr);
  r->OnStreamEvent(b, kT0 + kSec, nullptr);
  EXPECT_TRUE(live_91());
  r->OnStreamEvent(
      End(b, route::EventType::kStreamEnded, route::StreamEnd::kTerminator, 10, kT0 + 2 * kSec),
      kT0 + 2 * kSec, nullptr);
  EXPECT_TRUE(live_91()) << "the first call is still on the air";
  r->OnStreamEvent(
      End(a, route::EventType::kStreamEnded, route::StreamEnd::kTerminator, 60, kT0 + 4 * kSec),
      kT0 + 4 * kSec, nullptr);
  EXPECT_FALSE(live_91());
}

TEST(Reporting, LastheardAndTalkgroupsAreBoundedAndReloadTrimsThem) {
  auto r = MustStart(Settings());  // 5 calls, 3 talkgroups
  ASSERT_NE(r, nullptr);
  for (uint32_t i = 0; i < 8; ++i) {
    const route::TimeNs t = kT0 + i * kSec;
    const route::Event s = Start(0xD0 + i, 3120001 + i, 100 + i, route::kTs2, t);
    r->OnStreamEvent(s, t, nullptr);
    r->OnStreamEvent(
        End(s, route::EventType::kStreamEnded, route::StreamEnd::kTerminator, 5, t + 300 * kMs),
        t + 300 * kMs, nullptr);
  }
  ASSERT_EQ(r->lastheard().size(), 5u);
  EXPECT_EQ(r->lastheard()[0]->stream_id, 0xD7u) << "newest first";
  EXPECT_EQ(r->lastheard()[4]->stream_id, 0xD3u);
  nlohmann::json j = r->LastheardJson(100);
  ASSERT_EQ(j["talkgroups"].size(), 3u);
  EXPECT_EQ(j["talkgroups"][0]["tg"], 107) << "most recently active first";
  EXPECT_EQ(j["talkgroups"][2]["tg"], 105);
  // A talkgroup heard again moves to the front and keeps its count.
  const route::Event again = Start(0xE0, 3120009, 105, route::kTs2, kT0 + 20 * kSec);
  r->OnStreamEvent(again, kT0 + 20 * kSec, nullptr);
  j = r->LastheardJson(100);
  EXPECT_EQ(j["talkgroups"][0]["tg"], 105);
  EXPECT_EQ(j["talkgroups"][0]["calls"], 2);
  EXPECT_EQ(j["talkgroups"][0]["live"], true);
  EXPECT_EQ(r->LastheardJson(2)["lastheard"].size(), 2u);

  ReportingSettings smaller = Settings();
  smaller.report.lastheard_size = 2;
  smaller.report.talkgroups_size = 1;
  ASSERT_TRUE(r->Reconfigure(smaller, kT0 + 21 * kSec).ok());
  EXPECT_EQ(r->lastheard().size(), 2u);
  EXPECT_EQ(r->LastheardJson(100)["talkgroups"].size(), 1u);
}

// A reload the feed cannot take (more systems than the message limit holds) is refused: the
// surfaces keep serving with their previous settings instead of stopping.
TEST(Reporting, AReportReloadTheSurfacesCannotTakeKeepsThemAsTheyWere) {
  ReportingSettings s = Settings();
  s.report.feed = "127.0.0.1:0";
  s.report.feed_json = "127.0.0.1:0";
  auto r = MustStart(s);
  ASSERT_NE(r, nullptr);
  ASSERT_NE(r->hub(), nullptr);

  ReportingSettings too_small = s;
  too_small.report.feed_systems = 10000;
  too_small.report.feed_max_message = 4096;
  too_small.report.lastheard_size = 2;
  const absl::Status st = r->Reconfigure(too_small, kT0 + kSec);
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), testing::HasSubstr("more than the dashboard's message"));
  EXPECT_THAT(std::string(st.message()), testing::HasSubstr("keep their settings"));
  ASSERT_NE(r->hub(), nullptr) << "the surfaces were stopped";
  ASSERT_NE(r->hub()->feed(), nullptr);
  ASSERT_NE(r->hub()->feed_json(), nullptr);
  FeedReader feed(r->hub()->feed_json()->port());
  ASSERT_TRUE(feed.connected());
  EXPECT_TRUE(feed.WaitFor("config", [](const nlohmann::json&) { return true; }));
  FeedReader pickle(r->hub()->feed()->port());
  EXPECT_TRUE(pickle.connected());

  // A value they can take goes through.
  ReportingSettings fewer = s;
  fewer.report.feed_systems = 10;
  EXPECT_TRUE(r->Reconfigure(fewer, kT0 + 2 * kSec).ok());
}

TEST(Reporting, CallsClientsAndPeersReachTheJsonFeedAndTheApi) {
  ReportingSettings s = Settings();
  s.report.feed_json = "127.0.0.1:0";
  s.report.http = "127.0.0.1:0";
  auto r = MustStart(s);
  ASSERT_NE(r, nullptr);
  ASSERT_NE(r->hub(), nullptr);
  ASSERT_NE(r->hub()->feed_json(), nullptr);
  FeedReader feed(r->hub()->feed_json()->port());
  ASSERT_TRUE(feed.connected());
  ASSERT_TRUE(feed.WaitFor("config", [](const nlohmann::json&) { return true; }))
      << "a snapshot at connect";

  ClientRecord c;
  c.id = 3120001;
  c.callsign = "N0CALL";
  c.addr = route::Endpoint{0x7F000001, 40001};
  r->OnClientUp(c, kT0);
  const route::Event st = Start(0xF1, 3120001, 91, route::kTs2, kT0 + kSec);
  r->OnStreamEvent(st, kT0 + kSec, nullptr);
  r->OnStreamEvent(
      End(st, route::EventType::kStreamEnded, route::StreamEnd::kTerminator, 20, kT0 + 3 * kSec),
      kT0 + 3 * kSec, nullptr);
  r->OnClientDown(3120001, "lost", kT0 + 4 * kSec);

  auto login = feed.WaitFor("repeater_connected", [](const nlohmann::json& j) {
    return j.value("radio_id", 0u) == 3120001u;
  });
  ASSERT_TRUE(login.has_value());
  auto start = feed.WaitFor(
      "stream_start", [](const nlohmann::json& j) { return j.value("stream_id", 0u) == 0xF1u; });
  ASSERT_TRUE(start.has_value());
  auto end = feed.WaitFor(
      "stream_end", [](const nlohmann::json& j) { return j.value("stream_id", 0u) == 0xF1u; });
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ((*end)["dmrswitch"]["frames"], 20) << end->dump();
  EXPECT_EQ((*end)["dmrswitch"]["end_reason"], "terminator");
  auto lost = feed.WaitFor("repeater_disconnected", [](const nlohmann::json& j) {
    return j.value("radio_id", 0u) == 3120001u;
  });
  ASSERT_TRUE(lost.has_value());
  EXPECT_EQ((*lost)["reason"], "keepalive_timeout");

  // The API: the view goes out on the next tick (at most 100 ms after a change).
  r->Tick(kT0 + 5 * kSec, 7, false, 0, [] { return std::vector<report::NamedCounter>{}; });
  httplib::Client http("127.0.0.1", r->http_port());
  http.set_read_timeout(5, 0);
  auto res = http.Get("/api/v1/lastheard?limit=1");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  const nlohmann::json api = nlohmann::json::parse(res->body);
  ASSERT_EQ(api["lastheard"].size(), 1u);
  EXPECT_EQ(api["lastheard"][0]["stream_id"], 0xF1);
  EXPECT_EQ(api["lastheard"][0]["frames"], 20);
  EXPECT_EQ(api["lastheard"][0]["source"]["callsign"], "N0CALL");
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics->body.find("dmrswitch_calls_total{type=\"group_voice\"} 1"), std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("dmrswitch_snapshot_generation 7"), std::string::npos);
  auto missing = http.Get("/nowhere");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  auto post = http.Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_NE(post->status, 200) << "read-only";
}

// A reload that changes hbp.ping_time_s, max_missed, group_hangtime_s or single_mode shows in
// the feeds' next snapshot, without restarting them (the dashboards stay connected).
TEST(Reporting, AReloadOfTheHbpTimersShowsInTheFeedsWithoutRestartingThem) {
  ReportingSettings s = Settings();
  s.report.feed_json = "127.0.0.1:0";
  auto r = MustStart(s);
  ASSERT_NE(r, nullptr);
  ASSERT_NE(r->hub(), nullptr);
  ASSERT_NE(r->hub()->feed_json(), nullptr);
  const uint16_t port = r->hub()->feed_json()->port();
  const auto config_at_connect = [&] {
    FeedReader feed(port);
    EXPECT_TRUE(feed.connected());
    return feed.WaitFor("config", [](const nlohmann::json&) { return true; });
  };
  std::optional<nlohmann::json> before = config_at_connect();
  ASSERT_TRUE(before.has_value());
  EXPECT_EQ((*before)["ping_time"], 10);
  EXPECT_EQ((*before)["max_missed"], 3);
  EXPECT_EQ((*before)["systems"]["HBP"]["GROUP_HANGTIME"], 5);

  ReportingSettings reloaded = s;
  reloaded.ping_time_s = 5;
  reloaded.max_missed = 6;
  reloaded.group_hangtime_s = 2;
  ASSERT_TRUE(r->Reconfigure(reloaded, kT0 + kSec).ok());
  EXPECT_EQ(r->hub()->feed_json()->port(), port) << "the surfaces were not restarted";
  ASSERT_TRUE(r->StateDue(kT0 + 2 * kSec));
  r->SetState(report::HubState{}, kT0 + 2 * kSec);
  std::optional<nlohmann::json> after = config_at_connect();
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ((*after)["ping_time"], 5);
  EXPECT_EQ((*after)["max_missed"], 6);
  EXPECT_EQ((*after)["systems"]["HBP"]["GROUP_HANGTIME"], 2);
}

// GET `path` on the reporting component's API: status and parsed body (null if not JSON).
std::pair<int, nlohmann::json> ApiGet(const Reporting& r, const std::string& path) {
  httplib::Client http("127.0.0.1", r.http_port());
  http.set_read_timeout(5, 0);
  auto res = http.Get(path);
  if (!res) return {0, nullptr};
  return {res->status, nlohmann::json::parse(res->body, nullptr, false)};
}

TEST(Reporting, TheApiPagesClientsFiltersLastheardAndAnswersErrorsInJson) {
  ReportingSettings s = Settings();
  s.report.http = "127.0.0.1:0";  // the API alone: no feed, no MQTT
  s.report.lastheard_size = 50;
  auto r = MustStart(s);
  ASSERT_NE(r, nullptr);
  ASSERT_TRUE(r->StateDue(kT0 + 20 * kSec)) << "the API needs the clients' state too";
  report::HubState state;
  for (uint32_t id : {3120005u, 3120001u, 3120003u}) {
    report::ClientView c;
    c.id = id;
    c.callsign = absl::StrCat("C", id);
    c.talkgroups = {{.tg = 91, .slot = report::Slot::kTs1},
                    {.tg = id, .slot = report::Slot::kTs2, .dynamic = true}};
    state.clients.push_back(c);
  }
  r->SetState(state, kT0);
  const route::Event a = Start(0xA1, 3120001, 91, route::kTs1, kT0 + kSec);  // rf_src 3121001
  r->OnStreamEvent(a, kT0 + kSec, nullptr);
  r->OnStreamEvent(
      End(a, route::EventType::kStreamEnded, route::StreamEnd::kTerminator, 20, kT0 + 2 * kSec),
      kT0 + 2 * kSec, nullptr);
  const route::Event b = Start(0xB2, 3120003, 92, route::kTs2, kT0 + 3 * kSec);  // still live
  r->OnStreamEvent(b, kT0 + 3 * kSec, nullptr);
  r->Tick(kT0 + 4 * kSec, 9, false, 3, [] { return std::vector<report::NamedCounter>{}; });

  // Clients by ID, a page at a time.
  auto [status, page] = ApiGet(*r, "/api/v1/clients?offset=1&limit=1");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(page["total"], 3);
  EXPECT_EQ(page["offset"], 1);
  ASSERT_EQ(page["clients"].size(), 1u) << page.dump();
  EXPECT_EQ(page["clients"][0]["id"], 3120003);
  EXPECT_EQ(ApiGet(*r, "/api/v1/clients?offset=3").second["clients"].size(), 0u);
  EXPECT_EQ(ApiGet(*r, "/api/v1/clients/3120005").second["client"]["callsign"], "C3120005");
  EXPECT_EQ(ApiGet(*r, "/api/v1/clients/3120002").first, 404);
  EXPECT_EQ(ApiGet(*r, "/api/v1/clients/3120002").second["error"],
            "client 3120002 is not logged in");

  // A talkgroup's members and activity.
  const nlohmann::json tg91 = ApiGet(*r, "/api/v1/talkgroups/91").second;
  EXPECT_EQ(tg91["members"].size(), 3u) << tg91.dump();
  EXPECT_EQ(tg91["activity"]["calls"], 1);
  const nlohmann::json tg7 = ApiGet(*r, "/api/v1/talkgroups/3120003").second;
  ASSERT_EQ(tg7["members"].size(), 1u) << tg7.dump();
  EXPECT_EQ(tg7["members"][0]["dynamic"], true);
  EXPECT_TRUE(tg7["activity"].is_null());

  // Live calls; lastheard filtered by TG, by ID (radio or client) and by start time.
  const nlohmann::json live = ApiGet(*r, "/api/v1/calls").second;
  ASSERT_EQ(live["calls"].size(), 1u) << live.dump();
  EXPECT_EQ(live["calls"][0]["stream_id"], 0xB2);
  auto count = [&](const std::string& q) {
    return ApiGet(*r, "/api/v1/lastheard" + q).second["lastheard"].size();
  };
  EXPECT_EQ(count(""), 2u);
  EXPECT_EQ(count("?tg=91"), 1u);
  EXPECT_EQ(count("?tg=93"), 0u);
  EXPECT_EQ(count("?id=3121001"), 1u);  // the radio
  EXPECT_EQ(count("?id=3120003"), 1u);  // the client
  EXPECT_EQ(count("?since=4000000000"), 0u);
  EXPECT_EQ(count("?since=0&limit=1"), 1u);

  // The hub, and the index of paths.
  const nlohmann::json hub = ApiGet(*r, "/api/v1/hub").second;
  EXPECT_EQ(hub["hub"]["snapshot_generation"], 9);
  EXPECT_EQ(hub["clients"], 3);
  EXPECT_EQ(hub["live_calls"], 1);
  EXPECT_EQ(hub["calls_total"]["group_voice"], 2);
  EXPECT_EQ(ApiGet(*r, "/api/v1").second["endpoints"].size(), ReportHttp::ApiPaths().size());
  const nlohmann::json counters = ApiGet(*r, "/api/v1/counters").second;
  EXPECT_FALSE(counters["counters"].empty()) << counters.dump();

  // Malformed parameters are 400, unknown API paths 404, both with a JSON error.
  for (const char* bad :
       {"/api/v1/lastheard?limit=abc", "/api/v1/lastheard?tg=-1", "/api/v1/clients?offset=1x",
        "/api/v1/talkgroups?limit=", "/api/v1/lastheard?since=99999999999999999999999"}) {
    auto [code, body] = ApiGet(*r, bad);
    EXPECT_EQ(code, 400) << bad;
    EXPECT_TRUE(body.contains("error")) << bad << ": " << body.dump();
  }
  auto [code, body] = ApiGet(*r, "/api/v1/nothing");
  EXPECT_EQ(code, 404);
  EXPECT_TRUE(body.contains("error")) << body.dump();
  EXPECT_EQ(ApiGet(*r, "/api/v1/clients/99999999999").first, 404);  // 11 digits: no route
}

TEST(Reporting, ACallFromAPeerIsNamedByThePeer) {
  auto r = MustStart(Settings());
  ASSERT_NE(r, nullptr);
  route::PeerSpec p;
  p.name = "peer-a";
  p.network_id = 310998;
  p.version = 5;
  p.passphrase = "k";
  p.target = route::Endpoint{0x7F000001, 62036};
  ObpLinks links({p});
  r->OnPeers(links, kT0);
  // FBP peers start dead until heard; a v1 peer would be up at once.
  const route::Event s = [&] {
    route::Event e = Start(0x11, 310998, 91, route::kTs1, kT0 + kSec);
    e.source = route::SystemRef::Peer(0);
    return e;
  }();
  r->OnStreamEvent(s, kT0 + kSec, nullptr);
  EXPECT_EQ(r->lastheard()[0]->source.kind, report::CallSource::Kind::kPeer);
  EXPECT_EQ(r->lastheard()[0]->source.peer_name, "peer-a");
  EXPECT_EQ(r->lastheard()[0]->source.network_id, 310998u);
}

// What the dashboards, the API and the feeds are told about a client's talkgroups: its static
// on each slot, a user-activated TG with its timer, and single mode's suspension of the static
// while the UA TG holds the slot — listed as switched off until the suspension ends, not as
// subscribed (the client hears nothing on it).
TEST(MakeHubState, AStaticThatSingleModeSwitchedOffIsListedAsSuspendedUntilItComesBack) {
  constexpr uint32_t kId = 3120001;
  constexpr int64_t kWall = 1'700'000'000 * kSec;  // wall clock minus monotonic
  HbpAuthSettings auth_settings;
  auth_settings.passphrase = "passw0rd";
  HbpAuth auth(auth_settings);
  ClientRecord rec;
  rec.id = kId;
  rec.slot = kId % 1000;
  rec.addr = route::Endpoint{0x7F000001u, 40001};
  rec.callsign = "N0CALL";
  auth.Restore({rec});
  SubscriptionSettings sub_settings;
  sub_settings.single_mode = true;
  sub_settings.default_ua_timer = 600 * kSec;
  sub_settings.statics[kId] = TgsBySlot{std::vector<uint32_t>{91}, std::vector<uint32_t>{3100}};
  Subscriptions subs(sub_settings);
  subs.OnClientUp(kId, rec.slot, 3, kT0);
  ObpLinks links(std::vector<route::PeerSpec>{});

  const auto talkgroups_at = [&](route::TimeNs /*at: the state is the subscriptions'*/) {
    report::HubState s =
        MakeHubState(report::HubView{}, auth, subs, links, ClientActivity{}, kWall);
    EXPECT_EQ(s.clients.size(), 1u);
    return s.clients.empty() ? std::vector<report::TalkgroupSubscription>{}
                             : s.clients[0].talkgroups;
  };
  std::vector<report::TalkgroupSubscription> tgs = talkgroups_at(kT0);
  ASSERT_EQ(tgs.size(), 2u);
  EXPECT_FALSE(tgs[0].suspended);
  EXPECT_FALSE(tgs[1].suspended);

  // The client keys up on 2345 on TS2: the shard asks for the activation, the call starts.
  route::Event ask = Start(0x21, kId, 2345, route::kTs2, kT0 + kSec);
  ask.type = route::EventType::kSubscriptionRequest;
  ask.action = route::SubscriptionAction::kActivateUa;
  subs.OnEvent(ask, kT0 + kSec);
  subs.OnEvent(Start(0x21, kId, 2345, route::kTs2, kT0 + kSec), kT0 + kSec);
  tgs = talkgroups_at(kT0 + 2 * kSec);
  ASSERT_EQ(tgs.size(), 3u);
  EXPECT_EQ(tgs[0].tg, 91u);
  EXPECT_FALSE(tgs[0].suspended) << "single mode keeps the other slot's statics";
  EXPECT_EQ(tgs[1].tg, 3100u);
  EXPECT_EQ(tgs[1].slot, report::Slot::kTs2);
  EXPECT_FALSE(tgs[1].dynamic);
  EXPECT_TRUE(tgs[1].suspended);
  EXPECT_EQ(tgs[1].suspended_until_unix_ns, kWall + kT0 + kSec + 600 * kSec);
  EXPECT_EQ(tgs[2].tg, 2345u);
  EXPECT_TRUE(tgs[2].dynamic);
  EXPECT_FALSE(tgs[2].suspended);

  report::ClientView view;
  view.talkgroups = tgs;
  const nlohmann::json j = report::ToJson(view)["talkgroups"];
  EXPECT_EQ(j[0]["suspended"], false);
  EXPECT_FALSE(j[0].contains("suspended_until"));
  EXPECT_EQ(j[1]["suspended"], true);
  EXPECT_DOUBLE_EQ(j[1]["suspended_until"].get<double>(),
                   static_cast<double>(kWall + kT0 + 601 * kSec) / 1e9);
  EXPECT_EQ(j[2]["suspended"], false);

  // The UA timer runs out: 2345 goes and 3100 is back.
  subs.Expire(kT0 + 602 * kSec);
  tgs = talkgroups_at(kT0 + 602 * kSec);
  ASSERT_EQ(tgs.size(), 2u);
  EXPECT_EQ(tgs[1].tg, 3100u);
  EXPECT_FALSE(tgs[1].suspended);
}

// A simplex hotspot (RPTC slots '4': TS2 only) with statics on both slots: the hub routes it
// nothing on TS1, and nothing on TS1 is listed for it.
TEST(MakeHubState, NothingIsListedOnATimeslotTheClientDidNotDeclare) {
  constexpr uint32_t kId = 3120002;
  HbpAuthSettings auth_settings;
  auth_settings.passphrase = "passw0rd";
  HbpAuth auth(auth_settings);
  ClientRecord rec;
  rec.id = kId;
  rec.slot = 2;
  rec.addr = route::Endpoint{0x7F000001u, 40002};
  rec.slots = '4';
  rec.slot_mask = 2;
  auth.Restore({rec});
  SubscriptionSettings sub_settings;
  sub_settings.statics[kId] = TgsBySlot{std::vector<uint32_t>{91}, std::vector<uint32_t>{3100}};
  Subscriptions subs(sub_settings);
  subs.OnClientUp(kId, rec.slot, rec.slot_mask, kT0);
  ObpLinks links(std::vector<route::PeerSpec>{});
  const report::HubState s =
      MakeHubState(report::HubView{}, auth, subs, links, ClientActivity{}, 0);
  ASSERT_EQ(s.clients.size(), 1u);
  ASSERT_EQ(s.clients[0].talkgroups.size(), 1u);
  EXPECT_EQ(s.clients[0].talkgroups[0].tg, 3100u);
  EXPECT_EQ(s.clients[0].talkgroups[0].slot, report::Slot::kTs2);
}

// A client's last ping, pings received and last heard are the keepalives its shard answered and
// the calls it sourced, for its current session only; before the first report its login stands
// for the last ping. (They used to be the time the state was built, and 0 pings, always.)
TEST(MakeHubState, ClientsShowTheKeepalivesTheirShardAnswered) {
  constexpr uint32_t kId = 3120003;
  constexpr int64_t kWall = 1'700'000'000 * kSec;
  const route::Endpoint kAddr{0x7F000001u, 40003};
  HbpAuthSettings auth_settings;
  auth_settings.passphrase = "passw0rd";
  HbpAuth auth(auth_settings);
  ClientRecord rec;
  rec.id = kId;
  rec.slot = 1;
  rec.addr = kAddr;
  rec.logged_in_at = kT0;
  auth.Restore({rec});
  Subscriptions subs(SubscriptionSettings{});
  subs.OnClientUp(kId, rec.slot, 3, kT0);
  ObpLinks links(std::vector<route::PeerSpec>{});
  ClientActivity activity;
  const auto client = [&] {
    const report::HubState s = MakeHubState(report::HubView{}, auth, subs, links, activity, kWall);
    EXPECT_EQ(s.clients.size(), 1u);
    return s.clients.empty() ? report::ClientView{} : s.clients[0];
  };

  report::ClientView c = client();
  EXPECT_EQ(c.last_ping_unix_ns, kWall + kT0) << "no keepalive reported yet: the login";
  EXPECT_EQ(c.last_heard_unix_ns, kWall + kT0);
  EXPECT_EQ(c.pings_received, 0u);

  // A report about an earlier session (before this login, or from another address) is not this
  // one's.
  activity.OnPings(ipc::ClientPings{1, kId, kT0 - 5 * kSec, 40, kAddr});
  EXPECT_EQ(client().pings_received, 0u);
  activity.OnPings(ipc::ClientPings{1, kId, kT0 + 5 * kSec, 7, route::Endpoint{0x7F000001u, 1}});
  EXPECT_EQ(client().pings_received, 0u);

  activity.OnPings(ipc::ClientPings{1, kId, kT0 + 10 * kSec, 2, kAddr});
  c = client();
  EXPECT_EQ(c.last_ping_unix_ns, kWall + kT0 + 10 * kSec);
  EXPECT_EQ(c.last_heard_unix_ns, kWall + kT0 + 10 * kSec);
  EXPECT_EQ(c.pings_received, 2u);

  // A call it sourced is heard; an older one does not move last_heard back.
  activity.OnHeard(kId, kT0 + 14 * kSec);
  activity.OnHeard(kId, kT0 + 12 * kSec);
  c = client();
  EXPECT_EQ(c.last_ping_unix_ns, kWall + kT0 + 10 * kSec);
  EXPECT_EQ(c.last_heard_unix_ns, kWall + kT0 + 14 * kSec);
  activity.OnPings(ipc::ClientPings{1, kId, kT0 + 20 * kSec, 3, kAddr});
  c = client();
  EXPECT_EQ(c.last_heard_unix_ns, kWall + kT0 + 20 * kSec);
  EXPECT_EQ(c.pings_received, 3u);

  // A client that logged out is forgotten.
  activity.KeepOnly([](uint32_t id) { return id != kId; });
  EXPECT_EQ(activity.size(), 0u);
}

}  // namespace
}  // namespace dmrswitch::cp
