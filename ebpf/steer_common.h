/* Who owns a datagram, in one place for every packet path (DESIGN.md §3): the owner function
 * owner(key) and the classifier that finds a datagram's key (stream ID or client ID). Shared by
 * the sk_reuseport steering program (BPF C), the kernel-mode shards' user-space steering and
 * the DPDK shards (dataplane/io/steering/steering_key.h), and the routing core's client
 * liveness. Keeping both in C-compatible inline functions is what guarantees that the kernel,
 * the user-space fallback and DPDK pick the same shard for every datagram (docs/ebpf.md).
 *
 * Plain C (gnu11 for the BPF target, C++20 for the loader): no C++-only syntax here. */
#ifndef DMRSWITCH_EBPF_STEER_COMMON_H_
#define DMRSWITCH_EBPF_STEER_COMMON_H_

#ifdef __cplusplus
#include <cstdint>
#define DMRSWITCH_STEER_INLINE inline
#else
#if defined(__bpf__)
/* No libc for the BPF target: the fixed-width names come from the kernel's UAPI types. */
#include <linux/types.h>
typedef __u8 uint8_t;
typedef __u16 uint16_t;
typedef __u32 uint32_t;
typedef __u64 uint64_t;
#else
#include <stdint.h>
#endif
#define DMRSWITCH_STEER_INLINE static inline __attribute__((always_inline))
#endif

/* A 32-bit finaliser (murmur3 fmix32): stream IDs are random, client IDs are sequential-ish,
 * both must spread evenly over the shards. */
DMRSWITCH_STEER_INLINE uint32_t dmrswitch_mix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

/* owner(key) = (mix32(key) * nshards) >> 32: a multiply instead of a modulo, and the high bits
 * of the hash, so shard tables (which index by other bits) stay evenly loaded. */
DMRSWITCH_STEER_INLINE uint32_t dmrswitch_owner(uint32_t key, uint32_t nshards) {
  return (uint32_t)(((uint64_t)dmrswitch_mix32(key) * nshards) >> 32);
}

/* Most shards a listener group can have: the size of each REUSEPORT_SOCKARRAY. */
#define DMRSWITCH_STEER_MAX_SHARDS 64u

/* UDP header in front of the payload: sk_reuseport_md data/offsets start at the UDP header. */
#define DMRSWITCH_STEER_UDP_HDR_BYTES 8u

/* The classifier looks at the first 8 payload bytes (tag plus the bytes that tell RPTPING and
 * RPTCL apart); every packet that carries a key is at least that long (RPTL, 8 bytes). */
#define DMRSWITCH_STEER_HEAD_BYTES 8u

/* Verdict counters: indices into the per-CPU array "steer_counters". */
#define DMRSWITCH_STEER_CTR_DMRD 0u          /* DMRD/DMRE by stream ID */
#define DMRSWITCH_STEER_CTR_BCSQ 1u          /* BCSQ by the quenched stream ID */
#define DMRSWITCH_STEER_CTR_CLIENT_ID 2u     /* HBP client packets by repeater ID */
#define DMRSWITCH_STEER_CTR_DEFAULT 3u       /* nothing to steer by: shard 0 */
#define DMRSWITCH_STEER_CTR_SELECT_FAILED 4u /* socket missing: kernel's hash picks one */
#define DMRSWITCH_STEER_CTR_COUNT 5u

/* Packet lengths (whole UDP payload) that carry a steering key (PROTOCOL.md §1.2, §2). */
#define DMRSWITCH_STEER_LEN_DMRD_SHORT 53u /* HBP DMRD without BER/RSSI */
#define DMRSWITCH_STEER_LEN_DMRD 55u       /* HBP DMRD */
#define DMRSWITCH_STEER_LEN_OBP_DMRD 73u   /* OBP v1: 53-byte DMRD + HMAC-SHA1 */
#define DMRSWITCH_STEER_LEN_DMRE_V4 85u    /* FBP v4 */
#define DMRSWITCH_STEER_LEN_DMRE_V5 89u    /* FBP v5 */
#define DMRSWITCH_STEER_LEN_BCSQ 31u
#define DMRSWITCH_STEER_LEN_RPTPING 11u
#define DMRSWITCH_STEER_LEN_RPTO_MIN 8u
#define DMRSWITCH_STEER_LEN_RPTO_MAX 308u /* dataplane/proto/hbp.h kRptoMaxBytes */
#define DMRSWITCH_STEER_LEN_RPTL 8u
#define DMRSWITCH_STEER_LEN_RPTK 40u
#define DMRSWITCH_STEER_LEN_RPTC 302u
#define DMRSWITCH_STEER_LEN_RPTCL 9u
#define DMRSWITCH_STEER_LEN_DMRA_GW 19u /* only the DMRGateway form carries a repeater ID */
#define DMRSWITCH_STEER_LEN_DMRG_GW 18u
#define DMRSWITCH_STEER_LEN_RPTG 25u

/* Payload offsets of the 4-byte big-endian keys. */
#define DMRSWITCH_STEER_OFF_STREAM 16u     /* DMRD / DMRE stream ID */
#define DMRSWITCH_STEER_OFF_BCSQ_STREAM 7u /* tag(4) + tgid(3) */
#define DMRSWITCH_STEER_OFF_ID 4u          /* 4-character HBP tags */
#define DMRSWITCH_STEER_OFF_RPTCL_ID 5u    /* "RPTCL" */
#define DMRSWITCH_STEER_OFF_RPTPING_ID 7u  /* "RPTPING" */
#define DMRSWITCH_STEER_KEY_BYTES 4u

/* A tag's four ASCII bytes as one big-endian word, so a switch compares whole tags. */
#define DMRSWITCH_STEER_TAG(a, b, c, d) \
  (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))

