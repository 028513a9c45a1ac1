// The threads of a running dmrswitch-dp, seen from /proc, for the benchmarks that run the real
// hub: the CPU time its shards spent, and where its threads may run.
#pragma once
#include <sys/types.h>

namespace dmrswitch::bench {

// CPU seconds (user + system) of the hub's shard threads (EAL names them rte-worker-N).
double ShardCpuSeconds(pid_t pid);

// The shards' threads on the last `shards` CPUs, one each, and every other thread of the hub on
// CPU 0 (where the benchmark, its generators and consumers run too): the shards share their CPUs
// with nothing, as on a hub whose shard cores are isolated. False when that many CPUs are not
// there, the hub does not run `shards` shard threads, or an affinity could not be set.
bool PinHub(pid_t pid, unsigned shards);

}  // namespace dmrswitch::bench
