#include "bench/flood_gen.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "bench/xdp_flood_gen.skel.h"

namespace dmrswitch::bench {

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

bool SetGro(const std::string& interface, bool on) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ethtool_value value{};
  value.cmd = ETHTOOL_SGRO;
  value.data = on ? 1 : 0;
  ifreq req{};
  std::snprintf(req.ifr_name, sizeof(req.ifr_name), "%s", interface.c_str());
  req.ifr_data = reinterpret_cast<char*>(&value);
  const bool ok = ioctl(fd, SIOCETHTOOL, &req) == 0;
  close(fd);
  return ok;
}

bool MacOf(const std::string& interface, uint8_t mac[6]) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq req{};
  std::snprintf(req.ifr_name, sizeof(req.ifr_name), "%s", interface.c_str());
  const bool ok = ioctl(fd, SIOCGIFHWADDR, &req) == 0;
  close(fd);
  if (ok) std::memcpy(mac, req.ifr_hwaddr.sa_data, 6);
  return ok;
}

// A garbage datagram (no valid tag) from 198.18.0.2:50000 to the hub port, addressed to the hub
// end's MAC so the kernel's stack takes it as its own in the socket phase.
std::vector<uint8_t> GarbageFrame(const uint8_t hub_mac[6], uint16_t hub_port) {
  std::vector<uint8_t> f(14 + 20 + 8 + 22, 0);
  std::memcpy(f.data(), hub_mac, 6);
  const uint8_t src_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
  std::memcpy(f.data() + 6, src_mac, 6);
  f[12] = 0x08;
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x45;
  ip[3] = 20 + 8 + 22;
  ip[8] = 64;
  ip[9] = 17;
  const uint8_t src[4] = {198, 18, 0, 2};
  const uint8_t dst[4] = {198, 18, 0, 1};
  std::memcpy(ip + 12, src, 4);
  std::memcpy(ip + 16, dst, 4);
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += (uint32_t{ip[i]} << 8) | ip[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  ip[10] = static_cast<uint8_t>(~sum >> 8);
  ip[11] = static_cast<uint8_t>(~sum);
  uint8_t* udp = ip + 20;
  udp[0] = 50000 >> 8;
  udp[1] = 50000 & 0xff;
  udp[2] = hub_port >> 8;
  udp[3] = hub_port & 0xff;
  udp[5] = 8 + 22;
  std::memset(udp + 8, 'X', 22);
  return f;
}

GeneratorResult RunGenerator(const std::string& interface, const std::vector<uint8_t>& frame,
                             double seconds, uint32_t spin) {
  GeneratorResult r;
  xdp_flood_gen* skel = xdp_flood_gen__open();
  if (skel == nullptr) return r;
  skel->rodata->out_ifindex = if_nametoindex(interface.c_str());
  if (xdp_flood_gen__load(skel) != 0) {
    xdp_flood_gen__destroy(skel);
    return r;
  }
  xdp_md ctx{};
  ctx.data_end = static_cast<uint32_t>(frame.size());
  // Each call sets up a page pool: calls of ~0.2 s keep that cost out of the rate.
  skel->bss->spin = spin;
  uint32_t chunk = 50'000;
  const auto start = std::chrono::steady_clock::now();
  while (Seconds(std::chrono::steady_clock::now() - start) < seconds) {
    const auto call_start = std::chrono::steady_clock::now();
    bpf_test_run_opts opts{};
    opts.sz = sizeof(opts);
    opts.data_in = frame.data();
    opts.data_size_in = static_cast<uint32_t>(frame.size());
    opts.ctx_in = &ctx;
    opts.ctx_size_in = sizeof(ctx);
    opts.repeat = chunk;
    opts.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
    if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xdp_flood_gen), &opts) != 0) {
      std::perror("BPF_PROG_TEST_RUN (live frames)");
      break;
    }
    r.sent += chunk;
    const double took = Seconds(std::chrono::steady_clock::now() - call_start);
    if (took > 0)
      chunk = std::clamp(static_cast<uint32_t>(chunk * 0.2 / took), 10'000u, 4'000'000u);
  }
  r.seconds = Seconds(std::chrono::steady_clock::now() - start);
  xdp_flood_gen__destroy(skel);
  return r;
}

GeneratorResult SpawnGenerator(const io::testing::VethLab& veth, const std::vector<uint8_t>& frame,
                               double seconds, uint32_t spin) {
  int p[2];
  if (pipe(p) != 0) return {};
  const pid_t child = veth.SpawnInClient([&] {
    const GeneratorResult r = RunGenerator(veth.client_if(), frame, seconds, spin);
    io::testing::WriteU64(p[1], r.sent);
    io::testing::WriteU64(p[1], static_cast<uint64_t>(r.seconds * 1e9));
    return r.sent > 0 ? 0 : 1;
  });
  io::testing::WaitChild(child);
  GeneratorResult r;
  r.sent = io::testing::ReadU64(p[0]);
  r.seconds = static_cast<double>(io::testing::ReadU64(p[0])) / 1e9;
  close(p[0]);
  close(p[1]);
  return r;
}

std::pair<uint64_t, uint64_t> UdpStats() {
  std::ifstream snmp("/proc/self/net/snmp");
  std::string line;
  std::vector<std::string> names, values;
  while (std::getline(snmp, line)) {
    if (line.rfind("Udp: ", 0) != 0) continue;
    std::istringstream in(line.substr(5));
    std::vector<std::string>& into = names.empty() ? names : values;
    std::string w;
    while (in >> w) into.push_back(w);
  }
  uint64_t in_dgrams = 0, rcvbuf = 0;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (names[i] == "InDatagrams") in_dgrams = std::stoull(values[i]);
    if (names[i] == "RcvbufErrors") rcvbuf = std::stoull(values[i]);
  }
  return {in_dgrams, rcvbuf};
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

}  // namespace dmrswitch::bench
