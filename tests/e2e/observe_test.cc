// End to end: what an operator sees of a running hub (issue 11). A real dmrswitch-dp (kernel
// mode, hosted control plane) with every surface of [report] on, a real mosquitto, real
// prometheus/promtool, the dashboards' decoders (Python's pickle and a Twisted-rules netstring
// reader; asyncio's readline for HBlink3 v3's feed) and DPDK's dpdk-telemetry.py:
//   * a call made by simulated hotspots shows up in lastheard (API and dmrswitch-ctl), /metrics,
//     MQTT, both feeds and the telemetry socket within a second of its last frame;
//   * a real prometheus scrapes the hub and answers queries; promtool accepts the page;
//   * dmrswitch-ctl stats/errors name the shards' counters, and garbage shows as errors;
//   * systemd's notify protocol: READY=1 once the listeners answer, STATUS=, WATCHDOG=1 from the
//     loop (and not while the process is stopped), STOPPING=1;
//   * a stalled consumer — a SIGSTOPped broker, a dashboard that stops reading, scrapes during a
//     burst — costs a live call no frame, and what could not be delivered is counted.

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "dataplane/proto/hbp.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/hub_process.h"
#include "tests/e2e/observe_helpers.h"
#include "tests/e2e/routing_helpers.h"
#include "tests/report/mqtt_support.h"
#include "tests/report/python_decoder.h"
#include "tests/report/test_support.h"
#include "tools/sim/dmr_calls.h"
#include "tools/sim/hbp_client.h"
#include "tools/sim/udp.h"

namespace dmrswitch::e2e {
namespace {

using cp::report::testing::Broker;
using cp::report::testing::Child;
using cp::report::testing::DecoderPath;
using cp::report::testing::FreeLoopbackPort;
using cp::report::testing::ReadFile;
using cp::report::testing::Subscriber;
using cp::report::testing::TempDir;
using cp::report::testing::WaitUntil;
using nlohmann::json;

constexpr uint32_t kServerId = 310999;
constexpr uint32_t kTalker = 3120001;
constexpr uint32_t kListener = 3120002;
constexpr uint32_t kRfSrc = 3121001;

// The JSON lines a decoder child wrote so far.
std::vector<json> Lines(const std::string& path) {
  std::vector<json> out;
  const std::string text = ReadFile(path);
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) break;  // a line still being written
    json j = json::parse(text.substr(pos, eol - pos), nullptr, false);
    if (!j.is_discarded()) out.push_back(std::move(j));
    pos = eol + 1;
  }
  return out;
}

std::string Hex8(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof(b), "%08x", v);
  return b;
}

class ObserveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    broker_ = std::make_unique<Broker>(dir_);
    ASSERT_TRUE(broker_->Start()) << "mosquitto is not installed (tools/install-deps.sh)";
    port_ = FreeUdpPort();
    http_ = FreeLoopbackPort();
    feed_ = FreeLoopbackPort();
    feed_json_ = FreeLoopbackPort();
    ctl_ = dir_.File("ctl.sock");
    cp::report::testing::WriteFile(dir_.File("api.token"), "observe-test-token-0123456789\n");
    ::chmod(dir_.File("api.token").c_str(), 0600);
  }

  std::string Toml(const std::string& hbp_extra = "", const std::string& tail = "") const {
    return absl::StrCat(R"([hub]
server_id = )",
                        kServerId, R"(
mode = "kernel"
shards = 2
control_plane = "hosted"
status_interval_s = 1
ctl_socket = ")",
                        ctl_, R"("

[hbp]
listen = "127.0.0.1:)",
                        port_, R"("
passphrase = "passw0rd"
)",
                        hbp_extra, R"(

[report]
http = "127.0.0.1:)",
                        http_, R"("
feed = "127.0.0.1:)",
                        feed_, R"("
feed_json = "127.0.0.1:)",
                        feed_json_, R"("
mqtt = "127.0.0.1:)",
                        broker_->port(), R"("
lastheard_size = 50
api_token_file = ")",
                        dir_.File("api.token"), R"("
api_options_file = ")",
                        dir_.File("api-options.json"), R"("
)",
                        tail, "\n");
  }

  void StartTheHub(const std::string& hbp_extra = "") {
    ASSERT_NO_FATAL_FAILURE(StartHub(Toml(hbp_extra), &hub_));
    prefix_ = TelemetryPrefix(hub_->Log());
    ASSERT_FALSE(prefix_.empty()) << hub_->Log();
  }

  std::string Metrics() const { return HttpGet(http_, "/metrics"); }

  TempDir dir_;
  std::unique_ptr<Broker> broker_;
  std::unique_ptr<HubProcess> hub_;
  uint16_t port_ = 0, http_ = 0, feed_ = 0, feed_json_ = 0;
  std::string ctl_;
  std::string prefix_;
};

