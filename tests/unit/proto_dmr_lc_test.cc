// Link control coding: known answers from an independent implementation, plus the error
// correction and rewrite properties that round trips alone cannot show.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/proto/dmr_lc.h"

namespace dmrswitch::proto::dmr {
namespace {

using BurstBytes = std::array<uint8_t, kBurstBytes>;

uint8_t Nibble(char c) { return static_cast<uint8_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10); }

template <size_t N>
std::array<uint8_t, N> FromHex(std::string_view hex) {
  EXPECT_EQ(hex.size(), 2 * N) << hex;
  std::array<uint8_t, N> out{};
  for (size_t i = 0; i < N && 2 * i + 1 < hex.size(); ++i) {
    out[i] = static_cast<uint8_t>(Nibble(hex[2 * i]) << 4 | Nibble(hex[2 * i + 1]));
  }
  return out;
}

std::string ToHex(const BurstBytes& b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (uint8_t byte : b) {
    s.push_back(kDigits[byte >> 4]);
    s.push_back(kDigits[byte & 0xf]);
  }
  return s;
}

Lc LcFromHex(std::string_view hex) { return Lc{FromHex<9>(hex)}; }

void FlipBit(BurstBytes& b, unsigned bit) {
  b[bit / 8] = static_cast<uint8_t>(b[bit / 8] ^ (0x80u >> (bit % 8)));
}

BurstBytes RandomBurst(std::mt19937& rng) {
  BurstBytes b;
  for (uint8_t& byte : b) byte = static_cast<uint8_t>(rng());
  return b;
}

// The 196 burst bits that carry the BPTC block: 0..97 and 166..263.
std::vector<unsigned> FullLcBits() {
  std::vector<unsigned> bits;
  for (unsigned i = 0; i < 264; ++i) {
    if (i < 98 || i >= 166) bits.push_back(i);
  }
  return bits;
}

// Known answers produced by MMDVMHost's own encoders (g4klx/MMDVMHost at commit
// b5b119fa8eb4ddd1f4fab98a1fe0b90ce35b1c3d: CDMRFullLC::encode, CDMREmbeddedData::setLC and
// getData, with CDMRSlotType and CDMREMB filling the middle of the burst), run by a throwaway
// generator outside this tree. Each header/terminator vector was encoded over kHeaderIn or
// kTerminatorIn: filler bytes plus a real slot type (colour code 1, data type 1 or 2) and the
// BS-sourced data sync in bits 98..165, which the encoder has to leave alone.
constexpr std::string_view kHeaderIn =
    "a5b89ff2d1340b6e4da0879ac46dff57d75df5de31c4db3e1d7057aa89ecc32605";
constexpr std::string_view kTerminatorIn =
    "a5b89ff2d1340b6e4da0879ac4adff57d75df5d965c4db3e1d7057aa89ecc32605";

struct Vector {
  std::string_view lc;
  std::string_view header;
  std::string_view terminator;
  EmbeddedLcFragments embedded;  // bursts B, C, D, E
};

constexpr Vector kVectors[] = {
    // Group call, TG 91 from 3120001.
    {"00000000005b2f9b81",
     "03f40d981fb418884d003f80046dff57d75df5de310c0b0033700be01b81af03b3",
     "039b0d4c1f0418f04d703f2004adff57d75df5d964180838341007a01381b60380",
     {0x060f0f05u, 0x0c090005u, 0x0c122703u, 0x173f2839u}},
    // Group call, TG 9 from 5000.
    {"000000000009001388",
     "01d2081003d017103ac02500846dff57d75df5de31e002f01f60022009c10400d4",
     "01bd08c4036017683ab025a084adff57d75df5d964f401c818000e6001c11d00e7",
     {0x03030a00u, 0x00090305u, 0x00001206u, 0x0a141e11u}},
    // Group call, TG 3100 from 2345678.
    {"000000000c1c23cace",
     "0e430ad6158c01e80f102061046dff57d75df5de33602c386ed00dc05600cd058e",
     "0e2c0a02153c01900f6020c104adff57d75df5d966742f0069b001805e00d405bd",
     {0x03090f0fu, 0x14140303u, 0x0f002412u, 0x11273530u}},
    // Private call (FLCO 3), 3120001 from 2345678.
    {"0300002f9b8123cace",
     "4af1325505ce1788af71a242046dff57d75df5de33902f90e8418fc35557d609e0",
     "4a9e3281057e17f0af01a2e204adff57d75df5d966842ca8ef2183835d57cf09d3",
     {0x12000617u, 0x350cb2b2u, 0x3f210582u, 0x88be24b1u}},
    // FID 0x10, service options 0x20, TG 3120 from 3120101. This header is also, byte for byte,
    // the captured voice LC header in dmr_utils3's bptc.py self-test: a third agreeing source.
    {"001020000c302f9be5",
     "2b6004101f842dd00df07d41046dff57d75df5de30152e2070b20f803f88c695e2",
     "2b0f04c41f342da80d807de104adff57d75df5d965012d1877d203c03788df95d1",
     {0x4e0f0606u, 0x17110047u, 0x0c03181bu, 0x175a0f4eu}},
    // PF and R set, all-ones IDs: every LC bit position above the FLCO is exercised.
    {"c310ffffffffffffff",
     "7ff6ff3ffefaff09ff93f627c46dff57d75df5de3345ffa5f9ebf8c7e34fed0ff4",
     "7f99ffebfe4aff71ffe3f687c4adff57d75df5d96651fc9dfe8bf487eb4ff40fc7",
     {0xffbe3f3fu, 0x3f7effffu, 0x7e7e59beu, 0x7e991818u}},
    // Service options 0x08 (broadcast) makes embedded matrix bits 24 and 25 differ, which is the
    // case where dmr_utils3's encode_emblc, reading bit 24 for both, writes fragment D as
    // 0x0c133603. ETSI and MMDVMHost say 0x0c533603.
    {"00000800005b2f9b81",
     "03f80dd81e341a884fd03f80046dff57d75df5de3090cb3830710b021e81a783a3",
     "03970d0c1e841af04fa03f2004adff57d75df5d96584c800371107421681be8390",
     {0x060f0f05u, 0x0c090005u, 0x0c533603u, 0x566f3969u}},
};

// Voice bursts B..E for kVectors[0] as MMDVMHost built them: filler vocoder bytes, EMB with
// colour code 1 and the LCSS of each fragment, and the embedded LC fragment in bits 116..147.
constexpr std::string_view kVoiceBurstsTg91[4] = {
    "3c83ca11589fe62d74bb024990d13060f0f05911c80f569de42b72b900478ed51c",
    "3c83ca11589fe62d74bb024990d170c090005741c80f569de42b72b900478ed51c",
    "3c83ca11589fe62d74bb024990d170c122703741c80f569de42b72b900478ed51c",
    "3c83ca11589fe62d74bb024990d15173f2839071c80f569de42b72b900478ed51c",
};
// Burst D of kVectors[6], whose fragment dmr_utils3 gets wrong (see above).
constexpr std::string_view kVoiceBurstDOptions08 =
    "3c83ca11589fe62d74bb024990d170c533603741c80f569de42b72b900478ed51c";

TEST(LcTest, GroupVoiceLayoutAndAccessors) {
  Lc lc = Lc::GroupVoice(91, 3120001);
  EXPECT_EQ(lc, LcFromHex("00000000005b2f9b81"));
  EXPECT_EQ(lc.flco(), 0);
  EXPECT_EQ(lc.dst(), 91u);
  EXPECT_EQ(lc.src(), 3120001u);
  lc.set_dst(0xABCDEF);
  EXPECT_EQ(lc.dst(), 0xABCDEFu);
  EXPECT_EQ(lc.src(), 3120001u);
  EXPECT_EQ(lc, LcFromHex("000000abcdef2f9b81"));

  const Lc priv = LcFromHex("c310ffffffffffffff");
  EXPECT_EQ(priv.flco(), 3);
  EXPECT_EQ(priv.dst(), 0xFFFFFFu);
}

TEST(FullLcTest, EncodeMatchesMmdvmHost) {
  for (const Vector& v : kVectors) {
    SCOPED_TRACE(v.lc);
    const Lc lc = LcFromHex(v.lc);
    BurstBytes header = FromHex<kBurstBytes>(kHeaderIn);
    EncodeFullLc(lc, FullLcKind::kVoiceHeader, header);
    EXPECT_EQ(ToHex(header), v.header);
    BurstBytes terminator = FromHex<kBurstBytes>(kTerminatorIn);
    EncodeFullLc(lc, FullLcKind::kTerminator, terminator);
    EXPECT_EQ(ToHex(terminator), v.terminator);
  }
}

TEST(FullLcTest, EncodeLeavesSlotTypeAndSyncAlone) {
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    const BurstBytes before = RandomBurst(rng);
    BurstBytes after = before;
    EncodeFullLc(Lc::GroupVoice(rng() & 0xFFFFFF, rng() & 0xFFFFFF),
                 i % 2 ? FullLcKind::kTerminator : FullLcKind::kVoiceHeader, after);
    for (unsigned bit = 98; bit < 166; ++bit) {
      const unsigned mask = 0x80u >> (bit % 8);
      ASSERT_EQ(before[bit / 8] & mask, after[bit / 8] & mask) << "bit " << bit;
    }
  }
}

