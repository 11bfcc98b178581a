"""Secure start (issue 16): udpx installed setuid root or with a file capability and started by an
ordinary user (nobody, via setpriv). A copy of the binary in a temporary directory that only root
may change (not under /tmp: /tmp is writable by everyone, which the trusted-path check refuses),
its configuration root-owned beside it; the copies that serve run in a network namespace of
their own, so port 123 is theirs, in front of a real chronyd there, and a real client (ntpdig)
gets time through them.

CI runs as root: these tests need it (setuid copies, setcap, namespaces) and fail, not skip,
without it.
"""

import grp
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (REPO, Process, UdpxTestCase, children, main, proc_status, render_config, tool, udpx_binary, unique_tag,
                      wait_until)

CAP_NET_BIND_SERVICE = 1 << 10
NOBODY = pwd.getpwnam("nobody")
NOGROUP = grp.getgrgid(NOBODY.pw_gid)
CHRONY_PORT = 11123


def sanitizer_build():
    with open(udpx_binary(), "rb") as f:
        return b"libasan.so" in f.read()


def trusted_chain(path):
    """True if path and every directory above it are root-owned and writable by no one else."""
    path = os.path.realpath(path)
    while True:
        st = os.lstat(path)
        if st.st_uid != 0 or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return False
        if path == "/":
            return True
        path = os.path.dirname(path)


def trusted_parent():
    """Where the temporary install goes: the build directory when its whole chain is root's,
    else /run (root's, mode 0755, on every Debian machine)."""
    for candidate in (os.path.dirname(udpx_binary()), os.path.join(REPO, "build"), "/run"):
        if os.path.isdir(candidate) and trusted_chain(candidate):
            return candidate
    raise AssertionError("no directory whose every parent is root-owned and not group/other-writable")


def default_account():
    """What udpx drops to with global.user unset: "udpx" when that account exists, else nobody."""
    try:
        return pwd.getpwnam("udpx")
    except KeyError:
        return NOBODY


AS_NOBODY = [tool("setpriv"), f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}", "--clear-groups", "--"]


class SecureStartCase(UdpxTestCase):

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            raise AssertionError("secure-start tests need root (setuid copies, setcap, namespaces; CI runs as root)")
        self.install = tempfile.mkdtemp(prefix="udpx-secure-", dir=trusted_parent())
        self.addCleanup(shutil.rmtree, self.install, ignore_errors=True)
        os.chmod(self.install, 0o755)
        self.assertTrue(trusted_chain(self.install), self.install)
        self.setuid = self.copy_binary("udpx-setuid")
        os.chmod(self.setuid, 0o4755)
        self.config = self.trusted_config("udpx.toml", listen="127.0.0.1:123")

    # helpers

    def copy_binary(self, name):
        path = os.path.join(self.install, name)
        shutil.copy(udpx_binary(), path)
        os.chown(path, 0, 0)
        return path

    def config_text(self, listen, **global_):
        return render_config(frontends={"ntp": {"listen": [listen], "preset": "ntp", "backend": "b"}},
                             backends={"b": {"servers": [f"127.0.0.1:{CHRONY_PORT}"]}},
                             global_={"log_level": "debug", **global_})

    def trusted_config(self, name, listen="127.0.0.1:123", directory=None, **global_):
        path = os.path.join(directory or self.install, name)
        with open(path, "w") as f:
            f.write(self.config_text(listen, **global_))
        os.chown(path, 0, 0)
        os.chmod(path, 0o644)
        return path

    def run_as_nobody(self, argv, env=None, timeout=30):
        """Runs argv as nobody to its end; returns (exit code, stdout + stderr)."""
        try:
            done = subprocess.run(AS_NOBODY + argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                                  cwd="/", env=env)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{' '.join(argv)} did not finish within {timeout}s")
        return done.returncode, done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")

    def assertRefused(self, argv, *wanted, env=None):
        code, out = self.run_as_nobody(argv, env=env)
        self.assertEqual(code, 1, out)
        for w in wanted:
            self.assertIn(w, out)
        self.assertNotIn("configuration OK", out)
        self.assertNotIn("ready", out)
        self.assertNotIn("binder: worker started", out)
        return out


