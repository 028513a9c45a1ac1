// End to end, as a logged-in client bent on mischief would try it (issue 14):
//  * options text with newlines and terminal escapes, thousands of times a second: the log gets
//    it escaped, and only a few lines of it;
//  * a KEY latched by whoever held an ID's session ends with that session: the real owner logs in
//    and sets its options;
//  * a refused RPTO is answered MSTNAK, not acknowledged.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/e2e/e2e_sim_util.h"
#include "tests/e2e/hub_process.h"

namespace dmrswitch::e2e {
namespace {

using sim::HbpClient;

constexpr uint32_t kClient = 3120401;
constexpr uint32_t kTalker = 3120402;

class ClientTextAttackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = FreeUdpPort();
    auto hub = HubProcess::Start(HubHeader(310999, port_));
    ASSERT_TRUE(hub.ok()) << hub.status();
    hub_ = *std::move(hub);
  }
  std::unique_ptr<HbpClient> LoggedIn(uint32_t id, const std::string& options = "",
                                      bool auto_reconnect = true) {
    sim::HbpClientOptions o = ClientOptions(port_, id);
    o.options = options;
    o.auto_reconnect = auto_reconnect;
    auto c = std::make_unique<HbpClient>(o);
    EXPECT_TRUE(c->Login(absl::Seconds(5)).ok()) << c->status() << "\n" << hub_->Log();
    return c;
  }

  uint16_t port_ = 0;
  std::unique_ptr<HubProcess> hub_;
};

TEST_F(ClientTextAttackTest, OptionsTextIsEscapedAndRateLimitedInTheLog) {
  std::unique_ptr<HbpClient> c = LoggedIn(kClient);
  const size_t log_before = hub_->LogSize();
  // A forged log line after a newline, a screen clear and a terminal title, an unknown key in
  // every entry — 3,000 times in about a second.
  const std::string evil =
      "x\n2030-01-01 00:00:00.000 [critical] FORGED=1;\x1b[2J\x1b]0\x07pwned=1;KEY\x1b[31m=1;" +
      std::string(200, 'K') + "=1";
  std::vector<uint8_t> rpto = {'R', 'P', 'T', 'O'};
  for (int s = 24; s >= 0; s -= 8) rpto.push_back(static_cast<uint8_t>(kClient >> s));
  rpto.insert(rpto.end(), evil.begin(), evil.end());
  for (int i = 0; i < 3000; ++i) {
    ASSERT_TRUE(c->SendRaw(rpto).ok());
    if (i % 100 == 99) c->Poll(absl::Milliseconds(30));
  }
  c->RunFor(absl::Seconds(3));
  EXPECT_TRUE(c->running()) << "the client was dropped";
  const std::string log = hub_->Log().substr(log_before);
  EXPECT_EQ(log.find('\x1b'), std::string::npos) << "an escape sequence reached the log";
  EXPECT_EQ(log.find('\x07'), std::string::npos);
  EXPECT_EQ(CountLines(log, "2030-01-01", /*at_start=*/true), 0u) << "a forged line:\n" << log;
  const size_t option_lines = CountLines(log, absl::StrCat("client ", kClient, " options"));
  EXPECT_GT(option_lines, 0u) << "the warnings are still there";
  EXPECT_LE(option_lines, 12u) << "one client fills the log";
  EXPECT_NE(log.find("\\x1b[2J\\x1b]0\\x07pwned"), std::string::npos) << "escaped, not dropped:\n"
                                                                      << log;
  EXPECT_NE(log.find("x\\x0a2030-01-01"), std::string::npos) << "the newline, escaped:\n" << log;
  EXPECT_NE(log.find("more lines about client options not logged"), std::string::npos) << log;
  EXPECT_LT(log.size(), 16384u) << "3,000 options strings wrote " << log.size() << " bytes of log";
}

TEST_F(ClientTextAttackTest, TheKeyLatchEndsWithItsSessionAndARefusedRptoIsAnsweredMstnak) {
  // Someone who knows the shared passphrase logs in with the owner's ID and latches a KEY.
  std::unique_ptr<HbpClient> squatter = LoggedIn(kClient, "TS2=91;KEY=squat", false);
  // Within that session, options without the KEY are refused: MSTNAK, not RPTACK.
  const uint64_t naks = squatter->counters().naks;
  const uint64_t acks = squatter->counters().acks;
  ASSERT_TRUE(squatter->SendOptions("TS2=92").ok());
  squatter->RunFor(absl::Milliseconds(500));
  EXPECT_EQ(squatter->counters().naks, naks + 1) << "a refused RPTO must be answered MSTNAK";
  EXPECT_EQ(squatter->counters().acks, acks) << "a refused RPTO was acknowledged";
  EXPECT_TRUE(hub_->WaitForLog(
      absl::StrCat("client ", kClient, " from 127.0.0.1:", squatter->local_address().port,
                   ": RPTO refused (MSTNAK)"),
      absl::Seconds(2)))
      << hub_->Log();

  // The owner logs in (the squatter's session is still up): its new session has no KEY, its
  // options are applied (RPTACK), and TG 93 reaches it.
  std::unique_ptr<HbpClient> owner = LoggedIn(kClient, "TS2=93");
  EXPECT_EQ(owner->counters().naks, 0u);
  std::unique_ptr<HbpClient> talker = LoggedIn(kTalker);
  owner->RunFor(absl::Milliseconds(300));
  const sim::VoiceCallSpec call = GroupCall(93, 2, kTalker);
  talker->SendVoiceCall(call);
  const std::vector<sim::ReceivedCall> got = owner->Receive(absl::Seconds(3));
  ASSERT_EQ(got.size(), 1u) << "the owner's options were not applied\n" << hub_->Log();
  EXPECT_EQ(got[0].frames.size(), FramesOf(call));

  // The owner latches its own KEY; a new login of the ID (a reboot, another port, no logout)
  // starts a new session without it.
  ASSERT_TRUE(owner->SendOptions("TS2=93;KEY=mine").ok());
  owner->RunFor(absl::Milliseconds(300));
  owner->Abandon();
  std::unique_ptr<HbpClient> rebooted = LoggedIn(kClient, "TS2=94");
  EXPECT_EQ(rebooted->counters().naks, 0u) << "the old session's KEY outlived it";
}

}  // namespace
}  // namespace dmrswitch::e2e
