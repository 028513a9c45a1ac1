// A dmrswitch-dp process under test: written configuration, spawned binary, captured log, and
// an orderly or brutal end. The end-to-end tests talk to it only over real UDP.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace dmrswitch::e2e {

// A UDP port on 127.0.0.1 that was free a moment ago.
uint16_t FreeUdpPort();

// `toml` with hub.run_dir set to `run_dir` unless it names one. Every HubProcess runs with its
// own run directory, so the hubs of tests running side by side do not meet in /run/dmrswitch's
// one-hub-per-runtime-name lock (dataplane/io/instance_lock.h); tests of that lock set run_dir.
std::string WithRunDir(const std::string& toml, const std::string& run_dir);

class HubProcess {
 public:
  struct Options {
    std::string toml;                  // the configuration file's text
    std::vector<std::string> wrapper;  // run the hub under this command (e.g. setpriv ...)
    absl::Duration ready_timeout = absl::Seconds(15);
    // dmrswitch-cp instead of dmrswitch-dp: reads `config_path` (the dp's file; `toml` unused)
    // and is ready at its "dmrswitch-cp: attached" line.
    bool control_plane = false;
    std::string config_path;
  };

  // Starts the hub and waits until it says it is serving (the "dmrswitch-dp: kernel mode",
  // "dpdk mode" or "afxdp mode" line).
  static absl::StatusOr<std::unique_ptr<HubProcess>> Start(Options options);
  static absl::StatusOr<std::unique_ptr<HubProcess>> Start(std::string toml) {
    Options o;
    o.toml = std::move(toml);
    return Start(std::move(o));
  }
  // Runs the hub to completion (for configurations it must refuse): exit code and output.
  static absl::StatusOr<std::pair<int, std::string>> RunToExit(const std::string& toml,
                                                               absl::Duration timeout);
  // Runs `argv` (a dmrswitch binary: DpPath(), CpPath(), CtlPath()) to completion.
  static absl::StatusOr<std::pair<int, std::string>> RunCommand(std::vector<std::string> argv,
                                                                absl::Duration timeout);
  static std::string DpPath();
  static std::string CpPath();
  static std::string CtlPath();

  ~HubProcess();
  HubProcess(const HubProcess&) = delete;
  HubProcess& operator=(const HubProcess&) = delete;

  // SIGTERM and wait; returns the exit status (as from waitpid) or -1 on timeout (then SIGKILL).
  int Stop(absl::Duration timeout = absl::Seconds(10));
  // SIGKILL and reap.
  void Kill();
  void Signal(int sig);
  bool running();

  std::string Log() const;
  // Polls the log until `needle` appears (after `from` bytes), or the timeout.
  bool WaitForLog(std::string_view needle, absl::Duration timeout, size_t from = 0) const;
  size_t LogSize() const { return Log().size(); }
  const std::string& config_path() const { return config_path_; }
  // The hub's process ID (the wrapper execs it, so also under setpriv); -1 once reaped.
  pid_t pid() const { return pid_; }
  // Rewrites the configuration file (for SIGHUP reload tests).
  void RewriteConfig(const std::string& toml) const;

 private:
  HubProcess() = default;
  pid_t pid_ = -1;
  std::string dir_;
  std::string config_path_;
  std::string log_path_;
};

}  // namespace dmrswitch::e2e
