// dmrswitch-pcapgen: the pcap reads back with libpcap, every frame parses as Ethernet/IPv4/UDP to
// the hub carrying a valid DMRD, the configuration parses, every stream fans out to F clients
// (+ P peers) in a snapshot built from it, and a looping replay is routed as continuous voice.
#include "tools/pcapgen/pcapgen.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "ctrlplane/config/config.h"
#include "ctrlplane/subscriptions/subscriptions.h"
#include "dataplane/net/packet.h"
#include "dataplane/proto/hbp.h"
#include "dataplane/route/events.h"
#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/routing_core.h"
#include "dataplane/route/slot_lease.h"

namespace dmrswitch::pcapgen {
namespace {

using route::kMs;
using route::kSec;
using route::TimeNs;

struct Generated {
  Plan plan;
  std::string pcap;
  std::string config;
};

// Runs the library as dmrswitch-pcapgen does, into temporary files.
Generated Generate(const Params& p, const std::string& tag) {
  auto plan = MakePlan(p);
  EXPECT_TRUE(plan.ok()) << plan.status();
  Generated g{*plan, {}, {}};
  const auto dir = std::filesystem::temp_directory_path();
  g.pcap = (dir / absl::StrCat("pcapgen-", getpid(), "-", tag, ".pcap")).string();
  g.config = (dir / absl::StrCat("pcapgen-", getpid(), "-", tag, ".toml")).string();
  const auto frames = MakeFrames(g.plan, MakeDatagrams(g.plan));
  EXPECT_TRUE(WritePcap(g.pcap, g.plan, frames).ok());
  std::ofstream(g.config) << MakeConfigToml(g.plan, "pcapgen_test");
  return g;
}

void Remove(const Generated& g) {
  std::remove(g.pcap.c_str());
  std::remove(g.config.c_str());
}

struct Packet {
  std::vector<uint8_t> frame;
  timeval ts;
};

std::vector<Packet> ReadPcap(const std::string& path, int* linktype) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  EXPECT_NE(p, nullptr) << err;
  std::vector<Packet> out;
  if (p == nullptr) return out;
  *linktype = pcap_datalink(p);
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  while (pcap_next_ex(p, &h, &data) == 1) {
    EXPECT_EQ(h->caplen, h->len);
    out.push_back(Packet{std::vector<uint8_t>(data, data + h->caplen), h->ts});
  }
  pcap_close(p);
  return out;
}

// The snapshot the control plane publishes at start for this configuration: fixed clients in
// slots 0.., their statics and options through the subscriptions component, the peers.
std::shared_ptr<const route::RouteSnapshot> SnapshotFrom(const cp::HubConfig& c) {
  route::RouteSnapshotBuilder b(cp::MakeHubPolicy(c), c.hbp.max_clients);
  cp::SubscriptionSettings ss;
  for (const cp::StaticTgs& st : c.hbp.statics) ss.statics[st.client] = {st.ts[0], st.ts[1]};
  cp::Subscriptions subs(ss);
  for (size_t i = 0; i < c.hbp.fixed_clients.size(); ++i) {
    const cp::FixedClient& f = c.hbp.fixed_clients[i];
    route::ClientSpec spec;
    spec.id = f.id;
    spec.addr = f.addr;
    spec.slot_mask = proto::RptcSlotMask(f.slots);
    spec.fixed = true;
    EXPECT_TRUE(b.AddClient(static_cast<uint32_t>(i), spec).ok());
    subs.OnClientUp(f.id, static_cast<uint32_t>(i), spec.slot_mask, 0);
  }
  for (const route::PeerSpec& p : cp::MakePeerSpecs(c)) EXPECT_TRUE(b.AddPeer(p).ok());
  EXPECT_TRUE(subs.AddTo(&b).ok());
  EXPECT_TRUE(subs.TakeWarnings().empty());
  auto snap = b.Build(1);
  EXPECT_TRUE(snap.ok()) << snap.status();
  return snap.ok() ? *snap : nullptr;
}

class CountingSink : public route::PacketSink {
 public:
  uint8_t* Begin(uint32_t listener, const route::Endpoint&) override {
    (listener == route::kHbpListener ? to_clients : to_peers)++;
    return buf_;
  }
  void Commit(uint16_t) override {}
  uint64_t to_clients = 0;
  uint64_t to_peers = 0;

