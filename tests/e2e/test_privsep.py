"""Privilege separation end to end: the binder and the worker as the kernel sees them
(/proc/PID/status, open fds), what the worker can no longer do, how either process's death is
handled, the sandbox killing a forbidden system call, socket activation, --listen-fd, and udpx
started as an ordinary user.

CI runs as root; these tests need root (they start udpx as root, or hand it a port below 1024)
and fail, not skip, without it.
"""

import os
import pwd
import grp
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (Udpx, UdpxTestCase, children, free_port, proc_status, frontend_stats, main, parse_echo, render_config, tail,
                      tool, udpx_binary, wait_until)

CAP_NET_BIND_SERVICE = 1 << 10


def sanitizer_build():
    """An AddressSanitizer build skips seccomp (its leak check at exit needs clone, ptrace, /proc).
    Decided from the binary itself, not from what udpx logs, so a normal build can never pass
    the seccomp checks by skipping them."""
    with open(udpx_binary(), "rb") as f:
        return b"libasan.so" in f.read()
NOBODY = pwd.getpwnam("nobody")
NOGROUP = grp.getgrgid(NOBODY.pw_gid)


def random_loopback():
    """A random 127.x.y.z address: port 123 on it is free whatever else runs on this machine."""
    import random
    return f"127.{random.randrange(1, 255)}.{random.randrange(1, 255)}.{random.randrange(2, 255)}"


class PrivsepTestCase(UdpxTestCase):

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            raise AssertionError("privilege separation tests need root (CI runs as root)")
        os.chmod(self.tmp, 0o755)  # udpx started as nobody reads its config here

    def echo_config(self, listen, upstream, **global_):
        return render_config(
            frontends={"f": {"listen": listen, "preset": "raw", "backend": "b"}},
            backends={"b": {"servers": [upstream.text]}},
            global_={"log_level": "debug", **global_})

    def start_privileged(self, env_extra=None, listen=None, user="nobody", **global_):
        """udpx as root (binder + worker) with user nobody (user=None: udpx's default account), in
        front of an echo upstream."""
        self.upstream = self.start_upstream("echo")
        self.port = free_port()
        self.listen = listen or [f"127.0.0.1:{self.port}"]
        if user is not None:
            global_["user"] = user
        config = self.write_file("udpx.toml", self.echo_config(self.listen, self.upstream, **global_))
        env = dict(os.environ, **(env_extra or {}))
        udpx = Udpx("udpx", [udpx_binary(), "-c", config], self.tmp, env=env)
        self.processes.append(udpx)
        self.addCleanup(self._stop_udpx, udpx)
        udpx.wait_ready()
        return udpx

    def as_nobody(self):
        return [tool("setpriv"), f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}", "--clear-groups",
                "--inh-caps=-all", "--"]

    def spawn(self, argv, pass_fds=(), env=None):
        udpx = Udpx.__new__(Udpx)
        udpx.name = "udpx"
        udpx.argv = argv
        udpx.out_path = self.path("udpx.stdout")
        udpx.log_path = self.path("udpx.stderr")
        udpx._out = open(udpx.out_path, "wb")
        udpx._err = open(udpx.log_path, "wb")
        udpx.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=udpx._out, stderr=udpx._err,
                                     cwd=self.tmp, pass_fds=pass_fds, env=env)
        udpx.pid = udpx.proc.pid
        udpx.finished = False
        self.processes.append(udpx)
        self.addCleanup(self._stop_udpx, udpx)
        return udpx

    def worker_of(self, binder):
        kids = wait_until(lambda: children(binder.pid), 5, "the binder to have a worker")
        self.assertEqual(len(kids), 1, kids)
        return kids[0]

    def assertEchoes(self, address, payload=b"hello"):
        client = self.new_client()
        self.assertEqual(parse_echo(client.ask(payload, address))[2], payload)

    def assertSandboxedUnprivileged(self, status, uid, gid):
        for field in ("Uid", "Gid"):
            want = uid if field == "Uid" else gid
            self.assertEqual(status[field].split(), [str(want)] * 4, f"{field}: {status[field]}")
        self.assertEqual(status["Groups"].strip(), "")
        for field in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
            self.assertEqual(int(status[field], 16), 0, f"{field}: {status[field]}")
        self.assertEqual(status["NoNewPrivs"], "1")
        self.assertEqual(status["Seccomp"], "0" if sanitizer_build() else "2")


