// What the N x N steering rings cost a shard as N grows (issue 15 item 4). One shard's share
// of the mesh, on one core, with the functions and rings the DPDK shard loop uses:
//
//   BM_SteerBurst/N       a full RX burst of 32 DMRD datagrams with random stream IDs: each is
//                         classified (SteeringKeyOwner), those owned elsewhere ((N-1)/N of them)
//                         are batched per owner and enqueued in one burst per owner, and the
//                         N-1 inbound rings are polled — here the same rings, so what went out
//                         comes back in, as the peers' steered frames would. Time per datagram.
//   BM_PollIdleRings/N    one loop iteration's poll of N-1 empty inbound rings: what an idle
//                         or lightly loaded shard pays per pass for the mesh. Time per pass.
//
// EAL runs without hugepages (rings in ordinary memory, as in the unit tests).
#include <benchmark/benchmark.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "dataplane/io/steering/steering_key.h"
#include "dataplane/ipc/channel.h"
#include "dataplane/proto/hbp.h"

namespace dmrswitch {
namespace {

constexpr unsigned kBurst = 32;
constexpr unsigned kRingSize = 4096;  // as dpdk_plane.cc

struct Mesh {
  std::vector<rte_ring*> rings;  // index o: this shard's ring to (and, here, from) shard o
  explicit Mesh(uint32_t n) : rings(n, nullptr) {
    static int made = 0;
    for (uint32_t o = 1; o < n; ++o) {
      const std::string name = "steer_bench_" + std::to_string(made++);
      rings[o] = rte_ring_create_elem(name.c_str(), sizeof(void*), kRingSize, SOCKET_ID_ANY,
                                      RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (rings[o] == nullptr) std::abort();
    }
  }
  ~Mesh() {
    for (rte_ring* r : rings) rte_ring_free(r);
  }
};

// 1024 DMRD datagrams with random stream IDs (55 bytes; the steering classifier reads the tag
// and the stream ID).
std::vector<std::vector<uint8_t>> Datagrams() {
  std::mt19937 rng(11);
  std::vector<std::vector<uint8_t>> out(1024);
  for (auto& d : out) {
    proto::DmrdFields f;
    f.rf_src = 3120101;
    f.dst = 91;
    f.repeater_id = 3120001;
    f.flags = proto::DmrdFlags{0x81};
    f.stream_id = rng() | 1;
    d.resize(proto::kDmrdBytes);
    proto::EncodeDmrd(f, d);
  }
  return out;
}

void BM_SteerBurst(benchmark::State& state) {
  const auto n = static_cast<uint32_t>(state.range(0));
  Mesh mesh(n);
  const std::vector<std::vector<uint8_t>> dgrams = Datagrams();
  // Stand-ins for mbufs: the rings carry pointers and never dereference them.
  std::vector<rte_mbuf*> handles(dgrams.size());
  for (size_t i = 0; i < handles.size(); ++i) {
    handles[i] = reinterpret_cast<rte_mbuf*>(const_cast<uint8_t*>(dgrams[i].data()));
  }
  struct Batch {
    unsigned n = 0;
    rte_mbuf* pkts[kBurst];
  };
  std::vector<Batch> batch(n);
  size_t next = 0;
  uint64_t local = 0, steered = 0, back = 0;
  for (auto _ : state) {
    for (unsigned i = 0; i < kBurst; ++i) {
      const size_t k = (next + i) & (dgrams.size() - 1);
      const uint32_t owner = io::SteeringKeyOwner(dgrams[k], n);
      if (owner == 0) {
        ++local;
        continue;
      }
      Batch& b = batch[owner];
      b.pkts[b.n++] = handles[k];
    }
    next += kBurst;
    for (uint32_t o = 1; o < n; ++o) {
      Batch& b = batch[o];
      if (b.n == 0) continue;
      steered +=
          rte_ring_enqueue_burst_elem(mesh.rings[o], b.pkts, sizeof(rte_mbuf*), b.n, nullptr);
      b.n = 0;
    }
    for (uint32_t o = 1; o < n; ++o) {
      rte_mbuf* in[kBurst];
      back += ipc::ReceiveMbufs(mesh.rings[o], in, kBurst);
      benchmark::DoNotOptimize(in[0]);
    }
  }
  if (back != steered) state.SkipWithError("a steered datagram did not come back");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kBurst);
  state.counters["steered_share"] =
      static_cast<double>(steered) / static_cast<double>(steered + local);
}
BENCHMARK(BM_SteerBurst)->DenseRange(2, 16, 2)->Arg(1);

void BM_PollIdleRings(benchmark::State& state) {
  const auto n = static_cast<uint32_t>(state.range(0));
  Mesh mesh(n);
  uint64_t got = 0;
  for (auto _ : state) {
    for (uint32_t o = 1; o < n; ++o) {
      rte_mbuf* in[kBurst];
      got += ipc::ReceiveMbufs(mesh.rings[o], in, kBurst);
    }
    benchmark::DoNotOptimize(got);
  }
  if (got != 0) state.SkipWithError("idle rings gave something");
}
BENCHMARK(BM_PollIdleRings)->DenseRange(2, 16, 2);

}  // namespace
}  // namespace dmrswitch

int main(int argc, char** argv) {
  std::vector<std::string> args = {
      "steer_bench", "--no-huge",      "--no-pci", "--no-shconf", "-m",
      "64",          "--no-telemetry", "-l",       "0",           "--log-level=lib.eal:error"};
  std::vector<char*> eal;
  for (std::string& a : args) eal.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal.size()), eal.data()) < 0) {
    std::fprintf(stderr, "EAL: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  rte_eal_cleanup();
  return 0;
}
