"""Shared helpers for udpx's end-to-end tests: start udpx and real peers, talk UDP, read stats.

Standard library only; every wait is bounded and every process is stopped by a cleanup.
Traffic goes to loopback only. Ports are never hard-coded: free ones are found by binding port 0.
"""

import glob
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# Generous on purpose: CI is a noisy 2-core machine, and the suite also runs under ASan.
START_TIMEOUT = 15.0   # a process is up and answering
REPLY_TIMEOUT = 3.0    # one datagram's round trip through udpx
SILENCE = 0.7          # how long "nothing arrives" is watched for
STATS_TIMEOUT = 5.0    # SIGUSR1 to the stats line


# ---------------------------------------------------------------------------------------------
# Small utilities


def udpx_binary():
    """The udpx binary under test: $UDPX_BIN, else the usual build directories."""
    path = os.environ.get("UDPX_BIN")
    if not path:
        for candidate in ("build/udpx", "build-e2e/udpx"):
            if os.access(os.path.join(REPO, candidate), os.X_OK):
                path = os.path.join(REPO, candidate)
                break
    if not path or not os.access(path, os.X_OK):
        raise AssertionError(
            "udpx binary not found: set UDPX_BIN to the built udpx (ctest does this)")
    return path


# Where tools/install-deps.sh extracts the daemons it does not install (chrony, rsyslog):
# `apt-get download` + `dpkg-deb -x`, so the machine's own time and syslog services stay as they are.
PEERS_ROOT = os.path.join(os.environ.get("UDPX_PEERS_DIR", os.path.join(REPO, "build", "peers")), "root")


def tool(name):
    """Absolute path of a peer program; a missing one is a failure, never a skip."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}", f"/sbin/{name}",
                     f"{PEERS_ROOT}/usr/sbin/{name}", f"{PEERS_ROOT}/usr/bin/{name}")
         if os.access(p, os.X_OK)), None)
    if path is None:
        raise AssertionError(f"{name} not installed: run `make deps-test` (tools/install-deps.sh test)")
    return path


def wait_until(predicate, timeout, what, interval=0.05):
    """Polls predicate() until it returns something truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def hostport(host, port):
    """Text form udpx uses in configs and stats: 127.0.0.1:5000 or [::1]:5000."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _picked_port_range():
    """Where tests pick their ports: below the kernel's ephemeral range. A port found free by
    binding 0 is an ephemeral one, and any socket of a test running in parallel (udpx's
    upstream sockets connect() to one) can be given it between the pick and its use; ports below
    the range are only ever taken by explicit binds."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return (10000, low - 1) if low - 1 >= 12000 else None


_port_rng = random.Random(os.urandom(16))


