#include "tests/e2e/dpdk_env.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace dmrswitch::e2e {
namespace {

constexpr char kNetnsPrefix[] = "dsw-e2e-";
constexpr char kHubNetnsPrefix[] = "dsw-e2eh-";
constexpr char kHubIfPrefix[] = "dswh";
constexpr char kClientIfPrefix[] = "dswc";
constexpr char kHugeDir[] = "/dev/hugepages";
constexpr char kDpdkRunDir[] = "/var/run/dpdk";
// The dp runs with -m 256 (128 pages of 2 MiB): ask for a little more than that to be free.
constexpr long kHugeBytesNeeded = 288L << 20;
constexpr long kMinHugepages = 512;
// What the programs that use the test bed are called (their /proc/<pid>/comm): a live process of
// one of these names owns its namespace, anything else named after a pid is a leftover.
constexpr const char* kOwnerComms[] = {"e2e_dpdk_test", "afxdp_bench"};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  return static_cast<bool>(out);
}

// "HugePages_Free:  384" etc. from /proc/meminfo; -1 if absent.
long MeminfoValue(const std::string& key) {
  std::istringstream in(ReadFile("/proc/meminfo"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    long v = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::StripSuffix(
                             absl::StripAsciiWhitespace(line.substr(key.size() + 1)), "kB")),
                         &v)) {
      return v;
    }
  }
  return -1;
}

long ReadLong(const std::string& path) {
  long v = -1;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFile(path)), &v)) return -1;
  return v;
}

bool HugetlbfsMounted() {
  std::istringstream in(ReadFile("/proc/mounts"));
  std::string line;
  while (std::getline(in, line)) {
    const std::vector<std::string> f = absl::StrSplit(line, ' ');
    if (f.size() >= 3 && f[1] == kHugeDir && f[2] == "hugetlbfs") return true;
  }
  return false;
}

// A test process with this pid still runs (it owns the resources named after it).
bool OwnerAlive(pid_t pid) {
  if (kill(pid, 0) != 0 && errno != EPERM) return false;
  const std::string comm(
      absl::StripAsciiWhitespace(ReadFile(absl::StrCat("/proc/", pid, "/comm"))));
  for (const char* owner : kOwnerComms) {
    if (comm == owner) return true;
  }
  return false;
}

