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

With --memif (issue #4 item 4(b)) it also runs the hub on net_memif (role=server, one port: RX
and routed egress, tx_port = 0) against dmrswitch-trafgen (tools/trafgen), a separate DPDK
process on the other end (role=client) that replays the same pcap flat out and counts all the
egress it gets back; `dpdk-testpmd --forward-mode=io --port-topology=loop` in the hub's place
is that setup's ceiling. On 2 cores: hub main lcore (control plane, mostly idle) and the
generator share CPU 0 (`--lcores=0@0,1@1` for the hub, `-l 0` for the generator); the hub's
shard lcore owns CPU 1.

With --zero-loss (issue #4 item 5) it searches, per HBP fanout, the highest offered rate with no
loss on memif (RFC 2544 style: binary search, a fresh hub per trial): a trial passes when the
generator's port refused nothing (tx_failed = 0), received = sent x fanout within
--loss-tolerance (default 0: exact), and the hub counted no drops (status lines, shard counters).

With --profiles pi-club,national,backbone (issue 15 items 3 and 6) it runs each load profile
(dmrswitch-pcapgen --profile) on memif at its real rate (live streams x 16.7 pps) and at
headroom, the generator timing every copy (trafgen --latency): loss, the hub's busy cycles per
frame and loop latency, and TX -> return latency, one row per trial.

Run as root on a box with hugepages (the harness reserves them if needed and restores the
previous reservation). Example:
  bench/pps_harness.py --build build --seconds 6 --out-md /tmp/pps.md --out-png docs/pps.png
  bench/pps_harness.py --build build --memif --memif-only --zero-loss --seconds 4 \
      --out-md /tmp/memif.md
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

PCAP_MAC = "02:70:63:61:70:00"  # net_pcap0's MAC in DPDK 22.11
# net_memif takes its MAC from the mac= devarg (the default, 01:ab:23:cd:45:ef, is multicast):
# the hub's memif port gets HUB_MEMIF_MAC, which pcapgen writes as every frame's destination.
HUB_MEMIF_MAC = "02:00:c6:12:00:01"
GEN_MEMIF_MAC = "02:00:c6:12:00:02"
BUCKET = 64  # the generator's token bucket depth (packets); --bucket


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


def lcore_map(shards):
    """EAL --lcores for the main lcore and `shards` shard lcores on this machine's CPUs: shard s
    on CPU s mod ncpu, so with more lcores than CPUs the last shards share (on 2 CPUs, 2 shards:
    shard 1 alone on CPU 1, shard 2 beside the mostly idle main lcore on CPU 0)."""
    ncpu = os.cpu_count() or 1
    return ",".join(f"{i}@{i % ncpu}" for i in range(shards + 1))


def hub(dp, config, pcap, seconds, workdir, shards):
    """The hub on net_pcap -> net_null. With several shards, queue q replays `pcap`.q (pcapgen
    --split): one file per RX queue, every stream on one queue, about half of them arriving at a
    shard that does not own them (steered)."""
    text = open(config).read()
    text = re.sub(r"^shards\s*=.*$", f"shards = {shards}", text, flags=re.M)
    files = [pcap] if shards == 1 else [f"{pcap}.{q}" for q in range(shards)]
    rx = ",".join(f"rx_pcap={f}" for f in files)
    eal = (f'eal_args = ["--no-pci", "--vdev=net_pcap0,{rx},infinite_rx=1", '
           f'"--vdev=net_null0,no-rx=1", "--file-prefix=pps-dp", "--lcores", '
           f'"{lcore_map(shards)}", "--log-level=lib.eal:error"]\ntx_port = 1\n'
           f'gateway_mac = "02:00:00:00:00:fe"\n')
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


def stop_totals(log):
    """rx, tx and tx_dropped summed over the shard lines the hub logs at stop."""
    tot = {"rx": 0, "tx": 0, "tx_dropped": 0, "steered_in": 0, "lost": 0}
    for m in re.finditer(r"shard \d+: rx (\d+) tx (\d+) tx_dropped (\d+)", log):
        tot["rx"] += int(m.group(1))
        tot["tx"] += int(m.group(2))
        tot["tx_dropped"] += int(m.group(3))
    for m in re.finditer(r"shard \d+: .*steered out/in (\d+)/(\d+) steer_full (\d+) dropped "
                         r"(\d+).* net_rejects (\d+)", log):
        tot["steered_in"] += int(m.group(2))
        # Received frames that were not routed: steering ring full, routing core drops (a
        # sequence gap a full ring left is an out-of-order or after-end drop), L2-L4 rejects.
        tot["lost"] += int(m.group(3)) + int(m.group(4)) + int(m.group(5))
    return tot


def cross_check(log, h_in, h_out, dests, h_drop=0.0):
    """"ok", or why the run's figures disagree with each other (issue 15 item 5): every frame of
    the load that is routed fans out to exactly `dests` destinations, so the shards' own totals
    must show tx + tx_dropped = (rx - lost) x dests, and the steady rates egress = (ingress -
    dropped) x dests. A disagreement makes the row invalid: it is reported, never averaged.
    Loss itself is not a disagreement: the tables report it."""
    tot = stop_totals(log)
    why = []
    if tot["rx"] == 0:
        return "no shard stop line (the hub did not stop cleanly)"
    # A few datagrams are not voice (the load's logins and their acks): 0.1 % of slack.
    want = (tot["rx"] - tot["lost"]) * dests
    if abs(tot["tx"] + tot["tx_dropped"] - want) > 0.001 * want:
        why.append(f"shard totals tx {tot['tx']} + dropped {tot['tx_dropped']} != (rx "
                   f"{tot['rx']} - lost {tot['lost']}) x {dests}")
    if h_in == 0 or abs(h_out - (h_in - h_drop) * dests) > 0.02 * h_in * dests:
        why.append(f"steady egress {h_out:.0f} pps != (ingress {h_in:.0f} - dropped "
                   f"{h_drop:.0f}) x {dests}")
    return "; ".join(why) if why else "ok"


def loss_share(log):
    """Received frames not routed, as a share of all received (stop lines)."""
    tot = stop_totals(log)
    return (tot["lost"] + tot["tx_dropped"]) / tot["rx"] if tot["rx"] else 0.0


class Proc:
    """A background process whose output is collected by a thread; waits for a ready line."""

    def __init__(self, cmd, cwd, ready):
        self.lines = []
        self.ready = threading.Event()
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  cwd=cwd, start_new_session=True)

        def pump():
            for line in self.p.stdout:
                self.lines.append(line)
                if ready in line:
                    self.ready.set()
            self.ready.set()  # exited: nobody waits for nothing

        self.t = threading.Thread(target=pump, daemon=True)
        self.t.start()

    def wait_ready(self, timeout):
        return self.ready.wait(timeout) and self.p.poll() is None

    def stop(self):
        """SIGINT (SIGKILL after 20 s); returns the whole output."""
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGINT)
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self.t.join(timeout=5)
        return "".join(self.lines)


