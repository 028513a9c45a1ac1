// KernelShardLoop (and the ShardRuntime inside it) on real loopback UDP sockets, without root:
// the hub's listener is a socket on 127.0.0.1, every client is a socket of its own, and the loop
// runs one Step() at a time. The DMR payloads are compared with a reference RoutingCore fed the
// same datagrams, so these tests check what the kernel I/O adds: recvmmsg/sendmmsg batches,
// addresses, truncation, and steering between shards in user space.
#include "dataplane/io/kernel_shard_loop.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dataplane/io/steering/steering_key.h"
#include "dataplane/io/udp_socket.h"
#include "dataplane/ipc/channel.h"
#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/routing_core.h"
#include "dataplane/route/slot_lease.h"
#include "tests/io/eal_environment.h"

namespace dmrswitch::io {
namespace {

using Bytes = std::vector<uint8_t>;
constexpr uint32_t kLoopback = 0x7F000001;
constexpr uint32_t kTg = 91;

// A UDP socket on 127.0.0.1 (port chosen by the kernel), non-blocking.
int BoundSocket(route::Endpoint* bound) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(kLoopback);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *bound = {kLoopback, ntohs(a.sin_port)};
  int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
  return fd;
}

// The same on ::1 (an AF_INET6 socket, IPv6 only).
int BoundSocket6(route::Endpoint* bound) {
  const int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << std::strerror(errno);
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *bound = route::Endpoint::V6(a.sin6_addr.s6_addr, ntohs(a.sin6_port));
  int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
  return fd;
}

void SendTo(int fd, route::Endpoint to, const Bytes& b) {
  SockAddr a;
  const socklen_t len = ToSockaddr(to, to.v6 ? AF_INET6 : AF_INET, &a);
  ASSERT_EQ(sendto(fd, b.data(), b.size(), 0, &a.sa, len), static_cast<ssize_t>(b.size()));
}

// Every datagram waiting on `fd`, with its source.
std::vector<std::pair<route::Endpoint, Bytes>> ReceiveAll(int fd) {
  std::vector<std::pair<route::Endpoint, Bytes>> out;
  uint8_t buf[2048];
  for (;;) {
    SockAddr a{};
    socklen_t len = sizeof(a);
    const ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, &a.sa, &len);
    if (n < 0) break;
    out.emplace_back(FromSockaddr(a), Bytes(buf, buf + n));
  }
  return out;
}

void Be32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}
Bytes Tagged(const char* tag, uint32_t id) {
  Bytes b(tag, tag + std::strlen(tag));
  Be32(b, id);
  return b;
}
// A TS2 group voice frame to kTg (PROTOCOL.md §1.3): `seq` 0 is the voice header.
Bytes Voice(uint32_t repeater, uint32_t stream_id, uint8_t seq) {
  Bytes b = {'D', 'M', 'R', 'D', seq, 0x2F, 0xBE, 0xA9, 0, 0, kTg};  // rf_src 3129001
  Be32(b, repeater);
  b.push_back(seq == 0 ? 0xA1 : static_cast<uint8_t>(0x81 + (seq - 1) % 5));
  Be32(b, stream_id);
  for (int i = 0; i < 33; ++i) b.push_back(static_cast<uint8_t>(i * 3));
  b.push_back(0);
  b.push_back(0);
  return b;
}

class Recorder final : public route::PacketSink {
 public:
  uint8_t* Begin(uint32_t, const route::Endpoint& to) override {
    to_ = to;
    return buf_;
  }
  void Commit(uint16_t len) override { out[to_.port] = Bytes(buf_, buf_ + len); }
  std::map<uint16_t, Bytes> out;  // by destination port

 private:
  route::Endpoint to_;
  uint8_t buf_[kMaxPacketBytes];
};
class NoEvents final : public route::EventSink {
 public:
  void Emit(const route::Event&) override {}
};

struct Client {
  uint32_t id;
  int fd;
  route::Endpoint addr;
};

