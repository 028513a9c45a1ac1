// End to end: both kernel-mode steering paths (docs/ebpf.md, config hub.steering) route the same
// traffic. With 2 shards, four clients talk at once, twice, each stream owned by a known shard
// (by dmrswitch_owner of the stream ID) and each client's calls owned by both shards in turn:
// every frame must arrive once and in order, and be routed by its stream's owner only, with
// steering = "bpf" (sk_reuseport program), "userspace" (hand-off rings), and "auto" in a hub that
// runs as an unprivileged user and so cannot load the program.

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ebpf/steer_common.h"
#include "tests/e2e/e2e_sim_util.h"
#include "tests/e2e/hub_process.h"

namespace dmrswitch::e2e {
namespace {

using sim::ExpectedCall;
using sim::HbpClient;
using sim::ReceivedCall;

constexpr uint32_t kServerId = 310999;
constexpr uint32_t kShards = 2;
constexpr std::array<uint32_t, 4> kIds = {3120501, 3120502, 3120503, 3120504};  // A B C D

// Who talks where, and who hears it: A→C on TS1 TG 3101, B→D on TS2 3102, C→A on TS2 3103,
// D→B on TS1 3104. Every client is a static member of the TG it talks on and of the one it hears,
// so each slot carries exactly one stream.
struct Talk {
  int from, to;
  unsigned ts;
  uint32_t tg;
};
constexpr Talk kTalks[] = {{0, 2, 1, 3101}, {1, 3, 2, 3102}, {2, 0, 2, 3103}, {3, 1, 1, 3104}};

std::string Statics() {
  return absl::StrCat(HbpStatic(kIds[0], "3101", "3103"), HbpStatic(kIds[1], "3104", "3102"),
                      HbpStatic(kIds[2], "3101", "3103"), HbpStatic(kIds[3], "3104", "3102"));
}

// Four stream IDs, owned alternately by shard `first_owner` and the other one.
std::array<uint32_t, 4> StreamIds(uint32_t base, uint32_t first_owner) {
  std::array<uint32_t, 4> ids{};
  uint32_t next = base;
  for (uint32_t i = 0; i < ids.size(); ++i) {
    while (dmrswitch_owner(next, kShards) != (first_owner + i) % kShards) ++next;
    ids[i] = next++;
  }
  return ids;
}

// The "routed N" of each "shard S: ..." line the dp logs when it stops.
std::vector<uint64_t> RoutedPerShard(const std::string& log) {
  std::vector<uint64_t> routed(kShards, UINT64_MAX);
  for (uint32_t s = 0; s < kShards; ++s) {
    const size_t line = log.find(absl::StrCat("shard ", s, ": rx "));
    if (line == std::string::npos) continue;
    const size_t at = log.find(" routed ", line);
    if (at != std::string::npos) routed[s] = std::stoull(log.substr(at + 8));
  }
  return routed;
}

// Runs the four concurrent calls once, with the given stream IDs and lengths in superframes
// (the same talkers, TGs and slots each round: a talker's next call is its re-key);
// every receiver must get its call complete, once, in order, rewritten for it, and nothing else.
// Adds each stream's frames to its owner's count in `routed`.
void RunConcurrentCalls(std::vector<std::unique_ptr<HbpClient>>& c,
                        std::vector<sim::Pollable*>& all, const std::array<uint32_t, 4>& streams,
                        const std::array<unsigned, 4>& superframes, std::vector<uint64_t>& routed) {
  std::array<sim::VoiceCallSpec, 4> specs;
  std::array<uint64_t, 4> before{};  // each receiver's frames before this round
  for (int i = 0; i < 4; ++i) before[i] = c[kTalks[i].to]->counters().dmrd_rx;
  for (int i = 0; i < 4; ++i) {
    specs[i] = GroupCall(kTalks[i].tg, kTalks[i].ts, kIds[kTalks[i].from], superframes[i]);
    specs[i].stream_id = streams[i];
    c[kTalks[i].from]->StartVoiceCall(specs[i]);
  }
  PollThenSettle(
      all,
      [&] {
        for (int i = 0; i < 4; ++i) {
          if (c[kTalks[i].from]->transmitting() ||
              c[kTalks[i].to]->counters().dmrd_rx - before[i] < FramesOf(specs[i])) {
            return false;
          }
        }
        return true;
      },
      absl::Seconds(10));
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE(absl::StrCat("stream ", absl::Hex(streams[i]), " owned by shard ",
                              dmrswitch_owner(streams[i], kShards), ": ", kIds[kTalks[i].from],
                              " → ", kIds[kTalks[i].to]));
    HbpClient& rx = *c[kTalks[i].to];
    const size_t n = FramesOf(specs[i]);
    EXPECT_EQ(rx.counters().dmrd_rx - before[i], n) << "frames lost or duplicated";
    const std::vector<ReceivedCall> got = rx.TakeReceived();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].stream_id, streams[i]);
    ExpectedCall want;
    want.tg = kTalks[i].tg;
    want.ts = kTalks[i].ts;
    want.rf_src = kIds[kTalks[i].from];
    want.repeater_id = kIds[kTalks[i].to];
    want.frames = n;
    EXPECT_TRUE(sim::Verify(got[0], want).ok()) << sim::Verify(got[0], want) << "\n"
                                                << got[0].DebugString();
    routed[dmrswitch_owner(streams[i], kShards)] += n;
  }
}

