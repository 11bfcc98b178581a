"""Rate limits end to end: a flood from one loopback address (thousands of source ports, as fast
as a sender process can go, a few seconds) against an NTP frontend with a real chronyd behind it,
while a legitimate client on another address asks every 50 ms, and a real `chronyd -Q` measures
through it; a RATE kiss-o'-death that makes a real chronyd client back off; bucket state across a
reload.
"""

import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (NO_PROBES, ChronyServer, Client, UdpxTestCase, chrony_client_query, free_port, frontend_stats,
                      tool,
                      main, ntp_fields, ntp_request, render_config, udpx_binary, wait_until)

FLOOD_SOURCE = "127.0.0.2"
GOOD_SOURCE = "127.0.0.3"

# The flood: its own process (so the legitimate client's thread is not starved of the GIL), 2000
# sockets on FLOOD_SOURCE sending NTP requests round-robin, bounded in time and count.
FLOOD_SCRIPT = r"""
import socket, sys, time
target = (sys.argv[1], int(sys.argv[2])); seconds = float(sys.argv[3]); limit = int(sys.argv[4])
rate = float(sys.argv[6])  # per second; 0: as fast as it goes
request = bytes([0x23]) + bytes(39) + bytes(range(1, 9))
socks = []
for _ in range(2000):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sys.argv[5], 0))
    s.setblocking(False)
    socks.append(s)
print("ready", flush=True)
sent = 0
start = time.monotonic()
end = start + seconds
while sent < limit and time.monotonic() < end:
    if rate and sent > rate * (time.monotonic() - start):
        time.sleep(0.001)
        continue
    for s in socks[:100] if rate else socks:
        try:
            s.sendto(request, target)
            sent += 1
        except BlockingIOError:
            pass
print("sent", sent, flush=True)
"""


def asan_build():
    """Decided from the binary itself (it links libasan)."""
    with open(udpx_binary(), "rb") as f:
        return b"libasan.so" in f.read()


class Flood:
    def __init__(self, test, port, seconds, limit=5_000_000):
        # NOTE: the ASan build (Debug, unoptimised) handles a tenth of the normal build's rate: an
        # unpaced flood overflows the socket's receive queue in the kernel, where udpx cannot
        # tell the legitimate client from the flood. Paced there, it still floods 100 times the limit.
        rate = 5000 if asan_build() else 0
        self.proc = subprocess.Popen([sys.executable, "-c", FLOOD_SCRIPT, "127.0.0.1", str(port), str(seconds),
                                      str(limit), FLOOD_SOURCE, str(rate)], stdout=subprocess.PIPE, text=True)
        test.addCleanup(self.stop)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise AssertionError(f"the flood did not start: {line!r}")

    def wait(self, timeout):
        out, _ = self.proc.communicate(timeout=timeout)
        return int(out.split()[-1])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class LegitimateClient(threading.Thread):
    """Asks every 50 ms from GOOD_SOURCE, each request with its own transmit timestamp."""

    def __init__(self, port, count):
        super().__init__(daemon=True)
        self.port, self.count = port, count
        self.answered = 0

    def run(self):
        client = Client(GOOD_SOURCE)
        try:
            for _ in range(self.count):
                started = time.monotonic()
                request, transmit = ntp_request()
                try:
                    if ntp_fields(client.ask(request, ("127.0.0.1", self.port), timeout=1.0))["origin"] == transmit:
                        self.answered += 1
                except AssertionError:
                    pass
                time.sleep(max(0.0, 0.05 - (time.monotonic() - started)))
        finally:
            client.close()


