#include "tests/e2e/attack_lab.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace dmrswitch::e2e {
namespace {

constexpr uint32_t kLabNet = 0xC6120000;  // 198.18.0.0/15

absl::Status Errno(const char* what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

absl::Status Run(const std::string& command) {
  const int rc = std::system(command.c_str());
  if (rc != 0) return absl::InternalError(absl::StrCat("`", command, "` failed (", rc, ")"));
  return absl::OkStatus();
}

absl::Status Enter() {
  if (geteuid() != 0) {
    return absl::FailedPreconditionError("the attack tests spoof sources: they need root");
  }
  if (unshare(CLONE_NEWNET) != 0) return Errno("unshare(CLONE_NEWNET)");
  // The whole test network is local: spoofed sources and the answers to them stay here.
  if (absl::Status st = Run("ip link set lo up"); !st.ok()) return st;
  return Run("ip addr add 198.18.0.1/15 dev lo");
}

// IPv4 + UDP headers and payload; the kernel fills in the IP checksum (raw(7)); the UDP checksum
// is 0 ("none"), which IPv4 allows.
std::vector<uint8_t> Packet(const SpoofedDatagram& d, uint32_t dst_ip, uint16_t dst_port) {
  std::vector<uint8_t> p(sizeof(iphdr) + sizeof(udphdr) + d.payload.size());
  auto* ip = reinterpret_cast<iphdr*>(p.data());
  ip->version = 4;
  ip->ihl = 5;
  ip->ttl = 64;
  ip->protocol = IPPROTO_UDP;
  ip->tot_len = htons(static_cast<uint16_t>(p.size()));
  ip->saddr = htonl(d.src_ip);
  ip->daddr = htonl(dst_ip);
  auto* udp = reinterpret_cast<udphdr*>(p.data() + sizeof(iphdr));
  udp->source = htons(d.src_port);
  udp->dest = htons(dst_port);
  udp->len = htons(static_cast<uint16_t>(sizeof(udphdr) + d.payload.size()));
  udp->check = 0;
  std::memcpy(p.data() + sizeof(iphdr) + sizeof(udphdr), d.payload.data(), d.payload.size());
  return p;
}

bool InLab(uint32_t ip) { return (ip & 0xFFFE0000) == kLabNet; }

}  // namespace

absl::Status EnterAttackNetwork() {
  static std::once_flag once;
  static absl::Status result;
  std::call_once(once, [] { result = Enter(); });
  return result;
}

uint32_t LabIp(uint32_t n) { return kLabNet + n; }

std::string LabHost(uint32_t n) {
  const uint32_t ip = LabIp(n);
  return absl::StrCat(ip >> 24, ".", (ip >> 16) & 255, ".", (ip >> 8) & 255, ".", ip & 255);
}

// --- Spoofer -------------------------------------------------------------------------------------

absl::StatusOr<Spoofer> Spoofer::Open(uint32_t dst_ip, uint16_t dst_port) {
  Spoofer s;
  s.fd_ = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
  if (s.fd_ < 0) return Errno("socket(SOCK_RAW)");
  const int big = 8 << 20;
  setsockopt(s.fd_, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
  s.dst_ip_ = dst_ip;
  s.dst_port_ = dst_port;
  return s;
}

Spoofer::Spoofer(Spoofer&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), dst_ip_(o.dst_ip_), dst_port_(o.dst_port_) {}

Spoofer& Spoofer::operator=(Spoofer&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    dst_ip_ = o.dst_ip_;
    dst_port_ = o.dst_port_;
  }
  return *this;
}

Spoofer::~Spoofer() {
  if (fd_ >= 0) close(fd_);
}

absl::Status Spoofer::Send(const SpoofedDatagram& d) {
  absl::StatusOr<size_t> n = SendBatch({&d, 1});
  if (!n.ok()) return n.status();
  return *n == 1 ? absl::OkStatus() : absl::UnavailableError("not sent");
}

absl::StatusOr<size_t> Spoofer::SendBatch(std::span<const SpoofedDatagram> batch) {
  std::vector<std::vector<uint8_t>> packets;
  std::vector<iovec> iov(batch.size());
  std::vector<mmsghdr> msgs(batch.size());
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(dst_ip_);
  packets.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    packets.push_back(Packet(batch[i], dst_ip_, dst_port_));
    iov[i] = iovec{packets[i].data(), packets[i].size()};
    msgs[i] = mmsghdr{};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &to;
    msgs[i].msg_hdr.msg_namelen = sizeof(to);
  }
  size_t done = 0;
  while (done < msgs.size()) {
    const int n = sendmmsg(fd_, msgs.data() + done, static_cast<unsigned>(msgs.size() - done), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS || errno == EAGAIN) break;  // the loopback queue is full: a flood
      return Errno("sendmmsg");
    }
    done += static_cast<size_t>(n);
  }
  return done;
}

