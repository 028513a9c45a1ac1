// Message authentication and login digests used by HBP and OpenBridge/FBP.
//
// Per-packet MACs are on the hot path (one per OBP/FBP packet in and out), so each key object
// precomputes everything that depends only on the key at construction: the HMAC-SHA1 inner and
// outer states after the ipad/opad block, and the BLAKE2b state after the key block. Signing a
// DMRD then costs two SHA-1 compressions or one BLAKE2b compression.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace dmrswitch::proto {

// FreeDMR and HBlink3 store an OpenBridge passphrase NUL-padded and truncated to 20 bytes
// (PROTOCOL.md §2.1). Irrelevant for HMAC-SHA1 unless longer than 20 bytes; it is the key itself
// for BLAKE2b.
inline constexpr size_t kObpKeyBytes = 20;
std::array<uint8_t, kObpKeyBytes> ObpKeyFromPassphrase(std::string_view passphrase);

// SHA-256(salt as 4 big-endian bytes || passphrase): the RPTK digest (PROTOCOL.md §1.5).
inline constexpr size_t kLoginDigestBytes = 32;
std::array<uint8_t, kLoginDigestBytes> HbpLoginDigest(uint32_t salt, std::string_view passphrase);

// Constant-time comparison: the time taken depends on `len` only.
bool ConstantTimeEqual(const uint8_t* a, const uint8_t* b, size_t len);
// Whether two secrets (tokens, keys) are equal, in a time that depends on neither their contents
// nor their lengths: their SHA-256 digests are compared in constant time.
bool SecretEqual(std::string_view a, std::string_view b);
// A secret's SHA-256, to compare with ConstantTimeEqual (one digest against many).
inline constexpr size_t kSecretDigestBytes = 32;
std::array<uint8_t, kSecretDigestBytes> SecretDigest(std::string_view secret);

// HMAC-SHA1 with the key schedule precomputed. Immutable after construction; safe to share
// between threads.
class HmacSha1 {
 public:
  static constexpr size_t kMacBytes = 20;
  explicit HmacSha1(std::span<const uint8_t> key);

  void Sign(std::span<const uint8_t> msg, uint8_t* mac_out) const;
  bool Verify(std::span<const uint8_t> msg, const uint8_t* mac) const;

 private:
  // SHA-1 chaining values after compressing (key ^ ipad) and (key ^ opad).
  std::array<uint32_t, 5> inner_{};
  std::array<uint32_t, 5> outer_{};
};

// Keyed BLAKE2b with a 16-byte digest (RFC 7693 keyed mode, digest_size = 16), as FreeDMR signs
// DMRE frames. The key block is compressed once at construction.
class Blake2bMac128 {
 public:
  static constexpr size_t kMacBytes = 16;
  static constexpr size_t kMaxKeyBytes = 64;
  // `key` must be 1..64 bytes.
  explicit Blake2bMac128(std::span<const uint8_t> key);

  void Sign(std::span<const uint8_t> msg, uint8_t* mac_out) const;
  bool Verify(std::span<const uint8_t> msg, const uint8_t* mac) const;

 private:
  static constexpr size_t kBlockBytes = 128;

  std::array<uint64_t, 8> h_after_key_{};  // chaining value after the key block
  // An empty message makes the key block itself the final block (RFC 7693 §3.3), which must then
  // be compressed with the final flag from the parameter-block state: keep what that needs.
  std::array<uint8_t, kMaxKeyBytes> key_{};
  size_t key_len_ = 0;
};

}  // namespace dmrswitch::proto