TEST_F(ObserveTest, ACallShowsUpOnEverySurfaceWithinASecond) {
  ASSERT_NO_FATAL_FAILURE(StartTheHub());
  ClientSet clients(port_);
  sim::HbpClient* talker = clients.Add(kTalker);
  sim::HbpClient* listener = clients.Add(kListener, "TS2=3100");
  clients.Settle(absl::Seconds(1));  // the dashboards' state includes both (at most 1 s)

  // The consumers, connected before the call: both feeds through the dashboards' decoders, an
  // MQTT subscriber.
  Child pickle, ndjson;
  ASSERT_TRUE(pickle.Start(
      {"python3", DecoderPath(), "netstrings-tcp", std::to_string(feed_), "100000", "60"},
      dir_.File("feed.out"), dir_.File("feed.err")));
  ASSERT_TRUE(ndjson.Start(
      {"python3", DecoderPath(), "ndjson-tcp", std::to_string(feed_json_), "100000", "60"},
      dir_.File("ndjson.out"), dir_.File("ndjson.err")));
  Subscriber mqtt(broker_->port(), absl::StrCat("dmrswitch/", kServerId, "/#"));
  ASSERT_TRUE(WaitUntil([&] { return mqtt.subscribed() > 0; }, std::chrono::seconds(10)));
  // Snapshot at connect: the HBlink feed's CONFIG_SND with both clients in their systems.
  json config;
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const json& m : Lines(dir_.File("feed.out"))) {
          if (m.value("opcode", 0) == 1) config = m;
        }
        return !config.is_null();
      },
      std::chrono::seconds(10)))
      << ReadFile(dir_.File("feed.err"));
  std::vector<std::string> text;
  cp::report::testing::CollectText(config["value"], &text);
  for (const std::string& t : text) EXPECT_EQ(t.find("passw0rd"), std::string::npos) << t;
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const json& l : Lines(dir_.File("ndjson.out"))) {
          if (l.contains("event") && l["event"].value("type", "") == "config") return true;
        }
        return false;
      },
      std::chrono::seconds(10)));

  // The talker's radio sends its alias during the call, which MMDVMHost forwards as DMRA side
  // packets: ISO 8859-1, 10 characters, "PD0ZRY" in the header block and " Joe" in block 1.
  const uint32_t id = talker->StartVoiceCall(GroupCall(3100, 2, kRfSrc, absl::Milliseconds(60), 2));
  clients.PollFor(absl::Milliseconds(300));
  const std::array<std::array<uint8_t, 7>, 2> alias = {{
      {(1 << 6) | (10 << 1), 'P', 'D', '0', 'Z', 'R', 'Y'},
      {' ', 'J', 'o', 'e', 0, 0, 0},
  }};
  for (uint8_t block = 0; block < alias.size(); ++block) {
    proto::Dmra a;
    a.rf_src = kRfSrc;
    a.block = block;
    a.alias = alias[block];
    std::vector<uint8_t> bytes(proto::kDmraBytes);
    ASSERT_EQ(proto::EncodeDmra(a, bytes), proto::kDmraBytes);
    ASSERT_TRUE(talker->SendRaw(bytes).ok());
  }
  ASSERT_TRUE(clients.FinishTransmissions());
  const absl::Time last_frame = absl::Now();

  // Each surface, and when it first showed the ended call.
  enum Surface { kApi, kCtl, kMetrics, kMqtt, kFeed, kFeedJson, kTelemetry, kSurfaces };
  const char* kNames[] = {"api", "ctl", "metrics", "mqtt", "feed", "feed_json", "telemetry"};
  absl::Duration seen[kSurfaces];
  bool found[kSurfaces] = {};
  json api_call, ctl_call, mqtt_end, feed_end, json_end, telemetry_end;
  const auto done = [&] {
    for (bool f : found) {
      if (!f) return false;
    }
    return true;
  };
  const absl::Time deadline = last_frame + absl::Seconds(5);
  while (!done() && absl::Now() < deadline) {
    clients.PollFor(absl::Milliseconds(10));
    const auto mark = [&](Surface s) {
      if (!found[s]) {
        found[s] = true;
        seen[s] = absl::Now() - last_frame;
      }
    };
    if (!found[kApi]) {
      const json j = json::parse(HttpGet(http_, "/api/v1/lastheard?limit=5"), nullptr, false);
      if (j.is_object()) {
        for (const json& c : j["lastheard"]) {
          if (c["stream_id"] == id && c["live"] == false) {
            api_call = c;
            mark(kApi);
          }
        }
      }
    }
    if (!found[kCtl]) {
      const json j = CtlJson(ctl_, {"lastheard", "--limit", "5"});
      if (j.is_object()) {
        for (const json& c : j["lastheard"]) {
          if (c["stream_id"] == id && c["live"] == false) {
            ctl_call = c;
            mark(kCtl);
          }
        }
      }
    }
    if (!found[kMetrics]) {
      const std::string page = Metrics();
      if (MetricSum(page, "dmrswitch_streams_ended_total") >= 1 &&
          MetricSum(page, "dmrswitch_calls_total", "type=\"group_voice\"") >= 1) {
        mark(kMetrics);
      }
    }
    if (!found[kMqtt]) {
      for (const auto& m : mqtt.On(absl::StrCat("dmrswitch/", kServerId, "/call/end"))) {
        const json j = json::parse(m.payload, nullptr, false);
        if (j.is_object() && j["stream_id"] == id) {
          mqtt_end = j;
          mark(kMqtt);
        }
      }
    }
    if (!found[kFeed]) {
      const std::string end =
          absl::StrCat("GROUP VOICE,END,RX,HBP-001,", id, ",", kTalker, ",", kRfSrc, ",2,3100,");
      for (const json& m : Lines(dir_.File("feed.out"))) {
        if (m.value("opcode", 0) == 7 && m.value("text", "").rfind(end, 0) == 0) {
          feed_end = m;
          mark(kFeed);
        }
      }
    }
    if (!found[kFeedJson]) {
      for (const json& l : Lines(dir_.File("ndjson.out"))) {
        if (l.contains("event") && l["event"].value("type", "") == "stream_end" &&
            l["event"]["stream_id"] == id) {
          json_end = l["event"];
          mark(kFeedJson);
        }
      }
    }
    if (!found[kTelemetry]) {
      const json streams = TelemetryOne(prefix_, "/dmrswitch/streams", dir_.path());
      if (streams.is_object()) {
        for (const auto& [key, e] : streams.items()) {
          if (key.rfind("event_", 0) == 0 && e["stream_id"] == Hex8(id) && e["event"] == "ended") {
            telemetry_end = e;
            mark(kTelemetry);
          }
        }
      }
    }
  }
  for (int s = 0; s < kSurfaces; ++s) {
    ASSERT_TRUE(found[s]) << kNames[s] << " never showed the call\n" << hub_->Log();
    EXPECT_LE(seen[s], absl::Seconds(1)) << kNames[s] << " took " << seen[s];
    std::printf("%-10s showed the call %.0f ms after its last frame\n", kNames[s],
                absl::ToDoubleMilliseconds(seen[s]));
  }

  // What each said about it.
  for (const json* c : {&api_call, &ctl_call}) {
    EXPECT_EQ((*c)["frames"], VoiceFrames(2)) << c->dump();
    EXPECT_EQ((*c)["frames_lost"], 0);
    EXPECT_EQ((*c)["end_reason"], "terminator");
    EXPECT_EQ((*c)["dst"], 3100);
    EXPECT_EQ((*c)["rf_src"], kRfSrc);
    EXPECT_EQ((*c)["slot"], 2);
    EXPECT_EQ((*c)["type"], "group_voice");
    EXPECT_EQ((*c)["source"]["client_id"], kTalker);
    EXPECT_EQ((*c)["source"]["callsign"], "N0CALL");
    EXPECT_EQ((*c)["talker"], "PD0ZRY");  // the first word of the talker alias
    EXPECT_EQ((*c)["destinations"], 1);
    EXPECT_NEAR((*c)["duration"].get<double>(), 0.06 * (VoiceFrames(2) - 1), 0.1);
  }
  EXPECT_EQ(mqtt_end["frames"], VoiceFrames(2));
  EXPECT_EQ(mqtt_end["end_reason"], "terminator");
  EXPECT_FALSE(mqtt.On(absl::StrCat("dmrswitch/", kServerId, "/call/start")).empty());
  json session = mqtt.WaitFor(absl::StrCat("dmrswitch/", kServerId, "/Session"),
                              [](const json& j) { return j.value("Event", "") == "Session-Stop"; });
  EXPECT_EQ(session["SourceID"], kRfSrc) << session.dump();
  EXPECT_EQ(session["SourceCall"], "PD0ZRY");
  EXPECT_EQ(session["DestinationID"], 3100);
  EXPECT_EQ(json_end["dmrswitch"]["frames"], VoiceFrames(2)) << json_end.dump();
  EXPECT_EQ(json_end["dmrswitch"]["end_reason"], "terminator");
  EXPECT_EQ(telemetry_end["frames"], VoiceFrames(2)) << telemetry_end.dump();
  EXPECT_EQ(telemetry_end["rf_src"], kRfSrc);
  // The HBlink feed reported the call's TX leg to the listener's system too.
  bool tx_leg = false;
  for (const json& m : Lines(dir_.File("feed.out"))) {
    tx_leg |= m.value("opcode", 0) == 7 &&
              m.value("text", "").rfind(absl::StrCat("GROUP VOICE,END,TX,HBP-002,", id), 0) == 0;
  }
  EXPECT_TRUE(tx_leg);
  // And the listener heard every frame.
  ExpectOneCall(*listener, Delivered(3100, 2, kRfSrc, kListener));

  const json tg = json::parse(HttpGet(http_, "/api/v1/talkgroups/3100"), nullptr, false);
  ASSERT_TRUE(tg.is_object());
  EXPECT_EQ(tg["activity"]["calls"], 1) << tg.dump();
  // The listener's static subscription, and the talker's user-activated one (its key-up).
  std::map<uint32_t, bool> dynamic;
  for (const json& m : tg["members"]) dynamic[m["client_id"].get<uint32_t>()] = m["dynamic"];
  EXPECT_EQ(dynamic, (std::map<uint32_t, bool>{{kTalker, true}, {kListener, false}})) << tg.dump();
  const json heard =
      json::parse(HttpGet(http_, absl::StrCat("/api/v1/lastheard?id=", kRfSrc)), nullptr, false);
  ASSERT_TRUE(heard.is_object());
  EXPECT_EQ(heard["lastheard"].size(), 1u) << heard.dump();
  EXPECT_TRUE(
      json::parse(HttpGet(http_, "/api/v1/lastheard?tg=9"), nullptr, false)["lastheard"].empty());
  // The JSON API is what docs/api.yaml says, with both clients, the call and its TG in it; its
  // writes last (they change the listener's options).
  const char* check = std::getenv("OPENAPI_CHECK");
  const char* spec = std::getenv("OPENAPI_SPEC");
  ASSERT_TRUE(check != nullptr && spec != nullptr) << "meson sets OPENAPI_CHECK and OPENAPI_SPEC";
  std::string out;
  const int rc = cp::report::testing::RunProgram(
      {"python3", check, spec, absl::StrCat("http://127.0.0.1:", http_), "--client-id",
       std::to_string(kListener), "--tg", "3100", "--token", dir_.File("api.token")},
      &out);
  EXPECT_EQ(rc, 0) << out;
}

