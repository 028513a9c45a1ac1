// End to end, as an internet attacker would try it (issue 14): HBP logins against a hub under
// spoofed traffic. The test process lives in a network namespace of its own (attack_lab.h), where
// any 198.18.0.0/15 source can be claimed and the hub's answers never leave the machine.
//
// What must hold (ctrlplane/login/hbp_auth.h, docs/operations.md §4):
//  * spoofed RPTL/RPTK/RPTC/RPTCL naming a victim's ID, or sent from its IP, block nothing and
//    replace nothing: the victim logs in and stays in;
//  * under a 20,000/s flood of spoofed RPTLs a real hotspot logs in within 2 s, and the hub
//    answers no spoofed source with more than it was sent;
//  * failed logins and blocks are logged (failures rate-limited), and a reload lifts no block.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "dataplane/proto/crypto.h"
#include "dataplane/proto/hbp.h"
#include "tests/e2e/attack_lab.h"
#include "tests/e2e/e2e_sim_util.h"
#include "tests/e2e/hub_process.h"
#include "tools/sim/hbp_client.h"

namespace dmrswitch::e2e {
namespace {

using sim::HbpClient;
using sim::HbpClientOptions;

constexpr uint32_t kVictim = 3120001;
constexpr uint32_t kHotspot = 3120002;

std::vector<uint8_t> Tagged(std::string_view tag, uint32_t id) {
  std::vector<uint8_t> b(tag.begin(), tag.end());
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(id >> s));
  return b;
}
std::vector<uint8_t> RptkGuess(uint32_t id, uint32_t guess) {
  std::vector<uint8_t> b = Tagged("RPTK", id);
  const auto d = proto::HbpLoginDigest(guess, "guess");
  b.insert(b.end(), d.begin(), d.end());
  return b;
}

// A well-formed 302-byte RPTC naming `id`, as an attacker would send to rewrite a victim's
// configuration.
std::vector<uint8_t> SpoofedRptc(uint32_t id) {
  proto::Rptc c;
  c.id = id;
  c.config.callsign = "SPOOF";
  c.config.description = "spoofed";
  std::vector<uint8_t> b(proto::kRptcBytes);
  b.resize(proto::EncodeRptc(c, b));
  return b;
}

class LoginAttackTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(EnterAttackNetwork().ok()) << EnterAttackNetwork(); }

  void StartHub(const std::string& extra_hbp = "") {
    port_ = FreeUdpPort();
    auto hub = HubProcess::Start(HubHeader(310999, port_, "", extra_hbp));
    ASSERT_TRUE(hub.ok()) << hub.status();
    hub_ = *std::move(hub);
  }
  // A client at 198.18.0.`host`.
  HbpClientOptions Client(uint32_t id, uint32_t host) const {
    HbpClientOptions o = ClientOptions(port_, id);
    o.local = {LabHost(host), 0};
    return o;
  }
  // How many log lines contain `needle`.
  size_t LogLines(const std::string& needle) const { return CountLines(hub_->Log(), needle); }

  uint16_t port_ = 0;
  std::unique_ptr<HubProcess> hub_;
};

