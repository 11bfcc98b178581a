// Secure-start mode: what the caller controls, reduced before use (see secure_mode.h).
// Runs in: the process a user started (setuid root or with file capabilities).
#include "app/secure_mode.h"

#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "base/log.h"
#include "privsep/trusted_file.h"

extern char** environ;

namespace udpx {
namespace {

constexpr const char* kSafePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr std::size_t kMaxKeptValue = 64;

// NOTE: the sanitizers read their options from the environment themselves (AT_SECURE or not);
// kept so that a sanitizer build's worker gets them too. The leak checker makes a non-dumpable
// process dumpable for its own tracer at exit, so a secure start needs nothing else for it.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitizerBuild = true;
#else
constexpr bool kSanitizerBuild = false;
#endif

bool keptName(const std::string& name) {
  if (name == "LANG" || name == "LANGUAGE" || name == "TERM" || name == "TZ") return true;
  if (name.rfind("LC_", 0) == 0) return name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == std::string::npos;
  return kSanitizerBuild && (name == "ASAN_OPTIONS" || name == "UBSAN_OPTIONS" || name == "LSAN_OPTIONS");
}

// NOTE: a "/" would let a locale or time zone name a file of the caller's choosing.
bool safeValue(const std::string& name, const std::string& value) {
  if (name.size() > 3 && name.find("SAN_OPTIONS") != std::string::npos) return true;
  if (value.size() > kMaxKeptValue || value.find('/') != std::string::npos) return false;
  for (char c : value) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return false;
  }
  return true;
}

const char* kindOf(const privsep::SecureStart& s) {
  return s.setuid_root ? "set-user-ID root" : "installed with file capabilities (or set-group-ID)";
}

}  // namespace

SafeEnvironment safeEnvironment(const std::vector<std::string>& env) {
  SafeEnvironment out;
  bool activation = false;
  for (const std::string& entry : env) {
    const std::size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    const std::string name = entry.substr(0, eq), value = entry.substr(eq + 1);
    if (name == "LISTEN_FDS" || name == "LISTEN_PID") {
      activation = true;
    } else if (name == "UDPX_TEST_HOOK") {
      out.notes.push_back("UDPX_TEST_HOOK is ignored in a secure start (test hooks are for root's tests only)");
    } else if (name == "NOTIFY_SOCKET") {
      out.notes.push_back("NOTIFY_SOCKET is ignored in a secure start (only a service manager running as root "
                          "may be told; run udpx from its unit as root instead)");
    } else if (keptName(name) && name != "PATH" && safeValue(name, value)) {
      out.keep.push_back(entry);
    }
  }
  if (activation) {
    out.errors.push_back("LISTEN_FDS/LISTEN_PID are set, but a secure start refuses socket activation: the caller's "
                         "sockets are not the administrator's — let a service manager running as root start udpx "
                         "(the packaged udpx.socket), or start it without those variables");
  }
  out.keep.push_back(std::string("PATH=") + kSafePath);
  return out;
}

int enterSecureMode(CliOptions& opt, const privsep::SecureStart& s) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) env.emplace_back(*e);
  SafeEnvironment safe = safeEnvironment(env);
  clearenv();
  for (const std::string& kv : safe.keep) {
    const std::size_t eq = kv.find('=');
    setenv(kv.substr(0, eq).c_str(), kv.substr(eq + 1).c_str(), 1);
  }
  umask(022);
  if (chdir("/") != 0) {
    LOG_ERROR("secure start: chdir(\"/\") failed — udpx stops");
    return 1;
  }
  // Dispositions the caller set to ignored survive exec; start from the defaults.
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) std::signal(sig, SIG_DFL);
  }
  const bool run = opt.mode == CliOptions::Mode::Run && !opt.worker_fd;
  const bool check = opt.mode == CliOptions::Mode::Check;
  if (run || check) {
    LOG_INFO("secure start: udpx is %s and was started by uid %u: it reads its configuration only from a root-owned "
             "file, writable by no one else, in directories likewise; the environment is reduced to the locale",
             kindOf(s), static_cast<unsigned>(s.caller_uid));
  }
  for (const std::string& n : safe.notes) {
    if (run) LOG_WARN("secure start: %s", n.c_str());
  }
  std::vector<std::string> errors = std::move(safe.errors);
  if (!opt.listen_fds.empty()) {
    errors.push_back("--listen-fd is refused in a secure start: udpx would serve sockets of the caller's choosing "
                     "with the administrator's configuration — name the listen addresses in the configuration");
  }
  if (opt.one_line) {
    errors.push_back("--preset is refused in a secure start: its listen addresses and servers come from the caller, "
                     "not from a configuration root controls — put them in /etc/udpx/udpx.toml (or a root-owned "
                     "file named with -c)");
  }
  // A set-group-ID bit gives udpx nothing it needs (file capabilities bind, setuid root becomes
  // root wholly): the group ids go back to the caller's now, before anything runs with them.
  if (!s.setuid_root && setresgid(s.caller_gid, s.caller_gid, s.caller_gid) != 0) {
    LOG_ERROR("secure start: setresgid to the caller's group failed — udpx stops");
    return 1;
  }
  if (opt.mode == CliOptions::Mode::Status || opt.mode == CliOptions::Mode::Reload || opt.worker_fd) {
    // Asking a running udpx needs no privilege; a worker started by hand gets none.
    privsep::becomeCaller(s);
  }
  if (!errors.empty() && (run || check)) {
    for (const std::string& e : errors) LOG_ERROR("secure start: %s", e.c_str());
    LOG_ERROR("not started: %zu secure-start problem%s", errors.size(), errors.size() == 1 ? "" : "s");
    return 1;
  }
  return -1;
}

std::optional<LoadResult> loadTrustedConfig(const std::string& path, const privsep::SecureStart& s) {
  std::string text, why;
  if (!privsep::readTrustedFile(path, kMaxConfigBytes, s.caller_uid, s.caller_gid, text, why)) {
    std::fprintf(stderr,
                 "udpx: secure start: configuration refused: %s — udpx is %s and was started by uid %u, so it reads "
                 "its configuration only from a root-owned file that no one else may change, in directories "
                 "likewise (default /etc/udpx/udpx.toml)\n",
                 why.c_str(), kindOf(s), static_cast<unsigned>(s.caller_uid));
    return std::nullopt;
  }
  return loadConfigString(text, path);
}

}  // namespace udpx
