// The sk_reuseport program in the kernel: real SO_REUSEPORT groups on 127.0.0.1, datagrams of
// every class, each must arrive on exactly the socket SteeringKeyOwner predicts, and the
// verdict counters must move by exactly what was sent.
//
// Needs CAP_BPF (CI runs as root). Without it these tests fail with the loader's message: a
// silently skipped steering test would hide a broken kernel-mode deployment.

#include "dataplane/io/steering/reuseport_steering.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "tests/ebpf/steering_packets.h"

namespace dmrswitch::io {
namespace {

using testing::Packet;

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// One listener: n UDP sockets on the loopback address in one SO_REUSEPORT group. The first binds
// to port 0 so the kernel picks a free port; the rest join it on that port.
struct Group {
  std::vector<Fd> sockets;
  std::vector<int> fds;
  int family = AF_INET;
  uint16_t port = 0;  // host order
};

Fd ReuseportSocket(int family = AF_INET) {
  Fd fd(socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return fd;
  const int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  // Bursts of a few hundred datagrams must not overflow a shard's queue in the test.
  const int rcvbuf = 4 << 20;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0) {
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  }
  return fd;
}

// 127.0.0.1 or ::1, port in host order.
socklen_t LoopbackAddress(int family, uint16_t port, sockaddr_storage* out) {
  *out = sockaddr_storage{};
  if (family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(out);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    a->sin6_addr = in6addr_loopback;
    return sizeof(*a);
  }
  auto* a = reinterpret_cast<sockaddr_in*>(out);
  a->sin_family = AF_INET;
  a->sin_port = htons(port);
  a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sizeof(*a);
}

bool BindLoopback(int fd, int family, uint16_t port) {
  sockaddr_storage addr;
  const socklen_t len = LoopbackAddress(family, port, &addr);
  return bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) == 0;
}

Group MakeGroup(uint32_t n, int family = AF_INET) {
  Group g;
  g.family = family;
  for (uint32_t i = 0; i < n; ++i) {
    Fd fd = ReuseportSocket(family);
    EXPECT_GE(fd.get(), 0) << std::strerror(errno);
    EXPECT_TRUE(BindLoopback(fd.get(), family, g.port))
        << "shard " << i << ": " << std::strerror(errno);
    if (i == 0) {
      sockaddr_storage local{};
      socklen_t len = sizeof(local);
      getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &len);
      g.port = ntohs(family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&local)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&local)->sin_port);
    }
    g.fds.push_back(fd.get());
    g.sockets.push_back(std::move(fd));
  }
  return g;
}

std::unique_ptr<ReuseportSteering> MustLoad(uint32_t nshards) {
  absl::StatusOr<std::unique_ptr<ReuseportSteering>> s = ReuseportSteering::Load(nshards);
  // Deliberately a failure, not a skip (see the file comment).
  EXPECT_TRUE(s.ok()) << s.status() << " — the sk_reuseport tests need CAP_BPF (run as root)";
  return s.ok() ? std::move(*s) : nullptr;
}

struct Received {
  uint32_t socket;
  Packet bytes;
};

