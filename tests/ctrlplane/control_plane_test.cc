// ControlPlane behind real DPDK rings (EAL without hugepages): the shards' side of every ring is
// played by the test, so each message and datagram that crosses the boundary is checked.

#include "ctrlplane/control_plane.h"

#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ctrlplane/restart_state.h"
#include "dataplane/io/clock.h"
#include "dataplane/ipc/channel.h"
#include "dataplane/ipc/plane_info.h"
#include "dataplane/proto/crypto.h"
#include "dataplane/proto/hbp.h"

namespace dmrswitch::cp {
namespace {

using route::kMs;
using route::kSec;

constexpr uint32_t kShards = 2;
constexpr route::Endpoint kClientAddr{0x7F000001, 40001};

std::string ConfigToml(std::string_view passphrase) {
  return absl::StrCat(R"([hub]
server_id = 310999
shards = 2
[hbp]
listen = "127.0.0.1:62031"
passphrase = ")",
                      std::string(passphrase), R"("
[[hbp.static]]
client = 3120001
ts2 = [3100]
)");
}

class ControlPlaneTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::vector<std::string> args = {"control_plane_test",
                                     "--no-huge",
                                     "--no-pci",
                                     "--no-shconf",
                                     "-m",
                                     "64",
                                     "--log-level=lib.eal:error",
                                     "--no-telemetry",
                                     absl::StrCat("--file-prefix=cpt", getpid())};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    ASSERT_GE(rte_eal_init(static_cast<int>(argv.size()), argv.data()), 0);
    auto set = ipc::ChannelSet::Create("cpt", kShards);
    ASSERT_TRUE(set.ok()) << set.status();
    channels_ = new ipc::ChannelSet(*std::move(set));
  }

