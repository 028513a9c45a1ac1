// ShieldControl: the control plane's side of the XDP shield (docs/ebpf.md, issue 9). The packet
// plane attaches the shield (kernel mode) or has DPDK load it (afxdp mode) and pins its maps
// under /sys/fs/bpf/dmrswitch/<runtime_name>/; this component opens them by that name — the same
// whether the control plane is hosted or dmrswitch-cp, which runs in the dp's mount namespace —
// and owns what the shield lets through from then on:
//  * the rate parameters and the exempt sources ([xdp] source_pps, source_burst, exempt, and
//    every [[obp]] target), at start and on every reload that changes them;
//  * the block list: sources HbpAuth blocked for a login flood (for the same time), and
//    dmrswitch-ctl block/unblock;
// and reads the verdict counters by name for the status line and dmrswitch-ctl status.
//
// Without [xdp] interface there is no shield: every call says so (block/unblock fail with
// FailedPrecondition). When the pins are not there yet (the dp could not attach an "auto"
// shield, or is still starting), Tick retries now and then.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ctrlplane/config/config.h"
#include "dataplane/io/xdp/xdp_shield.h"
#include "dataplane/route/types.h"
#include "nlohmann/json.hpp"

namespace dmrswitch::cp {

class ShieldControl {
 public:
  explicit ShieldControl(const HubConfig& config);

  // [xdp] interface is set: the dp runs a shield.
  bool configured() const { return configured_; }
  // The pinned maps are open.
  bool open() const { return maps_.has_value(); }

  // Opens the pins if they are not open yet, at most once per `retry` (status-line cadence), and
  // then applies the configuration's rate and exempt sources.
  void Tick(route::TimeNs now);
  // A reload changed [xdp] source_pps/source_burst/exempt or the peers: applied at once.
  absl::Status Apply(const HubConfig& config);

  // Blocks ip on the hub's ports for `duration` (nullopt: until unblocked). Blocking again
  // replaces the expiry.
  absl::Status Block(uint32_t ip, std::optional<std::chrono::nanoseconds> duration);
  // The same for an IPv6 address's /128 or /64.
  absl::Status Block6(const std::array<uint8_t, 16>& ip6, uint32_t prefix_len,
                      std::optional<std::chrono::nanoseconds> duration);
  // NotFound when ip was not blocked.
  absl::Status Unblock(uint32_t ip);
  absl::Status Unblock6(const std::array<uint8_t, 16>& ip6, uint32_t prefix_len);
  absl::StatusOr<std::vector<io::XdpBlockedSource>> Blocked();

  // For the status line: "xdp pass_hub 1234, drop_rate_limited 56" (the non-zero verdicts, by
  // name), or "xdp off" / "xdp not attached (...)".
  std::string StatusText() const;
  // For dmrswitch-ctl status: state, every verdict by name, blocked sources.
  nlohmann::json StatusJson();

 private:
  absl::Status Unavailable() const;

  bool configured_ = false;
  std::string runtime_name_;
  io::XdpRate rate_;
  std::vector<io::XdpSource> exempt_;
  std::optional<io::XdpShieldMaps> maps_;
  std::string open_error_;
  route::TimeNs next_open_ = 0;
};

}  // namespace dmrswitch::cp
