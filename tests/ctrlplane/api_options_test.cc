// ApiOptions: the JSON API's stored options survive a reopen (a restart), are written atomically,
// privately and off the caller's thread (acknowledged once on disk; a failed rewrite reported and
// retried), refuse a malformed file by name; WithSlotStatics edits one slot of a string.
#include "ctrlplane/api_options.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

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

TEST_F(ApiOptionsTest, AFileThatCannotBeWrittenIsReportedAndRetriedWithTheNextChange) {
  const std::string sub = dir_ + "/later";
  auto store = ApiOptions::Open(sub + "/options.json");
  ASSERT_TRUE(store.ok());
  const absl::StatusOr<uint64_t> ticket = (*store)->Set(1, "TS2=91");
  ASSERT_TRUE(ticket.ok());
  ASSERT_NE((*store)->Find(1), nullptr);  // applies at once, saved or not
  const absl::Status st = (*store)->Flush();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("later"), std::string::npos) << st;
  absl::Status told;
  (*store)->WhenWritten(*ticket, [&](absl::Status s) { told = s; });
  EXPECT_EQ(told, st);
  EXPECT_FALSE((*store)->Set(1, std::string(2000, 'x')).ok());  // longer than an RPTO may be
  EXPECT_EQ(*(*store)->Find(1), "TS2=91");

  // The directory appears: the next change writes the whole store, the earlier one included.
  ASSERT_EQ(mkdir(sub.c_str(), 0700), 0);
  ASSERT_TRUE((*store)->Set(2, "TS1=235").ok());
  EXPECT_TRUE((*store)->Flush().ok());
  store->reset();
  auto again = ApiOptions::Open(sub + "/options.json");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->size(), 2u);
  again->reset();
  unlink((sub + "/options.json").c_str());
  rmdir(sub.c_str());
}

TEST_F(ApiOptionsTest, ChangesAreWrittenOffTheCallersThreadAndAcknowledgedWhenOnDisk) {
  auto store = ApiOptions::Open(path_);
  ASSERT_TRUE(store.ok());
  std::mutex mu;
  std::vector<std::pair<uint64_t, bool>> acknowledged;
  std::set<std::thread::id> threads;
  uint64_t last = 0;
  for (uint32_t id = 1; id <= 200; ++id) {
    const absl::StatusOr<uint64_t> t = (*store)->Set(id, absl::StrCat("TS2=", id));
    ASSERT_TRUE(t.ok());
    EXPECT_GT(*t, last);  // tickets rise
    last = *t;
    (*store)->WhenWritten(*t, [&, t = *t](absl::Status st) {
      std::lock_guard<std::mutex> lock(mu);
      acknowledged.emplace_back(t, st.ok());
      threads.insert(std::this_thread::get_id());
    });
  }
  ASSERT_TRUE((*store)->Clear(7).ok());
  EXPECT_TRUE((*store)->Flush().ok());
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(acknowledged.size(), 200u);
    for (const auto& [t, ok] : acknowledged) EXPECT_TRUE(ok) << t;
  }
  // Already written: told at once.
  bool at_once = false;
  (*store)->WhenWritten(last, [&](absl::Status st) { at_once = st.ok(); });
  EXPECT_TRUE(at_once);
  // Nothing to clear: no rewrite, and a ticket that is already done.
  const absl::StatusOr<uint64_t> none = (*store)->Clear(4000);
  ASSERT_TRUE(none.ok());
  bool done = false;
  (*store)->WhenWritten(*none, [&](absl::Status st) { done = st.ok(); });
  EXPECT_TRUE(done);
  auto again = ApiOptions::Open(path_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->size(), 199u);
  EXPECT_EQ((*again)->Find(7), nullptr);
  EXPECT_EQ(*(*again)->Find(200), "TS2=200");
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