  static void TearDownTestSuite() {
    delete channels_;
    channels_ = nullptr;
    const std::string runtime_dir = rte_eal_get_runtime_dir();
    rte_eal_cleanup();
    std::error_code ec;
    std::filesystem::remove_all(runtime_dir, ec);
  }

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / absl::StrCat("cpt-", getpid());
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "hub.toml").string();
    WriteConfig("passw0rd");
    auto config = LoadConfigFile(path_);
    ASSERT_TRUE(config.ok()) << config.status();
    std::vector<ipc::ShardChannel> ch;
    for (uint32_t s = 0; s < kShards; ++s) ch.push_back(channels_->shard(s));
    cp_ = std::make_unique<ControlPlane>(*config, path_, ch, channels_->cp_cmd(), channels_->pool(),
                                         std::vector<int>{-1, -1});
  }
  void TearDown() override {
    cp_.reset();
    for (uint32_t s = 0; s < kShards; ++s) {
      Commands(s);
      Sent(s);
    }
    std::filesystem::remove_all(dir_);
  }

  void WriteConfig(std::string_view passphrase) { std::ofstream(path_) << ConfigToml(passphrase); }

  // What the control plane told shard `s` (and acks every publish, as a shard does).
  std::vector<ipc::Message> Commands(uint32_t s, bool ack = false) {
    ipc::Message m[64];
    const unsigned n = ipc::ReceiveMessages(channels_->shard(s).cmd, m, 64);
    std::vector<ipc::Message> out(m, m + n);
    for (const ipc::Message& msg : out) {
      if (ack && msg.type == ipc::MsgType::kSnapshotPublish) {
        ipc::SendMessage(
            channels_->shard(s).sup,
            ipc::Message::Make(ipc::MsgType::kSnapshotAck, static_cast<uint8_t>(s),
                               ipc::SnapshotAck{msg.As<ipc::SnapshotPublish>().generation}));
      }
    }
    return out;
  }
  // The latest snapshot published to shard 0 (acking on every shard).
  const route::RouteSnapshot* LatestSnapshot() {
    const route::RouteSnapshot* latest = nullptr;
    for (uint32_t s = 0; s < kShards; ++s) {
      for (const ipc::Message& m : Commands(s, /*ack=*/true)) {
        if (m.type == ipc::MsgType::kSnapshotPublish && s == 0) {
          latest = static_cast<const route::RouteSnapshot*>(m.As<ipc::SnapshotPublish>().snapshot);
        }
      }
    }
    if (latest != nullptr) seen_ = latest;
    return latest;
  }
  // The newest snapshot published to shard 0 so far, whichever call acked it (Login acks the one
  // its RPTACK waits for).
  const route::RouteSnapshot* CurrentSnapshot() {
    LatestSnapshot();
    return seen_;
  }
  // A datagram arriving at shard `s` on the HBP listener and handed to control.
  void Arrive(uint32_t s, std::vector<uint8_t> bytes, route::Endpoint from = kClientAddr) {
    rte_mbuf* m = ipc::PacketToMbuf(channels_->pool(), bytes, ipc::PacketMeta{0, 0, from});
    ASSERT_NE(m, nullptr);
    ASSERT_TRUE(ipc::SendMbuf(channels_->shard(s).pkt_up, m));
  }
  // Datagrams the control plane asked shard `s` to send.
  std::vector<std::pair<route::Endpoint, std::vector<uint8_t>>> Sent(uint32_t s) {
    std::vector<std::pair<route::Endpoint, std::vector<uint8_t>>> out;
    rte_mbuf* m[64];
    const unsigned n = ipc::ReceiveMbufs(channels_->shard(s).pkt_down, m, 64);
    for (unsigned i = 0; i < n; ++i) {
      const auto b = ipc::BytesOf(m[i]);
      out.emplace_back(ipc::MetaOf(m[i]).addr, std::vector<uint8_t>(b.begin(), b.end()));
      ipc::FreeMbuf(m[i]);
    }
    return out;
  }
  static std::vector<uint8_t> Id(proto::HbpType t, uint32_t v) {
    std::vector<uint8_t> b(16);
    b.resize(proto::EncodeHbpIdPacket(t, v, b));
    return b;
  }
  // Logs client `id` in through the rings, answering the challenge; returns the last reply.
  std::vector<uint8_t> Login(uint32_t id, std::string_view passphrase, route::TimeNs& now) {
    Arrive(0, Id(proto::HbpType::kRptl, id));
    cp_->Step(now += kMs);
    auto sent = Sent(0);
    EXPECT_EQ(sent.size(), 1u);
    if (sent.size() != 1) return {};
    proto::HbpIdPacket ack;
    EXPECT_EQ(proto::DecodeHbpIdPacket(sent[0].second, &ack), proto::Reject::kOk);
    proto::Rptk k{id, proto::HbpLoginDigest(ack.value, passphrase)};
    std::vector<uint8_t> rptk(proto::kRptkBytes);
    proto::EncodeRptk(k, rptk);
    Arrive(1, rptk);  // any shard may hand a login packet to control
    cp_->Step(now += kMs);
    sent = Sent(0);
    if (sent.size() != 1) return {};
    if (sent[0].second[0] == 'M') return sent[0].second;  // MSTNAK
    proto::Rptc c;
    c.id = id;
    c.config.callsign = "N0CALL";
    c.config.slots = '3';
    std::vector<uint8_t> rptc(proto::kRptcBytes);
    proto::EncodeRptc(c, rptc);
    Arrive(0, rptc);
    // The RPTACK goes out once every shard routes with a snapshot that knows the client: step
    // (past the publication coalescing window) and ack as the shards do, until it comes.
    for (int i = 0; i < 10; ++i) {
      cp_->Step(now += 25 * kMs);
      sent = Sent(0);
      if (!sent.empty()) break;
      LatestSnapshot();
    }
    return sent.size() == 1 ? sent[0].second : std::vector<uint8_t>{};
  }

  // Starts the control plane and logs client 3120001 in (use with ASSERT_NO_FATAL_FAILURE);
  // `slot` is where the published snapshot has it.
  void StartWithClient(route::TimeNs& now, uint32_t* slot) {
    ASSERT_TRUE(cp_->Start(now).ok());
    ASSERT_EQ(Login(3120001, "passw0rd", now), Id(proto::HbpType::kRptack, 3120001));
    cp_->Step(now += 50 * kMs);
    const route::RouteSnapshot* snap = CurrentSnapshot();
    ASSERT_NE(snap, nullptr);
    ASSERT_GE(snap->FindClient(3120001), 0);
    *slot = static_cast<uint32_t>(snap->FindClient(3120001));
  }
  // Auth (component 0) fails at the next packet it handles: a keepalive of 3120001.
  void FailAuthWithAKeepalive(route::TimeNs& now) {
    ASSERT_TRUE(cp_->InjectFault("auth"));
    Arrive(0, Id(proto::HbpType::kRptping, 3120001));
    cp_->Step(now += kMs);
    ASSERT_TRUE(cp_->supervisor().failed(0));
  }
  // A TS2 group-call event of client 3120001 (logged in at `slot`) on `tg`, as a shard emits
  // it; a kSubscriptionRequest asks for the TG's activation.
  static route::Event ClientEvent(route::EventType type, uint32_t slot, uint32_t stream_id,
                                  uint32_t tg, route::TimeNs at) {
    route::Event e;
    e.type = type;
    if (type == route::EventType::kSubscriptionRequest) {
      e.action = route::SubscriptionAction::kActivateUa;
    }
    e.ts = route::kTs2;
    e.source = route::SystemRef::Client(slot);
    e.source_id = 3120001;
    e.stream_id = stream_id;
    e.rf_src = 3120001;
    e.dst = tg;
    e.tg = tg;
    e.at = at;
    return e;
  }
  // `e` on the event ring of shard `shard`.
  static bool Emit(uint32_t shard, const route::Event& e) {
    return ipc::SendMessage(
        channels_->shard(shard).evt,
        ipc::Message::Make(ipc::MsgType::kEvent, static_cast<uint8_t>(shard), e));
  }

  // A PlaneInfo of this test's own, as dmrswitch-dp creates it for its control planes.
  static ipc::PlaneInfo* NewPlaneInfo(const std::string& prefix) {
    auto info = ipc::CreatePlaneInfo(absl::StrCat(prefix, getpid()), kShards, 10000,
                                     std::vector<route::Endpoint>{{0x7F000001, 62031}}, false);
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? *info : nullptr;
  }
  // A control plane that records its generations in `info`, as dmrswitch-cp does: another one
  // made the same way later is its successor.
  std::unique_ptr<ControlPlane> RecordingIn(ipc::PlaneInfo* info) {
    auto config = LoadConfigFile(path_);
    EXPECT_TRUE(config.ok()) << config.status();
    std::vector<ipc::ShardChannel> ch;
    for (uint32_t s = 0; s < kShards; ++s) ch.push_back(channels_->shard(s));
    return std::make_unique<ControlPlane>(*config, path_, ch, channels_->cp_cmd(),
                                          channels_->pool(), std::vector<int>{-1, -1}, info);
  }
  // Leaves nothing recorded in `info` for other tests (the memzone stays; its records were the
  // test's).
  static void ForgetRecords(ipc::PlaneInfo* info) {
    for (ipc::SnapshotRecord& r : info->retained) {
      r.generation = 0;
      r.snapshot = nullptr;
    }
    info->current_generation = 0;
  }

  static inline ipc::ChannelSet* channels_ = nullptr;
  const route::RouteSnapshot* seen_ = nullptr;
  std::filesystem::path dir_;
  std::string path_;
  std::unique_ptr<ControlPlane> cp_;
};

