"""udpx's dns preset end to end: dig asks dnsmasq through udpx, over IPv4 and IPv6 listeners."""

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (Dnsmasq, UdpxTestCase, dig, dns_first_a, dns_header, dns_query, free_port,
                      frontend_stats, hostport, main, render_config, server_stats, tool, wait_answering,
                      wait_until)


def dns_proxy_config(listen, servers, upstream_sockets="per-session", **frontend):
    # Per-session: these tests count sessions and see the client's own query IDs upstream
    # (test_shared_upstream.py checks the shared default).
    return render_config(
        frontends={"dns": {"listen": listen, "preset": "dns", "backend": "resolvers",
                           "upstream_sockets": upstream_sockets, **frontend}},
        backends={"resolvers": {"servers": servers}},
        global_={"log_level": "debug"})


def as_reply(query, ident=None):
    """The query turned into an empty answer (QR=1), with its own or another ID."""
    ident = dns_header(query)["id"] if ident is None else ident
    return struct.pack("!HH", ident, 0x8180) + query[4:]


class DnsmasqBigAnswer:
    """dnsmasq answering BIG with 30 TXT records of 100 bytes (about 3 KB, more than 512) and
    SMALL with one address."""

    BIG = "big.test"
    SMALL = "small.test"

    def __init__(self, test):
        port = free_port("127.0.0.1")
        self.address = ("127.0.0.1", port)
        txt = [f"--txt-record={self.BIG},{i:02d}" + "x" * 98 for i in range(30)]
        self.proc = test.start_process("dnsmasq-big", [
            tool("dnsmasq"), "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
            "--listen-address=127.0.0.1", "--bind-interfaces", f"--port={port}",
            f"--address=/{self.SMALL}/192.0.2.9", f"--pid-file={test.path('dnsmasq-big.pid')}",
            "--user=root", "--log-facility=-"] + txt)

        def valid_reply():
            query, ident = dns_query(self.SMALL)
            return query, lambda reply: dns_header(reply)["id"] == ident and dns_first_a(reply) == "192.0.2.9"
        wait_answering(self.proc, self.address, "dnsmasq", valid_reply)


def dig_flags(test, server, port, name, qtype):
    """The header flags dig shows for one UDP query without EDNS (a 512-byte buffer), not
    retried over TCP (+ignore): "qr aa rd ra", plus "tc" when the answer was cut."""
    code, out, err = test.run_tool(
        [tool("dig"), f"@{server}", "-p", str(port), name, qtype, "+noedns", "+ignore", "+tries=1", "+timeout=3"],
        timeout=25)
    test.assertEqual(code, 0, out + err)
    for line in out.splitlines():
        if ";; flags:" in line:
            return line.split(";; flags:")[1].split(";")[0].split()
    raise AssertionError(f"no flags line in dig's output:\n{out}")