def free_port(*hosts):
    """A UDP port currently free on every one of `hosts` (default 127.0.0.1), found by binding it;
    chosen below the ephemeral range where it can (see _picked_port_range)."""
    hosts = hosts or ("127.0.0.1",)
    picked = _picked_port_range()
    for _ in range(200):
        socks = []
        try:
            first = socket.socket(family_of(hosts[0]), socket.SOCK_DGRAM)
            socks.append(first)
            first.bind((hosts[0], _port_rng.randint(*picked) if picked else 0))
            port = first.getsockname()[1]
            for host in hosts[1:]:
                s = socket.socket(family_of(host), socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError(f"no UDP port free on all of {hosts}")


def free_ports(count, host="127.0.0.1"):
    """`count` distinct UDP ports currently free on host."""
    ports = []
    while len(ports) < count:
        port = free_port(host)
        if port not in ports:
            ports.append(port)
    return ports


def unique_tag(prefix="udpx-e2e"):
    return f"{prefix}-{os.getpid()}-{random.randrange(1 << 32):08x}"


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def render_config(frontends, backends, global_=None):
    """A udpx TOML config from {name: {key: value}} tables, in the order given.

    A dict value is a sub-table: {"health": {"interval": "200ms"}} in backend b gives
    [backend.b.health]."""
    lines = []
    if global_:
        lines.append("[global]")
        lines += [f"{k} = {toml_value(v)}" for k, v in global_.items()]
        lines.append("")
    for kind, tables in (("frontend", frontends), ("backend", backends)):
        for name, keys in tables.items():
            lines.append(f"[{kind}.{name}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in keys.items() if not isinstance(v, dict)]
            lines.append("")
            for sub, subkeys in ((k, v) for k, v in keys.items() if isinstance(v, dict)):
                lines.append(f"[{kind}.{name}.{sub}]")
                lines += [f"{k} = {toml_value(v)}" for k, v in subkeys.items()]
                lines.append("")
    return "\n".join(lines)


# A backend's health table that turns active probes off, for tests that count exactly what
# reaches a fake upstream.
NO_PROBES = {"type": "none"}


def tail(path, lines=40):
    try:
        with open(path, "r", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------------------------------------
# NTP and DNS packets (just enough to drive and check the presets)

NTP_EPOCH_OFFSET = 2208988800


def ntp_timestamp(t=None):
    t = time.time() if t is None else t
    seconds = int(t) + NTP_EPOCH_OFFSET
    fraction = int((t % 1) * (1 << 32)) & 0xFFFFFFFF
    # NOTE: random low bits, as chrony does, so two requests never share a transmit timestamp.
    return (seconds << 32) | (fraction & ~0xFFFF) | random.randrange(1, 1 << 16)


def ntp_request(transmit=None, mode=3, version=4):
    """A 48-byte client request; returns (packet, transmit timestamp)."""
    transmit = ntp_timestamp() if transmit is None else transmit
    header = struct.pack("!BBbb", (version << 3) | mode, 0, 6, -20)
    return header + bytes(36) + struct.pack("!Q", transmit), transmit


def ntp_reply(origin, mode=4, version=4, stratum=2):
    """A 48-byte server reply whose origin timestamp is `origin`."""
    now = ntp_timestamp()
    return (struct.pack("!BBbb", (version << 3) | mode, stratum, 6, -20)
            + struct.pack("!II", 0, 0) + b"TEST"
            + struct.pack("!QQQQ", now, origin, now, now))


def ntp_fields(packet):
    """mode, version, origin and transmit timestamps of a 48-byte NTP packet."""
    if len(packet) < 48:
        raise AssertionError(f"not an NTP packet ({len(packet)} bytes): {packet!r}")
    first = packet[0]
    origin, receive, transmit = struct.unpack("!QQQ", packet[24:48])
    return {"mode": first & 7, "version": (first >> 3) & 7, "stratum": packet[1],
            "origin": origin, "transmit": transmit}


# NTP mode 7 (private, ntpdc) MON_GETLIST_1 "monlist": implementation 3 (XNTPD), request 42.
MONLIST_8 = bytes([0x17, 0x00, 0x03, 0x2A]) + bytes(4)
MONLIST_48 = MONLIST_8 + bytes(40)


def ntp_control_read_variables(sequence=1, version=2):
    """An NTP mode 6 (ntpq) READVAR request: 12-byte header, no data."""
    return struct.pack("!BBHHHHH", (version << 3) | 6, 2, sequence, 0, 0, 0, 0)


def dns_query(name, qtype=1, ident=None):
    """A standard recursive query; returns (packet, id)."""
    ident = random.randrange(1 << 16) if ident is None else ident
    qname = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", qtype, 1), ident


def dns_header(packet):
    ident, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", packet[:12])
    return {"id": ident, "qr": flags >> 15, "rcode": flags & 0xF, "answers": an}


def dns_first_a(packet):
    """The first A record's address in a reply with one question (compressed names only)."""
    pos = 12
    while packet[pos] != 0:
        pos += packet[pos] + 1
    pos += 5
    while pos < len(packet):
        if packet[pos] & 0xC0 == 0xC0:
            pos += 2
        else:
            while packet[pos] != 0:
                pos += packet[pos] + 1
            pos += 1
        rtype, _, _, rdlen = struct.unpack("!HHIH", packet[pos:pos + 10])
        pos += 10
        if rtype == 1 and rdlen == 4:
            return socket.inet_ntoa(packet[pos:pos + 4])
        pos += rdlen
    return None


# ---------------------------------------------------------------------------------------------
# UDP endpoints written in Python


class Client:
    """A UDP client socket bound to a loopback address (a fresh one is a fresh udpx session)."""

    def __init__(self, host="127.0.0.1"):
        self.sock = socket.socket(family_of(host), socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.address = self.sock.getsockname()[:2]

    def send(self, payload, to):
        self.sock.sendto(payload, to)

    def receive(self, timeout=REPLY_TIMEOUT, what="a reply"):
        """Next datagram as (payload, (host, port)); fails if none arrives in time."""
        self.sock.settimeout(timeout)
        try:
            data, addr = self.sock.recvfrom(65535)
        except socket.timeout:
            raise AssertionError(f"client {hostport(*self.address)}: no {what} within {timeout}s")
        return data, addr[:2]

    def ask(self, payload, to, timeout=REPLY_TIMEOUT):
        """Sends payload and returns the reply's payload."""
        self.send(payload, to)
        return self.receive(timeout)[0]

    def expect_silence(self, timeout=SILENCE):
        """Fails if any datagram arrives within `timeout` seconds."""
        self.sock.settimeout(timeout)
        try:
            data, addr = self.sock.recvfrom(65535)
        except socket.timeout:
            return
        raise AssertionError(f"client {hostport(*self.address)} expected nothing, got {data!r} from {addr}")

    def close(self):
        self.sock.close()


def echo_handler(name):
    """Replies `NAME PORT PAYLOAD`: who answered, and the source port it saw the request from."""
    def handle(data, addr):
        return [f"{name} {addr[1]} ".encode() + data]
    return handle


def parse_echo(reply):
    """(server name, upstream source port it saw, original payload) from an echo_handler reply."""
    name, port, payload = reply.split(b" ", 2)
    return name.decode(), int(port), payload


class FakeUpstream:
    """A UDP server thread on loopback that records every datagram and answers via `handler`.

    handler(data, addr) returns a list of datagrams to send back to addr (may be empty).
    """

    def __init__(self, name, handler=None, host="127.0.0.1", port=0):
        self.name = name
        self.handler = handler or echo_handler(name)
        self.sock = socket.socket(family_of(host), socket.SOCK_DGRAM)
        # A Python thread drains slower than udpx forwards: a burst of thousands of sessions
        # would overflow the default ~200 kB buffer on a loaded machine. Root may exceed rmem_max.
        for opt in (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF):
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, opt, 8 << 20)
                break
            except OSError:
                continue
        self.sock.bind((host, port))
        self.sock.settimeout(0.05)
        self.address = self.sock.getsockname()[:2]
        self.text = hostport(*self.address)
        self._received = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"upstream-{name}", daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except (socket.timeout, BlockingIOError):
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            with self._lock:
                self._received.append((data, addr[:2]))
            try:
                for reply in self.handler(data, addr):
                    self.sock.sendto(reply, addr)
            except OSError:
                pass

    @property
    def received(self):
        """Every (payload, source address) received so far."""
        with self._lock:
            return list(self._received)

    def wait_for_datagrams(self, count, timeout=REPLY_TIMEOUT):
        wait_until(lambda: len(self.received) >= count, timeout,
                   f"upstream {self.name} to receive {count} datagram(s)")
        return self.received

    def close(self):
        """Stops answering and closes the port: datagrams to it now get ICMP port unreachable."""
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join(5)
            self.sock.close()


# ---------------------------------------------------------------------------------------------
# Processes


class Process:
    """A child process whose stdout and stderr go to files in the test's temp dir."""

    def __init__(self, name, argv, workdir, env=None):
        self.name = name
        self.argv = argv
        self.out_path = os.path.join(workdir, f"{name}.stdout")
        self.log_path = os.path.join(workdir, f"{name}.stderr")
        self._out = open(self.out_path, "wb")
        self._err = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=self._err, env=env, cwd=workdir)
        self.pid = self.proc.pid
        self.finished = False  # terminate() has reaped it

    def running(self):
        return self.proc.poll() is None

    def log(self):
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

    def output(self):
        with open(self.out_path, "r", errors="replace") as f:
            return f.read()

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} still running after {timeout}s:\n{tail(self.log_path)}")

    def terminate(self, sig=signal.SIGTERM, timeout=10.0):
        """Sends sig and waits; kills with SIGKILL if it does not exit. Returns (exit code, clean)."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                self._close_files()
                return self.proc.returncode, False
        self._close_files()
        return self.proc.returncode, True

    def _close_files(self):
        self.finished = True
        for f in (self._out, self._err):
            if not f.closed:
                f.close()

    def describe(self):
        return (f"--- {self.name} ({' '.join(self.argv)}) exit={self.proc.poll()}\n"
                f"{tail(self.log_path)}{tail(self.out_path, 10)}")


_STATS_RE = re.compile(r"\bstats (\{.*\})\s*$")
_READY_RE = re.compile(r"\bready\b", re.IGNORECASE)


class Udpx(Process):
    """A running udpx: its stderr log, its stats (SIGUSR1) and its clean stop (SIGTERM, exit 0)."""

    def wait_ready(self, timeout=START_TIMEOUT):
        def ready():
            if _READY_RE.search(self.log()):
                return True
            if not self.running():
                raise AssertionError(f"udpx exited with {self.proc.returncode} before ready:\n{self.log()}")
            return False
        wait_until(ready, timeout, f"udpx to log 'ready':\n{tail(self.log_path)}")

    def _stats_lines(self):
        with open(self.log_path, "r", errors="replace") as f:
            text = f.read()
        # Only complete lines: the last one may still be being written.
        return [m.group(1) for line in text.splitlines(keepends=True)
                if line.endswith("\n") and (m := _STATS_RE.search(line))]

    def stats(self, timeout=STATS_TIMEOUT):
        """Sends SIGUSR1 and returns the parsed JSON of the next new `stats ` line."""
        before = len(self._stats_lines())
        if not self.running():
            raise AssertionError(f"udpx is not running (exit {self.proc.returncode}):\n{tail(self.log_path)}")
        os.kill(self.pid, signal.SIGUSR1)

        def new_line():
            lines = self._stats_lines()
            return lines if len(lines) > before else None
        lines = wait_until(new_line, timeout, "a new 'stats {...}' line after SIGUSR1")
        try:
            return json.loads(lines[before])
        except ValueError as e:
            raise AssertionError(f"stats line is not JSON ({e}): {lines[before]}")

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Stops udpx and checks it exits 0 on its own, as the spec says for SIGTERM/SIGINT."""
        code, clean = self.terminate(sig, timeout)
        if not clean:
            raise AssertionError(f"udpx did not exit within {timeout}s of {sig.name}; killed:\n{tail(self.log_path)}")
        if code != 0:
            raise AssertionError(f"udpx exited {code} after {sig.name}, expected 0:\n{tail(self.log_path)}")


def frontend_stats(stats, name):
    try:
        return stats["frontends"][name]
    except KeyError:
        raise AssertionError(f"no frontend {name!r} in stats: {json.dumps(stats)}")


def server_stats(stats, backend, server):
    try:
        return stats["backends"][backend]["servers"][server]
    except KeyError:
        raise AssertionError(f"no server {server!r} of backend {backend!r} in stats: {json.dumps(stats)}")


# ---------------------------------------------------------------------------------------------
# The test case base: a temp dir, processes and sockets all cleaned up, logs shown on failure


class UdpxTestCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="udpx-e2e-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.processes = []
        self.addCleanup(self._show_logs_on_failure)

    def _show_logs_on_failure(self):
        # NOTE: unittest has no public "did this test fail" for cleanups; the result's lists do.
        result = getattr(getattr(self, "_outcome", None), "result", None)
        problems = list(getattr(result, "failures", [])) + list(getattr(result, "errors", []))
        if any(getattr(test, "test_case", test) is self for test, _ in problems):
            for p in self.processes:
                sys.stderr.write(p.describe() + "\n")

    def path(self, name):
        return os.path.join(self.tmp, name)

    def write_file(self, name, text):
        path = self.path(name)
        with open(path, "w") as f:
            f.write(text)
        return path

    # udpx

    def start_udpx(self, config_text=None, args=None, name="udpx"):
        """Starts `udpx -c CONFIG` (or udpx ARGS) and waits for its 'ready' line."""
        if config_text is not None:
            args = ["-c", self.write_file(f"{name}.toml", config_text)]
        udpx = Udpx(name, [udpx_binary()] + list(args), self.tmp)
        self.processes.append(udpx)
        self.addCleanup(self._stop_udpx, udpx)
        udpx.wait_ready()
        return udpx

    def launch_udpx(self, config_text=None, args=None, name="udpx"):
        """Starts udpx without waiting for 'ready', for runs expected to fail; killed at cleanup."""
        if config_text is not None:
            args = ["-c", self.write_file(f"{name}.toml", config_text)]
        udpx = Udpx(name, [udpx_binary()] + list(args), self.tmp)
        self.processes.append(udpx)
        self.addCleanup(udpx.terminate, signal.SIGKILL)
        return udpx

    def _stop_udpx(self, udpx):
        if udpx.finished:
            return  # the test stopped it itself
        if not udpx.running():
            udpx.terminate()
            raise AssertionError(f"udpx died during the test (exit {udpx.proc.returncode}):\n{tail(udpx.log_path)}")
        udpx.stop()

    def run_udpx(self, args, timeout=30):
        """Runs udpx to completion (check, --help...); returns (exit code, stdout + stderr)."""
        try:
            done = subprocess.run([udpx_binary()] + list(args), stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=timeout, cwd=self.tmp)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"udpx {' '.join(args)} did not finish within {timeout}s")
        return done.returncode, done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")

    def run_status(self, config_path, *extra, unprivileged=True, timeout=30):
        """`udpx status -c config_path` as user nobody (when run as root; else as the test's own,
        already unprivileged user); returns (exit code, stdout + stderr)."""
        argv = [udpx_binary(), "status", "-c", config_path, *extra]
        if unprivileged and os.geteuid() == 0:
            # NOTE: the temp dir is root's and mode 0700, so nobody cannot even read the
            # config: udpx status must find the instance from the path alone.
            argv = [tool("setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups", "--"] + argv
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, cwd="/")
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{' '.join(argv)} did not finish within {timeout}s")
        return done.returncode, done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")

    def wait_for_stats(self, udpx, predicate, what, timeout=REPLY_TIMEOUT + 2):
        """Polls udpx's stats until predicate(stats) holds; returns those stats."""
        last = {}

        def check():
            last["stats"] = udpx.stats()
            return last["stats"] if predicate(last["stats"]) else None
        try:
            return wait_until(check, timeout, what, interval=0.1)
        except AssertionError as e:
            raise AssertionError(f"{e}; last stats: {json.dumps(last.get('stats'))}")

    # peers

    def start_upstream(self, name, handler=None, host="127.0.0.1", port=0):
        upstream = FakeUpstream(name, handler, host, port)
        self.addCleanup(upstream.close)
        return upstream

    def new_client(self, host="127.0.0.1"):
        client = Client(host)
        self.addCleanup(client.close)
        return client

    def start_process(self, name, argv):
        proc = Process(name, argv, self.tmp)
        self.processes.append(proc)
        self.addCleanup(proc.terminate)
        return proc

    def run_tool(self, argv, timeout):
        """Runs a client program (dig, logger, chronyd -Q); returns (exit code, stdout, stderr)."""
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=timeout, cwd=self.tmp)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{' '.join(argv)} did not finish within {timeout}s")
        return done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")

    # assertions on counters

    def assertDropped(self, frontend, **expected):
        """Checks the named drop counters and that every other one is 0."""
        dropped = frontend["dropped"]
        want = {reason: expected.get(reason, 0) for reason in dropped}
        unknown = set(expected) - set(dropped)
        self.assertFalse(unknown, f"stats have no drop counters {unknown}: {dropped}")
        self.assertEqual(dropped, want)


