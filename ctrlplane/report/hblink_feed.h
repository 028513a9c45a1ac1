// The HBlink/FreeDMR report socket format, as HBlink3 (legacy branch: hblink.py, bridge.py,
// reporting_const.py) and FreeDMR (bridge_master.py) send it and HBmonitor (web_tables.py) and
// FDMR-Monitor (monitor.py) read it:
//   - every message is a Twisted netstring whose first byte is an opcode;
//   - CONFIG_SND (0x01) + pickle(protocol 2) of the SYSTEMS dict;
//   - BRIDGE_SND (0x03) + pickle(protocol 2) of the BRIDGES dict;
//   - BRDG_EVENT (0x07) + a CSV line, e.g.
//       GROUP VOICE,START,RX,<system>,<stream id>,<peer id>,<rf_src>,<slot>,<dst>
//       GROUP VOICE,END,RX,<system>,<stream id>,<peer id>,<rf_src>,<slot>,<dst>,<seconds:.2f>
//     and TX legs for each destination system; UNIT VOICE for private calls; UNIT DATA
//     HEADER,DATA,RX,... for unit data.
//
// The dashboards build their tables from the first CONFIG_SND they get and afterwards look up
// every system of a later CONFIG_SND in those tables (and the other way round), so the set of
// system names must never change while the hub runs. dmrswitch therefore presents a fixed number
// of synthetic MASTER systems (`<prefix>001`, `<prefix>002`, ..., as FreeDMR's generated
// systems), each holding at most one client in its PEERS, plus one OPENBRIDGE system per
// configured peer. A client keeps its system for as long as it stays logged in.
//
// Stock HBmonitor keeps Twisted's NetstringReceiver.MAX_LENGTH of 99,999 bytes and drops the
// connection on a longer message: CONFIG_SND and BRIDGE_SND are trimmed to `max_message` (clients
// beyond the budget are shown as empty systems, bridge entries beyond it are left out) and the
// trimming is counted. Nothing secret is ever written: the model has no passphrase, key or salt.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ctrlplane/report/feed_format.h"
#include "ctrlplane/report/pickle.h"

namespace dmrswitch::cp::report {

enum class HblinkOpcode : char {
  kConfigReq = 0x00,
  kConfigSnd = 0x01,
  kBridgeReq = 0x02,
  kBridgeSnd = 0x03,
  kConfigUpd = 0x04,
  kBridgeUpd = 0x05,
  kLinkEvent = 0x06,
  kBrdgEvent = 0x07,
};

struct HblinkFeedOptions {
  size_t systems = 100;  // synthetic MASTER systems (client capacity of the feed)
  std::string system_prefix = "HBP-";
  size_t max_message = 99999;  // Twisted's default NetstringReceiver.MAX_LENGTH
  size_t max_tx_legs = 64;     // TX legs reported per call (destination clients)
};

class HblinkFeedFormat : public FeedFormat {
 public:
  // Refuses options whose empty systems alone would not fit in max_message.
  static absl::StatusOr<std::unique_ptr<HblinkFeedFormat>> Create(HblinkFeedOptions options);

  void UpdateState(const HubState& state) override;
  void Snapshot(const HubState& state, int64_t now_unix_ns, std::vector<std::string>* out) override;
  void Event(const ReportEvent& event, std::vector<std::string>* out) override;
  bool ClientInput(std::string* buffer) override;
  uint64_t trimmed() const override { return clients_trimmed_ + bridge_entries_trimmed_; }

  // The CONFIG dict and BRIDGES dict as values (tests and size accounting).
  PyValue ConfigDict(const HubState& state, size_t budget);
  PyValue BridgesDict(const HubState& state, int64_t now_unix_ns, size_t budget);
  // The system a client is shown in ("" if all systems are taken).
  std::string SystemOf(uint32_t client_id) const;

  uint64_t clients_trimmed() const { return clients_trimmed_; }
  uint64_t clients_without_system() const { return clients_without_system_; }
  uint64_t bridge_entries_trimmed() const { return bridge_entries_trimmed_; }
  uint64_t oversize_messages() const { return oversize_messages_; }

 private:
  explicit HblinkFeedFormat(HblinkFeedOptions options);
  std::string SystemName(size_t index) const;
  void Assign(uint32_t client_id);
  std::string BridgeEventLine(const CallRecord& call, const std::string& system, bool tx,
                              uint32_t slot) const;

  HblinkFeedOptions options_;
  std::map<uint32_t, size_t> system_of_;  // client ID -> system index
  std::vector<bool> system_taken_;
  uint64_t clients_trimmed_ = 0;
  uint64_t clients_without_system_ = 0;
  uint64_t bridge_entries_trimmed_ = 0;
  uint64_t oversize_messages_ = 0;
};

// A framed message: the netstring of opcode + payload.
std::string HblinkMessage(HblinkOpcode opcode, std::string_view payload);

}  // namespace dmrswitch::cp::report
