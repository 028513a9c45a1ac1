// The test bed for the end-to-end tests over a real link (issue #4 item 3, issue 9, DESIGN.md
// §9): hugepages, and a veth pair whose hub end (dswh<pid>) lives in a network namespace of the
// hub's (dsw-e2eh-<pid>; the dp runs there, HubWrapper()) while the client end (dswc<pid>) lives
// in one of its own (dsw-e2e-<pid>) holding the simulated clients' addresses (198.18.0.0/15).
// DPDK mode takes the hub end with net_af_packet and answers ARP itself; kernel mode (with the
// XDP shield) and afxdp mode need the hub's address on the hub end in the kernel
// (SetHubAddress). The test process runs in a private mount namespace (Create makes it), so the
// bpffs the shield mounts and its pins go away with it. Everything is undone by the destructor,
// by a guardian process if the test process dies first (crash, SIGKILL, timeout), and by the next
// run's start-up sweep for whatever a dead test process left behind (the names carry its pid).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace dmrswitch::e2e {

// Runs `argv` (no shell; argv[0] looked up in PATH) and waits. OK on exit code 0; otherwise an
// error naming the command, its exit code and its stderr. `out` receives stdout.
absl::Status RunCommand(const std::vector<std::string>& argv, std::string* out = nullptr);

class DpdkTestEnv {
 public:
  static constexpr char kHubAddress[] = "198.18.0.1";
  static constexpr int kClientAddresses = 20;  // 198.18.0.2 .. 198.18.0.21 on dswc<pid>
  // IPv6 (2001:2::/48, the benchmarking range; all on-link): the hub and its clients'
  // 2001:2::(2+i), configured on the client end while SetClientIpv6(true).
  static constexpr char kHubAddress6[] = "2001:2::1";
  static constexpr int kClientAddresses6 = 12;

  // Enters a private mount namespace (call before any thread starts), sweeps leftovers of dead
  // test processes, then sets everything up. An Unavailable error means the machine cannot host
  // the test bed (no veth/netns support, no hugepages). Either is a failure.
  static absl::StatusOr<std::unique_ptr<DpdkTestEnv>> Create();
  // Removes the leftovers (namespaces, veth ends, DPDK runtime directories) of test processes
  // that no longer run.
  static void SweepLeftovers();

  ~DpdkTestEnv();
  DpdkTestEnv(const DpdkTestEnv&) = delete;
  DpdkTestEnv& operator=(const DpdkTestEnv&) = delete;

  const std::string& netns() const { return netns_; }
  const std::string& hub_netns() const { return hub_netns_; }
  const std::string& hub_if() const { return hub_if_; }
  const std::string& client_if() const { return client_if_; }
  // 198.18.0.(2 + i), configured on the client end.
  static std::string ClientAddress(int i);
  // 2001:2::(2 + i) (hexadecimal), configured on the client end while IPv6 is on there.
  static std::string ClientAddress6(int i);
  // Turns IPv6 on at the client end with the ClientAddress6 addresses (no DAD, no router
  // solicitations or autoconfiguration), or off again (the default: the other tests see no
  // IPv6 chatter). The hub end keeps IPv6 off: in dpdk mode the dp, not the kernel, owns it.
  absl::Status SetClientIpv6(bool on);
  // Puts kHubAddress6/48 on the hub end in the kernel (kernel mode over IPv6), or turns IPv6
  // off there again.
  absl::Status SetHubIpv6(bool on);
  // The [dpdk] eal_args for a dp with `shards` shards on the hub end (TOML array text).
  // `shared`: memory in hugepage files (no --in-memory), for a separate control plane. `port`:
  // the net_af_packet vdev on the hub end (dpdk mode); afxdp mode's dp makes its port itself.
  std::string EalArgsToml(uint32_t shards, bool shared = false, bool port = true) const;
  // What runs a dmrswitch binary in the hub's network namespace (HubProcess::Options::wrapper):
  // nsenter --net, so it shares the test's mount namespace (the shield's bpffs and pins, the
  // hugepage files) with every other hub process of the test.
  std::vector<std::string> HubWrapper() const;
  // Puts kHubAddress/15 on the hub end in the kernel (kernel and afxdp mode: the kernel answers
  // ARP and ICMP), or takes it off (dpdk mode: the dp does).
  absl::Status SetHubAddress(bool on);
  // The hub end's MAC.
  std::string HubMac() const;

  // Runs `fn` on a thread that has entered the clients' namespace and returns its result.
  // Sockets keep the namespace they were created in: build the simulator's clients and peers here
  // and use them from any thread afterwards.
  template <typename F>
  auto InNamespace(F&& fn) -> std::invoke_result_t<F> {
    return InNamespaceNamed(netns_, std::forward<F>(fn));
  }
  // The same in the hub's namespace (a TCP service beside the hub, the shield's interface).
  template <typename F>
  auto InHubNamespace(F&& fn) -> std::invoke_result_t<F> {
    return InNamespaceNamed(hub_netns_, std::forward<F>(fn));
  }

  // Sends `count` ICMP echo requests from inside the namespace to `address`, one every 200 ms,
  // and waits up to `timeout` after the last for the replies; returns how many came back.
  absl::StatusOr<int> Ping(const std::string& address, int count, absl::Duration timeout);
  // The same with ICMPv6 echo to an IPv6 address.
  absl::StatusOr<int> Ping6(const std::string& address, int count, absl::Duration timeout);

 private:
  DpdkTestEnv() = default;
  absl::Status SetUpHugepages();
  absl::Status SetUpNetwork();
  void StartGuardian();
  void TearDown();
  static absl::Status EnterNamespace(const std::string& name);
  static void CheckEntered(const absl::Status& entered);
  template <typename F>
  static auto InNamespaceNamed(const std::string& name, F&& fn) -> std::invoke_result_t<F> {
    using R = std::invoke_result_t<F>;
    absl::Status entered;
    if constexpr (std::is_void_v<R>) {
      std::thread t([&] {
        entered = EnterNamespace(name);
        if (entered.ok()) fn();
      });
      t.join();
      CheckEntered(entered);
    } else {
      std::optional<R> result;
      std::thread t([&] {
        entered = EnterNamespace(name);
        if (entered.ok()) result.emplace(fn());
      });
      t.join();
      CheckEntered(entered);
      return *std::move(result);
    }
  }

  std::string netns_;
  std::string hub_netns_;
  std::string hub_if_;
  std::string client_if_;
  long previous_hugepages_ = -1;  // restored if we changed nr_hugepages
  long set_hugepages_ = -1;
  bool mounted_hugetlbfs_ = false;
  int guardian_fd_ = -1;  // write end of the guardian's pipe
  pid_t guardian_pid_ = -1;
};

}  // namespace dmrswitch::e2e
