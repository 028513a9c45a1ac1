#include "ctrlplane/report/report_hub.h"

namespace dmrswitch::cp::report {
namespace {

NamedCounter Counter(const std::string& name, const std::string& reason, uint64_t value,
                     const std::string& help) {
  NamedCounter c;
  c.name = name;
  c.labels.reason = reason;
  c.value = value;
  c.help = help;
  return c;
}

NamedGauge Gauge(const std::string& name, const std::string& reason, double value,
                 const std::string& help) {
  NamedGauge g;
  g.name = name;
  g.labels.reason = reason;
  g.value = value;
  g.help = help;
  return g;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReportHub>> ReportHub::Start(ReportHubOptions options,
                                                            const HubView& hub) {
  std::unique_ptr<ReportHub> out(new ReportHub());
  if (options.feed) {
    auto format = HblinkFeedFormat::Create(options.feed_format);
    if (!format.ok()) return format.status();
    options.feed->name = "feed";
    auto server = FeedServer::Start(*options.feed, std::move(format).value());
    if (!server.ok()) return server.status();
    out->feed_ = std::move(server).value();
  }
  if (options.feed_json) {
    options.feed_json->name = "feed_json";
    auto server = FeedServer::Start(
        *options.feed_json, std::make_unique<Hblink3JsonFeedFormat>(options.feed_json_format));
    if (!server.ok()) return server.status();
    out->feed_json_ = std::move(server).value();
  }
  if (options.mqtt) {
    auto mqtt = MqttPublisher::Start(*options.mqtt, hub);
    if (!mqtt.ok()) return mqtt.status();
    out->mqtt_ = std::move(mqtt).value();
  }
  return out;
}

void ReportHub::Publish(const ReportEvent& event) {
  if (feed_) feed_->Publish(event);
  if (feed_json_) feed_json_->Publish(event);
  if (mqtt_) mqtt_->Publish(event);
}

void ReportHub::SetState(std::shared_ptr<const HubState> state) {
  if (feed_) feed_->SetState(state);
  if (feed_json_) feed_json_->SetState(state);
  if (mqtt_) mqtt_->SetState(state);
}

void ReportHub::AppendMetrics(MetricsSnapshot* m) const {
  const std::string dropped_help =
      "Report events not delivered, by reason (a full queue, or MQTT without a connection or "
      "with too many messages in flight).";
  const std::string conn_help =
      "Dashboard connections dropped (stopped reading) or refused (connection limit).";
  const std::string open_help = "Dashboard connections open.";
  auto feed_metrics = [&](const FeedServer* server, const std::string& feed) {
    if (!server) return;
    FeedServerStats s = server->stats();
    m->counters.push_back(
        Counter("report_events_dropped", feed + "_queue_full", s.events_dropped, dropped_help));
    m->counters.push_back(Counter("report_" + feed + "_connections_dropped", "slow_consumer",
                                  s.connections_dropped, conn_help));
    m->counters.push_back(Counter("report_" + feed + "_connections_dropped", "refused",
                                  s.connections_refused, conn_help));
    m->gauges.push_back(Gauge("report_" + feed + "_connections", "",
                              static_cast<double>(s.connections), open_help));
  };
  feed_metrics(feed_.get(), "feed");
  feed_metrics(feed_json_.get(), "feed_json");
  if (mqtt_) {
    MqttStats s = mqtt_->stats();
    m->counters.push_back(
        Counter("report_events_dropped", "mqtt_queue_full", s.events_dropped_queue, dropped_help));
    m->counters.push_back(
        Counter("report_events_dropped", "mqtt_not_sent", s.messages_dropped, dropped_help));
    NamedGauge connected;
    connected.name = "report_mqtt_connected";
    connected.value = s.connected ? 1 : 0;
    connected.help = "1 while the MQTT broker connection is up.";
    m->gauges.push_back(connected);
  }
}

}  // namespace dmrswitch::cp::report
