// dmrswitch-pcapgen: writes a pcap of DMR load towards a hub and the hub configuration that
// accepts it (tools/pcapgen/pcapgen.h explains the plan; docs/benchmarks.md the use).
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "tools/pcapgen/pcapgen.h"

namespace {

constexpr char kUsage[] =
    "usage: dmrswitch-pcapgen --out-pcap FILE --out-config FILE [options]\n"
    "  --profile NAME       pi-club | national | backbone | storm: clients, streams, fanout,\n"
    "                       TG popularity and flood of that load (README); other options\n"
    "                       override them\n"
    "  --flood-share S      share of the frames that are flood from non-clients: garbage,\n"
    "                       truncated DMRD, login requests (default 0; at most 0.9)\n"
    "  --clients N          fixed clients (0 = the minimum: streams + ceil(streams*fanout/2))\n"
    "  --streams M          concurrent calls, each from its own client on TS2 (default 16)\n"
    "  --fanout F           HBP listener timeslots per TG (default 1)\n"
    "  --tg-popularity P    uniform | zipf:S — how the M calls pick their (distinct) TGs\n"
    "                       from the TG universe (default zipf:1)\n"
    "  --tgs T              TG universe (default 4*M)\n"
    "  --frames K           frames per call: header, K-2 voice bursts, terminator (default 8)\n"
    "  --obp-peers P        classic OBP (v1, HMAC-SHA1) peers every TG also goes to (default 0)\n"
    "  --vlan ID            802.1Q tag on every frame\n"
    "  --dmrd-bytes 55|53   DMRD length (55: 97-byte frames; 53: 95-byte frames)\n"
    "  --hub-mac MAC        destination MAC (default 02:00:c6:12:00:01)\n"
    "  --shards S           hub.shards in the config (default 1)\n"
    "  --split N            also write FILE.0 .. FILE.N-1, stream j's frames in FILE.(j mod N):\n"
    "                       one file per RX queue of a multi-queue net_pcap port, every\n"
    "                       stream on exactly one queue (default 1: no split)\n"
    "  --seed N             stream IDs and TG choice (default 1)\n";

bool ParseU32(const char* s, uint32_t* out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v > 0xFFFFFFFFull) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

bool ParseMac(const char* s, dmrswitch::net::Mac* out) {
  unsigned b[6];
  char tail;
  if (std::sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6) {
    return false;
  }
  for (int i = 0; i < 6; ++i) {
    if (b[i] > 255) return false;
    (*out)[i] = static_cast<uint8_t>(b[i]);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace dmrswitch;
  pcapgen::Params p;
  std::string out_pcap, out_config, command = "dmrswitch-pcapgen";
  uint32_t split = 1;
  for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];
  // A profile first, whatever its place: the other options override what it sets.
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) != "--profile") continue;
    if (absl::Status st = pcapgen::ApplyProfile(argv[i + 1], &p); !st.ok()) {
      std::fprintf(stderr, "%s\n", std::string(st.message()).c_str());
      return 2;
    }
  }
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s: missing value\n%s", a.c_str(), kUsage);
      return 2;
    }
    const char* v = argv[++i];
    uint32_t n = 0;
    bool ok = true;
    if (a == "--profile") {
      continue;  // applied above
    } else if (a == "--out-pcap") {
      out_pcap = v;
    } else if (a == "--out-config") {
      out_config = v;
    } else if (a == "--tg-popularity") {
      if (absl::Status st = pcapgen::ParsePopularity(v, &p); !st.ok()) {
        std::fprintf(stderr, "%s\n", std::string(st.message()).c_str());
        return 2;
      }
    } else if (a == "--hub-mac") {
      ok = ParseMac(v, &p.hub_mac);
    } else if (a == "--vlan") {
      ok = ParseU32(v, &n) && n <= 4095;
      p.vlan = static_cast<int>(n);
    } else if (a == "--dmrd-bytes") {
      ok = ParseU32(v, &n);
      p.dmrd_bytes = n;
    } else if (a == "--flood-share") {
      char* end = nullptr;
      p.flood_share = std::strtod(v, &end);
      ok = end != v && *end == '\0';
    } else if (a == "--seed") {
      ok = ParseU32(v, &n);
      p.seed = n;
    } else {
      ok = ParseU32(v, &n);
      if (a == "--clients") {
        p.clients = n;
      } else if (a == "--streams") {
        p.streams = n;
      } else if (a == "--fanout") {
        p.fanout = n;
      } else if (a == "--tgs") {
        p.tgs = n;
      } else if (a == "--frames") {
        p.frames = n;
      } else if (a == "--obp-peers") {
        p.obp_peers = n;
      } else if (a == "--shards") {
        ok = ok && n >= 1 && n <= 64;
        p.shards = n;
      } else if (a == "--split") {
        ok = ok && n >= 1 && n <= 64;
        split = n;
      } else {
        std::fprintf(stderr, "unknown option %s\n%s", a.c_str(), kUsage);
        return 2;
      }
    }
    if (!ok) {
      std::fprintf(stderr, "%s %s: bad value\n", a.c_str(), v);
      return 2;
    }
  }
  if (out_pcap.empty() || out_config.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  p.pcap_path_hint = out_pcap;
  auto plan = pcapgen::MakePlan(p);
  if (!plan.ok()) {
    std::fprintf(stderr, "dmrswitch-pcapgen: %s\n", std::string(plan.status().message()).c_str());
    return 2;
  }
  if (split > 1 && p.flood_share > 0) {
    std::fprintf(stderr,
                 "dmrswitch-pcapgen: --split and a flood do not go together (the flood "
                 "has no stream to follow)\n");
    return 2;
  }
  const auto frames =
      pcapgen::AddFlood(*plan, pcapgen::MakeFrames(*plan, pcapgen::MakeDatagrams(*plan)));
  if (absl::Status st = pcapgen::WritePcap(out_pcap, *plan, frames); !st.ok()) {
    std::fprintf(stderr, "dmrswitch-pcapgen: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  if (split > 1 && p.streams % split != 0) {
    std::fprintf(stderr, "dmrswitch-pcapgen: --split %u: --streams must be a multiple of it\n",
                 split);
    return 2;
  }
  if (split > 1) {
    const auto parts = pcapgen::SplitByStream(*plan, frames, split);
    for (uint32_t q = 0; q < split; ++q) {
      const std::string path = out_pcap + "." + std::to_string(q);
      if (absl::Status st = pcapgen::WritePcap(path, *plan, parts[q]); !st.ok()) {
        std::fprintf(stderr, "dmrswitch-pcapgen: %s\n", std::string(st.message()).c_str());
        return 1;
      }
      std::printf("%zu frames (streams j with j mod %u = %u) -> %s\n", parts[q].size(), split, q,
                  path.c_str());
    }
  }
  std::ofstream cfg(out_config, std::ios::trunc);
  cfg << pcapgen::MakeConfigToml(*plan, command);
  if (!cfg.flush()) {
    std::fprintf(stderr, "dmrswitch-pcapgen: %s: write failed\n", out_config.c_str());
    return 1;
  }
  std::printf(
      "%zu frames, the first of %zu bytes (%u streams × %u frames, fanout %u HBP + %zu OBP, "
      "flood share %.2f) -> %s\n"
      "%zu fixed clients -> %s\n",
      frames.size(), frames.empty() ? size_t{0} : frames[0].size(), p.streams, p.frames, p.fanout,
      plan->peers.size(), p.flood_share, out_pcap.c_str(), plan->clients.size(),
      out_config.c_str());
  return 0;
}
