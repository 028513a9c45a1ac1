// How many mbufs a DPDK-mode mbuf pool holds, from the ports, queues, descriptors and shards that
// draw on it (issue 15 item 2), the way l3fwd sizes NB_MBUF: every mbuf that can be parked
// somewhere at once must exist, or a full RX ring, a slow TX queue or a backed-up steering ring
// starves the others of buffers. Pure arithmetic, so it is tested on its own.
#pragma once

#include <cstdint>

namespace dmrswitch::io {

struct MbufDemand {
  uint32_t ports = 1;           // ports whose queues take mbufs from this pool
  uint32_t shards = 1;          // shards (one RX/TX queue pair per port each) using this pool
  uint32_t total_ports = 1;     // every port: each shard keeps a TX buffer per port
  uint32_t rx_descriptors = 0;  // per RX queue
  uint32_t tx_descriptors = 0;  // per TX queue
  uint32_t burst = 0;           // one RX burst in hand per shard
  uint32_t tx_buffer = 0;       // a shard's software TX buffer per port
  uint32_t steer_rings = 0;     // steering rings into these shards (shards x (all shards - 1))
  uint32_t steer_ring_size = 0;
  uint32_t lcores = 1;      // lcores with a mempool cache (shards and the main lcore)
  uint32_t cache = 0;       // the mempool's per-lcore cache size
  uint32_t control = 1024;  // ARP/ND/echo replies and control datagrams in flight
};

// The sum of the above, at least kMinMbufs, rounded up to 2^k - 1 (the mempool's optimum size:
// its ring holds 2^k entries). A cache can hold up to 1.5 x its size before it flushes. The floor
// is the pool every set-up had before it was sized (157 MiB): some virtual devices park far
// more than descriptors (net_pcap with infinite_rx holds its whole file, 25,600 frames for the
// pps harness), and a small hub loses nothing by keeping it.
inline constexpr uint64_t kMinMbufs = 65535;
inline uint64_t MbufsFor(const MbufDemand& d) {
  const uint64_t queues = uint64_t{d.ports} * d.shards;
  uint64_t n = queues * (uint64_t{d.rx_descriptors} + d.tx_descriptors);
  n += uint64_t{d.shards} * (d.burst + uint64_t{d.total_ports} * d.tx_buffer);
  n += uint64_t{d.steer_rings} * d.steer_ring_size;
  n += uint64_t{d.lcores} * (d.cache + d.cache / 2);
  n += d.control;
  if (n < kMinMbufs) n = kMinMbufs;
  uint64_t pow2 = 1;
  while (pow2 - 1 < n) pow2 <<= 1;
  return pow2 - 1;
}

}  // namespace dmrswitch::io