class InNamespace(SecureStartCase):
    """A network namespace of the test's own, loopback only, with chronyd on 127.0.0.1:11123."""

    def setUp(self):
        super().setUp()
        self.ns = f"udpxss-{unique_tag('ss')[-8:]}"
        self.ip("netns", "add", self.ns)
        self.addCleanup(subprocess.run, [tool("ip"), "netns", "del", self.ns], capture_output=True)
        self.ip("-n", self.ns, "link", "set", "lo", "up")
        conf = self.write_file("chronyd.conf", "\n".join([
            f"port {CHRONY_PORT}", "bindaddress 127.0.0.1", "cmdport 0", "local stratum 8", "allow 127.0.0.0/8",
            f"pidfile {self.path('chronyd.pid')}", ""]))
        self.chronyd = self.start_process("chronyd", self.in_ns([tool("chronyd"), "-x", "-d", "-u", "root", "-f", conf]))
        wait_until(self.chronyd_answers, 20, "chronyd in the namespace to answer")

    def ip(self, *args):
        done = subprocess.run([tool("ip")] + list(args), capture_output=True, text=True, timeout=30)
        self.assertEqual(done.returncode, 0, f"ip {' '.join(args)}: {done.stderr}")

    def in_ns(self, argv):
        return [tool("ip"), "netns", "exec", self.ns] + argv

    def chronyd_answers(self):
        """chronyd -Q asks the namespace's chronyd on its own port (ntpdig asks only port 123)."""
        argv = [tool("chronyd"), "-Q", "-u", "root", "-t", "2", "-f", "/dev/null", "cmdport 0",
                f"pidfile {self.path('chronyd-q.pid')}", f"server 127.0.0.1 port {CHRONY_PORT} iburst maxsamples 1"]
        return subprocess.run(self.in_ns(argv), capture_output=True, timeout=30).returncode == 0

    def ntpdig_line(self):
        """One ntpdig query to 127.0.0.1:123 in the namespace (only udpx listens there): its
        output, or None."""
        done = subprocess.run(self.in_ns([tool("ntpdig"), "-t", "1", "127.0.0.1"]), capture_output=True, text=True,
                              timeout=30)
        return done.stdout if done.returncode == 0 and "127.0.0.1" in done.stdout else None

    def start_secure(self, binary, config, env=None, name="udpx"):
        """binary -c config as nobody in the namespace; waits for 'ready'."""
        udpx = Process(name, self.in_ns(AS_NOBODY + [binary, "-c", config]), self.tmp, env=env)
        self.processes.append(udpx)
        self.addCleanup(udpx.terminate)

        def ready():
            if "ready:" in udpx.log():
                return True
            if not udpx.running():
                raise AssertionError(f"{name} exited with {udpx.proc.returncode} before ready:\n{udpx.log()}")
            return False
        wait_until(ready, 20, f"{name} to be ready")
        return udpx

    def worker_of(self, binder):
        kids = wait_until(lambda: children(binder.pid), 5, "the binder to have a worker")
        self.assertEqual(len(kids), 1, kids)
        return kids[0]

    def assertStopsCleanly(self, udpx):
        """SIGTERM: binder and worker exit 0 (under AddressSanitizer: the leak check ran in both)."""
        code, clean = udpx.terminate()
        self.assertTrue(clean, udpx.log())
        self.assertEqual(code, 0, udpx.log())
        self.assertIn("binder: worker exited with status 0; stopping", udpx.log())
        self.assertNotIn("LeakSanitizer", udpx.log())
        self.assertNotIn("ERROR: AddressSanitizer", udpx.log())

    def assertServesNtp(self):
        line = wait_until(self.ntpdig_line, 20, "ntpdig to get time through udpx on 127.0.0.1:123")
        self.assertIn("127.0.0.1", line)

    def assertWorkerConfined(self, status, account):
        for field, want in (("Uid", account.pw_uid), ("Gid", account.pw_gid)):
            self.assertEqual(status[field].split(), [str(want)] * 4, f"{field}: {status[field]}")
        self.assertEqual(status["Groups"].strip(), "")
        for field in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
            self.assertEqual(int(status[field], 16), 0, f"{field}: {status[field]}")
        self.assertEqual(status["NoNewPrivs"], "1")
        self.assertEqual(status["Seccomp"], "0" if sanitizer_build() else "2")


