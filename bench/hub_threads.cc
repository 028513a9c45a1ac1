#include "bench/hub_threads.h"

#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace dmrswitch::bench {
namespace {

std::string ThreadName(const std::filesystem::path& task) {
  std::string name;
  std::ifstream comm(task / "comm");
  std::getline(comm, name);
  return name;
}

bool IsShard(const std::string& thread_name) { return thread_name.rfind("rte-worker", 0) == 0; }

}  // namespace

double ShardCpuSeconds(pid_t pid) {
  double total = 0;
  const long hz = sysconf(_SC_CLK_TCK);
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"), ec)) {
    if (!IsShard(ThreadName(task.path()))) continue;
    std::ifstream stat(task.path() / "stat");
    std::string line;
    std::getline(stat, line);
    // Fields after the ")" of the command name: state is field 3; utime 14, stime 15.
    const std::vector<std::string> f = absl::StrSplit(line.substr(line.rfind(')') + 2), ' ');
    if (f.size() < 13) continue;  // the thread ended while it was read
    total += static_cast<double>(std::stoull(f[11]) + std::stoull(f[12])) / hz;
  }
  return total;
}

bool PinHub(pid_t pid, unsigned shards) {
  const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  if (ncpu < static_cast<long>(shards) + 1) return false;
  bool ok = true;
  unsigned next = 0;
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"), ec)) {
    const pid_t tid = std::atoi(task.path().filename().c_str());
    cpu_set_t set;
    CPU_ZERO(&set);
    if (IsShard(ThreadName(task.path())) && next < shards) {
      CPU_SET(static_cast<int>(ncpu - 1 - next++), &set);
    } else {
      CPU_SET(0, &set);
    }
    ok &= sched_setaffinity(tid, sizeof(set), &set) == 0;
  }
  return ok && !ec && next == shards;
}

uint64_t UdpSocketDrops(const std::vector<int>& fds) {
  std::vector<uint64_t> inodes;
  for (int fd : fds) {
    struct stat st {};
    if (fstat(fd, &st) == 0) inodes.push_back(st.st_ino);
  }
  std::sort(inodes.begin(), inodes.end());
  uint64_t drops = 0;
  for (const char* path : {"/proc/net/udp", "/proc/net/udp6"}) {
    std::ifstream f(path);
    std::string line;
    std::getline(f, line);  // header
    while (std::getline(f, line)) {
      std::vector<std::string> col = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (col.size() < 13) continue;
      const uint64_t inode = std::strtoull(col[9].c_str(), nullptr, 10);
      if (std::binary_search(inodes.begin(), inodes.end(), inode)) {
        drops += std::strtoull(col[12].c_str(), nullptr, 10);
      }
    }
  }
  return drops;
}

uint64_t SumOfStopLines(const std::string& log, const std::string& key) {
  uint64_t sum = 0;
  size_t pos = 0;
  while ((pos = log.find("shard ", pos)) != std::string::npos) {
    const size_t eol = std::min(log.find('\n', pos), log.size());
    const size_t colon = log.find(": rx ", pos);
    const size_t k = log.find(key, pos);
    if (colon != std::string::npos && colon < eol && k != std::string::npos && k < eol) {
      sum += std::strtoull(log.c_str() + k + key.size(), nullptr, 10);
    }
    pos = eol;
  }
  return sum;
}

}  // namespace dmrswitch::bench
