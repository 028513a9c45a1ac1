// End to end: HBP logins against a running dmrswitch-dp (PROTOCOL.md §1.5, Part A §6).

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/e2e/hub_process.h"
#include "tools/sim/dmr_calls.h"
#include "tools/sim/hbp_client.h"
#include "tools/sim/udp.h"

namespace dmrswitch::e2e {
namespace {

using sim::HbpClient;
using sim::HbpClientOptions;

std::string HubToml(uint16_t hbp_port, std::string extra_hbp = "") {
  return absl::StrCat(R"([hub]
server_id = 310999
mode = "kernel"
shards = 2
control_plane = "hosted"
status_interval_s = 1

[hbp]
listen = "127.0.0.1:)",
                      hbp_port, R"("
passphrase = "passw0rd"
)",
                      extra_hbp, R"(
[acl]
reg = "DENY:3129999"
)");
}

HbpClientOptions Client(uint16_t port, uint32_t id, std::string passphrase = "passw0rd") {
  HbpClientOptions o;
  o.id = id;
  o.passphrase = std::move(passphrase);
  o.hub = {"127.0.0.1", port};
  o.retry_interval = absl::Seconds(1);
  o.ping_interval = absl::Seconds(1);
  return o;
}

class LoginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = FreeUdpPort();
    auto hub = HubProcess::Start(HubToml(port_));
    ASSERT_TRUE(hub.ok()) << hub.status();
    hub_ = *std::move(hub);
  }
  uint16_t port_ = 0;
  std::unique_ptr<HubProcess> hub_;
};

TEST_F(LoginTest, GoodPassphraseLogsInAndKeepalivesAreAnswered) {
  HbpClient c(Client(port_, 3120001));
  ASSERT_TRUE(c.Login(absl::Seconds(5)).ok()) << c.status();
  c.RunFor(absl::Milliseconds(2500));
  EXPECT_GE(c.counters().pongs, 2u);
  EXPECT_EQ(c.counters().naks, 0u);
  EXPECT_TRUE(hub_->WaitForLog("client 3120001 logged in", absl::Seconds(2)));
}

TEST_F(LoginTest, BadPassphraseIsRefusedWithMstnak) {
  HbpClient c(Client(port_, 3120002, "wrong"));
  const absl::Status st = c.Login(absl::Seconds(5));
  EXPECT_FALSE(st.ok());
  EXPECT_GE(c.counters().naks, 1u);
  EXPECT_FALSE(c.running());
}

TEST_F(LoginTest, RegAclDeniesTheListedId) {
  HbpClient c(Client(port_, 3129999));
  EXPECT_FALSE(c.Login(absl::Seconds(5)).ok());
  EXPECT_GE(c.counters().naks, 1u);
  HbpClient ok(Client(port_, 3120003));
  EXPECT_TRUE(ok.Login(absl::Seconds(5)).ok()) << ok.status();
}

TEST_F(LoginTest, ClientLogsInAgainAfterHubRestartThroughMstnak) {
  HbpClient c(Client(port_, 3120004));
  ASSERT_TRUE(c.Login(absl::Seconds(5)).ok()) << c.status();
  hub_->Kill();  // no MSTCL: the client does not know
  auto hub = HubProcess::Start(HubToml(port_));
  ASSERT_TRUE(hub.ok()) << hub.status();
  hub_ = *std::move(hub);
  // The next RPTPING reaches a hub that does not know the client: MSTNAK, then a new login.
  const uint64_t logins = c.counters().logins;
  const absl::Time deadline = absl::Now() + absl::Seconds(8);
  while (absl::Now() < deadline && c.counters().logins == logins) c.Poll(absl::Milliseconds(50));
  EXPECT_GE(c.counters().naks, 1u);
  EXPECT_EQ(c.counters().logins, logins + 1);
  EXPECT_TRUE(c.running());
  EXPECT_TRUE(hub_->WaitForLog("client 3120004 logged in", absl::Seconds(2)));
}

TEST_F(LoginTest, SilentClientIsClosedAfterMissedPings) {
  hub_.reset();
  auto hub = HubProcess::Start(HubToml(port_, "ping_time_s = 1\nmax_missed = 2\n"));
  ASSERT_TRUE(hub.ok()) << hub.status();
  hub_ = *std::move(hub);
  HbpClientOptions o = Client(port_, 3120005);
  o.ping_interval = absl::Seconds(60);  // never pings within the test
  o.auto_reconnect = false;
  HbpClient c(o);
  ASSERT_TRUE(c.Login(absl::Seconds(5)).ok()) << c.status();
  const absl::Time deadline = absl::Now() + absl::Seconds(6);
  while (absl::Now() < deadline && c.counters().mstcl == 0) c.Poll(absl::Milliseconds(50));
  EXPECT_EQ(c.counters().mstcl, 1u) << "ping_time 1 s × max_missed 2 → MSTCL";
  EXPECT_TRUE(hub_->WaitForLog("client 3120005 logged out (lost)", absl::Seconds(2)));
}

