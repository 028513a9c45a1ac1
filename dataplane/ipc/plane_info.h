// PlaneInfo: the packet plane's notice board in shared memory (DESIGN.md §2, §6). dmrswitch-dp
// creates it at start as a named memzone; dmrswitch-cp (a DPDK secondary process) looks it up to
// learn what to attach to, and keeps there what a restarted control plane needs to continue:
// which snapshot generations exist and which one is current.
//
// Ownership: the dp writes the identity block once, before any cp can attach. Everything else
// belongs to the one attached control plane (claimed with cp_pid). A restarted cp reads the
// previous one's records after that process is gone, so the records need no lock; the atomics
// only keep a dp-side reader (the attach log line) well defined.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/route/types.h"

namespace dmrswitch::ipc {

// `generation` is stored after `snapshot` and cleared before it: a reader (a cp restarted after
// its predecessor was killed mid-update) never takes a half-written record for a full one.
struct SnapshotRecord {
  std::atomic<uint64_t> generation{0};  // 0: empty entry
  std::atomic<const void*> snapshot{nullptr};
};

struct PlaneInfo {
  static constexpr uint32_t kMagic = 0x44535750;  // "DSWP"
  static constexpr uint32_t kLayoutVersion = 3;   // 3: listeners are route::Endpoint (IPv6)
  static constexpr uint32_t kMaxRetained = 64;
  static constexpr uint32_t kMaxListeners = 257;  // HBP + one per [[obp]] peer at most

  // --- written once by the dp ---
  std::atomic<uint32_t> magic;  // written last: a cp that sees it sees the rest
  uint32_t layout_version;
  uint32_t nshards;
  uint32_t client_capacity;
  // The packet plane's listeners as configured at its start (route::kHbpListener first): the
  // control plane serves a peer on the listener of its listen address.
  uint32_t nlisteners;
  route::Endpoint listeners[kMaxListeners];
  // The build both processes come from: snapshots and messages are read as this build lays them
  // out, so a cp from another build is refused (upgrade both, after a drain).
  char build[48];
  int32_t dp_pid;
  uint32_t hosted;         // 1: the control plane runs inside the dp
  uint64_t dp_started_ns;  // wall clock at the dp's start (a cp tells dp restarts apart by it)
  char ring_prefix[24];    // ChannelSet prefix

  // --- owned by the attached control plane ---
  std::atomic<int32_t> cp_pid;  // 0: none attached
  // hub.log_level as the control plane last applied it (spdlog level number, -1: never): the dp
  // follows it, so a reload changes the log level of both processes.
  std::atomic<int32_t> log_level;
  std::atomic<uint64_t> cp_attaches;
  // The newest published generation; its record is in `retained`.
  std::atomic<uint64_t> current_generation;
  // Every generation published and not yet freed (a shard may still read it).
  SnapshotRecord retained[kMaxRetained];
};

// dp: creates the memzone "<ring_prefix>_info" and fills the identity block.
absl::StatusOr<PlaneInfo*> CreatePlaneInfo(const std::string& ring_prefix, uint32_t nshards,
                                           uint32_t client_capacity,
                                           std::span<const route::Endpoint> listeners, bool hosted);
// The listeners the dp recorded.
std::vector<route::Endpoint> PlaneListeners(const PlaneInfo& info);
// cp: finds the memzone and checks its layout, the build, and that the configuration agrees with
// the dp on what sizes the dp's tables (a changed file needs a dp restart first).
absl::StatusOr<PlaneInfo*> AttachPlaneInfo(const std::string& ring_prefix, uint32_t nshards,
                                           uint32_t client_capacity);

// Whether process `pid` runs (not gone, not a zombie).
bool ProcessAlive(pid_t pid);

// Claims the control plane's part of `info` for process `pid`. Refused while another live
// process holds it (a cp that died without releasing is detected with kill(pid, 0)).
absl::Status ClaimControl(PlaneInfo* info, pid_t pid);
void ReleaseControl(PlaneInfo* info, pid_t pid);

// Record keeping for the snapshot publisher. False when all kMaxRetained entries are in use.
bool RecordSnapshot(PlaneInfo* info, uint64_t generation, const void* snapshot);
void ForgetSnapshot(PlaneInfo* info, uint64_t generation);

}  // namespace dmrswitch::ipc
