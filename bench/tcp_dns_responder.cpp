// The TCP benchmark's DNS server (bench/tcp_dns.py): accepts any number of connections and
// answers every length-framed DNS query on them at once (QR and RA set, no records, NOERROR, like
// the UDP responder). One thread, epoll, non-blocking sockets; a connection whose peer does not
// read is closed rather than buffered for without bound. Prints "port N" when ready;
// exits on SIGTERM/SIGINT or after --max-seconds.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>

#include "bench_common.h"

namespace {

using namespace udpx::bench;

volatile sig_atomic_t g_stop = 0;
void onSignal(int) { g_stop = 1; }

constexpr std::size_t kBuf = 65536 + 2;

struct Conn {
  std::uint8_t in[kBuf];
  std::size_t have = 0;
};

void usage() {
  die("usage: udpx_bench_tcp_dns_responder [--bind 127.0.0.1:0] [--max-seconds 600]\n"
      "  answers DNS queries over TCP (RFC 7766 framing) on every connection it accepts");
}

// Answers every whole frame in c.in; keeps a partial one. False: the connection is broken.
bool answer(int fd, Conn& c, std::uint64_t& answered) {
  std::uint8_t out[kBuf];
  std::size_t out_len = 0, at = 0;
  while (c.have - at >= 2) {
    const std::size_t len = (static_cast<std::size_t>(c.in[at]) << 8) | c.in[at + 1];
    if (c.have - at - 2 < len) break;
    std::uint8_t* q = c.in + at + 2;
    if (isDnsQuery(q, len)) {
      q[2] = static_cast<std::uint8_t>(q[2] | 0x80);  // QR
      q[3] = static_cast<std::uint8_t>(q[3] | 0x80);  // RA
    }
    if (out_len + 2 + len > sizeof out) break;
    std::memcpy(out + out_len, c.in + at, 2 + len);
    out_len += 2 + len;
    at += 2 + len;
    ++answered;
  }
  std::memmove(c.in, c.in + at, c.have - at);
  c.have -= at;
  std::size_t sent = 0;
  while (sent < out_len) {
    const ssize_t n = send(fd, out + sent, out_len - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return false;  // broken, or a peer that does not read
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string bind_to = "127.0.0.1:0";
  double max_seconds = 600;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage();
    if (a == "--bind") bind_to = argv[++i];
    else if (a == "--max-seconds") max_seconds = std::atof(argv[++i]);
    else usage();
  }
  sockaddr_in addr;
  if (!parseEndpoint(bind_to, addr)) usage();
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  const int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0) die("tcp responder: socket failed");
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("tcp responder: bind failed");
  if (listen(lfd, 4096) != 0) die("tcp responder: listen failed");
  socklen_t alen = sizeof addr;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &alen);

  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  const int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  std::unordered_map<int, std::unique_ptr<Conn>> conns;
  std::printf("port %u\n", ntohs(addr.sin_port));
  std::fflush(stdout);

  const std::uint64_t deadline = nowNs() + static_cast<std::uint64_t>(max_seconds * 1e9);
  std::uint64_t accepted = 0, answered = 0;
  std::array<epoll_event, 256> events{};
  while (!g_stop && nowNs() < deadline) {
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 200);
    for (int i = 0; i < n; ++i) {
      const int fd = events[static_cast<std::size_t>(i)].data.fd;
      if (fd == lfd) {
        for (;;) {
          const int c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
          conns[c] = std::make_unique<Conn>();
          ++accepted;
        }
        continue;
      }
      Conn& c = *conns[fd];
      const ssize_t got = recv(fd, c.in + c.have, sizeof c.in - c.have, 0);
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (got <= 0 || !(c.have += static_cast<std::size_t>(got), answer(fd, c, answered)) ||
          c.have == sizeof c.in) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        close(fd);
        conns.erase(fd);
      }
    }
  }
  std::fprintf(stderr, "tcp responder: accepted %llu answered %llu\n", static_cast<unsigned long long>(accepted),
               static_cast<unsigned long long>(answered));
  return 0;
}
