// ClearLeakedEalLocks on a runtime directory laid out as a DPDK 22.11 primary leaves it: a
// `config` file holding struct rte_mem_config (the offsets of eal_memcfg.h), the primary's fcntl
// lock on it and the shared flock every EAL process keeps on fbarray_memzone — held here by
// child processes standing in for the primary and for a secondary. The real thing (a dp and a
// cp killed inside EAL) is tests/e2e/separate_cp_test.cc.
#include "dataplane/ipc/eal_lock_recovery.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <rte_version.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"

namespace dmrswitch::ipc {
namespace {

constexpr size_t kConfigBytes = 25344;
constexpr uint32_t kMlock = 16, kQlock = 20, kTlock = 28, kHotplug = 32, kMemzonesRwlock = 128;
constexpr uint32_t kMemseg0Base = 136, kMemseg0Rwlock = 264, kMemseg1Rwlock = 400;
constexpr uint32_t kHeap0Lock = 19136;

class EalLockRecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("dmrswitch-eal-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::vector<uint8_t> cfg(kConfigBytes);
    Put32(cfg, 0, 19820526);  // RTE_MAGIC
    Put32(cfg, 4, RTE_VERSION);
    Put64(cfg, kMemseg0Base, 0x100000000ull);  // memseg list 0 in use, list 1 not
    Write(cfg);
    { std::ofstream(dir_ / "fbarray_memzone") << ""; }
  }
  void TearDown() override {
    for (pid_t p : children_) {
      ::kill(p, SIGKILL);
      ::waitpid(p, nullptr, 0);
    }
    std::filesystem::remove_all(dir_);
  }

  static void Put32(std::vector<uint8_t>& b, size_t off, uint32_t v) {
    std::memcpy(b.data() + off, &v, 4);
  }
  static void Put64(std::vector<uint8_t>& b, size_t off, uint64_t v) {
    std::memcpy(b.data() + off, &v, 8);
  }
  void Write(const std::vector<uint8_t>& b) {
    std::ofstream out(dir_ / "config", std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }
  std::vector<uint8_t> Read() {
    std::ifstream in(dir_ / "config", std::ios::binary);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  }
  void SetLock(uint32_t off, int32_t v) {
    std::vector<uint8_t> b = Read();
    std::memcpy(b.data() + off, &v, 4);
    const int fd = ::open((dir_ / "config").c_str(), O_WRONLY);
    ASSERT_EQ(::pwrite(fd, b.data() + off, 4, off), 4);
    ::close(fd);
  }
  int32_t GetLock(uint32_t off) {
    const std::vector<uint8_t> b = Read();
    int32_t v;
    std::memcpy(&v, b.data() + off, 4);
    return v;
  }

  // A process that holds what an EAL process holds: the shared flock on fbarray_memzone and, as
  // the primary, the fcntl lock on the config's memsegs range.
  pid_t Spawn(bool primary) {
    int ready[2];
    EXPECT_EQ(::pipe(ready), 0);
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int fb = ::open((dir_ / "fbarray_memzone").c_str(), O_RDWR);
      if (fb < 0 || ::flock(fb, LOCK_SH) != 0) ::_exit(1);
      if (primary) {
        const int cfg = ::open((dir_ / "config").c_str(), O_RDWR);
        struct flock fl {};
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        fl.l_start = 136;
        fl.l_len = 136 * 128;
        if (cfg < 0 || ::fcntl(cfg, F_SETLK, &fl) != 0) ::_exit(1);
      }
      (void)!::write(ready[1], "x", 1);
      ::pause();
      ::_exit(0);
    }
    ::close(ready[1]);
    char c = 0;
    EXPECT_EQ(::read(ready[0], &c, 1), 1);
    ::close(ready[0]);
    children_.push_back(pid);
    return pid;
  }

  std::string dir() const { return dir_.string(); }
  static std::vector<std::string> Names(const std::vector<EalLock>& v) {
    std::vector<std::string> out;
    for (const EalLock& l : v) out.push_back(l.name);
    std::sort(out.begin(), out.end());
    return out;
  }

