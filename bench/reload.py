"""The reload scenario (issue 12), run by bench/run.py for `--scenarios reload`: open loop at
20,000 requests/s for 10 s through the proxy with a reload every second, alternating two valid
configs (the second adds a frontend and a server, the first removes them again), and the same run
without reloads; lost requests and the p99/max latency of both, and within each run the p99 of
the requests sent during a reload (its command, and 50 ms after) against the rest (the load
generator's --latency-dump), which a slow drift of the machine affects alike. udpx reloads with `udpx reload`,
nginx with `nginx -s reload` (new worker processes, the old ones shut down gracefully).
"""

import os
import struct
import subprocess
import tempfile
import time

from run import NGINX_STREAM_MODULE, Proc, descendants, free_port, log, udp_listening, wait_until

RATE = 20000
SECONDS = 10
CLIENTS = 64


class DirectBaseline:
    """The same open loop straight to the responder: what the machine itself adds (stalls of the
    VM or of the load generator show here too, with no proxy and no reload to blame)."""
    name = "direct"

    def __init__(self, ctx, up1, up2):
        self.up1 = up1

    def start(self):
        return self.up1

    def reload(self, big):
        return 0, ""

    def stop(self):
        pass


class UdpxReloading:
    name = "udpx"

    def __init__(self, ctx, up1, up2):
        self.ctx, self.up1, self.up2 = ctx, up1, up2
        self.cfg = os.path.join(ctx.tmp, "udpx-reload.toml")
        self.port, self.extra = free_port(), free_port()

    def config(self, big):
        text = (f'[global]\nlog_level = "info"\nmax_sessions = 20000\n\n'
                f'[frontend.bench]\nlisten = ["127.0.0.1:{self.port}"]\npreset = "raw"\nbackend = "up"\n'
                f'session_timeout = "60s"\nmax_datagram = 2048\n\n')
        if big:
            text += f'[frontend.extra]\nlisten = ["127.0.0.1:{self.extra}"]\npreset = "raw"\nbackend = "up"\n\n'
        servers = [f'"127.0.0.1:{self.up1}"'] + ([f'"127.0.0.1:{self.up2}"'] if big else [])
        return text + f'[backend.up]\nservers = [{", ".join(servers)}]\n[backend.up.health]\ntype = "none"\n'

    def write(self, big):
        with open(self.cfg + ".new", "w") as f:
            f.write(self.config(big))
        os.chmod(self.cfg + ".new", 0o644)
        os.rename(self.cfg + ".new", self.cfg)

    def start(self):
        self.write(False)
        self.proc = Proc("udpx-reload", [self.ctx.udpx, "-c", self.cfg], self.ctx.tmp, cpu=self.ctx.proxy_cpu)
        wait_until(lambda: "ready" in self.proc.stderr() or self.proc.p.poll() is not None, 15, "udpx ready")
        if self.proc.p.poll() is not None:
            raise RuntimeError("udpx exited:\n" + self.proc.stderr())
        return self.port

    def reload(self, big):
        self.write(big)
        # The client runs on the load generator's CPU, as an operator's shell would not share the proxy's.
        done = subprocess.run(["taskset", "-c", str(self.ctx.load_cpu), self.ctx.udpx, "reload", "-c", self.cfg],
                              capture_output=True, text=True, timeout=30)
        return done.returncode, (done.stdout + done.stderr).strip()

    def stop(self):
        self.proc.stop()


class NginxReloading:
    name = "nginx"

    def __init__(self, ctx, up1, up2):
        self.ctx, self.up1, self.up2 = ctx, up1, up2
        self.dir = tempfile.mkdtemp(prefix="nginx-reload-", dir=ctx.tmp)
        self.conf = os.path.join(self.dir, "nginx.conf")
        self.port, self.extra = free_port(), free_port()

    def write(self, big):
        servers = f"server 127.0.0.1:{self.up1};" + (f" server 127.0.0.1:{self.up2};" if big else "")
        extra = (f"server {{ listen 127.0.0.1:{self.extra} udp; proxy_pass up; proxy_timeout 60s; }}"
                 if big else "")
        with open(self.conf, "w") as f:
            f.write(f"""daemon off;
master_process on;
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log stderr warn;
load_module {NGINX_STREAM_MODULE};
worker_rlimit_nofile 20000;
events {{ worker_connections 1024; }}
stream {{
  upstream up {{ {servers} }}
  server {{ listen 127.0.0.1:{self.port} udp; proxy_pass up; proxy_timeout 60s; }}
  {extra}
}}
""")

    def start(self):
        self.write(False)
        self.proc = Proc("nginx-reload", ["nginx", "-p", self.dir, "-c", self.conf, "-e", "stderr"], self.ctx.tmp,
                         cpu=self.ctx.proxy_cpu)
        wait_until(lambda: (udp_listening(self.port) and len(descendants(self.proc.pid)) >= 2)
                   or self.proc.p.poll() is not None, 15, "nginx listening")
        if self.proc.p.poll() is not None:
            raise RuntimeError("nginx exited:\n" + self.proc.stderr())
        return self.port

    def reload(self, big):
        self.write(big)
        done = subprocess.run(["taskset", "-c", str(self.ctx.load_cpu), "nginx", "-p", self.dir, "-c", self.conf,
                               "-e", "stderr", "-s", "reload"],
                              capture_output=True, text=True, timeout=30)
        return done.returncode, (done.stdout + done.stderr).strip()

    def stop(self):
        self.proc.stop()


