"""Shared upstream sockets (upstream_sockets = "shared", the ntp and dns default) end to end:
real chronyd/ntpdig/dig/dnsperf clients through udpx to real chronyd and dnsmasq servers, a
symmetric-key chrony client whose MAC-carrying requests must pass byte for byte, an xleave
(interleaved) client, one with xleave and a key (interleaved replies to long requests), spoofed replies, and 3,000 requests in flight under 256 descriptors.
"""

import os
import resource
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (NO_PROBES, ChronyServer, Dnsmasq, Udpx, UdpxTestCase, udpx_binary, dig, free_port, frontend_stats,
                      hostport, main, ntp_fields, ntp_reply, ntp_request, render_config, server_stats, tool, wait_until)


# A symmetric key both chrony ends share (chrony's keyfile format).
KEY_7 = "7 SHA1 HEX:6b1ba2ee9c3a1e05b2c8d1f4e7a09b3c5d6e7f80\n"


def config(preset, listen, servers, probes=True, **frontend):
    # Every client here is 127.0.0.1, and dnsperf and the 3,000-in-flight burst go far past the
    # presets' per-address rate limits (test_ratelimit.py tests those): off.
    frontend = {"rate_limit": "off", "rate_limit_prefix": "off", **frontend}
    return render_config(
        frontends={"fe": {"listen": listen, "preset": preset, "backend": "up", **frontend}},
        backends={"up": {"servers": servers, **({} if probes else {"health": NO_PROBES})}},
        global_={"log_level": "debug"})


def chrony_query(test, port, *server_options, extra=(), timeout_s=15):
    """`chronyd -Q` against udpx on 127.0.0.1:port; returns (exit code, output)."""
    argv = [tool("chronyd"), "-Q", "-u", "root", "-t", str(timeout_s), "-f", "/dev/null",
            f"pidfile {test.path('chronyd-client.pid')}", "cmdport 0", *extra,
            " ".join(["server 127.0.0.1", "port", str(port), "iburst", *server_options])]
    code, out, err = test.run_tool(argv, timeout=timeout_s + 20)
    return code, out + err


