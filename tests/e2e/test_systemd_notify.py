"""systemd's notification protocol against a fake NOTIFY_SOCKET (a unix datagram socket the test
owns): READY=1 once udpx serves, a STATUS= line that names the down server and its hint,
WATCHDOG=1 from the loop when WATCHDOG_USEC asks for it, STOPPING=1 at SIGTERM — from udpx as
one unprivileged process (abstract socket) and as binder + worker started by root (a path
socket, which the worker connected before its chroot and sandbox).

CI runs as root; the binder mode needs it and fails, not skips, without it.
"""

import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import Udpx, UdpxTestCase, free_port, main, render_config, tool, udpx_binary, unique_tag, wait_until

WAIT = 15.0  # generous: the status timer runs every 3 s, CI is noisy and may run ASan


class FakeNotifySocket:
    """A unix datagram socket that collects what udpx sends, as systemd's would."""

    def __init__(self, address):
        self.address = address  # "@name" (abstract) or a path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        if not address.startswith("@"):
            os.chmod(address, 0o777)
        self.sock.settimeout(0.1)
        self.messages = []

    def collect(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, BlockingIOError):
                return
            self.messages.append(data.decode())

    def assignments(self, key):
        """Every value given to `key` so far, in order."""
        self.collect()
        return [line[len(key) + 1:] for m in self.messages for line in m.split("\n") if line.startswith(key + "=")]

    def wait_for(self, key, predicate=lambda v: True, what=None):
        return wait_until(lambda: next((v for v in self.assignments(key) if predicate(v)), None), WAIT,
                          what or f"{key}= from udpx; got {self.messages}", interval=0.1)

    def close(self):
        self.sock.close()


class SystemdNotify(UdpxTestCase):

    def setUp(self):
        super().setUp()
        os.chmod(self.tmp, 0o755)  # udpx started as nobody reads its config here

    def start(self, notify_address, as_nobody):
        self.notify = FakeNotifySocket(notify_address)
        self.addCleanup(self.notify.close)
        self.dead = free_port()  # nothing listens: ICMP port unreachable, the server is down
        self.listen = free_port()
        config = self.write_file("udpx.toml", render_config(
            frontends={"ntp": {"listen": [f"127.0.0.1:{self.listen}"], "preset": "ntp", "backend": "ntp_up"}},
            backends={"ntp_up": {"servers": [f"127.0.0.1:{self.dead}"],
                                 "health": {"interval": "300ms", "timeout": "200ms"}}},
            global_={"log_level": "debug", **({} if as_nobody else {"user": "nobody"})}))
        env = dict(os.environ, NOTIFY_SOCKET=notify_address, WATCHDOG_USEC="600000")
        env.pop("WATCHDOG_PID", None)
        argv = [udpx_binary(), "-c", config]
        if as_nobody and os.geteuid() == 0:
            argv = [tool("setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups", "--"] + argv
        udpx = Udpx("udpx", argv, self.tmp, env=env)
        self.processes.append(udpx)
        self.addCleanup(self._stop_udpx, udpx)
        udpx.wait_ready()
        return udpx

    def check_notifications(self, udpx):
        self.notify.wait_for("READY", lambda v: v == "1")
        first = self.notify.assignments("STATUS")
        self.assertTrue(first, self.notify.messages)
        self.assertRegex(first[0], r"^serving 1 frontend, \d+ clients?; ")
        down = self.notify.wait_for(
            "STATUS", lambda v: f"server 127.0.0.1:{self.dead}" in v,
            f"a STATUS= naming the down server 127.0.0.1:{self.dead}; got {self.notify.assignments('STATUS')}")
        self.assertIn("problem", down)
        self.assertIn("refused", down)
        self.assertIn("chrony", down)  # the hint names the usual causes
        self.assertNotIn("\n", down)
        # Sent when it changes, not on every tick: no two equal lines in a row.
        statuses = self.notify.assignments("STATUS")
        self.assertFalse([a for a, b in zip(statuses, statuses[1:]) if a == b], statuses)
        wait_until(lambda: len(self.notify.assignments("WATCHDOG")) >= 3, WAIT,
                   f"three WATCHDOG=1 pings; got {self.notify.messages}", interval=0.1)
        udpx.stop()
        self.notify.wait_for("STOPPING", lambda v: v == "1")

    def test_OneProcessNotifiesAnAbstractSocket(self):
        udpx = self.start("@" + unique_tag("udpx-notify"), as_nobody=True)
        self.check_notifications(udpx)

    def test_BinderAndWorkerNotifyAPathSocket(self):
        if os.geteuid() != 0:
            raise AssertionError("the binder mode needs root (CI runs as root)")
        udpx = self.start(self.path("notify.sock"), as_nobody=False)
        self.check_notifications(udpx)


if __name__ == "__main__":
    main()
