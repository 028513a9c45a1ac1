// The XDP shield in front of the real hub (issue 9 target): dmrswitch-dp in kernel mode behind
// the shield drops a garbage flood at >= 5x the rate at which kernel mode without it could even
// receive the flood, and a logged-in client's call across the hub during the flood loses no frame.
// (bench/xdp_shield_bench measures the bare shield against a bare socket.)
//
//   sudo build/bench/shield_hub_bench [--seconds 2] [--rounds 3]
//
// One veth pair between two namespaces this program creates (tests/ebpf/netns_lab.h); the hub
// (kernel mode, default two shards, hosted control plane) runs in the hub namespace. Phases:
//  * "kernel mode": no shield; an unpaced garbage flood (bench/flood_gen.h) to the HBP port; the
//    rate the kernel delivered it to the hub's sockets (Udp InDatagrams) is what kernel mode
//    could receive;
//  * "kernel mode + shield native" / "generic": [xdp] interface set; the same flood; the shield's
//    drop_bad_magic counter gives its drop rate;
//  * "call during a 5x flood": the shield native, the flood paced to just above 5x the kernel
//    mode rate, and meanwhile a logged-in hotspot talks for 4 s (60 ms a frame) to another one
//    through the hub: every frame of the call must arrive.
// Rounds of the first three phases interleave; each phase's best round counts (a shared machine).

#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/flood_gen.h"
#include "dataplane/io/xdp/xdp_shield.h"
#include "tests/e2e/hub_process.h"
#include "tests/ebpf/netns_lab.h"
#include "tools/sim/dmr_calls.h"
#include "tools/sim/hbp_client.h"

