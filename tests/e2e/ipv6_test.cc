// End to end over IPv6 (issue 13 item 5): a kernel-mode hub listening on [::] (dual-stack)
// serves a client over ::1 and one over 127.0.0.1 on the same port, routes calls between them
// both ways, and holds an IPv6 source to the same anti-spoofing rule as an IPv4 one (another
// port; another address with the same port is tests/scenario's). A hub on [::1] alone.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/e2e/hub_process.h"
#include "tests/e2e/routing_helpers.h"
#include "tools/sim/dmr_calls.h"
#include "tools/sim/hbp_client.h"
#include "tools/sim/udp.h"

namespace dmrswitch::e2e {
namespace {

constexpr uint32_t kV6 = 3120601;
constexpr uint32_t kV4 = 3120401;
constexpr uint32_t kSrcV6 = 3121601;
constexpr uint32_t kSrcV4 = 3121401;

std::string HubOn(const std::string& listen, uint16_t port) {
  return absl::StrReplaceAll(RoutingHubToml(port, "group_hangtime_s = 0\n"),
                             {{absl::StrCat("127.0.0.1:", port), absl::StrCat(listen, ":", port)}});
}

TEST(Ipv6Test, ADualStackHubRoutesBetweenAnIpv6AndAnIpv4Client) {
  const uint16_t port = FreeUdpPort();
  std::unique_ptr<HubProcess> hub;
  ASSERT_NO_FATAL_FAILURE(StartHub(HubOn("[::]", port), &hub));
  ClientSet clients(port);
  sim::HbpClient* v6 = clients.Add(kV6, "TS2=3100", "::1");
  sim::HbpClient* v4 = clients.Add(kV4, "TS2=3100");
  ASSERT_EQ(v6->local_address().host, "::1");
  clients.Settle();
  EXPECT_TRUE(hub->WaitForLog(absl::StrCat("client ", kV6, " logged in"), absl::Seconds(2)));

  v4->SendVoiceCall(GroupCall(3100, 2, kSrcV4));
  ExpectOneCall(*v6, Delivered(3100, 2, kSrcV4, kV6));
  ASSERT_TRUE(clients.FinishTransmissions());
  clients.Settle(absl::Milliseconds(500));
  v6->SendVoiceCall(GroupCall(3100, 2, kSrcV6));
  ExpectOneCall(*v4, Delivered(3100, 2, kSrcV6, kV4));
  ExpectNothing(*v6);

  // Another IPv6 socket on ::1 sending frames in the IPv6 client's name is refused, as a
  // spoofed IPv4 source is.
  clients.Settle();
  auto spoof = sim::UdpSocket::Open(sim::Endpoint{"::1", 0}, sim::Endpoint{"::1", port});
  ASSERT_TRUE(spoof.ok()) << spoof.status();
  for (const sim::DmrdFrame& f : sim::BuildVoiceCall(GroupCall(3100, 2, kSrcV6), kV6)) {
    ASSERT_TRUE(spoof->Send(f).ok());
  }
  clients.PollFor(absl::Milliseconds(500));
  ExpectNothing(*v4);
}

// A hub on [::1] alone (an IPv6-only socket) routes between IPv6 clients.
TEST(Ipv6Test, AHubOnTheIpv6LoopbackRoutesBetweenIpv6Clients) {
  const uint16_t port = FreeUdpPort();
  std::unique_ptr<HubProcess> hub;
  ASSERT_NO_FATAL_FAILURE(StartHub(HubOn("[::1]", port), &hub));
  ClientSet clients(port);
  sim::HbpClient* v6 = clients.Add(kV6, "TS2=3100", "::1");
  sim::HbpClient* other = clients.Add(kV6 + 1, "TS2=3100", "::1");
  clients.Settle();
  v6->SendVoiceCall(GroupCall(3100, 2, kSrcV6));
  ExpectOneCall(*other, Delivered(3100, 2, kSrcV6, kV6 + 1));
  ExpectNothing(*v6);
}

}  // namespace
}  // namespace dmrswitch::e2e
