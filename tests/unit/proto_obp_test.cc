// OpenBridge / FreeBridge codec tests. Golden packets are written out by hand from PROTOCOL.md
// §2.1-2.3; their MACs were computed independently with Python's hmac/hashlib (the reference
// implementations FreeDMR and HBlink3 use), not with our crypto:
//
//   key = b"mypass"; key20 = key.ljust(20, b"\0")
//   hmac.new(key, msg, hashlib.sha1).hexdigest()                   # OBP v1, BCKA/BCSQ/BCVE/BCST
//   hashlib.blake2b(msg, key=key20, digest_size=16).hexdigest()    # DMRE
//
// Decoders always run on an exact-size heap copy, so the sanitizer build catches reads past the
// span.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/proto/bytes.h"
#include "dataplane/proto/crypto.h"
#include "dataplane/proto/hbp.h"
#include "dataplane/proto/obp.h"
#include "dataplane/proto/reject.h"
#include "tests/common/hex.h"

namespace dmrswitch::proto {

// Readable failure messages (found by ADL, so outside the anonymous namespace).
void PrintTo(Reject r, std::ostream* os) { *os << RejectName(r); }
void PrintTo(ObpType t, std::ostream* os) { *os << ObpTypeName(t); }

namespace {

using Bytes = std::vector<uint8_t>;
using ::testing::AnyOf;

// "44 4d 52 44" -> bytes; spaces are ignored.
using ::dmrswitch::test_support::Hex;

Bytes Cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::string ToHex(std::span<const uint8_t> b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (uint8_t c : b) {
    s.push_back(kDigits[c >> 4]);
    s.push_back(kDigits[c & 0xF]);
  }
  return s;
}

Bytes Prefix(const Bytes& b, size_t n) { return Bytes(b.begin(), b.begin() + n); }
Bytes Grown(Bytes b, size_t extra = 1, uint8_t fill = 0) {
  b.insert(b.end(), extra, fill);
  return b;
}

// A heap buffer of exactly the input's size (see proto_hbp_test.cc).
class Exact {
 public:
  explicit Exact(std::span<const uint8_t> bytes)
      : size_(bytes.size()), data_(new uint8_t[bytes.size()]) {
    if (size_ != 0) std::memcpy(data_.get(), bytes.data(), size_);
  }
  explicit Exact(size_t size) : size_(size), data_(new uint8_t[size]) {
    if (size_ != 0) std::memset(data_.get(), 0xEE, size_);
  }
  ByteSpan span() const { return {data_.get(), size_}; }
  MutableByteSpan mutable_span() { return {data_.get(), size_}; }
  uint8_t* data() { return data_.get(); }
  Bytes bytes() const { return Bytes(data_.get(), data_.get() + size_); }