// The pid in `name` after `prefix` ("dsw-e2e-123" → 123), or -1.
pid_t PidIn(absl::string_view name, absl::string_view prefix) {
  if (!absl::ConsumePrefix(&name, prefix)) return -1;
  int pid = 0;
  if (name.empty() || !std::all_of(name.begin(), name.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(name, &pid) || pid <= 0) {
    return -1;
  }
  return pid;
}

// Sets one legacy ethtool flag (ETHTOOL_STXCSUM, ETHTOOL_SRXCSUM) on `ifname`, in the calling
// thread's namespace. No ethtool binary needed.
absl::Status SetEthtoolFlag(const std::string& ifname, uint32_t cmd, uint32_t value) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  ethtool_value ev{};
  ev.cmd = cmd;
  ev.data = value;
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname.c_str());
  ifr.ifr_data = reinterpret_cast<char*>(&ev);
  const int rc = ioctl(fd, SIOCETHTOOL, &ifr);
  const int err = errno;
  close(fd);
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("SIOCETHTOOL ", cmd, " on ", ifname, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

uint16_t InetChecksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += static_cast<uint32_t>(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace

absl::Status RunCommand(const std::vector<std::string>& argv, std::string* out) {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe2 failed");
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return absl::InternalError("pipe2 failed");
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    execvp(args[0], args.data());
    std::fprintf(stderr, "cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (pid < 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    return absl::InternalError("fork failed");
  }
  std::string captured[2];
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        captured[i].append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (pollfd& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (out != nullptr) *out = captured[0];
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("`", absl::StrJoin(argv, " "), "` ",
                                          WIFEXITED(status)
                                              ? absl::StrCat("exited with ", WEXITSTATUS(status))
                                              : absl::StrCat("died of signal ", WTERMSIG(status)),
                                          ": ", absl::StripAsciiWhitespace(captured[1])));
}

void DpdkTestEnv::SweepLeftovers() {
  std::string out;
  if (RunCommand({"ip", "netns", "list"}, &out).ok()) {
    for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
      const std::string name(line.substr(0, line.find(' ')));
      pid_t pid = PidIn(name, kNetnsPrefix);
      if (pid < 0) pid = PidIn(name, kHubNetnsPrefix);
      if (pid > 0 && !OwnerAlive(pid)) {
        const absl::Status st = RunCommand({"ip", "netns", "del", name});
        std::fprintf(stderr, "dpdk_env: swept namespace %s of dead pid %d%s%s\n", name.c_str(), pid,
                     st.ok() ? "" : ": ", st.ok() ? "" : std::string(st.message()).c_str());
      }
    }
  }
  if (RunCommand({"ip", "-o", "link", "show"}, &out).ok()) {
    for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
      // "7: dswh123@if6: <BROADCAST,...": the name sits between ": " and '@' or ':'.
      const size_t start = line.find(": ");
      if (start == absl::string_view::npos) continue;
      absl::string_view name = line.substr(start + 2);
      name = name.substr(0, std::min(name.find('@'), name.find(':')));
      pid_t pid = PidIn(name, kHubIfPrefix);
      if (pid < 0) pid = PidIn(name, kClientIfPrefix);
      // (Deleting one end of a pair deletes the other: it may be gone by now.)
      if (pid > 0 && !OwnerAlive(pid) &&
          std::filesystem::exists(absl::StrCat("/sys/class/net/", name))) {
        const absl::Status st = RunCommand({"ip", "link", "del", std::string(name)});
        std::fprintf(stderr, "dpdk_env: swept link %s of dead pid %d%s%s\n",
                     std::string(name).c_str(), pid, st.ok() ? "" : ": ",
                     st.ok() ? "" : std::string(st.message()).c_str());
      }
    }
  }
  // DPDK runtime directories and hugepage files of dp processes started by dead tests (the dp
  // runs --in-memory, but a dp killed during EAL start-up may still leave a runtime directory).
  std::error_code ec;
  for (const char* dir : {kDpdkRunDir, kHugeDir}) {
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind(kNetnsPrefix, 0) != 0) continue;
      std::string digits;
      for (size_t i = std::strlen(kNetnsPrefix); i < name.size() && absl::ascii_isdigit(name[i]);
           ++i) {
        digits += name[i];
      }
      int pid = 0;
      if (!absl::SimpleAtoi(digits, &pid) || pid <= 0 || OwnerAlive(pid)) continue;
      std::error_code rm;
      std::filesystem::remove_all(e.path(), rm);
    }
  }
}

absl::StatusOr<std::unique_ptr<DpdkTestEnv>> DpdkTestEnv::Create() {
  if (geteuid() != 0) {
    return absl::UnavailableError("needs root (network namespaces, veth, hugepages)");
  }
  // A mount namespace of the test's own: what the hubs mount (the XDP shield's bpffs, its pins,
  // hugetlbfs) disappears with the test process, however it ends.
  if (unshare(CLONE_NEWNS) != 0) {
    return absl::UnavailableError(absl::StrCat("unshare(CLONE_NEWNS): ", std::strerror(errno)));
  }
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return absl::UnavailableError(absl::StrCat("making / private: ", std::strerror(errno)));
  }
  SweepLeftovers();
  std::unique_ptr<DpdkTestEnv> env(new DpdkTestEnv());
  const pid_t pid = getpid();
  env->netns_ = absl::StrCat(kNetnsPrefix, pid);
  env->hub_netns_ = absl::StrCat(kHubNetnsPrefix, pid);
  env->hub_if_ = absl::StrCat(kHubIfPrefix, pid);
  env->client_if_ = absl::StrCat(kClientIfPrefix, pid);
  if (absl::Status st = env->SetUpHugepages(); !st.ok()) return st;
  if (absl::Status st = env->SetUpNetwork(); !st.ok()) return st;
  env->StartGuardian();
  return env;
}

