// The Prometheus exposition: names, escaping, grouping and histograms, and the real
// `promtool check metrics` on a page rendered from a whole hub.
#include "ctrlplane/report/prometheus.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/report/sample_model.h"
#include "tests/report/test_support.h"

namespace dmrswitch::cp::report {
namespace {

using testing::RunProgram;
using testing::TempDir;
using testing::WriteFile;

NamedCounter Counter(const std::string& name, int32_t shard, const std::string& reason,
                     uint64_t value, const std::string& help) {
  NamedCounter c;
  c.name = name;
  c.labels.shard = shard;
  c.labels.reason = reason;
  c.value = value;
  c.help = help;
  return c;
}

MetricsSnapshot FullSnapshot() {
  MetricsSnapshot s;
  s.hub = testing::SampleHub();
  s.clients = 17;
  s.live_calls = 2;
  s.calls_total[static_cast<int>(CallType::kGroupVoice)] = 1000;
  s.calls_total[static_cast<int>(CallType::kPrivateVoice)] = 12;
  s.calls_total[static_cast<int>(CallType::kUnitData)] = 3;
  s.peers.push_back(testing::SamplePeer("OBP-US", true, 1));
  s.peers.push_back(testing::SamplePeer("FBP \"EU\"\\n", false, 5));
  for (int shard = 0; shard < 2; ++shard) {
    s.counters.push_back(
        Counter("packets_received", shard, "", 1000u + shard, "Packets received."));
    s.counters.push_back(Counter("packets_sent", shard, "", 9000u + shard, ""));
    for (const char* reason : {"rate_limit", "malformed", "unknown_source"}) {
      s.counters.push_back(Counter("packets_dropped", shard, reason, 5, "Packets dropped."));
    }
    NamedGauge depth;
    depth.name = "evt_ring_depth";
    depth.labels.shard = shard;
    depth.value = 3;
    depth.help = "Events waiting in the ring.";
    s.gauges.push_back(depth);
    LatencyHistogram h;
    h.shard = shard;
    h.upper_bounds_s = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2};
    h.bucket_counts = {10, 200, 30, 4, 1, 0};
    h.sum_s = 0.0123;
    s.loop_latency.push_back(h);
  }
  s.counters.push_back(Counter("events_dropped", -1, "", 4, "Shard events lost to a full ring."));
  return s;
}

TEST(PrometheusNames, ValidityAndSanitizing) {
  EXPECT_TRUE(IsValidMetricName("dmrswitch_clients"));
  EXPECT_TRUE(IsValidMetricName("a:b_c9"));
  EXPECT_FALSE(IsValidMetricName("9abc"));
  EXPECT_FALSE(IsValidMetricName("a-b"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_TRUE(IsValidLabelName("shard"));
  EXPECT_FALSE(IsValidLabelName("__name__"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
  EXPECT_EQ(SanitizeMetricName("Rx-Packets.bad"), "rx_packets_bad");
  EXPECT_EQ(SanitizeMetricName("9lives"), "_9lives");
}

TEST(PrometheusEscaping, LabelValuesAndHelp) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(EscapeHelp("a\\b\nc\"d"), "a\\\\b\\nc\"d");
}

TEST(PrometheusValues, Formatting) {
  EXPECT_EQ(FormatValue(3), "3");
  EXPECT_EQ(FormatValue(-2), "-2");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(1e-6), "1e-06");
  EXPECT_EQ(FormatValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(FormatValue(0.0 / 0.0), "NaN");
}

TEST(PrometheusWriter, GroupsFamiliesAndRejectsConflicts) {
  ExpositionWriter w;
  w.Counter("x_total", "X.", {{"shard", "0"}}, 1);
  w.Gauge("y", "Y.", {}, 2);
  w.Counter("x_total", "X.", {{"shard", "1"}}, 3);
  w.Counter("x_total", "X.", {{"shard", "1"}}, 4);  // repeated label set
  w.Gauge("x_total", "X.", {{"shard", "2"}}, 5);    // another type
  w.Counter("bad-name_total", "", {}, 1);           // invalid name
  w.Counter("z_total", "", {{"__reserved", "1"}}, 1);
  EXPECT_EQ(w.rejected(), 4u);
  EXPECT_EQ(w.Render(),
            "# HELP x_total X.\n"
            "# TYPE x_total counter\n"
            "x_total{shard=\"0\"} 1\n"
            "x_total{shard=\"1\"} 3\n"
            "# HELP y Y.\n"
            "# TYPE y gauge\n"
            "y 2\n");
}

TEST(PrometheusWriter, HistogramIsCumulative) {
  ExpositionWriter w;
  w.Histogram("lat_seconds", "L.", {{"shard", "3"}}, {0.001, 0.01}, {5, 2, 1}, 0.5);
  EXPECT_EQ(w.Render(),
            "# HELP lat_seconds L.\n"
            "# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{shard=\"3\",le=\"0.001\"} 5\n"
            "lat_seconds_bucket{shard=\"3\",le=\"0.01\"} 7\n"
            "lat_seconds_bucket{shard=\"3\",le=\"+Inf\"} 8\n"
            "lat_seconds_sum{shard=\"3\"} 0.5\n"
            "lat_seconds_count{shard=\"3\"} 8\n");
  ExpositionWriter bad;
  bad.Histogram("h_seconds", "", {}, {0.1, 0.01}, {1, 1, 1}, 0);  // bounds not increasing
  bad.Histogram("h_seconds", "", {}, {0.1}, {1}, 0);              // no +Inf bucket
  EXPECT_EQ(bad.rejected(), 2u);
  EXPECT_EQ(bad.Render(), "");
}

TEST(PrometheusRender, FullHubHasTheDocumentedSeries) {
  std::string text = RenderMetrics(FullSnapshot());
  for (const char* line : {
           "dmrswitch_info{server_id=\"310999\",version=\"0.1.0\",mode=\"kernel\"} 1\n",
           "dmrswitch_clients 17\n",
           "dmrswitch_shards 2\n",
           "dmrswitch_snapshot_generation 42\n",
           "dmrswitch_calls_total{type=\"group_voice\"} 1000\n",
           "dmrswitch_calls_total{type=\"group_data\"} 0\n",
           "dmrswitch_peer_up{peer=\"OBP-US\"} 1\n",
           "dmrswitch_peer_up{peer=\"FBP \\\"EU\\\"\\\\n\"} 0\n",
           "dmrswitch_packets_received_total{shard=\"0\"} 1000\n",
           "dmrswitch_packets_dropped_total{shard=\"1\",reason=\"rate_limit\"} 5\n",
           "dmrswitch_events_dropped_total 4\n",
           "dmrswitch_evt_ring_depth{shard=\"1\"} 3\n",
           "dmrswitch_loop_latency_seconds_bucket{shard=\"0\",le=\"1e-05\"} 210\n",
           "dmrswitch_loop_latency_seconds_count{shard=\"1\"} 245\n",
           "# TYPE dmrswitch_loop_latency_seconds histogram\n",
           "# TYPE dmrswitch_packets_dropped_total counter\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line << "\n" << text;
  }
  // Each family's TYPE appears once, so its samples were grouped.
  size_t first = text.find("# TYPE dmrswitch_packets_received_total");
  EXPECT_EQ(text.find("# TYPE dmrswitch_packets_received_total", first + 1), std::string::npos);
}

// promtool is the reference parser and linter; a page it flags is a bug.
TEST(PrometheusRender, PromtoolAcceptsTheFullPage) {
  TempDir dir;
  WriteFile(dir.File("metrics.txt"), RenderMetrics(FullSnapshot()));
  std::string output;
  int rc = RunProgram({"promtool", "check", "metrics"}, &output, dir.File("metrics.txt"));
  EXPECT_EQ(rc, 0) << output;
  EXPECT_EQ(output, "") << output;
}

// ... and the check is real: promtool flags a counter without `_total` and a broken line.
TEST(PrometheusRender, PromtoolRejectsWhatItShould) {
  TempDir dir;
  WriteFile(dir.File("lint.txt"),
            "# HELP dmrswitch_packets Packets.\n# TYPE dmrswitch_packets counter\n"
            "dmrswitch_packets 1\n");
  std::string output;
  EXPECT_NE(RunProgram({"promtool", "check", "metrics"}, &output, dir.File("lint.txt")), 0);
  EXPECT_NE(output.find("_total"), std::string::npos) << output;
  WriteFile(dir.File("broken.txt"), "dmrswitch_x{shard=\"0} 1\n");
  EXPECT_NE(RunProgram({"promtool", "check", "metrics"}, &output, dir.File("broken.txt")), 0);
}

}  // namespace
}  // namespace dmrswitch::cp::report
