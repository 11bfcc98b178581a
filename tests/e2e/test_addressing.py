"""Which addresses udpx listens on, answers from, and accepts clients from."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (UdpxTestCase, free_port, frontend_stats, main, parse_echo, render_config)


class Addressing(UdpxTestCase):

    def setUp(self):
        super().setUp()
        self.upstream = self.start_upstream("echo")

    def start_proxy(self, listen, allow=None):
        frontend = {"listen": listen, "preset": "raw", "backend": "echo"}
        if allow is not None:
            frontend["allow"] = allow
        return self.start_udpx(render_config(
            frontends={"edge": frontend},
            backends={"echo": {"servers": [self.upstream.text]}},
            global_={"log_level": "debug"}))

    def assertEchoed(self, client, to, payload):
        """The client gets its payload back from exactly the address it sent to."""
        client.send(payload, to)
        reply, source = client.receive()
        self.assertEqual(parse_echo(reply)[2], payload)
        self.assertEqual(source, to, "reply must come from the address the client sent to")

    def test_WildcardListenerRepliesFromTheAddressTheClientUsed(self):
        port = free_port("0.0.0.0")
        udpx = self.start_proxy([f"0.0.0.0:{port}"], allow=["127.0.0.0/8"])

        self.assertEchoed(self.new_client("127.0.0.1"), ("127.0.0.2", port), b"to .2")
        self.assertEchoed(self.new_client("127.0.0.1"), ("127.0.0.1", port), b"to .1")
        self.assertEchoed(self.new_client("127.0.0.9"), ("127.0.0.3", port), b"from .9 to .3")

        frontend = frontend_stats(udpx.stats(), "edge")
        self.assertEqual((frontend["received"], frontend["forwarded"], frontend["replied"]), (3, 3, 3))
        self.assertDropped(frontend)

    def test_Ipv6LoopbackListener(self):
        port = free_port("::1")
        udpx = self.start_proxy([f"[::1]:{port}"])
        client = self.new_client("::1")

        self.assertEchoed(client, ("::1", port), b"over v6")

        self.assertEqual([data for data, _ in self.upstream.received], [b"over v6"])
        frontend = frontend_stats(udpx.stats(), "edge")
        self.assertEqual((frontend["forwarded"], frontend["replied"]), (1, 1))

    def test_DualStackWildcardListenersReplyFromTheAddressUsed(self):
        port = free_port("0.0.0.0")
        udpx = self.start_proxy([f"[::]:{port}", f"0.0.0.0:{port}"], allow=["127.0.0.0/8", "::1/128"])

        self.assertEchoed(self.new_client("::1"), ("::1", port), b"v6 via [::]")
        self.assertEchoed(self.new_client("127.0.0.1"), ("127.0.0.2", port), b"v4 via 0.0.0.0")

        frontend = frontend_stats(udpx.stats(), "edge")
        self.assertEqual((frontend["received"], frontend["forwarded"], frontend["replied"]), (2, 2, 2))
        self.assertDropped(frontend)

    def test_Ipv4ClientsReachAnIpv6Server(self):
        v6_upstream = self.start_upstream("echo6", host="::1")
        port = free_port()
        udpx = self.start_udpx(render_config(
            frontends={"edge": {"listen": [f"127.0.0.1:{port}"], "backend": "v6"}},
            backends={"v6": {"servers": [v6_upstream.text]}}))

        self.assertEchoed(self.new_client("127.0.0.1"), ("127.0.0.1", port), b"across families")
        self.assertEqual(v6_upstream.received[0][1][0], "::1")
        frontend = frontend_stats(udpx.stats(), "edge")
        self.assertEqual((frontend["forwarded"], frontend["replied"]), (1, 1))

    def test_ClientOutsideAllowListIsDropped(self):
        port = free_port()
        listen = ("127.0.0.1", port)
        udpx = self.start_proxy([f"127.0.0.1:{port}"], allow=["10.0.0.0/8"])
        client = self.new_client("127.0.0.1")

        client.send(b"let me in", listen)

        stats = self.wait_for_stats(udpx, lambda s: frontend_stats(s, "edge")["received"] >= 1,
                                    "udpx to receive the datagram")
        client.expect_silence()
        frontend = frontend_stats(stats, "edge")
        self.assertEqual(frontend["forwarded"], 0)
        self.assertEqual(frontend["sessions"]["created"], 0)
        self.assertDropped(frontend, acl=1)
        self.assertEqual(self.upstream.received, [])

    def test_AllowListAdmitsOnlyListedSources(self):
        port = free_port()
        listen = ("127.0.0.1", port)
        udpx = self.start_proxy([f"127.0.0.1:{port}"], allow=["127.0.0.5/32"])
        outsider = self.new_client("127.0.0.1")

        self.assertEchoed(self.new_client("127.0.0.5"), listen, b"listed")
        outsider.send(b"not listed", listen)
        outsider.expect_silence()

        frontend = frontend_stats(udpx.stats(), "edge")
        self.assertEqual((frontend["received"], frontend["forwarded"], frontend["replied"]), (2, 1, 1))
        self.assertDropped(frontend, acl=1)
        self.assertEqual([data for data, _ in self.upstream.received], [b"listed"])


if __name__ == "__main__":
    main()
