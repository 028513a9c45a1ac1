/* Header parsing for the XDP shield: Ethernet, up to two VLAN tags (802.1Q / 802.1ad), IPv4 with
 * options, UDP. Every function takes a cursor, checks bounds against data_end before each read
 * (the verifier insists, and a frame can end anywhere), and moves the cursor past what it
 * parsed.
 *
 * IPv6 is recognised and passed untouched (the hub does not listen on it yet). Adding it is a
 * parse_ipv6() that walks the extension headers and fills the same struct shield_l3 (source,
 * L4 start, L4 bytes available, fragment bits); the map keys holding a source (block, exempt,
 * rate) would grow to 16-byte addresses. Nothing after shield_l3 looks at the IP version. */
#ifndef DMRSWITCH_EBPF_SHIELD_PARSE_H_
#define DMRSWITCH_EBPF_SHIELD_PARSE_H_

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
/* (separate block so include sorting keeps the order) */
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define SHIELD_MAX_VLAN_TAGS 2

#ifndef ETH_P_8021Q
#define ETH_P_8021Q 0x8100
#endif
#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

#define SHIELD_IP_MF 0x2000
#define SHIELD_IP_OFFSET 0x1FFF

struct shield_cursor {
  void *pos;
  void *end;
};

struct shield_vlan_hdr {
  __be16 tci;
  __be16 encapsulated_proto;
};

enum shield_parse_result {
  SHIELD_PARSE_OK = 0,
  SHIELD_PARSE_TRUNCATED, /* the frame ends inside a header */
  SHIELD_PARSE_MALFORMED, /* a header contradicts itself */
  SHIELD_PARSE_TOO_DEEP,  /* more VLAN tags than we look through */
};

/* What the L4 code needs from L3, whatever the IP version. */
struct shield_l3 {
  __u32 saddr;         /* network order */
  __u32 l4_bytes;      /* bytes of the IP payload per the IP header (total length - IHL) */
  __u8 protocol;       /* IPPROTO_* */
  __u8 is_fragment;    /* MF set or offset != 0 */
  __u8 first_fragment; /* offset == 0 (the fragment that carries the UDP header) */
};

/* Ethernet and up to SHIELD_MAX_VLAN_TAGS VLAN tags. *proto: the inner EtherType, network
 * order. */
static __always_inline enum shield_parse_result shield_parse_eth(struct shield_cursor *c,
                                                                 __be16 *proto) {
  struct ethhdr *eth = c->pos;
  if ((void *)(eth + 1) > c->end) return SHIELD_PARSE_TRUNCATED;
  c->pos = eth + 1;
  *proto = eth->h_proto;
#pragma unroll
  for (int i = 0; i < SHIELD_MAX_VLAN_TAGS; i++) {
    struct shield_vlan_hdr *vlan = c->pos;
    if (*proto != bpf_htons(ETH_P_8021Q) && *proto != bpf_htons(ETH_P_8021AD)) break;
    if ((void *)(vlan + 1) > c->end) return SHIELD_PARSE_TRUNCATED;
    c->pos = vlan + 1;
    *proto = vlan->encapsulated_proto;
  }
  if (*proto == bpf_htons(ETH_P_8021Q) || *proto == bpf_htons(ETH_P_8021AD)) {
    return SHIELD_PARSE_TOO_DEEP;
  }
  return SHIELD_PARSE_OK;
}

/* IPv4 header with options. Leaves the cursor at the L4 header. Only the header itself is
 * checked here (IHL); the total length is checked by the caller for the traffic it keeps, so
 * nothing that is not hub traffic is judged by the shield. */
static __always_inline enum shield_parse_result shield_parse_ipv4(struct shield_cursor *c,
                                                                  struct shield_l3 *l3) {
  struct iphdr *ip = c->pos;
  __u32 hdr_bytes;
  __u32 total;
  __u16 frag;
  if ((void *)(ip + 1) > c->end) return SHIELD_PARSE_TRUNCATED;
  hdr_bytes = (__u32)ip->ihl * 4;
  if (hdr_bytes < sizeof(*ip)) return SHIELD_PARSE_MALFORMED;
  /* hdr_bytes is 20..60: a bounded variable offset the verifier can follow. */
  if (c->pos + hdr_bytes > c->end) return SHIELD_PARSE_TRUNCATED;
  total = bpf_ntohs(ip->tot_len);
  frag = bpf_ntohs(ip->frag_off);
  l3->saddr = ip->saddr;
  l3->protocol = ip->protocol;
  l3->l4_bytes = total > hdr_bytes ? total - hdr_bytes : 0;
  l3->is_fragment = (frag & (SHIELD_IP_MF | SHIELD_IP_OFFSET)) != 0;
  l3->first_fragment = (frag & SHIELD_IP_OFFSET) == 0;
  c->pos += hdr_bytes;
  return SHIELD_PARSE_OK;
}

static __always_inline enum shield_parse_result shield_parse_udp(struct shield_cursor *c,
                                                                 struct udphdr **udp) {
  struct udphdr *u = c->pos;
  if ((void *)(u + 1) > c->end) return SHIELD_PARSE_TRUNCATED;
  c->pos = u + 1;
  *udp = u;
  return SHIELD_PARSE_OK;
}

#endif /* DMRSWITCH_EBPF_SHIELD_PARSE_H_ */
