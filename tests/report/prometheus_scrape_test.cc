// End to end: a real `prometheus` on loopback scrapes the exposition from an HTTP server
// (cpp-httplib) and answers queries about it through its HTTP API.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "ctrlplane/report/prometheus.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/report/sample_model.h"
#include "tests/report/test_support.h"

namespace dmrswitch::cp::report {
namespace {

using testing::Child;
using testing::FreeLoopbackPort;
using testing::TempDir;
using testing::WaitUntil;
using testing::WriteFile;

// Serves /metrics from a snapshot whose received-packet counter the test moves.
class MetricsServer {
 public:
  MetricsServer() {
    server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      MetricsSnapshot s;
      s.hub = testing::SampleHub();
      s.clients = 3;
      NamedCounter received;
      received.name = "packets_received";
      received.labels.shard = 0;
      received.value = received_.load();
      s.counters.push_back(received);
      NamedCounter dropped;
      dropped.name = "packets_dropped";
      dropped.labels.shard = 0;
      dropped.labels.reason = "rate_limit";
      dropped.value = 7;
      s.counters.push_back(dropped);
      LatencyHistogram h;
      h.upper_bounds_s = {1e-5, 1e-4, 1e-3};
      h.bucket_counts = {90, 8, 2, 0};
      h.sum_s = 0.002;
      s.loop_latency.push_back(h);
      s.peers.push_back(testing::SamplePeer("OBP-US", true, 1));
      res.set_content(RenderMetrics(s), std::string(kExpositionContentType).c_str());
      scrapes_.fetch_add(1);
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~MetricsServer() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  void set_received(uint64_t v) { received_.store(v); }
  int scrapes() const { return scrapes_.load(); }

 private:
  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
  std::atomic<uint64_t> received_{1000};
  std::atomic<int> scrapes_{0};
};

// The value of an instant query's first sample, or "" (no answer yet, empty result).
std::string QueryValue(int port, const std::string& query) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1);
  client.set_read_timeout(2);
  auto res = client.Get("/api/v1/query", httplib::Params{{"query", query}}, httplib::Headers{});
  if (!res || res->status != 200) return "";
  auto body = nlohmann::json::parse(res->body, nullptr, false);
  if (body.is_discarded() || body.value("status", "") != "success") return "";
  const auto& result = body["data"]["result"];
  if (!result.is_array() || result.empty()) return "";
  return result[0]["value"][1].get<std::string>();
}

TEST(PrometheusScrape, RealPrometheusScrapesAndAnswers) {
  MetricsServer metrics;
  ASSERT_GT(metrics.port(), 0);
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  WriteFile(dir.File("prometheus.yml"),
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: dmrswitch\n    static_configs:\n"
            "      - targets: ['127.0.0.1:" +
                std::to_string(metrics.port()) + "']\n");

  // The web port is picked free and may be taken before prometheus binds it: try again.
  Child prometheus;
  int web_port = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    web_port = FreeLoopbackPort();
    ASSERT_TRUE(prometheus.Start(
        {"prometheus", "--config.file=" + dir.File("prometheus.yml"),
         "--storage.tsdb.path=" + dir.File("data"),
         "--web.listen-address=127.0.0.1:" + std::to_string(web_port), "--log.level=warn"},
        dir.File("prometheus.out"), dir.File("prometheus.err")))
        << "prometheus is not installed (tools/install-deps.sh)";
    bool ready = WaitUntil(
        [&] {
          if (!prometheus.running()) return true;
          httplib::Client c("127.0.0.1", web_port);
          c.set_connection_timeout(1);
          auto res = c.Get("/-/ready");
          return res && res->status == 200;
        },
        std::chrono::seconds(15), std::chrono::milliseconds(200));
    if (ready && prometheus.running()) break;
    prometheus.Kill();
  }
  ASSERT_TRUE(prometheus.running()) << testing::ReadFile(dir.File("prometheus.err"));

  const auto limit = std::chrono::seconds(30);
  EXPECT_TRUE(WaitUntil([&] { return QueryValue(web_port, "up{job=\"dmrswitch\"}") == "1"; }, limit,
                        std::chrono::milliseconds(250)))
      << testing::ReadFile(dir.File("prometheus.err"));
  EXPECT_TRUE(WaitUntil(
      [&] {
        return QueryValue(web_port, "dmrswitch_packets_received_total{shard=\"0\"}") == "1000";
      },
      limit, std::chrono::milliseconds(250)));
  // The counter moves and the next scrape sees it.
  metrics.set_received(1500);
  EXPECT_TRUE(WaitUntil(
      [&] {
        return QueryValue(web_port, "dmrswitch_packets_received_total{shard=\"0\"}") == "1500";
      },
      limit, std::chrono::milliseconds(250)));
  EXPECT_EQ(
      QueryValue(web_port, "dmrswitch_packets_dropped_total{shard=\"0\",reason=\"rate_limit\"}"),
      "7");
  EXPECT_EQ(QueryValue(web_port, "dmrswitch_peer_up{peer=\"OBP-US\"}"), "1");
  // Histogram buckets are usable by PromQL: 90 of 100 iterations were within 10 µs.
  EXPECT_EQ(QueryValue(web_port, "dmrswitch_loop_latency_seconds_bucket{le=\"1e-05\"}"), "90");
  EXPECT_EQ(QueryValue(web_port, "dmrswitch_loop_latency_seconds_count"), "100");
  EXPECT_GE(metrics.scrapes(), 2);
}

}  // namespace
}  // namespace dmrswitch::cp::report
