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

// Either family: an IPv4 or IPv6 literal.
struct AnyAddr : SockAddr {
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&ss); }
};

absl::StatusOr<AnyAddr> ToAnyAddr(const Endpoint& e) {
  AnyAddr a;
  if (absl::StatusOr<sockaddr_in> v4 = ToSockaddr(e); v4.ok()) {
    std::memcpy(&a.ss, &*v4, sizeof(*v4));
    a.len = sizeof(*v4);
    return a;
  }
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  v6.sin6_port = htons(e.port);
  if (inet_pton(AF_INET6, e.host.c_str(), &v6.sin6_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("not an IP address: '", e.host, "'"));
  }
  std::memcpy(&a.ss, &v6, sizeof(v6));
  a.len = sizeof(v6);
  return a;
}

Endpoint FromAnyAddr(const sockaddr_storage& ss) {
  if (ss.ss_family != AF_INET6) return FromSockaddr(reinterpret_cast<const sockaddr_in&>(ss));
  const auto& v6 = reinterpret_cast<const sockaddr_in6&>(ss);
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, &v6.sin6_addr, buf, sizeof(buf));
  return Endpoint{buf, ntohs(v6.sin6_port)};
}

}  // namespace

std::string Endpoint::ToString() const {
  return host.find(':') == std::string::npos ? absl::StrCat(host, ":", port)
                                             : absl::StrCat("[", host, "]:", port);
}

absl::StatusOr<Endpoint> ParseEndpoint(std::string_view text) {
  const size_t colon = text.rfind(':');
  uint32_t port = 0;
  const std::string port_text(colon == std::string_view::npos ? "" : text.substr(colon + 1));
  if (colon == std::string_view::npos || !absl::SimpleAtoi(port_text, &port) || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("not host:port: '", std::string(text), "'"));
  }
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);  // "[ipv6]:port"
  }
  Endpoint e{std::string(host), static_cast<uint16_t>(port)};
  if (auto sa = ToAnyAddr(e); !sa.ok()) return sa.status();
  return e;
}

bool SockAddr::SameAs(const sockaddr_storage& o) const {
  if (o.ss_family != ss.ss_family) return false;
  if (ss.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
    const auto& b = reinterpret_cast<const sockaddr_in6&>(o);
    return a.sin6_port == b.sin6_port && std::memcmp(&a.sin6_addr, &b.sin6_addr, 16) == 0;
  }
  const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
  const auto& b = reinterpret_cast<const sockaddr_in&>(o);
  return a.sin_port == b.sin_port && a.sin_addr.s_addr == b.sin_addr.s_addr;
}

absl::StatusOr<SockAddr> ToSockAddr(const Endpoint& e) {
  absl::StatusOr<AnyAddr> a = ToAnyAddr(e);
  if (!a.ok()) return a.status();
  return static_cast<SockAddr>(*a);
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
  absl::StatusOr<AnyAddr> local_sa = ToAnyAddr(local);
  if (!local_sa.ok()) return local_sa.status();
  UdpSocket s;
  s.fd_ = socket(local_sa->family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
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
  if (bind(s.fd_, local_sa->sa(), local_sa->len) != 0) {
    return Errno(absl::StrCat("bind ", local.ToString()));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  getsockname(s.fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  s.local_ = FromAnyAddr(bound);
  if (peer) {
    absl::StatusOr<AnyAddr> peer_sa = ToAnyAddr(*peer);
    if (!peer_sa.ok()) return peer_sa.status();
    if (peer_sa->family() != local_sa->family()) {
      return absl::InvalidArgumentError(absl::StrCat("local ", local.ToString(), " and peer ",
                                                     peer->ToString(),
                                                     " are of different address families"));
    }
    if (connect(s.fd_, peer_sa->sa(), peer_sa->len) != 0) {
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

absl::Status UdpSocket::SendTo(std::span<const uint8_t> data, const SockAddr& to) {
  if (sendto(fd_, data.data(), data.size(), 0, reinterpret_cast<const sockaddr*>(&to.ss), to.len) <
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
  sockaddr_storage from{};
  msg.msg_name = &from;
  msg.msg_namelen = sizeof(from);
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
  if (from.ss_family == AF_INET) std::memcpy(&d.from, &from, sizeof(d.from));
  d.from_any = from;
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
