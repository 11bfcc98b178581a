// prepareRuntimeDir: mkdir, then owner and mode, never through a symbolic link.
#include "privsep/runtime_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "net/unique_fd.h"
#include "status/status_socket.h"

namespace udpx::privsep {

void prepareRuntimeDir(const Identity& owner) {
  if (::mkdir(kRuntimeDir, 0755) != 0 && errno != EEXIST) {
    LOG_WARN("cannot create %s: %s — the status socket falls back to an abstract name, which another local "
             "user could take first", kRuntimeDir, strerror(errno));
    return;
  }
  UniqueFd dir(::open(kRuntimeDir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.valid() || ::fchown(dir.get(), owner.uid, owner.gid) != 0 || ::fchmod(dir.get(), 0755) != 0) {
    LOG_WARN("cannot give %s to %s (uid %u): %s — the status socket may fall back to an abstract name",
             kRuntimeDir, owner.user.c_str(), static_cast<unsigned>(owner.uid), strerror(errno));
  }
}

}  // namespace udpx::privsep
