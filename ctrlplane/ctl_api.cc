#include "ctrlplane/ctl_api.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace dmrswitch::cp {

absl::StatusOr<std::unique_ptr<CtlApi>> CtlApi::Listen(const std::string& path) {
  auto server = CtlServer::Listen(path);
  if (!server.ok()) return server.status();
  return std::unique_ptr<CtlApi>(new CtlApi(*std::move(server)));
}

absl::StatusOr<BlockAddress> ParseBlockAddress(const std::string& text) {
  BlockAddress b;
  const size_t slash = text.find('/');
  const std::string host = text.substr(0, slash);
  in6_addr addr6{};
  if (text.size() < 64 && host.find(':') != std::string::npos &&
      inet_pton(AF_INET6, host.c_str(), &addr6) == 1) {
    b.v6 = true;
    std::memcpy(b.ip6.data(), addr6.s6_addr, 16);
    if (slash != std::string::npos) {
      const std::string len = text.substr(slash + 1);
      if (len != "64" && len != "128") {
        return absl::InvalidArgumentError(absl::StrCat(
            "an IPv6 block covers an address (/128) or its /64, not /", len.substr(0, 8)));
      }
      b.prefix_len = len == "64" ? 64 : 128;
    }
    std::array<uint8_t, 16> loopback{};
    loopback[15] = 1;
    const bool mapped = IN6_IS_ADDR_V4MAPPED(&addr6);
    if (b.ip6 == std::array<uint8_t, 16>{} || b.ip6 == loopback || b.ip6[0] == 0xFF || mapped) {
      return absl::InvalidArgumentError(absl::StrCat(host, " is not a unicast IPv6 address",
                                                     mapped ? " (write it as IPv4)" : ""));
    }
    return b;
  }
  in_addr addr{};
  if (slash != std::string::npos || text.size() > 15 ||
      inet_pton(AF_INET, text.c_str(), &addr) != 1) {
    return absl::InvalidArgumentError(
        "needs an address: \"a.b.c.d\", \"2001:db8::1\" or \"2001:db8::/64\"");
  }
  b.ip = ntohl(addr.s_addr);
  if (b.ip == 0 || b.ip == 0xFFFFFFFF || (b.ip >> 28) == 0xE) {
    return absl::InvalidArgumentError(absl::StrCat(text, " is not a unicast address"));
  }
  return b;
}

absl::StatusOr<CtlCommand> CtlApi::Parse(const nlohmann::json& body) {
  const std::string cmd = body["cmd"].get<std::string>();
  CtlCommand c;
  if (cmd == "drain") {
    c.kind = CtlCommand::kDrain;
    if (body.contains("timeout_s")) {
      const nlohmann::json& t = body["timeout_s"];
      if (!t.is_number()) return absl::InvalidArgumentError("timeout_s must be a number");
      if (t.get<double>() < 0 || t.get<double>() > 3600) {
        return absl::InvalidArgumentError("timeout_s must be 0..3600");
      }
      c.timeout_s = t.get<double>();
    }
  } else if (cmd == "probe") {
    c.kind = CtlCommand::kProbe;
    const auto count = [&](const char* key, int64_t fallback) -> int64_t {
      if (!body.contains(key)) return fallback;
      return body[key].is_number_unsigned() ? body[key].get<int64_t>() : -1;
    };
    const int64_t pings = count("pings", c.pings), publishes = count("publishes", c.publishes);
    if (pings < 0 || publishes < 0 || pings > 1000000 || publishes > 10000) {
      return absl::InvalidArgumentError("at most 1000000 pings, 10000 publishes");
    }
    c.pings = static_cast<uint32_t>(pings);
    c.publishes = static_cast<uint32_t>(publishes);
  } else if (cmd == "resume") {
    c.kind = CtlCommand::kResume;
  } else if (cmd == "status") {
    c.kind = CtlCommand::kStatus;
  } else if (cmd == "reload") {
    c.kind = CtlCommand::kReload;
  } else if (cmd == "block" || cmd == "unblock") {
    c.kind = cmd == "block" ? CtlCommand::kBlock : CtlCommand::kUnblock;
    const nlohmann::json& a = body.contains("address") ? body["address"] : nlohmann::json();
    if (!a.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          cmd,
          " needs an address (\"address\": \"a.b.c.d\", \"2001:db8::1\" or \"2001:db8::/64\")"));
    }
    absl::StatusOr<BlockAddress> block = ParseBlockAddress(a.get<std::string>());
    if (!block.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(cmd, ": ", block.status().message()));
    }
    c.block = *block;
    if (body.contains("for_s")) {
      const nlohmann::json& f = body["for_s"];
      if (cmd != "block" || !f.is_number() || f.get<double>() <= 0 ||
          f.get<double>() > 365.0 * 86400) {
        return absl::InvalidArgumentError(
            "for_s (block only) must be a number of seconds, more than 0 and at most a year");
      }
      c.block_s = f.get<double>();
    }
  } else if (cmd == "blocked") {
    c.kind = CtlCommand::kBlocked;
  } else if (cmd == "stats") {
    c.kind = CtlCommand::kStats;
  } else if (cmd == "errors") {
    c.kind = CtlCommand::kErrors;
  } else if (cmd == "lastheard") {
    c.kind = CtlCommand::kLastheard;
    if (body.contains("limit")) {
      const nlohmann::json& l = body["limit"];
      if (!l.is_number_unsigned() || l.get<uint64_t>() == 0 || l.get<uint64_t>() > 100000) {
        return absl::InvalidArgumentError("limit must be 1..100000");
      }
      c.limit = l.get<uint32_t>();
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown command \"", cmd,
        "\" (drain, resume, status, reload, probe, block, unblock, blocked, stats, errors, "
        "lastheard)"));
  }
  return c;
}

std::vector<CtlCommand> CtlApi::Poll() {
  std::vector<CtlCommand> out;
  for (const CtlRequest& r : server_->Poll()) {
    absl::StatusOr<CtlCommand> c = Parse(r.body);
    if (!c.ok()) {
      server_->Reply(r.connection, {{"ok", false}, {"error", std::string(c.status().message())}});
      continue;
    }
    c->connection = r.connection;
    out.push_back(*c);
  }
  return out;
}

}  // namespace dmrswitch::cp
