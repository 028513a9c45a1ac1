#include "ctrlplane/login/hbp_auth.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "dataplane/proto/crypto.h"
#include "dataplane/proto/hbp.h"
#include "dataplane/proto/talker_alias.h"

namespace dmrswitch::cp {
namespace {

using proto::HbpType;
using route::Endpoint;
using route::TimeNs;

constexpr uint32_t kStatusProbeId = 0xFFFFFFFF;
// Random candidates looked at when a bounded table is full.
constexpr int kEvictionSamples = 8;

// The key for the challenge salts: the host's, or 32 bytes from the seeded PRNG (tests).
proto::Blake2bMac128 ChallengeKey(const std::optional<std::array<uint8_t, 32>>& given,
                                  std::mt19937_64* rng) {
  if (given) return proto::Blake2bMac128(*given);
  std::array<uint8_t, 32> key;
  for (size_t i = 0; i < key.size(); i += 8) {
    const uint64_t r = (*rng)();
    for (size_t b = 0; b < 8; ++b) key[i + b] = static_cast<uint8_t>(r >> (8 * b));
  }
  return proto::Blake2bMac128(key);
}

std::string Trimmed(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.remove_suffix(1);
  return std::string(s);
}

// The RPTC text fields a record keeps (trailing spaces and NULs removed).
void CopyRptcFields(const proto::RptcConfig& cfg, ClientRecord* r) {
  r->callsign = Trimmed(cfg.callsign);
  r->rx_freq = Trimmed(cfg.rx_freq);
  r->tx_freq = Trimmed(cfg.tx_freq);
  r->tx_power = Trimmed(cfg.tx_power);
  r->color_code = Trimmed(cfg.color_code);
  r->latitude = Trimmed(cfg.latitude);
  r->longitude = Trimmed(cfg.longitude);
  r->height = Trimmed(cfg.height);
  r->location = Trimmed(cfg.location);
  r->description = Trimmed(cfg.description);
  r->url = Trimmed(cfg.url);
  r->software_id = Trimmed(cfg.software_id);
  r->package_id = Trimmed(cfg.package_id);
}

// Removes position `pos` of a dense key vector by moving the last key there; returns the key that
// moved (so that its owner can update its index), or nullptr if none moved.
template <typename K>
const K* SwapRemove(std::vector<K>* keys, size_t pos) {
  const size_t last = keys->size() - 1;
  if (pos != last) (*keys)[pos] = (*keys)[last];
  keys->pop_back();
  return pos < keys->size() ? &(*keys)[pos] : nullptr;
}

}  // namespace

route::ClientSpec ClientRecord::Spec() const {
  route::ClientSpec s;
  s.id = id;
  s.addr = addr;
  s.slot_mask = slot_mask;
  s.fixed = fixed;
  s.session = logged_in_at;
  return s;
}

std::vector<std::pair<std::string_view, uint64_t>> HbpAuthCounters::Named() const {
  return {
      {"logins_ok", logins_ok},
      {"challenges", challenges},
      {"status_probes", status_probes},
      {"auth_ok", auth_ok},
      {"bad_digest", bad_digest},
      {"acl_denied", acl_denied},
      {"full", full},
      {"naks_sent", naks_sent},
      {"pongs_sent", pongs_sent},
      {"wrong_address", wrong_address},
      {"wrong_state", wrong_state},
      {"unknown_id", unknown_id},
      {"options", options},
      {"options_refused", options_refused},
      {"disconnects", disconnects},
      {"lost", lost},
      {"kicked", kicked},
      {"relogins", relogins},
      {"login_timeouts", login_timeouts},
      {"pending_evicted", pending_evicted},
      {"rate_limited", rate_limited},
      {"blocked_drops", blocked_drops},
      {"limiter_full", limiter_full},
      {"notices_dropped", notices_dropped},
      {"dmrc_refused", dmrc_refused},
      {"talker_alias", talker_alias},
      {"gps", gps},
      {"positions", positions},
      {"side_unknown", side_unknown},
      {"dmrd_dropped", dmrd_dropped},
      {"malformed", malformed},
      {"unexpected", unexpected},
  };
}

std::string_view AuthNoticeName(AuthNotice::Kind k) {
  switch (k) {
    case AuthNotice::kBadDigest:
      return "bad passphrase";
    case AuthNotice::kAclDenied:
      return "ID denied by acl.reg";
    case AuthNotice::kFull:
      return "hub full";
    case AuthNotice::kReservedId:
      return "ID reserved for a fixed client at another address";
    case AuthNotice::kBlocked:
      return "blocked: too many logins";
    case AuthNotice::kOptionsRefused:
      return "options refused";
  }
  return "refused";
}

HbpAuth::HbpAuth(HbpAuthSettings settings)
    : settings_(std::move(settings)),
      rng_(settings_.seed),
      challenge_key_(ChallengeKey(settings_.challenge_key, &rng_)),
      slot_used_(settings_.max_clients, false) {
  settings_.max_tracked = std::max<uint32_t>(settings_.max_tracked, 1);
  settings_.max_pending = std::max<uint32_t>(settings_.max_pending, 1);
  settings_.challenge_epoch = std::max<TimeNs>(settings_.challenge_epoch, 1);
  for (size_t i = 0; i < settings_.fixed_clients.size(); ++i) {
    ClientRecord& f = settings_.fixed_clients[i];
    f.fixed = true;
    fixed_.emplace(f.id, i);
  }
  InstallFixed();
}

void HbpAuth::InstallFixed() {
  for (const ClientRecord& f : settings_.fixed_clients) {
    if (clients_.contains(f.id)) continue;
    int64_t slot = f.slot;
    if (f.slot >= slot_used_.size() || slot_used_[f.slot]) slot = FreeSlot();
    if (slot < 0) break;  // the configuration keeps fixed clients within max_clients
    ClientRecord r = f;
    r.slot = static_cast<uint32_t>(slot);
    slot_used_[r.slot] = true;
    id_by_addr_[AddrKeyOf(r.addr)] = r.id;
    clients_.emplace(r.id, std::move(r));
  }
}

void HbpAuth::UpdateSettings(HbpAuthSettings settings) {
  // Restart keys keep their running values.
  settings.max_clients = settings_.max_clients;
  settings.fixed_clients = std::move(settings_.fixed_clients);
  settings.seed = settings_.seed;
  settings.challenge_key = settings_.challenge_key;
  settings.max_tracked = std::max<uint32_t>(settings.max_tracked, 1);
  settings.max_pending = std::max<uint32_t>(settings.max_pending, 1);
  settings.challenge_epoch = std::max<TimeNs>(settings.challenge_epoch, 1);
  settings_ = std::move(settings);
}

// ---------------------------------------------------------------------------------------------
// Dispatch.

void HbpAuth::OnPacket(proto::ByteSpan pkt, Endpoint from, TimeNs now, Outbox* out,
                       std::vector<AuthChange>* changes) {
  const HbpType type = proto::ClassifyHbp(pkt);
  switch (type) {
    case HbpType::kRptl:
    case HbpType::kRptping:
    case HbpType::kRptcl: {
      proto::HbpIdPacket p;
      if (proto::DecodeHbpIdPacket(pkt, &p) != proto::Reject::kOk || !p.has_value) {
        ++counters_.malformed;
        return;
      }
      if (type == HbpType::kRptl) {
        OnRptl(p.value, from, now, out);
      } else if (type == HbpType::kRptping) {
        OnRptping(p.value, from, now, out);
      } else {
        OnRptcl(p.value, from, now, out, changes);
      }
      return;
    }
    case HbpType::kRptk:
      OnRptk(pkt, from, now, out, changes);
      return;
    case HbpType::kRptc:
      OnRptc(pkt, from, now, out, changes);
      return;
    case HbpType::kRpto:
      OnRpto(pkt, from, now, out, changes);
      return;
    case HbpType::kDmra:
    case HbpType::kDmrg:
    case HbpType::kRptg:
      OnSideInfo(pkt, type, from, now);
      return;
    case HbpType::kDmrc:
      // Unauthenticated config+keepalive (HBlink3 accepts it as a login; we do not).
      ++counters_.dmrc_refused;
      return;
    case HbpType::kDmrd:
      // The packet plane routes DMRD of logged-in clients; anything else is silently dropped.
      ++counters_.dmrd_dropped;
      return;
    case HbpType::kRptack:
    case HbpType::kMstnak:
    case HbpType::kMstpong:
    case HbpType::kMstcl:
    case HbpType::kRptsbkn:
    case HbpType::kUnknown:
      ++counters_.unexpected;
      return;
  }
  ++counters_.unexpected;
}

// ---------------------------------------------------------------------------------------------
// Login.

bool HbpAuth::Refused(uint32_t id, Endpoint from) {
  AuthNotice::Kind why;
  if (auto f = fixed_.find(id);
      f != fixed_.end() && !(settings_.fixed_clients[f->second].addr == from)) {
    // A fixed client's ID is reserved for its configured address.
    ++counters_.wrong_address;
    why = AuthNotice::kReservedId;
  } else if (!settings_.reg_acl.Permits(id)) {
    ++counters_.acl_denied;
    why = AuthNotice::kAclDenied;
  } else if (!clients_.contains(id) && clients_.size() >= settings_.max_clients) {
    ++counters_.full;
    why = AuthNotice::kFull;
  } else {
    return false;
  }
  Notice(why, id, from);
  return true;
}

void HbpAuth::OnRptl(uint32_t id, Endpoint from, TimeNs now, Outbox* out) {
  // Stateless: whatever the RPTL says, nothing is stored or charged, and it is answered by one
  // 10-byte datagram at most.
  if (IsBlocked(from, id, now)) {
    ++counters_.blocked_drops;
    return;
  }
  if (id == kStatusProbeId) {
    // Server status probe (FreeDMR): answered like a login.
    ++counters_.status_probes;
    Send(HbpType::kRptack, ChallengeSalt(from, id, now), from, out);
    return;
  }
  if (Refused(id, from)) {
    Nak(id, from, out);
    return;
  }
  ++counters_.challenges;
  Send(HbpType::kRptack, ChallengeSalt(from, id, now), from, out);
}

HbpAuth::Pending* HbpAuth::PendingAt(uint32_t id, Endpoint from, Outbox* out) {
  auto it = pending_.find(id);
  if (it == pending_.end()) {
    ++counters_.unknown_id;
    Nak(id, from, out);
    return nullptr;
  }
  if (!(it->second.addr == from)) {
    ++counters_.wrong_address;
    Nak(id, from, out);
    return nullptr;
  }
  return &it->second;
}

void HbpAuth::OnRptk(proto::ByteSpan pkt, Endpoint from, TimeNs now, Outbox* out,
                     std::vector<AuthChange>* changes) {
  proto::Rptk k;
  if (proto::DecodeRptk(pkt, &k) != proto::Reject::kOk) {
    ++counters_.malformed;
    return;
  }
  if (IsBlocked(from, k.id, now)) {
    ++counters_.blocked_drops;
    return;
  }
  if (k.id == kStatusProbeId) {  // a status probe never logs in
    ++counters_.unknown_id;
    Nak(k.id, from, out);
    return;
  }
  if (!DigestOk(from, k.id, now, k.digest.data())) {
    // Wrong passphrase, or a salt this address was never sent (a spoofed RPTK): either way
    // nothing changes — no half-open login or session of this ID is touched, nothing is charged.
    ++counters_.bad_digest;
    Notice(AuthNotice::kBadDigest, k.id, from);
    Nak(k.id, from, out);
    return;
  }
  // The source is verified from here on: it received our RPTACK and knows the passphrase.
  if (Refused(k.id, from)) {
    Nak(k.id, from, out);
    return;
  }
  if (!ChargeLogin(from, k.id, now)) return;
  ++counters_.auth_ok;
  // A new login of this ID starts over from here (another address included: it proved the
  // passphrase too).
  Pending* p = NewPending(k.id);
  p->addr = from;
  p->started = now;
  p->options.clear();
  if (clients_.contains(k.id)) {
    // The client proved the passphrase again: its old session ends here (a fixed client stays up
    // and is updated in place at RPTC).
    ++counters_.relogins;
    if (!IsFixed(k.id)) RemoveClient(k.id, "relogin", changes);
  }
  Send(HbpType::kRptack, k.id, from, out);
}

void HbpAuth::OnRptc(proto::ByteSpan pkt, Endpoint from, TimeNs now, Outbox* out,
                     std::vector<AuthChange>* changes) {
  proto::Rptc c;
  if (proto::DecodeRptc(pkt, &c) != proto::Reject::kOk) {
    ++counters_.malformed;
    return;
  }
  Pending* pending = PendingAt(c.id, from, out);
  if (pending == nullptr) return;
  if (auto f = clients_.find(c.id); f != clients_.end() && f->second.fixed) {
    // A fixed client logged in from its address: same record, slot and options unless it sent
    // its own RPTO.
    std::string options = std::move(pending->options);
    ErasePending(c.id);
    ClientRecord& r = f->second;
    CopyRptcFields(c.config, &r);
    if (!options.empty()) r.options = std::move(options);
    r.logged_in_at = now;
    ++counters_.logins_ok;
    changes->push_back(AuthChange{.kind = AuthChange::kOptions,
                                  .id = r.id,
                                  .slot = r.slot,
                                  .addr = r.addr,
                                  .slot_mask = r.slot_mask,
                                  .options = r.options,
                                  .reason = "login"});
    Send(HbpType::kRptack, r.id, from, out);
    return;
  }
  const int64_t slot = FreeSlot();
  if (slot < 0 || clients_.size() >= settings_.max_clients) {
    ++counters_.full;
    Notice(AuthNotice::kFull, c.id, from);
    ErasePending(c.id);
    Nak(c.id, from, out);
    return;
  }
  std::string options = std::move(pending->options);
  ErasePending(c.id);

  ClientRecord r;
  r.id = c.id;
  r.slot = static_cast<uint32_t>(slot);
  r.addr = from;
  r.slots = c.config.slots;
  r.slot_mask = proto::RptcSlotMask(c.config.slots);
  CopyRptcFields(c.config, &r);
  r.options = std::move(options);
  r.logged_in_at = now;

  slot_used_[r.slot] = true;
  id_by_addr_[AddrKeyOf(from)] = r.id;
  ++counters_.logins_ok;
  changes->push_back(AuthChange{.kind = AuthChange::kClientUp,
                                .id = r.id,
                                .slot = r.slot,
                                .addr = r.addr,
                                .slot_mask = r.slot_mask,
                                .options = r.options,
                                .reason = "login"});
  const uint32_t id = r.id;
  clients_.insert_or_assign(id, std::move(r));
  Send(HbpType::kRptack, id, from, out);
}

void HbpAuth::OnRpto(proto::ByteSpan pkt, Endpoint from, TimeNs /*now*/, Outbox* out,
                     std::vector<AuthChange>* changes) {
  proto::Rpto o;
  if (proto::DecodeRpto(pkt, &o) != proto::Reject::kOk) {
    ++counters_.malformed;
    return;
  }
  auto pit = pending_.find(o.id);
  auto cit = clients_.find(o.id);
  const bool during_login = pit != pending_.end() && pit->second.addr == from;
  if (!during_login && (cit == clients_.end() || !(cit->second.addr == from))) {
    if (pit != pending_.end() || cit != clients_.end()) {
      ++counters_.wrong_address;
    } else {
      ++counters_.unknown_id;
    }
    Nak(o.id, from, out);
    return;
  }
  std::string options = Trimmed(o.options);
  if (settings_.check_options) {
    if (absl::Status st = settings_.check_options(o.id, options, during_login); !st.ok()) {
      // Refused: answered as PROTOCOL.md §1.5 answers a refusal. A login ends here (the client
      // starts over); a running session keeps its options.
      ++counters_.options_refused;
      Notice(AuthNotice::kOptionsRefused, o.id, from, 0, std::string(st.message()));
      if (during_login) ErasePending(o.id);
      Nak(o.id, from, out);
      return;
    }
  }
  ++counters_.options;
  if (during_login) {
    // An authenticated half-open login from its address: keep the options for the client-up.
    pit->second.options = std::move(options);
    Send(HbpType::kRptack, o.id, from, out);
    return;
  }
  ClientRecord& r = cit->second;
  r.options = std::move(options);
  changes->push_back(AuthChange{.kind = AuthChange::kOptions,
                                .id = r.id,
                                .slot = r.slot,
                                .addr = r.addr,
                                .slot_mask = r.slot_mask,
                                .options = r.options,
                                .reason = "options"});
  Send(HbpType::kRptack, o.id, from, out);
}

void HbpAuth::OnRptping(uint32_t id, Endpoint from, TimeNs /*now*/, Outbox* out) {
  auto it = clients_.find(id);
  if (it == clients_.end()) {
    ++counters_.unknown_id;
    Nak(id, from, out);
    return;
  }
  if (!(it->second.addr == from)) {
    ++counters_.wrong_address;
    Nak(id, from, out);
    return;
  }
  // The packet plane answers pings of clients in the snapshot; this one is not there yet.
  ++counters_.pongs_sent;
  Send(HbpType::kMstpong, id, from, out);
}

void HbpAuth::OnRptcl(uint32_t id, Endpoint from, TimeNs /*now*/, Outbox* out,
                      std::vector<AuthChange>* changes) {
  bool matched = false;
  if (auto it = pending_.find(id); it != pending_.end() && it->second.addr == from) {
    ErasePending(id);
    matched = true;
  }
  if (auto it = clients_.find(id); it != clients_.end() && it->second.addr == from) {
    if (!it->second.fixed) RemoveClient(id, "rptcl", changes);  // fixed clients stay up
    matched = true;
  }
  if (matched) {
    ++counters_.disconnects;
    Send(HbpType::kMstnak, id, from, out);
    ++counters_.naks_sent;
    return;
  }
  // Not the session's address: no answer. A 9-byte RPTCL would draw a 10-byte MSTNAK, and a
  // client saying goodbye has closed its socket anyway.
  if (pending_.contains(id) || clients_.contains(id)) {
    ++counters_.wrong_address;
  } else {
    ++counters_.unknown_id;
  }
}

void HbpAuth::OnSideInfo(proto::ByteSpan pkt, HbpType type, Endpoint from, TimeNs now) {
  // The 19/18-byte forms (via DMRGateway) name the client; the short forms are attributed by the
  // source address. Either way the address must be the client's login address.
  auto find_client = [&](bool has_id, uint32_t id) -> ClientRecord* {
    if (!has_id) {
      auto a = id_by_addr_.find(AddrKeyOf(from));
      if (a == id_by_addr_.end()) return nullptr;
      id = a->second;
    }
    auto it = clients_.find(id);
    return it != clients_.end() && it->second.addr == from ? &it->second : nullptr;
  };
  if (type == HbpType::kDmra) {
    proto::Dmra a;
    if (proto::DecodeDmra(pkt, &a) != proto::Reject::kOk) {
      ++counters_.malformed;
      return;
    }
    ClientRecord* r = find_client(a.has_repeater_id, a.repeater_id);
    if (r == nullptr) {
      ++counters_.side_unknown;
      return;
    }
    ++counters_.talker_alias;
    ClientSideInfo& s = r->side;
    const std::optional<std::string> before =
        s.alias_rf_src == a.rf_src ? proto::dmr::DecodeTalkerAlias(s.alias, s.alias_blocks)
                                   : std::nullopt;
    if (s.alias_rf_src != a.rf_src || a.block == 0) {
      // A header block starts a new alias; so does another talker.
      s.alias.fill(0);
      s.alias_blocks = 0;
      s.alias_rf_src = a.rf_src;
    }
    if (a.block < 4) {
      std::memcpy(s.alias.data() + 7 * a.block, a.alias.data(), a.alias.size());
      s.alias_blocks |= static_cast<uint8_t>(1u << a.block);
    }
    s.alias_time = now;
    if (std::optional<std::string> text = proto::dmr::DecodeTalkerAlias(s.alias, s.alias_blocks);
        text && text != before && aliases_.size() < kMaxAliases) {
      aliases_.push_back(TalkerAliasHeard{r->id, a.rf_src, *std::move(text)});
    }
    return;
  }
  if (type == HbpType::kDmrg) {
    proto::Dmrg g;
    if (proto::DecodeDmrg(pkt, &g) != proto::Reject::kOk) {
      ++counters_.malformed;
      return;
    }
    ClientRecord* r = find_client(g.has_repeater_id, g.repeater_id);
    if (r == nullptr) {
      ++counters_.side_unknown;
      return;
    }
    ++counters_.gps;
    r->side.gps_rf_src = g.rf_src;
    r->side.gps = g.gps;
    r->side.gps_time = now;
    return;
  }
  proto::Rptg g;
  if (proto::DecodeRptg(pkt, &g) != proto::Reject::kOk) {
    ++counters_.malformed;
    return;
  }
  ClientRecord* r = find_client(true, g.id);
  if (r == nullptr) {
    ++counters_.side_unknown;
    return;
  }
  ++counters_.positions;
  r->side.home_latitude = Trimmed(g.latitude);
  r->side.home_longitude = Trimmed(g.longitude);
  r->side.home_time = now;
}

// ---------------------------------------------------------------------------------------------
// Events from the packet plane and the host.

void HbpAuth::OnClientLost(uint32_t id, TimeNs /*now*/, Outbox* out,
                           std::vector<AuthChange>* changes) {
  auto it = clients_.find(id);
  if (it == clients_.end() || it->second.fixed) return;  // fixed clients are never dropped
  ++counters_.lost;
  Send(HbpType::kMstcl, id, it->second.addr, out);
  RemoveClient(id, "lost", changes);
}

absl::Status HbpAuth::Kick(uint32_t id, Outbox* out, std::vector<AuthChange>* changes) {
  auto it = clients_.find(id);
  if (it == clients_.end()) {
    return absl::NotFoundError(absl::StrCat("client ", id, " is not logged in"));
  }
  if (it->second.fixed) {
    return absl::FailedPreconditionError(
        absl::StrCat("client ", id, " is a fixed client ([[hbp.fixed_client]]): never removed"));
  }
  ++counters_.kicked;
  Send(HbpType::kMstcl, id, it->second.addr, out);
  RemoveClient(id, "kicked", changes);
  return absl::OkStatus();
}

void HbpAuth::Expire(TimeNs now, Outbox* /*out*/, std::vector<AuthChange>* /*changes*/) {
  std::vector<uint32_t> expired;
  for (const auto& [id, p] : pending_) {
    if (now - std::min(now, p.started) >= settings_.login_timeout) expired.push_back(id);
  }
  for (uint32_t id : expired) {
    ++counters_.login_timeouts;
    ErasePending(id);
  }
  std::vector<uint64_t> idle;
  for (const auto& [key, c] : churn_) {
    const bool block_over = c.blocked_until == 0 || now >= c.blocked_until;
    const bool window_over = now - std::min(now, c.window_start) >= settings_.login_window;
    if (block_over && window_over) idle.push_back(key);
  }
  for (uint64_t key : idle) EraseChurn(key);
}

void HbpAuth::Shutdown(Outbox* out) {
  for (const ClientRecord* r : Clients()) Send(HbpType::kMstcl, r->id, r->addr, out);
  clients_.clear();
  id_by_addr_.clear();
  std::fill(slot_used_.begin(), slot_used_.end(), false);
  pending_.clear();
  pending_ids_.clear();
}

void HbpAuth::Restore(std::vector<ClientRecord> clients) {
  clients_.clear();
  id_by_addr_.clear();
  std::fill(slot_used_.begin(), slot_used_.end(), false);
  // The first record of an ID wins.
  absl::flat_hash_set<uint32_t> seen;
  clients.erase(std::remove_if(clients.begin(), clients.end(),
                               [&](const ClientRecord& r) { return !seen.insert(r.id).second; }),
                clients.end());
  // Fixed clients: a restored record keeps its state (and slot) and stays fixed at its
  // configured address; the missing ones come from the settings.
  for (ClientRecord& r : clients) {
    auto f = fixed_.find(r.id);
    r.fixed = f != fixed_.end();
    if (r.fixed) r.addr = settings_.fixed_clients[f->second].addr;
  }
  for (const ClientRecord& f : settings_.fixed_clients) {
    if (!seen.contains(f.id)) clients.push_back(f);
  }
  // Keep slots where possible: first the records whose slot is valid, in slot order.
  std::stable_sort(clients.begin(), clients.end(),
                   [](const ClientRecord& a, const ClientRecord& b) { return a.slot < b.slot; });
  std::vector<ClientRecord*> reassign;
  for (ClientRecord& r : clients) {
    if (r.slot < slot_used_.size() && !slot_used_[r.slot]) {
      slot_used_[r.slot] = true;
      const uint32_t id = r.id;
      clients_.emplace(id, std::move(r));
    } else {
      reassign.push_back(&r);
    }
  }
  for (ClientRecord* r : reassign) {
    const int64_t slot = FreeSlot();
    if (slot < 0) break;
    r->slot = static_cast<uint32_t>(slot);
    slot_used_[r->slot] = true;
    const uint32_t id = r->id;
    clients_.emplace(id, std::move(*r));
  }
  for (const auto& [id, r] : clients_) id_by_addr_[AddrKeyOf(r.addr)] = id;
}

// ---------------------------------------------------------------------------------------------
// Read side.

const ClientRecord* HbpAuth::Find(uint32_t id) const {
  auto it = clients_.find(id);
  return it == clients_.end() ? nullptr : &it->second;
}

std::vector<const ClientRecord*> HbpAuth::Clients() const {
  std::vector<const ClientRecord*> v;
  v.reserve(clients_.size());
  for (const auto& [id, r] : clients_) v.push_back(&r);
  std::sort(v.begin(), v.end(),
            [](const ClientRecord* a, const ClientRecord* b) { return a->slot < b->slot; });
  return v;
}

bool HbpAuth::IsBlocked(Endpoint from, uint32_t id, TimeNs now) const {
  auto it = churn_.find(ChurnKeyOf(from, id));
  return it != churn_.end() && it->second.blocked_until != 0 && now < it->second.blocked_until;
}

uint32_t HbpAuth::ChallengeSalt(Endpoint from, uint32_t id, TimeNs now) const {
  return SaltAt(from, id, now / settings_.challenge_epoch);
}

// ---------------------------------------------------------------------------------------------
// Helpers.

bool HbpAuth::ChargeLogin(Endpoint from, uint32_t id, TimeNs now) {
  if (settings_.login_burst == 0) return true;  // limit disabled
  const uint64_t key = ChurnKeyOf(from, id);
  auto it = churn_.find(key);
  if (it == churn_.end()) {
    if (churn_.size() >= settings_.max_tracked) {
      // Evict a random pair that is not blocked; if every sample is blocked, this login is
      // admitted untracked: the limit is a courtesy to the hub, never a reason to refuse a client
      // that proved the passphrase.
      bool evicted = false;
      for (int i = 0; i < kEvictionSamples && !evicted; ++i) {
        const uint64_t victim = churn_keys_[NextRandom() % churn_keys_.size()];
        const Churn& c = churn_.at(victim);
        if (c.blocked_until == 0 || now >= c.blocked_until) {
          EraseChurn(victim);
          evicted = true;
        }
      }
      if (!evicted) {
        ++counters_.limiter_full;
        return true;
      }
    }
    it = churn_.emplace(key, Churn{.window_start = now, .dense = churn_keys_.size()}).first;
    churn_keys_.push_back(key);
  }
  Churn& c = it->second;
  if (c.blocked_until != 0) {
    if (now < c.blocked_until) {
      ++counters_.blocked_drops;
      return false;
    }
    c.blocked_until = 0;  // block over: a fresh window
    c.window_start = now;
    c.logins = 0;
  }
  if (now - std::min(now, c.window_start) >= settings_.login_window) {
    c.window_start = now;
    c.logins = 0;
  }
  if (++c.logins > settings_.login_burst) {
    c.blocked_until = now + settings_.block_time;
    ++counters_.rate_limited;
    SourceBlocked b{from.ip, now, settings_.block_time, from.v6, {}};
    if (from.v6) std::copy(std::begin(from.ip6), std::end(from.ip6), b.ip6.begin());
    blocked_.push_back(b);
    ++counters_.blocked_drops;
    Endpoint source = from;  // the address (any port)
    source.port = 0;
    Notice(AuthNotice::kBlocked, id, source, c.blocked_until);
    return false;
  }
  return true;
}

void HbpAuth::Nak(uint32_t id, Endpoint to, Outbox* out) {
  ++counters_.naks_sent;
  Send(HbpType::kMstnak, id, to, out);
}

void HbpAuth::Notice(AuthNotice::Kind kind, uint32_t id, Endpoint addr, TimeNs until,
                     std::string detail) {
  if (notices_.size() >= kMaxNotices) {
    ++counters_.notices_dropped;
    return;
  }
  notices_.push_back(AuthNotice{kind, id, addr, until, std::move(detail)});
}

void HbpAuth::Send(HbpType type, uint32_t value, Endpoint to, Outbox* out) {
  Datagram d{.listener = Listener::Hbp(), .addr = to, .bytes = std::vector<uint8_t>(16)};
  const size_t n = proto::EncodeHbpIdPacket(type, value, d.bytes);
  d.bytes.resize(n);
  out->push_back(std::move(d));
}

HbpAuth::Pending* HbpAuth::NewPending(uint32_t id) {
  if (auto it = pending_.find(id); it != pending_.end()) return &it->second;
  if (pending_.size() >= settings_.max_pending) {
    ++counters_.pending_evicted;
    ErasePending(pending_ids_[NextRandom() % pending_ids_.size()]);
  }
  Pending& p = pending_[id];
  p.dense = pending_ids_.size();
  pending_ids_.push_back(id);
  return &p;
}

void HbpAuth::ErasePending(uint32_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  if (const uint32_t* moved = SwapRemove(&pending_ids_, it->second.dense)) {
    pending_.at(*moved).dense = it->second.dense;
  }
  pending_.erase(it);
}

void HbpAuth::EraseChurn(uint64_t key) {
  auto it = churn_.find(key);
  if (it == churn_.end()) return;
  if (const uint64_t* moved = SwapRemove(&churn_keys_, it->second.dense)) {
    churn_.at(*moved).dense = it->second.dense;
  }
  churn_.erase(it);
}

void HbpAuth::RemoveClient(uint32_t id, const char* reason, std::vector<AuthChange>* changes) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  const ClientRecord& r = it->second;
  if (auto a = id_by_addr_.find(AddrKeyOf(r.addr)); a != id_by_addr_.end() && a->second == id) {
    id_by_addr_.erase(a);
  }
  if (r.slot < slot_used_.size()) slot_used_[r.slot] = false;
  changes->push_back(AuthChange{.kind = AuthChange::kClientDown,
                                .id = id,
                                .slot = r.slot,
                                .addr = r.addr,
                                .slot_mask = r.slot_mask,
                                .options = {},
                                .reason = reason});
  clients_.erase(it);
}

