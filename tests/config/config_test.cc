// ctrlplane/config: TOML configuration (../shared/docs/CONFIG.md, docs/config.md).

#include "ctrlplane/config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ctrlplane/config/memory.h"
#include "ctrlplane/config/reload.h"
#include "ctrlplane/config/secret_files.h"
#include "dataplane/route/route_snapshot.h"

namespace dmrswitch::cp {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

constexpr route::Endpoint Ep(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
  return {(uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d, port};
}

HubConfig MustParse(std::string_view text) {
  absl::StatusOr<HubConfig> c = ParseConfig(text, "config.toml");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : HubConfig{};
}

std::string ErrorOf(std::string_view text) {
  absl::StatusOr<HubConfig> c = ParseConfig(text, "config.toml");
  if (c.ok()) return "(parsed without error)";
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(c.status().message());
}

// CONFIG.md's example, verbatim.
constexpr std::string_view kContractExample = R"toml(
[hub]
server_id = 310999           # 4-byte ID this hub puts on OpenBridge/FBP
mode = "kernel"              # "kernel" | "dpdk" | "afxdp"
shards = 2                   # packet-plane shards
control_plane = "hosted"     # "hosted" (same process) | "separate" (dmrswitch-cp)

[hbp]                        # Homebrew master: hotspots and repeaters log in here
listen = "127.0.0.1:62031"
passphrase = "passw0rd"
max_clients = 10000
ping_time_s = 10             # clients missing max_missed pings in a row are dropped (MSTCL)
max_missed = 3
group_hangtime_s = 5
default_ua_timer_min = 10    # user-activated TG timeout
single_mode = true
activate_on = "start"        # "start" | "end" (FreeDMR behaviour)

[[hbp.static]]               # server-side static TGs for one client (options can add more)
client = 3120001
ts1 = [91]
ts2 = [3100]

[acl]                        # FreeDMR syntax: PERMIT|DENY:id,lo-hi,ALL
reg = "PERMIT:ALL"
sub = "DENY:1"
tg_ts1 = "PERMIT:ALL"
tg_ts2 = "PERMIT:ALL"

[[obp]]                      # one OpenBridge / FBP peer
name = "peer-a"
listen = "127.0.0.1:62035"
target = "127.0.0.1:62036"
network_id = 310998          # the ID expected from / sent to this peer (see PROTOCOL.md §2.1)
passphrase = "mypass"
version = 1                  # 1 = classic OBP (HMAC-SHA1), 5 = FBP DMRE (BLAKE2b, BCKA/BCSQ/BCVE)
)toml";

constexpr std::string_view kContractDpdk = R"toml(
[dpdk]                       # mode = "dpdk" or "afxdp"
eal_args = ["--no-pci", "--vdev=net_af_packet0,iface=veth-hub"]   # EAL arguments, as given
address = "198.18.0.1"       # the hub's IPv4 address on its ports (ARP answered by the dp)
)toml";

constexpr std::string_view kContractXdp = R"toml(
[xdp]                        # the XDP shield; kernel mode: optional, afxdp mode: required
interface = "eth0"           # the NIC the hub's traffic arrives on
attach = "auto"              # "auto" (native, else generic) | "native" | "generic"
source_pps = 200             # token bucket per source ip:port on hub ports (peers exempt); a client sends <= 34
source_burst = 400
)toml";

// --- Files that parse ---------------------------------------------------------------------------

TEST(ConfigTest, DefaultConfigParses) {
  const HubConfig c = MustParse(DefaultConfigToml());
  EXPECT_EQ(c.source, "config.toml");
  EXPECT_EQ(c.hub.mode, HubMode::kKernel);
  EXPECT_EQ(c.hub.control_plane, ControlPlaneMode::kHosted);
  EXPECT_EQ(c.hub.shards, 2u);
  EXPECT_EQ(c.hub.server_id, 310999u);
  EXPECT_EQ(c.hbp.listen, Ep(127, 0, 0, 1, 62031));
  EXPECT_EQ(c.hbp.passphrase, "passw0rd");
  ASSERT_EQ(c.obp.size(), 1u);
  EXPECT_EQ(c.obp[0].version, 5);
  EXPECT_TRUE(c.obp[0].relay);
  EXPECT_EQ(c.obp[0].listen, Ep(127, 0, 0, 1, 62035));
  EXPECT_EQ(c.obp[0].target, Ep(127, 0, 0, 1, 62036));
  EXPECT_FALSE(c.obp[0].shared_listen);
  EXPECT_EQ(c.obp_listeners, std::vector<route::Endpoint>{Ep(127, 0, 0, 1, 62035)});
  EXPECT_FALSE(c.dpdk.present);
}

TEST(ConfigTest, DefaultConfigBuildsASnapshot) {
  const HubConfig c = MustParse(DefaultConfigToml());
  route::RouteSnapshotBuilder b(MakeHubPolicy(c), c.hbp.max_clients);
  for (const route::PeerSpec& spec : MakePeerSpecs(c)) {
    absl::StatusOr<uint32_t> idx = b.AddPeer(spec);
    EXPECT_TRUE(idx.ok()) << idx.status();
  }
  EXPECT_TRUE(b.Build(1).ok());
}

TEST(ConfigTest, ContractExampleParses) {
  const HubConfig c = MustParse(kContractExample);
  EXPECT_EQ(c.hub.server_id, 310999u);
  EXPECT_EQ(c.hub.mode, HubMode::kKernel);
  EXPECT_EQ(c.hub.shards, 2u);
  EXPECT_EQ(c.hbp.listen, Ep(127, 0, 0, 1, 62031));
  EXPECT_EQ(c.hbp.max_clients, 10000u);
  EXPECT_EQ(c.hbp.ping_time_s, 10u);
  EXPECT_EQ(c.hbp.max_missed, 3u);
  EXPECT_EQ(c.hbp.group_hangtime_s, 5u);
  EXPECT_EQ(c.hbp.default_ua_timer_min, 10u);
  EXPECT_TRUE(c.hbp.single_mode);
  EXPECT_EQ(c.hbp.activate_on, route::ActivateOn::kStart);
  ASSERT_EQ(c.hbp.statics.size(), 1u);
  EXPECT_EQ(c.hbp.statics[0].client, 3120001u);
  EXPECT_EQ(c.hbp.statics[0].ts[route::kTs1], std::vector<uint32_t>{91});
  EXPECT_EQ(c.hbp.statics[0].ts[route::kTs2], std::vector<uint32_t>{3100});
  EXPECT_FALSE(c.acl.sub.Permits(1));
  EXPECT_TRUE(c.acl.sub.Permits(2));
  EXPECT_TRUE(c.acl.reg.Permits(0xFFFFFFFF));
  ASSERT_EQ(c.obp.size(), 1u);
  const ObpPeer& p = c.obp[0];
  EXPECT_EQ(p.name, "peer-a");
  EXPECT_EQ(p.network_id, 310998u);
  EXPECT_EQ(p.passphrase, "mypass");
  EXPECT_EQ(p.version, 1);
  EXPECT_FALSE(p.relay);  // classic OBP has no loop protection
  EXPECT_EQ(p.id_mode, route::PeerIdMode::kFreeDmr);
  EXPECT_TRUE(p.relax_checks);
}

TEST(ConfigTest, ContractDpdkSectionIsAcceptedInKernelModeAndUsedInDpdkMode) {
  const std::string text = std::string(kContractExample) + std::string(kContractDpdk);
  const HubConfig kernel = MustParse(text);
  EXPECT_TRUE(kernel.dpdk.present);
  EXPECT_EQ(kernel.dpdk.eal_args,
            (std::vector<std::string>{"--no-pci", "--vdev=net_af_packet0,iface=veth-hub"}));
  EXPECT_EQ(kernel.dpdk.address, Ep(198, 18, 0, 1, 0).ip);
  EXPECT_EQ(kernel.hbp.listen, Ep(127, 0, 0, 1, 62031));  // kernel mode keeps its addresses

  for (const char* mode : {"dpdk", "afxdp"}) {
    // afxdp mode needs the shield's interface ([xdp]); dpdk mode refuses one.
    std::string m = std::string_view(mode) == "afxdp" ? text + std::string(kContractXdp) : text;
    m.replace(m.find("mode = \"kernel\""), 15, std::string("mode = \"") + mode + "\"");
    const HubConfig c = MustParse(m);
    EXPECT_EQ(c.hub.mode, std::string_view(mode) == "dpdk" ? HubMode::kDpdk : HubMode::kAfXdp);
    // Listeners use the [dpdk] address and keep their ports.
    EXPECT_EQ(c.hbp.listen, Ep(198, 18, 0, 1, 62031));
    EXPECT_EQ(c.obp[0].listen, Ep(198, 18, 0, 1, 62035));
    EXPECT_EQ(c.obp[0].target, Ep(127, 0, 0, 1, 62036));
  }
}

TEST(ConfigTest, ContractXdpSectionConfiguresTheShield) {
  const HubConfig c = MustParse(std::string(kContractExample) + std::string(kContractXdp));
  EXPECT_EQ(c.xdp.interface, "eth0");
  EXPECT_EQ(c.xdp.attach, XdpAttach::kAuto);
  EXPECT_EQ(c.xdp.source_pps, 200u);
  EXPECT_EQ(c.xdp.source_burst, 400u);
  // The configured peer is exempt by address (its source port may not be its target's).
  EXPECT_EQ(ShieldExemptSources(c), (std::vector<XdpSource>{{Ep(127, 0, 0, 1, 0).ip, 0}}));
}

TEST(ConfigTest, XdpExemptAddsSourcesAfterThePeers) {
  const HubConfig c = MustParse(std::string(kContractExample) +
                                "[xdp]\nexempt = [\"198.18.3.1\", \"198.18.3.2:62050\", "
                                "\"127.0.0.1\"]\n");
  EXPECT_TRUE(c.xdp.interface.empty());
  EXPECT_EQ(ShieldExemptSources(c), (std::vector<XdpSource>{{Ep(127, 0, 0, 1, 0).ip, 0},
                                                            {Ep(198, 18, 3, 1, 0).ip, 0},
                                                            {Ep(198, 18, 3, 2, 0).ip, 62050}}));
  EXPECT_EQ(FormatXdpSource(ShieldExemptSources(c)[2]), "198.18.3.2:62050");
}

// An IPv6 peer is exempt in the shield like an IPv4 one (the shield filters both families).
TEST(ConfigTest, Ipv6PeersAreExemptInTheShieldToo) {
  const HubConfig c = MustParse(
      "[hub]\nserver_id = 1\n[hbp]\npassphrase = \"p\"\nlisten = \"[::]:62031\"\n[[obp]]\n"
      "name = \"a\"\nlisten = \"[::]:62035\"\ntarget = \"[2001:2::7]:62036\"\nnetwork_id = 2\n"
      "passphrase = \"k\"\n");
  const std::vector<XdpSource> exempt = ShieldExemptSources(c);
  ASSERT_EQ(exempt.size(), 1u);
  EXPECT_TRUE(exempt[0].v6);
  EXPECT_EQ(exempt[0].port, 0);
  EXPECT_EQ(FormatXdpSource(exempt[0]), "2001:2::7");
}

// The smallest valid file: a passphrase (docs/config.md, "An empty file is refused").
constexpr std::string_view kMinimal = "[hbp]\npassphrase = \"p\"\n";

