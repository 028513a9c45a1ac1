#include "ctrlplane/report/prometheus.h"

#include <charconv>
#include <cmath>

namespace dmrswitch::cp::report {
namespace {

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string FormatUnsigned(uint64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  return std::string(buf, end);
}

std::string LabelText(const ExpositionWriter::Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ',';
    out += labels[i].first;
    out += "=\"";
    out += EscapeLabelValue(labels[i].second);
    out += '"';
  }
  out += '}';
  return out;
}

ExpositionWriter::Labels WithLabel(ExpositionWriter::Labels labels, std::string name,
                                   std::string value) {
  labels.emplace_back(std::move(name), std::move(value));
  return labels;
}

ExpositionWriter::Labels CounterLabelList(const CounterLabels& l) {
  ExpositionWriter::Labels out;
  if (l.shard >= 0) out.emplace_back("shard", std::to_string(l.shard));
  if (!l.reason.empty()) out.emplace_back("reason", l.reason);
  if (!l.peer.empty()) out.emplace_back("peer", l.peer);
  return out;
}

double Seconds(int64_t ns) { return static_cast<double>(ns) / 1e9; }

}  // namespace

bool IsValidMetricName(std::string_view name) {
  if (name.empty() || !(IsNameStart(name[0]) || name[0] == ':')) return false;
  for (char c : name) {
    if (!(IsNameStart(c) || IsDigit(c) || c == ':')) return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || !IsNameStart(name[0]) || name.substr(0, 2) == "__") return false;
  for (char c : name) {
    if (!(IsNameStart(c) || IsDigit(c))) return false;
  }
  return true;
}

std::string SanitizeMetricName(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 1);
  if (name.empty() || IsDigit(name[0])) out += '_';
  for (char c : name) {
    if (c >= 'A' && c <= 'Z') {
      out += static_cast<char>(c - 'A' + 'a');
    } else if (IsNameStart(c) || IsDigit(c)) {
      out += c;
    } else {
      out += '_';
    }
  }
  return out;
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 9007199254740992.0) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), static_cast<int64_t>(value));
    return std::string(buf, end);
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  return std::string(buf, end);
}

ExpositionWriter::Family* ExpositionWriter::FamilyFor(std::string_view name, std::string_view help,
                                                      Type type, const Labels& labels,
                                                      std::string* label_text) {
  if (!IsValidMetricName(name)) {
    ++rejected_;
    return nullptr;
  }
  for (const auto& [label, value] : labels) {
    if (!IsValidLabelName(label) || (type == Type::kHistogram && label == "le")) {
      ++rejected_;
      return nullptr;
    }
  }
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{type, std::string(help), {}, {}}).first;
    order_.emplace_back(name);
  } else if (it->second.type != type) {
    ++rejected_;
    return nullptr;
  }
  *label_text = LabelText(labels);
  if (!it->second.label_sets.insert(*label_text).second) {
    ++rejected_;
    return nullptr;
  }
  return &it->second;
}

void ExpositionWriter::Counter(std::string_view name, std::string_view help, const Labels& labels,
                               uint64_t value) {
  std::string label_text;
  Family* family = FamilyFor(name, help, Type::kCounter, labels, &label_text);
  if (!family) return;
  family->lines.push_back(std::string(name) + label_text + " " + FormatUnsigned(value));
}

void ExpositionWriter::Gauge(std::string_view name, std::string_view help, const Labels& labels,
                             double value) {
  std::string label_text;
  Family* family = FamilyFor(name, help, Type::kGauge, labels, &label_text);
  if (!family) return;
  family->lines.push_back(std::string(name) + label_text + " " + FormatValue(value));
}

void ExpositionWriter::Histogram(std::string_view name, std::string_view help, const Labels& labels,
                                 const std::vector<double>& upper_bounds,
                                 const std::vector<uint64_t>& bucket_counts, double sum) {
  // Bounds must increase strictly and there must be one count per bucket plus +Inf.
  bool valid = bucket_counts.size() == upper_bounds.size() + 1;
  for (size_t i = 0; valid && i < upper_bounds.size(); ++i) {
    valid = std::isfinite(upper_bounds[i]) && (i == 0 || upper_bounds[i] > upper_bounds[i - 1]);
  }
  if (!valid) {
    ++rejected_;
    return;
  }
  std::string label_text;
  Family* family = FamilyFor(name, help, Type::kHistogram, labels, &label_text);
  if (!family) return;
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= upper_bounds.size(); ++i) {
    cumulative += bucket_counts[i];
    std::string le = i < upper_bounds.size() ? FormatValue(upper_bounds[i]) : "+Inf";
    family->lines.push_back(std::string(name) + "_bucket" + LabelText(WithLabel(labels, "le", le)) +
                            " " + FormatUnsigned(cumulative));
  }
  family->lines.push_back(std::string(name) + "_sum" + label_text + " " + FormatValue(sum));
  family->lines.push_back(std::string(name) + "_count" + label_text + " " +
                          FormatUnsigned(cumulative));
}

