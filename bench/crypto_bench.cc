// Per-packet MAC costs (one MAC per OBP/FBP packet in and out) and the HBP login digest, with
// OpenSSL's EVP_MAC as the reference our precomputed key schedules must beat.
#include <benchmark/benchmark.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <cstdint>
#include <vector>

#include "dataplane/proto/crypto.h"

namespace dmrswitch {
namespace {

std::vector<uint8_t> Message(size_t n) {
  std::vector<uint8_t> m(n);
  for (size_t i = 0; i < n; ++i) m[i] = static_cast<uint8_t>(i * 29 + 7);
  return m;
}

void BM_HmacSha1Sign53(benchmark::State& state) {
  const proto::HmacSha1 key(proto::ObpKeyFromPassphrase("mypass"));
  const std::vector<uint8_t> msg = Message(53);
  uint8_t mac[proto::HmacSha1::kMacBytes];
  for (auto _ : state) {
    key.Sign(msg, mac);
    benchmark::DoNotOptimize(mac);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_HmacSha1Sign53);

void BM_HmacSha1Verify53(benchmark::State& state) {
  const proto::HmacSha1 key(proto::ObpKeyFromPassphrase("mypass"));
  const std::vector<uint8_t> msg = Message(53);
  uint8_t mac[proto::HmacSha1::kMacBytes];
  key.Sign(msg, mac);
  for (auto _ : state) {
    bool ok = key.Verify(msg, mac);
    benchmark::DoNotOptimize(ok);
  }
}
BENCHMARK(BM_HmacSha1Verify53);

// What the precomputed ipad/opad states save: OpenSSL's HMAC re-initialised with the stored key
// for every packet, as a per-peer EVP_MAC_CTX would be used.
void BM_HmacSha1Sign53_OpenSslEvpMac(benchmark::State& state) {
  EVP_MAC* mac_alg = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac_alg);
  char digest[] = "SHA1";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  const auto key = proto::ObpKeyFromPassphrase("mypass");
  if (EVP_MAC_init(ctx, key.data(), key.size(), params) != 1) {
    state.SkipWithError("EVP_MAC HMAC unavailable");
  }
  const std::vector<uint8_t> msg = Message(53);
  uint8_t mac[EVP_MAX_MD_SIZE];
  size_t mac_len = 0;
  for (auto _ : state) {
    EVP_MAC_init(ctx, nullptr, 0, nullptr);
    EVP_MAC_update(ctx, msg.data(), msg.size());
    EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac));
    benchmark::DoNotOptimize(mac);
    benchmark::ClobberMemory();
  }
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac_alg);
}
BENCHMARK(BM_HmacSha1Sign53_OpenSslEvpMac);

void BM_Blake2bSign73(benchmark::State& state) {
  const proto::Blake2bMac128 key(proto::ObpKeyFromPassphrase("mypass"));
  const std::vector<uint8_t> msg = Message(73);
  uint8_t mac[proto::Blake2bMac128::kMacBytes];
  for (auto _ : state) {
    key.Sign(msg, mac);
    benchmark::DoNotOptimize(mac);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_Blake2bSign73);

// The reference: OpenSSL 3's keyed BLAKE2b, re-initialised with the stored key per packet (which
// compresses the key block again) as a per-peer EVP_MAC_CTX would be used.
void BM_Blake2bSign73_OpenSslEvpMac(benchmark::State& state) {
  EVP_MAC* mac_alg = EVP_MAC_fetch(nullptr, "BLAKE2BMAC", nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac_alg);
  size_t size = proto::Blake2bMac128::kMacBytes;
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
                               OSSL_PARAM_construct_end()};
  const auto key = proto::ObpKeyFromPassphrase("mypass");
  if (EVP_MAC_init(ctx, key.data(), key.size(), params) != 1) {
    state.SkipWithError("EVP_MAC BLAKE2BMAC unavailable");
  }
  const std::vector<uint8_t> msg = Message(73);
  uint8_t mac[proto::Blake2bMac128::kMacBytes];
  size_t mac_len = 0;
  for (auto _ : state) {
    EVP_MAC_init(ctx, nullptr, 0, nullptr);
    EVP_MAC_update(ctx, msg.data(), msg.size());
    EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac));
    benchmark::DoNotOptimize(mac);
    benchmark::ClobberMemory();
  }
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac_alg);
}
BENCHMARK(BM_Blake2bSign73_OpenSslEvpMac);

void BM_HbpLoginDigest(benchmark::State& state) {
  uint32_t salt = 0x0A7ED498;
  for (auto _ : state) {
    auto digest = proto::HbpLoginDigest(salt++, "passw0rd");
    benchmark::DoNotOptimize(digest);
  }
}
BENCHMARK(BM_HbpLoginDigest);

}  // namespace
}  // namespace dmrswitch
