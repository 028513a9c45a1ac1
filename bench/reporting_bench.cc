// What reporting costs the shards (issue 11 target): 10,000 call events per second into MQTT
// and both dashboard feeds, against the same run with reporting off, in one run of this program.
//
//   reporting_bench [--seconds S] [--rounds R] [--calls-per-s C] [--fanout F] [--shards K]
//                   [--pin 0|1]
//
// Each round starts dmrswitch-dp (kernel mode, hosted control plane) twice with the same
// workload, reporting on and reporting off, alternating which goes first:
//   * a flooder hotspot starts and ends C short calls per second (header and terminator, a new
//     stream each: 2 C call events per second), on a talkgroup F other hotspots hear;
//   * reporting on: [report] feed, feed_json and mqtt, with consumers attached — a reader that
//     drains each feed (as a dashboard does) and an MQTT subscriber on a real mosquitto.
//   * reporting off: no [report] surface (the control plane still keeps lastheard).
// The shard loop latency is the shards' own histogram (dmrswitch-ctl stats --json: busy
// iterations, log2 TSC-cycle buckets), read before and after the measured window; percentiles
// are interpolated within a bucket as Prometheus' histogram_quantile does.
//
// --pin 1 (default): the shards run on CPUs of their own and everything else (the control plane
// and its reporting threads, the broker, the consumers, this program) on CPU 0, as on a hub
// whose shard cores are isolated; --pin 0 lets every thread float.
//
// Prints a table, the ratio p99(on) / p99(off) of each round and their median, and the ratio of
// the p99 of all rounds' iterations pooled (target <= 1.05). On a machine shared with other
// work, many short alternating rounds spread its noise over both sides.
#include <arpa/inet.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/hub_threads.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/hub_process.h"
#include "tests/e2e/observe_helpers.h"
#include "tests/report/mqtt_support.h"
#include "tests/report/test_support.h"
#include "tools/sim/dmr_calls.h"
#include "tools/sim/hbp_client.h"

namespace {

using dmrswitch::e2e::FreeUdpPort;
using dmrswitch::e2e::HubProcess;
using nlohmann::json;

struct Args {
  bool pin = true;  // shards on CPUs of their own (as an operator runs them), the rest on CPU 0
  double seconds = 10;
  int rounds = 2;
  unsigned calls_per_s = 5000;
  unsigned fanout = 4;
  unsigned shards = 1;
};

constexpr size_t kBuckets = 48;
using Histogram = std::array<double, kBuckets>;

struct Reading {
  std::vector<Histogram> shards;
  uint64_t tsc_hz = 0;
  uint64_t events_sent = 0;
  uint64_t events_dropped = 0;
  uint64_t streams_started = 0;
};

bool Read(const std::string& ctl, Reading* r) {
  const json j = dmrswitch::e2e::CtlJson(ctl, {"stats"});
  if (!j.is_object() || !j.contains("shards")) return false;
  r->shards.clear();
  for (const json& s : j["shards"]) {
    Histogram h{};
    const json& b = s["loop_latency"]["buckets_log2_cycles"];
    for (size_t i = 0; i < kBuckets && i < b.size(); ++i) h[i] = b[i].get<double>();
    r->shards.push_back(h);
    r->tsc_hz = s["loop_latency"]["tsc_hz"].get<uint64_t>();
  }
  r->events_sent = j["total"]["runtime"]["events_sent"].get<uint64_t>();
  r->events_dropped = j["total"]["runtime"]["events_dropped"].get<uint64_t>();
  r->streams_started = j["total"]["route"]["streams_started"].get<uint64_t>();
  return true;
}

// The busy iterations between two readings, all shards together.
Histogram Delta(const Reading& a, const Reading& b) {
  Histogram d{};
  for (size_t s = 0; s < b.shards.size() && s < a.shards.size(); ++s) {
    for (size_t i = 0; i < kBuckets; ++i) d[i] += b.shards[s][i] - a.shards[s][i];
  }
  return d;
}

// Quantile `q` of a histogram, in nanoseconds: linear within the log2 bucket [2^(b-1), 2^b).
double Quantile(const Histogram& d, uint64_t tsc_hz, double q) {
  double total = 0;
  for (double c : d) total += c;
  if (total <= 0 || tsc_hz == 0) return 0;
  const double want = q * total;
  double seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    if (seen + d[i] >= want && d[i] > 0) {
      const double lo = i == 0 ? 0 : static_cast<double>(uint64_t{1} << (i - 1));
      const double hi = static_cast<double>(uint64_t{1} << i);
      const double cycles = lo + (hi - lo) * (want - seen) / d[i];
      return cycles * 1e9 / static_cast<double>(tsc_hz);
    }
    seen += d[i];
  }
  return 0;
}

