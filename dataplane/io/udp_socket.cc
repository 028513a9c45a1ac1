#include "dataplane/io/udp_socket.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace dmrswitch::io {

absl::StatusOr<int> OpenReuseportUdp(route::Endpoint addr) {
  const int family = addr.v6 ? AF_INET6 : AF_INET;
  const int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  const int one = 1;
  if (family == AF_INET6) {
    const int v6only = addr.any_address() ? 0 : 1;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) != 0) {
      const int err = errno;
      close(fd);
      return absl::InternalError(absl::StrCat("IPV6_V6ONLY: ", strerror(err)));
    }
  }
  const int rcvbuf = 8 << 20;
  const int sndbuf = 8 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    const int err = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("SO_REUSEPORT: ", strerror(err)));
  }
  // Best effort: the kernel caps these at net.core.{r,w}mem_max unless we may force them.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  }
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  }
  SockAddr sa;
  const socklen_t len = ToSockaddr(addr, family, &sa);
  if (bind(fd, &sa.sa, len) != 0) {
    const int err = errno;
    close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot listen on ", EndpointString(addr), ": ", strerror(err)));
  }
  return fd;
}

uint16_t BoundPort(int fd) {
  SockAddr sa{};
  socklen_t len = sizeof(sa);
  if (getsockname(fd, &sa.sa, &len) != 0) return 0;
  return sa.sa.sa_family == AF_INET6 ? ntohs(sa.v6.sin6_port) : ntohs(sa.v4.sin_port);
}

std::string EndpointString(route::Endpoint e) {
  if (e.v6) {
    in6_addr a{};
    std::memcpy(a.s6_addr, e.ip6, 16);
    char text[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &a, text, sizeof(text));
    return absl::StrFormat("[%s]:%d", text, e.port);
  }
  return absl::StrFormat("%d.%d.%d.%d:%d", e.ip >> 24, (e.ip >> 16) & 255, (e.ip >> 8) & 255,
                         e.ip & 255, e.port);
}

}  // namespace dmrswitch::io