def steal_ticks(cpu):
    """The CPU's steal time in USER_HZ ticks (10 ms each): time the hypervisor ran something else
    while this vCPU had work (/proc/stat, 8th value). None where the kernel does not report it."""
    try:
        with open("/proc/stat") as f:
            for line in f:
                parts = line.split()
                if parts[0] == f"cpu{cpu}":
                    return int(parts[8]) if len(parts) > 8 else None
    except OSError:
        return None
    return None


def max_window(samples, seconds):
    """The largest increase of a sampled counter within any `seconds` window: [(time, value)]."""
    best, j = 0, 0
    for i in range(len(samples)):
        while samples[i][0] - samples[j][0] > seconds:
            j += 1
        best = max(best, samples[i][1] - samples[j][1])
    return best


# A reload's window: from the start of its command to this long after the command returned
# (requests queued behind it are answered by then). Runs without reloads get the same windows at
# the same times, as the control: what the machine does to that many requests anyway.
WINDOW_AFTER_NS = 50_000_000


def read_dump(path):
    """The load generator's --latency-dump: [(send time ns, latency ns)]."""
    with open(path, "rb") as f:
        data = f.read()
    return list(struct.iter_unpack("<QQ", data))


def quantile(sorted_values, q):
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def split_by_windows(samples, windows):
    """p99 (µs) and count of the requests sent inside any window [(start, end) ns], and of the rest."""
    windows = sorted(windows)
    inside, outside = [], []
    j = 0
    for sent, lat in sorted(samples):
        while j < len(windows) and windows[j][1] < sent:
            j += 1
        (inside if j < len(windows) and windows[j][0] <= sent else outside).append(lat)
    inside.sort()
    outside.sort()
    us = lambda v: None if v is None else v / 1000
    return {"in_windows": len(inside), "p99_in_windows_us": us(quantile(inside, 0.99)),
            "outside": len(outside), "p99_outside_us": us(quantile(outside, 0.99))}


