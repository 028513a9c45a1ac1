#!/usr/bin/python3
"""Resident memory of dmrswitch-dp in the Raspberry Pi profile (issue 9 target: <= 48 MB with 500
logged-in clients; docs/raspberry-pi.md).

The profile: kernel mode, hosted control plane, EAL --no-huge (what kernel mode uses by itself),
one shard, small tables (hbp.max_clients = 512, hub.stream_capacity = 1024), the XDP shield in
generic mode on the interface the clients come over. The hub runs in a network namespace on one
end of a veth pair (198.18.0.1/24), dmrswitch-sim logs N hotspots in from a second namespace
(198.18.0.2/24) and keeps them alive (keepalives, a call every few seconds); VmRSS, RssAnon and
RssFile of the dp are read from /proc once every client is logged in, for a while, and the peak
is reported. Both namespaces (and with them the veth pair) are removed at the end, whatever
happens.

Run as root:
  bench/pi_profile_rss.py --build build [--clients 500] [--seconds 20]
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

HUB_NS = f"dsw-pi-hub-{os.getpid()}"
CLI_NS = f"dsw-pi-cli-{os.getpid()}"
HUB_IF = f"dswpih{os.getpid() % 100000}"
CLI_IF = f"dswpic{os.getpid() % 100000}"


def sh(*cmd):
    subprocess.run(cmd, check=True, capture_output=True, text=True)


def setup():
    sh("ip", "netns", "add", HUB_NS)
    sh("ip", "netns", "add", CLI_NS)
    sh("ip", "-n", HUB_NS, "link", "add", HUB_IF, "type", "veth", "peer", "name", CLI_IF,
       "netns", CLI_NS)
    sh("ip", "-n", HUB_NS, "addr", "add", "198.18.0.1/24", "dev", HUB_IF)
    sh("ip", "-n", CLI_NS, "addr", "add", "198.18.0.2/24", "dev", CLI_IF)
    for ns, dev in ((HUB_NS, HUB_IF), (CLI_NS, CLI_IF)):
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "link", "set", dev, "up")


def teardown():
    for ns in (HUB_NS, CLI_NS):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def memory(pid):
    """VmRSS, RssAnon, RssFile of pid, in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--clients", type=int, default=500)
    ap.add_argument("--seconds", type=int, default=20, help="measuring time once all are in")
    args = ap.parse_args()
    dp = os.path.abspath(os.path.join(args.build, "dataplane", "dmrswitch-dp"))
    simulator = os.path.abspath(os.path.join(args.build, "tools", "sim", "dmrswitch-sim"))
    for b in (dp, simulator):
        if not os.path.exists(b):
            sys.exit(f"missing {b}: build first")
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces, XDP)")

    config = f"""[hub]
server_id = 310999
mode = "kernel"
shards = 1
control_plane = "hosted"
stream_capacity = 1024
status_interval_s = 1
runtime_name = "{HUB_NS}"

[hbp]
listen = "198.18.0.1:62031"
passphrase = "passw0rd"
max_clients = 512
login_burst = 0            # {args.clients} logins from one address within a second

[xdp]
interface = "{HUB_IF}"
attach = "generic"
"""
    hub = sim = None
    with tempfile.TemporaryDirectory(prefix="dsw-pi-") as work:
        path = os.path.join(work, "pi.toml")
        open(path, "w").write(config)
        log_path = os.path.join(work, "dp.log")
        try:
            setup()
            # `ip netns exec` gives the dp a mount namespace of its own: the bpffs the shield
            # mounts there goes with it.
            hub = subprocess.Popen(["ip", "netns", "exec", HUB_NS, dp, "--config", path],
                                   stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
            deadline = time.time() + 15
            while "dmrswitch-dp: kernel mode" not in open(log_path).read():
                if hub.poll() is not None or time.time() > deadline:
                    sys.exit("the hub did not start:\n" + open(log_path).read())
                time.sleep(0.1)
            start_line = re.search(r"dmrswitch-dp: kernel mode[^\n]*", open(log_path).read())[0]
            idle = memory(hub.pid)
            sim = subprocess.Popen(
                ["ip", "netns", "exec", CLI_NS, simulator, "--hub", "198.18.0.1:62031",
                 "--local", "198.18.0.2", "--clients", str(args.clients), "--calls", "1",
                 "--superframes", "5", "--ping-s", "5", "--login-timeout-s", "30",
                 "--duration-s", str(args.seconds + 40), "--quiet"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            deadline = time.time() + 40
            while f"status: clients {args.clients}," not in open(log_path).read():
                if sim.poll() is not None or time.time() > deadline:
                    sys.exit("the clients did not all log in:\n" + open(log_path).read()[-3000:])
                time.sleep(0.2)
            peak = {}
            end = time.time() + args.seconds
            samples = 0
            while time.time() < end:
                m = memory(hub.pid)
                samples += 1
                for k, v in m.items():
                    peak[k] = max(peak.get(k, 0), v)
                time.sleep(0.5)
            status = re.findall(r"status: clients (\d+)[^\n]*", open(log_path).read())
        finally:
            if sim is not None and sim.poll() is None:
                sim.send_signal(signal.SIGINT)
                try:
                    sim.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    sim.kill()
            if hub is not None and hub.poll() is None:
                hub.send_signal(signal.SIGTERM)
                try:
                    hub.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    hub.kill()
            teardown()
        last_status = re.findall(r"status: [^\n]*", open(log_path).read())
    mib = lambda kib: kib / 1024
    print(f"pi_profile_rss: {start_line}")
    print(f"last status line: {last_status[-1] if last_status else '?'}")
    print(f"| measure | idle (no client) | {args.clients} clients logged in, peak of "
          f"{samples} samples over {args.seconds} s |")
    print("|---|---|---|")
    for key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
        print(f"| {key} | {mib(idle.get(key, 0)):.1f} MiB | {mib(peak.get(key, 0)):.1f} MiB "
              f"({peak.get(key, 0) * 1024 / 1e6:.1f} MB) |")
    met = peak.get("VmRSS", 1 << 40) * 1024 <= 48e6
    print(f"target (VmRSS <= 48 MB with {args.clients} clients): {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
