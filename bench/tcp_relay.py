#!/usr/bin/env python3
"""TCP relay throughput and CPU per byte: udpx (a raw frontend with tcp = true, splice) against
nginx's stream module (proxy_pass), side by side in one run, and straight to the sink (the ceiling).

A source process streams BYTES bytes over one connection through the proxy to a sink that reads
and discards them; the figure is the transfer's rate and the proxy's CPU time (user + system,
from /proc) per GiB. Repeated --reps times per peer, interleaved; medians are printed as a
Markdown table for bench/RESULTS.md. Loopback only, bounded in bytes and time.

  bench/tcp_relay.py --udpx build/udpx [--bytes 2G] [--reps 5]
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

CHUNK = 1 << 20
NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"  # as bench/run.py loads it


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pids):
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


def tree(pid):
    """pid and its children (udpx's binder and worker, nginx's master and worker)."""
    out = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


class Sink:
    """Accepts connections and discards what they send; `done` is set when one ends."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self.done = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        buf = bytearray(CHUNK)
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            n = 0
            with conn:
                while True:
                    got = conn.recv_into(buf)
                    if not got:
                        break
                    n += got
            self.received = n
            self.done.set()


def transfer(port, nbytes, timeout):
    """Streams nbytes to 127.0.0.1:port; returns seconds until the sink has them all."""
    block = memoryview(bytes(CHUNK))
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        left = nbytes
        while left > 0:
            c.sendall(block[:min(CHUNK, left)])
            left -= min(CHUNK, left)
        c.shutdown(socket.SHUT_WR)
        c.settimeout(timeout)
        c.recv(1)  # the relay passes the sink's end of file back
    return time.monotonic() - start


def start_udpx(binary, workdir, port, sink_port):
    conf = os.path.join(workdir, "udpx.toml")
    with open(conf, "w") as f:
        f.write(f'[global]\nlog_level = "warn"\n\n[frontend.t]\nlisten = ["127.0.0.1:{port}"]\npreset = "raw"\n'
                f'backend = "sink"\ntcp = true\ntcp_idle_timeout = "60s"\n\n[backend.sink]\n'
                f'servers = ["127.0.0.1:{sink_port}"]\n[backend.sink.health]\ntype = "none"\n')
    proc = subprocess.Popen([binary, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc


def start_nginx(workdir, port, sink_port):
    conf = os.path.join(workdir, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"load_module {NGINX_STREAM_MODULE};\n"
                f"daemon off; worker_processes 1; pid {workdir}/nginx.pid; error_log {workdir}/nginx.err;\n"
                f"events {{ worker_connections 64; }}\n"
                f"stream {{ server {{ listen 127.0.0.1:{port}; proxy_pass 127.0.0.1:{sink_port}; }} }}\n")
    return subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-c", conf, "-p", workdir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_listening(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--udpx", default="build/udpx")
    ap.add_argument("--bytes", default="1G")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()
    nbytes = parse_size(args.bytes)
    workdir = tempfile.mkdtemp(prefix="udpx-bench-tcp-")
    os.chmod(workdir, 0o755)
    sink = Sink()
    peers = {}
    try:
        pu, pn = free_port(), free_port()
        peers["udpx"] = (start_udpx(args.udpx, workdir, pu, sink.port), pu)
        if shutil.which("nginx") or os.path.exists("/usr/sbin/nginx"):
            peers["nginx"] = (start_nginx(workdir, pn, sink.port), pn)
        for _, port in peers.values():
            wait_listening(port)
        time.sleep(0.5)  # the check connections udpx makes at start are over
        results = {name: [] for name in ["direct"] + list(peers)}
        for _ in range(args.reps):
            for name in results:
                proc, port = peers.get(name, (None, sink.port))
                pids = tree(proc.pid) if proc else []
                sink.done.clear()
                before = cpu_seconds(pids)
                seconds = transfer(port, nbytes, args.timeout)
                if not sink.done.wait(args.timeout) or sink.received != nbytes:
                    raise SystemExit(f"{name}: the sink got {sink.received} of {nbytes} bytes")
                cpu = cpu_seconds(pids) - before
                results[name].append((nbytes / seconds, cpu / (nbytes / (1 << 30))))
        print(f"TCP relay, one connection, {args.bytes} per transfer, median of {args.reps}:\n")
        print("| peer | throughput | proxy CPU per GiB |")
        print("|---|---|---|")
        for name, runs in results.items():
            rate = statistics.median(r for r, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            print(f"| {name} | {rate / 1e9:.2f} GB/s | {'—' if name == 'direct' else f'{cpu:.3f} s'} |")
    finally:
        for proc, _ in peers.values():
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        sink.sock.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
