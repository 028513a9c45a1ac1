#include "ctrlplane/cp_attach_journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace dmrswitch::cp {
namespace {

// Every record has this size (padded with spaces): a rewrite covers the previous one whole.
constexpr size_t kRecordBytes = 64;

constexpr CpAttachJournal::Phase kPhases[] = {
    CpAttachJournal::Phase::kAttaching, CpAttachJournal::Phase::kAttached,
    CpAttachJournal::Phase::kDetaching, CpAttachJournal::Phase::kDetached};

}  // namespace

const char* CpAttachJournal::PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kNone:
      return "none";
    case Phase::kAttaching:
      return "attaching";
    case Phase::kAttached:
      return "attached";
    case Phase::kDetaching:
      return "detaching";
    case Phase::kDetached:
      return "detached";
  }
  return "none";
}

std::string CpAttachJournal::Format(const Entry& e) {
  std::string line = absl::StrCat(PhaseName(e.phase), " cp=", e.cp, " dp=", e.dp);
  line.resize(kRecordBytes - 1, ' ');
  line.push_back('\n');
  return line;
}

CpAttachJournal::Entry CpAttachJournal::Parse(const std::string& text) {
  Entry e;
  const std::vector<std::string> f =
      absl::StrSplit(absl::StripAsciiWhitespace(text), ' ', absl::SkipEmpty());
  if (f.size() != 3) return e;
  int cp = 0, dp = 0;
  if (!absl::SimpleAtoi(absl::StripPrefix(f[1], "cp="), &cp) || !f[1].starts_with("cp=") ||
      !absl::SimpleAtoi(absl::StripPrefix(f[2], "dp="), &dp) || !f[2].starts_with("dp=") ||
      cp <= 0 || dp < 0) {
    return e;
  }
  for (Phase p : kPhases) {
    if (f[0] == PhaseName(p)) {
      e.phase = p;
      e.cp = cp;
      e.dp = dp;
    }
  }
  return e;
}

absl::StatusOr<CpAttachJournal> CpAttachJournal::Open(const std::string& run_dir,
                                                      const std::string& runtime_name) {
  CpAttachJournal j;
  j.path_ = absl::StrCat(run_dir, "/", runtime_name, ".cp");
  j.fd_ = ::open(j.path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (j.fd_ < 0) {
    return absl::FailedPreconditionError(absl::StrCat("cannot open ", j.path_, ": ",
                                                      std::strerror(errno),
                                                      " (hub.run_dir names the run directory)"));
  }
  char buf[kRecordBytes + 1] = {};
  const ssize_t n = ::pread(j.fd_, buf, kRecordBytes, 0);
  const Entry last = n > 0 ? Parse(std::string(buf, static_cast<size_t>(n))) : Entry{};
  if (::flock(j.fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err != EWOULDBLOCK) {
      return absl::InternalError(absl::StrCat("flock ", j.path_, ": ", std::strerror(err)));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("another dmrswitch-cp serves this hub already",
                     last.cp > 0 ? absl::StrCat(" (pid ", last.cp, ")") : std::string(), "; ",
                     j.path_, " is locked"));
  }
  // Read again under the lock: the holder we waited for may have written since.
  const ssize_t m = ::pread(j.fd_, buf, kRecordBytes, 0);
  j.previous_ = m > 0 ? Parse(std::string(buf, static_cast<size_t>(m))) : Entry{};
  return j;
}

bool CpAttachJournal::PredecessorDiedInsideEal(pid_t dp) const {
  return dp > 0 && previous_.dp == dp &&
         (previous_.phase == Phase::kAttaching || previous_.phase == Phase::kDetaching);
}

absl::Status CpAttachJournal::Record(Phase phase, pid_t dp) {
  const std::string rec = Format(Entry{phase, ::getpid(), dp});
  if (::pwrite(fd_, rec.data(), rec.size(), 0) != static_cast<ssize_t>(rec.size())) {
    return absl::InternalError(absl::StrCat("write ", path_, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

CpAttachJournal::CpAttachJournal(CpAttachJournal&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      previous_(other.previous_) {}

CpAttachJournal& CpAttachJournal::operator=(CpAttachJournal&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    previous_ = other.previous_;
  }
  return *this;
}

CpAttachJournal::~CpAttachJournal() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace dmrswitch::cp
