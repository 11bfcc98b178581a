// Tests for the TOML config loader (src/config/config.cpp): values, defaults, and that every
// problem is reported at once with its exact FILE:LINE:COL.
#include "config/config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace udpx {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

LoadResult load(std::string_view text) { return loadConfigString(text, "t.toml"); }

std::vector<std::string> formatAll(const std::vector<ConfigError>& list) {
  std::vector<std::string> out;
  for (const ConfigError& e : list) out.push_back(e.format());
  return out;
}

// The one error whose path is `path`; fails the test if there is not exactly one.
ConfigError errorAt(const LoadResult& r, std::string_view path) {
  std::vector<ConfigError> found;
  for (const ConfigError& e : r.errors) {
    if (e.path == path) found.push_back(e);
  }
  EXPECT_EQ(found.size(), 1u) << "errors at " << path << " in:\n"
                              << ::testing::PrintToString(formatAll(r.errors));
  return found.empty() ? ConfigError{} : found.front();
}

constexpr std::string_view kMinimal = R"([frontend.f]
listen = ["127.0.0.1:1123"]
preset = "ntp"
backend = "b"

[backend.b]
servers = ["127.0.0.1:123"]
)";

TEST(ConfigLoader, LoadsMinimalConfigWithPresetDefaults) {
  const LoadResult r = load(kMinimal);
  ASSERT_TRUE(r.errors.empty()) << ::testing::PrintToString(formatAll(r.errors));
  EXPECT_TRUE(r.warnings.empty());
  ASSERT_TRUE(r.config.has_value());
  const Config& c = *r.config;
  EXPECT_EQ(c.file, "t.toml");
  EXPECT_EQ(c.global.log_level, LogLevel::Info);
  EXPECT_EQ(c.global.max_sessions, 65536u);
  ASSERT_EQ(c.frontends.size(), 1u);
  const FrontendConfig& f = c.frontends[0];
  EXPECT_EQ(f.name, "f");
  ASSERT_EQ(f.listen.size(), 1u);
  EXPECT_EQ(f.listen[0].toString(), "127.0.0.1:1123");
  EXPECT_EQ(f.preset, Preset::Ntp);
  EXPECT_EQ(f.backend, "b");
  EXPECT_EQ(f.allow.size(), defaultAllowList().size());
  EXPECT_EQ(f.session_timeout, seconds{2});
  EXPECT_EQ(f.max_sessions, 4096u);
  EXPECT_EQ(f.responses, 1u);
  EXPECT_EQ(f.max_datagram, 2048u);
  EXPECT_EQ(f.upstream_sockets, UpstreamSocketsMode::Shared);
  EXPECT_EQ(f.pos.line, 1u);
  EXPECT_EQ(f.pos.col, 1u);
  ASSERT_EQ(c.backends.size(), 1u);
  const BackendConfig& b = c.backends[0];
  EXPECT_EQ(b.name, "b");
  EXPECT_EQ(b.balance, Balance::Hash);  // an ntp frontend's backend keeps each client on its server
  EXPECT_EQ(b.fail_timeout, seconds{10});
  EXPECT_EQ(b.pos.line, 6u);
  ASSERT_EQ(b.servers.size(), 1u);
  EXPECT_EQ(b.servers[0].text, "127.0.0.1:123");
  EXPECT_EQ(b.servers[0].host, "127.0.0.1");
  EXPECT_EQ(b.servers[0].port, 123);
  ASSERT_TRUE(b.servers[0].literal.has_value());
  EXPECT_EQ(b.servers[0].literal->toString(), "127.0.0.1:123");
  EXPECT_EQ(b.servers[0].pos.line, 7u);
  EXPECT_EQ(b.servers[0].pos.col, 12u);
  EXPECT_EQ(c.findBackend("b"), &b);
  EXPECT_EQ(c.findBackend("nope"), nullptr);
}

TEST(ConfigLoader, RawIsTheDefaultPreset) {
  const LoadResult r = load(R"([frontend.f]
listen = "127.0.0.1:9000"
backend = "b"
[backend.b]
servers = ["127.0.0.1:9001"]
)");
  ASSERT_TRUE(r.config.has_value()) << ::testing::PrintToString(formatAll(r.errors));
  const FrontendConfig& f = r.config->frontends[0];
  EXPECT_EQ(f.preset, Preset::Raw);
  EXPECT_EQ(f.responses, kUnlimitedResponses);
  EXPECT_EQ(f.session_timeout, seconds{60});
  EXPECT_EQ(f.max_datagram, 65507u);
}

TEST(ConfigLoader, ReadsEveryKeyOverridingDefaults) {
  const LoadResult r = load(R"([global]
log_level = "debug"
max_sessions = 1000

[frontend.dns]
listen = ["192.168.0.1:53", "[fd00::1]:53", "0.0.0.0:5353", "[::]:5353"]
preset = "dns"
backend = "resolvers"
allow = ["192.168.0.0/16", "fd00::/8"]
session_timeout = "1m30s"
max_sessions = 10
responses = "unlimited"
max_datagram = 1232

[backend.resolvers]
servers = ["192.168.1.1", "[fd00::53]", "dns.example.org:5353"]
balance = "first"
fail_timeout = "250ms"
)");
  ASSERT_TRUE(r.config.has_value()) << ::testing::PrintToString(formatAll(r.errors));
  const Config& c = *r.config;
  EXPECT_EQ(c.global.log_level, LogLevel::Debug);
  EXPECT_EQ(c.global.max_sessions, 1000u);
  const FrontendConfig& f = c.frontends.at(0);
  ASSERT_EQ(f.listen.size(), 4u);
  EXPECT_EQ(f.listen[1].toString(), "[fd00::1]:53");
  EXPECT_TRUE(f.listen[2].isWildcard());
  EXPECT_TRUE(f.listen[3].isWildcard());
  EXPECT_EQ(f.preset, Preset::Dns);
  ASSERT_EQ(f.allow.size(), 2u);
  EXPECT_EQ(f.allow[1].toString(), "fd00::/8");
  EXPECT_EQ(f.session_timeout, seconds{90});
  EXPECT_EQ(f.max_sessions, 10u);
  EXPECT_EQ(f.responses, kUnlimitedResponses);
  EXPECT_EQ(f.max_datagram, 1232u);
  const BackendConfig& b = c.backends.at(0);
  EXPECT_EQ(b.balance, Balance::First);
  EXPECT_EQ(b.fail_timeout, milliseconds{250});
  ASSERT_EQ(b.servers.size(), 3u);
  // Port-less servers take the dns preset's 53, literal or not.
  EXPECT_EQ(b.servers[0].port, 53);
  EXPECT_EQ(b.servers[0].literal->toString(), "192.168.1.1:53");
  EXPECT_EQ(b.servers[1].host, "fd00::53");
  EXPECT_EQ(b.servers[1].literal->toString(), "[fd00::53]:53");
  EXPECT_EQ(b.servers[2].host, "dns.example.org");
  EXPECT_EQ(b.servers[2].port, 5353);
  EXPECT_FALSE(b.servers[2].literal.has_value());
}

