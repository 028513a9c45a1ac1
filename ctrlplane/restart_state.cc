#include "ctrlplane/restart_state.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace dmrswitch::cp {

using nlohmann::json;

namespace {

constexpr int kFormat = 1;

json ToJson(const ClientSideInfo& s) {
  return json{{"alias_rf_src", s.alias_rf_src},
              {"alias", s.alias},
              {"alias_blocks", s.alias_blocks},
              {"alias_time", s.alias_time},
              {"gps_rf_src", s.gps_rf_src},
              {"gps", s.gps},
              {"gps_time", s.gps_time},
              {"home_latitude", s.home_latitude},
              {"home_longitude", s.home_longitude},
              {"home_time", s.home_time}};
}

void FromJson(const json& j, ClientSideInfo& s) {
  j.at("alias_rf_src").get_to(s.alias_rf_src);
  j.at("alias").get_to(s.alias);
  j.at("alias_blocks").get_to(s.alias_blocks);
  j.at("alias_time").get_to(s.alias_time);
  j.at("gps_rf_src").get_to(s.gps_rf_src);
  j.at("gps").get_to(s.gps);
  j.at("gps_time").get_to(s.gps_time);
  j.at("home_latitude").get_to(s.home_latitude);
  j.at("home_longitude").get_to(s.home_longitude);
  j.at("home_time").get_to(s.home_time);
}

json ToJson(const ClientRecord& c) {
  return json{{"id", c.id},
              {"slot", c.slot},
              {"ip", c.addr.ip},
              {"port", c.addr.port},
              {"slots", std::string(1, c.slots)},
              {"slot_mask", c.slot_mask},
              {"callsign", c.callsign},
              {"rx_freq", c.rx_freq},
              {"tx_freq", c.tx_freq},
              {"tx_power", c.tx_power},
              {"color_code", c.color_code},
              {"latitude", c.latitude},
              {"longitude", c.longitude},
              {"height", c.height},
              {"location", c.location},
              {"description", c.description},
              {"url", c.url},
              {"software_id", c.software_id},
              {"package_id", c.package_id},
              {"options", c.options},
              {"logged_in_at", c.logged_in_at},
              {"fixed", c.fixed},
              {"side", ToJson(c.side)}};
}

void FromJson(const json& j, ClientRecord& c) {
  j.at("id").get_to(c.id);
  j.at("slot").get_to(c.slot);
  j.at("ip").get_to(c.addr.ip);
  j.at("port").get_to(c.addr.port);
  const std::string slots = j.at("slots").get<std::string>();
  c.slots = slots.empty() ? '3' : slots[0];
  j.at("slot_mask").get_to(c.slot_mask);
  j.at("callsign").get_to(c.callsign);
  j.at("rx_freq").get_to(c.rx_freq);
  j.at("tx_freq").get_to(c.tx_freq);
  j.at("tx_power").get_to(c.tx_power);
  j.at("color_code").get_to(c.color_code);
  j.at("latitude").get_to(c.latitude);
  j.at("longitude").get_to(c.longitude);
  j.at("height").get_to(c.height);
  j.at("location").get_to(c.location);
  j.at("description").get_to(c.description);
  j.at("url").get_to(c.url);
  j.at("software_id").get_to(c.software_id);
  j.at("package_id").get_to(c.package_id);
  j.at("options").get_to(c.options);
  j.at("logged_in_at").get_to(c.logged_in_at);
  j.at("fixed").get_to(c.fixed);
  FromJson(j.at("side"), c.side);
}

json ToJson(const RestoredClient& r) {
  json members = json::array();
  for (const RestoredMember& m : r.members) {
    members.push_back(json{{"ts", m.ts}, {"tg", m.tg}, {"ua_expires_at", m.ua_expires_at}});
  }
  json suspension = json::array();
  for (const Suspension& s : r.suspension) {
    suspension.push_back(json{{"until", s.until}, {"except_tg", s.except_tg}});
  }
  return json{{"id", r.id},
              {"slot", r.slot},
              {"slot_mask", r.slot_mask},
              {"options", r.options},
              {"members", std::move(members)},
              {"dial_tg", r.dial_tg},
              {"dial_expires_at", r.dial_expires_at},
              {"default_unlinked", r.default_unlinked},
              {"suspension", std::move(suspension)}};
}

void FromJson(const json& j, RestoredClient& r) {
  j.at("id").get_to(r.id);
  j.at("slot").get_to(r.slot);
  j.at("slot_mask").get_to(r.slot_mask);
  j.at("options").get_to(r.options);
  for (const json& m : j.at("members")) {
    RestoredMember rm;
    m.at("ts").get_to(rm.ts);
    m.at("tg").get_to(rm.tg);
    m.at("ua_expires_at").get_to(rm.ua_expires_at);
    r.members.push_back(rm);
  }
  j.at("dial_tg").get_to(r.dial_tg);
  j.at("dial_expires_at").get_to(r.dial_expires_at);
  j.at("default_unlinked").get_to(r.default_unlinked);
  const json& susp = j.at("suspension");
  if (susp.size() != r.suspension.size()) throw std::out_of_range("suspension: two timeslots");
  for (size_t i = 0; i < r.suspension.size(); ++i) {
    susp[i].at("until").get_to(r.suspension[i].until);
    susp[i].at("except_tg").get_to(r.suspension[i].except_tg);
  }
}

}  // namespace