int64_t HbpAuth::FreeSlot() const {
  for (size_t i = 0; i < slot_used_.size(); ++i) {
    if (!slot_used_[i]) return static_cast<int64_t>(i);
  }
  return -1;
}

uint64_t HbpAuth::NextRandom() { return rng_(); }

uint32_t HbpAuth::SaltAt(Endpoint from, uint32_t id, uint64_t epoch) const {
  if (settings_.salt_source) return settings_.salt_source(from, id);
  // The address (IPv4: 4 bytes; IPv6: a domain byte 6 and 16 bytes, so the two message lengths
  // never meet), then port, ID and epoch.
  uint8_t msg[31];
  size_t n = 0;
  if (from.v6) {
    msg[n++] = 6;
    std::memcpy(msg + n, from.ip6, 16);
    n += 16;
  } else {
    proto::StoreBe32(msg, from.ip);
    n = 4;
  }
  msg[n++] = static_cast<uint8_t>(from.port >> 8);
  msg[n++] = static_cast<uint8_t>(from.port);
  proto::StoreBe32(msg + n, id);
  proto::StoreBe64(msg + n + 4, epoch);
  uint8_t mac[proto::Blake2bMac128::kMacBytes];
  challenge_key_.Sign(std::span<const uint8_t>(msg, n + 12), mac);
  return proto::LoadBe32(mac);
}

