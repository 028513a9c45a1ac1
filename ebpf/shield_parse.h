/* Header parsing for the XDP shield: Ethernet, up to two VLAN tags (802.1Q / 802.1ad), IPv4 with
 * options or IPv6 with up to DMRSWITCH_SHIELD_MAX_EXT_HEADERS extension headers, UDP. Every
 * function takes a cursor, checks bounds against data_end before each read (the verifier
 * insists, and a frame can end anywhere), and moves the cursor past what it parsed. Both IP
 * versions fill one struct shield_l3; only the source address differs in width. */
#ifndef DMRSWITCH_EBPF_SHIELD_PARSE_H_
#define DMRSWITCH_EBPF_SHIELD_PARSE_H_

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
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
  SHIELD_PARSE_TRUNCATED,  /* the frame ends inside a header */
  SHIELD_PARSE_MALFORMED,  /* a header contradicts itself */
  SHIELD_PARSE_TOO_DEEP,   /* more VLAN tags than we look through */
  SHIELD_PARSE_EXT_CHAIN,  /* IPv6: more extension headers than we walk */
  SHIELD_PARSE_NOT_WALKED, /* IPv6: ESP, AH or "no next header": the L4 header is not there */
};

/* What the L4 code needs from L3, whatever the IP version. */
struct shield_l3 {
  __u32 saddr;     /* IPv4, network order */
  __u8 saddr6[16]; /* IPv6 */
  __u8 is_v6;
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

/* An IPv6 extension header's first two bytes (next header, length in 8-byte units beyond the
 * first 8). The Fragment header has the same first byte and is always 8 bytes. */
struct shield_ext_hdr {
  __u8 nexthdr;
  __u8 hdrlen;
  __be16 frag_off; /* Fragment header only: offset << 3 | M */
};

#define SHIELD_NH_HOP 0
#define SHIELD_NH_ROUTING 43
#define SHIELD_NH_FRAGMENT 44
#define SHIELD_NH_ESP 50
#define SHIELD_NH_AH 51
#define SHIELD_NH_NONE 59
#define SHIELD_NH_DSTOPTS 60

/* IPv6 and its extension headers (Hop-by-Hop, Routing, Destination Options, Fragment), at most
 * DMRSWITCH_SHIELD_MAX_EXT_HEADERS of them. Leaves the cursor at the L4 header. Like IPv4, only
 * what is needed to find the L4 header is checked here. */
static __always_inline enum shield_parse_result shield_parse_ipv6(struct shield_cursor *c,
                                                                  struct shield_l3 *l3) {
  struct ipv6hdr *ip6 = c->pos;
  __u32 payload;
  __u32 consumed = 0;
  __u8 nh;
  if ((void *)(ip6 + 1) > c->end) return SHIELD_PARSE_TRUNCATED;
  if (ip6->version != 6) return SHIELD_PARSE_MALFORMED;
  __builtin_memcpy(l3->saddr6, &ip6->saddr, 16);
  l3->is_v6 = 1;
  payload = bpf_ntohs(ip6->payload_len);
  nh = ip6->nexthdr;
  c->pos = ip6 + 1;
#pragma unroll
  for (int i = 0; i < DMRSWITCH_SHIELD_MAX_EXT_HEADERS; i++) {
    struct shield_ext_hdr *e = c->pos;
    __u32 len;
    if (nh != SHIELD_NH_HOP && nh != SHIELD_NH_ROUTING && nh != SHIELD_NH_DSTOPTS &&
        nh != SHIELD_NH_FRAGMENT) {
      break;
    }
    if ((void *)e + 8 > c->end) return SHIELD_PARSE_TRUNCATED;
    if (nh == SHIELD_NH_FRAGMENT) {
      const __u16 frag = bpf_ntohs(e->frag_off);
      l3->is_fragment = 1;
      l3->first_fragment = (frag & 0xFFF8) == 0;
      len = 8;
    } else {
      len = ((__u32)e->hdrlen + 1) * 8; /* 8..2048: a bounded offset the verifier follows */
    }
    if (c->pos + len > c->end) return SHIELD_PARSE_TRUNCATED;
    nh = e->nexthdr;
    c->pos += len;
    consumed += len;
  }
  if (nh == SHIELD_NH_HOP || nh == SHIELD_NH_ROUTING || nh == SHIELD_NH_DSTOPTS ||
      nh == SHIELD_NH_FRAGMENT) {
    return SHIELD_PARSE_EXT_CHAIN;
  }
  if (nh == SHIELD_NH_ESP || nh == SHIELD_NH_AH || nh == SHIELD_NH_NONE) {
    return SHIELD_PARSE_NOT_WALKED;
  }
  l3->protocol = nh;
  l3->l4_bytes = payload > consumed ? payload - consumed : 0;
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
