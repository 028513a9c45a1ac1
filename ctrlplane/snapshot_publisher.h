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
#include "dataplane/ipc/plane_info.h"
#include "dataplane/route/route_snapshot.h"

namespace dmrswitch::cp {

class SnapshotPublisher {
 public:
  // `info` (may be null) is where every retained generation is recorded, so that a restarted
  // control plane can adopt them (separate mode).
  explicit SnapshotPublisher(std::vector<ipc::ShardChannel> channels,
                             ipc::PlaneInfo* info = nullptr);
  // With a PlaneInfo, a publisher that goes away (dmrswitch-cp stopping) frees nothing: the
  // shards still read the retained generations, and the next control plane adopts them.
  ~SnapshotPublisher();
  SnapshotPublisher(const SnapshotPublisher&) = delete;
  SnapshotPublisher& operator=(const SnapshotPublisher&) = delete;

  // Sends `snap` to every shard (a full cmd ring is retried by Retry()). False, and nothing is
  // published, when the plane information block has no room to record it (shards that do not
  // ack hold PlaneInfo::kMaxRetained generations).
  bool Publish(std::shared_ptr<const route::RouteSnapshot> snap);
  // A restarted control plane takes over the generations its predecessor left (the newest is
  // current) and publishes the current one to every shard again; the older ones are freed
  // once every shard has acked it.
  void Adopt(std::vector<std::shared_ptr<const route::RouteSnapshot>> retained);
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
  ipc::PlaneInfo* info_;
  std::vector<uint64_t> acked_;
  std::vector<uint64_t> sent_;  // newest generation handed to each shard's ring
  std::shared_ptr<const route::RouteSnapshot> current_;
  std::map<uint64_t, std::shared_ptr<const route::RouteSnapshot>> retained_;
};

}  // namespace dmrswitch::cp
