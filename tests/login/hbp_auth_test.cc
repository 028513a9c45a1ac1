// HbpAuth: the HBP master login state machine (PROTOCOL.md §1.5, Part A §6). Every reply is
// checked byte for byte; the digest test vector is PROTOCOL.md's (salt 0A7ED498, "passw0rd").
#include "ctrlplane/login/hbp_auth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ctrlplane/datagram.h"
#include "dataplane/proto/bytes.h"
#include "dataplane/proto/crypto.h"
#include "dataplane/proto/hbp.h"
#include "dataplane/route/acl.h"
#include "dataplane/route/types.h"
#include "tests/common/hex.h"

namespace dmrswitch::cp {
namespace {

using route::Endpoint;
using route::kSec;
using route::TimeNs;
using Bytes = std::vector<uint8_t>;

constexpr uint32_t kId = 312000;  // 0x0004C2C0
constexpr uint32_t kId2 = 312001;
constexpr uint32_t kSalt = 0x0A7ED498;
constexpr std::string_view kPass = "passw0rd";
constexpr TimeNs kT0 = 1'700'000'000 * kSec;
const Endpoint kAddrA{0x0A000001, 62031};
const Endpoint kAddrB{0x0A000002, 40000};
const Endpoint kAddrC{0x0A000003, 50000};

using ::dmrswitch::test_support::Hex;

Bytes Tagged(std::string_view tag, uint32_t value) {
  Bytes b(tag.begin(), tag.end());
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(value >> s));
  return b;
}

Bytes Rptl(uint32_t id) { return Tagged("RPTL", id); }
Bytes Rptping(uint32_t id) { return Tagged("RPTPING", id); }
Bytes Rptcl(uint32_t id) { return Tagged("RPTCL", id); }
Bytes Rptack(uint32_t v) { return Tagged("RPTACK", v); }
Bytes Mstnak(uint32_t id) { return Tagged("MSTNAK", id); }
Bytes Mstpong(uint32_t id) { return Tagged("MSTPONG", id); }
Bytes Mstcl(uint32_t id) { return Tagged("MSTCL", id); }

Bytes Rptk(uint32_t id, const Bytes& digest) {
  Bytes b = Tagged("RPTK", id);
  b.insert(b.end(), digest.begin(), digest.end());
  return b;
}
Bytes RptkFor(uint32_t id, uint32_t salt, std::string_view pass) {
  const auto d = proto::HbpLoginDigest(salt, pass);
  return Rptk(id, Bytes(d.begin(), d.end()));
}

Bytes Rptc(uint32_t id, char slots = '3', std::string_view callsign = "PD0ZRY") {
  proto::Rptc c;
  c.id = id;
  c.config.callsign = callsign;
  c.config.rx_freq = "438800000";
  c.config.tx_freq = "431200000";
  c.config.tx_power = "01";
  c.config.color_code = "01";
  c.config.latitude = "52.0000";
  c.config.longitude = "004.0000";
  c.config.height = "010";
  c.config.location = "Leiden";
  c.config.description = "hotspot";
  c.config.slots = slots;
  c.config.url = "https://example.org";
  c.config.software_id = "20230101";
  c.config.package_id = "MMDVM_MMDVM_HS_Dual_Hat";
  Bytes b(proto::kRptcBytes);
  EXPECT_EQ(proto::EncodeRptc(c, b), proto::kRptcBytes);
  return b;
}

Bytes Rpto(uint32_t id, std::string_view opts) {
  Bytes b = Tagged("RPTO", id);
  b.insert(b.end(), opts.begin(), opts.end());
  return b;
}

MATCHER_P2(IsDatagram, to, bytes, "") {
  return arg.listener == Listener::Hbp() && arg.addr == to && arg.bytes == bytes;
}

HbpAuthSettings Settings() {
  HbpAuthSettings s;
  s.passphrase = std::string(kPass);
  s.max_clients = 4;
  s.salt_source = [](Endpoint, uint32_t) { return kSalt; };
  return s;
}

class HbpAuthTest : public ::testing::Test {
 protected:
  void Make(HbpAuthSettings s = Settings()) { auth_ = std::make_unique<HbpAuth>(std::move(s)); }

  // Sends one packet; returns what went out.
  Outbox Send(const Bytes& pkt, Endpoint from, TimeNs now = kT0) {
    Outbox out;
    auth_->OnPacket(pkt, from, now, &out, &changes_);
    return out;
  }
  // Expects exactly one reply `want` to `to`.
  void Expect(const Bytes& pkt, Endpoint from, const Bytes& want, TimeNs now = kT0) {
    Outbox out = Send(pkt, from, now);
    ASSERT_EQ(out.size(), 1u) << "no single reply";
    EXPECT_THAT(out[0], IsDatagram(from, want));
  }
  void ExpectSilence(const Bytes& pkt, Endpoint from, TimeNs now = kT0) {
    EXPECT_TRUE(Send(pkt, from, now).empty());
  }
  // The salt of an RPTACK+salt reply.
  static uint32_t SaltOf(const Outbox& out) {
    EXPECT_EQ(out.size(), 1u);
    if (out.size() != 1 || out[0].bytes.size() != 10) return 0;
    return proto::LoadBe32(out[0].bytes.data() + 6);
  }
  // A full login with the fixed salt; returns the client's slot.
  uint32_t Login(uint32_t id, Endpoint from, TimeNs now = kT0, char slots = '3') {
    Expect(Rptl(id), from, Rptack(kSalt), now);
    Expect(RptkFor(id, kSalt, kPass), from, Rptack(id), now);
    changes_.clear();
    Expect(Rptc(id, slots), from, Rptack(id), now);
    EXPECT_EQ(changes_.size(), 1u);
    if (changes_.empty()) return ~0u;
    EXPECT_EQ(changes_[0].kind, AuthChange::kClientUp);
    EXPECT_EQ(changes_[0].id, id);
    const uint32_t slot = changes_[0].slot;
    changes_.clear();
    return slot;
  }

  std::unique_ptr<HbpAuth> auth_;
  std::vector<AuthChange> changes_;
};

// ---------------------------------------------------------------------------------------------
// Good login, with PROTOCOL.md's test vector.

TEST_F(HbpAuthTest, GoodLoginWithTestVector) {
  Make();
  Expect(Rptl(kId), kAddrA, Hex("5250544143 4b 0a7ed498"));  // "RPTACK" 0A7ED498
  EXPECT_EQ(auth_->pending_size(), 0u);                      // an RPTL stores nothing
  EXPECT_EQ(auth_->size(), 0u);

  const Bytes digest = Hex("831878ed0730099ee00f419362c2c7a5b83d738ebbc285e52524933bb20e0aff");
  Expect(Rptk(kId, digest), kAddrA, Hex("52505441434b 0004c2c0"));  // "RPTACK" + id
  EXPECT_EQ(auth_->pending_size(), 1u);
  EXPECT_TRUE(changes_.empty());
  EXPECT_EQ(auth_->size(), 0u);

  Expect(Rptc(kId, '4', "PD0ZRY"), kAddrA, Rptack(kId), kT0 + 1 * kSec);
  ASSERT_EQ(changes_.size(), 1u);
  const AuthChange& up = changes_[0];
  EXPECT_EQ(up.kind, AuthChange::kClientUp);
  EXPECT_EQ(up.id, kId);
  EXPECT_EQ(up.slot, 0u);
  EXPECT_EQ(up.addr, kAddrA);
  EXPECT_EQ(up.slot_mask, 2u);  // '4' simplex = TS2 only
  EXPECT_EQ(up.options, "");
  EXPECT_STREQ(up.reason, "login");

  const ClientRecord* r = auth_->Find(kId);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->slot, 0u);
  EXPECT_EQ(r->addr, kAddrA);
  EXPECT_EQ(r->slots, '4');
  EXPECT_EQ(r->slot_mask, 2u);
  EXPECT_EQ(r->callsign, "PD0ZRY");  // trailing spaces trimmed
  EXPECT_EQ(r->rx_freq, "438800000");
  EXPECT_EQ(r->tx_freq, "431200000");
  EXPECT_EQ(r->tx_power, "01");
  EXPECT_EQ(r->color_code, "01");
  EXPECT_EQ(r->location, "Leiden");
  EXPECT_EQ(r->description, "hotspot");
  EXPECT_EQ(r->url, "https://example.org");
  EXPECT_EQ(r->software_id, "20230101");
  EXPECT_EQ(r->package_id, "MMDVM_MMDVM_HS_Dual_Hat");
  EXPECT_EQ(r->logged_in_at, kT0 + 1 * kSec);
  EXPECT_EQ(r->Spec().id, kId);
  EXPECT_EQ(r->Spec().addr, kAddrA);
  EXPECT_EQ(r->Spec().slot_mask, 2u);
  EXPECT_EQ(auth_->size(), 1u);
  EXPECT_EQ(auth_->pending_size(), 0u);

