// PlanReload (ctrlplane/config/reload.h): a reload applies every live key, keeps every restart
// key, and says which is which — driven by the key table, so a key added to the table without
// reload support fails here.
#include "ctrlplane/config/reload.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ctrlplane/config/config.h"
#include "ctrlplane/config/keys.h"
#include "tests/config/full_configs.h"

namespace dmrswitch::cp {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

HubConfig MustParse(const std::string& text) {
  auto c = ParseConfig(text, "test.toml");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : HubConfig{};
}

std::map<std::string, std::string> Flat(const HubConfig& c) {
  std::map<std::string, std::string> m;
  for (const auto& [p, v] : FlattenConfig(c)) m[p] = v;
  return m;
}

// The packet plane's listeners as dp_main opens them: HBP, then the file's OBP listen addresses.
std::vector<route::Endpoint> ListenersOf(const HubConfig& c) {
  std::vector<route::Endpoint> l = {c.hbp.listen};
  l.insert(l.end(), c.obp_listeners.begin(), c.obp_listeners.end());
  return l;
}

TEST(Reload, FlattenNamesEveryKeyOfTheTable) {
  std::set<std::string> flat_keys;
  for (const auto& [p, v] : FlattenConfig(MustParse(testing::kFullConfigA))) {
    const ConfigKey* k = FindConfigKey(p);
    ASSERT_NE(k, nullptr) << p << " is not a key of the table";
    flat_keys.insert(std::string(k->path));
  }
  for (const ConfigKey* k : AllConfigKeys()) EXPECT_TRUE(flat_keys.contains(std::string(k->path)));
}

TEST(Reload, TheTwoFullConfigurationsDifferInEveryKey) {
  const auto a = Flat(MustParse(testing::kFullConfigA));
  const auto b = Flat(MustParse(testing::kFullConfigB));
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [path, value] : a) {
    ASSERT_TRUE(b.contains(path)) << path;
    EXPECT_NE(b.at(path), value) << path << " is the same in both: the test would not see it";
  }
}

TEST(Reload, EveryLiveKeyTakesTheNewValueAndEveryRestartKeyKeepsTheRunningOne) {
  const HubConfig a = MustParse(testing::kFullConfigA);
  const HubConfig b = MustParse(testing::kFullConfigB);
  const ReloadPlan plan = PlanReload(a, b, ListenersOf(a));
  const auto before = Flat(a);
  const auto file = Flat(b);
  const auto after = Flat(plan.config);
  std::set<Applier> appliers;
  for (const auto& [path, value] : after) {
    const ConfigKey* k = FindConfigKey(path);
    ASSERT_NE(k, nullptr) << path;
    SCOPED_TRACE(path);
    if (k->reload == ReloadClass::kRestart) {
      EXPECT_EQ(value, before.at(path)) << "a restart key must keep its running value";
      EXPECT_THAT(plan.kept, Contains(k->secret ? absl::StrCat(path, " changed (secret)")
                                                : absl::StrCat(path, " ", before.at(path), " -> ",
                                                               file.at(path))));
    } else if (k == &keys::kObpListen) {
      // Moved to the other peer's address: the same port on the hub's dpdk address.
      EXPECT_EQ(value, "198.18.0.1:" + file.at(path).substr(file.at(path).rfind(':') + 1));
    } else {
      EXPECT_EQ(value, file.at(path)) << "a live key must take the file's value";
      EXPECT_THAT(plan.applied, Contains(HasSubstr(path + " ")));
      appliers.insert(k->applier);
    }
  }
  EXPECT_EQ(plan.appliers, appliers);
  for (const ConfigKey* k : AllConfigKeys()) {
    if (k->reload == ReloadClass::kLive) {
      EXPECT_TRUE(plan.appliers.contains(k->applier)) << k->path;
    }
  }
}

TEST(Reload, SecretsAreComparedButNeverShown) {
  const HubConfig a = MustParse(testing::kFullConfigA);
  const HubConfig b = MustParse(testing::kFullConfigB);
  const ReloadPlan plan = PlanReload(a, b, ListenersOf(a));
  for (const std::string& line : plan.applied) {
    EXPECT_THAT(line, ::testing::Not(HasSubstr("passw0rd")));
    EXPECT_THAT(line, ::testing::Not(HasSubstr("s3cret")));
    EXPECT_THAT(line, ::testing::Not(HasSubstr("mypass")));
    EXPECT_THAT(line, ::testing::Not(HasSubstr("newpass")));
  }
  EXPECT_THAT(plan.applied, Contains("hbp.passphrase changed (secret)"));
  EXPECT_THAT(plan.applied, Contains("obp[0].passphrase changed (secret)"));
}

