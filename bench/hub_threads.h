// The threads of a running dmrswitch-dp, seen from /proc, for the benchmarks that run the real
// hub: the CPU time its shards spent, and where its threads may run; and the counts those
// benchmarks check their figures against: the kernel's drops on their sockets and the hub's stop
// lines.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace dmrswitch::bench {

// CPU seconds (user + system) of the hub's shard threads (EAL names them rte-worker-N).
double ShardCpuSeconds(pid_t pid);

// The shards' threads on the last `shards` CPUs, one each, and every other thread of the hub on
// CPU 0 (where the benchmark, its generators and consumers run too): the shards share their CPUs
// with nothing, as on a hub whose shard cores are isolated. False when that many CPUs are not
// there, the hub does not run `shards` shard threads, or an affinity could not be set.
bool PinHub(pid_t pid, unsigned shards);

// Datagrams the kernel dropped on the UDP sockets `fds` because their receive buffers were full:
// the last column of /proc/net/udp (and udp6), matched by socket inode.
uint64_t UdpSocketDrops(const std::vector<int>& fds);

// A counter summed over the lines the hub logs at stop ("shard N: rx R tx T ... out O ..."):
// `key` is " out ", " tx_errors ", " routed ", ...
uint64_t SumOfStopLines(const std::string& log, const std::string& key);

}  // namespace dmrswitch::bench
