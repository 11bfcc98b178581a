"""A backend server given as a host name, served by a real dnsmasq that udpx uses as its
resolver: udpx follows the name when its address changes (within the TTL), probes the new
address before using it, drains the old one, and keeps the last addresses when the resolver
goes away — saying so in `udpx status`. And reloads (issue 12): a reload adds a backend whose
server is a host name (the first config had none, nor resolvers), changes the name, switches to
other resolvers; continuous traffic on both frontends loses nothing."""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (DnsmasqHosts, UdpxTestCase, free_port, hostport, main, parse_echo, render_config,
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


class EchoTraffic:
    """Open-loop requests from one socket (one udpx session) to a raw frontend, every `gap`
    seconds, numbered; a reader records which were echoed and by whom. Bounded by `limit`."""

    def __init__(self, address, gap=0.005, limit=12000):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.address, self.gap, self.limit = address, gap, limit
        self.sent, self.answered, self.by = set(), set(), {}
        self.stopping = False
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self._read, self._send)]
        for t in self.threads:
            t.start()

    def _send(self):
        for i in range(1, self.limit + 1):
            if self.stopping:
                break
            with self.lock:
                self.sent.add(i)
            self.sock.sendto(f"n{i}".encode(), self.address)
            time.sleep(self.gap)

    def _read(self):
        while not (self.stopping and self.sent <= self.answered):
            try:
                data, _ = self.sock.recvfrom(4096)
            except socket.timeout:
                if self.stopping:
                    return
                continue
            server, _, payload = parse_echo(data)
            with self.lock:
                self.answered.add(int(payload[1:]))
                self.by[server] = self.by.get(server, 0) + 1

    def count(self):
        with self.lock:
            return len(self.answered)

    def stop(self):
        """Stops sending, waits (bounded) for the last answers; returns the lost numbers."""
        if not self.stopping:
            self.stopping = True
            self.threads[1].join(10)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and not self.sent <= self.answered:
                time.sleep(0.05)
            self.threads[0].join(5)
            self.sock.close()
        return sorted(self.sent - self.answered)


class ReloadsHostNames(UdpxTestCase):

    RAW_PROBE = {"type": "raw", "send": "70 72 6f 62 65", "interval": "200ms", "timeout": "150ms",
                 "rise": 1, "fall": 2}

    def setUp(self):
        super().setUp()
        self.port = free_port("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")
        self.upstreams = {name: self.start_upstream(name, host=f"127.0.0.{i}", port=self.port)
                          for i, name in ((2, "alpha"), (3, "beta"), (4, "gamma"), (5, "delta"))}
        self.dns1 = DnsmasqHosts(self, {"one.udpx.test": "127.0.0.3", "two.udpx.test": "127.0.0.4"})
        self.dns2 = DnsmasqHosts(self, {"two.udpx.test": "127.0.0.5"}, name="dnsmasq-hosts-2")
        self.stay = ("127.0.0.1", free_port())
        self.named = ("127.0.0.1", free_port())
        os.chmod(self.tmp, 0o755)  # the binder reads the file on reload, as the user it dropped to

    def write_config(self, text):
        path = self.write_file("udpx.toml", text)
        os.chmod(path, 0o644)
        return path

    def config(self, name=None, resolvers=None):
        frontends = {"stay": {"listen": [hostport(*self.stay)], "preset": "raw", "backend": "lit"}}
        backends = {"lit": {"servers": [f"127.0.0.2:{self.port}"], "health": self.RAW_PROBE}}
        if name:
            frontends["named"] = {"listen": [hostport(*self.named)], "preset": "raw", "backend": "named"}
            backends["named"] = {"servers": [f"{name}:{self.port}"], "resolve_min": "200ms", "resolve_max": "1h",
                                 "health": self.RAW_PROBE}
        global_ = {"log_level": "debug"}
        if resolvers:
            global_["resolvers"] = [r.text for r in resolvers]
        return render_config(frontends=frontends, backends=backends, global_=global_)

    def reload(self, text, expect):
        self.write_config(text)
        code, out = self.run_udpx(["reload", "-c", self.config_path])
        self.assertEqual(code, 0, out)
        self.assertIn(expect, out)
        return out

    def answered_by(self, to):
        client = self.new_client()
        try:
            return parse_echo(client.ask(b"who?", to, timeout=1.5))[0]
        except AssertionError:
            return None

    def test_AReloadAddsAHostNameChangesItAndSwitchesResolversLosingNothing(self):
        self.config_path = self.write_config(self.config())
        udpx = self.start_udpx(args=["-c", self.config_path])
        stay = EchoTraffic(self.stay)
        self.addCleanup(stay.stop)
        wait_until(lambda: stay.count() > 20, 10, "the first answers on the frontend that stays")

        # A backend whose server is a host name, and the resolvers to ask: neither was there.
        out = self.reload(self.config("one.udpx.test", [self.dns1]), "+1 frontend (named)")
        self.assertIn("+1 backend (named)", out)
        wait_until(lambda: self.answered_by(self.named) == "beta", FOLLOW_TIMEOUT, "the new name's server to answer")
        named = EchoTraffic(self.named)
        self.addCleanup(named.stop)
        wait_until(lambda: named.count() > 20, 10, "the first answers on the new frontend")

        # Another name: its server is probed before use; the old name's serves until then.
        self.reload(self.config("two.udpx.test", [self.dns1]), "backend named: 1 server added, 1 draining")
        wait_until(lambda: self.answered_by(self.named) == "gamma", FOLLOW_TIMEOUT, "new sessions to reach two's server")
        log = udpx.log()
        self.assertIn(f"new server 127.0.0.4:{self.port} from two.udpx.test:{self.port}, used once a probe says", log)
        stats = udpx.stats()
        self.assertEqual(list(stats["backends"]["named"]["names"]), [f"two.udpx.test:{self.port}"])

        # Other resolvers, which point the name elsewhere: asked at once, followed like a DNS change.
        self.reload(self.config("two.udpx.test", [self.dns2]), "global: resolvers changed")
        wait_until(lambda: self.answered_by(self.named) == "delta", FOLLOW_TIMEOUT, "the new resolvers' address")
        self.assertIn(f"two.udpx.test is 127.0.0.5 (TTL 1s); was 127.0.0.4", udpx.log())
        name = udpx.stats()["backends"]["named"]["names"][f"two.udpx.test:{self.port}"]
        self.assertEqual(name["resolver"], f"global.resolvers ({self.dns2.text})")

        for t, what in ((stay, "stay"), (named, "named")):
            counted = t.count()
            wait_until(lambda: t.count() > counted + 20, 10, f"answers on {what} to go on after the reloads")
            lost = t.stop()
            self.assertEqual(lost, [], f"{what}: {len(lost)} of {len(t.sent)} requests lost across the reloads")
        self.assertEqual(set(stay.by), {"alpha"})
        self.assertEqual(set(named.by), {"beta"})  # one session: it stays on its server while that drains
        stats = udpx.stats()
        self.assertEqual(stats["reloads"]["succeeded"], 3)
        self.assertEqual(stats["frontends"]["stay"]["dropped"]["no_backend"], 0)


if __name__ == "__main__":
    main()
