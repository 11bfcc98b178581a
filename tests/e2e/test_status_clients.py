"""`udpx status --clients` (as an unprivileged user) and /status list each frontend's most recent
clients with what each got: requests, answers, unanswered (a silent upstream), drops by reason
(a client outside `allow` and a malformed request) and when it was last seen."""

import json
import os
import socket
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (NO_PROBES, UdpxTestCase, free_port, hostport, main, ntp_request, render_config, wait_until)


class StatusClients(UdpxTestCase):

    def setUp(self):
        super().setUp()
        self.answering = self.start_upstream("echo")
        self.silent = self.start_upstream("silent", handler=lambda data, addr: [])
        self.echo_port = free_port()
        self.ntp_port = free_port("127.0.0.1", "127.0.0.2")
        self.metrics_port = free_port()
        self.config = self.write_file("udpx.toml", render_config(
            frontends={
                "echo": {"listen": [f"127.0.0.1:{self.echo_port}"], "preset": "raw", "backend": "answers",
                         "responses": 1, "session_timeout": "300ms"},
                "ntp": {"listen": [f"127.0.0.1:{self.ntp_port}", f"127.0.0.2:{self.ntp_port}"], "preset": "ntp",
                        "backend": "silent", "session_timeout": "300ms", "allow": ["127.0.0.1/32"]},
            },
            backends={"answers": {"servers": [self.answering.text], "health": NO_PROBES},
                      "silent": {"servers": [self.silent.text], "health": NO_PROBES}},
            global_={"metrics": f"127.0.0.1:{self.metrics_port}"}))
        self.udpx = self.start_udpx(args=["-c", self.config])

    def test_ClientsAreListedWithWhatEachGot(self):
        a = self.new_client()
        for i in range(3):
            a.ask(b"ping %d" % i, ("127.0.0.1", self.echo_port))
        b = self.new_client()
        request, _ = ntp_request()
        b.send(request, ("127.0.0.1", self.ntp_port))  # forwarded, never answered
        b.send(b"\x23\x00", ("127.0.0.1", self.ntp_port))  # malformed
        denied = self.new_client("127.0.0.2")
        denied.send(request, ("127.0.0.2", self.ntp_port))  # outside allow
        a_text = hostport(*a.sock.getsockname())
        b_text = hostport(*b.sock.getsockname())
        d_text = hostport(*denied.sock.getsockname())

        def doc():
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/status", timeout=5) as r:
                return json.loads(r.read())

        def clients_of(d, frontend):
            return {c["address"]: c for c in d["frontends"][frontend]["clients"].get("list", [])}

        # The silent session expires after 300ms: then its request counts as unanswered.
        d = wait_until(lambda: (d := doc()) and clients_of(d, "ntp").get(b_text, {}).get("unanswered") == 1 and d,
                       10, "client B's request to count as unanswered")
        echo = clients_of(d, "echo")[a_text]
        self.assertEqual((echo["requests"], echo["answers"], echo["unanswered"], echo["dropped"]), (3, 3, 0, {}))
        ntp = clients_of(d, "ntp")
        self.assertEqual((ntp[b_text]["requests"], ntp[b_text]["answers"], ntp[b_text]["dropped"]),
                         (2, 0, {"malformed": 1}))
        self.assertEqual((ntp[d_text]["requests"], ntp[d_text]["dropped"]), (1, {"acl": 1}))
        self.assertEqual(d["frontends"]["ntp"]["clients"]["recent"], 2)
        self.assertLessEqual(ntp[b_text]["last_seen_unix_ms"], d["udpx"]["now_unix_ms"])
        # Most recent first.
        self.assertEqual(list(clients_of(d, "ntp")), [d_text, b_text])
        # Not in the log's stats line: up to 1,000 clients a frontend do not belong there.
        self.assertNotIn("list", self.udpx.stats()["frontends"]["ntp"]["clients"])

        code, out = self.run_status(self.config, "--clients")
        self.assertEqual(code, 0, out)
        self.assertIn("frontend ntp: 2 recent clients", out)
        lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  127.")}
        self.assertRegex(lines[a_text], r"^\s+\S+\s+3\s+3\s+0\s+.* ago\s+none$")
        self.assertRegex(lines[b_text], r"^\s+\S+\s+2\s+0\s+1\s+.* ago\s+malformed 1$")
        self.assertRegex(lines[d_text], r"acl 1$")


if __name__ == "__main__":
    main()
