// SockAddr text forms, hashing and comparison; host:port splitting; CIDR prefixes and the
// default client ACL.
#include "net/address.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <algorithm>
#include <cstring>

namespace udpx {
namespace {

// Parses a decimal number made only of digits (no sign, no spaces) up to `max`.
std::optional<std::uint32_t> parseDecimal(std::string_view text, std::uint32_t max) {
  if (text.empty() || text.size() > 10) return std::nullopt;
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  for (const char c : text) value = value * 10 + static_cast<std::uint64_t>(c - '0');
  if (value > max) return std::nullopt;
  return static_cast<std::uint32_t>(value);
}

// A 64-bit finalizer (from MurmurHash3): spreads every input bit over the output, so
// addresses that differ only in their low bytes still land in different buckets.
constexpr std::uint64_t mix(std::uint64_t h) noexcept {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

bool isV4Mapped(const in6_addr& a) noexcept {
  static constexpr std::uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(a.s6_addr, kMappedPrefix, sizeof(kMappedPrefix)) == 0;
}

// True if the first `prefix` bits of a and b are equal.
bool prefixEquals(const std::uint8_t* a, const std::uint8_t* b, unsigned prefix) noexcept {
  const unsigned whole = prefix / 8;
  if (std::memcmp(a, b, whole) != 0) return false;
  const unsigned rest = prefix % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

SockAddr::SockAddr() noexcept : storage_{} {}

SockAddr::SockAddr(const sockaddr* sa, socklen_t len) noexcept : storage_{} {
  if (sa == nullptr) return;
  if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    std::memcpy(&storage_, sa, sizeof(sockaddr_in));
    len_ = sizeof(sockaddr_in);
  } else if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    std::memcpy(&storage_, sa, sizeof(sockaddr_in6));
    len_ = sizeof(sockaddr_in6);
  }
}

std::optional<SockAddr> SockAddr::parse(std::string_view text) {
  std::string host;
  std::optional<std::uint16_t> port;
  std::string error;
  if (!splitHostPort(text, host, port, error) || !port) return std::nullopt;
  // splitHostPort strips the brackets; a bare IPv6 host here means the caller wrote
  // "[v6]:port", which is what we want. A v4 in brackets is refused by splitHostPort.
  return parseIp(host, *port);
}

std::optional<SockAddr> SockAddr::parseIp(std::string_view ip, std::uint16_t port) {
  if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  if (ip.empty() || ip.size() >= 64) return std::nullopt;

  SockAddr out;
  const std::string text(ip);
  // inet_pton, not getaddrinfo: glibc's numeric getaddrinfo accepts inet_aton forms such as
  // "127.1" or "0x7f000001", which are surprising in a config file.
  if (text.find(':') == std::string::npos) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    if (inet_pton(AF_INET, text.c_str(), &sin.sin_addr) != 1) return std::nullopt;
    sin.sin_port = htons(port);
    std::memcpy(&out.storage_, &sin, sizeof(sin));
    out.len_ = sizeof(sin);
    return out;
  }

  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  std::string addr = text;
  const auto percent = text.find('%');
  if (percent != std::string::npos) {
    // A zone ("fe80::1%eth0" or "%2") is needed to reach a link-local server.
    addr = text.substr(0, percent);
    const std::string zone = text.substr(percent + 1);
    if (zone.empty()) return std::nullopt;
    if (auto index = parseDecimal(zone, UINT32_MAX)) {
      sin6.sin6_scope_id = *index;
    } else {
      sin6.sin6_scope_id = if_nametoindex(zone.c_str());
      if (sin6.sin6_scope_id == 0) return std::nullopt;
    }
  }
  if (inet_pton(AF_INET6, addr.c_str(), &sin6.sin6_addr) != 1) return std::nullopt;
  sin6.sin6_port = htons(port);
  std::memcpy(&out.storage_, &sin6, sizeof(sin6));
  out.len_ = sizeof(sin6);
  return out;
}

std::uint16_t SockAddr::port() const noexcept {
  if (len_ == 0) return 0;
  return ntohs(family() == AF_INET ? v4().sin_port : v6().sin6_port);
}

void SockAddr::setPort(std::uint16_t port) noexcept {
  if (family() == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&storage_)->sin_port = htons(port);
  } else if (family() == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&storage_)->sin6_port = htons(port);
  }
}

