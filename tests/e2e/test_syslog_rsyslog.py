"""udpx's syslog preset end to end: logger sends through udpx to rsyslogd, which writes a file."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (Rsyslog, UdpxTestCase, free_port, frontend_stats, hostport, main,
                      render_config, server_stats, tool, unique_tag, wait_until)


def syslog_proxy_config(listen, servers):
    return render_config(
        frontends={"syslog": {"listen": listen, "preset": "syslog", "backend": "collectors"}},
        backends={"collectors": {"servers": servers}},
        global_={"log_level": "debug"})


class LoggerThroughUdpx(UdpxTestCase):

    def setUp(self):
        super().setUp()
        self.rsyslog = Rsyslog(self)
        self.rsyslog_text = hostport(*self.rsyslog.address)
        self.port = free_port()
        self.listen = ("127.0.0.1", self.port)

    def log_with_logger(self, message):
        code, out, err = self.run_tool(
            [tool("logger"), "-n", "127.0.0.1", "-P", str(self.port), "-d", "--rfc3164", message],
            timeout=20)
        self.assertEqual(code, 0, f"logger failed: {out}{err}")

    def wait_logged(self, messages):
        wait_until(lambda: all(self.rsyslog.count(m) for m in messages), 10,
                   f"rsyslogd to write all of {messages}")
        for m in messages:
            self.assertEqual(self.rsyslog.count(m), 1, f"{m} written more than once")

    def test_LoggerMessagesReachRsyslog(self):
        udpx = self.start_udpx(syslog_proxy_config([hostport(*self.listen)], [self.rsyslog_text]))
        messages = [unique_tag() for _ in range(5)]

        for m in messages:
            self.log_with_logger(m)

        self.wait_logged(messages)
        stats = udpx.stats()
        frontend = frontend_stats(stats, "syslog")
        self.assertEqual((frontend["received"], frontend["forwarded"], frontend["replied"]),
                         (len(messages), len(messages), 0))
        self.assertDropped(frontend)
        # Every logger run is a new client port, so a new session.
        self.assertEqual(frontend["sessions"]["created"], len(messages))
        server = server_stats(stats, "collectors", self.rsyslog_text)
        self.assertEqual((server["forwarded"], server["replied"]), (len(messages), 0))

    def test_ManyMessagesFromOneClientShareOneSession(self):
        udpx = self.start_udpx(syslog_proxy_config([hostport(*self.listen)], [self.rsyslog_text]))
        client = self.new_client()
        messages = [unique_tag() for _ in range(5)]

        for m in messages:
            client.send(f"<13>Jan  1 00:00:00 e2e udpx-test: {m}".encode(), self.listen)

        self.wait_logged(messages)
        frontend = frontend_stats(udpx.stats(), "syslog")
        self.assertEqual((frontend["received"], frontend["forwarded"], frontend["replied"]), (5, 5, 0))
        self.assertEqual((frontend["sessions"]["created"], frontend["sessions"]["active"]), (1, 1))
        self.assertDropped(frontend)


class OneWayReplies(UdpxTestCase):

    def test_ReplyToOneWayMessageNeverReachesClient(self):
        upstream = self.start_upstream("chatty-collector")  # answers everything
        port = free_port()
        listen = ("127.0.0.1", port)
        udpx = self.start_udpx(syslog_proxy_config([hostport(*listen)], [upstream.text]))
        client = self.new_client()

        client.send(b"<13>Jan  1 00:00:00 e2e udpx-test: one way", listen)

        upstream.wait_for_datagrams(1)
        client.expect_silence()
        frontend = frontend_stats(udpx.stats(), "syslog")
        self.assertEqual((frontend["forwarded"], frontend["replied"]), (1, 0))
        self.assertDropped(frontend, reply_unexpected=1)


if __name__ == "__main__":
    main()