class SetuidRootCopy(InNamespace):

    def test_StartedByNobodyServesNtpOnPort123AndEndsUnprivileged(self):
        udpx = self.start_secure(self.setuid, self.config)
        self.assertServesNtp()
        account = default_account()
        worker = self.worker_of(udpx)
        self.assertWorkerConfined(proc_status(worker), account)
        binder = proc_status(udpx.pid)
        # Every id the binder has is the account's: the real uid went to root and then to the
        # account, so nothing of the caller's (uid 65534 as a *caller*) is left but by coincidence.
        self.assertEqual(binder["Uid"].split(), [str(account.pw_uid)] * 4)
        self.assertEqual(binder["Gid"].split(), [str(account.pw_gid)] * 4)
        self.assertEqual(binder["Groups"].strip(), "")
        self.assertEqual(int(binder["CapEff"], 16), CAP_NET_BIND_SERVICE, binder["CapEff"])
        self.assertEqual(int(binder["CapPrm"], 16), CAP_NET_BIND_SERVICE, binder["CapPrm"])
        self.assertEqual(int(binder["CapAmb"], 16), 0)
        self.assertEqual(binder["NoNewPrivs"], "1")
        log = udpx.log()
        self.assertIn(f"secure start: udpx is set-user-ID root and was started by uid {NOBODY.pw_uid}", log)
        self.assertIn(f"binder now runs as {account.pw_name}:", log)
        self.assertEqual(log.count("secure start: udpx is"), 1, log)
        self.assertStopsCleanly(udpx)

    def test_WorkerAndBinderBecomeTheConfiguredUserNotTheCaller(self):
        # global.user names an account other than the caller's: only a start that became root
        # wholly can hand both processes to it (a worker started with the caller's real uid
        # would stay the caller).
        daemon = pwd.getpwnam("daemon")
        config = self.trusted_config("daemon.toml", user="daemon")
        udpx = self.start_secure(self.setuid, config)
        self.assertServesNtp()
        self.assertWorkerConfined(proc_status(self.worker_of(udpx)), daemon)
        self.assertEqual(proc_status(udpx.pid)["Uid"].split(), [str(daemon.pw_uid)] * 4)

    def test_ReloadReadsTheFileThroughTheSameCheck(self):
        udpx = self.start_secure(self.setuid, self.config)
        with open(self.config) as f:
            text = f.read().replace('preset = "ntp"\n', 'preset = "ntp"\nsession_timeout = "3s"\n', 1)
        with open(self.config, "w") as f:
            f.write(text)
        os.kill(udpx.pid, signal.SIGHUP)
        wait_until(lambda: "binder: the worker applied" in udpx.log(), 10, f"the reload to apply:\n{udpx.log()}")
        os.chown(self.config, NOBODY.pw_uid, NOBODY.pw_gid)
        os.kill(udpx.pid, signal.SIGHUP)
        wait_until(lambda: "binder: the worker refused" in udpx.log(), 10, f"the reload to be refused:\n{udpx.log()}")
        self.assertIn(f"cannot reload (secure start): {self.config} is owned by uid {NOBODY.pw_uid}, not root",
                      udpx.log())
        self.assertServesNtp()

    def test_TestHookIsIgnoredAndSaidSo(self):
        env = dict(os.environ, UDPX_TEST_HOOK="forbidden-syscall")
        udpx = self.start_secure(self.setuid, self.config, env=env)
        worker = self.worker_of(udpx)
        self.assertServesNtp()
        self.assertIn("secure start: UDPX_TEST_HOOK is ignored", udpx.log())
        self.assertNotIn("test hook", udpx.log().replace("test hooks are", ""))
        # The hook would have had the kernel kill the worker: it is the same one, alive.
        self.assertEqual(self.worker_of(udpx), worker)
        self.assertTrue(udpx.running())

    def test_NotifySocketIsIgnored(self):
        sock = self.path("notify.sock")
        env = dict(os.environ, NOTIFY_SOCKET=sock)
        udpx = self.start_secure(self.setuid, self.config, env=env)
        self.assertIn("secure start: NOTIFY_SOCKET is ignored", udpx.log())
        self.assertServesNtp()

    def test_StatusByTheCallerAnswers(self):
        self.start_secure(self.setuid, self.config)
        done = subprocess.run(self.in_ns(AS_NOBODY + [self.setuid, "status", "-c", self.config]), capture_output=True,
                              text=True, timeout=30)
        self.assertIn("ntp", done.stdout + done.stderr)
        self.assertIn(done.returncode, (0, 1), done.stdout + done.stderr)


