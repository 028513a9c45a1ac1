// The configuration key table: every key of the hub's TOML file declared once — its type, range,
// default, reload class and, for keys a reload applies, the component that applies it
// (../shared/docs/CONFIG.md is the contract, docs/config.md the reference).
//
// Everything else follows from this table and is checked against it by tests:
//  * the defaults of HubConfig's fields are these (config.h initialises from them; there is no
//    second default anywhere);
//  * the parser reads each key with the range and requiredness declared here, and a test parses
//    a file that sets every key and checks that the parser reads exactly the keys of this table;
//  * docs/config.md shows each key's type, default and reload class as TypeText(), DefaultText()
//    and ReloadText() print them (a test compares, `dmrswitch-dp --print-config-keys` prints
//    them);
//  * a reload applies every live key through its Applier and keeps every restart key, and a test
//    changes every key at once and checks which value each one ends up with (reload.h).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace dmrswitch::cp {

// What a configuration reload (SIGHUP, `dmrswitch-ctl reload`) does with a changed key.
enum class ReloadClass : uint8_t {
  kLive,     // applied at once, without dropping a live stream
  kRestart,  // kept at its running value until the hub restarts (the reload says so)
};

// The control-plane component that applies a live key. Each applies its keys from the whole new
// configuration; every reload that changes a live key also publishes a new routing snapshot.
enum class Applier : uint8_t {
  kNone,           // restart keys
  kLogging,        // log level of the control plane and the packet plane
  kStatus,         // status reporting
  kPolicy,         // the routing snapshot's HubPolicy: stream timers, ACLs, rate limits, ...
  kLogin,          // HBP login: passphrase, REG ACL, login rate limit
  kSubscriptions,  // statics and subscription defaults
  kPeers,          // OpenBridge/FBP peers and their links
  kShield,         // the XDP shield's rate and exempt sources (its pinned maps)
  kReport,         // the operator surfaces ([report]): restarts those whose keys changed
};

enum class KeyType : uint8_t {
  kInteger,     // TOML integer in [min, max]
  kNumber,      // TOML integer or float in [min, max]
  kBoolean,     // true | false
  kString,      // any string unless type_note says otherwise
  kEnum,        // one of `choices` ("a|b|c")
  kListener,    // "a.b.c.d:port" or "[ipv6]:port", a local address, 0.0.0.0 or [::]
  kTarget,      // "a.b.c.d:port" or "[ipv6]:port", a unicast address
  kIpv4,        // "a.b.c.d", unicast
  kIpv6,        // an IPv6 address (RFC 4291 text form, no brackets), global or unique-local unicast
  kMac,         // "aa:bb:cc:dd:ee:ff", unicast
  kAcl,         // FreeDMR ACL string
  kTgList,      // array of talkgroup numbers
  kStringList,  // array of strings
};

struct ConfigKey {
  // Dotted path; the elements of an array of tables are written "obp[].name".
  std::string_view path;
  KeyType type;
  int64_t min = 0;  // kInteger, kNumber
  int64_t max = 0;
  std::string_view choices = {};  // kEnum: "kernel|dpdk|afxdp"
  // Documentation of the type beyond what `type` says ("1..24 of `A-Za-z0-9_-`"), or a whole
  // replacement of the Type column when it starts with '='.
  std::string_view type_note = {};
  // The default. Which member is used depends on `type`; `text_default` is the TOML spelling for
  // strings, enums, addresses and ACLs ("" for an empty string).
  int64_t int_default = 0;
  double number_default = 0;
  bool bool_default = false;
  std::string_view text_default = {};
  bool required = false;
  // Replaces the Default column's text where a default is not one value ("`true` for version 5").
  std::string_view default_note = {};
  ReloadClass reload = ReloadClass::kLive;
  Applier applier = Applier::kNone;
  std::string_view reload_note = {};  // after "live"/"restart": "(next login)"
  // A secret (passphrase, key): compared on reload, never written to any output.
  bool secret = false;

