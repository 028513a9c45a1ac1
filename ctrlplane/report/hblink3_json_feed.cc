#include "ctrlplane/report/hblink3_json_feed.h"

#include <map>
#include <utility>

namespace dmrswitch::cp::report {
namespace {

using nlohmann::json;

double EpochSeconds(int64_t unix_ns) { return static_cast<double>(unix_ns) / 1e9; }

const char* CallTypeLabel(CallType type) {
  switch (type) {
    case CallType::kGroupVoice:
      return "GROUP VOICE";
    case CallType::kPrivateVoice:
      return "UNIT VOICE";
    case CallType::kGroupData:
      return "GROUP DATA";
    case CallType::kUnitData:
      return "UNIT DATA";
  }
  return "";
}

json Quality(const CallRecord& call) {
  json q = {
      {"talker", call.talker_callsign},
      {"type", std::string(CallTypeName(call.type))},
      {"destinations", call.destinations},
      {"start", EpochSeconds(call.start_unix_ns)},
  };
  if (call.source.kind == CallSource::Kind::kPeer) q["peer_name"] = call.source.peer_name;
  if (call.source.kind == CallSource::Kind::kClient) q["callsign"] = call.source.callsign;
  if (call.ended) {
    q["frames"] = call.frames;
    q["frames_lost"] = call.frames_lost;
    q["frames_late"] = call.frames_late;
    q["frames_early"] = call.frames_early;
    q["jitter_ms"] = call.jitter_ms;
    q["end_reason"] = std::string(CallEndReasonName(call.end_reason));
  }
  return q;
}

}  // namespace

Hblink3JsonFeedFormat::Hblink3JsonFeedFormat(Hblink3JsonFeedOptions options)
    : options_(std::move(options)) {}

std::string Hblink3JsonFeedFormat::Line(const json& object) {
  // Invalid UTF-8 from a client's RPTC is replaced, never thrown on.
  return object.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

json Hblink3JsonFeedFormat::Repeater(const ClientView& c) {
  return {
      {"RADIO_ID", c.id},
      {"CALLSIGN", c.callsign},
      {"LOCATION", c.location},
      {"IP", c.address},
      {"PORT", c.port},
      {"CONNECTED", EpochSeconds(c.logged_in_unix_ns)},
      {"CONNECTION", "YES"},
      {"LAST_PING", EpochSeconds(c.last_ping_unix_ns)},
      {"RX_FREQ", c.rx_freq},
      {"TX_FREQ", c.tx_freq},
      {"SLOTS", std::to_string(c.slots)},
      {"PING_LOSS", 0},
  };
}

void Hblink3JsonFeedFormat::Snapshot(const HubState& state, int64_t now_unix_ns,
                                     std::vector<std::string>* out) {
  json systems = json::object();
  json server = {
      {"MODE", "SERVER"},
      {"ENABLED", true},
      {"REPEAT", true},
      {"MAX_REPEATERS", nullptr},
      {"GROUP_HANGTIME", state.hub.group_hangtime_s},
      {"REPEATERS", json::object()},
  };
  systems[options_.server_system] = server;
  for (const PeerView& p : state.peers) {
    systems[p.name] = {
        {"MODE", "OPENBRIDGE"},         {"ENABLED", true},
        {"NETWORK_ID", p.network_id},   {"TARGET_IP", p.target_address},
        {"TARGET_PORT", p.target_port},
    };
  }
  json config = {
      {"type", "config"},
      {"systems", systems},
      {"ping_time", state.hub.ping_time_s},
      {"max_missed", state.hub.max_missed},
      {"ping_loss_warn", 5},
      {"report_interval", options_.report_interval_s},
  };
  // Fill REPEATERS while the line fits; each repeater costs its `"id":{...},` text.
  size_t used = Line(config).size();
  std::vector<const ClientView*> paged;
  json& repeaters = config["systems"][options_.server_system]["REPEATERS"];
  for (const ClientView& c : state.clients) {
    json r = Repeater(c);
    std::string key = std::to_string(c.id);
    size_t cost = key.size() + 3 + Line(r).size();  // "key":{...}, (newline as comma)
    if (used + cost <= options_.max_line) {
      used += cost;
      repeaters[key] = std::move(r);
    } else {
      paged.push_back(&c);
    }
  }
  std::string config_line = Line(config);
  if (config_line.size() > options_.max_line) {
    ++oversize_lines_;
  } else {
    out->push_back(std::move(config_line));
  }
  for (const ClientView* c : paged) {
    ++repeaters_paged_;
    out->push_back(Line({{"type", "repeater_connected"},
                         {"system", options_.server_system},
                         {"radio_id", c->id},
                         {"info", Repeater(*c)}}));
  }

  // Bridges: one per talkgroup; the SERVER system is a member on each slot some client has it
  // on. It is active while one client's membership is (single mode suspends statics): of active
  // ones static wins over dynamic and of dynamic ones the latest timer is shown; when all are
  // suspended, the first to come back.
  std::map<uint32_t, std::map<int, TalkgroupSubscription>> by_tg;
  const auto comes_back_sooner = [](const TalkgroupSubscription& a,
                                    const TalkgroupSubscription& b) {
    return a.suspended_until_unix_ns != 0 &&
           (b.suspended_until_unix_ns == 0 ||
            a.suspended_until_unix_ns < b.suspended_until_unix_ns);
  };
  for (const ClientView& c : state.clients) {
    for (const TalkgroupSubscription& t : c.talkgroups) {
      auto [it, inserted] = by_tg[t.tg].emplace(static_cast<int>(t.slot), t);
      if (inserted) continue;
      TalkgroupSubscription& seen = it->second;
      if (t.suspended != seen.suspended) {
        if (!t.suspended) seen = t;
      } else if (t.suspended) {
        if (comes_back_sooner(t, seen)) seen = t;
      } else if (!t.dynamic || (seen.dynamic && t.expires_unix_ns > seen.expires_unix_ns)) {
        seen = t;
      }
    }
  }
  json bridges = json::object();
  size_t bridges_used = Line({{"type", "bridges"}, {"bridges", json::object()}}).size();
  for (const auto& [tg, slots] : by_tg) {
    json members = json::array();
    for (const auto& [slot, t] : slots) {
      const bool timed = t.dynamic && t.expires_unix_ns;
      const bool off_timer = t.suspended && t.suspended_until_unix_ns;
      members.push_back({
          {"SYSTEM", options_.server_system},
          {"TS", slot},
          {"TGID", tg},
          {"ACTIVE", !t.suspended},
          {"TO_TYPE", timed       ? "ON"
                      : off_timer ? "OFF"
                                  : "NONE"},
          {"TIMER", timed       ? EpochSeconds(t.expires_unix_ns)
                    : off_timer ? EpochSeconds(t.suspended_until_unix_ns)
                                : 0.0},
          {"TIMEOUT", timed ? t.timeout_s : 0},
          {"ON", json::array()},
          {"OFF", json::array()},
      });
    }
    std::string name = std::to_string(tg);
    size_t cost = name.size() + 3 + Line(members).size();  // "name":[...], (newline as comma)
    if (bridges_used + cost > options_.max_line) {
      ++oversize_lines_;
      continue;
    }
    bridges_used += cost;
    bridges[name] = std::move(members);
  }
  (void)now_unix_ns;
  out->push_back(Line({{"type", "bridges"}, {"bridges", bridges}}));
}

void Hblink3JsonFeedFormat::Event(const ReportEvent& event, std::vector<std::string>* out) {
  if (const CallRecord* call = std::get_if<CallRecord>(&event)) {
    uint32_t peer = call->source.kind == CallSource::Kind::kClient ? call->source.client_id
                                                                   : call->source.network_id;
    std::string system = call->source.kind == CallSource::Kind::kClient ? options_.server_system
                                                                        : call->source.peer_name;
    json e = {
        {"type", call->ended ? "stream_end" : "stream_start"},
        {"call_type", CallTypeLabel(call->type)},
        {"action", call->ended ? "END" : "START"},
        {"trx", "RX"},
        {"system", system},
        {"stream_id", call->stream_id},
        {"peer", peer},
        {"src", call->rf_src},
        {"slot", static_cast<int>(call->slot)},
        {"dst", call->dst},
    };
    if (call->ended) {
      e["duration"] = static_cast<double>(call->duration_ns) / 1e9;
    }
    e["dmrswitch"] = Quality(*call);
    out->push_back(Line(e));
    return;
  }
  if (const ClientEvent* c = std::get_if<ClientEvent>(&event)) {
    if (c->kind == ClientEvent::Kind::kLogin) {
      json e = {{"type", "repeater_connected"},
                {"system", options_.server_system},
                {"radio_id", c->client_id}};
      if (c->client) e["info"] = Repeater(*c->client);
      out->push_back(Line(e));
    } else {
      out->push_back(Line({{"type", "repeater_disconnected"},
                           {"system", options_.server_system},
                           {"radio_id", c->client_id},
                           {"reason", c->reason}}));
    }
    return;
  }
  // Peer changes reach this dashboard with the next config (it has no peer event).
}

}  // namespace dmrswitch::cp::report