namespace {

using dmrswitch::bench::GeneratorResult;
using dmrswitch::e2e::HubProcess;
namespace lab = dmrswitch::io::testing;

constexpr uint16_t kHbpPort = 62031;

// Runs fn on a thread that entered the lab's client namespace (sockets stay there).
template <typename F>
auto InClient(const lab::VethLab& veth, F&& fn) -> decltype(fn()) {
  std::optional<decltype(fn())> result;
  std::thread t([&] {
    const int fd =
        open(absl::StrCat("/var/run/netns/", veth.client_ns()).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) std::abort();
    close(fd);
    result.emplace(fn());
  });
  t.join();
  return *std::move(result);
}

std::string HubToml(const lab::VethLab& veth, const std::string& runtime, const char* attach) {
  std::string toml = absl::StrCat(
      "[hub]\nserver_id = 310999\nstatus_interval_s = 1\nruntime_name = \"", runtime,
      "\"\n[hbp]\nlisten = \"198.18.0.1:", kHbpPort, "\"\npassphrase = \"passw0rd\"\n");
  if (attach != nullptr) {
    absl::StrAppend(&toml, "[xdp]\ninterface = \"", veth.hub_if(), "\"\nattach = \"", attach,
                    "\"\n");
  }
  return toml;
}

std::unique_ptr<HubProcess> StartHub(const std::string& toml) {
  auto hub = HubProcess::Start(toml);  // forked from this thread: the hub namespace
  if (!hub.ok()) {
    std::fprintf(stderr, "%s\n", std::string(hub.status().message()).c_str());
    return nullptr;
  }
  return *std::move(hub);
}

uint64_t BadMagic(const std::string& runtime) {
  auto maps = dmrswitch::io::XdpShieldMaps::OpenPinned(runtime);
  if (!maps.ok()) return 0;
  return maps->Counter("drop_bad_magic").value_or(0);
}

struct Phase {
  GeneratorResult gen;
  uint64_t handled = 0;  // received by the hub's sockets, or dropped by the shield
  double rate() const { return gen.seconds > 0 ? static_cast<double>(handled) / gen.seconds : 0; }
};

// The hub without a shield: what its sockets receive of an unpaced flood.
bool KernelPhase(const lab::VethLab& veth, const std::vector<uint8_t>& frame, double seconds,
                 Phase* out) {
  const std::string runtime = absl::StrCat("shb", getpid());
  std::unique_ptr<HubProcess> hub = StartHub(HubToml(veth, runtime, nullptr));
  if (hub == nullptr) return false;
  const auto before = dmrswitch::bench::UdpStats();
  out->gen = dmrswitch::bench::SpawnGenerator(veth, frame, seconds);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  out->handled = dmrswitch::bench::UdpStats().first - before.first;
  return hub->Stop() == 0;
}

// The hub behind the shield (attach mode `attach`): what the shield drops of a flood.
bool ShieldPhase(const lab::VethLab& veth, const std::vector<uint8_t>& frame, double seconds,
                 const char* attach, uint32_t spin, Phase* out, std::string* start_line) {
  const std::string runtime = absl::StrCat("shb", getpid());
  std::unique_ptr<HubProcess> hub = StartHub(HubToml(veth, runtime, attach));
  if (hub == nullptr) return false;
  if (start_line != nullptr) {
    const std::string log = hub->Log();
    // The start line: other "dmrswitch-dp: " lines (telemetry) come before it.
    const size_t at = log.find("dmrswitch-dp: kernel mode");
    *start_line = at == std::string::npos ? "" : log.substr(at, log.find(';', at) - at);
  }
  const uint64_t before = BadMagic(runtime);
  out->gen = dmrswitch::bench::SpawnGenerator(veth, frame, seconds, spin);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  out->handled = BadMagic(runtime) - before;
  return hub->Stop() == 0;
}

struct CallResult {
  GeneratorResult flood;
  uint64_t dropped = 0;
  size_t frames_sent = 0;
  size_t frames_received = 0;
  size_t streams = 0;
  uint64_t rate_limited = 0;
};

// A logged-in hotspot's call to another one through the hub while the flood runs (paced by spin).
bool CallPhase(const lab::VethLab& veth, const std::vector<uint8_t>& frame, double seconds,
               uint32_t spin, CallResult* out) {
  const std::string runtime = absl::StrCat("shb", getpid());
  std::unique_ptr<HubProcess> hub = StartHub(HubToml(veth, runtime, "native"));
  if (hub == nullptr) return false;
  std::vector<std::unique_ptr<dmrswitch::sim::HbpClient>> clients;
  for (uint32_t i = 0; i < 2; ++i) {
    dmrswitch::sim::HbpClientOptions o;
    o.id = 3120001 + i;
    o.passphrase = "passw0rd";
    o.hub = {"198.18.0.1", kHbpPort};
    o.local = {"198.18.0.2", 0};
    o.options = "TS2=3100";
    o.retry_interval = absl::Seconds(1);
    o.ping_interval = absl::Seconds(1);
    clients.push_back(
        InClient(veth, [&] { return std::make_unique<dmrswitch::sim::HbpClient>(o); }));
    if (absl::Status st = clients.back()->Login(absl::Seconds(5)); !st.ok()) {
      std::fprintf(stderr, "login: %s\n%s\n", std::string(st.message()).c_str(),
                   hub->Log().c_str());
      return false;
    }
  }
  const std::vector<dmrswitch::sim::Pollable*> pollables = {clients[0].get(), clients[1].get()};
  dmrswitch::sim::PollFor(pollables, absl::Milliseconds(500));
  const uint64_t before = BadMagic(runtime);
  // The call starts first and ends after the flood: every one of its frames overlaps it.
  dmrswitch::sim::VoiceCallSpec call;
  call.tg = 3100;
  call.ts = 2;
  call.rf_src = 3121001;
  call.cadence = absl::Milliseconds(60);
  call.superframes = static_cast<unsigned>((seconds + 1.5) / 0.36) + 1;
  std::thread flood([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    out->flood = dmrswitch::bench::SpawnGenerator(veth, frame, seconds, spin);
  });
  const dmrswitch::sim::SentCall sent = clients[0]->SendVoiceCall(call);
  flood.join();
  out->frames_sent = sent.frames;
  const std::vector<dmrswitch::sim::ReceivedCall> got =
      clients[1]->Receive(absl::Seconds(3), 1, absl::Milliseconds(300));
  out->streams = got.size();
  out->frames_received = got.empty() ? 0 : got[0].frame_count();
  out->dropped = BadMagic(runtime) - before;
  auto maps = dmrswitch::io::XdpShieldMaps::OpenPinned(runtime);
  if (maps.ok()) out->rate_limited = maps->Counter("drop_rate_limited").value_or(0);
  clients.clear();
  return hub->Stop() == 0;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2;
  int rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::atoi(argv[i + 1]);
  }
  libbpf_set_print(nullptr);
  if (absl::Status s = lab::PrivateMountNamespace(); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 2;
  }
  auto created = lab::VethLab::Create("sh");
  if (!created.ok()) {
    std::fprintf(stderr, "%s\n", std::string(created.status().message()).c_str());
    return 2;
  }
  lab::VethLab& veth = **created;
  // This thread (and the hubs it forks) in the hub namespace; GRO on at the hub end so the
  // generator's frames are taken without an XDP program there (the kernel-mode phase).
  if (!veth.EnterHub().ok() || !dmrswitch::bench::SetGro(veth.hub_if(), true)) {
    std::fprintf(stderr, "cannot enter the hub namespace or switch GRO on\n");
    return 2;
  }
  uint8_t mac[6];
  if (!dmrswitch::bench::MacOf(veth.hub_if(), mac)) return 2;
  const std::vector<uint8_t> frame = dmrswitch::bench::GarbageFrame(mac, kHbpPort);