 private:
  size_t size_;
  std::unique_ptr<uint8_t[]> data_;
};

template <typename Decode>
auto OnExact(std::span<const uint8_t> bytes, Decode decode) {
  Exact copy(bytes);
  return decode(copy.span());
}

// Every prefix shorter than `golden` is refused: kTruncated once the 4-byte tag is in, any of
// kTruncated/kUnknownTag/kBadMagic while it is cut.
template <typename Decode>
void ExpectEveryTruncationRejected(const Bytes& golden, Decode decode) {
  for (size_t n = 0; n < golden.size(); ++n) {
    SCOPED_TRACE(testing::Message() << "prefix of " << n << " bytes");
    const Reject r = OnExact(Prefix(golden, n), decode);
    if (n < 4) {
      EXPECT_THAT(r, AnyOf(Reject::kTruncated, Reject::kUnknownTag, Reject::kBadMagic));
    } else {
      EXPECT_EQ(r, Reject::kTruncated);
    }
  }
}

// Flipping any single bit of bytes [from, golden.size()) must fail the MAC check; flipping a tag
// bit must fail the tag check (or the MAC).
template <typename Decode>
void ExpectEveryBitFlipRejected(const Bytes& golden, size_t from, Decode decode) {
  for (size_t i = 0; i < golden.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      SCOPED_TRACE(testing::Message() << "byte " << i << " bit " << bit);
      Bytes b = golden;
      b[i] ^= static_cast<uint8_t>(1u << bit);
      const Reject r = OnExact(b, decode);
      if (i < 4) {
        EXPECT_THAT(r, AnyOf(Reject::kBadMagic, Reject::kUnknownTag, Reject::kBadMac));
      } else if (i >= from) {
        EXPECT_EQ(r, Reject::kBadMac);
      }
    }
  }
}

// Encodes into exactly `golden.size()` bytes (must equal golden) and into one byte fewer (must
// refuse with 0).
template <typename Encode>
void ExpectEncodes(const Bytes& golden, Encode encode) {
  Exact out(golden.size());
  EXPECT_EQ(encode(out.mutable_span()), golden.size());
  EXPECT_EQ(ToHex(out.bytes()), ToHex(golden));
  Exact small(golden.size() - 1);
  EXPECT_EQ(encode(small.mutable_span()), 0u);
}

const std::array<uint8_t, kObpKeyBytes> kKey = ObpKeyFromPassphrase("mypass");
const std::array<uint8_t, kObpKeyBytes> kWrongKey = ObpKeyFromPassphrase("mypasS");
const HmacSha1 kHmac(kKey);
const HmacSha1 kWrongHmac(kWrongKey);
const Blake2bMac128 kBlake(kKey);
const Blake2bMac128 kWrongBlake(kWrongKey);

// 33 burst bytes.
const Bytes kBurst =
    Hex("11 22 33 44 55 66 77 88 99 00 11 22 33 44 55 66"
        "77 88 99 00 aa bb cc dd ee ff 00 11 22 33 44 55"
        "66");

// Classic OBP v1: a 53-byte DMRD (TS1 group voice header 0x21, seq 7, 3120001 -> TG 3100, network
// ID 23426 in bytes 11-14, stream 0xDEADBEEF) and HMAC-SHA1("mypass", those 53 bytes).
const Bytes kObpDmrd53 = Cat({Hex("44 4d 52 44"  // "DMRD"
                                  "07"           // seq
                                  "2f 9b 81"     // rf_src 3120001
                                  "00 0c 1c"     // dst 3100
                                  "00 00 5b 82"  // 23426
                                  "21"           // flags
                                  "de ad be ef"),
                              kBurst});
const Bytes kObpV1 = Cat({kObpDmrd53, Hex("b3f10abb4be1274f392bc0b944f5978268619db1")});

// FBP DMRE: seq 3, 3120001 -> TG 91, sending server 23426, TS2 group header 0xA1, stream
// 0xCAFEBABE, BER 1, RSSI 80, then the trailer: version, timestamp 1700000000123456789 ns,
// origin server 2341, (v5) origin repeater 234100101, hops 2, BLAKE2b-128.
const Bytes kDmre55 = Cat({Hex("44 4d 52 45"  // "DMRE"
                               "03"           // seq
                               "2f 9b 81"     // rf_src
                               "00 00 5b"     // dst
                               "00 00 5b 82"  // server 23426
                               "a1"           // flags
                               "ca fe ba be"),
                           kBurst, Hex("01 50")});
const Bytes kDmreV5 = Cat({kDmre55,
                           Hex("05"                       // version
                               "17 97 9c fe 3d 85 cd 15"  // timestamp
                               "00 00 09 25"              // origin server
                               "0d f4 15 85"              // origin repeater
                               "02"                       // hops
                               "9dcf157c54a61d0042ad4c0e621a4f3f")});
const Bytes kDmreV4 = Cat({kDmre55,
                           Hex("04"                       // version
                               "17 97 9c fe 3d 85 cd 15"  // timestamp
                               "00 00 09 25"              // origin server
                               "02"                       // hops
                               "8e7ab408c6e652ac44d25d709496bdeb")});
// The same frame as an HBP DMRD (what EncodeDmre takes).
Bytes DmrdOfDmre() {
  Bytes b = kDmre55;
  b[3] = 'D';
  return b;
}

// Bridge control, PROTOCOL.md §2.3 (BCKA and BCVE 5 MACs are the ones printed there).
const Bytes kBcka = Hex("42 43 4b 41  901e1c6c62f24506c6c43fd0dd30bcd4f4e060f5");
// tg 91, stream 0xCAFEBABE; MAC over bytes 0..10.
const Bytes kBcsq =
    Hex("42 43 53 51  00 00 5b  ca fe ba be  eb2615d8256e9668e92a1821d81cba3a7be6d53a");
// MAC over the version byte only.
const Bytes kBcve5 = Hex("42 43 56 45  05  7de2d55a528e36265fa2abe95e30e557f5cf09a2");
const Bytes kBcve4 = Hex("42 43 56 45  04  0bcf8db8174090e0418db1289af681104cfb7f4a");
const Bytes kBcst = Hex("42 43 53 54  19563629ade8173dfd71d978fedae2fbb6a4b67c");

Reject DecodeObpV1Only(ByteSpan s) {
  DmrdView v;
  return DecodeObpV1(s, kHmac, &v);
}
Reject DecodeDmreOnly(ByteSpan s) {
  DmreView v;
  return DecodeDmre(s, kBlake, &v);
}
Reject DecodeBckaOnly(ByteSpan s) { return DecodeBcka(s, kHmac); }
Reject DecodeBcsqOnly(ByteSpan s) {
  Bcsq q;
  return DecodeBcsq(s, kHmac, &q);
}
Reject DecodeBcveOnly(ByteSpan s) {
  uint8_t v;
  return DecodeBcve(s, kHmac, &v);
}
Reject DecodeBcstOnly(ByteSpan s) { return DecodeBcst(s, kHmac); }

TEST(ObpGoldenTest, Sizes) {
  EXPECT_EQ(kObpDmrd53.size(), 53u);
  EXPECT_EQ(kObpV1.size(), 73u);
  EXPECT_EQ(kObpV1.size(), kObpV1Bytes);
  EXPECT_EQ(kDmre55.size(), 55u);
  EXPECT_EQ(kDmreV5.size(), 89u);
  EXPECT_EQ(kDmreV5.size(), kDmreV5Bytes);
  EXPECT_EQ(kDmreV4.size(), 85u);
  EXPECT_EQ(kDmreV4.size(), kDmreV4Bytes);
  EXPECT_EQ(kBcka.size(), kBckaBytes);
  EXPECT_EQ(kBcka.size(), 24u);
  EXPECT_EQ(kBcsq.size(), kBcsqBytes);
  EXPECT_EQ(kBcsq.size(), 31u);
  EXPECT_EQ(kBcve5.size(), kBcveBytes);
  EXPECT_EQ(kBcve5.size(), 25u);
  EXPECT_EQ(kBcst.size(), kBcstBytes);
  EXPECT_EQ(kBcst.size(), 24u);
  // The 20-byte NUL-padded key (PROTOCOL.md §2.1).
  EXPECT_EQ(ToHex(kKey), "6d7970617373" + std::string(28, '0'));
}

// ---------------------------------------------------------------------------------------------
// OBP v1.

TEST(ObpV1Test, DecodesGolden) {
  Exact buf(kObpV1);
  DmrdView v;
  ASSERT_EQ(DecodeObpV1(buf.span(), kHmac, &v), Reject::kOk);
  EXPECT_EQ(ClassifyObp(buf.span()), ObpType::kDmrd);
  EXPECT_EQ(v.data, buf.span().data());
  EXPECT_EQ(v.length, 53u);
  EXPECT_FALSE(v.has_ber_rssi());
  EXPECT_EQ(v.ber(), 0u);
  EXPECT_EQ(v.rssi(), 0u);
  EXPECT_EQ(v.seq, 7u);
  EXPECT_EQ(v.rf_src, 3120001u);
  EXPECT_EQ(v.dst, 3100u);
  EXPECT_EQ(v.repeater_id, 23426u);
  EXPECT_EQ(v.flags.raw, 0x21);
  EXPECT_EQ(v.flags.slot(), 1u);
  EXPECT_TRUE(v.flags.is_voice_header());
  EXPECT_EQ(v.stream_id, 0xDEADBEEFu);
  EXPECT_EQ(ToHex({v.payload(), kDmrPayloadBytes}), ToHex(kBurst));
}

TEST(ObpV1Test, EncodesGolden) {
  ExpectEncodes(kObpV1,
                [](MutableByteSpan out) { return EncodeObpV1(kObpDmrd53.data(), kHmac, out); });
  // From a 55-byte HBP DMRD: BER and RSSI are dropped.
  const Bytes dmrd55 = Grown(kObpDmrd53, 1, 0x07);
  const Bytes dmrd55b = Cat({kObpDmrd53, Hex("03 4a")});
  for (const Bytes* d : {&dmrd55, &dmrd55b}) {
    Exact src(*d);
    ExpectEncodes(kObpV1,
                  [&](MutableByteSpan out) { return EncodeObpV1(src.span().data(), kHmac, out); });
  }
  // In place, as the fanout does it: the DMRD already sits in the output buffer.
  Exact buf(kObpV1.size());
  std::memcpy(buf.data(), dmrd55b.data(), dmrd55b.size());
  EXPECT_EQ(EncodeObpV1(buf.data(), kHmac, buf.mutable_span()), kObpV1Bytes);
  EXPECT_EQ(ToHex(buf.bytes()), ToHex(kObpV1));
  // SignObpV1InPlace.
  Exact buf2(kObpV1.size());
  std::memcpy(buf2.data(), kObpDmrd53.data(), kObpDmrd53.size());
  SignObpV1InPlace(buf2.data(), kHmac);
  EXPECT_EQ(ToHex(buf2.bytes()), ToHex(kObpV1));
}

TEST(ObpV1Test, EveryBitFlipFailsTheMac) { ExpectEveryBitFlipRejected(kObpV1, 4, DecodeObpV1Only); }

TEST(ObpV1Test, WrongKeyFailsTheMac) {
  DmrdView v;
  EXPECT_EQ(OnExact(kObpV1, [&](ByteSpan s) { return DecodeObpV1(s, kWrongHmac, &v); }),
            Reject::kBadMac);
  // Keys differing beyond byte 20 are the same OBP key (20-byte truncation, §2.1).
  const HmacSha1 long_key(
      ObpKeyFromPassphrase(std::string("mypass") + std::string(14, '\0') + "ignored"));
  EXPECT_EQ(OnExact(kObpV1, [&](ByteSpan s) { return DecodeObpV1(s, long_key, &v); }), Reject::kOk);
}

TEST(ObpV1Test, RefusesBadLengths) {
  ExpectEveryTruncationRejected(kObpV1, DecodeObpV1Only);
  EXPECT_EQ(OnExact(Prefix(kObpV1, 72), DecodeObpV1Only), Reject::kTruncated);
  EXPECT_EQ(OnExact(Grown(kObpV1), DecodeObpV1Only), Reject::kOversized);
  // A plain HBP DMRD is not an OBP packet.
  EXPECT_EQ(OnExact(Grown(kObpDmrd53, 2), DecodeObpV1Only), Reject::kTruncated);
}

TEST(ObpV1Test, RefusesWrongTag) {
  for (const char* tag : {"DMRE", "XXXX", "dmrd"}) {
    Bytes b = kObpV1;
    std::memcpy(b.data(), tag, 4);
    EXPECT_THAT(OnExact(b, DecodeObpV1Only), AnyOf(Reject::kBadMagic, Reject::kUnknownTag)) << tag;
  }
}

// Signed with our HMAC: these check the post-MAC field checks, not the MAC.
Bytes SignedObpV1(Bytes dmrd53) {
  dmrd53.resize(kObpV1Bytes);
  SignObpV1InPlace(dmrd53.data(), kHmac);
  return dmrd53;
}

TEST(ObpV1Test, RefusesZeroStreamAndReservedFrameType) {
  Bytes zero = kObpDmrd53;
  zero[16] = zero[17] = zero[18] = zero[19] = 0;
  EXPECT_EQ(OnExact(SignedObpV1(zero), DecodeObpV1Only), Reject::kZeroStreamId);
  Bytes ft3 = kObpDmrd53;
  ft3[15] = 0x31;
  EXPECT_EQ(OnExact(SignedObpV1(ft3), DecodeObpV1Only), Reject::kBadFrameType);
  // Sanity: re-signing the golden DMRD gives the golden packet.
  EXPECT_EQ(ToHex(SignedObpV1(kObpDmrd53)), ToHex(kObpV1));
}

// ---------------------------------------------------------------------------------------------
// DMRE.

void ExpectGoldenDmreFields(const DmreView& v) {
  EXPECT_EQ(v.dmrd.length, 55u);
  EXPECT_TRUE(v.dmrd.has_ber_rssi());
  EXPECT_EQ(v.dmrd.seq, 3u);
  EXPECT_EQ(v.dmrd.rf_src, 3120001u);
  EXPECT_EQ(v.dmrd.dst, 91u);
  EXPECT_EQ(v.dmrd.repeater_id, 23426u);
  EXPECT_EQ(v.dmrd.flags.raw, 0xA1);
  EXPECT_EQ(v.dmrd.stream_id, 0xCAFEBABEu);
  EXPECT_EQ(ToHex({v.dmrd.payload(), kDmrPayloadBytes}), ToHex(kBurst));
  EXPECT_EQ(v.dmrd.ber(), 1u);
  EXPECT_EQ(v.dmrd.rssi(), 80u);
  EXPECT_EQ(v.timestamp_ns, 1700000000123456789u);
  EXPECT_EQ(v.origin_server, 2341u);
  EXPECT_EQ(v.hops, 2u);
}

TEST(DmreTest, DecodesV5) {
  Exact buf(kDmreV5);
  DmreView v;
  ASSERT_EQ(DecodeDmre(buf.span(), kBlake, &v), Reject::kOk);
  EXPECT_EQ(ClassifyObp(buf.span()), ObpType::kDmre);
  EXPECT_EQ(v.dmrd.data, buf.span().data());
  EXPECT_EQ(v.version, 5u);
  EXPECT_EQ(v.origin_repeater, 234100101u);
  ExpectGoldenDmreFields(v);
}

TEST(DmreTest, DecodesV4) {
  Exact buf(kDmreV4);
  DmreView v;
  v.origin_repeater = 12345;
  ASSERT_EQ(DecodeDmre(buf.span(), kBlake, &v), Reject::kOk);
  EXPECT_EQ(v.version, 4u);
  EXPECT_EQ(v.origin_repeater, 0u);
  ExpectGoldenDmreFields(v);
}

DmreTrailer GoldenTrailer(uint8_t version) {
  DmreTrailer t;
  t.version = version;
  t.timestamp_ns = 1700000000123456789u;
  t.origin_server = 2341;
  t.origin_repeater = 234100101;
  t.hops = 2;
  return t;
}

TEST(DmreTest, EncodesGolden) {
  const Bytes dmrd = DmrdOfDmre();
  for (uint8_t version : {uint8_t{5}, uint8_t{4}}) {
    SCOPED_TRACE(int{version});
    const Bytes& golden = version == 5 ? kDmreV5 : kDmreV4;
    const DmreTrailer t = GoldenTrailer(version);
    Exact src(dmrd);
    ExpectEncodes(
        golden, [&](MutableByteSpan out) { return EncodeDmre(src.span().data(), t, kBlake, out); });
    // In place: the 55-byte DMRD sits at the start of the output buffer.
    Exact buf(golden.size());
    std::memcpy(buf.data(), dmrd.data(), dmrd.size());
    EXPECT_EQ(EncodeDmre(buf.data(), t, kBlake, buf.mutable_span()), golden.size());
    EXPECT_EQ(ToHex(buf.bytes()), ToHex(golden));
  }
  // A decoded DMRE re-encodes to itself.
  Exact in(kDmreV5);
  DmreView v;
  ASSERT_EQ(DecodeDmre(in.span(), kBlake, &v), Reject::kOk);
  DmreTrailer t;
  t.version = v.version;
  t.timestamp_ns = v.timestamp_ns;
  t.origin_server = v.origin_server;
  t.origin_repeater = v.origin_repeater;
  t.hops = v.hops;
  ExpectEncodes(kDmreV5,
                [&](MutableByteSpan out) { return EncodeDmre(v.dmrd.data, t, kBlake, out); });
}

TEST(DmreTest, EncoderRefusesUnsupportedVersions) {
  const Bytes dmrd = DmrdOfDmre();
  for (uint8_t version = 0; version < 4; ++version) {
    Exact out(kDmreV5Bytes);
    EXPECT_EQ(EncodeDmre(dmrd.data(), GoldenTrailer(version), kBlake, out.mutable_span()), 0u)
        << int{version};
  }
}

TEST(DmreTest, EveryBitFlipIsRefused) {
  for (const Bytes* golden : {&kDmreV5, &kDmreV4}) {
    SCOPED_TRACE(golden->size());
    for (size_t i = 0; i < golden->size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        SCOPED_TRACE(testing::Message() << "byte " << i << " bit " << bit);
        Bytes b = *golden;
        b[i] ^= static_cast<uint8_t>(1u << bit);
        const Reject r = OnExact(b, DecodeDmreOnly);
        if (i < 4) {
          EXPECT_THAT(r, AnyOf(Reject::kBadMagic, Reject::kUnknownTag, Reject::kBadMac));
        } else if (i == dmre_offset::kVersion) {
          // Another version changes the layout or is refused outright.
          EXPECT_THAT(r, AnyOf(Reject::kBadMac, Reject::kUnsupportedVersion, Reject::kTruncated,
                               Reject::kOversized));
        } else {
          EXPECT_EQ(r, Reject::kBadMac);
        }
      }
    }
  }
}

