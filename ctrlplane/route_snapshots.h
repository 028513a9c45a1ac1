// RouteSnapshots: the control plane's side of the routing snapshots (DESIGN.md §6). The
// components' changes go into one persistent builder (route::RouteSnapshotBuilder: a change
// rebuilds only the pieces it touches); a burst of changes becomes one generation, built at most
// every `kMinInterval`; the publisher hands it to every shard, keeps it until every shard acked a
// newer one, and records it for a successor control plane.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "ctrlplane/snapshot_publisher.h"
#include "dataplane/route/route_snapshot.h"

namespace dmrswitch::cp {

class RouteSnapshots {
 public:
  static constexpr route::TimeNs kMinInterval = 20 * route::kMs;

  RouteSnapshots(std::vector<ipc::ShardChannel> channels, ipc::PlaneInfo* info,
                 route::HubPolicy policy, uint32_t client_capacity, uint64_t first_generation = 1);

  // Where changes go (the next Publish carries them).
  route::RouteSnapshotBuilder& builder() { return *builder_; }
  // Starts over from an empty builder (a component restart or a successor control plane feeds
  // it the whole state again); the published generations stay.
  void ResetBuilder(route::HubPolicy policy);

  // Builds and publishes a generation if anything changed and kMinInterval has passed since the
  // last one (`force`: now). OK and nothing published when there is nothing to do, when it is too
  // early, or when the shards have not acked enough generations to record another (retried).
  // `hub_state` is the control plane's hub-wide restart record.
  absl::Status Publish(route::TimeNs now, std::span<const uint8_t> hub_state, bool force = false);

  // Changes that no published generation carries yet (in the builder, or built and waiting for
  // room to publish).
  bool pending() const { return builder_->dirty() || unpublished_ != nullptr; }

  SnapshotPublisher& publisher() { return publisher_; }
  const SnapshotPublisher& publisher() const { return publisher_; }
  uint64_t generation() const { return publisher_.generation(); }
  // A successor continues the generation numbers of what it adopted.
  void ContinueAfter(uint64_t generation) { next_generation_ = generation + 1; }
  // The last build's work (benchmarks).
  const route::RouteSnapshotBuilder::BuildStats& last_build() const {
    return builder_->last_build();
  }

 private:
  uint32_t client_capacity_;
  std::unique_ptr<route::RouteSnapshotBuilder> builder_;
  SnapshotPublisher publisher_;
  uint64_t next_generation_;
  route::TimeNs next_allowed_ = 0;
  bool refusal_logged_ = false;
  std::shared_ptr<const route::RouteSnapshot> unpublished_;
};

}  // namespace dmrswitch::cp