absl::Status DpdkTestEnv::SetUpHugepages() {
  const long page_kib = MeminfoValue("Hugepagesize");
  if (page_kib <= 0) return absl::UnavailableError("the kernel has no hugepage support");
  const std::string nr_path =
      absl::StrCat("/sys/kernel/mm/hugepages/hugepages-", page_kib, "kB/nr_hugepages");
  const long needed = kHugeBytesNeeded / (page_kib * 1024);
  const long total = ReadLong(nr_path);
  const long free_pages = std::max(0L, MeminfoValue("HugePages_Free"));
  if (total < 0) return absl::UnavailableError(absl::StrCat("cannot read ", nr_path));
  long target = std::max(total, kMinHugepages);
  if (free_pages + (target - total) < needed) target = total + (needed - free_pages);
  if (target != total) {
    if (!WriteFile(nr_path, absl::StrCat(target, "\n"))) {
      return absl::UnavailableError(absl::StrCat("cannot write ", nr_path));
    }
    previous_hugepages_ = total;
    set_hugepages_ = target;
  }
  const long now_free = MeminfoValue("HugePages_Free");
  if (now_free < needed) {
    return absl::UnavailableError(absl::StrCat("cannot reserve hugepages: ", now_free, " of ",
                                               page_kib, " KiB free, the dp needs ", needed,
                                               " (nr_hugepages was ", total, ", asked for ", target,
                                               ", got ", ReadLong(nr_path), ")"));
  }
  if (!HugetlbfsMounted()) {
    mkdir(kHugeDir, 0755);
    if (mount("nodev", kHugeDir, "hugetlbfs", 0, nullptr) != 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot mount hugetlbfs at ", kHugeDir, ": ", std::strerror(errno)));
    }
    mounted_hugetlbfs_ = true;
  }
  return absl::OkStatus();
}

absl::Status DpdkTestEnv::SetUpNetwork() {
  for (const std::string& ns : {netns_, hub_netns_}) {
    if (absl::Status st = RunCommand({"ip", "netns", "add", ns}); !st.ok()) {
      return absl::UnavailableError(
          absl::StrCat("cannot create a network namespace: ", st.message()));
    }
  }
  if (absl::Status st =
          RunCommand({"ip", "link", "add", hub_if_, "type", "veth", "peer", "name", client_if_});
      !st.ok()) {
    return absl::UnavailableError(absl::StrCat("cannot create a veth pair: ", st.message()));
  }
  // Full checksums in every frame: with TX checksum offload on, a veth hands the peer
  // CHECKSUM_PARTIAL packets and net_af_packet (or an XDP program) would see UDP checksums not yet
  // filled in. Offload flags survive the move into the namespaces.
  for (const std::string& ifname : {hub_if_, client_if_}) {
    for (uint32_t cmd : {uint32_t{ETHTOOL_STXCSUM}, uint32_t{ETHTOOL_SRXCSUM}}) {
      if (absl::Status st = SetEthtoolFlag(ifname, cmd, 0); !st.ok()) return st;
    }
  }
  std::vector<std::vector<std::string>> cmds = {
      {"ip", "link", "set", client_if_, "netns", netns_},
      {"ip", "link", "set", hub_if_, "netns", hub_netns_},
      {"ip", "-n", netns_, "link", "set", "lo", "up"},
      {"ip", "-n", hub_netns_, "link", "set", "lo", "up"},
  };
  for (int i = 0; i < kClientAddresses; ++i) {
    cmds.push_back(
        {"ip", "-n", netns_, "addr", "add", ClientAddress(i) + "/15", "dev", client_if_});
  }
  for (const auto& cmd : cmds) {
    if (absl::Status st = RunCommand(cmd); !st.ok()) return st;
  }
  // No IPv6 on either end (router solicitations, MLD); the hub end is the hub's alone: no
  // forwarding of what arrives on it.
  InHubNamespace([&] {
    WriteFile(absl::StrCat("/proc/sys/net/ipv6/conf/", hub_if_, "/disable_ipv6"), "1\n");
    WriteFile(absl::StrCat("/proc/sys/net/ipv4/conf/", hub_if_, "/forwarding"), "0\n");
  });
  InNamespace([&] {
    WriteFile(absl::StrCat("/proc/sys/net/ipv6/conf/", client_if_, "/disable_ipv6"), "1\n");
  });
  if (absl::Status st = RunCommand({"ip", "-n", hub_netns_, "link", "set", hub_if_, "up"});
      !st.ok()) {
    return st;
  }
  return RunCommand({"ip", "-n", netns_, "link", "set", client_if_, "up"});
}

absl::Status DpdkTestEnv::SetHubAddress(bool on) {
  if (on) {
    return RunCommand({"ip", "-n", hub_netns_, "addr", "replace", absl::StrCat(kHubAddress, "/15"),
                       "dev", hub_if_});
  }
  return RunCommand({"ip", "-n", hub_netns_, "addr", "flush", "dev", hub_if_});
}

std::vector<std::string> DpdkTestEnv::HubWrapper() const {
  return {"nsenter", absl::StrCat("--net=/run/netns/", hub_netns_), "--"};
}

