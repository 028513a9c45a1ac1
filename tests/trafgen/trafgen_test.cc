// tests/trafgen: dmrswitch-trafgen (tools/trafgen). The runs use EAL's --no-huge (anonymous
// memory, no hugepage reservation), so they never need to skip: net_ring0 with no arguments is
// a loopback port (its RX and TX queues share one ring), and net_memif connects two generator
// processes over an abstract socket (nothing left on the file system).
#include "tools/trafgen/trafgen.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace dmrswitch::trafgen {
namespace {

std::string TempPath(const std::string& name) {
  return "/tmp/dsw-trafgen-test-" + std::to_string(getpid()) + "-" + name;
}

// Frame i of WritePcap: 95 bytes of Ethernet/IPv4/UDP carrying a 53-byte DMRD, stream ID
// 0x1000 + i / 8, sequence number i % 8 (the counting does not look past the EtherType; the
// latency index keys on the DMRD).
std::array<uint8_t, 95> TestFrame(int i) {
  std::array<uint8_t, 95> f{};
  f[0] = 0x02;  // dst 02:00:c6:12:00:01
  f[2] = 0xc6;
  f[3] = 0x12;
  f[5] = 0x01;
  f[6] = 0x02;
  f[11] = static_cast<uint8_t>(i);
  f[12] = 0x08;  // IPv4
  f[14] = 0x45;
  f[23] = 17;
  std::memcpy(&f[42], "DMRD", 4);
  f[46] = static_cast<uint8_t>(i % 8);
  const uint32_t stream = 0x1000 + static_cast<uint32_t>(i / 8);
  f[58] = static_cast<uint8_t>(stream >> 24);
  f[59] = static_cast<uint8_t>(stream >> 16);
  f[60] = static_cast<uint8_t>(stream >> 8);
  f[61] = static_cast<uint8_t>(stream);
  return f;
}

// A pcap of `n` TestFrames.
std::string WritePcap(const std::string& path, int n) {
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  pcap_dumper_t* d = pcap_dump_open(dead, path.c_str());
  EXPECT_NE(d, nullptr);
  for (int i = 0; i < n; ++i) {
    const std::array<uint8_t, 95> f = TestFrame(i);
    pcap_pkthdr h{};
    h.caplen = h.len = sizeof(f);
    h.ts.tv_usec = i;
    pcap_dump(reinterpret_cast<u_char*>(d), &h, f.data());
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
  std::vector<std::string> both = {"x", "--rx-only", "--latency"};
  std::vector<char*> b = {both[0].data(), both[1].data(), both[2].data()};
  const auto refused = ParseArgs(3, b.data());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--latency"), absl::string_view::npos);
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

TEST(TrafgenLatency, ADmrdFrameIsKnownByItsStreamAndSequence) {
  std::array<uint8_t, 95> f = TestFrame(8 * 3 + 5);
  EXPECT_EQ(DmrdKey(f.data(), f.size()), int64_t{0x1003} << 8 | 5);
  // One 802.1Q tag in front: the same key.
  std::vector<uint8_t> tagged(f.begin(), f.begin() + 12);
  for (uint8_t b : {0x81, 0x00, 0x00, 0x07}) tagged.push_back(b);
  tagged.insert(tagged.end(), f.begin() + 12, f.end());
  EXPECT_EQ(DmrdKey(tagged.data(), tagged.size()), int64_t{0x1003} << 8 | 5);
  // IP options move the UDP header: the IHL is read, not assumed.
  std::vector<uint8_t> options(f.begin(), f.begin() + 34);
  options[14] = 0x46;
  for (int i = 0; i < 4; ++i) options.push_back(0x01);  // four NOPs
  options.insert(options.end(), f.begin() + 34, f.end());
  EXPECT_EQ(DmrdKey(options.data(), options.size()), int64_t{0x1003} << 8 | 5);
  EXPECT_EQ(DmrdKey(f.data(), 61), -1);  // cut inside the stream ID
  std::array<uint8_t, 95> other = f;
  std::memcpy(&other[42], "RPTP", 4);
  EXPECT_EQ(DmrdKey(other.data(), other.size()), -1);
  other = f;
  other[23] = 6;  // TCP
  EXPECT_EQ(DmrdKey(other.data(), other.size()), -1);
  other = f;
  other[12] = 0x86;  // IPv6 EtherType
  other[13] = 0xdd;
  EXPECT_EQ(DmrdKey(other.data(), other.size()), -1);
}

TEST(TrafgenLatency, FramesWithOneKeyShareASlotAndOthersHaveNone) {
  std::vector<std::string> frames;
  auto add = [&](const std::array<uint8_t, 95>& f) {
    frames.emplace_back(reinterpret_cast<const char*>(f.data()), f.size());
  };
  add(TestFrame(0));
  add(TestFrame(1));
  add(TestFrame(8));
  add(TestFrame(0));  // the same key again (a sequence number that wrapped)
  std::array<uint8_t, 95> rptp = TestFrame(2);
  std::memcpy(&rptp[42], "RPTP", 4);
  add(rptp);
  const LatencyIndex index(frames);
  EXPECT_EQ(index.slots(), 3u);
  EXPECT_EQ(index.frame_slot(0), index.frame_slot(3));
  EXPECT_NE(index.frame_slot(0), index.frame_slot(1));
  EXPECT_NE(index.frame_slot(1), index.frame_slot(2));
  EXPECT_EQ(index.frame_slot(4), -1);
  const std::array<uint8_t, 95> back = TestFrame(8);
  EXPECT_EQ(index.Find(back.data(), back.size()), index.frame_slot(2));
  const std::array<uint8_t, 95> unknown = TestFrame(9);
  EXPECT_EQ(index.Find(unknown.data(), unknown.size()), -1);
}

TEST(TrafgenLatency, HistogramBucketsAreNarrowAndPercentilesNeverLow) {
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{15}, uint64_t{16}, uint64_t{17},
                     uint64_t{1000}, uint64_t{19999}, uint64_t{20000}, uint64_t{1} << 40}) {
    const size_t b = LatencyHistogram::Bucket(v);
    ASSERT_LT(b, LatencyHistogram::kBuckets);
    EXPECT_GE(LatencyHistogram::UpperBound(b), v) << v;
    EXPECT_LE(LatencyHistogram::UpperBound(b), v + v / 16) << v;  // at most 6.25 % above
    if (b > 0) {
      EXPECT_LT(LatencyHistogram::UpperBound(b - 1), v) << v;
    }
  }
  LatencyHistogram h;
  EXPECT_EQ(h.Percentile(0.99), 0u);
  for (uint64_t v = 1; v <= 1000; ++v) h.Add(v * 100);  // 100 ns .. 100 us
  EXPECT_EQ(h.count(), 1000u);
  EXPECT_EQ(h.max(), 100000u);
  const uint64_t p50 = h.Percentile(0.5), p99 = h.Percentile(0.99);
  EXPECT_GE(p50, 50000u);
  EXPECT_LE(p50, 50000u + 50000u / 16);
  EXPECT_GE(p99, 99000u);
  EXPECT_LE(p99, 100000u);  // never above the largest sample
  EXPECT_EQ(h.Percentile(1.0), 100000u);
}

constexpr char kEal[] = "--no-huge -m 256";

// The generator with `options` on 64 TestFrames into a net_ring loopback port; its output.
std::string RunOnRing(const std::string& tag, const std::string& options, int* rc) {
  const std::string pcap = WritePcap(TempPath(tag + ".pcap"), 64);
  const std::string out = TempPath(tag + ".out");
  const std::string cmd = std::string(TRAFGEN_BIN) + " --pcap " + pcap + " " + options +
                          " --link-timeout-s 2 -- " + kEal +
                          " --vdev=net_ring0 --file-prefix=dsw-" + tag + "-" +
                          std::to_string(getpid()) + " > " + out + " 2>&1";
  *rc = std::system(cmd.c_str());
  const std::string text = Slurp(out);
  std::remove(pcap.c_str());
  std::remove(out.c_str());
  return text;
}

// One second at 200 kpps into a net_ring loopback: the generator receives what it sent. The
// bucket is deep (0.5 s) so that a generator descheduled by a busy machine catches up: the test
// checks the counting, not how smooth the rate is.
TEST(TrafgenRun, RingLoopback) {
  int rc = 0;
  const std::string text = RunOnRing("ring", "--rate-pps 200000 --bucket 100000 --seconds 1", &rc);
  ASSERT_EQ(rc, 0) << text;
  auto kv = ParseLine(text);
  ASSERT_FALSE(kv.empty()) << text;
  EXPECT_NEAR(kv["sent"], 200000 * kv["seconds"], 20000) << text;
  EXPECT_NEAR(kv["seconds"], 1.0, 0.05) << text;
  EXPECT_EQ(kv["tx_failed"], 0) << text;
  EXPECT_EQ(kv["received"], kv["sent"]) << text;
  EXPECT_EQ(kv["rx_other"], 0) << text;
  EXPECT_EQ(kv["frames"], 64) << text;
  EXPECT_EQ(kv.count("lat_samples"), 0u) << "latency fields only with --latency: " << text;
}

// --latency on the loopback: every frame comes back as itself, so every one is a sample.
TEST(TrafgenRun, RingLoopbackTimesEveryFrame) {
  int rc = 0;
  const std::string text =
      RunOnRing("ringlat", "--latency --rate-pps 50000 --bucket 50000 --seconds 0.5", &rc);
  ASSERT_EQ(rc, 0) << text;
  auto kv = ParseLine(text);
  ASSERT_GT(kv["received"], 0) << text;
  EXPECT_EQ(kv["lat_samples"], kv["received"]) << text;
  EXPECT_EQ(kv["lat_sent"], kv["sent"]) << "every test frame is DMRD: " << text;
  EXPECT_EQ(kv["lat_unmatched"], 0) << text;
  EXPECT_GT(kv["lat_p50_ns"], 0) << text;
  EXPECT_LE(kv["lat_p50_ns"], kv["lat_p99_ns"]) << text;
  EXPECT_LE(kv["lat_p99_ns"], kv["lat_p999_ns"]) << text;
  EXPECT_LE(kv["lat_p999_ns"], kv["lat_max_ns"]) << text;
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