std::string ExpositionWriter::Render() const {
  std::string out;
  for (const std::string& name : order_) {
    const Family& family = families_.find(name)->second;
    out += "# HELP " + name + " " + EscapeHelp(family.help) + "\n";
    out += "# TYPE " + name + " ";
    out += family.type == Type::kCounter ? "counter"
           : family.type == Type::kGauge ? "gauge"
                                         : "histogram";
    out += "\n";
    for (const std::string& line : family.lines) {
      out += line;
      out += '\n';
    }
  }
  return out;
}

std::string RenderMetrics(const MetricsSnapshot& s) {
  ExpositionWriter w;
  const std::string p(kMetricPrefix);
  w.Gauge(p + "info", "Hub identity; the value is always 1.",
          {{"server_id", std::to_string(s.hub.server_id)},
           {"version", s.hub.version},
           {"mode", s.hub.mode}},
          1);
  w.Gauge(p + "shards", "Packet-plane shards (lcores or threads).", {}, s.hub.shards);
  w.Gauge(p + "snapshot_generation", "Generation of the routing snapshot last published.", {},
          static_cast<double>(s.hub.snapshot_generation));
  w.Gauge(p + "start_time_seconds", "When the control plane started, seconds since the epoch.", {},
          Seconds(s.hub.started_unix_ns));
  w.Gauge(p + "uptime_seconds", "Seconds since the control plane started.", {},
          Seconds(s.hub.uptime_ns));
  w.Gauge(p + "draining", "1 while a drain admits no new stream.", {}, s.hub.draining ? 1 : 0);
  w.Gauge(p + "clients", "HBP clients logged in.", {}, static_cast<double>(s.clients));
  w.Gauge(p + "live_calls", "Calls in progress.", {}, static_cast<double>(s.live_calls));
  for (int t = 0; t < kCallTypeCount; ++t) {
    w.Counter(p + "calls_total", "Calls started, by call type.",
              {{"type", std::string(CallTypeName(static_cast<CallType>(t)))}}, s.calls_total[t]);
  }
  for (const PeerView& peer : s.peers) {
    ExpositionWriter::Labels labels = {{"peer", peer.name}};
    w.Gauge(p + "peer_up", "1 while the OpenBridge/FBP peer is up.", labels, peer.up ? 1 : 0);
    w.Gauge(p + "peer_last_keepalive_seconds",
            "When the peer was last heard, seconds since the epoch (0: never).", labels,
            Seconds(peer.last_keepalive_unix_ns));
    // The control plane's view of the link; the voice frames are the shards' to count.
    w.Counter(p + "peer_packets_received_total",
              "Link packets accepted from the peer (keepalives, version notices) and calls it "
              "started; voice frames are in the shards' packet counters.",
              labels, peer.packets_received);
    w.Counter(p + "peer_packets_sent_total",
              "Link packets sent to the peer (keepalives, version notices); voice frames are in "
              "the shards' packet counters.",
              labels, peer.packets_sent);
    w.Counter(p + "peer_packets_rejected_total",
              "Link packets from the peer's address refused by the control plane (bad HMAC, "
              "malformed, refused).",
              labels, peer.packets_rejected);
  }
  for (const NamedCounter& c : s.counters) {
    std::string name = p + SanitizeMetricName(c.name) + "_total";
    std::string help = c.help.empty() ? "dmrswitch counter " + c.name + "." : c.help;
    w.Counter(name, help, CounterLabelList(c.labels), c.value);
  }
  for (const NamedGauge& g : s.gauges) {
    std::string name = p + SanitizeMetricName(g.name);
    std::string help = g.help.empty() ? "dmrswitch gauge " + g.name + "." : g.help;
    w.Gauge(name, help, CounterLabelList(g.labels), g.value);
  }
  for (const LatencyHistogram& h : s.loop_latency) {
    w.Histogram(p + "loop_latency_seconds",
                "Busy shard loop iterations: from the top of the iteration to its transmit flush.",
                {{"shard", std::to_string(h.shard)}}, h.upper_bounds_s, h.bucket_counts, h.sum_s);
  }
  return w.Render();
}

}  // namespace dmrswitch::cp::report