class BinderAndWorker(PrivsepTestCase):

    def test_WorkerRunsUnprivilegedInTheSandboxAndBinderKeepsOnlyBindService(self):
        udpx = self.start_privileged()
        worker = self.worker_of(udpx)

        self.assertSandboxedUnprivileged(proc_status(worker), NOBODY.pw_uid, NOBODY.pw_gid)
        binder = proc_status(udpx.pid)
        self.assertEqual(binder["Uid"].split(), [str(NOBODY.pw_uid)] * 4)
        self.assertEqual(binder["Gid"].split(), [str(NOBODY.pw_gid)] * 4)
        self.assertEqual(binder["Groups"].strip(), "")
        self.assertEqual(int(binder["CapEff"], 16), CAP_NET_BIND_SERVICE, binder["CapEff"])
        self.assertEqual(int(binder["CapPrm"], 16), CAP_NET_BIND_SERVICE, binder["CapPrm"])
        self.assertEqual(int(binder["CapInh"], 16), 0)
        self.assertEqual(int(binder["CapAmb"], 16), 0)
        self.assertEqual(binder["NoNewPrivs"], "1")
        self.assertIn(f"binder now runs as nobody:{NOGROUP.gr_name}", udpx.log())
        # And the worker does the work: the data path, the stats through the binder.
        self.assertEchoes(("127.0.0.1", self.port))
        self.assertEqual(frontend_stats(udpx.stats(), "f")["replied"], 1)

    def test_WorkerCannotBecomeRootNorBindPrivilegedPort(self):
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            start = int(f.read())
        self.assertGreaterEqual(start, 1024, "the bind check needs ports below 1024 to be privileged")
        udpx = self.start_privileged(env_extra={"UDPX_TEST_HOOK": "selfcheck"})

        log = udpx.log()
        self.assertIn("test hook selfcheck: setuid(0) = -1 (Operation not permitted), "
                      "setgid(0) = -1 (Operation not permitted)", log)
        # Inside the sandbox: bind() itself is allowed; the kernel refuses the port for lack of
        # privilege, not seccomp.
        self.assertIn("test hook selfcheck: bind(127.0.0.1:1) = -1 (Permission denied)", log)
        self.assertEchoes(("127.0.0.1", self.port))

    def test_WorkerHoldsExactlyTheExpectedDescriptors(self):
        udpx = self.start_privileged()
        worker = self.worker_of(udpx)
        fd_dir = f"/proc/{worker}/fd"
        links = {int(fd): os.readlink(f"{fd_dir}/{fd}") for fd in os.listdir(fd_dir)}

        self.assertEqual(links[0], "/dev/null")
        self.assertEqual(links[1], udpx.out_path)
        self.assertEqual(links[2], udpx.log_path)
        others = {fd: target for fd, target in links.items() if fd > 2}
        sockets = {fd: int(t[len("socket:["):-1]) for fd, t in others.items() if t.startswith("socket:[")}
        udp = self.socket_inodes(worker, "udp") | self.socket_inodes(worker, "udp6")
        unix = self.unix_sockets(worker)
        listeners = [fd for fd, inode in sockets.items() if inode in udp]
        self.assertEqual(len(listeners), 1, f"one listening UDP socket: {others}")
        # fd 3: the socketpair to the binder (no name); the status socket `udpx status` reads,
        # under /run/udpx (started as root), named after the config file, and its duplicate kept
        # in reserve for when descriptors run out.
        status_name = re.compile(r"/run/udpx/udpx\.toml\.[0-9a-f]{16}\.sock$")
        named = {fd: unix[inode] for fd, inode in sockets.items() if inode in unix}
        self.assertEqual([fd for fd, name in named.items() if name == ""], [3], f"unix sockets: {named}")
        self.assertEqual(len([fd for fd, name in named.items() if status_name.match(name)]), 2, f"unix sockets: {named}")
        self.assertEqual(len(sockets), 4, f"no other socket: {others}")
        kinds = sorted(re.sub(r"\[\d+\]$", "", t) for fd, t in others.items() if fd not in sockets)
        # libevent: the epoll instance and its signal pipe (both ends). No file, no directory.
        self.assertEqual(kinds, ["anon_inode:[eventpoll]", "pipe:", "pipe:"], others)

    def test_WorkerLoadsNoNameServiceModule(self):
        # The binder resolves global.user and hands the worker the numbers: the worker never
        # reads the user database, so no NSS module (libnss_systemd talks to systemd over a
        # socket) is loaded into the process that parses packets. No global.user: the default
        # ("udpx" if that account exists, else nobody) makes the binder ask every NSS source.
        udpx = self.start_privileged(user=None)
        worker = self.worker_of(udpx)
        self.assertEchoes(("127.0.0.1", self.port))
        with open(f"/proc/{worker}/maps") as f:
            mapped = {line.split()[-1] for line in f if "/" in line}
        self.assertEqual([m for m in mapped if "libnss_" in m], [], sorted(mapped))
        account = default_account()
        self.assertSandboxedUnprivileged(proc_status(worker), account.pw_uid, account.pw_gid)

    def unix_sockets(self, pid):
        """{inode: path} of the unix sockets in /proc/PID/net/unix ("" when unnamed)."""
        out = {}
        with open(f"/proc/{pid}/net/unix") as f:
            for line in f.read().splitlines()[1:]:
                parts = line.split()
                out[int(parts[6])] = parts[7] if len(parts) > 7 else ""
        return out

    def socket_inodes(self, pid, table):
        with open(f"/proc/{pid}/net/{table}") as f:
            lines = f.read().splitlines()[1:]
        column = 6 if table == "unix" else 9
        return {int(line.split()[column]) for line in lines if len(line.split()) > column}

    def test_ForbiddenSystemCallKillsWorkerAndBinderSaysWhy(self):
        if sanitizer_build():
            self.skipTest("AddressSanitizer build: no seccomp sandbox (the normal build runs this test)")
        self.upstream = self.start_upstream("echo")
        port = free_port()
        config = self.write_file("udpx.toml", self.echo_config([f"127.0.0.1:{port}"], self.upstream, user="nobody"))
        udpx = Udpx("udpx", [udpx_binary(), "-c", config], self.tmp,
                    env=dict(os.environ, UDPX_TEST_HOOK="forbidden-syscall"))
        self.processes.append(udpx)
        self.addCleanup(udpx.terminate, signal.SIGKILL)

        code = udpx.wait_exit(30)

        log = udpx.log()
        self.assertEqual(code, 1, log)
        self.assertIn("test hook forbidden-syscall: calling openat(2)", log)
        self.assertNotIn("did NOT stop it", log)
        self.assertIn("binder: worker was killed by SIGSYS: the sandbox killed the worker: a system call outside "
                      "the seccomp allowlist", log)
        # Restarted a bounded number of times, each death reported, then the binder gives up.
        self.assertEqual(log.count("was killed by SIGSYS"), 4, log)
        self.assertEqual(len(re.findall(r"worker restarted \(pid \d+\), restart \d of at most 3", log)), 3, log)
        self.assertIn("the worker died 4 times in a row", log)

    def test_BinderRestartsAKilledWorker(self):
        udpx = self.start_privileged()
        first = self.worker_of(udpx)

        os.kill(first, signal.SIGKILL)

        wait_until(lambda: "worker restarted" in udpx.log(), 10, "the binder to restart the worker")
        self.assertIn("binder: worker was killed by SIGKILL (Killed)", udpx.log())
        second = self.worker_of(udpx)
        self.assertNotEqual(first, second)
        wait_until(lambda: udpx.log().count(" ready: ") == 2, 10, "the new worker to be ready")
        # Started by the unprivileged binder, the new worker is just as confined.
        self.assertSandboxedUnprivileged(proc_status(second), NOBODY.pw_uid, NOBODY.pw_gid)
        self.assertEchoes(("127.0.0.1", self.port))

    def test_WorkerExitsWhenTheBinderDies(self):
        udpx = self.start_privileged()
        worker = self.worker_of(udpx)

        os.kill(udpx.pid, signal.SIGKILL)
        udpx.terminate()

        wait_until(lambda: not os.path.exists(f"/proc/{worker}"), 10, "the worker to exit after the binder")

    def test_UnknownUserIsAStartupErrorNamingTheKey(self):
        upstream = self.start_upstream("echo")
        config = self.write_file("bad.toml", self.echo_config([f"127.0.0.1:{free_port()}"], upstream,
                                                              user="udpx-no-such-user"))
        expected = (f"{config}:3:8: global.user: user \"udpx-no-such-user\" does not exist (create it: useradd "
                    "--system --no-create-home --shell /usr/sbin/nologin udpx-no-such-user")
        code, out = self.run_udpx(["-c", config])
        self.assertEqual(code, 1, out)
        self.assertIn(expected, out)
        # `udpx check` finds it too.
        code, out = self.run_udpx(["check", "-c", config])
        self.assertEqual(code, 1, out)
        self.assertIn(expected, out)
        self.assertNotIn("configuration OK", out)

    def test_ConfigTooLargeToHandOverIsRefusedByCheckAndStart(self):
        upstream = self.start_upstream("echo")
        text = self.echo_config([f"127.0.0.1:{free_port()}"], upstream) + ("# padding\n" * 14000)
        config = self.write_file("big.toml", text)
        expected = f"cannot read {config}: it is {len(text)} bytes, more than the 131072 udpx reads"
        code, out = self.run_udpx(["check", "-c", config])
        self.assertEqual(code, 1, out)
        self.assertIn(expected, out)
        self.assertNotIn("configuration OK", out)
        code, out = self.run_udpx(["-c", config])
        self.assertEqual(code, 1, out)
        self.assertIn(expected, out)
        self.assertNotIn("worker started", out)

    def test_WorkerChrootsIntoRootOwnedDirectory(self):
        root = self.path("empty")
        os.mkdir(root, 0o755)
        # LeakSanitizer's exit-time check needs /proc, which a chroot does not have: off for this
        # one test in the AddressSanitizer build (every other test runs the same worker code).
        env = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0"} if sanitizer_build() else {}
        udpx = self.start_privileged(env_extra=env, chroot=root)
        worker = self.worker_of(udpx)

        self.assertEqual(os.readlink(f"/proc/{worker}/root"), root)
        self.assertEqual(os.readlink(f"/proc/{udpx.pid}/root"), "/")
        self.assertSandboxedUnprivileged(proc_status(worker), NOBODY.pw_uid, NOBODY.pw_gid)
        self.assertEchoes(("127.0.0.1", self.port))

    def test_WritableChrootIsRefused(self):
        root = self.path("writable")
        os.mkdir(root)
        os.chmod(root, 0o777)
        upstream = self.start_upstream("echo")
        config = self.write_file("bad.toml", self.echo_config([f"127.0.0.1:{free_port()}"], upstream, chroot=root))
        expected = f"{config}:3:10: global.chroot: {root} is writable by its group or by others (chmod go-w {root})"
        code, out = self.run_udpx(["-c", config])
        self.assertEqual(code, 1, out)
        self.assertIn(expected, out)
        # `udpx check` runs the same start-up checks: it refuses it too.
        code, out = self.run_udpx(["check", "-c", config])
        self.assertEqual(code, 1, out)
        self.assertIn(expected, out)
        self.assertNotIn("configuration OK", out)

    def test_GroupWritableChrootIsRefusedByCheck(self):
        root = self.path("group-writable")
        os.mkdir(root)
        os.chmod(root, 0o775)
        upstream = self.start_upstream("echo")
        config = self.write_file("bad.toml", self.echo_config([f"127.0.0.1:{free_port()}"], upstream, chroot=root))
        code, out = self.run_udpx(["check", "-c", config])
        self.assertEqual(code, 1, out)
        self.assertIn(f"global.chroot: {root} is writable by its group or by others", out)
        self.assertIn("1 start-up problem: udpx would not start", out)


