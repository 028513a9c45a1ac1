#include "tools/trafgen/trafgen.h"

#include <pcap/pcap.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace dmrswitch::trafgen {
namespace {

constexpr char kUsage[] =
    "usage: dmrswitch-trafgen --pcap FILE [options] [-- EAL args]\n"
    "  --pcap FILE          frames to send, in a loop (classic pcap, Ethernet)\n"
    "  --rate-pps R         offered rate in packets/s (default 0: as fast as the port takes)\n"
    "  --seconds S          sending time, counted from link up (default 5)\n"
    "  --port N             DPDK port to use (default 0)\n"
    "  --burst B            TX/RX burst (default 32, at most 512)\n"
    "  --bucket D           token bucket depth in packets (default 64)\n"
    "  --link-timeout-s T   wait this long for the link (memif: the peer) (default 10)\n"
    "  --drain-ms M         keep receiving this long after the last send (default 200)\n"
    "  --rx-only            send nothing; count what arrives for S seconds\n"
    "  --latency            time each DMRD copy from TX to its return (lat_* fields)\n"
    "EAL arguments follow `--`, e.g. -- --vdev=net_memif0,role=client,socket=/tmp/x.sock\n"
    "(--no-pci, -l0, --file-prefix=dsw-trafgen-PID, --in-memory (--no-shconf with --no-huge),\n"
    "--log-level=lib.eal:error and --no-telemetry are added unless given). At the end:\n"
    "trafgen: frames=.. requested_pps=.. offered_pps=.. sent=.. tx_failed=.. received=.. "
    "rx_other=.. rx_missed=.. rx_pps=.. seconds=.. busy=..\n";

bool ParseDouble(const char* s, double* out) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || !(v >= 0)) return false;
  *out = v;
  return true;
}

bool HasPrefix(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

}  // namespace

absl::StatusOr<Options> ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") {
      for (++i; i < argc; ++i) o.eal.emplace_back(argv[i]);
      break;
    }
    if (a == "-h" || a == "--help") return absl::InvalidArgumentError(kUsage);
    if (a == "--rx-only") {
      o.rx_only = true;
      continue;
    }
    if (a == "--latency") {
      o.latency = true;
      continue;
    }
    if (i + 1 >= argc)
      return absl::InvalidArgumentError(absl::StrCat(a, ": needs a value\n", kUsage));
    const char* v = argv[++i];
    double d = 0;
    auto number = [&](double lo, double hi) -> absl::Status {
      if (!ParseDouble(v, &d) || d < lo || d > hi) {
        return absl::InvalidArgumentError(
            absl::StrCat(a, " ", v, ": expected a number in ", lo, "..", hi));
      }
      return absl::OkStatus();
    };
    absl::Status st;
    if (a == "--pcap") {
      o.pcap = v;
    } else if (a == "--rate-pps") {
      st = number(0, 1e9);
      o.rate_pps = d;
    } else if (a == "--seconds") {
      st = number(0.001, 86400);
      o.seconds = d;
    } else if (a == "--port") {
      st = number(0, 1023);
      o.port = static_cast<uint16_t>(d);
    } else if (a == "--burst") {
      st = number(1, 512);
      o.burst = static_cast<uint16_t>(d);
    } else if (a == "--bucket") {
      st = number(1, 1 << 20);
      o.bucket = static_cast<uint32_t>(d);
    } else if (a == "--link-timeout-s") {
      st = number(0, 3600);
      o.link_timeout_s = d;
    } else if (a == "--drain-ms") {
      st = number(0, 60000);
      o.drain_ms = d;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown option ", a, "\n", kUsage));
    }
    if (!st.ok()) return st;
  }
  if (o.pcap.empty() && !o.rx_only) {
    return absl::InvalidArgumentError(absl::StrCat("--pcap is required (or --rx-only)\n", kUsage));
  }
  if (o.latency && o.rx_only) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--latency times the frames this generator sends: not with --rx-only\n", kUsage));
  }
  if (o.bucket < o.burst) o.bucket = o.burst;
  return o;
}

