// Prometheus text exposition (format 0.0.4), written by hand: `# HELP` and `# TYPE` once per
// family, every sample of a family together, counters as `_total`, histograms as cumulative
// `_bucket{le=...}` plus `_sum` and `_count`, label values escaped. The names follow Prometheus
// conventions: a `dmrswitch_` prefix, base units in the name (`_seconds`), snake_case.
//
// Pure and single-threaded: render on whichever thread serves the scrape, from a
// MetricsSnapshot the control plane handed over.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ctrlplane/report/model.h"

namespace dmrswitch::cp::report {

inline constexpr std::string_view kMetricPrefix = "dmrswitch_";
// The Content-Type of the format (for the HTTP response).
inline constexpr std::string_view kExpositionContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// [a-zA-Z_:][a-zA-Z0-9_:]* ; label names: [a-zA-Z_][a-zA-Z0-9_]* and not starting with "__".
bool IsValidMetricName(std::string_view name);
bool IsValidLabelName(std::string_view name);
// Lower-cases and replaces every other character with '_' (and prefixes '_' to a leading
// digit), so a name from a table can never break the exposition.
std::string SanitizeMetricName(std::string_view name);
// Escapes '\\', '"' and newline as the format requires inside label values.
std::string EscapeLabelValue(std::string_view value);
// Escapes '\\' and newline, for HELP text.
std::string EscapeHelp(std::string_view help);
// A sample value: integers exactly, other numbers in the shortest form that reads back the same,
// "+Inf", "-Inf", "NaN".
std::string FormatValue(double value);

class ExpositionWriter {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;

  // `name` is the full metric name (with the prefix and, for counters, the `_total` suffix).
  // A sample whose name is invalid, whose family was already given another type, or whose label
  // set repeats one already written for that family is skipped and counted in rejected().
  void Counter(std::string_view name, std::string_view help, const Labels& labels, uint64_t value);
  void Gauge(std::string_view name, std::string_view help, const Labels& labels, double value);
  // `bucket_counts` are per bucket (not cumulative), one more than `upper_bounds` (+Inf last);
  // the writer accumulates them. `name` is the base name (`..._seconds`).
  void Histogram(std::string_view name, std::string_view help, const Labels& labels,
                 const std::vector<double>& upper_bounds,
                 const std::vector<uint64_t>& bucket_counts, double sum);

  std::string Render() const;
  uint64_t rejected() const { return rejected_; }

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Family {
    Type type;
    std::string help;
    std::vector<std::string> lines;  // sample lines, in insertion order
    std::set<std::string> label_sets;
  };
  Family* FamilyFor(std::string_view name, std::string_view help, Type type, const Labels& labels,
                    std::string* label_text);

  std::vector<std::string> order_;  // family names in first-seen order
  std::map<std::string, Family, std::less<>> families_;
  uint64_t rejected_ = 0;
};

// The whole /metrics page for a snapshot. Families (all prefixed dmrswitch_):
//   info{server_id,version,mode} 1, shards, snapshot_generation, start_time_seconds,
//   uptime_seconds, draining, clients, live_calls, calls_total{type},
//   peer_up{peer}, peer_last_keepalive_seconds{peer}, peer_packets_{received,sent,rejected}_total,
//   <counter>_total{shard,reason,peer} for every NamedCounter, <gauge>{...} for every NamedGauge,
//   loop_latency_seconds{shard} (histogram).
std::string RenderMetrics(const MetricsSnapshot& snapshot);

}  // namespace dmrswitch::cp::report
