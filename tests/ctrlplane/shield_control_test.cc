// ShieldControl (ctrlplane/shield_control.h) against a real shield: XdpShield attached to the hub
// end of a veth pair in namespaces this test creates (tests/ebpf/netns_lab.h), its maps pinned
// under the runtime's directory in a private mount namespace. The control plane's side opens
// them by runtime name, as a separate dmrswitch-cp does, and everything it writes is read back
// from the maps themselves.
//
// Root; fails (never skips) without it.

#include "ctrlplane/shield_control.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ctrlplane/config/config.h"
#include "ebpf/shield_common.h"
#include "tests/ebpf/netns_lab.h"

namespace dmrswitch::cp {
namespace {

using io::testing::VethLab;

class PrivateMounts : public ::testing::Environment {
 public:
  void SetUp() override {
    const absl::Status s = io::testing::PrivateMountNamespace();
    ASSERT_TRUE(s.ok()) << s << " — this test needs root";
  }
};
const auto* const kPrivateMounts = ::testing::AddGlobalTestEnvironment(new PrivateMounts);

constexpr uint32_t Ip(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d;
}

class ShieldControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto lab = VethLab::Create("sc");
    ASSERT_TRUE(lab.ok()) << lab.status();
    lab_ = *std::move(lab);
    ASSERT_TRUE(lab_->EnterHub().ok());
    runtime_ = absl::StrCat("sc", getpid());
    io::XdpShieldOptions o;
    o.interface = lab_->hub_if();
    o.runtime_name = runtime_;
    o.listeners = {{62031, io::XdpListenerFamily::kHbp}};
    auto shield = io::XdpShield::Attach(o);
    ASSERT_TRUE(shield.ok()) << shield.status();
    shield_ = *std::move(shield);
  }
  void TearDown() override {
    shield_.reset();
    lab_.reset();
  }

  HubConfig Config(const std::string& xdp, const std::string& runtime = "") {
    const std::string toml = absl::StrCat(
        "[hub]\nserver_id = 310999\nruntime_name = \"", runtime.empty() ? runtime_ : runtime,
        "\"\n[hbp]\nlisten = \"198.18.0.1:62031\"\npassphrase = \"p\"\n[[obp]]\nname = \"p\"\n"
        "listen = \"198.18.0.1:62035\"\ntarget = \"198.18.2.1:62036\"\nnetwork_id = 2\n"
        "passphrase = \"k\"\n[xdp]\n",
        xdp);
    auto c = ParseConfig(toml, "shield.toml");
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : HubConfig{};
  }

