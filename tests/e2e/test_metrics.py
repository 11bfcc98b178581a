"""The HTTP endpoint (global.metrics): /metrics as a real Prometheus sees it, exact counters,
/status, errors, and the Grafana dashboard's queries against what udpx exports.

A real Prometheus server (Debian package `prometheus`) scrapes udpx every second; promtool checks
the exposition format. Both are required: a missing one fails the test.
"""

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from udpxtest import (MONLIST_48, REPO, START_TIMEOUT, Udpx, UdpxTestCase, free_port, main,
                      ntp_control_read_variables, ntp_fields, ntp_reply, ntp_request, render_config, tool,
                      udpx_binary, wait_until)

DASHBOARD = os.path.join(REPO, "contrib", "grafana", "udpx.json")
HTTP_TIMEOUT = 10.0
PROMETHEUS_TIMEOUT = 90.0  # start, first scrapes, and a counter's new value through the TSDB
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def free_tcp_port(host="127.0.0.1"):
    """A TCP port free on host right now (bound with port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def http_request(port, path, method="GET", body=None, host="127.0.0.1"):
    """One request on a fresh connection; returns (status, {lower-case header: value}, body bytes)."""
    conn = http.client.HTTPConnection(host, port, timeout=HTTP_TIMEOUT)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def parse_exposition(text):
    """({(name, ((label, value), ...)): float}, {name: type}) from the Prometheus text format."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        if not m:
            raise AssertionError(f"not a sample line: {line!r}")
        labels = tuple(sorted(_LABEL_RE.findall(m.group(2) or "")))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples, types


# PromQL words that look like metric names but are not.
_PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
                 "bool", "offset", "inf", "nan"}


def promql_metric_names(expr):
    """The metric names a PromQL expression (with Grafana variables) reads."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # string literals (label values)
    e = re.sub(r"\{[^}]*\}", "", e)                         # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                        # range selectors [5m]
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)  # label lists
    e = re.sub(r"\$\{?\w+\}?", "", e)                       # Grafana variables
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        word = m.group(0)
        rest = e[m.end():].lstrip()
        if rest.startswith("("):
            continue  # a function call
        if word.lower() in _PROMQL_WORDS or (m.start() > 0 and e[m.start() - 1].isdigit()):
            continue
        names.add(word)
    return names


def dashboard_queries():
    """Every PromQL expression of the dashboard: panel targets and template variable queries."""
    with open(DASHBOARD) as f:
        dash = json.load(f)
    exprs = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "expr" and isinstance(v, str):
                    exprs.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(dash.get("panels", []))
    variables = []
    for var in dash.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            q = var["query"]["query"] if isinstance(var.get("query"), dict) else var.get("query")
            m = re.match(r"label_values\((.*),\s*(\w+)\)$", q)
            if not m:
                raise AssertionError(f"variable {var['name']}: unexpected query {q!r}")
            variables.append(m.group(1))
    return dash, exprs, variables


def grafana_to_promql(expr):
    """Replaces the dashboard's Grafana variables by values Prometheus accepts."""
    e = expr.replace("$__rate_interval", "1m").replace("$__interval", "15s").replace("$__range", "1h")
    return re.sub(r"\$\{?(instance|frontend|backend)\}?", ".*", e)


