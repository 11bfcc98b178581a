"""The data path allocates nothing per datagram: valgrind counts udpx's heap allocations for a
short and a long run over the same sessions; the long run may not allocate more per datagram.

Registered only for the normal build (valgrind cannot run a binary built with ASan).
Run as root (as CI does), udpx is a binder and a worker: valgrind follows the exec into the worker
(--trace-children) and the count is the worker's, the process that serves the datagrams. valgrind
cannot run under seccomp, so the worker skips its sandbox when it runs under valgrind (and says so).
"""

import glob

import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (Process, UdpxTestCase, free_port, main, parse_echo, render_config, tool,
                      udpx_binary, wait_until)

_HEAP_RE = re.compile(r"total heap usage: ([\d,]+) allocs")


class Allocations(UdpxTestCase):

    def heap_allocs_for(self, rounds, clients=10):
        """Runs udpx under valgrind, sends `rounds` requests from each client, returns allocs."""
        upstream = self.start_upstream(f"echo{rounds}")
        port = free_port()
        config = self.write_file(f"udpx{rounds}.toml", render_config(
            frontends={"f": {"listen": [f"127.0.0.1:{port}"], "preset": "raw", "backend": "b",
                             "session_timeout": "60s"}},
            backends={"b": {"servers": [upstream.text]}}))
        log_pattern = self.path(f"valgrind{rounds}.%p.log")
        proc = Process(f"udpx-valgrind-{rounds}",
                       [tool("valgrind"), "--tool=memcheck", "--leak-check=no", "--trace-children=yes",
                        f"--log-file={log_pattern}", udpx_binary(), "-c", config], self.tmp)
        self.processes.append(proc)
        self.addCleanup(proc.terminate, signal.SIGKILL)
        wait_until(lambda: "ready" in proc.log(), 60, "udpx under valgrind to be ready")
        socks = [self.new_client() for _ in range(clients)]
        for r in range(rounds):
            for i, c in enumerate(socks):
                payload = b"r%d c%d" % (r, i)
                self.assertEqual(parse_echo(c.ask(payload, ("127.0.0.1", port), timeout=10))[2], payload)
        code, clean = proc.terminate(signal.SIGTERM, timeout=60)
        self.assertTrue(clean and code == 0, f"udpx exit {code}:\n{proc.log()}")
        text = self.serving_process_log(rounds)
        m = _HEAP_RE.search(text)
        self.assertIsNotNone(m, text)
        return int(m.group(1).replace(",", ""))

    def serving_process_log(self, rounds):
        """valgrind's log of the process that served the datagrams: the worker when run as root."""
        logs = {}
        for path in glob.glob(self.path(f"valgrind{rounds}.*.log")):
            with open(path) as f:
                logs[path] = f.read()
        if os.geteuid() != 0:
            self.assertEqual(len(logs), 1, list(logs))
            return next(iter(logs.values()))
        workers = [text for text in logs.values() if re.search(r"Command: \S+ --worker-fd ", text)]
        self.assertEqual(len(workers), 1, f"expected one worker under valgrind, got logs: {list(logs)}")
        self.assertEqual(len(logs), 2, f"expected the binder and the worker: {list(logs)}")
        return workers[0]

    def test_NoHeapAllocationPerDatagram(self):
        short = self.heap_allocs_for(rounds=5)     # 50 requests and replies
        long = self.heap_allocs_for(rounds=105)    # 1050 requests and replies, same 10 sessions
        self.assertLess(long - short, 20,
                        f"{short} allocations for 50 datagrams, {long} for 1050: the data path allocates")


if __name__ == "__main__":
    main()