TEST(ConfigTest, AnEmptyFileIsRefusedForItsMissingPassphrase) {
  EXPECT_EQ(ErrorOf(""),
            "config.toml: hbp.passphrase: missing: set the passphrase clients log in with, or run "
            "an open hub (any password logs in) with hbp.allow_null_passphrase = true");
  // An open hub is a choice the file states.
  const HubConfig open = MustParse("[hbp]\nallow_null_passphrase = true\n");
  EXPECT_EQ(open.hbp.passphrase, "");
  EXPECT_TRUE(open.hbp.allow_null_passphrase);
}

TEST(ConfigTest, APassphraseAloneTakesEveryOtherDefault) {
  const HubConfig c = MustParse(kMinimal);
  EXPECT_EQ(c.hub.server_id, 0u);
  EXPECT_EQ(c.hub.mode, HubMode::kKernel);
  EXPECT_EQ(c.hub.shards, 2u);
  EXPECT_EQ(c.hub.control_plane, ControlPlaneMode::kHosted);
  EXPECT_EQ(c.hub.steering, Steering::kAuto);
  EXPECT_EQ(c.hub.status_interval_s, 5u);
  EXPECT_EQ(c.hub.stream_capacity, 16384u);
  EXPECT_EQ(c.hub.log_level, "info");
  EXPECT_EQ(c.hbp.listen, Ep(127, 0, 0, 1, 62031)) << "loopback unless an address is named";
  EXPECT_EQ(c.hbp.passphrase, "p");
  EXPECT_FALSE(c.hbp.allow_null_passphrase);
  EXPECT_EQ(c.hbp.max_clients, 10000u);
  EXPECT_EQ(c.hbp.ping_time_s, 10u);
  EXPECT_EQ(c.hbp.max_missed, 3u);
  EXPECT_EQ(c.hbp.group_hangtime_s, 5u);
  EXPECT_EQ(c.hbp.default_ua_timer_min, 10u);
  EXPECT_TRUE(c.hbp.single_mode);
  EXPECT_EQ(c.hbp.activate_on, route::ActivateOn::kStart);
  EXPECT_EQ(c.hbp.login_burst, 20u);
  EXPECT_EQ(c.hbp.login_window_s, 60u);
  EXPECT_EQ(c.hbp.login_block_s, 300u);
  EXPECT_EQ(c.hbp.stream_timeout_ms, 360u);
  EXPECT_EQ(c.hbp.stream_lost_s, 5u);
  EXPECT_EQ(c.hbp.stream_forget_s, 10u);
  EXPECT_EQ(c.hbp.max_stream_age_s, 180u);
  EXPECT_EQ(c.hbp.rate_limit_after_packets, 18u);
  EXPECT_EQ(c.hbp.rate_limit_pps, 25u);
  EXPECT_TRUE(c.hbp.statics.empty());
  EXPECT_EQ(c.acl.reg.ToString(), "PERMIT:ALL");
  EXPECT_EQ(c.acl.sub.ToString(), "DENY:1");
  EXPECT_EQ(c.acl.tg[0].ToString(), "PERMIT:ALL");
  EXPECT_EQ(c.acl.tg[1].ToString(), "PERMIT:ALL");
  EXPECT_TRUE(c.obp.empty());
  EXPECT_EQ(c.fbp.max_hops, 10u);
  EXPECT_EQ(c.fbp.max_age_s, 5u);
}

TEST(ConfigTest, EveryKeyIsRead) {
  const HubConfig c = MustParse(R"toml(
[hub]
server_id = 2345
mode = "kernel"
shards = 64
control_plane = "separate"
steering = "userspace"
status_interval_s = 7
stream_capacity = 1000
log_level = "debug"

[hbp]
listen = "0.0.0.0:40000"
passphrase = ""
allow_null_passphrase = true
max_clients = 5
ping_time_s = 11
max_missed = 4
group_hangtime_s = 6
default_ua_timer_min = 0.05
single_mode = false
activate_on = "end"
login_burst = 0
login_window_s = 61
login_block_s = 301
stream_timeout_ms = 500
stream_lost_s = 6
stream_forget_s = 12
max_stream_age_s = 181
rate_limit_after_packets = 19
rate_limit_pps = 26

[[hbp.static]]
client = 1
ts2 = [6, 9989, 10000, 16776415]

[[hbp.static]]
client = 4294967295
ts1 = []

[acl]
reg = "DENY:4294967295"
sub = "PERMIT:1-100"
tg_ts1 = "DENY:91"
tg_ts2 = ""

[[obp]]
name = "a.b_c-D"
listen = "10.0.0.1:62035"
target = "10.0.0.2:62035"
network_id = 4294967295
passphrase = "12345678901234567890"
version = 5
id_mode = "hblink3"
relax_checks = false
relay = false
use_acl = true
sub_acl = "DENY:7"
tgid_acl = "PERMIT:91"
keepalive_s = 3
dead_after_s = 4
bcve_interval_s = 120

[dpdk]
eal_args = []
address = "10.0.0.1"

[fbp]
max_hops = 255
max_age_s = 30
)toml");
  EXPECT_EQ(c.hub.server_id, 2345u);
  EXPECT_EQ(c.hub.shards, 64u);
  EXPECT_EQ(c.hub.control_plane, ControlPlaneMode::kSeparate);
  EXPECT_EQ(c.hub.steering, Steering::kUserspace);
  EXPECT_EQ(c.hub.status_interval_s, 7u);
  EXPECT_EQ(c.hub.stream_capacity, 1000u);
  EXPECT_EQ(c.hub.log_level, "debug");
  EXPECT_EQ(c.hbp.listen, Ep(0, 0, 0, 0, 40000));
  EXPECT_EQ(c.hbp.max_clients, 5u);
  EXPECT_EQ(c.hbp.ping_time_s, 11u);
  EXPECT_EQ(c.hbp.max_missed, 4u);
  EXPECT_EQ(c.hbp.group_hangtime_s, 6u);
  EXPECT_DOUBLE_EQ(c.hbp.default_ua_timer_min, 0.05);
  EXPECT_FALSE(c.hbp.single_mode);
  EXPECT_EQ(c.hbp.activate_on, route::ActivateOn::kEnd);
  EXPECT_EQ(c.hbp.login_burst, 0u);
  EXPECT_EQ(c.hbp.login_window_s, 61u);
  EXPECT_EQ(c.hbp.login_block_s, 301u);
  EXPECT_EQ(c.hbp.stream_timeout_ms, 500u);
  EXPECT_EQ(c.hbp.stream_lost_s, 6u);
  EXPECT_EQ(c.hbp.stream_forget_s, 12u);
  EXPECT_EQ(c.hbp.max_stream_age_s, 181u);
  EXPECT_EQ(c.hbp.rate_limit_after_packets, 19u);
  EXPECT_EQ(c.hbp.rate_limit_pps, 26u);
  ASSERT_EQ(c.hbp.statics.size(), 2u);
  EXPECT_EQ(c.hbp.statics[0].ts[1], (std::vector<uint32_t>{6, 9989, 10000, 16776415}));
  EXPECT_EQ(c.hbp.statics[1].client, 4294967295u);
  EXPECT_FALSE(c.acl.reg.Permits(4294967295u));
  EXPECT_TRUE(c.acl.sub.Permits(100));
  EXPECT_FALSE(c.acl.sub.Permits(101));
  EXPECT_FALSE(c.acl.tg[0].Permits(91));
  EXPECT_TRUE(c.acl.tg[1].Permits(91));
  ASSERT_EQ(c.obp.size(), 1u);
  const ObpPeer& p = c.obp[0];
  EXPECT_EQ(p.name, "a.b_c-D");
  EXPECT_EQ(p.network_id, 4294967295u);
  EXPECT_EQ(p.passphrase.size(), 20u);
  EXPECT_EQ(p.id_mode, route::PeerIdMode::kHblink3);
  EXPECT_FALSE(p.relax_checks);
  EXPECT_FALSE(p.relay);
  EXPECT_TRUE(p.use_acl);
  EXPECT_FALSE(p.sub_acl.Permits(7));
  EXPECT_FALSE(p.tgid_acl.Permits(92));
  EXPECT_EQ(p.keepalive_s, 3u);
  EXPECT_EQ(p.dead_after_s, 4u);
  EXPECT_EQ(p.bcve_interval_s, 120u);
  EXPECT_TRUE(c.dpdk.present);
  EXPECT_TRUE(c.dpdk.eal_args.empty());
  EXPECT_EQ(c.fbp.max_hops, 255u);
  EXPECT_EQ(c.fbp.max_age_s, 30u);
}

TEST(ConfigTest, FixedClientsAreRead) {
  const HubConfig c = MustParse(R"toml(
[hbp]
passphrase = "p"
max_clients = 2
[[hbp.fixed_client]]
id = 3120001
address = "198.18.1.1:40001"
slots = 2
options = "TS2=91;TS1=92"
callsign = "N0CALL"
[[hbp.fixed_client]]
id = 3120002
address = "198.18.1.2:40002"
)toml");
  ASSERT_EQ(c.hbp.fixed_clients.size(), 2u);
  const FixedClient& a = c.hbp.fixed_clients[0];
  EXPECT_EQ(a.id, 3120001u);
  EXPECT_EQ(a.addr, Ep(198, 18, 1, 1, 40001));
  EXPECT_EQ(a.slots, '2');
  EXPECT_EQ(a.options, "TS2=91;TS1=92");
  EXPECT_EQ(a.callsign, "N0CALL");
  const FixedClient& b = c.hbp.fixed_clients[1];
  EXPECT_EQ(b.id, 3120002u);
  EXPECT_EQ(b.addr, Ep(198, 18, 1, 2, 40002));
  EXPECT_EQ(b.slots, '3') << "both timeslots by default";
  EXPECT_EQ(b.options, "");
  EXPECT_EQ(b.callsign, "");
  EXPECT_TRUE(MustParse(kMinimal).hbp.fixed_clients.empty());
}

TEST(ConfigTest, InlineTablesAreTablesToo) {
  const HubConfig c = MustParse(R"toml(
hub = { server_id = 1 }
hbp = { passphrase = "p", static = [{ client = 5, ts1 = [91] }] }
obp = [
  { name = "x", listen = "127.0.0.1:1", target = "127.0.0.1:2", network_id = 2, passphrase = "p" },
]
)toml");
  EXPECT_EQ(c.hbp.statics.size(), 1u);
  EXPECT_EQ(c.obp.size(), 1u);
}

TEST(ConfigTest, RelayDefaultsByVersionAndCanBeOverridden) {
  const auto peer = [](std::string_view extra) {
    return std::string(
               "[hub]\nserver_id = 1\n[hbp]\npassphrase = \"p\"\n[[obp]]\nname = \"p\"\n"
               "listen = \"127.0.0.1:1\"\n"
               "target = \"127.0.0.1:2\"\nnetwork_id = 2\npassphrase = \"k\"\n") +
           std::string(extra);
  };
  EXPECT_TRUE(MustParse(peer("")).obp[0].relay);  // version 5 by default
  EXPECT_EQ(MustParse(peer("")).obp[0].version, 5);
  EXPECT_FALSE(MustParse(peer("version = 1\n")).obp[0].relay);
  EXPECT_TRUE(MustParse(peer("version = 1\nrelay = true\n")).obp[0].relay);
  EXPECT_FALSE(MustParse(peer("relay = false\nversion = 5\n")).obp[0].relay);
}