def default_account():
    """The account udpx runs as without global.user: "udpx" where the package created it, else nobody."""
    try:
        return pwd.getpwnam("udpx")
    except KeyError:
        return NOBODY


class Accounts(PrivsepTestCase):
    """The default account, and what the drop leaves of the groups udpx was started with."""

    def test_DefaultAccountIsUdpxElseNobodyWithAWarningSayingHowToCreateUdpx(self):
        udpx = self.start_privileged(user=None)
        worker = self.worker_of(udpx)
        account = default_account()
        group = grp.getgrgid(account.pw_gid).gr_name
        self.assertSandboxedUnprivileged(proc_status(worker), account.pw_uid, account.pw_gid)
        self.assertIn(f"binder now runs as {account.pw_name}:{group}", udpx.log())
        warning = "which other daemons share: any process running as nobody can stop or kill udpx's processes"
        config = self.path("udpx.toml")
        code, out = self.run_udpx(["check", "-c", config])
        self.assertEqual(code, 0, out)
        if account.pw_name == "udpx":
            self.assertNotIn(warning, udpx.log())
            self.assertNotIn(warning, out)
        else:
            for text in (udpx.log(), out):
                self.assertIn(f'no "udpx" account exists, so udpx runs as nobody:{group}, ' + warning, text)
                self.assertIn("adduser --system --group --no-create-home udpx", text)
                self.assertIn("systemd-sysusers", text)

    def test_NamedUserNobodyGetsNoWarning(self):
        udpx = self.start_privileged(user="nobody")
        self.assertNotIn("other daemons share", udpx.log())

    def test_SupplementaryGroupsOfTheStarterAreDroppedByBothProcesses(self):
        # Root on a test machine usually has no supplementary groups, so Groups: is empty with or
        # without setgroups(0): start udpx with some (adm, sudo) and see both processes shed them.
        self.upstream = self.start_upstream("echo")
        self.port = free_port()
        config = self.write_file("udpx.toml", self.echo_config([f"127.0.0.1:{self.port}"], self.upstream,
                                                               user="nobody"))
        udpx = self.spawn([tool("setpriv"), "--groups=4,27", "--", udpx_binary(), "-c", config])
        wait_until(lambda: " ready: " in udpx.log(), 10, "udpx to be ready")
        worker = self.worker_of(udpx)
        self.assertEqual(proc_status(worker)["Groups"].strip(), "")
        self.assertEqual(proc_status(udpx.pid)["Groups"].strip(), "")
        self.assertSandboxedUnprivileged(proc_status(worker), NOBODY.pw_uid, NOBODY.pw_gid)
        self.assertEchoes(("127.0.0.1", self.port))

    def test_SetprivReallyGivesTheGroups(self):
        # The check above means something only if setpriv does hand the groups over.
        done = subprocess.run([tool("setpriv"), "--groups=4,27", "--", "cat", "/proc/self/status"],
                              capture_output=True, text=True, timeout=10)
        groups = [line for line in done.stdout.splitlines() if line.startswith("Groups:")]
        self.assertEqual(groups[0].split()[1:], ["4", "27"], done.stdout)


