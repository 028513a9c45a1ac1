#include "dataplane/io/dpdk_shard_loop.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "absl/base/optimization.h"
#include "dataplane/io/clock.h"
#include "dataplane/io/steering/steering_key.h"

namespace dmrswitch::io {
namespace {

// A learned MAC stays trusted for an hour after it was last seen: only the shard that receives a
// client's packets refreshes it, the others hold the announced copy.
constexpr net::TimeNs kNeighborTtl = 3600 * net::kNetSec;

// DMRD (HBP or classic OBP) or DMRE: the per-packet traffic. One 4-byte load and two compares
// (this runs for every datagram).
bool IsVoiceFrame(std::span<const uint8_t> p) {
  if (p.size() < 4) return false;
  uint32_t tag;
  std::memcpy(&tag, p.data(), sizeof(tag));
  uint32_t dmrd, dmre;
  std::memcpy(&dmrd, "DMRD", sizeof(dmrd));
  std::memcpy(&dmre, "DMRE", sizeof(dmre));
  return tag == dmrd || tag == dmre;
}

// Room an egress datagram needs behind the buffer start: VLAN-tagged headers plus the largest
// datagram the core writes. IPv6 headers are the longer: a received IPv4 frame's mbuf may carry
// an IPv6 datagram out.
constexpr size_t kEgressRoom = std::max(net::kUdpHeadersVlanBytes, net::kUdp6HeadersVlanBytes) +
                               route::PacketSink::kMaxPacketBytes;

// A received mbuf (one segment: HandleFrame drops the others) can carry an egress datagram when
// this shard alone owns its buffer (not an indirect or external buffer shared with other mbufs)
// and that buffer has the room.
bool Reusable(const rte_mbuf* m) {
  return RTE_MBUF_DIRECT(m) && rte_mbuf_refcnt_read(m) == 1 &&
         m->buf_len >= RTE_PKTMBUF_HEADROOM + kEgressRoom;
}

size_t TemplateSlot(uint32_t ip, uint16_t port, uint32_t listener, size_t slots) {
  return dmrswitch_mix32(ip ^ (uint32_t{port} << 16) ^ (listener * 0x9E3779B9u)) & (slots - 1);
}

size_t TemplateSlot6(const uint8_t* ip6, uint16_t port, uint32_t listener, size_t slots) {
  net::Ip6 a;
  std::memcpy(a.data(), ip6, 16);
  const uint64_t f = net::NeighborKey<net::Ip6>::Fold(a);
  return TemplateSlot(static_cast<uint32_t>(f ^ (f >> 32)), port, listener, slots);
}

bool IsLinkLocal6(const uint8_t* a) { return a[0] == 0xfe && (a[1] & 0xc0) == 0x80; }
bool IsUnspecified6(const uint8_t* a) {
  for (int i = 0; i < 16; ++i) {
    if (a[i] != 0) return false;
  }
  return true;
}

}  // namespace

DpdkShardLoop::DpdkShardLoop(const DpdkShardLoopConfig& config, route::SlotLeases* leases,
                             ipc::ShardChannel channel, rte_mempool* pool,
                             rte_mempool* control_pool, std::vector<rte_ring*> steer_in,
                             std::vector<rte_ring*> steer_out, std::vector<rte_ring*> nbr_in,
                             std::vector<rte_ring*> nbr_out)
    : config_(config),
      pool_(pool),
      steer_in_(std::move(steer_in)),
      steer_out_(std::move(steer_out)),
      nbr_in_(std::move(nbr_in)),
      nbr_out_(std::move(nbr_out)),
      tx_(config.ports.size()),
      port_vlan_(config.ports.size()),
      neighbors_(
          net::NeighborTable::Options{config.neighbor_capacity, kNeighborTtl, 1 * net::kNetSec}),
      neighbors6_(net::NeighborTable6::Options{config.address6 ? config.neighbor_capacity : 1,
                                               kNeighborTtl, 1 * net::kNetSec}),
      templates_(kTemplateCache),
      templates6_(config.address6 ? kTemplateCache6 : 1),
      runtime_(config.runtime, leases, channel, control_pool, this) {
  for (size_t p = 0; p < config_.ports.size(); ++p) tx_[p].port = config_.ports[p];
  if (config_.address6) address6_ = &*config_.address6;
  steer_batch_.resize(config_.runtime.nshards);
}

DpdkShardLoop::~DpdkShardLoop() {
  for (TxQueue& q : tx_) {
    rte_pktmbuf_free_bulk(q.pkts, q.n);
    q.n = 0;
  }
}

int DpdkShardLoop::ListenerOf(uint16_t udp_port) const {
  for (size_t l = 0; l < config_.listener_ports.size(); ++l) {
    if (config_.listener_ports[l] == udp_port) return static_cast<int>(l);
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// Transmit

// Inlined into Commit, once per egress packet.
[[gnu::always_inline]] inline void DpdkShardLoop::Transmit(size_t p, rte_mbuf* m) {
  TxQueue& q = tx_[p];
  if (q.n == kTxBuffer) FlushTx();
  q.pkts[q.n++] = m;
}

void DpdkShardLoop::FlushTx() {
  const uint16_t queue = static_cast<uint16_t>(config_.runtime.index);
  for (TxQueue& q : tx_) {
    uint16_t sent = 0;
    while (sent < q.n) {
      const uint16_t k =
          rte_eth_tx_burst(q.port, queue, q.pkts + sent, static_cast<uint16_t>(q.n - sent));
      if (k == 0) break;  // TX ring full: drop the rest rather than wait
      sent = static_cast<uint16_t>(sent + k);
    }
    if (sent < q.n) {
      rte_pktmbuf_free_bulk(q.pkts + sent, q.n - sent);
      counters_.tx_dropped += q.n - sent;
    }
    counters_.tx_packets += sent;
    q.n = 0;
  }
}

uint8_t* DpdkShardLoop::Begin(uint32_t listener, const route::Endpoint& to) {
  if (ABSL_PREDICT_FALSE(listener >= config_.listener_ports.size())) return nullptr;
  if (ABSL_PREDICT_FALSE(to.v6)) return Begin6(listener, to);
  const uint16_t src_port = config_.listener_ports[listener];
  CachedTemplate& c = templates_[TemplateSlot(to.ip, to.port, listener, templates_.size())];
  if (ABSL_PREDICT_FALSE(c.ip != to.ip || c.port != to.port || c.src_port != src_port ||
                         c.epoch != neighbor_epoch_)) {
    const route::TimeNs now = loop_now_;
    std::optional<net::Mac> mac = neighbors_.Lookup(to.ip, now);
    if (!mac) mac = config_.gateway_mac;
    if (!mac) {
      ++counters_.no_neighbor;
      if (neighbors_.NeedsArp(to.ip, now)) ResolveNeighbor(to.ip);
      return nullptr;
    }
    net::UdpHeaderTemplate::Params params;
    params.dst_mac = *mac;
    params.src_mac = config_.port_mac[config_.tx_port];
    params.vlan = port_vlan_[config_.tx_port];
    params.src_ip = config_.address;
    params.dst_ip = to.ip;
    params.src_port = src_port;
    params.dst_port = to.port;
    if (config_.udp_checksum_offload) {
      params.udp_checksum = net::UdpChecksumMode::kOffloadPseudoHeader;
    }
    c.ip = to.ip;
    c.port = to.port;
    c.src_port = src_port;
    c.epoch = neighbor_epoch_;
    c.tmpl = net::UdpHeaderTemplate(params);
  }
  rte_mbuf* m = EgressMbuf();
  if (ABSL_PREDICT_FALSE(m == nullptr)) return nullptr;
  cur_ = m;
  cur_tmpl_ = &c;
  cur_port_ = config_.tx_port;
  return rte_pktmbuf_mtod(m, uint8_t*) + c.tmpl.header_bytes();
}

inline rte_mbuf* DpdkShardLoop::EgressMbuf() {
  rte_mbuf* m = reuse_;
  if (m != nullptr) {
    // The first datagram for a received voice frame goes out in that frame's own mbuf: no
    // allocation now and no free at the end of the burst (all of it at fanout 1).
    reuse_ = nullptr;
    rte_pktmbuf_reset(m);
    return m;
  }
  m = rte_pktmbuf_alloc(pool_);
  if (ABSL_PREDICT_FALSE(m == nullptr)) ++counters_.no_mbuf;
  return m;
}

// IPv6 destinations (dpdk mode with an address6): the same as Begin with 16-byte keys and the
// IPv6 template. Kept apart so the IPv4 path stays as it was.
uint8_t* DpdkShardLoop::Begin6(uint32_t listener, const route::Endpoint& to) {
  if (address6_ == nullptr) {
    // Configuration keeps IPv6 destinations out of a plane without an IPv6 address; should one
    // arrive anyway, it is counted, never sent.
    ++counters_.no_neighbor;
    return nullptr;
  }
  const uint16_t src_port = config_.listener_ports[listener];
  CachedTemplate6& c = templates6_[TemplateSlot6(to.ip6, to.port, listener, templates6_.size())];
  if (std::memcmp(c.ip.data(), to.ip6, 16) != 0 || c.port != to.port || c.src_port != src_port ||
      c.epoch != neighbor_epoch_) {
    net::Ip6 ip;
    std::memcpy(ip.data(), to.ip6, 16);
    const route::TimeNs now = loop_now_;
    std::optional<net::Mac> mac = neighbors6_.Lookup(ip, now);
    if (!mac) mac = config_.gateway_mac;
    if (!mac) {
      ++counters_.no_neighbor;
      if (neighbors6_.NeedsArp(ip, now)) {
        if (config_.resolve_out == nullptr) {
          SendNeighborSolicit(config_.tx_port, ip);
        } else {
          // afxdp mode: the kernel solicits. A full ring: asked again a second later.
          NeighborRequest r{};
          r.v6 = 1;
          r.ip6 = ip;
          if (rte_ring_enqueue_elem(config_.resolve_out, &r, sizeof(r)) == 0) {
            ++counters_.nd_solicits;
          }
        }
      }
      return nullptr;
    }
    net::Udp6HeaderTemplate::Params params;
    params.dst_mac = *mac;
    params.src_mac = config_.port_mac[config_.tx_port];
    params.vlan = port_vlan_[config_.tx_port];
    params.src_ip = *address6_;
    params.dst_ip = ip;
    params.src_port = src_port;
    params.dst_port = to.port;
    params.checksum_offload = config_.udp_checksum_offload;
    c.ip = ip;
    c.port = to.port;
    c.src_port = src_port;
    c.epoch = neighbor_epoch_;
    c.tmpl = net::Udp6HeaderTemplate(params);
  }
  rte_mbuf* m = EgressMbuf();
  if (m == nullptr) return nullptr;
  cur_ = m;
  cur_tmpl6_ = &c;
  cur_port_ = config_.tx_port;
  return rte_pktmbuf_mtod(m, uint8_t*) + c.tmpl.header_bytes();
}

template <typename Template>
[[gnu::always_inline]] inline void DpdkShardLoop::Finish(const Template& t, uint16_t len,
                                                         uint64_t l3_flag, uint16_t l3_len) {
  const size_t header = t.Write(rte_pktmbuf_mtod(cur_, uint8_t*), len);
  cur_->data_len = static_cast<uint16_t>(header + len);
  cur_->pkt_len = cur_->data_len;
  if (config_.udp_checksum_offload) {
    // The template wrote the pseudo-header sum; the port completes the UDP checksum.
    cur_->ol_flags |= l3_flag | RTE_MBUF_F_TX_UDP_CKSUM;
    cur_->l2_len = static_cast<uint16_t>(t.l2_bytes());
    cur_->l3_len = l3_len;
  }
  Transmit(cur_port_, cur_);
  cur_ = nullptr;
}

void DpdkShardLoop::Commit(uint16_t len) {
  if (ABSL_PREDICT_FALSE(cur_tmpl6_ != nullptr)) {
    // Without offload the IPv6 template sums the payload the core has just written.
    Finish(cur_tmpl6_->tmpl, len, RTE_MBUF_F_TX_IPV6, net::kIpv6HeaderBytes);
    cur_tmpl6_ = nullptr;
    return;
  }
  Finish(cur_tmpl_->tmpl, len, RTE_MBUF_F_TX_IPV4, net::kIpv4MinHeaderBytes);
}

void DpdkShardLoop::ResolveNeighbor(uint32_t ip) {
  if (config_.resolve_out == nullptr) {
    SendArpRequest(config_.tx_port, ip);
    return;
  }
  // A full ring: the next NeedsArp (a second later) asks again.
  NeighborRequest r{};
  r.ip = ip;
  if (rte_ring_enqueue_elem(config_.resolve_out, &r, sizeof(r)) == 0) ++counters_.arp_requests;
}

// A control frame (ARP or NS) built by `build` into a fresh mbuf and queued on port p; true when
// it went out. A template, not std::function: nothing may allocate on the lcore.
template <typename Build>
bool DpdkShardLoop::SendControlFrame(size_t p, const Build& build) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (m == nullptr) {
    ++counters_.no_mbuf;
    return false;
  }
  const size_t len =
      build(net::MutableByteSpan(rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_tailroom(m)));
  if (len == 0) {
    rte_pktmbuf_free(m);
    return false;
  }
  m->data_len = static_cast<uint16_t>(len);
  m->pkt_len = m->data_len;
  Transmit(p, m);
  return true;
}

void DpdkShardLoop::SendNeighborSolicit(size_t p, const net::Ip6& target) {
  if (SendControlFrame(p, [&](net::MutableByteSpan out) {
        return net::BuildNeighborSolicit(config_.port_mac[p], *address6_, target, port_vlan_[p],
                                         out);
      })) {
    ++counters_.nd_solicits;
  }
}

void DpdkShardLoop::SendArpRequest(size_t p, uint32_t ip) {
  if (SendControlFrame(p, [&](net::MutableByteSpan out) {
        return net::BuildArpRequest(config_.port_mac[p], config_.address, ip, port_vlan_[p], out);
      })) {
    ++counters_.arp_requests;
  }
}

// ---------------------------------------------------------------------------------------------
// Receive

void DpdkShardLoop::Learn(size_t p, uint32_t ip, const net::Mac& mac, route::TimeNs now,
                          bool announce) {
  // A burst is mostly one talker's frames: the same source again needs no table write (its
  // freshness is refreshed once a second at most).
  if (announce && ip == last_learned_ip_ && mac == last_learned_mac_ &&
      now - last_learned_at_ < route::kSec) {
    return;
  }
  if (announce) {
    last_learned_ip_ = ip;
    last_learned_mac_ = mac;
    last_learned_at_ = now;
  }
  const net::NeighborTable::LearnResult r = neighbors_.Learn(ip, mac, now);
  if (r == net::NeighborTable::LearnResult::kMoved) ++neighbor_epoch_;
  if (!announce || (r != net::NeighborTable::LearnResult::kLearned &&
                    r != net::NeighborTable::LearnResult::kMoved)) {
    return;
  }
  NeighborUpdate u{};
  u.ip = ip;
  u.mac = mac;
  u.port = static_cast<uint16_t>(p);
  u.vlan_tci = port_vlan_[p].tci;
  u.vlan_present = static_cast<uint16_t>(port_vlan_[p].present);
  Announce(u);
}

void DpdkShardLoop::Learn6(size_t p, const uint8_t* ip6, const net::Mac& mac, route::TimeNs now,
                           bool announce) {
  // Called for control traffic and Neighbour Discovery only (never per voice frame).
  net::Ip6 ip;
  std::memcpy(ip.data(), ip6, 16);
  const net::NeighborLearnResult r = neighbors6_.Learn(ip, mac, now);
  if (r == net::NeighborLearnResult::kMoved) ++neighbor_epoch_;
  if (!announce ||
      (r != net::NeighborLearnResult::kLearned && r != net::NeighborLearnResult::kMoved)) {
    return;
  }
  NeighborUpdate u{};
  u.mac = mac;
  u.port = static_cast<uint16_t>(p);
  u.vlan_tci = port_vlan_[p].tci;
  u.vlan_present = static_cast<uint16_t>(port_vlan_[p].present);
  u.ip6 = ip;
  u.v6 = 1;
  Announce(u);
}

void DpdkShardLoop::Announce(const NeighborUpdate& u) {
  for (rte_ring* ring : nbr_out_) {
    if (ring == nullptr) continue;
    if (rte_ring_enqueue_elem(ring, const_cast<NeighborUpdate*>(&u), sizeof(u)) == 0) {
      ++counters_.neighbor_updates;
    }
  }
}

bool DpdkShardLoop::HandleIcmp6(size_t p, const net::FrameView& v, rte_mbuf* m, route::TimeNs now) {
  uint8_t* data = rte_pktmbuf_mtod(m, uint8_t*);
  const net::MutableByteSpan room(data, m->data_len + rte_pktmbuf_tailroom(m));
  size_t len = 0;
  if (v.icmp_type == net::kIcmp6NeighborSolicit) {
    // A neighbour asking for us tells us its own MAC; link-local and DAD sources are never
    // destinations of ours.
    if (v.nd_lla_offset != 0 && !IsUnspecified6(v.src_ip6()) && !IsLinkLocal6(v.src_ip6())) {
      net::Mac lla;
      std::memcpy(lla.data(), v.nd_lla(), 6);
      Learn6(p, v.src_ip6(), lla, now, /*announce=*/true);
    }
    len = net::BuildNeighborAdvert(v, config_.port_mac[p], *address6_, room);
    if (len != 0) ++counters_.nd_adverts;
  } else if (v.icmp_type == net::kIcmp6NeighborAdvert) {
    // Learned: answers to a solicitation (the Solicited flag; with several shards the answer
    // may reach one that did not ask, so it cannot be matched against this shard's pending
    // entries — IPv4 learns every ARP reply alike) and news of an address this shard holds. An
    // unsolicited advertisement of a new address (to all-nodes, or forged) is not.
    net::Ip6 target;
    std::memcpy(target.data(), v.nd_target(), 16);
    const bool solicited = (v.frame[v.l4_offset + 4] & 0x40) != 0;
    if ((solicited || neighbors6_.Known(target)) && !IsLinkLocal6(target.data())) {
      Learn6(p, target.data(), v.nd_lla_offset != 0 ? [&] {
        net::Mac mac;
        std::memcpy(mac.data(), v.nd_lla(), 6);
        return mac;
      }() : v.src_mac_array(), now, /*announce=*/true);
    }
    return false;
  } else if (v.icmp_type == net::kIcmp6EchoRequest) {
    len = net::BuildIcmp6EchoReply(v, config_.port_mac[p], *address6_, room);
    if (len != 0) ++counters_.icmp6_replies;
  }
  if (len == 0) return false;
  m->data_len = static_cast<uint16_t>(len);
  m->pkt_len = m->data_len;
  Transmit(p, m);
  return true;
}

void DpdkShardLoop::SetPortVlan(size_t p, net::Vlan vlan) {
  // The port's clients speak on this VLAN: egress follows (one VLAN per port). Templates built
  // for the old tag are stale.
  port_vlan_[p] = vlan;
  ++neighbor_epoch_;
}

[[gnu::always_inline]] inline bool DpdkShardLoop::DeliverInPlace(uint32_t listener,
                                                                 std::span<const uint8_t> payload,
                                                                 const route::Endpoint& from,
                                                                 route::TimeNs now, rte_mbuf* m,
                                                                 bool voice) {
  // For a voice frame (DMRD/DMRE) the routing core copies the datagram before it asks for its
  // first egress buffer and reads only that copy afterwards (RoutingCore::FanOut's `base`; BCSQ and
  // refusals use decoded fields), so that buffer may be the received mbuf itself. Other
  // datagrams (keepalives, logins) may be read after a reply was built: they keep their mbuf.
  const bool offered = voice && Reusable(m);
  reuse_ = offered ? m : nullptr;
  runtime_.Deliver(listener, payload, from, now);
  const bool consumed = offered && reuse_ == nullptr;
  reuse_ = nullptr;
  return consumed;
}

void DpdkShardLoop::HandleFrame(size_t p, rte_mbuf* m, route::TimeNs now) {
  if (ABSL_PREDICT_FALSE(m->nb_segs != 1)) {
    counters_.net.Count(net::NetReject::kTooShort);  // jumbo/scattered: never hub traffic
    rte_pktmbuf_free(m);
    return;
  }
  uint8_t* data = rte_pktmbuf_mtod(m, uint8_t*);
  net::ParseOptions opts;
  opts.ip_checksum_good =
      (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD;
  opts.udp_checksum_good =
      (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD;
  net::FrameView v;
  net::NetReject r = net::ParseFrame(net::ByteSpan(data, m->data_len), &v, opts);
  if (r == net::NetReject::kOk) {
    r = net::AddressedToUs(v, config_.port_mac[p], config_.address, address6_);
  }
  if (ABSL_PREDICT_FALSE(r != net::NetReject::kOk)) {
    counters_.net.Count(r);
    rte_pktmbuf_free(m);
    return;
  }
  if (ABSL_PREDICT_FALSE(v.vlan != port_vlan_[p])) SetPortVlan(p, v.vlan);
  if (v.is_udp()) {
    const int listener = ListenerOf(v.dst_port);
    if (ABSL_PREDICT_FALSE(listener < 0)) {
      ++counters_.not_hub_traffic;
      rte_pktmbuf_free(m);
      return;
    }
    // Next hops are learned from control traffic (logins, keepalives every 10 s, options,
    // BCKA), not from every voice frame: a table write per DMRD would cost more than the rest of
    // the parse, and a client keeps pinging throughout its calls.
    const bool voice = IsVoiceFrame(v.payload);
    route::Endpoint from{v.src_ip, v.src_port};
    if (ABSL_PREDICT_FALSE(v.is_ipv6())) {
      // Built field by field: route::Endpoint::V6 would fold a v4-mapped source into an IPv4
      // client (the parser refuses those; this keeps the families apart regardless).
      from.v6 = true;
      std::memcpy(from.ip6, v.src_ip6(), 16);
      if (!voice) Learn6(p, v.src_ip6(), v.src_mac_array(), now, /*announce=*/true);
    } else if (!voice) {
      Learn(p, v.src_ip, v.src_mac_array(), now, /*announce=*/true);
    }
    // One shard owns everything: the steering classification would only ever say "here".
    if (config_.runtime.nshards > 1) {
      const uint32_t owner = SteeringKeyOwner(v.payload, config_.runtime.nshards);
      if (owner != config_.runtime.index) {
        // Hand the mbuf itself to its owner, trimmed to the UDP payload.
        const uint16_t offset = static_cast<uint16_t>(v.payload.data() - data);
        rte_pktmbuf_adj(m, offset);
        rte_pktmbuf_trim(m, static_cast<uint16_t>(m->data_len - v.payload.size()));
        ipc::MetaOf(m) = ipc::PacketMeta{static_cast<uint32_t>(listener), 0, from};
        SteerBatch& b = steer_batch_[owner];
        b.pkts[b.n++] = m;  // enqueued in one burst per owner at the end of the RX burst
        return;
      }
    }
    if (DeliverInPlace(static_cast<uint32_t>(listener), v.payload, from, now, m, voice)) return;
    done_[n_done_++] = m;  // freed in bulk at the end of the burst
    return;
  }
  if (v.is_icmp6()) {
    if (HandleIcmp6(p, v, m, now)) return;
    rte_pktmbuf_free(m);
    return;
  }
  if (v.is_arp()) {
    Learn(p, v.src_ip, v.src_mac_array(), now, /*announce=*/true);
    if (v.arp_op == 1) {
      const size_t len =
          net::BuildArpReply(v, config_.port_mac[p], config_.address,
                             net::MutableByteSpan(data, m->data_len + rte_pktmbuf_tailroom(m)));
      if (len != 0) {
        m->data_len = static_cast<uint16_t>(len);
        m->pkt_len = m->data_len;
        Transmit(p, m);
        ++counters_.arp_replies;
        return;
      }
    }
    rte_pktmbuf_free(m);
    return;
  }
  if (v.is_icmp() && v.icmp_type == 8) {
    Learn(p, v.src_ip, v.src_mac_array(), now, /*announce=*/true);
    const size_t len =
        net::BuildIcmpEchoReply(v, config_.port_mac[p], config_.address,
                                net::MutableByteSpan(data, m->data_len + rte_pktmbuf_tailroom(m)));
    if (len != 0) {
      m->data_len = static_cast<uint16_t>(len);
      m->pkt_len = m->data_len;
      Transmit(p, m);
      ++counters_.icmp_replies;
      return;
    }
  }
  ++counters_.not_hub_traffic;
  rte_pktmbuf_free(m);
}

void DpdkShardLoop::ReceivePort(size_t p, route::TimeNs now) {
  rte_mbuf* pkts[kBurst];
  const uint16_t n = rte_eth_rx_burst(config_.ports[p],
                                      static_cast<uint16_t>(config_.runtime.index), pkts, kBurst);
  counters_.rx_packets += n;
  for (uint16_t i = 0; i < n; ++i) {
    if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void*));
    HandleFrame(p, pkts[i], now);
  }
  rte_pktmbuf_free_bulk(done_, n_done_);
  n_done_ = 0;
  for (uint32_t o = 0; o < steer_batch_.size(); ++o) {
    SteerBatch& b = steer_batch_[o];
    if (b.n == 0) continue;
    const unsigned sent =
        rte_ring_enqueue_burst_elem(steer_out_[o], b.pkts, sizeof(rte_mbuf*), b.n, nullptr);
    counters_.steered_out += sent;
    if (sent < b.n) {
      counters_.steer_full += b.n - sent;
      rte_pktmbuf_free_bulk(b.pkts + sent, b.n - sent);
    }
    b.n = 0;
  }
}

unsigned DpdkShardLoop::PollSteered(route::TimeNs now) {
  unsigned total = 0;
  for (rte_ring* r : steer_in_) {
    if (r == nullptr) continue;
    rte_mbuf* m[kBurst];
    const unsigned n = ipc::ReceiveMbufs(r, m, kBurst);
    for (unsigned i = 0; i < n; ++i) {
      const ipc::PacketMeta meta = ipc::MetaOf(m[i]);
      const std::span<const uint8_t> bytes = ipc::BytesOf(m[i]);
      if (!DeliverInPlace(meta.listener, bytes, meta.addr, now, m[i], IsVoiceFrame(bytes))) {
        rte_pktmbuf_free(m[i]);
      }
    }
    counters_.steered_in += n;
    total += n;
  }
  return total;
}

unsigned DpdkShardLoop::PollNeighbors(route::TimeNs now) {
  unsigned total = 0;
  for (rte_ring* r : nbr_in_) {
    if (r == nullptr) continue;
    NeighborUpdate u[16];
    const unsigned n = rte_ring_dequeue_burst_elem(r, u, sizeof(NeighborUpdate), 16, nullptr);
    for (unsigned i = 0; i < n; ++i) {
      // Shards that only see a client's packets through steering learn its port's VLAN here.
      const net::Vlan vlan{u[i].vlan_present != 0, u[i].vlan_tci};
      if (u[i].vlan_present != kNeighborVlanUnknown && u[i].port < port_vlan_.size() &&
          vlan != port_vlan_[u[i].port]) {
        SetPortVlan(u[i].port, vlan);
      }
      if (u[i].v6 != 0) {
        if (address6_ != nullptr) Learn6(u[i].port, u[i].ip6.data(), u[i].mac, now, false);
      } else {
        Learn(u[i].port, u[i].ip, u[i].mac, now, false);
      }
    }
    total += n;
  }
  return total;
}

void DpdkShardLoop::Run(const std::atomic<bool>& stop) {
  while (!stop.load(std::memory_order_relaxed) && !runtime_.stop_requested()) Step();
  FlushTx();
  if (runtime_.publishes_stats()) PublishStats(clock_.Now());  // the final counts
}

void DpdkShardLoop::PublishStats(route::TimeNs now) {
  using ipc::IoStat;
  const auto io = [this](IoStat k, uint64_t v) {
    stats_.io[static_cast<size_t>(k)] = v;
    stats_.io_present |= uint64_t{1} << static_cast<size_t>(k);
  };
  const DpdkShardLoopCounters& c = counters_;
  io(IoStat::kRxPackets, c.rx_packets);
  io(IoStat::kTxPackets, c.tx_packets);
  io(IoStat::kTxDropped, c.tx_dropped);
  io(IoStat::kSteeredOut, c.steered_out);
  io(IoStat::kSteeredIn, c.steered_in);
  io(IoStat::kSteerFull, c.steer_full);
  io(IoStat::kArpReplies, c.arp_replies);
  io(IoStat::kArpRequests, c.arp_requests);
  io(IoStat::kIcmpReplies, c.icmp_replies);
  io(IoStat::kNotHubTraffic, c.not_hub_traffic);
  io(IoStat::kNoMbuf, c.no_mbuf);
  io(IoStat::kNoNeighbor, c.no_neighbor);
  io(IoStat::kNeighborUpdates, c.neighbor_updates);
  io(IoStat::kNdAdverts, c.nd_adverts);
  io(IoStat::kNdSolicits, c.nd_solicits);
  io(IoStat::kIcmp6Replies, c.icmp6_replies);
  stats_.net_rejects = c.net.by_reason;
  uint64_t steer_depth = 0;
  for (rte_ring* r : steer_in_) {
    if (r != nullptr) steer_depth += ipc::RingFill(r);
  }
  stats_.gauges[static_cast<size_t>(ipc::ShardGauge::kSteerInRings)] = steer_depth;
  stats_.loop = c.loop;
  runtime_.PublishStats(now, &stats_);
}

void DpdkShardLoop::Step() {
  const uint64_t t0 = rte_rdtsc();
  const uint64_t rx_before = counters_.rx_packets;
  const route::TimeNs now = clock_.Now();
  loop_now_ = now;
  runtime_.PollCommands(now);
  runtime_.PollFromControl();
  PollNeighbors(now);
  PollSteered(now);
  for (size_t p = 0; p < config_.ports.size(); ++p) ReceivePort(p, now);
  FlushTx();
  if (counters_.rx_packets != rx_before) counters_.loop.Add(rte_rdtsc() - t0);
  runtime_.Timers(
      now, IoTotals{counters_.rx_packets, counters_.tx_packets,
                    counters_.tx_dropped + counters_.net.total_rejects() + counters_.no_mbuf +
                        counters_.no_neighbor + counters_.steer_full});
  FlushTx();  // what the timers sent (the parrot's playback) leaves in this pass; cheap if none
  neighbors_.Expire(now, 4);
  if (address6_ != nullptr) neighbors6_.Expire(now, 4);
  (void)runtime_.TakeControlWake();  // the control plane polls; a busy lcore pokes no one
  if (runtime_.StatsDue(now)) PublishStats(now);
}

}  // namespace dmrswitch::io