TEST(ConfigTest, SharedListenersAreGrouped) {
  const HubConfig c = MustParse(R"toml(
[hub]
server_id = 1
[hbp]
passphrase = "p"
[[obp]]
name = "a"
listen = "127.0.0.1:62035"
target = "10.0.0.1:62035"
network_id = 2
passphrase = "k"
[[obp]]
name = "b"
listen = "127.0.0.1:62040"
target = "10.0.0.2:62035"
network_id = 3
passphrase = "k"
[[obp]]
name = "c"
listen = "127.0.0.1:62035"
target = "10.0.0.3:62035"
network_id = 4
passphrase = "k"
)toml");
  ASSERT_EQ(c.obp.size(), 3u);
  EXPECT_EQ(c.obp_listeners,
            (std::vector<route::Endpoint>{Ep(127, 0, 0, 1, 62035), Ep(127, 0, 0, 1, 62040)}));
  EXPECT_EQ(c.obp[0].listener, 0u);
  EXPECT_EQ(c.obp[1].listener, 1u);
  EXPECT_EQ(c.obp[2].listener, 0u);
  EXPECT_TRUE(c.obp[0].shared_listen);
  EXPECT_FALSE(c.obp[1].shared_listen);
  EXPECT_TRUE(c.obp[2].shared_listen);
}

// IPv6 listeners and targets in kernel mode: "[addr]:port", printed back in RFC 5952 form; an
// IPv4-mapped address is IPv4; [::] is a wildcard that collides with every address on its port.
TEST(ConfigTest, Ipv6ListenersAndTargets) {
  const HubConfig c = MustParse(R"toml(
[hub]
server_id = 1
[hbp]
passphrase = "p"
listen = "[::]:62031"
[[obp]]
name = "a"
listen = "[2001:2::1]:62035"
target = "[2001:2:0:0::0a]:62035"
network_id = 2
passphrase = "k"
[[obp]]
name = "b"
listen = "[::ffff:198.18.0.1]:62036"
target = "198.18.0.2:62036"
network_id = 3
passphrase = "k"
)toml");
  EXPECT_TRUE(c.hbp.listen.v6);
  EXPECT_TRUE(c.hbp.listen.any_address());
  EXPECT_EQ(FormatEndpoint(c.hbp.listen), "[::]:62031");
  EXPECT_EQ(FormatEndpoint(c.obp[0].listen), "[2001:2::1]:62035");
  EXPECT_EQ(FormatEndpoint(c.obp[0].target), "[2001:2::a]:62035");
  EXPECT_EQ(FormatAddress(c.obp[0].target), "2001:2::a");
  EXPECT_EQ(c.obp[1].listen, Ep(198, 18, 0, 1, 62036)) << "v4-mapped is IPv4";
  EXPECT_EQ(ErrorOf("[hbp]\npassphrase = \"p\"\nlisten = \"[::]:62031\"\n[hub]\nserver_id = 1\n"
                    "[[obp]]\nname = \"a\"\nlisten = \"127.0.0.1:62031\"\n"
                    "target = \"198.18.0.9:62035\"\nnetwork_id = 2\npassphrase = \"k\"\n"),
            "config.toml: obp[0].listen = \"127.0.0.1:62031\": collides with hbp.listen = "
            "\"[::]:62031\"");
  EXPECT_EQ(ErrorOf("[hub]\nserver_id = 1\nmode = \"dpdk\"\n[dpdk]\naddress = \"198.18.0.1\"\n"
                    "[hbp]\npassphrase = \"p\"\n[[obp]]\nname = \"a\"\nlisten = \"0.0.0.0:62035\"\n"
                    "target = \"[2001:2::2]:62035\"\nnetwork_id = 2\npassphrase = \"k\"\n"),
            "config.toml: obp[0].target = \"[2001:2::2]:62035\": an IPv6 peer cannot be reached: "
            "dpdk mode serves IPv6 only with dpdk.address6 set");
  {
    // dpdk mode with an IPv6 address: IPv6 peers and fixed clients are served on it, on the
    // listeners' ports (whatever family the file's listen addresses have).
    const HubConfig d = MustParse(R"toml(
[hub]
server_id = 1
mode = "dpdk"
[dpdk]
address = "198.18.0.1"
address6 = "2001:2::1"
[hbp]
passphrase = "p"
[[hbp.fixed_client]]
id = 3120001
address = "[2001:2::5]:40001"
[[obp]]
name = "a"
listen = "0.0.0.0:62035"
target = "[2001:2::2]:62035"
network_id = 2
passphrase = "k"
)toml");
    EXPECT_TRUE(d.dpdk.has_address6);
    EXPECT_EQ(FormatIpv6(d.dpdk.address6), "2001:2::1");
    EXPECT_EQ(FormatEndpoint(d.obp[0].target), "[2001:2::2]:62035");
    EXPECT_EQ(d.obp[0].listen, Ep(198, 18, 0, 1, 62035));
    const std::string dpdk6 =
        "[hub]\nmode = \"dpdk\"\n[hbp]\npassphrase = \"p\"\n[dpdk]\naddress = \"198.18.0.1\"\n";
    for (const char* bad :
         {"::", "::1", "ff02::1", "fe80::1", "::ffff:198.18.0.1", "::198.18.0.1"}) {
      EXPECT_THAT(ErrorOf(dpdk6 + "address6 = \"" + bad + "\"\n"),
                  ::testing::HasSubstr("dpdk.address6 = \"" + std::string(bad) + "\": must be"))
          << bad;
    }
    EXPECT_EQ(ErrorOf(dpdk6 + "address6 = \"[2001:2::1]\"\n"),
              "config.toml: dpdk.address6 = \"[2001:2::1]\": must be an IPv6 address such as "
              "\"2001:db8::1\" (no brackets, no port)");
    EXPECT_EQ(ErrorOf(dpdk6 + "address6 = \"198.18.0.1\"\n"),
              "config.toml: dpdk.address6 = \"198.18.0.1\": must be an IPv6 address such as "
              "\"2001:db8::1\" (no brackets, no port)");
    // afxdp mode the same way: with address6 (the interface's, in the kernel) it serves IPv6.
    const std::string afxdp =
        "[hub]\nmode = \"afxdp\"\n[xdp]\ninterface = \"veth0\"\n[dpdk]\naddress = "
        "\"198.18.0.1\"\n[hbp]\npassphrase = \"p\"\n[[hbp.fixed_client]]\nid = 3120001\naddress = "
        "\"[2001:2::5]:40001\"\n";
    EXPECT_EQ(ErrorOf(afxdp),
              "config.toml: hbp.fixed_client[0].address = \"[2001:2::5]:40001\": an IPv6 client "
              "cannot be served: afxdp mode serves IPv6 only with dpdk.address6 set");
    std::string with6 = afxdp;
    with6.replace(with6.find("[hbp]"), 0, "address6 = \"2001:2::1\"\n");
    const HubConfig x = MustParse(with6);
    EXPECT_TRUE(x.dpdk.has_address6);
    EXPECT_TRUE(x.hbp.fixed_clients[0].addr.v6);
  }
  const std::string peer =
      "[hub]\nserver_id = 1\n[hbp]\npassphrase = \"p\"\n[[obp]]\nname = \"a\"\n"
      "network_id = 2\npassphrase = \"k\"\n";
  EXPECT_EQ(ErrorOf(peer + "listen = \"0.0.0.0:62035\"\ntarget = \"[2001:2::2]:62035\"\n"),
            "config.toml: obp[0].target = \"[2001:2::2]:62035\": an IPv6 peer needs a listen "
            "address of its family or [::], not \"0.0.0.0:62035\"");
  EXPECT_EQ(ErrorOf(peer + "listen = \"[2001:2::1]:62035\"\ntarget = \"198.18.0.2:62035\"\n"),
            "config.toml: obp[0].target = \"198.18.0.2:62035\": an IPv4 peer needs a listen "
            "address of its family or [::], not \"[2001:2::1]:62035\"");
  EXPECT_EQ(ErrorOf(peer + "listen = \"[2001:2::1]:62031\"\ntarget = \"[2001:2::2]:62035\"\n"),
            "config.toml: obp[0].listen = \"[2001:2::1]:62031\": collides with hbp.listen = "
            "\"127.0.0.1:62031\"")
      << "one port, one family";
  EXPECT_EQ(ErrorOf("[hbp]\npassphrase = \"p\"\n[[hbp.fixed_client]]\nid = 1\n"
                    "address = \"[2001:2::5]:40000\"\n"),
            "config.toml: hbp.fixed_client[0].address = \"[2001:2::5]:40000\": an IPv6 client "
            "needs hbp.listen of its family or [::], not \"127.0.0.1:62031\"");
  EXPECT_EQ(ErrorOf("[hbp]\npassphrase = \"p\"\nlisten = \"[fe80::1]:62031\"\n"),
            "config.toml: hbp.listen = \"[fe80::1]:62031\": a link-local IPv6 address (fe80::/10) "
            "needs an interface, which addresses here cannot name: use a global or unique-local "
            "address");
  const HubConfig fixed = MustParse(
      "[hbp]\npassphrase = \"p\"\nlisten = \"[::]:62031\"\n[[hbp.fixed_client]]\nid = 1\n"
      "address = \"[2001:2::5]:40000\"\n");
  ASSERT_EQ(fixed.hbp.fixed_clients.size(), 1u);
  EXPECT_EQ(FormatEndpoint(fixed.hbp.fixed_clients[0].addr), "[2001:2::5]:40000");
}

TEST(ConfigTest, AtMost256Peers) {
  const auto peers = [](int n) {
    std::string s = "[hub]\nserver_id = 1\n[hbp]\npassphrase = \"p\"\n";
    for (int i = 0; i < n; ++i) {
      s += "[[obp]]\nname = \"p" + std::to_string(i) + "\"\nlisten = \"127.0.0.1:62035\"\n" +
           "target = \"10.0.0.1:" + std::to_string(1000 + i) +
           "\"\nnetwork_id = 7\npassphrase = \"k\"\n";
    }
    return s;
  };
  EXPECT_EQ(MustParse(peers(256)).obp.size(), 256u);
  EXPECT_EQ(ErrorOf(peers(257)), "config.toml: obp: 257 peers; at most 256 are supported");
}

// --- Bad files: every message names the key, the value and the reason --------------------------

struct BadCase {
  const char* name;
  const char* toml;
  const char* error;  // the whole message
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class BadConfigTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadConfigTest, NamesKeyValueAndReason) {
  EXPECT_EQ(ErrorOf(GetParam().toml), GetParam().error) << GetParam().toml;
}

#define PEER(extra)                                                             \
  "[hub]\nserver_id = 1\n[[obp]]\nname = \"p\"\nlisten = \"127.0.0.1:62035\"\n" \
  "target = \"127.0.0.1:62036\"\nnetwork_id = 2\npassphrase = \"k\"\n" extra
#define PEER_WITHOUT(fields) "[hub]\nserver_id = 1\n[[obp]]\n" fields

