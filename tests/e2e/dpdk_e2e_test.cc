// End to end over a veth pair (issue #4 item 3, issue 9): dmrswitch-dp runs in the hub's network
// namespace on the hub end, and the simulated clients and OpenBridge peer live in a network
// namespace on the other end (tests/e2e/dpdk_env.h). Every test runs in each packet plane:
//  * dpdk mode: the hub end through net_af_packet (one queue pair per shard); the hub's own
//    L2/L3 (ARP, ICMP echo, next-hop learning) is all the clients' kernel has to talk to; one
//    shard and two (af_packet fanout spreads the flows, the shards steer among themselves);
//  * afxdp mode: DPDK's net_af_xdp on the hub end with the XDP shield as its program; the kernel
//    keeps the hub's address and answers ARP and ICMP. One shard: DPDK 22.11's net_af_xdp takes
//    one queue on a veth (it reports separate rx/tx channels, no combined ones);
//  * kernel mode with the XDP shield attached to the hub end (two shards, sk_reuseport).
// In the shield's modes every clean stop must leave the interface without a program and the
// runtime without pins. ShieldE2eTest adds what only the shield does: rate limits, blocks,
// login churn mirrored into the block list, a SIGKILLed dp's leftovers.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "dataplane/proto/bytes.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/dpdk_env.h"
#include "tests/e2e/hub_process.h"
#include "tests/e2e/routing_helpers.h"
#include "tests/ebpf/netns_lab.h"
#include "tools/sim/dmr_calls.h"
#include "tools/sim/hbp_client.h"
#include "tools/sim/obp_peer.h"
#include "tools/sim/udp.h"

namespace dmrswitch::e2e {
namespace {

using sim::HbpClient;
using sim::ObpPeer;
using sim::ReceivedCall;
using Bytes = std::vector<uint8_t>;

constexpr uint32_t kServerId = 310999;
constexpr uint16_t kHbpPort = 62031;
constexpr uint16_t kObpListen = 62035;  // the hub's FBP listener
constexpr uint16_t kPeerPort = 62036;   // the simulated FBP peer
constexpr uint32_t kPeerId = 234101;
constexpr char kPeerPass[] = "fbp-pass";
constexpr int kPeerAddress = 10;  // DpdkTestEnv::ClientAddress index of the peer
constexpr uint32_t kA = 3120501;
constexpr uint32_t kB = 3120502;
constexpr uint32_t kC = 3120503;
constexpr uint32_t kSrcA = 3121501;
constexpr uint32_t kSrcB = 3121502;

// The test bed, set up once for the binary and torn down after the last test. A machine that
// cannot host it (not root, no netns, no hugepages) fails every test: CI runs as root.
class DpdkEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    auto env = DpdkTestEnv::Create();
    if (env.ok()) {
      env_ = *std::move(env);
    } else {
      failure_ = env.status();
    }
  }
  void TearDown() override { env_.reset(); }

  static std::unique_ptr<DpdkTestEnv> env_;
  static absl::Status failure_;
};
std::unique_ptr<DpdkTestEnv> DpdkEnvironment::env_;
absl::Status DpdkEnvironment::failure_;

[[maybe_unused]] ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new DpdkEnvironment);

// A packet plane under test: its mode and shard count.
enum class Plane { kDpdk, kAfXdp, kKernelShield };
struct Variant {
  Plane plane;
  uint32_t shards;
};

bool HasShield(const Variant& v) { return v.plane != Plane::kDpdk; }

std::string VariantName(const ::testing::TestParamInfo<Variant>& info) {
  const char* plane = info.param.plane == Plane::kDpdk    ? "Dpdk"
                      : info.param.plane == Plane::kAfXdp ? "AfXdp"
                                                          : "KernelShield";
  return absl::StrCat(plane, info.param.shards, info.param.shards == 1 ? "Shard" : "Shards");
}

// The hub's configuration for `v` on the test bed. `tail` goes before [dpdk] (peers, statics),
// `xdp_extra` into [xdp].
std::string HubToml(const DpdkTestEnv& env, const Variant& v, const std::string& tail = "",
                    const std::string& control_plane = "hosted", const std::string& hbp_extra = "",
                    const std::string& xdp_extra = "") {
  const bool separate = control_plane == "separate";
  const char* mode = v.plane == Plane::kDpdk    ? "dpdk"
                     : v.plane == Plane::kAfXdp ? "afxdp"
                                                : "kernel";
  std::string toml = absl::StrCat("[hub]\nserver_id = ", kServerId, "\nmode = \"", mode,
                                  "\"\nshards = ", v.shards, "\ncontrol_plane = \"", control_plane,
                                  "\"\nstatus_interval_s = 1\nruntime_name = \"", env.netns(),
                                  "\"\nctl_socket = \"/tmp/", env.netns(), ".sock\"\n\n");
  absl::StrAppend(&toml, "[hbp]\nlisten = \"", DpdkTestEnv::kHubAddress, ":", kHbpPort,
                  "\"\npassphrase = \"passw0rd\"\ngroup_hangtime_s = 1\n", hbp_extra,
                  "\n[acl]\nreg = \"PERMIT:ALL\"\n\n", tail, "\n");
  if (v.plane != Plane::kKernelShield) {
    absl::StrAppend(&toml, "[dpdk]\neal_args = ",
                    env.EalArgsToml(v.shards, separate, /*port=*/v.plane == Plane::kDpdk),
                    "\naddress = \"", DpdkTestEnv::kHubAddress, "\"\n");
    // dpdk and afxdp mode serve IPv6 too; the client end speaks it only in Ipv6E2eTest.
    absl::StrAppend(&toml, "address6 = \"", DpdkTestEnv::kHubAddress6, "\"\n");
  }
  if (HasShield(v)) {
    absl::StrAppend(&toml, "\n[xdp]\ninterface = \"", env.hub_if(), "\"\n", xdp_extra);
  }
  return toml;
}

// The shield's pin directory of the test bed's hubs (their runtime name is the namespace's).
std::string PinDir(const DpdkTestEnv& env) {
  return absl::StrCat("/sys/fs/bpf/dmrswitch/", env.netns());
}

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

// The XDP programs on the hub end, as `ip link` shows them ("prog/xdp id 7 name xdp_shield").
std::vector<std::string> XdpPrograms(const DpdkTestEnv& env) {
  std::string out;
  EXPECT_TRUE(
      RunCommand({"ip", "-n", env.hub_netns(), "-d", "link", "show", env.hub_if()}, &out).ok());
  std::vector<std::string> progs;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    line = absl::StripLeadingAsciiWhitespace(line);
    if (absl::StartsWith(line, "prog/xdp")) progs.emplace_back(line);
  }
  return progs;
}

