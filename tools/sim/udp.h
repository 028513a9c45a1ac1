// Plain POSIX UDP (IPv4 and IPv6) for the simulator, and a single-threaded poll loop over several
// endpoints: the caller drives time, nothing runs in the background.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace dmrswitch::sim {

struct Endpoint {
  // Constructors rather than an aggregate: gcc 12 reports a false -Wmaybe-uninitialized when an
  // aggregate holding a std::string is defaulted inside a designated initializer.
  Endpoint() = default;
  Endpoint(std::string h, uint16_t p) : host(std::move(h)), port(p) {}

  std::string host;  // an IPv4 or IPv6 literal ("127.0.0.1", "::1")
  uint16_t port = 0;
  std::string ToString() const;
};
// "a.b.c.d:port" or "[ipv6]:port".
absl::StatusOr<Endpoint> ParseEndpoint(std::string_view text);
absl::StatusOr<sockaddr_in> ToSockaddr(const Endpoint& e);
Endpoint FromSockaddr(const sockaddr_in& sa);

// A socket address of either family, converted once (for peers sent to again and again).
struct SockAddr {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family() const { return ss.ss_family; }
  // Same family, address and port.
  bool SameAs(const sockaddr_storage& o) const;
};
absl::StatusOr<SockAddr> ToSockAddr(const Endpoint& e);

struct Datagram {
  size_t length = 0;
  absl::Time arrival;           // kernel receive timestamp (SO_TIMESTAMPNS)
  sockaddr_in from{};           // the source when it is IPv4
  sockaddr_storage from_any{};  // the source, either family
};

// A non-blocking UDP socket with a fixed local address. Move-only; closes on destruction.
class UdpSocket {
 public:
  // Binds to `local` (port 0 = ephemeral). With `peer`, the socket is connected: the kernel then
  // only delivers datagrams from that address, as HBP clients require.
  static absl::StatusOr<UdpSocket> Open(const Endpoint& local,
                                        const std::optional<Endpoint>& peer = std::nullopt);
  UdpSocket() = default;
  UdpSocket(UdpSocket&& o) noexcept;
  UdpSocket& operator=(UdpSocket&& o) noexcept;
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;
  ~UdpSocket();

  int fd() const { return fd_; }
  bool is_open() const { return fd_ >= 0; }
  const Endpoint& local() const { return local_; }
  void Close();

  // To the connected peer.
  absl::Status Send(std::span<const uint8_t> data);
  absl::Status SendTo(std::span<const uint8_t> data, const sockaddr_in& to);
  absl::Status SendTo(std::span<const uint8_t> data, const SockAddr& to);
  // Non-blocking: nullopt when nothing is queued. Errors queued by ICMP (e.g. port unreachable
  // on a connected socket) come back as UnavailableError.
  absl::StatusOr<std::optional<Datagram>> Receive(std::span<uint8_t> buf);

 private:
  int fd_ = -1;
  Endpoint local_;
};

// Something with a socket and timers that a poll loop services.
class Pollable {
 public:
  virtual ~Pollable() = default;
  virtual int poll_fd() const = 0;
  // When OnTimers wants to run next (InfiniteFuture = never).
  virtual absl::Time NextDeadline() const = 0;
  // The socket is readable: drain it.
  virtual void OnReadable(absl::Time now) = 0;
  // Run every timer due at `now` (login resends, pings, paced transmissions).
  virtual void OnTimers(absl::Time now) = 0;
};

// Waits up to `timeout` (or until the earliest deadline) for any socket to become readable, then
// services sockets and due timers once. Returns after that single round.
void PollOnce(std::span<Pollable* const> items, absl::Duration timeout);
// Services `items` until `done()` returns true (checked after every round) or `timeout` passes.
// Returns done()'s last value.
bool PollUntil(std::span<Pollable* const> items, const std::function<bool()>& done,
               absl::Duration timeout);
// Services `items` for exactly `duration`.
void PollFor(std::span<Pollable* const> items, absl::Duration duration);

}  // namespace dmrswitch::sim
