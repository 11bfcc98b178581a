// Private to src/protocols/: reading and writing the big-endian fields of packet headers.
// Nothing outside this directory includes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace udpx::wire {

// Callers check the span's size first; these never look past `at + size` (size at most 8).
inline std::uint64_t readBe(std::span<const std::uint8_t> pkt, std::size_t at, std::size_t size) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < size; ++i) v = (v << 8) | pkt[at + i];
  return v;
}

// Writes the low `size` bytes of `v`.
inline void writeBe(std::span<std::uint8_t> pkt, std::size_t at, std::size_t size, std::uint64_t v) noexcept {
  for (std::size_t i = 0; i < size; ++i) pkt[at + i] = static_cast<std::uint8_t>(v >> (8 * (size - 1 - i)));
}

}  // namespace udpx::wire
