// The clocks of the hub (DESIGN.md §3, docs/kernel-mode.md "Time").
//
// Every timer — stream age, rate limits, hang time, leases, client liveness, UA timers, peer
// keepalives, drain deadlines, the stream table's LRU — runs on CLOCK_MONOTONIC nanoseconds
// (route::TimeNs): a wall-clock step (NTP's first sync on a Raspberry Pi without an RTC, a
// leap-smearing server, an operator's `date -s`) moves none of them. Monotonic time is
// system-wide, so the shards, a hosted control plane and dmrswitch-cp compare their stamps
// directly.
//
// The wall clock (CLOCK_REALTIME) is read only where the protocol carries it: FBP DMRE
// timestamps and their age check (PROTOCOL.md §2.2), through the routing core's wall offset, and
// for display (lastheard, logs).
#pragma once

#include <rte_cycles.h>

#include <cstdint>
#include <ctime>

#include "dataplane/route/types.h"

namespace dmrswitch::io {

inline route::TimeNs ReadClockNs(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return static_cast<route::TimeNs>(ts.tv_sec) * route::kSec +
         static_cast<route::TimeNs>(ts.tv_nsec);
}

// CLOCK_MONOTONIC: the time every timer runs on.
inline route::TimeNs MonotonicNs() { return ReadClockNs(CLOCK_MONOTONIC); }
// CLOCK_REALTIME: FBP timestamps and display only.
inline route::TimeNs WallNs() { return ReadClockNs(CLOCK_REALTIME); }

// A shard loop's clock: CLOCK_MONOTONIC nanoseconds read from the TSC (one rdtsc and a multiply
// per loop iteration instead of a clock_gettime), re-anchored to CLOCK_MONOTONIC every
// `kReanchorEvery` so that TSC drift never separates it from the other planes' clocks by more
// than microseconds. It never goes backwards.
class ShardClock {
 public:
  static constexpr route::TimeNs kReanchorEvery = 100 * route::kMs;

  ShardClock() : hz_(rte_get_tsc_hz()), reanchor_cycles_(hz_ / (route::kSec / kReanchorEvery)) {
    Anchor();
  }

  route::TimeNs Now() {
    route::TimeNs now;
    const uint64_t elapsed = rte_rdtsc() - anchor_tsc_;
    if (reanchor_cycles_ == 0 || elapsed >= reanchor_cycles_) {
      Anchor();
      now = anchor_ns_;
    } else {
      // elapsed < hz / 10, so elapsed * 1e9 < 1e8 * hz: no overflow below 184 GHz.
      now = anchor_ns_ + elapsed * route::kSec / hz_;
    }
    if (now < last_) now = last_;
    last_ = now;
    return now;
  }

  // Wall clock minus monotonic clock, as the routing core's wall offset wants it. Read on a
  // timer (every stream-expiry tick): a step of the wall clock shows within that tick.
  static route::TimeNs WallOffset() { return WallNs() - MonotonicNs(); }

 private:
  void Anchor() {
    anchor_tsc_ = rte_rdtsc();
    anchor_ns_ = MonotonicNs();
  }

  uint64_t hz_;
  uint64_t reanchor_cycles_;  // 0 when EAL knows no TSC frequency: read the clock every time
  uint64_t anchor_tsc_ = 0;
  route::TimeNs anchor_ns_ = 0;
  route::TimeNs last_ = 0;
};

}  // namespace dmrswitch::io