class DpdkE2eTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(DpdkEnvironment::failure_.ok()) << DpdkEnvironment::failure_;
    env_ = DpdkEnvironment::env_.get();
    // The kernel answers ARP and ICMP for the hub in the shield's modes; the dp in dpdk mode.
    ASSERT_TRUE(env_->SetHubAddress(HasShield(GetParam())).ok());
  }
  void TearDown() override {
    if (cp_ != nullptr) {
      if (HasFailure()) std::fprintf(stderr, "--- cp log ---\n%s--- end ---\n", cp_->Log().c_str());
      cp_->Stop();
      cp_.reset();
    }
    if (hub_ != nullptr) {
      clients_.clear();
      peer_.reset();
      const int status = hub_->Stop();
      if (HasFailure() || std::getenv("DSW_E2E_HUB_LOG") != nullptr) {
        std::fprintf(stderr, "--- dp log ---\n%s--- end of dp log ---\n", hub_->Log().c_str());
      }
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << "the dp did not stop cleanly (status " << status << "):\n"
          << hub_->Log();
      // A clean stop leaves no program on the interface and no pins.
      EXPECT_TRUE(XdpPrograms(*env_).empty()) << "XDP program left on " << env_->hub_if();
      EXPECT_FALSE(Exists(PinDir(*env_))) << PinDir(*env_) << " left behind";
    }
  }

  std::string Toml(const std::string& tail = "", const std::string& control_plane = "hosted",
                   const std::string& hbp_extra = "", const std::string& xdp_extra = "") const {
    return HubToml(*env_, GetParam(), tail, control_plane, hbp_extra, xdp_extra);
  }
  void StartHubWith(const std::string& toml) {
    HubProcess::Options o;
    o.toml = toml;
    o.wrapper = env_->HubWrapper();
    auto h = HubProcess::Start(o);
    ASSERT_TRUE(h.ok()) << h.status();
    hub_ = *std::move(h);
  }
  void StartHub(const std::string& tail = "") { StartHubWith(Toml(tail)); }

  // An FBP peer at ClientAddress(kPeerAddress) (IPv6: ClientAddress6) configured as the hub's
  // [[obp]] target, and the hub.
  void StartHubWithPeer(bool peer_keepalives, bool ipv6 = false);

  // control_plane = "separate": the dp with its memory in hugepage files, then dmrswitch-cp.
  void StartSeparateHub() {
    ASSERT_NO_FATAL_FAILURE(StartHubWith(Toml("", "separate")));
    ASSERT_NO_FATAL_FAILURE(StartCp());
  }
  void StartCp() {
    HubProcess::Options o;
    o.control_plane = true;
    o.config_path = hub_->config_path();
    auto cp = HubProcess::Start(o);
    ASSERT_TRUE(cp.ok()) << cp.status() << "\ndp log:\n" << hub_->Log();
    cp_ = *std::move(cp);
  }
  // dmrswitch-ctl against the test bed's control socket: exit code and output.
  std::pair<int, std::string> Ctl(std::vector<std::string> args) const {
    std::vector<std::string> argv = {HubProcess::CtlPath(), "--socket",
                                     absl::StrCat("/tmp/", env_->netns(), ".sock")};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = HubProcess::RunCommand(argv, absl::Seconds(10));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : std::make_pair(-1, std::string());
  }
  nlohmann::json CtlStatus() const {
    const auto [rc, out] = Ctl({"status"});
    EXPECT_EQ(rc, 0) << out;
    return nlohmann::json::parse(out, nullptr, false);
  }

  sim::HbpClientOptions ClientOptions(uint32_t id, int address, std::string options = "") const {
    sim::HbpClientOptions o;
    o.id = id;
    o.passphrase = "passw0rd";
    o.hub = {DpdkTestEnv::kHubAddress, kHbpPort};
    o.local = {DpdkTestEnv::ClientAddress(address), 0};
    o.options = std::move(options);
    o.retry_interval = absl::Seconds(1);
    o.ping_interval = absl::Seconds(1);
    return o;
  }
  // A client whose socket lives in the namespace (not logged in yet).
  HbpClient* NewClient(const sim::HbpClientOptions& o) {
    clients_.push_back(env_->InNamespace([&] { return std::make_unique<HbpClient>(o); }));
    EXPECT_TRUE(clients_.back()->status().ok()) << clients_.back()->status();
    return clients_.back().get();
  }
  // A logged-in client at ClientAddress(`address`); fails the test if it cannot log in.
  HbpClient* AddClient(uint32_t id, int address, std::string options = "") {
    HbpClient* c = NewClient(ClientOptions(id, address, std::move(options)));
    const absl::Status st = c->Login(absl::Seconds(5));
    EXPECT_TRUE(st.ok()) << "client " << id << ": " << st << "\n" << hub_->Log();
    return c;
  }
  std::vector<sim::Pollable*> Pollables() const {
    std::vector<sim::Pollable*> v;
    for (const auto& c : clients_) v.push_back(c.get());
    if (peer_ != nullptr) v.push_back(peer_.get());
    return v;
  }
  // Lets the hub apply logins and options, and forgets what the clients received so far.
  void Settle(absl::Duration d = absl::Milliseconds(300)) {
    sim::PollFor(Pollables(), d);
    for (const auto& c : clients_) c->TakeReceived();
    if (peer_ != nullptr) peer_->TakeReceived();
  }
  // `from` talks on `tg`/`ts`; exactly `to` hears it, as `want`.
  void CallAndExpect(HbpClient* from, uint32_t tg, unsigned ts, uint32_t rf_src, HbpClient* to,
                     const sim::ExpectedCall& want) {
    const sim::SentCall sent = from->SendVoiceCall(GroupCall(tg, ts, rf_src));
    ASSERT_EQ(sent.frames, VoiceFrames(2));
    ExpectOneCall(*to, want);
    ExpectNothing(*from, absl::Milliseconds(100));
  }

  std::string HubMac() const { return env_->HubMac(); }
  // An XDP shield verdict counter from dmrswitch-ctl status (hubs with a shield).
  uint64_t Verdict(const std::string& name) const {
    const nlohmann::json status = CtlStatus();
    EXPECT_EQ(status["xdp"]["state"], "attached") << status.dump();
    return status["xdp"]["verdicts"].value(name, uint64_t{0});
  }

  DpdkTestEnv* env_ = nullptr;
  std::unique_ptr<HubProcess> hub_;
  std::unique_ptr<HubProcess> cp_;
  std::vector<std::unique_ptr<HbpClient>> clients_;
  std::unique_ptr<ObpPeer> peer_;
};

// ARP: the clients' kernel resolves the hub's address to the port's MAC; ICMP echo is answered.
TEST_P(DpdkE2eTest, AnswersArpAndPing) {
  ASSERT_NO_FATAL_FAILURE(StartHub());
  auto replies = env_->Ping(DpdkTestEnv::kHubAddress, 3, absl::Seconds(1));
  ASSERT_TRUE(replies.ok()) << replies.status();
  EXPECT_EQ(*replies, 3) << hub_->Log();
  std::string neigh;
  ASSERT_TRUE(RunCommand({"ip", "-n", env_->netns(), "neigh", "show", DpdkTestEnv::kHubAddress,
                          "dev", env_->client_if()},
                         &neigh)
                  .ok());
  EXPECT_TRUE(absl::StrContains(neigh, absl::StrCat("lladdr ", HubMac()))) << neigh;
  // Another address in the subnet is not the hub's: no reply.
  auto other = env_->Ping("198.18.0.99", 1, absl::Milliseconds(500));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(*other, 0);
}

// Whether the hub end's interface is in promiscuous mode (its flags, as `ip link` shows them).
bool HubIfPromiscuous(const DpdkTestEnv& env) {
  std::string out;
  EXPECT_TRUE(RunCommand({"ip", "-n", env.hub_netns(), "link", "show", env.hub_if()}, &out).ok());
  return absl::StrContains(out, ",PROMISC") || absl::StrContains(out, "<PROMISC");
}

