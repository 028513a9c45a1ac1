#include "ctrlplane/restart_state.h"

#include <array>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace dmrswitch::cp {

using nlohmann::json;

namespace {

constexpr int kFormat = 1;

// nlohmann's get_to() casts a float into an integer field (undefined when it does not fit) and
// narrows integers silently, and a snapshot's record is input like any other: every field is
// read through Read(), which takes integers only, in range, and names the field it refuses.
[[noreturn]] void Refuse(const char* field, const std::string& why) {
  throw std::out_of_range(absl::StrCat(field, ": ", why));
}

template <typename T>
requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) void Read(const json& j,
                                                                      const char* field, T& out) {
  const json& v = j.at(field);
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) Refuse(field, "out of range");
    out = static_cast<T>(u);
  } else if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (!std::in_range<T>(i)) Refuse(field, "out of range");
    out = static_cast<T>(i);
  } else {
    Refuse(field, absl::StrCat("an integer was expected, not ", v.type_name()));
  }
}

void Read(const json& j, const char* field, bool& out) {
  const json& v = j.at(field);
  if (!v.is_boolean()) Refuse(field, absl::StrCat("a boolean was expected, not ", v.type_name()));
  out = v.get<bool>();
}

void Read(const json& j, const char* field, std::string& out) {
  const json& v = j.at(field);
  if (!v.is_string()) Refuse(field, absl::StrCat("a string was expected, not ", v.type_name()));
  out = v.get<std::string>();
}

template <size_t N>
void Read(const json& j, const char* field, std::array<uint8_t, N>& out) {
  const json& v = j.at(field);
  if (!v.is_array() || v.size() != N)
    Refuse(field, absl::StrCat("an array of ", N, " bytes was expected"));
  for (size_t i = 0; i < N; ++i) {
    const json& b = v[i];
    if (!b.is_number_unsigned() || b.get<uint64_t>() > 0xff) Refuse(field, "not a byte");
    out[i] = static_cast<uint8_t>(b.get<uint64_t>());
  }
}

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
  Read(j, "alias_rf_src", s.alias_rf_src);
  Read(j, "alias", s.alias);
  Read(j, "alias_blocks", s.alias_blocks);
  Read(j, "alias_time", s.alias_time);
  Read(j, "gps_rf_src", s.gps_rf_src);
  Read(j, "gps", s.gps);
  Read(j, "gps_time", s.gps_time);
  Read(j, "home_latitude", s.home_latitude);
  Read(j, "home_longitude", s.home_longitude);
  Read(j, "home_time", s.home_time);
}

json ToJsonFields(const ClientRecord& c);

json ToJson(const ClientRecord& c) {
  json j = ToJsonFields(c);
  // An IPv6 client: its address as 16 bytes ("ip" is 0); absent for IPv4.
  if (c.addr.v6) j["ip6"] = std::vector<uint8_t>(c.addr.ip6, c.addr.ip6 + 16);
  return j;
}

json ToJsonFields(const ClientRecord& c) {
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
  Read(j, "id", c.id);
  Read(j, "slot", c.slot);
  Read(j, "ip", c.addr.ip);
  Read(j, "port", c.addr.port);
  if (j.contains("ip6")) {
    std::array<uint8_t, 16> ip6{};
    Read(j, "ip6", ip6);
    if (c.addr.ip != 0) Refuse("ip6", "an IPv6 client has ip 0");
    uint8_t a[16];
    std::copy(ip6.begin(), ip6.end(), a);
    c.addr = route::Endpoint::V6(a, c.addr.port);
    if (!c.addr.v6 || c.addr.any_address()) Refuse("ip6", "not a client's IPv6 address");
  }
  std::string slots;
  Read(j, "slots", slots);
  c.slots = slots.empty() ? '3' : slots[0];
  Read(j, "slot_mask", c.slot_mask);
  Read(j, "callsign", c.callsign);
  Read(j, "rx_freq", c.rx_freq);
  Read(j, "tx_freq", c.tx_freq);
  Read(j, "tx_power", c.tx_power);
  Read(j, "color_code", c.color_code);
  Read(j, "latitude", c.latitude);
  Read(j, "longitude", c.longitude);
  Read(j, "height", c.height);
  Read(j, "location", c.location);
  Read(j, "description", c.description);
  Read(j, "url", c.url);
  Read(j, "software_id", c.software_id);
  Read(j, "package_id", c.package_id);
  Read(j, "options", c.options);
  Read(j, "logged_in_at", c.logged_in_at);
  Read(j, "fixed", c.fixed);
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
  Read(j, "id", r.id);
  Read(j, "slot", r.slot);
  Read(j, "slot_mask", r.slot_mask);
  Read(j, "options", r.options);
  for (const json& m : j.at("members")) {
    RestoredMember rm;
    Read(m, "ts", rm.ts);
    Read(m, "tg", rm.tg);
    Read(m, "ua_expires_at", rm.ua_expires_at);
    r.members.push_back(rm);
  }
  Read(j, "dial_tg", r.dial_tg);
  Read(j, "dial_expires_at", r.dial_expires_at);
  Read(j, "default_unlinked", r.default_unlinked);
  const json& susp = j.at("suspension");
  if (susp.size() != r.suspension.size()) throw std::out_of_range("suspension: two timeslots");
  for (size_t i = 0; i < r.suspension.size(); ++i) {
    Read(susp[i], "until", r.suspension[i].until);
    Read(susp[i], "except_tg", r.suspension[i].except_tg);
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
  int format = 0;
  Read(doc, "format", format);
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
    uint64_t streams_started = 0;
    Read(doc, "streams_started", streams_started);
    return streams_started;
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
