// End to end: the wall clock steps by ±1 h and +90 days while calls are live (DESIGN.md §3,
// dataplane/io/clock.h). Two hubs in an FBP mesh run with an LD_PRELOAD shim
// (wallclock_shift.c) that shifts CLOCK_REALTIME by what a shared file says, so the test steps
// both hubs' wall clocks at once — two NTP-synchronised hubs whose clocks step together — in the
// middle of a call from client A (hub 1) to C (hub 1, local) and B (hub 2, over FBP).
//
// Nothing may notice but the DMRE timestamps: no frame lost, no stream cut, no client logged out
// (keepalive timeout 3 s: a timer on the wall clock would drop everyone at the first forward
// step), the FBP link stays up and its frames are accepted.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/e2e/e2e_sim_util.h"
#include "tests/e2e/hub_process.h"

namespace dmrswitch::e2e {
namespace {

using sim::ExpectedCall;
using sim::HbpClient;
using sim::ReceivedCall;

constexpr uint32_t kHub1Id = 310981;
constexpr uint32_t kHub2Id = 310982;
constexpr uint32_t kClientA = 3120401;  // hub 1, talks
constexpr uint32_t kClientC = 3120403;  // hub 1, listens locally
constexpr uint32_t kClientB = 3120402;  // hub 2, listens over FBP
constexpr uint32_t kTg = 3100;
constexpr int64_t kHourNs = int64_t{3600} * 1'000'000'000;
constexpr int64_t kNinetyDaysNs = 90 * 24 * kHourNs;

// The shared file the shim reads: one int64 of nanoseconds, mapped here read-write.
class WallOffset {
 public:
  WallOffset() {
    char tmpl[] = "/tmp/dmrswitch-wall-offset-XXXXXX";
    const int fd = mkstemp(tmpl);
    path_ = tmpl;
    if (fd < 0) return;
    if (ftruncate(fd, sizeof(int64_t)) == 0) {
      void* m = mmap(nullptr, sizeof(int64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (m != MAP_FAILED) offset_ = static_cast<volatile int64_t*>(m);
    }
    close(fd);
  }
  ~WallOffset() {
    if (offset_ != nullptr) munmap(const_cast<int64_t*>(offset_), sizeof(int64_t));
    unlink(path_.c_str());
  }
  bool ok() const { return offset_ != nullptr; }
  void Set(int64_t ns) { *offset_ = ns; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  volatile int64_t* offset_ = nullptr;
};

class WallClockStepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(offset_.ok()) << "cannot create the offset file " << offset_.path();
    for (int i = 0; i < 2; ++i) {
      hbp_[i] = FreeUdpPort();
      obp_[i] = FreeUdpPort();
    }
    // Keepalive timeout 1 s x 3: a liveness timer on the wall clock would drop every client at
    // the first forward step.
    const std::string fast_liveness = "ping_time_s = 1\nmax_missed = 3\n";
    const std::string hub1 =
        absl::StrCat(HubHeader(kHub1Id, hbp_[0], "", fast_liveness), HbpStatic(kClientA, "", ""),
                     HbpStatic(kClientC, "", absl::StrCat(kTg)),
                     ObpSection("to-hub2", obp_[0], obp_[1], kHub2Id, "wallpass", 5));
    const std::string hub2 = absl::StrCat(
        HubHeader(kHub2Id, hbp_[1], "", fast_liveness), HbpStatic(kClientB, "", absl::StrCat(kTg)),
        ObpSection("to-hub1", obp_[1], obp_[0], kHub1Id, "wallpass", 5));
    for (int i = 0; i < 2; ++i) {
      HubProcess::Options o;
      o.toml = i == 0 ? hub1 : hub2;
      o.wrapper = Wrapper();
      auto h = HubProcess::Start(o);
      ASSERT_TRUE(h.ok()) << h.status();
      hub_[i] = *std::move(h);
    }
    a_ = std::make_unique<HbpClient>(ClientOptions(hbp_[0], kClientA));
    c_ = std::make_unique<HbpClient>(ClientOptions(hbp_[0], kClientC));
    b_ = std::make_unique<HbpClient>(ClientOptions(hbp_[1], kClientB));
    for (HbpClient* cl : {a_.get(), b_.get(), c_.get()}) {
      ASSERT_TRUE(cl->Login(absl::Seconds(5)).ok()) << cl->status();
    }
    for (auto& h : hub_) {
      ASSERT_TRUE(PollUntilLog(*h, All(), "peers 1/1 alive", absl::Seconds(5))) << h->Log();
    }
  }

  // env LD_PRELOAD=shim DMRSWITCH_WALL_OFFSET_FILE=file [ASAN_OPTIONS=...] dmrswitch-dp ...
  std::vector<std::string> Wrapper() const {
    std::vector<std::string> w = {"env", absl::StrCat("LD_PRELOAD=", DMRSWITCH_WALLCLOCK_SHIFT),
                                  absl::StrCat("DMRSWITCH_WALL_OFFSET_FILE=", offset_.path())};
    // Under AddressSanitizer the shim comes before the ASan runtime in the library list.
    const char* asan = std::getenv("ASAN_OPTIONS");
    w.push_back(absl::StrCat("ASAN_OPTIONS=", asan != nullptr ? asan : "",
                             asan != nullptr && *asan != '\0' ? ":" : "",
                             "verify_asan_link_order=0"));
    return w;
  }

  std::vector<sim::Pollable*> All() { return {a_.get(), b_.get(), c_.get()}; }

  // A talks for `superframes` superframes; `steps` (at 1 s, 2 s, ...) set the offset mid-call.
  void CallThroughSteps(const std::vector<int64_t>& offsets, unsigned superframes) {
    const sim::VoiceCallSpec spec = GroupCall(kTg, 2, 3120499, superframes);
    const uint32_t stream = a_->StartVoiceCall(spec);
    const absl::Time start = absl::Now();
    for (size_t i = 0; i < offsets.size(); ++i) {
      sim::PollFor(All(), start + absl::Seconds(static_cast<double>(i + 1)) - absl::Now());
      offset_.Set(offsets[i]);
    }
    PollThenSettle(
        All(),
        [&] {
          return !a_->transmitting() && b_->counters().dmrd_rx >= FramesOf(spec) &&
                 c_->counters().dmrd_rx >= FramesOf(spec);
        },
        absl::Seconds(15));
    ExpectedCall want;
    want.tg = kTg;
    want.ts = 2;
    want.rf_src = 3120499;
    want.frames = FramesOf(spec);
    for (HbpClient* to : {b_.get(), c_.get()}) {
      const std::vector<ReceivedCall> got = to->TakeReceived();
      ASSERT_EQ(got.size(), 1u) << "client " << to->id() << " got the call in " << got.size()
                                << " pieces\nhub 1:\n"
                                << hub_[0]->Log() << "hub 2:\n"
                                << hub_[1]->Log();
      EXPECT_EQ(got[0].stream_id, stream);
      want.repeater_id = to->id();
      EXPECT_TRUE(sim::Verify(got[0], want).ok())
          << "client " << to->id() << ": " << sim::Verify(got[0], want) << "\n"
          << got[0].DebugString();
    }
  }

  WallOffset offset_;
  uint16_t hbp_[2] = {0, 0}, obp_[2] = {0, 0};
  std::unique_ptr<HubProcess> hub_[2];
  std::unique_ptr<HbpClient> a_, b_, c_;
};

TEST_F(WallClockStepTest, StepsOfAnHourAndNinetyDaysDuringCallsCutNothing) {
  // +1 h, back (-1 h), +90 days, back (-90 days), -1 h, while one 8.5 s call runs.
  CallThroughSteps({kHourNs, 0, kNinetyDaysNs, 0, -kHourNs}, 23);
  // A second call entirely in the stepped time (+90 days): DMRE stamped and checked there.
  offset_.Set(kNinetyDaysNs);
  sim::PollFor(All(), absl::Milliseconds(500));
  CallThroughSteps({}, 3);

  for (HbpClient* cl : {a_.get(), b_.get(), c_.get()}) {
    EXPECT_EQ(cl->counters().mstcl, 0u) << "client " << cl->id() << " was logged out";
    EXPECT_EQ(cl->counters().logins, 1u) << "client " << cl->id() << " logged in again";
    EXPECT_TRUE(cl->running());
  }
  for (auto& h : hub_) {
    const std::string log = h->Log();
    EXPECT_EQ(log.find("logged out"), std::string::npos) << log;
    EXPECT_EQ(log.find("lost"), std::string::npos) << log;
    EXPECT_NE(log.rfind("peers 1/1 alive"), std::string::npos);
    EXPECT_EQ(log.find("peers 0/1 alive", log.find("peers 1/1 alive")), std::string::npos)
        << "the FBP link went down:\n"
        << log;
  }
}

}  // namespace
}  // namespace dmrswitch::e2e
