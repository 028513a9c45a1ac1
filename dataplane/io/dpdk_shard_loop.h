// One DPDK-mode shard (DESIGN.md §4): a run-to-completion lcore that owns RX/TX queue `index` of
// every port. It parses Ethernet/VLAN/IPv4/IPv6/UDP (dataplane/net), answers ARP, Neighbour
// Discovery and ICMP/ICMPv6 echo for the hub's addresses, learns each client's next-hop MAC from
// its own packets, steers every hub datagram to the shard that owns it (RSS spreads by 4-tuple, the
// owner is a function of the stream or client ID) over per-(from, to) single-producer rings — the
// mbuf itself moves, nothing is copied — and hands the datagrams it owns to the ShardRuntime.
// Egress packets are built in mbufs — a voice frame's first one in the received mbuf itself, the
// others in fresh ones — the payload by the routing core, the L2–L4 headers from a per-destination
// template. No locks, syscalls, allocation or logging on this path.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "dataplane/io/clock.h"
#include "dataplane/io/shard_runtime.h"
#include "dataplane/net/neighbor_table.h"
#include "dataplane/net/packet.h"

struct rte_mbuf;

namespace dmrswitch::io {

struct DpdkShardLoopCounters {
  uint64_t rx_packets = 0;
  uint64_t tx_packets = 0;
  uint64_t tx_dropped = 0;  // TX queue full
  uint64_t arp_replies = 0;
  uint64_t arp_requests = 0;
  uint64_t icmp_replies = 0;
  uint64_t not_hub_traffic = 0;  // parsed fine, but not for a listener of ours
  uint64_t no_mbuf = 0;          // pool empty
  uint64_t no_neighbor = 0;      // destination MAC unknown (ARP sent, packet dropped)
  uint64_t steered_out = 0;
  uint64_t steered_in = 0;
  uint64_t steer_full = 0;
  uint64_t neighbor_updates = 0;  // learned MACs announced to / received from other shards
  uint64_t nd_adverts = 0;        // NS for our IPv6 address answered
  uint64_t nd_solicits = 0;       // NS sent for IPv6 next hops
  uint64_t icmp6_replies = 0;
  net::NetRejectCounters net;
  // Service latency of busy loop iterations (RX burst to TX burst handed to the port), in TSC
  // cycles (ipc::LoopHistogram: log2 buckets and, for percentiles, quarter octaves).
  ipc::LoopHistogram loop;
};

// A learned next hop, announced by the shard that saw it to every other shard (each shard keeps
// its own replica: the shard that receives a client's packets owns that knowledge).
struct NeighborUpdate {
  uint32_t ip;  // IPv4 (v6 == 0)
  net::Mac mac;
  uint16_t port;
  uint16_t vlan_tci;      // the VLAN the neighbour spoke on (with vlan_present)
  uint16_t vlan_present;  // 0, 1, or kNeighborVlanUnknown
  net::Ip6 ip6;           // IPv6 (v6 == 1)
  uint32_t v6;
};
// A next hop a shard asks the kernel to resolve (afxdp mode, over resolve_out).
struct NeighborRequest {
  uint32_t ip;  // IPv4 (v6 == 0)
  uint32_t v6;
  net::Ip6 ip6;
};
static_assert(sizeof(NeighborRequest) % 4 == 0, "ring elements are multiples of 4 bytes");

// vlan_present of an update that knows nothing of VLANs (afxdp mode's kernel neighbours): the
// port keeps the VLAN its clients speak.
inline constexpr uint16_t kNeighborVlanUnknown = 0xFFFF;
static_assert(sizeof(NeighborUpdate) % 4 == 0, "ring elements are multiples of 4 bytes");

struct DpdkShardLoopConfig {
  RuntimeConfig runtime;
  std::vector<uint16_t> ports;           // DPDK port IDs; this shard uses queue `runtime.index`
  std::vector<uint16_t> listener_ports;  // UDP port of each listener (route::kHbpListener first)
  std::vector<net::Mac> port_mac;        // by position in `ports`
  uint32_t address = 0;                  // the hub's IPv4 address (host order)
  std::optional<net::Ip6> address6;      // its IPv6 address (dpdk mode; none: IPv6 not served)
  size_t tx_port = 0;                    // position in `ports` that routed egress leaves by
  std::optional<net::Mac> gateway_mac;   // next hop of destinations never learned (no ARP then)
  bool udp_checksum_offload = false;     // the TX port computes UDP checksums
  size_t neighbor_capacity = 16384;
  // afxdp mode: the kernel owns the interface's addresses, ARP, ICMP and Neighbour Discovery (the
  // shield redirects only hub traffic here), so a next hop nobody spoke from is not ARPed or
  // solicited by the shard: a NeighborRequest goes on this ring to KernelNeighbors, whose answer
  // arrives as a NeighborUpdate like another shard's. Null: ARP/NS from the shard (dpdk mode).
  rte_ring* resolve_out = nullptr;
};

class DpdkShardLoop final : public route::PacketSink {
 public:
  // `steer_in[i]`/`steer_out[i]`: mbuf rings from/to shard i; `nbr_in[i]`/`nbr_out[i]`:
  // NeighborUpdate rings from/to shard i (null for i == index); nbr_in may have more rings
  // (afxdp mode: the kernel's neighbours, from KernelNeighbors). `pool` is this shard's mbuf pool
  // (its socket's), `control_pool` the control channel's.
  DpdkShardLoop(const DpdkShardLoopConfig& config, route::SlotLeases* leases,
                ipc::ShardChannel channel, rte_mempool* pool, rte_mempool* control_pool,
                std::vector<rte_ring*> steer_in, std::vector<rte_ring*> steer_out,
                std::vector<rte_ring*> nbr_in, std::vector<rte_ring*> nbr_out);
  ~DpdkShardLoop() override;

