#include "ctrlplane/subscriptions/subscriptions.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "dataplane/proto/crypto.h"

namespace dmrswitch::cp {
namespace {

using route::kTs1;
using route::kTs2;
using route::TimeNs;

constexpr TimeNs kMinute = 60 * route::kSec;
// FreeDMR's "infinite" timer is 35791394 minutes; at or beyond it a timer never expires.
constexpr uint32_t kNeverMinutes = 35791394;

TimeNs MinutesToTimer(uint32_t minutes) {
  return minutes == 0 || minutes >= kNeverMinutes ? 0 : TimeNs{minutes} * kMinute;
}

// now + timer, saturating; a zero timer never expires.
TimeNs Deadline(TimeNs now, TimeNs timer) {
  if (timer == 0 || now >= kNever - timer) return kNever;
  return now + timer;
}

bool Contains(const std::vector<uint32_t>& sorted, uint32_t tg) {
  return std::binary_search(sorted.begin(), sorted.end(), tg);
}

void InsertSorted(std::vector<uint32_t>* sorted, uint32_t tg) {
  auto it = std::lower_bound(sorted->begin(), sorted->end(), tg);
  if (it == sorted->end() || *it != tg) sorted->insert(it, tg);
}

bool IsValidStatic(uint32_t tg) { return route::IsValidStaticTg(tg); }

const char* SlotName(unsigned ts) { return ts == kTs1 ? "TS1" : "TS2"; }

}  // namespace

Subscriptions::Subscriptions(SubscriptionSettings settings) : settings_(std::move(settings)) {}

// ---------------------------------------------------------------------------------------------
// Helpers

TimeNs Subscriptions::UaTimer(const Client& c) const {
  return c.ua_timer.value_or(settings_.default_ua_timer);
}

bool Subscriptions::SingleMode(const Client& c) const {
  return c.single.value_or(settings_.single_mode);
}

bool Subscriptions::IsStatic(const Client& c, unsigned ts, uint32_t tg) {
  return Contains(c.config_statics[ts], tg) || Contains(c.option_statics[ts], tg);
}

bool Subscriptions::IsSuspended(const Client& c, unsigned ts, uint32_t tg) {
  const Suspension& s = c.suspension[ts];
  return s.until != 0 && tg != s.except_tg;
}

uint32_t Subscriptions::EffectiveDial(const Client& c, DialKind* kind) {
  DialKind k = DialKind::kNone;
  uint32_t tg = 0;
  if (c.dialled_tg != 0) {
    k = DialKind::kDialled;
    tg = c.dialled_tg;
  } else if (c.default_dial != 0 && !c.default_unlinked && !IsSuspended(c, kTs2, c.default_dial)) {
    k = DialKind::kDefault;
    tg = c.default_dial;
  }
  if (kind != nullptr) *kind = k;
  return tg;
}

TgsBySlot Subscriptions::MergedStatics(const Client& c) {
  TgsBySlot out;
  for (unsigned ts = 0; ts < 2; ++ts) {
    std::vector<uint32_t>& v = out[ts];
    std::set_union(c.config_statics[ts].begin(), c.config_statics[ts].end(),
                   c.option_statics[ts].begin(), c.option_statics[ts].end(), std::back_inserter(v));
    v.erase(std::unique(v.begin(), v.end()), v.end());
  }
  return out;
}

Subscriptions::Effective Subscriptions::EffectiveOf(const Client& c) {
  Effective e;
  const TgsBySlot statics = MergedStatics(c);
  for (unsigned ts = 0; ts < 2; ++ts) {
    if ((c.slot_mask & (1u << ts)) == 0) continue;
    for (uint32_t tg : statics[ts]) {
      if (!IsSuspended(c, ts, tg)) e.members.push_back({static_cast<uint8_t>(ts), tg, 0});
    }
  }
  for (const Ua& u : c.ua) {
    if ((c.slot_mask & (1u << u.ts)) == 0 || IsStatic(c, u.ts, u.tg)) continue;
    e.members.push_back({u.ts, u.tg, u.expires_at});
  }
  std::sort(e.members.begin(), e.members.end(), [](const UaMembership& a, const UaMembership& b) {
    return a.ts != b.ts ? a.ts < b.ts : a.tg < b.tg;
  });
  if ((c.slot_mask & (1u << kTs2)) != 0) e.dial = EffectiveDial(c, nullptr);
  return e;
}

template <typename F>
bool Subscriptions::Mutate(Client& c, F&& f) {
  const Effective before = EffectiveOf(c);
  const TimeNs dial_expiry_before = c.dialled_expires_at;
  const std::array<Suspension, 2> suspension_before = c.suspension;
  f();
  const Effective after = EffectiveOf(c);
  next_expiry_valid_ = false;
  bool members_changed = before.dial != after.dial || before.members.size() != after.members.size();
  for (size_t i = 0; !members_changed && i < before.members.size(); ++i) {
    members_changed =
        before.members[i].ts != after.members[i].ts || before.members[i].tg != after.members[i].tg;
  }
  if (members_changed) {
    changed_ = true;
    changed_clients_.insert(c.id);
  } else if (before.members != after.members || c.dialled_expires_at != dial_expiry_before ||
             c.suspension != suspension_before) {
    timers_changed_ = true;
    timer_changed_clients_.insert(c.id);
  }
  return members_changed;
}

Subscriptions::Client* Subscriptions::Find(const route::Event& e) {
  if (!e.source.is_client()) return nullptr;
  auto it = clients_.find(e.source_id);
  if (it == clients_.end() || it->second.slot != e.source.index) return nullptr;
  return &it->second;
}

void Subscriptions::Reset(Client& c, uint32_t slot, uint8_t slot_mask) {
  const uint32_t id = c.id;
  c = Client{};
  c.id = id;
  c.slot = slot;
  c.slot_mask = slot_mask;
}

void Subscriptions::SetConfigStatics(Client& c, std::vector<std::string>* warnings) {
  c.config_statics = {};
  auto it = settings_.statics.find(c.id);
  if (it == settings_.statics.end()) return;
  for (unsigned ts = 0; ts < 2; ++ts) {
    for (uint32_t tg : it->second[ts]) {
      if (!IsValidStatic(tg)) {
        warnings->push_back(absl::StrCat("client ", c.id, ": configured ", SlotName(ts),
                                         " static TG ", tg, " cannot be subscribed, ignored"));
        continue;
      }
      InsertSorted(&c.config_statics[ts], tg);
    }
  }
}

void Subscriptions::WarnSlotMask(Client& c, std::vector<std::string>* warnings) {
  const TgsBySlot statics = MergedStatics(c);
  for (unsigned ts = 0; ts < 2; ++ts) {
    if ((c.slot_mask & (1u << ts)) != 0) continue;
    for (uint32_t tg : statics[ts]) {
      const uint64_t key = (uint64_t{ts} << 32) | tg;
      if (std::find(c.warned.begin(), c.warned.end(), key) != c.warned.end()) continue;
      c.warned.push_back(key);
      warnings->push_back(absl::StrCat("client ", c.id, ": ", SlotName(ts), " static TG ", tg,
                                       " is not subscribed: the client has no ", SlotName(ts)));
    }
  }
}

namespace {

// UA memberships that a static on the same slot now covers are redundant.
template <typename ClientT>
void DropShadowedUa(ClientT& c) {
  std::erase_if(c.ua, [&c](const auto& u) {
    return Contains(c.config_statics[u.ts], u.tg) || Contains(c.option_statics[u.ts], u.tg);
  });
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Settings, logins, options

void Subscriptions::UpdateSettings(SubscriptionSettings settings) {
  settings_ = std::move(settings);
  for (auto& [id, c] : clients_) {
    Mutate(c, [&, &c = c] {
      SetConfigStatics(c, &pending_warnings_);
      DropShadowedUa(c);
      if (!SingleMode(c)) c.suspension = {};
    });
    WarnSlotMask(c, &pending_warnings_);
  }
}

void Subscriptions::OnClientUp(uint32_t id, uint32_t slot, uint8_t slot_mask,
                               route::TimeNs /*now*/) {
  if (auto it = clients_.find(id); it != clients_.end()) {
    if (auto s = by_slot_.find(it->second.slot); s != by_slot_.end() && s->second == id) {
      by_slot_.erase(s);
    }
  }
  if (auto s = by_slot_.find(slot); s != by_slot_.end() && s->second != id) {
    clients_.erase(s->second);
    keys_.erase(s->second);
    by_slot_.erase(s);
  }
  // A new session: no KEY latched yet.
  keys_.erase(id);
  Client& c = clients_[id];
  c.id = id;
  Reset(c, slot, slot_mask);
  SetConfigStatics(c, &pending_warnings_);
  WarnSlotMask(c, &pending_warnings_);
  by_slot_[slot] = id;
  changed_ = true;
  changed_clients_.insert(id);
  next_expiry_valid_ = false;
}

void Subscriptions::OnClientDown(uint32_t id) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  if (auto s = by_slot_.find(it->second.slot); s != by_slot_.end() && s->second == id) {
    by_slot_.erase(s);
  }
  clients_.erase(it);
  keys_.erase(id);  // the KEY latch ends with the session
  changed_ = true;
  changed_clients_.insert(id);
  next_expiry_valid_ = false;
}

namespace {

// The KEY check of an options string against the latched key of `id`, if any.
absl::Status KeyCheck(uint32_t id, const ClientOptions& o,
                      const absl::flat_hash_map<uint32_t, Subscriptions::LatchedKey>& keys) {
  auto key = keys.find(id);
  if (key == keys.end()) return absl::OkStatus();
  if (!o.key) {
    return absl::PermissionDeniedError(
        absl::StrCat("client ", id, ": options without the client's KEY are refused"));
  }
  if (!proto::ConstantTimeEqual(proto::SecretDigest(*o.key).data(), key->second.digest.data(),
                                proto::kSecretDigestBytes)) {
    return absl::PermissionDeniedError(
        absl::StrCat("client ", id, ": options with a different KEY are refused"));
  }
  return absl::OkStatus();
}

// Applies the parsed options (not the KEY) to a client record.
template <typename ClientT>
void ApplyParsed(ClientT& c, const ClientOptions& o) {
  for (unsigned ts = 0; ts < 2; ++ts) {
    if (o.statics[ts]) c.option_statics[ts] = *o.statics[ts];
  }
  DropShadowedUa(c);
  if (o.dial) {
    c.default_dial = *o.dial;
    c.dialled_tg = 0;
    c.dialled_expires_at = 0;
  }
  c.default_unlinked = false;
  if (o.timer_minutes) c.ua_timer = MinutesToTimer(*o.timer_minutes);
  if (o.single) c.single = *o.single;
  if (o.voice) c.voice = *o.voice;
  if (o.ident_tg) c.ident_tg = *o.ident_tg;
  if (o.lang) c.lang = *o.lang;
}

}  // namespace

absl::Status Subscriptions::ApplyOptions(uint32_t id, std::string_view options, route::TimeNs now,
                                         std::vector<std::string>* warnings, OptionsFrom from) {
  (void)now;
  auto it = clients_.find(id);
  if (it == clients_.end()) {
    return absl::NotFoundError(absl::StrCat("options for client ", id, ", which is not logged in"));
  }
  absl::StatusOr<ClientOptions> parsed = ParseOptions(options);
  if (!parsed.ok()) {
    return absl::Status(parsed.status().code(),
                        absl::StrCat("client ", id, ": ", parsed.status().message()));
  }
  const ClientOptions& o = *parsed;
  // The operator's options never touch the latch: the key is the hotspot's own (its RPTO).
  if (from == OptionsFrom::kClient) {
    if (absl::Status st = KeyCheck(id, o, keys_); !st.ok()) return st;
    if (o.key && !keys_.contains(id)) keys_.emplace(id, LatchedKey::Of(*o.key));
  }

  std::vector<std::string>* out = warnings != nullptr ? warnings : &pending_warnings_;
  for (const std::string& w : o.warnings) out->push_back(absl::StrCat("client ", id, ": ", w));
  Client& c = it->second;
  Mutate(c, [&] {
    ApplyParsed(c, o);
    if (!SingleMode(c)) c.suspension = {};
  });
  WarnSlotMask(c, out);
  if (o.dial && *o.dial != 0 && (c.slot_mask & (1u << kTs2)) == 0) {
    out->push_back(
        absl::StrCat("client ", id, ": DIAL=", *o.dial, " is not linked: the client has no TS2"));
  }
  return absl::OkStatus();
}

absl::Status Subscriptions::CheckOptions(uint32_t id, std::string_view options,
                                         bool new_session) const {
  absl::StatusOr<ClientOptions> parsed = ParseOptions(options);
  if (!parsed.ok()) {
    return absl::Status(parsed.status().code(),
                        absl::StrCat("client ", id, ": ", parsed.status().message()));
  }
  // A login's own options start a new session: the old session's latch ends with it.
  if (new_session) return absl::OkStatus();
  return KeyCheck(id, *parsed, keys_);
}

bool Subscriptions::CheckKey(uint32_t id, std::string_view key) const {
  auto it = keys_.find(id);
  return it != keys_.end() &&
         proto::ConstantTimeEqual(proto::SecretDigest(key).data(), it->second.digest.data(),
                                  proto::kSecretDigestBytes);
}

bool Subscriptions::IsAnyKey(std::string_view key) const {
  // One digest, compared with every latched key's: cheap for any number of clients.
  const auto digest = proto::SecretDigest(key);
  bool any = false;
  for (const auto& [id, k] : keys_) {
    any |= proto::ConstantTimeEqual(digest.data(), k.digest.data(), proto::kSecretDigestBytes);
  }
  return any;
}

absl::Status Subscriptions::DropDynamic(uint32_t id, uint8_t ts_mask) {
  auto it = clients_.find(id);
  if (it == clients_.end()) {
    return absl::NotFoundError(absl::StrCat("client ", id, " is not logged in"));
  }
  Client& c = it->second;
  Mutate(c, [&] {
    std::erase_if(c.ua, [ts_mask](const Ua& u) { return (ts_mask & (1u << u.ts)) != 0; });
    if ((ts_mask & (1u << kTs2)) != 0) {
      c.dialled_tg = 0;
      c.dialled_expires_at = 0;
    }
  });
  return absl::OkStatus();
}

void Subscriptions::ForgetKey(uint32_t id) { keys_.erase(id); }

// ---------------------------------------------------------------------------------------------
// Events

void Subscriptions::ApplySingle(Client& c, unsigned ts, uint32_t in_use, route::TimeNs now) {
  if (!SingleMode(c)) return;
  std::erase_if(c.ua, [ts, in_use](const Ua& u) { return u.ts == ts && u.tg != in_use; });
  if (ts == kTs2 && c.dialled_tg != 0 && c.dialled_tg != in_use) {
    c.dialled_tg = 0;
    c.dialled_expires_at = 0;
  }
  const bool has_statics = !c.config_statics[ts].empty() || !c.option_statics[ts].empty() ||
                           (ts == kTs2 && c.default_dial != 0);
  if (has_statics) c.suspension[ts] = Suspension{Deadline(now, UaTimer(c)), in_use};
}

void Subscriptions::Activate(Client& c, unsigned ts, uint32_t tg, route::TimeNs now) {
  if (ts > kTs2 || (c.slot_mask & (1u << ts)) == 0 || !route::IsUserActivatableTg(tg)) return;
  Mutate(c, [&] {
    if (!IsStatic(c, ts, tg)) {
      const TimeNs expires = Deadline(now, UaTimer(c));
      auto it = std::find_if(c.ua.begin(), c.ua.end(),
                             [&](const Ua& u) { return u.ts == ts && u.tg == tg; });
      if (it != c.ua.end()) {
        it->expires_at = std::max(it->expires_at, expires);
      } else {
        if (c.ua.size() >= kMaxUaPerClient) {
          c.ua.erase(std::min_element(c.ua.begin(), c.ua.end(), [](const Ua& a, const Ua& b) {
            return a.expires_at < b.expires_at;
          }));
        }
        c.ua.push_back(Ua{static_cast<uint8_t>(ts), tg, expires});
      }
    }
    ApplySingle(c, ts, tg, now);
  });
}

void Subscriptions::Traffic(Client& c, const route::Event& e, route::TimeNs now) {
  const unsigned ts = e.ts;
  const uint32_t tg = e.tg;  // the conference: the dialled TG for TG 9 on TS2
  if (ts > kTs2 || e.call_type != 0 || tg == 0) return;
  const uint32_t dial = EffectiveDial(c, nullptr);
  const bool via_dial = ts == kTs2 && dial != 0 && tg == dial;
  if (ts == kTs2 && e.dst == route::kDialTg && !via_dial) return;  // the link is gone or changed
  if (!via_dial && !route::IsUserActivatableTg(tg)) return;
  Mutate(c, [&] {
    const TimeNs expires = Deadline(now, UaTimer(c));
    for (Ua& u : c.ua) {
      if (u.ts == ts && u.tg == tg) u.expires_at = std::max(u.expires_at, expires);
    }
    if (via_dial && c.dialled_tg == tg) {
      c.dialled_expires_at = std::max(c.dialled_expires_at, expires);
    }
    if (!IsStale(c, e)) ApplySingle(c, ts, tg, now);
  });
}

void Subscriptions::NoteStart(Client& c, const route::Event& e) {
  if (e.ts > kTs2) return;
  auto& recent = c.recent[e.ts];
  RecentStream* oldest = &recent[0];
  for (RecentStream& r : recent) {
    if (r.stream_id == e.stream_id && r.start != 0) {
      r.start = e.at;  // a new header under the same stream ID starts it over
      return;
    }
    if (r.start < oldest->start) oldest = &r;
  }
  *oldest = RecentStream{e.stream_id, e.at};
}

bool Subscriptions::IsStale(const Client& c, const route::Event& e) {
  if (e.ts > kTs2) return false;
  const auto& recent = c.recent[e.ts];
  const auto self = std::find_if(recent.begin(), recent.end(), [&](const RecentStream& r) {
    return r.start != 0 && r.stream_id == e.stream_id;
  });
  if (self == recent.end()) return false;  // its start was not seen (or forgotten): trust it
  return std::any_of(recent.begin(), recent.end(), [&](const RecentStream& r) {
    return r.start > self->start && r.stream_id != e.stream_id;
  });
}

void Subscriptions::OnEvent(const route::Event& e, route::TimeNs now) {
  Client* c = Find(e);
  if (c == nullptr) return;
  const bool at_start = settings_.activate_on == route::ActivateOn::kStart;
  switch (e.type) {
    case route::EventType::kSubscriptionRequest:
      switch (e.action) {
        case route::SubscriptionAction::kActivateUa:
          // A newer call on the slot would have dropped this activation in single mode.
          if (!(SingleMode(*c) && IsStale(*c, e))) Activate(*c, e.ts, e.tg, now);
          break;
        case route::SubscriptionAction::kDial: {
          const uint32_t tg = e.tg;
          if (!route::IsDialableTg(tg) || (c->slot_mask & (1u << kTs2)) == 0) break;
          Mutate(*c, [&] {
            c->dialled_tg = tg;
            if (tg == c->default_dial) {
              c->dialled_expires_at = kNever;
              c->default_unlinked = false;
            } else {
              c->dialled_expires_at = Deadline(now, UaTimer(*c));
            }
          });
          break;
        }
        case route::SubscriptionAction::kUnlink:
          Mutate(*c, [&] {
            c->dialled_tg = 0;
            c->dialled_expires_at = 0;
            c->default_unlinked = true;
          });
          break;
        case route::SubscriptionAction::kNone:
        case route::SubscriptionAction::kStatus:
        case route::SubscriptionAction::kRejectDial:
          break;
      }
      break;
    case route::EventType::kStreamEnded:
      Traffic(*c, e, now);
      break;
    case route::EventType::kStreamStarted:
      NoteStart(*c, e);
      if (at_start) Traffic(*c, e, now);
      break;
    case route::EventType::kStreamLost:
      if (at_start) Traffic(*c, e, now);
      break;
    case route::EventType::kSourceQuenchSent:
    case route::EventType::kSourceQuenchReceived:
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// Timers

bool Subscriptions::Expire(route::TimeNs now) {
  if (now < NextExpiry()) return false;
  bool any = false;
  for (auto& [id, c] : clients_) {
    const bool due =
        std::any_of(c.ua.begin(), c.ua.end(), [now](const Ua& u) { return u.expires_at <= now; }) ||
        (c.dialled_tg != 0 && c.dialled_expires_at <= now) ||
        (c.suspension[0].until != 0 && c.suspension[0].until <= now) ||
        (c.suspension[1].until != 0 && c.suspension[1].until <= now);
    if (!due) continue;
    any |= Mutate(c, [&, &c = c] {
      std::erase_if(c.ua, [now](const Ua& u) { return u.expires_at <= now; });
      if (c.dialled_tg != 0 && c.dialled_expires_at <= now) {
        c.dialled_tg = 0;
        c.dialled_expires_at = 0;
      }
      for (Suspension& s : c.suspension) {
        if (s.until != 0 && s.until <= now) s = Suspension{};
      }
    });
  }
  next_expiry_valid_ = false;
  return any;
}

route::TimeNs Subscriptions::NextExpiry() const {
  if (next_expiry_valid_) return next_expiry_;
  TimeNs next = kNever;
  for (const auto& [id, c] : clients_) {
    for (const Ua& u : c.ua) next = std::min(next, u.expires_at);
    if (c.dialled_tg != 0) next = std::min(next, c.dialled_expires_at);
    for (const Suspension& s : c.suspension) {
      if (s.until != 0) next = std::min(next, s.until);
    }
  }
  next_expiry_ = next;
  next_expiry_valid_ = true;
  return next;
}

bool Subscriptions::TakeChanged() {
  const bool c = changed_;
  changed_ = false;
  if (c) timers_changed_ = false;
  return c;
}

bool Subscriptions::TakeTimersChanged() {
  const bool t = timers_changed_;
  timers_changed_ = false;
  return t;
}

std::vector<std::string> Subscriptions::TakeWarnings() {
  return std::exchange(pending_warnings_, {});
}

// ---------------------------------------------------------------------------------------------
// Snapshot, views, restore

absl::Status Subscriptions::AddTo(route::RouteSnapshotBuilder* b) const {
  auto annotate = [](const Client& c, const absl::Status& s) {
    return absl::Status(s.code(),
                        absl::StrCat("client ", c.id, " (slot ", c.slot, "): ", s.message()));
  };
  for (const auto& [id, c] : clients_) {
    const Effective e = EffectiveOf(c);
    for (const UaMembership& m : e.members) {
      const route::MemberKind kind =
          m.expires_at == 0 ? route::MemberKind::kStatic : route::MemberKind::kUserActivated;
      if (absl::Status s = b->Subscribe(c.slot, m.ts, m.tg, kind, m.expires_at); !s.ok()) {
        return annotate(c, s);
      }
    }
    if (e.dial != 0) {
      if (absl::Status s = b->SetDial(c.slot, e.dial); !s.ok()) return annotate(c, s);
    }
  }
  return absl::OkStatus();
}

ClientView Subscriptions::ViewOf(const Client& c) const {
  ClientView v;
  v.id = c.id;
  v.slot = c.slot;
  v.slot_mask = c.slot_mask;
  v.config_statics = c.config_statics;
  v.option_statics = c.option_statics;
  const TgsBySlot statics = MergedStatics(c);
  for (unsigned ts = 0; ts < 2; ++ts) {
    for (uint32_t tg : statics[ts]) {
      if (IsSuspended(c, ts, tg)) v.suspended[ts].push_back(tg);
    }
  }
  v.suspension = c.suspension;
  for (const Ua& u : c.ua) v.ua.push_back({u.ts, u.tg, u.expires_at});
  std::sort(v.ua.begin(), v.ua.end(), [](const UaMembership& a, const UaMembership& b) {
    return a.ts != b.ts ? a.ts < b.ts : a.tg < b.tg;
  });
  v.dial_tg = EffectiveDial(c, &v.dial_kind);
  v.dial_expires_at = v.dial_kind == DialKind::kDialled   ? c.dialled_expires_at
                      : v.dial_kind == DialKind::kDefault ? kNever
                                                          : 0;
  v.default_dial = c.default_dial;
  v.default_unlinked = c.default_unlinked;
  v.single_mode = SingleMode(c);
  v.ua_timer = UaTimer(c);
  v.voice = c.voice;
  v.ident_tg = c.ident_tg;
  v.lang = c.lang;
  v.key_latched = keys_.contains(c.id);
  return v;
}

std::optional<ClientView> Subscriptions::View(uint32_t id) const {
  auto it = clients_.find(id);
  if (it == clients_.end()) return std::nullopt;
  return ViewOf(it->second);
}

std::vector<ClientView> Subscriptions::Views() const {
  std::vector<ClientView> out;
  out.reserve(clients_.size());
  for (const auto& [id, c] : clients_) out.push_back(ViewOf(c));
  std::sort(out.begin(), out.end(),
            [](const ClientView& a, const ClientView& b) { return a.id < b.id; });
  return out;
}

RestoredClient Subscriptions::ExportOf(const Client& c) const {
  RestoredClient r;
  r.id = c.id;
  r.slot = c.slot;
  r.slot_mask = c.slot_mask;
  std::vector<std::string> opts;
  for (unsigned ts = 0; ts < 2; ++ts) {
    if (!c.option_statics[ts].empty()) {
      opts.push_back(absl::StrCat(SlotName(ts), "=", absl::StrJoin(c.option_statics[ts], ",")));
    }
  }
  if (c.default_dial != 0) opts.push_back(absl::StrCat("DIAL=", c.default_dial));
  if (c.ua_timer) opts.push_back(absl::StrCat("TIMER=", *c.ua_timer / kMinute));
  if (c.single) opts.push_back(absl::StrCat("SINGLE=", *c.single ? 1 : 0));
  if (c.voice) opts.push_back(absl::StrCat("VOICE=", *c.voice ? 1 : 0));
  if (c.ident_tg) opts.push_back(absl::StrCat("IDENTTG=", *c.ident_tg));
  if (c.lang) opts.push_back(absl::StrCat("LANG=", *c.lang));
  if (auto k = keys_.find(c.id); k != keys_.end())
    opts.push_back(absl::StrCat("KEY=", k->second.key));
  r.options = absl::StrJoin(opts, ";");
  for (unsigned ts = 0; ts < 2; ++ts) {
    for (uint32_t tg : c.option_statics[ts]) r.members.push_back({static_cast<uint8_t>(ts), tg, 0});
  }
  for (const Ua& u : c.ua) r.members.push_back({u.ts, u.tg, u.expires_at});
  if (c.dialled_tg != 0) {
    r.dial_tg = c.dialled_tg;
    r.dial_expires_at = c.dialled_expires_at;
  } else {
    r.dial_tg = c.default_dial;
    r.dial_expires_at = 0;
  }
  r.default_unlinked = c.default_unlinked;
  r.suspension = c.suspension;
  return r;
}

std::vector<RestoredClient> Subscriptions::Export() const {
  std::vector<RestoredClient> out;
  out.reserve(clients_.size());
  for (const auto& [id, c] : clients_) out.push_back(ExportOf(c));
  std::sort(out.begin(), out.end(),
            [](const RestoredClient& a, const RestoredClient& b) { return a.id < b.id; });
  return out;
}

std::optional<RestoredClient> Subscriptions::ExportClient(uint32_t id) const {
  auto it = clients_.find(id);
  if (it == clients_.end()) return std::nullopt;
  return ExportOf(it->second);
}

std::vector<uint32_t> Subscriptions::TakeChangedClients() {
  std::vector<uint32_t> out(changed_clients_.begin(), changed_clients_.end());
  changed_clients_.clear();
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<uint32_t> Subscriptions::TakeTimerChangedClients() {
  std::vector<uint32_t> out(timer_changed_clients_.begin(), timer_changed_clients_.end());
  timer_changed_clients_.clear();
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<Subscriptions::Memberships> Subscriptions::MembershipsOf(uint32_t id) const {
  auto it = clients_.find(id);
  if (it == clients_.end()) return std::nullopt;
  const Effective e = EffectiveOf(it->second);
  Memberships m;
  m.dial_tg = e.dial;
  m.members.reserve(e.members.size());
  for (const UaMembership& u : e.members) {
    m.members.push_back(route::MemberSpec{
        u.ts, u.tg,
        u.expires_at == 0 ? route::MemberKind::kStatic : route::MemberKind::kUserActivated,
        u.expires_at});
  }
  return m;
}

void Subscriptions::Restore(std::span<const RestoredClient> clients, route::TimeNs now) {
  for (const RestoredClient& r : clients) {
    if (r.id == 0) continue;
    OnClientUp(r.id, r.slot, r.slot_mask, now);
    Client& c = clients_[r.id];
    if (!r.options.empty()) {
      absl::StatusOr<ClientOptions> o = ParseOptions(r.options);
      if (o.ok()) {
        if (o->key && !keys_.contains(r.id)) keys_.emplace(r.id, LatchedKey::Of(*o->key));
        ApplyParsed(c, *o);
      } else {
        pending_warnings_.push_back(
            absl::StrCat("client ", r.id, ": restored options: ", o.status().message()));
      }
    }
    for (const RestoredMember& m : r.members) {
      if (m.ts > kTs2 || !route::IsUserActivatableTg(m.tg) || IsStatic(c, m.ts, m.tg)) continue;
      if (m.ua_expires_at == 0) {
        if (!IsValidStatic(m.tg)) continue;
        InsertSorted(&c.option_statics[m.ts], m.tg);
        DropShadowedUa(c);
      } else if (c.ua.size() < kMaxUaPerClient &&
                 std::none_of(c.ua.begin(), c.ua.end(),
                              [&](const Ua& u) { return u.ts == m.ts && u.tg == m.tg; })) {
        c.ua.push_back(Ua{m.ts, m.tg, m.ua_expires_at});
      }
    }
    if (r.dial_tg != 0 && route::IsDialableTg(r.dial_tg)) {
      if (r.dial_expires_at == 0) {
        c.default_dial = r.dial_tg;
        c.dialled_tg = 0;
        c.dialled_expires_at = 0;
      } else {
        c.dialled_tg = r.dial_tg;
        c.dialled_expires_at = r.dial_expires_at;
      }
    }
    c.default_unlinked = r.default_unlinked;
    if (SingleMode(c)) c.suspension = r.suspension;
    WarnSlotMask(c, &pending_warnings_);
    changed_clients_.insert(r.id);
  }
  changed_ = true;
  next_expiry_valid_ = false;
}

}  // namespace dmrswitch::cp