  // The key's own name: the last path component ("ping_time_s").
  constexpr std::string_view name() const { return path.substr(path.rfind('.') + 1); }
  constexpr uint32_t u32_default() const { return static_cast<uint32_t>(int_default); }
};

namespace keys {

using enum KeyType;
constexpr ReloadClass kLive = ReloadClass::kLive;
constexpr ReloadClass kRestart = ReloadClass::kRestart;
constexpr int64_t kU32Max = 0xFFFFFFFF;

// --- [hub] ---------------------------------------------------------------------------------------
inline constexpr ConfigKey kHubServerId{.path = "hub.server_id",
                                        .type = kInteger,
                                        .min = 0,
                                        .max = kU32Max,
                                        .int_default = 0,
                                        .applier = Applier::kPolicy};
inline constexpr ConfigKey kHubMode{.path = "hub.mode",
                                    .type = kEnum,
                                    .choices = "kernel|dpdk|afxdp",
                                    .text_default = "kernel",
                                    .reload = kRestart};
inline constexpr ConfigKey kHubShards{.path = "hub.shards",
                                      .type = kInteger,
                                      .min = 1,
                                      .max = 64,
                                      .int_default = 2,
                                      .reload = kRestart};
inline constexpr ConfigKey kHubControlPlane{.path = "hub.control_plane",
                                            .type = kEnum,
                                            .choices = "hosted|separate",
                                            .text_default = "hosted",
                                            .reload = kRestart};
inline constexpr ConfigKey kHubSteering{.path = "hub.steering",
                                        .type = kEnum,
                                        .choices = "auto|bpf|userspace",
                                        .text_default = "auto",
                                        .reload = kRestart};
inline constexpr ConfigKey kHubStatusIntervalS{.path = "hub.status_interval_s",
                                               .type = kInteger,
                                               .min = 1,
                                               .max = 3600,
                                               .int_default = 5,
                                               .applier = Applier::kStatus};
inline constexpr ConfigKey kHubStreamCapacity{.path = "hub.stream_capacity",
                                              .type = kInteger,
                                              .min = 64,
                                              .max = 4194304,
                                              .int_default = 16384,
                                              .reload = kRestart};
inline constexpr ConfigKey kHubParrotRecordings{.path = "hub.parrot_recordings",
                                                .type = kInteger,
                                                .min = 0,
                                                .max = 4096,
                                                .int_default = 8,
                                                .reload = kRestart};
inline constexpr ConfigKey kHubParrotMaxS{.path = "hub.parrot_max_s",
                                          .type = kInteger,
                                          .min = 1,
                                          .max = 60,
                                          .int_default = 60,
                                          .reload = kRestart};
// Separate control plane only: the memzone dmrswitch-cp builds routing snapshots in
// (ctrlplane/snapshot_memory.h). 0: sized from hbp.max_clients.
inline constexpr ConfigKey kHubSnapshotArenaMb{.path = "hub.snapshot_arena_mb",
                                               .type = kInteger,
                                               .min = 0,
                                               .max = 65536,
                                               .int_default = 0,
                                               .reload = kRestart};
inline constexpr ConfigKey kHubLogLevel{.path = "hub.log_level",
                                        .type = kEnum,
                                        .choices = "trace|debug|info|warn|error|critical|off",
                                        .text_default = "info",
                                        .applier = Applier::kLogging};
inline constexpr ConfigKey kHubRuntimeName{.path = "hub.runtime_name",
                                           .type = kString,
                                           .type_note = "1..24 of `A-Za-z0-9_-`",
                                           .text_default = "dmrswitch",
                                           .reload = kRestart};
inline constexpr ConfigKey kHubRunDir{.path = "hub.run_dir",
                                      .type = kString,
                                      .type_note = "=path",
                                      .text_default = "",
                                      .reload = kRestart};
inline constexpr ConfigKey kHubCtlSocket{.path = "hub.ctl_socket",
                                         .type = kString,
                                         .type_note = "=path (< 100 bytes)",
                                         .text_default = "",
                                         .reload = kRestart};

// --- [hbp] ---------------------------------------------------------------------------------------
// Loopback unless the operator names an address: a configuration that says nothing serves
// nobody on the internet.
inline constexpr ConfigKey kHbpListen{
    .path = "hbp.listen", .type = kListener, .text_default = "127.0.0.1:62031", .reload = kRestart};
inline constexpr ConfigKey kHbpPassphrase{.path = "hbp.passphrase",
                                          .type = kString,
                                          .text_default = "",
                                          .applier = Applier::kLogin,
                                          .reload_note = "(next login)",
                                          .secret = true};
inline constexpr ConfigKey kHbpAllowNullPassphrase{.path = "hbp.allow_null_passphrase",
                                                   .type = kBoolean,
                                                   .bool_default = false,
                                                   .applier = Applier::kLogin};
inline constexpr ConfigKey kHbpMaxClients{.path = "hbp.max_clients",
                                          .type = kInteger,
                                          .min = 1,
                                          .max = 1048576,
                                          .int_default = 10000,
                                          .reload = kRestart};
inline constexpr ConfigKey kHbpPingTimeS{.path = "hbp.ping_time_s",
                                         .type = kInteger,
                                         .min = 1,
                                         .max = 3600,
                                         .int_default = 10,
                                         .applier = Applier::kPolicy};
inline constexpr ConfigKey kHbpMaxMissed{.path = "hbp.max_missed",
                                         .type = kInteger,
                                         .min = 1,
                                         .max = 100,
                                         .int_default = 3,
                                         .applier = Applier::kPolicy};
inline constexpr ConfigKey kHbpGroupHangtimeS{.path = "hbp.group_hangtime_s",
                                              .type = kInteger,
                                              .min = 0,
                                              .max = 600,
                                              .int_default = 5,
                                              .applier = Applier::kPolicy};
inline constexpr ConfigKey kHbpDefaultUaTimerMin{.path = "hbp.default_ua_timer_min",
                                                 .type = kNumber,
                                                 .min = 0,
                                                 .max = 35791394,
                                                 .number_default = 10,
                                                 .applier = Applier::kSubscriptions,
                                                 .reload_note = "(new activations)"};
inline constexpr ConfigKey kHbpSingleMode{.path = "hbp.single_mode",
                                          .type = kBoolean,
                                          .bool_default = true,
                                          .applier = Applier::kSubscriptions};
inline constexpr ConfigKey kHbpActivateOn{.path = "hbp.activate_on",
                                          .type = kEnum,
                                          .choices = "start|end",
                                          .text_default = "start",
                                          .applier = Applier::kSubscriptions};
inline constexpr ConfigKey kHbpLoginBurst{.path = "hbp.login_burst",
                                          .type = kInteger,
                                          .min = 0,
                                          .max = 100000,
                                          .int_default = 20,
                                          .applier = Applier::kLogin};
inline constexpr ConfigKey kHbpLoginWindowS{.path = "hbp.login_window_s",
                                            .type = kInteger,
                                            .min = 1,
                                            .max = 86400,
                                            .int_default = 60,
                                            .applier = Applier::kLogin};
inline constexpr ConfigKey kHbpLoginBlockS{.path = "hbp.login_block_s",
                                           .type = kInteger,
                                           .min = 1,
                                           .max = 86400,
                                           .int_default = 300,
                                           .applier = Applier::kLogin};
inline constexpr ConfigKey kHbpStreamTimeoutMs{.path = "hbp.stream_timeout_ms",
                                               .type = kInteger,
                                               .min = 0,
                                               .max = 10000,
                                               .int_default = 360,
                                               .applier = Applier::kPolicy};
inline constexpr ConfigKey kHbpStreamLostS{.path = "hbp.stream_lost_s",
                                           .type = kInteger,
                                           .min = 1,
                                           .max = 60,
                                           .int_default = 5,
                                           .applier = Applier::kPolicy};
inline constexpr ConfigKey kHbpStreamForgetS{.path = "hbp.stream_forget_s",
                                             .type = kInteger,
                                             .min = 1,
                                             .max = 3600,
                                             .int_default = 10,
                                             .applier = Applier::kPolicy};
inline constexpr ConfigKey kHbpMaxStreamAgeS{.path = "hbp.max_stream_age_s",
                                             .type = kInteger,
                                             .min = 1,
                                             .max = 86400,
                                             .int_default = 180,
                                             .applier = Applier::kPolicy};
inline constexpr ConfigKey kHbpRateLimitAfterPackets{.path = "hbp.rate_limit_after_packets",
                                                     .type = kInteger,
                                                     .min = 0,
                                                     .max = 1000000,
                                                     .int_default = 18,
                                                     .applier = Applier::kPolicy};
inline constexpr ConfigKey kHbpRateLimitPps{.path = "hbp.rate_limit_pps",
                                            .type = kInteger,
                                            .min = 1,
                                            .max = 1000000,
                                            .int_default = 25,
                                            .applier = Applier::kPolicy};

// --- [[hbp.static]] ------------------------------------------------------------------------------
inline constexpr ConfigKey kStaticClient{.path = "hbp.static[].client",
                                         .type = kInteger,
                                         .min = 1,
                                         .max = kU32Max,
                                         .required = true,
                                         .applier = Applier::kSubscriptions};
inline constexpr ConfigKey kStaticTs1{
    .path = "hbp.static[].ts1", .type = kTgList, .applier = Applier::kSubscriptions};
inline constexpr ConfigKey kStaticTs2{
    .path = "hbp.static[].ts2", .type = kTgList, .applier = Applier::kSubscriptions};

// --- [[hbp.fixed_client]] ------------------------------------------------------------------------
// 0xFFFFFFFF is the status-probe ID of RPTL, never a client.
inline constexpr ConfigKey kFixedId{.path = "hbp.fixed_client[].id",
                                    .type = kInteger,
                                    .min = 1,
                                    .max = kU32Max - 1,
                                    .required = true,
                                    .reload = kRestart};
inline constexpr ConfigKey kFixedAddress{
    .path = "hbp.fixed_client[].address", .type = kTarget, .required = true, .reload = kRestart};
inline constexpr ConfigKey kFixedSlots{.path = "hbp.fixed_client[].slots",
                                       .type = kInteger,
                                       .min = 1,
                                       .max = 3,
                                       .int_default = 3,
                                       .reload = kRestart};
// Secret: an options string may carry the client's KEY=.
inline constexpr ConfigKey kFixedOptions{.path = "hbp.fixed_client[].options",
                                         .type = kString,
                                         .type_note = "at most 300 bytes",
                                         .text_default = "",
                                         .reload = kRestart,
                                         .secret = true};
inline constexpr ConfigKey kFixedCallsign{.path = "hbp.fixed_client[].callsign",
                                          .type = kString,
                                          .type_note = "at most 8 printable ASCII characters",
                                          .text_default = "",
                                          .reload = kRestart};

// --- [acl] ---------------------------------------------------------------------------------------
inline constexpr ConfigKey kAclReg{.path = "acl.reg",
                                   .type = kAcl,
                                   .type_note = "IDs 1..4294967295",
                                   .text_default = "PERMIT:ALL",
                                   .applier = Applier::kLogin,
                                   .reload_note = "(next login)"};
inline constexpr ConfigKey kAclSub{
    .path = "acl.sub", .type = kAcl, .text_default = "DENY:1", .applier = Applier::kPolicy};
inline constexpr ConfigKey kAclTgTs1{
    .path = "acl.tg_ts1", .type = kAcl, .text_default = "PERMIT:ALL", .applier = Applier::kPolicy};
inline constexpr ConfigKey kAclTgTs2{
    .path = "acl.tg_ts2", .type = kAcl, .text_default = "PERMIT:ALL", .applier = Applier::kPolicy};

// --- [[obp]] -------------------------------------------------------------------------------------
inline constexpr ConfigKey kObpName{.path = "obp[].name",
                                    .type = kString,
                                    .type_note = "1..64 of `A-Z a-z 0-9 . _ -`",
                                    .required = true,
                                    .applier = Applier::kPeers};
inline constexpr ConfigKey kObpListen{.path = "obp[].listen",
                                      .type = kListener,
                                      .required = true,
                                      .applier = Applier::kPeers,
                                      .reload_note =
                                          "(to an address the hub already listens on; "
                                          "else kept until restart)"};
inline constexpr ConfigKey kObpTarget{
    .path = "obp[].target", .type = kTarget, .required = true, .applier = Applier::kPeers};
inline constexpr ConfigKey kObpNetworkId{.path = "obp[].network_id",
                                         .type = kInteger,
                                         .min = 1,
                                         .max = kU32Max,
                                         .required = true,
                                         .applier = Applier::kPeers};
inline constexpr ConfigKey kObpPassphrase{.path = "obp[].passphrase",
                                          .type = kString,
                                          .type_note = "1..20 bytes",
                                          .required = true,
                                          .applier = Applier::kPeers,
                                          .secret = true};
inline constexpr ConfigKey kObpVersion{.path = "obp[].version",
                                       .type = kInteger,
                                       .min = 1,
                                       .max = 5,
                                       .type_note = "=`1` \\| `5`",
                                       .int_default = 5,
                                       .applier = Applier::kPeers};
inline constexpr ConfigKey kObpIdMode{.path = "obp[].id_mode",
                                      .type = kEnum,
                                      .choices = "freedmr|hblink3",
                                      .text_default = "freedmr",
                                      .applier = Applier::kPeers};
inline constexpr ConfigKey kObpRelaxChecks{.path = "obp[].relax_checks",
                                           .type = kBoolean,
                                           .bool_default = true,
                                           .applier = Applier::kPeers};
inline constexpr ConfigKey kObpRelay{.path = "obp[].relay",
                                     .type = kBoolean,
                                     .default_note = "`true` for version 5, `false` for version 1",
                                     .applier = Applier::kPeers};
inline constexpr ConfigKey kObpUseAcl{
    .path = "obp[].use_acl", .type = kBoolean, .bool_default = false, .applier = Applier::kPeers};
inline constexpr ConfigKey kObpSubAcl{
    .path = "obp[].sub_acl", .type = kAcl, .text_default = "DENY:1", .applier = Applier::kPeers};
inline constexpr ConfigKey kObpTgidAcl{.path = "obp[].tgid_acl",
                                       .type = kAcl,
                                       .text_default = "PERMIT:ALL",
                                       .applier = Applier::kPeers};
inline constexpr ConfigKey kObpKeepaliveS{.path = "obp[].keepalive_s",
                                          .type = kInteger,
                                          .min = 1,
                                          .max = 3600,
                                          .type_note = "< `dead_after_s` (version 5)",
                                          .int_default = 10,
                                          .applier = Applier::kPeers};
inline constexpr ConfigKey kObpDeadAfterS{.path = "obp[].dead_after_s",
                                          .type = kInteger,
                                          .min = 1,
                                          .max = 86400,
                                          .type_note = "> `keepalive_s`",
                                          .int_default = 60,
                                          .applier = Applier::kPeers};
inline constexpr ConfigKey kObpBcveIntervalS{.path = "obp[].bcve_interval_s",
                                             .type = kInteger,
                                             .min = 1,
                                             .max = 86400,
                                             .int_default = 60,
                                             .applier = Applier::kPeers};

// --- [dpdk] --------------------------------------------------------------------------------------
inline constexpr ConfigKey kDpdkEalArgs{
    .path = "dpdk.eal_args", .type = kStringList, .reload = kRestart};
inline constexpr ConfigKey kDpdkAddress{.path = "dpdk.address",
                                        .type = kIpv4,
                                        .default_note = "required in dpdk/afxdp mode",
                                        .reload = kRestart};
inline constexpr ConfigKey kDpdkAddress6{.path = "dpdk.address6",
                                         .type = kIpv6,
                                         .default_note = "none (IPv6 not served)",
                                         .reload = kRestart};
inline constexpr ConfigKey kDpdkGatewayMac{
    .path = "dpdk.gateway_mac", .type = kMac, .default_note = "none", .reload = kRestart};
inline constexpr ConfigKey kDpdkTxPort{.path = "dpdk.tx_port",
                                       .type = kInteger,
                                       .min = 0,
                                       .max = 31,
                                       .int_default = 0,
                                       .reload = kRestart};
inline constexpr ConfigKey kDpdkPromiscuous{
    .path = "dpdk.promiscuous", .type = kBoolean, .bool_default = false, .reload = kRestart};

// --- [xdp] ---------------------------------------------------------------------------------------
// The XDP shield (docs/ebpf.md): where it is attached is fixed for the life of the dp; what it
// lets through is the control plane's, through the shield's pinned maps.
inline constexpr ConfigKey kXdpInterface{
    .path = "xdp.interface",
    .type = kString,
    .type_note = "a network interface name (at most 15 bytes)",
    .text_default = "",
    .default_note = "`\"\"` (no shield); required in afxdp mode",
    .reload = kRestart};
inline constexpr ConfigKey kXdpAttach{.path = "xdp.attach",
                                      .type = kEnum,
                                      .choices = "auto|native|generic",
                                      .text_default = "auto",
                                      .reload = kRestart};
inline constexpr ConfigKey kXdpSourcePps{.path = "xdp.source_pps",
                                         .type = kInteger,
                                         .min = 0,
                                         .max = 1000000,
                                         .type_note = "0 = no rate limit",
                                         .int_default = 200,
                                         .applier = Applier::kShield};
inline constexpr ConfigKey kXdpSourceBurst{.path = "xdp.source_burst",
                                           .type = kInteger,
                                           .min = 1,
                                           .max = 1000000,
                                           .int_default = 400,
                                           .applier = Applier::kShield};
inline constexpr ConfigKey kXdpSourcePrefix6{.path = "xdp.source_prefix6",
                                             .type = kInteger,
                                             .min = 1,
                                             .max = 128,
                                             .int_default = 64,
                                             .applier = Applier::kShield};
inline constexpr ConfigKey kXdpExempt{.path = "xdp.exempt",
                                      .type = kStringList,
                                      .type_note = "=array of `\"a.b.c.d\"` or `\"a.b.c.d:port\"`",
                                      .applier = Applier::kShield};

// --- [fbp] ---------------------------------------------------------------------------------------
inline constexpr ConfigKey kFbpMaxHops{.path = "fbp.max_hops",
                                       .type = kInteger,
                                       .min = 1,
                                       .max = 255,
                                       .int_default = 10,
                                       .applier = Applier::kPolicy};
inline constexpr ConfigKey kFbpMaxAgeS{.path = "fbp.max_age_s",
                                       .type = kInteger,
                                       .min = 1,
                                       .max = 3600,
                                       .int_default = 5,
                                       .applier = Applier::kPolicy};

// --- [report] ------------------------------------------------------------------------------------
// The operator surfaces (docs/reporting.md). "" turns a surface off; a reload restarts the
// surfaces whose keys changed (dashboards and the broker reconnect).
inline constexpr ConfigKey kReportHttp{.path = "report.http",
                                       .type = kListener,
                                       .type_note = "=`\"a.b.c.d:port\"` \\| `\"\"` (off)",
                                       .text_default = "",
                                       .applier = Applier::kReport};
inline constexpr ConfigKey kReportFeed{.path = "report.feed",
                                       .type = kListener,
                                       .type_note = "=`\"a.b.c.d:port\"` \\| `\"\"` (off)",
                                       .text_default = "",
                                       .applier = Applier::kReport};
inline constexpr ConfigKey kReportFeedJson{.path = "report.feed_json",
                                           .type = kListener,
                                           .type_note = "=`\"a.b.c.d:port\"` \\| `\"\"` (off)",
                                           .text_default = "",
                                           .applier = Applier::kReport};
inline constexpr ConfigKey kReportMqtt{.path = "report.mqtt",
                                       .type = kString,  // a broker address, or "" (off)
                                       .type_note = "=`\"a.b.c.d:port\"` \\| `\"\"` (off)",
                                       .text_default = "",
                                       .applier = Applier::kReport};
inline constexpr ConfigKey kReportMqttTopic{.path = "report.mqtt_topic",
                                            .type = kString,
                                            .type_note = "1..128 bytes, no `#` or `+`",
                                            .text_default = "dmrswitch/{server_id}",
                                            .applier = Applier::kReport};
inline constexpr ConfigKey kReportMqttUsername{.path = "report.mqtt_username",
                                               .type = kString,
                                               .text_default = "",
                                               .applier = Applier::kReport};
inline constexpr ConfigKey kReportMqttPasswordFile{.path = "report.mqtt_password_file",
                                                   .type = kString,
                                                   .type_note = "=path",
                                                   .text_default = "",
                                                   .applier = Applier::kReport};
inline constexpr ConfigKey kReportMqttBmSession{.path = "report.mqtt_bm_session",
                                                .type = kBoolean,
                                                .bool_default = true,
                                                .applier = Applier::kReport};
inline constexpr ConfigKey kReportFeedSystems{.path = "report.feed_systems",
                                              .type = kInteger,
                                              .min = 1,
                                              .max = 10000,
                                              .int_default = 100,
                                              .applier = Applier::kReport};
inline constexpr ConfigKey kReportFeedMaxMessage{.path = "report.feed_max_message",
                                                 .type = kInteger,
                                                 .min = 4096,
                                                 .max = 500000000,
                                                 .int_default = 99999,
                                                 .applier = Applier::kReport};
inline constexpr ConfigKey kReportFeedMaxConnections{.path = "report.feed_max_connections",
                                                     .type = kInteger,
                                                     .min = 1,
                                                     .max = 1024,
                                                     .int_default = 16,
                                                     .applier = Applier::kReport};
inline constexpr ConfigKey kReportLastheardSize{.path = "report.lastheard_size",
                                                .type = kInteger,
                                                .min = 1,
                                                .max = 100000,
                                                .int_default = 100,
                                                .applier = Applier::kReport};
inline constexpr ConfigKey kReportTalkgroupsSize{.path = "report.talkgroups_size",
                                                 .type = kInteger,
                                                 .min = 1,
                                                 .max = 100000,
                                                 .int_default = 1000,
                                                 .applier = Applier::kReport};
inline constexpr ConfigKey kReportApiTokenFile{.path = "report.api_token_file",
                                               .type = kString,
                                               .type_note = "=path",
                                               .text_default = "",
                                               .applier = Applier::kReport};
inline constexpr ConfigKey kReportApiOptionsFile{.path = "report.api_options_file",
                                                 .type = kString,
                                                 .type_note = "=path",
                                                 .text_default = "",
                                                 .reload = kRestart};

}  // namespace keys

// Every key, in docs/config.md order.
std::span<const ConfigKey* const> AllConfigKeys();
// The key at `path` ("hbp.ping_time_s", "obp[].target"; an element path such as "obp[2].target"
// is normalised), or nullptr.
const ConfigKey* FindConfigKey(std::string_view path);

// docs/config.md's columns for a key.
std::string TypeText(const ConfigKey& k);
std::string DefaultText(const ConfigKey& k);
std::string ReloadText(const ConfigKey& k);
std::string_view ApplierName(Applier a);

}  // namespace dmrswitch::cp