TEST(FullLcTest, DecodesVectorsOnlyAsTheirOwnKind) {
  for (const Vector& v : kVectors) {
    SCOPED_TRACE(v.lc);
    const Lc want = LcFromHex(v.lc);
    const BurstBytes header = FromHex<kBurstBytes>(v.header);
    const BurstBytes terminator = FromHex<kBurstBytes>(v.terminator);
    Lc got;
    ASSERT_TRUE(DecodeFullLc(header, FullLcKind::kVoiceHeader, &got));
    EXPECT_EQ(got, want);
    ASSERT_TRUE(DecodeFullLc(terminator, FullLcKind::kTerminator, &got));
    EXPECT_EQ(got, want);
    // The CRC masks are what tells a header from a terminator: the wrong one fails RS(12,9).
    EXPECT_FALSE(DecodeFullLc(header, FullLcKind::kTerminator, &got));
    EXPECT_FALSE(DecodeFullLc(terminator, FullLcKind::kVoiceHeader, &got));
  }
}

TEST(FullLcTest, CorrectsEverySingleBitError) {
  const std::vector<unsigned> bits = FullLcBits();
  for (const Vector& v : kVectors) {
    SCOPED_TRACE(v.lc);
    const Lc want = LcFromHex(v.lc);
    const BurstBytes clean = FromHex<kBurstBytes>(v.header);
    for (unsigned bit : bits) {
      BurstBytes burst = clean;
      FlipBit(burst, bit);
      Lc got;
      ASSERT_TRUE(DecodeFullLc(burst, FullLcKind::kVoiceHeader, &got)) << "bit " << bit;
      ASSERT_EQ(got, want) << "bit " << bit;
    }
    // Slot type and sync are not part of the block at all.
    for (unsigned bit = 98; bit < 166; ++bit) {
      BurstBytes burst = clean;
      FlipBit(burst, bit);
      Lc got;
      ASSERT_TRUE(DecodeFullLc(burst, FullLcKind::kVoiceHeader, &got)) << "bit " << bit;
      ASSERT_EQ(got, want);
    }
  }
}

