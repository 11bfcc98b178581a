"""Hints that know the peer, against real chronyd configurations: chronyd without any `allow`
line is a client only and opens no NTP port, so udpx sees ICMP port unreachable and says the
usual causes (NTP server not running, chrony's `allow`, ntpd's `restrict`); chronyd whose
`allow` leaves out this host drops the queries, and udpx says "no reply" with chrony's `allow`
in the hint. Both to an unprivileged `udpx status`."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import ChronyServer, UdpxTestCase, free_port, main, render_config, server_stats, wait_until


class ChronyHints(UdpxTestCase):

    def start_proxy(self, server):
        self.config = self.write_file("udpx.toml", render_config(
            frontends={"ntp": {"listen": [f"127.0.0.1:{free_port()}"], "preset": "ntp", "backend": "time"}},
            backends={"time": {"servers": [server.text],
                               "health": {"interval": "300ms", "timeout": "250ms", "fall": 2}}}))
        return self.start_udpx(args=["-c", self.config])

    def wait_down(self, udpx, server):
        return wait_until(lambda: (s := server_stats(udpx.stats(), "time", server.text))["state"] == "down" and s,
                          10, f"{server.text} to be down")

    def test_ChronyWithoutAllowRefusesAndTheHintNamesAllow(self):
        chrony = ChronyServer(self, "chronyd-no-allow", allow=None)
        udpx = self.start_proxy(chrony)
        down = self.wait_down(udpx, chrony)
        self.assertTrue(chrony.proc.running(), "chronyd without `allow` runs (as a client only)")
        self.assertIn("refused", down["health"]["reason"])
        self.assertIn("ICMP port unreachable", down["health"]["reason"])
        hint = down["health"]["hint"]
        self.assertIn("start the NTP server", hint)
        self.assertIn("without an `allow` line", hint)
        self.assertIn("ntpd: check its `restrict` lines", hint)
        code, output = self.run_status(self.config)
        self.assertEqual(code, 1, output)
        self.assertIn("chrony serves no NTP at all without an `allow` line for this host", output)

    def test_ChronyWhoseAllowLeavesThisHostOutIsSilentAndTheHintNamesAllow(self):
        chrony = ChronyServer(self, "chronyd-other-allow", allow="192.168.0.0/16")
        udpx = self.start_proxy(chrony)
        down = self.wait_down(udpx, chrony)
        self.assertRegex(down["health"]["reason"], rf"no reply from {chrony.text} to \d+ probes")
        self.assertIn("chrony: `allow`", down["health"]["hint"])
        code, output = self.run_status(self.config)
        self.assertEqual(code, 1, output)
        self.assertIn("(chrony: `allow`, ntpd: `restrict`)", output)


if __name__ == "__main__":
    main()
