// The XDP shield against the kernel's UDP receive path, on one veth pair, in one run (issue 9
// target: the shield drops a garbage flood at >= 5x the rate at which kernel mode could even
// receive it, and a 34 pps call sent during the flood loses no frame).
//
//   sudo build/bench/xdp_shield_bench [--seconds 3]
//
// Phase "socket": no XDP; a plain UDP socket on the hub port drains the flood with a recvmmsg
// loop; its rate is what kernel mode could receive. Phases "shield native" and "shield generic":
// XdpShield attached; its drop_bad_magic counter gives the drop rate, while a hub socket counts the
// frames of a 34 pps call sent from the client's own UDP stack during the flood.
//
// The flood comes from an in-kernel generator (bench/xdp_flood_gen.bpf.c through
// BPF_PROG_TEST_RUN with live frames) in the client namespace: a veth delivers its frames to the
// hub end's NAPI on the generator's CPU, so the receive path's cost per packet sets the rate,
// which is the quantity compared. The veth's GRO is switched on at the hub end: a veth accepts
// XDP-redirected frames only when its peer runs NAPI (GRO, or an XDP program).
//
// Everything runs in namespaces this program creates (198.18.0.0/24) and is removed at exit.

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/flood_gen.h"
#include "dataplane/io/xdp/xdp_shield.h"
#include "tests/ebpf/netns_lab.h"

namespace {

using dmrswitch::io::XdpAttachedModeName;
using dmrswitch::io::XdpAttachMode;
using dmrswitch::io::XdpListenerFamily;
using dmrswitch::io::XdpShield;
using dmrswitch::io::XdpShieldOptions;
namespace lab = dmrswitch::io::testing;
using dmrswitch::bench::GarbageFrame;
using dmrswitch::bench::GeneratorResult;
using dmrswitch::bench::LoadAverage;
using dmrswitch::bench::MacOf;
using dmrswitch::bench::SetGro;
using dmrswitch::bench::SpawnGenerator;
using dmrswitch::bench::UdpStats;

constexpr uint16_t kHubPort = 62031;
constexpr uint32_t kCallPps = 34;

// Counts datagrams on the hub port with a recvmmsg loop until stopped: all of them, and those
// of the call (55-byte DMRD).
class HubReceiver {
 public:
  HubReceiver() {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const int rcvbuf = 8 << 20;
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(kHubPort);
    a.sin_addr.s_addr = htonl(lab::kLabHubIp);
    ok_ = bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    thread_ = std::thread([this] { Loop(); });
  }
  ~HubReceiver() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  bool ok() const { return ok_; }
  uint64_t total() const { return total_; }
  uint64_t call() const { return call_; }

