#!/usr/bin/env python3
"""Writes the hand-made seed inputs of tests/fuzz/corpus/<target>/ (seed-*): well-formed messages of
each format, so libFuzzer starts from the interesting paths instead of finding magic numbers first.
Inputs found by fuzzing (crashes kept as regression seeds) sit beside them under other names.
Run from anywhere: python3 tests/fuzz/make_seeds.py"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def ntp(li_vn_mode, stratum=2, ref=b"GPS\0", origin=0, transmit=0x1122334455667788, extra=b""):
    return (struct.pack("!BBbb", li_vn_mode, stratum, 6, -20) + struct.pack("!II", 0, 0) + ref +
            struct.pack("!QQQQ", 0, origin, 0, transmit) + extra)


def dns(ident, flags, qname=b"\x07example\x03com\x00", qtype=1, answers=b""):
    return struct.pack("!HHHHHH", ident, flags, 1, 1 if answers else 0, 0, 0) + qname + struct.pack("!HH", qtype, 1) + answers


# Packets: both directions of each protocol, the kinds udpx refuses, and lengths around the edges.
ntp_request = ntp(0x23, 0, b"\0\0\0\0", transmit=0xE1234567_89ABCDEF)
ntp_reply = ntp(0x24, 2, b"GPS\0", origin=0xE1234567_89ABCDEF)
packets = {
    "ntp_packet": {
        "client": ntp_request, "server": ntp_reply, "v3": ntp(0x1B), "control6": b"\x16\x01\x00\x01" + b"\0" * 8,
        "monlist7": b"\x17\x00\x03\x2a" + b"\0" * 4, "short": ntp_request[:47], "ext": ntp_request + b"\0\x04\0\x10" + b"\0" * 12,
        "odd": ntp_request + b"\0", "kod-rate": ntp(0x24, 0, b"RATE"),
    },
    "dns_packet": {
        "query": dns(0x1234, 0x0100), "response": dns(0x1234, 0x8180, answers=b"\xc0\x0c\0\x01\0\x01\0\0\0\x3c\0\x04\x7f\0\0\x01"),
        "truncated": dns(0x1234, 0x8380), "header-only": b"\xab\xcd\x01\x00" + b"\0" * 8, "short": b"\xab\xcd\x01",
    },
    "syslog_packet": {
        "rfc3164": "<13>Jan  1 00:00:00 host app[1]: hello", "rfc5424": "<165>1 2026-01-01T00:00:00Z host app 1 ID47 - hello",
        "no-pri": "hello", "empty": "",
    },
    "raw_packet": {"bytes": b"\x00\x01\x02\xff", "text": "ping"},
}
for target, seeds in packets.items():
    for name, data in seeds.items():
        write(target, name, data)

# Probes: FuzzedDataProvider reads the spec from the front and the integers from the back; the
# reply is what is left, so a seed is a reply followed by 17 bytes of integers and a flag.
tail = b"\x01" + b"\x88\x77\x66\x55\x44\x33\x22\x11" + b"\xef\xcd\xab\x89\x67\x45\x23\xe1"
write("ntp_probe", "reply", ntp_reply + tail)
write("ntp_probe", "kod-deny", ntp(0x24, 0, b"DENY", origin=0xE1234567_89ABCDEF) + tail)
write("ntp_probe", "unsync", ntp(0xE4, 16, origin=0xE1234567_89ABCDEF) + tail)
write("dns_probe", "root", b".\\" + dns(0x89EF, 0x8180, b"\x00", 2) + tail)
write("dns_probe", "servfail", b"example.com\\" + dns(0x89EF, 0x8182) + tail)
write("dns_probe", "refused", b"example.com\\" + dns(0x89EF, 0x8185) + tail)
write("raw_probe", "match", b"ping\\pong\\pong and more" + tail)
write("raw_probe", "mismatch", b"ping\\pong\\pang" + tail)

# The config loader: the shipped configs and a few small ones.
for name in ["udpx.toml", "examples/ntp.toml", "examples/dns.toml", "examples/raw.toml", "examples/syslog.toml"]:
    with open(os.path.join(REPO, "conf", name), "rb") as f:
        write("config", name.replace("/", "-"), f.read())
write("config", "minimal", '[frontend.ntp]\nlisten = ["127.0.0.1:10123"]\npreset = "ntp"\nbackend = "b"\n'
      '[backend.b]\nservers = ["127.0.0.1:123"]\n')
write("config", "errors", '[frontend.x]\nlisten = "nope"\npreset = "ntpp"\n[backend.y]\nservers = [1]\n[global]\nlog_level = 3\n')
write("config", "health", '[frontend.d]\nlisten = ["[::1]:5353"]\npreset = "dns"\nbackend = "r"\nsession_timeout = "2s"\n'
      '[backend.r]\nservers = ["localhost:53", "127.0.0.2:53"]\nbalance = "first"\n'
      '[backend.r.health]\ntype = "dns"\nquery = "example.com"\ninterval = "5s"\nrise = 2\nfall = 3\n')

# The handover (privsep/fdpass.cpp): byte 0 is the number of descriptors the target attaches.
def handover(fds, name, text, magic=0x55445058, version=2, uid=101, gid=102, declared=None):
    n = fds if declared is None else declared
    return bytes([fds]) + struct.pack("=7I", magic, version, n, len(name), len(text), uid, gid) + name + text

write("handover", "two-sockets", handover(2, b"/etc/udpx/udpx.toml", b'[frontend.a]\nlisten = ["0.0.0.0:123"]\n'))
write("handover", "none", handover(0, b"x", b""))
write("handover", "count-mismatch", handover(1, b"x", b"", declared=3))
write("handover", "old-version", handover(0, b"x", b"", version=1))

def link(fds, kind, ident=7, applied=0, name=b"", text=b"", summary=b"", lines=(), declared=None):
    n = fds if declared is None else declared
    body = name + text + summary + b"".join(struct.pack("=I", len(l)) + l for l in lines)
    return bytes([fds]) + struct.pack("=10I", 0x55445052, 1, kind, ident, applied, n, len(lines), len(name), len(text),
                                      len(summary)) + body

write("link_message", "ask", link(0, 1))
write("link_message", "order", link(2, 2, name=b"/etc/udpx/udpx.toml", text=b"[global]\n", lines=[b"cannot bind 0.0.0.0:53"]))
write("link_message", "done", link(0, 3, applied=1, summary=b"frontend a: added", lines=[b"x.toml:1:1: bad", b"second"]))
write("link_message", "done-with-fds", link(1, 3))
write("link_message", "bad-kind", link(0, 9))

# Socket activation: [mode byte][LISTEN_PID text...][LISTEN_FDS text][flags at the end].
write("activation_env", "ours-two", b"2\x01\x01")
write("activation_env", "ours-words", b"two\x01\x01")
write("activation_env", "ours-huge", b"99999999999999999999\x01\x01")
write("activation_env", "other-pid", b"12\\1\x01\x02")

# The status document: a realistic one (every section) and edge numbers.
doc = {
    "frontends": {"lan_ntp": {"listen": ["127.0.0.1:123"], "preset": "ntp", "backend": "chrony", "received": 10,
                              "received_bytes": 480, "forwarded": 9, "forwarded_bytes": 432, "replied": 9,
                              "replied_bytes": 432, "replied_truncated": 0,
                              "dropped": {"acl": 1, "malformed": 0}, "sessions": {"active": 1, "max": 1000,
                                                                                  "created": 3, "ended": {"expired": 2}},
                              "clients": {"recent": 1, "list": {"127.0.0.1": {"requests": 10, "answers": 9,
                                                                              "unanswered": 0, "dropped": {"acl": 1},
                                                                              "last_seen_unix_ms": 1764730000000}}}}},
    "backends": {"chrony": {"balance": "round_robin", "on_all_down": "drop", "all_down": False, "state": "up",
                            "servers_up": 1, "servers_in_pool": 1,
                            "health": {"type": "ntp", "active": True, "interval_ms": 64000, "timeout_ms": 1000,
                                       "rise": 2, "fall": 3},
                            "names": {"ntp.example:123": {"host": "ntp.example", "addresses": ["127.0.0.1"],
                                                          "from_hosts_file": False, "resolved_unix_ms": 1764730000000,
                                                          "ttl_s": 300, "error": "", "resolver": "127.0.0.53",
                                                          "next_in_ms": 1000}},
                            "servers": {"127.0.0.1:123": {"down": False, "state": "up", "origin": "ntp.example:123",
                                                          "active_sessions": 1, "forwarded": 9, "replied": 9,
                                                          "health": {"up": True, "since_unix_ms": 1764720000000,
                                                                     "probes": 5, "consecutive_failures": 0,
                                                                     "last_probe": "ok", "last_rtt_seconds": 0.0002,
                                                                     "probe_interval_ms": 64000, "reason": "",
                                                                     "hint": ""}}}}},
    "problems": [{"severity": "warning", "subject": "backend chrony", "problem": "slow", "hint": "wait"}],
    "ok": True,
    "udpx": {"version": "0.1.0", "pid": 4242, "config": "/etc/udpx/udpx.toml", "started_unix_ms": 1764720000000,
             "now_unix_ms": 1764730000000},
    "reloads": {"succeeded": 1, "failed": 0, "config_hash": 123456789, "last_success_unix_ms": 1764725000000,
                "failed_unix_ms": 0, "failed_file": ""},
}
write("status_json", "document", json.dumps(doc))
write("status_json", "huge-numbers", '{"udpx": {"started_unix_ms": 1e300, "now_unix_ms": -1e300, "pid": 1e19}, '
      '"frontends": {"a": {"received": 1e400, "sessions": {"active": -5}}}, "reloads": {"config_hash": 1.8e19}}')
write("status_json", "empty", "{}")
write("status_json", "nested", '[[[[{"a": [1, 2.5e-3, "x\\u00e9\\n", true, false, null]}]]]]')

# HTTP requests: chunk sizes come from the end of the input (one byte each here: 1 + b % 4096).
for name, req in {"get-metrics": "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                  "head-status": "HEAD /status?x=1 HTTP/1.0\n\n",
                  "post": "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
                  "absolute": "GET http://host:9123/metrics HTTP/1.1\r\n\r\n",
                  "not-http": "hello\r\n\r\n",
                  "unknown": "GET /nope HTTP/1.1\r\n\r\n"}.items():
    write("http_request", name, req.encode() + b"\xff\xff")