  // The packet plane has no snapshot with this client yet: the cp answers its ping.
  Expect(Rptping(kId), kAddrA, Hex("4d5354504f4e47 0004c2c0"));  // "MSTPONG" + id
  const HbpAuthCounters& c = auth_->counters();
  EXPECT_EQ(c.challenges, 1u);
  EXPECT_EQ(c.auth_ok, 1u);
  EXPECT_EQ(c.logins_ok, 1u);
  EXPECT_EQ(c.pongs_sent, 1u);
  EXPECT_EQ(c.naks_sent, 0u);
}

TEST_F(HbpAuthTest, SaltsAreAKeyedHashOfAddressIdAndTime) {
  HbpAuthSettings s = Settings();
  s.salt_source = nullptr;
  s.seed = 42;
  s.challenge_epoch = 10 * kSec;
  HbpAuth a(s), b(s);
  // Deterministic for one key (seed), and what RPTACK carries.
  EXPECT_EQ(a.ChallengeSalt(kAddrA, kId, kT0), b.ChallengeSalt(kAddrA, kId, kT0));
  Outbox out;
  std::vector<AuthChange> ch;
  a.OnPacket(Rptl(kId), kAddrA, kT0, &out, &ch);
  const uint32_t salt = SaltOf(out);
  EXPECT_EQ(salt, a.ChallengeSalt(kAddrA, kId, kT0));
  // Another address (IP or port), ID, epoch or key: another salt.
  EXPECT_NE(a.ChallengeSalt(kAddrB, kId, kT0), salt);
  EXPECT_NE(a.ChallengeSalt(Endpoint{kAddrA.ip, 1}, kId, kT0), salt);
  EXPECT_NE(a.ChallengeSalt(kAddrA, kId2, kT0), salt);
  EXPECT_NE(a.ChallengeSalt(kAddrA, kId, kT0 + 10 * kSec), salt);
  HbpAuthSettings other_key = s;
  other_key.seed = 43;
  EXPECT_NE(HbpAuth(other_key).ChallengeSalt(kAddrA, kId, kT0), salt);

  // The client computes the digest from the salt it was sent: good in this epoch and the next,
  // not later, and only from the address it was sent to.
  const TimeNs epoch_start = kT0 / (10 * kSec) * (10 * kSec);
  auto answer = [&](Endpoint from, TimeNs at) {
    HbpAuth fresh(s);
    Outbox o;
    fresh.OnPacket(RptkFor(kId, salt, kPass), from, at, &o, &ch);
    return o.size() == 1 ? o[0].bytes : Bytes{};
  };
  EXPECT_EQ(answer(kAddrA, epoch_start), Rptack(kId));
  EXPECT_EQ(answer(kAddrA, epoch_start + 19 * kSec), Rptack(kId));
  EXPECT_EQ(answer(kAddrA, epoch_start + 20 * kSec), Mstnak(kId));
  EXPECT_EQ(answer(kAddrB, epoch_start), Mstnak(kId));
  EXPECT_EQ(answer(Endpoint{kAddrA.ip, 1}, epoch_start), Mstnak(kId));
}

// The host's key, when given, is the key: the seed (eviction choices) no longer decides the salts,
// and a reload keeps it.
TEST_F(HbpAuthTest, TheHostsChallengeKeyDecidesTheSalts) {
  HbpAuthSettings s = Settings();
  s.salt_source = nullptr;
  s.seed = 42;
  const uint32_t seeded = HbpAuth(s).ChallengeSalt(kAddrA, kId, kT0);
  s.challenge_key.emplace();
  for (size_t i = 0; i < s.challenge_key->size(); ++i) (*s.challenge_key)[i] = uint8_t(i * 7 + 1);
  HbpAuth a(s);
  const uint32_t keyed = a.ChallengeSalt(kAddrA, kId, kT0);
  EXPECT_NE(keyed, seeded);
  HbpAuthSettings other_seed = s;
  other_seed.seed = 43;
  EXPECT_EQ(HbpAuth(other_seed).ChallengeSalt(kAddrA, kId, kT0), keyed);
  HbpAuthSettings other_key = s;
  (*other_key.challenge_key)[31] ^= 1;
  EXPECT_NE(HbpAuth(other_key).ChallengeSalt(kAddrA, kId, kT0), keyed);
  // A reload's settings carry no key: the running one stays.
  HbpAuthSettings reload = Settings();
  reload.salt_source = nullptr;
  a.UpdateSettings(reload);
  EXPECT_EQ(a.ChallengeSalt(kAddrA, kId, kT0), keyed);
}

TEST_F(HbpAuthTest, ListsClientsBySlot) {
  Make();
  EXPECT_EQ(Login(kId, kAddrA), 0u);
  EXPECT_EQ(Login(kId2, kAddrB, kT0, '1'), 1u);
  const auto clients = auth_->Clients();
  ASSERT_EQ(clients.size(), 2u);
  EXPECT_EQ(clients[0]->id, kId);
  EXPECT_EQ(clients[1]->id, kId2);
  EXPECT_EQ(clients[1]->slot_mask, 1u);
  EXPECT_EQ(auth_->Find(999), nullptr);
}

// ---------------------------------------------------------------------------------------------
// Refusals.

TEST_F(HbpAuthTest, BadPassphraseNaksAndChangesNothing) {
  Make();
  Expect(Rptl(kId), kAddrA, Rptack(kSalt));
  Expect(RptkFor(kId, kSalt, "wrong"), kAddrA, Hex("4d53544e414b 0004c2c0"));  // MSTNAK+id
  EXPECT_EQ(auth_->pending_size(), 0u);
  EXPECT_EQ(auth_->counters().bad_digest, 1u);
  const std::vector<AuthNotice> notices = auth_->TakeNotices();
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0].kind, AuthNotice::kBadDigest);
  EXPECT_EQ(notices[0].id, kId);
  EXPECT_EQ(notices[0].addr, kAddrA);
  EXPECT_EQ(AuthNoticeName(notices[0].kind), "bad passphrase");
  // RPTC without a correct RPTK is out of state; nothing was stored, so the client's salt is
  // still good (a wrong guess from a spoofed address must not spoil a real login).
  Expect(Rptc(kId), kAddrA, Mstnak(kId));
  EXPECT_EQ(auth_->size(), 0u);
  Expect(RptkFor(kId, kSalt, kPass), kAddrA, Rptack(kId));
  Expect(Rptc(kId), kAddrA, Rptack(kId));
  EXPECT_EQ(auth_->size(), 1u);
}