# ---------------------------------------------------------------------------------------------
# Real peers


def wait_answering(proc, address, name, make_probe):
    """Waits until the peer at address (run by proc) answers a probe correctly.

    make_probe() returns (request bytes, check(reply) -> bool) for one attempt.
    """
    probe = socket.socket(family_of(address[0]), socket.SOCK_DGRAM)
    try:
        probe.settimeout(0.2)

        def answers():
            if not proc.running():
                raise AssertionError(f"{name} exited early:\n{proc.log()}")
            request, check = make_probe()
            probe.sendto(request, address)
            try:
                reply, _ = probe.recvfrom(65535)
            except (socket.timeout, ConnectionRefusedError):
                return False
            return check(reply)
        wait_until(answers, START_TIMEOUT, f"{name} to answer", interval=0.05)
    finally:
        probe.close()


class ChronyServer:
    """chronyd answering NTP on 127.0.0.1:port as a stratum-8 local server, no clock control.

    allow is the subnet it serves: another one than loopback makes it silently ignore udpx
    (chronyd opens no NTP socket at all without any `allow`); local=False leaves out `local`
    (no time source: it answers unsynchronised). Either makes it never answer validly, so
    start-up then waits only for its socket, not for a valid reply.
    """

    def __init__(self, test, name="chronyd-server", allow="127.0.0.0/8", local=True):
        self.test = test
        self.name = name
        self.allow = allow
        self.port = free_port("127.0.0.1")
        self.address = ("127.0.0.1", self.port)
        self.text = hostport(*self.address)
        # allow=None: no `allow` line, so chronyd is a client only and opens no NTP port at all.
        self.answers = allow == "127.0.0.0/8" and local
        self.conf = test.write_file(f"{name}.conf", "\n".join([
            f"port {self.port}",
            "bindaddress 127.0.0.1",
            "cmdport 0",
            *(["local stratum 8"] if local else []),
            *([f"allow {allow}"] if allow is not None else []),
            f"pidfile {test.path(name + '.pid')}",
            "",
        ]))
        self.proc = None
        self.start()

    def start(self):
        """Starts chronyd (again, on the same port) and waits until it is ready."""
        # -x: never touch the system clock; -d: foreground, log to stderr; -u root: no
        # privilege drop, so it can write its pid file in our temp dir.
        self.proc = self.test.start_process(self.name, [tool("chronyd"), "-x", "-d", "-u", "root", "-f", self.conf])
        if self.allow is None:
            wait_until(lambda: "starting" in self.proc.log(), START_TIMEOUT, f"{self.name} to start")
        elif self.answers:
            def valid_reply():
                request, transmit = ntp_request()
                return request, lambda reply: ntp_fields(reply)["origin"] == transmit
            wait_answering(self.proc, self.address, self.name, valid_reply)
        else:
            wait_until(lambda: udp_port_bound(self.port), START_TIMEOUT, f"{self.name} to bind port {self.port}")

    def stop(self):
        """Stops chronyd: its port then answers with ICMP port unreachable."""
        self.proc.terminate()


