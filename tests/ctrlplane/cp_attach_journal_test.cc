// CpAttachJournal: one cp per hub (a second is refused, naming the first), the record survives
// its writer, and only a record inside an EAL window, for the same dp, asks for a lock repair.
#include "ctrlplane/cp_attach_journal.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace dmrswitch::cp {
namespace {

using Phase = CpAttachJournal::Phase;

class CpAttachJournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("dmrswitch-journal-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST(CpAttachJournalFormat, RoundTripsAndRejectsAnythingElse) {
  for (Phase p : {Phase::kAttaching, Phase::kAttached, Phase::kDetaching, Phase::kDetached}) {
    const std::string text = CpAttachJournal::Format({p, 1234, 99});
    EXPECT_EQ(text.size(), 64u);
    const CpAttachJournal::Entry e = CpAttachJournal::Parse(text);
    EXPECT_EQ(e.phase, p) << text;
    EXPECT_EQ(e.cp, 1234);
    EXPECT_EQ(e.dp, 99);
  }
  for (const char* bad : {"", "attaching", "attaching cp=1", "attaching cp=x dp=2",
                          "attaching dp=2 cp=1", "sleeping cp=1 dp=2", "attaching cp=0 dp=2",
                          "attaching cp=1 dp=-3", "attaching cp=1 dp=2 extra"}) {
    EXPECT_EQ(CpAttachJournal::Parse(bad).phase, Phase::kNone) << bad;
  }
}

TEST_F(CpAttachJournalTest, OneCpAtATimeAndTheLastRecordOutlivesItsWriter) {
  {
    auto first = CpAttachJournal::Open(dir_.string(), "hub");
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_EQ(first->previous().phase, Phase::kNone);
    ASSERT_TRUE(first->Record(Phase::kAttaching, 4321).ok());
    ASSERT_TRUE(first->Record(Phase::kAttached, 4321).ok());
    // A second cp for the same hub is refused while the first holds the journal, naming it.
    auto second = CpAttachJournal::Open(dir_.string(), "hub");
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(second.status().message().find(std::to_string(::getpid())), std::string::npos)
        << second.status();
    // Another hub's journal is another file.
    EXPECT_TRUE(CpAttachJournal::Open(dir_.string(), "other").ok());
  }
  auto next = CpAttachJournal::Open(dir_.string(), "hub");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->previous().phase, Phase::kAttached);
  EXPECT_EQ(next->previous().cp, ::getpid());
  EXPECT_EQ(next->previous().dp, 4321);
  // Attached, not inside EAL: nothing to repair.
  EXPECT_FALSE(next->PredecessorDiedInsideEal(4321));
}

// A cp killed inside a window (here: a child that records "attaching" and is killed -9) leaves
// a record that asks the next cp for a repair, for the dp it was attaching to only.
TEST_F(CpAttachJournalTest, ACpKilledWhileAttachingIsSeenByTheNext) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    auto j = CpAttachJournal::Open(dir_.string(), "hub");
    if (!j.ok() || !j->Record(Phase::kAttaching, 777).ok()) ::_exit(1);
    (void)!::write(ready[1], "x", 1);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  // While it lives, it is the cp of this hub.
  EXPECT_FALSE(CpAttachJournal::Open(dir_.string(), "hub").ok());
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  auto next = CpAttachJournal::Open(dir_.string(), "hub");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->previous().phase, Phase::kAttaching);
  EXPECT_EQ(next->previous().cp, child);
  EXPECT_TRUE(next->PredecessorDiedInsideEal(777));
  EXPECT_FALSE(next->PredecessorDiedInsideEal(778));  // another dp: its locks started afresh
  EXPECT_FALSE(next->PredecessorDiedInsideEal(0));    // no dp
  // Detaching counts too.
  ASSERT_TRUE(next->Record(Phase::kDetaching, 777).ok());
  next = absl::UnknownError("closed");  // the journal's descriptor goes, and its lock
  auto after = CpAttachJournal::Open(dir_.string(), "hub");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE(after->PredecessorDiedInsideEal(777));
}

}  // namespace
}  // namespace dmrswitch::cp
