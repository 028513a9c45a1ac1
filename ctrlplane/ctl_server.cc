#include "ctrlplane/ctl_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "spdlog/spdlog.h"

namespace dmrswitch::cp {
namespace {

bool FillAddress(const std::string& path, sockaddr_un* addr) {
  if (path.size() >= sizeof(addr->sun_path)) return false;
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path, path.c_str(), path.size() + 1);
  return true;
}

// The supplementary groups of `pid` (the "Groups:" line of /proc/<pid>/status).
std::vector<gid_t> GroupsOf(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  std::vector<gid_t> out;
  while (std::getline(in, line)) {
    if (!line.starts_with("Groups:")) continue;
    for (absl::string_view g : absl::StrSplit(line.substr(7), ' ', absl::SkipWhitespace())) {
      uint32_t gid = 0;
      if (absl::SimpleAtoi(g, &gid)) out.push_back(gid);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CtlServer>> CtlServer::Listen(const std::string& path,
                                                             CtlServerLimits limits) {
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
  // The mode and group are set between bind and listen: nobody can connect before listen(), so
  // there is no moment at which the umask's mode (0777 under umask 000) is usable. The group is
  // the hub's own (the service's Group=), also in a set-group-ID directory of another group,
  // which would otherwise hand the socket to that group's members. chown() only then: the units'
  // system call filter refuses it (~@privileged), and their run directory never needs it.
  const auto own_group = [&] {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) return false;
    return st.st_gid == getegid() || chown(path.c_str(), static_cast<uid_t>(-1), getegid()) == 0;
  };
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || !own_group() ||
      chmod(path.c_str(), 0660) != 0 || listen(fd, 16) != 0) {
    const int err = errno;
    close(fd);
    unlink(path.c_str());
    return absl::FailedPreconditionError(
        absl::StrCat("cannot listen on control socket ", path, ": ", std::strerror(err)));
  }
  std::unique_ptr<CtlServer> s(new CtlServer());
  s->path_ = path;
  s->limits_ = limits;
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

void CtlServer::Refuse(int fd, const std::string& why) {
  const std::string line = nlohmann::json{{"ok", false}, {"error", why}}.dump() + "\n";
  [[maybe_unused]] ssize_t r = send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  close(fd);
}

bool CtlServer::PeerAllowed(int fd) const {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  if (cred.uid == 0 || cred.uid == geteuid() || cred.gid == getegid()) return true;
  for (gid_t g : GroupsOf(cred.pid)) {
    if (g == getegid()) return true;
  }
  return false;
}

std::vector<CtlRequest> CtlServer::Poll() {
  const absl::Time now = absl::Now();
  std::vector<CtlRequest> out;
  for (;;) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) break;
    if (!PeerAllowed(fd)) {
      ++counters_.refused_peer;
      Refuse(fd, "permission denied: the control socket serves root, the hub's user and its group");
      continue;
    }
    if (connections_.size() >= limits_.max_connections) {
      ++counters_.refused_full;
      Refuse(fd, absl::StrCat("busy: ", limits_.max_connections,
                              " control connections are open; try again"));
      continue;
    }
    connections_.push_back(Connection{.id = next_id_++, .fd = fd, .opened = now});
  }
  for (size_t i = 0; i < connections_.size();) {
    Connection& c = connections_[i];
    if (!c.out.empty()) {  // an answer on its way
      if (FlushAnswer(i, now)) ++i;
      continue;
    }
    if (c.pending) {  // the answer is owed; nothing more is read from this client
      ++i;
      continue;
    }
    while (!c.eof && c.in.size() <= limits_.max_request_bytes) {
      char buf[1024];
      const ssize_t n = read(c.fd, buf, sizeof(buf));
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
      } else if (n == 0) {
        c.eof = true;  // a half-close ends the request, it does not cancel it
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;
      } else {
        c.eof = true;
        c.in.clear();  // reset by the peer: nobody to answer
      }
    }
    size_t eol = c.in.find('\n');
    if (eol == std::string::npos && c.eof && !c.in.empty()) eol = c.in.size();
    if (eol == std::string::npos || eol > limits_.max_request_bytes) {
      if (c.in.size() > limits_.max_request_bytes) {
        ++counters_.refused_too_long;
        Reply(c.id, {{"ok", false},
                     {"error",
                      absl::StrCat("request longer than ", limits_.max_request_bytes, " bytes")}});
      } else if (c.eof) {
        Close(i);  // went away without a request
      } else if (now - c.opened > limits_.idle_timeout) {
        ++counters_.closed_idle;
        Reply(c.id, {{"ok", false}, {"error", "no request in time"}});
      } else {
        ++i;
      }
      continue;
    }
    nlohmann::json body = nlohmann::json::parse(c.in.substr(0, eol), nullptr, false);
    c.in.clear();
    if (body.is_discarded() || !body.is_object() || !body.contains("cmd") ||
        !body["cmd"].is_string()) {
      Reply(c.id, {{"ok", false}, {"error", "a request is one JSON object with a \"cmd\""}});
      continue;
    }
    c.pending = true;
    out.push_back(CtlRequest{c.id, std::move(body)});
    ++i;
  }
  return out;
}

bool CtlServer::FlushAnswer(size_t index, absl::Time now) {
  Connection& c = connections_[index];
  while (c.out_sent < c.out.size()) {
    const ssize_t r = send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent,
                           MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r > 0) {
      c.out_sent += static_cast<size_t>(r);
      continue;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
        now - c.replying_since <= limits_.idle_timeout) {
      return true;  // the client reads on; more at the next Poll
    }
    ++counters_.answers_not_sent;  // gone, or not reading
    Close(index);
    return false;
  }
  Close(index);
  return false;
}

void CtlServer::Reply(uint64_t connection, const nlohmann::json& answer) {
  for (size_t i = 0; i < connections_.size(); ++i) {
    if (connections_[i].id != connection) continue;
    // Text from clients (callsigns, RPTC fields) may be invalid UTF-8: replaced, never thrown.
    std::string line = answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    // The socket is non-blocking: what does not fit its buffer now (a long lastheard) is sent
    // from Poll as the client reads it, for at most idle_timeout. A client that does not read
    // loses its answer and never holds up the control plane.
    const ssize_t r =
        send(connections_[i].fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r == static_cast<ssize_t>(line.size())) {
      Close(i);
      return;
    }
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      ++counters_.answers_not_sent;
      Close(i);
      return;
    }
    Connection& c = connections_[i];
    c.out = std::move(line);
    c.out_sent = r > 0 ? static_cast<size_t>(r) : 0;
    c.replying_since = absl::Now();
    return;
  }
}

}  // namespace dmrswitch::cp
