#include "dataplane/io/afxdp.h"

#include <dirent.h>
#include <linux/ethtool.h>
#include <linux/if_xdp.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "dataplane/io/dpdk_shard_loop.h"
#include "dataplane/io/xdp/xdp_shield.h"
#include "spdlog/spdlog.h"

#ifndef SOL_XDP
#define SOL_XDP 283
#endif

namespace dmrswitch::io {
namespace {

// The interface's RX queues as ethtool counts them (combined + rx-only), or -1.
int RxQueues(const std::string& interface) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  ethtool_channels ch{};
  ch.cmd = ETHTOOL_GCHANNELS;
  ifreq req{};
  std::snprintf(req.ifr_name, sizeof(req.ifr_name), "%s", interface.c_str());
  req.ifr_data = reinterpret_cast<char*>(&ch);
  const int rc = ioctl(fd, SIOCETHTOOL, &req);
  close(fd);
  if (rc != 0) return -1;
  return static_cast<int>(ch.combined_count + ch.rx_count);
}

}  // namespace

absl::StatusOr<std::string> PrepareAfXdpPort(const PlaneConfig& config) {
  const std::string& interface = config.shield.interface;
  if (interface.empty()) {
    return absl::InvalidArgumentError(
        "afxdp mode needs [xdp] interface: the NIC whose queues the hub takes over");
  }
  if (absl::Status s = XdpShield::RemoveStale(interface, config.shield.runtime_name); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> object = XdpShield::ObjectPath();
  if (!object.ok()) return object.status();
  if (object->find_first_of(",= ") != std::string::npos) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the XDP shield's object path ", *object,
        " contains ',', '=' or a space, which a DPDK device argument cannot carry; install it "
        "elsewhere or point DMRSWITCH_XDP_OBJECT at a copy"));
  }
  if (const int queues = RxQueues(interface); queues > static_cast<int>(config.shards)) {
    spdlog::warn(
        "{} has {} RX queues and the hub takes {} (one per shard): traffic the NIC hashes to "
        "the others reaches the kernel, which has no socket for it (the shield counts it as "
        "pass_hub_no_xsk). Set `ethtool -L {} combined {}` or hub.shards = {}",
        interface, queues, config.shards, interface, config.shards, queues);
  }
  return absl::StrCat("--vdev=net_af_xdp0,iface=", interface,
                      ",start_queue=0,queue_count=", config.shards, ",xdp_prog=", *object);
}

std::string AfXdpBindMode() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return "unknown";
  int sockets = 0;
  int zero_copy = 0;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == dirfd(d)) continue;
    int domain = 0;
    socklen_t len = sizeof(domain);
    if (getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 ||
        domain != AF_XDP) {
      continue;
    }
    xdp_options opts{};
    len = sizeof(opts);
    if (getsockopt(static_cast<int>(fd), SOL_XDP, XDP_OPTIONS, &opts, &len) != 0) continue;
    ++sockets;
    if ((opts.flags & XDP_OPTIONS_ZEROCOPY) != 0) ++zero_copy;
  }
  closedir(d);
  if (sockets == 0) return "unknown";
  if (zero_copy == sockets) return "zero-copy";
  if (zero_copy == 0) return "copy";
  return absl::StrCat("zero-copy on ", zero_copy, " of ", sockets, " sockets");
}

// ---------------------------------------------------------------------------------------------
// KernelNeighbors

absl::StatusOr<std::unique_ptr<KernelNeighbors>> KernelNeighbors::Start(
    const std::string& interface, uint16_t port, std::vector<rte_ring*> requests,
    std::vector<rte_ring*> updates) {
  std::unique_ptr<KernelNeighbors> k(new KernelNeighbors());
  k->ifindex_ = static_cast<int>(if_nametoindex(interface.c_str()));
  if (k->ifindex_ == 0) {
    return absl::NotFoundError(absl::StrCat("afxdp: interface ", interface, " not found"));
  }
  k->port_ = port;
  k->requests_ = std::move(requests);
  k->updates_ = std::move(updates);
  k->netlink_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  if (k->netlink_ < 0) {
    return absl::InternalError(absl::StrCat("afxdp: netlink socket: ", std::strerror(errno)));
  }
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  local.nl_groups = RTMGRP_NEIGH;  // every change of the kernel's neighbour table
  if (bind(k->netlink_, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
    const int err = errno;
    close(k->netlink_);
    return absl::InternalError(absl::StrCat("afxdp: netlink bind: ", std::strerror(err)));
  }
  // What the kernel knows already.
  struct {
    nlmsghdr h;
    ndmsg n;
  } dump{};
  dump.h.nlmsg_len = sizeof(dump);
  dump.h.nlmsg_type = RTM_GETNEIGH;
  dump.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  dump.h.nlmsg_seq = ++k->sequence_;
  dump.n.ndm_family = AF_UNSPEC;  // IPv4 and IPv6 neighbours
  if (send(k->netlink_, &dump, sizeof(dump), 0) < 0) {
    const int err = errno;
    close(k->netlink_);
    return absl::InternalError(absl::StrCat("afxdp: neighbour dump: ", std::strerror(err)));
  }
  k->thread_ = std::thread([raw = k.get()] { raw->Loop(); });
  return k;
}

KernelNeighbors::~KernelNeighbors() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (netlink_ >= 0) close(netlink_);
}

