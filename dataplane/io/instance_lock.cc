#include "dataplane/io/instance_lock.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "dataplane/io/udp_socket.h"

namespace dmrswitch::io {
namespace {

std::string Errno(int err) { return std::strerror(err); }

// An address as a lock file name takes it: "a.b.c.d", or an IPv6 address as 32 hex digits.
std::string AddressText(const route::Endpoint& e) {
  if (!e.v6) {
    return absl::StrCat(e.ip >> 24, ".", (e.ip >> 16) & 255, ".", (e.ip >> 8) & 255, ".",
                        e.ip & 255);
  }
  std::string hex;
  for (uint8_t b : e.ip6) absl::StrAppend(&hex, absl::Hex(b, absl::kZeroPad2));
  return hex;
}

// "pid 1234 (dmrswitch-dp --config /etc/dmrswitch/hub.toml)": a process and its command line.
std::string ProcessText(const std::string& pid) {
  std::ifstream cmd("/proc/" + pid + "/cmdline", std::ios::binary);
  std::string argv((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
  while (!argv.empty() && argv.back() == '\0') argv.pop_back();
  std::replace(argv.begin(), argv.end(), '\0', ' ');
  return argv.empty() ? absl::StrCat("pid ", pid) : absl::StrCat("pid ", pid, " (", argv, ")");
}

// "pid 1234 (dmrswitch-dp --config /etc/dmrswitch/hub.toml)" for every process holding a flock
// on `path`, from /proc/locks (fields: id, FLOCK, ADVISORY, READ|WRITE, pid, maj:min:inode, ...).
std::string Holders(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  std::ifstream locks("/proc/locks");
  std::string line;
  std::vector<std::string> who;
  while (std::getline(locks, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() < 6 || f[1] != "FLOCK") continue;  // "->" lines are waiters, not holders
    std::vector<std::string> dev = absl::StrSplit(f[5], ':');
    if (dev.size() != 3 || std::strtoull(dev[0].c_str(), nullptr, 16) != major(st.st_dev) ||
        std::strtoull(dev[1].c_str(), nullptr, 16) != minor(st.st_dev) ||
        std::strtoull(dev[2].c_str(), nullptr, 10) != st.st_ino) {
      continue;
    }
    std::string entry = ProcessText(f[4]);
    if (std::find(who.begin(), who.end(), entry) == who.end()) who.push_back(entry);
  }
  return absl::StrJoin(who, ", ");
}

// "pid 1234 (cmdline)" of every process with a descriptor of the socket `inode`.
std::string SocketHolders(uint64_t inode) {
  const std::string want = absl::StrCat("socket:[", inode, "]");
  std::vector<std::string> who;
  std::error_code ec;
  for (const auto& proc : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string pid = proc.path().filename().string();
    if (pid.empty() || !std::all_of(pid.begin(), pid.end(), ::isdigit)) continue;
    std::error_code fd_ec;
    for (const auto& fd : std::filesystem::directory_iterator(proc.path() / "fd", fd_ec)) {
      std::error_code link_ec;
      if (std::filesystem::read_symlink(fd.path(), link_ec).string() != want) continue;
      who.push_back(ProcessText(pid));
      break;
    }
  }
  return absl::StrJoin(who, ", ");
}

// Who already has a UDP socket bound to an address and port that `e` would share (the same
// address, or a wildcard on either side) in this network namespace: "" if nobody. Lines of
// /proc/net/udp: "sl local_address rem_address st ... uid timeout inode", the address as the
// hex of the in-memory (network order) word, the port in host order.
std::string UdpPortHolders(const route::Endpoint& e) {
  for (const char* table : {"/proc/net/udp", "/proc/net/udp6"}) {
    std::ifstream udp(table);
    std::string line;
    std::getline(udp, line);  // the header
    while (std::getline(udp, line)) {
      std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (f.size() < 10) continue;
      std::vector<std::string> local = absl::StrSplit(f[1], ':');
      if (local.size() != 2) continue;
      route::Endpoint bound;
      bound.port = static_cast<uint16_t>(std::strtoul(local[1].c_str(), nullptr, 16));
      if (local[0].size() == 8) {
        bound.ip = ntohl(static_cast<uint32_t>(std::strtoul(local[0].c_str(), nullptr, 16)));
      } else if (local[0].size() == 32) {
        // Four words, each the hex of the in-memory (network order) 32-bit word.
        uint8_t a[16];
        for (int w = 0; w < 4; ++w) {
          const uint32_t word = static_cast<uint32_t>(
              std::strtoul(local[0].substr(static_cast<size_t>(w) * 8, 8).c_str(), nullptr, 16));
          std::memcpy(a + 4 * w, &word, 4);
        }
        bound = route::Endpoint::V6(a, bound.port);
      } else {
        continue;
      }
      if (bound.port != e.port) continue;
      const bool wildcard_v6 = (bound.v6 && bound.any_address()) || (e.v6 && e.any_address());
      if (!(bound == e) && !wildcard_v6 &&
          !(bound.v6 == e.v6 && (bound.any_address() || e.any_address()))) {
        continue;
      }
      const uint64_t inode = std::strtoull(f[9].c_str(), nullptr, 10);
      std::string holder = SocketHolders(inode);
      if (holder.empty()) {
        holder = absl::StrCat("a socket of another user (uid ", f[7], ", inode ", inode, ")");
      }
      return holder;
    }
  }
  return "";
}

// "; config /etc/dmrswitch/hub.toml" from the holder's note in the lock file ("" if none).
std::string ConfigNote(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("config ")) return absl::StrCat("; ", line);
  }
  return "";
}

}  // namespace

absl::StatusOr<InstanceLock> InstanceLock::Acquire(const InstanceIdentity& id) {
  if (::mkdir(id.run_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(absl::StrCat("cannot create the run directory ",
                                                      id.run_dir, ": ", Errno(errno),
                                                      " (hub.run_dir names it)"));
  }
  InstanceLock lock;
  // Takes one lock; on a conflict, the message names who holds it.
  const auto take = [&](const std::string& name, bool exclusive, const std::string& what,
                        bool with_note) -> absl::Status {
    const std::string path = absl::StrCat(id.run_dir, "/", name);
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
      return absl::FailedPreconditionError(absl::StrCat("cannot open ", path, ": ", Errno(errno),
                                                        " (hub.run_dir names the run "
                                                        "directory)"));
    }
    if (::flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      if (err != EWOULDBLOCK)
        return absl::InternalError(absl::StrCat("flock ", path, ": ", Errno(err)));
      std::string holder = Holders(path);
      if (holder.empty()) holder = "another process";
      return absl::FailedPreconditionError(
          absl::StrCat(what, " is already served by ", holder, with_note ? ConfigNote(path) : "",
                       ". Stop that hub first, or give this one another hub.runtime_name and other "
                       "listening addresses"));
    }
    lock.fds_.push_back(fd);
    if (exclusive) {
      // A note for the operator who finds the file, and for the next refusal's message.
      const std::string note =
          absl::StrCat("pid ", ::getpid(), "\nconfig ",
                       id.config_path.empty() ? "embedded default" : id.config_path, "\n");
      if (::ftruncate(fd, 0) == 0) {
        [[maybe_unused]] ssize_t n = ::pwrite(fd, note.data(), note.size(), 0);
      }
    }
    return absl::OkStatus();
  };
  if (absl::Status s = take(absl::StrCat(id.runtime_name, ".lock"), true,
                            absl::StrCat("runtime name \"", id.runtime_name, "\""), true);
      !s.ok()) {
    return s;
  }
  for (const route::Endpoint& e : id.listeners) {
    const std::string what = absl::StrCat("UDP ", EndpointString(e));
    const std::string any = absl::StrCat("udp-any-", e.port, ".lock");
    absl::Status s;
    if (e.any_address()) {
      // 0.0.0.0 and [::] (dual-stack) both take the port whatever the address.
      s = take(any, true, what, false);
    } else {
      s = take(any, false, what, false);
      if (s.ok()) {
        s = take(absl::StrCat("udp-", AddressText(e), "-", e.port, ".lock"), true, what, false);
      }
    }
    if (!s.ok()) return s;
  }
  if (id.kernel_sockets) {
    for (const route::Endpoint& e : id.listeners) {
      const std::string holder = UdpPortHolders(e);
      if (holder.empty()) continue;
      return absl::FailedPreconditionError(absl::StrCat(
          "UDP ", EndpointString(e), " is already bound by ", holder,
          " (a hub with another hub.run_dir, or another program). With SO_REUSEPORT the kernel "
          "would split the clients between the two: stop it first, or listen elsewhere"));
    }
  }
  return lock;
}

InstanceLock& InstanceLock::operator=(InstanceLock&& other) noexcept {
  if (this != &other) {
    Release();
    fds_ = std::move(other.fds_);
    other.fds_.clear();
  }
  return *this;
}

InstanceLock::~InstanceLock() { Release(); }

void InstanceLock::Release() {
  for (int fd : fds_) ::close(fd);
  fds_.clear();
}

}  // namespace dmrswitch::io
