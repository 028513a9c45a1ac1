// DpdkShardLoop (and the ShardRuntime inside it) without root, hugepages or a NIC
// (tests/io/eal_environment.h). The port is a ring PMD (rte_eth_from_rings): the test fills its
// RX ring with Ethernet frames, reads its TX ring back, and runs the loop one Step() at a time.
// Expected frames are laid out here byte by byte (Ethernet, 802.1Q, ARP, IPv4, UDP); the DMR
// payloads the routing core builds are compared with a reference RoutingCore fed the same
// datagrams, so these tests check what the I/O layer adds: parsing, headers, neighbours, queues.
#include "dataplane/io/dpdk_shard_loop.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <array>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dataplane/ipc/channel.h"
#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/routing_core.h"
#include "dataplane/route/slot_lease.h"
#include "tests/io/eal_environment.h"

namespace dmrswitch::io {
namespace {

using Bytes = std::vector<uint8_t>;
using Mac = std::array<uint8_t, 6>;

constexpr uint32_t kHubIp = 0xC6120001;  // 198.18.0.1
constexpr uint16_t kHbpPort = 62031;
constexpr uint32_t kTg = 91;

struct Client {
  uint32_t id;
  uint32_t ip;
  uint16_t port;
  Mac mac;
  std::optional<net::Ip6> ip6;  // an IPv6 client (ip unused)
  route::Endpoint addr() const {
    if (!ip6) return {ip, port};
    route::Endpoint e;
    e.v6 = true;
    std::memcpy(e.ip6, ip6->data(), 16);
    e.port = port;
    return e;
  }
};
Client MakeClient(uint8_t n) {
  return Client{3120000u + n, 0xC6120100u + n, static_cast<uint16_t>(40000 + n),
                Mac{0x02, 0x00, 0x00, 0x00, 0x01, n}, std::nullopt};
}
constexpr net::Ip6 kHubIp6 = {0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
// A client at 2001:2::1:n (2001:2::/48 is the benchmarking range).
Client MakeClient6(uint8_t n) {
  Client c = MakeClient(n);
  c.ip = 0;
  c.ip6 = net::Ip6{0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, n};
  return c;
}

void Be16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void Be32(Bytes& b, uint32_t v) {
  Be16(b, static_cast<uint16_t>(v >> 16));
  Be16(b, static_cast<uint16_t>(v));
}
void Append(Bytes& b, const uint8_t* p, size_t n) { b.insert(b.end(), p, p + n); }

// Ethernet header, with an 802.1Q tag when `vlan` is set.
Bytes Ether(const Mac& dst, const Mac& src, std::optional<uint16_t> vlan, uint16_t type) {
  Bytes b;
  Append(b, dst.data(), 6);
  Append(b, src.data(), 6);
  if (vlan) {
    Be16(b, 0x8100);
    Be16(b, *vlan);
  }
  Be16(b, type);
  return b;
}

uint16_t IpChecksum(const uint8_t* h) {
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += (uint32_t{h[i]} << 8) | h[i + 1];
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// An IPv4/UDP frame exactly as the hub's template writes one: DF, ID 0, TTL 64, UDP checksum 0.
Bytes UdpFrame(const Mac& dst_mac, const Mac& src_mac, std::optional<uint16_t> vlan,
               uint32_t src_ip, uint16_t src_port, uint32_t dst_ip, uint16_t dst_port,
               const Bytes& payload) {
  Bytes b = Ether(dst_mac, src_mac, vlan, 0x0800);
  const size_t ip = b.size();
  b.push_back(0x45);
  b.push_back(0);
  Be16(b, static_cast<uint16_t>(20 + 8 + payload.size()));
  Be16(b, 0);
  Be16(b, 0x4000);
  b.push_back(64);
  b.push_back(17);
  Be16(b, 0);
  Be32(b, src_ip);
  Be32(b, dst_ip);
  const uint16_t sum = IpChecksum(&b[ip]);
  b[ip + 10] = static_cast<uint8_t>(sum >> 8);
  b[ip + 11] = static_cast<uint8_t>(sum);
  Be16(b, src_port);
  Be16(b, dst_port);
  Be16(b, static_cast<uint16_t>(8 + payload.size()));
  Be16(b, 0);
  Append(b, payload.data(), payload.size());
  return b;
}

// RFC 1071 over a byte string, the slow way (never the code under test).
uint16_t SlowChecksum(const Bytes& d) {
  uint32_t s = 0;
  for (size_t i = 0; i < d.size(); i += 2) {
    s += static_cast<uint32_t>(d[i]) << 8;
    if (i + 1 < d.size()) s += d[i + 1];
  }
  while (s >> 16) s = (s & 0xFFFF) + (s >> 16);
  return static_cast<uint16_t>(~s);
}

// Ethernet/IPv6 with an upper-layer message `l4` whose checksum (at `csum_at`) is filled in.
Bytes Ipv6Frame(const Mac& dst_mac, const Mac& src_mac, std::optional<uint16_t> vlan,
                const net::Ip6& src, const net::Ip6& dst, uint8_t nh, uint8_t hop_limit, Bytes l4,
                size_t csum_at) {
  Bytes ph;
  Append(ph, src.data(), 16);
  Append(ph, dst.data(), 16);
  Be32(ph, static_cast<uint32_t>(l4.size()));
  Be32(ph, nh);
  l4[csum_at] = l4[csum_at + 1] = 0;
  Append(ph, l4.data(), l4.size());
  uint16_t sum = SlowChecksum(ph);
  if (sum == 0 && nh == 17) sum = 0xFFFF;
  l4[csum_at] = static_cast<uint8_t>(sum >> 8);
  l4[csum_at + 1] = static_cast<uint8_t>(sum);
  Bytes b = Ether(dst_mac, src_mac, vlan, 0x86DD);
  Be32(b, 0x60000000);
  Be16(b, static_cast<uint16_t>(l4.size()));
  b.push_back(nh);
  b.push_back(hop_limit);
  Append(b, src.data(), 16);
  Append(b, dst.data(), 16);
  Append(b, l4.data(), l4.size());
  return b;
}

// An IPv6/UDP frame as the hub's template writes one: hop limit 64, checksum always present.
Bytes Udp6Frame(const Mac& dst_mac, const Mac& src_mac, std::optional<uint16_t> vlan,
                const net::Ip6& src, uint16_t src_port, const net::Ip6& dst, uint16_t dst_port,
                const Bytes& payload) {
  Bytes udp;
  Be16(udp, src_port);
  Be16(udp, dst_port);
  Be16(udp, static_cast<uint16_t>(8 + payload.size()));
  Be16(udp, 0);
  Append(udp, payload.data(), payload.size());
  return Ipv6Frame(dst_mac, src_mac, vlan, src, dst, 17, 64, udp, 6);
}

// NS (135) or NA (136) for `target` with a source/target link-layer address option.
Bytes Nd(const Mac& dst_mac, const Mac& src_mac, const net::Ip6& src, const net::Ip6& dst,
         uint8_t type, uint32_t flags, const net::Ip6& target, const Mac& lla) {
  Bytes m = {type, 0, 0, 0};
  Be32(m, flags);
  Append(m, target.data(), 16);
  m.push_back(type == 135 ? 1 : 2);
  m.push_back(1);
  Append(m, lla.data(), 6);
  return Ipv6Frame(dst_mac, src_mac, {}, src, dst, 58, 255, m, 2);
}

// ARP (Ethernet/IPv4) with `op` 1 = request, 2 = reply; a 42-byte frame (46 with a tag).
Bytes Arp(const Mac& eth_dst, const Mac& eth_src, std::optional<uint16_t> vlan, uint16_t op,
          const Mac& sha, uint32_t spa, const Mac& tha, uint32_t tpa) {
  Bytes b = Ether(eth_dst, eth_src, vlan, 0x0806);
  Be16(b, 1);
  Be16(b, 0x0800);
  b.push_back(6);
  b.push_back(4);
  Be16(b, op);
  Append(b, sha.data(), 6);
  Be32(b, spa);
  Append(b, tha.data(), 6);
  Be32(b, tpa);
  return b;
}

Bytes Tagged(const char* tag, uint32_t id) {
  Bytes b(tag, tag + std::strlen(tag));
  Be32(b, id);
  return b;
}

// A TS2 group voice header from `rf_src` to kTg, as MMDVMHost sends it (PROTOCOL.md §1.3).
Bytes VoiceHeader(uint32_t rf_src, uint32_t repeater, uint32_t stream_id) {
  Bytes b = {'D', 'M', 'R', 'D', 0};
  b.push_back(static_cast<uint8_t>(rf_src >> 16));
  Be16(b, static_cast<uint16_t>(rf_src));
  b.push_back(0);
  Be16(b, kTg);
  Be32(b, repeater);
  b.push_back(0xA1);  // TS2, group, data sync, voice LC header
  Be32(b, stream_id);
  for (int i = 0; i < 33; ++i) b.push_back(static_cast<uint8_t>(i * 5));
  b.push_back(0);
  b.push_back(0);
  return b;
}

// Collects what a reference RoutingCore sends, for payload comparisons.
class Recorder final : public route::PacketSink {
 public:
  struct Out {
    route::Endpoint to;
    Bytes bytes;
  };
  uint8_t* Begin(uint32_t, const route::Endpoint& to) override {
    to_ = to;
    return buf_;
  }
  void Commit(uint16_t len) override { out.push_back(Out{to_, Bytes(buf_, buf_ + len)}); }
  std::vector<Out> out;

 private:
  route::Endpoint to_;
  uint8_t buf_[kMaxPacketBytes];
};
class NoEvents final : public route::EventSink {
 public:
  void Emit(const route::Event&) override {}
};

struct Options {
  std::optional<net::Ip6> address6;
  unsigned tx_ring_size = 1024;
  unsigned pool_size = 4095;
  unsigned channel_ring_size = 1024;
};

class DpdkShardLoopTest : public ::testing::Test {
 protected:
  void Start(Options o = {}) {
    static int instance = 0;
    name_ = absl::StrCat("io", instance++);
    rx_ = rte_ring_create((name_ + "rx").c_str(), 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    tx_ = rte_ring_create((name_ + "tx").c_str(), o.tx_ring_size, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    ASSERT_NE(rx_, nullptr);
    ASSERT_NE(tx_, nullptr);
    const uint16_t priv = RTE_ALIGN(sizeof(ipc::PacketMeta), RTE_MBUF_PRIV_ALIGN);
    pool_ = rte_pktmbuf_pool_create((name_ + "mb").c_str(), o.pool_size, 0, priv,
                                    RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    wire_pool_ =
        rte_pktmbuf_pool_create((name_ + "wire").c_str(), 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    ASSERT_NE(pool_, nullptr);
    ASSERT_NE(wire_pool_, nullptr);
    const int port = rte_eth_from_rings(name_.c_str(), &rx_, 1, &tx_, 1, 0);
    ASSERT_GE(port, 0) << rte_strerror(rte_errno);
    port_ = static_cast<uint16_t>(port);
    rte_eth_conf conf{};
    ASSERT_EQ(rte_eth_dev_configure(port_, 1, 1, &conf), 0);
    ASSERT_EQ(rte_eth_rx_queue_setup(port_, 0, 1024, 0, nullptr, pool_), 0);
    ASSERT_EQ(rte_eth_tx_queue_setup(port_, 0, 1024, 0, nullptr), 0);
    ASSERT_EQ(rte_eth_dev_start(port_), 0);
    rte_ether_addr addr;
    ASSERT_EQ(rte_eth_macaddr_get(port_, &addr), 0);
    std::memcpy(hub_mac_.data(), addr.addr_bytes, 6);

    auto channels = ipc::ChannelSet::Create(name_ + "ch", 1, o.channel_ring_size);
    ASSERT_TRUE(channels.ok()) << channels.status();
    channels_ = std::make_unique<ipc::ChannelSet>(*std::move(channels));
    control_pool_ = channels_->pool();
    leases_ = std::make_unique<route::SlotLeases>(64);

    DpdkShardLoopConfig c;
    c.runtime = RuntimeConfig{0, 1, 1, route::RoutingCoreConfig{256, 0x5EED}};
    c.ports = {port_};
    c.listener_ports = {kHbpPort};
    net::Mac mac;
    std::memcpy(mac.data(), hub_mac_.data(), 6);
    c.port_mac = {mac};
    c.address = kHubIp;
    c.address6 = o.address6;
    c.tx_port = 0;
    loop_ = std::make_unique<DpdkShardLoop>(
        c, leases_.get(), channels_->shard(0), pool_, control_pool_,
        std::vector<rte_ring*>{nullptr}, std::vector<rte_ring*>{nullptr},
        std::vector<rte_ring*>{nullptr}, std::vector<rte_ring*>{nullptr});
  }

  void TearDown() override {
    loop_.reset();
    Drain();
    if (port_ != UINT16_MAX) {
      rte_eth_dev_stop(port_);
      rte_eth_dev_close(port_);
    }
    snapshots_.clear();
    channels_.reset();
    rte_ring_free(rx_);
    rte_ring_free(tx_);
    rte_mempool_free(pool_);
    rte_mempool_free(wire_pool_);
  }

  // Publishes a snapshot with `clients`, all static members of kTg on TS2, and runs the loop
  // until it acked.
  void Publish(const std::vector<Client>& clients) {
    route::RouteSnapshotBuilder b(route::HubPolicy{}, 64);
    for (uint32_t s = 0; s < clients.size(); ++s) {
      route::ClientSpec spec;
      spec.id = clients[s].id;
      spec.addr = clients[s].addr();
      ASSERT_TRUE(b.AddClient(s, spec).ok());
      ASSERT_TRUE(b.Subscribe(s, route::kTs2, kTg, route::MemberKind::kStatic).ok());
    }
    auto snap = b.Build(++generation_);
    ASSERT_TRUE(snap.ok()) << snap.status();
    snapshots_.push_back(*snap);
    ASSERT_TRUE(ipc::SendMessage(
        channels_->shard(0).cmd,
        ipc::Message::Make(ipc::MsgType::kSnapshotPublish, 0,
                           ipc::SnapshotPublish{generation_, snapshots_.back().get()})));
    loop_->Step();
    EXPECT_EQ(AckedGeneration(), generation_);
  }

  // The newest SnapshotAck on the sup ring (0: none); other supervision messages are dropped.
  uint64_t AckedGeneration() {
    uint64_t acked = 0;
    ipc::Message m[64];
    while (unsigned n = ipc::ReceiveMessages(channels_->shard(0).sup, m, 64)) {
      for (unsigned i = 0; i < n; ++i) {
        if (m[i].type == ipc::MsgType::kSnapshotAck) acked = m[i].As<ipc::SnapshotAck>().generation;
      }
    }
    return acked;
  }

  // Puts a frame on the wire towards the hub.
  void Inject(const Bytes& frame) {
    rte_mbuf* m = rte_pktmbuf_alloc(wire_pool_);
    ASSERT_NE(m, nullptr);
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size())), frame.data(),
                frame.size());
    ASSERT_EQ(rte_ring_enqueue(rx_, m), 0);
  }
  // A client's datagram to the hub's HBP port.
  void FromClient(const Client& c, const Bytes& payload, std::optional<uint16_t> vlan = {}) {
    if (c.ip6) {
      Inject(Udp6Frame(hub_mac_, c.mac, vlan, *c.ip6, c.port, kHubIp6, kHbpPort, payload));
      return;
    }
    Inject(UdpFrame(hub_mac_, c.mac, vlan, c.ip, c.port, kHubIp, kHbpPort, payload));
  }
  // What left by the port, in order.
  std::vector<Bytes> Sent() {
    std::vector<Bytes> out;
    void* p;
    while (rte_ring_dequeue(tx_, &p) == 0) {
      auto* m = static_cast<rte_mbuf*>(p);
      const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
      out.emplace_back(d, d + m->data_len);
      rte_pktmbuf_free(m);
    }
    return out;
  }
  void Drain() {
    if (tx_ != nullptr) Sent();
    void* p;
    while (rx_ != nullptr && rte_ring_dequeue(rx_, &p) == 0)
      rte_pktmbuf_free(static_cast<rte_mbuf*>(p));
  }
  // What a reference routing core, fed the same voice frames with the same snapshot, sends for
  // `pkt` from `from`: the DMR payloads the shard's frames must carry. It lives as long as the
  // test (stream state carries over from frame to frame, as in the shard) and sees every frame at
  // one instant, as the shard sees one RX burst.
  std::vector<Recorder::Out> Reference(const Bytes& pkt, route::Endpoint from) {
    if (ref_core_ == nullptr || ref_snapshot_ != snapshots_.back().get()) {
      if (ref_core_ == nullptr) {
        ref_leases_ = std::make_unique<route::SlotLeases>(64);
        ref_core_ = std::make_unique<route::RoutingCore>(
            route::RoutingCoreConfig{256, 0x5EED}, ref_leases_.get(), &ref_out_, &ref_events_);
      }
      ref_core_->SetSnapshot(snapshots_.back(), 1);
      ref_snapshot_ = snapshots_.back().get();
    }
    ref_out_.out.clear();
    ref_core_->OnHbpPacket(pkt, from, 1);
    return ref_out_.out;
  }
  // The frame the hub sends to `c` carrying `payload`.
  Bytes ToClient(const Client& c, const Bytes& payload, std::optional<uint16_t> vlan = {},
                 std::optional<Mac> mac = {}) const {
    if (c.ip6) {
      return Udp6Frame(mac.value_or(c.mac), hub_mac_, vlan, kHubIp6, kHbpPort, *c.ip6, c.port,
                       payload);
    }
    return UdpFrame(mac.value_or(c.mac), hub_mac_, vlan, kHubIp, kHbpPort, c.ip, c.port, payload);
  }

  std::string name_;
  rte_ring* rx_ = nullptr;
  rte_ring* tx_ = nullptr;
  rte_mempool* pool_ = nullptr;
  rte_mempool* wire_pool_ = nullptr;
  rte_mempool* control_pool_ = nullptr;
  uint16_t port_ = UINT16_MAX;
  Mac hub_mac_{};
  std::unique_ptr<ipc::ChannelSet> channels_;
  std::unique_ptr<route::SlotLeases> leases_;
  std::unique_ptr<DpdkShardLoop> loop_;
  std::vector<std::shared_ptr<const route::RouteSnapshot>> snapshots_;
  uint64_t generation_ = 0;
  Recorder ref_out_;
  NoEvents ref_events_;
  std::unique_ptr<route::SlotLeases> ref_leases_;
  std::unique_ptr<route::RoutingCore> ref_core_;
  const route::RouteSnapshot* ref_snapshot_ = nullptr;
};

TEST_F(DpdkShardLoopTest, AnArpRequestForTheHubIsAnsweredExactly) {
  Start();
  const Client a = MakeClient(1);
  const Mac broadcast{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  Inject(Arp(broadcast, a.mac, {}, 1, a.mac, a.ip, Mac{}, kHubIp));
  Inject(Arp(broadcast, a.mac, {}, 1, a.mac, a.ip, Mac{}, kHubIp + 1));  // not ours
  loop_->Step();
  const std::vector<Bytes> sent = Sent();
  ASSERT_EQ(sent.size(), 1u);
  Bytes expected = Arp(a.mac, hub_mac_, {}, 2, hub_mac_, kHubIp, a.mac, a.ip);
  expected.resize(sent[0].size(), 0);  // a reply may be padded to the request's length
  EXPECT_EQ(sent[0], expected);
  EXPECT_EQ(loop_->counters().arp_replies, 1u);
}

TEST_F(DpdkShardLoopTest, AVoiceFrameFansOutInFramesWithExactHeaders) {
  Start();
  const Client a = MakeClient(1), b = MakeClient(2), c = MakeClient(3);
  Publish({a, b, c});
  // Keepalives teach the shard B's and C's MACs; the runtime answers them itself.
  FromClient(b, Tagged("RPTPING", b.id));
  FromClient(c, Tagged("RPTPING", c.id));
  loop_->Step();
  EXPECT_EQ(Sent(), (std::vector<Bytes>{ToClient(b, Tagged("MSTPONG", b.id)),
                                        ToClient(c, Tagged("MSTPONG", c.id))}));

  const Bytes header = VoiceHeader(3129001, a.id, 0xABCD0001);
  const std::vector<Recorder::Out> ref = Reference(header, a.addr());
  ASSERT_EQ(ref.size(), 2u) << "the reference core fans out to B and C";
  FromClient(a, header);
  loop_->Step();
  std::vector<Bytes> expected;
  for (const Recorder::Out& o : ref) {
    expected.push_back(ToClient(o.to == b.addr() ? b : c, o.bytes));
  }
  EXPECT_EQ(Sent(), expected);
  EXPECT_EQ(loop_->counters().tx_dropped, 0u);
  EXPECT_EQ(rte_mempool_in_use_count(pool_), 0u) << "every mbuf went out or back";
}

TEST_F(DpdkShardLoopTest, AnUnknownNextHopIsAskedForWithArpAndLearnedFromTheAnswer) {
  Start();
  const Client a = MakeClient(1), b = MakeClient(2), c = MakeClient(3);
  Publish({a, b, c});
  FromClient(b, Tagged("RPTPING", b.id));
  loop_->Step();
  Sent();
  // C never sent a packet: its frame is dropped and an ARP request goes out instead.
  const Bytes h1 = VoiceHeader(3129001, a.id, 0xABCD0002);
  const std::vector<Recorder::Out> ref = Reference(h1, a.addr());
  FromClient(a, h1);
  loop_->Step();
  const Mac broadcast{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  std::vector<Bytes> sent = Sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(loop_->counters().no_neighbor, 1u);
  EXPECT_EQ(loop_->counters().arp_requests, 1u);
  const Bytes arp_request = Arp(broadcast, hub_mac_, {}, 1, hub_mac_, kHubIp, Mac{}, c.ip);
  const Recorder::Out& to_b = ref[0].to == b.addr() ? ref[0] : ref[1];
  EXPECT_THAT(sent, ::testing::UnorderedElementsAre(ToClient(b, to_b.bytes), arp_request));
  // C answers; the next frame reaches it.
  Inject(Arp(hub_mac_, c.mac, {}, 2, c.mac, c.ip, hub_mac_, kHubIp));
  loop_->Step();
  Bytes next = VoiceHeader(3129001, a.id, 0xABCD0002);
  next[4] = 1;
  next[15] = 0x81;  // voice burst B
  FromClient(a, next);
  loop_->Step();
  sent = Sent();
  ASSERT_EQ(sent.size(), 2u);
  const auto dst_mac = [](const Bytes& f) { return Mac{f[0], f[1], f[2], f[3], f[4], f[5]}; };
  EXPECT_THAT((std::vector<Mac>{dst_mac(sent[0]), dst_mac(sent[1])}),
              ::testing::UnorderedElementsAre(b.mac, c.mac));
}

TEST_F(DpdkShardLoopTest, AMovedMacOrANewVlanRebuildsTheHeaders) {
  Start();
  const Client a = MakeClient(1), b = MakeClient(2);
  Publish({a, b});
  FromClient(b, Tagged("RPTPING", b.id));
  loop_->Step();
  Sent();
  // One call, frame after frame (a new call right after the last would wait out the hang time).
  Bytes frame = VoiceHeader(3129001, a.id, 0xABCD0100);
  const auto call_once = [&](std::optional<uint16_t> vlan) {
    const std::vector<Recorder::Out> ref = Reference(frame, a.addr());
    FromClient(a, frame, vlan);
    loop_->Step();
    frame[4] = static_cast<uint8_t>(frame[4] + 1);
    frame[15] = static_cast<uint8_t>(0x81 + (frame[4] - 1) % 5);  // voice bursts A..F
    return ref;
  };
  auto ref = call_once({});
  ASSERT_EQ(ref.size(), 1u);
  EXPECT_EQ(Sent(), std::vector<Bytes>{ToClient(b, ref[0].bytes)});

  // B's hotspot is replaced (same address, new MAC): the next frame goes to the new MAC.
  const Mac new_mac{0x02, 0x00, 0x00, 0x00, 0x09, 0x09};
  Inject(UdpFrame(hub_mac_, new_mac, {}, b.ip, b.port, kHubIp, kHbpPort, Tagged("RPTPING", b.id)));
  loop_->Step();
  EXPECT_EQ(Sent(), std::vector<Bytes>{ToClient(b, Tagged("MSTPONG", b.id), {}, new_mac)});
  ref = call_once({});
  EXPECT_EQ(Sent(), std::vector<Bytes>{ToClient(b, ref[0].bytes, {}, new_mac)});

  // The port's clients move to VLAN 100: egress is tagged from the next frame on.
  ref = call_once(uint16_t{100});
  EXPECT_EQ(Sent(), std::vector<Bytes>{ToClient(b, ref[0].bytes, uint16_t{100}, new_mac)});
}

TEST_F(DpdkShardLoopTest, NeighborSolicitationsAndEchoForTheHubsIpv6AddressAreAnswered) {
  Start(Options{.address6 = kHubIp6});
  const Client a = MakeClient6(1);
  const net::Ip6 group = net::SolicitedNodeAddress(kHubIp6);
  const net::Mac group_mac = net::Ipv6MulticastMac(group);
  Inject(Nd(group_mac, a.mac, *a.ip6, group, 135, 0, kHubIp6, a.mac));
  net::Ip6 other = kHubIp6;
  other[15] = 7;  // another address (same solicited-node group byte pattern not needed)
  Inject(Nd(net::Ipv6MulticastMac(net::SolicitedNodeAddress(other)), a.mac, *a.ip6,
            net::SolicitedNodeAddress(other), 135, 0, other, a.mac));
  Bytes echo = {128, 0, 0, 0, 0x12, 0x34, 0x00, 0x01, 'p', 'i', 'n', 'g'};
  Inject(Ipv6Frame(hub_mac_, a.mac, {}, *a.ip6, kHubIp6, 58, 64, echo, 2));
  loop_->Step();
  const std::vector<Bytes> sent = Sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0], Nd(a.mac, hub_mac_, kHubIp6, *a.ip6, 136, 0x60000000, kHubIp6, hub_mac_));
  echo[0] = 129;
  EXPECT_EQ(sent[1], Ipv6Frame(a.mac, hub_mac_, {}, kHubIp6, *a.ip6, 58, 64, echo, 2));
  EXPECT_EQ(loop_->counters().nd_adverts, 1u);
  EXPECT_EQ(loop_->counters().icmp6_replies, 1u);
  EXPECT_EQ(loop_->counters().net[net::NetReject::kNotForUs], 1u);
  EXPECT_EQ(rte_mempool_in_use_count(pool_), 0u);
}

TEST_F(DpdkShardLoopTest, WithoutAnIpv6AddressIpv6IsNotForUs) {
  Start();
  const Client a = MakeClient6(1);
  Publish({a});
  FromClient(a, Tagged("RPTPING", a.id));
  loop_->Step();
  EXPECT_TRUE(Sent().empty());
  EXPECT_EQ(loop_->counters().net[net::NetReject::kNotForUs], 1u);
}

TEST_F(DpdkShardLoopTest, AVoiceFrameFansOutToIpv4AndIpv6ClientsWithValidChecksums) {
  Start(Options{.address6 = kHubIp6});
  const Client a = MakeClient(1), b = MakeClient6(2), c = MakeClient(3), d = MakeClient6(4);
  Publish({a, b, c, d});
  for (const Client& x : {a, b, c, d}) FromClient(x, Tagged("RPTPING", x.id));
  loop_->Step();
  EXPECT_EQ(Sent(),
            (std::vector<Bytes>{
                ToClient(a, Tagged("MSTPONG", a.id)), ToClient(b, Tagged("MSTPONG", b.id)),
                ToClient(c, Tagged("MSTPONG", c.id)), ToClient(d, Tagged("MSTPONG", d.id))}));
  // An IPv6 talker (a second talker on the slot would be held off by the first): the IPv4 and
  // IPv6 listeners get exact frames, the IPv6 ones with the checksum the slow reference computes.
  for (const Client& talker : {b}) {
    const Bytes header = VoiceHeader(3129001 + talker.id % 10, talker.id,
                                     0xABCD0300 + static_cast<uint32_t>(talker.port));
    const std::vector<Recorder::Out> ref = Reference(header, talker.addr());
    ASSERT_EQ(ref.size(), 3u);
    FromClient(talker, header);
    loop_->Step();
    std::vector<Bytes> expected;
    for (const Recorder::Out& o : ref) {
      for (const Client& x : {a, b, c, d}) {
        if (o.to == x.addr()) expected.push_back(ToClient(x, o.bytes));
      }
    }
    ASSERT_EQ(expected.size(), 3u);
    EXPECT_EQ(Sent(), expected);
  }
  EXPECT_EQ(rte_mempool_in_use_count(pool_), 0u);
}

TEST_F(DpdkShardLoopTest, AnUnknownIpv6NextHopIsSolicitedAndLearnedFromTheAdvert) {
  Start(Options{.address6 = kHubIp6});
  const Client a = MakeClient(1), b = MakeClient6(2);
  Publish({a, b});
  const Bytes h1 = VoiceHeader(3129001, a.id, 0xABCD0400);
  const std::vector<Recorder::Out> ref = Reference(h1, a.addr());
  ASSERT_EQ(ref.size(), 1u);
  FromClient(a, h1);
  loop_->Step();
  const net::Ip6 group = net::SolicitedNodeAddress(*b.ip6);
  std::vector<Bytes> sent = Sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0],
            Nd(net::Ipv6MulticastMac(group), hub_mac_, kHubIp6, group, 135, 0, *b.ip6, hub_mac_));
  EXPECT_EQ(loop_->counters().nd_solicits, 1u);
  EXPECT_EQ(loop_->counters().no_neighbor, 1u);

  // An unsolicited advert (override only, to all-nodes) for the pending address is taken
  // (RFC 4861 §7.2.5), and B's solicited answer after it moves the entry to B's real MAC.
  Mac wrong = b.mac;
  wrong[5] = 0x77;
  Inject(Nd(net::Ipv6MulticastMac(net::kAllNodesAddress), wrong, *b.ip6, net::kAllNodesAddress, 136,
            0x20000000, *b.ip6, wrong));
  // B answers; the next frame of the call reaches it.
  Inject(Nd(hub_mac_, b.mac, *b.ip6, kHubIp6, 136, 0x60000000, *b.ip6, b.mac));
  loop_->Step();
  EXPECT_TRUE(Sent().empty());
  Bytes next = h1;
  next[4] = 1;
  next[15] = 0x81;
  const std::vector<Recorder::Out> ref2 = Reference(next, a.addr());
  ASSERT_EQ(ref2.size(), 1u);
  FromClient(a, next);
  loop_->Step();
  EXPECT_EQ(Sent(), std::vector<Bytes>{ToClient(b, ref2[0].bytes)});
  EXPECT_EQ(rte_mempool_in_use_count(pool_), 0u);
}

// 16 listeners of one talkgroup and a burst of 32 frames: 480 egress frames into a TX ring of 64.
TEST_F(DpdkShardLoopTest, AFullTxRingDropsAndCountsAndLosesNoMbuf) {
  Options o;
  o.tx_ring_size = 64;
  Start(o);
  std::vector<Client> clients;
  for (uint8_t n = 1; n <= 16; ++n) clients.push_back(MakeClient(n));
  Publish(clients);
  for (size_t i = 1; i < clients.size(); ++i)
    FromClient(clients[i], Tagged("RPTPING", clients[i].id));
  loop_->Step();
  Sent();
  Bytes f = VoiceHeader(3129001, clients[0].id, 0xABCD0200);
  size_t routed = 0;  // egress frames the routing core builds (its rate limit stops a burst)
  for (uint8_t seq = 0; seq < 32; ++seq) {
    f[4] = seq;
    f[15] = seq == 0 ? 0xA1 : static_cast<uint8_t>(0x81 + (seq - 1) % 5);
    routed += Reference(f, clients[0].addr()).size();
    FromClient(clients[0], f);
  }
  ASSERT_GT(routed, 200u);
  loop_->Step();
  const size_t sent = Sent().size();
  const DpdkShardLoopCounters& c = loop_->counters();
  EXPECT_EQ(sent, 63u) << "a ring of 64 holds 63";
  EXPECT_EQ(c.tx_packets, 63u + 15u) << "and the 15 pongs before";
  EXPECT_EQ(c.tx_dropped, routed - 63u);
  EXPECT_EQ(rte_mempool_in_use_count(pool_), 0u) << "dropped frames were freed";
}

TEST_F(DpdkShardLoopTest, AnEmptyMbufPoolDropsAndCountsAndRecovers) {
  Options o;
  o.pool_size = 64;
  Start(o);
  std::vector<Client> clients;
  for (uint8_t n = 1; n <= 16; ++n) clients.push_back(MakeClient(n));
  Publish(clients);
  for (size_t i = 1; i < clients.size(); ++i)
    FromClient(clients[i], Tagged("RPTPING", clients[i].id));
  loop_->Step();
  Sent();
  // Hold all but 10 of the shard's mbufs, as a port with a deep TX ring would.
  std::vector<rte_mbuf*> held;
  while (rte_mempool_avail_count(pool_) > 10) held.push_back(rte_pktmbuf_alloc(pool_));
  const Bytes h = VoiceHeader(3129001, clients[0].id, 0xABCD0300);
  FromClient(clients[0], h);
  loop_->Step();
  // The first copy goes out in the received frame's own mbuf, then 10 fresh ones; 4 find none.
  EXPECT_EQ(Sent().size(), 11u);
  EXPECT_EQ(loop_->counters().no_mbuf, 4u);
  for (rte_mbuf* m : held) rte_pktmbuf_free(m);
  Bytes next = h;
  next[4] = 1;
  next[15] = 0x81;
  FromClient(clients[0], next);
  loop_->Step();
  EXPECT_EQ(Sent().size(), 15u) << "the next frame reaches everyone again";
  EXPECT_EQ(rte_mempool_in_use_count(pool_), 0u);
}

// An ack must survive a full supervision ring (nobody drained it for a while): it waits and
// goes out at the first loop with room, and the shard never spins on it.
TEST_F(DpdkShardLoopTest, AnAckWaitsForRoomOnAFullSupervisionRing) {
  Options o;
  o.channel_ring_size = 64;
  Start(o);
  const Client a = MakeClient(1);
  Publish({a});
  const ipc::Message filler = ipc::Message::Make(ipc::MsgType::kPong, 0, ipc::Ping{});
  while (ipc::SendMessage(channels_->shard(0).sup, filler)) {
  }
  route::RouteSnapshotBuilder b(route::HubPolicy{}, 64);
  auto snap = b.Build(++generation_);
  ASSERT_TRUE(snap.ok());
  snapshots_.push_back(*snap);
  ASSERT_TRUE(ipc::SendMessage(
      channels_->shard(0).cmd,
      ipc::Message::Make(ipc::MsgType::kSnapshotPublish, 0,
                         ipc::SnapshotPublish{generation_, snapshots_.back().get()})));
  loop_->Step();
  loop_->Step();
  EXPECT_EQ(loop_->runtime().core().snapshot(), snapshots_.back().get()) << "switched at once";
  EXPECT_EQ(AckedGeneration(), 0u) << "the ring had no room: nothing but fillers";
  loop_->Step();
  EXPECT_EQ(AckedGeneration(), generation_);
}

// A login when the control channel's pool is empty is dropped and counted (the client retries);
// once mbufs are back, the next one reaches the control plane with its listener and source.
TEST_F(DpdkShardLoopTest, ALoginFindsTheControlPoolEmptyThenNot) {
  Start();
  const Client a = MakeClient(1);
  Publish({});
  std::vector<rte_mbuf*> held;
  while (rte_mbuf* m = rte_pktmbuf_alloc(control_pool_)) held.push_back(m);
  FromClient(a, Tagged("RPTL", a.id));
  loop_->Step();
  EXPECT_EQ(loop_->runtime().counters().to_control_full, 1u);
  for (rte_mbuf* m : held) rte_pktmbuf_free(m);
  FromClient(a, Tagged("RPTL", a.id));
  loop_->Step();
  rte_mbuf* up[4];
  ASSERT_EQ(ipc::ReceiveMbufs(channels_->shard(0).pkt_up, up, 4), 1u);
  const ipc::PacketMeta meta = ipc::MetaOf(up[0]);
  EXPECT_EQ(meta.listener, route::kHbpListener);
  EXPECT_EQ(meta.addr, a.addr());
  const std::span<const uint8_t> bytes = ipc::BytesOf(up[0]);
  EXPECT_EQ(Bytes(bytes.begin(), bytes.end()), Tagged("RPTL", a.id));
  ipc::FreeMbuf(up[0]);
  EXPECT_EQ(Sent().size(), 0u) << "logins are the control plane's to answer";
}

}  // namespace
}  // namespace dmrswitch::io
