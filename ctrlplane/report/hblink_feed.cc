#include "ctrlplane/report/hblink_feed.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace dmrswitch::cp::report {
namespace {

double EpochSeconds(int64_t unix_ns) { return static_cast<double>(unix_ns) / 1e9; }

std::string Bytes4(uint32_t v) {
  std::string b(4, '\0');
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (24 - 8 * i)) & 0xff);
  return b;
}

std::string Bytes3(uint32_t v) {
  std::string b(3, '\0');
  for (int i = 0; i < 3; ++i) b[i] = static_cast<char>((v >> (16 - 8 * i)) & 0xff);
  return b;
}

// A client as HBlink keeps a peer of a MASTER system once it has sent RPTC (hblink.py): the
// fields the dashboards read, RPTC fields as bytes, times as epoch floats. Left out: SALT and
// SOCKADDR (internal), TX_POWER, LATITUDE, LONGITUDE and HEIGHT (no dashboard reads them, and
// every byte counts against the 99,999-byte limit).
PyValue PeerDict(const ClientView& c) {
  PyValue d = PyValue::Dict();
  d.Set("CONNECTION", PyValue::Str("YES"));
  d.Set("CONNECTED", PyValue::Float(EpochSeconds(c.logged_in_unix_ns)));
  d.Set("PINGS_RECEIVED", PyValue::UInt(c.pings_received));
  d.Set("LAST_PING", PyValue::Float(EpochSeconds(c.last_ping_unix_ns)));
  d.Set("IP", PyValue::Str(c.address));
  d.Set("PORT", PyValue::Int(c.port));
  d.Set("RADIO_ID", PyValue::Str(std::to_string(c.id)));
  d.Set("CALLSIGN", PyValue::Bytes(c.callsign));
  d.Set("RX_FREQ", PyValue::Bytes(c.rx_freq.empty() ? "000000000" : c.rx_freq));
  d.Set("TX_FREQ", PyValue::Bytes(c.tx_freq.empty() ? "000000000" : c.tx_freq));
  d.Set("COLORCODE", PyValue::Bytes(absl::StrFormat("%02d", c.color_code)));
  d.Set("LOCATION", PyValue::Bytes(c.location));
  d.Set("DESCRIPTION", PyValue::Bytes(c.description));
  d.Set("SLOTS", PyValue::Bytes(std::to_string(c.slots)));
  d.Set("URL", PyValue::Bytes(c.url));
  d.Set("SOFTWARE_ID", PyValue::Bytes(c.software_id));
  d.Set("PACKAGE_ID", PyValue::Bytes(c.package_id));
  return d;
}

// FreeDMR's TS1_STATIC/TS2_STATIC: the static TGs as "91,3100", or False when there are none
// (FDMR-Monitor tests for a bool).
PyValue StaticList(const ClientView* c, Slot slot) {
  std::vector<std::string> tgs;
  if (c) {
    for (const TalkgroupSubscription& t : c->talkgroups) {
      if (!t.dynamic && t.slot == slot) tgs.push_back(std::to_string(t.tg));
    }
  }
  if (tgs.empty()) return PyValue::Bool(false);
  return PyValue::Str(absl::StrJoin(tgs, ","));
}

// A MASTER system as HBlink/FreeDMR configure one, without the secrets (PASSPHRASE) and ACL
// objects, with `client` (or nobody) in PEERS.
PyValue MasterSystem(const HubView& hub, const ClientView* client) {
  PyValue d = PyValue::Dict();
  d.Set("MODE", PyValue::Str("MASTER"));
  d.Set("ENABLED", PyValue::Bool(true));
  d.Set("REPEAT", PyValue::Bool(true));
  d.Set("GROUP_HANGTIME", PyValue::Int(hub.group_hangtime_s));
  d.Set("SINGLE_MODE", PyValue::Bool(client != nullptr ? client->single_mode : hub.single_mode));
  d.Set("TS1_STATIC", StaticList(client, Slot::kTs1));
  d.Set("TS2_STATIC", StaticList(client, Slot::kTs2));
  if (!hub.default_ts1_static.empty() || !hub.default_ts2_static.empty()) {
    d.Set("_default_options", PyValue::Str(absl::StrCat("TS1_STATIC=", hub.default_ts1_static,
                                                        ";TS2_STATIC=", hub.default_ts2_static)));
  }
  PyValue peers = PyValue::Dict();
  if (client) peers.Set(PyValue::Bytes(Bytes4(client->id)), PeerDict(*client));
  d.Set("PEERS", std::move(peers));
  return d;
}