TEST(DmreTest, WrongKeyFailsTheMac) {
  DmreView v;
  for (const Bytes* golden : {&kDmreV5, &kDmreV4}) {
    EXPECT_EQ(OnExact(*golden, [&](ByteSpan s) { return DecodeDmre(s, kWrongBlake, &v); }),
              Reject::kBadMac);
  }
  // BLAKE2b takes the 20-byte NUL-padded key: the bare 6-byte passphrase is a different key.
  const std::string_view bare = "mypass";
  const Blake2bMac128 bare_key(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bare.data()), bare.size()));
  EXPECT_EQ(OnExact(kDmreV5, [&](ByteSpan s) { return DecodeDmre(s, bare_key, &v); }),
            Reject::kBadMac);
}

// `golden` with byte 55 set to `version`, correctly signed for the layout of `golden` (our
// BLAKE2b: the point is the version check, whatever order the decoder checks things in).
Bytes WithVersion(const Bytes& golden, uint8_t version) {
  Bytes b = golden;
  b[dmre_offset::kVersion] = version;
  const size_t mac_off = golden.size() - Blake2bMac128::kMacBytes;
  kBlake.Sign(ByteSpan(b.data(), mac_off), b.data() + mac_off);
  return b;
}

TEST(DmreTest, RefusesUnsupportedVersions) {
  // Sanity: re-signing the goldens gives the goldens.
  EXPECT_EQ(ToHex(WithVersion(kDmreV5, 5)), ToHex(kDmreV5));
  EXPECT_EQ(ToHex(WithVersion(kDmreV4, 4)), ToHex(kDmreV4));
  for (uint8_t version : {0, 1, 2, 3}) {
    SCOPED_TRACE(int{version});
    EXPECT_EQ(OnExact(WithVersion(kDmreV5, version), DecodeDmreOnly), Reject::kUnsupportedVersion);
    EXPECT_EQ(OnExact(WithVersion(kDmreV4, version), DecodeDmreOnly), Reject::kUnsupportedVersion);
    // Even with a broken MAC.
    Bytes bad = WithVersion(kDmreV5, version);
    bad.back() ^= 1;
    EXPECT_THAT(OnExact(bad, DecodeDmreOnly), AnyOf(Reject::kUnsupportedVersion, Reject::kBadMac));
  }
}

