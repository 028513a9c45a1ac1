// ApiOptions: the options strings that operators and hotspot owners set through the JSON API
// (PUT /api/v1/clients/{id}/options and the talkgroup endpoints), by client ID. They act as the
// client's own RPTO with the last word: the control plane applies a client's stored string after
// every options string the client sends (and at its login), so they hold across logins, reloads
// and restarts. One owner: the control plane's thread.
//
// Kept in a JSON file (`report.api_options_file`) that is rewritten whole, to a temporary file
// that is synced and renamed over the old one: a crash leaves the old or the new file, never a
// torn one. The writing is a thread of its own, because a synced rewrite can take a second on a
// Raspberry Pi's SD card and the control plane's loop must not wait for it: Set/Clear change the
// store at once and queue the change; changes that queue up while a rewrite runs go into the
// next one; WhenWritten tells the API's write when its change is on disk (or why not), so that
// the API acknowledges nothing before it is. A failed rewrite leaves the store changed (the
// change applies until the hub stops) and the next change retries the whole file.
// KEY= entries are never stored: a hotspot's key is its own, latched from its RPTO for one
// session (Subscriptions), and a stored one would outlive the owner's change of it. Created mode
// 0600 all the same. Bounded: kMaxEntries strings of at most kMaxOptionsBytes.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
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

  ~ApiOptions();  // writes what is queued, then stops the writer
  ApiOptions(const ApiOptions&) = delete;
  ApiOptions& operator=(const ApiOptions&) = delete;

  // The owner's thread (the control plane's loop) for all but WhenWritten's callback.
  const std::string* Find(uint32_t id) const;
  // Changes the store (the string without its KEY= entries) and queues the change for the file;
  // returns the change's ticket for WhenWritten. InvalidArgument for a string longer than an
  // RPTO may be, ResourceExhausted when full: then nothing changed.
  absl::StatusOr<uint64_t> Set(uint32_t id, std::string options);
  absl::StatusOr<uint64_t> Clear(uint32_t id);  // nothing to clear: a ticket all the same
  // Calls `done` once the change `ticket` is on disk (OK) or its rewrite failed (the error),
  // on the writer's thread, or at once on the caller's when that is already known.
  void WhenWritten(uint64_t ticket, std::function<void(absl::Status)> done);
  // Waits until every queued change is written and told; the last rewrite's status (tests).
  absl::Status Flush();
  size_t size() const { return options_.size(); }
  const std::string& path() const { return path_; }

 private:
  explicit ApiOptions(std::string path) : path_(std::move(path)) {}
  uint64_t Queue(uint32_t id, std::optional<std::string> options);
  void WriterLoop();
  absl::Status Write(const std::map<uint32_t, std::string>& options) const;

  const std::string path_;
  std::map<uint32_t, std::string> options_;  // the owner's
  std::map<uint32_t, std::string> on_disk_;  // the writer's: what it writes

  std::mutex mu_;
  std::condition_variable changed_;                                     // a change queued, or stop
  std::condition_variable rewritten_;                                   // a rewrite finished
  std::vector<std::pair<uint32_t, std::optional<std::string>>> queue_;  // guarded by mu_
  uint64_t queued_ = 0;                                                 // guarded by mu_
  uint64_t written_ = 0;     // the last ticket a finished rewrite covered, guarded by mu_
  uint64_t told_ = 0;        // ... and whose WhenWritten callbacks have returned, guarded by mu_
  absl::Status last_write_;  // guarded by mu_
  std::vector<std::pair<uint64_t, std::function<void(absl::Status)>>> waiting_;  // mu_
  bool stop_ = false;                                                            // mu_
  std::thread writer_;
};

// The options string with the static TGs of one slot (1 or 2) replaced by `tgs`: the slot's
// TS<n>= entries (and their TS<n>_<k> aliases) are removed and one TS<n>=a,b,... is appended;
// every other entry is kept as it is.
std::string WithSlotStatics(const std::string& options, int slot, const std::vector<uint32_t>& tgs);
// The options string without its KEY= entries (the key name compared as ParseOptions does:
// trimmed, quotes removed, case-insensitive).
std::string WithoutKey(const std::string& options);

}  // namespace dmrswitch::cp
