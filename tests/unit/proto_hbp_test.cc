// HBP codec tests. Every golden packet below is written out by hand from the layouts of
// PROTOCOL.md §1.2-1.7 (tags as ASCII, integers as big-endian hex), never produced by our
// encoders, so a wrong offset or width in hbp.cc makes a test fail. Decoders always run on an
// exact-size heap copy of the input: in the sanitizer build a read past the span is an ASan error.
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
#include "dataplane/proto/hbp.h"
#include "dataplane/proto/reject.h"
#include "tests/common/hex.h"

namespace dmrswitch::proto {

// Readable failure messages (found by ADL, so outside the anonymous namespace).
void PrintTo(Reject r, std::ostream* os) { *os << RejectName(r); }
void PrintTo(HbpType t, std::ostream* os) { *os << HbpTypeName(t); }

namespace {

using Bytes = std::vector<uint8_t>;
using ::testing::AnyOf;

// "44 4d 52 44" -> bytes; spaces are ignored.
using ::dmrswitch::test_support::Hex;

Bytes Str(std::string_view s) { return Bytes(s.begin(), s.end()); }

// `s` left-justified in a field of `width` spaces (the MMDVMHost "%-N.Ns" format).
Bytes Padded(std::string_view s, size_t width) {
  if (s.size() > width) std::abort();
  Bytes b(width, ' ');
  std::copy(s.begin(), s.end(), b.begin());
  return b;
}

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

// A heap buffer of exactly the input's size: nothing after it belongs to the test, so ASan
// reports a decoder that reads (or an encoder that writes) past the span.
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
  Bytes bytes() const { return Bytes(data_.get(), data_.get() + size_); }

