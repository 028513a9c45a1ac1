// The test bed for the DPDK-mode end-to-end tests (issue #4 item 3, DESIGN.md §9): hugepages,
// and a veth pair whose hub end (dswh<pid>) stays in the root namespace for the dp's
// net_af_packet port while the client end (dswc<pid>) lives in a network namespace of its own
// (dsw-e2e-<pid>) holding the simulated clients' addresses (198.18.0.0/15). Everything is undone
// by the destructor, by a guardian process if the test process dies first (crash, SIGKILL,
// timeout), and by the next run's start-up sweep for whatever a dead test process left behind
// (the names carry its pid).
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
  static constexpr int kClientAddresses = 16;  // 198.18.0.2 .. 198.18.0.17 on dswc<pid>

  // Sweeps leftovers of dead test processes, then sets everything up. An Unavailable error means
  // the machine cannot host the test bed (no veth/netns support, no hugepages): skip, and say
  // why. Any other error is a failure.
  static absl::StatusOr<std::unique_ptr<DpdkTestEnv>> Create();
  // Removes the leftovers (namespaces, veth ends, DPDK runtime directories) of test processes
  // that no longer run.
  static void SweepLeftovers();

  ~DpdkTestEnv();
  DpdkTestEnv(const DpdkTestEnv&) = delete;
  DpdkTestEnv& operator=(const DpdkTestEnv&) = delete;

  const std::string& netns() const { return netns_; }
  const std::string& hub_if() const { return hub_if_; }
  const std::string& client_if() const { return client_if_; }
  // 198.18.0.(2 + i), configured on the client end.
  static std::string ClientAddress(int i);
  // The [dpdk] eal_args for a dp with `shards` shards on the hub end (TOML array text).
  // `shared`: memory in hugepage files (no --in-memory), for a separate control plane.
  std::string EalArgsToml(uint32_t shards, bool shared = false) const;

  // Runs `fn` on a thread that has entered the namespace and returns its result. Sockets keep
  // the namespace they were created in: build the simulator's clients and peers here and use
  // them from any thread afterwards.
  template <typename F>
  auto InNamespace(F&& fn) -> std::invoke_result_t<F> {
    using R = std::invoke_result_t<F>;
    absl::Status entered;
    if constexpr (std::is_void_v<R>) {
      std::thread t([&] {
        entered = EnterNamespace();
        if (entered.ok()) fn();
      });
      t.join();
      CheckEntered(entered);
    } else {
      std::optional<R> result;
      std::thread t([&] {
        entered = EnterNamespace();
        if (entered.ok()) result.emplace(fn());
      });
      t.join();
      CheckEntered(entered);
      return *std::move(result);
    }
  }

  // Sends `count` ICMP echo requests from inside the namespace to `address`, one every 200 ms,
  // and waits up to `timeout` after the last for the replies; returns how many came back.
  absl::StatusOr<int> Ping(const std::string& address, int count, absl::Duration timeout);

 private:
  DpdkTestEnv() = default;
  absl::Status SetUpHugepages();
  absl::Status SetUpNetwork();
  void StartGuardian();
  void TearDown();
  absl::Status EnterNamespace() const;
  static void CheckEntered(const absl::Status& entered);

  std::string netns_;
  std::string hub_if_;
  std::string client_if_;
  long previous_hugepages_ = -1;  // restored if we changed nr_hugepages
  long set_hugepages_ = -1;
  bool mounted_hugetlbfs_ = false;
  int guardian_fd_ = -1;  // write end of the guardian's pipe
  pid_t guardian_pid_ = -1;
};

}  // namespace dmrswitch::e2e
