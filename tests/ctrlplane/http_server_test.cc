// HttpServer against raw sockets on loopback: routing and keep-alive as a client sees them, and
// every bound a hostile client meets (oversized heads, slow senders, slow readers, connection
// caps) — and that Stop() returns at once whatever the clients are doing.
#include "ctrlplane/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace dmrswitch::cp {
namespace {

using Clock = std::chrono::steady_clock;

// A client socket with a deadline on every read.
class RawClient {
 public:
  explicit RawClient(uint16_t port, const char* source = "127.0.0.1") {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    inet_pton(AF_INET, source, &src.sin_addr);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&src), sizeof(src)), 0);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    EXPECT_EQ(connect(fd_, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)), 0);
  }
  ~RawClient() { close(fd_); }
  int fd() const { return fd_; }

  bool Send(const std::string& s) {
    return send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }
  // Reads whatever arrives within `ms`; false when the connection ended (EOF or reset).
  bool ReadFor(int ms, std::string* into) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(ms);
    while (Clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (poll(&p, 1, static_cast<int>(std::max<int64_t>(left, 1))) <= 0) continue;
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return false;
      into->append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  // One response (Content-Length or chunked, decoded) within `ms`.
  struct Response {
    int status = 0;
    std::map<std::string, std::string> headers;
    std::string body;
  };
  bool ReadResponse(int ms, Response* r) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(ms);
    while (true) {
      if (TryParse(r)) return true;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return TryParse(r);
      pending_.append(buf, static_cast<size_t>(n));
    }
  }
  // Whether the server closed the connection within `ms` (EOF or reset, nothing else read).
  bool ClosedWithin(int ms) {
    std::string ignored;
    return !ReadFor(ms, &ignored);
  }

 private:
  bool TryParse(Response* r) {
    const size_t end = pending_.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    Response out;
    const std::string head = pending_.substr(0, end);
    size_t pos = head.find("\r\n");
    const std::string status_line = head.substr(0, pos);
    if (!absl::SimpleAtoi(status_line.substr(9, 3), &out.status)) return false;
    while (pos != std::string::npos && pos < head.size()) {
      const size_t next = head.find("\r\n", pos + 2);
      const std::string line =
          head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
      const size_t colon = line.find(':');
      if (colon != std::string::npos) out.headers[line.substr(0, colon)] = line.substr(colon + 2);
      pos = next;
    }
    size_t at = end + 4;
    if (out.headers.count("Transfer-Encoding")) {
      while (true) {
        const size_t nl = pending_.find("\r\n", at);
        if (nl == std::string::npos) return false;
        size_t n = 0;
        if (!absl::SimpleHexAtoi(pending_.substr(at, nl - at), &n)) return false;
        if (pending_.size() < nl + 2 + n + 2) return false;
        out.body += pending_.substr(nl + 2, n);
        at = nl + 2 + n + 2;
        if (n == 0) break;
      }
    } else {
      size_t n = 0;
      if (out.headers.count("Content-Length")) {
        EXPECT_TRUE(absl::SimpleAtoi(out.headers["Content-Length"], &n));
      }
      if (out.status == 100) n = 0;
      if (head_only_) n = 0;
      if (pending_.size() < at + n) return false;
      out.body = pending_.substr(at, n);
      at += n;
    }
    pending_.erase(0, at);
    *r = std::move(out);
    return true;
  }

 public:
  bool head_only_ = false;

 private:
  int fd_ = -1;
  std::string pending_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void Start(HttpServerOptions options = HttpServerOptions()) {
    server_ = std::make_unique<HttpServer>(options);
    server_->Get("/echo", [](const httplib::Request& req, httplib::Response& res) {
      std::string out = absl::StrCat(req.method, " ", req.path, " ", req.version, "\n");
      for (const auto& [k, v] : req.params) absl::StrAppend(&out, "param ", k, "=", v, "\n");
      absl::StrAppend(&out, "x-test=", req.get_header_value("X-Test"), "\n");
      res.set_content(out, "text/plain");
    });
    server_->Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content("body=" + req.body, "text/plain");
    });
    server_->Get(R"(/items/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content("item " + req.matches[1].str(), "text/plain");
    });
    server_->Get("/throws", [](const httplib::Request&, httplib::Response&) {
      throw std::runtime_error("handler bug");
    });
    server_->Get("/split", [](const httplib::Request&, httplib::Response& res) {
      // set_header drops such values itself; a handler filling `headers` directly does not.
      res.headers.emplace("X-Evil", "a\r\nSet-Cookie: owned=1");
      res.headers.emplace("X-Fine", "yes");
      res.set_content("ok", "text/plain");
    });
    server_->Get("/big", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(32 << 20, 'x'), "application/octet-stream");
    });
    server_->Get("/stream", [](const httplib::Request&, httplib::Response& res) {
      auto step = std::make_shared<int>(0);
      res.set_chunked_content_provider("text/event-stream",
                                       [step](size_t, httplib::DataSink& sink) {
                                         if (*step == 0) sink.write("hello", 5);
                                         if (*step == 1) sink.write("world", 5);
                                         if (*step == 2) sink.done();
                                         ++*step;
                                         return true;
                                       });
    });
    server_->Get("/forever", [this](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider(
          "text/event-stream",
          [](size_t, httplib::DataSink& sink) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            return sink.write("tick\n", 5);
          },
          [this](bool) { ++released_; });
    });
    server_->SetPreRouting([](const httplib::Request& req, httplib::Response& res) {
      if (req.path != "/limited") return false;
      res.status = 429;
      res.set_content("slow down", "text/plain");
      return true;
    });
    server_->SetPostRouting(
        [](const httplib::Request&, httplib::Response& res) { res.set_header("X-Post", "1"); });
    server_->SetErrorHandler([](const httplib::Request& req, httplib::Response& res) {
      if (res.status == 404 && res.body.empty()) res.set_content("no " + req.path, "text/plain");
    });
    absl::StatusOr<uint16_t> port = server_->Listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
  }
  // Waits until the server has closed its side of every connection.
  bool Drained(int ms = 3000) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(ms);
    while (server_->open_connections() != 0) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
  std::atomic<int> released_{0};
};

