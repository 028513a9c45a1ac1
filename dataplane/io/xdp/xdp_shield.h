// The XDP shield's user-space owner (docs/ebpf.md). One class owns every map update and exports
// the verdict counters, as katran's KatranLb does for its balancer: XdpShieldMaps is the map
// side (usable from any process through the pins), XdpShield the attachment (load, attach,
// detach, stale cleanup) on one interface.
//
// Knows nothing of the configuration file: the caller builds XdpShieldOptions. Addresses and
// ports are in host byte order, as in route::Endpoint.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct xdp_shield;               // the bpftool skeleton; kept out of this header
struct dmrswitch_shield_config;  // ebpf/shield_common.h
struct xdp_program;              // libxdp

namespace dmrswitch::io {

// How to attach. kAuto tries native (driver) mode and falls back to generic (skb) mode when the
// driver refuses; the others insist.
enum class XdpAttachMode { kAuto, kNative, kGeneric };
// How it ended up attached.
enum class XdpAttachedMode { kNative, kGeneric };

std::string_view XdpAttachModeName(XdpAttachMode mode);      // "auto", "native", "generic"
std::string_view XdpAttachedModeName(XdpAttachedMode mode);  // "native", "generic"

// What a listener port speaks; the shield checks tag and length per family.
enum class XdpListenerFamily : uint32_t { kHbp = 1, kOpenBridge = 2 };

struct XdpListener {
  uint16_t port = 0;
  XdpListenerFamily family = XdpListenerFamily::kHbp;
};

using XdpIp6 = std::array<uint8_t, 16>;  // network byte order

// A source: an IPv4 (or, with v6, IPv6) address and a UDP port (0 = every port of the address).
struct XdpSource {
  uint32_t ip = 0;
  uint16_t port = 0;
  bool v6 = false;
  XdpIp6 ip6{};
};

// Token bucket per source ip:port on hub ports (IPv6: per source /prefix6 and port).
// source_pps = 0 turns rate limiting off.
struct XdpRate {
  uint32_t source_pps = 200;
  uint32_t source_burst = 400;
  uint32_t prefix6 = 64;  // 1..128
};

struct XdpShieldOptions {
  std::string interface;  // the NIC the hub's traffic arrives on
  XdpAttachMode attach = XdpAttachMode::kAuto;
  std::string runtime_name = "dmrswitch";  // pins go to /sys/fs/bpf/dmrswitch/<runtime_name>/
  bool afxdp = false;                      // redirect accepted hub traffic to xsks_map
  std::vector<XdpListener> listeners;
  std::vector<XdpSource> exempt;  // configured OpenBridge/FBP peers: never rate limited
  XdpRate rate;
};

struct XdpBlockedSource {
  uint32_t ip = 0;
  // Time left; nullopt = blocked until unblocked.
  std::optional<std::chrono::nanoseconds> remaining;
  // An IPv6 source: the address (masked) and its prefix, 64 or 128.
  bool v6 = false;
  XdpIp6 ip6{};
  uint32_t prefix_len = 32;
};

struct XdpCounter {
  std::string_view name;  // e.g. "drop_rate_limited"; static storage
  uint64_t value = 0;     // summed over CPUs
};

// The shield's maps, as file descriptors. Every map update of the shield goes through here,
// whether the maps came from an XdpShield in this process or from the pins of another
// (OpenPinned: the control plane may be a separate process and owns the block list).
class XdpShieldMaps {
 public:
  // The pin directory of a runtime: /sys/fs/bpf/dmrswitch/<runtime_name>.
  static std::string PinDir(std::string_view runtime_name);

  // Opens the maps pinned by a shield of runtime_name (in this mount namespace's bpffs).
  static absl::StatusOr<XdpShieldMaps> OpenPinned(std::string_view runtime_name);

  XdpShieldMaps(XdpShieldMaps&& other) noexcept;
  XdpShieldMaps& operator=(XdpShieldMaps&& other) noexcept;
  XdpShieldMaps(const XdpShieldMaps&) = delete;
  XdpShieldMaps& operator=(const XdpShieldMaps&) = delete;
  ~XdpShieldMaps();

