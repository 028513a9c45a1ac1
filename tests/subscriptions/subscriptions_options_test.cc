// ParseOptions: the RPTO / DMRGateway / Pi-Star options string (PROTOCOL.md §3.4).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ctrlplane/subscriptions/options.h"
#include "dataplane/route/tg_policy.h"

namespace dmrswitch::cp {
namespace {

using ::testing::HasSubstr;

// One line per parsed options string, fields in a fixed order; "-" = absent.
std::string Describe(const ClientOptions& o) {
  auto tgs = [](const std::optional<std::vector<uint32_t>>& v) {
    return v ? absl::StrCat("[", absl::StrJoin(*v, ","), "]") : std::string("-");
  };
  auto num = [](const std::optional<uint32_t>& v) {
    return v ? absl::StrCat(*v) : std::string("-");
  };
  auto flag = [](const std::optional<bool>& v) {
    return v ? std::string(*v ? "1" : "0") : std::string("-");
  };
  auto str = [](const std::optional<std::string>& v) { return v ? *v : std::string("-"); };
  return absl::StrCat("ts1=", tgs(o.statics[0]), " ts2=", tgs(o.statics[1]), " dial=", num(o.dial),
                      " timer=", num(o.timer_minutes), " voice=", flag(o.voice),
                      " identtg=", num(o.ident_tg), " lang=", str(o.lang),
                      " single=", flag(o.single), " key=", str(o.key));
}

constexpr std::string_view kNothing =
    "ts1=- ts2=- dial=- timer=- voice=- identtg=- lang=- single=- key=-";

struct Case {
  std::string name;
  std::string input;
  std::string expect;                 // Describe() of the result
  std::vector<std::string> warnings;  // one substring per expected warning, in order
};

std::vector<Case> Cases() {
  using namespace std::string_literals;
  return {
      {"empty", "", std::string(kNothing), {}},
      {"blanks and separators only", " ; ;; \r\n", std::string(kNothing), {}},
      {"statics both slots",
       "TS1=91,235;TS2=3100",
       "ts1=[91,235] ts2=[3100] dial=- timer=- voice=- identtg=- lang=- single=- key=-",
       {}},
      {"lower-case keys, blanks around everything",
       " ts1 = 235 , 91 ; Ts2= 3100 ",
       "ts1=[91,235] ts2=[3100] dial=- timer=- voice=- identtg=- lang=- single=- key=-",
       {}},
      {"DMR+ style TS1_n/TS2_n merge with TSn",
       "TS1_1=91;TS1_2=92;TS1=93;TS2_9=3100;ts2_1=3101",
       "ts1=[91,92,93] ts2=[3100,3101] dial=- timer=- voice=- identtg=- lang=- single=- key=-",
       {}},
      {"repeated key merges, duplicates removed",
       "TS2=91,91;TS2=91,92",
       "ts1=- ts2=[91,92] dial=- timer=- voice=- identtg=- lang=- single=- key=-",
       {}},
      {"empty list clears",
       "TS1=;TS2=,",
       "ts1=[] ts2=[] dial=- timer=- voice=- identtg=- lang=- single=- key=-",
       {}},
      {"TS1_0 and TS1_10 are unknown",
       "TS1_0=91;TS1_10=92",
       std::string(kNothing),
       {"unknown options key \"TS1_0\"", "unknown options key \"TS1_10\""}},
      {"DIAL",
       "DIAL=262",
       "ts1=- ts2=- dial=262 timer=- voice=- identtg=- lang=- single=- key=-",
       {}},
      {"StartRef alias",
       "StartRef=4001x;startref=262",
       "ts1=- ts2=- dial=262 timer=- voice=- identtg=- lang=- single=- key=-",
       {"StartRef=4001x: not a number"}},
      {"DIAL=0 is none",
       "DIAL=0",
       "ts1=- ts2=- dial=0 timer=- voice=- identtg=- lang=- single=- key=-",
       {}},
      {"DIAL reserved or not dialable",
       "DIAL=9;DIAL=4;DIAL=4000;DIAL=4500;DIAL=9991;DIAL=1000000",
       std::string(kNothing),
       {"DIAL=9: TG 9 cannot be dialled",
        "DIAL=4:", "DIAL=4000:", "DIAL=4500:", "DIAL=9991:", "DIAL=1000000:"}},
      {"DIAL 9990 is reserved", "DIAL=9990", std::string(kNothing), {"TG 9990 cannot be dialled"}},
      {"TIMER",
       "TIMER=15",
       "ts1=- ts2=- dial=- timer=15 voice=- identtg=- lang=- single=- key=-",
       {}},
      {"RelinkTime alias, 0",
       "RelinkTime=0",
       "ts1=- ts2=- dial=- timer=0 voice=- identtg=- lang=- single=- key=-",
       {}},
      {"TIMER malformed",
       "TIMER=abc;TIMER=-5;TIMER=99999999999;TIMER=+5;TIMER=",
       std::string(kNothing),
       {"TIMER=abc: not a number", "TIMER=-5", "TIMER=99999999999", "TIMER=+5", "TIMER=:"}},
      {"VOICE and IDENT",
       "VOICE=1;IDENT=0",
       "ts1=- ts2=- dial=- timer=- voice=0 identtg=- lang=- single=- key=-",
       {}},
      {"VOICE nonzero is on",
       "voice=2",
       "ts1=- ts2=- dial=- timer=- voice=1 identtg=- lang=- single=- key=-",
       {}},
      {"IDENTTG and VOICETG",
       "IDENTTG=9;VOICETG=91",
       "ts1=- ts2=- dial=- timer=- voice=- identtg=91 lang=- single=- key=-",
       {}},
      {"IDENTTG all-call allowed, 0 and beyond 24 bits not",
       "IDENTTG=0;VOICETG=16777216;IDENTTG=16777215",
       "ts1=- ts2=- dial=- timer=- voice=- identtg=16777215 lang=- single=- key=-",
       {"IDENTTG=0: not a TG", "VOICETG=16777216: not a TG"}},
      {"LANG",
       "LANG=en_GB",
       "ts1=- ts2=- dial=- timer=- voice=- identtg=- lang=en_GB single=- key=-",
       {}},
      {"LANG invalid",
       "LANG=en GB;LANG=;LANG=abcdefghijklmnopq",
       std::string(kNothing),
       {"LANG=en GB: not a language tag", "LANG=: not a language tag",
        "LANG=abcdefghijklmnopq: not a language tag"}},
      {"SINGLE",
       "SINGLE=0",
       "ts1=- ts2=- dial=- timer=- voice=- identtg=- lang=- single=0 key=-",
       {}},
      {"SINGLE on",
       "single=1",
       "ts1=- ts2=- dial=- timer=- voice=- identtg=- lang=- single=1 key=-",
       {}},
      {"SINGLE malformed", "SINGLE=yes", std::string(kNothing), {"SINGLE=yes: not a number"}},
      {"KEY keeps case and '='",
       "KEY=s3Cr=t",
       "ts1=- ts2=- dial=- timer=- voice=- identtg=- lang=- single=- key=s3Cr=t",
       {}},
      {"KEY empty or too long",
       "KEY=;KEY=" + std::string(65, 'k'),
       std::string(kNothing),
       {"KEY: key must be 1..64", "KEY: key must be 1..64"}},
      {"UserLink ignored silently", "UserLink=1;userlink;USERLINK=abc", std::string(kNothing), {}},
      {"reserved static TGs dropped on both slots",
       "TS1=0,1,2,3,4,5,9,9990,9999,6,91;TS2=9,9995,4000,5000,16777215,3100",
       "ts1=[6,91] ts2=[3100] dial=- timer=- voice=- identtg=- lang=- single=- key=-",
       {"TS1: TG 0 is reserved", "TS1: TG 1 is reserved", "TS1: TG 2 is reserved",
        "TS1: TG 3 is reserved", "TS1: TG 4 is reserved", "TS1: TG 5 is reserved",
        "TS1: TG 9 is reserved", "TS1: TG 9990 is reserved", "TS1: TG 9999 is reserved",
        "TS2: TG 9 is reserved", "TS2: TG 9995 is reserved", "TS2: TG 4000 cannot be subscribed",
        "TS2: TG 5000 cannot be subscribed", "TS2: TG 16777215 cannot be subscribed"}},
      {"9989 and 10000 are fine",
       "TS2=9989,10000",
       "ts1=- ts2=[9989,10000] dial=- timer=- voice=- identtg=- lang=- single=- key=-",
       {}},
      {"junk",
       "foo=bar;garbage;=;TS2=91x,92,  ,7 7;ts3=1",
       "ts1=- ts2=[92] dial=- timer=- voice=- identtg=- lang=- single=- key=-",
       {"unknown options key \"foo\"", "an options entry without '=' is ignored",
        "unknown options key \"\"", "TS2: \"91x\" is not a TG number",
        "TS2: \"7 7\" is not a TG number", "unknown options key \"ts3\""}},
      {"NULs, non-ASCII and quotes stripped",
       "TS2=\"3100\"\0\0;KEY='s3cr\xC3\xA9t';\"LANG\"=de_DE\0"s,
       "ts1=- ts2=[3100] dial=- timer=- voice=- identtg=- lang=de_DE single=- key=s3crt",
       {}},
      {"NUL inside a number is stripped",
       "TS1=9\0001"s,
       "ts1=[91] ts2=- dial=- timer=- voice=- identtg=- lang=- single=- key=-",
       {}},
      {"Pi-Star style full string",
       "StartRef=4000;RelinkTime=60;UserLink=1;TS1_1=91;TS1_2=92;TS2_1=262;TS2_2=3100",
       "ts1=[91,92] ts2=[262,3100] dial=- timer=60 voice=- identtg=- lang=- single=- key=-",
       {"StartRef=4000: TG 4000 cannot be dialled"}},
      {"FreeDMR style full string",
       "TS1=91;TS2=3100,2350;DIAL=262;VOICE=1;LANG=en_GB;SINGLE=1;TIMER=10;KEY=abc;IDENTTG=9",
       "ts1=[91] ts2=[2350,3100] dial=262 timer=10 voice=1 identtg=9 lang=en_GB single=1 key=abc",
       {}},
  };
}

TEST(ParseOptionsTest, Table) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<ClientOptions> o = ParseOptions(c.input);
    ASSERT_TRUE(o.ok()) << o.status();
    EXPECT_EQ(Describe(*o), c.expect);
    ASSERT_EQ(o->warnings.size(), c.warnings.size()) << absl::StrJoin(o->warnings, " | ");
    for (size_t i = 0; i < c.warnings.size(); ++i) {
      EXPECT_THAT(o->warnings[i], HasSubstr(c.warnings[i]));
    }
  }
}

