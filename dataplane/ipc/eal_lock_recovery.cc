#include "dataplane/ipc/eal_lock_recovery.h"

#include <fcntl.h>
#include <rte_version.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace dmrswitch::ipc {
namespace {

// struct rte_mem_config of DPDK 22.11 (lib/eal/common/eal_memcfg.h, not installed): the offsets
// of what is read here. The layout changes in 23.07 (an ethdev lock after tlock), so nothing is
// touched unless the version field is the one this build was compiled against.
constexpr uint32_t kMagic = 19820526;  // RTE_MAGIC
constexpr size_t kConfigBytes = 25344;
constexpr uint32_t kVersionOffset = 4;
constexpr uint32_t kMlock = 16, kQlock = 20, kMplock = 24, kTlock = 28, kHotplugLock = 32;
constexpr uint32_t kMemzonesRwlock = 40 + 88;  // memzones (struct rte_fbarray) .rwlock
constexpr uint32_t kMemsegs = 136, kMemsegListBytes = 136, kMemsegLists = 128;
constexpr uint32_t kMemsegArrRwlock = 40 + 88;  // within a list: memseg_arr.rwlock
constexpr uint32_t kMallocHeaps = 19136, kMallocHeapBytes = 192, kMallocHeapCount = 32;
constexpr uint32_t kMemCfgAddr = 25288;  // mem_cfg_addr: where every process maps the config
static_assert(kMallocHeapBytes == malloc_layout::kHeapBytes);
// The primary's fcntl write lock covers the memsegs array (eal.c, rte_eal_config_create).
constexpr off_t kPrimaryLockStart = kMemsegs;
constexpr off_t kPrimaryLockBytes = kMemsegListBytes * kMemsegLists;
static_assert(kMallocHeaps + kMallocHeapBytes * kMallocHeapCount <= kConfigBytes);
static_assert(RTE_VER_YEAR == 22 && RTE_VER_MONTH == 11,
              "the shared memory config layout below is DPDK 22.11's");

std::string Errno() { return std::strerror(errno); }

// A config written by a DPDK of this build's year and month (an LTS keeps its layout through
// its point releases, so a 22.11.x library update leaves it the same).
bool SameLayout(uint32_t version) { return version >> 16 == RTE_VERSION >> 16; }

// The config file mapped read-write for the lifetime of the object.
class MappedConfig {
 public:
  static absl::StatusOr<MappedConfig> Open(const std::string& runtime_dir) {
    const std::string path = runtime_dir + "/config";
    MappedConfig m;
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return absl::NotFoundError(absl::StrCat("open ", path, ": ", Errno()));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) != kConfigBytes) {
      ::close(fd);
      return absl::FailedPreconditionError(absl::StrCat(
          path, " is not the shared memory config of the DPDK 22.11 this build uses (size ",
          st.st_size, ", expected ", kConfigBytes, ")"));
    }
    void* p = ::mmap(nullptr, kConfigBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    // This process holds no fcntl lock on the file, so closing it drops nothing.
    ::close(fd);
    if (p == MAP_FAILED) return absl::InternalError(absl::StrCat("mmap ", path, ": ", Errno()));
    m.base_ = static_cast<uint8_t*>(p);
    if (m.U32(0) != kMagic || !SameLayout(m.U32(kVersionOffset))) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, ": magic ", m.U32(0), ", version 0x", absl::Hex(m.U32(kVersionOffset)),
          "; this build understands DPDK version 0x", absl::Hex(RTE_VERSION), " only"));
    }
    return m;
  }
  MappedConfig(MappedConfig&& o) noexcept : base_(std::exchange(o.base_, nullptr)) {}
  MappedConfig(const MappedConfig&) = delete;
  MappedConfig& operator=(const MappedConfig&) = delete;
  MappedConfig& operator=(MappedConfig&&) = delete;
  ~MappedConfig() {
    if (base_ != nullptr) ::munmap(base_, kConfigBytes);
  }

  uint32_t U32(uint32_t off) const {
    return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(base_ + off))
        .load(std::memory_order_acquire);
  }
  uint64_t U64(uint32_t off) const {
    return std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(base_ + off))
        .load(std::memory_order_acquire);
  }
  std::atomic_ref<int32_t> Lock(uint32_t off) const {
    return std::atomic_ref<int32_t>(*reinterpret_cast<int32_t*>(base_ + off));
  }

  // Every lock of the config, with its value now.
  std::vector<EalLock> Locks() const {
    std::vector<EalLock> out;
    const auto add = [&](std::string name, uint32_t off, bool spin) {
      out.push_back({std::move(name), off, Lock(off).load(std::memory_order_acquire), spin});
    };
    add("mlock", kMlock, false);
    add("qlock", kQlock, false);
    add("mplock", kMplock, false);
    add("tlock", kTlock, true);
    add("memory_hotplug_lock", kHotplugLock, false);
    add("memzones.rwlock", kMemzonesRwlock, false);
    for (uint32_t i = 0; i < kMemsegLists; ++i) {
      const uint32_t list = kMemsegs + i * kMemsegListBytes;
      if (U64(list) == 0) continue;  // base_va: a list not in use
      add(absl::StrCat("memsegs[", i, "].rwlock"), list + kMemsegArrRwlock, false);
    }
    for (uint32_t h = 0; h < kMallocHeapCount; ++h) {
      add(absl::StrCat("malloc_heaps[", h, "].lock"), kMallocHeaps + h * kMallocHeapBytes, true);
    }
    return out;
  }

 private:
  MappedConfig() = default;
  uint8_t* base_ = nullptr;
};