namespace {

template <typename Fn>
auto Decoding(Fn&& fn) -> decltype(fn()) {
  // nlohmann reports malformed input and missing or mistyped fields by exception; this is the
  // one place they are turned into a status.
  try {
    return fn();
  } catch (const json::exception& e) {
    return absl::DataLossError(
        absl::StrCat("the snapshot's control-plane state cannot be read: ", e.what()));
  } catch (const std::out_of_range& e) {
    return absl::DataLossError(
        absl::StrCat("the snapshot's control-plane state cannot be read: ", e.what()));
  }
}

absl::Status CheckFormat(const json& doc) {
  const int format = doc.at("format").get<int>();
  if (format != kFormat) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the snapshot's control-plane state has format ", format, ", this build reads ", kFormat,
        ": restart dmrswitch-dp and dmrswitch-cp from the same build"));
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<uint8_t> EncodeClientRestart(const ClientRecord& client, const RestoredClient& subs) {
  return json::to_msgpack(
      json{{"format", kFormat}, {"client", ToJson(client)}, {"subscriptions", ToJson(subs)}});
}

absl::StatusOr<std::pair<ClientRecord, RestoredClient>> DecodeClientRestart(
    std::span<const uint8_t> bytes) {
  if (bytes.empty()) return absl::NotFoundError("no client record");
  return Decoding([&]() -> absl::StatusOr<std::pair<ClientRecord, RestoredClient>> {
    const json doc = json::from_msgpack(bytes.begin(), bytes.end());
    if (absl::Status st = CheckFormat(doc); !st.ok()) return st;
    std::pair<ClientRecord, RestoredClient> out;
    FromJson(doc.at("client"), out.first);
    FromJson(doc.at("subscriptions"), out.second);
    return out;
  });
}

std::vector<uint8_t> EncodeHubRestart(uint64_t streams_started) {
  return json::to_msgpack(json{{"format", kFormat}, {"streams_started", streams_started}});
}

absl::StatusOr<uint64_t> DecodeHubRestart(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return absl::NotFoundError("the snapshot carries no control-plane state");
  return Decoding([&]() -> absl::StatusOr<uint64_t> {
    const json doc = json::from_msgpack(bytes.begin(), bytes.end());
    if (absl::Status st = CheckFormat(doc); !st.ok()) return st;
    return doc.at("streams_started").get<uint64_t>();
  });
}

absl::StatusOr<RestartState> ReadRestartState(const route::RouteSnapshot& snap) {
  RestartState state;
  auto hub = DecodeHubRestart(snap.control_state());
  if (!hub.ok()) return hub.status();
  state.streams_started = *hub;
  absl::Status failure;
  snap.ForEachClientRestartRecord([&](uint32_t slot, std::span<const uint8_t> bytes) {
    if (!failure.ok()) return;
    auto record = DecodeClientRestart(bytes);
    if (!record.ok()) {
      failure = absl::Status(record.status().code(),
                             absl::StrCat("client slot ", slot, ": ", record.status().message()));
      return;
    }
    state.clients.push_back(std::move(record->first));
    state.subscriptions.push_back(std::move(record->second));
  });
  if (!failure.ok()) return failure;
  snap.ForEachSubscriber([&](uint32_t rf_src, const route::Location& l) {
    state.heard.push_back(HeardSubscriber{rf_src, l.at, l.ts, l.heard_at});
  });
  return state;
}

}  // namespace dmrswitch::cp