TEST(DmreTest, RefusesBadLengths) {
  ExpectEveryTruncationRejected(kDmreV5, DecodeDmreOnly);
  ExpectEveryTruncationRejected(kDmreV4, DecodeDmreOnly);
  EXPECT_EQ(OnExact(Grown(kDmreV5), DecodeDmreOnly), Reject::kOversized);
  EXPECT_EQ(OnExact(Grown(kDmreV4), DecodeDmreOnly), Reject::kOversized);
  // A v4 version byte in an 89-byte packet, a v5 one in 85 bytes.
  EXPECT_EQ(OnExact(WithVersion(Grown(kDmreV4, 4), 4), DecodeDmreOnly), Reject::kOversized);
  EXPECT_EQ(OnExact(WithVersion(Prefix(kDmreV5, 85), 5), DecodeDmreOnly), Reject::kTruncated);
}

TEST(DmreTest, RefusesWrongTag) {
  for (const char* tag : {"DMRD", "XXXX", "dmre"}) {
    Bytes b = kDmreV5;
    std::memcpy(b.data(), tag, 4);
    EXPECT_THAT(OnExact(b, DecodeDmreOnly), AnyOf(Reject::kBadMagic, Reject::kUnknownTag)) << tag;
  }
}

TEST(DmreTest, RefusesZeroStreamAndReservedFrameType) {
  for (const Bytes* golden : {&kDmreV5, &kDmreV4}) {
    const uint8_t version = (*golden)[dmre_offset::kVersion];
    Bytes zero = *golden;
    zero[16] = zero[17] = zero[18] = zero[19] = 0;
    EXPECT_EQ(OnExact(WithVersion(zero, version), DecodeDmreOnly), Reject::kZeroStreamId);
    Bytes ft3 = *golden;
    ft3[15] = 0xB1;
    EXPECT_EQ(OnExact(WithVersion(ft3, version), DecodeDmreOnly), Reject::kBadFrameType);
  }
}

