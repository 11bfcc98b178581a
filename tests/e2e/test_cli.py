"""udpx's command line: `check`, config error reports, --version/--help, the no-config mode,
start-up failures and clean stops."""

import os
import re
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (UdpxTestCase, free_port, free_ports, main, parse_echo, render_config)

# FILE:LINE:COL: key.path: message (hint)
ERROR_RE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<path>[^\s:]+): (?P<message>.+)$")

# What the stats JSON promises (more keys may follow).
FRONTEND_KEYS = {"received", "forwarded", "replied", "dropped", "sessions"}
DROP_REASONS = {"acl", "malformed", "wrong_kind", "control", "too_large", "no_backend", "socket_error",
                "send_error", "reply_malformed", "reply_wrong_kind", "reply_unmatched",
                "reply_too_large", "reply_unexpected"}
SESSION_KEYS = {"active", "created", "expired", "evicted", "closed"}
SERVER_KEYS = {"sessions", "forwarded", "replied", "refused", "down"}


def config_errors(output):
    return [m.groupdict() for m in map(ERROR_RE.match, output.splitlines()) if m]


class Check(UdpxTestCase):

    def full_config(self):
        """A config using every documented key."""
        v4 = free_ports(5)
        return self.write_file("good.toml", f"""\
[global]
log_level = "debug"
max_sessions = 65536
resolvers = ["127.0.0.1:53"]
status = "@udpx-e2e-{os.getpid()}-{v4[0]}"

[frontend.lan_ntp]
listen = ["127.0.0.1:{v4[0]}", "[::1]:{free_port('::1')}"]
preset = "ntp"
backend = "time"
allow = ["127.0.0.0/8", "::1/128"]
session_timeout = "300ms"
max_sessions = 4096
responses = 1

[frontend.logs]
listen = ["0.0.0.0:{free_port('0.0.0.0')}"]
preset = "syslog"
backend = "collectors"
responses = 0

[frontend.anything]
listen = ["127.0.0.1:{v4[1]}"]
backend = "collectors"
responses = "unlimited"

[backend.time]
servers = ["127.0.0.1:{v4[2]}", "127.0.0.1:{v4[3]}"]
balance = "round-robin"
fail_timeout = "10s"
on_all_down = "forward"
resolve_min = "10s"
resolve_max = "1h"

[backend.time.health]
type = "ntp"
interval = "10s"
timeout = "1s"
rise = 2
fall = 3

[backend.collectors]
servers = ["127.0.0.1:{v4[4]}"]
balance = "first"
on_all_down = "drop"

[backend.collectors.health]
type = "raw"
send = "70 69 6e 67"
expect = "706f6e67"
""")

    def test_ValidConfigIsOk(self):
        path = self.full_config()
        code, output = self.run_udpx(["check", "-c", path])

        self.assertEqual(code, 0, output)
        self.assertIn("configuration OK", output)
        self.assertEqual(config_errors(output), [])

    def test_ValidConfigRunsAndStatsListEveryFrontendAndServer(self):
        udpx = self.start_udpx(args=["-c", self.full_config()])

        stats = udpx.stats()

        self.assertEqual(set(stats["frontends"]), {"lan_ntp", "logs", "anything"})
        self.assertEqual(set(stats["backends"]), {"time", "collectors"})
        for name, frontend in stats["frontends"].items():
            with self.subTest(frontend=name):
                self.assertLessEqual(FRONTEND_KEYS, set(frontend))
                self.assertLessEqual(DROP_REASONS, set(frontend["dropped"]))
                self.assertLessEqual(SESSION_KEYS, set(frontend["sessions"]))
        self.assertEqual(len(stats["backends"]["time"]["servers"]), 2)
        for server in stats["backends"]["time"]["servers"].values():
            self.assertLessEqual(SERVER_KEYS, set(server))
            # Nothing listens there: the health probes may already have found that out.
            self.assertIsInstance(server["down"], bool)

    def test_EveryErrorIsReportedWithItsPosition(self):
        # Keys indented differently so a column that points elsewhere cannot pass by chance.
        ports = free_ports(3)
        path = self.write_file("broken.toml", f"""\
[global]
log_level = "info"

[frontend.good]
listen = ["127.0.0.1:{ports[0]}"]
backend = "pool"

[frontend.web]
listen = ["127.0.0.1:{ports[1]}"]
  backend = "nowhere"
    session_timeout = "5 parsecs"
      sesion_timeout = "1s"

[backend.pool]
servers = ["127.0.0.1:{ports[2]}"]
""")
        code, output = self.run_udpx(["check", "-c", path])

        self.assertEqual(code, 1, output)
        self.assertNotIn("configuration OK", output)
        errors = {e["path"]: e for e in config_errors(output)}
        self.assertEqual(set(errors), {"frontend.web.backend", "frontend.web.session_timeout",
                                       "frontend.web.sesion_timeout"}, output)
        for e in errors.values():
            self.assertEqual(e["file"], path, output)
            self.assertTrue(e["message"].strip(), output)
        # line, and the columns accepted: where the key starts or where its value starts
        expected = {"frontend.web.sesion_timeout": (12, {7}),        # unknown key: the key itself
                    "frontend.web.session_timeout": (11, {5, 23}),   # bad duration
                    "frontend.web.backend": (10, {3, 13})}           # no such backend
        for key, (line, columns) in expected.items():
            self.assertEqual(int(errors[key]["line"]), line, f"{key}:\n{output}")
            self.assertIn(int(errors[key]["col"]), columns, f"{key}:\n{output}")

    def test_TomlSyntaxErrorReportsItsLine(self):
        path = self.write_file("syntax.toml", f"""\
[global]
log_level = "info"

[frontend.f]
preset = "ntp
listen = ["127.0.0.1:{free_port()}"]
backend = "b"

[backend.b]
servers = ["127.0.0.1:{free_port()}"]
""")
        code, output = self.run_udpx(["check", "-c", path])

        self.assertEqual(code, 1, output)
        self.assertRegex(output, re.escape(path) + r":5:\d+: ")
        self.assertNotIn("configuration OK", output)

    def test_RunRefusesBrokenConfig(self):
        path = self.write_file("broken.toml", f"""\
[frontend.f]
listen = ["127.0.0.1:{free_port()}"]
backend = "missing"
""")
        udpx = self.launch_udpx(args=["-c", path])

        code = udpx.wait_exit(10)

        self.assertNotEqual(code, 0)
        self.assertIn(f"{path}:3:", udpx.log() + udpx.output())
        self.assertNotRegex(udpx.log(), r"\bready\b")

    def test_AFrontendThatIsItsOwnServerIsRefusedByCheckAndStart(self):
        # One datagram would loop through udpx forever (thousands of sessions a second).
        port = free_port()
        path = self.write_file("loop.toml", f"""\
[frontend.f]
listen = ["0.0.0.0:{port}"]
backend = "b"

[backend.b]
servers = ["127.0.0.1:{port}"]
""")
        for args in (["check", "-c", path], ["-c", path]):
            with self.subTest(args=args[0]):
                code, output = self.run_udpx(args)
                self.assertEqual(code, 1, output)
                self.assertNotIn("configuration OK", output)
                errors = config_errors(output)
                self.assertEqual([(e["path"], int(e["line"]), int(e["col"])) for e in errors],
                                 [("backend.b.servers[0]", 6, 12)], output)
                self.assertIn(f"is frontend f's own listen address (0.0.0.0:{port}, 2:11)", output)
                self.assertIn("loop forever", output)

    def test_ADeviceIsRefusedAtOnce(self):
        # /dev/zero used to be read until memory ran out.
        code, output = self.run_udpx(["check", "-c", "/dev/zero"], timeout=20)
        self.assertEqual(code, 1, output)
        self.assertIn("cannot read /dev/zero: it is a character device, not a regular file", output)