 private:
  size_t size_;
  std::unique_ptr<uint8_t[]> data_;
};

Bytes Prefix(const Bytes& b, size_t n) { return Bytes(b.begin(), b.begin() + n); }
Bytes Grown(Bytes b, size_t extra = 1, uint8_t fill = 0) {
  b.insert(b.end(), extra, fill);
  return b;
}

// Runs `decode(ByteSpan) -> Reject` on an exact-size heap copy of `bytes`.
template <typename Decode>
auto OnExact(std::span<const uint8_t> bytes, Decode decode) {
  Exact copy(bytes);
  return decode(copy.span());
}

// Every prefix of `golden` shorter than it is refused: with kTruncated once the whole tag is in,
// with kTruncated, kUnknownTag or kBadMagic while the tag itself is cut. Lengths in `skip` are
// other legal forms of the same packet (checked by the caller).
template <typename Decode>
void ExpectEveryTruncationRejected(const Bytes& golden, size_t tag_len, Decode decode,
                                   std::initializer_list<size_t> skip = {}) {
  for (size_t n = 0; n < golden.size(); ++n) {
    if (std::find(skip.begin(), skip.end(), n) != skip.end()) continue;
    SCOPED_TRACE(testing::Message() << "prefix of " << n << " bytes");
    const Reject r = OnExact(Prefix(golden, n), decode);
    if (n < tag_len) {
      EXPECT_THAT(r, AnyOf(Reject::kTruncated, Reject::kUnknownTag, Reject::kBadMagic));
    } else {
      EXPECT_EQ(r, Reject::kTruncated);
    }
  }
}

// Lower-casing any one tag byte makes the tag unknown or wrong.
template <typename Decode>
void ExpectEveryTagByteChecked(const Bytes& golden, size_t tag_len, Decode decode) {
  for (size_t i = 0; i < tag_len; ++i) {
    SCOPED_TRACE(testing::Message() << "tag byte " << i);
    Bytes b = golden;
    b[i] ^= 0x20;
    EXPECT_THAT(OnExact(b, decode), AnyOf(Reject::kBadMagic, Reject::kUnknownTag));
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

// Decoders as ByteSpan -> Reject, for the sweeps.
Reject DecodeIdOnly(ByteSpan s) {
  HbpIdPacket p;
  return DecodeHbpIdPacket(s, &p);
}
Reject DecodeDmrdOnly(ByteSpan s) {
  DmrdView v;
  return DecodeDmrd(s, &v);
}
Reject DecodeRptkOnly(ByteSpan s) {
  Rptk p;
  return DecodeRptk(s, &p);
}
Reject DecodeRptcOnly(ByteSpan s) {
  Rptc p;
  return DecodeRptc(s, &p);
}
Reject DecodeRptoOnly(ByteSpan s) {
  Rpto p;
  return DecodeRpto(s, &p);
}
Reject DecodeDmraOnly(ByteSpan s) {
  Dmra p;
  return DecodeDmra(s, &p);
}
Reject DecodeDmrgOnly(ByteSpan s) {
  Dmrg p;
  return DecodeDmrg(s, &p);
}
Reject DecodeRptgOnly(ByteSpan s) {
  Rptg p;
  return DecodeRptg(s, &p);
}
Reject DecodeDmrcOnly(ByteSpan s) {
  Dmrc p;
  return DecodeDmrc(s, &p);
}

// ---------------------------------------------------------------------------------------------
// Golden packets (PROTOCOL.md §1.2-1.7). IDs: hotspot 312000101 = 0x1298BE65, subscriber
// 3120001 = 0x2F9B81, TG 91 = 0x00005B.

const Bytes kRptl = Hex("52 50 54 4c  12 98 be 65");  // "RPTL" id
// "RPTACK" salt 0x0A7ED498 (the login test vector of §1.5).
const Bytes kRptackSalt = Hex("52 50 54 41 43 4b  0a 7e d4 98");
const Bytes kRptackBare = Hex("52 50 54 41 43 4b");               // xlxd
const Bytes kMstnak = Hex("4d 53 54 4e 41 4b  12 98 be 65");      // "MSTNAK" id
const Bytes kRptping = Hex("52 50 54 50 49 4e 47  12 98 be 65");  // "RPTPING" id
const Bytes kMstpong = Hex("4d 53 54 50 4f 4e 47  12 98 be 65");  // "MSTPONG" id
const Bytes kRptcl = Hex("52 50 54 43 4c  12 98 be 65");          // "RPTCL" id
const Bytes kMstcl = Hex("4d 53 54 43 4c  12 98 be 65");          // "MSTCL" id
const Bytes kRptsbkn = Hex("52 50 54 53 42 4b 4e  12 98 be 65");  // "RPTSBKN" id
const Bytes kRptsbknShort = Hex("52 50 54 53 42 4b 4e");          // compared on 7 bytes
// "RPTK" id + SHA256(salt 0A7ED498 || "passw0rd") (§1.5 test vector), binary.
const Bytes kRptk =
    Hex("52 50 54 4b  12 98 be 65"
        "83 18 78 ed 07 30 09 9e e0 0f 41 93 62 c2 c7 a5"
        "b8 3d 73 8e bb c2 85 e5 25 24 93 3b b2 0e 0a ff");

// 33 payload bytes of a burst (contents do not matter to the codec).
const Bytes kBurst =
    Hex("00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff"
        "10 21 32 43 54 65 76 87 98 a9 ba cb dc ed fe 0f"
        "5a");

// DMRD as MMDVMHost sends it: voice LC header (flags 0xA1: TS2, group, data sync, dtype 1),
// seq 0, 3120001 -> TG 91 via 312000101, stream 0x1234ABCD, BER 2, RSSI 69 (-69 dBm).
const Bytes kDmrd55 = Cat({Hex("44 4d 52 44"  // "DMRD"
                               "00"           // seq
                               "2f 9b 81"     // rf_src
                               "00 00 5b"     // dst
                               "12 98 be 65"  // repeater
                               "a1"           // flags
                               "12 34 ab cd"),
                           kBurst, Hex("02 45")});
const Bytes kDmrd53 = Prefix(kDmrd55, 53);

// "DMRA" src(3) block(1) 7 TA bytes: header block, ISO-8 format, 6 characters, "N0CALL".
const Bytes kDmra15 = Hex("44 4d 52 41  2f 9b 81  00  4c 4e 30 43 41 4c 4c");
// DMRGateway form: repeater ID after the tag; block 1 " Manche".
const Bytes kDmra19 = Hex("44 4d 52 41  12 98 be 65  2f 9b 81  01  20 4d 61 6e 63 68 65");
// "DMRG" src(3) 7 GPS bytes, and the DMRGateway form.
const Bytes kDmrg14 = Hex("44 4d 52 47  2f 9b 81  0a 1b 2c 3d 4e 5f 60");
const Bytes kDmrg18 = Hex("44 4d 52 47  12 98 be 65  2f 9b 81  0a 1b 2c 3d 4e 5f 60");
// "RPTG" id "%+08.4f%+09.4f" of 50.0, -3.0.
const Bytes kRptg = Cat({Hex("52 50 54 47  12 98 be 65"), Str("+50.0000"), Str("-003.0000")});
// "RPTO" id options.
const Bytes kRpto = Cat({Hex("52 50 54 4f  12 98 be 65"), Str("TS1=3100;TS2=91,9990;TIMER=10")});

// RPTC as MMDVMHost (Pi-Star, DMO duplex hat) sends it; §1.4.
Bytes MmdvmHostRptc(const Bytes& id) {
  return Cat({Str("RPTC"), id, Str("N0CALL  "), Str("449000000"), Str("444000000"), Str("01"),
              Str("01"), Str("50.00000"), Str("-003.0000"), Str("000"),
              Padded("Manchester, UK", 20), Padded("Pi-Star", 19), Str("4"),
              Padded("https://www.qrz.com/db/N0CALL", 124), Padded("20230101_Pi-Star", 40),
              Padded("MMDVM_MMDVM_HS_Dual_Hat", 40)});
}
const Bytes kRptc = MmdvmHostRptc(Hex("12 98 be 65"));

// "DMRC" id call(8) rx(9) tx(9) pwr(2) cc(2) slots(1) version(40) hw(40).
const Bytes kDmrc = Cat({Hex("44 4d 52 43  12 98 be 65"), Str("N0CALL  "), Str("449000000"),
                         Str("444000000"), Str("01"), Str("01"), Str("3"),
                         Padded("20230606_MMDVMHost", 40), Padded("MMDVM_MMDVM_HS_Dual_Hat", 40)});

// ---------------------------------------------------------------------------------------------
// Sizes.

TEST(HbpGoldenTest, SizesMatchTheCatalogue) {
  EXPECT_EQ(kRptl.size(), kRptlBytes);
  EXPECT_EQ(kRptackSalt.size(), kRptackBytes);
  EXPECT_EQ(kRptackBare.size(), kRptackBareBytes);
  EXPECT_EQ(kMstnak.size(), kMstnakBytes);
  EXPECT_EQ(kRptk.size(), kRptkBytes);
  EXPECT_EQ(kRptc.size(), kRptcBytes);
  EXPECT_EQ(kRptping.size(), kRptpingBytes);
  EXPECT_EQ(kMstpong.size(), kMstpongBytes);
  EXPECT_EQ(kRptcl.size(), kRptclBytes);
  EXPECT_EQ(kMstcl.size(), kMstclBytes);
  EXPECT_EQ(kDmrd55.size(), kDmrdBytes);
  EXPECT_EQ(kDmrd53.size(), kDmrdShortBytes);
  EXPECT_EQ(kDmra15.size(), kDmraBytes);
  EXPECT_EQ(kDmra19.size(), kDmraGatewayBytes);
  EXPECT_EQ(kDmrg14.size(), kDmrgBytes);
  EXPECT_EQ(kDmrg18.size(), kDmrgGatewayBytes);
  EXPECT_EQ(kRptg.size(), kRptgBytes);
  EXPECT_EQ(kRptsbkn.size(), kRptsbknBytes);
  EXPECT_EQ(kRptsbknShort.size(), kRptsbknMinBytes);
  EXPECT_EQ(kDmrc.size(), kDmrcBytes);
  // The catalogue's numbers, independently of hbp.h.
  EXPECT_EQ(kRptl.size(), 8u);
  EXPECT_EQ(kRptk.size(), 40u);
  EXPECT_EQ(kRptc.size(), 302u);
  EXPECT_EQ(kRptping.size(), 11u);
  EXPECT_EQ(kRptcl.size(), 9u);
  EXPECT_EQ(kDmrd55.size(), 55u);
  EXPECT_EQ(kRptg.size(), 25u);
  EXPECT_EQ(kDmrc.size(), 119u);
}

// ---------------------------------------------------------------------------------------------
// ID-only packets: RPTL, RPTACK, MSTNAK, RPTPING, MSTPONG, RPTCL, MSTCL, RPTSBKN.

struct IdCase {
  const char* name;
  const Bytes* golden;
  HbpType type;
  size_t tag_len;
  uint32_t value;
};

class HbpIdPacketTest : public testing::TestWithParam<IdCase> {};

TEST_P(HbpIdPacketTest, DecodesGolden) {
  const IdCase& c = GetParam();
  Exact buf(*c.golden);
  HbpIdPacket p;
  p.has_value = false;
  ASSERT_EQ(DecodeHbpIdPacket(buf.span(), &p), Reject::kOk);
  EXPECT_EQ(p.type, c.type);
  EXPECT_EQ(p.value, c.value);
  EXPECT_TRUE(p.has_value);
  EXPECT_EQ(ClassifyHbp(buf.span()), c.type);
}

TEST_P(HbpIdPacketTest, EncodesGolden) {
  const IdCase& c = GetParam();
  ExpectEncodes(*c.golden,
                [&](MutableByteSpan out) { return EncodeHbpIdPacket(c.type, c.value, out); });
}

TEST_P(HbpIdPacketTest, EveryTruncationIsRefused) {
  const IdCase& c = GetParam();
  // RPTACK's first 6 bytes are the bare ack; RPTSBKN's first 7..10 the short beacon request.
  if (c.type == HbpType::kRptack) {
    ExpectEveryTruncationRejected(*c.golden, c.tag_len, DecodeIdOnly, {6});
  } else if (c.type == HbpType::kRptsbkn) {
    ExpectEveryTruncationRejected(*c.golden, c.tag_len, DecodeIdOnly, {7, 8, 9, 10});
  } else {
    ExpectEveryTruncationRejected(*c.golden, c.tag_len, DecodeIdOnly);
  }
}

TEST_P(HbpIdPacketTest, OneByteMoreIsOversized) {
  const IdCase& c = GetParam();
  EXPECT_EQ(OnExact(Grown(*c.golden), DecodeIdOnly), Reject::kOversized);
  EXPECT_EQ(OnExact(Grown(*c.golden, 100, 'x'), DecodeIdOnly), Reject::kOversized);
}

TEST_P(HbpIdPacketTest, WrongTagIsRefused) {
  const IdCase& c = GetParam();
  ExpectEveryTagByteChecked(*c.golden, c.tag_len, DecodeIdOnly);
  Bytes unknown = *c.golden;
  std::memcpy(unknown.data(), "XXXX", 4);
  EXPECT_EQ(OnExact(unknown, DecodeIdOnly), Reject::kUnknownTag);
}

INSTANTIATE_TEST_SUITE_P(
    AllIdPackets, HbpIdPacketTest,
    testing::Values(IdCase{"RPTL", &kRptl, HbpType::kRptl, 4, 312000101},
                    IdCase{"RPTACK", &kRptackSalt, HbpType::kRptack, 6, 0x0A7ED498},
                    IdCase{"MSTNAK", &kMstnak, HbpType::kMstnak, 6, 312000101},
                    IdCase{"RPTPING", &kRptping, HbpType::kRptping, 7, 312000101},
                    IdCase{"MSTPONG", &kMstpong, HbpType::kMstpong, 7, 312000101},
                    IdCase{"RPTCL", &kRptcl, HbpType::kRptcl, 5, 312000101},
                    IdCase{"MSTCL", &kMstcl, HbpType::kMstcl, 5, 312000101},
                    IdCase{"RPTSBKN", &kRptsbkn, HbpType::kRptsbkn, 7, 312000101}),
    [](const testing::TestParamInfo<IdCase>& info) { return std::string(info.param.name); });

TEST(HbpIdPacketFormsTest, RptackCarriesAnIdAfterLogin) {
  const Bytes golden = Hex("52 50 54 41 43 4b  12 98 be 65");
  Exact buf(golden);
  HbpIdPacket p;
  ASSERT_EQ(DecodeHbpIdPacket(buf.span(), &p), Reject::kOk);
  EXPECT_EQ(p.type, HbpType::kRptack);
  EXPECT_EQ(p.value, 312000101u);
  ExpectEncodes(golden, [](MutableByteSpan out) {
    return EncodeHbpIdPacket(HbpType::kRptack, 312000101, out);
  });
}

TEST(HbpIdPacketFormsTest, BareRptackDecodesWithoutValue) {
  Exact buf(kRptackBare);
  HbpIdPacket p;
  p.value = 77;
  ASSERT_EQ(DecodeHbpIdPacket(buf.span(), &p), Reject::kOk);
  EXPECT_EQ(p.type, HbpType::kRptack);
  EXPECT_FALSE(p.has_value);
  EXPECT_EQ(p.value, 0u);
  EXPECT_EQ(ClassifyHbp(buf.span()), HbpType::kRptack);
  // Truncations: tag cut.
  ExpectEveryTruncationRejected(kRptackBare, 6, DecodeIdOnly);
  // 7..9 bytes are a truncated 10-byte RPTACK; 11 and more are oversized.
  for (size_t n = 7; n < kRptackBytes; ++n) {
    EXPECT_EQ(OnExact(Grown(kRptackBare, n - 6), DecodeIdOnly), Reject::kTruncated) << n;
  }
  EXPECT_EQ(OnExact(Grown(kRptackBare, 5), DecodeIdOnly), Reject::kOversized);
  ExpectEveryTagByteChecked(kRptackBare, 6, DecodeIdOnly);
  // dmrswitch always sends the full form (PROTOCOL.md Part C).
  Exact out(kRptackBytes);
  EXPECT_EQ(EncodeHbpIdPacket(HbpType::kRptack, 0, out.mutable_span()), kRptackBytes);
  EXPECT_EQ(ToHex(out.bytes()), "52505441434b00000000");
}

TEST(HbpIdPacketFormsTest, ShortBeaconRequestDecodesWithoutValue) {
  for (size_t n = kRptsbknMinBytes; n < kRptsbknBytes; ++n) {
    SCOPED_TRACE(n);
    Exact buf(Prefix(kRptsbkn, n));
    HbpIdPacket p;
    p.value = 77;
    ASSERT_EQ(DecodeHbpIdPacket(buf.span(), &p), Reject::kOk);
    EXPECT_EQ(p.type, HbpType::kRptsbkn);
    EXPECT_FALSE(p.has_value);
    EXPECT_EQ(p.value, 0u);
  }
  ExpectEveryTruncationRejected(kRptsbknShort, 7, DecodeIdOnly);
  ExpectEveryTagByteChecked(kRptsbknShort, 7, DecodeIdOnly);
  EXPECT_EQ(OnExact(Grown(kRptsbkn), DecodeIdOnly), Reject::kOversized);
}

TEST(HbpIdPacketFormsTest, OtherPacketTypesAreNotIdPackets) {
  for (const Bytes* b : {&kRptk, &kRptc, &kRpto, &kDmrd55, &kDmra15, &kDmrg14, &kRptg, &kDmrc}) {
    SCOPED_TRACE(ToHex(Prefix(*b, 4)));
    EXPECT_EQ(OnExact(*b, DecodeIdOnly), Reject::kBadMagic);
  }
  for (HbpType t :
       {HbpType::kUnknown, HbpType::kRptk, HbpType::kRptc, HbpType::kRpto, HbpType::kDmrd,
        HbpType::kDmra, HbpType::kDmrg, HbpType::kRptg, HbpType::kDmrc}) {
    Exact out(64);
    EXPECT_EQ(EncodeHbpIdPacket(t, 1, out.mutable_span()), 0u) << HbpTypeName(t);
  }
}

// ---------------------------------------------------------------------------------------------
// RPTK.

TEST(HbpRptkTest, DecodesGolden) {
  Exact buf(kRptk);
  Rptk p;
  ASSERT_EQ(DecodeRptk(buf.span(), &p), Reject::kOk);
  EXPECT_EQ(p.id, 312000101u);
  EXPECT_EQ(ToHex(p.digest), "831878ed0730099ee00f419362c2c7a5b83d738ebbc285e52524933bb20e0aff");
  EXPECT_EQ(ClassifyHbp(buf.span()), HbpType::kRptk);
}

TEST(HbpRptkTest, EncodesGolden) {
  Rptk p;
  p.id = 312000101;
  const Bytes digest = Prefix(Bytes(kRptk.begin() + 8, kRptk.end()), 32);
  std::copy(digest.begin(), digest.end(), p.digest.begin());
  ExpectEncodes(kRptk, [&](MutableByteSpan out) { return EncodeRptk(p, out); });
}

TEST(HbpRptkTest, RefusesBadLengthsAndTags) {
  ExpectEveryTruncationRejected(kRptk, 4, DecodeRptkOnly);
  EXPECT_EQ(OnExact(Grown(kRptk), DecodeRptkOnly), Reject::kOversized);
  ExpectEveryTagByteChecked(kRptk, 4, DecodeRptkOnly);
  Bytes rptl_shaped = kRptk;
  rptl_shaped[3] = 'L';
  EXPECT_EQ(OnExact(rptl_shaped, DecodeRptkOnly), Reject::kBadMagic);
}

// ---------------------------------------------------------------------------------------------
// RPTC.

TEST(HbpRptcTest, GoldenHasTheDocumentedOffsets) {
  // Spot checks of PROTOCOL.md §1.4's offset column against the hand-built packet.
  ASSERT_EQ(kRptc.size(), 302u);
  auto at = [](size_t off, size_t len) {
    return std::string(kRptc.begin() + static_cast<ptrdiff_t>(off),
                       kRptc.begin() + static_cast<ptrdiff_t>(off + len));
  };
  EXPECT_EQ(at(8, 8), "N0CALL  ");
  EXPECT_EQ(at(16, 9), "449000000");
  EXPECT_EQ(at(25, 9), "444000000");
  EXPECT_EQ(at(34, 2), "01");
  EXPECT_EQ(at(36, 2), "01");
  EXPECT_EQ(at(38, 8), "50.00000");
  EXPECT_EQ(at(46, 9), "-003.0000");
  EXPECT_EQ(at(55, 3), "000");
  EXPECT_EQ(at(58, 14), "Manchester, UK");
  EXPECT_EQ(at(78, 7), "Pi-Star");
  EXPECT_EQ(at(97, 1), "4");
  EXPECT_EQ(at(98, 8), "https://");
  EXPECT_EQ(at(222, 16), "20230101_Pi-Star");
  EXPECT_EQ(at(262, 23), "MMDVM_MMDVM_HS_Dual_Hat");
  EXPECT_EQ(at(285, 17), std::string(17, ' '));
}

TEST(HbpRptcTest, DecodesMmdvmHostConfig) {
  Exact buf(kRptc);
  Rptc p;
  ASSERT_EQ(DecodeRptc(buf.span(), &p), Reject::kOk);
  EXPECT_EQ(ClassifyHbp(buf.span()), HbpType::kRptc);
  EXPECT_EQ(p.id, 312000101u);
  const RptcConfig& c = p.config;
  EXPECT_EQ(c.callsign, "N0CALL  ");
  EXPECT_EQ(c.rx_freq, "449000000");
  EXPECT_EQ(c.tx_freq, "444000000");
  EXPECT_EQ(c.tx_power, "01");
  EXPECT_EQ(c.color_code, "01");
  EXPECT_EQ(c.latitude, "50.00000");
  EXPECT_EQ(c.longitude, "-003.0000");
  EXPECT_EQ(c.height, "000");
  EXPECT_EQ(c.location, "Manchester, UK      ");
  EXPECT_EQ(c.description, "Pi-Star            ");
  EXPECT_EQ(c.slots, '4');
  EXPECT_EQ(RptcSlotMask(c.slots), 2u);
  EXPECT_EQ(c.url.size(), 124u);
  EXPECT_EQ(c.url.substr(0, 29), "https://www.qrz.com/db/N0CALL");
  EXPECT_EQ(c.url.find_first_not_of(' ', 29), std::string_view::npos);
  EXPECT_EQ(c.software_id, std::string("20230101_Pi-Star") + std::string(24, ' '));
  EXPECT_EQ(c.package_id, std::string("MMDVM_MMDVM_HS_Dual_Hat") + std::string(17, ' '));
  // Views point into the caller's buffer.
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(c.callsign.data()), buf.span().data() + 8);
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(c.package_id.data()), buf.span().data() + 262);
}

TEST(HbpRptcTest, EncodesGoldenFromDecodedAndFromUnpaddedFields) {
  {
    Exact buf(kRptc);
    Rptc p;
    ASSERT_EQ(DecodeRptc(buf.span(), &p), Reject::kOk);
    ExpectEncodes(kRptc, [&](MutableByteSpan out) { return EncodeRptc(p, out); });
  }
  Rptc p;
  p.id = 312000101;
  RptcConfig& c = p.config;
  c.callsign = "N0CALL";
  c.rx_freq = "449000000";
  c.tx_freq = "444000000";
  c.tx_power = "01";
  c.color_code = "01";
  c.latitude = "50.00000";
  c.longitude = "-003.0000";
  c.height = "000";
  c.location = "Manchester, UK";
  c.description = "Pi-Star";
  c.slots = '4';
  c.url = "https://www.qrz.com/db/N0CALL";
  c.software_id = "20230101_Pi-Star";
  c.package_id = "MMDVM_MMDVM_HS_Dual_Hat";
  ExpectEncodes(kRptc, [&](MutableByteSpan out) { return EncodeRptc(p, out); });
  // Overlong fields are truncated to their width.
  c.callsign = "N0CALL  EXTRA";
  c.latitude = "50.000000";
  const std::string long_package = "MMDVM_MMDVM_HS_Dual_Hat" + std::string(40, ' ') + "junk";
  c.package_id = long_package;
  ExpectEncodes(kRptc, [&](MutableByteSpan out) { return EncodeRptc(p, out); });
}

TEST(HbpRptcTest, RefusesBadLengthsAndTags) {
  ExpectEveryTruncationRejected(kRptc, 4, DecodeRptcOnly);
  EXPECT_EQ(OnExact(Grown(kRptc), DecodeRptcOnly), Reject::kOversized);
  ExpectEveryTagByteChecked(kRptc, 4, DecodeRptcOnly);
  EXPECT_EQ(OnExact(kRptcl, DecodeRptcOnly), Reject::kBadMagic);
  EXPECT_EQ(OnExact(kRpto, DecodeRptcOnly), Reject::kBadMagic);
}

// An ID whose first byte is 'L' (0x4C) makes "RPTC" + id start with "RPTCL".
TEST(HbpRptcTest, IdStartingWithLIsStillAnRptc) {
  const Bytes golden = MmdvmHostRptc(Hex("4c 00 00 01"));
  ASSERT_EQ(golden.size(), 302u);
  ASSERT_EQ(golden[4], 'L');
  Exact buf(golden);
  EXPECT_EQ(ClassifyHbp(buf.span()), HbpType::kRptc);
  Rptc p;
  ASSERT_EQ(DecodeRptc(buf.span(), &p), Reject::kOk);
  EXPECT_EQ(p.id, 0x4C000001u);
  EXPECT_EQ(p.config.callsign, "N0CALL  ");
  ExpectEncodes(golden, [&](MutableByteSpan out) { return EncodeRptc(p, out); });
  // Not an ID packet, whatever its 5th byte says.
  EXPECT_EQ(OnExact(golden, DecodeIdOnly), Reject::kBadMagic);
  // Cut short it looks like a (too long) RPTCL: refused either way.
  for (size_t n = 0; n < golden.size(); ++n) {
    SCOPED_TRACE(n);
    EXPECT_THAT(OnExact(Prefix(golden, n), DecodeRptcOnly),
                AnyOf(Reject::kTruncated, Reject::kBadMagic));
  }
  EXPECT_EQ(OnExact(Grown(golden), DecodeRptcOnly), Reject::kOversized);
}

TEST(HbpRptcTest, SlotMask) {
  EXPECT_EQ(RptcSlotMask('0'), 0u);
  EXPECT_EQ(RptcSlotMask('1'), 1u);
  EXPECT_EQ(RptcSlotMask('2'), 2u);
  EXPECT_EQ(RptcSlotMask('3'), 3u);
  EXPECT_EQ(RptcSlotMask('4'), 2u);  // simplex/DMO: TS2 only
  for (char other : {' ', '5', '9', 'A', '\0', '\xff'}) {
    EXPECT_EQ(RptcSlotMask(other), 3u) << static_cast<int>(other);
  }
}

// ---------------------------------------------------------------------------------------------
// RPTO.

TEST(HbpRptoTest, DecodesAndEncodesGolden) {
  Exact buf(kRpto);
  Rpto p;
  ASSERT_EQ(DecodeRpto(buf.span(), &p), Reject::kOk);
  EXPECT_EQ(ClassifyHbp(buf.span()), HbpType::kRpto);
  EXPECT_EQ(p.id, 312000101u);
  EXPECT_EQ(p.options, "TS1=3100;TS2=91,9990;TIMER=10");
  ExpectEncodes(kRpto, [&](MutableByteSpan out) { return EncodeRpto(p, out); });
}

TEST(HbpRptoTest, LengthLimits) {
  ExpectEveryTruncationRejected(Prefix(kRpto, kRptoMinBytes), 4, DecodeRptoOnly);
  // Any options length 0..300 is a legal RPTO; shorter prefixes are shorter options.
  for (size_t n = kRptoMinBytes; n < kRpto.size(); ++n) {
    Exact buf(Prefix(kRpto, n));
    Rpto p;
    ASSERT_EQ(DecodeRpto(buf.span(), &p), Reject::kOk) << n;
    EXPECT_EQ(p.options.size(), n - 8);
  }
  const Bytes longest = Grown(Prefix(kRpto, 8), 300, ';');
  EXPECT_EQ(OnExact(longest, DecodeRptoOnly), Reject::kOk);
  EXPECT_EQ(OnExact(Grown(longest), DecodeRptoOnly), Reject::kOversized);
  ExpectEveryTagByteChecked(kRpto, 4, DecodeRptoOnly);

  Rpto p;
  p.id = 1;
  const std::string opts300(300, 'x');
  p.options = opts300;
  Exact out(kRptoMaxBytes);
  EXPECT_EQ(EncodeRpto(p, out.mutable_span()), kRptoMaxBytes);
  const std::string opts301(301, 'x');
  p.options = opts301;
  Exact big(400);
  EXPECT_EQ(EncodeRpto(p, big.mutable_span()), 0u);
  p.options = "";
  ExpectEncodes(Hex("52 50 54 4f 00 00 00 01"),
                [&](MutableByteSpan o) { return EncodeRpto(p, o); });
}

// ---------------------------------------------------------------------------------------------
// DMRD.

TEST(HbpDmrdTest, Decodes55) {
  Exact buf(kDmrd55);
  DmrdView v;
  ASSERT_EQ(DecodeDmrd(buf.span(), &v), Reject::kOk);
  EXPECT_EQ(ClassifyHbp(buf.span()), HbpType::kDmrd);
  EXPECT_EQ(v.data, buf.span().data());
  EXPECT_EQ(v.length, 55u);
  EXPECT_EQ(v.seq, 0u);
  EXPECT_EQ(v.rf_src, 3120001u);
  EXPECT_EQ(v.dst, 91u);
  EXPECT_EQ(v.repeater_id, 312000101u);
  EXPECT_EQ(v.flags.raw, 0xA1);
  EXPECT_EQ(v.flags.slot(), 2u);
  EXPECT_EQ(v.flags.call_type(), CallType::kGroup);
  EXPECT_EQ(v.flags.frame_type(), FrameType::kDataSync);
  EXPECT_TRUE(v.flags.is_voice_header());
  EXPECT_EQ(v.stream_id, 0x1234ABCDu);
  EXPECT_EQ(ToHex({v.payload(), kDmrPayloadBytes}), ToHex(kBurst));
  EXPECT_TRUE(v.has_ber_rssi());
  EXPECT_EQ(v.ber(), 2u);
  EXPECT_EQ(v.rssi(), 69u);
}

TEST(HbpDmrdTest, Decodes53WithoutBerRssi) {
  Exact buf(kDmrd53);
  DmrdView v;
  ASSERT_EQ(DecodeDmrd(buf.span(), &v), Reject::kOk);
  EXPECT_EQ(v.length, 53u);
  EXPECT_EQ(v.rf_src, 3120001u);
  EXPECT_EQ(v.dst, 91u);
  EXPECT_EQ(v.repeater_id, 312000101u);
  EXPECT_EQ(v.stream_id, 0x1234ABCDu);
  EXPECT_EQ(ToHex({v.payload(), kDmrPayloadBytes}), ToHex(kBurst));
  EXPECT_FALSE(v.has_ber_rssi());
  EXPECT_EQ(v.ber(), 0u);  // must not read bytes 53/54 (ASan would tell)
  EXPECT_EQ(v.rssi(), 0u);
}

DmrdFields GoldenDmrdFields() {
  DmrdFields f;
  f.seq = 0;
  f.rf_src = 3120001;
  f.dst = 91;
  f.repeater_id = 312000101;
  f.flags = DmrdFlags{0xA1};
  f.stream_id = 0x1234ABCD;
  std::copy(kBurst.begin(), kBurst.end(), f.payload.begin());
  f.ber = 2;
  f.rssi = 69;
  return f;
}

TEST(HbpDmrdTest, EncodesGolden) {
  const DmrdFields f = GoldenDmrdFields();
  ExpectEncodes(kDmrd55, [&](MutableByteSpan out) { return EncodeDmrd(f, out); });
  // A 53-byte ingress frame always leaves as 55 (zero BER/RSSI when none were given).
  DmrdFields g = f;
  g.ber = 0;
  g.rssi = 0;
  ExpectEncodes(Grown(kDmrd53, 2, 0), [&](MutableByteSpan out) { return EncodeDmrd(g, out); });
  // Every field lands at its offset.
  DmrdFields h;
  h.seq = 0xFF;
  h.rf_src = 0xABCDEF;
  h.dst = 0x123456;
  h.repeater_id = 0xFEDCBA98;
  h.flags = DmrdFlags{0x63};
  h.stream_id = 0x01020304;
  h.payload.fill(0x77);
  h.ber = 0x11;
  h.rssi = 0x99;
  ExpectEncodes(
      Cat({Hex("444d5244 ff abcdef 123456 fedcba98 63 01020304"), Bytes(33, 0x77), Hex("11 99")}),
      [&](MutableByteSpan out) { return EncodeDmrd(h, out); });
}

TEST(HbpDmrdTest, RefusesBadLengths) {
  ExpectEveryTruncationRejected(kDmrd53, 4, DecodeDmrdOnly);
  EXPECT_EQ(OnExact(Prefix(kDmrd55, 54), DecodeDmrdOnly), Reject::kBadLength);
  EXPECT_EQ(OnExact(Grown(kDmrd55), DecodeDmrdOnly), Reject::kOversized);
  // DMRGateway's trunking DMRD (55 + 16-byte UUID) is not accepted.
  EXPECT_EQ(OnExact(Grown(kDmrd55, 16), DecodeDmrdOnly), Reject::kOversized);
}

TEST(HbpDmrdTest, RefusesWrongTag) {
  ExpectEveryTagByteChecked(kDmrd55, 4, DecodeDmrdOnly);
  ExpectEveryTagByteChecked(kDmrd53, 4, DecodeDmrdOnly);
  for (const char* tag : {"DMRE", "DMRA", "XXXX"}) {
    Bytes b = kDmrd55;
    std::memcpy(b.data(), tag, 4);
    EXPECT_THAT(OnExact(b, DecodeDmrdOnly), AnyOf(Reject::kBadMagic, Reject::kUnknownTag)) << tag;
  }
}

TEST(HbpDmrdTest, RefusesZeroStreamId) {
  for (const Bytes* golden : {&kDmrd55, &kDmrd53}) {
    Bytes b = *golden;
    b[16] = b[17] = b[18] = b[19] = 0;
    EXPECT_EQ(OnExact(b, DecodeDmrdOnly), Reject::kZeroStreamId);
    // Any single non-zero byte is enough.
    for (size_t i = 16; i < 20; ++i) {
      Bytes c = b;
      c[i] = 1;
      EXPECT_EQ(OnExact(c, DecodeDmrdOnly), Reject::kOk) << i;
    }
  }
}

TEST(HbpDmrdTest, RefusesReservedFrameType) {
  for (uint8_t flags : {0x30, 0x31, 0x3F, 0xB0, 0xB1, 0x70, 0xF3, 0xFF}) {
    Bytes b = kDmrd55;
    b[15] = flags;
    EXPECT_EQ(OnExact(b, DecodeDmrdOnly), Reject::kBadFrameType) << int{flags};
  }
}

// Flags byte 15, PROTOCOL.md §1.3: bit 7 slot, bit 6 call type, bits 5-4 frame type, bits 3-0
// voice sequence or data type. Checked for all 256 values against the definition.
TEST(HbpDmrdTest, FlagsEveryCombination) {
  for (unsigned slot : {1u, 2u}) {
    for (unsigned priv : {0u, 1u}) {
      for (unsigned ft = 0; ft < 4; ++ft) {
        for (unsigned nibble = 0; nibble < 16; ++nibble) {
          const uint8_t raw =
              static_cast<uint8_t>((slot == 2 ? 0x80 : 0) | (priv << 6) | (ft << 4) | nibble);
          SCOPED_TRACE(testing::Message() << "flags 0x" << std::hex << int{raw});
          Bytes b = kDmrd55;
          b[15] = raw;
          Exact buf(b);
          DmrdView v;
          const Reject r = DecodeDmrd(buf.span(), &v);
          if (ft == 3) {
            EXPECT_EQ(r, Reject::kBadFrameType);
            continue;
          }
          ASSERT_EQ(r, Reject::kOk);
          const DmrdFlags f = v.flags;
          EXPECT_EQ(f.raw, raw);
          EXPECT_EQ(f.slot(), slot);
          EXPECT_EQ(f.slot_index(), slot - 1);
          EXPECT_EQ(f.call_type(), priv ? CallType::kPrivate : CallType::kGroup);
          EXPECT_EQ(f.frame_type_bits(), ft);
          EXPECT_EQ(static_cast<unsigned>(f.frame_type()), ft);
          EXPECT_EQ(f.low_nibble(), nibble);
          EXPECT_EQ(f.is_voice_header(), ft == 2 && nibble == 1);
          EXPECT_EQ(f.is_terminator(), ft == 2 && nibble == 2);
          EXPECT_EQ(f.carries_embedded_lc(), ft == 0 && nibble >= 1 && nibble <= 4);
          // HBlink/FreeDMR: not unit, and (flags & 0x23) == 0x23, i.e. data sync with data type
          // 3, 7, 11 or 15.
          EXPECT_EQ(f.is_vcsbk(), priv == 0 && ft == 2 &&
                                      (nibble == 3 || nibble == 7 || nibble == 11 || nibble == 15));
          const DmrdFlags made = DmrdFlags::Make(slot, priv ? CallType::kPrivate : CallType::kGroup,
                                                 static_cast<FrameType>(ft), nibble);
          EXPECT_EQ(made.raw, raw);
        }
      }
    }
  }
}

// The sequence MMDVMHost sends for one call on TS2 (PROTOCOL.md Part C): header 0xA1, voice
// sync 0x90 (burst A), voice 0x81..0x85 (bursts B..F), terminator 0xA2.
TEST(HbpDmrdTest, FlagsOfAnMmdvmHostCall) {
  struct Expect {
    uint8_t raw;
    FrameType ft;
    unsigned nibble;
    bool header, terminator, embedded_lc;
  };
  const Expect kCall[] = {
      {0xA1, FrameType::kDataSync, 1, true, false, false},
      {0x90, FrameType::kVoiceSync, 0, false, false, false},
      {0x81, FrameType::kVoice, 1, false, false, true},
      {0x82, FrameType::kVoice, 2, false, false, true},
      {0x83, FrameType::kVoice, 3, false, false, true},
      {0x84, FrameType::kVoice, 4, false, false, true},
      {0x85, FrameType::kVoice, 5, false, false, false},
      {0xA2, FrameType::kDataSync, 2, false, true, false},
  };
  for (const Expect& e : kCall) {
    SCOPED_TRACE(int{e.raw});
    const DmrdFlags f{e.raw};
    EXPECT_EQ(f.slot(), 2u);
    EXPECT_EQ(f.call_type(), CallType::kGroup);
    EXPECT_EQ(f.frame_type(), e.ft);
    EXPECT_EQ(f.low_nibble(), e.nibble);
    EXPECT_EQ(f.is_voice_header(), e.header);
    EXPECT_EQ(f.is_terminator(), e.terminator);
    EXPECT_EQ(f.carries_embedded_lc(), e.embedded_lc);
    EXPECT_FALSE(f.is_vcsbk());
  }
  // Same on TS1, and private calls.
  EXPECT_EQ(DmrdFlags{0x21}.slot(), 1u);
  EXPECT_TRUE(DmrdFlags{0x21}.is_voice_header());
  EXPECT_TRUE(DmrdFlags{0x10}.frame_type() == FrameType::kVoiceSync);
  EXPECT_TRUE(DmrdFlags{0x01}.carries_embedded_lc());
  EXPECT_EQ(DmrdFlags{0xE1}.call_type(), CallType::kPrivate);
  EXPECT_TRUE(DmrdFlags{0xE1}.is_voice_header());
  // Data-sync CSBK / rate-1/2 data on a group call is "vcsbk"; unit CSBK is not.
  EXPECT_TRUE(DmrdFlags{0x23}.is_vcsbk());
  EXPECT_TRUE(DmrdFlags{0xA7}.is_vcsbk());
  EXPECT_FALSE(DmrdFlags{0x63}.is_vcsbk());
  EXPECT_FALSE(DmrdFlags{0xA6}.is_vcsbk());
  // Voice frame type with sequence 3 is not a CSBK.
  EXPECT_FALSE(DmrdFlags{0x03}.is_vcsbk());
  EXPECT_FALSE(DmrdFlags{0x13}.is_vcsbk());
  // Embedded LC only in voice bursts B..E, never in data (data type 1..4) frames.
  EXPECT_FALSE(DmrdFlags{0x80}.carries_embedded_lc());
  EXPECT_FALSE(DmrdFlags{0x91}.carries_embedded_lc());
  EXPECT_FALSE(DmrdFlags{0xA3}.carries_embedded_lc());
  EXPECT_FALSE(DmrdFlags{0xA4}.carries_embedded_lc());
}

TEST(HbpDmrdTest, FillDmrdFieldsReadsBytes4To54) {
  DmrdView v;
  FillDmrdFields(kDmrd55.data(), &v);
  EXPECT_EQ(v.seq, 0u);
  EXPECT_EQ(v.rf_src, 3120001u);
  EXPECT_EQ(v.dst, 91u);
  EXPECT_EQ(v.repeater_id, 312000101u);
  EXPECT_EQ(v.flags.raw, 0xA1);
  EXPECT_EQ(v.stream_id, 0x1234ABCDu);
}

// ---------------------------------------------------------------------------------------------
// DMRA.

TEST(HbpDmraTest, Decodes15) {
  Exact buf(kDmra15);
  Dmra p;
  p.has_repeater_id = true;
  p.repeater_id = 5;
  ASSERT_EQ(DecodeDmra(buf.span(), &p), Reject::kOk);
  EXPECT_EQ(ClassifyHbp(buf.span()), HbpType::kDmra);
  EXPECT_FALSE(p.has_repeater_id);
  EXPECT_EQ(p.repeater_id, 0u);
  EXPECT_EQ(p.rf_src, 3120001u);
  EXPECT_EQ(p.block, 0u);
  EXPECT_EQ(ToHex(p.alias), "4c4e3043414c4c");
  ExpectEncodes(kDmra15, [&](MutableByteSpan out) { return EncodeDmra(p, out); });
}

TEST(HbpDmraTest, Decodes19) {
  Exact buf(kDmra19);
  Dmra p;
  ASSERT_EQ(DecodeDmra(buf.span(), &p), Reject::kOk);
  EXPECT_TRUE(p.has_repeater_id);
  EXPECT_EQ(p.repeater_id, 312000101u);
  EXPECT_EQ(p.rf_src, 3120001u);
  EXPECT_EQ(p.block, 1u);
  EXPECT_EQ(std::string(p.alias.begin(), p.alias.end()), " Manche");
  ExpectEncodes(kDmra19, [&](MutableByteSpan out) { return EncodeDmra(p, out); });
}

TEST(HbpDmraTest, EncodesFromFields) {
  Dmra p;
  p.rf_src = 3120001;
  p.block = 0;
  const Bytes alias = Hex("4c 4e 30 43 41 4c 4c");
  std::copy(alias.begin(), alias.end(), p.alias.begin());
  ExpectEncodes(kDmra15, [&](MutableByteSpan out) { return EncodeDmra(p, out); });
  p.repeater_id = 999;  // ignored without has_repeater_id
  ExpectEncodes(kDmra15, [&](MutableByteSpan out) { return EncodeDmra(p, out); });
}

TEST(HbpDmraTest, RefusesBadLengthsAndTags) {
  ExpectEveryTruncationRejected(kDmra15, 4, DecodeDmraOnly);
  // 16..18 are neither form; 20 is too long.
  for (size_t n = 16; n <= 18; ++n) {
    EXPECT_EQ(OnExact(Prefix(kDmra19, n), DecodeDmraOnly), Reject::kBadLength) << n;
  }
  EXPECT_EQ(OnExact(Grown(kDmra15), DecodeDmraOnly), Reject::kBadLength);
  EXPECT_EQ(OnExact(Grown(kDmra19), DecodeDmraOnly), Reject::kOversized);
  ExpectEveryTruncationRejected(Prefix(kDmra19, 15), 4, DecodeDmraOnly);
  ExpectEveryTagByteChecked(kDmra15, 4, DecodeDmraOnly);
  ExpectEveryTagByteChecked(kDmra19, 4, DecodeDmraOnly);
}

// ---------------------------------------------------------------------------------------------
// DMRG.

TEST(HbpDmrgTest, Decodes14) {
  Exact buf(kDmrg14);
  Dmrg p;
  p.has_repeater_id = true;
  p.repeater_id = 5;
  ASSERT_EQ(DecodeDmrg(buf.span(), &p), Reject::kOk);
  EXPECT_EQ(ClassifyHbp(buf.span()), HbpType::kDmrg);
  EXPECT_FALSE(p.has_repeater_id);
  EXPECT_EQ(p.repeater_id, 0u);
  EXPECT_EQ(p.rf_src, 3120001u);
  EXPECT_EQ(ToHex(p.gps), "0a1b2c3d4e5f60");
  ExpectEncodes(kDmrg14, [&](MutableByteSpan out) { return EncodeDmrg(p, out); });
}

TEST(HbpDmrgTest, Decodes18) {
  Exact buf(kDmrg18);
  Dmrg p;
  ASSERT_EQ(DecodeDmrg(buf.span(), &p), Reject::kOk);
  EXPECT_TRUE(p.has_repeater_id);
  EXPECT_EQ(p.repeater_id, 312000101u);
  EXPECT_EQ(p.rf_src, 3120001u);
  EXPECT_EQ(ToHex(p.gps), "0a1b2c3d4e5f60");
  ExpectEncodes(kDmrg18, [&](MutableByteSpan out) { return EncodeDmrg(p, out); });
}

TEST(HbpDmrgTest, RefusesBadLengthsAndTags) {
  ExpectEveryTruncationRejected(kDmrg14, 4, DecodeDmrgOnly);
  for (size_t n = 15; n <= 17; ++n) {
    EXPECT_EQ(OnExact(Prefix(kDmrg18, n), DecodeDmrgOnly), Reject::kBadLength) << n;
  }
  EXPECT_EQ(OnExact(Grown(kDmrg14), DecodeDmrgOnly), Reject::kBadLength);
  EXPECT_EQ(OnExact(Grown(kDmrg18), DecodeDmrgOnly), Reject::kOversized);
  ExpectEveryTruncationRejected(Prefix(kDmrg18, 14), 4, DecodeDmrgOnly);
  ExpectEveryTagByteChecked(kDmrg14, 4, DecodeDmrgOnly);
  ExpectEveryTagByteChecked(kDmrg18, 4, DecodeDmrgOnly);
}

// ---------------------------------------------------------------------------------------------
// RPTG.

TEST(HbpRptgTest, DecodesAndEncodesGolden) {
  Exact buf(kRptg);
  Rptg p;
  ASSERT_EQ(DecodeRptg(buf.span(), &p), Reject::kOk);
  EXPECT_EQ(ClassifyHbp(buf.span()), HbpType::kRptg);
  EXPECT_EQ(p.id, 312000101u);
  EXPECT_EQ(p.latitude, "+50.0000");
  EXPECT_EQ(p.longitude, "-003.0000");
  ExpectEncodes(kRptg, [&](MutableByteSpan out) { return EncodeRptg(p, out); });
  Rptg q;
  q.id = 312000101;
  q.latitude = "+50.0000";
  q.longitude = "-003.0000";
  ExpectEncodes(kRptg, [&](MutableByteSpan out) { return EncodeRptg(q, out); });
}

TEST(HbpRptgTest, RefusesBadLengthsAndTags) {
  ExpectEveryTruncationRejected(kRptg, 4, DecodeRptgOnly);
  EXPECT_EQ(OnExact(Grown(kRptg), DecodeRptgOnly), Reject::kOversized);
  ExpectEveryTagByteChecked(kRptg, 4, DecodeRptgOnly);
}

// ---------------------------------------------------------------------------------------------
// DMRC.

TEST(HbpDmrcTest, DecodesAndEncodesGolden) {
  Exact buf(kDmrc);
  Dmrc p;
  ASSERT_EQ(DecodeDmrc(buf.span(), &p), Reject::kOk);
  EXPECT_EQ(ClassifyHbp(buf.span()), HbpType::kDmrc);
  EXPECT_EQ(p.id, 312000101u);
  EXPECT_EQ(p.callsign, "N0CALL  ");
  EXPECT_EQ(p.rx_freq, "449000000");
  EXPECT_EQ(p.tx_freq, "444000000");
  EXPECT_EQ(p.power, "01");
  EXPECT_EQ(p.color_code, "01");
  EXPECT_EQ(p.slots, '3');
  EXPECT_EQ(p.version, std::string("20230606_MMDVMHost") + std::string(22, ' '));
  EXPECT_EQ(p.hardware, std::string("MMDVM_MMDVM_HS_Dual_Hat") + std::string(17, ' '));
  ExpectEncodes(kDmrc, [&](MutableByteSpan out) { return EncodeDmrc(p, out); });
  Dmrc q;
  q.id = 312000101;
  q.callsign = "N0CALL";
  q.rx_freq = "449000000";
  q.tx_freq = "444000000";
  q.power = "01";
  q.color_code = "01";
  q.slots = '3';
  q.version = "20230606_MMDVMHost";
  q.hardware = "MMDVM_MMDVM_HS_Dual_Hat";
  ExpectEncodes(kDmrc, [&](MutableByteSpan out) { return EncodeDmrc(q, out); });
}

TEST(HbpDmrcTest, RefusesBadLengthsAndTags) {
  ExpectEveryTruncationRejected(kDmrc, 4, DecodeDmrcOnly);
  EXPECT_EQ(OnExact(Grown(kDmrc), DecodeDmrcOnly), Reject::kOversized);
  ExpectEveryTagByteChecked(kDmrc, 4, DecodeDmrcOnly);
}

// ---------------------------------------------------------------------------------------------
// Cross-checks: each decoder refuses every other packet type.

TEST(HbpCrossTest, DecodersAcceptOnlyTheirOwnPackets) {
  struct Decoder {
    const char* name;
    Reject (*decode)(ByteSpan);
    std::vector<const Bytes*> own;
  };
  const std::vector<Decoder> decoders = {
      {"id",
       DecodeIdOnly,
       {&kRptl, &kRptackSalt, &kRptackBare, &kMstnak, &kRptping, &kMstpong, &kRptcl, &kMstcl,
        &kRptsbkn, &kRptsbknShort}},
      {"dmrd", DecodeDmrdOnly, {&kDmrd55, &kDmrd53}},
      {"rptk", DecodeRptkOnly, {&kRptk}},
      {"rptc", DecodeRptcOnly, {&kRptc}},
      {"rpto", DecodeRptoOnly, {&kRpto}},
      {"dmra", DecodeDmraOnly, {&kDmra15, &kDmra19}},
      {"dmrg", DecodeDmrgOnly, {&kDmrg14, &kDmrg18}},
      {"rptg", DecodeRptgOnly, {&kRptg}},
      {"dmrc", DecodeDmrcOnly, {&kDmrc}},
  };
  const std::vector<const Bytes*> all = {
      &kRptl,   &kRptackSalt, &kRptackBare,   &kMstnak, &kRptping, &kMstpong, &kRptcl,
      &kMstcl,  &kRptsbkn,    &kRptsbknShort, &kRptk,   &kRptc,    &kRpto,    &kDmrd55,
      &kDmrd53, &kDmra15,     &kDmra19,       &kDmrg14, &kDmrg18,  &kRptg,    &kDmrc};
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

// ---------------------------------------------------------------------------------------------
// ClassifyHbp and names.

TEST(HbpClassifyTest, EveryGoldenPacket) {
  const std::pair<const Bytes*, HbpType> cases[] = {
      {&kRptl, HbpType::kRptl},         {&kRptackSalt, HbpType::kRptack},
      {&kRptackBare, HbpType::kRptack}, {&kMstnak, HbpType::kMstnak},
      {&kRptk, HbpType::kRptk},         {&kRptc, HbpType::kRptc},
      {&kRpto, HbpType::kRpto},         {&kRptping, HbpType::kRptping},
      {&kMstpong, HbpType::kMstpong},   {&kRptcl, HbpType::kRptcl},
      {&kMstcl, HbpType::kMstcl},       {&kDmrd55, HbpType::kDmrd},
      {&kDmrd53, HbpType::kDmrd},       {&kDmra15, HbpType::kDmra},
      {&kDmra19, HbpType::kDmra},       {&kDmrg14, HbpType::kDmrg},
      {&kDmrg18, HbpType::kDmrg},       {&kRptg, HbpType::kRptg},
      {&kRptsbkn, HbpType::kRptsbkn},   {&kRptsbknShort, HbpType::kRptsbkn},
      {&kDmrc, HbpType::kDmrc},
  };
  for (const auto& [pkt, type] : cases) {
    Exact buf(*pkt);
    EXPECT_EQ(ClassifyHbp(buf.span()), type) << ToHex(*pkt);
  }
}

TEST(HbpClassifyTest, ShortAndUnknownInputs) {
  for (size_t n = 0; n < 4; ++n) {
    EXPECT_EQ(OnExact(Prefix(kDmrd55, n), [](ByteSpan s) { return ClassifyHbp(s); }),
              HbpType::kUnknown)
        << n;
  }
  for (std::string_view tag : {"DMRE", "BCKA", "BCSQ", "DMRP", "DMRB", "RPTI", "XXXX", "dmrd",
                               "rptl", "MSTA", "DTCL", "    "}) {
    Bytes b = Grown(Str(tag), 51);
    EXPECT_EQ(OnExact(b, [](ByteSpan s) { return ClassifyHbp(s); }), HbpType::kUnknown) << tag;
  }
}

TEST(HbpClassifyTest, RptcVersusRptcl) {
  auto classify = [](const Bytes& b) {
    return OnExact(b, [](ByteSpan s) { return ClassifyHbp(s); });
  };
  EXPECT_EQ(classify(Str("RPTC")), HbpType::kRptc);  // too short for RPTCL: decoder refuses
  EXPECT_EQ(classify(Str("RPTCL")), HbpType::kRptcl);
  EXPECT_EQ(classify(kRptcl), HbpType::kRptcl);
  // An RPTC (302 bytes) whose ID starts with 0x4C is an RPTC.
  const Bytes rptc_l = MmdvmHostRptc(Hex("4c 4c 4c 4c"));
  EXPECT_EQ(classify(rptc_l), HbpType::kRptc);
  EXPECT_EQ(classify(Grown(rptc_l)), HbpType::kRptc);
  Rptc p;
  EXPECT_EQ(OnExact(rptc_l, [&](ByteSpan s) { return DecodeRptc(s, &p); }), Reject::kOk);
  EXPECT_EQ(p.id, 0x4C4C4C4Cu);
  // Other 5th bytes are RPTC at any length.
  EXPECT_EQ(classify(Hex("52 50 54 43 4b 00 00 01 02")), HbpType::kRptc);
  // RPTCL with an ID that is itself "LLLL".
  const Bytes rptcl_l = Hex("52 50 54 43 4c  4c 4c 4c 4c");
  EXPECT_EQ(classify(rptcl_l), HbpType::kRptcl);
  HbpIdPacket id;
  EXPECT_EQ(OnExact(rptcl_l, [&](ByteSpan s) { return DecodeHbpIdPacket(s, &id); }), Reject::kOk);
  EXPECT_EQ(id.type, HbpType::kRptcl);
  EXPECT_EQ(id.value, 0x4C4C4C4Cu);
}

TEST(HbpClassifyTest, PrefixRules) {
  auto classify = [](std::string_view s) {
    return OnExact(Str(s), [](ByteSpan b) { return ClassifyHbp(b); });
  };
  // Python servers match on the first four characters; the decoders check the rest.
  EXPECT_EQ(classify("RPTPXXX1234"), HbpType::kRptping);
  EXPECT_EQ(classify("RPTAXX1234"), HbpType::kRptack);
  EXPECT_EQ(classify("MSTNXX1234"), HbpType::kMstnak);
  EXPECT_EQ(classify("MSTPXXX1234"), HbpType::kMstpong);
  EXPECT_EQ(classify("MSTCX1234"), HbpType::kMstcl);
  EXPECT_EQ(classify("RPTSXXX1234"), HbpType::kRptsbkn);
  HbpIdPacket p;
  for (std::string_view s : {"RPTPXXX1234", "RPTAXX1234", "MSTNXX1234", "MSTPXXX1234", "MSTCX1234",
                             "RPTSXXX1234", "RPTCX1234"}) {
    EXPECT_EQ(OnExact(Str(s), [&](ByteSpan b) { return DecodeHbpIdPacket(b, &p); }),
              Reject::kBadMagic)
        << s;
  }
}

TEST(HbpNamesTest, HbpTypeName) {
  EXPECT_EQ(HbpTypeName(HbpType::kUnknown), "unknown");
  EXPECT_EQ(HbpTypeName(HbpType::kRptl), "RPTL");
  EXPECT_EQ(HbpTypeName(HbpType::kRptack), "RPTACK");
  EXPECT_EQ(HbpTypeName(HbpType::kMstnak), "MSTNAK");
  EXPECT_EQ(HbpTypeName(HbpType::kRptk), "RPTK");
  EXPECT_EQ(HbpTypeName(HbpType::kRptc), "RPTC");
  EXPECT_EQ(HbpTypeName(HbpType::kRpto), "RPTO");
  EXPECT_EQ(HbpTypeName(HbpType::kRptping), "RPTPING");
  EXPECT_EQ(HbpTypeName(HbpType::kMstpong), "MSTPONG");
  EXPECT_EQ(HbpTypeName(HbpType::kRptcl), "RPTCL");
  EXPECT_EQ(HbpTypeName(HbpType::kMstcl), "MSTCL");
  EXPECT_EQ(HbpTypeName(HbpType::kDmrd), "DMRD");
  EXPECT_EQ(HbpTypeName(HbpType::kDmra), "DMRA");
  EXPECT_EQ(HbpTypeName(HbpType::kDmrg), "DMRG");
  EXPECT_EQ(HbpTypeName(HbpType::kRptg), "RPTG");
  EXPECT_EQ(HbpTypeName(HbpType::kRptsbkn), "RPTSBKN");
  EXPECT_EQ(HbpTypeName(HbpType::kDmrc), "DMRC");
  EXPECT_EQ(HbpTypeName(static_cast<HbpType>(200)), "unknown");
}

// ---------------------------------------------------------------------------------------------
// Reject reasons and counters.

TEST(RejectTest, Names) {
  EXPECT_EQ(RejectName(Reject::kOk), "ok");
  EXPECT_EQ(RejectName(Reject::kTruncated), "truncated");
  EXPECT_EQ(RejectName(Reject::kOversized), "oversized");
  EXPECT_EQ(RejectName(Reject::kBadLength), "bad_length");
  EXPECT_EQ(RejectName(Reject::kUnknownTag), "unknown_tag");
  EXPECT_EQ(RejectName(Reject::kBadMagic), "bad_magic");
  EXPECT_EQ(RejectName(Reject::kZeroStreamId), "zero_stream");
  EXPECT_EQ(RejectName(Reject::kBadFrameType), "bad_frame_type");
  EXPECT_EQ(RejectName(Reject::kBadMac), "bad_mac");
  EXPECT_EQ(RejectName(Reject::kUnsupportedVersion), "unsupported_version");
  EXPECT_EQ(RejectName(Reject::kBadField), "bad_field");
}

TEST(RejectTest, CountersCountEachReason) {
  RejectCounters c;
  EXPECT_EQ(c.total_rejects(), 0u);
  EXPECT_EQ(c.Count(Reject::kTruncated), Reject::kTruncated);
  EXPECT_EQ(c.Count(Reject::kTruncated), Reject::kTruncated);
  EXPECT_EQ(c.Count(Reject::kBadMac), Reject::kBadMac);
  EXPECT_EQ(c[Reject::kTruncated], 2u);
  EXPECT_EQ(c[Reject::kBadMac], 1u);
  EXPECT_EQ(c[Reject::kOversized], 0u);
  EXPECT_EQ(c.total_rejects(), 3u);
  // Every reason has its own slot.
  for (size_t i = 1; i < static_cast<size_t>(Reject::kCount); ++i) {
    c.Count(static_cast<Reject>(i));
  }
  EXPECT_EQ(c[Reject::kTruncated], 3u);
  EXPECT_EQ(c[Reject::kBadField], 1u);
  EXPECT_EQ(c.total_rejects(), 3u + static_cast<size_t>(Reject::kCount) - 1);
}

TEST(RejectTest, CountersCountDecoderResults) {
  RejectCounters c;
  DmrdView v;
  for (size_t n = 0; n < kDmrdShortBytes; ++n) {
    Exact buf(Prefix(kDmrd55, n));
    c.Count(DecodeDmrd(buf.span(), &v));
  }
  EXPECT_EQ(c[Reject::kTruncated], 53u);  // 0..52
  EXPECT_EQ(c[Reject::kBadLength], 0u);
  Exact b54(Prefix(kDmrd55, 54));
  c.Count(DecodeDmrd(b54.span(), &v));
  EXPECT_EQ(c[Reject::kBadLength], 1u);
  EXPECT_EQ(c.total_rejects(), 54u);
  // Typical use: `if (Count(Decode(...)) != kOk) drop`.
  Exact ok(kDmrd55);
  EXPECT_EQ(c.Count(DecodeDmrd(ok.span(), &v)), Reject::kOk);
  EXPECT_EQ(c.total_rejects(), 54u);
}

// reject.h documents Count() as "Counts `r` unless it is kOk".
TEST(RejectTest, CountDoesNotCountOk) {
  RejectCounters c;
  EXPECT_EQ(c.Count(Reject::kOk), Reject::kOk);
  EXPECT_EQ(c.total_rejects(), 0u);
  EXPECT_EQ(c[Reject::kOk], 0u);
}

}  // namespace
}  // namespace dmrswitch::proto
