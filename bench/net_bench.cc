// Per-packet L2–L4 costs of the DPDK shard loop (dataplane/net): parse an ingress DMRD frame,
// stamp an egress header from a template. Figures in docs/benchmarks.md ("L2–L4").
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "dataplane/net/neighbor_table.h"
#include "dataplane/net/packet.h"

namespace dmrswitch::net {
namespace {

constexpr Mac kHubMac = {0x02, 0, 0, 0, 0, 0x01};
constexpr Mac kClientMac = {0x02, 0, 0, 0, 0, 0x02};
constexpr uint32_t kHubIp = 0xc6120001;
constexpr uint32_t kClientIp = 0xc6120002;

// A 95-byte frame (53-byte DMRD) as a client sends it. Clients behind a Linux socket always
// carry a UDP checksum (the kernel fills it), so `udp_checksum` = 1 is the realistic case and the
// one a NIC without RX checksum offload (net_pcap, net_af_packet) makes us verify in software.
std::vector<uint8_t> DmrdFrame(bool vlan, bool udp_checksum) {
  UdpHeaderTemplate::Params p;
  p.dst_mac = kHubMac;
  p.src_mac = kClientMac;
  p.src_ip = kClientIp;
  p.dst_ip = kHubIp;
  p.src_port = 62031;
  p.dst_port = 62031;
  if (vlan) p.vlan = Vlan::Tag(100);
  const UdpHeaderTemplate t(p);
  std::vector<uint8_t> f(t.header_bytes() + 53);
  std::memcpy(f.data() + t.header_bytes(), "DMRD", 4);
  for (size_t i = 4; i < 53; ++i) f[t.header_bytes() + i] = static_cast<uint8_t>(i * 31);
  t.Write(f.data(), 53);
  if (udp_checksum) {
    uint8_t* udp = f.data() + t.l2_bytes() + kIpv4MinHeaderBytes;
    const uint16_t sum = ChecksumAdd(Ipv4PseudoHeaderSum(kClientIp, kHubIp, kIpProtoUdp, 61),
                                     ChecksumPartial(udp, 61));
    StoreBe16(udp + 6, static_cast<uint16_t>(~sum));
  }
  return f;
}

// args: {vlan, udp checksum present, NIC validated the checksums}
void BM_ParseFrameDmrd(benchmark::State& state) {
  const std::vector<uint8_t> f = DmrdFrame(state.range(0) != 0, state.range(1) != 0);
  ParseOptions opts;
  opts.ip_checksum_good = opts.udp_checksum_good = state.range(2) != 0;
  FrameView v;
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.data());
    const NetReject r = ParseFrame(f, &v, opts);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(v);
  }
  FrameView check;
  if (ParseFrame(f, &check, opts) != NetReject::kOk || check.payload.size() != 53) {
    state.SkipWithError("frame did not parse");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ParseFrameDmrd)
    ->ArgNames({"vlan", "udp_csum", "offload"})
    ->Args({0, 0, 0})
    ->Args({0, 1, 0})
    ->Args({0, 1, 1})
    ->Args({1, 1, 0});

// Parse + the checks the shard makes before steering: addressed to us, neighbour refresh.
void BM_ParseAddressLearn(benchmark::State& state) {
  const std::vector<uint8_t> f = DmrdFrame(false, false);
  NeighborTable::Options o;
  o.capacity = 4096;
  NeighborTable nt(o);
  FrameView v;
  TimeNs now = 1;
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.data());
    if (ParseFrame(f, &v) == NetReject::kOk &&
        AddressedToUs(v, kHubMac, kHubIp) == NetReject::kOk) {
      nt.Learn(v.src_ip, v.src_mac_array(), ++now);
    }
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ParseAddressLearn);

