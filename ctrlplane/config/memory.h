// What the sizes in a configuration cost in memory, checked before anything is allocated: a
// configuration whose tables would not fit the machine is refused with the figure, instead of
// starting and dying in an allocation (or under the OOM killer) later.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "ctrlplane/config/config.h"

namespace dmrswitch::cp {

// The packet plane's and the control plane's fixed tables, as sized by the configuration.
struct TableMemory {
  uint64_t streams = 0;  // every shard's stream table: hub.stream_capacity × hub.shards
  uint64_t clients = 0;  // slot leases, per-shard liveness, the snapshot builder: hbp.max_clients
  // Every shard's parrot recordings (process heap, not hugepages): hub.parrot_recordings ×
  // hub.parrot_max_s × hub.shards.
  uint64_t parrot = 0;
  uint64_t total() const { return streams + clients + parrot; }
};
TableMemory EstimateTableMemory(const HubConfig& c);

// OK if the tables fit in `available` bytes; else an error naming the keys, what they need and
// what there is.
absl::Status CheckTableMemory(const HubConfig& c, uint64_t available);

// The machine's physical memory (sysconf), the bound CheckTableMemory is given at load.
uint64_t HostMemoryBytes();

// "118.3 GiB", "512.0 MiB", "4.0 KiB", "17 bytes".
std::string FormatBytes(uint64_t bytes);

}  // namespace dmrswitch::cp
