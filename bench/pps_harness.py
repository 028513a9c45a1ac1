#!/usr/bin/python3
"""The pps harness (issue #4 item 4): DPDK-mode throughput of dmrswitch-dp against dpdk-testpmd
on the same devices, in the same run.

For each scenario (fanout F, HBP or OBP v1 destinations) it
  1. writes a pcap of realistic load and the matching hub configuration (dmrswitch-pcapgen:
     M staggered calls, fixed clients, fanout F);
  2. runs `dpdk-testpmd --forward-mode=io` from net_pcap (rx_pcap=FILE, infinite_rx=1) into
     net_null: the ceiling of these devices on one core;
  3. runs dmrswitch-dp in dpdk mode on the same two devices (ingress from net_pcap, egress into
     net_null via [dpdk] tx_port), one shard lcore, and reads RX/TX rates from its status line,
     drops, and the loop-latency percentiles it logs at stop;
and prints one table (markdown) plus a PNG plot.

Run as root on a box with hugepages (the harness reserves them if needed and restores the
previous reservation). Example:
  bench/pps_harness.py --build build --seconds 6 --out-md /tmp/pps.md --out-png docs/pps.png
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

PCAP_MAC = "02:70:63:61:70:00"  # net_pcap0's MAC in DPDK 22.11


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


class Hugepages:
    """Reserves 2 MiB hugepages and mounts hugetlbfs for the run; restores both afterwards."""

    def __init__(self, pages):
        self.pages = pages
        self.prev = None
        self.mounted = False

    def __enter__(self):
        path = "/proc/sys/vm/nr_hugepages"
        self.prev = int(open(path).read())
        if self.prev < self.pages:
            open(path, "w").write(str(self.pages))
        if subprocess.run(["mountpoint", "-q", "/dev/hugepages"]).returncode != 0:
            os.makedirs("/dev/hugepages", exist_ok=True)
            sh(["mount", "-t", "hugetlbfs", "nodev", "/dev/hugepages"])
            self.mounted = True
        return self

    def __exit__(self, *exc):
        if self.mounted:
            subprocess.run(["umount", "/dev/hugepages"])
        if self.prev is not None and self.prev < self.pages:
            open("/proc/sys/vm/nr_hugepages", "w").write(str(self.prev))


def run_for(cmd, seconds, cwd):
    """Runs cmd for `seconds`, then SIGINT; returns its combined output."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         cwd=cwd, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGINT)
        try:
            out, _ = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, _ = p.communicate()
    return out


def steady(values):
    """Mean of the steady part of a series of per-second rates (first and last dropped)."""
    v = values[1:-1] if len(values) > 3 else values
    return sum(v) / len(v) if v else 0.0


def testpmd(pcap, seconds, workdir):
    cmd = ["dpdk-testpmd", "-l", "0-1", "--no-pci", "--file-prefix=pps-testpmd",
           "--log-level=lib.eal:error",
           f"--vdev=net_pcap0,rx_pcap={pcap},infinite_rx=1", "--vdev=net_null0,no-rx=1",
           "--", "--forward-mode=io", "--auto-start", "--stats-period=1", "--nb-cores=1",
           "--rxq=1", "--txq=1", "--rxd=1024", "--txd=1024", "--burst=32"]
    out = run_for(cmd, seconds + 2, workdir)
    # testpmd prints a block per port every second: port 0 (pcap) receives, port 1 (null) sends.
    rx, tx = [], []
    for block in re.split(r"#+ NIC statistics for port ", out)[1:]:
        port = int(block.split()[0])
        m = re.search(r"Rx-pps:\s+(\d+)", block)
        t = re.search(r"Tx-pps:\s+(\d+)", block)
        if port == 0 and m:
            rx.append(int(m.group(1)))
        if port == 1 and t:
            tx.append(int(t.group(1)))
    return steady(rx), steady(tx), out


def hub(dp, config, pcap, seconds, workdir, shards):
    text = open(config).read()
    lcores = f"0-{shards}"
    eal = (f'eal_args = ["--no-pci", "--vdev=net_pcap0,rx_pcap={pcap},infinite_rx=1", '
           f'"--vdev=net_null0,no-rx=1", "--file-prefix=pps-dp", "-l", "{lcores}", '
           f'"--log-level=lib.eal:error"]\ntx_port = 1\ngateway_mac = "02:00:00:00:00:fe"\n')
    text = re.sub(r"^eal_args\s*=.*$", eal.rstrip("\n"), text, flags=re.M)
    text = re.sub(r"^status_interval_s\s*=.*$", "status_interval_s = 1", text, flags=re.M)
    if "status_interval_s" not in text:
        text = text.replace("[hub]\n", "[hub]\nstatus_interval_s = 1\n", 1)
    path = os.path.join(workdir, "hub.toml")
    open(path, "w").write(text)
    out = run_for([dp, "--config", path], seconds + 3, workdir)
    ins, outs, drops = [], [], []
    for m in re.finditer(r"in (\d+) pps, out (\d+) pps, dropped (\d+) pps", out):
        ins.append(int(m.group(1)))
        outs.append(int(m.group(2)))
        drops.append(int(m.group(3)))
    lat = re.findall(r"loop latency p50 (\d+) ns p99 (\d+) ns p99\.9 (\d+) ns", out)
    for line in out.splitlines():
        if " shard " in line and " rx " in line:
            print("   ", line.split(" info ")[-1], flush=True)
    return steady(ins), steady(outs), steady(drops), lat, out


