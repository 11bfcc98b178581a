// Tests for the loop check (src/config/loops.cpp): a frontend whose backend's server is its own
// listen address (or that of a frontend leading back) is an error at the server, with its
// position; what only looks alike is not.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.h"

namespace udpx {
namespace {

std::vector<std::string> formatAll(const std::vector<ConfigError>& list) {
  std::vector<std::string> out;
  for (const ConfigError& e : list) out.push_back(e.format());
  return out;
}

LoadResult withServer(const std::string& listen, const std::string& server) {
  return loadConfigString(R"([frontend.f]
listen = [")" + listen + R"("]
backend = "b"
[backend.b]
servers = [")" + server + R"("]
)",
                          "t.toml");
}

constexpr const char* kHint =
    " (name the real server's address and port; a udpx frontend cannot be a server of its own backend)";

TEST(ConfigLoops, AServerThatIsTheFrontendsOwnListenAddressIsAnError) {
  const LoadResult r = withServer("127.0.0.1:5353", "127.0.0.1:5353");
  EXPECT_EQ(formatAll(r.errors),
            std::vector<std::string>{
                std::string("t.toml:5:12: backend.b.servers[0]: server \"127.0.0.1:5353\" is frontend f's own listen "
                            "address (127.0.0.1:5353, 2:11), and f sends to this backend: every datagram would come "
                            "back to udpx and loop forever") +
                kHint});
  EXPECT_FALSE(r.config.has_value());
}

TEST(ConfigLoops, AWildcardListenerReceivesWhatIsSentToLoopbackOnItsPort) {
  for (const auto& [listen, server] : std::vector<std::pair<std::string, std::string>>{
           {"0.0.0.0:5353", "127.0.0.1:5353"},
           {"0.0.0.0:5353", "127.1.2.3:5353"},
           {"0.0.0.0:5353", "0.0.0.0:5353"},
           {"127.0.0.1:5353", "0.0.0.0:5353"},
           {"0.0.0.0:5353", "[::ffff:127.0.0.1]:5353"},
           {"[::]:5353", "[::1]:5353"},
           {"[::1]:5353", "[::]:5353"},
           {"0.0.0.0:5353", "localhost:5353"},
           {"[::]:5353", "LocalHost.:5353"},
           {"127.0.0.1:5353", "db.localhost:5353"}}) {
    const LoadResult r = withServer(listen, server);
    ASSERT_EQ(r.errors.size(), 1u) << listen << " <- " << server << ": "
                                   << ::testing::PrintToString(formatAll(r.errors));
    EXPECT_EQ(r.errors[0].path, "backend.b.servers[0]");
    EXPECT_EQ(r.errors[0].pos.line, 5u);
    EXPECT_EQ(r.errors[0].pos.col, 12u);
    EXPECT_NE(r.errors[0].message.find("loop forever"), std::string::npos) << r.errors[0].format();
  }
}

TEST(ConfigLoops, WhatOnlyLooksAlikeIsNoLoop) {
  for (const auto& [listen, server] : std::vector<std::pair<std::string, std::string>>{
           {"127.0.0.1:5353", "127.0.0.1:53"},      // another port
           {"127.0.0.1:5353", "127.0.0.2:5353"},    // another loopback address, not a wildcard
           {"192.0.2.1:5353", "127.0.0.1:5353"},    // a specific listener does not get loopback
           {"0.0.0.0:5353", "[::1]:5353"},          // IPv4 wildcard, IPv6 server
           {"[::]:5353", "127.0.0.1:5353"},         // [::] is IPV6_V6ONLY in udpx
           {"0.0.0.0:5353", "192.0.2.7:5353"},      // another host (as far as the file tells)
           {"0.0.0.0:5353", "ns.example:5353"}}) {  // a name: not known ahead
    const LoadResult r = withServer(listen, server);
    EXPECT_TRUE(r.errors.empty()) << listen << " <- " << server << ": "
                                  << ::testing::PrintToString(formatAll(r.errors));
  }
}

TEST(ConfigLoops, TheDefaultPortCountsToo) {
  const LoadResult r = loadConfigString(R"([frontend.f]
listen = ["0.0.0.0:53"]
preset = "dns"
backend = "b"
[backend.b]
servers = ["10.0.0.1", "127.0.0.1"]
)",
                                        "t.toml");
  ASSERT_EQ(r.errors.size(), 1u) << ::testing::PrintToString(formatAll(r.errors));
  EXPECT_EQ(r.errors[0].path, "backend.b.servers[1]");
  EXPECT_EQ(r.errors[0].pos.col, 24u);
}

TEST(ConfigLoops, ALoopThroughAnotherFrontendIsAnErrorAtEachServer) {
  const LoadResult r = loadConfigString(R"([frontend.a]
listen = ["127.0.0.1:7001"]
backend = "to_b"
[frontend.b]
listen = ["127.0.0.1:7002"]
backend = "to_a"
[backend.to_b]
servers = ["127.0.0.1:7002"]
[backend.to_a]
servers = ["127.0.0.1:7001"]
)",
                                        "t.toml");
  EXPECT_EQ(formatAll(r.errors),
            (std::vector<std::string>{
                std::string("t.toml:8:12: backend.to_b.servers[0]: server \"127.0.0.1:7002\" is a listen address of "
                            "frontend b (127.0.0.1:7002, 5:11), whose datagrams come back to this backend (frontend "
                            "a → b → a): every datagram would loop forever") +
                    kHint,
                std::string("t.toml:10:12: backend.to_a.servers[0]: server \"127.0.0.1:7001\" is a listen address "
                            "of frontend a (127.0.0.1:7001, 2:11), whose datagrams come back to this backend "
                            "(frontend b → a → b): every datagram would loop forever") +
                    kHint}));
}

TEST(ConfigLoops, AChainThatEndsElsewhereIsNoLoop) {
  // a forwards to b's listener, b to a real server: a proxy in front of a proxy, no loop.
  const LoadResult r = loadConfigString(R"([frontend.a]
listen = ["127.0.0.1:7001"]
backend = "to_b"
[frontend.b]
listen = ["127.0.0.1:7002"]
backend = "real"
[backend.to_b]
servers = ["127.0.0.1:7002"]
[backend.real]
servers = ["192.0.2.1:7002"]
)",
                                        "t.toml");
  EXPECT_TRUE(r.errors.empty()) << ::testing::PrintToString(formatAll(r.errors));
}

}  // namespace
}  // namespace udpx