TEST_F(HttpServerTest, RoutesQueriesHeadersAndKeepAliveWithPipelining) {
  Start();
  RawClient c(port_);
  // Two requests in one segment, a third after the answers: one connection serves all.
  ASSERT_TRUE(
      c.Send("GET /echo?a=1&b=x%20y HTTP/1.1\r\nHost: h\r\nX-Test: t1\r\n\r\n"
             "GET /items/42 HTTP/1.1\r\nHost: h\r\n\r\n"));
  RawClient::Response r;
  ASSERT_TRUE(c.ReadResponse(2000, &r));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "GET /echo HTTP/1.1\nparam a=1\nparam b=x y\nx-test=t1\n");
  EXPECT_EQ(r.headers["Connection"], "keep-alive");
  EXPECT_EQ(r.headers["X-Post"], "1");
  EXPECT_EQ(r.headers["Content-Type"], "text/plain");
  ASSERT_TRUE(c.ReadResponse(2000, &r));
  EXPECT_EQ(r.body, "item 42");
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"));
  ASSERT_TRUE(c.ReadResponse(2000, &r));
  EXPECT_EQ(r.body, "body=hello");
  ASSERT_TRUE(c.Send("GET /nowhere HTTP/1.1\r\nConnection: close\r\n\r\n"));
  ASSERT_TRUE(c.ReadResponse(2000, &r));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "no /nowhere");
  EXPECT_EQ(r.headers["Connection"], "close");
  EXPECT_TRUE(c.ClosedWithin(2000));
  EXPECT_EQ(server_->counters().connections.load(), 1u);
}

