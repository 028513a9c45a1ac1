#include "dataplane/io/mbuf_budget.h"

#include <gtest/gtest.h>

namespace dmrswitch::io {
namespace {

MbufDemand Demand(uint32_t ports, uint32_t shards) {
  MbufDemand d;
  d.ports = ports;
  d.total_ports = ports;
  d.shards = shards;
  d.rx_descriptors = 1024;
  d.tx_descriptors = 1024;
  d.burst = 32;
  d.tx_buffer = 1024;
  d.steer_rings = shards * (shards - 1);
  d.steer_ring_size = 4096;
  d.lcores = shards + 1;
  d.cache = 256;
  return d;
}

bool OneLessThanPowerOfTwo(uint64_t n) { return ((n + 1) & n) == 0; }

TEST(MbufBudgetTest, SmallSetUpsGetTheFloor) {
  // 1 port, 1 shard: 2048 descriptors + 1056 buffered + 2 x 384 cached + 1024 control = 4896.
  EXPECT_EQ(MbufsFor(Demand(1, 1)), kMinMbufs);
}

TEST(MbufBudgetTest, EveryPlaceAnMbufCanWaitIsCounted) {
  // 2 ports x 2 shards: 4 queue pairs x 2048 = 8192; per shard 32 + 2 x 1024 = 2080 (4160);
  // 2 steering rings x 4096 = 8192; 3 caches x 384 = 1152; control 1024. Sum 22720: the floor.
  EXPECT_EQ(MbufsFor(Demand(2, 2)), kMinMbufs);
  // 2 ports x 8 shards: 16 x 2048 + 8 x 2080 + 56 x 4096 + 9 x 384 + 1024 = 283,264.
  const uint64_t n = MbufsFor(Demand(2, 8));
  EXPECT_GE(n, 283264u);
  EXPECT_EQ(n, (uint64_t{1} << 19) - 1);  // the next 2^k - 1
  EXPECT_TRUE(OneLessThanPowerOfTwo(n));
}

TEST(MbufBudgetTest, GrowsWithShardsAndDescriptors) {
  uint64_t last = 0;
  for (uint32_t shards = 1; shards <= 16; shards *= 2) {
    const uint64_t n = MbufsFor(Demand(2, shards));
    EXPECT_TRUE(OneLessThanPowerOfTwo(n));
    EXPECT_GE(n, last);
    last = n;
  }
  // 16 shards: 32 x 2048 + 16 x 2080 + 240 x 4096 + 17 x 384 + 1024 = 1,089,408 -> 2^21 - 1.
  EXPECT_EQ(MbufsFor(Demand(2, 16)), (uint64_t{1} << 21) - 1);
  MbufDemand big = Demand(4, 4);
  big.rx_descriptors = 4096;
  big.tx_descriptors = 4096;
  // 16 queue pairs x 8192 = 131,072 descriptors alone.
  EXPECT_GE(MbufsFor(big), 131072u + 4 * (32 + 4 * 1024) + 12 * 4096);
}

}  // namespace
}  // namespace dmrswitch::io
