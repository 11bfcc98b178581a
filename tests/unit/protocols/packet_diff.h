// Test helper for the protocols' token hooks: which bytes of a datagram a hook changed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace udpx::test {

// The offsets at which `a` and `b` differ (over their common length).
inline std::vector<std::size_t> differingBytes(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
  std::vector<std::size_t> at;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (a[i] != b[i]) at.push_back(i);
  }
  return at;
}

}  // namespace udpx::test
