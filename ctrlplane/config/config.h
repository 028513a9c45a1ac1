// The hub's configuration: one TOML file (../shared/docs/CONFIG.md is the contract, docs/config.md
// the full reference) read into plain structs. Parsing validates everything: a HubConfig that
// comes out of ParseConfig is consistent, and MakeHubPolicy/MakePeerSpecs turn it into the routing
// core's types without further checks.
//
// Errors name the file, the key as a dotted path (array elements by index, e.g. obp[1].version),
// the offending value and the reason:
//   config.toml: obp[1].version = 3: must be 1 (classic OBP) or 5 (FBP)
// Unknown keys at any level are errors too.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/route/acl.h"
#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/types.h"

namespace dmrswitch::cp {

enum class HubMode : uint8_t { kKernel, kDpdk, kAfXdp };
enum class ControlPlaneMode : uint8_t { kHosted, kSeparate };
// Kernel mode: how datagrams reach their shard. kAuto tries the BPF reuseport program and falls
// back to user-space steering.
enum class Steering : uint8_t { kAuto, kBpf, kUserspace };

// [hub]
struct HubSection {
  uint32_t server_id = 0;  // 4-byte ID put on OpenBridge/FBP; required (non-zero) with peers
  HubMode mode = HubMode::kKernel;
  uint32_t shards = 2;  // 1..64
  ControlPlaneMode control_plane = ControlPlaneMode::kHosted;
  Steering steering = Steering::kAuto;
  uint32_t status_interval_s = 5;    // status/statistics reporting period
  uint32_t stream_capacity = 16384;  // concurrent streams per shard
  std::string log_level = "info";    // trace|debug|info|warn|error|critical|off (spdlog names)
  // control_plane = "separate": the name the dp and the cp share (the EAL --file-prefix, unless
  // dpdk.eal_args has one). Two hubs on one box need two names.
  std::string runtime_name = "dmrswitch";
  // Unix socket of dmrswitch-ctl (drain, resume, status). "" = the default: in separate mode
  // /run/dmrswitch/<EalFilePrefix>.sock (the runtime name), in hosted mode none.
  std::string ctl_socket;
};

// [[hbp.static]]: server-side static TGs of one client.
struct StaticTgs {
  uint32_t client = 0;
  std::vector<uint32_t> ts[2];  // by timeslot index (route::kTs1, route::kTs2)
};

// [[hbp.fixed_client]]: a client that is logged in from the hub's start, at a fixed address, as
// if it had completed RPTL/RPTK/RPTC (and RPTO with `options`), and is never dropped for missing
// keepalives (a repeater behind a fixed link, or a pcap load generator that cannot log in).
struct FixedClient {
  uint32_t id = 0;
  route::Endpoint addr;  // its source address: the only one its DMRD and RPTL are accepted from
  char slots = '3';      // RPTC slots character: '1', '2' or '3'
  std::string options;   // RPTO options string applied at start ("" = none)
  std::string callsign;  // RPTC callsign, for reports (at most 8 characters)

