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

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "ctrlplane/config/keys.h"
#include "dataplane/route/acl.h"
#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/types.h"

namespace dmrswitch::cp {

enum class HubMode : uint8_t { kKernel, kDpdk, kAfXdp };
enum class ControlPlaneMode : uint8_t { kHosted, kSeparate };
// Kernel mode: how datagrams reach their shard. kAuto tries the BPF reuseport program and falls
// back to user-space steering.
enum class Steering : uint8_t { kAuto, kBpf, kUserspace };

// The TOML spellings of the enums (their keys' `choices` list the same names; a test checks).
template <typename E>
using EnumNames = std::span<const std::pair<std::string_view, E>>;
inline constexpr std::pair<std::string_view, HubMode> kHubModeNames[] = {
    {"kernel", HubMode::kKernel}, {"dpdk", HubMode::kDpdk}, {"afxdp", HubMode::kAfXdp}};
inline constexpr std::pair<std::string_view, ControlPlaneMode> kControlPlaneNames[] = {
    {"hosted", ControlPlaneMode::kHosted}, {"separate", ControlPlaneMode::kSeparate}};
inline constexpr std::pair<std::string_view, Steering> kSteeringNames[] = {
    {"auto", Steering::kAuto}, {"bpf", Steering::kBpf}, {"userspace", Steering::kUserspace}};
inline constexpr std::pair<std::string_view, route::ActivateOn> kActivateOnNames[] = {
    {"start", route::ActivateOn::kStart}, {"end", route::ActivateOn::kEnd}};
inline constexpr std::pair<std::string_view, route::PeerIdMode> kIdModeNames[] = {
    {"freedmr", route::PeerIdMode::kFreeDmr}, {"hblink3", route::PeerIdMode::kHblink3}};
// [xdp] attach: how the shield goes onto the interface (kernel mode; in afxdp mode DPDK attaches).
enum class XdpAttach : uint8_t { kAuto, kNative, kGeneric };
inline constexpr std::pair<std::string_view, XdpAttach> kXdpAttachNames[] = {
    {"auto", XdpAttach::kAuto}, {"native", XdpAttach::kNative}, {"generic", XdpAttach::kGeneric}};

// The value of enum key `k`'s default (a key whose default names no value does not compile).
template <typename E, size_t N>
consteval E EnumDefault(const ConfigKey& k, const std::pair<std::string_view, E> (&names)[N]) {
  for (const auto& [name, value] : names) {
    if (name == k.text_default) return value;
  }
  throw "the key's default is not one of the enum's names";
}
// Defaults of the other kinds of key, parsed from the table's text (tests check they parse).
route::Acl DefaultAcl(const ConfigKey& k);
route::Endpoint DefaultEndpoint(const ConfigKey& k);

// [hub]
struct HubSection {
  uint32_t server_id = keys::kHubServerId.u32_default();  // required (non-zero) with peers
  HubMode mode = EnumDefault(keys::kHubMode, kHubModeNames);
  uint32_t shards = keys::kHubShards.u32_default();
  ControlPlaneMode control_plane = EnumDefault(keys::kHubControlPlane, kControlPlaneNames);
  Steering steering = EnumDefault(keys::kHubSteering, kSteeringNames);
  uint32_t status_interval_s = keys::kHubStatusIntervalS.u32_default();
  uint32_t stream_capacity = keys::kHubStreamCapacity.u32_default();      // per shard
  uint32_t parrot_recordings = keys::kHubParrotRecordings.u32_default();  // per shard
  uint32_t parrot_max_s = keys::kHubParrotMaxS.u32_default();
  uint32_t snapshot_arena_mb = keys::kHubSnapshotArenaMb.u32_default();  // 0: from max_clients
  std::string log_level{keys::kHubLogLevel.text_default};                // spdlog level names
  // control_plane = "separate": the name the dp and the cp share (the EAL --file-prefix, unless
  // dpdk.eal_args has one). Two hubs on one box need two names.
  std::string runtime_name{keys::kHubRuntimeName.text_default};
  // Unix socket of dmrswitch-ctl (drain, resume, status). "" = the default: in separate mode
  // /run/dmrswitch/<EalFilePrefix>.sock (the runtime name), in hosted mode none.
  std::string run_dir{keys::kHubRunDir.text_default};
  std::string ctl_socket{keys::kHubCtlSocket.text_default};
};

// [[hbp.static]]: server-side static TGs of one client.
struct StaticTgs {
  uint32_t client = 0;          // required
  std::vector<uint32_t> ts[2];  // by timeslot index (route::kTs1, route::kTs2)
  bool operator==(const StaticTgs&) const = default;
};

// [[hbp.fixed_client]]: a client that is logged in from the hub's start, at a fixed address, as
// if it had completed RPTL/RPTK/RPTC (and RPTO with `options`), and is never dropped for missing
// keepalives (a repeater behind a fixed link, or a pcap load generator that cannot log in).
struct FixedClient {
  uint32_t id = 0;       // required
  route::Endpoint addr;  // required: the only address its DMRD and RPTL are accepted from
  char slots = static_cast<char>('0' + keys::kFixedSlots.int_default);  // RPTC slots character
  std::string options{keys::kFixedOptions.text_default};    // RPTO options applied at start
  std::string callsign{keys::kFixedCallsign.text_default};  // RPTC callsign, for reports