  void Run(const std::atomic<bool>& stop);
  // One iteration of Run's loop: commands, control datagrams, steered frames, one RX burst per
  // port, TX, timers (tests drive the loop step by step).
  void Step();

  const ShardRuntime& runtime() const { return runtime_; }
  const DpdkShardLoopCounters& counters() const { return counters_; }

  // route::PacketSink: a fresh mbuf with room for the headers (nullptr for a listener this plane
  // does not have); Commit writes them from the template.
  uint8_t* Begin(uint32_t listener, const route::Endpoint& to) override;
  void Commit(uint16_t len) override;

  // Mbufs a shard can hold at once besides its queues' (the mbuf pool's size counts them):
  // one RX burst, and a software TX buffer per port.
  static constexpr unsigned kBurst = 32;
  static constexpr unsigned kTxBuffer = 1024;

 private:
  static constexpr size_t kTemplateCache = 4096;  // direct-mapped, by destination
  static constexpr size_t kTemplateCache6 = 1024;

  struct TxQueue {
    uint16_t port = 0;
    uint16_t n = 0;
    rte_mbuf* pkts[kTxBuffer];
  };
  // A destination's headers, valid while its neighbour MAC and the port's VLAN are unchanged.
  struct CachedTemplate {
    uint32_t ip = 0;
    uint16_t port = 0;      // UDP destination port
    uint16_t src_port = 0;  // our listener's port
    uint32_t epoch = 0;     // neighbour epoch it was built in
    net::UdpHeaderTemplate tmpl;
  };
  struct CachedTemplate6 {
    net::Ip6 ip{};
    uint16_t port = 0;
    uint16_t src_port = 0;
    uint32_t epoch = 0;
    net::Udp6HeaderTemplate tmpl;
  };