// The port takes frames for any MAC only when dpdk.promiscuous asks for it (net_af_packet turns
// the kernel interface's flag); afxdp and kernel mode never touch it. IPv6 without a multicast
// filter (net_af_packet has neither a list nor all-multicast) needs it too, and says so.
TEST_P(DpdkE2eTest, PortIsPromiscuousOnlyWhenAsked) {
  const std::string v6_line = absl::StrCat("address6 = \"", DpdkTestEnv::kHubAddress6, "\"\n");
  const std::string v4_only = absl::StrReplaceAll(Toml(), {{v6_line, ""}});
  ASSERT_NO_FATAL_FAILURE(StartHubWith(v4_only));
  EXPECT_TRUE(AddClient(kA, 0)->running());
  EXPECT_FALSE(HubIfPromiscuous(*env_)) << hub_->Log();
  EXPECT_FALSE(absl::StrContains(hub_->Log(), "promiscuous")) << hub_->Log();
  if (GetParam().plane != Plane::kDpdk) return;  // the key is dpdk mode's alone

  auto restart = [&](const std::string& toml) {
    clients_.clear();
    const int status = hub_->Stop();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << hub_->Log();
    hub_.reset();
    StartHubWith(toml);
  };
  ASSERT_NO_FATAL_FAILURE(restart(v4_only + "promiscuous = true\n"));
  EXPECT_TRUE(AddClient(kA, 0)->running());
  EXPECT_TRUE(HubIfPromiscuous(*env_));
  EXPECT_TRUE(absl::StrContains(hub_->Log(), ", promiscuous")) << hub_->Log();

  ASSERT_NO_FATAL_FAILURE(restart(Toml()));
  EXPECT_TRUE(AddClient(kA, 0)->running());
  EXPECT_EQ(HubIfPromiscuous(*env_),
            absl::StrContains(hub_->Log(), "promiscuous (no multicast filter, for IPv6)"))
      << hub_->Log();
}

TEST_P(DpdkE2eTest, LoginWithGoodPassphraseAndNakForBadOne) {
  ASSERT_NO_FATAL_FAILURE(StartHub());
  HbpClient* good = AddClient(kA, 0);
  EXPECT_TRUE(good->running());
  sim::HbpClientOptions o = ClientOptions(kB, 1);
  o.passphrase = "wrong";
  o.auto_reconnect = false;
  HbpClient* bad = NewClient(o);
  const absl::Status st = bad->Login(absl::Seconds(3));
  EXPECT_TRUE(absl::IsPermissionDenied(st)) << st;
  EXPECT_FALSE(bad->running());
  EXPECT_GE(bad->counters().naks, 1u);
  EXPECT_TRUE(good->running());
}

TEST_P(DpdkE2eTest, KeepalivesAreAnswered) {
  ASSERT_NO_FATAL_FAILURE(StartHub());
  HbpClient* a = AddClient(kA, 0);
  sim::PollFor(Pollables(), absl::Milliseconds(3300));
  EXPECT_GE(a->counters().pings_sent, 3u);
  EXPECT_GE(a->counters().pongs + 1, a->counters().pings_sent);  // the last may be in flight
  EXPECT_GE(a->counters().pongs, 2u);
  EXPECT_EQ(a->counters().timeouts, 0u);
  EXPECT_TRUE(a->running());
}

TEST_P(DpdkE2eTest, GroupCallReachesTheSubscriberOnly) {
  ASSERT_NO_FATAL_FAILURE(StartHub());
  HbpClient* a = AddClient(kA, 0, "TS2=3100");
  HbpClient* b = AddClient(kB, 1, "TS2=3100");
  HbpClient* c = AddClient(kC, 2);
  Settle();
  CallAndExpect(b, 3100, 2, kSrcB, a, Delivered(3100, 2, kSrcB, kA));
  ExpectNothing(*c);
  // And back the other way (after the collision window).
  Settle(absl::Milliseconds(500));
  CallAndExpect(a, 3100, 2, kSrcA, b, Delivered(3100, 2, kSrcA, kB));
  ExpectNothing(*c);
}

// control_plane = "separate" in dpdk mode: dmrswitch-cp attaches to the dp's hugepage memory;
// logins and calls work through it, calls keep flowing while it is gone, and a new cp continues.
TEST_P(DpdkE2eTest, SeparateControlPlaneCanBeKilledAndRestarted) {
  ASSERT_NO_FATAL_FAILURE(StartSeparateHub());
  HbpClient* a = AddClient(kA, 0, "TS2=3100");
  HbpClient* b = AddClient(kB, 1, "TS2=3100");
  Settle();
  CallAndExpect(b, 3100, 2, kSrcB, a, Delivered(3100, 2, kSrcB, kA));
  cp_->Kill();
  Settle(absl::Milliseconds(500));
  CallAndExpect(a, 3100, 2, kSrcA, b, Delivered(3100, 2, kSrcA, kB));
  ASSERT_NO_FATAL_FAILURE(StartCp());
  EXPECT_TRUE(cp_->WaitForLog("continuing from snapshot g", absl::Seconds(1))) << cp_->Log();
  HbpClient* c = AddClient(kC, 2, "TS2=3100");
  Settle(absl::Milliseconds(500));
  const sim::SentCall sent = a->SendVoiceCall(GroupCall(3100, 2, kSrcA));
  ASSERT_EQ(sent.frames, VoiceFrames(2));
  ExpectOneCall(*b, Delivered(3100, 2, kSrcA, kB));
  ExpectOneCall(*c, Delivered(3100, 2, kSrcA, kC));
  EXPECT_EQ(a->counters().naks + b->counters().naks, 0u);
  if (HasShield(GetParam())) {
    // The restarted dmrswitch-cp holds the shield's maps (by runtime name, from the dp's pins).
    const std::string stranger = DpdkTestEnv::ClientAddress(9);
    EXPECT_EQ(Ctl({"block", stranger, "--for", "60"}).first, 0);
    const auto [rc, listed] = Ctl({"blocked"});
    EXPECT_EQ(rc, 0);
    EXPECT_TRUE(absl::StrContains(listed, stranger)) << listed;
    EXPECT_EQ(Ctl({"unblock", stranger}).first, 0);
    EXPECT_EQ(CtlStatus()["xdp"]["state"], "attached");
  }
}

TEST_P(DpdkE2eTest, DialATgIsHeardAndSpokenAsTg9OnTs2) {
  ASSERT_NO_FATAL_FAILURE(StartHub());
  HbpClient* a = AddClient(kA, 0);
  HbpClient* b = AddClient(kB, 1, "TS1=91");
  Settle();
  a->SendVoiceCall(ControlCall(91, kSrcA));
  Settle(absl::Milliseconds(1300));  // hang time of the dialling call
  CallAndExpect(b, 91, 1, kSrcB, a, Delivered(9, 2, kSrcB, kA));
  Settle(absl::Milliseconds(500));
  CallAndExpect(a, 9, 2, kSrcA, b, Delivered(91, 1, kSrcA, kB));
}

// The FBP peer at ClientAddress(kPeerAddress):kPeerPort, and a hub configured for it (client A
// has TG 3100 on TS2).
void DpdkE2eTest::StartHubWithPeer(bool peer_keepalives, bool ipv6) {
  const std::string peer_address =
      ipv6 ? DpdkTestEnv::ClientAddress6(kPeerAddress) : DpdkTestEnv::ClientAddress(kPeerAddress);
  sim::ObpPeerOptions po;
  po.mode = sim::ObpMode::kFbpV5;
  po.network_id = kPeerId;
  po.passphrase = kPeerPass;
  po.hub = {ipv6 ? DpdkTestEnv::kHubAddress6 : DpdkTestEnv::kHubAddress, kObpListen};
  po.local = {peer_address, kPeerPort};
  po.keepalive_interval = absl::Seconds(1);
  po.keepalives = peer_keepalives;
  peer_ = env_->InNamespace([&] { return std::make_unique<ObpPeer>(po); });
  ASSERT_TRUE(peer_->status().ok()) << peer_->status();
  ASSERT_NO_FATAL_FAILURE(StartHub(absl::StrCat(
      "[[hbp.static]]\nclient = ", kA, "\nts1 = []\nts2 = [3100]\n\n[[obp]]\nname = \"fbp\"\n",
      "listen = \"198.18.0.1:", kObpListen, "\"\ntarget = \"",
      ipv6 ? absl::StrCat("[", peer_address, "]") : peer_address, ":", kPeerPort,
      "\"\nnetwork_id = ", kPeerId, "\npassphrase = \"", kPeerPass,
      "\"\nversion = 5\nkeepalive_s = 1\ndead_after_s = 10\n")));
}

