// CpAttachJournal: one dmrswitch-cp per hub, and what the last one was doing inside DPDK.
//
// A DPDK secondary killed inside EAL (its init, a memzone or ring lookup, its cleanup) can leave
// a lock of the dp's shared memory configuration held, and every later secondary then waits for
// it for ever in its own init. dmrswitch-cp enters EAL in two windows only: attaching (EAL init,
// the lookups, the claim on the plane) and detaching (EAL cleanup); between them it touches the
// dp's memory through rings, its own snapshot arena and atomics, none of which a kill can leave
// locked. It records each window in <run_dir>/<runtime_name>.cp, a file it holds flock(2)-locked
// for its whole life: so only one cp runs per hub, and the file always holds the last cp's own
// last word. The next cp reads it before it enters EAL: a predecessor that died inside a window,
// attached to the same dp, may have left a lock held (ipc::ClearLeakedEalLocks repairs that).
#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dmrswitch::cp {

class CpAttachJournal {
 public:
  enum class Phase { kNone, kAttaching, kAttached, kDetaching, kDetached };
  struct Entry {
    Phase phase = Phase::kNone;
    pid_t cp = 0;  // the control plane that wrote it
    pid_t dp = 0;  // the dp (EAL primary) it was attaching to or attached to
  };

  // Takes the journal of the hub in `run_dir` named `runtime_name` (the file is created 0600 if
  // missing). FailedPrecondition names the running cp when another one holds it.
  static absl::StatusOr<CpAttachJournal> Open(const std::string& run_dir,
                                              const std::string& runtime_name);

  // What the previous cp recorded last (kNone: no cp ran here, or the file is not a journal).
  const Entry& previous() const { return previous_; }
  // Whether the previous cp died inside EAL while attached to the dp `dp`.
  bool PredecessorDiedInsideEal(pid_t dp) const;

  // Records this process entering `phase` with the dp `dp`. Written in place with one pwrite of
  // a fixed-size record, so a kill leaves either the old record or the new one.
  absl::Status Record(Phase phase, pid_t dp);

  const std::string& path() const { return path_; }

  CpAttachJournal(CpAttachJournal&& other) noexcept;
  CpAttachJournal& operator=(CpAttachJournal&& other) noexcept;
  CpAttachJournal(const CpAttachJournal&) = delete;
  CpAttachJournal& operator=(const CpAttachJournal&) = delete;
  ~CpAttachJournal();

  static const char* PhaseName(Phase phase);
  // The record as written to the file, and back (kNone for anything else).
  static std::string Format(const Entry& e);
  static Entry Parse(const std::string& text);

 private:
  CpAttachJournal() = default;
  int fd_ = -1;
  std::string path_;
  Entry previous_;
};

}  // namespace dmrswitch::cp
