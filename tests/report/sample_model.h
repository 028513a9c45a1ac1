// A hub described through the report model, as the control plane would fill it in: used by
// every report test so the surfaces render the same hub.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ctrlplane/report/model.h"

namespace dmrswitch::cp::report::testing {

inline constexpr int64_t kSampleNow = 1'700'000'000'000'000'000;  // 2023-11-14T22:13:20Z
inline constexpr int64_t kSecNs = 1'000'000'000;

inline ClientView SampleClient(uint32_t id) {
  ClientView c;
  c.id = id;
  c.callsign = "N0CALL";
  c.callsign[4] = static_cast<char>('A' + id % 26);
  c.location = "Springfield";
  c.description = "hotspot";
  c.url = "https://example.org/" + std::to_string(id);
  c.software_id = "20230101_Pi-Star";
  c.package_id = "MMDVM_MMDVM_HS_Hat";
  c.rx_freq = "438800000";
  c.tx_freq = "431200000";
  c.color_code = 1;
  c.slots = 3;
  c.address = "198.18.0." + std::to_string(10 + id % 200);
  c.port = static_cast<uint16_t>(50000 + id % 10000);
  c.talkgroups.push_back({91, Slot::kTs1, false, 0, 0});
  c.talkgroups.push_back({3100, Slot::kTs2, false, 0, 0});
  c.talkgroups.push_back({9990 + id % 5, Slot::kTs2, true, kSampleNow + 600 * kSecNs, 900});
  c.logged_in_unix_ns = kSampleNow - 3600 * kSecNs;
  c.last_ping_unix_ns = kSampleNow - 2 * kSecNs;
  c.last_heard_unix_ns = kSampleNow - 1 * kSecNs;
  c.pings_received = 720;
  return c;
}

inline PeerView SamplePeer(const std::string& name, bool up, uint8_t version) {
  PeerView p;
  p.name = name;
  p.version = version;
  p.up = up;
  p.network_id = 310999;
  p.target_address = "198.19.0.2";
  p.target_port = 62044;
  p.last_keepalive_unix_ns = up ? kSampleNow - 3 * kSecNs : 0;
  p.state_since_unix_ns = kSampleNow - 7200 * kSecNs;
  p.packets_received = 123456;
  p.packets_sent = 654321;
  p.packets_rejected = 7;
  return p;
}

inline HubView SampleHub() {
  HubView h;
  h.server_id = 310999;
  h.version = "0.1.0";
  h.mode = "kernel";
  h.shards = 2;
  h.snapshot_generation = 42;
  h.started_unix_ns = kSampleNow - 86400 * kSecNs;
  h.uptime_ns = 86400 * kSecNs;
  h.default_ts1_static = "91";
  h.default_ts2_static = "3100,31000";
  return h;
}

inline std::shared_ptr<const HubState> SampleState(int clients, uint32_t first_id = 3100001) {
  auto s = std::make_shared<HubState>();
  s->hub = SampleHub();
  for (int i = 0; i < clients; ++i) s->clients.push_back(SampleClient(first_id + i));
  s->peers.push_back(SamplePeer("OBP-US", true, 1));
  s->peers.push_back(SamplePeer("FBP-EU", false, 5));
  return s;
}

inline CallRecord SampleCall(uint32_t stream_id, bool ended) {
  CallRecord c;
  c.stream_id = stream_id;
  c.rf_src = 3112345;
  c.talker_callsign = "N0TALK";
  c.dst = 3100;
  c.slot = Slot::kTs2;
  c.type = CallType::kGroupVoice;
  c.source.kind = CallSource::Kind::kClient;
  c.source.client_id = 3100001;
  c.source.callsign = "N0CALB";
  c.destinations = 12;
  c.destination_clients = {3100002, 3100003};
  c.start_unix_ns = kSampleNow;
  c.start_mono_ns = 5 * kSecNs;
  c.ended = ended;
  if (ended) {
    c.duration_ns = 4'500'000'000;
    c.frames = 75;
    c.frames_lost = 2;
    c.frames_late = 3;
    c.frames_early = 1;
    c.jitter_ms = 4.25;
    c.end_reason = CallEndReason::kTerminator;
  }
  return c;
}

}  // namespace dmrswitch::cp::report::testing