TEST_F(ControlPlaneTest, PublishesTheFirstSnapshotToEveryShardAndFreesAckedGenerations) {
  route::TimeNs now = 1000 * kSec;
  ASSERT_TRUE(cp_->Start(now).ok());
  for (uint32_t s = 0; s < kShards; ++s) {
    auto cmds = Commands(s, /*ack=*/true);
    ASSERT_EQ(cmds.size(), 1u);
    EXPECT_EQ(cmds[0].type, ipc::MsgType::kSnapshotPublish);
    EXPECT_EQ(cmds[0].As<ipc::SnapshotPublish>().generation, 1u);
  }
  cp_->Step(now += kMs);
  EXPECT_EQ(cp_->publisher().acked_by_all(), 1u);
  EXPECT_EQ(cp_->publisher().retained(), 1u);
}

TEST_F(ControlPlaneTest, LoginOverTheRingsPublishesTheClientWithItsStatics) {
  route::TimeNs now = 1000 * kSec;
  ASSERT_TRUE(cp_->Start(now).ok());
  LatestSnapshot();
  const std::vector<uint8_t> reply = Login(3120001, "passw0rd", now);
  EXPECT_EQ(reply, Id(proto::HbpType::kRptack, 3120001));
  cp_->Step(now += 50 * kMs);  // past the rebuild coalescing window
  const route::RouteSnapshot* snap = CurrentSnapshot();
  ASSERT_NE(snap, nullptr);
  EXPECT_GE(snap->generation(), 2u);
  const int64_t slot = snap->FindClient(3120001);
  ASSERT_GE(slot, 0);
  EXPECT_EQ(snap->client(static_cast<uint32_t>(slot))->addr, kClientAddr);
  EXPECT_TRUE(snap->IsMember(static_cast<uint32_t>(slot), route::kTs2, 3100));
  // Every shard acked: older generations are freed, only the current one is kept.
  cp_->Step(now += kMs);
  EXPECT_EQ(cp_->publisher().acked_by_all(), snap->generation());
  EXPECT_EQ(cp_->publisher().retained(), 1u);
}

// A client may send DMRD the moment it reads the RPTACK of its RPTC: the RPTACK waits until every
// shard has acked a snapshot that knows the client (Part C: MMDVMHost keys up at once).
TEST_F(ControlPlaneTest, RptackWaitsUntilEveryShardRoutesWithTheClient) {
  route::TimeNs now = 1000 * kSec;
  ASSERT_TRUE(cp_->Start(now).ok());
  LatestSnapshot();
  Arrive(0, Id(proto::HbpType::kRptl, 3120001));
  cp_->Step(now += kMs);
  auto sent = Sent(0);
  ASSERT_EQ(sent.size(), 1u);  // RPTACK + salt: changes nothing, not held
  proto::HbpIdPacket salt;
  ASSERT_EQ(proto::DecodeHbpIdPacket(sent[0].second, &salt), proto::Reject::kOk);
  std::vector<uint8_t> rptk(proto::kRptkBytes);
  proto::EncodeRptk(proto::Rptk{3120001, proto::HbpLoginDigest(salt.value, "passw0rd")}, rptk);
  Arrive(0, rptk);
  cp_->Step(now += kMs);
  ASSERT_EQ(Sent(0).size(), 1u);  // RPTACK after the digest: not held either
  proto::Rptc c;
  c.id = 3120001;
  c.config.callsign = "N0CALL";
  c.config.slots = '3';
  std::vector<uint8_t> rptc(proto::kRptcBytes);
  proto::EncodeRptc(c, rptc);
  Arrive(0, rptc);
  cp_->Step(now += 25 * kMs);  // publishes the generation with the client
  EXPECT_TRUE(Sent(0).empty()) << "no RPTACK before any shard routes with the client";
  // Shard 0 acks; shard 1 does not yet.
  const route::RouteSnapshot* with_client = nullptr;
  for (const ipc::Message& m : Commands(0, /*ack=*/true)) {
    if (m.type == ipc::MsgType::kSnapshotPublish) {
      with_client = static_cast<const route::RouteSnapshot*>(m.As<ipc::SnapshotPublish>().snapshot);
    }
  }
  ASSERT_NE(with_client, nullptr);
  EXPECT_GE(with_client->FindClient(3120001), 0);
  cp_->Step(now += kMs);
  EXPECT_TRUE(Sent(0).empty()) << "no RPTACK while shard 1 routes with an older snapshot";
  Commands(1, /*ack=*/true);
  cp_->Step(now += kMs);
  sent = Sent(0);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].second, Id(proto::HbpType::kRptack, 3120001));
  EXPECT_EQ(sent[0].first, kClientAddr);
}

