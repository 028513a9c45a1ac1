#include "ctrlplane/config/memory.h"

#include <unistd.h>

#include <cstdio>

#include "dataplane/route/client_liveness.h"
#include "dataplane/route/parrot.h"
#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/routing_core.h"
#include "dataplane/route/slot_lease.h"

namespace dmrswitch::cp {

TableMemory EstimateTableMemory(const HubConfig& c) {
  TableMemory m;
  const uint64_t shards = c.hub.shards;
  const uint32_t clients = c.hbp.max_clients;
  m.streams = shards * route::RoutingCore::TableBytes(c.hub.stream_capacity, clients);
  m.clients = route::SlotLeases::BytesFor(clients) +
              shards * route::ClientLiveness::BytesFor(clients) +
              route::RouteSnapshotBuilder::BytesFor(clients);
  m.parrot = shards * route::Parrot::BytesFor(c.hub.parrot_recordings,
                                              route::Parrot::FramesFor(c.hub.parrot_max_s));
  return m;
}

absl::Status CheckTableMemory(const HubConfig& c, uint64_t available) {
  const TableMemory m = EstimateTableMemory(c);
  if (m.total() <= available) return absl::OkStatus();
  // The key to lower is the one behind the largest share.
  const char* lower = m.streams >= m.clients ? "hub.stream_capacity" : "hbp.max_clients";
  if (m.parrot > m.streams && m.parrot > m.clients) lower = "hub.parrot_recordings";
  return absl::InvalidArgumentError(
      c.source + ": hub.stream_capacity = " + std::to_string(c.hub.stream_capacity) +
      " (per shard) with hub.shards = " + std::to_string(c.hub.shards) +
      ", hbp.max_clients = " + std::to_string(c.hbp.max_clients) + " and hub.parrot_recordings = " +
      std::to_string(c.hub.parrot_recordings) + " of " + std::to_string(c.hub.parrot_max_s) +
      " s need " + FormatBytes(m.total()) + " of memory for the hub's tables (streams " +
      FormatBytes(m.streams) + ", clients " + FormatBytes(m.clients) + ", parrot " +
      FormatBytes(m.parrot) + "); this machine has " + FormatBytes(available) + ": lower " + lower);
}

uint64_t HostMemoryBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return UINT64_MAX;  // unknown: no bound
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
}

std::string FormatBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  double v = static_cast<double>(bytes) / 1024;
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(kUnits)) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f %s", v, kUnits[u]);
  return buf;
}

}  // namespace dmrswitch::cp
