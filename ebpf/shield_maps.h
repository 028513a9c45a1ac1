/* The XDP shield's maps (BPF side). Names, sizes, keys and values come from shield_common.h,
 * which the C++ owner shares. The owner pins every map under
 * /sys/fs/bpf/dmrswitch/<runtime_name>/ after load; nothing here asks libbpf to pin, because
 * DPDK's net_af_xdp loads this same object with a plain bpf_object__open_file() and its pin root
 * would be /sys/fs/bpf itself (docs/ebpf.md, "afxdp mode"). */
#ifndef DMRSWITCH_EBPF_SHIELD_MAPS_H_
#define DMRSWITCH_EBPF_SHIELD_MAPS_H_

#include <linux/bpf.h>
/* (separate block so include sorting keeps the order) */
#include <bpf/bpf_helpers.h>

#include "ebpf/shield_common.h"

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct dmrswitch_shield_config);
} shield_config SEC(".maps");

/* UDP destination port (network order, widened to 32 bits) → DMRSWITCH_SHIELD_FAMILY_*. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, DMRSWITCH_SHIELD_MAX_PORTS);
  __type(key, __u32);
  __type(value, __u32);
} shield_ports SEC(".maps");

/* Source IPv4 (network order) → expiry, bpf_ktime_get_ns() terms, 0 = forever. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, DMRSWITCH_SHIELD_MAX_BLOCKED);
  __type(key, __u32);
  __type(value, __u64);
} shield_block SEC(".maps");

/* Configured OpenBridge/FBP peers: never rate limited. Port 0 = any port of the address. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, DMRSWITCH_SHIELD_MAX_EXEMPT);
  __type(key, struct dmrswitch_shield_source);
  __type(value, __u32);
} shield_exempt SEC(".maps");

/* One token bucket per source ip:port. Shared by all CPUs: a source's packets normally land on
 * one RX queue, and a lost update between two CPUs only lets one more packet through. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, DMRSWITCH_SHIELD_MAX_RATE_SOURCES);
  __type(key, struct dmrswitch_shield_source);
  __type(value, struct dmrswitch_shield_bucket);
} shield_rate SEC(".maps");

/* The IPv6 twins. Blocks by /128 or /64 (a login churn block covers the sender's /64). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, DMRSWITCH_SHIELD_MAX_BLOCKED);
  __type(key, struct dmrswitch_shield_block6_key);
  __type(value, __u64);
} shield_block6 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, DMRSWITCH_SHIELD_MAX_EXEMPT);
  __type(key, struct dmrswitch_shield_source6);
  __type(value, __u32);
} shield_exempt6 SEC(".maps");

/* One token bucket per source prefix (rate_prefix6) and port. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, DMRSWITCH_SHIELD_MAX_RATE_SOURCES);
  __type(key, struct dmrswitch_shield_source6);
  __type(value, struct dmrswitch_shield_bucket);
} shield_rate6 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, DMRSWITCH_SHIELD_V_COUNT);
  __type(key, __u32);
  __type(value, __u64);
} shield_verdicts SEC(".maps");

/* afxdp mode: one AF_XDP socket per RX queue, filled by DPDK's net_af_xdp (it looks the map up
 * by this exact name in the object given as xdp_prog=). Empty in kernel mode. */
struct {
  __uint(type, BPF_MAP_TYPE_XSKMAP);
  __uint(max_entries, DMRSWITCH_SHIELD_MAX_XSKS);
  __type(key, __u32);
  __type(value, __u32);
} xsks_map SEC(".maps");

#endif /* DMRSWITCH_EBPF_SHIELD_MAPS_H_ */
