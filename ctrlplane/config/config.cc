#include "ctrlplane/config/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "ctrlplane/config/memory.h"
#include "dataplane/route/tg_policy.h"
#include "toml++/toml.h"

namespace dmrswitch::cp {
namespace {

// Debian's Abseil has its own string_view type, so messages are built with std::string only.
using std::string;
using std::string_view;

constexpr uint32_t kMaxU32 = 0xFFFFFFFF;

// --- Value and key formatting ------------------------------------------------------------------

string Quote(string_view s) {
  string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          static constexpr char kHex[] = "0123456789ABCDEF";
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

string FormatValue(const toml::node& n) {
  if (const auto* s = n.as_string()) return Quote(s->get());
  if (const auto* i = n.as_integer()) return std::to_string(i->get());
  if (const auto* b = n.as_boolean()) return b->get() ? "true" : "false";
  if (const auto* a = n.as_array()) {
    string out = "[";
    for (size_t k = 0; k < a->size(); ++k) {
      if (k > 0) out += ", ";
      out += FormatValue(*a->get(k));
    }
    return out + "]";
  }
  if (n.is_table()) return "{...}";
  std::ostringstream os;
  n.visit([&os](const auto& v) { os << v; });
  return os.str();
}

bool IsBareKey(string_view k) {
  if (k.empty()) return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

string Join(string_view path, string_view key) {
  const string k = IsBareKey(key) ? string(key) : Quote(key);
  return path.empty() ? k : string(path) + "." + k;
}

string Index(string_view path, size_t i) { return string(path) + "[" + std::to_string(i) + "]"; }

string_view TypeName(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    default:
      return "a date/time";
  }
}

// --- Error collection and table walking ---------------------------------------------------------

// Remembers the first error; parsing goes on with defaults so that the code stays linear.
struct Ctx {
  string source;
  string error;
  std::vector<string>* keys_read = nullptr;  // every key path a reader asked for (tests)

  bool failed() const { return !error.empty(); }
  void FailText(string_view path, string_view value, string_view reason) {
    if (failed()) return;
    error = source + ": " + string(path);
    if (!value.empty()) error += " = " + string(value);
    error += ": " + string(reason);
  }
  // Tables (and arrays of tables) are not repeated in messages, nor are secrets (keys.h:
  // ConfigKey::secret): a configuration error is printed, logged and answered to
  // dmrswitch-ctl, and a passphrase must appear in none of them.
  void Fail(string_view path, const toml::node* value, string_view reason) {
    const ConfigKey* key = FindConfigKey(path);
    const bool show = value != nullptr && !value->is_table() &&
                      !(value->is_array() && value->as_array()->is_array_of_tables() &&
                        !value->as_array()->empty()) &&
                      !(key != nullptr && key->secret);
    FailText(path, show ? FormatValue(*value) : "", reason);
  }
  void TypeError(string_view path, const toml::node& value, string_view expected) {
    Fail(path, &value, "expected " + string(expected) + ", not " + string(TypeName(value)));
  }
};

// One TOML table being read: hands out its keys and reports the ones nobody asked for.
class Table {
 public:
  Table(Ctx* ctx, const toml::table* t, string path) : ctx_(ctx), t_(t), path_(std::move(path)) {}

  Ctx& ctx() const { return *ctx_; }
  bool present() const { return t_ != nullptr; }
  string Path(string_view key) const { return Join(path_, key); }
  const string& path() const { return path_; }

  const toml::node* Take(string_view key) {
    if (ctx_->keys_read != nullptr) ctx_->keys_read->push_back(Path(key));
    if (t_ == nullptr) return nullptr;
    taken_.emplace_back(key);
    return t_->get(key);
  }

  // Every key that no reader took is an error. Its value is not shown: an unknown key may be a
  // misspelt secret ("pasphrase").
  void Finish() const {
    if (t_ == nullptr) return;
    for (const auto& [k, v] : *t_) {
      if (std::find(taken_.begin(), taken_.end(), k.str()) == taken_.end()) {
        ctx_->FailText(Join(path_, k.str()), "", "unknown key");
        return;
      }
    }
  }

  // A sub-table (absent: an empty one, so every key takes its default).
  Table Sub(string_view key) {
    const toml::node* n = Take(key);
    if (n == nullptr) return Table(ctx_, nullptr, Path(key));
    if (!n->is_table()) {
      ctx_->TypeError(Path(key), *n, "a table ([" + Path(key) + "])");
      return Table(ctx_, nullptr, Path(key));
    }
    return Table(ctx_, n->as_table(), Path(key));
  }

 private:
  Ctx* ctx_;
  const toml::table* t_;
  string path_;
  std::vector<string> taken_;
};

const toml::node* Require(Table& t, string_view key) {
  const toml::node* n = t.Take(key);
  if (n == nullptr) t.ctx().FailText(t.Path(key), "", "required key is missing");
  return n;
}

// An integer in lo..hi. Returns the node when the value was present and valid.
const toml::node* ReadUint(Table& t, string_view key, int64_t lo, int64_t hi, uint32_t* out,
                           bool required = false) {
  const toml::node* n = required ? Require(t, key) : t.Take(key);
  if (n == nullptr) return nullptr;
  const auto* i = n->as_integer();
  if (i == nullptr) {
    t.ctx().TypeError(t.Path(key), *n, "an integer");
    return nullptr;
  }
  if (i->get() < lo || i->get() > hi) {
    t.ctx().Fail(t.Path(key), n, "must be in " + std::to_string(lo) + ".." + std::to_string(hi));
    return nullptr;
  }
  *out = static_cast<uint32_t>(i->get());
  return n;
}

// A number (integer or float) in lo..hi: durations an operator may want shorter than their unit
// (a UA timer of 0.5 minutes for a demo or a test).
const toml::node* ReadNumber(Table& t, string_view key, double lo, double hi, double* out) {
  const toml::node* n = t.Take(key);
  if (n == nullptr) return nullptr;
  double v = 0;
  if (const auto* i = n->as_integer()) {
    v = static_cast<double>(i->get());
  } else if (const auto* f = n->as_floating_point()) {
    v = f->get();
  } else {
    t.ctx().TypeError(t.Path(key), *n, "a number");
    return nullptr;
  }
  if (!(v >= lo && v <= hi)) {
    t.ctx().Fail(t.Path(key), n, absl::StrFormat("must be in %.10g..%.10g", lo, hi));
    return nullptr;
  }
  *out = v;
  return n;
}

const toml::node* ReadBool(Table& t, string_view key, bool* out) {
  const toml::node* n = t.Take(key);
  if (n == nullptr) return nullptr;
  const auto* b = n->as_boolean();
  if (b == nullptr) {
    t.ctx().TypeError(t.Path(key), *n, "a boolean (true or false)");
    return nullptr;
  }
  *out = b->get();
  return n;
}

const toml::node* ReadString(Table& t, string_view key, string* out, bool required = false) {
  const toml::node* n = required ? Require(t, key) : t.Take(key);
  if (n == nullptr) return nullptr;
  const auto* s = n->as_string();
  if (s == nullptr) {
    t.ctx().TypeError(t.Path(key), *n, "a string");
    return nullptr;
  }
  *out = s->get();
  return n;
}

template <typename E>
const toml::node* ReadEnum(Table& t, string_view key, EnumNames<E> names, E* out) {
  string str;
  const toml::node* n = ReadString(t, key, &str);
  if (n == nullptr) return nullptr;
  for (const auto& [name, value] : names) {
    if (str == name) {
      *out = value;
      return n;
    }
  }
  string reason = "must be one of ";
  bool first = true;
  for (const auto& [name, value] : names) {
    if (!first) reason += ", ";
    first = false;
    reason += Quote(name);
  }
  t.ctx().Fail(t.Path(key), n, reason);
  return nullptr;
}

// --- Addresses ----------------------------------------------------------------------------------

std::optional<uint32_t> ParseIpv4(string_view s) {
  uint32_t ip = 0;
  for (int octet = 0; octet < 4; ++octet) {
    if (octet > 0) {
      if (s.empty() || s.front() != '.') return std::nullopt;
      s.remove_prefix(1);
    }
    size_t digits = 0;
    while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
    if (digits == 0 || digits > 3 || (digits > 1 && s[0] == '0')) return std::nullopt;
    uint32_t v = 0;
    std::from_chars(s.data(), s.data() + digits, v);
    if (v > 255) return std::nullopt;
    ip = (ip << 8) | v;
    s.remove_prefix(digits);
  }
  if (!s.empty()) return std::nullopt;
  return ip;
}

// An IPv6 address in its text forms (RFC 4291 §2.2, as inet_pton takes them; no zone index).
std::optional<route::Endpoint> ParseIpv6(string_view s) {
  if (s.empty() || s.size() > INET6_ADDRSTRLEN - 1) return std::nullopt;
  const string text(s);
  in6_addr a{};
  if (inet_pton(AF_INET6, text.c_str(), &a) != 1) return std::nullopt;
  return route::Endpoint::V6(a.s6_addr, 0);
}

// "a.b.c.d:port" or "[ipv6]:port".
std::optional<route::Endpoint> ParseEndpoint(string_view s) {
  const size_t colon = s.rfind(':');
  if (colon == string_view::npos) return std::nullopt;
  std::optional<route::Endpoint> e;
  const string_view host = s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    e = ParseIpv6(host.substr(1, host.size() - 2));
  } else if (const std::optional<uint32_t> ip = ParseIpv4(host)) {
    e = route::Endpoint{*ip, 0};
  }
  const string_view port = s.substr(colon + 1);
  if (!e || port.empty() || port.size() > 5 || port[0] == '0') return std::nullopt;
  uint32_t p = 0;
  const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || ptr != port.data() + port.size() || p < 1 || p > 65535) {
    return std::nullopt;
  }
  e->port = static_cast<uint16_t>(p);
  return e;
}

bool IsMulticast(uint32_t ip) { return (ip >> 28) == 0xE; }

// Multicast (224.0.0.0/4, ff00::/8) or the IPv4 broadcast address: never a hub's address or a
// peer's.
bool NotUnicast(const route::Endpoint& e) {
  return e.v6 ? e.ip6[0] == 0xFF : (e.ip == kMaxU32 || IsMulticast(e.ip));
}

// fe80::/10: meaningful only with a zone (an interface), which addresses here cannot carry.
bool LinkLocal(const route::Endpoint& e) {
  return e.v6 && e.ip6[0] == 0xFE && (e.ip6[1] & 0xC0) == 0x80;
}

// An "a.b.c.d:port" or "[ipv6]:port" key. Targets must name a unicast host; listeners may use
// the wildcard (0.0.0.0, or [::] for IPv6 and IPv4 on one socket).
const toml::node* ReadEndpoint(Table& t, string_view key, route::Endpoint* out, bool required,
                               bool target) {
  string s;
  const toml::node* n = ReadString(t, key, &s, required);
  if (n == nullptr) return nullptr;
  const std::optional<route::Endpoint> e = ParseEndpoint(s);
  if (!e) {
    t.ctx().Fail(t.Path(key), n, "must be \"a.b.c.d:port\" or \"[ipv6]:port\" (port 1..65535)");
    return nullptr;
  }
  if (target && (e->any_address() || NotUnicast(*e))) {
    t.ctx().Fail(t.Path(key), n,
                 "must be a unicast address (not 0.0.0.0, [::], broadcast or multicast)");
    return nullptr;
  }
  if (!target && NotUnicast(*e)) {
    t.ctx().Fail(t.Path(key), n, "must be a local unicast address, 0.0.0.0 or [::]");
    return nullptr;
  }
  if (LinkLocal(*e)) {
    t.ctx().Fail(t.Path(key), n,
                 "a link-local IPv6 address (fe80::/10) needs an interface, which addresses "
                 "here cannot name: use a global or unique-local address");
    return nullptr;
  }
  *out = *e;
  return n;
}

// Two listeners on one port that the hub does not run side by side: the same address, or one of
// them a wildcard ([::] takes IPv4 too), or — though the kernel would allow it — one of each
// family (the hub's instance locks and the shield's listener table go by port).
bool Overlaps(const route::Endpoint& a, const route::Endpoint& b) {
  if (a.port != b.port) return false;
  return a == b || a.v6 != b.v6 || a.any_address() || b.any_address();
}

// --- ACLs and talkgroups ------------------------------------------------------------------------

void ReadAcl(Table& t, string_view key, uint32_t lo, uint32_t hi, route::Acl* out) {
  string text;
  const toml::node* n = ReadString(t, key, &text);
  if (n == nullptr) return;
  absl::StatusOr<route::Acl> acl = route::Acl::Parse(text, lo, hi);
  if (!acl.ok()) {
    // Acl::Parse prefixes its messages with the ACL text, which the key's value already shows.
    string msg(acl.status().message());
    string_view trimmed = text;
    while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.front()))) {
      trimmed.remove_prefix(1);
    }
    while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back()))) {
      trimmed.remove_suffix(1);
    }
    const string prefix = "ACL \"" + string(trimmed) + "\": ";
    if (msg.rfind(prefix, 0) == 0) msg.erase(0, prefix.size());
    t.ctx().Fail(t.Path(key), n, msg);
    return;
  }
  *out = *std::move(acl);
}

