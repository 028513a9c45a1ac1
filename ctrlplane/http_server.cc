#include "ctrlplane/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dataplane/io/clock.h"

namespace dmrswitch::cp {

struct HttpServer::Connection {
  // Waiting for (the rest of) a request, serving one, or chosen to make room (a connection
  // moves from waiting to serving, or to evicted, by one compare-and-swap: an eviction never
  // cuts a response short).
  enum State : int { kWaiting, kBusy, kEvicted };
  int fd = -1;  // closed (and -1) under mu_
  std::string address;
  std::string limit_key;  // the address, an IPv6 one as its /64
  int port = 0;
  std::thread thread;
  std::atomic<int> state{kWaiting};
  std::atomic<int64_t> waiting_since_ns{0};
  std::atomic<bool> done{false};
};

namespace {

constexpr int64_t kNsPerMs = 1'000'000;
// After an error answer, what is still arriving is read and dropped for this long (at most
// kLingerBytes) before the close, so that the close does not reset the connection under the
// answer (RFC 9112 §9.6).
constexpr int64_t kLingerNs = 500 * kNsPerMs;
constexpr size_t kLingerBytes = 64 * 1024;

int64_t NowNs() { return io::MonotonicNs(); }

bool IsLoopbackAddress(const std::string& a) { return a.rfind("127.", 0) == 0 || a == "::1"; }

// The peer's address as text; an IPv4-mapped IPv6 address as plain IPv4.
std::string AddressOf(const sockaddr_storage& ss, int* port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    *port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    *port = ntohs(in6->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], text, sizeof(text));
    } else {
      inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    }
  }
  return text;
}

// What the per-address cap counts: an IPv4 address, or an IPv6 one's /64 (one host may hold a
// whole /64).
std::string LimitKey(const std::string& address) {
  in6_addr a{};
  if (address.find(':') == std::string::npos || inet_pton(AF_INET6, address.c_str(), &a) != 1) {
    return address;
  }
  std::memset(&a.s6_addr[8], 0, 8);
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, &a, text, sizeof(text));
  return absl::StrCat(text, "/64");
}

const char* Reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

const char* ErrorText(int status) {
  switch (status) {
    case 400:
      return "malformed request";
    case 408:
      return "the request did not arrive in time";
    case 411:
      return "a request body needs a Content-Length";
    case 413:
      return "request body too large";
    case 414:
      return "request target too long";
    case 417:
      return "only Expect: 100-continue is understood";
    case 431:
      return "request header fields too large";
    case 503:
      return "too many connections; try again later";
    case 505:
      return "HTTP/1.0 and HTTP/1.1 only";
    default:
      return "error";
  }
}

std::string ErrorResponse(int status) {
  const std::string body = absl::StrCat(ErrorText(status), "\n");
  return absl::StrFormat(
      "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
      "X-Content-Type-Options: nosniff\r\n%sConnection: close\r\n\r\n%s",
      status, Reason(status), body.size(), status == 503 ? "Retry-After: 5\r\n" : "", body);
}

// A response header field we may send: no CR, LF or NUL that would split the response.
bool SafeField(const std::string& s) {
  return s.find_first_of(std::string("\r\n\0", 3)) == std::string::npos;
}

enum class Io { kOk, kClosed, kTimeout, kStopped, kError };

