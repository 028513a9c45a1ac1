// Publishes routing snapshots to the shards and frees old generations (DESIGN.md §6).
//
// The control plane builds an immutable RouteSnapshot, sends SnapshotPublish(generation) to
// every shard, and keeps the snapshot alive. Each shard switches at the top of its loop and acks;
// shards handle publishes in order, so a shard that acked g reads nothing older than g. A
// generation is freed once every shard has acked it or a newer one — never while a shard may
// still read it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "dataplane/ipc/channel.h"
#include "dataplane/route/route_snapshot.h"

namespace dmrswitch::cp {

class SnapshotPublisher {
 public:
  explicit SnapshotPublisher(std::vector<ipc::ShardChannel> channels);

  // Sends `snap` to every shard (a full cmd ring is retried by Retry()).
  void Publish(std::shared_ptr<const route::RouteSnapshot> snap);
  void OnAck(uint32_t shard, uint64_t generation);
  // Re-sends publishes that did not fit in a cmd ring. Call every loop.
  void Retry();

  std::shared_ptr<const route::RouteSnapshot> current() const { return current_; }
  uint64_t generation() const { return current_ ? current_->generation() : 0; }
  // The newest generation every shard routes with (0: none yet).
  uint64_t acked_by_all() const;
  size_t retained() const { return retained_.size(); }
  uint64_t acked(uint32_t shard) const { return acked_[shard]; }

 private:
  void SendTo(uint32_t shard);
  void FreeAcked();

  std::vector<ipc::ShardChannel> channels_;
  std::vector<uint64_t> acked_;
  std::vector<uint64_t> sent_;  // newest generation handed to each shard's ring
  std::shared_ptr<const route::RouteSnapshot> current_;
  std::map<uint64_t, std::shared_ptr<const route::RouteSnapshot>> retained_;
};

}  // namespace dmrswitch::cp