void ReadTgList(Table& t, string_view key, std::vector<uint32_t>* out) {
  const toml::node* n = t.Take(key);
  if (n == nullptr) return;
  const string path = t.Path(key);
  const auto* a = n->as_array();
  if (a == nullptr) {
    t.ctx().TypeError(path, *n, "an array of talkgroup numbers");
    return;
  }
  for (size_t i = 0; i < a->size(); ++i) {
    const toml::node& e = *a->get(i);
    const auto* v = e.as_integer();
    if (v == nullptr) {
      t.ctx().TypeError(Index(path, i), e, "an integer (a talkgroup)");
      return;
    }
    // PROTOCOL.md §3.4 prohibits 0-5, 9 and 9990-9999 as static TGs; 4000 (unlink) and 5000
    // (status) are control IDs that the routing core refuses as memberships.
    if (v->get() < 0 || (v->get() <= route::kMaxSubscriberId &&
                         !route::IsValidStaticTg(static_cast<uint32_t>(v->get())))) {
      t.ctx().Fail(Index(path, i), &e,
                   "not allowed as a static TG (0-5, 9, 4000, 5000 and 9990-9999 are reserved)");
      return;
    }
    if (v->get() > route::kMaxSubscriberId) {
      t.ctx().Fail(Index(path, i), &e, "must be in 1.." + std::to_string(route::kMaxSubscriberId));
      return;
    }
    const auto tg = static_cast<uint32_t>(v->get());
    if (std::find(out->begin(), out->end(), tg) != out->end()) {
      t.ctx().Fail(Index(path, i), &e, "listed twice");
      return;
    }
    out->push_back(tg);
  }
}

