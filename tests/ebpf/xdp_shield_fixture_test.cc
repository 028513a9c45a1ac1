// The XDP shield on fixture frames through BPF_PROG_TEST_RUN (katran's simulator habit): the real
// program, loaded by the kernel's verifier, gets one frame at a time; each fixture names the
// behaviour and pins the XDP action and the one verdict counter that must move. Dynamic cases
// (block list, rate limit, exempt peers, afxdp flag) drive the maps through XdpShieldMaps, the
// same owner the hub uses.
//
// Needs CAP_BPF (CI runs as root). Without it these tests fail with the loader's message.

#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dataplane/io/xdp/xdp_shield.h"
#include "ebpf/shield_classify.h"
#include "ebpf/shield_common.h"
#include "tests/ebpf/shield_frames.h"

namespace dmrswitch::io {
namespace {

using testing::FrameSpec;
using testing::HbpFrame;
using testing::kClientIp;
using testing::kHbpPort;
using testing::kObpPort;
using testing::ObpFrame;
using testing::Packet;
using testing::Tagged;
using testing::Truncated;
using testing::UdpFrame;

XdpShieldOptions HubOptions() {
  XdpShieldOptions o;
  o.listeners = {{kHbpPort, XdpListenerFamily::kHbp}, {kObpPort, XdpListenerFamily::kOpenBridge}};
  o.rate = XdpRate{200, 400};
  return o;
}

std::unique_ptr<XdpShieldSimulator> MustLoad(const XdpShieldOptions& options = HubOptions()) {
  absl::StatusOr<std::unique_ptr<XdpShieldSimulator>> sim = XdpShieldSimulator::Load(options);
  // Deliberately a failure, not a skip (see the file comment).
  EXPECT_TRUE(sim.ok()) << sim.status() << " — the XDP shield tests need CAP_BPF (run as root)";
  return sim.ok() ? std::move(*sim) : nullptr;
}

std::vector<XdpCounter> CountersOf(const XdpShieldSimulator& sim) {
  absl::StatusOr<std::vector<XdpCounter>> c = sim.maps().Counters();
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : std::vector<XdpCounter>{};
}

uint64_t CounterOf(const XdpShieldSimulator& sim, std::string_view name) {
  absl::StatusOr<uint64_t> v = sim.maps().Counter(name);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : 0;
}

uint32_t MustRun(XdpShieldSimulator& sim, const Packet& frame) {
  absl::StatusOr<uint32_t> action = sim.Run(frame);
  EXPECT_TRUE(action.ok()) << action.status();
  return action.ok() ? *action : 0xffffffffu;
}

struct Fixture {
  std::string name;
  Packet frame;
  uint32_t action;
  std::string verdict;
};

Packet WithVlans(int tags, const Packet& payload) {
  FrameSpec s;
  s.vlan_tags = tags;
  return UdpFrame(s, payload);
}

Packet WithIpOptions(int words, const Packet& payload) {
  FrameSpec s;
  s.ip_option_words = words;
  return UdpFrame(s, payload);
}

Packet WithSpec(FrameSpec s, const Packet& payload) { return UdpFrame(s, payload); }

FrameSpec Spec(void (*edit)(FrameSpec&)) {
  FrameSpec s;
  edit(s);
  return s;
}

std::vector<Fixture> Fixtures() {
  using testing::Bcsq;
  using testing::DmraGateway;
  using testing::Dmrd;
  using testing::Dmre;
  using testing::DmrgGateway;
  using testing::ObpDmrd;
  using testing::Rptc;
  using testing::Rptcl;
  using testing::Rptg;
  using testing::Rptk;
  using testing::Rptl;
  using testing::Rpto;
  using testing::Rptping;
  constexpr uint32_t P = XDP_PASS;
  constexpr uint32_t D = XDP_DROP;
  const Packet dmrd = Dmrd(0x1234);
  std::vector<Fixture> f = {
      // Every valid HBP family on the master port.
      {"hbp_dmrd_55_passes", HbpFrame(dmrd), P, "pass_hub"},
      {"hbp_dmrd_53_passes", HbpFrame(Dmrd(0x1234, 53)), P, "pass_hub"},
      {"hbp_rptl_passes", HbpFrame(Rptl(3120001)), P, "pass_hub"},
      {"hbp_rptk_passes", HbpFrame(Rptk(3120001)), P, "pass_hub"},
      {"hbp_rptc_passes", HbpFrame(Rptc(3120001)), P, "pass_hub"},
      {"hbp_rpto_passes", HbpFrame(Rpto(3120001)), P, "pass_hub"},
      {"hbp_rpto_shortest_passes", HbpFrame(Tagged("RPTO", 8)), P, "pass_hub"},
      {"hbp_rpto_longest_passes", HbpFrame(Tagged("RPTO", 308)), P, "pass_hub"},
      {"hbp_rptping_passes", HbpFrame(Rptping(3120001)), P, "pass_hub"},
      {"hbp_rptcl_passes", HbpFrame(Rptcl(3120001)), P, "pass_hub"},
      {"hbp_dmra_direct_passes", HbpFrame(Tagged("DMRA", 15)), P, "pass_hub"},
      {"hbp_dmra_gateway_passes", HbpFrame(DmraGateway(3120001)), P, "pass_hub"},
      {"hbp_dmrg_direct_passes", HbpFrame(Tagged("DMRG", 14)), P, "pass_hub"},
      {"hbp_dmrg_gateway_passes", HbpFrame(DmrgGateway(3120001)), P, "pass_hub"},
      {"hbp_rptg_passes", HbpFrame(Rptg(3120001)), P, "pass_hub"},
      {"hbp_dmrc_passes_for_the_hub_to_refuse", HbpFrame(Tagged("DMRC", 119)), P, "pass_hub"},
      // Every valid OpenBridge/FBP family on a peer port.
      {"obp_v1_dmrd_73_passes", ObpFrame(ObpDmrd(0x1234)), P, "pass_hub"},
      {"fbp_dmre_v4_85_passes", ObpFrame(Dmre(0x1234, 85)), P, "pass_hub"},
      {"fbp_dmre_v5_89_passes", ObpFrame(Dmre(0x1234, 89)), P, "pass_hub"},
      {"fbp_bcka_passes", ObpFrame(Tagged("BCKA", 24)), P, "pass_hub"},
      {"fbp_bcsq_passes", ObpFrame(Bcsq(0x1234)), P, "pass_hub"},
      {"fbp_bcve_passes", ObpFrame(Tagged("BCVE", 25)), P, "pass_hub"},
      {"fbp_bcst_passes", ObpFrame(Tagged("BCST", 24)), P, "pass_hub"},
      // Encapsulations of a valid DMRD.
      {"vlan_tagged_dmrd_passes", WithVlans(1, dmrd), P, "pass_hub"},
      {"qinq_tagged_dmrd_passes", WithVlans(2, dmrd), P, "pass_hub"},
      {"ipv4_options_dmrd_passes", WithIpOptions(1, dmrd), P, "pass_hub"},
      {"ipv4_max_options_dmrd_passes", WithIpOptions(10, dmrd), P, "pass_hub"},
      {"vlan_and_options_dmrd_passes",
       WithSpec(Spec([](FrameSpec& s) { s.vlan_tags = 2, s.ip_option_words = 3; }), dmrd), P,
       "pass_hub"},
      // Impossible lengths of known tags.
      {"hbp_dmrd_54_dropped", HbpFrame(Dmrd(1, 54)), D, "drop_malformed_len"},
      {"hbp_dmrd_71_trunking_dropped", HbpFrame(Dmrd(1, 71)), D, "drop_malformed_len"},
      {"hbp_obp_sized_dmrd_dropped", HbpFrame(ObpDmrd(1)), D, "drop_malformed_len"},
      {"hbp_dmrd_tag_only_dropped", HbpFrame(Tagged("DMRD", 4)), D, "drop_malformed_len"},
      {"hbp_rptl_9_dropped", HbpFrame(Tagged("RPTL", 9)), D, "drop_malformed_len"},
      {"hbp_rptk_39_dropped", HbpFrame(Tagged("RPTK", 39)), D, "drop_malformed_len"},
      {"hbp_rptc_301_dropped", HbpFrame(Tagged("RPTC", 301)), D, "drop_malformed_len"},
      {"hbp_rpto_309_dropped", HbpFrame(Tagged("RPTO", 309)), D, "drop_malformed_len"},
      {"hbp_rpto_7_dropped", HbpFrame(Tagged("RPTO", 7)), D, "drop_malformed_len"},
      {"hbp_rptping_12_dropped", HbpFrame(Tagged("RPTPING", 12)), D, "drop_malformed_len"},
      {"hbp_dmra_16_dropped", HbpFrame(Tagged("DMRA", 16)), D, "drop_malformed_len"},
      {"hbp_rptg_24_dropped", HbpFrame(Tagged("RPTG", 24)), D, "drop_malformed_len"},
      {"obp_dmrd_55_dropped", ObpFrame(Dmrd(1, 55)), D, "drop_malformed_len"},
      {"obp_dmrd_53_dropped", ObpFrame(Dmrd(1, 53)), D, "drop_malformed_len"},
      {"fbp_dmre_88_dropped", ObpFrame(Dmre(1, 88)), D, "drop_malformed_len"},
      {"fbp_bcka_25_dropped", ObpFrame(Tagged("BCKA", 25)), D, "drop_malformed_len"},
      {"fbp_bcsq_30_dropped", ObpFrame(Tagged("BCSQ", 30)), D, "drop_malformed_len"},
      // Tags that are never valid on the port.
      {"hbp_garbage_dropped", HbpFrame(Tagged("ZZZZ", 55)), D, "drop_bad_magic"},
      {"hbp_lowercase_dmrd_dropped", HbpFrame(Tagged("dmrd", 55)), D, "drop_bad_magic"},
      {"hbp_rptpong_dropped", HbpFrame(Tagged("RPTPONG", 11)), D, "drop_bad_magic"},
      {"hbp_rptc_9_without_l_dropped", HbpFrame(Tagged("RPTCX", 9)), D, "drop_bad_magic"},
      {"hbp_master_to_client_rptack_dropped", HbpFrame(Tagged("RPTACK", 10)), D,
       "drop_bad_magic"},
      {"hbp_master_to_client_mstpong_dropped", HbpFrame(Tagged("MSTPONG", 11)), D,
       "drop_bad_magic"},
      {"hbp_master_to_client_mstcl_dropped", HbpFrame(Tagged("MSTCL", 9)), D, "drop_bad_magic"},
      {"hbp_fbp_dmre_dropped", HbpFrame(Dmre(1, 89)), D, "drop_bad_magic"},
      {"hbp_bcka_dropped", HbpFrame(Tagged("BCKA", 24)), D, "drop_bad_magic"},
      {"obp_rptl_dropped", ObpFrame(Rptl(1)), D, "drop_bad_magic"},
      {"obp_garbage_dropped", ObpFrame(Tagged("XXXX", 73)), D, "drop_bad_magic"},
      {"hbp_five_garbage_bytes_dropped", HbpFrame(Tagged("QQQQ", 5)), D, "drop_bad_magic"},
      // No tag at all.
      {"hbp_empty_payload_dropped", HbpFrame({}), D, "drop_short_payload"},
      {"hbp_three_bytes_dropped", HbpFrame({'D', 'M', 'R'}), D, "drop_short_payload"},
      {"obp_one_byte_dropped", ObpFrame({'B'}), D, "drop_short_payload"},
      // Lying UDP lengths.
      {"udp_length_below_header_dropped",
       WithSpec(Spec([](FrameSpec& s) { s.udp_len = 4; }), dmrd), D, "drop_malformed_udp"},
      {"udp_length_beyond_ip_dropped",
       WithSpec(Spec([](FrameSpec& s) { s.udp_len = 8 + 55 + 1; }), dmrd), D,
       "drop_malformed_udp"},
      {"udp_payload_cut_by_frame_end_dropped",
       Truncated(HbpFrame(dmrd), 14 + 20 + 8 + 30), D, "drop_malformed_udp"},
      {"udp_tag_cut_by_frame_end_dropped", Truncated(HbpFrame(dmrd), 14 + 20 + 8 + 2), D,
       "drop_malformed_udp"},
      // Broken or truncated headers.
      {"ipv4_ihl_4_dropped", WithSpec(Spec([](FrameSpec& s) { s.ihl = 4; }), dmrd), D,
       "drop_malformed_ip"},
      {"ipv4_header_truncated_dropped", Truncated(HbpFrame(dmrd), 14 + 12), D,
       "drop_short_header"},
      {"ipv4_options_truncated_dropped", Truncated(WithIpOptions(10, dmrd), 14 + 40), D,
       "drop_short_header"},
      {"udp_header_truncated_dropped", Truncated(HbpFrame(dmrd), 14 + 20 + 4), D,
       "drop_short_header"},
      {"vlan_tag_truncated_dropped", Truncated(WithVlans(1, dmrd), 14 + 2), D,
       "drop_short_header"},
      {"second_vlan_tag_truncated_dropped", Truncated(WithVlans(2, dmrd), 14 + 4 + 2), D,
       "drop_short_header"},
      // Fragments.
      {"first_fragment_to_hub_dropped",
       WithSpec(Spec([](FrameSpec& s) { s.frag_field = 0x2000; }), dmrd), D, "drop_fragment"},
      {"later_fragment_passes",
       WithSpec(Spec([](FrameSpec& s) { s.frag_field = 0x0010; }), dmrd), P, "pass_fragment"},
      {"first_fragment_to_other_port_passes",
       WithSpec(Spec([](FrameSpec& s) { s.frag_field = 0x2000, s.dst_port = 53; }), dmrd), P,
       "pass_not_hub_port"},
      // Not hub traffic: untouched.
      {"arp_passes", testing::ArpFrame(), P, "pass_not_ipv4"},
      {"vlan_arp_passes", testing::ArpFrame(1), P, "pass_not_ipv4"},
      {"icmp_echo_passes", testing::IcmpEchoFrame(), P, "pass_not_udp"},
      {"vlan_icmp_echo_passes", testing::IcmpEchoFrame(2), P, "pass_not_udp"},
      {"tcp_ssh_passes", testing::TcpFrame(22), P, "pass_not_udp"},
      {"tcp_to_hub_port_passes", testing::TcpFrame(kHbpPort), P, "pass_not_udp"},
      {"udp_dns_passes", WithSpec(Spec([](FrameSpec& s) { s.dst_port = 53; }), Packet(40, 7)),
       P, "pass_not_hub_port"},
      {"udp_other_port_garbage_passes",
       WithSpec(Spec([](FrameSpec& s) { s.dst_port = 62032; }), Tagged("ZZZZ", 3)), P,
       "pass_not_hub_port"},
      {"udp_other_port_lying_length_passes",
       WithSpec(Spec([](FrameSpec& s) { s.dst_port = 9999, s.udp_len = 3; }), dmrd), P,
       "pass_not_hub_port"},
      // IPv6: the same checks as IPv4.
      {"ipv6_hbp_dmrd_passes", testing::Hbp6Frame(dmrd), P, "pass_hub"},
      {"ipv6_hbp_rptl_passes", testing::Hbp6Frame(Rptl(3120001)), P, "pass_hub"},
      {"ipv6_fbp_dmre_passes",
       [] {
         testing::Ipv6Spec s;
         s.dst_port = kObpPort;
         return testing::Ipv6Frame(s, Dmre(0x1234, 89));
       }(),
       P, "pass_hub"},
      {"ipv6_garbage_to_hub_port_dropped", testing::Ipv6UdpFrame(kHbpPort, Tagged("ZZZZ", 12)), D,
       "drop_bad_magic"},
      {"ipv6_other_port_passes", testing::Ipv6UdpFrame(53, Packet(30, 1)), P, "pass_not_hub_port"},
      {"ipv6_two_vlan_tags_passes",
       [&] {
         testing::Ipv6Spec s;
         s.vlan_tags = 2;
         return testing::Ipv6Frame(s, dmrd);
       }(),
       P, "pass_hub"},
      {"ipv6_four_extension_headers_pass",
       [&] {
         testing::Ipv6Spec s;
         s.ext = {{0, 8}, {60, 16}, {43, 8}, {60, 24}};
         return testing::Ipv6Frame(s, dmrd);
       }(),
       P, "pass_hub"},
      {"ipv6_five_extension_headers_dropped",
       [&] {
         testing::Ipv6Spec s;
         s.ext = {{0, 8}, {60, 8}, {60, 8}, {60, 8}, {60, 8}};
         return testing::Ipv6Frame(s, dmrd);
       }(),
       D, "drop_ipv6_ext_chain"},
      {"ipv6_first_fragment_to_hub_port_dropped",
       [&] {
         testing::Ipv6Spec s;
         s.ext = {{44, 8}};
         s.frag_field = 0x0001;  // offset 0, M
         return testing::Ipv6Frame(s, dmrd);
       }(),
       D, "drop_fragment"},
      {"ipv6_later_fragment_passes",
       [&] {
         testing::Ipv6Spec s;
         s.ext = {{44, 8}};
         s.frag_field = 0x00b8;  // offset 23 (× 8 bytes)
         return testing::Ipv6Frame(s, dmrd);
       }(),
       P, "pass_fragment"},
      {"ipv6_esp_passes",
       [] {
         testing::Ipv6Spec s;
         s.next_header = 50;
         return testing::Ipv6Frame(s, Packet(40, 3));
       }(),
       P, "pass_ipv6"},
      {"ipv6_neighbour_solicitation_passes",
       [] {
         testing::Ipv6Spec s;
         s.next_header = 58;
         Packet ns(32, 0);
         ns[0] = 135;
         return testing::Ipv6Frame(s, ns);
       }(),
       P, "pass_not_udp"},
      {"ipv6_udp_length_beyond_packet_dropped",
       [&] {
         testing::Ipv6Spec s;
         s.udp_len = 200;
         return testing::Ipv6Frame(s, dmrd);
       }(),
       D, "drop_malformed_udp"},
      {"ipv6_version_4_dropped",
       [&] {
         testing::Ipv6Spec s;
         s.version = 4;
         return testing::Ipv6Frame(s, dmrd);
       }(),
       D, "drop_malformed_ip"},
      {"ipv6_cut_in_fixed_header_dropped", Truncated(testing::Hbp6Frame(dmrd), 14 + 39), D,
       "drop_short_header"},
      {"ipv6_cut_in_extension_header_dropped",
       [&] {
         testing::Ipv6Spec s;
         s.ext = {{60, 16}};
         return Truncated(testing::Ipv6Frame(s, dmrd), 14 + 40 + 12);
       }(),
       D, "drop_short_header"},
      {"ipv6_cut_in_udp_header_dropped", Truncated(testing::Hbp6Frame(dmrd), 14 + 40 + 6), D,
       "drop_short_header"},
      {"three_vlan_tags_pass", WithVlans(3, dmrd), P, "pass_vlan_too_deep"},
      {"ipv4_ihl_4_tcp_dropped_as_the_kernel_would",
       [] {
         FrameSpec s;
         s.ihl = 4;
         s.protocol = 6;
         return testing::Ipv4Frame(s, Packet(20, 0));
       }(),
       D, "drop_malformed_ip"},
  };
  return f;
}

// One loaded program for every fixture (loading takes ~0.6 s; the fixtures stay well inside one
// source's bucket, as ShieldCountersTest below shows): each checks the counters' change.
class ShieldFixtureTest : public ::testing::TestWithParam<Fixture> {
 protected:
  static void SetUpTestSuite() { sim_ = MustLoad().release(); }
  static void TearDownTestSuite() {
    delete sim_;
    sim_ = nullptr;
  }
  static XdpShieldSimulator* sim_;
};
XdpShieldSimulator* ShieldFixtureTest::sim_ = nullptr;

TEST_P(ShieldFixtureTest, VerdictAndCounter) {
  const Fixture& fx = GetParam();
  ASSERT_NE(sim_, nullptr);
  const std::vector<XdpCounter> before = CountersOf(*sim_);
  EXPECT_EQ(MustRun(*sim_, fx.frame), fx.action);
  const std::vector<XdpCounter> after = CountersOf(*sim_);
  ASSERT_EQ(before.size(), after.size());
  bool named = false;
  for (size_t i = 0; i < after.size(); ++i) {
    const uint64_t moved = after[i].value - before[i].value;
    if (after[i].name == fx.verdict) {
      named = true;
      EXPECT_EQ(moved, 1u) << after[i].name;
    } else {
      EXPECT_EQ(moved, 0u) << after[i].name << " moved instead of " << fx.verdict;
    }
  }
  EXPECT_TRUE(named) << "no verdict named " << fx.verdict;
}

INSTANTIATE_TEST_SUITE_P(Frames, ShieldFixtureTest, ::testing::ValuesIn(Fixtures()),
                         [](const ::testing::TestParamInfo<Fixture>& info) {
                           return info.param.name;
                         });

// Every hub fixture redirects in afxdp mode when a socket is on the queue, and falls back to
// the kernel when none is (the simulator has no AF_XDP socket: xsks_map is empty).
TEST(ShieldAfxdpTest, AcceptedHubTrafficFallsBackToPassWithoutSocket) {
  XdpShieldOptions o = HubOptions();
  o.afxdp = true;
  std::unique_ptr<XdpShieldSimulator> sim = MustLoad(o);
  ASSERT_NE(sim, nullptr);
  uint64_t hub = 0;
  for (const Fixture& fx : Fixtures()) {
    const uint32_t action = MustRun(*sim, fx.frame);
    EXPECT_EQ(action, fx.action) << fx.name;
    if (fx.verdict == "pass_hub") ++hub;
  }
  EXPECT_EQ(CounterOf(*sim, "pass_hub"), 0u);
  EXPECT_EQ(CounterOf(*sim, "pass_hub_no_xsk"), hub);
  EXPECT_EQ(CounterOf(*sim, "redirect_hub"), 0u);
}

TEST(ShieldCountersTest, NamesAreUniqueAndCountersAddUpToFrames) {
  std::set<std::string> names;
  for (uint32_t v = 0; v < DMRSWITCH_SHIELD_V_COUNT; ++v) {
    EXPECT_TRUE(names.insert(dmrswitch_shield_verdict_names[v]).second)
        << dmrswitch_shield_verdict_names[v];
  }
  std::unique_ptr<XdpShieldSimulator> sim = MustLoad();
  ASSERT_NE(sim, nullptr);
  const std::vector<Fixture> fixtures = Fixtures();
  for (const Fixture& fx : fixtures) MustRun(*sim, fx.frame);
  uint64_t total = 0;
  const std::vector<XdpCounter> counters = CountersOf(*sim);
  EXPECT_EQ(counters.size(), DMRSWITCH_SHIELD_V_COUNT);
  for (const XdpCounter& c : counters) total += c.value;
  EXPECT_EQ(total, fixtures.size());
  EXPECT_FALSE(sim->maps().Counter("no_such_verdict").ok());
}

// Listeners are configuration: a port becomes hub traffic when it is listed, and stops being
// checked when it is removed.
TEST(ShieldListenersTest, SetListenersReplacesThePortSet) {
  std::unique_ptr<XdpShieldSimulator> sim = MustLoad();
  ASSERT_NE(sim, nullptr);
  const Packet garbage_to_hbp = HbpFrame(Tagged("ZZZZ", 20));
  EXPECT_EQ(MustRun(*sim, garbage_to_hbp), XDP_DROP);
  const XdpListener obp_only[] = {{kObpPort, XdpListenerFamily::kOpenBridge}};
  ASSERT_TRUE(sim->maps().SetListeners(obp_only).ok());
  EXPECT_EQ(MustRun(*sim, garbage_to_hbp), XDP_PASS);
  EXPECT_EQ(CounterOf(*sim, "pass_not_hub_port"), 1u);
  // The HBP port as an OpenBridge port: an HBP DMRD is now wrong there.
  const XdpListener swapped[] = {{kHbpPort, XdpListenerFamily::kOpenBridge}};
  ASSERT_TRUE(sim->maps().SetListeners(swapped).ok());
  EXPECT_EQ(MustRun(*sim, HbpFrame(testing::Dmrd(1))), XDP_DROP);
  EXPECT_EQ(CounterOf(*sim, "drop_malformed_len"), 1u);
  const XdpListener conflicting[] = {{kHbpPort, XdpListenerFamily::kOpenBridge},
                                     {kHbpPort, XdpListenerFamily::kHbp}};
  EXPECT_EQ(sim->maps().SetListeners(conflicting).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ShieldBlockTest, BlockedSourceIsDroppedAndUnblockedAgain) {
  std::unique_ptr<XdpShieldSimulator> sim = MustLoad();
  ASSERT_NE(sim, nullptr);
  XdpShieldMaps& maps = sim->maps();
  const uint32_t bad = 0xC6120063;  // 198.18.0.99
  const Packet from_bad = HbpFrame(testing::Rptl(1), bad);
  const Packet from_good = HbpFrame(testing::Rptl(1));
  ASSERT_TRUE(maps.Block(bad, std::nullopt).ok());
  EXPECT_EQ(MustRun(*sim, from_bad), XDP_DROP);
  EXPECT_EQ(MustRun(*sim, HbpFrame(Tagged("ZZZZ", 3), bad)), XDP_DROP);  // whatever it sends
  EXPECT_EQ(MustRun(*sim, from_good), XDP_PASS);
  EXPECT_EQ(CounterOf(*sim, "drop_blocked"), 2u);
  // Only hub traffic is judged: the blocked address can still ping the box.
  EXPECT_EQ(MustRun(*sim,
                    [&] {
                      FrameSpec s;
                      s.src_ip = bad;
                      s.protocol = 1;
                      return testing::Ipv4Frame(s, Packet(12, 0));
                    }()),
            XDP_PASS);

  absl::StatusOr<std::vector<XdpBlockedSource>> blocked = maps.Blocked();
  ASSERT_TRUE(blocked.ok()) << blocked.status();
  ASSERT_EQ(blocked->size(), 1u);
  EXPECT_EQ((*blocked)[0].ip, bad);
  EXPECT_FALSE((*blocked)[0].remaining.has_value());

  ASSERT_TRUE(maps.Unblock(bad).ok());
  EXPECT_EQ(MustRun(*sim, from_bad), XDP_PASS);
  EXPECT_EQ(CounterOf(*sim, "drop_blocked"), 2u);
  EXPECT_EQ(maps.Unblock(bad).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(maps.Blocked().ok());
  EXPECT_TRUE(maps.Blocked()->empty());
}

TEST(ShieldBlockTest, Ipv6SourcesAreBlockedByAddressOrBySlash64) {
  std::unique_ptr<XdpShieldSimulator> sim = MustLoad();
  ASSERT_NE(sim, nullptr);
  XdpShieldMaps& maps = sim->maps();
  testing::Ip6 bad = testing::kClientIp6;
  bad[15] = 0x99;
  testing::Ip6 neighbour = bad;  // same /64
  neighbour[15] = 0x98;
  testing::Ip6 elsewhere = bad;  // another /64
  elsewhere[7] = 1;
  const auto from = [](const testing::Ip6& a) { return testing::Hbp6Frame(testing::Rptl(1), a); };
  ASSERT_TRUE(maps.Block6(bad, 128, std::nullopt).ok());
  EXPECT_EQ(MustRun(*sim, from(bad)), XDP_DROP);
  EXPECT_EQ(MustRun(*sim, from(neighbour)), XDP_PASS);
  ASSERT_TRUE(maps.Block6(neighbour, 64, std::chrono::seconds(30)).ok());
  EXPECT_EQ(MustRun(*sim, from(neighbour)), XDP_DROP);
  EXPECT_EQ(MustRun(*sim, from(elsewhere)), XDP_PASS);
  EXPECT_EQ(CounterOf(*sim, "drop_blocked"), 2u);
  // An IPv4 block of the same low bits does not touch IPv6, nor the other way round.
  EXPECT_EQ(MustRun(*sim, HbpFrame(testing::Rptl(1))), XDP_PASS);

  absl::StatusOr<std::vector<XdpBlockedSource>> blocked = maps.Blocked();
  ASSERT_TRUE(blocked.ok()) << blocked.status();
  ASSERT_EQ(blocked->size(), 2u);
  testing::Ip6 slash64 = bad;
  std::fill(slash64.begin() + 8, slash64.end(), 0);
  EXPECT_TRUE((*blocked)[0].v6);
  EXPECT_EQ((*blocked)[0].ip6, slash64);  // the /64 sorts first
  EXPECT_EQ((*blocked)[0].prefix_len, 64u);
  EXPECT_TRUE((*blocked)[0].remaining.has_value());
  EXPECT_EQ((*blocked)[1].ip6, bad);
  EXPECT_EQ((*blocked)[1].prefix_len, 128u);
  EXPECT_FALSE((*blocked)[1].remaining.has_value());

  ASSERT_TRUE(maps.Unblock6(neighbour, 64).ok());  // any address of the /64 names it
  EXPECT_EQ(MustRun(*sim, from(neighbour)), XDP_PASS);
  EXPECT_EQ(maps.Unblock6(neighbour, 64).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(maps.Unblock6(bad, 128).ok());
  EXPECT_EQ(MustRun(*sim, from(bad)), XDP_PASS);
  EXPECT_EQ(maps.Block6(bad, 48, std::nullopt).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(maps.Blocked().ok());
  EXPECT_TRUE(maps.Blocked()->empty());
}

TEST(ShieldBlockTest, ExpiredBlockPassesAndIsPruned) {
  std::unique_ptr<XdpShieldSimulator> sim = MustLoad();
  ASSERT_NE(sim, nullptr);
  XdpShieldMaps& maps = sim->maps();
  const uint32_t bad = 0xC6120064;
  const Packet from_bad = HbpFrame(testing::Rptl(1), bad);
  ASSERT_TRUE(maps.Block(bad, std::chrono::milliseconds(200)).ok());
  EXPECT_EQ(MustRun(*sim, from_bad), XDP_DROP);
  absl::StatusOr<std::vector<XdpBlockedSource>> blocked = maps.Blocked();
  ASSERT_TRUE(blocked.ok());
  ASSERT_EQ(blocked->size(), 1u);
  ASSERT_TRUE((*blocked)[0].remaining.has_value());
  EXPECT_GT(*(*blocked)[0].remaining, std::chrono::milliseconds(0));
  EXPECT_LE(*(*blocked)[0].remaining, std::chrono::milliseconds(200));
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  EXPECT_EQ(MustRun(*sim, from_bad), XDP_PASS);  // the program checks the expiry itself
  EXPECT_EQ(CounterOf(*sim, "drop_blocked"), 1u);
  blocked = maps.Blocked();
  ASSERT_TRUE(blocked.ok());
  EXPECT_TRUE(blocked->empty());
  EXPECT_EQ(maps.Unblock(bad).code(), absl::StatusCode::kNotFound);  // pruned by Blocked()
  EXPECT_EQ(maps.Block(bad, std::chrono::milliseconds(0)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ShieldRateTest, SourceBeyondItsBucketIsDroppedOthersUntouched) {
  XdpShieldOptions o = HubOptions();
  o.rate = XdpRate{10, 5};  // 5 back to back, then one per 100 ms
  std::unique_ptr<XdpShieldSimulator> sim = MustLoad(o);
  ASSERT_NE(sim, nullptr);
  const Packet flood = HbpFrame(testing::Rptl(1), kClientIp, 40001);
  int passed = 0;
  for (int i = 0; i < 50; ++i) passed += MustRun(*sim, flood) == XDP_PASS;
  EXPECT_EQ(passed, 5);
  EXPECT_EQ(CounterOf(*sim, "drop_rate_limited"), 45u);
  // Another port of the same address is another source with its own bucket.
  const Packet other = HbpFrame(testing::Rptl(1), kClientIp, 40002);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(MustRun(*sim, other), XDP_PASS) << i;
  // The flooder earns one packet per interval.
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_EQ(MustRun(*sim, flood), XDP_PASS);
  EXPECT_EQ(MustRun(*sim, flood), XDP_DROP);
  // Malformed packets never reach the bucket: they are dropped for what they are.
  EXPECT_EQ(MustRun(*sim, HbpFrame(Tagged("ZZZZ", 9), kClientIp, 40001)), XDP_DROP);
  EXPECT_EQ(CounterOf(*sim, "drop_bad_magic"), 1u);
}

TEST(ShieldRateTest, ExemptPeersAreNeverLimited) {
  XdpShieldOptions o = HubOptions();
  o.rate = XdpRate{10, 5};
  const uint32_t peer_any_port = 0xC6120010;
  const uint32_t peer_one_port = 0xC6120011;
  o.exempt = {{peer_any_port, 0}, {peer_one_port, 62036}};
  std::unique_ptr<XdpShieldSimulator> sim = MustLoad(o);
  ASSERT_NE(sim, nullptr);
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(MustRun(*sim, ObpFrame(testing::Dmre(i + 1), peer_any_port, 1000 + i % 3)), XDP_PASS);
    ASSERT_EQ(MustRun(*sim, ObpFrame(testing::Dmre(i + 1), peer_one_port, 62036)), XDP_PASS);
  }
  // The exemption is for the listed port only.
  int passed = 0;
  for (int i = 0; i < 20; ++i) {
    passed += MustRun(*sim, ObpFrame(testing::Dmre(1), peer_one_port, 62037)) == XDP_PASS;
  }
  EXPECT_EQ(passed, 5);
  // Removing the exemption (a reload without the peer) subjects it to the bucket again.
  ASSERT_TRUE(sim->maps().SetExempt({}).ok());
  passed = 0;
  for (int i = 0; i < 20; ++i) {
    passed += MustRun(*sim, ObpFrame(testing::Dmre(1), peer_any_port, 5000)) == XDP_PASS;
  }
  EXPECT_EQ(passed, 5);
}

// IPv6 sources share a bucket per /64 (and port): rotating the address inside one's /64 earns
// no fresh bucket. rate_prefix6 = 128 gives every address its own.
TEST(ShieldRateTest, Ipv6SourcesShareABucketPerSlash64) {
  XdpShieldOptions o = HubOptions();
  o.rate = XdpRate{10, 5};
  std::unique_ptr<XdpShieldSimulator> sim = MustLoad(o);
  ASSERT_NE(sim, nullptr);
  int passed = 0;
  for (int i = 0; i < 50; ++i) {
    testing::Ip6 a = testing::kClientIp6;
    a[14] = static_cast<uint8_t>(i);
    a[15] = static_cast<uint8_t>(i * 7 + 1);
    passed += MustRun(*sim, testing::Hbp6Frame(testing::Rptl(1), a, 40001)) == XDP_PASS;
  }
  EXPECT_EQ(passed, 5);
  EXPECT_EQ(CounterOf(*sim, "drop_rate_limited"), 45u);
  // Another /64 is another source.
  testing::Ip6 other = testing::kClientIp6;
  other[7] = 9;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(MustRun(*sim, testing::Hbp6Frame(testing::Rptl(1), other, 40001)), XDP_PASS) << i;
  }
  // Per address when asked.
  ASSERT_TRUE(sim->maps().SetRate(XdpRate{10, 5, 128}).ok());
  testing::Ip6 fresh = testing::kClientIp6;
  fresh[15] = 0xee;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(MustRun(*sim, testing::Hbp6Frame(testing::Rptl(1), fresh, 40001)), XDP_PASS) << i;
  }
  EXPECT_EQ(sim->maps().SetRate(XdpRate{10, 5, 129}).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ShieldRateTest, Ipv6ExemptPeersAreNeverLimited) {
  XdpShieldOptions o = HubOptions();
  o.rate = XdpRate{10, 5};
  testing::Ip6 peer = testing::kClientIp6;
  peer[15] = 0x10;
  XdpSource exempt;
  exempt.v6 = true;
  exempt.ip6 = peer;
  o.exempt = {exempt};
  std::unique_ptr<XdpShieldSimulator> sim = MustLoad(o);
  ASSERT_NE(sim, nullptr);
  testing::Ipv6Spec s;
  s.src = peer;
  s.dst_port = kObpPort;
  for (int i = 0; i < 100; ++i) {
    s.src_port = static_cast<uint16_t>(1000 + i % 3);
    ASSERT_EQ(MustRun(*sim, testing::Ipv6Frame(s, testing::Dmre(i + 1))), XDP_PASS) << i;
  }
  // Its /64 neighbour is not exempt.
  testing::Ip6 neighbour = peer;
  neighbour[15] = 0x11;
  s.src = neighbour;
  int passed = 0;
  for (int i = 0; i < 20; ++i)
    passed += MustRun(*sim, testing::Ipv6Frame(s, testing::Dmre(1))) == XDP_PASS;
  EXPECT_EQ(passed, 5);
}

TEST(ShieldRateTest, RateZeroTurnsLimitingOff) {
  XdpShieldOptions o = HubOptions();
  o.rate = XdpRate{10, 5};
  std::unique_ptr<XdpShieldSimulator> sim = MustLoad(o);
  ASSERT_NE(sim, nullptr);
  ASSERT_TRUE(sim->maps().SetRate(XdpRate{0, 0}).ok());
  for (int i = 0; i < 100; ++i) ASSERT_EQ(MustRun(*sim, HbpFrame(testing::Rptl(1))), XDP_PASS);
  EXPECT_EQ(sim->maps().SetRate(XdpRate{10, 0}).code(), absl::StatusCode::kInvalidArgument);
}

// A logged-in client keys a call (34 pps: two slots at 60 ms) while another source on the same
// address floods; with the configured defaults the call loses nothing, the flood is cut to its
// bucket.
TEST(ShieldRateTest, ClientAt34PpsIsNeverTouchedWhileAFloodIsCut) {
  std::unique_ptr<XdpShieldSimulator> sim = MustLoad();  // 200 pps, burst 400
  ASSERT_NE(sim, nullptr);
  const Packet flood = HbpFrame(testing::Dmrd(7), kClientIp, 50000);
  const Packet call = HbpFrame(testing::Dmrd(9), kClientIp, 40000);
  int call_passed = 0;
  int flood_passed = 0;
  constexpr int kCallFrames = 51;  // 1.5 s
  constexpr int kFloodPerFrame = 200;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kCallFrames; ++i) {
    std::this_thread::sleep_until(start + std::chrono::microseconds(29412) * i);
    call_passed += MustRun(*sim, call) == XDP_PASS;
    for (int k = 0; k < kFloodPerFrame; ++k) flood_passed += MustRun(*sim, flood) == XDP_PASS;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(call_passed, kCallFrames);
  // The flood gets its burst plus its rate over the elapsed time, no more.
  EXPECT_LE(flood_passed, 400 + static_cast<int>(200 * seconds) + 2);
  EXPECT_GE(flood_passed, 400);
  EXPECT_EQ(CounterOf(*sim, "drop_rate_limited"),
            static_cast<uint64_t>(kCallFrames * kFloodPerFrame - flood_passed));
}

// The classifier (shared with the program) accepts exactly the lengths the hub's decoders do;
// this pins the table of ebpf/shield_classify.h against PROTOCOL.md's catalogue.
TEST(ShieldClassifyTest, AcceptedLengthsPerTag) {
  struct Expect {
    uint32_t family;
    const char* tag;
    std::set<uint32_t> lengths;
  };
  std::set<uint32_t> rpto;
  for (uint32_t n = 8; n <= 308; ++n) rpto.insert(n);
  const Expect table[] = {
      {DMRSWITCH_SHIELD_FAMILY_HBP, "DMRD", {53, 55}},
      {DMRSWITCH_SHIELD_FAMILY_HBP, "RPTL", {8}},
      {DMRSWITCH_SHIELD_FAMILY_HBP, "RPTK", {40}},
      {DMRSWITCH_SHIELD_FAMILY_HBP, "RPTC", {302}},
      {DMRSWITCH_SHIELD_FAMILY_HBP, "RPTCL", {9, 302}},  // 302: an RPTC whose ID starts with L
      {DMRSWITCH_SHIELD_FAMILY_HBP, "RPTO", rpto},
      {DMRSWITCH_SHIELD_FAMILY_HBP, "RPTPING", {11}},
      {DMRSWITCH_SHIELD_FAMILY_HBP, "DMRA", {15, 19}},
      {DMRSWITCH_SHIELD_FAMILY_HBP, "DMRG", {14, 18}},
      {DMRSWITCH_SHIELD_FAMILY_HBP, "RPTG", {25}},
      {DMRSWITCH_SHIELD_FAMILY_HBP, "DMRC", {119}},
      {DMRSWITCH_SHIELD_FAMILY_HBP, "RPTACK", {}},
      {DMRSWITCH_SHIELD_FAMILY_HBP, "MSTNAK", {}},
      {DMRSWITCH_SHIELD_FAMILY_HBP, "MSTPONG", {}},
      {DMRSWITCH_SHIELD_FAMILY_HBP, "RPTSBKN", {}},
      {DMRSWITCH_SHIELD_FAMILY_HBP, "DMRE", {}},
      {DMRSWITCH_SHIELD_FAMILY_OPENBRIDGE, "DMRD", {73}},
      {DMRSWITCH_SHIELD_FAMILY_OPENBRIDGE, "DMRE", {85, 89}},
      {DMRSWITCH_SHIELD_FAMILY_OPENBRIDGE, "BCKA", {24}},
      {DMRSWITCH_SHIELD_FAMILY_OPENBRIDGE, "BCSQ", {31}},
      {DMRSWITCH_SHIELD_FAMILY_OPENBRIDGE, "BCVE", {25}},
      {DMRSWITCH_SHIELD_FAMILY_OPENBRIDGE, "BCST", {24}},
      {DMRSWITCH_SHIELD_FAMILY_OPENBRIDGE, "RPTL", {}},
  };
  for (const Expect& e : table) {
    for (uint32_t len = 0; len <= 400; ++len) {
      const Packet p = Tagged(e.tag, len);
      const uint32_t v = dmrswitch_shield_classify(e.family, p.data(), len);
      EXPECT_EQ(v == DMRSWITCH_SHIELD_V_PASS_HUB, e.lengths.count(len) == 1)
          << e.tag << " family " << e.family << " length " << len << " verdict "
          << dmrswitch_shield_verdict_names[v];
    }
  }
}

}  // namespace
}  // namespace dmrswitch::io
