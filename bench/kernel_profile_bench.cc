// Kernel mode under the load profiles, with latency (issue 15 items 3 and 6).
//
//   kernel_profile_bench --profile pi-club|national|backbone|storm [--rate-pps R] [--seconds S]
//                        [--shards K] [--frames F]
//
// The load is dmrswitch-pcapgen's (the same library, the same profile, the same fixed clients
// as the dpdk-mode rows of bench/pps_harness.py --profiles), switched to kernel mode. Everything
// runs in a network namespace of its own (unshare: it disappears with the process) whose
// loopback holds 198.18.0.1/15, so the hub (198.18.0.1) and every fixed client's address are
// local. The bench binds one UDP socket per listening fixed client at its address and port:
//   * a sender thread replays the datagrams in file order at R packets/s (default: the profile's
//     real rate, live streams x 16.7 pps) through one raw socket, each with its source client's
//     address and port in the headers (sources need no socket of their own: the backbone's
//     24,576 clients would exceed the open-file limit), stamping the frame's (stream ID, sequence
//     number) slot with CLOCK_REALTIME just before sendto;
//   * a receiver thread takes every datagram the hub sends to any client (epoll, recvmmsg) with
//     the kernel's receive timestamp (SO_TIMESTAMPNS): latency = receive stamp - send stamp, the
//     time through the sender's kernel, the hub (wake-up, routing, sendmmsg) and loopback.
// At the end: sent, expected (sent x destinations), received, the receivers' kernel drops
// (/proc/net/udp), the hub's own counters (stop lines), the shard threads' CPU per ingress frame,
// and the latency percentiles. Loss that the hub counted, or that no counter explains, fails the
// run (exit 1); a count that disagrees with another (received > expected, the hub's egress
// counter != received + receiver drops) makes it invalid (exit 3).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "bench/hub_threads.h"
#include "tests/e2e/hub_process.h"
#include "tools/pcapgen/pcapgen.h"
#include "tools/trafgen/trafgen.h"

