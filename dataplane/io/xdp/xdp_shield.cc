#include "dataplane/io/xdp/xdp_shield.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <xdp/libxdp.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ebpf/shield_common.h"
#include "ebpf/xdp_shield.skel.h"

#ifndef DMRSWITCH_BPF_INSTALL_DIR
#define DMRSWITCH_BPF_INSTALL_DIR "/usr/local/lib/dmrswitch/bpf"
#endif

namespace dmrswitch::io {
namespace {

constexpr char kBpffs[] = "/sys/fs/bpf";
constexpr char kObjectName[] = "xdp_shield.bpf.o";

static_assert(sizeof(dmrswitch_shield_config) == 24);
static_assert(sizeof(dmrswitch_shield_source) == 8);
static_assert(sizeof(dmrswitch_shield_source6) == 20);
static_assert(sizeof(dmrswitch_shield_block6_key) == 20);
static_assert(sizeof(dmrswitch_shield_bucket) == 8);
static_assert(static_cast<uint32_t>(XdpListenerFamily::kHbp) == DMRSWITCH_SHIELD_FAMILY_HBP);
static_assert(static_cast<uint32_t>(XdpListenerFamily::kOpenBridge) ==
              DMRSWITCH_SHIELD_FAMILY_OPENBRIDGE);

std::string ErrnoText(int err) { return std::strerror(err < 0 ? -err : err); }

int Positive(int err) { return err < 0 ? -err : err; }

uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // bpf_ktime_get_ns() is CLOCK_MONOTONIC
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

std::string Ipv4Text(uint32_t ip) {
  return absl::StrFormat("%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

// A BPF syscall failure the operator can act on.
absl::Status BpfError(std::string_view what, int err) {
  err = Positive(err);
  if (err == EPERM || err == EACCES) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "XDP shield: %s: %s (needs CAP_BPF and CAP_NET_ADMIN, or root; CAP_SYS_ADMIN before "
        "Linux 5.8)",
        what, ErrnoText(err)));
  }
  return absl::UnavailableError(absl::StrFormat("XDP shield: %s: %s", what, ErrnoText(err)));
}

bool ValidRuntimeName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

bool IsBpffs(const char* path) {
  struct statfs st {};
  return statfs(path, &st) == 0 && static_cast<unsigned long>(st.f_type) == BPF_FS_MAGIC;
}

absl::Status MkdirP(const std::string& path) {
  std::string partial;
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos == path.size() || path[pos] == '/') {
      partial = path.substr(0, pos);
      if (mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
        return BpfError(absl::StrCat("cannot create ", partial), errno);
      }
    }
  }
  return absl::OkStatus();
}

// Removes the runtime's pin directory and everything in it, then /sys/fs/bpf/dmrswitch if that
// is left empty. A missing directory is fine.
absl::Status RemovePinDir(const std::string& dir) {
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      const std::string path = dir + "/" + e->d_name;
      if (unlink(path.c_str()) != 0 && errno != ENOENT) {
        const int err = errno;
        closedir(d);
        return BpfError(absl::StrCat("cannot remove the pin ", path), err);
      }
    }
    closedir(d);
  } else if (errno != ENOENT) {
    return BpfError(absl::StrCat("cannot open ", dir), errno);
  }
  if (rmdir(dir.c_str()) != 0 && errno != ENOENT) {
    return BpfError(absl::StrCat("cannot remove ", dir), errno);
  }
  const std::string parent = std::string(kBpffs) + "/dmrswitch";
  rmdir(parent.c_str());  // fails while other runtimes have pins: fine
  return absl::OkStatus();
}

uint32_t MapId(int fd) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

// True unless the runtime's pins belong to other maps than ours (a newer shield of the same
// runtime replaced us: its pins are not ours to remove).
bool PinsAreOurs(const std::string& dir, int our_verdicts_fd) {
  const std::string path = dir + "/" DMRSWITCH_SHIELD_MAP_VERDICTS;
  const int fd = bpf_obj_get(path.c_str());
  if (fd < 0) return true;
  const bool ours = MapId(fd) == MapId(our_verdicts_fd);
  close(fd);
  return ours;
}

absl::StatusOr<int> InterfaceIndex(std::string_view interface) {
  if (interface.empty()) {
    return absl::InvalidArgumentError(
        "XDP shield: no interface given (set [xdp] interface to the NIC the hub's traffic "
        "arrives on)");
  }
  const std::string name(interface);
  const unsigned index = if_nametoindex(name.c_str());
  if (index == 0) {
    return absl::NotFoundError(absl::StrFormat(
        "XDP shield: interface %s does not exist in this network namespace (check [xdp] "
        "interface; `ip link` lists the interfaces)",
        name));
  }
  return static_cast<int>(index);
}

// Programs named xdp_shield attached to ifindex, found through libxdp (which sees both its own
// dispatchers and directly attached "legacy" programs such as DPDK's).
struct AttachedShields {
  int found = 0;  // our programs
  int total = 0;  // all programs on the interface
};

