// EAL for the I/O layer's tests: no root, no hugepages, no NIC, no files under /var/run.
// --no-huge with --no-shconf is what --in-memory means without hugepages (EAL refuses
// --in-memory together with --no-huge's legacy memory mode). Rings, mempools and ring PMD ports
// work as in a real dp.
#pragma once

#include <gtest/gtest.h>
#include <rte_eal.h>

#include <string>
#include <vector>

namespace dmrswitch::io::testing {

class EalEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    std::vector<std::string> args = {
        "io_test", "--no-huge",      "--no-pci", "--no-shconf", "-m",
        "256",     "--no-telemetry", "-l",       "0",           "--log-level=lib.eal:error"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    ASSERT_GE(rte_eal_init(static_cast<int>(argv.size()), argv.data()), 0)
        << "EAL without hugepages must start anywhere";
  }
  void TearDown() override { rte_eal_cleanup(); }
};

// Registers the environment once per test program (include from one .cc only).
inline ::testing::Environment* const kEalEnvironment =
    ::testing::AddGlobalTestEnvironment(new EalEnvironment);

}  // namespace dmrswitch::io::testing
