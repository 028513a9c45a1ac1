// A veth pair between two network namespaces this process creates ("hub": 198.18.0.1/24,
// "client": 198.18.0.2/24), and the traffic the XDP shield's namespace tests and benchmark send
// over it: a garbage flood, a well-formed 34 pps stream, ping, a TCP exchange. Nothing is sent
// anywhere else. The destructor deletes both namespaces (and with them the veth pair), also when
// a test fails half-way.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dmrswitch::io::testing {

inline constexpr uint32_t kLabHubIp = 0xC6120001;     // 198.18.0.1
inline constexpr uint32_t kLabClientIp = 0xC6120002;  // 198.18.0.2

// Runs a shell command (ip ...); its output goes to stderr of the test.
absl::Status Run(const std::string& command);

// Puts this process in a private mount namespace, so every bpffs it mounts and every pin it
// leaves disappears with it. Call once, before any thread starts.
absl::Status PrivateMountNamespace();

class VethLab {
 public:
  // tag: a few letters naming the user (interface and namespace names include the pid).
  static absl::StatusOr<std::unique_ptr<VethLab>> Create(std::string_view tag);
  ~VethLab();
  VethLab(const VethLab&) = delete;
  VethLab& operator=(const VethLab&) = delete;

  const std::string& hub_ns() const { return hub_ns_; }
  const std::string& client_ns() const { return client_ns_; }
  const std::string& hub_if() const { return hub_if_; }
  const std::string& client_if() const { return client_if_; }

  // Moves the calling thread into the hub namespace (sockets, if_nametoindex, libxdp's netlink
  // calls all act there afterwards). The destructor moves it back.
  absl::Status EnterHub();

  // Forks a child that enters the client namespace and returns fn()'s value as exit code.
  pid_t SpawnInClient(std::function<int()> fn) const;

 private:
  VethLab() = default;
  std::string hub_ns_, client_ns_, hub_if_, client_if_;
  int original_netns_ = -1;
};

// Waits for a child; its exit code, or 128 + signal, or -1.
int WaitChild(pid_t pid);

// Turns transmit checksum offload off (ethtool -K IF tx off) on an interface of the calling
// thread's namespace: a veth hands offloaded packets over with an unfinished checksum, which
// XDP programs then see as is.
absl::Status TxChecksumOff(const std::string& interface);

// In the client namespace (call from a SpawnInClient child):

// Sends garbage UDP datagrams (no valid tag, 20..60 bytes) to kLabHubIp:port as fast as
// sendmmsg allows for `duration`, from `src_port`. Returns how many the kernel accepted.
uint64_t FloodGarbage(uint16_t port, uint16_t src_port, std::chrono::nanoseconds duration);

// Sends well-formed 55-byte DMRD at `pps` for `count` frames from `src_port`, the stream's
// sequence number in bytes 4 and 20..23. Returns how many were sent.
uint64_t SendCall(uint16_t port, uint16_t src_port, uint32_t pps, uint32_t count);

// ICMP echo to the hub, `count` times; true when every one was answered within a second.
bool PingHub(int count);

// Connects to kLabHubIp:port, sends a line, expects it echoed back.
bool TcpEchoRoundTrip(uint16_t port);

// In the hub namespace (construct on a thread that is there): a TCP echo server on
// kLabHubIp:port, serving one line per connection until destroyed — the box's other services,
// which the shield must leave alone.
class TcpEchoServer {
 public:
  explicit TcpEchoServer(uint16_t port);
  ~TcpEchoServer();
  TcpEchoServer(const TcpEchoServer&) = delete;
  TcpEchoServer& operator=(const TcpEchoServer&) = delete;
  bool ok() const { return ok_; }

 private:
  void Serve();
  int fd_ = -1;
  bool ok_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Writes a 64-bit result to a pipe and reads it back (child → parent counts).
void WriteU64(int fd, uint64_t v);
uint64_t ReadU64(int fd);

}  // namespace dmrswitch::io::testing