const BadCase kBadCases[] = {
    // [hub]
    {"mode", "[hub]\nmode = \"vpp\"",
     "config.toml: hub.mode = \"vpp\": must be one of \"kernel\", \"dpdk\", \"afxdp\""},
    {"mode_type", "[hub]\nmode = 1",
     "config.toml: hub.mode = 1: expected a string, not an integer"},
    {"shards_zero", "[hub]\nshards = 0", "config.toml: hub.shards = 0: must be in 1..64"},
    {"shards_big", "[hub]\nshards = 65", "config.toml: hub.shards = 65: must be in 1..64"},
    {"shards_string", "[hub]\nshards = \"two\"",
     "config.toml: hub.shards = \"two\": expected an integer, not a string"},
    {"shards_float", "[hub]\nshards = 2.5",
     "config.toml: hub.shards = 2.5: expected an integer, not a float"},
    {"shards_bool", "[hub]\nshards = true",
     "config.toml: hub.shards = true: expected an integer, not a boolean"},
    {"shards_array", "[hub]\nshards = [1, \"a\"]",
     "config.toml: hub.shards = [1, \"a\"]: expected an integer, not an array"},
    {"server_id_negative", "[hub]\nserver_id = -1",
     "config.toml: hub.server_id = -1: must be in 0..4294967295"},
    {"server_id_big", "[hub]\nserver_id = 4294967296",
     "config.toml: hub.server_id = 4294967296: must be in 0..4294967295"},
    {"server_id_zero_with_peers",
     "[[obp]]\nname = \"p\"\nlisten = \"127.0.0.1:62035\"\ntarget = \"127.0.0.1:62036\"\n"
     "network_id = 2\npassphrase = \"k\"\n",
     "config.toml: hub.server_id = 0: required (non-zero) when [[obp]] peers are configured"},
    {"control_plane", "[hub]\ncontrol_plane = \"remote\"",
     "config.toml: hub.control_plane = \"remote\": must be one of \"hosted\", \"separate\""},
    {"steering", "[hub]\nsteering = \"xdp\"",
     "config.toml: hub.steering = \"xdp\": must be one of \"auto\", \"bpf\", \"userspace\""},
    {"steering_not_kernel",
     "[hub]\nmode = \"dpdk\"\nsteering = \"bpf\"\n[dpdk]\naddress = \"10.0.0.1\"",
     "config.toml: hub.steering = \"bpf\": only applies to hub.mode = \"kernel\""},
    {"status_interval", "[hub]\nstatus_interval_s = 0",
     "config.toml: hub.status_interval_s = 0: must be in 1..3600"},
    {"stream_capacity", "[hub]\nstream_capacity = 10",
     "config.toml: hub.stream_capacity = 10: must be in 64..4194304"},
    {"log_level", "[hub]\nlog_level = \"verbose\"",
     "config.toml: hub.log_level = \"verbose\": must be one of \"trace\", \"debug\", \"info\", "
     "\"warn\", \"error\", \"critical\", \"off\""},
    {"hub_not_table", "hub = 5", "config.toml: hub = 5: expected a table ([hub]), not an integer"},
    // [hbp]
    {"listen_no_port", "[hbp]\nlisten = \"127.0.0.1\"",
     "config.toml: hbp.listen = \"127.0.0.1\": must be \"a.b.c.d:port\" or "
     "\"[ipv6]:port\" (port 1..65535)"},
    {"listen_port_zero", "[hbp]\nlisten = \"127.0.0.1:0\"",
     "config.toml: hbp.listen = \"127.0.0.1:0\": must be \"a.b.c.d:port\" or "
     "\"[ipv6]:port\" (port 1..65535)"},
    {"listen_port_big", "[hbp]\nlisten = \"127.0.0.1:65536\"",
     "config.toml: hbp.listen = \"127.0.0.1:65536\": must be \"a.b.c.d:port\" or "
     "\"[ipv6]:port\" (port 1..65535)"},
    {"listen_octet", "[hbp]\nlisten = \"256.0.0.1:62031\"",
     "config.toml: hbp.listen = \"256.0.0.1:62031\": must be \"a.b.c.d:port\" or "
     "\"[ipv6]:port\" (port 1..65535)"},
    {"listen_hostname", "[hbp]\nlisten = \"localhost:62031\"",
     "config.toml: hbp.listen = \"localhost:62031\": must be \"a.b.c.d:port\" or "
     "\"[ipv6]:port\" (port 1..65535)"},
    {"listen_ipv6_unbracketed", "[hbp]\nlisten = \"::1:62031\"",
     "config.toml: hbp.listen = \"::1:62031\": must be \"a.b.c.d:port\" or \"[ipv6]:port\" "
     "(port 1..65535)"},
    {"listen_ipv6_zone", "[hbp]\nlisten = \"[fe80::1%eth0]:62031\"",
     "config.toml: hbp.listen = \"[fe80::1%eth0]:62031\": must be \"a.b.c.d:port\" or "
     "\"[ipv6]:port\" (port 1..65535)"},
    {"listen_ipv6_multicast", "[hbp]\nlisten = \"[ff02::1]:62031\"",
     "config.toml: hbp.listen = \"[ff02::1]:62031\": must be a local unicast address, 0.0.0.0 or "
     "[::]"},
    {"listen_three_octets", "[hbp]\nlisten = \"10.0.1:62031\"",
     "config.toml: hbp.listen = \"10.0.1:62031\": must be \"a.b.c.d:port\" or "
     "\"[ipv6]:port\" (port 1..65535)"},
    {"listen_multicast", "[hbp]\nlisten = \"224.0.0.1:62031\"",
     "config.toml: hbp.listen = \"224.0.0.1:62031\": must be a local unicast address, 0.0.0.0 or "
     "[::]"},
    {"listen_type", "[hbp]\nlisten = 62031",
     "config.toml: hbp.listen = 62031: expected a string, not an integer"},
    {"passphrase_type", "[hbp]\npassphrase = 5",
     "config.toml: hbp.passphrase: expected a string, not an integer"},
    {"null_passphrase", "[hbp]\npassphrase = \"\"\nallow_null_passphrase = false",
     "config.toml: hbp.passphrase = \"\": an empty passphrase is an open hub (any password logs "
     "in): set one, or allow that with hbp.allow_null_passphrase = true"},
    {"null_passphrase_default", "[hbp]\npassphrase = \"\"",
     "config.toml: hbp.passphrase = \"\": an empty passphrase is an open hub (any password logs "
     "in): set one, or allow that with hbp.allow_null_passphrase = true"},
    {"null_passphrase_absent", "[hbp]\nallow_null_passphrase = false",
     "config.toml: hbp.passphrase: missing: set the passphrase clients log in with, or run an "
     "open hub (any password logs in) with hbp.allow_null_passphrase = true"},
    {"allow_null_type", "[hbp]\nallow_null_passphrase = \"yes\"",
     "config.toml: hbp.allow_null_passphrase = \"yes\": expected a boolean (true or false), not a "
     "string"},
    {"max_clients", "[hbp]\nmax_clients = 0",
     "config.toml: hbp.max_clients = 0: must be in 1..1048576"},
    {"ping_time", "[hbp]\nping_time_s = 0", "config.toml: hbp.ping_time_s = 0: must be in 1..3600"},
    {"max_missed", "[hbp]\nmax_missed = 0", "config.toml: hbp.max_missed = 0: must be in 1..100"},
    {"hangtime", "[hbp]\ngroup_hangtime_s = 601",
     "config.toml: hbp.group_hangtime_s = 601: must be in 0..600"},
    {"dpdk_gateway_mac", "[dpdk]\ngateway_mac = \"01:00:5e:00:00:01\"",
     "config.toml: dpdk.gateway_mac = \"01:00:5e:00:00:01\": must be a unicast MAC address "
     "\"aa:bb:cc:dd:ee:ff\""},
    {"dpdk_tx_port", "[dpdk]\ntx_port = 40", "config.toml: dpdk.tx_port = 40: must be in 0..31"},
    // [xdp]
    {"xdp_interface_slash", "[xdp]\ninterface = \"eth0/1\"",
     "config.toml: xdp.interface = \"eth0/1\": must be a network interface name (1..15 bytes, "
     "no '/', ':' or spaces)"},
    {"xdp_interface_long", "[xdp]\ninterface = \"averyveryverylong\"",
     "config.toml: xdp.interface = \"averyveryverylong\": must be a network interface name "
     "(1..15 bytes, no '/', ':' or spaces)"},
    {"xdp_interface_dpdk",
     "[hub]\nmode = \"dpdk\"\n[dpdk]\naddress = \"10.0.0.1\"\n[xdp]\ninterface = \"eth0\"",
     "config.toml: xdp.interface = \"eth0\": the XDP shield runs in kernel and afxdp mode; in "
     "dpdk mode the port's driver owns the NIC (remove [xdp] interface)"},
    {"xdp_interface_afxdp_missing", "[hub]\nmode = \"afxdp\"\n[dpdk]\naddress = \"10.0.0.1\"",
     "config.toml: xdp.interface: required when hub.mode = \"afxdp\": the NIC whose queues the "
     "dp takes over (DPDK net_af_xdp with the shield as its XDP program)"},
    {"xdp_attach", "[xdp]\nattach = \"offload\"",
     "config.toml: xdp.attach = \"offload\": must be one of \"auto\", \"native\", \"generic\""},
    {"xdp_source_pps", "[xdp]\nsource_pps = 1000001",
     "config.toml: xdp.source_pps = 1000001: must be in 0..1000000"},
    {"xdp_source_burst", "[xdp]\nsource_burst = 0",
     "config.toml: xdp.source_burst = 0: must be in 1..1000000"},
    {"xdp_exempt_type", "[xdp]\nexempt = \"10.0.0.1\"",
     "config.toml: xdp.exempt = \"10.0.0.1\": expected an array of \"a.b.c.d\" or "
     "\"a.b.c.d:port\" strings, not a string"},
    {"xdp_exempt_element", "[xdp]\nexempt = [\"10.0.0.1\", \"10.0.0.256\"]",
     "config.toml: xdp.exempt[1] = \"10.0.0.256\": must be a unicast \"a.b.c.d\" (every port) "
     "or \"a.b.c.d:port\""},
    {"xdp_exempt_broadcast", "[xdp]\nexempt = [\"255.255.255.255\"]",
     "config.toml: xdp.exempt[0] = \"255.255.255.255\": must be a unicast \"a.b.c.d\" (every "
     "port) or \"a.b.c.d:port\""},
    // An unknown key's value is never repeated (it may be a misspelt secret).
    {"xdp_unknown", "[xdp]\nmode = \"native\"", "config.toml: xdp.mode: unknown key"},
    {"ua_timer_type", "[hbp]\ndefault_ua_timer_min = \"10\"",
     "config.toml: hbp.default_ua_timer_min = \"10\": expected a number, not a string"},
    {"ua_timer", "[hbp]\ndefault_ua_timer_min = -1",
     "config.toml: hbp.default_ua_timer_min = -1: must be in 0..35791394"},
    {"single_mode", "[hbp]\nsingle_mode = 1",
     "config.toml: hbp.single_mode = 1: expected a boolean (true or false), not an integer"},
    {"activate_on", "[hbp]\nactivate_on = \"middle\"",
     "config.toml: hbp.activate_on = \"middle\": must be one of \"start\", \"end\""},
    {"login_burst", "[hbp]\nlogin_burst = -1",
     "config.toml: hbp.login_burst = -1: must be in 0..100000"},
    {"login_window", "[hbp]\nlogin_window_s = 0",
     "config.toml: hbp.login_window_s = 0: must be in 1..86400"},
    {"login_block", "[hbp]\nlogin_block_s = 0",
     "config.toml: hbp.login_block_s = 0: must be in 1..86400"},
    {"stream_timeout", "[hbp]\nstream_timeout_ms = 10001",
     "config.toml: hbp.stream_timeout_ms = 10001: must be in 0..10000"},
    {"stream_lost", "[hbp]\nstream_lost_s = 0",
     "config.toml: hbp.stream_lost_s = 0: must be in 1..60"},
    {"stream_forget", "[hbp]\nstream_forget_s = 0",
     "config.toml: hbp.stream_forget_s = 0: must be in 1..3600"},
    {"max_stream_age", "[hbp]\nmax_stream_age_s = 0",
     "config.toml: hbp.max_stream_age_s = 0: must be in 1..86400"},
    {"rate_after", "[hbp]\nrate_limit_after_packets = -5",
     "config.toml: hbp.rate_limit_after_packets = -5: must be in 0..1000000"},
    {"rate_pps", "[hbp]\nrate_limit_pps = 0",
     "config.toml: hbp.rate_limit_pps = 0: must be in 1..1000000"},
    {"hbp_not_table", "hbp = \"x\"",
     "config.toml: hbp = \"x\": expected a table ([hbp]), not a string"},
    // [[hbp.static]]
    {"static_no_client", "[[hbp.static]]\nts1 = [91]",
     "config.toml: hbp.static[0].client: required key is missing"},
    {"static_client_zero", "[[hbp.static]]\nclient = 0",
     "config.toml: hbp.static[0].client = 0: must be in 1..4294967295"},
    {"static_tg9", "[[hbp.static]]\nclient = 1\nts1 = [9]",
     "config.toml: hbp.static[0].ts1[0] = 9: not allowed as a static TG (0-5, 9, 4000, 5000 and "
     "9990-9999 are reserved)"},
    {"static_tg0", "[[hbp.static]]\nclient = 1\nts2 = [0]",
     "config.toml: hbp.static[0].ts2[0] = 0: not allowed as a static TG (0-5, 9, 4000, 5000 and "
     "9990-9999 are reserved)"},
    {"static_tg5", "[[hbp.static]]\nclient = 1\nts2 = [5]",
     "config.toml: hbp.static[0].ts2[0] = 5: not allowed as a static TG (0-5, 9, 4000, 5000 and "
     "9990-9999 are reserved)"},
    {"static_tg_negative", "[[hbp.static]]\nclient = 1\nts2 = [-91]",
     "config.toml: hbp.static[0].ts2[0] = -91: not allowed as a static TG (0-5, 9, 4000, 5000 "
     "and 9990-9999 are reserved)"},
    {"static_tg4000", "[[hbp.static]]\nclient = 1\nts1 = [91, 4000]",
     "config.toml: hbp.static[0].ts1[1] = 4000: not allowed as a static TG (0-5, 9, 4000, 5000 "
     "and 9990-9999 are reserved)"},
    {"static_tg5000", "[[hbp.static]]\nclient = 1\nts1 = [5000]",
     "config.toml: hbp.static[0].ts1[0] = 5000: not allowed as a static TG (0-5, 9, 4000, 5000 "
     "and 9990-9999 are reserved)"},
    {"static_tg9990", "[[hbp.static]]\nclient = 1\nts2 = [91, 9990]",
     "config.toml: hbp.static[0].ts2[1] = 9990: not allowed as a static TG (0-5, 9, 4000, 5000 "
     "and 9990-9999 are reserved)"},
    {"static_tg9999", "[[hbp.static]]\nclient = 1\nts2 = [9999]",
     "config.toml: hbp.static[0].ts2[0] = 9999: not allowed as a static TG (0-5, 9, 4000, 5000 "
     "and 9990-9999 are reserved)"},
    {"static_tg_big", "[[hbp.static]]\nclient = 1\nts1 = [16776416]",
     "config.toml: hbp.static[0].ts1[0] = 16776416: must be in 1..16776415"},
    {"static_tg_allcall", "[[hbp.static]]\nclient = 1\nts1 = [16777215]",
     "config.toml: hbp.static[0].ts1[0] = 16777215: must be in 1..16776415"},
    {"static_tg_string", "[[hbp.static]]\nclient = 1\nts1 = [\"91\"]",
     "config.toml: hbp.static[0].ts1[0] = \"91\": expected an integer (a talkgroup), not a "
     "string"},
    {"static_tg_not_array", "[[hbp.static]]\nclient = 1\nts1 = 91",
     "config.toml: hbp.static[0].ts1 = 91: expected an array of talkgroup numbers, not an "
     "integer"},
    {"static_tg_twice", "[[hbp.static]]\nclient = 1\nts1 = [91, 92, 91]",
     "config.toml: hbp.static[0].ts1[2] = 91: listed twice"},
    {"static_client_twice",
     "[[hbp.static]]\nclient = 3120001\nts1 = [91]\n[[hbp.static]]\nclient = 3120001\nts2 = [92]",
     "config.toml: hbp.static[1].client = 3120001: already has static TGs in hbp.static[0]"},
    {"static_not_array", "[hbp.static]\nclient = 1",
     "config.toml: hbp.static: expected an array of tables ([[hbp.static]]), not a table"},
    {"static_elem_not_table", "[hbp]\nstatic = [1]",
     "config.toml: hbp.static[0] = 1: expected a table ([[hbp.static]]), not an integer"},
    // [acl]
    {"acl_reg_zero", "[acl]\nreg = \"PERMIT:0\"",
     "config.toml: acl.reg = \"PERMIT:0\": 0 is outside 1..4294967295"},
    {"acl_sub_zero", "[acl]\nsub = \"DENY:0\"",
     "config.toml: acl.sub = \"DENY:0\": 0 is outside 1..16776415"},
    {"acl_action", "[acl]\ntg_ts1 = \"ALLOW:ALL\"",
     "config.toml: acl.tg_ts1 = \"ALLOW:ALL\": action \"ALLOW\" is neither PERMIT nor DENY"},
    {"acl_tg_big", "[acl]\ntg_ts2 = \"PERMIT:16776416\"",
     "config.toml: acl.tg_ts2 = \"PERMIT:16776416\": 16776416 is outside 1..16776415"},
    {"acl_no_colon", "[acl]\nsub = \"DENY\"",
     "config.toml: acl.sub = \"DENY\": expected PERMIT:list or DENY:list"},
    {"acl_backwards", "[acl]\nsub = \"DENY:10-5\"",
     "config.toml: acl.sub = \"DENY:10-5\": range 10-5 is backwards"},
    {"acl_junk", "[acl]\nsub = \" DENY:x \"",
     "config.toml: acl.sub = \" DENY:x \": \"x\" is not an ID, a range lo-hi or ALL"},
    {"acl_type", "[acl]\nreg = 1", "config.toml: acl.reg = 1: expected a string, not an integer"},
    // [[obp]]
    {"obp_version_3",
     PEER("[[obp]]\nname = \"q\"\nlisten = \"127.0.0.1:62035\"\ntarget = \"127.0.0.1:62037\"\n"
          "network_id = 3\npassphrase = \"k\"\nversion = 3\n"),
     "config.toml: obp[1].version = 3: must be 1 (classic OBP) or 5 (FBP)"},
    {"obp_version_4", PEER("version = 4"),
     "config.toml: obp[0].version = 4: must be 1 (classic OBP) or 5 (FBP)"},
    {"obp_version_type", PEER("version = \"5\""),
     "config.toml: obp[0].version = \"5\": expected an integer, not a string"},
    {"obp_no_name",
     PEER_WITHOUT("listen = \"127.0.0.1:62035\"\ntarget = \"127.0.0.1:62036\"\nnetwork_id = 2\n"
                  "passphrase = \"k\"\n"),
     "config.toml: obp[0].name: required key is missing"},
    {"obp_no_listen",
     PEER_WITHOUT("name = \"p\"\ntarget = \"127.0.0.1:62036\"\nnetwork_id = 2\n"
                  "passphrase = \"k\"\n"),
     "config.toml: obp[0].listen: required key is missing"},
    {"obp_no_target",
     PEER_WITHOUT("name = \"p\"\nlisten = \"127.0.0.1:62035\"\nnetwork_id = 2\n"
                  "passphrase = \"k\"\n"),
     "config.toml: obp[0].target: required key is missing"},
    {"obp_no_network_id",
     PEER_WITHOUT("name = \"p\"\nlisten = \"127.0.0.1:62035\"\ntarget = \"127.0.0.1:62036\"\n"
                  "passphrase = \"k\"\n"),
     "config.toml: obp[0].network_id: required key is missing"},
    {"obp_no_passphrase",
     PEER_WITHOUT("name = \"p\"\nlisten = \"127.0.0.1:62035\"\ntarget = \"127.0.0.1:62036\"\n"
                  "network_id = 2\n"),
     "config.toml: obp[0].passphrase: required key is missing"},
    {"obp_name_chars",
     PEER_WITHOUT("name = \"peer a\"\nlisten = \"127.0.0.1:62035\"\ntarget = "
                  "\"127.0.0.1:62036\"\nnetwork_id = 2\npassphrase = \"k\"\n"),
     "config.toml: obp[0].name = \"peer a\": must be 1..64 characters of A-Z a-z 0-9 . _ -"},
    {"obp_name_empty",
     PEER_WITHOUT("name = \"\"\nlisten = \"127.0.0.1:62035\"\ntarget = "
                  "\"127.0.0.1:62036\"\nnetwork_id = 2\npassphrase = \"k\"\n"),
     "config.toml: obp[0].name = \"\": must be 1..64 characters of A-Z a-z 0-9 . _ -"},
    {"obp_name_duplicate",
     PEER("[[obp]]\nname = \"p\"\nlisten = \"127.0.0.1:62035\"\ntarget = \"127.0.0.1:62037\"\n"
          "network_id = 3\npassphrase = \"k\"\n"),
     "config.toml: obp[1].name = \"p\": already used by obp[0]"},
    {"obp_passphrase_empty",
     PEER_WITHOUT("name = \"p\"\nlisten = \"127.0.0.1:62035\"\ntarget = \"127.0.0.1:62036\"\n"
                  "network_id = 2\npassphrase = \"\"\n"),
     "config.toml: obp[0].passphrase: must be 1..20 bytes (the OpenBridge key is the "
     "passphrase NUL-padded to 20 bytes; longer ones would be cut)"},
    {"obp_passphrase_long",
     PEER_WITHOUT("name = \"p\"\nlisten = \"127.0.0.1:62035\"\ntarget = \"127.0.0.1:62036\"\n"
                  "network_id = 2\npassphrase = \"123456789012345678901\"\n"),
     "config.toml: obp[0].passphrase: must be 1..20 bytes (the "
     "OpenBridge key is the passphrase NUL-padded to 20 bytes; longer ones would be cut)"},
    {"obp_network_id_zero",
     PEER_WITHOUT("name = \"p\"\nlisten = \"127.0.0.1:62035\"\ntarget = \"127.0.0.1:62036\"\n"
                  "network_id = 0\npassphrase = \"k\"\n"),
     "config.toml: obp[0].network_id = 0: must be in 1..4294967295"},
    {"obp_target_any",
     PEER_WITHOUT("name = \"p\"\nlisten = \"127.0.0.1:62035\"\ntarget = \"0.0.0.0:62036\"\n"
                  "network_id = 2\npassphrase = \"k\"\n"),
     "config.toml: obp[0].target = \"0.0.0.0:62036\": must be a unicast address (not 0.0.0.0, "
     "[::], broadcast or multicast)"},
    {"obp_target_broadcast",
     PEER_WITHOUT("name = \"p\"\nlisten = \"127.0.0.1:62035\"\ntarget = "
                  "\"255.255.255.255:62036\"\nnetwork_id = 2\npassphrase = \"k\"\n"),
     "config.toml: obp[0].target = \"255.255.255.255:62036\": must be a unicast address (not "
     "0.0.0.0, [::], broadcast or multicast)"},
    {"obp_target_format",
     PEER_WITHOUT("name = \"p\"\nlisten = \"127.0.0.1:62035\"\ntarget = \"127.0.0.1\"\n"
                  "network_id = 2\npassphrase = \"k\"\n"),
     "config.toml: obp[0].target = \"127.0.0.1\": must be \"a.b.c.d:port\" or "
     "\"[ipv6]:port\" (port 1..65535)"},
    {"obp_listen_is_hbp",
     PEER_WITHOUT("name = \"p\"\nlisten = \"127.0.0.1:62031\"\ntarget = \"127.0.0.1:62036\"\n"
                  "network_id = 2\npassphrase = \"k\"\n[hbp]\nlisten = \"127.0.0.1:62031\"\n"),
     "config.toml: obp[0].listen = \"127.0.0.1:62031\": collides with hbp.listen = "
     "\"127.0.0.1:62031\""},
    {"obp_listen_overlaps_hbp",
     PEER_WITHOUT("name = \"p\"\nlisten = \"0.0.0.0:62031\"\ntarget = \"127.0.0.1:62036\"\n"
                  "network_id = 2\npassphrase = \"k\"\n[hbp]\nlisten = \"127.0.0.1:62031\"\n"),
     "config.toml: obp[0].listen = \"0.0.0.0:62031\": collides with hbp.listen = "
     "\"127.0.0.1:62031\""},
    {"obp_listen_overlaps_obp",
     PEER("[[obp]]\nname = \"q\"\nlisten = \"0.0.0.0:62035\"\ntarget = \"127.0.0.1:62037\"\n"
          "network_id = 3\npassphrase = \"k\"\n"),
     "config.toml: obp[1].listen = \"0.0.0.0:62035\": collides with another [[obp]] listen "
     "address \"127.0.0.1:62035\" (same port: one of them 0.0.0.0 or [::], or one of each family)"},
    {"obp_shared_same_target",
     PEER("[[obp]]\nname = \"q\"\nlisten = \"127.0.0.1:62035\"\ntarget = \"127.0.0.1:62036\"\n"
          "network_id = 3\npassphrase = \"k\"\n"),
     "config.toml: obp[1].target = \"127.0.0.1:62036\": peers sharing a listen address are told "
     "apart by their target; obp[0] has the same listen and target"},
    {"obp_id_mode", PEER("id_mode = \"brandmeister\""),
     "config.toml: obp[0].id_mode = \"brandmeister\": must be one of \"freedmr\", \"hblink3\""},
    {"obp_relax_type", PEER("relax_checks = \"no\""),
     "config.toml: obp[0].relax_checks = \"no\": expected a boolean (true or false), not a "
     "string"},
    {"obp_relay_type", PEER("relay = 0"),
     "config.toml: obp[0].relay = 0: expected a boolean (true or false), not an integer"},
    {"obp_use_acl_type", PEER("use_acl = \"true\""),
     "config.toml: obp[0].use_acl = \"true\": expected a boolean (true or false), not a string"},
    {"obp_sub_acl", PEER("sub_acl = \"DENY:0\""),
     "config.toml: obp[0].sub_acl = \"DENY:0\": 0 is outside 1..16776415"},
    {"obp_tgid_acl", PEER("tgid_acl = \"PERMIT:x\""),
     "config.toml: obp[0].tgid_acl = \"PERMIT:x\": \"x\" is not an ID, a range lo-hi or ALL"},
    {"obp_keepalive", PEER("keepalive_s = 0"),
     "config.toml: obp[0].keepalive_s = 0: must be in 1..3600"},
    {"obp_dead_after", PEER("dead_after_s = 10"),
     "config.toml: obp[0].dead_after_s = 10: must be greater than obp[0].keepalive_s (10)"},
    {"obp_keepalive_past_default_dead_after", PEER("version = 5\nkeepalive_s = 120"),
     "config.toml: obp[0].keepalive_s = 120: must be less than obp[0].dead_after_s (60 by "
     "default): set a greater dead_after_s with it"},
    {"obp_keepalive_at_default_dead_after", PEER("version = 5\nkeepalive_s = 60"),
     "config.toml: obp[0].keepalive_s = 60: must be less than obp[0].dead_after_s (60 by "
     "default): set a greater dead_after_s with it"},
    {"obp_bcve", PEER("bcve_interval_s = 0"),
     "config.toml: obp[0].bcve_interval_s = 0: must be in 1..86400"},
    {"obp_not_array", "[obp]\nname = \"p\"",
     "config.toml: obp: expected an array of tables ([[obp]]), not a table"},
    {"obp_elem_not_table", "obp = [\"p\"]",
     "config.toml: obp[0] = \"p\": expected a table ([[obp]]), not a string"},
    // [dpdk]
    {"dpdk_missing", "[hub]\nmode = \"dpdk\"",
     "config.toml: dpdk: section required when hub.mode = \"dpdk\" ([dpdk] eal_args and "
     "address)"},
    {"afxdp_missing", "[hub]\nmode = \"afxdp\"",
     "config.toml: dpdk: section required when hub.mode = \"afxdp\" ([dpdk] eal_args and "
     "address)"},
    {"dpdk_no_address", "[hub]\nmode = \"afxdp\"\n[dpdk]\neal_args = [\"--no-pci\"]",
     "config.toml: dpdk.address: required key is missing"},
    {"dpdk_address_port", "[dpdk]\naddress = \"198.18.0.1:5\"",
     "config.toml: dpdk.address = \"198.18.0.1:5\": must be an IPv4 address \"a.b.c.d\""},
    {"dpdk_address_any", "[hub]\nmode = \"dpdk\"\n[dpdk]\naddress = \"0.0.0.0\"",
     "config.toml: dpdk.address = \"0.0.0.0\": must be a unicast address"},
    {"dpdk_eal_type", "[dpdk]\neal_args = \"--no-pci\"",
     "config.toml: dpdk.eal_args = \"--no-pci\": expected an array of strings, not a string"},
    {"dpdk_eal_elem", "[dpdk]\neal_args = [\"--no-pci\", 5]",
     "config.toml: dpdk.eal_args[1] = 5: expected a string, not an integer"},
    // [fbp]
    {"fbp_hops_zero", "[fbp]\nmax_hops = 0", "config.toml: fbp.max_hops = 0: must be in 1..255"},
    {"fbp_hops_big", "[fbp]\nmax_hops = 256", "config.toml: fbp.max_hops = 256: must be in 1..255"},
    {"fbp_age", "[fbp]\nmax_age_s = 0", "config.toml: fbp.max_age_s = 0: must be in 1..3600"},
    // Unknown keys, at every level.
    {"unknown_top_key", "foo = 1", "config.toml: foo: unknown key"},
    {"unknown_top_table", "[mqtt]\nhost = \"x\"", "config.toml: mqtt: unknown key"},
    {"unknown_top_array", "[[bridges]]\ntg = 1", "config.toml: bridges: unknown key"},
    {"unknown_quoted_key", "\"a b\" = 1", "config.toml: \"a b\": unknown key"},
    {"unknown_hub", "[hub]\nshard = 4", "config.toml: hub.shard: unknown key"},
    {"unknown_hub_sub", "[hub.extra]\nx = 1", "config.toml: hub.extra: unknown key"},
    {"unknown_hbp", "[hbp]\npasswd = \"x\"", "config.toml: hbp.passwd: unknown key"},
    {"unknown_static", "[[hbp.static]]\nclient = 1\nts3 = [91]",
     "config.toml: hbp.static[0].ts3: unknown key"},
    {"unknown_static_second", "[[hbp.static]]\nclient = 1\n[[hbp.static]]\nclient = 2\nTS1 = [91]",
     "config.toml: hbp.static[1].TS1: unknown key"},
    {"unknown_acl", "[acl]\ntgid = \"PERMIT:ALL\"", "config.toml: acl.tgid: unknown key"},
    {"unknown_obp", PEER("port = 62035"), "config.toml: obp[0].port: unknown key"},
    {"unknown_dpdk", "[dpdk]\niface = \"eth0\"", "config.toml: dpdk.iface: unknown key"},
    {"unknown_fbp", "[fbp]\nhops = 3", "config.toml: fbp.hops: unknown key"},
    {"case_matters", "[HUB]\nshards = 2", "config.toml: HUB: unknown key"},
    // [[hbp.fixed_client]]
    {"fixed_no_id", "[[hbp.fixed_client]]\naddress = \"198.18.1.1:40000\"",
     "config.toml: hbp.fixed_client[0].id: required key is missing"},
    {"fixed_no_address", "[[hbp.fixed_client]]\nid = 3120001",
     "config.toml: hbp.fixed_client[0].address: required key is missing"},
    {"fixed_id_zero", "[[hbp.fixed_client]]\nid = 0\naddress = \"198.18.1.1:40000\"",
     "config.toml: hbp.fixed_client[0].id = 0: must be in 1..4294967294"},
    {"fixed_id_probe", "[[hbp.fixed_client]]\nid = 4294967295\naddress = \"198.18.1.1:40000\"",
     "config.toml: hbp.fixed_client[0].id = 4294967295: must be in 1..4294967294"},
    {"fixed_address_wildcard", "[[hbp.fixed_client]]\nid = 1\naddress = \"0.0.0.0:40000\"",
     "config.toml: hbp.fixed_client[0].address = \"0.0.0.0:40000\": must be a unicast address "
     "(not 0.0.0.0, [::], broadcast or multicast)"},
    {"fixed_address_no_port", "[[hbp.fixed_client]]\nid = 1\naddress = \"198.18.1.1\"",
     "config.toml: hbp.fixed_client[0].address = \"198.18.1.1\": must be \"a.b.c.d:port\" or "
     "\"[ipv6]:port\" (port 1..65535)"},
    {"fixed_slots", "[[hbp.fixed_client]]\nid = 1\naddress = \"198.18.1.1:1\"\nslots = 4",
     "config.toml: hbp.fixed_client[0].slots = 4: must be in 1..3"},
    {"fixed_slots_string",
     "[[hbp.fixed_client]]\nid = 1\naddress = \"198.18.1.1:1\"\nslots = \"3\"",
     "config.toml: hbp.fixed_client[0].slots = \"3\": expected an integer, not a string"},
    {"fixed_options_type",
     "[[hbp.fixed_client]]\nid = 1\naddress = \"198.18.1.1:1\"\noptions = [\"TS2=91\"]",
     "config.toml: hbp.fixed_client[0].options: expected a string, not an array"},
    {"fixed_callsign_long",
     "[[hbp.fixed_client]]\nid = 1\naddress = \"198.18.1.1:1\"\ncallsign = \"ABCDEFGHI\"",
     "config.toml: hbp.fixed_client[0].callsign = \"ABCDEFGHI\": must be at most 8 printable "
     "ASCII characters"},
    {"fixed_unknown_key",
     "[[hbp.fixed_client]]\nid = 1\naddress = \"198.18.1.1:1\"\npassphrase = \"x\"",
     "config.toml: hbp.fixed_client[0].passphrase: unknown key"},
    {"fixed_duplicate_id",
     "[[hbp.fixed_client]]\nid = 7\naddress = \"198.18.1.1:1\"\n"
     "[[hbp.fixed_client]]\nid = 7\naddress = \"198.18.1.2:1\"",
     "config.toml: hbp.fixed_client[1].id = 7: already used by hbp.fixed_client[0]"},
    {"fixed_duplicate_address",
     "[[hbp.fixed_client]]\nid = 7\naddress = \"198.18.1.1:1\"\n"
     "[[hbp.fixed_client]]\nid = 8\naddress = \"198.18.1.1:1\"",
     "config.toml: hbp.fixed_client[1].address = \"198.18.1.1:1\": already used by "
     "hbp.fixed_client[0]"},
    {"fixed_more_than_max_clients",
     "[hbp]\nmax_clients = 1\n[[hbp.fixed_client]]\nid = 7\naddress = \"198.18.1.1:1\"\n"
     "[[hbp.fixed_client]]\nid = 8\naddress = \"198.18.1.2:1\"",
     "config.toml: hbp.fixed_client: 2 fixed clients; more than hbp.max_clients = 1"},
    {"fixed_not_array", "[hbp]\nfixed_client = 1",
     "config.toml: hbp.fixed_client = 1: expected an array of tables ([[hbp.fixed_client]]), not "
     "an integer"},
};

