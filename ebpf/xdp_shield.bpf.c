// SPDX-License-Identifier: GPL-3.0-or-later
/* The XDP shield (DESIGN.md §2, §5; docs/ebpf.md): in front of the hub's listeners it drops, as
 * early as the driver allows, what can never be a valid hub packet, what comes from a blocked
 * source and what a single source sends beyond its token bucket; it counts every verdict by
 * name; accepted hub traffic goes to the kernel's UDP sockets (kernel mode) or to the RX queue's
 * AF_XDP socket (afxdp mode, DPDK net_af_xdp). Everything that is not UDP to a hub listener
 * (ARP, ICMP, ICMPv6 and so Neighbour Discovery, SSH, DNS, other ports) passes untouched. IPv6
 * hub traffic gets the same checks as IPv4, with its own maps (16-byte sources; blocks by /128
 * or /64; one token bucket per rate_prefix6 prefix and port).
 *
 * Order of the checks on hub traffic, cheapest first where it does not change the answer:
 * fragment → block list → UDP length → tag and length of the family → exempt peer → rate. A
 * blocked source is counted as blocked whatever it sends, which is what an operator who blocked
 * it wants to see.
 *
 * IPv4 fragments: hub packets are at most 316 bytes of UDP and never fragmented. The first
 * fragment of a datagram to a hub port is dropped (drop_fragment). Later fragments carry no UDP
 * header, so their port is unknown: they pass (pass_fragment), and the kernel, which never gets
 * the first fragment, discards them when its reassembly timer expires (bounded by
 * net.ipv4.ipfrag_high_thresh). */
#include <linux/bpf.h>
/* (separate block so include sorting keeps the order) */
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <xdp/xdp_helpers.h>

#include "ebpf/shield_classify.h"
#include "ebpf/shield_common.h"
#include "ebpf/shield_maps.h"
#include "ebpf/shield_parse.h"

char LICENSE[] SEC("license") = "GPL";

/* libxdp's dispatcher metadata: run before other programs, continue the chain on XDP_PASS. */
struct {
  __uint(priority, DMRSWITCH_SHIELD_RUN_PRIO);
  __uint(XDP_PASS, 1);
} XDP_RUN_CONFIG(xdp_shield);

static __always_inline int verdict(__u32 v, int action) {
  __u64 *count = bpf_map_lookup_elem(&shield_verdicts, &v);
  /* Per-CPU slot: no other CPU writes it, so a plain increment is exact. */
  if (count) *count += 1;
  return action;
}

/* GCRA token bucket: true when the source is within source_pps with source_burst of slack.
 * `map` is shield_rate (IPv4 keys) or shield_rate6 (IPv6 keys). */
static __always_inline int within_rate(const struct dmrswitch_shield_config *cfg, void *map,
                                       const void *src, __u64 now) {
  struct dmrswitch_shield_bucket *b;
  __u64 interval = cfg->rate_interval_ns;
  __u64 tat;
  if (interval == 0) return 1;
  b = bpf_map_lookup_elem(map, src);
  if (!b) {
    struct dmrswitch_shield_bucket fresh = {.tat_ns = now + interval};
    bpf_map_update_elem(map, src, &fresh, BPF_ANY);
    return 1;
  }
  tat = b->tat_ns;
  if (tat < now) tat = now;
  tat += interval;
  if (tat - now > cfg->rate_burst_ns) return 0; /* not charged: a flooder keeps its rate */
  b->tat_ns = tat;
  return 1;
}

/* `addr` masked to its first `bits` bits (1..128), in place. */
static __always_inline void mask6(__u8 *addr, __u32 bits) {
#pragma unroll
  for (int i = 0; i < 16; i++) {
    const __u32 first = (__u32)i * 8;
    if (bits <= first) {
      addr[i] = 0;
    } else if (bits < first + 8) {
      addr[i] &= (__u8)(0xFF << (first + 8 - bits));
    }
  }
}

/* Whether an IPv6 source is blocked: its /128, then its /64. */
static __always_inline int blocked6(const __u8 *saddr6, __u64 *now) {
  struct dmrswitch_shield_block6_key key = {.prefix_len = 128};
  __u64 *expiry;
  __builtin_memcpy(key.addr, saddr6, 16);
  expiry = bpf_map_lookup_elem(&shield_block6, &key);
  if (!expiry) {
    key.prefix_len = 64;
    __builtin_memset(key.addr + 8, 0, 8);
    expiry = bpf_map_lookup_elem(&shield_block6, &key);
  }
  if (!expiry) return 0;
  *now = bpf_ktime_get_ns();
  return *expiry == DMRSWITCH_SHIELD_BLOCK_FOREVER || *now < *expiry;
}

