// The benchmark's upstream server: one UDP socket, recvmmsg/sendmmsg in batches of 64, answers
// every datagram at once (NTP-shaped requests as a server would, anything else echoed). Prints
// "port N" when ready; exits on SIGTERM/SIGINT or after --max-seconds.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bench_common.h"

namespace {

using namespace udpx::bench;

volatile sig_atomic_t g_stop = 0;
void onSignal(int) { g_stop = 1; }

constexpr unsigned kBatch = 64;
constexpr std::size_t kSlot = 2048;

void usage() {
  die("usage: udpx_bench_responder [--bind 127.0.0.1:0] [--max-seconds 600]\n"
      "  answers UDP datagrams: NTP client requests with a mode-4 reply, DNS queries with an empty\n"
      "  answer, anything else echoed");
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

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("responder: socket failed");
  // Deep buffers: 10,000 clients may each have a request queued at once.
  int bytes = 64 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes);
  // A receive timeout lets the loop notice a signal or the deadline without busy waiting.
  timeval tv{0, 200000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("responder: bind failed");
  socklen_t alen = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen);

  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  static std::uint8_t data[kBatch][kSlot];
  std::array<mmsghdr, kBatch> msgs{};
  std::array<iovec, kBatch> iov{};
  std::array<sockaddr_in, kBatch> names{};
  for (unsigned i = 0; i < kBatch; ++i) {
    iov[i].iov_base = data[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &names[i];
  }
  std::printf("port %u\n", ntohs(addr.sin_port));
  std::fflush(stdout);

  const std::uint64_t deadline = nowNs() + static_cast<std::uint64_t>(max_seconds * 1e9);
  std::uint64_t received = 0, sent = 0, send_errors = 0;
  while (!g_stop && nowNs() < deadline) {
    for (unsigned i = 0; i < kBatch; ++i) {
      iov[i].iov_len = kSlot;
      msgs[i].msg_hdr.msg_namelen = sizeof names[i];
    }
    int n = recvmmsg(fd, msgs.data(), kBatch, MSG_WAITFORONE, nullptr);
    if (n <= 0) continue;  // timeout or signal
    received += static_cast<unsigned>(n);
    for (int i = 0; i < n; ++i) {
      std::uint8_t* p = data[i];
      const std::size_t len = msgs[i].msg_len;
      iov[i].iov_len = len;
      if (len >= 4 && get32(p) == kMagic) {
        // the generic payload: echo as it is
      } else if (isDnsQuery(p, len)) {
        p[2] = static_cast<std::uint8_t>(p[2] | 0x80);  // QR: a response (no records, NOERROR)
        p[3] = static_cast<std::uint8_t>(p[3] | 0x80);  // RA
      } else if (isNtpRequest(p, len)) {
        p[0] = static_cast<std::uint8_t>((p[0] & 0x38) | 4);  // LI 0, same version, mode 4
        p[1] = 1;                                             // stratum 1
        std::memcpy(p + 24, p + 40, 8);                       // origin = request's transmit
      }
    }
    int done = 0;
    while (done < n) {
      int k = sendmmsg(fd, msgs.data() + done, static_cast<unsigned>(n - done), 0);
      if (k <= 0) {
        if (errno == EINTR) continue;
        ++send_errors;
        ++done;
        continue;
      }
      sent += static_cast<unsigned>(k);
      done += k;
    }
  }
  std::fprintf(stderr, "responder: received %llu sent %llu send_errors %llu\n",
               static_cast<unsigned long long>(received), static_cast<unsigned long long>(sent),
               static_cast<unsigned long long>(send_errors));
  close(fd);
  return 0;
}
