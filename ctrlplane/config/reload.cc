#include "ctrlplane/config/reload.h"

#include <charconv>
#include <cstdio>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace dmrswitch::cp {
namespace {

using Flat = std::vector<std::pair<std::string, std::string>>;

std::string Bool(bool b) { return b ? "true" : "false"; }

std::string TgList(const std::vector<uint32_t>& v) {
  return absl::StrCat("[", absl::StrJoin(v, ", "), "]");
}

template <typename E, size_t N>
std::string EnumName(E value, const std::pair<std::string_view, E> (&names)[N]) {
  for (const auto& [name, v] : names) {
    if (v == value) return std::string(name);
  }
  return "?";
}

std::string Mac(const std::array<uint8_t, 6>& m) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                m[5]);
  return buf;
}

// The shortest text that reads back as `v`: StrCat keeps six significant digits, so two values
// that differ past them would compare equal and the change would not be applied.
std::string ShortestDecimal(double v) {
  char buf[64];
  std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
  if (r.ec != std::errc()) r = std::to_chars(buf, buf + sizeof(buf), v);  // 1e-300
  return std::string(buf, r.ptr);
}

// Copies every restart key of `running` into `next` (the reload keeps them). One line per key
// of the table's restart class: reload_test checks that a reload changing every key keeps
// exactly these, so a restart key added to the table but not here fails it.
void KeepRestartKeys(const HubConfig& running, HubConfig& next) {
  next.hub.mode = running.hub.mode;
  next.hub.shards = running.hub.shards;
  next.hub.control_plane = running.hub.control_plane;
  next.hub.steering = running.hub.steering;
  next.hub.stream_capacity = running.hub.stream_capacity;
  next.hub.parrot_recordings = running.hub.parrot_recordings;
  next.hub.parrot_max_s = running.hub.parrot_max_s;
  next.hub.snapshot_arena_mb = running.hub.snapshot_arena_mb;
  next.hub.runtime_name = running.hub.runtime_name;
  next.hub.run_dir = running.hub.run_dir;
  next.hub.ctl_socket = running.hub.ctl_socket;
  next.report.api_options_file = running.report.api_options_file;
  next.hbp.listen = running.hbp.listen;
  next.hbp.max_clients = running.hbp.max_clients;
  next.hbp.fixed_clients = running.hbp.fixed_clients;
  next.dpdk = running.dpdk;
  next.xdp.interface = running.xdp.interface;
  next.xdp.attach = running.xdp.attach;
  // The packet plane's listeners were opened at its start: the file's list of them too.
  next.obp_listeners = running.obp_listeners;
}

// The running configuration's peer of that name, or null (a new one).
const ObpPeer* RunningPeer(const HubConfig& running, std::string_view name) {
  const ObpPeer* found = nullptr;
  for (const ObpPeer& o : running.obp) {
    if (o.name == name) found = &o;
  }
  return found;
}

// A peer of `next` whose target the running packet plane cannot send to (`can_send(peer,
// target)` false) keeps its running target when the plane can send to that one; otherwise it is
// left out until a restart. Each is said in the plan's kept lines, `why(peer, left_out)` saying
// why.
template <typename CanSend, typename Why>
void KeepTargetsThePlaneCannotReach(const HubConfig& running, HubConfig& next, ReloadPlan& plan,
                                    CanSend can_send, Why why) {
  for (auto p = next.obp.begin(); p != next.obp.end();) {
    if (can_send(*p, p->target)) {
      ++p;
      continue;
    }
    const ObpPeer* old = RunningPeer(running, p->name);
    if (old != nullptr && can_send(*p, old->target)) {
      plan.kept.push_back(absl::StrCat("peer ", p->name, " target ", FormatEndpoint(old->target),
                                       " -> ", FormatEndpoint(p->target), " (", why(*p, false),
                                       ")"));
      p->target = old->target;
      ++p;
    } else {
      plan.kept.push_back(
          absl::StrCat("peer ", p->name, " is not served until a restart (", why(*p, true), ")"));
      p = next.obp.erase(p);
    }
  }
}

}  // namespace