  bool operator==(const FixedClient&) const = default;
};

// [hbp]: the Homebrew master.
struct HbpSection {
  route::Endpoint listen = DefaultEndpoint(keys::kHbpListen);
  std::string passphrase{keys::kHbpPassphrase.text_default};  // empty + allow_null: any RPTK
  bool allow_null_passphrase = keys::kHbpAllowNullPassphrase.bool_default;
  bool passphrase_set = false;  // the file names hbp.passphrase (even as "")
  uint32_t max_clients = keys::kHbpMaxClients.u32_default();
  uint32_t ping_time_s = keys::kHbpPingTimeS.u32_default();
  uint32_t max_missed = keys::kHbpMaxMissed.u32_default();
  uint32_t group_hangtime_s = keys::kHbpGroupHangtimeS.u32_default();
  // 0 = never time out; fractions allowed (0.5 = 30 s)
  double default_ua_timer_min = keys::kHbpDefaultUaTimerMin.number_default;
  bool single_mode = keys::kHbpSingleMode.bool_default;
  route::ActivateOn activate_on = EnumDefault(keys::kHbpActivateOn, kActivateOnNames);
  // Login rate limit per source IP: more than login_burst RPTL within login_window_s blocks the
  // address for login_block_s (its datagrams are dropped unanswered).
  uint32_t login_burst = keys::kHbpLoginBurst.u32_default();
  uint32_t login_window_s = keys::kHbpLoginWindowS.u32_default();
  uint32_t login_block_s = keys::kHbpLoginBlockS.u32_default();
  // Stream timers (hub-wide: they apply to peer streams too).
  uint32_t stream_timeout_ms = keys::kHbpStreamTimeoutMs.u32_default();  // collision window
  uint32_t stream_lost_s = keys::kHbpStreamLostS.u32_default();          // silence ends a stream
  uint32_t stream_forget_s = keys::kHbpStreamForgetS.u32_default();      // ended IDs remembered
  uint32_t max_stream_age_s = keys::kHbpMaxStreamAgeS.u32_default();     // longer ones are cut
  // Rate limit per stream: more than rate_limit_after_packets packets and over rate_limit_pps.
  uint32_t rate_limit_after_packets = keys::kHbpRateLimitAfterPackets.u32_default();
  uint32_t rate_limit_pps = keys::kHbpRateLimitPps.u32_default();
  std::vector<StaticTgs> statics;          // [[hbp.static]], at most one entry per client
  std::vector<FixedClient> fixed_clients;  // [[hbp.fixed_client]], unique IDs and addresses
};

// [acl]: global access lists (PROTOCOL.md §3.9), FreeDMR defaults.
struct AclSection {
  route::Acl reg = DefaultAcl(keys::kAclReg);  // login (REG_ACL), IDs 1..2^32-1
  route::Acl sub = DefaultAcl(keys::kAclSub);  // rf_src (SUB_ACL)
  route::Acl tg[2] = {DefaultAcl(keys::kAclTgTs1), DefaultAcl(keys::kAclTgTs2)};  // by timeslot
};

// [[obp]]: one OpenBridge (v1) or FreeBridge (v5) peer.
struct ObpPeer {
  std::string name;         // required, unique; 1..64 of [A-Za-z0-9._-]
  route::Endpoint listen;   // required
  route::Endpoint target;   // required
  uint32_t network_id = 0;  // required
  std::string passphrase;   // required: 1..20 bytes (the key is the NUL-padded passphrase)
  uint8_t version = static_cast<uint8_t>(keys::kObpVersion.int_default);  // 1 = OBP, 5 = FBP
  route::PeerIdMode id_mode = EnumDefault(keys::kObpIdMode, kIdModeNames);
  bool relax_checks = keys::kObpRelaxChecks.bool_default;
  bool relay = true;  // keys::kObpRelay: follows the version unless set (ReadObp)
  bool use_acl = keys::kObpUseAcl.bool_default;
  route::Acl sub_acl = DefaultAcl(keys::kObpSubAcl);
  route::Acl tgid_acl = DefaultAcl(keys::kObpTgidAcl);
  uint32_t keepalive_s = keys::kObpKeepaliveS.u32_default();         // BCKA period (v5)
  uint32_t dead_after_s = keys::kObpDeadAfterS.u32_default();        // silent: dead (v5)
  uint32_t bcve_interval_s = keys::kObpBcveIntervalS.u32_default();  // BCVE at most this often
  // Derived: index into HubConfig::obp_listeners, and whether other peers share that listener
  // (they are told apart by source address, i.e. their target endpoint).
  uint32_t listener = 0;
  bool shared_listen = false;
};

// [dpdk]: required when mode is dpdk or afxdp.
struct DpdkSection {
  bool present = false;
  std::vector<std::string> eal_args;
  uint32_t address = 0;  // IPv4, host byte order; required in dpdk/afxdp mode
  // IPv6 (dpdk mode): the data plane also serves IPv6 clients and peers on this address.
  bool has_address6 = false;
  std::array<uint8_t, 16> address6{};
  uint32_t tx_port = keys::kDpdkTxPort.u32_default();  // position among the probed ports
  // Ports take frames for every MAC (the dp drops what is not its own in software).
  bool promiscuous = keys::kDpdkPromiscuous.bool_default;
  // Next hop for destinations whose MAC was never learned (a router in front of the hub, or a
  // replayed load whose listeners never send): used instead of ARP when set.
  bool has_gateway_mac = false;
  std::array<uint8_t, 6> gateway_mac{};
};

// A source the XDP shield never rate-limits: an IPv4 address and a UDP port (0 = every port).
struct XdpSource {
  uint32_t ip = 0;  // host byte order
  uint16_t port = 0;
  bool v6 = false;  // an IPv6 source (a configured peer's address): ip6, ip unused
  std::array<uint8_t, 16> ip6{};
  bool operator==(const XdpSource&) const = default;
};

// [xdp]: the XDP shield (docs/ebpf.md). Kernel mode: optional; afxdp mode: required.
struct XdpSection {
  std::string interface { keys::kXdpInterface.text_default };  // "" = no shield
  XdpAttach attach = EnumDefault(keys::kXdpAttach, kXdpAttachNames);
  uint32_t source_pps = keys::kXdpSourcePps.u32_default();  // 0 = no rate limit
  uint32_t source_burst = keys::kXdpSourceBurst.u32_default();
  // IPv6 sources share a bucket per prefix of this many bits (and source port).
  uint32_t source_prefix6 = keys::kXdpSourcePrefix6.u32_default();
  // Beyond the [[obp]] targets, which are always exempt.
  std::vector<XdpSource> exempt;
};

// [fbp]
struct FbpSection {
  uint32_t max_hops = keys::kFbpMaxHops.u32_default();
  uint32_t max_age_s = keys::kFbpMaxAgeS.u32_default();  // older DMRE is dropped (+ BCSQ)
};

// [report]: the operator surfaces (docs/reporting.md). Addresses are canonical "a.b.c.d:port"
// strings, "" when the surface is off.
struct ReportSection {
  std::string http{keys::kReportHttp.text_default};             // /metrics, /api/v1/...
  std::string feed{keys::kReportFeed.text_default};             // HBlink/FreeDMR report socket
  std::string feed_json{keys::kReportFeedJson.text_default};    // HBlink3 v3 NDJSON feed
  std::string mqtt{keys::kReportMqtt.text_default};             // broker
  std::string mqtt_topic{keys::kReportMqttTopic.text_default};  // "{server_id}" is replaced
  std::string mqtt_username{keys::kReportMqttUsername.text_default};
  std::string mqtt_password_file{keys::kReportMqttPasswordFile.text_default};
  bool mqtt_bm_session = keys::kReportMqttBmSession.bool_default;
  uint32_t feed_systems = keys::kReportFeedSystems.u32_default();
  uint32_t feed_max_message = keys::kReportFeedMaxMessage.u32_default();
  uint32_t feed_max_connections = keys::kReportFeedMaxConnections.u32_default();
  uint32_t lastheard_size = keys::kReportLastheardSize.u32_default();
  uint32_t talkgroups_size = keys::kReportTalkgroupsSize.u32_default();
  std::string api_token_file{keys::kReportApiTokenFile.text_default};
  std::string api_options_file{keys::kReportApiOptionsFile.text_default};
  bool operator==(const ReportSection&) const = default;
};

struct HubConfig {
  std::string source;  // file name (or source_name) the configuration came from
  HubSection hub;
  HbpSection hbp;
  AclSection acl;
  std::vector<ObpPeer> obp;
  DpdkSection dpdk;
  XdpSection xdp;
  FbpSection fbp;
  ReportSection report;
  // Derived: the distinct OBP listen endpoints in order of first appearance.
  std::vector<route::Endpoint> obp_listeners;
};

// Reads and validates `path`. Errors name the file.
absl::StatusOr<HubConfig> LoadConfigFile(const std::string& path);
// Parses TOML text; `source_name` prefixes error messages (normally the file name).
absl::StatusOr<HubConfig> ParseConfig(std::string_view toml_text, std::string_view source_name);
// The same, recording every key path the parser asked for in `keys_read` (tests check them
// against the key table).
absl::StatusOr<HubConfig> ParseConfig(std::string_view toml_text, std::string_view source_name,
                                      std::vector<std::string>* keys_read);
// The embedded default configuration (docs/config.md shows it verbatim).
std::string_view DefaultConfigToml();

// The routing core's view of the configuration.
route::HubPolicy MakeHubPolicy(const HubConfig& config);
// The packet plane's listeners as the configuration names them: route::kHbpListener (hbp.listen),
// then the distinct [[obp]] listen addresses in order of first appearance.
std::vector<route::Endpoint> ConfigListeners(const HubConfig& config);
// The listener of a peer's listen address: its index in `listeners` (the packet plane's, as
// configured at its start), or route::kNoListener.
uint32_t PeerListener(const ObpPeer& peer, std::span<const route::Endpoint> listeners);

// Whether a kernel-mode listener can send to and receive from `remote`: the same family, or [::]
// (dual-stack).
inline bool ListenerReaches(const route::Endpoint& listen, const route::Endpoint& remote) {
  return listen.v6 == remote.v6 || (listen.v6 && listen.any_address());
}
// One PeerSpec per [[obp]] entry, in configuration order (peer index = position), each on the
// listener of `listeners` that serves its listen address (default: ConfigListeners(config)).
std::vector<route::PeerSpec> MakePeerSpecs(const HubConfig& config);
std::vector<route::PeerSpec> MakePeerSpecs(const HubConfig& config,
                                           std::span<const route::Endpoint> listeners);

// "a.b.c.d:port" for messages and logs.
std::string FormatEndpoint(const route::Endpoint& e);      // "a.b.c.d:port", "[ipv6]:port"
std::string FormatIpv6(const std::array<uint8_t, 16>& a);  // "2001:db8::1"
// The address alone: "a.b.c.d" or the IPv6 text form (RFC 5952).
std::string FormatAddress(const route::Endpoint& e);
std::string FormatIpv4(uint32_t ip);
std::string_view HubModeName(HubMode m);
std::string_view ControlPlaneModeName(ControlPlaneMode m);
// The EAL --file-prefix that dmrswitch-dp and dmrswitch-cp share in separate mode: the one in
// dpdk.eal_args (dpdk mode) or hub.runtime_name.
std::string EalFilePrefix(const HubConfig& config);
// Where the hub's lock files (one hub per runtime name and listening address) and its default
// control socket live: hub.run_dir, or DefaultRunDir.
std::string RunDir(const HubConfig& config);
// The system run directory, which the systemd unit creates for the service user.
inline constexpr char kSystemRunDir[] = "/run/dmrswitch";
// /run/dmrswitch for root and for any user who may enter it (the service user and its group,
// when the system service's directory exists); otherwise $XDG_RUNTIME_DIR/dmrswitch, else
// /tmp/dmrswitch-<uid>.
std::string DefaultRunDir(uid_t euid, bool system_run_dir_enterable, const char* xdg_runtime_dir);
// The control socket dmrswitch-ctl talks to ("" = none), hub.ctl_socket or its default.
std::string CtlSocketPath(const HubConfig& config);
// Where the JSON API keeps the options it set: report.api_options_file, or
// <run dir>/<EAL file prefix>.api-options.json.
std::string ApiOptionsPath(const HubConfig& config);
std::string_view SteeringName(Steering s);
// The sources the XDP shield never rate-limits: every [[obp]] target's address (any port: an FBP
// peer's source port may differ from its target port), then xdp.exempt.
std::vector<XdpSource> ShieldExemptSources(const HubConfig& config);
// "a.b.c.d" or "a.b.c.d:port" (port 0 = any).
std::string FormatXdpSource(const XdpSource& s);

}  // namespace dmrswitch::cp