// --- Readers by key (keys.h): name, range and requiredness come from the key table ------------

const toml::node* Read(Table& t, const ConfigKey& k, uint32_t* out) {
  return ReadUint(t, k.name(), k.min, k.max, out, k.required);
}
const toml::node* Read(Table& t, const ConfigKey& k, double* out) {
  return ReadNumber(t, k.name(), static_cast<double>(k.min), static_cast<double>(k.max), out);
}
const toml::node* Read(Table& t, const ConfigKey& k, bool* out) {
  return ReadBool(t, k.name(), out);
}
const toml::node* Read(Table& t, const ConfigKey& k, string* out) {
  return ReadString(t, k.name(), out, k.required);
}
template <typename E>
const toml::node* Read(Table& t, const ConfigKey& k, EnumNames<E> names, E* out) {
  return ReadEnum(t, k.name(), names, out);
}
const toml::node* Read(Table& t, const ConfigKey& k, route::Endpoint* out) {
  return ReadEndpoint(t, k.name(), out, k.required, k.type == KeyType::kTarget);
}
bool IsRegAcl(const ConfigKey& k) { return k.path == keys::kAclReg.path; }
void Read(Table& t, const ConfigKey& k, route::Acl* out) {
  ReadAcl(t, k.name(), IsRegAcl(k) ? route::Acl::kRegMin : route::Acl::kSubTgMin,
          IsRegAcl(k) ? route::Acl::kRegMax : route::Acl::kSubTgMax, out);
}
void Read(Table& t, const ConfigKey& k, std::vector<uint32_t>* out) {
  ReadTgList(t, k.name(), out);
}

// Elements of an array of tables ([[key]]), each with its indexed path.
template <typename F>
void ForEachTable(Table& t, string_view key, F&& f) {
  const toml::node* n = t.Take(key);
  if (n == nullptr) return;
  const string path = t.Path(key);
  const auto* a = n->as_array();
  if (a == nullptr) {
    t.ctx().TypeError(path, *n, "an array of tables ([[" + path + "]])");
    return;
  }
  for (size_t i = 0; i < a->size() && !t.ctx().failed(); ++i) {
    const toml::node& e = *a->get(i);
    if (!e.is_table()) {
      t.ctx().TypeError(Index(path, i), e, "a table ([[" + path + "]])");
      return;
    }
    Table elem(&t.ctx(), e.as_table(), Index(path, i));
    f(elem, i);
    elem.Finish();
  }
}

// --- Sections -----------------------------------------------------------------------------------

// A string key whose value must be one of the key's `choices`.
const toml::node* ReadChoice(Table& t, const ConfigKey& k, string* out) {
  string v;
  const toml::node* n = Read(t, k, &v);
  if (n == nullptr) return nullptr;
  string reason = "must be one of ";
  string_view rest = k.choices;
  bool first = true;
  while (!rest.empty()) {
    const size_t bar = rest.find('|');
    const string_view choice = rest.substr(0, bar);
    if (v == choice) {
      *out = v;
      return n;
    }
    reason += (first ? "" : ", ") + Quote(choice);
    first = false;
    rest = bar == string_view::npos ? string_view() : rest.substr(bar + 1);
  }
  t.ctx().Fail(t.Path(k.name()), n, reason);
  return nullptr;
}

void ReadHub(Table& top, HubConfig& c) {
  Table t = top.Sub("hub");
  HubSection& h = c.hub;
  Read(t, keys::kHubServerId, &h.server_id);
  Read(t, keys::kHubMode, EnumNames<HubMode>(kHubModeNames), &h.mode);
  Read(t, keys::kHubShards, &h.shards);
  Read(t, keys::kHubControlPlane, EnumNames<ControlPlaneMode>(kControlPlaneNames),
       &h.control_plane);
  const toml::node* steering =
      Read(t, keys::kHubSteering, EnumNames<Steering>(kSteeringNames), &h.steering);
  if (steering != nullptr && h.steering != Steering::kAuto && h.mode != HubMode::kKernel) {
    t.ctx().Fail(t.Path("steering"), steering, "only applies to hub.mode = \"kernel\"");
  }
  Read(t, keys::kHubStatusIntervalS, &h.status_interval_s);
  Read(t, keys::kHubStreamCapacity, &h.stream_capacity);
  Read(t, keys::kHubParrotRecordings, &h.parrot_recordings);
  Read(t, keys::kHubParrotMaxS, &h.parrot_max_s);
  Read(t, keys::kHubSnapshotArenaMb, &h.snapshot_arena_mb);
  ReadChoice(t, keys::kHubLogLevel, &h.log_level);
  string name;
  if (const toml::node* rn = Read(t, keys::kHubRuntimeName, &name); rn != nullptr) {
    const bool valid =
        !name.empty() && name.size() <= 24 && std::all_of(name.begin(), name.end(), [](char ch) {
          return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_';
        });
    if (!valid) {
      t.ctx().Fail(t.Path("runtime_name"), rn,
                   "must be 1..24 characters of letters, digits, '-' and '_'");
    } else {
      h.runtime_name = name;
    }
  }
  if (const toml::node* rd = Read(t, keys::kHubRunDir, &h.run_dir); rd != nullptr) {
    if (h.run_dir.empty() || h.run_dir.front() != '/' || h.run_dir.size() >= 80) {
      t.ctx().Fail(t.Path("run_dir"), rd,
                   "must be an absolute path shorter than 80 bytes (the control socket lives in "
                   "it)");
    }
  }
  if (const toml::node* cs = Read(t, keys::kHubCtlSocket, &h.ctl_socket); cs != nullptr) {
    if (h.ctl_socket.size() >= 100) {
      t.ctx().Fail(t.Path("ctl_socket"), cs, "a Unix socket path must be shorter than 100 bytes");
    }
  }
  t.Finish();
}