TEST(ConfigLoader, AcceptsZeroAndLargeResponseCounts) {
  std::string text(kMinimal);
  text.replace(text.find("preset"), 0, "responses = 0\n");
  LoadResult r = load(text);
  ASSERT_TRUE(r.config.has_value()) << ::testing::PrintToString(formatAll(r.errors));
  EXPECT_EQ(r.config->frontends[0].responses, 0u);

  text = std::string(kMinimal);
  text.replace(text.find("preset"), 0, "responses = 4294967294\n");
  r = load(text);
  ASSERT_TRUE(r.config.has_value()) << ::testing::PrintToString(formatAll(r.errors));
  EXPECT_EQ(r.config->frontends[0].responses, 4294967294u);
}

TEST(ConfigLoader, ReportsUnknownKeyWithLineAndColumn) {
  const LoadResult r = load(R"([frontend.f]
listen = ["127.0.0.1:1123"]
  lisen = 1
backend = "b"
[backend.b]
servers = ["127.0.0.1:123"]
)");
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(formatAll(r.errors),
            std::vector<std::string>{
                "t.toml:3:3: frontend.f.lisen: unknown key \"lisen\" (did you mean \"listen\"? "
                "valid keys: listen, preset, backend, allow, session_timeout, max_sessions, "
                "responses, max_datagram, upstream_sockets, upstream_pool_sockets, rate_limit, rate_burst, "
                "rate_limit_prefix, rate_burst_prefix, rate_prefix_v4, rate_prefix_v6, kod, max_sessions_per_client, tcp, "
                "tcp_max_connections, tcp_max_per_client, tcp_idle_timeout)"});
}

TEST(ConfigLoader, SuggestsOnlyKeysWithinEditDistanceTwo) {
  const LoadResult r = load(R"([global]
log-level = "info"
max_sesions = 5
verbosity = "high"
[frontend.f]
listen = ["127.0.0.1:1123"]
backend = "b"
sesion_timeot = "2s"
[backend.b]
servers = ["127.0.0.1:123"]
balanse = "first"
)");
  EXPECT_EQ(errorAt(r, "global.log-level").hint,
            "did you mean \"log_level\"? valid keys: log_level, max_sessions, metrics, resolvers, status, user, group, chroot");
  EXPECT_EQ(errorAt(r, "global.max_sesions").hint,
            "did you mean \"max_sessions\"? valid keys: log_level, max_sessions, metrics, resolvers, status, user, group, chroot");
  EXPECT_EQ(errorAt(r, "global.verbosity").hint, "valid keys: log_level, max_sessions, metrics, resolvers, status, user, group, chroot");
  EXPECT_EQ(errorAt(r, "frontend.f.sesion_timeot").hint.substr(0, 34),
            "did you mean \"session_timeout\"? va");
  EXPECT_EQ(errorAt(r, "backend.b.balanse").hint,
            "did you mean \"balance\"? valid keys: servers, balance, fail_timeout, health, on_all_down, "
            "resolve_min, resolve_max");
  EXPECT_EQ(r.errors.size(), 5u);
}

TEST(ConfigLoader, ReportsUnknownTopLevelTablesAndKeys) {
  const LoadResult r = load(R"(log_level = "info"
colour = "blue"
[frontends.x]
listen = ["127.0.0.1:1"]
[frontend.f]
listen = ["127.0.0.1:1123"]
backend = "b"
[backend.b]
servers = ["127.0.0.1:123"]
)");
  EXPECT_EQ(formatAll(r.errors),
            (std::vector<std::string>{
                "t.toml:1:1: log_level: unknown key \"log_level\" (move it under [global]; "
                "valid tables: global, frontend, backend)",
                "t.toml:2:1: colour: unknown key \"colour\" (valid tables: global, frontend, "
                "backend)",
                "t.toml:3:2: frontends: unknown table \"frontends\" (did you mean \"frontend\"? "
                "valid tables: global, frontend, backend)"}));
}

TEST(ConfigLoader, ReportsWrongTypesWithTheValuePosition) {
  const LoadResult r = load(R"([global]
max_sessions = "lots"
[frontend.f]
listen = ["127.0.0.1:1123", 42]
preset = 1
backend = ["b"]
max_datagram = 1.5
[backend.b]
servers = "127.0.0.1:123"
balance = true
)");
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(formatAll(r.errors),
            (std::vector<std::string>{
                "t.toml:2:16: global.max_sessions: expected an integer, got string",
                "t.toml:4:29: frontend.f.listen[1]: expected a string, got integer",
                "t.toml:5:10: frontend.f.preset: expected a string, got integer",
                "t.toml:6:11: frontend.f.backend: expected a string, got array",
                "t.toml:7:16: frontend.f.max_datagram: expected an integer, got floating-point "
                "number",
                "t.toml:10:11: backend.b.balance: expected a string, got boolean"}));
}

TEST(ConfigLoader, ReportsBadEnumValuesListingTheValidOnes) {
  const LoadResult r = load(R"([global]
log_level = "verbose"
[frontend.f]
listen = ["127.0.0.1:1123"]
preset = "ntpd"
backend = "b"
[backend.b]
servers = ["127.0.0.1:123"]
balance = "roundrobin"
)");
  EXPECT_EQ(formatAll(r.errors),
            (std::vector<std::string>{
                "t.toml:2:13: global.log_level: unknown log level \"verbose\" (valid values: "
                "error, warn, info, debug)",
                "t.toml:5:10: frontend.f.preset: unknown preset \"ntpd\" (did you mean \"ntp\"? "
                "valid values: ntp, dns, syslog, raw, nts-ke)",
                "t.toml:9:11: backend.b.balance: unknown balance \"roundrobin\" (did you mean "
                "\"round-robin\"? valid values: round-robin, first, hash)"}));
}

TEST(ConfigLoader, ReportsDuplicateListenWithinAFrontend) {
  const LoadResult r = load(R"([frontend.f]
listen = ["127.0.0.1:1123", "[::1]:53", "127.0.0.1:1123", "[0:0::1]:53"]
backend = "b"
[backend.b]
servers = ["127.0.0.1:123"]
)");
  EXPECT_EQ(formatAll(r.errors),
            (std::vector<std::string>{
                "t.toml:2:41: frontend.f.listen[2]: \"127.0.0.1:1123\" is listed twice (first "
                "at 2:11) (remove one of them)",
                "t.toml:2:59: frontend.f.listen[3]: \"[0:0::1]:53\" is listed twice (first at "
                "2:29) (remove one of them)"}));
}

TEST(ConfigLoader, ReportsDuplicateListenAcrossFrontendsNamingTheOther) {
  const LoadResult r = load(R"([frontend.first]
listen = ["0.0.0.0:123"]
backend = "b"
[frontend.second]
listen = ["127.0.0.1:124", "0.0.0.0:123"]
backend = "b"
[backend.b]
servers = ["192.0.2.1:123"]
)");
  const ConfigError e = errorAt(r, "frontend.second.listen[1]");
  EXPECT_EQ(e.format(),
            "t.toml:5:28: frontend.second.listen[1]: \"0.0.0.0:123\" is already a listen "
            "address of frontend first (2:11) (an address:port can belong to one frontend only; "
            "change the port or remove one)");
  EXPECT_EQ(r.errors.size(), 1u);
}