std::string DpdkTestEnv::HubMac() const {
  std::string out;
  if (!RunCommand({"ip", "-n", hub_netns_, "-o", "link", "show", hub_if_}, &out).ok()) return "";
  const size_t at = out.find("link/ether ");
  return at == std::string::npos ? "" : out.substr(at + 11, 17);
}

// A child process that waits for this one: when the test process dies without tearing down
// (crash, SIGKILL, a harness timeout), the pipe's write end closes and the guardian tears down.
void DpdkTestEnv::StartGuardian() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return;
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[1]);
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    char c = 0;
    ssize_t n;
    while ((n = read(fds[0], &c, 1)) < 0 && errno == EINTR) {
    }
    if (n == 1 && c == 'd') _exit(0);  // torn down by the test process itself
    guardian_fd_ = -1;
    guardian_pid_ = -1;
    // Give the dp (killed by PR_SET_PDEATHSIG) a moment to release the port and the pages.
    usleep(200 * 1000);
    TearDown();
    _exit(0);
  }
  close(fds[0]);
  if (pid < 0) {
    close(fds[1]);
    return;
  }
  guardian_fd_ = fds[1];
  guardian_pid_ = pid;
}

void DpdkTestEnv::TearDown() {
  if (!netns_.empty()) {
    // The hub end first: deleting it deletes the pair at once (a deleted namespace lets go of
    // its devices only later, asynchronously).
    if (!hub_netns_.empty()) {
      (void)RunCommand({"ip", "-n", hub_netns_, "link", "del", hub_if_});
      const absl::Status ns = RunCommand({"ip", "netns", "del", hub_netns_});
      if (!ns.ok()) std::fprintf(stderr, "dpdk_env: %s\n", std::string(ns.message()).c_str());
      hub_netns_.clear();
    }
    const absl::Status ns = RunCommand({"ip", "netns", "del", netns_});
    if (!ns.ok()) std::fprintf(stderr, "dpdk_env: %s\n", std::string(ns.message()).c_str());
    std::error_code ec;
    std::filesystem::remove_all(absl::StrCat(kDpdkRunDir, "/", netns_), ec);
    netns_.clear();
  }
  if (mounted_hugetlbfs_) {
    if (umount(kHugeDir) != 0) {
      std::fprintf(stderr, "dpdk_env: umount %s: %s\n", kHugeDir, std::strerror(errno));
    }
    mounted_hugetlbfs_ = false;
  }
  if (previous_hugepages_ >= 0) {
    // Only if nobody changed the reservation since we did.
    const long page_kib = MeminfoValue("Hugepagesize");
    const std::string nr_path =
        absl::StrCat("/sys/kernel/mm/hugepages/hugepages-", page_kib, "kB/nr_hugepages");
    if (ReadLong(nr_path) == set_hugepages_) {
      WriteFile(nr_path, absl::StrCat(previous_hugepages_, "\n"));
    }
    previous_hugepages_ = -1;
  }
}

DpdkTestEnv::~DpdkTestEnv() {
  TearDown();
  if (guardian_fd_ >= 0) {
    const char done = 'd';
    (void)!write(guardian_fd_, &done, 1);
    close(guardian_fd_);
    int status = 0;
    waitpid(guardian_pid_, &status, 0);
  }
}

std::string DpdkTestEnv::ClientAddress(int i) { return absl::StrCat("198.18.0.", 2 + i); }

std::string DpdkTestEnv::ClientAddress6(int i) { return absl::StrFormat("2001:2::%x", 2 + i); }

absl::Status DpdkTestEnv::SetClientIpv6(bool on) {
  const std::string conf = absl::StrCat("/proc/sys/net/ipv6/conf/", client_if_, "/");
  if (!on) {
    // Disabling IPv6 on the interface removes its addresses too.
    InNamespace([&] { WriteFile(conf + "disable_ipv6", "1\n"); });
    return absl::OkStatus();
  }
  InNamespace([&] {
    // Set before IPv6 comes up: no router solicitations, no autoconfiguration, no DAD delay.
    WriteFile(conf + "accept_ra", "0\n");
    WriteFile(conf + "autoconf", "0\n");
    WriteFile(conf + "router_solicitations", "0\n");
    WriteFile(conf + "accept_dad", "0\n");
    WriteFile(conf + "disable_ipv6", "0\n");
  });
  for (int i = 0; i < kClientAddresses6; ++i) {
    if (absl::Status st = RunCommand({"ip", "-n", netns_, "-6", "addr", "replace",
                                      ClientAddress6(i) + "/48", "dev", client_if_, "nodad"});
        !st.ok()) {
      return st;
    }
  }
  // A stale neighbour entry from an earlier hub (another MAC) would misdirect the first frames.
  (void)RunCommand({"ip", "-n", netns_, "-6", "neigh", "flush", "dev", client_if_});
  return absl::OkStatus();
}

