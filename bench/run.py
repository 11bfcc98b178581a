#!/usr/bin/env python3
"""udpx benchmark driver (started by bench/run.sh): the same load directly (the ceiling) and
through udpx, nginx (stream module, one worker) and socat (fork mode), the proxy pinned to one
CPU and the load generator and responder to the other; prints one table.

Standard library only. Every process it starts is stopped by it (by PID or by the process group
it created); ports are found by binding port 0; traffic stays on loopback; every load run is
bounded in time and count.
"""

import argparse
import json
import os
import random
import re
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TICK = os.sysconf("SC_CLK_TCK")
NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    """A free UDP port below the kernel's ephemeral range (where it can), so that no socket the
    proxies or the load generator open (connect() takes ephemeral ports) can be given it between
    the pick and its use, also when other tests run in parallel (ctest runs bench.smoke so)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", random.randint(10000, low - 1) if low > 12000 else 0))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free UDP port")


def udp_listening(port):
    """True once some socket is bound to 127.0.0.1:port or 0.0.0.0:port (from /proc/net/udp)."""
    want = ":%04X" % port
    try:
        with open("/proc/net/udp") as f:
            next(f)
            for line in f:
                local = line.split()[1]
                if local.endswith(want):
                    return True
    except OSError:
        pass
    return False


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


# ---- per-process accounting -------------------------------------------------------------------

def descendants(pid):
    """pid and all its descendants (via /proc/PID/task/TID/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def cpu_ns(root):
    """CPU time of a process tree in ns: run time of every live task (schedstat) plus the
    accounted time of the root's reaped children (cutime+cstime): socat's forks exit and are
    waited for by their parent, so their time moves into its cutime/cstime."""
    total = 0
    for p in descendants(root):
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
        except (OSError, ValueError):
            pass
    try:
        with open(f"/proc/{root}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # after the comm: state=0 ... cutime=13, cstime=14 (fields 16 and 17 of stat(5))
        total += (int(fields[13]) + int(fields[14])) * 1_000_000_000 // TICK
    except (OSError, ValueError, IndexError):
        pass
    return total


def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def distinct_kb(pids):
    """Memory the processes hold together, each physical page counted once (/proc/PID/pagemap;
    the page frame numbers need root, else None). Summing RSS counts pages that the processes
    share (the same binary and libraries) once per process."""
    frames = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pm:
                for line in maps:
                    fields = line.split()
                    if fields[-1] == "[vsyscall]":
                        continue
                    lo, hi = (int(x, 16) for x in fields[0].split("-"))
                    pm.seek(lo // 4096 * 8)
                    data = pm.read((hi - lo) // 4096 * 8)
                    for (entry,) in struct.iter_unpack("<Q", data):
                        if entry >> 63:
                            frames.add(entry & ((1 << 55) - 1))
        except OSError:
            return None
    if frames == {0}:
        return None  # frame numbers hidden (not root)
    return len(frames) * 4


def tree_kb(root, key):
    return sum(status_kb(p, key) for p in descendants(root))


# ---- processes --------------------------------------------------------------------------------

class Proc:
    """A child process in its own process group, stopped by PID (and its group) at the end."""

    def __init__(self, name, argv, tmp, cpu=None, env=None):
        self.name = name
        if cpu is not None:
            argv = ["taskset", "-c", str(cpu)] + argv
        self.out_path = os.path.join(tmp, f"{name}.out")
        self.err_path = os.path.join(tmp, f"{name}.err")
        self.out = open(self.out_path, "w")
        self.err = open(self.err_path, "w")
        self.p = subprocess.Popen(argv, stdout=self.out, stderr=self.err, start_new_session=True,
                                  env=env)
        self.pid = self.p.pid

    def stdout(self):
        with open(self.out_path) as f:
            return f.read()

    def stderr(self):
        with open(self.err_path) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.p.poll() is None:
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.p.wait(5)
        # Forked children (socat) may outlive the parent: end the rest of the group we created.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.out.close()
        self.err.close()
        return self.p.returncode


# ---- proxies under test -----------------------------------------------------------------------

class Peer:
    name = "?"
    proc = None

    def __init__(self, ctx):
        self.ctx = ctx

    def start(self, upstream, sc):
        raise NotImplementedError

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None

    def root(self):
        return self.proc.pid if self.proc else None


class Direct(Peer):
    name = "direct"

    def start(self, upstream, sc):
        return upstream


class EchoOnProxyCpu(Peer):
    """Not a proxy: the bench's echo responder itself, pinned to the proxy's CPU, the load
    generator sending to it directly. Half of a proxy's packet work (one receive and one send per
    request, batches of 64, one socket) done across CPUs, as a proxy's is: what the kernel's UDP
    path costs on this machine before any proxying. Run in the throughput scenarios only."""
    name = "echo@proxy-cpu"
    only_in = ("2-throughput", "cpu-64")

    def start(self, upstream, sc):
        self.proc = Proc("echo", [self.ctx.args.responder, "--max-seconds", "600"], self.ctx.tmp,
                         cpu=self.ctx.proxy_cpu)
        wait_until(lambda: "port" in self.proc.stdout(), 10, "echo responder")
        return int(self.proc.stdout().split()[1])


class Udpx(Peer):
    """udpx as the bench runs it: as root, so the binder and the sandboxed worker (two processes).
    ntp and dns scenarios use the preset's default: shared upstream sockets."""
    name = "udpx"
    prefix = []
    frontend_extra = ""
    force_raw = False

    def start(self, upstream, sc):
        port = free_port()
        preset = "raw" if self.force_raw else "ntp" if sc.get("ntp") else "dns" if sc.get("dns") else "raw"
        cfg = os.path.join(self.ctx.tmp, "udpx.toml")
        extra = (self.frontend_extra if preset != "raw"
                 else 'session_timeout = "60s"\nmax_datagram = 2048\n')
        # The bench's clients all send from 127.0.0.1, far above the presets' rate limits: off,
        # unless the scenario measures the limiter (on, with rates no client reaches).
        if sc.get("limiter"):
            extra += 'rate_limit = "100000000/s"\nrate_limit_prefix = "100000000/s"\n'
        elif preset != "raw":
            extra += 'rate_limit = "off"\nrate_limit_prefix = "off"\n'
        with open(cfg, "w") as f:
            f.write(f'[global]\nlog_level = "info"\nmax_sessions = 20000\n\n'
                    f'[frontend.bench]\nlisten = ["127.0.0.1:{port}"]\npreset = "{preset}"\n'
                    f'backend = "up"\nmax_sessions = 20000\n{extra}\n'
                    f'[backend.up]\nservers = ["127.0.0.1:{upstream}"]\n')
        self.proc = Proc("udpx", self.prefix + [self.ctx.udpx, "-c", cfg], self.ctx.tmp, cpu=self.ctx.proxy_cpu)
        wait_until(lambda: "ready" in self.proc.stderr() or self.proc.p.poll() is not None, 15, "udpx ready")
        if self.proc.p.poll() is not None:
            raise RuntimeError("udpx exited:\n" + self.proc.stderr())
        return port

    def stats(self):
        """The counters udpx writes on SIGUSR1."""
        before = self.proc.stderr().count("stats {")
        os.kill(self.proc.pid, signal.SIGUSR1)
        wait_until(lambda: self.proc.stderr().count("stats {") > before, 5, "udpx stats")
        line = [l for l in self.proc.stderr().splitlines() if "stats {" in l][-1]
        return json.loads(line[line.index("{"):])


class Nginx(Peer):
    name = "nginx"

    def start(self, upstream, sc):
        port = free_port()
        d = tempfile.mkdtemp(prefix="nginx-", dir=self.ctx.tmp)
        # Two connection objects per UDP session (client side + upstream socket): room for 10,000
        # sessions within the 20,000 open files limit (one fd per session: the upstream socket).
        conns = 20480 if sc.get("clients", 1) > 500 or sc.get("big") else 1024
        responses = "proxy_responses 1;" if sc.get("ntp") or sc.get("dns") else ""
        timeout = "2s" if sc.get("ntp") else "5s" if sc.get("dns") else "60s"
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""daemon off;
master_process on;
worker_processes 1;
pid {d}/nginx.pid;
error_log stderr warn;
load_module {NGINX_STREAM_MODULE};
worker_rlimit_nofile 20000;
events {{ worker_connections {conns}; }}
stream {{
  server {{
    listen 127.0.0.1:{port} udp;
    proxy_pass 127.0.0.1:{upstream};
    proxy_timeout {timeout};
    {responses}
  }}
}}
""")
        self.proc = Proc("nginx", ["nginx", "-p", d, "-c", conf, "-e", "stderr"], self.ctx.tmp,
                         cpu=self.ctx.proxy_cpu)
        wait_until(lambda: (udp_listening(port) and len(descendants(self.proc.pid)) >= 2)
                   or self.proc.p.poll() is not None, 15, "nginx listening")
        if self.proc.p.poll() is not None:
            raise RuntimeError("nginx exited:\n" + self.proc.stderr())
        return port


class Dnsdist(Peer):
    name = "dnsdist"

    def start(self, upstream, sc):
        if not sc.get("dns"):
            raise RuntimeError("dnsdist only proxies DNS")
        port = free_port()
        conf = os.path.join(self.ctx.tmp, "dnsdist.conf")
        with open(conf, "w") as f:
            # No security polling (a DNS lookup to the internet); health checks hit the responder,
            # which answers them.
            f.write(f'setLocal("127.0.0.1:{port}")\n'
                    f'newServer({{address="127.0.0.1:{upstream}", name="up"}})\n'
                    'setSecurityPollSuffix("")\n')
        self.proc = Proc("dnsdist", ["dnsdist", "-C", conf, "--supervised", "--disable-syslog"], self.ctx.tmp,
                         cpu=self.ctx.proxy_cpu)
        wait_until(lambda: udp_listening(port) or self.proc.p.poll() is not None, 15, "dnsdist listening")
        if self.proc.p.poll() is not None:
            raise RuntimeError("dnsdist exited:\n" + self.proc.stderr() + self.proc.stdout())
        time.sleep(1.5)  # the first health check marks the server up
        return port


class Socat(Peer):
    name = "socat"

    def start(self, upstream, sc):
        port = free_port()
        # The fork mode people use for NTP relays: one process per received datagram.
        # Idle-memory runs keep the forks alive long enough to be measured (-T 30).
        t = "30" if sc.get("idle") else "2"
        self.proc = Proc("socat", ["socat", "-T" + t, f"UDP4-RECVFROM:{port},bind=127.0.0.1,reuseaddr,fork",
                                   f"UDP4-SENDTO:127.0.0.1:{upstream}"], self.ctx.tmp, cpu=self.ctx.proxy_cpu)
        wait_until(lambda: udp_listening(port) or self.proc.p.poll() is not None, 15, "socat listening")
        if self.proc.p.poll() is not None:
            raise RuntimeError("socat exited:\n" + self.proc.stderr())
        return port


class UdpxBase(Udpx):
    """Another udpx binary ($UDPX_BASE_BIN), to compare a data-path change in the same run;
    shown as $UDPX_BASE_LABEL (default udpx-base)."""
    name = os.environ.get("UDPX_BASE_LABEL", "udpx-base")

    def start(self, upstream, sc):
        saved = self.ctx.udpx
        self.ctx.udpx = os.environ["UDPX_BASE_BIN"]
        try:
            return super().start(upstream, sc)
        finally:
            self.ctx.udpx = saved


class UdpxPerSession(Udpx):
    """udpx with upstream_sockets = "per-session": a connected socket per request for ntp/dns
    (what udpx did before shared upstream sockets)."""
    name = "udpx-per-session"
    frontend_extra = 'upstream_sockets = "per-session"\n'


class UdpxRaw(Udpx):
    """udpx's raw preset on the same load: long sessions, a socket per client, no token work:
    the reference the shared ntp path is measured against."""
    name = "udpx-raw"
    force_raw = True


class UdpxOneProcess(Udpx):
    """udpx started without privilege (as nobody, on a port above 1024): one sandboxed process,
    no binder. This is also what socket activation and --listen-fd give."""
    name = "udpx-1proc"
    prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


PEERS = {"direct": Direct, EchoOnProxyCpu.name: EchoOnProxyCpu, "udpx": Udpx, "udpx-1proc": UdpxOneProcess, "udpx-base": UdpxBase, UdpxBase.name: UdpxBase,
         UdpxPerSession.name: UdpxPerSession, UdpxRaw.name: UdpxRaw, "nginx": Nginx, "socat": Socat,
         "dnsdist": Dnsdist}

SYSCALLS = ["recvmmsg", "sendmmsg", "recvmsg", "sendmsg", "recvfrom", "sendto", "read", "write",
            "epoll_wait", "epoll_pwait", "epoll_ctl", "socket", "connect", "close", "ioctl",
            "getsockopt", "setsockopt", "gettimeofday", "clock_gettime"]


def start_syscall_count(pids, seconds, tmp):
    """perf stat on the syscall tracepoints of these processes for `seconds` (exact counts, far
    less overhead than strace)."""
    events = ["raw_syscalls:sys_enter"] + [f"syscalls:sys_enter_{n}" for n in SYSCALLS]
    out = os.path.join(tmp, "perf-syscalls.csv")
    p = subprocess.Popen(["perf", "stat", "-x", ",", "-o", out, "-e", ",".join(events), "-p",
                          ",".join(str(x) for x in pids), "--", "sleep", str(seconds)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p, out


def parse_strace(path):
    """System call counts from the summary `strace -c` writes ("total" included)."""
    counts = {}
    with open(path) as f:
        for line in f:
            t = line.split()
            if len(t) >= 5 and t[0][0].isdigit() and t[3].isdigit():
                counts[t[-1]] = int(t[3])
    return counts


def finish_syscall_count(p, out):
    p.wait(60)
    counts = {}
    with open(out) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) > 2 and parts[0].isdigit():
                name = parts[2].split(":")[-1].replace("sys_enter_", "").replace("sys_enter", "total")
                counts[name] = int(parts[0])
    return counts


# ---- scenarios --------------------------------------------------------------------------------

def scenarios(args):
    d, w = args.duration, args.warmup
    return {
        "1-latency": dict(title="1 client x 1 in flight", clients=1, inflight=1, duration=d, warmup=w),
        "2-throughput": dict(title="64 clients x 8 in flight", clients=64, inflight=8, duration=d, warmup=w),
        "3-sessions": dict(title="10,000 clients x 1 in flight", clients=10000, inflight=1, duration=d,
                           warmup=max(w, 2.0), timeout=3.0, skip=("socat",)),
        "4-ntp": dict(title="NTP 48 B, ntp preset, 64 clients x 1", clients=64, inflight=1, duration=d,
                      warmup=w, ntp=True),
        # The same with the rate limiter on (rates no client reaches): its cost per datagram.
        "4-ntp-limiter": dict(title="NTP 48 B, ntp preset, rate limiter on, 64 clients x 1", clients=64, inflight=1,
                              duration=d, warmup=w, ntp=True, limiter=True, only=("udpx",)),
        "6-dns": dict(title="DNS 64 B, dns preset, 64 clients x 1", clients=64, inflight=1, duration=d,
                      warmup=w, dns=True, only=("direct", "udpx", UdpxBase.name, "udpx-per-session", "nginx", "dnsdist")),
        # One-shot saturation: 256 clients x 1 in flight, each request one exchange (responses = 1).
        "7-ntp-256": dict(title="NTP 48 B, ntp preset, 256 clients x 1", clients=256, inflight=1, duration=d,
                          warmup=w, ntp=True),
        "8-dns-256": dict(title="DNS 64 B, dns preset, 256 clients x 1", clients=256, inflight=1, duration=d,
                          warmup=w, dns=True, only=("direct", "udpx", UdpxBase.name, "udpx-per-session", "nginx", "dnsdist")),
        "cpu-64": dict(title="open loop 40k req/s, 64 clients", clients=64, rate=args.rate, duration=d,
                       warmup=w, skip=("socat",)),
        # The same comparison at half the rate: the proxy is nowhere near saturation at either size.
        "cpu-64-limiter": dict(title="open loop 40k req/s, 64 clients, rate limiter on", clients=64, rate=args.rate,
                               duration=d, warmup=w, limiter=True, only=("udpx",)),
        "cpu-64-half": dict(title="open loop 20k req/s, 64 clients", clients=64, rate=args.rate / 2,
                            duration=d, warmup=w, skip=("socat",)),
        "cpu-10k-half": dict(title="open loop 20k req/s, 10,000 clients", clients=10000, rate=args.rate / 2,
                             duration=d, warmup=max(w, 2.0), skip=("socat", "nginx")),
        "strace-64": dict(title="open loop 10k req/s, 64 clients, under strace -c -f", clients=64,
                          rate=args.rate / 4, duration=d, warmup=w, strace=True, skip=("socat", "direct")),
        "cpu-10k": dict(title="open loop 40k req/s, 10,000 clients", clients=10000, rate=args.rate, duration=d,
                        warmup=max(w, 2.0), skip=("socat",)),
    }


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="udpx-bench-")
        os.chmod(self.tmp, 0o755)  # udpx-1proc reads its config there as nobody
        self.udpx = args.udpx
        self.proxy_cpu = args.proxy_cpu
        self.load_cpu = args.load_cpu
        self.responder = None
        self.results = {}   # (scenario, peer) -> list of run dicts

    def start_responder(self):
        self.responder = Proc("responder", [self.args.responder, "--max-seconds", "3600"], self.tmp,
                              cpu=self.load_cpu)
        wait_until(lambda: "port" in self.responder.stdout(), 10, "responder")
        return int(self.responder.stdout().split()[1])

    def loadgen(self, target, sc, extra=()):
        argv = [self.args.loadgen, "--target", f"127.0.0.1:{target}", "--clients", str(sc["clients"]),
                "--duration", str(sc["duration"]), "--warmup", str(sc.get("warmup", 0)),
                "--timeout", str(sc.get("timeout", self.args.timeout))]
        if sc.get("rate"):
            argv += ["--rate", str(sc["rate"])]
        else:
            argv += ["--inflight", str(sc.get("inflight", 1))]
        if sc.get("ntp"):
            argv.append("--ntp")
        if sc.get("dns"):
            argv.append("--dns")
        argv += list(extra)
        return Proc("loadgen", argv, self.tmp, cpu=self.load_cpu)

    def run_one(self, key, sc, peer_cls, upstream):
        peer = peer_cls(self)
        try:
            target = peer.start(upstream, sc)
            time.sleep(0.1)
            root = peer.root()
            rss0 = tree_kb(root, "VmRSS") if root else 0
            lg = self.loadgen(target, sc)
            # The CPU window is the load generator's measured window (after its warm-up).
            time.sleep(sc.get("warmup", 0))
            cpu0 = cpu_ns(root) if root else 0
            t0 = time.monotonic()
            perf = strace = None
            if root and sc.get("strace"):
                strace_out = os.path.join(self.tmp, f"strace-{peer.name}.txt")
                argv = ["strace", "-c", "-f", "-o", strace_out]
                for p in descendants(root):
                    argv += ["-p", str(p)]
                strace = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True)
            elif root and self.args.syscalls and peer.name != "socat":
                perf = start_syscall_count(descendants(root), sc["duration"], self.tmp)
            peak_rss = rss0
            peak_procs = 1
            cpu1 = None
            limit = time.monotonic() + sc["duration"] + sc.get("timeout", self.args.timeout) + 30
            while lg.p.poll() is None and time.monotonic() < limit:
                time.sleep(0.1)
                if root:
                    pids = descendants(root)
                    peak_procs = max(peak_procs, len(pids))
                    peak_rss = max(peak_rss, sum(status_kb(p, "VmRSS") for p in pids))
                if cpu1 is None and time.monotonic() - t0 >= sc["duration"]:
                    cpu1 = cpu_ns(root) if root else 0
                    t1 = time.monotonic()
                    if strace:
                        strace.send_signal(signal.SIGINT)  # detach, write the summary
            if lg.p.poll() is None:
                lg.stop()
                raise RuntimeError(f"{key}/{peer.name}: load generator did not finish")
            if cpu1 is None:
                cpu1, t1 = (cpu_ns(root) if root else 0), time.monotonic()
            lg.stop()
            res = json.loads(lg.stdout().strip().splitlines()[-1])
            if strace:
                strace.wait(30)
                served = res["pps"] * sc["duration"]
                res["syscalls_per_req"] = {k: v / served for k, v in parse_strace(strace_out).items()}
            if perf:
                served = res["pps"] * sc["duration"]
                res["syscalls_per_req"] = {k: v / served for k, v in finish_syscall_count(*perf).items() if v}
            if root:
                hwm = tree_kb(root, "VmHWM")
                res["peak_rss_kb"] = max(peak_rss, hwm if peak_procs <= 2 else 0)
                res["rss_per_session_b"] = (peak_rss - rss0) * 1024 / sc["clients"] if sc["clients"] >= 1000 else None
                res["peak_procs"] = peak_procs
                served = res["pps"] * (t1 - t0)
                res["cpu_us_per_req"] = (cpu1 - cpu0) / 1000 / served if served > 0 else None
                res["cpu_util"] = (cpu1 - cpu0) / 1e9 / (t1 - t0)
            if isinstance(peer, Udpx):
                res["udpx_stats"] = peer.stats()["frontends"]["bench"]
            return res
        finally:
            peer.stop()

    def memory(self, peer_cls, counts):
        """Scenario 5: user-space memory (RssAnon) of the proxy with N idle sessions."""
        out = {}
        for n in counts:
            peer = peer_cls(self)
            try:
                sc = dict(clients=n, idle=True, big=True)
                target = peer.start(self.upstream, sc)
                time.sleep(0.2)
                root = peer.root()
                base = {"anon": tree_kb(root, "RssAnon"), "rss": tree_kb(root, "VmRSS"),
                        "hwm": tree_kb(root, "VmHWM"),
                        "hwm_each": [status_kb(p, "VmHWM") for p in descendants(root)],
                        "distinct": distinct_kb(descendants(root))}
                lg = Proc("loadgen", [self.args.loadgen, "--target", f"127.0.0.1:{target}", "--clients", str(n),
                                      "--idle-hold", "20", "--timeout", "5"], self.tmp, cpu=self.load_cpu)
                wait_until(lambda: "idle-ready" in lg.stdout() or lg.p.poll() is not None, 60, "idle sessions")
                time.sleep(0.3)
                m = re.search(r"answered=(\d+)", lg.stdout())
                out[n] = {"base": base, "anon": tree_kb(root, "RssAnon"), "rss": tree_kb(root, "VmRSS"),
                          "procs": len(descendants(root)), "answered": int(m.group(1)) if m else 0}
                lg.stop()
            finally:
                peer.stop()
        return out


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec="{:.1f}"):
    return "—" if x is None else spec.format(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="a few seconds, direct + udpx, asserts no loss")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--timeout", type=float, default=1.0)
    ap.add_argument("--rate", type=float, default=40000)
    ap.add_argument("--peers", default="direct,echo@proxy-cpu,udpx,nginx,socat,dnsdist")
    ap.add_argument("--scenarios", default="1-latency,2-throughput,3-sessions,4-ntp,6-dns,cpu-64,cpu-10k,cpu-64-half,"
                    "cpu-10k-half,strace-64,5-memory")
    ap.add_argument("--proxy-cpu", type=int, default=0)
    ap.add_argument("--load-cpu", type=int, default=1)
    ap.add_argument("--json", help="also write every run's raw results here")
    ap.add_argument("--no-syscalls", dest="syscalls", action="store_false",
                    help="skip counting system calls (perf stat on the proxy)")
    args = ap.parse_args()
    build = os.environ.get("UDPX_BUILD", os.path.join(REPO, "build"))
    args.udpx = os.environ.get("UDPX_BIN", os.path.join(build, "udpx"))
    args.loadgen = os.environ.get("UDPX_BENCH_LOADGEN", os.path.join(build, "udpx_bench_loadgen"))
    args.responder = os.environ.get("UDPX_BENCH_RESPONDER", os.path.join(build, "udpx_bench_responder"))
    if os.cpu_count() < 2:
        args.load_cpu = args.proxy_cpu = 0
    if args.smoke:
        args.reps, args.duration, args.warmup, args.timeout = 1, 1.5, 0.0, 5.0
        args.peers = "direct,udpx"
        args.syscalls = False
        args.scenarios = "2-throughput,4-ntp"

    bench = Bench(args)
    bench.upstream = bench.start_responder()
    peers = [PEERS[p] for p in args.peers.split(",")]
    wanted = args.scenarios.split(",")
    all_sc = scenarios(args)
    failures = []
    mem = {}
    try:
        for key in wanted:
            if key in ("5-memory", "reload"):
                continue
            sc = all_sc[key]
            for rep in range(args.reps):
                for pc in peers:
                    if (pc.name in sc.get("skip", ()) or pc.name not in sc.get("only", (pc.name,))
                            or (pc.name == "dnsdist" and not sc.get("dns"))
                            or key not in getattr(pc, "only_in", (key,))):
                        continue
                    log(f"[{key}] rep {rep + 1}/{args.reps}: {pc.name} ...")
                    try:
                        r = bench.run_one(key, sc, pc, bench.upstream)
                    except RuntimeError as e:
                        log(f"  failed: {e}")
                        failures.append(f"{key}/{pc.name}: {e}")
                        continue
                    log("  " + json.dumps({k: v for k, v in r.items() if k != "udpx_stats"}))
                    bench.results.setdefault((key, pc.name), []).append(r)
                    if args.smoke and pc.name == "udpx":
                        st = r["udpx_stats"]
                        drops = {k: v for k, v in st["dropped"].items() if v}
                        if r["lost"] or r["late"] or r["bad"] or r["sent"] != r["received"] or drops:
                            failures.append(f"{key}/udpx: {r['sent']} sent, {r['received']} answered, "
                                            f"lost {r['lost']}, late {r['late']}, bad {r['bad']}, drops {drops}")
                        if st["forwarded"] != st["replied"] or st["received"] != st["forwarded"]:
                            failures.append(f"{key}/udpx: counters received {st['received']} forwarded "
                                            f"{st['forwarded']} replied {st['replied']}")
        if "reload" in wanted:
            # bench/reload.py: open loop with a reload every second, udpx and nginx (issue 12).
            sys.path.insert(0, HERE)
            import reload as reload_bench
            reload_bench.run(bench, [p.name for p in peers])
        if "5-memory" in wanted:
            mem_peers = list(peers)
            if Udpx in peers and UdpxOneProcess not in peers and os.geteuid() == 0:
                mem_peers.insert(mem_peers.index(Udpx) + 1, UdpxOneProcess)
            for pc in mem_peers:
                if pc.name == "direct":
                    continue
                if pc.name in ("dnsdist", EchoOnProxyCpu.name):
                    continue
                if pc.name == "socat":
                    continue  # a process per datagram, gone after -T idle seconds: see the peak RSS column
                counts = [1, 1000, 10000]
                log(f"[5-memory] {pc.name} {counts} ...")
                try:
                    mem[pc.name] = bench.memory(pc, counts)
                    log("  " + json.dumps(mem[pc.name]))
                except RuntimeError as e:
                    failures.append(f"5-memory/{pc.name}: {e}")
    finally:
        bench.responder.stop()

    # ---- the table ----
    lines = []
    lines.append("| scenario | proxy | packets/s | × ceiling | p50 µs | p99 µs | p99.9 µs | loss | "
                 "CPU µs/req | proxy peak RSS | RSS/session |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key in wanted:
        if key == "5-memory":
            continue
        ceiling = median([r["pps"] for r in bench.results.get((key, "direct"), [])])
        for pc in peers:
            runs = bench.results.get((key, pc.name))
            if not runs:
                continue
            pps = median([r["pps"] for r in runs])
            # Lost = unanswered within the timeout, out of every request resolved (answered or lost).
            loss = median([r["lost"] / (r["lost"] + r["received"]) * 100 if r["lost"] + r["received"] else None
                           for r in runs])
            rss = median([r.get("peak_rss_kb") for r in runs])
            per = median([r.get("rss_per_session_b") for r in runs])
            procs = max(r.get("peak_procs", 1) for r in runs)
            rss_txt = "—" if rss is None else f"{rss / 1024:.1f} MiB" + (f" ({procs} procs)" if procs > 2 else "")
            lines.append(
                f"| {key} | {pc.name} | {pps:,.0f} | {fmt(pps / ceiling if ceiling else None, '{:.2f}')} | "
                f"{fmt(median([r['p50_us'] for r in runs]))} | {fmt(median([r['p99_us'] for r in runs]))} | "
                f"{fmt(median([r['p999_us'] for r in runs]))} | {fmt(loss, '{:.2f}%')} | "
                f"{fmt(median([r.get('cpu_us_per_req') for r in runs]), '{:.2f}')} | {rss_txt} | "
                f"{fmt(per, '{:.0f} B')} |")
    if mem:
        lines.append("")
        lines.append("| proxy | idle sessions | answered | processes | RSS | user-space (RssAnon) | "
                     "RssAnon per answered session vs 1 session |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        for name, by_n in mem.items():
            one = by_n.get(1)
            for n, m in by_n.items():
                extra = m["answered"] - one["answered"] if one else 0
                per = (m["anon"] - one["anon"]) * 1024 / extra if one and extra > 0 else None
                lines.append(f"| {name} | {n:,} | {m['answered']:,} | {m['procs']} | {m['rss'] / 1024:.2f} MiB | "
                             f"{m['anon'] / 1024:.2f} MiB | {fmt(per, '{:.0f} B')} |")
            if one:
                b = one["base"]
                each = " + ".join(f"{k / 1024:.2f}" for k in b["hwm_each"]) if len(b["hwm_each"]) > 1 else ""
                distinct = (f"; {b['distinct'] / 1024:.2f} MiB of distinct pages"
                            if b.get("distinct") and len(b["hwm_each"]) > 1 else "")
                lines.append(f"| {name} | 0 (just started) | | {len(b['hwm_each'])} | {b['rss'] / 1024:.2f} MiB "
                             f"(peak {b['hwm'] / 1024:.2f}{' = ' + each if each else ''}{distinct}) "
                             f"| {b['anon'] / 1024:.2f} MiB | |")
    sys_rows = []
    for key in wanted:
        for pc in peers:
            runs = [r for r in bench.results.get((key, pc.name), []) if "syscalls_per_req" in r]
            if not runs:
                continue
            names = sorted({n for r in runs for n in r["syscalls_per_req"]},
                           key=lambda n: (n != "total", n))
            cells = ", ".join(f"{n} {median([r['syscalls_per_req'].get(n, 0) for r in runs]):.3f}" for n in names)
            sys_rows.append(f"| {key} | {pc.name} | {cells} |")
    if sys_rows:
        lines += ["", "| scenario | proxy | system calls per request (perf stat on syscall tracepoints; strace -c -f "
                      "for strace-64) |",
                  "|---|---|---|"] + sys_rows
    # Ratios the targets are about.
    def med(key, peer, field):
        return median([r.get(field) for r in bench.results.get((key, peer), [])])
    ratios = []
    for key in wanted:
        u, n, c = med(key, "udpx", "pps"), med(key, "nginx", "pps"), med(key, "direct", "pps")
        if u and c:
            ratios.append(f"{key}: udpx/ceiling {u / c:.2f}" + (f", udpx/nginx {u / n:.2f}" if n else ""))
        uc, nc = med(key, "udpx", "cpu_us_per_req"), med(key, "nginx", "cpu_us_per_req")
        if uc and nc:
            ratios.append(f"{key}: CPU per request udpx/nginx {uc / nc:.2f}")
        # Shared upstream sockets (issue 13): against dnsdist, udpx's own per-session and raw paths.
        for other in ("dnsdist", UdpxPerSession.name, UdpxRaw.name):
            oc, op = med(key, other, "cpu_us_per_req"), med(key, other, "pps")
            if uc and oc:
                ratios.append(f"{key}: CPU per request udpx/{other} {uc / oc:.2f}"
                              + (f", throughput udpx/{other} {u / op:.2f}" if u and op else ""))
        e, ec = med(key, EchoOnProxyCpu.name, "pps"), med(key, EchoOnProxyCpu.name, "cpu_us_per_req")
        if e and c:
            ratios.append(f"{key}: echo on the proxy CPU/ceiling {e / c:.2f}"
                          + (f", its CPU per request {ec:.2f} µs (udpx {uc:.2f} µs for twice the packets)"
                             if ec and uc else ""))
        up, np_ = med(key, "udpx", "p50_us"), med(key, "nginx", "p50_us")
        if key == "1-latency" and up and np_ and c:
            cp = med(key, "direct", "p50_us")
            ratios.append(f"{key}: added p50 udpx {up - cp:.1f} µs, nginx {np_ - cp:.1f} µs")
    for suffix in ("", "-half"):
        a, b = med("cpu-10k" + suffix, "udpx", "cpu_us_per_req"), med("cpu-64" + suffix, "udpx", "cpu_us_per_req")
        if a and b:
            ratios.append(f"udpx CPU per request at 10,000 sessions / at 64 sessions (cpu-*{suffix}): {a / b:.2f}")
    uname = os.uname()
    versions = subprocess.run(["bash", "-c", "dpkg-query -W -f='${Package} ${Version}, ' nginx socat libevent-2.1-7 "
                               "2>/dev/null"], capture_output=True, text=True).stdout.rstrip(", ")
    header = (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {uname.sysname} {uname.release}, "
              f"{os.cpu_count()} CPUs, proxy on CPU {args.proxy_cpu}, load on CPU {args.load_cpu}, "
              f"{args.reps} reps (medians), {args.duration:g}s measured after {args.warmup:g}s warm-up; {versions}")
    table = "\n".join([header, ""] + lines + [""] + ["- " + r for r in ratios])
    print(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": {f"{k[0]}/{k[1]}": v for k, v in bench.results.items()}, "memory": mem,
                       "failures": failures}, f, indent=1)
    if failures:
        print("\nFAILED:\n" + "\n".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
