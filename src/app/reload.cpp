// Runtime::reload, the deciding half: parse the new text, refuse it whole (every error, FILE:LINE:COL)
// or hand the diff to reload_apply.cpp; count, log and remember the outcome. And SIGHUP.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "app/reload_diff.h"
#include "app/runtime.h"
#include "base/log.h"

namespace udpx {
namespace {

// Reads the configuration file for a SIGHUP in the one-process mode. The sandbox allows exactly
// this open (read-only, close-on-exec, relative to the working directory; privsep/sandbox.cpp).
bool readConfigFile(const std::string& path, std::string& text, std::string& error) {
  const int fd = ::openat(AT_FDCWD, path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    error = "cannot read " + path + ": " + std::strerror(e) +
            (e == EACCES ? " — udpx runs as a user that may not read it: make it readable by that user (chmod o+r, "
                           "or chgrp and chmod g+r)"
                         : e == ENOENT ? " — udpx reads the same path it was started with; restore the file there"
                                       : "");
    return false;
  }
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = "cannot read " + path + ": " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    // A configuration is a few kilobytes; this bounds a mistake (a device, a log file).
    if (text.size() > (std::size_t{16} << 20)) {
      error = "cannot read " + path + ": larger than 16 MiB — is this the configuration file?";
      ::close(fd);
      return false;
    }
  }
  ::close(fd);
  return true;
}

std::string restartError(const std::string& file, SourcePos pos, const std::string& key, const std::string& before,
                         const std::string& after, const std::string& why) {
  ConfigError e{file, pos, key,
                "changed from \"" + before + "\" to \"" + after + "\", which needs a restart (" + why + ")",
                "restart udpx to apply it, or set it back to \"" + before + "\" to reload the rest"};
  return e.format();
}

}  // namespace

void Runtime::reloadOnSighupBySelf() { sighup_ = SighupAction::Self; }

void Runtime::reloadOnSighupBy(std::function<void()> trigger) {
  reload_trigger_ = std::move(trigger);
  sighup_ = SighupAction::Trigger;
}

void Runtime::onSighup() {
  switch (sighup_) {
    case SighupAction::Trigger:
      reload_trigger_();
      return;
    case SighupAction::None:
      if (cfg_.file == kCommandLineConfigName) {
        LOG_WARN("SIGHUP: udpx was configured on the command line (--preset), so there is no file to reload — "
                 "restart it with the new flags, or run it with -c FILE");
      } else {
        LOG_WARN("SIGHUP: this process cannot read %s itself — send SIGHUP to the binder, or use `udpx reload -c %s`",
                 cfg_.file.c_str(), cfg_.file.c_str());
      }
      return;
    case SighupAction::Self:
      break;
  }
  LOG_INFO("SIGHUP: reloading %s", cfg_.file.c_str());
  reloadOwnFile();
}

ReloadOutcome Runtime::reloadOwnFile() {
  ReloadRequest req;
  req.config_name = cfg_.file;
  std::string error;
  if (!readConfigFile(cfg_.file, req.config_text, error)) req.transport_errors.push_back(error);
  return reload(std::move(req));
}

void Runtime::checkRestartNeeded(const Config& next, const ConfigDiff& diff, std::vector<std::string>& errors) const {
  const FixedConfig& a = cfg_.fixed;
  const FixedConfig& b = next.fixed;
  const std::string& file = next.file;
  constexpr const char* kIdentity = "the privilege drop happens once, at start-up";
  if (a.user != b.user) errors.push_back(restartError(file, b.user_pos, "global.user", a.user, b.user, kIdentity));
  if (a.group != b.group) errors.push_back(restartError(file, b.group_pos, "global.group", a.group, b.group, kIdentity));
  if (a.chroot != b.chroot) {
    errors.push_back(restartError(file, b.chroot_pos, "global.chroot", a.chroot, b.chroot,
                                  "a chroot is entered once and never left"));
  }
  (void)diff;
}

std::string Runtime::statusTarget(const Config& next) const {
  return next.global.status.empty() ? start_status_endpoint_ : next.global.status;
}

ReloadOutcome Runtime::reload(ReloadRequest request) {
  const TimePoint started = Clock::now();
  notifyReloading();  // systemd: RELOADING=1, then READY=1 with the new STATUS= line below
  ReloadOutcome out;
  const std::string file = request.config_name.empty() ? cfg_.file : request.config_name;
  out.errors = std::move(request.transport_errors);
  std::optional<Config> next;
  std::uint64_t hash = 0;
  if (out.errors.empty()) {
    LoadResult loaded = loadConfigString(request.config_text, file);
    for (const ConfigError& e : loaded.errors) out.errors.push_back(e.format());
    for (const ConfigError& w : loaded.warnings) LOG_WARN("reload: warning: %s", w.format().c_str());
    if (loaded.config) {
      next = std::move(loaded.config);
      hash = next->text_hash;
    }
  }
  if (next && out.errors.empty()) {
    ConfigDiff diff = diffConfigs(cfg_, *next);
    checkRestartNeeded(*next, diff, out.errors);
    if (out.errors.empty()) {
      PreparedReload prep;
      if (prepareReload(*next, std::move(request.new_listeners), prep, out.errors)) {
        applyReload(diff, *next, prep);
        out.applied = true;
        out.summary = diff.summary();
      }
    }
  }
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  recordReload(out, file, hash, ms);
  notifyReady();
  return out;
}

void Runtime::recordReload(const ReloadOutcome& out, const std::string& file, std::uint64_t hash, double ms) {
  if (out.applied) {
    ++reloads_.succeeded;
    reload_state_.config_hash = hash;
    reload_state_.last_success_unix_ms = unixMillisNow();
    reload_state_.failed_unix_ms = 0;
    reload_state_.failed_file.clear();
    reload_state_.failed_errors.clear();
    LOG_INFO("reloaded %s: %s (%.1f ms)", file.c_str(), out.summary.c_str(), ms);
    return;
  }
  ++reloads_.failed;
  reload_state_.failed_unix_ms = unixMillisNow();
  reload_state_.failed_file = file;
  reload_state_.failed_errors = out.errors;
  for (const std::string& e : out.errors) LOG_ERROR("reload: %s", e.c_str());
  LOG_ERROR("reload of %s refused (%zu error%s): the previous configuration keeps running — run `udpx check -c %s`, "
            "fix the file and reload again",
            file.c_str(), out.errors.size(), out.errors.size() == 1 ? "" : "s", file.c_str());
}

}  // namespace udpx
