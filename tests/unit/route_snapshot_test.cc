// RouteSnapshotBuilder / RouteSnapshot (conferences, lookups) and SlotLeases (the cross-shard
// timeslot leases, PROTOCOL.md §3.6 contention rules (a)-(d)).

#include "dataplane/route/route_snapshot.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "dataplane/route/acl.h"
#include "dataplane/route/slot_lease.h"
#include "dataplane/route/types.h"

namespace dmrswitch::route {
namespace {

using ::testing::HasSubstr;

ClientSpec Client(uint32_t id, uint8_t slot_mask = 3) {
  ClientSpec c;
  c.id = id;
  c.addr = Endpoint{0xC6120000u + (id & 0xFFFF), static_cast<uint16_t>(40000 + (id % 1000))};
  c.slot_mask = slot_mask;
  return c;
}

PeerSpec Peer(std::string name, uint8_t version, std::string passphrase = "secret") {
  PeerSpec p;
  p.name = std::move(name);
  p.version = version;
  p.passphrase = std::move(passphrase);
  p.network_id = 310000 + version;
  p.target = Endpoint{0xC6130000u + version, static_cast<uint16_t>(62040 + version)};
  return p;
}

std::shared_ptr<const RouteSnapshot> MustBuild(RouteSnapshotBuilder& b, uint64_t generation = 1) {
  absl::StatusOr<std::shared_ptr<const RouteSnapshot>> s = b.Build(generation);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : nullptr;
}

// (kind, index, ts, tg) of each destination, for compact comparisons.
struct D {
  SystemKind kind;
  uint32_t index;
  uint8_t ts;
  uint32_t tg;
  bool operator==(const D&) const = default;
};
void PrintTo(const D& d, std::ostream* os) {
  *os << (d.kind == SystemKind::kClient ? "client " : "peer ") << d.index << " ts" << int{d.ts} + 1
      << " tg " << d.tg;
}
D C(uint32_t slot, uint8_t ts, uint32_t tg) { return {SystemKind::kClient, slot, ts, tg}; }

std::vector<D> Dests(const Conference& conf) {
  std::vector<D> out;
  for (const Destination& d : conf.members) out.push_back({d.to.kind, d.to.index, d.ts, d.tg});
  return out;
}

// ---------------------------------------------------------------------------------------------
// Builder validation

TEST(RouteSnapshotBuilderTest, AddClientErrors) {
  RouteSnapshotBuilder b(HubPolicy{}, 4);
  absl::Status s = b.AddClient(4, Client(3120001));
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(s.message(), HasSubstr("client slot 4"));
  EXPECT_THAT(s.message(), HasSubstr("capacity of 4"));
  EXPECT_EQ(b.AddClient(1000000, Client(3120001)).code(), absl::StatusCode::kOutOfRange);

  s = b.AddClient(0, Client(0));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("client ID 0"));

  ASSERT_TRUE(b.AddClient(0, Client(3120001)).ok());
  s = b.AddClient(0, Client(3120002));
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(s.message(), HasSubstr("client slot 0"));

  s = b.AddClient(1, Client(3120001));
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(s.message(), HasSubstr("client ID 3120001"));

  // Refused clients leave no trace: their slot and ID are still free.
  ASSERT_TRUE(b.AddClient(1, Client(3120002)).ok());
  ASSERT_TRUE(b.AddClient(3, Client(3120003)).ok());

  auto snap = MustBuild(b);
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->client_capacity(), 4u);
  EXPECT_EQ(snap->FindClient(3120001), 0);
  EXPECT_EQ(snap->FindClient(3120002), 1);
  EXPECT_EQ(snap->FindClient(3120003), 3);
  EXPECT_EQ(snap->FindClient(3120004), -1);
  EXPECT_EQ(snap->FindClient(0), -1);
  ASSERT_NE(snap->client(0), nullptr);
  EXPECT_EQ(snap->client(0)->id, 3120001u);
  EXPECT_EQ(snap->client(0)->addr, Client(3120001).addr);
  EXPECT_EQ(snap->client(0)->dial_tg, 0u);
  EXPECT_EQ(snap->client(2), nullptr);  // never added
  EXPECT_EQ(snap->client(4), nullptr);  // beyond capacity
  EXPECT_EQ(snap->client(0xFFFFFFFF), nullptr);
}

TEST(RouteSnapshotBuilderTest, AddClientCopiesSpec) {
  RouteSnapshotBuilder b(HubPolicy{}, 2);
  ClientSpec spec = Client(3120001, 2);
  spec.use_acl = true;
  spec.sub_acl = *Acl::Parse("DENY:3120999");
  spec.tg_acl[1] = *Acl::Parse("PERMIT:91");
  ASSERT_TRUE(b.AddClient(1, spec).ok());
  auto snap = MustBuild(b);
  const ClientInfo* c = snap->client(1);
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->present);
  EXPECT_EQ(c->slot_mask, 2);
  EXPECT_TRUE(c->use_acl);
  EXPECT_FALSE(c->sub_acl.Permits(3120999));
  EXPECT_TRUE(c->tg_acl[0].Permits(92));
  EXPECT_FALSE(c->tg_acl[1].Permits(92));
  EXPECT_TRUE(c->tg_acl[1].Permits(91));
}

TEST(RouteSnapshotBuilderTest, AddPeerErrors) {
  RouteSnapshotBuilder b(HubPolicy{}, 1);
  for (uint8_t v : {0, 2, 3, 6, 255}) {
    absl::StatusOr<uint32_t> r = b.AddPeer(Peer("OBP-BAD", v));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << int{v};
    EXPECT_THAT(r.status().message(), HasSubstr("OBP-BAD"));
    EXPECT_THAT(r.status().message(), HasSubstr(absl::StrCat("version ", v)));
  }
  absl::StatusOr<uint32_t> r = b.AddPeer(Peer("OBP-NOKEY", 5, ""));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("OBP-NOKEY"));
  EXPECT_THAT(r.status().message(), HasSubstr("passphrase"));

  // Refused peers take no index.
  EXPECT_EQ(*b.AddPeer(Peer("A", 1)), 0u);
  EXPECT_EQ(*b.AddPeer(Peer("B", 4)), 1u);
  EXPECT_EQ(*b.AddPeer(Peer("C", 5)), 2u);
  auto snap = MustBuild(b);
  ASSERT_EQ(snap->peers().size(), 3u);
  EXPECT_EQ(snap->peers()[0].name, "A");
  EXPECT_EQ(snap->peers()[1].version, 4);
  EXPECT_EQ(snap->peers()[2].network_id, 310005u);
}

TEST(RouteSnapshotBuilderTest, PeerLimit) {
  // Per-stream peer state is a fixed PeerSet: the builder enforces its bound.
  RouteSnapshotBuilder b(HubPolicy{}, 1);
  ASSERT_EQ(RouteSnapshotBuilder::kMaxPeers, PeerSet::kMaxPeers);
  for (uint32_t i = 0; i < RouteSnapshotBuilder::kMaxPeers; ++i) {
    absl::StatusOr<uint32_t> r = b.AddPeer(Peer(absl::StrCat("P", i), 5));
    ASSERT_TRUE(r.ok()) << i << ": " << r.status();
    ASSERT_EQ(*r, i);
  }
  absl::StatusOr<uint32_t> r = b.AddPeer(Peer("ONE-TOO-MANY", 5));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r.status().message(), HasSubstr(std::to_string(RouteSnapshotBuilder::kMaxPeers)));
  auto snap = MustBuild(b);
  EXPECT_EQ(snap->peers().size(), RouteSnapshotBuilder::kMaxPeers);
}

TEST(RouteSnapshotBuilderTest, SubscribeErrors) {
  RouteSnapshotBuilder b(HubPolicy{}, 4);
  ASSERT_TRUE(b.AddClient(0, Client(3120001)).ok());

  absl::Status s = b.Subscribe(1, kTs1, 91, MemberKind::kStatic);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("slot 1"));
  EXPECT_EQ(b.Subscribe(99, kTs1, 91, MemberKind::kStatic).code(), absl::StatusCode::kNotFound);

  s = b.Subscribe(0, 2, 91, MemberKind::kStatic);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("timeslot"));

  for (uint32_t tg : {0u, 1u, 4u, 9u, 4000u, 5000u, kMaxSubscriberId + 1, kAllCall}) {
    s = b.Subscribe(0, kTs1, tg, MemberKind::kStatic);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << tg;
    EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("TG ", tg))) << tg;
    EXPECT_EQ(b.Subscribe(0, kTs2, tg, MemberKind::kUserActivated, 1).code(),
              absl::StatusCode::kInvalidArgument)
        << tg;
  }

  s = b.Subscribe(0, kTs2, 91, MemberKind::kDial);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("SetDial"));

  EXPECT_TRUE(b.Subscribe(0, kTs1, 91, MemberKind::kStatic).ok());
  EXPECT_TRUE(b.Subscribe(0, kTs2, 5, MemberKind::kStatic).ok());
  EXPECT_TRUE(b.Subscribe(0, kTs2, 9990, MemberKind::kUserActivated, 1).ok());
  EXPECT_TRUE(b.Subscribe(0, kTs1, kMaxSubscriberId, MemberKind::kStatic).ok());
  EXPECT_TRUE(b.Subscribe(0, kTs1, 91, MemberKind::kStatic).ok());  // again: no-op

  auto snap = MustBuild(b);
  EXPECT_TRUE(snap->IsMember(0, kTs1, 91));
  EXPECT_TRUE(snap->IsMember(0, kTs2, 5));
  EXPECT_TRUE(snap->IsMember(0, kTs2, 9990));
  EXPECT_FALSE(snap->IsMember(0, kTs1, 9));
  EXPECT_FALSE(snap->IsMember(0, kTs1, 4000));
  // The repeated subscription gives one destination, not two.
  EXPECT_EQ(Dests(snap->FindConference(91)), (std::vector<D>{C(0, kTs1, 91)}));
}

