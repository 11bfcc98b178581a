"""NTS (RFC 8915) end to end across network namespaces this test creates (issue 15): authenticated
time brought into a separated network by udpx, TLS untouched.

    client ns (10.124.1.2) ── veth ── gateway ns (10.124.1.1 | 10.124.2.1) ── veth ── server ns (10.124.2.2)
    chronyd: server NAME nts          udpx: 4460/tcp (nts-ke), 123/udp (ntp)          chronyd NTS server

The client has no route to the server's network at all: only udpx on the gateway joins them.
NAME resolves to the gateway through the client namespace's own hosts file
(/etc/netns/<client ns>/hosts, which `ip netns exec` mounts over /etc/hosts; the machine's
/etc/hosts is never touched), and the server's self-signed certificate (made here with openssl)
names NAME, so the client's TLS check passes through the relay. The NTS-KE server names no other
NTP server (no ntsntpserver), so the client sends its authenticated NTP to the address it did the
key exchange with: the gateway, through udpx too. The client chronyd runs as a daemon (-x: it
never touches the clock) with its own command socket in the test's directory; `chronyc -n authdata`
and `ntpdata` there show NTS succeeded and time was served. Needs root (CI runs as root).
"""

import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (NamespacesMixin, Udpx, UdpxTestCase, frontend_stats, main, render_config, tool, udpx_binary,
                      wait_until)

CLIENT_IP, GATEWAY_CLIENT_SIDE = "10.124.1.2", "10.124.1.1"
GATEWAY_SERVER_SIDE, SERVER_IP = "10.124.2.1", "10.124.2.2"
NAME = "nts.udpx.test"  # .test: reserved, never a real name (RFC 6761)
NTS_KE_PORT, NTP_PORT = 4460, 123

# From the client namespace: a TCP connection to HOST:PORT; prints "ok" or the error's name.
CONNECT = """
import errno, socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e)))
"""


