// What `udpx status` says about shared upstream sockets: the frontend's requests in flight
// instead of sessions, and each server's pool.
#include <gtest/gtest.h>

#include "status/snapshot.h"
#include "status/status_client.h"

namespace udpx {
namespace {

TEST(StatusTextShared, ShowsRequestsInFlightAndEachServersPool) {
  Snapshot st;
  st.udpx = {"0.1.0", 42, "/etc/udpx.toml", 880000, 1060000};
  FrontendSnapshot fe;
  fe.name = "lan_ntp";
  fe.preset = "ntp";
  fe.backend = "up";
  fe.listen = {"192.168.0.1:123"};
  fe.upstream_sockets = "shared";
  fe.in_flight = 17;
  fe.sessions_max = 4096;
  fe.counters.sessions_expired = 3;
  fe.counters.token_collisions = 2;
  st.frontends.push_back(fe);
  BackendSnapshot be;
  be.name = "up";
  // Built in place: a local ServerSnapshot copied in made GCC 12 -O3 warn (maybe-uninitialized,
  // a false positive inside std::string's assignment), an error in the Release build.
  ServerSnapshot& sv = be.servers.emplace_back();
  sv.label = sv.origin = "192.168.0.2:123";
  sv.state = "up";
  sv.pool_sockets = 4;
  sv.in_flight = 17;
  st.backends.push_back(be);
  const std::string text = renderStatusText(st);
  EXPECT_NE(text.find("  shared upstream sockets: 17 requests in flight of 4096; 3 unanswered, 0 evicted, 2 token "
                      "collisions\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("  sessions: "), std::string::npos) << text;
  EXPECT_NE(text.find("    shared pool: 4 sockets, 17 requests in flight\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace udpx
