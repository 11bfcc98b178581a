// FastRandom: unpredictable 64-bit numbers for the data path (DNS query IDs and NTP cookies on
// shared upstream sockets, hash seeds): ChaCha20 (RFC 8439) in counter mode, keyed from getrandom.
#pragma once

#include <sys/random.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace udpx {

// One ChaCha20 block (RFC 8439 2.3): 16 little-endian words from a 256-bit key, a 32-bit block
// counter and a 96-bit nonce.
inline void chacha20Block(const std::array<std::uint32_t, 8>& key, std::uint32_t counter,
                          const std::array<std::uint32_t, 3>& nonce, std::array<std::uint32_t, 16>& out) noexcept {
  std::array<std::uint32_t, 16> s{0x61707865, 0x3320646e, 0x79622d32, 0x6b206574};
  for (std::size_t i = 0; i < 8; ++i) s[4 + i] = key[i];
  s[12] = counter;
  for (std::size_t i = 0; i < 3; ++i) s[13 + i] = nonce[i];
  std::array<std::uint32_t, 16> x = s;
  const auto rotl = [](std::uint32_t v, int n) { return (v << n) | (v >> (32 - n)); };
  const auto quarter = [&](std::size_t a, std::size_t b, std::size_t c, std::size_t d) {
    x[a] += x[b]; x[d] = rotl(x[d] ^ x[a], 16);
    x[c] += x[d]; x[b] = rotl(x[b] ^ x[c], 12);
    x[a] += x[b]; x[d] = rotl(x[d] ^ x[a], 8);
    x[c] += x[d]; x[b] = rotl(x[b] ^ x[c], 7);
  };
  for (int round = 0; round < 10; ++round) {
    quarter(0, 4, 8, 12); quarter(1, 5, 9, 13); quarter(2, 6, 10, 14); quarter(3, 7, 11, 15);
    quarter(0, 5, 10, 15); quarter(1, 6, 11, 12); quarter(2, 7, 8, 13); quarter(3, 4, 9, 14);
  }
  for (std::size_t i = 0; i < 16; ++i) out[i] = x[i] + s[i];
}

// A keystream generator: one block gives eight 64-bit numbers, so a number costs a few
// nanoseconds. Not for long-term keys; for identities an off-path attacker must not guess.
// The key is re-drawn from getrandom every 2^32 blocks (the counter's range).
class FastRandom {
 public:
  // Keyed from getrandom (throws if the kernel cannot give entropy: start-up only).
  FastRandom() { reseed(); }
  // Keyed by the caller (tests: a fixed key gives a known stream).
  FastRandom(const std::array<std::uint32_t, 8>& key, const std::array<std::uint32_t, 3>& nonce) noexcept
      : key_(key), nonce_(nonce) {}

  std::uint64_t next() noexcept {
    if (used_ == 8) refill();
    const std::uint64_t v = std::uint64_t{block_[2 * used_]} | (std::uint64_t{block_[2 * used_ + 1]} << 32);
    ++used_;
    return v;
  }
  std::uint64_t operator()() noexcept { return next(); }

 private:
  void reseed() {
    std::uint8_t bytes[sizeof key_ + sizeof nonce_];
    std::size_t got = 0;
    while (got < sizeof bytes) {
      const ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
      if (n <= 0) throw std::runtime_error("getrandom failed: cannot seed the random generator");
      got += static_cast<std::size_t>(n);
    }
    std::memcpy(key_.data(), bytes, sizeof key_);
    std::memcpy(nonce_.data(), bytes + sizeof key_, sizeof nonce_);
    counter_ = 0;
  }
  void refill() noexcept {
    chacha20Block(key_, counter_, nonce_, block_);
    ++counter_;
    // NOTE: a wrapped counter would repeat the stream; a new nonce from the old keystream
    // keeps it fresh without a system call on the data path.
    if (counter_ == 0) {
      nonce_[0] ^= block_[0];
      nonce_[1] ^= block_[1];
      nonce_[2] ^= block_[2];
      chacha20Block(key_, counter_++, nonce_, block_);
    }
    used_ = 0;
  }

  std::array<std::uint32_t, 8> key_{};
  std::array<std::uint32_t, 3> nonce_{};
  std::uint32_t counter_ = 0;
  std::array<std::uint32_t, 16> block_{};
  std::size_t used_ = 8;
};

}  // namespace udpx