TEST_F(ControlPlaneTest, AShardThatNeverAcksDelaysTheRptackTwoSecondsAtMost) {
  route::TimeNs now = 1000 * kSec;
  ASSERT_TRUE(cp_->Start(now).ok());
  LatestSnapshot();
  Arrive(0, Id(proto::HbpType::kRptl, 3120001));
  cp_->Step(now += kMs);
  auto sent = Sent(0);
  ASSERT_EQ(sent.size(), 1u);
  proto::HbpIdPacket salt;
  ASSERT_EQ(proto::DecodeHbpIdPacket(sent[0].second, &salt), proto::Reject::kOk);
  std::vector<uint8_t> rptk(proto::kRptkBytes);
  proto::EncodeRptk(proto::Rptk{3120001, proto::HbpLoginDigest(salt.value, "passw0rd")}, rptk);
  Arrive(0, rptk);
  cp_->Step(now += kMs);
  ASSERT_EQ(Sent(0).size(), 1u);
  proto::Rptc c;
  c.id = 3120001;
  c.config.slots = '3';
  std::vector<uint8_t> rptc(proto::kRptcBytes);
  proto::EncodeRptc(c, rptc);
  Arrive(0, rptc);
  const route::TimeNs sent_at = now;
  // Shard 0 acks everything, shard 1 nothing (wedged).
  while (Sent(0).empty() && now - sent_at < 3 * kSec) {
    cp_->Step(now += 100 * kMs);
    Commands(0, /*ack=*/true);
    if (now - sent_at < 2 * kSec) {
      ASSERT_TRUE(Sent(0).empty());
    }
  }
  EXPECT_GE(now - sent_at, 2 * kSec);
  EXPECT_LE(now - sent_at, 2 * kSec + 200 * kMs);
}

// dmrswitch-cp takes its control mbufs from the dp's supply ring and gives them back by the
// return ring: no operation of the control plane's on the shared pool, whose multi-producer ring
// a kill could leave stuck for the shards (dataplane/ipc/channel.h).
TEST_F(ControlPlaneTest, WithMbufRingsTheControlPlaneNeitherTakesFromNorReturnsToThePool) {
  ipc::ServeControlMbufs(*channels_);
  cp_->UseControlMbufRings(channels_->cp_supply(), channels_->cp_return());
  route::TimeNs now = 1000 * kSec;
  ASSERT_TRUE(cp_->Start(now).ok());
  LatestSnapshot();
  (void)Sent(0);
  ipc::ServeControlMbufs(*channels_);
  const unsigned supply = rte_ring_count(channels_->cp_supply());
  ASSERT_EQ(supply, rte_ring_get_capacity(channels_->cp_supply()));
  const unsigned in_pool = rte_mempool_avail_count(channels_->pool());
  // Three datagrams in (from the pool, as a shard takes them), three replies out (freed into the
  // pool, as a shard does once it sent them).
  EXPECT_EQ(Login(3120001, "passw0rd", now), Id(proto::HbpType::kRptack, 3120001));
  EXPECT_EQ(rte_mempool_avail_count(channels_->pool()), in_pool);
  EXPECT_EQ(rte_ring_count(channels_->cp_supply()), supply - 3);
  EXPECT_EQ(rte_ring_count(channels_->cp_return()), 3u);
  // The dp frees what came back and fills the supply up again.
  EXPECT_EQ(ipc::ServeControlMbufs(*channels_), 3u);
  EXPECT_EQ(rte_ring_count(channels_->cp_supply()), supply);
  EXPECT_EQ(rte_ring_count(channels_->cp_return()), 0u);
  EXPECT_EQ(rte_mempool_avail_count(channels_->pool()), in_pool);
  // An empty supply costs the datagram, never a pool operation.
  rte_mbuf* all[2048];
  const unsigned taken = ipc::ReceiveMbufs(channels_->cp_supply(), all, 2048);
  Arrive(0, Id(proto::HbpType::kRptping, 3120001));
  cp_->Step(now += kMs);
  EXPECT_TRUE(Sent(0).empty());
  EXPECT_EQ(rte_ring_count(channels_->cp_return()), 1u);
  rte_pktmbuf_free_bulk(all, taken);
  ipc::ServeControlMbufs(*channels_);
}