def run_once(bench, peer_cls, up1, up2, reloading):
    peer = peer_cls(bench, up1, up2)
    try:
        target = peer.start()
        time.sleep(0.2)
        sc = {"clients": CLIENTS, "rate": RATE, "duration": SECONDS, "warmup": 1, "timeout": 1.0}
        dump = os.path.join(bench.tmp, "latency.bin")
        lg = bench.loadgen(target, sc, extra=("--latency-dump", dump))
        time.sleep(1)  # the warm-up
        reloads = failed = 0
        errors, took_ms, windows = [], [], []
        deadline = time.monotonic() + SECONDS
        next_at = time.monotonic() + 0.5
        # Steal time of both CPUs, sampled with the loop: a ~100 ms stall of the proxy with its
        # CPU's steal rising by ~10 ticks at the same moment is the hypervisor, not udpx.
        steal = {c: [] for c in (bench.proxy_cpu, bench.load_cpu)}
        while lg.p.poll() is None and time.monotonic() < deadline + 30:
            now = time.monotonic()
            for c in steal:
                v = steal_ticks(c)
                if v is not None and now < deadline:
                    steal[c].append((now, v))
            if not reloading and time.monotonic() >= next_at and time.monotonic() < deadline:
                t0 = time.monotonic_ns()  # the control: a window of a typical reload's length
                windows.append((t0, t0 + 20_000_000 + WINDOW_AFTER_NS))
                next_at += 1.0
            if reloading and time.monotonic() >= next_at and time.monotonic() < deadline:
                t0 = time.monotonic()
                t0_ns = time.monotonic_ns()
                rc, text = peer.reload(reloads % 2 == 0)
                windows.append((t0_ns, time.monotonic_ns() + WINDOW_AFTER_NS))
                took_ms.append((time.monotonic() - t0) * 1000)
                reloads += 1
                if rc != 0:
                    # Kept whole: a failed reload's reason is the point of the run.
                    failed += 1
                    errors.append(f"reload {reloads} exit {rc}: {text}")
                next_at += 1.0
            time.sleep(0.02)
        if lg.p.poll() is None:
            lg.stop()
            raise RuntimeError(f"reload/{peer.name}: load generator did not finish")
        lg.stop()
        res = __import__("json").loads(lg.stdout().strip().splitlines()[-1])
        res["reloads"], res["reloads_failed"] = reloads, failed
        res["reload_errors"] = errors
        res["reload_ms_max"] = max(took_ms) if took_ms else 0.0
        res.update(split_by_windows(read_dump(dump), windows))
        for key, c in (("proxy", bench.proxy_cpu), ("load", bench.load_cpu)):
            sm = steal[c]
            res[f"steal_{key}_ms"] = (sm[-1][1] - sm[0][1]) * 10 if len(sm) > 1 else None
            res[f"steal_{key}_max250_ms"] = max_window(sm, 0.25) * 10 if len(sm) > 1 else None
        for e in errors:
            log("  " + e)
        return res
    finally:
        peer.stop()


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def run(bench, peer_names):
    """Every peer of `peer_names` that has a reloading variant, without and with reloads, --reps
    times in turn (udpx and nginx side by side in each rep); prints every run and the medians."""
    second = Proc("responder-2", [bench.args.responder, "--max-seconds", "1800"], bench.tmp, cpu=bench.load_cpu)
    wait_until(lambda: "port" in second.stdout(), 10, "second responder")
    up2 = int(second.stdout().split()[1])
    out = {}
    reps = max(1, getattr(bench.args, "reps", 1))
    try:
        for rep in range(reps):
            for cls in (DirectBaseline, UdpxReloading, NginxReloading):
                if cls.name not in peer_names:
                    continue
                for reloading in ((False,) if cls is DirectBaseline else (False, True)):
                    label = "reloads every 1 s" if reloading else "no reload"
                    log(f"[reload] rep {rep + 1}/{reps}: {cls.name}, {label} ...")
                    try:
                        r = run_once(bench, cls, bench.upstream, up2, reloading)
                    except (RuntimeError, FileNotFoundError) as e:
                        log(f"  failed: {e}")
                        continue
                    log("  " + str(r))
                    out.setdefault((cls.name, label), []).append(r)
    finally:
        second.stop()
    lines = ["| proxy | run | rep | sent | lost | late | p50 µs | p99 µs | max µs | reloads (failed) | slowest reload command ms "
             "| p99 µs in the windows (requests) | p99 µs outside them | "
             "steal ms, proxy CPU (most in 250 ms) | steal ms, load CPU (most in 250 ms) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"]

    def us(v):
        return "—" if v is None else f"{v:.0f}"

    def st(r, key):
        total, peak = r.get(f"steal_{key}_ms"), r.get(f"steal_{key}_max250_ms")
        return "—" if total is None else f"{total} ({peak})"
    for (name, label), runs in out.items():
        for i, r in enumerate(runs):
            lines.append(f"| {name} | {label} | {i + 1} | {r['sent']} | {r['lost']} | {r['late']} | {r['p50_us']:.0f} | "
                         f"{r['p99_us']:.0f} | {r['max_us']:.0f} | {r['reloads']} ({r['reloads_failed']}) | "
                         f"{r['reload_ms_max']:.0f} | {us(r['p99_in_windows_us'])} ({r['in_windows']}) | "
                         f"{us(r['p99_outside_us'])} | {st(r, 'proxy')} | {st(r, 'load')} |")
    for (name, label), runs in out.items():
        m = {k: median([r[k] for r in runs]) for k in ("sent", "lost", "late", "p50_us", "p99_us", "max_us")}
        for k in ("p99_in_windows_us", "p99_outside_us"):
            vals = [r[k] for r in runs if r.get(k) is not None]
            m[k] = median(vals) if vals else None
        lines.append(f"| {name} | {label} | median of {len(runs)} | {m['sent']:.0f} | {m['lost']:.0f} | "
                     f"{m['late']:.0f} | {m['p50_us']:.0f} | {m['p99_us']:.0f} | {m['max_us']:.0f} | | | "
                     f"{us(m['p99_in_windows_us'])} | {us(m['p99_outside_us'])} | | |")
    print("\n".join(lines), flush=True)
    return out
