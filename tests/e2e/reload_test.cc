// End to end: SIGHUP reloads the configuration as a new snapshot without touching live streams
// (issue #3 item 4); a file that does not parse changes nothing.

#include <gtest/gtest.h>
#include <signal.h>

#include <memory>
#include <string>

#include "tests/e2e/routing_helpers.h"

namespace dmrswitch::e2e {
namespace {

constexpr uint32_t kA = 3120001, kB = 3120002, kC = 3120003;

std::string Statics(bool with_c) {
  std::string s = "[[hbp.static]]\nclient = 3120001\nts2 = [3100]\n";
  if (with_c) s += "[[hbp.static]]\nclient = 3120003\nts2 = [3100]\n";
  return s;
}

TEST(Reload, SighupAppliesNewStaticsWithoutCuttingTheLiveCall) {
  const uint16_t port = FreeUdpPort();
  std::unique_ptr<HubProcess> hub;
  ASSERT_NO_FATAL_FAILURE(StartHub(RoutingHubToml(port, "", Statics(false)), &hub));
  ClientSet clients(port);
  sim::HbpClient* a = clients.Add(kA);
  sim::HbpClient* b = clients.Add(kB);
  sim::HbpClient* c = clients.Add(kC);
  clients.Settle();

  // B talks at real cadence for about 2 s; the reload lands in the middle of the call.
  b->StartVoiceCall(GroupCall(3100, 2, kB, absl::Milliseconds(60), 5));
  clients.PollFor(absl::Milliseconds(600));
  const size_t log_from = hub->LogSize();
  hub->RewriteConfig(RoutingHubToml(port, "", Statics(true)));
  hub->Signal(SIGHUP);
  ASSERT_TRUE(clients.FinishTransmissions());
  EXPECT_TRUE(hub->WaitForLog("configuration reloaded", absl::Seconds(3), log_from)) << hub->Log();
  // A heard the whole call: every frame, no gap, header to terminator.
  ExpectOneCall(*a, Delivered(3100, 2, kB, kA, 5));
  c->TakeReceived();  // C joined mid-call or not at all: either is fine for a static added live

  // The new static applies to the next call.
  clients.Settle();
  b->StartVoiceCall(GroupCall(3100, 2, kB));
  ASSERT_TRUE(clients.FinishTransmissions());
  ExpectOneCall(*a, Delivered(3100, 2, kB, kA));
  ExpectOneCall(*c, Delivered(3100, 2, kB, kC));
}

TEST(Reload, BadFileKeepsTheRunningConfiguration) {
  const uint16_t port = FreeUdpPort();
  std::unique_ptr<HubProcess> hub;
  ASSERT_NO_FATAL_FAILURE(StartHub(RoutingHubToml(port, "", Statics(false)), &hub));
  ClientSet clients(port);
  sim::HbpClient* a = clients.Add(kA);
  sim::HbpClient* b = clients.Add(kB);
  clients.Settle();
  const size_t log_from = hub->LogSize();
  hub->RewriteConfig("[hub]\nshards = 0\n");
  hub->Signal(SIGHUP);
  EXPECT_TRUE(hub->WaitForLog("reload refused", absl::Seconds(3), log_from)) << hub->Log();
  EXPECT_NE(hub->Log().find("hub.shards", log_from), std::string::npos) << hub->Log();
  EXPECT_TRUE(hub->running());
  b->StartVoiceCall(GroupCall(3100, 2, kB));
  ASSERT_TRUE(clients.FinishTransmissions());
  ExpectOneCall(*a, Delivered(3100, 2, kB, kA));
}

}  // namespace
}  // namespace dmrswitch::e2e
