"""Junk client traffic against real chronyd servers: requests a server silently ignores (52-byte
mode 3 packets, which chronyd drops) must not take healthy servers down. With probes, passive
evidence never overrides their success and `udpx status` says what it saw, with the figure of
the counters; without probes, it takes many distinct clients, not many datagrams from new ports
of one client, to mark a server down."""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (NO_PROBES, ChronyServer, Client, UdpxTestCase, free_port, frontend_stats, main,
                      ntp_fields, ntp_request, render_config, server_stats, wait_until)

# Every request of a new client port is a new session; each ends unanswered after SESSION_S.
SESSION_S = 0.4
ROUNDS = 10
JUNK_PER_ROUND = 8
# Without probes, a server is marked down once this many distinct clients went unanswered in a
# row (src/backends/backend.cpp: kSilentClientsToFail).
SILENT_CLIENTS_TO_FAIL = 8
WAIT_S = 15.0


def junk_request():
    """A mode 3 request with 4 stray bytes after the header: well formed for udpx's checks
    (a multiple of 4, version 4, client mode), dropped without an answer by chronyd."""
    request, _ = ntp_request()
    return request + bytes(4)


class JunkTraffic(UdpxTestCase):

    def start_proxy(self, servers, health, **backend):
        self.listen = ("127.0.0.1", free_port())
        self.config = self.write_file("udpx.toml", render_config(
            frontends={"ntp": {"listen": [f"127.0.0.1:{self.listen[1]}"], "preset": "ntp", "backend": "time",
                               "session_timeout": f"{int(SESSION_S * 1000)}ms"}},
            # round-robin: the junk of this one client address reaches every server (the ntp
            # default, hash, would keep it on one).
            backends={"time": {"servers": [s.text for s in servers], "balance": "round-robin", **backend,
                               "health": health}},
            global_={"log_level": "debug"}))
        return self.start_udpx(args=["-c", self.config])

    def send_junk(self, count, host="127.0.0.1"):
        """One junk request from each of `count` new client ports."""
        for _ in range(count):
            client = Client(host)
            try:
                client.send(junk_request(), self.listen)
            finally:
                client.close()

    def ask(self):
        """One legitimate request from a new client; True if it got its answer."""
        client = self.new_client()
        request, transmit = ntp_request()
        client.send(request, self.listen)
        try:
            reply, _ = client.receive(timeout=2.0)
        except AssertionError:
            return False
        return ntp_fields(reply)["origin"] == transmit

    def unanswered(self, stats, servers):
        return {s.text: server_stats(stats, "time", s.text)["health"]["unanswered"] for s in servers}

    def test_JunkDoesNotTakeDownServersWhoseProbesSucceed(self):
        alpha = ChronyServer(self, "chronyd-alpha")
        beta = ChronyServer(self, "chronyd-beta")
        udpx = self.start_proxy([alpha, beta], {"interval": "300ms", "timeout": "250ms", "rise": 2, "fall": 3},
                                on_all_down="drop")
        self.wait_for_stats(udpx, lambda st: all(server_stats(st, "time", s.text)["state"] == "up"
                                                 for s in (alpha, beta)), "both servers up", timeout=WAIT_S)

        answered = 0
        for _ in range(ROUNDS):
            self.send_junk(JUNK_PER_ROUND)
            answered += self.ask()
            time.sleep(SESSION_S)
        junk = ROUNDS * JUNK_PER_ROUND

        # Every session has ended; no request was dropped for want of a server.
        stats = self.wait_for_stats(udpx, lambda st: frontend_stats(st, "ntp")["sessions"]["active"] == 0
                                    and frontend_stats(st, "ntp")["sessions"]["in_flight"] == 0,
                                    "every session and shared request ended", timeout=WAIT_S)
        self.assertEqual(frontend_stats(stats, "ntp")["dropped"]["no_backend"], 0)
        self.assertNotIn("is DOWN", udpx.log())
        # Every junk request ended unanswered (chronyd drops them all), and is counted so.
        self.assertEqual(sum(self.unanswered(stats, (alpha, beta)).values()), junk)
        self.assertNotIn("ALL 2 servers are down", udpx.log())
        for s in (alpha, beta):
            self.assertEqual(server_stats(stats, "time", s.text)["state"], "up")
        self.assertEqual(frontend_stats(stats, "ntp")["dropped"]["no_backend"], 0)
        self.assertEqual(answered, ROUNDS, "every legitimate client is answered")

        # udpx status says what it saw, with the counters' figures, and blames no server.
        code, output = self.run_status(self.config)
        self.assertEqual(code, 0, output)
        _, doc = self.run_status(self.config, "--json")
        counted = self.unanswered(json.loads(doc), (alpha, beta))
        for s in (alpha, beta):
            said = re.search(rf"server {re.escape(s.text)}: (\d+) requests from clients went unanswered although "
                             r"probes succeed: the server ignores them \(its rate limit\? malformed requests\?\)",
                             output)
            self.assertTrue(said, output)
            self.assertEqual(int(said.group(1)), counted[s.text], output)
        self.assertNotIn("does it allow queries", output)
        self.assertNotIn("all is well", output, "a warning is shown, so not 'all is well'")

    def test_WithoutProbesJunkFromOneClientDoesNotTakeDownButManyClientsDo(self):
        alpha = ChronyServer(self, "chronyd-alpha")
        udpx = self.start_proxy([alpha], NO_PROBES, fail_timeout="1h")
        self.assertTrue(self.ask())

        # Many datagrams from new ports of one client address: one silent client.
        for _ in range(ROUNDS):
            self.send_junk(JUNK_PER_ROUND)
            time.sleep(SESSION_S / 2)
        junk = ROUNDS * JUNK_PER_ROUND
        stats = self.wait_for_stats(udpx, lambda st: self.unanswered(st, (alpha,))[alpha.text] >= junk,
                                    f"{junk} unanswered requests counted", timeout=WAIT_S)
        self.assertEqual(server_stats(stats, "time", alpha.text)["state"], "up")
        self.assertNotIn("is DOWN", udpx.log())
        self.assertTrue(self.ask())  # a reply: the silent clients so far are forgiven

        # One fewer distinct client than it takes: still up.
        hosts = [f"127.0.0.{10 + i}" for i in range(SILENT_CLIENTS_TO_FAIL)]
        for host in hosts[:-1]:
            self.send_junk(2, host)
        stats = self.wait_for_stats(
            udpx, lambda st: self.unanswered(st, (alpha,))[alpha.text] >= junk + 2 * len(hosts[:-1]),
            "the unanswered requests of the distinct clients counted", timeout=WAIT_S)
        self.assertEqual(server_stats(stats, "time", alpha.text)["state"], "up")

        # The last distinct client: down, and the reason says what was seen, with the counter's figure.
        self.send_junk(1, hosts[-1])
        stats = self.wait_for_stats(udpx, lambda st: server_stats(st, "time", alpha.text)["state"] == "down",
                                    "the server down after many distinct silent clients", timeout=WAIT_S)
        health = server_stats(stats, "time", alpha.text)["health"]
        self.assertEqual(health["reason"],
                         f"no reply from {alpha.text} to requests of {SILENT_CLIENTS_TO_FAIL} different clients in a "
                         f"row ({health['unanswered']} requests unanswered so far)")


if __name__ == "__main__":
    main()
