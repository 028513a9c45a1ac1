// Kernel UDP sockets for kernel mode: one per shard per listener, in an SO_REUSEPORT group.
#pragma once

#include <netinet/in.h>

#include <string>

#include "absl/status/statusor.h"
#include "dataplane/route/types.h"

namespace dmrswitch::io {

// A non-blocking UDP socket bound to `addr` with SO_REUSEPORT and a large receive buffer (every
// Python hub's first failure under load is input drops in a default-sized socket buffer).
absl::StatusOr<int> OpenReuseportUdp(route::Endpoint addr);

// The port a socket is bound to (for listeners configured with port 0).
uint16_t BoundPort(int fd);

inline sockaddr_in ToSockaddr(route::Endpoint e) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(e.ip);
  sa.sin_port = htons(e.port);
  return sa;
}
inline route::Endpoint FromSockaddr(const sockaddr_in& sa) {
  return {ntohl(sa.sin_addr.s_addr), ntohs(sa.sin_port)};
}

std::string EndpointString(route::Endpoint e);

}  // namespace dmrswitch::io
