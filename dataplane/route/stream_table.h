// StreamTable: a shard's fixed-capacity map from stream ID to stream state.
//
// * Allocated once; never rehashes, never grows. A full table refuses inserts and counts them.
// * Open addressing with linear probing over a dense array of (key, entry index) words, so a
//   lookup at 90% load touches one or two cache lines; deletion shifts entries back (no
//   tombstones, so probe lengths do not decay with churn).
// * Values live in a separate pool and never move: callers may hold V* across calls until the
//   entry is erased.
// * Expiry is driven by the caller's clock: each entry sits on one of kLists intrusive lists in
//   order of its last Touch(); Expire() walks a list from its oldest entry.
//
// Stream ID 0 is never a valid key (every decoder rejects it), so it marks empty slots.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>

#include "dataplane/route/types.h"

namespace dmrswitch::route {

template <typename V, unsigned kLists = 2>
class StreamTable {
 public:
  static constexpr uint32_t kNil = 0xFFFFFFFF;
  // Bytes of table state in front of each value (key, list links, list, touch time), for a
  // value aligned to at most 8.
  static constexpr size_t kNodeHeaderBytes = 24;

  // Room for `capacity` entries; the probe array has the next power of two >= capacity / 0.9
  // slots, so a full table is at most 90% loaded.
  explicit StreamTable(uint32_t capacity, uint32_t seed = 0x5EED5EED)
      : capacity_(capacity == 0 ? 1 : capacity), seed_(seed) {
    slots_ = SlotsFor(capacity_);
    shift_ = 64 - std::countr_zero(slots_);
    probe_ = std::make_unique<uint64_t[]>(slots_);  // zero = empty
    pool_ = std::make_unique<Node[]>(capacity_);
    for (uint32_t i = 0; i < capacity_; ++i) pool_[i].next = i + 1 < capacity_ ? i + 1 : kNil;
    free_head_ = 0;
    for (auto& l : lists_) l = ListHead{};
  }

  StreamTable(const StreamTable&) = delete;
  StreamTable& operator=(const StreamTable&) = delete;

  // The memory a table of `capacity` entries allocates (configuration checks, before any is).
  static uint64_t BytesFor(uint32_t capacity) {
    if (capacity == 0) capacity = 1;
    return uint64_t{SlotsFor(capacity)} * sizeof(uint64_t) + uint64_t{capacity} * sizeof(Node);
  }

  uint32_t size() const { return size_; }
  uint32_t capacity() const { return capacity_; }
  uint32_t slot_count() const { return slots_; }
  uint64_t refused_full() const { return refused_full_; }

  V* Find(uint32_t key) {
    for (uint32_t i = Home(key);; i = (i + 1) & (slots_ - 1)) {
      const uint64_t w = probe_[i];
      if (w == 0) return nullptr;
      if (static_cast<uint32_t>(w) == key) return &pool_[w >> 32].value;
    }
  }

  // Inserts a default-constructed value for `key` on list `list`, touched at `now`. Returns
  // nullptr if the table is full (counted) or the key exists (use Find first) or key is 0.
  V* Insert(uint32_t key, TimeNs now, unsigned list = 0) {
    if (key == 0) return nullptr;
    if (size_ == capacity_) {
      ++refused_full_;
      return nullptr;
    }
    uint32_t i = Home(key);
    for (;; i = (i + 1) & (slots_ - 1)) {
      const uint64_t w = probe_[i];
      if (w == 0) break;
      if (static_cast<uint32_t>(w) == key) return nullptr;
    }
    const uint32_t idx = free_head_;
    Node& n = pool_[idx];
    free_head_ = n.next;
    n.value = V{};
    n.key = key;
    n.touched = now;
    n.list = static_cast<uint8_t>(list);
    LinkBack(idx, list);
    probe_[i] = (uint64_t{idx} << 32) | key;
    ++size_;
    return &n.value;
  }

  bool Erase(uint32_t key) {
    for (uint32_t i = Home(key);; i = (i + 1) & (slots_ - 1)) {
      const uint64_t w = probe_[i];
      if (w == 0) return false;
      if (static_cast<uint32_t>(w) == key) {
        const uint32_t idx = static_cast<uint32_t>(w >> 32);
        Unlink(idx);
        pool_[idx].next = free_head_;
        free_head_ = idx;
        BackwardShift(i);
        --size_;
        return true;
      }
    }
  }
  bool Erase(V* v) { return Erase(KeyOf(v)); }

  uint32_t KeyOf(const V* v) const { return NodeOf(v).key; }
  TimeNs TouchedAt(const V* v) const { return NodeOf(v).touched; }
  unsigned ListOf(const V* v) const { return NodeOf(v).list; }

  // Marks `v` as used at `now` and moves it to the back of `list` (lists stay ordered by touch
  // time as long as callers touch with a non-decreasing clock).
  void Touch(V* v, TimeNs now, unsigned list) {
    const uint32_t idx = IndexOf(v);
    Unlink(idx);
    pool_[idx].touched = now;
    pool_[idx].list = static_cast<uint8_t>(list);
    LinkBack(idx, list);
  }

  // Calls `fn(key, value)` for entries of `list` touched before `cutoff`, oldest first. `fn`
  // returns where the entry goes: kErase removes it, kMoveTo(l) moves it to the back of list l
  // keeping its touch time, kKeep stops the walk (the entry stays at the front).
  struct Action {
    enum Kind : uint8_t { kErase, kMove, kKeep } kind;
    unsigned list = 0;
  };
  static Action EraseIt() { return {Action::kErase, 0}; }
  static Action MoveTo(unsigned list) { return {Action::kMove, list}; }
  static Action Keep() { return {Action::kKeep, 0}; }