constexpr char kHub[] = "[hub]\nserver_id = 310999\n[hbp]\npassphrase = \"p\"\n";
std::string Peer(const std::string& name, int listen_port, int target_port) {
  return "[[obp]]\nname = \"" + name + "\"\nlisten = \"127.0.0.1:" + std::to_string(listen_port) +
         "\"\ntarget = \"127.0.0.1:" + std::to_string(target_port) +
         "\"\nnetwork_id = 2\npassphrase = \"k\"\n";
}

TEST(Reload, APeerAddedOnAnAddressTheHubListensOnIsServed) {
  const HubConfig a = MustParse(std::string(kHub) + Peer("a", 62035, 62036));
  const HubConfig b =
      MustParse(std::string(kHub) + Peer("a", 62035, 62036) + Peer("b", 62035, 62037));
  const auto listeners = ListenersOf(a);
  const ReloadPlan plan = PlanReload(a, b, listeners);
  ASSERT_EQ(plan.config.obp.size(), 2u);
  EXPECT_EQ(PeerListener(plan.config.obp[1], listeners), 1u);
  EXPECT_TRUE(plan.kept.empty()) << plan.kept[0];
  EXPECT_TRUE(plan.appliers.contains(Applier::kPeers));
}

// dpdk mode started without dpdk.address6: a file that adds address6 (a restart key, kept) and
// IPv6 peer targets passes its own check, but the running plane cannot send to them. A peer
// moving to an IPv6 target keeps its IPv4 one; a new IPv6 peer is left out until a restart.
TEST(Reload, IPv6PeerTargetsWaitForARestartThatBringsDpdkAddress6) {
  const std::string dpdk =
      "[hub]\nserver_id = 310999\nmode = \"dpdk\"\n[hbp]\npassphrase = \"p\"\n"
      "[dpdk]\neal_args = [\"--no-pci\"]\naddress = \"198.18.0.1\"\n";
  const auto peer = [](const std::string& name, const std::string& target) {
    return "[[obp]]\nname = \"" + name + "\"\nlisten = \"198.18.0.1:62035\"\ntarget = \"" + target +
           "\"\nnetwork_id = 2\npassphrase = \"k\"\n";
  };
  const HubConfig a = MustParse(dpdk + peer("a", "198.18.0.2:62036"));
  const HubConfig b =
      MustParse(dpdk + "address6 = \"2001:2::1\"\n" + peer("a", "[2001:2::2]:62036") +
                peer("b", "[2001:2::3]:62036") + peer("c", "198.18.0.4:62036"));
  const ReloadPlan plan = PlanReload(a, b, ListenersOf(a));
  EXPECT_FALSE(plan.config.dpdk.has_address6) << "a restart key";
  ASSERT_EQ(plan.config.obp.size(), 2u);
  EXPECT_EQ(plan.config.obp[0].name, "a");
  EXPECT_EQ(FormatEndpoint(plan.config.obp[0].target), "198.18.0.2:62036");
  EXPECT_EQ(plan.config.obp[1].name, "c");
  for (const ObpPeer& p : plan.config.obp) EXPECT_FALSE(p.target.v6) << p.name;
  EXPECT_THAT(plan.kept,
              Contains("peer a target 198.18.0.2:62036 -> [2001:2::2]:62036 (the running dpdk "
                       "mode has no dpdk.address6 to send from)"));
  EXPECT_THAT(plan.kept, Contains("peer b is not served until a restart (the running dpdk mode "
                                  "has no dpdk.address6 to send from to [2001:2::3]:62036)"));
  EXPECT_THAT(plan.applied, Contains("obp[1].name (none) -> c"));

  // A hub that started with address6 takes them.
  const HubConfig a6 =
      MustParse(dpdk + "address6 = \"2001:2::1\"\n" + peer("a", "198.18.0.2:62036"));
  const ReloadPlan plan6 = PlanReload(a6, b, ListenersOf(a6));
  ASSERT_EQ(plan6.config.obp.size(), 3u);
  EXPECT_TRUE(plan6.config.obp[0].target.v6);
}

