/* The shield's payload check: can this UDP payload, arriving on a listener of this family, ever
 * be a packet the hub accepts? Only the tag and the length decide (PROTOCOL.md §1.2, §2;
 * dataplane/proto/hbp.h, obp.h); everything finer (HMAC, IDs, state) stays with the hub.
 * Shared by the XDP program and by C++ (tests compare it with the proto decoders), so it is
 * plain C in one inline function, like ebpf/steer_common.h.
 *
 * What a master port accepts is what a hub can receive: the client→master packets of HBP
 * (RPTL, RPTK, RPTC, RPTO, RPTPING, RPTCL, DMRD 53/55, DMRA 15/19, DMRG 14/18, RPTG, and DMRC,
 * which the hub refuses itself so its counter tells the operator about a misconfigured
 * MMDVMHost). The master→client tags (RPTACK, MSTNAK, MSTPONG, MSTCL, RPTSBKN) can never be
 * valid there and count as a bad magic. An OpenBridge port accepts DMRD 73 (v1), DMRE 85/89
 * (v4/v5), BCKA 24, BCSQ 31, BCVE 25 and BCST 24; a plain HBP DMRD (53/55) is not OpenBridge. */
#ifndef DMRSWITCH_EBPF_SHIELD_CLASSIFY_H_
#define DMRSWITCH_EBPF_SHIELD_CLASSIFY_H_

#include "ebpf/shield_common.h"

#ifdef __cplusplus
#define DMRSWITCH_SHIELD_INLINE inline
#else
#define DMRSWITCH_SHIELD_INLINE static inline __attribute__((always_inline))
#endif

/* The classifier reads at most this many payload bytes (tag plus the bytes that tell RPTPING
 * and RPTCL apart). */
#define DMRSWITCH_SHIELD_HEAD_BYTES 8u
#define DMRSWITCH_SHIELD_TAG_BYTES 4u

/* The longest payload any family accepts (RPTO with a 300-byte options string). */
#define DMRSWITCH_SHIELD_MAX_PAYLOAD 308u

/* HBP (client → master). */
#define DMRSWITCH_SHIELD_LEN_RPTL 8u
#define DMRSWITCH_SHIELD_LEN_RPTK 40u
#define DMRSWITCH_SHIELD_LEN_RPTC 302u
#define DMRSWITCH_SHIELD_LEN_RPTO_MIN 8u
#define DMRSWITCH_SHIELD_LEN_RPTO_MAX 308u
#define DMRSWITCH_SHIELD_LEN_RPTPING 11u
#define DMRSWITCH_SHIELD_LEN_RPTCL 9u
#define DMRSWITCH_SHIELD_LEN_DMRD 55u
#define DMRSWITCH_SHIELD_LEN_DMRD_SHORT 53u
#define DMRSWITCH_SHIELD_LEN_DMRA 15u
#define DMRSWITCH_SHIELD_LEN_DMRA_GW 19u
#define DMRSWITCH_SHIELD_LEN_DMRG 14u
#define DMRSWITCH_SHIELD_LEN_DMRG_GW 18u
#define DMRSWITCH_SHIELD_LEN_RPTG 25u
#define DMRSWITCH_SHIELD_LEN_DMRC 119u
/* OpenBridge / FBP. */
#define DMRSWITCH_SHIELD_LEN_OBP_DMRD 73u
#define DMRSWITCH_SHIELD_LEN_DMRE_V4 85u
#define DMRSWITCH_SHIELD_LEN_DMRE_V5 89u
#define DMRSWITCH_SHIELD_LEN_BCKA 24u
#define DMRSWITCH_SHIELD_LEN_BCSQ 31u
#define DMRSWITCH_SHIELD_LEN_BCVE 25u
#define DMRSWITCH_SHIELD_LEN_BCST 24u

#define DMRSWITCH_SHIELD_TAG(a, b, c, d) \
  (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))

/* head: the payload's first min(len, DMRSWITCH_SHIELD_HEAD_BYTES) bytes; len: the UDP payload
 * length. Returns DMRSWITCH_SHIELD_V_PASS_HUB when the packet may be valid, else the drop
 * verdict (DROP_SHORT_PAYLOAD, DROP_BAD_MAGIC or DROP_MALFORMED_LEN). An unknown family is a
 * bad magic: nothing is valid on a port the shield does not know. */