class RateLimits(UdpxTestCase):
    def setUp(self):
        super().setUp()
        self.server = ChronyServer(self)
        self.port = free_port()

    def config(self, **frontend):
        return render_config(
            frontends={"ntp": {"listen": [f"127.0.0.1:{self.port}"], "preset": "ntp", "backend": "time",
                               "allow": ["127.0.0.0/8"], **frontend}},
            backends={"time": {"servers": [self.server.text], "health": NO_PROBES}})

    def test_FloodFromOneAddressIsLimitedWhileAnotherIsServed(self):
        udpx = self.start_udpx(self.config())  # the ntp preset's defaults: 50/s per address
        config_path = self.path("udpx.toml")
        flood = Flood(self, self.port, seconds=5)
        good = LegitimateClient(self.port, count=100)  # 5 s
        good.start()
        # udpx answers `udpx status` during the flood, and names the flooding address.
        time.sleep(1.5)
        started = time.monotonic()
        code, out = self.run_status(config_path, timeout=10)
        status_s = time.monotonic() - started
        good.join(timeout=30)
        sent = flood.wait(timeout=30)
        self.assertFalse(good.is_alive())
        self.assertIn(code, (0, 1), out)
        self.assertIn("rate-limited", out)
        self.assertIn(FLOOD_SOURCE + " (", out, out)
        self.assertIn("raise frontend.ntp.rate_limit", out)
        self.assertGreaterEqual(good.answered, 99, f"{good.answered} of 100 legitimate requests answered")
        frontend = self.wait_for_stats(udpx, lambda s: frontend_stats(s, "ntp")["received"] >= 100 + sent * 0.5,
                                       "the flood to be counted")["frontends"]["ntp"]
        limited = frontend["dropped"]["rate_limited"]
        # Everything beyond the flood's burst (100) and rate (50/s for ~5 s) was refused.
        print(f"flood: {sent} sent, {frontend['received']} received, {limited} rate_limited, "
              f"{frontend['forwarded']} forwarded; status answered in {status_s:.2f}s", file=sys.stderr)
        self.assertGreater(sent, 10000, "the flood is a flood")
        self.assertLessEqual(frontend["forwarded"], 100 + 100 + 50 * 7, frontend)
        self.assertGreater(limited, frontend["received"] - frontend["forwarded"] - 10, frontend)
        self.assertLess(status_s, 5.0)
        self.assertTrue(udpx.running())

    def test_ChronyClientMeasuresThroughUdpxDuringAFlood(self):
        self.start_udpx(self.config())
        flood = Flood(self, self.port, seconds=8)
        code, out = chrony_client_query(self, "127.0.0.1", self.port)
        flood.wait(timeout=30)
        self.assertEqual(code, 0, f"chronyd -Q failed during the flood:\n{out}")
        self.assertIn("System clock wrong by", out)

    def chrony_backs_off(self, kod):
        """A chronyd client polling every second through udpx limited to 1 request a minute;
        returns (its requests per second while it ran, its output, kod_sent, rate_limited)."""
        self.port = free_port()
        udpx = self.start_udpx(self.config(rate_limit="1/min", rate_burst=1, kod=kod), name=f"udpx-kod-{kod}")
        argv = [tool("chronyd"), "-Q", "-u", "root", "-t", "12", "-f", "/dev/null",
                f"pidfile {self.path(f'chronyd-kod-{kod}.pid')}", "cmdport 0",
                f"server 127.0.0.1 port {self.port} minpoll 0 maxpoll 0 iburst maxsamples 20"]
        started = time.monotonic()
        code, out, err = self.run_tool(argv, timeout=40)
        ran_s = time.monotonic() - started
        frontend = frontend_stats(udpx.stats(), "ntp")
        udpx.stop()
        return frontend["received"] / ran_s, out + err, frontend["kod_sent"], frontend["dropped"]["rate_limited"]

    def test_KissOfDeathMakesARealChronyClientBackOff(self):
        # Without a kiss, chronyd (iburst) retries every second or faster, and gives up after a few
        # seconds; with one, it logs it and waits 4 polls before each next request.
        with_kod, log, kod_sent, limited = self.chrony_backs_off(True)
        self.assertIn("Received KoD RATE from 127.0.0.1", log, log)
        self.assertGreaterEqual(kod_sent, 1)
        self.assertEqual(kod_sent, limited, "every refused request got its kiss (far below their own limit)")
        without, log_without, kod_none, _ = self.chrony_backs_off(False)
        self.assertEqual(kod_none, 0)
        self.assertNotIn("KoD", log_without)
        print(f"chronyd requests per second: {with_kod:.2f} with kod, {without:.2f} without", file=sys.stderr)
        self.assertLess(with_kod * 3, without, f"chronyd backed off: {with_kod:.2f}/s with kod, {without:.2f}/s without")

    def test_ReloadKeepsTheBuckets(self):
        os.chmod(self.tmp, 0o755)  # the binder, dropped to nobody, reads the config here on reload
        udpx = self.start_udpx(self.config(rate_limit="1/min", rate_burst=3))
        client = self.new_client(GOOD_SOURCE)
        for _ in range(3):
            request, transmit = ntp_request()
            self.assertEqual(ntp_fields(client.ask(request, ("127.0.0.1", self.port)))["origin"], transmit)
        client.send(ntp_request()[0], ("127.0.0.1", self.port))
        client.expect_silence()
        # Another rate (still empty for this client: its bucket stays), and another timeout.
        with open(self.path("udpx.toml"), "w") as f:
            f.write(self.config(rate_limit="2/min", rate_burst=3, session_timeout="3s"))
        os.chmod(self.path("udpx.toml"), 0o644)
        before = udpx.log().count(": reloaded ")
        udpx.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: udpx.log().count(": reloaded ") > before, 10, "the reload")
        client.send(ntp_request()[0], ("127.0.0.1", self.port))
        client.expect_silence()
        frontend = frontend_stats(udpx.stats(), "ntp")
        self.assertEqual(frontend["dropped"]["rate_limited"], 2, "a fresh bucket would have let it pass")
        self.assertEqual(frontend["forwarded"], 3)
        # A client the limiter has not seen has its full burst.
        other = self.new_client("127.0.0.4")
        request, transmit = ntp_request()
        self.assertEqual(ntp_fields(other.ask(request, ("127.0.0.1", self.port)))["origin"], transmit)


if __name__ == "__main__":
    main()