TEST_F(ControlPlaneTest, FixedClientsAreInTheFirstSnapshotWithTheirStaticsAndStayUp) {
  constexpr route::Endpoint kFixedAddr{0xC6120101, 40101};  // 198.18.1.1:40101
  std::ofstream(path_) << ConfigToml("passw0rd") << R"(
[[hbp.fixed_client]]
id = 3129001
address = "198.18.1.1:40101"
slots = 3
options = "TS2=91;TS1=2001"
callsign = "GEN1"
[[hbp.fixed_client]]
id = 3129002
address = "198.18.1.2:40102"
slots = 2
[[hbp.static]]
client = 3129002
ts2 = [3100]
)";
  auto config = LoadConfigFile(path_);
  ASSERT_TRUE(config.ok()) << config.status();
  std::vector<ipc::ShardChannel> ch;
  for (uint32_t s = 0; s < kShards; ++s) ch.push_back(channels_->shard(s));
  const route::TimeNs made_at = io::MonotonicNs();
  cp_ = std::make_unique<ControlPlane>(*config, path_, ch, channels_->cp_cmd(), channels_->pool(),
                                       std::vector<int>{-1, -1});
  route::TimeNs now = 1000 * kSec;
  ASSERT_TRUE(cp_->Start(now).ok());
  const route::RouteSnapshot* snap = LatestSnapshot();
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->generation(), 1u) << "no login exchange: the very first snapshot";
  // Logged in since the control plane came up (not at the clock's epoch: the dashboards showed
  // the machine's boot time).
  auto restart = ReadRestartState(*snap);
  ASSERT_TRUE(restart.ok()) << restart.status();
  ASSERT_EQ(restart->clients.size(), 2u);
  for (const ClientRecord& c : restart->clients) {
    EXPECT_GE(c.logged_in_at, made_at) << c.id;
    EXPECT_LE(c.logged_in_at, io::MonotonicNs()) << c.id;
  }
  ASSERT_EQ(snap->FindClient(3129001), 0) << "configuration order gives the slots";
  ASSERT_EQ(snap->FindClient(3129002), 1);
  const route::ClientInfo* a = snap->client(0);
  EXPECT_TRUE(a->fixed);
  EXPECT_EQ(a->addr, kFixedAddr);
  EXPECT_EQ(a->slot_mask, 3);
  EXPECT_TRUE(snap->IsMember(0, route::kTs2, 91)) << "statics from the options";
  EXPECT_TRUE(snap->IsMember(0, route::kTs1, 2001));
  const route::ClientInfo* b = snap->client(1);
  EXPECT_TRUE(b->fixed);
  EXPECT_EQ(b->slot_mask, 2) << "slots = 2: TS2 only";
  EXPECT_TRUE(snap->IsMember(1, route::kTs2, 3100)) << "statics from [[hbp.static]]";
  ASSERT_EQ(snap->FindConference(91).members.size(), 1u);

  // A shard reporting it lost (as it never would, ClientLiveness skips it) changes nothing.
  ipc::SendMessage(channels_->shard(0).sup,
                   ipc::Message::Make(ipc::MsgType::kClientLost, 0,
                                      ipc::ClientLost{0, 3129001, now, kFixedAddr}));
  cp_->Step(now += 50 * kMs);
  EXPECT_TRUE(Sent(0).empty()) << "no MSTCL to a fixed client";
  // Its ID is reserved: RPTL from anywhere else is refused.
  Arrive(0, Id(proto::HbpType::kRptl, 3129001));
  cp_->Step(now += kMs);
  auto sent = Sent(0);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].second, Id(proto::HbpType::kMstnak, 3129001));
  // A restarted auth component takes it back, as a fixed client.
  ASSERT_TRUE(cp_->InjectFault("auth"));
  for (int i = 0; i < 40; ++i) cp_->Step(now += 100 * kMs);
  ipc::SendMessage(
      channels_->shard(0).sup,
      ipc::Message::Make(ipc::MsgType::kClientLost, 0,
                         ipc::ClientLost{0, 3129002, now, route::Endpoint{0xC6120102, 40102}}));
  cp_->Step(now += 50 * kMs);
  EXPECT_TRUE(Sent(0).empty());
  // A reload keeps them, with their slots and statics, in the next snapshot.
  ASSERT_TRUE(cp_->Reload(now).ok());
  cp_->Step(now += 50 * kMs);
  snap = LatestSnapshot();
  ASSERT_NE(snap, nullptr);
  EXPECT_GE(snap->generation(), 2u);
  EXPECT_EQ(snap->FindClient(3129001), 0);
  EXPECT_EQ(snap->FindClient(3129002), 1);
  EXPECT_TRUE(snap->client(0)->fixed);
  EXPECT_TRUE(snap->IsMember(0, route::kTs2, 91));
  EXPECT_TRUE(snap->IsMember(1, route::kTs2, 3100));
}

TEST_F(ControlPlaneTest, ClientLostFromAShardClosesTheClient) {
  route::TimeNs now = 1000 * kSec;
  ASSERT_TRUE(cp_->Start(now).ok());
  ASSERT_EQ(Login(3120001, "passw0rd", now), Id(proto::HbpType::kRptack, 3120001));
  cp_->Step(now += 50 * kMs);
  LatestSnapshot();
  // A report about a session at another address (a shard whose snapshot lags re-reports the
  // session it saw, after the client logged in again from elsewhere) closes nothing.
  constexpr route::Endpoint kOldAddr{0x7F000001, 40999};
  ipc::SendMessage(
      channels_->shard(1).sup,
      ipc::Message::Make(ipc::MsgType::kClientLost, 1, ipc::ClientLost{0, 3120001, now, kOldAddr}));
  cp_->Step(now += 50 * kMs);
  EXPECT_TRUE(Sent(0).empty());
  ipc::SendMessage(channels_->shard(1).sup,
                   ipc::Message::Make(ipc::MsgType::kClientLost, 1,
                                      ipc::ClientLost{0, 3120001, now, kClientAddr}));
  cp_->Step(now += 50 * kMs);
  auto sent = Sent(0);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].second, Id(proto::HbpType::kMstcl, 3120001));
  EXPECT_EQ(sent[0].first, kClientAddr);
  const route::RouteSnapshot* snap = LatestSnapshot();
  ASSERT_NE(snap, nullptr);
  EXPECT_LT(snap->FindClient(3120001), 0);
}

TEST_F(ControlPlaneTest, EventsFromDifferentShardsAreAppliedInTimeOrder) {
  route::TimeNs now = 1000 * kSec;
  uint32_t slot = 0;
  ASSERT_NO_FATAL_FAILURE(StartWithClient(now, &slot));
  const route::RouteSnapshot* snap = nullptr;
  // The client keys up on 2345, then on 2346 (single mode: the later one wins). The two
  // streams belong to different shards, and the shard that owns the later one is drained first.
  const auto request = route::EventType::kSubscriptionRequest;
  ASSERT_TRUE(Emit(1, ClientEvent(request, slot, 0, 2345, now)));
  ASSERT_TRUE(Emit(0, ClientEvent(request, slot, 0, 2346, now + 1)));
  cp_->Step(now += 50 * kMs);
  snap = LatestSnapshot();
  ASSERT_NE(snap, nullptr);
  EXPECT_TRUE(snap->IsMember(slot, route::kTs2, 2346));
  EXPECT_FALSE(snap->IsMember(slot, route::kTs2, 2345));
}

