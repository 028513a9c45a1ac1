// InstanceLock: one hub per runtime name and per listening address on a machine.
//
// SO_REUSEPORT lets a second dmrswitch-dp bind the same UDP port as a running one, and the kernel
// then splits the clients between two hubs that know nothing of each other. So before it binds
// anything the dp takes advisory flock(2) locks in the run directory (hub.run_dir):
//
//   <runtime_name>.lock                 exclusive: one dp per runtime name
//   udp-<a.b.c.d>-<port>.lock           exclusive for a specific address
//   udp-any-<port>.lock                 exclusive for 0.0.0.0, shared for a specific address
//
// so two hubs on different addresses of one port coexist, while a wildcard listener conflicts
// with every other listener on its port. The locks only see hubs that share the run directory;
// a hub started with another hub.run_dir would still share the port, so a hub that binds kernel
// sockets also looks for a UDP socket already bound to a conflicting address and port in its
// network namespace (/proc/net/udp), whoever owns it, and refuses naming that process. The kernel
// drops a flock with the last descriptor of the process that held it: a hub killed with -9 leaves
// files, never a held lock, and the next hub simply takes them again. A refusal names the holder
// (its PID and command line, from /proc/locks) so the operator knows which hub to stop.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/route/types.h"

namespace dmrswitch::io {

struct InstanceIdentity {
  std::string run_dir;                     // created (0755) if missing
  std::string runtime_name;                // hub.runtime_name
  std::string config_path;                 // for the holder's note ("" : embedded default)
  std::vector<route::Endpoint> listeners;  // UDP addresses the hub will serve
  // The hub binds the listeners as kernel UDP sockets (kernel mode): also refuse when a socket
  // of any process is bound to a conflicting address and port.
  bool kernel_sockets = false;
};

class InstanceLock {
 public:
  // Takes every lock or none. FailedPrecondition names the running hub; other codes say what
  // is wrong with the run directory.
  static absl::StatusOr<InstanceLock> Acquire(const InstanceIdentity& id);

  InstanceLock(InstanceLock&& other) noexcept : fds_(std::move(other.fds_)) { other.fds_.clear(); }
  InstanceLock& operator=(InstanceLock&& other) noexcept;
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;
  ~InstanceLock();

 private:
  InstanceLock() = default;
  void Release();
  std::vector<int> fds_;
};

}  // namespace dmrswitch::io