 private:
  uint8_t buf_[kMaxPacketBytes + 64];
};

class NullEvents : public route::EventSink {
 public:
  void Emit(const route::Event&) override {}
};

Params Small() {
  Params p;
  p.streams = 24;
  p.fanout = 4;
  p.frames = 20;
  p.obp_peers = 2;
  return p;
}

TEST(PcapGen, PcapReadsBackAndEveryFrameIsUdpToTheHubCarryingDmrd) {
  const Params p = Small();
  const Generated g = Generate(p, "frames");
  int linktype = 0;
  const std::vector<Packet> packets = ReadPcap(g.pcap, &linktype);
  EXPECT_EQ(linktype, DLT_EN10MB);
  ASSERT_EQ(packets.size(), size_t{p.streams} * p.frames);
  std::vector<unsigned> per_stream(p.streams, 0);
  for (size_t i = 0; i < packets.size(); ++i) {
    const std::vector<uint8_t>& f = packets[i].frame;
    ASSERT_EQ(f.size(), 14u + 20 + 8 + 55) << "97-byte frames for 55-byte DMRD";
    net::FrameView v;
    ASSERT_EQ(net::ParseFrame(f, &v), net::NetReject::kOk) << i;
    ASSERT_TRUE(v.is_udp());
    EXPECT_EQ(v.dst_ip, g.plan.hub_ip);
    EXPECT_EQ(v.dst_port, 62031);
    EXPECT_EQ(net::AddressedToUs(v, p.hub_mac, g.plan.hub_ip), net::NetReject::kOk);
    proto::DmrdView d;
    ASSERT_EQ(proto::DecodeDmrd(v.payload, &d), proto::Reject::kOk) << i;
    // Round-robin: frame i belongs to stream i mod M, which sends from its own client.
    const StreamPlan& s = g.plan.streams[i % p.streams];
    EXPECT_EQ(d.stream_id, s.stream_id);
    EXPECT_EQ(d.dst, s.tg);
    EXPECT_EQ(d.rf_src, s.rf_src);
    EXPECT_EQ(d.flags.slot_index(), route::kTs2);
    const ClientPlan& c = g.plan.clients[s.client];
    EXPECT_EQ(d.repeater_id, c.id);
    EXPECT_EQ(v.src_ip, c.addr.ip);
    EXPECT_EQ(v.src_port, c.addr.port);
    EXPECT_EQ(v.src_ip >> 17, 0xC612u >> 1) << "198.18.0.0/15";
    ++per_stream[i % p.streams];
  }
  for (unsigned n : per_stream) EXPECT_EQ(n, p.frames);
  // Real cadence: one round of M frames every 60 ms.
  const timeval& last = packets.back().ts;
  const double span = static_cast<double>(last.tv_sec) + last.tv_usec / 1e6;
  EXPECT_NEAR(span, 0.060 * p.frames - 0.060 / p.streams, 1e-4);
  Remove(g);
}

TEST(PcapGen, EachCallIsHeaderVoiceTerminatorWithContiguousSeqAcrossTheLoop) {
  const Params p = Small();
  const auto plan = MakePlan(p);
  ASSERT_TRUE(plan.ok());
  const std::vector<Datagram> dg = MakeDatagrams(*plan);
  for (uint32_t j = 0; j < p.streams; ++j) {
    // The stream's frames in file order, then around the loop.
    std::vector<proto::DmrdView> views;
    for (size_t i = j; i < dg.size(); i += p.streams) {
      proto::DmrdView d;
      ASSERT_EQ(proto::DecodeDmrd(dg[i].dmrd, &d), proto::Reject::kOk);
      views.push_back(d);
    }
    ASSERT_EQ(views.size(), p.frames);
    unsigned headers = 0, terminators = 0;
    for (size_t r = 0; r < views.size(); ++r) {
      const proto::DmrdView& d = views[r];
      const proto::DmrdView& next = views[(r + 1) % views.size()];
      headers += d.flags.is_voice_header();
      terminators += d.flags.is_terminator();
      if (d.flags.is_terminator()) {
        EXPECT_TRUE(next.flags.is_voice_header()) << "the next call starts right after";
        EXPECT_EQ(d.seq, (p.frames - 1) & 0xFF);
        EXPECT_EQ(next.seq, 0);
      } else {
        EXPECT_EQ(next.seq, static_cast<uint8_t>(d.seq + 1)) << "stream " << j << " round " << r;
      }
    }
    EXPECT_EQ(headers, 1u);
    EXPECT_EQ(terminators, 1u);
  }
}

TEST(PcapGen, ShortDmrdAndVlanGiveTheExpectedFrameSizes) {
  Params p = Small();
  p.dmrd_bytes = 53;
  Generated g = Generate(p, "short");
  int linktype = 0;
  auto packets = ReadPcap(g.pcap, &linktype);
  ASSERT_FALSE(packets.empty());
  EXPECT_EQ(packets[0].frame.size(), 95u) << "14 + 20 + 8 + 53: the issue's 95-byte frames";
  Remove(g);

  p.dmrd_bytes = 55;
  p.vlan = 100;
  g = Generate(p, "vlan");
  packets = ReadPcap(g.pcap, &linktype);
  ASSERT_FALSE(packets.empty());
  EXPECT_EQ(packets[0].frame.size(), 101u);
  for (const Packet& pk : packets) {
    net::FrameView v;
    ASSERT_EQ(net::ParseFrame(pk.frame, &v), net::NetReject::kOk);
    EXPECT_TRUE(v.vlan.present);
    EXPECT_EQ(v.vlan.id(), 100);
    proto::DmrdView d;
    EXPECT_EQ(proto::DecodeDmrd(v.payload, &d), proto::Reject::kOk);
  }
  Remove(g);
}

TEST(PcapGen, ConfigParsesAndEveryStreamFansOutToFClientsAndThePeers) {
  for (const uint32_t fanout : {1u, 4u, 16u}) {
    Params p = Small();
    p.fanout = fanout;
    ASSERT_TRUE(ParsePopularity("zipf:1.2", &p).ok());
    const Generated g = Generate(p, absl::StrCat("cfg", fanout));
    auto c = cp::LoadConfigFile(g.config);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->hub.mode, cp::HubMode::kDpdk);
    EXPECT_EQ(c->dpdk.address, g.plan.hub_ip);
    EXPECT_EQ(c->hbp.fixed_clients.size(), g.plan.clients.size());
    EXPECT_EQ(c->hbp.max_clients, g.plan.clients.size());
    EXPECT_EQ(c->obp.size(), p.obp_peers);
    EXPECT_EQ(g.plan.clients.size(), p.streams + (p.streams * fanout + 1) / 2);
    const auto snap = SnapshotFrom(*c);
    ASSERT_NE(snap, nullptr);
    for (const StreamPlan& s : g.plan.streams) {
      const route::Conference& conf = snap->FindConference(s.tg);
      size_t clients = 0;
      for (const route::Destination& d : conf.members) {
        if (d.to.index != s.client) ++clients;  // never back to the source
      }
      EXPECT_EQ(clients, fanout) << "TG " << s.tg;
      // Every peer is a destination of every conference.
      EXPECT_EQ(snap->peers().size(), p.obp_peers);
    }
    Remove(g);
  }
}

