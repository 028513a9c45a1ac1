// Which shard owns a key (a stream ID or a client ID). One definition for C++ and BPF C: the
// sk_reuseport program and the DPDK steering compute the same owner (DESIGN.md §3).
#ifndef DMRSWITCH_ROUTE_OWNER_H_
#define DMRSWITCH_ROUTE_OWNER_H_

#ifdef __cplusplus
#include <cstdint>
#define DMRSWITCH_OWNER_INLINE inline
#else
#define DMRSWITCH_OWNER_INLINE static inline __attribute__((always_inline))
#endif

/* A 32-bit finaliser (murmur3 fmix32): stream IDs are random, client IDs are sequential-ish,
 * both must spread evenly over the shards. */
DMRSWITCH_OWNER_INLINE uint32_t dmrswitch_mix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

/* owner(key) = (mix32(key) * nshards) >> 32: a multiply instead of a modulo, and the high bits
 * of the hash, so shard tables (which index by other bits) stay evenly loaded. */
DMRSWITCH_OWNER_INLINE uint32_t dmrswitch_owner(uint32_t key, uint32_t nshards) {
  return (uint32_t)(((uint64_t)dmrswitch_mix32(key) * nshards) >> 32);
}

#endif  // DMRSWITCH_ROUTE_OWNER_H_
