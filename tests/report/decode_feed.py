#!/usr/bin/env python3
"""Decodes dmrswitch's report feeds the way the dashboards do, with Python's own modules, and
prints what it read as one JSON object per line (typed, so the C++ test can check every field).

  decode_feed.py pickle FILE                  one pickle (the whole file) -> typed JSON
  decode_feed.py netstrings FILE              netstrings from a file
  decode_feed.py netstrings-tcp PORT N SECS   connect to 127.0.0.1:PORT, read N netstrings
  decode_feed.py ndjson-tcp PORT N SECS       connect, read N lines with asyncio's readline()

Netstrings are read with Twisted NetstringReceiver's rules (MAX_LENGTH 99999 unless
NETSTRING_MAX_LENGTH is set): a longer one is an error, as it is for a stock HBmonitor. NDJSON
lines are read with asyncio's StreamReader and its default 64 KiB limit, as HBlink3 v3's
dashboard reads them.
"""
import asyncio
import json
import os
import pickle
import socket
import sys
import time

MAX_LENGTH = int(os.environ.get("NETSTRING_MAX_LENGTH", "99999"))


def typed(obj):
    """A JSON form that keeps Python's types apart (bytes vs str, tuple vs list, big ints)."""
    if obj is None:
        return None
    if isinstance(obj, bool):
        return obj
    if isinstance(obj, int):
        return {"int": str(obj)}
    if isinstance(obj, float):
        return {"float": repr(obj)}
    if isinstance(obj, str):
        return {"str": obj}
    if isinstance(obj, bytes):
        return {"bytes": obj.hex()}
    if isinstance(obj, list):
        return {"list": [typed(x) for x in obj]}
    if isinstance(obj, tuple):
        return {"tuple": [typed(x) for x in obj]}
    if isinstance(obj, dict):
        return {"dict": [[typed(k), typed(v)] for k, v in obj.items()]}
    raise TypeError("unexpected type %r" % type(obj))


def message(payload):
    opcode = payload[0]
    body = payload[1:]
    if opcode in (0x01, 0x03):
        return {"opcode": opcode, "size": len(payload), "value": typed(pickle.loads(body))}
    return {"opcode": opcode, "size": len(payload), "text": body.decode("utf-8")}


class NetstringParser:
    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            colon = self.buf.find(b":")
            if colon < 0:
                if len(self.buf) > len(str(MAX_LENGTH)) + 1:
                    raise ValueError("netstring length prefix too long")
                return out
            length_text = self.buf[:colon]
            if not length_text.isdigit() or len(length_text) > len(str(MAX_LENGTH)) + 1:
                raise ValueError("bad netstring length %r" % length_text)
            length = int(length_text)
            if length > MAX_LENGTH:
                raise ValueError("netstring of %d bytes exceeds MAX_LENGTH %d" % (length, MAX_LENGTH))
            if len(self.buf) < colon + 1 + length + 1:
                return out
            if self.buf[colon + 1 + length:colon + 2 + length] != b",":
                raise ValueError("netstring not terminated by a comma")
            out.append(self.buf[colon + 1:colon + 1 + length])
            self.buf = self.buf[colon + 2 + length:]


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def netstrings_tcp(port, count, seconds):
    deadline = time.time() + seconds
    sock = socket.create_connection(("127.0.0.1", port), timeout=seconds)
    emit({"connected": True})
    parser = NetstringParser()
    got = 0
    while got < count and time.time() < deadline:
        sock.settimeout(max(0.01, deadline - time.time()))
        try:
            data = sock.recv(65536)
        except socket.timeout:
            break
        if not data:
            break
        for payload in parser.feed(data):
            emit(message(payload))
            got += 1
            if got == count:
                break
    sock.close()


async def ndjson_tcp(port, count, seconds):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    emit({"connected": True})
    got = 0
    try:
        while got < count:
            line = await asyncio.wait_for(reader.readline(), seconds)
            if not line:
                break
            emit({"size": len(line), "event": json.loads(line)})
            got += 1
    finally:
        writer.close()


def main():
    mode = sys.argv[1]
    if mode == "pickle":
        with open(sys.argv[2], "rb") as f:
            emit(typed(pickle.loads(f.read())))
    elif mode == "netstrings":
        with open(sys.argv[2], "rb") as f:
            for payload in NetstringParser().feed(f.read()):
                emit(message(payload))
    elif mode == "netstrings-tcp":
        netstrings_tcp(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    elif mode == "ndjson-tcp":
        asyncio.run(ndjson_tcp(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
