// CtlServer against real Unix-socket clients: the socket's mode, who may connect, half-closed
// requests, idle and oversized clients, a full house, and answers that never block.
#include "ctrlplane/ctl_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

namespace dmrswitch::cp {
namespace {

using ::testing::HasSubstr;

class CtlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "dsw-ctl-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/ctl.sock";
  }
  void TearDown() override {
    server_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void Start(CtlServerLimits limits = {}) {
    auto s = CtlServer::Listen(path_, limits);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
  }
  int Connect() const {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path_.c_str());
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0)
        << std::strerror(errno);
    return fd;
  }
  static void Send(int fd, const std::string& s) {
    ASSERT_EQ(send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
  }
  // Reads until EOF or 2 s.
  static std::string ReadAll(int fd) {
    std::string out;
    char buf[4096];
    for (;;) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 2000) <= 0) break;
      const ssize_t n = read(fd, buf, sizeof(buf));
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  // Polls the server until it hands out `n` requests (or 2 s).
  std::vector<CtlRequest> PollFor(size_t n) {
    std::vector<CtlRequest> got;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (got.size() < n && std::chrono::steady_clock::now() < until) {
      for (CtlRequest& r : server_->Poll()) got.push_back(std::move(r));
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return got;
  }

  std::string dir_, path_;
  std::unique_ptr<CtlServer> server_;
};

TEST_F(CtlServerTest, TheSocketIs0660WhateverTheUmask) {
  const mode_t old = umask(0);
  Start();
  umask(old);
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_EQ(st.st_gid, getegid());
}

// A run directory that is set-group-ID to another group would give the socket that group: the
// server keeps its own.
TEST_F(CtlServerTest, TheSocketBelongsToTheHubsGroupEvenInASetGidDirectory) {
  const gid_t other = getegid() == 65534 ? 0 : 65534;  // nogroup
  if (getuid() != 0) GTEST_SKIP() << "giving the directory another group needs root";
  ASSERT_EQ(chown(dir_.c_str(), static_cast<uid_t>(-1), other), 0) << std::strerror(errno);
  ASSERT_EQ(chmod(dir_.c_str(), 02770), 0) << std::strerror(errno);
  Start();
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, getegid()) << "not the directory's group " << other;
  EXPECT_EQ(st.st_mode & 0777, 0660u);
}

TEST_F(CtlServerTest, AHalfClosedRequestIsStillAnswered) {
  Start();
  const int fd = Connect();
  Send(fd, "{\"cmd\":\"drain\"}");  // no newline: the half-close ends the request
  ASSERT_EQ(shutdown(fd, SHUT_WR), 0);
  auto got = PollFor(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body["cmd"], "drain");
  server_->Poll();  // the answer is pending: the EOF must not close the connection
  server_->Reply(got[0].connection, {{"ok", true}, {"idle", true}});
  EXPECT_EQ(ReadAll(fd), "{\"idle\":true,\"ok\":true}\n");
  close(fd);
}

