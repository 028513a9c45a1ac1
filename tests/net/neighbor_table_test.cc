// NeighborTable: learning, capacity refusals, TTL expiry, the ARP rate limit, and a random
// workload against a std::unordered_map model (exercises backward-shift deletion); the IPv6
// table (NeighborTable6) the same way over 16-byte keys.

#include "dataplane/net/neighbor_table.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <unordered_map>

namespace dmrswitch::net {
namespace {

constexpr TimeNs kMsec = 1'000'000;
constexpr Mac kA = {0x02, 0, 0, 0, 0, 0x0a};
constexpr Mac kB = {0x02, 0, 0, 0, 0, 0x0b};

NeighborTable::Options Opts(size_t cap) {
  NeighborTable::Options o;
  o.capacity = cap;
  o.ttl = 300 * kNetSec;
  o.arp_interval = kNetSec;
  return o;
}

TEST(NeighborTable, LearnLookupRefreshMove) {
  NeighborTable t(Opts(8));
  EXPECT_EQ(t.Lookup(0xc6120002, 0), std::nullopt);
  EXPECT_EQ(t.Learn(0xc6120002, kA, 10), NeighborTable::LearnResult::kLearned);
  EXPECT_EQ(t.Lookup(0xc6120002, 10), kA);
  EXPECT_EQ(t.Learn(0xc6120002, kA, 20), NeighborTable::LearnResult::kRefreshed);
  EXPECT_EQ(t.Learn(0xc6120002, kB, 30), NeighborTable::LearnResult::kMoved);
  EXPECT_EQ(t.Lookup(0xc6120002, 30), kB);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.counters().learned, 1u);
  EXPECT_EQ(t.counters().refreshed, 1u);
  EXPECT_EQ(t.counters().moved, 1u);
}

TEST(NeighborTable, RefusesBadAddresses) {
  NeighborTable t(Opts(8));
  EXPECT_EQ(t.Learn(0, kA, 0), NeighborTable::LearnResult::kRefusedBad);
  Mac group = kA;
  group[0] = 0x01;
  EXPECT_EQ(t.Learn(1, group, 0), NeighborTable::LearnResult::kRefusedBad);
  EXPECT_FALSE(t.NeedsArp(0, 0));
  EXPECT_EQ(t.size(), 0u);
}

TEST(NeighborTable, CapacityIsExactAndRefusalsCounted) {
  NeighborTable t(Opts(100));
  EXPECT_EQ(t.capacity(), 100u);
  EXPECT_EQ(t.slot_count(), 256u);  // at most half full
  for (uint32_t i = 1; i <= 100; ++i) {
    ASSERT_EQ(t.Learn(0x0a000000 + i, kA, 0), NeighborTable::LearnResult::kLearned);
  }
  EXPECT_EQ(t.Learn(0x0b000001, kA, 0), NeighborTable::LearnResult::kRefusedFull);
  EXPECT_FALSE(t.NeedsArp(0x0b000002, 0));
  EXPECT_EQ(t.counters().refused_full, 2u);
  // Known addresses still update when full.
  EXPECT_EQ(t.Learn(0x0a000001, kB, 1), NeighborTable::LearnResult::kMoved);
  EXPECT_EQ(t.size(), 100u);
  // Forgetting one makes room.
  EXPECT_TRUE(t.Forget(0x0a000050));
  EXPECT_FALSE(t.Forget(0x0a000050));
  EXPECT_EQ(t.Learn(0x0b000001, kA, 2), NeighborTable::LearnResult::kLearned);
  for (uint32_t i = 1; i <= 100; ++i) {
    if (i == 0x50) continue;
    EXPECT_TRUE(t.Lookup(0x0a000000 + i, 2).has_value()) << i;
  }
}

TEST(NeighborTable, TtlAndExpire) {
  NeighborTable t(Opts(16));
  t.Learn(1, kA, 0);
  t.Learn(2, kA, 100 * kNetSec);
  EXPECT_TRUE(t.Lookup(1, 300 * kNetSec - 1).has_value());
  EXPECT_FALSE(t.Lookup(1, 300 * kNetSec).has_value());  // stale: Lookup says no at once
  EXPECT_TRUE(t.Lookup(2, 300 * kNetSec).has_value());
  // A clock slightly behind the learn time is "just now", not "long ago".
  EXPECT_TRUE(t.Lookup(2, 50 * kNetSec).has_value());
  EXPECT_EQ(t.Expire(300 * kNetSec, 1000), 1u);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.counters().expired, 1u);
  EXPECT_EQ(t.Expire(400 * kNetSec, 1000), 1u);
  EXPECT_EQ(t.size(), 0u);
}