def memif_vdev(sock, role, mac):
    # A socket file in the run's temporary directory (removed with it), not an abstract one.
    return f"net_memif0,role={role},socket={sock},socket-abstract=no,mac={mac}"


def trafgen(gen, pcap, sock, rate, seconds, workdir, latency=False, bucket=None):
    """One generator run on the memif client end; returns its result line as a dict."""
    cmd = [gen, "--pcap", pcap, "--rate-pps", str(int(rate)), "--seconds", str(seconds),
           "--bucket", str(bucket or BUCKET)] + (["--latency"] if latency else []) + [
           "--link-timeout-s", "15", "--drain-ms", "300", "--",
           f"--vdev={memif_vdev(sock, 'client', GEN_MEMIF_MAC)}", "-l", "0",
           "--file-prefix=pps-gen", "--log-level=lib.eal:error"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, timeout=seconds + 60)
    for line in r.stdout.splitlines():
        if line.startswith("trafgen: "):
            return {k: float(v) for k, v in (t.split("=") for t in line.split()[1:])}
    raise RuntimeError(f"trafgen failed (exit {r.returncode}):\n{r.stdout}{r.stderr}")


def memif_hub_config(config, sock, workdir, shards):
    text = open(config).read()
    eal = (f'eal_args = ["--no-pci", "--vdev={memif_vdev(sock, "server", HUB_MEMIF_MAC)}", '
           f'"--file-prefix=pps-dp-memif", "--in-memory", "--lcores=0@0,1@1", '
           f'"--log-level=lib.eal:error"]\ntx_port = 0\ngateway_mac = "02:00:00:00:00:fe"\n')
    text = re.sub(r"^eal_args\s*=.*$", eal.rstrip("\n"), text, flags=re.M)
    text = re.sub(r"^status_interval_s\s*=.*$", "status_interval_s = 1", text, flags=re.M)
    if "status_interval_s" not in text:
        text = text.replace("[hub]\n", "[hub]\nstatus_interval_s = 1\n", 1)
    path = os.path.join(workdir, "hub-memif.toml")
    open(path, "w").write(text)
    return path


