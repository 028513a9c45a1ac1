// RestartState: what a restarted control plane continues from (DESIGN.md §6 "Restart"). The cp
// writes it into every snapshot it publishes (RouteSnapshot::control_state(), bytes the packet
// plane never reads); a dmrswitch-cp that starts while the dp runs reads the current snapshot's
// copy back and restores its components from it, as a supervised component restart does from
// the last published state.
//
// Encoding: MessagePack of a JSON document (nlohmann-json) with a format version, so a newer cp
// refuses an unknown layout with a clear message instead of misreading it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "ctrlplane/login/hbp_auth.h"
#include "ctrlplane/subscriptions/subscriptions.h"
#include "dataplane/route/types.h"

namespace dmrswitch::cp {

struct HeardSubscriber {
  uint32_t rf_src = 0;
  uint32_t slot = 0;
  uint8_t ts = 0;
  route::TimeNs at = 0;
  bool operator==(const HeardSubscriber&) const = default;
};

struct RestartState {
  std::vector<ClientRecord> clients;
  std::vector<RestoredClient> subscriptions;
  std::vector<HeardSubscriber> heard;  // unit data routing (PROTOCOL.md §3.8)
  uint64_t streams_started = 0;
};

std::vector<uint8_t> EncodeRestartState(const RestartState& state);
absl::StatusOr<RestartState> DecodeRestartState(std::span<const uint8_t> bytes);

}  // namespace dmrswitch::cp