  std::filesystem::path dir_;
  std::vector<pid_t> children_;
};

TEST_F(EalLockRecoveryTest, ClearsTheRwlocksADeadSecondaryLeftAndReportsHeldSpinlocks) {
  const pid_t primary = Spawn(true);
  EXPECT_EQ(EalPrimaryPid(dir()), primary);
  EXPECT_EQ(EalAttachedPids(dir()), std::vector<pid_t>{primary});
  SetLock(kMlock, 4);           // a reader's lookup
  SetLock(kHotplug, 4 + 1);     // a reader, and a writer that waited for it (both dead)
  SetLock(kMemzonesRwlock, 4);  // a reader inside rte_fbarray_find_next_used
  SetLock(kMemseg0Rwlock, 2);   // a writer (list in use)
  SetLock(kMemseg1Rwlock, 4);   // a list not in use: not a lock at all
  SetLock(kHeap0Lock, 1);       // a malloc heap's spinlock
  SetLock(kTlock, 1);           // the timer spinlock
  auto held = HeldEalLocks(dir());
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(Names(*held),
            (std::vector<std::string>{"malloc_heaps[0].lock", "memory_hotplug_lock",
                                      "memsegs[0].rwlock", "memzones.rwlock", "mlock", "tlock"}));

  auto r = ClearLeakedEalLocks(dir(), 3, absl::Milliseconds(1));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Names(r->cleared),
            (std::vector<std::string>{"memsegs[0].rwlock", "memzones.rwlock", "mlock"}));
  // The hotplug lock stays while a heap lock is held (a growth through the primary may still
  // be under way: the dp releases the heap lock when it is over).
  EXPECT_EQ(Names(r->left),
            (std::vector<std::string>{"malloc_heaps[0].lock", "memory_hotplug_lock", "tlock"}));
  EXPECT_EQ(GetLock(kMlock), 0);
  EXPECT_EQ(GetLock(kHotplug), 5);
  EXPECT_EQ(GetLock(kMemzonesRwlock), 0);
  EXPECT_EQ(GetLock(kMemseg0Rwlock), 0);
  EXPECT_EQ(GetLock(kMemseg1Rwlock), 4);  // untouched
  EXPECT_EQ(GetLock(kHeap0Lock), 1);      // never cleared here
  EXPECT_EQ(GetLock(kTlock), 1);
  EXPECT_EQ(GetLock(kQlock), 0);

  // Once the dp has released the heap lock, the next try clears it.
  SetLock(kHeap0Lock, 0);
  auto again = ClearLeakedEalLocks(dir(), 3, absl::Milliseconds(1));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Names(again->cleared), std::vector<std::string>{"memory_hotplug_lock"});
  EXPECT_EQ(GetLock(kHotplug), 0);
}

TEST_F(EalLockRecoveryTest, TouchesNothingWhileASecondaryIsAttachedOrWithoutAPrimary) {
  SetLock(kMlock, 4);
  auto none = ClearLeakedEalLocks(dir(), 2, absl::Milliseconds(1));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition) << none.status();
  EXPECT_EQ(EalPrimaryPid(dir()), 0);
  Spawn(true);
  const pid_t secondary = Spawn(false);
  auto busy = ClearLeakedEalLocks(dir(), 2, absl::Milliseconds(1));
  ASSERT_EQ(busy.status().code(), absl::StatusCode::kFailedPrecondition) << busy.status();
  EXPECT_NE(busy.status().message().find(std::to_string(secondary)), std::string::npos);
  EXPECT_EQ(GetLock(kMlock), 4);
}

TEST_F(EalLockRecoveryTest, ALockThatMovesHasALiveHolderAndIsLeft) {
  Spawn(true);
  SetLock(kQlock, 4);
  SetLock(kMlock, 8);
  // Another thread keeps changing mlock meanwhile (live readers come and go); it never repeats
  // a value within the looks.
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    const int fd = ::open((dir_ / "config").c_str(), O_RDWR);
    for (int32_t i = 0; !stop.load(); ++i) {
      const int32_t v = 8 + 4 * (i % 100000);
      (void)!::pwrite(fd, &v, 4, kMlock);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    ::close(fd);
  });
  auto r = ClearLeakedEalLocks(dir(), 10, absl::Milliseconds(2));
  stop = true;
  reader.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Names(r->cleared), std::vector<std::string>{"qlock"});
  EXPECT_EQ(Names(r->left), std::vector<std::string>{"mlock"});
}

TEST_F(EalLockRecoveryTest, AnotherDpdkVersionsLayoutIsLeftAlone) {
  Spawn(true);
  std::vector<uint8_t> b = Read();
  Put32(b, 4, RTE_VERSION + 0x10000);  // 23.07 moved the fields after tlock
  Write(b);
  SetLock(kMlock, 4);
  auto r = ClearLeakedEalLocks(dir(), 2, absl::Milliseconds(1));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
  EXPECT_EQ(GetLock(kMlock), 4);
  // And a file of another size is no config of this layout either.
  std::filesystem::resize_file(dir_ / "config", kConfigBytes + 64);
  EXPECT_FALSE(HeldEalLocks(dir()).ok());
}

}  // namespace
}  // namespace dmrswitch::ipc