// Reads this process's own memory without faulting on what is not mapped.
bool ReadOwnMemory(uint64_t addr, void* out, size_t len) {
  iovec local{out, len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  return ::process_vm_readv(::getpid(), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(len);
}

bool WriteOwnMemory(uint64_t addr, const void* in, size_t len) {
  iovec local{const_cast<void*>(in), len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  return ::process_vm_writev(::getpid(), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(len);
}

}  // namespace

std::string EalRuntimeDir(const std::string& file_prefix) {
  std::string dir;
  if (const char* d = std::getenv("RUNTIME_DIRECTORY"); d != nullptr) {
    dir = d;
  } else if (::getuid() == 0) {
    dir = "/var/run";
  } else if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x != nullptr) {
    dir = x;
  } else {
    dir = "/tmp";
  }
  return absl::StrCat(dir, "/dpdk/", file_prefix);
}

pid_t EalPrimaryPid(const std::string& runtime_dir) {
  const std::string path = runtime_dir + "/config";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return 0;
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = kPrimaryLockStart;
  fl.l_len = kPrimaryLockBytes;
  const int rc = ::fcntl(fd, F_GETLK, &fl);
  ::close(fd);  // holds no lock: F_GETLK takes none
  return rc == 0 && fl.l_type != F_UNLCK ? fl.l_pid : 0;
}

std::vector<pid_t> EalAttachedPids(const std::string& runtime_dir) {
  std::vector<pid_t> out;
  struct stat st {};
  if (::stat((runtime_dir + "/fbarray_memzone").c_str(), &st) != 0) return out;
  // /proc/locks: "1: FLOCK  ADVISORY  READ 1234 00:1a:5678 0 EOF" ("->" lines are waiters).
  std::ifstream locks("/proc/locks");
  std::string line;
  while (std::getline(locks, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() < 6 || f[1] != "FLOCK") continue;
    std::vector<std::string> dev = absl::StrSplit(f[5], ':');
    if (dev.size() != 3 || std::strtoull(dev[0].c_str(), nullptr, 16) != major(st.st_dev) ||
        std::strtoull(dev[1].c_str(), nullptr, 16) != minor(st.st_dev) ||
        std::strtoull(dev[2].c_str(), nullptr, 10) != st.st_ino) {
      continue;
    }
    // A holder in another PID namespace shows as 0 (or -1): attached all the same.
    const auto pid = static_cast<pid_t>(std::max(0L, std::strtol(f[4].c_str(), nullptr, 10)));
    if (std::find(out.begin(), out.end(), pid) == out.end()) out.push_back(pid);
  }
  return out;
}

absl::StatusOr<std::vector<EalLock>> HeldEalLocks(const std::string& runtime_dir) {
  auto config = MappedConfig::Open(runtime_dir);
  if (!config.ok()) return config.status();
  std::vector<EalLock> held = config->Locks();
  std::erase_if(held, [](const EalLock& l) { return l.value == 0; });
  return held;
}

absl::StatusOr<EalLockRepair> ClearLeakedEalLocks(const std::string& runtime_dir, int looks,
                                                  absl::Duration interval) {
  const pid_t primary = EalPrimaryPid(runtime_dir);
  if (primary == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("no DPDK primary process serves ", runtime_dir));
  }
  for (pid_t pid : EalAttachedPids(runtime_dir)) {
    if (pid != primary) {
      return absl::FailedPreconditionError(
          absl::StrCat("DPDK secondary process ", pid, " is attached to ", runtime_dir,
                       ": the shared locks may be its own, so none is cleared"));
    }
  }
  auto config = MappedConfig::Open(runtime_dir);
  if (!config.ok()) return config.status();
  // Held at one value at every look: a live holder would have moved it (the primary takes none
  // of these at steady state; a secondary holds one for a lookup's microseconds).
  std::vector<EalLock> first = config->Locks();
  std::vector<bool> steady(first.size());
  for (size_t i = 0; i < first.size(); ++i) steady[i] = first[i].value != 0;
  for (int n = 1; n < looks; ++n) {
    absl::SleepFor(interval);
    const std::vector<EalLock> now = config->Locks();
    for (size_t i = 0; i < first.size() && i < now.size(); ++i) {
      if (now[i].offset != first[i].offset || now[i].value != first[i].value) steady[i] = false;
    }
  }
  // A heap lock held with memory_hotplug_lock: the dead process was growing or shrinking that
  // heap through the primary, whose EAL may still be changing memory for it; the primary decides
  // (HeapLockWatch), so the hotplug lock stays as it is.
  const bool heap_held = std::any_of(first.begin(), first.end(), [](const EalLock& l) {
    return l.spinlock && l.name.rfind("malloc_heaps[", 0) == 0 && l.value != 0;
  });
  EalLockRepair repair;
  for (size_t i = 0; i < first.size(); ++i) {
    const EalLock& l = first[i];
    if (l.value == 0) continue;
    if (!steady[i] || l.spinlock || (heap_held && l.offset == kHotplugLock)) {
      EalLock now = l;
      now.value = config->Lock(l.offset).load(std::memory_order_acquire);
      if (now.value != 0) repair.left.push_back(now);
      continue;
    }
    int32_t expected = l.value;
    if (config->Lock(l.offset).compare_exchange_strong(expected, 0, std::memory_order_acq_rel)) {
      repair.cleared.push_back(l);
    } else if (expected != 0) {
      EalLock now = l;
      now.value = expected;
      repair.left.push_back(now);
    }
  }
  return repair;
}

// A lock held together with memory_hotplug_lock: its holder was growing or shrinking the heap
// through this process (malloc_mp.c), whose EAL threads change that heap without the lock (the
// requester holds it): adding pages, then — if its IPC with the secondaries times out after
// MP_TIMEOUT_S (5 s) — a rollback. Such a hold is checked only once it is kGrowthAtLeast old and
// the heap's header (its ends, size, counts and free-list heads) has not changed for
// kGrowthQuiet, longer than that timeout; and its heap is never repaired, only released intact.
constexpr absl::Duration kGrowthAtLeast = absl::Seconds(12);
constexpr absl::Duration kGrowthQuiet = absl::Seconds(7);
// A hold is the dead's only if a secondary was seen attached this recently when it was first
// seen: a hold that began with no secondary about is one of this process's own threads.
constexpr absl::Duration kSecondaryRecently = absl::Seconds(1);

struct HeapLockWatch::State {
  struct Held {
    absl::Time since = absl::InfinitePast();  // held with nobody else attached since
    absl::Time next_check = absl::InfinitePast();
    bool ours = false;      // began with no secondary about: this process's own thread
    bool reported = false;  // found damaged during this hold
    bool growth = false;    // memory_hotplug_lock seen held too during this hold
    std::string header;     // the heap's header bytes, last seen
    absl::Time header_since = absl::InfinitePast();  // unchanged since
  };
  uint8_t* config = nullptr;  // EAL's own mapping of the config (at mem_cfg_addr)
  std::string runtime_dir;
  absl::Duration held_for;
  absl::Time secondary_seen = absl::InfinitePast();  // a secondary last seen attached
  Held held[kMallocHeapCount];

  std::atomic_ref<int32_t> Lock(uint32_t off) const {
    return std::atomic_ref<int32_t>(*reinterpret_cast<int32_t*>(config + off));
  }
  bool OthersAttached() const {
    const pid_t self = ::getpid();
    for (pid_t pid : EalAttachedPids(runtime_dir)) {
      if (pid != self) return true;
    }
    return false;
  }
  // The heap header's changing part: free-list heads, first, last, counts, total size (bytes
  // 8..144 of struct malloc_heap).
  static constexpr size_t kHeapHeaderBytes = 144 - 8;
  std::string Header(uint32_t off) const {
    const auto* p = reinterpret_cast<const volatile char*>(config + off + 8);
    std::string out(kHeapHeaderBytes, '\0');
    for (size_t i = 0; i < out.size(); ++i) out[i] = p[i];
    return out;
  }
};

namespace {
// Where this process maps the file with this device and inode (/proc/self/maps), or 0.
uint64_t MappingOf(dev_t dev, ino_t ino) {
  // "200000000-200006000 rw-s 00000000 00:1a 6370578    /run/dpdk/x/config"
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() < 6) continue;
    std::vector<std::string> d = absl::StrSplit(f[3], ':');
    if (d.size() != 2 || std::strtoull(d[0].c_str(), nullptr, 16) != major(dev) ||
        std::strtoull(d[1].c_str(), nullptr, 16) != minor(dev) ||
        std::strtoull(f[4].c_str(), nullptr, 10) != ino) {
      continue;
    }
    return std::strtoull(f[0].c_str(), nullptr, 16);
  }
  return 0;
}
}  // namespace

