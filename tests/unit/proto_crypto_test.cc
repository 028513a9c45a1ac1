#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/proto/bytes.h"
#include "dataplane/proto/crypto.h"

namespace dmrswitch::proto {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes FromHex(std::string_view hex) {
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string ToHex(const uint8_t* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s.push_back(kDigits[p[i] >> 4]);
    s.push_back(kDigits[p[i] & 0xf]);
  }
  return s;
}

Bytes Str(std::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes Repeat(uint8_t b, size_t n) { return Bytes(n, b); }

// Bytes 0, 1, 2, ... (mod 256).
Bytes Counting(size_t n, uint8_t first = 0) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(first + i);
  return b;
}

std::string HmacHex(std::span<const uint8_t> key, std::span<const uint8_t> msg) {
  uint8_t mac[HmacSha1::kMacBytes];
  HmacSha1(key).Sign(msg, mac);
  return ToHex(mac, sizeof(mac));
}

std::string Blake2bHex(std::span<const uint8_t> key, std::span<const uint8_t> msg) {
  uint8_t mac[Blake2bMac128::kMacBytes];
  Blake2bMac128(key).Sign(msg, mac);
  return ToHex(mac, sizeof(mac));
}

// The MACed part (bytes 0..72) of a DMRE v5 frame.
Bytes DmreVector() {
  Bytes b(73);
  uint8_t* p = b.data();
  std::memcpy(p, "DMRE", 4);
  p[4] = 0x01;                    // seq
  StoreBe24(p + 5, 0x2F9B2C);     // source 3120940
  StoreBe24(p + 8, 0x00005B);     // destination TG 91
  StoreBe32(p + 11, 310999);      // sending server
  p[15] = 0xA1;                   // flags
  StoreBe32(p + 16, 0x12345678);  // stream id
  for (uint8_t i = 0; i < 33; ++i) p[20 + i] = i;
  p[53] = 0;  // BER
  p[54] = 0;  // RSSI
  p[55] = 5;  // version
  StoreBe64(p + 56, 0x1880000000000000);
  StoreBe32(p + 64, 310999);   // origin server
  StoreBe32(p + 68, 3120001);  // origin repeater
  p[72] = 1;                   // hops
  return b;
}

Bytes MyPassKey() {
  const auto k = ObpKeyFromPassphrase("mypass");
  return Bytes(k.begin(), k.end());
}

// ---------------------------------------------------------------------------------------------

TEST(ObpKeyTest, PadsAndTruncatesToTwentyBytes) {
  const auto short_key = ObpKeyFromPassphrase("mypass");
  EXPECT_EQ(ToHex(short_key.data(), short_key.size()), "6d79706173730000000000000000000000000000");
  const auto long_key = ObpKeyFromPassphrase("abcdefghijklmnopqrstuvwxyz");
  EXPECT_EQ(std::string(long_key.begin(), long_key.end()), "abcdefghijklmnopqrst");
  const auto empty = ObpKeyFromPassphrase("");
  EXPECT_EQ(empty, (std::array<uint8_t, kObpKeyBytes>{}));
}

TEST(HbpLoginDigestTest, RptkVector) {
  const auto d = HbpLoginDigest(0x0A7ED498, "passw0rd");
  EXPECT_EQ(ToHex(d.data(), d.size()),
            "831878ed0730099ee00f419362c2c7a5b83d738ebbc285e52524933bb20e0aff");
}

TEST(ConstantTimeEqualTest, ComparesBytes) {
  const uint8_t a[] = {1, 2, 3, 4};
  const uint8_t b[] = {1, 2, 3, 5};
  EXPECT_TRUE(ConstantTimeEqual(a, a, 4));
  EXPECT_TRUE(ConstantTimeEqual(a, b, 3));
  EXPECT_FALSE(ConstantTimeEqual(a, b, 4));
  EXPECT_TRUE(ConstantTimeEqual(a, b, 0));
}

// ---------------------------------------------------------------------------------------------
// HMAC-SHA1

struct HmacCase {
  Bytes key;
  Bytes data;
  const char* digest;
};

TEST(HmacSha1Test, Rfc2202) {
  const HmacCase cases[] = {
      {Repeat(0x0b, 20), Str("Hi There"), "b617318655057264e28bc0b6fb378c8ef146be00"},
      {Str("Jefe"), Str("what do ya want for nothing?"),
       "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
      {Repeat(0xaa, 20), Repeat(0xdd, 50), "125d7342b9ac11cd91a39af48aa17b4f63f175d3"},
      {Counting(25, 1), Repeat(0xcd, 50), "4c9007f4026250c6bc8414f9bf50c86c2d7235da"},
      {Repeat(0x0c, 20), Str("Test With Truncation"), "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"},
      {Repeat(0xaa, 80), Str("Test Using Larger Than Block-Size Key - Hash Key First"),
       "aa4ae5e15272d00e95705637ce8a3b55ed402112"},
      {Repeat(0xaa, 80),
       Str("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data"),
       "e8e99d0f45237d786d6bbaa7965c7808bbff1a91"},
  };
  for (size_t i = 0; i < std::size(cases); ++i) {
    SCOPED_TRACE("RFC 2202 test case " + std::to_string(i + 1));
    EXPECT_EQ(HmacHex(cases[i].key, cases[i].data), cases[i].digest);
    EXPECT_TRUE(HmacSha1(cases[i].key).Verify(cases[i].data, FromHex(cases[i].digest).data()));
  }
}

TEST(HmacSha1Test, ProtocolVectors) {
  // The padded 20-byte OBP key and the raw passphrase are the same HMAC key (zero-padded to 64).
  for (const Bytes& key : {MyPassKey(), Str("mypass")}) {
    SCOPED_TRACE("key length " + std::to_string(key.size()));
    EXPECT_EQ(HmacHex(key, Str("BCKA")), "901e1c6c62f24506c6c43fd0dd30bcd4f4e060f5");
    EXPECT_EQ(HmacHex(key, Bytes{0x05}), "7de2d55a528e36265fa2abe95e30e557f5cf09a2");
  }
}

TEST(HmacSha1Test, MatchesOpenSslOneShot) {
  std::mt19937 rng(20240501);
  const auto random_bytes = [&](size_t n) {
    Bytes b(n);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    return b;
  };
  for (size_t key_len = 0; key_len <= 130; ++key_len) {
    const Bytes key = random_bytes(key_len);
    const HmacSha1 mac(key);
    for (size_t len = 0; len <= 300; ++len) {
      const Bytes msg = random_bytes(len);
      uint8_t ours[HmacSha1::kMacBytes];
      mac.Sign(msg, ours);
      uint8_t ref[EVP_MAX_MD_SIZE];
      unsigned int ref_len = 0;
      // A real pointer even for the empty key: to OpenSSL's HMAC init a null key means "keep the
      // previous key", not "empty key".
      const uint8_t dummy = 0;
      ASSERT_NE(HMAC(EVP_sha1(), key.empty() ? &dummy : key.data(), static_cast<int>(key.size()),
                     msg.data(), msg.size(), ref, &ref_len),
                nullptr);
      ASSERT_EQ(ref_len, HmacSha1::kMacBytes);
      ASSERT_EQ(ToHex(ours, sizeof(ours)), ToHex(ref, ref_len))
          << "key length " << key_len << ", message length " << len;
      ASSERT_TRUE(mac.Verify(msg, ref));
    }
  }
}

TEST(HmacSha1Test, VerifyRejectsEverySingleBitFlip) {
  const HmacSha1 mac(MyPassKey());
  const Bytes msg = Counting(53);
  uint8_t good[HmacSha1::kMacBytes];
  mac.Sign(msg, good);
  ASSERT_TRUE(mac.Verify(msg, good));
  for (size_t bit = 0; bit < 8 * HmacSha1::kMacBytes; ++bit) {
    uint8_t bad[HmacSha1::kMacBytes];
    std::memcpy(bad, good, sizeof(bad));
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(mac.Verify(msg, bad)) << "bit " << bit;
  }
  Bytes altered = msg;
  altered[52] ^= 1;
  EXPECT_FALSE(mac.Verify(altered, good));
  EXPECT_FALSE(HmacSha1(Str("otherpass")).Verify(msg, good));
}

// ---------------------------------------------------------------------------------------------
// Keyed BLAKE2b-128. Known answers from Python's hashlib.blake2b(msg, key=k, digest_size=16).

TEST(Blake2bMac128Test, DmreVector) {
  EXPECT_EQ(ToHex(DmreVector().data(), 73),
            "444d5245012f9b2c00005b0004bed7a112345678000102030405060708090a0b0c0d0e0f1011121314"
            "15161718191a1b1c1d1e1f2000000518800000000000000004bed7002f9b8101");
  EXPECT_EQ(Blake2bHex(MyPassKey(), DmreVector()), "a5bb3b12f351b926204fcfe1c52af352");
}

TEST(Blake2bMac128Test, EmptyMessage) {
  EXPECT_EQ(Blake2bHex(MyPassKey(), {}), "94cc924dd26364fa60c3ff4c82f236e5");
  EXPECT_EQ(Blake2bHex(Counting(64), {}), "2ae6b02df83c8d5a85eb7ab86fe3a11f");
}

TEST(Blake2bMac128Test, BlockBoundaries) {
  const Bytes key = MyPassKey();
  EXPECT_EQ(Blake2bHex(key, Counting(128)), "bb4a42067cff2b6868bac8bcd2901a2e");
  EXPECT_EQ(Blake2bHex(key, Counting(129)), "32492b963bdbe2f90366ab3e62404b98");
  EXPECT_EQ(Blake2bHex(key, Counting(256)), "1a6b4e7dc5a53e044e24c7082b144c75");
}

TEST(Blake2bMac128Test, KeyLengths) {
  EXPECT_EQ(Blake2bHex(Counting(64), DmreVector()), "7637f743e37172bd05052e57106deca3");
  EXPECT_EQ(Blake2bHex(Bytes{0x42}, DmreVector()), "62f00827d0aeab1298c3e50ff48e0ce0");
}

class EvpBlake2bMac {
 public:
  EvpBlake2bMac() : mac_(EVP_MAC_fetch(nullptr, "BLAKE2BMAC", nullptr)) {}
  ~EvpBlake2bMac() { EVP_MAC_free(mac_); }
  EvpBlake2bMac(const EvpBlake2bMac&) = delete;
  EvpBlake2bMac& operator=(const EvpBlake2bMac&) = delete;

  bool ok() const { return mac_ != nullptr; }

  std::string Hex(std::span<const uint8_t> key, std::span<const uint8_t> msg) const {
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac_);
    size_t size = Blake2bMac128::kMacBytes;
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
                                 OSSL_PARAM_construct_end()};
    uint8_t out[64];
    size_t out_len = 0;
    std::string hex = "error";
    if (ctx != nullptr && EVP_MAC_init(ctx, key.data(), key.size(), params) == 1 &&
        EVP_MAC_update(ctx, msg.data(), msg.size()) == 1 &&
        EVP_MAC_final(ctx, out, &out_len, sizeof(out)) == 1) {
      hex = ToHex(out, out_len);
    }
    EVP_MAC_CTX_free(ctx);
    return hex;
  }

