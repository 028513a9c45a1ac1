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
