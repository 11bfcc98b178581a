"""debian/postinst's own part (issue 16): a dpkg-statoverride of /usr/sbin/udpx is the
administrator's choice to let a group start udpx, and the postinst gives the upgraded binary its
file capability back (dpkg keeps owner, group and mode, not the capability) unless the override
is set-user-ID root. Run from the source tree with stand-ins for dpkg-statoverride and setcap
on PATH (they record their arguments); #DEBHELPER# is a comment there, so nothing else runs and
nothing on the machine changes. The built package's postinst is checked by test_package.py.
"""

import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import REPO, main

POSTINST = os.path.join(REPO, "debian", "postinst")


class PostinstFileCapability(unittest.TestCase):

    def setUp(self):
        self.bin = tempfile.mkdtemp(prefix="udpx-postinst-")
        self.addCleanup(subprocess.run, ["rm", "-rf", self.bin])
        self.calls = os.path.join(self.bin, "calls")

    def stand_in(self, name, body):
        path = os.path.join(self.bin, name)
        with open(path, "w") as f:
            f.write(f"#!/bin/sh\necho \"{name} $*\" >> {self.calls}\n{body}\n")
        os.chmod(path, 0o755)

    def run_postinst(self, override, with_setcap=True, action="configure"):
        """override: the line dpkg-statoverride --list prints, or None (no override: exit 1)."""
        self.stand_in("dpkg-statoverride", f"echo '{override}'" if override else "exit 1")
        if with_setcap:
            self.stand_in("setcap", "exit 0")
        done = subprocess.run(["/bin/sh", POSTINST, action, "0.1.0"], capture_output=True, text=True, timeout=30,
                              env={"PATH": f"{self.bin}:/usr/bin:/bin"})
        calls = []
        if os.path.exists(self.calls):
            with open(self.calls) as f:
                calls = f.read().splitlines()
        return done.returncode, done.stderr, calls

    def test_AStatoverrideGetsTheCapabilityBack(self):
        code, err, calls = self.run_postinst("root udpx-users 750 /usr/sbin/udpx")
        self.assertEqual(code, 0, err)
        self.assertEqual(calls, ["dpkg-statoverride --list /usr/sbin/udpx",
                                 "setcap cap_net_bind_service=+ep /usr/sbin/udpx"])

    def test_ASetuidRootStatoverrideGetsNone(self):
        for mode in ("4750", "6755"):
            if os.path.exists(self.calls):
                os.unlink(self.calls)
            code, err, calls = self.run_postinst(f"root udpx-users {mode} /usr/sbin/udpx")
            self.assertEqual(code, 0, err)
            self.assertEqual(calls, ["dpkg-statoverride --list /usr/sbin/udpx"], mode)

    def test_NoStatoverrideNoCapability(self):
        code, err, calls = self.run_postinst(None)
        self.assertEqual(code, 0, err)
        self.assertEqual(calls, ["dpkg-statoverride --list /usr/sbin/udpx"])

    def test_WithoutSetcapItSaysHowAndSucceeds(self):
        code, err, calls = self.run_postinst("root udpx-users 750 /usr/sbin/udpx", with_setcap=False)
        self.assertEqual(code, 0, err)
        self.assertIn("setcap (package libcap2-bin) is not installed", err)
        self.assertIn("apt install libcap2-bin && setcap cap_net_bind_service=+ep /usr/sbin/udpx", err)

    def test_OnlyOnConfigure(self):
        code, err, calls = self.run_postinst("root udpx-users 750 /usr/sbin/udpx", action="abort-upgrade")
        self.assertEqual(code, 0, err)
        self.assertEqual(calls, [])


if __name__ == "__main__":
    main()