  Phase kernel, native, generic;
  std::string native_line, generic_line;
  for (int round = 0; round < rounds; ++round) {
    Phase k, n, g;
    if (!KernelPhase(veth, frame, seconds, &k)) return 2;
    if (!ShieldPhase(veth, frame, seconds, "native", 0, &n, &native_line)) return 2;
    if (!ShieldPhase(veth, frame, seconds, "generic", 0, &g, &generic_line)) return 2;
    if (k.rate() > kernel.rate()) kernel = k;
    if (n.rate() > native.rate()) native = n;
    if (g.rate() > generic.rate()) generic = g;
  }
  // Pace the flood to just above 5x what kernel mode received: the smallest spin whose offered
  // rate stays under 5.8x (an unlimited flood overruns the veth's 256-entry ring before XDP
  // runs, which drops good and bad frames alike, as a NIC's RX ring does when the flood exceeds
  // what its CPU can drain).
  const double target = 5.5 * kernel.rate();
  uint32_t lo = 0, hi = 4096;
  while (lo < hi) {
    const uint32_t mid = (lo + hi) / 2;
    Phase probe;
    if (!ShieldPhase(veth, frame, 0.4, "native", mid, &probe, nullptr)) return 2;
    if (static_cast<double>(probe.gen.sent) / probe.gen.seconds > target * 1.06) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  CallResult call;
  if (!CallPhase(veth, frame, seconds * 2, lo, &call)) return 2;

  std::printf(
      "shield_hub_bench: dmrswitch-dp kernel mode (2 shards, hosted) on a veth pair, in-kernel "
      "garbage flood to the HBP port, best of %d rounds of %.1f s, %u CPUs, load average %s\n",
      rounds, seconds, std::thread::hardware_concurrency(),
      dmrswitch::bench::LoadAverage().c_str());
  std::printf("  %s\n  %s\n", native_line.c_str(), generic_line.c_str());
  std::printf("| phase | flood offered (pps) | handled (pps) | ratio to kernel mode |\n");
  std::printf("|---|---|---|---|\n");
  const double k = kernel.rate();
  std::printf("| kernel mode, no shield: received by the hub's sockets | %.0f | %.0f | 1.0 |\n",
              kernel.gen.sent / kernel.gen.seconds, k);
  for (const auto& [name, p] : {std::pair{"kernel mode + shield native: dropped", &native},
                                std::pair{"kernel mode + shield generic: dropped", &generic}}) {
    std::printf("| %s | %.0f | %.0f | %.1f |\n", name, p->gen.sent / p->gen.seconds, p->rate(),
                k > 0 ? p->rate() / k : 0);
  }
  const double paced = call.flood.seconds > 0 ? call.flood.sent / call.flood.seconds : 0;
  const double paced_dropped = call.flood.seconds > 0 ? call.dropped / call.flood.seconds : 0;
  std::printf(
      "| call during the paced flood (shield native) | %.0f | %.0f dropped | %.1f; call: "
      "%zu/%zu frames in %zu stream(s) |\n",
      paced, paced_dropped, k > 0 ? paced_dropped / k : 0, call.frames_received, call.frames_sent,
      call.streams);
  // What the flood offered beyond what the shield dropped never reached XDP: the veth's ring
  // overflowed (the generator outran the receiving CPU), as a NIC's RX ring would.
  const bool met = k > 0 && native.rate() >= 5 * k && paced_dropped >= 5 * k && call.streams == 1 &&
                   call.frames_received == call.frames_sent;
  std::printf(
      "target (shield native drops >= 5x what kernel mode receives; a >= 5x flood dropped "
      "while a logged-in client's call arrives whole): %s\n",
      met ? "met" : "MISSED");
  return met ? 0 : 1;
}