// The same client's two overs on different shards, the first one's shard lagging: its end (and
// its single-mode trigger for 2345) reaches the control plane after the second over (2346) has
// started and been activated. The later start wins, as Subscriptions documents; the control plane
// must hand it every kStreamStarted for that (it once passed only ends and requests on).
TEST_F(ControlPlaneTest, ALaggingShardsEndOfAnEarlierOverDoesNotDropTheNextOversTg) {
  route::TimeNs now = 1000 * kSec;
  uint32_t slot = 0;
  ASSERT_NO_FATAL_FAILURE(StartWithClient(now, &slot));
  const route::RouteSnapshot* snap = nullptr;
  auto event = [&](route::EventType type, uint32_t stream_id, uint32_t tg, route::TimeNs at) {
    return ClientEvent(type, slot, stream_id, tg, at);
  };
  const route::TimeNs t0 = now;
  ASSERT_TRUE(Emit(1, event(route::EventType::kStreamStarted, 0xA1, 2345, t0)));
  ASSERT_TRUE(Emit(1, event(route::EventType::kSubscriptionRequest, 0xA1, 2345, t0)));
  ASSERT_TRUE(Emit(0, event(route::EventType::kStreamStarted, 0xB2, 2346, t0 + 65 * kMs)));
  ASSERT_TRUE(Emit(0, event(route::EventType::kSubscriptionRequest, 0xB2, 2346, t0 + 65 * kMs)));
  cp_->Step(now += 70 * kMs);
  snap = LatestSnapshot();
  ASSERT_NE(snap, nullptr);
  ASSERT_TRUE(snap->IsMember(slot, route::kTs2, 2346));
  // Shard 1 reports the end of 2345 late, stamped after 2346's start.
  ASSERT_TRUE(Emit(1, event(route::EventType::kStreamEnded, 0xA1, 2345, t0 + 66 * kMs)));
  cp_->Step(now += 50 * kMs);
  LatestSnapshot();
  snap = CurrentSnapshot();
  EXPECT_TRUE(snap->IsMember(slot, route::kTs2, 2346));
  EXPECT_FALSE(snap->IsMember(slot, route::kTs2, 2345));
}

// Private calls (Part A §9) find a subscriber where it last spoke: a stream from a client puts it
// at that client's slot, a stream from an OpenBridge/FBP peer at that peer; a logout forgets the
// client's subscribers.
TEST_F(ControlPlaneTest, SubscribersAreLocatedAtTheClientOrPeerTheyWereHeardFrom) {
  route::TimeNs now = 1000 * kSec;
  ASSERT_TRUE(cp_->Start(now).ok());
  ASSERT_EQ(Login(3120001, "passw0rd", now), Id(proto::HbpType::kRptack, 3120001));
  const route::RouteSnapshot* snap = CurrentSnapshot();
  ASSERT_NE(snap, nullptr);
  const uint32_t slot = static_cast<uint32_t>(snap->FindClient(3120001));
  auto started = [&](route::SystemRef from, uint32_t rf_src, uint8_t ts) {
    route::Event e;
    e.type = route::EventType::kStreamStarted;
    e.ts = ts;
    e.call_type = 1;
    e.source = from;
    e.rf_src = rf_src;
    e.dst = 3120999;
    e.at = now;
    return ipc::Message::Make(ipc::MsgType::kEvent, 0, e);
  };
  ASSERT_TRUE(ipc::SendMessage(channels_->shard(0).evt,
                               started(route::SystemRef::Client(slot), 3120101, route::kTs2)));
  ASSERT_TRUE(ipc::SendMessage(channels_->shard(0).evt,
                               started(route::SystemRef::Peer(0), 2345678, route::kTs1)));
  cp_->Step(now += 50 * kMs);
  snap = LatestSnapshot();
  ASSERT_NE(snap, nullptr);
  const route::Location* local = snap->FindSubscriber(3120101);
  ASSERT_NE(local, nullptr);
  EXPECT_EQ(local->at, route::SystemRef::Client(slot));
  EXPECT_EQ(local->ts, route::kTs2);
  const route::Location* remote = snap->FindSubscriber(2345678);
  ASSERT_NE(remote, nullptr);
  EXPECT_EQ(remote->at, route::SystemRef::Peer(0));
  // A successor reads both back from the snapshot.
  auto state = ReadRestartState(*snap);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->heard.size(), 2u);
  // The client logs out: its subscriber is forgotten, the peer's stays.
  std::vector<uint8_t> rptcl(proto::kRptclBytes);
  rptcl.resize(proto::EncodeHbpIdPacket(proto::HbpType::kRptcl, 3120001, rptcl));
  Arrive(0, rptcl);
  cp_->Step(now += 50 * kMs);
  snap = LatestSnapshot();
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->FindSubscriber(3120101), nullptr);
  EXPECT_NE(snap->FindSubscriber(2345678), nullptr);
}

TEST_F(ControlPlaneTest, ReloadCommandOnTheRingAppliesTheNewPassphrase) {
  route::TimeNs now = 1000 * kSec;
  ASSERT_TRUE(cp_->Start(now).ok());
  ASSERT_EQ(Login(3120001, "passw0rd", now), Id(proto::HbpType::kRptack, 3120001));
  WriteConfig("newpass");
  ASSERT_TRUE(ipc::SendMessage(channels_->cp_cmd(), ipc::Message::Make(ipc::MsgType::kReload, 0)));
  cp_->Step(now += kMs);
  // The logged-in client stays; new logins need the new passphrase.
  EXPECT_EQ(Login(3120002, "passw0rd", now), Id(proto::HbpType::kMstnak, 3120002));
  EXPECT_EQ(Login(3120003, "newpass", now), Id(proto::HbpType::kRptack, 3120003));
  cp_->Step(now += 50 * kMs);
  const route::RouteSnapshot* snap = LatestSnapshot();
  ASSERT_NE(snap, nullptr);
  EXPECT_GE(snap->FindClient(3120001), 0);
  EXPECT_GE(snap->FindClient(3120003), 0);
}

