"""NTS (RFC 8915) end to end through udpx (issue 15): a real chronyd NTS server on 127.0.0.1, udpx
on 127.0.0.2 relaying the key exchange (nts-ke, TCP, TLS untouched) and the authenticated NTP
(ntp, UDP), and a real chronyd client that trusts only the server's self-signed certificate,
made for the relay's address: through udpx the client gets authenticated time; straight to the
server (whose address the certificate does not name) it cannot."""

import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (UdpxTestCase, free_port, frontend_stats, main, render_config, tool, wait_until)

RELAY = "127.0.0.2"


def tcp_port_free(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port_both(*hosts):
    """A port free for UDP and TCP on every one of hosts."""
    for _ in range(100):
        port = free_port(*hosts)
        if all(tcp_port_free(h, port) for h in hosts):
            return port
    raise AssertionError("no port free for UDP and TCP")


def listening(host, port):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


class NtsThroughUdpx(UdpxTestCase):

    def setUp(self):
        super().setUp()
        self.key, self.cert = self.path("server.key"), self.path("server.crt")
        code, out, err = self.run_tool(
            [tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "2", "-subj", "/CN=udpx relay",
             "-addext", f"subjectAltName=IP:{RELAY}"], timeout=30)
        self.assertEqual(code, 0, out + err)
        self.ntp_port = free_port_both("127.0.0.1", RELAY)
        self.ke_port = free_port_both("127.0.0.1", RELAY)
        conf = self.write_file("chrony-server.conf", "\n".join([
            f"port {self.ntp_port}", "bindaddress 127.0.0.1", "cmdport 0", "local stratum 8",
            "allow 127.0.0.0/8", f"ntsserverkey {self.key}", f"ntsservercert {self.cert}",
            f"ntsport {self.ke_port}", f"ntsdumpdir {self.tmp}", f"pidfile {self.path('server.pid')}", ""]))
        self.server = self.start_process("chronyd-nts-server", [tool("chronyd"), "-x", "-d", "-u", "root", "-f", conf])
        wait_until(lambda: listening("127.0.0.1", self.ke_port), 15, "chronyd's NTS-KE port to listen")

    def client(self, host, name):
        """One-shot chronyd -Q with NTS against host; returns (exit code, output)."""
        conf = self.write_file(f"{name}.conf", "\n".join([
            f"server {host} port {self.ntp_port} ntsport {self.ke_port} nts iburst maxsamples 1",
            f"ntstrustedcerts {self.cert}", "nosystemcert", "cmdport 0", f"ntsdumpdir {self.tmp}/{name}",
            f"pidfile {self.path(name + '.pid')}", ""]))
        os.makedirs(f"{self.tmp}/{name}", exist_ok=True)
        code, out, err = self.run_tool([tool("chronyd"), "-Q", "-d", "-u", "root", "-t", "15", "-f", conf],
                                       timeout=40)
        return code, out + err

    def test_ChronyGetsAuthenticatedTimeThroughUdpxAndNotAroundIt(self):
        udpx = self.start_udpx(render_config(
            frontends={"ke": {"listen": [f"{RELAY}:{self.ke_port}"], "preset": "nts-ke", "backend": "ke"},
                       "time": {"listen": [f"{RELAY}:{self.ntp_port}"], "preset": "ntp", "backend": "time"}},
            backends={"ke": {"servers": [f"127.0.0.1:{self.ke_port}"]},
                      "time": {"servers": [f"127.0.0.1:{self.ntp_port}"]}}))
        code, out = self.client(RELAY, "through")
        self.assertEqual(code, 0, out)
        self.assertRegex(out, r"System clock wrong by -?[0-9.]+ seconds", out)
        stats = udpx.stats()
        ke = frontend_stats(stats, "ke")
        self.assertGreaterEqual(ke["tcp"]["accepted"], 1)
        self.assertGreater(ke["tcp"]["bytes_to_client"], 500)  # the server's certificate came through
        self.assertEqual(ke["received"], 0)  # TCP only: no UDP socket
        time = frontend_stats(stats, "time")
        # Authenticated requests carry extension fields: longer than a plain 48-byte request.
        self.assertGreaterEqual(time["replied"], 1)
        self.assertGreater(time["forwarded_bytes"] / time["forwarded"], 48)
        self.assertDropped(time)

        # Around udpx, straight to the server: its certificate does not name 127.0.0.1.
        code, out = self.client("127.0.0.1", "around")
        self.assertNotEqual(code, 0, out)
        self.assertNotRegex(out, r"System clock wrong by", out)


if __name__ == "__main__":
    main()