TEST(ConfigLoader, ReportsSpecificAddressOverlappingAWildcardOfTheSamePort) {
  const LoadResult r = load(R"([frontend.all]
listen = ["0.0.0.0:1123", "[::1]:1123"]
backend = "b"
[frontend.one]
listen = ["127.0.0.1:1123", "127.0.0.1:1124", "[::1]:1124"]
backend = "b"
[backend.b]
servers = ["127.0.0.1:123"]
)");
  const ConfigError e = errorAt(r, "frontend.one.listen[0]");
  EXPECT_EQ(e.pos.line, 5u);
  EXPECT_EQ(e.pos.col, 11u);
  EXPECT_NE(e.message.find("overlaps 0.0.0.0:1123 of frontend all"), std::string::npos) << e.format();
  // Other ports and the other family do not overlap.
  EXPECT_EQ(r.errors.size(), 1u) << ::testing::PrintToString(formatAll(r.errors));
}

TEST(ConfigLoader, ReportsBadListenAddresses) {
  const LoadResult r = load(R"([frontend.f]
listen = ["127.0.0.1", "localhost:53", "127.0.0.1:0", "127.0.0.1:65536", "fd00::1:53"]
backend = "b"
[backend.b]
servers = ["127.0.0.1:123"]
)");
  EXPECT_EQ(errorAt(r, "frontend.f.listen[0]").message, "no port given in \"127.0.0.1\"");
  EXPECT_EQ(errorAt(r, "frontend.f.listen[1]").message,
            "\"localhost\" is not a literal IP address");
  EXPECT_EQ(errorAt(r, "frontend.f.listen[2]").format(),
            "t.toml:2:40: frontend.f.listen[2]: bad listen address \"127.0.0.1:0\": port 0 is out "
            "of range 1..65535 (write IP:PORT, e.g. 192.168.0.1:123, 0.0.0.0:123 or [::]:123)");
  EXPECT_EQ(errorAt(r, "frontend.f.listen[3]").message,
            "bad listen address \"127.0.0.1:65536\": port 65536 is out of range 1..65535");
  EXPECT_EQ(errorAt(r, "frontend.f.listen[4]").message,
            "bad listen address \"fd00::1:53\": an IPv6 address must be written in brackets: "
            "[fd00::1] or [fd00::1]:123");
  EXPECT_EQ(r.errors.size(), 5u);
}

TEST(ConfigLoader, MetricsEndpointIsOffUnlessConfigured) {
  const LoadResult r = load(kMinimal);
  ASSERT_TRUE(r.config.has_value());
  EXPECT_FALSE(r.config->global.metrics.has_value());
}

TEST(ConfigLoader, ReadsMetricsAddress) {
  for (const auto& [text, want] : {std::pair{"127.0.0.1:9123", "127.0.0.1:9123"}, std::pair{"[::1]:9123", "[::1]:9123"},
                                   std::pair{"0.0.0.0:80", "0.0.0.0:80"}}) {
    const LoadResult r = load("[global]\nmetrics = \"" + std::string(text) + "\"\n" + std::string(kMinimal));
    ASSERT_TRUE(r.config.has_value()) << text << ": " << ::testing::PrintToString(formatAll(r.errors));
    ASSERT_TRUE(r.config->global.metrics.has_value());
    EXPECT_EQ(r.config->global.metrics->toString(), want);
  }
}

TEST(ConfigLoader, ReportsBadMetricsAddressesWithTheirPosition) {
  const auto errorFor = [](std::string_view value) {
    const LoadResult r = load("[global]\nmetrics = " + std::string(value) + "\n" + std::string(kMinimal));
    EXPECT_FALSE(r.config.has_value());
    const std::vector<std::string> all = formatAll(r.errors);
    return all.size() == 1 ? all[0] : ::testing::PrintToString(all);
  };
  constexpr const char* kHint =
      "write IP:PORT, e.g. \"127.0.0.1:9123\" or \"[::1]:9123\"; remove the key to turn the endpoint off";
  EXPECT_EQ(errorFor("\"localhost:9123\""),
            std::string("t.toml:2:11: global.metrics: \"localhost\" is not a literal IP address (host names are not "
                        "resolved for listen addresses; ") + kHint + ")");
  EXPECT_EQ(errorFor("\"127.0.0.1\""), std::string("t.toml:2:11: global.metrics: no port given in \"127.0.0.1\" "
                                                   "(Prometheus needs a fixed port to scrape; ") + kHint + ")");
  EXPECT_EQ(errorFor("\"127.0.0.1:0\""), std::string("t.toml:2:11: global.metrics: bad address \"127.0.0.1:0\": port 0 "
                                                     "is out of range 1..65535 (") + kHint + ")");
  EXPECT_NE(errorFor("\"127.0.0.1:99999\"").find("t.toml:2:11: global.metrics: bad address \"127.0.0.1:99999\": "),
            std::string::npos);
  EXPECT_EQ(errorFor("9123"), "t.toml:2:11: global.metrics: expected a string, got integer");
  EXPECT_EQ(errorFor("\"\""), errorFor("\"\""));  // reported, not crashed on
  EXPECT_NE(errorFor("\"\"").find("t.toml:2:11: global.metrics: "), std::string::npos);
}

TEST(ConfigLoader, SuggestsMetricsForAMisspelledKey) {
  const LoadResult r = load("[global]\nmetric = \"127.0.0.1:9123\"\n" + std::string(kMinimal));
  const ConfigError e = errorAt(r, "global.metric");
  EXPECT_EQ(e.hint, "did you mean \"metrics\"? valid keys: log_level, max_sessions, metrics, resolvers, status, user, group, chroot");
}

TEST(ConfigLoader, ReportsMissingBackendListingDefinedOnes) {
  const LoadResult r = load(R"([frontend.f]
listen = ["127.0.0.1:1123"]
backend = "ntp_upp"
[backend.ntp_up]
servers = ["127.0.0.1:123"]
[backend.other]
servers = ["127.0.0.1:124"]
)");
  // The misspelt reference also leaves both backends unused.
  EXPECT_EQ(formatAll(r.errors),
            std::vector<std::string>{
                "t.toml:3:11: frontend.f.backend: backend ntp_upp is not defined (did you mean "
                "\"ntp_up\"? defined backends: ntp_up, other)"});
  EXPECT_EQ(r.warnings.size(), 2u);
}

TEST(ConfigLoader, ReportsMissingBackendWhenNoneIsDefined) {
  const LoadResult r = load(R"([frontend.f]
listen = ["127.0.0.1:1123"]
backend = "up"
)");
  EXPECT_EQ(formatAll(r.errors),
            std::vector<std::string>{
                "t.toml:3:11: frontend.f.backend: backend up is not defined (no backend is "
                "defined: add a [backend.up] table with servers = [\"HOST:PORT\"])"});
}

