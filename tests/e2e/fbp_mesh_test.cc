// End to end: two dmrswitch-dp instances peered over FBP v5 (PROTOCOL.md §2.2, Part A §5:
// dmrswitch-to-dmrswitch meshes). Hub 1 serves client A, hub 2 client B; each hub's [[obp]]
// targets the other's listener, with distinct server IDs. Once both links are alive (BCKA both
// ways), a call on TG 3100 crosses the link in either direction complete, LC intact.

#include <gtest/gtest.h>

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

constexpr uint32_t kHub1Id = 310991;
constexpr uint32_t kHub2Id = 310992;
constexpr uint32_t kClientA = 3120301;  // on hub 1
constexpr uint32_t kClientB = 3120302;  // on hub 2
constexpr uint32_t kTg = 3100;

class FbpMeshTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hbp_[0] = FreeUdpPort();
    hbp_[1] = FreeUdpPort();
    obp_[0] = FreeUdpPort();
    obp_[1] = FreeUdpPort();
    // Each hub expects the other's server ID in bytes 11..14 (id_mode = "freedmr").
    const std::string hub1 =
        absl::StrCat(HubHeader(kHub1Id, hbp_[0]), HbpStatic(kClientA, "", absl::StrCat(kTg)),
                     ObpSection("to-hub2", obp_[0], obp_[1], kHub2Id, "meshpass", 5));
    const std::string hub2 =
        absl::StrCat(HubHeader(kHub2Id, hbp_[1]), HbpStatic(kClientB, "", absl::StrCat(kTg)),
                     ObpSection("to-hub1", obp_[1], obp_[0], kHub1Id, "meshpass", 5));
    auto h1 = HubProcess::Start(hub1);
    ASSERT_TRUE(h1.ok()) << h1.status();
    hub_[0] = *std::move(h1);
    auto h2 = HubProcess::Start(hub2);
    ASSERT_TRUE(h2.ok()) << h2.status();
    hub_[1] = *std::move(h2);
    a_ = std::make_unique<HbpClient>(ClientOptions(hbp_[0], kClientA));
    b_ = std::make_unique<HbpClient>(ClientOptions(hbp_[1], kClientB));
    ASSERT_TRUE(a_->Login(absl::Seconds(5)).ok()) << a_->status();
    ASSERT_TRUE(b_->Login(absl::Seconds(5)).ok()) << b_->status();
    // Hub 1's first BCKA went to a port nobody listened on yet; the next ones (keepalive_s = 1)
    // reach hub 2. Both sides must call the link alive before anyone talks.
    for (auto& h : hub_) {
      ASSERT_TRUE(PollUntilLog(*h, All(), "peers 1/1 alive", absl::Seconds(5)))
          << "link never came up:\n"
          << h->Log();
    }
  }

  std::vector<sim::Pollable*> All() { return {a_.get(), b_.get()}; }

  // `from` talks on TG 3100 TS2; `to` must receive the complete call.
  void CallAcross(HbpClient* from, HbpClient* to, uint32_t rf_src) {
    const sim::VoiceCallSpec spec = GroupCall(kTg, 2, rf_src, 3);
    const uint32_t stream = from->StartVoiceCall(spec);
    PollThenSettle(
        All(), [&] { return !from->transmitting() && to->counters().dmrd_rx >= FramesOf(spec); },
        absl::Seconds(6));
    const std::vector<ReceivedCall> got = to->TakeReceived();
    ASSERT_EQ(got.size(), 1u) << "hub 1:\n" << hub_[0]->Log() << "hub 2:\n" << hub_[1]->Log();
    EXPECT_EQ(got[0].stream_id, stream);  // the stream ID survives the link
    ExpectedCall want;
    want.tg = kTg;
    want.ts = 2;
    want.rf_src = rf_src;
    want.repeater_id = to->id();
    want.frames = FramesOf(spec);
    // Header, terminator and every superframe's embedded LC decode to TG 3100 / rf_src.
    EXPECT_TRUE(sim::Verify(got[0], want).ok()) << sim::Verify(got[0], want) << "\n"
                                                << got[0].DebugString();
    EXPECT_TRUE(got[0].header_lc_ok);
    EXPECT_TRUE(got[0].terminator_lc_ok);
    EXPECT_EQ(got[0].embedded_lc_ok, spec.superframes);
    // The talker does not hear itself back over the mesh.
    EXPECT_TRUE(from->TakeReceived().empty());
  }

  uint16_t hbp_[2] = {0, 0}, obp_[2] = {0, 0};
  std::unique_ptr<HubProcess> hub_[2];
  std::unique_ptr<HbpClient> a_, b_;
};

TEST_F(FbpMeshTest, CallsCrossTheLinkBothWays) {
  {
    SCOPED_TRACE("A on hub 1 → B on hub 2");
    CallAcross(a_.get(), b_.get(), 3120301);
  }
  a_->RunFor(absl::Milliseconds(500));  // past the collision window
  {
    SCOPED_TRACE("B on hub 2 → A on hub 1");
    CallAcross(b_.get(), a_.get(), 3120302);
  }
}

}  // namespace
}  // namespace dmrswitch::e2e
