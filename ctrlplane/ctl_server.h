// CtlServer: the control plane's operator socket (dmrswitch-ctl). A Unix stream socket; each
// request is one line of JSON ({"cmd": "drain", "timeout_s": 30}), each answer one line of JSON.
// Non-blocking and polled from the control plane's loop: a request can be answered later (a
// drain answers when the shards are idle or the time is up).
//
// Every port is on the internet, and this one is on the box: the socket is mode 0660 (owner and
// the service's group, whatever the umask), a peer is admitted only as root, the hub's own user
// or a member of the hub's group (SO_PEERCRED), and no client can hold it: connections beyond
// `max_connections` are refused with a clear answer, one that sends no complete request within
// `idle_timeout` is closed, requests are bounded in size, and answers never block (a long one is
// sent as the client reads it, for at most `idle_timeout`). A client that half-closes after its
// request (shutdown(SHUT_WR)) still gets its answer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace dmrswitch::cp {

struct CtlRequest {
  uint64_t connection;  // pass to Reply
  nlohmann::json body;  // a JSON object with at least "cmd"
};

struct CtlServerLimits {
  size_t max_connections = 16;
  size_t max_request_bytes = 4096;
  // Until a complete request, and for taking an answer that did not fit the socket at once.
  absl::Duration idle_timeout = absl::Seconds(10);
};

class CtlServer {
 public:
  // Binds `path` (its directory is created; a stale socket file is replaced unless a live
  // server answers on it).
  static absl::StatusOr<std::unique_ptr<CtlServer>> Listen(const std::string& path,
                                                           CtlServerLimits limits = {});
  ~CtlServer();
  CtlServer(const CtlServer&) = delete;
  CtlServer& operator=(const CtlServer&) = delete;

  // Accepts, reads and returns complete requests; malformed lines, refused peers and idle
  // connections are answered (or closed) here and not returned.
  std::vector<CtlRequest> Poll();
  // Answers `connection` (no-op when it has gone) and closes it.
  void Reply(uint64_t connection, const nlohmann::json& answer);
  const std::string& path() const { return path_; }

  struct Counters {
    uint64_t refused_full = 0;      // over max_connections
    uint64_t refused_peer = 0;      // not root, the hub's user or its group
    uint64_t closed_idle = 0;       // no complete request in time
    uint64_t refused_too_long = 0;  // request over max_request_bytes
    uint64_t answers_not_sent = 0;  // the client did not take its answer (in idle_timeout)
  };
  const Counters& counters() const { return counters_; }
  size_t connections() const { return connections_.size(); }

 private:
  CtlServer() = default;
  struct Connection {
    uint64_t id = 0;
    int fd = -1;
    std::string in = {};
    absl::Time opened = {};
    bool eof = false;      // the client half-closed: nothing more to read
    bool pending = false;  // its request was handed out; the answer is owed
    std::string out = {};  // an answer being sent (Reply could not send it whole)
    size_t out_sent = 0;
    absl::Time replying_since = {};
  };
  void Close(size_t index);
  // Sends more of connection `index`'s answer; false when the connection was closed (answer
  // sent whole, or the client gone or not reading for idle_timeout).
  bool FlushAnswer(size_t index, absl::Time now);
  void Refuse(int fd, const std::string& why);
  bool PeerAllowed(int fd) const;

  std::string path_;
  CtlServerLimits limits_;
  int listen_fd_ = -1;
  uint64_t next_id_ = 1;
  std::vector<Connection> connections_;
  Counters counters_;
};

}  // namespace dmrswitch::cp