TEST_F(HbpAuthTest, NullPassphraseAcceptsAnyDigestOnlyWhenAllowed) {
  HbpAuthSettings s = Settings();
  s.passphrase = "";
  Make(s);
  Expect(Rptl(kId), kAddrA, Rptack(kSalt));
  Expect(Rptk(kId, Bytes(32, 0x55)), kAddrA, Rptack(kId));

  s.allow_null_passphrase = false;
  Make(s);
  Expect(Rptl(kId), kAddrA, Rptack(kSalt));
  Expect(Rptk(kId, Bytes(32, 0x55)), kAddrA, Mstnak(kId));
  Expect(Rptl(kId), kAddrA, Rptack(kSalt));
  Expect(RptkFor(kId, kSalt, ""), kAddrA, Rptack(kId));  // SHA256(salt) is the empty digest
}

TEST_F(HbpAuthTest, RegAclDenies) {
  HbpAuthSettings s = Settings();
  s.reg_acl = *route::Acl::Parse("DENY:312000-312099", route::Acl::kRegMin, route::Acl::kRegMax);
  Make(s);
  Expect(Rptl(kId), kAddrA, Mstnak(kId));
  EXPECT_EQ(auth_->pending_size(), 0u);
  EXPECT_EQ(auth_->counters().acl_denied, 1u);
  // RPTL stores nothing, so RPTK checks again.
  Expect(RptkFor(kId, kSalt, kPass), kAddrA, Mstnak(kId));
  EXPECT_EQ(auth_->counters().acl_denied, 2u);
  EXPECT_EQ(auth_->pending_size(), 0u);
  ASSERT_EQ(auth_->TakeNotices().size(), 2u);
  Expect(Rptl(312100), kAddrA, Rptack(kSalt));
}

TEST_F(HbpAuthTest, StatusProbeIsAnsweredAndNotKept) {
  Make();
  Expect(Rptl(0xFFFFFFFF), kAddrA, Rptack(kSalt));
  EXPECT_EQ(auth_->pending_size(), 0u);
  EXPECT_EQ(auth_->counters().status_probes, 1u);
  Expect(RptkFor(0xFFFFFFFF, kSalt, kPass), kAddrA, Mstnak(0xFFFFFFFF));
}

TEST_F(HbpAuthTest, FullHubRefusesNewIdsButNotKnownOnes) {
  HbpAuthSettings s = Settings();
  s.max_clients = 1;
  Make(s);
  Login(kId, kAddrA);
  Expect(Rptl(kId2), kAddrB, Mstnak(kId2));
  EXPECT_EQ(auth_->counters().full, 1u);
  // A rebooted hotspot (FreeDMR behaviour, MAX_PEERS=1) logs in again, from a new address.
  Expect(Rptl(kId), kAddrB, Rptack(kSalt));
  EXPECT_NE(auth_->Find(kId), nullptr);  // an unauthenticated RPTL kicks nobody
  EXPECT_TRUE(changes_.empty());
  Expect(RptkFor(kId, kSalt, kPass), kAddrB, Rptack(kId));
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].kind, AuthChange::kClientDown);
  EXPECT_EQ(changes_[0].id, kId);
  EXPECT_EQ(changes_[0].slot, 0u);
  EXPECT_STREQ(changes_[0].reason, "relogin");
  EXPECT_EQ(auth_->Find(kId), nullptr);
  changes_.clear();
  Expect(Rptc(kId), kAddrB, Rptack(kId));
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].kind, AuthChange::kClientUp);
  EXPECT_EQ(changes_[0].slot, 0u);
  EXPECT_EQ(changes_[0].addr, kAddrB);
  EXPECT_EQ(auth_->counters().relogins, 1u);
  // The old address is no longer the client's.
  Expect(Rptping(kId), kAddrA, Mstnak(kId));
  Expect(Rptping(kId), kAddrB, Mstpong(kId));
}

TEST_F(HbpAuthTest, ReloginWithBadDigestKeepsTheRunningSession) {
  Make();
  Login(kId, kAddrA);
  Expect(Rptl(kId), kAddrC, Rptack(kSalt));
  Expect(RptkFor(kId, kSalt, "guess"), kAddrC, Mstnak(kId));
  EXPECT_TRUE(changes_.empty());
  ASSERT_NE(auth_->Find(kId), nullptr);
  EXPECT_EQ(auth_->Find(kId)->addr, kAddrA);
  Expect(Rptping(kId), kAddrA, Mstpong(kId));
}

TEST_F(HbpAuthTest, SlotsRunOutAtConfigTime) {
  HbpAuthSettings s = Settings();
  s.max_clients = 1;
  Make(s);
  // Two half-open logins while the hub is empty: both pass RPTL and RPTK; one slot.
  Expect(Rptl(kId), kAddrA, Rptack(kSalt));
  Expect(Rptl(kId2), kAddrB, Rptack(kSalt));
  Expect(RptkFor(kId, kSalt, kPass), kAddrA, Rptack(kId));
  Expect(RptkFor(kId2, kSalt, kPass), kAddrB, Rptack(kId2));
  Expect(Rptc(kId), kAddrA, Rptack(kId));
  Expect(Rptc(kId2), kAddrB, Mstnak(kId2));
  EXPECT_EQ(auth_->counters().full, 1u);
  EXPECT_EQ(auth_->size(), 1u);
  EXPECT_EQ(auth_->pending_size(), 0u);
}

TEST_F(HbpAuthTest, SlotsAreStableAndTheLowestFreeIsReused) {
  Make();
  EXPECT_EQ(Login(1001, kAddrA), 0u);
  EXPECT_EQ(Login(1002, kAddrB), 1u);
  EXPECT_EQ(Login(1003, kAddrC), 2u);
  Expect(Rptcl(1002), kAddrB, Mstnak(1002));
  EXPECT_EQ(Login(1004, Endpoint{0x0A000004, 1}), 1u);
  EXPECT_EQ(Login(1005, Endpoint{0x0A000005, 1}), 3u);
  EXPECT_EQ(auth_->Find(1001)->slot, 0u);
  EXPECT_EQ(auth_->Find(1003)->slot, 2u);
  // Hub full (4): a fifth ID is refused at RPTL.
  Expect(Rptl(1006), kAddrA, Mstnak(1006));
}

// ---------------------------------------------------------------------------------------------
// Wrong state, unknown ID, wrong address.

TEST_F(HbpAuthTest, WrongStatePacketsAreNaked) {
  Make();
  // Nothing known: every control packet draws MSTNAK+id (how clients learn of a hub restart),
  // except RPTCL: a client saying goodbye has closed its socket.
  Expect(RptkFor(kId, kSalt, "guess"), kAddrA, Mstnak(kId));
  Expect(Rptc(kId), kAddrA, Mstnak(kId));
  Expect(Rpto(kId, "TS2=91"), kAddrA, Mstnak(kId));
  Expect(Rptping(kId), kAddrA, Mstnak(kId));
  ExpectSilence(Rptcl(kId), kAddrA);
  EXPECT_EQ(auth_->counters().unknown_id, 4u);
  EXPECT_EQ(auth_->counters().bad_digest, 1u);

  // RPTC before RPTK: NAK; the RPTL stored nothing, so the login can go on.
  Expect(Rptl(kId), kAddrA, Rptack(kSalt));
  Expect(Rptc(kId), kAddrA, Mstnak(kId));
  EXPECT_EQ(auth_->pending_size(), 0u);

  // RPTK twice (a resend): the login starts over from the second.
  Expect(RptkFor(kId, kSalt, kPass), kAddrA, Rptack(kId));
  Expect(RptkFor(kId, kSalt, kPass), kAddrA, Rptack(kId));
  EXPECT_EQ(auth_->pending_size(), 1u);

  // RPTPING during a login: only running clients ping.
  Expect(Rptping(kId), kAddrA, Mstnak(kId));

  // The status probe ID never logs in.
  Expect(RptkFor(0xFFFFFFFF, kSalt, kPass), kAddrA, Mstnak(0xFFFFFFFF));

  // RPTC from a running client (no login in progress).
  Make();
  Login(kId, kAddrA);
  Expect(Rptc(kId), kAddrA, Mstnak(kId));
  EXPECT_NE(auth_->Find(kId), nullptr);
  EXPECT_EQ(auth_->counters().wrong_state, 0u);
  EXPECT_EQ(auth_->counters().unknown_id, 1u);
}

