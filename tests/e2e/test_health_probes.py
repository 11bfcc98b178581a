"""Health probes judged against python fake servers that answer what real ones rarely do on
demand: NTP kiss-o'-death DENY and RATE, a forged kiss-o'-death, DNS REFUSED and SERVFAIL, and
passive health (requests on real traffic that are never answered)."""

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (UdpxTestCase, dns_header, dns_query, free_port, frontend_stats, main,
                      ntp_fields, ntp_request, render_config, server_stats, wait_until)

DETECT_TIMEOUT = 10.0


def ntp_answer(origin, leap=0, stratum=2, refid=b"GPS\0"):
    """A 48-byte mode 4 reply to `origin` with the given leap indicator, stratum and refid."""
    return (struct.pack("!BBbb", (leap << 6) | (4 << 3) | 4, stratum, 6, -20) + struct.pack("!II", 0, 0) + refid
            + struct.pack("!QQQQ", 0, origin, 0, 0))


def dns_answer(query, rcode):
    return query[:2] + struct.pack("!BB", 0x81, 0x80 | rcode) + query[4:]


class ProbeVerdicts(UdpxTestCase):

    def start_proxy(self, preset, upstream, health=None, **frontend):
        self.listen = ("127.0.0.1", free_port())
        self.config = self.write_file("udpx.toml", render_config(
            frontends={"f": {"listen": [f"127.0.0.1:{self.listen[1]}"], "preset": preset, "backend": "b", **frontend}},
            backends={"b": {"servers": [upstream.text],
                            "health": health or {"interval": "200ms", "timeout": "150ms", "rise": 2, "fall": 2}}},
            global_={"log_level": "debug"}))
        return self.start_udpx(args=["-c", self.config])

    def server(self, udpx, upstream):
        return server_stats(udpx.stats(), "b", upstream.text)

    def wait_server(self, udpx, upstream, predicate, what):
        last = {}

        def check():
            last["s"] = self.server(udpx, upstream)
            return predicate(last["s"])
        try:
            wait_until(check, DETECT_TIMEOUT, what, interval=0.1)
        except AssertionError as e:
            raise AssertionError(f"{e}; last: {last.get('s')}")
        return last["s"]

    def test_KissOfDeathDenyTakesTheServerDownAtOnceNamingTheRefusal(self):
        upstream = self.start_upstream(
            "deny", lambda data, addr: [ntp_answer(ntp_fields(data)["transmit"], leap=3, stratum=0, refid=b"DENY")])
        udpx = self.start_proxy("ntp", upstream)

        down = self.wait_server(udpx, upstream, lambda s: s["state"] == "down", "the server to be down")

        self.assertIn("refuses this host", down["health"]["reason"])
        self.assertIn("chrony: `allow`", down["health"]["hint"])
        code, output = self.run_status(self.config)
        self.assertEqual(code, 1, output)
        self.assertIn("the server refuses this host (kiss-o'-death DENY/RSTR)", output)

    def test_KissOfDeathRateSlowsTheProbesAndKeepsTheServerUp(self):
        upstream = self.start_upstream(
            "rate", lambda data, addr: [ntp_answer(ntp_fields(data)["transmit"], leap=3, stratum=0, refid=b"RATE")])
        udpx = self.start_proxy("ntp", upstream)

        slowed = self.wait_server(udpx, upstream, lambda s: s["health"]["probe_interval_ms"] >= 800,
                                  "probes to slow down")

        self.assertEqual(slowed["state"], "up")
        self.assertIn("asks to be queried less often", slowed["health"]["reason"])
        code, output = self.run_status(self.config)
        self.assertEqual(code, 0, output)  # alive: a warning, not a failure
        self.assertIn("kiss-o'-death RATE", output)

    def test_ForgedKissOfDeathIsIgnored(self):
        def forged_deny_then_answer(data, addr):
            transmit = ntp_fields(data)["transmit"]
            return [ntp_answer(transmit ^ 0xFFFF, leap=3, stratum=0, refid=b"DENY"), ntp_answer(transmit)]
        upstream = self.start_upstream("forged", forged_deny_then_answer)
        udpx = self.start_proxy("ntp", upstream)

        probed = self.wait_server(udpx, upstream, lambda s: s["health"]["probes"] >= 5, "five probes")

        self.assertEqual(probed["state"], "up")
        self.assertEqual(probed["health"]["probe_failures"], 0)
        self.assertGreaterEqual(probed["health"]["last_rtt_seconds"], 0)
        self.assertNotIn("is DOWN", udpx.log())

    def test_UnsynchronisedReplyIsUnhealthy(self):
        upstream = self.start_upstream(
            "lost", lambda data, addr: [ntp_answer(ntp_fields(data)["transmit"], leap=3, stratum=16)])
        udpx = self.start_proxy("ntp", upstream)

        down = self.wait_server(udpx, upstream, lambda s: s["state"] == "down", "the server to be down")

        self.assertIn("not synchronised", down["health"]["reason"])

    def test_DnsRefusedNamesTheResolversAcl(self):
        upstream = self.start_upstream("acl", lambda data, addr: [dns_answer(data, 5)])
        udpx = self.start_proxy("dns", upstream)

        down = self.wait_server(udpx, upstream, lambda s: s["state"] == "down", "the resolver to be down")

        self.assertEqual(down["health"]["reason"], f"{upstream.text}: the resolver answered REFUSED")
        code, output = self.run_status(self.config)
        self.assertEqual(code, 1, output)
        self.assertIn("the resolver's ACL refuses this host", output)

    def test_DnsServfailIsUnhealthyAndNoErrorHealthy(self):
        answers = {"rcode": 2}
        upstream = self.start_upstream("flaky", lambda data, addr: [dns_answer(data, answers["rcode"])])
        udpx = self.start_proxy("dns", upstream)
        down = self.wait_server(udpx, upstream, lambda s: s["state"] == "down", "the resolver to be down")
        self.assertIn("SERVFAIL", down["health"]["reason"])

        answers["rcode"] = 0
        self.wait_server(udpx, upstream, lambda s: s["state"] == "up", "the resolver to come back")

    def test_UnansweredRequestsOfManyClientsOnRealTrafficTakeAServerDown(self):
        silent = self.start_upstream("silent", lambda data, addr: [])
        udpx = self.start_proxy("ntp", silent, health={"type": "none", "fall": 2}, session_timeout="200ms")

        # Without probes it takes 8 distinct clients (src/backends/backend.h kSilentClientsToFail),
        # whatever `fall` says below that; ports of one client are one client.
        for i in range(8):
            client = self.new_client(f"127.0.0.{20 + i}")
            client.send(ntp_request()[0], self.listen)
        down = self.wait_server(udpx, silent, lambda s: s["state"] == "down", "passive health to take it down")

        self.assertEqual(down["health"]["unanswered"], 8)
        self.assertEqual(down["health"]["probes"], 0)
        self.assertEqual(down["health"]["reason"], f"no reply from {silent.text} to requests of 8 different clients "
                                                   "in a row (8 requests unanswered so far)")
        self.assertEqual(frontend_stats(udpx.stats(), "f")["sessions"]["expired"], 8)

if __name__ == "__main__":
    main()