def proc_status(pid):
    """/proc/PID/status as {field: value}."""
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def children(pid):
    """The pids of PID's children (none once it is gone)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def udp_port_bound(port, host="127.0.0.1"):
    """True if some process has UDP host:port bound (binding it ourselves fails)."""
    s = socket.socket(family_of(host), socket.SOCK_DGRAM)
    try:
        s.bind((host, port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def chrony_client_query(test, host, port, timeout_s=10):
    """One-shot `chronyd -Q` measuring the offset of host:port; returns (exit code, its output)."""
    argv = [tool("chronyd"), "-Q", "-u", "root", "-t", str(timeout_s), "-f", "/dev/null",
            f"pidfile {test.path('chronyd-client.pid')}", "cmdport 0",
            f"server {host} port {port} iburst maxsamples 1"]
    code, out, err = test.run_tool(argv, timeout=timeout_s + 20)
    return code, out + err


class Dnsmasq:
    """dnsmasq on 127.0.0.1:port answering example.test with 192.0.2.7, nothing upstream."""

    NAME = "example.test"
    ADDRESS = "192.0.2.7"

    def __init__(self, test, name="dnsmasq"):
        self.port = free_port("127.0.0.1")
        self.address = ("127.0.0.1", self.port)
        self.proc = test.start_process(name, [
            tool("dnsmasq"), "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
            "--listen-address=127.0.0.1", "--bind-interfaces", f"--port={self.port}",
            f"--address=/{self.NAME}/{self.ADDRESS}", f"--pid-file={test.path(name + '.pid')}",
            "--user=root", "--log-facility=-", "--log-queries"])

        def valid_reply():
            query, ident = dns_query(self.NAME)
            return query, lambda reply: dns_header(reply)["id"] == ident and dns_first_a(reply) == self.ADDRESS
        wait_answering(self.proc, self.address, "dnsmasq", valid_reply)

    def queries_logged(self, name):
        """How many queries for `name` dnsmasq logged (--log-queries)."""
        return sum(1 for line in self.proc.log().splitlines() if f"query[A] {name} " in line)


class DnsmasqHosts:
    """dnsmasq on 127.0.0.1:port answering only the names of a hosts file it re-reads on SIGHUP,
    with a 1 s TTL: the resolver udpx's host names are pointed at (global.resolvers)."""

    def __init__(self, test, hosts, name="dnsmasq-hosts"):
        self.test = test
        self.port = free_port("127.0.0.1")
        self.address = ("127.0.0.1", self.port)
        self.text = hostport(*self.address)
        self.hosts_file = test.path(f"{name}.hosts")
        self.hosts = dict(hosts)
        self._write()
        self.proc = test.start_process(name, [
            tool("dnsmasq"), "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
            "--listen-address=127.0.0.1", "--bind-interfaces", f"--port={self.port}",
            f"--addn-hosts={self.hosts_file}", "--local-ttl=1", f"--pid-file={test.path(name + '.pid')}",
            "--user=root", "--log-facility=-", "--log-queries"])
        name, address = next(iter(self.hosts.items()))

        def valid_reply():
            query, ident = dns_query(name)
            return query, lambda reply: dns_header(reply)["id"] == ident and dns_first_a(reply) == address
        wait_answering(self.proc, self.address, "dnsmasq", valid_reply)

    def _write(self):
        with open(self.hosts_file, "w") as f:
            f.write("".join(f"{address} {name}\n" for name, address in self.hosts.items()))

    def change(self, name, address):
        """Points `name` at `address` and makes dnsmasq re-read its hosts file (SIGHUP)."""
        self.hosts[name] = address
        self._write()
        self.proc.proc.send_signal(signal.SIGHUP)