TEST(NeighborTable, ExpireHonoursBudget) {
  NeighborTable t(Opts(64));
  for (uint32_t i = 1; i <= 64; ++i) t.Learn(i, kA, 0);
  const TimeNs late = 1000 * kNetSec;
  size_t calls = 0;
  size_t removed = 0;
  while (t.size() > 0) {
    removed += t.Expire(late, 8);
    ASSERT_LT(++calls, 1000u);
  }
  EXPECT_EQ(removed, 64u);
  EXPECT_GE(calls, 128u / 8);  // 128 slots, 8 visits per call
}

TEST(NeighborTable, NeedsArpRateLimitedPerAddress) {
  NeighborTable t(Opts(16));
  const uint32_t peer = 0xc6130001;
  const uint32_t other = 0xc6130002;
  EXPECT_TRUE(t.NeedsArp(peer, 0));
  EXPECT_TRUE(t.Pending(peer));
  EXPECT_FALSE(t.NeedsArp(peer, 500 * kMsec));
  EXPECT_FALSE(t.NeedsArp(peer, kNetSec - 1));
  EXPECT_TRUE(t.NeedsArp(other, 500 * kMsec));  // independent per address
  EXPECT_TRUE(t.NeedsArp(peer, kNetSec));
  EXPECT_FALSE(t.NeedsArp(peer, kNetSec + 1));
  EXPECT_EQ(t.counters().arp_requests, 3u);
  EXPECT_FALSE(t.Lookup(peer, kNetSec).has_value());
  // The reply arrives: resolved, no more requests while fresh.
  EXPECT_EQ(t.Learn(peer, kB, 2 * kNetSec), NeighborTable::LearnResult::kLearned);
  EXPECT_FALSE(t.Pending(peer));
  EXPECT_EQ(t.Lookup(peer, 2 * kNetSec), kB);
  EXPECT_FALSE(t.NeedsArp(peer, 3 * kNetSec));
  // Once stale it is asked for again (once), and the old MAC is no longer handed out.
  const TimeNs stale = 2 * kNetSec + 300 * kNetSec;
  EXPECT_TRUE(t.NeedsArp(peer, stale));
  EXPECT_FALSE(t.NeedsArp(peer, stale + 1));
  EXPECT_FALSE(t.Lookup(peer, stale).has_value());
  // A pending entry nobody asks about any more is expired after the TTL.
  EXPECT_EQ(t.Expire(kNetSec + 300 * kNetSec, 1000), 1u);  // `other`
  EXPECT_FALSE(t.Pending(other));
}

TEST(NeighborTable, ClockBehindDoesNotReleaseTheLimit) {
  NeighborTable t(Opts(4));
  EXPECT_TRUE(t.NeedsArp(7, 10 * kNetSec));
  EXPECT_FALSE(t.NeedsArp(7, 9 * kNetSec));
}

TEST(NeighborTable, RandomWorkloadMatchesModel) {
  std::mt19937 rng(9);
  NeighborTable::Options o = Opts(200);
  o.ttl = 50;
  NeighborTable t(o);
  struct M {
    Mac mac;
    TimeNs seen;
  };
  std::unordered_map<uint32_t, M> model;
  TimeNs now = 100;
  for (int step = 0; step < 200000; ++step) {
    now += rng() % 2;
    // A small key space clustered so probe runs collide and wrap.
    const uint32_t ip = 1 + rng() % 400;
    const unsigned op = rng() % 10;
    if (op < 5) {
      Mac m = kA;
      m[5] = static_cast<uint8_t>(rng() % 3);
      const auto r = t.Learn(ip, m, now);
      const bool known = model.count(ip) > 0;
      if (!known && model.size() >= 200) {
        ASSERT_EQ(r, NeighborTable::LearnResult::kRefusedFull);
      } else {
        ASSERT_NE(r, NeighborTable::LearnResult::kRefusedFull);
        model[ip] = M{m, now};
      }
    } else if (op < 7) {
      ASSERT_EQ(t.Forget(ip), model.erase(ip) == 1);
    } else if (op < 8) {
      // Expire everything stale: the model drops the same entries.
      t.Expire(now, 2 * t.slot_count());
      for (auto it = model.begin(); it != model.end();) {
        it = (now - it->second.seen >= o.ttl) ? model.erase(it) : std::next(it);
      }
    }
    // Every lookup agrees with the model.
    const uint32_t q = 1 + rng() % 400;
    const auto got = t.Lookup(q, now);
    const auto it = model.find(q);
    const bool fresh = it != model.end() && now - it->second.seen < o.ttl;
    ASSERT_EQ(got.has_value(), fresh) << step;
    if (fresh) {
      ASSERT_EQ(*got, it->second.mac);
    }
    ASSERT_EQ(t.size(), model.size()) << step;
  }
}

