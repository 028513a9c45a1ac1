#include "tools/pcapgen/pcapgen.h"

#include <pcap/pcap.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "dataplane/proto/hbp.h"
#include "tools/sim/dmr_calls.h"

namespace dmrswitch::pcapgen {
namespace {

constexpr uint32_t kFirstClientIp = 0xC6120100;  // 198.18.1.0
constexpr uint32_t kLastIp = 0xC613FFFE;         // 198.19.255.254
constexpr uint32_t kFirstPeerIp = 0xC6120064;    // 198.18.0.100
constexpr uint32_t kMaxPeers = 128;
constexpr uint32_t kFirstClientId = 311000000;  // 9-digit hotspot IDs
constexpr uint32_t kFirstRfSrc = 3100001;
constexpr uint32_t kFirstTg = 310000;  // >= 80 (carried on OpenBridge), no reserved IDs above
constexpr uint32_t kServerId = 310999;
constexpr uint32_t kMaxFrames = 1000000;  // = the largest hbp.rate_limit_after_packets
constexpr int64_t kRoundNs = 60'000'000;  // one DMR burst per call every 60 ms

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

net::Mac MacFor(uint32_t ip) {
  return {0x02,
          0x00,
          static_cast<uint8_t>(ip >> 24),
          static_cast<uint8_t>(ip >> 16),
          static_cast<uint8_t>(ip >> 8),
          static_cast<uint8_t>(ip)};
}

std::string Join(const std::vector<uint32_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) absl::StrAppend(&s, i ? ", " : "", v[i]);
  return s + "]";
}

std::string Endpoint(const route::Endpoint& e) {
  return absl::StrCat(FormatIpv4(e.ip), ":", e.port);
}

// M distinct TG indices out of `universe`, weighted 1/(rank+1)^s (s = 0: uniform), by
// Efraimidis–Spirakis keys (weighted sampling without replacement).
std::vector<uint32_t> PickTgs(uint32_t universe, uint32_t m, double s, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(std::nextafter(0.0, 1.0), 1.0);
  std::vector<std::pair<double, uint32_t>> keys(universe);
  for (uint32_t i = 0; i < universe; ++i) {
    const double w = 1.0 / std::pow(static_cast<double>(i) + 1.0, s);
    keys[i] = {std::log(u(rng)) / w, i};
  }
  std::partial_sort(keys.begin(), keys.begin() + m, keys.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < m; ++i) out.push_back(keys[i].second);
  return out;
}

}  // namespace

std::string FormatIpv4(uint32_t ip) {
  return absl::StrCat(ip >> 24, ".", (ip >> 16) & 255, ".", (ip >> 8) & 255, ".", ip & 255);
}