// The product code has minimum distance 9; iterating column then row Hamming decoding repairs
// every double error (a column with two errors is miscorrected into three, one per row, and the
// rows fix those). This is stronger than "detected or corrected": a wrong LC is never accepted.
TEST(FullLcTest, CorrectsEveryDoubleBitError) {
  const std::vector<unsigned> bits = FullLcBits();
  for (const Vector& v : kVectors) {
    SCOPED_TRACE(v.lc);
    const Lc want = LcFromHex(v.lc);
    const BurstBytes clean = FromHex<kBurstBytes>(v.terminator);
    for (size_t i = 0; i < bits.size(); ++i) {
      for (size_t j = i + 1; j < bits.size(); ++j) {
        BurstBytes burst = clean;
        FlipBit(burst, bits[i]);
        FlipBit(burst, bits[j]);
        Lc got;
        ASSERT_TRUE(DecodeFullLc(burst, FullLcKind::kTerminator, &got))
            << "bits " << bits[i] << "," << bits[j];
        ASSERT_EQ(got, want) << "bits " << bits[i] << "," << bits[j];
      }
    }
  }
}

// All 1,235,780 triple errors of one block are corrected too (checked once, exhaustively).
TEST(FullLcTest, CorrectsEveryTripleBitErrorOfOneBlock) {
  const std::vector<unsigned> bits = FullLcBits();
  const Lc want = LcFromHex(kVectors[0].lc);
  const BurstBytes clean = FromHex<kBurstBytes>(kVectors[0].header);
  for (size_t i = 0; i < bits.size(); ++i) {
    for (size_t j = i + 1; j < bits.size(); ++j) {
      BurstBytes two = clean;
      FlipBit(two, bits[i]);
      FlipBit(two, bits[j]);
      for (size_t k = j + 1; k < bits.size(); ++k) {
        BurstBytes burst = two;
        FlipBit(burst, bits[k]);
        Lc got;
        ASSERT_TRUE(DecodeFullLc(burst, FullLcKind::kVoiceHeader, &got) && got == want)
            << "bits " << bits[i] << "," << bits[j] << "," << bits[k];
      }
    }
  }
}

