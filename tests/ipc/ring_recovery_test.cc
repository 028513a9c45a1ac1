// Rings a killed control plane was in the middle of (dataplane/ipc/ring_recovery.h). A kill
// between the head and tail stores of a single-producer enqueue or a single-consumer dequeue is
// reproduced by moving the head as that half-done operation did; the rings are real DPDK rings
// (EAL without hugepages, tests/io/eal_environment.h).
#include "dataplane/ipc/ring_recovery.h"

#include <gtest/gtest.h>
#include <rte_ring.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dataplane/ipc/channel.h"
#include "dataplane/ipc/messages.h"
#include "tests/io/eal_environment.h"

namespace dmrswitch::ipc {
namespace {

Message PingMessage(uint64_t seq) { return Message::Make(MsgType::kPing, 0, Ping{seq, 0}); }

std::vector<uint32_t> Drain(rte_ring* r) {
  std::vector<uint32_t> out;
  Message m[16];
  while (unsigned n = ReceiveMessages(r, m, 16)) {
    for (unsigned i = 0; i < n; ++i) out.push_back(static_cast<uint32_t>(m[i].As<Ping>().seq));
  }
  return out;
}

// More than one lap of messages 0..103 through a 64-slot ring, so that the slots after the tail
// hold stale ones (slot k: message 64 + k or k).
void Lap(rte_ring* r) {
  for (uint32_t i = 0; i < 104; ++i) {
    ASSERT_TRUE(SendMessage(r, PingMessage(i)));
    if (i % 32 == 31) Drain(r);
  }
  Drain(r);
}

// As a producer killed after moving the head (elements not yet written or not yet published).
void InterruptEnqueue(rte_ring* r, uint32_t n) { r->prod.head = r->prod.head + n; }
// As a consumer killed after moving the head (elements not yet handed to its caller).
void InterruptDequeue(rte_ring* r, uint32_t n) { r->cons.head = r->cons.head + n; }

class RingRecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto set = ChannelSet::Create(absl::StrCat("rr", getpid(), "_", counter_++), 2, 64);
    ASSERT_TRUE(set.ok()) << set.status();
    channels_ = std::make_unique<ChannelSet>(*std::move(set));
  }
  static inline int counter_ = 0;
  std::unique_ptr<ChannelSet> channels_;
};

TEST_F(RingRecoveryTest, AnInterruptedEnqueueIsUndoneAndNothingStaleIsPublished) {
  rte_ring* cmd = channels_->shard(0).cmd;
  ASSERT_NO_FATAL_FAILURE(Lap(cmd));
  InterruptEnqueue(cmd, 3);
  EXPECT_EQ(ResetInterruptedEnqueue(cmd), 3u);
  EXPECT_EQ(ResetInterruptedEnqueue(cmd), 0u) << "repaired once";
  ASSERT_TRUE(SendMessage(cmd, PingMessage(1000)));
  EXPECT_EQ(Drain(cmd), std::vector<uint32_t>{1000});
}

TEST_F(RingRecoveryTest, WithoutTheRepairTheNextEnqueuePublishesTheGap) {
  // What the repair is for: the successor's message comes after three stale ones.
  rte_ring* cmd = channels_->shard(0).cmd;
  ASSERT_NO_FATAL_FAILURE(Lap(cmd));
  InterruptEnqueue(cmd, 3);
  ASSERT_TRUE(SendMessage(cmd, PingMessage(1000)));
  EXPECT_EQ(Drain(cmd), (std::vector<uint32_t>{40, 41, 42, 1000}));
}

TEST_F(RingRecoveryTest, AnInterruptedDequeueIsReadAgain) {
  rte_ring* evt = channels_->shard(1).evt;
  for (uint32_t i = 0; i < 5; ++i) ASSERT_TRUE(SendMessage(evt, PingMessage(i)));
  InterruptDequeue(evt, 2);
  EXPECT_EQ(ResetInterruptedDequeue(evt), 2u);
  EXPECT_EQ(Drain(evt), (std::vector<uint32_t>{0, 1, 2, 3, 4}));
}

TEST_F(RingRecoveryTest, RecoverRepairsTheControlPlanesSideOfEveryRingAndNoOtherSide) {
  InterruptEnqueue(channels_->shard(0).cmd, 1);
  InterruptDequeue(channels_->shard(1).sup, 2);
  InterruptDequeue(channels_->cp_cmd(), 1);
  InterruptDequeue(channels_->cp_supply(), 1);
  InterruptEnqueue(channels_->cp_return(), 2);
  // The shards' sides (their dequeue of cmd, their enqueue of evt) belong to live processes.
  InterruptDequeue(channels_->shard(1).cmd, 1);
  InterruptEnqueue(channels_->shard(0).evt, 1);
  const std::vector<RingRepair> repairs = RecoverControlPlaneRings(*channels_);
  std::vector<std::string> seen;
  for (const RingRepair& r : repairs) {
    seen.push_back(absl::StrCat(r.ring, r.producer_side ? " enqueue " : " dequeue ", r.entries));
  }
  const std::string cmd0 = channels_->shard(0).cmd->name;
  const std::string sup1 = channels_->shard(1).sup->name;
  const std::string cp_cmd = channels_->cp_cmd()->name;
  const std::string supply = channels_->cp_supply()->name;
  const std::string returned = channels_->cp_return()->name;
  EXPECT_EQ(seen, (std::vector<std::string>{cp_cmd + " dequeue 1", supply + " dequeue 1",
                                            returned + " enqueue 2", cmd0 + " enqueue 1",
                                            sup1 + " dequeue 2"}));
  EXPECT_EQ(channels_->shard(1).cmd->cons.head - channels_->shard(1).cmd->cons.tail, 1u);
  EXPECT_EQ(channels_->shard(0).evt->prod.head - channels_->shard(0).evt->prod.tail, 1u);
  EXPECT_TRUE(RecoverControlPlaneRings(*channels_).empty());
}

}  // namespace
}  // namespace dmrswitch::ipc
