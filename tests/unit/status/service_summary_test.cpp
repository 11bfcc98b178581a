#include "status/service_summary.h"

#include <gtest/gtest.h>

namespace udpx {
namespace {

Snapshot twoFrontends(std::uint64_t a, std::uint64_t b) {
  Snapshot s;
  s.frontends.resize(2);
  s.frontends[0].clients_recent = a;
  s.frontends[1].clients_recent = b;
  return s;
}

TEST(ServiceSummary, CountsFrontendsAndClients) {
  EXPECT_EQ(serviceSummary(twoFrontends(1000, 234)), "serving 2 frontends, 1,234 clients; no problem");
  Snapshot one;
  one.frontends.resize(1);
  one.frontends[0].clients_recent = 1;
  EXPECT_EQ(serviceSummary(one), "serving 1 frontend, 1 client; no problem");
  one.frontends[0].clients_table_full = true;
  EXPECT_EQ(serviceSummary(one), "serving 1 frontend, 1+ clients; no problem");
}

TEST(ServiceSummary, NamesTheFirstErrorWithItsHint) {
  Snapshot s = twoFrontends(1000, 234);
  s.findings.push_back({"warning", "backend dns_up, server 10.0.0.1:53", "slow", "look"});
  s.findings.push_back({"error", "backend ntp_up, server 192.168.1.1:123",
                        "no reply from 192.168.1.1:123 to 30 probes",
                        "is it running, and does it allow queries from this host? (chrony: `allow`)"});
  EXPECT_EQ(serviceSummary(s),
            "serving 2 frontends, 1,234 clients; 2 problems (udpx status lists them), the first: backend ntp_up, "
            "server 192.168.1.1:123: no reply from 192.168.1.1:123 to 30 probes — is it running, and does it allow "
            "queries from this host? (chrony: `allow`)");
  s.findings.erase(s.findings.begin() + 1);
  EXPECT_EQ(serviceSummary(s),
            "serving 2 frontends, 1,234 clients; 1 problem: backend dns_up, server 10.0.0.1:53: slow — look");
}

TEST(ServiceSummary, ThousandsSeparators) {
  EXPECT_EQ(withThousands(0), "0");
  EXPECT_EQ(withThousands(999), "999");
  EXPECT_EQ(withThousands(1000), "1,000");
  EXPECT_EQ(withThousands(1234567), "1,234,567");
}

}  // namespace
}  // namespace udpx