  // Drops every packet from ip to a hub port, for `duration` or (nullopt) until unblocked.
  // Blocking again replaces the expiry.
  absl::Status Block(uint32_t ip, std::optional<std::chrono::nanoseconds> duration);
  // NotFound when ip was not blocked.
  absl::Status Unblock(uint32_t ip);
  // The same for an IPv6 address or its /64 (prefix_len 128 or 64; the address is masked).
  absl::Status Block6(const XdpIp6& ip6, uint32_t prefix_len,
                      std::optional<std::chrono::nanoseconds> duration);
  absl::Status Unblock6(const XdpIp6& ip6, uint32_t prefix_len);
  // Sources blocked now, IPv4 sorted by address, then IPv6 sorted by address and prefix.
  // Expired entries are removed on the way.
  absl::StatusOr<std::vector<XdpBlockedSource>> Blocked();

  // Replace the whole set (peers added and removed by a reload).
  absl::Status SetExempt(std::span<const XdpSource> exempt);
  absl::Status SetListeners(std::span<const XdpListener> listeners);
  // Applies to the next packet of every source; buckets keep their state.
  absl::Status SetRate(XdpRate rate);
  absl::Status SetAfxdp(bool afxdp);

  // Every verdict by name, in the order of ebpf/shield_common.h, summed over CPUs.
  absl::StatusOr<std::vector<XdpCounter>> Counters() const;
  // One verdict by name; NotFound for an unknown name.
  absl::StatusOr<uint64_t> Counter(std::string_view name) const;

  // Raw descriptors, for tools and tests (bpftool-like inspection). Owned by this object.
  int config_fd() const { return fds_[kConfig]; }
  int ports_fd() const { return fds_[kPorts]; }
  int block_fd() const { return fds_[kBlock]; }
  int exempt_fd() const { return fds_[kExempt]; }
  int rate_fd() const { return fds_[kRate]; }
  int verdicts_fd() const { return fds_[kVerdicts]; }
  int block6_fd() const { return fds_[kBlock6]; }
  int exempt6_fd() const { return fds_[kExempt6]; }
  int rate6_fd() const { return fds_[kRate6]; }

 private:
  friend class XdpShield;
  friend class XdpShieldSimulator;
  enum Index {
    kConfig,
    kPorts,
    kBlock,
    kExempt,
    kRate,
    kVerdicts,
    kBlock6,
    kExempt6,
    kRate6,
    kCount
  };
  static const char* const kNames[kCount];

  XdpShieldMaps() { std::fill(std::begin(fds_), std::end(fds_), -1); }
  // Takes ownership of dup()s of the given descriptors (indexed by Index).
  static absl::StatusOr<XdpShieldMaps> FromFds(const int (&fds)[kCount]);
  absl::Status ReadConfig(::dmrswitch_shield_config* out) const;
  absl::Status WriteConfig(const ::dmrswitch_shield_config& config);
  void Close();

  int fds_[kCount];
};

// The shield loaded but attached nowhere: runs frames through BPF_PROG_TEST_RUN, the real program
// on fixture packets (katran's simulator). Tests use it; a dp can use it as a self-test of the
// running kernel's verifier before attaching.
class XdpShieldSimulator {
 public:
  // Loads the program as a plain XDP program and fills its maps from the options' listeners,
  // exempt peers, rate and afxdp flag (interface and attach mode are ignored; nothing is
  // pinned).
  static absl::StatusOr<std::unique_ptr<XdpShieldSimulator>> Load(const XdpShieldOptions& options);

  ~XdpShieldSimulator();
  XdpShieldSimulator(const XdpShieldSimulator&) = delete;
  XdpShieldSimulator& operator=(const XdpShieldSimulator&) = delete;