// Beyond what is guaranteed, decoding may fail but must not hand back a different LC.
TEST(FullLcTest, HeavyNoiseIsRejectedNotMisread) {
  const std::vector<unsigned> bits = FullLcBits();
  const Lc want = LcFromHex(kVectors[2].lc);
  const BurstBytes clean = FromHex<kBurstBytes>(kVectors[2].header);
  std::mt19937 rng(12345);
  int wrong = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    BurstBytes burst = clean;
    const int errors = 4 + trial % 9;
    for (int e = 0; e < errors; ++e) FlipBit(burst, bits[rng() % bits.size()]);
    Lc got;
    if (DecodeFullLc(burst, FullLcKind::kVoiceHeader, &got) && !(got == want)) ++wrong;
  }
  EXPECT_EQ(wrong, 0);
  int accepted = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    const BurstBytes burst = RandomBurst(rng);
    Lc got;
    accepted += DecodeFullLc(burst, FullLcKind::kVoiceHeader, &got);
  }
  EXPECT_EQ(accepted, 0);  // random bits would have to pass 100 BPTC parity bits and RS
}

TEST(EmbeddedLcTest, EncodeMatchesMmdvmHost) {
  for (const Vector& v : kVectors) {
    SCOPED_TRACE(v.lc);
    EXPECT_EQ(EncodeEmbeddedLc(LcFromHex(v.lc)), v.embedded);
  }
}

TEST(EmbeddedLcTest, FragmentsSitInBits116To147) {
  for (unsigned n = 0; n < 4; ++n) {
    const BurstBytes burst = FromHex<kBurstBytes>(kVoiceBurstsTg91[n]);
    EXPECT_EQ(GetEmbeddedFragment(burst), kVectors[0].embedded[n]);
  }
  EXPECT_EQ(GetEmbeddedFragment(FromHex<kBurstBytes>(kVoiceBurstDOptions08)),
            kVectors[6].embedded[2]);

  std::mt19937 rng(3);
  for (int i = 0; i < 100; ++i) {
    const BurstBytes before = RandomBurst(rng);
    BurstBytes after = before;
    const uint32_t fragment = static_cast<uint32_t>(rng());
    SetEmbeddedFragment(after, fragment);
    EXPECT_EQ(GetEmbeddedFragment(after), fragment);
    for (unsigned bit = 0; bit < 264; ++bit) {
      if (bit >= 116 && bit < 148) continue;
      const unsigned mask = 0x80u >> (bit % 8);
      ASSERT_EQ(before[bit / 8] & mask, after[bit / 8] & mask) << "bit " << bit;
    }
  }
}

TEST(EmbeddedLcTest, DecodesVectors) {
  for (const Vector& v : kVectors) {
    SCOPED_TRACE(v.lc);
    Lc got;
    ASSERT_TRUE(DecodeEmbeddedLc(v.embedded, &got));
    EXPECT_EQ(got, LcFromHex(v.lc));
  }
}

TEST(EmbeddedLcTest, CorrectsAnySingleBitError) {
  for (const Vector& v : kVectors) {
    SCOPED_TRACE(v.lc);
    const Lc want = LcFromHex(v.lc);
    for (unsigned frag = 0; frag < 4; ++frag) {
      for (unsigned bit = 0; bit < 32; ++bit) {
        EmbeddedLcFragments f = v.embedded;
        f[frag] ^= 0x80000000u >> bit;
        Lc got;
        ASSERT_TRUE(DecodeEmbeddedLc(f, &got)) << "fragment " << frag << " bit " << bit;
        ASSERT_EQ(got, want) << "fragment " << frag << " bit " << bit;
      }
    }
  }
}

