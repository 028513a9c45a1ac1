// ReportHub: the one object the control plane's reporting component holds. It starts the
// configured surfaces (the HBlink/FreeDMR feed, the HBlink3 v3 feed, MQTT) and fans every event
// and state out to them.
//
// Threads and ownership: the hub owns the surfaces; each surface owns its own thread. Call
// Publish() and SetState() from ONE control-plane thread; they never block (each surface has a
// bounded queue that drops and counts). stats() and AppendMetrics() may be called from any
// thread. Destroying the hub stops every surface (MQTT says goodbye, bounded to about a second).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "ctrlplane/report/feed_server.h"
#include "ctrlplane/report/hblink3_json_feed.h"
#include "ctrlplane/report/hblink_feed.h"
#include "ctrlplane/report/model.h"
#include "ctrlplane/report/mqtt_publisher.h"

namespace dmrswitch::cp::report {

struct ReportHubOptions {
  // [report] feed: the HBlink/FreeDMR report socket; unset: off.
  std::optional<FeedServerOptions> feed;
  HblinkFeedOptions feed_format;
  // [report] feed_json: HBlink3 v3's NDJSON feed; unset: off.
  std::optional<FeedServerOptions> feed_json;
  Hblink3JsonFeedOptions feed_json_format;
  // [report] mqtt (+ mqtt_topic): unset: off.
  std::optional<MqttOptions> mqtt;
};

class ReportHub {
 public:
  // Starts what is configured; an error names the surface and what to fix.
  static absl::StatusOr<std::unique_ptr<ReportHub>> Start(ReportHubOptions options,
                                                          const HubView& hub);

  // Control-plane thread only; never blocks.
  void Publish(const ReportEvent& event);
  void Publish(const CallRecord& call) { Publish(ReportEvent(call)); }
  void Publish(const ClientEvent& e) { Publish(ReportEvent(e)); }
  void Publish(const PeerEvent& e) { Publish(ReportEvent(e)); }
  void SetState(std::shared_ptr<const HubState> state);

  FeedServer* feed() { return feed_.get(); }
  FeedServer* feed_json() { return feed_json_.get(); }
  MqttPublisher* mqtt() { return mqtt_.get(); }

  // The surfaces' own counters for /metrics (as dmrswitch_<name>_total):
  //   report_events_dropped{reason=feed_queue_full|feed_json_queue_full|mqtt_queue_full|
  //                         mqtt_not_sent}
  //   report_feed_connections_dropped{reason=slow_consumer|refused}, same for feed_json
  // and the gauges report_feed_connections, report_feed_json_connections,
  // report_mqtt_connected.
  void AppendMetrics(MetricsSnapshot* metrics) const;

 private:
  ReportHub() = default;
  std::unique_ptr<FeedServer> feed_;
  std::unique_ptr<FeedServer> feed_json_;
  std::unique_ptr<MqttPublisher> mqtt_;
};

}  // namespace dmrswitch::cp::report
