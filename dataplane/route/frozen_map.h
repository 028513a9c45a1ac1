// FrozenMap / FrozenSet: read-only hash tables with integer keys for RouteSnapshot, built once
// and then only read — possibly by another process that maps the same memory at the same
// address (shared_memory.h). Hence what absl's tables cannot offer: storage through
// SnapshotAllocator, a hash that is the same function in every process (no seed, no global), and
// an empty table that points at nothing (absl's points at a static group in its library).
//
// Layout (the read-only half of a SwissTable): slots in groups of 16, a power of two of them with
// at least twice as many slots as entries, and one control byte per slot — kUnused, or 7 bits of
// the key's hash. A lookup probes groups linearly from the key's home group; per group, one
// 16-byte compare (SSE2) finds the slots whose control byte matches, and only those keys are
// compared; a group with an unused slot ends the probe. So a lookup reads one control group and
// usually one slot, with branches that go the same way for every hit and for every miss — a
// probe loop over slots, ending after a varying number of them, is mispredicted often enough to
// cost more (bench/snapshot_bench.cc). Entries are inserted in key order, which makes the layout
// (and the iteration order) a function of the set of keys alone.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <type_traits>
#include <utility>
#include <vector>

#include "dataplane/route/shared_memory.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace dmrswitch::route {

namespace frozen_internal {

inline constexpr size_t kGroupSlots = 16;
inline constexpr uint8_t kUnused = 0x80;  // a used slot's control byte is 0..127

struct alignas(16) ControlGroup {
  uint8_t bytes[kGroupSlots];
};

// Bit i set where control byte i equals `byte`.
inline uint32_t MatchScalar(const ControlGroup& g, uint8_t byte) {
  uint32_t mask = 0;
  for (size_t i = 0; i < kGroupSlots; ++i) mask |= uint32_t{g.bytes[i] == byte} << i;
  return mask;
}
inline uint32_t Match(const ControlGroup& g, uint8_t byte) {
#if defined(__SSE2__)
  const __m128i ctrl = _mm_load_si128(reinterpret_cast<const __m128i*>(g.bytes));
  return static_cast<uint32_t>(
      _mm_movemask_epi8(_mm_cmpeq_epi8(ctrl, _mm_set1_epi8(static_cast<char>(byte)))));
#else
  return MatchScalar(g, byte);
#endif
}
// Any unused slot in the group (kUnused is the only control byte with the top bit set).
inline bool HasUnused(const ControlGroup& g) {
#if defined(__SSE2__)
  return _mm_movemask_epi8(_mm_load_si128(reinterpret_cast<const __m128i*>(g.bytes))) != 0;
#else
  return MatchScalar(g, kUnused) != 0;
#endif
}

}  // namespace frozen_internal

template <class K, class V>
class FrozenMap {
  static_assert(std::is_unsigned_v<K>, "FrozenMap keys are unsigned integers");
  using ControlGroup = frozen_internal::ControlGroup;
  static constexpr size_t kGroupSlots = frozen_internal::kGroupSlots;
  static constexpr uint8_t kUnused = frozen_internal::kUnused;

 public:
  struct Entry {
    K key;
    [[no_unique_address]] V value;
  };

  // Walks the used slots; `Project` picks what it yields of each entry.
  template <class Project>
  class SlotIterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using reference = decltype(Project{}(std::declval<const Entry&>()));
    using value_type = std::remove_cvref_t<reference>;
    using difference_type = std::ptrdiff_t;
    using pointer = const value_type*;

    SlotIterator() = default;
    reference operator*() const { return Project{}(map_->slots_[slot_]); }
    pointer operator->() const { return &**this; }
    SlotIterator& operator++() {
      ++slot_;
      SkipUnused();
      return *this;
    }
    SlotIterator operator++(int) {
      SlotIterator before = *this;
      ++*this;
      return before;
    }
    bool operator==(const SlotIterator& other) const { return slot_ == other.slot_; }

   private:
    friend class FrozenMap;
    SlotIterator(const FrozenMap* map, size_t slot) : map_(map), slot_(slot) { SkipUnused(); }
    void SkipUnused() {
      while (slot_ < map_->slots_.size() && map_->Control(slot_) == kUnused) ++slot_;
    }