SHARD_RE = re.compile(r"shard \d+: rx (\d+) tx (\d+) tx_dropped (\d+) routed (\d+) out (\d+) .*?"
                      r"no_neighbor (\d+) no_mbuf (\d+) net_rejects (\d+)")


def memif_trial(dp, gen, hub_config, pcap, sock, rate, seconds, workdir, latency=False,
                bucket=None):
    """A fresh hub on the memif server end, the generator at `rate` (0: flat out) on the client
    end; returns the generator's counters plus the hub's."""
    if os.path.exists(sock):
        os.unlink(sock)
    hub_p = Proc([dp, "--config", hub_config], workdir, "dmrswitch-dp: dpdk mode")
    try:
        if not hub_p.wait_ready(30):
            raise RuntimeError("hub did not start:\n" + hub_p.stop()[-3000:])
        g = trafgen(gen, pcap, sock, rate, seconds, workdir, latency, bucket)
    finally:
        out = hub_p.stop()
        if os.path.exists(sock):
            os.unlink(sock)
    ins, outs, drops = [], [], []
    for m in re.finditer(r"in (\d+) pps, out (\d+) pps, dropped (\d+) pps", out):
        ins.append(int(m.group(1)))
        outs.append(int(m.group(2)))
        drops.append(int(m.group(3)))
    h = [0] * 8
    for m in SHARD_RE.finditer(out):
        h = [a + int(b) for a, b in zip(h, m.groups())]
    lat = re.findall(r"loop latency p50 (\d+) ns p99 (\d+) ns p99\.9 (\d+) ns", out)
    cycles = [float(c) for c in re.findall(r"(\d+) busy cycles per rx frame", out)]
    g.update(cycles_per_frame=max(cycles) if cycles else 0.0)
    g.update(hub_rx=h[0], hub_tx=h[1], hub_tx_dropped=h[2], hub_routed=h[3], hub_out=h[4],
             hub_no_neighbor=h[5], hub_no_mbuf=h[6], hub_net_rejects=h[7],
             hub_status_dropped=sum(drops),
             # Over the generator's sending time: the hub's status lines also cover its idle
             # start-up and the link set-up.
             hub_in_pps=h[0] / max(g["seconds"], 1e-9), hub_out_pps=h[1] / max(g["seconds"], 1e-9),
             lat=lat[0] if lat else ("-",) * 3, hub_log=out)
    # At stop the hub says goodbye (MSTCL, ControlPlane::Shutdown -> HbpAuth::Shutdown) to each
    # fixed client; the generator has left by then, so those are dropped at TX: not the trial's.
    clients = [int(c) for c in re.findall(r"status: clients (\d+)", out)]
    g["hub_goodbyes"] = min(h[2], clients[-1] if clients else 0)
    g["hub_drops"] = (max(0, h[4] - h[1]) + (h[0] - h[3]) + h[5] + h[6] + h[7] + sum(drops) +
                      (h[2] - g["hub_goodbyes"]))
    return g


def testpmd_memif(gen, pcap, sock, seconds, workdir):
    """dpdk-testpmd io forwarding in the hub's place (one memif port looped back to itself):
    the ceiling of memif plus this generator. Returns the generator's counters."""
    if os.path.exists(sock):
        os.unlink(sock)
    cmd = ["dpdk-testpmd", "--lcores=0@0,1@1", "--no-pci", "--in-memory",
           "--file-prefix=pps-testpmd-memif", "--log-level=lib.eal:error",
           f"--vdev={memif_vdev(sock, 'server', HUB_MEMIF_MAC)}", "--",
           "--forward-mode=io", "--port-topology=loop", "--auto-start", "--nb-cores=1",
           "--rxq=1", "--txq=1", "--rxd=1024", "--txd=1024", "--burst=32", "--stats-period=1"]
    tp = Proc(cmd, workdir, "packet forwarding")
    try:
        if not tp.wait_ready(30):
            raise RuntimeError("testpmd did not start:\n" + tp.stop()[-3000:])
        return trafgen(gen, pcap, sock, 0, seconds, workdir)
    finally:
        tp.stop()
        if os.path.exists(sock):
            os.unlink(sock)