INSTANTIATE_TEST_SUITE_P(All, BadConfigTest, ::testing::ValuesIn(kBadCases),
                         [](const ::testing::TestParamInfo<BadCase>& info) {
                           return std::string(info.param.name);
                         });

TEST(ConfigTest, SyntaxErrorsNameFileLineAndColumn) {
  EXPECT_THAT(ErrorOf("[hub]\nshards = = 2\n"), StartsWith("config.toml:2:"));
  EXPECT_THAT(ErrorOf("[hub]\n[hub]\n"), StartsWith("config.toml:2:"));
}

// --- Conversions to the routing core ------------------------------------------------------------

TEST(ConfigTest, MakeHubPolicyCarriesTheValues) {
  const HubConfig c = MustParse(R"toml(
[hub]
server_id = 3109999
[hbp]
passphrase = "p"
group_hangtime_s = 7
stream_timeout_ms = 400
stream_lost_s = 4
stream_forget_s = 20
max_stream_age_s = 200
rate_limit_after_packets = 30
rate_limit_pps = 40
activate_on = "end"
[acl]
sub = "DENY:1,7"
tg_ts1 = "DENY:91"
tg_ts2 = "PERMIT:3100"
[fbp]
max_hops = 8
max_age_s = 3
)toml");
  const route::HubPolicy p = MakeHubPolicy(c);
  EXPECT_EQ(p.server_id, 3109999u);
  EXPECT_EQ(p.lease.group_hangtime, 7 * route::kSec);
  EXPECT_EQ(p.lease.stream_timeout, 400 * route::kMs);
  EXPECT_EQ(p.stream_lost_after, 4 * route::kSec);
  EXPECT_EQ(p.stream_forget_after, 20 * route::kSec);
  EXPECT_EQ(p.max_stream_age, 200 * route::kSec);
  EXPECT_EQ(p.rate_limit_after_packets, 30u);
  EXPECT_EQ(p.rate_limit_pps, 40u);
  EXPECT_EQ(p.activate_on, route::ActivateOn::kEnd);
  EXPECT_EQ(p.fbp_max_hops, 8);
  EXPECT_EQ(p.fbp_max_age, 3 * route::kSec);
  EXPECT_FALSE(p.sub_acl.Permits(7));
  EXPECT_TRUE(p.sub_acl.Permits(8));
  EXPECT_FALSE(p.tg_acl[route::kTs1].Permits(91));
  EXPECT_TRUE(p.tg_acl[route::kTs2].Permits(3100));
  EXPECT_FALSE(p.tg_acl[route::kTs2].Permits(91));
}

