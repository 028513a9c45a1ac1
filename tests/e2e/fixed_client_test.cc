// End to end: a [[hbp.fixed_client]] (issue #4 item 4(a)) is logged in from the hub's start. A
// plain UDP socket at its configured address sends DMRD without any login and a logged-in client
// with the TG static receives the call; the fixed client is not dropped for missing keepalives.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/e2e/hub_process.h"
#include "tests/e2e/routing_helpers.h"
#include "tools/sim/dmr_calls.h"
#include "tools/sim/hbp_client.h"
#include "tools/sim/udp.h"

namespace dmrswitch::e2e {
namespace {

constexpr uint32_t kFixedId = 3129001;
constexpr uint32_t kListenerId = 3120001;
constexpr uint32_t kTg = 91;

sim::HbpClientOptions ClientOptions(uint16_t hub_port, uint32_t id) {
  sim::HbpClientOptions o;
  o.id = id;
  o.passphrase = "passw0rd";
  o.hub = {"127.0.0.1", hub_port};
  o.retry_interval = absl::Seconds(1);
  o.ping_interval = absl::Seconds(1);
  return o;
}

class FixedClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = FreeUdpPort();
    fixed_port_ = FreeUdpPort();
    const std::string hbp_extra = "ping_time_s = 1\nmax_missed = 2\n";
    const std::string tail = absl::StrCat(R"(
[[hbp.fixed_client]]
id = )",
                                          kFixedId, R"(
address = "127.0.0.1:)",
                                          fixed_port_, R"("
options = "TS2=3100"
callsign = "PCAPGEN"

[[hbp.static]]
client = )",
                                          kListenerId, R"(
ts2 = [91]
)");
    ASSERT_NO_FATAL_FAILURE(StartHub(RoutingHubToml(port_, hbp_extra, tail), &hub_));
  }

  // One group call on TS2 from the fixed client's address, with no login before it.
  void SendFromFixedAddress(uint32_t rf_src) {
    auto sock = sim::UdpSocket::Open(sim::Endpoint("127.0.0.1", fixed_port_),
                                     sim::Endpoint("127.0.0.1", port_));
    ASSERT_TRUE(sock.ok()) << sock.status();
    const sim::VoiceCallSpec spec = GroupCall(kTg, 2, rf_src, absl::Milliseconds(20));
    for (const sim::DmrdFrame& f : sim::BuildVoiceCall(spec, kFixedId)) {
      ASSERT_TRUE(sock->Send(f).ok());
      absl::SleepFor(spec.cadence);
    }
  }

  uint16_t port_ = 0;
  uint16_t fixed_port_ = 0;
  std::unique_ptr<HubProcess> hub_;
};

TEST_F(FixedClientTest, DmrdWithoutLoginReachesTheTgAndTheClientIsNeverDropped) {
  EXPECT_TRUE(hub_->WaitForLog("1 fixed clients logged in by configuration", absl::Seconds(2)))
      << hub_->Log();
  sim::HbpClient rx(ClientOptions(port_, kListenerId));
  ASSERT_TRUE(rx.Login(absl::Seconds(5)).ok()) << rx.status();
  rx.RunFor(absl::Milliseconds(300));  // the snapshot with the listener reaches the shards

  ASSERT_NO_FATAL_FAILURE(SendFromFixedAddress(3100001));
  ExpectOneCall(rx, Delivered(kTg, 2, 3100001, kListenerId));

  // ping_time_s × max_missed = 2 s without a single keepalive from the fixed client; the
  // listener keeps pinging.
  rx.RunFor(absl::Seconds(3));
  EXPECT_EQ(hub_->Log().find(absl::StrCat("client ", kFixedId, " logged out")), std::string::npos)
      << hub_->Log();
  ASSERT_NO_FATAL_FAILURE(SendFromFixedAddress(3100002));
  ExpectOneCall(rx, Delivered(kTg, 2, 3100002, kListenerId));
  EXPECT_EQ(rx.counters().naks, 0u);
}

TEST_F(FixedClientTest, ItsIdIsReservedForItsAddress) {
  // A login for the fixed ID from another address is refused.
  sim::HbpClient impostor(ClientOptions(port_, kFixedId));
  EXPECT_FALSE(impostor.Login(absl::Seconds(3)).ok());
  EXPECT_GE(impostor.counters().naks, 1u);
  // DMRD under its ID from another address is not routed.
  sim::HbpClient rx(ClientOptions(port_, kListenerId));
  ASSERT_TRUE(rx.Login(absl::Seconds(5)).ok()) << rx.status();
  rx.RunFor(absl::Milliseconds(300));
  auto sock =
      sim::UdpSocket::Open(sim::Endpoint("127.0.0.1", 0), sim::Endpoint("127.0.0.1", port_));
  ASSERT_TRUE(sock.ok()) << sock.status();
  for (const sim::DmrdFrame& f :
       sim::BuildVoiceCall(GroupCall(kTg, 2, 3100003, absl::Milliseconds(5)), kFixedId)) {
    ASSERT_TRUE(sock->Send(f).ok());
  }
  ExpectNothing(rx, absl::Milliseconds(500));
}

}  // namespace
}  // namespace dmrswitch::e2e
