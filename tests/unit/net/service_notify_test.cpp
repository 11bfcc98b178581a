#include "net/service_notify.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <string>

namespace udpx {
namespace {

TEST(ServiceNotifySocket, NoAddressIsInactiveWithoutError) {
  std::string error;
  ServiceNotifySocket s = ServiceNotifySocket::connect(nullptr, error);
  EXPECT_FALSE(s.active());
  EXPECT_TRUE(error.empty());
  EXPECT_FALSE(s.send("READY=1"));
}

TEST(ServiceNotifySocket, UnsupportedAddressSaysSo) {
  std::string error;
  EXPECT_FALSE(ServiceNotifySocket::connect("vsock:2:1234", error).active());
  EXPECT_NE(error.find("NOTIFY_SOCKET=vsock:2:1234"), std::string::npos) << error;
}

TEST(ServiceNotifySocket, SendsToAnAbstractSocket) {
  const std::string name = "udpx-unit-notify-" + std::to_string(getpid());
  UniqueFd rx(::socket(AF_UNIX, SOCK_DGRAM, 0));
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path + 1, name.data(), name.size());
  ASSERT_EQ(::bind(rx.get(), reinterpret_cast<sockaddr*>(&sun),
                   static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size())), 0);
  std::string error;
  ServiceNotifySocket s = ServiceNotifySocket::connect(("@" + name).c_str(), error);
  ASSERT_TRUE(s.active()) << error;
  ASSERT_TRUE(s.send("READY=1\nSTATUS=ok"));
  char buf[64] = {};
  ASSERT_EQ(::recv(rx.get(), buf, sizeof buf, MSG_DONTWAIT), 17);
  EXPECT_STREQ(buf, "READY=1\nSTATUS=ok");
}

TEST(WatchdogInterval, HonoursUsecAndPid) {
  EXPECT_EQ(watchdogInterval("30000000", nullptr, 42), std::chrono::microseconds(30000000));
  EXPECT_EQ(watchdogInterval("30000000", "42", 42), std::chrono::microseconds(30000000));
  EXPECT_EQ(watchdogInterval("30000000", "43", 42), std::nullopt);  // another process's watchdog
  EXPECT_EQ(watchdogInterval(nullptr, "42", 42), std::nullopt);
  EXPECT_EQ(watchdogInterval("0", nullptr, 42), std::nullopt);
  EXPECT_EQ(watchdogInterval("-5", nullptr, 42), std::nullopt);
  EXPECT_EQ(watchdogInterval("12x", nullptr, 42), std::nullopt);
}

TEST(StatusAssignment, IsOneLine) {
  EXPECT_EQ(statusAssignment("serving 1 frontend\nREADY=1"), "STATUS=serving 1 frontend READY=1");
  EXPECT_EQ(statusAssignment("a\tb"), "STATUS=a b");
}

TEST(StatusAssignment, CutsLongTextOnACharacterBoundary) {
  EXPECT_EQ(statusAssignment("abcdef", 4), "STATUS=abcd…");
  // "—" is three bytes: cut inside it, it goes whole.
  EXPECT_EQ(statusAssignment("ab—cd", 3), "STATUS=ab…");
  EXPECT_EQ(statusAssignment("ab—cd", 5), "STATUS=ab—…");
  EXPECT_EQ(statusAssignment("short", 512), "STATUS=short");
}

}  // namespace
}  // namespace udpx
