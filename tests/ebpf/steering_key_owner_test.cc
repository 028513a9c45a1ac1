// SteeringKeyOwner / ClassifyForSteering: the user-space twin of the sk_reuseport program, one
// test per packet class of DESIGN.md §4 step 3, plus every truncated and look-alike variant.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "dataplane/io/steering/reuseport_steering.h"
#include "ebpf/steer_common.h"
#include "tests/ebpf/steering_packets.h"

namespace dmrswitch::io {
namespace {

using testing::Packet;

// Keys whose owners differ for 2 and 4 shards, plus the edges.
const std::vector<uint32_t>& Keys() {
  static const std::vector<uint32_t> keys = [] {
    std::vector<uint32_t> k = {0, 1, 2, 3, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 312000, 3120001};
    std::mt19937 rng(7);
    for (int i = 0; i < 200; ++i) k.push_back(static_cast<uint32_t>(rng()));
    return k;
  }();
  return keys;
}

void ExpectSteered(const Packet& p, SteerReason reason, uint32_t key) {
  for (uint32_t n : {1u, 2u, 3u, 4u, 8u, 64u}) {
    SteeringDecision d = ClassifyForSteering(p, n);
    EXPECT_EQ(d.reason, reason) << "n=" << n << " key=" << key;
    EXPECT_EQ(d.key, key);
    EXPECT_EQ(d.shard, dmrswitch_owner(key, n));
    EXPECT_LT(d.shard, n);
    EXPECT_EQ(SteeringKeyOwner(p, n), dmrswitch_owner(key, n));
  }
}

void ExpectDefault(const Packet& p) {
  for (uint32_t n : {1u, 2u, 4u, 64u}) {
    SteeringDecision d = ClassifyForSteering(p, n);
    EXPECT_EQ(d.reason, SteerReason::kDefault) << "len=" << p.size() << " n=" << n;
    EXPECT_EQ(d.key, 0u);
    EXPECT_EQ(d.shard, 0u);
    EXPECT_EQ(SteeringKeyOwner(p, n), 0u);
  }
}

TEST(SteeringKeyOwnerTest, HbpDmrdByStreamId) {
  for (uint32_t k : Keys()) {
    ExpectSteered(testing::Dmrd(k, 55), SteerReason::kDmrd, k);
    ExpectSteered(testing::Dmrd(k, 53), SteerReason::kDmrd, k);
  }
}

TEST(SteeringKeyOwnerTest, ObpDmrdAndFbpDmreByStreamId) {
  for (uint32_t k : Keys()) {
    ExpectSteered(testing::ObpDmrd(k), SteerReason::kDmrd, k);
    ExpectSteered(testing::Dmre(k, 85), SteerReason::kDmrd, k);
    ExpectSteered(testing::Dmre(k, 89), SteerReason::kDmrd, k);
  }
}

TEST(SteeringKeyOwnerTest, BcsqByQuenchedStreamId) {
  for (uint32_t k : Keys()) ExpectSteered(testing::Bcsq(k), SteerReason::kBcsq, k);
}

TEST(SteeringKeyOwnerTest, HbpClientPacketsByClientId) {
  for (uint32_t id : Keys()) {
    ExpectSteered(testing::Rptping(id), SteerReason::kClientId, id);
    ExpectSteered(testing::Rpto(id), SteerReason::kClientId, id);
    ExpectSteered(testing::Rpto(id, ""), SteerReason::kClientId, id);
    ExpectSteered(testing::Rptl(id), SteerReason::kClientId, id);
    ExpectSteered(testing::Rptk(id), SteerReason::kClientId, id);
    ExpectSteered(testing::Rptc(id), SteerReason::kClientId, id);
    ExpectSteered(testing::Rptcl(id), SteerReason::kClientId, id);
    ExpectSteered(testing::DmraGateway(id), SteerReason::kClientId, id);
    ExpectSteered(testing::DmrgGateway(id), SteerReason::kClientId, id);
    ExpectSteered(testing::Rptg(id), SteerReason::kClientId, id);
  }
}

TEST(SteeringKeyOwnerTest, LongestAcceptedOptionsString) {
  ExpectSteered(testing::Rpto(77, std::string(300, 'x')), SteerReason::kClientId, 77);
  ExpectDefault(testing::Rpto(77, std::string(301, 'x')));
}

TEST(SteeringKeyOwnerTest, KeyIsNotTakenFromOtherFields) {
  // Same stream, different everything else: same owner. Different stream only: may differ.
  Packet a = testing::Dmrd(0x12345678, 55, 0x00);
  Packet b = testing::Dmrd(0x12345678, 55, 0xFF);
  testing::PutBe32(b, 11, 0xDEADBEEF);
  for (uint32_t n : {2u, 4u, 7u}) EXPECT_EQ(SteeringKeyOwner(a, n), SteeringKeyOwner(b, n));
}

TEST(SteeringKeyOwnerTest, RptcAndRptclToldApartByFifthByteAndLength) {
  // A 9-byte RPTC whose fifth byte is not 'L' is neither: shard 0.
  Packet not_rptcl = testing::Rptcl(1234);
  not_rptcl[4] = 'X';
  ExpectDefault(not_rptcl);
  // A 302-byte packet starting "RPTCL" is an RPTC whose config begins with 'L': ID at 4.
  Packet rptc = testing::Rptc(0x01020304);
  rptc[4] = 'L';
  ExpectSteered(rptc, SteerReason::kClientId, 0x4C020304);
}

TEST(SteeringKeyOwnerTest, RptpingNeedsTheWholeTag) {
  Packet p = testing::Rptping(99);
  p[5] = 'X';  // "RPTPIXG"
  ExpectDefault(p);
}

TEST(SteeringKeyOwnerTest, ShortOrWrongLengthKeyedPacketsGoToShardZero) {
  struct Case {
    Packet full;
    std::vector<size_t> also_legal;  // shorter lengths that are themselves legal packets
  };
  const std::vector<Case> cases = {
      {testing::Dmrd(1000, 55), {53}},    {testing::Dmrd(1000, 53), {}},
      {testing::ObpDmrd(1000), {53, 55}}, {testing::Dmre(1000, 85), {}},
      {testing::Dmre(1000, 89), {85}},    {testing::Bcsq(1000), {}},
      {testing::Rptping(1000), {}},       {testing::Rptl(1000), {}},
      {testing::Rptk(1000), {}},          {testing::Rptc(1000), {}},
      {testing::Rptcl(1000), {}},         {testing::DmraGateway(1000), {}},
      {testing::DmrgGateway(1000), {}},   {testing::Rptg(1000), {}},
  };
  for (const Case& c : cases) {
    const std::string tag(c.full.begin(), c.full.begin() + 4);
    // Every strict prefix is a truncated packet and must not be steered by a key.
    for (size_t len = 0; len < c.full.size(); ++len) {
      if (std::find(c.also_legal.begin(), c.also_legal.end(), len) != c.also_legal.end()) {
        continue;
      }
      SCOPED_TRACE(tag + " cut to " + std::to_string(len));
      ExpectDefault(Packet(c.full.begin(), c.full.begin() + static_cast<ptrdiff_t>(len)));
    }
    SCOPED_TRACE(tag + " one byte too long");
    Packet longer = c.full;
    longer.push_back(0);
    ExpectDefault(longer);
  }
  // RPTO: 8 bytes (empty options) up to 308; any shorter prefix is truncated.
  Packet rpto = testing::Rpto(1000);
  for (size_t len = 0; len < 8; ++len) {
    ExpectDefault(Packet(rpto.begin(), rpto.begin() + static_cast<ptrdiff_t>(len)));
  }
}

TEST(SteeringKeyOwnerTest, TruncatedDmrdLengthsBetweenLegalOnes) {
  for (size_t len : {20u, 52u, 54u, 56u, 71u, 72u, 74u, 84u, 86u, 88u, 90u}) {
    ExpectDefault(testing::Dmrd(0xCAFEBABE, len));
    ExpectDefault(testing::Dmre(0xCAFEBABE, len));
  }
}

TEST(SteeringKeyOwnerTest, UnkeyedPacketsGoToShardZero) {
  ExpectDefault(testing::Tagged("BCKA", 24));
  ExpectDefault(testing::Tagged("BCVE", 25));
  ExpectDefault(testing::Tagged("BCST", 24));
  ExpectDefault(testing::Tagged("DMRA", 15));  // MMDVMHost direct: no repeater ID
  ExpectDefault(testing::Tagged("DMRG", 14));
  ExpectDefault(testing::Tagged("DMRC", 119));
  ExpectDefault(testing::Tagged("MSTPONG", 11));
  ExpectDefault(testing::Tagged("RPTACK", 10));
  ExpectDefault(testing::Tagged("dmrd", 55));  // tags are case-sensitive
  ExpectDefault(Packet{});
  std::mt19937 rng(11);
  for (int i = 0; i < 2000; ++i) {
    Packet p(rng() % 120);
    for (auto& b : p) b = static_cast<uint8_t>(rng());
    if (p.size() >= 4 && (p[0] == 'D' || p[0] == 'R' || p[0] == 'B')) p[0] = 'X';
    ExpectDefault(p);
  }
}

TEST(SteeringKeyOwnerTest, OutOfRangeShardCountsActLikeOne) {
  Packet p = testing::Dmrd(0xFFFFFFFF);
  EXPECT_EQ(SteeringKeyOwner(p, 0), 0u);
  EXPECT_EQ(SteeringKeyOwner(p, 65), 0u);
  EXPECT_EQ(SteeringKeyOwner(p, 64), dmrswitch_owner(0xFFFFFFFF, 64));
}

TEST(SteeringKeyOwnerTest, StreamsSpreadOverShards) {
  for (uint32_t n : {2u, 4u}) {
    std::vector<int> hits(n);
    for (uint32_t k : Keys()) ++hits[SteeringKeyOwner(testing::Dmrd(k), n)];
    for (uint32_t s = 0; s < n; ++s) EXPECT_GT(hits[s], 0) << "shard " << s << " of " << n;
  }
}

}  // namespace
}  // namespace dmrswitch::io