def trial_verdict(g, fanout, tolerance):
    """(passed, reason, loss ratio) of one zero-loss trial."""
    expected = g["sent"] * fanout
    loss = (expected - g["received"]) / expected if expected else 1.0
    if g["requested_pps"] and g["offered_pps"] < 0.98 * g["requested_pps"]:
        return False, "generator below the requested rate", loss
    if g["tx_failed"]:
        return False, f"{int(g['tx_failed'])} refused at the port", loss
    if g["hub_drops"]:
        return False, f"hub drops {int(g['hub_drops'])}", loss
    if g["received"] < expected and loss > tolerance:
        return False, f"{int(expected - g['received'])} not received", loss
    if g["received"] > expected:
        return False, f"{int(g['received'] - expected)} more than expected", loss
    return True, "ok", loss


def zero_loss(dp, gen, config, pcap, sock, fanout, args, workdir, flat_out=None):
    """RFC 2544 style: a flat-out trial (the generator's own ceiling; `flat_out` if it was run
    already), then a binary search on a log scale between --zl-min-mpps and --zl-max-mpps."""
    trials = []

    def trial(rate):
        if rate == 0 and flat_out is not None:
            g = flat_out
            ok, why, loss = trial_verdict(g, fanout, args.loss_tolerance)
            trials.append(dict(rate=rate, g=g, ok=ok, why=why, loss=loss))
            return ok, g
        for _ in range(3):  # a generator descheduled below its rate is no trial: again
            g = memif_trial(dp, gen, config, pcap, sock, rate, args.seconds, workdir)
            ok, why, loss = trial_verdict(g, fanout, args.loss_tolerance)
            if not why.startswith("generator below"):
                break
            print(f"  (generator offered {g['offered_pps']/1e6:.3f} of {rate/1e6:.3f} Mpps: "
                  "again)", flush=True)
        trials.append(dict(rate=rate, g=g, ok=ok, why=why, loss=loss))
        print(f"  fanout {fanout} trial {len(trials)}: requested "
              f"{'flat out' if rate == 0 else f'{rate/1e6:.3f} Mpps'}, offered "
              f"{g['offered_pps']/1e6:.3f} Mpps, sent {int(g['sent'])}, received "
              f"{int(g['received'])} (x{g['received']/max(g['sent'], 1):.3f}), hub drops "
              f"{int(g['hub_drops'])}: {'PASS' if ok else 'FAIL ' + why}", flush=True)
        return ok, g

    ok, g = trial(0)
    if ok:
        return trials, g["offered_pps"]
    # Refused frames make a flat-out "offered" rate meaningless as a bound: the search's top is
    # --zl-max-mpps.
    lo, hi = args.zl_min_mpps * 1e6, args.zl_max_mpps * 1e6
    best = 0.0
    if trial(lo)[0]:
        best = lo
        for _ in range(args.zl_iterations):
            mid = (lo * hi) ** 0.5
            if trial(mid)[0]:
                lo = best = mid
            else:
                hi = mid
    return trials, best


def run_shard_ratio(args, dp, gen, work):
    """Issue 15 item 4: per HBP fanout, the same load through 1 shard and through 2 (queue q
    replays pcapgen's file q; a stream's owner is a function of its ID, so about half of each
    queue's streams are steered to the other shard), one after the other in this run. Returns
    the markdown table."""
    lines = ["| fanout | ingress, 1 shard (Mpps) | ingress, 2 shards (Mpps) | egress, 1 shard "
             "(Mpps) | egress, 2 shards (Mpps) | egress 2 / 1 | ingress lost 1 / 2 shards | "
             "steered to the other shard | counts agree |",
             "|---|---|---|---|---|---|---|---|---|"]
    for f in [int(x) for x in args.fanouts.split(",") if x]:
        pcap = os.path.join(work, "ratio.pcap")
        config = os.path.join(work, "ratio.toml")
        sh([gen, "--out-pcap", pcap, "--out-config", config, "--streams", str(args.streams),
            "--frames", "400", "--hub-mac", PCAP_MAC, "--dmrd-bytes", "53", "--shards", "2",
            "--split", "2", "--fanout", str(f)])
        res = {}
        for shards in (1, 2):
            h_in, h_out, h_drop, _, log = hub(dp, config, pcap, args.seconds, work, shards)
            tot = stop_totals(log)
            res[shards] = dict(h_in=h_in, h_out=h_out, check=cross_check(log, h_in, h_out, f,
                                                                         h_drop),
                               loss=loss_share(log),
                               steered=tot["steered_in"] / tot["rx"] if tot["rx"] else 0)
            print(f"ratio fanout {f}, {shards} shard(s): in {h_in/1e6:.2f} out {h_out/1e6:.2f} "
                  f"Mpps, steered {res[shards]['steered']:.2f}, lost {res[shards]['loss']:.2%}, "
                  f"{res[shards]['check']}", flush=True)
        one, two = res[1], res[2]
        ok = one["check"] == "ok" and two["check"] == "ok"
        lines.append(
            f"| {f} | {one['h_in']/1e6:.2f} | {two['h_in']/1e6:.2f} | "
            f"{one['h_out']/1e6:.2f} | {two['h_out']/1e6:.2f} | "
            f"**{(two['h_out']/one['h_out'] if one['h_out'] else 0):.2f}** | "
            f"{one['loss']:.1%} / {two['loss']:.1%} | {two['steered']:.0%} | "
            f"{'yes' if ok else 'INVALID: ' + one['check'] + ' / ' + two['check']} |")
    return "\n".join(lines)