    const FrozenMap* map_ = nullptr;
    size_t slot_ = 0;
  };
  struct WholeEntry {
    const Entry& operator()(const Entry& e) const { return e; }
  };
  struct KeyOnly {
    const K& operator()(const Entry& e) const { return e.key; }
  };
  using Iterator = SlotIterator<WholeEntry>;
  using KeyIterator = SlotIterator<KeyOnly>;

  // The same function in every process: a key's home group is the top log2(group count) bits,
  // its control byte the 7 bits below those. Multiplying by 2^64/φ spreads keys that follow a
  // pattern (IDs, TGs) evenly over the groups, and over the control bytes within a group; folding
  // the 128-bit product makes the top bits depend on every key bit (snapshot keys also differ in
  // high bits: client slot << 32).
  static constexpr uint64_t Hash(K key) {
    __extension__ typedef unsigned __int128 Product;
    const Product p = static_cast<Product>(key) * 0x9E3779B97F4A7C15ull;
    return static_cast<uint64_t>(p >> 64) ^ static_cast<uint64_t>(p);
  }

  FrozenMap() = default;
  // Of entries with equal keys, the last one is kept.
  explicit FrozenMap(std::vector<std::pair<K, V>> entries) {
    std::stable_sort(entries.begin(), entries.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    auto kept = entries.begin();
    for (auto it = entries.begin(); it != entries.end(); ++it) {
      if (std::next(it) != entries.end() && std::next(it)->first == it->first) continue;
      if (kept != it) *kept = std::move(*it);
      ++kept;
    }
    entries.erase(kept, entries.end());
    if (entries.empty()) return;

    const size_t slot_count = std::max(kGroupSlots, std::bit_ceil(entries.size() * 2));
    const size_t group_count = slot_count / kGroupSlots;
    group_mask_ = group_count - 1;
    // With one group, shifting by 64 would be undefined: shift by 63 and mask the bit away.
    shift_ = static_cast<uint8_t>(group_count == 1 ? 63 : 64 - std::countr_zero(group_count));
    ctrl_.resize(group_count);
    for (ControlGroup& g : ctrl_) std::fill(std::begin(g.bytes), std::end(g.bytes), kUnused);
    slots_.resize(slot_count);
    // At most half the slots are used, so some group always has room and every probe ends.
    for (auto& [key, value] : entries) {
      const uint64_t h = Hash(key);
      for (size_t g = HomeGroup(h);; g = (g + 1) & group_mask_) {
        const uint32_t unused = frozen_internal::MatchScalar(ctrl_[g], kUnused);
        if (unused == 0) continue;
        const size_t slot = g * kGroupSlots + static_cast<size_t>(std::countr_zero(unused));
        ctrl_[g].bytes[slot % kGroupSlots] = ControlByte(h);
        slots_[slot].key = key;
        slots_[slot].value = std::move(value);
        break;
      }
    }
    size_ = entries.size();
  }

  FrozenMap(FrozenMap&& other) noexcept { *this = std::move(other); }
  FrozenMap& operator=(FrozenMap&& other) noexcept {
    if (this == &other) return *this;
    ctrl_ = std::move(other.ctrl_);
    slots_ = std::move(other.slots_);
    other.ctrl_.clear();
    other.slots_.clear();
    group_mask_ = std::exchange(other.group_mask_, 0);
    size_ = std::exchange(other.size_, 0);
    shift_ = std::exchange(other.shift_, 0);
    return *this;
  }
  FrozenMap(const FrozenMap&) = default;
  FrozenMap& operator=(const FrozenMap&) = default;

  // The value of `key`, or nullptr.
  const V* find(K key) const {
    if (size_ == 0) return nullptr;  // no groups at all
    const uint64_t h = Hash(key);
    const uint8_t control = ControlByte(h);
    const ControlGroup* ctrl = ctrl_.data();
    const Entry* slots = slots_.data();
    for (size_t g = HomeGroup(h);; g = (g + 1) & group_mask_) {
      for (uint32_t m = frozen_internal::Match(ctrl[g], control); m != 0; m &= m - 1) {
        const Entry& e = slots[g * kGroupSlots + static_cast<size_t>(std::countr_zero(m))];
        if (e.key == key) return &e.value;
      }
      if (frozen_internal::HasUnused(ctrl[g])) return nullptr;
    }
  }
  bool contains(K key) const { return find(key) != nullptr; }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t slot_count() const { return slots_.size(); }

  // Every entry once, in slot order.
  Iterator begin() const { return Iterator(this, 0); }
  Iterator end() const { return Iterator(this, slots_.size()); }
  // Every key once, in the same order.
  KeyIterator key_begin() const { return KeyIterator(this, 0); }
  KeyIterator key_end() const { return KeyIterator(this, slots_.size()); }

 private:
  size_t HomeGroup(uint64_t h) const { return static_cast<size_t>(h >> shift_) & group_mask_; }
  // shift_ is at least 7: there are at most 2^57 groups.
  uint8_t ControlByte(uint64_t h) const { return static_cast<uint8_t>((h >> (shift_ - 7)) & 0x7F); }
  uint8_t Control(size_t slot) const { return ctrl_[slot / kGroupSlots].bytes[slot % kGroupSlots]; }

  SnapshotVector<ControlGroup> ctrl_;
  SnapshotVector<Entry> slots_;
  size_t group_mask_ = 0;
  size_t size_ = 0;
  uint8_t shift_ = 0;
};

template <class K>
class FrozenSet {
  struct NoValue {};
  using Map = FrozenMap<K, NoValue>;

 public:
  using Iterator = typename Map::KeyIterator;

  FrozenSet() = default;
  explicit FrozenSet(const std::vector<K>& keys) : map_(Entries(keys)) {}

  bool contains(K key) const { return map_.contains(key); }
  size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }
  size_t slot_count() const { return map_.slot_count(); }
  Iterator begin() const { return map_.key_begin(); }
  Iterator end() const { return map_.key_end(); }

 private:
  static std::vector<std::pair<K, NoValue>> Entries(const std::vector<K>& keys) {
    std::vector<std::pair<K, NoValue>> entries;
    entries.reserve(keys.size());
    for (K key : keys) entries.emplace_back(key, NoValue{});
    return entries;
  }

  Map map_;
};

}  // namespace dmrswitch::route
