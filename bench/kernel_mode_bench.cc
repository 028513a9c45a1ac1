// Kernel-mode throughput (issue #3 targets): dmrswitch-dp egress per core against a bare
// sendmmsg loop on the same machine, in the same run.
//
//   kernel_mode_bench [--seconds S] [--receivers N] [--ingress-pps P] [--shards K] [--drain 0|1]
//
// 1. Ceiling: one thread sends 55-byte datagrams with sendmmsg (batches of 64) round-robin to N
//    bound loopback sockets for S seconds. Its rate per CPU-second of that thread is the most a
//    core can push through kernel UDP here.
// 2. Hub: dmrswitch-dp (kernel mode, K shards) with N + 1 logged-in hotspots; N hear TG 91 on
//    TS2 as a static TG, one talks on it: one voice stream, sent at P packets/s, fanned out to N.
//    Egress is counted where it lands: the DMRD datagrams the receivers' sockets got plus what
//    their kernel dropped (/proc/net/udp, full socket buffers), over the whole stream. CPU from
//    /proc for the shard threads.
// By default the receivers are not drained in either phase: the work measured is the sender's,
// and the kernel drops what a full socket buffer cannot take in both cases alike. With --drain 1
// a second thread reads them in both phases (closer to real clients; costs the sender more).
//
// Prints one table and the ratio egress-per-shard-core / ceiling-per-core (target ≥ 0.80).
// Every figure is cross-checked: the landed egress may not exceed what was offered times the
// receivers, and must equal the hub's own voice egress counter (its stop lines) and, as a rate, its
// status lines within 5 %. A run that disagrees is reported as INVALID (exit status 3), never
// averaged.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bench/hub_threads.h"
#include "tests/e2e/hub_process.h"
#include "tools/sim/dmr_calls.h"
#include "tools/sim/hbp_client.h"