// Runs a real prometheus scraping `http_port` once a second; its web port in *web_port.
void StartPrometheus(Child* prometheus, const TempDir& dir, uint16_t http_port, int* web_port) {
  cp::report::testing::WriteFile(
      dir.File("prometheus.yml"),
      absl::StrCat("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                   "scrape_configs:\n  - job_name: dmrswitch\n    static_configs:\n"
                   "      - targets: ['127.0.0.1:",
                   http_port, "']\n"));
  for (int attempt = 0; attempt < 3; ++attempt) {
    *web_port = FreeLoopbackPort();
    ASSERT_TRUE(prometheus->Start(
        {"prometheus", "--config.file=" + dir.File("prometheus.yml"),
         "--storage.tsdb.path=" + dir.File("prometheus-data"),
         "--web.listen-address=127.0.0.1:" + std::to_string(*web_port), "--log.level=warn"},
        dir.File("prometheus.out"), dir.File("prometheus.err")));
    const bool ready = WaitUntil(
        [&] {
          if (!prometheus->running()) return true;
          int status = 0;
          HttpGet(static_cast<uint16_t>(*web_port), "/-/ready", &status);
          return status == 200;
        },
        std::chrono::seconds(20), std::chrono::milliseconds(200));
    if (ready && prometheus->running()) return;
    prometheus->Kill();
  }
  FAIL() << "prometheus did not start: " << ReadFile(dir.File("prometheus.err"));
}

