// ReportHub as the control plane will use it: every surface configured, one call published once,
// and it shows up on the HBlink/FreeDMR feed, the HBlink3 v3 feed and MQTT (real broker); the
// surfaces' own counters render as valid Prometheus metrics.
#include "ctrlplane/report/report_hub.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "ctrlplane/report/pickle.h"
#include "ctrlplane/report/prometheus.h"
#include "tests/report/mqtt_support.h"
#include "tests/report/sample_model.h"
#include "tests/report/test_support.h"

namespace dmrswitch::cp::report {
namespace {

using namespace testing;  // NOLINT

int Connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Reads from fd until `done(all bytes so far)` or the limit.
std::string ReadUntil(int fd, const std::function<bool(const std::string&)>& done,
                      milliseconds limit) {
  std::string all;
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done(all) && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char buf[65536];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    all.append(buf, static_cast<size_t>(n));
  }
  return all;
}

TEST(ReportHub, OneCallReachesEverySurface) {
  TempDir dir;
  Broker broker(dir);
  ASSERT_TRUE(broker.Start()) << broker.log();

  ReportHubOptions options;
  options.feed = FeedServerOptions{};
  options.feed_json = FeedServerOptions{};
  MqttOptions mqtt;
  mqtt.port = broker.port();
  mqtt.reconnect_min = milliseconds(100);
  options.mqtt = mqtt;
  auto hub = ReportHub::Start(options, SampleHub());
  ASSERT_TRUE(hub.ok()) << hub.status();
  (*hub)->SetState(SampleState(3));

  const std::string prefix = "dmrswitch/310999";
  Subscriber sub(broker.port(), prefix + "/#");
  ASSERT_TRUE(WaitUntil([&] { return sub.subscribed() > 0; }, milliseconds(10000)));
  ASSERT_TRUE(WaitUntil([&] { return (*hub)->mqtt()->stats().connected; }, milliseconds(10000)));
  int feed = Connect((*hub)->feed()->port());
  int feed_json = Connect((*hub)->feed_json()->port());
  ASSERT_GE(feed, 0);
  ASSERT_GE(feed_json, 0);
  ASSERT_TRUE(WaitUntil(
      [&] {
        return (*hub)->feed()->stats().snapshots_sent >= 1 &&
               (*hub)->feed_json()->stats().snapshots_sent >= 1;
      },
      milliseconds(5000)));

  (*hub)->Publish(SampleCall(4242, false));
  (*hub)->Publish(SampleCall(4242, true));

  std::string pickle_feed = ReadUntil(
      feed,
      [](const std::string& s) { return s.find("GROUP VOICE,END,RX,HBP-001,4242") != s.npos; },
      milliseconds(5000));
  EXPECT_NE(pickle_feed.find("GROUP VOICE,START,RX,HBP-001,4242,3100001,3112345,2,3100"),
            std::string::npos);
  EXPECT_NE(pickle_feed.find("GROUP VOICE,END,RX,HBP-001,4242,3100001,3112345,2,3100,4.50"),
            std::string::npos);
  std::string json_feed = ReadUntil(
      feed_json, [](const std::string& s) { return s.find("\"stream_end\"") != s.npos; },
      milliseconds(5000));
  EXPECT_NE(json_feed.find("\"type\":\"stream_start\""), std::string::npos);
  EXPECT_NE(json_feed.find("\"stream_id\":4242"), std::string::npos);
  json end =
      sub.WaitFor(prefix + "/call/end", [](const json& j) { return j["stream_id"] == 4242; });
  EXPECT_EQ(end["end_reason"], "terminator");
  close(feed);
  close(feed_json);

  // The surfaces' counters as Prometheus metrics, accepted by promtool.
  MetricsSnapshot metrics;
  metrics.hub = SampleHub();
  (*hub)->AppendMetrics(&metrics);
  std::string text = RenderMetrics(metrics);
  EXPECT_NE(text.find("dmrswitch_report_events_dropped_total{reason=\"feed_queue_full\"} 0"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("dmrswitch_report_mqtt_connected 1"), std::string::npos) << text;
  WriteFile(dir.File("metrics.txt"), text);
  std::string output;
  EXPECT_EQ(RunProgram({"promtool", "check", "metrics"}, &output, dir.File("metrics.txt")), 0)
      << output;
}

TEST(ReportHub, NothingConfiguredIsNothingStarted) {
  auto hub = ReportHub::Start({}, SampleHub());
  ASSERT_TRUE(hub.ok());
  EXPECT_EQ((*hub)->feed(), nullptr);
  EXPECT_EQ((*hub)->mqtt(), nullptr);
  (*hub)->Publish(SampleCall(1, false));  // a no-op, not a crash
}

TEST(ReportHub, ABadSurfaceSaysWhich) {
  ReportHubOptions options;
  FeedServerOptions feed;
  feed.bind_address = "not-an-address";
  options.feed = feed;
  auto hub = ReportHub::Start(options, SampleHub());
  ASSERT_FALSE(hub.ok());
  EXPECT_NE(hub.status().message().find("report feed"), std::string::npos) << hub.status();
}

}  // namespace
}  // namespace dmrswitch::cp::report