// ---------------------------------------------------------------------------------------------
// Bridge control.

TEST(BckaTest, DecodesAndEncodesGolden) {
  EXPECT_EQ(OnExact(kBcka, DecodeBckaOnly), Reject::kOk);
  EXPECT_EQ(OnExact(kBcka, [](ByteSpan s) { return ClassifyObp(s); }), ObpType::kBcka);
  ExpectEncodes(kBcka, [](MutableByteSpan out) { return EncodeBcka(kHmac, out); });
  ExpectEveryBitFlipRejected(kBcka, 4, DecodeBckaOnly);
  EXPECT_EQ(OnExact(kBcka, [](ByteSpan s) { return DecodeBcka(s, kWrongHmac); }), Reject::kBadMac);
  ExpectEveryTruncationRejected(kBcka, DecodeBckaOnly);
  EXPECT_EQ(OnExact(Grown(kBcka), DecodeBckaOnly), Reject::kOversized);
  // BCST's MAC is not a BCKA's.
  Bytes b = kBcst;
  std::memcpy(b.data(), "BCKA", 4);
  EXPECT_EQ(OnExact(b, DecodeBckaOnly), Reject::kBadMac);
}

TEST(BcsqTest, DecodesAndEncodesGolden) {
  Exact buf(kBcsq);
  Bcsq q;
  ASSERT_EQ(DecodeBcsq(buf.span(), kHmac, &q), Reject::kOk);
  EXPECT_EQ(ClassifyObp(buf.span()), ObpType::kBcsq);
  EXPECT_EQ(q.tg, 91u);
  EXPECT_EQ(q.stream_id, 0xCAFEBABEu);
  ExpectEncodes(kBcsq, [&](MutableByteSpan out) { return EncodeBcsq(q, kHmac, out); });
  Bcsq r;
  r.tg = 91;
  r.stream_id = 0xCAFEBABE;
  ExpectEncodes(kBcsq, [&](MutableByteSpan out) { return EncodeBcsq(r, kHmac, out); });
  // The MAC covers bytes 0..10: the TG and the stream ID are protected.
  ExpectEveryBitFlipRejected(kBcsq, 4, DecodeBcsqOnly);
  EXPECT_EQ(OnExact(kBcsq, [&](ByteSpan s) { return DecodeBcsq(s, kWrongHmac, &q); }),
            Reject::kBadMac);
  ExpectEveryTruncationRejected(kBcsq, DecodeBcsqOnly);
  EXPECT_EQ(OnExact(Grown(kBcsq), DecodeBcsqOnly), Reject::kOversized);
}

