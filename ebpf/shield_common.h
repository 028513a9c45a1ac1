/* Shared verbatim by the XDP shield (ebpf/xdp_shield.bpf.c) and its C++ owner
 * (dataplane/io/xdp/xdp_shield.h): map names and sizes, the layout of every map key and value,
 * the listener families, and the verdicts with their names. A change here changes both sides
 * at once; the C++ side static_asserts the layouts it depends on.
 *
 * Plain C (gnu11 for the BPF target, C++20 for user space): no C++-only syntax here. */
#ifndef DMRSWITCH_EBPF_SHIELD_COMMON_H_
#define DMRSWITCH_EBPF_SHIELD_COMMON_H_

#ifdef __cplusplus
#include <cstdint>
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
#endif

/* The program's name as the kernel, libxdp and bpftool show it (15 characters at most): how a
 * stale instance of ours is told apart from somebody else's XDP program on the interface. */
#define DMRSWITCH_SHIELD_PROG_NAME "xdp_shield"

/* libxdp run config: the dispatcher runs lower priorities first. The shield goes before the
 * default (50) so a flood is dropped before any other program spends time on it; XDP_PASS
 * chains on to the next program, XDP_DROP and XDP_REDIRECT end the chain. */
#define DMRSWITCH_SHIELD_RUN_PRIO 20

/* Map names (15 characters at most: the kernel truncates longer names). They are also the file
 * names under the pin directory /sys/fs/bpf/dmrswitch/<runtime_name>/. xsks_map is the name
 * DPDK's net_af_xdp looks up in an xdp_prog= object; it cannot change. */
#define DMRSWITCH_SHIELD_MAP_CONFIG "shield_config"
#define DMRSWITCH_SHIELD_MAP_PORTS "shield_ports"
#define DMRSWITCH_SHIELD_MAP_BLOCK "shield_block"
#define DMRSWITCH_SHIELD_MAP_EXEMPT "shield_exempt"
#define DMRSWITCH_SHIELD_MAP_RATE "shield_rate"
#define DMRSWITCH_SHIELD_MAP_VERDICTS "shield_verdicts"
#define DMRSWITCH_SHIELD_MAP_BLOCK6 "shield_block6"
#define DMRSWITCH_SHIELD_MAP_EXEMPT6 "shield_exempt6"
#define DMRSWITCH_SHIELD_MAP_RATE6 "shield_rate6"
#define DMRSWITCH_SHIELD_MAP_XSKS "xsks_map"

/* Capacities. Ports: one HBP listener and one per OpenBridge peer. Rate: sources tracked at
 * once (LRU: a source evicted by a spoofed-address flood comes back with a full bucket, which
 * never hurts a well-behaved client). XSKs: the most queues (= afxdp shards) an interface has. */
#define DMRSWITCH_SHIELD_MAX_PORTS 256u
#define DMRSWITCH_SHIELD_MAX_BLOCKED 65536u
#define DMRSWITCH_SHIELD_MAX_EXEMPT 1024u
#define DMRSWITCH_SHIELD_MAX_RATE_SOURCES 65536u
#define DMRSWITCH_SHIELD_MAX_XSKS 64u

/* What a listener port speaks (value of shield_ports). 0 is never stored. */
#define DMRSWITCH_SHIELD_FAMILY_HBP 1u        /* Homebrew master: clients log in here */
#define DMRSWITCH_SHIELD_FAMILY_OPENBRIDGE 2u /* OBP v1 and FBP v4/v5 with BC* control */

/* shield_config.flags */
#define DMRSWITCH_SHIELD_F_AFXDP 1u /* redirect accepted hub traffic to xsks_map */

/* The one entry (key 0) of the array shield_config. Everything the program is told at run time
 * lives in maps, not rodata: DPDK loads the object itself in afxdp mode, so rodata would be
 * frozen at its defaults before the owner could touch it. All zero (the state right after load)
 * means: kernel mode, no rate limit. */
struct dmrswitch_shield_config {
  /* Token bucket as a GCRA: one packet costs rate_interval_ns (1e9 / source_pps) of credit, a
   * source may run rate_burst_ns (source_burst * interval) ahead of its rate. 0 = no limit. */
  uint64_t rate_interval_ns;
  uint64_t rate_burst_ns;
  uint32_t flags;
  /* IPv6 sources share a token bucket per prefix of this length (and source port): a sender
   * must not mint fresh buckets by rotating addresses inside its /64, as an IPv4 sender cannot
   * rotate its address. 0 (the state after load) means 64; 1..128. */
  uint32_t rate_prefix6;
};

/* IPv6 extension headers the shield walks before it calls a chain too long (as the dp's parser
 * does, dataplane/net/packet.h kIpv6MaxExtHeaders). */
#define DMRSWITCH_SHIELD_MAX_EXT_HEADERS 4
#define DMRSWITCH_SHIELD_DEFAULT_PREFIX6 64u

/* Key of shield_exempt6 and shield_rate6: an IPv6 source (address in network order; in
 * shield_rate6 masked to rate_prefix6), port in network order (0 in shield_exempt6 = every
 * port). */
