#include "ctrlplane/ctl_server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace dmrswitch::cp {
namespace {

constexpr size_t kMaxRequestBytes = 4096;
constexpr size_t kMaxConnections = 16;

bool FillAddress(const std::string& path, sockaddr_un* addr) {
  if (path.size() >= sizeof(addr->sun_path)) return false;
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path, path.c_str(), path.size() + 1);
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CtlServer>> CtlServer::Listen(const std::string& path) {
  sockaddr_un addr;
  if (!FillAddress(path, &addr)) {
    return absl::InvalidArgumentError(absl::StrCat("control socket path too long: ", path));
  }
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  // A socket file nobody answers on is left over from a process that died: replace it.
  if (std::filesystem::exists(path, ec)) {
    const int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool live =
        probe >= 0 && connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    if (probe >= 0) close(probe);
    if (live) {
      return absl::AlreadyExistsError(
          absl::StrCat("control socket ", path, " is in use by another running hub"));
    }
    unlink(path.c_str());
  }
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 8) != 0) {
    const int err = errno;
    close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot listen on control socket ", path, ": ", std::strerror(err)));
  }
  std::unique_ptr<CtlServer> s(new CtlServer());
  s->path_ = path;
  s->listen_fd_ = fd;
  return s;
}

CtlServer::~CtlServer() {
  for (const Connection& c : connections_) close(c.fd);
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    unlink(path_.c_str());
  }
}

void CtlServer::Close(size_t index) {
  close(connections_[index].fd);
  connections_.erase(connections_.begin() + static_cast<std::ptrdiff_t>(index));
}

std::vector<CtlRequest> CtlServer::Poll() {
  std::vector<CtlRequest> out;
  while (connections_.size() < kMaxConnections) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) break;
    connections_.push_back(Connection{next_id_++, fd, {}});
  }
  for (size_t i = 0; i < connections_.size();) {
    Connection& c = connections_[i];
    char buf[1024];
    const ssize_t n = read(c.fd, buf, sizeof(buf));
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
      Close(i);  // the client went away (a pending answer has nobody to go to)
      continue;
    }
    if (n > 0) c.in.append(buf, static_cast<size_t>(n));
    const size_t eol = c.in.find('\n');
    if (eol == std::string::npos) {
      if (c.in.size() > kMaxRequestBytes) {
        Reply(c.id, {{"ok", false}, {"error", "request too long"}});
        continue;
      }
      ++i;
      continue;
    }
    nlohmann::json body = nlohmann::json::parse(c.in.substr(0, eol), nullptr, false);
    c.in.clear();
    if (body.is_discarded() || !body.is_object() || !body.contains("cmd") ||
        !body["cmd"].is_string()) {
      Reply(c.id, {{"ok", false}, {"error", "a request is one JSON object with a \"cmd\""}});
      continue;
    }
    out.push_back(CtlRequest{c.id, std::move(body)});
    ++i;
  }
  return out;
}

void CtlServer::Reply(uint64_t connection, const nlohmann::json& answer) {
  for (size_t i = 0; i < connections_.size(); ++i) {
    if (connections_[i].id != connection) continue;
    const std::string line = answer.dump() + "\n";
    // Answers are small; a client that does not read them loses them.
    [[maybe_unused]] ssize_t r = send(connections_[i].fd, line.data(), line.size(), MSG_NOSIGNAL);
    Close(i);
    return;
  }
}

}  // namespace dmrswitch::cp