TEST(BcveTest, DecodesAndEncodesGolden) {
  for (const Bytes* golden : {&kBcve5, &kBcve4}) {
    const uint8_t expected = (*golden)[4];
    SCOPED_TRACE(int{expected});
    Exact buf(*golden);
    uint8_t version = 0;
    ASSERT_EQ(DecodeBcve(buf.span(), kHmac, &version), Reject::kOk);
    EXPECT_EQ(ClassifyObp(buf.span()), ObpType::kBcve);
    EXPECT_EQ(version, expected);
    ExpectEncodes(*golden, [&](MutableByteSpan out) { return EncodeBcve(expected, kHmac, out); });
    ExpectEveryBitFlipRejected(*golden, 4, DecodeBcveOnly);
    EXPECT_EQ(OnExact(*golden, [&](ByteSpan s) { return DecodeBcve(s, kWrongHmac, &version); }),
              Reject::kBadMac);
    ExpectEveryTruncationRejected(*golden, DecodeBcveOnly);
    EXPECT_EQ(OnExact(Grown(*golden), DecodeBcveOnly), Reject::kOversized);
  }
  // One version's MAC does not fit another.
  Bytes b = kBcve5;
  b[4] = 4;
  EXPECT_EQ(OnExact(b, DecodeBcveOnly), Reject::kBadMac);
}