// Waits until `fd` is ready for `events` or the wake fd fires or `deadline_ns` passes.
Io Wait(int fd, short events, int wake_fd, int64_t deadline_ns) {
  while (true) {
    const int64_t left_ns = deadline_ns - NowNs();
    if (left_ns <= 0) return Io::kTimeout;
    pollfd p[2] = {{fd, events, 0}, {wake_fd, POLLIN, 0}};
    const int timeout_ms = static_cast<int>(std::min<int64_t>(left_ns / kNsPerMs + 1, 60'000));
    const int r = poll(p, 2, timeout_ms);
    if (r < 0 && errno != EINTR) return Io::kError;
    if (r <= 0) continue;
    if (p[1].revents != 0) return Io::kStopped;
    if (p[0].revents != 0) return Io::kOk;  // ready, or an error the next call reports
  }
}

// Appends what is there to `buf` (at most `max` bytes), waiting for it until `deadline_ns`.
Io ReadSome(int fd, int wake_fd, std::string* buf, size_t max, int64_t deadline_ns) {
  char tmp[4096];
  while (true) {
    const ssize_t n = recv(fd, tmp, std::min(sizeof(tmp), max), 0);
    if (n > 0) {
      buf->append(tmp, static_cast<size_t>(n));
      return Io::kOk;
    }
    if (n == 0) return Io::kClosed;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return Io::kError;
    if (const Io w = Wait(fd, POLLIN, wake_fd, deadline_ns); w != Io::kOk) return w;
  }
}

// Sends all of `data`: false when a wait for the socket lasts `stall_ns` (a reader that stopped
// reading) or `deadline_ns` passes.
Io WriteAll(int fd, int wake_fd, std::string_view data, int64_t stall_ns, int64_t deadline_ns) {
  int64_t progress_ns = NowNs();
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      progress_ns = NowNs();
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return Io::kError;
    const int64_t until = std::min(progress_ns + stall_ns, deadline_ns);
    if (const Io w = Wait(fd, POLLOUT, wake_fd, until); w != Io::kOk) return w;
  }
  return Io::kOk;
}

// Answers 503 to a connection over a cap and closes it, without a reset under the answer where
// the request has arrived already.
void Refuse(int fd) {
  const std::string answer = ErrorResponse(503);
  [[maybe_unused]] ssize_t n = send(fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  shutdown(fd, SHUT_WR);
  char drop[4096];
  for (int i = 0; i < 4 && recv(fd, drop, sizeof(drop), MSG_DONTWAIT) > 0; ++i) {
  }
  close(fd);
}

// Empty lines before a request line are ignored (RFC 9112 §2.2).
void DropLeadingEmptyLines(std::string* buf) {
  size_t i = 0;
  while (i < buf->size() && ((*buf)[i] == '\r' || (*buf)[i] == '\n')) ++i;
  buf->erase(0, i);
}

}  // namespace

HttpServer::HttpServer(HttpServerOptions options) : options_(std::move(options)) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Get(const std::string& pattern, Handler handler) {
  get_.push_back({std::regex(pattern), std::move(handler)});
}
void HttpServer::Put(const std::string& pattern, Handler handler) {
  put_.push_back({std::regex(pattern), std::move(handler)});
}
void HttpServer::Post(const std::string& pattern, Handler handler) {
  post_.push_back({std::regex(pattern), std::move(handler)});
}
void HttpServer::Delete(const std::string& pattern, Handler handler) {
  delete_.push_back({std::regex(pattern), std::move(handler)});
}

absl::StatusOr<uint16_t> HttpServer::Listen(const std::string& host, uint16_t port) {
  if (listen_fd_ >= 0) return absl::FailedPreconditionError("HttpServer: already listening");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_NUMERICHOST;  // never a name lookup
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc =
          getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
      rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", host, "\" is not an address: ", gai_strerror(rc)));
  }
  std::string why = "no address";
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    // SO_REUSEADDR only: SO_REUSEPORT would let a second hub take the same port silently.
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 128) != 0) {
      why = std::strerror(errno);
      close(fd);
      continue;
    }
    listen_fd_ = fd;
    break;
  }
  freeaddrinfo(found);
  if (listen_fd_ < 0) return absl::UnavailableError(why);
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len);
  int bound = 0;
  AddressOf(ss, &bound);
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    close(listen_fd_);
    listen_fd_ = -1;
    return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  return static_cast<uint16_t>(bound);
}

void HttpServer::Stop() {
  std::call_once(stopped_, [this] {
    stopping_ = true;
    if (wake_fd_ >= 0) {
      const uint64_t one = 1;
      [[maybe_unused]] const ssize_t n = write(wake_fd_, &one, sizeof(one));
    }
    if (accept_thread_.joinable()) accept_thread_.join();
    Reap(/*all=*/true);
    if (listen_fd_ >= 0) close(listen_fd_);
    if (wake_fd_ >= 0) close(wake_fd_);
    listen_fd_ = wake_fd_ = -1;
  });
}

