// SPDX-License-Identifier: GPL-3.0-or-later
/* sk_reuseport steering for kernel mode (DESIGN.md §3, §4): every shard thread owns one UDP
 * socket per listener, all of a listener's sockets form one SO_REUSEPORT group, and this program
 * hands each datagram to the socket of the shard that owns its stream ID or client ID. One
 * program serves HBP and OpenBridge listeners alike: their tags and lengths never collide.
 *
 * The loader loads one instance per listener group (each with its own socket array), so a
 * socket array index is simply a shard number. */
/* Order matters: the libbpf helper declarations use the UAPI types and structs. */
#include <linux/bpf.h>
/* (separate block so include sorting keeps the order) */
#include <bpf/bpf_helpers.h>

#include "ebpf/steer_common.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader before load; 1 until then so an unconfigured program still steers
 * everything to the only socket it could have. */
const volatile uint32_t nshards = 1;

struct {
  __uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
  __uint(max_entries, DMRSWITCH_STEER_MAX_SHARDS);
  __type(key, __u32);
  __type(value, __u64);
} shard_sockets SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, DMRSWITCH_STEER_CTR_COUNT);
  __type(key, __u32);
  __type(value, __u64);
} steer_counters SEC(".maps");

static __always_inline void count(__u32 index) {
  __u64 *value = bpf_map_lookup_elem(&steer_counters, &index);
  /* Per-CPU slot: no other CPU writes it, so a plain increment is exact. */
  if (value) *value += 1;
}

SEC("sk_reuseport")
int dmrswitch_steer(struct sk_reuseport_md *ctx) {
  uint8_t head[DMRSWITCH_STEER_HEAD_BYTES];
  uint8_t key_bytes[DMRSWITCH_STEER_KEY_BYTES];
  uint32_t counter = DMRSWITCH_STEER_CTR_DEFAULT;
  uint32_t key_off = 0;
  uint32_t shard = 0;
  uint32_t n = nshards;
  __u32 len = ctx->len;

  /* ctx->len and the helpers' offsets start at the UDP header, not at the payload. Reading
   * through bpf_skb_load_bytes instead of data/data_end keeps working when the payload is not
   * in the skb's linear area (data_end may stop short of len). */
  if (len >= DMRSWITCH_STEER_UDP_HDR_BYTES + DMRSWITCH_STEER_HEAD_BYTES &&
      bpf_skb_load_bytes(ctx, DMRSWITCH_STEER_UDP_HDR_BYTES, head, sizeof(head)) == 0) {
    __u32 plen = len - DMRSWITCH_STEER_UDP_HDR_BYTES;
    key_off = dmrswitch_steer_classify(head, plen, &counter);
    if (key_off != 0) {
      /* classify guarantees key_off + 4 <= plen, so this read is inside the datagram. */
      if (bpf_skb_load_bytes(ctx, DMRSWITCH_STEER_UDP_HDR_BYTES + key_off, key_bytes,
                             sizeof(key_bytes)) == 0) {
        if (n == 0 || n > DMRSWITCH_STEER_MAX_SHARDS) n = 1;
        shard = dmrswitch_owner(dmrswitch_steer_load_key(key_bytes), n);
      } else {
        counter = DMRSWITCH_STEER_CTR_DEFAULT;
      }
    }
  }

  if (bpf_sk_select_reuseport(ctx, &shard_sockets, &shard, 0) != 0) {
    /* The owner's socket is not in the array (shard starting or gone). SK_PASS without a
     * selection lets the kernel's own hash pick a socket: the shard that gets it forwards or
     * drops it, which beats dropping traffic in the kernel. */
    count(DMRSWITCH_STEER_CTR_SELECT_FAILED);
    return SK_PASS;
  }
  count(counter);
  return SK_PASS;
}
