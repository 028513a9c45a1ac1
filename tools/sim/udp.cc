#include "tools/sim/udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace dmrswitch::sim {
namespace {

absl::Status Errno(const std::string& what) { return absl::ErrnoToStatus(errno, what); }

}  // namespace

std::string Endpoint::ToString() const { return absl::StrCat(host, ":", port); }

absl::StatusOr<Endpoint> ParseEndpoint(std::string_view text) {
  const size_t colon = text.rfind(':');
  uint32_t port = 0;
  const std::string port_text(colon == std::string_view::npos ? "" : text.substr(colon + 1));
  if (colon == std::string_view::npos || !absl::SimpleAtoi(port_text, &port) || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("not host:port: '", std::string(text), "'"));
  }
  Endpoint e{std::string(text.substr(0, colon)), static_cast<uint16_t>(port)};
  if (auto sa = ToSockaddr(e); !sa.ok()) return sa.status();
  return e;
}

absl::StatusOr<sockaddr_in> ToSockaddr(const Endpoint& e) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(e.port);
  if (inet_pton(AF_INET, e.host.c_str(), &sa.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("not an IPv4 address: '", e.host, "'"));
  }
  return sa;
}

Endpoint FromSockaddr(const sockaddr_in& sa) {
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &sa.sin_addr, buf, sizeof(buf));
  return Endpoint{buf, ntohs(sa.sin_port)};
}

absl::StatusOr<UdpSocket> UdpSocket::Open(const Endpoint& local,
                                          const std::optional<Endpoint>& peer) {
  absl::StatusOr<sockaddr_in> local_sa = ToSockaddr(local);
  if (!local_sa.ok()) return local_sa.status();
  UdpSocket s;
  s.fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s.fd_ < 0) return Errno("socket");
  const int on = 1;
  setsockopt(s.fd_, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
  // Large buffers: test bursts and flat-out generators must not lose frames in the kernel.
  const int bytes = 4 << 20;
  if (setsockopt(s.fd_, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) != 0) {
    setsockopt(s.fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
  }
  if (setsockopt(s.fd_, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)) != 0) {
    setsockopt(s.fd_, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
  }
  if (bind(s.fd_, reinterpret_cast<const sockaddr*>(&*local_sa), sizeof(*local_sa)) != 0) {
    return Errno(absl::StrCat("bind ", local.ToString()));
  }
  sockaddr_in bound{};
  socklen_t len = sizeof(bound);
  getsockname(s.fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  s.local_ = FromSockaddr(bound);
  if (peer) {
    absl::StatusOr<sockaddr_in> peer_sa = ToSockaddr(*peer);
    if (!peer_sa.ok()) return peer_sa.status();
    if (connect(s.fd_, reinterpret_cast<const sockaddr*>(&*peer_sa), sizeof(*peer_sa)) != 0) {
      return Errno(absl::StrCat("connect ", peer->ToString()));
    }
  }
  return s;
}

UdpSocket::UdpSocket(UdpSocket&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), local_(std::move(o.local_)) {}

UdpSocket& UdpSocket::operator=(UdpSocket&& o) noexcept {
  if (this != &o) {
    Close();
    fd_ = std::exchange(o.fd_, -1);
    local_ = std::move(o.local_);
  }
  return *this;
}

UdpSocket::~UdpSocket() { Close(); }

void UdpSocket::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

absl::Status UdpSocket::Send(std::span<const uint8_t> data) {
  if (send(fd_, data.data(), data.size(), 0) < 0) return Errno("send");
  return absl::OkStatus();
}

absl::Status UdpSocket::SendTo(std::span<const uint8_t> data, const sockaddr_in& to) {
  if (sendto(fd_, data.data(), data.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) <
      0) {
    return Errno("sendto");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Datagram>> UdpSocket::Receive(std::span<uint8_t> buf) {
  Datagram d;
  iovec iov{buf.data(), buf.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
  msghdr msg{};
  msg.msg_name = &d.from;
  msg.msg_namelen = sizeof(d.from);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  const ssize_t n = recvmsg(fd_, &msg, MSG_TRUNC);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return std::nullopt;
    if (errno == ECONNREFUSED) return absl::UnavailableError("port unreachable (ICMP)");
    return Errno("recvmsg");
  }
  d.length = std::min(static_cast<size_t>(n), buf.size());
  d.arrival = absl::Now();
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      timespec ts;
      std::memcpy(&ts, CMSG_DATA(c), sizeof(ts));
      d.arrival = absl::TimeFromTimespec(ts);
    }
  }
  return d;
}

// ---------------------------------------------------------------------------------------------

void PollOnce(std::span<Pollable* const> items, absl::Duration timeout) {
  absl::Time now = absl::Now();
  absl::Time wake = now + timeout;
  for (const Pollable* p : items) wake = std::min(wake, p->NextDeadline());
  std::vector<pollfd> fds(items.size());
  for (size_t i = 0; i < items.size(); ++i) fds[i] = {items[i]->poll_fd(), POLLIN, 0};
  const absl::Duration wait = std::max(wake - now, absl::ZeroDuration());
  const timespec ts = absl::ToTimespec(wait);
  const int n = ppoll(fds.data(), fds.size(), &ts, nullptr);
  now = absl::Now();
  if (n > 0) {
    for (size_t i = 0; i < items.size(); ++i) {
      if (fds[i].revents != 0) items[i]->OnReadable(now);
    }
  }
  for (Pollable* p : items) {
    if (p->NextDeadline() <= now) p->OnTimers(now);
  }
}

bool PollUntil(std::span<Pollable* const> items, const std::function<bool()>& done,
               absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  if (done()) return true;
  for (;;) {
    const absl::Time now = absl::Now();
    if (now >= deadline) return done();
    PollOnce(items, deadline - now);
    if (done()) return true;
  }
}

void PollFor(std::span<Pollable* const> items, absl::Duration duration) {
  PollUntil(
      items, [] { return false; }, duration);
}

}  // namespace dmrswitch::sim
