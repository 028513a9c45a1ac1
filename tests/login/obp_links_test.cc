// ObpLinks: OpenBridge / FBP link state (PROTOCOL.md §2.1–2.3, Part C). MACs are PROTOCOL.md's
// vectors: key "mypass" → HMAC-SHA1("BCKA") = 901e1c6c…, HMAC-SHA1(0x05) = 7de2d55a….
#include "ctrlplane/login/obp_links.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "ctrlplane/datagram.h"
#include "dataplane/proto/crypto.h"
#include "dataplane/proto/hbp.h"
#include "dataplane/proto/obp.h"
#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/types.h"
#include "tests/common/hex.h"

namespace dmrswitch::cp {
namespace {

using route::Endpoint;
using route::kSec;
using route::PeerSpec;
using route::TimeNs;
using Bytes = std::vector<uint8_t>;

constexpr TimeNs kT0 = 1'700'000'000 * kSec;
const Endpoint kTarget{0xC0A80001, 62035};
const Endpoint kNat{0x5DB8D822, 41000};
const Endpoint kOther{0x01020304, 62035};

using ::dmrswitch::test_support::Hex;

// "BCKA" + HMAC-SHA1("mypass", "BCKA").
const Bytes kBcka = Hex("42434b41 901e1c6c62f24506c6c43fd0dd30bcd4f4e060f5");
// "BCVE" 05 + HMAC-SHA1("mypass", 0x05).
const Bytes kBcve5 = Hex("42435645 05 7de2d55a528e36265fa2abe95e30e557f5cf09a2");

Bytes Corrupt(Bytes b) {
  b.back() ^= 1;
  return b;
}

PeerSpec Fbp(std::string name, Endpoint target = kTarget) {
  PeerSpec s;
  s.name = std::move(name);
  s.network_id = 3100;
  s.target = target;
  s.version = 5;
  s.passphrase = "mypass";
  return s;
}

PeerSpec Obp1(std::string name) {
  PeerSpec s = Fbp(std::move(name));
  s.version = 1;
  return s;
}

MATCHER_P3(IsObp, peer, to, bytes, "") {
  return arg.listener == Listener::Obp(peer) && arg.addr == to && arg.bytes == bytes;
}

// A 73-byte classic OBP DMRD signed with `pass`.
Bytes ClassicDmrd(std::string_view pass) {
  proto::DmrdFields f;
  f.rf_src = 2041234;
  f.dst = 91;
  f.repeater_id = 3100;
  f.flags = proto::DmrdFlags::Make(1, proto::CallType::kGroup, proto::FrameType::kDataSync,
                                   proto::data_type::kVoiceLcHeader);
  f.stream_id = 0xDEADBEEF;
  Bytes dmrd(proto::kDmrdBytes);
  EXPECT_EQ(proto::EncodeDmrd(f, dmrd), proto::kDmrdBytes);
  const auto key = proto::ObpKeyFromPassphrase(pass);
  const proto::HmacSha1 hmac({key.data(), key.size()});
  Bytes out(proto::kObpV1Bytes);
  EXPECT_EQ(proto::EncodeObpV1(dmrd.data(), hmac, out), proto::kObpV1Bytes);
  return out;
}

// An 89-byte DMRE v5 signed with `pass`: the first packet of a new stream, which the packet plane
// hands over when it arrives from an address other than the peer's target.
Bytes Dmre(std::string_view pass) {
  proto::DmrdFields f;
  f.rf_src = 2041234;
  f.dst = 91;
  f.repeater_id = 3100;
  f.flags = proto::DmrdFlags::Make(0, proto::CallType::kGroup, proto::FrameType::kDataSync,
                                   proto::data_type::kVoiceLcHeader);
  f.stream_id = 0xDEADBEEF;
  Bytes dmrd(proto::kDmrdBytes);
  EXPECT_EQ(proto::EncodeDmrd(f, dmrd), proto::kDmrdBytes);
  const auto key = proto::ObpKeyFromPassphrase(pass);
  const proto::Blake2bMac128 blake2b({key.data(), key.size()});
  proto::DmreTrailer t;
  t.timestamp_ns = static_cast<uint64_t>(kT0);
  t.origin_server = 3100;
  Bytes out(96);
  out.resize(proto::EncodeDmre(dmrd.data(), t, blake2b, out));
  EXPECT_EQ(out.size(), 89u);
  return out;
}

PeerSpec Strict(PeerSpec s) {
  s.relax_checks = false;
  return s;
}

TEST(ObpLinksTest, KeepalivesStartAtOnceThenEveryTenSeconds) {
  ObpLinks links({Fbp("fdmr")});
  Outbox out;
  links.Tick(kT0, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_THAT(out[0], IsObp(0u, kTarget, kBcka));
  EXPECT_THAT(out[1], IsObp(0u, kTarget, kBcve5));
  out.clear();
  links.Tick(kT0 + 1 * kSec, &out);
  links.Tick(kT0 + 9 * kSec, &out);
  EXPECT_TRUE(out.empty());
  links.Tick(kT0 + 10 * kSec, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_THAT(out[0], IsObp(0u, kTarget, kBcka));
  out.clear();
  for (TimeNs t = 11; t < 60; ++t) links.Tick(kT0 + t * kSec, &out);
  EXPECT_EQ(out.size(), 4u);  // 20, 30, 40, 50
  out.clear();
  links.Tick(kT0 + 60 * kSec, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_THAT(out[0], IsObp(0u, kTarget, kBcka));
  EXPECT_THAT(out[1], IsObp(0u, kTarget, kBcve5));
  EXPECT_EQ(links.counters().bcka_sent, 7u);
  EXPECT_EQ(links.counters().bcve_sent, 2u);
}

TEST(ObpLinksTest, ClassicPeersGetNoBridgeControlAndAreAlwaysAlive) {
  ObpLinks links({Obp1("bm"), Fbp("fdmr")});
  const auto specs = links.Specs();
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_TRUE(specs[0].alive);
  EXPECT_FALSE(specs[1].alive);  // FBP: alive once heard
  Outbox out;
  links.Tick(kT0, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_THAT(out[0], IsObp(1u, kTarget, kBcka));
  out.clear();
  links.Tick(kT0 + 3600 * kSec, &out);
  for (const Datagram& d : out) EXPECT_EQ(d.listener, Listener::Obp(1));
  EXPECT_TRUE(links.Specs()[0].alive);
}

TEST(ObpLinksTest, NoTargetNoKeepaliveUntilAFreshSignedStreamNamesOne) {
  ObpLinks links({Fbp("dyn", Endpoint{})});
  Outbox out;
  links.Tick(kT0, &out);
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(links.TakeChanged());  // the initial snapshot
  EXPECT_FALSE(links.TakeChanged());

  // A forged keepalive teaches nothing; a valid one (a replay needs no key) is a sign of life
  // but names no address.
  links.OnPacket(0, Corrupt(kBcka), kOther, kT0 + 1 * kSec, &out);
  EXPECT_FALSE(links.TakeChanged());
  EXPECT_EQ(links.counters().bad_mac, 1u);
  links.OnPacket(0, kBcka, kNat, kT0 + 2 * kSec, &out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(links.Specs()[0].target, Endpoint{});
  EXPECT_EQ(links.counters().bcka_elsewhere, 1u);
  links.TakeChanged();
  // A forged DMRE neither.
  links.OnPacket(0, Dmre("other"), kNat, kT0 + 3 * kSec, &out);
  EXPECT_FALSE(links.TakeChanged());
  EXPECT_EQ(links.counters().bad_mac, 2u);

  // The first packet of a new signed stream from there (handed over by the packet plane).
  links.OnPacket(0, Dmre("mypass"), kNat, kT0 + 4 * kSec, &out);
  EXPECT_TRUE(out.empty());  // replies come from Tick
  EXPECT_TRUE(links.TakeChanged());
  EXPECT_FALSE(links.TakeChanged());
  EXPECT_EQ(links.Specs()[0].target, kNat);
  EXPECT_TRUE(links.Specs()[0].alive);
  EXPECT_EQ(links.counters().targets_learned, 1u);
  links.Tick(kT0 + 4 * kSec, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_THAT(out[0], IsObp(0u, kNat, kBcka));
  EXPECT_THAT(out[1], IsObp(0u, kNat, kBcve5));
}

TEST(ObpLinksTest, AKeepaliveNeverMovesTheLink) {
  ObpLinks links({Fbp("relaxed"), Strict(Fbp("strict")), Obp1("classic")});
  Outbox out;
  links.Tick(kT0, &out);
  links.TakeChanged();
  out.clear();
  // From the target: heard, no change of address.
  links.OnPacket(0, kBcka, kTarget, kT0 + 1 * kSec, &out);
  links.OnPacket(1, kBcka, kTarget, kT0 + 1 * kSec, &out);
  EXPECT_TRUE(links.TakeChanged());  // alive flipped
  EXPECT_TRUE(links.Specs()[0].alive);
  EXPECT_TRUE(links.Specs()[1].alive);
  // A valid BCKA from elsewhere — one captured and replayed: its MAC covers only "BCKA".
  for (uint32_t p : {0u, 1u, 2u}) links.OnPacket(p, kBcka, kNat, kT0 + 2 * kSec, &out);
  EXPECT_FALSE(links.TakeChanged());
  for (uint32_t p : {0u, 1u, 2u}) EXPECT_EQ(links.Specs()[p].target, kTarget) << p;
  EXPECT_EQ(links.counters().bcka_elsewhere, 3u);
  EXPECT_EQ(links.counters().targets_learned, 0u);
  // relax_checks = false: not even a sign of life. relax_checks = true: the peer counts as
  // heard (NAT may change its source port), still at its target.
  links.Tick(kT0 + 62 * kSec, &out);
  links.TakeChanged();
  EXPECT_FALSE(links.Specs()[0].alive);
  EXPECT_FALSE(links.Specs()[1].alive);
  links.OnPacket(0, kBcka, kNat, kT0 + 63 * kSec, &out);
  links.OnPacket(1, kBcka, kNat, kT0 + 63 * kSec, &out);
  EXPECT_TRUE(links.Specs()[0].alive);
  EXPECT_FALSE(links.Specs()[1].alive);
  // Invalid packets from elsewhere never move it: bad MAC, wrong length, BCVE/BCST.
  links.OnPacket(0, Corrupt(kBcka), kOther, kT0 + 64 * kSec, &out);
  Bytes longer = kBcka;
  longer.push_back(0);
  links.OnPacket(0, longer, kOther, kT0 + 64 * kSec, &out);
  links.OnPacket(0, kBcve5, kOther, kT0 + 64 * kSec, &out);
  EXPECT_EQ(links.Specs()[0].target, kTarget);
  EXPECT_EQ(links.counters().malformed, 1u);
  links.TakeChanged();
  // A fresh signed stream from a new address moves a relaxed FBP link only.
  links.OnPacket(1, Dmre("mypass"), kNat, kT0 + 65 * kSec, &out);
  links.OnPacket(2, Dmre("mypass"), kNat, kT0 + 65 * kSec, &out);
  EXPECT_FALSE(links.TakeChanged());
  EXPECT_EQ(links.Specs()[1].target, kTarget);
  EXPECT_EQ(links.Specs()[2].target, kTarget);
  EXPECT_EQ(links.counters().refused, 2u);
  links.OnPacket(0, Dmre("mypass"), kNat, kT0 + 65 * kSec, &out);
  EXPECT_TRUE(links.TakeChanged());
  EXPECT_EQ(links.Specs()[0].target, kNat);
  out.clear();
  links.Tick(kT0 + 65 * kSec, &out);
  ASSERT_FALSE(out.empty());
  EXPECT_THAT(out[0], IsObp(0u, kNat, kBcka));  // greeted at once
}

TEST(ObpLinksTest, AliveAndDeadTransitions) {
  ObpLinks links({Fbp("a"), Fbp("b")});
  EXPECT_TRUE(links.TakeChanged());
  Outbox out;
  links.Tick(kT0, &out);
  EXPECT_FALSE(links.TakeChanged());  // never heard: still dead, nothing changed

  links.OnPacket(0, kBcka, kTarget, kT0 + 5 * kSec, &out);
  EXPECT_TRUE(links.TakeChanged());
  EXPECT_FALSE(links.TakeChanged());
  EXPECT_TRUE(links.Specs()[0].alive);
  EXPECT_FALSE(links.Specs()[1].alive);
  EXPECT_EQ(links.peer(0)->last_heard, kT0 + 5 * kSec);

  links.Tick(kT0 + 64 * kSec, &out);
  EXPECT_FALSE(links.TakeChanged());
  EXPECT_TRUE(links.Specs()[0].alive);
  links.Tick(kT0 + 65 * kSec, &out);  // 60 s of silence
  EXPECT_TRUE(links.TakeChanged());
  EXPECT_FALSE(links.Specs()[0].alive);
  links.Tick(kT0 + 66 * kSec, &out);
  EXPECT_FALSE(links.TakeChanged());

  // Traffic the packet plane accepted counts as a keepalive.
  links.OnTraffic(1, kT0 + 70 * kSec);
  EXPECT_TRUE(links.TakeChanged());
  EXPECT_TRUE(links.Specs()[1].alive);
  links.OnTraffic(1, kT0 + 100 * kSec);
  links.Tick(kT0 + 159 * kSec, &out);
  EXPECT_FALSE(links.TakeChanged());
  EXPECT_TRUE(links.Specs()[1].alive);
  links.Tick(kT0 + 160 * kSec, &out);
  EXPECT_TRUE(links.TakeChanged());
  EXPECT_FALSE(links.Specs()[1].alive);
  const ObpLinkCounters c = links.counters();
  EXPECT_EQ(c.became_alive, 2u);
  EXPECT_EQ(c.became_dead, 2u);
  EXPECT_EQ(c.traffic, 2u);
}

TEST(ObpLinksTest, ClassicDmrdOnAnFbpPeerIsAnsweredWithBcve) {
  ObpLinks links({Fbp("fdmr")});
  links.TakeChanged();
  Outbox out;
  const Bytes dmrd = ClassicDmrd("mypass");
  links.OnPacket(0, dmrd, kOther, kT0, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_THAT(out[0], IsObp(0u, kOther, kBcve5));  // to the sender
  out.clear();
  // Rate-limited: a whole call of refused frames draws one answer per interval.
  for (int i = 1; i < 80; ++i) {
    links.OnPacket(0, dmrd, kOther, kT0 + static_cast<TimeNs>(i) * 60'000'000, &out);
  }
  EXPECT_EQ(out.size(), 0u);
  links.OnPacket(0, dmrd, kOther, kT0 + 5 * kSec, &out);
  EXPECT_EQ(out.size(), 1u);
  out.clear();
  // A DMRD with a bad MAC is not answered.
  links.OnPacket(0, ClassicDmrd("other"), kOther, kT0 + 20 * kSec, &out);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(links.TakeChanged());
  EXPECT_FALSE(links.Specs()[0].alive);
  const ObpLinkCounters c = links.counters();
  EXPECT_EQ(c.bcve_answers, 2u);
  EXPECT_EQ(c.bcve_answers_suppressed, 79u);
  EXPECT_EQ(c.bad_mac, 1u);

  // On a classic peer, a DMRD here was refused by the packet plane: counted, not answered.
  ObpLinks v1({Obp1("bm")});
  v1.OnPacket(0, dmrd, kOther, kT0, &out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(v1.counters().refused, 1u);
}

TEST(ObpLinksTest, VersionOffersAreNotedNotAdopted) {
  ObpLinks links({Fbp("fdmr")});
  links.TakeChanged();
  Outbox out;
  const auto key = proto::ObpKeyFromPassphrase("mypass");
  const proto::HmacSha1 hmac({key.data(), key.size()});
  Bytes bcve1(proto::kBcveBytes);
  ASSERT_EQ(proto::EncodeBcve(1, hmac, bcve1), proto::kBcveBytes);
  links.OnPacket(0, bcve1, kTarget, kT0, &out);
  EXPECT_EQ(links.peer(0)->peer_version, 1u);
  EXPECT_EQ(links.Specs()[0].version, 5u);
  EXPECT_FALSE(links.TakeChanged());
  links.OnPacket(0, Corrupt(kBcve5), kTarget, kT0, &out);
  EXPECT_EQ(links.peer(0)->peer_version, 1u);
  links.OnPacket(0, kBcve5, kTarget, kT0, &out);
  EXPECT_EQ(links.peer(0)->peer_version, 5u);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(links.counters().bcve_rx, 2u);
  EXPECT_EQ(links.counters().bad_mac, 1u);
}

TEST(ObpLinksTest, BcstIsCheckedAndCountedOnly) {
  ObpLinks links({Fbp("fdmr")});
  links.TakeChanged();
  const auto key = proto::ObpKeyFromPassphrase("mypass");
  const proto::HmacSha1 hmac({key.data(), key.size()});
  Bytes bcst(proto::kBcstBytes);
  ASSERT_EQ(proto::EncodeBcst(hmac, bcst), proto::kBcstBytes);
  Outbox out;
  links.OnPacket(0, bcst, kNat, kT0, &out);
  links.OnPacket(0, Corrupt(bcst), kNat, kT0, &out);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(links.TakeChanged());
  EXPECT_EQ(links.Specs()[0].target, kTarget);
  EXPECT_EQ(links.counters().bcst_rx, 1u);
  EXPECT_EQ(links.counters().bad_mac, 1u);
}

TEST(ObpLinksTest, OtherPacketsAndUnknownPeersAreCounted) {
  ObpLinks links({Fbp("fdmr")});
  Outbox out;
  links.OnPacket(0, Hex("58595a57 00"), kTarget, kT0, &out);
  links.OnPacket(7, kBcka, kTarget, kT0, &out);
  links.OnTraffic(7, kT0);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(links.counters().refused, 1u);
  EXPECT_EQ(links.counters().unknown_peer, 2u);
  EXPECT_EQ(links.peer(7), nullptr);
}

TEST(ObpLinksTest, ReconfigureKeepsLearnedStateByName) {
  ObpLinks links({Fbp("a", Endpoint{}), Fbp("b"), Fbp("c")});
  Outbox out;
  links.OnPacket(0, Dmre("mypass"), kNat, kT0, &out);  // a: learned kNat, alive
  links.OnPacket(1, kBcka, kTarget, kT0, &out);
  links.Tick(kT0, &out);
  links.TakeChanged();
  out.clear();

  PeerSpec b2 = Fbp("b", kOther);  // operator moved b
  PeerSpec a2 = Fbp("a", Endpoint{});
  a2.passphrase = "newpass";
  links.Reconfigure({Fbp("d"), b2, a2});
  EXPECT_TRUE(links.TakeChanged());
  const auto specs = links.Specs();
  ASSERT_EQ(specs.size(), 3u);
  EXPECT_EQ(specs[0].name, "d");
  EXPECT_FALSE(specs[0].alive);
  EXPECT_EQ(specs[1].name, "b");
  EXPECT_EQ(specs[1].target, kOther);  // configured target changed: adopted
  EXPECT_TRUE(specs[1].alive);
  EXPECT_EQ(specs[2].name, "a");
  EXPECT_EQ(specs[2].target, kNat);  // learned target kept
  EXPECT_TRUE(specs[2].alive);
  EXPECT_EQ(specs[2].passphrase, "newpass");
  EXPECT_EQ(links.peer(2)->last_heard, kT0);

  // Timers: d is new (BCKA at once), b moved (greeted at once), a keeps its schedule.
  links.Tick(kT0 + 1 * kSec, &out);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].listener, Listener::Obp(0));
  EXPECT_EQ(out[2].listener, Listener::Obp(1));
  EXPECT_EQ(out[2].addr, kOther);
  // The new key signs a's keepalives.
  out.clear();
  links.Tick(kT0 + 10 * kSec, &out);
  ASSERT_FALSE(out.empty());
  const Datagram& a_bcka = out.back();
  EXPECT_EQ(a_bcka.listener, Listener::Obp(2));
  const auto key = proto::ObpKeyFromPassphrase("newpass");
  const proto::HmacSha1 hmac({key.data(), key.size()});
  EXPECT_EQ(proto::DecodeBcka(a_bcka.bytes, hmac), proto::Reject::kOk);
  // c was removed; its counters stay in the totals.
  EXPECT_EQ(links.counters().bcka_rx, 1u);
  EXPECT_EQ(links.counters().targets_learned, 1u);
}

// Routing never depends on a name: a peer renamed where it stands (same position, listener and
// configured target) is the same link and stays alive; a new name anywhere else is a new peer.
TEST(ObpLinksTest, ReconfigureKeepsTheStateOfAPeerRenamedInPlace) {
  ObpLinks links({Fbp("a"), Fbp("b", kOther)});
  Outbox out;
  links.OnPacket(0, Dmre("mypass"), kNat, kT0, &out);  // a: learned kNat, alive
  links.OnPacket(1, kBcka, kOther, kT0, &out);
  links.Tick(kT0, &out);
  out.clear();

  links.Reconfigure({Fbp("a2"), Fbp("b", kOther)});
  auto specs = links.Specs();
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].name, "a2");
  EXPECT_TRUE(specs[0].alive);
  EXPECT_EQ(specs[0].target, kNat);  // learned target kept
  EXPECT_EQ(links.peer(0)->last_heard, kT0);
  EXPECT_EQ(links.peer(0)->counters.targets_learned, 1u);
  links.Tick(kT0 + 1 * kSec, &out);
  EXPECT_TRUE(out.empty()) << "the keepalive schedule was kept";

  // Renamed and moved to another target, or to another position: new peers.
  links.Reconfigure({Fbp("a3", kNat), Fbp("b", kOther)});
  EXPECT_FALSE(links.Specs()[0].alive);
  links.Reconfigure({Fbp("b", kOther), Fbp("c")});
  specs = links.Specs();
  EXPECT_TRUE(specs[0].alive);
  EXPECT_FALSE(specs[1].alive);
}

}  // namespace
}  // namespace dmrswitch::cp
