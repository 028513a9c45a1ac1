// systemd's notify protocol against a real AF_UNIX datagram socket standing in for systemd's
// NOTIFY_SOCKET (that socket is the whole protocol): paths and abstract names, the sender's
// credentials systemd attributes messages by, the watchdog environment, never blocking.
#include "ctrlplane/report/sd_notify.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "tests/report/test_support.h"

namespace dmrswitch::cp::report {
namespace {

using testing::TempDir;

// A datagram socket bound where systemd would bind it, receiving with SO_PASSCRED as systemd
// does.
class FakeSystemd {
 public:
  explicit FakeSystemd(const std::string& address) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, address.data(), address.size());
    socklen_t len = offsetof(sockaddr_un, sun_path) + address.size();
    if (address[0] == '@') {
      un.sun_path[0] = '\0';
    } else {
      len += 1;
    }
    bound_ = bind(fd_, reinterpret_cast<sockaddr*>(&un), len) == 0;
  }
  ~FakeSystemd() { close(fd_); }
  bool bound() const { return bound_; }
  // The next datagram (or "" after a second); *pid is the sender's PID from SCM_CREDENTIALS.
  std::string Receive(pid_t* pid = nullptr) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 1000) != 1) return "";
    char data[4096];
    char control[CMSG_SPACE(sizeof(ucred))];
    iovec iov{data, sizeof(data)};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = recvmsg(fd_, &msg, 0);
    if (n < 0) return "";
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS && pid) {
        ucred cred;
        std::memcpy(&cred, CMSG_DATA(c), sizeof(cred));
        *pid = cred.pid;
      }
    }
    return std::string(data, static_cast<size_t>(n));
  }

 private:
  int fd_ = -1;
  bool bound_ = false;
};

void ExpectProtocol(const std::string& address) {
  FakeSystemd systemd(address);
  ASSERT_TRUE(systemd.bound()) << address;
  auto notifier = SystemdNotifier::ForSocket(address);
  ASSERT_TRUE(notifier.ok()) << notifier.status();
  EXPECT_TRUE(notifier->active());
  pid_t pid = 0;
  ASSERT_TRUE(notifier->Ready().ok());
  EXPECT_EQ(systemd.Receive(&pid), "READY=1");
  EXPECT_EQ(pid, getpid());
  ASSERT_TRUE(notifier->Status("3 clients\n2 calls").ok());
  EXPECT_EQ(systemd.Receive(), "STATUS=3 clients 2 calls");
  ASSERT_TRUE(notifier->Watchdog().ok());
  EXPECT_EQ(systemd.Receive(), "WATCHDOG=1");
  ASSERT_TRUE(notifier->Notify("READY=1\nSTATUS=reloaded").ok());
  EXPECT_EQ(systemd.Receive(), "READY=1\nSTATUS=reloaded");
  ASSERT_TRUE(notifier->Stopping().ok());
  EXPECT_EQ(systemd.Receive(), "STOPPING=1");
}

TEST(SdNotify, PathSocket) {
  TempDir dir;
  ExpectProtocol(dir.File("notify"));
}

TEST(SdNotify, AbstractSocket) {
  std::random_device rd;
  ExpectProtocol("@dmrswitch-test-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
}

TEST(SdNotify, EnvironmentSelectsTheSocket) {
  TempDir dir;
  FakeSystemd systemd(dir.File("env-notify"));
  ASSERT_TRUE(systemd.bound());
  setenv("NOTIFY_SOCKET", dir.File("env-notify").c_str(), 1);
  auto notifier = SystemdNotifier::FromEnvironment();
  ASSERT_TRUE(notifier.ok());
  ASSERT_TRUE(notifier->Ready().ok());
  EXPECT_EQ(systemd.Receive(), "READY=1");

  unsetenv("NOTIFY_SOCKET");
  auto outside = SystemdNotifier::FromEnvironment();
  ASSERT_TRUE(outside.ok());
  EXPECT_FALSE(outside->active());
  EXPECT_TRUE(outside->Ready().ok());  // a no-op outside systemd

  setenv("NOTIFY_SOCKET", "relative/path", 1);
  EXPECT_FALSE(SystemdNotifier::FromEnvironment().ok());
  unsetenv("NOTIFY_SOCKET");
}

TEST(SdNotify, MissingSocketIsReportedNotFatal) {
  TempDir dir;
  auto notifier = SystemdNotifier::ForSocket(dir.File("nobody-listens"));
  ASSERT_TRUE(notifier.ok());
  EXPECT_FALSE(notifier->Ready().ok());
}

// systemd may be slow to read; the hub must not wait for it.
TEST(SdNotify, AFullSocketDropsInsteadOfBlocking) {
  TempDir dir;
  FakeSystemd systemd(dir.File("full"));  // never read
  auto notifier = SystemdNotifier::ForSocket(dir.File("full"));
  ASSERT_TRUE(notifier.ok());
  bool dropped = false;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100000 && !dropped; ++i) dropped = !notifier->Watchdog().ok();
  EXPECT_TRUE(dropped);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(SdNotify, WatchdogInterval) {
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  EXPECT_FALSE(WatchdogInterval().has_value());
  setenv("WATCHDOG_USEC", "20000000", 1);
  ASSERT_TRUE(WatchdogInterval().has_value());
  EXPECT_EQ(*WatchdogInterval(), std::chrono::seconds(10));
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  EXPECT_EQ(*WatchdogInterval(), std::chrono::seconds(10));
  setenv("WATCHDOG_PID", std::to_string(getpid() + 1).c_str(), 1);  // meant for another process
  EXPECT_FALSE(WatchdogInterval().has_value());
  setenv("WATCHDOG_PID", "", 1);
  setenv("WATCHDOG_USEC", "soon", 1);
  EXPECT_FALSE(WatchdogInterval().has_value());
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
}

}  // namespace
}  // namespace dmrswitch::cp::report