class Metrics(UdpxTestCase):

    def start_proxy(self, handler=None, preset="ntp", **frontend):
        """udpx with one frontend "f" -> backend "b" (a fake upstream) and the metrics endpoint."""
        self.upstream = self.start_upstream("up", handler or self.ntp_answer)
        self.listen = ("127.0.0.1", free_port())
        self.metrics_port = free_tcp_port()
        return self.start_udpx(render_config(
            frontends={"f": {"listen": [f"127.0.0.1:{self.listen[1]}"], "preset": preset, "backend": "b",
                             **frontend}},
            backends={"b": {"servers": [self.upstream.text]}},
            global_={"metrics": f"127.0.0.1:{self.metrics_port}"}))

    @staticmethod
    def ntp_answer(data, addr):
        return [ntp_reply(ntp_fields(data)["transmit"])]

    def ntp_exchanges(self, count, client=None):
        client = client or self.new_client()
        for _ in range(count):
            request, transmit = ntp_request()
            reply = client.ask(request, self.listen)
            self.assertEqual(ntp_fields(reply)["origin"], transmit)

    def scrape(self):
        status, headers, body = http_request(self.metrics_port, "/metrics")
        self.assertEqual(status, 200, body)
        self.assertEqual(headers.get("content-type"), CONTENT_TYPE)
        return body.decode()

    def samples(self):
        return parse_exposition(self.scrape())[0]

    def value(self, samples, name, **labels):
        key = (name, tuple(sorted(labels.items())))
        if key not in samples:
            raise AssertionError(f"no sample {name}{labels} in /metrics")
        return samples[key]

    def frontend_values(self, samples, frontend="f"):
        return {n: self.value(samples, f"udpx_frontend_{n}_total", frontend=frontend)
                for n in ("received_packets", "received_bytes", "forwarded_packets", "forwarded_bytes",
                          "replied_packets", "replied_bytes", "sessions_created")}

    def drops(self, samples, frontend="f"):
        return {dict(labels)["reason"]: v for (name, labels), v in samples.items()
                if name == "udpx_frontend_dropped_packets_total" and dict(labels)["frontend"] == frontend}

    # ---------------------------------------------------------------------------------------------

    def test_MetricsPassPromtoolCheckWithoutWarnings(self):
        self.start_proxy()
        self.ntp_exchanges(3)
        self.new_client().send(b"garbage", self.listen)
        text = self.scrape()
        done = subprocess.run([tool("promtool"), "check", "metrics"], input=text.encode(), capture_output=True,
                              timeout=60)
        report = (done.stdout + done.stderr).decode(errors="replace")
        self.assertEqual((done.returncode, report), (0, ""), f"promtool check metrics:\n{report}\n--- input:\n{text}")
        _, types = parse_exposition(text)
        for name in ("udpx_build_info", "process_cpu_seconds_total", "process_resident_memory_bytes",
                     "process_open_fds", "process_max_fds", "process_start_time_seconds"):
            self.assertIn(name, types)

    def test_ForwardedAndRepliedCountersAreExact(self):
        self.start_proxy()
        n = 40
        self.ntp_exchanges(n // 2)
        self.ntp_exchanges(n // 2)  # a second client
        s = self.samples()
        self.assertEqual(self.frontend_values(s), {
            "received_packets": n, "received_bytes": 48 * n, "forwarded_packets": n, "forwarded_bytes": 48 * n,
            "replied_packets": n, "replied_bytes": 48 * n, "sessions_created": 0})
        self.assertEqual(set(self.drops(s).values()), {0})
        server = {"backend": "b", "server": self.upstream.text}
        self.assertEqual(self.value(s, "udpx_server_forwarded_packets_total", **server), n)
        self.assertEqual(self.value(s, "udpx_server_replied_packets_total", **server), n)
        self.assertEqual(self.value(s, "udpx_server_up", **server), 1)
        # NTP shares upstream sockets: no session per request, every request answered, the
        # server's pool open.
        self.assertEqual(self.value(s, "udpx_server_sessions_total", **server), 0)
        self.assertEqual(self.value(s, "udpx_frontend_sessions_active", frontend="f"), 0)
        self.assertEqual(self.value(s, "udpx_frontend_in_flight_requests", frontend="f"), 0)
        self.assertEqual(self.value(s, "udpx_server_in_flight_requests", **server), 0)
        self.assertGreaterEqual(self.value(s, "udpx_server_pool_sockets", **server), 1)
        self.assertEqual(self.value(s, "udpx_frontend_token_collisions_total", frontend="f"), 0)
        # /metrics and the SIGUSR1 stats line read the same counters.
        self.assertEqual(self.udpx_stats_forwarded(), n)

    def udpx_stats_forwarded(self):
        return self.processes[0].stats()["frontends"]["f"]["forwarded"]

    def test_DropsAreCountedExactlyByReason(self):
        wrong_origin = lambda data, addr: [ntp_reply(ntp_fields(data)["transmit"] ^ 1)]
        self.start_proxy(handler=wrong_origin, allow=["127.0.0.1/32"])
        good = self.new_client()
        stranger = self.new_client("127.0.0.2")  # outside the allow list
        sent = [
            (stranger, ntp_request()[0]), (stranger, ntp_request()[0]),          # acl
            (good, b"x" * 10), (good, bytes(47)), (good, b"\x1b" + bytes(49)),   # malformed
            (good, ntp_reply(12345)),                                            # wrong_kind (a server reply)
            (good, ntp_control_read_variables()), (good, MONLIST_48),            # control
            (good, ntp_request()[0] + bytes(3000 - 48)),                         # too_large
        ]
        for client, packet in sent:
            client.send(packet, self.listen)
        for _ in range(2):  # forwarded; the upstream answers with a wrong origin: reply_unmatched
            good.send(ntp_request()[0], self.listen)
        total = len(sent) + 2

        def counted():
            s = self.samples()
            return s if (self.value(s, "udpx_frontend_received_packets_total", frontend="f") == total
                         and self.drops(s)["reply_unmatched"] == 2) else None
        s = wait_until(counted, 10, f"udpx to count {total} datagrams and 2 unmatched replies", interval=0.1)
        expected = {reason: 0 for reason in self.drops(s)}
        expected.update(acl=2, malformed=3, wrong_kind=1, control=2, too_large=1, reply_unmatched=2)
        self.assertEqual(self.drops(s), expected)
        self.assertEqual(self.value(s, "udpx_frontend_forwarded_packets_total", frontend="f"), 2)
        self.assertEqual(self.value(s, "udpx_frontend_replied_packets_total", frontend="f"), 0)
        good.expect_silence()

    def test_StatusIsJsonAndOnlyGetAndHeadAreServed(self):
        self.start_proxy()
        self.ntp_exchanges(2)
        status, headers, body = http_request(self.metrics_port, "/status")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("content-type"), "application/json")
        doc = json.loads(body)
        self.assertEqual(doc["frontends"]["f"]["forwarded"], 2)

        status, _, body = http_request(self.metrics_port, "/nope")
        self.assertEqual(status, 404)
        self.assertIn(b"/metrics", body, "the 404 names the paths that exist")
        for method, path in (("POST", "/metrics"), ("PUT", "/status"), ("DELETE", "/metrics")):
            status, headers, body = http_request(self.metrics_port, path, method=method, body=b"x=1")
            self.assertEqual(status, 405, f"{method} {path}")
            self.assertEqual(headers.get("allow"), "GET, HEAD")

        status, headers, body = http_request(self.metrics_port, "/metrics", method="HEAD")
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(headers.get("content-type"), CONTENT_TYPE)
        self.assertGreater(int(headers.get("content-length", "0")), 1000)
        status, _, body = http_request(self.metrics_port, "/metrics?name[]=udpx_build_info")
        self.assertEqual(status, 200)
        self.assertIn(b"udpx_build_info", body)

    def test_ProcessMetricsDescribeTheUdpxProcess(self):
        before = time.time()
        upstream = self.start_upstream("up", self.ntp_answer)
        self.listen = ("127.0.0.1", free_port())
        self.metrics_port = free_tcp_port()
        config = self.write_file("udpx.toml", render_config(
            frontends={"f": {"listen": [f"127.0.0.1:{self.listen[1]}"], "preset": "ntp", "backend": "b"}},
            backends={"b": {"servers": [upstream.text]}},
            global_={"metrics": f"127.0.0.1:{self.metrics_port}"}))
        # prlimit execs udpx: the pid is udpx's, with an open-files limit the test knows.
        udpx = Udpx("udpx", [tool("prlimit"), "--nofile=777:777", "--", udpx_binary(), "-c", config], self.tmp)
        self.processes.append(udpx)
        self.addCleanup(self._stop_udpx, udpx)
        udpx.wait_ready()
        s = self.samples()
        self.assertEqual(self.value(s, "process_max_fds"), 777)
        # Listener, metrics socket, event loop, /proc files, stdio: a handful, far below the limit.
        self.assertTrue(5 <= self.value(s, "process_open_fds") <= 40, s)
        self.assertGreater(self.value(s, "process_resident_memory_bytes"), 1 << 20)
        self.assertGreaterEqual(self.value(s, "process_virtual_memory_bytes"),
                                self.value(s, "process_resident_memory_bytes"))
        self.assertGreaterEqual(self.value(s, "process_start_time_seconds"), before - 2)
        self.assertLessEqual(self.value(s, "process_start_time_seconds"), time.time() + 1)
        cpu = self.value(s, "process_cpu_seconds_total")
        self.assertGreaterEqual(cpu, 0)
        self.ntp_exchanges(10)
        self.assertGreaterEqual(self.value(self.samples(), "process_cpu_seconds_total"), cpu)

    def test_MetricsEndpointOnIpv6Loopback(self):
        upstream = self.start_upstream("up", self.ntp_answer)
        self.listen = ("127.0.0.1", free_port())
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
            port = s.getsockname()[1]
        self.start_udpx(render_config(
            frontends={"f": {"listen": [f"127.0.0.1:{self.listen[1]}"], "preset": "ntp", "backend": "b"}},
            backends={"b": {"servers": [upstream.text]}},
            global_={"metrics": f"[::1]:{port}"}))
        self.ntp_exchanges(3)
        status, headers, body = http_request(port, "/metrics", host="::1")
        self.assertEqual((status, headers.get("content-type")), (200, CONTENT_TYPE))
        self.assertIn(b'udpx_frontend_replied_packets_total{frontend="f"} 3\n', body)

    def test_SlowHttpClientDoesNotHoldUpTheDataPath(self):
        self.start_proxy()
        stalled = socket.create_connection(("127.0.0.1", self.metrics_port), timeout=HTTP_TIMEOUT)
        self.addCleanup(stalled.close)
        stalled.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # and never the end of the headers
        self.ntp_exchanges(5)
        self.assertEqual(self.value(self.samples(), "udpx_frontend_replied_packets_total", frontend="f"), 5)

    def test_MetricsPortInUseIsAClearStartupError(self):
        busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(busy.close)
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        upstream = self.start_upstream("up")
        listen = free_port()
        udpx = self.launch_udpx(render_config(
            frontends={"f": {"listen": [f"127.0.0.1:{listen}"], "preset": "raw", "backend": "b"}},
            backends={"b": {"servers": [upstream.text]}},
            global_={"metrics": f"127.0.0.1:{port}"}))
        self.assertEqual(udpx.wait_exit(START_TIMEOUT), 1)
        log = udpx.log()
        self.assertIn(f"metrics endpoint (global.metrics): cannot listen on 127.0.0.1:{port}: Address already in use",
                      log)
        self.assertIn(f"ss -tlpn 'sport = :{port}'", log)
        self.assertNotRegex(log, r"\bready\b")

    # ---------------------------------------------------------------------------------------------
    # The dashboard

    def test_DashboardQueriesOnlyMetricsUdpxExports(self):
        dash, exprs, variables = dashboard_queries()
        self.assertEqual([i["name"] for i in dash["__inputs"]], ["DS_PROMETHEUS"])
        self.assertGreaterEqual(len(exprs), 20)
        wanted = set()
        for e in exprs + variables:
            names = promql_metric_names(e)
            self.assertTrue(names, f"no metric name found in {e!r}")
            wanted |= names
        self.start_proxy()
        _, types = parse_exposition(self.scrape())
        self.assertEqual(sorted(wanted - set(types)), [], "the dashboard queries metrics udpx does not export")
        # And the dashboard shows the metrics that matter (a renamed metric fails here too).
        for name in ("udpx_frontend_dropped_packets_total", "udpx_frontend_sessions_active", "udpx_server_up",
                     "udpx_server_probe_rtt_seconds", "udpx_config_reloads_total", "process_cpu_seconds_total",
                     "process_resident_memory_bytes"):
            self.assertIn(name, wanted)

    def test_MetricNameExtractionFromPromql(self):
        self.assertEqual(promql_metric_names(
            'sum by (frontend, reason) (rate(udpx_a_total{instance=~"$instance", x="by(y)"}[$__rate_interval])) > 0'),
            {"udpx_a_total"})
        self.assertEqual(promql_metric_names("time() - process_start_time_seconds{instance=~\"$instance\"}"),
                         {"process_start_time_seconds"})
        self.assertEqual(promql_metric_names("sum(a) / count(b offset 5m) and on (x) c"), {"a", "b", "c"})

    # ---------------------------------------------------------------------------------------------
    # A real Prometheus

    def start_prometheus(self, target_port):
        port = free_tcp_port()
        config = self.write_file("prometheus.yml", "\n".join([
            "global:",
            "  scrape_interval: 1s",
            "  scrape_timeout: 1s",
            "  evaluation_interval: 1s",
            "scrape_configs:",
            "  - job_name: udpx",
            "    static_configs:",
            f"      - targets: ['127.0.0.1:{target_port}']",
            "",
        ]))
        data = self.path("prometheus-data")
        os.mkdir(data)
        proc = self.start_process("prometheus", [
            tool("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h"])

        def ready():
            if not proc.running():
                raise AssertionError(f"prometheus exited early:\n{proc.log()}")
            try:
                return http_request(port, "/-/ready")[0] == 200
            except OSError:
                return False
        wait_until(ready, PROMETHEUS_TIMEOUT, "prometheus to be ready", interval=0.2)
        return port

    def prometheus_query(self, port, query):
        status, _, body = http_request(port, "/api/v1/query?" + urllib.parse.urlencode({"query": query}))
        doc = json.loads(body)
        if status != 200 or doc.get("status") != "success":
            raise AssertionError(f"prometheus query {query!r}: HTTP {status}: {body[:500]!r}")
        return doc["data"]["result"]

    def wait_prometheus_value(self, port, query, want):
        last = {}

        def has_value():
            result = self.prometheus_query(port, query)
            last["result"] = result
            return len(result) == 1 and float(result[0]["value"][1]) == want
        try:
            wait_until(has_value, PROMETHEUS_TIMEOUT, f"prometheus to see {query} == {want}", interval=0.5)
        except AssertionError as e:
            raise AssertionError(f"{e}; last result: {last.get('result')}")

    def test_PrometheusScrapesUdpxAndSeesTheCountersMove(self):
        self.start_proxy()
        prom = self.start_prometheus(self.metrics_port)
        forwarded = 'udpx_frontend_forwarded_packets_total{job="udpx", frontend="f"}'
        self.wait_prometheus_value(prom, f'up{{job="udpx", instance="127.0.0.1:{self.metrics_port}"}}', 1)
        self.wait_prometheus_value(prom, forwarded, 0)
        self.ntp_exchanges(7)
        self.wait_prometheus_value(prom, forwarded, 7)
        self.ntp_exchanges(5)
        self.wait_prometheus_value(prom, forwarded, 12)
        self.wait_prometheus_value(prom, 'udpx_frontend_replied_packets_total{job="udpx", frontend="f"}', 12)
        # Every query of the dashboard is valid PromQL for this Prometheus, and the ones on
        # metrics that always have samples return data.
        _, exprs, variables = dashboard_queries()
        for e in exprs:
            self.prometheus_query(prom, grafana_to_promql(e))
        for selector in variables:
            self.assertTrue(self.prometheus_query(prom, grafana_to_promql(selector)), selector)
        self.assertTrue(self.prometheus_query(prom, 'process_resident_memory_bytes{job="udpx"}'))


if __name__ == "__main__":
    main()