  // The shield's exempt sources, as (ip, port) in host order, sorted.
  std::vector<std::pair<uint32_t, uint16_t>> Exempt() const {
    std::vector<std::pair<uint32_t, uint16_t>> out;
    dmrswitch_shield_source key{};
    dmrswitch_shield_source next{};
    const void* prev = nullptr;
    const int fd = shield_->maps().exempt_fd();
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
      out.emplace_back(ntohl(next.addr), ntohs(next.port));
      key = next;
      prev = &key;
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  dmrswitch_shield_config ShieldConfig() const {
    dmrswitch_shield_config c{};
    const uint32_t zero = 0;
    EXPECT_EQ(bpf_map_lookup_elem(shield_->maps().config_fd(), &zero, &c), 0);
    return c;
  }

  std::unique_ptr<VethLab> lab_;
  std::string runtime_;
  std::unique_ptr<io::XdpShield> shield_;
};

TEST_F(ShieldControlTest, OpensThePinsByRuntimeNameAndAppliesRateAndExemptSources) {
  ShieldControl control(
      Config("interface = \"x\"\nsource_pps = 50\nsource_burst = 100\n"
             "exempt = [\"198.18.3.1:4000\"]\n"));
  EXPECT_TRUE(control.configured());
  EXPECT_FALSE(control.open());
  control.Tick(0);
  ASSERT_TRUE(control.open());
  // The peer's address on any port, then xdp.exempt.
  EXPECT_EQ(Exempt(), (std::vector<std::pair<uint32_t, uint16_t>>{{Ip(198, 18, 2, 1), 0},
                                                                  {Ip(198, 18, 3, 1), 4000}}));
  EXPECT_EQ(ShieldConfig().rate_interval_ns, 1'000'000'000u / 50);
  EXPECT_EQ(ShieldConfig().rate_burst_ns, 100u * (1'000'000'000u / 50));
  EXPECT_EQ(ShieldConfig().rate_prefix6, 64u) << "xdp.source_prefix6's default";

  // A reload: new rate, the extra exemption gone, the peer still exempt.
  ASSERT_TRUE(
      control.Apply(Config("interface = \"x\"\nsource_pps = 0\nsource_prefix6 = 128\n")).ok());
  EXPECT_EQ(ShieldConfig().rate_prefix6, 128u);
  EXPECT_EQ(Exempt(), (std::vector<std::pair<uint32_t, uint16_t>>{{Ip(198, 18, 2, 1), 0}}));
  EXPECT_EQ(ShieldConfig().rate_interval_ns, 0u) << "source_pps = 0 turns the limit off";
  // The afxdp flag and the listeners are the packet plane's: untouched.
  EXPECT_EQ(ShieldConfig().flags, 0u);
}

TEST_F(ShieldControlTest, BlocksUnblocksAndListsSources) {
  ShieldControl control(Config("interface = \"x\"\n"));
  control.Tick(0);
  ASSERT_TRUE(control.open());
  ASSERT_TRUE(control.Block(Ip(198, 18, 0, 9), std::chrono::seconds(30)).ok());
  ASSERT_TRUE(control.Block(Ip(198, 18, 0, 7), std::nullopt).ok());
  auto blocked = control.Blocked();
  ASSERT_TRUE(blocked.ok()) << blocked.status();
  ASSERT_EQ(blocked->size(), 2u);
  EXPECT_EQ((*blocked)[0].ip, Ip(198, 18, 0, 7));
  EXPECT_FALSE((*blocked)[0].remaining.has_value()) << "until unblocked";
  EXPECT_EQ((*blocked)[1].ip, Ip(198, 18, 0, 9));
  ASSERT_TRUE((*blocked)[1].remaining.has_value());
  EXPECT_GT(*(*blocked)[1].remaining, std::chrono::seconds(29));
  EXPECT_LE(*(*blocked)[1].remaining, std::chrono::seconds(30));
  // The entry is in the shield's own map.
  const uint32_t key = htonl(Ip(198, 18, 0, 9));
  uint64_t expiry = 0;
  EXPECT_EQ(bpf_map_lookup_elem(shield_->maps().block_fd(), &key, &expiry), 0);

  ASSERT_TRUE(control.Unblock(Ip(198, 18, 0, 9)).ok());
  EXPECT_TRUE(absl::IsNotFound(control.Unblock(Ip(198, 18, 0, 9))));
  blocked = control.Blocked();
  ASSERT_TRUE(blocked.ok());
  ASSERT_EQ(blocked->size(), 1u);
  EXPECT_EQ(control.StatusJson()["blocked"], 1);
}

// IPv6: a configured IPv6 peer is exempt in the IPv6 map; blocks by address or /64.
TEST_F(ShieldControlTest, Ipv6PeersAreExemptAndIpv6SourcesBlocked) {
  const std::string toml =
      absl::StrCat("[hub]\nserver_id = 310999\nruntime_name = \"", runtime_,
                   "\"\n[hbp]\nlisten = \"[::]:62031\"\npassphrase = \"p\"\n[[obp]]\nname = \"p\"\n"
                   "listen = \"[::]:62035\"\ntarget = \"[2001:2::9]:62036\"\nnetwork_id = 2\n"
                   "passphrase = \"k\"\n[xdp]\ninterface = \"x\"\n");
  auto c = ParseConfig(toml, "shield6.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  ShieldControl control(*c);
  control.Tick(0);
  ASSERT_TRUE(control.open());
  std::array<uint8_t, 16> peer = {0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};
  dmrswitch_shield_source6 key{};
  std::memcpy(key.addr, peer.data(), 16);
  uint32_t value = 0;
  EXPECT_EQ(bpf_map_lookup_elem(shield_->maps().exempt6_fd(), &key, &value), 0)
      << "the IPv6 peer is exempt on every port";
  EXPECT_TRUE(Exempt().empty()) << "nothing in the IPv4 map";

  ASSERT_TRUE(control.Block6(peer, 64, std::chrono::seconds(30)).ok());
  auto blocked = control.Blocked();
  ASSERT_TRUE(blocked.ok()) << blocked.status();
  ASSERT_EQ(blocked->size(), 1u);
  EXPECT_TRUE((*blocked)[0].v6);
  EXPECT_EQ((*blocked)[0].prefix_len, 64u);
  ASSERT_TRUE(control.Unblock6(peer, 64).ok());
  EXPECT_TRUE(absl::IsNotFound(control.Unblock6(peer, 64)));
  EXPECT_EQ(control.Block6(peer, 56, std::nullopt).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ShieldControlTest, StatusNamesTheNonZeroVerdicts) {
  ShieldControl control(Config("interface = \"x\"\n"));
  control.Tick(0);
  ASSERT_TRUE(control.open());
  // ARP and ICMP from the client: passed to the kernel, counted by name.
  ASSERT_EQ(
      io::testing::WaitChild(lab_->SpawnInClient([] { return io::testing::PingHub(2) ? 0 : 1; })),
      0);
  const std::string text = control.StatusText();
  EXPECT_TRUE(absl::StartsWith(text, "xdp ")) << text;
  EXPECT_TRUE(absl::StrContains(text, "pass_not_udp ")) << text;
  EXPECT_TRUE(absl::StrContains(text, "pass_not_ipv4 ")) << text;
  EXPECT_FALSE(absl::StrContains(text, "drop_rate_limited")) << "zero counters are left out";
  const nlohmann::json j = control.StatusJson();
  EXPECT_EQ(j["state"], "attached");
  EXPECT_EQ(j["verdicts"]["pass_not_udp"], 2) << "two echo requests (XDP sees ingress only)";
  EXPECT_EQ(j["verdicts"]["drop_rate_limited"], 0);
}

TEST_F(ShieldControlTest, WithoutAShieldEveryCallSaysWhy) {
  HubConfig none = Config("");
  ShieldControl off(none);
  off.Tick(0);
  EXPECT_FALSE(off.configured());
  EXPECT_EQ(off.StatusText(), "xdp off");
  EXPECT_EQ(off.StatusJson()["state"], "off");
  const absl::Status st = off.Block(Ip(198, 18, 0, 9), std::nullopt);
  EXPECT_TRUE(absl::IsFailedPrecondition(st)) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "[xdp] interface")) << st;

  // Configured, but no dp pinned maps under this runtime name (yet).
  ShieldControl missing(Config("interface = \"x\"\n", "nosuchruntime"));
  missing.Tick(0);
  EXPECT_FALSE(missing.open());
  EXPECT_EQ(missing.StatusText(), "xdp not attached");
  EXPECT_TRUE(absl::IsUnavailable(missing.Unblock(Ip(198, 18, 0, 9))));
  EXPECT_TRUE(absl::StrContains(missing.StatusJson()["error"].get<std::string>(), "nosuchruntime"));
}

}  // namespace
}  // namespace dmrswitch::cp