bool SockAddr::isWildcard() const noexcept {
  if (len_ == 0) return false;
  if (family() == AF_INET) return v4().sin_addr.s_addr == htonl(INADDR_ANY);
  return IN6_IS_ADDR_UNSPECIFIED(&v6().sin6_addr);
}

std::string SockAddr::ipString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &v4().sin_addr, buf, sizeof(buf));
    return buf;
  }
  if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &v6().sin6_addr, buf, sizeof(buf));
    std::string out = buf;
    // Numeric zone: stable in messages and metrics, and needs no interface lookup.
    if (v6().sin6_scope_id != 0) out += "%" + std::to_string(v6().sin6_scope_id);
    return out;
  }
  return "(none)";
}

std::string SockAddr::toString() const {
  if (family() == AF_INET) return ipString() + ":" + std::to_string(port());
  if (family() == AF_INET6) return "[" + ipString() + "]:" + std::to_string(port());
  return "(none)";
}

// Only family, port, address (and the v6 zone) count: the kernel may leave different bytes
// in sin_zero or sin6_flowinfo for the same peer, and this runs for every datagram.
std::size_t SockAddr::hash() const noexcept {
  if (family() == AF_INET) {
    const std::uint64_t key = (std::uint64_t{v4().sin_addr.s_addr} << 16) | v4().sin_port;
    return static_cast<std::size_t>(mix(key ^ (std::uint64_t{AF_INET} << 48)));
  }
  if (family() == AF_INET6) {
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;
    std::memcpy(&hi, v6().sin6_addr.s6_addr, 8);
    std::memcpy(&lo, v6().sin6_addr.s6_addr + 8, 8);
    const std::uint64_t extra = (std::uint64_t{v6().sin6_scope_id} << 16) | v6().sin6_port;
    return static_cast<std::size_t>(mix(hi ^ mix(lo ^ mix(extra))));
  }
  return 0;
}

bool operator==(const SockAddr& a, const SockAddr& b) noexcept {
  if (a.family() != b.family() || a.len_ != b.len_) return false;
  if (a.len_ == 0) return true;
  if (a.family() == AF_INET) {
    return a.v4().sin_port == b.v4().sin_port && a.v4().sin_addr.s_addr == b.v4().sin_addr.s_addr;
  }
  return a.v6().sin6_port == b.v6().sin6_port && a.v6().sin6_scope_id == b.v6().sin6_scope_id &&
         std::memcmp(&a.v6().sin6_addr, &b.v6().sin6_addr, sizeof(in6_addr)) == 0;
}

bool splitHostPort(std::string_view text, std::string& host, std::optional<std::uint16_t>& port,
                   std::string& error) {
  host.clear();
  port.reset();
  std::string_view hostPart;
  std::string_view portPart;
  bool hasPort = false;

  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      error = "missing ']' after the IPv6 address";
      return false;
    }
    hostPart = text.substr(1, close - 1);
    if (hostPart.empty()) {
      error = "the IPv6 address between '[' and ']' is empty";
      return false;
    }
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        error = "unexpected text after ']'; write [IPv6]:PORT";
        return false;
      }
      hasPort = true;
      portPart = rest.substr(1);
    }
    if (hostPart.find(':') == std::string_view::npos) {
      error = "brackets are only for IPv6 addresses";
      return false;
    }
  } else {
    if (text.find(']') != std::string_view::npos) {
      error = "']' without a matching '['";
      return false;
    }
    const auto colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
      // "fd00::1:123" could be an address with a port or an address alone: never guess.
      error = "an IPv6 address must be written in brackets: [fd00::1] or [fd00::1]:123";
      return false;
    }
    hostPart = text.substr(0, colon);
    if (colon != std::string_view::npos) {
      hasPort = true;
      portPart = text.substr(colon + 1);
    }
  }

  if (hostPart.empty()) {
    error = "the host is empty";
    return false;
  }
  if (hasPort) {
    if (portPart.empty()) {
      error = "the port after ':' is empty";
      return false;
    }
    const bool digits = std::all_of(portPart.begin(), portPart.end(),
                                    [](char c) { return c >= '0' && c <= '9'; });
    if (!digits) {
      error = "port \"" + std::string(portPart) + "\" is not a number";
      return false;
    }
    const auto value = parseDecimal(portPart, 65535);
    if (!value || *value == 0) {
      error = "port " + std::string(portPart) + " is out of range 1..65535";
      return false;
    }
    port = static_cast<std::uint16_t>(*value);
  }
  host.assign(hostPart);
  return true;
}

