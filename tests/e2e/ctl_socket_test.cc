// End to end: the operator socket of a running hub cannot be held by anyone (issue "safe to
// leave running"). Idle connections are refused clearly and then closed, stalled and hostile
// clients cannot delay a drain, and dmrswitch-ctl gives up with a message when the control plane
// is stopped instead of waiting forever.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/e2e/hub_process.h"

namespace dmrswitch::e2e {
namespace {

class CtlSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = FreeUdpPort();
    ctl_ = absl::StrCat(::testing::TempDir(), "dsw-ctl-", getpid(), ".sock");
    auto hub = HubProcess::Start(absl::StrCat(
        "[hub]\nmode = \"kernel\"\nshards = 2\nctl_socket = \"", ctl_,
        "\"\n[hbp]\nlisten = ", "\"127.0.0.1:", port_, "\"\npassphrase = \"passw0rd\"\n"));
    ASSERT_TRUE(hub.ok()) << hub.status();
    hub_ = *std::move(hub);
  }
  absl::StatusOr<std::pair<int, std::string>> Ctl(const std::string& cmd, absl::Duration limit) {
    return HubProcess::RunCommand({HubProcess::CtlPath(), "--socket", ctl_, cmd}, limit);
  }
  int Connect() const {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, ctl_.c_str());
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    return fd;
  }
  uint16_t port_ = 0;
  std::string ctl_;
  std::unique_ptr<HubProcess> hub_;
};

TEST_F(CtlSocketTest, SixteenIdleConnectionsAreRefusedClearlyAndThenClosed) {
  struct stat st {};
  ASSERT_EQ(stat(ctl_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  std::vector<int> idle;
  for (int i = 0; i < 16; ++i) idle.push_back(Connect());
  absl::SleepFor(absl::Milliseconds(300));  // the control plane accepts them
  const absl::Time start = absl::Now();
  auto busy = Ctl("status", absl::Seconds(30));
  ASSERT_TRUE(busy.ok()) << busy.status();
  EXPECT_EQ(busy->first, 1);
  EXPECT_NE(busy->second.find("busy: 16 control connections are open"), std::string::npos)
      << busy->second;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5)) << "refused at once, not left waiting";
  // The idle ones are closed after 10 s; then the operator gets in.
  absl::SleepFor(absl::Seconds(11));
  auto ok = Ctl("status", absl::Seconds(30));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->first, 0) << ok->second;
  for (int fd : idle) close(fd);
}

// Clients that stall — one sends half a request and stops, one sends a status request and never
// reads its answer, one sends a request far over the size limit — cannot delay an operator's
// drain: it is answered at once, and the hub still resumes.
TEST_F(CtlSocketTest, StalledAndHostileClientsCannotDelayADrain) {
  const int half = Connect();
  const std::string partial = "{\"cmd\":\"sta";
  ASSERT_EQ(send(half, partial.data(), partial.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(partial.size()));
  std::vector<int> deaf;
  for (int i = 0; i < 4; ++i) {
    deaf.push_back(Connect());
    const std::string status = "{\"cmd\":\"status\"}\n";
    ASSERT_EQ(send(deaf.back(), status.data(), status.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(status.size()));
  }
  const int huge = Connect();
  const std::string junk(256 * 1024, 'x');
  ::shutdown(huge, SHUT_RD);
  [[maybe_unused]] ssize_t n = send(huge, junk.data(), junk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  absl::SleepFor(absl::Milliseconds(200));

  const absl::Time start = absl::Now();
  auto drain = HubProcess::RunCommand(
      {HubProcess::CtlPath(), "--socket", ctl_, "drain", "--timeout", "5"}, absl::Seconds(30));
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(drain.ok()) << drain.status();
  EXPECT_EQ(drain->first, 0) << drain->second;  // idle: no call was live
  EXPECT_LT(took, absl::Seconds(2)) << drain->second;
  auto resume = Ctl("resume", absl::Seconds(10));
  ASSERT_TRUE(resume.ok()) << resume.status();
  EXPECT_EQ(resume->first, 0) << resume->second;
  close(half);
  for (int fd : deaf) close(fd);
  close(huge);
}

TEST_F(CtlSocketTest, ACtlAgainstAStoppedControlPlaneGivesUp) {
  hub_->Signal(SIGSTOP);
  const absl::Time start = absl::Now();
  auto r = Ctl("status", absl::Seconds(60));
  hub_->Signal(SIGCONT);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->first, 1);
  EXPECT_NE(r->second.find("no answer from the control plane"), std::string::npos) << r->second;
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
  // And once it runs again, it answers.
  auto ok = Ctl("status", absl::Seconds(30));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->first, 0) << ok->second;
}

}  // namespace
}  // namespace dmrswitch::e2e
