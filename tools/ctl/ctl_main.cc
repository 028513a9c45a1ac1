// dmrswitch-ctl: the operator's command line for a running hub's control plane (DESIGN.md §7).
//
//   dmrswitch-ctl (--config FILE | --socket PATH) drain [--timeout SECONDS]
//   dmrswitch-ctl (--config FILE | --socket PATH) resume | status | reload
//   dmrswitch-ctl (--config FILE | --socket PATH) probe [--pings N] [--publishes N]
//   dmrswitch-ctl (--config FILE | --socket PATH) block ADDR [--for SECONDS] | unblock ADDR
//   dmrswitch-ctl (--config FILE | --socket PATH) blocked
//   dmrswitch-ctl (--config FILE | --socket PATH) stats | errors [--json]
//   dmrswitch-ctl (--config FILE | --socket PATH) lastheard [--limit N] [--json]
//
// drain: no new streams are admitted; waits until the live ones have ended (or the timeout) and
// says how many would be cut by a dp restart now. Exit status 0 = idle, 3 = streams still live,
// 1 = error. The drain stays in effect until `resume` (or the dp restarts).
//
// block/unblock/blocked: the XDP shield's block list (docs/ebpf.md): every packet from ADDR to a
// hub port is dropped before the kernel's UDP stack sees it, for SECONDS or until unblocked;
// ping and SSH from it still work.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "ctrlplane/config/config.h"
#include "nlohmann/json.hpp"

namespace {

int Usage(int rc) {
  std::fprintf(rc == 0 ? stdout : stderr,
               "usage: dmrswitch-ctl (--config FILE | --socket PATH) COMMAND\n"
               "  drain [--timeout SECONDS]  admit no new streams, wait for live ones to end\n"
               "                             (default 60 s); exit 0 idle, 3 streams still live\n"
               "  resume                     admit new streams again\n"
               "  status                     the control plane's view, as JSON\n"
               "  reload                     re-read the configuration file\n"
               "  probe [--pings N] [--publishes N]\n"
               "                             measure the control channel: ring round trips\n"
               "                             cp -> shard -> cp and snapshot publish-to-ack\n"
               "                             (default 10000 and 100), as JSON\n"
               "  block ADDR [--for SECONDS] drop everything ADDR sends to the hub's ports in the\n"
               "                             XDP shield, for SECONDS or until unblocked\n"
               "  unblock ADDR               lift a block\n"
               "  blocked                    the blocked sources and the time they have left\n"
               "  stats [--json]             the shards' counters by name, per shard and in\n"
               "                             total, and their loop latency\n"
               "  errors [--json]            every drop, reject and error counter that is not\n"
               "                             zero, by shard and reason, most first\n"
               "  lastheard [--limit N] [--json]\n"
               "                             the last calls (default 20) and talkgroup activity\n");
  return rc;
}

// --- Text output of stats, errors and lastheard ------------------------------------------------

std::string Num(const nlohmann::json& v) {
  if (v.is_number_float()) {
    char b[32];
    std::snprintf(b, sizeof(b), "%.0f", v.get<double>());
    return b;
  }
  return v.is_number() ? v.dump() : std::string("-");
}

// One table per group: a row per counter, a column per shard and the total. Reason tables show
// their rows that are not zero on some shard.
void PrintStats(const nlohmann::json& reply) {
  const nlohmann::json& shards = reply["shards"];
  const nlohmann::json& total = reply["total"];
  std::printf("%-28s", "");
  for (const nlohmann::json& s : shards)
    std::printf(" %12s", ("shard " + s["shard"].dump()).c_str());
  std::printf(" %12s\n", "total");
  const std::vector<std::pair<std::string, bool>> groups = {
      {"io", false},   {"route", false},  {"runtime", false},    {"gauges", false},
      {"drops", true}, {"rejects", true}, {"net_rejects", true}, {"loop_latency", false}};
  for (const auto& [group, nonzero_only] : groups) {
    if (!total.contains(group)) continue;
    std::vector<std::string> rows;
    for (const auto& [name, value] : total[group].items()) {
      if (!value.is_number() || name == "tsc_hz") continue;  // the raw histogram is for tools
      bool any = !nonzero_only;
      for (const nlohmann::json& s : shards) {
        if (s.contains(group) && s[group].value(name, 0.0) != 0) any = true;
      }
      if (any) rows.push_back(name);
    }
    if (rows.empty()) continue;
    std::printf("%s\n", group.c_str());
    for (const std::string& name : rows) {
      std::printf("  %-26s", name.c_str());
      for (const nlohmann::json& s : shards) {
        std::printf(" %12s", s.contains(group) && s[group].contains(name)
                                 ? Num(s[group][name]).c_str()
                                 : "-");
      }
      std::printf(" %12s\n", group == "loop_latency" && name != "busy_iterations"
                                 ? "-"
                                 : Num(total[group][name]).c_str());
    }
  }
  std::printf(
      "(loop latency: busy iterations, ns; counters as of each shard's last copy, "
      "at most 10 ms old)\n");
}

// VPP's `show errors`: count, shard, counter, reason.
void PrintErrors(const nlohmann::json& reply) {
  std::printf("%12s  %5s  %-28s %s\n", "Count", "Shard", "Counter", "Reason");
  for (const nlohmann::json& e : reply["errors"]) {
    std::printf("%12s  %5s  %-28s %s\n", Num(e["count"]).c_str(), e["shard"].dump().c_str(),
                e.value("counter", std::string()).c_str(),
                e.value("reason", std::string()).c_str());
  }
  std::printf("%12s  total\n", Num(reply["total"]).c_str());
}

std::string WallTime(double unix_s) {
  const auto t = static_cast<time_t>(unix_s);
  std::tm tm{};
  localtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof(b), "%Y-%m-%d %H:%M:%S", &tm);
  return b;
}