class Usage(UdpxTestCase):

    def test_VersionPrintsNameAndVersion(self):
        code, output = self.run_udpx(["--version"])

        self.assertEqual(code, 0, output)
        self.assertEqual(output.strip().splitlines()[0], "udpx 0.1.0")

    def test_HelpDescribesTheOptions(self):
        code, output = self.run_udpx(["--help"])

        self.assertEqual(code, 0, output)
        for option in ("-c", "check", "--preset", "--listen", "--upstream"):
            self.assertIn(option, output)


class CommandLineProxy(UdpxTestCase):

    def test_RawPresetFromCommandLineForwardsAndReplies(self):
        upstream = self.start_upstream("echo")
        listen = ("127.0.0.1", free_port())
        udpx = self.start_udpx(args=["--preset", "raw", "--listen", f"127.0.0.1:{listen[1]}",
                                     "--upstream", upstream.text])
        client = self.new_client()

        client.send(b"hello", listen)
        reply, source = client.receive()

        self.assertEqual(parse_echo(reply)[2], b"hello")
        self.assertEqual(source, listen)
        self.assertEqual([data for data, _ in upstream.received], [b"hello"])
        frontends = udpx.stats()["frontends"]
        self.assertEqual(len(frontends), 1, frontends)
        frontend = next(iter(frontends.values()))
        self.assertEqual((frontend["received"], frontend["forwarded"], frontend["replied"]), (1, 1, 1))

    def test_PortInUseFailsNamingFrontendAndAddress(self):
        squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(squatter.close)
        squatter.bind(("127.0.0.1", 0))
        taken = f"127.0.0.1:{squatter.getsockname()[1]}"
        udpx = self.launch_udpx(render_config(
            frontends={"squatted_ntp": {"listen": [taken], "preset": "ntp", "backend": "b"}},
            backends={"b": {"servers": [f"127.0.0.1:{free_port()}"]}}))

        code = udpx.wait_exit(10)

        output = udpx.log() + udpx.output()
        self.assertNotEqual(code, 0, output)
        self.assertIn("squatted_ntp", output)
        self.assertIn(taken, output)

    def test_SignalsStopCleanly(self):
        upstream = self.start_upstream("echo")
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=sig.name):
                udpx = self.start_udpx(args=["--preset", "raw", "--listen", f"127.0.0.1:{free_port()}",
                                             "--upstream", upstream.text], name=f"udpx-{sig.name}")
                udpx.stop(sig)  # fails unless it exits 0 within the timeout


if __name__ == "__main__":
    main()
