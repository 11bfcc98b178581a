// fd passing with SCM_RIGHTS and the binder -> worker handover message.
// Runs in: the binder (send) and the worker (receive).
#include "privsep/fdpass.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace udpx::privsep {
namespace {

constexpr std::uint32_t kMagic = 0x55445058;  // "UDPX"
constexpr std::uint32_t kVersion = 2;  // 2: the header carries the uid and gid to drop to

// Fixed-size header in host byte order (both ends are the same binary on the same host).
struct Header {
  std::uint32_t magic;
  std::uint32_t version;
  std::uint32_t fd_count;
  std::uint32_t name_len;
  std::uint32_t text_len;
  std::uint32_t uid;
  std::uint32_t gid;
};

constexpr std::size_t kMaxName = 4096;

constexpr std::uint32_t kLinkMagic = 0x55445052;  // "UDPR"
constexpr std::uint32_t kLinkVersion = 1;

struct LinkHeader {
  std::uint32_t magic;
  std::uint32_t version;
  std::uint32_t kind;
  std::uint32_t id;
  std::uint32_t applied;
  std::uint32_t fd_count;
  std::uint32_t line_count;
  std::uint32_t name_len;
  std::uint32_t text_len;
  std::uint32_t summary_len;
};

// The largest reload message: a header, a name, a config text, a summary line and the lines.
constexpr std::size_t kMaxSummary = 4096;
constexpr std::size_t kMaxLinkMessage = sizeof(LinkHeader) + kMaxName + kMaxConfigText + kMaxSummary + kMaxLinkLines +
                                        64 * sizeof(std::uint32_t) + 64;

void append(std::vector<std::uint8_t>& out, const void* p, std::size_t n) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  out.insert(out.end(), b, b + n);
}

// `lines` cut to kMaxLinkLines bytes in all, the rest counted in a last line.
std::vector<std::string> cutLines(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  std::size_t used = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string line = lines[i].substr(0, kMaxSummary);
    if (used + line.size() + 64 > kMaxLinkLines) {
      out.push_back("… and " + std::to_string(lines.size() - i) + " more");
      break;
    }
    used += line.size() + sizeof(std::uint32_t);
    out.push_back(line);
  }
  return out;
}

}  // namespace

bool sendWithFds(int sock, std::span<const std::uint8_t> data, std::span<const int> fds, std::string& error) {
  if (fds.size() > kMaxFdsPerMessage) {
    error = std::to_string(fds.size()) + " descriptors in one message (the kernel allows " +
            std::to_string(kMaxFdsPerMessage) + ")";
    return false;
  }
  iovec iov{const_cast<std::uint8_t*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::unique_ptr<std::uint8_t[]> control;
  if (!fds.empty()) {
    const std::size_t space = CMSG_SPACE(fds.size() * sizeof(int));
    control = std::make_unique<std::uint8_t[]>(space);
    std::memset(control.get(), 0, space);
    msg.msg_control = control.get();
    msg.msg_controllen = space;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
    std::memcpy(CMSG_DATA(c), fds.data(), fds.size() * sizeof(int));
  }
  ssize_t n;
  do {
    n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    error = std::string("sendmsg: ") + strerror(errno);
    if (errno == EMSGSIZE) error += " — the message is larger than the socket buffer";
    return false;
  }
  if (static_cast<std::size_t>(n) != data.size()) {
    error = "sendmsg sent " + std::to_string(n) + " of " + std::to_string(data.size()) + " bytes";
    return false;
  }
  return true;
}

std::optional<Message> receiveWithFds(int sock, std::size_t max_bytes, std::size_t max_fds, std::string& error) {
  Message m;
  // A message longer than the buffer sets MSG_TRUNC (SEQPACKET keeps message boundaries).
  m.data.resize(max_bytes);
  iovec iov{m.data.data(), m.data.size()};
  const std::size_t space = CMSG_SPACE((max_fds == 0 ? 1 : max_fds) * sizeof(int));
  auto control = std::make_unique<std::uint8_t[]>(space);
  std::memset(control.get(), 0, space);
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.get();
  msg.msg_controllen = space;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    error = std::string("recvmsg: ") + strerror(errno);
    return std::nullopt;
  }
  // Take ownership of every descriptor that arrived first, so each error path closes them.
  bool foreign = false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
      foreign = true;
      continue;
    }
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      m.fds.emplace_back(fd);
    }
  }
  if (n == 0 && m.fds.empty()) {
    error = "the sender closed the socket before sending";
    return std::nullopt;
  }
  if (msg.msg_flags & MSG_TRUNC) {
    error = "message truncated: longer than " + std::to_string(max_bytes) + " bytes";
    return std::nullopt;
  }
  if (msg.msg_flags & MSG_CTRUNC) {
    error = "descriptors truncated: more than " + std::to_string(max_fds) + " were sent";
    return std::nullopt;
  }
  if (foreign) {
    error = "unexpected control message (only SCM_RIGHTS is accepted)";
    return std::nullopt;
  }
  if (m.fds.size() > max_fds) {
    error = std::to_string(m.fds.size()) + " descriptors received, at most " + std::to_string(max_fds) + " allowed";
    return std::nullopt;
  }
  m.data.resize(static_cast<std::size_t>(n));
  return m;
}

