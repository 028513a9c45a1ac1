// IPv4 or IPv6 address → MAC for the hub's next hops (DESIGN.md §3 "neighbour MACs"), owned by one
// lcore.
//
// Clients are learned from their own packets (the caller learns only after the packet passed the
// anti-spoofing check, so a forged source cannot take a client's entry); configured peers that
// have not spoken yet are resolved by ARP (IPv6: Neighbor Solicitation), asked for at most once per
// `arp_interval` per address. Capacity is fixed at construction: open addressing with linear
// probing over a power-of-two slot array at most half full, backward-shift deletion (no tombstones,
// so probe runs never decay), no rehash and no allocation afterwards. Time is an input.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "dataplane/net/packet.h"

namespace dmrswitch::net {

using TimeNs = uint64_t;  // same clock and unit as route::TimeNs
inline constexpr TimeNs kNetSec = 1'000'000'000;

struct NeighborCounters {
  uint64_t learned = 0;       // new address learned
  uint64_t refreshed = 0;     // known address seen again, same MAC
  uint64_t moved = 0;         // known address seen with a different MAC
  uint64_t refused_full = 0;  // a new address and no room
  uint64_t arp_requests = 0;  // NeedsArp said yes
  uint64_t expired = 0;       // entries removed by Expire()
};

// Options and results shared by both address families' tables.
struct NeighborOptions {
  size_t capacity = 1024;             // addresses held at once
  TimeNs ttl = 300 * kNetSec;         // a learned MAC is trusted this long after last seen
  TimeNs arp_interval = 1 * kNetSec;  // minimum gap between ARP requests for one address
};
enum class NeighborLearnResult : uint8_t {
  kLearned,
  kRefreshed,
  kMoved,
  kRefusedFull,
  kRefusedBad
};

// How a key type is hashed and which value means "no address".
template <typename Key>
struct NeighborKey;
template <>
struct NeighborKey<uint32_t> {
  static uint64_t Fold(uint32_t ip) { return ip; }
  static bool IsZero(uint32_t ip) { return ip == 0; }
};
template <>
struct NeighborKey<Ip6> {
  // Both halves matter: clients of one /64 differ only in the low half, and the high half
  // separates prefixes. Rotating one half keeps equal halves from cancelling.
  static uint64_t Fold(const Ip6& a) {
    uint64_t hi;
    uint64_t lo;
    std::memcpy(&hi, a.data(), 8);
    std::memcpy(&lo, a.data() + 8, 8);
    return lo ^ std::rotl(hi, 29);
  }
  static bool IsZero(const Ip6& a) { return a == Ip6{}; }
};

template <typename Key>
class NeighborTableT {
 public:
  using Options = NeighborOptions;
  using LearnResult = NeighborLearnResult;

  explicit NeighborTableT(const Options& o)
      : opts_(o),
        capacity_(o.capacity == 0 ? 1 : o.capacity),
        slots_(std::bit_ceil(capacity_ * 2)),
        mask_(slots_.size() - 1),
        shift_(static_cast<unsigned>(64 - std::countr_zero(slots_.size()))) {}

  // Records that `ip` is reachable at `mac` as of `now` (from a packet it sent us).
  LearnResult Learn(const Key& ip, const Mac& mac, TimeNs now) {
    if (NeighborKey<Key>::IsZero(ip) || (mac[0] & 0x01) != 0) return LearnResult::kRefusedBad;
    Slot* s = FindOrInsert(ip);
    if (s == nullptr) {
      ++counters_.refused_full;
      return LearnResult::kRefusedFull;
    }
    LearnResult r;
    if (s->state != State::kResolved) {
      r = LearnResult::kLearned;
      ++counters_.learned;
    } else if (s->mac != mac) {
      r = LearnResult::kMoved;
      ++counters_.moved;
    } else {
      r = LearnResult::kRefreshed;
      ++counters_.refreshed;
    }
    s->state = State::kResolved;
    s->mac = mac;
    s->seen = now;
    return r;
  }

  // The MAC for `ip`, if learned and seen within the TTL.
  std::optional<Mac> Lookup(const Key& ip, TimeNs now) const {
    const Slot* s = Find(ip);
    if (s == nullptr || s->state != State::kResolved || Stale(*s, now)) return std::nullopt;
    return s->mac;
  }

  // For a next hop we must send to: true when it has no fresh MAC and no ARP request went out
  // for it in the last `arp_interval` (the caller then sends one). Creates a pending entry for
  // an unknown address; false, counted, when full.
  bool NeedsArp(const Key& ip, TimeNs now) {
    if (NeighborKey<Key>::IsZero(ip)) return false;
    Slot* s = FindOrInsert(ip);
    if (s == nullptr) {
      ++counters_.refused_full;
      return false;
    }
    if (s->state == State::kResolved && !Stale(*s, now)) return false;
    if (AskedWithin(*s, now, opts_.arp_interval)) return false;
    s->asked = now;
    ++counters_.arp_requests;
    return true;
  }