std::vector<std::string> CompleteEalArgs(const std::vector<std::string>& given, int pid) {
  std::vector<std::string> eal = {"dmrswitch-trafgen"};
  bool pci = false, lcores = false, prefix = false, memory = false, log = false, nohuge = false,
       telemetry = false;
  for (const std::string& a : given) {
    eal.push_back(a);
    pci |= a == "--no-pci" || HasPrefix(a, "-a") || HasPrefix(a, "--allow");
    lcores |= (HasPrefix(a, "-l") && !HasPrefix(a, "--")) || HasPrefix(a, "--lcores") ||
              HasPrefix(a, "-c");
    prefix |= HasPrefix(a, "--file-prefix");
    memory |= a == "--in-memory" || a == "--no-shconf";
    nohuge |= a == "--no-huge";
    telemetry |= a == "--telemetry" || a == "--no-telemetry";
    log |= HasPrefix(a, "--log-level");
  }
  if (!pci) eal.emplace_back("--no-pci");  // never the host's own NIC
  if (!lcores) eal.emplace_back("-l0");
  if (!prefix) eal.push_back(absl::StrCat("--file-prefix=dsw-trafgen-", pid));
  // --no-huge means legacy memory, which --in-memory refuses: --no-shconf keeps the runtime
  // directory empty then.
  if (!memory) eal.emplace_back(nohuge ? "--no-shconf" : "--in-memory");
  if (!log) eal.emplace_back("--log-level=lib.eal:error");
  // The telemetry socket would outlive the runtime directory's removal at exit.
  if (!telemetry) eal.emplace_back("--no-telemetry");
  return eal;
}