std::string DpdkTestEnv::EalArgsToml(uint32_t shards, bool shared, bool port) const {
  const long ncpu = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  std::vector<std::string> args = {
      "--no-pci",
      absl::StrCat("--file-prefix=", netns_),
      "-m",
      "256",
      absl::StrCat("--lcores=(0-", shards, ")@(0-", ncpu - 1, ")"),
      "--no-telemetry",
  };
  if (!shared) args.push_back("--in-memory");
  if (port) {
    args.push_back(absl::StrCat("--vdev=net_af_packet0,iface=", hub_if_, ",qpairs=", shards));
  }
  std::string toml = "[";
  for (size_t i = 0; i < args.size(); ++i)
    absl::StrAppend(&toml, i ? ", " : "", "\"", args[i], "\"");
  return toml + "]";
}

absl::Status DpdkTestEnv::EnterNamespace(const std::string& name) {
  const std::string path = absl::StrCat("/run/netns/", name);
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  const int rc = setns(fd, CLONE_NEWNET);
  const int err = errno;
  close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("setns ", path, ": ", std::strerror(err)));
  return absl::OkStatus();
}

void DpdkTestEnv::CheckEntered(const absl::Status& entered) {
  if (entered.ok()) return;
  std::fprintf(stderr, "dpdk_env: cannot enter the test namespace: %s\n",
               std::string(entered.message()).c_str());
  std::abort();
}

namespace {

// Sends `count` echo requests over `fd` (send_one(seq) builds and sends one), one every 200 ms,
// and waits up to `timeout` after the last for the replies; `reply` takes a received datagram
// and says which request it answers (nullopt: not ours or corrupt). Distinct answers, counted.
int EchoRounds(int fd, int count, absl::Duration timeout, const std::function<void(int)>& send_one,
               const std::function<std::optional<uint16_t>(const uint8_t*, size_t,
                                                           const sockaddr_storage&)>& reply) {
  std::set<uint16_t> answered;
  absl::Time next_send = absl::Now();
  absl::Time deadline = absl::InfiniteFuture();
  int sent = 0;
  while (absl::Now() < deadline && static_cast<int>(answered.size()) < count) {
    const absl::Time now = absl::Now();
    if (sent < count && now >= next_send) {
      send_one(sent);
      ++sent;
      next_send = now + absl::Milliseconds(200);
      if (sent == count) deadline = now + timeout;
    }
    const absl::Time wake = sent < count ? next_send : deadline;
    pollfd p{fd, POLLIN, 0};
    const int ms =
        static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(wake - absl::Now()) + 1));
    if (poll(&p, 1, ms) <= 0) continue;
    uint8_t buf[1500];
    sockaddr_storage from{};
    socklen_t from_len = sizeof(from);
    const ssize_t n =
        recvfrom(fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n <= 0) continue;
    if (const std::optional<uint16_t> seq = reply(buf, static_cast<size_t>(n), from)) {
      answered.insert(*seq);
    }
  }
  return static_cast<int>(answered.size());
}

}  // namespace