// The first sample of an instant query, "" when there is none (yet).
std::string Query(int web_port, const std::string& q) {
  httplib::Client c("127.0.0.1", web_port);
  c.set_connection_timeout(1);
  c.set_read_timeout(2);
  auto res = c.Get("/api/v1/query", httplib::Params{{"query", q}}, httplib::Headers{});
  if (!res || res->status != 200) return "";
  const json body = json::parse(res->body, nullptr, false);
  if (!body.is_object() || body.value("status", "") != "success") return "";
  const json& r = body["data"]["result"];
  if (!r.is_array() || r.empty()) return "";
  return r[0]["value"][1].get<std::string>();
}

TEST_F(ObserveTest, PrometheusScrapesTheHubAndPromtoolAcceptsItsPage) {
  ASSERT_NO_FATAL_FAILURE(StartTheHub());
  ClientSet clients(port_);
  sim::HbpClient* talker = clients.Add(kTalker);
  clients.Add(kListener, "TS2=3100");
  clients.Settle();
  talker->SendVoiceCall(GroupCall(3100, 2, kRfSrc, absl::Milliseconds(20), 2));
  clients.PollFor(absl::Milliseconds(500));

  // promtool's lint on the live page: no finding at all.
  const std::string page = Metrics();
  ASSERT_FALSE(page.empty());
  cp::report::testing::WriteFile(dir_.File("page.txt"), page);
  std::string lint;
  const int rc = cp::report::testing::RunProgram({"promtool", "check", "metrics"}, &lint,
                                                 dir_.File("page.txt"));
  EXPECT_EQ(rc, 0) << lint;
  EXPECT_EQ(lint, "") << lint;
  // Every shard's counters are there by name, with shard and reason labels.
  for (const char* family :
       {"dmrswitch_rx_packets_total{shard=\"0\"}", "dmrswitch_rx_packets_total{shard=\"1\"}",
        "dmrswitch_packets_dropped_total{shard=\"0\",reason=\"rate_limit\"}",
        "dmrswitch_packets_rejected_total{shard=\"1\",reason=\"bad_mac\"}",
        "dmrswitch_events_dropped_total{shard=\"0\"}", "dmrswitch_ring_evt_depth{shard=\"1\"}",
        "dmrswitch_shard_live_streams{shard=\"0\"}", "dmrswitch_loop_latency_seconds_bucket{",
        "dmrswitch_report_events_dropped_total{reason=\"mqtt_not_sent\"}",
        "dmrswitch_hbp_logins_ok_total 2", "dmrswitch_info{server_id=\"310999\""}) {
    EXPECT_NE(page.find(family), std::string::npos) << family;
  }

  Child prometheus;
  int web = 0;
  ASSERT_NO_FATAL_FAILURE(StartPrometheus(&prometheus, dir_, http_, &web));
  const auto limit = std::chrono::seconds(30);
  EXPECT_TRUE(WaitUntil([&] { return Query(web, "up{job=\"dmrswitch\"}") == "1"; }, limit,
                        std::chrono::milliseconds(250)))
      << ReadFile(dir_.File("prometheus.err"));
  EXPECT_TRUE(
      WaitUntil([&] { return Query(web, "dmrswitch_calls_total{type=\"group_voice\"}") == "1"; },
                limit, std::chrono::milliseconds(250)));
  EXPECT_EQ(Query(web, "sum(dmrswitch_streams_ended_total)"), "1");
  EXPECT_EQ(Query(web, "dmrswitch_clients"), "2");
  // The loop-latency histogram answers a quantile.
  EXPECT_NE(Query(web,
                  "histogram_quantile(0.99, sum by (le) "
                  "(dmrswitch_loop_latency_seconds_bucket))"),
            "");
  // A second call moves the counter for the next scrape.
  talker->SendVoiceCall(GroupCall(3100, 2, kRfSrc, absl::Milliseconds(20), 2));
  EXPECT_TRUE(WaitUntil(
      [&] {
        clients.PollFor(absl::Milliseconds(50));
        return Query(web, "dmrswitch_calls_total{type=\"group_voice\"}") == "2";
      },
      limit, std::chrono::milliseconds(200)));
}