// --- Flood ---------------------------------------------------------------------------------------

Flood::Flood(uint32_t dst_ip, uint16_t dst_port, double per_second,
             std::function<SpoofedDatagram(uint64_t)> make)
    : make_(std::move(make)) {
  thread_ =
      std::thread([this, dst_ip, dst_port, per_second] { Run(dst_ip, dst_port, per_second); });
}

Flood::~Flood() { Stop(); }

void Flood::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

absl::Status Flood::status() const {
  return error_.empty() ? absl::OkStatus() : absl::InternalError(error_);
}

void Flood::Run(uint32_t dst_ip, uint16_t dst_port, double per_second) {
  absl::StatusOr<Spoofer> s = Spoofer::Open(dst_ip, dst_port);
  if (!s.ok()) {
    error_ = std::string(s.status().message());
    return;
  }
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  uint64_t i = 0;
  std::vector<SpoofedDatagram> batch;
  while (!stop_.load()) {
    // Whatever is due by now (catching up after a slow round), at most 1,000 at once.
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const uint64_t due = static_cast<uint64_t>(elapsed * per_second);
    batch.clear();
    while (i < due && batch.size() < 1000) batch.push_back(make_(i++));
    if (!batch.empty()) {
      absl::StatusOr<size_t> n = s->SendBatch(batch);
      if (!n.ok()) {
        error_ = std::string(n.status().message());
        return;
      }
      sent_.fetch_add(*n);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// --- UdpTap --------------------------------------------------------------------------------------

UdpTap::UdpTap(uint16_t hub_port) : hub_port_(hub_port) {
  fd_ = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd_ < 0) {
    status_ = Errno("socket(SOCK_RAW, IPPROTO_UDP)");
    return;
  }
  const int big = 64 << 20;
  setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
  thread_ = std::thread([this] { Run(); });
}

UdpTap::~UdpTap() { Stop(); }

void UdpTap::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void UdpTap::Run() {
  uint8_t buf[2048];
  while (!stop_.load()) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    for (;;) {
      const ssize_t n = recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n < 0) break;
      if (static_cast<size_t>(n) < sizeof(iphdr) + sizeof(udphdr)) continue;
      const auto* ip = reinterpret_cast<const iphdr*>(buf);
      const size_t ihl = size_t{ip->ihl} * 4;
      if (static_cast<size_t>(n) < ihl + sizeof(udphdr)) continue;
      const auto* udp = reinterpret_cast<const udphdr*>(buf + ihl);
      const uint32_t src = ntohl(ip->saddr), dst = ntohl(ip->daddr);
      const uint64_t payload = ntohs(udp->len) - sizeof(udphdr);
      if (ntohs(udp->dest) == hub_port_ && InLab(src)) {
        requests_.fetch_add(1);
        request_bytes_.fetch_add(payload);
      } else if (ntohs(udp->source) == hub_port_ && InLab(dst)) {
        replies_.fetch_add(1);
        reply_bytes_.fetch_add(payload);
        if (payload > largest_reply_.load()) largest_reply_.store(payload);
      }
    }
  }
}

}  // namespace dmrswitch::e2e
