// InstanceLock: one hub per runtime name and per listening address; a killed holder leaves no
// held lock. Real flock(2) locks in a scratch run directory; within one process, two Acquire()s
// conflict exactly as two processes would (flock locks belong to open file descriptions).
#include "dataplane/io/instance_lock.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"

namespace dmrswitch::io {
namespace {

using ::testing::HasSubstr;

constexpr route::Endpoint Ep(uint32_t ip, uint16_t port) { return {ip, port}; }
constexpr uint32_t kLoopback = 0x7F000001;
constexpr uint32_t kOther = 0xC6120001;  // 198.18.0.1

class InstanceLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "dsw-lock-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  InstanceIdentity Id(std::string runtime, std::vector<route::Endpoint> listeners) const {
    return InstanceIdentity{dir_ + "/run", std::move(runtime), "/etc/dmrswitch/hub.toml",
                            std::move(listeners)};
  }
  std::string dir_;
};

TEST_F(InstanceLockTest, ASecondHubWithTheSameRuntimeNameIsRefusedAndTheFirstIsNamed) {
  auto a = InstanceLock::Acquire(Id("hub", {Ep(kLoopback, 62031)}));
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = InstanceLock::Acquire(Id("hub", {Ep(kLoopback, 62099)}));
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string msg(b.status().message());
  EXPECT_THAT(msg, HasSubstr("runtime name \"hub\" is already served by pid " +
                             std::to_string(::getpid())));
  EXPECT_THAT(msg, HasSubstr("config /etc/dmrswitch/hub.toml"));
  EXPECT_THAT(msg, HasSubstr("instance_lock_test")) << "the holder's command line";
}

TEST_F(InstanceLockTest, TheSameAddressUnderAnotherRuntimeNameIsRefused) {
  auto a = InstanceLock::Acquire(Id("a", {Ep(kLoopback, 62031), Ep(kLoopback, 62035)}));
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = InstanceLock::Acquire(Id("b", {Ep(kLoopback, 62035)}));
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(std::string(b.status().message()),
              HasSubstr("UDP 127.0.0.1:62035 is already served by pid"));
}

TEST_F(InstanceLockTest, AWildcardListenerConflictsWithEveryAddressOnItsPort) {
  auto a = InstanceLock::Acquire(Id("a", {Ep(0, 62031)}));
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = InstanceLock::Acquire(Id("b", {Ep(kOther, 62031)}));
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(std::string(b.status().message()), HasSubstr("UDP 198.18.0.1:62031"));
  auto c = InstanceLock::Acquire(Id("c", {Ep(0, 62031)}));
  EXPECT_FALSE(c.ok());
  // And the other way round: a specific address first, then the wildcard.
  auto d = InstanceLock::Acquire(Id("d", {Ep(kOther, 40000)}));
  ASSERT_TRUE(d.ok()) << d.status();
  auto e = InstanceLock::Acquire(Id("e", {Ep(0, 40000)}));
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(std::string(e.status().message()), HasSubstr("UDP 0.0.0.0:40000"));
}

TEST_F(InstanceLockTest, TwoHubsOnDifferentAddressesOfOnePortCoexist) {
  auto a = InstanceLock::Acquire(Id("a", {Ep(kLoopback, 62031)}));
  auto b = InstanceLock::Acquire(Id("b", {Ep(kOther, 62031)}));
  EXPECT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(b.ok()) << b.status();
}

TEST_F(InstanceLockTest, ARefusalTakesNothingAndAReleasedLockIsFreeAgain) {
  auto a = InstanceLock::Acquire(Id("a", {Ep(kLoopback, 1000)}));
  ASSERT_TRUE(a.ok());
  // "b" gets its runtime lock and then fails on the address: it must not keep the runtime lock.
  EXPECT_FALSE(InstanceLock::Acquire(Id("b", {Ep(kLoopback, 1000)})).ok());
  EXPECT_TRUE(InstanceLock::Acquire(Id("b", {Ep(kLoopback, 2000)})).ok());
  *a = InstanceLock::Acquire(Id("z", {})).value();  // the move releases a's locks
  EXPECT_TRUE(InstanceLock::Acquire(Id("a", {Ep(kLoopback, 1000)})).ok());
}

TEST_F(InstanceLockTest, AHubKilledWithSigkillLeavesNoHeldLock) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto held = InstanceLock::Acquire(Id("hub", {Ep(kLoopback, 62031)}));
    const char c = held.ok() ? 'y' : 'n';
    [[maybe_unused]] ssize_t n = ::write(ready[1], &c, 1);
    ::pause();
    std::_Exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  auto refused = InstanceLock::Acquire(Id("hub", {Ep(kLoopback, 62031)}));
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("pid " + std::to_string(child)));
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ::close(ready[0]);
  ::close(ready[1]);
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/run/hub.lock")) << "the file stays behind";
  auto after = InstanceLock::Acquire(Id("hub", {Ep(kLoopback, 62031)}));
  EXPECT_TRUE(after.ok()) << after.status();
}

// A bound UDP socket (SO_REUSEPORT, as a hub's) on 127.0.0.1 and a free port; -1 on failure.
int BoundUdp(uint16_t* port) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const int yes = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof(yes));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sa);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    ::close(fd);
    return -1;
  }
  *port = ntohs(sa.sin_port);
  return fd;
}

// A hub with another run directory takes none of the same locks: the socket a process already
// bound is what gives it away, and the refusal names that process.
TEST_F(InstanceLockTest, AKernelHubRefusesAPortAlreadyBoundWhateverItsRunDirectory) {
  uint16_t port = 0;
  const int fd = BoundUdp(&port);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  for (uint32_t ip : {kLoopback, 0u}) {
    InstanceIdentity id = Id(absl::StrCat("hub-", ip), {Ep(ip, port)});
    id.kernel_sockets = true;
    auto r = InstanceLock::Acquire(id);
    ASSERT_FALSE(r.ok()) << ip;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(r.status().message()),
                HasSubstr(absl::StrCat(" is already bound by pid ", ::getpid(), " (")));
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("instance_lock_test"));
  }
  // Another address of the port, another port, or a hub that binds no kernel socket: free.
  InstanceIdentity other =
      Id("other", {Ep(kOther, port), Ep(kLoopback, port == 65535 ? 1 : port + 1)});
  other.kernel_sockets = true;
  EXPECT_TRUE(InstanceLock::Acquire(other).ok());
  EXPECT_TRUE(InstanceLock::Acquire(Id("dpdk", {Ep(kLoopback, port)})).ok());
  ::close(fd);
  InstanceIdentity after = Id("after", {Ep(0, port)});
  after.kernel_sockets = true;
  EXPECT_TRUE(InstanceLock::Acquire(after).ok()) << "the socket is closed";
}

TEST_F(InstanceLockTest, AnUnusableRunDirectoryIsNamed) {
  InstanceIdentity id = Id("hub", {});
  id.run_dir = "/proc/dmrswitch-cannot-exist";
  auto r = InstanceLock::Acquire(id);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("cannot create the run directory /proc/dmrswitch-cannot-exist"));
}

}  // namespace
}  // namespace dmrswitch::io