TEST_F(ObserveTest, CtlStatsAndErrorsNameEveryCounterAndTelemetryAgrees) {
  ASSERT_NO_FATAL_FAILURE(StartTheHub());
  ClientSet clients(port_);
  sim::HbpClient* talker = clients.Add(kTalker);
  clients.Add(kListener, "TS2=3100");
  clients.Settle();
  talker->SendVoiceCall(GroupCall(3100, 2, kRfSrc, absl::Milliseconds(20), 2));
  // Garbage: a DMRD from nobody logged in (dropped: unknown_client) and a truncated one
  // (rejected: truncated).
  auto raw = sim::UdpSocket::Open(sim::Endpoint("127.0.0.1", 0));
  ASSERT_TRUE(raw.ok()) << raw.status();
  auto hub_addr = sim::ToSockaddr(sim::Endpoint("127.0.0.1", port_));
  ASSERT_TRUE(hub_addr.ok());
  std::vector<sim::DmrdFrame> stray = sim::BuildVoiceCall(GroupCall(3100, 2, kRfSrc), 3129999);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(raw->SendTo(stray[0], *hub_addr).ok());
    const uint8_t truncated[] = {'D', 'M', 'R', 'D', 1, 2, 3};
    ASSERT_TRUE(raw->SendTo(truncated, *hub_addr).ok());
  }
  clients.PollFor(absl::Milliseconds(300));

  const json stats = CtlJson(ctl_, {"stats"});
  ASSERT_TRUE(stats.is_object()) << stats.dump();
  ASSERT_EQ(stats["shards"].size(), 2u);
  EXPECT_GE(stats["total"]["route"]["packets_routed"].get<uint64_t>(), VoiceFrames(2));
  EXPECT_EQ(stats["total"]["route"]["streams_ended"], 1);
  EXPECT_EQ(stats["total"]["drops"]["unknown_client"], 3);
  EXPECT_EQ(stats["total"]["rejects"]["truncated"], 3);
  EXPECT_TRUE(stats["total"]["io"].contains("rx_packets"));
  EXPECT_FALSE(stats["total"]["io"].contains("arp_replies")) << "kernel mode has no ARP";
  EXPECT_GT(stats["total"]["loop_latency"]["busy_iterations"].get<uint64_t>(), 0u);
  for (const json& s : stats["shards"]) EXPECT_LT(s["age_ms"].get<uint64_t>(), 1000u);
  const auto [rc, text] = Ctl(ctl_, {"stats"});
  EXPECT_EQ(rc, 0);
  EXPECT_NE(text.find("rx_packets"), std::string::npos) << text;
  EXPECT_NE(text.find("unknown_client"), std::string::npos) << text;

  const json errors = CtlJson(ctl_, {"errors"});
  ASSERT_TRUE(errors.is_object());
  uint64_t unknown = 0, truncated = 0;
  for (const json& e : errors["errors"]) {
    EXPECT_GT(e["count"].get<uint64_t>(), 0u) << "only what is not zero";
    if (e["reason"] == "unknown_client") unknown += e["count"].get<uint64_t>();
    if (e["reason"] == "truncated") truncated += e["count"].get<uint64_t>();
  }
  EXPECT_EQ(unknown, 3u);
  EXPECT_EQ(truncated, 3u);
  const auto [erc, etext] = Ctl(ctl_, {"errors"});
  EXPECT_EQ(erc, 0);
  EXPECT_NE(etext.find("packets_dropped"), std::string::npos) << etext;

  // The telemetry socket tells the same from the counter blocks alone.
  const json tel = TelemetryOne(prefix_, "/dmrswitch/stats", dir_.path());
  ASSERT_TRUE(tel.is_object()) << "dpdk-telemetry.py -f " << prefix_;
  EXPECT_EQ(tel["drops"]["unknown_client"], 3);
  EXPECT_EQ(tel["rejects"]["truncated"], 3);
  EXPECT_EQ(tel["route"]["streams_ended"], 1);
  const json terr = TelemetryOne(prefix_, "/dmrswitch/errors", dir_.path());
  EXPECT_EQ(terr["total"], 6) << terr.dump();
  const json clients_tel = TelemetryOne(prefix_, "/dmrswitch/clients", dir_.path());
  EXPECT_EQ(clients_tel["clients"], 2) << clients_tel.dump();
  const json snap = TelemetryOne(prefix_, "/dmrswitch/snapshot", dir_.path());
  EXPECT_GT(snap["used_by_all"].get<uint64_t>(), 0u) << snap.dump();
  const json info = TelemetryOne(prefix_, "/dmrswitch/info", dir_.path());
  EXPECT_EQ(info["mode"], "kernel");
  EXPECT_EQ(info["shards"], 2);
  const json one = TelemetryOne(prefix_, "/dmrswitch/stats,1", dir_.path());
  EXPECT_EQ(one["shards"], 1);
  const json bad = TelemetryOne(prefix_, "/dmrswitch/stats,9", dir_.path());
  EXPECT_TRUE(bad.contains("error")) << bad.dump();
}