TEST_F(HttpServerTest, HeadPreRoutingExceptionsAndResponseSplitting) {
  Start();
  RawClient c(port_);
  c.head_only_ = true;
  ASSERT_TRUE(c.Send("HEAD /echo HTTP/1.1\r\n\r\n"));
  RawClient::Response r;
  ASSERT_TRUE(c.ReadResponse(2000, &r));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.headers["Content-Length"], "28");  // what GET would send ("HEAD /echo ...")
  c.head_only_ = false;
  ASSERT_TRUE(c.Send("GET /limited HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(c.ReadResponse(2000, &r));
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.headers["X-Post"], "1");
  ASSERT_TRUE(c.Send("GET /throws HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(c.ReadResponse(2000, &r));
  EXPECT_EQ(r.status, 500);
  ASSERT_TRUE(c.Send("GET /split HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(c.ReadResponse(2000, &r));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.count("X-Evil"), 0u);
  EXPECT_EQ(r.headers.count("Set-Cookie"), 0u);
  EXPECT_EQ(r.headers["X-Fine"], "yes");
  ASSERT_TRUE(c.Send("PATCH /echo HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(c.ReadResponse(2000, &r));
  EXPECT_EQ(r.status, 404);
}

TEST_F(HttpServerTest, ExpectContinueThenTheBody) {
  Start();
  RawClient c(port_);
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"));
  RawClient::Response r;
  ASSERT_TRUE(c.ReadResponse(2000, &r));
  EXPECT_EQ(r.status, 100);
  ASSERT_TRUE(c.Send("abc"));
  ASSERT_TRUE(c.ReadResponse(2000, &r));
  EXPECT_EQ(r.body, "body=abc");
}

TEST_F(HttpServerTest, MalformedAndOversizedRequestsAreAnsweredAndClosed) {
  Start();
  const std::pair<std::string, int> cases[] = {
      {"GARBAGE\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\n\r\n", 505},
      {"POST /echo HTTP/1.1\r\nContent-Length: 4097\r\n\r\n", 413},
      {"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411},
      {"GET /" + std::string(3000, 'a') + " HTTP/1.1\r\n\r\n", 414},
      {"GET / HTTP/1.1\r\nX: " + std::string(9000, 'a') + "\r\n\r\n", 431},
  };
  for (const auto& [request, status] : cases) {
    RawClient c(port_);
    ASSERT_TRUE(c.Send(request));
    RawClient::Response r;
    ASSERT_TRUE(c.ReadResponse(2000, &r)) << status;
    EXPECT_EQ(r.status, status);
    EXPECT_EQ(r.headers["Connection"], "close");
    EXPECT_TRUE(c.ClosedWithin(2000));
  }
  EXPECT_EQ(server_->counters().bad_requests.load(), std::size(cases));
}

TEST_F(HttpServerTest, AnEndlessHeaderIsCutAtTheHeadLimit) {
  Start();
  RawClient c(port_);
  // 64 MB of one header line, sent as fast as the server takes it: it answers 431 after 8 KiB
  // and stops reading, so the sender is refused long before the end.
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nX-Long: "));
  const std::string block(64 * 1024, 'a');
  size_t sent = 0;
  timeval tv{0, 200'000};
  setsockopt(c.fd(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  while (sent < (64u << 20)) {
    const ssize_t n = send(c.fd(), block.data(), block.size(), MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  EXPECT_LT(sent, 64u << 20);  // refused before the end (how much the kernels buffer varies)
  std::string got;
  c.ReadFor(2000, &got);
  EXPECT_EQ(got.rfind("HTTP/1.1 431 ", 0), 0u) << got.substr(0, 40);
  EXPECT_EQ(server_->counters().bad_requests.load(), 1u);
  EXPECT_TRUE(Drained());
}

TEST_F(HttpServerTest, ASlowSenderGets408AndAnIdleConnectionIsClosed) {
  HttpServerOptions o;
  o.request_timeout_ms = 400;
  o.idle_timeout_ms = 300;
  Start(o);
  RawClient slow(port_);
  const auto start = Clock::now();
  ASSERT_TRUE(slow.Send("GET /echo HTTP/1.1\r\n"));
  std::string got;
  // A header line every 100 ms: never idle, never complete.
  for (int i = 0; i < 30 && got.empty(); ++i) {
    slow.Send(absl::StrCat("X-", i, ": y\r\n"));
    slow.ReadFor(100, &got);
  }
  const auto took = Clock::now() - start;
  EXPECT_EQ(got.rfind("HTTP/1.1 408 ", 0), 0u) << got;
  EXPECT_GE(took, std::chrono::milliseconds(350));
  EXPECT_LT(took, std::chrono::milliseconds(2000));
  EXPECT_EQ(server_->counters().timeouts.load(), 1u);

  RawClient idle(port_);
  std::string nothing;
  EXPECT_FALSE(idle.ReadFor(3000, &nothing));  // closed by the server, with no answer
  EXPECT_EQ(nothing, "");
  // A kept-alive connection is idle after its answer, and closed the same way.
  RawClient kept(port_);
  ASSERT_TRUE(kept.Send("GET /echo HTTP/1.1\r\n\r\n"));
  RawClient::Response r;
  ASSERT_TRUE(kept.ReadResponse(2000, &r));
  EXPECT_TRUE(kept.ClosedWithin(3000));
}

TEST_F(HttpServerTest, ConnectionCapsPerAddressAndInTotal) {
  HttpServerOptions o;
  o.max_connections = 3;
  o.max_connections_per_address = 2;
  o.limit_loopback_connections = true;
  Start(o);
  RawClient::Response r;
  auto served = [&](RawClient& c) {
    return c.Send("GET /echo HTTP/1.1\r\n\r\n") && c.ReadResponse(2000, &r) && r.status == 200;
  };
  auto a1 = std::make_unique<RawClient>(port_, "127.0.0.1");
  ASSERT_TRUE(served(*a1));
  auto a2 = std::make_unique<RawClient>(port_, "127.0.0.1");
  ASSERT_TRUE(served(*a2));
  RawClient b1(port_, "127.0.0.2");
  ASSERT_TRUE(served(b1));  // another address still gets in
  {
    RawClient a3(port_, "127.0.0.1");
    ASSERT_TRUE(a3.Send("GET /echo HTTP/1.1\r\n\r\n"));  // sent before the answer: no reset
    ASSERT_TRUE(a3.ReadResponse(2000, &r));
    EXPECT_EQ(r.status, 503);  // the address's cap, answered at once; nobody is evicted for it
    EXPECT_EQ(r.headers["Retry-After"], "5");
    EXPECT_EQ(server_->counters().evicted_connections.load(), 0u);
  }
  // All three taken, all waiting for their next request: the one that has waited longest (a1)
  // makes room for a new client.
  RawClient c1(port_, "127.0.0.3");
  EXPECT_TRUE(served(c1));
  EXPECT_TRUE(a1->ClosedWithin(2000));
  EXPECT_EQ(server_->counters().evicted_connections.load(), 1u);
  EXPECT_EQ(server_->counters().refused_connections.load(), 1u);
  a1.reset();
  a2.reset();
  const auto deadline = Clock::now() + std::chrono::seconds(3);
  while (server_->open_connections() > 2 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  RawClient a4(port_, "127.0.0.1");
  EXPECT_TRUE(served(a4));  // the address's slots are given back
}

TEST_F(HttpServerTest, WhenEveryConnectionIsBusyANewOneGets503) {
  HttpServerOptions o;
  o.max_connections = 2;
  Start(o);
  RawClient s1(port_);
  RawClient s2(port_);
  std::string got;
  for (RawClient* s : {&s1, &s2}) {
    ASSERT_TRUE(s->Send("GET /forever HTTP/1.1\r\n\r\n"));
    s->ReadFor(100, &got);
  }
  RawClient late(port_);
  RawClient::Response r;
  ASSERT_TRUE(late.ReadResponse(2000, &r));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(server_->counters().evicted_connections.load(), 0u);
}

TEST_F(HttpServerTest, ChunkedStreamsEndTheirConnection) {
  Start();
  RawClient c(port_);
  ASSERT_TRUE(c.Send("GET /stream HTTP/1.1\r\n\r\n"));
  RawClient::Response r;
  ASSERT_TRUE(c.ReadResponse(2000, &r));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["Transfer-Encoding"], "chunked");
  EXPECT_EQ(r.headers["Content-Type"], "text/event-stream");
  EXPECT_EQ(r.body, "helloworld");
  EXPECT_TRUE(c.ClosedWithin(2000));
}

TEST_F(HttpServerTest, HttpOneZeroGetsAStreamUnchunked) {
  Start();
  RawClient c(port_);
  ASSERT_TRUE(c.Send("GET /stream HTTP/1.0\r\n\r\n"));
  std::string got;
  EXPECT_FALSE(c.ReadFor(2000, &got));  // ended by the server's close
  EXPECT_EQ(got.find("Transfer-Encoding"), std::string::npos) << got;
  EXPECT_EQ(got.find("Content-Length"), std::string::npos) << got;
  EXPECT_EQ(got.substr(got.find("\r\n\r\n") + 4), "helloworld");
}

TEST_F(HttpServerTest, ASteadySlowReaderGetsALargeAnswerWhole) {
  HttpServerOptions o;
  o.write_timeout_ms = 300;  // per stall, not for the whole 32 MB
  Start(o);
  RawClient c(port_);
  const int small = 64 * 1024;
  setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  ASSERT_TRUE(c.Send("GET /big HTTP/1.1\r\n\r\n"));
  // 32 MB read in 64 KiB steps with a pause after every 4 MB: several seconds in all, never a
  // stall of 300 ms.
  size_t total = 0;
  const size_t want = (32u << 20) + 100;
  char buf[64 * 1024];
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  size_t next_pause = 4u << 20;
  while (total < want && Clock::now() < deadline) {
    pollfd p{c.fd(), POLLIN, 0};
    // The first bytes wait for the handler to build 32 MB (seconds on a loaded machine); after
    // that, a second without data is a stall.
    if (poll(&p, 1, total == 0 ? 10000 : 1000) <= 0) break;
    const ssize_t n = recv(c.fd(), buf, sizeof(buf), 0);
    if (n <= 0) break;
    total += static_cast<size_t>(n);
    if (total >= next_pause) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      next_pause += 4u << 20;
    }
  }
  EXPECT_GT(total, 32u << 20);
  EXPECT_EQ(server_->counters().write_failures.load(), 0u);
}

TEST_F(HttpServerTest, ASlowReaderIsDropped) {
  HttpServerOptions o;
  o.write_timeout_ms = 300;
  Start(o);
  RawClient c(port_);
  const int small = 4096;
  setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  ASSERT_TRUE(c.Send("GET /big HTTP/1.1\r\n\r\n"));
  // Never read: the 32 MB answer stalls, and the server gives up on this client.
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (server_->counters().write_failures.load() == 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server_->counters().write_failures.load(), 1u);
  EXPECT_TRUE(Drained(2000));
}

TEST_F(HttpServerTest, StopReturnsAtOnceWhateverTheClientsDo) {
  Start();
  RawClient streaming(port_);
  ASSERT_TRUE(streaming.Send("GET /forever HTTP/1.1\r\n\r\n"));
  std::string got;
  streaming.ReadFor(200, &got);
  ASSERT_NE(got.find("tick"), std::string::npos);
  RawClient half(port_);
  ASSERT_TRUE(half.Send("GET /echo HTTP/1.1\r\nX-Half: "));
  RawClient idle(port_);
  RawClient reading_nothing(port_);
  ASSERT_TRUE(reading_nothing.Send("GET /big HTTP/1.1\r\n\r\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(server_->open_connections(), 4);
  const auto start = Clock::now();
  server_->Stop();
  const auto took = Clock::now() - start;
  EXPECT_LT(took, std::chrono::milliseconds(1000));
  EXPECT_EQ(server_->open_connections(), 0);
  EXPECT_EQ(released_.load(), 1);  // the stream's releaser ran
  EXPECT_TRUE(half.ClosedWithin(1000));
  EXPECT_TRUE(idle.ClosedWithin(1000));
}

TEST_F(HttpServerTest, ListenErrorsAreClear) {
  Start();
  HttpServer second{HttpServerOptions()};
  const absl::StatusOr<uint16_t> taken = second.Listen("127.0.0.1", port_);
  EXPECT_FALSE(taken.ok());
  EXPECT_NE(taken.status().message().find("in use"), std::string::npos) << taken.status();
  HttpServer third{HttpServerOptions()};
  const absl::StatusOr<uint16_t> bad = third.Listen("not an address", 0);
  EXPECT_FALSE(bad.ok());
}

}  // namespace
}  // namespace dmrswitch::cp
