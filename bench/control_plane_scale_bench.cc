// The control plane at a national master's scale (issue "one owner for configuration and for
// time", docs/benchmarks.md): 10,000 logged-in clients and 200,000 subscribers heard, behind real
// DPDK rings (EAL without hugepages). What a single change costs the control plane — a login, an
// options change, a subscriber heard somewhere new — from the datagram on the ring to the new
// routing generation published to the shards, and, for comparison, rebuilding every piece.
//
// Only the control plane's own Step()s are timed; the harness (putting datagrams on the rings,
// acking publications as shards do) runs with the timer paused. Each client is a static member of
// one of 200 regional TGs on TS2 (50 each) and one in ten of TG 91 on TS1 (1,000 members): a
// login into TG 91 rebuilds that conference.
#include <benchmark/benchmark.h>
#include <rte_eal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ctrlplane/control_plane.h"
#include "dataplane/ipc/channel.h"
#include "dataplane/proto/crypto.h"
#include "dataplane/proto/hbp.h"
#include "dataplane/route/events.h"

namespace dmrswitch {
namespace {

constexpr uint32_t kShards = 2;
constexpr uint32_t kClients = 10000;
constexpr uint32_t kHeard = 200000;
constexpr uint32_t kFirstId = 3120000;
constexpr char kPassphrase[] = "passw0rd";

route::Endpoint AddrOf(uint32_t i) {
  return {0xC6120000u + i, static_cast<uint16_t>(40000 + (i & 0x3FFF))};
}

std::string Options(uint32_t i) {
  return i % 10 == 0 ? absl::StrCat("TS1=91;TS2=", 2300 + i % 200)
                     : absl::StrCat("TS2=", 2300 + i % 200);
}

// The hub: kClients fixed clients (logged in by configuration, their statics as options) and
// room for the logins the benchmarks add.
std::string Config() {
  std::string t = absl::StrCat(
      "[hub]\nserver_id = 310999\nshards = ", kShards,
      "\nstatus_interval_s = 3600\n[hbp]\nlisten = \"127.0.0.1:62031\"\npassphrase = \"",
      kPassphrase, "\"\nmax_clients = ", kClients + 4096, "\nlogin_burst = 0\n");
  for (uint32_t i = 0; i < kClients; ++i) {
    const route::Endpoint a = AddrOf(i);
    absl::StrAppend(&t, "[[hbp.fixed_client]]\nid = ", kFirstId + i, "\naddress = \"198.18.",
                    (a.ip >> 8) & 255, ".", a.ip & 255, ":", a.port, "\"\noptions = \"", Options(i),
                    "\"\n");
  }
  return t;
}

class Hub {
 public:
  static Hub& Get() {
    static Hub* hub = new Hub();
    return *hub;
  }

  // One control-plane step at `now_ += 25 ms` (past the snapshot rate limit), timed; then the
  // harness drains what the shards would receive and acks publications, untimed.
  void Step(benchmark::State& state, route::TimeNs dt = 25 * route::kMs) {
    now_ += dt;
    const uint64_t before = cp_->generation();
    state.ResumeTiming();
    cp_->Step(now_);
    state.PauseTiming();
    if (cp_->generation() != before) {
      const auto& b = cp_->last_build();
      ++built.generations;
      built.chunks += b.client_chunks;
      built.conferences += b.conferences;
      built.subscriber_parts += b.subscriber_parts;
    }
    Drain();
  }

  // What the timed steps built, summed.
  struct Built {
    uint64_t generations = 0, chunks = 0, conferences = 0, subscriber_parts = 0;
  };
  Built built;

  void Arrive(std::span<const uint8_t> bytes, route::Endpoint from) {
    rte_mbuf* m = ipc::PacketToMbuf(channels_->pool(), bytes, ipc::PacketMeta{0, 0, from});
    ipc::SendMbuf(channels_->shard(0).pkt_up, m);
  }
  bool Event(const route::Event& e) {
    return ipc::SendMessage(channels_->shard(0).evt,
                            ipc::Message::Make(ipc::MsgType::kEvent, 0, e));
  }
  // The datagrams the control plane sent since the last call.
  std::vector<std::vector<uint8_t>> TakeSent() { return std::exchange(sent_, {}); }

  cp::ControlPlane& cp() { return *cp_; }
  uint64_t generation() const { return cp_->generation(); }