absl::StatusOr<HeapLockWatch> HeapLockWatch::Open(const std::string& runtime_dir,
                                                  absl::Duration held_for) {
  // The config is read where EAL maps it, never opened: a process's fcntl locks on a file go
  // with the first close of any descriptor of it, and the primary's lock on this one is what
  // keeps a second primary off its runtime.
  const std::string path = runtime_dir + "/config";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("stat ", path, ": ", Errno()));
  }
  const uint64_t at = MappingOf(st.st_dev, st.st_ino);
  if (at == 0) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is not mapped by this process"));
  }
  uint32_t head[2] = {};
  uint64_t recorded = 0;
  if (static_cast<size_t>(st.st_size) != kConfigBytes || !ReadOwnMemory(at, head, sizeof head) ||
      head[0] != kMagic || !SameLayout(head[1]) ||
      !ReadOwnMemory(at + kMemCfgAddr, &recorded, sizeof recorded) || recorded != at) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, " (mapped at 0x", absl::Hex(at), ") is not the shared memory config of the DPDK ",
        "version this build understands, mapped where it says"));
  }
  auto s = std::make_unique<State>();
  s->config = reinterpret_cast<uint8_t*>(at);
  s->runtime_dir = runtime_dir;
  s->held_for = held_for;
  return HeapLockWatch(std::move(s));
}