PyValue OpenBridgeSystem(const PeerView& p) {
  PyValue d = PyValue::Dict();
  d.Set("MODE", PyValue::Str("OPENBRIDGE"));
  d.Set("ENABLED", PyValue::Bool(true));
  d.Set("NETWORK_ID", PyValue::Bytes(Bytes4(p.network_id)));
  d.Set("TARGET_IP", PyValue::Str(p.target_address));
  d.Set("TARGET_PORT", PyValue::Int(p.target_port));
  d.Set("BOTH_SLOTS", PyValue::Bool(true));
  d.Set("VER", PyValue::Int(p.version));
  d.Set("ENHANCED_OBP", PyValue::Bool(p.version > 1));
  return d;
}

// A bridge member as bridge.py keeps it (TGID and ON/OFF as 3-byte IDs, TIMEOUT in seconds,
// TIMER an epoch): static TGs never time out (TO_TYPE NONE), dynamic ones drop at their timer
// (TO_TYPE ON). A static that single mode has switched off is inactive until its timer turns it
// back on (TO_TYPE OFF), as bridge.py's own timers say it.
PyValue BridgeEntry(const std::string& system, const TalkgroupSubscription& t, int64_t now_ns) {
  const bool on_timer = t.dynamic && t.expires_unix_ns;
  const bool off_timer = t.suspended && t.suspended_until_unix_ns;
  PyValue d = PyValue::Dict();
  d.Set("SYSTEM", PyValue::Str(system));
  d.Set("TS", PyValue::Int(static_cast<int>(t.slot)));
  d.Set("TGID", PyValue::Bytes(Bytes3(t.tg)));
  d.Set("ACTIVE", PyValue::Bool(!t.suspended));
  d.Set("TIMEOUT", PyValue::Int(t.dynamic ? t.timeout_s : 0));
  d.Set("TO_TYPE", PyValue::Str(on_timer ? "ON" : off_timer ? "OFF" : "NONE"));
  d.Set("ON", PyValue::List());
  d.Set("OFF", PyValue::List());
  d.Set("RESET", PyValue::List());
  d.Set("TIMER", PyValue::Float(EpochSeconds(on_timer    ? t.expires_unix_ns
                                             : off_timer ? t.suspended_until_unix_ns
                                                         : now_ns)));
  return d;
}

const char* CallTypeLabel(CallType type) {
  switch (type) {
    case CallType::kGroupVoice:
      return "GROUP VOICE";
    case CallType::kPrivateVoice:
      return "UNIT VOICE";
    case CallType::kUnitData:
      return "UNIT DATA HEADER";
    case CallType::kGroupData:
      return "GROUP DATA HEADER";
  }
  return "";
}

}  // namespace

std::string HblinkMessage(HblinkOpcode opcode, std::string_view payload) {
  std::string message(1, static_cast<char>(opcode));
  message.append(payload);
  return EncodeNetstring(message);
}

HblinkFeedFormat::HblinkFeedFormat(HblinkFeedOptions options)
    : options_(std::move(options)), system_taken_(options_.systems, false) {}

absl::StatusOr<std::unique_ptr<HblinkFeedFormat>> HblinkFeedFormat::Create(
    HblinkFeedOptions options) {
  if (options.systems == 0) {
    return absl::InvalidArgumentError("report feed: systems must be at least 1");
  }
  std::unique_ptr<HblinkFeedFormat> format(new HblinkFeedFormat(std::move(options)));
  HubState empty;
  empty.hub.default_ts1_static.push_back('0');  // worst case: with _default_options
  size_t size = EncodePickle(format->ConfigDict(empty, SIZE_MAX)).size() + 1;
  if (size > format->options_.max_message) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "report feed: %d empty systems already take %d bytes, more than the dashboard's message "
        "limit of %d; configure fewer systems",
        format->options_.systems, size, format->options_.max_message));
  }
  return format;
}

std::string HblinkFeedFormat::SystemName(size_t index) const {
  size_t width = std::to_string(options_.systems).size();
  return absl::StrFormat("%s%0*d", options_.system_prefix, width, index + 1);
}

std::string HblinkFeedFormat::SystemOf(uint32_t client_id) const {
  auto it = system_of_.find(client_id);
  return it == system_of_.end() ? "" : SystemName(it->second);
}