  template <typename Fn>
  uint32_t Expire(unsigned list, TimeNs cutoff, uint32_t max_visits, Fn&& fn) {
    uint32_t visited = 0;
    while (visited < max_visits) {
      const uint32_t idx = lists_[list].head;
      if (idx == kNil || pool_[idx].touched >= cutoff) break;
      ++visited;
      Node& n = pool_[idx];
      const Action a = fn(n.key, n.value);
      if (a.kind == Action::kKeep) break;
      if (a.kind == Action::kErase) {
        Erase(n.key);
      } else {
        Unlink(idx);
        n.list = static_cast<uint8_t>(a.list);
        LinkBack(idx, a.list);
      }
    }
    return visited;
  }

  // Visits every entry of `list`, oldest first; `fn` must not insert or erase.
  template <typename Fn>
  void ForEach(unsigned list, Fn&& fn) {
    for (uint32_t idx = lists_[list].head; idx != kNil; idx = pool_[idx].next) {
      fn(pool_[idx].key, pool_[idx].value);
    }
  }

  uint32_t ListSize(unsigned list) const { return lists_[list].size; }

  // Longest probe sequence currently in the table (for tests and benchmarks).
  uint32_t MaxProbeLength() const {
    uint32_t worst = 0;
    for (uint32_t i = 0; i < slots_; ++i) {
      const uint64_t w = probe_[i];
      if (w == 0) continue;
      const uint32_t d = (i - Home(static_cast<uint32_t>(w))) & (slots_ - 1);
      if (d + 1 > worst) worst = d + 1;
    }
    return worst;
  }

 private:
  static constexpr size_t kNodeAlign =
      std::max<size_t>(sizeof(V) + kNodeHeaderBytes > 64 ? 64 : 8, alignof(V));
  // The table's bookkeeping first, written on every Touch, then the value: a node bigger than a
  // cache line starts one, so that the bookkeeping and the value's first bytes (where a value
  // keeps what it reads per lookup) share one line pair.
  struct alignas(kNodeAlign) Node {
    uint32_t key = 0;
    uint32_t prev = kNil;
    uint32_t next = kNil;
    uint8_t list = 0;
    TimeNs touched = 0;
    V value{};
  };
  static_assert(alignof(V) > 8 || offsetof(Node, value) == kNodeHeaderBytes);
  struct ListHead {
    uint32_t head = kNil;
    uint32_t tail = kNil;
    uint32_t size = 0;
  };

  static uint32_t SlotsFor(uint32_t capacity) {
    const uint64_t want = (uint64_t{capacity} * 10 + 8) / 9;
    return static_cast<uint32_t>(std::bit_ceil(want < 16 ? 16 : want));
  }

  // Fibonacci hashing of the seeded key: a different function from owner(), whose high bits are
  // the same for every key a shard sees.
  uint32_t Home(uint32_t key) const {
    return static_cast<uint32_t>((uint64_t{key ^ seed_} * 0x9E3779B97F4A7C15ull) >> shift_);
  }

  const Node& NodeOf(const V* v) const { return pool_[IndexOf(v)]; }
  uint32_t IndexOf(const V* v) const {
    const auto* first = reinterpret_cast<const char*>(&pool_[0].value);
    return static_cast<uint32_t>((reinterpret_cast<const char*>(v) - first) / sizeof(Node));
  }

  void LinkBack(uint32_t idx, unsigned list) {
    Node& n = pool_[idx];
    ListHead& l = lists_[list];
    n.prev = l.tail;
    n.next = kNil;
    ++l.size;
    if (l.tail != kNil) {
      pool_[l.tail].next = idx;
    } else {
      l.head = idx;
    }
    l.tail = idx;
  }

  void Unlink(uint32_t idx) {
    Node& n = pool_[idx];
    ListHead& l = lists_[n.list];
    if (n.prev != kNil) {
      pool_[n.prev].next = n.next;
    } else {
      l.head = n.next;
    }
    if (n.next != kNil) {
      pool_[n.next].prev = n.prev;
    } else {
      l.tail = n.prev;
    }
    n.prev = n.next = kNil;
    --l.size;
  }

  // Knuth's deletion for linear probing: pull later members of the cluster back into the hole
  // when their home position allows it.
  void BackwardShift(uint32_t hole) {
    const uint32_t mask = slots_ - 1;
    uint32_t j = hole;
    for (;;) {
      j = (j + 1) & mask;
      const uint64_t w = probe_[j];
      if (w == 0) break;
      const uint32_t home = Home(static_cast<uint32_t>(w));
      // Move w into the hole unless its home lies cyclically in (hole, j].
      const bool home_after_hole = ((j - home) & mask) < ((j - hole) & mask);
      if (!home_after_hole) {
        probe_[hole] = w;
        hole = j;
      }
    }
    probe_[hole] = 0;
  }

  uint32_t capacity_;
  uint32_t seed_;
  uint32_t slots_ = 0;
  int shift_ = 0;
  std::unique_ptr<uint64_t[]> probe_;
  std::unique_ptr<Node[]> pool_;
  uint32_t free_head_ = kNil;
  uint32_t size_ = 0;
  uint64_t refused_full_ = 0;
  ListHead lists_[kLists];
};

}  // namespace dmrswitch::route