class SharedNtp(UdpxTestCase):

    def assertShared(self, stats, server_text, answered_at_least=1):
        fe = frontend_stats(stats, "fe")
        self.assertEqual(fe["sessions"]["upstream_sockets"], "shared")
        self.assertEqual(fe["sessions"]["created"], 0, "shared requests open no sessions")
        self.assertGreaterEqual(fe["replied"], answered_at_least)
        self.assertEqual(fe["forwarded"], fe["replied"])
        self.assertDropped(fe)
        sv = server_stats(stats, "up", server_text)
        self.assertGreaterEqual(sv["pool_sockets"], 1)
        self.assertEqual(sv["in_flight"], 0)
        return fe

    def test_ChronyClientMeasuresThroughSharedSockets(self):
        server = ChronyServer(self)
        port = free_port()
        udpx = self.start_udpx(config("ntp", [f"127.0.0.1:{port}"], [server.text]))
        code, out = chrony_query(self, port, "maxsamples 1")
        self.assertEqual(code, 0, out)
        self.assertIn("System clock wrong by", out)
        self.assertShared(udpx.stats(), server.text)

    def keyed_server(self):
        """A chronyd server that knows key 7: (the keyfile, the server)."""
        keys = self.write_file("chrony.keys", KEY_7)
        server = ChronyServer(self, name="chronyd-keyed")
        server.proc.terminate()
        with open(server.conf, "a") as f:
            f.write(f"keyfile {keys}\n")
        server.start()
        return keys, server

    def test_SymmetricKeyClientsMacPassesByteForByte(self):
        # Both ends share key 7; chrony signs the 48-byte header, so a rewritten transmit
        # timestamp would fail the server's check and the client would get no valid reply.
        keys, server = self.keyed_server()
        port = free_port()
        udpx = self.start_udpx(config("ntp", [f"127.0.0.1:{port}"], [server.text]))
        code, out = chrony_query(self, port, "key 7", "maxsamples 1", extra=[f"keyfile {keys}"])
        self.assertEqual(code, 0, out)
        self.assertIn("System clock wrong by", out)
        self.assertShared(udpx.stats(), server.text)

    def test_InterleavedClientLosesNoReply(self):
        server = ChronyServer(self)
        port = free_port()
        udpx = self.start_udpx(config("ntp", [f"127.0.0.1:{port}"], [server.text]))
        # A chronyd client (never touching the clock) polling 64 times a second with xleave:
        # from its third exchange on, the server answers in interleaved mode, whose replies'
        # origin is the request's receive timestamp, not its transmit timestamp.
        conf = self.write_file("xleave.conf", "\n".join([
            f"server 127.0.0.1 port {port} xleave minpoll -6 maxpoll -6",
            "cmdport 0", f"pidfile {self.path('xleave.pid')}", ""]))
        self.start_process("chronyd-xleave", [tool("chronyd"), "-x", "-d", "-u", "root", "-f", conf])
        stats = self.wait_for_stats(udpx, lambda s: frontend_stats(s, "fe")["replied"] >= 40,
                                    "40 replies to the xleave client", timeout=30)
        fe = frontend_stats(stats, "fe")
        self.assertEqual(fe["sessions"]["created"], 0)
        self.assertDropped(fe)
        self.assertGreaterEqual(fe["forwarded"], 40)

    def test_InterleavedSymmetricKeyClientGetsInterleavedSamples(self):
        # chrony with both `xleave` and `key`: its requests carry a MAC, so they pass byte for
        # byte and are known by the client's own timestamps; the server's interleaved replies
        # echo the request's receive timestamp, which udpx must know the request by too.
        keys, server = self.keyed_server()
        port = free_port()
        udpx = self.start_udpx(config("ntp", [f"127.0.0.1:{port}"], [server.text]))
        logdir = self.path("xleave-key-log")
        os.makedirs(logdir)
        conf = self.write_file("xleave-key.conf", "\n".join([
            f"server 127.0.0.1 port {port} key 7 xleave minpoll -6 maxpoll -6",
            f"keyfile {keys}", f"logdir {logdir}", "log measurements",
            "cmdport 0", f"pidfile {self.path('xleave-key.pid')}", ""]))
        self.start_process("chronyd-xleave-key", [tool("chronyd"), "-x", "-d", "-u", "root", "-f", conf])

        def modes():
            # measurements.log: one line per sample ending in "4I K K": the version and mode
            # (B basic, I interleaved), then the transmit and receive timestamps' sources.
            try:
                with open(os.path.join(logdir, "measurements.log")) as f:
                    lines = [l.split() for l in f if l[:1].isdigit()]
            except FileNotFoundError:
                return ""
            return "".join(l[-3][-1] for l in lines if len(l) >= 3)
        def interleaved():
            m = modes()
            return m if m.count("I") >= 20 else None
        got = wait_until(interleaved, 30, "20 interleaved samples of the xleave client with a key")
        stats = self.wait_for_stats(udpx, lambda s: frontend_stats(s, "fe")["replied"] >= 40,
                                    "40 replies to the xleave client with a key", timeout=30)
        fe = frontend_stats(stats, "fe")
        self.assertEqual(fe["sessions"]["created"], 0)
        self.assertDropped(fe)
        print(f"samples of the keyed xleave client: {got}", file=sys.stderr)

    def test_NtpdigGetsTimeThroughSharedSocketsOnPort123(self):
        if os.geteuid() != 0:
            self.skipTest("ntpdig only queries port 123, which needs root to listen on")
        server = ChronyServer(self)
        udpx = self.start_udpx(config("ntp", ["127.0.0.124:123"], [server.text]))
        code, out, err = self.run_tool([tool("ntpdig"), "-t", "3", "127.0.0.124"], timeout=30)
        self.assertEqual(code, 0, out + err)
        self.assertShared(udpx.stats(), server.text)

    def test_SpoofedAndExtraRepliesAreDroppedAndCounted(self):
        # A server that first answers with a wrong origin (a forged reply from its address),
        # then correctly, then once more: the client gets exactly the right one.
        def handler(data, addr):
            transmit = ntp_fields(data)["transmit"]
            return [ntp_reply(transmit ^ 0xffff), ntp_reply(transmit), ntp_reply(transmit)]
        upstream = self.start_upstream("spoof", handler)
        port = free_port()
        udpx = self.start_udpx(config("ntp", [f"127.0.0.1:{port}"], [upstream.text], probes=False))
        client = self.new_client()
        request, transmit = ntp_request()
        reply = client.ask(request, ("127.0.0.1", port))
        self.assertEqual(ntp_fields(reply)["origin"], transmit)
        client.expect_silence()
        # udpx sent its own cookie, not the client's transmit timestamp.
        sent = upstream.received[0][0]
        self.assertNotEqual(ntp_fields(sent)["transmit"], transmit)
        self.assertEqual(sent[:40], request[:40])
        stats = self.wait_for_stats(udpx, lambda s: frontend_stats(s, "fe")["dropped"]["reply_unexpected"] == 1,
                                    "the extra reply counted")
        fe = frontend_stats(stats, "fe")
        self.assertDropped(fe, reply_unmatched=1, reply_unexpected=1)
        self.assertEqual(fe["replied"], 1)

    def test_ThreeThousandInFlightUnder256Descriptors(self):
        n = 3000
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < n + 200:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 500), hard))
        # The upstream holds every reply until all requests are in, so all are in flight at once.
        lock = threading.Lock()
        held = []
        up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        up.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 8 << 20)
        up.bind(("127.0.0.1", 0))
        up.settimeout(0.1)
        up_text = hostport(*up.getsockname())
        self.addCleanup(up.close)
        done = threading.Event()

        def serve():
            deadline = time.monotonic() + 60
            while len(held) < n and time.monotonic() < deadline:
                try:
                    data, addr = up.recvfrom(2048)
                except socket.timeout:
                    continue
                with lock:
                    held.append((data, addr))
            # Paced like the requests: the pool sockets' receive queues are the kernel default
            # (an unprivileged udpx cannot raise them past net.core.rmem_max), and 3,000 replies
            # at once overflowed them when a sanitizer build ran on a busy machine.
            for k, (data, addr) in enumerate(held):
                up.sendto(ntp_reply(ntp_fields(data)["transmit"]), addr)
                if k % 200 == 199:
                    time.sleep(0.02)
            done.set()
        threading.Thread(target=serve, daemon=True).start()

        port = free_port()
        cfg = self.write_file("udpx.toml", config("ntp", [f"127.0.0.1:{port}"], [up_text], probes=False,
                                                  session_timeout="30s", max_sessions=4096))
        udpx = Udpx("udpx", [tool("prlimit"), "--nofile=256:256", udpx_binary(), "-c", cfg], self.tmp)
        self.processes.append(udpx)
        self.addCleanup(self._stop_udpx, udpx)
        udpx.wait_ready()
        clients = []
        self.addCleanup(lambda: [c.close() for c in clients])
        for i in range(n):
            c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            c.bind(("127.0.0.1", 0))
            clients.append(c)
        expected = []
        for c in clients:
            request, transmit = ntp_request()
            expected.append(transmit)
            c.sendto(request, ("127.0.0.1", port))
            # Paced a little: the listener's receive queue is the kernel default.
            if len(expected) % 200 == 0:
                time.sleep(0.02)
        self.assertTrue(done.wait(60), f"upstream got {len(held)} of {n} requests")
        for c, transmit in zip(clients, expected):
            c.settimeout(10)
            self.assertEqual(ntp_fields(c.recv(2048))["origin"], transmit)
        stats = udpx.stats()
        fe = frontend_stats(stats, "fe")
        self.assertEqual(fe["replied"], n)
        self.assertDropped(fe)
        self.assertLessEqual(server_stats(stats, "up", up_text)["pool_sockets"], 4)