absl::StatusOr<AttachedShields> RemoveOurPrograms(int ifindex, std::string_view interface) {
  AttachedShields removed;
  // One program per attach mode can be attached (driver and skb at once): loop until clean.
  for (int round = 0; round < 4; ++round) {
    xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(ifindex);
    const long mp_err = libxdp_get_error(mp);
    if (mp == nullptr || mp_err != 0) {
      if (mp_err == 0 || Positive(static_cast<int>(mp_err)) == ENOENT) return removed;
      return BpfError(absl::StrFormat("cannot inspect the XDP programs on %s", interface),
                      static_cast<int>(mp_err));
    }
    int ours = 0;
    int total = 0;
    std::vector<xdp_program*> ours_list;
    if (xdp_multiprog__is_legacy(mp)) {
      xdp_program* main = xdp_multiprog__main_prog(mp);
      total = 1;
      if (main != nullptr &&
          std::strcmp(xdp_program__name(main), DMRSWITCH_SHIELD_PROG_NAME) == 0) {
        ours = 1;
      }
    } else {
      for (xdp_program* p = xdp_multiprog__next_prog(nullptr, mp); p != nullptr;
           p = xdp_multiprog__next_prog(p, mp)) {
        ++total;
        if (std::strcmp(xdp_program__name(p), DMRSWITCH_SHIELD_PROG_NAME) == 0) {
          ++ours;
          ours_list.push_back(p);
        }
      }
    }
    if (ours == 0) {
      xdp_multiprog__close(mp);
      return removed;
    }
    int err = 0;
    if (ours == total) {
      err = xdp_multiprog__detach(mp);  // the dispatcher (or the legacy program) goes entirely
    } else {
      const xdp_attach_mode mode = xdp_multiprog__attach_mode(mp);
      for (xdp_program* p : ours_list) {
        err = xdp_program__detach(p, ifindex, mode, 0);
        if (err != 0) break;
      }
    }
    xdp_multiprog__close(mp);
    if (err != 0) {
      return BpfError(absl::StrFormat("cannot remove a stale XDP shield from %s", interface), err);
    }
    removed.found += ours;
    removed.total += total;
  }
  return absl::InternalError(absl::StrFormat(
      "XDP shield: a stale shield on %s keeps coming back after removal; is another dp with the "
      "same interface running?",
      interface));
}

// What is attached to ifindex now, for error messages.
std::string DescribeAttached(int ifindex) {
  bpf_xdp_query_opts opts{};
  opts.sz = sizeof(opts);
  if (bpf_xdp_query(ifindex, 0, &opts) != 0 || opts.attach_mode == XDP_ATTACHED_NONE) {
    return "nothing";
  }
  const uint32_t id = opts.prog_id != 0 ? opts.prog_id : opts.drv_prog_id;
  std::string name = "?";
  if (int fd = bpf_prog_get_fd_by_id(id); fd >= 0) {
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) name = info.name;
    close(fd);
  }
  return absl::StrFormat("program %u (%s)", id, name);
}

xdp_attach_mode LibxdpMode(XdpAttachMode mode) {
  switch (mode) {
    case XdpAttachMode::kNative:
      return XDP_MODE_NATIVE;
    case XdpAttachMode::kGeneric:
      return XDP_MODE_SKB;
    case XdpAttachMode::kAuto:
      break;
  }
  return XDP_MODE_UNSPEC;
}

absl::Status CheckOptions(const XdpShieldOptions& options) {
  if (!ValidRuntimeName(options.runtime_name)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "XDP shield: runtime name \"%s\" cannot name a pin directory (letters, digits, '_', "
        "'-', '.'; at most 64)",
        options.runtime_name));
  }
  for (const XdpListener& l : options.listeners) {
    if (l.port == 0) return absl::InvalidArgumentError("XDP shield: listener port 0");
    if (l.family != XdpListenerFamily::kHbp && l.family != XdpListenerFamily::kOpenBridge) {
      return absl::InvalidArgumentError(
          absl::StrFormat("XDP shield: listener port %u has an unknown family", l.port));
    }
  }
  if (options.rate.source_pps != 0 && options.rate.source_burst == 0) {
    return absl::InvalidArgumentError(
        "XDP shield: source_burst must be at least 1 when source_pps is set");
  }
  return absl::OkStatus();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Names and modes

std::string_view XdpAttachModeName(XdpAttachMode mode) {
  switch (mode) {
    case XdpAttachMode::kAuto:
      return "auto";
    case XdpAttachMode::kNative:
      return "native";
    case XdpAttachMode::kGeneric:
      return "generic";
  }
  return "?";
}

std::string_view XdpAttachedModeName(XdpAttachedMode mode) {
  return mode == XdpAttachedMode::kNative ? "native" : "generic";
}

// ---------------------------------------------------------------------------------------------
// XdpShieldMaps

const char* const XdpShieldMaps::kNames[XdpShieldMaps::kCount] = {
    DMRSWITCH_SHIELD_MAP_CONFIG, DMRSWITCH_SHIELD_MAP_PORTS,   DMRSWITCH_SHIELD_MAP_BLOCK,
    DMRSWITCH_SHIELD_MAP_EXEMPT, DMRSWITCH_SHIELD_MAP_RATE,    DMRSWITCH_SHIELD_MAP_VERDICTS,
    DMRSWITCH_SHIELD_MAP_BLOCK6, DMRSWITCH_SHIELD_MAP_EXEMPT6, DMRSWITCH_SHIELD_MAP_RATE6,
};

std::string XdpShieldMaps::PinDir(std::string_view runtime_name) {
  return absl::StrCat(kBpffs, "/dmrswitch/", std::string(runtime_name));
}

absl::StatusOr<XdpShieldMaps> XdpShieldMaps::OpenPinned(std::string_view runtime_name) {
  if (!ValidRuntimeName(runtime_name)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("XDP shield: bad runtime name \"%s\"", runtime_name));
  }
  if (!IsBpffs(kBpffs)) {
    return absl::FailedPreconditionError(
        "XDP shield: /sys/fs/bpf is not a bpffs in this mount namespace, so the dp's pins are "
        "not visible here (run in the dp's mount namespace; `ip netns exec` creates a new one)");
  }
  XdpShieldMaps maps;
  const std::string dir = PinDir(runtime_name);
  for (int i = 0; i < kCount; ++i) {
    const std::string path = absl::StrCat(dir, "/", kNames[i]);
    const int fd = bpf_obj_get(path.c_str());
    if (fd < 0) {
      const int err = errno;
      if (err == ENOENT) {
        return absl::NotFoundError(absl::StrFormat(
            "XDP shield: no map pinned at %s: is a dp with runtime name \"%s\" running with "
            "[xdp] interface set?",
            path, runtime_name));
      }
      return BpfError(absl::StrCat("cannot open the pinned map ", path), err);
    }
    maps.fds_[i] = fd;
  }
  return maps;
}