// Sends `packets` to the group's port from one client socket, in bursts, draining the group
// after each burst. One sender means one 4-tuple: without the program the kernel's hash would
// put every datagram on the same socket, so a spread over sockets is the program's doing.
std::vector<Received> SendAndCollect(const Group& g, const std::vector<Packet>& packets) {
  Fd tx(socket(g.family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  EXPECT_GE(tx.get(), 0);
  sockaddr_storage to;
  const socklen_t to_len = LoopbackAddress(g.family, g.port, &to);

  std::vector<Received> got;
  constexpr size_t kBurst = 64;
  for (size_t start = 0; start < packets.size(); start += kBurst) {
    const size_t end = std::min(packets.size(), start + kBurst);
    for (size_t i = start; i < end; ++i) {
      const Packet& p = packets[i];
      const ssize_t sent =
          sendto(tx.get(), p.data(), p.size(), 0, reinterpret_cast<const sockaddr*>(&to), to_len);
      EXPECT_EQ(sent, static_cast<ssize_t>(p.size())) << std::strerror(errno);
    }
    const size_t want = got.size() + (end - start);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    std::vector<pollfd> pfds;
    for (int fd : g.fds) pfds.push_back(pollfd{fd, POLLIN, 0});
    while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
      if (poll(pfds.data(), pfds.size(), 100) <= 0) continue;
      for (uint32_t s = 0; s < pfds.size(); ++s) {
        if (!(pfds[s].revents & POLLIN)) continue;
        for (;;) {
          uint8_t buf[2048];
          const ssize_t n = recv(g.fds[s], buf, sizeof(buf), MSG_DONTWAIT);
          if (n < 0) break;
          got.push_back(Received{s, Packet(buf, buf + n)});
        }
      }
    }
    EXPECT_EQ(got.size(), want) << "datagrams lost or late after burst at " << start;
  }
  return got;
}

// Each sent datagram arrived exactly once, on the socket of its predicted owner.
void ExpectSteeredAsPredicted(const std::vector<Packet>& sent, const std::vector<Received>& got,
                              uint32_t nshards) {
  // Keyed by the bytes as a string: gcc 12 -O3 reports bogus overreads for maps of vectors.
  absl::flat_hash_map<std::string, int> outstanding;
  auto bytes_of = [](const Packet& p) { return std::string(p.begin(), p.end()); };
  for (const Packet& p : sent) ++outstanding[bytes_of(p)];
  std::vector<int> per_socket(nshards);
  for (const Received& r : got) {
    auto it = outstanding.find(bytes_of(r.bytes));
    ASSERT_NE(it, outstanding.end()) << "unexpected or duplicated datagram of " << r.bytes.size()
                                     << " bytes on socket " << r.socket;
    if (--it->second == 0) outstanding.erase(it);
    const SteeringDecision d = ClassifyForSteering(r.bytes, nshards);
    EXPECT_EQ(r.socket, d.shard) << r.bytes.size() << "-byte datagram, reason "
                                 << static_cast<int>(d.reason) << ", key " << d.key;
    ++per_socket[r.socket];
  }
  EXPECT_TRUE(outstanding.empty()) << outstanding.size() << " datagrams never arrived";
  for (uint32_t s = 0; s < nshards; ++s) EXPECT_GT(per_socket[s], 0) << "socket " << s;
}

ReuseportSteering::Counters Expected(const std::vector<Packet>& packets, uint32_t nshards) {
  ReuseportSteering::Counters c;
  for (const Packet& p : packets) {
    switch (ClassifyForSteering(p, nshards).reason) {
      case SteerReason::kDmrd:
        ++c.steered_dmrd;
        break;
      case SteerReason::kBcsq:
        ++c.steered_bcsq;
        break;
      case SteerReason::kClientId:
        ++c.steered_client_id;
        break;
      case SteerReason::kDefault:
        ++c.default_shard;
        break;
      case SteerReason::kSelectFailed:
        ++c.select_failed;
        break;
    }
  }
  return c;
}

// Every class the program knows, many keys each, with unkeyed and malformed datagrams mixed in.
std::vector<Packet> MixedTraffic(uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Packet> v;
  uint8_t fill = 0;
  for (int i = 0; i < 48; ++i) {
    const uint32_t stream = static_cast<uint32_t>(rng());
    const uint32_t id = 3100000 + static_cast<uint32_t>(rng() % 100000);
    ++fill;  // makes every datagram distinct even when keys repeat
    v.push_back(testing::Dmrd(stream, 55, fill));
    v.push_back(testing::Dmrd(stream ^ 1, 53, fill));
    v.push_back(testing::ObpDmrd(stream ^ 2, fill));
    v.push_back(testing::Dmre(stream ^ 3, 89, fill));
    v.push_back(testing::Dmre(stream ^ 4, 85, fill));
    v.push_back(testing::Bcsq(stream ^ 5, fill));
    v.push_back(testing::Rptping(id + static_cast<uint32_t>(i) * 7));
    v.push_back(testing::Rpto(id + 1, absl::StrCat("TS1=", i)));
    v.push_back(testing::Rptl(id + 2 + static_cast<uint32_t>(i) * 11));
    v.push_back(testing::Rptk(id + 3 + static_cast<uint32_t>(i) * 13));
    v.push_back(testing::Rptcl(id + 4 + static_cast<uint32_t>(i) * 17));
    if (i % 8 == 0) v.push_back(testing::Rptc(id + 5 + static_cast<uint32_t>(i)));
    v.push_back(testing::DmraGateway(id + 6 + static_cast<uint32_t>(i) * 19));
    v.push_back(testing::Rptg(id + 7 + static_cast<uint32_t>(i) * 23));
    // Unkeyed: bridge control, truncated DMRD, garbage of random length (0 included).
    v.push_back(testing::Tagged("BCKA", 24, fill));
    v.push_back(testing::Tagged("BCVE", 25, fill));
    v.push_back(testing::Dmrd(stream, 40, fill));
    Packet junk(static_cast<size_t>(i) * 3);
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    if (!junk.empty()) junk[0] = 'Z';
    v.push_back(junk);
  }
  return v;
}

class ReuseportSteeringTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(ReuseportSteeringTest, EveryDatagramReachesItsOwner) {
  const uint32_t n = GetParam();
  std::unique_ptr<ReuseportSteering> steering = MustLoad(n);
  ASSERT_NE(steering, nullptr);
  Group g = MakeGroup(n);
  ASSERT_TRUE(steering->AttachGroup(g.fds).ok());

  const std::vector<Packet> packets = MixedTraffic(n);
  const ReuseportSteering::Counters before = steering->counters();
  const std::vector<Received> got = SendAndCollect(g, packets);
  ExpectSteeredAsPredicted(packets, got, n);

  const ReuseportSteering::Counters after = steering->counters();
  const ReuseportSteering::Counters want = Expected(packets, n);
  EXPECT_GT(want.steered_dmrd, 0u);
  EXPECT_GT(want.steered_bcsq, 0u);
  EXPECT_GT(want.steered_client_id, 0u);
  EXPECT_GT(want.default_shard, 0u);
  EXPECT_EQ(after.steered_dmrd - before.steered_dmrd, want.steered_dmrd);
  EXPECT_EQ(after.steered_bcsq - before.steered_bcsq, want.steered_bcsq);
  EXPECT_EQ(after.steered_client_id - before.steered_client_id, want.steered_client_id);
  EXPECT_EQ(after.default_shard - before.default_shard, want.default_shard);
  EXPECT_EQ(after.select_failed, 0u);
  EXPECT_EQ(after.total() - before.total(), packets.size());
}

TEST_P(ReuseportSteeringTest, ManyStreamsOfOneClass) {
  const uint32_t n = GetParam();
  std::unique_ptr<ReuseportSteering> steering = MustLoad(n);
  ASSERT_NE(steering, nullptr);
  Group g = MakeGroup(n);
  ASSERT_TRUE(steering->AttachGroup(g.fds).ok());
  std::vector<Packet> packets;
  for (uint32_t k = 1; k <= 500; ++k) packets.push_back(testing::Dmrd(k * 2654435761u));
  const std::vector<Received> got = SendAndCollect(g, packets);
  ExpectSteeredAsPredicted(packets, got, n);
  EXPECT_EQ(steering->counters().steered_dmrd, packets.size());
}

INSTANTIATE_TEST_SUITE_P(Shards, ReuseportSteeringTest, ::testing::Values(2u, 4u),
                         [](const ::testing::TestParamInfo<uint32_t>& info) {
                           return absl::StrCat("N", info.param);
                         });

// Two listeners (HBP and OpenBridge in the hub), one program instance each: their socket
// arrays and counters are independent.
TEST(ReuseportSteeringGroupsTest, TwoListenersTwoInstances) {
  std::unique_ptr<ReuseportSteering> hbp = MustLoad(4);
  std::unique_ptr<ReuseportSteering> obp = MustLoad(4);
  ASSERT_NE(hbp, nullptr);
  ASSERT_NE(obp, nullptr);
  Group hbp_group = MakeGroup(4);
  Group obp_group = MakeGroup(4);
  ASSERT_TRUE(hbp->AttachGroup(hbp_group.fds).ok());
  ASSERT_TRUE(obp->AttachGroup(obp_group.fds).ok());

  std::vector<Packet> hbp_packets, obp_packets;
  for (uint32_t k = 0; k < 100; ++k) {
    hbp_packets.push_back(testing::Dmrd(0x01000000u + k * 7919u));
    hbp_packets.push_back(testing::Rptping(3120000u + k));
    obp_packets.push_back(testing::Dmre(0x02000000u + k * 104729u));
    obp_packets.push_back(testing::Bcsq(0x03000000u + k * 31u));
  }
  ExpectSteeredAsPredicted(hbp_packets, SendAndCollect(hbp_group, hbp_packets), 4);
  ExpectSteeredAsPredicted(obp_packets, SendAndCollect(obp_group, obp_packets), 4);
  EXPECT_EQ(hbp->counters().steered_dmrd, 100u);
  EXPECT_EQ(hbp->counters().steered_client_id, 100u);
  EXPECT_EQ(hbp->counters().steered_bcsq, 0u);
  EXPECT_EQ(obp->counters().steered_dmrd, 100u);
  EXPECT_EQ(obp->counters().steered_bcsq, 100u);
  EXPECT_EQ(obp->counters().steered_client_id, 0u);
}

// The program reads offsets from the UDP header, so an IPv6 listener steers exactly the same.
TEST(ReuseportSteeringGroupsTest, Ipv6ListenerSteersTheSame) {
  {
    Fd probe = ReuseportSocket(AF_INET6);
    if (probe.get() < 0 || !BindLoopback(probe.get(), AF_INET6, 0)) {
      GTEST_SKIP() << "no IPv6 loopback on this host: " << std::strerror(errno);
    }
  }
  std::unique_ptr<ReuseportSteering> steering = MustLoad(4);
  ASSERT_NE(steering, nullptr);
  Group g = MakeGroup(4, AF_INET6);
  ASSERT_TRUE(steering->AttachGroup(g.fds).ok());
  const std::vector<Packet> packets = MixedTraffic(6);
  ExpectSteeredAsPredicted(packets, SendAndCollect(g, packets), 4);
  EXPECT_EQ(steering->counters().total(), packets.size());
  EXPECT_EQ(steering->counters().select_failed, 0u);
}

// A shard's socket closes: the kernel drops it from the array, its datagrams are counted as
// select_failed and still delivered (to a socket the kernel's hash picks).
TEST(ReuseportSteeringGroupsTest, MissingSocketCountsSelectFailedAndStillDelivers) {
  constexpr uint32_t kN = 2;
  std::unique_ptr<ReuseportSteering> steering = MustLoad(kN);
  ASSERT_NE(steering, nullptr);
  Group g = MakeGroup(kN);
  ASSERT_TRUE(steering->AttachGroup(g.fds).ok());
  g.sockets[1].Reset();
  g.fds.pop_back();

  std::vector<Packet> packets;
  uint64_t owned_by_1 = 0;
  for (uint32_t k = 1; k <= 200; ++k) {
    packets.push_back(testing::Dmrd(k * 40503u));
    if (SteeringKeyOwner(packets.back(), kN) == 1) ++owned_by_1;
  }
  ASSERT_GT(owned_by_1, 0u);
  const std::vector<Received> got = SendAndCollect(g, packets);
  EXPECT_EQ(got.size(), packets.size());
  const ReuseportSteering::Counters c = steering->counters();
  EXPECT_EQ(c.select_failed, owned_by_1);
  EXPECT_EQ(c.steered_dmrd, packets.size() - owned_by_1);
}

TEST(ReuseportSteeringApiTest, LoadRejectsBadShardCounts) {
  EXPECT_EQ(ReuseportSteering::Load(0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReuseportSteering::Load(65).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ReuseportSteeringApiTest, AttachGroupChecksItsSockets) {
  std::unique_ptr<ReuseportSteering> steering = MustLoad(2);
  ASSERT_NE(steering, nullptr);
  EXPECT_EQ(steering->nshards(), 2u);
  EXPECT_GE(steering->prog_fd(), 0);

  Group one = MakeGroup(1);
  EXPECT_EQ(steering->AttachGroup(one.fds).code(), absl::StatusCode::kInvalidArgument);

  // Two sockets on different ports are not one group.
  Group a = MakeGroup(1);
  Group b = MakeGroup(1);
  const int mixed[] = {a.fds[0], b.fds[0]};
  EXPECT_EQ(steering->AttachGroup(mixed).code(), absl::StatusCode::kInvalidArgument);

  // An unbound socket cannot enter a socket array.
  Group c = MakeGroup(1);
  Fd unbound = ReuseportSocket();
  const int with_unbound[] = {c.fds[0], unbound.get()};
  EXPECT_FALSE(steering->AttachGroup(with_unbound).ok());

  Group good = MakeGroup(2);
  ASSERT_TRUE(steering->AttachGroup(good.fds).ok());
  Group again = MakeGroup(2);
  EXPECT_EQ(steering->AttachGroup(again.fds).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace dmrswitch::io
