// Small helpers shared by the OpenBridge/FBP, bad-input and steering end-to-end tests: hub TOML
// fragments, simulator options with short timers, polling several clients until frames arrived,
// and the hub's resident memory.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "tools/sim/dmr_calls.h"
#include "tools/sim/hbp_client.h"
#include "tools/sim/obp_peer.h"
#include "tools/sim/udp.h"

namespace dmrswitch::e2e {

inline constexpr char kHbpPassphrase[] = "passw0rd";

// [hub] + [hbp] with short status/ping timers; `extra_hub` and `extra_hbp` are appended to their
// sections (e.g. "steering = \"bpf\"\n", statics go after with HbpStatic()).
inline std::string HubHeader(uint32_t server_id, uint16_t hbp_port,
                             const std::string& extra_hub = "", const std::string& extra_hbp = "") {
  return absl::StrCat("[hub]\nserver_id = ", server_id,
                      "\nmode = \"kernel\"\nshards = 2\ncontrol_plane = \"hosted\"\n"
                      "status_interval_s = 1\n",
                      extra_hub, "\n[hbp]\nlisten = \"127.0.0.1:", hbp_port, "\"\npassphrase = \"",
                      kHbpPassphrase, "\"\n", extra_hbp, "\n");
}

// One [[hbp.static]] entry.
inline std::string HbpStatic(uint32_t client, const std::string& ts1, const std::string& ts2) {
  return absl::StrCat("[[hbp.static]]\nclient = ", client, "\nts1 = [", ts1, "]\nts2 = [", ts2,
                      "]\n\n");
}

// One [[obp]] entry (keepalive 1 s so that liveness is quick); `extra` is appended.
inline std::string ObpSection(const std::string& name, uint16_t listen_port, uint16_t target_port,
                              uint32_t network_id, const std::string& passphrase, int version,
                              const std::string& extra = "") {
  return absl::StrCat("[[obp]]\nname = \"", name, "\"\nlisten = \"127.0.0.1:", listen_port,
                      "\"\ntarget = \"127.0.0.1:", target_port, "\"\nnetwork_id = ", network_id,
                      "\npassphrase = \"", passphrase, "\"\nversion = ", version,
                      "\nkeepalive_s = 1\ndead_after_s = 10\n", extra, "\n");
}

inline sim::HbpClientOptions ClientOptions(uint16_t hub_port, uint32_t id) {
  sim::HbpClientOptions o;
  o.id = id;
  o.passphrase = kHbpPassphrase;
  o.hub = {"127.0.0.1", hub_port};
  o.retry_interval = absl::Seconds(1);
  o.ping_interval = absl::Seconds(1);
  return o;
}

inline sim::ObpPeerOptions PeerOptions(sim::ObpMode mode, uint16_t hub_port, uint16_t local_port,
                                       uint32_t network_id, const std::string& passphrase) {
  sim::ObpPeerOptions o;
  o.mode = mode;
  o.network_id = network_id;
  o.passphrase = passphrase;
  o.hub = {"127.0.0.1", hub_port};
  o.local = {"127.0.0.1", local_port};
  o.keepalive_interval = absl::Seconds(1);
  return o;
}

// A group voice call of `superframes` superframes at the real 60 ms cadence (the hub's rate limit
// allows no faster beyond 18 packets): 1 header + 6 × superframes bursts + 1 terminator.
inline sim::VoiceCallSpec GroupCall(uint32_t tg, unsigned ts, uint32_t rf_src,
                                    unsigned superframes = 2) {
  sim::VoiceCallSpec s;
  s.tg = tg;
  s.ts = ts;
  s.rf_src = rf_src;
  s.superframes = superframes;
  return s;
}
inline size_t FramesOf(const sim::VoiceCallSpec& s) { return 2 + 6 * size_t{s.superframes}; }

// Polls `items` until `done()` holds, then `settle` longer (late or duplicate frames show up).
inline bool PollThenSettle(std::vector<sim::Pollable*> items, const std::function<bool()>& done,
                           absl::Duration timeout,
                           absl::Duration settle = absl::Milliseconds(300)) {
  const bool ok = sim::PollUntil(items, done, timeout);
  sim::PollFor(items, settle);
  return ok;
}

// Polls `items` (peers keep sending BCKA, clients RPTPING) until the hub's log shows `needle`
// after byte `from`.
template <typename Hub>
bool PollUntilLog(const Hub& hub, std::vector<sim::Pollable*> items, std::string_view needle,
                  absl::Duration timeout, size_t from = 0) {
  return sim::PollUntil(
      items, [&] { return hub.Log().find(needle, from) != std::string::npos; }, timeout);
}

// How many lines of `text` contain `needle` (start with it, if `at_start`).
inline size_t CountLines(const std::string& text, const std::string& needle,
                         bool at_start = false) {
  size_t n = 0;
  for (size_t at = 0; at < text.size();) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + at, end - at);
    n += at_start ? line.starts_with(needle) : line.find(needle) != std::string_view::npos;
    at = end + 1;
  }
  return n;
}

// VmRSS of `pid` in KiB (0 if unreadable).
inline uint64_t RssKib(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

}  // namespace dmrswitch::e2e
