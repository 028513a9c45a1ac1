// Shared pieces of the HBP routing end-to-end tests (routing_test.cc, subscriptions_e2e_test.cc,
// contention_test.cc): a hub configuration with routing knobs, a set of logged-in simulated
// clients polled together, and call expectations (PROTOCOL.md §1.3, §3.2-3.6).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/e2e/hub_process.h"
#include "tools/sim/dmr_calls.h"
#include "tools/sim/hbp_client.h"
#include "tools/sim/udp.h"

namespace dmrswitch::e2e {

// A kernel-mode hub on 127.0.0.1:`hbp_port`. `hbp_extra` lines go into [hbp] (timers, modes);
// `tail` is appended after [acl] (e.g. [[hbp.static]] entries).
inline std::string RoutingHubToml(uint16_t hbp_port, const std::string& hbp_extra = "",
                                  const std::string& tail = "") {
  return absl::StrCat(R"([hub]
server_id = 310999
mode = "kernel"
shards = 2
control_plane = "hosted"
status_interval_s = 5

[hbp]
listen = "127.0.0.1:)",
                      hbp_port, R"("
passphrase = "passw0rd"
)",
                      hbp_extra, R"(

[acl]
reg = "PERMIT:ALL"
)",
                      tail, "\n");
}

// Frames of a voice call built by the simulator: header, 6 per superframe, terminator.
constexpr size_t VoiceFrames(unsigned superframes) { return 2 + 6 * size_t{superframes}; }

// A short group voice call: two superframes, fast cadence (timing does not matter).
inline sim::VoiceCallSpec GroupCall(uint32_t tg, unsigned ts, uint32_t rf_src,
                                    absl::Duration cadence = absl::Milliseconds(5),
                                    unsigned superframes = 2) {
  sim::VoiceCallSpec s;
  s.tg = tg;
  s.ts = ts;
  s.rf_src = rf_src;
  s.superframes = superframes;
  s.cadence = cadence;
  return s;
}

// A private voice call (a command to the hub: 4000 unlink, 5000 status, N dial-a-TG on TS2).
inline sim::VoiceCallSpec ControlCall(uint32_t dst, uint32_t rf_src, unsigned ts = 2) {
  sim::VoiceCallSpec s = GroupCall(dst, ts, rf_src, absl::Milliseconds(5), 1);
  s.private_call = true;
  return s;
}

// What a receiver must get for a group call that the hub delivers to it: every frame, 55 bytes,
// the destination's TG and slot, bytes 11..14 = the receiver's own ID, the LCs decoding to that TG
// and the talker, seq without gaps.
inline sim::ExpectedCall Delivered(uint32_t tg, unsigned ts, uint32_t rf_src, uint32_t receiver,
                                   unsigned superframes = 2) {
  sim::ExpectedCall e;
  e.tg = tg;
  e.ts = ts;
  e.rf_src = rf_src;
  e.repeater_id = receiver;
  e.call_type = proto::CallType::kGroup;
  e.frames = VoiceFrames(superframes);
  return e;
}

// Logged-in clients, polled together while the test waits.
class ClientSet {
 public:
  explicit ClientSet(uint16_t port) : port_(port) {}

  // Logs a client in (options = RPTO string, empty = none); fails the test if it cannot. `host`:
  // the hub's address the client talks to, "127.0.0.1" or "::1" (then from ::1).
  sim::HbpClient* Add(uint32_t id, std::string options = "",
                      const std::string& host = "127.0.0.1") {
    sim::HbpClientOptions o;
    o.id = id;
    o.passphrase = "passw0rd";
    o.hub = {host, port_};
    if (host == "::1") o.local = {"::1", 0};
    o.options = std::move(options);
    o.retry_interval = absl::Seconds(1);
    o.ping_interval = absl::Seconds(2);
    auto c = std::make_unique<sim::HbpClient>(o);
    const absl::Status st = c->Login(absl::Seconds(5));
    EXPECT_TRUE(st.ok()) << "client " << id << ": " << st;
    sim::HbpClient* p = c.get();
    clients_.push_back(std::move(c));
    return p;
  }

  std::vector<sim::Pollable*> pollables() const {
    std::vector<sim::Pollable*> v;
    for (const auto& c : clients_) v.push_back(c.get());
    return v;
  }

  // Services every client (keepalives, paced transmissions, reception) for `d`.
  void PollFor(absl::Duration d) const { sim::PollFor(pollables(), d); }
  // Services every client until `until`.
  void PollUntilTime(absl::Time until) const {
    const absl::Duration d = until - absl::Now();
    if (d > absl::ZeroDuration()) PollFor(d);
  }
  // Services every client until none is transmitting (or `timeout`).
  bool FinishTransmissions(absl::Duration timeout = absl::Seconds(10)) const {
    return sim::PollUntil(
        pollables(),
        [this] {
          for (const auto& c : clients_) {
            if (c->transmitting()) return false;
          }
          return true;
        },
        timeout);
  }
  // Lets the hub apply what just happened (logins, options, activations: a new snapshot is
  // published within tens of milliseconds) and forgets whatever the clients received so far.
  void Settle(absl::Duration d = absl::Milliseconds(300)) const {
    PollFor(d);
    for (const auto& c : clients_) c->TakeReceived();
  }

 private:
  uint16_t port_;
  std::vector<std::unique_ptr<sim::HbpClient>> clients_;
};

// Starts a hub or fails the calling test (use with ASSERT_NO_FATAL_FAILURE).
inline void StartHub(const std::string& toml, std::unique_ptr<HubProcess>* hub) {
  auto h = HubProcess::Start(toml);
  ASSERT_TRUE(h.ok()) << h.status();
  *hub = *std::move(h);
}

// Exactly one call arrives at `rx` and it is `want`.
inline void ExpectOneCall(sim::HbpClient& rx, const sim::ExpectedCall& want,
                          absl::Duration timeout = absl::Seconds(3)) {
  const std::vector<sim::ReceivedCall> calls = rx.Receive(timeout, 1, absl::Milliseconds(150));
  ASSERT_EQ(calls.size(), 1u) << "client " << rx.id() << " received " << calls.size() << " streams";
  const absl::Status st = sim::Verify(calls[0], want);
  EXPECT_TRUE(st.ok()) << "client " << rx.id() << ": " << st << "\n" << calls[0].DebugString();
}

// Nothing arrives at `rx` within `d` (the caller has made sure it would have by now).
inline void ExpectNothing(sim::HbpClient& rx, absl::Duration d = absl::Milliseconds(300)) {
  const std::vector<sim::ReceivedCall> calls = rx.ReceiveFor(d);
  EXPECT_TRUE(calls.empty()) << "client " << rx.id() << " received " << calls.size()
                             << " streams, first: " << calls[0].DebugString();
}

}  // namespace dmrswitch::e2e