TEST_F(ControlPlaneTest, BadReloadKeepsTheRunningConfiguration) {
  route::TimeNs now = 1000 * kSec;
  ASSERT_TRUE(cp_->Start(now).ok());
  std::ofstream(path_) << "[hub]\nshards = 0\n";
  EXPECT_FALSE(cp_->Reload(now).ok());
  EXPECT_EQ(Login(3120001, "passw0rd", now), Id(proto::HbpType::kRptack, 3120001));
}

TEST_F(ControlPlaneTest, AuthFailureRestartsItWithTheLoggedInClients) {
  route::TimeNs now = 1000 * kSec;
  uint32_t slot = 0;
  ASSERT_NO_FATAL_FAILURE(StartWithClient(now, &slot));
  // The next packet for auth fails it; a keepalive that reaches control meanwhile is lost.
  ASSERT_NO_FATAL_FAILURE(FailAuthWithAKeepalive(now));
  EXPECT_TRUE(Sent(0).empty());
  const size_t auth = 0;
  // Subscriptions keep running while auth is down.
  EXPECT_FALSE(cp_->supervisor().failed(2));
  // After the backoff, auth comes back with the client it had published.
  cp_->Step(now += 2 * kSec);
  Arrive(0, Id(proto::HbpType::kRptping, 3120001));
  cp_->Step(now += kMs);
  auto sent = Sent(0);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].second, Id(proto::HbpType::kMstpong, 3120001));
  EXPECT_EQ(cp_->supervisor().restarts(auth), 1u);
}

// A shard reports a silent client once a timeout. A report that arrives while auth is down is not
// lost: the restarted auth closes the session it names at once — not a timeout later, when the
// same client may have logged in again. Here the packet that restarts auth is the client's own
// new login.
TEST_F(ControlPlaneTest, AClientLostWhileAuthIsDownIsClosedWhenAuthIsBack) {
  route::TimeNs now = 1000 * kSec;
  uint32_t slot = 0;
  ASSERT_NO_FATAL_FAILURE(StartWithClient(now, &slot));
  ASSERT_NO_FATAL_FAILURE(FailAuthWithAKeepalive(now));
  ipc::SendMessage(channels_->shard(1).sup,
                   ipc::Message::Make(ipc::MsgType::kClientLost, 1,
                                      ipc::ClientLost{0, 3120001, now, kClientAddr}));
  cp_->Step(now += kMs);
  EXPECT_TRUE(Sent(0).empty());
  // Past the backoff, the client's RPTL restarts auth: the old session is closed first, then the
  // login is answered.
  Arrive(0, Id(proto::HbpType::kRptl, 3120001));
  cp_->Step(now += 2 * kSec);
  EXPECT_EQ(cp_->supervisor().restarts(0), 1u);
  // (Replies to a packet that changed the client table wait for the shards' acks.)
  std::vector<std::pair<route::Endpoint, std::vector<uint8_t>>> sent;
  for (int i = 0; i < 5; ++i) {
    LatestSnapshot();
    cp_->Step(now += 25 * kMs);
    for (auto& d : Sent(0)) sent.push_back(std::move(d));
  }
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].second, Id(proto::HbpType::kMstcl, 3120001));
  EXPECT_EQ(std::string(sent[1].second.begin(), sent[1].second.end()).substr(0, 6), "RPTACK")
      << "the login's challenge";
  EXPECT_LT(CurrentSnapshot()->FindClient(3120001), 0);
  // The new session is not closed by the old report, however many seconds pass.
  ASSERT_EQ(Login(3120001, "passw0rd", now), Id(proto::HbpType::kRptack, 3120001));
  for (int i = 0; i < 30; ++i) {
    cp_->Step(now += 100 * kMs);
    LatestSnapshot();
  }
  EXPECT_TRUE(Sent(0).empty());
  EXPECT_GE(CurrentSnapshot()->FindClient(3120001), 0);
}

// A control plane that goes away (dmrswitch-cp killed or stopped) frees none of the generations
// it recorded in PlaneInfo; its successor adopts them, restores the logged-in clients and their
// subscriptions from the current one, publishes it again, and frees the older ones once acked.
TEST_F(ControlPlaneTest, ASuccessorContinuesFromThePlaneInfo) {
  ipc::PlaneInfo* info = NewPlaneInfo("pi");
  ASSERT_NE(info, nullptr);
  cp_ = RecordingIn(info);
  route::TimeNs now = 1000 * kSec;
  ASSERT_TRUE(cp_->Start(now).ok());
  EXPECT_FALSE(cp_->restored());
  LatestSnapshot();
  ASSERT_EQ(Login(3120001, "passw0rd", now)[0], 'R');  // RPTACK
  cp_->Step(now += 100 * kMs);
  const route::RouteSnapshot* before = CurrentSnapshot();
  ASSERT_NE(before, nullptr);
  const uint64_t generation = before->generation();
  EXPECT_EQ(info->current_generation.load(), generation);
  cp_.reset();  // the predecessor goes away: `before` stays readable

  EXPECT_EQ(before->FindClient(3120001), 0);
  cp_ = RecordingIn(info);
  ASSERT_TRUE(cp_->Start(now += kSec).ok());
  EXPECT_TRUE(cp_->restored());
  // The current generation goes to every shard again, and the client is known: a keepalive is
  // answered, not refused.
  const route::RouteSnapshot* again = LatestSnapshot();
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->generation(), generation);
  cp_->Step(now += 100 * kMs);
  const route::RouteSnapshot* next = LatestSnapshot();
  ASSERT_NE(next, nullptr);
  EXPECT_GT(next->generation(), generation);
  EXPECT_EQ(next->FindClient(3120001), 0);
  EXPECT_TRUE(next->IsMember(0, route::kTs2, 3100));
  Arrive(0, Id(proto::HbpType::kRptl, 3120001));  // a second login of a known client: a relogin
  cp_->Step(now += kMs);
  EXPECT_EQ(Sent(0).size(), 1u);
  cp_.reset();
  ForgetRecords(info);
}

