// File descriptor passing over a SOCK_SEQPACKET unix socket, the handover the binder sends the
// worker at start (the config text it parsed plus the listening sockets it opened), and the
// reload messages the two exchange on the same socket afterwards (issue 12).
// Runs in: the binder (send) and the worker (receive).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "net/unique_fd.h"

namespace udpx::privsep {

// SCM_MAX_FD: the kernel refuses more descriptors in one message.
constexpr std::size_t kMaxFdsPerMessage = 253;
// Largest config text handed over; a SEQPACKET message must fit the socket buffer whole.
constexpr std::size_t kMaxConfigText = 128 * 1024;

// Sends `data` and `fds` as one message. Returns false with `error` set on failure.
bool sendWithFds(int sock, std::span<const std::uint8_t> data, std::span<const int> fds, std::string& error);

struct Message {
  std::vector<std::uint8_t> data;
  std::vector<UniqueFd> fds;  // close-on-exec (MSG_CMSG_CLOEXEC)
};

// Receives one message of at most `max_bytes` bytes and `max_fds` descriptors. A longer message
// (MSG_TRUNC), more descriptors (MSG_CTRUNC), or any control message other than SCM_RIGHTS is an
// error; every descriptor that did arrive is closed then. End of file is an error too.
std::optional<Message> receiveWithFds(int sock, std::size_t max_bytes, std::size_t max_fds, std::string& error);

// The handover: the config exactly as the binder parsed it, one socket per listen address, and
// the account the binder resolved for the worker to drop to. The worker takes the numbers as
// they are and never reads the user database: no NSS module is loaded into it.
struct Handover {
  std::string config_name;  // the file name, for messages
  std::string config_text;
  std::vector<UniqueFd> listeners;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Whether a handover of this size can be sent; `error` says why not and what to change.
bool handoverFits(std::size_t text_bytes, std::size_t fd_count, std::string& error);
// Binder side. Checks the limits above before sending.
bool sendHandover(int sock, const std::string& name, const std::string& text, uid_t uid, gid_t gid,
                  std::span<const int> fds, std::string& error);
// Worker side: one message whose header announces exactly the descriptor count and lengths that
// arrived; anything else is an error.
std::optional<Handover> receiveHandover(int sock, std::string& error);
// The checks receiveHandover makes of a message that arrived (tests/fuzz/handover_fuzz.cpp calls
// it directly): on success the descriptors move into the Handover.
std::optional<Handover> parseHandover(Message& m, std::string& error);

// Reload messages, on the same socketpair after the handover. A reload is asked by either side
// and always carried out in this order:
//   worker -> binder  Ask    SIGHUP or `udpx reload` reached the worker (`id` names the ask)
//   binder -> worker  Order  the binder read the file: its name and text, the sockets it bound for
//                            the new listen addresses, and what went wrong before the worker's
//                            turn (`lines`: the file cannot be read, an address cannot be bound);
//                            `id`: the Ask it answers, 0 when SIGHUP reached the binder
//   worker -> binder  Done   the worker's Runtime::reload answered: `applied`, `summary`, the
//                            errors in `lines`; `id` as in the Order
// One reload is in flight at a time: the binder sends the next Order after the Done.
enum class LinkKind : std::uint32_t { Ask = 1, Order = 2, Done = 3 };

struct LinkMessage {
  LinkKind kind = LinkKind::Ask;
  std::uint32_t id = 0;
  bool applied = false;             // Done
  std::string name, text;           // Order
  std::string summary;              // Done
  std::vector<std::string> lines;   // Order: transport errors; Done: the reload's errors
  std::vector<UniqueFd> fds;        // Order: new listening sockets (received ones)
};

// The error lines of one message, together, are cut to this many bytes (the rest is counted in
// a last line "… and N more"), so a Done or an Order always fits the socket buffer.
constexpr std::size_t kMaxLinkLines = 32 * 1024;

// Sends `m` with `fds` (an Order's new sockets; the message's own `fds` are ignored). Checks the
// limits (kMaxConfigText, kMaxFdsPerMessage) and cuts `lines` to kMaxLinkLines.
bool sendLinkMessage(int sock, const LinkMessage& m, std::span<const int> fds, std::string& error);
// Receives one reload message; its kind, counts and lengths must be exactly as announced.
std::optional<LinkMessage> receiveLinkMessage(int sock, std::string& error);
// The checks receiveLinkMessage makes of a message that arrived (tests/fuzz/link_fuzz.cpp).
std::optional<LinkMessage> parseLinkMessage(Message& m, std::string& error);

}  // namespace udpx::privsep
