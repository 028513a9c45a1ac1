// Destination timeslot leases: the one piece of state that several shards write (DESIGN.md §3).
//
// A client's timeslot carries one stream at a time. Streams for that slot may be owned by
// different shards (the owner is a function of the stream ID), so the slot's current holder lives
// in one 64-bit atomic word per client slot, claimed by compare-and-swap:
//
//   free     0
//   held     state=1 | rx | tg(24) | stream_id(32)       a live stream is using the slot
//   ended    state=2 | rx | tg(24) | end_ms(37)         last use ended at end_ms (hang time)
//
// `rx` marks the client's own transmission (ingress on that slot) as opposed to the hub sending to
// it. A held word names its stream exactly, so a shard recognises its own lease with one load;
// an ended word carries the time instead, which is all the contention rules need afterwards.
// The holder's shard releases (held → ended) at the terminator or when the stream goes silent;
// a word is never held by a stream that its owner no longer tracks.
//
// Next to the word, on the same cache line, is the slot's *talker*: the rf_src of the stream that
// last claimed it. There is no room for it in the word, so it is a second atomic, written by the
// claimer right after its CAS and published by the release CAS of the same thread: whoever loads
// an ended word (acquire) and then the talker reads the talker of that word's stream. A decision
// made from a talker that changed meanwhile never commits, because the word changed too and the
// CAS fails. (The one exception, a whole claim and release of another stream within the same
// millisecond on the same TG, leaves the word bit-identical; then the same-talker exemption below
// is decided on the earlier talker, once.)
//
// Contention (PROTOCOL.md §3.6 to_target rules (a)–(d), per destination slot):
//   held by the stream the claimer superseded → claimable (see ClaimRx: the same talker's
//     on the same TG                            earlier over, not yet ended by its own shard)
//   held by another stream                    → busy (covers (c) and (d) while a call is live)
//   ended, other TG, within group hang time   → busy ((a)/(b))
//   ended, same TG, same talker               → claimable (Part A §11: the same rf_src re-keying
//                                               is heard from its first frame)
//   ended, same TG, within the stream timeout → busy ((c)/(d): the collision window)
//   otherwise                                 → claimable
// A client's own new transmission takes the slot from a hub-to-client stream (the radio has the
// channel); two of its own transmissions on one slot collide instead (§3.6 step 3), unless they
// have the same talker: a radio sends one stream at a time, so the same rf_src starting a new
// stream means its previous over is finished even if the shard that owns that over has not yet
// processed its terminator (the two streams are steered to different shards half the time). The
// new stream *supersedes* the old one: it takes the client's own slot at its start and then, per
// destination, the slots the old stream still holds on the same TG. Only the superseding stream
// may take them (it names the old stream), and only once, at its start: the old stream never takes
// anything back, and two repeaters hearing one radio (two sources, neither superseding the
// other) still never interleave on a listener. "Never takes anything back" has two halves: a
// stream that no longer holds its own slot claims no destination slot (ClaimTx with `own`: the
// same-talker rule would otherwise hand the old over the slots of the new one once that ended),
// and a stream back from silence does not retake its own slot once a newer over of its talker
// has used it (ResumeRx). Both answer kOvertaken, which the stream keeps.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

#include "dataplane/route/types.h"

namespace dmrswitch::route {

struct LeaseWord {
  static constexpr uint64_t kStateShift = 62;
  static constexpr uint64_t kRxBit = uint64_t{1} << 61;
  static constexpr uint64_t kTgShift = 37;
  static constexpr uint64_t kTgMask = 0xFFFFFF;
  static constexpr uint64_t kLowMask = (uint64_t{1} << 37) - 1;  // stream id or end time
  static constexpr uint64_t kHeld = 1, kEnded = 2;

  uint64_t raw = 0;

  static LeaseWord Held(uint32_t stream_id, uint32_t tg, bool rx) {
    return {(kHeld << kStateShift) | (rx ? kRxBit : 0) | (uint64_t{tg & kTgMask} << kTgShift) |
            stream_id};
  }
  static LeaseWord Ended(uint32_t tg, bool rx, TimeNs at) {
    return {(kEnded << kStateShift) | (rx ? kRxBit : 0) | (uint64_t{tg & kTgMask} << kTgShift) |
            ((at / kMs) & kLowMask)};
  }

