#!/usr/bin/env python3
"""DNS over TCP with many connections (issue 15): dnsperf (`-m tcp`, a real client) keeps
CONNECTIONS TCP connections open with queries in flight on each, through the proxy to a DNS
server that answers every framed query at once (bench/tcp_dns_responder.cpp; a UDP responder
on the same port number answers dnsdist's health checks). Peers, side by side in each rep:
direct (the ceiling), udpx (a dns frontend with tcp = true: accept, connect, splice), nginx's
stream module (proxy_pass) and dnsdist (which parses each query and answer). The figures are
dnsperf's queries per second and average latency, and the proxy's CPU time (user + system of
all its processes and threads, /proc) per query. Proxy on one CPU, dnsperf and the server on
the other. Loopback only, bounded in time.

  bench/tcp_dns.py [--connections 1000] [--outstanding 2000] [--seconds 10] [--reps 3]
                   [--peers direct,udpx,nginx,dnsdist] [--udpx-base OLD_BINARY (peer udpx-base)]
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"


def free_port():
    """A port free for both TCP and UDP on 127.0.0.1."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue


def cpu_seconds(pid):
    """User + system time of every thread of pid and of its children (binder and worker)."""
    total = 0.0
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(c) for c in f.read().split()]
    except OSError:
        pass
    for p in pids:
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


def wait_listening(port, proc, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the proxy exited: {proc.args}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def binary(build, name):
    path = os.path.join(build, name)
    if not os.access(path, os.X_OK):
        raise SystemExit(f"{path} not found: build it (cmake --build {build} --target {name})")
    return path


def pinned(cpu, argv):
    return ["taskset", "-c", str(cpu)] + argv


def start_udpx(args, workdir, port, server, binary_path=None):
    conf = os.path.join(workdir, "udpx.toml")
    n = args.connections * 2
    with open(conf, "w") as f:
        f.write(f'[global]\nlog_level = "warn"\nstatus = "off"\n\n'
                f'[frontend.dns]\nlisten = ["127.0.0.1:{port}"]\npreset = "dns"\nbackend = "r"\ntcp = true\n'
                f'tcp_max_connections = {n}\ntcp_max_per_client = {n}\ntcp_idle_timeout = "60s"\n\n'
                f'[backend.r]\nservers = ["127.0.0.1:{server}"]\n[backend.r.health]\ntype = "none"\n')
    return subprocess.Popen(pinned(args.proxy_cpu, [binary_path or args.udpx, "-c", conf]), stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(workdir, "udpx.log"), "w"))


def start_nginx(args, workdir, port, server):
    conf = os.path.join(workdir, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"load_module {NGINX_STREAM_MODULE};\n"
                f"daemon off; worker_processes 1; pid {workdir}/nginx.pid; error_log {workdir}/nginx.err;\n"
                f"worker_rlimit_nofile 20000;\nevents {{ worker_connections {args.connections * 3}; }}\n"
                f"stream {{ server {{ listen 127.0.0.1:{port}; proxy_pass 127.0.0.1:{server}; }} }}\n")
    return subprocess.Popen(pinned(args.proxy_cpu, [shutil.which("nginx") or "/usr/sbin/nginx", "-c", conf,
                                                    "-p", workdir]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_dnsdist(args, workdir, port, server):
    conf = os.path.join(workdir, "dnsdist.conf")
    with open(conf, "w") as f:
        # No security polling (a DNS lookup to the internet). Health checks go over UDP to the
        # same port, where the UDP responder answers them.
        f.write(f'setLocal("127.0.0.1:{port}")\n'
                f'newServer({{address="127.0.0.1:{server}", name="r"}})\n'
                f'setMaxTCPConnectionsPerClient({args.connections * 2})\n'
                'setSecurityPollSuffix("")\n')
    proc = subprocess.Popen(pinned(args.proxy_cpu, ["dnsdist", "-C", conf, "--supervised", "--disable-syslog"]),
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, "dnsdist.log"), "w"))
    return proc


