#include "ctrlplane/snapshot_publisher.h"

#include <algorithm>

namespace dmrswitch::cp {

SnapshotPublisher::SnapshotPublisher(std::vector<ipc::ShardChannel> channels, ipc::PlaneInfo* info)
    : channels_(std::move(channels)),
      info_(info),
      acked_(channels_.size(), 0),
      sent_(channels_.size(), 0) {}

SnapshotPublisher::~SnapshotPublisher() {
  if (info_ == nullptr) return;
  // Reachable from a static for the rest of the process, so neither freed nor reported as a leak.
  static auto* handed_over = new std::vector<std::shared_ptr<const route::RouteSnapshot>>();
  for (auto& [generation, snap] : retained_) handed_over->push_back(std::move(snap));
  retained_.clear();
  current_.reset();
}

bool SnapshotPublisher::Publish(std::shared_ptr<const route::RouteSnapshot> snap) {
  // Recorded before any shard can see it: a control plane killed right after this line leaves
  // a successor that knows the generation exists.
  if (info_ != nullptr && !ipc::RecordSnapshot(info_, snap->generation(), snap.get())) {
    return false;
  }
  current_ = std::move(snap);
  retained_[current_->generation()] = current_;
  for (uint32_t s = 0; s < channels_.size(); ++s) SendTo(s);
  // With no shard to wait for, nothing older than the new generation is read any more.
  if (channels_.empty()) FreeAcked();
  return true;
}

void SnapshotPublisher::Adopt(std::vector<std::shared_ptr<const route::RouteSnapshot>> retained) {
  for (auto& snap : retained) {
    if (!current_ || snap->generation() > current_->generation()) current_ = snap;
    retained_[snap->generation()] = std::move(snap);
  }
  std::fill(acked_.begin(), acked_.end(), 0);
  std::fill(sent_.begin(), sent_.end(), 0);
  Retry();
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
    if (info_ != nullptr) ipc::ForgetSnapshot(info_, it->first);
    it = retained_.erase(it);
  }
}

}  // namespace dmrswitch::cp
