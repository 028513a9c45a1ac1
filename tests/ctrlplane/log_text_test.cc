// Client text in the log (ctrlplane/log_text.h): escaped, cut short, and rate-limited per client
// and in all.
#include "ctrlplane/log_text.h"

#include <gtest/gtest.h>

#include <string>

namespace dmrswitch::cp {
namespace {

using route::kSec;

TEST(EscapeTextTest, OnlyPrintableAsciiLeaves) {
  EXPECT_EQ(EscapeText("TS1=91"), "TS1=91");
  EXPECT_EQ(EscapeText("a\nb"), "a\\x0ab");
  EXPECT_EQ(EscapeText("\x1b[31mred"), "\\x1b[31mred");
  EXPECT_EQ(EscapeText("q\"uote\\"), "q\\\"uote\\\\");
  EXPECT_EQ(EscapeText(std::string("\0\x7f\xff", 3)), "\\x00\\x7f\\xff");
  const std::string all = [] {
    std::string s;
    for (int c = 0; c < 256; ++c) s.push_back(static_cast<char>(c));
    return s;
  }();
  for (char ch : EscapeText(all, all.size())) EXPECT_TRUE(ch >= 0x20 && ch < 0x7F);
}

TEST(EscapeTextTest, LongTextIsCut) {
  EXPECT_EQ(EscapeText(std::string(10, 'x'), 4), "xxxx...(10 bytes)");
  EXPECT_EQ(EscapeText(std::string(4, 'x'), 4), "xxxx");
}

TEST(LogBudgetTest, PerKeyAndTotalBudgets) {
  LogBudget::Limits l;
  l.per_key_burst = 3;
  l.per_key_every = 10 * kSec;
  l.total_burst = 5;
  l.total_every = kSec;
  LogBudget b(l);
  const route::TimeNs t0 = 1000 * kSec;
  // One key: its burst, then nothing until a token comes back.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(b.Allow(1, t0));
  EXPECT_FALSE(b.Allow(1, t0));
  // Others still write, up to the total.
  EXPECT_TRUE(b.Allow(2, t0));
  EXPECT_TRUE(b.Allow(3, t0));
  EXPECT_FALSE(b.Allow(4, t0));  // total burst spent
  EXPECT_EQ(b.TakeSuppressed(), 2u);
  EXPECT_EQ(b.TakeSuppressed(), 0u);
  // The total refills at 1 a second, key 1 at one per 10 s.
  EXPECT_FALSE(b.Allow(1, t0 + 9 * kSec));
  EXPECT_TRUE(b.Allow(4, t0 + 9 * kSec));
  EXPECT_TRUE(b.Allow(1, t0 + 10 * kSec));
  EXPECT_FALSE(b.Allow(1, t0 + 10 * kSec));
}

TEST(LogBudgetTest, AFloodWritesBoundedLines) {
  LogBudget b;  // defaults: 5 per key per 10 s, 10 a second in all
  const route::TimeNs t0 = 1000 * kSec;
  uint64_t written = 0;
  // One client, 100,000 lines in 10 s.
  for (route::TimeNs i = 0; i < 100000; ++i) written += b.Allow(7, t0 + i * 100'000) ? 1 : 0;
  EXPECT_LE(written, 6u);
  // 10,000 keys (spoofed sources), 10,000 lines in 1 s: the total holds.
  written = 0;
  for (uint64_t k = 0; k < 10000; ++k)
    written += b.Allow(100 + k, t0 + 20 * kSec + k * 100'000) ? 1 : 0;
  EXPECT_LE(written, 61u);
  EXPECT_LE(b.tracked_keys(), LogBudget::Limits{}.max_keys);
}

}  // namespace
}  // namespace dmrswitch::cp
