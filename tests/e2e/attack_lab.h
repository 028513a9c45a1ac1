// Spoofed sources for the end-to-end attack tests (issue 14), as an internet attacker would send
// them: raw IPv4/UDP datagrams claiming any source address.
//
// EnterAttackNetwork() moves the test process into a network namespace of its own, where
// loopback carries 127.0.0.0/8 and all of 198.18.0.0/15 (a local prefix route on `lo`): a packet
// may claim any 198.18.x.y source, the hub's answers to such sources are delivered back into the
// namespace and never leave the machine, and the namespace ends with the process — nothing to
// clean up, after a failure either. Hubs (HubProcess) and simulated clients started afterwards
// live in it too.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dmrswitch::e2e {

// Once per process; later calls return the first call's result.
absl::Status EnterAttackNetwork();

// 198.18.0.0 + n (n < 131072), host byte order, and as a dotted string.
uint32_t LabIp(uint32_t n);
std::string LabHost(uint32_t n);
inline constexpr uint32_t kLoopbackIp = 0x7F000001;

// One UDP datagram with the source an attacker chose.
struct SpoofedDatagram {
  uint32_t src_ip = 0;  // host byte order
  uint16_t src_port = 0;
  std::vector<uint8_t> payload;
};

// A raw socket (IPPROTO_RAW, IP_HDRINCL) sending UDP datagrams to one destination from any
// source.
class Spoofer {
 public:
  static absl::StatusOr<Spoofer> Open(uint32_t dst_ip, uint16_t dst_port);
  Spoofer(Spoofer&& o) noexcept;
  Spoofer& operator=(Spoofer&& o) noexcept;
  Spoofer(const Spoofer&) = delete;
  ~Spoofer();

  absl::Status Send(const SpoofedDatagram& d);
  // Several at once (sendmmsg); returns how many went out.
  absl::StatusOr<size_t> SendBatch(std::span<const SpoofedDatagram> batch);

 private:
  Spoofer() = default;
  int fd_ = -1;
  uint32_t dst_ip_ = 0;
  uint16_t dst_port_ = 0;
};

// `make(i)` for i = 0, 1, 2, ... sent at `per_second` (in 1 ms batches) from a thread of its own
// until Stop() or destruction.
class Flood {
 public:
  Flood(uint32_t dst_ip, uint16_t dst_port, double per_second,
        std::function<SpoofedDatagram(uint64_t)> make);
  ~Flood();
  Flood(const Flood&) = delete;
  void Stop();
  uint64_t sent() const { return sent_.load(); }
  absl::Status status() const;  // the socket's first error, if any

 private:
  void Run(uint32_t dst_ip, uint16_t dst_port, double per_second);

  std::function<SpoofedDatagram(uint64_t)> make_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> sent_{0};
  std::string error_;  // written by the thread before it ends
  std::thread thread_;
};

// Watches every UDP datagram delivered in the namespace (a raw IPPROTO_UDP socket) and counts,
// for the hub's port, the requests from 198.18.0.0/15 and the hub's answers to it.
class UdpTap {
 public:
  explicit UdpTap(uint16_t hub_port);
  ~UdpTap();
  UdpTap(const UdpTap&) = delete;
  void Stop();
  absl::Status status() const { return status_; }
  uint64_t requests() const { return requests_.load(); }
  uint64_t request_bytes() const { return request_bytes_.load(); }
  uint64_t replies() const { return replies_.load(); }
  uint64_t reply_bytes() const { return reply_bytes_.load(); }
  uint64_t largest_reply() const { return largest_reply_.load(); }  // UDP payload bytes

 private:
  void Run();

  uint16_t hub_port_;
  int fd_ = -1;
  absl::Status status_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> requests_{0}, request_bytes_{0}, replies_{0}, reply_bytes_{0},
      largest_reply_{0};
  std::thread thread_;
};

}  // namespace dmrswitch::e2e