TEST_F(HbpAuthTest, PacketsFromAnotherAddressChangeNothing) {
  HbpAuthSettings s = Settings();
  s.salt_source = nullptr;  // real salts: each address is sent its own
  Make(s);
  const uint32_t salt = SaltOf(Send(Rptl(kId), kAddrA));
  // A spoofer (or a NAT rebinding) sends the right digest from elsewhere: that address was never
  // sent this salt. NAK to it, no change.
  Expect(RptkFor(kId, salt, kPass), kAddrB, Mstnak(kId));
  EXPECT_EQ(auth_->pending_size(), 0u);
  Expect(RptkFor(kId, salt, kPass), kAddrA, Rptack(kId));
  Expect(Rptc(kId), kAddrB, Mstnak(kId));
  Expect(Rpto(kId, "TS1=1"), kAddrB, Mstnak(kId));
  ExpectSilence(Rptcl(kId), kAddrB);
  EXPECT_EQ(auth_->pending_size(), 1u);
  Expect(Rptc(kId), kAddrA, Rptack(kId));
  changes_.clear();

  // Running client: the same port on another IP, or another port on the same IP.
  const Endpoint same_ip_other_port{kAddrA.ip, 1234};
  Expect(Rptping(kId), kAddrB, Mstnak(kId));
  Expect(Rptping(kId), same_ip_other_port, Mstnak(kId));
  Expect(Rpto(kId, "TS1=1"), kAddrB, Mstnak(kId));
  ExpectSilence(Rptcl(kId), kAddrB);
  EXPECT_TRUE(changes_.empty());
  ASSERT_NE(auth_->Find(kId), nullptr);
  EXPECT_EQ(auth_->Find(kId)->options, "");
  EXPECT_EQ(auth_->counters().wrong_address, 7u);
  EXPECT_EQ(auth_->counters().bad_digest, 1u);
}

TEST_F(HbpAuthTest, SilenceForWhatIsNotAControlPacket) {
  Make();
  Login(kId, kAddrA);
  const size_t naks = auth_->counters().naks_sent;
  Bytes dmrd(55, 0);
  std::copy_n("DMRD", 4, dmrd.begin());
  dmrd[16] = 1;
  ExpectSilence(dmrd, kAddrB);  // DMRD from an unknown source: dropped
  Bytes dmrc(proto::kDmrcBytes, ' ');
  proto::Dmrc c;
  c.id = kId2;
  c.callsign = "PD0ZRY";
  c.rx_freq = "438800000";
  c.tx_freq = "431200000";
  c.power = "01";
  c.color_code = "01";
  c.version = "20230601";
  c.hardware = "MMDVM_HS";
  ASSERT_EQ(proto::EncodeDmrc(c, dmrc), proto::kDmrcBytes);
  ExpectSilence(dmrc, kAddrB);  // DMRC: refused, no login, no reply
  ExpectSilence(Tagged("XYZW", kId), kAddrA);
  ExpectSilence(Mstpong(kId), kAddrA);
  ExpectSilence(Bytes{'R', 'P', 'T', 'L', 0, 0, 1}, kAddrA);  // truncated RPTL
  Bytes short_rptc = Rptc(kId);
  short_rptc.pop_back();
  ExpectSilence(short_rptc, kAddrA);
  Bytes short_rptk = RptkFor(kId, kSalt, kPass);
  short_rptk.pop_back();
  ExpectSilence(short_rptk, kAddrA);
  const HbpAuthCounters& k = auth_->counters();
  EXPECT_EQ(k.dmrd_dropped, 1u);
  EXPECT_EQ(k.dmrc_refused, 1u);
  EXPECT_EQ(k.unexpected, 2u);
  EXPECT_EQ(k.malformed, 3u);
  EXPECT_EQ(k.naks_sent, naks);
  EXPECT_EQ(auth_->size(), 1u);
  EXPECT_EQ(auth_->Find(kId2), nullptr);
}

// ---------------------------------------------------------------------------------------------
// RPTCL, RPTO.

TEST_F(HbpAuthTest, RptclEndsTheSession) {
  Make();
  Login(kId, kAddrA);
  Expect(Rptcl(kId), kAddrA, Hex("4d53544e414b 0004c2c0"));
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].kind, AuthChange::kClientDown);
  EXPECT_EQ(changes_[0].id, kId);
  EXPECT_EQ(changes_[0].slot, 0u);
  EXPECT_STREQ(changes_[0].reason, "rptcl");
  EXPECT_EQ(auth_->Find(kId), nullptr);
  EXPECT_EQ(auth_->counters().disconnects, 1u);
  Expect(Rptping(kId), kAddrA, Mstnak(kId));
}

TEST_F(HbpAuthTest, RptclDuringLoginForgetsIt) {
  Make();
  Expect(Rptl(kId), kAddrA, Rptack(kSalt));
  Expect(RptkFor(kId, kSalt, kPass), kAddrA, Rptack(kId));
  EXPECT_EQ(auth_->pending_size(), 1u);
  Expect(Rptcl(kId), kAddrA, Mstnak(kId));
  EXPECT_EQ(auth_->pending_size(), 0u);
  EXPECT_TRUE(changes_.empty());
}

TEST_F(HbpAuthTest, OptionsBeforeConfigRideOnClientUp) {
  Make();
  Expect(Rptl(kId), kAddrA, Rptack(kSalt));
  // Before authentication, options are out of state.
  Expect(Rpto(kId, "TS2=91"), kAddrA, Mstnak(kId));
  EXPECT_EQ(auth_->pending_size(), 0u);

  Expect(Rptl(kId), kAddrA, Rptack(kSalt));
  Expect(RptkFor(kId, kSalt, kPass), kAddrA, Rptack(kId));
  Expect(Rpto(kId, "TS2=91;DIAL=0"), kAddrA, Rptack(kId));
  EXPECT_TRUE(changes_.empty());
  Expect(Rptc(kId), kAddrA, Rptack(kId));
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].kind, AuthChange::kClientUp);
  EXPECT_EQ(changes_[0].options, "TS2=91;DIAL=0");
  EXPECT_EQ(auth_->Find(kId)->options, "TS2=91;DIAL=0");
}

TEST_F(HbpAuthTest, OptionsAfterConfig) {
  Make();
  Login(kId, kAddrA);
  Bytes rpto = Rpto(kId, "TS1=1,2;TS2=91");
  rpto.push_back(0);  // some clients send a trailing NUL
  Expect(rpto, kAddrA, Rptack(kId));
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].kind, AuthChange::kOptions);
  EXPECT_EQ(changes_[0].id, kId);
  EXPECT_EQ(changes_[0].slot, 0u);
  EXPECT_EQ(changes_[0].options, "TS1=1,2;TS2=91");
  EXPECT_EQ(auth_->Find(kId)->options, "TS1=1,2;TS2=91");
  EXPECT_EQ(auth_->counters().options, 1u);
}

