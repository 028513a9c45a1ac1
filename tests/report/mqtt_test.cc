// MqttPublisher against a real mosquitto broker on a free loopback port, watched by a
// libmosquitto subscriber: the events of a call, the retained online message and the Last
// Will, peer states, reconnect after the broker restarts, and a SIGSTOPped broker that makes
// the publisher drop and count while Publish() stays a queue push.
#include <gtest/gtest.h>
#include <mosquitto.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ctrlplane/report/mqtt_publisher.h"
#include "nlohmann/json.hpp"
#include "tests/report/mqtt_support.h"
#include "tests/report/sample_model.h"
#include "tests/report/test_support.h"

namespace dmrswitch::cp::report {
namespace {

using namespace testing;  // NOLINT
using nlohmann::json;
using std::chrono::milliseconds;

MqttOptions Options(uint16_t port) {
  MqttOptions o;
  o.port = port;
  o.reconnect_min = milliseconds(100);
  o.reconnect_max = milliseconds(1000);
  return o;
}

const std::string kPrefix = "dmrswitch/310999";

TEST(Mqtt, TopicPrefix) {
  EXPECT_EQ(ExpandTopicPrefix("dmrswitch/{server_id}", 310999), "dmrswitch/310999");
  EXPECT_EQ(ExpandTopicPrefix("hubs/{server_id}/x/", 7), "hubs/7/x");
  MqttOptions wildcard;
  wildcard.topic_prefix = "a/#";
  EXPECT_FALSE(MqttPublisher::Start(wildcard, SampleHub()).ok());
}

TEST(Mqtt, CallEventsPeerStatesAndRetainedOnline) {
  TempDir dir;
  Broker broker(dir);
  ASSERT_TRUE(broker.Start()) << broker.log();
  auto publisher = MqttPublisher::Start(Options(broker.port()), SampleHub());
  ASSERT_TRUE(publisher.ok()) << publisher.status();
  EXPECT_EQ((*publisher)->topic_prefix(), kPrefix);
  ASSERT_TRUE(WaitUntil([&] { return (*publisher)->stats().connected; }, milliseconds(10000)));
  (*publisher)->SetState(SampleState(2));

  // A subscriber that arrives later still learns that the hub is online: the message is
  // retained.
  Subscriber sub(broker.port(), kPrefix + "/#");
  bool retained = false;
  json online = sub.WaitFor(
      kPrefix + "/status", [](const json& j) { return j.value("online", false); },
      milliseconds(15000), &retained);
  ASSERT_FALSE(online.is_null());
  EXPECT_TRUE(retained);
  EXPECT_EQ(online["server_id"], 310999);
  EXPECT_EQ(online["version"], "0.1.0");
  json peer = sub.WaitFor(kPrefix + "/peer/OBP-US", [](const json& j) { return j["up"] == true; });
  EXPECT_EQ(peer["network_id"], 310999);
  ASSERT_TRUE(WaitUntil([&] { return sub.subscribed() > 0; }, milliseconds(5000)));

  // A simulated call: start and end, QoS 0, with the call's quality at the end.
  EXPECT_TRUE((*publisher)->Publish(SampleCall(0xabc, false)));
  EXPECT_TRUE((*publisher)->Publish(SampleCall(0xabc, true)));
  json start =
      sub.WaitFor(kPrefix + "/call/start", [](const json& j) { return j["stream_id"] == 0xabc; });
  ASSERT_FALSE(start.is_null());
  EXPECT_EQ(start["rf_src"], 3112345);
  EXPECT_EQ(start["dst"], 3100);
  EXPECT_EQ(start["slot"], 2);
  EXPECT_EQ(start["type"], "group_voice");
  EXPECT_EQ(start["live"], true);
  EXPECT_EQ(start["source"]["client_id"], 3100001);
  json end =
      sub.WaitFor(kPrefix + "/call/end", [](const json& j) { return j["stream_id"] == 0xabc; });
  ASSERT_FALSE(end.is_null());
  EXPECT_EQ(end["live"], false);
  EXPECT_EQ(end["end_reason"], "terminator");
  EXPECT_EQ(end["frames_lost"], 2);
  EXPECT_DOUBLE_EQ(end["duration"].get<double>(), 4.5);
  EXPECT_DOUBLE_EQ(end["jitter_ms"].get<double>(), 4.25);
  json session =
      sub.WaitFor(kPrefix + "/Session", [](const json& j) { return j["Event"] == "Session-Stop"; });
  EXPECT_EQ(session["SourceID"], 3112345);
  EXPECT_EQ(session["DestinationID"], 3100);
  EXPECT_EQ(session["LossCount"], 2);
  EXPECT_EQ(session["ContextID"], 3100001);

  // Client and peer events.
  ClientEvent login{ClientEvent::Kind::kLogin,
                    3100050,
                    "N0NEW",
                    "",
                    kSampleNow,
                    std::make_shared<ClientView>(SampleClient(3100050))};
  (*publisher)->Publish(login);
  json client = sub.WaitFor(kPrefix + "/client/login",
                            [](const json& j) { return j["client_id"] == 3100050; });
  EXPECT_EQ(client["client"]["callsign"], SampleClient(3100050).callsign);
  PeerEvent down{false, "OBP-US", "keepalive_timeout", kSampleNow,
                 std::make_shared<PeerView>(SamplePeer("OBP-US", false, 1))};
  (*publisher)->Publish(down);
  json peer_down =
      sub.WaitFor(kPrefix + "/peer/OBP-US", [](const json& j) { return j["up"] == false; });
  EXPECT_EQ(peer_down["reason"], "keepalive_timeout");

  // A clean stop says so, retained.
  publisher->reset();
  json stopped = sub.WaitFor(kPrefix + "/status",
                             [](const json& j) { return j.value("reason", "") == "stopped"; });
  EXPECT_EQ(stopped["online"], false);
}

// A peer a reload removed is told once, live, and then gone from the broker: a subscriber that
// arrives later finds the peers the hub has, not a retained ghost of the removed one (which
// stayed retained for ever before). A peer added again under that name is retained again.
TEST(Mqtt, ARemovedPeersRetainedStateIsCleared) {
  TempDir dir;
  Broker broker(dir);
  ASSERT_TRUE(broker.Start()) << broker.log();
  auto publisher = MqttPublisher::Start(Options(broker.port()), SampleHub());
  ASSERT_TRUE(publisher.ok()) << publisher.status();
  ASSERT_TRUE(WaitUntil([&] { return (*publisher)->stats().connected; }, milliseconds(10000)));
  (*publisher)->SetState(SampleState(1));
  Subscriber early(broker.port(), kPrefix + "/peer/#");
  ASSERT_FALSE(
      early.WaitFor(kPrefix + "/peer/OBP-US", [](const json& j) { return j["up"]; }).is_null());

  // The reload: the reporting component says "removed" and the next state lacks the peer.
  auto without = std::make_shared<HubState>(*SampleState(1));
  std::erase_if(without->peers, [](const PeerView& p) { return p.name == "OBP-US"; });
  (*publisher)->Publish(PeerEvent{false, "OBP-US", "removed", kSampleNow, nullptr});
  (*publisher)->SetState(without);
  const json removed = early.WaitFor(
      kPrefix + "/peer/OBP-US", [](const json& j) { return j.value("reason", "") == "removed"; });
  ASSERT_FALSE(removed.is_null()) << "live subscribers are told";
  EXPECT_EQ(removed["up"], false);

  // A late subscriber gets every retained message at once: FBP-EU, and nothing of OBP-US.
  const auto gone_from_broker = [&] {
    return WaitUntil(
        [&] {
          Subscriber late(broker.port(), kPrefix + "/peer/#");
          if (late.WaitFor(kPrefix + "/peer/FBP-EU", [](const json&) { return true; }).is_null()) {
            return false;
          }
          std::this_thread::sleep_for(milliseconds(300));
          return late.On(kPrefix + "/peer/OBP-US").empty();
        },
        milliseconds(10000));
  };
  ASSERT_TRUE(gone_from_broker()) << "the removed peer is still retained";

  // Back under the same name: retained again, not cleared.
  (*publisher)
      ->Publish(PeerEvent{true, "OBP-US", "", kSampleNow,
                          std::make_shared<PeerView>(SamplePeer("OBP-US", true, 1))});
  (*publisher)->SetState(SampleState(1));
  ASSERT_TRUE(WaitUntil(
      [&] {
        const std::vector<Message> m = early.On(kPrefix + "/peer/OBP-US");
        if (m.empty()) return false;
        const json last = json::parse(m.back().payload, nullptr, false);  // "": the clearing
        return last.is_object() && last.value("up", false);
      },
      milliseconds(10000)));
  Subscriber again(broker.port(), kPrefix + "/peer/#");
  bool retained = false;
  EXPECT_FALSE(again
                   .WaitFor(
                       kPrefix + "/peer/OBP-US", [](const json& j) { return j["up"] == true; },
                       milliseconds(10000), &retained)
                   .is_null());
  EXPECT_TRUE(retained);

  // Removed again, and its "removed" event lost (a full queue drops it): the state alone, which
  // no longer lists it, clears it.
  (*publisher)->SetState(without);
  EXPECT_TRUE(gone_from_broker()) << "a peer the state no longer lists is still retained";
}

// The broker publishes the Last Will when the hub's connection dies without a goodbye: a
// process of its own is killed.
TEST(Mqtt, LastWillSaysOfflineWhenTheHubDies) {
  TempDir dir;
  Broker broker(dir);
  ASSERT_TRUE(broker.Start()) << broker.log();
  uint16_t port = broker.port();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto publisher = MqttPublisher::Start(Options(port), SampleHub());
    while (true) pause();
  }
  Subscriber sub(port, kPrefix + "/#");
  json online = sub.WaitFor(kPrefix + "/status", [](const json& j) { return j["online"] == true; });
  EXPECT_FALSE(online.is_null());
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  bool retained = false;
  json will = sub.WaitFor(
      kPrefix + "/status", [](const json& j) { return j["online"] == false; }, milliseconds(15000),
      &retained);
  ASSERT_FALSE(will.is_null()) << broker.log();
  EXPECT_EQ(will["reason"], "lost");
  // A newcomer is told too: the will is retained.
  Subscriber late(port, kPrefix + "/status");
  json retained_will = late.WaitFor(
      kPrefix + "/status", [](const json& j) { return j["online"] == false; }, milliseconds(15000),
      &retained);
  EXPECT_FALSE(retained_will.is_null());
  EXPECT_TRUE(retained);
}

TEST(Mqtt, ReconnectsAfterTheBrokerRestarts) {
  TempDir dir;
  Broker broker(dir);
  ASSERT_TRUE(broker.Start()) << broker.log();
  const uint16_t port = broker.port();
  auto publisher = MqttPublisher::Start(Options(port), SampleHub());
  ASSERT_TRUE(publisher.ok());
  ASSERT_TRUE(WaitUntil([&] { return (*publisher)->stats().connects == 1; }, milliseconds(10000)));

  broker.Kill();
  ASSERT_TRUE(WaitUntil([&] { return !(*publisher)->stats().connected; }, milliseconds(10000)));
  // Events while there is no broker are dropped and counted, not queued without bound.
  uint64_t dropped_before = (*publisher)->stats().messages_dropped;
  (*publisher)->Publish(SampleCall(1, false));
  ASSERT_TRUE(WaitUntil([&] { return (*publisher)->stats().messages_dropped > dropped_before; },
                        milliseconds(5000)));

  ASSERT_TRUE(broker.Start(port)) << broker.log();
  ASSERT_TRUE(WaitUntil([&] { return (*publisher)->stats().connects == 2; }, milliseconds(15000)));
  Subscriber sub(port, kPrefix + "/#");
  // The restarted broker (no persistence) learns the retained online state again.
  EXPECT_FALSE(sub.WaitFor(kPrefix + "/status", [](const json& j) { return j["online"] == true; })
                   .is_null());
  ASSERT_TRUE(WaitUntil([&] { return sub.subscribed() > 0; }, milliseconds(5000)));
  (*publisher)->Publish(SampleCall(2, false));
  EXPECT_FALSE(
      sub.WaitFor(kPrefix + "/call/start", [](const json& j) { return j["stream_id"] == 2; })
          .is_null());
}

// A stalled broker (SIGSTOP) must cost the producer nothing: Publish() stays a queue push, the
// publisher drops and counts what the broker cannot take, and recovers when it continues.
TEST(Mqtt, StoppedBrokerMakesThePublisherDropNotBlock) {
  TempDir dir;
  Broker broker(dir);
  ASSERT_TRUE(broker.Start()) << broker.log();
  MqttOptions options = Options(broker.port());
  options.keepalive_s = 60;  // the stall is shorter than the keepalive
  auto publisher = MqttPublisher::Start(options, SampleHub());
  ASSERT_TRUE(publisher.ok());
  ASSERT_TRUE(WaitUntil([&] { return (*publisher)->stats().connected; }, milliseconds(10000)));

  broker.Stop();
  std::vector<int64_t> push_ns;
  CallRecord big = SampleCall(0, true);
  big.talker_callsign = std::string(4000, 'T');  // ~4 KB payloads fill the socket quickly
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  uint32_t stream = 0;
  while (std::chrono::steady_clock::now() < deadline &&
         (*publisher)->stats().messages_dropped < 1000) {
    for (int i = 0; i < 500; ++i) {
      CallRecord call = big;
      call.stream_id = ++stream;
      auto t0 = std::chrono::steady_clock::now();
      (*publisher)->Publish(std::move(call));
      push_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now() - t0)
                            .count());
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  MqttStats stalled = (*publisher)->stats();
  EXPECT_GE(stalled.messages_dropped, 1000u);
  EXPECT_LE(stalled.messages_sent - stalled.messages_written,
            options.max_inflight + 64);  // what libmosquitto holds stays bounded
  std::sort(push_ns.begin(), push_ns.end());
  std::printf(
      "stalled broker: %zu pushes, p99 %lld ns, max %lld ns; dropped %llu, queue drops %llu\n",
      push_ns.size(), static_cast<long long>(push_ns[push_ns.size() * 99 / 100]),
      static_cast<long long>(push_ns.back()),
      static_cast<unsigned long long>(stalled.messages_dropped),
      static_cast<unsigned long long>(stalled.events_dropped_queue));
  // A push blocked on the stopped broker would wait for its full socket until the broker comes
  // back (the 20 s above); one that only queues or drops takes microseconds, but under the
  // sanitizers on a busy 2-CPU VM p99 was seen at 0.4-4 ms and the max at 13 ms (descheduled).
  EXPECT_LT(push_ns[push_ns.size() * 99 / 100], 20'000'000);
  EXPECT_LT(push_ns.back(), 50'000'000);

  broker.Continue();
  Subscriber sub(broker.port(), kPrefix + "/#");
  ASSERT_TRUE(WaitUntil([&] { return sub.subscribed() > 0; }, milliseconds(15000)));
  const uint32_t marker = 0x7fffffff;
  bool seen = WaitUntil(
      [&] {
        (*publisher)->Publish(SampleCall(marker, false));
        return !sub.On(kPrefix + "/call/start").empty() &&
               sub.WaitFor(
                      kPrefix + "/call/start",
                      [&](const json& j) { return j["stream_id"] == marker; }, milliseconds(200))
                   .is_object();
      },
      milliseconds(20000), milliseconds(200));
  MqttStats after = (*publisher)->stats();
  EXPECT_TRUE(seen) << "the publisher did not recover after SIGCONT: connected " << after.connected
                    << " connects " << after.connects << " sent " << after.messages_sent
                    << " written " << after.messages_written << " dropped "
                    << after.messages_dropped << "\n"
                    << broker.log();
}

}  // namespace
}  // namespace dmrswitch::cp::report
