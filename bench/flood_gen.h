// The in-kernel garbage-flood generator of the shield benchmarks (bench/xdp_shield_bench: the bare
// shield; bench/shield_hub_bench: the hub in kernel mode behind it) and what they measure with.
//
// The flood comes from bench/xdp_flood_gen.bpf.c run through BPF_PROG_TEST_RUN with live frames
// in the client namespace: a veth delivers its frames to the hub end's NAPI on the generator's
// CPU, so the receive path's cost per packet sets the rate, which is the quantity compared.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tests/ebpf/netns_lab.h"

namespace dmrswitch::bench {

double Seconds(std::chrono::steady_clock::duration d);

// ethtool -K IF gro on|off (the calling thread's namespace). A veth accepts XDP-redirected frames
// only when its peer runs NAPI (GRO, or an XDP program).
bool SetGro(const std::string& interface, bool on);
bool MacOf(const std::string& interface, uint8_t mac[6]);

// A garbage datagram (no valid tag) from 198.18.0.2:50000 to hub_port, addressed to the hub end's
// MAC so the kernel's stack takes it as its own when no shield drops it.
std::vector<uint8_t> GarbageFrame(const uint8_t hub_mac[6], uint16_t hub_port);

struct GeneratorResult {
  uint64_t sent = 0;
  double seconds = 0;
};

// In the client namespace: sends `frame` out of `interface` until `seconds` have passed.
// spin = 0: as fast as the receiving side takes them; else paced (xdp_flood_gen.bpf.c).
GeneratorResult RunGenerator(const std::string& interface, const std::vector<uint8_t>& frame,
                             double seconds, uint32_t spin);
// The same in a child process that entered the lab's client namespace.
GeneratorResult SpawnGenerator(const io::testing::VethLab& veth, const std::vector<uint8_t>& frame,
                               double seconds, uint32_t spin = 0);

// Udp: InDatagrams and RcvbufErrors of the calling process's namespace.
std::pair<uint64_t, uint64_t> UdpStats();
std::string LoadAverage();

}  // namespace dmrswitch::bench