// ---------------------------------------------------------------------------------------------
// Side packets (reporting only).

TEST_F(HbpAuthTest, TalkerAliasGpsAndPositionAreRecordedSilently) {
  Make();
  Login(kId, kAddrA, kT0);
  proto::Dmra a;
  a.rf_src = 2041234;
  a.block = 0;
  a.alias = {'P', 'D', '0', 'Z', 'R', 'Y', ' '};
  Bytes b(proto::kDmraBytes);
  ASSERT_EQ(proto::EncodeDmra(a, b), proto::kDmraBytes);
  ExpectSilence(b, kAddrA, kT0 + 1);
  a.has_repeater_id = true;
  a.repeater_id = kId;
  a.block = 1;
  a.alias = {'J', 'o', 'h', 'n', 0, 0, 0};
  b.assign(proto::kDmraGatewayBytes, 0);
  ASSERT_EQ(proto::EncodeDmra(a, b), proto::kDmraGatewayBytes);
  ExpectSilence(b, kAddrA, kT0 + 2);
  const ClientSideInfo& s = auth_->Find(kId)->side;
  EXPECT_EQ(s.alias_rf_src, 2041234u);
  EXPECT_EQ(s.alias_blocks, 0b11u);
  EXPECT_EQ(std::string(s.alias.begin(), s.alias.begin() + 11), "PD0ZRY John");
  EXPECT_EQ(s.alias_time, kT0 + 2);

  proto::Dmrg g;
  g.rf_src = 2041234;
  g.gps = {1, 2, 3, 4, 5, 6, 7};
  b.assign(proto::kDmrgBytes, 0);
  ASSERT_EQ(proto::EncodeDmrg(g, b), proto::kDmrgBytes);
  ExpectSilence(b, kAddrA, kT0 + 3);
  EXPECT_EQ(s.gps_rf_src, 2041234u);
  EXPECT_EQ(s.gps[6], 7u);

  proto::Rptg p{.id = kId, .latitude = "+52.1234", .longitude = "+004.5678"};
  b.assign(proto::kRptgBytes, 0);
  ASSERT_EQ(proto::EncodeRptg(p, b), proto::kRptgBytes);
  ExpectSilence(b, kAddrA, kT0 + 4);
  EXPECT_EQ(s.home_latitude, "+52.1234");
  EXPECT_EQ(s.home_longitude, "+004.5678");

  // From another address or for an unknown client: ignored, no reply.
  ExpectSilence(b, kAddrB);
  p.id = kId2;
  ASSERT_EQ(proto::EncodeRptg(p, b), proto::kRptgBytes);
  ExpectSilence(b, kAddrA);
  const HbpAuthCounters& c = auth_->counters();
  EXPECT_EQ(c.talker_alias, 2u);
  EXPECT_EQ(c.gps, 1u);
  EXPECT_EQ(c.positions, 1u);
  EXPECT_EQ(c.side_unknown, 2u);
  EXPECT_TRUE(changes_.empty());
}

TEST_F(HbpAuthTest, ACompletedTalkerAliasIsHandedOnWithItsClientAndTalker) {
  Make();
  Login(kId, kAddrA, kT0);
  proto::Dmra a;
  a.rf_src = 2041234;
  a.block = 0;
  // ISO 8859-1 (format 1), 11 characters: "PD0ZRY" in the header, " John" in block 1.
  a.alias = {(1 << 6) | (11 << 1), 'P', 'D', '0', 'Z', 'R', 'Y'};
  Bytes b(proto::kDmraBytes);
  ASSERT_EQ(proto::EncodeDmra(a, b), proto::kDmraBytes);
  ExpectSilence(b, kAddrA, kT0 + 1);
  EXPECT_TRUE(auth_->TakeTalkerAliases().empty());  // 6 of 11 characters
  a.block = 1;
  a.alias = {' ', 'J', 'o', 'h', 'n', 0, 0};
  ASSERT_EQ(proto::EncodeDmra(a, b), proto::kDmraBytes);
  ExpectSilence(b, kAddrA, kT0 + 2);
  std::vector<TalkerAliasHeard> heard = auth_->TakeTalkerAliases();
  ASSERT_EQ(heard.size(), 1u);
  EXPECT_EQ(heard[0].client_id, kId);
  EXPECT_EQ(heard[0].rf_src, 2041234u);
  EXPECT_EQ(heard[0].alias, "PD0ZRY John");
  // The same block again changes nothing; from another address it is not the client's.
  ExpectSilence(b, kAddrA, kT0 + 3);
  ExpectSilence(b, kAddrB, kT0 + 3);
  EXPECT_TRUE(auth_->TakeTalkerAliases().empty());
  // A flood of alias changes is bounded.
  for (int i = 0; i < 1000; ++i) {
    a.block = 0;
    a.alias = {(1 << 6) | (6 << 1),
               'A',
               'B',
               'C',
               static_cast<uint8_t>('0' + i % 10),
               static_cast<uint8_t>('0' + i / 10 % 10),
               static_cast<uint8_t>('0' + i / 100)};
    ASSERT_EQ(proto::EncodeDmra(a, b), proto::kDmraBytes);
    ExpectSilence(b, kAddrA, kT0 + 4);
  }
  EXPECT_EQ(auth_->TakeTalkerAliases().size(), HbpAuth::kMaxAliases);
}

// ---------------------------------------------------------------------------------------------
// Spoofing, the churn limit, blocks and memory bounds.

TEST_F(HbpAuthTest, SpoofedRptlsAndRptksNamingAVictimChangeNothing) {
  HbpAuthSettings s = Settings();
  s.salt_source = nullptr;
  s.login_burst = 3;
  Make(s);
  // The victim asks for its challenge; a spoofer then sends RPTLs naming the victim's ID from
  // other addresses and from the victim's IP on other ports, and RPTKs with guessed digests from
  // everywhere including the victim's own address — far beyond login_burst.
  const uint32_t salt = SaltOf(Send(Rptl(kId), kAddrA));
  for (uint32_t i = 0; i < 200; ++i) {
    const Endpoint stranger{0xC6120000 + i, static_cast<uint16_t>(2000 + i)};
    const Endpoint victim_ip{kAddrA.ip, static_cast<uint16_t>(3000 + i)};
    for (const Endpoint& from : {stranger, victim_ip, kAddrA}) {
      Send(Rptl(kId), from, kT0 + i);
      Send(RptkFor(kId, 0x12340000 + i, kPass), from, kT0 + i);
      Send(Rptc(kId), from, kT0 + i);
    }
  }
  EXPECT_EQ(auth_->pending_size(), 0u);
  EXPECT_EQ(auth_->tracked(), 0u);
  EXPECT_FALSE(auth_->IsBlocked(kAddrA, kId, kT0 + 300));
  // The victim's answer to its own challenge still logs it in.
  Expect(RptkFor(kId, salt, kPass), kAddrA, Rptack(kId), kT0 + 300);
  Expect(Rptc(kId), kAddrA, Rptack(kId), kT0 + 301);
  ASSERT_NE(auth_->Find(kId), nullptr);
  // And the same storm against the running session: it stays, at its address.
  changes_.clear();
  for (uint32_t i = 0; i < 200; ++i) {
    const Endpoint stranger{0xC6120000 + i, static_cast<uint16_t>(2000 + i)};
    Send(Rptl(kId), stranger, kT0 + 400 + i);
    Send(RptkFor(kId, salt, kPass), stranger, kT0 + 400 + i);
    Send(Rptcl(kId), stranger, kT0 + 400 + i);
    Send(Rptl(kId), Endpoint{kAddrA.ip, 7}, kT0 + 400 + i);
  }
  EXPECT_TRUE(changes_.empty());
  ASSERT_NE(auth_->Find(kId), nullptr);
  EXPECT_EQ(auth_->Find(kId)->addr, kAddrA);
  Expect(Rptping(kId), kAddrA, Mstpong(kId), kT0 + 700);
}

