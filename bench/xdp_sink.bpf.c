// SPDX-License-Identifier: GPL-3.0-or-later
/* The receivers' end of bench/afxdp_bench: on the client end of the veth pair, every DMRD the hub
 * sends (UDP whose payload starts with "DMRD") is counted and dropped, so the hub's egress is
 * counted where it lands at the cost of one XDP_DROP, not of a UDP socket per receiver competing
 * with the hub for the machine's cores. Everything else (logins, keepalives, ARP) passes to the
 * simulated clients' sockets. */
#include <linux/bpf.h>
/* (separate block so include sorting keeps the order) */
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>

char LICENSE[] SEC("license") = "GPL";

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} sink_dmrd SEC(".maps");

SEC("xdp")
int xdp_sink(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *end = (void *)(long)ctx->data_end;
  struct ethhdr *eth = data;
  struct iphdr *ip;
  struct udphdr *udp;
  __u8 *payload;
  __u32 zero = 0;
  __u64 *count;
  if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP)) return XDP_PASS;
  ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > end || ip->ihl != 5 || ip->protocol != IPPROTO_UDP) return XDP_PASS;
  udp = (void *)(ip + 1);
  if ((void *)(udp + 1) > end) return XDP_PASS;
  payload = (void *)(udp + 1);
  if ((void *)(payload + 4) > end) return XDP_PASS;
  if (payload[0] != 'D' || payload[1] != 'M' || payload[2] != 'R' || payload[3] != 'D') {
    return XDP_PASS;
  }
  count = bpf_map_lookup_elem(&sink_dmrd, &zero);
  if (count) *count += 1;
  return XDP_DROP;
}