// IPv4: the address and port (or ID) themselves. IPv6: a 64-bit digest under the challenge key,
// so that no sender can choose an address whose key is another's; a separate domain each.
uint64_t HbpAuth::V6Key(uint8_t domain, const Endpoint& e, uint32_t value) const {
  uint8_t msg[21];
  msg[0] = domain;
  std::memcpy(msg + 1, e.ip6, 16);
  proto::StoreBe32(msg + 17, value);
  uint8_t mac[proto::Blake2bMac128::kMacBytes];
  challenge_key_.Sign(msg, mac);
  return proto::LoadBe64(mac);
}
uint64_t HbpAuth::AddrKeyOf(const Endpoint& e) const {
  return e.v6 ? V6Key(0xA6, e, e.port) : (uint64_t{e.ip} << 16) | e.port;
}
uint64_t HbpAuth::ChurnKeyOf(const Endpoint& from, uint32_t id) const {
  return from.v6 ? V6Key(0xC6, from, id) : (uint64_t{from.ip} << 32) | id;
}

bool HbpAuth::DigestOk(Endpoint from, uint32_t id, TimeNs now, const uint8_t* digest) const {
  if (settings_.passphrase.empty() && settings_.allow_null_passphrase) return true;
  // The salt of this epoch or of the previous one (an RPTL answered just before the epoch
  // turned). Both are checked whatever the first gives, so the time taken says nothing.
  const uint64_t epoch = now / settings_.challenge_epoch;
  bool ok = false;
  for (uint64_t e : {epoch, epoch == 0 ? epoch : epoch - 1}) {
    const auto want = proto::HbpLoginDigest(SaltAt(from, id, e), settings_.passphrase);
    ok |= proto::ConstantTimeEqual(want.data(), digest, want.size());
  }
  return ok;
}

}  // namespace dmrswitch::cp