absl::StatusOr<XdpShieldMaps> XdpShieldMaps::FromFds(const int (&fds)[kCount]) {
  XdpShieldMaps maps;
  for (int i = 0; i < kCount; ++i) {
    const int fd = fds[i] < 0 ? -1 : dup(fds[i]);
    if (fd < 0) return BpfError(absl::StrCat("no descriptor for map ", kNames[i]), EBADF);
    maps.fds_[i] = fd;
  }
  return maps;
}

XdpShieldMaps::XdpShieldMaps(XdpShieldMaps&& other) noexcept {
  std::copy(std::begin(other.fds_), std::end(other.fds_), std::begin(fds_));
  std::fill(std::begin(other.fds_), std::end(other.fds_), -1);
}

XdpShieldMaps& XdpShieldMaps::operator=(XdpShieldMaps&& other) noexcept {
  if (this != &other) {
    Close();
    std::copy(std::begin(other.fds_), std::end(other.fds_), std::begin(fds_));
    std::fill(std::begin(other.fds_), std::end(other.fds_), -1);
  }
  return *this;
}

XdpShieldMaps::~XdpShieldMaps() { Close(); }

void XdpShieldMaps::Close() {
  for (int& fd : fds_) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
}

absl::Status XdpShieldMaps::Block(uint32_t ip, std::optional<std::chrono::nanoseconds> duration) {
  uint64_t expiry = DMRSWITCH_SHIELD_BLOCK_FOREVER;
  if (duration.has_value()) {
    if (duration->count() <= 0) {
      return absl::InvalidArgumentError("XDP shield: a block needs a positive duration");
    }
    expiry = MonotonicNs() + static_cast<uint64_t>(duration->count());
  }
  const uint32_t key = htonl(ip);
  if (bpf_map_update_elem(fds_[kBlock], &key, &expiry, BPF_ANY) != 0) {
    const int err = errno;
    if (err == E2BIG || err == ENOMEM) {
      return absl::ResourceExhaustedError(
          absl::StrFormat("XDP shield: the block list is full (%u sources); unblock some first",
                          DMRSWITCH_SHIELD_MAX_BLOCKED));
    }
    return BpfError(absl::StrCat("cannot block ", Ipv4Text(ip)), err);
  }
  return absl::OkStatus();
}

absl::Status XdpShieldMaps::Unblock(uint32_t ip) {
  const uint32_t key = htonl(ip);
  if (bpf_map_delete_elem(fds_[kBlock], &key) != 0) {
    const int err = errno;
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrFormat("XDP shield: %s is not blocked", Ipv4Text(ip)));
    }
    return BpfError(absl::StrCat("cannot unblock ", Ipv4Text(ip)), err);
  }
  return absl::OkStatus();
}

namespace {

std::string Ipv6Text(const XdpIp6& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, a.data(), buf, sizeof(buf));
  return buf;
}

absl::StatusOr<dmrswitch_shield_block6_key> Block6Key(const XdpIp6& ip6, uint32_t prefix_len) {
  if (prefix_len != 64 && prefix_len != 128) {
    return absl::InvalidArgumentError(
        absl::StrFormat("XDP shield: an IPv6 block covers a /64 or a /128, not a /%u", prefix_len));
  }
  dmrswitch_shield_block6_key key{};
  key.prefix_len = prefix_len;
  std::memcpy(key.addr, ip6.data(), prefix_len / 8);
  return key;
}

}  // namespace

absl::Status XdpShieldMaps::Block6(const XdpIp6& ip6, uint32_t prefix_len,
                                   std::optional<std::chrono::nanoseconds> duration) {
  absl::StatusOr<dmrswitch_shield_block6_key> key = Block6Key(ip6, prefix_len);
  if (!key.ok()) return key.status();
  uint64_t expiry = DMRSWITCH_SHIELD_BLOCK_FOREVER;
  if (duration.has_value()) {
    if (duration->count() <= 0) {
      return absl::InvalidArgumentError("XDP shield: a block needs a positive duration");
    }
    expiry = MonotonicNs() + static_cast<uint64_t>(duration->count());
  }
  if (bpf_map_update_elem(fds_[kBlock6], &*key, &expiry, BPF_ANY) != 0) {
    const int err = errno;
    if (err == E2BIG || err == ENOMEM) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "XDP shield: the IPv6 block list is full (%u prefixes); unblock some first",
          DMRSWITCH_SHIELD_MAX_BLOCKED));
    }
    return BpfError(absl::StrCat("cannot block ", Ipv6Text(ip6), "/", prefix_len), err);
  }
  return absl::OkStatus();
}

