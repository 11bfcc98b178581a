// Random and mutated input never crashes the validators or the config loader, and every
// config error it reports points inside the text (run under ASan+UBSan in CI).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "config/config.h"
#include "protocols/protocol.h"

namespace udpx {
namespace {

constexpr Preset kPresets[] = {Preset::Raw, Preset::Ntp, Preset::Dns, Preset::Syslog};

TEST(RandomInput, ValidatorsAcceptOnlyWhatTheirProtocolAllows) {
  std::mt19937 rng(12345);
  std::vector<std::uint8_t> buf;
  int ntp_ok = 0;
  for (int i = 0; i < 200000; ++i) {
    // Exact-size buffers so ASan sees any read past the end.
    buf.resize(std::uniform_int_distribution<std::size_t>(0, 600)(rng));
    for (auto& b : buf) b = static_cast<std::uint8_t>(rng());
    for (Preset p : kPresets) {
      Token t = 0;
      const Check req = checkRequest(p, buf, t);
      const Check rep = checkReply(p, buf, t);
      if (p == Preset::Raw) {
        EXPECT_EQ(req, Check::Ok);
      }
      if (p == Preset::Ntp && req == Check::Ok) {
        ++ntp_ok;
        ASSERT_GE(buf.size(), 48u);
        ASSERT_EQ(buf.size() % 4, 0u);
        ASSERT_EQ(buf[0] & 7, 3);
      }
      if (p == Preset::Ntp && rep == Check::Ok) {
        ASSERT_EQ(buf[0] & 7, 4);
      }
      if (p == Preset::Dns && req == Check::Ok) {
        ASSERT_EQ(buf[2] & 0x80, 0);
      }
      if (p == Preset::Dns && rep == Check::Ok) {
        ASSERT_EQ(buf[2] & 0x80, 0x80);
      }
    }
  }
  EXPECT_GT(ntp_ok, 0) << "the generator should hit valid NTP requests sometimes";
}

const char* const kValid = R"([global]
log_level = "debug"
max_sessions = 1000

[frontend.lan_ntp]
listen = ["127.0.0.1:1123", "[::1]:1123"]
preset = "ntp"
backend = "up"
allow = ["127.0.0.0/8", "::1/128"]
session_timeout = "1500ms"
max_sessions = 100
responses = 1

[backend.up]
servers = ["127.0.0.1:123", "localhost", "[::1]:123"]
balance = "first"
fail_timeout = "3s"
)";

TEST(RandomInput, MutatedConfigsLoadOrReportErrorsInsideTheText) {
  ASSERT_TRUE(loadConfigString(kValid, "m.toml").errors.empty());
  std::mt19937 rng(4242);
  const std::string alphabet = "[]=\"'.,#:/\\ \n\tabcdefgz0123456789-_{}";
  int rejected = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text = kValid;
    const int edits = std::uniform_int_distribution<int>(1, 4)(rng);
    for (int e = 0; e < edits; ++e) {
      const std::size_t pos = std::uniform_int_distribution<std::size_t>(0, text.size() - 1)(rng);
      switch (rng() % 3) {
        case 0: text.erase(pos, std::uniform_int_distribution<std::size_t>(1, 8)(rng)); break;
        case 1: text.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
        default: text[pos] = alphabet[rng() % alphabet.size()]; break;
      }
      if (text.empty()) text = "x";
    }
    const LoadResult r = loadConfigString(text, "m.toml");
    const auto lines = static_cast<std::uint32_t>(std::count(text.begin(), text.end(), '\n') + 1);
    if (r.errors.empty()) {
      ASSERT_TRUE(r.config.has_value()) << text;
      EXPECT_FALSE(r.config->frontends.empty());
      continue;
    }
    ++rejected;
    ASSERT_FALSE(r.config.has_value()) << "a config with errors must never be half-applied";
    for (const ConfigError& err : r.errors) {
      EXPECT_LE(err.pos.line, lines) << err.format() << "\n" << text;
      EXPECT_FALSE(err.message.empty()) << text;
    }
  }
  EXPECT_GT(rejected, 1000) << "most mutations should break the config";
}

}  // namespace
}  // namespace udpx