void KernelNeighbors::Loop() {
  while (!stop_.load(std::memory_order_relaxed)) {
    // Requests wait at most this long: a next hop nobody spoke from is resolved within the
    // kernel's ARP round trip plus 10 ms.
    pollfd p{netlink_, POLLIN, 0};
    if (poll(&p, 1, 10) > 0) Receive();
    for (rte_ring* r : requests_) {
      NeighborRequest reqs[32];
      const unsigned n = rte_ring_dequeue_burst_elem(r, reqs, sizeof(NeighborRequest), 32, nullptr);
      for (unsigned i = 0; i < n; ++i) Resolve(reqs[i]);
    }
  }
}

void KernelNeighbors::Resolve(const NeighborRequest& r) {
  struct {
    nlmsghdr h;
    ndmsg n;
    rtattr dst_attr;
    uint8_t dst[16];
  } req{};
  const size_t addr_bytes = r.v6 != 0 ? 16 : 4;
  req.h.nlmsg_len = static_cast<uint32_t>(NLMSG_LENGTH(sizeof(ndmsg)) + RTA_LENGTH(addr_bytes));
  req.h.nlmsg_type = RTM_NEWNEIGH;
  // NTF_USE: "this neighbour is in use": the kernel resolves it (ARP) if it has no valid MAC
  // and otherwise only refreshes it; NLM_F_CREATE makes the entry when there is none.
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE;
  req.h.nlmsg_seq = ++sequence_;
  req.n.ndm_family = r.v6 != 0 ? AF_INET6 : AF_INET;
  req.n.ndm_ifindex = ifindex_;
  req.n.ndm_state = NUD_NONE;
  req.n.ndm_flags = NTF_USE;
  req.dst_attr.rta_len = static_cast<uint16_t>(RTA_LENGTH(addr_bytes));
  req.dst_attr.rta_type = NDA_DST;
  if (r.v6 != 0) {
    std::memcpy(req.dst, r.ip6.data(), 16);
  } else {
    const uint32_t be = htonl(r.ip);
    std::memcpy(req.dst, &be, 4);
  }
  counters_.requests.fetch_add(1, std::memory_order_relaxed);
  // Best effort: the shard asks again (at most once a second) while it has no MAC.
  (void)send(netlink_, &req, req.h.nlmsg_len, 0);
}

void KernelNeighbors::Receive() {
  alignas(nlmsghdr) char buf[16384];
  for (;;) {
    const ssize_t got = recv(netlink_, buf, sizeof(buf), 0);
    if (got <= 0) return;  // EAGAIN: all read; ENOBUFS (overrun) costs at most a re-request
    int left = static_cast<int>(got);
    for (nlmsghdr* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, left);
         h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type != RTM_NEWNEIGH) continue;
      const auto* nd = static_cast<const ndmsg*>(NLMSG_DATA(h));
      if ((nd->ndm_family != AF_INET && nd->ndm_family != AF_INET6) ||
          nd->ndm_ifindex != ifindex_) {
        continue;
      }
      if ((nd->ndm_state & (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT)) ==
          0) {
        continue;  // incomplete or failed: no MAC (yet)
      }
      uint32_t ip = 0;
      const uint8_t* ip6 = nullptr;
      const uint8_t* mac = nullptr;
      int len = static_cast<int>(h->nlmsg_len) - static_cast<int>(NLMSG_LENGTH(sizeof(ndmsg)));
      for (const rtattr* a = reinterpret_cast<const rtattr*>(reinterpret_cast<const char*>(nd) +
                                                             NLMSG_ALIGN(sizeof(ndmsg)));
           RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type == NDA_DST && RTA_PAYLOAD(a) == 4 && nd->ndm_family == AF_INET) {
          uint32_t be;
          std::memcpy(&be, RTA_DATA(a), 4);
          ip = ntohl(be);
        } else if (a->rta_type == NDA_DST && RTA_PAYLOAD(a) == 16 && nd->ndm_family == AF_INET6) {
          ip6 = static_cast<const uint8_t*>(RTA_DATA(a));
        } else if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) {
          mac = static_cast<const uint8_t*>(RTA_DATA(a));
        }
      }
      if ((ip == 0 && ip6 == nullptr) || mac == nullptr) continue;
      NeighborUpdate u{};
      u.ip = ip;
      if (ip6 != nullptr) {
        u.v6 = 1;
        std::memcpy(u.ip6.data(), ip6, 16);
      }
      std::memcpy(u.mac.data(), mac, u.mac.size());
      u.port = port_;
      u.vlan_present = kNeighborVlanUnknown;
      for (rte_ring* r : updates_) {
        // A full ring drops this update; the shard asks again while it still has no MAC.
        if (rte_ring_enqueue_elem(r, &u, sizeof(u)) == 0) {
          counters_.resolved.fetch_add(1, std::memory_order_relaxed);
        }
      }
    }
  }
}

}  // namespace dmrswitch::io
