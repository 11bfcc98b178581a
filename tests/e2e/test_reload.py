"""Hot reload end to end (issue 12), the transport half: `udpx reload` and SIGHUP reach the running
udpx — through the binder, which reads the file itself and binds new privileged ports — under
continuous open-loop load from the bench load generator, with real chronyd and dnsmasq upstreams.

Everything runs inside a network namespace the test creates (the test process enters it, so its
sockets, children and the abstract status socket are all in there): port 53 is free whatever the
machine runs. The sequence: an unchanged file, a frontend added on port 53 (the binder binds it),
a backend's servers replaced, a timeout changed, the frontend removed, a broken file. Throughout,
no request on the frontend under load is lost. The same sequence under systemd-socket-activate,
where a new address is refused (no socket was passed for it). Needs root (CI runs as root).
"""

import ctypes
import json
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (NO_PROBES, ChronyServer, Dnsmasq, Udpx, UdpxTestCase, dig, free_port, frontend_stats, main,
                      ntp_fields, ntp_request, render_config, server_stats, tool, udp_port_bound, udpx_binary,
                      unique_tag, wait_until)

CLONE_NEWNET = 0x40000000
LOAD_RATE = 3000        # requests per second, open loop
LOAD_SECONDS = 12       # longer than the reload sequence; bounded


def bench_binary(name):
    """The bench's load generator or echo responder, built next to udpx."""
    env = {"loadgen": "UDPX_BENCH_LOADGEN", "responder": "UDPX_BENCH_RESPONDER"}[name]
    path = os.environ.get(env) or os.path.join(os.path.dirname(udpx_binary()), f"udpx_bench_{name}")
    if not os.access(path, os.X_OK):
        raise AssertionError(f"{path} not found: build the udpx_bench_{name} target (or set {env})")
    return path


class Responder:
    """The bench's echo responder on a free loopback port: what the load generator measures."""

    def __init__(self, test, name):
        self.proc = test.start_process(name, [bench_binary("responder"), "--bind", "127.0.0.1:0",
                                              "--max-seconds", "120"])
        line = wait_until(lambda: re.search(r"port (\d+)", self.proc.output()), 10, f"{name} to listen")
        self.text = f"127.0.0.1:{line.group(1)}"