TEST(ConfigLoader, ReportsBadCidrs) {
  const LoadResult r = load(R"([frontend.f]
listen = ["127.0.0.1:1123"]
backend = "b"
allow = ["192.168.1.1/16", "10.0.0.0/33", "fd00::/8", "lan", 7]
[backend.b]
servers = ["127.0.0.1:123"]
)");
  EXPECT_EQ(formatAll(r.errors),
            (std::vector<std::string>{
                "t.toml:4:10: frontend.f.allow[0]: bad CIDR \"192.168.1.1/16\": host bits are set "
                "below the /16 prefix; did you mean 192.168.0.0/16? (write a prefix such as "
                "192.168.0.0/16 or fd00::/8)",
                "t.toml:4:28: frontend.f.allow[1]: bad CIDR \"10.0.0.0/33\": prefix length /33 is "
                "out of range for IPv4, which allows /0../32 (write a prefix such as "
                "192.168.0.0/16 or fd00::/8)",
                "t.toml:4:55: frontend.f.allow[3]: bad CIDR \"lan\": \"lan\" is not an IPv4 or "
                "IPv6 address (write a prefix such as 192.168.0.0/16 or fd00::/8)",
                "t.toml:4:62: frontend.f.allow[4]: expected a string, got integer"}));
}

TEST(ConfigLoader, OpenAllowListAndEmptyAllowList) {
  std::string text(kMinimal);
  text.replace(text.find("preset"), 0, "allow = [\"0.0.0.0/0\", \"::/0\"]\n");
  LoadResult r = load(text);
  ASSERT_TRUE(r.config.has_value()) << ::testing::PrintToString(formatAll(r.errors));
  const FrontendConfig& f = r.config->frontends[0];
  ASSERT_EQ(f.allow.size(), 2u);
  EXPECT_TRUE(f.allow[0].contains(*SockAddr::parse("8.8.8.8:1")));
  EXPECT_TRUE(f.allow[1].contains(*SockAddr::parse("[2001:db8::1]:1")));

  text = std::string(kMinimal);
  text.replace(text.find("preset"), 0, "allow = []\n");
  r = load(text);
  EXPECT_FALSE(r.config.has_value());
  const ConfigError e = errorAt(r, "frontend.f.allow");
  EXPECT_EQ(e.pos.line, 3u);
  EXPECT_EQ(e.pos.col, 9u);
  EXPECT_EQ(e.message, "is empty");
}

TEST(ConfigLoader, ReportsIntegersOutOfRange) {
  const LoadResult r = load(R"([global]
max_sessions = 0
[frontend.f]
listen = ["127.0.0.1:1123"]
backend = "b"
max_sessions = 1048577
responses = -1
max_datagram = 65508
[backend.b]
servers = ["127.0.0.1:123"]
)");
  EXPECT_EQ(formatAll(r.errors),
            (std::vector<std::string>{
                "t.toml:2:16: global.max_sessions: 0 is out of range (use 1..1048576)",
                "t.toml:6:16: frontend.f.max_sessions: 1048577 is out of range (use 1..1048576)",
                "t.toml:7:13: frontend.f.responses: -1 is out of range (use 0..4294967294)",
                "t.toml:8:16: frontend.f.max_datagram: 65508 is out of range (use 1..65507)"}));
}

TEST(ConfigLoader, ReportsBadResponses) {
  const LoadResult r = load(R"([frontend.f]
listen = ["127.0.0.1:1123"]
backend = "b"
responses = "many"
[frontend.g]
listen = ["127.0.0.1:1124"]
backend = "b"
responses = 1.0
[backend.b]
servers = ["127.0.0.1:123"]
)");
  EXPECT_EQ(errorAt(r, "frontend.f.responses").format(),
            "t.toml:4:13: frontend.f.responses: expected an integer or \"unlimited\", got \"many\" "
            "(write a count such as 1, 0 for one-way traffic, or \"unlimited\")");
  EXPECT_EQ(errorAt(r, "frontend.g.responses").message,
            "expected an integer or \"unlimited\", got floating-point number");
}

TEST(ConfigLoader, ReportsBadDurations) {
  const LoadResult r = load(R"([frontend.f]
listen = ["127.0.0.1:1123"]
backend = "b"
session_timeout = "2 s"
[frontend.g]
listen = ["127.0.0.1:1124"]
backend = "b"
session_timeout = 2
[backend.b]
servers = ["127.0.0.1:123"]
fail_timeout = "0ms"
[backend.c]
servers = ["127.0.0.1:123"]
fail_timeout = "9000h"
)");
  EXPECT_EQ(formatAll(r.errors),
            (std::vector<std::string>{
                "t.toml:4:19: frontend.f.session_timeout: bad duration \"2 s\" (use units: 250ms, "
                "2s, 5m)",
                "t.toml:8:19: frontend.g.session_timeout: expected a duration string, got integer "
                "(units are required: write \"2s\" or \"2ms\")",
                "t.toml:11:16: backend.b.fail_timeout: duration \"0ms\" is out of range (use "
                "1ms..8760h)",
                "t.toml:14:16: backend.c.fail_timeout: duration \"9000h\" is out of range (use "
                "1ms..8760h)"}));
}

TEST(ConfigLoader, ReportsEmptyListenAndServers) {
  const LoadResult r = load(R"([frontend.f]
listen = []
backend = "b"
[backend.b]
servers = []
)");
  EXPECT_EQ(formatAll(r.errors),
            (std::vector<std::string>{
                "t.toml:2:10: frontend.f.listen: is empty (list at least one address: listen = "
                "[\"192.168.0.1:123\"])",
                "t.toml:5:11: backend.b.servers: is empty (list at least one server: servers = "
                "[\"HOST:PORT\"])"}));
}

TEST(ConfigLoader, ReportsMissingRequiredKeysAtTheTableHeader) {
  const LoadResult r = load(R"(# a comment

  [frontend.f]
preset = "ntp"

[backend.b]
balance = "first"
)");
  EXPECT_EQ(formatAll(r.errors),
            (std::vector<std::string>{
                "t.toml:3:3: frontend.f: missing required key \"listen\" (add listen = "
                "[\"IP:PORT\"])",
                "t.toml:3:3: frontend.f: missing required key \"backend\" (add backend = \"NAME\" "
                "naming a [backend.NAME] table)",
                "t.toml:6:1: backend.b: missing required key \"servers\" (add servers = "
                "[\"HOST:PORT\"])"}));
}

