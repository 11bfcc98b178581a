#!/usr/bin/env python3
"""Hot reload in the one-process mode (issue 12): udpx started as an ordinary user (nobody) reads
its own file on SIGHUP, inside its sandbox, and applies it in place — sockets of addresses that
stay, sessions, servers' health — or refuses it whole and keeps running the old one."""

import grp
import os
import pwd
import re
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from udpxtest import (NO_PROBES, REPLY_TIMEOUT, Udpx, UdpxTestCase, free_port, free_ports, frontend_stats,  # noqa: E402
                      parse_echo, render_config, server_stats, tail, tool, udpx_binary, udp_port_bound,
                      wait_until)

NOBODY = pwd.getpwnam("nobody")


def fds_of(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


class ReloadTestCase(UdpxTestCase):
    """udpx as nobody (one sandboxed process), its config file rewritten between SIGHUPs."""

    def setUp(self):
        super().setUp()
        if os.geteuid() == 0:
            os.chmod(self.tmp, 0o755)  # nobody reads its config here

    def start_as_user(self, config_text):
        self.config_path = self.write_file("udpx.toml", config_text)
        os.chmod(self.config_path, 0o644)
        argv = [udpx_binary(), "-c", self.config_path]
        if os.geteuid() == 0:
            argv = [tool("setpriv"), f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}", "--clear-groups",
                    "--inh-caps=-all", "--"] + argv
        udpx = Udpx("udpx", argv, self.tmp)
        self.processes.append(udpx)
        self.addCleanup(self._stop_udpx, udpx)
        udpx.wait_ready()
        return udpx

    def rewrite(self, text):
        # A new inode, as editors and config management write it; same mode.
        tmp = self.config_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, self.config_path)

    def reload(self, udpx, text, expect="reloaded", timeout=REPLY_TIMEOUT + 5):
        """Writes `text`, sends SIGHUP and waits for the outcome's log line; returns it."""
        self.rewrite(text)
        before = udpx.log().count("reloaded ") + udpx.log().count("refused (")
        os.kill(udpx.pid, signal.SIGHUP)

        def outcome():
            log = udpx.log()
            if not udpx.running():
                raise AssertionError(f"udpx exited on SIGHUP:\n{tail(udpx.log_path)}")
            lines = [l for l in log.splitlines() if re.search(r"\breloaded /|reload of .* refused \(", l)]
            return lines[-1] if len(lines) > before else None
        line = wait_until(outcome, timeout, "the reload's outcome in the log")
        self.assertIn(expect, line)
        return line

    def config(self, frontends, servers, timeout="2s", extra_frontend=None, log_level="info"):
        """Raw frontends on `frontends` {name: port} to backend b (`servers`: upstreams), no probes."""
        fes = {name: {"listen": [f"127.0.0.1:{port}"], "preset": "raw", "backend": "b",
                      "session_timeout": timeout, **(extra_frontend or {})}
               for name, port in frontends.items()}
        return render_config(fes, {"b": {"servers": [u.text for u in servers], "health": NO_PROBES}},
                             global_={"log_level": log_level})

    def echo(self, client, port, payload=b"x"):
        name, _, got = parse_echo(client.ask(payload, ("127.0.0.1", port)))
        self.assertEqual(got, payload)
        return name