Ip6 V6(uint64_t hi, uint64_t lo) {
  Ip6 a;
  for (int i = 0; i < 8; ++i) {
    a[i] = static_cast<uint8_t>(hi >> (56 - 8 * i));
    a[8 + i] = static_cast<uint8_t>(lo >> (56 - 8 * i));
  }
  return a;
}

TEST(NeighborTable6, LearnLookupKnownAndBadKeys) {
  NeighborTable6 t(Opts(8));
  const Ip6 a = V6(0x2001000200000000, 2);
  const Ip6 b = V6(0x2001000200000000, 3);
  EXPECT_EQ(t.Learn(a, kA, 10), NeighborTable6::LearnResult::kLearned);
  EXPECT_EQ(t.Lookup(a, 10), kA);
  EXPECT_FALSE(t.Lookup(b, 10).has_value());
  EXPECT_TRUE(t.Known(a));
  EXPECT_FALSE(t.Known(b));
  EXPECT_TRUE(t.NeedsArp(b, 20));
  EXPECT_TRUE(t.Known(b));
  EXPECT_TRUE(t.Pending(b));
  EXPECT_EQ(t.Learn(a, kB, 30), NeighborTable6::LearnResult::kMoved);
  EXPECT_EQ(t.Learn(Ip6{}, kA, 0), NeighborTable6::LearnResult::kRefusedBad);
  EXPECT_FALSE(t.NeedsArp(Ip6{}, 0));
  Mac group = kA;
  group[0] = 0x33;
  EXPECT_EQ(t.Learn(b, group, 0), NeighborTable6::LearnResult::kRefusedBad);
  EXPECT_TRUE(t.Forget(a));
  EXPECT_FALSE(t.Known(a));
}

TEST(NeighborTable6, RandomWorkloadMatchesModel) {
  std::mt19937 rng(11);
  NeighborTable::Options o = Opts(150);
  o.ttl = 50;
  NeighborTable6 t(o);
  std::map<Ip6, std::pair<Mac, TimeNs>> model;
  TimeNs now = 100;
  // Clients of a few /64s that differ in the low bits only, and hosts with equal halves.
  const auto key = [&rng] {
    const uint64_t prefix = 0x2001000200000000 + rng() % 3;
    const uint64_t host = 1 + rng() % 100;  // never ::, which Learn refuses
    return rng() % 5 == 0 ? V6(host, host) : V6(prefix, host);
  };
  for (int step = 0; step < 100000; ++step) {
    now += rng() % 2;
    const Ip6 ip = key();
    const unsigned op = rng() % 10;
    if (op < 5) {
      Mac m = kA;
      m[5] = static_cast<uint8_t>(rng() % 3);
      const auto r = t.Learn(ip, m, now);
      if (model.count(ip) == 0 && model.size() >= 150) {
        ASSERT_EQ(r, NeighborTable6::LearnResult::kRefusedFull);
      } else {
        ASSERT_NE(r, NeighborTable6::LearnResult::kRefusedFull);
        model[ip] = {m, now};
      }
    } else if (op < 7) {
      ASSERT_EQ(t.Forget(ip), model.erase(ip) == 1);
    } else if (op < 8) {
      t.Expire(now, 2 * t.slot_count());
      for (auto it = model.begin(); it != model.end();) {
        it = (now - it->second.second >= o.ttl) ? model.erase(it) : std::next(it);
      }
    }
    const Ip6 q = key();
    const auto got = t.Lookup(q, now);
    const auto it = model.find(q);
    const bool fresh = it != model.end() && now - it->second.second < o.ttl;
    ASSERT_EQ(got.has_value(), fresh) << step;
    if (fresh) {
      ASSERT_EQ(*got, it->second.first);
    }
    ASSERT_EQ(t.size(), model.size()) << step;
  }
}

}  // namespace
}  // namespace dmrswitch::net
