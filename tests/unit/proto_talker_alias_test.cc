// Talker alias decoding (ETSI TS 102 361-2 §7.2.18, as DMRA carries it): the four formats, blocks
// arriving in any order or not at all, NUL padding, unprintable input, and random bytes (the
// output is always valid, printable UTF-8).

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "dataplane/proto/talker_alias.h"

namespace dmrswitch::proto::dmr {
namespace {

using Blocks = std::array<uint8_t, kTalkerAliasBlockBytes * kTalkerAliasBlocks>;

// Lays out an alias as a radio would: byte 0 = format(2) | length(5) | first data bit, then the
// data. `data_bits` are the character bits in order (7 per character for the 7-bit format,
// else the encoded bytes), starting at bit 0 of byte 0 for 7-bit and at byte 1 otherwise.
Blocks Encode(TalkerAliasFormat format, unsigned length, const std::vector<bool>& data_bits) {
  Blocks b{};
  b[0] = static_cast<uint8_t>((static_cast<unsigned>(format) << 6) | ((length & 0x1F) << 1));
  size_t bit = format == TalkerAliasFormat::k7Bit ? 7 : 8;
  for (bool v : data_bits) {
    if (bit >= b.size() * 8) break;
    if (v) b[bit / 8] |= static_cast<uint8_t>(0x80 >> (bit % 8));
    ++bit;
  }
  return b;
}

std::vector<bool> Bits(const std::vector<uint32_t>& units, int width) {
  std::vector<bool> out;
  for (uint32_t u : units) {
    for (int k = width - 1; k >= 0; --k) out.push_back(((u >> k) & 1u) != 0);
  }
  return out;
}

std::vector<uint32_t> Units(const std::string& s) { return {s.begin(), s.end()}; }

constexpr uint8_t kAll = 0x0F;

TEST(TalkerAliasTest, SevenBitNeedsTheBlocksItsLengthNeeds) {
  // 11 characters x 7 bits = 77 bits: the header holds 49, block 1 the rest.
  const Blocks b = Encode(TalkerAliasFormat::k7Bit, 11, Bits(Units("DL1ABC Hans"), 7));
  EXPECT_EQ(DecodeTalkerAlias(b, 0b0001), std::nullopt);
  EXPECT_EQ(DecodeTalkerAlias(b, 0b0011), "DL1ABC Hans");
  EXPECT_EQ(DecodeTalkerAlias(b, 0b1011), "DL1ABC Hans");  // block 3 without block 2: not needed
  EXPECT_EQ(DecodeTalkerAlias(b, 0b0010), std::nullopt);   // no header
  // Seven characters fit the header alone.
  EXPECT_EQ(DecodeTalkerAlias(Encode(TalkerAliasFormat::k7Bit, 7, Bits(Units("PD0ZRY "), 7)), 1),
            "PD0ZRY");
}

TEST(TalkerAliasTest, ALongSevenBitAliasNeedsEveryBlock) {
  const std::string text = "G4ABC Jonathan Smith, Leeds UK";  // 30 characters
  const Blocks b = Encode(TalkerAliasFormat::k7Bit, 30, Bits(Units(text), 7));
  EXPECT_EQ(DecodeTalkerAlias(b, 0b0111), std::nullopt);
  EXPECT_EQ(DecodeTalkerAlias(b, 0b1101), std::nullopt);  // block 1 missing: 2 and 3 unusable
  EXPECT_EQ(DecodeTalkerAlias(b, kAll), text);
}

TEST(TalkerAliasTest, Iso8859IsConvertedToUtf8) {
  // 13 bytes: header (6) + block 1 (7).
  std::vector<uint32_t> u = Units("DL1ABC J");
  u.push_back(0xFC);  // ü
  for (char c : std::string("rgen")) u.push_back(static_cast<uint8_t>(c));
  const Blocks b = Encode(TalkerAliasFormat::kIso8859, 13, Bits(u, 8));
  EXPECT_EQ(DecodeTalkerAlias(b, 0b0001), std::nullopt);
  EXPECT_EQ(DecodeTalkerAlias(b, 0b0011), "DL1ABC J\xC3\xBCrgen");
}

TEST(TalkerAliasTest, Utf8CountsCharactersAndWaitsForASplitSequence) {
  // 9 characters in 10 bytes (Ł is U+0141): the header holds the first 6 bytes.
  const std::string text = "SP5\xC5\x81K Ola";
  const Blocks b = Encode(TalkerAliasFormat::kUtf8, 9, Bits(Units(text), 8));
  EXPECT_EQ(DecodeTalkerAlias(b, 0b0001), std::nullopt);
  EXPECT_EQ(DecodeTalkerAlias(b, 0b0011), text);
  // A sequence split by the end of the header waits for block 1.
  const std::string split = "ABCDE\xC5\x81";  // Ł in header byte 6 and block 1 byte 0
  const Blocks s = Encode(TalkerAliasFormat::kUtf8, 6, Bits(Units(split), 8));
  EXPECT_EQ(DecodeTalkerAlias(s, 0b0001), std::nullopt);
  EXPECT_EQ(DecodeTalkerAlias(s, 0b0011), split);
  // Malformed sequences are '?', overlong ones too.
  const Blocks bad =
      Encode(TalkerAliasFormat::kUtf8, 4, Bits({'A', 0xC0, 0xAF, 0xFF, 'B', 'C'}, 8));
  EXPECT_EQ(DecodeTalkerAlias(bad, 0b0001), "A??B");
}

TEST(TalkerAliasTest, Utf16WithASurrogatePair) {
  const Blocks b = Encode(TalkerAliasFormat::kUtf16, 5, Bits({'J', 'A', '1', 0xD83D, 0xDCFB}, 16));
  // 10 bytes: the header holds 6, block 1 the rest; the pair is one character.
  EXPECT_EQ(DecodeTalkerAlias(b, 0b0001), std::nullopt);
  EXPECT_EQ(DecodeTalkerAlias(b, 0b0011), "JA1\xF0\x9F\x93\xBB");  // U+1F4FB, one character
  const Blocks lone = Encode(TalkerAliasFormat::kUtf16, 3, Bits({'A', 0xDC00, 'B'}, 16));
  EXPECT_EQ(DecodeTalkerAlias(lone, 0b0001), "A?B");
}

TEST(TalkerAliasTest, NulPaddingEndsTheAliasAndTrailingSpacesGo) {
  // Radios send a fixed length padded with NULs or spaces.
  std::vector<uint32_t> u = Units("N0CALL");
  u.resize(20, 0);
  const Blocks nul = Encode(TalkerAliasFormat::kIso8859, 20, Bits(u, 8));
  EXPECT_EQ(DecodeTalkerAlias(nul, 0b0001), std::nullopt);  // the NUL is in block 1
  EXPECT_EQ(DecodeTalkerAlias(nul, 0b0011), "N0CALL");
  const Blocks spaces = Encode(TalkerAliasFormat::k7Bit, 10, Bits(Units("N0CALL    "), 7));
  EXPECT_EQ(DecodeTalkerAlias(spaces, 0b0011), "N0CALL");
  EXPECT_EQ(DecodeTalkerAlias(Encode(TalkerAliasFormat::k7Bit, 3, Bits(Units("   "), 7)), 1),
            std::nullopt);
  EXPECT_EQ(DecodeTalkerAlias(Encode(TalkerAliasFormat::k7Bit, 0, {}), kAll), std::nullopt);
}

TEST(TalkerAliasTest, ControlCharactersAreNotPassedOn) {
  const Blocks b = Encode(TalkerAliasFormat::kIso8859, 5, Bits({'A', 0x1B, '[', 0x85, 0x7F}, 8));
  EXPECT_EQ(DecodeTalkerAlias(b, 0b0001), "A?[??");
}

bool IsPrintableUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<uint8_t>(s[i]);
    size_t n = 0;
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7F) return false;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
    } else {
      return false;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size() || (static_cast<uint8_t>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n + 1;
  }
  return true;
}