TEST(ConfigTest, DefaultPolicyMatchesTheRoutingCoresDefaults) {
  const route::HubPolicy p = MakeHubPolicy(MustParse(kMinimal));
  const route::HubPolicy d;
  EXPECT_EQ(p.lease.group_hangtime, d.lease.group_hangtime);
  EXPECT_EQ(p.lease.stream_timeout, d.lease.stream_timeout);
  EXPECT_EQ(p.stream_lost_after, d.stream_lost_after);
  EXPECT_EQ(p.stream_forget_after, d.stream_forget_after);
  EXPECT_EQ(p.max_stream_age, d.max_stream_age);
  EXPECT_EQ(p.rate_limit_after_packets, d.rate_limit_after_packets);
  EXPECT_EQ(p.rate_limit_pps, d.rate_limit_pps);
  EXPECT_EQ(p.activate_on, d.activate_on);
  EXPECT_EQ(p.fbp_max_hops, d.fbp_max_hops);
  EXPECT_EQ(p.fbp_max_age, d.fbp_max_age);
  EXPECT_EQ(p.sub_acl.ToString(), d.sub_acl.ToString());
}

TEST(ConfigTest, MakePeerSpecsCarriesTheValues) {
  const HubConfig c = MustParse(R"toml(
[hub]
server_id = 1
[hbp]
passphrase = "p"
[[obp]]
name = "bm"
listen = "127.0.0.1:62035"
target = "192.0.2.7:62040"
network_id = 2341
passphrase = "secret"
version = 1
id_mode = "hblink3"
relax_checks = false
use_acl = true
sub_acl = "DENY:5"
tgid_acl = "PERMIT:91,3100"
[[obp]]
name = "fdmr"
listen = "127.0.0.1:62036"
target = "192.0.2.8:62036"
network_id = 3109
passphrase = "other"
)toml");
  const std::vector<route::PeerSpec> s = MakePeerSpecs(c);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].name, "bm");
  EXPECT_EQ(s[0].network_id, 2341u);
  EXPECT_EQ(s[0].target, Ep(192, 0, 2, 7, 62040));
  EXPECT_EQ(s[0].version, 1);
  EXPECT_EQ(s[0].id_mode, route::PeerIdMode::kHblink3);
  EXPECT_FALSE(s[0].relax_checks);
  EXPECT_FALSE(s[0].relay);
  EXPECT_TRUE(s[0].alive);
  EXPECT_EQ(s[0].passphrase, "secret");
  EXPECT_TRUE(s[0].use_acl);
  EXPECT_FALSE(s[0].sub_acl.Permits(5));
  EXPECT_TRUE(s[0].tg_acl.Permits(3100));
  EXPECT_FALSE(s[0].tg_acl.Permits(92));
  EXPECT_EQ(s[1].name, "fdmr");
  EXPECT_EQ(s[1].version, 5);
  EXPECT_TRUE(s[1].relay);
  EXPECT_EQ(s[1].id_mode, route::PeerIdMode::kFreeDmr);
  EXPECT_TRUE(s[1].relax_checks);
  EXPECT_FALSE(s[1].use_acl);
  EXPECT_FALSE(s[1].sub_acl.Permits(1));  // FreeDMR default DENY:1
  EXPECT_TRUE(s[1].tg_acl.Permits(91));
}

