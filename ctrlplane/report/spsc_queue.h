// A bounded single-producer single-consumer queue: the hand-over between the control plane's
// thread (producer) and a surface's own thread (consumer). TryPush never blocks and never
// allocates beyond what moving T does; a full queue refuses the item and counts it, so a
// stalled consumer can only ever cost the producer a failed push.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace dmrswitch::cp::report {

template <typename T>
class SpscQueue {
 public:
  // Capacity is rounded up to a power of two.
  explicit SpscQueue(size_t capacity) {
    size_t n = 1;
    while (n < capacity) n <<= 1;
    slots_.resize(n);
    mask_ = n - 1;
  }
  SpscQueue(const SpscQueue&) = delete;
  SpscQueue& operator=(const SpscQueue&) = delete;

  // Producer thread only. False (and counted) when full.
  bool TryPush(T item) {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_.load(std::memory_order_acquire) > mask_) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    slots_[tail & mask_] = std::move(item);
    tail_.store(tail + 1, std::memory_order_release);
    pushed_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  // Consumer thread only.
  std::optional<T> TryPop() {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_.load(std::memory_order_acquire)) return std::nullopt;
    std::optional<T> item(std::move(slots_[head & mask_]));
    slots_[head & mask_] = T();
    head_.store(head + 1, std::memory_order_release);
    return item;
  }

  size_t capacity() const { return mask_ + 1; }
  size_t size() const {
    return static_cast<size_t>(tail_.load(std::memory_order_acquire) -
                               head_.load(std::memory_order_acquire));
  }
  uint64_t pushed() const { return pushed_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  std::vector<T> slots_;
  size_t mask_ = 0;
  alignas(64) std::atomic<uint64_t> head_{0};
  alignas(64) std::atomic<uint64_t> tail_{0};
  alignas(64) std::atomic<uint64_t> pushed_{0};
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace dmrswitch::cp::report
