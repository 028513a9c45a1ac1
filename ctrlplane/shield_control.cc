#include "ctrlplane/shield_control.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"

namespace dmrswitch::cp {
namespace {

// How often a control plane without the shield's pins looks for them again.
constexpr route::TimeNs kRetryOpen = 5 * route::kSec;

io::XdpRate RateOf(const HubConfig& c) {
  return io::XdpRate{c.xdp.source_pps, c.xdp.source_burst, c.xdp.source_prefix6};
}

std::vector<io::XdpSource> ExemptOf(const HubConfig& c) {
  std::vector<io::XdpSource> out;
  for (const XdpSource& s : ShieldExemptSources(c)) {
    out.push_back(io::XdpSource{s.ip, s.port, s.v6, s.ip6});
  }
  return out;
}

}  // namespace

ShieldControl::ShieldControl(const HubConfig& config)
    : configured_(!config.xdp.interface.empty()),
      runtime_name_(config.hub.runtime_name),
      rate_(RateOf(config)),
      exempt_(ExemptOf(config)) {}

void ShieldControl::Tick(route::TimeNs now) {
  if (!configured_ || maps_.has_value() || now < next_open_) return;
  next_open_ = now + kRetryOpen;
  absl::StatusOr<io::XdpShieldMaps> maps = io::XdpShieldMaps::OpenPinned(runtime_name_);
  if (!maps.ok()) {
    const std::string error(maps.status().message());
    if (error != open_error_) spdlog::warn("{}", error);
    open_error_ = error;
    return;
  }
  maps_ = *std::move(maps);
  open_error_.clear();
  // The dp filled the maps from the same file at attach; a reload may have changed them since.
  if (absl::Status st = maps_->SetRate(rate_); !st.ok())
    spdlog::error("{}", std::string(st.message()));
  if (absl::Status st = maps_->SetExempt(exempt_); !st.ok())
    spdlog::error("{}", std::string(st.message()));
  spdlog::info("XDP shield: control plane holds its maps (runtime {}): {} exempt source(s), {}",
               runtime_name_, exempt_.size(),
               rate_.source_pps == 0
                   ? std::string("no rate limit")
                   : absl::StrCat(rate_.source_pps, " pps per source, burst ", rate_.source_burst));
}

absl::Status ShieldControl::Apply(const HubConfig& config) {
  rate_ = RateOf(config);
  exempt_ = ExemptOf(config);
  if (!maps_.has_value()) return absl::OkStatus();  // applied when the pins are opened
  if (absl::Status st = maps_->SetRate(rate_); !st.ok()) return st;
  return maps_->SetExempt(exempt_);
}

absl::Status ShieldControl::Unavailable() const {
  if (!configured_) {
    return absl::FailedPreconditionError("this hub has no XDP shield ([xdp] interface is not set)");
  }
  return absl::UnavailableError(absl::StrCat("the XDP shield is not attached: ", open_error_));
}

absl::Status ShieldControl::Block(uint32_t ip, std::optional<std::chrono::nanoseconds> duration) {
  if (!maps_.has_value()) return Unavailable();
  return maps_->Block(ip, duration);
}

absl::Status ShieldControl::Block6(const std::array<uint8_t, 16>& ip6, uint32_t prefix_len,
                                   std::optional<std::chrono::nanoseconds> duration) {
  if (!maps_.has_value()) return Unavailable();
  return maps_->Block6(ip6, prefix_len, duration);
}

absl::Status ShieldControl::Unblock(uint32_t ip) {
  if (!maps_.has_value()) return Unavailable();
  return maps_->Unblock(ip);
}

absl::Status ShieldControl::Unblock6(const std::array<uint8_t, 16>& ip6, uint32_t prefix_len) {
  if (!maps_.has_value()) return Unavailable();
  return maps_->Unblock6(ip6, prefix_len);
}

absl::StatusOr<std::vector<io::XdpBlockedSource>> ShieldControl::Blocked() {
  if (!maps_.has_value()) return Unavailable();
  return maps_->Blocked();
}

std::string ShieldControl::StatusText() const {
  if (!configured_) return "xdp off";
  if (!maps_.has_value()) return "xdp not attached";
  absl::StatusOr<std::vector<io::XdpCounter>> counters = maps_->Counters();
  if (!counters.ok())
    return absl::StrCat("xdp counters unreadable (", counters.status().message(), ")");
  std::vector<std::string> parts;
  for (const io::XdpCounter& c : *counters) {
    if (c.value != 0) parts.push_back(absl::StrCat(std::string(c.name), " ", c.value));
  }
  return parts.empty() ? std::string("xdp idle") : absl::StrCat("xdp ", absl::StrJoin(parts, ", "));
}

nlohmann::json ShieldControl::StatusJson() {
  if (!configured_) return {{"state", "off"}};
  if (!maps_.has_value()) return {{"state", "not attached"}, {"error", open_error_}};
  nlohmann::json verdicts = nlohmann::json::object();
  if (absl::StatusOr<std::vector<io::XdpCounter>> counters = maps_->Counters(); counters.ok()) {
    for (const io::XdpCounter& c : *counters) verdicts[std::string(c.name)] = c.value;
  }
  size_t blocked = 0;
  if (absl::StatusOr<std::vector<io::XdpBlockedSource>> b = maps_->Blocked(); b.ok()) {
    blocked = b->size();
  }
  return {{"state", "attached"},
          {"runtime_name", runtime_name_},
          {"source_pps", rate_.source_pps},
          {"source_burst", rate_.source_burst},
          {"exempt", exempt_.size()},
          {"blocked", blocked},
          {"verdicts", std::move(verdicts)}};
}

}  // namespace dmrswitch::cp
