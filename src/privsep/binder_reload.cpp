// The binder reads the file, binds the new addresses, keeps the sockets of the applied config.
// Runs in: the binder (after its privilege drop).
#include "privsep/binder_reload.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "config/config.h"
#include "net/listen_socket.h"
#include "status/status_socket.h"
#include "privsep/fdpass.h"
#include "privsep/trusted_file.h"

namespace udpx::privsep {
namespace {

std::string userName(uid_t uid) {
  passwd* pw = getpwuid(uid);
  return pw != nullptr ? std::string(pw->pw_name) : std::to_string(uid);
}

std::string groupName(gid_t gid) {
  group* gr = getgrgid(gid);
  return gr != nullptr ? std::string(gr->gr_name) : std::to_string(gid);
}

// The whole file, at most kMaxConfigText bytes; false with `error` set otherwise.
bool readFile(const std::string& path, std::string& text, std::string& error) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) {
    const int err = errno;  // before currentIdentity(), which reads the user database
    error = unreadableConfigError(path, err, currentIdentity());
    return false;
  }
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      error = unreadableConfigError(path, err, currentIdentity());
      return false;
    }
    if (n == 0) return true;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kMaxConfigText) {
      error = "cannot reload " + path + ": it is larger than " + std::to_string(kMaxConfigText) +
              " bytes, the most the binder hands to the worker — shorten it";
      return false;
    }
  }
}

}  // namespace

std::string unreadableConfigError(const std::string& path, int err, const Identity& who) {
  std::string out = "cannot reload: the binder cannot read " + path + ": " + strerror(err);
  if (err != EACCES && err != EPERM) return out + " — check the path the service was started with (-c FILE)";
  const std::string account = who.user + ":" + who.group + " (uid " + std::to_string(who.uid) + ")";
  out += " — the binder reads the file itself on reload, and runs as " + account + " since it dropped root";
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    return out + "; a directory on the way to the file is not searchable by that user — let " + who.user +
           " reach it (chmod o+x on the directory), or keep the config in /etc";
  }
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return out + "; the file is owned by " + userName(st.st_uid) + ":" + groupName(st.st_gid) + " with mode " + mode +
         " — let " + who.user + " read it: chgrp " + who.group + " " + path + " && chmod 0640 " + path;
}

BinderReload readAndBind(const ReloadSource& src, const std::vector<ServedListener>& served) {
  BinderReload out;
  if (src.path.empty()) {
    out.errors.push_back("cannot reload: udpx was started from --preset flags, so there is no file to read again — "
                         "restart it with the new flags, or run it from a config file (-c FILE)");
    return out;
  }
  std::string error;
  const bool read = src.trusted_only
                        ? readTrustedFile(src.path, kMaxConfigBytes, getuid(), getgid(), out.text, error)
                        : readFile(src.path, out.text, error);
  if (!read) {
    if (src.trusted_only) error = "cannot reload (secure start): " + error;
    out.text.clear();
    out.errors.push_back(error);
    return out;
  }
  const LoadResult loaded = loadConfigString(out.text, src.path);
  // The worker parses the text again and reports every error with its position.
  if (!loaded.config) return out;
  const Config& cfg = *loaded.config;
  out.status = cfg.global.status.empty() ? src.status_default : cfg.global.status;
  std::string ignored;
  if (!out.status.empty() && out.status[0] == '/' && !connectStatus(out.status, ignored).valid()) {
    std::string why;
    out.status_fd = listenStatus(out.status, why);
    if (!out.status_fd.valid()) {
      const Identity who = currentIdentity();
      out.errors.push_back(
          ConfigError{src.path, cfg.global.status_pos, "global.status",
                      "cannot create the status socket " + out.status + ": " + why,
                      "after start-up the binder runs as " + who.user + ":" + who.group +
                          ", which makes the socket files of a reload: let it create files in that directory "
                          "(or use " + std::string(kRuntimeDir) + "/NAME.sock), choose an abstract name "
                          "(\"@NAME\"), or restart udpx to apply it"}
              .format());
    }
  }
  for (const FrontendConfig& fe : cfg.frontends) {
    for (const ListenEndpoint& e : listenEndpoints(fe)) {
      const SockAddr& addr = e.addr;
      const bool tcp = e.transport == Transport::Tcp;
      out.listen.push_back(e);
      bool known = false;
      for (const ServedListener& s : served) known = known || (s.addr == addr && s.transport == e.transport);
      if (known) continue;
      if (!src.may_bind) {
        out.errors.push_back("frontend \"" + fe.name + "\": listen address " + addr.toString() + (tcp ? " (TCP)" : "") +
                             " is new, but udpx was started with its sockets passed in (systemd socket activation "
                             "or --listen-fd) and was given none for it — add it to the socket unit (" +
                             (tcp ? "ListenStream=" : "ListenDatagram=") + addr.toString() +
                             ") and restart udpx, or leave it out");
        continue;
      }
      std::string why;
      UniqueFd fd = openEndpointSocket(e, why);
      if (!fd.valid()) {
        out.errors.push_back("frontend \"" + fe.name + "\": cannot listen on " + addr.toString() + (tcp ? " (TCP)" : "") +
                             ": " + why);
        continue;
      }
      out.fresh.push_back(ServedListener{addr, std::move(fd), e.transport});
    }
  }
  return out;
}

std::vector<ServedListener> servedAfter(std::vector<ServedListener> served, BinderReload& applied) {
  std::vector<ServedListener> out;
  for (const ListenEndpoint& e : applied.listen) {
    bool found = false;
    for (auto* from : {&served, &applied.fresh}) {
      for (ServedListener& s : *from) {
        if (!found && s.fd.valid() && s.addr == e.addr && s.transport == e.transport) {
          out.push_back(std::move(s));
          found = true;
        }
      }
    }
  }
  return out;  // what is left in `served` and `applied.fresh` is closed here
}

void forgetStatusFile(const std::string& from) {
  if (!from.empty() && from[0] == '/') removeDeadSocketFile(from);
}

}  // namespace udpx::privsep