HeapLockWatch::HeapLockWatch(std::unique_ptr<State> s) : s_(std::move(s)) {}
HeapLockWatch::HeapLockWatch(HeapLockWatch&&) noexcept = default;
HeapLockWatch& HeapLockWatch::operator=(HeapLockWatch&&) noexcept = default;
HeapLockWatch::~HeapLockWatch() = default;

std::vector<HeapLockWatch::Event> HeapLockWatch::Poll(absl::Time now) {
  std::vector<Event> out;
  // Which secondaries are about, every poll: a cp that dies holding a lock was attached until
  // the instant it died.
  const bool others = s_->OthersAttached();
  if (others) s_->secondary_seen = now;
  for (uint32_t h = 0; h < kMallocHeapCount; ++h) {
    const uint32_t off = kMallocHeaps + h * kMallocHeapBytes;
    State::Held& held = s_->held[h];
    const int32_t value = s_->Lock(off).load(std::memory_order_acquire);
    if (value == 0) {
      held = {};
      continue;
    }
    if (others) {
      // A live secondary may be its holder; whoever holds it, a secondary is about.
      held.since = absl::InfinitePast();
      continue;
    }
    if (held.since == absl::InfinitePast()) {
      held.since = now;
      held.ours = now - s_->secondary_seen > kSecondaryRecently;
    }
    if (held.ours) continue;
    if (s_->Lock(kHotplugLock).load(std::memory_order_acquire) != 0) held.growth = true;
    if (std::string header = s_->Header(off); header != held.header) {
      held.header = std::move(header);
      held.header_since = now;
    }
    if (held.growth ? (now - held.since < kGrowthAtLeast || now - held.header_since < kGrowthQuiet)
                    : now - held.since < s_->held_for) {
      continue;
    }
    if (now < held.next_check) continue;
    held.next_check = now + absl::Seconds(1);
    Event ev;
    ev.lock = absl::StrCat("malloc_heaps[", h, "].lock");
    ev.growth = held.growth;
    const uint64_t heap = reinterpret_cast<uint64_t>(s_->config) + off;
    ev.heap = CheckMallocHeap(ReadOwnMemory, heap);
    if (!ev.heap.intact && ev.heap.free_lists_only && !held.growth && !s_->OthersAttached()) {
      // Killed while it had a free element off its list: the elements say what the lists hold.
      ev.relisted = ev.heap.free_elements;
      ev.damage = ev.heap.problem;
      ev.heap = RepairMallocHeap(ReadOwnMemory, WriteOwnMemory, heap, ev.heap);
    }
    if (!ev.heap.intact) {
      if (!held.reported) out.push_back(std::move(ev));
      held.reported = true;
      continue;
    }
    // Nobody attached in the meantime (an attach takes far longer than the check).
    if (s_->OthersAttached()) continue;
    if (SettleFreeElements(ReadOwnMemory, WriteOwnMemory, heap) < 0) continue;
    int32_t expected = value;
    if (s_->Lock(off).compare_exchange_strong(expected, 0, std::memory_order_acq_rel)) {
      ev.released = true;
      out.push_back(std::move(ev));
      held = {};
    }
  }
  return out;
}

}  // namespace dmrswitch::ipc