def tsc_mhz():
    for line in open("/proc/cpuinfo"):
        if line.startswith("cpu MHz"):
            return float(line.split(":")[1])
    return 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=int, default=6)
    ap.add_argument("--streams", type=int, default=64)
    ap.add_argument("--fanouts", default="1,16")
    ap.add_argument("--obp-fanout", type=int, default=16, help="OBP v1 peers scenario (0: skip)")
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--out-md", default="")
    ap.add_argument("--out-png", default="")
    args = ap.parse_args()

    dp = os.path.abspath(os.path.join(args.build, "dataplane", "dmrswitch-dp"))
    gen = os.path.abspath(os.path.join(args.build, "tools", "pcapgen", "dmrswitch-pcapgen"))
    for b in (dp, gen):
        if not os.path.exists(b):
            sys.exit(f"missing {b}: build first (tools/test.sh or meson compile -C {args.build})")

    scenarios = [("HBP", int(f), 0) for f in args.fanouts.split(",") if f]
    if args.obp_fanout:
        scenarios.append(("OBP v1", 0, args.obp_fanout))
    rows = []
    with Hugepages(1024), tempfile.TemporaryDirectory(prefix="dsw-pps-") as work:
        for kind, fanout, peers in scenarios:
            pcap = os.path.join(work, "load.pcap")
            config = os.path.join(work, "load.toml")
            cmd = [gen, "--out-pcap", pcap, "--out-config", config, "--streams",
                   str(args.streams), "--frames", "40", "--hub-mac", PCAP_MAC, "--dmrd-bytes",
                   "53", "--shards", str(args.shards)]
            if peers:
                cmd += ["--fanout", "1", "--obp-peers", str(peers)]
            else:
                cmd += ["--fanout", str(fanout)]
            sh(cmd)
            t_rx, t_tx, _ = testpmd(pcap, args.seconds, work)
            h_in, h_out, h_drop, lat, log = hub(dp, config, pcap, args.seconds, work, args.shards)
            dests = peers + 1 if peers else fanout  # OBP scenario: 1 client + P peers
            rows.append(dict(kind=kind, fanout=dests, testpmd=t_rx, testpmd_tx=t_tx, hub_in=h_in,
                             hub_out=h_out, drop=h_drop, lat=lat[0] if lat else ("-",) * 3))
            print(f"{kind} fanout {dests}: testpmd {t_rx/1e6:.2f} Mpps, hub in {h_in/1e6:.2f} "
                  f"out {h_out/1e6:.2f} Mpps, dropped {h_drop/1e6:.3f} Mpps", flush=True)
            if h_in == 0:
                print(log[-3000:], file=sys.stderr)

    mhz = tsc_mhz()
    lines = ["| destinations | testpmd io (Mpps) | hub ingress (Mpps) | ingress / testpmd | "
             "hub egress (Mpps) | hub drops (Mpps) | cycles per ingress pkt | loop p50 / p99 / "
             "p99.9 (ns) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cyc = mhz * 1e6 / r["hub_in"] if r["hub_in"] else 0
        lines.append(
            f"| {r['fanout']} {r['kind']} | {r['testpmd']/1e6:.2f} | {r['hub_in']/1e6:.2f} | "
            f"{(r['hub_in']/r['testpmd'] if r['testpmd'] else 0):.2f} | {r['hub_out']/1e6:.2f} | "
            f"{r['drop']/1e6:.3f} | {cyc:.0f} | {' / '.join(r['lat'])} |")
    table = "\n".join(lines)
    print(table)
    if args.out_md:
        open(args.out_md, "w").write(table + "\n")
    if args.out_png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        labels = [f"{r['fanout']} {r['kind']}" for r in rows]
        x = range(len(rows))
        fig, ax = plt.subplots(figsize=(8, 4.5))
        w = 0.27
        ax.bar([i - w for i in x], [r["testpmd"] / 1e6 for r in rows], w, label="testpmd io (ceiling)")
        ax.bar(list(x), [r["hub_in"] / 1e6 for r in rows], w, label="dmrswitch ingress")
        ax.bar([i + w for i in x], [r["hub_out"] / 1e6 for r in rows], w, label="dmrswitch egress")
        ax.set_xticks(list(x))
        ax.set_xticklabels(labels)
        ax.set_ylabel("Mpps (one core, same run)")
        ax.set_title("dmrswitch-dp dpdk mode: net_pcap (infinite_rx) -> net_null, 95-byte frames")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.out_png, dpi=100)


if __name__ == "__main__":
    main()
