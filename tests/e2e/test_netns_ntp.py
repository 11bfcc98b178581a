"""The seed scenario, end to end in network namespaces this test creates: NTP brought into a
separated network without making the gateway a router.

    client ns (10.123.1.2) ── veth ── gateway ns (10.123.1.1 | 10.123.2.1) ── veth ── server ns (10.123.2.2)
                                      ip_forward = 0, udpx as root on :123          real chronyd on :123

The client has a route to the server's subnet via the gateway, and the server one back, so only
ip_forward = 0 stands between them: without udpx the client cannot reach the server at all, with
udpx real clients (ntpdig, chronyd -Q) get time through it. No default routes; nothing leaves the
machine. Needs root (CI runs as root).
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (NamespacesMixin, Udpx, UdpxTestCase, frontend_stats, main, render_config, tool, udpx_binary,
                      wait_until)

CLIENT_IP, GATEWAY_CLIENT_SIDE = "10.123.1.2", "10.123.1.1"
GATEWAY_SERVER_SIDE, SERVER_IP = "10.123.2.1", "10.123.2.2"


class NtpThroughUdpxAcrossNamespaces(NamespacesMixin, UdpxTestCase):

    def setUp(self):
        super().setUp()
        c, g, s = self.make_namespaces("udpxps", CLIENT_IP, GATEWAY_CLIENT_SIDE,
                                      GATEWAY_SERVER_SIDE, SERVER_IP)
        self.ip("-n", c, "route", "add", "10.123.2.0/24", "via", GATEWAY_CLIENT_SIDE)
        self.ip("-n", s, "route", "add", "10.123.1.0/24", "via", GATEWAY_SERVER_SIDE)
        for ns in (c, g, s):
            routes = self.in_ns(ns, [tool("ip"), "route", "show", "default"]).stdout
            self.assertEqual(routes.strip(), "", f"no default route in {ns}")
        self.start_chronyd_server()

    # helpers

    def ntpdig(self, ns, server, timeout_s):
        done = self.in_ns(ns, [tool("ntpdig"), "-t", str(timeout_s), server], timeout=timeout_s + 30)
        return done.returncode, done.stdout + done.stderr

    def chronyd_query(self, ns, server, timeout_s=10):
        done = self.in_ns(ns, [tool("chronyd"), "-Q", "-u", "root", "-t", str(timeout_s), "-f", "/dev/null",
                               f"pidfile {self.path('chronyd-client.pid')}", "cmdport 0",
                               f"server {server} iburst maxsamples 1"], timeout=timeout_s + 30)
        return done.returncode, done.stdout + done.stderr

    def start_chronyd_server(self):
        conf = self.write_file("chronyd-server.conf", "\n".join([
            "port 123", f"bindaddress {SERVER_IP}", "cmdport 0", "local stratum 8", "allow all",
            f"pidfile {self.path('chronyd-server.pid')}", ""]))
        self.server = self.start_process("chronyd-server", [
            tool("ip"), "netns", "exec", self.ns["server"], tool("chronyd"), "-x", "-d", "-u", "root", "-f", conf])

        def answers():
            if not self.server.running():
                raise AssertionError(f"chronyd exited early:\n{self.server.log()}")
            # From the gateway, which is on the server's network: proves the server is up.
            return self.ntpdig(self.ns["gateway"], SERVER_IP, 1)[0] == 0
        wait_until(answers, 30, "chronyd in the server namespace to answer", interval=0.2)

    def start_udpx_in_gateway(self):
        config = self.write_file("udpx.toml", render_config(
            frontends={"ntp": {"listen": [f"{GATEWAY_CLIENT_SIDE}:123"], "preset": "ntp", "backend": "time",
                               "allow": ["10.123.1.0/24"]}},
            backends={"time": {"servers": [SERVER_IP]}},
            global_={"log_level": "debug", "user": "nobody"}))
        # `ip netns exec` execs udpx: the pid is udpx's (the binder's), for stats and stop.
        udpx = Udpx("udpx", [tool("ip"), "netns", "exec", self.ns["gateway"], udpx_binary(), "-c", config],
                    self.tmp)
        self.processes.append(udpx)
        self.addCleanup(self._stop_udpx, udpx)
        udpx.wait_ready()
        return udpx

    def assertCannotReachServer(self):
        code, out = self.ntpdig(self.ns["client"], SERVER_IP, 2)
        self.assertNotEqual(code, 0, f"the client reached the server directly:\n{out}")
        code, out = self.ntpdig(self.ns["client"], GATEWAY_CLIENT_SIDE, 2)
        return code, out

    # the test

    def test_ClientsGetTimeThroughUdpxAndOnlyThroughIt(self):
        # Without udpx: the server is unreachable from the client, directly or via the gateway.
        code, out = self.assertCannotReachServer()
        self.assertNotEqual(code, 0, f"something answers NTP on the gateway before udpx runs:\n{out}")

        udpx = self.start_udpx_in_gateway()

        code, out = self.ntpdig(self.ns["client"], GATEWAY_CLIENT_SIDE, 5)
        self.assertEqual(code, 0, f"ntpdig through udpx failed:\n{out}\n{udpx.log()}")
        self.assertIn(GATEWAY_CLIENT_SIDE, out)
        self.assertRegex(out, r"[+-]\d+\.\d+ \+/- \d+\.\d+")
        code, out = self.chronyd_query(self.ns["client"], GATEWAY_CLIENT_SIDE)
        self.assertEqual(code, 0, f"chronyd -Q through udpx failed:\n{out}")
        self.assertIn("System clock wrong by", out)

        stats = frontend_stats(udpx.stats(), "ntp")
        self.assertGreaterEqual(stats["forwarded"], 2)
        self.assertEqual(stats["forwarded"], stats["replied"])
        self.assertEqual(sum(stats["dropped"].values()), 0, stats["dropped"])
        # udpx relays NTP; it did not make the gateway a router.
        self.assertEqual(self.in_ns(self.ns["gateway"], [tool("sysctl"), "-n", "net.ipv4.ip_forward"]).stdout.strip(),
                         "0")
        code, out = self.ntpdig(self.ns["client"], SERVER_IP, 2)
        self.assertNotEqual(code, 0, f"the client reached the server directly:\n{out}")
        # And the process answering on port 123 is the unprivileged, sandboxed worker.
        with open(f"/proc/{udpx.pid}/task/{udpx.pid}/children") as f:
            worker = int(f.read().split()[0])
        with open(f"/proc/{worker}/status") as f:
            status = f.read()
        self.assertRegex(status, r"Uid:\t65534\t65534\t65534\t65534")
        self.assertRegex(status, r"CapEff:\t0000000000000000")
        with open(udpx_binary(), "rb") as f:
            sanitizer_build = b"libasan.so" in f.read()  # no seccomp there (see test_privsep.py)
        self.assertRegex(status, r"Seccomp:\t0" if sanitizer_build else r"Seccomp:\t2")
        self.assertTrue(re.search(r"binder now runs as nobody", udpx.log()))


if __name__ == "__main__":
    main()
