#!/usr/bin/env python3
"""Memory per NTP request in flight on shared upstream sockets (issue 13): N distinct clients
(127.a.b.c source addresses) each send one request through udpx to a server that never answers,
so every request stays in flight; reports the worker's RssAnon growth per request in flight.

    bench/inflight_memory.py [--clients 100000] [--udpx build/udpx]

Needs root (udpx as binder + worker, like bench/run.sh); everything on loopback, bounded in
count and time.
"""

import argparse
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def rss_anon_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def stats(proc, log_path):
    before = open(log_path).read().count("stats {")
    os.kill(proc.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = open(log_path).read()
        if text.count("stats {") > before:
            line = [l for l in text.splitlines() if "stats {" in l][-1]
            return json.loads(line[line.index("{"):])
        time.sleep(0.05)
    raise RuntimeError("no stats from udpx")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=100000)
    ap.add_argument("--udpx", default=os.path.join(REPO, "build", "udpx"))
    args = ap.parse_args()
    n = args.clients
    tmp = tempfile.mkdtemp(prefix="udpx-inflight-")
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # receives, never answers
    silent.bind(("127.0.0.1", 0))
    silent.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    listen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listen.bind(("127.0.0.1", 0))
    port = listen.getsockname()[1]
    listen.close()
    cap = max(131072, n * 2)
    cfg = os.path.join(tmp, "udpx.toml")
    with open(cfg, "w") as f:
        f.write(f'[global]\nlog_level = "info"\nmax_sessions = {cap}\n\n'
                f'[frontend.t]\nlisten = ["127.0.0.1:{port}"]\npreset = "ntp"\nbackend = "b"\n'
                f'allow = ["127.0.0.0/8"]\nmax_sessions = {cap}\nsession_timeout = "120s"\n\n'
                f'[backend.b]\nservers = ["127.0.0.1:{silent.getsockname()[1]}"]\n\n'
                f'[backend.b.health]\ntype = "none"\n')
    log_path = os.path.join(tmp, "udpx.log")
    log = open(log_path, "w")
    proc = subprocess.Popen([args.udpx, "-c", cfg], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 15
        while "ready" not in open(log_path).read():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("udpx did not start:\n" + open(log_path).read())
            time.sleep(0.05)
        kids = children(proc.pid)
        worker = kids[0] if kids else proc.pid
        base = rss_anon_kb(worker)
        header = struct.pack("!BBbb", (4 << 3) | 3, 0, 6, -20) + bytes(36)
        sent = 0
        t0 = time.monotonic()
        for i in range(n):
            src = f"127.{1 + (i >> 16) % 250}.{(i >> 8) & 255}.{i & 255 or 1}"
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind((src, 0))
                s.sendto(header + struct.pack("!Q", (i + 1) << 16 | 0x1234), ("127.0.0.1", port))
                sent += 1
            finally:
                s.close()
            if i % 500 == 499:
                time.sleep(0.002)  # the listener's queue is the kernel default
            if time.monotonic() - t0 > 300:
                break
        deadline = time.monotonic() + 30
        st = stats(proc, log_path)
        while st["frontends"]["t"]["received"] < sent and time.monotonic() < deadline:
            time.sleep(0.2)
            st = stats(proc, log_path)
        fe = st["frontends"]["t"]
        grown = rss_anon_kb(worker) - base
        in_flight = fe["sessions"]["in_flight"]
        per = grown * 1024 / in_flight if in_flight else float("nan")
        print(json.dumps({"clients": n, "sent": sent, "received": fe["received"], "in_flight": in_flight,
                          "forwarded": fe["forwarded"], "dropped": {k: v for k, v in fe["dropped"].items() if v},
                          "recent_clients": fe["clients"]["recent"],
                          "rss_anon_growth_kb": grown, "bytes_per_request_in_flight": round(per, 1)}))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        silent.close()


if __name__ == "__main__":
    sys.exit(main())
