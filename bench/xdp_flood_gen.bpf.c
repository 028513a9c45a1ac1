// SPDX-License-Identifier: GPL-3.0-or-later
/* Traffic generator for bench/xdp_shield_bench: run through BPF_PROG_TEST_RUN with
 * BPF_F_TEST_XDP_LIVE_FRAMES, the kernel sends the test frame out of out_ifindex once per
 * repetition (xdp-trafficgen's technique). On a veth the frames arrive at the peer's NAPI, so the
 * receiving side's cost, not the generator's, sets the rate: that is what the benchmark compares
 * (the shield's drop vs the kernel's UDP receive path).
 *
 * spin (set between runs) paces the flood: each frame first burns `spin` iterations of an empty
 * bpf_loop. Pacing by sleeping between runs does not work: every live-frames run ends with an RCU
 * grace period (its page pool is torn down), tens of milliseconds. */
#include <linux/bpf.h>
/* (separate block so include sorting keeps the order) */
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 out_ifindex = 0;
__u32 spin = 0;

static long nothing(__u32 index __attribute__((unused)), void *ctx __attribute__((unused))) {
  return 0;
}

SEC("xdp")
int xdp_flood_gen(struct xdp_md *ctx __attribute__((unused))) {
  if (spin) bpf_loop(spin, nothing, 0, 0);
  return bpf_redirect(out_ifindex, 0);
}