// The named load profiles: the sizes docs/benchmarks.md gives them, a configuration the hub
// loads with every fixed client, and every stream heard by exactly `fanout` listeners.
TEST(PcapGen, ProfilesHaveTheirSizesAndLoad) {
  struct Want {
    const char* name;
    size_t clients, streams, fanout;
  };
  for (const Want& w :
       {Want{"pi-club", 100, 10, 8}, Want{"national", 2000, 100, 16},
        Want{"backbone", 16384 + 8192, 16384, 1}, Want{"storm", 16384 + 8192, 16384, 1}}) {
    SCOPED_TRACE(w.name);
    Params p;
    ASSERT_TRUE(ApplyProfile(w.name, &p).ok());
    p.frames = 4;
    const Generated g = Generate(p, w.name);
    EXPECT_EQ(g.plan.clients.size(), w.clients);
    EXPECT_EQ(g.plan.streams.size(), w.streams);
    EXPECT_EQ(p.fanout, w.fanout);
    EXPECT_EQ(p.popularity, Popularity::kZipf);
    EXPECT_EQ(p.flood_share, std::string(w.name) == "storm" ? 0.5 : 0.0);
    auto c = cp::LoadConfigFile(g.config);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->hbp.fixed_clients.size(), w.clients);
    EXPECT_GE(c->hub.stream_capacity, 2 * w.streams);
    const auto snap = SnapshotFrom(*c);
    ASSERT_NE(snap, nullptr);
    for (const StreamPlan& s : g.plan.streams) {
      EXPECT_EQ(snap->FindConference(s.tg).members.size(), w.fanout + 1) << "TG " << s.tg;
    }
    Remove(g);
  }
  Params p;
  const absl::Status bad = ApplyProfile("huge", &p);
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("pi-club, national, backbone or storm"), absl::string_view::npos);
}