class ReloadUnderLoad(UdpxTestCase):

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            raise AssertionError("this test creates a network namespace and binds port 53: it needs root")
        os.chmod(self.tmp, 0o755)  # the binder, dropped to nobody, reads the config here
        self.enter_namespace()
        self.chrony_old = ChronyServer(self, "chrony-old")
        self.chrony_new = ChronyServer(self, "chrony-new")
        self.dnsmasq = Dnsmasq(self)
        self.echo_old, self.echo_new = Responder(self, "echo-old"), Responder(self, "echo-new")
        self.load_port, self.ntp_port, self.dns_port = free_port(), free_port(), free_port()
        self.config_path = self.path("udpx.toml")

    def enter_namespace(self):
        libc = ctypes.CDLL(None, use_errno=True)
        name = unique_tag("udpxrl")[-12:]
        subprocess.run([tool("ip"), "netns", "add", name], check=True, timeout=30)
        self.addCleanup(subprocess.run, [tool("ip"), "netns", "del", name], capture_output=True)
        home = os.open("/proc/self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                raise AssertionError(f"setns: {os.strerror(ctypes.get_errno())}")
        finally:
            os.close(target)

        def leave():
            libc.setns(home, CLONE_NEWNET)
            os.close(home)
        self.addCleanup(leave)
        subprocess.run([tool("ip"), "link", "set", "lo", "up"], check=True, timeout=30)

    # configs

    def config(self, time_servers, priv=False, dns_timeout="2s", broken=False, priv_port=53, user="nobody",
               status=None):
        echo = self.echo_old if time_servers[0] is self.chrony_old else self.echo_new
        frontends = {
            "load": {"listen": [f"127.0.0.1:{self.load_port}"], "preset": "raw", "backend": "echo"},
            "time": {"listen": [f"127.0.0.1:{self.ntp_port}"], "preset": "ntp", "backend": "time"},
            "names": {"listen": [f"127.0.0.1:{self.dns_port}"], "preset": "dns", "backend": "names",
                      "session_timeout": dns_timeout},
        }
        if priv:
            frontends["priv"] = {"listen": [f"127.0.0.1:{priv_port}"], "preset": "dns", "backend": "names"}
        text = render_config(
            frontends=frontends,
            backends={"echo": {"servers": [echo.text], "health": NO_PROBES},
                      "time": {"servers": [s.text for s in time_servers], "health": NO_PROBES},
                      "names": {"servers": [f"127.0.0.1:{self.dnsmasq.port}"], "health": NO_PROBES}},
            global_={"user": user, "log_level": "info", **({"status": status} if status else {})})
        if broken:
            text += "\n[frontend.oops]\nlisten = [\"127.0.0.1:1\"]\npreset = \"ntp\"\nbackend = \"nowhere\"\n"
        return text

    def write_config(self, text):
        # Replaced the way editors do (write a new file, rename it over the old one).
        with open(self.config_path + ".new", "w") as f:
            f.write(text)
        os.chmod(self.config_path + ".new", 0o644)
        os.rename(self.config_path + ".new", self.config_path)

    # actions

    def reload(self, *extra_argv):
        argv = list(extra_argv) + [udpx_binary(), "reload", "-c", self.config_path]
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=90, cwd="/")
        return done.returncode, done.stdout + done.stderr

    def reload_on(self, socket_name):
        argv = [udpx_binary(), "reload", "--socket", socket_name, "-c", self.config_path]
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=90, cwd="/")
        return done.returncode, done.stdout + done.stderr

    def assertReloaded(self, expect):
        code, out = self.reload()
        self.assertEqual(code, 0, out)
        self.assertRegex(out, rf"^reloaded {re.escape(self.config_path)}: .*{expect}", out)

    def start_load(self):
        gen = self.start_process("loadgen", [
            bench_binary("loadgen"), "--target", f"127.0.0.1:{self.load_port}", "--clients", "8",
            "--rate", str(LOAD_RATE), "--duration", str(LOAD_SECONDS), "--timeout", "2"])
        return gen

    def load_result(self, gen):
        gen.wait_exit(LOAD_SECONDS + 30)
        lines = [l for l in gen.output().splitlines() if l.startswith("{")]
        self.assertTrue(lines, f"no result from the load generator:\n{gen.log()}")
        return json.loads(lines[-1])

    def requests_on(self, udpx, server, backend="time"):
        # NTP shares upstream sockets: requests, not sessions, are what goes to a server.
        return server_stats(udpx.stats(), backend, server.text)["forwarded"]

    def ask_time(self, count=5):
        """`count` NTP requests through the time frontend; all answered by chronyd."""
        client = self.new_client()
        for _ in range(count):
            request, transmit = ntp_request()
            client.send(request, ("127.0.0.1", self.ntp_port))
            self.assertEqual(ntp_fields(client.receive()[0])["origin"], transmit)

    # the sequence, shared by both ways of starting udpx

    def run_sequence(self, udpx, activated):
        gen = self.start_load()
        wait_until(lambda: server_stats(udpx.stats(), "echo", self.echo_old.text)["forwarded"] > 1000, 10,
                   "the load to reach the echo responder")
        self.ask_time()

        # 1. The file unchanged: applied, nothing changes.
        self.assertReloaded("no change")

        # 2. A frontend on port 53: the binder binds it (SIGHUP to the binder this time) — or,
        #    under socket activation, refused: no socket was passed for it.
        self.write_config(self.config([self.chrony_old], priv=True))
        if activated:
            code, out = self.reload()
            self.assertEqual(code, 1, out)
            self.assertIn("127.0.0.1:53 is new", out)
            self.assertIn("ListenDatagram=127.0.0.1:53", out)
            self.assertFalse(udp_port_bound(53))
        else:
            os.kill(udpx.pid, signal.SIGHUP)
            wait_until(lambda: udp_port_bound(53), 10, "port 53 to be bound after SIGHUP to the binder")
            wait_until(lambda: dig(self, "127.0.0.1", 53, Dnsmasq.NAME)[1].strip() == Dnsmasq.ADDRESS, 10,
                       "the new frontend on port 53 to answer through dnsmasq")

        # 3. Both backends' servers replaced: new requests go to the new chronyd; the load's
        #    sessions finish on the old responder, which drains.
        old = self.requests_on(udpx, self.chrony_old)
        self.write_config(self.config([self.chrony_new], priv=not activated))
        self.assertReloaded("time")
        self.ask_time()
        self.assertEqual(self.requests_on(udpx, self.chrony_new), 5)
        if self.server_listed(udpx, self.chrony_old):
            self.assertEqual(self.requests_on(udpx, self.chrony_old), old, "no new request to a removed server")

        # 4. A timeout changed.
        self.write_config(self.config([self.chrony_new], priv=not activated, dns_timeout="5s"))
        self.assertReloaded("names")

        # 5. The frontend removed: its port closes (SIGHUP to the worker this time).
        self.write_config(self.config([self.chrony_new], dns_timeout="5s"))
        if not activated:
            worker = self.worker_of(udpx)
            os.kill(worker, signal.SIGHUP)
            wait_until(lambda: not udp_port_bound(53), 10, "port 53 to close after the frontend was removed")
        else:
            self.assertReloaded("no change")

        # 6. A broken file: refused with FILE:LINE:COL, the old config keeps serving.
        self.write_config(self.config([self.chrony_new], dns_timeout="5s", broken=True))
        code, out = self.reload()
        self.assertEqual(code, 1, out)
        self.assertRegex(out, rf"{re.escape(self.config_path)}:\d+:\d+: .*nowhere")
        self.assertEqual(dig(self, "127.0.0.1", self.dns_port, Dnsmasq.NAME)[1].strip(), Dnsmasq.ADDRESS)
        code, status = self.run_status(self.config_path)  # as nobody
        self.assertEqual(code, 1, status)
        self.assertIn(f"the last reload of {self.config_path} failed", status)
        self.assertRegex(status, rf"{re.escape(self.config_path)}:\d+:\d+:")

        # Not one request of the load was lost across all of it.
        result = self.load_result(gen)
        self.assertGreater(result["sent"], LOAD_RATE * LOAD_SECONDS // 2, result)
        self.assertEqual(result["lost"], 0, result)
        self.assertEqual(result["received"], result["sent"], result)
        stats = udpx.stats()
        self.assertDropped(frontend_stats(stats, "load"))
        self.assertEqual(frontend_stats(stats, "load")["received"], result["sent"])
        self.assertReloadsCounted(stats, activated)

    def assertReloadsCounted(self, stats, activated):
        # Privilege separation: 5 applied, 1 refused (broken); activation: the port 53 one refused too.
        want = {"succeeded": 4, "failed": 2} if activated else {"succeeded": 5, "failed": 1}
        self.assertEqual({k: stats["reloads"][k] for k in want}, want)

    def server_listed(self, udpx, server):
        return server.text in udpx.stats()["backends"]["time"]["servers"]

    def worker_of(self, binder):
        def kids():
            with open(f"/proc/{binder.pid}/task/{binder.pid}/children") as f:
                return [int(p) for p in f.read().split()]
        found = wait_until(kids, 10, "the binder to have a worker")
        self.assertEqual(len(found), 1, found)
        return found[0]

    # tests

    def test_ReloadSequenceThroughTheBinderLosesNoRequest(self):
        self.write_config(self.config([self.chrony_old]))
        udpx = self.start_udpx(args=["-c", self.config_path])
        self.run_sequence(udpx, activated=False)

    def test_ReloadSequenceUnderSocketActivationLosesNoRequest(self):
        self.write_config(self.config([self.chrony_old]))
        udpx = Udpx("udpx", [tool("systemd-socket-activate"), "--datagram", "-l", f"127.0.0.1:{self.ntp_port}",
                             udpx_binary(), "-c", self.config_path], self.tmp)
        self.processes.append(udpx)
        self.addCleanup(self._stop_udpx, udpx)
        wait_until(lambda: "Listening on" in udpx.log(), 10, "systemd-socket-activate to listen")
        # The first datagram starts udpx (and waits in the socket for it).
        request, transmit = ntp_request()
        probe = self.new_client()
        probe.send(request, ("127.0.0.1", self.ntp_port))
        udpx.wait_ready()
        self.assertEqual(ntp_fields(probe.receive()[0])["origin"], transmit)
        self.run_sequence(udpx, activated=True)

    def test_RestartedWorkerServesTheLastAppliedConfig(self):
        self.write_config(self.config([self.chrony_old]))
        udpx = self.start_udpx(args=["-c", self.config_path])
        self.write_config(self.config([self.chrony_old], priv=True))
        self.assertReloaded(r"\+1 frontend \(priv\)")
        # The binder keeps the applied config when the worker's answer reaches it.
        wait_until(lambda: "binder: the worker applied" in udpx.log(), 10, "the binder to hear the outcome")
        first = self.worker_of(udpx)
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: self.worker_of(udpx) != first, 15, "the binder to restart the worker")
        # The new worker got the reloaded text and the binder's socket for port 53.
        wait_until(lambda: dig(self, "127.0.0.1", 53, Dnsmasq.NAME)[1].strip() == Dnsmasq.ADDRESS, 15,
                   "port 53 to answer through the restarted worker")
        self.assertIn("priv", udpx.stats()["frontends"])

    def test_TheStatusSocketFileMovesThroughTheBinder(self):
        # Started as root, the worker listens on a file under /run/udpx before its drop. A reload
        # to another file: the binder (now nobody) makes it and hands it over, and removes the old
        # one once the worker has left it; a file it cannot make refuses the reload with the
        # position; back to the default makes that file again; the binder removes it at exit.
        self.write_config(self.config([self.chrony_old]))
        udpx = self.start_udpx(args=["-c", self.config_path])
        first = re.search(r"\(socket (/run/udpx/[^)]+)\)", udpx.log())
        self.assertTrue(first, f"no status socket file under /run/udpx at start:\n{udpx.log()}")
        first = first.group(1)
        self.assertTrue(os.path.exists(first))
        moved = f"/run/udpx/{unique_tag('e2e-moved')}.sock"
        self.addCleanup(lambda: os.path.exists(moved) and os.unlink(moved))

        self.write_config(self.config([self.chrony_old], status=moved))
        code, out = self.reload()
        self.assertEqual(code, 0, out)
        self.assertIn("global: status changed", out)
        st = os.stat(moved)
        self.assertEqual((st.st_uid, st.st_mode & 0o7777), (65534, 0o666))
        code, out = self.run_status(self.config_path)  # as nobody, through global.status
        self.assertEqual(code, 0, out)
        self.assertIn("frontend time (ntp)", out)
        wait_until(lambda: not os.path.exists(first), 10, "the binder to remove the socket file the worker left")
        self.assertIn(f"status socket moved from {first} to {moved} (the binder removes the old socket file)",
                      udpx.log())

        # A directory the binder, running as nobody, cannot write: refused whole, with the position.
        denied = self.path("status.sock")  # the test's directory is root's, mode 0755
        self.write_config(self.config([self.chrony_old], status=denied))
        code, out = self.reload_on(moved)  # the file names where it is to go, not where it is
        self.assertEqual(code, 1, out)
        self.assertRegex(out, rf"{re.escape(self.config_path)}:\d+:\d+: global.status: cannot create the status "
                              rf"socket {re.escape(denied)}: Permission denied")
        self.assertIn("the binder runs as nobody", out)
        self.assertFalse(os.path.exists(denied))
        code, out = self.run_status(self.config_path, "--socket", moved)
        self.assertEqual(code, 1, out)  # still served there, and it names the failed reload

        # Back to the default: the binder makes the first file again and removes the moved one.
        self.write_config(self.config([self.chrony_old]))
        code, out = self.reload_on(moved)
        self.assertEqual(code, 0, out)
        code, out = self.run_status(self.config_path, "--socket", first)
        self.assertEqual(code, 0, out)
        wait_until(lambda: not os.path.exists(moved), 10, "the binder to remove the moved socket file")
        self.ask_time()

        udpx.stop()
        self.assertFalse(os.path.exists(first), "the binder left the status socket file at exit")

    def test_ManyReloadsLeakNoDescriptor(self):
        # 100 reloads alternating configs: a frontend on port 53 bound by the binder and closed again, each
        # time. Both processes end with the descriptors they had after the first round.
        self.write_config(self.config([self.chrony_old]))
        udpx = self.start_udpx(args=["-c", self.config_path])
        worker = self.worker_of(udpx)

        def fds():
            return len(os.listdir(f"/proc/{udpx.pid}/fd")), len(os.listdir(f"/proc/{worker}/fd"))
        texts = [self.config([self.chrony_new], priv=True), self.config([self.chrony_old])]
        for i in range(2):
            self.write_config(texts[i % 2])
            self.assertEqual(self.reload()[0], 0)
        # NOTE: `udpx reload` returns when the worker has applied; the binder closes its copy of a
        # removed socket when the worker's answer reaches it, a moment later: poll for the count.
        wait_until(lambda: not udp_port_bound(53), 10, "port 53 to close")
        start = fds()
        for i in range(100):
            self.write_config(texts[i % 2])
            code, out = self.reload()
            self.assertEqual(code, 0, out)
        self.assertEqual(self.worker_of(udpx), worker)
        wait_until(lambda: not udp_port_bound(53), 10, "port 53 to close")
        try:
            wait_until(lambda: fds() == start, 10, "the descriptor counts to return to where they were")
        except AssertionError as e:
            raise AssertionError(f"{e}: (binder, worker) {fds()} != {start}")

    def test_ReloadIsRefusedToOtherUsersAndWhenNobodyRuns(self):
        # udpx runs as daemon here: daemon may reload, nobody (any other user) may not.
        self.write_config(self.config([self.chrony_old], user="daemon"))
        self.start_udpx(args=["-c", self.config_path])
        code, out = self.reload(tool("setpriv"), "--reuid=daemon", "--regid=daemon", "--clear-groups", "--")
        self.assertEqual(code, 0, out)
        code, out = self.reload(tool("setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups", "--")
        self.assertEqual(code, 1, out)
        self.assertIn("udpx reload: not allowed: only root and the user udpx runs as", out)
        code, status = self.run_status(self.config_path)  # udpx status stays open to nobody
        self.assertIn("udpx", status)
        self.assertNotEqual(code, 2, status)
        # The file unreadable for the binder (root-only after the drop): refused, with the fix.
        os.chmod(self.config_path, 0o600)
        code, out = self.reload()
        self.assertEqual(code, 1, out)
        self.assertIn(f"the binder cannot read {self.config_path}: Permission denied", out)
        self.assertIn(f"chmod 0640 {self.config_path}", out)
        # No udpx for that file: exit 2.
        other = self.write_file("other.toml", self.config([self.chrony_old]))
        done = subprocess.run([udpx_binary(), "reload", "-c", other], capture_output=True, text=True, timeout=30)
        self.assertEqual(done.returncode, 2, done.stdout + done.stderr)
        self.assertIn("cannot reach udpx", done.stderr)


if __name__ == "__main__":
    main()
