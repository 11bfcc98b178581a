// Status endpoint names and their unix sockets.
#include "status/status_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace udpx {
namespace {

constexpr const char* kPrefix = "@udpx:";

bool makeAddress(const std::string& endpoint, sockaddr_un& sa, socklen_t& len) {
  std::memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (endpoint.size() < 2 || endpoint.size() > sizeof sa.sun_path - 1) return false;
  if (endpoint[0] == '@') {
    // NOTE: an abstract name is exactly the bytes given (no terminating NUL counted), so the
    // length passed to bind/connect must be exact on both sides.
    std::memcpy(sa.sun_path + 1, endpoint.data() + 1, endpoint.size() - 1);
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + endpoint.size());
    return true;
  }
  if (endpoint[0] != '/') return false;
  std::memcpy(sa.sun_path, endpoint.data(), endpoint.size());
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + endpoint.size() + 1);
  return true;
}

std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace

std::string defaultStatusEndpoint(const std::string& config_file) {
  char real[PATH_MAX];
  const std::string path = ::realpath(config_file.c_str(), real) != nullptr ? std::string(real) : config_file;
  std::string name = kPrefix + path;
  if (name.size() > sizeof(sockaddr_un::sun_path) - 1) {
    char hash[17];
    std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(fnv1a(path)));
    name = std::string(kPrefix) + hash + ":" + path.substr(path.size() - 60);
  }
  return name;
}

std::string runtimeStatusPath(const std::string& config_file) {
  char real[PATH_MAX];
  const std::string path = config_file == kCommandLineConfigName
                               ? config_file
                               : (::realpath(config_file.c_str(), real) != nullptr ? std::string(real) : config_file);
  std::string base = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  for (char& c : base) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '_';
  }
  if (base.size() > 40) base.resize(40);
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(fnv1a(path)));
  return std::string(kRuntimeDir) + "/" + base + "." + hash + ".sock";
}

bool runtimeDirUsable() {
  struct stat st {};
  if (::lstat(kRuntimeDir, &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) return false;
  return ::access(kRuntimeDir, W_OK | X_OK) == 0;
}

std::string chooseStatusEndpoint(const Config& cfg) {
  if (!cfg.global.status.empty()) return cfg.global.status;
  if (runtimeDirUsable()) {
    return runtimeStatusPath(cfg.file == kCommandLineConfigName ? statusEndpoint(cfg) : cfg.file);
  }
  return statusEndpoint(cfg);
}

std::string statusEndpoint(const Config& cfg) {
  if (!cfg.global.status.empty()) return cfg.global.status;
  if (cfg.file == kCommandLineConfigName) {
    const std::string first = cfg.frontends.empty() || cfg.frontends[0].listen.empty()
                                  ? std::string("none")
                                  : cfg.frontends[0].listen[0].toString();
    return std::string(kPrefix) + "listen=" + first;
  }
  return defaultStatusEndpoint(cfg.file);
}

UniqueFd listenStatus(const std::string& endpoint, std::string& error, StaleSocket stale) {
  sockaddr_un sa;
  socklen_t len = 0;
  if (!makeAddress(endpoint, sa, len)) {
    error = "not a socket name (\"@NAME\") or an absolute path";
    return {};
  }
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    error = strerror(errno);
    return {};
  }
  const bool file = endpoint[0] == '/';
  if (file && stale == StaleSocket::Replace) removeDeadSocketFile(endpoint);
  // Any local user may read the status: it carries no secrets, and that is its purpose. The
  // file is made 0666 by the umask of the bind (one thread: nothing else creates files meanwhile).
  const mode_t umask_was = file ? ::umask(0111) : 0;
  const int bound = bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), len);
  const int e = errno;
  if (file) ::umask(umask_was);
  if (bound != 0) {
    error = strerror(e);
    if (e == EADDRINUSE && file && stale == StaleSocket::Refuse) {
      error += " — a file is already there (a socket left by an earlier udpx, or another process's), and udpx "
               "cannot remove files from inside its sandbox; remove it, or choose another path";
    } else if (e == EADDRINUSE) {
      error += " — another udpx with this config, or another local user's process, holds it; stop it, or set "
               "global.status to another name";
    }
    return {};
  }
  if (listen(fd.get(), 16) != 0) {
    error = strerror(errno);
    return {};
  }
  return fd;
}

bool removeDeadSocketFile(const std::string& path) {
  // NOTE: connect() says ECONNREFUSED for a file that is not a socket too: without the lstat,
  // global.status naming an existing file would have it deleted (by root, at start-up).
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  std::string ignored;
  UniqueFd probe = connectStatus(path, ignored);
  return !probe.valid() && errno == ECONNREFUSED && ::unlink(path.c_str()) == 0;
}

std::string boundSocketPath(int fd) {
  sockaddr_un sa{};
  socklen_t len = sizeof sa;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0 || sa.sun_family != AF_UNIX) return "";
  if (len <= offsetof(sockaddr_un, sun_path) || sa.sun_path[0] != '/') return "";
  return std::string(sa.sun_path, strnlen(sa.sun_path, len - offsetof(sockaddr_un, sun_path)));
}

UniqueFd connectStatus(const std::string& endpoint, std::string& error) {
  sockaddr_un sa;
  socklen_t len = 0;
  if (!makeAddress(endpoint, sa, len)) {
    error = "not a socket name (\"@NAME\") or an absolute path";
    errno = EINVAL;
    return {};
  }
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid() || connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), len) != 0) {
    const int e = errno;
    error = strerror(e);
    errno = e;
    return {};
  }
  return fd;
}

bool readUntilClosed(int fd, int timeout_ms, std::string& out, std::string& error) {
  char buf[16384];
  while (true) {
    pollfd p{fd, POLLIN, 0};
    const int r = poll(&p, 1, timeout_ms);
    if (r == 0) {
      error = "no answer within " + std::to_string(timeout_ms / 1000) + "s";
      return false;
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      error = strerror(errno);
      return false;
    }
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) return true;
    if (n < 0) {
      if (errno == EINTR) continue;
      error = strerror(errno);
      return false;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace udpx