TEST_F(HbpAuthTest, AnRptlFloodFromManySourcesStoresNothing) {
  HbpAuthSettings s = Settings();
  s.max_tracked = 64;
  s.max_pending = 32;
  Make(s);
  Login(kId, kAddrA);
  for (uint32_t i = 0; i < 20000; ++i) {
    const Endpoint from{0xC6120000 + i, static_cast<uint16_t>(1024 + i % 5000)};
    // One reply each, the 10-byte RPTACK: no state, no amplification.
    const Outbox out = Send(Rptl(0x100000 + i), from, kT0 + i);
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[0].bytes.size(), 10u);
    ASSERT_EQ(out[0].addr, from);
  }
  EXPECT_EQ(auth_->pending_size(), 0u);
  EXPECT_EQ(auth_->tracked(), 1u);  // the one real login
  EXPECT_EQ(auth_->counters().pending_evicted, 0u);
  // Logged-in clients are untouched; a real login goes through.
  EXPECT_NE(auth_->Find(kId), nullptr);
  const uint32_t salt = SaltOf(Send(Rptl(kId2), kAddrB, kT0 + 30000));
  Expect(RptkFor(kId2, salt, kPass), kAddrB, Rptack(kId2), kT0 + 30000);
  Expect(Rptc(kId2), kAddrB, Rptack(kId2), kT0 + 30000);
  EXPECT_NE(auth_->Find(kId2), nullptr);
}

TEST_F(HbpAuthTest, NoRequestFromAnUnverifiedSourceIsAmplified) {
  Make();
  Login(kId, kAddrA);
  // Whatever a stranger sends, claiming any ID: at most one reply, never longer than 10 bytes
  // (the shortest request is 8; on Ethernet both are minimum-size frames).
  const std::vector<Bytes> requests = {
      Rptl(kId),     Rptl(kId2),         Rptl(0xFFFFFFFF), RptkFor(kId, 1, kPass),
      Rptc(kId),     Rpto(kId, "TS1=1"), Rpto(kId2, "x"),  Rptping(kId),
      Rptping(kId2), Rptcl(kId),         Rptcl(kId2),      Tagged("DMRA", kId),
      Rptack(kId),   Mstnak(kId),        Bytes(55, 'D'),
  };
  for (const Bytes& r : requests) {
    const Outbox out = Send(r, kAddrC);
    ASSERT_LE(out.size(), 1u);
    if (!out.empty()) {
      EXPECT_LE(out[0].bytes.size(), 10u);
      EXPECT_LE(out[0].bytes.size(), std::max<size_t>(r.size(), 10));
    }
  }
}

TEST_F(HbpAuthTest, VerifiedLoginChurnBlocksThatAddressAndIdOnly) {
  HbpAuthSettings s = Settings();
  s.login_burst = 3;
  s.login_window = 60 * kSec;
  s.block_time = 300 * kSec;
  Make(s);
  // Three logins of kId from A within the window: fine. The fourth correct RPTK blocks (A, kId).
  for (int i = 0; i < 3; ++i) Login(kId, kAddrA, kT0 + i * kSec);
  Expect(Rptl(kId), kAddrA, Rptack(kSalt), kT0 + 4 * kSec);
  ExpectSilence(RptkFor(kId, kSalt, kPass), kAddrA, kT0 + 4 * kSec);
  EXPECT_EQ(auth_->counters().rate_limited, 1u);
  EXPECT_TRUE(auth_->IsBlocked(kAddrA, kId, kT0 + 5 * kSec));
  std::vector<AuthNotice> notices = auth_->TakeNotices();
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0].kind, AuthNotice::kBlocked);
  EXPECT_EQ(notices[0].id, kId);
  EXPECT_EQ(notices[0].addr.ip, kAddrA.ip);
  EXPECT_EQ(notices[0].until, kT0 + 4 * kSec + 300 * kSec);
  // The block is reported once more as a source block (the control plane mirrors it into the XDP
  // shield, which blocks the whole IP: only a source that read its challenge gets there).
  EXPECT_EQ(auth_->TakeBlockedSources(),
            (std::vector<SourceBlocked>{{kAddrA.ip, kT0 + 4 * kSec, 300 * kSec}}));
  EXPECT_TRUE(auth_->TakeBlockedSources().empty());
  // The running session (the third login) is untouched; the pair's RPTL and RPTK go unanswered,
  // from any port of that IP.
  EXPECT_NE(auth_->Find(kId), nullptr);
  ExpectSilence(Rptl(kId), Endpoint{kAddrA.ip, 9}, kT0 + 6 * kSec);
  ExpectSilence(RptkFor(kId, kSalt, kPass), kAddrA, kT0 + 6 * kSec);
  // Other IDs from that IP, and that ID from elsewhere, are not affected.
  EXPECT_EQ(Login(kId2, kAddrA, kT0 + 7 * kSec), 1u);
  Login(kId, kAddrB, kT0 + 8 * kSec);
  EXPECT_EQ(auth_->Find(kId)->addr, kAddrB);
  // Expire keeps the block while it lasts; afterwards a fresh window.
  Outbox out;
  auth_->Expire(kT0 + 200 * kSec, &out, &changes_);
  EXPECT_TRUE(auth_->IsBlocked(kAddrA, kId, kT0 + 200 * kSec));
  const TimeNs later = kT0 + 305 * kSec;
  EXPECT_FALSE(auth_->IsBlocked(kAddrA, kId, later));
  Login(kId, kAddrA, later);
  EXPECT_TRUE(out.empty());
}

