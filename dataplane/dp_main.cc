// dmrswitch-dp: the packet plane (DESIGN.md §2). In kernel mode it runs EAL without hugepages or
// PCI, one shard per worker lcore on kernel UDP sockets, and — with control_plane = "hosted" —
// the control plane on the main lcore, talking to the shards over the same rings that
// dmrswitch-cp would use.
//
//   dmrswitch-dp [--config FILE] [--print-default-config]
//
// Without --config the embedded default runs: kernel mode on loopback (HBP 62031), so a hotspot
// or DMRGateway on the same box can log in at once.
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ctrlplane/config/config.h"
#include "ctrlplane/control_plane.h"
#include "dataplane/io/clock.h"
#include "dataplane/io/dpdk_mode.h"
#include "dataplane/io/kernel_mode.h"
#include "dataplane/io/udp_socket.h"
#include "spdlog/spdlog.h"

namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};

void OnSignal(int sig) {
  if (sig == SIGHUP) {
    g_reload.store(true);
  } else {
    g_stop.store(true);
  }
}

int Usage(const char* argv0, int rc) {
  std::fprintf(rc == 0 ? stdout : stderr,
               "usage: %s [--config FILE] [--print-default-config]\n"
               "  --config FILE            the hub's TOML configuration (docs/config.md);\n"
               "                           without it the embedded default runs (kernel mode,\n"
               "                           HBP on 127.0.0.1:62031)\n"
               "  --print-default-config   print the embedded default configuration and exit\n",
               argv0);
  return rc;
}

// rte_eal_cleanup, and the per-process runtime directory (--file-prefix) with it: it would
// otherwise pile up under /var/run/dpdk (root) or $XDG_RUNTIME_DIR.
void CleanupEal() {
  const std::string runtime_dir = rte_eal_get_runtime_dir();
  rte_eal_cleanup();
  std::error_code ec;
  std::filesystem::remove_all(runtime_dir, ec);
}

void InstallSignals() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
}

int Fail(const std::string& msg) {
  std::fprintf(stderr, "dmrswitch-dp: %s\n", msg.c_str());
  return 1;
}

int RunKernelMode(const dmrswitch::cp::HubConfig& config, const std::string& config_path);
int RunDpdkMode(const dmrswitch::cp::HubConfig& config, const std::string& config_path);

}  // namespace

int main(int argc, char** argv) {
  using namespace dmrswitch;
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      config_path = a.substr(9);
    } else if (a == "--print-default-config") {
      std::fwrite(cp::DefaultConfigToml().data(), 1, cp::DefaultConfigToml().size(), stdout);
      return 0;
    } else if (a == "--help" || a == "-h") {
      return Usage(argv[0], 0);
    } else {
      std::fprintf(stderr, "dmrswitch-dp: unknown argument %s\n", a.c_str());
      return Usage(argv[0], 2);
    }
  }

  auto config = config_path.empty()
                    ? cp::ParseConfig(cp::DefaultConfigToml(), "<embedded default config>")
                    : cp::LoadConfigFile(config_path);
  if (!config.ok()) return Fail(std::string(config.status().message()));
  spdlog::set_level(spdlog::level::from_str(config->hub.log_level));
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");

  switch (config->hub.mode) {
    case cp::HubMode::kKernel:
      return RunKernelMode(*config, config_path);
    case cp::HubMode::kDpdk:
      return RunDpdkMode(*config, config_path);
    case cp::HubMode::kAfXdp:
      break;
  }
  return Fail(absl::StrCat("hub.mode = \"", std::string(cp::HubModeName(config->hub.mode)),
                           "\" is not available in this build; use \"kernel\" or \"dpdk\""));
}