// Kernel mode: a peer moving to [::] and an IPv6 target keeps its running IPv4 listener (the
// packet plane opened its sockets at start), which cannot reach the new target: the target is
// kept too, and the reload says so.
TEST(Reload, AKeptIpv4ListenerKeepsItsPeersIpv4Target) {
  const auto peer = [](const std::string& listen, const std::string& target) {
    return "[[obp]]\nname = \"a\"\nlisten = \"" + listen + "\"\ntarget = \"" + target +
           "\"\nnetwork_id = 2\npassphrase = \"k\"\n";
  };
  const HubConfig a = MustParse(std::string(kHub) + peer("0.0.0.0:62035", "198.18.0.2:62036"));
  const HubConfig b = MustParse(std::string(kHub) + peer("[::]:62035", "[2001:2::2]:62036"));
  const ReloadPlan plan = PlanReload(a, b, ListenersOf(a));
  ASSERT_EQ(plan.config.obp.size(), 1u);
  EXPECT_EQ(FormatEndpoint(plan.config.obp[0].listen), "0.0.0.0:62035");
  EXPECT_EQ(FormatEndpoint(plan.config.obp[0].target), "198.18.0.2:62036");
  EXPECT_THAT(plan.kept, Contains("peer a target 198.18.0.2:62036 -> [2001:2::2]:62036 (its "
                                  "running listen address 0.0.0.0:62035 cannot reach "
                                  "[2001:2::2]:62036)"));
}

// hbp.default_ua_timer_min is a number: a change past the sixth significant digit is one.
TEST(Reload, AUaTimerChangeInAnyDigitIsApplied) {
  const HubConfig a = MustParse(std::string(kHub) + "default_ua_timer_min = 1000000\n");
  const HubConfig b = MustParse(std::string(kHub) + "default_ua_timer_min = 1000001\n");
  const ReloadPlan plan = PlanReload(a, b, ListenersOf(a));
  EXPECT_THAT(plan.applied, Contains("hbp.default_ua_timer_min 1000000 -> 1000001"));
  EXPECT_TRUE(plan.appliers.contains(Applier::kSubscriptions));
  const HubConfig c = MustParse(std::string(kHub) + "default_ua_timer_min = 0.05\n");
  EXPECT_THAT(PlanReload(a, c, ListenersOf(a)).applied,
              Contains("hbp.default_ua_timer_min 1000000 -> 0.05"));
}

TEST(Reload, APeerOnANewAddressIsNotServedUntilARestartAndTheReloadSaysSo) {
  const HubConfig a = MustParse(std::string(kHub) + Peer("a", 62035, 62036));
  const HubConfig b =
      MustParse(std::string(kHub) + Peer("a", 62035, 62036) + Peer("b", 62045, 62037));
  const auto listeners = ListenersOf(a);
  const ReloadPlan plan = PlanReload(a, b, listeners);
  ASSERT_EQ(plan.config.obp.size(), 2u);
  EXPECT_EQ(PeerListener(plan.config.obp[1], listeners), route::kNoListener);
  EXPECT_THAT(plan.kept, Contains(HasSubstr("peer b is not served until a restart")));
}

TEST(Reload, APeerMovedToANewAddressKeepsItsRunningAddress) {
  const HubConfig a = MustParse(std::string(kHub) + Peer("a", 62035, 62036));
  const HubConfig b = MustParse(std::string(kHub) + Peer("a", 62045, 62036));
  const auto listeners = ListenersOf(a);
  const ReloadPlan plan = PlanReload(a, b, listeners);
  EXPECT_EQ(FormatEndpoint(plan.config.obp[0].listen), "127.0.0.1:62035");
  EXPECT_EQ(PeerListener(plan.config.obp[0], listeners), 1u);
  EXPECT_THAT(plan.kept, Contains(HasSubstr("peer a listen 127.0.0.1:62035 -> 127.0.0.1:62045")));
}

TEST(Reload, APeerMovedBetweenExistingListenersMoves) {
  const HubConfig a =
      MustParse(std::string(kHub) + Peer("a", 62035, 62036) + Peer("b", 62045, 62037));
  const HubConfig b =
      MustParse(std::string(kHub) + Peer("a", 62045, 62036) + Peer("b", 62045, 62037));
  const auto listeners = ListenersOf(a);
  const ReloadPlan plan = PlanReload(a, b, listeners);
  EXPECT_EQ(PeerListener(plan.config.obp[0], listeners), 2u);
  EXPECT_TRUE(plan.kept.empty());
  EXPECT_THAT(plan.applied, Contains("obp[0].listen 127.0.0.1:62035 -> 127.0.0.1:62045"));
}

TEST(Reload, NothingChangedNothingSaid) {
  const HubConfig a = MustParse(testing::kFullConfigA);
  const ReloadPlan plan = PlanReload(a, a, ListenersOf(a));
  EXPECT_TRUE(plan.applied.empty());
  EXPECT_TRUE(plan.kept.empty());
  EXPECT_TRUE(plan.appliers.empty());
}

}  // namespace
}  // namespace dmrswitch::cp