// Reads and discards what a TCP feed sends (a dashboard that keeps up), counting bytes.
class Drain {
 public:
  explicit Drain(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    ok_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    thread_ = std::thread([this] {
      char buf[1 << 16];
      while (!stop_.load()) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        const ssize_t n = read(fd_, buf, sizeof(buf));
        if (n <= 0) break;
        bytes_.fetch_add(static_cast<uint64_t>(n));
      }
    });
  }
  ~Drain() {
    stop_.store(true);
    thread_.join();
    close(fd_);
  }
  bool ok() const { return ok_; }
  uint64_t bytes() const { return bytes_.load(); }

 private:
  int fd_ = -1;
  bool ok_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> bytes_{0};
  std::thread thread_;
};

// An MQTT subscriber that only counts the call messages it receives (libmosquitto's thread).
class MqttCounter {
 public:
  explicit MqttCounter(uint16_t port) {
    mosquitto_lib_init();
    mosq_ = mosquitto_new(nullptr, true, this);
    mosquitto_connect_callback_set(mosq_, [](mosquitto* m, void*, int rc) {
      if (rc == 0) mosquitto_subscribe(m, nullptr, "dmrswitch/310999/call/#", 0);
    });
    mosquitto_message_callback_set(mosq_, [](mosquitto*, void* obj, const mosquitto_message*) {
      static_cast<MqttCounter*>(obj)->count_.fetch_add(1, std::memory_order_relaxed);
    });
    mosquitto_connect_async(mosq_, "127.0.0.1", port, 60);
    mosquitto_loop_start(mosq_);
  }
  ~MqttCounter() {
    mosquitto_disconnect(mosq_);
    mosquitto_loop_stop(mosq_, true);
    mosquitto_destroy(mosq_);
  }
  uint64_t count() const { return count_.load(); }

 private:
  mosquitto* mosq_;
  std::atomic<uint64_t> count_{0};
};

struct Result {
  Histogram loop{};
  uint64_t tsc_hz = 0;
  double p50_ns = 0, p99_ns = 0, p999_ns = 0;
  uint64_t samples = 0;
  double events_per_s = 0;      // put on the event rings by the shards
  double events_dropped = 0;    // ring full
  double feed_bytes_per_s = 0;  // read by the feed consumers (both feeds)
  double mqtt_msgs_per_s = 0;   // received by the subscriber
  bool ok = false;
};