// A configured peer that has not said anything yet: the hub resolves its MAC by ARP and its
// unprompted BCKAs reach it.
TEST_P(DpdkE2eTest, SilentPeerIsResolvedByArp) {
  ASSERT_NO_FATAL_FAILURE(StartHubWithPeer(/*peer_keepalives=*/false));
  EXPECT_TRUE(sim::PollUntil(
      Pollables(), [&] { return peer_->counters().bcka_rx >= 2; }, absl::Seconds(5)))
      << "BCKAs received: " << peer_->counters().bcka_rx << "\n"
      << hub_->Log();
  EXPECT_EQ(peer_->counters().bad_mac, 0u);
}

TEST_P(DpdkE2eTest, FbpPeerExchangesCallsWithAClient) {
  ASSERT_NO_FATAL_FAILURE(StartHubWithPeer(/*peer_keepalives=*/true));
  HbpClient* a = AddClient(kA, 0);
  ASSERT_TRUE(sim::PollUntil(
      Pollables(), [&] { return hub_->Log().find("peers 1/1 alive") != std::string::npos; },
      absl::Seconds(5)))
      << "the FBP link never came up:\n"
      << hub_->Log();
  EXPECT_GE(peer_->counters().bcka_rx, 1u);
  Settle();

  // Client → peer.
  const sim::VoiceCallSpec out = GroupCall(3100, 2, kSrcA);
  const uint32_t out_stream = a->StartVoiceCall(out);
  sim::PollUntil(
      Pollables(),
      [&] { return !a->transmitting() && peer_->counters().dmre_rx >= VoiceFrames(2); },
      absl::Seconds(5));
  sim::PollFor(Pollables(), absl::Milliseconds(200));
  std::vector<ReceivedCall> got = peer_->TakeReceived();
  ASSERT_EQ(got.size(), 1u) << hub_->Log();
  EXPECT_EQ(got[0].stream_id, out_stream);
  EXPECT_EQ(got[0].tg, 3100u);
  EXPECT_EQ(got[0].rf_src, kSrcA);
  EXPECT_EQ(got[0].frame_count(), VoiceFrames(2));
  EXPECT_TRUE(got[0].header_lc_ok);
  EXPECT_TRUE(got[0].terminator_lc_ok);
  EXPECT_EQ(peer_->counters().bad_mac, 0u);

  // Peer → client (OBP is TS1; the client's static is on TS2).
  Settle(absl::Milliseconds(500));
  peer_->SendVoiceCall(GroupCall(3100, 1, 2341777));
  ExpectOneCall(*a, Delivered(3100, 2, 2341777, kA));
}

void StoreBe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// Frames for the hub's port that a well-behaved kernel would never send: built by hand on an
// AF_PACKET socket on the client end of the veth.
std::vector<Bytes> BadFrames(const std::array<uint8_t, 6>& hub_mac,
                             const std::array<uint8_t, 6>& our_mac, uint32_t hub_ip,
                             uint32_t our_ip) {
  auto frame = [&](uint16_t ethertype, const Bytes& l3) {
    Bytes f(hub_mac.begin(), hub_mac.end());
    f.insert(f.end(), our_mac.begin(), our_mac.end());
    f.push_back(static_cast<uint8_t>(ethertype >> 8));
    f.push_back(static_cast<uint8_t>(ethertype));
    f.insert(f.end(), l3.begin(), l3.end());
    return f;
  };
  auto checksum = [](const uint8_t* p, size_t n) {
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2) s += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
    if (n & 1) s += static_cast<uint32_t>(p[n - 1] << 8);
    while (s >> 16) s = (s & 0xFFFF) + (s >> 16);
    return static_cast<uint16_t>(~s);
  };
  // IPv4/UDP to the HBP port carrying `payload`; `mutate` spoils it afterwards.
  auto udp = [&](const Bytes& payload, const std::function<void(Bytes&)>& mutate) {
    Bytes ip(20 + 8 + payload.size(), 0);
    ip[0] = 0x45;
    StoreBe16(ip.data() + 2, static_cast<uint16_t>(ip.size()));
    ip[8] = 64;
    ip[9] = 17;
    proto::StoreBe32(ip.data() + 12, our_ip);
    proto::StoreBe32(ip.data() + 16, hub_ip);
    StoreBe16(ip.data() + 10, checksum(ip.data(), 20));
    StoreBe16(ip.data() + 20, 40000);
    StoreBe16(ip.data() + 22, kHbpPort);
    StoreBe16(ip.data() + 24, static_cast<uint16_t>(8 + payload.size()));
    if (!payload.empty())
      std::memcpy(ip.data() + 28, payload.data(), payload.size());  // UDP csum 0
    mutate(ip);
    return frame(0x0800, ip);
  };
  const Bytes rptl = {'R', 'P', 'T', 'L', 0x00, 0x2F, 0x9A, 0x77};
  std::vector<Bytes> v;
  v.push_back(udp(rptl, [](Bytes&) {}));                    // fine (an unknown client)
  v.push_back(udp(rptl, [](Bytes& p) { p[10] ^= 0xFF; }));  // bad IP header checksum
  v.push_back(udp(rptl, [](Bytes& p) { p[26] = 0x12; }));   // bad UDP checksum
  v.push_back(udp(rptl, [](Bytes& p) { p[25] = 3; }));      // UDP length < 8
  v.push_back(udp(rptl, [](Bytes& p) { p[25] = 200; }));    // UDP length > IP payload
  v.push_back(udp(rptl, [](Bytes& p) { p[3] = 200; }));     // IP total length > frame
  v.push_back(udp(rptl, [](Bytes& p) { p[6] = 0x20; }));    // MF: a first fragment
  v.push_back(udp(rptl, [](Bytes& p) { p[7] = 0x10; }));    // a later fragment
  v.push_back(udp(rptl, [](Bytes& p) { p[0] = 0x46; }));    // IHL 6 without options room
  v.push_back(udp(rptl, [](Bytes& p) { p[0] = 0x65; }));    // IP version 6
  v.push_back(udp(rptl, [](Bytes& p) { p[0] = 0x44; }));    // IHL 4
  v.push_back(udp(rptl, [&](Bytes& p) { proto::StoreBe32(p.data() + 16, hub_ip + 7); }));
  v.push_back(udp(rptl, [](Bytes& p) { proto::StoreBe32(p.data() + 12, 0xFFFFFFFF); }));
  v.push_back(udp(rptl, [](Bytes& p) { proto::StoreBe32(p.data() + 12, 0xE0000001); }));
  v.push_back(udp(rptl, [](Bytes& p) { StoreBe16(p.data() + 22, 9); }));  // other port
  v.push_back(udp({}, [](Bytes&) {}));                                    // empty payload
  Bytes big(1400, 0x41);
  v.push_back(udp(big, [](Bytes&) {}));
  v.push_back(frame(0x0800, {}));               // IPv4 ethertype, nothing after it
  v.push_back(frame(0x0800, Bytes(10, 0x45)));  // truncated IPv4 header
  v.push_back(frame(0x0806, Bytes(10, 0)));     // truncated ARP
  v.push_back(frame(0x86DD, Bytes(60, 0)));     // IPv6
  v.push_back(frame(0x8100, Bytes(2, 0)));      // truncated VLAN tag
  v.push_back(frame(0x88CC, Bytes(46, 0)));     // LLDP
  {
    Bytes icmp_bad = udp(Bytes(8, 0), [](Bytes& p) { p[9] = 1; });  // "ICMP" with garbage
    icmp_bad[14 + 20] = 8;                                          // echo request, bad sum
    v.push_back(icmp_bad);
  }
  {
    // An ARP reply nobody asked for, claiming the hub's own address.
    Bytes arp = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x02};
    arp.insert(arp.end(), our_mac.begin(), our_mac.end());
    for (int s = 24; s >= 0; s -= 8) arp.push_back(static_cast<uint8_t>(hub_ip >> s));
    arp.insert(arp.end(), hub_mac.begin(), hub_mac.end());
    for (int s = 24; s >= 0; s -= 8) arp.push_back(static_cast<uint8_t>(hub_ip >> s));
    v.push_back(frame(0x0806, arp));
  }
  // Random garbage after a plausible Ethernet header.
  std::mt19937 rng(4);
  for (int i = 0; i < 40; ++i) {
    Bytes junk(rng() % 200, 0);
    for (uint8_t& b : junk) b = static_cast<uint8_t>(rng());
    v.push_back(frame(i % 2 ? 0x0800 : 0x0806, junk));
  }
  return v;
}

