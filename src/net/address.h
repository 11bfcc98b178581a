// Socket addresses (IPv4/IPv6 + port), their text forms, and CIDR prefixes for client ACLs.
//
// The net room (src/net/) owns what udpx knows about sockets whatever flows through them:
// addresses and prefixes (this file), listening UDP sockets with the one wording of bind errors
// (listen_socket.h), and RAII for file descriptors and libevent objects (unique_fd.h,
// event_ptr.h). It knows nothing of the configuration or of protocols; only base/ is below it.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace udpx {

// An IPv4 or IPv6 socket address held by value; cheap to copy and compare.
class SockAddr {
 public:
  SockAddr() noexcept;
  // Copies a kernel-filled address; unknown families yield an empty SockAddr.
  SockAddr(const sockaddr* sa, socklen_t len) noexcept;

  // Parses "1.2.3.4:123" or "[fd00::1]:123" (literal addresses only, port required).
  static std::optional<SockAddr> parse(std::string_view text);
  // Parses a literal IP address without port ("1.2.3.4", "::1", "[::1]") and sets the port.
  static std::optional<SockAddr> parseIp(std::string_view ip, std::uint16_t port);

  bool empty() const noexcept { return len_ == 0; }
  int family() const noexcept { return storage_.sa.sa_family; }
  std::uint16_t port() const noexcept;
  void setPort(std::uint16_t port) noexcept;
  bool isWildcard() const noexcept;  // 0.0.0.0 or ::

  const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* get() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t length() const noexcept { return len_; }
  const sockaddr_in& v4() const noexcept { return *reinterpret_cast<const sockaddr_in*>(&storage_); }
  const sockaddr_in6& v6() const noexcept { return *reinterpret_cast<const sockaddr_in6*>(&storage_); }

  std::string toString() const;    // "1.2.3.4:123" / "[::1]:123"
  std::string ipString() const;    // "1.2.3.4" / "::1"

  std::size_t hash() const noexcept;
  friend bool operator==(const SockAddr& a, const SockAddr& b) noexcept;

 private:
  // NOTE: not sockaddr_storage (128 bytes): only IPv4/IPv6 are ever held, and every session
  // keeps one, so the union of the two (28 bytes) keeps a session small.
  union Storage {
    sockaddr sa;
    sockaddr_in in4;
    sockaddr_in6 in6;
  } storage_;
  socklen_t len_ = 0;
};

// Splits "host:port", "[v6]:port", "host" or "[v6]" into host and optional port.
// Returns false on a malformed form (empty host, bad/out-of-range port, unbalanced brackets);
// `error` then says what is wrong.
bool splitHostPort(std::string_view text, std::string& host, std::optional<std::uint16_t>& port,
                   std::string& error);

// An address prefix such as 192.168.0.0/16 or fd00::/8.
class Cidr {
 public:
  // Parses "a.b.c.d/n", "v6/n", or a bare address (full-length prefix).
  // Host bits set below the prefix are an error ("192.168.1.1/16"); `error` explains.
  static std::optional<Cidr> parse(std::string_view text, std::string& error);

  // True if the address is inside this prefix. IPv4-mapped IPv6 clients are matched
  // against IPv4 prefixes.
  bool contains(const SockAddr& addr) const noexcept;
  int family() const noexcept { return family_; }
  std::string toString() const;

 private:
  int family_ = AF_UNSPEC;
  std::uint8_t bytes_[16] = {};
  std::uint8_t prefix_ = 0;
};

// The default client ACL: loopback, RFC 1918, link-local, CGNAT (100.64/10), ULA and link-local v6.
const std::vector<Cidr>& defaultAllowList();

}  // namespace udpx
