// The XDP shield on a real link: a veth pair between two namespaces this test creates
// (198.18.0.0/24), the shield attached to the hub end through XdpShield (libxdp's dispatcher),
// in native and in generic mode. While it is attached the box still answers ping and TCP, a
// garbage flood to the hub port is dropped and counted, and a real socket on that port receives
// every frame of a 34 pps call sent during the flood. Detach leaves no program and no pins; a
// SIGKILLed owner leaves both, and the next Attach replaces them without duplicating; a missing
// bpffs is mounted.
//
// The whole test runs in a private mount namespace (every bpffs it mounts goes away with it)
// and needs root. Without privileges it fails, never skips.

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "dataplane/io/xdp/xdp_shield.h"
#include "ebpf/shield_common.h"
#include "tests/ebpf/netns_lab.h"

namespace dmrswitch::io {
namespace {

using testing::VethLab;
using testing::WaitChild;

constexpr uint16_t kHbpPort = 62031;
constexpr uint16_t kObpPort = 62035;
constexpr uint16_t kTcpPort = 2222;

class PrivateMounts : public ::testing::Environment {
 public:
  void SetUp() override {
    const absl::Status s = testing::PrivateMountNamespace();
    ASSERT_TRUE(s.ok()) << s << " — the namespace tests need root";
  }
};
const auto* const kPrivateMounts = ::testing::AddGlobalTestEnvironment(new PrivateMounts);

bool IsBpffs(const char* path) {
  struct statfs st {};
  return statfs(path, &st) == 0 && static_cast<unsigned long>(st.f_type) == BPF_FS_MAGIC;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

// Programs on the interface as the kernel and libxdp see them: a dispatcher counts its
// components, a directly attached program counts one, per attach mode.
struct OnInterface {
  int programs = 0;
  int shields = 0;  // named xdp_shield
  bool any_attached = false;
};

OnInterface Inspect(const std::string& interface) {
  OnInterface r;
  const int ifindex = static_cast<int>(if_nametoindex(interface.c_str()));
  bpf_xdp_query_opts opts{};
  opts.sz = sizeof(opts);
  if (ifindex == 0 || bpf_xdp_query(ifindex, 0, &opts) != 0) return r;
  r.any_attached = opts.attach_mode != XDP_ATTACHED_NONE;
  if (!r.any_attached) return r;
  xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(ifindex);
  if (mp == nullptr || libxdp_get_error(mp) != 0) return r;
  if (xdp_multiprog__is_legacy(mp)) {
    r.programs = 1;
    xdp_program* main = xdp_multiprog__main_prog(mp);
    r.shields = main != nullptr && std::strcmp(xdp_program__name(main), "xdp_shield") == 0;
  } else {
    for (xdp_program* p = xdp_multiprog__next_prog(nullptr, mp); p != nullptr;
         p = xdp_multiprog__next_prog(p, mp)) {
      ++r.programs;
      r.shields += std::strcmp(xdp_program__name(p), "xdp_shield") == 0;
    }
  }
  xdp_multiprog__close(mp);
  // Both a driver-mode and an skb-mode program at once: count the second one too.
  if (opts.drv_prog_id != 0 && opts.skb_prog_id != 0) ++r.programs;
  return r;
}

XdpShieldOptions OptionsFor(const VethLab& lab, XdpAttachMode mode, std::string runtime) {
  XdpShieldOptions o;
  o.interface = lab.hub_if();
  o.attach = mode;
  o.runtime_name = std::move(runtime);
  o.listeners = {{kHbpPort, XdpListenerFamily::kHbp}, {kObpPort, XdpListenerFamily::kOpenBridge}};
  o.rate = XdpRate{200, 400};
  return o;
}

std::unique_ptr<VethLab> MustCreateLab(std::string_view tag) {
  absl::StatusOr<std::unique_ptr<VethLab>> lab = VethLab::Create(tag);
  EXPECT_TRUE(lab.ok()) << lab.status();
  if (!lab.ok()) return nullptr;
  const absl::Status s = (*lab)->EnterHub();
  EXPECT_TRUE(s.ok()) << s;
  return s.ok() ? std::move(*lab) : nullptr;
}

uint64_t Counter(const XdpShield& shield, std::string_view name) {
  absl::StatusOr<uint64_t> v = shield.maps().Counter(name);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : 0;
}

int UdpListener(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  const int rcvbuf = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(testing::kLabHubIp);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

class ShieldOnVethTest : public ::testing::TestWithParam<XdpAttachMode> {};

// The scenario of issue 9: the box stays reachable, the flood is cut, the call is whole.
TEST_P(ShieldOnVethTest, FloodDroppedCallWholeBoxReachable) {
  std::unique_ptr<VethLab> lab = MustCreateLab("fl");
  ASSERT_NE(lab, nullptr);
  const std::string runtime = absl::StrCat("netns-test-", getpid());
  absl::StatusOr<std::unique_ptr<XdpShield>> attached =
      XdpShield::Attach(OptionsFor(*lab, GetParam(), runtime));
  ASSERT_TRUE(attached.ok()) << attached.status();
  XdpShield& shield = **attached;
  const XdpAttachedMode want =
      GetParam() == XdpAttachMode::kGeneric ? XdpAttachedMode::kGeneric : XdpAttachedMode::kNative;
  EXPECT_EQ(shield.mode(), want) << "veth supports native XDP: auto must pick it";
  OnInterface on = Inspect(lab->hub_if());
  EXPECT_EQ(on.programs, 1);
  EXPECT_EQ(on.shields, 1);
  EXPECT_TRUE(Exists(shield.pin_dir() + "/shield_verdicts"));
  EXPECT_TRUE(Exists(shield.pin_dir() + "/shield_block"));
  // Another process's view of the same maps (the control plane's).
  absl::StatusOr<XdpShieldMaps> pinned = XdpShieldMaps::OpenPinned(runtime);
  ASSERT_TRUE(pinned.ok()) << pinned.status();

  const int udp = UdpListener(kHbpPort);
  ASSERT_GE(udp, 0) << std::strerror(errno);
  testing::TcpEchoServer tcp(kTcpPort);
  ASSERT_TRUE(tcp.ok());

  // Ping and TCP to the box.
  EXPECT_EQ(WaitChild(lab->SpawnInClient([] { return testing::PingHub(3) ? 0 : 1; })), 0)
      << "ping through the shield";
  EXPECT_EQ(
      WaitChild(lab->SpawnInClient([] { return testing::TcpEchoRoundTrip(kTcpPort) ? 0 : 1; })), 0)
      << "TCP through the shield";
  EXPECT_GT(Counter(shield, "pass_not_udp"), 0u);   // ICMP and TCP
  EXPECT_GT(Counter(shield, "pass_not_ipv4"), 0u);  // ARP

  // The flood (3 s) and, during it, a 34 pps call of 85 frames (2.5 s).
  int flood_pipe[2];
  int call_pipe[2];
  ASSERT_EQ(pipe(flood_pipe), 0);
  ASSERT_EQ(pipe(call_pipe), 0);
  const pid_t flooder = lab->SpawnInClient([&] {
    testing::WriteU64(flood_pipe[1],
                      testing::FloodGarbage(kHbpPort, 50000, std::chrono::seconds(3)));
    return 0;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  constexpr uint32_t kCallFrames = 85;
  const pid_t caller = lab->SpawnInClient([&] {
    testing::WriteU64(call_pipe[1], testing::SendCall(kHbpPort, 40000, 34, kCallFrames));
    return 0;
  });
  uint64_t call_received = 0;
  uint64_t other_received = 0;
  uint32_t next_seq = 0;
  bool in_order = true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(6);
  while (std::chrono::steady_clock::now() < deadline && call_received < kCallFrames) {
    pollfd p{udp, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    uint8_t buf[512];
    ssize_t n;
    while ((n = recv(udp, buf, sizeof(buf), 0)) > 0) {
      if (n == 55 && std::memcmp(buf, "DMRD", 4) == 0) {
        const uint32_t seq = (uint32_t{buf[20]} << 24) | (uint32_t{buf[21]} << 16) |
                             (uint32_t{buf[22]} << 8) | buf[23];
        in_order = in_order && seq == next_seq;
        next_seq = seq + 1;
        ++call_received;
      } else {
        ++other_received;
      }
    }
  }
  EXPECT_EQ(WaitChild(caller), 0);
  EXPECT_EQ(WaitChild(flooder), 0);
  const uint64_t call_sent = testing::ReadU64(call_pipe[0]);
  const uint64_t flood_sent = testing::ReadU64(flood_pipe[0]);
  for (int fd : {flood_pipe[0], flood_pipe[1], call_pipe[0], call_pipe[1]}) close(fd);
  close(udp);

  EXPECT_EQ(call_sent, kCallFrames);
  EXPECT_EQ(call_received, kCallFrames) << "frames of the 34 pps call lost during the flood";
  EXPECT_TRUE(in_order);
  EXPECT_EQ(other_received, 0u) << "garbage reached the socket";
  const uint64_t dropped = Counter(shield, "drop_bad_magic");
  EXPECT_GT(flood_sent, 10000u) << "the generator did not flood";
  // Every garbage datagram the veth delivered was dropped by the shield; the veth itself may
  // drop some under the flood before XDP sees them, never more than a tenth here.
  EXPECT_LE(dropped, flood_sent);
  EXPECT_GE(dropped, flood_sent * 9 / 10) << "sent " << flood_sent;
  EXPECT_EQ(Counter(shield, "pass_hub"), call_received);
  EXPECT_EQ(Counter(shield, "drop_rate_limited"), 0u);  // garbage never reaches the bucket
  // The pinned view counts the same.
  absl::StatusOr<uint64_t> via_pins = pinned->Counter("drop_bad_magic");
  ASSERT_TRUE(via_pins.ok());
  EXPECT_EQ(*via_pins, dropped);
  std::printf("[ shield  ] %s: flood %lu sent, %lu dropped by XDP; call %lu/%lu received\n",
              std::string(XdpAttachedModeName(shield.mode())).c_str(),
              static_cast<unsigned long>(flood_sent), static_cast<unsigned long>(dropped),
              static_cast<unsigned long>(call_received), static_cast<unsigned long>(call_sent));

  // Detach: nothing left on the interface or in the bpffs.
  const std::string pin_dir = shield.pin_dir();
  ASSERT_TRUE(shield.Detach().ok());
  on = Inspect(lab->hub_if());
  EXPECT_FALSE(on.any_attached);
  EXPECT_EQ(on.programs, 0);
  EXPECT_FALSE(Exists(pin_dir));
  EXPECT_FALSE(XdpShieldMaps::OpenPinned(runtime).ok());
  EXPECT_TRUE(shield.Detach().ok()) << "Detach is idempotent";
}

INSTANTIATE_TEST_SUITE_P(Modes, ShieldOnVethTest,
                         ::testing::Values(XdpAttachMode::kAuto, XdpAttachMode::kNative,
                                           XdpAttachMode::kGeneric),
                         [](const ::testing::TestParamInfo<XdpAttachMode>& info) {
                           return std::string(XdpAttachModeName(info.param));
                         });

// A dp killed with SIGKILL leaves its program attached and its maps pinned; the next Attach
// removes both and attaches one fresh program.
TEST(ShieldLifecycleTest, SigkillLeavesStaleProgramNextAttachReplacesIt) {
  std::unique_ptr<VethLab> lab = MustCreateLab("kl");
  ASSERT_NE(lab, nullptr);
  const std::string runtime = absl::StrCat("kill-test-", getpid());
  const XdpShieldOptions options = OptionsFor(*lab, XdpAttachMode::kAuto, runtime);
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t owner = fork();
  ASSERT_GE(owner, 0);
  if (owner == 0) {
    absl::StatusOr<std::unique_ptr<XdpShield>> s = XdpShield::Attach(options);
    testing::WriteU64(ready[1], s.ok() ? (*s)->prog_id() : 0);
    if (!s.ok()) _exit(1);
    (void)s->release();  // as a crash would: no destructor
    for (;;) pause();
  }
  const uint64_t stale_id = testing::ReadU64(ready[0]);
  close(ready[0]);
  close(ready[1]);
  kill(owner, SIGKILL);
  EXPECT_EQ(WaitChild(owner), 128 + SIGKILL);
  ASSERT_NE(stale_id, 0u) << "the owner could not attach";

  OnInterface on = Inspect(lab->hub_if());
  EXPECT_EQ(on.shields, 1) << "the stale program should still be attached";
  const std::string pin_dir = XdpShieldMaps::PinDir(runtime);
  EXPECT_TRUE(Exists(pin_dir + "/shield_verdicts")) << "the stale pins should still be there";

  absl::StatusOr<std::unique_ptr<XdpShield>> fresh = XdpShield::Attach(options);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  on = Inspect(lab->hub_if());
  EXPECT_EQ(on.programs, 1) << "duplicated instead of replaced";
  EXPECT_EQ(on.shields, 1);
  EXPECT_NE((*fresh)->prog_id(), stale_id);
  // The pins are the fresh program's: its counters move, seen through them.
  absl::StatusOr<XdpShieldMaps> pinned = XdpShieldMaps::OpenPinned(runtime);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_EQ(WaitChild(lab->SpawnInClient([] { return testing::PingHub(1) ? 0 : 1; })), 0);
  EXPECT_GT(*pinned->Counter("pass_not_udp"), 0u);

  ASSERT_TRUE((*fresh)->Detach().ok());
  on = Inspect(lab->hub_if());
  EXPECT_FALSE(on.any_attached);
  EXPECT_FALSE(Exists(pin_dir));
}

// Another XDP program loaded through libxdp stays. Where the kernel takes freplace programs,
// both run from one dispatcher (the shield first, priority 20) and detaching the shield leaves
// the other alone. Where it refuses them (this CI's VM: a BPF LSM answers EPERM to every
// BPF_PROG_TYPE_EXT load), libxdp falls back to attaching one program alone: the shield must then
// refuse with an actionable error and leave the other program and the bpffs untouched.
TEST(ShieldLifecycleTest, CoexistsWithAnotherLibxdpProgramOrRefusesCleanly) {
  std::unique_ptr<VethLab> lab = MustCreateLab("co");
  ASSERT_NE(lab, nullptr);
  const int ifindex = static_cast<int>(if_nametoindex(lab->hub_if().c_str()));
  ASSERT_TRUE(XdpShield::EnsureBpffs().ok());
  // xdp-tools' allow-all filter program, shipped with libxdp.
  xdp_program* other = xdp_program__find_file("xdpfilt_alw_all.o", "xdp", nullptr);
  ASSERT_EQ(libxdp_get_error(other), 0) << "libxdp's xdpfilt_alw_all.o is missing";
  ASSERT_EQ(xdp_program__attach(other, ifindex, XDP_MODE_NATIVE, 0), 0);
  bool dispatcher = false;
  {
    xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(ifindex);
    ASSERT_EQ(libxdp_get_error(mp), 0);
    dispatcher = !xdp_multiprog__is_legacy(mp);
    xdp_multiprog__close(mp);
  }
  std::printf("[ shield  ] libxdp dispatcher %s on this kernel\n",
              dispatcher ? "available" : "refused (freplace not permitted): legacy attach");

  absl::StatusOr<std::unique_ptr<XdpShield>> shield =
      XdpShield::Attach(OptionsFor(*lab, XdpAttachMode::kNative, "coexist"));
  if (dispatcher) {
    ASSERT_TRUE(shield.ok()) << shield.status();
    OnInterface on = Inspect(lab->hub_if());
    EXPECT_EQ(on.programs, 2);
    EXPECT_EQ(on.shields, 1);
    EXPECT_EQ(WaitChild(lab->SpawnInClient([] { return testing::PingHub(2) ? 0 : 1; })), 0);
    EXPECT_GT(Counter(**shield, "pass_not_udp"), 0u);
    ASSERT_TRUE((*shield)->Detach().ok());
  } else {
    ASSERT_FALSE(shield.ok());
    EXPECT_EQ(shield.status().code(), absl::StatusCode::kFailedPrecondition) << shield.status();
    EXPECT_NE(shield.status().message().find(lab->hub_if()), std::string_view::npos);
    EXPECT_NE(shield.status().message().find("xdpfilt_alw_all"), std::string_view::npos)
        << shield.status();
    EXPECT_FALSE(Exists(XdpShieldMaps::PinDir("coexist")));
  }
  OnInterface on = Inspect(lab->hub_if());
  EXPECT_EQ(on.programs, 1) << "the other program must stay";
  EXPECT_EQ(on.shields, 0);
  EXPECT_EQ(xdp_program__detach(other, ifindex, XDP_MODE_NATIVE, 0), 0);
  xdp_program__close(other);
  EXPECT_FALSE(Inspect(lab->hub_if()).any_attached);
}

// The object carries libxdp's run config (what the dispatcher orders and chains by).
TEST(ShieldLifecycleTest, ObjectCarriesLibxdpRunConfig) {
  absl::StatusOr<std::string> path = XdpShield::ObjectPath();
  ASSERT_TRUE(path.ok()) << path.status();
  xdp_program* p = xdp_program__open_file(path->c_str(), "xdp", nullptr);
  ASSERT_EQ(libxdp_get_error(p), 0);
  EXPECT_STREQ(xdp_program__name(p), "xdp_shield");
  EXPECT_EQ(xdp_program__run_prio(p), static_cast<unsigned>(DMRSWITCH_SHIELD_RUN_PRIO));
  EXPECT_TRUE(xdp_program__chain_call_enabled(p, XDP_PASS));
  EXPECT_FALSE(xdp_program__chain_call_enabled(p, XDP_DROP));
  EXPECT_FALSE(xdp_program__chain_call_enabled(p, XDP_REDIRECT));
  xdp_program__close(p);
  // The object DPDK gets must offer the map it looks up by name.
  bpf_object* obj = bpf_object__open_file(path->c_str(), nullptr);
  ASSERT_NE(obj, nullptr);
  EXPECT_NE(bpf_object__find_map_by_name(obj, "xsks_map"), nullptr);
  bpf_object__close(obj);
}

// Under `ip netns exec` /sys/fs/bpf is a fresh sysfs directory, not a bpffs: Attach mounts one.
// Recreated honestly: a child in a mount namespace of its own unmounts every bpffs there first.
TEST(ShieldLifecycleTest, MountsBpffsWhenAbsent) {
  std::unique_ptr<VethLab> lab = MustCreateLab("fs");
  ASSERT_NE(lab, nullptr);
  const XdpShieldOptions options = OptionsFor(*lab, XdpAttachMode::kAuto, "bpffs-test");
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (!testing::PrivateMountNamespace().ok()) _exit(10);
    while (IsBpffs("/sys/fs/bpf")) {
      if (umount2("/sys/fs/bpf", MNT_DETACH) != 0) _exit(11);
    }
    if (IsBpffs("/sys/fs/bpf")) _exit(12);
    absl::StatusOr<std::unique_ptr<XdpShield>> s = XdpShield::Attach(options);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", std::string(s.status().message()).c_str());
      _exit(13);
    }
    if (!IsBpffs("/sys/fs/bpf")) _exit(14);
    if (!Exists((*s)->pin_dir() + "/shield_block")) _exit(15);
    if (!(*s)->Detach().ok()) _exit(16);
    if (Exists((*s)->pin_dir())) _exit(17);
    _exit(0);
  }
  EXPECT_EQ(WaitChild(child), 0) << "10: unshare, 11-12: umount, 13: attach, 14: no bpffs, "
                                    "15: no pins, 16: detach, 17: pins left";
  EXPECT_FALSE(Inspect(lab->hub_if()).any_attached);
}

// afxdp mode without DPDK in the loop, but exactly as DPDK 22.11's net_af_xdp does it: the object
// loaded with plain libbpf and attached with XDP_FLAGS_UPDATE_IF_NOEXIST (no libxdp), an AF_XDP
// socket bound to queue 0 with program loading inhibited and put into xsks_map by fd. The owner
// adopts the program (pins, configuration, afxdp flag); hub traffic then lands in the socket's RX
// ring and never in the kernel's UDP socket, garbage is dropped, ping still works.
TEST(ShieldAfxdpTest, DpdkStyleLoadIsAdoptedAndHubTrafficReachesTheXsk) {
  std::unique_ptr<VethLab> lab = MustCreateLab("ax");
  ASSERT_NE(lab, nullptr);
  const std::string runtime = absl::StrCat("afxdp-test-", getpid());
  const int ifindex = static_cast<int>(if_nametoindex(lab->hub_if().c_str()));
  ASSERT_TRUE(XdpShield::RemoveStale(lab->hub_if(), runtime).ok());
  absl::StatusOr<std::string> path = XdpShield::ObjectPath();
  ASSERT_TRUE(path.ok()) << path.status();

  bpf_object* obj = bpf_object__open_file(path->c_str(), nullptr);
  ASSERT_NE(obj, nullptr);
  ASSERT_EQ(bpf_object__load(obj), 0);
  const int prog_fd = bpf_program__fd(bpf_object__next_program(obj, nullptr));
  ASSERT_GE(prog_fd, 0);
  ASSERT_EQ(bpf_xdp_attach(ifindex, prog_fd, XDP_FLAGS_UPDATE_IF_NOEXIST, nullptr), 0);
  const int xsks_fd = bpf_map__fd(bpf_object__find_map_by_name(obj, "xsks_map"));

  constexpr size_t kFrames = 2048;
  constexpr size_t kFrameSize = XSK_UMEM__DEFAULT_FRAME_SIZE;
  void* area = mmap(nullptr, kFrames * kFrameSize, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(area, MAP_FAILED);
  xsk_ring_prod fill{};
  xsk_ring_cons comp{};
  xsk_ring_cons rx{};
  xsk_ring_prod tx{};
  xsk_umem* umem = nullptr;
  ASSERT_EQ(xsk_umem__create(&umem, area, kFrames * kFrameSize, &fill, &comp, nullptr), 0);
  xsk_socket_config cfg{};
  cfg.rx_size = XSK_RING_CONS__DEFAULT_NUM_DESCS;
  cfg.tx_size = XSK_RING_PROD__DEFAULT_NUM_DESCS;
  cfg.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
  cfg.bind_flags = XDP_COPY;
  xsk_socket* xsk = nullptr;
  ASSERT_EQ(xsk_socket__create(&xsk, lab->hub_if().c_str(), 0, umem, &rx, &tx, &cfg), 0);
  uint32_t idx = 0;
  ASSERT_EQ(xsk_ring_prod__reserve(&fill, kFrames, &idx), kFrames);
  for (size_t i = 0; i < kFrames; ++i) *xsk_ring_prod__fill_addr(&fill, idx + i) = i * kFrameSize;
  xsk_ring_prod__submit(&fill, kFrames);
  const uint32_t queue = 0;
  const int sock_fd = xsk_socket__fd(xsk);
  ASSERT_EQ(bpf_map_update_elem(xsks_fd, &queue, &sock_fd, BPF_ANY), 0);

  XdpShieldOptions options = OptionsFor(*lab, XdpAttachMode::kAuto, runtime);
  absl::StatusOr<std::unique_ptr<XdpShield>> adopted = XdpShield::AdoptDpdkProgram(options);
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_EQ((*adopted)->mode(), XdpAttachedMode::kNative);
  EXPECT_TRUE(Exists((*adopted)->pin_dir() + "/shield_config"));
  EXPECT_EQ(Inspect(lab->hub_if()).shields, 1);

  const int udp = UdpListener(kHbpPort);
  ASSERT_GE(udp, 0);
  constexpr uint32_t kCallFrames = 40;
  EXPECT_EQ(WaitChild(lab->SpawnInClient([] { return testing::PingHub(2) ? 0 : 1; })), 0);
  EXPECT_EQ(WaitChild(lab->SpawnInClient([] {
              return testing::SendCall(kHbpPort, 40000, 200, kCallFrames) == kCallFrames ? 0 : 1;
            })),
            0);
  EXPECT_EQ(WaitChild(lab->SpawnInClient([] {
              return testing::FloodGarbage(kHbpPort, 50000, std::chrono::milliseconds(300)) > 0 ? 0
                                                                                                : 1;
            })),
            0);

  uint32_t in_xsk = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < deadline && in_xsk < kCallFrames) {
    pollfd p{sock_fd, POLLIN, 0};
    poll(&p, 1, 50);
    uint32_t rx_idx = 0;
    const uint32_t n = xsk_ring_cons__peek(&rx, 64, &rx_idx);
    for (uint32_t i = 0; i < n; ++i) {
      const xdp_desc* d = xsk_ring_cons__rx_desc(&rx, rx_idx + i);
      const uint8_t* frame = static_cast<const uint8_t*>(xsk_umem__get_data(area, d->addr));
      // Ethernet 14 + IPv4 20 + UDP 8 + DMRD 55.
      if (d->len == 14 + 20 + 8 + 55 && std::memcmp(frame + 42, "DMRD", 4) == 0) ++in_xsk;
    }
    xsk_ring_cons__release(&rx, n);
  }
  uint8_t buf[512];
  const ssize_t kernel_got = recv(udp, buf, sizeof(buf), MSG_DONTWAIT);
  close(udp);

  EXPECT_EQ(in_xsk, kCallFrames) << "hub traffic missing from the AF_XDP socket";
  EXPECT_LT(kernel_got, 0) << "hub traffic reached the kernel socket in afxdp mode";
  absl::StatusOr<XdpShieldMaps> pinned = XdpShieldMaps::OpenPinned(runtime);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_EQ(*pinned->Counter("redirect_hub"), kCallFrames);
  EXPECT_GT(*pinned->Counter("drop_bad_magic"), 0u);
  EXPECT_GT(*pinned->Counter("pass_not_udp"), 0u);
  EXPECT_EQ(*pinned->Counter("pass_hub"), 0u);

  // The owner lets go of the pins; the program is DPDK's to detach (here: RemoveStale, as the
  // dp does before probing after a crash).
  ASSERT_TRUE((*adopted)->Detach().ok());
  EXPECT_FALSE(Exists(XdpShieldMaps::PinDir(runtime)));
  EXPECT_EQ(Inspect(lab->hub_if()).shields, 1);
  xsk_socket__delete(xsk);
  xsk_umem__delete(umem);
  munmap(area, kFrames * kFrameSize);
  ASSERT_TRUE(XdpShield::RemoveStale(lab->hub_if(), runtime).ok());
  EXPECT_FALSE(Inspect(lab->hub_if()).any_attached);
  bpf_object__close(obj);
}

// Errors an operator can act on.
TEST(ShieldLifecycleTest, ActionableErrors) {
  XdpShieldOptions o;
  o.interface = "dmrsw-nonesuch";
  absl::StatusOr<std::unique_ptr<XdpShield>> s = XdpShield::Attach(o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.status().message().find("dmrsw-nonesuch"), std::string_view::npos);
  o.interface = "lo";
  o.runtime_name = "../escape";
  EXPECT_EQ(XdpShield::Attach(o).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(XdpShieldMaps::OpenPinned("no-such-runtime").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace dmrswitch::io
