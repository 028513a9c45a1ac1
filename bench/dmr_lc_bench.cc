// Link control costs on the forwarding path: building the per-(stream, TG) rewrite once, the
// per-packet masked copies it buys, and decoding a voice LC header on stream start.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>

#include "dataplane/proto/dmr_lc.h"

namespace dmrswitch {
namespace {

using proto::dmr::kBurstBytes;

std::array<uint8_t, kBurstBytes> FillerBurst() {
  std::array<uint8_t, kBurstBytes> b{};
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 29 + 0xA5);
  return b;
}

void BM_LcRewriteFor(benchmark::State& state) {
  proto::dmr::Lc lc = proto::dmr::Lc::GroupVoice(91, 3120001);
  uint32_t tg = 91;
  for (auto _ : state) {
    lc.set_dst(tg++ & 0xFFFFFF);
    benchmark::DoNotOptimize(lc);
    proto::dmr::LcRewrite rw = proto::dmr::LcRewrite::For(lc);
    benchmark::DoNotOptimize(rw);
  }
}
BENCHMARK(BM_LcRewriteFor);

void BM_ApplyHeader(benchmark::State& state) {
  const proto::dmr::LcRewrite rw =
      proto::dmr::LcRewrite::For(proto::dmr::Lc::GroupVoice(3100, 2345678));
  std::array<uint8_t, kBurstBytes> burst = FillerBurst();
  for (auto _ : state) {
    rw.ApplyHeader(burst);
    benchmark::DoNotOptimize(burst);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_ApplyHeader);

void BM_ApplyEmbedded(benchmark::State& state) {
  const proto::dmr::LcRewrite rw =
      proto::dmr::LcRewrite::For(proto::dmr::Lc::GroupVoice(3100, 2345678));
  std::array<uint8_t, kBurstBytes> burst = FillerBurst();
  // Cycle through a superframe's voice sequence numbers (A..F: 0..5) as the shard sees them.
  unsigned seq = 0;
  for (auto _ : state) {
    rw.ApplyEmbedded(burst, seq);
    seq = seq == 5 ? 0 : seq + 1;
    benchmark::DoNotOptimize(burst);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_ApplyEmbedded);

void BM_DecodeFullLc(benchmark::State& state) {
  const proto::dmr::Lc lc = proto::dmr::Lc::GroupVoice(91, 3120001);
  std::array<uint8_t, kBurstBytes> burst = FillerBurst();
  proto::dmr::EncodeFullLc(lc, proto::dmr::FullLcKind::kVoiceHeader, burst);
  if (state.range(0) != 0) burst[5] ^= 0x10;  // one bit error to repair
  proto::dmr::Lc out;
  for (auto _ : state) {
    benchmark::DoNotOptimize(burst);
    const bool ok = proto::dmr::DecodeFullLc(burst, proto::dmr::FullLcKind::kVoiceHeader, &out);
    benchmark::DoNotOptimize(ok);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_DecodeFullLc)->Arg(0)->Arg(1);

}  // namespace
}  // namespace dmrswitch
