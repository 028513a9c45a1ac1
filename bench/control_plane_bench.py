#!/usr/bin/python3
"""Control plane hosted vs separate (issue #5 targets), in one run on the same devices.

For each control-plane mode the hub runs in dpdk mode on net_pcap (infinite_rx, the pps
harness's fanout-F load from dmrswitch-pcapgen) into net_null, one shard lcore on CPU 1; the
control plane is the dp's main lcore (hosted) or dmrswitch-cp pinned to CPU 0 (separate). Under
that full traffic it measures
  * the routing rate (hub ingress/egress from the status lines): separate / hosted must be
    >= 0.95;
  * `dmrswitch-ctl probe`: ring round trips cp -> shard -> cp (one in flight per shard) and
    snapshot publish-to-ack latency (a new generation of the same state until the shard acked);
  * the resident memory (VmRSS, and its anonymous part) of dmrswitch-dp and dmrswitch-cp.
Prints a markdown table.

  bench/control_plane_bench.py --build build --seconds 8
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pps_harness as pps  # noqa: E402


def rss_kib(pid):
    """VmRSS and RssAnon of a process, in KiB."""
    out = {}
    for line in open(f"/proc/{pid}/status"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            out[key] = int(value.split()[0])
    return out


def write_config(base, pcap, work, mode, fanout):
    text = open(base).read()
    # Idle (fanout 0): a port that receives nothing in place of the pcap, for the floor of the
    # round trip with the shard loop spinning empty.
    rx = (f"net_pcap0,rx_pcap={pcap},infinite_rx=1" if fanout else "net_null1,no-rx=1")
    eal = (f'eal_args = ["--no-pci", "--vdev={rx}", '
           f'"--vdev=net_null0,no-rx=1", "--file-prefix=dswcpb", "-l", "0-1", '
           f'"--log-level=lib.eal:error"]\ntx_port = 1\ngateway_mac = "02:00:00:00:00:fe"')
    text = re.sub(r"^eal_args\s*=.*$", eal, text, flags=re.M)
    text = re.sub(r"^control_plane\s*=.*$", "", text, flags=re.M)
    text = re.sub(r"^status_interval_s\s*=.*$", "", text, flags=re.M)
    ctl = os.path.join(work, "ctl.sock")
    text = text.replace("[hub]\n", f'[hub]\ncontrol_plane = "{mode}"\nstatus_interval_s = 1\n'
                                   f'ctl_socket = "{ctl}"\n', 1)
    path = os.path.join(work, f"hub-{mode}-{fanout}.toml")
    open(path, "w").write(text)
    return path, ctl


def run_mode(args, dp, cp, ctl_bin, base, pcap, work, mode, fanout):
    config, ctl = write_config(base, pcap, work, mode, fanout)
    dp_proc = pps.Proc([dp, "--config", config], work, "dmrswitch-dp: dpdk mode")
    if not dp_proc.wait_ready(30):
        print(dp_proc.stop()[-3000:], file=sys.stderr)
        sys.exit(f"{mode}: dmrswitch-dp did not start")
    cp_proc = None
    if mode == "separate":
        cp_proc = pps.Proc([cp, "--config", config, "--cpus", "0"], work, "dmrswitch-cp: attached")
        if not cp_proc.wait_ready(30):
            print(cp_proc.stop()[-3000:], file=sys.stderr)
            dp_proc.stop()
            sys.exit("dmrswitch-cp did not attach")
    time.sleep(2)  # traffic at full rate, snapshots settled
    probe = subprocess.run([ctl_bin, "--socket", ctl, "probe", "--pings", str(args.pings),
                            "--publishes", str(args.publishes)], capture_output=True, text=True)
    try:
        probe_json = json.loads(probe.stdout)
    except json.JSONDecodeError:
        probe_json = {}
        print(probe.stdout, probe.stderr, file=sys.stderr)
    mem = {"dp": rss_kib(dp_proc.p.pid)}
    if cp_proc:
        mem["cp"] = rss_kib(cp_proc.p.pid)
    time.sleep(max(0, args.seconds - 2))
    status_log = cp_proc.stop() if cp_proc else ""
    dp_log = dp_proc.stop()
    log = status_log if cp_proc else dp_log
    ins, outs = [], []
    for m in re.finditer(r"in (\d+) pps, out (\d+) pps, dropped (\d+) pps", log):
        ins.append(int(m.group(1)))
        outs.append(int(m.group(2)))
    # The probe holds the control plane busy for a moment: the status lines around it alias.
    return dict(mode=mode, fanout=fanout, hub_in=pps.steady(ins), hub_out=pps.steady(outs),
                probe=probe_json, mem=mem)


def fmt_ns(p, key):
    v = p.get(key)
    return f"{v / 1000:.1f}" if isinstance(v, (int, float)) else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--fanouts", default="0,1,16", help="0: no traffic (the idle floor)")
    ap.add_argument("--streams", type=int, default=64)
    ap.add_argument("--pings", type=int, default=20000)
    ap.add_argument("--publishes", type=int, default=200)
    ap.add_argument("--out-md", default="")
    args = ap.parse_args()
    b = os.path.abspath(args.build)
    dp = os.path.join(b, "dataplane", "dmrswitch-dp")
    cp = os.path.join(b, "ctrlplane", "dmrswitch-cp")
    ctl = os.path.join(b, "tools", "ctl", "dmrswitch-ctl")
    gen = os.path.join(b, "tools", "pcapgen", "dmrswitch-pcapgen")
    for x in (dp, cp, ctl, gen):
        if not os.path.exists(x):
            sys.exit(f"missing {x}: build first")
    rows = []
    with pps.Hugepages(1024), tempfile.TemporaryDirectory(prefix="dsw-cpb-") as work:
        for fanout in [int(f) for f in args.fanouts.split(",") if f]:
            pcap = os.path.join(work, f"load-{fanout}.pcap")
            base = os.path.join(work, f"load-{fanout}.toml")
            pps.sh([gen, "--out-pcap", pcap, "--out-config", base, "--streams", str(args.streams),
                    "--frames", "400", "--hub-mac", pps.PCAP_MAC, "--dmrd-bytes", "53",
                    "--shards", "1", "--fanout", str(max(fanout, 1))])
            for mode in ("hosted", "separate"):
                r = run_mode(args, dp, cp, ctl, base, pcap, work, mode, fanout)
                rows.append(r)
                print(f"fanout {fanout} {mode}: in {r['hub_in']/1e6:.2f} Mpps, out "
                      f"{r['hub_out']/1e6:.2f} Mpps, probe {json.dumps(r['probe'])}, "
                      f"mem {r['mem']}", flush=True)

    lines = ["| load (fanout; 0 = idle) | control plane | hub ingress (Mpps) | egress (Mpps) | separate / hosted | "
             "ring RTT p50 / p99 / max (µs) | publish→ack p50 / p99 / max (µs) | "
             "dp RSS (MiB) | cp RSS (MiB) |",
             "|---|---|---|---|---|---|---|---|---|"]
    hosted_in = {}
    for r in rows:
        if r["mode"] == "hosted":
            hosted_in[r["fanout"]] = r["hub_in"]
        ratio = (f"{r['hub_in'] / hosted_in[r['fanout']]:.3f}"
                 if r["mode"] == "separate" and hosted_in.get(r["fanout"]) else "—")
        rtt = r["probe"].get("ring_round_trip", {})
        pub = r["probe"].get("publish_to_ack", {})
        dp_mib = r["mem"]["dp"].get("VmRSS", 0) / 1024
        cp_mib = (f"{r['mem']['cp'].get('VmRSS', 0) / 1024:.1f}" if "cp" in r["mem"]
                  else "(in dp)")
        lines.append(
            f"| {r['fanout']} | {r['mode']} | {r['hub_in']/1e6:.2f} | {r['hub_out']/1e6:.2f} | "
            f"{ratio} | {fmt_ns(rtt, 'p50_ns')} / {fmt_ns(rtt, 'p99_ns')} / "
            f"{fmt_ns(rtt, 'max_ns')} | {fmt_ns(pub, 'p50_ns')} / {fmt_ns(pub, 'p99_ns')} / "
            f"{fmt_ns(pub, 'max_ns')} | {dp_mib:.1f} | {cp_mib} |")
    table = "\n".join(lines)
    print(table)
    if args.out_md:
        open(args.out_md, "w").write(table + "\n")


if __name__ == "__main__":
    main()
