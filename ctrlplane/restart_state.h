// RestartState: what a restarted control plane continues from (DESIGN.md §6 "Restart"). The cp
// writes it into the snapshots it publishes, as bytes the packet plane never reads: each client's
// record (its login and its subscriptions) in the client's chunk, the hub-wide part (streams
// started) in the root, and where subscribers were last heard as the snapshot's subscriber
// locations. A dmrswitch-cp that starts while the dp runs reads the current snapshot back
// (ReadRestartState) and restores its components from it, as a supervised component restart does
// from the last published state. Kept per client, the records cost a login its own record, not
// the whole hub's.
//
// Encoding: MessagePack of JSON documents (nlohmann-json) with a format version, so a newer cp
// refuses an unknown layout with a clear message instead of misreading it.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "ctrlplane/login/hbp_auth.h"
#include "ctrlplane/subscriptions/subscriptions.h"
#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/types.h"

namespace dmrswitch::cp {

struct HeardSubscriber {
  uint32_t rf_src = 0;
  route::SystemRef where;  // a client slot or a peer index
  uint8_t ts = 0;
  route::TimeNs at = 0;
  bool operator==(const HeardSubscriber&) const = default;
};

struct RestartState {
  std::vector<ClientRecord> clients;
  std::vector<RestoredClient> subscriptions;
  std::vector<HeardSubscriber> heard;  // private calls and unit data (Part A §9, §3.8)
  uint64_t streams_started = 0;
};

// One client's record: its login and its subscriptions.
std::vector<uint8_t> EncodeClientRestart(const ClientRecord& client, const RestoredClient& subs);
absl::StatusOr<std::pair<ClientRecord, RestoredClient>> DecodeClientRestart(
    std::span<const uint8_t> bytes);
// The hub-wide part (RouteSnapshot::control_state).
std::vector<uint8_t> EncodeHubRestart(uint64_t streams_started);
absl::StatusOr<uint64_t> DecodeHubRestart(std::span<const uint8_t> bytes);

// Everything a snapshot carries for a restarted control plane.
absl::StatusOr<RestartState> ReadRestartState(const route::RouteSnapshot& snap);

}  // namespace dmrswitch::cp