class DigThroughUdpx(UdpxTestCase):

    def setUp(self):
        super().setUp()
        self.dnsmasq = Dnsmasq(self)
        self.dnsmasq_text = hostport(*self.dnsmasq.address)

    def assertResolves(self, server, port):
        code, output = dig(self, server, port, Dnsmasq.NAME)
        self.assertEqual(code, 0, f"dig @{server} -p {port} failed:\n{output}")
        self.assertEqual(output.strip(), Dnsmasq.ADDRESS)

    def wait_dnsmasq_queries(self, count):
        wait_until(lambda: self.dnsmasq.queries_logged(Dnsmasq.NAME) >= count, 5,
                   f"dnsmasq to log {count} queries for {Dnsmasq.NAME}")
        self.assertEqual(self.dnsmasq.queries_logged(Dnsmasq.NAME), count)

    def test_SeveralQueriesAreEachAnsweredOnce(self):
        port = free_port()
        udpx = self.start_udpx(dns_proxy_config([f"127.0.0.1:{port}"], [self.dnsmasq_text]))
        seen_before = self.dnsmasq.queries_logged(Dnsmasq.NAME)
        queries = 4

        for _ in range(queries):
            self.assertResolves("127.0.0.1", port)

        self.wait_dnsmasq_queries(seen_before + queries)
        stats = udpx.stats()
        frontend = frontend_stats(stats, "dns")
        self.assertEqual((frontend["received"], frontend["forwarded"], frontend["replied"]),
                         (queries, queries, queries))
        self.assertDropped(frontend)
        sessions = frontend["sessions"]
        # Each dig is a new client port, so a new session, closed by its one reply.
        self.assertEqual((sessions["created"], sessions["closed"], sessions["active"]),
                         (queries, queries, 0))
        server = server_stats(stats, "resolvers", self.dnsmasq_text)
        self.assertEqual((server["sessions"], server["forwarded"], server["replied"]),
                         (queries, queries, queries))

    def test_Ipv6AndIpv4ListenersReachTheSameResolver(self):
        port = free_port("127.0.0.1", "::1")
        udpx = self.start_udpx(dns_proxy_config([f"127.0.0.1:{port}", f"[::1]:{port}"],
                                                 [self.dnsmasq_text]))

        self.assertResolves("::1", port)
        self.assertResolves("127.0.0.1", port)
        self.assertResolves("::1", port)

        frontend = frontend_stats(udpx.stats(), "dns")
        self.assertEqual((frontend["received"], frontend["forwarded"], frontend["replied"]), (3, 3, 3))
        self.assertDropped(frontend)

    def test_TruncatedAnswersAreCountedAndStatusSaysTcpIsNotRelayed(self):
        # An answer larger than the client's UDP buffer (512 bytes without EDNS) comes back with
        # TC=1; the client would retry over TCP, which this frontend does not relay (tcp = false;
        # test_dns_tcp.py has the retry over TCP).
        big = DnsmasqBigAnswer(self)
        port = free_port()
        udpx = self.start_udpx(dns_proxy_config([f"127.0.0.1:{port}"], [hostport(*big.address)], tcp=False))
        config = self.path("udpx.toml")
        small = dig_flags(self, "127.0.0.1", port, DnsmasqBigAnswer.SMALL, "A")
        self.assertNotIn("tc", small, small)
        code, status = self.run_status(config)
        self.assertEqual(code, 0, status)
        self.assertNotIn("truncated", status)

        asked = 3
        for _ in range(asked):
            flags = dig_flags(self, "127.0.0.1", port, DnsmasqBigAnswer.BIG, "TXT")
            self.assertIn("tc", flags, flags)

        frontend = self.wait_for_stats(udpx, lambda s: frontend_stats(s, "dns")["replied"] == asked + 1,
                                       "the replies to be counted")["frontends"]["dns"]
        self.assertEqual(frontend["replied_truncated"], asked)
        self.assertDropped(frontend)
        code, status = self.run_status(config)
        self.assertIn(f"{asked} of {asked + 1} replies were truncated (DNS TC bit): those clients retry over TCP, "
                      "which udpx does not relay here (tcp = false)", status)
        self.assertIn("dig +bufsize=4096", status)
        self.assertIn("tcp = true", status)

    def test_ResponsesSentAsQueriesAndRuntsAreDropped(self):
        port = free_port()
        listen = ("127.0.0.1", port)
        udpx = self.start_udpx(dns_proxy_config([hostport(*listen)], [self.dnsmasq_text]))
        client = self.new_client()
        seen_before = self.dnsmasq.queries_logged(Dnsmasq.NAME)

        query, _ = dns_query(Dnsmasq.NAME)
        client.send(as_reply(query), listen)   # QR=1 from a client
        client.send(b"\x12\x34\x01", listen)   # shorter than a DNS header

        stats = self.wait_for_stats(udpx, lambda s: frontend_stats(s, "dns")["received"] >= 2,
                                    "udpx to receive both datagrams")
        frontend = frontend_stats(stats, "dns")
        self.assertEqual(frontend["forwarded"], 0)
        self.assertDropped(frontend, wrong_kind=1, malformed=1)
        client.expect_silence()
        self.assertEqual(self.dnsmasq.queries_logged(Dnsmasq.NAME), seen_before)


class DnsReplyMatching(UdpxTestCase):
    """A python fake resolver answering with the wrong ID first, then the right one."""

    def test_ReplyWithAnotherIdIsDroppedAndMatchingOneDelivered(self):
        def answer_wrong_id_then_right(data, addr):
            return [as_reply(data, ident=dns_header(data)["id"] ^ 0x0F0F), as_reply(data)]
        upstream = self.start_upstream("resolver", answer_wrong_id_then_right)
        port = free_port()
        listen = ("127.0.0.1", port)
        udpx = self.start_udpx(dns_proxy_config([hostport(*listen)], [upstream.text]))
        client = self.new_client()

        query, ident = dns_query(Dnsmasq.NAME)
        reply = client.ask(query, listen)

        self.assertEqual(dns_header(reply)["id"], ident)
        self.assertEqual(dns_header(reply)["qr"], 1)
        client.expect_silence()
        frontend = frontend_stats(udpx.stats(), "dns")
        self.assertEqual((frontend["forwarded"], frontend["replied"]), (1, 1))
        self.assertDropped(frontend, reply_unmatched=1)


if __name__ == "__main__":
    main()
