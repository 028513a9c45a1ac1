// afxdp mode with the real DPDK in the loop: Debian's DPDK 22.11 net_af_xdp on the hub end of a
// veth pair, given our object as xdp_prog= (as the dp will do it), one queue. The PMD loads and
// attaches the shield itself; XdpShield::AdoptDpdkProgram pins and configures it; hub traffic then
// arrives on the port's RX queue (redirect_hub), garbage is dropped, ping (ICMP) still reaches the
// kernel; closing the port removes the program, Detach the pins.
//
// One test per binary: EAL initialises once per process. Root; fails without it.

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dataplane/io/xdp/xdp_shield.h"
#include "tests/ebpf/netns_lab.h"

namespace dmrswitch::io {
namespace {

constexpr uint16_t kHbpPort = 62031;

bool AnyXdpProgram(const std::string& interface) {
  bpf_xdp_query_opts opts{};
  opts.sz = sizeof(opts);
  const int ifindex = static_cast<int>(if_nametoindex(interface.c_str()));
  return ifindex != 0 && bpf_xdp_query(ifindex, 0, &opts) == 0 &&
         opts.attach_mode != XDP_ATTACHED_NONE;
}

TEST(ShieldDpdkAfxdpTest, NetAfXdpLoadsTheShieldAndHubTrafficArrivesOnTheQueue) {
  ASSERT_TRUE(testing::PrivateMountNamespace().ok()) << "needs root";
  absl::StatusOr<std::unique_ptr<testing::VethLab>> created = testing::VethLab::Create("dp");
  ASSERT_TRUE(created.ok()) << created.status();
  testing::VethLab& lab = **created;
  ASSERT_TRUE(lab.EnterHub().ok());
  const std::string runtime = absl::StrCat("dpdk-afxdp-test-", getpid());
  ASSERT_TRUE(XdpShield::RemoveStale(lab.hub_if(), runtime).ok());
  absl::StatusOr<std::string> object = XdpShield::ObjectPath();
  ASSERT_TRUE(object.ok()) << object.status();

  // What the dp will pass: one queue per shard, our object, no operator involvement.
  std::vector<std::string> args = {
      "xdp_shield_dpdk_test",
      "--no-pci",
      "--no-huge",
      "-m",
      "256",
      "--no-shconf",
      "-l",
      "0",
      "--log-level=pmd.net.af_xdp:info",
      absl::StrCat("--vdev=net_af_xdp0,iface=", lab.hub_if(),
                   ",start_queue=0,queue_count=1,xdp_prog=", *object),
  };
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  ASSERT_GE(rte_eal_init(static_cast<int>(argv.size()), argv.data()), 0);
  uint16_t port = 0;
  ASSERT_EQ(rte_eth_dev_get_port_by_name("net_af_xdp0", &port), 0);
  rte_mempool* pool =
      rte_pktmbuf_pool_create("shield_mb", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  ASSERT_NE(pool, nullptr);
  rte_eth_conf conf{};
  ASSERT_EQ(rte_eth_dev_configure(port, 1, 1, &conf), 0);
  ASSERT_EQ(rte_eth_rx_queue_setup(port, 0, 1024, SOCKET_ID_ANY, nullptr, pool), 0);
  ASSERT_EQ(rte_eth_tx_queue_setup(port, 0, 1024, SOCKET_ID_ANY, nullptr), 0);

  // The PMD has loaded and attached the object by now: adopt it.
  XdpShieldOptions options;
  options.interface = lab.hub_if();
  options.runtime_name = runtime;
  options.listeners = {{kHbpPort, XdpListenerFamily::kHbp}};
  absl::StatusOr<std::unique_ptr<XdpShield>> shield = XdpShield::AdoptDpdkProgram(options);
  ASSERT_TRUE(shield.ok()) << shield.status();
  std::printf("[ shield  ] net_af_xdp loaded the shield in %s mode\n",
              std::string(XdpAttachedModeName((*shield)->mode())).c_str());
  ASSERT_EQ(rte_eth_dev_start(port), 0);

  constexpr uint32_t kCallFrames = 40;
  EXPECT_EQ(testing::WaitChild(lab.SpawnInClient([] { return testing::PingHub(2) ? 0 : 1; })), 0)
      << "ICMP must still reach the kernel in afxdp mode";
  const pid_t caller = lab.SpawnInClient(
      [] { return testing::SendCall(kHbpPort, 40000, 100, kCallFrames) == kCallFrames ? 0 : 1; });
  const pid_t flooder = lab.SpawnInClient([] {
    return testing::FloodGarbage(kHbpPort, 50000, std::chrono::milliseconds(300)) > 0 ? 0 : 1;
  });

  uint32_t dmrd = 0;
  uint32_t other = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  while (std::chrono::steady_clock::now() < deadline && dmrd < kCallFrames) {
    rte_mbuf* burst[32];
    const uint16_t n = rte_eth_rx_burst(port, 0, burst, 32);
    for (uint16_t i = 0; i < n; ++i) {
      const uint8_t* frame = rte_pktmbuf_mtod(burst[i], const uint8_t*);
      if (rte_pktmbuf_pkt_len(burst[i]) == 14 + 20 + 8 + 55 &&
          std::memcmp(frame + 42, "DMRD", 4) == 0) {
        ++dmrd;
      } else {
        ++other;
      }
      rte_pktmbuf_free(burst[i]);
    }
  }
  EXPECT_EQ(testing::WaitChild(caller), 0);
  EXPECT_EQ(testing::WaitChild(flooder), 0);

  EXPECT_EQ(dmrd, kCallFrames) << "hub traffic missing from the af_xdp queue";
  EXPECT_EQ(other, 0u) << "garbage or non-hub traffic reached the af_xdp queue";
  absl::StatusOr<XdpShieldMaps> pinned = XdpShieldMaps::OpenPinned(runtime);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_EQ(*pinned->Counter("redirect_hub"), kCallFrames);
  EXPECT_GT(*pinned->Counter("drop_bad_magic"), 0u);
  EXPECT_GT(*pinned->Counter("pass_not_udp"), 0u);

  // Shutdown as the dp will do it: the PMD removes its program, the shield its pins.
  EXPECT_EQ(rte_eth_dev_stop(port), 0);
  EXPECT_EQ(rte_eth_dev_close(port), 0);
  EXPECT_FALSE(AnyXdpProgram(lab.hub_if())) << "net_af_xdp left its program attached";
  const std::string pin_dir = (*shield)->pin_dir();
  EXPECT_TRUE((*shield)->Detach().ok());
  struct stat st {};
  EXPECT_NE(stat(pin_dir.c_str(), &st), 0) << "pins left behind";
  rte_eal_cleanup();
}

}  // namespace
}  // namespace dmrswitch::io