absl::Status XdpShieldMaps::Unblock6(const XdpIp6& ip6, uint32_t prefix_len) {
  absl::StatusOr<dmrswitch_shield_block6_key> key = Block6Key(ip6, prefix_len);
  if (!key.ok()) return key.status();
  if (bpf_map_delete_elem(fds_[kBlock6], &*key) != 0) {
    const int err = errno;
    XdpIp6 masked{};
    std::memcpy(masked.data(), key->addr, 16);
    if (err == ENOENT) {
      return absl::NotFoundError(
          absl::StrFormat("XDP shield: %s/%u is not blocked", Ipv6Text(masked), prefix_len));
    }
    return BpfError(absl::StrCat("cannot unblock ", Ipv6Text(masked), "/", prefix_len), err);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<XdpBlockedSource>> XdpShieldMaps::Blocked() {
  std::vector<XdpBlockedSource> out;
  std::vector<uint32_t> expired;
  const uint64_t now = MonotonicNs();
  uint32_t key = 0;
  uint32_t next = 0;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fds_[kBlock], prev, &next) == 0) {
    uint64_t expiry = 0;
    if (bpf_map_lookup_elem(fds_[kBlock], &next, &expiry) == 0) {
      if (expiry == DMRSWITCH_SHIELD_BLOCK_FOREVER) {
        out.push_back(XdpBlockedSource{ntohl(next), std::nullopt});
      } else if (expiry > now) {
        out.push_back(XdpBlockedSource{
            ntohl(next), std::chrono::nanoseconds(static_cast<int64_t>(expiry - now))});
      } else {
        expired.push_back(next);
      }
    }
    key = next;
    prev = &key;
  }
  for (uint32_t k : expired) bpf_map_delete_elem(fds_[kBlock], &k);
  std::sort(out.begin(), out.end(),
            [](const XdpBlockedSource& a, const XdpBlockedSource& b) { return a.ip < b.ip; });

  std::vector<XdpBlockedSource> out6;
  std::vector<dmrswitch_shield_block6_key> expired6;
  dmrswitch_shield_block6_key key6{};
  dmrswitch_shield_block6_key next6{};
  const void* prev6 = nullptr;
  while (bpf_map_get_next_key(fds_[kBlock6], prev6, &next6) == 0) {
    uint64_t expiry = 0;
    if (bpf_map_lookup_elem(fds_[kBlock6], &next6, &expiry) == 0) {
      XdpBlockedSource b;
      b.v6 = true;
      b.ip = 0;
      std::memcpy(b.ip6.data(), next6.addr, 16);
      b.prefix_len = next6.prefix_len;
      if (expiry == DMRSWITCH_SHIELD_BLOCK_FOREVER) {
        out6.push_back(b);
      } else if (expiry > now) {
        b.remaining = std::chrono::nanoseconds(static_cast<int64_t>(expiry - now));
        out6.push_back(b);
      } else {
        expired6.push_back(next6);
      }
    }
    key6 = next6;
    prev6 = &key6;
  }
  for (const auto& k : expired6) bpf_map_delete_elem(fds_[kBlock6], &k);
  std::sort(out6.begin(), out6.end(), [](const XdpBlockedSource& a, const XdpBlockedSource& b) {
    return a.ip6 != b.ip6 ? a.ip6 < b.ip6 : a.prefix_len < b.prefix_len;
  });
  out.insert(out.end(), out6.begin(), out6.end());
  return out;
}

namespace {

// Makes a hash map hold exactly `want` (key → value): deletes the keys not wanted, writes the
// rest. Keys are fixed-size PODs.
template <typename Key, typename Value>
absl::Status ReplaceHash(int fd, const std::vector<std::pair<Key, Value>>& want,
                         std::string_view what) {
  std::vector<Key> present;
  Key key{};
  Key next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    present.push_back(next);
    key = next;
    prev = &key;
  }
  for (const Key& k : present) {
    const bool keep = std::any_of(want.begin(), want.end(), [&](const auto& kv) {
      return std::memcmp(&kv.first, &k, sizeof(Key)) == 0;
    });
    if (!keep && bpf_map_delete_elem(fd, &k) != 0 && errno != ENOENT) {
      return BpfError(absl::StrCat("cannot update the ", std::string(what)), errno);
    }
  }
  for (const auto& [k, v] : want) {
    if (bpf_map_update_elem(fd, &k, &v, BPF_ANY) != 0) {
      const int err = errno;
      if (err == E2BIG || err == ENOMEM) {
        return absl::ResourceExhaustedError(
            absl::StrFormat("XDP shield: too many entries for the %s (%u)", what, want.size()));
      }
      return BpfError(absl::StrCat("cannot update the ", std::string(what)), err);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status XdpShieldMaps::SetExempt(std::span<const XdpSource> exempt) {
  std::vector<std::pair<dmrswitch_shield_source, uint32_t>> want;
  std::vector<std::pair<dmrswitch_shield_source6, uint32_t>> want6;
  for (const XdpSource& s : exempt) {
    if (s.v6) {
      dmrswitch_shield_source6 key{};
      std::memcpy(key.addr, s.ip6.data(), 16);
      key.port = htons(s.port);
      want6.emplace_back(key, 1u);
      continue;
    }
    dmrswitch_shield_source key{};
    key.addr = htonl(s.ip);
    key.port = htons(s.port);
    want.emplace_back(key, 1u);
  }
  if (want.size() > DMRSWITCH_SHIELD_MAX_EXEMPT || want6.size() > DMRSWITCH_SHIELD_MAX_EXEMPT) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("XDP shield: %u exempt peers, at most %u per address family",
                        want.size() + want6.size(), DMRSWITCH_SHIELD_MAX_EXEMPT));
  }
  if (absl::Status st = ReplaceHash(fds_[kExempt], want, "exempt peer list"); !st.ok()) return st;
  return ReplaceHash(fds_[kExempt6], want6, "IPv6 exempt peer list");
}

absl::Status XdpShieldMaps::SetListeners(std::span<const XdpListener> listeners) {
  std::vector<std::pair<uint32_t, uint32_t>> want;
  for (const XdpListener& l : listeners) {
    if (l.port == 0) return absl::InvalidArgumentError("XDP shield: listener port 0");
    const uint32_t key = htons(l.port);
    const uint32_t family = static_cast<uint32_t>(l.family);
    for (const auto& [k, f] : want) {
      if (k == key && f != family) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "XDP shield: port %u is both an HBP and an OpenBridge listener", l.port));
      }
    }
    want.emplace_back(key, family);
  }
  if (want.size() > DMRSWITCH_SHIELD_MAX_PORTS) {
    return absl::ResourceExhaustedError(absl::StrFormat("XDP shield: %u listener ports, at most %u",
                                                        want.size(), DMRSWITCH_SHIELD_MAX_PORTS));
  }
  return ReplaceHash(fds_[kPorts], want, "listener port list");
}