// IPv6 sources are logged in and limited exactly as IPv4 ones: by their whole address (any
// port), each address on its own, with no IPv4 address sharing a key with them; the shield is
// not asked to block them (it filters IPv4).
TEST_F(HbpAuthTest, Ipv6SourcesLogInAndAreLimitedByTheirOwnAddress) {
  HbpAuthSettings s = Settings();
  s.login_burst = 3;
  s.login_window = 60 * kSec;
  s.block_time = 300 * kSec;
  Make(s);
  const uint8_t a6[16] = {0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  const uint8_t b6[16] = {0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  const Endpoint addr_a6 = Endpoint::V6(a6, 62031);
  const Endpoint addr_b6 = Endpoint::V6(b6, 62031);
  ASSERT_TRUE(addr_a6.v6);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Login(kId, addr_a6, kT0 + i * kSec), 0u);  // slot 0
  EXPECT_EQ(auth_->Find(kId)->addr, addr_a6);
  Expect(Rptl(kId), addr_a6, Rptack(kSalt), kT0 + 4 * kSec);
  ExpectSilence(RptkFor(kId, kSalt, kPass), addr_a6, kT0 + 4 * kSec);
  EXPECT_TRUE(auth_->IsBlocked(addr_a6, kId, kT0 + 5 * kSec));
  EXPECT_TRUE(auth_->IsBlocked(Endpoint::V6(a6, 9), kId, kT0 + 5 * kSec)) << "any port";
  EXPECT_FALSE(auth_->IsBlocked(addr_b6, kId, kT0 + 5 * kSec));
  EXPECT_FALSE(auth_->IsBlocked(Endpoint{0, 62031}, kId, kT0 + 5 * kSec));
  const std::vector<SourceBlocked> blocked = auth_->TakeBlockedSources();
  ASSERT_EQ(blocked.size(), 1u);
  EXPECT_TRUE(blocked[0].v6);
  // The neighbour address logs in (and so does IPv4 from 0.0.0.x, never the same key).
  EXPECT_EQ(Login(kId2, addr_b6, kT0 + 6 * kSec), 1u);
  EXPECT_EQ(auth_->Find(kId2)->addr, addr_b6);
}

TEST_F(HbpAuthTest, FailuresFromAnywhereNeverBlock) {
  HbpAuthSettings s = Settings();
  s.login_burst = 3;
  Make(s);
  // Bad digests, refused IDs and NAKed packets are what a spoofer can send in anyone's name:
  // none of them is charged.
  for (uint32_t i = 0; i < 1000; ++i) {
    Send(RptkFor(kId, kSalt, "guess"), kAddrA, kT0 + i);
    Send(Rptping(kId), kAddrA, kT0 + i);
    Send(Rptl(kId), kAddrA, kT0 + i);
  }
  EXPECT_FALSE(auth_->IsBlocked(kAddrA, kId, kT0 + 1000));
  EXPECT_EQ(auth_->tracked(), 0u);
  EXPECT_EQ(auth_->counters().rate_limited, 0u);
  Login(kId, kAddrA, kT0 + 1001);
}

TEST_F(HbpAuthTest, ZeroBurstDisablesTheChurnLimit) {
  HbpAuthSettings s = Settings();
  s.login_burst = 0;
  Make(s);
  for (int i = 0; i < 50; ++i) Login(kId, kAddrA, kT0 + i);
  EXPECT_FALSE(auth_->IsBlocked(kAddrA, kId, kT0 + 50));
  EXPECT_EQ(auth_->counters().rate_limited, 0u);
  EXPECT_TRUE(auth_->TakeBlockedSources().empty());
  EXPECT_EQ(auth_->tracked(), 0u);
}

TEST_F(HbpAuthTest, AWindowOfNormalLoginsNeverBlocks) {
  HbpAuthSettings s = Settings();
  s.login_burst = 3;
  s.login_window = 60 * kSec;
  Make(s);
  // One login every 30 s for an hour: two per window at most.
  for (int i = 0; i < 120; ++i) Login(kId, kAddrA, kT0 + static_cast<TimeNs>(i) * 30 * kSec);
  EXPECT_EQ(auth_->counters().rate_limited, 0u);
}

TEST_F(HbpAuthTest, HalfOpenLoginsExpire) {
  Make();
  Expect(Rptl(kId), kAddrA, Rptack(kSalt), kT0);
  Expect(RptkFor(kId, kSalt, kPass), kAddrA, Rptack(kId), kT0);
  Expect(RptkFor(kId2, kSalt, kPass), kAddrB, Rptack(kId2), kT0 + 20 * kSec);
  Outbox out;
  auth_->Expire(kT0 + 29 * kSec, &out, &changes_);
  EXPECT_EQ(auth_->pending_size(), 2u);
  auth_->Expire(kT0 + 30 * kSec, &out, &changes_);
  EXPECT_EQ(auth_->pending_size(), 1u);
  EXPECT_EQ(auth_->counters().login_timeouts, 1u);
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(changes_.empty());
  Expect(Rptc(kId), kAddrA, Mstnak(kId), kT0 + 31 * kSec);
  Expect(Rptc(kId2), kAddrB, Rptack(kId2), kT0 + 31 * kSec);
  // Idle churn entries go too.
  EXPECT_GT(auth_->tracked(), 0u);
  auth_->Expire(kT0 + 200 * kSec, &out, &changes_);
  EXPECT_EQ(auth_->tracked(), 0u);
  EXPECT_EQ(auth_->pending_size(), 0u);
}

TEST_F(HbpAuthTest, HalfOpenLoginsAreBounded) {
  HbpAuthSettings s = Settings();
  s.max_pending = 32;
  s.max_tracked = 64;
  s.seed = 7;
  Make(s);
  // Only verified logins are half-open; even so the table has a bound.
  for (uint32_t i = 0; i < 1000; ++i) {
    const Endpoint from{0xC6120000 + i, 1};
    Expect(RptkFor(0x100000 + i, kSalt, kPass), from, Rptack(0x100000 + i), kT0 + i);
    ASSERT_LE(auth_->pending_size(), 32u);
    ASSERT_LE(auth_->tracked(), 64u);
  }
  EXPECT_GT(auth_->counters().pending_evicted, 900u);
}

TEST_F(HbpAuthTest, AChurnTableFullOfBlocksAdmitsNewLoginsUntracked) {
  HbpAuthSettings s = Settings();
  s.max_tracked = 8;
  s.login_burst = 1;
  Make(s);
  for (uint32_t i = 0; i < 8; ++i) {
    const Endpoint from{0xC6120000 + i, 1};
    Expect(RptkFor(1, kSalt, kPass), from, Rptack(1));
    ExpectSilence(RptkFor(1, kSalt, kPass), from);  // blocked
  }
  EXPECT_EQ(auth_->tracked(), 8u);
  // A ninth pair that proved the passphrase is let in: the limit never refuses a real client.
  Expect(RptkFor(1, kSalt, kPass), kAddrB, Rptack(1));
  EXPECT_EQ(auth_->counters().limiter_full, 1u);
  EXPECT_EQ(auth_->tracked(), 8u);
  // Once the blocks end, Expire frees the table.
  Outbox out;
  auth_->Expire(kT0 + 301 * kSec, &out, &changes_);
  EXPECT_EQ(auth_->tracked(), 0u);
}

TEST_F(HbpAuthTest, AReloadKeepsBlocksAndHalfOpenLogins) {
  HbpAuthSettings s = Settings();
  s.login_burst = 1;
  Make(s);
  Login(kId, kAddrA);                                         // one login: at the burst
  ExpectSilence(RptkFor(kId, kSalt, kPass), kAddrA);          // the second: blocked
  Expect(RptkFor(kId2, kSalt, kPass), kAddrB, Rptack(kId2));  // half-open
  HbpAuthSettings next = Settings();
  next.login_burst = 1;
  next.passphrase = "newpass";
  next.max_clients = 1;  // a restart key: the running value stays
  auth_->UpdateSettings(next);
  EXPECT_TRUE(auth_->IsBlocked(kAddrA, kId, kT0 + 1));
  ExpectSilence(RptkFor(kId, kSalt, "newpass"), kAddrA, kT0 + 1);
  EXPECT_EQ(auth_->pending_size(), 1u);
  Expect(Rptc(kId2), kAddrB, Rptack(kId2), kT0 + 1);
  EXPECT_EQ(auth_->size(), 2u);
  // The new passphrase applies from the next packet.
  Expect(RptkFor(3, kSalt, kPass), kAddrC, Mstnak(3), kT0 + 2);
  Expect(RptkFor(3, kSalt, "newpass"), kAddrC, Rptack(3), kT0 + 2);
}

TEST_F(HbpAuthTest, NoticesAreBounded) {
  Make();
  for (size_t i = 0; i < HbpAuth::kMaxNotices + 10; ++i) {
    Send(RptkFor(kId, kSalt, "guess"), kAddrA, kT0 + static_cast<TimeNs>(i));
  }
  EXPECT_EQ(auth_->TakeNotices().size(), HbpAuth::kMaxNotices);
  EXPECT_EQ(auth_->counters().notices_dropped, 10u);
  EXPECT_TRUE(auth_->TakeNotices().empty());
}

TEST_F(HbpAuthTest, ARefusedRptoIsAnsweredMstnak) {
  HbpAuthSettings s = Settings();
  std::vector<std::pair<std::string, bool>> asked;
  s.check_options = [&asked](uint32_t, std::string_view options, bool new_session) {
    asked.emplace_back(std::string(options), new_session);
    return options.find("KEY=bad") == std::string_view::npos
               ? absl::OkStatus()
               : absl::PermissionDeniedError("a different KEY");
  };
  Make(s);
  // During a login: refused options end the login (the client starts over).
  Expect(RptkFor(kId, kSalt, kPass), kAddrA, Rptack(kId));
  Expect(Rpto(kId, "TS1=1;KEY=bad"), kAddrA, Mstnak(kId));
  EXPECT_EQ(auth_->pending_size(), 0u);
  std::vector<AuthNotice> notices = auth_->TakeNotices();
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0].kind, AuthNotice::kOptionsRefused);
  EXPECT_EQ(notices[0].detail, "a different KEY");
  // Accepted ones ride on the login as before.
  Login(kId, kAddrA);
  // Running: refused options are answered MSTNAK and change nothing.
  Expect(Rpto(kId, "TS1=2"), kAddrA, Rptack(kId));
  changes_.clear();
  Expect(Rpto(kId, "TS1=3;KEY=bad"), kAddrA, Mstnak(kId));
  EXPECT_TRUE(changes_.empty());
  EXPECT_EQ(auth_->Find(kId)->options, "TS1=2");
  EXPECT_EQ(auth_->counters().options_refused, 2u);
  ASSERT_EQ(asked.size(), 3u);
  EXPECT_TRUE(asked[0].second);   // during a login
  EXPECT_FALSE(asked[1].second);  // running
  EXPECT_FALSE(asked[2].second);
}

