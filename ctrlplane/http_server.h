// HttpServer: the HTTP/1.1 server under `[report] http`, with every bound an internet-facing
// listener needs (docs/reporting.md §D). Handlers see cpp-httplib's Request and Response, so the
// routes read as they would under httplib::Server; the sockets are this class's own because
// Debian's cpp-httplib (0.11) bounds neither a header line's length nor a sender's pace: one
// client could make the process buffer a 64 MB header, and a byte every few seconds held a
// worker for good.
//
// What it keeps:
//   - a request head of at most `limits.max_head_bytes` (431), a target of `max_target_bytes`
//     (414), a body of `max_body_bytes` (413), only Content-Length bodies (411);
//   - the whole request (head and body) within `request_timeout_ms` of its first byte (408), a
//     kept-alive connection idle at most `idle_timeout_ms`, at most `max_requests_per_connection`;
//   - a response that makes no progress for `write_timeout_ms`, or is not sent within
//     `response_timeout_ms`, drops the connection; a connection lives `max_connection_ms` at most
//     (checked between requests);
//   - at most `max_connections` connections and `max_connections_per_address` from one address
//     (an IPv6 /64 counts as one), one thread each. When all are taken, the connection that has
//     waited longest for (the rest of) a request is closed for the new one; when none waits, and
//     beyond an address's cap, the new one gets 503 at once;
//   - Stop() from any thread but a handler's wakes every wait at once: it returns as soon as the
//     handlers running return (an event stream's provider waits in short steps).
// HEAD is served by the GET routes without the body. A response with a chunked content provider
// is sent chunked (to HTTP/1.0 clients: as it comes, ended by the close) and ends its
// connection.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "ctrlplane/http_head.h"
#include "httplib.h"

namespace dmrswitch::cp {

struct HttpServerOptions {
  HttpLimits limits;
  int request_timeout_ms = 10000;
  int idle_timeout_ms = 5000;
  int write_timeout_ms = 5000;      // a response (or an event) sending nothing for this long
  int response_timeout_ms = 60000;  // one response (not an event stream), all of it
  int max_connection_ms = 120000;
  // A browser opens up to six connections and an event stream; a few operators may share an
  // address.
  int max_connections = 128;
  int max_connections_per_address = 16;
  // Connections from loopback (a reverse proxy on the box) count only against max_connections.
  bool limit_loopback_connections = false;
  int max_requests_per_connection = 100;
};

class HttpServer {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  // Returns true when it answered the request itself (routing is skipped).
  using PreRouting = std::function<bool(const httplib::Request&, httplib::Response&)>;

  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes, before Listen(): `pattern` must match the whole decoded path; its groups are in
  // req.matches. First match wins.
  void Get(const std::string& pattern, Handler handler);
  void Put(const std::string& pattern, Handler handler);
  void Post(const std::string& pattern, Handler handler);
  void Delete(const std::string& pattern, Handler handler);
  void SetPreRouting(PreRouting handler) { pre_routing_ = std::move(handler); }
  // After routing, for every answered request (headers common to all responses).
  void SetPostRouting(Handler handler) { post_routing_ = std::move(handler); }
  // For a status >= 400 after routing (a body for the unrouted).
  void SetErrorHandler(Handler handler) { error_handler_ = std::move(handler); }

  // Binds `host:port` (port 0: any free port) and starts accepting. Returns the port.
  absl::StatusOr<uint16_t> Listen(const std::string& host, uint16_t port);
  // Any thread, idempotent; joins every thread of this server.
  void Stop();

  struct Counters {
    std::atomic<uint64_t> connections{0};
    std::atomic<uint64_t> refused_connections{0};  // over a connection cap: 503
    std::atomic<uint64_t> evicted_connections{0};  // closed, while waiting, for a new one
    std::atomic<uint64_t> bad_requests{0};         // 400/411/413/414/417/431/505
    std::atomic<uint64_t> timeouts{0};             // 408, idle ends not counted
    std::atomic<uint64_t> write_failures{0};
  };
  const Counters& counters() const { return counters_; }
  int open_connections() const { return open_.load(); }

 private:
  struct Route {
    std::regex pattern;
    Handler handler;
  };
  struct Connection;

  void AcceptLoop();
  void Serve(Connection* c);
  void Reap(bool all);
  // With mu_ held: closes the connection that has waited longest for a request; false if none.
  bool EvictOneWaiting();

  const HttpServerOptions options_;
  std::vector<Route> get_, put_, post_, delete_;
  PreRouting pre_routing_;
  Handler post_routing_;
  Handler error_handler_;

  int listen_fd_ = -1;
  int wake_fd_ = -1;  // an eventfd, written once by Stop(): every poll() here includes it
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::mutex mu_;
  std::list<std::unique_ptr<Connection>> connections_;  // guarded by mu_
  absl::flat_hash_map<std::string, int> per_address_;   // guarded by mu_
  std::atomic<int> open_{0};
  Counters counters_;
  std::once_flag stopped_;
};

}  // namespace dmrswitch::cp
