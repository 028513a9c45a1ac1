#include "ctrlplane/route_snapshots.h"

#include "spdlog/spdlog.h"

namespace dmrswitch::cp {

RouteSnapshots::RouteSnapshots(std::vector<ipc::ShardChannel> channels, ipc::PlaneInfo* info,
                               route::HubPolicy policy, uint32_t client_capacity,
                               uint64_t first_generation)
    : client_capacity_(client_capacity),
      builder_(std::make_unique<route::RouteSnapshotBuilder>(std::move(policy), client_capacity)),
      publisher_(std::move(channels), info),
      next_generation_(first_generation) {}

void RouteSnapshots::ResetBuilder(route::HubPolicy policy) {
  builder_ = std::make_unique<route::RouteSnapshotBuilder>(std::move(policy), client_capacity_);
  unpublished_.reset();
}

absl::Status RouteSnapshots::Publish(route::TimeNs now, std::span<const uint8_t> hub_state,
                                     bool force) {
  if (!force && now < next_allowed_) return absl::OkStatus();
  if (unpublished_ == nullptr) {
    if (!builder_->dirty()) return absl::OkStatus();
    builder_->SetControlState(hub_state);
    auto snap = builder_->Build(next_generation_);
    if (!snap.ok()) return snap.status();
    unpublished_ = *std::move(snap);
    ++next_generation_;
  }
  next_allowed_ = now + kMinInterval;
  if (!publisher_.Publish(unpublished_)) {
    // Shards that do not ack pin old generations; keep this one and try again later.
    if (!refusal_logged_) {
      spdlog::error("snapshot g{} not published: {} generations wait for shard acks",
                    unpublished_->generation(), ipc::PlaneInfo::kMaxRetained);
      refusal_logged_ = true;
    }
    return absl::OkStatus();
  }
  refusal_logged_ = false;
  unpublished_.reset();
  return absl::OkStatus();
}

}  // namespace dmrswitch::cp
