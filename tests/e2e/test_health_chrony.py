"""Health checks against real chronyd servers: one stops and is reported down with a hint
while clients keep getting answers from the other, then comes back; a chronyd that does not
`allow` udpx and one that is not synchronised are reported with the likely cause — to an
unprivileged user running `udpx status`, whose exit code tells the health."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (ChronyServer, UdpxTestCase, free_port, frontend_stats, main, ntp_fields,
                      ntp_request, render_config, server_stats, wait_until)

INTERVAL_S = 0.3
FALL = 3
RISE = 2
# Generous: fall x interval is 0.6s, but CI is a noisy 2-core machine running ASan builds.
DETECT_TIMEOUT = 10.0


class HealthWithChrony(UdpxTestCase):

    def start_proxy(self, servers, **backend):
        self.listen = ("127.0.0.1", free_port())
        self.config = self.write_file("udpx.toml", render_config(
            frontends={"ntp": {"listen": [f"127.0.0.1:{self.listen[1]}"], "preset": "ntp", "backend": "time"}},
            backends={"time": {"servers": [s.text for s in servers], **backend,
                               "health": {"interval": f"{int(INTERVAL_S * 1000)}ms", "timeout": "250ms",
                                          "rise": RISE, "fall": FALL}}},
            global_={"log_level": "debug"}))
        return self.start_udpx(args=["-c", self.config])

    def server_state(self, udpx, server):
        return server_stats(udpx.stats(), "time", server.text)

    def wait_state(self, udpx, server, state):
        last = {}

        def reached():
            last["s"] = self.server_state(udpx, server)
            return last["s"]["state"] == state
        try:
            wait_until(reached, DETECT_TIMEOUT, f"{server.text} to be {state}", interval=0.1)
        except AssertionError as e:
            raise AssertionError(f"{e}; last: {last.get('s')}")
        return last["s"]

    def wait_probe_failures(self, udpx, server):
        """Waits until the server's failed probes reach `fall` (each failed probe counts once,
        whichever way it failed); returns its health, checked against the other figures."""
        health = self.wait_for_stats(
            udpx, lambda st: server_stats(st, "time", server.text)["health"]["probe_failures"] >= FALL,
            f"{server.text}: {FALL} failed probes counted", timeout=DETECT_TIMEOUT)
        health = server_stats(health, "time", server.text)["health"]
        self.assertLessEqual(health["probe_failures"], health["probes"], health)
        self.assertLessEqual(health["consecutive_failures"], health["probe_failures"], health)
        return health

    def ask_new_clients(self, count):
        """Sends one NTP request from each of `count` new clients; returns how many got a valid reply."""
        answered = 0
        for _ in range(count):
            client = self.new_client()
            request, transmit = ntp_request()
            client.send(request, self.listen)
            try:
                reply, _ = client.receive(timeout=2.0)
            except AssertionError:
                continue
            answered += ntp_fields(reply)["origin"] == transmit
        return answered

    def test_StoppedServerIsReportedDownWithHintAndComesBackAfterRise(self):
        alpha = ChronyServer(self, "chronyd-alpha")
        beta = ChronyServer(self, "chronyd-beta")
        udpx = self.start_proxy([alpha, beta])
        self.wait_state(udpx, alpha, "up")
        self.wait_state(udpx, beta, "up")
        self.assertEqual(self.ask_new_clients(4), 4)
        code, output = self.run_status(self.config)
        self.assertEqual(code, 0, output)
        self.assertIn("all is well", output)

        alpha.stop()
        down = self.wait_state(udpx, alpha, "down")

        self.assertFalse(down["health"]["up"])
        self.assertIn(alpha.text, down["health"]["reason"])
        self.assertTrue(down["health"]["hint"], down)
        self.assertIn("is DOWN", udpx.log())
        self.assertGreaterEqual(down["health"]["probe_failures"], 1, down)
        # Refused probes (on send or on receive) are failed probes: counted each time.
        self.wait_probe_failures(udpx, alpha)
        self.assertEqual(self.ask_new_clients(6), 6, "clients must keep getting answers from beta")
        self.assertEqual(server_stats(udpx.stats(), "time", beta.text)["state"], "up")
        code, output = self.run_status(self.config)
        self.assertEqual(code, 1, output)
        self.assertIn(f"backend time, server {alpha.text}", output)
        # Stopped: its port answers ICMP port unreachable (or, while chronyd exits, nothing).
        self.assertRegex(output, r"hint: (start the NTP server|is it running)")

        alpha.start()
        up = self.wait_state(udpx, alpha, "up")

        self.assertGreaterEqual(up["health"]["probes"], down["health"]["probes"] + RISE)
        self.assertGreater(up["health"]["last_rtt_seconds"], 0)
        self.assertEqual(up["health"]["reason"], "")
        self.assertIn(f"server {alpha.text} is UP", udpx.log())
        code, output = self.run_status(self.config)
        self.assertEqual(code, 0, output)
        wait_until(lambda: self.ask_new_clients(4) == 4, 10, "every client answered again")

    def test_ServerThatDoesNotAllowUdpxIsReportedWithTheLikelyCause(self):
        closed = ChronyServer(self, "chronyd-closed", allow="192.168.0.0/16")
        udpx = self.start_proxy([closed])

        down = self.wait_state(udpx, closed, "down")

        self.assertRegex(down["health"]["reason"], rf"no reply from {closed.text} to the last probe \(\d+ failed in a row\)")
        self.assertGreaterEqual(down["health"]["probe_failures"], FALL, down)
        health = self.wait_probe_failures(udpx, closed)
        self.assertEqual(health["reason"], f"no reply from {closed.text} to the last probe "
                                           f"({health['consecutive_failures']} failed in a row)")
        self.assertIn("chrony: `allow`", down["health"]["hint"])
        code, output = self.run_status(self.config)
        self.assertEqual(code, 1, output)
        self.assertIn(f"no reply from {closed.text}", output)
        self.assertIn("does it allow queries from this host? (chrony: `allow`, ntpd: `restrict`)", output)
        self.assertIn("its only server is down", output)
        self.assertIn("fail open", output)
        # Fail open: requests still go to it (and get no answer), and the log says so loudly.
        self.assertIn("ALL 1 servers are down", udpx.log())

    def test_UnsynchronisedServerIsReportedAsNotSynchronised(self):
        lost = ChronyServer(self, "chronyd-unsynchronised", local=False)
        udpx = self.start_proxy([lost])

        down = self.wait_state(udpx, lost, "down")

        self.assertIn("not synchronised", down["health"]["reason"])
        self.assertGreaterEqual(down["health"]["probe_failures"], FALL, down)
        self.wait_probe_failures(udpx, lost)
        self.assertIn("time source", down["health"]["hint"])
        code, output = self.run_status(self.config, "--json")
        self.assertEqual(code, 1, output)
        self.assertIn("not synchronised", output)

    def test_AllDownWithOnAllDownDropDropsAndCountsNoBackend(self):
        closed = ChronyServer(self, "chronyd-closed", allow="192.168.0.0/16")
        udpx = self.start_proxy([closed], on_all_down="drop")
        self.wait_state(udpx, closed, "down")

        self.assertEqual(self.ask_new_clients(2), 0)

        frontend = frontend_stats(udpx.stats(), "ntp")
        self.assertEqual(frontend["dropped"]["no_backend"], 2)
        self.assertEqual(frontend["forwarded"], 0)
        code, output = self.run_status(self.config)
        self.assertEqual(code, 1, output)
        self.assertIn("new sessions are dropped", output)

    def test_StatusOfAnInstanceThatIsNotRunningExitsTwoNamingTheSocket(self):
        config = self.write_file("never-started.toml", "")
        code, output = self.run_status(config)
        self.assertEqual(code, 2, output)
        self.assertIn(f"@udpx:{config}", output)
        self.assertIn("is udpx running with this config", output)


if __name__ == "__main__":
    main()