DMRSWITCH_SHIELD_INLINE uint32_t dmrswitch_shield_classify(uint32_t family, const uint8_t *head,
                                                           uint32_t len) {
  uint32_t tag;
  int ok;
  if (len < DMRSWITCH_SHIELD_TAG_BYTES) return DMRSWITCH_SHIELD_V_DROP_SHORT_PAYLOAD;
  tag = DMRSWITCH_SHIELD_TAG(head[0], head[1], head[2], head[3]);
  if (family == DMRSWITCH_SHIELD_FAMILY_HBP) {
    switch (tag) {
      case DMRSWITCH_SHIELD_TAG('D', 'M', 'R', 'D'):
        ok = len == DMRSWITCH_SHIELD_LEN_DMRD || len == DMRSWITCH_SHIELD_LEN_DMRD_SHORT;
        break;
      case DMRSWITCH_SHIELD_TAG('R', 'P', 'T', 'P'):
        if (len != DMRSWITCH_SHIELD_LEN_RPTPING) return DMRSWITCH_SHIELD_V_DROP_MALFORMED_LEN;
        if (head[4] != 'I' || head[5] != 'N' || head[6] != 'G') {
          return DMRSWITCH_SHIELD_V_DROP_BAD_MAGIC;
        }
        return DMRSWITCH_SHIELD_V_PASS_HUB;
      case DMRSWITCH_SHIELD_TAG('R', 'P', 'T', 'L'):
        ok = len == DMRSWITCH_SHIELD_LEN_RPTL;
        break;
      case DMRSWITCH_SHIELD_TAG('R', 'P', 'T', 'K'):
        ok = len == DMRSWITCH_SHIELD_LEN_RPTK;
        break;
      case DMRSWITCH_SHIELD_TAG('R', 'P', 'T', 'C'):
        /* RPTCL (9) vs RPTC + id (302): the length decides, the 5th byte confirms RPTCL. */
        if (len == DMRSWITCH_SHIELD_LEN_RPTCL) {
          return head[4] == 'L' ? DMRSWITCH_SHIELD_V_PASS_HUB : DMRSWITCH_SHIELD_V_DROP_BAD_MAGIC;
        }
        ok = len == DMRSWITCH_SHIELD_LEN_RPTC;
        break;
      case DMRSWITCH_SHIELD_TAG('R', 'P', 'T', 'O'):
        ok = len >= DMRSWITCH_SHIELD_LEN_RPTO_MIN && len <= DMRSWITCH_SHIELD_LEN_RPTO_MAX;
        break;
      case DMRSWITCH_SHIELD_TAG('D', 'M', 'R', 'A'):
        ok = len == DMRSWITCH_SHIELD_LEN_DMRA || len == DMRSWITCH_SHIELD_LEN_DMRA_GW;
        break;
      case DMRSWITCH_SHIELD_TAG('D', 'M', 'R', 'G'):
        ok = len == DMRSWITCH_SHIELD_LEN_DMRG || len == DMRSWITCH_SHIELD_LEN_DMRG_GW;
        break;
      case DMRSWITCH_SHIELD_TAG('R', 'P', 'T', 'G'):
        ok = len == DMRSWITCH_SHIELD_LEN_RPTG;
        break;
      case DMRSWITCH_SHIELD_TAG('D', 'M', 'R', 'C'):
        ok = len == DMRSWITCH_SHIELD_LEN_DMRC;
        break;
      default:
        return DMRSWITCH_SHIELD_V_DROP_BAD_MAGIC;
    }
  } else if (family == DMRSWITCH_SHIELD_FAMILY_OPENBRIDGE) {
    switch (tag) {
      case DMRSWITCH_SHIELD_TAG('D', 'M', 'R', 'D'):
        ok = len == DMRSWITCH_SHIELD_LEN_OBP_DMRD;
        break;
      case DMRSWITCH_SHIELD_TAG('D', 'M', 'R', 'E'):
        ok = len == DMRSWITCH_SHIELD_LEN_DMRE_V4 || len == DMRSWITCH_SHIELD_LEN_DMRE_V5;
        break;
      case DMRSWITCH_SHIELD_TAG('B', 'C', 'K', 'A'):
        ok = len == DMRSWITCH_SHIELD_LEN_BCKA;
        break;
      case DMRSWITCH_SHIELD_TAG('B', 'C', 'S', 'Q'):
        ok = len == DMRSWITCH_SHIELD_LEN_BCSQ;
        break;
      case DMRSWITCH_SHIELD_TAG('B', 'C', 'V', 'E'):
        ok = len == DMRSWITCH_SHIELD_LEN_BCVE;
        break;
      case DMRSWITCH_SHIELD_TAG('B', 'C', 'S', 'T'):
        ok = len == DMRSWITCH_SHIELD_LEN_BCST;
        break;
      default:
        return DMRSWITCH_SHIELD_V_DROP_BAD_MAGIC;
    }
  } else {
    return DMRSWITCH_SHIELD_V_DROP_BAD_MAGIC;
  }
  return ok ? DMRSWITCH_SHIELD_V_PASS_HUB : DMRSWITCH_SHIELD_V_DROP_MALFORMED_LEN;
}

#endif /* DMRSWITCH_EBPF_SHIELD_CLASSIFY_H_ */