std::optional<Cidr> Cidr::parse(std::string_view text, std::string& error) {
  std::string_view addrPart = text;
  std::optional<std::uint32_t> prefix;
  const auto slash = text.find('/');
  if (slash != std::string_view::npos) {
    addrPart = text.substr(0, slash);
    const std::string_view prefixPart = text.substr(slash + 1);
    prefix = parseDecimal(prefixPart, UINT32_MAX);
    if (!prefix) {
      error = "prefix length \"" + std::string(prefixPart) + "\" is not a number";
      return std::nullopt;
    }
  }
  if (addrPart.empty()) {
    error = "the address before '/' is empty";
    return std::nullopt;
  }

  Cidr out;
  const std::string addr(addrPart);
  if (inet_pton(AF_INET, addr.c_str(), out.bytes_) == 1) {
    out.family_ = AF_INET;
  } else if (inet_pton(AF_INET6, addr.c_str(), out.bytes_) == 1) {
    out.family_ = AF_INET6;
  } else {
    error = "\"" + addr + "\" is not an IPv4 or IPv6 address";
    return std::nullopt;
  }
  const unsigned maxPrefix = out.family_ == AF_INET ? 32 : 128;
  if (prefix && *prefix > maxPrefix) {
    error = "prefix length /" + std::to_string(*prefix) + " is out of range for " +
            (out.family_ == AF_INET ? "IPv4, which allows /0../32" : "IPv6, which allows /0../128");
    return std::nullopt;
  }
  out.prefix_ = static_cast<std::uint8_t>(prefix.value_or(maxPrefix));

  // "192.168.1.1/16" is usually a typo for a /24 or for the network address; refusing it
  // beats silently widening or narrowing an ACL.
  Cidr network = out;
  const unsigned bytes = maxPrefix / 8;
  for (unsigned i = 0; i < bytes; ++i) {
    const unsigned bitStart = i * 8;
    if (bitStart >= out.prefix_) {
      network.bytes_[i] = 0;
    } else if (out.prefix_ - bitStart < 8) {
      const auto mask = static_cast<std::uint8_t>(0xff << (8 - (out.prefix_ - bitStart)));
      network.bytes_[i] = static_cast<std::uint8_t>(network.bytes_[i] & mask);
    }
  }
  if (std::memcmp(network.bytes_, out.bytes_, bytes) != 0) {
    error = "host bits are set below the /" + std::to_string(out.prefix_) +
            " prefix; did you mean " + network.toString() + "?";
    return std::nullopt;
  }
  return out;
}

bool Cidr::contains(const SockAddr& addr) const noexcept {
  if (family_ == AF_INET) {
    if (addr.family() == AF_INET) {
      return prefixEquals(bytes_, reinterpret_cast<const std::uint8_t*>(&addr.v4().sin_addr),
                          prefix_);
    }
    // A dual-stack socket sees IPv4 clients as ::ffff:a.b.c.d; they must meet the v4 rules.
    if (addr.family() == AF_INET6 && isV4Mapped(addr.v6().sin6_addr)) {
      return prefixEquals(bytes_, addr.v6().sin6_addr.s6_addr + 12, prefix_);
    }
    return false;
  }
  if (family_ == AF_INET6 && addr.family() == AF_INET6) {
    return prefixEquals(bytes_, addr.v6().sin6_addr.s6_addr, prefix_);
  }
  return false;
}

std::string Cidr::toString() const {
  if (family_ == AF_UNSPEC) return "(none)";
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family_, bytes_, buf, sizeof(buf));
  return std::string(buf) + "/" + std::to_string(prefix_);
}

const std::vector<Cidr>& defaultAllowList() {
  static const std::vector<Cidr> kList = [] {
    std::vector<Cidr> list;
    for (const char* text : {"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                             "169.254.0.0/16", "100.64.0.0/10", "::1/128", "fc00::/7",
                             "fe80::/10"}) {
      std::string error;
      list.push_back(*Cidr::parse(text, error));  // constants: cannot fail
    }
    return list;
  }();
  return kList;
}

}  // namespace udpx
