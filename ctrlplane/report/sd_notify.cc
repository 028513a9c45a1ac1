#include "ctrlplane/report/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace dmrswitch::cp::report {

absl::StatusOr<SystemdNotifier> SystemdNotifier::FromEnvironment() {
  const char* socket_path = std::getenv("NOTIFY_SOCKET");
  if (!socket_path || !*socket_path) return SystemdNotifier();
  return ForSocket(socket_path);
}

absl::StatusOr<SystemdNotifier> SystemdNotifier::ForSocket(std::string_view address) {
  sockaddr_un un{};
  if (address.size() < 2 || (address[0] != '/' && address[0] != '@')) {
    return absl::InvalidArgumentError(
        absl::StrCat("NOTIFY_SOCKET '", std::string(address),
                     "' is neither an absolute path nor an abstract name ('@...')"));
  }
  if (address.size() >= sizeof(un.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("NOTIFY_SOCKET '", std::string(address), "' is too long"));
  }
  SystemdNotifier notifier;
  notifier.address_ = std::string(address);
  if (address[0] == '@') notifier.address_[0] = '\0';
  notifier.fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (notifier.fd_ < 0) {
    return absl::InternalError(absl::StrCat("notify socket: ", strerror(errno)));
  }
  return notifier;
}

SystemdNotifier::~SystemdNotifier() {
  if (fd_ >= 0) close(fd_);
}

SystemdNotifier::SystemdNotifier(SystemdNotifier&& other) noexcept
    : fd_(other.fd_), address_(std::move(other.address_)) {
  other.fd_ = -1;
}

SystemdNotifier& SystemdNotifier::operator=(SystemdNotifier&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    address_ = std::move(other.address_);
    other.fd_ = -1;
  }
  return *this;
}

absl::Status SystemdNotifier::Status(std::string_view text) {
  std::string line = absl::StrCat("STATUS=", std::string(text));
  for (char& c : line) {
    if (c == '\n') c = ' ';
  }
  return Notify(line);
}

absl::Status SystemdNotifier::Notify(std::string_view assignments) {
  if (fd_ < 0) return absl::OkStatus();
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path, address_.data(), address_.size());
  // A path is NUL-terminated (sockaddr_un was zeroed); an abstract name is exactly its bytes.
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size() +
                                         (address_[0] == '\0' ? 0 : 1));
  ssize_t n = sendto(fd_, assignments.data(), assignments.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                     reinterpret_cast<sockaddr*>(&un), len);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return absl::UnavailableError("notify socket is full; message dropped");
    }
    return absl::UnavailableError(absl::StrCat("notify: ", strerror(errno)));
  }
  return absl::OkStatus();
}

std::optional<std::chrono::microseconds> WatchdogInterval() {
  const char* usec = std::getenv("WATCHDOG_USEC");
  uint64_t value = 0;
  if (!usec || !absl::SimpleAtoi(usec, &value) || value == 0) return std::nullopt;
  if (const char* pid = std::getenv("WATCHDOG_PID"); pid && *pid) {
    int64_t owner = 0;
    if (!absl::SimpleAtoi(pid, &owner) || owner != getpid()) return std::nullopt;
  }
  return std::chrono::microseconds(value / 2);
}

}  // namespace dmrswitch::cp::report