bool handoverFits(std::size_t text_bytes, std::size_t fd_count, std::string& error) {
  if (text_bytes > kMaxConfigText) {
    error = "the configuration is " + std::to_string(text_bytes) + " bytes; at most " +
            std::to_string(kMaxConfigText) + " can be handed to the worker — shorten it";
    return false;
  }
  if (fd_count > kMaxFdsPerMessage) {
    error = std::to_string(fd_count) + " listen addresses; at most " + std::to_string(kMaxFdsPerMessage) +
            " sockets can be handed to the worker — use wildcard addresses (0.0.0.0:PORT, [::]:PORT)";
    return false;
  }
  return true;
}

bool sendHandover(int sock, const std::string& name, const std::string& text, uid_t uid, gid_t gid,
                  std::span<const int> fds, std::string& error) {
  if (!handoverFits(text.size(), fds.size(), error)) return false;
  const std::string n = name.substr(0, kMaxName);
  Header h{kMagic, kVersion, static_cast<std::uint32_t>(fds.size()), static_cast<std::uint32_t>(n.size()),
           static_cast<std::uint32_t>(text.size()), static_cast<std::uint32_t>(uid), static_cast<std::uint32_t>(gid)};
  std::vector<std::uint8_t> data(sizeof h + n.size() + text.size());
  std::memcpy(data.data(), &h, sizeof h);
  std::memcpy(data.data() + sizeof h, n.data(), n.size());
  std::memcpy(data.data() + sizeof h + n.size(), text.data(), text.size());
  return sendWithFds(sock, data, fds, error);
}

std::optional<Handover> receiveHandover(int sock, std::string& error) {
  auto m = receiveWithFds(sock, sizeof(Header) + kMaxName + kMaxConfigText, kMaxFdsPerMessage, error);
  if (!m) return std::nullopt;
  return parseHandover(*m, error);
}

std::optional<Handover> parseHandover(Message& m, std::string& error) {
  Header h{};
  if (m.data.size() < sizeof h) {
    error = "handover message too short (" + std::to_string(m.data.size()) + " bytes)";
    return std::nullopt;
  }
  std::memcpy(&h, m.data.data(), sizeof h);
  if (h.magic != kMagic || h.version != kVersion) {
    error = "handover message has a wrong magic or version (binder and worker binaries differ?)";
    return std::nullopt;
  }
  if (h.name_len > kMaxName || h.text_len > kMaxConfigText ||
      m.data.size() != sizeof h + std::size_t{h.name_len} + h.text_len) {
    error = "handover message length " + std::to_string(m.data.size()) + " does not match its header";
    return std::nullopt;
  }
  if (m.fds.size() != h.fd_count) {
    error = "handover announced " + std::to_string(h.fd_count) + " sockets but carried " +
            std::to_string(m.fds.size());
    return std::nullopt;
  }
  Handover out;
  const char* p = reinterpret_cast<const char*>(m.data.data()) + sizeof h;
  out.config_name.assign(p, h.name_len);
  out.config_text.assign(p + h.name_len, h.text_len);
  out.listeners = std::move(m.fds);
  out.uid = static_cast<uid_t>(h.uid);
  out.gid = static_cast<gid_t>(h.gid);
  return out;
}

