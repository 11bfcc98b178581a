"""DNS over TCP through udpx (issue 15): dig +tcp, a truncated answer retried over TCP, dnsperf
over TCP, failover to the next server, the caps and the idle timeout, a client that never reads,
and a server that refuses TCP, with UDP served all along."""

import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test_dns_dnsmasq import DnsmasqBigAnswer
from udpxtest import (NO_PROBES, Dnsmasq, UdpxTestCase, dig, free_port, frontend_stats, hostport, main,
                      render_config, tool, udpx_binary, wait_until)


def tcp_stats(stats, name):
    fe = frontend_stats(stats, name)
    if "tcp" not in fe:
        raise AssertionError(f"frontend {name} has no tcp object: {fe}")
    return fe["tcp"]


def dig_tcp(test, port, name, qtype="A", extra=()):
    code, out, err = test.run_tool(
        [tool("dig"), "@127.0.0.1", "-p", str(port), name, qtype, "+tcp", "+tries=1", "+timeout=3", *extra],
        timeout=25)
    return code, out + err


def free_tcp_and_udp_port(host="127.0.0.1"):
    """A port free for UDP (free_port) and for TCP."""
    for _ in range(50):
        port = free_port(host)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise AssertionError("no port free for both UDP and TCP")


class TcpServer:
    """A TCP server on 127.0.0.1 in a thread: `handler(conn)` runs for each connection."""

    def __init__(self, test, handler):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", free_tcp_and_udp_port()))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.text = f"127.0.0.1:{self.port}"
        self.stop = threading.Event()
        self.handler = handler
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        test.addCleanup(self.close)

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            self.handler(conn, self.stop)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop.set()
        self.sock.close()
        self.thread.join(5)


def echo(conn, stop):
    conn.settimeout(5)
    while not stop.is_set():
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


