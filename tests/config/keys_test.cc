// The configuration key table (ctrlplane/config/keys.h) against everything that must agree with
// it: the parser's defaults and the keys it reads, the enum spellings, docs/config.md, and the
// reload planner (reload_test.cc does the reload semantics).
#include "ctrlplane/config/keys.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ctrlplane/config/config.h"
#include "ctrlplane/config/reload.h"
#include "tests/config/full_configs.h"

namespace dmrswitch::cp {
namespace {

using ::testing::HasSubstr;

std::string Normalise(const std::string& path) {
  std::string out;
  bool in_index = false;
  for (char c : path) {
    if (c == '[') in_index = true;
    if (!in_index || c == '[' || c == ']') out += c;
    if (c == ']') in_index = false;
  }
  return out;
}

// Tables and arrays of tables: paths the parser asks for that are not keys.
const std::set<std::string> kContainers = {
    "hub", "hbp", "hbp.static", "hbp.fixed_client", "acl", "obp", "dpdk", "xdp", "fbp", "report"};

TEST(ConfigKeys, PathsAreUniqueAndEveryKeyIsFoundByItsPath) {
  std::set<std::string_view> seen;
  for (const ConfigKey* k : AllConfigKeys()) {
    EXPECT_TRUE(seen.insert(k->path).second) << k->path << " twice";
    EXPECT_EQ(FindConfigKey(k->path), k);
    EXPECT_EQ(k->reload == ReloadClass::kRestart, k->applier == Applier::kNone)
        << k->path << ": live keys name their applier, restart keys none";
  }
  EXPECT_EQ(FindConfigKey("obp[3].target"), &keys::kObpTarget);
  EXPECT_EQ(FindConfigKey("hub.nonsense"), nullptr);
}

TEST(ConfigKeys, TheParserReadsExactlyTheKeysOfTheTable) {
  std::vector<std::string> read;
  auto c = ParseConfig(testing::kFullConfigA, "a.toml", &read);
  ASSERT_TRUE(c.ok()) << c.status();
  std::set<std::string> parser_keys;
  for (const std::string& p : read) {
    const std::string n = Normalise(p);
    if (!kContainers.contains(n)) parser_keys.insert(n);
  }
  std::set<std::string> table_keys;
  for (const ConfigKey* k : AllConfigKeys()) table_keys.insert(std::string(k->path));
  EXPECT_EQ(parser_keys, table_keys);
}

TEST(ConfigKeys, AFileWithOnlyAPassphraseHasTheTableDefaults) {
  // The smallest valid file: an empty one is refused for its missing passphrase.
  auto c = ParseConfig("[hbp]\npassphrase = \"p\"\n", "minimal.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  std::map<std::string, std::string> flat;
  for (const auto& [p, v] : FlattenConfig(*c)) flat[p] = v;
  for (const ConfigKey* k : AllConfigKeys()) {
    if (k->path.find("[]") != std::string_view::npos) continue;  // no elements in an empty file
    SCOPED_TRACE(std::string(k->path));
    if (k == &keys::kHbpPassphrase) continue;  // the one key the file sets
    ASSERT_TRUE(flat.contains(std::string(k->path)));
    const std::string& v = flat[std::string(k->path)];
    switch (k->type) {
      case KeyType::kInteger:
        EXPECT_EQ(v, std::to_string(k->int_default));
        break;
      case KeyType::kNumber:
        EXPECT_EQ(std::stod(v), k->number_default);
        break;
      case KeyType::kBoolean:
        EXPECT_EQ(v, k->bool_default ? "true" : "false");
        break;
      case KeyType::kString:
        EXPECT_EQ(v, k->text_default);
        break;
      case KeyType::kEnum:
      case KeyType::kListener:
        EXPECT_EQ(v, k->text_default);
        break;
      case KeyType::kAcl: {
        auto acl =
            route::Acl::Parse(std::string(k->text_default),
                              k == &keys::kAclReg ? route::Acl::kRegMin : route::Acl::kSubTgMin,
                              k == &keys::kAclReg ? route::Acl::kRegMax : route::Acl::kSubTgMax);
        ASSERT_TRUE(acl.ok()) << acl.status();
        EXPECT_EQ(v, acl->ToString());
        break;
      }
      case KeyType::kStringList:
        EXPECT_EQ(v, "[]");
        break;
      case KeyType::kIpv4:
        EXPECT_EQ(v, "0.0.0.0") << "no address until configured";
        break;
      case KeyType::kIpv6:
        EXPECT_EQ(v, "none") << "no IPv6 address until configured";
        break;
      case KeyType::kMac:
        EXPECT_EQ(v, "none");
        break;
      case KeyType::kTarget:
      case KeyType::kTgList:
        ADD_FAILURE() << "only array elements have these types";
        break;
    }
  }
}

TEST(ConfigKeys, ElementDefaultsAreTheTables) {
  auto c = ParseConfig(
      "[hub]\nserver_id = 1\n[hbp]\npassphrase = \"p\"\n[[hbp.static]]\nclient = "
      "7\n[[hbp.fixed_client]]\nid = 8\n"
      "address = \"198.18.1.1:1\"\n[[obp]]\nname = \"p\"\nlisten = \"127.0.0.1:62035\"\n"
      "target = \"127.0.0.1:62036\"\nnetwork_id = 2\npassphrase = \"k\"\n",
      "elements.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  const ObpPeer& p = c->obp[0];
  EXPECT_EQ(p.version, keys::kObpVersion.int_default);
  EXPECT_EQ(p.keepalive_s, keys::kObpKeepaliveS.int_default);
  EXPECT_EQ(p.dead_after_s, keys::kObpDeadAfterS.int_default);
  EXPECT_EQ(p.bcve_interval_s, keys::kObpBcveIntervalS.int_default);
  EXPECT_EQ(p.relax_checks, keys::kObpRelaxChecks.bool_default);
  EXPECT_EQ(p.use_acl, keys::kObpUseAcl.bool_default);
  EXPECT_TRUE(p.relay) << "keys::kObpRelay: true for version 5";
  EXPECT_EQ(p.sub_acl.ToString(), DefaultAcl(keys::kObpSubAcl).ToString());
  EXPECT_EQ(p.tgid_acl.ToString(), DefaultAcl(keys::kObpTgidAcl).ToString());
  const FixedClient& f = c->hbp.fixed_clients[0];
  EXPECT_EQ(f.slots, '0' + keys::kFixedSlots.int_default);
  EXPECT_EQ(f.options, keys::kFixedOptions.text_default);
  EXPECT_EQ(f.callsign, keys::kFixedCallsign.text_default);
  EXPECT_TRUE(c->hbp.statics[0].ts[0].empty());
}

template <typename E, size_t N>
std::string Choices(const std::pair<std::string_view, E> (&names)[N]) {
  std::string out;
  for (const auto& [name, v] : names) {
    if (!out.empty()) out.push_back('|');
    out.append(name);
  }
  return out;
}

TEST(ConfigKeys, EnumChoicesAreTheParsersSpellings) {
  EXPECT_EQ(keys::kHubMode.choices, Choices(kHubModeNames));
  EXPECT_EQ(keys::kHubControlPlane.choices, Choices(kControlPlaneNames));
  EXPECT_EQ(keys::kHubSteering.choices, Choices(kSteeringNames));
  EXPECT_EQ(keys::kHbpActivateOn.choices, Choices(kActivateOnNames));
  EXPECT_EQ(keys::kObpIdMode.choices, Choices(kIdModeNames));
  EXPECT_EQ(keys::kXdpAttach.choices, Choices(kXdpAttachNames));
}

TEST(ConfigKeys, RangesAreEnforcedAtBothEnds) {
  // Every integer key of a section (not of an array element), just outside its range.
  for (const ConfigKey* k : AllConfigKeys()) {
    if (k->type != KeyType::kInteger || k->path.find("[]") != std::string_view::npos) continue;
    const std::string_view path = k->path;
    const size_t dot = path.find('.');
    const std::string section(path.substr(0, dot));
    for (const int64_t bad : {k->min - 1, k->max + 1}) {
      const std::string toml =
          "[" + section + "]\n" + std::string(k->name()) + " = " + std::to_string(bad) + "\n";
      auto c = ParseConfig(toml, "range.toml");
      ASSERT_FALSE(c.ok()) << toml;
      EXPECT_THAT(std::string(c.status().message()),
                  HasSubstr("must be in " + std::to_string(k->min) + ".." + std::to_string(k->max)))
          << toml;
    }
  }
}

// docs/config.md: one table row per key, whose Type, Default and Reload columns are the table's.
TEST(ConfigKeys, DocsConfigMdShowsEveryKeyAsTheTableDeclaresIt) {
  const char* root = std::getenv("DMRSWITCH_SOURCE_ROOT");
  ASSERT_NE(root, nullptr) << "DMRSWITCH_SOURCE_ROOT is not set (run the test through meson)";
  std::ifstream in(std::string(root) + "/docs/config.md");
  ASSERT_TRUE(in.good());
  std::map<std::string, std::vector<std::string>> rows;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("| `", 0) != 0) continue;
    std::vector<std::string> cells;
    std::string cell;
    for (size_t i = 1; i < line.size(); ++i) {
      // "\|" inside a cell is an escaped bar, not a column boundary.
      if (line[i] == '|' && line[i - 1] != '\\') {
        while (!cell.empty() && cell.back() == ' ') cell.pop_back();
        while (!cell.empty() && cell.front() == ' ') cell.erase(cell.begin());
        cells.push_back(cell);
        cell.clear();
      } else {
        cell += line[i];
      }
    }
    if (cells.size() != 5 || cells[0].size() < 3) continue;
    const std::string key = cells[0].substr(1, cells[0].size() - 2);
    EXPECT_FALSE(rows.contains(key)) << key << " has two rows";
    rows[key] = cells;
  }
  for (const ConfigKey* k : AllConfigKeys()) {
    const std::string path(k->path);
    SCOPED_TRACE(path);
    ASSERT_TRUE(rows.contains(path)) << "docs/config.md has no row for `" << path << "`";
    const std::vector<std::string>& r = rows[path];
    EXPECT_EQ(r[1], TypeText(*k)) << "Type";
    EXPECT_EQ(r[2], DefaultText(*k)) << "Default";
    EXPECT_EQ(r[4], ReloadText(*k)) << "Reload";
    rows.erase(path);
  }
  for (const auto& [key, r] : rows) ADD_FAILURE() << "docs/config.md documents unknown key " << key;
}

}  // namespace
}  // namespace dmrswitch::cp
