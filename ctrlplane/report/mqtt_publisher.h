// MqttPublisher: call, client and peer events as JSON to an MQTT broker (libmosquitto).
//
// Topics, under `topic_prefix` (`[report] mqtt_topic`, default "dmrswitch/{server_id}"; the
// placeholder is replaced by the server ID), payloads in docs/reporting.md:
//   <prefix>/status            retained, QoS 1: {"online": true, ...}; the broker publishes
//                              the Last Will {"online": false, ...} when the hub vanishes
//   <prefix>/call/start|end    QoS 0: the CallRecord
//   <prefix>/client/login|logout|lost   QoS 0: the ClientEvent
//   <prefix>/peer/<name>       retained, QoS 1: the peer's state after every change
//   <prefix>/Session           QoS 0, optional: BrandMeister-shaped Session-Start/Session-Stop
//
// Threads and ownership: the publisher owns one thread of its own that owns the libmosquitto
// client (connect, network loop, reconnect with exponential backoff, publishing). The control
// plane calls Publish()/SetState() from ONE thread; they move the event into a bounded SPSC
// queue and return: a full queue drops and counts. The network thread never lets libmosquitto's
// own queue grow without bound either: live (QoS 0) events beyond `max_inflight` messages not
// yet written to the socket (a stalled or slow broker) are dropped and counted, as they are
// while there is no connection. Retained peer states are remembered and re-published on every
// (re)connect, so a restarted broker gets them back.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "ctrlplane/report/model.h"
#include "ctrlplane/report/spsc_queue.h"

namespace dmrswitch::cp::report {

struct MqttOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 1883;
  std::string topic_prefix = "dmrswitch/{server_id}";
  std::string client_id;  // "" : "dmrswitch-<server_id>-<pid>"
  std::string username;   // "" : anonymous
  std::string password;   // never logged
  int keepalive_s = 30;
  size_t queue_capacity = 16384;
  size_t max_inflight = 1000;  // QoS 0 messages handed to libmosquitto, not yet written
  std::chrono::milliseconds reconnect_min{500};
  std::chrono::milliseconds reconnect_max{30000};
  bool bm_session = true;  // also publish <prefix>/Session
  std::chrono::milliseconds poll_interval{10};
};

struct MqttStats {
  uint64_t events_published = 0;      // accepted by Publish()
  uint64_t events_dropped_queue = 0;  // refused by Publish(): queue full
  uint64_t messages_sent = 0;         // handed to the broker connection
  uint64_t messages_written = 0;      // written to the socket (libmosquitto's on_publish)
  uint64_t messages_dropped = 0;      // not sent: no connection, or too many in flight
  uint64_t connects = 0;              // successful CONNACKs
  uint64_t connect_failures = 0;
  uint64_t disconnects = 0;
  bool connected = false;
};

class MqttPublisher {
 public:
  // Starts the network thread; connecting happens there (a broker that is down at start is
  // retried with backoff, it is not an error here).
  static absl::StatusOr<std::unique_ptr<MqttPublisher>> Start(MqttOptions options, HubView hub);
  // Publishes {"online": false, "reason": "stopped"}, disconnects and joins the thread (bounded
  // by a second when the broker does not answer).
  ~MqttPublisher();
  MqttPublisher(const MqttPublisher&) = delete;
  MqttPublisher& operator=(const MqttPublisher&) = delete;

  // Producer thread only. Never blocks; false when the queue was full.
  bool Publish(ReportEvent event);
  bool Publish(const CallRecord& call) { return Publish(ReportEvent(call)); }
  bool Publish(const ClientEvent& e) { return Publish(ReportEvent(e)); }
  bool Publish(const PeerEvent& e) { return Publish(ReportEvent(e)); }
  // Any thread, never blocks: the peers' retained states come from the newest state.
  void SetState(std::shared_ptr<const HubState> state);

  const std::string& topic_prefix() const { return prefix_; }
  MqttStats stats() const;

 private:
  struct Session;  // the network thread's libmosquitto state
  MqttPublisher(MqttOptions options, HubView hub);
  void Run();

  MqttOptions options_;
  HubView hub_;
  std::string prefix_;
  SpscQueue<ReportEvent> queue_;
  std::atomic<std::shared_ptr<const HubState>> state_;
  std::atomic<uint64_t> state_version_{0};
  std::atomic<bool> stop_{false};
  struct Counters {
    std::atomic<uint64_t> messages_sent{0}, messages_written{0}, messages_dropped{0}, connects{0},
        connect_failures{0}, disconnects{0};
    std::atomic<bool> connected{false};
  } counters_;
  std::thread thread_;
};

// "dmrswitch/{server_id}" with the placeholder replaced; trailing '/' removed.
std::string ExpandTopicPrefix(const std::string& pattern, uint32_t server_id);

}  // namespace dmrswitch::cp::report