void HttpServer::Reap(bool all) {
  std::list<std::unique_ptr<Connection>> finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = connections_.begin(); it != connections_.end();) {
      if (all || (*it)->done) {
        finished.push_back(std::move(*it));
        it = connections_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const std::unique_ptr<Connection>& c : finished) {
    if (c->thread.joinable()) c->thread.join();
  }
}

void HttpServer::AcceptLoop() {
  while (!stopping_) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const int r = poll(p, 2, 1000);
    Reap(/*all=*/false);
    if (stopping_ || r <= 0 || (p[0].revents & POLLIN) == 0) continue;
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    const int fd =
        accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      // Out of descriptors or memory: wait a little instead of spinning on a ready listener.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        pollfd w{wake_fd_, POLLIN, 0};
        poll(&w, 1, 100);
      }
      continue;
    }
    ++counters_.connections;
    int port = 0;
    std::string address = AddressOf(ss, &port);
    std::string limit_key = LimitKey(address);
    const bool per_address = options_.limit_loopback_connections || !IsLoopbackAddress(address);
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, inserted] = per_address_.try_emplace(limit_key, 0);
    // When all are taken, the longest-waiting connection makes room (a slow sender holds a slot
    // only until someone else needs it); the evicted ones leave within moments, and a small
    // margin over the cap covers that.
    const bool address_full = per_address && it->second >= options_.max_connections_per_address;
    const bool room =
        !address_full && (open_.load() < options_.max_connections ||
                          (open_.load() < options_.max_connections + 8 && EvictOneWaiting()));
    if (!room) {
      if (it->second == 0) per_address_.erase(it);
      ++counters_.refused_connections;
      Refuse(fd);
      continue;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto c = std::make_unique<Connection>();
    c->fd = fd;
    c->address = std::move(address);
    c->limit_key = std::move(limit_key);
    c->port = port;
    c->waiting_since_ns = NowNs();
    Connection* raw = c.get();
    try {
      raw->thread = std::thread([this, raw] {
        Serve(raw);
        std::lock_guard<std::mutex> l(mu_);
        close(raw->fd);
        raw->fd = -1;
        if (auto a = per_address_.find(raw->limit_key);
            a != per_address_.end() && --a->second <= 0) {
          per_address_.erase(a);
        }
        --open_;
        raw->done = true;
      });
    } catch (const std::system_error&) {
      // No thread to be had (a task limit): refused like any connection over a cap.
      if (it->second == 0) per_address_.erase(it);
      ++counters_.refused_connections;
      Refuse(fd);
      continue;
    }
    ++it->second;
    ++open_;
    connections_.push_back(std::move(c));
  }
}

bool HttpServer::EvictOneWaiting() {
  Connection* oldest = nullptr;
  for (const std::unique_ptr<Connection>& c : connections_) {
    if (c->done || c->fd < 0 || c->state != Connection::kWaiting) continue;
    if (oldest == nullptr || c->waiting_since_ns < oldest->waiting_since_ns) oldest = c.get();
  }
  if (oldest == nullptr) return false;
  int waiting = Connection::kWaiting;
  if (!oldest->state.compare_exchange_strong(waiting, Connection::kEvicted)) {
    return false;  // it has just begun to serve a request: no room this time
  }
  // Its thread sees the end of its connection at once and leaves.
  shutdown(oldest->fd, SHUT_RDWR);
  ++counters_.evicted_connections;
  return true;
}