TEST(BcstTest, DecodesAndEncodesGolden) {
  EXPECT_EQ(OnExact(kBcst, DecodeBcstOnly), Reject::kOk);
  EXPECT_EQ(OnExact(kBcst, [](ByteSpan s) { return ClassifyObp(s); }), ObpType::kBcst);
  ExpectEncodes(kBcst, [](MutableByteSpan out) { return EncodeBcst(kHmac, out); });
  // FreeDMR never validates BCST; we do.
  ExpectEveryBitFlipRejected(kBcst, 4, DecodeBcstOnly);
  EXPECT_EQ(OnExact(kBcst, [](ByteSpan s) { return DecodeBcst(s, kWrongHmac); }), Reject::kBadMac);
  ExpectEveryTruncationRejected(kBcst, DecodeBcstOnly);
  EXPECT_EQ(OnExact(Grown(kBcst), DecodeBcstOnly), Reject::kOversized);
  Bytes b = kBcka;
  std::memcpy(b.data(), "BCST", 4);
  EXPECT_EQ(OnExact(b, DecodeBcstOnly), Reject::kBadMac);
}

// ---------------------------------------------------------------------------------------------
// Classification and cross-checks.

TEST(ObpClassifyTest, EveryGoldenPacketAndJunk) {
  auto classify = [](const Bytes& b) {
    return OnExact(b, [](ByteSpan s) { return ClassifyObp(s); });
  };
  EXPECT_EQ(classify(kObpV1), ObpType::kDmrd);
  EXPECT_EQ(classify(kDmreV5), ObpType::kDmre);
  EXPECT_EQ(classify(kDmreV4), ObpType::kDmre);
  EXPECT_EQ(classify(kBcka), ObpType::kBcka);
  EXPECT_EQ(classify(kBcsq), ObpType::kBcsq);
  EXPECT_EQ(classify(kBcve5), ObpType::kBcve);
  EXPECT_EQ(classify(kBcst), ObpType::kBcst);
  for (size_t n = 0; n < 4; ++n) {
    EXPECT_EQ(classify(Prefix(kObpV1, n)), ObpType::kUnknown) << n;
  }
  for (const char* tag : {"DMRF", "EOBP", "RPTL", "DMRA", "BCXX", "bcka", "    "}) {
    Bytes b = Grown(Bytes(tag, tag + 4), 20);
    EXPECT_EQ(classify(b), ObpType::kUnknown) << tag;
  }
  // Classification looks at the tag only.
  EXPECT_EQ(classify(Bytes{'B', 'C', 'K', 'A'}), ObpType::kBcka);
}

