// ApiOptions: the options strings that operators and hotspot owners set through the JSON API
// (PUT /api/v1/clients/{id}/options and the talkgroup endpoints), by client ID. They act as the
// client's own RPTO with the last word: the control plane applies a client's stored string after
// every options string the client sends (and at its login), so they hold across logins, reloads
// and restarts. One owner: the control plane's thread.
//
// Kept in a JSON file (`report.api_options_file`) that is rewritten whole, to a temporary file
// that is synced and renamed over the old one, before a change is acknowledged: a crash leaves
// the old or the new file, never a torn one. KEY= entries are never stored: a hotspot's key is
// its own, latched from its RPTO for one session (Subscriptions), and a stored one would
// outlive the owner's change of it. Created mode 0600 all the same. Bounded: kMaxEntries strings
// of at most kMaxOptionsBytes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dmrswitch::cp {

class ApiOptions {
 public:
  static constexpr size_t kMaxEntries = 100000;

  // Loads `path` (a missing file is an empty store); an unreadable or malformed file is an error
  // naming it. `path` "" keeps the strings in memory only (tests).
  static absl::StatusOr<std::unique_ptr<ApiOptions>> Open(std::string path);

  const std::string* Find(uint32_t id) const;
  // Writes the file, then changes the store (the string without its KEY= entries).
  // ResourceExhausted when full; the store is unchanged when the file cannot be written.
  absl::Status Set(uint32_t id, std::string options);
  absl::Status Clear(uint32_t id);  // no error when there is nothing to clear
  size_t size() const { return options_.size(); }
  const std::string& path() const { return path_; }

 private:
  explicit ApiOptions(std::string path) : path_(std::move(path)) {}
  absl::Status Write(const std::map<uint32_t, std::string>& options) const;

  std::string path_;
  std::map<uint32_t, std::string> options_;
};

// The options string with the static TGs of one slot (1 or 2) replaced by `tgs`: the slot's
// TS<n>= entries (and their TS<n>_<k> aliases) are removed and one TS<n>=a,b,... is appended;
// every other entry is kept as it is.
std::string WithSlotStatics(const std::string& options, int slot, const std::vector<uint32_t>& tgs);
// The options string without its KEY= entries (the key name compared as ParseOptions does:
// trimmed, quotes removed, case-insensitive).
std::string WithoutKey(const std::string& options);

}  // namespace dmrswitch::cp