  bool free() const { return raw == 0; }
  bool held() const { return (raw >> kStateShift) == kHeld; }
  bool ended() const { return (raw >> kStateShift) == kEnded; }
  bool rx() const { return (raw & kRxBit) != 0; }
  uint32_t tg() const { return static_cast<uint32_t>((raw >> kTgShift) & kTgMask); }
  uint32_t stream_id() const { return static_cast<uint32_t>(raw); }
  // Time since the end, in whole milliseconds. The field holds the end time modulo 2^37 ms; a
  // difference in the upper half of that range is an end stamped slightly *after* `now` (shards
  // sample their clocks independently) and counts as just ended, not as 2^37 ms ago. Ends older
  // than 2^36 ms (about two years) look recent once, for at most the hang time.
  TimeNs since_end(TimeNs now) const {
    const uint64_t ms = (now / kMs - (raw & kLowMask)) & kLowMask;
    return ms > (kLowMask >> 1) ? 0 : ms * kMs;
  }
  bool held_by(uint32_t stream_id) const { return held() && this->stream_id() == stream_id; }
};

struct LeaseTimers {
  TimeNs group_hangtime = 5 * kSec;   // (a)/(b): other TGs wait this long after a call
  TimeNs stream_timeout = 360 * kMs;  // (c)/(d): same TG, collision window
  bool operator==(const LeaseTimers&) const = default;
};

// kOvertaken: the claimer is a client's transmission that its talker's newer over has
// superseded; it takes nothing (see the top of this file).
enum class LeaseVerdict : uint8_t { kMine, kClaimed, kBusy, kOvertaken };

// A client's timeslot.
struct ClientSlot {
  uint32_t client;
  unsigned ts;
};

// One word per (client slot, timeslot), each on its own cache line: shards that claim
// different clients' slots never share a line.
class SlotLeases {
 public:
  explicit SlotLeases(uint32_t max_clients)
      : max_clients_(max_clients), words_(std::make_unique<Padded[]>(uint64_t{max_clients} * 2)) {}

  uint32_t max_clients() const { return max_clients_; }
  // The memory a table for `max_clients` allocates.
  static uint64_t BytesFor(uint32_t max_clients) {
    return uint64_t{max_clients} * 2 * sizeof(Padded);
  }

  std::atomic<uint64_t>& word(uint32_t client, unsigned ts) {
    return words_[uint64_t{client} * 2 + ts].w;
  }
  LeaseWord Load(uint32_t client, unsigned ts) const {
    return {words_[uint64_t{client} * 2 + ts].w.load(std::memory_order_acquire)};
  }

