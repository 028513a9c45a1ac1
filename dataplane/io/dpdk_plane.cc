#include "dataplane/io/dpdk_plane.h"

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace dmrswitch::io {
namespace {

constexpr uint16_t kRxDesc = 1024;
constexpr uint16_t kTxDesc = 1024;
constexpr unsigned kMbufCache = 256;
constexpr unsigned kRingSize = 4096;

std::string MacString(const net::Mac& m) {
  return absl::StrFormat("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

// A shard loop's constructor arguments, and the loop, for building it on another lcore.
struct ShardBuild {
  DpdkShardLoopConfig config;
  route::SlotLeases* leases;
  ipc::ShardChannel channel;
  rte_mempool* pool;
  rte_mempool* control_pool;
  std::vector<rte_ring*> steer_in, steer_out, nbr_in, nbr_out;
  std::unique_ptr<DpdkShardLoop> loop;

  static int Run(void* arg) {
    auto* b = static_cast<ShardBuild*>(arg);
    b->loop =
        std::make_unique<DpdkShardLoop>(b->config, b->leases, b->channel, b->pool, b->control_pool,
                                        b->steer_in, b->steer_out, b->nbr_in, b->nbr_out);
    return 0;
  }
};

}  // namespace

MbufDemand DpdkPlane::PoolDemand(uint32_t ports, uint32_t shards_here, uint32_t shards,
                                 uint32_t rx_desc, uint32_t tx_desc) {
  MbufDemand d;
  d.ports = d.total_ports = ports;
  d.shards = shards_here;
  d.rx_descriptors = rx_desc != 0 ? rx_desc : kRxDesc;
  d.tx_descriptors = tx_desc != 0 ? tx_desc : kTxDesc;
  d.burst = DpdkShardLoop::kBurst;
  d.tx_buffer = DpdkShardLoop::kTxBuffer;
  d.steer_rings = shards_here * (shards == 0 ? 0 : shards - 1);
  d.steer_ring_size = kRingSize;
  d.lcores = shards_here + 1;
  d.cache = kMbufCache;
  return d;
}

absl::StatusOr<std::unique_ptr<Plane>> DpdkPlane::Create(const PlaneConfig& config) {
  std::unique_ptr<DpdkPlane> d(new DpdkPlane(config));
  const uint32_t n = config.shards;
  const bool afxdp = config.mode == PlaneMode::kAfXdp;
  const std::string& ring_prefix = config.ring_prefix;
  uint16_t port;
  RTE_ETH_FOREACH_DEV(port) { d->ports_.push_back(port); }
  if (afxdp && d->ports_.size() != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "afxdp mode: ", d->ports_.size(),
        " DPDK ports; the dp creates the one net_af_xdp port itself (remove --vdev and -a from "
        "[dpdk] eal_args)"));
  }
  if (d->ports_.empty()) {
    return absl::FailedPreconditionError(
        "no DPDK port: name one in [dpdk] eal_args (a virtual device such as "
        "\"--vdev=net_af_packet0,iface=eth1,qpairs=N\", or an allow-listed NIC \"-a "
        "0000:01:00.0\")");
  }

  // Shard s runs on the s-th worker lcore (Plane::Launch). Its RX/TX queues, its mbufs and its
  // state belong on that lcore's NUMA socket, as l3fwd places them; too few workers is
  // reported by Launch.
  std::vector<int> shard_socket(n, 0);
  std::vector<int> shard_lcore(n, -1);
  {
    uint32_t s = 0;
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore) {
      if (s == n) break;
      const unsigned socket = rte_lcore_to_socket_id(lcore);
      shard_socket[s] = static_cast<int>(socket) == SOCKET_ID_ANY ? 0 : static_cast<int>(socket);
      shard_lcore[s++] = static_cast<int>(lcore);
    }
  }
  // Descriptors per queue, as requested before the PMD adjusts them (never below its minimum).
  uint32_t rx_desc = kRxDesc, tx_desc = kTxDesc;
  for (uint16_t p : d->ports_) {
    rte_eth_dev_info info;
    if (rte_eth_dev_info_get(p, &info) == 0) {
      rx_desc = std::max<uint32_t>(rx_desc, info.rx_desc_lim.nb_min);
      tx_desc = std::max<uint32_t>(tx_desc, info.tx_desc_lim.nb_min);
    }
  }

  // One mbuf pool per NUMA socket that has a shard, sized from what can hold its mbufs at once
  // (MbufsFor); the private area carries steering metadata.
  std::map<int, rte_mempool*> pools;
  const uint16_t priv = RTE_ALIGN(sizeof(ipc::PacketMeta), RTE_MBUF_PRIV_ALIGN);
  auto pool_for = [&](int socket) -> absl::StatusOr<rte_mempool*> {
    if (auto it = pools.find(socket); it != pools.end()) return it->second;
    const MbufDemand demand = PoolDemand(
        static_cast<uint32_t>(d->ports_.size()),
        static_cast<uint32_t>(std::count(shard_socket.begin(), shard_socket.end(), socket)), n,
        rx_desc, tx_desc);
    const uint64_t count = MbufsFor(demand);
    rte_mempool* mp = rte_pktmbuf_pool_create(absl::StrCat(ring_prefix, "_mb", socket).c_str(),
                                              static_cast<unsigned>(count), kMbufCache, priv,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, socket);
    if (mp == nullptr) {
      const uint64_t mib =
          count * (sizeof(rte_mbuf) + priv + RTE_MBUF_DEFAULT_BUF_SIZE) / (1024 * 1024) + 1;
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot create the mbuf pool on socket ", socket, " (", count, " mbufs, ~",
                       mib, " MiB): ", rte_strerror(rte_errno),
                       " (hugepages: echo 512 > /proc/sys/vm/nr_hugepages)"));
    }
    d->port_descriptions_.push_back(absl::StrCat(
        "mbuf pool on socket ", socket, ": ", count, " mbufs (", demand.ports, " port(s) x ",
        demand.shards, " shard queue pair(s) x ", rx_desc, "+", tx_desc,
        " descriptors, TX buffers, ", demand.steer_rings, " steering ring(s), caches)"));
    pools[socket] = mp;
    return mp;
  };

  std::vector<net::Mac> macs;
  std::vector<bool> udp_offload_by_port;
  for (uint16_t p : d->ports_) {
    rte_eth_dev_info info;
    if (rte_eth_dev_info_get(p, &info) != 0) {
      return absl::InternalError(absl::StrCat("port ", p, ": cannot read device info"));
    }
    char name[RTE_ETH_NAME_MAX_LEN] = {};
    rte_eth_dev_get_name_by_port(p, name);
    if (n > info.max_rx_queues || n > info.max_tx_queues) {
      return absl::FailedPreconditionError(absl::StrCat(
          "port ", p, " (", name, ", ", info.driver_name, ") has ", info.max_rx_queues, " RX / ",
          info.max_tx_queues, " TX queues, hub.shards = ", n,
          " needs one pair per shard (net_af_packet: add qpairs=", n, " to the vdev)"));
    }
    rte_eth_conf conf{};
    // UDP checksums of egress: computed by the port where it can (the IPv4 header checksum is
    // completed incrementally from the template in software, ~1 ns, so it is not offloaded);
    // elsewhere UDP checksum 0, which IPv4 allows.
    const bool udp_offload = (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_UDP_CKSUM) != 0;
    if (udp_offload) conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
    udp_offload_by_port.push_back(udp_offload);
    const uint64_t rss = info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP);
    if (n > 1 && rss != 0) {
      conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
      conf.rx_adv_conf.rss_conf.rss_hf = rss;
    }
    if (int rc =
            rte_eth_dev_configure(p, static_cast<uint16_t>(n), static_cast<uint16_t>(n), &conf);
        rc != 0) {
      return absl::InternalError(
          absl::StrCat("port ", p, " (", name, "): configure failed: ", rte_strerror(-rc)));
    }
    uint16_t rxd = kRxDesc, txd = kTxDesc;
    rte_eth_dev_adjust_nb_rx_tx_desc(p, &rxd, &txd);
    for (uint16_t q = 0; q < n; ++q) {
      // Queue q is shard q's: its descriptors and mbufs on that shard's socket.
      const int socket = shard_socket[q];
      auto mp = pool_for(socket);
      if (!mp.ok()) return mp.status();
      if (int rc = rte_eth_rx_queue_setup(p, q, rxd, socket, nullptr, *mp); rc != 0) {
        return absl::InternalError(
            absl::StrCat("port ", p, " (", name, "): RX queue ", q, ": ", rte_strerror(-rc)));
      }
      if (int rc = rte_eth_tx_queue_setup(p, q, txd, socket, nullptr); rc != 0) {
        return absl::InternalError(
            absl::StrCat("port ", p, " (", name, "): TX queue ", q, ": ", rte_strerror(-rc)));
      }
    }
    if (afxdp) {
      // The PMD loaded the shield (xdp_prog=) and put each queue's socket into xsks_map while
      // setting the RX queues up; until the adopted shield is configured, hub traffic passes to
      // the kernel.
      auto shield = XdpShield::AdoptDpdkProgram(d->ShieldOptions());
      if (!shield.ok()) return shield.status();
      d->shield_ = *std::move(shield);
    }
    if (int rc = rte_eth_dev_start(p); rc != 0) {
      return absl::InternalError(
          absl::StrCat("port ", p, " (", name, "): start failed: ", rte_strerror(-rc)));
    }
    // Promiscuous only when asked for: the dp keeps only frames for its port's MAC, broadcast
    // and the IPv6 groups below, so every other frame a promiscuous NIC hands up is a wasted
    // descriptor and parse. Never for net_af_xdp, where it would put the kernel's own interface
    // into promiscuous mode: the shield sees what the NIC accepts.
    std::string promiscuous;
    bool promiscuous_on = false;
    if (!afxdp && config.promiscuous) {
      promiscuous_on = rte_eth_promiscuous_enable(p) == 0;
      promiscuous = promiscuous_on ? ", promiscuous" : ", promiscuous not supported";
    }
    if (!afxdp && config.address6) {
      // Neighbour Discovery comes to multicast groups: our solicited-node group (NS for our
      // address) and all-nodes (unsolicited NA). A port that cannot filter exactly takes every
      // multicast; one that cannot do that either needs promiscuous mode, or IPv6 would not
      // resolve.
      const net::Mac groups[2] = {
          net::Ipv6MulticastMac(net::SolicitedNodeAddress(*config.address6)),
          net::Ipv6MulticastMac(net::kAllNodesAddress)};
      rte_ether_addr list[2];
      for (int i = 0; i < 2; ++i) std::memcpy(list[i].addr_bytes, groups[i].data(), 6);
      if (rte_eth_dev_set_mc_addr_list(p, list, 2) == 0) {
        absl::StrAppend(&promiscuous, ", IPv6 groups filtered");
      } else if (rte_eth_allmulticast_enable(p) == 0) {
        absl::StrAppend(&promiscuous, ", all-multicast (IPv6 groups)");
      } else if (!config.promiscuous && rte_eth_promiscuous_enable(p) == 0) {
        absl::StrAppend(&promiscuous, ", promiscuous (no multicast filter, for IPv6)");
      } else if (!promiscuous_on) {
        // Neighbour Discovery to our groups may never arrive: say so where the operator looks.
        absl::StrAppend(&promiscuous,
                        ", IPv6 multicast NOT received (no multicast filter, all-multicast or "
                        "promiscuous mode): neighbours must be learned from their traffic");
      }
    }
    rte_ether_addr addr;
    rte_eth_macaddr_get(p, &addr);
    net::Mac mac;
    std::memcpy(mac.data(), addr.addr_bytes, mac.size());
    macs.push_back(mac);
    if (afxdp) d->bind_mode_ = AfXdpBindMode();
    d->port_descriptions_.push_back(
        absl::StrCat("port ", p, " ", name, " (", info.driver_name, ") ", MacString(mac), ", ", n,
                     " queue pair(s)", conf.rxmode.mq_mode == RTE_ETH_MQ_RX_RSS ? ", RSS" : "",
                     udp_offload ? ", UDP checksum offload" : "", promiscuous,
                     afxdp ? absl::StrCat(", AF_XDP ", d->bind_mode_, " mode") : ""));
  }

  if (config.tx_port >= d->ports_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("dpdk.tx_port = ", config.tx_port, ": only ",
                                                   d->ports_.size(), " port(s) probed"));
  }
  auto channels = ipc::ChannelSet::Create(ring_prefix, n);
  if (!channels.ok()) return channels.status();
  d->channels_ = std::move(*channels);
  d->leases_ = std::make_unique<route::SlotLeases>(config.client_capacity);
  if (absl::Status st = d->CreateStats(); !st.ok()) return st;

  // afxdp mode: per shard, next hops to resolve (shard -> kernel) and the kernel's neighbours
  // (kernel -> shard).
  std::vector<rte_ring*> resolve(n, nullptr), kernel_nbr(n, nullptr);
  if (afxdp) {
    for (uint32_t s = 0; s < n; ++s) {
      const std::string rq = absl::StrCat(ring_prefix, "_rq", s);
      const std::string kn = absl::StrCat(ring_prefix, "_kn", s);
      resolve[s] = rte_ring_create_elem(rq.c_str(), sizeof(NeighborRequest), 1024, SOCKET_ID_ANY,
                                        RING_F_SP_ENQ | RING_F_SC_DEQ);
      kernel_nbr[s] = rte_ring_create_elem(kn.c_str(), sizeof(NeighborUpdate), 1024, SOCKET_ID_ANY,
                                           RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (resolve[s] == nullptr || kernel_nbr[s] == nullptr) {
        return absl::ResourceExhaustedError(
            absl::StrCat("cannot create the neighbour rings: ", rte_strerror(rte_errno)));
      }
    }
    auto neighbors =
        KernelNeighbors::Start(config.shield.interface, /*port=*/0, resolve, kernel_nbr);
    if (!neighbors.ok()) return neighbors.status();
    d->kernel_neighbors_ = *std::move(neighbors);
  }

  // Per-(from, to) rings: mbufs steered by stream/client ID, and neighbour announcements.
  std::vector<rte_ring*> steer(size_t{n} * n, nullptr), nbr(size_t{n} * n, nullptr);
  for (uint32_t from = 0; from < n; ++from) {
    for (uint32_t to = 0; to < n; ++to) {
      if (from == to) continue;
      const std::string s = absl::StrCat(ring_prefix, "_st", from, "_", to);
      const std::string b = absl::StrCat(ring_prefix, "_nb", from, "_", to);
      rte_ring* rs = rte_ring_create_elem(s.c_str(), sizeof(void*), kRingSize, SOCKET_ID_ANY,
                                          RING_F_SP_ENQ | RING_F_SC_DEQ);
      rte_ring* rb = rte_ring_create_elem(b.c_str(), sizeof(NeighborUpdate), 1024, SOCKET_ID_ANY,
                                          RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (rs == nullptr || rb == nullptr) {
        return absl::ResourceExhaustedError(
            absl::StrCat("cannot create the steering rings: ", rte_strerror(rte_errno)));
      }
      steer[size_t{from} * n + to] = rs;
      nbr[size_t{from} * n + to] = rb;
    }
  }

  for (uint32_t s = 0; s < n; ++s) {
    DpdkShardLoopConfig sc;
    sc.runtime = d->ShardRuntimeConfig(s);
    sc.ports = d->ports_;
    for (const route::Endpoint& e : config.listeners) sc.listener_ports.push_back(e.port);
    sc.port_mac = macs;
    sc.address = config.address;
    // afxdp mode: the interface's IPv6 address in the kernel, which answers ND for it.
    if (config.address6) sc.address6 = *config.address6;
    sc.tx_port = config.tx_port;
    sc.udp_checksum_offload = udp_offload_by_port[config.tx_port];
    if (config.gateway_mac) sc.gateway_mac = *config.gateway_mac;
    sc.resolve_out = resolve[s];
    std::vector<rte_ring*> sin(n), sout(n), bin(n), bout(n);
    for (uint32_t o = 0; o < n; ++o) {
      sin[o] = steer[size_t{o} * n + s];
      sout[o] = steer[size_t{s} * n + o];
      bin[o] = nbr[size_t{o} * n + s];
      bout[o] = nbr[size_t{s} * n + o];
    }
    if (kernel_nbr[s] != nullptr) bin.push_back(kernel_nbr[s]);
    auto mp = pool_for(shard_socket[s]);
    if (!mp.ok()) return mp.status();
    // Built on the lcore that will run it, so that its tables (stream table, neighbour and
    // template caches, TX buffers: the per-packet working set) are first touched, and placed,
    // on that lcore's NUMA node.
    ShardBuild build{
        sc,   d->leases_.get(), d->channels_.shard(s), *mp, d->channels_.pool(), sin, sout, bin,
        bout, nullptr};
    if (shard_lcore[s] >= 0 && rte_eal_remote_launch(&ShardBuild::Run, &build,
                                                     static_cast<unsigned>(shard_lcore[s])) == 0) {
      rte_eal_wait_lcore(static_cast<unsigned>(shard_lcore[s]));
    } else {
      ShardBuild::Run(&build);
    }
    d->shards_.push_back(std::move(build.loop));
  }
  return std::unique_ptr<Plane>(std::move(d));
}

DpdkPlane::~DpdkPlane() {
  Stop();
  kernel_neighbors_.reset();
  shards_.clear();
  for (uint16_t p : ports_) {
    rte_eth_dev_stop(p);
    rte_eth_dev_close(p);  // net_af_xdp: detaches the shield program
  }
  shield_.reset();  // then its pins
}

void DpdkPlane::RunShard(uint32_t shard, const std::atomic<bool>& stop) {
  shards_[shard]->Run(stop);
}

std::string DpdkPlane::Summary() const {
  if (shield_ == nullptr) return absl::StrCat(ports_.size(), " port(s)");
  return absl::StrCat(ports_.size(), " port(s), AF_XDP ", bind_mode_, " mode, XDP shield ",
                      std::string(XdpAttachedModeName(shield_->mode())), " on ",
                      shield_->interface());
}

std::vector<std::string> DpdkPlane::ShardSummaries() const {
  std::vector<std::string> out;
  const uint64_t hz = rte_get_tsc_hz();
  for (const auto& s : shards_) {
    const DpdkShardLoopCounters& c = s->counters();
    const route::RoutingCounters& r = s->runtime().core().counters();
    // What the routing core dropped, by reason: every received frame is accounted for.
    uint64_t dropped = 0;
    std::string reasons;
    for (size_t i = 0; i < r.drops.size(); ++i) {
      if (r.drops[i] == 0) continue;
      dropped += r.drops[i];
      absl::StrAppend(&reasons, reasons.empty() ? " (" : ", ",
                      std::string(route::DropReasonName(static_cast<route::DropReason>(i))), " ",
                      r.drops[i]);
    }
    if (!reasons.empty()) reasons += ")";
    out.push_back(absl::StrFormat(
        "shard %u: rx %u tx %u tx_dropped %u routed %u out %u steered out/in %u/%u steer_full %u "
        "dropped %u%s no_neighbor %u no_mbuf %u net_rejects %u arp %u icmp %u; loop latency p50 "
        "%.0f ns p99 %.0f ns p99.9 %.0f ns; %.0f busy cycles per rx frame",
        s->runtime().index(), c.rx_packets, c.tx_packets, c.tx_dropped, r.packets_routed,
        r.packets_out, c.steered_out, c.steered_in, c.steer_full, dropped, reasons, c.no_neighbor,
        c.no_mbuf, c.net.total_rejects(), c.arp_replies, c.icmp_replies,
        c.loop.PercentileNs(0.5, hz), c.loop.PercentileNs(0.99, hz), c.loop.PercentileNs(0.999, hz),
        // The cycles of the iterations that received something, over what they received: the
        // per-frame cost at any offered rate (idle polling is not in it).
        c.rx_packets ? static_cast<double>(c.loop.sum_cycles) / static_cast<double>(c.rx_packets)
                     : 0.0));
  }
  return out;
}

}  // namespace dmrswitch::io