// --- Files and documentation --------------------------------------------------------------------

std::string TempPath(const char* name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/dmrswitch_config_test_" +
         std::to_string(::getpid()) + "_" + name;
}

TEST(ConfigTest, LoadConfigFileNamesTheFile) {
  const std::string path = TempPath("hub.toml");
  {
    std::ofstream out(path);
    out << DefaultConfigToml();
  }
  absl::StatusOr<HubConfig> c = LoadConfigFile(path);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->source, path);
  EXPECT_EQ(c->obp.size(), 1u);
  {
    std::ofstream out(path);
    out << "[[obp]]\nversion = 3\n";
  }
  c = LoadConfigFile(path);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), StartsWith(path + ": obp[0]."));
  std::remove(path.c_str());

  c = LoadConfigFile(path);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(c.status().message()), StartsWith(path + ": cannot open"));
}

// docs/config.md (meson passes DMRSWITCH_SOURCE_ROOT; without it the test fails, never skips).
std::string ReadDoc() {
  const char* root = std::getenv("DMRSWITCH_SOURCE_ROOT");
  EXPECT_NE(root, nullptr) << "DMRSWITCH_SOURCE_ROOT is not set (run the test through meson)";
  if (root == nullptr) return "";
  std::ifstream in(std::string(root) + "/docs/config.md");
  EXPECT_TRUE(in.good()) << root << "/docs/config.md is missing";
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ConfigTest, DocsShowTheDefaultConfigVerbatim) {
  const std::string doc = ReadDoc();
  EXPECT_THAT(doc, HasSubstr("```toml\n" + std::string(DefaultConfigToml()) + "```\n"));
}

// ---------------------------------------------------------------------------------------------
// Secrets never appear in an error (issue 14): an error is printed, logged and answered to
// dmrswitch-ctl.