TEST_F(LoginAttackTest, SpoofedPacketsNamingAVictimsIdOrSentFromItsIpBlockAndReplaceNothing) {
  ASSERT_NO_FATAL_FAILURE(StartHub());
  const uint32_t victim_host = 2;
  // 400 spoofed datagrams a second while the victim logs in, stays and logs in again: RPTL
  // naming the victim's ID from strangers, and RPTL/RPTK/RPTC/RPTCL/RPTPING from the victim's
  // IP on other ports naming it and other IDs — 20 times hbp.login_burst each 10 s.
  Flood flood(kLoopbackIp, port_, 400, [&](uint64_t i) {
    SpoofedDatagram d;
    const bool from_victim_ip = i % 2 == 0;
    d.src_ip = from_victim_ip ? LabIp(victim_host) : LabIp(256 + static_cast<uint32_t>(i % 5000));
    d.src_port = static_cast<uint16_t>(20000 + i % 20000);
    const uint32_t id = i % 3 == 0 ? kVictim + 100 + static_cast<uint32_t>(i % 50) : kVictim;
    switch (i % 6) {
      case 0:
      case 1:
        d.payload = Tagged("RPTL", id);
        break;
      case 2:
        d.payload = RptkGuess(id, static_cast<uint32_t>(i));
        break;
      case 3:
        d.payload = Tagged("RPTPING", id);
        break;
      case 4:
        d.payload = SpoofedRptc(id);
        break;
      default:
        d.payload = Tagged("RPTCL", id);
        break;
    }
    return d;
  });
  sim::PollFor({}, absl::Seconds(1));

  HbpClient victim(Client(kVictim, victim_host));
  ASSERT_TRUE(victim.Login(absl::Seconds(5)).ok()) << victim.status() << "\n" << hub_->Log();
  victim.RunFor(absl::Seconds(4));
  EXPECT_TRUE(victim.running());
  EXPECT_EQ(victim.counters().logins, 1u) << "the victim was thrown out and logged in again";
  EXPECT_GE(victim.counters().pongs, 2u);
  // A new session from the same IP (a reboot: another port) while the storm goes on.
  victim.Close(absl::Seconds(1));
  HbpClient again(Client(kVictim, victim_host));
  ASSERT_TRUE(again.Login(absl::Seconds(5)).ok()) << again.status() << "\n" << hub_->Log();
  again.RunFor(absl::Seconds(2));
  EXPECT_TRUE(again.running());
  flood.Stop();
  ASSERT_TRUE(flood.status().ok()) << flood.status();
  EXPECT_GT(flood.sent(), 2500u);
  EXPECT_EQ(LogLines("blocked"), 0u) << hub_->Log();
  EXPECT_EQ(again.counters().naks, 0u);
}

TEST_F(LoginAttackTest, ARealHotspotLogsInWithinTwoSecondsUnderA20kRptlFlood) {
  ASSERT_NO_FATAL_FAILURE(StartHub());
  UdpTap tap(port_);
  ASSERT_TRUE(tap.status().ok()) << tap.status();
  // Random IDs (the hotspot's own among them) from random sources all over 198.18.0.0/15.
  Flood flood(kLoopbackIp, port_, 20000, [](uint64_t i) {
    const uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull;
    SpoofedDatagram d;
    d.src_ip = LabIp(256 + static_cast<uint32_t>((x >> 20) % 130000));
    d.src_port = static_cast<uint16_t>(1024 + (x >> 40) % 60000);
    d.payload = Tagged("RPTL", i % 10 == 0 ? kHotspot : 3100000 + static_cast<uint32_t>(x % 99999));
    return d;
  });
  sim::PollFor({}, absl::Seconds(2));  // the flood is in full swing

  // The hotspot itself outside 198.18.0.0/15, so that the tap counts only spoofed sources.
  HbpClientOptions o = ClientOptions(port_, kHotspot);
  o.retry_interval = absl::Seconds(1);
  HbpClient hotspot(o);
  const absl::Time start = absl::Now();
  const absl::Status login = hotspot.Login(absl::Seconds(2));
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(login.ok()) << login << " after " << took << "\n" << hub_->Log();
  EXPECT_LT(took, absl::Seconds(2));
  hotspot.RunFor(absl::Seconds(2));
  EXPECT_TRUE(hotspot.running());
  const uint64_t seconds_flooded = 4;
  flood.Stop();
  sim::PollFor({}, absl::Milliseconds(300));
  tap.Stop();
  ASSERT_TRUE(flood.status().ok()) << flood.status();
  EXPECT_GE(flood.sent(), 20000u * seconds_flooded * 9 / 10) << "the flood fell short";
  // No amplification: the hub answers a spoofed source at most once per datagram, with at most
  // 10 bytes (an RPTL is 8; on the wire both are minimum-size frames).
  EXPECT_LE(tap.replies(), tap.requests());
  EXPECT_LE(tap.largest_reply(), 10u);
  EXPECT_GT(tap.requests(), 20000u) << "the tap saw the flood";
  std::cout << "login under a " << flood.sent() << "-datagram flood took " << took << "; the hub "
            << "answered " << tap.replies() << " of " << tap.requests() << " requests ("
            << tap.reply_bytes() << " of " << tap.request_bytes() << " bytes)\n";
}