void ReadHbp(Table& top, HubConfig& c) {
  Table t = top.Sub("hbp");
  HbpSection& h = c.hbp;
  Read(t, keys::kHbpListen, &h.listen);
  h.passphrase_set = Read(t, keys::kHbpPassphrase, &h.passphrase) != nullptr;
  Read(t, keys::kHbpAllowNullPassphrase, &h.allow_null_passphrase);
  Read(t, keys::kHbpMaxClients, &h.max_clients);
  Read(t, keys::kHbpPingTimeS, &h.ping_time_s);
  Read(t, keys::kHbpMaxMissed, &h.max_missed);
  Read(t, keys::kHbpGroupHangtimeS, &h.group_hangtime_s);
  Read(t, keys::kHbpDefaultUaTimerMin, &h.default_ua_timer_min);
  Read(t, keys::kHbpSingleMode, &h.single_mode);
  Read(t, keys::kHbpActivateOn, EnumNames<route::ActivateOn>(kActivateOnNames), &h.activate_on);
  Read(t, keys::kHbpLoginBurst, &h.login_burst);
  Read(t, keys::kHbpLoginWindowS, &h.login_window_s);
  Read(t, keys::kHbpLoginBlockS, &h.login_block_s);
  Read(t, keys::kHbpStreamTimeoutMs, &h.stream_timeout_ms);
  Read(t, keys::kHbpStreamLostS, &h.stream_lost_s);
  Read(t, keys::kHbpStreamForgetS, &h.stream_forget_s);
  Read(t, keys::kHbpMaxStreamAgeS, &h.max_stream_age_s);
  Read(t, keys::kHbpRateLimitAfterPackets, &h.rate_limit_after_packets);
  Read(t, keys::kHbpRateLimitPps, &h.rate_limit_pps);
  ForEachTable(t, "static", [&](Table& e, size_t i) {
    StaticTgs s;
    const toml::node* client = Read(e, keys::kStaticClient, &s.client);
    Read(e, keys::kStaticTs1, &s.ts[route::kTs1]);
    Read(e, keys::kStaticTs2, &s.ts[route::kTs2]);
    for (size_t j = 0; j < i && client != nullptr; ++j) {
      if (h.statics[j].client == s.client) {
        e.ctx().Fail(e.Path("client"), client,
                     "already has static TGs in " + Index(t.Path("static"), j));
        break;
      }
    }
    h.statics.push_back(std::move(s));
  });
  ForEachTable(t, "fixed_client", [&](Table& e, size_t i) {
    FixedClient f;
    const toml::node* id = Read(e, keys::kFixedId, &f.id);
    const toml::node* addr = Read(e, keys::kFixedAddress, &f.addr);
    uint32_t slots = keys::kFixedSlots.u32_default();
    Read(e, keys::kFixedSlots, &slots);
    f.slots = static_cast<char>('0' + slots);
    if (const toml::node* n = Read(e, keys::kFixedOptions, &f.options)) {
      // RPTO carries at most 300 bytes of options (PROTOCOL.md §1.2); the options grammar itself
      // is checked when the control plane applies them at start.
      if (f.options.size() > 300) e.ctx().Fail(e.Path("options"), n, "longer than 300 bytes");
    }
    if (const toml::node* n = Read(e, keys::kFixedCallsign, &f.callsign)) {
      const bool printable = std::all_of(f.callsign.begin(), f.callsign.end(),
                                         [](char ch) { return ch > ' ' && ch < 0x7F; });
      if (f.callsign.size() > 8 || !printable) {
        e.ctx().Fail(e.Path("callsign"), n, "must be at most 8 printable ASCII characters");
      }
    }
    for (size_t j = 0; j < i; ++j) {
      const FixedClient& o = h.fixed_clients[j];
      if (id != nullptr && o.id == f.id) {
        e.ctx().Fail(e.Path("id"), id, "already used by " + Index(t.Path("fixed_client"), j));
        break;
      }
      if (addr != nullptr && o.addr == f.addr) {
        e.ctx().Fail(e.Path("address"), addr,
                     "already used by " + Index(t.Path("fixed_client"), j));
        break;
      }
    }
    h.fixed_clients.push_back(std::move(f));
  });
  if (h.fixed_clients.size() > h.max_clients) {
    t.ctx().FailText(t.Path("fixed_client"), "",
                     std::to_string(h.fixed_clients.size()) + " fixed clients; more than " +
                         t.Path("max_clients") + " = " + std::to_string(h.max_clients));
  }
  t.Finish();
}

void ReadAclSection(Table& top, HubConfig& c) {
  Table t = top.Sub("acl");
  Read(t, keys::kAclReg, &c.acl.reg);
  Read(t, keys::kAclSub, &c.acl.sub);
  Read(t, keys::kAclTgTs1, &c.acl.tg[route::kTs1]);
  Read(t, keys::kAclTgTs2, &c.acl.tg[route::kTs2]);
  t.Finish();
}