Flat FlattenConfig(const HubConfig& c) {
  Flat f;
  const auto add = [&f](std::string path, std::string value) {
    f.emplace_back(std::move(path), std::move(value));
  };
  const auto num = [](auto v) { return absl::StrCat(v); };
  add("hub.server_id", num(c.hub.server_id));
  add("hub.mode", EnumName(c.hub.mode, kHubModeNames));
  add("hub.shards", num(c.hub.shards));
  add("hub.control_plane", EnumName(c.hub.control_plane, kControlPlaneNames));
  add("hub.steering", EnumName(c.hub.steering, kSteeringNames));
  add("hub.status_interval_s", num(c.hub.status_interval_s));
  add("hub.stream_capacity", num(c.hub.stream_capacity));
  add("hub.parrot_recordings", num(c.hub.parrot_recordings));
  add("hub.parrot_max_s", num(c.hub.parrot_max_s));
  add("hub.snapshot_arena_mb", num(c.hub.snapshot_arena_mb));
  add("hub.log_level", c.hub.log_level);
  add("hub.runtime_name", c.hub.runtime_name);
  add("hub.run_dir", c.hub.run_dir);
  add("hub.ctl_socket", c.hub.ctl_socket);

  const HbpSection& h = c.hbp;
  add("hbp.listen", FormatEndpoint(h.listen));
  add("hbp.passphrase", h.passphrase);
  add("hbp.allow_null_passphrase", Bool(h.allow_null_passphrase));
  add("hbp.max_clients", num(h.max_clients));
  add("hbp.ping_time_s", num(h.ping_time_s));
  add("hbp.max_missed", num(h.max_missed));
  add("hbp.group_hangtime_s", num(h.group_hangtime_s));
  add("hbp.default_ua_timer_min", ShortestDecimal(h.default_ua_timer_min));
  add("hbp.single_mode", Bool(h.single_mode));
  add("hbp.activate_on", EnumName(h.activate_on, kActivateOnNames));
  add("hbp.login_burst", num(h.login_burst));
  add("hbp.login_window_s", num(h.login_window_s));
  add("hbp.login_block_s", num(h.login_block_s));
  add("hbp.stream_timeout_ms", num(h.stream_timeout_ms));
  add("hbp.stream_lost_s", num(h.stream_lost_s));
  add("hbp.stream_forget_s", num(h.stream_forget_s));
  add("hbp.max_stream_age_s", num(h.max_stream_age_s));
  add("hbp.rate_limit_after_packets", num(h.rate_limit_after_packets));
  add("hbp.rate_limit_pps", num(h.rate_limit_pps));
  for (size_t i = 0; i < h.statics.size(); ++i) {
    const std::string p = absl::StrCat("hbp.static[", i, "].");
    add(p + "client", num(h.statics[i].client));
    add(p + "ts1", TgList(h.statics[i].ts[route::kTs1]));
    add(p + "ts2", TgList(h.statics[i].ts[route::kTs2]));
  }
  for (size_t i = 0; i < h.fixed_clients.size(); ++i) {
    const FixedClient& x = h.fixed_clients[i];
    const std::string p = absl::StrCat("hbp.fixed_client[", i, "].");
    add(p + "id", num(x.id));
    add(p + "address", FormatEndpoint(x.addr));
    add(p + "slots", std::string(1, x.slots));
    add(p + "options", x.options);
    add(p + "callsign", x.callsign);
  }

  add("acl.reg", c.acl.reg.ToString());
  add("acl.sub", c.acl.sub.ToString());
  add("acl.tg_ts1", c.acl.tg[route::kTs1].ToString());
  add("acl.tg_ts2", c.acl.tg[route::kTs2].ToString());

  for (size_t i = 0; i < c.obp.size(); ++i) {
    const ObpPeer& o = c.obp[i];
    const std::string p = absl::StrCat("obp[", i, "].");
    add(p + "name", o.name);
    add(p + "listen", FormatEndpoint(o.listen));
    add(p + "target", FormatEndpoint(o.target));
    add(p + "network_id", num(o.network_id));
    add(p + "passphrase", o.passphrase);
    add(p + "version", num(o.version));
    add(p + "id_mode", EnumName(o.id_mode, kIdModeNames));
    add(p + "relax_checks", Bool(o.relax_checks));
    add(p + "relay", Bool(o.relay));
    add(p + "use_acl", Bool(o.use_acl));
    add(p + "sub_acl", o.sub_acl.ToString());
    add(p + "tgid_acl", o.tgid_acl.ToString());
    add(p + "keepalive_s", num(o.keepalive_s));
    add(p + "dead_after_s", num(o.dead_after_s));
    add(p + "bcve_interval_s", num(o.bcve_interval_s));
  }

  std::vector<std::string> args;
  for (const std::string& a : c.dpdk.eal_args) args.push_back(absl::StrCat("\"", a, "\""));
  add("dpdk.eal_args", absl::StrCat("[", absl::StrJoin(args, ", "), "]"));
  add("dpdk.address", FormatIpv4(c.dpdk.address));
  add("dpdk.address6", c.dpdk.has_address6 ? FormatIpv6(c.dpdk.address6) : "none");
  add("dpdk.gateway_mac", c.dpdk.has_gateway_mac ? Mac(c.dpdk.gateway_mac) : "none");
  add("dpdk.tx_port", num(c.dpdk.tx_port));
  add("dpdk.promiscuous", Bool(c.dpdk.promiscuous));

  add("xdp.interface", c.xdp.interface);
  add("xdp.attach", EnumName(c.xdp.attach, kXdpAttachNames));
  add("xdp.source_pps", num(c.xdp.source_pps));
  add("xdp.source_burst", num(c.xdp.source_burst));
  add("xdp.source_prefix6", num(c.xdp.source_prefix6));
  std::vector<std::string> exempt;
  for (const XdpSource& x : c.xdp.exempt)
    exempt.push_back(absl::StrCat("\"", FormatXdpSource(x), "\""));
  add("xdp.exempt", absl::StrCat("[", absl::StrJoin(exempt, ", "), "]"));

  add("fbp.max_hops", num(c.fbp.max_hops));
  add("fbp.max_age_s", num(c.fbp.max_age_s));

  const ReportSection& r = c.report;
  add("report.http", r.http);
  add("report.feed", r.feed);
  add("report.feed_json", r.feed_json);
  add("report.mqtt", r.mqtt);
  add("report.mqtt_topic", r.mqtt_topic);
  add("report.mqtt_username", r.mqtt_username);
  add("report.mqtt_password_file", r.mqtt_password_file);
  add("report.mqtt_bm_session", Bool(r.mqtt_bm_session));
  add("report.feed_systems", num(r.feed_systems));
  add("report.feed_max_message", num(r.feed_max_message));
  add("report.feed_max_connections", num(r.feed_max_connections));
  add("report.lastheard_size", num(r.lastheard_size));
  add("report.talkgroups_size", num(r.talkgroups_size));
  add("report.api_token_file", r.api_token_file);
  add("report.api_options_file", r.api_options_file);
  return f;
}