  void ReceivePort(size_t p, route::TimeNs now);
  // Delivers one datagram owned by this shard. For a voice frame, the first egress datagram the
  // core builds is written into `m` (see Begin); true if that happened and `m` is on its way out.
  bool DeliverInPlace(uint32_t listener, std::span<const uint8_t> payload,
                      const route::Endpoint& from, route::TimeNs now, rte_mbuf* m, bool voice);
  void HandleFrame(size_t p, rte_mbuf* m, route::TimeNs now);
  void Transmit(size_t p, rte_mbuf* m);
  // Commit's work for either header template: write it, set lengths and offload flags, queue.
  template <typename Template>
  void Finish(const Template& t, uint16_t len, uint64_t l3_flag, uint16_t l3_len);
  void FlushTx();
  unsigned PollSteered(route::TimeNs now);
  unsigned PollNeighbors(route::TimeNs now);
  void Learn(size_t p, uint32_t ip, const net::Mac& mac, route::TimeNs now, bool announce);
  void Learn6(size_t p, const uint8_t* ip6, const net::Mac& mac, route::TimeNs now, bool announce);
  void Announce(const NeighborUpdate& u);
  // Neighbour Discovery and echo for the hub's IPv6 address; true when `m` was sent back.
  bool HandleIcmp6(size_t p, const net::FrameView& v, rte_mbuf* m, route::TimeNs now);
  uint8_t* Begin6(uint32_t listener, const route::Endpoint& to);
  // The buffer for the next egress datagram: the received voice frame's mbuf, or a fresh one.
  rte_mbuf* EgressMbuf();
  void SendNeighborSolicit(size_t p, const net::Ip6& target);
  void SetPortVlan(size_t p, net::Vlan vlan);
  void SendArpRequest(size_t p, uint32_t ip);
  template <typename Build>  // size_t(net::MutableByteSpan)
  bool SendControlFrame(size_t p, const Build& build);
  // A destination has no MAC: ARP for it, or ask the kernel (afxdp mode).
  void ResolveNeighbor(uint32_t ip);
  int ListenerOf(uint16_t udp_port) const;
  void PublishStats(route::TimeNs now);

  DpdkShardLoopConfig config_;
  rte_mempool* pool_;
  std::vector<rte_ring*> steer_in_;
  std::vector<rte_ring*> steer_out_;
  std::vector<rte_ring*> nbr_in_;
  std::vector<rte_ring*> nbr_out_;
  std::vector<TxQueue> tx_;           // by position in config_.ports
  std::vector<net::Vlan> port_vlan_;  // the VLAN the port's clients speak (learned)
  uint32_t last_learned_ip_ = 0;
  net::Mac last_learned_mac_{};
  route::TimeNs last_learned_at_ = 0;
  net::NeighborTable neighbors_;
  net::NeighborTable6 neighbors6_;
  const net::Ip6* address6_ = nullptr;  // config_.address6, or null
  uint32_t neighbor_epoch_ = 1;         // bumped when a MAC moves or a VLAN changes
  std::vector<CachedTemplate> templates_;
  std::vector<CachedTemplate6> templates6_;
  DpdkShardLoopCounters counters_;
  ShardClock clock_;
  route::TimeNs loop_now_ = 0;  // this loop iteration's time, for Begin's neighbour lookups
  ShardRuntime runtime_;
  ipc::ShardStatsSnapshot stats_;  // the copy PublishStats fills (no allocation on the loop)

  // Mbufs steered to each owner during one RX burst, enqueued together.
  struct SteerBatch {
    unsigned n = 0;
    rte_mbuf* pkts[kBurst];
  };
  std::vector<SteerBatch> steer_batch_;
  // Received mbufs already handled, freed together at the end of the burst.
  rte_mbuf* done_[kBurst];
  unsigned n_done_ = 0;
  // The received mbuf of the voice frame being delivered, until Begin takes it for the first
  // egress datagram (forwarding in place: at fanout 1 no mbuf is allocated or freed).
  rte_mbuf* reuse_ = nullptr;
  // The datagram being built between Begin and Commit.
  rte_mbuf* cur_ = nullptr;
  size_t cur_port_ = 0;
  const CachedTemplate* cur_tmpl_ = nullptr;
  const CachedTemplate6* cur_tmpl6_ = nullptr;
};

}  // namespace dmrswitch::io