// One file per RX queue: every stream on exactly one queue, its frames in their order.
TEST(PcapGen, SplitByStreamPutsEachStreamWhollyInOnePartInOrder) {
  Params p;
  p.streams = 12;
  p.frames = 10;
  auto plan = MakePlan(p);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const auto frames = MakeFrames(*plan, MakeDatagrams(*plan));
  for (uint32_t n : {1u, 2u, 3u, 4u}) {
    const auto parts = SplitByStream(*plan, frames, n);
    ASSERT_EQ(parts.size(), n);
    size_t total = 0;
    for (uint32_t q = 0; q < n; ++q) {
      EXPECT_EQ(parts[q].size(), frames.size() / n);
      total += parts[q].size();
      // Part q holds streams q, q + n, ...: round r of it is those streams' round-r frames.
      const size_t per_round = p.streams / n;
      for (size_t k = 0; k < parts[q].size(); ++k) {
        const size_t round = k / per_round;
        const size_t stream = q + (k % per_round) * n;
        EXPECT_EQ(parts[q][k], frames[round * p.streams + stream]) << n << " " << q << " " << k;
      }
    }
    EXPECT_EQ(total, frames.size());
  }
}

TEST(PcapGen, TgPopularityPicksDistinctTgs) {
  Params p;
  p.streams = 50;
  p.tgs = 1000;
  ASSERT_TRUE(ParsePopularity("zipf:1.5", &p).ok());
  auto zipf = MakePlan(p);
  ASSERT_TRUE(ParsePopularity("uniform", &p).ok());
  auto uniform = MakePlan(p);
  ASSERT_TRUE(zipf.ok() && uniform.ok());
  auto ranks = [](const Plan& plan) {
    std::vector<uint32_t> tgs;
    double sum = 0;
    for (const StreamPlan& s : plan.streams) {
      tgs.push_back(s.tg);
      sum += s.tg - 310000;
    }
    std::sort(tgs.begin(), tgs.end());
    EXPECT_EQ(std::adjacent_find(tgs.begin(), tgs.end()), tgs.end()) << "one TG per stream";
    return sum / static_cast<double>(plan.streams.size());
  };
  EXPECT_LT(ranks(*zipf), ranks(*uniform) / 2) << "zipf favours the low (popular) ranks";
  EXPECT_FALSE(ParsePopularity("zipf:", &p).ok());
  EXPECT_FALSE(ParsePopularity("pareto:1", &p).ok());
  p.clients = 10;
  p.streams = 10;
  p.fanout = 4;
  EXPECT_FALSE(MakePlan(p).ok()) << "10 streams × 4 listeners need 30 clients";
}

// What a looping replay does to the routing core: the frames of the pcap fed twice through a
// Shard with the snapshot of the generated configuration, at 10 Mpps of fake time.
struct ReplayResult {
  uint64_t in = 0, routed = 0, to_clients = 0, to_peers = 0, dropped = 0;
  uint64_t started = 0, ended = 0;
  std::string drops;
};