 private:
  EVP_MAC* mac_;
};

TEST(Blake2bMac128Test, MatchesOpenSslEvpMac) {
  const EvpBlake2bMac ref;
  ASSERT_TRUE(ref.ok());
  std::mt19937 rng(7693);
  const auto random_bytes = [&](size_t n) {
    Bytes b(n);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    return b;
  };
  for (size_t key_len : {1, 2, 16, 20, 31, 32, 33, 63, 64}) {
    const Bytes key = random_bytes(key_len);
    const Blake2bMac128 mac(key);
    for (size_t len = 0; len <= 300; ++len) {
      const Bytes msg = random_bytes(len);
      uint8_t ours[Blake2bMac128::kMacBytes];
      mac.Sign(msg, ours);
      const std::string expected = ref.Hex(key, msg);
      ASSERT_EQ(ToHex(ours, sizeof(ours)), expected)
          << "key length " << key_len << ", message length " << len;
      ASSERT_TRUE(mac.Verify(msg, FromHex(expected).data()));
    }
  }
}

TEST(Blake2bMac128Test, VerifyRejectsEverySingleBitFlip) {
  const Blake2bMac128 mac(MyPassKey());
  const Bytes msg = DmreVector();
  uint8_t good[Blake2bMac128::kMacBytes];
  mac.Sign(msg, good);
  ASSERT_TRUE(mac.Verify(msg, good));
  for (size_t bit = 0; bit < 8 * Blake2bMac128::kMacBytes; ++bit) {
    uint8_t bad[Blake2bMac128::kMacBytes];
    std::memcpy(bad, good, sizeof(bad));
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(mac.Verify(msg, bad)) << "bit " << bit;
  }
  Bytes altered = msg;
  altered[72] ^= 1;
  EXPECT_FALSE(mac.Verify(altered, good));
  EXPECT_FALSE(Blake2bMac128(ObpKeyFromPassphrase("otherpass")).Verify(msg, good));
}

TEST(Blake2bMac128Test, SignIsRepeatable) {
  // Signing must not disturb the precomputed state (the object is shared between threads).
  const Blake2bMac128 mac(MyPassKey());
  for (int i = 0; i < 3; ++i) {
    uint8_t out[Blake2bMac128::kMacBytes];
    mac.Sign({}, out);
    EXPECT_EQ(ToHex(out, sizeof(out)), "94cc924dd26364fa60c3ff4c82f236e5");
    mac.Sign(DmreVector(), out);
    EXPECT_EQ(ToHex(out, sizeof(out)), "a5bb3b12f351b926204fcfe1c52af352");
  }
}

}  // namespace
}  // namespace dmrswitch::proto