# Issue 15 items 3 and 6: the load profiles (dmrswitch-pcapgen --profile) and the offered rates
# each is measured at: its real rate (live streams x 16.7 pps: a DMR stream is 60 ms per frame)
# and headroom. Frames per call: long calls as on the air (15 s), never more than 256 so that a
# (stream ID, sequence number) key comes back only a whole pass of the file later (the generator
# times a copy against the key's last send); the backbone's fewer so that its 16,384 streams fit
# the generator's memory.
PROFILES = {
    "pi-club": dict(streams=10, dests=8, frames=250, rates=[10 * 50 / 3, 100_000]),
    "national": dict(streams=100, dests=16, frames=250, rates=[100 * 50 / 3, 100_000]),
    "backbone": dict(streams=16384, dests=1, frames=200, rates=[16384 * 50 / 3, 1_000_000]),
    # The backbone with as many flood frames as voice (garbage, truncated DMRD, RPTL from
    # strangers): rates count both, so the voice runs at the backbone's real rate, then at 0.5 M.
    "storm": dict(streams=16384, dests=1, frames=64, rates=[2 * 16384 * 50 / 3, 1_000_000],
                  flood=True),
}


def run_profiles(args, dp, gen, tgen, work):
    """Per profile and offered rate, one memif trial with the generator timing every copy:
    loss (the zero-loss verdict), the hub's cycles per frame and loop latency, and the
    generator's TX -> return latency (an upper bound of the time in the hub). Returns the
    markdown table."""
    sock = os.path.join(work, "memif.sock")
    lines = ["| profile | live streams | destinations per frame | offered (pps) | sent | "
             "received / expected | loss | hub cycles per frame | hub loop p50 / p99 / p99.9 "
             "(us) | TX -> return p50 / p99 / p99.9 (us) | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in [p for p in args.profiles.split(",") if p]:
        prof = PROFILES[name]
        pcap = os.path.join(work, f"{name}.pcap")
        config = os.path.join(work, f"{name}.toml")
        sh([gen, "--profile", name, "--out-pcap", pcap, "--out-config", config, "--frames",
            str(prof["frames"]), "--hub-mac", HUB_MEMIF_MAC, "--dmrd-bytes", "53",
            "--shards", "1"])
        hub_config = memif_hub_config(config, sock, work, 1)
        for rate in prof["rates"]:
            # The generator shares CPU 0 with the hub's control plane, which works hardest on
            # exactly these loads (every call start and end is an event): a bucket of up to 2 ms
            # lets it catch up on what a time slice away cost it, as a real network's jitter
            # would, but never more than half the memif ring (1024) in one go.
            g = memif_trial(dp, tgen, hub_config, pcap, sock, rate, args.seconds, work,
                            latency=True, bucket=min(512, max(BUCKET, int(rate / 500))))
            if prof.get("flood"):
                # The hub answers the flood's logins and counts its garbage as drops: the voice
                # is what must come back whole, every copy of every voice frame the port took.
                expected = g["lat_sent"] * prof["dests"]
                back = g["lat_samples"]
                loss = (expected - back) / expected if expected else 1.0
                ok, why = True, "ok"
                if g["requested_pps"] and g["offered_pps"] < 0.98 * g["requested_pps"]:
                    ok, why = False, "generator below the requested rate"
                elif g["tx_failed"]:
                    ok, why = False, f"{int(g['tx_failed'])} refused at the port"
                elif back != expected:
                    ok, why = False, f"{int(expected - back)} voice copies missing"
            else:
                ok, why, loss = trial_verdict(g, prof["dests"], args.loss_tolerance)
                expected, back = g["sent"] * prof["dests"], g["received"]
                # Every copy that came back is a latency sample; anything else is not ours.
                if ok and g["lat_samples"] != g["received"]:
                    ok, why = False, (f"{int(g['received'] - g['lat_samples'])} received frames "
                                      "not timed")
            us = lambda ns: f"{float(ns) / 1000:.1f}"  # noqa: E731
            hub_lat = " / ".join(us(x) for x in g["lat"]) if g["lat"][0] != "-" else "-"
            gen_lat = " / ".join(us(g[k]) for k in ("lat_p50_ns", "lat_p99_ns", "lat_p999_ns"))
            print(f"profile {name} at {rate:.0f} pps: offered {g['offered_pps']:.0f}, sent "
                  f"{int(g['sent'])} ({int(g['lat_sent'])} voice), received {int(back)} of "
                  f"{int(expected)}, hub drops "
                  f"{int(g['hub_drops'])}, {g['cycles_per_frame']:.0f} cycles/frame, hub loop "
                  f"{hub_lat} us, TX->return {gen_lat} us: {'PASS' if ok else 'FAIL ' + why}",
                  flush=True)
            if not ok or prof.get("flood"):  # where it went: the hub's own accounting
                for line in g["hub_log"].splitlines():
                    if " shard " in line and " rx " in line:
                        print("   ", line.split(" info ")[-1], flush=True)
            lines.append(
                f"| {name} | {prof['streams']} | {prof['dests']} | {g['offered_pps']:.0f} | "
                f"{int(g['sent'])} | {int(back)} / {int(expected)} | "
                f"{loss * 100:.4f} % | {g['cycles_per_frame']:.0f} | {hub_lat} | {gen_lat} | "
                f"{'no loss' if ok else 'FAIL: ' + why} |")
    return "\n".join(lines)


def run_memif(args, dp, gen, tgen, work, rows):
    """The memif rows (flat out, per HBP fanout) and, with --zero-loss, the searches."""
    sock = os.path.join(work, "memif.sock")
    results = []
    ceiling = None
    for f in [int(x) for x in args.fanouts.split(",") if x]:
        pcap = os.path.join(work, f"memif-f{f}.pcap")
        config = os.path.join(work, f"memif-f{f}.toml")
        sh([gen, "--out-pcap", pcap, "--out-config", config, "--streams", str(args.streams),
            "--frames", str(args.frames), "--hub-mac", HUB_MEMIF_MAC, "--dmrd-bytes", "53",
            "--shards", "1", "--fanout", str(f)])
        hub_config = memif_hub_config(config, sock, work, 1)
        if ceiling is None:
            ceiling = testpmd_memif(tgen, pcap, sock, args.seconds, work)
            print(f"memif ceiling (testpmd io loop): generator offered "
                  f"{ceiling['offered_pps']/1e6:.2f} Mpps, got back {ceiling['rx_pps']/1e6:.2f} "
                  f"Mpps", flush=True)
        g = memif_trial(dp, tgen, hub_config, pcap, sock, 0, args.seconds, work)
        ok, why, loss = trial_verdict(g, f, args.loss_tolerance)
        print(f"HBP memif fanout {f}: generator flat out, port took "
              f"{g['sent']/g['seconds']/1e6:.2f} Mpps (refused {int(g['tx_failed'])}), hub in {g['hub_in_pps']/1e6:.2f} out "
              f"{g['hub_out_pps']/1e6:.2f} Mpps, generator got {g['rx_pps']/1e6:.2f} Mpps, "
              f"hub drops {int(g['hub_drops'])}", flush=True)
        for line in g["hub_log"].splitlines():
            if " shard " in line and " rx " in line:
                print("   ", line.split(" info ")[-1], flush=True)
        rows.append(dict(kind="HBP memif", fanout=f, testpmd=ceiling["rx_pps"],
                         testpmd_tx=ceiling["rx_pps"], hub_in=g["hub_in_pps"],
                         hub_out=g["hub_out_pps"], drop=g["hub_drops"] / max(g["seconds"], 1e-9),
                         lat=g["lat"]))
        if args.zero_loss:
            trials, best = zero_loss(dp, tgen, hub_config, pcap, sock, f, args, work, g)
            results.append(dict(fanout=f, trials=trials, best=best))
            print(f"zero-loss fanout {f}: {best/1e6:.3f} Mpps ingress, "
                  f"{best*f/1e6:.3f} Mpps egress", flush=True)
    return results


def zero_loss_tables(results, args):
    tol = (f"within {args.loss_tolerance*100:g} % of egress" if args.loss_tolerance
           else "exactly")
    out = ["| destinations | zero-loss ingress (Mpps) | zero-loss egress (Mpps) | trials | "
           "highest trial with loss ≤ 0.001 % (Mpps in) |", "|---|---|---|---|---|"]
    for r in results:
        near = [t["g"]["offered_pps"] for t in r["trials"]
                if not t["g"]["tx_failed"] and not t["g"]["hub_drops"] and t["loss"] <= 1e-5]
        out.append(f"| {r['fanout']} HBP memif | {r['best']/1e6:.3f} | "
                   f"{r['best']*r['fanout']/1e6:.3f} | {len(r['trials'])} | "
                   f"{max(near)/1e6 if near else 0:.3f} |")
    out += ["", f"Trials (pass: port refused nothing, received = sent × fanout {tol}, hub "
            "drops 0; `seconds` each, a fresh hub per trial):", "",
            "| fanout | requested (Mpps) | offered (Mpps) | sent | refused | received | "
            "received / sent | loss | hub rx / tx | hub drops | generator busy | verdict |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for t in r["trials"]:
            g = t["g"]
            req = "flat out" if t["rate"] == 0 else f"{t['rate']/1e6:.3f}"
            out.append(
                f"| {r['fanout']} | {req} | {g['offered_pps']/1e6:.3f} | {int(g['sent'])} | "
                f"{int(g['tx_failed'])} | {int(g['received'])} | "
                f"{g['received']/max(g['sent'], 1):.4f} | {t['loss']*100:.4f} % | "
                f"{g['hub_rx']} / {g['hub_tx']} | {int(g['hub_drops'])} | {g['busy']*100:.0f} % | "
                f"{'pass' if t['ok'] else 'fail: ' + t['why']} |")
    return "\n".join(out)


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
    ap.add_argument("--shard-ratio", action="store_true",
                    help="per HBP fanout, 1 shard against 2 on the same load (2 RX queues)")
    ap.add_argument("--out-md", default="")
    ap.add_argument("--out-png", default="")
    ap.add_argument("--memif", action="store_true",
                    help="also run the hub on net_memif against dmrswitch-trafgen (HBP fanouts)")
    ap.add_argument("--memif-only", action="store_true",
                    help="skip the net_pcap -> net_null scenarios")
    ap.add_argument("--zero-loss", action="store_true",
                    help="RFC 2544 style search of the highest loss-free rate on memif")
    ap.add_argument("--frames", type=int, default=400, help="frames per call in the memif pcap")
    ap.add_argument("--loss-tolerance", type=float, default=0.0,
                    help="zero-loss: accepted share of egress not received (0: exact)")
    ap.add_argument("--zl-min-mpps", type=float, default=0.1)
    ap.add_argument("--zl-max-mpps", type=float, default=20.0)
    ap.add_argument("--zl-iterations", type=int, default=7)
    ap.add_argument("--profiles", default="",
                    help="comma-separated load profiles (pi-club,national,backbone,storm) on memif "
                    "at their real rate and at headroom, with latency; skips the other scenarios "
                    "unless --memif or --fanouts are asked for")
    ap.add_argument("--bucket", type=int, default=64,
                    help="memif: the generator's token bucket depth in packets")
    args = ap.parse_args()
    if args.zero_loss:
        args.memif = True
    if args.out_png:
        # Checked before minutes of runs, not after the table: the plot needs matplotlib in the
        # interpreter that runs this (tools/install-deps.sh installs Debian's python3-matplotlib
        # for /usr/bin/python3, this script's interpreter; another python3 on PATH may lack it).
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            sys.exit(f"--out-png needs matplotlib, which {sys.executable} cannot import: run "
                     "tools/install-deps.sh and start the harness as bench/pps_harness.py "
                     "(/usr/bin/python3), or leave out --out-png")
    global BUCKET
    BUCKET = args.bucket

    dp = os.path.abspath(os.path.join(args.build, "dataplane", "dmrswitch-dp"))
    gen = os.path.abspath(os.path.join(args.build, "tools", "pcapgen", "dmrswitch-pcapgen"))
    tgen = os.path.abspath(os.path.join(args.build, "tools", "trafgen", "dmrswitch-trafgen"))
    for b in (dp, gen) + ((tgen,) if args.memif or args.profiles else ()):
        if not os.path.exists(b):
            sys.exit(f"missing {b}: build first (tools/test.sh or meson compile -C {args.build})")

    scenarios = [("HBP", int(f), 0) for f in args.fanouts.split(",") if f]
    if args.obp_fanout:
        scenarios.append(("OBP v1", 0, args.obp_fanout))
    if args.memif_only:
        scenarios = []
    if args.profiles:
        unknown = [p for p in args.profiles.split(",") if p and p not in PROFILES]
        if unknown:
            sys.exit(f"--profiles: unknown {', '.join(unknown)} (known: {', '.join(PROFILES)})")
        if not any(a.startswith("--fanouts") for a in sys.argv):
            scenarios = []
    rows = []
    zl_results = []
    ratio_table = ""
    profile_table = ""
    with Hugepages(1024), tempfile.TemporaryDirectory(prefix="dsw-pps-") as work:
        if args.profiles:
            profile_table = run_profiles(args, dp, gen, tgen, work)
        if args.shard_ratio:
            ratio_table = run_shard_ratio(args, dp, gen, work)
        if args.memif:
            if args.shards != 1:
                sys.exit("--memif: one shard only (2 cores: the generator needs one)")
            zl_results = run_memif(args, dp, gen, tgen, work, rows)
        for kind, fanout, peers in scenarios:
            pcap = os.path.join(work, "load.pcap")
            config = os.path.join(work, "load.toml")
            cmd = [gen, "--out-pcap", pcap, "--out-config", config, "--streams",
                   str(args.streams), "--frames", "400", "--hub-mac", PCAP_MAC, "--dmrd-bytes",
                   "53", "--shards", str(args.shards), "--split", str(max(args.shards, 2))]
            if peers:
                cmd += ["--fanout", "1", "--obp-peers", str(peers)]
            else:
                cmd += ["--fanout", str(fanout)]
            sh(cmd)
            t_rx, t_tx, _ = testpmd(pcap, args.seconds, work)
            h_in, h_out, h_drop, lat, log = hub(dp, config, pcap, args.seconds, work, args.shards)
            dests = peers + 1 if peers else fanout  # OBP scenario: 1 client + P peers
            check = cross_check(log, h_in, h_out, dests, h_drop)
            if check == "ok" and loss_share(log) > 0:
                check = f"ok, {loss_share(log):.2%} of ingress lost"
            rows.append(dict(kind=kind, fanout=dests, testpmd=t_rx, testpmd_tx=t_tx, hub_in=h_in,
                             hub_out=h_out, drop=h_drop, lat=lat[0] if lat else ("-",) * 3,
                             check=check))
            if check != "ok":
                print(f"{kind} fanout {dests}: INVALID RUN: {check}", flush=True)
            print(f"{kind} fanout {dests}: testpmd {t_rx/1e6:.2f} Mpps, hub in {h_in/1e6:.2f} "
                  f"out {h_out/1e6:.2f} Mpps, dropped {h_drop/1e6:.3f} Mpps", flush=True)
            if h_in == 0:
                print(log[-3000:], file=sys.stderr)

    def verdict(r):
        if "check" not in r:
            return "-"  # memif rows: the generator's own counts, in the zero-loss tables
        return "yes" + r["check"][2:] if r["check"].startswith("ok") else "INVALID: " + r["check"]

    mhz = tsc_mhz()
    lines = ["| destinations | testpmd io (Mpps) | hub ingress (Mpps) | ingress / testpmd | "
             "hub egress (Mpps) | hub drops (Mpps) | cycles per ingress pkt | loop p50 / p99 / "
             "p99.9 (ns) | counts agree |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cyc = mhz * 1e6 / r["hub_in"] if r["hub_in"] else 0
        lines.append(
            f"| {r['fanout']} {r['kind']} | {r['testpmd']/1e6:.2f} | {r['hub_in']/1e6:.2f} | "
            f"{(r['hub_in']/r['testpmd'] if r['testpmd'] else 0):.2f} | {r['hub_out']/1e6:.2f} | "
            f"{r['drop']/1e6:.3f} | {cyc:.0f} | {' / '.join(r['lat'])} | "
            f"{verdict(r)} |")
    table = "\n".join(lines)
    if zl_results:
        table += "\n\n" + zero_loss_tables(zl_results, args)
    if ratio_table:
        table += "\n\n" + ratio_table
    if profile_table:
        # Without rows of its own the throughput table is an empty header: leave it out.
        table = table + "\n\n" + profile_table if rows else \
            "\n\n".join(t for t in table.split("\n\n")[1:] + [profile_table] if t)
    print(table)
    if args.out_md:
        open(args.out_md, "w").write(table + "\n")
    if args.out_png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        rows = [r for r in rows if r.get("check", "ok").startswith("ok")]  # invalid: not plotted
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