absl::Status XdpShieldMaps::ReadConfig(dmrswitch_shield_config* out) const {
  const uint32_t zero = 0;
  if (bpf_map_lookup_elem(fds_[kConfig], &zero, out) != 0) {
    return BpfError("cannot read the shield's config", errno);
  }
  return absl::OkStatus();
}

absl::Status XdpShieldMaps::WriteConfig(const dmrswitch_shield_config& config) {
  const uint32_t zero = 0;
  if (bpf_map_update_elem(fds_[kConfig], &zero, &config, BPF_ANY) != 0) {
    return BpfError("cannot write the shield's config", errno);
  }
  return absl::OkStatus();
}

absl::Status XdpShieldMaps::SetRate(XdpRate rate) {
  if (rate.source_pps != 0 && rate.source_burst == 0) {
    return absl::InvalidArgumentError(
        "XDP shield: source_burst must be at least 1 when source_pps is set");
  }
  if (rate.prefix6 == 0 || rate.prefix6 > 128) {
    return absl::InvalidArgumentError(
        absl::StrFormat("XDP shield: the IPv6 rate prefix must be 1..128, not %u", rate.prefix6));
  }
  dmrswitch_shield_config config{};
  if (absl::Status s = ReadConfig(&config); !s.ok()) return s;
  if (rate.source_pps == 0) {
    config.rate_interval_ns = 0;
    config.rate_burst_ns = 0;
  } else {
    config.rate_interval_ns = 1'000'000'000ull / rate.source_pps;
    if (config.rate_interval_ns == 0) config.rate_interval_ns = 1;
    config.rate_burst_ns = config.rate_interval_ns * rate.source_burst;
  }
  config.rate_prefix6 = rate.prefix6;
  return WriteConfig(config);
}

absl::Status XdpShieldMaps::SetAfxdp(bool afxdp) {
  dmrswitch_shield_config config{};
  if (absl::Status s = ReadConfig(&config); !s.ok()) return s;
  config.flags = afxdp ? (config.flags | DMRSWITCH_SHIELD_F_AFXDP)
                       : (config.flags & ~DMRSWITCH_SHIELD_F_AFXDP);
  return WriteConfig(config);
}

absl::StatusOr<std::vector<XdpCounter>> XdpShieldMaps::Counters() const {
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return BpfError("cannot count the possible CPUs", ncpus);
  std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpus));
  std::vector<XdpCounter> out;
  out.reserve(DMRSWITCH_SHIELD_V_COUNT);
  for (uint32_t k = 0; k < DMRSWITCH_SHIELD_V_COUNT; ++k) {
    if (bpf_map_lookup_elem(fds_[kVerdicts], &k, per_cpu.data()) != 0) {
      return BpfError("cannot read the verdict counters", errno);
    }
    uint64_t sum = 0;
    for (uint64_t v : per_cpu) sum += v;
    out.push_back(XdpCounter{dmrswitch_shield_verdict_names[k], sum});
  }
  return out;
}

absl::StatusOr<uint64_t> XdpShieldMaps::Counter(std::string_view name) const {
  absl::StatusOr<std::vector<XdpCounter>> all = Counters();
  if (!all.ok()) return all.status();
  for (const XdpCounter& c : *all) {
    if (c.name == name) return c.value;
  }
  return absl::NotFoundError(absl::StrFormat("XDP shield: no verdict named %s", name));
}

// ---------------------------------------------------------------------------------------------
// XdpShieldSimulator

absl::StatusOr<std::unique_ptr<XdpShieldSimulator>> XdpShieldSimulator::Load(
    const XdpShieldOptions& options) {
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  xdp_shield* skel = xdp_shield__open_and_load();
  if (skel == nullptr) return BpfError("cannot load the program", errno);
  const int fds[XdpShieldMaps::kCount] = {
      bpf_map__fd(skel->maps.shield_config), bpf_map__fd(skel->maps.shield_ports),
      bpf_map__fd(skel->maps.shield_block),  bpf_map__fd(skel->maps.shield_exempt),
      bpf_map__fd(skel->maps.shield_rate),   bpf_map__fd(skel->maps.shield_verdicts),
      bpf_map__fd(skel->maps.shield_block6), bpf_map__fd(skel->maps.shield_exempt6),
      bpf_map__fd(skel->maps.shield_rate6),
  };
  absl::StatusOr<XdpShieldMaps> maps = XdpShieldMaps::FromFds(fds);
  if (!maps.ok()) {
    xdp_shield__destroy(skel);
    return maps.status();
  }
  std::unique_ptr<XdpShieldSimulator> sim(new XdpShieldSimulator(skel, std::move(*maps)));
  XdpShieldMaps& m = sim->maps_;
  if (absl::Status s = m.SetRate(options.rate); !s.ok()) return s;
  if (absl::Status s = m.SetAfxdp(options.afxdp); !s.ok()) return s;
  if (absl::Status s = m.SetExempt(options.exempt); !s.ok()) return s;
  if (absl::Status s = m.SetListeners(options.listeners); !s.ok()) return s;
  return sim;
}