TEST(ObpClassifyTest, Names) {
  EXPECT_EQ(ObpTypeName(ObpType::kUnknown), "unknown");
  EXPECT_EQ(ObpTypeName(ObpType::kDmrd), "DMRD");
  EXPECT_EQ(ObpTypeName(ObpType::kDmre), "DMRE");
  EXPECT_EQ(ObpTypeName(ObpType::kBcka), "BCKA");
  EXPECT_EQ(ObpTypeName(ObpType::kBcsq), "BCSQ");
  EXPECT_EQ(ObpTypeName(ObpType::kBcve), "BCVE");
  EXPECT_EQ(ObpTypeName(ObpType::kBcst), "BCST");
  EXPECT_EQ(ObpTypeName(static_cast<ObpType>(99)), "unknown");
}

TEST(ObpCrossTest, DecodersAcceptOnlyTheirOwnPackets) {
  struct Decoder {
    const char* name;
    Reject (*decode)(ByteSpan);
    std::vector<const Bytes*> own;
  };
  const std::vector<Decoder> decoders = {
      {"obp_v1", DecodeObpV1Only, {&kObpV1}},       {"dmre", DecodeDmreOnly, {&kDmreV5, &kDmreV4}},
      {"bcka", DecodeBckaOnly, {&kBcka}},           {"bcsq", DecodeBcsqOnly, {&kBcsq}},
      {"bcve", DecodeBcveOnly, {&kBcve5, &kBcve4}}, {"bcst", DecodeBcstOnly, {&kBcst}},
  };
  const std::vector<const Bytes*> all = {&kObpV1, &kDmreV5, &kDmreV4, &kBcka,
                                         &kBcsq,  &kBcve5,  &kBcve4,  &kBcst};
  for (const Decoder& d : decoders) {
    for (const Bytes* pkt : all) {
      const bool own = std::find(d.own.begin(), d.own.end(), pkt) != d.own.end();
      SCOPED_TRACE(testing::Message() << d.name << " on " << ToHex(Prefix(*pkt, 4)) << " ("
                                      << pkt->size() << " bytes)");
      const Reject r = OnExact(*pkt, d.decode);
      if (own) {
        EXPECT_EQ(r, Reject::kOk);
      } else {
        EXPECT_NE(r, Reject::kOk);
      }
    }
  }
}

}  // namespace
}  // namespace dmrswitch::proto
