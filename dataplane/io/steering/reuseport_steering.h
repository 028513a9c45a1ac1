// Kernel-mode steering: the sk_reuseport program (ebpf/reuseport_steer.bpf.c) that hands each
// datagram of a listener to the socket of the shard that owns it, and the same classification
// in user space for when the kernel refuses the program (docs/ebpf.md).
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dataplane/io/steering/steering_key.h"

struct reuseport_steer;  // the bpftool skeleton; kept out of this header

namespace dmrswitch::io {

// One loaded instance of the steering program for one listener group (the HBP listener, or one
// OpenBridge listener). Each instance has its own socket array and counters: a program's map
// references are fixed at load, so one group per instance keeps the socket array index equal to
// the shard number without any per-group indirection in the fast path.
class ReuseportSteering {
 public:
  static constexpr uint32_t kMaxShards = 64;

  struct Counters {
    uint64_t steered_dmrd = 0;
    uint64_t steered_bcsq = 0;
    uint64_t steered_client_id = 0;
    uint64_t default_shard = 0;  // "default" is a keyword
    uint64_t select_failed = 0;

    uint64_t total() const {
      return steered_dmrd + steered_bcsq + steered_client_id + default_shard + select_failed;
    }
  };

  // Opens and loads the program for nshards shards (1..kMaxShards). Fails with a status that
  // names the missing privilege when the kernel refuses (EPERM: needs CAP_BPF, or root).
  static absl::StatusOr<std::unique_ptr<ReuseportSteering>> Load(uint32_t nshards);

  ~ReuseportSteering();
  ReuseportSteering(const ReuseportSteering&) = delete;
  ReuseportSteering& operator=(const ReuseportSteering&) = delete;

  // fds[i] is shard i's socket of one listener, already bound with SO_REUSEPORT to the same
  // address; fds.size() must equal nshards. Fills the socket array, then attaches the program to
  // the group. Call once per instance. The sockets keep the program (and its maps) alive after
  // this object is destroyed; closing a socket removes it from the array.
  absl::Status AttachGroup(std::span<const int> fds);

  // Verdicts so far, summed over CPUs. All zero if the counter map cannot be read.
  Counters counters() const;

  uint32_t nshards() const { return nshards_; }
  int prog_fd() const;

 private:
  ReuseportSteering(reuseport_steer* skel, uint32_t nshards) : skel_(skel), nshards_(nshards) {}

  reuseport_steer* skel_;
  uint32_t nshards_;
  bool attached_ = false;
};

}  // namespace dmrswitch::io
