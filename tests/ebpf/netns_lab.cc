#include "tests/ebpf/netns_lab.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace dmrswitch::io::testing {
namespace {

sockaddr_in HubAddress(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(kLabHubIp);
  return a;
}

int UdpSocketFrom(uint16_t src_port) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_port = htons(src_port);
  local.sin_addr.s_addr = htonl(kLabClientIp);
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

uint16_t IcmpChecksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] | (p[i + 1] << 8));
  if (n & 1) sum += p[n - 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace

absl::Status Run(const std::string& command) {
  const int rc = std::system(command.c_str());
  if (rc != 0) {
    return absl::InternalError(absl::StrFormat("`%s` failed (status %d)", command, rc));
  }
  return absl::OkStatus();
}

absl::Status PrivateMountNamespace() {
  if (unshare(CLONE_NEWNS) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("unshare(CLONE_NEWNS): ", std::strerror(errno), " (run as root)"));
  }
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return absl::InternalError(absl::StrCat("making / private: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<VethLab>> VethLab::Create(std::string_view tag) {
  std::unique_ptr<VethLab> lab(new VethLab());
  static int serial = 0;
  const std::string id = absl::StrCat(std::string(tag), getpid() % 100000, "x", serial++);
  lab->hub_ns_ = absl::StrCat("dmrsw-", id, "-hub");
  lab->client_ns_ = absl::StrCat("dmrsw-", id, "-cli");
  // Interface names: 15 characters at most.
  lab->hub_if_ = absl::StrCat(id.substr(0, 12), "h");
  lab->client_if_ = absl::StrCat(id.substr(0, 12), "c");
  const std::string& h = lab->hub_ns_;
  const std::string& c = lab->client_ns_;
  for (const std::string& cmd : {
           absl::StrCat("ip netns add ", h),
           absl::StrCat("ip netns add ", c),
           absl::StrCat("ip -n ", h, " link add ", lab->hub_if_, " type veth peer name ",
                        lab->client_if_, " netns ", c),
           absl::StrCat("ip -n ", h, " addr add 198.18.0.1/24 dev ", lab->hub_if_),
           absl::StrCat("ip -n ", c, " addr add 198.18.0.2/24 dev ", lab->client_if_),
           absl::StrCat("ip -n ", h, " link set lo up"),
           absl::StrCat("ip -n ", c, " link set lo up"),
           absl::StrCat("ip -n ", h, " link set ", lab->hub_if_, " up"),
           absl::StrCat("ip -n ", c, " link set ", lab->client_if_, " up"),
       }) {
    if (absl::Status s = Run(cmd); !s.ok()) return s;  // the destructor removes what exists
  }
  // Checksum offload off on the sending end, inside its namespace.
  pid_t child = lab->SpawnInClient([&] { return TxChecksumOff(lab->client_if_).ok() ? 0 : 1; });
  if (WaitChild(child) != 0) {
    return absl::InternalError(absl::StrCat("tx checksum offload off on ", lab->client_if_));
  }
  {
    // The hub end, from inside its namespace; the thread comes back to where it was.
    const int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    const int hub = open(absl::StrCat("/var/run/netns/", h).c_str(), O_RDONLY | O_CLOEXEC);
    const bool ok =
        self >= 0 && hub >= 0 && setns(hub, CLONE_NEWNET) == 0 && TxChecksumOff(lab->hub_if_).ok();
    if (self >= 0) setns(self, CLONE_NEWNET);
    if (self >= 0) close(self);
    if (hub >= 0) close(hub);
    if (!ok) return absl::InternalError(absl::StrCat("tx checksum offload off on ", lab->hub_if_));
  }
  return lab;
}

VethLab::~VethLab() {
  if (original_netns_ >= 0) {
    setns(original_netns_, CLONE_NEWNET);
    close(original_netns_);
  }
  // Deleting a namespace deletes its end of the veth, and with it the pair.
  for (const std::string& ns : {hub_ns_, client_ns_}) {
    if (!ns.empty()) std::system(absl::StrCat("ip netns del ", ns, " 2>/dev/null").c_str());
  }
}

absl::Status VethLab::EnterHub() {
  if (original_netns_ < 0) original_netns_ = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  const int fd = open(absl::StrCat("/var/run/netns/", hub_ns_).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("open netns ", hub_ns_));
  const int rc = setns(fd, CLONE_NEWNET);
  close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("setns ", hub_ns_, ": ", strerror(errno)));
  return absl::OkStatus();
}

pid_t VethLab::SpawnInClient(std::function<int()> fn) const {
  const std::string path = absl::StrCat("/var/run/netns/", client_ns_);
  const pid_t pid = fork();
  if (pid != 0) return pid;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) _exit(100);
  close(fd);
  _exit(fn());
}

int WaitChild(pid_t pid) {
  if (pid <= 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

absl::Status TxChecksumOff(const std::string& interface) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket");
  ethtool_value value{};
  value.cmd = ETHTOOL_STXCSUM;
  value.data = 0;
  ifreq req{};
  std::snprintf(req.ifr_name, sizeof(req.ifr_name), "%s", interface.c_str());
  req.ifr_data = reinterpret_cast<char*>(&value);
  const int rc = ioctl(fd, SIOCETHTOOL, &req);
  const int err = errno;
  close(fd);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("ETHTOOL_STXCSUM on ", interface, ": ", strerror(err)));
  }
  return absl::OkStatus();
}