TEST(TalkerAliasTest, RandomBlocksDecodeToPrintableUtf8OrNothing) {
  std::mt19937 rng(20261204);
  std::uniform_int_distribution<int> byte(0, 255);
  size_t decoded = 0;
  for (int round = 0; round < 200000; ++round) {
    Blocks b;
    for (uint8_t& x : b) x = static_cast<uint8_t>(byte(rng));
    const std::optional<std::string> s = DecodeTalkerAlias(b, static_cast<uint8_t>(round & 0xFF));
    if (!s) continue;
    ++decoded;
    ASSERT_FALSE(s->empty());
    ASSERT_TRUE(IsPrintableUtf8(*s)) << *s;
    ASSERT_LE(s->size(), 31u * 4);
  }
  EXPECT_GT(decoded, 1000u);
}

TEST(TalkerAliasTest, TheCallsignIsTheFirstWord) {
  EXPECT_EQ(TalkerAliasCallsign("DL1ABC Hans"), "DL1ABC");
  EXPECT_EQ(TalkerAliasCallsign("  G4ABC"), "G4ABC");
  EXPECT_EQ(TalkerAliasCallsign("N0CALL"), "N0CALL");
  EXPECT_EQ(TalkerAliasCallsign(""), "");
  EXPECT_EQ(TalkerAliasCallsign("   "), "");
}

}  // namespace
}  // namespace dmrswitch::proto::dmr