std::array<uint8_t, 6> ParseMac(const std::string& s) {
  std::array<uint8_t, 6> m{};
  unsigned b[6] = {};
  std::sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]);
  for (int i = 0; i < 6; ++i) m[static_cast<size_t>(i)] = static_cast<uint8_t>(b[i]);
  return m;
}

TEST_P(DpdkE2eTest, BadInputBarrageLeavesClientsTalking) {
  ASSERT_NO_FATAL_FAILURE(StartHub());
  HbpClient* a = AddClient(kA, 0, "TS2=3100");
  HbpClient* b = AddClient(kB, 1, "TS2=3100");
  Settle();

  // L2/L3: malformed frames straight onto the wire.
  std::string client_mac;
  ASSERT_TRUE(
      RunCommand({"ip", "-n", env_->netns(), "-o", "link", "show", env_->client_if()}, &client_mac)
          .ok());
  client_mac = client_mac.substr(client_mac.find("link/ether ") + 11, 17);
  const std::vector<Bytes> frames =
      BadFrames(ParseMac(HubMac()), ParseMac(client_mac), 0xC6120001, 0xC6120000 + 2 + 5);
  const int sent = env_->InNamespace([&] {
    const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (fd < 0) return -1;
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = static_cast<int>(if_nametoindex(env_->client_if().c_str()));
    sll.sll_halen = 6;
    int n = 0;
    for (int round = 0; round < 5; ++round) {
      for (const Bytes& f : frames) {
        Bytes padded = f;
        if (padded.size() < 60) padded.resize(60, 0);
        if (sendto(fd, padded.data(), padded.size(), 0, reinterpret_cast<sockaddr*>(&sll),
                   sizeof(sll)) > 0) {
          ++n;
        }
      }
    }
    close(fd);
    return n;
  });
  EXPECT_EQ(sent, static_cast<int>(frames.size() * 5));

  // UDP: malformed HBP from strangers and from a logged-in client's own socket.
  std::vector<sim::UdpSocket> strangers;
  for (int i = 0; i < 3; ++i) {
    auto s = env_->InNamespace([&] {
      return sim::UdpSocket::Open({DpdkTestEnv::ClientAddress(6 + i), 0},
                                  sim::Endpoint{DpdkTestEnv::kHubAddress, kHbpPort});
    });
    ASSERT_TRUE(s.ok()) << s.status();
    strangers.push_back(*std::move(s));
  }
  std::mt19937 rng(7);
  std::vector<Bytes> hbp_junk;
  for (const char* tag : {"RPTL", "RPTK", "RPTC", "RPTO", "RPTPING", "RPTCL", "DMRD", "MSTPONG"}) {
    for (size_t len : {size_t{4}, size_t{7}, size_t{54}, size_t{56}, size_t{400}}) {
      Bytes p(len, 0x20);
      std::memcpy(p.data(), tag, std::min(std::strlen(tag), len));
      if (len >= std::strlen(tag) + 4) proto::StoreBe32(p.data() + std::strlen(tag), kA);
      hbp_junk.push_back(p);
    }
  }
  for (int i = 0; i < 60; ++i) {
    Bytes p(1 + rng() % 300);
    for (uint8_t& x : p) x = static_cast<uint8_t>(rng());
    hbp_junk.push_back(p);
  }
  for (sim::UdpSocket& s : strangers) {
    for (const Bytes& p : hbp_junk) (void)s.Send(p);
  }
  // A stranger's DMRD claiming to be A: never routed.
  std::vector<sim::DmrdFrame> spoof = sim::BuildVoiceCall(GroupCall(3100, 2, 2349999), kA);
  for (const sim::DmrdFrame& f : spoof) (void)strangers[0].Send(f);
  sim::PollFor(Pollables(), absl::Milliseconds(500));
  EXPECT_TRUE(b->TakeReceived().empty()) << "a spoofed call was routed";
  EXPECT_TRUE(a->TakeReceived().empty());
  ASSERT_TRUE(hub_->running()) << hub_->Log();

  // Still talking, still answering pings and keepalives.
  EXPECT_TRUE(a->running());
  EXPECT_TRUE(b->running());
  const uint64_t pongs = a->counters().pongs;
  CallAndExpect(b, 3100, 2, kSrcB, a, Delivered(3100, 2, kSrcB, kA));
  Settle(absl::Milliseconds(500));
  CallAndExpect(a, 3100, 2, kSrcA, b, Delivered(3100, 2, kSrcA, kB));
  sim::PollFor(Pollables(), absl::Milliseconds(1200));
  EXPECT_GT(a->counters().pongs, pongs);
  auto replies = env_->Ping(DpdkTestEnv::kHubAddress, 2, absl::Seconds(1));
  ASSERT_TRUE(replies.ok()) << replies.status();
  EXPECT_EQ(*replies, 2);
}

// --- What only the shield does -----------------------------------------------------------------

class ShieldE2eTest : public DpdkE2eTest {
 protected:
  // The box's own services, through the shield: ping (from 198.18.0.2) and TCP.
  void ExpectBoxReachable() {
    auto tcp =
        env_->InHubNamespace([] { return std::make_unique<io::testing::TcpEchoServer>(kTcp); });
    ASSERT_TRUE(tcp->ok());
    EXPECT_TRUE(env_->InNamespace([] { return io::testing::PingHub(2); })) << "ping";
    EXPECT_TRUE(env_->InNamespace([] { return io::testing::TcpEchoRoundTrip(kTcp); })) << "TCP";
  }
  static constexpr uint16_t kTcp = 2222;
};

