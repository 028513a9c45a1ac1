// Kernel UDP sockets for kernel mode: one per shard per listener, in an SO_REUSEPORT group.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

#include "absl/status/statusor.h"
#include "dataplane/route/types.h"

namespace dmrswitch::io {

// A non-blocking UDP socket bound to `addr` with SO_REUSEPORT and a large receive buffer (every
// Python hub's first failure under load is input drops in a default-sized socket buffer). An
// IPv6 address opens an AF_INET6 socket: [::] serves IPv6 and IPv4 (dual-stack, IPV6_V6ONLY off,
// IPv4 clients seen as ::ffff:a.b.c.d and stored as IPv4), a specific IPv6 address IPv6 only.
absl::StatusOr<int> OpenReuseportUdp(route::Endpoint addr);

// The port a socket is bound to (for listeners configured with port 0).
uint16_t BoundPort(int fd);

// A socket address of either family, as recvmmsg fills and sendmmsg takes it.
union SockAddr {
  sockaddr sa;
  sockaddr_in v4;
  sockaddr_in6 v6;
};

// `e` as a socket of `family` takes it (an AF_INET6 socket takes IPv4 destinations v4-mapped);
// the address length, or 0 if it cannot (an IPv6 destination on an AF_INET socket).
inline socklen_t ToSockaddr(const route::Endpoint& e, int family, SockAddr* out) {
  if (family == AF_INET6) {
    out->v6 = sockaddr_in6{};
    out->v6.sin6_family = AF_INET6;
    out->v6.sin6_port = htons(e.port);
    if (e.v6) {
      std::memcpy(out->v6.sin6_addr.s6_addr, e.ip6, 16);
    } else {
      out->v6.sin6_addr.s6_addr[10] = 0xFF;
      out->v6.sin6_addr.s6_addr[11] = 0xFF;
      const uint32_t ip = htonl(e.ip);
      std::memcpy(out->v6.sin6_addr.s6_addr + 12, &ip, 4);
    }
    return sizeof(sockaddr_in6);
  }
  if (e.v6) return 0;
  out->v4 = sockaddr_in{};
  out->v4.sin_family = AF_INET;
  out->v4.sin_addr.s_addr = htonl(e.ip);
  out->v4.sin_port = htons(e.port);
  return sizeof(sockaddr_in);
}
inline route::Endpoint FromSockaddr(const sockaddr_in& sa) {
  return {ntohl(sa.sin_addr.s_addr), ntohs(sa.sin_port)};
}
inline route::Endpoint FromSockaddr(const SockAddr& a) {
  if (a.sa.sa_family == AF_INET6)
    return route::Endpoint::V6(a.v6.sin6_addr.s6_addr, ntohs(a.v6.sin6_port));
  return FromSockaddr(a.v4);
}

std::string EndpointString(route::Endpoint e);

}  // namespace dmrswitch::io
