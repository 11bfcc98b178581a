"""Bad input and scarce resources: garbage is counted and dropped, running out of file
descriptors drops new sessions (with one rate-limited line) and recovers, thousands of clients
each get their own session.
"""

import os
import random
import selectors
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (NO_PROBES, Client, UdpxTestCase, dns_query, free_port, frontend_stats, main, ntp_request,
                      parse_echo, render_config, wait_until)

REQUEST_DROPS = ("acl", "malformed", "wrong_kind", "control", "too_large", "no_backend",
                 "socket_error", "send_error")


class Robustness(UdpxTestCase):

    def start_proxy(self, upstream, preset, prlimit_nofile=None, **frontend):
        self.listen = ("127.0.0.1", free_port())
        config = render_config(
            frontends={"f": {"listen": [f"127.0.0.1:{self.listen[1]}"], "preset": preset,
                             "backend": "b", **frontend}},
            # The fake server counts every datagram: no health probes among them.
            backends={"b": {"servers": [upstream.text], "health": NO_PROBES}})
        if prlimit_nofile is None:
            return self.start_udpx(config)
        # Start udpx with a tiny open-files limit: prlimit wraps the exec, the pid stays udpx's.
        path = self.write_file("udpx.toml", config)
        from udpxtest import Udpx, udpx_binary
        udpx = Udpx("udpx", ["prlimit", f"--nofile={prlimit_nofile}:{prlimit_nofile}", "--",
                             udpx_binary(), "-c", path], self.tmp)
        self.processes.append(udpx)
        self.addCleanup(self._stop_udpx, udpx)
        udpx.wait_ready()
        return udpx

    def assertEveryDatagramAccountedFor(self, frontend, upstream):
        drops = sum(frontend["dropped"][r] for r in REQUEST_DROPS)
        self.assertEqual(frontend["received"], frontend["forwarded"] + drops,
                         f"each received datagram is either forwarded or dropped once: {frontend}")
        wait_until(lambda: len(upstream.received) == frontend["forwarded"], 5,
                   f"upstream to receive exactly the {frontend['forwarded']} forwarded datagrams")

    def collect_replies(self, clients, timeout):
        """Waits up to `timeout` seconds in total; returns {client: (first reply, source)}."""
        sel = selectors.DefaultSelector()
        for c in clients:
            sel.register(c.sock, selectors.EVENT_READ, c)
        got = {}
        deadline = time.monotonic() + timeout
        while len(got) < len(clients) and time.monotonic() < deadline:
            for key, _ in sel.select(0.1):
                c = key.data
                got[c] = c.sock.recvfrom(65535)
                sel.unregister(c.sock)
        sel.close()
        return got

    def spray_garbage(self, count, seed):
        rng = random.Random(seed)
        clients = [self.new_client() for _ in range(8)]
        for i in range(count):
            size = rng.choice([0, 1, 7, 11, 12, 47, 48, 52, rng.randrange(0, 1500)])
            clients[i % len(clients)].send(bytes(rng.randrange(256) for _ in range(size)), self.listen)
            if i % 50 == 49:
                time.sleep(0.01)  # keep within the socket buffers on a loaded machine

    def test_GarbageToNtpIsCountedAndDroppedAndServiceGoesOn(self):
        upstream = self.start_upstream("sink", handler=lambda data, addr: [])
        udpx = self.start_proxy(upstream, "ntp")
        self.spray_garbage(600, seed=1)
        stats = self.wait_for_stats(udpx, lambda s: frontend_stats(s, "f")["received"] == 600,
                                    "udpx to receive all 600 datagrams")
        frontend = frontend_stats(stats, "f")
        self.assertEveryDatagramAccountedFor(frontend, upstream)
        self.assertGreater(frontend["dropped"]["malformed"], 300)
        # Nothing the upstream got is anything but an NTP client request.
        for data, _ in upstream.received:
            self.assertEqual(data[0] & 7, 3, data.hex())
            self.assertIn((data[0] >> 3) & 7, (1, 2, 3, 4))
            self.assertTrue(len(data) >= 48 and len(data) % 4 == 0)
        self.assertTrue(udpx.running())

    def test_GarbageToDnsIsCountedAndDropped(self):
        upstream = self.start_upstream("sink", handler=lambda data, addr: [data[:2] + b"\x80" + data[3:]])
        udpx = self.start_proxy(upstream, "dns")
        self.spray_garbage(600, seed=2)
        stats = self.wait_for_stats(udpx, lambda s: frontend_stats(s, "f")["received"] == 600,
                                    "udpx to receive all 600 datagrams")
        self.assertEveryDatagramAccountedFor(frontend_stats(stats, "f"), upstream)
        # And a real query still gets its answer.
        query, _ = dns_query("example.test", ident=0x4242)
        reply = self.new_client().ask(query, self.listen)
        self.assertEqual(reply[:2], b"\x42\x42")

    def test_RunningOutOfFileDescriptorsDropsNewSessionsAndRecovers(self):
        upstream = self.start_upstream("echo")
        udpx = self.start_proxy(upstream, "raw", prlimit_nofile=48, session_timeout="4s")
        clients = [self.new_client() for _ in range(80)]
        for c in clients:
            c.send(b"hello", self.listen)
        answered = self.collect_replies(clients, timeout=2.0)
        stats = udpx.stats()
        frontend = frontend_stats(stats, "f")
        self.assertGreater(len(answered), 10, "the sessions that fit still work")
        self.assertLess(len(answered), 80, "48 fds cannot hold 80 upstream sockets")
        self.assertEqual(frontend["dropped"]["socket_error"], 80 - len(answered))
        self.assertEqual(frontend["sessions"]["active"], len(answered))
        log = udpx.log()
        self.assertEqual(log.count("Too many open files"), 1, "one rate-limited line, not one per packet:\n" + log)
        self.assertIn("raise the limit", log)
        # Sessions that exist keep working while others are refused.
        survivor = next(iter(answered))
        survivor.sock.setblocking(True)
        self.assertEqual(parse_echo(survivor.ask(b"again", self.listen))[2], b"again")
        # Once idle sessions expire their descriptors are free again for new clients.
        self.wait_for_stats(udpx, lambda s: frontend_stats(s, "f")["sessions"]["active"] == 0,
                            "idle sessions to expire", timeout=10)
        self.assertEqual(parse_echo(self.new_client().ask(b"later", self.listen))[2], b"later")
        self.assertTrue(udpx.running())

    def test_AnOpenFilesLimitBelowWhatTheConfigNeedsIsNamedAtStart(self):
        # Shared pools and TCP need descriptors too, not only per-session sockets: a dns frontend
        # (shared upstream sockets, TCP on) with 16 pool sockets to each of 3 servers needs
        # 16 x 3 + 2 x 512 (tcp_max_connections) + 128 = 1,200, above a limit of 600.
        port = free_port()
        config = render_config(
            frontends={"d": {"listen": [f"127.0.0.1:{port}"], "preset": "dns", "backend": "b",
                             "upstream_pool_sockets": 16}},
            backends={"b": {"servers": ["127.0.0.1:9", "127.0.0.2:9", "127.0.0.3:9"], "health": NO_PROBES}})
        path = self.write_file("udpx.toml", config)
        from udpxtest import Udpx, udpx_binary
        udpx = Udpx("udpx", ["prlimit", "--nofile=600:600", "--", udpx_binary(), "-c", path], self.tmp)
        self.processes.append(udpx)
        self.addCleanup(self._stop_udpx, udpx)
        udpx.wait_ready()
        warning = [l for l in udpx.log().splitlines() if "the open files limit is 600" in l]
        self.assertEqual(len(warning), 1, udpx.log())
        self.assertIn("may need about 1200 descriptors: 0 sessions with their own socket", warning[0])
        self.assertIn("48 shared pool sockets", warning[0])
        self.assertIn("1024 for TCP connections", warning[0])
        self.assertIn("raise the limit", warning[0])

    def test_ThreeThousandClientsEachGetTheirOwnSession(self):
        upstream = self.start_upstream("echo")
        udpx = self.start_proxy(upstream, "raw", session_timeout="60s")
        clients = [Client() for _ in range(3000)]
        self.addCleanup(lambda: [c.close() for c in clients])
        for i, c in enumerate(clients):
            c.sock.setblocking(False)
            c.send(b"n%d" % i, self.listen)
            if i % 200 == 199:
                time.sleep(0.02)
        answered = self.collect_replies(clients, timeout=30)
        self.assertEqual(len(answered), 3000, f"{3000 - len(answered)} of 3000 clients got no reply")
        for i, c in enumerate(clients):
            data, source = answered[c]
            self.assertEqual(parse_echo(data)[2], b"n%d" % i)
            self.assertEqual(source[:2], self.listen)
        frontend = frontend_stats(udpx.stats(), "f")
        self.assertEqual(frontend["sessions"]["created"], 3000)
        self.assertEqual(frontend["sessions"]["active"], 3000)
        self.assertEqual((frontend["forwarded"], frontend["replied"]), (3000, 3000))
        self.assertEqual(len({port for _, (_, port) in upstream.received}), 3000,
                         "each session has its own upstream port")
        self.assertDropped(frontend)


if __name__ == "__main__":
    main()