TEST(ConfigLoader, ReportsAFileWithoutFrontends) {
  LoadResult r = load("");
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(formatAll(r.errors),
            std::vector<std::string>{
                "t.toml: frontend: no frontend is defined (add a [frontend.NAME] table with "
                "listen = [\"IP:PORT\"] and backend = \"NAME\")"});

  r = load("[global]\nlog_level = \"warn\"\n[frontend]\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].pos.line, 3u);
  EXPECT_EQ(r.errors[0].pos.col, 1u);
  EXPECT_EQ(r.errors[0].message, "no frontend is defined");
}

TEST(ConfigLoader, ReportsSectionsOfTheWrongShape) {
  const LoadResult r = load(R"(global = 1
frontend = "f"
[backend]
b = ["127.0.0.1:123"]
)");
  EXPECT_EQ(formatAll(r.errors),
            (std::vector<std::string>{
                "t.toml:1:10: global: expected a table, got integer (write [global] followed by "
                "its keys)",
                "t.toml:2:12: frontend: expected a table, got string (write [frontend.NAME] "
                "followed by its keys)",
                "t.toml:4:5: backend.b: expected a table, got array (write [backend.NAME] "
                "followed by its keys)"}));
}

TEST(ConfigLoader, ReportsNamesThatAreNotIdentifiers) {
  const LoadResult r = load(R"([frontend."lan ntp"]
listen = ["127.0.0.1:1123"]
backend = "b"
[backend.b]
servers = ["127.0.0.1:123"]
)");
  EXPECT_EQ(formatAll(r.errors),
            std::vector<std::string>{
                "t.toml:1:11: frontend.lan ntp: frontend name \"lan ntp\" may only contain "
                "letters, digits, '_' and '-' (rename it, e.g. [frontend.main])"});
}

TEST(ConfigLoader, ReportsBadServers) {
  const LoadResult r = load(R"([frontend.f]
listen = ["127.0.0.1:1123"]
preset = "ntp"
backend = "b"
[backend.b]
servers = ["bad host", "1.2.3.400", "[fd00::zz]:1", "host:0", "-lead.example", "ok.example"]
)");
  EXPECT_EQ(formatAll(r.errors),
            (std::vector<std::string>{
                "t.toml:6:12: backend.b.servers[0]: \"bad host\" is not a valid host name: it contains "
                "a space (use "
                "letters, digits, '-' and '.', or an IP address)",
                "t.toml:6:24: backend.b.servers[1]: \"1.2.3.400\" is not a valid IP address "
                "(write HOST, HOST:PORT, IP:PORT or [IPv6]:PORT)",
                "t.toml:6:37: backend.b.servers[2]: \"fd00::zz\" is not a valid IP address (write "
                "HOST, HOST:PORT, IP:PORT or [IPv6]:PORT)",
                "t.toml:6:53: backend.b.servers[3]: bad server \"host:0\": port 0 is out of range "
                "1..65535 (write HOST, HOST:PORT, IP:PORT or [IPv6]:PORT)",
                "t.toml:6:63: backend.b.servers[4]: \"-lead.example\" is not a valid host name: a "
                "label starts or ends with '-' (use letters, digits, '-' and '.', or an IP address)"}));
}

TEST(ConfigLoader, ServerWithoutPortTakesTheFrontendPresetPort) {
  const LoadResult r = load(R"([frontend.a]
listen = ["127.0.0.1:1123"]
preset = "syslog"
backend = "b"
[frontend.c]
listen = ["127.0.0.1:1124"]
preset = "syslog"
backend = "b"
[backend.b]
servers = ["logs.example", "[fd00::5]", "10.0.0.5:6514"]
)");
  ASSERT_TRUE(r.config.has_value()) << ::testing::PrintToString(formatAll(r.errors));
  const auto& servers = r.config->backends[0].servers;
  EXPECT_EQ(servers[0].port, 514);
  EXPECT_EQ(servers[1].port, 514);
  EXPECT_EQ(servers[1].literal->port(), 514);
  EXPECT_EQ(servers[2].port, 6514);
}

TEST(ConfigLoader, ServerWithoutPortIsAnErrorForTheRawPreset) {
  const LoadResult r = load(R"([frontend.game]
listen = ["127.0.0.1:27015"]
preset = "raw"
backend = "b"
[backend.b]
servers = ["10.0.0.1:27015", "game.example"]
)");
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(formatAll(r.errors),
            std::vector<std::string>{
                "t.toml:6:30: backend.b.servers[1]: no port given and frontend game uses preset "
                "raw, which has no default port (write HOST:PORT)"});
}

TEST(ConfigLoader, ServerWithoutPortIsAnErrorWhenFrontendPresetsDisagree) {
  const LoadResult r = load(R"([frontend.time]
listen = ["127.0.0.1:1123"]
preset = "ntp"
backend = "b"
[frontend.names]
listen = ["127.0.0.1:1053"]
preset = "dns"
backend = "b"
[backend.b]
servers = ["both.example"]
[backend.b.health]
type = "none"
)");
  EXPECT_EQ(formatAll(r.errors),
            std::vector<std::string>{
                "t.toml:10:12: backend.b.servers[0]: no port given and the frontends using this "
                "backend imply different default ports: time (ntp, port 123), names (dns, port "
                "53) (write HOST:PORT)"});
}

TEST(ConfigLoader, UnusedBackendIsAWarningNotAnError) {
  std::string text(kMinimal);
  text += "\n[backend.spare]\nservers = [\"127.0.0.1:124\"]\n";
  const LoadResult r = load(text);
  ASSERT_TRUE(r.config.has_value()) << ::testing::PrintToString(formatAll(r.errors));
  EXPECT_EQ(r.config->backends.size(), 2u);
  EXPECT_EQ(formatAll(r.warnings),
            std::vector<std::string>{
                "t.toml:9:1: backend.spare: backend spare is not used by any frontend (reference "
                "it with backend = \"spare\" in a [frontend.NAME] table, or remove it)"});
}

TEST(ConfigLoader, UnusedBackendServerWithoutPortIsAnError) {
  std::string text(kMinimal);
  text += "[backend.spare]\nservers = [\"spare.example\"]\n";
  const LoadResult r = load(text);
  EXPECT_FALSE(r.config.has_value());
  const ConfigError e = errorAt(r, "backend.spare.servers[0]");
  EXPECT_EQ(e.pos.line, 9u);
  EXPECT_EQ(e.pos.col, 12u);
  EXPECT_EQ(r.warnings.size(), 1u);
}

TEST(ConfigLoader, DuplicateServerIsAWarning) {
  const LoadResult r = load(R"([frontend.f]
listen = ["127.0.0.1:1123"]
preset = "ntp"
backend = "b"
[backend.b]
servers = ["ntp.example", "NTP.example:123", "10.0.0.1", "10.0.0.1:123"]
)");
  ASSERT_TRUE(r.config.has_value()) << ::testing::PrintToString(formatAll(r.errors));
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_EQ(r.warnings[0].format(),
            "t.toml:6:27: backend.b.servers[1]: server \"NTP.example:123\" is listed twice (first "
            "at 6:12) (remove one; a server listed twice gets twice the share of new sessions)");
  EXPECT_EQ(r.warnings[1].path, "backend.b.servers[3]");
}

TEST(ConfigLoader, KeepsFrontendsAndBackendsInFileOrder) {
  const LoadResult r = load(R"([backend.zeta]
servers = ["127.0.0.1:1"]
[frontend.zulu]
listen = ["127.0.0.1:1001"]
backend = "zeta"
[backend.alpha]
servers = ["127.0.0.1:2"]
[frontend.alpha]
listen = ["127.0.0.1:1002"]
backend = "alpha"
[frontend.mike]
listen = ["127.0.0.1:1003"]
backend = "alpha"
)");
  ASSERT_TRUE(r.config.has_value()) << ::testing::PrintToString(formatAll(r.errors));
  std::vector<std::string> frontends;
  for (const auto& f : r.config->frontends) frontends.push_back(f.name);
  std::vector<std::string> backends;
  for (const auto& b : r.config->backends) backends.push_back(b.name);
  EXPECT_EQ(frontends, (std::vector<std::string>{"zulu", "alpha", "mike"}));
  EXPECT_EQ(backends, (std::vector<std::string>{"zeta", "alpha"}));
}

TEST(ConfigLoader, ReportsEveryErrorAtOnceInFileOrder) {
  const LoadResult r = load(R"([global]
log_level = "loud"

[backend.up]
servers = ["127.0.0.1:99999"]
fail_timeout = "10"

[frontend.lan]
listen = ["127.0.0.1:1123"]
preset = "ntp"
backend = "up"
allow = ["10.0.0.1/8"]
max_datagram = 0
timeout = "2s"
)");
  EXPECT_FALSE(r.config.has_value());
  std::vector<std::string> where;
  for (const ConfigError& e : r.errors) {
    where.push_back(std::to_string(e.pos.line) + ":" + std::to_string(e.pos.col) + " " + e.path);
  }
  EXPECT_EQ(where, (std::vector<std::string>{
                       "2:13 global.log_level", "5:12 backend.up.servers[0]",
                       "6:16 backend.up.fail_timeout", "12:10 frontend.lan.allow[0]",
                       "13:16 frontend.lan.max_datagram", "14:1 frontend.lan.timeout"}));
}

TEST(ConfigLoader, ReportsTomlSyntaxErrorWithItsPosition) {
  const LoadResult r = load(R"([frontend.f]
listen = ["127.0.0.1:1123"
backend = "b"
)");
  EXPECT_FALSE(r.config.has_value());
  ASSERT_EQ(r.errors.size(), 1u);
  const ConfigError& e = r.errors[0];
  EXPECT_EQ(e.file, "t.toml");
  EXPECT_EQ(e.pos.line, 3u);
  EXPECT_EQ(e.pos.col, 1u);
  EXPECT_TRUE(e.path.empty());
  EXPECT_FALSE(e.message.empty());
  EXPECT_EQ(e.hint, "fix the TOML syntax here; nothing after it was checked");
  EXPECT_EQ(e.format().rfind("t.toml:3:1: ", 0), 0u) << e.format();
}

TEST(ConfigLoader, ReportsRedefinedTableAsSyntaxError) {
  const LoadResult r = load(R"([frontend.f]
listen = ["127.0.0.1:1123"]
backend = "b"
[frontend.f]
)");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].pos.line, 4u);
  EXPECT_NE(r.errors[0].message.find("redefine"), std::string::npos) << r.errors[0].message;
}

TEST(ConfigLoader, ReportsUnreadableFileAsOneError) {
  const LoadResult r = loadConfigFile("/nonexistent/udpx.toml");
  EXPECT_FALSE(r.config.has_value());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].message, "cannot read /nonexistent/udpx.toml: No such file or directory");
  EXPECT_EQ(r.errors[0].format(),
            "cannot read /nonexistent/udpx.toml: No such file or directory (check the path and "
            "its permissions)");
}

