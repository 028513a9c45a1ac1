#include "ctrlplane/login/obp_links.h"

#include <algorithm>
#include <cstdint>
#include <span>
#include <utility>

#include "dataplane/proto/obp.h"

namespace dmrswitch::cp {
namespace {

using route::Endpoint;
using route::TimeNs;

std::span<const uint8_t> KeyBytes(const std::array<uint8_t, proto::kObpKeyBytes>& key) {
  return {key.data(), key.size()};
}

void Add(ObpLinkCounters* sum, const ObpLinkCounters& c) {
  sum->bcka_sent += c.bcka_sent;
  sum->bcve_sent += c.bcve_sent;
  sum->bcve_answers += c.bcve_answers;
  sum->bcve_answers_suppressed += c.bcve_answers_suppressed;
  sum->bcka_rx += c.bcka_rx;
  sum->bcve_rx += c.bcve_rx;
  sum->bcst_rx += c.bcst_rx;
  sum->targets_learned += c.targets_learned;
  sum->bcka_elsewhere += c.bcka_elsewhere;
  sum->bad_mac += c.bad_mac;
  sum->malformed += c.malformed;
  sum->refused += c.refused;
  sum->unknown_peer += c.unknown_peer;
  sum->traffic += c.traffic;
  sum->became_alive += c.became_alive;
  sum->became_dead += c.became_dead;
}

// Counts a decoder's refusal; true if the packet is valid.
bool Valid(proto::Reject r, ObpLinkCounters* c) {
  if (r == proto::Reject::kOk) return true;
  if (r == proto::Reject::kBadMac) {
    ++c->bad_mac;
  } else {
    ++c->malformed;
  }
  return false;
}

}  // namespace

ObpLinks::Peer::Peer(const LinkConfig& config)
    : hmac(KeyBytes(proto::ObpKeyFromPassphrase(config.spec.passphrase))),
      blake2b(KeyBytes(proto::ObpKeyFromPassphrase(config.spec.passphrase))) {
  const route::PeerSpec& spec = config.spec;
  state.spec = spec;
  state.timers = config.timers;
  state.configured_target = spec.target;
  // FBP peers are alive once heard; classic OBP has no keepalive.
  state.spec.alive = !IsFbp(spec);
}

ObpLinks::ObpLinks(std::vector<LinkConfig> peers, ObpLinksSettings settings) : settings_(settings) {
  peers_.reserve(peers.size());
  for (const LinkConfig& c : peers) peers_.emplace_back(c);
}

namespace {
std::vector<LinkConfig> WithTimers(std::vector<route::PeerSpec> peers, const LinkTimers& t) {
  std::vector<LinkConfig> out;
  out.reserve(peers.size());
  for (route::PeerSpec& s : peers) out.push_back(LinkConfig{std::move(s), t});
  return out;
}
}  // namespace

ObpLinks::ObpLinks(std::vector<route::PeerSpec> peers, ObpLinksSettings settings)
    : ObpLinks(WithTimers(std::move(peers), settings.timers), settings) {}

void ObpLinks::Reconfigure(std::vector<route::PeerSpec> peers) {
  Reconfigure(WithTimers(std::move(peers), settings_.timers));
}

void ObpLinks::OnPacket(uint32_t peer, proto::ByteSpan pkt, Endpoint from, TimeNs now,
                        Outbox* out) {
  if (peer >= peers_.size()) {
    ++removed_counters_.unknown_peer;
    return;
  }
  Peer& p = peers_[peer];
  ObpLinkState& st = p.state;
  ObpLinkCounters& c = st.counters;
  switch (proto::ClassifyObp(pkt)) {
    case proto::ObpType::kBcka: {
      if (!Valid(proto::DecodeBcka(pkt, p.hmac), &c)) return;
      if (!(from == st.spec.target)) {
        // A replay needs no key: it never moves the link, and without relax_checks it is not
        // even a sign of life.
        ++c.bcka_elsewhere;
        if (!st.spec.relax_checks) return;
      }
      ++c.bcka_rx;
      Heard(&p, now);
      return;
    }
    case proto::ObpType::kBcve: {
      uint8_t version = 0;
      if (!Valid(proto::DecodeBcve(pkt, p.hmac, &version), &c)) return;
      ++c.bcve_rx;
      st.peer_version = version;
      return;
    }
    case proto::ObpType::kBcst:
      if (!Valid(proto::DecodeBcst(pkt, p.hmac), &c)) return;
      ++c.bcst_rx;
      return;
    case proto::ObpType::kDmrd: {
      if (!IsFbp(st.spec)) {
        ++c.refused;  // the packet plane refused it (bad MAC, address, length)
        return;
      }
      proto::DmrdView v;
      if (!Valid(proto::DecodeObpV1(pkt, p.hmac, &v), &c)) return;
      // A classic peer on an FBP link: tell it our version (FreeDMR), not on every frame.
      if (st.bcve_answered &&
          now - std::min(now, st.last_bcve_answer) < settings_.bcve_answer_interval) {
        ++c.bcve_answers_suppressed;
        return;
      }
      st.bcve_answered = true;
      st.last_bcve_answer = now;
      ++c.bcve_answers;
      SendBcve(peer, from, out);
      return;
    }
    case proto::ObpType::kDmre: {
      // The packet plane routed this first packet of a new stream from an address other than
      // the target (route::Verdict::kRoutedToControl): fresh and not a replay. The MAC is checked
      // again here, so that nothing else can move a link.
      proto::DmreView v;
      if (!IsFbp(st.spec) || !st.spec.relax_checks) {
        ++c.refused;
        return;
      }
      if (!Valid(proto::DecodeDmre(pkt, p.blake2b, &v), &c)) return;
      if (!(from == st.spec.target)) {
        st.spec.target = from;
        ++c.targets_learned;
        changed_ = true;
        st.next_bcka = now;  // greet the new address promptly
      }
      Heard(&p, now);
      return;
    }
    case proto::ObpType::kBcsq:
    case proto::ObpType::kUnknown:
      ++c.refused;
      return;
  }
  ++c.refused;
}

void ObpLinks::OnTraffic(uint32_t peer, TimeNs now) {
  if (peer >= peers_.size()) {
    ++removed_counters_.unknown_peer;
    return;
  }
  ++peers_[peer].state.counters.traffic;
  Heard(&peers_[peer], now);
}

void ObpLinks::Tick(TimeNs now, Outbox* out) {
  for (uint32_t i = 0; i < peers_.size(); ++i) {
    Peer& p = peers_[i];
    ObpLinkState& st = p.state;
    if (!IsFbp(st.spec)) {
      SetAlive(&p, true);
      continue;
    }
    const bool heard_recently =
        st.last_heard != 0 && now - std::min(now, st.last_heard) < st.timers.dead_after;
    SetAlive(&p, heard_recently);
    if (!HasTarget(st.spec.target)) continue;
    if (now >= st.next_bcka) {
      Datagram d{.listener = Listener::Obp(i),
                 .addr = st.spec.target,
                 .bytes = std::vector<uint8_t>(proto::kBckaBytes)};
      d.bytes.resize(proto::EncodeBcka(p.hmac, d.bytes));
      out->push_back(std::move(d));
      ++st.counters.bcka_sent;
      st.next_bcka = now + st.timers.keepalive_interval;
    }
    if (now >= st.next_bcve) {
      SendBcve(i, st.spec.target, out);
      st.next_bcve = now + st.timers.bcve_interval;
    }
  }
}

bool ObpLinks::TakeChanged() { return std::exchange(changed_, false); }

std::vector<route::PeerSpec> ObpLinks::Specs() const {
  std::vector<route::PeerSpec> v;
  v.reserve(peers_.size());
  for (const Peer& p : peers_) v.push_back(p.state.spec);
  return v;
}

void ObpLinks::Reconfigure(std::vector<LinkConfig> peers) {
  // The running peer each configured one continues: the one of the same name, else one renamed
  // in place (same position, same listener and configured target, its old name gone).
  constexpr size_t kNew = SIZE_MAX;
  std::vector<size_t> from(peers.size(), kNew);
  std::vector<bool> kept(peers_.size(), false);
  for (size_t i = 0; i < peers.size(); ++i) {
    auto old = std::find_if(peers_.begin(), peers_.end(),
                            [&](const Peer& o) { return o.state.spec.name == peers[i].spec.name; });
    if (old == peers_.end()) continue;
    const size_t oi = static_cast<size_t>(old - peers_.begin());
    if (kept[oi]) continue;  // a duplicate name takes nothing twice
    kept[oi] = true;
    from[i] = oi;
  }
  for (size_t i = 0; i < peers.size() && i < peers_.size(); ++i) {
    const ObpLinkState& o = peers_[i].state;
    if (from[i] != kNew || kept[i] || o.spec.listener != peers[i].spec.listener ||
        !(o.configured_target == peers[i].spec.target)) {
      continue;
    }
    kept[i] = true;
    from[i] = i;
  }

  std::vector<Peer> next;
  next.reserve(peers.size());
  for (size_t i = 0; i < peers.size(); ++i) {
    const route::PeerSpec& s = peers[i].spec;
    Peer& n = next.emplace_back(peers[i]);
    if (from[i] == kNew) continue;
    const ObpLinkState& o = peers_[from[i]].state;
    ObpLinkState& st = n.state;
    st.counters = o.counters;
    st.last_heard = o.last_heard;
    st.peer_version = o.peer_version;
    st.last_bcve_answer = o.last_bcve_answer;
    st.bcve_answered = o.bcve_answered;
    if (s.target == o.configured_target) st.spec.target = o.spec.target;  // keep what we learned
    if (s.version == o.spec.version) {
      st.spec.alive = o.spec.alive;
      // Same link, same timers: keep the schedule. New timers start it over (a keepalive now,
      // then at the new period).
      if (st.spec.target == o.spec.target && st.timers == o.timers) {
        st.next_bcka = o.next_bcka;
        st.next_bcve = o.next_bcve;
      }
    }
  }
  for (size_t i = 0; i < peers_.size(); ++i) {
    if (!kept[i]) Add(&removed_counters_, peers_[i].state.counters);
  }
  peers_ = std::move(next);
  changed_ = true;
}

ObpLinkCounters ObpLinks::counters() const {
  ObpLinkCounters sum = removed_counters_;
  for (const Peer& p : peers_) Add(&sum, p.state.counters);
  return sum;
}

bool ObpLinks::Restore(std::string_view name, route::Endpoint target, bool alive, TimeNs now) {
  for (Peer& p : peers_) {
    if (p.state.spec.name != name) continue;
    if (HasTarget(target)) p.state.spec.target = target;
    if (alive) Heard(&p, now);
    changed_ = true;
    return true;
  }
  return false;
}

void ObpLinks::Heard(Peer* p, TimeNs now) {
  p->state.last_heard = std::max(p->state.last_heard, now);
  SetAlive(p, true);
}

void ObpLinks::SetAlive(Peer* p, bool alive) {
  if (p->state.spec.alive == alive) return;
  p->state.spec.alive = alive;
  if (alive) {
    ++p->state.counters.became_alive;
  } else {
    ++p->state.counters.became_dead;
  }
  changed_ = true;
}

void ObpLinks::SendBcve(uint32_t index, Endpoint to, Outbox* out) {
  Peer& p = peers_[index];
  Datagram d{.listener = Listener::Obp(index),
             .addr = to,
             .bytes = std::vector<uint8_t>(proto::kBcveBytes)};
  d.bytes.resize(proto::EncodeBcve(p.state.spec.version, p.hmac, d.bytes));
  out->push_back(std::move(d));
  ++p.state.counters.bcve_sent;
}

}  // namespace dmrswitch::cp