def dig(test, server, port, name, timeout_s=3):
    """`dig +short` through server:port; returns (exit code, stdout)."""
    code, out, err = test.run_tool(
        [tool("dig"), f"@{server}", "-p", str(port), name, "A", "+short", "+tries=1", f"+timeout={timeout_s}"],
        timeout=timeout_s + 20)
    return code, out + err


class Rsyslog:
    """rsyslogd receiving syslog on 127.0.0.1:port (imudp) and writing every message to out.log."""

    def __init__(self, test):
        self.port = free_port("127.0.0.1")
        self.address = ("127.0.0.1", self.port)
        workdir = test.path("rsyslog")
        os.mkdir(workdir)
        self.out_log = os.path.join(workdir, "out.log")
        conf = test.write_file("rsyslog.conf", "\n".join([
            f'global(workDirectory="{workdir}")',
            'module(load="imudp")',
            f'input(type="imudp" address="127.0.0.1" port="{self.port}")',
            f'*.* action(type="omfile" file="{self.out_log}")',
            "",
        ]))
        rsyslogd = tool("rsyslogd")
        # An extracted rsyslogd (tools/install-deps.sh) finds its modules (imudp) beside it, not in /usr/lib.
        modules = glob.glob(os.path.join(os.path.dirname(os.path.dirname(rsyslogd)), "lib", "*", "rsyslog"))
        self.proc = test.start_process("rsyslogd", [
            rsyslogd, "-n", "-f", conf, "-i", os.path.join(workdir, "rsyslogd.pid")]
            + (["-M", modules[0]] if rsyslogd.startswith(PEERS_ROOT) and modules else []))
        self._wait_logging()

    def _wait_logging(self):
        tag = unique_tag("probe")
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.bind(("127.0.0.1", 0))

            def logged():
                if not self.proc.running():
                    raise AssertionError(f"rsyslogd exited early:\n{self.proc.log()}")
                probe.sendto(f"<14>Jan  1 00:00:00 e2e probe: {tag}".encode(), self.address)
                return self.count(tag) > 0
            wait_until(logged, START_TIMEOUT, "rsyslogd to write a probe message", interval=0.2)
        finally:
            probe.close()

    def lines(self):
        try:
            with open(self.out_log, "r", errors="replace") as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def count(self, text):
        return sum(1 for line in self.lines() if text in line)