ReloadPlan PlanReload(const HubConfig& running, HubConfig next,
                      std::span<const route::Endpoint> listeners) {
  ReloadPlan plan;
  // What the file changed in restart keys: kept, and said.
  const Flat before = FlattenConfig(running);
  const std::map<std::string, std::string> old_values(before.begin(), before.end());
  const auto diff = [&](const HubConfig& c, auto&& on_change) {
    const Flat after = FlattenConfig(c);
    const std::map<std::string, std::string> new_values(after.begin(), after.end());
    std::set<std::string> paths;
    for (const auto& [p, v] : before) paths.insert(p);
    for (const auto& [p, v] : after) paths.insert(p);
    for (const std::string& p : paths) {
      const auto o = old_values.find(p);
      const auto n = new_values.find(p);
      const std::string was = o == old_values.end() ? "(none)" : o->second;
      const std::string now = n == new_values.end() ? "(none)" : n->second;
      if (was == now) continue;
      // Secret values are compared, never shown (keys.h: ConfigKey::secret).
      const ConfigKey* key = FindConfigKey(p);
      on_change(p, key != nullptr && key->secret ? absl::StrCat(p, " changed (secret)")
                                                 : absl::StrCat(p, " ", was, " -> ", now));
    }
  };
  diff(next, [&](const std::string& path, std::string line) {
    const ConfigKey* key = FindConfigKey(path);
    if (key != nullptr && key->reload == ReloadClass::kRestart) plan.kept.push_back(line);
  });

  KeepRestartKeys(running, next);
  // In dpdk/afxdp mode listeners use the hub's one address (as ParseConfig does): the file's
  // addresses are read with the running mode.
  if (next.hub.mode != HubMode::kKernel) {
    for (ObpPeer& p : next.obp) p.listen = route::Endpoint{next.dpdk.address, p.listen.port};
  }
  // A peer moves only to an address the packet plane listens on; otherwise it keeps the one it
  // runs with, and a new peer there is not served until a restart.
  for (ObpPeer& p : next.obp) {
    if (PeerListener(p, listeners) != route::kNoListener) continue;
    const ObpPeer* old = RunningPeer(running, p.name);
    if (old != nullptr && PeerListener(*old, listeners) != route::kNoListener) {
      plan.kept.push_back(absl::StrCat("peer ", p.name, " listen ", FormatEndpoint(old->listen),
                                       " -> ", FormatEndpoint(p.listen),
                                       " (the hub does not listen there)"));
      p.listen = old->listen;
    } else {
      plan.kept.push_back(absl::StrCat("peer ", p.name, " is not served until a restart (the hub ",
                                       "does not listen on ", FormatEndpoint(p.listen), ")"));
    }
  }
  // Kernel mode: a peer whose listen address was kept above must still reach its target's
  // family (the file was checked with the listen address it asked for).
  if (next.hub.mode == HubMode::kKernel) {
    KeepTargetsThePlaneCannotReach(
        running, next, plan,
        [](const ObpPeer& p, const route::Endpoint& target) {
          return ListenerReaches(p.listen, target);
        },
        [](const ObpPeer& p, bool) {
          return absl::StrCat("its running listen address ", FormatEndpoint(p.listen),
                              " cannot reach ", FormatEndpoint(p.target));
        });
  }
  // dpdk/afxdp mode reaches IPv6 targets only with the dpdk.address6 it started with (the file
  // was checked against its own [dpdk], which the reload does not apply).
  if (next.hub.mode != HubMode::kKernel && !next.dpdk.has_address6) {
    const std::string why = absl::StrCat("the running ", std::string(HubModeName(next.hub.mode)),
                                         " mode has no dpdk.address6 to send from");
    KeepTargetsThePlaneCannotReach(
        running, next, plan,
        [](const ObpPeer&, const route::Endpoint& target) { return !target.v6; },
        [&why](const ObpPeer& p, bool left_out) {
          return left_out ? absl::StrCat(why, " to ", FormatEndpoint(p.target)) : why;
        });
  }

  // What changes now: the live keys, as they will run.
  diff(next, [&](const std::string& path, std::string line) {
    const ConfigKey* key = FindConfigKey(path);
    plan.applied.push_back(std::move(line));
    // Every path FlattenConfig writes is a key of the table (reload_test checks).
    plan.appliers.insert(key == nullptr ? Applier::kPolicy : key->applier);
  });
  plan.config = std::move(next);
  return plan;
}

}  // namespace dmrswitch::cp
