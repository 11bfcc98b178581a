// The service manager's notification socket: the sd_notify(3) protocol written against the
// datagram socket named in $NOTIFY_SOCKET (a path, or "@name" in the abstract namespace), and
// the watchdog's interval from $WATCHDOG_USEC/$WATCHDOG_PID. No libsystemd: a few lines of
// I/O do not justify its pages in an idle process.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "net/unique_fd.h"

namespace udpx {

class ServiceNotifySocket {
 public:
  // Not connected: every send is a no-op (udpx not started by a service manager).
  ServiceNotifySocket() = default;

  // Connects to `address` ($NOTIFY_SOCKET: "/run/systemd/notify" or "@name"). Connected before
  // any chroot or sandbox, so that sending later needs neither the path nor a new socket (one
  // sendto per message). Empty or null `address`: an inactive socket, no error. Otherwise sets
  // `error` and returns an inactive socket when it cannot connect.
  static ServiceNotifySocket connect(const char* address, std::string& error);

  bool active() const noexcept { return fd_.valid(); }
  const std::string& address() const noexcept { return address_; }

  // Sends one message ("READY=1\nSTATUS=…"), without blocking; false if it could not be sent
  // (the manager is gone or its queue full: the next message will try again).
  bool send(std::string_view message) noexcept;

 private:
  UniqueFd fd_;
  std::string address_;
};

// The watchdog interval systemd asks for (WatchdogSec= sets $WATCHDOG_USEC), when it asks this
// process: $WATCHDOG_PID unset or equal to `self` (as sd_watchdog_enabled(3)). nullopt: no
// watchdog, or a value that is not a positive number.
std::optional<std::chrono::microseconds> watchdogInterval(const char* usec, const char* pid, pid_t self) noexcept;

// "STATUS=" and `text` on one line: newlines and other control characters become spaces (a
// newline would end the assignment, and the rest be read as another one), and at most
// `max_bytes` of text are kept, cut on a UTF-8 character boundary with "…".
std::string statusAssignment(std::string_view text, std::size_t max_bytes = 512);

}  // namespace udpx
