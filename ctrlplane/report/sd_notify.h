// systemd's notification protocol for Type=notify units, written by hand (no libsystemd):
// newline-separated VAR=value assignments ("READY=1", "WATCHDOG=1", "STATUS=...", "STOPPING=1")
// in one datagram to the AF_UNIX socket named by $NOTIFY_SOCKET, a path or, when it starts with
// '@', a name in the abstract namespace. Sends never block (a full socket drops the message and
// says so); without $NOTIFY_SOCKET every call is a successful no-op, so a hub started outside
// systemd needs no special case. Not thread-safe: call from one thread (or guard it).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dmrswitch::cp::report {

class SystemdNotifier {
 public:
  // Uses $NOTIFY_SOCKET if set (and valid), else an inactive notifier.
  static absl::StatusOr<SystemdNotifier> FromEnvironment();
  // For an explicit socket address ("/run/..." or "@abstract-name").
  static absl::StatusOr<SystemdNotifier> ForSocket(std::string_view address);
  SystemdNotifier() = default;  // inactive
  ~SystemdNotifier();
  SystemdNotifier(SystemdNotifier&& other) noexcept;
  SystemdNotifier& operator=(SystemdNotifier&& other) noexcept;
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  bool active() const { return fd_ >= 0; }
  absl::Status Ready() { return Notify("READY=1"); }
  absl::Status Watchdog() { return Notify("WATCHDOG=1"); }
  absl::Status Stopping() { return Notify("STOPPING=1"); }
  absl::Status Reloading() { return Notify("RELOADING=1"); }
  // STATUS=<text>; newlines in the text become spaces (a newline would end the assignment).
  absl::Status Status(std::string_view text);
  // Sends `assignments` as is ("READY=1\nSTATUS=up").
  absl::Status Notify(std::string_view assignments);

 private:
  int fd_ = -1;
  std::string address_;  // sockaddr_un bytes (abstract names start with '\0')
};

// How often WATCHDOG=1 is due: half of $WATCHDOG_USEC (systemd's advice), when the watchdog is
// enabled for this process ($WATCHDOG_PID unset or equal to getpid()); nullopt otherwise.
std::optional<std::chrono::microseconds> WatchdogInterval();

}  // namespace dmrswitch::cp::report
