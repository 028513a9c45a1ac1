#include "ctrlplane/login/hbp_auth.h"

#include <algorithm>
#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "dataplane/proto/crypto.h"
#include "dataplane/proto/hbp.h"

namespace dmrswitch::cp {
namespace {

using proto::HbpType;
using route::Endpoint;
using route::TimeNs;

constexpr uint32_t kStatusProbeId = 0xFFFFFFFF;
// Random candidates looked at when a bounded table is full.
constexpr int kEvictionSamples = 8;

uint64_t AddrKey(Endpoint e) { return (uint64_t{e.ip} << 16) | e.port; }

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
      {"disconnects", disconnects},
      {"lost", lost},
      {"relogins", relogins},
      {"login_timeouts", login_timeouts},
      {"pending_evicted", pending_evicted},
      {"rate_limited", rate_limited},
      {"blocked_drops", blocked_drops},
      {"sources_full", sources_full},
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

HbpAuth::HbpAuth(HbpAuthSettings settings)
    : settings_(std::move(settings)),
      rng_(settings_.seed),
      slot_used_(settings_.max_clients, false) {
  settings_.max_sources = std::max<uint32_t>(settings_.max_sources, 1);
  settings_.max_pending = std::max<uint32_t>(settings_.max_pending, 1);
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
    id_by_addr_[AddrKey(r.addr)] = r.id;
    clients_.emplace(r.id, std::move(r));
  }
}

// ---------------------------------------------------------------------------------------------
// Dispatch.

void HbpAuth::OnPacket(proto::ByteSpan pkt, Endpoint from, TimeNs now, Outbox* out,
                       std::vector<AuthChange>* changes) {
  if (IsBlocked(from.ip, now)) {
    ++counters_.blocked_drops;
    return;
  }
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

void HbpAuth::OnRptl(uint32_t id, Endpoint from, TimeNs now, Outbox* out) {
  if (!Charge(from.ip, now)) return;
  if (id == kStatusProbeId) {
    // Server status probe (FreeDMR): answered like a login, nothing is kept.
    ++counters_.status_probes;
    Send(HbpType::kRptack, NextSalt(), from, out);
    return;
  }
  if (auto f = fixed_.find(id);
      f != fixed_.end() && !(settings_.fixed_clients[f->second].addr == from)) {
    // A fixed client's ID is reserved for its configured address.
    ++counters_.wrong_address;
    ErasePending(id);
    Send(HbpType::kMstnak, id, from, out);
    ++counters_.naks_sent;
    return;
  }
  if (!settings_.reg_acl.Permits(id)) {
    ++counters_.acl_denied;
    ErasePending(id);
    Send(HbpType::kMstnak, id, from, out);
    ++counters_.naks_sent;
    return;
  }
  const bool known = clients_.contains(id);
  if (!known && clients_.size() >= settings_.max_clients) {
    ++counters_.full;
    ErasePending(id);
    Send(HbpType::kMstnak, id, from, out);
    ++counters_.naks_sent;
    return;
  }
  // A new RPTL restarts any half-open login of this ID (new salt, new address).
  Pending* p = NewPending(id);
  p->state = LoginState::kChallengeSent;
  p->salt = NextSalt();
  p->addr = from;
  p->started = now;
  p->options.clear();
  ++counters_.challenges;
  Send(HbpType::kRptack, p->salt, from, out);
}

HbpAuth::Pending* HbpAuth::PendingAt(uint32_t id, Endpoint from, TimeNs now, Outbox* out) {
  auto it = pending_.find(id);
  if (it == pending_.end()) {
    ++counters_.unknown_id;
    Nak(id, from, now, out);
    return nullptr;
  }
  if (!(it->second.addr == from)) {
    ++counters_.wrong_address;
    Nak(id, from, now, out);
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
  Pending* pending = PendingAt(k.id, from, now, out);
  if (pending == nullptr) return;
  Pending& p = *pending;
  if (p.state != LoginState::kChallengeSent) {
    ++counters_.wrong_state;
    ErasePending(k.id);
    Nak(k.id, from, now, out);
    return;
  }
  if (!DigestOk(p.salt, k.digest.data())) {
    ++counters_.bad_digest;
    ErasePending(k.id);
    Nak(k.id, from, now, out);
    return;
  }
  ++counters_.auth_ok;
  p.state = LoginState::kWaitingConfig;
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
  Pending* pending = PendingAt(c.id, from, now, out);
  if (pending == nullptr) return;
  if (pending->state != LoginState::kWaitingConfig) {
    ++counters_.wrong_state;
    ErasePending(c.id);
    Nak(c.id, from, now, out);
    return;
  }
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
    ErasePending(c.id);
    Nak(c.id, from, now, out);
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
  id_by_addr_[AddrKey(from)] = r.id;
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

void HbpAuth::OnRpto(proto::ByteSpan pkt, Endpoint from, TimeNs now, Outbox* out,
                     std::vector<AuthChange>* changes) {
  proto::Rpto o;
  if (proto::DecodeRpto(pkt, &o) != proto::Reject::kOk) {
    ++counters_.malformed;
    return;
  }
  auto pit = pending_.find(o.id);
  auto cit = clients_.find(o.id);
  // An authenticated half-open login from its address: keep the options for the client-up.
  if (pit != pending_.end() && pit->second.addr == from) {
    if (pit->second.state == LoginState::kWaitingConfig) {
      ++counters_.options;
      pit->second.options = Trimmed(o.options);
      Send(HbpType::kRptack, o.id, from, out);
      return;
    }
    if (cit == clients_.end()) {
      ++counters_.wrong_state;
      ErasePending(o.id);
      Nak(o.id, from, now, out);
      return;
    }
  }
  if (cit == clients_.end() || !(cit->second.addr == from)) {
    if (pit != pending_.end() || cit != clients_.end()) {
      ++counters_.wrong_address;
    } else {
      ++counters_.unknown_id;
    }
    Nak(o.id, from, now, out);
    return;
  }
  ClientRecord& r = cit->second;
  ++counters_.options;
  r.options = Trimmed(o.options);
  changes->push_back(AuthChange{.kind = AuthChange::kOptions,
                                .id = r.id,
                                .slot = r.slot,
                                .addr = r.addr,
                                .slot_mask = r.slot_mask,
                                .options = r.options,
                                .reason = "options"});
  Send(HbpType::kRptack, o.id, from, out);
}

void HbpAuth::OnRptping(uint32_t id, Endpoint from, TimeNs now, Outbox* out) {
  auto it = clients_.find(id);
  if (it == clients_.end()) {
    ++counters_.unknown_id;
    Nak(id, from, now, out);
    return;
  }
  if (!(it->second.addr == from)) {
    ++counters_.wrong_address;
    Nak(id, from, now, out);
    return;
  }
  // The packet plane answers pings of clients in the snapshot; this one is not there yet.
  ++counters_.pongs_sent;
  Send(HbpType::kMstpong, id, from, out);
}

void HbpAuth::OnRptcl(uint32_t id, Endpoint from, TimeNs now, Outbox* out,
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
  if (pending_.contains(id) || clients_.contains(id)) {
    ++counters_.wrong_address;
  } else {
    ++counters_.unknown_id;
  }
  Nak(id, from, now, out);
}

void HbpAuth::OnSideInfo(proto::ByteSpan pkt, HbpType type, Endpoint from, TimeNs now) {
  // The 19/18-byte forms (via DMRGateway) name the client; the short forms are attributed by the
  // source address. Either way the address must be the client's login address.
  auto find_client = [&](bool has_id, uint32_t id) -> ClientRecord* {
    if (!has_id) {
      auto a = id_by_addr_.find(AddrKey(from));
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

void HbpAuth::Expire(TimeNs now, Outbox* /*out*/, std::vector<AuthChange>* /*changes*/) {
  std::vector<uint32_t> expired;
  for (const auto& [id, p] : pending_) {
    if (now - std::min(now, p.started) >= settings_.login_timeout) expired.push_back(id);
  }
  for (uint32_t id : expired) {
    ++counters_.login_timeouts;
    ErasePending(id);
  }
  expired.clear();
  for (const auto& [ip, s] : sources_) {
    const bool block_over = s.blocked_until == 0 || now >= s.blocked_until;
    const bool window_over = now - std::min(now, s.window_start) >= settings_.login_window;
    if (block_over && window_over) expired.push_back(ip);
  }
  for (uint32_t ip : expired) EraseSource(ip);
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
  for (const auto& [id, r] : clients_) id_by_addr_[AddrKey(r.addr)] = id;
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

bool HbpAuth::IsBlocked(uint32_t ip, TimeNs now) const {
  auto it = sources_.find(ip);
  return it != sources_.end() && it->second.blocked_until != 0 && now < it->second.blocked_until;
}

// ---------------------------------------------------------------------------------------------
// Helpers.

bool HbpAuth::Charge(uint32_t ip, TimeNs now) {
  if (settings_.login_burst == 0) return true;  // rate limit disabled
  auto it = sources_.find(ip);
  if (it == sources_.end()) {
    if (sources_.size() >= settings_.max_sources) {
      // Evict a random source that is not blocked; if every sample is blocked, the table is
      // full of blocked sources and this packet is dropped.
      bool evicted = false;
      for (int i = 0; i < kEvictionSamples && !evicted; ++i) {
        const uint32_t victim = source_ips_[NextRandom() % source_ips_.size()];
        const Source& s = sources_.at(victim);
        if (s.blocked_until == 0 || now >= s.blocked_until) {
          EraseSource(victim);
          evicted = true;
        }
      }
      if (!evicted) {
        ++counters_.sources_full;
        return false;
      }
    }
    it = sources_.emplace(ip, Source{.window_start = now, .dense = source_ips_.size()}).first;
    source_ips_.push_back(ip);
  }
  Source& s = it->second;
  if (s.blocked_until != 0) {
    if (now < s.blocked_until) {
      ++counters_.blocked_drops;
      return false;
    }
    s.blocked_until = 0;  // block over: a fresh window
    s.window_start = now;
    s.charged = 0;
  }
  if (now - std::min(now, s.window_start) >= settings_.login_window) {
    s.window_start = now;
    s.charged = 0;
  }
  if (++s.charged > settings_.login_burst) {
    s.blocked_until = now + settings_.block_time;
    ++counters_.rate_limited;
    blocked_.push_back(SourceBlocked{ip, now, settings_.block_time});
    ++counters_.blocked_drops;
    return false;
  }
  return true;
}

void HbpAuth::Nak(uint32_t id, Endpoint to, TimeNs now, Outbox* out) {
  if (!Charge(to.ip, now)) return;
  ++counters_.naks_sent;
  Send(HbpType::kMstnak, id, to, out);
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

void HbpAuth::EraseSource(uint32_t ip) {
  auto it = sources_.find(ip);
  if (it == sources_.end()) return;
  if (const uint32_t* moved = SwapRemove(&source_ips_, it->second.dense)) {
    sources_.at(*moved).dense = it->second.dense;
  }
  sources_.erase(it);
}

void HbpAuth::RemoveClient(uint32_t id, const char* reason, std::vector<AuthChange>* changes) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  const ClientRecord& r = it->second;
  if (auto a = id_by_addr_.find(AddrKey(r.addr)); a != id_by_addr_.end() && a->second == id) {
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

uint32_t HbpAuth::NextSalt() {
  if (settings_.salt_source) return settings_.salt_source();
  return static_cast<uint32_t>(rng_() >> 32);
}

uint64_t HbpAuth::NextRandom() { return rng_(); }

bool HbpAuth::DigestOk(uint32_t salt, const uint8_t* digest) const {
  if (settings_.passphrase.empty() && settings_.allow_null_passphrase) return true;
  const auto want = proto::HbpLoginDigest(salt, settings_.passphrase);
  return proto::ConstantTimeEqual(want.data(), digest, want.size());
}

}  // namespace dmrswitch::cp