TEST(ParseOptionsTest, ClientTextInWarningsIsEscapedAndCutShort) {
  // A newline would forge a log line, ESC reaches the operator's terminal, and a long key would
  // fill the log: every byte of client text that a warning quotes is printable and bounded.
  const std::string evil = "x\n2030-01-01 [critical] hub compromised\x1b[31m;" +
                           std::string(500, 'K') + "=1;TS2=\x1b]0\x07";
  absl::StatusOr<ClientOptions> o = ParseOptions(evil);
  ASSERT_TRUE(o.ok());
  ASSERT_EQ(o->warnings.size(), 3u) << absl::StrJoin(o->warnings, " | ");
  for (const std::string& w : o->warnings) {
    for (char ch : w) {
      EXPECT_TRUE(ch >= 0x20 && ch < 0x7F) << "raw byte " << static_cast<int>(ch) << " in " << w;
    }
    EXPECT_LT(w.size(), 120u) << w;
  }
  EXPECT_THAT(o->warnings[0], HasSubstr("an options entry without '=' is ignored"));
  EXPECT_THAT(o->warnings[1], HasSubstr("unknown options key \"KKKKKKKK"));
  EXPECT_THAT(o->warnings[1], HasSubstr("...(500 bytes)"));
  EXPECT_THAT(o->warnings[2], HasSubstr("\"\\x1b]0\\x07\" is not a TG number"));
}

