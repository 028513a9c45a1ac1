// SubscriberLocations: where each subscriber was last heard (PROTOCOL.md Part A §9), from clients
// and from peers, bounded, aged out, forgotten with its client or with the peer table.
#include "ctrlplane/subscriber_locations.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace dmrswitch::cp {
namespace {

using route::kSec;
using route::kTs1;
using route::kTs2;
using route::SystemRef;

constexpr route::TimeNs kT0 = 1000 * kSec;

std::vector<uint32_t> Changed(SubscriberLocations& l) {
  std::vector<uint32_t> out;
  for (const SubscriberLocations::Change& c : l.TakeChanges()) out.push_back(c.rf_src);
  std::sort(out.begin(), out.end());
  return out;
}

TEST(SubscriberLocationsTest, ClientsAndPeersTheLatestPlaceWins) {
  SubscriberLocations l;
  l.Heard(3120101, SystemRef::Client(3), kTs2, kT0);
  l.Heard(2345678, SystemRef::Peer(1), kTs1, kT0);
  ASSERT_NE(l.Find(3120101), nullptr);
  EXPECT_EQ(l.Find(3120101)->at, SystemRef::Client(3));
  EXPECT_EQ(l.Find(3120101)->ts, kTs2);
  EXPECT_EQ(l.Find(2345678)->at, SystemRef::Peer(1));
  EXPECT_EQ(Changed(l), (std::vector<uint32_t>{2345678, 3120101}));
  // The radio from the peer now talks on a local hotspot: the client wins.
  l.Heard(2345678, SystemRef::Client(0), kTs1, kT0 + kSec);
  EXPECT_EQ(l.Find(2345678)->at, SystemRef::Client(0));
  EXPECT_EQ(Changed(l), (std::vector<uint32_t>{2345678}));
  // Heard again at the same place: only its age changes, no snapshot change.
  l.Heard(2345678, SystemRef::Client(0), kTs1, kT0 + 2 * kSec);
  EXPECT_EQ(l.Find(2345678)->heard_at, kT0 + 2 * kSec);
  EXPECT_TRUE(Changed(l).empty());
  // Nothing from nowhere, nothing for rf_src 0.
  l.Heard(0, SystemRef::Client(1), kTs1, kT0);
  l.Heard(3120102, SystemRef{}, kTs1, kT0);
  EXPECT_EQ(l.size(), 2u);
}

TEST(SubscriberLocationsTest, ALogoutForgetsItsClientsSubscribersOnly) {
  SubscriberLocations l;
  l.Heard(3120101, SystemRef::Client(3), kTs2, kT0);
  l.Heard(3120102, SystemRef::Client(3), kTs1, kT0);
  l.Heard(3120103, SystemRef::Client(4), kTs1, kT0);
  l.Heard(3120104, SystemRef::Peer(3), kTs1, kT0);  // peer 3 is not client 3
  (void)l.TakeChanges();
  l.ForgetSlot(3);
  EXPECT_EQ(l.Find(3120101), nullptr);
  EXPECT_EQ(l.Find(3120102), nullptr);
  EXPECT_NE(l.Find(3120103), nullptr);
  EXPECT_NE(l.Find(3120104), nullptr);
  const auto changes = l.TakeChanges();
  ASSERT_EQ(changes.size(), 2u);
  for (const auto& c : changes) EXPECT_FALSE(c.location.has_value());
  // A subscriber that moved away from the slot before the logout stays.
  l.Heard(3120105, SystemRef::Client(5), kTs1, kT0);
  l.Heard(3120105, SystemRef::Client(6), kTs1, kT0);
  l.ForgetSlot(5);
  EXPECT_NE(l.Find(3120105), nullptr);
}

TEST(SubscriberLocationsTest, ANewPeerTableForgetsEverySubscriberAtAPeer) {
  SubscriberLocations l;
  l.Heard(3120101, SystemRef::Client(0), kTs2, kT0);
  l.Heard(2345678, SystemRef::Peer(0), kTs1, kT0);
  l.Heard(2345679, SystemRef::Peer(2), kTs1, kT0);
  (void)l.TakeChanges();
  l.ForgetPeers();
  EXPECT_NE(l.Find(3120101), nullptr);
  EXPECT_EQ(l.Find(2345678), nullptr);
  EXPECT_EQ(l.Find(2345679), nullptr);
  EXPECT_EQ(Changed(l), (std::vector<uint32_t>{2345678, 2345679}));
}

TEST(SubscriberLocationsTest, BoundedAndAgedOut) {
  SubscriberLocations l(/*capacity=*/2, /*keep_for=*/10 * kSec);
  l.Heard(3120101, SystemRef::Client(0), kTs2, kT0);
  l.Heard(3120102, SystemRef::Peer(0), kTs1, kT0 + 5 * kSec);
  l.Heard(3120103, SystemRef::Client(0), kTs2, kT0);  // full: refused
  EXPECT_EQ(l.size(), 2u);
  EXPECT_EQ(l.refused_full(), 1u);
  l.Heard(3120101, SystemRef::Client(1), kTs2, kT0);  // a known one may move
  EXPECT_EQ(l.Find(3120101)->at, SystemRef::Client(1));
  l.Expire(kT0 + 12 * kSec);
  EXPECT_EQ(l.Find(3120101), nullptr);
  EXPECT_NE(l.Find(3120102), nullptr);
}

TEST(SubscriberLocationsTest, RestoreTakesClientAndPeerLocations) {
  SubscriberLocations l;
  const HeardSubscriber heard[] = {{3120101, SystemRef::Client(2), kTs2, kT0},
                                   {2345678, SystemRef::Peer(1), kTs1, kT0},
                                   {3120102, SystemRef{}, kTs1, kT0}};  // nowhere: skipped
  l.Restore(heard);
  EXPECT_EQ(l.size(), 2u);
  EXPECT_EQ(l.Find(2345678)->at, SystemRef::Peer(1));
  EXPECT_EQ(l.Find(3120101)->at, SystemRef::Client(2));
}

}  // namespace
}  // namespace dmrswitch::cp
