#include "ctrlplane/report/json_model.h"

namespace dmrswitch::cp::report {
namespace {

using nlohmann::json;

double Seconds(int64_t ns) { return static_cast<double>(ns) / 1e9; }

json SourceJson(const CallSource& s) {
  if (s.kind == CallSource::Kind::kPeer) {
    return {{"kind", "peer"}, {"peer", s.peer_name}, {"network_id", s.network_id}};
  }
  return {{"kind", "client"}, {"client_id", s.client_id}, {"callsign", s.callsign}};
}

}  // namespace

std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

json ToJson(const CallRecord& c) {
  json j = {
      {"stream_id", c.stream_id},
      {"rf_src", c.rf_src},
      {"talker", c.talker_callsign},
      {"dst", c.dst},
      {"slot", static_cast<int>(c.slot)},
      {"type", std::string(CallTypeName(c.type))},
      {"source", SourceJson(c.source)},
      {"destinations", c.destinations},
      {"start", Seconds(c.start_unix_ns)},
      {"duration", Seconds(c.duration_ns)},
      {"frames", c.frames},
      {"frames_lost", c.frames_lost},
      {"frames_late", c.frames_late},
      {"frames_early", c.frames_early},
      {"jitter_ms", c.jitter_ms},
      {"live", !c.ended},
      {"end_reason", std::string(CallEndReasonName(c.end_reason))},
  };
  return j;
}

json ToJson(const ClientView& c) {
  json tgs = json::array();
  for (const TalkgroupSubscription& t : c.talkgroups) {
    json tg = {{"tg", t.tg},
               {"slot", static_cast<int>(t.slot)},
               {"dynamic", t.dynamic},
               {"suspended", t.suspended}};
    if (t.dynamic) {
      tg["expires"] = t.expires_unix_ns ? json(Seconds(t.expires_unix_ns)) : json();
      tg["timeout_s"] = t.timeout_s;
    }
    if (t.suspended) {
      tg["suspended_until"] =
          t.suspended_until_unix_ns ? json(Seconds(t.suspended_until_unix_ns)) : json();
    }
    tgs.push_back(std::move(tg));
  }
  return {
      {"id", c.id},
      {"callsign", c.callsign},
      {"location", c.location},
      {"description", c.description},
      {"url", c.url},
      {"software_id", c.software_id},
      {"package_id", c.package_id},
      {"rx_freq", c.rx_freq},
      {"tx_freq", c.tx_freq},
      {"color_code", c.color_code},
      {"slots", c.slots},
      {"address", c.address},
      {"port", c.port},
      {"talkgroups", std::move(tgs)},
      {"logged_in", Seconds(c.logged_in_unix_ns)},
      {"last_ping", Seconds(c.last_ping_unix_ns)},
      {"last_heard", Seconds(c.last_heard_unix_ns)},
      {"pings_received", c.pings_received},
      {"fixed", c.fixed},
  };
}

json ToJson(const PeerView& p) {
  return {
      {"name", p.name},
      {"version", p.version},
      {"up", p.up},
      {"network_id", p.network_id},
      {"target", p.target_address.find(':') == std::string::npos
                     ? p.target_address + ":" + std::to_string(p.target_port)
                     : "[" + p.target_address + "]:" + std::to_string(p.target_port)},
      {"last_keepalive",
       p.last_keepalive_unix_ns ? json(Seconds(p.last_keepalive_unix_ns)) : json()},
      {"since", Seconds(p.state_since_unix_ns)},
      {"packets_received", p.packets_received},
      {"packets_sent", p.packets_sent},
      {"packets_rejected", p.packets_rejected},
  };
}

json ToJson(const HubView& h) {
  return {
      {"server_id", h.server_id},
      {"version", h.version},
      {"mode", h.mode},
      {"shards", h.shards},
      {"snapshot_generation", h.snapshot_generation},
      {"started", Seconds(h.started_unix_ns)},
      {"uptime", Seconds(h.uptime_ns)},
      {"draining", h.draining},
  };
}

json ToJson(const ClientEvent& e) {
  json j = {
      {"event", std::string(ClientEventKindName(e.kind))},
      {"client_id", e.client_id},
      {"callsign", e.callsign},
      {"time", Seconds(e.time_unix_ns)},
  };
  if (!e.reason.empty()) j["reason"] = e.reason;
  if (e.client) j["client"] = ToJson(*e.client);
  return j;
}

json ToJson(const PeerEvent& e) {
  json j = {
      {"event", e.up ? "up" : "down"},
      {"peer", e.name},
      {"time", Seconds(e.time_unix_ns)},
  };
  if (!e.reason.empty()) j["reason"] = e.reason;
  if (e.peer) j["state"] = ToJson(*e.peer);
  return j;
}

}  // namespace dmrswitch::cp::report