void PrintLastheard(const nlohmann::json& reply) {
  std::printf("%-19s %7s %-4s %-9s %-9s %-14s %-22s %6s %4s %4s %5s %8s %s\n", "Start", "Secs",
              "Slot", "From", "To", "Type", "Source", "Frames", "Lost", "Late", "Early", "Jitter",
              "End");
  for (const nlohmann::json& c : reply["lastheard"]) {
    const nlohmann::json& src = c["source"];
    std::string source = src.value("kind", std::string()) == "peer"
                             ? "peer " + src.value("peer", std::string())
                             : src.value("callsign", std::string()) + " " +
                                   std::to_string(src.value("client_id", 0u));
    char jitter[32];
    std::snprintf(jitter, sizeof(jitter), "%.1fms", c.value("jitter_ms", 0.0));
    char secs[32];
    std::snprintf(secs, sizeof(secs), "%.1f", c.value("duration", 0.0));
    std::printf("%-19s %7s TS%-2d %-9u %-9u %-14s %-22s %6s %4s %4s %5s %8s %s\n",
                WallTime(c.value("start", 0.0)).c_str(), secs, c.value("slot", 0),
                c.value("rf_src", 0u), c.value("dst", 0u), c.value("type", std::string()).c_str(),
                source.c_str(), Num(c["frames"]).c_str(), Num(c["frames_lost"]).c_str(),
                Num(c["frames_late"]).c_str(), Num(c["frames_early"]).c_str(), jitter,
                c.value("end_reason", std::string()).c_str());
  }
  std::printf("%s live call(s)\n", Num(reply["live_calls"]).c_str());
  if (!reply["talkgroups"].empty()) {
    std::printf("\n%-9s %4s %6s %9s %-19s %-9s %s\n", "TG", "Slot", "Calls", "Seconds", "Last",
                "Last from", "Source");
    for (const nlohmann::json& t : reply["talkgroups"]) {
      std::printf("%-9u TS%-2d %6s %9.1f %-19s %-9u %s%s\n", t.value("tg", 0u), t.value("slot", 0),
                  Num(t["calls"]).c_str(), t.value("seconds", 0.0),
                  WallTime(t.value("last", 0.0)).c_str(), t.value("last_rf_src", 0u),
                  t.value("last_source", std::string()).c_str(),
                  t.value("live", false) ? " (live)" : "");
    }
  }
}