// systemd's side of the notify protocol: an AF_UNIX datagram socket, as systemd binds it.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
    bound_ = bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~NotifySocket() {
    close(fd_);
    unlink(path_.c_str());
  }
  bool bound() const { return bound_; }
  // Every datagram that arrives within `d`.
  std::vector<std::string> Receive(absl::Duration d) {
    std::vector<std::string> out;
    const absl::Time end = absl::Now() + d;
    while (absl::Now() < end) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 10) <= 0) continue;
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n > 0) out.emplace_back(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
};

size_t Count(const std::vector<std::string>& msgs, const std::string& what) {
  size_t n = 0;
  for (const std::string& m : msgs) n += m.find(what) != std::string::npos;
  return n;
}

TEST_F(ObserveTest, SystemdHearsReadyOnceListenersAnswerThenStatusAndWatchdog) {
  NotifySocket notify(dir_.File("notify"));
  ASSERT_TRUE(notify.bound());
  setenv("NOTIFY_SOCKET", dir_.File("notify").c_str(), 1);
  setenv("WATCHDOG_USEC", "400000", 1);  // WATCHDOG=1 due every 200 ms
  auto started = HubProcess::Start(Toml());
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  ASSERT_TRUE(started.ok()) << started.status();
  hub_ = *std::move(started);

  std::vector<std::string> msgs;
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (std::string& m : notify.Receive(absl::Milliseconds(50))) msgs.push_back(m);
        return Count(msgs, "READY=1") > 0;
      },
      std::chrono::seconds(10)));
  // READY means the listeners answer: the API, the feeds, HBP logins.
  int status = 0;
  HttpGet(http_, "/metrics", &status);
  EXPECT_EQ(status, 200);
  EXPECT_TRUE(cp::report::testing::CanConnect(feed_));
  EXPECT_TRUE(cp::report::testing::CanConnect(feed_json_));
  ClientSet clients(port_);
  clients.Add(kTalker);

  msgs = notify.Receive(absl::Milliseconds(1500));
  EXPECT_GE(Count(msgs, "WATCHDOG=1"), 4u);
  EXPECT_GE(Count(msgs, "STATUS=clients 1, "), 1u);
  // A stopped hub sends no watchdog (systemd would restart it); it resumes after SIGCONT.
  hub_->Signal(SIGSTOP);
  notify.Receive(absl::Milliseconds(100));  // what was sent before the stop took effect
  EXPECT_EQ(Count(notify.Receive(absl::Milliseconds(800)), "WATCHDOG=1"), 0u);
  hub_->Signal(SIGCONT);
  EXPECT_GE(Count(notify.Receive(absl::Milliseconds(800)), "WATCHDOG=1"), 1u);
  hub_->Signal(SIGTERM);
  EXPECT_GE(Count(notify.Receive(absl::Milliseconds(1500)), "STOPPING=1"), 1u);
}

