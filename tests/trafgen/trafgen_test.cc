// tests/trafgen: dmrswitch-trafgen (tools/trafgen). The runs use EAL's --no-huge (anonymous
// memory, no hugepage reservation), so they never need to skip: net_ring0 with no arguments is
// a loopback port (its RX and TX queues share one ring), and net_memif connects two generator
// processes over an abstract socket (nothing left on the file system).
#include "tools/trafgen/trafgen.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace dmrswitch::trafgen {
namespace {

std::string TempPath(const std::string& name) {
  return "/tmp/dsw-trafgen-test-" + std::to_string(getpid()) + "-" + name;
}

// A pcap of `n` 95-byte UDP/IPv4 frames (contents do not matter to the generator).
std::string WritePcap(const std::string& path, int n) {
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  pcap_dumper_t* d = pcap_dump_open(dead, path.c_str());
  EXPECT_NE(d, nullptr);
  for (int i = 0; i < n; ++i) {
    uint8_t f[95] = {};
    f[0] = 0x02;  // dst 02:00:c6:12:00:01
    f[2] = 0xc6;
    f[3] = 0x12;
    f[5] = 0x01;
    f[6] = 0x02;
    f[11] = static_cast<uint8_t>(i);
    f[12] = 0x08;  // IPv4
    f[14] = 0x45;
    f[23] = 17;
    pcap_pkthdr h{};
    h.caplen = h.len = sizeof(f);
    h.ts.tv_usec = i;
    pcap_dump(reinterpret_cast<u_char*>(d), &h, f);
  }
  pcap_dump_close(d);
  pcap_close(dead);
  return path;
}

std::map<std::string, double> ParseLine(const std::string& out) {
  std::map<std::string, double> kv;
  const std::string key = "\ntrafgen: ";
  const size_t at = ("\n" + out).find(key);
  if (at == std::string::npos) return kv;
  std::istringstream in(out.substr(at + 8, out.find('\n', at + 8) - at - 8));
  std::string tok;
  while (in >> tok) {
    const size_t eq = tok.find('=');
    if (eq != std::string::npos) kv[tok.substr(0, eq)] = std::stod(tok.substr(eq + 1));
  }
  return kv;
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(TrafgenArgs, DefaultsEalAndErrors) {
  std::vector<std::string> a = {"x",         "--pcap", "f.pcap", "--rate-pps",       "1000",
                                "--seconds", "2.5",    "--",     "--vdev=net_ring0", "-l",
                                "1"};
  std::vector<char*> argv;
  for (auto& s : a) argv.push_back(s.data());
  auto o = ParseArgs(static_cast<int>(argv.size()), argv.data());
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->pcap, "f.pcap");
  EXPECT_EQ(o->rate_pps, 1000);
  EXPECT_EQ(o->seconds, 2.5);
  EXPECT_EQ(o->burst, 32);
  EXPECT_EQ(o->eal, (std::vector<std::string>{"--vdev=net_ring0", "-l", "1"}));
  // -l given: no -l0; the rest of the defaults are added.
  EXPECT_EQ(CompleteEalArgs(o->eal, 7),
            (std::vector<std::string>{"dmrswitch-trafgen", "--vdev=net_ring0", "-l", "1",
                                      "--no-pci", "--file-prefix=dsw-trafgen-7", "--in-memory",
                                      "--log-level=lib.eal:error", "--no-telemetry"}));
  EXPECT_EQ(CompleteEalArgs({"-a", "0000:00:01.0", "--file-prefix=p", "--log-level=7"}, 7),
            (std::vector<std::string>{"dmrswitch-trafgen", "-a", "0000:00:01.0", "--file-prefix=p",
                                      "--log-level=7", "-l0", "--in-memory", "--no-telemetry"}));

  for (std::vector<std::string> bad : {std::vector<std::string>{"x"},
                                       {"x", "--pcap", "f", "--rate-pps", "-1"},
                                       {"x", "--pcap", "f", "--burst", "1000"},
                                       {"x", "--pcap", "f", "--seconds"},
                                       {"x", "--bogus", "1"}}) {
    std::vector<char*> v;
    for (auto& s : bad) v.push_back(s.data());
    EXPECT_FALSE(ParseArgs(static_cast<int>(v.size()), v.data()).ok()) << bad.back();
  }
  std::vector<std::string> rx = {"x", "--rx-only"};
  std::vector<char*> v = {rx[0].data(), rx[1].data()};
  EXPECT_TRUE(ParseArgs(2, v.data()).ok());
}

TEST(TrafgenTokenBucket, RateAndDepth) {
  // 1000 tokens/s at 1 MHz: one token per 1000 cycles.
  TokenBucket b(1000, 1'000'000, 64, 0);
  uint64_t got = 0;
  for (uint64_t t = 0; t <= 1'000'000; t += 100) got += b.Take(t, 32);
  EXPECT_NEAR(static_cast<double>(got), 1000, 1);
  // After a long pause the bucket holds its depth, not the backlog.
  EXPECT_EQ(b.Take(100'000'000, 1000), 64u);
  EXPECT_EQ(b.Take(100'000'000, 1000), 0u);
  // Rate 0: unlimited.
  TokenBucket u(0, 1'000'000, 64, 0);
  EXPECT_EQ(u.Take(0, 500), 500u);
}

TEST(TrafgenPcap, LoadsFramesAndRefusesBadFiles) {
  const std::string path = WritePcap(TempPath("load.pcap"), 5);
  auto frames = LoadPcapFrames(path);
  ASSERT_TRUE(frames.ok()) << frames.status();
  ASSERT_EQ(frames->size(), 5u);
  EXPECT_EQ((*frames)[3].size(), 95u);
  EXPECT_EQ(static_cast<uint8_t>((*frames)[3][11]), 3);
  EXPECT_TRUE(IsIpv4Frame(reinterpret_cast<const uint8_t*>((*frames)[0].data()), 95));
  EXPECT_FALSE(LoadPcapFrames(path, 64).ok());  // longer than max_len
  const std::string empty = WritePcap(TempPath("empty.pcap"), 0);
  EXPECT_FALSE(LoadPcapFrames(empty).ok());
  EXPECT_FALSE(LoadPcapFrames(TempPath("missing.pcap")).ok());
  std::remove(path.c_str());
  std::remove(empty.c_str());
}

TEST(TrafgenResult, Line) {
  Result r;
  r.frames = 4;
  r.requested_pps = 100;
  r.seconds = 2;
  r.sent = 190;
  r.tx_failed = 10;
  r.received = 380;
  EXPECT_EQ(FormatResult(r),
            "trafgen: frames=4 requested_pps=100 offered_pps=100 sent=190 tx_failed=10 "
            "received=380 rx_other=0 rx_missed=0 rx_pps=190 seconds=2.000 busy=0.000");
}

constexpr char kEal[] = "--no-huge -m 256";

// One second at 200 kpps into a net_ring loopback: the generator receives what it sent. The
// bucket is deep (0.5 s) so that a generator descheduled by a busy machine catches up: the test
// checks the counting, not how smooth the rate is.
TEST(TrafgenRun, RingLoopback) {
  const std::string pcap = WritePcap(TempPath("ring.pcap"), 64);
  const std::string out = TempPath("ring.out");
  const std::string cmd = std::string(TRAFGEN_BIN) + " --pcap " + pcap +
                          " --rate-pps 200000 --bucket 100000 --seconds 1 --link-timeout-s 2 -- " +
                          kEal + " --vdev=net_ring0 --file-prefix=dsw-trafgen-ring-" +
                          std::to_string(getpid()) + " > " + out + " 2>&1";
  const int rc = std::system(cmd.c_str());
  const std::string text = Slurp(out);
  std::remove(pcap.c_str());
  std::remove(out.c_str());
  ASSERT_EQ(rc, 0) << text;
  auto kv = ParseLine(text);
  ASSERT_FALSE(kv.empty()) << text;
  EXPECT_NEAR(kv["sent"], 200000 * kv["seconds"], 20000) << text;
  EXPECT_NEAR(kv["seconds"], 1.0, 0.05) << text;
  EXPECT_EQ(kv["tx_failed"], 0) << text;
  EXPECT_EQ(kv["received"], kv["sent"]) << text;
  EXPECT_EQ(kv["rx_other"], 0) << text;
  EXPECT_EQ(kv["frames"], 64) << text;
}

// Two generators over net_memif: the client sends for one second at 200 kpps, the server
// (receive only, on CPU 1 where there is one) counts every frame the client's port took. When
// both share a CPU the ring fills while the server is descheduled: tx_failed counts those.
TEST(TrafgenRun, MemifBetweenTwoProcesses) {
  const std::string pcap = WritePcap(TempPath("memif.pcap"), 64);
  const std::string sock = "dsw-trafgen-test-" + std::to_string(getpid());  // abstract socket
  const std::string out_s = TempPath("server.out"), out_c = TempPath("client.out");
  const std::string bin = TRAFGEN_BIN;
  const std::string server_cpu = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? " -l1" : " -l0";
  const std::string cmd = bin + " --rx-only --seconds 2.5 --link-timeout-s 5 -- " + kEal +
                          server_cpu + " --file-prefix=dsw-trafgen-s-" + std::to_string(getpid()) +
                          " --vdev=net_memif0,role=server,socket=" + sock + " > " + out_s +
                          " 2>&1 & sleep 0.3; " + bin + " --pcap " + pcap +
                          " --rate-pps 200000 --bucket 100000 --seconds 1 --link-timeout-s 5 -- " +
                          kEal + " --file-prefix=dsw-trafgen-c-" + std::to_string(getpid()) +
                          " --vdev=net_memif0,role=client,socket=" + sock + " > " + out_c +
                          " 2>&1; c=$?; wait $!; s=$?; exit $((c | s))";
  const int rc = std::system(cmd.c_str());
  const std::string server = Slurp(out_s), client = Slurp(out_c);
  std::remove(pcap.c_str());
  std::remove(out_s.c_str());
  std::remove(out_c.c_str());
  ASSERT_EQ(rc, 0) << "server:\n" << server << "client:\n" << client;
  auto s = ParseLine(server), c = ParseLine(client);
  ASSERT_FALSE(s.empty()) << server;
  ASSERT_FALSE(c.empty()) << client;
  EXPECT_NEAR(c["sent"] + c["tx_failed"], 200000 * c["seconds"], 20000) << client;
  EXPECT_GT(c["sent"], 0) << client;
  EXPECT_EQ(s["received"], c["sent"]) << server << client;
  EXPECT_EQ(s["sent"], 0) << server;
}

}  // namespace
}  // namespace dmrswitch::trafgen
