// CtlServer: the control plane's operator socket (dmrswitch-ctl). A Unix stream socket; each
// request is one line of JSON ({"cmd": "drain", "timeout_s": 30}), each answer one line of JSON.
// Non-blocking and polled from the control plane's loop: a request can be answered later (a
// drain answers when the shards are idle or the time is up).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace dmrswitch::cp {

struct CtlRequest {
  uint64_t connection;  // pass to Reply
  nlohmann::json body;  // a JSON object with at least "cmd"
};

class CtlServer {
 public:
  // Binds `path` (its directory is created; a stale socket file is replaced unless a live
  // server answers on it).
  static absl::StatusOr<std::unique_ptr<CtlServer>> Listen(const std::string& path);
  ~CtlServer();
  CtlServer(const CtlServer&) = delete;
  CtlServer& operator=(const CtlServer&) = delete;

  // Accepts, reads and returns complete requests; malformed lines are answered with an error
  // here and not returned.
  std::vector<CtlRequest> Poll();
  // Answers `connection` (no-op when it has gone) and closes it.
  void Reply(uint64_t connection, const nlohmann::json& answer);
  const std::string& path() const { return path_; }

 private:
  CtlServer() = default;
  struct Connection {
    uint64_t id;
    int fd;
    std::string in;
  };
  void Close(size_t index);

  std::string path_;
  int listen_fd_ = -1;
  uint64_t next_id_ = 1;
  std::vector<Connection> connections_;
};

}  // namespace dmrswitch::cp