bool ValidPeerName(string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

void ReadObp(Table& top, HubConfig& c) {
  ForEachTable(top, "obp", [&](Table& t, size_t i) {
    ObpPeer p;
    if (const toml::node* n = Read(t, keys::kObpName, &p.name)) {
      if (!ValidPeerName(p.name)) {
        t.ctx().Fail(t.Path("name"), n, "must be 1..64 characters of A-Z a-z 0-9 . _ -");
      }
      for (size_t j = 0; j < i; ++j) {
        if (c.obp[j].name == p.name) {
          t.ctx().Fail(t.Path("name"), n, "already used by " + Index("obp", j));
          break;
        }
      }
    }
    Read(t, keys::kObpListen, &p.listen);
    Read(t, keys::kObpTarget, &p.target);
    Read(t, keys::kObpNetworkId, &p.network_id);
    if (const toml::node* n = Read(t, keys::kObpPassphrase, &p.passphrase)) {
      if (p.passphrase.empty() || p.passphrase.size() > proto::kObpKeyBytes) {
        t.ctx().Fail(t.Path("passphrase"), n,
                     "must be 1..20 bytes (the OpenBridge key is the passphrase NUL-padded to 20 "
                     "bytes; longer ones would be cut)");
      }
    }
    uint32_t version = p.version;
    if (const toml::node* n = t.Take(keys::kObpVersion.name())) {
      const auto* v = n->as_integer();
      if (v == nullptr) {
        t.ctx().TypeError(t.Path("version"), *n, "an integer");
      } else if (v->get() != 1 && v->get() != 5) {
        t.ctx().Fail(t.Path("version"), n, "must be 1 (classic OBP) or 5 (FBP)");
      } else {
        version = static_cast<uint32_t>(v->get());
      }
    }
    p.version = static_cast<uint8_t>(version);
    // keys::kObpRelay's default follows the version: FBP has hop counts and source quench
    // against loops, classic OBP has neither.
    p.relay = p.version == 5;
    Read(t, keys::kObpIdMode, EnumNames<route::PeerIdMode>(kIdModeNames), &p.id_mode);
    Read(t, keys::kObpRelaxChecks, &p.relax_checks);
    Read(t, keys::kObpRelay, &p.relay);
    Read(t, keys::kObpUseAcl, &p.use_acl);
    Read(t, keys::kObpSubAcl, &p.sub_acl);
    Read(t, keys::kObpTgidAcl, &p.tgid_acl);
    const toml::node* keepalive = Read(t, keys::kObpKeepaliveS, &p.keepalive_s);
    const toml::node* dead_after = Read(t, keys::kObpDeadAfterS, &p.dead_after_s);
    // An FBP peer declared dead before its next BCKA is due would go dead between every two
    // (classic OBP has neither: only a dead_after_s written against its keepalive_s is refused).
    if (p.dead_after_s <= p.keepalive_s && (p.version == 5 || dead_after != nullptr)) {
      if (dead_after != nullptr) {
        t.ctx().Fail(t.Path("dead_after_s"), dead_after,
                     "must be greater than " + t.Path("keepalive_s") + " (" +
                         std::to_string(p.keepalive_s) + ")");
      } else if (keepalive != nullptr) {
        t.ctx().Fail(t.Path("keepalive_s"), keepalive,
                     "must be less than " + t.Path("dead_after_s") + " (" +
                         std::to_string(p.dead_after_s) +
                         " by default): set a greater dead_after_s with it");
      }
    }
    Read(t, keys::kObpBcveIntervalS, &p.bcve_interval_s);
    c.obp.push_back(std::move(p));
  });
}

void ReadDpdk(Table& top, HubConfig& c) {
  Table t = top.Sub("dpdk");
  c.dpdk.present = t.present();
  if (const toml::node* n = t.Take(keys::kDpdkEalArgs.name())) {
    const auto* a = n->as_array();
    if (a == nullptr) {
      t.ctx().TypeError(t.Path("eal_args"), *n, "an array of strings");
    } else {
      for (size_t i = 0; i < a->size(); ++i) {
        const toml::node& e = *a->get(i);
        if (!e.is_string()) {
          t.ctx().TypeError(Index(t.Path("eal_args"), i), e, "a string");
          break;
        }
        c.dpdk.eal_args.push_back(e.as_string()->get());
      }
    }
  }
  string addr;
  const bool needed = c.hub.mode != HubMode::kKernel;
  if (const toml::node* n =
          ReadString(t, keys::kDpdkAddress.name(), &addr, needed && t.present())) {
    const std::optional<uint32_t> ip = ParseIpv4(addr);
    if (!ip) {
      t.ctx().Fail(t.Path("address"), n, "must be an IPv4 address \"a.b.c.d\"");
    } else if (*ip == 0 || *ip == kMaxU32 || IsMulticast(*ip)) {
      t.ctx().Fail(t.Path("address"), n, "must be a unicast address");
    } else {
      c.dpdk.address = *ip;
    }
  }
  string addr6;
  if (const toml::node* n = ReadString(t, keys::kDpdkAddress6.name(), &addr6)) {
    const std::optional<route::Endpoint> e =
        addr6.find(':') == string::npos ? std::nullopt : ParseIpv6(addr6);
    if (!e || !e->v6) {
      t.ctx().Fail(t.Path("address6"), n,
                   "must be an IPv6 address such as \"2001:db8::1\" (no brackets, no port)");
    } else if (e->any_address() || NotUnicast(*e) || LinkLocal(*e) || e->ip6[0] == 0) {
      // ::/8 holds ::, ::1 and the v4-compatible forms: none is a hub's address on a wire.
      t.ctx().Fail(t.Path("address6"), n,
                   "must be a global or unique-local unicast address (not ::, ::1, multicast or "
                   "link-local)");
    } else {
      c.dpdk.has_address6 = true;
      std::copy(std::begin(e->ip6), std::end(e->ip6), c.dpdk.address6.begin());
    }
  }
  Read(t, keys::kDpdkTxPort, &c.dpdk.tx_port);
  Read(t, keys::kDpdkPromiscuous, &c.dpdk.promiscuous);
  string gateway;
  if (const toml::node* n = Read(t, keys::kDpdkGatewayMac, &gateway)) {
    unsigned b[6];
    char tail = 0;
    if (std::sscanf(gateway.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4],
                    &b[5], &tail) != 6 ||
        (b[0] & 1) != 0) {
      t.ctx().Fail(t.Path("gateway_mac"), n, "must be a unicast MAC address \"aa:bb:cc:dd:ee:ff\"");
    } else {
      c.dpdk.has_gateway_mac = true;
      for (int i = 0; i < 6; ++i) c.dpdk.gateway_mac[i] = static_cast<uint8_t>(b[i]);
    }
  }
  t.Finish();
  if (needed && !t.present()) {
    t.ctx().FailText("dpdk", "",
                     "section required when hub.mode = " + Quote(HubModeName(c.hub.mode)) +
                         " ([dpdk] eal_args and address)");
  }
}

bool ValidInterfaceName(string_view s) {
  // What the kernel takes (dev_valid_name): 1..15 bytes, no '/', ':' or whitespace, not . or ..
  return !s.empty() && s.size() < 16 && s != "." && s != ".." &&
         std::none_of(s.begin(), s.end(), [](char ch) {
           return ch == '/' || ch == ':' || std::isspace(static_cast<unsigned char>(ch)) ||
                  static_cast<unsigned char>(ch) < 0x20;
         });
}

std::optional<XdpSource> ParseXdpSource(string_view s) {
  if (s.find(':') == string_view::npos) {
    const std::optional<uint32_t> ip = ParseIpv4(s);
    if (!ip) return std::nullopt;
    return XdpSource{*ip, 0};
  }
  const std::optional<route::Endpoint> e = ParseEndpoint(s);
  if (!e || e->v6) return std::nullopt;  // the shield filters IPv4
  return XdpSource{e->ip, e->port};
}

void ReadXdp(Table& top, HubConfig& c) {
  Table t = top.Sub("xdp");
  XdpSection& x = c.xdp;
  if (const toml::node* n = Read(t, keys::kXdpInterface, &x.interface)) {
    if (!x.interface.empty() && !ValidInterfaceName(x.interface)) {
      t.ctx().Fail(t.Path("interface"), n,
                   "must be a network interface name (1..15 bytes, no '/', ':' or spaces)");
    } else if (!x.interface.empty() && c.hub.mode == HubMode::kDpdk) {
      t.ctx().Fail(t.Path("interface"), n,
                   "the XDP shield runs in kernel and afxdp mode; in dpdk mode the port's "
                   "driver owns the NIC (remove [xdp] interface)");
    }
  }
  if (x.interface.empty() && c.hub.mode == HubMode::kAfXdp) {
    t.ctx().FailText(t.Path("interface"), "",
                     "required when hub.mode = \"afxdp\": the NIC whose queues the dp takes "
                     "over (DPDK net_af_xdp with the shield as its XDP program)");
  }
  Read(t, keys::kXdpAttach, EnumNames<XdpAttach>(kXdpAttachNames), &x.attach);
  Read(t, keys::kXdpSourcePps, &x.source_pps);
  Read(t, keys::kXdpSourceBurst, &x.source_burst);
  Read(t, keys::kXdpSourcePrefix6, &x.source_prefix6);
  if (const toml::node* n = t.Take(keys::kXdpExempt.name())) {
    const string path = t.Path("exempt");
    const auto* a = n->as_array();
    if (a == nullptr) {
      t.ctx().TypeError(path, *n, "an array of \"a.b.c.d\" or \"a.b.c.d:port\" strings");
    } else {
      for (size_t i = 0; i < a->size(); ++i) {
        const toml::node& e = *a->get(i);
        if (!e.is_string()) {
          t.ctx().TypeError(Index(path, i), e, "a string");
          break;
        }
        const std::optional<XdpSource> src = ParseXdpSource(e.as_string()->get());
        if (!src || src->ip == 0 || src->ip == kMaxU32 || IsMulticast(src->ip)) {
          t.ctx().Fail(Index(path, i), &e,
                       "must be a unicast \"a.b.c.d\" (every port) or \"a.b.c.d:port\"");
          break;
        }
        x.exempt.push_back(*src);
      }
    }
  }
  t.Finish();
}

