// The trusted-path walk and read of a secure start (see trusted_file.h).
// Runs in: the process a user started, before the start.
#include "privsep/trusted_file.h"

#include <fcntl.h>
#include <sys/fsuid.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "net/unique_fd.h"

namespace udpx::privsep {
namespace {

std::string modeText(const struct stat& st) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return buf;
}

// The file-system ids of the caller for the lifetime of the object. NOTE: setfsuid to a
// non-root id also clears CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and the other file-system
// capabilities from the effective set; returning to root restores them.
class CallerFsIds {
 public:
  CallerFsIds(uid_t uid, gid_t gid) {
    old_gid_ = static_cast<gid_t>(setfsgid(gid));
    old_uid_ = static_cast<uid_t>(setfsuid(uid));
    // setfsuid(-1) fails and returns the current value: the only way to read it back.
    ok_ = static_cast<uid_t>(setfsuid(static_cast<uid_t>(-1))) == uid &&
          static_cast<gid_t>(setfsgid(static_cast<gid_t>(-1))) == gid;
  }
  ~CallerFsIds() {
    setfsuid(old_uid_);
    setfsgid(old_gid_);
  }
  CallerFsIds(const CallerFsIds&) = delete;
  CallerFsIds& operator=(const CallerFsIds&) = delete;
  bool ok() const { return ok_; }

 private:
  uid_t old_uid_ = 0;
  gid_t old_gid_ = 0;
  bool ok_ = false;
};

std::string errnoText(const std::string& path, int err) {
  return path + ": " + strerror(err);
}

}  // namespace

std::string untrustedReason(const std::string& path, const struct stat& st, bool last) {
  if (S_ISLNK(st.st_mode)) {
    return path + " is a symbolic link; name the file it points to (its real path) instead";
  }
  if (!last && !S_ISDIR(st.st_mode)) return path + " is not a directory";
  if (last && !S_ISREG(st.st_mode)) return path + " is not a regular file";
  const char* what = last ? "" : "directory ";
  if (st.st_uid != 0) {
    return std::string(what) + path + " is owned by uid " + std::to_string(st.st_uid) +
           ", not root, so its owner could change what udpx runs (chown root " + path + ")";
  }
  if ((st.st_mode & S_IWGRP) != 0) {
    return std::string(what) + path + " is writable by its group (mode " + modeText(st) + ") (chmod g-w " + path + ")";
  }
  if ((st.st_mode & S_IWOTH) != 0) {
    return std::string(what) + path + " is writable by others (mode " + modeText(st) + ") (chmod o-w " + path + ")";
  }
  if (last && (st.st_mode & S_IROTH) == 0) {
    return path + " is not readable by every user (mode " + modeText(st) +
           "): a secure start reads only a file every user may read, so that none of it is a secret";
  }
  return "";
}

bool readTrustedFile(const std::string& path, std::size_t max_bytes, uid_t uid, gid_t gid, std::string& text,
                     std::string& error) {
  text.clear();
  if (path.empty() || path[0] != '/') {
    error = "\"" + path + "\" is not an absolute path (give the full path, e.g. -c /etc/udpx/udpx.toml)";
    return false;
  }
  std::vector<std::string> parts;
  for (std::size_t at = 0; at < path.size();) {
    std::size_t end = path.find('/', at);
    if (end == std::string::npos) end = path.size();
    std::string part = path.substr(at, end - at);
    if (part == "..") {
      error = path + " contains \"..\" (give the path without it)";
      return false;
    }
    if (!part.empty() && part != ".") parts.push_back(std::move(part));
    at = end + 1;
  }
  if (parts.empty()) {
    error = path + " is not a regular file";
    return false;
  }
  CallerFsIds ids(uid, gid);
  if (!ids.ok()) {
    error = "cannot take the caller's file-system ids (setfsuid/setfsgid) to read " + path;
    return false;
  }
  UniqueFd dir(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  struct stat st{};
  if (!dir.valid() || fstat(dir.get(), &st) != 0) {
    error = errnoText("/", errno);
    return false;
  }
  if (std::string why = untrustedReason("/", st, false); !why.empty()) {
    error = why;
    return false;
  }
  std::string walked;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    walked += "/" + parts[i];
    const bool last = i + 1 == parts.size();
    UniqueFd next(openat(dir.get(), parts[i].c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid() || fstat(next.get(), &st) != 0) {
      error = errnoText(walked, errno);
      return false;
    }
    if (std::string why = untrustedReason(walked, st, last); !why.empty()) {
      error = why;
      return false;
    }
    if (!last) {
      dir = std::move(next);
      continue;
    }
    if (static_cast<std::size_t>(st.st_size) > max_bytes) {
      error = walked + " is " + std::to_string(st.st_size) + " bytes, more than a configuration may be (" +
              std::to_string(max_bytes) + ")";
      return false;
    }
    // Opened for reading as the caller; O_NONBLOCK in case it was swapped for a FIFO since.
    UniqueFd file(openat(dir.get(), parts[i].c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    struct stat again{};
    if (!file.valid() || fstat(file.get(), &again) != 0) {
      error = errnoText(walked, errno);
      return false;
    }
    if (again.st_dev != st.st_dev || again.st_ino != st.st_ino) {
      error = walked + " changed while udpx was checking it; try again";
      return false;
    }
    std::vector<char> buf(max_bytes + 1);
    std::size_t got = 0;
    while (got < buf.size()) {
      const ssize_t n = read(file.get(), buf.data() + got, buf.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error = errnoText(walked, errno);
        return false;
      }
      if (n == 0) break;
      got += static_cast<std::size_t>(n);
    }
    if (got > max_bytes) {
      error = walked + " is more than " + std::to_string(max_bytes) + " bytes, more than a configuration may be";
      return false;
    }
    text.assign(buf.data(), got);
  }
  return true;
}

}  // namespace udpx::privsep