// ---------------------------------------------------------------------------------------------
// Lost clients, shutdown, restore.

TEST_F(HbpAuthTest, ClientLostSendsMstcl) {
  Make();
  Login(kId, kAddrA);
  Login(kId2, kAddrB);
  Outbox out;
  auth_->OnClientLost(kId, kT0 + 30 * kSec, &out, &changes_);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_THAT(out[0], IsDatagram(kAddrA, Hex("4d5354434c 0004c2c0")));  // "MSTCL" + id
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].kind, AuthChange::kClientDown);
  EXPECT_EQ(changes_[0].id, kId);
  EXPECT_EQ(changes_[0].slot, 0u);
  EXPECT_STREQ(changes_[0].reason, "lost");
  EXPECT_EQ(auth_->Find(kId), nullptr);
  EXPECT_EQ(auth_->counters().lost, 1u);
  // Unknown or already gone: nothing.
  out.clear();
  changes_.clear();
  auth_->OnClientLost(kId, kT0 + 31 * kSec, &out, &changes_);
  auth_->OnClientLost(777, kT0 + 31 * kSec, &out, &changes_);
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(changes_.empty());
}

// The JSON API's kick: MSTCL and the client is gone (it may log in again); a fixed client stays.
TEST_F(HbpAuthTest, KickEndsASessionButNeverAFixedClients) {
  Make();
  Login(kId, kAddrA);
  Outbox out;
  ASSERT_TRUE(auth_->Kick(kId, &out, &changes_).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_THAT(out[0], IsDatagram(kAddrA, Mstcl(kId)));
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0].kind, AuthChange::kClientDown);
  EXPECT_STREQ(changes_[0].reason, "kicked");
  EXPECT_EQ(auth_->Find(kId), nullptr);
  EXPECT_EQ(auth_->counters().kicked, 1u);
  out.clear();
  changes_.clear();
  EXPECT_EQ(auth_->Kick(kId, &out, &changes_).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(out.empty());
  Login(kId, kAddrA);  // back at once
  EXPECT_NE(auth_->Find(kId), nullptr);

  HbpAuthSettings with_fixed = Settings();
  ClientRecord fixed;
  fixed.id = kId2;
  fixed.addr = kAddrB;
  with_fixed.fixed_clients.push_back(fixed);
  Make(std::move(with_fixed));
  ASSERT_NE(auth_->Find(kId2), nullptr);
  EXPECT_EQ(auth_->Kick(kId2, &out, &changes_).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(auth_->Find(kId2), nullptr);
  EXPECT_TRUE(out.empty());
}

TEST_F(HbpAuthTest, ShutdownClosesEveryClient) {
  Make();
  Login(kId2, kAddrB);
  Login(kId, kAddrA);
  Expect(RptkFor(5555, kSalt, kPass), kAddrC, Rptack(5555));  // half-open: not a client, no MSTCL
  Outbox out;
  auth_->Shutdown(&out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_THAT(out[0], IsDatagram(kAddrB, Mstcl(kId2)));
  EXPECT_THAT(out[1], IsDatagram(kAddrA, Mstcl(kId)));
  EXPECT_EQ(auth_->size(), 0u);
  EXPECT_EQ(auth_->pending_size(), 0u);
}

TEST_F(HbpAuthTest, RestoreKeepsSlotsAndResolvesConflicts) {
  Make();  // max_clients 4
  auto rec = [](uint32_t id, uint32_t slot, Endpoint addr) {
    ClientRecord r;
    r.id = id;
    r.slot = slot;
    r.addr = addr;
    r.callsign = absl::StrCat("X", id);
    return r;
  };
  auth_->Restore({rec(10, 2, kAddrA), rec(11, 2, kAddrB), rec(12, 9, kAddrC), rec(10, 0, kAddrC),
                  rec(13, 0, Endpoint{1, 1}), rec(14, 1, Endpoint{2, 2}),
                  rec(15, 3, Endpoint{3, 3})});
  EXPECT_EQ(auth_->size(), 4u);
  // 13 keeps 0, 14 keeps 1, 10 keeps 2 (the duplicate 10 is dropped), 15 keeps 3; 11 and 12
  // find no free slot.
  ASSERT_NE(auth_->Find(10), nullptr);
  EXPECT_EQ(auth_->Find(10)->slot, 2u);
  EXPECT_EQ(auth_->Find(10)->callsign, "X10");
  EXPECT_EQ(auth_->Find(13)->slot, 0u);
  EXPECT_EQ(auth_->Find(14)->slot, 1u);
  EXPECT_EQ(auth_->Find(15)->slot, 3u);
  EXPECT_EQ(auth_->Find(11), nullptr);
  EXPECT_EQ(auth_->Find(12), nullptr);

  // A restored client is a full client: its ping is answered, it can disconnect.
  Expect(Rptping(13), Endpoint{1, 1}, Mstpong(13));
  Expect(Rptcl(14), Endpoint{2, 2}, Mstnak(14));
  EXPECT_EQ(changes_.size(), 1u);

  Make();
  auth_->Restore({rec(20, 7, kAddrA), rec(21, 1, kAddrB)});
  EXPECT_EQ(auth_->Find(21)->slot, 1u);
  EXPECT_EQ(auth_->Find(20)->slot, 0u);  // out of range: lowest free
}

TEST_F(HbpAuthTest, CountersHaveNames) {
  Make();
  Expect(Rptping(kId), kAddrA, Mstnak(kId));
  bool found = false;
  for (const auto& [name, value] : auth_->counters().Named()) {
    if (name == "naks_sent") {
      EXPECT_EQ(value, 1u);
      found = true;
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(auth_->counters().Named().size(), sizeof(HbpAuthCounters) / sizeof(uint64_t));
}

}  // namespace
}  // namespace dmrswitch::cp
