// What a configuration reload does (docs/config.md "Reload"): every live key takes its new value,
// every restart key keeps its running one, and the operator is told which did what. The key table
// (keys.h) decides the class of each key; this file only applies it.
#pragma once

#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ctrlplane/config/config.h"
#include "ctrlplane/config/keys.h"
#include "dataplane/route/types.h"

namespace dmrswitch::cp {

// A configuration as (key path, value) pairs, one per key the file can set, with array elements
// by position ("obp[1].target" = "198.18.0.2:62035"). Values are canonical text: two
// configurations that behave the same flatten the same. Secrets are in it as they are: compare,
// never print (ConfigKey::secret).
std::vector<std::pair<std::string, std::string>> FlattenConfig(const HubConfig& c);

struct ReloadPlan {
  HubConfig config;                  // what runs from now on
  std::vector<std::string> applied;  // live keys that changed: "hbp.ping_time_s 10 -> 5"
  std::vector<std::string> kept;     // restart keys that changed and keep their running value
  std::set<Applier> appliers;        // the components that apply the changed live keys
};

// `running` is the configuration in effect, `next` the file just parsed, `listeners` the packet
// plane's. A peer may move to any address the packet plane listens on; one that names an address
// it does not listen on keeps its running listen address (a new peer there is not served until
// a restart), and the plan says so.
ReloadPlan PlanReload(const HubConfig& running, HubConfig next,
                      std::span<const route::Endpoint> listeners);

}  // namespace dmrswitch::cp