def dnsperf(args, port, queries):
    argv = pinned(args.load_cpu, ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-m", "tcp", "-d", queries,
                                  "-c", str(args.connections), "-q", str(args.outstanding),
                                  "-l", str(args.seconds), "-t", "5", "-T", "1"])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=args.seconds + 60)
    out = done.stdout + done.stderr

    def num(label):
        m = re.search(rf"{label}:\s+([0-9.]+)", out)
        if not m:
            raise SystemExit(f"dnsperf printed no '{label}':\n{out}")
        return float(m.group(1))
    return {"completed": num("Queries completed"), "lost": num("Queries lost"), "qps": num("Queries per second"),
            "latency_ms": num(r"Average Latency \(s\)") * 1000, "text": out}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--udpx", default="build/udpx")
    ap.add_argument("--udpx-base", help="another udpx binary, peer 'udpx-base' (a change against its base)")
    ap.add_argument("--build", default="build")
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--outstanding", type=int, default=2000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--peers", default="direct,udpx,nginx,dnsdist")
    ap.add_argument("--proxy-cpu", type=int, default=0)
    ap.add_argument("--load-cpu", type=int, default=1)
    args = ap.parse_args()
    # A SIGTERM (or Ctrl-C) still runs the `finally` below, which stops every child.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if not shutil.which("dnsperf"):
        raise SystemExit("dnsperf not installed: tools/install-deps.sh test")
    workdir = tempfile.mkdtemp(prefix="udpx-bench-tcp-dns-")
    os.chmod(workdir, 0o755)
    queries = os.path.join(workdir, "queries")
    with open(queries, "w") as f:
        f.write("".join(f"host{i}.bench.example. A\n" for i in range(1000)))
    server = free_port()
    # The server side: TCP answers every query, UDP (same port) answers dnsdist's health checks.
    tcp_srv = subprocess.Popen(pinned(args.load_cpu, [binary(args.build, "udpx_bench_tcp_dns_responder"), "--bind",
                                                      f"127.0.0.1:{server}", "--max-seconds", "3600"]),
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    udp_srv = subprocess.Popen(pinned(args.load_cpu, [binary(args.build, "udpx_bench_responder"), "--bind",
                                                      f"127.0.0.1:{server}", "--max-seconds", "3600"]),
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    starters = {"udpx": start_udpx, "nginx": start_nginx, "dnsdist": start_dnsdist,
                "udpx-base": lambda a, w, p, s: start_udpx(a, w, p, s, a.udpx_base)}
    peers = [p for p in args.peers.split(",") if p]
    results = {p: [] for p in peers}
    try:
        tcp_srv.stdout.readline()
        udp_srv.stdout.readline()
        for rep in range(args.reps):
            for name in peers:
                proc, port = None, server
                if name != "direct":
                    port = free_port()
                    proc = starters[name](args, workdir, port, server)
                    wait_listening(port, proc)
                    time.sleep(2 if name == "dnsdist" else 0.5)  # dnsdist's first health check
                try:
                    before = cpu_seconds(proc.pid) if proc else 0.0
                    r = dnsperf(args, port, queries)
                    r["cpu_us_per_query"] = ((cpu_seconds(proc.pid) - before) * 1e6 / r["completed"]
                                             if proc and r["completed"] else None)
                finally:
                    if proc:
                        proc.send_signal(signal.SIGTERM)
                        try:
                            proc.wait(10)
                        except subprocess.TimeoutExpired:
                            proc.kill()
                cpu = r["cpu_us_per_query"]
                print(f"rep {rep + 1} {name}: {r['qps']:.0f} q/s, lost {r['lost']:.0f}, "
                      f"latency {r['latency_ms']:.2f} ms, CPU/query {'—' if cpu is None else f'{cpu:.1f} µs'}",
                      flush=True)
                results[name].append(r)
        print(f"\nDNS over TCP, {args.connections} connections, up to {args.outstanding} queries in flight, "
              f"{args.seconds} s per run, median of {args.reps}:\n")
        print("| peer | queries/s | × ceiling | average latency | lost | proxy CPU per query |")
        print("|---|---:|---:|---:|---:|---:|")
        ceiling = statistics.median(r["qps"] for r in results["direct"]) if "direct" in results else None
        for name, runs in results.items():
            qps = statistics.median(r["qps"] for r in runs)
            lat = statistics.median(r["latency_ms"] for r in runs)
            lost = statistics.median(r["lost"] for r in runs)
            cpus = [r["cpu_us_per_query"] for r in runs if r["cpu_us_per_query"] is not None]
            cpu = f"{statistics.median(cpus):.1f} µs" if cpus else "—"
            ratio = f"{qps / ceiling:.2f}" if ceiling else "—"
            print(f"| {name} | {qps:,.0f} | {ratio} | {lat:.2f} ms | {lost:.0f} | {cpu} |")
    finally:
        for p in (tcp_srv, udp_srv):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
