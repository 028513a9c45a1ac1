// SPDX-License-Identifier: GPL-3.0-or-later
/* The XDP shield (DESIGN.md §2, §5; docs/ebpf.md): in front of the hub's listeners it drops, as
 * early as the driver allows, what can never be a valid hub packet, what comes from a blocked
 * source and what a single source sends beyond its token bucket; it counts every verdict by
 * name; accepted hub traffic goes to the kernel's UDP sockets (kernel mode) or to the RX queue's
 * AF_XDP socket (afxdp mode, DPDK net_af_xdp). Everything that is not UDP to a hub listener
 * (ARP, ICMP, SSH, DNS, other ports, IPv6) passes untouched.
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

/* GCRA token bucket: true when the source is within source_pps with source_burst of slack. */
static __always_inline int within_rate(const struct dmrswitch_shield_config *cfg,
                                       const struct dmrswitch_shield_source *src, __u64 now) {
  struct dmrswitch_shield_bucket *b;
  __u64 interval = cfg->rate_interval_ns;
  __u64 tat;
  if (interval == 0) return 1;
  b = bpf_map_lookup_elem(&shield_rate, src);
  if (!b) {
    struct dmrswitch_shield_bucket fresh = {.tat_ns = now + interval};
    bpf_map_update_elem(&shield_rate, src, &fresh, BPF_ANY);
    return 1;
  }
  tat = b->tat_ns;
  if (tat < now) tat = now;
  tat += interval;
  if (tat - now > cfg->rate_burst_ns) return 0; /* not charged: a flooder keeps its rate */
  b->tat_ns = tat;
  return 1;
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

  switch (shield_parse_eth(&c, &proto)) {
    case SHIELD_PARSE_OK:
      break;
    case SHIELD_PARSE_TOO_DEEP:
      return verdict(DMRSWITCH_SHIELD_V_PASS_VLAN_TOO_DEEP, XDP_PASS);
    default:
      return verdict(DMRSWITCH_SHIELD_V_DROP_SHORT_HEADER, XDP_DROP);
  }
  if (proto == bpf_htons(ETH_P_IPV6)) return verdict(DMRSWITCH_SHIELD_V_PASS_IPV6, XDP_PASS);
  if (proto != bpf_htons(ETH_P_IP)) return verdict(DMRSWITCH_SHIELD_V_PASS_NOT_IPV4, XDP_PASS);

  switch (shield_parse_ipv4(&c, &l3)) {
    case SHIELD_PARSE_OK:
      break;
    case SHIELD_PARSE_MALFORMED:
      return verdict(DMRSWITCH_SHIELD_V_DROP_MALFORMED_IP, XDP_DROP);
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

  block_expiry = bpf_map_lookup_elem(&shield_block, &l3.saddr);
  if (block_expiry) {
    __u64 expiry = *block_expiry;
    now = bpf_ktime_get_ns();
    if (expiry == DMRSWITCH_SHIELD_BLOCK_FOREVER || now < expiry) {
      return verdict(DMRSWITCH_SHIELD_V_DROP_BLOCKED, XDP_DROP);
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

  src.addr = l3.saddr;
  src.port = udp->source;
  any_port.addr = l3.saddr;
  if (!bpf_map_lookup_elem(&shield_exempt, &src) &&
      !bpf_map_lookup_elem(&shield_exempt, &any_port)) {
    if (now == 0) now = bpf_ktime_get_ns();
    if (!within_rate(cfg, &src, now)) {
      return verdict(DMRSWITCH_SHIELD_V_DROP_RATE_LIMITED, XDP_DROP);
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
