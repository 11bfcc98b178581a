"""udpx's ntp preset end to end: a real chronyd client measures a real chronyd server through udpx,
and python packets check what the preset refuses (ntpq/ntpdc control queries, unmatched replies).

ntpdig has no port option: it is run against udpx listening on 127.0.0.123:123, which needs
root (CI runs as root; elsewhere that one test is reported as skipped, with the reason).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (MONLIST_48, MONLIST_8, NO_PROBES, ChronyServer, UdpxTestCase, chrony_client_query,
                      tool, free_port, frontend_stats, hostport, main, ntp_control_read_variables,
                      ntp_fields, ntp_reply, ntp_request, render_config, server_stats)


def ntp_proxy_config(listen, servers, probes=True, **frontend):
    return render_config(
        frontends={"ntp": {"listen": listen, "preset": "ntp", "backend": "time", **frontend}},
        backends={"time": {"servers": servers, **({} if probes else {"health": NO_PROBES})}},
        global_={"log_level": "debug"})


class ChronyThroughUdpx(UdpxTestCase):
    """chronyd -Q (the client) gets a time sample from chronyd (the server) through udpx."""

    def setUp(self):
        super().setUp()
        self.server = ChronyServer(self)
        self.server_text = hostport(*self.server.address)

    def assertMeasuredOffset(self, code, output):
        self.assertEqual(code, 0, f"chronyd -Q failed:\n{output}")
        self.assertIn("System clock wrong by", output)

    def assertEveryRequestAnswered(self, frontend):
        self.assertGreaterEqual(frontend["forwarded"], 1)
        self.assertEqual(frontend["forwarded"], frontend["replied"])
        self.assertEqual(frontend["received"], frontend["forwarded"])
        # The ntp default: shared upstream sockets, no session per request.
        self.assertEqual(frontend["sessions"]["upstream_sockets"], "shared")
        self.assertEqual(frontend["sessions"]["created"], 0)
        self.assertDropped(frontend)

    def test_ClientMeasuresOffsetThroughUdpx(self):
        port = free_port()
        udpx = self.start_udpx(ntp_proxy_config([f"127.0.0.1:{port}"], [self.server_text]))

        self.assertMeasuredOffset(*chrony_client_query(self, "127.0.0.1", port))

        stats = udpx.stats()
        frontend = frontend_stats(stats, "ntp")
        self.assertEveryRequestAnswered(frontend)
        server = server_stats(stats, "time", self.server_text)
        self.assertEqual(server["forwarded"], frontend["forwarded"])
        self.assertEqual(server["replied"], frontend["replied"])
        self.assertEqual(server["refused"], 0)
        self.assertFalse(server["down"])

    def test_ClientMeasuresOffsetThroughIpv6Listener(self):
        port = free_port("::1")
        udpx = self.start_udpx(ntp_proxy_config([f"[::1]:{port}"], [self.server_text]))

        self.assertMeasuredOffset(*chrony_client_query(self, "::1", port))

        self.assertEveryRequestAnswered(frontend_stats(udpx.stats(), "ntp"))

    def test_ClientMeasuresOffsetThroughCommandLinePreset(self):
        port = free_port()
        udpx = self.start_udpx(args=["--preset", "ntp", "--listen", f"127.0.0.1:{port}",
                                     "--upstream", self.server_text])

        self.assertMeasuredOffset(*chrony_client_query(self, "127.0.0.1", port))

        frontends = udpx.stats()["frontends"]
        self.assertEqual(len(frontends), 1, frontends)
        self.assertEveryRequestAnswered(next(iter(frontends.values())))

    def test_NtpdigGetsTimeThroughUdpxOnPort123(self):
        if os.geteuid() != 0:
            self.skipTest("ntpdig only queries port 123, which needs root to listen on")
        listen = "127.0.0.123"
        udpx = self.start_udpx(ntp_proxy_config([f"{listen}:123"], [self.server_text]))

        code, out, err = self.run_tool([tool("ntpdig"), "-t", "5", listen], timeout=30)

        self.assertEqual(code, 0, f"ntpdig failed:\n{out}{err}")
        self.assertIn(listen, out)
        self.assertRegex(out, r"[+-]\d+\.\d+ \+/- \d+\.\d+")  # offset +/- error
        self.assertEveryRequestAnswered(frontend_stats(udpx.stats(), "ntp"))

    def test_ClientFailsWhenUpstreamIsGone(self):
        # The same client, with no server behind udpx, must fail: the checks above can fail.
        port = free_port()
        nobody = f"127.0.0.1:{free_port()}"
        udpx = self.start_udpx(ntp_proxy_config([f"127.0.0.1:{port}"], [nobody]))

        code, output = chrony_client_query(self, "127.0.0.1", port, timeout_s=2)

        self.assertNotEqual(code, 0, output)
        self.assertNotIn("System clock wrong by", output)
        stats = udpx.stats()
        frontend = frontend_stats(stats, "ntp")
        self.assertGreaterEqual(frontend["forwarded"], 1)
        self.assertEqual(frontend["replied"], 0)
        self.assertGreaterEqual(server_stats(stats, "time", nobody)["refused"], 1)


class NtpPresetPolicy(UdpxTestCase):
    """What the ntp preset lets through, with a python fake server recording what reaches it."""

    def start_ntp_proxy(self, upstream, responses=None):
        self.port = free_port()
        self.listen = ("127.0.0.1", self.port)
        extra = {} if responses is None else {"responses": responses}
        # These check the preset's policy on the per-session path, where the upstream sees the
        # client's own datagrams (test_shared_upstream.py checks the shared path).
        extra["upstream_sockets"] = "per-session"
        # The fake server records every datagram: no health probes among them.
        return self.start_udpx(ntp_proxy_config([hostport(*self.listen)], [upstream.text], probes=False, **extra))

    def test_ControlQueriesAreDroppedAndNeverReachUpstream(self):
        def answer_mode3(data, addr):
            return [ntp_reply(ntp_fields(data)["transmit"])]
        upstream = self.start_upstream("ntp", answer_mode3)
        udpx = self.start_ntp_proxy(upstream)
        client = self.new_client()
        control = [MONLIST_8, MONLIST_48, ntp_control_read_variables(version=2),
                   ntp_control_read_variables(version=4)]

        for packet in control:
            client.send(packet, self.listen)

        stats = self.wait_for_stats(udpx, lambda s: frontend_stats(s, "ntp")["received"] >= len(control),
                                    "udpx to receive the control queries")
        client.expect_silence()
        frontend = frontend_stats(stats, "ntp")
        self.assertEqual(frontend["received"], len(control))
        self.assertEqual(frontend["forwarded"], 0)
        self.assertDropped(frontend, control=len(control))
        self.assertEqual(upstream.received, [])

        # A time request from the same client still goes through.
        request, transmit = ntp_request()
        reply = client.ask(request, self.listen)
        self.assertEqual(ntp_fields(reply)["origin"], transmit)
        self.assertEqual([data for data, _ in upstream.received], [request])
        frontend = frontend_stats(udpx.stats(), "ntp")
        self.assertEqual((frontend["received"], frontend["forwarded"], frontend["replied"]),
                         (len(control) + 1, 1, 1))
        self.assertDropped(frontend, control=len(control))

    def test_ReplyWithWrongOriginIsDroppedAndMatchingOneDelivered(self):
        def answer_wrong_then_right(data, addr):
            transmit = ntp_fields(data)["transmit"]
            return [ntp_reply(transmit ^ 0x5A5A5A5A), ntp_reply(transmit)]
        upstream = self.start_upstream("ntp", answer_wrong_then_right)
        udpx = self.start_ntp_proxy(upstream)
        client = self.new_client()

        request, transmit = ntp_request()
        reply = client.ask(request, self.listen)

        self.assertEqual(ntp_fields(reply)["mode"], 4)
        self.assertEqual(ntp_fields(reply)["origin"], transmit)
        client.expect_silence()
        frontend = frontend_stats(udpx.stats(), "ntp")
        self.assertEqual((frontend["forwarded"], frontend["replied"]), (1, 1))
        self.assertDropped(frontend, reply_unmatched=1)
        self.assertEqual(frontend["sessions"]["closed"], 1)

    def test_ReplyInClientModeIsDropped(self):
        def answer_mode3_then_mode4(data, addr):
            transmit = ntp_fields(data)["transmit"]
            return [ntp_reply(transmit, mode=3), ntp_reply(transmit)]
        upstream = self.start_upstream("ntp", answer_mode3_then_mode4)
        udpx = self.start_ntp_proxy(upstream)
        client = self.new_client()

        request, transmit = ntp_request()
        reply = client.ask(request, self.listen)

        self.assertEqual(ntp_fields(reply)["mode"], 4)
        client.expect_silence()
        frontend = frontend_stats(udpx.stats(), "ntp")
        self.assertEqual(frontend["replied"], 1)
        self.assertDropped(frontend, reply_wrong_kind=1)

    def test_ServerModeAndTruncatedRequestsAreDropped(self):
        upstream = self.start_upstream("ntp", lambda data, addr: [])
        udpx = self.start_ntp_proxy(upstream)
        client = self.new_client()

        client.send(ntp_reply(0), self.listen)          # mode 4 sent as a request
        client.send(ntp_request()[0][:20], self.listen)  # cut short: not NTP

        stats = self.wait_for_stats(udpx, lambda s: frontend_stats(s, "ntp")["received"] >= 2,
                                    "udpx to receive both datagrams")
        frontend = frontend_stats(stats, "ntp")
        self.assertEqual(frontend["forwarded"], 0)
        self.assertDropped(frontend, wrong_kind=1, malformed=1)
        client.expect_silence(0.3)
        self.assertEqual(upstream.received, [])


if __name__ == "__main__":
    main()