TEST(RouteSnapshotBuilderTest, UserActivatableAndDialableTgs) {
  for (uint32_t tg : {5u, 8u, 91u, 3100u, 9990u, 9999u, 1000000u, kMaxSubscriberId}) {
    EXPECT_TRUE(IsUserActivatableTg(tg)) << tg;
  }
  for (uint32_t tg : {0u, 4u, 9u, 4000u, 5000u, kMaxSubscriberId + 1, kAllCall}) {
    EXPECT_FALSE(IsUserActivatableTg(tg)) << tg;
  }
  for (uint32_t tg : {5u, 7u, 10u, 91u, 3999u, 5001u, 9990u, 999999u}) {
    EXPECT_TRUE(IsDialableTg(tg)) << tg;
  }
  for (uint32_t tg : {0u, 4u, 8u, 9u, 4000u, 4500u, 5000u, 9991u, 9995u, 9999u, 1000000u}) {
    EXPECT_FALSE(IsDialableTg(tg)) << tg;
  }
}

TEST(RouteSnapshotBuilderTest, SetDial) {
  RouteSnapshotBuilder b(HubPolicy{}, 4);
  ASSERT_TRUE(b.AddClient(0, Client(3120001)).ok());
  ASSERT_TRUE(b.AddClient(1, Client(3120002)).ok());

  EXPECT_EQ(b.SetDial(2, 91).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(b.SetDial(17, 91).code(), absl::StatusCode::kNotFound);
  for (uint32_t tg : {9u, 4000u, 9995u, 8u, 4u, 1000000u}) {
    absl::Status s = b.SetDial(0, tg);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << tg;
    EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("TG ", tg)));
  }
  EXPECT_TRUE(b.SetDial(0, 91).ok());
  EXPECT_TRUE(b.SetDial(1, 91).ok());
  EXPECT_TRUE(b.SetDial(1, 0).ok());  // unlinks again

  auto snap = MustBuild(b);
  EXPECT_EQ(snap->client(0)->dial_tg, 91u);
  EXPECT_EQ(snap->client(1)->dial_tg, 0u);
  EXPECT_EQ(Dests(snap->FindConference(91)), (std::vector<D>{C(0, kTs2, kDialTg)}));
  EXPECT_TRUE(snap->IsMember(0, kTs2, kDialTg));
  EXPECT_FALSE(snap->IsMember(1, kTs2, kDialTg));
}

TEST(RouteSnapshotBuilderTest, BuildAgainSharesEverythingUnchanged) {
  RouteSnapshotBuilder b(HubPolicy{}, 130);
  ASSERT_TRUE(b.AddClient(0, Client(3120000)).ok());
  ASSERT_TRUE(b.AddClient(129, Client(3120129)).ok());
  ASSERT_TRUE(b.Subscribe(0, kTs2, 91, MemberKind::kStatic).ok());
  auto g1 = MustBuild(b, 1);
  EXPECT_FALSE(b.dirty());
  auto g2 = MustBuild(b, 2);
  EXPECT_EQ(g2->generation(), 2u);
  EXPECT_EQ(b.last_build().client_chunks, 0u);
  EXPECT_EQ(b.last_build().conferences, 0u);
  EXPECT_FALSE(b.last_build().peers);
  EXPECT_EQ(g1->policy_piece(), g2->policy_piece());
  EXPECT_EQ(g1->peer_table(), g2->peer_table());
  EXPECT_EQ(g1->client_chunk(0), g2->client_chunk(0));
  EXPECT_EQ(&g1->FindConference(91), &g2->FindConference(91));
  EXPECT_EQ(&g1->FindConference(92), &g2->FindConference(92)) << "the empty conference too";
}

TEST(RouteSnapshotBuilderTest, ALoginRebuildsItsChunkAndItsConferencesOnly) {
  RouteSnapshotBuilder b(HubPolicy{}, 256);
  for (uint32_t i = 0; i < 200; ++i) {
    ASSERT_TRUE(b.AddClient(i, Client(3120000 + i)).ok());
    ASSERT_TRUE(b.Subscribe(i, kTs2, i % 2 == 0 ? 91 : 3100, MemberKind::kStatic).ok());
  }
  for (uint32_t i = 0; i < 1000; ++i) b.AddSubscriberLocation(2000000 + i, i % 200, kTs2, i);
  auto g1 = MustBuild(b, 1);
  // Client 201 logs in (chunk 3) with a static on TG 91.
  ASSERT_TRUE(b.AddClient(201, Client(3120201)).ok());
  ASSERT_TRUE(
      b.SetMemberships(201, std::vector<MemberSpec>{{kTs2, 91, MemberKind::kStatic, 0}}, 0).ok());
  auto g2 = MustBuild(b, 2);
  EXPECT_EQ(b.last_build().client_chunks, 1u);
  EXPECT_EQ(b.last_build().conferences, 1u);
  EXPECT_EQ(b.last_build().subscriber_parts, 0u);
  EXPECT_FALSE(b.last_build().peers);
  EXPECT_EQ(g1->client_chunk(0), g2->client_chunk(0));
  EXPECT_NE(g1->client_chunk(3), g2->client_chunk(3));
  EXPECT_EQ(&g1->FindConference(3100), &g2->FindConference(3100)) << "an unrelated TG";
  EXPECT_NE(&g1->FindConference(91), &g2->FindConference(91));
  EXPECT_EQ(g2->FindConference(91).members.size(), 101u);
  EXPECT_EQ(g2->FindClient(3120201), 201);
  EXPECT_EQ(g1->FindClient(3120201), -1) << "the old generation is unchanged";
  EXPECT_EQ(g1->FindConference(91).members.size(), 100u);
  // Its logout takes it out again.
  b.RemoveClient(201);
  auto g3 = MustBuild(b, 3);
  EXPECT_EQ(g3->FindConference(91).members.size(), 100u);
  EXPECT_EQ(g3->client(201), nullptr);
  EXPECT_EQ(g3->FindClient(3120201), -1);
  EXPECT_EQ(&g2->FindConference(3100), &g3->FindConference(3100));
}

TEST(RouteSnapshotBuilderTest, AnAddressChangeRebuildsTheClientsConferences) {
  RouteSnapshotBuilder b(HubPolicy{}, 8);
  ASSERT_TRUE(b.AddClient(0, Client(3120000)).ok());
  ASSERT_TRUE(b.Subscribe(0, kTs2, 91, MemberKind::kStatic).ok());
  auto g1 = MustBuild(b, 1);
  ClientSpec moved = Client(3120000);
  moved.addr = Endpoint{0xC6120909, 40000};
  ASSERT_TRUE(b.SetClient(0, moved).ok());
  auto g2 = MustBuild(b, 2);
  ASSERT_EQ(g2->FindConference(91).members.size(), 1u);
  EXPECT_EQ(g2->FindConference(91).members[0].addr, moved.addr);
  EXPECT_TRUE(g2->IsMember(0, kTs2, 91)) << "memberships stay with the same client";
}

TEST(RouteSnapshotBuilderTest, PiecesAreFreedWithTheLastGenerationThatUsesThem) {
  // Counting allocations through the snapshot memory hooks.
  static int64_t live = 0;
  SetSnapshotMemory(SnapshotMemory{[](size_t bytes, size_t align) -> void* {
                                     ++live;
                                     return DefaultSnapshotMemory().allocate(bytes, align);
                                   },
                                   [](void* p, size_t bytes, size_t align) {
                                     --live;
                                     DefaultSnapshotMemory().deallocate(p, bytes, align);
                                   }});
  {
    const int64_t before = live;
    RouteSnapshotBuilder b(HubPolicy{}, 64);
    std::vector<std::shared_ptr<const RouteSnapshot>> gens;
    for (uint32_t g = 1; g <= 20; ++g) {
      ASSERT_TRUE(b.SetClient(g % 8, Client(3120000 + g)).ok());
      ASSERT_TRUE(b.Subscribe(g % 8, kTs2, 90 + g, MemberKind::kStatic).ok());
      b.AddSubscriberLocation(2000000 + g, g % 8, kTs2, g);
      gens.push_back(MustBuild(b, g));
      if (gens.size() > 3) gens.erase(gens.begin());  // the publisher keeps a few
    }
    EXPECT_EQ(gens.back()->FindConference(110).members.size(), 1u);
    gens.clear();
    // The builder still holds the last generation's pieces; nothing else.
    EXPECT_GT(live, before);
  }
  EXPECT_EQ(live, 0) << "every piece of every generation was freed";
  SetSnapshotMemory(SnapshotMemory{});
}

TEST(RouteSnapshotBuilderTest, RecountRestoresTheCountsOfAdoptedGenerations) {
  RouteSnapshotBuilder b(HubPolicy{}, 130);
  ASSERT_TRUE(b.AddClient(0, Client(3120000)).ok());
  ASSERT_TRUE(b.Subscribe(0, kTs2, 91, MemberKind::kStatic).ok());
  auto g1 = MustBuild(b, 1);
  ASSERT_TRUE(b.AddClient(70, Client(3120070)).ok());  // another chunk: chunk 0 is shared
  auto g2 = MustBuild(b, 2);
  ASSERT_EQ(g1->client_chunk(0), g2->client_chunk(0));
  const uint32_t chunk_refs = g2->client_chunk(0)->refs;
  // A predecessor killed mid-build leaves counts that are wrong: recount from the roots.
  g2->client_chunk(0)->refs = 77;
  const RouteSnapshot* roots[] = {g1.get(), g2.get()};
  RouteSnapshot::RecountPieces(roots);
  EXPECT_EQ(g2->client_chunk(0)->refs, chunk_refs);
  EXPECT_EQ(g2->client_chunk(0)->refs, 2u) << "used by g1 and g2 (the builder holds g2)";
}