class KernelShardLoopTest : public ::testing::Test {
 protected:
  // `nshards` loops, each with its own socket (user-space steering between them when > 1), and
  // `nclients` clients, all static members of kTg on TS2.
  void Start(uint32_t nshards, uint32_t nclients) {
    static int instance = 0;
    const std::string name = absl::StrCat("ks", instance++);
    auto channels = ipc::ChannelSet::Create(name, nshards, 1024);
    ASSERT_TRUE(channels.ok()) << channels.status();
    channels_ = std::make_unique<ipc::ChannelSet>(*std::move(channels));
    leases_ = std::make_unique<route::SlotLeases>(1024);
    steer_.assign(size_t{nshards} * nshards, nullptr);
    for (uint32_t f = 0; f < nshards; ++f) {
      for (uint32_t t = 0; t < nshards; ++t) {
        if (f == t) continue;
        steer_[f * nshards + t] =
            rte_ring_create_elem(absl::StrCat(name, "st", f, t).c_str(), sizeof(void*), 1024, 0,
                                 RING_F_SP_ENQ | RING_F_SC_DEQ);
        ASSERT_NE(steer_[f * nshards + t], nullptr);
      }
    }
    for (uint32_t s = 0; s < nshards; ++s) wake_.push_back(eventfd(0, EFD_NONBLOCK));
    for (uint32_t s = 0; s < nshards; ++s) {
      route::Endpoint bound;
      hub_fd_.push_back(ipv6_ ? BoundSocket6(&bound) : BoundSocket(&bound));
      hub_.push_back(bound);
      KernelShardLoopConfig c;
      c.runtime = RuntimeConfig{s, nshards, 1, route::RoutingCoreConfig{256, 0x5EED}};
      c.userspace_steering = nshards > 1;
      std::vector<rte_ring*> in(nshards), out(nshards);
      for (uint32_t o = 0; o < nshards; ++o) {
        in[o] = steer_[o * nshards + s];
        out[o] = steer_[s * nshards + o];
      }
      loops_.push_back(std::make_unique<KernelShardLoop>(
          c, leases_.get(), channels_->shard(s), channels_->pool(),
          std::vector<int>{hub_fd_.back()}, in, out, wake_, -1));
    }
    route::RouteSnapshotBuilder b(route::HubPolicy{}, 1024);
    for (uint32_t i = 0; i < nclients; ++i) {
      Client c;
      c.id = 3120001 + i;
      c.fd = ipv6_ ? BoundSocket6(&c.addr) : BoundSocket(&c.addr);
      clients_.push_back(c);
      route::ClientSpec spec;
      spec.id = c.id;
      spec.addr = c.addr;
      if (auto o = addr_override_.find(i); o != addr_override_.end()) spec.addr = o->second;
      ASSERT_TRUE(b.AddClient(i, spec).ok());
      ASSERT_TRUE(b.Subscribe(i, route::kTs2, kTg, route::MemberKind::kStatic).ok());
    }
    auto snap = b.Build(1);
    ASSERT_TRUE(snap.ok());
    snapshot_ = *snap;
    for (uint32_t s = 0; s < nshards; ++s) {
      ASSERT_TRUE(ipc::SendMessage(
          channels_->shard(s).cmd,
          ipc::Message::Make(ipc::MsgType::kSnapshotPublish, static_cast<uint8_t>(s),
                             ipc::SnapshotPublish{1, snapshot_.get()})));
      loops_[s]->Step();
    }
    ref_leases_ = std::make_unique<route::SlotLeases>(1024);
    ref_ = std::make_unique<route::RoutingCore>(route::RoutingCoreConfig{256, 0x5EED},
                                                ref_leases_.get(), &rec_, &ev_);
    ref_->SetSnapshot(snapshot_, 1);
  }
  void TearDown() override {
    loops_.clear();
    for (int fd : hub_fd_) close(fd);
    for (int fd : wake_) close(fd);
    for (const Client& c : clients_) close(c.fd);
    for (rte_ring* r : steer_) rte_ring_free(r);
    channels_.reset();
  }
  // What the reference core sends for `pkt` from client `i`, by destination port.
  std::map<uint16_t, Bytes> Reference(const Bytes& pkt, size_t i) {
    rec_.out.clear();
    ref_->OnHbpPacket(pkt, clients_[i].addr, 1);
    return rec_.out;
  }
  // Client 1's keepalive is answered from the listener's address, and a header from client 0
  // (stream `stream_id`) reaches clients 1 and 2 from there, as the reference core builds it.
  void KeepaliveAndFanout(uint32_t stream_id) {
    SendTo(clients_[1].fd, hub_[0], Tagged("RPTPING", clients_[1].id));
    loops_[0]->Step();
    auto got = ReceiveAll(clients_[1].fd);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].first, hub_[0]) << "answered from the listener's address";
    EXPECT_EQ(got[0].second, Tagged("MSTPONG", clients_[1].id));

    const Bytes header = Voice(clients_[0].id, stream_id, 0);
    const auto ref = Reference(header, 0);
    ASSERT_EQ(ref.size(), 2u);
    SendTo(clients_[0].fd, hub_[0], header);
    loops_[0]->Step();
    for (size_t i : {1, 2}) {
      got = ReceiveAll(clients_[i].fd);
      ASSERT_EQ(got.size(), 1u) << "client " << i;
      EXPECT_EQ(got[0].first, hub_[0]);
      EXPECT_EQ(got[0].second, ref.at(clients_[i].addr.port));
    }
  }
  // Steps every loop until nothing is left to do (steering may take a second round).
  void Settle() {
    for (int round = 0; round < 4; ++round) {
      for (auto& l : loops_) l->Step();
    }
  }

  // Client index → the address the snapshot gives it instead of its socket's.
  std::map<uint32_t, route::Endpoint> addr_override_;
  bool ipv6_ = false;  // the hub's socket and the clients' on ::1
  std::unique_ptr<ipc::ChannelSet> channels_;
  std::unique_ptr<route::SlotLeases> leases_;
  std::vector<rte_ring*> steer_;
  std::vector<int> wake_;
  std::vector<int> hub_fd_;
  std::vector<route::Endpoint> hub_;
  std::vector<std::unique_ptr<KernelShardLoop>> loops_;
  std::vector<Client> clients_;
  std::shared_ptr<const route::RouteSnapshot> snapshot_;
  Recorder rec_;
  NoEvents ev_;
  std::unique_ptr<route::SlotLeases> ref_leases_;
  std::unique_ptr<route::RoutingCore> ref_;
};