TEST(ParseOptionsTest, OversizedIsAnError) {
  std::string big = "TS2=91;";
  big.resize(kMaxOptionsBytes, ';');
  EXPECT_TRUE(ParseOptions(big).ok());
  big.push_back(';');
  absl::StatusOr<ClientOptions> o = ParseOptions(big);
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(o.status().message(), HasSubstr("exceeds"));
}

TEST(ParseOptionsTest, TooManyStaticsPerSlot) {
  std::vector<uint32_t> tgs;
  for (uint32_t tg = 100; tg < 100 + kMaxOptionStaticsPerSlot + 3; ++tg) tgs.push_back(tg);
  absl::StatusOr<ClientOptions> o = ParseOptions(absl::StrCat("TS2=", absl::StrJoin(tgs, ",")));
  ASSERT_TRUE(o.ok());
  ASSERT_TRUE(o->statics[1].has_value());
  EXPECT_EQ(o->statics[1]->size(), kMaxOptionStaticsPerSlot);
  ASSERT_EQ(o->warnings.size(), 1u);
  EXPECT_THAT(o->warnings[0], HasSubstr("3 ignored"));
}

TEST(ParseOptionsTest, ReservedStaticTgs) {
  for (uint32_t tg : {0u, 1u, 5u, 9u, 9990u, 9995u, 9999u})
    EXPECT_TRUE(dmrswitch::route::IsReservedStaticTg(tg));
  for (uint32_t tg : {6u, 8u, 10u, 91u, 9989u, 10000u})
    EXPECT_FALSE(dmrswitch::route::IsReservedStaticTg(tg));
}

TEST(ParseOptionsTest, ArbitraryBytesNeverCrash) {
  uint32_t x = 12345;
  for (int i = 0; i < 2000; ++i) {
    std::string s;
    const int n = static_cast<int>(x % 64);
    for (int j = 0; j < n; ++j) {
      x = x * 1103515245u + 12345u;
      static constexpr char kAlphabet[] = "TS12=;,_0123456789DIALKEY\"' \0\xff";
      s.push_back(kAlphabet[(x >> 16) % (sizeof(kAlphabet) - 1)]);
    }
    absl::StatusOr<ClientOptions> o = ParseOptions(s);
    ASSERT_TRUE(o.ok());
    for (unsigned ts = 0; ts < 2; ++ts) {
      if (!o->statics[ts]) continue;
      for (uint32_t tg : *o->statics[ts])
        EXPECT_FALSE(dmrswitch::route::IsReservedStaticTg(tg)) << tg;
    }
  }
}

}  // namespace
}  // namespace dmrswitch::cp