def main():
    unittest.main(verbosity=2)


class NamespacesMixin:
    """Three network namespaces for a UdpxTestCase: client -- gateway -- server, joined by veth
    pairs (client eth0 <-> gateway to-client, server eth0 <-> gateway to-server), loopback up,
    no forwarding on the gateway and no default routes: only a proxy on the gateway joins them.
    Removed at cleanup."""

    def make_namespaces(self, prefix, client_ip, gateway_client_side, gateway_server_side, server_ip):
        if os.geteuid() != 0:
            raise AssertionError("this test creates network namespaces and needs root (CI runs as root)")
        tag = unique_tag(prefix)[-8:]
        self.ns = {role: f"{prefix}-{tag}-{role}" for role in ("client", "gateway", "server")}
        for name in self.ns.values():
            self.ip("netns", "add", name)
            self.addCleanup(subprocess.run, [tool("ip"), "netns", "del", name], capture_output=True)
        c, g, s = self.ns["client"], self.ns["gateway"], self.ns["server"]
        self.ip("-n", c, "link", "add", "eth0", "type", "veth", "peer", "name", "to-client", "netns", g)
        self.ip("-n", s, "link", "add", "eth0", "type", "veth", "peer", "name", "to-server", "netns", g)
        for ns, dev, addr in ((c, "eth0", f"{client_ip}/24"), (g, "to-client", f"{gateway_client_side}/24"),
                              (g, "to-server", f"{gateway_server_side}/24"), (s, "eth0", f"{server_ip}/24")):
            self.ip("-n", ns, "addr", "add", addr, "dev", dev)
            self.ip("-n", ns, "link", "set", dev, "up")
        for ns in (c, g, s):
            self.ip("-n", ns, "link", "set", "lo", "up")
        self.in_ns(g, [tool("sysctl"), "-q", "-w", "net.ipv4.ip_forward=0"])
        return c, g, s

    def ip(self, *args):
        done = subprocess.run([tool("ip")] + list(args), capture_output=True, text=True, timeout=30)
        self.assertEqual(done.returncode, 0, f"ip {' '.join(args)}: {done.stderr}")

    def in_ns(self, ns, argv, timeout=60):
        try:
            return subprocess.run([tool("ip"), "netns", "exec", ns] + argv, capture_output=True, text=True,
                                  timeout=timeout, cwd=self.tmp)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{' '.join(argv)} in {ns} did not finish within {timeout}s")