TEST(ConfigLoader, LoadsAFileUsingItsPathInMessages) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("udpx_config_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
       ".toml");
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    const std::string text = "[frontend.f]\nlisten = [\"127.0.0.1:1123\"]\nbackend = 5\n";
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  }
  const LoadResult r = loadConfigFile(path.string());
  std::filesystem::remove(path);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].format(),
            path.string() + ":3:11: frontend.f.backend: expected a string, got integer");
}

TEST(ConfigError, FormatOmitsWhatIsUnknown) {
  ConfigError e{"f.toml", {4, 2}, "frontend.x.listen[1]", "it broke", "fix it"};
  EXPECT_EQ(e.format(), "f.toml:4:2: frontend.x.listen[1]: it broke (fix it)");
  e.hint.clear();
  EXPECT_EQ(e.format(), "f.toml:4:2: frontend.x.listen[1]: it broke");
  e.path.clear();
  EXPECT_EQ(e.format(), "f.toml:4:2: it broke");
  e.pos = {};
  EXPECT_EQ(e.format(), "f.toml: it broke");
  e.file.clear();
  EXPECT_EQ(e.format(), "it broke");
}

// Every shipped config must load cleanly: they are what people copy.
TEST(ConfigLoader, ShippedConfigsLoadWithoutErrors) {
#ifndef UDPX_SOURCE_DIR
  GTEST_SKIP() << "UDPX_SOURCE_DIR is not defined";
#else
  const std::filesystem::path root(UDPX_SOURCE_DIR);
  std::vector<std::filesystem::path> files;
  for (const auto* dir : {"conf", "conf/examples"}) {
    for (const auto& entry : std::filesystem::directory_iterator(root / dir)) {
      if (entry.is_regular_file() && entry.path().extension() == ".toml") {
        files.push_back(entry.path());
      }
    }
  }
  std::sort(files.begin(), files.end());
  // udpx.toml and one example per preset.
  ASSERT_GE(files.size(), 5u);
  std::vector<Preset> presets;
  for (const auto& file : files) {
    const LoadResult r = loadConfigFile(file.string());
    EXPECT_TRUE(r.errors.empty()) << ::testing::PrintToString(formatAll(r.errors));
    EXPECT_TRUE(r.warnings.empty()) << ::testing::PrintToString(formatAll(r.warnings));
    ASSERT_TRUE(r.config.has_value()) << file;
    for (const auto& f : r.config->frontends) presets.push_back(f.preset);
  }
  for (const Preset p : {Preset::Ntp, Preset::Dns, Preset::Syslog, Preset::Raw}) {
    EXPECT_NE(std::find(presets.begin(), presets.end(), p), presets.end())
        << "no shipped example uses preset " << presetDefaults(p).name;
  }
#endif
}

// `make run` uses conf/udpx.toml as an unprivileged user: it must not need port < 1024.
TEST(ConfigLoader, DefaultConfigListensOnAnUnprivilegedLoopbackPort) {
#ifndef UDPX_SOURCE_DIR
  GTEST_SKIP() << "UDPX_SOURCE_DIR is not defined";
#else
  const LoadResult r = loadConfigFile(std::string(UDPX_SOURCE_DIR) + "/conf/udpx.toml");
  ASSERT_TRUE(r.config.has_value()) << ::testing::PrintToString(formatAll(r.errors));
  ASSERT_EQ(r.config->frontends.size(), 1u);
  const FrontendConfig& f = r.config->frontends[0];
  EXPECT_EQ(f.preset, Preset::Ntp);
  ASSERT_EQ(f.listen.size(), 1u);
  EXPECT_EQ(f.listen[0].toString(), "127.0.0.1:1123");
  const BackendConfig* b = r.config->findBackend(f.backend);
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->servers.size(), 1u);
  EXPECT_EQ(b->servers[0].literal->toString(), "127.0.0.1:123");