uint64_t FloodGarbage(uint16_t port, uint16_t src_port, std::chrono::nanoseconds duration) {
  const int fd = UdpSocketFrom(src_port);
  if (fd < 0) return 0;
  const sockaddr_in to = HubAddress(port);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) != 0) {
    close(fd);
    return 0;
  }
  constexpr int kBatch = 64;
  std::mt19937 rng(src_port);
  std::vector<std::vector<uint8_t>> payloads(kBatch);
  std::vector<iovec> iov(kBatch);
  std::vector<mmsghdr> msgs(kBatch);
  for (int i = 0; i < kBatch; ++i) {
    payloads[i].resize(20 + rng() % 41);
    for (auto& b : payloads[i]) b = static_cast<uint8_t>(rng());
    payloads[i][0] = 'X';  // no valid tag starts with X
    iov[i] = iovec{payloads[i].data(), payloads[i].size()};
    msgs[i] = mmsghdr{};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  uint64_t sent = 0;
  const auto deadline = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < deadline) {
    for (int round = 0; round < 16; ++round) {
      const int n = sendmmsg(fd, msgs.data(), kBatch, 0);
      if (n > 0) sent += static_cast<uint64_t>(n);
    }
  }
  close(fd);
  return sent;
}

uint64_t SendCall(uint16_t port, uint16_t src_port, uint32_t pps, uint32_t count) {
  const int fd = UdpSocketFrom(src_port);
  if (fd < 0) return 0;
  const sockaddr_in to = HubAddress(port);
  uint64_t sent = 0;
  const auto start = std::chrono::steady_clock::now();
  const auto interval = std::chrono::nanoseconds(1'000'000'000 / pps);
  for (uint32_t seq = 0; seq < count; ++seq) {
    const auto when = start + interval * seq;
    while (std::chrono::steady_clock::now() < when) {
      const auto left = when - std::chrono::steady_clock::now();
      if (left > std::chrono::microseconds(200)) {
        timespec ts{0, static_cast<long>(
                           std::chrono::duration_cast<std::chrono::nanoseconds>(left).count())};
        nanosleep(&ts, nullptr);
      }
    }
    uint8_t dmrd[55];
    std::memset(dmrd, 0x5A, sizeof(dmrd));
    std::memcpy(dmrd, "DMRD", 4);
    dmrd[4] = static_cast<uint8_t>(seq);
    for (int i = 0; i < 4; ++i) dmrd[20 + i] = static_cast<uint8_t>(seq >> (24 - 8 * i));
    const uint32_t stream = 0x00C0FFEE;
    for (int i = 0; i < 4; ++i) dmrd[16 + i] = static_cast<uint8_t>(stream >> (24 - 8 * i));
    if (sendto(fd, dmrd, sizeof(dmrd), 0, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) ==
        static_cast<ssize_t>(sizeof(dmrd))) {
      ++sent;
    }
  }
  close(fd);
  return sent;
}

bool PingHub(int count) {
  const int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (fd < 0) return false;
  const sockaddr_in to = HubAddress(0);
  const uint16_t ident = static_cast<uint16_t>(getpid());
  int answered = 0;
  for (int seq = 1; seq <= count; ++seq) {
    uint8_t req[16] = {};
    req[0] = ICMP_ECHO;
    req[4] = static_cast<uint8_t>(ident >> 8);
    req[5] = static_cast<uint8_t>(ident);
    req[7] = static_cast<uint8_t>(seq);
    std::memcpy(req + 8, "dmrswpng", 8);
    const uint16_t sum = IcmpChecksum(req, sizeof(req));
    std::memcpy(req + 2, &sum, 2);
    if (sendto(fd, req, sizeof(req), 0, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) < 0) {
      continue;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      uint8_t buf[256];
      const ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n < 28) continue;
      const size_t ihl = static_cast<size_t>(buf[0] & 0x0f) * 4;
      if (static_cast<size_t>(n) < ihl + 8) continue;
      const uint8_t* icmp = buf + ihl;
      if (icmp[0] == ICMP_ECHOREPLY && icmp[4] == req[4] && icmp[5] == req[5] &&
          icmp[7] == req[7]) {
        ++answered;
        break;
      }
    }
  }
  close(fd);
  return answered == count;
}

bool TcpEchoRoundTrip(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const sockaddr_in to = HubAddress(port);
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  bool ok = connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) == 0;
  const char line[] = "dmrswitch shield tcp check\n";
  ok = ok && send(fd, line, sizeof(line) - 1, 0) == static_cast<ssize_t>(sizeof(line) - 1);
  char buf[64] = {};
  size_t got = 0;
  while (ok && got < sizeof(line) - 1) {
    const ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  return ok && got == sizeof(line) - 1 && std::memcmp(buf, line, got) == 0;
}

TcpEchoServer::TcpEchoServer(uint16_t port) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const sockaddr_in a = HubAddress(port);
  ok_ = bind(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) == 0 && listen(fd_, 4) == 0;
  thread_ = std::thread([this] { Serve(); });
}

TcpEchoServer::~TcpEchoServer() {
  stop_ = true;
  thread_.join();
  close(fd_);
}

void TcpEchoServer::Serve() {
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    timeval tv{2, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[256];
    const ssize_t n = recv(c, buf, sizeof(buf), 0);
    if (n > 0) send(c, buf, static_cast<size_t>(n), 0);
    close(c);
  }
}

void WriteU64(int fd, uint64_t v) {
  if (write(fd, &v, sizeof(v)) != static_cast<ssize_t>(sizeof(v))) std::perror("write");
}

uint64_t ReadU64(int fd) {
  uint64_t v = 0;
  if (read(fd, &v, sizeof(v)) != static_cast<ssize_t>(sizeof(v))) return 0;
  return v;
}

}  // namespace dmrswitch::io::testing
