"""udpx under hostile and broken conditions (issue 17): running out of file descriptors, another
local user squatting the status socket, slowloris on the metrics endpoint, and log priorities
under systemd's journal.

CI runs as root: udpx is started as root (binder and worker), the squatter and `udpx status` run
as other users (setpriv). Loopback only; every loop is bounded; no timing is asserted, only what
a window of time adds up to (CPU seconds used, log bytes written), generously.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (START_TIMEOUT, Udpx, UdpxTestCase, children, echo_handler, free_port, main, parse_echo,
                      render_config, tool, udpx_binary, wait_until)

SQUATTER_UID = 4242  # neither root, nor nobody (udpx's account in these tests and `udpx status`'s user)
TICKS = os.sysconf("SC_CLK_TCK")


def free_tcp_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def cpu_seconds(pids):
    """User + system CPU seconds the processes used so far."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / TICKS


def http_get(port, path, source="127.0.0.1", timeout=10.0):
    """One GET on a fresh connection from `source`; returns (status code, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


SQUATTER = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1] if sys.argv[1][0] == "/" else "\0" + sys.argv[1][1:])
s.listen(16)
print("bound", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(b'{"ok": true, "udpx": {"version": "squatted", "pid": 1, "config": "/etc/udpx.toml"}, '
              b'"frontends": {}, "backends": {}, "findings": []}\n')
    c.close()
"""


# Answers a `udpx reload` as if it had applied it.
RELOAD_SQUATTER = SQUATTER.replace(
    "c.sendall(b'{\"ok\": true",
    "c.recv(64); c.sendall(b'{\"reload\": \"applied\", \"config\": \"/etc/udpx.toml\", "
    "\"summary\": \"squatted\", \"errors\": []}\\n'); c.close(); continue\n    c.sendall(b'{\"ok\": true")


