#!/usr/bin/env python3
"""dmrswitch-sim's final counts are complete: every frame it sends is in its `tx`, and every frame
relayed back to its hotspots before it stops is in its `rx`.

A small HBP hub on loopback (this file: login with RPTACK, MSTPONG, no passphrase check) relays
each DMRD from a hotspot to the other two, 70 ms later (a hub under load, a long path). The traffic
phase ends in the middle of a call. Whatever the simulator does after its traffic phase, its summary
must then say rx == 2 x tx, and every call must be whole (a header, 6 x superframes voice frames
and a terminator): the soak harness (bench/soak.py) counts any difference as lost frames.
"""
import argparse
import heapq
import re
import select
import socket
import struct
import subprocess
import sys
import time

RELAY_DELAY_S = 0.070
CLIENTS = 3
SUPERFRAMES = 4
FRAMES_PER_CALL = 6 * SUPERFRAMES + 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sim", help="path of dmrswitch-sim")
    args = ap.parse_args()

    hub = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hub.bind(("127.0.0.1", 0))
    port = hub.getsockname()[1]
    # 10 ms cadence, 26 frames a call: the 1.09 s traffic phase ends about 50 ms into the 5th
    # call, whose last frame is then more than 200 ms away (and its echo 70 ms more).
    sim = subprocess.Popen(
        [args.sim, "--hub", f"127.0.0.1:{port}", "--clients", str(CLIENTS), "--calls", "1",
         "--superframes", str(SUPERFRAMES), "--cadence-ms", "10", "--duration-s", "1.09",
         "--ping-s", "1", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    addrs = {}  # hotspot ID -> address
    pending = []  # (due, seq, bytes, address)
    seq = 0
    relayed = 0
    deadline = time.monotonic() + 30
    while sim.poll() is None and time.monotonic() < deadline:
        timeout = 0.05
        if pending:
            timeout = max(0.0, min(timeout, pending[0][0] - time.monotonic()))
        r, _, _ = select.select([hub], [], [], timeout)
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, data, to = heapq.heappop(pending)
            hub.sendto(data, to)
        if not r:
            continue
        data, src = hub.recvfrom(2048)
        if data.startswith(b"RPTL") and len(data) >= 8:
            hub.sendto(b"RPTACK" + b"\x12\x34\x56\x78", src)
        elif data.startswith(b"RPTK") or (data.startswith(b"RPTC") and not data.startswith(b"RPTCL")):
            rid = struct.unpack(">I", data[4:8])[0]
            addrs[rid] = src
            hub.sendto(b"RPTACK" + data[4:8], src)
        elif data.startswith(b"RPTPING"):
            hub.sendto(b"MSTPONG" + data[7:11], src)
        elif data.startswith(b"DMRD") and len(data) >= 53:
            sender = struct.unpack(">I", data[11:15])[0]
            for rid, to in addrs.items():
                if rid == sender:
                    continue
                out = data[:11] + struct.pack(">I", rid) + data[15:]
                seq += 1
                relayed += 1
                heapq.heappush(pending, (now + RELAY_DELAY_S, seq, out, to))
    if sim.poll() is None:
        sim.kill()
        print("FAIL: dmrswitch-sim did not finish in 30 s")
        return 1
    out = sim.stdout.read()
    print(out, end="")
    m = re.search(r"summary: .* (\d+) calls, tx (\d+) frames .* rx (\d+) frames", out)
    if sim.returncode != 0 or m is None:
        print(f"FAIL: exit code {sim.returncode}, no summary line")
        return 1
    calls, tx, rx = int(m[1]), int(m[2]), int(m[3])
    failures = []
    if tx != calls * FRAMES_PER_CALL:
        failures.append(f"tx {tx} != {calls} calls x {FRAMES_PER_CALL} frames: a call was cut")
    if rx != (CLIENTS - 1) * tx:
        failures.append(f"rx {rx} != {CLIENTS - 1} x tx {tx} (the hub relayed {relayed})")
    if calls < 2:
        failures.append(f"only {calls} calls: the traffic phase did not run")
    for f in failures:
        print("FAIL:", f)
    if not failures:
        print(f"ok: {calls} whole calls, tx {tx}, rx {rx} = {CLIENTS - 1} x tx")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