void ReadFbp(Table& top, HubConfig& c) {
  Table t = top.Sub("fbp");
  Read(t, keys::kFbpMaxHops, &c.fbp.max_hops);
  Read(t, keys::kFbpMaxAgeS, &c.fbp.max_age_s);
  t.Finish();
}

// An optional address of [report]: "" (off) or "a.b.c.d:port", stored canonical.
void ReadReportAddress(Table& t, const ConfigKey& k, bool target, string* out) {
  string s;
  const toml::node* n = Read(t, k, &s);
  if (n == nullptr || s.empty()) return;
  const std::optional<route::Endpoint> e = ParseEndpoint(s);
  if (!e || e->v6) {  // the reporting sockets are IPv4 (the packet plane's listeners take IPv6)
    t.ctx().Fail(t.Path(k.name()), n,
                 "must be \"a.b.c.d:port\" (IPv4 address, port 1..65535), or \"\" for off");
    return;
  }
  if ((target && e->ip == 0) || e->ip == kMaxU32 || IsMulticast(e->ip)) {
    t.ctx().Fail(
        t.Path(k.name()), n,
        target ? "must be a unicast address" : "must be a local unicast address or 0.0.0.0");
    return;
  }
  *out = FormatEndpoint(*e);
}

void ReadReport(Table& top, HubConfig& c) {
  Table t = top.Sub("report");
  ReportSection& r = c.report;
  ReadReportAddress(t, keys::kReportHttp, false, &r.http);
  ReadReportAddress(t, keys::kReportFeed, false, &r.feed);
  ReadReportAddress(t, keys::kReportFeedJson, false, &r.feed_json);
  ReadReportAddress(t, keys::kReportMqtt, true, &r.mqtt);
  if (const toml::node* n = Read(t, keys::kReportMqttTopic, &r.mqtt_topic); n != nullptr) {
    if (r.mqtt_topic.empty() || r.mqtt_topic.size() > 128 ||
        r.mqtt_topic.find_first_of("#+") != string::npos) {
      t.ctx().Fail(t.Path("mqtt_topic"), n,
                   "must be 1..128 bytes without the MQTT wildcards '#' and '+'");
    }
  }
  Read(t, keys::kReportMqttUsername, &r.mqtt_username);
  Read(t, keys::kReportMqttPasswordFile, &r.mqtt_password_file);
  Read(t, keys::kReportMqttBmSession, &r.mqtt_bm_session);
  Read(t, keys::kReportFeedSystems, &r.feed_systems);
  Read(t, keys::kReportFeedMaxMessage, &r.feed_max_message);
  Read(t, keys::kReportFeedMaxConnections, &r.feed_max_connections);
  Read(t, keys::kReportLastheardSize, &r.lastheard_size);
  Read(t, keys::kReportTalkgroupsSize, &r.talkgroups_size);
  Read(t, keys::kReportApiTokenFile, &r.api_token_file);
  Read(t, keys::kReportApiOptionsFile, &r.api_options_file);
  t.Finish();
}

// Checks across sections, and derived fields.
void Finish(Ctx& ctx, HubConfig& c) {
  if (ctx.failed()) return;
  if (!c.obp.empty() && c.hub.server_id == 0) {
    ctx.FailText("hub.server_id", "0", "required (non-zero) when [[obp]] peers are configured");
    return;
  }
  if (c.obp.size() > route::PeerSet::kMaxPeers) {
    ctx.FailText("obp", "",
                 std::to_string(c.obp.size()) + " peers; at most " +
                     std::to_string(route::PeerSet::kMaxPeers) + " are supported");
    return;
  }
  // In DPDK/AF_XDP mode the data plane owns one address (CONFIG.md): listeners keep their port
  // and use dpdk.address, whatever address they name (so one file serves every mode); every
  // listener port serves IPv6 too when dpdk.address6 is set.
  const auto ipv6_refusal = [&c]() -> std::optional<string> {
    if (c.hub.mode != HubMode::kKernel && !c.dpdk.has_address6) {
      return string(HubModeName(c.hub.mode)) + " mode serves IPv6 only with dpdk.address6 set";
    }
    return std::nullopt;
  };
  for (size_t i = 0; i < c.hbp.fixed_clients.size(); ++i) {
    const route::Endpoint& a = c.hbp.fixed_clients[i].addr;
    const string key = Index("hbp.fixed_client", i) + ".address";
    if (a.v6) {
      if (const std::optional<string> why = ipv6_refusal()) {
        ctx.FailText(key, Quote(FormatEndpoint(a)), "an IPv6 client cannot be served: " + *why);
        return;
      }
    }
    if (c.hub.mode == HubMode::kKernel && !ListenerReaches(c.hbp.listen, a)) {
      ctx.FailText(key, Quote(FormatEndpoint(a)),
                   string(a.v6 ? "an IPv6" : "an IPv4") +
                       " client needs hbp.listen of its family or [::], not " +
                       Quote(FormatEndpoint(c.hbp.listen)));
      return;
    }
  }
  if (c.hub.mode != HubMode::kKernel) {
    for (size_t i = 0; i < c.obp.size(); ++i) {
      if (!c.obp[i].target.v6) continue;
      if (const std::optional<string> why = ipv6_refusal()) {
        ctx.FailText(Index("obp", i) + ".target", Quote(FormatEndpoint(c.obp[i].target)),
                     "an IPv6 peer cannot be reached: " + *why);
        return;
      }
    }
    const auto on_dpdk_address = [&c](route::Endpoint* e) {
      *e = route::Endpoint{c.dpdk.address, e->port};
    };
    on_dpdk_address(&c.hbp.listen);
    for (ObpPeer& p : c.obp) on_dpdk_address(&p.listen);
  }
  for (size_t i = 0; i < c.obp.size(); ++i) {
    ObpPeer& p = c.obp[i];
    const string key = Index("obp", i) + ".listen";
    // dpdk/afxdp listeners serve every family the plane has (checked above).
    if (c.hub.mode == HubMode::kKernel && !ListenerReaches(p.listen, p.target)) {
      ctx.FailText(Index("obp", i) + ".target", Quote(FormatEndpoint(p.target)),
                   string(p.target.v6 ? "an IPv6" : "an IPv4") +
                       " peer needs a listen address of its family or [::], not " +
                       Quote(FormatEndpoint(p.listen)));
      return;
    }
    if (Overlaps(p.listen, c.hbp.listen)) {
      ctx.FailText(key, Quote(FormatEndpoint(p.listen)),
                   "collides with hbp.listen = " + Quote(FormatEndpoint(c.hbp.listen)));
      return;
    }
    p.listener = static_cast<uint32_t>(c.obp_listeners.size());
    for (size_t l = 0; l < c.obp_listeners.size(); ++l) {
      if (c.obp_listeners[l] == p.listen) {
        p.listener = static_cast<uint32_t>(l);
      } else if (Overlaps(c.obp_listeners[l], p.listen)) {
        ctx.FailText(key, Quote(FormatEndpoint(p.listen)),
                     "collides with another [[obp]] listen address " +
                         Quote(FormatEndpoint(c.obp_listeners[l])) +
                         " (same port: one of them 0.0.0.0 or [::], or one of each family)");
        return;
      }
    }
    if (p.listener == c.obp_listeners.size()) c.obp_listeners.push_back(p.listen);
    for (size_t j = 0; j < i; ++j) {
      ObpPeer& q = c.obp[j];
      if (q.listener != p.listener) continue;
      if (q.target == p.target) {
        ctx.FailText(Index("obp", i) + ".target", Quote(FormatEndpoint(p.target)),
                     "peers sharing a listen address are told apart by their target; " +
                         Index("obp", j) + " has the same listen and target");
        return;
      }
      q.shared_listen = p.shared_listen = true;
    }
  }
  // A forgotten passphrase must not open the hub: no passphrase is an open hub only on request.
  // Checked last, so that the file's other errors are reported first.
  if (c.hbp.passphrase.empty() && !c.hbp.allow_null_passphrase) {
    ctx.FailText("hbp.passphrase", c.hbp.passphrase_set ? "\"\"" : "",
                 c.hbp.passphrase_set
                     ? "an empty passphrase is an open hub (any password logs in): set one, or "
                       "allow that with hbp.allow_null_passphrase = true"
                     : "missing: set the passphrase clients log in with, or run an open hub (any "
                       "password logs in) with hbp.allow_null_passphrase = true");
  }
}