bool sendLinkMessage(int sock, const LinkMessage& m, std::span<const int> fds, std::string& error) {
  if (!handoverFits(m.text.size(), fds.size(), error)) return false;
  const std::string name = m.name.substr(0, kMaxName);
  const std::string summary = m.summary.substr(0, kMaxSummary);
  const std::vector<std::string> lines = cutLines(m.lines);
  LinkHeader h{kLinkMagic,
               kLinkVersion,
               static_cast<std::uint32_t>(m.kind),
               m.id,
               m.applied ? 1u : 0u,
               static_cast<std::uint32_t>(fds.size()),
               static_cast<std::uint32_t>(lines.size()),
               static_cast<std::uint32_t>(name.size()),
               static_cast<std::uint32_t>(m.text.size()),
               static_cast<std::uint32_t>(summary.size())};
  std::vector<std::uint8_t> data;
  data.reserve(sizeof h + name.size() + m.text.size() + summary.size() + kMaxLinkLines);
  append(data, &h, sizeof h);
  append(data, name.data(), name.size());
  append(data, m.text.data(), m.text.size());
  append(data, summary.data(), summary.size());
  for (const std::string& line : lines) {
    const auto len = static_cast<std::uint32_t>(line.size());
    append(data, &len, sizeof len);
    append(data, line.data(), line.size());
  }
  return sendWithFds(sock, data, fds, error);
}

std::optional<LinkMessage> receiveLinkMessage(int sock, std::string& error) {
  auto m = receiveWithFds(sock, kMaxLinkMessage, kMaxFdsPerMessage, error);
  if (!m) return std::nullopt;
  return parseLinkMessage(*m, error);
}

std::optional<LinkMessage> parseLinkMessage(Message& m, std::string& error) {
  LinkHeader h{};
  if (m.data.size() < sizeof h) {
    error = "reload message too short (" + std::to_string(m.data.size()) + " bytes)";
    return std::nullopt;
  }
  std::memcpy(&h, m.data.data(), sizeof h);
  if (h.magic != kLinkMagic || h.version != kLinkVersion) {
    error = "reload message has a wrong magic or version (binder and worker binaries differ?)";
    return std::nullopt;
  }
  if (h.kind < static_cast<std::uint32_t>(LinkKind::Ask) || h.kind > static_cast<std::uint32_t>(LinkKind::Done) ||
      h.applied > 1) {
    error = "reload message of unknown kind " + std::to_string(h.kind);
    return std::nullopt;
  }
  if (m.fds.size() != h.fd_count || (h.kind != static_cast<std::uint32_t>(LinkKind::Order) && h.fd_count != 0)) {
    error = "reload message announced " + std::to_string(h.fd_count) + " sockets but carried " +
            std::to_string(m.fds.size());
    return std::nullopt;
  }
  if (h.name_len > kMaxName || h.text_len > kMaxConfigText || h.summary_len > kMaxSummary) {
    error = "reload message length fields out of range";
    return std::nullopt;
  }
  const std::uint8_t* p = m.data.data() + sizeof h;
  std::size_t left = m.data.size() - sizeof h;
  auto take = [&](std::size_t n, std::string& out) {
    if (n > left) return false;
    out.assign(reinterpret_cast<const char*>(p), n);
    p += n;
    left -= n;
    return true;
  };
  LinkMessage out;
  out.kind = static_cast<LinkKind>(h.kind);
  out.id = h.id;
  out.applied = h.applied == 1;
  bool ok = take(h.name_len, out.name) && take(h.text_len, out.text) && take(h.summary_len, out.summary);
  for (std::uint32_t i = 0; ok && i < h.line_count; ++i) {
    std::uint32_t len = 0;
    std::string raw;
    ok = take(sizeof len, raw);
    if (!ok) break;
    std::memcpy(&len, raw.data(), sizeof len);
    std::string line;
    ok = len <= kMaxSummary && take(len, line);
    if (ok) out.lines.push_back(std::move(line));
  }
  if (!ok || left != 0) {
    error = "reload message length " + std::to_string(m.data.size()) + " does not match its header";
    return std::nullopt;
  }
  out.fds = std::move(m.fds);
  return out;
}

}  // namespace udpx::privsep