// Logs in four clients and runs the four concurrent calls twice. In the second round every
// talker's stream is owned by the other shard than in the first, so each client's one 4-tuple
// carries frames for both shards: steering by anything the kernel hashes (addresses and ports)
// instead of the stream ID routes some stream on the wrong shard, whatever the hash. The frames
// each shard routed must be exactly those of the streams it owns; the call lengths (8, 14, 20,
// 26 frames, then 32, 44, 38, 50) are chosen so that no assignment of clients to shards adds up
// to the same two totals. Stops the hub.
void ExpectConcurrentCallsRouted(HubProcess& hub, uint16_t port) {
  std::vector<std::unique_ptr<HbpClient>> c;
  std::vector<sim::Pollable*> all;
  for (uint32_t id : kIds) {
    c.push_back(std::make_unique<HbpClient>(ClientOptions(port, id)));
    all.push_back(c.back().get());
    ASSERT_TRUE(c.back()->Login(absl::Seconds(5)).ok()) << c.back()->status();
  }
  sim::PollFor(all, absl::Milliseconds(200));  // the snapshot with all four reaches the shards
  std::vector<uint64_t> expected(kShards, 0);
  {
    SCOPED_TRACE("first round");
    RunConcurrentCalls(c, all, StreamIds(0x57E30000, 0), {1, 2, 3, 4}, expected);
  }
  {
    SCOPED_TRACE("second round, owners swapped");
    RunConcurrentCalls(c, all, StreamIds(0x57E40000, 1), {5, 7, 6, 8}, expected);
  }
  ASSERT_EQ(expected, (std::vector<uint64_t>{122, 110})) << "StreamIds() alternates owners";
  c.clear();
  ASSERT_EQ(hub.Stop(), 0) << hub.Log();
  EXPECT_EQ(RoutedPerShard(hub.Log()), expected) << hub.Log();
}

size_t Count(const std::string& haystack, std::string_view needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

std::string Toml(uint16_t port, const std::string& steering) {
  return absl::StrCat(HubHeader(kServerId, port, absl::StrCat("steering = \"", steering, "\"\n")),
                      Statics());
}

TEST(Steering, BpfProgramSteersAndRoutes) {
  const uint16_t port = FreeUdpPort();
  auto hub = HubProcess::Start(Toml(port, "bpf"));
  ASSERT_TRUE(hub.ok()) << "steering = \"bpf\" needs CAP_BPF: " << hub.status();
  EXPECT_TRUE((*hub)->WaitForLog("2 shard(s), steering sk_reuseport BPF", absl::Seconds(1)))
      << (*hub)->Log();
  ExpectConcurrentCallsRouted(**hub, port);
}

TEST(Steering, UserspaceSteeringRoutes) {
  const uint16_t port = FreeUdpPort();
  auto hub = HubProcess::Start(Toml(port, "userspace"));
  ASSERT_TRUE(hub.ok()) << hub.status();
  EXPECT_TRUE((*hub)->WaitForLog("2 shard(s), steering user space", absl::Seconds(1)))
      << (*hub)->Log();
  EXPECT_EQ(Count((*hub)->Log(), "sk_reuseport"), 0u) << "userspace must not try the program";
  ExpectConcurrentCallsRouted(**hub, port);
}

TEST(Steering, UnprivilegedAutoFallsBackToUserspaceOnceAndRoutes) {
  ASSERT_EQ(geteuid(), 0u) << "this test drops privileges with setpriv and must start as root";
  const uint16_t port = FreeUdpPort();
  ASSERT_GT(port, 1024);
  HubProcess::Options o;
  o.toml = Toml(port, "auto");
  o.wrapper = {"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all"};
  auto hub = HubProcess::Start(o);
  ASSERT_TRUE(hub.ok()) << hub.status();
  const std::string log = (*hub)->Log();
  // Said once: why the program is not used, and what is used instead.
  EXPECT_EQ(Count(log, "cannot load the sk_reuseport program"), 1u) << log;
  EXPECT_EQ(Count(log, "steering by stream ID in user space instead"), 1u) << log;
  EXPECT_NE(log.find("2 shard(s), steering user space"), std::string::npos) << log;
  // It really runs as nobody.
  std::string status;
  {
    std::ifstream in(absl::StrCat("/proc/", (*hub)->pid(), "/status"));
    std::stringstream ss;
    ss << in.rdbuf();
    status = ss.str();
  }
  EXPECT_EQ(status.find("Uid:\t0"), std::string::npos) << status;
  ExpectConcurrentCallsRouted(**hub, port);
  EXPECT_EQ(Count((*hub)->Log(), "cannot load the sk_reuseport program"), 1u);
}

}  // namespace
}  // namespace dmrswitch::e2e
