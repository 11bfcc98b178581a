"""contrib/systemd: the unit files pass `systemd-analyze verify` without a single complaint
(unknown keys and bad values are only warnings there, so any output is a failure here).
ExecStart= is pointed at the binary under test, which must exist for verify to pass.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import REPO, UdpxTestCase, main, tool, udpx_binary

UNITS = os.path.join(REPO, "contrib", "systemd")


class SystemdUnits(UdpxTestCase):

    def verify(self, *names):
        paths = []
        for name in names:
            with open(os.path.join(UNITS, name)) as f:
                text = f.read().replace("/usr/sbin/udpx", udpx_binary())
            path = self.path(os.path.basename(name))
            with open(path, "w") as f:
                f.write(text)
            paths.append(path)
        done = subprocess.run([tool("systemd-analyze"), "verify"] + paths, capture_output=True, text=True,
                              timeout=60, cwd=self.tmp)
        return done.returncode, (done.stdout + done.stderr).strip()

    def test_ServiceVerifiesCleanly(self):
        self.assertEqual(self.verify("udpx.service"), (0, ""))

    def test_SocketActivatedPairVerifiesCleanly(self):
        self.assertEqual(self.verify("socket-activated/udpx.socket", "socket-activated/udpx.service"), (0, ""))

    def test_BothServicesReloadThroughUdpxReload(self):
        # systemctl reload waits for the outcome: a refused config fails the reload job.
        for name in ("udpx.service", "socket-activated/udpx.service"):
            with open(os.path.join(UNITS, name)) as f:
                lines = [l.strip() for l in f if l.startswith("ExecReload=")]
            self.assertEqual(lines, ["ExecReload=/usr/sbin/udpx reload -c /etc/udpx/udpx.toml"], name)

    def test_VerifyReportsAMistake(self):
        # The check above can fail: a misspelt hardening key is reported.
        os.makedirs(self.path("bad"))
        with open(os.path.join(UNITS, "udpx.service")) as f:
            text = f.read().replace("ProtectSystem=strict", "ProtectSytem=strict")
        path = self.path("bad/udpx.service")
        with open(path, "w") as f:
            f.write(text.replace("/usr/sbin/udpx", udpx_binary()))
        done = subprocess.run([tool("systemd-analyze"), "verify", path], capture_output=True, text=True, timeout=60)
        self.assertIn("Unknown key 'ProtectSytem'", done.stdout + done.stderr)

    def test_HardeningDirectivesArePresent(self):
        with open(os.path.join(UNITS, "udpx.service")) as f:
            service = f.read()
        for line in ("NoNewPrivileges=yes", "ProtectSystem=strict", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
                     "CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID CAP_SETPCAP CAP_SYS_CHROOT",
                     "SystemCallArchitectures=native", "MemoryDenyWriteExecute=yes"):
            self.assertIn(line + "\n", service)
        with open(os.path.join(UNITS, "socket-activated", "udpx.service")) as f:
            activated = f.read()
        for line in ("CapabilityBoundingSet=", "DynamicUser=yes", "NoNewPrivileges=yes", "Requires=udpx.socket"):
            self.assertIn(line + "\n", activated)


if __name__ == "__main__":
    main()