ReplayResult Replay(const cp::HubConfig& config, const std::vector<Packet>& packets, int passes) {
  const auto snap = SnapshotFrom(config);
  route::SlotLeases leases(config.hbp.max_clients);
  CountingSink sink;
  NullEvents events;
  route::RoutingCore shard(route::RoutingCoreConfig{config.hub.stream_capacity, 0x5EED}, &leases,
                           &sink, &events);
  TimeNs now = 1'700'000'000 * kSec;
  shard.SetSnapshot(snap, now);
  uint64_t n = 0;
  for (int pass = 0; pass < passes; ++pass) {
    for (const Packet& pk : packets) {
      net::FrameView v;
      EXPECT_EQ(net::ParseFrame(pk.frame, &v), net::NetReject::kOk);
      shard.OnHbpPacket(v.payload, route::Endpoint{v.src_ip, v.src_port}, now);
      now += 100;  // 10 Mpps
      if (++n % 256 == 0) shard.Expire(now);
    }
  }
  ReplayResult r;
  const route::RoutingCounters& c = shard.counters();
  r.in = n;
  r.routed = c.packets_routed;
  r.to_clients = sink.to_clients;
  r.to_peers = sink.to_peers;
  r.started = c.streams_started;
  r.ended = c.streams_ended;
  for (size_t i = 0; i < c.drops.size(); ++i) {
    r.dropped += c.drops[i];
    if (c.drops[i] != 0) {
      absl::StrAppend(&r.drops, std::string(route::kDropReasonNames[i]), "=", c.drops[i], " ");
    }
  }
  return r;
}

TEST(PcapGen, ALoopingReplayIsRoutedAsContinuousVoice) {
  Params p = Small();
  p.streams = 64;
  p.fanout = 4;
  p.frames = 40;
  p.obp_peers = 1;
  const Generated g = Generate(p, "loop");
  auto config = cp::LoadConfigFile(g.config);
  ASSERT_TRUE(config.ok()) << config.status();
  int linktype = 0;
  const std::vector<Packet> packets = ReadPcap(g.pcap, &linktype);
  const uint64_t total = 2 * packets.size();

  const ReplayResult ok = Replay(*config, packets, 2);
  EXPECT_EQ(ok.in, total);
  EXPECT_EQ(ok.routed, total) << ok.drops;
  EXPECT_EQ(ok.dropped, 0u) << ok.drops;
  EXPECT_EQ(ok.to_clients, total * p.fanout);
  EXPECT_EQ(ok.to_peers, total * p.obp_peers);
  // Pass 1: one call per stream (late entry for the rotated ones) plus, for the rotated ones, the
  // call whose header is in this pass; pass 2: one more call each.
  EXPECT_EQ(ok.ended, 2u * p.streams);
  std::printf(
      "chosen parameters: %lu packets in, %lu routed, %lu to clients, %lu to peers, %lu dropped, "
      "%lu calls started, %lu ended\n",
      static_cast<unsigned long>(ok.in), static_cast<unsigned long>(ok.routed),
      static_cast<unsigned long>(ok.to_clients), static_cast<unsigned long>(ok.to_peers),
      static_cast<unsigned long>(ok.dropped), static_cast<unsigned long>(ok.started),
      static_cast<unsigned long>(ok.ended));

  // The same load with the hub's default stream timers and rate limit: the replay is policed.
  cp::HubConfig defaults = *config;
  const cp::HbpSection d{};
  defaults.hbp.stream_timeout_ms = d.stream_timeout_ms;
  defaults.hbp.rate_limit_after_packets = d.rate_limit_after_packets;
  defaults.hbp.rate_limit_pps = d.rate_limit_pps;
  const ReplayResult policed = Replay(defaults, packets, 2);
  std::printf("default parameters: %lu packets in, %lu routed, %lu to clients, %lu dropped (%s)\n",
              static_cast<unsigned long>(policed.in), static_cast<unsigned long>(policed.routed),
              static_cast<unsigned long>(policed.to_clients),
              static_cast<unsigned long>(policed.dropped), policed.drops.c_str());
  EXPECT_LT(policed.routed, total / 2);

  // Only the collision window at its default: every packet is routed, and so is every copy — a
  // replayed call starting again right after its terminator is its own talker re-keying on the
  // same TG, which the window does not hold off (PROTOCOL.md Part A §11).
  cp::HubConfig window = *config;
  window.hbp.stream_timeout_ms = d.stream_timeout_ms;
  const ReplayResult skipped = Replay(window, packets, 2);
  std::printf("stream_timeout_ms = %u: %lu routed, %lu to clients of %lu\n", d.stream_timeout_ms,
              static_cast<unsigned long>(skipped.routed),
              static_cast<unsigned long>(skipped.to_clients),
              static_cast<unsigned long>(total * p.fanout));
  EXPECT_EQ(skipped.routed, total);
  EXPECT_EQ(skipped.to_clients, total * p.fanout);
  Remove(g);
}

