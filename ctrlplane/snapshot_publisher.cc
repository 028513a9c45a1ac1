#include "ctrlplane/snapshot_publisher.h"

#include <algorithm>

namespace dmrswitch::cp {

SnapshotPublisher::SnapshotPublisher(std::vector<ipc::ShardChannel> channels)
    : channels_(std::move(channels)), acked_(channels_.size(), 0), sent_(channels_.size(), 0) {}

void SnapshotPublisher::Publish(std::shared_ptr<const route::RouteSnapshot> snap) {
  current_ = std::move(snap);
  retained_[current_->generation()] = current_;
  for (uint32_t s = 0; s < channels_.size(); ++s) SendTo(s);
}

void SnapshotPublisher::SendTo(uint32_t shard) {
  if (!current_ || sent_[shard] == current_->generation()) return;
  const ipc::Message m = ipc::Message::Make(
      ipc::MsgType::kSnapshotPublish, static_cast<uint8_t>(shard),
      ipc::SnapshotPublish{current_->generation(), static_cast<const void*>(current_.get())});
  if (ipc::SendMessage(channels_[shard].cmd, m)) sent_[shard] = current_->generation();
}

void SnapshotPublisher::Retry() {
  for (uint32_t s = 0; s < channels_.size(); ++s) SendTo(s);
}

void SnapshotPublisher::OnAck(uint32_t shard, uint64_t generation) {
  if (shard >= acked_.size()) return;
  acked_[shard] = std::max(acked_[shard], generation);
  FreeAcked();
}

uint64_t SnapshotPublisher::acked_by_all() const {
  if (acked_.empty()) return generation();
  return *std::min_element(acked_.begin(), acked_.end());
}

void SnapshotPublisher::FreeAcked() {
  const uint64_t floor = acked_by_all();
  // Everything older than what the slowest shard acked is unreachable from the packet plane.
  // The current generation is always kept (it is the control plane's own view too).
  for (auto it = retained_.begin(); it != retained_.end() && it->first < floor;) {
    it = retained_.erase(it);
  }
}

}  // namespace dmrswitch::cp