absl::Status ParsePopularity(const std::string& text, Params* p) {
  if (text == "uniform") {
    p->popularity = Popularity::kUniform;
    p->zipf_s = 0;
    return absl::OkStatus();
  }
  if (text.rfind("zipf:", 0) == 0) {
    char* end = nullptr;
    const double s = std::strtod(text.c_str() + 5, &end);
    if (end != text.c_str() + 5 && *end == '\0' && s >= 0 && s <= 10) {
      p->popularity = Popularity::kZipf;
      p->zipf_s = s;
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--tg-popularity ", text, ": expected uniform or zipf:S with 0 <= S <= 10"));
}

absl::Status ApplyProfile(const std::string& name, Params* p) {
  struct Profile {
    const char* name;
    uint32_t clients, streams, fanout;
    double flood_share;
  };
  static constexpr Profile kProfiles[] = {
      {"pi-club", 100, 10, 8, 0},
      {"national", 2000, 100, 16, 0},
      {"backbone", 0, 16384, 1, 0},  // 0: the minimum, 16,384 sources + 8,192 listeners
      {"storm", 0, 16384, 1, 0.5},
  };
  for (const Profile& f : kProfiles) {
    if (name != f.name) continue;
    p->clients = f.clients;
    p->streams = f.streams;
    p->fanout = f.fanout;
    p->popularity = Popularity::kZipf;
    p->zipf_s = 1.0;
    p->flood_share = f.flood_share;
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--profile ", name, ": expected pi-club, national, backbone or storm"));
}

absl::StatusOr<Plan> MakePlan(const Params& p) {
  if (p.streams == 0) return absl::InvalidArgumentError("--streams must be at least 1");
  if (p.fanout == 0) return absl::InvalidArgumentError("--fanout must be at least 1");
  if (p.frames < 3 || p.frames > kMaxFrames) {
    return absl::InvalidArgumentError(
        absl::StrCat("--frames ", p.frames, ": must be in 3..", kMaxFrames,
                     " (header, at least one voice burst, terminator)"));
  }
  if (p.dmrd_bytes != proto::kDmrdBytes && p.dmrd_bytes != proto::kDmrdShortBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("--dmrd-bytes ", p.dmrd_bytes, ": must be 55 or 53"));
  }
  if (p.vlan > 4095) return absl::InvalidArgumentError("--vlan must be in 0..4095");
  if (!(p.flood_share >= 0 && p.flood_share <= 0.9)) {
    return absl::InvalidArgumentError("--flood-share must be in 0..0.9");
  }
  if (p.obp_peers > kMaxPeers) {
    return absl::InvalidArgumentError(absl::StrCat("--obp-peers: at most ", kMaxPeers));
  }
  const uint64_t listener_slots = uint64_t{p.streams} * p.fanout;
  const uint64_t needed = p.streams + (listener_slots + 1) / 2;
  const uint64_t max_clients = std::min<uint64_t>(kLastIp - kFirstClientIp + 1, 1048576);
  if (needed > max_clients) {
    return absl::InvalidArgumentError(
        absl::StrCat("--streams ", p.streams, " × --fanout ", p.fanout, " needs ", needed,
                     " clients; at most ", max_clients, " fit in 198.18.0.0/15"));
  }
  const uint64_t clients = p.clients == 0 ? needed : p.clients;
  if (clients < needed) {
    return absl::InvalidArgumentError(
        absl::StrCat("--clients ", p.clients, ": the plan needs at least ", needed, " (", p.streams,
                     " sources on TS2, ", listener_slots, " listener timeslots)"));
  }
  if (clients > max_clients) {
    return absl::InvalidArgumentError(absl::StrCat("--clients: at most ", max_clients));
  }
  if (p.flood_share > 0 && kFirstClientIp + clients > kLastIp) {
    return absl::InvalidArgumentError(
        "--flood-share: the clients take every address; the flood needs some of its own");
  }
  const uint64_t universe = p.tgs == 0 ? uint64_t{p.streams} * 4 : p.tgs;
  if (universe < p.streams || universe > 1000000) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tgs ", universe, ": must be in --streams..1000000 (one TG per stream)"));
  }

  Plan plan;
  plan.params = p;
  plan.params.clients = static_cast<uint32_t>(clients);
  plan.params.tgs = static_cast<uint32_t>(universe);
  for (uint32_t i = 0; i < clients; ++i) {
    ClientPlan c;
    c.id = kFirstClientId + i;
    const uint32_t ip = kFirstClientIp + i;
    c.addr = {ip, static_cast<uint16_t>(40000 + i % 20000)};
    c.mac = MacFor(ip);
    plan.clients.push_back(std::move(c));
  }
  for (uint32_t i = 0; i < p.obp_peers; ++i) {
    plan.peers.push_back(
        PeerPlan{absl::StrCat("obp", i), {kFirstPeerIp + i, 62036}, kServerId + 1000 + i});
  }

  std::mt19937_64 rng(p.seed);
  const std::vector<uint32_t> tg_index =
      PickTgs(static_cast<uint32_t>(universe), p.streams,
              p.popularity == Popularity::kUniform ? 0.0 : p.zipf_s, rng);
  absl::flat_hash_set<uint32_t> ids;
  uint64_t listener = 0;
  for (uint32_t j = 0; j < p.streams; ++j) {
    StreamPlan s;
    s.client = j;
    s.ts = 2;
    s.tg = kFirstTg + tg_index[j];
    s.rf_src = kFirstRfSrc + j;
    for (uint64_t k = 0;; ++k) {
      s.stream_id = static_cast<uint32_t>(SplitMix64(p.seed * 0x100000000ULL + j + (k << 40)));
      if (s.stream_id != 0 && ids.insert(s.stream_id).second) break;
    }
    s.offset = static_cast<uint32_t>(uint64_t{j} * p.frames / p.streams);
    // The source is a static member of its TG (no user activation); F listener timeslots too.
    plan.clients[j].statics[route::kTs2].push_back(s.tg);
    for (uint32_t f = 0; f < p.fanout; ++f, ++listener) {
      ClientPlan& c = plan.clients[p.streams + listener / 2];
      c.statics[listener % 2].push_back(s.tg);
    }
    plan.streams.push_back(s);
  }
  return plan;
}

std::vector<Datagram> MakeDatagrams(const Plan& plan) {
  const Params& p = plan.params;
  const uint32_t k = p.frames;
  std::vector<std::vector<sim::DmrdFrame>> calls;
  for (const StreamPlan& s : plan.streams) {
    sim::VoiceCallSpec spec;
    spec.tg = s.tg;
    spec.ts = s.ts;
    spec.rf_src = s.rf_src;
    spec.stream_id = s.stream_id;
    const uint32_t voice = k - 2;
    spec.superframes = (voice + 5) / 6;
    std::vector<sim::DmrdFrame> f = sim::BuildVoiceCall(spec, plan.clients[s.client].id);
    // The call ends after `voice` bursts (PTT released mid-superframe is normal): keep the
    // header, the first bursts and the terminator, with seq running on without a gap.
    sim::DmrdFrame term = f.back();
    f.resize(1 + voice);
    term[proto::dmrd_offset::kSeq] = static_cast<uint8_t>((k - 1) & 0xFF);
    f.push_back(term);
    calls.push_back(std::move(f));
  }
  std::vector<Datagram> out;
  out.reserve(uint64_t{k} * plan.streams.size());
  for (uint32_t r = 0; r < k; ++r) {
    for (size_t j = 0; j < plan.streams.size(); ++j) {
      const StreamPlan& s = plan.streams[j];
      const sim::DmrdFrame& f = calls[j][(r + k - s.offset) % k];
      out.push_back(Datagram{s.client, std::vector<uint8_t>(f.begin(), f.begin() + p.dmrd_bytes)});
    }
  }
  return out;
}

std::vector<std::vector<uint8_t>> MakeFrames(const Plan& plan,
                                             const std::vector<Datagram>& datagrams) {
  std::vector<net::UdpHeaderTemplate> templates;
  templates.reserve(plan.clients.size());
  for (const ClientPlan& c : plan.clients) {
    net::UdpHeaderTemplate::Params t;
    t.dst_mac = plan.params.hub_mac;
    t.src_mac = c.mac;
    if (plan.params.vlan >= 0) t.vlan = net::Vlan::Tag(static_cast<uint16_t>(plan.params.vlan));
    t.src_ip = c.addr.ip;
    t.dst_ip = plan.hub_ip;
    t.src_port = c.addr.port;
    t.dst_port = plan.hub_port;
    templates.emplace_back(t);
  }
  std::vector<std::vector<uint8_t>> frames;
  frames.reserve(datagrams.size());
  for (const Datagram& d : datagrams) {
    const net::UdpHeaderTemplate& t = templates[d.client];
    std::vector<uint8_t> f(t.header_bytes() + d.dmrd.size());
    t.Write(f.data(), static_cast<uint16_t>(d.dmrd.size()));
    std::copy(d.dmrd.begin(), d.dmrd.end(), f.begin() + static_cast<ptrdiff_t>(t.header_bytes()));
    frames.push_back(std::move(f));
  }
  return frames;
}

std::vector<std::vector<uint8_t>> AddFlood(const Plan& plan,
                                           std::vector<std::vector<uint8_t>> voice) {
  const double share = plan.params.flood_share;
  if (share <= 0 || voice.empty()) return voice;
  // Flood sources: addresses no client has (above the last client's), in the benchmarking /15.
  const uint32_t first_free = kFirstClientIp + static_cast<uint32_t>(plan.clients.size());
  const uint32_t free_span = kLastIp - first_free + 1;
  const double ratio = share / (1 - share);  // flood frames per voice frame
  std::vector<std::vector<uint8_t>> out;
  out.reserve(voice.size() + static_cast<size_t>(static_cast<double>(voice.size()) * ratio) + 1);
  uint64_t n = 0;  // flood frames so far
  for (size_t i = 0; i < voice.size(); ++i) {
    out.push_back(std::move(voice[i]));
    const uint64_t due = static_cast<uint64_t>(static_cast<double>(i + 1) * ratio);
    for (; n < due; ++n) {
      const uint64_t r = SplitMix64(plan.params.seed * 0x9E3779B97F4A7C15ULL + n);
      const uint64_t r2 = SplitMix64(r);
      const auto kind = static_cast<FloodKind>(r % 3);
      std::vector<uint8_t> payload;
      switch (kind) {
        case FloodKind::kGarbage:
          payload.resize(1 + (r2 % 200));
          for (size_t b = 0; b < payload.size(); ++b) {
            payload[b] = static_cast<uint8_t>(SplitMix64(r2 + b) >> 56);
          }
          if (payload.size() >= 4 && std::memcmp(payload.data(), "DMRD", 4) == 0) payload[0] = 0;
          break;
        case FloodKind::kShortDmrd:
          payload = {'D', 'M', 'R', 'D'};
          payload.resize(4 + (r2 % 16), static_cast<uint8_t>(r2 >> 32));
          break;
        case FloodKind::kLogin:
          payload = {'R',
                     'P',
                     'T',
                     'L',
                     static_cast<uint8_t>(r2 >> 24),
                     static_cast<uint8_t>(r2 >> 16),
                     static_cast<uint8_t>(r2 >> 8),
                     static_cast<uint8_t>(r2)};
          break;
      }
      net::UdpHeaderTemplate::Params t;
      t.dst_mac = plan.params.hub_mac;
      const uint32_t ip = first_free + static_cast<uint32_t>((r2 >> 8) % free_span);
      t.src_mac = MacFor(ip);
      if (plan.params.vlan >= 0) t.vlan = net::Vlan::Tag(static_cast<uint16_t>(plan.params.vlan));
      t.src_ip = ip;
      t.dst_ip = plan.hub_ip;
      t.src_port = static_cast<uint16_t>(1024 + (r2 >> 40) % 64000);
      t.dst_port = plan.hub_port;
      const net::UdpHeaderTemplate tmpl(t);
      std::vector<uint8_t> f(tmpl.header_bytes() + payload.size());
      tmpl.Write(f.data(), static_cast<uint16_t>(payload.size()));
      std::copy(payload.begin(), payload.end(),
                f.begin() + static_cast<ptrdiff_t>(tmpl.header_bytes()));
      out.push_back(std::move(f));
    }
  }
  return out;
}

std::string MakeConfigToml(const Plan& plan, const std::string& command_line) {
  const Params& p = plan.params;
  uint32_t capacity = 16384;
  while (capacity < 2 * p.streams && capacity < 4194304) capacity *= 2;
  std::ostringstream o;
  o << "# Generated by dmrswitch-pcapgen (tools/pcapgen); docs/benchmarks.md explains the load.\n"
    << "#   " << command_line << "\n"
    << "# " << p.streams << " streams × " << p.frames << " frames, fanout " << p.fanout << " HBP + "
    << plan.peers.size() << " OBP v1, " << plan.clients.size() << " fixed clients.\n\n"
    << "[hub]\n"
    << "server_id = " << kServerId << "\n"
    << "mode = \"dpdk\"\n"
    << "shards = " << p.shards << "\n"
    << "control_plane = \"hosted\"\n"
    << "stream_capacity = " << capacity << "\n\n"
    << "[hbp]\n"
    << "listen = \"" << FormatIpv4(plan.hub_ip) << ":" << plan.hub_port << "\"\n"
    << "passphrase = \"pcapgen\"\n"
    << "max_clients = " << plan.clients.size() << "\n"
    << "# A looping pcap replays every call: the next call's header follows its terminator at\n"
    << "# once, under the same stream ID, to the same TG and destination slots. With the default\n"
    << "# collision window (360 ms) those slots would refuse it; 0 lets the call take them again.\n"
    << "stream_timeout_ms = 0\n"
    << "# Replayed at Mpps, every stream is far faster than 25 packets/s: never rate-limit (the\n"
    << "# limit applies after this many packets of one call; a call has " << p.frames
    << " frames).\n"
    << "rate_limit_after_packets = " << kMaxFrames << "\n"
    << "rate_limit_pps = " << kMaxFrames << "\n"
    << "# Slow replays (zero-loss search at low rates): a stream hears a frame every\n"
    << "# --streams / rate seconds; keep calls alive and uncut as long as the range allows.\n"
    << "stream_lost_s = 60\n"
    << "max_stream_age_s = 86400\n\n"
    << "[dpdk]\n"
    << "# Placeholder: the pps runner passes its own EAL arguments.\n"
    << "eal_args = [\"--no-pci\", \"--vdev=net_pcap0,rx_pcap=" << p.pcap_path_hint
    << ",infinite_rx=1\", \"--vdev=net_null0\"]\n"
    << "address = \"" << FormatIpv4(plan.hub_ip) << "\"\n";
  for (const PeerPlan& peer : plan.peers) {
    o << "\n[[obp]]\n"
      << "name = \"" << peer.name << "\"\n"
      << "listen = \"" << FormatIpv4(plan.hub_ip) << ":" << plan.obp_port << "\"\n"
      << "target = \"" << Endpoint(peer.target) << "\"\n"
      << "network_id = " << peer.network_id << "\n"
      << "passphrase = \"pcapgen\"\n"
      << "version = 1\n";
  }
  for (const ClientPlan& c : plan.clients) {
    o << "\n[[hbp.fixed_client]]\n"
      << "id = " << c.id << "\n"
      << "address = \"" << Endpoint(c.addr) << "\"\n";
  }
  for (const ClientPlan& c : plan.clients) {
    if (c.statics[0].empty() && c.statics[1].empty()) continue;
    o << "\n[[hbp.static]]\n"
      << "client = " << c.id << "\n";
    if (!c.statics[0].empty()) o << "ts1 = " << Join(c.statics[0]) << "\n";
    if (!c.statics[1].empty()) o << "ts2 = " << Join(c.statics[1]) << "\n";
  }
  return o.str();
}

std::vector<std::vector<std::vector<uint8_t>>> SplitByStream(
    const Plan& plan, const std::vector<std::vector<uint8_t>>& frames, uint32_t n) {
  // Frames come in rounds of one per stream, stream j at index j of each round.
  std::vector<std::vector<std::vector<uint8_t>>> parts(n == 0 ? 1 : n);
  const size_t m = std::max<size_t>(plan.streams.size(), 1);
  for (size_t i = 0; i < frames.size(); ++i) parts[(i % m) % parts.size()].push_back(frames[i]);
  return parts;
}

absl::Status WritePcap(const std::string& path, const Plan& plan,
                       const std::vector<std::vector<uint8_t>>& frames) {
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  if (dead == nullptr) return absl::InternalError("pcap_open_dead failed");
  pcap_dumper_t* d = pcap_dump_open(dead, path.c_str());
  if (d == nullptr) {
    const std::string err = pcap_geterr(dead);
    pcap_close(dead);
    return absl::UnavailableError(absl::StrCat(path, ": ", err));
  }
  const int64_t step_ns = kRoundNs / static_cast<int64_t>(std::max<size_t>(plan.streams.size(), 1));
  for (size_t i = 0; i < frames.size(); ++i) {
    const int64_t t = static_cast<int64_t>(i) * step_ns;
    pcap_pkthdr h{};
    h.ts.tv_sec = static_cast<time_t>(t / 1'000'000'000);
    h.ts.tv_usec = static_cast<suseconds_t>((t % 1'000'000'000) / 1000);
    h.caplen = h.len = static_cast<bpf_u_int32>(frames[i].size());
    pcap_dump(reinterpret_cast<u_char*>(d), &h, frames[i].data());
  }
  const bool flushed = pcap_dump_flush(d) == 0;
  pcap_dump_close(d);
  pcap_close(dead);
  if (!flushed) return absl::DataLossError(absl::StrCat(path, ": write failed"));
  return absl::OkStatus();
}

}  // namespace dmrswitch::pcapgen