TEST_F(LoginAttackTest, FailedLoginsAndBlocksAreLoggedAndAReloadLiftsNoBlock) {
  const std::string limits = "login_burst = 2\nlogin_window_s = 60\nlogin_block_s = 300\n";
  ASSERT_NO_FATAL_FAILURE(StartHub(limits));

  // A wrong passphrase: refused, and the log says who and why.
  HbpClientOptions bad = Client(3120009, 9);
  bad.passphrase = "wrong";
  HbpClient guesser(bad);
  EXPECT_FALSE(guesser.Login(absl::Seconds(3)).ok());
  EXPECT_TRUE(hub_->WaitForLog(absl::StrCat("login refused: client 3120009 from ", LabHost(9)),
                               absl::Seconds(2)))
      << hub_->Log();
  EXPECT_NE(hub_->Log().find("bad passphrase"), std::string::npos);

  // A spoofed flood of bad RPTKs is logged within a budget, not line by line.
  {
    Flood flood(kLoopbackIp, port_, 2000, [](uint64_t i) {
      SpoofedDatagram d;
      d.src_ip = LabIp(1000 + static_cast<uint32_t>(i % 3000));
      d.src_port = 40000;
      d.payload = RptkGuess(3130000 + static_cast<uint32_t>(i % 7), static_cast<uint32_t>(i));
      return d;
    });
    sim::PollFor({}, absl::Seconds(2));
    flood.Stop();
    EXPECT_GE(flood.sent(), 3000u);
  }
  EXPECT_TRUE(hub_->WaitForLog("more refused logins not logged", absl::Seconds(3))) << hub_->Log();
  EXPECT_LT(LogLines("login refused"), 100u);

  // A client that logs in again and again: its third login within the window blocks it (that
  // ID from that IP), and the log says so.
  const uint32_t churner = 3120010, churner_host = 10;
  for (int i = 0; i < 2; ++i) {
    HbpClient c(Client(churner, churner_host));
    ASSERT_TRUE(c.Login(absl::Seconds(3)).ok()) << c.status();
    c.Close(absl::Seconds(1));
  }
  {
    HbpClient c(Client(churner, churner_host));
    EXPECT_FALSE(c.Login(absl::Seconds(3)).ok()) << "the third login went through";
  }
  EXPECT_TRUE(hub_->WaitForLog(
      absl::StrCat("login: client ", churner, " from ", LabHost(churner_host), " blocked for"),
      absl::Seconds(2)))
      << hub_->Log();
  // Other IDs from that IP, and that ID from elsewhere, still log in.
  HbpClient neighbour(Client(3120011, churner_host));
  EXPECT_TRUE(neighbour.Login(absl::Seconds(3)).ok()) << neighbour.status();
  HbpClient elsewhere(Client(churner, churner_host + 1));
  EXPECT_TRUE(elsewhere.Login(absl::Seconds(3)).ok()) << elsewhere.status();
  elsewhere.Close(absl::Seconds(1));

  // A reload (with a login setting changed, so the login component is reconfigured) lifts no
  // block.
  const size_t from = hub_->LogSize();
  hub_->RewriteConfig(
      HubHeader(310999, port_, "", "login_burst = 3\nlogin_window_s = 60\nlogin_block_s = 300\n"));
  hub_->Signal(SIGHUP);
  ASSERT_TRUE(hub_->WaitForLog("configuration reloaded", absl::Seconds(3), from)) << hub_->Log();
  HbpClient after(Client(churner, churner_host));
  EXPECT_FALSE(after.Login(absl::Seconds(3)).ok()) << "the reload lifted the block";
  EXPECT_EQ(after.counters().acks, 0u) << "a blocked pair is not answered";
}

}  // namespace
}  // namespace dmrswitch::e2e