Result RunPhase(const Args& a, bool reporting, const dmrswitch::cp::report::testing::Broker& broker,
                const dmrswitch::cp::report::testing::TempDir& dir) {
  using dmrswitch::cp::report::testing::FreeLoopbackPort;
  Result out;
  const uint16_t port = FreeUdpPort();
  const uint16_t feed = FreeLoopbackPort(), feed_json = FreeLoopbackPort();
  const std::string ctl = dir.File(reporting ? "on.sock" : "off.sock");
  std::string toml = absl::StrCat(R"([hub]
server_id = 310999
shards = )",
                                  a.shards, R"(
status_interval_s = 5
stream_capacity = 65536
ctl_socket = ")",
                                  ctl, R"("

[hbp]
listen = "127.0.0.1:)",
                                  port, R"("
passphrase = "passw0rd"
login_burst = 0
)");
  if (reporting) {
    absl::StrAppend(&toml, "\n[report]\nfeed = \"127.0.0.1:", feed,
                    "\"\nfeed_json = \"127.0.0.1:", feed_json,
                    "\"\nmqtt = \"127.0.0.1:", broker.port(), "\"\n");
  }
  auto hub = HubProcess::Start(toml);
  if (!hub.ok()) {
    std::fprintf(stderr, "%s\n", std::string(hub.status().message()).c_str());
    return out;
  }
  if (a.pin && !dmrswitch::bench::PinHub((*hub)->pid(), a.shards)) {
    std::fprintf(stderr, "cannot pin the shards (fewer CPUs than shards + 1?); use --pin 0\n");
    return out;
  }
  std::vector<std::unique_ptr<dmrswitch::sim::HbpClient>> clients;
  for (unsigned i = 0; i <= a.fanout; ++i) {
    dmrswitch::sim::HbpClientOptions o;
    o.id = 3120001 + i;
    o.passphrase = "passw0rd";
    o.hub = {"127.0.0.1", port};
    o.options = i == 0 ? "" : "TS1=3200";
    o.collect_frames = false;
    o.retry_interval = absl::Seconds(1);
    clients.push_back(std::make_unique<dmrswitch::sim::HbpClient>(o));
    if (absl::Status st = clients.back()->Login(absl::Seconds(5)); !st.ok()) {
      std::fprintf(stderr, "login %u: %s\n", i, std::string(st.message()).c_str());
      return out;
    }
  }
  std::vector<dmrswitch::sim::Pollable*> pollables;
  for (const auto& c : clients) pollables.push_back(c.get());
  std::unique_ptr<Drain> feed_drain, json_drain;
  std::unique_ptr<MqttCounter> mqtt;
  if (reporting) {
    feed_drain = std::make_unique<Drain>(feed);
    json_drain = std::make_unique<Drain>(feed_json);
    mqtt = std::make_unique<MqttCounter>(broker.port());
  }
  dmrswitch::sim::PollFor(pollables, absl::Milliseconds(1500));

  // The flood: C calls per second in 2 ms bursts, each a header and a terminator.
  dmrswitch::sim::HbpClient& flooder = *clients[0];
  auto frames_of = [&](uint32_t n) {
    dmrswitch::sim::VoiceCallSpec spec;
    spec.tg = 3200;
    spec.ts = 1;
    spec.rf_src = 3121001;
    spec.superframes = 0;
    spec.cadence = absl::ZeroDuration();
    spec.stream_id = 0x30000000u + n;
    return dmrswitch::sim::BuildVoiceCall(spec, flooder.id());
  };
  const auto tick = std::chrono::milliseconds(2);
  const unsigned per_tick = std::max(1u, a.calls_per_s * 2 / 1000);
  uint32_t next = 0;
  Reading before, after;
  uint64_t mqtt_before = 0, feed_before = 0;
  const auto start = std::chrono::steady_clock::now();
  auto at = start;
  bool measuring = false;
  std::chrono::steady_clock::time_point measure_start;
  const auto mqtt_count = [&] { return mqtt ? mqtt->count() : 0; };
  const auto feed_bytes = [&] {
    return (feed_drain ? feed_drain->bytes() : 0) + (json_drain ? json_drain->bytes() : 0);
  };
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - start).count();
    if (!measuring && elapsed >= 2.0) {  // warmed up
      if (!Read(ctl, &before)) return out;
      mqtt_before = mqtt_count();
      feed_before = feed_bytes();
      measure_start = std::chrono::steady_clock::now();
      measuring = true;
    }
    if (elapsed >= a.seconds + 2.0) break;
    for (unsigned i = 0; i < per_tick; ++i) {
      for (const dmrswitch::sim::DmrdFrame& f : frames_of(next)) (void)flooder.SendRaw(f);
      ++next;
    }
    dmrswitch::sim::PollFor(pollables, absl::ZeroDuration());
    at += tick;
    std::this_thread::sleep_until(at);
  }
  if (!Read(ctl, &after)) return out;
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - measure_start).count();
  out.loop = Delta(before, after);
  out.tsc_hz = after.tsc_hz;
  for (double c : out.loop) out.samples += static_cast<uint64_t>(c);
  out.p50_ns = Quantile(out.loop, out.tsc_hz, 0.50);
  out.p99_ns = Quantile(out.loop, out.tsc_hz, 0.99);
  out.p999_ns = Quantile(out.loop, out.tsc_hz, 0.999);
  out.events_per_s = static_cast<double>(after.events_sent - before.events_sent) / wall;
  out.events_dropped = static_cast<double>(after.events_dropped - before.events_dropped);
  out.feed_bytes_per_s = static_cast<double>(feed_bytes() - feed_before) / wall;
  out.mqtt_msgs_per_s = static_cast<double>(mqtt_count() - mqtt_before) / wall;
  out.ok = true;
  mqtt.reset();
  feed_drain.reset();
  json_drain.reset();
  clients.clear();
  (*hub)->Stop();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--seconds") a.seconds = std::atof(argv[i + 1]);
    if (k == "--rounds") a.rounds = std::atoi(argv[i + 1]);
    if (k == "--calls-per-s") a.calls_per_s = static_cast<unsigned>(std::atoi(argv[i + 1]));
    if (k == "--fanout") a.fanout = static_cast<unsigned>(std::atoi(argv[i + 1]));
    if (k == "--shards") a.shards = static_cast<unsigned>(std::atoi(argv[i + 1]));
    if (k == "--pin") a.pin = std::string(argv[i + 1]) == "1";
  }
  if (a.pin) {
    // This program, and what it starts (the broker), on CPU 0 with the control plane.
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    sched_setaffinity(0, sizeof(set), &set);
  }
  dmrswitch::cp::report::testing::TempDir dir;
  dmrswitch::cp::report::testing::Broker broker(dir);
  if (!broker.Start()) {
    std::fprintf(stderr, "mosquitto did not start (tools/install-deps.sh)\n");
    return 1;
  }
  std::printf(
      "reporting_bench: %u calls/s (%u call events/s) on a TG %u hotspots hear, %u shard(s) %s, "
      "%.0f s per phase, %d round(s)\n",
      a.calls_per_s, 2 * a.calls_per_s, a.fanout, a.shards,
      a.pin ? "pinned (everything else on CPU 0)" : "floating", a.seconds, a.rounds);
  std::printf(
      "| round | reporting | busy iterations | loop p50 | loop p99 | loop p99.9 | events/s | "
      "events dropped | feed bytes/s | MQTT call msgs/s "
      "|\n|---|---|---|---|---|---|---|---|---|---|\n");
  Histogram pooled_on{}, pooled_off{};
  uint64_t tsc_hz = 0;
  std::vector<double> ratios;
  for (int r = 0; r < a.rounds; ++r) {
    Result on, off;
    // Alternate the order, so that whatever drifts during a run falls on both sides.
    if (r % 2 == 0) {
      on = RunPhase(a, true, broker, dir);
      off = RunPhase(a, false, broker, dir);
    } else {
      off = RunPhase(a, false, broker, dir);
      on = RunPhase(a, true, broker, dir);
    }
    if (!on.ok || !off.ok) {
      std::fprintf(stderr, "round %d failed\n", r + 1);
      return 1;
    }
    for (const auto& [name, res] : {std::pair<const char*, const Result&>{"on", on},
                                    std::pair<const char*, const Result&>{"off", off}}) {
      std::printf("| %d | %s | %llu | %.0f ns | %.0f ns | %.0f ns | %.0f | %.0f | %.0f | %.0f |\n",
                  r + 1, name, static_cast<unsigned long long>(res.samples), res.p50_ns, res.p99_ns,
                  res.p999_ns, res.events_per_s, res.events_dropped, res.feed_bytes_per_s,
                  res.mqtt_msgs_per_s);
    }
    ratios.push_back(off.p99_ns > 0 ? on.p99_ns / off.p99_ns : 0);
    for (size_t i = 0; i < kBuckets; ++i) {
      pooled_on[i] += on.loop[i];
      pooled_off[i] += off.loop[i];
    }
    tsc_hz = on.tsc_hz;
  }
  for (size_t r = 0; r < ratios.size(); ++r) {
    std::printf("round %zu: loop p99 with reporting / without = %.3f\n", r + 1, ratios[r]);
  }
  std::vector<double> sorted = ratios;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted.empty() ? 0
                        : sorted.size() % 2 == 1
                            ? sorted[sorted.size() / 2]
                            : (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]) / 2;
  const double p99_on = Quantile(pooled_on, tsc_hz, 0.99);
  const double p99_off = Quantile(pooled_off, tsc_hz, 0.99);
  std::printf("median of the rounds' ratios: %.3f\n", median);
  std::printf(
      "all rounds pooled: loop p50 %.0f / %.0f ns, p99 %.0f / %.0f ns (on / off): p99 ratio "
      "%.3f (target <= 1.05)\n",
      Quantile(pooled_on, tsc_hz, 0.5), Quantile(pooled_off, tsc_hz, 0.5), p99_on, p99_off,
      p99_off > 0 ? p99_on / p99_off : 0);
  return 0;
}
