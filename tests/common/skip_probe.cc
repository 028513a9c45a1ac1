// A GoogleTest program for tests/common/skip_contract_test.sh, not a test of its own: one test
// that passes and one that skips (GTEST_SKIP), selected with --gtest_filter, so the script can
// check the exit status gtest_main.cc gives each outcome.
#include <gtest/gtest.h>

TEST(SkipProbe, Passes) { SUCCEED(); }

TEST(SkipProbe, Skips) { GTEST_SKIP() << "the probe's skip"; }

TEST(SkipProbe, Fails) { FAIL() << "the probe's failure"; }
