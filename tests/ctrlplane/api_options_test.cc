// ApiOptions: the JSON API's stored options survive a reopen (a restart), are written atomically
// and privately, refuse a malformed file by name; WithSlotStatics edits one slot of a string.
#include "ctrlplane/api_options.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace dmrswitch::cp {
namespace {

class ApiOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/api-options-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/options.json";
  }
  void TearDown() override {
    unlink(path_.c_str());
    unlink((path_ + ".tmp").c_str());
    rmdir(dir_.c_str());
  }
  std::string dir_, path_;
};

TEST_F(ApiOptionsTest, StoredOptionsSurviveAReopenInAPrivateFile) {
  {
    auto store = ApiOptions::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ((*store)->size(), 0u);  // no file yet: empty
    ASSERT_TRUE((*store)->Set(3120001, "TS2=3100;KEY=s3cret").ok());
    ASSERT_TRUE((*store)->Set(3120002, "TS1=235").ok());
    ASSERT_TRUE((*store)->Set(3120002, "TS1=236").ok());
    ASSERT_TRUE((*store)->Set(3120003, "TS2=91").ok());
    ASSERT_TRUE((*store)->Clear(3120003).ok());
    ASSERT_TRUE((*store)->Clear(3120009).ok());  // nothing to clear
  }
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);  // it may hold a KEY
  EXPECT_NE(access((path_ + ".tmp").c_str(), F_OK), 0);
  auto again = ApiOptions::Open(path_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->size(), 2u);
  ASSERT_NE((*again)->Find(3120001), nullptr);
  EXPECT_EQ(*(*again)->Find(3120001), "TS2=3100");  // a KEY is never stored
  EXPECT_EQ(*(*again)->Find(3120002), "TS1=236");
  EXPECT_EQ((*again)->Find(3120003), nullptr);
}

TEST_F(ApiOptionsTest, AFileThatCannotBeWrittenLeavesTheStoreUnchanged) {
  auto store = ApiOptions::Open(dir_ + "/missing-dir/options.json");
  ASSERT_TRUE(store.ok());
  const absl::Status st = (*store)->Set(1, "TS2=91");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("missing-dir"), std::string::npos) << st;
  EXPECT_EQ((*store)->Find(1), nullptr);
  EXPECT_FALSE((*store)->Set(1, std::string(2000, 'x')).ok());  // longer than an RPTO may be
}

TEST_F(ApiOptionsTest, AMalformedFileIsRefusedByName) {
  for (const char* text : {"not json", "[]", R"({"options":[]})", R"({"options":{"abc":"TS2=1"}})",
                           R"({"options":{"0":"TS2=1"}})", R"({"options":{"12":5}})"}) {
    std::ofstream(path_) << text;
    auto store = ApiOptions::Open(path_);
    ASSERT_FALSE(store.ok()) << text;
    EXPECT_NE(store.status().message().find(path_), std::string::npos) << store.status();
    EXPECT_NE(store.status().message().find("report.api_options_file"), std::string::npos);
  }
}

TEST(WithoutKey, DropsKeyEntriesAsTheParserWouldReadThem) {
  EXPECT_EQ(WithoutKey("TS2=91;KEY=abc"), "TS2=91");
  EXPECT_EQ(WithoutKey(" key = x ;TS1=1;\"KEY\"=y;KEYS=z;DIAL=262"), "TS1=1;KEYS=z;DIAL=262");
  EXPECT_EQ(WithoutKey("KEY=a"), "");
}

TEST(WithSlotStatics, ReplacesOneSlotsEntriesAndKeepsTheRest) {
  EXPECT_EQ(WithSlotStatics("", 2, {91}), "TS2=91");
  EXPECT_EQ(WithSlotStatics("TS1=1;TS2=91;KEY=k", 2, {91, 3100}), "TS1=1;KEY=k;TS2=91,3100");
  EXPECT_EQ(WithSlotStatics("ts2=5; TS2_1=6 ;DIAL=262;TS21=7", 2, {}), "DIAL=262;TS21=7;TS2=");
  EXPECT_EQ(WithSlotStatics("TS1=1;TS1_9=2;TS2=3", 1, {4}), "TS2=3;TS1=4");
}

}  // namespace
}  // namespace dmrswitch::cp
