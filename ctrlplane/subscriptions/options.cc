#include "ctrlplane/subscriptions/options.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "ctrlplane/log_text.h"
#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/tg_policy.h"
#include "dataplane/route/types.h"

namespace dmrswitch::cp {
namespace {

// Client text quoted in a warning is cut to this many bytes.
constexpr size_t kMaxWarnedTextBytes = 32;

// Drops NULs, non-ASCII bytes and quotes.
std::string Clean(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto u = static_cast<unsigned char>(ch);
    if (u == 0 || u >= 0x80 || ch == '"' || ch == '\'') continue;
    out.push_back(ch);
  }
  return out;
}

bool IsBlank(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' || ch == '\f';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

// Splits on `sep`, keeping empty pieces.
std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    const size_t at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& ch : out) ch = absl::ascii_tolower(static_cast<unsigned char>(ch));
  return out;
}

// absl::StrCat here predates std::string_view support (Debian's Abseil has its own string_view).
// The client's own text (keys, values) goes into warnings that end up in the log: escaped and
// cut short (log_text.h).
template <typename T>
const T& Arg(const T& v) {
  return v;
}
std::string Arg(std::string_view v) { return EscapeText(v, kMaxWarnedTextBytes); }

// Decimal digits only, at most 10 of them, fitting 32 bits.
std::optional<uint32_t> ParseNumber(std::string_view s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char ch : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(ch))) return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(ch - '0');
  }
  if (v > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(v);
}

enum class Key : uint8_t {
  kUnknown,
  kTs1,
  kTs2,
  kDial,
  kTimer,
  kVoice,
  kIdentTg,
  kLang,
  kSingle,
  kKey,
  kUserLink,
};

Key Classify(std::string_view lower) {
  if (lower == "ts1") return Key::kTs1;
  if (lower == "ts2") return Key::kTs2;
  // DMR+ style TS1_1..TS1_9 / TS2_1..TS2_9.
  if (lower.size() == 5 && lower[0] == 't' && lower[1] == 's' && lower[3] == '_' &&
      lower[4] >= '1' && lower[4] <= '9') {
    if (lower[2] == '1') return Key::kTs1;
    if (lower[2] == '2') return Key::kTs2;
  }
  if (lower == "dial" || lower == "startref") return Key::kDial;
  if (lower == "timer" || lower == "relinktime") return Key::kTimer;
  if (lower == "voice" || lower == "ident") return Key::kVoice;
  if (lower == "identtg" || lower == "voicetg") return Key::kIdentTg;
  if (lower == "lang") return Key::kLang;
  if (lower == "single") return Key::kSingle;
  if (lower == "key") return Key::kKey;
  if (lower == "userlink") return Key::kUserLink;
  return Key::kUnknown;
}

// Why `tg` cannot be a static TG, or empty.
std::string StaticProblem(uint32_t tg) {
  if (route::IsReservedStaticTg(tg)) return "is reserved (0-5, 9, 9990-9999)";
  if (!route::IsUserActivatableTg(tg)) return "cannot be subscribed to";
  return {};
}

bool IsLangChar(char ch) {
  return absl::ascii_isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-';
}

}  // namespace

absl::StatusOr<ClientOptions> ParseOptions(std::string_view text) {
  if (text.size() > kMaxOptionsBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("options string of ", text.size(), " bytes exceeds ", kMaxOptionsBytes));
  }
  ClientOptions out;
  auto warn = [&out](auto&&... parts) { out.warnings.push_back(absl::StrCat(Arg(parts)...)); };
  // Explicit lists per slot, merged across TSn and TSn_m entries.
  std::array<std::vector<uint32_t>, 2> lists;

  const std::string cleaned = Clean(text);
  for (std::string_view entry : Split(cleaned, ';')) {
    entry = Trim(entry);
    if (entry.empty()) continue;
    const size_t eq = entry.find('=');
    const std::string_view raw_key =
        Trim(eq == std::string_view::npos ? entry : entry.substr(0, eq));
    const std::string key = Lower(raw_key);
    const Key k = Classify(key);
    if (k == Key::kUserLink) continue;
    if (eq == std::string_view::npos) {
      // The entry itself is not repeated: it may be a mistyped secret ("KEY:...").
      warn("an options entry without '=' is ignored");
      continue;
    }
    const std::string_view value = Trim(entry.substr(eq + 1));
    auto number = [&](uint32_t* v) {
      std::optional<uint32_t> n = ParseNumber(value);
      if (!n) {
        warn(raw_key, "=", value, ": not a number, ignored");
        return false;
      }
      *v = *n;
      return true;
    };
    uint32_t n = 0;
    switch (k) {
      case Key::kUnknown:
        warn("unknown options key \"", raw_key, "\": ignored");
        break;
      case Key::kTs1:
      case Key::kTs2: {
        const unsigned ts = k == Key::kTs1 ? route::kTs1 : route::kTs2;
        if (!out.statics[ts]) out.statics[ts].emplace();
        for (std::string_view item : Split(value, ',')) {
          item = Trim(item);
          if (item.empty()) continue;
          std::optional<uint32_t> tg = ParseNumber(item);
          if (!tg) {
            warn(raw_key, ": \"", item, "\" is not a TG number, ignored");
            continue;
          }
          if (std::string why = StaticProblem(*tg); !why.empty()) {
            warn(raw_key, ": TG ", *tg, " ", why, ", ignored");
            continue;
          }
          lists[ts].push_back(*tg);
        }
        break;
      }
      case Key::kDial:
        if (!number(&n)) break;
        if (n != 0 && (route::IsReservedStaticTg(n) || !route::IsDialableTg(n))) {
          warn(raw_key, "=", n, ": TG ", n, " cannot be dialled, ignored");
          break;
        }
        out.dial = n;
        break;
      case Key::kTimer:
        if (number(&n)) out.timer_minutes = n;
        break;
      case Key::kVoice:
        if (number(&n)) out.voice = n != 0;
        break;
      case Key::kSingle:
        if (number(&n)) out.single = n != 0;
        break;
      case Key::kIdentTg:
        if (!number(&n)) break;
        if (n == 0 || n > route::kAllCall) {
          warn(raw_key, "=", n, ": not a TG, ignored");
          break;
        }
        out.ident_tg = n;
        break;
      case Key::kLang:
        if (value.empty() || value.size() > kMaxOptionLangBytes ||
            !std::all_of(value.begin(), value.end(), IsLangChar)) {
          warn(raw_key, "=", value, ": not a language tag, ignored");
          break;
        }
        out.lang = std::string(value);
        break;
      case Key::kKey:
        if (value.empty() || value.size() > kMaxOptionKeyBytes) {
          warn(raw_key, ": key must be 1..", kMaxOptionKeyBytes, " characters, ignored");
          break;
        }
        out.key = std::string(value);
        break;
      case Key::kUserLink:
        break;
    }
  }

  for (unsigned ts = 0; ts < 2; ++ts) {
    if (!out.statics[ts]) continue;
    std::vector<uint32_t>& l = lists[ts];
    std::sort(l.begin(), l.end());
    l.erase(std::unique(l.begin(), l.end()), l.end());
    if (l.size() > kMaxOptionStaticsPerSlot) {
      warn("TS", ts + 1, ": more than ", kMaxOptionStaticsPerSlot, " static TGs, ",
           l.size() - kMaxOptionStaticsPerSlot, " ignored");
      l.resize(kMaxOptionStaticsPerSlot);
    }
    *out.statics[ts] = std::move(l);
  }
  return out;
}

}  // namespace dmrswitch::cp
