"""When udpx sessions end: idle expiry, the responses budget, and eviction at max_sessions.

The fake upstream answers with the source port it saw, which tells which upstream socket (which
session) carried the request.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (UdpxTestCase, echo_handler, free_port, frontend_stats, main, parse_echo,
                      render_config)


class Sessions(UdpxTestCase):

    def start_proxy(self, upstream, **frontend):
        self.listen = ("127.0.0.1", free_port())
        return self.start_udpx(render_config(
            frontends={"app": {"listen": [f"127.0.0.1:{self.listen[1]}"], "preset": "raw",
                               "backend": "app", **frontend}},
            backends={"app": {"servers": [upstream.text]}},
            global_={"log_level": "debug"}))

    def upstream_port_of(self, client, payload=b"ping"):
        """Sends a request and returns the udpx upstream port the server saw it from."""
        _, port, echoed = parse_echo(client.ask(payload, self.listen))
        self.assertEqual(echoed, payload)
        return port

    def sessions(self, udpx):
        return frontend_stats(udpx.stats(), "app")["sessions"]

    def test_IdleSessionExpiresAfterConfiguredTimeout(self):
        udpx = self.start_proxy(self.start_upstream("app"), session_timeout="400ms")
        client = self.new_client()

        first = self.upstream_port_of(client)
        time.sleep(0.1)
        self.assertEqual(self.upstream_port_of(client), first, "100ms apart: same session")
        sessions = self.sessions(udpx)
        self.assertEqual((sessions["active"], sessions["created"]), (1, 1))

        time.sleep(1.5)
        sessions = self.sessions(udpx)
        self.assertEqual((sessions["active"], sessions["expired"]), (0, 1))
        self.assertNotEqual(self.upstream_port_of(client), first, "after 1.5s idle: a new session")
        sessions = self.sessions(udpx)
        self.assertEqual((sessions["created"], sessions["active"], sessions["expired"]), (2, 1, 1))

    def test_SessionInUseDoesNotExpire(self):
        udpx = self.start_proxy(self.start_upstream("app"), session_timeout="400ms")
        client = self.new_client()

        ports = []
        for _ in range(6):  # 6 x 150ms: longer than the timeout, never idle that long
            ports.append(self.upstream_port_of(client))
            time.sleep(0.15)

        self.assertEqual(len(set(ports)), 1, f"session changed while in use: {ports}")
        sessions = self.sessions(udpx)
        self.assertEqual((sessions["created"], sessions["expired"]), (1, 0))

    def test_SessionClosesOnceItsResponsesAreReceived(self):
        echo = echo_handler("app")
        upstream = self.start_upstream("app", lambda data, addr: echo(data, addr) * 2)  # answers twice
        udpx = self.start_proxy(upstream, responses=1)
        client = self.new_client()

        first = self.upstream_port_of(client)
        client.expect_silence()  # the second answer is beyond the budget
        sessions = self.sessions(udpx)
        self.assertEqual((sessions["created"], sessions["closed"], sessions["active"]), (1, 1, 0))

        second = self.upstream_port_of(client)
        client.expect_silence()
        self.assertNotEqual(second, first, "the next request needs a new session")
        stats = frontend_stats(udpx.stats(), "app")
        self.assertEqual((stats["sessions"]["created"], stats["sessions"]["closed"]), (2, 2))
        self.assertEqual((stats["forwarded"], stats["replied"]), (2, 2))
        self.assertEqual(stats["sessions"]["expired"], 0)

    def test_FullTableEvictsLeastRecentlyUsedSession(self):
        udpx = self.start_proxy(self.start_upstream("app"), max_sessions=2)
        a, b, c = self.new_client(), self.new_client(), self.new_client()

        port_a = self.upstream_port_of(a)
        port_b = self.upstream_port_of(b)
        self.assertEqual(self.upstream_port_of(a), port_a)  # b is now the least recently used
        self.upstream_port_of(c)                             # table full: b goes

        sessions = self.sessions(udpx)
        self.assertEqual((sessions["created"], sessions["active"], sessions["evicted"]), (3, 2, 1))
        self.assertEqual(self.upstream_port_of(a), port_a, "a was used recently and must survive")
        self.assertNotEqual(self.upstream_port_of(b), port_b, "b was evicted: it needs a new session")
        sessions = self.sessions(udpx)
        self.assertEqual((sessions["created"], sessions["active"], sessions["evicted"]), (4, 2, 2))
        code, output = self.run_status(udpx.argv[-1])
        self.assertEqual(code, 1, output)
        self.assertIn("frontend app: session table full: 2 sessions evicted so far (max_sessions 2 here", output)
        self.assertIn("hint: raise frontend.app.max_sessions", output)


if __name__ == "__main__":
    main()