namespace {

using dmrswitch::e2e::HubProcess;
using dmrswitch::trafgen::LatencyHistogram;

struct Args {
  std::string profile = "national";
  double rate_pps = 0;  // 0: the profile's real rate
  double seconds = 5;
  unsigned shards = 1;
  // Per call; 0: 250 (long calls, as on the air, and at most 256 so that a (stream, sequence)
  // key comes back only a whole pass of the file later), backbone 200, storm 64.
  unsigned frames = 0;
};

int64_t NowRealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

int Run(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// The kernel-mode configuration of the plan: pcapgen's, with the mode switched and the [dpdk]
// section (the pps runner's placeholder) left out.
std::string KernelToml(const dmrswitch::pcapgen::Plan& plan, unsigned shards) {
  std::string toml = dmrswitch::pcapgen::MakeConfigToml(plan, "kernel_profile_bench");
  const size_t dpdk = toml.find("[dpdk]\n");
  const size_t next = toml.find("\n[", dpdk + 1);
  if (dpdk != std::string::npos)
    toml.erase(dpdk, next == std::string::npos ? next : next + 1 - dpdk);
  return absl::StrReplaceAll(
      toml, {{"mode = \"dpdk\"", "mode = \"kernel\""},
             {"shards = 1\n", absl::StrCat("shards = ", shards, "\nstatus_interval_s = 1\n")}});
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; i += 2) {
    const std::string k = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "kernel_profile_bench: %s needs a value\n", k.c_str());
      return 2;
    }
    if (k == "--profile") {
      a.profile = argv[i + 1];
    } else if (k == "--rate-pps") {
      a.rate_pps = std::atof(argv[i + 1]);
    } else if (k == "--seconds") {
      a.seconds = std::atof(argv[i + 1]);
    } else if (k == "--shards") {
      a.shards = static_cast<unsigned>(std::atoi(argv[i + 1]));
    } else if (k == "--frames") {
      a.frames = static_cast<unsigned>(std::atoi(argv[i + 1]));
    } else {
      std::fprintf(stderr,
                   "kernel_profile_bench: unknown option %s (--profile, --rate-pps, --seconds, "
                   "--shards, --frames)\n",
                   k.c_str());
      return 2;
    }
  }
  if (a.seconds <= 0 || a.shards == 0) {
    std::fprintf(stderr, "kernel_profile_bench: --seconds and --shards must be positive\n");
    return 2;
  }
  dmrswitch::pcapgen::Params p;
  if (absl::Status st = dmrswitch::pcapgen::ApplyProfile(a.profile, &p); !st.ok()) {
    std::fprintf(stderr, "kernel_profile_bench: %s\n", std::string(st.message()).c_str());
    return 2;
  }
  p.frames = a.frames != 0             ? a.frames
             : a.profile == "backbone" ? 200
             : a.profile == "storm"    ? 64
                                       : 250;
  auto plan = dmrswitch::pcapgen::MakePlan(p);
  if (!plan.ok()) {
    std::fprintf(stderr, "kernel_profile_bench: %s\n",
                 std::string(plan.status().message()).c_str());
    return 2;
  }
  // The real rate: every live stream at 16.7 pps, plus the flood's share on top of the voice.
  const double rate = a.rate_pps > 0 ? a.rate_pps : p.streams * 50.0 / 3.0 / (1.0 - p.flood_share);
  // The file's frames (the storm's flood among them) as IPv4 packets for the raw socket: pcapgen
  // writes them untagged, with their checksums.
  std::vector<std::vector<uint8_t>> packets;
  for (std::vector<uint8_t>& f : dmrswitch::pcapgen::AddFlood(
           *plan,
           dmrswitch::pcapgen::MakeFrames(*plan, dmrswitch::pcapgen::MakeDatagrams(*plan)))) {
    packets.emplace_back(f.begin() + 14, f.end());
  }

  // A network namespace of our own (gone when we exit, whatever happens), its loopback up and
  // holding the whole benchmarking /15: the hub's address and every client's are local.
  if (unshare(CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "kernel_profile_bench: unshare(CLONE_NEWNET): %s (run as root)\n",
                 std::strerror(errno));
    return 1;
  }
  if (Run("ip link set lo up && ip addr add 198.18.0.1/15 dev lo") != 0) {
    std::fprintf(stderr, "kernel_profile_bench: cannot set up the namespace's loopback\n");
    return 1;
  }
  // A socket per client that hears calls (8,192 for the backbone); the sources send through one
  // raw socket with their own address and port in the headers we write, so the backbone's
  // 24,576 clients need no more descriptors than a process may have.
  std::vector<bool> is_source(plan->clients.size(), false);
  for (const dmrswitch::pcapgen::StreamPlan& s : plan->streams) is_source[s.client] = true;
  const rlim_t want_fds = plan->clients.size() - plan->streams.size() + 256;
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  if (nofile.rlim_cur < want_fds) {
    nofile.rlim_cur = std::min(want_fds, nofile.rlim_max);
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  const int raw = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);  // IP_HDRINCL
  if (raw < 0) {
    std::fprintf(stderr, "kernel_profile_bench: raw socket: %s\n", std::strerror(errno));
    return 1;
  }

  std::vector<int> fds;
  for (size_t i = 0; i < plan->clients.size(); ++i) {
    if (is_source[i]) continue;
    const dmrswitch::pcapgen::ClientPlan& c = plan->clients[i];
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(c.addr.ip);
    sa.sin_port = htons(c.addr.port);
    const int on = 1;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) != 0) {
      std::fprintf(stderr, "kernel_profile_bench: socket for client %u: %s\n", c.id,
                   std::strerror(errno));
      return 1;
    }
    fds.push_back(fd);
  }

  auto hub = HubProcess::Start(KernelToml(*plan, a.shards));
  if (!hub.ok()) {
    std::fprintf(stderr, "%s\n", std::string(hub.status().message()).c_str());
    return 1;
  }
  const pid_t pid = (*hub)->pid();
  // The shards on the last CPUs, one each, the rest of the hub and this bench on CPU 0 (on 2
  // CPUs: one shard alone on CPU 1).
  const bool pinned = dmrswitch::bench::PinHub(pid, a.shards);
  if (pinned) {
    cpu_set_t zero;
    CPU_ZERO(&zero);
    CPU_SET(0, &zero);
    sched_setaffinity(0, sizeof(zero), &zero);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // fixed clients in the snapshot

  // Slots: one per distinct (stream, seq) of the voice, stamped at send; the flood has none.
  absl::flat_hash_map<int64_t, uint32_t> slot_of;
  std::vector<int32_t> frame_slot;
  for (const auto& pk : packets) {
    const size_t udp = 4 * static_cast<size_t>(pk[0] & 0x0f);
    const int64_t key = pk.size() > udp + 8
                            ? dmrswitch::trafgen::DmrdPayloadKey(&pk[udp + 8], pk.size() - udp - 8)
                            : -1;
    frame_slot.push_back(
        key < 0 ? -1
                : static_cast<int32_t>(slot_of.try_emplace(key, slot_of.size()).first->second));
  }
  std::vector<std::atomic<int64_t>> sent_ns(slot_of.size());
  for (auto& s : sent_ns) s.store(0, std::memory_order_relaxed);

  // Receiver: every client socket in one epoll set.
  const int ep = epoll_create1(0);
  for (size_t i = 0; i < fds.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
  }
  std::atomic<bool> stop_rx{false};
  LatencyHistogram lat;
  uint64_t received = 0, other = 0, unmatched = 0;
  std::thread receiver([&] {
    constexpr int kBatch = 32;
    uint8_t buf[kBatch][128];
    char ctrl[kBatch][64];
    iovec iov[kBatch];
    mmsghdr msg[kBatch];
    epoll_event evs[256];
    while (!stop_rx.load(std::memory_order_relaxed)) {
      const int n = epoll_wait(ep, evs, 256, 20);
      for (int e = 0; e < n; ++e) {
        const int fd = fds[evs[e].data.u32];
        for (;;) {
          for (int i = 0; i < kBatch; ++i) {
            iov[i] = {buf[i], sizeof(buf[i])};
            msg[i] = {};
            msg[i].msg_hdr.msg_iov = &iov[i];
            msg[i].msg_hdr.msg_iovlen = 1;
            msg[i].msg_hdr.msg_control = ctrl[i];
            msg[i].msg_hdr.msg_controllen = sizeof(ctrl[i]);
          }
          const int got = recvmmsg(fd, msg, kBatch, MSG_DONTWAIT, nullptr);
          if (got <= 0) break;
          for (int i = 0; i < got; ++i) {
            const int64_t key = dmrswitch::trafgen::DmrdPayloadKey(buf[i], msg[i].msg_len);
            if (key < 0) {
              ++other;
              continue;
            }
            ++received;
            int64_t rx_ns = -1;
            for (cmsghdr* c = CMSG_FIRSTHDR(&msg[i].msg_hdr); c != nullptr;
                 c = CMSG_NXTHDR(&msg[i].msg_hdr, c)) {
              if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                timespec ts;
                std::memcpy(&ts, CMSG_DATA(c), sizeof(ts));
                rx_ns = int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
              }
            }
            const auto it = slot_of.find(key);
            const int64_t tx_ns =
                it == slot_of.end() ? 0 : sent_ns[it->second].load(std::memory_order_relaxed);
            if (rx_ns < 0 || tx_ns == 0 || rx_ns < tx_ns) {
              ++unmatched;
            } else {
              lat.Add(static_cast<uint64_t>(rx_ns - tx_ns));
            }
          }
          if (got < kBatch) break;
        }
      }
    }
  });

  // Sender: in file order, paced in 1 ms ticks (a fraction carried over at low rates).
  sockaddr_in hub_addr{};
  hub_addr.sin_family = AF_INET;
  hub_addr.sin_addr.s_addr = htonl(plan->hub_ip);
  hub_addr.sin_port = htons(plan->hub_port);
  const uint64_t drops0 = dmrswitch::bench::UdpSocketDrops(fds);
  const double cpu0 = dmrswitch::bench::ShardCpuSeconds(pid);
  uint64_t sent = 0, send_failed = 0;
  uint64_t sent_voice = 0;  // of `sent`, the voice (the rest is the storm's flood)
  size_t next = 0;
  double due = 0;
  const auto start = std::chrono::steady_clock::now();
  auto tick = start;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() <
         a.seconds) {
    due += rate / 1000.0;
    for (; due >= 1; due -= 1) {
      const std::vector<uint8_t>& pk = packets[next];
      const int32_t slot = frame_slot[next];
      if (slot >= 0) sent_ns[slot].store(NowRealtimeNs(), std::memory_order_relaxed);
      if (sendto(raw, pk.data(), pk.size(), 0, reinterpret_cast<const sockaddr*>(&hub_addr),
                 sizeof(hub_addr)) == static_cast<ssize_t>(pk.size())) {
        ++sent;
        if (slot >= 0) ++sent_voice;
      } else {
        ++send_failed;
      }
      if (++next == packets.size()) next = 0;
    }
    tick += std::chrono::milliseconds(1);
    std::this_thread::sleep_until(tick);
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // egress in flight
  const double shard_cpu = dmrswitch::bench::ShardCpuSeconds(pid) - cpu0;
  stop_rx.store(true);
  receiver.join();
  const uint64_t receiver_drops = dmrswitch::bench::UdpSocketDrops(fds) - drops0;
  (*hub)->Stop();
  const std::string log = (*hub)->Log();
  const uint64_t hub_rx = dmrswitch::bench::SumOfStopLines(log, " rx ");
  const uint64_t hub_out = dmrswitch::bench::SumOfStopLines(log, " out ") -
                           dmrswitch::bench::SumOfStopLines(log, " tx_errors ");
  const uint64_t hub_routed = dmrswitch::bench::SumOfStopLines(log, " routed ");
  for (int fd : fds) close(fd);
  close(ep);
  close(raw);

  const unsigned dests = p.fanout + p.obp_peers;
  const uint64_t expected = sent_voice * dests;
  std::printf(
      "kernel_profile_bench: profile %s (%u clients, %u live streams, %u destinations per "
      "frame), kernel mode, %u shard(s)%s, %.0f pps asked for %.1f s; %lu of the %lu frames "
      "sent are voice\n",
      a.profile.c_str(), static_cast<unsigned>(plan->clients.size()), p.streams, dests, a.shards,
      pinned ? " pinned alone" : "", rate, wall, static_cast<unsigned long>(sent_voice),
      static_cast<unsigned long>(sent));
  std::printf(
      "| profile | offered (pps) | sent | received / expected | receivers' kernel drops | "
      "hub rx / routed | shard CPU per ingress frame (us) | latency p50 / p99 / p99.9 / "
      "max (us) |\n|---|---|---|---|---|---|---|---|\n");
  const auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  std::printf(
      "| %s | %.0f | %lu | %lu / %lu | %lu | %lu / %lu | %.2f | %.1f / %.1f / %.1f / %.1f "
      "|\n",
      a.profile.c_str(), static_cast<double>(sent) / wall, static_cast<unsigned long>(sent),
      static_cast<unsigned long>(received), static_cast<unsigned long>(expected),
      static_cast<unsigned long>(receiver_drops), static_cast<unsigned long>(hub_rx),
      static_cast<unsigned long>(hub_routed),
      sent ? shard_cpu * 1e6 / static_cast<double>(sent) : 0.0, us(lat.Percentile(0.5)),
      us(lat.Percentile(0.99)), us(lat.Percentile(0.999)), us(lat.max()));

  std::vector<std::string> invalid, failed;
  if (received > expected)
    invalid.push_back(absl::StrCat("received ", received, " > expected ", expected));
  if (hub_out != received + receiver_drops) {
    invalid.push_back(absl::StrCat("hub's egress counter ", hub_out, " != received ", received,
                                   " + receivers' kernel drops ", receiver_drops));
  }
  // A copy without a receive stamp, or older than its slot's stamp (clock trouble), cannot be
  // timed. (One that arrives after its key was sent again, a whole pass of the file later with
  // calls of at most 256 frames, is timed too short and not detected.)
  const bool untimed = unmatched != 0 || lat.count() != received;
  if (send_failed != 0) failed.push_back(absl::StrCat(send_failed, " sends refused by our kernel"));
  if (hub_rx != sent || hub_routed != sent_voice) {
    failed.push_back(absl::StrCat("the hub received ", hub_rx, " of ", sent, " sent and routed ",
                                  hub_routed, " of ", sent_voice, " voice frames"));
  }
  if (received + receiver_drops < expected) {
    failed.push_back(
        absl::StrCat(expected - received - receiver_drops, " datagrams never reached a receiver"));
  }
  if (receiver_drops != 0) {
    failed.push_back(absl::StrCat(receiver_drops,
                                  " dropped by the receivers' kernel (this bench "
                                  "did not read fast enough: not the hub's)"));
  }
  if (static_cast<double>(sent) / wall < 0.98 * rate) {
    std::printf(
        "note: the sender offered %.0f of the %.0f pps asked for (one thread beside the "
        "receiver and the hub's control plane on CPU 0)\n",
        static_cast<double>(sent) / wall, rate);
  }
  if (untimed && failed.empty()) {
    invalid.push_back(absl::StrCat(unmatched, " received datagrams could not be timed"));
  } else if (untimed) {
    std::printf("note: %lu received datagrams could not be timed (the hub fell behind)\n",
                static_cast<unsigned long>(unmatched));
  }
  for (const std::string& w : invalid) std::printf("INVALID RUN: %s\n", w.c_str());
  for (const std::string& w : failed) std::printf("LOSS: %s\n", w.c_str());
  if (!invalid.empty()) return 3;
  if (!failed.empty()) return 1;
  std::printf("no loss\n");
  return 0;
}