  bool operator==(const FixedClient&) const = default;
};

// [hbp]: the Homebrew master.
struct HbpSection {
  route::Endpoint listen{0, 62031};  // 0.0.0.0:62031
  std::string passphrase;            // empty + allow_null_passphrase: any RPTK is accepted
  bool allow_null_passphrase = true;
  uint32_t max_clients = 10000;
  uint32_t ping_time_s = 10;
  uint32_t max_missed = 3;
  uint32_t group_hangtime_s = 5;
  double default_ua_timer_min = 10;  // 0 = never time out; fractions allowed (0.5 = 30 s)
  bool single_mode = true;
  route::ActivateOn activate_on = route::ActivateOn::kStart;
  // Login rate limit per source IP: more than login_burst RPTL within login_window_s blocks the
  // address for login_block_s (its datagrams are dropped unanswered).
  uint32_t login_burst = 20;
  uint32_t login_window_s = 60;
  uint32_t login_block_s = 300;
  // Stream timers (hub-wide: they apply to peer streams too).
  uint32_t stream_timeout_ms = 360;  // same-TG collision window after a call
  uint32_t stream_lost_s = 5;        // silence that ends a stream without terminator
  uint32_t stream_forget_s = 10;     // how long an ended stream ID is remembered (loops)
  uint32_t max_stream_age_s = 180;   // a longer transmission is cut
  // Rate limit per stream: more than rate_limit_after_packets packets and over rate_limit_pps.
  uint32_t rate_limit_after_packets = 18;
  uint32_t rate_limit_pps = 25;
  std::vector<StaticTgs> statics;          // [[hbp.static]], at most one entry per client
  std::vector<FixedClient> fixed_clients;  // [[hbp.fixed_client]], unique IDs and addresses
};

// [acl]: global access lists (PROTOCOL.md §3.9), FreeDMR defaults.
struct AclSection {
  route::Acl reg = route::Acl::PermitAll();       // login (REG_ACL), IDs 1..2^32-1
  route::Acl sub = *route::Acl::Parse("DENY:1");  // rf_src (SUB_ACL)
  route::Acl tg[2] = {route::Acl::PermitAll(), route::Acl::PermitAll()};  // TGID_TS1/TS2_ACL
};

// [[obp]]: one OpenBridge (v1) or FreeBridge (v5) peer.
struct ObpPeer {
  std::string name;  // unique; 1..64 of [A-Za-z0-9._-]
  route::Endpoint listen;
  route::Endpoint target;
  uint32_t network_id = 0;
  std::string passphrase;  // 1..20 bytes (the key is the NUL-padded 20-byte passphrase)
  uint8_t version = 5;     // 1 = classic OBP (HMAC-SHA1), 5 = FBP DMRE (BLAKE2b)
  route::PeerIdMode id_mode = route::PeerIdMode::kFreeDmr;
  bool relax_checks = true;
  bool relay = true;  // default: true for version 5, false for version 1
  bool use_acl = false;
  route::Acl sub_acl = *route::Acl::Parse("DENY:1");
  route::Acl tgid_acl = route::Acl::PermitAll();
  uint32_t keepalive_s = 10;      // BCKA period (v5)
  uint32_t dead_after_s = 60;     // no BCKA or traffic this long: the peer is dead (v5)
  uint32_t bcve_interval_s = 60;  // at most one BCVE per this period
  // Derived: index into HubConfig::obp_listeners, and whether other peers share that listener
  // (they are told apart by source address, i.e. their target endpoint).
  uint32_t listener = 0;
  bool shared_listen = false;
};

// [dpdk]: required when mode is dpdk or afxdp.
struct DpdkSection {
  bool present = false;
  std::vector<std::string> eal_args;
  uint32_t address = 0;  // IPv4, host byte order
  uint32_t tx_port = 0;  // position (among the probed ports) of the port egress leaves by
  // Next hop for destinations whose MAC was never learned (a router in front of the hub, or a
  // replayed load whose listeners never send): used instead of ARP when set.
  bool has_gateway_mac = false;
  std::array<uint8_t, 6> gateway_mac{};
};

// [fbp]
struct FbpSection {
  uint32_t max_hops = 10;  // 1..255
  uint32_t max_age_s = 5;  // DMRE older than this is dropped (+ BCSQ)
};

struct HubConfig {
  std::string source;  // file name (or source_name) the configuration came from
  HubSection hub;
  HbpSection hbp;
  AclSection acl;
  std::vector<ObpPeer> obp;
  DpdkSection dpdk;
  FbpSection fbp;
  // Derived: the distinct OBP listen endpoints in order of first appearance.
  std::vector<route::Endpoint> obp_listeners;
};

// Reads and validates `path`. Errors name the file.
absl::StatusOr<HubConfig> LoadConfigFile(const std::string& path);
// Parses TOML text; `source_name` prefixes error messages (normally the file name).
absl::StatusOr<HubConfig> ParseConfig(std::string_view toml_text, std::string_view source_name);
// The embedded default configuration (docs/config.md shows it verbatim).
std::string_view DefaultConfigToml();

// The routing core's view of the configuration.
route::HubPolicy MakeHubPolicy(const HubConfig& config);
// One PeerSpec per [[obp]] entry, in configuration order (peer index = position).
std::vector<route::PeerSpec> MakePeerSpecs(const HubConfig& config);

// True if going from `old` to `next` needs a restart (mode, shards, sockets, sizing, DPDK); `why`
// (optional) then lists the keys that differ. Everything else is applied by a reload.
bool RequiresRestart(const HubConfig& old, const HubConfig& next, std::string* why);

// "a.b.c.d:port" for messages and logs.
std::string FormatEndpoint(const route::Endpoint& e);
std::string FormatIpv4(uint32_t ip);
std::string_view HubModeName(HubMode m);
std::string_view ControlPlaneModeName(ControlPlaneMode m);
// The EAL --file-prefix that dmrswitch-dp and dmrswitch-cp share in separate mode: the one in
// dpdk.eal_args (dpdk mode) or hub.runtime_name.
std::string EalFilePrefix(const HubConfig& config);
// The control socket dmrswitch-ctl talks to ("" = none), hub.ctl_socket or its default.
std::string CtlSocketPath(const HubConfig& config);
std::string_view SteeringName(Steering s);

}  // namespace dmrswitch::cp
