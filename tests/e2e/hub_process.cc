#include "tests/e2e/hub_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"

#if !defined(DMRSWITCH_DP_PATH) || !defined(DMRSWITCH_CP_PATH) || !defined(DMRSWITCH_CTL_PATH)
#error "DMRSWITCH_DP_PATH, DMRSWITCH_CP_PATH and DMRSWITCH_CTL_PATH must name the binaries"
#endif

namespace dmrswitch::e2e {

uint16_t FreeUdpPort() {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  socklen_t len = sizeof(sa);
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  close(fd);
  return ntohs(sa.sin_port);
}

namespace {

std::string MakeTempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "dmrswitch-e2e-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return "/tmp";
  // World-readable: a hub run under a wrapper as an unprivileged user must read its config.
  chmod(tmpl.c_str(), 0755);
  // Its run directory (WithRunDir), where such a hub takes its locks: sticky and world-writable,
  // as /tmp.
  const std::string run = tmpl + "/run";
  mkdir(run.c_str(), 0755);
  chmod(run.c_str(), 01777);
  return tmpl;
}

pid_t Spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
  }
  // A hub outliving a crashed test would hold its ports: die with the test.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execvp(args[0], args.data());
  _exit(127);
}

}  // namespace

absl::StatusOr<std::unique_ptr<HubProcess>> HubProcess::Start(Options options) {
  std::unique_ptr<HubProcess> h(new HubProcess());
  h->dir_ = MakeTempDir();
  h->log_path_ = h->dir_ + "/hub.log";
  if (options.control_plane) {
    h->config_path_ = options.config_path;
  } else {
    h->config_path_ = h->dir_ + "/hub.toml";
    h->RewriteConfig(options.toml);
  }
  const char* name = options.control_plane ? "dmrswitch-cp" : "dmrswitch-dp";
  std::vector<std::string> argv = options.wrapper;
  argv.insert(argv.end(), {options.control_plane ? DMRSWITCH_CP_PATH : DMRSWITCH_DP_PATH,
                           "--config", h->config_path_});
  h->pid_ = Spawn(argv, h->log_path_);
  if (h->pid_ < 0) return absl::InternalError("fork failed");
  const absl::Time deadline = absl::Now() + options.ready_timeout;
  while (absl::Now() < deadline) {
    const std::string log = h->Log();
    if (options.control_plane ? log.find("dmrswitch-cp: attached") != std::string::npos
                              : (log.find("dmrswitch-dp: kernel mode") != std::string::npos ||
                                 log.find("dmrswitch-dp: dpdk mode") != std::string::npos ||
                                 log.find("dmrswitch-dp: afxdp mode") != std::string::npos)) {
      return h;
    }
    if (!h->running()) {
      return absl::FailedPreconditionError(
          absl::StrCat(name, " exited during start-up:\n", h->Log()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat(name, " did not come up in time:\n", h->Log()));
}

absl::StatusOr<std::pair<int, std::string>> HubProcess::RunToExit(const std::string& toml,
                                                                  absl::Duration timeout) {
  HubProcess h;
  h.dir_ = MakeTempDir();
  h.config_path_ = h.dir_ + "/hub.toml";
  h.RewriteConfig(toml);
  return RunCommand({DMRSWITCH_DP_PATH, "--config", h.config_path_}, timeout);
}

std::string HubProcess::DpPath() { return DMRSWITCH_DP_PATH; }
std::string HubProcess::CpPath() { return DMRSWITCH_CP_PATH; }
std::string HubProcess::CtlPath() { return DMRSWITCH_CTL_PATH; }

absl::StatusOr<std::pair<int, std::string>> HubProcess::RunCommand(std::vector<std::string> argv,
                                                                   absl::Duration timeout) {
  HubProcess h;
  h.dir_ = MakeTempDir();
  h.log_path_ = h.dir_ + "/command.log";
  h.pid_ = Spawn(argv, h.log_path_);
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(h.pid_, &status, WNOHANG) == h.pid_) {
      h.pid_ = -1;
      return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                            h.Log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat(argv[0], " kept running:\n", h.Log()));
}

HubProcess::~HubProcess() {
  if (pid_ > 0) Stop();
  if (!dir_.empty() && dir_ != "/tmp") {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

bool HubProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

int HubProcess::Stop(absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Kill();
  return -1;
}

void HubProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

void HubProcess::Signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

std::string HubProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool HubProcess::WaitForLog(std::string_view needle, absl::Duration timeout, size_t from) const {
  const absl::Time deadline = absl::Now() + timeout;
  do {
    const std::string log = Log();
    if (log.size() > from && log.find(needle, from) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (absl::Now() < deadline);
  return false;
}

void HubProcess::RewriteConfig(const std::string& toml) const {
  std::ofstream out(config_path_, std::ios::trunc);
  out << WithRunDir(toml, dir_ + "/run");
}

std::string WithRunDir(const std::string& toml, const std::string& run_dir) {
  if (toml.find("run_dir") != std::string::npos) return toml;
  const std::string line = "run_dir = \"" + run_dir + "\"\n";
  const size_t hub = toml.rfind("[hub]\n", 0) == 0 ? 0 : toml.find("\n[hub]\n");
  if (hub == std::string::npos) return "[hub]\n" + line + toml;
  const size_t after = toml.find('\n', hub == 0 ? 0 : hub + 1) + 1;
  return toml.substr(0, after) + line + toml.substr(after);
}

}  // namespace dmrswitch::e2e