void HblinkFeedFormat::Assign(uint32_t client_id) {
  if (system_of_.count(client_id)) return;
  auto free = std::find(system_taken_.begin(), system_taken_.end(), false);
  if (free == system_taken_.end()) {
    ++clients_without_system_;
    return;
  }
  *free = true;
  system_of_[client_id] = static_cast<size_t>(free - system_taken_.begin());
}

void HblinkFeedFormat::UpdateState(const HubState& state) {
  std::set<uint32_t> present;
  for (const ClientView& c : state.clients) present.insert(c.id);
  for (auto it = system_of_.begin(); it != system_of_.end();) {
    if (!present.count(it->first)) {
      system_taken_[it->second] = false;
      it = system_of_.erase(it);
    } else {
      ++it;
    }
  }
  for (uint32_t id : present) Assign(id);
}

PyValue HblinkFeedFormat::ConfigDict(const HubState& state, size_t budget) {
  std::vector<const ClientView*> in_system(options_.systems, nullptr);
  for (const ClientView& c : state.clients) {
    auto it = system_of_.find(c.id);
    if (it != system_of_.end()) in_system[it->second] = &c;
  }
  // Every system is present (empty if need be); clients are added in system order while the
  // message stays within the budget. Sizes are measured with one memo, as the pickle is written.
  PickleWriter sizer(nullptr);
  std::vector<PyValue> keys, empty_values;
  size_t used = 0;
  for (size_t i = 0; i < options_.systems; ++i) {
    keys.push_back(PyValue::Str(SystemName(i)));
    empty_values.push_back(MasterSystem(state.hub, nullptr));
    used += sizer.Measure(keys.back()) + sizer.Measure(empty_values.back());
  }
  std::vector<std::pair<PyValue, PyValue>> openbridge_systems;
  for (const PeerView& p : state.peers) {
    openbridge_systems.emplace_back(PyValue::Str(p.name), OpenBridgeSystem(p));
    used += sizer.Measure(openbridge_systems.back().first) +
            sizer.Measure(openbridge_systems.back().second);
  }
  PyValue config = PyValue::Dict();
  for (size_t i = 0; i < options_.systems; ++i) {
    if (in_system[i]) {
      PyValue full = MasterSystem(state.hub, in_system[i]);
      size_t full_size = sizer.Measure(full);
      size_t empty_size = sizer.Measure(empty_values[i]);
      size_t extra = full_size > empty_size ? full_size - empty_size : 0;
      if (used + extra <= budget) {
        used += extra;
        config.Set(std::move(keys[i]), std::move(full));
        continue;
      }
      ++clients_trimmed_;
    }
    config.Set(std::move(keys[i]), std::move(empty_values[i]));
  }
  for (auto& [key, value] : openbridge_systems) config.Set(std::move(key), std::move(value));
  return config;
}

PyValue HblinkFeedFormat::BridgesDict(const HubState& state, int64_t now_unix_ns, size_t budget) {
  // Bridges are named by talkgroup, as FreeDMR names them; members listed in system order.
  std::map<uint32_t, std::vector<PyValue>> members;
  std::vector<std::pair<size_t, const ClientView*>> ordered;
  for (const ClientView& c : state.clients) {
    auto it = system_of_.find(c.id);
    if (it != system_of_.end()) ordered.emplace_back(it->second, &c);
  }
  std::sort(ordered.begin(), ordered.end());
  PickleWriter sizer(nullptr);
  size_t used = 0;
  for (const auto& [index, client] : ordered) {
    std::string system = SystemName(index);
    for (const TalkgroupSubscription& t : client->talkgroups) {
      PyValue entry = BridgeEntry(system, t, now_unix_ns);
      size_t cost = sizer.Measure(entry);
      if (!members.count(t.tg)) {
        // key + EMPTY_LIST + MARK + APPENDS
        cost += sizer.Measure(PyValue::Str(std::to_string(t.tg))) + 3;
      }
      if (used + cost > budget) {
        ++bridge_entries_trimmed_;
        continue;
      }
      used += cost;
      members[t.tg].push_back(std::move(entry));
    }
  }
  PyValue bridges = PyValue::Dict();
  for (auto& [tg, entries] : members) {
    bridges.Set(PyValue::Str(std::to_string(tg)), PyValue::List(std::move(entries)));
  }
  return bridges;
}