struct dmrswitch_shield_source6 {
  uint8_t addr[16];
  uint16_t port;
  uint16_t pad; /* always 0 */
};

/* Key of shield_block6: a prefix (64 or 128 bits; the program looks up the /128, then the /64)
 * and the address masked to it. Value: expiry as in shield_block. */
struct dmrswitch_shield_block6_key {
  uint32_t prefix_len;
  uint8_t addr[16];
};

/* Key of shield_exempt and shield_rate: a source in network byte order. In shield_exempt,
 * port 0 exempts every port of the address. */
struct dmrswitch_shield_source {
  uint32_t addr; /* IPv4, network order */
  uint16_t port; /* network order */
  uint16_t pad;  /* always 0 (part of the hash key) */
};

/* shield_block: key = IPv4 address in network order (uint32_t), value = expiry in
 * bpf_ktime_get_ns() terms (CLOCK_MONOTONIC), 0 = forever. */
#define DMRSWITCH_SHIELD_BLOCK_FOREVER 0ull

/* shield_rate value: the GCRA's theoretical arrival time of the next packet, ns. */
struct dmrswitch_shield_bucket {
  uint64_t tat_ns;
};

/* Every verdict the program can reach, one counter each (per-CPU array shield_verdicts,
 * summed by readers). Exactly one is counted per packet, so they add up to the packets seen.
 * X(NAME, name): NAME gives DMRSWITCH_SHIELD_V_NAME, name is what operators read. Append only:
 * the numbers are the counter indices, and a control plane of the previous build may read
 * them. */
#define DMRSWITCH_SHIELD_VERDICTS(X)                                                         \
  X(PASS_NOT_IPV4, pass_not_ipv4)             /* ARP, LLDP, ... (not IPv4, not IPv6) */      \
  X(PASS_IPV6, pass_ipv6)                     /* IPv6 ESP/AH/no next header: not walked */   \
  X(PASS_VLAN_TOO_DEEP, pass_vlan_too_deep)   /* more than two VLAN tags */                  \
  X(PASS_NOT_UDP, pass_not_udp)               /* ICMP, TCP (SSH), ... */                     \
  X(PASS_NOT_HUB_PORT, pass_not_hub_port)     /* UDP to a port the hub does not listen on */ \
  X(PASS_FRAGMENT, pass_fragment)             /* non-first IPv4 fragment: no UDP header */   \
  X(PASS_NO_CONFIG, pass_no_config)           /* config map unreadable: fail open */         \
  X(PASS_HUB, pass_hub)                       /* accepted hub traffic, kernel mode */        \
  X(PASS_HUB_NO_XSK, pass_hub_no_xsk)         /* accepted, afxdp mode, no socket on queue */ \
  X(REDIRECT_HUB, redirect_hub)               /* accepted, afxdp mode, to the queue's XSK */ \
  X(DROP_SHORT_HEADER, drop_short_header)     /* frame ends inside Ethernet/VLAN/IP/UDP */   \
  X(DROP_MALFORMED_IP, drop_malformed_ip)     /* IHL < 5, IPv6 version ≠ 6              */ \
  X(DROP_MALFORMED_UDP, drop_malformed_udp)   /* UDP length < 8 or beyond the IP packet */   \
  X(DROP_FRAGMENT, drop_fragment)             /* first fragment to a hub port */             \
  X(DROP_SHORT_PAYLOAD, drop_short_payload)   /* fewer than 4 payload bytes: no tag */       \
  X(DROP_BAD_MAGIC, drop_bad_magic)           /* tag unknown for the port's family */        \
  X(DROP_MALFORMED_LEN, drop_malformed_len)   /* known tag, impossible length */             \
  X(DROP_BLOCKED, drop_blocked)               /* source in shield_block, not expired */      \
  X(DROP_RATE_LIMITED, drop_rate_limited)     /* source beyond its token bucket */           \
  X(DROP_IPV6_EXT_CHAIN, drop_ipv6_ext_chain) /* IPv6: over 4 extension headers to walk */

#define DMRSWITCH_SHIELD_V_ENUM_(NAME, name) DMRSWITCH_SHIELD_V_##NAME,
enum dmrswitch_shield_verdict {
  DMRSWITCH_SHIELD_VERDICTS(DMRSWITCH_SHIELD_V_ENUM_) DMRSWITCH_SHIELD_V_COUNT
};
#undef DMRSWITCH_SHIELD_V_ENUM_

#if !defined(__bpf__)
/* The operator-facing names, indexed by verdict (user space only: the program never needs
 * strings). */
#define DMRSWITCH_SHIELD_V_NAME_(NAME, name) #name,
static const char* const dmrswitch_shield_verdict_names[DMRSWITCH_SHIELD_V_COUNT] = {
    DMRSWITCH_SHIELD_VERDICTS(DMRSWITCH_SHIELD_V_NAME_)};
#undef DMRSWITCH_SHIELD_V_NAME_
#endif

#endif /* DMRSWITCH_EBPF_SHIELD_COMMON_H_ */
