// Socket activation, --listen-fd, and binding whatever is left.
// Runs in: the binder, or udpx started without privilege.
#include "privsep/activation.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "net/listen_socket.h"

namespace udpx::privsep {
namespace {

constexpr int kListenFdsStart = 3;  // SD_LISTEN_FDS_START
constexpr long kMaxListenFds = 1024;

std::optional<long> number(const char* s) {
  if (s == nullptr || *s == '\0') return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < 0) return std::nullopt;
  return v;
}

// An environment value as an error message quotes it: at most 32 bytes, control and non-ASCII
// bytes as \xNN, so a hostile or broken value can neither flood the log nor garble the terminal.
std::string quoted(const char* s) {
  constexpr std::size_t kShown = 32;
  std::string out;
  std::size_t i = 0;
  for (; s[i] != '\0' && i < kShown; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s[i] != '\0') out += "…";
  return out;
}

}  // namespace

std::optional<long> systemdSocketCount(const char* pid_text, const char* fds_text, long our_pid, std::string& error) {
  const auto pid = number(pid_text);
  const bool for_us = pid && *pid == our_pid;
  if (fds_text == nullptr || !for_us) return 0;
  const auto count = number(fds_text);
  if (!count || *count > kMaxListenFds) {
    error = "LISTEN_FDS=\"" + quoted(fds_text) + "\" is not a socket count — start udpx from a systemd "
            ".socket unit or systemd-socket-activate, which set it";
    return std::nullopt;
  }
  return *count;
}

std::vector<InheritedSocket> takeSystemdSockets(std::vector<std::string>& errors) {
  std::vector<InheritedSocket> out;
  std::string error;
  const auto count = systemdSocketCount(std::getenv("LISTEN_PID"), std::getenv("LISTEN_FDS"),
                                        static_cast<long>(getpid()), error);
  if (!count) {
    errors.push_back(error);
  } else {
    for (long i = 0; i < *count; ++i) {
      const int fd = kListenFdsStart + static_cast<int>(i);
      if (fcntl(fd, F_GETFD) < 0) {
        errors.push_back("LISTEN_FDS promises socket " + std::to_string(fd) + ", but it is not open");
        continue;
      }
      out.push_back(InheritedSocket{UniqueFd(fd), "LISTEN_FDS socket " + std::to_string(fd), ""});
    }
  }
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  return out;
}

std::vector<InheritedSocket> takeListenFds(const std::vector<std::pair<std::string, int>>& flags,
                                           std::vector<std::string>& errors) {
  std::vector<InheritedSocket> out;
  for (const auto& [frontend, fd] : flags) {
    const std::string source = "--listen-fd " + frontend + "=" + std::to_string(fd);
    if (fd <= STDERR_FILENO) {
      errors.push_back(source + ": " + std::to_string(fd) + " is stdin, stdout or stderr, not a socket to listen on");
      continue;
    }
    bool twice = false;
    for (const InheritedSocket& s : out) twice = twice || s.fd.get() == fd;
    if (twice) {
      errors.push_back(source + ": descriptor " + std::to_string(fd) + " is given twice");
      continue;
    }
    if (fcntl(fd, F_GETFD) < 0) {
      errors.push_back(source + ": descriptor " + std::to_string(fd) + " is not open (" + strerror(errno) +
                       ") — the program starting udpx must pass it, e.g. passfd or systemd-socket-activate");
      continue;
    }
    out.push_back(InheritedSocket{UniqueFd(fd), source, frontend});
  }
  return out;
}

std::vector<UniqueFd> openListeners(const Config& cfg, std::vector<InheritedSocket> inherited,
                                    std::vector<std::string>& errors, std::vector<std::string>& notes) {
  // One slot per listen address, in config order, and the frontend each belongs to.
  std::vector<ListenSlot> slots;
  std::vector<const FrontendConfig*> owners;
  for (const FrontendConfig& f : cfg.frontends) {
    for (const ListenEndpoint& e : listenEndpoints(f)) {
      slots.push_back(ListenSlot{e.addr, {}, e.transport});
      owners.push_back(&f);
    }
  }
  for (InheritedSocket& s : inherited) {
    std::string why;
    const ListenEndpoint got = boundEndpoint(s.fd.get(), why);
    const SockAddr& bound = got.addr;
    if (bound.empty()) {
      errors.push_back(s.source + ": " + why);
      continue;
    }
    const std::optional<std::size_t> slot = findListenSlot(slots, bound, got.transport);
    if (!slot) {
      const bool tcp = got.transport == Transport::Tcp;
      errors.push_back(s.source + (tcp ? " (TCP)" : "") + " is bound to " + bound.toString() +
                       ", which is no listen address of any frontend" + (tcp ? " with tcp = true" : "") +
                       " (or is passed twice) — add it to a frontend's listen list, or stop passing it");
      continue;
    }
    const std::string& owner = owners[*slot]->name;
    if (!s.frontend.empty() && s.frontend != owner) {
      errors.push_back(s.source + " is bound to " + bound.toString() + ", a listen address of frontend \"" + owner +
                       "\", not \"" + s.frontend + "\" — name the right frontend");
      continue;
    }
    std::string warning;
    if (!prepareInheritedSocket(s.fd.get(), bound, why, warning, got.transport)) {
      errors.push_back(s.source + " (" + bound.toString() + "): " + why);
      continue;
    }
    if (!warning.empty()) notes.push_back(s.source + ": " + warning);
    slots[*slot].fd = std::move(s.fd);
  }
  std::vector<UniqueFd> out;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    ListenSlot& slot = slots[i];
    if (!slot.fd.valid()) {
      std::string why;
      slot.fd = openEndpointSocket({slot.addr, slot.transport}, why);
      if (!slot.fd.valid()) {
        errors.push_back("frontend \"" + owners[i]->name + "\": cannot listen on " + slot.addr.toString() +
                         (slot.transport == Transport::Tcp ? " (TCP)" : "") + ": " + why);
        continue;
      }
    }
    out.push_back(std::move(slot.fd));
  }
  return out;
}

}  // namespace udpx::privsep