// ---------------------------------------------------------------------------------------------
// The built snapshot

TEST(RouteSnapshotTest, GenerationAndPolicy) {
  HubPolicy policy;
  policy.server_id = 310999;
  policy.lease.group_hangtime = 3 * kSec;
  RouteSnapshotBuilder b(policy, 0);
  auto snap = MustBuild(b, 77);
  EXPECT_EQ(snap->generation(), 77u);
  EXPECT_EQ(snap->policy().server_id, 310999u);
  EXPECT_EQ(snap->policy().lease.group_hangtime, 3 * kSec);
  EXPECT_EQ(snap->client_capacity(), 0u);
  EXPECT_EQ(snap->client(0), nullptr);
  // FreeDMR's defaults: SUB_ACL DENY:1, TG ACLs PERMIT:ALL.
  EXPECT_FALSE(snap->policy().sub_acl.Permits(1));
  EXPECT_TRUE(snap->policy().sub_acl.Permits(2));
  EXPECT_TRUE(snap->policy().tg_acl[kTs1].Permits(91));
  EXPECT_TRUE(snap->policy().tg_acl[kTs2].Permits(91));
}

TEST(RouteSnapshotTest, ConferenceMembersSortedPeersApart) {
  RouteSnapshotBuilder b(HubPolicy{}, 8);
  ASSERT_TRUE(b.AddClient(5, Client(3120005)).ok());
  ASSERT_TRUE(b.AddClient(0, Client(3120000)).ok());
  ASSERT_TRUE(b.AddClient(3, Client(3120003)).ok());
  ASSERT_EQ(*b.AddPeer(Peer("OBP-1", 1)), 0u);
  ASSERT_EQ(*b.AddPeer(Peer("FBP-1", 5)), 1u);
  // Subscribed in scrambled order.
  ASSERT_TRUE(b.Subscribe(5, kTs2, 91, MemberKind::kStatic).ok());
  ASSERT_TRUE(b.Subscribe(0, kTs2, 91, MemberKind::kUserActivated, 10 * kSec).ok());
  ASSERT_TRUE(b.Subscribe(3, kTs1, 91, MemberKind::kStatic).ok());
  ASSERT_TRUE(b.Subscribe(0, kTs1, 91, MemberKind::kStatic).ok());
  ASSERT_TRUE(b.Subscribe(5, kTs1, 91, MemberKind::kStatic).ok());
  ASSERT_TRUE(b.Subscribe(3, kTs2, 3100, MemberKind::kStatic).ok());
  auto snap = MustBuild(b);

  const Conference& c91 = snap->FindConference(91);
  EXPECT_EQ(c91.tg, 91u);
  EXPECT_EQ(Dests(c91), (std::vector<D>{C(0, kTs1, 91), C(0, kTs2, 91), C(3, kTs1, 91),
                                        C(5, kTs1, 91), C(5, kTs2, 91)}));
  // Everything the fanout needs is in the destination.
  EXPECT_EQ(c91.members[2].repeater_id, 3120003u);
  EXPECT_EQ(c91.members[2].addr, Client(3120003).addr);
  // Peers are destinations of every conference, from the peer table.
  ASSERT_EQ(snap->peers().size(), 2u);
  EXPECT_EQ(snap->peers()[0].target, Peer("OBP-1", 1).target);
  EXPECT_EQ(snap->peers()[1].target, Peer("FBP-1", 5).target);

  EXPECT_EQ(Dests(snap->FindConference(3100)), (std::vector<D>{C(3, kTs2, 3100)}));

  // A TG nobody subscribes to has no client members.
  EXPECT_TRUE(snap->FindConference(12345).members.empty());
  EXPECT_TRUE(snap->FindConference(9).members.empty());

  EXPECT_TRUE(snap->IsMember(0, kTs1, 91));
  EXPECT_TRUE(snap->IsMember(0, kTs2, 91));
  EXPECT_TRUE(snap->IsMember(3, kTs2, 3100));
  EXPECT_FALSE(snap->IsMember(3, kTs1, 3100));
  EXPECT_FALSE(snap->IsMember(3, kTs2, 91));
  EXPECT_FALSE(snap->IsMember(1, kTs1, 91));
}

TEST(RouteSnapshotTest, NoPeersNoClients) {
  RouteSnapshotBuilder b(HubPolicy{}, 2);
  ASSERT_TRUE(b.AddClient(0, Client(3120001)).ok());
  ASSERT_TRUE(b.Subscribe(0, kTs1, 91, MemberKind::kStatic).ok());
  auto snap = MustBuild(b);
  EXPECT_TRUE(snap->FindConference(92).members.empty());
  EXPECT_EQ(Dests(snap->FindConference(91)), (std::vector<D>{C(0, kTs1, 91)}));
  EXPECT_TRUE(snap->peers().empty());
}

TEST(RouteSnapshotTest, DialLinkIsTg9OnTs2AndReplacesTs2Static) {
  RouteSnapshotBuilder b(HubPolicy{}, 4);
  for (uint32_t i = 0; i < 4; ++i) ASSERT_TRUE(b.AddClient(i, Client(3120000 + i)).ok());
  ASSERT_EQ(*b.AddPeer(Peer("FBP", 5)), 0u);
  // Client 0: static 91 on both slots and dialled to 91: TS2 hears 91 once, as TG 9.
  ASSERT_TRUE(b.Subscribe(0, kTs1, 91, MemberKind::kStatic).ok());
  ASSERT_TRUE(b.Subscribe(0, kTs2, 91, MemberKind::kStatic).ok());
  ASSERT_TRUE(b.SetDial(0, 91).ok());
  // Client 1: static 91 on TS2, not dialled.
  ASSERT_TRUE(b.Subscribe(1, kTs2, 91, MemberKind::kStatic).ok());
  // Client 2: dialled to 3100, static 91 on TS2 (a different TG: both stay).
  ASSERT_TRUE(b.Subscribe(2, kTs2, 91, MemberKind::kStatic).ok());
  ASSERT_TRUE(b.SetDial(2, 3100).ok());
  // Client 3: dialled to 2350, which nobody else has.
  ASSERT_TRUE(b.SetDial(3, 2350).ok());
  auto snap = MustBuild(b);

  EXPECT_EQ(Dests(snap->FindConference(91)),
            (std::vector<D>{C(0, kTs1, 91), C(0, kTs2, kDialTg), C(1, kTs2, 91), C(2, kTs2, 91)}));
  EXPECT_EQ(Dests(snap->FindConference(3100)), (std::vector<D>{C(2, kTs2, kDialTg)}));
  EXPECT_EQ(Dests(snap->FindConference(2350)), (std::vector<D>{C(3, kTs2, kDialTg)}));
  EXPECT_EQ(snap->FindConference(2350).tg, 2350u);
  // TG 9 itself is not a conference: it is resolved through the client's dial_tg.
  EXPECT_TRUE(snap->FindConference(kDialTg).members.empty());

  EXPECT_TRUE(snap->IsMember(0, kTs2, kDialTg));
  EXPECT_FALSE(snap->IsMember(0, kTs2, 91)) << "the dial link replaced the TS2 static";
  EXPECT_TRUE(snap->IsMember(0, kTs1, 91));
  EXPECT_TRUE(snap->IsMember(2, kTs2, kDialTg));
  EXPECT_TRUE(snap->IsMember(3, kTs2, kDialTg));
  EXPECT_FALSE(snap->IsMember(1, kTs2, kDialTg));
  EXPECT_EQ(snap->client(2)->dial_tg, 3100u);
  EXPECT_EQ(snap->client(3)->dial_tg, 2350u);

  // One copy per (client, timeslot) across every conference a client is in.
  for (uint32_t tg : {91u, 3100u, 2350u}) {
    const auto dests = Dests(snap->FindConference(tg));
    for (size_t i = 0; i < dests.size(); ++i) {
      for (size_t j = i + 1; j < dests.size(); ++j) {
        EXPECT_FALSE(dests[i].kind == dests[j].kind && dests[i].index == dests[j].index &&
                     dests[i].ts == dests[j].ts)
            << "tg " << tg << " duplicate destination " << testing::PrintToString(dests[i]);
      }
    }
  }
}

TEST(RouteSnapshotTest, SlotMaskFiltersDestinations) {
  RouteSnapshotBuilder b(HubPolicy{}, 3);
  ASSERT_TRUE(b.AddClient(0, Client(3120000, /*slot_mask=*/2)).ok());  // TS2 only
  ASSERT_TRUE(b.AddClient(1, Client(3120001, /*slot_mask=*/1)).ok());  // TS1 only
  ASSERT_TRUE(b.AddClient(2, Client(3120002, /*slot_mask=*/3)).ok());
  for (uint32_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(b.Subscribe(i, kTs1, 91, MemberKind::kStatic).ok());
    ASSERT_TRUE(b.Subscribe(i, kTs2, 91, MemberKind::kStatic).ok());
  }
  ASSERT_TRUE(b.SetDial(1, 3100).ok());  // a TS1-only client cannot hear a dial link
  auto snap = MustBuild(b);
  EXPECT_EQ(Dests(snap->FindConference(91)),
            (std::vector<D>{C(0, kTs2, 91), C(1, kTs1, 91), C(2, kTs1, 91), C(2, kTs2, 91)}));
  EXPECT_TRUE(snap->FindConference(3100).members.empty());
  EXPECT_EQ(snap->client(0)->slot_mask, 2);
}