// The scenario of issue 9 against the real hub: one source floods the HBP port with well-formed
// DMRD at 100x its token bucket while a logged-in client's 3.7 s call crosses the hub; the
// flood is cut to the bucket by the shield, the call arrives with every frame, the box answers
// ping and TCP throughout, and the status line names the verdicts.
TEST_P(ShieldE2eTest, FloodIsRateLimitedWhileALoggedInClientsCallArrivesWhole) {
  ASSERT_NO_FATAL_FAILURE(
      StartHubWith(Toml("", "hosted", "", "source_pps = 200\nsource_burst = 400\n")));
  HbpClient* a = AddClient(kA, 0, "TS2=3100");
  HbpClient* b = AddClient(kB, 1, "TS2=3100");
  Settle();
  const uint64_t limited_before = Verdict("drop_rate_limited");

  // 20 000 pps for 4 s from 198.18.0.2:50000 (the address of client A, another port: the bucket
  // is per source ip:port, A's own traffic is untouched).
  constexpr uint32_t kFloodPps = 20000;
  constexpr uint32_t kFloodFrames = 4 * kFloodPps;
  uint64_t flood_sent = 0;
  std::thread flood([&] {
    flood_sent = env_->InNamespace(
        [] { return io::testing::SendCall(kHbpPort, 50000, kFloodPps, kFloodFrames); });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // A real call's cadence (60 ms a frame), 10 superframes: 62 frames over 3.7 s.
  const sim::SentCall sent =
      a->SendVoiceCall(GroupCall(3100, 2, kSrcA, absl::Milliseconds(60), 10));
  ExpectBoxReachable();
  flood.join();
  ASSERT_EQ(sent.frames, VoiceFrames(10));
  ExpectOneCall(*b, Delivered(3100, 2, kSrcA, kB, 10));
  EXPECT_EQ(flood_sent, kFloodFrames);
  // The bucket lets burst + rate x time through; everything above is dropped before the hub.
  const uint64_t limited = Verdict("drop_rate_limited") - limited_before;
  EXPECT_GE(limited, flood_sent - 400 - 200 * 5) << "flood not cut to the bucket";
  EXPECT_LE(limited, flood_sent);
  EXPECT_TRUE(hub_->WaitForLog("drop_rate_limited ", absl::Seconds(3)))
      << "the status line names the verdict:\n"
      << hub_->Log();
  EXPECT_TRUE(a->running());
  EXPECT_TRUE(b->running());
}

// dmrswitch-ctl block: everything the address sends to the hub is dropped by the shield (its
// call never reaches the hub) while it can still ping the box and reach its TCP services; after
// unblock its next call goes through.
TEST_P(ShieldE2eTest, BlockedSourceIsDroppedAndUnblockedAgain) {
  ASSERT_NO_FATAL_FAILURE(StartHub());
  HbpClient* a = AddClient(kA, 0, "TS2=3100");  // 198.18.0.2: the source ping comes from
  HbpClient* b = AddClient(kB, 1, "TS2=3100");
  Settle();
  const std::string blocked = DpdkTestEnv::ClientAddress(0);
  const auto [rc, said] = Ctl({"block", blocked, "--for", "120"});
  ASSERT_EQ(rc, 0) << said;
  EXPECT_TRUE(absl::StrContains(said, "blocked for 120 s")) << said;
  const auto [rc2, listed] = Ctl({"blocked"});
  EXPECT_EQ(rc2, 0);
  EXPECT_TRUE(absl::StrContains(listed, blocked)) << listed;
  const uint64_t dropped_before = Verdict("drop_blocked");

  a->SendVoiceCall(GroupCall(3100, 2, kSrcA));
  ExpectNothing(*b, absl::Milliseconds(500));
  EXPECT_GE(Verdict("drop_blocked") - dropped_before, VoiceFrames(2));
  ExpectBoxReachable();  // the block is for hub ports only
  EXPECT_TRUE(hub_->WaitForLog("drop_blocked ", absl::Seconds(3))) << hub_->Log();

  ASSERT_EQ(Ctl({"unblock", blocked}).first, 0);
  EXPECT_EQ(Ctl({"unblock", blocked}).first, 1) << "not blocked any more";
  EXPECT_TRUE(absl::StrContains(Ctl({"blocked"}).second, "no source is blocked"));
  Settle(absl::Milliseconds(500));
  CallAndExpect(a, 3100, 2, kSrcA, b, Delivered(3100, 2, kSrcA, kB));
}

// Login churn: a client that logs in again and again with the right passphrase gets its (IP, ID)
// blocked by HbpAuth (hbp.login_burst), and the control plane puts the IP into the shield's block
// list for as long (hbp.login_block_s), so nothing more from it reaches the hub. Other sources
// log in as before.
TEST_P(ShieldE2eTest, LoginChurnBlocksTheSourceInTheShield) {
  ASSERT_NO_FATAL_FAILURE(
      StartHubWith(Toml("", "hosted", "login_burst = 2\nlogin_block_s = 30\n")));
  const std::string churner = DpdkTestEnv::ClientAddress(7);
  constexpr uint32_t kChurnerId = 3129000;
  for (int i = 0; i < 2; ++i) {
    HbpClient* c = NewClient(ClientOptions(kChurnerId, 7));
    ASSERT_TRUE(c->Login(absl::Seconds(5)).ok()) << c->status() << "\n" << hub_->Log();
    c->Close(absl::Seconds(1));
    clients_.pop_back();
  }
  {
    HbpClient* c = NewClient(ClientOptions(kChurnerId, 7));
    EXPECT_FALSE(c->Login(absl::Seconds(2)).ok()) << "the third login went through";
    clients_.pop_back();
  }
  ASSERT_TRUE(hub_->WaitForLog(absl::StrCat("login churn from ", churner,
                                            ": blocked for 30 s "
                                            "(XDP shield)"),
                               absl::Seconds(3)))
      << hub_->Log();
  const auto [rc, listed] = Ctl({"blocked"});
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(absl::StrContains(listed, churner)) << listed;
  auto s = env_->InNamespace([&] {
    return sim::UdpSocket::Open({churner, 0}, sim::Endpoint{DpdkTestEnv::kHubAddress, kHbpPort});
  });
  ASSERT_TRUE(s.ok()) << s.status();
  const uint64_t before = Verdict("drop_blocked");
  for (int i = 0; i < 20; ++i) {
    Bytes rptl = {'R', 'P', 'T', 'L', 0, 0x2F, 0x9A, 0x77};
    ASSERT_TRUE(s->Send(rptl).ok());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(Verdict("drop_blocked") - before, 20u);
  AddClient(kA, 0);  // another source
}

// A dp killed with SIGKILL leaves its program on the interface and its pins; the next start
// replaces both (one program, not two) and serves; its clean stop then leaves nothing (TearDown).
TEST_P(ShieldE2eTest, StaleShieldAfterSigkillIsReplacedNotDuplicated) {
  ASSERT_NO_FATAL_FAILURE(StartHub());
  AddClient(kA, 0);
  clients_.clear();
  hub_->Kill();
  EXPECT_EQ(XdpPrograms(*env_).size(), 1u) << "SIGKILL leaves the program (netlink-attached)";
  EXPECT_TRUE(Exists(PinDir(*env_) + "/shield_verdicts")) << "and the pins";
  hub_.reset();

  ASSERT_NO_FATAL_FAILURE(StartHub());
  const std::vector<std::string> progs = XdpPrograms(*env_);
  ASSERT_EQ(progs.size(), 1u) << absl::StrJoin(progs, "\n");
  EXPECT_TRUE(absl::StrContains(progs[0], "name xdp_shield")) << progs[0];
  EXPECT_TRUE(Exists(PinDir(*env_) + "/shield_verdicts"));
  HbpClient* a = AddClient(kA, 0, "TS2=3100");
  HbpClient* b = AddClient(kB, 1, "TS2=3100");
  Settle();
  CallAndExpect(a, 3100, 2, kSrcA, b, Delivered(3100, 2, kSrcA, kB));
  EXPECT_GT(Verdict(GetParam().plane == Plane::kAfXdp ? "redirect_hub" : "pass_hub"), 0u);
}

// A reload (SIGHUP) applies the shield's rate at once, through its maps; where it is attached
// stays until a restart, and the reload says so.
TEST_P(ShieldE2eTest, ReloadAppliesTheRateAndKeepsTheAttachment) {
  ASSERT_NO_FATAL_FAILURE(StartHubWith(Toml("", "hosted", "", "source_pps = 200\n")));
  EXPECT_EQ(CtlStatus()["xdp"]["source_pps"], 200);
  const size_t from = hub_->LogSize();
  hub_->RewriteConfig(Toml("", "hosted", "", "source_pps = 50\nattach = \"generic\"\n"));
  hub_->Signal(SIGHUP);
  ASSERT_TRUE(hub_->WaitForLog("configuration reloaded", absl::Seconds(3), from)) << hub_->Log();
  EXPECT_TRUE(hub_->WaitForLog("xdp.source_pps 200 -> 50", absl::Seconds(1), from));
  EXPECT_TRUE(
      hub_->WaitForLog("kept until restart: xdp.attach auto -> generic", absl::Seconds(1), from))
      << hub_->Log();
  EXPECT_EQ(CtlStatus()["xdp"]["source_pps"], 50);
  // A source sending 1000 pps for 2 s is cut to 50 pps now (after the 400 packets of slack).
  const uint64_t before = Verdict("drop_rate_limited");
  const uint64_t sent =
      env_->InNamespace([] { return io::testing::SendCall(kHbpPort, 50001, 1000, 2000); });
  ASSERT_EQ(sent, 2000u);
  EXPECT_GE(Verdict("drop_rate_limited") - before, 2000u - 400 - 50 * 3);
}

// IPv6 on the link (issue 13 item 5): the client end has 2001:2::/48 addresses; the dp answers
// Neighbour Discovery and ping for 2001:2::1 and serves IPv6 clients and peers on the same ports
// as IPv4 ones.
class Ipv6E2eTest : public DpdkE2eTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(DpdkE2eTest::SetUp());
    ASSERT_TRUE(env_->SetClientIpv6(true).ok());
    // With the shield (afxdp and kernel mode) the kernel owns the hub's IPv6 address and answers
    // Neighbour Discovery; in dpdk mode the dp does.
    if (HasShield(GetParam())) {
      ASSERT_TRUE(env_->SetHubIpv6(true).ok());
    }
  }
  void TearDown() override {
    DpdkE2eTest::TearDown();
    EXPECT_TRUE(env_->SetClientIpv6(false).ok());
    if (HasShield(GetParam())) {
      EXPECT_TRUE(env_->SetHubIpv6(false).ok());
    }
  }
  sim::HbpClientOptions ClientOptions6(uint32_t id, int address, std::string options = "") const {
    sim::HbpClientOptions o = ClientOptions(id, address, std::move(options));
    o.hub = {DpdkTestEnv::kHubAddress6, kHbpPort};
    o.local = {DpdkTestEnv::ClientAddress6(address), 0};
    return o;
  }
  HbpClient* AddClient6(uint32_t id, int address, std::string options = "") {
    HbpClient* c = NewClient(ClientOptions6(id, address, std::move(options)));
    const absl::Status st = c->Login(absl::Seconds(5));
    EXPECT_TRUE(st.ok()) << "client " << id << ": " << st << "\n" << hub_->Log();
    return c;
  }
  // One of the dp's io counters summed over its shards (dmrswitch-ctl stats), once it is at
  // least `want` (the shards publish every status_interval_s) or after 5 s.
  uint64_t IoCounterAtLeast(const std::string& name, uint64_t want) {
    uint64_t n = 0;
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    do {
      const auto [rc, out] = Ctl({"stats", "--json"});
      const nlohmann::json s = nlohmann::json::parse(out, nullptr, false);
      if (rc == 0 && s.is_object() && s["total"]["io"].contains(name)) {
        n = s["total"]["io"][name].get<uint64_t>();
      }
      if (n >= want) break;
      sim::PollFor(Pollables(), absl::Milliseconds(250));
    } while (absl::Now() < deadline);
    return n;
  }
};

TEST_P(Ipv6E2eTest, AnswersNeighbourDiscoveryAndPing6) {
  ASSERT_NO_FATAL_FAILURE(StartHub());
  auto replies = env_->Ping6(DpdkTestEnv::kHubAddress6, 3, absl::Seconds(1));
  ASSERT_TRUE(replies.ok()) << replies.status();
  EXPECT_EQ(*replies, 3) << hub_->Log();
  std::string neigh;
  ASSERT_TRUE(RunCommand({"ip", "-n", env_->netns(), "-6", "neigh", "show",
                          DpdkTestEnv::kHubAddress6, "dev", env_->client_if()},
                         &neigh)
                  .ok());
  EXPECT_TRUE(absl::StrContains(neigh, absl::StrCat("lladdr ", HubMac()))) << neigh;
  // Another address in the prefix is not the hub's: no advert, no reply. IPv4 still answers.
  auto other = env_->Ping6("2001:2::99", 1, absl::Milliseconds(500));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(*other, 0);
  auto v4 = env_->Ping(DpdkTestEnv::kHubAddress, 1, absl::Seconds(1));
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(*v4, 1);
}

// IPv6 and IPv4 clients on one port, calls both ways: every frame arrives (the clients' kernel
// drops any IPv6 datagram whose UDP checksum the dp got wrong).
TEST_P(Ipv6E2eTest, Ipv6AndIpv4ClientsTalkToEachOther) {
  ASSERT_NO_FATAL_FAILURE(StartHub());
  HbpClient* a = AddClient6(kA, 0, "TS2=3100");
  HbpClient* b = AddClient(kB, 1, "TS2=3100");
  HbpClient* c = AddClient6(kC, 2, "TS2=3100");
  ASSERT_EQ(a->local_address().host, DpdkTestEnv::ClientAddress6(0));
  Settle();
  sim::PollFor(Pollables(), absl::Milliseconds(1500));  // keepalives both ways
  EXPECT_GE(a->counters().pongs, 1u);
  Settle();
  const sim::SentCall sent = a->SendVoiceCall(GroupCall(3100, 2, kSrcA));
  ASSERT_EQ(sent.frames, VoiceFrames(2));
  ExpectOneCall(*b, Delivered(3100, 2, kSrcA, kB));
  ExpectOneCall(*c, Delivered(3100, 2, kSrcA, kC));
  ExpectNothing(*a, absl::Milliseconds(100));
  Settle(absl::Milliseconds(1500));  // past the group hang time
  const sim::SentCall back = b->SendVoiceCall(GroupCall(3100, 2, kSrcB));
  ASSERT_EQ(back.frames, VoiceFrames(2));
  ExpectOneCall(*a, Delivered(3100, 2, kSrcB, kA));
  ExpectOneCall(*c, Delivered(3100, 2, kSrcB, kC));
  // dpdk mode answered the clients' solicitations itself (afxdp mode leaves that to the kernel).
  if (GetParam().plane == Plane::kDpdk) {
    EXPECT_GE(IoCounterAtLeast("nd_adverts", 1), 1u);
  }
}

// A configured IPv6 peer that has not spoken: the dp solicits its MAC and its BCKAs reach it;
// then the peer's call reaches a client.
TEST_P(Ipv6E2eTest, SilentIpv6PeerIsSolicitedAndItsCallReachesAClient) {
  ASSERT_NO_FATAL_FAILURE(StartHubWithPeer(/*peer_keepalives=*/false, /*ipv6=*/true));
  EXPECT_TRUE(sim::PollUntil(
      Pollables(), [&] { return peer_->counters().bcka_rx >= 2; }, absl::Seconds(5)))
      << "BCKAs received: " << peer_->counters().bcka_rx << "\n"
      << hub_->Log();
  EXPECT_EQ(peer_->counters().bad_mac, 0u);
  EXPECT_GE(IoCounterAtLeast("nd_solicits", 1), 1u);
  HbpClient* a = AddClient(kA, 0);
  Settle();
  peer_->SendVoiceCall(GroupCall(3100, 1, 2341777));
  ExpectOneCall(*a, Delivered(3100, 2, 2341777, kA));
}

// The shield in front of a kernel-mode hub on [::] (dual-stack) with IPv6 clients: IPv6 floods
// are cut to their bucket and IPv6 login churn is blocked in the shield by /64, as for IPv4.
class Ipv6ShieldE2eTest : public Ipv6E2eTest {
 protected:
  // The kernel-mode hub's configuration, listening on [::] (IPv4 and IPv6 on one socket).
  std::string DualStackToml(const std::string& hbp_extra = "", const std::string& xdp_extra = "") {
    std::string toml = Toml("", "hosted", hbp_extra, xdp_extra);
    const std::string v4 = absl::StrCat("listen = \"", DpdkTestEnv::kHubAddress, ":", kHbpPort);
    const size_t at = toml.find(v4);
    EXPECT_NE(at, std::string::npos) << toml;
    if (at != std::string::npos)
      toml.replace(at, v4.size(), absl::StrCat("listen = \"[::]:", kHbpPort));
    return toml;
  }
};

// A flood of well-formed DMRD from an IPv6 source's other port while an IPv6 client's call
// crosses the hub: the flood is cut to its bucket, the call arrives whole, the IPv4 client too.
TEST_P(Ipv6ShieldE2eTest, Ipv6FloodIsRateLimitedWhileAnIpv6CallArrivesWhole) {
  ASSERT_NO_FATAL_FAILURE(
      StartHubWith(DualStackToml("", "source_pps = 200\nsource_burst = 400\n")));
  HbpClient* a = AddClient6(kA, 0, "TS2=3100");
  HbpClient* b = AddClient(kB, 1, "TS2=3100");
  Settle();
  const uint64_t limited_before = Verdict("drop_rate_limited");
  constexpr int kFloodFrames = 6000;
  int flood_sent = 0;
  std::thread flood([&] {
    flood_sent = env_->InNamespace([] {
      auto s = sim::UdpSocket::Open({DpdkTestEnv::ClientAddress6(5), 50000},
                                    sim::Endpoint{DpdkTestEnv::kHubAddress6, kHbpPort});
      if (!s.ok()) return 0;
      const std::vector<sim::DmrdFrame> frames =
          sim::BuildVoiceCall(GroupCall(3100, 2, 3129999), 3129999);
      int n = 0;
      const absl::Time start = absl::Now();
      for (int i = 0; i < kFloodFrames; ++i) {
        if (s->Send(frames[static_cast<size_t>(i) % frames.size()]).ok()) ++n;
        // ~3000 pps: well above the bucket, well within what the veth carries.
        if (i % 30 == 29)
          absl::SleepFor(start + absl::Milliseconds(10 * (i / 30 + 1)) - absl::Now());
      }
      return n;
    });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const sim::SentCall sent = a->SendVoiceCall(GroupCall(3100, 2, kSrcA, absl::Milliseconds(60), 5));
  flood.join();
  ASSERT_EQ(sent.frames, VoiceFrames(5));
  ExpectOneCall(*b, Delivered(3100, 2, kSrcA, kB, 5));
  EXPECT_EQ(flood_sent, kFloodFrames);
  const uint64_t limited = Verdict("drop_rate_limited") - limited_before;
  EXPECT_GE(limited, static_cast<uint64_t>(kFloodFrames - 400 - 200 * 3)) << "flood not cut";
  EXPECT_LE(limited, static_cast<uint64_t>(kFloodFrames));
  EXPECT_TRUE(a->running());
}

// IPv6 login churn: HbpAuth blocks the (address, ID) pair and the control plane blocks the
// sender's /64 in the shield; nothing more from that /64 reaches the hub, IPv4 logs in as before.
TEST_P(Ipv6ShieldE2eTest, Ipv6LoginChurnBlocksTheSlash64InTheShield) {
  ASSERT_NO_FATAL_FAILURE(StartHubWith(DualStackToml("login_burst = 2\nlogin_block_s = 30\n")));
  constexpr uint32_t kChurnerId = 3129000;
  for (int i = 0; i < 2; ++i) {
    HbpClient* c = NewClient(ClientOptions6(kChurnerId, 7));
    ASSERT_TRUE(c->Login(absl::Seconds(5)).ok()) << c->status() << "\n" << hub_->Log();
    c->Close(absl::Seconds(1));
    clients_.pop_back();
  }
  {
    HbpClient* c = NewClient(ClientOptions6(kChurnerId, 7));
    EXPECT_FALSE(c->Login(absl::Seconds(2)).ok()) << "the third login went through";
    clients_.pop_back();
  }
  ASSERT_TRUE(hub_->WaitForLog("login churn from 2001:2::/64: blocked for 30 s (XDP shield)",
                               absl::Seconds(3)))
      << hub_->Log();
  const auto [rc, listed] = Ctl({"blocked"});
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(absl::StrContains(listed, "2001:2::/64")) << listed;
  // Another address of the /64 is dropped too.
  auto s = env_->InNamespace([&] {
    return sim::UdpSocket::Open({DpdkTestEnv::ClientAddress6(3), 0},
                                sim::Endpoint{DpdkTestEnv::kHubAddress6, kHbpPort});
  });
  ASSERT_TRUE(s.ok()) << s.status();
  const uint64_t before = Verdict("drop_blocked");
  for (int i = 0; i < 20; ++i) {
    Bytes rptl = {'R', 'P', 'T', 'L', 0, 0x2F, 0x9A, 0x77};
    ASSERT_TRUE(s->Send(rptl).ok());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Verdict("drop_blocked") - before, 20u);
  AddClient(kA, 0);  // IPv4
}

// dmrswitch-ctl block with an IPv6 address (and its /64): the source's call is dropped by the
// shield, the listing names it, unblock lets the next call through; bad prefixes are refused.
TEST_P(Ipv6ShieldE2eTest, OperatorBlocksAnIpv6AddressAndUnblocksIt) {
  ASSERT_NO_FATAL_FAILURE(StartHubWith(DualStackToml()));
  HbpClient* a = AddClient6(kA, 0, "TS2=3100");
  HbpClient* b = AddClient(kB, 1, "TS2=3100");
  Settle();
  const std::string blocked = DpdkTestEnv::ClientAddress6(0);
  const auto [rc, said] = Ctl({"block", blocked, "--for", "120"});
  ASSERT_EQ(rc, 0) << said;
  EXPECT_TRUE(absl::StrContains(said, "blocked for 120 s")) << said;
  EXPECT_TRUE(absl::StrContains(Ctl({"blocked"}).second, blocked + "/128"));
  const uint64_t dropped_before = Verdict("drop_blocked");
  a->SendVoiceCall(GroupCall(3100, 2, kSrcA));
  ExpectNothing(*b, absl::Milliseconds(500));
  EXPECT_GE(Verdict("drop_blocked") - dropped_before, VoiceFrames(2));
  ASSERT_EQ(Ctl({"unblock", blocked}).first, 0);
  EXPECT_EQ(Ctl({"unblock", blocked}).first, 1) << "not blocked any more";
  const auto [rc48, said48] = Ctl({"block", "2001:2::/48"});
  EXPECT_EQ(rc48, 1);
  EXPECT_TRUE(absl::StrContains(said48, "not /48")) << said48;
  ASSERT_EQ(Ctl({"block", "2001:2::7/64"}).first, 0);
  EXPECT_TRUE(absl::StrContains(Ctl({"blocked"}).second, "2001:2::/64"));
  ASSERT_EQ(Ctl({"unblock", "2001:2::/64"}).first, 0);
  Settle(absl::Milliseconds(1500));
  CallAndExpect(a, 3100, 2, kSrcA, b, Delivered(3100, 2, kSrcA, kB));
}

INSTANTIATE_TEST_SUITE_P(Shield, Ipv6ShieldE2eTest,
                         ::testing::Values(Variant{Plane::kKernelShield, 2}), VariantName);

INSTANTIATE_TEST_SUITE_P(Planes, Ipv6E2eTest,
                         ::testing::Values(Variant{Plane::kDpdk, 1}, Variant{Plane::kDpdk, 2},
                                           Variant{Plane::kAfXdp, 1}),
                         VariantName);

INSTANTIATE_TEST_SUITE_P(Shield, ShieldE2eTest,
                         ::testing::Values(Variant{Plane::kAfXdp, 1},
                                           Variant{Plane::kKernelShield, 2}),
                         VariantName);

INSTANTIATE_TEST_SUITE_P(Planes, DpdkE2eTest,
                         ::testing::Values(Variant{Plane::kDpdk, 1}, Variant{Plane::kDpdk, 2},
                                           Variant{Plane::kAfXdp, 1},
                                           Variant{Plane::kKernelShield, 2}),
                         VariantName);

}  // namespace
}  // namespace dmrswitch::e2e