// A UA TG kept alive by talking changes no membership, only its timer; a successor control plane
// must restore the extended timer, not the one of the activation (the restart record follows
// timer-only changes within about a second).
TEST_F(ControlPlaneTest, ASuccessorRestoresUaTimersThatTrafficExtended) {
  ipc::PlaneInfo* info = NewPlaneInfo("pu");
  ASSERT_NE(info, nullptr);
  cp_ = RecordingIn(info);
  route::TimeNs now = 1000 * kSec;
  ASSERT_TRUE(cp_->Start(now).ok());
  LatestSnapshot();
  ASSERT_EQ(Login(3120001, "passw0rd", now)[0], 'R');  // RPTACK
  cp_->Step(now += 100 * kMs);
  const route::RouteSnapshot* snap = CurrentSnapshot();
  ASSERT_NE(snap, nullptr);
  const uint32_t slot = static_cast<uint32_t>(snap->FindClient(3120001));
  auto event = [&](route::EventType type, route::TimeNs at) {
    return Emit(0, ClientEvent(type, slot, 0xA1, 2345, at));
  };
  // Activated at t0 for the default 10 minutes; the call's end at t0 + 5 min extends it to t0 +
  // 15 min.
  const route::TimeNs t0 = now;
  ASSERT_TRUE(event(route::EventType::kStreamStarted, t0));
  ASSERT_TRUE(event(route::EventType::kSubscriptionRequest, t0));
  cp_->Step(now += 50 * kMs);
  ASSERT_TRUE(LatestSnapshot()->IsMember(slot, route::kTs2, 2345));
  now = t0 + 300 * kSec;
  ASSERT_TRUE(event(route::EventType::kStreamEnded, now));
  for (int i = 0; i < 30; ++i) {
    cp_->Step(now += 100 * kMs);
    LatestSnapshot();
  }
  cp_.reset();

  cp_ = RecordingIn(info);
  ASSERT_TRUE(cp_->Start(now += kSec).ok());
  ASSERT_TRUE(cp_->restored());
  LatestSnapshot();
  // Past the activation's expiry, before the extended one.
  cp_->Step(now = t0 + 700 * kSec);
  cp_->Step(now += 100 * kMs);
  snap = CurrentSnapshot();
  ASSERT_NE(snap, nullptr);
  EXPECT_TRUE(snap->IsMember(slot, route::kTs2, 2345));
  // And it still ends when the extended timer runs out.
  cp_->Step(now = t0 + 901 * kSec);
  cp_->Step(now += 100 * kMs);
  snap = CurrentSnapshot();
  EXPECT_FALSE(snap->IsMember(slot, route::kTs2, 2345));
  cp_.reset();
  ForgetRecords(info);
}

TEST_F(ControlPlaneTest, DrainTellsEveryShardAndEndsWhenTheyReportIdle) {
  route::TimeNs now = 1000 * kSec;
  ASSERT_TRUE(cp_->Start(now).ok());
  LatestSnapshot();
  cp_->BeginDrain(now, 10 * kSec);
  EXPECT_TRUE(cp_->draining());
  for (uint32_t s = 0; s < kShards; ++s) {
    const auto cmds = Commands(s);
    ASSERT_EQ(cmds.size(), 1u);
    EXPECT_EQ(cmds[0].type, ipc::MsgType::kDrainBegin);
    ipc::WorkerHealth h{};
    h.live_streams = s;  // shard 1 still has a stream
    h.draining = 1;
    h.at = now + kMs;
    ipc::SendMessage(channels_->shard(s).sup,
                     ipc::Message::Make(ipc::MsgType::kWorkerHealth, static_cast<uint8_t>(s), h));
  }
  cp_->Step(now += 2 * kMs);
  EXPECT_EQ(cp_->totals().live_streams, 1u);
  cp_->Resume(now);
  EXPECT_FALSE(cp_->draining());
  for (uint32_t s = 0; s < kShards; ++s) {
    const auto cmds = Commands(s);
    ASSERT_EQ(cmds.size(), 1u);
    EXPECT_EQ(cmds[0].type, ipc::MsgType::kDrainEnd);
  }
}

TEST_F(ControlPlaneTest, AShardWithoutHeartbeatsIsReported) {
  route::TimeNs now = 1000 * kSec;
  ASSERT_TRUE(cp_->Start(now).ok());
  ipc::WorkerHealth h{};
  h.at = now;
  ipc::SendMessage(channels_->shard(0).sup, ipc::Message::Make(ipc::MsgType::kWorkerHealth, 0, h));
  cp_->Step(now += kSec);  // shard 0's heartbeat seen at start + 1 s, shard 1 never
  EXPECT_TRUE(cp_->SilentShards(now).empty());
  now += 2500 * kMs;
  EXPECT_EQ(cp_->SilentShards(now), (std::vector<uint32_t>{1}));
  now += kSec;
  EXPECT_EQ(cp_->SilentShards(now), (std::vector<uint32_t>{0, 1}));
}

}  // namespace
}  // namespace dmrswitch::cp