  // The XDP action (XDP_DROP, XDP_PASS, XDP_REDIRECT, ...) the program returns for `frame`
  // (an Ethernet frame of at least 14 bytes: the kernel refuses shorter test input).
  absl::StatusOr<uint32_t> Run(std::span<const uint8_t> frame);

  int prog_fd() const;
  XdpShieldMaps& maps() { return maps_; }
  const XdpShieldMaps& maps() const { return maps_; }

 private:
  XdpShieldSimulator(xdp_shield* skel, XdpShieldMaps maps) : skel_(skel), maps_(std::move(maps)) {}

  xdp_shield* skel_;
  XdpShieldMaps maps_;
};

// The shield attached to one interface.
class XdpShield {
 public:
  // Loads the program, attaches it through libxdp's dispatcher (so it coexists with other XDP
  // programs), pins the maps and fills them from `options`. Before that: mounts a bpffs at
  // /sys/fs/bpf when there is none (as tc and bpftool do; under `ip netns exec` /sys/fs/bpf is
  // a plain sysfs directory), and removes a stale shield of ours from the interface and stale
  // pins of the runtime (left by a SIGKILLed dp), so a restart never duplicates the program.
  static absl::StatusOr<std::unique_ptr<XdpShield>> Attach(const XdpShieldOptions& options);

  // afxdp mode. DPDK's net_af_xdp loads ObjectPath() itself (devarg xdp_prog=) and attaches it
  // directly, without libxdp. After the port's RX queues are set up, this finds that program on
  // the interface, checks it is the shield, pins its maps under the runtime's directory and
  // fills them from `options` (afxdp is forced on). Detach() then only unpins: DPDK detaches the
  // program when it closes the port.
  static absl::StatusOr<std::unique_ptr<XdpShield>> AdoptDpdkProgram(
      const XdpShieldOptions& options);

  // Removes a shield of ours (program name xdp_shield) from the interface, whether attached
  // through libxdp's dispatcher or directly (DPDK), and the runtime's pins. Other programs on
  // the interface are left alone. OK when there was nothing to remove. afxdp mode calls this
  // before DPDK probes the port: net_af_xdp attaches with XDP_FLAGS_UPDATE_IF_NOEXIST and fails
  // on any program left attached.
  static absl::Status RemoveStale(std::string_view interface, std::string_view runtime_name);

  // Mounts a bpffs at /sys/fs/bpf unless one is there.
  static absl::Status EnsureBpffs();

  // The compiled program (xdp_shield.bpf.o) for DPDK's xdp_prog= devarg: $DMRSWITCH_XDP_OBJECT
  // if set, else next to the running binary in the build tree, else the installed copy
  // (<libdir>/dmrswitch/bpf/).
  static absl::StatusOr<std::string> ObjectPath();

  ~XdpShield();  // Detach(), errors logged to stderr
  XdpShield(const XdpShield&) = delete;
  XdpShield& operator=(const XdpShield&) = delete;

  // Removes the program (kernel mode) and the pins. Afterwards the interface has no shield and
  // the pin directory is gone. Idempotent.
  absl::Status Detach();

  XdpAttachedMode mode() const { return mode_; }
  bool attached() const { return attached_; }
  const std::string& interface() const { return interface_; }
  const std::string& pin_dir() const { return pin_dir_; }
  uint32_t prog_id() const { return prog_id_; }
  XdpShieldMaps& maps() { return maps_; }
  const XdpShieldMaps& maps() const { return maps_; }

 private:
  XdpShield(XdpShieldMaps maps) : maps_(std::move(maps)) {}

  XdpShieldMaps maps_;
  xdp_shield* skel_ = nullptr;      // kernel mode: our loaded object
  xdp_program* program_ = nullptr;  // kernel mode: libxdp's handle
  bool adopted_ = false;            // afxdp mode: DPDK owns the program
  bool attached_ = false;
  XdpAttachedMode mode_ = XdpAttachedMode::kNative;
  std::string interface_;
  int ifindex_ = 0;
  uint32_t prog_id_ = 0;
  std::string pin_dir_;
};

}  // namespace dmrswitch::io