class FileCapabilityCopy(InNamespace):

    def test_StartedByNobodyBindsPort123AndRunsAsNobody(self):
        filecap = self.copy_binary("udpx-filecap")
        os.chmod(filecap, 0o755)
        done = subprocess.run([tool("setcap"), "cap_net_bind_service=+ep", filecap], capture_output=True, text=True)
        self.assertEqual(done.returncode, 0, done.stderr)
        udpx = self.start_secure(filecap, self.config)
        self.assertServesNtp()
        binder = proc_status(udpx.pid)
        self.assertEqual(binder["Uid"].split(), [str(NOBODY.pw_uid)] * 4)
        self.assertEqual(int(binder["CapEff"], 16), CAP_NET_BIND_SERVICE, binder["CapEff"])
        self.assertWorkerConfined(proc_status(self.worker_of(udpx)), NOBODY)
        self.assertIn("secure start: udpx is installed with file capabilities", udpx.log())
        self.assertStopsCleanly(udpx)


class SetgidCopy(InNamespace):

    def test_GroupIdsGoBackToTheCallersBeforeTheStart(self):
        # set-group-ID root's group: nothing udpx needs, and gid 0 would open root's group files.
        setgid = self.copy_binary("udpx-setgid")
        os.chmod(setgid, 0o2755)
        config = self.trusted_config("high.toml", listen="127.0.0.1:1123")
        udpx = self.start_secure(setgid, config)
        status = proc_status(udpx.pid)
        self.assertEqual(status["Gid"].split(), [str(NOBODY.pw_gid)] * 4, status["Gid"])
        self.assertEqual(status["Uid"].split(), [str(NOBODY.pw_uid)] * 4, status["Uid"])
        self.assertEqual(children(udpx.pid), [], "started without privilege to bind: one process")
        self.assertIn("secure start: udpx is installed with file capabilities (or set-group-ID)", udpx.log())