#endif
}


// ---- health checks, on_all_down, resolution, status ----

TEST(ConfigLoader, HealthDefaultsComeFromTheFrontendsPreset) {
  const LoadResult r = load(kMinimal);
  ASSERT_TRUE(r.config.has_value());
  const BackendConfig& b = r.config->backends[0];
  EXPECT_EQ(b.health.probe.type, ProbeType::Ntp);
  EXPECT_EQ(b.health.interval, probeDefaults(ProbeType::Ntp).interval);
  EXPECT_EQ(b.health.timeout, probeDefaults(ProbeType::Ntp).timeout);
  EXPECT_EQ(b.health.rise, probeDefaults(ProbeType::Ntp).rise);
  EXPECT_EQ(b.health.fall, probeDefaults(ProbeType::Ntp).fall);
  EXPECT_EQ(b.on_all_down, OnAllDown::Forward);
  EXPECT_EQ(b.resolve_min, seconds{10});
  EXPECT_EQ(b.resolve_max, seconds{3600});
  EXPECT_TRUE(r.config->global.resolvers.empty());
  EXPECT_EQ(r.config->global.status, "");
}

TEST(ConfigLoader, ReadsHealthTableAndBackendHealthKeys) {
  const LoadResult r = load(R"([global]
resolvers = ["127.0.0.1:5353", "[::1]"]
status = "/run/udpx.sock"
[frontend.f]
listen = ["127.0.0.1:5300"]
preset = "dns"
backend = "b"
[backend.b]
servers = ["127.0.0.1"]
on_all_down = "drop"
resolve_min = "200ms"
resolve_max = "5m"
[backend.b.health]
interval = "200ms"
timeout = "100ms"
rise = 1
fall = 5
query = "example.test"
)");
  ASSERT_TRUE(r.config.has_value()) << ::testing::PrintToString(formatAll(r.errors));
  const Config& c = *r.config;
  ASSERT_EQ(c.global.resolvers.size(), 2u);
  EXPECT_EQ(c.global.resolvers[0].toString(), "127.0.0.1:5353");
  EXPECT_EQ(c.global.resolvers[1].toString(), "[::1]:53");
  EXPECT_EQ(c.global.status, "/run/udpx.sock");
  const BackendConfig& b = c.backends[0];
  EXPECT_EQ(b.on_all_down, OnAllDown::Drop);
  EXPECT_EQ(b.resolve_min, milliseconds{200});
  EXPECT_EQ(b.resolve_max, seconds{300});
  EXPECT_EQ(b.health.probe.type, ProbeType::Dns);
  EXPECT_EQ(b.health.probe.query, "example.test");
  EXPECT_EQ(b.health.interval, milliseconds{200});
  EXPECT_EQ(b.health.timeout, milliseconds{100});
  EXPECT_EQ(b.health.rise, 1u);
  EXPECT_EQ(b.health.fall, 5u);
}

TEST(ConfigLoader, RawProbeReadsHexPayloads) {
  const LoadResult r = load(R"([frontend.f]
listen = ["127.0.0.1:9000"]
backend = "b"
[backend.b]
servers = ["127.0.0.1:9001"]
[backend.b.health]
type = "raw"
send = "70 69 6e 67"
expect = "706f6e67"
)");
  ASSERT_TRUE(r.config.has_value()) << ::testing::PrintToString(formatAll(r.errors));
  const ProbeSpec& p = r.config->backends[0].health.probe;
  EXPECT_EQ(p.type, ProbeType::Raw);
  EXPECT_EQ(p.send, (std::vector<std::uint8_t>{'p', 'i', 'n', 'g'}));
  EXPECT_EQ(p.expect, (std::vector<std::uint8_t>{'p', 'o', 'n', 'g'}));
}

TEST(ConfigLoader, FrontendsImplyingDifferentProbesNeedAnExplicitType) {
  constexpr std::string_view kShared = R"([frontend.t]
listen = ["127.0.0.1:1123"]
preset = "ntp"
backend = "b"
[frontend.d]
listen = ["127.0.0.1:1153"]
preset = "dns"
backend = "b"
[backend.b]
servers = ["127.0.0.1:9000"]
)";
  const LoadResult r = load(kShared);
  const ConfigError e = errorAt(r, "backend.b.health");
  EXPECT_EQ(e.pos.line, 9u);
  EXPECT_NE(e.message.find("t (ntp: ntp), d (dns: dns)"), std::string::npos) << e.format();
  EXPECT_NE(e.hint.find("type ="), std::string::npos);
  EXPECT_FALSE(r.config.has_value());

  const LoadResult fixed = load(std::string(kShared) + "[backend.b.health]\ntype = \"none\"\n");
  ASSERT_TRUE(fixed.config.has_value()) << ::testing::PrintToString(formatAll(fixed.errors));
  EXPECT_EQ(fixed.config->backends[0].health.probe.type, ProbeType::None);
}

TEST(ConfigLoader, ReportsInconsistentHealthKeysWithPositions) {
  const LoadResult r = load(R"([frontend.f]
listen = ["127.0.0.1:1123"]
preset = "ntp"
backend = "b"
[backend.b]
servers = ["127.0.0.1:9000"]
resolve_min = "2h"
resolve_max = "1h"
on_all_down = "panic"
[backend.b.health]
interval = "1s"
timeout = "2s"
rise = 0
query = "example.org"
send = "00"
typo = 1
)");
  EXPECT_FALSE(r.config.has_value());
  // Every error, each at its line and column (the value, or the key for an unknown key): a
  // message right but placed elsewhere, or without a position, fails here.
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"backend.b.resolve_min", "7:15"},     {"backend.b.on_all_down", "9:15"},
      {"backend.b.health.timeout", "12:11"}, {"backend.b.health.rise", "13:8"},
      {"backend.b.health.query", "14:9"},    {"backend.b.health.send", "15:8"},
      {"backend.b.health.typo", "16:1"}};
  std::vector<std::pair<std::string, std::string>> got;
  for (const ConfigError& e : r.errors) {
    got.emplace_back(e.path, std::to_string(e.pos.line) + ":" + std::to_string(e.pos.col));
  }
  std::sort(got.begin(), got.end());
  std::vector<std::pair<std::string, std::string>> want = expected;
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want) << ::testing::PrintToString(formatAll(r.errors));
  EXPECT_NE(errorAt(r, "backend.b.health.query").message.find("only used by dns probes"), std::string::npos);
}