TEST(ConfigSecretsTest, NoErrorRepeatsASecret) {
  const std::string hbp = "[hbp]\npassphrase = \"p\"\n";
  const std::string peer = "[hub]\nserver_id = 1\n" + hbp +
                           "[[obp]]\nname = \"p\"\nlisten = \"127.0.0.1:62035\"\n"
                           "target = \"127.0.0.1:62036\"\nnetwork_id = 2\n";
  const std::string fixed = hbp + "[[hbp.fixed_client]]\nid = 1\naddress = \"198.18.1.1:1\"\n";
  struct Case {
    const char* what;
    std::string toml;
    std::string secret;
    std::string error;  // what the error must still say
  } cases[] = {
      {"passphrase of the wrong type", "[hbp]\npassphrase = 735171\n", "735171",
       "config.toml: hbp.passphrase: expected a string, not an integer"},
      {"passphrase array", "[hbp]\npassphrase = [\"Zq8-s3cret\"]\n", "Zq8-s3cret",
       "config.toml: hbp.passphrase: expected a string, not an array"},
      {"peer passphrase too long", peer + "passphrase = \"Zq8-s3cret-much-too-long-for-obp\"\n",
       "Zq8-s3cret", "config.toml: obp[0].passphrase: must be 1..20 bytes"},
      {"misspelt key", hbp + "pasphrase = \"Zq8-s3cret\"\n", "Zq8-s3cret",
       "config.toml: hbp.pasphrase: unknown key"},
      {"misspelt peer key", peer + "passphrase = \"x\"\npassword = \"Zq8-s3cret\"\n", "Zq8-s3cret",
       "config.toml: obp[0].password: unknown key"},
      {"secret in the wrong section", hbp + "[hub]\npassphrase = \"Zq8-s3cret\"\n", "Zq8-s3cret",
       "config.toml: hub.passphrase: unknown key"},
      {"fixed client options too long",
       fixed + "options = \"KEY=Zq8-s3cret;" + std::string(300, 'x') + "\"\n", "Zq8-s3cret",
       "config.toml: hbp.fixed_client[0].options: longer than 300 bytes"},
      {"fixed client options of the wrong type", fixed + "options = [\"KEY=Zq8-s3cret\"]\n",
       "Zq8-s3cret", "config.toml: hbp.fixed_client[0].options: expected a string, not an array"},
      {"bad escape in a passphrase", "[hbp]\npassphrase = \"Zq8-s3cret\\q\"\n", "\\q",
       "config.toml:2:"},
      {"junk after a passphrase", "[hbp]\npassphrase = \"x\" Zq8-s3cret\n", "'Z'",
       "config.toml:2:"},
      {"bare passphrase", "[hbp]\npassphrase = Zq8-s3cret\n", "Zq8", "config.toml:2:"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string error = ErrorOf(c.toml);
    EXPECT_THAT(error, HasSubstr(c.error));
    EXPECT_THAT(error, ::testing::Not(HasSubstr(c.secret))) << error;
  }
  // Other values are still shown, syntax errors elsewhere too.
  EXPECT_EQ(ErrorOf(hbp + "[hub]\nshards = 0"), "config.toml: hub.shards = 0: must be in 1..64");
  EXPECT_THAT(ErrorOf(hbp + "[hub]\nmode = \"kernel\" x\n"), HasSubstr("saw 'x'"));
}

// ---------------------------------------------------------------------------------------------
// Sizes are bounded by the memory they need (issue 14).

// keepalive_s and dead_after_s time FBP (version 5) links; a classic OBP peer has neither, so
// its keepalive_s past the default dead_after_s is no error (files valid before stay valid).
TEST(ConfigTest, OnlyAnFbpPeersKeepaliveMustBeShorterThanItsDeadTime) {
#define HUB_WITH_PEER(extra) PEER(extra) "[hbp]\npassphrase = \"p\"\n"
  absl::StatusOr<HubConfig> c =
      ParseConfig(HUB_WITH_PEER("version = 1\nkeepalive_s = 120\n"), "config.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->obp[0].keepalive_s, 120u);
  EXPECT_FALSE(ParseConfig(HUB_WITH_PEER("version = 1\nkeepalive_s = 120\ndead_after_s = 100\n"),
                           "config.toml")
                   .ok())
      << "one written against the other is still checked";
  EXPECT_TRUE(
      ParseConfig(HUB_WITH_PEER("keepalive_s = 120\ndead_after_s = 300\n"), "config.toml").ok());
#undef HUB_WITH_PEER
}

TEST(ConfigMemoryTest, TheDefaultsAreSmall) {
  absl::StatusOr<HubConfig> c = ParseConfig(kMinimal, "config.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  const TableMemory m = EstimateTableMemory(*c);
  EXPECT_GT(m.streams, 0u);
  EXPECT_GT(m.clients, 0u);
  EXPECT_LT(m.total(), uint64_t{256} << 20) << FormatBytes(m.total());
  EXPECT_TRUE(CheckTableMemory(*c, uint64_t{256} << 20).ok());
}

TEST(ConfigMemoryTest, TableSizesAreBoundedByTheMemoryTheyNeed) {
  // Each key within its range, together more than any machine has.
  absl::StatusOr<HubConfig> c = ParseConfig(
      "[hub]\nshards = 64\nstream_capacity = 4194304\n[hbp]\npassphrase = \"p\"\n", "config.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string msg(c.status().message());
  EXPECT_THAT(msg, HasSubstr("config.toml: hub.stream_capacity = 4194304 (per shard) with "
                             "hub.shards = 64, hbp.max_clients = 10000 and "
                             "hub.parrot_recordings = 8 of 60 s need "));
  EXPECT_THAT(msg, HasSubstr(" GiB of memory for the hub's tables"));
  EXPECT_THAT(msg, HasSubstr("this machine has "));
  EXPECT_THAT(msg, HasSubstr("lower hub.stream_capacity"));

  // The figure itself, against a given bound.
  HubConfig h;
  h.source = "f.toml";
  h.hub.shards = 64;
  h.hub.stream_capacity = 4194304;
  const TableMemory m = EstimateTableMemory(h);
  EXPECT_GT(m.streams, uint64_t{64} << 30) << FormatBytes(m.streams);
  EXPECT_TRUE(CheckTableMemory(h, m.total()).ok());
  EXPECT_FALSE(CheckTableMemory(h, m.total() - 1).ok());
  // Clients dominate: the message names the key to lower.
  HubConfig k;
  k.source = "f.toml";
  k.hbp.max_clients = 1048576;
  const absl::Status st = CheckTableMemory(k, uint64_t{64} << 20);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("lower hbp.max_clients"));
  EXPECT_THAT(st.message(), HasSubstr("this machine has 64.0 MiB"));
}

// The parrot's recordings are allocated (and zero-filled) at start by every shard: 4,096 of
// 60 s on 64 shards are ~14 GiB, refused with the key to lower rather than OOM-killed at start.
TEST(ConfigMemoryTest, TheParrotsRecordingsCountAgainstTheMachine) {
  HubConfig h;
  h.source = "f.toml";
  h.hub.shards = 64;
  h.hub.parrot_recordings = 4096;
  const TableMemory m = EstimateTableMemory(h);
  // 1,000 frames of 55 bytes per recording (60 s at one burst per 60 ms) and its bookkeeping,
  // per shard.
  EXPECT_GE(m.parrot, uint64_t{64} * 4096 * 1000 * 55) << FormatBytes(m.parrot);
  EXPECT_LT(m.parrot, uint64_t{64} * 4096 * (1000 * 55 + 256)) << FormatBytes(m.parrot);
  const absl::Status st = CheckTableMemory(h, uint64_t{8} << 30);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("hub.parrot_recordings = 4096 of 60 s need "));
  EXPECT_THAT(st.message(), HasSubstr(", parrot 13.5 GiB)"));
  EXPECT_THAT(st.message(), HasSubstr("lower hub.parrot_recordings"));
  h.hub.parrot_recordings = 0;
  EXPECT_EQ(EstimateTableMemory(h).parrot, 0u) << "no parrot, no memory";
  EXPECT_TRUE(CheckTableMemory(h, uint64_t{8} << 30).ok());
}

TEST(ConfigMemoryTest, FormatBytes) {
  EXPECT_EQ(FormatBytes(17), "17 bytes");
  EXPECT_EQ(FormatBytes(4096), "4.0 KiB");
  EXPECT_EQ(FormatBytes(uint64_t{3} << 29), "1.5 GiB");
}

TEST(ConfigRunDirTest, RootAndTheServiceMeetInTheSystemRunDirectory) {
  EXPECT_EQ(DefaultRunDir(0, false, nullptr), "/run/dmrswitch");
  EXPECT_EQ(DefaultRunDir(0, false, "/run/user/0"), "/run/dmrswitch");
  // The unit's `dmrswitch` user (and a member of its group running dmrswitch-ctl), while the
  // service's RuntimeDirectory exists, whatever XDG_RUNTIME_DIR says.
  EXPECT_EQ(DefaultRunDir(998, true, "/run/user/998"), "/run/dmrswitch");
  EXPECT_EQ(DefaultRunDir(998, true, nullptr), "/run/dmrswitch");
  // Anyone else: a directory of their own.
  EXPECT_EQ(DefaultRunDir(1000, false, "/run/user/1000"), "/run/user/1000/dmrswitch");
  EXPECT_EQ(DefaultRunDir(1000, false, "relative"), "/tmp/dmrswitch-1000");
  EXPECT_EQ(DefaultRunDir(1000, false, nullptr), "/tmp/dmrswitch-1000");
  // hub.run_dir wins over all of them.
  EXPECT_EQ(RunDir(MustParse("[hub]\nrun_dir = \"/srv/hub\"\n[hbp]\npassphrase = \"x\"\n")),
            "/srv/hub");
}

class SecretFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dmrswitch-secret-files-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const std::string& f : files_) std::remove(f.c_str());
    rmdir(dir_.c_str());
  }
  std::string Write(const std::string& name, const std::string& text, mode_t mode) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    EXPECT_EQ(chmod(path.c_str(), mode), 0);
    files_.push_back(path);
    return path;
  }
  std::string dir_;
  std::vector<std::string> files_;
};

TEST_F(SecretFilesTest, WorldReadableConfigurationAndSecretFilesAreNamedWithTheirMode) {
  const std::string password = Write("mqtt-password", "s3cret\n", 0644);
  const std::string token = Write("api-token", "t0ken\n", 0604);
  const std::string text = absl::StrCat(
      "[hbp]\npassphrase = \"passw0rd\"\n[report]\nmqtt = \"127.0.0.1:1883\"\n"
      "mqtt_password_file = \"",
      password, "\"\napi_token_file = \"", token, "\"\n");
  const std::string config_path = Write("hub.toml", text, 0644);
  absl::StatusOr<HubConfig> config = LoadConfigFile(config_path);
  ASSERT_TRUE(config.ok()) << config.status();
  std::vector<std::string> w = WorldReadableSecretFiles(*config, config_path);
  ASSERT_EQ(w.size(), 3u) << absl::StrJoin(w, "\n");
  EXPECT_THAT(w[0], StartsWith(config_path + " (the configuration, with its passphrases) is "
                                             "readable by every user of this machine (mode 0644)"));
  EXPECT_THAT(w[1], StartsWith(password + " (report.mqtt_password_file) is readable by every "
                                          "user of this machine (mode 0644)"));
  EXPECT_THAT(w[2], StartsWith(token + " (report.api_token_file) is readable by every user of "
                                       "this machine (mode 0604)"));
  EXPECT_THAT(w[2], HasSubstr("chmod o-rwx " + token));
  // The warning names the file, never its content.
  for (const std::string& line : w) {
    EXPECT_THAT(line, Not(HasSubstr("s3cret")));
    EXPECT_THAT(line, Not(HasSubstr("t0ken")));
    EXPECT_THAT(line, Not(HasSubstr("passw0rd")));
  }

  // Readable by the owner and its group only: nothing to say.
  ASSERT_EQ(chmod(config_path.c_str(), 0640), 0);
  ASSERT_EQ(chmod(password.c_str(), 0600), 0);
  ASSERT_EQ(chmod(token.c_str(), 0640), 0);
  EXPECT_THAT(WorldReadableSecretFiles(*config, config_path), IsEmpty());
}

TEST_F(SecretFilesTest, TheEmbeddedDefaultAndUnsetOrMissingFilesGiveNoWarning) {
  absl::StatusOr<HubConfig> config = ParseConfig(DefaultConfigToml(), "<embedded default config>");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(WorldReadableSecretFiles(*config, ""), IsEmpty());
  // A file that is not there is reported by whoever reads it, not here.
  HubConfig missing = MustParse(absl::StrCat(
      "[hbp]\npassphrase = \"x\"\n[report]\napi_token_file = \"", dir_, "/absent\"\n"));
  EXPECT_THAT(WorldReadableSecretFiles(missing, ""), IsEmpty());
}

TEST(SecretFilesKeysTest, EveryFileKeyIsCheckedThroughFlattenConfig) {
  // WorldReadableSecretFiles finds secret files by the `_file` suffix of FlattenConfig's keys:
  // every such key of the table must be there.
  const HubConfig c = MustParse("[hbp]\npassphrase = \"x\"\n");
  std::vector<std::string> flat_keys;
  for (const auto& [key, value] : FlattenConfig(c)) flat_keys.push_back(key);
  int file_keys = 0;
  for (const ConfigKey* k : AllConfigKeys()) {
    if (!k->path.ends_with("_file")) continue;
    ++file_keys;
    EXPECT_THAT(flat_keys, Contains(std::string(k->path)));
  }
  EXPECT_GE(file_keys, 2);  // report.mqtt_password_file, report.api_token_file
}

}  // namespace
}  // namespace dmrswitch::cp