class DnsOverTcp(UdpxTestCase):

    def start_dns(self, servers, **extra):
        port = free_tcp_and_udp_port()
        fe = {"listen": [f"127.0.0.1:{port}"], "preset": "dns", "backend": "resolvers"}
        fe.update(extra)
        udpx = self.start_udpx(render_config(frontends={"dns": fe}, backends={"resolvers": {"servers": servers}}))
        return udpx, port

    def test_DigOverTcpGetsTheAnswerAndIsCounted(self):
        dnsmasq = Dnsmasq(self)
        udpx, port = self.start_dns([hostport(*dnsmasq.address)])
        for _ in range(3):
            code, out = dig_tcp(self, port, Dnsmasq.NAME, extra=["+short"])
            self.assertEqual(code, 0, out)
            self.assertEqual(out.strip(), Dnsmasq.ADDRESS)
        tcp = self.wait_for_stats(udpx, lambda s: tcp_stats(s, "dns")["closed_done"] == 3,
                                  "three TCP connections done")["frontends"]["dns"]["tcp"]
        self.assertEqual(tcp["accepted"], 3)
        self.assertEqual(tcp["open"], 0)
        self.assertGreater(tcp["bytes_to_server"], 3 * 20)
        self.assertGreater(tcp["bytes_to_client"], tcp["bytes_to_server"])
        for key in ("refused_acl", "refused_cap", "refused_per_client", "refused_no_backend", "refused_upstream",
                    "refused_connect", "closed_idle", "closed_error"):
            self.assertEqual(tcp[key], 0, key)
        # And UDP on the same address, as before.
        code, out = dig(self, "127.0.0.1", port, Dnsmasq.NAME)
        self.assertEqual(out.strip(), Dnsmasq.ADDRESS, out)
        code, status = self.run_status(self.path("udpx.toml"))
        self.assertIn("tcp: 0 open of 512 (16 per client); 3 accepted, 3 done", status)

    def test_TruncatedAnswerIsRetriedOverTcpAndArrivesWhole(self):
        big = DnsmasqBigAnswer(self)
        udpx, port = self.start_dns([hostport(*big.address)])
        # dig asks over UDP with a 512-byte buffer, gets TC=1, and retries over TCP by itself.
        code, out, err = self.run_tool(
            [tool("dig"), "@127.0.0.1", "-p", str(port), DnsmasqBigAnswer.BIG, "TXT", "+bufsize=512", "+tries=1",
             "+timeout=3"], timeout=25)
        self.assertEqual(code, 0, out + err)
        self.assertIn("Truncated, retrying in TCP mode", out + err)
        self.assertIn("ANSWER: 30,", out)
        self.assertEqual(out.count("\tTXT\t"), 30, out)
        stats = self.wait_for_stats(udpx, lambda s: tcp_stats(s, "dns")["closed_done"] == 1, "the TCP retry done")
        fe = frontend_stats(stats, "dns")
        self.assertEqual(fe["replied_truncated"], 1)
        self.assertGreater(fe["tcp"]["bytes_to_client"], 3000)
        code, status = self.run_status(self.path("udpx.toml"))
        self.assertNotIn("truncated", status)  # with tcp on, a truncated reply is no problem

    def test_DnsperfOverTcpLosesNothing(self):
        dnsmasq = Dnsmasq(self)
        udpx, port = self.start_dns([hostport(*dnsmasq.address)])
        queries = self.write_file("queries.txt", f"{Dnsmasq.NAME} A\n" * 200)
        code, out, err = self.run_tool(
            [tool("dnsperf"), "-s", "127.0.0.1", "-p", str(port), "-m", "tcp", "-d", queries, "-n", "1",
             "-c", "4", "-l", "30"], timeout=60)
        self.assertEqual(code, 0, out + err)
        self.assertIn("Queries completed:    200 (100.00%)", out, out)
        self.assertIn("Queries lost:         0 (0.00%)", out, out)
        tcp = self.wait_for_stats(udpx, lambda s: tcp_stats(s, "dns")["open"] == 0,
                                  "dnsperf's connections closed")["frontends"]["dns"]["tcp"]
        self.assertEqual(tcp["closed_error"] + tcp["closed_idle"], 0, tcp)
        self.assertGreaterEqual(tcp["accepted"], 4)

    def test_AServerThatRefusesTcpIsSkippedAndOneOnlyRefusingIsReported(self):
        # raw with tcp: no probes, so the first server (nothing listens on TCP there) stays in the pool.
        dead = free_tcp_and_udp_port()
        server = TcpServer(self, echo)
        port = free_tcp_and_udp_port()
        udpx = self.start_udpx(render_config(
            frontends={"echo": {"listen": [f"127.0.0.1:{port}"], "preset": "raw", "backend": "b", "tcp": True},
                       "lonely": {"listen": [f"127.0.0.1:{free_tcp_and_udp_port()}"], "preset": "raw",
                                  "backend": "dead", "tcp": True}},
            backends={"b": {"servers": [f"127.0.0.1:{dead}", server.text], "balance": "first", "health": NO_PROBES},
                      "dead": {"servers": [f"127.0.0.1:{dead}"], "health": NO_PROBES}}))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(b"hello over tcp")
            self.assertEqual(c.recv(100), b"hello over tcp")
        lonely_port = int(udpx_listen_port(self.path("udpx.toml"), "lonely"))
        with socket.create_connection(("127.0.0.1", lonely_port), timeout=5) as c:
            c.settimeout(5)
            self.assertEqual(c.recv(100), b"")  # closed: the only server refuses TCP
        stats = self.wait_for_stats(udpx, lambda s: tcp_stats(s, "lonely")["refused_upstream"] == 1,
                                    "the refusal counted")
        self.assertEqual(tcp_stats(stats, "echo")["refused_upstream"], 0)
        self.assertEqual(tcp_stats(stats, "echo")["bytes_to_client"], len(b"hello over tcp"))
        code, status = self.run_status(self.path("udpx.toml"))
        self.assertIn("the upstream refuses TCP", status)

    def test_IdleConnectionsAreCappedPerClientAndInTotalAndTimeOut(self):
        server = TcpServer(self, echo)
        port = free_tcp_and_udp_port()
        udpx = self.start_udpx(render_config(
            frontends={"echo": {"listen": [f"127.0.0.1:{port}"], "preset": "raw", "backend": "b", "tcp": True,
                                "tcp_max_connections": 5, "tcp_max_per_client": 3, "tcp_idle_timeout": "1500ms",
                                "allow": ["127.0.0.0/8"]}},
            backends={"b": {"servers": [server.text], "health": NO_PROBES}}))

        def connect(source):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.addCleanup(s.close)
            s.bind((source, 0))
            s.settimeout(5)
            s.connect(("127.0.0.1", port))
            return s

        def closed_by_udpx(s):
            try:
                return s.recv(1) == b""
            except ConnectionResetError:
                return True

        held = [connect("127.0.0.1") for _ in range(3)]
        self.wait_for_stats(udpx, lambda s: tcp_stats(s, "echo")["open"] == 3, "three open")
        self.assertTrue(closed_by_udpx(connect("127.0.0.1")))  # the 4th from one address
        held += [connect("127.0.0.2") for _ in range(2)]
        self.wait_for_stats(udpx, lambda s: tcp_stats(s, "echo")["open"] == 5, "five open")
        self.assertTrue(closed_by_udpx(connect("127.0.0.3")))  # the 6th in all
        tcp = tcp_stats(udpx.stats(), "echo")
        self.assertEqual((tcp["accepted"], tcp["refused_per_client"], tcp["refused_cap"]), (7, 1, 1))
        # None of them says anything: after the idle timeout each is closed.
        started = time.monotonic()
        for s in held:
            self.assertTrue(closed_by_udpx(s))
        self.assertGreater(time.monotonic() - started, 0.5)
        tcp = self.wait_for_stats(udpx, lambda s: tcp_stats(s, "echo")["closed_idle"] == 5, "idle ones closed")
        tcp = tcp_stats(tcp, "echo")
        self.assertEqual(tcp["open"], 0)
        self.assertEqual(tcp["accepted"], tcp["closed_idle"] + tcp["refused_cap"] + tcp["refused_per_client"])
        code, status = self.run_status(self.path("udpx.toml"))
        self.assertIn("(tcp_max_per_client)", status)
        self.assertIn("(tcp_max_connections)", status)

    def test_AClientThatNeverReadsCannotMakeUdpxBufferAndUdpServesMeanwhile(self):
        sent = {"bytes": 0}

        def blast(conn, stop):
            # Writes as fast as it may, until its writes stay blocked.
            conn.settimeout(1.0)
            block = b"x" * 65536
            while not stop.is_set():
                try:
                    sent["bytes"] += conn.send(block)
                except socket.timeout:
                    continue

        server = TcpServer(self, blast)
        dnsmasq = Dnsmasq(self)
        port, dns_port = free_tcp_and_udp_port(), free_tcp_and_udp_port()
        udpx = self.start_udpx(render_config(
            frontends={"blast": {"listen": [f"127.0.0.1:{port}"], "preset": "raw", "backend": "b", "tcp": True,
                                 "tcp_idle_timeout": "60s"},
                       "dns": {"listen": [f"127.0.0.1:{dns_port}"], "preset": "dns", "backend": "resolvers"}},
            backends={"b": {"servers": [server.text], "health": NO_PROBES},
                      "resolvers": {"servers": [hostport(*dnsmasq.address)]}}))
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(c.close)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        c.connect(("127.0.0.1", port))
        c.sendall(b"go")  # and never read

        def settled():
            before = sent["bytes"]
            time.sleep(0.5)
            return sent["bytes"] > 0 and sent["bytes"] == before
        wait_until(settled, 20, "the server's writes to block")
        tcp = tcp_stats(udpx.stats(), "blast")
        # What left the server sits in its socket, udpx's pipe and sockets, and the client's
        # buffer: a few MB at most, never all the server would send.
        self.assertLess(sent["bytes"], 16 << 20, sent)
        self.assertLess(tcp["bytes_to_client"], 8 << 20, tcp)
        # UDP is served meanwhile, and the loop does not spin while the connection waits (a
        # level-triggered socket watched while its bytes have nowhere to go would wake it at once,
        # forever): the process that serves (the worker, under a binder) uses little CPU.
        serving = serving_pid(udpx.pid)
        for _ in range(10):
            code, out = dig(self, "127.0.0.1", dns_port, Dnsmasq.NAME)
            self.assertEqual(out.strip(), Dnsmasq.ADDRESS, out)
        cpu_before = process_cpu_seconds(serving)
        time.sleep(2)
        self.assertLess(process_cpu_seconds(serving) - cpu_before, 0.4)
        self.assertEqual(tcp_stats(udpx.stats(), "blast")["open"], 1)
        # Once the client reads, everything flows again.
        c.setblocking(False)
        got = 0
        deadline = time.monotonic() + 10
        while got < (8 << 20) and time.monotonic() < deadline:
            try:
                got += len(c.recv(1 << 20))
            except BlockingIOError:
                time.sleep(0.01)
        self.assertGreaterEqual(got, 8 << 20)

    def test_TcpChecksFindAServerThatAnswersOnlyUdpAndConnectionsAvoidIt(self):
        dnsmasq = Dnsmasq(self)

        def answer(data, addr):  # a resolver over UDP only: every query answered NOERROR
            return [struct.pack("!HH", struct.unpack("!H", data[:2])[0], 0x8180) + data[4:]]
        udp_only = self.start_upstream("udp-only", answer, port=free_tcp_and_udp_port())
        udpx, port = self.start_dns([udp_only.text, hostport(*dnsmasq.address)])
        self.rewrite_health(udpx)

        def tcp_state(stats, server):
            return stats["backends"]["resolvers"]["servers"][server].get("tcp", {}).get("state")
        stats = self.wait_for_stats(udpx, lambda s: tcp_state(s, udp_only.text) == "down"
                                    and tcp_state(s, hostport(*dnsmasq.address)) == "up",
                                    "the TCP checks to judge both servers", timeout=15)
        server = stats["backends"]["resolvers"]["servers"][udp_only.text]
        self.assertEqual(server["state"], "up")  # over UDP it answers
        self.assertEqual(server["tcp"]["reason"], "refuses TCP connections")
        for _ in range(4):  # round-robin would give the first server every other connection
            code, out = dig_tcp(self, port, Dnsmasq.NAME, extra=["+short"])
            self.assertEqual(out.strip(), Dnsmasq.ADDRESS, out)
        code, status = self.run_status(self.path("udpx.toml"))
        self.assertIn(f"{udp_only.text}: refuses TCP connections; TCP connections avoid it", status)

    def rewrite_health(self, udpx):
        """Probes every 300 ms: the config is rewritten and reloaded."""
        path = self.path("udpx.toml")
        with open(path) as f:
            text = f.read()
        text += "\n[backend.resolvers.health]\ninterval = \"300ms\"\ntimeout = \"300ms\"\nquery = \"example.test\"\n"
        with open(path, "w") as f:
            f.write(text)
        os.chmod(self.tmp, 0o755)
        os.chmod(path, 0o644)
        code, out, err = self.run_tool([udpx_binary(), "reload", "-c", path], timeout=60)
        self.assertEqual(code, 0, out + err)

    def test_TcpChecksAreOnePerServerAndIntervalHoweverManyFrontendsUseTheBackend(self):
        # Two dns frontends with tcp on one backend: its server gets one TCP check per health
        # interval, not one per frontend; a reload that moves one frontend to another backend
        # gives that backend its own check, and one that turns TCP off on the last frontend of a
        # backend ends its check.
        interval = 0.2
        health = {"type": "dns", "interval": "200ms", "timeout": "200ms", "query": "example.test"}

        def answer(data):  # every query answered NOERROR, no records
            return struct.pack("!HH", struct.unpack("!H", data[:2])[0], 0x8180) + data[4:]

        def resolver():
            accepted = []

            def serve(conn, stop):
                accepted.append(time.monotonic())
                conn.settimeout(2)
                head = conn.recv(2)
                if len(head) == 2:
                    query = conn.recv(struct.unpack("!H", head)[0])
                    reply = answer(query)
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
            server = TcpServer(self, serve)
            self.start_upstream(f"udp-{server.port}", lambda data, addr: [answer(data)], port=server.port)
            return server, accepted

        one, one_accepted = resolver()
        two, two_accepted = resolver()
        a, b = free_tcp_and_udp_port(), free_tcp_and_udp_port()
        os.chmod(self.tmp, 0o755)  # the binder, without root, reads the file again on reload

        def config(b_backend, a_tcp=True):
            return render_config(
                frontends={"a": {"listen": [f"127.0.0.1:{a}"], "preset": "dns", "backend": "one", "tcp": a_tcp},
                           "b": {"listen": [f"127.0.0.1:{b}"], "preset": "dns", "backend": b_backend, "tcp": True}},
                backends={"one": {"servers": [one.text], "health": health},
                          "two": {"servers": [two.text], "health": health}})

        def checks_per_interval(accepted, seconds=2.4):
            time.sleep(0.5)  # a reload's changes settle
            before = len(accepted)
            time.sleep(seconds)
            return (len(accepted) - before) * interval / seconds

        udpx = self.start_udpx(config("one"))
        os.chmod(self.path("udpx.toml"), 0o644)
        self.wait_for_stats(udpx, lambda s: s["backends"]["one"]["servers"][one.text].get("tcp", {}).get("state")
                            == "up", "the TCP checks to find the server up")
        rate = checks_per_interval(one_accepted)
        self.assertGreater(rate, 0.5, "one check per interval")
        self.assertLess(rate, 1.4, "one check per interval, not one per frontend")
        self.reload_with(config("two"), "b")
        rate_one, rate_two = checks_per_interval(one_accepted), checks_per_interval(two_accepted)
        self.assertGreater(rate_one, 0.5)
        self.assertLess(rate_one, 1.4)
        self.assertGreater(rate_two, 0.5)
        self.assertLess(rate_two, 1.4)
        self.reload_with(config("two", a_tcp=False), "a")
        self.assertEqual(checks_per_interval(one_accepted, seconds=1.0), 0, "no relay uses backend one")
        self.assertGreater(checks_per_interval(two_accepted), 0.5)

    def reload_with(self, text, expect):
        """Rewrites the config with `text` and reloads it with `udpx reload`, which names `expect`."""
        path = self.path("udpx.toml")
        with open(path + ".new", "w") as f:
            f.write(text)
        os.chmod(path + ".new", 0o644)
        os.rename(path + ".new", path)
        code, out, err = self.run_tool([udpx_binary(), "reload", "-c", path], timeout=60)
        self.assertEqual(code, 0, out + err)
        self.assertIn(expect, out + err)

    def test_ReloadTurnsTcpOnMovesItsAddressesAndTurnsItOff(self):
        dnsmasq = Dnsmasq(self)
        port, other = free_tcp_and_udp_port(), free_tcp_and_udp_port()
        os.chmod(self.tmp, 0o755)  # the binder, without root, reads the file again on reload

        def config(tcp, listen):
            return render_config(
                frontends={"dns": {"listen": listen, "preset": "dns", "backend": "resolvers", "tcp": tcp}},
                backends={"resolvers": {"servers": [hostport(*dnsmasq.address)]}})

        def answers_over_tcp(p):
            code, out = dig_tcp(self, p, Dnsmasq.NAME, extra=["+short"])
            return code == 0 and out.strip() == Dnsmasq.ADDRESS

        udpx = self.start_udpx(config(False, [f"127.0.0.1:{port}"]))
        os.chmod(self.path("udpx.toml"), 0o644)
        self.assertFalse(answers_over_tcp(port))
        self.reload_with(config(True, [f"127.0.0.1:{port}"]), "dns")
        self.assertTrue(answers_over_tcp(port))
        self.reload_with(config(True, [f"127.0.0.1:{other}"]), "dns")
        self.assertTrue(answers_over_tcp(other))
        self.assertFalse(answers_over_tcp(port))
        self.reload_with(config(False, [f"127.0.0.1:{other}"]), "dns")
        self.assertFalse(answers_over_tcp(other))
        code, out = dig(self, "127.0.0.1", other, Dnsmasq.NAME)
        self.assertEqual(out.strip(), Dnsmasq.ADDRESS, out)  # UDP stays
        tcp = tcp_stats(udpx.stats(), "dns") if "tcp" in frontend_stats(udpx.stats(), "dns") else None
        self.assertIsNone(tcp)  # off: no tcp object
        # A TCP-only (nts-ke) frontend added by a reload: no UDP socket, its TCP relayed untouched
        # (here to dnsmasq, whose DNS over TCP it carries as bytes).
        ke = free_tcp_and_udp_port()
        text = config(False, [f"127.0.0.1:{other}"]) + (
            f'\n[frontend.ke]\nlisten = ["127.0.0.1:{ke}"]\npreset = "nts-ke"\nbackend = "ke"\n'
            f'\n[backend.ke]\nservers = ["{hostport(*dnsmasq.address)}"]\n')
        self.reload_with(text, "ke")
        self.assertTrue(answers_over_tcp(ke))
        self.assertEqual(frontend_stats(udpx.stats(), "ke")["listen"], [f"127.0.0.1:{ke}"])


def serving_pid(pid):
    """The worker when udpx runs as binder and worker (started as root), else udpx itself."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = f.read().split()
    except OSError:
        children = []
    return int(children[0]) if children else pid


def process_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def udpx_listen_port(config_path, frontend):
    with open(config_path) as f:
        lines = f.read().splitlines()
    inside = False
    for line in lines:
        if line.startswith("[frontend."):
            inside = line == f"[frontend.{frontend}]"
        elif inside and line.startswith("listen = "):
            return line.split(":")[-1].rstrip('"]')
    raise AssertionError(f"no listen line for {frontend}")


if __name__ == "__main__":
    main()