class NtsThroughUdpxAcrossNamespaces(NamespacesMixin, UdpxTestCase):

    def setUp(self):
        super().setUp()
        self.make_namespaces("udpxnts", CLIENT_IP, GATEWAY_CLIENT_SIDE, GATEWAY_SERVER_SIDE, SERVER_IP)
        self.write_client_hosts()
        self.make_certificate()
        self.start_nts_server()

    # helpers

    def write_client_hosts(self):
        """NAME -> the gateway, for the client namespace only (removed at cleanup, whatever happens)."""
        top = "/etc/netns"
        mine = os.path.join(top, self.ns["client"])
        if not os.path.isdir(top):
            os.mkdir(top, 0o755)
            self.addCleanup(lambda: os.path.isdir(top) and not os.listdir(top) and os.rmdir(top))
        os.mkdir(mine, 0o755)
        self.addCleanup(shutil.rmtree, mine, ignore_errors=True)
        with open(os.path.join(mine, "hosts"), "w") as f:
            f.write(f"127.0.0.1 localhost\n{GATEWAY_CLIENT_SIDE} {NAME}\n")
        # Asked in the client namespace only: found in its hosts file, no resolver is asked.
        got = self.in_ns(self.ns["client"], [tool("getent"), "hosts", NAME])
        self.assertEqual(got.stdout.split()[:1], [GATEWAY_CLIENT_SIDE], got.stdout + got.stderr)

    def make_certificate(self):
        self.key, self.cert = self.path("server.key"), self.path("server.crt")
        code, out, err = self.run_tool(
            [tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "2", "-subj", f"/CN={NAME}",
             "-addext", f"subjectAltName=DNS:{NAME}"], timeout=30)
        self.assertEqual(code, 0, out + err)

    def start_nts_server(self):
        # bindcmdaddress /: no command socket at all (its default path is the machine's /run/chrony).
        conf = self.write_file("chronyd-server.conf", "\n".join([
            f"port {NTP_PORT}", f"bindaddress {SERVER_IP}", "cmdport 0", "bindcmdaddress /", "local stratum 8",
            "allow all", f"ntsserverkey {self.key}", f"ntsservercert {self.cert}", f"ntsport {NTS_KE_PORT}",
            f"ntsdumpdir {self.path('server-nts')}", f"pidfile {self.path('chronyd-server.pid')}", ""]))
        os.makedirs(self.path("server-nts"), exist_ok=True)
        self.server = self.start_process("chronyd-nts-server", [
            tool("ip"), "netns", "exec", self.ns["server"], tool("chronyd"), "-x", "-d", "-u", "root", "-f", conf])

        def listening():
            if not self.server.running():
                raise AssertionError(f"chronyd exited early:\n{self.server.log()}")
            return self.connect(self.ns["gateway"], SERVER_IP, NTS_KE_PORT) == "ok"
        wait_until(listening, 30, "chronyd's NTS-KE port in the server namespace", interval=0.2)

    def connect(self, ns, host, port):
        done = self.in_ns(ns, [sys.executable, "-c", CONNECT, host, str(port)], timeout=30)
        return done.stdout.strip() or done.stderr.strip()

    def start_udpx_in_gateway(self):
        allow = ["10.124.1.0/24"]
        config = self.write_file("udpx.toml", render_config(
            frontends={"ke": {"listen": [f"{GATEWAY_CLIENT_SIDE}:{NTS_KE_PORT}"], "preset": "nts-ke", "backend": "ke",
                              "allow": allow},
                       "time": {"listen": [f"{GATEWAY_CLIENT_SIDE}:{NTP_PORT}"], "preset": "ntp", "backend": "time",
                                "allow": allow}},
            backends={"ke": {"servers": [f"{SERVER_IP}:{NTS_KE_PORT}"]},
                      "time": {"servers": [f"{SERVER_IP}:{NTP_PORT}"]}},
            global_={"user": "nobody"}))
        # `ip netns exec` execs udpx: the pid is udpx's (the binder's), for stats and stop.
        udpx = Udpx("udpx", [tool("ip"), "netns", "exec", self.ns["gateway"], udpx_binary(), "-c", config],
                    self.tmp)
        self.processes.append(udpx)
        self.addCleanup(self._stop_udpx, udpx)
        udpx.wait_ready()
        return udpx

    def start_nts_client(self):
        """chronyd in the client namespace, a daemon that never sets the clock (-x), with its command
        socket in the test's directory (chronyc talks to it there, never to /run/chrony)."""
        self.client_socket = os.path.join(self.path("client-run"), "chronyd.sock")
        os.makedirs(self.path("client-nts"), exist_ok=True)
        conf = self.write_file("chronyd-client.conf", "\n".join([
            f"server {NAME} iburst nts", f"ntstrustedcerts {self.cert}", "nosystemcert",
            f"ntsdumpdir {self.path('client-nts')}", "cmdport 0", f"bindcmdaddress {self.client_socket}",
            f"pidfile {self.path('chronyd-client.pid')}", ""]))
        client = self.start_process("chronyd-nts-client", [
            tool("ip"), "netns", "exec", self.ns["client"], tool("chronyd"), "-x", "-d", "-u", "root", "-f", conf])
        wait_until(lambda: os.path.exists(self.client_socket) or not client.running(), 15,
                   "the client chronyd's command socket")
        self.assertTrue(client.running(), client.log())
        return client

    def chronyc(self, *command):
        done = self.in_ns(self.ns["client"], [tool("chronyc"), "-n", "-h", self.client_socket, *command],
                          timeout=20)
        return done.stdout + done.stderr

    # the test

    def test_ChronyGetsAuthenticatedTimeThroughUdpxOnTheGatewayAndCannotWithout(self):
        c = self.ns["client"]
        # Without udpx: no route from the client to the server, and nothing on the gateway.
        self.assertEqual(self.connect(c, SERVER_IP, NTS_KE_PORT), "ENETUNREACH")
        self.assertEqual(self.connect(c, NAME, NTS_KE_PORT), "ECONNREFUSED")

        udpx = self.start_udpx_in_gateway()
        client = self.start_nts_client()

        def authenticated():
            if not client.running():
                raise AssertionError(f"the client chronyd exited:\n{client.log()}")
            ntp = self.chronyc("ntpdata")
            valid = re.search(r"Total valid RX\s*:\s*(\d+)", ntp)
            return re.search(r"Authenticated\s*:\s*Yes", ntp) and valid and int(valid.group(1)) >= 1 and ntp
        ntpdata = wait_until(authenticated, 30, "the client to get authenticated time through udpx", interval=0.5)
        self.assertRegex(ntpdata, rf"Remote address\s*:\s*{re.escape(GATEWAY_CLIENT_SIDE)} ")
        self.assertRegex(ntpdata, r"Mode\s*:\s*Server")
        # authdata: the source uses NTS, holds cookies and got no NAK (its last columns: NAK Cook CLen).
        auth = self.chronyc("authdata")
        row = re.search(rf"^{re.escape(GATEWAY_CLIENT_SIDE)}\s+NTS\s+(.*)$", auth, re.M)
        self.assertIsNotNone(row, auth)
        nak, cookies = (int(v) for v in row.group(1).split()[-3:-1])
        self.assertEqual(nak, 0, f"NAKs:\n{auth}")
        self.assertGreater(cookies, 0, f"no cookies:\n{auth}")
        # And the time is used: the source is selected (a few samples after iburst).
        wait_until(lambda: re.search(rf"^\^\* {re.escape(GATEWAY_CLIENT_SIDE)} ", self.chronyc("sources"), re.M),
                   30, "the client to select the source reached through udpx", interval=0.5)

        # Both legs went through udpx: the key exchange (TCP, the server's certificate came back)
        # and the NTP, authenticated (extension fields: longer than a plain 48-byte request).
        stats = udpx.stats()
        ke = frontend_stats(stats, "ke")
        self.assertGreaterEqual(ke["tcp"]["accepted"], 1)
        self.assertGreater(ke["tcp"]["bytes_to_client"], 500)
        self.assertEqual(ke["tcp"]["refused_upstream"] + ke["tcp"]["closed_error"], 0, ke["tcp"])
        self.assertEqual(ke["received"], 0)  # TCP only: no UDP socket
        time_fe = frontend_stats(stats, "time")
        self.assertGreaterEqual(time_fe["replied"], 1)
        self.assertGreater(time_fe["forwarded_bytes"] / time_fe["forwarded"], 48)
        self.assertDropped(time_fe)
        # udpx relayed; it did not make the gateway a router.
        self.assertEqual(self.in_ns(self.ns["gateway"], [tool("sysctl"), "-n", "net.ipv4.ip_forward"]).stdout.strip(),
                         "0")
        self.assertEqual(self.connect(c, SERVER_IP, NTS_KE_PORT), "ENETUNREACH")


if __name__ == "__main__":
    main()
