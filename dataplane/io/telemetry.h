// The packet plane on DPDK's telemetry socket (<runtime dir>/dpdk_telemetry.v2, read by
// dpdk-telemetry.py and anything speaking its JSON): the shards' counters, streams, clients and
// snapshot generations, in every mode (kernel mode runs EAL with telemetry on for it).
//
// The commands are answered on DPDK's telemetry thread from the shards' counter blocks
// (ipc/shard_stats.h) and the PlaneInfo notice board: nothing here asks the control plane, so
// they keep answering while it is stopped, restarting or gone, and nothing here touches a shard.
//
//   /dmrswitch/info               version, mode, shards, pids, uptime
//   /dmrswitch/stats[,SHARD]      every counter by name (summed over shards, or of one shard)
//   /dmrswitch/errors[,SHARD]     the counters of things that went wrong that are not zero
//   /dmrswitch/shards             one line per shard: packets, drops, streams, loop latency
//   /dmrswitch/streams[,SHARD]    live streams and the last stream events (calls started, ended)
//   /dmrswitch/clients            logged-in clients (per shard: whose keepalives it answers)
//   /dmrswitch/snapshot           the routing generation each shard uses, and the newest one
#pragma once

#include <cstdint>
#include <string>

#include "dataplane/ipc/plane_info.h"
#include "dataplane/ipc/shard_stats.h"

namespace dmrswitch::io {

struct TelemetrySources {
  const ipc::ShardStatsZone* stats = nullptr;  // required
  const ipc::PlaneInfo* plane_info = nullptr;  // may be null
  std::string mode;                            // "kernel", "dpdk", "afxdp"
  std::string version;
  bool hosted = true;
};

// Registers the /dmrswitch/ commands (once per process; later calls replace the sources). EAL is
// initialised. Returns the socket's path ("" when EAL runs with --no-telemetry).
std::string RegisterTelemetry(const TelemetrySources& sources);
// The commands answer "not available" from now on (before the plane's memory goes away).
void RetireTelemetry();

}  // namespace dmrswitch::io