TEST_F(KernelShardLoopTest, AKeepaliveIsAnsweredAndAFrameFansOutFromTheListener) {
  Start(1, 3);
  ASSERT_NO_FATAL_FAILURE(KeepaliveAndFanout(0xCAFE0001));
  EXPECT_TRUE(ReceiveAll(clients_[0].fd).empty()) << "never back to the talker";
}

// 300 listeners: one frame is 299 datagrams, more than one sendmmsg batch (256).
TEST_F(KernelShardLoopTest, AFanoutBeyondOneSendBatchReachesEveryone) {
  Start(1, 300);
  const Bytes header = Voice(clients_[0].id, 0xCAFE0002, 0);
  const auto ref = Reference(header, 0);
  ASSERT_EQ(ref.size(), 299u);
  SendTo(clients_[0].fd, hub_[0], header);
  loops_[0]->Step();
  for (size_t i = 1; i < clients_.size(); ++i) {
    const auto got = ReceiveAll(clients_[i].fd);
    ASSERT_EQ(got.size(), 1u) << "client " << i;
    ASSERT_EQ(got[0].second, ref.at(clients_[i].addr.port)) << "client " << i;
  }
  EXPECT_EQ(loops_[0]->counters().tx_datagrams, 299u);
  EXPECT_EQ(loops_[0]->counters().tx_errors, 0u);
}