  // Removes resolved entries not seen within the TTL and pending ones not asked about within
  // it, visiting at most `budget` slots from where the last call stopped (the lcore loop calls
  // this with a small budget so one call never stalls it). Returns entries removed.
  size_t Expire(TimeNs now, size_t budget) {
    size_t removed = 0;
    for (size_t i = 0; i < budget && size_ > 0; ++i) {
      cursor_ = (cursor_ + 1) & mask_;
      Slot& s = slots_[cursor_];
      const bool dead = (s.state == State::kResolved && Stale(s, now)) ||
                        (s.state == State::kPending && !AskedWithin(s, now, opts_.ttl));
      if (!dead) continue;
      Erase(cursor_);
      ++removed;
      ++counters_.expired;
      // Backward shift may have pulled a not-yet-visited entry into this slot: look again.
      cursor_ = (cursor_ - 1) & mask_;
    }
    return removed;
  }

  bool Forget(const Key& ip) {
    const Slot* s = Find(ip);
    if (s == nullptr) return false;
    Erase(static_cast<size_t>(s - slots_.data()));
    return true;
  }

  bool Pending(const Key& ip) const {
    const Slot* s = Find(ip);
    return s != nullptr && s->state == State::kPending;
  }
  // Whether the table holds `ip` at all (resolved or asked about).
  bool Known(const Key& ip) const { return Find(ip) != nullptr; }

  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  size_t slot_count() const { return slots_.size(); }
  const NeighborCounters& counters() const { return counters_; }
  const Options& options() const { return opts_; }

 private:
  enum class State : uint8_t { kEmpty, kPending, kResolved };
  static constexpr TimeNs kNever = ~TimeNs{0};

  struct Slot {
    Key ip{};
    State state = State::kEmpty;
    Mac mac{};
    TimeNs seen = 0;        // last packet from it (resolved)
    TimeNs asked = kNever;  // last ARP request for it
  };

  // A time in the future (a caller's clocks disagreeing by a little) counts as "just now", so
  // unsigned differences never wrap into "long ago".
  bool Stale(const Slot& s, TimeNs now) const { return now > s.seen && now - s.seen >= opts_.ttl; }
  static bool AskedWithin(const Slot& s, TimeNs now, TimeNs window) {
    return s.asked != kNever && (now <= s.asked || now - s.asked < window);
  }

  // Fibonacci hashing: the top bits of ip × 2^64/φ spread consecutive addresses (a client subnet)
  // over the whole array.
  size_t Home(const Key& ip) const {
    return static_cast<size_t>((NeighborKey<Key>::Fold(ip) * 0x9e3779b97f4a7c15ull) >> shift_) &
           mask_;
  }

  const Slot* Find(const Key& ip) const {
    for (size_t i = Home(ip);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.state == State::kEmpty) return nullptr;
      if (s.ip == ip) return &s;
    }
  }

  Slot* FindOrInsert(const Key& ip) {
    size_t i = Home(ip);
    for (;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.state == State::kEmpty) break;
      if (s.ip == ip) return &s;
    }
    if (size_ >= capacity_) return nullptr;
    ++size_;
    slots_[i] = Slot{};
    slots_[i].ip = ip;
    slots_[i].state = State::kPending;  // callers overwrite; pending until a MAC arrives
    return &slots_[i];
  }

  // Backward-shift deletion: moves later members of the probe run into the hole when their home
  // does not lie cyclically in (hole, their slot].
  void Erase(size_t hole) {
    --size_;
    for (size_t j = (hole + 1) & mask_;; j = (j + 1) & mask_) {
      Slot& s = slots_[j];
      if (s.state == State::kEmpty) break;
      const size_t home = Home(s.ip);
      const size_t dist_home = (j - home) & mask_;
      const size_t dist_hole = (j - hole) & mask_;
      if (dist_home >= dist_hole) {
        slots_[hole] = s;
        hole = j;
      }
    }
    slots_[hole] = Slot{};
  }

  Options opts_;
  size_t capacity_;
  std::vector<Slot> slots_;
  size_t mask_;
  unsigned shift_;
  size_t size_ = 0;
  size_t cursor_ = 0;
  NeighborCounters counters_;
};

using NeighborTable = NeighborTableT<uint32_t>;
using NeighborTable6 = NeighborTableT<Ip6>;

}  // namespace dmrswitch::net
