// CtlApi: the operator API of dmrswitch-ctl (docs/control-plane.md). It owns the control socket
// (CtlServer), turns each request into a typed command — checking it, and answering a bad one
// itself — and carries the answers back. What a command does is the caller's business.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ctrlplane/ctl_server.h"
#include "nlohmann/json.hpp"

namespace dmrswitch::cp {

// The address of a shield block: IPv4, or an IPv6 address (/128) or its /64.
struct BlockAddress {
  uint32_t ip = 0;  // IPv4, host order
  bool v6 = false;
  std::array<uint8_t, 16> ip6{};
  uint32_t prefix_len = 128;  // IPv6: 128 or 64
};
// "a.b.c.d", "2001:db8::1", "2001:db8::1/128" or "2001:db8::/64"; unicast only. The error says
// what is wrong with `text` (without naming the command).
absl::StatusOr<BlockAddress> ParseBlockAddress(const std::string& text);

struct CtlCommand {
  enum Kind : uint8_t {
    kDrain,
    kResume,
    kStatus,
    kReload,
    kProbe,
    kBlock,
    kUnblock,
    kBlocked,
    kStats,
    kErrors,
    kLastheard
  };
  Kind kind = kStatus;
  uint64_t connection = 0;   // answer with CtlApi::Reply
  double timeout_s = 60;     // kDrain
  uint32_t pings = 10000;    // kProbe
  uint32_t publishes = 100;  // kProbe
  BlockAddress block;        // kBlock, kUnblock
  double block_s = 0;        // kBlock: seconds; 0 = until unblocked
  uint32_t limit = 100;      // kLastheard: calls (and talkgroups) at most
};

class CtlApi {
 public:
  static absl::StatusOr<std::unique_ptr<CtlApi>> Listen(const std::string& path);

  // The commands that arrived, valid ones only (the others were answered with their error).
  std::vector<CtlCommand> Poll();
  void Reply(uint64_t connection, const nlohmann::json& answer) {
    server_->Reply(connection, answer);
  }

 private:
  explicit CtlApi(std::unique_ptr<CtlServer> server) : server_(std::move(server)) {}
  // The command in `body`, or the error to answer.
  static absl::StatusOr<CtlCommand> Parse(const nlohmann::json& body);

  std::unique_ptr<CtlServer> server_;
};

}  // namespace dmrswitch::cp