absl::StatusOr<int> DpdkTestEnv::Ping(const std::string& address, int count,
                                      absl::Duration timeout) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  if (inet_pton(AF_INET, address.c_str(), &to.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("not an IPv4 address: ", address));
  }
  return InNamespace([&]() -> absl::StatusOr<int> {
    const int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
    if (fd < 0) return absl::InternalError(absl::StrCat("raw socket: ", std::strerror(errno)));
    const uint16_t ident = static_cast<uint16_t>(getpid());
    const int answered = EchoRounds(
        fd, count, timeout,
        [&](int seq) {
          uint8_t pkt[64] = {};
          pkt[0] = ICMP_ECHO;
          pkt[4] = static_cast<uint8_t>(ident >> 8);
          pkt[5] = static_cast<uint8_t>(ident);
          pkt[6] = static_cast<uint8_t>(seq >> 8);
          pkt[7] = static_cast<uint8_t>(seq);
          for (size_t i = 8; i < sizeof(pkt); ++i) pkt[i] = static_cast<uint8_t>(i);
          const uint16_t sum = InetChecksum(pkt, sizeof(pkt));
          pkt[2] = static_cast<uint8_t>(sum >> 8);
          pkt[3] = static_cast<uint8_t>(sum);
          sendto(fd, pkt, sizeof(pkt), 0, reinterpret_cast<const sockaddr*>(&to), sizeof(to));
        },
        [&](const uint8_t* buf, size_t n, const sockaddr_storage& from) -> std::optional<uint16_t> {
          // A raw IPv4 socket hands over the IP header too.
          if (n < 20 ||
              reinterpret_cast<const sockaddr_in&>(from).sin_addr.s_addr != to.sin_addr.s_addr) {
            return std::nullopt;
          }
          const size_t ihl = size_t{buf[0] & 0x0Fu} * 4;
          if (n < ihl + 8) return std::nullopt;
          const uint8_t* icmp = buf + ihl;
          if (icmp[0] != ICMP_ECHOREPLY || (icmp[4] << 8 | icmp[5]) != ident) return std::nullopt;
          if (InetChecksum(icmp, n - ihl) != 0) return std::nullopt;  // corrupt reply
          return static_cast<uint16_t>(icmp[6] << 8 | icmp[7]);
        });
    close(fd);
    return answered;
  });
}

absl::Status DpdkTestEnv::SetHubIpv6(bool on) {
  const std::string conf = absl::StrCat("/proc/sys/net/ipv6/conf/", hub_if_, "/");
  if (!on) {
    InHubNamespace([&] { WriteFile(conf + "disable_ipv6", "1\n"); });
    return absl::OkStatus();
  }
  InHubNamespace([&] {
    WriteFile(conf + "accept_ra", "0\n");
    WriteFile(conf + "autoconf", "0\n");
    WriteFile(conf + "router_solicitations", "0\n");
    WriteFile(conf + "accept_dad", "0\n");
    WriteFile(conf + "forwarding", "0\n");
    WriteFile(conf + "disable_ipv6", "0\n");
  });
  return RunCommand({"ip", "-n", hub_netns_, "-6", "addr", "replace",
                     absl::StrCat(kHubAddress6, "/48"), "dev", hub_if_, "nodad"});
}

absl::StatusOr<int> DpdkTestEnv::Ping6(const std::string& address, int count,
                                       absl::Duration timeout) {
  sockaddr_in6 to{};
  to.sin6_family = AF_INET6;
  if (inet_pton(AF_INET6, address.c_str(), &to.sin6_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("not an IPv6 address: ", address));
  }
  return InNamespace([&]() -> absl::StatusOr<int> {
    // A raw ICMPv6 socket: the kernel fills in the checksum (RFC 3542 §3.1) and verifies the
    // replies' before it hands them over, and gives us the ICMPv6 message without the header.
    const int fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
    if (fd < 0) return absl::InternalError(absl::StrCat("raw socket: ", std::strerror(errno)));
    const uint16_t ident = static_cast<uint16_t>(getpid() ^ 0x6666);
    const int answered = EchoRounds(
        fd, count, timeout,
        [&](int seq) {
          uint8_t pkt[64] = {};
          pkt[0] = 128;  // echo request
          pkt[4] = static_cast<uint8_t>(ident >> 8);
          pkt[5] = static_cast<uint8_t>(ident);
          pkt[6] = static_cast<uint8_t>(seq >> 8);
          pkt[7] = static_cast<uint8_t>(seq);
          for (size_t i = 8; i < sizeof(pkt); ++i) pkt[i] = static_cast<uint8_t>(i);
          sendto(fd, pkt, sizeof(pkt), 0, reinterpret_cast<const sockaddr*>(&to), sizeof(to));
        },
        [&](const uint8_t* buf, size_t n, const sockaddr_storage& from) -> std::optional<uint16_t> {
          const auto& f6 = reinterpret_cast<const sockaddr_in6&>(from);
          if (n != 64 || std::memcmp(&f6.sin6_addr, &to.sin6_addr, 16) != 0) return std::nullopt;
          if (buf[0] != 129 || (buf[4] << 8 | buf[5]) != ident) return std::nullopt;
          if (std::memcmp(buf + 8, "\x08\x09\x0a\x0b", 4) != 0) return std::nullopt;  // echoed
          return static_cast<uint16_t>(buf[6] << 8 | buf[7]);
        });
    close(fd);
    return answered;
  });
}

}  // namespace dmrswitch::e2e
