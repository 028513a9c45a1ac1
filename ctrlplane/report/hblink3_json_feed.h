// HBlink3 v3's report feed (hblink.py ReportServer, bridge.py BridgeReportServer on the main
// branch; read by its dashboard/server.py): newline-delimited JSON, one object per line.
//   {"type": "config", "systems": {...}, "ping_time", "max_missed", "ping_loss_warn",
//    "report_interval"}            full system state, replaces the dashboard's
//   {"type": "bridges", "bridges": {"<name>": [{SYSTEM, TS, TGID, ACTIVE, TO_TYPE, TIMER,
//    TIMEOUT, ON, OFF}, ...]}}     full bridge state
//   {"type": "stream_start" | "stream_end", "call_type", "action", "trx", "system",
//    "stream_id", "peer", "src", "slot", "dst"[, "duration"]}
//   {"type": "repeater_connected", "system", "radio_id", "info": {...}}
//   {"type": "repeater_disconnected", "system", "radio_id"}
//
// dmrswitch appears as one SERVER system (HBlink3's repeater-facing system) holding every client
// in REPEATERS, and one OPENBRIDGE system per peer. Stream events carry dmrswitch's call quality
// in an extra "dmrswitch" object, which the dashboard passes through untouched.
//
// The stock dashboard reads lines with asyncio's StreamReader.readline(), whose default limit is
// 64 KiB: a longer line breaks its feed. A config line therefore holds as many repeaters as fit
// in `max_line`; the others follow as repeater_connected lines, which the dashboard applies to
// the same system.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ctrlplane/report/feed_format.h"
#include "nlohmann/json.hpp"

namespace dmrswitch::cp::report {

struct Hblink3JsonFeedOptions {
  std::string server_system = "HBP";  // the SERVER system's name
  size_t max_line = 65536;            // bytes per line, newline included (asyncio's limit)
  uint32_t report_interval_s = 10;
};

class Hblink3JsonFeedFormat : public FeedFormat {
 public:
  explicit Hblink3JsonFeedFormat(Hblink3JsonFeedOptions options = {});

  void UpdateState(const HubState&) override {}
  void Snapshot(const HubState& state, int64_t now_unix_ns, std::vector<std::string>* out) override;
  void Event(const ReportEvent& event, std::vector<std::string>* out) override;
  uint64_t trimmed() const override { return oversize_lines_; }

  // A client as hblink.py's json_repeater() shows one.
  static nlohmann::json Repeater(const ClientView& client);
  uint64_t repeaters_paged() const { return repeaters_paged_; }

 private:
  std::string Line(const nlohmann::json& object);

  Hblink3JsonFeedOptions options_;
  uint64_t repeaters_paged_ = 0;
  uint64_t oversize_lines_ = 0;
};

}  // namespace dmrswitch::cp::report