// A destination the kernel refuses (here a broadcast address, refused without SO_BROADCAST; in
// service an unreachable peer network or an output firewall rule) costs its own datagram only:
// sendmmsg stops at it, and the destinations after it in the same batch are still sent.
TEST_F(KernelShardLoopTest, ADestinationTheKernelRefusesCostsOnlyItsOwnDatagram) {
  addr_override_[2] = {0xFFFFFFFF, 9};
  Start(1, 6);
  const Bytes header = Voice(clients_[0].id, 0xCAFE0003, 0);
  SendTo(clients_[0].fd, hub_[0], header);
  loops_[0]->Step();
  for (size_t i : {1, 3, 4, 5}) {
    EXPECT_EQ(ReceiveAll(clients_[i].fd).size(), 1u) << "client " << i;
  }
  EXPECT_TRUE(ReceiveAll(clients_[2].fd).empty());
  EXPECT_EQ(loops_[0]->counters().tx_datagrams, 4u);
  EXPECT_EQ(loops_[0]->counters().tx_errors, 1u);
}

// The test thread in a network namespace of its own (needs CAP_SYS_ADMIN: CI runs as root), with
// its loopback up; back in the original one at the end. Its sockets keep the namespace alive
// until they are closed; nothing is left behind when the process ends, even on failure.
class PrivateNetns {
 public:
  PrivateNetns() {
    original_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (original_ < 0 || unshare(CLONE_NEWNET) != 0) {
      why_ = absl::StrCat("no network namespace of its own: ", std::strerror(errno));
      return;
    }
    entered_ = true;
    if (!Run("ip link set lo up")) why_ = "ip link set lo up failed";
  }
  ~PrivateNetns() {
    // The later tests of this binary must not run in this namespace: a failed return ends them.
    if (entered_ && setns(original_, CLONE_NEWNET) != 0) {
      std::fprintf(stderr, "setns back to the original network namespace: %s\n",
                   std::strerror(errno));
      std::abort();
    }
    if (original_ >= 0) close(original_);
  }
  bool ok() const { return why_.empty(); }
  const std::string& why() const { return why_; }
  // A command (ip, tc) run in this namespace: a child inherits the forking thread's namespaces.
  static bool Run(const std::string& cmd) {
    return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0;
  }

 private:
  int original_ = -1;
  bool entered_ = false;
  std::string why_;
};

