// ProcessStats: the standard process_* metrics (CPU, memory, file descriptors, start time) of
// udpx itself, read at scrape time without opening any file: the files are opened once at
// startup, because privilege separation chroots and sandboxes the process before the loop runs.
#pragma once

#include <optional>
#include <string>

#include "net/unique_fd.h"

namespace udpx {

class ProcessStats {
 public:
  // One reading; a value is absent when the system could not give it (no /proc).
  struct Sample {
    std::optional<double> cpu_seconds;         // user + system time
    std::optional<double> resident_bytes;      // RSS
    std::optional<double> virtual_bytes;       // address space size
    std::optional<double> open_fds;            // entries of /proc/self/fd
    std::optional<double> max_fds;             // RLIMIT_NOFILE soft limit (absent: unlimited)
    std::optional<double> start_time_seconds;  // Unix time the process started
    bool operator==(const Sample&) const = default;
  };

  // Opens /proc/self/statm and /proc/self/fd and works out the start time. Never throws for a
  // missing /proc: problem() then says what is unavailable and how to fix it.
  ProcessStats();

  // Reads the current values: pread, lseek + getdents64, getrusage, getrlimit; no open().
  Sample read() const noexcept;

  const std::string& problem() const noexcept { return problem_; }

 private:
  UniqueFd statm_;   // /proc/self/statm, read with pread at offset 0
  UniqueFd fd_dir_;  // /proc/self/fd, rewound and listed with getdents64
  long page_size_;
  std::optional<double> start_time_;
  std::string problem_;
};

}  // namespace udpx