namespace {

int RunKernelMode(const dmrswitch::cp::HubConfig& config, const std::string& config_path) {
  using namespace dmrswitch;
  if (config.hub.control_plane == cp::ControlPlaneMode::kSeparate) {
    return Fail(
        "hub.control_plane = \"separate\": kernel mode runs EAL without hugepages (--no-huge), "
        "and a DPDK secondary process (dmrswitch-cp) can attach only to a primary that uses "
        "hugepages; use control_plane = \"hosted\"");
  }

  // EAL: no hugepages, never PCI (the host's own NIC is a PCI device), no shared configuration
  // (several hubs may run side by side), one lcore for the control plane plus one per shard, all
  // free to float over the host's CPUs.
  const uint32_t shards = config.hub.shards;
  const long ncpu = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  std::vector<std::string> eal = {
      "dmrswitch-dp",
      "--no-huge",
      "--no-pci",
      "--no-shconf",
      absl::StrCat("--file-prefix=dmrswitch-dp-", getpid()),
      "-m",
      "128",
      absl::StrCat("--lcores=(0-", shards, ")@(0-", ncpu - 1, ")"),
      "--log-level=lib.eal:error",
      "--no-telemetry",
  };
  std::vector<char*> eal_argv;
  for (std::string& s : eal) eal_argv.push_back(s.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    return Fail(absl::StrCat("EAL initialisation failed: ", rte_strerror(rte_errno)));
  }

  const int cp_wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  const std::string prefix = absl::StrCat("dsw", getpid());
  auto plane = io::KernelMode::Create(config, prefix, cp_wake);
  if (!plane.ok()) {
    CleanupEal();
    return Fail(std::string(plane.status().message()));
  }
  std::vector<ipc::ShardChannel> channels;
  for (uint32_t s = 0; s < shards; ++s) channels.push_back((*plane)->channels().shard(s));
  cp::ControlPlane control(config, config_path, channels, (*plane)->channels().cp_cmd(),
                           (*plane)->channels().pool(), (*plane)->wake_fds());
  if (absl::Status st = control.Start(io::RealtimeNs()); !st.ok()) {
    CleanupEal();
    return Fail(std::string(st.message()));
  }
  if (absl::Status st = (*plane)->Launch(); !st.ok()) {
    CleanupEal();
    return Fail(std::string(st.message()));
  }

  InstallSignals();
  spdlog::info(
      "dmrswitch-dp: kernel mode, {} shard(s), steering {}, control plane hosted; HBP on {}, "
      "{} OpenBridge peer(s); config {}",
      shards,
      shards == 1 ? "none (one shard)"
                  : ((*plane)->bpf_steering() ? "sk_reuseport BPF" : "user space"),
      io::EndpointString({config.hbp.listen.ip, (*plane)->hbp_port()}), config.obp.size(),
      config_path.empty() ? "embedded default" : config_path);

  control.Run(g_stop, g_reload, cp_wake);

  spdlog::info("dmrswitch-dp: stopping");
  control.Shutdown();
  // Let shard 0 send the MSTCLs before the loops stop.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  (*plane)->Stop();
  plane->reset();
  close(cp_wake);
  CleanupEal();
  return 0;
}

// DPDK mode: EAL with the configured arguments (hugepages, the ports), the control plane hosted
// on the main lcore, one shard per worker lcore.
int RunDpdkMode(const dmrswitch::cp::HubConfig& config, const std::string& config_path) {
  using namespace dmrswitch;
  if (config.hub.control_plane == cp::ControlPlaneMode::kSeparate) {
    return Fail(
        "hub.control_plane = \"separate\" (dmrswitch-cp) is not available in this build; "
        "use control_plane = \"hosted\"");
  }
  const uint32_t shards = config.hub.shards;
  std::vector<std::string> eal = {"dmrswitch-dp"};
  bool has_pci_choice = false, has_lcores = false, has_log = false;
  for (const std::string& a : config.dpdk.eal_args) {
    eal.push_back(a);
    has_pci_choice |=
        a == "--no-pci" || a == "-a" || a.rfind("-a", 0) == 0 || a.rfind("--allow", 0) == 0;
    has_lcores |= a == "-l" || a.rfind("-l", 0) == 0 || a.rfind("--lcores", 0) == 0 || a == "-c" ||
                  a.rfind("-c", 0) == 0;
    has_log |= a.rfind("--log-level", 0) == 0;
  }
  // Never probe PCI devices nobody allow-listed: on these boxes the host's own NIC is one.
  if (!has_pci_choice) eal.push_back("--no-pci");
  if (!has_lcores) {
    const long ncpu = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
    eal.push_back(static_cast<long>(shards) < ncpu
                      ? absl::StrCat("-l", "0-", shards)
                      : absl::StrCat("--lcores=(0-", shards, ")@(0-", ncpu - 1, ")"));
  }
  if (!has_log) eal.push_back("--log-level=lib.eal:error");
  std::vector<char*> eal_argv;
  for (std::string& s : eal) eal_argv.push_back(s.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    return Fail(
        absl::StrCat("EAL initialisation failed (dpdk.eal_args): ", rte_strerror(rte_errno)));
  }
  const std::string prefix = absl::StrCat("dsw", getpid());
  auto plane = io::DpdkMode::Create(config, prefix);
  if (!plane.ok()) {
    CleanupEal();
    return Fail(std::string(plane.status().message()));
  }
  std::vector<ipc::ShardChannel> channels;
  for (uint32_t s = 0; s < shards; ++s) channels.push_back((*plane)->channels().shard(s));
  cp::ControlPlane control(config, config_path, channels, (*plane)->channels().cp_cmd(),
                           (*plane)->channels().pool(), std::vector<int>(shards, -1));
  if (absl::Status st = control.Start(io::RealtimeNs()); !st.ok()) {
    plane->reset();
    CleanupEal();
    return Fail(std::string(st.message()));
  }
  if (absl::Status st = (*plane)->Launch(); !st.ok()) {
    plane->reset();
    CleanupEal();
    return Fail(std::string(st.message()));
  }
  InstallSignals();
  for (const std::string& d : (*plane)->port_descriptions()) spdlog::info("{}", d);
  spdlog::info(
      "dmrswitch-dp: dpdk mode, {} shard(s), control plane hosted; hub address {}, HBP port {}, "
      "{} OpenBridge peer(s); config {}",
      shards, cp::FormatIpv4(config.dpdk.address), config.hbp.listen.port, config.obp.size(),
      config_path.empty() ? "embedded default" : config_path);

  control.Run(g_stop, g_reload, -1);

  spdlog::info("dmrswitch-dp: stopping");
  control.Shutdown();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  (*plane)->Stop();
  for (const std::string& line : (*plane)->ShardSummaries()) spdlog::info("{}", line);
  plane->reset();
  CleanupEal();
  return 0;
}

}  // namespace