 private:
  void Loop() {
    constexpr int kBatch = 64;
    static thread_local uint8_t bufs[kBatch][2048];
    iovec iov[kBatch];
    mmsghdr msgs[kBatch];
    for (int i = 0; i < kBatch; ++i) {
      iov[i] = iovec{bufs[i], sizeof(bufs[i])};
      msgs[i] = mmsghdr{};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    timeval tv{0, 20000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (!stop_) {
      const int n = recvmmsg(fd_, msgs, kBatch, 0, nullptr);
      if (n <= 0) continue;
      total_ += static_cast<uint64_t>(n);
      for (int i = 0; i < n; ++i) {
        if (msgs[i].msg_len == 55 && std::memcmp(bufs[i], "DMRD", 4) == 0) ++call_;
      }
    }
  }
  int fd_ = -1;
  bool ok_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> total_{0};
  std::atomic<uint64_t> call_{0};
  std::thread thread_;
};

struct ShieldPhase {
  std::string mode;
  GeneratorResult gen;
  uint64_t dropped = 0;
  uint64_t call_sent = 0;
  uint64_t call_received = 0;
  uint64_t garbage_at_socket = 0;
  double rate() const { return gen.seconds > 0 ? static_cast<double>(dropped) / gen.seconds : 0; }
};

bool RunShieldPhase(lab::VethLab& veth, XdpAttachMode mode, const std::vector<uint8_t>& frame,
                    double seconds, uint32_t spin, ShieldPhase* out) {
  XdpShieldOptions o;
  o.interface = veth.hub_if();
  o.attach = mode;
  o.runtime_name = "xdp-shield-bench";
  o.listeners = {{kHubPort, XdpListenerFamily::kHbp}};
  auto shield = XdpShield::Attach(o);
  if (!shield.ok()) {
    std::fprintf(stderr, "attach: %s\n", std::string(shield.status().message()).c_str());
    return false;
  }
  out->mode = std::string(XdpAttachedModeName((*shield)->mode()));
  HubReceiver receiver;
  if (!receiver.ok()) return false;
  const uint64_t before = *(*shield)->maps().Counter("drop_bad_magic");
  // The call starts first and ends after the flood: every one of its frames overlaps it.
  const uint32_t call_frames = static_cast<uint32_t>((seconds + 1.0) * kCallPps);
  int p[2];
  if (pipe(p) != 0) return false;
  const pid_t caller = veth.SpawnInClient([&] {
    lab::WriteU64(p[1], lab::SendCall(kHubPort, 40000, kCallPps, call_frames));
    return 0;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  out->gen = SpawnGenerator(veth, frame, seconds, spin);
  lab::WaitChild(caller);
  out->call_sent = lab::ReadU64(p[0]);
  close(p[0]);
  close(p[1]);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  out->dropped = *(*shield)->maps().Counter("drop_bad_magic") - before;
  out->call_received = receiver.call();
  out->garbage_at_socket = receiver.total() - receiver.call();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2;
  int rounds = 3;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) seconds = std::atof(argv[++i]);
    if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) rounds = std::atoi(argv[++i]);
  }
  libbpf_set_print(nullptr);  // libxdp's fallback chatter would interleave with the table
  if (absl::Status s = lab::PrivateMountNamespace(); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 2;
  }
  auto created = lab::VethLab::Create("bn");
  if (!created.ok()) {
    std::fprintf(stderr, "%s\n", std::string(created.status().message()).c_str());
    return 2;
  }
  lab::VethLab& veth = **created;
  if (!veth.EnterHub().ok() || !SetGro(veth.hub_if(), true)) {
    std::fprintf(stderr, "cannot enter the hub namespace or switch GRO on\n");
    return 2;
  }
  uint8_t mac[6];
  if (!MacOf(veth.hub_if(), mac)) return 2;
  const std::vector<uint8_t> frame = GarbageFrame(mac, kHubPort);

  // Rounds of the three phases, interleaved: on a shared machine each phase's best round is the
  // one least disturbed by other load.
  struct SocketPhase {
    GeneratorResult gen;
    uint64_t received = 0;
    uint64_t rcvbuf_errors = 0;
    double rate() const {
      return gen.seconds > 0 ? static_cast<double>(received) / gen.seconds : 0;
    }
  };
  SocketPhase sock;
  ShieldPhase native;
  ShieldPhase generic;
  uint64_t call_sent = 0, call_received = 0, garbage_at_socket = 0;
  for (int round = 0; round < rounds; ++round) {
    SocketPhase s;
    {
      HubReceiver receiver;
      if (!receiver.ok()) return 2;
      const uint64_t err_before = UdpStats().second;
      s.gen = SpawnGenerator(veth, frame, seconds);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      s.received = receiver.total();
      s.rcvbuf_errors = UdpStats().second - err_before;
    }
    if (s.rate() > sock.rate()) sock = s;
    for (auto [mode, best] : {std::pair{XdpAttachMode::kNative, &native},
                              std::pair{XdpAttachMode::kGeneric, &generic}}) {
      ShieldPhase p;
      if (!RunShieldPhase(veth, mode, frame, seconds, 0, &p)) return 2;
      if (p.rate() > best->rate()) *best = p;
    }
  }
  // The call is judged under a flood the shield can take: 5x what the socket received, paced
  // (an unlimited flood overruns the veth's 256-entry ring before XDP runs, which drops good and
  // bad frames alike, as a NIC's RX ring does when the flood exceeds what its CPU can drain).
  // Pace the generator to just above 5x: the smallest spin whose offered rate stays under 5.3x.
  const double target = 5 * sock.rate();
  uint32_t lo = 0, hi = 4096;
  while (lo < hi) {  // offered rate falls as spin grows
    const uint32_t mid = (lo + hi) / 2;
    ShieldPhase probe;
    if (!RunShieldPhase(veth, XdpAttachMode::kNative, frame, 0.4, mid, &probe)) return 2;
    if (probe.gen.sent / probe.gen.seconds > target * 1.06) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  const uint32_t spin = lo;
  ShieldPhase sustained;
  if (!RunShieldPhase(veth, XdpAttachMode::kNative, frame, seconds * 2, spin, &sustained)) {
    return 2;
  }
  call_sent = sustained.call_sent;
  call_received = sustained.call_received;
  garbage_at_socket = sustained.garbage_at_socket;
  const double socket_rate = sock.rate();
  const GeneratorResult& socket_gen = sock.gen;
  const uint64_t socket_received = sock.received;
  const uint64_t rcvbuf_errors = sock.rcvbuf_errors;

  std::printf(
      "xdp_shield_bench: veth pair, in-kernel generator (XDP live frames), best of %d "
      "rounds of %.1f s per phase, %u CPUs, load average %s\n",
      rounds, seconds, std::thread::hardware_concurrency(), LoadAverage().c_str());
  std::printf("%-16s %14s %14s %14s %12s %14s\n", "phase", "offered pps", "handled pps", "ratio",
              "call frames", "garbage@sock");
  std::printf("%-16s %14.0f %14.0f %14s %12s %14lu  (rcvbuf errors %lu)\n", "socket (no XDP)",
              socket_gen.sent / socket_gen.seconds, socket_rate, "1.0", "-",
              static_cast<unsigned long>(socket_received),
              static_cast<unsigned long>(rcvbuf_errors));
  bool met = call_received == call_sent && garbage_at_socket == 0 &&
             sustained.dropped >= sustained.gen.sent * 99 / 100;
  sustained.mode = "native @5x";
  for (const ShieldPhase* p : {&native, &generic, &sustained}) {
    const double ratio = socket_rate > 0 ? p->rate() / socket_rate : 0;
    std::printf("%-16s %14.0f %14.0f %14.1f %5lu/%-6lu %14lu\n", ("shield " + p->mode).c_str(),
                p->gen.sent / p->gen.seconds, p->rate(), ratio,
                static_cast<unsigned long>(p->call_received),
                static_cast<unsigned long>(p->call_sent),
                static_cast<unsigned long>(p->garbage_at_socket));
  }
  std::printf(
      "34 pps call during the 5x flood: %lu/%lu frames received, %lu garbage datagrams "
      "reached the socket\n",
      static_cast<unsigned long>(call_received), static_cast<unsigned long>(call_sent),
      static_cast<unsigned long>(garbage_at_socket));
  const double native_ratio = socket_rate > 0 ? native.rate() / socket_rate : 0;
  if (native_ratio < 5) met = false;
  std::printf(
      "target (native drop >= 5x socket receive, 5x flood dropped whole, call whole, "
      "no garbage at the socket): "
      "%s\n",
      met ? "met" : "MISSED");
  return met ? 0 : 1;
}