TEST_F(CtlServerTest, AConnectionWithoutARequestIsClosedAfterTheIdleTimeout) {
  Start({.idle_timeout = absl::Milliseconds(100)});
  const int idle = Connect();
  Send(idle, "{\"cmd\":");  // a slow-loris start
  server_->Poll();
  EXPECT_EQ(server_->connections(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  server_->Poll();
  EXPECT_EQ(server_->connections(), 0u);
  EXPECT_THAT(ReadAll(idle), HasSubstr("no request in time"));
  EXPECT_EQ(server_->counters().closed_idle, 1u);
  close(idle);
}

TEST_F(CtlServerTest, BeyondTheLimitAClientIsRefusedClearlyAndTheOthersAreServed) {
  Start({.max_connections = 2});
  const int a = Connect(), b = Connect();
  server_->Poll();
  const int c = Connect();
  server_->Poll();
  EXPECT_THAT(ReadAll(c), HasSubstr("busy: 2 control connections are open"));
  EXPECT_EQ(server_->counters().refused_full, 1u);
  Send(a, "{\"cmd\":\"status\"}\n");
  auto got = PollFor(1);
  ASSERT_EQ(got.size(), 1u);
  server_->Reply(got[0].connection, {{"ok", true}});
  EXPECT_EQ(ReadAll(a), "{\"ok\":true}\n");
  close(a);
  close(b);
  close(c);
}

TEST_F(CtlServerTest, AnOversizedRequestIsRefused) {
  Start({.max_request_bytes = 64});
  const int fd = Connect();
  Send(fd, std::string(200, 'x'));
  server_->Poll();
  EXPECT_THAT(ReadAll(fd), HasSubstr("request longer than 64 bytes"));
  EXPECT_EQ(server_->counters().refused_too_long, 1u);
  close(fd);
}

TEST_F(CtlServerTest, AClientThatDoesNotReadCannotBlockAnAnswer) {
  Start({.idle_timeout = absl::Milliseconds(300)});
  const int fd = Connect();
  int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  Send(fd, "{\"cmd\":\"status\"}\n");
  auto got = PollFor(1);
  ASSERT_EQ(got.size(), 1u);
  // No clock here (a timed assertion fails on a loaded or sanitized build): a Reply that waited
  // for this client would come back only after giving up on it, with the connection closed and
  // the answer counted as not sent. Coming back with both untouched means it did not wait.
  server_->Reply(got[0].connection, {{"ok", true}, {"big", std::string(8 << 20, 'x')}});
  EXPECT_EQ(server_->connections(), 1u);
  EXPECT_EQ(server_->counters().answers_not_sent, 0u);
  // The rest waits for the client, which never reads: after idle_timeout it is dropped.
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  server_->Poll();
  EXPECT_EQ(server_->connections(), 0u);
  EXPECT_EQ(server_->counters().answers_not_sent, 1u);
  close(fd);
}

// A long answer (a big lastheard) reaches a client that reads it, a piece per Poll, whole.
TEST_F(CtlServerTest, ALongAnswerIsSentAsTheClientReadsIt) {
  Start();
  const int fd = Connect();
  Send(fd, "{\"cmd\":\"lastheard\"}\n");
  auto got = PollFor(1);
  ASSERT_EQ(got.size(), 1u);
  const std::string big(4 << 20, 'y');
  server_->Reply(got[0].connection, {{"ok", true}, {"big", big}});
  std::string in;
  char buf[65536];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    server_->Poll();
    const ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) in.append(buf, static_cast<size_t>(n));
    if (n == 0) break;  // closed: the answer is complete
  }
  EXPECT_EQ(in, nlohmann::json({{"ok", true}, {"big", big}}).dump() + "\n");
  EXPECT_EQ(server_->connections(), 0u);
  EXPECT_EQ(server_->counters().answers_not_sent, 0u);
  close(fd);
}

// Another user: mode 0660 keeps it out at connect(); were the file opened up (chmod 0666), the
// peer-credential check still refuses it.
TEST_F(CtlServerTest, AnotherUserIsKeptOut) {
  ASSERT_EQ(geteuid(), 0u) << "this test switches to user nobody and must start as root";
  Start();
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  const auto as_nobody = [&](bool open_up) {
    if (open_up) chmod(path_.c_str(), 0666);
    int out[2];
    EXPECT_EQ(pipe(out), 0);
    const pid_t child = fork();
    if (child == 0) {
      close(out[0]);
      if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(9);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strcpy(addr.sun_path, path_.c_str());
      const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
      std::string result;
      if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        result = std::string("connect: ") + std::strerror(errno);
      } else {
        result = ReadAll(fd);
      }
      [[maybe_unused]] ssize_t n = write(out[1], result.data(), result.size());
      _exit(0);
    }
    close(out[1]);
    std::string result;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (std::chrono::steady_clock::now() < until) {
      server_->Poll();
      pollfd p{out[0], POLLIN, 0};
      if (poll(&p, 1, 10) > 0) {
        result = ReadAll(out[0]);
        break;
      }
    }
    close(out[0]);
    int status = 0;
    waitpid(child, &status, 0);
    return result;
  };
  EXPECT_EQ(as_nobody(false), "connect: Permission denied");
  EXPECT_THAT(as_nobody(true), HasSubstr("permission denied"));
  EXPECT_EQ(server_->counters().refused_peer, 1u);
}

}  // namespace
}  // namespace dmrswitch::cp