absl::Status Invalid(const string& msg) { return absl::InvalidArgumentError(msg); }

// A TOML syntax error on a line that sets a secret may quote a character of it ("unknown escape
// sequence '\q'", "saw 'x'"): quoted fragments of such an error are hidden.
string SyntaxError(string_view toml_text, size_t line, string_view description) {
  string_view text = toml_text;
  for (size_t l = 1; l < line && !text.empty(); ++l) {
    const size_t nl = text.find('\n');
    text = nl == string_view::npos ? string_view() : text.substr(nl + 1);
  }
  const string_view line_text = text.substr(0, text.find('\n'));
  const string_view lhs = line_text.substr(0, line_text.find('='));
  bool secret_line = false;
  for (const ConfigKey* k : AllConfigKeys()) {
    if (k->secret && lhs.find(k->name()) != string_view::npos) secret_line = true;
  }
  string out(description);
  if (!secret_line) return out;
  for (size_t open = out.find('\''); open != string::npos; open = out.find('\'', open + 1)) {
    const size_t close = out.find('\'', open + 1);
    if (close == string::npos) break;
    out.replace(open, close - open + 1, "'...'");
    open += 4;
  }
  return out;
}

}  // namespace

string FormatIpv4(uint32_t ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 255) + "." +
         std::to_string((ip >> 8) & 255) + "." + std::to_string(ip & 255);
}

string FormatAddress(const route::Endpoint& e) {
  if (!e.v6) return FormatIpv4(e.ip);
  in6_addr a{};
  std::memcpy(a.s6_addr, e.ip6, sizeof(e.ip6));
  char text[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, &a, text, sizeof(text));
  return text;
}

string FormatIpv6(const std::array<uint8_t, 16>& a) {
  route::Endpoint e;
  e.v6 = true;
  std::copy(a.begin(), a.end(), e.ip6);
  return FormatAddress(e);
}

string FormatEndpoint(const route::Endpoint& e) {
  return e.v6 ? "[" + FormatAddress(e) + "]:" + std::to_string(e.port)
              : FormatIpv4(e.ip) + ":" + std::to_string(e.port);
}

string_view HubModeName(HubMode m) {
  switch (m) {
    case HubMode::kKernel:
      return "kernel";
    case HubMode::kDpdk:
      return "dpdk";
    case HubMode::kAfXdp:
      return "afxdp";
  }
  return "?";
}

string_view ControlPlaneModeName(ControlPlaneMode m) {
  return m == ControlPlaneMode::kHosted ? "hosted" : "separate";
}

string EalFilePrefix(const HubConfig& config) {
  if (config.hub.mode != HubMode::kKernel) {
    const auto& a = config.dpdk.eal_args;
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i] == "--file-prefix" && i + 1 < a.size()) return a[i + 1];
      if (a[i].rfind("--file-prefix=", 0) == 0) return a[i].substr(14);
    }
  }
  return config.hub.runtime_name;
}

string DefaultRunDir(uid_t euid, bool system_run_dir_enterable, const char* xdg_runtime_dir) {
  if (euid == 0 || system_run_dir_enterable) return string(kSystemRunDir);
  if (xdg_runtime_dir != nullptr && xdg_runtime_dir[0] == '/') {
    return string(xdg_runtime_dir) + "/dmrswitch";
  }
  return "/tmp/dmrswitch-" + std::to_string(euid);
}

string RunDir(const HubConfig& config) {
  if (!config.hub.run_dir.empty()) return config.hub.run_dir;
  // The system service runs as the unprivileged `dmrswitch` user, and systemd creates
  // /run/dmrswitch for it (RuntimeDirectory=, mode 0750): it and the members of its group must
  // meet there, as root does, or a second hub and dmrswitch-ctl would look elsewhere.
  return DefaultRunDir(::geteuid(), ::access(kSystemRunDir, X_OK) == 0,
                       std::getenv("XDG_RUNTIME_DIR"));
}

string ApiOptionsPath(const HubConfig& config) {
  if (!config.report.api_options_file.empty()) return config.report.api_options_file;
  return absl::StrCat(RunDir(config), "/", EalFilePrefix(config), ".api-options.json");
}

string CtlSocketPath(const HubConfig& config) {
  if (!config.hub.ctl_socket.empty()) return config.hub.ctl_socket;
  if (config.hub.control_plane == ControlPlaneMode::kHosted) return "";
  return absl::StrFormat("%s/%s.sock", RunDir(config), EalFilePrefix(config));
}

string_view SteeringName(Steering s) {
  switch (s) {
    case Steering::kAuto:
      return "auto";
    case Steering::kBpf:
      return "bpf";
    case Steering::kUserspace:
      return "userspace";
  }
  return "?";
}