XdpShieldSimulator::~XdpShieldSimulator() { xdp_shield__destroy(skel_); }

int XdpShieldSimulator::prog_fd() const { return bpf_program__fd(skel_->progs.xdp_shield); }

absl::StatusOr<uint32_t> XdpShieldSimulator::Run(std::span<const uint8_t> frame) {
  // The kernel may write the (unchanged) frame back: give it room.
  std::vector<uint8_t> out(frame.size() + 256);
  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  opts.data_in = frame.data();
  opts.data_size_in = static_cast<uint32_t>(frame.size());
  opts.data_out = out.data();
  opts.data_size_out = static_cast<uint32_t>(out.size());
  opts.repeat = 1;
  if (bpf_prog_test_run_opts(prog_fd(), &opts) != 0) {
    return BpfError("BPF_PROG_TEST_RUN", errno);
  }
  return opts.retval;
}

// ---------------------------------------------------------------------------------------------
// XdpShield

absl::Status XdpShield::EnsureBpffs() {
  if (IsBpffs(kBpffs)) return absl::OkStatus();
  if (mkdir(kBpffs, 0700) != 0 && errno != EEXIST) {
    return BpfError("cannot create /sys/fs/bpf to mount a bpffs on", errno);
  }
  if (mount("bpf", kBpffs, "bpf", 0, "mode=0700") != 0) {
    const int err = errno;
    if (err == EPERM || err == EACCES) {
      return absl::PermissionDeniedError(absl::StrFormat(
          "XDP shield: /sys/fs/bpf is not a bpffs and mounting one failed: %s (needs "
          "CAP_SYS_ADMIN; or mount it first: `mount -t bpf bpf /sys/fs/bpf`)",
          ErrnoText(err)));
    }
    return BpfError("cannot mount a bpffs at /sys/fs/bpf", err);
  }
  return absl::OkStatus();
}

absl::Status XdpShield::RemoveStale(std::string_view interface, std::string_view runtime_name) {
  if (!ValidRuntimeName(runtime_name)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("XDP shield: bad runtime name \"%s\"", runtime_name));
  }
  absl::StatusOr<int> ifindex = InterfaceIndex(interface);
  if (!ifindex.ok()) return ifindex.status();
  // libxdp keeps its dispatcher's state in the bpffs: without one it cannot see (or remove) a
  // dispatcher, so mount it first.
  if (absl::Status s = EnsureBpffs(); !s.ok()) return s;
  absl::StatusOr<AttachedShields> removed = RemoveOurPrograms(*ifindex, interface);
  if (!removed.ok()) return removed.status();
  return RemovePinDir(XdpShieldMaps::PinDir(runtime_name));
}

absl::StatusOr<std::string> XdpShield::ObjectPath() {
  auto readable = [](const std::string& path) { return access(path.c_str(), R_OK) == 0; };
  if (const char* env = std::getenv("DMRSWITCH_XDP_OBJECT"); env != nullptr && *env != '\0') {
    if (readable(env)) return std::string(env);
    return absl::NotFoundError(
        absl::StrFormat("XDP shield: DMRSWITCH_XDP_OBJECT=%s is not a readable file", env));
  }
  std::vector<std::string> candidates;
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    exe[n] = '\0';
    std::string dir(exe);
    dir.resize(dir.rfind('/'));
    // Build tree: ebpf/ sits beside dataplane/, bench/ and tools/, two levels above tests/x/.
    candidates.push_back(absl::StrCat(dir, "/", kObjectName));
    candidates.push_back(absl::StrCat(dir, "/../ebpf/", kObjectName));
    candidates.push_back(absl::StrCat(dir, "/../../ebpf/", kObjectName));
  }
  candidates.push_back(absl::StrCat(DMRSWITCH_BPF_INSTALL_DIR, "/", kObjectName));
  for (const std::string& c : candidates) {
    if (readable(c)) return c;
  }
  return absl::NotFoundError(
      absl::StrFormat("XDP shield: %s not found next to the binary nor in %s (reinstall, or set "
                      "DMRSWITCH_XDP_OBJECT)",
                      kObjectName, DMRSWITCH_BPF_INSTALL_DIR));
}

