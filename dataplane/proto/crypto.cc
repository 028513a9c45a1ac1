// The HMAC-SHA1 hot path drives OpenSSL's SHA-1 block function directly (SHA1_Transform, which
// uses SHA-NI where the CPU has it) from precomputed chaining values, and does its own padding,
// so a 53-byte DMRD costs exactly two block calls and no buffering. That low-level API is
// deprecated in OpenSSL 3 but is the only public entry to the bare block function.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "dataplane/proto/crypto.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstring>
#include <iterator>
#include <utility>
#include <vector>

#include "dataplane/proto/bytes.h"

namespace dmrswitch::proto {

std::array<uint8_t, kObpKeyBytes> ObpKeyFromPassphrase(std::string_view passphrase) {
  std::array<uint8_t, kObpKeyBytes> key{};
  const size_t n = std::min(passphrase.size(), key.size());
  std::memcpy(key.data(), passphrase.data(), n);
  return key;
}

std::array<uint8_t, kLoginDigestBytes> HbpLoginDigest(uint32_t salt, std::string_view passphrase) {
  std::vector<uint8_t> buf(4 + passphrase.size());
  StoreBe32(buf.data(), salt);
  std::memcpy(buf.data() + 4, passphrase.data(), passphrase.size());
  std::array<uint8_t, kLoginDigestBytes> digest{};
  SHA256(buf.data(), buf.size(), digest.data());
  OPENSSL_cleanse(buf.data(), buf.size());
  return digest;
}

bool ConstantTimeEqual(const uint8_t* a, const uint8_t* b, size_t len) {
  return CRYPTO_memcmp(a, b, len) == 0;
}

std::array<uint8_t, kSecretDigestBytes> SecretDigest(std::string_view secret) {
  static_assert(kSecretDigestBytes == SHA256_DIGEST_LENGTH);
  std::array<uint8_t, kSecretDigestBytes> d{};
  SHA256(reinterpret_cast<const uint8_t*>(secret.data()), secret.size(), d.data());
  return d;
}

bool SecretEqual(std::string_view a, std::string_view b) {
  return ConstantTimeEqual(SecretDigest(a).data(), SecretDigest(b).data(), kSecretDigestBytes);
}

// ---------------------------------------------------------------------------------------------
// HMAC-SHA1 (RFC 2104)

namespace {

constexpr size_t kSha1BlockBytes = 64;
constexpr size_t kSha1DigestBytes = 20;
// The inner/outer hashes both start one (key ^ pad) block in.
constexpr uint64_t kOuterBitLen = (kSha1BlockBytes + kSha1DigestBytes) * 8;

void LoadSha1State(const std::array<uint32_t, 5>& h, SHA_CTX* c) {
  // SHA1_Transform reads and writes only h0..h4; the buffering fields stay unused.
  c->h0 = h[0];
  c->h1 = h[1];
  c->h2 = h[2];
  c->h3 = h[3];
  c->h4 = h[4];
}

std::array<uint32_t, 5> KeyedSha1State(const uint8_t* key_block, uint8_t pad) {
  uint8_t block[kSha1BlockBytes];
  for (size_t i = 0; i < kSha1BlockBytes; ++i) block[i] = key_block[i] ^ pad;
  SHA_CTX c;
  SHA1_Init(&c);
  SHA1_Transform(&c, block);
  OPENSSL_cleanse(block, sizeof(block));
  std::array<uint32_t, 5> h = {c.h0, c.h1, c.h2, c.h3, c.h4};
  OPENSSL_cleanse(&c, sizeof(c));
  return h;
}

void StoreSha1Digest(const SHA_CTX& c, uint8_t* out) {
  StoreBe32(out, c.h0);
  StoreBe32(out + 4, c.h1);
  StoreBe32(out + 8, c.h2);
  StoreBe32(out + 12, c.h3);
  StoreBe32(out + 16, c.h4);
}

}  // namespace

HmacSha1::HmacSha1(std::span<const uint8_t> key) {
  uint8_t key_block[kSha1BlockBytes] = {};
  if (key.size() > kSha1BlockBytes) {
    SHA1(key.data(), key.size(), key_block);
  } else if (!key.empty()) {
    std::memcpy(key_block, key.data(), key.size());
  }
  inner_ = KeyedSha1State(key_block, 0x36);
  outer_ = KeyedSha1State(key_block, 0x5c);
  OPENSSL_cleanse(key_block, sizeof(key_block));
}

void HmacSha1::Sign(std::span<const uint8_t> msg, uint8_t* mac_out) const {
  const uint8_t* p = msg.data();
  size_t n = msg.size();
  const uint64_t inner_bit_len = (uint64_t{kSha1BlockBytes} + n) * 8;

  SHA_CTX c;
  LoadSha1State(inner_, &c);
  for (; n >= kSha1BlockBytes; n -= kSha1BlockBytes, p += kSha1BlockBytes) SHA1_Transform(&c, p);

  // The remainder, 0x80 and the 64-bit length need a second block once they exceed 64 bytes.
  uint8_t tail[2 * kSha1BlockBytes] = {};
  if (n != 0) std::memcpy(tail, p, n);
  tail[n] = 0x80;
  const size_t tail_len = n + 1 + 8 <= kSha1BlockBytes ? kSha1BlockBytes : 2 * kSha1BlockBytes;
  StoreBe64(tail + tail_len - 8, inner_bit_len);
  SHA1_Transform(&c, tail);
  if (tail_len > kSha1BlockBytes) SHA1_Transform(&c, tail + kSha1BlockBytes);

  uint8_t outer_block[kSha1BlockBytes] = {};
  StoreSha1Digest(c, outer_block);
  outer_block[kSha1DigestBytes] = 0x80;
  StoreBe64(outer_block + kSha1BlockBytes - 8, kOuterBitLen);
  LoadSha1State(outer_, &c);
  SHA1_Transform(&c, outer_block);
  StoreSha1Digest(c, mac_out);
}

bool HmacSha1::Verify(std::span<const uint8_t> msg, const uint8_t* mac) const {
  uint8_t expected[kMacBytes];
  Sign(msg, expected);
  return ConstantTimeEqual(expected, mac, kMacBytes);
}

// ---------------------------------------------------------------------------------------------
// Keyed BLAKE2b (RFC 7693)

namespace {

constexpr uint64_t kBlake2bIv[8] = {
    0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b, 0xa54ff53a5f1d36f1,
    0x510e527fade682d1, 0x9b05688c2b3e6c1f, 0x1f83d9abfb41bd6b, 0x5be0cd19137e2179,
};

constexpr uint8_t kSigma[10][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
};

constexpr size_t kBlake2bBlockBytes = 128;
constexpr size_t kBlake2bRounds = 12;

using Blake2bState = std::array<uint64_t, 8>;

inline void StoreLe64(uint8_t* p, uint64_t v) {
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  std::memcpy(p, &v, sizeof(v));
}

// With -march=native on this project's AMD EPYC (Zen 4) hosts, GCC 12 picks znver3 tuning plus
// AVX-512, and its register allocator then parks the 16 working words in xmm16..31, moving them to
// and from general registers around nearly every instruction: a 73-byte Sign took 720 ns instead
// of 150 ns, slower than OpenSSL. Without AVX-512 it spills to the stack, which costs next to
// nothing. The region is self-contained (builtins and raw pointers only) because GCC does not
// inline functions compiled for another target into it.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define DMRSWITCH_BLAKE2B_NO_AVX512 1
#pragma GCC push_options
#pragma GCC target("no-avx512f")
#endif

inline uint64_t LoadLe64(const uint8_t* p) {
  uint64_t v;
  __builtin_memcpy(&v, p, sizeof(v));
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

[[gnu::always_inline]] inline uint64_t Rotr64(uint64_t x, int n) {
  return (x >> n) | (x << (64 - n));
}

[[gnu::always_inline]] inline void G(uint64_t& a, uint64_t& b, uint64_t& c, uint64_t& d, uint64_t x,
                                     uint64_t y) {
  a = a + b + x;
  d = Rotr64(d ^ a, 32);
  c = c + d;
  b = Rotr64(b ^ c, 24);
  a = a + b + y;
  d = Rotr64(d ^ a, 16);
  c = c + d;
  b = Rotr64(b ^ c, 63);
}

// One template instance per round so every message-word index is a compile-time constant and the
// whole compression unrolls without table lookups.
template <size_t R>
[[gnu::always_inline]] inline void Round(uint64_t* v, const uint64_t* m) {
  constexpr const uint8_t* s = kSigma[R % 10];
  G(v[0], v[4], v[8], v[12], m[s[0]], m[s[1]]);
  G(v[1], v[5], v[9], v[13], m[s[2]], m[s[3]]);
  G(v[2], v[6], v[10], v[14], m[s[4]], m[s[5]]);
  G(v[3], v[7], v[11], v[15], m[s[6]], m[s[7]]);
  G(v[0], v[5], v[10], v[15], m[s[8]], m[s[9]]);
  G(v[1], v[6], v[11], v[12], m[s[10]], m[s[11]]);
  G(v[2], v[7], v[8], v[13], m[s[12]], m[s[13]]);
  G(v[3], v[4], v[9], v[14], m[s[14]], m[s[15]]);
}

template <size_t... R>
[[gnu::always_inline]] inline void Rounds(uint64_t* v, const uint64_t* m,
                                          std::index_sequence<R...>) {
  (Round<R>(v, m), ...);
}

// `bytes` counts everything compressed so far including this block (t in RFC 7693 §3.2); the
// 128-bit counter's high word only moves for inputs near 2^64 bytes. Never inlined: inlined code
// would be compiled for the caller's target, bringing the problem above back.
[[gnu::noinline]] void Compress(uint64_t* h, const uint8_t* block, uint64_t bytes_lo,
                                uint64_t bytes_hi, bool last) {
  uint64_t m[16];
  for (size_t i = 0; i < 16; ++i) m[i] = LoadLe64(block + 8 * i);
  uint64_t v[16];
  for (size_t i = 0; i < 8; ++i) {
    v[i] = h[i];
    v[i + 8] = kBlake2bIv[i];
  }
  v[12] ^= bytes_lo;
  v[13] ^= bytes_hi;
  if (last) v[14] = ~v[14];
  Rounds(v, m, std::make_index_sequence<kBlake2bRounds>{});
  for (size_t i = 0; i < 8; ++i) h[i] ^= v[i] ^ v[i + 8];
}

#ifdef DMRSWITCH_BLAKE2B_NO_AVX512
#pragma GCC pop_options
#undef DMRSWITCH_BLAKE2B_NO_AVX512
#endif

Blake2bState ParameterBlockState(size_t key_len, size_t digest_len) {
  Blake2bState h;
  std::copy(std::begin(kBlake2bIv), std::end(kBlake2bIv), h.begin());
  // Parameter block word 0: digest length, key length, fanout 1, depth 1; the rest is zero.
  h[0] ^= 0x01010000 ^ (static_cast<uint64_t>(key_len) << 8) ^ static_cast<uint64_t>(digest_len);
  return h;
}

}  // namespace

Blake2bMac128::Blake2bMac128(std::span<const uint8_t> key) {
  assert(!key.empty() && key.size() <= kMaxKeyBytes);
  // Out-of-contract keys: an over-long one is cut to the maximum rather than overrunning key_; an
  // empty one gives unkeyed BLAKE2b (no key block), which is what RFC 7693 defines for kk = 0.
  key_len_ = std::min(key.size(), kMaxKeyBytes);
  if (key_len_ != 0) std::memcpy(key_.data(), key.data(), key_len_);
  h_after_key_ = ParameterBlockState(key_len_, kMacBytes);
  if (key_len_ != 0) {
    uint8_t block[kBlockBytes] = {};
    std::memcpy(block, key_.data(), key_len_);
    Compress(h_after_key_.data(), block, kBlockBytes, 0, /*last=*/false);
    OPENSSL_cleanse(block, sizeof(block));
  }
}

void Blake2bMac128::Sign(std::span<const uint8_t> msg, uint8_t* mac_out) const {
  static_assert(kBlockBytes == kBlake2bBlockBytes);
  const uint8_t* p = msg.data();
  size_t n = msg.size();
  Blake2bState h;
  uint8_t block[kBlockBytes] = {};
  if (n == 0 && key_len_ != 0) {
    h = ParameterBlockState(key_len_, kMacBytes);
    std::memcpy(block, key_.data(), key_len_);
    Compress(h.data(), block, kBlockBytes, 0, /*last=*/true);
    OPENSSL_cleanse(block, sizeof(block));
  } else {
    h = h_after_key_;
    uint64_t lo = key_len_ != 0 ? kBlockBytes : 0;
    uint64_t hi = 0;
    const auto advance = [&](size_t len) {
      lo += len;
      if (lo < len) ++hi;
    };
    // Strictly greater: a message that ends on a block boundary keeps its last full block for
    // the final compression instead of finalising an empty block.
    for (; n > kBlockBytes; n -= kBlockBytes, p += kBlockBytes) {
      advance(kBlockBytes);
      Compress(h.data(), p, lo, hi, /*last=*/false);
    }
    if (n != 0) std::memcpy(block, p, n);
    advance(n);
    Compress(h.data(), block, lo, hi, /*last=*/true);
  }
  StoreLe64(mac_out, h[0]);
  StoreLe64(mac_out + 8, h[1]);
}

bool Blake2bMac128::Verify(std::span<const uint8_t> msg, const uint8_t* mac) const {
  uint8_t expected[kMacBytes];
  Sign(msg, expected);
  return ConstantTimeEqual(expected, mac, kMacBytes);
}

}  // namespace dmrswitch::proto
