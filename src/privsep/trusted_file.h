// Reading the configuration for a secure start (issue 16): only a file root controls, reached
// only through directories root controls, looked at with the caller's own file-system ids so
// that root's access never answers a question the caller could not ask itself.
// Runs in: the process a user started (setuid root or with file capabilities), before the start.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <string>

namespace udpx::privsep {

// What is wrong with `st`, found at `path`, as part of a trusted path, or "" if nothing. Every
// component must be root-owned and writable by neither its group nor others, and no symbolic
// link; the file itself (`last`) must also be a regular file that every user may read (the
// caller reads it, and its text may then appear in messages). The text names the rule and its
// fix, never the file's content.
std::string untrustedReason(const std::string& path, const struct stat& st, bool last);

// Reads `path` into `text` (at most `max_bytes`) when it and every directory above it pass
// untrustedReason(), walking from "/" one component at a time (O_PATH|O_NOFOLLOW, so no symbolic
// link is followed) with the file-system ids set to `uid`:`gid` (setfsuid/setfsgid; restored
// before returning). `path` must be absolute, without "..". On refusal returns false with
// `error`: one line, the path and why.
bool readTrustedFile(const std::string& path, std::size_t max_bytes, uid_t uid, gid_t gid, std::string& text,
                     std::string& error);

}  // namespace udpx::privsep
