// FastRandom: the ChaCha20 block function against RFC 8439's test vector, and a keyed stream
// that is what the block function gives.
#include "base/fast_random.h"

#include <gtest/gtest.h>

#include <set>

namespace udpx {
namespace {

// RFC 8439 2.3.2: key 00:01:..:1f, nonce 00:00:00:09:00:00:00:4a:00:00:00:00, block counter 1.
const std::array<std::uint32_t, 8> kKey{0x03020100, 0x07060504, 0x0b0a0908, 0x0f0e0d0c,
                                        0x13121110, 0x17161514, 0x1b1a1918, 0x1f1e1d1c};
const std::array<std::uint32_t, 3> kNonce{0x09000000, 0x4a000000, 0x00000000};

TEST(FastRandom, BlockFunctionMatchesTheRfc8439TestVector) {
  std::array<std::uint32_t, 16> out{};
  chacha20Block(kKey, 1, kNonce, out);
  const std::array<std::uint32_t, 16> expected{0xe4e7f110, 0x15593bd1, 0x1fdd0f50, 0xc47120a3, 0xc7f4d1c7, 0x0368c033,
                                               0x9aaa2204, 0x4e6cd4c3, 0x466482d2, 0x09aa9f07, 0x05d7c214, 0xa2028bd9,
                                               0xd19c12b5, 0xb94e16de, 0xe883d0cb, 0x4e3c50a2};
  EXPECT_EQ(out, expected);
}

TEST(FastRandom, AKeyedStreamIsTheBlocksInOrder) {
  FastRandom r(kKey, kNonce);
  std::array<std::uint32_t, 16> b0{}, b1{};
  chacha20Block(kKey, 0, kNonce, b0);
  chacha20Block(kKey, 1, kNonce, b1);
  for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(r.next(), std::uint64_t{b0[2 * i]} | std::uint64_t{b0[2 * i + 1]} << 32);
  for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(r.next(), std::uint64_t{b1[2 * i]} | std::uint64_t{b1[2 * i + 1]} << 32);
}

TEST(FastRandom, TwoSeededGeneratorsDiffer) {
  FastRandom a, b;
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    seen.insert(a.next());
    seen.insert(b.next());
  }
  EXPECT_EQ(seen.size(), 2000u);
}

}  // namespace
}  // namespace udpx