class Hostile(UdpxTestCase):

    def config(self, global_=None, preset="raw", **frontend):
        self.upstream = self.start_upstream("up", echo_handler("up"))
        self.listen = ("127.0.0.1", free_port())
        return render_config(
            frontends={"f": {"listen": [f"127.0.0.1:{self.listen[1]}"], "preset": preset, "backend": "b",
                             **frontend}},
            backends={"b": {"servers": [self.upstream.text], "health": {"type": "none"}}},
            global_=global_)

    def start_squatter(self, name, script=SQUATTER):
        """A process of another local user (uid 4242) bound to the unix socket `name` first."""
        argv = [tool("setpriv"), f"--reuid={SQUATTER_UID}", f"--regid={SQUATTER_UID}", "--clear-groups", "--",
                sys.executable, "-c", script, name]
        squatter = self.start_process("squatter", argv)
        wait_until(lambda: "bound" in squatter.output() or not squatter.running(), 10, "the squatter to bind")
        self.assertTrue(squatter.running(), squatter.log())
        return squatter

    def udpx_pids(self, udpx):
        return [udpx.pid] + children(udpx.pid)

    # ---------------------------------------------------------------------------------------------
    # Item 2: out of file descriptors

    def test_OutOfFileDescriptorsNeitherSpinsNorFloodsTheLog(self):
        metrics = free_tcp_port()
        config = self.write_file("udpx.toml", self.config(
            global_={"metrics": f"127.0.0.1:{metrics}"}, session_timeout="60s"))
        udpx = Udpx("udpx", [tool("prlimit"), "--nofile=64:64", "--", udpx_binary(), "-c", config], self.tmp)
        self.processes.append(udpx)
        self.addCleanup(self._stop_udpx, udpx)
        udpx.wait_ready()

        clients = [self.new_client() for _ in range(80)]
        for c in clients:
            c.send(b"hello", self.listen)
        # The first clients got sessions (one socket each) until the descriptors ran out.
        self.assertEqual(parse_echo(clients[0].receive()[0])[2], b"hello")
        self.wait_for_stats(udpx, lambda s: s["frontends"]["f"]["received"] == 80, "80 requests received")
        stats = udpx.stats()
        self.assertGreater(stats["frontends"]["f"]["dropped"]["socket_error"], 0, "descriptors ran out")

        # A connection to each endpoint waits in its backlog while no descriptor is free.
        tcp = socket.create_connection(("127.0.0.1", metrics), timeout=5)
        self.addCleanup(tcp.close)
        endpoint = re.search(r"udpx status .*\(socket (\S+)\)", udpx.log()).group(1)
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(unix.close)
        unix.connect(endpoint if endpoint[0] == "/" else "\0" + endpoint[1:])

        pids = self.udpx_pids(udpx)
        size, cpu = os.path.getsize(udpx.log_path), cpu_seconds(pids)
        time.sleep(3)
        used, written = cpu_seconds(pids) - cpu, os.path.getsize(udpx.log_path) - size
        self.assertLess(written, 20000, f"udpx wrote {written} bytes of log in 3 s (and used {used:.2f} CPU "
                                        f"seconds):\n{udpx.log()[-2000:]}")
        self.assertLess(used, 0.6, f"udpx used {used:.2f} CPU seconds in 3 s while out of descriptors")
        self.assertNotIn("[warn]", udpx.log(), "libevent's own lines go through udpx's logger")

        # The data path still serves the sessions it has, and `udpx status` still answers.
        clients[0].send(b"again", self.listen)
        self.assertEqual(parse_echo(clients[0].receive()[0])[2], b"again")
        code, out = self.run_status(config, "--json")
        self.assertIn(code, (0, 1), out)
        self.assertEqual(json.loads(out)["frontends"]["f"]["received"], 81)
        # Even the hard limit is far below what max_sessions needs: said at start.
        self.assertRegex(udpx.log(), r"open files.*64.*max_sessions")

    # ---------------------------------------------------------------------------------------------
    # Item 3: the status socket squatted by another local user

    def test_SquattedStatusNameDoesNotStopUdpx(self):
        config = self.write_file("udpx.toml", self.config())
        self.start_squatter("@udpx:" + os.path.realpath(config))
        udpx = self.start_udpx(args=["-c", config])
        c = self.new_client()
        self.assertEqual(parse_echo(c.ask(b"hi", self.listen))[2], b"hi")
        code, out = self.run_status(config)
        self.assertEqual(code, 0, out)
        self.assertIn("frontend f (raw)", out)
        self.assertNotIn("squatted", out)
        self.assertEqual(children(udpx.pid)[:1], children(udpx.pid), "one worker, never restarted")
        self.assertNotIn("exited", udpx.log())

    def test_StatusRefusesAnAnswerFromAnotherUser(self):
        config = self.write_file("udpx.toml", self.config())
        self.start_squatter("@udpx:" + os.path.realpath(config))
        # udpx is not running: only the squatter answers, and its document is not shown.
        code, out = self.run_status(config)
        self.assertEqual(code, 2, out)
        self.assertNotIn("all is well", out)
        self.assertRegex(out, rf"uid {SQUATTER_UID}\b")
        code, out = self.run_status(config, "--socket", "@udpx:" + os.path.realpath(config))
        self.assertEqual(code, 2, out)
        self.assertNotIn("squatted", out)

    def test_ReloadRefusesAnAnswerFromAnotherUser(self):
        config = self.write_file("udpx.toml", self.config())
        self.start_squatter("@udpx:" + os.path.realpath(config), RELOAD_SQUATTER)
        # udpx is not running: the squatter claims the reload was applied; udpx reload must not.
        code, out = self.run_udpx(["reload", "-c", config])
        self.assertEqual(code, 2, out)
        self.assertRegex(out, rf"refusing the answer at .*uid {SQUATTER_UID}\b")
        self.assertNotRegex(out, r"(?m)^reloaded ")
        self.assertIn("nothing was reloaded", out)
        self.assertNotIn("squatted", out)
        code, out = self.run_udpx(["reload", "--socket", "@udpx:" + os.path.realpath(config), "-c", config])
        self.assertEqual(code, 2, out)
        self.assertNotIn("squatted", out)

    def test_TakenStatusEndpointIsAProblemNotAnExit(self):
        name = f"@udpx-e2e-squat-{os.getpid()}-{free_port()}"
        metrics = free_tcp_port()
        self.start_squatter(name)
        udpx = self.start_udpx(self.config(global_={"status": name, "metrics": f"127.0.0.1:{metrics}"}))
        self.assertRegex(udpx.log(), r"error: .*status socket " + re.escape(name))
        c = self.new_client()
        self.assertEqual(parse_echo(c.ask(b"hi", self.listen))[2], b"hi")
        code, body = http_get(metrics, "/status")
        doc = json.loads(body)
        self.assertFalse(doc["ok"], doc)
        self.assertTrue(any("status socket" in f["subject"] + f["problem"] for f in doc["problems"]), doc["problems"])

    # ---------------------------------------------------------------------------------------------
    # Item 8: slowloris on the metrics endpoint

    def test_SlowlorisIsCappedAndCut(self):
        metrics = free_tcp_port()
        self.start_udpx(self.config(global_={"metrics": f"127.0.0.1:{metrics}"}))
        conns = []
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", metrics), timeout=5)
            self.addCleanup(s.close)
            s.sendall(b"GET /metrics HTTP/1.1\r\n")
            conns.append(s)
        # Another peer still gets its scrape while these hold on.
        code, body = http_get(metrics, "/metrics", source="127.0.0.2")
        self.assertEqual(code, 200)
        self.assertIn(b"udpx_frontend_received_packets_total", body)

        def closed(s):
            s.setblocking(False)
            try:
                return s.recv(4096, socket.MSG_PEEK) == b"" or True  # data (a 503) or EOF: answered
            except BlockingIOError:
                return False
            except OSError:
                return True
        open_ = conns
        deadline = time.monotonic() + 40
        while open_ and time.monotonic() < deadline:  # one header line a second, as slowloris does
            for s in open_:
                try:
                    s.sendall(b"X-a: b\r\n")
                except OSError:
                    pass
            time.sleep(1)
            open_ = [s for s in open_ if not closed(s)]
        self.assertEqual(len(open_), 0, f"{len(open_)} of 200 dripping connections still open")

    # ---------------------------------------------------------------------------------------------
    # Item 10: priorities for the journal

    def journal_udpx(self, config_text, journal_stream):
        """udpx with JOURNAL_STREAM = the dev:ino of its stderr file (or the given value)."""
        log_path = self.path("udpx.stderr")
        open(log_path, "wb").close()
        st = os.stat(log_path)
        env = dict(os.environ, JOURNAL_STREAM=journal_stream or f"{st.st_dev}:{st.st_ino}")
        udpx = Udpx("udpx", [udpx_binary(), "-c", self.write_file("udpx.toml", config_text)], self.tmp, env=env)
        self.processes.append(udpx)
        self.addCleanup(udpx.terminate)
        return udpx

    def test_JournalLinesCarryTheirPriority(self):
        busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(busy.close)
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        udpx = self.journal_udpx(self.config(global_={"metrics": f"127.0.0.1:{busy.getsockname()[1]}"}), None)
        self.assertEqual(udpx.wait_exit(START_TIMEOUT), 1)
        lines = udpx.log().splitlines()
        self.assertTrue(lines)
        for line in lines:
            self.assertRegex(line, r"^<[3467]>udpx\[\d+\]: ", "every line has its priority, no timestamp")
        self.assertTrue([l for l in lines if l.startswith("<3>") and "cannot listen" in l], lines)

        udpx = self.journal_udpx(self.config(), None)
        udpx.wait_ready()
        self.assertTrue([l for l in udpx.log().splitlines() if l.startswith("<6>") and "ready" in l], udpx.log())

    def test_NoPriorityWhenStderrIsNotTheJournal(self):
        udpx = self.journal_udpx(self.config(), "1:1")
        udpx.wait_ready()
        for line in udpx.log().splitlines():
            self.assertRegex(line, r"^\d{4}-\d\d-\d\dT[\d:.]+Z udpx\[\d+\]: ")


if __name__ == "__main__":
    main()
