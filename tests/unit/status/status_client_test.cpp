// `udpx status` text and the status endpoint's name: every problem printed with its hint.
#include "status/status_client.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "status/status_socket.h"

namespace udpx {
namespace {

constexpr const char* kStatus = R"json({
 "frontends": {"lan_ntp": {"received": 9, "forwarded": 9, "replied": 7,
   "dropped": {"acl": 2, "malformed": 0}, "sessions": {"active": 1, "created": 5, "expired": 1, "evicted": 0,
   "closed": 3, "max": 4096}, "preset": "ntp", "backend": "up", "listen": ["192.168.0.1:123"]}},
 "backends": {"up": {"balance": "round-robin", "on_all_down": "forward", "all_down": false,
   "health": {"type": "ntp", "active": true, "interval_ms": 10000, "timeout_ms": 1000, "rise": 2, "fall": 3},
   "names": {"ntp.example.org": {"addresses": [], "error": "cannot resolve ntp.example.org: the name does not exist (NXDOMAIN)"}},
   "servers": {"192.168.0.1:123": {"sessions": 5, "forwarded": 9, "replied": 0, "refused": 0, "down": true,
     "state": "down", "origin": "192.168.0.1:123", "active_sessions": 0,
     "health": {"up": false, "since_unix_ms": 1000000, "probes": 5, "probe_failures": 5, "last_rtt_seconds": null,
       "unanswered": 4, "reason": "no reply from 192.168.0.1:123 to 5 probes", "hint": "does it allow queries?"}},
    "192.168.0.2:123": {"sessions": 1, "forwarded": 1, "replied": 1, "refused": 0, "down": false, "state": "up",
     "origin": "192.168.0.2:123", "active_sessions": 1,
     "health": {"up": true, "since_unix_ms": 900000, "probes": 5, "probe_failures": 0, "last_rtt_seconds": 0.00042,
       "unanswered": 0, "reason": "", "hint": ""}}}}},
 "problems": [{"severity": "error", "subject": "backend up, server 192.168.0.1:123",
   "problem": "no reply from 192.168.0.1:123 to 5 probes", "hint": "is it running, and does it allow queries from this host? (chrony: `allow`, ntpd: `restrict`)"}],
 "ok": false,
 "udpx": {"version": "0.1.0", "pid": 42, "config": "/etc/udpx.toml", "started_unix_ms": 880000, "now_unix_ms": 1060000}})json";

