// The frontend's TCP keys (issue 15): tcp and its limits, the presets' defaults, the nts-ke
// preset (TCP only), and the listen endpoints they give.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"

namespace udpx {
namespace {

LoadResult load(const std::string& frontend_keys, const std::string& preset, const std::string& server = "127.0.0.1") {
  return loadConfigString("[frontend.f]\nlisten = [\"127.0.0.1:1123\"]\npreset = \"" + preset +
                              "\"\nbackend = \"b\"\n" + frontend_keys + "\n[backend.b]\nservers = [\"" + server +
                              "\"]\n",
                          "t.toml");
}

TEST(TcpConfig, DnsRelaysTcpByDefaultAndTheOthersDoNot) {
  for (const char* preset : {"ntp", "dns", "syslog", "raw"}) {
    const LoadResult r = load("", preset, "127.0.0.1:9");
    ASSERT_TRUE(r.config) << r.errors[0].format();
    const FrontendConfig& f = r.config->frontends[0];
    EXPECT_EQ(f.tcp, std::string(preset) == "dns") << preset;
    EXPECT_EQ(listenEndpoints(f).size(), f.tcp ? 2u : 1u) << preset;
  }
}

TEST(TcpConfig, ReadsTheKeysAndTheEndpointsListUdpFirst) {
  const LoadResult r = load(
      "tcp = true\ntcp_max_connections = 7\ntcp_max_per_client = 2\ntcp_idle_timeout = \"1500ms\"\n", "raw",
      "127.0.0.1:9");
  ASSERT_TRUE(r.config) << r.errors[0].format();
  const FrontendConfig& f = r.config->frontends[0];
  EXPECT_TRUE(f.tcp);
  EXPECT_EQ(f.tcp_max_connections, 7u);
  EXPECT_EQ(f.tcp_max_per_client, 2u);
  EXPECT_EQ(f.tcp_idle_timeout, std::chrono::milliseconds(1500));
  const auto e = listenEndpoints(f);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].transport, Transport::Udp);
  EXPECT_EQ(e[1].transport, Transport::Tcp);
  EXPECT_EQ(e[1].addr, f.listen[0]);
  EXPECT_EQ(endpointText(e[1]), "tcp 127.0.0.1:1123");
}

TEST(TcpConfig, BadValuesAreErrorsWithTheirPlace) {
  const LoadResult r = load("tcp = \"yes\"\ntcp_max_connections = 0\ntcp_idle_timeout = \"0s\"\n", "dns");
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 3u);
  EXPECT_EQ(r.errors[0].format(),
            "t.toml:5:7: frontend.f.tcp: expected true or false, got string (write tcp = true to relay TCP on the "
            "listen addresses too, tcp = false for UDP only)");
  EXPECT_EQ(r.errors[1].path, "frontend.f.tcp_max_connections");
  EXPECT_EQ(r.errors[2].path, "frontend.f.tcp_idle_timeout");
}

TEST(TcpConfig, NtsKeIsTcpOnlyOnPort4460) {
  const LoadResult r = load("", "nts-ke");
  ASSERT_TRUE(r.config) << r.errors[0].format();
  const FrontendConfig& f = r.config->frontends[0];
  EXPECT_TRUE(f.tcp);
  const auto e = listenEndpoints(f);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].transport, Transport::Tcp);
  EXPECT_EQ(r.config->backends[0].servers[0].port, 4460);

  const LoadResult off = load("tcp = false\n", "nts-ke");
  ASSERT_FALSE(off.config);
  EXPECT_EQ(off.errors[0].path, "frontend.f.tcp");
  EXPECT_NE(off.errors[0].message.find("is TCP only"), std::string::npos) << off.errors[0].message;
}

}  // namespace
}  // namespace udpx
