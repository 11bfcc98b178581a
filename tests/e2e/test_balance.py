"""How udpx spreads new sessions over a backend's servers: round-robin, first, and a server that
refuses (ICMP port unreachable) being skipped."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (UdpxTestCase, free_port, frontend_stats, main, parse_echo, render_config,
                      server_stats)


class Balancing(UdpxTestCase):

    def setUp(self):
        super().setUp()
        self.alpha = self.start_upstream("alpha")
        self.beta = self.start_upstream("beta")
        self.listen = ("127.0.0.1", free_port())

    def start_proxy(self, balance, fail_timeout="60s"):
        return self.start_udpx(render_config(
            frontends={"lb": {"listen": [f"127.0.0.1:{self.listen[1]}"], "preset": "raw", "backend": "pool"}},
            backends={"pool": {"servers": [self.alpha.text, self.beta.text], "balance": balance,
                               "fail_timeout": fail_timeout}},
            global_={"log_level": "debug"}))

    def server_answering(self, client, payload=b"who?", timeout=3.0):
        """Which fake server answered the client's request."""
        name, _, echoed = parse_echo(client.ask(payload, self.listen, timeout))
        self.assertEqual(echoed, payload)
        return name

    def new_sessions_answered_by(self, count):
        return [self.server_answering(self.new_client()) for _ in range(count)]

    def answered_after_retrying(self, tries=3):
        """Which server answers a client that retries from a new port until answered (or None)."""
        for _ in range(tries):
            client = self.new_client()
            client.send(b"anyone?", self.listen)
            try:
                return parse_echo(client.receive(timeout=1.5)[0])[0]
            except AssertionError:
                continue
        return None

    def test_RoundRobinAlternatesNewSessions(self):
        udpx = self.start_proxy("round-robin")
        clients = [self.new_client() for _ in range(6)]

        first_answers = [self.server_answering(c) for c in clients]
        second_answers = [self.server_answering(c, b"again") for c in clients]

        self.assertEqual(sorted(first_answers), ["alpha"] * 3 + ["beta"] * 3)
        for previous, current in zip(first_answers, first_answers[1:]):
            self.assertNotEqual(previous, current, f"not alternating: {first_answers}")
        self.assertEqual(second_answers, first_answers, "a session must stay on its server")
        stats = udpx.stats()
        self.assertEqual(frontend_stats(stats, "lb")["sessions"]["created"], 6)
        for upstream in (self.alpha, self.beta):
            server = server_stats(stats, "pool", upstream.text)
            self.assertEqual((server["sessions"], server["forwarded"], server["replied"]), (3, 6, 6))

    def test_FirstSendsEverythingToFirstServerUntilItRefuses(self):
        udpx = self.start_proxy("first")

        self.assertEqual(self.new_sessions_answered_by(6), ["alpha"] * 6)
        self.assertEqual(len(self.beta.received), 0)

        self.alpha.close()  # its port now answers with ICMP port unreachable
        self.assertEqual(self.answered_after_retrying(), "beta",
                         "no new session reached beta after alpha refused")
        self.assertEqual(self.new_sessions_answered_by(3), ["beta"] * 3)

        stats = udpx.stats()
        alpha = server_stats(stats, "pool", self.alpha.text)
        beta = server_stats(stats, "pool", self.beta.text)
        self.assertGreaterEqual(alpha["refused"], 1)
        self.assertTrue(alpha["down"])
        self.assertEqual((beta["refused"], beta["down"]), (0, False))
        self.assertGreaterEqual(beta["sessions"], 4)

    def test_RefusingServerIsTriedAgainAfterFailTimeout(self):
        udpx = self.start_proxy("first", fail_timeout="2s")
        self.assertEqual(self.new_sessions_answered_by(1), ["alpha"])

        self.alpha.close()
        self.new_client().send(b"anyone?", self.listen)
        self.wait_for_stats(udpx, lambda s: server_stats(s, "pool", self.alpha.text)["refused"] >= 1,
                            "udpx to see alpha refuse")
        refused_at = time.monotonic()
        self.assertEqual(self.new_sessions_answered_by(1), ["beta"], "alpha is skipped while down")
        self.assertTrue(server_stats(udpx.stats(), "pool", self.alpha.text)["down"])
        self.start_upstream("alpha-again", port=self.alpha.address[1])
        time.sleep(max(0.0, refused_at + 2.5 - time.monotonic()))  # past fail_timeout

        self.assertEqual(self.new_sessions_answered_by(2), ["alpha-again"] * 2)
        alpha = server_stats(udpx.stats(), "pool", self.alpha.text)
        self.assertFalse(alpha["down"])
        self.assertEqual((alpha["refused"], alpha["replied"]), (1, 3))

if __name__ == "__main__":
    main()