namespace {

using dmrswitch::e2e::FreeUdpPort;
using dmrswitch::e2e::HubProcess;

struct Args {
  double seconds =
      8;  // long enough that heartbeat aliasing averages out (status lines are 1 s apart)
  unsigned receivers = 16;
  unsigned ingress_pps = 30000;
  unsigned shards = 1;
  bool drain = false;  // a second thread reads the receivers' sockets in both phases
};

// What reached the receivers' sockets: DMRD datagrams (the egress measured) and anything else.
struct Landed {
  std::atomic<uint64_t> dmrd{0};
  std::atomic<uint64_t> other{0};
};

// One pass over `fds`, reading what is queued; true if anything was.
bool DrainOnce(const std::vector<int>& fds, Landed* landed) {
  constexpr unsigned kBatch = 64;
  uint8_t buf[kBatch][128];
  iovec iov[kBatch];
  mmsghdr msg[kBatch];
  bool any = false;
  for (int fd : fds) {
    for (unsigned i = 0; i < kBatch; ++i) {
      iov[i] = {buf[i], sizeof(buf[i])};
      msg[i] = {};
      msg[i].msg_hdr.msg_iov = &iov[i];
      msg[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = recvmmsg(fd, msg, kBatch, MSG_DONTWAIT, nullptr);
    for (int i = 0; i < n; ++i) {
      if (msg[i].msg_len >= 4 && std::memcmp(buf[i], "DMRD", 4) == 0) {
        landed->dmrd.fetch_add(1, std::memory_order_relaxed);
      } else {
        landed->other.fetch_add(1, std::memory_order_relaxed);
      }
    }
    any = any || n > 0;
  }
  return any;
}

// Reads everything that arrives on `fds` until `stop` (the receivers of a drained run).
void Drain(const std::vector<int>& fds, const std::atomic<bool>& stop, Landed* landed) {
  while (!stop.load(std::memory_order_relaxed)) {
    if (!DrainOnce(fds, landed)) std::this_thread::yield();
  }
}

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Ceiling {
  double pps_wall = 0;
  double pps_per_core = 0;
};

Ceiling MeasureCeiling(const Args& a) {
  std::vector<int> rx;
  std::vector<sockaddr_in> dst;
  for (unsigned i = 0; i < a.receivers; ++i) {
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
    socklen_t len = sizeof(sa);
    getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    rx.push_back(fd);
    dst.push_back(sa);
  }
  const int tx = socket(AF_INET, SOCK_DGRAM, 0);
  std::atomic<bool> stop{false};
  Landed drained;
  std::thread drainer;
  if (a.drain) drainer = std::thread(Drain, std::cref(rx), std::cref(stop), &drained);
  constexpr unsigned kBatch = 64;
  uint8_t payload[55] = {'D', 'M', 'R', 'D'};
  iovec iov[kBatch];
  mmsghdr msg[kBatch];
  uint64_t sent = 0;
  const auto start = std::chrono::steady_clock::now();
  const double cpu0 = ThreadCpuSeconds();
  unsigned next = 0;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() <
         a.seconds) {
    for (unsigned i = 0; i < kBatch; ++i) {
      iov[i] = {payload, sizeof(payload)};
      msg[i] = {};
      msg[i].msg_hdr.msg_name = &dst[next];
      msg[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
      msg[i].msg_hdr.msg_iov = &iov[i];
      msg[i].msg_hdr.msg_iovlen = 1;
      next = (next + 1) % dst.size();
    }
    const int n = sendmmsg(tx, msg, kBatch, 0);
    if (n > 0) sent += static_cast<unsigned>(n);
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu = ThreadCpuSeconds() - cpu0;
  stop.store(true);
  if (drainer.joinable()) drainer.join();
  for (int fd : rx) close(fd);
  close(tx);
  return {static_cast<double>(sent) / wall, static_cast<double>(sent) / cpu};
}

// "out N pps" of every status line after `from`.
std::vector<double> EgressFromStatus(const std::string& log, size_t from) {
  std::vector<double> out;
  size_t pos = from;
  while ((pos = log.find("status:", pos)) != std::string::npos) {
    const size_t o = log.find(", out ", pos);
    if (o == std::string::npos) break;
    out.push_back(std::strtod(log.c_str() + o + 6, nullptr));
    pos = o;
  }
  return out;
}

// Waits until the hub's shard threads stop using CPU (under 1 % of a core over two 50 ms steps
// in a row; they sleep in the kernel when there is nothing to do) and returns when they were
// last busy.
std::chrono::steady_clock::time_point WaitHubIdle(pid_t pid) {
  constexpr auto kStep = std::chrono::milliseconds(50);
  auto last_busy = std::chrono::steady_clock::now();
  double cpu = dmrswitch::bench::ShardCpuSeconds(pid);
  int idle_steps = 0;
  for (int i = 0; i < 200; ++i) {  // 10 s at most
    std::this_thread::sleep_for(kStep);
    const double now_cpu = dmrswitch::bench::ShardCpuSeconds(pid);
    const bool idle = now_cpu - cpu < 0.01 * std::chrono::duration<double>(kStep).count();
    cpu = now_cpu;
    if (idle && ++idle_steps == 2) break;
    if (idle) continue;
    idle_steps = 0;
    last_busy = std::chrono::steady_clock::now();
  }
  return last_busy;
}

// Datagrams the loopback path dropped before any socket (the per-CPU backlog: the second
// column of /proc/net/softnet_stat, hexadecimal, summed over CPUs).
uint64_t SoftnetDrops() {
  std::ifstream f("/proc/net/softnet_stat");
  std::string line;
  uint64_t drops = 0;
  while (std::getline(f, line)) {
    std::vector<std::string> col = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (col.size() >= 2) drops += std::strtoull(col[1].c_str(), nullptr, 16);
  }
  return drops;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--seconds") a.seconds = std::atof(argv[i + 1]);
    if (k == "--receivers") a.receivers = static_cast<unsigned>(std::atoi(argv[i + 1]));
    if (k == "--ingress-pps") a.ingress_pps = static_cast<unsigned>(std::atoi(argv[i + 1]));
    if (k == "--shards") a.shards = static_cast<unsigned>(std::atoi(argv[i + 1]));
    if (k == "--drain") a.drain = std::string(argv[i + 1]) == "1";
  }

  const Ceiling ceiling = MeasureCeiling(a);

  const uint16_t port = FreeUdpPort();
  const std::string toml = absl::StrCat(R"([hub]
server_id = 310999
shards = )",
                                        a.shards, R"(
status_interval_s = 1
stream_capacity = 4096

[hbp]
listen = "127.0.0.1:)",
                                        port, R"("
passphrase = "passw0rd"
rate_limit_pps = 1000000
login_burst = 0
)");
  auto hub = HubProcess::Start(toml);
  if (!hub.ok()) {
    std::fprintf(stderr, "%s\n", std::string(hub.status().message()).c_str());
    return 1;
  }
  std::vector<std::unique_ptr<dmrswitch::sim::HbpClient>> clients;
  for (unsigned i = 0; i <= a.receivers; ++i) {
    dmrswitch::sim::HbpClientOptions o;
    o.id = 3120001 + i;
    o.passphrase = "passw0rd";
    o.hub = {"127.0.0.1", port};
    o.options = i == 0 ? "" : "TS2=91";
    o.collect_frames = false;
    o.retry_interval = absl::Seconds(1);
    clients.push_back(std::make_unique<dmrswitch::sim::HbpClient>(o));
    if (absl::Status st = clients.back()->Login(absl::Seconds(5)); !st.ok()) {
      std::fprintf(stderr, "login %u: %s\n", i, std::string(st.message()).c_str());
      return 1;
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // snapshot with the statics
  std::vector<int> receiver_fds;
  for (size_t i = 1; i < clients.size(); ++i) receiver_fds.push_back(clients[i]->poll_fd());
  Landed before;  // whatever arrived during the logins is not the run's
  while (DrainOnce(receiver_fds, &before)) {
  }
  std::atomic<bool> stop_drain{false};
  Landed landed;
  std::thread drainer;
  if (a.drain) {
    drainer = std::thread(Drain, std::cref(receiver_fds), std::cref(stop_drain), &landed);
  }

  // One long voice stream on TG 91, paced in 1 ms bursts at ingress_pps for `seconds`, then its
  // terminator. Everything is counted over the whole stream: no window edges to straddle.
  dmrswitch::sim::VoiceCallSpec spec;
  spec.tg = 91;
  spec.ts = 2;
  spec.rf_src = 3120001;
  spec.superframes = static_cast<unsigned>(a.ingress_pps * (a.seconds + 1) / 6) + 1;
  spec.terminator = true;
  const std::vector<dmrswitch::sim::DmrdFrame> frames =
      dmrswitch::sim::BuildVoiceCall(spec, clients[0]->id());

  const pid_t pid = (*hub)->pid();
  dmrswitch::sim::HbpClient& source = *clients[0];
  const double interval = 1e-3;
  const unsigned per_tick = std::max(1u, static_cast<unsigned>(a.ingress_pps * interval));
  const size_t log_from = (*hub)->LogSize();
  const uint64_t drops0 = dmrswitch::bench::UdpSocketDrops(receiver_fds);
  const uint64_t softnet0 = SoftnetDrops();
  const double cpu0 = dmrswitch::bench::ShardCpuSeconds(pid);
  uint64_t sent = 0;
  size_t next = 0;
  const auto start = std::chrono::steady_clock::now();
  auto tick = start;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() <
             a.seconds &&
         next < frames.size() - 1) {
    for (unsigned i = 0; i < per_tick && next < frames.size() - 1; ++i) {
      if (source.SendRaw(frames[next++]).ok()) ++sent;
    }
    tick += std::chrono::microseconds(static_cast<int64_t>(interval * 1e6));
    std::this_thread::sleep_until(tick);
  }
  if (source.SendRaw(frames.back()).ok()) ++sent;  // terminator
  const double send_wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // An overloaded hub works on after the generator stops (its socket holds a backlog): the run
  // ends when its shards go idle, and the egress rate is over that span.
  const auto busy_until = WaitHubIdle(pid);
  // Status lines up to here cover the busy span (the last one partly: it is dropped below);
  // later ones would average idle seconds in.
  const std::string status_log = (*hub)->Log();
  const double wall = std::chrono::duration<double>(busy_until - start).count();
  const double shard_cpu = dmrswitch::bench::ShardCpuSeconds(pid) - cpu0;
  stop_drain.store(true);
  if (drainer.joinable()) drainer.join();
  while (DrainOnce(receiver_fds, &landed)) {
  }
  const uint64_t receiver_drops = dmrswitch::bench::UdpSocketDrops(receiver_fds) - drops0;
  const uint64_t softnet_drops = SoftnetDrops() - softnet0;
  clients.clear();
  (*hub)->Stop();
  // The routing core's egress datagrams (voice only: the logins' acknowledgements are not in
  // it) less what the kernel refused to send.
  const std::string stop_log = (*hub)->Log();
  const uint64_t hub_out = dmrswitch::bench::SumOfStopLines(stop_log, " out ") -
                           dmrswitch::bench::SumOfStopLines(stop_log, " tx_errors ");

  const uint64_t received = landed.dmrd.load();
  const uint64_t landed_total = received + receiver_drops;
  const uint64_t expected = sent * a.receivers;
  const double egress_pps = static_cast<double>(landed_total) / wall;
  std::vector<double> status = EgressFromStatus(status_log, log_from);
  // The first and last status lines cover partly idle time.
  if (status.size() > 2) status = std::vector<double>(status.begin() + 1, status.end() - 1);
  double status_pps = 0;
  for (double e : status) status_pps += e;
  status_pps = status.empty() ? 0 : status_pps / static_cast<double>(status.size());
  const double egress_per_core = shard_cpu > 0 ? static_cast<double>(landed_total) / shard_cpu : 0;
  const double ns_per_packet =
      landed_total > 0 ? shard_cpu * 1e9 / static_cast<double>(landed_total) : 0;

  // Cross-checks: a figure that disagrees with another count of the same packets is not a figure.
  std::vector<std::string> invalid;
  if (landed_total > expected) {
    invalid.push_back(absl::StrCat("landed ", landed_total, " > offered ", sent, " x ", a.receivers,
                                   " receivers = ", expected));
  }
  // Every voice datagram the hub sent went to a receiver (the source is never sent its own
  // stream): its count must match what landed. Datagrams the loopback backlog dropped reached
  // no socket: the machine's loss, not the hub's, and they make the run uncountable.
  if (hub_out != landed_total) {
    invalid.push_back(absl::StrCat("hub's voice egress counter ", hub_out, " != landed ",
                                   landed_total, " (loopback backlog drops ", softnet_drops,
                                   ", other datagrams landed ", landed.other.load(), ")"));
  }
  // Per-second lines of a short run follow the generator's pacing jitter: compared from three
  // whole seconds on (runs of 5 s and more).
  if (status.size() >= 3 && std::abs(status_pps - egress_pps) > 0.05 * egress_pps) {
    invalid.push_back(
        absl::StrFormat("status lines say %.0f pps, landed %.0f pps", status_pps, egress_pps));
  }

  std::printf("kernel_mode_bench: %u receivers (%s), %u shard(s), offered ingress %u pps, %.0f s\n",
              a.receivers, a.drain ? "drained by a second thread" : "not drained", a.shards,
              a.ingress_pps, a.seconds);
  std::printf("| measure | value |\n|---|---|\n");
  std::printf("| bare sendmmsg loop, pps (wall, one thread) | %.0f |\n", ceiling.pps_wall);
  std::printf("| bare sendmmsg loop, pps per CPU-second | %.0f |\n", ceiling.pps_per_core);
  std::printf("| generator ingress sent, pps | %.0f |\n", static_cast<double>(sent) / send_wall);
  std::printf("| egress expected (ingress x receivers), packets | %llu |\n",
              static_cast<unsigned long long>(expected));
  std::printf("| egress landed (received + receivers' kernel drops), packets | %llu |\n",
              static_cast<unsigned long long>(landed_total));
  std::printf("| of which dropped by the receivers' kernel (full buffers) | %llu |\n",
              static_cast<unsigned long long>(receiver_drops));
  std::printf("| dropped by the loopback backlog (softnet_stat) | %llu |\n",
              static_cast<unsigned long long>(softnet_drops));
  std::printf("| hub voice egress sent (stop lines: out - tx_errors), packets | %llu |\n",
              static_cast<unsigned long long>(hub_out));
  std::printf("| hub loss (expected - landed) | %.4f %% |\n",
              expected > 0
                  ? 100.0 * static_cast<double>(expected - std::min(expected, landed_total)) /
                        static_cast<double>(expected)
                  : 0.0);
  std::printf("| hub egress, pps (landed, over the busy span) | %.0f |\n", egress_pps);
  std::printf("| hub egress, pps (status lines, mean) | %.0f |\n", status_pps);
  std::printf("| hub shard CPU utilisation | %.2f cores |\n", shard_cpu / wall);
  std::printf("| hub egress per shard CPU-second | %.0f |\n", egress_per_core);
  std::printf("| shard CPU per egress packet | %.0f ns |\n", ns_per_packet);
  std::printf("| ratio: hub egress per core / bare loop per core | %.2f |\n",
              ceiling.pps_per_core > 0 ? egress_per_core / ceiling.pps_per_core : 0);
  if (!invalid.empty()) {
    std::printf("INVALID RUN:");
    for (const std::string& why : invalid) std::printf(" %s;", why.c_str());
    std::printf("\n");
    return 3;
  }
  std::printf("valid: every count agrees\n");
  return 0;
}