class SharedDns(UdpxTestCase):

    def test_DigAndDnsperfGetTheirOwnIdsBack(self):
        dnsmasq = Dnsmasq(self)
        server = hostport(*dnsmasq.address)
        port = free_port()
        udpx = self.start_udpx(config("dns", [f"127.0.0.1:{port}"], [server]))
        code, out = dig(self, "127.0.0.1", port, Dnsmasq.NAME)
        self.assertEqual((code, out.strip()), (0, Dnsmasq.ADDRESS))
        queries = self.write_file("queries.txt", f"{Dnsmasq.NAME} A\n" * 50)
        code, out, err = self.run_tool([tool("dnsperf"), "-s", "127.0.0.1", "-p", str(port), "-d", queries,
                                        "-n", "40", "-c", "8", "-q", "64", "-t", "5"], timeout=60)
        self.assertEqual(code, 0, out + err)
        self.assertIn("Queries completed:    2000", out, out)
        self.assertNotIn("unexpected", (out + err).lower(), out + err)
        stats = udpx.stats()
        fe = frontend_stats(stats, "fe")
        self.assertEqual(fe["sessions"]["created"], 0)
        self.assertEqual(fe["replied"], 2001)
        self.assertDropped(fe)
        self.assertGreaterEqual(server_stats(stats, "up", server)["pool_sockets"], 1)


if __name__ == "__main__":
    main()
