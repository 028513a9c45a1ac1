#include "ctrlplane/api_options.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "ctrlplane/subscriptions/options.h"
#include "nlohmann/json.hpp"

namespace dmrswitch::cp {
namespace {

absl::Status Errno(const std::string& what, const std::string& path) {
  return absl::UnavailableError(absl::StrCat(what, " ", path, ": ", std::strerror(errno),
                                             " (report.api_options_file names it)"));
}

bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ApiOptions>> ApiOptions::Open(std::string path) {
  std::unique_ptr<ApiOptions> store(new ApiOptions(path));
  if (path.empty()) return store;
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return store;
    return Errno("cannot read", path);
  }
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  const auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", why,
                     " (the API's stored options: fix or remove the file; "
                     "report.api_options_file names it)"));
  };
  if (!j.is_object() || !j.contains("options") || !j["options"].is_object()) {
    return bad("not a JSON object with an \"options\" object");
  }
  for (const auto& [key, value] : j["options"].items()) {
    uint32_t id = 0;
    if (!absl::SimpleAtoi(key, &id) || id == 0) return bad(absl::StrCat("\"", key, "\" is no ID"));
    if (!value.is_string() || value.get<std::string>().size() > kMaxOptionsBytes) {
      return bad(absl::StrCat("client ", id, ": not an options string"));
    }
    if (store->options_.size() == kMaxEntries) return bad("more than 100000 clients");
    store->options_[id] = WithoutKey(value.get<std::string>());
  }
  store->on_disk_ = store->options_;
  return store;
}

const std::string* ApiOptions::Find(uint32_t id) const {
  auto it = options_.find(id);
  return it == options_.end() ? nullptr : &it->second;
}

absl::StatusOr<uint64_t> ApiOptions::Set(uint32_t id, std::string options) {
  if (options.size() > kMaxOptionsBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("an options string is at most ", kMaxOptionsBytes, " bytes"));
  }
  if (!options_.contains(id) && options_.size() == kMaxEntries) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the API keeps options for at most ", kMaxEntries, " clients"));
  }
  std::string stored = WithoutKey(options);
  options_[id] = stored;
  return Queue(id, std::move(stored));
}

absl::StatusOr<uint64_t> ApiOptions::Clear(uint32_t id) {
  if (options_.erase(id) == 0) {
    std::lock_guard<std::mutex> lock(mu_);
    return queued_;  // nothing changes: done when what is queued is
  }
  return Queue(id, std::nullopt);
}

uint64_t ApiOptions::Queue(uint32_t id, std::optional<std::string> options) {
  std::lock_guard<std::mutex> lock(mu_);
  if (path_.empty()) return 0;  // nothing to write: every ticket is done
  if (!writer_.joinable()) writer_ = std::thread([this] { WriterLoop(); });
  queue_.emplace_back(id, std::move(options));
  changed_.notify_one();
  return ++queued_;
}

void ApiOptions::WhenWritten(uint64_t ticket, std::function<void(absl::Status)> done) {
  absl::Status now;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ticket > written_) {
      waiting_.emplace_back(ticket, std::move(done));
      return;
    }
    now = last_write_;
  }
  done(now);
}

absl::Status ApiOptions::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  rewritten_.wait(lock, [&] { return told_ >= queued_; });
  return last_write_;
}

void ApiOptions::WriterLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    changed_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything is written
    const auto changes = std::exchange(queue_, {});
    const uint64_t covered = queued_;
    lock.unlock();
    for (const auto& [id, options] : changes) {
      if (options) {
        on_disk_[id] = *options;
      } else {
        on_disk_.erase(id);
      }
    }
    const absl::Status st = Write(on_disk_);
    lock.lock();
    written_ = covered;
    last_write_ = st;
    std::vector<std::function<void(absl::Status)>> done;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (it->first <= covered) {
        done.push_back(std::move(it->second));
        it = waiting_.erase(it);
      } else {
        ++it;
      }
    }
    lock.unlock();
    for (const auto& d : done) d(st);
    lock.lock();
    told_ = covered;
    rewritten_.notify_all();
  }
}

ApiOptions::~ApiOptions() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    changed_.notify_one();
  }
  if (writer_.joinable()) writer_.join();
}

absl::Status ApiOptions::Write(const std::map<uint32_t, std::string>& options) const {
  if (path_.empty()) return absl::OkStatus();
  nlohmann::json j = {{"version", 1}, {"options", nlohmann::json::object()}};
  for (const auto& [id, o] : options) j["options"][std::to_string(id)] = o;
  const std::string text = j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  const std::string tmp = path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot write", tmp);
  const bool ok = WriteAll(fd, text) && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) {
    errno = saved;
    ::unlink(tmp.c_str());
    return Errno("cannot write", tmp);
  }
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Errno("cannot replace", path_);
  }
  // The rename itself is durable once the directory is synced.
  const std::string dir = path_.find('/') == std::string::npos
                              ? std::string(".")
                              : path_.substr(0, std::max<size_t>(path_.rfind('/'), 1));
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return absl::OkStatus();
}

std::string WithoutKey(const std::string& options) {
  std::vector<std::string> kept;
  for (absl::string_view entry : absl::StrSplit(options, ';', absl::SkipWhitespace())) {
    std::string name(entry.substr(0, entry.find('=')));
    std::erase_if(name, [](char c) { return c == '"' || c == '\''; });
    if (!absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(name), "KEY")) {
      kept.emplace_back(absl::StripAsciiWhitespace(entry));
    }
  }
  return absl::StrJoin(kept, ";");
}

std::string WithSlotStatics(const std::string& options, int slot,
                            const std::vector<uint32_t>& tgs) {
  const std::string key = absl::StrCat("TS", slot);
  std::vector<std::string> kept;
  for (absl::string_view entry : absl::StrSplit(options, ';', absl::SkipWhitespace())) {
    const absl::string_view name = absl::StripAsciiWhitespace(entry.substr(0, entry.find('=')));
    // TS1, TS1_1..TS1_9 (case-insensitive), as ParseOptions reads them.
    const bool same_slot =
        name.size() >= key.size() && absl::EqualsIgnoreCase(name.substr(0, key.size()), key) &&
        (name.size() == key.size() ||
         (name.size() == key.size() + 2 && name[key.size()] == '_' &&
          absl::ascii_isdigit(static_cast<unsigned char>(name[key.size() + 1]))));
    if (!same_slot) kept.emplace_back(absl::StripAsciiWhitespace(entry));
  }
  kept.push_back(absl::StrCat(key, "=", absl::StrJoin(tgs, ",")));
  return absl::StrJoin(kept, ";");
}

}  // namespace dmrswitch::cp