TEST(StatusText, ShowsEveryObjectAndEveryProblemWithItsHint) {
  std::string error;
  const auto doc = json::parse(kStatus, error);
  ASSERT_TRUE(doc) << error;
  const std::string text = renderStatusText(*doc);
  EXPECT_NE(text.find("udpx 0.1.0 (pid 42, config /etc/udpx.toml), up 3m: 1 problem"), std::string::npos) << text;
  EXPECT_NE(text.find("frontend lan_ntp (ntp) on 192.168.0.1:123 -> backend up"), std::string::npos) << text;
  EXPECT_NE(text.find("drops: acl 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("192.168.0.1:123  DOWN since 1970-01-01 00:16:40Z (1m ago)"), std::string::npos) << text;
  EXPECT_NE(text.find("192.168.0.2:123  up since"), std::string::npos) << text;
  EXPECT_NE(text.find("last round trip 0.42 ms"), std::string::npos) << text;
  EXPECT_NE(text.find("name ntp.example.org -> (no address)  [cannot resolve ntp.example.org"), std::string::npos) << text;
  EXPECT_NE(text.find("  ! backend up, server 192.168.0.1:123: no reply from 192.168.0.1:123 to 5 probes\n"
                      "    hint: is it running, and does it allow queries from this host? (chrony: `allow`, ntpd: "
                      "`restrict`)\n"),
            std::string::npos)
      << text;
}

TEST(StatusText, SaysAllIsWellOnlyWithoutAnyFinding) {
  Snapshot st;
  st.udpx = {"0.1.0", 42, "/etc/udpx.toml", 880000, 1060000};
  EXPECT_NE(renderStatusText(st).find("up 3m: all is well\n"), std::string::npos) << renderStatusText(st);
  st.findings.push_back({"warning", "backend up, server 192.168.0.2:123", "something seen", ""});
  std::string text = renderStatusText(st);
  EXPECT_EQ(text.find("all is well"), std::string::npos) << text;
  EXPECT_NE(text.find("up 3m: 1 warning\n"), std::string::npos) << text;
  st.findings.push_back({"error", "backend up", "down", ""});
  st.findings.push_back({"warning", "backend up", "other", ""});
  text = renderStatusText(st);
  EXPECT_NE(text.find("up 3m: 1 problem, 2 warnings\n"), std::string::npos) << text;
}

TEST(StatusEndpoint, DerivesFromTheConfigPathAndStaysWithinASocketName) {
  EXPECT_EQ(defaultStatusEndpoint("/nonexistent/udpx.toml"), "@udpx:/nonexistent/udpx.toml");
  const std::string long_path = "/nonexistent/" + std::string(200, 'x') + ".toml";
  const std::string name = defaultStatusEndpoint(long_path);
  EXPECT_LE(name.size(), 107u);
  EXPECT_EQ(name.rfind("@udpx:", 0), 0u);
  EXPECT_EQ(defaultStatusEndpoint(long_path), name);
  EXPECT_NE(defaultStatusEndpoint(long_path + "2"), name);
}

TEST(StatusEndpoint, ConfigChoosesOffAPathOrTheDefault) {
  Config c;
  c.file = "/nonexistent/u.toml";
  EXPECT_EQ(statusEndpoint(c), "@udpx:/nonexistent/u.toml");
  c.global.status = "off";
  EXPECT_EQ(statusEndpoint(c), "off");
  c.global.status = "/run/udpx.sock";
  EXPECT_EQ(statusEndpoint(c), "/run/udpx.sock");
}

// The one-line --preset mode has no file to name its socket after: the first listen address does.
TEST(StatusEndpoint, ACommandLineConfigIsNamedAfterItsFirstListenAddress) {
  Config c;
  c.file = kCommandLineConfigName;
  EXPECT_EQ(statusEndpoint(c), "@udpx:listen=none");
  FrontendConfig f;
  f.listen.push_back(*SockAddr::parseIp("127.0.0.1", 1123));
  c.frontends.push_back(f);
  EXPECT_EQ(statusEndpoint(c), "@udpx:listen=127.0.0.1:1123");
}

TEST(StatusEndpoint, ServesAndConnectsOverAnAbstractSocket) {
  std::string error;
  const std::string name = "@udpx-unit-test-" + std::to_string(::getpid());
  UniqueFd server = listenStatus(name, error);
  ASSERT_TRUE(server.valid()) << error;
  UniqueFd second = listenStatus(name, error);
  EXPECT_FALSE(second.valid());
  EXPECT_NE(error.find("another udpx with this config, or another local user"), std::string::npos) << error;
  UniqueFd client = connectStatus(name, error);
  EXPECT_TRUE(client.valid()) << error;
  server.reset();
  EXPECT_FALSE(connectStatus(name, error).valid());
}

// A socket file nothing listens on is replaced or removed; any other file at the path is left
// alone (connect() says ECONNREFUSED for a regular file too, and udpx may run as root).
TEST(StatusEndpoint, OnlyADeadSocketFileIsEverRemoved) {
  const std::string base = "/tmp/udpx-status-test-" + std::to_string(getpid());
  const std::string file = base + ".regular", sock = base + ".sock";
  ::unlink(sock.c_str());
  { std::ofstream(file) << "precious"; }
  std::string error;
  EXPECT_FALSE(listenStatus(file, error).valid());
  EXPECT_NE(error.find("Address already in use"), std::string::npos) << error;
  EXPECT_FALSE(removeDeadSocketFile(file));
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0) << "a regular file at global.status was deleted";
  ::unlink(file.c_str());

  UniqueFd live = listenStatus(sock, error);
  ASSERT_TRUE(live.valid()) << error;
  EXPECT_FALSE(removeDeadSocketFile(sock));  // something listens
  EXPECT_EQ(::stat(sock.c_str(), &st), 0);
  live.reset();
  EXPECT_TRUE(removeDeadSocketFile(sock));  // dead now
  EXPECT_NE(::stat(sock.c_str(), &st), 0);
}

}  // namespace
}  // namespace udpx
