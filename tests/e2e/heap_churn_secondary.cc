// A DPDK secondary process that attaches to a dmrswitch-dp's runtime and allocates and frees
// small blocks from the shared malloc heap as fast as it can: nearly all of its time is spent
// holding the heap's spinlock, with the heap half-changed for much of it. separate_cp_test kills
// it at random instants, as a dmrswitch-cp killed inside rte_malloc would be killed, and checks
// that the dp releases what it left held only when the heap is intact.
//
//   heap_churn_secondary FILE_PREFIX [SECONDS [small|grow]]
//
// Prints "attached" once EAL is up. With SECONDS > 0 it stops after that long, frees what it
// holds, leaves EAL and prints "clean" (exit 0); otherwise it runs until it is killed. "grow"
// allocates blocks of 1-4 MiB, so that the heap has to grow (over IPC with the primary).
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE_PREFIX [SECONDS]\n", argv[0]);
    return 2;
  }
  const double seconds = argc > 2 ? std::atof(argv[2]) : 0;
  const bool grow = argc > 3 && std::string(argv[3]) == "grow";
  const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  std::vector<std::string> eal = {
      "heap_churn_secondary",
      "--proc-type=secondary",
      std::string("--file-prefix=") + argv[1],
      "--no-pci",
      // An lcore ID neither the dp nor a dmrswitch-cp uses.
      "--lcores=(" + std::to_string(RTE_MAX_LCORE - 2) + ")@(0-" + std::to_string(ncpu - 1) + ")",
      "--log-level=lib.eal:error",
      "--no-telemetry",
  };
  std::vector<char*> args;
  for (std::string& s : eal) args.push_back(s.data());
  if (rte_eal_init(static_cast<int>(args.size()), args.data()) < 0) {
    std::fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  std::printf("attached\n");
  std::fflush(stdout);
  // Few blocks: what a killed run leaves allocated stays small (two at most when they are big).
  std::vector<void*> held(grow ? 2 : 8, nullptr);
  std::mt19937 rng(static_cast<unsigned>(getpid()));
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (uint64_t n = 0;; ++n) {
    if (seconds > 0 && (n & 1023) == 0 && std::chrono::steady_clock::now() > end) break;
    void*& slot = held[rng() % held.size()];
    if (slot != nullptr) {
      rte_free(slot);
      slot = nullptr;
    } else {
      slot = rte_malloc(nullptr, grow ? (1u << 20) + rng() % (3u << 20) : 64 + rng() % 4032, 0);
    }
  }
  for (void* p : held) rte_free(p);
  rte_eal_cleanup();
  std::printf("clean\n");
  return 0;
}
