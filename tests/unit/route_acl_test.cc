// Acl: FreeDMR/HBlink3 access lists (PROTOCOL.md §3.9).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dataplane/route/acl.h"

namespace dmrswitch::route {
namespace {

using ::testing::HasSubstr;

constexpr uint32_t kMax32 = 0xFFFFFFFF;

Acl MustParse(std::string_view text, uint32_t min_id = Acl::kSubTgMin,
              uint32_t max_id = Acl::kSubTgMax) {
  absl::StatusOr<Acl> acl = Acl::Parse(text, min_id, max_id);
  EXPECT_TRUE(acl.ok()) << "\"" << text << "\": " << acl.status();
  return acl.ok() ? *acl : Acl::PermitAll();
}

// Parses `text`, expects InvalidArgument and returns the message.
std::string ParseError(std::string_view text, uint32_t min_id = Acl::kSubTgMin,
                       uint32_t max_id = Acl::kSubTgMax) {
  absl::StatusOr<Acl> acl = Acl::Parse(text, min_id, max_id);
  EXPECT_FALSE(acl.ok()) << "\"" << text << "\" parsed as " << acl->ToString();
  if (acl.ok()) return "";
  EXPECT_EQ(acl.status().code(), absl::StatusCode::kInvalidArgument) << acl.status();
  return std::string(acl.status().message());
}

TEST(AclTest, EmptyPermitsEverything) {
  for (std::string_view text : {"", "   ", "\t\n"}) {
    const Acl acl = MustParse(text);
    for (uint32_t id : {0u, 1u, 2u, 91u, Acl::kSubTgMax, Acl::kSubTgMax + 1, kMax32}) {
      EXPECT_TRUE(acl.Permits(id)) << "\"" << text << "\" id " << id;
    }
    EXPECT_EQ(acl.ToString(), "PERMIT:ALL");
  }
}

TEST(AclTest, PermitAllFactory) {
  const Acl acl = Acl::PermitAll();
  EXPECT_TRUE(acl.Permits(0));
  EXPECT_TRUE(acl.Permits(1));
  EXPECT_TRUE(acl.Permits(kMax32));
  EXPECT_EQ(acl.ToString(), "PERMIT:ALL");
}

TEST(AclTest, PermitAll) {
  const Acl acl = MustParse("PERMIT:ALL");
  for (uint32_t id : {0u, 1u, 3100u, Acl::kSubTgMax, kMax32}) EXPECT_TRUE(acl.Permits(id)) << id;
  EXPECT_EQ(acl.ToString(), "PERMIT:ALL");
}

TEST(AclTest, DenyAll) {
  const Acl acl = MustParse("DENY:ALL");
  for (uint32_t id : {0u, 1u, 3100u, Acl::kSubTgMax, kMax32}) EXPECT_FALSE(acl.Permits(id)) << id;
  EXPECT_EQ(acl.ToString(), "DENY:ALL");
}

TEST(AclTest, FreeDmrSubDefaultDeniesOnlyOne) {
  const Acl acl = MustParse("DENY:1");
  EXPECT_FALSE(acl.Permits(1));
  EXPECT_TRUE(acl.Permits(0));
  EXPECT_TRUE(acl.Permits(2));
  EXPECT_TRUE(acl.Permits(3120001));
  EXPECT_TRUE(acl.Permits(Acl::kSubTgMax));
  EXPECT_EQ(acl.ToString(), "DENY:1");
}

TEST(AclTest, PermitListDeniesUnlisted) {
  const Acl acl = MustParse("PERMIT:1,5-10,3100");
  EXPECT_TRUE(acl.Permits(1));
  EXPECT_FALSE(acl.Permits(0));
  EXPECT_FALSE(acl.Permits(2));
  EXPECT_FALSE(acl.Permits(4));
  EXPECT_TRUE(acl.Permits(5));
  EXPECT_TRUE(acl.Permits(7));
  EXPECT_TRUE(acl.Permits(10));
  EXPECT_FALSE(acl.Permits(11));
  EXPECT_FALSE(acl.Permits(3099));
  EXPECT_TRUE(acl.Permits(3100));
  EXPECT_FALSE(acl.Permits(3101));
  EXPECT_FALSE(acl.Permits(kMax32));
  EXPECT_EQ(acl.ToString(), "PERMIT:1,5-10,3100");
}

TEST(AclTest, DenyWithRanges) {
  const Acl acl = MustParse("DENY:100-199,1000-1000,5");
  EXPECT_TRUE(acl.Permits(4));
  EXPECT_FALSE(acl.Permits(5));
  EXPECT_TRUE(acl.Permits(6));
  EXPECT_TRUE(acl.Permits(99));
  EXPECT_FALSE(acl.Permits(100));
  EXPECT_FALSE(acl.Permits(150));
  EXPECT_FALSE(acl.Permits(199));
  EXPECT_TRUE(acl.Permits(200));
  EXPECT_TRUE(acl.Permits(999));
  EXPECT_FALSE(acl.Permits(1000));
  EXPECT_TRUE(acl.Permits(1001));
  EXPECT_EQ(acl.ToString(), "DENY:5,100-199,1000");
}

TEST(AclTest, OverlappingAndAdjacentRangesMerge) {
  EXPECT_EQ(MustParse("PERMIT:5-10,8-20").ToString(), "PERMIT:5-20");
  EXPECT_EQ(MustParse("PERMIT:5-10,11-20").ToString(), "PERMIT:5-20");
  EXPECT_EQ(MustParse("PERMIT:5-10,12-20").ToString(), "PERMIT:5-10,12-20");
  EXPECT_EQ(MustParse("PERMIT:1,2,3,4").ToString(), "PERMIT:1-4");
  EXPECT_EQ(MustParse("PERMIT:30-40,1-100").ToString(), "PERMIT:1-100");
  EXPECT_EQ(MustParse("DENY:9,9,9").ToString(), "DENY:9");
  EXPECT_EQ(MustParse("DENY:20-30,1-5,6-19").ToString(), "DENY:1-30");
  EXPECT_EQ(MustParse("PERMIT:ALL,5").ToString(), "PERMIT:ALL");
  EXPECT_EQ(MustParse("DENY:5-10,ALL").ToString(), "DENY:ALL");
  const Acl acl = MustParse("PERMIT:5-10,11-20");
  EXPECT_FALSE(acl.Permits(4));
  EXPECT_TRUE(acl.Permits(10));
  EXPECT_TRUE(acl.Permits(11));
  EXPECT_TRUE(acl.Permits(20));
  EXPECT_FALSE(acl.Permits(21));
}

TEST(AclTest, WhitespaceAndLowerCaseTolerated) {
  const Acl acl = MustParse("  permit : 1 , 5 - 10 ,\t3100 ");
  EXPECT_EQ(acl.ToString(), "PERMIT:1,5-10,3100");
  EXPECT_TRUE(acl.Permits(5));
  EXPECT_FALSE(acl.Permits(4));
  EXPECT_EQ(MustParse("Deny:all").ToString(), "DENY:ALL");
  EXPECT_EQ(MustParse("deny: 1").ToString(), "DENY:1");
  EXPECT_FALSE(MustParse("pErMiT:All").ToString().empty());
  EXPECT_TRUE(MustParse("pErMiT:All").Permits(77));
}

TEST(AclTest, MissingColon) {
  EXPECT_THAT(ParseError("PERMIT"), HasSubstr("\"PERMIT\""));
  EXPECT_THAT(ParseError("DENY 1"), HasSubstr("DENY 1"));
  EXPECT_THAT(ParseError("1,2,3"), HasSubstr("1,2,3"));
}

TEST(AclTest, BadAction) {
  EXPECT_THAT(ParseError("ALLOW:1"), HasSubstr("ALLOW"));
  EXPECT_THAT(ParseError(":1"), HasSubstr("neither PERMIT nor DENY"));
  EXPECT_THAT(ParseError("PERMITS:1"), HasSubstr("PERMITS"));
}

TEST(AclTest, EmptyEntry) {
  EXPECT_THAT(ParseError("PERMIT:1,,2"), HasSubstr("PERMIT:1,,2"));
  EXPECT_THAT(ParseError("PERMIT:1,,2"), HasSubstr("empty entry"));
  EXPECT_THAT(ParseError("PERMIT:"), HasSubstr("empty entry"));
  EXPECT_THAT(ParseError("DENY:1,"), HasSubstr("empty entry"));
  EXPECT_THAT(ParseError("DENY:, 1"), HasSubstr("empty entry"));
  EXPECT_THAT(ParseError("DENY: , "), HasSubstr("empty entry"));
}

TEST(AclTest, NonNumeric) {
  EXPECT_THAT(ParseError("PERMIT:1,abc,3"), HasSubstr("\"abc\""));
  EXPECT_THAT(ParseError("PERMIT:12x"), HasSubstr("\"12x\""));
  EXPECT_THAT(ParseError("PERMIT:0x10"), HasSubstr("\"0x10\""));
  EXPECT_THAT(ParseError("PERMIT:+5"), HasSubstr("\"+5\""));
  EXPECT_THAT(ParseError("PERMIT:1 2"), HasSubstr("\"1 2\""));
  EXPECT_THAT(ParseError("PERMIT:5-x"), HasSubstr("\"x\""));
  EXPECT_THAT(ParseError("PERMIT:y-5"), HasSubstr("\"y\""));
  EXPECT_THAT(ParseError("PERMIT:1-2-3"), HasSubstr("\"2-3\""));
  EXPECT_THAT(ParseError("PERMIT:-5"), HasSubstr("is not an ID"));
  EXPECT_THAT(ParseError("PERMIT:5-"), HasSubstr("is not an ID"));
  EXPECT_THAT(ParseError("PERMIT:ALLx"), HasSubstr("\"ALLx\""));
}

TEST(AclTest, BackwardsRange) {
  const std::string msg = ParseError("PERMIT:1,10-5");
  EXPECT_THAT(msg, HasSubstr("10-5"));
  EXPECT_THAT(msg, HasSubstr("backwards"));
  EXPECT_TRUE(Acl::Parse("PERMIT:5-5").ok());
}

TEST(AclTest, SubTgLimits) {
  EXPECT_THAT(ParseError("DENY:0"), HasSubstr("0 is outside 1..16776415"));
  EXPECT_THAT(ParseError("PERMIT:16776416"), HasSubstr("16776416 is outside 1..16776415"));
  EXPECT_THAT(ParseError("PERMIT:5,0-10"), HasSubstr("0-10 is outside"));
  EXPECT_THAT(ParseError("PERMIT:16776000-16776416"), HasSubstr("16776000-16776416 is outside"));
  EXPECT_THAT(ParseError("PERMIT:16777215"), HasSubstr("16777215"));
  const Acl acl = MustParse("PERMIT:16776415");
  EXPECT_TRUE(acl.Permits(16776415));
  EXPECT_FALSE(acl.Permits(16776414));
  EXPECT_TRUE(Acl::Parse("PERMIT:1-16776415").ok());
}

// A range spelling out every 32-bit value is not "ALL": it contains 0, which no ACL key accepts.
TEST(AclTest, FullRangeSpelledOutIsOutOfRange) {
  EXPECT_THAT(ParseError("PERMIT:0-4294967295"), HasSubstr("0-4294967295 is outside"));
  EXPECT_THAT(ParseError("DENY:0-4294967295", Acl::kRegMin, Acl::kRegMax),
              HasSubstr("0-4294967295 is outside"));
  EXPECT_TRUE(Acl::Parse("DENY:1-4294967295", Acl::kRegMin, Acl::kRegMax).ok());
}

TEST(AclTest, RegLimits) {
  EXPECT_EQ(Acl::kRegMin, 1u);
  EXPECT_EQ(Acl::kRegMax, kMax32);
  const Acl acl = MustParse("PERMIT:312000101-312000199,4294967295", Acl::kRegMin, Acl::kRegMax);
  EXPECT_TRUE(acl.Permits(312000101));
  EXPECT_TRUE(acl.Permits(312000199));
  EXPECT_FALSE(acl.Permits(312000100));
  EXPECT_FALSE(acl.Permits(312000200));
  EXPECT_TRUE(acl.Permits(kMax32));
  EXPECT_FALSE(acl.Permits(kMax32 - 1));
  EXPECT_EQ(acl.ToString(), "PERMIT:312000101-312000199,4294967295");
  EXPECT_THAT(ParseError("PERMIT:0", Acl::kRegMin, Acl::kRegMax),
              HasSubstr("0 is outside 1..4294967295"));
  // The same IDs are out of range for SUB/TG.
  EXPECT_THAT(ParseError("PERMIT:312000101"), HasSubstr("312000101 is outside"));
}

TEST(AclTest, ValueBeyond32Bits) {
  EXPECT_THAT(ParseError("PERMIT:4294967296", Acl::kRegMin, Acl::kRegMax),
              HasSubstr("\"4294967296\""));
  EXPECT_THAT(ParseError("PERMIT:1-4294967296", Acl::kRegMin, Acl::kRegMax),
              HasSubstr("\"4294967296\""));
  EXPECT_THAT(ParseError("PERMIT:99999999999999999999999", Acl::kRegMin, Acl::kRegMax),
              HasSubstr("\"99999999999999999999999\""));
}

TEST(AclTest, MessagesNameTheWholeAcl) {
  EXPECT_THAT(ParseError("PERMIT:1,2,bogus"), HasSubstr("ACL \"PERMIT:1,2,bogus\""));
  EXPECT_THAT(ParseError("DENY:3,20-10"), HasSubstr("ACL \"DENY:3,20-10\""));
}

TEST(AclTest, ToStringRoundTrip) {
  for (std::string_view text :
       {"", "PERMIT:ALL", "DENY:ALL", "DENY:1", "PERMIT:1,5-10,3100", "DENY:100-199,5",
        "permit: 7 , 3-4", "PERMIT:16776415", "DENY:1-16776415"}) {
    const Acl a = MustParse(text);
    const std::string s = a.ToString();
    const Acl b = MustParse(s);
    EXPECT_EQ(b.ToString(), s) << text;
    for (uint32_t id :
         {0u,  1u,   2u,   3u,   4u,   5u,    6u,    7u,        8u,        10u,       11u,
          99u, 100u, 150u, 199u, 200u, 3100u, 3101u, 16776414u, 16776415u, 16776416u, kMax32}) {
      EXPECT_EQ(a.Permits(id), b.Permits(id)) << text << " id " << id;
    }
  }
  const Acl reg = MustParse("DENY:1-4294967295", Acl::kRegMin, Acl::kRegMax);
  EXPECT_EQ(reg.ToString(), "DENY:1-4294967295");
  EXPECT_TRUE(reg.Permits(0));
  EXPECT_FALSE(reg.Permits(kMax32));
}

// Brute-force model: a list of inclusive ranges and an action.
struct Model {
  bool permit = false;
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
  bool Permits(uint32_t id) const {
    bool listed = false;
    for (const auto& [lo, hi] : ranges) listed |= lo <= id && id <= hi;
    return listed == permit;
  }
};

TEST(AclTest, RandomizedAgainstModel) {
  std::mt19937 rng(20240607);
  for (int iter = 0; iter < 2000; ++iter) {
    // Small domains make overlaps and adjacency common; some lists use the whole SUB/TG range.
    const bool wide = iter % 4 == 3;
    const uint32_t domain = wide ? Acl::kSubTgMax : 60;
    std::uniform_int_distribution<uint32_t> id_dist(1, domain);
    Model m;
    m.permit = rng() & 1;
    std::string text = m.permit ? "PERMIT:" : "DENY:";
    const int n = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < n; ++i) {
      if (i > 0) text += (rng() & 1) ? "," : " , ";
      uint32_t lo = id_dist(rng);
      uint32_t hi = lo;
      switch (rng() % 3) {
        case 0:
          text += std::to_string(lo);
          break;
        case 1: {
          const uint32_t len = wide ? rng() % 100000 : rng() % 12;
          hi = static_cast<uint32_t>(std::min<uint64_t>(uint64_t{lo} + len, domain));
          text += std::to_string(lo) + "-" + std::to_string(hi);
          break;
        }
        default:
          // Adjacent to the previous entry, when there is one.
          if (!m.ranges.empty() && m.ranges.back().second < domain) {
            lo = m.ranges.back().second + 1;
            hi = static_cast<uint32_t>(std::min<uint64_t>(uint64_t{lo} + rng() % 5, domain));
          }
          text += std::to_string(lo) + "-" + std::to_string(hi);
          break;
      }
      m.ranges.emplace_back(lo, hi);
    }
    if (rng() % 50 == 0) {
      text += ",ALL";
      m.ranges.emplace_back(0, kMax32);
    }
    const Acl acl = MustParse(text);
    const Acl again = MustParse(acl.ToString());
    EXPECT_EQ(again.ToString(), acl.ToString());

    std::vector<uint32_t> probes = {0, 1, domain, domain + 1, Acl::kSubTgMax, kMax32};
    for (const auto& [lo, hi] : m.ranges) {
      for (uint64_t v : {uint64_t{lo} - 1, uint64_t{lo}, uint64_t{hi}, uint64_t{hi} + 1}) {
        probes.push_back(static_cast<uint32_t>(v));
      }
    }
    for (int i = 0; i < 40; ++i) probes.push_back(id_dist(rng));
    if (!wide) {
      for (uint32_t v = 0; v <= domain + 1; ++v) probes.push_back(v);
    }
    for (uint32_t id : probes) {
      ASSERT_EQ(acl.Permits(id), m.Permits(id)) << text << " -> " << acl.ToString() << " id " << id;
      ASSERT_EQ(again.Permits(id), m.Permits(id)) << acl.ToString() << " id " << id;
    }
  }
}

}  // namespace
}  // namespace dmrswitch::route
