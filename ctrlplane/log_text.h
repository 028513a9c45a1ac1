// What clients and peers send, made fit for a log line, and a budget for how many such lines the
// control plane writes. Anything a datagram carries (an options key, a callsign) is text an
// attacker chooses: unescaped, a newline forges a log line and an ESC sequence reaches the
// operator's terminal; unthrottled, one client writes megabytes of log a second.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "dataplane/route/types.h"

namespace dmrswitch::cp {

// Printable ASCII passes, except '\' and '"' which are escaped with a backslash; every other
// byte (control characters, DEL, anything >= 0x80) is written as \xNN. At most `max_bytes` of
// `text` are shown; the rest is replaced by "...(N bytes)".
inline std::string EscapeText(std::string_view text, size_t max_bytes = 64) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  const size_t shown = std::min(text.size(), max_bytes);
  out.reserve(shown + 16);
  for (size_t i = 0; i < shown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\\' || c == '"') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (shown < text.size()) out += "...(" + std::to_string(text.size()) + " bytes)";
  return out;
}

// Token buckets for log lines: one per key (a client ID, say) and one for all keys together.
// Allow() spends a token of both or refuses; refused lines are counted for a summary line
// ("N lines not written"). Bounded: when `max_keys` keys are tracked the per-key buckets start
// over (the shared bucket still holds the total).
class LogBudget {
 public:
  struct Limits {
    double per_key_burst = 5;                        // lines one key may write at once
    route::TimeNs per_key_every = 10 * route::kSec;  // one more line per key this often
    double total_burst = 50;
    route::TimeNs total_every = 100 * route::kMs;  // 10 lines a second in all, sustained
    size_t max_keys = 4096;
  };

  LogBudget() : LogBudget(Limits{}) {}
  explicit LogBudget(Limits limits) : limits_(limits), total_{limits.total_burst, 0, false} {}

  bool Allow(uint64_t key, route::TimeNs now) {
    if (keys_.size() >= limits_.max_keys && !keys_.contains(key)) keys_.clear();
    Bucket& k = keys_[key];
    if (!k.started) k = Bucket{limits_.per_key_burst, now, true};
    if (!total_.started) total_ = Bucket{limits_.total_burst, now, true};
    Refill(&k, now, limits_.per_key_burst, limits_.per_key_every);
    Refill(&total_, now, limits_.total_burst, limits_.total_every);
    if (k.tokens < 1 || total_.tokens < 1) {
      ++suppressed_;
      return false;
    }
    k.tokens -= 1;
    total_.tokens -= 1;
    return true;
  }
  // Lines refused since the last call.
  uint64_t TakeSuppressed() { return std::exchange(suppressed_, 0); }
  size_t tracked_keys() const { return keys_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    route::TimeNs at = 0;
    bool started = false;
  };
  static void Refill(Bucket* b, route::TimeNs now, double burst, route::TimeNs every) {
    if (now > b->at && every > 0) {
      b->tokens = std::min(
          burst, b->tokens + static_cast<double>(now - b->at) / static_cast<double>(every));
    }
    b->at = std::max(b->at, now);
  }

  Limits limits_;
  Bucket total_;
  absl::flat_hash_map<uint64_t, Bucket> keys_;
  uint64_t suppressed_ = 0;
};

}  // namespace dmrswitch::cp