// One flipped bit in each of the four fragments at once, in four different matrix rows (the
// matrix is sent column-wise, so fragment bit b belongs to row b % 8): every row repairs its own.
TEST(EmbeddedLcTest, CorrectsOneErrorPerFragmentInDistinctRows) {
  const Vector& v = kVectors[3];
  const Lc want = LcFromHex(v.lc);
  for (unsigned rot = 0; rot < 7; ++rot) {
    EmbeddedLcFragments f = v.embedded;
    for (unsigned frag = 0; frag < 4; ++frag) {
      const unsigned row = (rot + frag) % 7;  // data rows only: row 7 has no row code
      const unsigned column = (frag * 5 + rot) % 4;
      f[frag] ^= 0x80000000u >> (column * 8 + row);
    }
    Lc got;
    ASSERT_TRUE(DecodeEmbeddedLc(f, &got)) << rot;
    EXPECT_EQ(got, want);
  }
}

TEST(EmbeddedLcTest, RejectsTwoErrorsInOneRow) {
  const Vector& v = kVectors[0];
  // Fragment 0 bit r is row r of column 0; fragment 2 bit 16 + r is row r of column 10.
  for (unsigned row = 0; row < 7; ++row) {
    EmbeddedLcFragments f = v.embedded;
    f[0] ^= 0x80000000u >> row;
    f[2] ^= 0x80000000u >> (16 + row);
    Lc got;
    EXPECT_FALSE(DecodeEmbeddedLc(f, &got)) << "row " << row;
  }
}

TEST(EmbeddedLcTest, DetectsChecksumFailure) {
  // Hamming rows and column parity are linear, so the XOR of three valid matrices is a valid
  // matrix again, carrying the XOR of the three LCs; the mod-31 sum is not linear, so its
  // checksum bits are wrong. Only the checksum can catch this.
  const Lc a = LcFromHex(kVectors[0].lc);
  const Lc b = LcFromHex(kVectors[1].lc);
  const Lc c = LcFromHex(kVectors[2].lc);
  EmbeddedLcFragments mixed{};
  Lc xored;
  for (size_t i = 0; i < 4; ++i) {
    mixed[i] = kVectors[0].embedded[i] ^ kVectors[1].embedded[i] ^ kVectors[2].embedded[i];
  }
  for (size_t i = 0; i < 9; ++i) {
    xored.bytes[i] = static_cast<uint8_t>(a.bytes[i] ^ b.bytes[i] ^ c.bytes[i]);
  }
  // The matrix otherwise decodes: with the checksum bits recomputed it is exactly xored's.
  EmbeddedLcFragments expected = EncodeEmbeddedLc(xored);
  ASSERT_NE(mixed, expected);
  Lc got;
  EXPECT_FALSE(DecodeEmbeddedLc(mixed, &got));
  ASSERT_TRUE(DecodeEmbeddedLc(expected, &got));
  EXPECT_EQ(got, xored);
}

TEST(EmbeddedLcTest, RandomFragmentsAreRarelyAccepted) {
  std::mt19937 rng(99);
  int accepted = 0;
  for (int i = 0; i < 100000; ++i) {
    EmbeddedLcFragments f{};
    for (uint32_t& x : f) x = static_cast<uint32_t>(rng());
    Lc got;
    if (DecodeEmbeddedLc(f, &got)) {
      ++accepted;
      EXPECT_EQ(EncodeEmbeddedLc(got), f) << "accepted fragments must be a clean codeword or "
                                             "one correctable bit away";
    }
  }
  EXPECT_LT(accepted, 5);
}