// --- Stalled consumers ----------------------------------------------------------------------

// A live call from a talker to a listener while a flooder starts and ends `streams` short
// streams on TG 3200, which `fanout` more clients hear: thousands of call events for the
// surfaces while the call runs. `during` runs once the flood has started (it stalls a consumer).
// The listener must get every frame of the call.
class StallTest : public ObserveTest {
 protected:
  // Every client logs in from 127.0.0.1: no login rate limit per address.
  static constexpr char kManyLogins[] = "login_burst = 0\n";

  // `more` (if given) is asked after the `streams`: while it says so, the flood goes on in
  // rounds of 2,000 streams (at most 20 rounds), the call still running.
  void RunCallUnderFlood(int streams, size_t fanout, const std::function<void()>& during,
                         const std::function<bool()>& more = nullptr) {
    ClientSet clients(port_);
    sim::HbpClient* talker = clients.Add(kTalker);
    sim::HbpClient* listener = clients.Add(kListener, "TS2=3100");
    sim::HbpClient* flooder = clients.Add(3120003);
    for (size_t i = 0; i < fanout; ++i) clients.Add(3120100 + static_cast<uint32_t>(i), "TS1=3200");
    clients.Settle(absl::Seconds(1));
    constexpr unsigned kSuperframes = 20;  // 7.3 s of voice
    talker->StartVoiceCall(GroupCall(3100, 2, kRfSrc, absl::Milliseconds(60), kSuperframes));
    const std::vector<sim::Pollable*> all = clients.pollables();
    bool stalled = false;
    int sent = 0;
    const auto flood = [&](int n) {
      for (int end = sent + n; sent < end; ++sent) {
        sim::VoiceCallSpec spec = GroupCall(3200, 1, 3121003, absl::ZeroDuration(), 0);
        spec.stream_id = 0x20000000u + static_cast<uint32_t>(sent);
        for (const sim::DmrdFrame& f : sim::BuildVoiceCall(spec, flooder->id())) {
          ASSERT_TRUE(flooder->SendRaw(f).ok());
        }
        if (sent % 10 == 9) sim::PollFor(all, absl::Milliseconds(1));
        if (!stalled && sent == streams / 10) {
          during();
          stalled = true;
        }
      }
    };
    ASSERT_NO_FATAL_FAILURE(flood(streams));
    for (int round = 0; more && round < 20; ++round) {
      sim::PollFor(all, absl::Milliseconds(1100));  // the counters' view is up to 1 s old
      if (!more()) break;
      ASSERT_NO_FATAL_FAILURE(flood(2000));
    }
    ASSERT_TRUE(clients.FinishTransmissions(absl::Seconds(20)));
    ExpectOneCall(*listener, Delivered(3100, 2, kRfSrc, kListener, kSuperframes), absl::Seconds(5));
    sim::PollFor(all, absl::Milliseconds(500));
  }
};

