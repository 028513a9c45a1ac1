#include "dataplane/route/acl.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "absl/strings/str_cat.h"

namespace dmrswitch::route {
namespace {

// Debian's Abseil has its own string_view type; the ACL code speaks std::string_view and builds
// messages from std::string.
std::string Str(std::string_view s) { return std::string(s); }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

absl::StatusOr<uint32_t> ParseId(std::string_view s, std::string_view whole) {
  s = Trim(s);
  uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || v > 0xFFFFFFFFull) {
    return absl::InvalidArgumentError(absl::StrCat("ACL \"", Str(whole), "\": \"", Str(s),
                                                   "\" is not an ID, a range lo-hi or ALL"));
  }
  return static_cast<uint32_t>(v);
}

}  // namespace

absl::StatusOr<Acl> Acl::Parse(std::string_view text, uint32_t min_id, uint32_t max_id) {
  const std::string_view whole = Trim(text);
  Acl acl;
  if (whole.empty()) return acl;
  const size_t colon = whole.find(':');
  if (colon == std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("ACL \"", Str(whole), "\": expected PERMIT:list or DENY:list"));
  }
  const std::string action = Upper(Trim(whole.substr(0, colon)));
  if (action == "PERMIT") {
    acl.listed_permit_ = true;
  } else if (action == "DENY") {
    acl.listed_permit_ = false;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("ACL \"", Str(whole), "\": action \"", action,
                                                   "\" is neither PERMIT nor DENY"));
  }
  std::string_view rest = whole.substr(colon + 1);
  for (;;) {
    const size_t comma = rest.find(',');
    const std::string_view entry = Trim(rest.substr(0, comma));
    if (entry.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("ACL \"", Str(whole), "\": empty entry"));
    }
    uint32_t lo, hi;
    const bool all = Upper(entry) == "ALL";
    if (all) {
      lo = 0;
      hi = 0xFFFFFFFF;
    } else if (const size_t dash = entry.find('-'); dash != std::string_view::npos) {
      absl::StatusOr<uint32_t> a = ParseId(entry.substr(0, dash), whole);
      if (!a.ok()) return a.status();
      absl::StatusOr<uint32_t> b = ParseId(entry.substr(dash + 1), whole);
      if (!b.ok()) return b.status();
      lo = *a;
      hi = *b;
      if (lo > hi) {
        return absl::InvalidArgumentError(
            absl::StrCat("ACL \"", Str(whole), "\": range ", Str(entry), " is backwards"));
      }
    } else {
      absl::StatusOr<uint32_t> a = ParseId(entry, whole);
      if (!a.ok()) return a.status();
      lo = hi = *a;
    }
    // Only the word ALL may reach beyond the limits; a spelled-out 0-4294967295 contains 0.
    if (!all && (lo < min_id || hi > max_id)) {
      return absl::InvalidArgumentError(absl::StrCat("ACL \"", Str(whole), "\": ", Str(entry),
                                                     " is outside ", min_id, "..", max_id));
    }
    acl.ranges_.emplace_back(lo, hi);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  // Sort, then merge overlapping and adjacent ranges in place.
  auto& ranges = acl.ranges_;
  std::sort(ranges.begin(), ranges.end());
  size_t merged = 0;
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first <= uint64_t{ranges[merged].second} + 1) {
      ranges[merged].second = std::max(ranges[merged].second, ranges[i].second);
    } else {
      ranges[++merged] = ranges[i];
    }
  }
  ranges.resize(merged + 1);
  return acl;
}

bool Acl::Listed(uint32_t id) const {
  // First range whose upper bound is >= id.
  auto it = std::lower_bound(ranges_.begin(), ranges_.end(), id,
                             [](const auto& r, uint32_t v) { return r.second < v; });
  return it != ranges_.end() && it->first <= id;
}

std::string Acl::ToString() const {
  if (ranges_.empty()) return "PERMIT:ALL";
  std::string out = listed_permit_ ? "PERMIT:" : "DENY:";
  for (size_t i = 0; i < ranges_.size(); ++i) {
    const auto [lo, hi] = ranges_[i];
    if (i > 0) out += ',';
    if (lo == 0 && hi == 0xFFFFFFFF) {
      out += "ALL";
    } else if (lo == hi) {
      absl::StrAppend(&out, lo);
    } else {
      absl::StrAppend(&out, lo, "-", hi);
    }
  }
  return out;
}

}  // namespace dmrswitch::route