TEST(ConfigLoader, ReportsBadResolversAndStatus) {
  const LoadResult r = load(std::string(R"([global]
resolvers = ["dns.example.org", "127.0.0.1:99999"]
status = "relative.sock"
)") + std::string(kMinimal));
  EXPECT_FALSE(r.config.has_value());
  EXPECT_NE(errorAt(r, "global.resolvers[0]").hint.find("cannot itself be a host name"), std::string::npos);
  EXPECT_EQ(errorAt(r, "global.resolvers[1]").pos.line, 2u);
  EXPECT_EQ(errorAt(r, "global.status").pos.line, 3u);
}

TEST(ConfigLoader, ReadsPrivilegeSeparationKeysWithPositions) {
  const LoadResult r = load(R"([global]
user = "udpx"
group = "nogroup"
chroot = "/var/empty"
[frontend.f]
listen = ["127.0.0.1:1123"]
backend = "b"
[backend.b]
servers = ["127.0.0.1:123"]
)");
  ASSERT_TRUE(r.errors.empty()) << ::testing::PrintToString(formatAll(r.errors));
  const FixedConfig& g = r.config->fixed;
  EXPECT_EQ(g.user, "udpx");
  EXPECT_EQ(g.group, "nogroup");
  EXPECT_EQ(g.chroot, "/var/empty");
  EXPECT_EQ(g.user_pos.line, 2u);
  EXPECT_EQ(g.user_pos.col, 8u);
  EXPECT_EQ(g.chroot_pos.line, 4u);
  EXPECT_NE(r.text.find("chroot = \"/var/empty\""), std::string::npos);
}

TEST(ConfigLoader, PrivilegeSeparationKeysDefaultToEmpty) {
  const LoadResult r = load(kMinimal);
  ASSERT_TRUE(r.config.has_value());
  EXPECT_EQ(r.config->fixed.user, "");
  EXPECT_EQ(r.config->fixed.group, "");
  EXPECT_EQ(r.config->fixed.chroot, "");
}

TEST(ConfigLoader, RejectsBadUserGroupAndRelativeChroot) {
  const LoadResult r = load(R"([global]
user = "root:0"
group = ""
chroot = "var/empty"
[frontend.f]
listen = ["127.0.0.1:1123"]
backend = "b"
[backend.b]
servers = ["127.0.0.1:123"]
)");
  EXPECT_EQ(formatAll(r.errors),
            (std::vector<std::string>{
                "t.toml:2:8: global.user: \"root:0\" is not a valid user name (write an account name such as "
                "\"udpx\" (letters, digits, '_', '-', '.'))",
                "t.toml:3:9: global.group: \"\" is not a valid group name (write an account name such as "
                "\"udpx\" (letters, digits, '_', '-', '.'))",
                "t.toml:4:10: global.chroot: chroot directory \"var/empty\" is not an absolute path (write an "
                "absolute path such as \"/var/empty\", or remove the key)"}));
}

}  // namespace
}  // namespace udpx

namespace udpx {
namespace {

TEST(ConfigNames, BalanceAndOnAllDownRoundTripEveryValue) {
  for (int i = 0; i <= static_cast<int>(Balance::First); ++i) {
    const auto b = static_cast<Balance>(i);
    EXPECT_NE(balanceName(b), "?") << "balance " << i << " has no name";
    EXPECT_EQ(parseBalance(balanceName(b)), b) << balanceName(b);
  }
  for (int i = 0; i <= static_cast<int>(OnAllDown::Drop); ++i) {
    const auto o = static_cast<OnAllDown>(i);
    EXPECT_NE(onAllDownName(o), "?") << "on_all_down " << i << " has no name";
    EXPECT_EQ(parseOnAllDown(onAllDownName(o)), o) << onAllDownName(o);
  }
  EXPECT_EQ(balanceName(Balance::RoundRobin), "round-robin");
  EXPECT_EQ(onAllDownName(OnAllDown::Drop), "drop");
}

TEST(ConfigNames, RejectsUnknownNames) {
  for (std::string_view bad : {"roundrobin", "round_robin", "First", "", "random"}) {
    EXPECT_EQ(parseBalance(bad), std::nullopt) << '"' << bad << '"';
  }
  for (std::string_view bad : {"Forward", "fail-open", "", "drops"}) {
    EXPECT_EQ(parseOnAllDown(bad), std::nullopt) << '"' << bad << '"';
  }
}

// The loader takes every name a table lists, and nothing else: the table is the schema.
TEST(ConfigNames, TheLoaderAcceptsExactlyTheNamesOfTheTables) {
  for (const auto& [value, name] : kBalanceNames) {
    const LoadResult r = load(std::string(kMinimal) + "balance = \"" + std::string(name) + "\"\n");
    ASSERT_TRUE(r.config.has_value()) << ::testing::PrintToString(formatAll(r.errors));
    EXPECT_EQ(r.config->backends[0].balance, value);
  }
  for (const auto& [value, name] : kOnAllDownNames) {
    const LoadResult r = load(std::string(kMinimal) + "on_all_down = \"" + std::string(name) + "\"\n");
    ASSERT_TRUE(r.config.has_value()) << ::testing::PrintToString(formatAll(r.errors));
    EXPECT_EQ(r.config->backends[0].on_all_down, value);
  }
  for (const auto& [value, name] : kLogLevelNames) {
    const LoadResult r = load("[global]\nlog_level = \"" + std::string(name) + "\"\n" + std::string(kMinimal));
    ASSERT_TRUE(r.config.has_value()) << ::testing::PrintToString(formatAll(r.errors));
    EXPECT_EQ(r.config->global.log_level, value);
  }
}

// [global] is split by what a reload may change: the accounts, the chroot and both endpoints
// are fixed for the life of the process; the rest is part of the reloadable configuration.
TEST(ConfigLoader, SortsGlobalKeysIntoTheFixedAndTheReloadablePart) {
  const LoadResult r = load(std::string(R"([global]
log_level = "warn"
max_sessions = 7
resolvers = ["127.0.0.1:53"]
metrics = "127.0.0.1:9123"
status = "@udpx-test"
user = "udpx"
group = "nogroup"
chroot = "/var/empty"
)") + std::string(kMinimal));
  ASSERT_TRUE(r.config.has_value()) << ::testing::PrintToString(formatAll(r.errors));
  const ReloadableConfig& reloadable = *r.config;
  EXPECT_EQ(reloadable.global.log_level, LogLevel::Warn);
  EXPECT_EQ(reloadable.global.max_sessions, 7u);
  ASSERT_EQ(reloadable.global.resolvers.size(), 1u);
  EXPECT_EQ(reloadable.frontends.size(), 1u);
  EXPECT_EQ(reloadable.backends.size(), 1u);
  ASSERT_TRUE(reloadable.global.metrics.has_value());
  EXPECT_EQ(reloadable.global.metrics->toString(), "127.0.0.1:9123");
  EXPECT_EQ(reloadable.global.status, "@udpx-test");
  const FixedConfig& fixed = r.config->fixed;
  EXPECT_EQ(fixed.user, "udpx");
  EXPECT_EQ(fixed.group, "nogroup");
  EXPECT_EQ(fixed.chroot, "/var/empty");
}

}  // namespace
}  // namespace udpx