// A flood: the share asked for, from sources no client has, none of it a complete DMRD; the voice
// frames in their order in between; and through the routing core the voice is routed whole while
// the flood is routed nowhere.
TEST(PcapGen, AFloodIsInterleavedFromStrangersAndLeavesTheVoiceWhole) {
  Params p = Small();
  p.obp_peers = 0;
  p.flood_share = 0.5;
  auto plan = MakePlan(p);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const auto voice = MakeFrames(*plan, MakeDatagrams(*plan));
  const auto all = AddFlood(*plan, voice);
  ASSERT_EQ(all.size(), 2 * voice.size());
  absl::flat_hash_set<uint32_t> client_ips;
  for (const ClientPlan& c : plan->clients) client_ips.insert(c.addr.ip);
  size_t v = 0, garbage = 0, short_dmrd = 0, logins = 0;
  std::vector<Packet> packets;
  for (const auto& f : all) {
    packets.push_back(Packet{f, {}});
    if (v < voice.size() && f == voice[v]) {
      ++v;
      continue;
    }
    net::FrameView view;
    ASSERT_EQ(net::ParseFrame(f, &view), net::NetReject::kOk);
    EXPECT_EQ(view.dst_port, plan->hub_port);
    EXPECT_FALSE(client_ips.contains(view.src_ip));
    EXPECT_EQ(view.src_ip >> 17, uint32_t{0xC6120000} >> 17) << "in 198.18.0.0/15";
    const auto& pl = view.payload;
    const bool dmrd = pl.size() >= 4 && std::memcmp(pl.data(), "DMRD", 4) == 0;
    EXPECT_FALSE(dmrd && pl.size() >= 20) << "a complete DMRD in the flood";
    if (dmrd) {
      ++short_dmrd;
    } else if (pl.size() == 8 && std::memcmp(pl.data(), "RPTL", 4) == 0) {
      ++logins;
    } else {
      ++garbage;
    }
  }
  EXPECT_EQ(v, voice.size()) << "every voice frame, in order";
  EXPECT_GT(garbage, voice.size() / 4);
  EXPECT_GT(short_dmrd, voice.size() / 4);
  EXPECT_GT(logins, voice.size() / 4);
  EXPECT_EQ(AddFlood(*plan, voice), all) << "deterministic";

  const std::string config = MakeConfigToml(*plan, "pcapgen_test");
  const std::string path =
      (std::filesystem::temp_directory_path() / absl::StrCat("pcapgen-", getpid(), "-flood.toml"))
          .string();
  std::ofstream(path) << config;
  auto c = cp::LoadConfigFile(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(c.ok()) << c.status();
  const ReplayResult r = Replay(*c, packets, 2);
  EXPECT_EQ(r.routed, 2 * voice.size()) << r.drops;
  EXPECT_EQ(r.to_clients, 2 * voice.size() * p.fanout);

  p.flood_share = 0.95;
  EXPECT_FALSE(MakePlan(p).ok());
  p.flood_share = 0.5;
  p.clients = 0xC613FFFE - 0xC6120100 + 1;  // every address of the /15 is a client's
  EXPECT_FALSE(MakePlan(p).ok()) << "no address left for the flood";
}

}  // namespace
}  // namespace dmrswitch::pcapgen
