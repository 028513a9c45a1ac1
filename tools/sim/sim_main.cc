// dmrswitch-sim: logs N simulated hotspots into a hub, keeps M voice calls going for a while and
// reports frames sent/received per second. Exits 1 if any login fails, 2 on bad arguments.
//
//   dmrswitch-sim --hub 127.0.0.1:62031 --clients 10 --first-id 3120001 --passphrase passw0rd
//                 --options "TS2=91" --calls 2 --tg 91 --ts 2 --cadence-ms 60 --duration-s 10
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tools/sim/hbp_client.h"
#include "tools/sim/udp.h"

namespace dmrswitch::sim {
namespace {

constexpr char kUsage[] = R"(usage: dmrswitch-sim [flags]
  --hub HOST:PORT        hub HBP listener (127.0.0.1:62031)
  --local ADDR           local IPv4 address to bind the clients to (127.0.0.1)
  --clients N            hotspots to log in (1)
  --first-id ID          ID of the first hotspot; the others count up (3120001)
  --passphrase X         login passphrase (passw0rd)
  --options S            RPTO options string ("")
  --callsign C           RPTC callsign (N0CALL)
  --calls M              concurrent voice calls, one per client (0..N) (1)
  --tg T                 destination talkgroup (91)
  --ts 1|2               timeslot (2)
  --private              private (unit) calls instead of group calls
  --superframes K        superframes per call before the next one starts (10)
  --cadence-ms MS        frame spacing, 0 = flat out (60)
  --duration-s S         traffic duration (10)
  --ping-s S             RPTPING interval (10)
  --login-timeout-s S    time allowed for all logins (10)
  --quiet                no per-second lines
)";

struct Flags {
  std::string hub = "127.0.0.1:62031";
  std::string local = "127.0.0.1";
  uint32_t clients = 1;
  uint32_t first_id = 3120001;
  std::string passphrase = "passw0rd";
  std::string options;
  std::string callsign = "N0CALL";
  uint32_t calls = 1;
  uint32_t tg = 91;
  uint32_t ts = 2;
  bool private_call = false;
  uint32_t superframes = 10;
  uint32_t cadence_ms = 60;
  double duration_s = 10;
  double ping_s = 10;
  double login_timeout_s = 10;
  bool quiet = false;
};

bool ParseFlags(int argc, char** argv, Flags* f, std::string* error) {
  std::map<std::string_view, std::string*> strings = {{"hub", &f->hub},
                                                      {"local", &f->local},
                                                      {"passphrase", &f->passphrase},
                                                      {"options", &f->options},
                                                      {"callsign", &f->callsign}};
  std::map<std::string_view, uint32_t*> ints = {{"clients", &f->clients},
                                                {"first-id", &f->first_id},
                                                {"calls", &f->calls},
                                                {"tg", &f->tg},
                                                {"ts", &f->ts},
                                                {"superframes", &f->superframes},
                                                {"cadence-ms", &f->cadence_ms}};
  std::map<std::string_view, double*> doubles = {{"duration-s", &f->duration_s},
                                                 {"ping-s", &f->ping_s},
                                                 {"login-timeout-s", &f->login_timeout_s}};
  std::map<std::string_view, bool*> bools = {{"private", &f->private_call}, {"quiet", &f->quiet}};
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      *error = "";
      return false;
    }
    if (!arg.starts_with("--")) {
      *error = absl::StrFormat("unexpected argument '%s'", arg);
      return false;
    }
    arg.remove_prefix(2);
    std::string_view name = arg;
    std::optional<std::string_view> value;
    if (size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    if (auto b = bools.find(name); b != bools.end()) {
      *b->second = !value || *value == "1" || *value == "true";
      continue;
    }
    if (!value) {
      if (i + 1 >= argc) {
        *error = absl::StrFormat("--%s needs a value", name);
        return false;
      }
      value = argv[++i];
    }
    bool ok = true;
    if (auto s = strings.find(name); s != strings.end()) {
      *s->second = std::string(*value);
    } else if (auto n = ints.find(name); n != ints.end()) {
      ok = absl::SimpleAtoi(std::string(*value), n->second);
    } else if (auto d = doubles.find(name); d != doubles.end()) {
      ok = absl::SimpleAtod(std::string(*value), d->second) && *d->second >= 0;
    } else {
      *error = absl::StrFormat("unknown flag --%s", name);
      return false;
    }
    if (!ok) {
      *error = absl::StrFormat("bad value for --%s: '%s'", name, *value);
      return false;
    }
  }
  if (f->clients == 0) *error = "--clients must be at least 1";
  if (f->calls > f->clients) *error = "--calls must not exceed --clients (one call per hotspot)";
  if (f->ts != 1 && f->ts != 2) *error = "--ts must be 1 or 2";
  if (f->superframes == 0) *error = "--superframes must be at least 1";
  return error->empty();
}