TEST(RouteSnapshotTest, PeersByListener) {
  RouteSnapshotBuilder b(HubPolicy{}, 1);
  PeerSpec a = Peer("OBP-A", 1), f4 = Peer("FBP-4", 4), f5 = Peer("FBP-5", 5),
           none = Peer("OBP-B", 1);
  a.listener = 1;
  f4.listener = 2;
  f5.listener = 1;
  none.listener = kNoListener;
  for (const PeerSpec& p : {a, f4, f5, none}) ASSERT_TRUE(b.AddPeer(p).ok());
  auto snap = MustBuild(b);
  EXPECT_EQ(std::vector<uint32_t>(snap->PeersOn(1).begin(), snap->PeersOn(1).end()),
            (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(std::vector<uint32_t>(snap->PeersOn(2).begin(), snap->PeersOn(2).end()),
            (std::vector<uint32_t>{1}));
  EXPECT_TRUE(snap->PeersOn(0).empty()) << "the HBP listener serves no peer";
  EXPECT_TRUE(snap->PeersOn(9).empty());
  EXPECT_EQ(snap->peers()[3].listener, kNoListener);
}

TEST(RouteSnapshotTest, FindClientByPrefix) {
  RouteSnapshotBuilder b(HubPolicy{}, 8);
  ASSERT_TRUE(b.AddClient(0, Client(3120001)).ok());    // 7-digit hotspot/repeater
  ASSERT_TRUE(b.AddClient(1, Client(312000205)).ok());  // 9-digit: 3120002 + suffix 05
  ASSERT_TRUE(b.AddClient(2, Client(312000901)).ok());  // 9-digit, and ...
  ASSERT_TRUE(b.AddClient(3, Client(3120009)).ok());    // ... the 7-digit ID it is made of
  ASSERT_TRUE(b.AddClient(4, Client(31200011)).ok());   // 8 digits: matched as itself
  ASSERT_TRUE(b.AddClient(5, Client(311000)).ok());     // 6 digits
  auto snap = MustBuild(b);

  EXPECT_EQ(snap->FindClientByPrefix(3120001), 0);
  EXPECT_EQ(snap->FindClientByPrefix(3120002), 1);
  EXPECT_EQ(snap->FindClientByPrefix(312000205), 1);  // "a client whose ID is `id`"
  EXPECT_EQ(snap->FindClientByPrefix(312000901), 2);
  EXPECT_EQ(snap->FindClientByPrefix(3120009), 3);  // its own ID beats another's prefix
  EXPECT_EQ(snap->FindClientByPrefix(31200011), 4);
  EXPECT_EQ(snap->FindClientByPrefix(311000), 5);
  EXPECT_EQ(snap->FindClientByPrefix(3120003), -1);
  EXPECT_EQ(snap->FindClientByPrefix(312000206), -1);
  EXPECT_EQ(snap->FindClientByPrefix(31200020), -1);
  // FindClient is exact.
  EXPECT_EQ(snap->FindClient(3120002), -1);
  EXPECT_EQ(snap->FindClient(312000205), 1);
}

TEST(RouteSnapshotTest, FindClientByPrefixExactIdWinsInEitherOrder) {
  RouteSnapshotBuilder b(HubPolicy{}, 4);
  ASSERT_TRUE(b.AddClient(0, Client(3120009)).ok());
  ASSERT_TRUE(b.AddClient(1, Client(312000901)).ok());
  ASSERT_TRUE(b.AddClient(2, Client(312000902)).ok());
  auto snap = MustBuild(b);
  EXPECT_EQ(snap->FindClientByPrefix(3120009), 0);
  EXPECT_EQ(snap->FindClientByPrefix(312000901), 1);
  EXPECT_EQ(snap->FindClientByPrefix(312000902), 2);
}

TEST(RouteSnapshotTest, FindSubscriber) {
  RouteSnapshotBuilder b(HubPolicy{}, 4);
  ASSERT_TRUE(b.AddClient(1, Client(3120001)).ok());
  ASSERT_TRUE(b.AddClient(2, Client(3120002)).ok());
  b.AddSubscriberLocation(3120101, 1, kTs2);
  b.AddSubscriberLocation(3120102, 2, kTs1);
  b.AddSubscriberLocation(3120102, 1, kTs1);  // heard again elsewhere: the latest wins
  auto snap = MustBuild(b);
  const Location* loc = snap->FindSubscriber(3120101);
  ASSERT_NE(loc, nullptr);
  EXPECT_EQ(loc->at, SystemRef::Client(1));
  EXPECT_EQ(loc->ts, kTs2);
  loc = snap->FindSubscriber(3120102);
  ASSERT_NE(loc, nullptr);
  EXPECT_EQ(loc->at, SystemRef::Client(1));
  EXPECT_EQ(loc->ts, kTs1);
  EXPECT_EQ(snap->FindSubscriber(3120103), nullptr);
  EXPECT_EQ(snap->FindSubscriber(3120001), nullptr);  // a client ID is not a subscriber location
}

TEST(RouteSnapshotTest, SubscriberHeardAtAPeer) {
  RouteSnapshotBuilder b(HubPolicy{}, 4);
  ASSERT_TRUE(b.AddClient(1, Client(3120001)).ok());
  b.AddSubscriberLocation(2345678, SystemRef::Peer(2), kTs1, 7);
  b.AddSubscriberLocation(3120101, 1, kTs2);
  auto snap = MustBuild(b);
  const Location* loc = snap->FindSubscriber(2345678);
  ASSERT_NE(loc, nullptr);
  EXPECT_EQ(loc->at, SystemRef::Peer(2));
  EXPECT_EQ(loc->heard_at, 7u);
  // Heard locally afterwards: the client wins, and only that part is rebuilt.
  b.AddSubscriberLocation(2345678, SystemRef::Client(1), kTs1, 8);
  snap = MustBuild(b);
  EXPECT_EQ(b.last_build().subscriber_parts, 1u);
  EXPECT_EQ(snap->FindSubscriber(2345678)->at, SystemRef::Client(1));
  // The same location again changes nothing.
  b.AddSubscriberLocation(2345678, SystemRef::Client(1), kTs1, 8);
  EXPECT_FALSE(b.dirty());
}

TEST(RouteSnapshotTest, UaExpiry) {
  RouteSnapshotBuilder b(HubPolicy{}, 2);
  ASSERT_TRUE(b.AddClient(0, Client(3120001)).ok());
  ASSERT_TRUE(b.Subscribe(0, kTs1, 3100, MemberKind::kUserActivated, 12345 * kSec).ok());
  ASSERT_TRUE(b.Subscribe(0, kTs2, 3100, MemberKind::kUserActivated, 600 * kSec).ok());
  ASSERT_TRUE(b.Subscribe(0, kTs1, 91, MemberKind::kStatic).ok());
  auto snap = MustBuild(b);
  EXPECT_EQ(snap->UaExpiry(0, kTs1, 3100), 12345 * kSec);
  EXPECT_EQ(snap->UaExpiry(0, kTs2, 3100), 600 * kSec);
  EXPECT_EQ(snap->UaExpiry(0, kTs1, 91), 0u);    // static: no timer
  EXPECT_EQ(snap->UaExpiry(0, kTs1, 3101), 0u);  // not a member
  EXPECT_EQ(snap->UaExpiry(1, kTs1, 3100), 0u);
  EXPECT_TRUE(snap->IsMember(0, kTs1, 3100));
}

TEST(RouteSnapshotTest, MemberKeyDistinguishesSlotTsTg) {
  EXPECT_NE(RouteSnapshot::MemberKey(0, kTs1, 91), RouteSnapshot::MemberKey(0, kTs2, 91));
  EXPECT_NE(RouteSnapshot::MemberKey(0, kTs1, 91), RouteSnapshot::MemberKey(1, kTs1, 91));
  EXPECT_NE(RouteSnapshot::MemberKey(0, kTs1, 91), RouteSnapshot::MemberKey(0, kTs1, 92));
  EXPECT_NE(RouteSnapshot::MemberKey(0, kTs2, 1), RouteSnapshot::MemberKey(0, kTs1, 1u << 24));
  EXPECT_NE(RouteSnapshot::MemberKey(0, kTs1, kMaxSubscriberId),
            RouteSnapshot::MemberKey(0, kTs2, kMaxSubscriberId));
}

// ---------------------------------------------------------------------------------------------
// Reading a snapshot back (a restarted control plane)

// (slot, ts, tg, kind, ua_expires_at) of a membership, for compact comparisons.
using M = std::tuple<uint32_t, uint8_t, uint32_t, MemberKind, TimeNs>;

std::vector<M> Memberships(const RouteSnapshot& snap) {
  std::vector<M> out;
  snap.ForEachMembership([&](const RouteSnapshot::Membership& m) {
    out.emplace_back(m.client_slot, m.ts, m.tg, m.kind, m.ua_expires_at);
  });
  std::sort(out.begin(), out.end());
  return out;
}

TEST(RouteSnapshotTest, ForEachMembershipNamesKindExpiryAndDialLinks) {
  RouteSnapshotBuilder b(HubPolicy{}, 4);
  ASSERT_TRUE(b.AddClient(0, Client(3120001)).ok());
  ASSERT_TRUE(b.AddClient(1, Client(3120002, 1)).ok());  // TS1 only
  ASSERT_TRUE(b.AddClient(2, Client(3120003)).ok());
  ASSERT_TRUE(b.Subscribe(0, kTs1, 91, MemberKind::kStatic).ok());
  ASSERT_TRUE(b.Subscribe(0, kTs2, 3100, MemberKind::kUserActivated, 600 * kSec).ok());
  ASSERT_TRUE(b.Subscribe(0, kTs2, 3101, MemberKind::kUserActivated, 0).ok());
  ASSERT_TRUE(b.Subscribe(2, kTs2, 2350, MemberKind::kStatic).ok());  // replaced by the dial link
  ASSERT_TRUE(b.SetDial(2, 2350).ok());
  ASSERT_TRUE(b.SetDial(1, 2351).ok());  // no TS2: no membership, but the client record has it
  auto snap = MustBuild(b);
  EXPECT_THAT(Memberships(*snap),
              ::testing::ElementsAre(M{0, kTs1, 91, MemberKind::kStatic, 0},
                                     M{0, kTs2, 3100, MemberKind::kUserActivated, 600 * kSec},
                                     M{0, kTs2, 3101, MemberKind::kUserActivated, 0},
                                     M{2, kTs2, 2350, MemberKind::kDial, 0}));
  EXPECT_EQ(snap->client(1)->dial_tg, 2351u);
  // Each is what IsMember answers true for (a dial link as TG 9).
  EXPECT_TRUE(snap->IsMember(2, kTs2, kDialTg));
  EXPECT_FALSE(snap->IsMember(2, kTs2, 2350));
}

TEST(RouteSnapshotTest, ForEachMembershipOfAnEmptySnapshot) {
  RouteSnapshotBuilder b(HubPolicy{}, 2);
  ASSERT_TRUE(b.AddClient(0, Client(3120001)).ok());
  auto snap = MustBuild(b);
  EXPECT_THAT(Memberships(*snap), ::testing::IsEmpty());
  int subscribers = 0;
  snap->ForEachSubscriber([&](uint32_t, const Location&) { ++subscribers; });
  EXPECT_EQ(subscribers, 0);
}

TEST(RouteSnapshotTest, ForEachSubscriber) {
  RouteSnapshotBuilder b(HubPolicy{}, 4);
  ASSERT_TRUE(b.AddClient(1, Client(3120001)).ok());
  b.AddSubscriberLocation(3120101, 1, kTs2);
  b.AddSubscriberLocation(3120102, 2, kTs1);
  b.AddSubscriberLocation(3120102, 1, kTs1);  // the latest wins
  auto snap = MustBuild(b);
  std::vector<std::tuple<uint32_t, uint32_t, uint8_t>> got;
  snap->ForEachSubscriber(
      [&](uint32_t rf_src, const Location& l) { got.emplace_back(rf_src, l.at.index, l.ts); });
  std::sort(got.begin(), got.end());
  EXPECT_THAT(got, ::testing::ElementsAre(std::tuple{3120101u, 1u, uint8_t{kTs2}},
                                          std::tuple{3120102u, 1u, uint8_t{kTs1}}));
}

TEST(RouteSnapshotTest, ControlStateIsStoredAsGiven) {
  RouteSnapshotBuilder empty(HubPolicy{}, 1);
  EXPECT_TRUE(MustBuild(empty)->control_state().empty());

  RouteSnapshotBuilder b(HubPolicy{}, 1);
  const std::vector<uint8_t> first = {1, 2, 3};
  std::vector<uint8_t> second(1000);
  for (size_t i = 0; i < second.size(); ++i) second[i] = static_cast<uint8_t>(i * 13);
  b.SetControlState(first);
  b.SetControlState(second);  // replaces
  auto snap = MustBuild(b);
  const std::span<const uint8_t> state = snap->control_state();
  EXPECT_EQ(std::vector<uint8_t>(state.begin(), state.end()), second);
  EXPECT_NE(state.data(), second.data());  // a copy, in the snapshot
}

// ---------------------------------------------------------------------------------------------
// Slot leases

constexpr TimeNs kT0 = 1'700'000'000 * kSec;  // a realistic wall clock: exercises the masking

// A talker (rf_src) of its own for each stream, unless a test says otherwise.
constexpr uint32_t TalkerOf(uint32_t stream_id) { return 3'100'000 + (stream_id & 0xFFFF); }

TEST(LeaseWordTest, FreeWord) {
  const LeaseWord w;
  EXPECT_TRUE(w.free());
  EXPECT_FALSE(w.held());
  EXPECT_FALSE(w.ended());
  EXPECT_FALSE(w.held_by(0));
}

TEST(LeaseWordTest, HeldRoundTrip) {
  for (uint32_t sid : {1u, 0x12345678u, 0xDEADBEEFu, 0xFFFFFFFFu}) {
    for (uint32_t tg : {1u, 9u, 91u, kMaxSubscriberId, kAllCall}) {
      for (bool rx : {false, true}) {
        const LeaseWord w = LeaseWord::Held(sid, tg, rx);
        EXPECT_FALSE(w.free());
        EXPECT_TRUE(w.held());
        EXPECT_FALSE(w.ended());
        EXPECT_EQ(w.stream_id(), sid);
        EXPECT_EQ(w.tg(), tg);
        EXPECT_EQ(w.rx(), rx);
        EXPECT_TRUE(w.held_by(sid));
        EXPECT_FALSE(w.held_by(sid ^ 1));
      }
    }
  }
  // Held words of different streams, TGs or directions differ.
  EXPECT_NE(LeaseWord::Held(1, 91, false).raw, LeaseWord::Held(2, 91, false).raw);
  EXPECT_NE(LeaseWord::Held(1, 91, false).raw, LeaseWord::Held(1, 92, false).raw);
  EXPECT_NE(LeaseWord::Held(1, 91, false).raw, LeaseWord::Held(1, 91, true).raw);
}

TEST(LeaseWordTest, EndedRoundTrip) {
  for (TimeNs at : {TimeNs{0}, 5 * kSec, kT0, kT0 + 123 * kMs, ~TimeNs{0} / 2}) {
    for (uint32_t tg : {1u, 91u, kAllCall}) {
      for (bool rx : {false, true}) {
        const LeaseWord w = LeaseWord::Ended(tg, rx, at);
        EXPECT_FALSE(w.free()) << at;
        EXPECT_FALSE(w.held());
        EXPECT_TRUE(w.ended());
        EXPECT_EQ(w.tg(), tg);
        EXPECT_EQ(w.rx(), rx);
        EXPECT_EQ(w.since_end(at), 0u);
        EXPECT_EQ(w.since_end(at + 1 * kMs), 1 * kMs);
        EXPECT_EQ(w.since_end(at + 359 * kMs), 359 * kMs);
        EXPECT_EQ(w.since_end(at + 5 * kSec), 5 * kSec);
        EXPECT_EQ(w.since_end(at + 3600 * kSec), 3600 * kSec);
        // An ended word is nobody's, whatever its low bits look like.
        EXPECT_FALSE(w.held_by(w.stream_id()));
      }
    }
  }
}

TEST(LeaseWordTest, SinceEndLongAgo) {
  const LeaseWord w = LeaseWord::Ended(91, false, kT0);
  EXPECT_EQ(w.since_end(kT0 + 100 * 86400 * kSec), 100 * 86400 * kSec);
  EXPECT_EQ(w.since_end(kT0 + 700 * 86400 * kSec), 700 * 86400 * kSec);
  EXPECT_TRUE(SlotLeases::Claimable(w, 92, kT0 + 100 * 86400 * kSec, LeaseTimers{}, 0, 3120101));
}

TEST(LeaseWordTest, SinceEndHasMillisecondResolution) {
  const LeaseWord w = LeaseWord::Ended(91, false, kT0 + 10 * kMs + 999'999);
  EXPECT_EQ(w.since_end(kT0 + 10 * kMs), 0u);
  EXPECT_EQ(w.since_end(kT0 + 370 * kMs), 360 * kMs);
}

TEST(SlotLeasesTest, InitiallyFree) {
  SlotLeases l(3);
  EXPECT_EQ(l.max_clients(), 3u);
  for (uint32_t c = 0; c < 3; ++c) {
    for (unsigned ts : {kTs1, kTs2}) {
      EXPECT_TRUE(l.Load(c, ts).free());
      EXPECT_FALSE(l.Holds(c, ts, 1));
    }
  }
  // Each word is separate (and on its own cache line).
  EXPECT_NE(&l.word(0, kTs1), &l.word(0, kTs2));
  EXPECT_GE(
      reinterpret_cast<uintptr_t>(&l.word(0, kTs2)) - reinterpret_cast<uintptr_t>(&l.word(0, kTs1)),
      64u);
}

TEST(SlotLeasesTest, ClaimTxFreeThenMineThenBusy) {
  SlotLeases l(2);
  const LeaseTimers t;
  EXPECT_EQ(l.ClaimTx(1, kTs2, 0xA1, 91, TalkerOf(0xA1), kT0, t), LeaseVerdict::kClaimed);
  EXPECT_TRUE(l.Holds(1, kTs2, 0xA1));
  EXPECT_EQ(l.Load(1, kTs2).raw, LeaseWord::Held(0xA1, 91, false).raw);
  EXPECT_EQ(l.ClaimTx(1, kTs2, 0xA1, 91, TalkerOf(0xA1), kT0 + 60 * kMs, t), LeaseVerdict::kMine);
  // Another stream, same TG or not, while held: busy (rules (c)/(d) while a call is live).
  EXPECT_EQ(l.ClaimTx(1, kTs2, 0xB2, 91, TalkerOf(0xB2), kT0 + 60 * kMs, t), LeaseVerdict::kBusy);
  EXPECT_EQ(l.ClaimTx(1, kTs2, 0xB2, 92, TalkerOf(0xB2), kT0 + 100 * kSec, t), LeaseVerdict::kBusy);
  EXPECT_TRUE(l.Holds(1, kTs2, 0xA1));
  EXPECT_FALSE(l.Holds(1, kTs2, 0xB2));
  // Other words are independent.
  EXPECT_TRUE(l.Load(1, kTs1).free());
  EXPECT_TRUE(l.Load(0, kTs2).free());
  EXPECT_EQ(l.ClaimTx(1, kTs1, 0xB2, 92, TalkerOf(0xB2), kT0, t), LeaseVerdict::kClaimed);
  EXPECT_EQ(l.ClaimTx(0, kTs2, 0xB2, 92, TalkerOf(0xB2), kT0, t), LeaseVerdict::kClaimed);
}

TEST(SlotLeasesTest, OtherTgWaitsForGroupHangtime) {
  SlotLeases l(1);
  const LeaseTimers t;  // 5 s / 360 ms
  const TimeNs end = kT0 + 2 * kSec;
  ASSERT_EQ(l.ClaimTx(0, kTs1, 0xA1, 91, TalkerOf(0xA1), kT0, t), LeaseVerdict::kClaimed);
  ASSERT_TRUE(l.Release(0, kTs1, 0xA1, end));
  EXPECT_FALSE(l.Holds(0, kTs1, 0xA1));
  const LeaseWord w = l.Load(0, kTs1);
  EXPECT_TRUE(w.ended());
  EXPECT_EQ(w.tg(), 91u);
  EXPECT_FALSE(w.rx());
  EXPECT_EQ(w.since_end(end + 7 * kMs), 7 * kMs);
  // (a)/(b): another TG within the hang time is refused.
  EXPECT_EQ(l.ClaimTx(0, kTs1, 0xB2, 92, TalkerOf(0xB2), end, t), LeaseVerdict::kBusy);
  EXPECT_EQ(l.ClaimTx(0, kTs1, 0xB2, 92, TalkerOf(0xB2), end + 1 * kSec, t), LeaseVerdict::kBusy);
  EXPECT_EQ(l.ClaimTx(0, kTs1, 0xB2, 92, TalkerOf(0xB2), end + 5 * kSec - 1 * kMs, t),
            LeaseVerdict::kBusy);
  EXPECT_TRUE(l.Load(0, kTs1).ended());
  EXPECT_EQ(l.ClaimTx(0, kTs1, 0xB2, 92, TalkerOf(0xB2), end + 5 * kSec, t),
            LeaseVerdict::kClaimed);
  EXPECT_TRUE(l.Holds(0, kTs1, 0xB2));
  EXPECT_EQ(l.Load(0, kTs1).tg(), 92u);
}

TEST(SlotLeasesTest, SameTgWaitsForStreamTimeout) {
  SlotLeases l(1);
  const LeaseTimers t;
  const TimeNs end = kT0 + 3 * kSec;
  ASSERT_EQ(l.ClaimTx(0, kTs2, 0xA1, 91, TalkerOf(0xA1), kT0, t), LeaseVerdict::kClaimed);
  ASSERT_TRUE(l.Release(0, kTs2, 0xA1, end));
  // (c)/(d): the same TG within the collision window is refused ...
  EXPECT_EQ(l.ClaimTx(0, kTs2, 0xB2, 91, TalkerOf(0xB2), end, t), LeaseVerdict::kBusy);
  EXPECT_EQ(l.ClaimTx(0, kTs2, 0xB2, 91, TalkerOf(0xB2), end + 359 * kMs, t), LeaseVerdict::kBusy);
  // ... and allowed after it, well within the group hang time.
  EXPECT_EQ(l.ClaimTx(0, kTs2, 0xB2, 91, TalkerOf(0xB2), end + 360 * kMs, t),
            LeaseVerdict::kClaimed);
  EXPECT_TRUE(l.Holds(0, kTs2, 0xB2));
}

// Part A §11: the 360 ms guard holds off a different talker only; the same rf_src re-keying on
// the same TG gets the slot at once. Other TGs still wait for the hang time, whoever talks.
TEST(SlotLeasesTest, SameTalkerReKeysWithinTheStreamTimeout) {
  SlotLeases l(1);
  const LeaseTimers t;
  const TimeNs end = kT0 + 3 * kSec;
  constexpr uint32_t kTalker = 3120101;
  ASSERT_EQ(l.ClaimTx(0, kTs2, 0xA1, 91, kTalker, kT0, t), LeaseVerdict::kClaimed);
  EXPECT_EQ(l.Talker(0, kTs2), kTalker);
  ASSERT_TRUE(l.Release(0, kTs2, 0xA1, end));
  EXPECT_EQ(l.Talker(0, kTs2), kTalker);  // the release keeps it
  // A different talker on the same TG: the collision window holds.
  EXPECT_EQ(l.ClaimTx(0, kTs2, 0xB2, 91, 3120102, end + 60 * kMs, t), LeaseVerdict::kBusy);
  // The same talker on another TG: the hang time holds.
  EXPECT_EQ(l.ClaimTx(0, kTs2, 0xB2, 92, kTalker, end + 60 * kMs, t), LeaseVerdict::kBusy);
  // The same talker on the same TG: at once.
  EXPECT_EQ(l.ClaimTx(0, kTs2, 0xB2, 91, kTalker, end + 60 * kMs, t), LeaseVerdict::kClaimed);
  EXPECT_TRUE(l.Holds(0, kTs2, 0xB2));
  // While a stream holds the slot, even its own talker's second stream waits (two repeaters
  // hearing one radio must not interleave on a listener).
  EXPECT_EQ(l.ClaimTx(0, kTs2, 0xC3, 91, kTalker, end + 120 * kMs, t), LeaseVerdict::kBusy);
  // A talker of 0 (unknown) is never "the same".
  ASSERT_TRUE(l.Release(0, kTs2, 0xB2, end + 200 * kMs));
  l.ForgetEnded(0);
  EXPECT_TRUE(l.Load(0, kTs2).free());
  ASSERT_EQ(l.ClaimTx(0, kTs2, 0xD4, 91, 0, end, t), LeaseVerdict::kClaimed);
  ASSERT_TRUE(l.Release(0, kTs2, 0xD4, end));
  EXPECT_EQ(l.ClaimTx(0, kTs2, 0xE5, 91, 0, end + 60 * kMs, t), LeaseVerdict::kBusy);
}

// The talker of the client's own transmission counts the same way: a radio that keys up on its
// hotspot and, a moment later, again elsewhere on the same TG is heard on that hotspot at once.
TEST(SlotLeasesTest, SameTalkerAfterTheClientsOwnTransmission) {
  SlotLeases l(1);
  const LeaseTimers t;
  constexpr uint32_t kTalker = 3120101;
  ASSERT_EQ(l.ClaimRx(0, kTs1, 0xA1, 91, kTalker), LeaseVerdict::kClaimed);
  ASSERT_TRUE(l.Release(0, kTs1, 0xA1, kT0));
  EXPECT_EQ(l.ClaimTx(0, kTs1, 0xB2, 91, 3120109, kT0 + 100 * kMs, t), LeaseVerdict::kBusy);
  EXPECT_EQ(l.ClaimTx(0, kTs1, 0xB2, 91, kTalker, kT0 + 100 * kMs, t), LeaseVerdict::kClaimed);
  EXPECT_EQ(l.Talker(0, kTs1), kTalker);
}

// A new over of the same talker on a client's slot supersedes the one still holding it (its
// terminator not yet processed by the shard that owns it): the new stream takes the client's own
// slot at its start and the old stream's destination slots on the same TG; the old stream takes
// nothing back, and nothing else is taken.
TEST(SlotLeasesTest, TheSameTalkersNewOverSupersedesTheOneStillHoldingTheSlot) {
  SlotLeases l(3);
  const LeaseTimers t;
  constexpr uint32_t kTalker = 3120101;
  constexpr uint32_t kA = 0xA1, kB = 0xB2;
  ASSERT_EQ(l.ClaimRx(0, kTs2, kA, 91, kTalker), LeaseVerdict::kClaimed);
  ASSERT_EQ(l.ClaimTx(1, kTs2, kA, 91, kTalker, kT0, t), LeaseVerdict::kClaimed);
  ASSERT_EQ(l.ClaimTx(2, kTs2, kA, 91, kTalker, kT0, t), LeaseVerdict::kClaimed);

  std::optional<uint32_t> superseded = 7;
  // Another talker on the same slot collides; nothing is superseded.
  EXPECT_EQ(l.ClaimRx(0, kTs2, kB, 91, 3120109, &superseded), LeaseVerdict::kBusy);
  // Without a start (a stream back from silence), even the same talker collides.
  EXPECT_EQ(l.ClaimRx(0, kTs2, kB, 91, kTalker), LeaseVerdict::kBusy);
  // At its start the same talker's new over supersedes A, on another TG too.
  ASSERT_EQ(l.ClaimRx(0, kTs2, kB, 92, kTalker, &superseded), LeaseVerdict::kClaimed);
  EXPECT_EQ(superseded, std::optional<uint32_t>(kA));
  EXPECT_TRUE(l.Holds(0, kTs2, kB));
  // A, back from silence, does not take it back; its release changes nothing.
  EXPECT_EQ(l.ClaimRx(0, kTs2, kA, 91, kTalker), LeaseVerdict::kBusy);
  EXPECT_FALSE(l.Release(0, kTs2, kA, kT0));
  EXPECT_TRUE(l.Holds(0, kTs2, kB));

  // B takes A's destination slot on the same TG at once ...
  EXPECT_EQ(l.ClaimTx(1, kTs2, kB, 91, kTalker, kT0, t, kA), LeaseVerdict::kClaimed);
  // ... and A, which still routes its last frames, does not get it back.
  EXPECT_EQ(l.ClaimTx(1, kTs2, kA, 91, kTalker, kT0, t), LeaseVerdict::kBusy);
  EXPECT_FALSE(l.Release(1, kTs2, kA, kT0));
  EXPECT_TRUE(l.Holds(1, kTs2, kB));
  // Not on another TG (the hang time rule), and not without naming A.
  EXPECT_EQ(l.ClaimTx(2, kTs2, kB, 92, kTalker, kT0, t, kA), LeaseVerdict::kBusy);
  EXPECT_EQ(l.ClaimTx(2, kTs2, kB, 91, kTalker, kT0, t), LeaseVerdict::kBusy);
  EXPECT_TRUE(l.Holds(2, kTs2, kA));
  // A stream held by a third stream of the same talker (a second repeater that heard the same
  // radio) is not A: it is kept.
  ASSERT_TRUE(l.Release(2, kTs2, kA, kT0));
  ASSERT_EQ(l.ClaimTx(2, kTs2, 0xC3, 91, kTalker, kT0, t), LeaseVerdict::kClaimed);
  EXPECT_EQ(l.ClaimTx(2, kTs2, kB, 91, kTalker, kT0, t, kA), LeaseVerdict::kBusy);
  // The client's own transmission is never "taken over" as a destination.
  EXPECT_EQ(l.ClaimTx(0, kTs2, 0xD4, 92, kTalker, kT0, t, kB), LeaseVerdict::kBusy);

  // A superseding claim of a free or ended slot names nothing.
  superseded = 7;
  ASSERT_EQ(l.ClaimRx(1, kTs1, 0xE5, 91, kTalker, &superseded), LeaseVerdict::kClaimed);
  EXPECT_EQ(superseded, std::nullopt);
}

// The superseded stream takes nothing back: no destination slot once it has lost its own slot,
// even one the same-talker rule would give it after the new over ended, and not its own slot
// when it comes back from silence after a newer over of its talker used it.
TEST(SlotLeasesTest, AnOvertakenStreamTakesNothingBack) {
  SlotLeases l(3);
  const LeaseTimers t;
  constexpr uint32_t kTalker = 3120101;
  constexpr uint32_t kA = 0xA1, kB = 0xB2;
  const ClientSlot own{0, kTs2};
  ASSERT_EQ(l.ClaimRx(0, kTs2, kA, 91, kTalker), LeaseVerdict::kClaimed);
  // While A holds its own slot it claims destinations as before.
  ASSERT_EQ(l.ClaimTx(1, kTs2, kA, 91, kTalker, kT0, t, std::nullopt, &own),
            LeaseVerdict::kClaimed);
  std::optional<uint32_t> superseded;
  ASSERT_EQ(l.ClaimRx(0, kTs2, kB, 91, kTalker, &superseded), LeaseVerdict::kClaimed);
  ASSERT_EQ(l.ClaimTx(1, kTs2, kB, 91, kTalker, kT0, t, kA, &own), LeaseVerdict::kClaimed);
  ASSERT_TRUE(l.Release(1, kTs2, kB, kT0));
  ASSERT_TRUE(l.Release(0, kTs2, kB, kT0));
  // B ended: the slot is claimable by its talker, but not by A, which lost its own slot.
  EXPECT_EQ(l.ClaimTx(1, kTs2, kA, 91, kTalker, kT0, t, std::nullopt, &own),
            LeaseVerdict::kOvertaken);
  EXPECT_EQ(l.ClaimTx(2, kTs2, kA, 91, kTalker, kT0, t, std::nullopt, &own),
            LeaseVerdict::kOvertaken);
  EXPECT_EQ(l.Load(2, kTs2).raw, 0u);
  // A slot a stream already holds stays its own without the check.
  ASSERT_EQ(l.ClaimTx(2, kTs2, 0xC3, 91, kTalker, kT0, t), LeaseVerdict::kClaimed);
  EXPECT_EQ(l.ClaimTx(2, kTs2, 0xC3, 91, kTalker, kT0, t, std::nullopt, &own), LeaseVerdict::kMine);

  // ResumeRx: A left its slot ended at kT0; B's end (kT0 + 1 s) is not what A left.
  const LeaseWord left_a = LeaseWord::Ended(91, true, kT0);
  ASSERT_EQ(l.ClaimRx(1, kTs1, kB, 91, kTalker), LeaseVerdict::kClaimed);
  ASSERT_TRUE(l.Release(1, kTs1, kB, kT0 + kSec));
  EXPECT_EQ(l.ResumeRx(1, kTs1, kA, 91, kTalker, left_a), LeaseVerdict::kOvertaken);
  // B, the one that left it so, resumes.
  EXPECT_EQ(l.ResumeRx(1, kTs1, kB, 91, kTalker, LeaseWord::Ended(91, true, kT0 + kSec)),
            LeaseVerdict::kClaimed);
  // Held by a newer over of the talker: overtaken; by another talker's transmission: a collision.
  EXPECT_EQ(l.ResumeRx(1, kTs1, kA, 91, kTalker, left_a), LeaseVerdict::kOvertaken);
  ASSERT_TRUE(l.Release(1, kTs1, kB, kT0 + kSec));
  ASSERT_EQ(l.ClaimRx(1, kTs1, 0xD4, 91, 3120109), LeaseVerdict::kClaimed);
  EXPECT_EQ(l.ResumeRx(1, kTs1, kA, 91, kTalker, left_a), LeaseVerdict::kBusy);
  // Another talker's transmission that ended, or the hub's own stream to the client, is no newer
  // over of A's talker: A takes the slot back.
  ASSERT_TRUE(l.Release(1, kTs1, 0xD4, kT0 + 2 * kSec));
  EXPECT_EQ(l.ResumeRx(1, kTs1, kA, 91, kTalker, left_a), LeaseVerdict::kClaimed);
  ASSERT_TRUE(l.Release(1, kTs1, kA, kT0 + 3 * kSec));
  ASSERT_EQ(l.ClaimTx(1, kTs1, 0xE5, 91, kTalker, kT0 + 10 * kSec, t), LeaseVerdict::kClaimed);
  EXPECT_EQ(l.ResumeRx(1, kTs1, kA, 91, kTalker, LeaseWord::Ended(91, true, kT0 + 3 * kSec)),
            LeaseVerdict::kClaimed);
}

TEST(SlotLeasesTest, CustomTimers) {
  SlotLeases l(1);
  LeaseTimers t;
  t.group_hangtime = 2 * kSec;
  t.stream_timeout = 100 * kMs;
  ASSERT_EQ(l.ClaimTx(0, kTs1, 0xA1, 91, TalkerOf(0xA1), kT0, t), LeaseVerdict::kClaimed);
  ASSERT_TRUE(l.Release(0, kTs1, 0xA1, kT0));
  EXPECT_EQ(l.ClaimTx(0, kTs1, 0xB2, 91, TalkerOf(0xB2), kT0 + 99 * kMs, t), LeaseVerdict::kBusy);
  EXPECT_EQ(l.ClaimTx(0, kTs1, 0xB2, 92, TalkerOf(0xB2), kT0 + 1999 * kMs, t), LeaseVerdict::kBusy);
  EXPECT_EQ(l.ClaimTx(0, kTs1, 0xB2, 92, TalkerOf(0xB2), kT0 + 2 * kSec, t),
            LeaseVerdict::kClaimed);
  // Zero timers: an ended slot is claimable at once.
  const LeaseTimers zero{0, 0};
  ASSERT_TRUE(l.Release(0, kTs1, 0xB2, kT0 + 3 * kSec));
  EXPECT_EQ(l.ClaimTx(0, kTs1, 0xC3, 93, TalkerOf(0xC3), kT0 + 3 * kSec, zero),
            LeaseVerdict::kClaimed);
}

// Shards sample their clocks independently: a lease released by one shard may be stamped a
// little after the `now` that another shard passes a moment later. That end is recent, not a
// year old; the hang time and collision window must still apply.
TEST(SlotLeasesTest, EndStampedSlightlyAheadOfClaimerClockIsRecent) {
  SlotLeases l(1);
  const LeaseTimers t;
  const TimeNs end = kT0 + 10 * kSec;
  ASSERT_EQ(l.ClaimTx(0, kTs1, 0xA1, 91, TalkerOf(0xA1), kT0, t), LeaseVerdict::kClaimed);
  ASSERT_TRUE(l.Release(0, kTs1, 0xA1, end));
  EXPECT_EQ(l.Load(0, kTs1).since_end(end - 1 * kMs), 0u);
  EXPECT_EQ(l.ClaimTx(0, kTs1, 0xB2, 92, TalkerOf(0xB2), end - 1 * kMs, t), LeaseVerdict::kBusy);
  EXPECT_EQ(l.ClaimTx(0, kTs1, 0xB2, 91, TalkerOf(0xB2), end - 2 * kMs, t), LeaseVerdict::kBusy);
  EXPECT_TRUE(l.Load(0, kTs1).ended());
  EXPECT_EQ(l.ClaimTx(0, kTs1, 0xB2, 92, TalkerOf(0xB2), end + 5 * kSec, t),
            LeaseVerdict::kClaimed);
}

TEST(SlotLeasesTest, ClaimRxTakesTxHeldAndHangingSlot) {
  SlotLeases l(1);
  const LeaseTimers t;
  // The client keys up while the hub is sending to it: the radio has the channel.
  ASSERT_EQ(l.ClaimTx(0, kTs2, 0xA1, 91, TalkerOf(0xA1), kT0, t), LeaseVerdict::kClaimed);
  EXPECT_EQ(l.ClaimRx(0, kTs2, 0xC3, 3100, TalkerOf(0xC3)), LeaseVerdict::kClaimed);
  EXPECT_TRUE(l.Holds(0, kTs2, 0xC3));
  EXPECT_FALSE(l.Holds(0, kTs2, 0xA1));
  EXPECT_TRUE(l.Load(0, kTs2).rx());
  EXPECT_EQ(l.Load(0, kTs2).tg(), 3100u);
  EXPECT_EQ(l.ClaimRx(0, kTs2, 0xC3, 3100, TalkerOf(0xC3)), LeaseVerdict::kMine);
  // The preempted hub stream can neither come back nor release the client's lease.
  EXPECT_EQ(l.ClaimTx(0, kTs2, 0xA1, 91, TalkerOf(0xA1), kT0 + 100 * kSec, t), LeaseVerdict::kBusy);
  EXPECT_FALSE(l.Release(0, kTs2, 0xA1, kT0));
  EXPECT_TRUE(l.Holds(0, kTs2, 0xC3));
  // An ended slot within the hang time does not stop the radio either.
  ASSERT_TRUE(l.Release(0, kTs2, 0xC3, kT0 + 1 * kSec));
  EXPECT_TRUE(l.Load(0, kTs2).rx());
  EXPECT_TRUE(l.Load(0, kTs2).ended());
  EXPECT_EQ(l.ClaimRx(0, kTs2, 0xD4, 91, TalkerOf(0xD4)), LeaseVerdict::kClaimed);
  // But the hub honours the hang time after the client's own transmission.
  ASSERT_TRUE(l.Release(0, kTs2, 0xD4, kT0 + 2 * kSec));
  EXPECT_EQ(l.ClaimTx(0, kTs2, 0xE5, 92, TalkerOf(0xE5), kT0 + 3 * kSec, t), LeaseVerdict::kBusy);
  EXPECT_EQ(l.ClaimTx(0, kTs2, 0xE5, 92, TalkerOf(0xE5), kT0 + 7 * kSec, t),
            LeaseVerdict::kClaimed);
}

TEST(SlotLeasesTest, ClaimRxCollidesWithAnotherRx) {
  SlotLeases l(1);
  ASSERT_EQ(l.ClaimRx(0, kTs1, 0xA1, 91, TalkerOf(0xA1)), LeaseVerdict::kClaimed);
  EXPECT_EQ(l.ClaimRx(0, kTs1, 0xB2, 91, TalkerOf(0xB2)), LeaseVerdict::kBusy);
  EXPECT_EQ(l.ClaimRx(0, kTs1, 0xB2, 92, TalkerOf(0xB2)), LeaseVerdict::kBusy);
  EXPECT_TRUE(l.Holds(0, kTs1, 0xA1));
  // The hub cannot send into a slot the client is transmitting on.
  EXPECT_EQ(l.ClaimTx(0, kTs1, 0xC3, 91, TalkerOf(0xC3), kT0, LeaseTimers{}), LeaseVerdict::kBusy);
  // Other slot unaffected.
  EXPECT_EQ(l.ClaimRx(0, kTs2, 0xB2, 92, TalkerOf(0xB2)), LeaseVerdict::kClaimed);
}

TEST(SlotLeasesTest, ReleaseByNonHolderHasNoEffect) {
  SlotLeases l(1);
  EXPECT_FALSE(l.Release(0, kTs1, 0xA1, kT0));  // free word
  EXPECT_TRUE(l.Load(0, kTs1).free());
  ASSERT_EQ(l.ClaimTx(0, kTs1, 0xA1, 91, TalkerOf(0xA1), kT0, LeaseTimers{}),
            LeaseVerdict::kClaimed);
  const uint64_t before = l.Load(0, kTs1).raw;
  EXPECT_FALSE(l.Release(0, kTs1, 0xB2, kT0 + kSec));
  EXPECT_FALSE(l.Release(0, kTs2, 0xA1, kT0 + kSec));  // right stream, wrong slot
  EXPECT_EQ(l.Load(0, kTs1).raw, before);
  EXPECT_TRUE(l.Release(0, kTs1, 0xA1, kT0 + kSec));
  // Releasing twice: the second one finds an ended word and changes nothing.
  const uint64_t ended = l.Load(0, kTs1).raw;
  EXPECT_FALSE(l.Release(0, kTs1, 0xA1, kT0 + 2 * kSec));
  EXPECT_EQ(l.Load(0, kTs1).raw, ended);
}

TEST(SlotLeasesTest, ForgetEndedClearsEndedWordsAndLeavesHeldOnes) {
  SlotLeases l(2);
  ASSERT_EQ(l.ClaimRx(1, kTs1, 0xA1, 91, TalkerOf(0xA1)), LeaseVerdict::kClaimed);
  ASSERT_EQ(l.ClaimTx(1, kTs2, 0xB2, 91, TalkerOf(0xB2), kT0, LeaseTimers{}),
            LeaseVerdict::kClaimed);
  ASSERT_TRUE(l.Release(1, kTs2, 0xB2, kT0));
  ASSERT_EQ(l.ClaimTx(0, kTs2, 0xC3, 91, TalkerOf(0xC3), kT0, LeaseTimers{}),
            LeaseVerdict::kClaimed);
  ASSERT_TRUE(l.Release(0, kTs2, 0xC3, kT0));
  const uint64_t other = l.Load(0, kTs2).raw;
  l.ForgetEnded(1);
  // The held word is its stream's until that stream releases it.
  EXPECT_TRUE(l.Holds(1, kTs1, 0xA1));
  EXPECT_TRUE(l.Load(1, kTs2).free());
  EXPECT_EQ(l.Load(0, kTs2).raw, other);  // other clients untouched
  // The next client in this slot waits out no hang time of TG 91's call.
  EXPECT_EQ(l.ClaimTx(1, kTs2, 0xD4, 92, TalkerOf(0xD4), kT0, LeaseTimers{}),
            LeaseVerdict::kClaimed);
  EXPECT_EQ(l.ClaimTx(0, kTs2, 0xE5, 92, TalkerOf(0xE5), kT0, LeaseTimers{}), LeaseVerdict::kBusy);
  // Forgetting again changes nothing held.
  l.ForgetEnded(1);
  EXPECT_TRUE(l.Holds(1, kTs2, 0xD4));
}

// Two threads (two shards) claim and release the same words with their own streams. A claim
// must be exclusive: at no time do both threads believe they hold the same word.
enum class ClaimKind { kTx, kRx };

void StressTwoThreads(ClaimKind kind) {
  constexpr uint32_t kClients = 1;  // two words: nearly every claim contends
  constexpr uint32_t kWords = kClients * 2;
  constexpr int kIters = 3000000;
  SlotLeases leases(kClients);
  const LeaseTimers zero{0, 0};  // ended words are claimable at once: maximal contention
  std::atomic<bool> occupied[kWords] = {};
  std::atomic<int> ready{0};
  std::atomic<int> done{0};
  struct Result {
    int iterations = 0;
    int claimed = 0;
    int busy = 0;
    int mine = 0;
    int not_held_after_claim = 0;
    int overlap = 0;
    int lost_before_release = 0;
    int release_failed = 0;
  } results[2];

  auto worker = [&](int self) {
    Result& r = results[self];
    std::mt19937 rng(1000 + self);
    ready.fetch_add(1);
    while (ready.load() < 2) {
    }
    // Each thread does at least kIters and keeps going until the other has done its share too,
    // so the two always overlap for a whole run, however the scheduler places them.
    bool counted = false;
    for (int i = 0;; ++i) {
      if (i >= kIters) {
        if (!counted) {
          done.fetch_add(1);
          counted = true;
        }
        if (done.load() == 2) break;
      }
      ++r.iterations;
      const uint32_t w = rng() % kWords;
      const uint32_t client = w / 2;
      const unsigned ts = w % 2;
      // Stream IDs are unique per thread and per iteration, never 0.
      const uint32_t sid = (static_cast<uint32_t>(i + 1) << 1) | static_cast<uint32_t>(self);
      const uint32_t tg = 91 + rng() % 3;
      const LeaseVerdict v = kind == ClaimKind::kTx
                                 ? leases.ClaimTx(client, ts, sid, tg, TalkerOf(sid), kT0, zero)
                                 : leases.ClaimRx(client, ts, sid, tg, TalkerOf(sid));
      if (v == LeaseVerdict::kBusy) {
        ++r.busy;
        continue;
      }
      if (v == LeaseVerdict::kMine) {
        ++r.mine;
        continue;
      }
      ++r.claimed;
      if (!leases.Holds(client, ts, sid)) ++r.not_held_after_claim;
      if (occupied[w].exchange(true)) ++r.overlap;
      for (uint32_t k = rng() % 8; k > 0; --k) {
        if (!leases.Holds(client, ts, sid)) ++r.lost_before_release;
      }
      if (!leases.Holds(client, ts, sid)) ++r.lost_before_release;
      occupied[w].store(false);
      if (!leases.Release(client, ts, sid, kT0)) ++r.release_failed;
    }
  };
  std::thread a(worker, 0);
  std::thread b(worker, 1);
  a.join();
  b.join();

  for (int self = 0; self < 2; ++self) {
    const Result& r = results[self];
    SCOPED_TRACE(self);
    EXPECT_GE(r.iterations, kIters);
    EXPECT_EQ(r.claimed + r.busy + r.mine, r.iterations);
    EXPECT_GT(r.claimed, 0);
    EXPECT_EQ(r.mine, 0);
    EXPECT_EQ(r.not_held_after_claim, 0);
    EXPECT_EQ(r.overlap, 0);
    EXPECT_EQ(r.lost_before_release, 0);
    EXPECT_EQ(r.release_failed, 0);
  }
  for (uint32_t w = 0; w < kWords; ++w) {
    EXPECT_FALSE(occupied[w].load());
    EXPECT_FALSE(leases.Load(w / 2, w % 2).held()) << w;
  }
}

TEST(SlotLeasesTest, TwoThreadTxClaimsAreExclusive) { StressTwoThreads(ClaimKind::kTx); }

TEST(SlotLeasesTest, TwoThreadRxClaimsAreExclusive) { StressTwoThreads(ClaimKind::kRx); }

}  // namespace
}  // namespace dmrswitch::route
