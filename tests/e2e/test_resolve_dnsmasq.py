"""A backend server given as a host name, served by a real dnsmasq that udpx uses as its
resolver: udpx follows the name when its address changes (within the TTL), probes the new
address before using it, drains the old one, and keeps the last addresses when the resolver
goes away — saying so in `udpx status`."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (DnsmasqHosts, UdpxTestCase, free_port, main, parse_echo, render_config,
                      wait_until)

NAME = "ntp.udpx.test"
# dnsmasq gives a 1 s TTL; resolve_min lets udpx ask again that soon. Waits are generous.
FOLLOW_TIMEOUT = 20.0


class FollowsHostName(UdpxTestCase):

    def setUp(self):
        super().setUp()
        # Two servers on the same port of two loopback addresses: the name points at one.
        self.port = free_port("127.0.0.2", "127.0.0.3")
        self.alpha = self.start_upstream("alpha", host="127.0.0.2", port=self.port)
        self.beta = self.start_upstream("beta", host="127.0.0.3", port=self.port)
        self.dns = DnsmasqHosts(self, {NAME: "127.0.0.2"})
        self.listen = ("127.0.0.1", free_port())
        self.config = self.write_file("udpx.toml", render_config(
            frontends={"f": {"listen": [f"127.0.0.1:{self.listen[1]}"], "preset": "raw", "backend": "b"}},
            backends={"b": {"servers": [f"{NAME}:{self.port}"], "resolve_min": "200ms", "resolve_max": "1h",
                            # a raw probe: any reply is healthy (the fake servers echo)
                            "health": {"type": "raw", "send": "70 72 6f 62 65", "interval": "200ms",
                                       "timeout": "150ms", "rise": 1, "fall": 2}}},
            global_={"log_level": "debug", "resolvers": [self.dns.text]}))
        self.udpx = self.start_udpx(args=["-c", self.config])

    def answered_by(self):
        client = self.new_client()
        try:
            return parse_echo(client.ask(b"time?", self.listen, timeout=1.5))[0]
        except AssertionError:
            return None

    def servers(self):
        return self.udpx.stats()["backends"]["b"]["servers"]

    def test_FollowsTheNameWhenItsAddressChanges(self):
        self.assertEqual(self.answered_by(), "alpha")
        self.assertEqual(list(self.servers()), [f"127.0.0.2:{self.port}"])
        names = self.udpx.stats()["backends"]["b"]["names"]
        self.assertEqual(names[f"{NAME}:{self.port}"]["addresses"], ["127.0.0.2"])

        self.dns.change(NAME, "127.0.0.3")

        wait_until(lambda: self.answered_by() == "beta", FOLLOW_TIMEOUT, "new sessions to reach the new address")
        log = self.udpx.log()
        self.assertIn(f"{NAME} is 127.0.0.3 (TTL 1s); was 127.0.0.2", log)
        self.assertIn(f"new server 127.0.0.3:{self.port} from {NAME}:{self.port}, used once a probe says it is healthy", log)
        self.assertIn(f"127.0.0.2:{self.port} ({NAME}:{self.port}) is no longer in DNS: draining", log)
        # The drained server goes once its sessions have ended (the raw preset's idle timeout
        # is long, so here: the session alpha's client had is still there, or already gone).
        states = {label: s["state"] for label, s in self.servers().items()}
        self.assertEqual(states[f"127.0.0.3:{self.port}"], "up")
        self.assertIn(states.get(f"127.0.0.2:{self.port}", "draining"), ("draining",))
        for _ in range(3):
            self.assertEqual(self.answered_by(), "beta")

    def test_MakesBeforeBreakWhenTheNameMovesToAnAddressNotYetUp(self):
        # on_all_down = "drop" makes any gap visible as dropped requests.
        self.udpx.stop()
        with open(self.config) as f:
            text = f.read()
        self.write_file("udpx.toml", text.replace('resolve_max = "1h"', 'resolve_max = "1h"\non_all_down = "drop"'))
        self.udpx = self.start_udpx(args=["-c", self.config], name="udpx-drop")
        self.assertEqual(self.answered_by(), "alpha")
        started_ms = self.udpx.stats()["udpx"]["started_unix_ms"]
        self.beta.close()  # the new address answers nothing yet: its probes fail
        new = f"127.0.0.3:{self.port}"
        time.sleep(0.1)
        changed_ms = int(time.time() * 1000)

        self.dns.change(NAME, "127.0.0.3")

        stats = self.wait_for_stats(self.udpx, lambda st: new in st["backends"]["b"]["servers"],
                                    "the new address added", timeout=FOLLOW_TIMEOUT)
        pending = stats["backends"]["b"]["servers"][new]
        self.assertEqual(pending["state"], "pending")
        self.assertGreaterEqual(pending["health"]["since_unix_ms"], changed_ms - 1000)
        self.assertGreater(pending["health"]["since_unix_ms"], started_ms)
        # Several probe intervals with the new address down: the old one serves every client.
        for _ in range(5):
            self.assertEqual(self.answered_by(), "alpha")
        stats = self.udpx.stats()
        self.assertEqual(stats["backends"]["b"]["servers"][f"127.0.0.2:{self.port}"]["state"], "up")
        self.assertEqual(stats["backends"]["b"]["servers"][new]["state"], "pending")
        self.assertEqual(stats["frontends"]["f"]["dropped"]["no_backend"], 0)
        self.assertFalse(stats["backends"]["b"]["all_down"])
        code, output = self.run_status(self.config)
        self.assertIn(f"PENDING since", output)
        self.assertNotIn("ALL DOWN", output)

        # The new address comes up: the old one is drained, and new sessions go to it.
        self.beta = self.start_upstream("beta", host="127.0.0.3", port=self.port)
        wait_until(lambda: self.answered_by() == "beta", FOLLOW_TIMEOUT, "new sessions to reach the new address")
        log = self.udpx.log()
        self.assertIn(f"127.0.0.2:{self.port} ({NAME}:{self.port}) is no longer in DNS: draining", log)
        self.assertNotIn("servers are down", log)
        self.assertEqual(self.udpx.stats()["frontends"]["f"]["dropped"]["no_backend"], 0)

    def test_KeepsTheLastAddressesWhenTheResolverFails(self):
        self.assertEqual(self.answered_by(), "alpha")

        self.dns.proc.terminate()

        def reported():
            code, output = self.run_status(self.config)
            return (code, output) if f"cannot resolve {NAME}" in output else None
        code, output = wait_until(reported, FOLLOW_TIMEOUT, "udpx status to report the failed resolution")
        self.assertIn("using its last known addresses (1)", output)
        self.assertIn(f"check global.resolvers ({self.dns.text})", output)
        self.assertEqual(code, 0, output)  # still served by the last address: a warning
        self.assertEqual(self.answered_by(), "alpha")
        self.assertIn("keeping its last addresses (127.0.0.2)", self.udpx.log())


if __name__ == "__main__":
    main()
