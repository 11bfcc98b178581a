"""Batched sends keep every datagram intact: requests of one client in a row go to the server with
one sendmmsg, and equal-sized replies to one client in a row as one UDP_SEGMENT (GSO) message;
the server and the client must still see each datagram separately, whole and in order.

udpx is stopped (SIGSTOP) while a burst queues up, so that it reads the whole burst with one
receive call and the batching paths are certain to run.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (UdpxTestCase, free_port, frontend_stats, main, render_config, wait_until)


def packet_handler(process):
    """The process that moves packets: the worker under a binder, else udpx itself."""
    try:
        with open(f"/proc/{process.pid}/task/{process.pid}/children") as f:
            kids = [int(p) for p in f.read().split()]
    except OSError:
        kids = []
    return kids[0] if kids else process.pid


class Batching(UdpxTestCase):

    def setUp(self):
        super().setUp()
        self.requests = []
        self.upstream = self.start_upstream("held", handler=self.hold)
        self.listen = ("127.0.0.1", free_port())
        self.udpx = self.start_udpx(render_config(
            frontends={"app": {"listen": [f"127.0.0.1:{self.listen[1]}"], "preset": "raw", "backend": "app"}},
            backends={"app": {"servers": [self.upstream.text]}},
            global_={"log_level": "debug"}))
        self.pid = packet_handler(self.udpx)

    def hold(self, data, addr):
        """Answers nothing by itself: the test sends the replies when udpx is stopped."""
        self.requests.append((data, addr))
        return []

    def burst_through_stopped_udpx(self, client, payloads):
        os.kill(self.pid, signal.SIGSTOP)
        try:
            for p in payloads:
                client.send(p, self.listen)
            time.sleep(0.2)
        finally:
            os.kill(self.pid, signal.SIGCONT)
        wait_until(lambda: len(self.requests) >= len(payloads), 5, "the burst at the server")
        time.sleep(0.2)  # nothing more may arrive

    def reply_burst_to_stopped_udpx(self, to, replies):
        os.kill(self.pid, signal.SIGSTOP)
        try:
            for r in replies:
                self.upstream.sock.sendto(r, to)
            time.sleep(0.2)
        finally:
            os.kill(self.pid, signal.SIGCONT)

    def assertSame(self, got, want, what):
        """Lists of datagrams; on a mismatch, names the first difference (no slow full diff)."""
        if got == want:
            return
        first = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
        self.fail(f"{what}: {len(got)} datagrams (sizes {[len(g) for g in got]}), wanted {len(want)} "
                  f"(sizes {[len(w) for w in want]}); first difference at #{first}")

    def exchange(self, payloads):
        client = self.new_client()
        self.burst_through_stopped_udpx(client, payloads)
        self.assertSame([d for d, _ in self.requests], payloads, "the server sees each request whole, in order")
        sources = {a for _, a in self.requests}
        self.assertEqual(len(sources), 1, f"one session, one upstream socket: {sources}")

        replies = [b"re:" + p for p in payloads]
        self.reply_burst_to_stopped_udpx(sources.pop(), replies)
        got = [client.receive()[0] for _ in replies]
        self.assertSame(got, replies, "the client sees each reply whole, in order")
        client.expect_silence()
        st = frontend_stats(self.udpx.stats(), "app")
        self.assertEqual((st["received"], st["forwarded"], st["replied"]), (len(payloads),) * 3, st)
        self.assertEqual({k: v for k, v in st["dropped"].items() if v}, {})

    def test_EqualSizedBurstArrivesAsSeparateDatagrams(self):
        self.exchange([b"%03d" % i + b"x" * 97 for i in range(40)])

    def test_MixedSizesAndAShortLastDatagramStayIntact(self):
        sizes = [100, 100, 100, 30, 30, 100, 1, 1200, 1200, 1201, 64, 64, 64, 10]
        self.exchange([(b"%02d:" % i + bytes([65 + i]) * s)[:s] if s >= 3 else bytes([65 + i]) * s
                       for i, s in enumerate(sizes)])

    def test_SixtyFourFullSizeSegmentsFillOneBatch(self):
        # 64 x 1000 bytes: the most one batch holds, and within one UDP datagram's 65507 bytes.
        self.exchange([bytes([i]) * 1000 for i in range(64)])


if __name__ == "__main__":
    main()
