// The report model as JSON: one spelling of every field for MQTT payloads and, later, the JSON
// API and the dashboard (issue 12). Times are seconds since the epoch as numbers with fractions
// (`start`, `logged_in`, ...) and durations are seconds; names are snake_case.
#pragma once

#include "ctrlplane/report/model.h"
#include "nlohmann/json.hpp"

namespace dmrswitch::cp::report {

nlohmann::json ToJson(const CallRecord& call);
nlohmann::json ToJson(const ClientView& client);
nlohmann::json ToJson(const PeerView& peer);
nlohmann::json ToJson(const HubView& hub);
nlohmann::json ToJson(const ClientEvent& event);
nlohmann::json ToJson(const PeerEvent& event);

// Serializes without ever throwing: invalid UTF-8 (from a client's RPTC) is replaced.
std::string Dump(const nlohmann::json& value);

}  // namespace dmrswitch::cp::report