// A client may use the hub from the moment it is told it is logged in (MMDVMHost keys up at
// once): the RPTACK of its RPTC (or RPTO) goes out only when every shard routes with a snapshot
// that knows it and its options. Five fresh logins each way, no pause after the RPTACK.
TEST_F(LoginTest, ACallRightAfterTheLoginIsRoutedFromItsFirstFrame) {
  HbpClientOptions lo = Client(port_, 3120010);
  lo.options = "TS2=3100";
  HbpClient listener(lo);
  ASSERT_TRUE(listener.Login(absl::Seconds(5)).ok()) << listener.status();
  listener.RunFor(absl::Milliseconds(300));
  auto call_from = [](uint32_t rf_src, uint32_t tg) {
    sim::VoiceCallSpec spec;
    spec.tg = tg;
    spec.ts = 2;
    spec.rf_src = rf_src;
    spec.superframes = 1;
    spec.cadence = absl::Milliseconds(5);
    return spec;
  };
  auto expect_whole = [](HbpClient& rx, const sim::VoiceCallSpec& spec, uint32_t stream) {
    const std::vector<sim::ReceivedCall> calls = rx.Receive(absl::Seconds(2), 1);
    ASSERT_EQ(calls.size(), 1u) << "client " << rx.id();
    EXPECT_EQ(calls[0].stream_id, stream);
    sim::ExpectedCall want;
    want.tg = spec.tg;
    want.ts = 2;
    want.rf_src = spec.rf_src;
    want.repeater_id = rx.id();
    want.frames = 8;  // header, six bursts, terminator: nothing lost at the start
    const absl::Status st = sim::Verify(calls[0], want);
    EXPECT_TRUE(st.ok()) << st << "\n" << calls[0].DebugString();
  };

  // A talker that has just logged in.
  for (uint32_t i = 0; i < 5; ++i) {
    SCOPED_TRACE(absl::StrCat("talker ", i));
    HbpClient talker(Client(port_, 3120020 + i));
    ASSERT_TRUE(talker.Login(absl::Seconds(5)).ok()) << talker.status();
    const sim::VoiceCallSpec spec = call_from(3121020 + i, 3100);
    const uint32_t stream = talker.StartVoiceCall(spec);
    ASSERT_TRUE(sim::PollUntil(
        std::vector<sim::Pollable*>{&talker, &listener}, [&] { return !talker.transmitting(); },
        absl::Seconds(3)));
    expect_whole(listener, spec, stream);
    listener.RunFor(absl::Milliseconds(400));  // past the collision window before the next one
  }

  // A listener that has just logged in with its options (the RPTO's RPTACK waits for them).
  HbpClient talker(Client(port_, 3120040));
  ASSERT_TRUE(talker.Login(absl::Seconds(5)).ok()) << talker.status();
  for (uint32_t i = 0; i < 5; ++i) {
    SCOPED_TRACE(absl::StrCat("listener ", i));
    HbpClientOptions o = Client(port_, 3120030 + i);
    o.options = "TS2=3200";
    HbpClient fresh(o);
    ASSERT_TRUE(fresh.Login(absl::Seconds(5)).ok()) << fresh.status();
    const sim::VoiceCallSpec spec = call_from(3121040, 3200);
    const uint32_t stream = talker.StartVoiceCall(spec);
    ASSERT_TRUE(sim::PollUntil(
        std::vector<sim::Pollable*>{&talker, &fresh}, [&] { return !talker.transmitting(); },
        absl::Seconds(3)));
    expect_whole(fresh, spec, stream);
  }
}

// A busy hub restarted: all its hotspots come back at once. The hub has room for every one of
// them to be half-way through its login (it used to keep 1,024 and forget the rest, whose RPTCs
// got MSTNAK): 2,500 log in at their first try.
TEST(LoginStorm, EveryClientOfABusyHubLogsInAtItsFirstTry) {
  rlimit files{};  // a socket per client
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &files), 0);
  if (files.rlim_cur < 4096) {
    files.rlim_cur = std::min<rlim_t>(4096, files.rlim_max);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &files), 0);
  }
  ASSERT_GE(files.rlim_cur, 2600u) << "RLIMIT_NOFILE: 2,500 sockets are needed";
  const uint16_t port = FreeUdpPort();
  auto hub = HubProcess::Start(HubToml(port, "max_clients = 2500\n"));
  ASSERT_TRUE(hub.ok()) << hub.status();
  std::vector<std::unique_ptr<sim::HbpClient>> clients;
  std::vector<sim::Pollable*> all;
  for (uint32_t i = 0; i < 2500; ++i) {
    HbpClientOptions o = Client(port, 2300001 + i);
    o.retry_interval = absl::Seconds(5);
    o.ping_interval = absl::Seconds(10);
    o.collect_frames = false;
    clients.push_back(std::make_unique<sim::HbpClient>(std::move(o)));
    all.push_back(clients.back().get());
  }
  for (auto& c : clients) c->StartLogin();
  const auto all_in = [&] {
    return std::all_of(clients.begin(), clients.end(), [](const auto& c) { return c->running(); });
  };
  EXPECT_TRUE(sim::PollUntil(all, all_in, absl::Seconds(20))) << (*hub)->Log();
  uint64_t naks = 0, logins = 0;
  for (auto& c : clients) {
    naks += c->counters().naks;
    logins += c->counters().logins;
  }
  EXPECT_EQ(naks, 0u);
  EXPECT_EQ(logins, 2500u);
  EXPECT_EQ((*hub)->Log().find("half-open logins forgotten"), std::string::npos) << (*hub)->Log();
}

TEST(HubConfig, BadConfigurationIsRefusedNamingTheKey) {
  auto r = HubProcess::RunToExit(
      absl::StrReplaceAll(HubToml(FreeUdpPort()), {{"shards = 2", "shards = 0"}}),
      absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(r->first, 0);
  EXPECT_NE(r->second.find("hub.shards"), std::string::npos) << r->second;
}

}  // namespace
}  // namespace dmrswitch::e2e