class Refusals(SecureStartCase):
    """Nothing of these starts binds anything, so they need no namespace."""

    def test_CheckAcceptsTheTrustedConfig(self):
        code, out = self.run_as_nobody([self.setuid, "check", "-c", self.config])
        self.assertEqual(code, 0, out)
        self.assertIn("configuration OK", out)

    def test_RefusesConfigOwnedByNobody(self):
        os.chown(self.config, NOBODY.pw_uid, NOBODY.pw_gid)
        for mode in ("check", "run"):
            self.assertRefused([self.setuid, mode, "-c", self.config],
                               f"{self.config} is owned by uid {NOBODY.pw_uid}, not root")

    def test_RefusesConfigInGroupWritableDirectory(self):
        sub = os.path.join(self.install, "conf")
        os.mkdir(sub)
        os.chmod(sub, 0o775)
        config = self.trusted_config("udpx.toml", directory=sub)
        self.assertRefused([self.setuid, "-c", config], f"directory {sub} is writable by its group (mode 0775)")

    def test_RefusesConfigWritableByOthers(self):
        os.chmod(self.config, 0o646)
        self.assertRefused([self.setuid, "check", "-c", self.config], "is writable by others (mode 0646)")

    def test_RefusesSymbolicLinkToTrustedConfig(self):
        link = os.path.join(self.install, "link.toml")
        os.symlink(self.config, link)
        self.assertRefused([self.setuid, "check", "-c", link], f"{link} is a symbolic link")

    def test_RefusesConfigUnderTmp(self):
        out = self.assertRefused([self.setuid, "check", "-c", self.path("udpx.toml")], "directory /tmp is writable")
        self.assertNotIn(self.config_text("127.0.0.1:123").splitlines()[0], out)

    def test_DirectoryTheCallerCannotSearchIsRefused(self):
        # Walked with the caller's file-system ids: root could read this file, nobody cannot
        # reach it, so udpx must not either (else it answers questions about root's files).
        private = os.path.join(self.install, "private")
        os.mkdir(private)
        os.chmod(private, 0o700)
        config = self.trusted_config("udpx.toml", directory=private)
        self.assertRefused([self.setuid, "check", "-c", config], f"{config}: Permission denied")

    def test_RefusesRelativePath(self):
        self.assertRefused([self.setuid, "check", "-c", "udpx.toml"], "\"udpx.toml\" is not an absolute path")

    def test_EtcShadowIsRefusedAndNothingOfItAppears(self):
        with open("/etc/shadow", "rb") as f:
            shadow = f.read().decode(errors="replace")
        for argv in ([self.setuid, "check", "-c", "/etc/shadow"], [self.setuid, "-c", "/etc/shadow"],
                     [self.setuid, "check", "-c", "/etc/../etc/shadow"]):
            code, out = self.run_as_nobody(argv)
            self.assertEqual(code, 1, out)
            self.assertIn("secure start: configuration refused", out)
            for line in shadow.splitlines():
                fields = line.split(":")
                self.assertNotIn(line, out)
                # The password field (a hash, "*" or "!") and the dates: nothing past the name.
                rest = ":".join(fields[1:])
                if len(rest) > 4:
                    self.assertNotIn(rest, out)
            self.assertNotIn("expected", out)  # no parser message about the file's text
        self.assertIn("/etc/shadow is not readable by every user", self.run_as_nobody(
            [self.setuid, "check", "-c", "/etc/shadow"])[1])

    def test_RefusesSocketActivation(self):
        env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID="1")
        self.assertRefused([self.setuid, "-c", self.config], "a secure start refuses socket activation", env=env)

    def test_RefusesListenFdFlag(self):
        self.assertRefused([self.setuid, "-c", self.config, "--listen-fd", "ntp=0"],
                           "--listen-fd is refused in a secure start")

    def test_RefusesPresetFlags(self):
        self.assertRefused([self.setuid, "--preset", "ntp", "--listen", "127.0.0.1:22", "--upstream", "127.0.0.1"],
                           "--preset is refused in a secure start")

    def test_WorkerModeStartedByHandBecomesTheCaller(self):
        # --worker-fd reads its config and the account to drop to from a descriptor: started by
        # hand, the caller would choose both. It becomes the caller wholly before reading: seen
        # while it waits for the handover on a socket that never sends one.
        import socket
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.addCleanup(ours.close)
        proc = subprocess.Popen(AS_NOBODY + [self.setuid, "--worker-fd", str(theirs.fileno())],
                                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, cwd="/")
        theirs.close()
        try:
            # no_new_privs is the last step of becoming the caller (and the only one a plain
            # start of the worker would never take before its handover).
            def waiting():
                st = proc_status(proc.pid)
                return st if st.get("NoNewPrivs") == "1" else None
            status = wait_until(waiting, 10, "the hand-started worker to shed the caller's privilege")
            self.assertEqual(status["Uid"].split(), [str(NOBODY.pw_uid)] * 4)
            self.assertEqual(status["Gid"].split(), [str(NOBODY.pw_gid)] * 4)
            for field in ("CapPrm", "CapEff", "CapAmb"):
                self.assertEqual(int(status[field], 16), 0, f"{field}: {status[field]}")
            self.assertEqual(status["NoNewPrivs"], "1")
        finally:
            ours.close()
            out = proc.communicate(timeout=10)[0].decode(errors="replace")
        self.assertEqual(proc.returncode, 1, out)
        self.assertIn("worker: no configuration from the binder", out)

    def test_RootStartOfTheSameCopyIsNoSecureStart(self):
        code, out = self.run_udpx_as_root([self.setuid, "check", "-c", self.path("udpx.toml")])
        self.assertEqual(code, 1, out)  # the file does not exist: an ordinary error, no secure start
        self.assertNotIn("secure start", out)

    def run_udpx_as_root(self, argv):
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30, cwd=self.tmp)
        return done.returncode, done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")


if __name__ == "__main__":
    main()
