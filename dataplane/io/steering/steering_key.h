// Which shard owns a UDP payload: the user-space twin of the sk_reuseport program, inlined into
// the kernel-mode shards' user-space steering and the DPDK shards (it runs for every datagram).
// The classifier and the owner function are the C functions of ebpf/steer_common.h, so every
// packet path picks the same shard (DESIGN.md §3, docs/ebpf.md). Pure: no libbpf, no DPDK.
#pragma once

#include <cstdint>
#include <span>

#include "ebpf/steer_common.h"

namespace dmrswitch::io {

// Why a datagram went where it went. Values equal the DMRSWITCH_STEER_CTR_* indices of
// ebpf/steer_common.h.
enum class SteerReason : uint32_t {
  kDmrd = DMRSWITCH_STEER_CTR_DMRD,                   // DMRD (HBP or OBP) / DMRE by stream ID
  kBcsq = DMRSWITCH_STEER_CTR_BCSQ,                   // BCSQ by the quenched stream ID
  kClientId = DMRSWITCH_STEER_CTR_CLIENT_ID,          // HBP client packet by repeater ID
  kDefault = DMRSWITCH_STEER_CTR_DEFAULT,             // no key: shard 0
  kSelectFailed = DMRSWITCH_STEER_CTR_SELECT_FAILED,  // BPF only: the owner's socket was missing
};

struct SteeringDecision {
  SteerReason reason = SteerReason::kDefault;
  uint32_t key = 0;    // stream or client ID; 0 when reason is kDefault
  uint32_t shard = 0;  // owner(key, nshards), or 0
};

// Classifies a UDP payload exactly as the kernel does. nshards is clamped to
// [1, DMRSWITCH_STEER_MAX_SHARDS] as in the program.
inline SteeringDecision ClassifyForSteering(std::span<const uint8_t> payload, uint32_t nshards) {
  if (nshards == 0 || nshards > DMRSWITCH_STEER_MAX_SHARDS) nshards = 1;
  SteeringDecision d;
  // The classifier reads the head only when len >= 8.
  const uint32_t len =
      payload.size() > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(payload.size());
  uint32_t counter = DMRSWITCH_STEER_CTR_DEFAULT;
  const uint32_t off = dmrswitch_steer_classify(payload.data(), len, &counter);
  if (off == 0) return d;
  d.reason = static_cast<SteerReason>(counter);
  d.key = dmrswitch_steer_load_key(payload.data() + off);
  d.shard = dmrswitch_owner(d.key, nshards);
  return d;
}

// The shard that owns a UDP payload: ClassifyForSteering(payload, nshards).shard.
inline uint32_t SteeringKeyOwner(std::span<const uint8_t> payload, uint32_t nshards) {
  return ClassifyForSteering(payload, nshards).shard;
}

}  // namespace dmrswitch::io
