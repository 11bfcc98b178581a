// fd passing (src/privsep/fdpass.cpp): exact counts, truncation of data and of descriptors,
// close-on-exec, and that nothing leaks when a message is refused.
#include "privsep/fdpass.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace udpx::privsep {
namespace {

struct Pair {
  UniqueFd a, b;
  Pair() {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    a.reset(sv[0]);
    b.reset(sv[1]);
  }
};

int openFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n;
}

std::vector<std::uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

TEST(FdPass, CarriesDataAndDescriptorsWithCloseOnExec) {
  Pair p;
  UniqueFd devnull(open("/dev/null", O_RDONLY));  // no O_CLOEXEC on purpose
  const int fds[] = {devnull.get(), devnull.get()};
  std::string err;
  ASSERT_TRUE(sendWithFds(p.a.get(), bytes("hello"), fds, err)) << err;
  auto m = receiveWithFds(p.b.get(), 64, 4, err);
  ASSERT_TRUE(m) << err;
  EXPECT_EQ(std::string(m->data.begin(), m->data.end()), "hello");
  ASSERT_EQ(m->fds.size(), 2u);
  for (const UniqueFd& fd : m->fds) {
    EXPECT_NE(fd.get(), devnull.get());
    EXPECT_EQ(fcntl(fd.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  }
}

TEST(FdPass, RefusesLongerMessageAsTruncated) {
  Pair p;
  std::string err;
  ASSERT_TRUE(sendWithFds(p.a.get(), bytes(std::string(65, 'x')), {}, err)) << err;
  EXPECT_FALSE(receiveWithFds(p.b.get(), 64, 4, err));
  EXPECT_NE(err.find("truncated"), std::string::npos) << err;
  // Exactly the limit is fine.
  ASSERT_TRUE(sendWithFds(p.a.get(), bytes(std::string(64, 'x')), {}, err)) << err;
  EXPECT_TRUE(receiveWithFds(p.b.get(), 64, 4, err)) << err;
}

TEST(FdPass, RefusesMoreDescriptorsThanExpectedAndClosesThoseThatArrived) {
  Pair p;
  UniqueFd devnull(open("/dev/null", O_RDONLY | O_CLOEXEC));
  std::vector<int> fds(8, devnull.get());
  std::string err;
  ASSERT_TRUE(sendWithFds(p.a.get(), bytes("x"), fds, err)) << err;
  const int before = openFds();
  EXPECT_FALSE(receiveWithFds(p.b.get(), 64, 2, err));
  EXPECT_NE(err.find("descriptors truncated"), std::string::npos) << err;
  EXPECT_EQ(openFds(), before);
}

TEST(FdPass, SendRefusesMoreThanTheKernelLimit) {
  Pair p;
  std::vector<int> fds(kMaxFdsPerMessage + 1, 0);
  std::string err;
  EXPECT_FALSE(sendWithFds(p.a.get(), bytes("x"), fds, err));
  EXPECT_NE(err.find("254 descriptors"), std::string::npos) << err;
}

TEST(FdPass, EndOfFileIsAnError) {
  Pair p;
  p.a.reset();
  std::string err;
  EXPECT_FALSE(receiveWithFds(p.b.get(), 64, 2, err));
  EXPECT_NE(err.find("closed"), std::string::npos) << err;
}

TEST(Handover, CarriesConfigTextAndSockets) {
  Pair p;
  UniqueFd s1(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)), s2(socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  const int fds[] = {s1.get(), s2.get()};
  std::string err;
  ASSERT_TRUE(sendHandover(p.a.get(), "/etc/udpx.toml", "[global]\nlog_level = \"debug\"\n", 65534, 65533, fds, err)) << err;
  auto h = receiveHandover(p.b.get(), err);
  ASSERT_TRUE(h) << err;
  EXPECT_EQ(h->config_name, "/etc/udpx.toml");
  EXPECT_EQ(h->config_text, "[global]\nlog_level = \"debug\"\n");
  EXPECT_EQ(h->listeners.size(), 2u);
  EXPECT_EQ(h->uid, 65534u);
  EXPECT_EQ(h->gid, 65533u);
}

// A header that announces 2 sockets while 1 arrives: the receiver refuses it and closes the one.
TEST(Handover, RefusesWrongDescriptorCount) {
  Pair p;
  UniqueFd s1(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  const int two[] = {s1.get(), s1.get()};
  std::string err;
  // Build a valid 2-socket handover, then resend its bytes with only one descriptor attached.
  Pair capture;
  ASSERT_TRUE(sendHandover(capture.a.get(), "n", "t", 1, 1, two, err)) << err;
  auto raw = receiveWithFds(capture.b.get(), 1024, 4, err);
  ASSERT_TRUE(raw) << err;
  const int one[] = {s1.get()};
  ASSERT_TRUE(sendWithFds(p.a.get(), raw->data, one, err)) << err;
  const int before = openFds();
  EXPECT_FALSE(receiveHandover(p.b.get(), err));
  EXPECT_EQ(err, "handover announced 2 sockets but carried 1");
  EXPECT_EQ(openFds(), before);
}

TEST(Handover, RefusesLengthMismatchAndWrongMagic) {
  Pair p;
  std::string err;
  Pair capture;
  ASSERT_TRUE(sendHandover(capture.a.get(), "name", "text", 1, 1, {}, err)) << err;
  auto raw = receiveWithFds(capture.b.get(), 1024, 4, err);
  ASSERT_TRUE(raw) << err;
  std::vector<std::uint8_t> longer = raw->data;
  longer.push_back('!');
  ASSERT_TRUE(sendWithFds(p.a.get(), longer, {}, err));
  EXPECT_FALSE(receiveHandover(p.b.get(), err));
  EXPECT_NE(err.find("does not match its header"), std::string::npos) << err;
  std::vector<std::uint8_t> bad = raw->data;
  bad[0] ^= 0xFF;
  ASSERT_TRUE(sendWithFds(p.a.get(), bad, {}, err));
  EXPECT_FALSE(receiveHandover(p.b.get(), err));
  EXPECT_NE(err.find("magic"), std::string::npos) << err;
}

TEST(Handover, RefusesConfigLargerThanTheLimit) {
  Pair p;
  std::string err;
  EXPECT_FALSE(sendHandover(p.a.get(), "n", std::string(kMaxConfigText + 1, '#'), 1, 1, {}, err));
  EXPECT_NE(err.find("shorten it"), std::string::npos) << err;
  // The largest allowed config does fit one message.
  ASSERT_TRUE(sendHandover(p.a.get(), "n", std::string(kMaxConfigText, '#'), 1, 1, {}, err)) << err;
  auto h = receiveHandover(p.b.get(), err);
  ASSERT_TRUE(h) << err;
  EXPECT_EQ(h->config_text.size(), kMaxConfigText);
}

TEST(LinkMessage, OrderCarriesNameTextErrorsAndSockets) {
  Pair p;
  UniqueFd devnull(open("/dev/null", O_RDONLY));
  const int fds[] = {devnull.get()};
  LinkMessage m;
  m.kind = LinkKind::Order;
  m.id = 7;
  m.name = "/etc/udpx.toml";
  m.text = "[frontend.a]\n";
  m.lines = {"cannot read it", ""};
  std::string err;
  ASSERT_TRUE(sendLinkMessage(p.a.get(), m, fds, err)) << err;
  auto got = receiveLinkMessage(p.b.get(), err);
  ASSERT_TRUE(got) << err;
  EXPECT_EQ(got->kind, LinkKind::Order);
  EXPECT_EQ(got->id, 7u);
  EXPECT_EQ(got->name, m.name);
  EXPECT_EQ(got->text, m.text);
  EXPECT_EQ(got->lines, m.lines);
  ASSERT_EQ(got->fds.size(), 1u);
  EXPECT_EQ(fcntl(got->fds[0].get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

TEST(LinkMessage, DoneCarriesOutcome) {
  Pair p;
  LinkMessage m;
  m.kind = LinkKind::Done;
  m.id = 3;
  m.applied = true;
  m.summary = "+1 frontend (c)";
  std::string err;
  ASSERT_TRUE(sendLinkMessage(p.a.get(), m, {}, err)) << err;
  auto got = receiveLinkMessage(p.b.get(), err);
  ASSERT_TRUE(got) << err;
  EXPECT_EQ(got->kind, LinkKind::Done);
  EXPECT_TRUE(got->applied);
  EXPECT_EQ(got->summary, m.summary);
  EXPECT_TRUE(got->lines.empty());
}

TEST(LinkMessage, CutsTooManyErrorLinesAndCountsTheRest) {
  Pair p;
  LinkMessage m;
  m.kind = LinkKind::Done;
  for (int i = 0; i < 5000; ++i) m.lines.push_back("f.toml:" + std::to_string(i) + ":1: an error of some length");
  std::string err;
  ASSERT_TRUE(sendLinkMessage(p.a.get(), m, {}, err)) << err;
  auto got = receiveLinkMessage(p.b.get(), err);
  ASSERT_TRUE(got) << err;
  ASSERT_GT(got->lines.size(), 100u);
  ASSERT_LT(got->lines.size(), 5000u);
  EXPECT_EQ(got->lines.front(), m.lines.front());
  EXPECT_EQ(got->lines.back(), "… and " + std::to_string(5000 - got->lines.size() + 1) + " more");
}

TEST(LinkMessage, LargestConfigFits) {
  Pair p;
  LinkMessage m;
  m.kind = LinkKind::Order;
  m.text.assign(kMaxConfigText, '#');
  m.lines.assign(1000, std::string(100, 'e'));
  std::string err;
  ASSERT_TRUE(sendLinkMessage(p.a.get(), m, {}, err)) << err;
  auto got = receiveLinkMessage(p.b.get(), err);
  ASSERT_TRUE(got) << err;
  EXPECT_EQ(got->text.size(), kMaxConfigText);
  m.text.push_back('#');
  EXPECT_FALSE(sendLinkMessage(p.a.get(), m, {}, err));
  EXPECT_NE(err.find("shorten it"), std::string::npos) << err;
}

TEST(LinkMessage, RefusesHandoverBytesSocketsOnAnAskAndTruncatedBodies) {
  Pair p;
  std::string err;
  // A handover where a reload message is expected: wrong magic.
  ASSERT_TRUE(sendHandover(p.a.get(), "/etc/udpx.toml", std::string(100, '#'), 1, 1, {}, err)) << err;
  EXPECT_FALSE(receiveLinkMessage(p.b.get(), err));
  EXPECT_NE(err.find("magic"), std::string::npos) << err;
  // An Ask with a socket: refused, and the socket that arrived is closed.
  UniqueFd devnull(open("/dev/null", O_RDONLY));
  const int fds[] = {devnull.get()};
  LinkMessage ask;
  ask.kind = LinkKind::Ask;
  ASSERT_TRUE(sendLinkMessage(p.a.get(), ask, fds, err)) << err;
  const int before = openFds();
  EXPECT_FALSE(receiveLinkMessage(p.b.get(), err));
  EXPECT_EQ(openFds(), before);
  // A body cut short.
  LinkMessage done;
  done.kind = LinkKind::Done;
  done.summary = "no change";
  ASSERT_TRUE(sendLinkMessage(p.a.get(), done, {}, err)) << err;
  auto whole = receiveWithFds(p.b.get(), 1024, 0, err);
  ASSERT_TRUE(whole) << err;
  whole->data.pop_back();
  ASSERT_TRUE(sendWithFds(p.a.get(), whole->data, {}, err)) << err;
  EXPECT_FALSE(receiveLinkMessage(p.b.get(), err));
  EXPECT_NE(err.find("does not match"), std::string::npos) << err;
}

}  // namespace
}  // namespace udpx::privsep