std::vector<XdpSource> ShieldExemptSources(const HubConfig& config) {
  std::vector<XdpSource> out;
  const auto add = [&out](XdpSource s) {
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  };
  for (const ObpPeer& p : config.obp) {
    XdpSource s{p.target.ip, 0};
    if (p.target.v6) {
      s.ip = 0;
      s.v6 = true;
      std::copy(std::begin(p.target.ip6), std::end(p.target.ip6), s.ip6.begin());
    }
    add(s);
  }
  for (const XdpSource& s : config.xdp.exempt) add(s);
  return out;
}

string FormatXdpSource(const XdpSource& s) {
  if (s.v6) {
    route::Endpoint e;
    e.v6 = true;
    std::copy(s.ip6.begin(), s.ip6.end(), e.ip6);
    e.port = s.port;
    return s.port == 0 ? FormatAddress(e) : FormatEndpoint(e);
  }
  return s.port == 0 ? FormatIpv4(s.ip) : FormatEndpoint(route::Endpoint{s.ip, s.port});
}

route::Acl DefaultAcl(const ConfigKey& k) {
  absl::StatusOr<route::Acl> acl = route::Acl::Parse(
      string(k.text_default), IsRegAcl(k) ? route::Acl::kRegMin : route::Acl::kSubTgMin,
      IsRegAcl(k) ? route::Acl::kRegMax : route::Acl::kSubTgMax);
  // keys_test parses every default; a broken one must not pass silently here either.
  if (!acl.ok()) std::abort();
  return *std::move(acl);
}

route::Endpoint DefaultEndpoint(const ConfigKey& k) {
  const std::optional<route::Endpoint> e = ParseEndpoint(k.text_default);
  if (!e) std::abort();
  return *e;
}

absl::StatusOr<HubConfig> ParseConfig(string_view toml_text, string_view source_name) {
  return ParseConfig(toml_text, source_name, nullptr);
}

absl::StatusOr<HubConfig> ParseConfig(string_view toml_text, string_view source_name,
                                      std::vector<string>* keys_read) {
  Ctx ctx{string(source_name), {}, keys_read};
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    return Invalid(string(source_name) + ":" + std::to_string(e.source().begin.line) + ":" +
                   std::to_string(e.source().begin.column) + ": " +
                   SyntaxError(toml_text, e.source().begin.line, e.description()));
  }
  HubConfig c;
  c.source = string(source_name);
  Table top(&ctx, &root, "");
  ReadHub(top, c);
  ReadHbp(top, c);
  ReadAclSection(top, c);
  ReadObp(top, c);
  ReadDpdk(top, c);
  ReadXdp(top, c);
  ReadFbp(top, c);
  ReadReport(top, c);
  top.Finish();
  Finish(ctx, c);
  if (ctx.failed()) return Invalid(ctx.error);
  // Sizes are bounded by what they cost, not only by each key's range (a few keys at the top of
  // their ranges together need more memory than any machine has).
  if (absl::Status st = CheckTableMemory(c, HostMemoryBytes()); !st.ok()) return st;
  return c;
}

absl::StatusOr<HubConfig> LoadConfigFile(const string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    const string msg = path + ": cannot open: " + std::strerror(err);
    return err == ENOENT ? absl::NotFoundError(msg) : Invalid(msg);
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Invalid(path + ": read error");
  return ParseConfig(text.str(), path);
}

string_view DefaultConfigToml() {
  // Keep in sync with docs/config.md ("The default configuration"); a test compares them.
  static constexpr string_view kDefault =
      R"toml(# dmrswitch default configuration: a loopback-only hub for trying things out.
[hub]
server_id = 310999
mode = "kernel"
shards = 2
control_plane = "hosted"

[hbp]
listen = "127.0.0.1:62031"
passphrase = "passw0rd"

# One FreeBridge (v5) peer on loopback. A second hub started with the mirror image of this
# section (listen 62036, target 62035, server_id 310998, network_id 310999) forms a mesh.
[[obp]]
name = "loopback-fbp"
listen = "127.0.0.1:62035"
target = "127.0.0.1:62036"
network_id = 310998
passphrase = "passw0rd"
version = 5
)toml";
  return kDefault;
}

route::HubPolicy MakeHubPolicy(const HubConfig& c) {
  route::HubPolicy p;
  p.server_id = c.hub.server_id;
  p.sub_acl = c.acl.sub;
  p.tg_acl[route::kTs1] = c.acl.tg[route::kTs1];
  p.tg_acl[route::kTs2] = c.acl.tg[route::kTs2];
  p.lease.group_hangtime = route::TimeNs{c.hbp.group_hangtime_s} * route::kSec;
  p.lease.stream_timeout = route::TimeNs{c.hbp.stream_timeout_ms} * route::kMs;
  p.stream_lost_after = route::TimeNs{c.hbp.stream_lost_s} * route::kSec;
  p.stream_forget_after = route::TimeNs{c.hbp.stream_forget_s} * route::kSec;
  p.max_stream_age = route::TimeNs{c.hbp.max_stream_age_s} * route::kSec;
  p.rate_limit_after_packets = c.hbp.rate_limit_after_packets;
  p.rate_limit_pps = c.hbp.rate_limit_pps;
  p.activate_on = c.hbp.activate_on;
  p.client_timeout = route::TimeNs{c.hbp.ping_time_s} * c.hbp.max_missed * route::kSec;
  p.fbp_max_hops = static_cast<uint8_t>(c.fbp.max_hops);
  p.fbp_max_age = route::TimeNs{c.fbp.max_age_s} * route::kSec;
  return p;
}

std::vector<route::Endpoint> ConfigListeners(const HubConfig& c) {
  std::vector<route::Endpoint> l = {c.hbp.listen};
  l.insert(l.end(), c.obp_listeners.begin(), c.obp_listeners.end());
  return l;
}

uint32_t PeerListener(const ObpPeer& peer, std::span<const route::Endpoint> listeners) {
  for (size_t l = route::kHbpListener + 1; l < listeners.size(); ++l) {
    if (listeners[l] == peer.listen) return static_cast<uint32_t>(l);
  }
  return route::kNoListener;
}

std::vector<route::PeerSpec> MakePeerSpecs(const HubConfig& c) {
  return MakePeerSpecs(c, ConfigListeners(c));
}

std::vector<route::PeerSpec> MakePeerSpecs(const HubConfig& c,
                                           std::span<const route::Endpoint> listeners) {
  std::vector<route::PeerSpec> out;
  out.reserve(c.obp.size());
  for (const ObpPeer& o : c.obp) {
    route::PeerSpec s;
    s.name = o.name;
    s.network_id = o.network_id;
    s.target = o.target;
    s.version = o.version;
    s.id_mode = o.id_mode;
    s.relax_checks = o.relax_checks;
    s.relay = o.relay;
    s.alive = true;
    s.listener = PeerListener(o, listeners);
    s.passphrase = o.passphrase;
    s.use_acl = o.use_acl;
    s.sub_acl = o.sub_acl;
    s.tg_acl = o.tgid_acl;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace dmrswitch::cp
