// What the packet plane needs to know of the configuration, and nothing more (DESIGN.md §2): the
// sizes of its tables, the listeners it opens, and how it reaches the network. dmrswitch-dp
// fills it from the hub's configuration at start; everything a shard uses at run time besides
// this (timers, rate limits, peers and which listener each uses ...) arrives from the control
// plane in the routing snapshot. Changing any of these needs a restart of the dp.
//
// A plain struct with no defaults of its own: every field is set by dp_main from the parsed
// configuration, whose key table holds the defaults (ctrlplane/config/keys.h).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/io/xdp/xdp_shield.h"
#include "dataplane/route/types.h"

namespace dmrswitch::io {

enum class PlaneMode : uint8_t { kKernel, kDpdk, kAfXdp };
// Kernel mode: how datagrams reach their shard. kAuto tries the BPF reuseport program and falls
// back to user-space steering.
enum class KernelSteering : uint8_t { kAuto, kBpf, kUserspace };

// The XDP shield in front of the plane (docs/ebpf.md): kernel mode attaches it when `interface`
// is set, afxdp mode hands it to DPDK's net_af_xdp as its XDP program (required there). The
// listeners it guards are the plane's, each with its family (HBP for route::kHbpListener,
// OpenBridge for the others).
struct ShieldConfig {
  std::string interface;          // xdp.interface; "" = no shield
  XdpAttachMode attach;           // xdp.attach (kernel mode)
  std::string runtime_name;       // hub.runtime_name: pins under /sys/fs/bpf/dmrswitch/<name>/
  std::vector<XdpSource> exempt;  // every [[obp]] target's address, then xdp.exempt
  XdpRate rate;                   // xdp.source_pps, xdp.source_burst
};

struct PlaneConfig {
  PlaneMode mode;
  uint32_t shards;           // hub.shards
  uint32_t stream_capacity;  // hub.stream_capacity: streams each shard can track
  // hub.parrot_recordings, hub.parrot_max_s: each shard's parrot (0 recordings: none).
  uint32_t parrot_recordings = 0;
  uint32_t parrot_max_frames = 0;
  uint32_t client_capacity;  // hbp.max_clients: client slots (liveness table, slot leases)
  // route::kHbpListener (hbp.listen), then every distinct [[obp]] listen address in
  // configuration order. In dpdk/afxdp mode only the ports matter (the hub owns one address).
  std::vector<route::Endpoint> listeners;
  std::string ring_prefix;  // names of the rings, pools and memzones of this plane
  // kernel mode
  KernelSteering steering;
  // kernel (optional) and afxdp (required) mode
  ShieldConfig shield;
  // dpdk / afxdp mode
  uint32_t address;  // the hub's IPv4 address on its ports (host order)
  std::optional<std::array<uint8_t, 16>> address6;  // dpdk mode: its IPv6 address, if any
  uint32_t tx_port;          // position among the probed ports that routed egress leaves by
  bool promiscuous = false;  // dpdk mode: ports take frames for any MAC (dpdk.promiscuous)
  std::optional<std::array<uint8_t, 6>> gateway_mac;
};

}  // namespace dmrswitch::io