void HttpServer::Serve(Connection* c) {
  const HttpLimits& limits = options_.limits;
  const size_t buffer_cap = limits.max_head_bytes + limits.max_body_bytes;
  const int fd = c->fd;
  const int64_t write_stall_ns = int64_t{options_.write_timeout_ms} * kNsPerMs;
  const int64_t response_ns = int64_t{options_.response_timeout_ms} * kNsPerMs;
  const int64_t close_at_ns = NowNs() + int64_t{options_.max_connection_ms} * kNsPerMs;
  std::string buf;
  // Answers an error and closes: what still arrives is read and dropped for a moment first.
  const auto fail = [&](int status) {
    if (status == 408) {
      ++counters_.timeouts;
    } else {
      ++counters_.bad_requests;
    }
    WriteAll(fd, wake_fd_, ErrorResponse(status), write_stall_ns, NowNs() + write_stall_ns);
    shutdown(fd, SHUT_WR);
    const int64_t until = NowNs() + kLingerNs;
    std::string sink;
    size_t dropped = 0;
    while (dropped < kLingerBytes &&
           ReadSome(fd, wake_fd_, &sink, kLingerBytes - dropped, until) == Io::kOk) {
      dropped += sink.size();
      sink.clear();
    }
  };

  for (int served = 0; !stopping_ && served < options_.max_requests_per_connection; ++served) {
    if (served > 0 && NowNs() >= close_at_ns) return;  // long enough: the client reconnects
    c->waiting_since_ns = NowNs();
    if (int busy = Connection::kBusy;
        served > 0 && !c->state.compare_exchange_strong(busy, Connection::kWaiting)) {
      return;
    }
    // The head: the idle timeout runs until its first byte, the request's own from then on.
    const int64_t idle_deadline = NowNs() + int64_t{options_.idle_timeout_ms} * kNsPerMs;
    int64_t request_deadline = 0;
    size_t head_length = 0;
    size_t line_start = 0;
    while (true) {
      if (!buf.empty() && (buf[0] == '\r' || buf[0] == '\n')) {
        DropLeadingEmptyLines(&buf);
        line_start = 0;
      }
      if (!buf.empty() && request_deadline == 0) {
        request_deadline = NowNs() + int64_t{options_.request_timeout_ms} * kNsPerMs;
      }
      head_length = HttpHeadLength(buf, &line_start);
      if (head_length != 0) break;
      if (buf.size() >= limits.max_head_bytes) return fail(431);
      const Io r = ReadSome(fd, wake_fd_, &buf, buffer_cap - buf.size(),
                            buf.empty() ? idle_deadline : request_deadline);
      if (r == Io::kTimeout && !buf.empty()) return fail(408);
      if (r != Io::kOk) return;
    }
    HttpHead head;
    if (const int status =
            ParseHttpHead(std::string_view(buf).substr(0, head_length), limits, &head);
        status != 0) {
      return fail(status);
    }
    buf.erase(0, head_length);
    if (head.expect_continue && head.minor >= 1 && buf.size() < head.content_length) {
      if (WriteAll(fd, wake_fd_, "HTTP/1.1 100 Continue\r\n\r\n", write_stall_ns,
                   request_deadline) != Io::kOk) {
        return;
      }
    }
    while (buf.size() < head.content_length) {
      const Io r = ReadSome(fd, wake_fd_, &buf, buffer_cap - buf.size(), request_deadline);
      if (r == Io::kTimeout) return fail(408);
      if (r != Io::kOk) return;
    }

    if (int waiting = Connection::kWaiting;
        !c->state.compare_exchange_strong(waiting, Connection::kBusy)) {
      return;  // evicted while its request arrived
    }
    httplib::Request req;
    req.method = std::move(head.method);
    req.target = std::move(head.target);
    req.path = std::move(head.path);
    req.version = absl::StrCat("HTTP/1.", head.minor);
    for (auto& [k, v] : head.fields) req.headers.emplace(std::move(k), std::move(v));
    for (auto& [k, v] : head.query) req.params.emplace(std::move(k), std::move(v));
    req.body = buf.substr(0, head.content_length);
    buf.erase(0, head.content_length);
    req.remote_addr = c->address;
    req.remote_port = c->port;
    const bool head_only = req.method == "HEAD";
    bool keep_alive = head.keep_alive && served + 1 < options_.max_requests_per_connection;

    httplib::Response res;
    try {
      bool answered = pre_routing_ && pre_routing_(req, res);
      if (!answered) {
        const std::vector<Route>* routes = nullptr;
        if (req.method == "GET" || head_only) routes = &get_;
        if (req.method == "PUT") routes = &put_;
        if (req.method == "POST") routes = &post_;
        if (req.method == "DELETE") routes = &delete_;
        if (routes != nullptr) {
          for (const Route& route : *routes) {
            if (std::regex_match(req.path, req.matches, route.pattern)) {
              route.handler(req, res);
              answered = true;
              break;
            }
          }
        }
        if (!answered && res.status == -1) res.status = 404;
      }
      if (res.status == -1) res.status = 200;
      if (res.status >= 400 && error_handler_) error_handler_(req, res);
      if (post_routing_) post_routing_(req, res);
    } catch (const std::exception&) {
      // A handler that set up a stream and then threw still has its releaser called once.
      if (res.content_provider_resource_releaser_) {
        httplib::ContentProviderResourceReleaser release =
            std::exchange(res.content_provider_resource_releaser_, nullptr);
        release(false);
      }
      res = httplib::Response();
      res.status = 500;
      res.set_content("internal error\n", "text/plain");
    }

    const bool streamed = static_cast<bool>(res.content_provider_);
    // HTTP/1.0 knows no chunked coding: a stream goes as it comes, and the close ends it.
    const bool chunked = streamed && head.minor >= 1;
    if (streamed || stopping_) keep_alive = false;
    std::string out = absl::StrFormat("HTTP/1.1 %d %s\r\n", res.status, Reason(res.status));
    for (const auto& [k, v] : res.headers) {
      if (!SafeField(k) || !SafeField(v)) continue;
      if (absl::EqualsIgnoreCase(k, "Content-Length") || absl::EqualsIgnoreCase(k, "Connection") ||
          absl::EqualsIgnoreCase(k, "Transfer-Encoding")) {
        continue;
      }
      absl::StrAppend(&out, k, ": ", v, "\r\n");
    }
    if (chunked) {
      out += "Transfer-Encoding: chunked\r\n";
    } else if (!streamed) {
      absl::StrAppend(&out, "Content-Length: ", res.body.size(), "\r\n");
    }
    absl::StrAppend(&out, "Connection: ", keep_alive ? "keep-alive" : "close", "\r\n\r\n");
    const int64_t response_deadline = NowNs() + response_ns;
    // The head, then the body as it is (no copy of a large body).
    if (WriteAll(fd, wake_fd_, out, write_stall_ns, response_deadline) != Io::kOk ||
        (!streamed && !head_only &&
         WriteAll(fd, wake_fd_, res.body, write_stall_ns, response_deadline) != Io::kOk)) {
      ++counters_.write_failures;
      return;
    }
    if (streamed && !head_only) {
      bool ok = true;
      bool finished = false;
      size_t offset = 0;
      httplib::DataSink sink;
      // Each event has its own time to go out: the stream itself lasts as long as the provider
      // wants (ReportHttp ends its streams after some minutes).
      sink.write = [&](const char* data, size_t n) {
        if (!ok) return false;
        if (n == 0) return true;
        std::string piece;
        if (chunked) piece = absl::StrFormat("%x\r\n", n);
        piece.append(data, n);
        if (chunked) piece += "\r\n";
        ok = WriteAll(fd, wake_fd_, piece, write_stall_ns, NowNs() + response_ns) == Io::kOk;
        if (ok) offset += n;
        return ok;
      };
      sink.done = [&] { finished = true; };
      sink.is_writable = [&] { return ok && !stopping_; };
      try {
        while (ok && !finished && !stopping_) {
          if (!res.content_provider_(offset, 0, sink)) ok = false;
        }
      } catch (const std::exception&) {
        ok = false;
      }
      if (ok && finished && chunked) {
        ok = WriteAll(fd, wake_fd_, "0\r\n\r\n", write_stall_ns, NowNs() + write_stall_ns) ==
             Io::kOk;
      }
      if (!ok) ++counters_.write_failures;
      res.content_provider_success_ = ok && finished;
    }
    if (!keep_alive) return;
  }
}

}  // namespace dmrswitch::cp
