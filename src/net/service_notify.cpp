// The sd_notify(3) protocol: one datagram of newline-separated assignments to $NOTIFY_SOCKET.
#include "net/service_notify.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace udpx {

ServiceNotifySocket ServiceNotifySocket::connect(const char* address, std::string& error) {
  ServiceNotifySocket out;
  if (address == nullptr || *address == '\0') return out;
  const std::string_view a(address);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (a[0] != '/' && a[0] != '@') {
    error = "NOTIFY_SOCKET=" + std::string(a) + ": not a unix socket path or @abstract name (unsupported)";
    return out;
  }
  if (a.size() >= sizeof sun.sun_path) {
    error = "NOTIFY_SOCKET=" + std::string(a) + ": longer than a unix socket address allows";
    return out;
  }
  std::memcpy(sun.sun_path, a.data(), a.size());
  // "@name": the abstract namespace, a leading NUL and exactly the name's bytes (no trailing NUL).
  if (a[0] == '@') sun.sun_path[0] = '\0';
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + a.size() + (a[0] == '/' ? 1 : 0));
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) {
    error = "cannot create a socket for NOTIFY_SOCKET: " + std::string(strerror(errno));
    return out;
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sun), len) != 0) {
    error = "cannot connect to the service manager's socket " + std::string(a) + ": " + strerror(errno);
    return out;
  }
  out.fd_ = std::move(fd);
  out.address_ = std::string(a);
  return out;
}

bool ServiceNotifySocket::send(std::string_view message) noexcept {
  if (!fd_.valid()) return false;
  // NOTE: send() is the sendto system call, which the sandbox allows (src/privsep/sandbox.cpp).
  ssize_t n;
  do {
    n = ::send(fd_.get(), message.data(), message.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(message.size());
}

std::optional<std::chrono::microseconds> watchdogInterval(const char* usec, const char* pid, pid_t self) noexcept {
  if (usec == nullptr || *usec == '\0') return std::nullopt;
  if (pid != nullptr && *pid != '\0') {
    char* end = nullptr;
    errno = 0;
    const long long p = std::strtoll(pid, &end, 10);
    if (errno != 0 || *end != '\0' || p != static_cast<long long>(self)) return std::nullopt;
  }
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(usec, &end, 10);
  if (errno != 0 || *end != '\0' || v == 0 || *usec == '-') return std::nullopt;
  return std::chrono::microseconds(static_cast<std::chrono::microseconds::rep>(v));
}

std::string statusAssignment(std::string_view text, std::size_t max_bytes) {
  std::string out = "STATUS=";
  std::size_t kept = 0;
  bool cut = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (kept >= max_bytes) {
      cut = true;
      break;
    }
    out.push_back(c < 0x20 || c == 0x7f ? ' ' : static_cast<char>(c));
    ++kept;
  }
  if (cut) {
    // A character cut in the middle goes whole: find its lead byte (continuation bytes are
    // 10xxxxxx) and compare the bytes kept with the length the lead byte announces.
    std::size_t lead = out.size();
    while (lead > 7 && (static_cast<unsigned char>(out[lead - 1]) & 0xc0) == 0x80) --lead;
    if (lead > 7 && static_cast<unsigned char>(out[lead - 1]) >= 0xc0) {
      const auto c = static_cast<unsigned char>(out[lead - 1]);
      const std::size_t want = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
      if (out.size() - (lead - 1) < want) out.resize(lead - 1);
    }
    out += "…";
  }
  return out;
}

}  // namespace udpx