void HblinkFeedFormat::Snapshot(const HubState& state, int64_t now_unix_ns,
                                std::vector<std::string>* out) {
  // The budget is met by measurement; should the whole come out larger after all (first uses
  // of memoized keys), it is built again with the overshoot taken off.
  const size_t limit = options_.max_message - 1;
  auto fit = [&](auto build) -> std::string {
    size_t budget = limit - kPickleDictOverhead;
    for (int attempt = 0; attempt < 4; ++attempt) {
      std::string pickle = EncodePickle(build(budget));
      if (pickle.size() <= limit) return pickle;
      size_t over = pickle.size() - limit + 256;
      if (over >= budget) break;
      budget -= over;
    }
    ++oversize_messages_;
    return "";
  };
  std::string config = fit([&](size_t budget) { return ConfigDict(state, budget); });
  if (!config.empty()) out->push_back(HblinkMessage(HblinkOpcode::kConfigSnd, config));
  std::string bridges = fit([&](size_t budget) { return BridgesDict(state, now_unix_ns, budget); });
  if (!bridges.empty()) out->push_back(HblinkMessage(HblinkOpcode::kBridgeSnd, bridges));
}

std::string HblinkFeedFormat::BridgeEventLine(const CallRecord& call, const std::string& system,
                                              bool tx, uint32_t slot) const {
  uint32_t peer_id = call.source.kind == CallSource::Kind::kClient ? call.source.client_id
                                                                   : call.source.network_id;
  std::string action = call.type == CallType::kUnitData ? "DATA" : call.ended ? "END" : "START";
  std::string line =
      absl::StrCat(CallTypeLabel(call.type), ",", action, ",", tx ? "TX" : "RX", ",", system, ",",
                   call.stream_id, ",", peer_id, ",", call.rf_src, ",", slot, ",", call.dst);
  if (call.ended && call.type != CallType::kUnitData) {
    absl::StrAppendFormat(&line, ",%.2f", static_cast<double>(call.duration_ns) / 1e9);
  }
  return line;
}

void HblinkFeedFormat::Event(const ReportEvent& event, std::vector<std::string>* out) {
  const CallRecord* call = std::get_if<CallRecord>(&event);
  if (!call) {
    // Logins and logouts reach these dashboards through the next CONFIG_SND; HBlink sends no
    // event for them on this socket. A login takes its system now so calls can name it.
    if (const ClientEvent* e = std::get_if<ClientEvent>(&event);
        e && e->kind == ClientEvent::Kind::kLogin) {
      Assign(e->client_id);
    }
    return;
  }
  // Group data has no event in HBlink or FreeDMR and stock FDMR-Monitor warns about unknown
  // lines; unit data is reported once, as FreeDMR reports a data header.
  if (call->type == CallType::kGroupData) return;
  if (call->type == CallType::kUnitData && call->ended) return;
  std::string source_system;
  if (call->source.kind == CallSource::Kind::kPeer) {
    source_system = call->source.peer_name;
  } else {
    source_system = SystemOf(call->source.client_id);
    if (source_system.empty()) {
      source_system = absl::StrCat(options_.system_prefix, "X", call->source.client_id);
    }
  }
  const uint32_t slot = static_cast<uint32_t>(call->slot);
  out->push_back(
      HblinkMessage(HblinkOpcode::kBrdgEvent, BridgeEventLine(*call, source_system, false, slot)));
  if (call->type == CallType::kUnitData) return;
  size_t legs = 0;
  for (uint32_t client : call->destination_clients) {
    if (legs == options_.max_tx_legs) break;
    std::string system = SystemOf(client);
    if (system.empty()) continue;
    out->push_back(
        HblinkMessage(HblinkOpcode::kBrdgEvent, BridgeEventLine(*call, system, true, slot)));
    ++legs;
  }
}

bool HblinkFeedFormat::ClientInput(std::string* buffer) {
  NetstringReader reader(64);
  std::vector<std::string> messages;
  bool ok = reader.Feed(*buffer, &messages);
  bool wants = false;
  for (const std::string& m : messages) {
    if (!m.empty() && m[0] == static_cast<char>(HblinkOpcode::kConfigReq)) wants = true;
  }
  // Keep an incomplete netstring for the next read; drop garbage.
  if (!ok) {
    buffer->clear();
  } else {
    *buffer = buffer->substr(buffer->size() - reader.buffered());
  }
  return wants;
}

}  // namespace dmrswitch::cp::report