/* Classify a datagram. head: its first DMRSWITCH_STEER_HEAD_BYTES bytes (only read when
 * len >= DMRSWITCH_STEER_HEAD_BYTES); len: the whole UDP payload length.
 * Returns the payload offset of the big-endian 32-bit key (always > 0 and
 * offset + 4 <= len), or 0 when the datagram has no key and belongs to shard 0.
 * *counter receives the DMRSWITCH_STEER_CTR_* verdict. */
DMRSWITCH_STEER_INLINE uint32_t dmrswitch_steer_classify(const uint8_t *head, uint32_t len,
                                                         uint32_t *counter) {
  uint32_t tag;
  *counter = DMRSWITCH_STEER_CTR_DEFAULT;
  if (len < DMRSWITCH_STEER_HEAD_BYTES) return 0;
  tag = DMRSWITCH_STEER_TAG(head[0], head[1], head[2], head[3]);
  switch (tag) {
    case DMRSWITCH_STEER_TAG('D', 'M', 'R', 'D'):
      if (len == DMRSWITCH_STEER_LEN_DMRD || len == DMRSWITCH_STEER_LEN_DMRD_SHORT ||
          len == DMRSWITCH_STEER_LEN_OBP_DMRD) {
        *counter = DMRSWITCH_STEER_CTR_DMRD;
        return DMRSWITCH_STEER_OFF_STREAM;
      }
      return 0;
    case DMRSWITCH_STEER_TAG('D', 'M', 'R', 'E'):
      if (len == DMRSWITCH_STEER_LEN_DMRE_V4 || len == DMRSWITCH_STEER_LEN_DMRE_V5) {
        *counter = DMRSWITCH_STEER_CTR_DMRD;
        return DMRSWITCH_STEER_OFF_STREAM;
      }
      return 0;
    case DMRSWITCH_STEER_TAG('B', 'C', 'S', 'Q'):
      if (len == DMRSWITCH_STEER_LEN_BCSQ) {
        *counter = DMRSWITCH_STEER_CTR_BCSQ;
        return DMRSWITCH_STEER_OFF_BCSQ_STREAM;
      }
      return 0;
    case DMRSWITCH_STEER_TAG('R', 'P', 'T', 'P'):
      if (len == DMRSWITCH_STEER_LEN_RPTPING && head[4] == 'I' && head[5] == 'N' &&
          head[6] == 'G') {
        *counter = DMRSWITCH_STEER_CTR_CLIENT_ID;
        return DMRSWITCH_STEER_OFF_RPTPING_ID;
      }
      return 0;
    case DMRSWITCH_STEER_TAG('R', 'P', 'T', 'C'):
      /* RPTC and RPTCL share four bytes; the fifth ('L') and the length tell them apart. */
      if (len == DMRSWITCH_STEER_LEN_RPTCL && head[4] == 'L') {
        *counter = DMRSWITCH_STEER_CTR_CLIENT_ID;
        return DMRSWITCH_STEER_OFF_RPTCL_ID;
      }
      if (len == DMRSWITCH_STEER_LEN_RPTC) {
        *counter = DMRSWITCH_STEER_CTR_CLIENT_ID;
        return DMRSWITCH_STEER_OFF_ID;
      }
      return 0;
    case DMRSWITCH_STEER_TAG('R', 'P', 'T', 'O'):
      if (len >= DMRSWITCH_STEER_LEN_RPTO_MIN && len <= DMRSWITCH_STEER_LEN_RPTO_MAX) {
        *counter = DMRSWITCH_STEER_CTR_CLIENT_ID;
        return DMRSWITCH_STEER_OFF_ID;
      }
      return 0;
    case DMRSWITCH_STEER_TAG('R', 'P', 'T', 'L'):
      if (len == DMRSWITCH_STEER_LEN_RPTL) {
        *counter = DMRSWITCH_STEER_CTR_CLIENT_ID;
        return DMRSWITCH_STEER_OFF_ID;
      }
      return 0;
    case DMRSWITCH_STEER_TAG('R', 'P', 'T', 'K'):
      if (len == DMRSWITCH_STEER_LEN_RPTK) {
        *counter = DMRSWITCH_STEER_CTR_CLIENT_ID;
        return DMRSWITCH_STEER_OFF_ID;
      }
      return 0;
    case DMRSWITCH_STEER_TAG('R', 'P', 'T', 'G'):
      if (len == DMRSWITCH_STEER_LEN_RPTG) {
        *counter = DMRSWITCH_STEER_CTR_CLIENT_ID;
        return DMRSWITCH_STEER_OFF_ID;
      }
      return 0;
    case DMRSWITCH_STEER_TAG('D', 'M', 'R', 'A'):
      if (len == DMRSWITCH_STEER_LEN_DMRA_GW) {
        *counter = DMRSWITCH_STEER_CTR_CLIENT_ID;
        return DMRSWITCH_STEER_OFF_ID;
      }
      return 0;
    case DMRSWITCH_STEER_TAG('D', 'M', 'R', 'G'):
      if (len == DMRSWITCH_STEER_LEN_DMRG_GW) {
        *counter = DMRSWITCH_STEER_CTR_CLIENT_ID;
        return DMRSWITCH_STEER_OFF_ID;
      }
      return 0;
    default:
      return 0;
  }
}

/* The key at the offset dmrswitch_steer_classify returned. */
DMRSWITCH_STEER_INLINE uint32_t dmrswitch_steer_load_key(const uint8_t *key) {
  return ((uint32_t)key[0] << 24) | ((uint32_t)key[1] << 16) | ((uint32_t)key[2] << 8) |
         (uint32_t)key[3];
}

#endif /* DMRSWITCH_EBPF_STEER_COMMON_H_ */
