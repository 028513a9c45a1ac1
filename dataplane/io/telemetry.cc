#include "dataplane/io/telemetry.h"

#include <rte_eal.h>
#include <rte_telemetry.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dataplane/io/clock.h"

namespace dmrswitch::io {
namespace {

using ipc::ShardStatsSnapshot;

struct Context {
  TelemetrySources sources;
  uint64_t started_ns = 0;
};

// Replaced contexts are never freed: a telemetry thread may still be reading one. There is one
// per registration (one per process in practice).
std::atomic<const Context*> g_context{nullptr};

const Context* Current() { return g_context.load(std::memory_order_acquire); }

int NotAvailable(rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_string(d, "error", "the packet plane is not running");
  return 0;
}

// The shard named by `params` ("" or null: none, i.e. every shard), or -1 when it is not one.
int64_t ShardParam(const char* params, uint32_t nshards, bool* all) {
  *all = params == nullptr || *params == '\0';
  if (*all) return 0;
  char* end = nullptr;
  const long v = std::strtol(params, &end, 10);
  if (end == params || *end != '\0' || v < 0 || static_cast<uint64_t>(v) >= nshards) return -1;
  return v;
}

int BadShard(rte_tel_data* d, uint32_t nshards) {
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_string(d, "error",
                               absl::StrCat("the parameter is a shard, 0..", nshards - 1).c_str());
  return 0;
}

// Snapshots of the shards asked for (`all`, or shard `one`); shards whose block could not be read
// consistently are left out and counted.
std::vector<ShardStatsSnapshot> Read(const Context& c, bool all, uint32_t one, uint32_t* unread) {
  std::vector<ShardStatsSnapshot> out;
  *unread = 0;
  const ipc::ShardStatsZone& z = *c.sources.stats;
  for (uint32_t s = 0; s < z.nshards; ++s) {
    if (!all && s != one) continue;
    ShardStatsSnapshot snap;
    if (ipc::ReadShardStats(*z.shard(s), &snap)) {
      snap.shard = s;
      out.push_back(snap);
    } else {
      ++*unread;
    }
  }
  return out;
}

template <typename Names, typename Values>
rte_tel_data* Group(const Names& names, const Values& values, uint64_t present = ~uint64_t{0}) {
  rte_tel_data* g = rte_tel_data_alloc();
  if (g == nullptr) return nullptr;
  rte_tel_data_start_dict(g);
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (i < 64 && ((present >> i) & 1) == 0) continue;
    rte_tel_data_add_dict_u64(g, std::string(names[i].name).c_str(), values[i]);
  }
  return g;
}

// A name table without help lines (drops, rejects, net rejects), skipping entry 0 ("none"/"ok").
template <typename Names, typename Values>
rte_tel_data* Reasons(const Names& names, const Values& values) {
  rte_tel_data* g = rte_tel_data_alloc();
  if (g == nullptr) return nullptr;
  rte_tel_data_start_dict(g);
  for (size_t i = 1; i < names.size() && i < values.size(); ++i) {
    rte_tel_data_add_dict_u64(g, std::string(names[i]).c_str(), values[i]);
  }
  return g;
}

void AddContainer(rte_tel_data* d, const char* name, rte_tel_data* g) {
  if (g != nullptr && rte_tel_data_add_dict_container(d, name, g, 0) != 0) rte_tel_data_free(g);
}

int Stats(const char*, const char* params, rte_tel_data* d) {
  const Context* c = Current();
  if (c == nullptr) return NotAvailable(d);
  const uint32_t n = c->sources.stats->nshards;
  bool all = false;
  const int64_t shard = ShardParam(params, n, &all);
  if (shard < 0) return BadShard(d, n);
  uint32_t unread = 0;
  const std::vector<ShardStatsSnapshot> snaps =
      Read(*c, all, static_cast<uint32_t>(shard), &unread);
  const ShardStatsSnapshot t = ipc::SumShardStats(snaps);
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_u64(d, "shards", all ? n : 1);
  rte_tel_data_add_dict_u64(d, "shards_unreadable", unread);
  AddContainer(d, "io", Group(ipc::kIoStatNames, t.io, t.io_present));
  AddContainer(d, "route", Group(ipc::kRouteStatNames, t.route));
  AddContainer(d, "runtime", Group(ipc::kRuntimeStatNames, t.runtime));
  AddContainer(d, "drops", Reasons(route::kDropReasonNames, t.drops));
  AddContainer(d, "rejects", Reasons(proto::kRejectNames, t.rejects));
  if (t.has_io(ipc::IoStat::kArpReplies)) {  // L2-L4 parsing: DPDK mode only
    AddContainer(d, "net_rejects", Reasons(net::kNetRejectNames, t.net_rejects));
  }
  ShardStatsSnapshot gauges = t;
  if (!all && !snaps.empty()) gauges = snaps[0];
  AddContainer(d, "gauges", Group(ipc::kShardGaugeNames, gauges.gauges));
  rte_tel_data* lat = rte_tel_data_alloc();
  if (lat != nullptr) {
    rte_tel_data_start_dict(lat);
    uint64_t samples = 0;
    for (uint64_t b : t.loop.buckets) samples += b;
    rte_tel_data_add_dict_u64(lat, "busy_iterations", samples);
    rte_tel_data_add_dict_u64(lat, "p50_ns", static_cast<uint64_t>(t.LoopPercentileNs(0.5)));
    rte_tel_data_add_dict_u64(lat, "p99_ns", static_cast<uint64_t>(t.LoopPercentileNs(0.99)));
    rte_tel_data_add_dict_u64(lat, "p999_ns", static_cast<uint64_t>(t.LoopPercentileNs(0.999)));
    AddContainer(d, "loop_latency", lat);
  }
  return 0;
}

// "<group>_<name>" of every error counter that is not zero, per shard asked for.
int Errors(const char*, const char* params, rte_tel_data* d) {
  const Context* c = Current();
  if (c == nullptr) return NotAvailable(d);
  const uint32_t n = c->sources.stats->nshards;
  bool all = false;
  const int64_t shard = ShardParam(params, n, &all);
  if (shard < 0) return BadShard(d, n);
  uint32_t unread = 0;
  rte_tel_data_start_dict(d);
  uint64_t total = 0;
  for (const ShardStatsSnapshot& s : Read(*c, all, static_cast<uint32_t>(shard), &unread)) {
    rte_tel_data* g = rte_tel_data_alloc();
    if (g == nullptr) break;
    rte_tel_data_start_dict(g);
    auto add = [&](std::string_view group, std::string_view name, uint64_t v) {
      if (v == 0) return;
      total += v;
      rte_tel_data_add_dict_u64(g, (std::string(group) + "_" + std::string(name)).c_str(), v);
    };
    for (size_t i = 1; i < s.drops.size(); ++i) add("drop", route::kDropReasonNames[i], s.drops[i]);
    for (size_t i = 1; i < s.rejects.size(); ++i)
      add("reject", proto::kRejectNames[i], s.rejects[i]);
    for (size_t i = 1; i < s.net_rejects.size(); ++i) {
      add("net", net::kNetRejectNames[i], s.net_rejects[i]);
    }
    for (size_t i = 0; i < s.io.size(); ++i) {
      if (ipc::kIoStatNames[i].error) add("io", ipc::kIoStatNames[i].name, s.io[i]);
    }
    for (size_t i = 0; i < s.route.size(); ++i) {
      if (ipc::kRouteStatNames[i].error) add("route", ipc::kRouteStatNames[i].name, s.route[i]);
    }
    for (size_t i = 0; i < s.runtime.size(); ++i) {
      if (ipc::kRuntimeStatNames[i].error) {
        add("runtime", ipc::kRuntimeStatNames[i].name, s.runtime[i]);
      }
    }
    AddContainer(d, absl::StrCat("shard_", s.shard).c_str(), g);
  }
  rte_tel_data_add_dict_u64(d, "total", total);
  rte_tel_data_add_dict_u64(d, "shards_unreadable", unread);
  return 0;
}

int Shards(const char*, const char*, rte_tel_data* d) {
  const Context* c = Current();
  if (c == nullptr) return NotAvailable(d);
  uint32_t unread = 0;
  rte_tel_data_start_dict(d);
  for (const ShardStatsSnapshot& s : Read(*c, true, 0, &unread)) {
    rte_tel_data* g = rte_tel_data_alloc();
    if (g == nullptr) break;
    rte_tel_data_start_dict(g);
    uint64_t dropped = 0;
    for (size_t i = 1; i < s.drops.size(); ++i) dropped += s.drops[i];
    for (size_t i = 1; i < s.rejects.size(); ++i) dropped += s.rejects[i];
    rte_tel_data_add_dict_u64(g, "rx_packets", s.io_stat(ipc::IoStat::kRxPackets));
    rte_tel_data_add_dict_u64(g, "tx_packets", s.io_stat(ipc::IoStat::kTxPackets));
    rte_tel_data_add_dict_u64(g, "packets_routed", s.route_stat(ipc::RouteStat::kPacketsRouted));
    rte_tel_data_add_dict_u64(g, "packets_dropped", dropped);
    rte_tel_data_add_dict_u64(g, "events_dropped",
                              s.runtime_stat(ipc::RuntimeStat::kEventsDropped));
    rte_tel_data_add_dict_u64(g, "live_streams", s.gauge(ipc::ShardGauge::kLiveStreams));
    rte_tel_data_add_dict_u64(g, "clients", s.gauge(ipc::ShardGauge::kClients));
    rte_tel_data_add_dict_u64(g, "snapshot_generation",
                              s.gauge(ipc::ShardGauge::kSnapshotGeneration));
    rte_tel_data_add_dict_u64(g, "loop_p99_ns", static_cast<uint64_t>(s.LoopPercentileNs(0.99)));
    rte_tel_data_add_dict_u64(g, "counters_age_ms",
                              s.published_ns == 0 ? 0 : (MonotonicNs() - s.published_ns) / 1000000);
    AddContainer(d, absl::StrCat("shard_", s.shard).c_str(), g);
  }
  rte_tel_data_add_dict_u64(d, "shards_unreadable", unread);
  return 0;
}

const char* EventName(route::EventType t) {
  switch (t) {
    case route::EventType::kStreamStarted:
      return "started";
    case route::EventType::kStreamEnded:
      return "ended";
    case route::EventType::kStreamLost:
      return "lost";
    default:
      return "other";
  }
}

int Streams(const char*, const char* params, rte_tel_data* d) {
  const Context* c = Current();
  if (c == nullptr) return NotAvailable(d);
  const ipc::ShardStatsZone& z = *c->sources.stats;
  bool all = false;
  const int64_t shard = ShardParam(params, z.nshards, &all);
  if (shard < 0) return BadShard(d, z.nshards);
  uint32_t unread = 0;
  const ShardStatsSnapshot t =
      ipc::SumShardStats(Read(*c, all, static_cast<uint32_t>(shard), &unread));
  struct Recent {
    uint32_t shard;
    route::Event e;
  };
  std::vector<Recent> recent;
  for (uint32_t s = 0; s < z.nshards; ++s) {
    if (!all && s != shard) continue;
    for (const route::Event& e : ipc::ReadRecentStreams(*z.shard(s))) recent.push_back({s, e});
  }
  std::stable_sort(recent.begin(), recent.end(),
                   [](const Recent& a, const Recent& b) { return a.e.at < b.e.at; });
  // The newest ones: 16 events keep the answer well inside the socket's 16 KiB reply.
  constexpr size_t kShown = 16;
  if (recent.size() > kShown) recent.erase(recent.begin(), recent.end() - kShown);
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_u64(d, "live_streams", t.gauge(ipc::ShardGauge::kLiveStreams));
  rte_tel_data_add_dict_u64(d, "tracked_streams", t.gauge(ipc::ShardGauge::kTrackedStreams));
  rte_tel_data_add_dict_u64(d, "streams_started", t.route_stat(ipc::RouteStat::kStreamsStarted));
  rte_tel_data_add_dict_u64(d, "streams_ended", t.route_stat(ipc::RouteStat::kStreamsEnded));
  rte_tel_data_add_dict_u64(d, "streams_lost", t.route_stat(ipc::RouteStat::kStreamsLost));
  // The last stream events, oldest first: "event_0" ... "event_15".
  const uint64_t now = MonotonicNs();
  for (size_t i = 0; i < recent.size(); ++i) {
    const route::Event& e = recent[i].e;
    rte_tel_data* g = rte_tel_data_alloc();
    if (g == nullptr) break;
    rte_tel_data_start_dict(g);
    char stream[16];
    std::snprintf(stream, sizeof(stream), "%08x", e.stream_id);
    rte_tel_data_add_dict_string(g, "event", EventName(e.type));
    rte_tel_data_add_dict_string(g, "stream_id", stream);
    rte_tel_data_add_dict_u64(g, "shard", recent[i].shard);
    rte_tel_data_add_dict_u64(g, "rf_src", e.rf_src);
    rte_tel_data_add_dict_u64(g, "dst", e.dst);
    rte_tel_data_add_dict_u64(g, "tg", e.tg);
    rte_tel_data_add_dict_u64(g, "slot", e.ts + 1u);
    rte_tel_data_add_dict_string(g, "call_type", e.call_type == 0 ? "group" : "private");
    rte_tel_data_add_dict_u64(g, "data", e.data);
    rte_tel_data_add_dict_string(g, "source", e.source.is_peer() ? "peer" : "client");
    rte_tel_data_add_dict_u64(g, "source_id", e.source_id);
    rte_tel_data_add_dict_u64(g, "destinations", e.destinations);
    if (e.type != route::EventType::kStreamStarted) {
      rte_tel_data_add_dict_u64(g, "frames", e.packets);
      rte_tel_data_add_dict_u64(g, "frames_lost", e.lost);
      rte_tel_data_add_dict_u64(g, "frames_late", e.late);
      rte_tel_data_add_dict_u64(g, "frames_early", e.early);
      rte_tel_data_add_dict_u64(g, "jitter_us", uint64_t{e.jitter_10us} * 10);
      rte_tel_data_add_dict_u64(g, "duration_ms", e.duration_ms);
    }
    rte_tel_data_add_dict_u64(g, "age_ms", now > e.at ? (now - e.at) / 1000000 : 0);
    AddContainer(d, absl::StrCat("event_", i).c_str(), g);
  }
  return 0;
}

int Clients(const char*, const char*, rte_tel_data* d) {
  const Context* c = Current();
  if (c == nullptr) return NotAvailable(d);
  uint32_t unread = 0;
  const std::vector<ShardStatsSnapshot> snaps = Read(*c, true, 0, &unread);
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_u64(d, "clients",
                            ipc::SumShardStats(snaps).gauge(ipc::ShardGauge::kClients));
  for (const ShardStatsSnapshot& s : snaps) {
    rte_tel_data_add_dict_u64(d, absl::StrCat("shard_", s.shard).c_str(),
                              s.gauge(ipc::ShardGauge::kClients));
  }
  rte_tel_data_add_dict_u64(d, "keepalives_answered",
                            ipc::SumShardStats(snaps).runtime_stat(ipc::RuntimeStat::kPongs));
  return 0;
}

int Snapshot(const char*, const char*, rte_tel_data* d) {
  const Context* c = Current();
  if (c == nullptr) return NotAvailable(d);
  uint32_t unread = 0;
  const std::vector<ShardStatsSnapshot> snaps = Read(*c, true, 0, &unread);
  rte_tel_data_start_dict(d);
  uint64_t oldest = snaps.empty() ? 0 : ~uint64_t{0};
  for (const ShardStatsSnapshot& s : snaps) {
    const uint64_t g = s.gauge(ipc::ShardGauge::kSnapshotGeneration);
    oldest = std::min(oldest, g);
    rte_tel_data_add_dict_u64(d, absl::StrCat("shard_", s.shard).c_str(), g);
  }
  rte_tel_data_add_dict_u64(d, "used_by_all", oldest);
  if (c->sources.plane_info != nullptr && !c->sources.hosted) {
    // Separate control plane: the newest generation it published (0: none attached yet).
    rte_tel_data_add_dict_u64(d, "published", c->sources.plane_info->current_generation.load());
  }
  return 0;
}

int Info(const char*, const char*, rte_tel_data* d) {
  const Context* c = Current();
  if (c == nullptr) return NotAvailable(d);
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_string(d, "name", "dmrswitch-dp");
  rte_tel_data_add_dict_string(d, "version", c->sources.version.c_str());
  rte_tel_data_add_dict_string(d, "mode", c->sources.mode.c_str());
  rte_tel_data_add_dict_string(d, "control_plane", c->sources.hosted ? "hosted" : "separate");
  rte_tel_data_add_dict_u64(d, "shards", c->sources.stats->nshards);
  rte_tel_data_add_dict_u64(d, "pid", static_cast<uint64_t>(getpid()));
  if (c->sources.plane_info != nullptr && !c->sources.hosted) {
    const int32_t cp = c->sources.plane_info->cp_pid.load();
    rte_tel_data_add_dict_u64(d, "cp_pid", cp > 0 ? static_cast<uint64_t>(cp) : 0);
    rte_tel_data_add_dict_string(d, "cp_alive", cp > 0 && ipc::ProcessAlive(cp) ? "yes" : "no");
  }
  rte_tel_data_add_dict_u64(d, "uptime_s", (MonotonicNs() - c->started_ns) / route::kSec);
  return 0;
}

}  // namespace

