// dmrswitch-pcapgen: pcap files of realistic DMR load towards a hub, plus the hub configuration
// that accepts that load without a live login (issue #4 item 4(a), docs/benchmarks.md).
//
// The plan. M concurrent voice streams, each from its own source client (TS2), each on its own
// talkgroup; every TG is subscribed (statically) by exactly F listener client timeslots that
// hear nothing else, so every stream fans out to F HBP destinations (+ P classic OBP peers) with
// no slot contention. Clients: sources first (M), then listeners (both timeslots each, so
// ceil(M·F/2) clients), then idle clients up to --clients. All are [[hbp.fixed_client]]s.
// Addresses from 198.18.0.0/15 (RFC 2544 benchmarking): the hub 198.18.0.1, OBP peers
// 198.18.0.100 + p, clients 198.18.1.0 + i.
//
// The frames. Each stream is one call of K frames built by tools/sim (voice LC header, voice
// bursts A..F with the real voice sequence and embedded LC, terminator), seq 0..K-1 mod 256.
// The file interleaves the streams round-robin (one frame of every stream per 60 ms "round", as
// the hub sees M calls at once), and stream j's call is rotated by j·K/M rounds so that calls
// start and end at staggered times, and so that the file loops seamlessly: the frame after the
// last one of a stream in the file is the next one of its call.
//
// A looping replay (net_pcap infinite_rx=1) therefore shows the hub the same stream IDs and
// sequence numbers again, every K rounds. Each stream's terminator ends the instance; the next
// frame of that stream is a voice LC header under the same ID, which the routing core treats as
// a new call ("a new header under an old ID starts over", whatever stream_forget_s says), so the
// load is accepted as continuous voice, not dropped as duplicates. The configuration lifts the
// limits a replay at Mpps would hit (see MakeConfigToml).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dataplane/net/packet.h"
#include "dataplane/route/types.h"

namespace dmrswitch::pcapgen {

enum class Popularity : uint8_t { kUniform, kZipf };

struct Params {
  uint32_t clients = 0;  // 0: the minimum the plan needs
  uint32_t streams = 16;
  uint32_t fanout = 1;
  Popularity popularity = Popularity::kZipf;
  double zipf_s = 1.0;
  uint32_t tgs = 0;     // TG universe the M streams are drawn from; 0: 4·M
  uint32_t frames = 8;  // per stream and call, >= 3 (header, >= 1 voice burst, terminator)
  int vlan = -1;        // 802.1Q VLAN ID 0..4095; -1: untagged
  uint32_t obp_peers = 0;
  size_t dmrd_bytes = 55;  // 55, or 53 (no BER/RSSI)
  uint32_t shards = 1;
  uint64_t seed = 1;
  // Share of the file's frames that are flood (AddFlood): 0 = none, at most 0.9.
  double flood_share = 0;
  net::Mac hub_mac = {0x02, 0x00, 0xc6, 0x12, 0x00, 0x01};
  std::string pcap_path_hint = "load.pcap";  // for the eal_args placeholder only
};

struct ClientPlan {
  uint32_t id = 0;
  route::Endpoint addr;
  net::Mac mac{};
  std::vector<uint32_t> statics[2];  // by timeslot index
};

struct PeerPlan {
  std::string name;
  route::Endpoint target;
  uint32_t network_id = 0;
};

struct StreamPlan {
  uint32_t client = 0;  // source client index
  unsigned ts = 2;      // 1 or 2
  uint32_t tg = 0;
  uint32_t rf_src = 0;
  uint32_t stream_id = 0;
  uint32_t offset = 0;  // rotation in rounds
};

struct Plan {
  Params params;
  uint32_t hub_ip = 0xC6120001;  // 198.18.0.1
  uint16_t hub_port = 62031;
  uint16_t obp_port = 62035;
  std::vector<ClientPlan> clients;
  std::vector<PeerPlan> peers;
  std::vector<StreamPlan> streams;
};

// One UDP datagram of the file, in order.
struct Datagram {
  uint32_t client = 0;  // source client index
  std::vector<uint8_t> dmrd;
};

// Validates the parameters and lays out clients, TGs and streams.
absl::StatusOr<Plan> MakePlan(const Params& p);
// The DMRD datagrams of one pass over the file, in file order (M·K of them).
std::vector<Datagram> MakeDatagrams(const Plan& plan);
// Ethernet (+VLAN) / IPv4 / UDP frames carrying `datagrams` from their clients to the hub.
std::vector<std::vector<uint8_t>> MakeFrames(const Plan& plan,
                                             const std::vector<Datagram>& datagrams);
// What the flood frames of AddFlood are (cycled pseudo-randomly, one in three each).
enum class FloodKind : uint8_t {
  kGarbage,    // 1..200 random bytes to the HBP port
  kShortDmrd,  // "DMRD" and 0..15 more bytes: a truncated voice frame
  kLogin,      // RPTL with a random 32-bit ID: the first step of a login nobody finishes
};

// `voice` (MakeFrames's output) with flood frames interleaved evenly so that they make up
// `plan.params.flood_share` of the result: garbage, truncated DMRD and login requests (RPTL)
// to the hub's HBP port from sources that are no client's (random addresses above the last
// client's in 198.18.0.0/15, random ports, locally administered MACs). None of them carries a
// complete DMRD, so a generator that times DMRD copies (trafgen --latency) counts voice only.
// Deterministic in plan.params.seed.
std::vector<std::vector<uint8_t>> AddFlood(const Plan& plan,
                                           std::vector<std::vector<uint8_t>> voice);

// The frames split into `n` files for a port with n RX queues (net_pcap takes one file per
// queue): stream j's frames, in order, all in part j mod n. `frames` is MakeFrames's output.
std::vector<std::vector<std::vector<uint8_t>>> SplitByStream(
    const Plan& plan, const std::vector<std::vector<uint8_t>>& frames, uint32_t n);
// The hub configuration (dpdk mode) that accepts the load.
std::string MakeConfigToml(const Plan& plan, const std::string& command_line);
// Classic libpcap file, Ethernet link type, timestamps 60 ms / M apart (the real cadence).
absl::Status WritePcap(const std::string& path, const Plan& plan,
                       const std::vector<std::vector<uint8_t>>& frames);

// Parses "uniform" or "zipf:S".
absl::Status ParsePopularity(const std::string& text, Params* p);

// The load profiles of docs/benchmarks.md (issue 15 item 3), as parameters: `pi-club` (100
// clients, 10 calls, each heard by 8 listener timeslots), `national` (2,000 clients, 100 calls
// on Zipf-popular TGs, 16 listeners each), `backbone` (16,384 live streams, one listener each;
// every stream needs a source client of its own here, so 24,576 clients rather than a backbone's
// ~10,000 with most streams arriving from peers) and `storm` (the backbone with as many flood
// frames as voice: garbage, truncated DMRD and a login storm). Sets clients, streams, fanout, TG
// popularity and the flood share; options given on the command line override them.
absl::Status ApplyProfile(const std::string& name, Params* p);
inline constexpr const char* kProfileNames[] = {"pi-club", "national", "backbone", "storm"};
std::string FormatIpv4(uint32_t ip);

}  // namespace dmrswitch::pcapgen