int Fail(const std::string& msg) {
  std::fprintf(stderr, "dmrswitch-ctl: %s\n", msg.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path, socket_path, cmd;
  double timeout_s = 60;
  bool timeout_given = false;
  long pings = -1, publishes = -1, limit = -1;
  std::string address;
  double block_s = 0;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a == "--socket" && i + 1 < argc) {
      socket_path = argv[++i];
    } else if (a == "--timeout" && i + 1 < argc) {
      char* end = nullptr;
      timeout_s = std::strtod(argv[++i], &end);
      if (end == nullptr || *end != '\0' || timeout_s < 0 || timeout_s > 3600) {
        return Fail("--timeout takes seconds, 0..3600");
      }
      timeout_given = true;
    } else if ((a == "--pings" || a == "--publishes") && i + 1 < argc) {
      char* end = nullptr;
      const long v = std::strtol(argv[++i], &end, 10);
      if (end == nullptr || *end != '\0' || v < 0) return Fail(a + " takes a count");
      (a == "--pings" ? pings : publishes) = v;
    } else if (a == "--for" && i + 1 < argc) {
      char* end = nullptr;
      block_s = std::strtod(argv[++i], &end);
      if (end == nullptr || *end != '\0' || !(block_s > 0) || block_s > 365.0 * 86400) {
        return Fail("--for takes seconds, more than 0 and at most a year");
      }
    } else if (a == "--limit" && i + 1 < argc) {
      char* end = nullptr;
      limit = std::strtol(argv[++i], &end, 10);
      if (end == nullptr || *end != '\0' || limit < 1 || limit > 100000) {
        return Fail("--limit takes a count, 1..100000");
      }
    } else if (a == "--json") {
      json = true;
    } else if (a == "--help" || a == "-h") {
      return Usage(0);
    } else if (cmd.empty() && a[0] != '-') {
      cmd = a;
    } else if ((cmd == "block" || cmd == "unblock") && address.empty() && a[0] != '-') {
      address = a;
    } else {
      std::fprintf(stderr, "dmrswitch-ctl: unexpected argument %s\n", a.c_str());
      return Usage(2);
    }
  }
  if (cmd.empty()) return Usage(2);
  if (cmd != "drain" && cmd != "resume" && cmd != "status" && cmd != "reload" && cmd != "probe" &&
      cmd != "block" && cmd != "unblock" && cmd != "blocked" && cmd != "stats" && cmd != "errors" &&
      cmd != "lastheard") {
    return Fail("unknown command \"" + cmd +
                "\" (drain, resume, status, reload, probe, block, unblock, blocked, stats, errors, "
                "lastheard)");
  }
  if (limit >= 0 && cmd != "lastheard") return Fail("--limit applies to lastheard only");
  if (json && cmd != "stats" && cmd != "errors" && cmd != "lastheard") {
    return Fail("--json applies to stats, errors and lastheard (status and probe print JSON)");
  }
  if ((cmd == "block" || cmd == "unblock") && address.empty()) {
    return Fail(cmd + " needs an address: dmrswitch-ctl " + cmd +
                " a.b.c.d (or an IPv6 address, or its /64: 2001:db8::/64)");
  }
  if (block_s > 0 && cmd != "block") return Fail("--for applies to block only");
  if ((pings >= 0 || publishes >= 0) && cmd != "probe") {
    return Fail("--pings and --publishes apply to probe only");
  }
  if (timeout_given && cmd != "drain") return Fail("--timeout applies to drain only");
  if (socket_path.empty()) {
    if (config_path.empty()) return Usage(2);
    auto config = dmrswitch::cp::LoadConfigFile(config_path);
    if (!config.ok()) return Fail(std::string(config.status().message()));
    socket_path = dmrswitch::cp::CtlSocketPath(*config);
    if (socket_path.empty()) {
      return Fail(config_path +
                  ": no control socket (hosted control plane without hub.ctl_socket)");
    }
  }

  sockaddr_un addr{};
  if (socket_path.size() >= sizeof(addr.sun_path)) return Fail("socket path too long");
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  nlohmann::json request{{"cmd", cmd}};
  if (cmd == "drain") request["timeout_s"] = timeout_s;
  if (!address.empty()) request["address"] = address;
  if (block_s > 0) request["for_s"] = block_s;
  if (pings >= 0) request["pings"] = pings;
  if (publishes >= 0) request["publishes"] = publishes;
  if (cmd == "lastheard") request["limit"] = limit >= 0 ? limit : 20;

  // A stopped or hung control plane must not hang the operator's shell (or a deploy script):
  // everything below has a deadline. A drain answers by its own timeout; a probe holds the
  // control plane for up to 10 s per measurement.
  const double wait_s = (cmd == "drain" ? timeout_s : 0) + (cmd == "probe" ? 30 : 10);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(wait_s * 1000));
  const auto left_ms = [&] {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<int64_t>(0, left.count()));
  };
  const std::string no_answer = "no answer from the control plane at " + socket_path + " within " +
                                std::to_string(static_cast<int>(wait_s)) +
                                " s (is dmrswitch-cp stopped or hung?)";
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Fail(std::string("socket: ") + std::strerror(errno));
  // A Unix socket whose backlog is full answers EAGAIN at once: retry until the deadline.
  while (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno != EAGAIN || left_ms() == 0) {
      const int err = errno;
      close(fd);
      return Fail(err == EAGAIN ? no_answer
                                : "cannot reach the control plane at " + socket_path + ": " +
                                      std::strerror(err) + " (is dmrswitch-cp running?)");
    }
    usleep(20000);
  }
  const std::string line = request.dump() + "\n";
  size_t sent = 0;
  std::string answer;
  char buf[4096];
  while (answer.find('\n') == std::string::npos) {
    pollfd p{fd, static_cast<short>(sent < line.size() ? POLLOUT : POLLIN), 0};
    const int ready = poll(&p, 1, left_ms());
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      close(fd);
      return Fail(no_answer);
    }
    if (sent < line.size()) {
      const ssize_t n = send(fd, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
      // A refusal (busy, permission) may be written and the socket closed before the request
      // goes out: stop sending and read what the control plane said.
      if (n < 0 && errno != EAGAIN) sent = line.size();
      if (n > 0) sent += static_cast<size_t>(n);
      continue;
    }
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n == 0 || (n < 0 && errno != EAGAIN)) break;
    if (n > 0) answer.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  const nlohmann::json reply = nlohmann::json::parse(answer, nullptr, false);
  if (reply.is_discarded() || !reply.is_object()) {
    return Fail("no answer from the control plane (it may have restarted; try again)");
  }
  if (!reply.value("ok", false)) return Fail(reply.value("error", std::string("request failed")));
  if (cmd == "drain") {
    const uint32_t cut = reply.value("cut", 0u);
    std::printf("drain: %s after %.1f s, %u stream(s) live at start, %u cut\n",
                reply.value("idle", false) ? "idle" : "timed out", reply.value("waited_s", 0.0),
                reply.value("live_at_start", 0u), cut);
    return cut == 0 && reply.value("idle", false) ? 0 : 3;
  }
  if (cmd == "status" || cmd == "probe" || json) {
    std::printf("%s\n",
                reply.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else if (cmd == "block") {
    if (reply.value("forever", false)) {
      std::printf("%s blocked until unblocked\n", address.c_str());
    } else {
      std::printf("%s blocked for %g s\n", address.c_str(), reply.value("for_s", block_s));
    }
  } else if (cmd == "unblock") {
    std::printf("%s unblocked\n", address.c_str());
  } else if (cmd == "blocked") {
    const nlohmann::json list = reply.value("blocked", nlohmann::json::array());
    if (list.empty()) std::printf("no source is blocked\n");
    for (const nlohmann::json& b : list) {
      const std::string addr = b.value("address", std::string("?"));
      if (b.value("forever", false)) {
        std::printf("%-15s until unblocked\n", addr.c_str());
      } else {
        std::printf("%-15s %.0f s left\n", addr.c_str(), b.value("remaining_s", 0.0));
      }
    }
  } else if (cmd == "stats") {
    PrintStats(reply);
  } else if (cmd == "errors") {
    PrintErrors(reply);
  } else if (cmd == "lastheard") {
    PrintLastheard(reply);
  } else {
    std::printf("%s: ok\n", cmd.c_str());
  }
  return 0;
}