 private:
  Hub() {
    std::vector<std::string> args = {"control_plane_scale_bench",
                                     "--no-huge",
                                     "--no-pci",
                                     "--no-shconf",
                                     "-m",
                                     "512",
                                     "--log-level=lib.eal:error",
                                     "--no-telemetry",
                                     absl::StrCat("--file-prefix=cpsb", getpid())};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) std::abort();
    spdlog::set_level(spdlog::level::warn);
    auto set = ipc::ChannelSet::Create("cpsb", kShards, 16384);
    if (!set.ok()) std::abort();
    channels_ = std::make_unique<ipc::ChannelSet>(*std::move(set));
    dir_ = std::filesystem::temp_directory_path() / absl::StrCat("cpsb-", getpid());
    std::filesystem::create_directories(dir_);
    const std::string path = (dir_ / "hub.toml").string();
    std::ofstream(path) << Config();
    auto config = cp::LoadConfigFile(path);
    if (!config.ok()) {
      std::fprintf(stderr, "%s\n", std::string(config.status().message()).c_str());
      std::abort();
    }
    std::vector<ipc::ShardChannel> ch;
    for (uint32_t s = 0; s < kShards; ++s) ch.push_back(channels_->shard(s));
    cp_ = std::make_unique<cp::ControlPlane>(*config, path, ch, channels_->cp_cmd(),
                                             channels_->pool(), std::vector<int>(kShards, -1));
    if (!cp_->Start(now_).ok()) std::abort();
    Drain();
    // 200,000 subscribers heard, each on one client.
    for (uint32_t i = 0; i < kHeard; ++i) {
      route::Event e;
      e.type = route::EventType::kStreamStarted;
      e.source = route::SystemRef::Client(i % kClients);
      e.source_id = kFirstId + i % kClients;
      e.rf_src = 2000000 + i;
      e.ts = route::kTs2;
      e.at = now_;
      // A step takes up to 1,024 events per shard: one step per 1,024, none dropped.
      if (!Event(e)) std::abort();
      if (i % 1024 == 1023) {
        cp_->Step(now_ += 25 * route::kMs);
        Drain();
      }
    }
    for (int i = 0; i < 4; ++i) {
      cp_->Step(now_ += 25 * route::kMs);
      Drain();
    }
    if (ipc::RingFill(channels_->shard(0).evt) != 0) std::abort();
  }

  void Drain() {
    for (uint32_t s = 0; s < kShards; ++s) {
      ipc::Message m[64];
      unsigned n;
      while ((n = ipc::ReceiveMessages(channels_->shard(s).cmd, m, 64)) > 0) {
        for (unsigned i = 0; i < n; ++i) {
          if (m[i].type != ipc::MsgType::kSnapshotPublish) continue;
          ipc::SendMessage(
              channels_->shard(s).sup,
              ipc::Message::Make(ipc::MsgType::kSnapshotAck, static_cast<uint8_t>(s),
                                 ipc::SnapshotAck{m[i].As<ipc::SnapshotPublish>().generation}));
        }
      }
      rte_mbuf* pkts[64];
      while ((n = ipc::ReceiveMbufs(channels_->shard(s).pkt_down, pkts, 64)) > 0) {
        for (unsigned i = 0; i < n; ++i) {
          const auto b = ipc::BytesOf(pkts[i]);
          sent_.emplace_back(b.begin(), b.end());
          ipc::FreeMbuf(pkts[i]);
        }
      }
    }
  }