absl::StatusOr<std::unique_ptr<XdpShield>> XdpShield::Attach(const XdpShieldOptions& options) {
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  absl::StatusOr<int> ifindex = InterfaceIndex(options.interface);
  if (!ifindex.ok()) return ifindex.status();
  if (absl::Status s = RemoveStale(options.interface, options.runtime_name); !s.ok()) return s;

  // One load + attach attempt in one mode; a fresh object each time, since a failed attach may
  // leave the object loaded for a dispatcher that no longer exists.
  struct Attempt {
    xdp_shield* skel = nullptr;
    xdp_program* prog = nullptr;
    int err = 0;
    void Release() {
      if (prog != nullptr) xdp_program__close(prog);
      if (skel != nullptr) xdp_shield__destroy(skel);
      prog = nullptr;
      skel = nullptr;
    }
  };
  auto attempt = [&](xdp_attach_mode mode) {
    Attempt a;
    a.skel = xdp_shield__open();
    if (a.skel == nullptr) {
      a.err = errno != 0 ? errno : EINVAL;
      return a;
    }
    a.prog = xdp_program__from_bpf_obj(a.skel->obj, "xdp");
    if (long e = libxdp_get_error(a.prog); e != 0 || a.prog == nullptr) {
      a.prog = nullptr;
      a.err = e != 0 ? static_cast<int>(e) : EINVAL;
      return a;
    }
    a.err = xdp_program__attach(a.prog, *ifindex, mode, 0);
    return a;
  };

  Attempt a;
  if (options.attach == XdpAttachMode::kAuto) {
    a = attempt(XDP_MODE_NATIVE);
    if (a.err != 0 && Positive(a.err) != EPERM && Positive(a.err) != EACCES) {
      // The driver has no native XDP, or refuses it (MTU, queue count): generic works anywhere.
      a.Release();
      a = attempt(XDP_MODE_SKB);
    }
  } else {
    a = attempt(LibxdpMode(options.attach));
  }
  if (a.err != 0) {
    const int err = Positive(a.err);
    a.Release();
    if (err == EPERM || err == EACCES) return BpfError("cannot load or attach the program", err);
    if (err == EBUSY || err == EEXIST) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "XDP shield: %s already has an XDP program libxdp cannot share (%s); remove it "
          "(`ip link set dev %s xdp off`) or load it with xdp-loader so it joins the dispatcher",
          options.interface, DescribeAttached(*ifindex), options.interface));
    }
    if (options.attach == XdpAttachMode::kNative) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "XDP shield: the driver of %s refuses native XDP (%s); set [xdp] attach = \"auto\" or "
          "\"generic\"",
          options.interface, ErrnoText(err)));
    }
    return absl::UnavailableError(
        absl::StrFormat("XDP shield: cannot attach to %s in %s mode: %s", options.interface,
                        XdpAttachModeName(options.attach), ErrnoText(err)));
  }

  const int fds[XdpShieldMaps::kCount] = {
      bpf_map__fd(a.skel->maps.shield_config), bpf_map__fd(a.skel->maps.shield_ports),
      bpf_map__fd(a.skel->maps.shield_block),  bpf_map__fd(a.skel->maps.shield_exempt),
      bpf_map__fd(a.skel->maps.shield_rate),   bpf_map__fd(a.skel->maps.shield_verdicts),
      bpf_map__fd(a.skel->maps.shield_block6), bpf_map__fd(a.skel->maps.shield_exempt6),
      bpf_map__fd(a.skel->maps.shield_rate6),
  };
  absl::StatusOr<XdpShieldMaps> maps = XdpShieldMaps::FromFds(fds);
  std::unique_ptr<XdpShield> shield;
  if (maps.ok()) shield.reset(new XdpShield(std::move(*maps)));
  if (shield == nullptr) {
    xdp_program__detach(a.prog, *ifindex, XDP_MODE_UNSPEC, 0);
    a.Release();
    return maps.status();
  }
  shield->skel_ = a.skel;
  shield->program_ = a.prog;
  shield->attached_ = true;
  shield->interface_ = options.interface;
  shield->ifindex_ = *ifindex;
  shield->prog_id_ = xdp_program__id(a.prog);
  shield->pin_dir_ = XdpShieldMaps::PinDir(options.runtime_name);
  {
    xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(*ifindex);
    if (mp != nullptr && libxdp_get_error(mp) == 0) {
      shield->mode_ = xdp_multiprog__attach_mode(mp) == XDP_MODE_SKB ? XdpAttachedMode::kGeneric
                                                                     : XdpAttachedMode::kNative;
      xdp_multiprog__close(mp);
    } else {
      shield->mode_ = options.attach == XdpAttachMode::kGeneric ? XdpAttachedMode::kGeneric
                                                                : XdpAttachedMode::kNative;
    }
  }

  // Pins, then the configuration. On any failure the destructor detaches and unpins.
  if (absl::Status s = MkdirP(shield->pin_dir_); !s.ok()) return s;
  for (int i = 0; i < XdpShieldMaps::kCount; ++i) {
    const std::string path = absl::StrCat(shield->pin_dir_, "/", XdpShieldMaps::kNames[i]);
    if (bpf_obj_pin(fds[i], path.c_str()) != 0) {
      return BpfError(absl::StrCat("cannot pin ", path), errno);
    }
  }
  XdpShieldMaps& m = shield->maps_;
  if (absl::Status s = m.SetRate(options.rate); !s.ok()) return s;
  if (absl::Status s = m.SetAfxdp(options.afxdp); !s.ok()) return s;
  if (absl::Status s = m.SetExempt(options.exempt); !s.ok()) return s;
  if (absl::Status s = m.SetListeners(options.listeners); !s.ok()) return s;
  return shield;
}

