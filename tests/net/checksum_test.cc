// The fast checksum helpers against the obvious RFC 1071 loop, and the RFC 1624 incremental
// updates against full recomputation, on random data.

#include "dataplane/net/checksum.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace dmrswitch::net {
namespace {

using proto::LoadBe32;
using proto::StoreBe32;

// Big-endian 16-bit words, 32-bit accumulator, carries folded at the end.
uint16_t RefSum(const uint8_t* d, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i < n; i += 2) {
    s += static_cast<uint32_t>(d[i]) << 8;
    if (i + 1 < n) s += d[i + 1];
  }
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}
uint16_t RefChecksum(const std::vector<uint8_t>& d) {
  return static_cast<uint16_t>(~RefSum(d.data(), d.size()));
}

std::vector<uint8_t> Random(std::mt19937& rng, size_t n) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

TEST(Checksum, Rfc1071Example) {
  // RFC 1071 §3's worked example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
  const std::vector<uint8_t> d = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(ChecksumPartial(d), 0xddf2);
  EXPECT_EQ(InternetChecksum(d), 0x220d);
}

TEST(Checksum, PartialMatchesReferenceAllLengthsAndAlignments) {
  std::mt19937 rng(1);
  for (size_t len = 0; len < 300; ++len) {
    for (size_t align = 0; align < 4; ++align) {
      std::vector<uint8_t> buf = Random(rng, len + align);
      ASSERT_EQ(ChecksumPartial(buf.data() + align, len), RefSum(buf.data() + align, len))
          << len << " " << align;
    }
  }
  // All ones and all zeros.
  std::vector<uint8_t> ones(1500, 0xff);
  EXPECT_EQ(ChecksumPartial(ones), RefSum(ones.data(), ones.size()));
  std::vector<uint8_t> zeros(77, 0);
  EXPECT_EQ(ChecksumPartial(zeros), 0);
  EXPECT_EQ(InternetChecksum(zeros), 0xffff);
}

TEST(Checksum, LargeBufferDoesNotOverflow) {
  std::vector<uint8_t> big(65535, 0xff);
  EXPECT_EQ(ChecksumPartial(big), RefSum(big.data(), big.size()));
}

TEST(Checksum, Ipv4HeaderHelpers) {
  std::mt19937 rng(2);
  for (int i = 0; i < 2000; ++i) {
    const size_t ihl = 20 + 4 * (rng() % 11);
    std::vector<uint8_t> h = Random(rng, ihl);
    // Whatever the field holds, the helper computes as if it were zero.
    std::vector<uint8_t> zeroed = h;
    zeroed[10] = zeroed[11] = 0;
    const uint16_t want = RefChecksum(zeroed);
    ASSERT_EQ(Ipv4HeaderChecksum(h.data(), ihl), want);
    StoreBe16(h.data() + 10, want);
    EXPECT_TRUE(Ipv4HeaderChecksumOk(h.data(), ihl));
    h[rng() % ihl] ^= static_cast<uint8_t>(1u << (rng() % 8));
    EXPECT_FALSE(Ipv4HeaderChecksumOk(h.data(), ihl));
  }
}

// The 20-byte header has its own fixed-load path: it must agree with the general sum on every
// header, valid or not (all-zero and all-ones headers included).
TEST(Checksum, Ipv4HeaderChecksumOkWithoutOptionsAgreesWithTheGeneralSum) {
  std::mt19937 rng(5);
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> h = Random(rng, 20);
    if (i % 3 == 0) StoreBe16(h.data() + 10, Ipv4HeaderChecksum(h.data(), 20));
    if (i == 1) std::fill(h.begin(), h.end(), 0);
    if (i == 2) std::fill(h.begin(), h.end(), 0xff);
    ASSERT_EQ(Ipv4HeaderChecksumOk(h.data(), 20), ChecksumPartial(h.data(), 20) == 0xffff) << i;
    if (i % 3 == 0 && i > 2) {
      ASSERT_TRUE(Ipv4HeaderChecksumOk(h.data(), 20));
    }
  }
}

TEST(Checksum, Update16EqualsFullRecompute) {
  std::mt19937 rng(3);
  for (int i = 0; i < 20000; ++i) {
    const size_t n = 2 * (1 + rng() % 40);
    std::vector<uint8_t> d = Random(rng, n);
    if (i % 10 == 0) std::fill(d.begin(), d.end(), 0);  // the +0/-0 corner of RFC 1624
    const uint16_t before = RefChecksum(d);
    const size_t at = 2 * (rng() % (n / 2));
    const uint16_t old_word = LoadBe16(d.data() + at);
    const uint16_t new_word = (i % 7 == 0) ? 0 : static_cast<uint16_t>(rng());
    StoreBe16(d.data() + at, new_word);
    const uint16_t full = RefChecksum(d);
    const uint16_t inc = ChecksumUpdate16(before, old_word, new_word);
    if (std::all_of(d.begin(), d.end(), [](uint8_t b) { return b == 0; })) {
      // The one documented difference: all-zero data gives -0 from eqn. 3.
      ASSERT_EQ(full, 0xffff);
      ASSERT_EQ(inc, 0x0000);
    } else {
      ASSERT_EQ(inc, full) << i;
    }
  }
}

TEST(Checksum, Update32EqualsFullRecompute) {
  std::mt19937 rng(4);
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> d = Random(rng, 20);
    const uint16_t before = RefChecksum(d);
    const uint32_t old_v = LoadBe32(d.data() + 12);
    const auto new_v = static_cast<uint32_t>(rng());
    StoreBe32(d.data() + 12, new_v);
    ASSERT_EQ(ChecksumUpdate32(before, old_v, new_v), RefChecksum(d)) << i;
  }
}

TEST(Checksum, PseudoHeaderAndAdd) {
  std::mt19937 rng(5);
  for (int i = 0; i < 5000; ++i) {
    const auto src = static_cast<uint32_t>(rng());
    const auto dst = static_cast<uint32_t>(rng());
    const auto len = static_cast<uint16_t>(rng());
    std::vector<uint8_t> ph(12);
    StoreBe32(ph.data(), src);
    StoreBe32(ph.data() + 4, dst);
    ph[8] = 0;
    ph[9] = 17;
    StoreBe16(ph.data() + 10, len);
    ASSERT_EQ(Ipv4PseudoHeaderSum(src, dst, 17, len), RefSum(ph.data(), 12));
    // Sum of the parts = sum of the concatenation (even-length first part).
    std::vector<uint8_t> body = Random(rng, rng() % 100);
    std::vector<uint8_t> all = ph;
    all.insert(all.end(), body.begin(), body.end());
    ASSERT_EQ(ChecksumAdd(Ipv4PseudoHeaderSum(src, dst, 17, len), ChecksumPartial(body)),
              RefSum(all.data(), all.size()));
  }
}

}  // namespace
}  // namespace dmrswitch::net