  std::unique_ptr<ipc::ChannelSet> channels_;
  std::filesystem::path dir_;
  std::unique_ptr<cp::ControlPlane> cp_;
  route::TimeNs now_ = 1000 * route::kSec;
  std::vector<std::vector<uint8_t>> sent_;
};

std::vector<uint8_t> Id(proto::HbpType t, uint32_t v) {
  std::vector<uint8_t> b(16);
  b.resize(proto::EncodeHbpIdPacket(t, v, b));
  return b;
}

// Per iteration: generations published, and the pieces they rebuilt.
void Report(benchmark::State& state) {
  Hub::Built& b = Hub::Get().built;
  const double n = static_cast<double>(state.iterations());
  state.counters["generations"] = static_cast<double>(b.generations) / n;
  state.counters["chunks_rebuilt"] = static_cast<double>(b.chunks) / n;
  state.counters["conferences_rebuilt"] = static_cast<double>(b.conferences) / n;
  state.counters["subscriber_parts_rebuilt"] = static_cast<double>(b.subscriber_parts) / n;
  b = Hub::Built{};
}

// A hotspot logs in (RPTL, RPTK, RPTC, RPTO with a static on TG 91 and a regional TG): every
// control-plane step from its first datagram to the generation that routes to it.
void BM_LoginAtScale(benchmark::State& state) {
  Hub& hub = Hub::Get();
  static uint32_t next = kFirstId + 1000000;
  for (auto _ : state) {
    state.PauseTiming();
    const uint32_t id = next++;
    const route::Endpoint from{0xC6130000u + (id & 0xFFFF), 50000};
    hub.TakeSent();
    hub.Arrive(Id(proto::HbpType::kRptl, id), from);
    hub.Step(state);
    auto sent = hub.TakeSent();
    proto::HbpIdPacket ack;
    if (sent.size() != 1 || proto::DecodeHbpIdPacket(sent[0], &ack) != proto::Reject::kOk) {
      state.SkipWithError("no challenge");
      break;
    }
    std::vector<uint8_t> rptk(proto::kRptkBytes);
    proto::EncodeRptk(proto::Rptk{id, proto::HbpLoginDigest(ack.value, kPassphrase)}, rptk);
    hub.Arrive(rptk, from);
    hub.Step(state);
    proto::Rptc c;
    c.id = id;
    c.config.callsign = "N0CALL";
    c.config.slots = '3';
    std::vector<uint8_t> rptc(proto::kRptcBytes);
    proto::EncodeRptc(c, rptc);
    hub.Arrive(rptc, from);
    hub.Step(state);
    std::vector<uint8_t> rpto(proto::kRptoMaxBytes);
    rpto.resize(proto::EncodeRpto(proto::Rpto{id, "TS1=91;TS2=2399"}, rpto));
    hub.Arrive(rpto, from);
    hub.Step(state);
    state.ResumeTiming();
  }
  Report(state);
}
BENCHMARK(BM_LoginAtScale)->Unit(benchmark::kMicrosecond)->Iterations(200);

// A logged-in (fixed) client changes its statics by RPTO: the step that publishes the change.
void BM_OptionsChangeAtScale(benchmark::State& state) {
  Hub& hub = Hub::Get();
  uint32_t i = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const uint32_t client = (i * 7919) % kClients;
    std::vector<uint8_t> rpto(proto::kRptoMaxBytes);
    const std::string options = absl::StrCat("TS2=", 2300 + (client + ++i) % 200);
    rpto.resize(proto::EncodeRpto(proto::Rpto{kFirstId + client, options}, rpto));
    hub.Arrive(rpto, AddrOf(client));
    hub.Step(state);
    state.ResumeTiming();
  }
  Report(state);
}
BENCHMARK(BM_OptionsChangeAtScale)->Unit(benchmark::kMicrosecond)->Iterations(1000);

// A subscriber is heard on another client: the step that publishes the new location.
void BM_SubscriberMovesAtScale(benchmark::State& state) {
  Hub& hub = Hub::Get();
  uint32_t i = 0;
  for (auto _ : state) {
    state.PauseTiming();
    route::Event e;
    e.type = route::EventType::kStreamStarted;
    const uint32_t client = (++i * 104729) % kClients;
    e.source = route::SystemRef::Client(client);
    e.source_id = kFirstId + client;
    e.rf_src = 2000000 + (i * 7) % kHeard;
    e.ts = route::kTs2;
    if (!hub.Event(e)) state.SkipWithError("event ring full");
    hub.Step(state);
    state.ResumeTiming();
  }
  Report(state);
}
BENCHMARK(BM_SubscriberMovesAtScale)->Unit(benchmark::kMicrosecond)->Iterations(1000);

// For comparison, the cost of building every piece at this size: what each change cost before
// generations shared pieces, and what a restarted snapshot component still pays once (a failed
// step, then the step past its backoff that restarts it and rebuilds everything).
void BM_FullRebuildAtScale(benchmark::State& state) {
  Hub& hub = Hub::Get();
  for (auto _ : state) {
    state.PauseTiming();
    if (!hub.cp().InjectFault("snapshot")) state.SkipWithError("no snapshot component");
    hub.Step(state);                    // the failed step
    hub.Step(state, 10 * route::kSec);  // past the backoff: the restart rebuilds everything
    state.ResumeTiming();
  }
  Report(state);
}
BENCHMARK(BM_FullRebuildAtScale)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace dmrswitch

BENCHMARK_MAIN();