class Unprivileged(PrivsepTestCase):
    """udpx started as an ordinary user: one process, no binder, sandboxed all the same."""

    def start_as_nobody(self, argv_prefix, config_text, extra_args=(), pass_fds=()):
        config = self.write_file("udpx.toml", config_text)
        os.chmod(config, 0o644)
        argv = list(argv_prefix) + self.as_nobody() + [udpx_binary(), "-c", config] + list(extra_args)
        udpx = Udpx("udpx", argv, self.tmp)
        self.processes.append(udpx)
        self.addCleanup(self._stop_udpx, udpx)
        udpx.wait_ready()
        return udpx

    def test_OrdinaryUserRunsOneSandboxedProcessOnHighPort(self):
        upstream = self.start_upstream("echo")
        port = free_port()
        udpx = self.start_as_nobody([], self.echo_config([f"127.0.0.1:{port}"], upstream))

        self.assertEqual(children(udpx.pid), [], "no worker process without privilege")
        self.assertNotIn("binder:", udpx.log())
        self.assertSandboxedUnprivileged(proc_status(udpx.pid), NOBODY.pw_uid, NOBODY.pw_gid)
        self.assertEchoes(("127.0.0.1", port))
        self.assertEqual(frontend_stats(udpx.stats(), "f")["replied"], 1)

    def test_BindServiceCapabilityAloneMakesABinderThatKeepsItsUser(self):
        # Started as nobody with CAP_NET_BIND_SERVICE (ambient, as systemd's AmbientCapabilities=
        # gives it): binder + worker, neither changes user; only the binder keeps the capability.
        upstream = self.start_upstream("echo")
        address = random_loopback()
        config = self.write_file("udpx.toml", self.echo_config([f"{address}:123"], upstream))
        os.chmod(config, 0o644)
        argv = (self.as_nobody()[:-1] + ["--inh-caps=+net_bind_service", "--ambient-caps=+net_bind_service", "--"]
                + [udpx_binary(), "-c", config])
        argv.remove("--inh-caps=-all")
        udpx = self.spawn(argv)
        udpx.wait_ready()

        worker = self.worker_of(udpx)
        self.assertSandboxedUnprivileged(proc_status(worker), NOBODY.pw_uid, NOBODY.pw_gid)
        binder = proc_status(udpx.pid)
        self.assertEqual(binder["Uid"].split(), [str(NOBODY.pw_uid)] * 4)
        self.assertEqual(int(binder["CapEff"], 16), CAP_NET_BIND_SERVICE)
        self.assertEqual(int(binder["CapAmb"], 16), 0)
        self.assertEqual(int(binder["CapInh"], 16), 0)
        self.assertEchoes((address, 123))

    def test_OrdinaryUserCannotSwitchToAnotherUser(self):
        upstream = self.start_upstream("echo")
        config = self.write_file("udpx.toml", self.echo_config([f"127.0.0.1:{free_port()}"], upstream, user="root"))
        os.chmod(config, 0o644)
        done = subprocess.run(self.as_nobody() + [udpx_binary(), "-c", config], capture_output=True, timeout=30)
        out = done.stdout.decode() + done.stderr.decode()
        self.assertEqual(done.returncode, 1, out)
        self.assertIn('global.user: user "root" is root, so nothing would be given up', out)
        config = self.write_file("udpx2.toml", self.echo_config([f"127.0.0.1:{free_port()}"], upstream,
                                                                user="daemon"))
        os.chmod(config, 0o644)
        done = subprocess.run(self.as_nobody() + [udpx_binary(), "-c", config], capture_output=True, timeout=30)
        out = done.stdout.decode() + done.stderr.decode()
        self.assertEqual(done.returncode, 1, out)
        self.assertIn(f"udpx runs as nobody:{NOGROUP.gr_name} without the privilege to become daemon:daemon "
                      "(global.user, global.group)", out)

    def test_OrdinaryUserCannotListenOnPort123ByItself(self):
        upstream = self.start_upstream("echo")
        address = random_loopback()
        config = self.write_file("udpx.toml", self.echo_config([f"{address}:123"], upstream))
        os.chmod(config, 0o644)
        done = subprocess.run(self.as_nobody() + [udpx_binary(), "-c", config], capture_output=True, timeout=30)
        out = done.stdout.decode() + done.stderr.decode()
        self.assertEqual(done.returncode, 1, out)
        self.assertIn(f"cannot listen on {address}:123: Permission denied — ports below 1024 need root or "
                      "CAP_NET_BIND_SERVICE", out)