absl::StatusOr<std::unique_ptr<XdpShield>> XdpShield::AdoptDpdkProgram(
    const XdpShieldOptions& options) {
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  absl::StatusOr<int> ifindex = InterfaceIndex(options.interface);
  if (!ifindex.ok()) return ifindex.status();
  if (absl::Status s = EnsureBpffs(); !s.ok()) return s;

  // Find the shield among the interface's programs (DPDK 22.11 attaches it alone, without a
  // dispatcher; a libxdp-based loader would put it in one: both are handled).
  xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(*ifindex);
  if (mp == nullptr || libxdp_get_error(mp) != 0) {
    return absl::NotFoundError(absl::StrFormat(
        "XDP shield: no XDP program on %s; DPDK's net_af_xdp should have loaded %s (devarg "
        "xdp_prog=) when the port's RX queues were set up",
        options.interface, kObjectName));
  }
  uint32_t prog_id = 0;
  const bool generic = xdp_multiprog__attach_mode(mp) == XDP_MODE_SKB;
  if (xdp_multiprog__is_legacy(mp)) {
    xdp_program* main = xdp_multiprog__main_prog(mp);
    if (main != nullptr && std::strcmp(xdp_program__name(main), DMRSWITCH_SHIELD_PROG_NAME) == 0) {
      prog_id = xdp_program__id(main);
    }
  } else {
    for (xdp_program* p = xdp_multiprog__next_prog(nullptr, mp); p != nullptr;
         p = xdp_multiprog__next_prog(p, mp)) {
      if (std::strcmp(xdp_program__name(p), DMRSWITCH_SHIELD_PROG_NAME) == 0) {
        prog_id = xdp_program__id(p);
      }
    }
  }
  xdp_multiprog__close(mp);
  if (prog_id == 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "XDP shield: the XDP program on %s is %s, not the shield; was xdp_prog= given to "
        "net_af_xdp?",
        options.interface, DescribeAttached(*ifindex)));
  }

  const int prog_fd = bpf_prog_get_fd_by_id(prog_id);
  if (prog_fd < 0) return BpfError("cannot open the shield program DPDK loaded", errno);
  bpf_prog_info info{};
  uint32_t info_len = sizeof(info);
  std::vector<uint32_t> map_ids(16);
  info.nr_map_ids = static_cast<uint32_t>(map_ids.size());
  info.map_ids = reinterpret_cast<uint64_t>(map_ids.data());
  const int info_err = bpf_obj_get_info_by_fd(prog_fd, &info, &info_len);
  const int info_errno = errno;
  close(prog_fd);
  if (info_err != 0) return BpfError("cannot read the shield program's maps", info_errno);
  map_ids.resize(std::min<size_t>(info.nr_map_ids, map_ids.size()));

  int fds[XdpShieldMaps::kCount];
  std::fill(std::begin(fds), std::end(fds), -1);
  auto close_all = [&] {
    for (int& fd : fds) {
      if (fd >= 0) close(fd);
      fd = -1;
    }
  };
  for (uint32_t id : map_ids) {
    const int fd = bpf_map_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_map_info minfo{};
    uint32_t mlen = sizeof(minfo);
    bool kept = false;
    if (bpf_obj_get_info_by_fd(fd, &minfo, &mlen) == 0) {
      for (int i = 0; i < XdpShieldMaps::kCount; ++i) {
        if (std::strcmp(minfo.name, XdpShieldMaps::kNames[i]) == 0 && fds[i] < 0) {
          fds[i] = fd;
          kept = true;
        }
      }
    }
    if (!kept) close(fd);
  }
  for (int i = 0; i < XdpShieldMaps::kCount; ++i) {
    if (fds[i] < 0) {
      close_all();
      return absl::FailedPreconditionError(absl::StrFormat(
          "XDP shield: the program on %s has no map %s: an object from another build? (%s)",
          options.interface, XdpShieldMaps::kNames[i], kObjectName));
    }
  }
  absl::StatusOr<XdpShieldMaps> maps = XdpShieldMaps::FromFds(fds);
  close_all();
  if (!maps.ok()) return maps.status();

  std::unique_ptr<XdpShield> shield(new XdpShield(std::move(*maps)));
  shield->adopted_ = true;
  shield->attached_ = true;
  shield->interface_ = options.interface;
  shield->ifindex_ = *ifindex;
  shield->prog_id_ = prog_id;
  shield->mode_ = generic ? XdpAttachedMode::kGeneric : XdpAttachedMode::kNative;
  shield->pin_dir_ = XdpShieldMaps::PinDir(options.runtime_name);
  if (absl::Status s = RemovePinDir(shield->pin_dir_); !s.ok()) return s;
  if (absl::Status s = MkdirP(shield->pin_dir_); !s.ok()) return s;
  for (int i = 0; i < XdpShieldMaps::kCount; ++i) {
    const std::string path = absl::StrCat(shield->pin_dir_, "/", XdpShieldMaps::kNames[i]);
    if (bpf_obj_pin(shield->maps_.fds_[i], path.c_str()) != 0) {
      return BpfError(absl::StrCat("cannot pin ", path), errno);
    }
  }
  XdpShieldMaps& m = shield->maps_;
  if (absl::Status s = m.SetRate(options.rate); !s.ok()) return s;
  if (absl::Status s = m.SetExempt(options.exempt); !s.ok()) return s;
  if (absl::Status s = m.SetListeners(options.listeners); !s.ok()) return s;
  if (absl::Status s = m.SetAfxdp(true); !s.ok()) return s;
  return shield;
}

absl::Status XdpShield::Detach() {
  absl::Status result = absl::OkStatus();
  if (attached_ && !adopted_ && program_ != nullptr) {
    const xdp_attach_mode mode =
        mode_ == XdpAttachedMode::kGeneric ? XDP_MODE_SKB : XDP_MODE_NATIVE;
    const int err = xdp_program__detach(program_, ifindex_, mode, 0);
    // ENOENT: somebody removed it already (ip link set xdp off): the goal is reached.
    if (err != 0 && Positive(err) != ENOENT) {
      result = BpfError(absl::StrFormat("cannot detach from %s", interface_), err);
    }
  }
  attached_ = false;
  if (program_ != nullptr) xdp_program__close(program_);
  program_ = nullptr;
  if (skel_ != nullptr) xdp_shield__destroy(skel_);
  skel_ = nullptr;
  if (!pin_dir_.empty() && PinsAreOurs(pin_dir_, maps_.verdicts_fd())) {
    if (absl::Status s = RemovePinDir(pin_dir_); !s.ok() && result.ok()) result = s;
  }
  pin_dir_.clear();
  return result;
}

XdpShield::~XdpShield() {
  if (absl::Status s = Detach(); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
  }
}

}  // namespace dmrswitch::io