TEST_F(StallTest, AStoppedBrokerCostsTheCallNoFrameAndItsMessagesAreCounted) {
  ASSERT_NO_FATAL_FAILURE(StartTheHub(kManyLogins));
  // How much a stopped broker's connection absorbs before the hub's backlog bound is reached
  // depends on the kernels' socket buffers (autotuned to MBs on loopback): the flood goes on
  // until the hub counts what it could not send.
  const auto not_sent = [&](const std::string& page) {
    return MetricSum(page, "dmrswitch_report_events_dropped_total", "reason=\"mqtt_not_sent\"") +
           MetricSum(page, "dmrswitch_report_events_dropped_total", "reason=\"mqtt_queue_full\"");
  };
  ASSERT_NO_FATAL_FAILURE(RunCallUnderFlood(
      6000, 4, [&] { broker_->Stop(); }, [&] { return not_sent(Metrics()) == 0; }));
  const std::string page = Metrics();
  EXPECT_GT(not_sent(page), 0) << page;
  broker_->Continue();
  // The publisher recovers: the next call reaches a fresh subscriber.
  Subscriber mqtt(broker_->port(), absl::StrCat("dmrswitch/", kServerId, "/#"));
  ASSERT_TRUE(WaitUntil([&] { return mqtt.subscribed() > 0; }, std::chrono::seconds(10)));
  sim::HbpClientOptions o;
  o.id = 3120009;
  o.passphrase = "passw0rd";
  o.hub = {"127.0.0.1", port_};
  sim::HbpClient again(o);
  ASSERT_TRUE(again.Login(absl::Seconds(5)).ok());
  const uint32_t id =
      again.SendVoiceCall(GroupCall(3100, 2, 3121009, absl::Milliseconds(20), 1)).stream_id;
  const json end = mqtt.WaitFor(
      absl::StrCat("dmrswitch/", kServerId, "/call/end"),
      [&](const json& j) { return j["stream_id"] == id; }, std::chrono::seconds(30));
  EXPECT_FALSE(end.is_null()) << broker_->log();
}

TEST_F(StallTest, ADashboardThatStopsReadingIsDroppedAndCountedAndTheOtherKeepsUp) {
  ASSERT_NO_FATAL_FAILURE(StartTheHub(kManyLogins));
  // A dashboard that connects and never reads (a small receive buffer: it stops the flow early).
  const int stalled = socket(AF_INET, SOCK_STREAM, 0);
  const int small = 4096;
  setsockopt(stalled, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(feed_);
  ASSERT_EQ(connect(stalled, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  // And one that reads everything.
  Child reader;
  ASSERT_TRUE(reader.Start(
      {"python3", DecoderPath(), "netstrings-tcp", std::to_string(feed_), "100000000", "120"},
      dir_.File("feed.out"), dir_.File("feed.err")));
  ASSERT_TRUE(
      WaitUntil([&] { return !Lines(dir_.File("feed.out")).empty(); }, std::chrono::seconds(10)));
  // 3,000 back-to-back streams of one talker, each a call with a start and an end for each of
  // the 24 listeners: as many feed messages as a Python dashboard on this machine reads while
  // the hub routes the call. (Every one of them starts since the same talker's new stream
  // supersedes the last; 6,000 of them, half of which used to collide, now outrun the reader.)
  ASSERT_NO_FATAL_FAILURE(RunCallUnderFlood(3000, 24, [] {}));
  EXPECT_TRUE(WaitUntil(
      [&] {
        return MetricSum(Metrics(), "dmrswitch_report_feed_connections_dropped_total",
                         "reason=\"slow_consumer\"") >= 1;
      },
      std::chrono::seconds(10)))
      << Metrics();
  close(stalled);
  // The reading dashboard got the live call's end.
  bool end = false;
  for (const json& m : Lines(dir_.File("feed.out"))) {
    end |= m.value("opcode", 0) == 7 &&
           m.value("text", "").find(absl::StrCat(",", kTalker, ",", kRfSrc, ",2,3100,")) !=
               std::string::npos &&
           m.value("text", "").rfind("GROUP VOICE,END,RX", 0) == 0;
  }
  EXPECT_TRUE(end);
  EXPECT_TRUE(reader.running()) << ReadFile(dir_.File("feed.err"));
}

TEST_F(StallTest, ScrapesDuringABurstCostTheCallNoFrame) {
  ASSERT_NO_FATAL_FAILURE(StartTheHub(kManyLogins));
  std::atomic<bool> stop{false};
  std::atomic<int> scrapes{0}, failed{0};
  std::thread scraper([&] {
    while (!stop.load()) {
      if (Metrics().find("dmrswitch_rx_packets_total") != std::string::npos) {
        ++scrapes;
      } else {
        ++failed;
      }
      HttpGet(http_, "/api/v1/lastheard?limit=50");
    }
  });
  RunCallUnderFlood(4000, 4, [] {});
  stop.store(true);
  scraper.join();
  EXPECT_GT(scrapes.load(), 10);
  EXPECT_EQ(failed.load(), 0);
}

}  // namespace
}  // namespace dmrswitch::e2e