TEST(LcRewriteTest, ApplyHeaderAndTerminatorEqualEncode) {
  std::mt19937 rng(2024);
  for (const Vector& v : kVectors) {
    const Lc lc = LcFromHex(v.lc);
    const LcRewrite rw = LcRewrite::For(lc);
    for (int i = 0; i < 50; ++i) {
      const BurstBytes original = RandomBurst(rng);
      BurstBytes applied = original;
      BurstBytes encoded = original;
      rw.ApplyHeader(applied);
      EncodeFullLc(lc, FullLcKind::kVoiceHeader, encoded);
      ASSERT_EQ(applied, encoded);
      applied = encoded = original;
      rw.ApplyTerminator(applied);
      EncodeFullLc(lc, FullLcKind::kTerminator, encoded);
      ASSERT_EQ(applied, encoded);
    }
    BurstBytes header = FromHex<kBurstBytes>(kHeaderIn);
    rw.ApplyHeader(header);
    EXPECT_EQ(ToHex(header), v.header);
    BurstBytes terminator = FromHex<kBurstBytes>(kTerminatorIn);
    rw.ApplyTerminator(terminator);
    EXPECT_EQ(ToHex(terminator), v.terminator);
    EXPECT_EQ(rw.embedded, v.embedded);
  }
}

TEST(LcRewriteTest, ImagesAreZeroOutsideTheLcBits) {
  const LcRewrite rw = LcRewrite::For(LcFromHex(kVectors[5].lc));
  for (unsigned bit = 98; bit < 166; ++bit) {
    const unsigned mask = 0x80u >> (bit % 8);
    EXPECT_EQ(rw.header[bit / 8] & mask, 0u) << bit;
    EXPECT_EQ(rw.terminator[bit / 8] & mask, 0u) << bit;
  }
}

TEST(LcRewriteTest, ApplyEmbeddedRewritesBurstsBToE) {
  // Rewriting TG 9's bursts for TG 91 gives exactly the bursts MMDVMHost built for TG 91: only
  // the fragment differs between the two streams.
  const LcRewrite to_tg91 = LcRewrite::For(Lc::GroupVoice(91, 3120001));
  for (unsigned seq = 1; seq <= 4; ++seq) {
    BurstBytes burst = FromHex<kBurstBytes>(kVoiceBurstsTg91[seq - 1]);
    SetEmbeddedFragment(burst, kVectors[1].embedded[seq - 1]);
    ASSERT_NE(ToHex(burst), kVoiceBurstsTg91[seq - 1]);
    to_tg91.ApplyEmbedded(burst, seq);
    EXPECT_EQ(ToHex(burst), kVoiceBurstsTg91[seq - 1]) << "voice_seq " << seq;
  }
  const LcRewrite to_options08 = LcRewrite::For(LcFromHex(kVectors[6].lc));
  BurstBytes burst = FromHex<kBurstBytes>(kVoiceBurstsTg91[2]);
  to_options08.ApplyEmbedded(burst, 3);
  EXPECT_EQ(ToHex(burst), kVoiceBurstDOptions08);
}

TEST(LcRewriteTest, ApplyEmbeddedIgnoresOtherVoiceSequences) {
  const LcRewrite rw = LcRewrite::For(Lc::GroupVoice(3100, 2345678));
  std::mt19937 rng(5);
  for (unsigned seq : {0u, 5u, 6u, 255u, 0xFFFFFFFFu}) {
    const BurstBytes original = RandomBurst(rng);
    BurstBytes burst = original;
    rw.ApplyEmbedded(burst, seq);
    EXPECT_EQ(burst, original) << "voice_seq " << seq;
  }
}

TEST(LcRewriteTest, RewrittenStreamDecodesAsTheNewLc) {
  Lc lc = Lc::GroupVoice(9, 5000);
  lc.set_dst(2345);
  const LcRewrite rw = LcRewrite::For(lc);
  BurstBytes header = FromHex<kBurstBytes>(kVectors[1].header);
  rw.ApplyHeader(header);
  Lc got;
  ASSERT_TRUE(DecodeFullLc(header, FullLcKind::kVoiceHeader, &got));
  EXPECT_EQ(got.dst(), 2345u);
  EXPECT_EQ(got.src(), 5000u);
  EmbeddedLcFragments f{};
  for (unsigned seq = 1; seq <= 4; ++seq) {
    BurstBytes burst = FromHex<kBurstBytes>(kVoiceBurstsTg91[seq - 1]);
    rw.ApplyEmbedded(burst, seq);
    f[seq - 1] = GetEmbeddedFragment(burst);
  }
  ASSERT_TRUE(DecodeEmbeddedLc(f, &got));
  EXPECT_EQ(got, lc);
}

}  // namespace
}  // namespace dmrswitch::proto::dmr