// args: {vlan, offload pseudo-header}. Payload length varies as it does across DMRD/DMRE.
void BM_TemplateWrite(benchmark::State& state) {
  UdpHeaderTemplate::Params p;
  p.dst_mac = kClientMac;
  p.src_mac = kHubMac;
  p.src_ip = kHubIp;
  p.dst_ip = kClientIp;
  p.src_port = 62031;
  p.dst_port = 62032;
  if (state.range(0) != 0) p.vlan = Vlan::Tag(100);
  if (state.range(1) != 0) p.udp_checksum = UdpChecksumMode::kOffloadPseudoHeader;
  const UdpHeaderTemplate t(p);
  alignas(64) std::array<uint8_t, 128> out{};
  uint16_t len = 53;
  for (auto _ : state) {
    benchmark::DoNotOptimize(len);
    benchmark::DoNotOptimize(t.Write(out.data(), len));
    benchmark::ClobberMemory();
    len = static_cast<uint16_t>(len ^ 0x6);  // 53 / 51: the checksum really is recomputed
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_TemplateWrite)
    ->ArgNames({"vlan", "offload"})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({0, 1});

// The IPv6 template. args: {offload pseudo-header}. Without offload (every vdev here) the UDP
// checksum is summed over the payload per packet, which IPv6 requires; the payload changes a
// byte per iteration so the sum is really taken. Compare with BM_TemplateWrite in one run.
void BM_Template6Write(benchmark::State& state) {
  Udp6HeaderTemplate::Params p;
  p.dst_mac = kClientMac;
  p.src_mac = kHubMac;
  p.src_ip = {0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  p.dst_ip = {0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  p.src_port = 62031;
  p.dst_port = 62032;
  p.checksum_offload = state.range(0) != 0;
  const Udp6HeaderTemplate t(p);
  alignas(64) std::array<uint8_t, 192> out{};
  for (size_t i = 0; i < 55; ++i) out[t.header_bytes() + i] = static_cast<uint8_t>(i * 31);
  uint16_t len = 53;
  uint8_t k = 0;
  for (auto _ : state) {
    out[t.header_bytes() + 20] = ++k;
    benchmark::DoNotOptimize(len);
    benchmark::DoNotOptimize(t.Write(out.data(), len));
    benchmark::ClobberMemory();
    len = static_cast<uint16_t>(len ^ 0x6);
  }
  t.Write(out.data(), len);  // the frame checked is the one last written
  FrameView v;
  if (!p.checksum_offload &&
      ParseFrame(ByteSpan(out.data(), t.header_bytes() + len), &v) != NetReject::kOk) {
    state.SkipWithError("the IPv6 frame did not parse");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_Template6Write)->ArgNames({"offload"})->Arg(0)->Arg(1);

// Fanout-like: one template per destination (16), each written once per input.
void BM_TemplateWriteFanout16(benchmark::State& state) {
  std::vector<UdpHeaderTemplate> ts;
  for (uint32_t i = 0; i < 16; ++i) {
    UdpHeaderTemplate::Params p;
    p.dst_mac = kClientMac;
    p.dst_mac[5] = static_cast<uint8_t>(i);
    p.src_mac = kHubMac;
    p.src_ip = kHubIp;
    p.dst_ip = kClientIp + i;
    p.src_port = 62031;
    p.dst_port = static_cast<uint16_t>(62031 + i);
    ts.emplace_back(p);
  }
  alignas(64) std::array<uint8_t, 16 * 128> out{};
  for (auto _ : state) {
    for (size_t i = 0; i < ts.size(); ++i) ts[i].Write(out.data() + i * 128, 55);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 16);
}
BENCHMARK(BM_TemplateWriteFanout16);

void BM_NeighborLookup(benchmark::State& state) {
  NeighborTable::Options o;
  o.capacity = 4096;
  NeighborTable nt(o);
  for (uint32_t i = 0; i < 4096; ++i) nt.Learn(0xc6120000 + i, kClientMac, 1);
  uint32_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(nt.Lookup(0xc6120000 + (i++ & 4095), 2));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_NeighborLookup);

}  // namespace
}  // namespace dmrswitch::net
