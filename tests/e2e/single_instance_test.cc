// End to end: one hub per runtime name and listening address (issue "safe to leave running",
// dataplane/io/instance_lock.h). Without the lock a second dmrswitch-dp binds the same port with
// SO_REUSEPORT and the kernel splits the clients between two hubs that know nothing of each
// other; with it the second refuses and names the first. A hub killed with -9 is no reason to
// refuse: the next one starts.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/e2e/hub_process.h"
#include "tools/sim/hbp_client.h"

namespace dmrswitch::e2e {
namespace {

using sim::HbpClient;
using sim::HbpClientOptions;

class SingleInstanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "dsw-single-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    run_dir_ = tmpl;
    port_ = FreeUdpPort();
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(run_dir_, ec);
  }
  // Every hub of a test shares one run directory, as every hub on a machine shares
  // /run/dmrswitch.
  std::string Toml(const std::string& runtime_name, const std::string& listen) const {
    return absl::StrCat("[hub]\nrun_dir = \"", run_dir_, "\"\nruntime_name = \"", runtime_name,
                        "\"\nmode = \"kernel\"\nshards = 2\n[hbp]\nlisten = \"", listen,
                        "\"\npassphrase = \"passw0rd\"\n");
  }
  std::string Loopback() const { return absl::StrCat("127.0.0.1:", port_); }
  // A client logging in to the hub on 127.0.0.1:port_.
  absl::Status LogsIn(uint32_t id) const {
    HbpClientOptions o;
    o.id = id;
    o.passphrase = "passw0rd";
    o.hub = {"127.0.0.1", port_};
    HbpClient c(o);
    return c.Login(absl::Seconds(5));
  }
  std::string run_dir_;
  uint16_t port_ = 0;
};

TEST_F(SingleInstanceTest, ASecondHubWithTheSameConfigurationRefusesAndNamesTheFirst) {
  auto first = HubProcess::Start(Toml("dmrswitch", Loopback()));
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = HubProcess::RunToExit(Toml("dmrswitch", Loopback()), absl::Seconds(10));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(second->first, 0);
  EXPECT_NE(second->second.find(absl::StrCat("runtime name \"dmrswitch\" is already served by pid ",
                                             (*first)->pid())),
            std::string::npos)
      << second->second;
  EXPECT_NE(second->second.find("config " + (*first)->config_path()), std::string::npos)
      << second->second;

  // The first hub still serves alone: a client logs in and stays.
  EXPECT_EQ(LogsIn(3120001), absl::OkStatus());
}

TEST_F(SingleInstanceTest, AnotherRuntimeNameOnAnAddressAlreadyServedIsRefused) {
  auto first = HubProcess::Start(Toml("hub-a", Loopback()));
  ASSERT_TRUE(first.ok()) << first.status();
  for (const std::string& listen : {Loopback(), absl::StrCat("0.0.0.0:", port_)}) {
    auto second = HubProcess::RunToExit(Toml("hub-b", listen), absl::Seconds(10));
    ASSERT_TRUE(second.ok()) << second.status();
    EXPECT_NE(second->first, 0) << listen;
    EXPECT_NE(second->second.find(
                  absl::StrCat("UDP ", listen, " is already served by pid ", (*first)->pid())),
              std::string::npos)
        << second->second;
  }
  // Another port is another hub.
  const uint16_t other = FreeUdpPort();
  auto third = HubProcess::Start(Toml("hub-c", absl::StrCat("127.0.0.1:", other)));
  EXPECT_TRUE(third.ok()) << third.status();
}

// Two run directories share no lock file: the second hub finds the first's bound socket instead.
TEST_F(SingleInstanceTest, AHubWithAnotherRunDirectoryOnAServedPortIsRefused) {
  auto first = HubProcess::Start(Toml("dmrswitch", Loopback()));
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string other_dir = run_dir_ + "/elsewhere";
  for (const std::string& listen : {Loopback(), absl::StrCat("0.0.0.0:", port_)}) {
    std::string toml = Toml("dmrswitch", listen);
    const std::string from = absl::StrCat("run_dir = \"", run_dir_, "\"");
    toml.replace(toml.find(from), from.size(), absl::StrCat("run_dir = \"", other_dir, "\""));
    auto second = HubProcess::RunToExit(toml, absl::Seconds(10));
    ASSERT_TRUE(second.ok()) << second.status();
    EXPECT_NE(second->first, 0) << listen;
    EXPECT_NE(second->second.find(
                  absl::StrCat("UDP ", listen, " is already bound by pid ", (*first)->pid(), " (")),
              std::string::npos)
        << second->second;
  }
  // The first hub still serves alone.
  EXPECT_EQ(LogsIn(3120003), absl::OkStatus());
}

// What a killed hosted kernel-mode dp leaves is cleared by the next start: its lock is stale,
// and its EAL runtime directory (dmrswitch-dp-<pid>, with EAL's telemetry socket) is removed, as
// is one whose PID now names another program; a running dp's stays.
TEST_F(SingleInstanceTest, AHubKilledWithSigkillDoesNotBlockTheNextOne) {
  ASSERT_EQ(::getuid(), 0u) << "EAL's runtime directories are under /var/run/dpdk for root";
  const auto eal_dir = [](pid_t pid) {
    return std::filesystem::path("/var/run/dpdk") / absl::StrCat("dmrswitch-dp-", pid);
  };
  auto first = HubProcess::Start(Toml("dmrswitch", Loopback()));
  ASSERT_TRUE(first.ok()) << first.status();
  const pid_t first_pid = (*first)->pid();
  (*first)->Kill();
  ASSERT_TRUE(std::filesystem::exists(run_dir_ + "/dmrswitch.lock")) << "a stale lock file";
  EXPECT_TRUE(std::filesystem::exists(eal_dir(first_pid))) << "EAL left no runtime directory";
  // This test's own PID: alive, but no dmrswitch-dp.
  std::filesystem::create_directories(eal_dir(::getpid()));
  auto other_port = FreeUdpPort();
  auto running = HubProcess::Start(Toml("other", absl::StrCat("127.0.0.1:", other_port)));
  ASSERT_TRUE(running.ok()) << running.status();
  auto next = HubProcess::Start(Toml("dmrswitch", Loopback()));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(LogsIn(3120002), absl::OkStatus());
  EXPECT_FALSE(std::filesystem::exists(eal_dir(first_pid)));
  EXPECT_FALSE(std::filesystem::exists(eal_dir(::getpid())));
  EXPECT_TRUE(std::filesystem::exists(eal_dir((*running)->pid())));
  EXPECT_TRUE(std::filesystem::exists(eal_dir((*next)->pid())));
  std::error_code ec;
  std::filesystem::remove_all(eal_dir(::getpid()), ec);
}

}  // namespace
}  // namespace dmrswitch::e2e