SEC("xdp")
int xdp_shield(struct xdp_md *ctx) {
  struct shield_cursor c = {.pos = (void *)(long)ctx->data, .end = (void *)(long)ctx->data_end};
  struct shield_l3 l3 = {};
  struct udphdr *udp = 0;
  __be16 proto = 0;
  __u8 head[DMRSWITCH_SHIELD_HEAD_BYTES] = {};
  __u32 port_key;
  __u32 *family;
  __u64 *block_expiry;
  __u64 now = 0;
  __u32 udp_len;
  __u32 payload_len;
  __u32 check;
  __u32 zero = 0;
  const struct dmrswitch_shield_config *cfg;
  struct dmrswitch_shield_source src = {};
  struct dmrswitch_shield_source any_port = {};
  struct dmrswitch_shield_source6 src6 = {};
  enum shield_parse_result l3_result;

  switch (shield_parse_eth(&c, &proto)) {
    case SHIELD_PARSE_OK:
      break;
    case SHIELD_PARSE_TOO_DEEP:
      return verdict(DMRSWITCH_SHIELD_V_PASS_VLAN_TOO_DEEP, XDP_PASS);
    default:
      return verdict(DMRSWITCH_SHIELD_V_DROP_SHORT_HEADER, XDP_DROP);
  }
  if (proto == bpf_htons(ETH_P_IPV6)) {
    l3_result = shield_parse_ipv6(&c, &l3);
  } else if (proto == bpf_htons(ETH_P_IP)) {
    l3_result = shield_parse_ipv4(&c, &l3);
  } else {
    return verdict(DMRSWITCH_SHIELD_V_PASS_NOT_IPV4, XDP_PASS);
  }
  switch (l3_result) {
    case SHIELD_PARSE_OK:
      break;
    case SHIELD_PARSE_MALFORMED:
      return verdict(DMRSWITCH_SHIELD_V_DROP_MALFORMED_IP, XDP_DROP);
    case SHIELD_PARSE_NOT_WALKED:
      return verdict(DMRSWITCH_SHIELD_V_PASS_IPV6, XDP_PASS);
    case SHIELD_PARSE_EXT_CHAIN:
      /* Its UDP port is out of reach: passing it would let a flood around the shield by
       * prefixing five empty options headers. No hub client sends one. */
      return verdict(DMRSWITCH_SHIELD_V_DROP_IPV6_EXT_CHAIN, XDP_DROP);
    default:
      return verdict(DMRSWITCH_SHIELD_V_DROP_SHORT_HEADER, XDP_DROP);
  }
  if (l3.protocol != IPPROTO_UDP) return verdict(DMRSWITCH_SHIELD_V_PASS_NOT_UDP, XDP_PASS);
  if (l3.is_fragment && !l3.first_fragment) {
    return verdict(DMRSWITCH_SHIELD_V_PASS_FRAGMENT, XDP_PASS);
  }
  if (shield_parse_udp(&c, &udp) != SHIELD_PARSE_OK) {
    return verdict(DMRSWITCH_SHIELD_V_DROP_SHORT_HEADER, XDP_DROP);
  }

  port_key = udp->dest;
  family = bpf_map_lookup_elem(&shield_ports, &port_key);
  if (!family) return verdict(DMRSWITCH_SHIELD_V_PASS_NOT_HUB_PORT, XDP_PASS);

  /* Hub traffic from here on. */
  if (l3.is_fragment) return verdict(DMRSWITCH_SHIELD_V_DROP_FRAGMENT, XDP_DROP);

  if (l3.is_v6) {
    if (blocked6(l3.saddr6, &now)) return verdict(DMRSWITCH_SHIELD_V_DROP_BLOCKED, XDP_DROP);
  } else {
    block_expiry = bpf_map_lookup_elem(&shield_block, &l3.saddr);
    if (block_expiry) {
      __u64 expiry = *block_expiry;
      now = bpf_ktime_get_ns();
      if (expiry == DMRSWITCH_SHIELD_BLOCK_FOREVER || now < expiry) {
        return verdict(DMRSWITCH_SHIELD_V_DROP_BLOCKED, XDP_DROP);
      }
    }
  }

  udp_len = bpf_ntohs(udp->len);
  if (udp_len < sizeof(*udp) || udp_len > l3.l4_bytes) {
    return verdict(DMRSWITCH_SHIELD_V_DROP_MALFORMED_UDP, XDP_DROP);
  }
  payload_len = udp_len - sizeof(*udp);
  /* The head the classifier reads must be in the frame; a datagram that says it is longer than
   * the frame holds is malformed. */
  if (payload_len >= DMRSWITCH_SHIELD_HEAD_BYTES) {
    if (c.pos + DMRSWITCH_SHIELD_HEAD_BYTES > c.end) {
      return verdict(DMRSWITCH_SHIELD_V_DROP_MALFORMED_UDP, XDP_DROP);
    }
    __builtin_memcpy(head, c.pos, DMRSWITCH_SHIELD_HEAD_BYTES);
  } else if (payload_len >= DMRSWITCH_SHIELD_TAG_BYTES) {
    if (c.pos + DMRSWITCH_SHIELD_TAG_BYTES > c.end) {
      return verdict(DMRSWITCH_SHIELD_V_DROP_MALFORMED_UDP, XDP_DROP);
    }
    __builtin_memcpy(head, c.pos, DMRSWITCH_SHIELD_TAG_BYTES);
  }
  check = dmrswitch_shield_classify(*family, head, payload_len);
  if (check != DMRSWITCH_SHIELD_V_PASS_HUB) return verdict(check, XDP_DROP);
  /* Valid lengths are at most DMRSWITCH_SHIELD_MAX_PAYLOAD; saying so bounds the offset for the
   * verifier. */
  if (payload_len > DMRSWITCH_SHIELD_MAX_PAYLOAD || c.pos + payload_len > c.end) {
    return verdict(DMRSWITCH_SHIELD_V_DROP_MALFORMED_UDP, XDP_DROP);
  }

  cfg = bpf_map_lookup_elem(&shield_config, &zero);
  if (!cfg) return verdict(DMRSWITCH_SHIELD_V_PASS_NO_CONFIG, XDP_PASS);

  if (l3.is_v6) {
    __u32 prefix = cfg->rate_prefix6;
    int exempt;
    __builtin_memcpy(src6.addr, l3.saddr6, 16);
    src6.port = udp->source;
    exempt = bpf_map_lookup_elem(&shield_exempt6, &src6) != 0;
    if (!exempt) {
      src6.port = 0;
      exempt = bpf_map_lookup_elem(&shield_exempt6, &src6) != 0;
    }
    if (!exempt) {
      if (prefix == 0 || prefix > 128) prefix = DMRSWITCH_SHIELD_DEFAULT_PREFIX6;
      mask6(src6.addr, prefix);
      src6.port = udp->source;
      if (now == 0) now = bpf_ktime_get_ns();
      if (!within_rate(cfg, &shield_rate6, &src6, now)) {
        return verdict(DMRSWITCH_SHIELD_V_DROP_RATE_LIMITED, XDP_DROP);
      }
    }
  } else {
    src.addr = l3.saddr;
    src.port = udp->source;
    any_port.addr = l3.saddr;
    if (!bpf_map_lookup_elem(&shield_exempt, &src) &&
        !bpf_map_lookup_elem(&shield_exempt, &any_port)) {
      if (now == 0) now = bpf_ktime_get_ns();
      if (!within_rate(cfg, &shield_rate, &src, now)) {
        return verdict(DMRSWITCH_SHIELD_V_DROP_RATE_LIMITED, XDP_DROP);
      }
    }
  }

  if (cfg->flags & DMRSWITCH_SHIELD_F_AFXDP) {
    /* XDP_PASS as the fallback: no socket on this queue (DPDK not up yet, or a queue it does
     * not serve) hands the packet to the kernel rather than losing it. */
    int action = bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
    if (action == XDP_REDIRECT) return verdict(DMRSWITCH_SHIELD_V_REDIRECT_HUB, action);
    return verdict(DMRSWITCH_SHIELD_V_PASS_HUB_NO_XSK, action);
  }
  return verdict(DMRSWITCH_SHIELD_V_PASS_HUB, XDP_PASS);
}