// Subscriber IDs are 24-bit: a 9-digit hotspot ID (DMR ID + 2-digit suffix) talks as its owner.
uint32_t SubscriberOf(uint32_t hotspot_id) {
  return hotspot_id < (1u << 24) ? hotspot_id : hotspot_id / 100;
}

int Run(const Flags& f) {
  absl::StatusOr<Endpoint> hub = ParseEndpoint(f.hub);
  if (!hub.ok()) {
    std::fprintf(stderr, "dmrswitch-sim: %s\n", hub.status().ToString().c_str());
    return 2;
  }
  std::vector<std::unique_ptr<HbpClient>> clients;
  std::vector<Pollable*> all;
  for (uint32_t i = 0; i < f.clients; ++i) {
    HbpClientOptions o;
    o.id = f.first_id + i;
    o.passphrase = f.passphrase;
    o.hub = *hub;
    o.options = f.options;
    o.callsign = f.callsign;
    o.local = Endpoint{f.local, 0};
    o.ping_interval = absl::Seconds(f.ping_s);
    o.retry_interval = absl::Seconds(std::min(f.login_timeout_s / 3 + 0.1, 10.0));
    o.collect_frames = false;
    clients.push_back(std::make_unique<HbpClient>(std::move(o)));
    all.push_back(clients.back().get());
  }

  // Logins, all at once.
  const absl::Time login_start = absl::Now();
  for (auto& c : clients) c->StartLogin();
  auto settled = [&] {
    return std::all_of(clients.begin(), clients.end(), [](const auto& c) {
      return c->running() || !c->status().ok() || c->poll_fd() < 0;
    });
  };
  PollUntil(all, settled, absl::Seconds(f.login_timeout_s));
  size_t ok = 0;
  for (auto& c : clients) ok += c->running() ? 1 : 0;
  std::printf("login: %zu/%zu ok in %.3f s\n", ok, clients.size(),
              absl::ToDoubleSeconds(absl::Now() - login_start));
  if (ok != clients.size()) {
    size_t shown = 0;
    for (auto& c : clients) {
      if (c->running() || ++shown > 10) continue;
      const std::string why =
          c->status().ok()
              ? absl::StrFormat("no answer, state %s%s", HbpClientStateName(c->state()),
                                c->counters().icmp_errors > 0 ? " (hub port unreachable)" : "")
              : c->status().ToString();
      std::printf("login failed: %u from %s: %s\n", c->id(), c->local_address().ToString().c_str(),
                  why.c_str());
    }
    for (auto& c : clients) c->Close();
    return 1;
  }

  // Traffic: call k runs on client k, a new call starting as soon as the previous one ended.
  const absl::Duration cadence = absl::Milliseconds(f.cadence_ms);
  uint64_t calls_started = 0;
  auto tx = [&] {
    uint64_t n = 0;
    for (auto& c : clients) n += c->counters().dmrd_tx;
    return n;
  };
  auto rx = [&] {
    uint64_t n = 0;
    for (auto& c : clients) n += c->counters().dmrd_rx;
    return n;
  };
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(f.duration_s);
  absl::Time next_report = start + absl::Seconds(1);
  uint64_t last_tx = 0, last_rx = 0;
  while (absl::Now() < end) {
    for (uint32_t k = 0; k < f.calls; ++k) {
      HbpClient& c = *clients[k];
      if (c.transmitting()) continue;
      c.StartVoiceCall({.tg = f.tg,
                        .ts = f.ts,
                        .rf_src = SubscriberOf(c.id()),
                        .superframes = f.superframes,
                        .cadence = cadence,
                        .private_call = f.private_call});
      ++calls_started;
    }
    const absl::Time now = absl::Now();
    PollOnce(all, std::min({next_report, end}) - now);
    if (absl::Now() >= next_report) {
      const uint64_t t = tx(), r = rx();
      if (!f.quiet) {
        std::printf("t=%5.1fs tx %8llu fps rx %8llu fps calls %llu\n",
                    absl::ToDoubleSeconds(next_report - start),
                    static_cast<unsigned long long>(t - last_tx),
                    static_cast<unsigned long long>(r - last_rx),
                    static_cast<unsigned long long>(calls_started));
        std::fflush(stdout);
      }
      last_tx = t;
      last_rx = r;
      next_report += absl::Seconds(1);
    }
  }
  // Wind down, so that the counts are final: the calls in progress finish (no stream is cut
  // short of its terminator, and no frame is sent after the count below), then the frames in
  // flight arrive — until rx has stood still for 300 ms (at most 3 s).
  const absl::Duration longest_call = cadence * (6 * f.superframes + 2) + absl::Seconds(1);
  PollUntil(
      all,
      [&] {
        return std::none_of(clients.begin(), clients.end(),
                            [](const auto& c) { return c->transmitting(); });
      },
      longest_call);
  const double secs = std::max(absl::ToDoubleSeconds(absl::Now() - start), 1e-9);
  const absl::Time drain_end = absl::Now() + absl::Seconds(3);
  uint64_t drained = rx();
  absl::Time quiet_since = absl::Now();
  while (absl::Now() < drain_end && absl::Now() - quiet_since < absl::Milliseconds(300)) {
    PollFor(all, absl::Milliseconds(20));
    if (const uint64_t r = rx(); r != drained) {
      drained = r;
      quiet_since = absl::Now();
    }
  }
  HbpClientCounters sum;
  for (auto& c : clients) {
    const HbpClientCounters& x = c->counters();
    sum.pongs += x.pongs;
    sum.naks += x.naks;
    sum.mstcl += x.mstcl;
    sum.timeouts += x.timeouts;
    sum.logins += x.logins;
    sum.dmrd_tx_errors += x.dmrd_tx_errors;
  }
  std::string last_tx_error;
  for (auto& c : clients) {
    if (!c->last_tx_error().empty()) last_tx_error = c->last_tx_error();
  }
  const uint64_t t = tx(), r = rx();
  size_t still_running = 0;
  for (auto& c : clients) still_running += c->running() ? 1 : 0;
  std::printf(
      "summary: %.1f s, %zu clients (%zu running), %llu calls, tx %llu frames (%.0f fps), "
      "rx %llu frames (%.0f fps), logins %llu, pongs %llu, naks %llu, mstcl %llu, timeouts %llu, "
      "send errors %llu%s\n",
      secs, clients.size(), still_running, static_cast<unsigned long long>(calls_started),
      static_cast<unsigned long long>(t), static_cast<double>(t) / secs,
      static_cast<unsigned long long>(r), static_cast<double>(r) / secs,
      static_cast<unsigned long long>(sum.logins), static_cast<unsigned long long>(sum.pongs),
      static_cast<unsigned long long>(sum.naks), static_cast<unsigned long long>(sum.mstcl),
      static_cast<unsigned long long>(sum.timeouts),
      static_cast<unsigned long long>(sum.dmrd_tx_errors),
      last_tx_error.empty() ? "" : (" (last: " + last_tx_error + ")").c_str());
  for (auto& c : clients) c->Close();
  return 0;
}

}  // namespace
}  // namespace dmrswitch::sim

int main(int argc, char** argv) {
  dmrswitch::sim::Flags flags;
  std::string error;
  if (!dmrswitch::sim::ParseFlags(argc, argv, &flags, &error)) {
    if (!error.empty()) std::fprintf(stderr, "dmrswitch-sim: %s\n", error.c_str());
    std::fputs(dmrswitch::sim::kUsage, error.empty() ? stdout : stderr);
    return error.empty() ? 0 : 2;
  }
  return dmrswitch::sim::Run(flags);
}