class OneProcess(ReloadTestCase):

    def test_UnchangedFileIsNoChangeAndKeepsSessionsAndSockets(self):
        up = self.start_upstream("one")
        port = free_port()
        text = self.config({"a": port}, [up])
        udpx = self.start_as_user(text)
        client = self.new_client()
        self.assertEqual(self.echo(client, port), "one")
        fds = fds_of(udpx.pid)
        line = self.reload(udpx, text)
        self.assertIn(f"reloaded {self.config_path}: no change", line)
        self.assertEqual(fds_of(udpx.pid), fds)
        # The session stays: the upstream sees the same source port for the next request.
        _, port1, _ = parse_echo(client.ask(b"1", ("127.0.0.1", port)))
        _, port2, _ = parse_echo(client.ask(b"2", ("127.0.0.1", port)))
        self.assertEqual(port1, port2)
        stats = udpx.stats()
        self.assertEqual(stats["reloads"]["succeeded"], 1)
        self.assertEqual(stats["reloads"]["failed"], 0)
        self.assertEqual(frontend_stats(stats, "a")["sessions"]["created"], 1)

    def test_AddFrontendThenRemoveIt(self):
        up = self.start_upstream("one")
        a, c = free_ports(2)
        udpx = self.start_as_user(self.config({"a": a}, [up]))
        line = self.reload(udpx, self.config({"a": a, "c": c}, [up]))
        self.assertIn("+1 frontend (c)", line)
        self.assertEqual(self.echo(self.new_client(), c), "one")
        self.assertEqual(self.echo(self.new_client(), a), "one")
        line = self.reload(udpx, self.config({"a": a}, [up]))
        self.assertIn("-1 frontend (c)", line)
        wait_until(lambda: not udp_port_bound(c), 5, f"port {c} closed after its frontend went")
        self.assertEqual(self.echo(self.new_client(), a), "one")
        self.assertNotIn("c", udpx.stats()["frontends"])

    def test_ReplacedServersTakeNewSessionsWhileOldOnesFinish(self):
        old, new = self.start_upstream("old"), self.start_upstream("new")
        port = free_port()
        udpx = self.start_as_user(self.config({"a": port}, [old]))
        staying = self.new_client()
        self.assertEqual(self.echo(staying, port), "old")
        line = self.reload(udpx, self.config({"a": port}, [new]))
        self.assertIn("backend b: 1 server added, 1 draining", line)
        self.assertEqual(self.echo(staying, port), "old", "a session finishes on its server")
        self.assertEqual(self.echo(self.new_client(), port), "new", "new sessions go to the new server")

    def test_ShorterTimeoutEndsIdleSessionsSooner(self):
        up = self.start_upstream("one")
        port = free_port()
        udpx = self.start_as_user(self.config({"a": port}, [up], timeout="1h"))
        client = self.new_client()
        self.echo(client, port)
        self.reload(udpx, self.config({"a": port}, [up], timeout="300ms"))
        self.wait_for_stats(udpx, lambda s: frontend_stats(s, "a")["sessions"]["active"] == 0,
                            "the session idle longer than the new timeout to end")

    def test_BrokenFileIsRefusedWholeAndOldConfigKeepsServing(self):
        up = self.start_upstream("one")
        a, c = free_ports(2)
        good = self.config({"a": a}, [up])
        udpx = self.start_as_user(good)
        broken = self.config({"a": a, "c": c}, [up]) + "\n[frontend.d]\nlisten = [\"127.0.0.1:nope\"]\n"
        line = self.reload(udpx, broken, expect="refused")
        log = udpx.log()
        self.assertRegex(log, re.escape(self.config_path) + r":\d+:\d+: ")
        self.assertFalse(udp_port_bound(c), "nothing of a refused file is applied")
        self.assertEqual(self.echo(self.new_client(), a), "one")
        stats = udpx.stats()
        self.assertEqual(stats["reloads"]["failed"], 1)
        code, out = self.run_status(self.config_path)
        self.assertRegex(out, r"the last reload of " + re.escape(self.config_path) + r" failed at .*" +
                         re.escape(self.config_path) + r":\d+:\d+:")
        self.assertIn(f"udpx check -c {self.config_path}", out)
        # A good file again: the problem is gone.
        self.reload(udpx, good)
        code, out = self.run_status(self.config_path)
        self.assertNotIn("the last reload", out)

    def test_FixedPartChangeNeedsARestart(self):
        up = self.start_upstream("one")
        port = free_port()
        udpx = self.start_as_user(self.config({"a": port}, [up]))
        text = self.config({"a": port}, [up]).replace("[global]\n", "[global]\nchroot = \"/var/empty\"\n")
        self.reload(udpx, text, expect="refused")
        self.assertRegex(udpx.log(), re.escape(self.config_path) + r":\d+:\d+: global.chroot: .*needs a restart")


if __name__ == "__main__":
    unittest.main()
