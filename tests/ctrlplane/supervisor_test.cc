// Supervisor: a failing component is restarted after an exponential backoff; its siblings run on.

#include "ctrlplane/supervisor.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace dmrswitch::cp {
namespace {

using route::kSec;

TEST(Supervisor, FailedComponentRestartsAfterBackoffWhileSiblingsRun) {
  Supervisor sup(Supervisor::Backoff{1 * kSec, 8 * kSec, 60 * kSec});
  int restarts_a = 0;
  const size_t a = sup.Add("a", [&](route::TimeNs) {
    ++restarts_a;
    return absl::OkStatus();
  });
  const size_t b = sup.Add("b", [](route::TimeNs) { return absl::OkStatus(); });
  int steps_b = 0;
  EXPECT_FALSE(sup.Run(a, 0, [] { throw std::runtime_error("boom"); }));
  EXPECT_TRUE(sup.failed(a));
  for (route::TimeNs t = 0; t < kSec; t += kSec / 10) {
    EXPECT_FALSE(sup.Run(a, t, [] {})) << "waits out its backoff";
    EXPECT_TRUE(sup.Run(b, t, [&] { ++steps_b; }));
  }
  EXPECT_EQ(steps_b, 10);
  EXPECT_EQ(restarts_a, 0);
  EXPECT_TRUE(sup.Run(a, kSec, [] {}));
  EXPECT_EQ(restarts_a, 1);
  EXPECT_FALSE(sup.failed(a));
  EXPECT_EQ(sup.restarts(a), 1u);
}

TEST(Supervisor, BackoffDoublesUpToTheCapAndResetsAfterHealthyTime) {
  Supervisor sup(Supervisor::Backoff{1 * kSec, 4 * kSec, 10 * kSec});
  const size_t a = sup.Add("a", [](route::TimeNs) { return absl::OkStatus(); });
  auto fail = [] { throw std::runtime_error("boom"); };
  route::TimeNs t = 0;
  // Fails at start and right after every restart: waits 1, 2, 4, 4 s.
  EXPECT_FALSE(sup.Run(a, t, fail));
  for (route::TimeNs wait : {1 * kSec, 2 * kSec, 4 * kSec, 4 * kSec}) {
    EXPECT_FALSE(sup.Run(a, t + wait - 1, [] {})) << "still waiting " << wait;
    t += wait;
    EXPECT_FALSE(sup.Run(a, t, fail)) << "restarted, then failed again";
  }
  // Restart, then healthy for 10 s: the backoff is forgotten, the next failure waits 1 s.
  t += 4 * kSec;
  EXPECT_TRUE(sup.Run(a, t, [] {}));
  t += 10 * kSec;
  EXPECT_TRUE(sup.Run(a, t, [] {}));
  EXPECT_FALSE(sup.Run(a, t, fail));
  EXPECT_TRUE(sup.Run(a, t + 1 * kSec, [] {}));
}

TEST(Supervisor, RestartThatThrowsKeepsTheComponentDown) {
  Supervisor sup(Supervisor::Backoff{1 * kSec, 8 * kSec, 60 * kSec});
  bool restart_ok = false;
  const size_t a = sup.Add("a", [&](route::TimeNs) {
    if (!restart_ok) throw std::runtime_error("cannot rebuild yet");
    return absl::OkStatus();
  });
  EXPECT_FALSE(sup.Run(a, 0, [] { throw std::runtime_error("boom"); }));
  EXPECT_FALSE(sup.Run(a, kSec, [] {}));  // restart fails: backoff 2 s
  EXPECT_TRUE(sup.failed(a));
  restart_ok = true;
  EXPECT_FALSE(sup.Run(a, 2 * kSec, [] {}));
  EXPECT_TRUE(sup.Run(a, 3 * kSec, [] {}));
}

TEST(Supervisor, InjectedFaultFailsTheNextStepOnly) {
  Supervisor sup(Supervisor::Backoff{1 * kSec, 8 * kSec, 60 * kSec});
  int ran = 0;
  const size_t a = sup.Add("a", [](route::TimeNs) { return absl::OkStatus(); });
  sup.InjectFault(a);
  EXPECT_FALSE(sup.Run(a, 0, [&] { ++ran; }));
  EXPECT_EQ(ran, 0);
  EXPECT_TRUE(sup.Run(a, kSec, [&] { ++ran; }));
  EXPECT_EQ(ran, 1);
}

}  // namespace
}  // namespace dmrswitch::cp

namespace dmrswitch::cp {
namespace {

TEST(Supervisor, AFailedStatusFailsTheComponentLikeAnException) {
  Supervisor sup(Supervisor::Backoff{1 * kSec, 8 * kSec, 60 * kSec});
  int restarts = 0;
  const size_t a = sup.Add("a", [&](route::TimeNs) {
    ++restarts;
    return restarts == 1 ? absl::UnavailableError("still broken") : absl::OkStatus();
  });
  EXPECT_TRUE(sup.Run(a, 0, [] { return absl::OkStatus(); }));
  EXPECT_FALSE(sup.Run(a, 0, [] { return absl::InternalError("lost its state"); }));
  EXPECT_TRUE(sup.failed(a));
  EXPECT_FALSE(sup.Run(a, kSec, [] { return absl::OkStatus(); })) << "its restart failed too";
  EXPECT_TRUE(sup.failed(a));
  EXPECT_TRUE(sup.Run(a, 3 * kSec, [] { return absl::OkStatus(); }));
  EXPECT_EQ(restarts, 2);
  EXPECT_EQ(sup.restarts(a), 1u);
}

}  // namespace
}  // namespace dmrswitch::cp