class InheritedSockets(PrivsepTestCase):
    """Sockets from systemd (LISTEN_FDS) or --listen-fd: how a port below 1024 reaches udpx
    without udpx ever binding it, as root (through the binder) or as an ordinary user."""

    def test_SocketActivationHandsPort123ToAnUnprivilegedUdpx(self):
        # systemd-socket-activate binds as root and waits for the first datagram; then it execs
        # setpriv (-> nobody), which execs udpx: one pid all along, so LISTEN_PID matches.
        upstream = self.start_upstream("echo")
        address = random_loopback()
        config = self.write_file("udpx.toml", self.echo_config([f"{address}:123"], upstream))
        os.chmod(config, 0o644)
        udpx = self.spawn([tool("systemd-socket-activate"), "--datagram", "-l", f"{address}:123"] + self.as_nobody()
                          + [udpx_binary(), "-c", config])
        wait_until(lambda: "Listening on" in udpx.log(), 10, "systemd-socket-activate to listen")
        client = self.new_client()

        # The first request starts udpx and is served by it.
        client.send(b"first", (address, 123))
        udpx.wait_ready()
        self.assertEqual(parse_echo(client.receive(timeout=10)[0])[2], b"first")

        self.assertEqual(children(udpx.pid), [])
        self.assertSandboxedUnprivileged(proc_status(udpx.pid), NOBODY.pw_uid, NOBODY.pw_gid)
        self.assertEchoes((address, 123))
        self.assertEqual(frontend_stats(udpx.stats(), "f")["replied"], 2)

    def test_SocketActivationAsRootGoesThroughTheBinder(self):
        upstream = self.start_upstream("echo")
        address = random_loopback()
        config = self.write_file("udpx.toml", self.echo_config([f"{address}:123", f"127.0.0.1:{free_port()}"],
                                                               upstream, user="nobody"))
        udpx = self.spawn([tool("systemd-socket-activate"), "--datagram", "-l", f"{address}:123",
                           udpx_binary(), "-c", config])
        wait_until(lambda: "Listening on" in udpx.log(), 10, "systemd-socket-activate to listen")
        client = self.new_client()

        client.send(b"first", (address, 123))
        udpx.wait_ready()
        self.assertEqual(parse_echo(client.receive(timeout=10)[0])[2], b"first")

        # The activated socket went to the worker; the binder bound the second address itself.
        worker = self.worker_of(udpx)
        self.assertSandboxedUnprivileged(proc_status(worker), NOBODY.pw_uid, NOBODY.pw_gid)
        self.assertEqual(int(proc_status(udpx.pid)["CapEff"], 16), CAP_NET_BIND_SERVICE)
        self.assertEchoes((address, 123))

    def test_SocketActivationForAnotherPidIsIgnored(self):
        # LISTEN_PID names another process: the inherited fd 3 is not udpx's to take. udpx binds
        # the address itself, which fails because the test still holds that socket.
        upstream = self.start_upstream("echo")
        address = random_loopback()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind((address, 123))
        config = self.write_file("udpx.toml", self.echo_config([f"{address}:123"], upstream))
        script = ("import os,sys; os.dup2(int(sys.argv[1]), 3); "
                  "os.environ.update(LISTEN_FDS='1', LISTEN_PID=str(os.getppid())); "
                  "os.execv(sys.argv[2], sys.argv[2:])")
        done = subprocess.run([sys.executable, "-c", script, str(sock.fileno()), udpx_binary(), "-c", config],
                              pass_fds=(sock.fileno(),), capture_output=True, timeout=30, cwd=self.tmp)
        out = done.stdout.decode() + done.stderr.decode()
        self.assertEqual(done.returncode, 1, out)
        self.assertIn(f"cannot listen on {address}:123: Address already in use", out)

    def test_ListenFdForTheWrongFrontendIsRefused(self):
        upstream = self.start_upstream("echo")
        address = random_loopback()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind((address, 123))
        fd = sock.fileno()
        config = self.write_file("udpx.toml", render_config(
            frontends={"f": {"listen": [f"{address}:123"], "backend": "b"},
                       "g": {"listen": [f"127.0.0.1:{free_port()}"], "backend": "b"}},
            backends={"b": {"servers": [upstream.text]}}))
        done = subprocess.run([udpx_binary(), "-c", config, "--listen-fd", f"g={fd}"], pass_fds=(fd,),
                              capture_output=True, timeout=30, cwd=self.tmp)
        out = done.stdout.decode() + done.stderr.decode()
        self.assertEqual(done.returncode, 1, out)
        self.assertIn(f"--listen-fd g={fd} is bound to {address}:123, a listen address of frontend \"f\", not "
                      "\"g\" — name the right frontend", out)

    def test_ListenFdWorksThroughTheBinderToo(self):
        upstream = self.start_upstream("echo")
        address = random_loopback()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind((address, 123))
        fd = sock.fileno()
        config = self.write_file("udpx.toml", self.echo_config([f"{address}:123"], upstream, user="nobody"))
        udpx = self.spawn([udpx_binary(), "-c", config, "--listen-fd", f"f={fd}"], pass_fds=(fd,))
        udpx.wait_ready()
        sock.close()

        self.assertEqual(len(children(udpx.pid)), 1)
        self.assertEchoes((address, 123))

    def test_ListenFdHandsPort123ToAnUnprivilegedUdpx(self):
        upstream = self.start_upstream("echo")
        address = random_loopback()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind((address, 123))
        fd = sock.fileno()
        config = self.write_file("udpx.toml", self.echo_config([f"{address}:123"], upstream))
        os.chmod(config, 0o644)
        argv = self.as_nobody() + [udpx_binary(), "-c", config, "--listen-fd", f"f={fd}"]
        udpx = self.spawn(argv, pass_fds=(fd,))
        udpx.wait_ready()
        sock.close()  # udpx holds its own copy

        self.assertSandboxedUnprivileged(proc_status(udpx.pid), NOBODY.pw_uid, NOBODY.pw_gid)
        self.assertEchoes((address, 123))



if __name__ == "__main__":
    main()