  // Hub → client: keep or take the slot for `stream_id` (talker `rf_src`) on `tg`, if the rules
  // allow. `superseded`: the stream this one superseded at its start (ClaimRx), whose slots on
  // the same TG it takes over. `own`: the client slot the claiming stream is received on, if it
  // is a client's transmission; a slot it does not hold yet is claimed only while it still holds
  // `own` (kOvertaken otherwise). Checked only then, so keeping a slot costs one load.
  LeaseVerdict ClaimTx(uint32_t client, unsigned ts, uint32_t stream_id, uint32_t tg,
                       uint32_t rf_src, TimeNs now, const LeaseTimers& t,
                       std::optional<uint32_t> superseded = std::nullopt,
                       const ClientSlot* own = nullptr) {
    Padded& p = slot(client, ts);
    LeaseWord cur{p.w.load(std::memory_order_acquire)};
    if (cur.held_by(stream_id)) return LeaseVerdict::kMine;
    if (own != nullptr && !Holds(own->client, own->ts, stream_id)) return LeaseVerdict::kOvertaken;
    for (;;) {
      if (cur.held_by(stream_id)) return LeaseVerdict::kMine;
      const bool take_over =
          superseded.has_value() && cur.held_by(*superseded) && !cur.rx() && cur.tg() == tg;
      if (!take_over &&
          !Claimable(cur, tg, now, t, p.talker.load(std::memory_order_relaxed), rf_src)) {
        return LeaseVerdict::kBusy;
      }
      const LeaseWord next = LeaseWord::Held(stream_id, tg, false);
      if (p.w.compare_exchange_weak(cur.raw, next.raw, std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
        p.talker.store(rf_src, std::memory_order_relaxed);
        return LeaseVerdict::kClaimed;
      }
    }
  }

  // Client → hub: the client transmits (talker `rf_src`) on its own slot. Takes the slot from any
  // hub-to-client stream; refuses (collision) while another of its own transmissions holds it.
  // `superseded` is given by a stream's first claim only (its start): then a transmission of the
  // same talker that still holds the slot is superseded instead of colliding, and its stream id
  // written there (nullopt when nothing was superseded). A stream coming back from silence
  // calls ResumeRx instead.
  LeaseVerdict ClaimRx(uint32_t client, unsigned ts, uint32_t stream_id, uint32_t tg,
                       uint32_t rf_src, std::optional<uint32_t>* superseded = nullptr) {
    Padded& p = slot(client, ts);
    LeaseWord cur{p.w.load(std::memory_order_acquire)};
    for (;;) {
      if (cur.held_by(stream_id)) return LeaseVerdict::kMine;
      std::optional<uint32_t> took;
      if (cur.held() && cur.rx()) {
        if (superseded == nullptr || rf_src == 0 ||
            p.talker.load(std::memory_order_relaxed) != rf_src) {
          return LeaseVerdict::kBusy;
        }
        took = cur.stream_id();
      }
      const LeaseWord next = LeaseWord::Held(stream_id, tg, true);
      if (p.w.compare_exchange_weak(cur.raw, next.raw, std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
        p.talker.store(rf_src, std::memory_order_relaxed);
        if (superseded != nullptr) *superseded = took;
        return LeaseVerdict::kClaimed;
      }
    }
  }

  // Client → hub, a stream back from silence (it released its slot as `left`): retakes the slot
  // as ClaimRx does without superseding anything, unless a newer over of the same talker has used
  // the slot since (it holds it, or the slot is no longer as this stream left it): kOvertaken.
  LeaseVerdict ResumeRx(uint32_t client, unsigned ts, uint32_t stream_id, uint32_t tg,
                        uint32_t rf_src, LeaseWord left) {
    Padded& p = slot(client, ts);
    LeaseWord cur{p.w.load(std::memory_order_acquire)};
    for (;;) {
      if (cur.held_by(stream_id)) return LeaseVerdict::kMine;
      if (cur.rx() && cur.raw != left.raw && rf_src != 0 &&
          p.talker.load(std::memory_order_relaxed) == rf_src) {
        return LeaseVerdict::kOvertaken;
      }
      if (cur.held() && cur.rx()) return LeaseVerdict::kBusy;
      const LeaseWord next = LeaseWord::Held(stream_id, tg, true);
      if (p.w.compare_exchange_weak(cur.raw, next.raw, std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
        p.talker.store(rf_src, std::memory_order_relaxed);
        return LeaseVerdict::kClaimed;
      }
    }
  }

  // The rf_src of the stream that last claimed the slot (0: none yet).
  uint32_t Talker(uint32_t client, unsigned ts) const {
    return words_[uint64_t{client} * 2 + ts].talker.load(std::memory_order_relaxed);
  }

  // Still ours? One load per destination per packet.
  bool Holds(uint32_t client, unsigned ts, uint32_t stream_id) const {
    return Load(client, ts).held_by(stream_id);
  }

  // held(stream_id) → ended(now). No effect if another stream took the slot meanwhile.
  bool Release(uint32_t client, unsigned ts, uint32_t stream_id, TimeNs ended_at) {
    std::atomic<uint64_t>& w = word(client, ts);
    LeaseWord cur{w.load(std::memory_order_acquire)};
    while (cur.held_by(stream_id)) {
      const LeaseWord next = LeaseWord::Ended(cur.tg(), cur.rx(), ended_at);
      if (w.compare_exchange_weak(cur.raw, next.raw, std::memory_order_acq_rel,
                                  std::memory_order_acquire)) {
        return true;
      }
    }
    return false;
  }

  // A new occupant of the client slot (a logout, then another login into the same slot): the
  // words the previous occupant's calls left *ended* are forgotten, so the newcomer waits out no
  // hang time or collision window of calls it never heard. A held word is left alone: its
  // stream's owner releases it (a stream to the old occupant at the snapshot that removed it,
  // the old occupant's own over when it goes quiet), and a held word may be the newcomer's. By
  // CAS, so a claim made meanwhile is never undone. Every shard that sees the change calls it;
  // the talker is left as it is (it is read only with an ended or held word, which a later
  // claim writes together with its talker).
  void ForgetEnded(uint32_t client) {
    for (unsigned ts : {kTs1, kTs2}) {
      std::atomic<uint64_t>& w = word(client, ts);
      uint64_t cur = w.load(std::memory_order_acquire);
      while (LeaseWord{cur}.ended() && !w.compare_exchange_weak(cur, 0, std::memory_order_acq_rel,
                                                                std::memory_order_acquire)) {
      }
    }
  }

  // Whether a stream of talker `rf_src` on `tg` may take a slot whose word is `cur` and whose
  // last claimer was `talker` (see the contention table at the top).
  static bool Claimable(LeaseWord cur, uint32_t tg, TimeNs now, const LeaseTimers& t,
                        uint32_t talker, uint32_t rf_src) {
    if (cur.free()) return true;
    if (cur.held()) return false;
    const TimeNs since = cur.since_end(now);
    if (cur.tg() != tg) return since >= t.group_hangtime;
    if (rf_src != 0 && talker == rf_src) return true;
    return since >= t.stream_timeout;
  }

 private:
  struct alignas(64) Padded {
    std::atomic<uint64_t> w{0};
    std::atomic<uint32_t> talker{0};  // rf_src of the last claim (see the top of this file)
  };
  Padded& slot(uint32_t client, unsigned ts) { return words_[uint64_t{client} * 2 + ts]; }
  static_assert(std::atomic<uint64_t>::is_always_lock_free);

  uint32_t max_clients_;
  std::unique_ptr<Padded[]> words_;
};

}  // namespace dmrswitch::route
