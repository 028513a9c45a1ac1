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
//    Egress is read from the hub's own status line; CPU from /proc for the shard threads.
// By default the receivers are not drained in either phase: the work measured is the sender's,
// and the kernel drops what a full socket buffer cannot take in both cases alike. With --drain 1
// a second thread reads them in both phases (closer to real clients; costs the sender more).
//
// Prints one table and the ratio egress-per-shard-core / ceiling-per-core (target ≥ 0.80).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
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

// Reads everything that arrives on `fds` until `stop` (the receivers of a drained run).
void Drain(const std::vector<int>& fds, const std::atomic<bool>& stop, uint64_t* received) {
  constexpr unsigned kBatch = 64;
  uint8_t buf[kBatch][128];
  iovec iov[kBatch];
  mmsghdr msg[kBatch];
  while (!stop.load(std::memory_order_relaxed)) {
    bool any = false;
    for (int fd : fds) {
      for (unsigned i = 0; i < kBatch; ++i) {
        iov[i] = {buf[i], sizeof(buf[i])};
        msg[i] = {};
        msg[i].msg_hdr.msg_iov = &iov[i];
        msg[i].msg_hdr.msg_iovlen = 1;
      }
      const int n = recvmmsg(fd, msg, kBatch, MSG_DONTWAIT, nullptr);
      if (n > 0) {
        *received += static_cast<unsigned>(n);
        any = true;
      }
    }
    if (!any) std::this_thread::yield();
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
  uint64_t drained = 0;
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
  std::atomic<bool> stop_drain{false};
  uint64_t drained = 0;
  std::vector<int> receiver_fds;
  for (size_t i = 1; i < clients.size(); ++i) receiver_fds.push_back(clients[i]->poll_fd());
  std::thread drainer;
  if (a.drain) {
    drainer = std::thread(Drain, std::cref(receiver_fds), std::cref(stop_drain), &drained);
  }

  // One long voice stream on TG 91, paced in 1 ms bursts at ingress_pps.
  dmrswitch::sim::VoiceCallSpec spec;
  spec.tg = 91;
  spec.ts = 2;
  spec.rf_src = 3120001;
  spec.superframes = static_cast<unsigned>(a.ingress_pps * (a.seconds + 4) / 6) + 1;
  spec.terminator = true;
  const std::vector<dmrswitch::sim::DmrdFrame> frames =
      dmrswitch::sim::BuildVoiceCall(spec, clients[0]->id());

  // Skip the first second (status lines straddle the start), then measure.
  const pid_t pid = (*hub)->pid();
  dmrswitch::sim::HbpClient& source = *clients[0];
  const double interval = 1e-3;
  const unsigned per_tick = std::max(1u, static_cast<unsigned>(a.ingress_pps * interval));
  size_t next = 0;
  const auto start = std::chrono::steady_clock::now();
  auto tick = start;
  size_t log_from = 0;
  double cpu0 = 0;
  std::chrono::steady_clock::time_point measure_start;
  bool measuring = false;
  uint64_t sent = 0;
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - start).count();
    if (!measuring && elapsed >= 1.0) {
      measuring = true;
      measure_start = now;
      log_from = (*hub)->LogSize();
      cpu0 = dmrswitch::bench::ShardCpuSeconds(pid);
      sent = 0;
    }
    if (elapsed >= a.seconds + 1.0) break;
    for (unsigned i = 0; i < per_tick && next < frames.size() - 1; ++i) {
      (void)source.SendRaw(frames[next++]);
      ++sent;
    }
    tick += std::chrono::microseconds(static_cast<int64_t>(interval * 1e6));
    std::this_thread::sleep_until(tick);
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - measure_start).count();
  const double shard_cpu = dmrswitch::bench::ShardCpuSeconds(pid) - cpu0;
  stop_drain.store(true);
  if (drainer.joinable()) drainer.join();
  (void)source.SendRaw(frames.back());  // terminator
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const std::string log = (*hub)->Log();
  std::vector<double> egress = EgressFromStatus(log, log_from);
  // The first and last status lines cover partly idle time.
  if (egress.size() > 2) egress = std::vector<double>(egress.begin() + 1, egress.end() - 1);
  double egress_pps = 0;
  for (double e : egress) egress_pps += e;
  egress_pps = egress.empty() ? 0 : egress_pps / static_cast<double>(egress.size());
  const double egress_per_core =
      shard_cpu > 0 ? egress_pps * wall / shard_cpu : 0;  // packets per CPU-second of the shards
  const double ns_per_packet = egress_pps > 0 ? shard_cpu * 1e9 / (egress_pps * wall) : 0;

  std::printf("kernel_mode_bench: %u receivers (%s), %u shard(s), offered ingress %u pps, %.0f s\n",
              a.receivers, a.drain ? "drained by a second thread" : "not drained", a.shards,
              a.ingress_pps, a.seconds);
  std::printf("| measure | value |\n|---|---|\n");
  std::printf("| bare sendmmsg loop, pps (wall, one thread) | %.0f |\n", ceiling.pps_wall);
  std::printf("| bare sendmmsg loop, pps per CPU-second | %.0f |\n", ceiling.pps_per_core);
  std::printf("| generator ingress sent, pps | %.0f |\n", static_cast<double>(sent) / wall);
  std::printf("| hub egress, pps (wall, status line) | %.0f |\n", egress_pps);
  std::printf("| hub shard CPU utilisation | %.2f cores |\n", shard_cpu / wall);
  std::printf("| hub egress per shard CPU-second | %.0f |\n", egress_per_core);
  std::printf("| shard CPU per egress packet | %.0f ns |\n", ns_per_packet);
  std::printf("| ratio: hub egress per core / bare loop per core | %.2f |\n",
              ceiling.pps_per_core > 0 ? egress_per_core / ceiling.pps_per_core : 0);
  clients.clear();
  (*hub)->Stop();
  return 0;
}