absl::StatusOr<std::vector<std::string>> LoadPcapFrames(const std::string& path, size_t max_len) {
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  if (p == nullptr) return absl::NotFoundError(absl::StrCat(path, ": ", err));
  std::vector<std::string> frames;
  absl::Status st;
  if (pcap_datalink(p) != DLT_EN10MB) {
    st = absl::InvalidArgumentError(
        absl::StrCat(path, ": link type ", pcap_datalink(p), ", expected Ethernet (1)"));
  }
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  int rc = 0;
  while (st.ok() && (rc = pcap_next_ex(p, &h, &data)) == 1) {
    if (h->caplen != h->len || h->caplen > max_len || h->caplen < 14) {
      st = absl::InvalidArgumentError(absl::StrCat(path, ": frame ", frames.size(), " has ",
                                                   h->caplen, " of ", h->len, " bytes (14..",
                                                   max_len, ", not truncated)"));
      break;
    }
    frames.emplace_back(reinterpret_cast<const char*>(data), h->caplen);
  }
  if (st.ok() && rc == -1) st = absl::DataLossError(absl::StrCat(path, ": ", pcap_geterr(p)));
  pcap_close(p);
  if (!st.ok()) return st;
  if (frames.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no frames"));
  return frames;
}

TokenBucket::TokenBucket(double rate, uint64_t hz, uint32_t depth, uint64_t now)
    : per_cycle_(hz > 0 ? rate / static_cast<double>(hz) : 0),
      depth_(depth),
      tokens_(0),
      last_(now) {}

uint32_t TokenBucket::Take(uint64_t now, uint32_t want) {
  if (per_cycle_ <= 0) return want;
  if (now > last_) {
    tokens_ = std::min(depth_, tokens_ + static_cast<double>(now - last_) * per_cycle_);
    last_ = now;
  }
  const uint32_t n = std::min<uint32_t>(want, static_cast<uint32_t>(tokens_));
  tokens_ -= n;
  return n;
}

std::string FormatResult(const Result& r) {
  const double s = r.seconds > 0 ? r.seconds : 1;
  const std::string line = absl::StrFormat(
      "trafgen: frames=%u requested_pps=%.0f offered_pps=%.0f sent=%u tx_failed=%u "
      "received=%u rx_other=%u rx_missed=%u rx_pps=%.0f seconds=%.3f busy=%.3f",
      r.frames, r.requested_pps, static_cast<double>(r.sent + r.tx_failed) / s, r.sent, r.tx_failed,
      r.received, r.rx_other, r.rx_missed, static_cast<double>(r.received) / s, r.seconds, r.busy);
  if (!r.latency) return line;
  return absl::StrFormat(
      "%s lat_sent=%u lat_samples=%u lat_unmatched=%u lat_p50_ns=%u lat_p99_ns=%u "
      "lat_p999_ns=%u lat_max_ns=%u",
      line, r.lat_sent, r.lat.count(), r.lat_unmatched, r.lat.Percentile(0.5),
      r.lat.Percentile(0.99), r.lat.Percentile(0.999), r.lat.max());
}

int64_t DmrdKey(const uint8_t* f, size_t len) {
  size_t l3 = 14;
  if (len < l3) return -1;
  uint16_t type = static_cast<uint16_t>(f[12] << 8 | f[13]);
  if (type == 0x8100) {
    l3 = 18;
    if (len < l3) return -1;
    type = static_cast<uint16_t>(f[16] << 8 | f[17]);
  }
  if (type != 0x0800 || len < l3 + 20 || (f[l3] >> 4) != 4 || f[l3 + 9] != 17) return -1;
  const size_t l4 = l3 + 4 * static_cast<size_t>(f[l3] & 0x0f);
  const size_t dmrd = l4 + 8;
  return len < dmrd ? -1 : DmrdPayloadKey(f + dmrd, len - dmrd);
}

int64_t DmrdPayloadKey(const uint8_t* d, size_t len) {
  if (len < 20 || std::memcmp(d, "DMRD", 4) != 0) return -1;
  const uint32_t stream = static_cast<uint32_t>(d[16]) << 24 | static_cast<uint32_t>(d[17]) << 16 |
                          static_cast<uint32_t>(d[18]) << 8 | d[19];
  return static_cast<int64_t>(stream) << 8 | d[4];
}

LatencyIndex::LatencyIndex(const std::vector<std::string>& frames) {
  frame_slot_.reserve(frames.size());
  for (const std::string& f : frames) {
    const int64_t key = DmrdKey(reinterpret_cast<const uint8_t*>(f.data()), f.size());
    if (key < 0) {
      frame_slot_.push_back(-1);
      continue;
    }
    auto [it, added] = slots_.try_emplace(key, static_cast<int32_t>(slots_.size()));
    frame_slot_.push_back(it->second);
  }
}

int32_t LatencyIndex::Find(const uint8_t* frame, size_t len) const {
  const int64_t key = DmrdKey(frame, len);
  if (key < 0) return -1;
  const auto it = slots_.find(key);
  return it == slots_.end() ? -1 : it->second;
}

size_t LatencyHistogram::Bucket(uint64_t ns) {
  if (ns < kSub) return static_cast<size_t>(ns);
  const int e = 63 - __builtin_clzll(ns);  // >= 4
  const uint64_t sub = (ns >> (e - 4)) & (kSub - 1);
  return static_cast<size_t>(kSub + (e - 4) * kSub) + static_cast<size_t>(sub);
}

uint64_t LatencyHistogram::UpperBound(size_t b) {
  if (b < kSub) return b;
  const int e = static_cast<int>((b - kSub) / kSub) + 4;
  const uint64_t sub = (b - kSub) % kSub;
  // Bucket b holds [(16 + sub) << (e - 4), (17 + sub) << (e - 4)).
  return ((kSub + sub + 1) << (e - 4)) - 1;
}

void LatencyHistogram::Add(uint64_t ns) {
  ++buckets_[Bucket(ns)];
  ++count_;
  max_ = std::max(max_, ns);
}

uint64_t LatencyHistogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  const double want = q * static_cast<double>(count_);
  uint64_t seen = 0;
  for (size_t b = 0; b < kBuckets; ++b) {
    seen += buckets_[b];
    if (static_cast<double>(seen) >= want && buckets_[b] != 0) {
      return std::min(UpperBound(b), max_);
    }
  }
  return max_;
}

bool IsIpv4Frame(const uint8_t* f, size_t len) {
  if (len < 14) return false;
  uint16_t type = static_cast<uint16_t>(f[12] << 8 | f[13]);
  if (type == 0x8100) {
    if (len < 18) return false;
    type = static_cast<uint16_t>(f[16] << 8 | f[17]);
  }
  return type == 0x0800;
}

}  // namespace dmrswitch::trafgen