// A full socket send buffer (EAGAIN from sendmmsg, as under a burst bigger than the buffer on a
// slow or busy link) costs the datagrams that did not fit, counted, and the loop goes on: it
// never waits for the kernel, and the next frame reaches everyone once the buffer drains. Real
// kernel behaviour, not an injected error: a token-bucket qdisc on the namespace's loopback holds
// the datagrams, so they stay charged to the hub socket's small send buffer.
TEST_F(KernelShardLoopTest, AFullSendBufferCostsWhatDidNotFitAndTheLoopGoesOn) {
  PrivateNetns ns;
  if (!ns.ok()) GTEST_SKIP() << ns.why();
  Start(1, 300);
  const int small = 4096;
  ASSERT_EQ(setsockopt(hub_fd_[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
  ASSERT_TRUE(
      PrivateNetns::Run("tc qdisc add dev lo root tbf rate 8kbit burst 1600 limit 10000000"))
      << "tc qdisc add (sch_tbf)";
  SendTo(clients_[0].fd, hub_[0], Voice(clients_[0].id, 0xCAFE0004, 0));
  loops_[0]->Step();
  const uint64_t sent = loops_[0]->counters().tx_datagrams;
  const uint64_t errors = loops_[0]->counters().tx_errors;
  EXPECT_GT(sent, 0u);
  EXPECT_GT(errors, 0u) << "the send buffer never filled";
  EXPECT_EQ(sent + errors, 299u) << "every datagram is either sent or counted";

  // The link drains (the qdisc and what it held are gone): the next frame reaches all 299.
  ASSERT_TRUE(PrivateNetns::Run("tc qdisc del dev lo root"));
  for (const Client& c : clients_) ReceiveAll(c.fd);
  const Bytes next = Voice(clients_[0].id, 0xCAFE0004, 1);
  const auto ref = Reference(Voice(clients_[0].id, 0xCAFE0004, 0), 0);
  ASSERT_EQ(ref.size(), 299u);
  const auto ref_next = Reference(next, 0);
  ASSERT_EQ(ref_next.size(), 299u);
  SendTo(clients_[0].fd, hub_[0], next);
  loops_[0]->Step();
  EXPECT_EQ(loops_[0]->counters().tx_datagrams, sent + 299);
  EXPECT_EQ(loops_[0]->counters().tx_errors, errors);
  for (size_t i = 1; i < clients_.size(); ++i) {
    const auto got = ReceiveAll(clients_[i].fd);
    ASSERT_FALSE(got.empty()) << "client " << i;
    EXPECT_EQ(got.back().second, ref_next.at(clients_[i].addr.port)) << "client " << i;
  }
}

// The same over IPv6 (::1): the hub's AF_INET6 socket answers a keepalive and fans a frame out
// to IPv6 clients, from its own address; routing is the same as for IPv4 (the reference core).
TEST_F(KernelShardLoopTest, Ipv6ClientsAreServedLikeIpv4Ones) {
  ipv6_ = true;
  Start(1, 3);
  ASSERT_TRUE(hub_[0].v6);
  ASSERT_NO_FATAL_FAILURE(KeepaliveAndFanout(0xCAFE0061));
  // A spoofed source: another port on ::1 claiming client 0's ID is refused.
  route::Endpoint other;
  const int spoof = BoundSocket6(&other);
  SendTo(spoof, hub_[0], Voice(clients_[0].id, 0xCAFE0061, 1));
  loops_[0]->Step();
  EXPECT_TRUE(ReceiveAll(clients_[1].fd).empty());
  close(spoof);
}

TEST_F(KernelShardLoopTest, AnOversizedDatagramIsCountedAndDropped) {
  Start(1, 2);
  SendTo(clients_[0].fd, hub_[0], Bytes(600, 'D'));
  SendTo(clients_[1].fd, hub_[0], Tagged("RPTPING", clients_[1].id));
  loops_[0]->Step();
  EXPECT_EQ(loops_[0]->counters().rx_truncated, 1u);
  EXPECT_EQ(ReceiveAll(clients_[1].fd).size(), 1u) << "the burst goes on after it";
}

// User-space steering (no sk_reuseport program): a frame that reaches the wrong shard's socket is
// handed to its owner, whose wake-up eventfd is poked, and leaves from the owner's socket.
TEST_F(KernelShardLoopTest, AFrameOnTheWrongShardIsSteeredToItsOwner) {
  Start(2, 3);
  uint32_t stream = 0xCAFE1000;
  Bytes header;
  do {
    header = Voice(clients_[0].id, ++stream, 0);
  } while (SteeringKeyOwner(header, 2) != 1);
  const auto ref = Reference(header, 0);
  ASSERT_EQ(ref.size(), 2u);
  SendTo(clients_[0].fd, hub_[0], header);  // shard 0's socket
  loops_[0]->Step();
  EXPECT_EQ(loops_[0]->counters().steered_out, 1u);
  uint64_t pokes = 0;
  EXPECT_EQ(read(wake_[1], &pokes, sizeof(pokes)), static_cast<ssize_t>(sizeof(pokes)));
  EXPECT_EQ(pokes, 1u);
  EXPECT_TRUE(ReceiveAll(clients_[1].fd).empty()) << "shard 0 routes nothing it does not own";
  loops_[1]->Step();
  EXPECT_EQ(loops_[1]->counters().steered_in, 1u);
  for (size_t i : {1, 2}) {
    const auto got = ReceiveAll(clients_[i].fd);
    ASSERT_EQ(got.size(), 1u) << "client " << i;
    EXPECT_EQ(got[0].first, hub_[1]) << "sent by the owner shard";
    EXPECT_EQ(got[0].second, ref.at(clients_[i].addr.port));
  }
  // Frames of one stream keep their owner whatever socket they arrive on (one every 60 ms: each
  // is handled before the next arrives).
  for (uint8_t seq = 1; seq <= 5; ++seq) {
    SendTo(clients_[0].fd, hub_[seq % 2], Voice(clients_[0].id, stream, seq));
    Settle();
  }
  EXPECT_EQ(loops_[0]->runtime().core().counters().packets_routed, 0u);
  EXPECT_EQ(loops_[1]->runtime().core().counters().packets_routed, 6u);
  EXPECT_EQ(ReceiveAll(clients_[1].fd).size(), 5u);
}

}  // namespace
}  // namespace dmrswitch::io
