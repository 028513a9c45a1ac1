#include "ctrlplane/config/keys.h"

#include <array>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace dmrswitch::cp {
namespace {

using namespace keys;

constexpr std::array kKeys = {
    &kHubServerId,
    &kHubMode,
    &kHubShards,
    &kHubControlPlane,
    &kHubSteering,
    &kHubStatusIntervalS,
    &kHubStreamCapacity,
    &kHubParrotRecordings,
    &kHubParrotMaxS,
    &kHubSnapshotArenaMb,
    &kHubLogLevel,
    &kHubRuntimeName,
    &kHubRunDir,
    &kHubCtlSocket,
    &kHbpListen,
    &kHbpPassphrase,
    &kHbpAllowNullPassphrase,
    &kHbpMaxClients,
    &kHbpPingTimeS,
    &kHbpMaxMissed,
    &kHbpGroupHangtimeS,
    &kHbpDefaultUaTimerMin,
    &kHbpSingleMode,
    &kHbpActivateOn,
    &kHbpLoginBurst,
    &kHbpLoginWindowS,
    &kHbpLoginBlockS,
    &kHbpStreamTimeoutMs,
    &kHbpStreamLostS,
    &kHbpStreamForgetS,
    &kHbpMaxStreamAgeS,
    &kHbpRateLimitAfterPackets,
    &kHbpRateLimitPps,
    &kStaticClient,
    &kStaticTs1,
    &kStaticTs2,
    &kFixedId,
    &kFixedAddress,
    &kFixedSlots,
    &kFixedOptions,
    &kFixedCallsign,
    &kAclReg,
    &kAclSub,
    &kAclTgTs1,
    &kAclTgTs2,
    &kObpName,
    &kObpListen,
    &kObpTarget,
    &kObpNetworkId,
    &kObpPassphrase,
    &kObpVersion,
    &kObpIdMode,
    &kObpRelaxChecks,
    &kObpRelay,
    &kObpUseAcl,
    &kObpSubAcl,
    &kObpTgidAcl,
    &kObpKeepaliveS,
    &kObpDeadAfterS,
    &kObpBcveIntervalS,
    &kDpdkEalArgs,
    &kDpdkAddress,
    &kDpdkAddress6,
    &kDpdkGatewayMac,
    &kDpdkTxPort,
    &kDpdkPromiscuous,
    &kXdpInterface,
    &kXdpAttach,
    &kXdpSourcePps,
    &kXdpSourceBurst,
    &kXdpSourcePrefix6,
    &kXdpExempt,
    &kFbpMaxHops,
    &kFbpMaxAgeS,
    &kReportHttp,
    &kReportFeed,
    &kReportFeedJson,
    &kReportMqtt,
    &kReportMqttTopic,
    &kReportMqttUsername,
    &kReportMqttPasswordFile,
    &kReportMqttBmSession,
    &kReportFeedSystems,
    &kReportFeedMaxMessage,
    &kReportFeedMaxConnections,
    &kReportLastheardSize,
    &kReportTalkgroupsSize,
    &kReportApiTokenFile,
    &kReportApiOptionsFile,
};

// "obp[2].target" -> "obp[].target"
std::string NormalisePath(std::string_view path) {
  std::string out;
  bool in_index = false;
  for (const char c : path) {
    if (c == '[') {
      in_index = true;
      out += c;
    } else if (c == ']') {
      in_index = false;
      out += c;
    } else if (!in_index) {
      out += c;
    }
  }
  return out;
}

// Built by appending: gcc 12 warns (-Wrestrict, PR 105329) about literal + std::string.
std::string Wrapped(std::string_view s, char c) {
  std::string out(1, c);
  out.append(s);
  out.push_back(c);
  return out;
}
std::string Backticked(std::string_view s) { return Wrapped(s, '`'); }

// A TOML string literal as docs/config.md shows it: "x" (no character here needs escaping).
std::string Quoted(std::string_view s) { return Wrapped(s, '"'); }

}  // namespace

std::span<const ConfigKey* const> AllConfigKeys() { return kKeys; }

const ConfigKey* FindConfigKey(std::string_view path) {
  const std::string normal = NormalisePath(path);
  for (const ConfigKey* k : kKeys) {
    if (k->path == normal) return k;
  }
  return nullptr;
}

std::string TypeText(const ConfigKey& k) {
  if (!k.type_note.empty() && k.type_note.front() == '=') return std::string(k.type_note.substr(1));
  const auto with_note = [&](std::string base) {
    return k.type_note.empty() ? base : base + ", " + std::string(k.type_note);
  };
  switch (k.type) {
    case KeyType::kInteger:
      return with_note(absl::StrCat("integer ", k.min, "..", k.max));
    case KeyType::kNumber:
      return with_note(absl::StrCat("number ", k.min, "..", k.max));
    case KeyType::kBoolean:
      return "boolean";
    case KeyType::kString:
      return with_note("string");
    case KeyType::kEnum: {
      std::string out;
      std::string_view rest = k.choices;
      while (!rest.empty()) {
        const size_t bar = rest.find('|');
        if (!out.empty()) out += " \\| ";
        out += Backticked(Quoted(rest.substr(0, bar)));
        rest = bar == std::string_view::npos ? std::string_view() : rest.substr(bar + 1);
      }
      return out;
    }
    case KeyType::kListener:
      return "`\"a.b.c.d:port\"` \\| `\"[ipv6]:port\"`";
    case KeyType::kTarget:
      return "`\"a.b.c.d:port\"` \\| `\"[ipv6]:port\"` (unicast)";
    case KeyType::kIpv4:
      return "`\"a.b.c.d\"` (unicast)";
    case KeyType::kIpv6:
      return "`\"ipv6\"` (unicast, e.g. `\"2001:db8::1\"`)";
    case KeyType::kMac:
      return "`\"aa:bb:cc:dd:ee:ff\"`";
    case KeyType::kAcl:
      return with_note("ACL string");
    case KeyType::kTgList:
      return "array of integers";
    case KeyType::kStringList:
      return "array of strings";
  }
  return "?";
}

std::string DefaultText(const ConfigKey& k) {
  if (!k.default_note.empty()) return std::string(k.default_note);
  if (k.required) return "required";
  switch (k.type) {
    case KeyType::kInteger:
      return Backticked(absl::StrCat(k.int_default));
    case KeyType::kNumber:
      return Backticked(absl::StrFormat("%g", k.number_default));
    case KeyType::kBoolean:
      return Backticked(k.bool_default ? "true" : "false");
    case KeyType::kTgList:
    case KeyType::kStringList:
      return "`[]`";
    default:
      return Backticked(Quoted(k.text_default));
  }
}

std::string ReloadText(const ConfigKey& k) {
  const std::string_view cls = k.reload == ReloadClass::kLive ? "live" : "restart";
  return k.reload_note.empty() ? std::string(cls)
                               : std::string(cls) + " " + std::string(k.reload_note);
}

std::string_view ApplierName(Applier a) {
  switch (a) {
    case Applier::kNone:
      return "none";
    case Applier::kLogging:
      return "logging";
    case Applier::kStatus:
      return "status";
    case Applier::kPolicy:
      return "routing policy";
    case Applier::kLogin:
      return "login";
    case Applier::kSubscriptions:
      return "subscriptions";
    case Applier::kPeers:
      return "peers";
    case Applier::kShield:
      return "xdp shield";
    case Applier::kReport:
      return "report";
  }
  return "?";
}

}  // namespace dmrswitch::cp