std::string RegisterTelemetry(const TelemetrySources& sources) {
  auto* context = new Context{sources, MonotonicNs()};
  // Never freed: DPDK's telemetry thread may be answering with a context while it is replaced or
  // retired. Kept reachable (one per registration, a handful per process) rather than leaked.
  static auto* const every_context = new std::vector<const Context*>();
  every_context->push_back(context);
  const bool first = g_context.exchange(context, std::memory_order_acq_rel) == nullptr;
  if (first) {
    rte_telemetry_register_cmd("/dmrswitch/info", Info, "dmrswitch-dp: version, mode, shards");
    rte_telemetry_register_cmd("/dmrswitch/stats", Stats,
                               "Counters by name. Parameter: shard (default all)");
    rte_telemetry_register_cmd("/dmrswitch/errors", Errors,
                               "Error counters that are not zero. Parameter: shard");
    rte_telemetry_register_cmd("/dmrswitch/shards", Shards, "One summary per shard");
    rte_telemetry_register_cmd("/dmrswitch/streams", Streams,
                               "Live streams, last stream events. Parameter: shard");
    rte_telemetry_register_cmd("/dmrswitch/clients", Clients, "Logged-in clients per shard");
    rte_telemetry_register_cmd("/dmrswitch/snapshot", Snapshot,
                               "Routing snapshot generation of each shard");
  }
  const std::string path = absl::StrCat(rte_eal_get_runtime_dir(), "/dpdk_telemetry.v2");
  std::error_code ec;
  return std::filesystem::exists(path, ec) ? path : std::string();
}

void RetireTelemetry() { g_context.store(nullptr, std::memory_order_release); }

}  // namespace dmrswitch::io
