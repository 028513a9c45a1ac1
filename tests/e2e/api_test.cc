// The JSON API's writes on a running hub (issue 12): a hotspot's static TGs set through the API
// take effect on the next call, hold across the client's own RPTO, a reload and a restart of
// the hub, and go when cleared; a hotspot's own key changes only that hotspot; dynamic TGs are
// dropped and clients kicked; the live event stream carries the calls and resumes after a
// reconnect; hostile HTTP clients cost the hub nothing.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/hub_process.h"
#include "tests/e2e/routing_helpers.h"
#include "tests/report/test_support.h"

namespace dmrswitch::e2e {
namespace {

using cp::report::testing::FreeLoopbackPort;
using cp::report::testing::TempDir;
using cp::report::testing::WaitUntil;
using cp::report::testing::WriteFile;
using json = nlohmann::json;

constexpr uint32_t kTalker = 3120001;
constexpr uint32_t kListener = 3120002;
constexpr uint32_t kOther = 3120003;
constexpr uint32_t kRfSrc = 3121001;
constexpr char kToken[] = "api-test-token-0123456789";

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    port_ = FreeUdpPort();
    http_ = FreeLoopbackPort();
    WriteFile(dir_.File("api.token"), absl::StrCat(kToken, "\n"));
    ::chmod(dir_.File("api.token").c_str(), 0600);
  }

  std::string Toml() const {
    return RoutingHubToml(
        port_, "group_hangtime_s = 0\n",
        absl::StrCat("[report]\nhttp = \"127.0.0.1:", http_, "\"\napi_token_file = \"",
                     dir_.File("api.token"), "\"\napi_options_file = \"", dir_.File("options.json"),
                     "\"\n"));
  }

  // A write: status and body.
  std::pair<int, json> Write(const std::string& method, const std::string& path,
                             const std::string& bearer, const std::string& body = "") const {
    httplib::Client c("127.0.0.1", http_);
    httplib::Headers h;
    if (!bearer.empty()) h.emplace("Authorization", "Bearer " + bearer);
    httplib::Result r = method == "PUT"      ? c.Put(path, h, body, "application/json")
                        : method == "DELETE" ? c.Delete(path, h)
                                             : c.Post(path, h, body, "application/json");
    if (!r) return {-1, json()};
    return {r->status, json::parse(r->body, nullptr, false)};
  }

  // The talker calls `tg` on TS2; whether `rx` heard it whole.
  static void Call(ClientSet& clients, sim::HbpClient& talker, uint32_t tg) {
    talker.StartVoiceCall(GroupCall(tg, 2, kRfSrc));
    ASSERT_TRUE(clients.FinishTransmissions());
  }

  TempDir dir_;
  uint16_t port_ = 0, http_ = 0;
  std::unique_ptr<HubProcess> hub_;
};

TEST_F(ApiTest, AStaticTgSetThroughTheApiHoldsAcrossRptoReloadAndRestartUntilCleared) {
  ASSERT_NO_FATAL_FAILURE(StartHub(Toml(), &hub_));
  {
    ClientSet clients(port_);
    sim::HbpClient* talker = clients.Add(kTalker);
    sim::HbpClient* listener = clients.Add(kListener, "TS2=91;KEY=listener-key");
    clients.Add(kOther, "TS2=91;KEY=other-key");
    clients.Settle();
    Call(clients, *talker, 3100);
    ExpectNothing(*listener);

    // Who may: nobody without a bearer, not another hotspot's key, the listener's own key.
    const std::string body = R"({"slot":2,"tg":3100})";
    const std::string path = absl::StrCat("/api/v1/clients/", kListener, "/talkgroups");
    EXPECT_EQ(Write("POST", path, "").first, 401);
    EXPECT_EQ(Write("POST", path, "not-a-key", body).first, 401);
    EXPECT_EQ(Write("POST", path, "other-key", body).first, 403);
    EXPECT_EQ(
        Write("POST", absl::StrCat("/api/v1/clients/", kListener, "/kick"), "listener-key").first,
        403);  // the admin's only
    const auto [status, answer] = Write("POST", path, "listener-key", body);
    ASSERT_EQ(status, 200) << answer.dump();
    EXPECT_EQ(answer["ts2"], json::array({91, 3100})) << answer.dump();
    clients.Settle();
    Call(clients, *talker, 3100);
    ExpectOneCall(*listener, Delivered(3100, 2, kRfSrc, kListener));

    // The client's own options again (MMDVMHost sends them at every login): the API's stand.
    ASSERT_TRUE(listener->SendOptions("TS2=91;KEY=listener-key").ok());
    clients.Settle();
    Call(clients, *talker, 3100);
    ExpectOneCall(*listener, Delivered(3100, 2, kRfSrc, kListener));

    // A reload (through the API) keeps them.
    EXPECT_EQ(Write("POST", "/api/v1/reload", "listener-key").first, 403);
    ASSERT_EQ(Write("POST", "/api/v1/reload", kToken).first, 200);
    clients.Settle();
    Call(clients, *talker, 3100);
    ExpectOneCall(*listener, Delivered(3100, 2, kRfSrc, kListener));
  }
  // A restart: the clients log in again with their own options, the stored ones still apply.
  EXPECT_EQ(hub_->Stop(), 0);
  ASSERT_NO_FATAL_FAILURE(StartHub(Toml(), &hub_));
  {
    ClientSet clients(port_);
    sim::HbpClient* talker = clients.Add(kTalker);
    sim::HbpClient* listener = clients.Add(kListener, "TS2=91;KEY=listener-key");
    clients.Settle();
    Call(clients, *talker, 3100);
    ExpectOneCall(*listener, Delivered(3100, 2, kRfSrc, kListener));
    // The BrandMeister-shaped profile shows both statics.
    httplib::Client c("127.0.0.1", http_);
    json profile;
    ASSERT_TRUE(WaitUntil(
        [&] {
          auto r = c.Get(absl::StrCat("/v2/device/", kListener, "/profile"));
          profile = r && r->status == 200 ? json::parse(r->body) : json();
          return profile.is_object() && profile["staticSubscriptions"].size() == 2;
        },
        std::chrono::seconds(3)))
        << profile.dump();

    // Cleared: the client's own options (TS2=91) are what is left.
    ASSERT_EQ(
        Write("DELETE", absl::StrCat("/api/v1/clients/", kListener, "/options"), kToken).first,
        200);
    clients.Settle();
    Call(clients, *talker, 3100);
    ExpectNothing(*listener);
    Call(clients, *talker, 91);
    ExpectOneCall(*listener, Delivered(91, 2, kRfSrc, kListener));
  }
  const std::string log = hub_->Log();
  EXPECT_EQ(log.find(kToken), std::string::npos);
  EXPECT_EQ(log.find("listener-key"), std::string::npos);
  EXPECT_NE(log.find(absl::StrCat("api: clear_options client ", kListener, " by the API token")),
            std::string::npos)
      << log;
}

TEST_F(ApiTest, DynamicTgsAreDroppedAndAClientIsKicked) {
  ASSERT_NO_FATAL_FAILURE(StartHub(Toml(), &hub_));
  ClientSet clients(port_);
  sim::HbpClient* talker = clients.Add(kTalker);
  sim::HbpClient* listener = clients.Add(kListener, "KEY=listener-key");
  clients.Settle();
  // The listener keys up on 235: user-activated for it.
  listener->StartVoiceCall(GroupCall(235, 2, kRfSrc + 1));
  ASSERT_TRUE(clients.FinishTransmissions());
  clients.Settle(absl::Seconds(1));  // past the slot's hold after the listener's own call
  Call(clients, *talker, 235);
  ExpectOneCall(*listener, Delivered(235, 2, kRfSrc, kListener));

  ASSERT_EQ(Write("POST", absl::StrCat("/v2/device/", kListener, "/action/dropDynamicGroups/2"),
                  "listener-key")
                .first,
            200);
  clients.Settle();
  Call(clients, *talker, 235);
  ExpectNothing(*listener);

  const size_t from = hub_->LogSize();
  ASSERT_EQ(Write("POST", absl::StrCat("/api/v1/clients/", kListener, "/kick"), kToken).first, 200);
  EXPECT_TRUE(hub_->WaitForLog(absl::StrCat("client ", kListener, " logged out (kicked)"),
                               absl::Seconds(3), from))
      << hub_->Log();
  EXPECT_EQ(Write("POST", "/api/v1/clients/4000000/kick", kToken).first, 404);
}

// A client's keepalives as operators see them: answered by the shard that owns the client,
// which reports them to the control plane (pings received, last ping), and its calls (last
// heard). They were the time the state was built, and 0 pings, whatever the client did.
TEST_F(ApiTest, AClientsKeepalivesAndCallsShowAsTheyHappen) {
  ASSERT_NO_FATAL_FAILURE(StartHub(Toml(), &hub_));
  ClientSet clients(port_);
  sim::HbpClient* talker = clients.Add(kTalker);  // a keepalive every 2 s
  clients.Add(kListener);
  httplib::Client c("127.0.0.1", http_);
  const auto client = [&](uint32_t id) {
    httplib::Result r = c.Get(absl::StrCat("/api/v1/clients/", id));
    return r && r->status == 200 ? json::parse(r->body, nullptr, false)["client"] : json();
  };
  // Serves the clients (their keepalives) until `done` holds for the talker's view.
  const auto wait_for = [&](const auto& done, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    json v;
    while (absl::Now() < deadline) {
      clients.PollFor(absl::Milliseconds(250));
      v = client(kTalker);
      if (v.is_object() && done(v)) return v;
    }
    ADD_FAILURE() << "talker's view: " << v.dump();
    return v;
  };

  // The shard reports within a second of a keepalive; the state is rebuilt every 10 s at most.
  json v = wait_for([](const json& j) { return j["pings_received"].get<uint64_t>() >= 3; },
                    absl::Seconds(25));
  ASSERT_TRUE(v.is_object());
  const double logged_in = v["logged_in"].get<double>();
  const double last_ping = v["last_ping"].get<double>();
  EXPECT_GT(last_ping, logged_in + 3.0) << v.dump();
  EXPECT_LE(last_ping, static_cast<double>(absl::ToUnixMicros(absl::Now())) / 1e6 + 1.0);
  EXPECT_GE(v["last_heard"].get<double>(), last_ping);
  const uint64_t pings = v["pings_received"].get<uint64_t>();
  EXPECT_LE(pings, talker->counters().pings_sent) << "no more than it sent";

  // A call makes it heard.
  const double call_at = static_cast<double>(absl::ToUnixMicros(absl::Now())) / 1e6;
  Call(clients, *talker, 3100);
  v = wait_for([&](const json& j) { return j["last_heard"].get<double>() >= call_at - 0.5; },
               absl::Seconds(15));
  EXPECT_GE(v["pings_received"].get<uint64_t>(), pings);
}

TEST_F(ApiTest, TheEventStreamCarriesCallsAndResumesAfterAReconnect) {
  ASSERT_NO_FATAL_FAILURE(StartHub(Toml(), &hub_));
  ClientSet clients(port_);
  sim::HbpClient* talker = clients.Add(kTalker);
  clients.Add(kListener, "TS2=3100");
  clients.Settle();

  // Reads the stream (from `last_id` if given) until `until` has appeared `times` times.
  const auto count = [](const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = 0; (at = text.find(what, at)) != std::string::npos; ++at) ++n;
    return n;
  };
  std::atomic<bool> opened{false};  // the first stream has answered
  const auto read = [&](const std::string& last_id, const std::string& until, size_t times = 1) {
    std::string got;
    httplib::Client c("127.0.0.1", http_);
    httplib::Headers h;
    if (!last_id.empty()) h.emplace("Last-Event-ID", last_id);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    c.Get("/api/v1/events", h, [&](const char* d, size_t n) {
      got.append(d, n);
      if (got.find("retry: ") != std::string::npos) opened = true;
      return count(got, until) < times && std::chrono::steady_clock::now() < deadline;
    });
    return got;
  };
  std::string first;
  std::thread reader([&] { first = read("", "call_end"); });
  ASSERT_TRUE(sim::PollUntil(
      clients.pollables(), [&] { return opened.load(); },
      absl::Seconds(5)));  // the reader is connected
  Call(clients, *talker, 3100);
  clients.PollFor(absl::Milliseconds(300));
  reader.join();
  ASSERT_NE(first.find("\"type\":\"call_start\""), std::string::npos) << first;
  ASSERT_NE(first.find("\"type\":\"call_end\""), std::string::npos) << first;
  // The id of the call's start; a second call while nobody listens; a reconnect from that id
  // gets the first call's end and the whole second call, without a resync.
  std::string start_id;
  for (absl::string_view block : absl::StrSplit(first, "\n\n")) {
    if (block.find("call_start") != absl::string_view::npos) {
      const size_t at = block.find("id: ");
      start_id = std::string(block.substr(at + 4, block.find('\n', at) - at - 4));
    }
  }
  ASSERT_FALSE(start_id.empty()) << first;
  Call(clients, *talker, 3100);
  clients.PollFor(absl::Milliseconds(300));
  const std::string resumed = read(start_id, "\"type\":\"call_end\"", 2);
  EXPECT_EQ(resumed.find("resync"), std::string::npos) << resumed;
  EXPECT_EQ(count(resumed, "\"type\":\"call_start\""), 1u) << resumed;  // the second call's
  EXPECT_EQ(count(resumed, "\"type\":\"call_end\""), 2u) << resumed;
  // After a restart of the hub, the old id is not resumable: resync.
  EXPECT_EQ(hub_->Stop(), 0);
  ASSERT_NO_FATAL_FAILURE(StartHub(Toml(), &hub_));
  EXPECT_NE(read(start_id, "resync").find("{\"type\":\"resync\"}"), std::string::npos);
}

// VmRSS of `pid` in KiB (0 if unreadable).
uint64_t VmRssKib(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

// A TCP connection to the hub's HTTP port, closed with the object.
class RawHttp {
 public:
  explicit RawHttp(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    timeval tv{0, 200'000};
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  }
  ~RawHttp() { close(fd_); }
  bool connected() const { return connected_; }
  // Sends as much of `s` as the peer takes (each send waits 200 ms at most); the bytes sent.
  size_t Send(const std::string& s) {
    size_t sent = 0;
    while (sent < s.size()) {
      const ssize_t n = send(fd_, s.data() + sent, s.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    return sent;
  }
  // What arrives within `ms`, and whether the peer ended the connection meanwhile.
  std::string Read(int ms, bool* ended) {
    std::string got;
    *ended = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) {
        *ended = true;
        break;
      }
      got.append(buf, static_cast<size_t>(n));
    }
    return got;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

// Hostile HTTP clients on a running hub: a 64 MB header line costs it no memory to speak of;
// 40 slow senders and an event stream hold only their own connections while the API answers and
// a call is routed; a reload that moves [report] to another port completes at once under all of
// it and ends them.
TEST_F(ApiTest, HostileHttpClientsCostTheHubNothing) {
  ASSERT_NO_FATAL_FAILURE(StartHub(Toml(), &hub_));
  ClientSet clients(port_);
  sim::HbpClient* talker = clients.Add(kTalker);
  sim::HbpClient* listener = clients.Add(kListener, "TS2=3100");
  clients.Settle();
  const uint64_t rss_before = VmRssKib(hub_->pid());

  {
    RawHttp endless(http_);
    ASSERT_TRUE(endless.connected());
    size_t sent = endless.Send("GET /api/v1/hub HTTP/1.1\r\nX-Long: ");
    const std::string block(64 * 1024, 'a');
    for (size_t i = 0; i < 1024; ++i) {  // 64 MB, or until the hub stops taking it
      const size_t n = endless.Send(block);
      sent += n;
      if (n < block.size()) break;
    }
    bool ended = false;
    const std::string answer = endless.Read(2000, &ended);
    EXPECT_EQ(answer.rfind("HTTP/1.1 431 ", 0), 0u) << answer.substr(0, 60);
    EXPECT_LT(sent, size_t{64} << 20);  // refused before the end
    std::printf("endless header: the hub took %zu bytes of it before its 431\n", sent);
  }
  const uint64_t rss_after = VmRssKib(hub_->pid());
  EXPECT_LT(rss_after, rss_before + 8 * 1024)
      << "VmRSS " << rss_before << " KiB before the endless header, " << rss_after << " after";

  std::vector<std::unique_ptr<RawHttp>> slow;
  for (int i = 0; i < 40; ++i) {
    slow.push_back(std::make_unique<RawHttp>(http_));
    ASSERT_TRUE(slow.back()->connected());
    slow.back()->Send("GET /api/v1/hub HTTP/1.1\r\nX-Slow: ");
  }
  std::atomic<bool> stream_open{false};
  std::atomic<bool> stream_ended{false};
  std::thread stream([&] {
    httplib::Client c("127.0.0.1", http_);
    c.set_read_timeout(60, 0);
    c.Get("/api/v1/events", [&](const char*, size_t) {
      stream_open = true;
      return true;
    });
    stream_ended = true;
  });
  const auto t0 = std::chrono::steady_clock::now();
  httplib::Client api("127.0.0.1", http_);
  const httplib::Result hub = api.Get("/api/v1/hub");
  ASSERT_TRUE(hub);
  EXPECT_EQ(hub->status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  Call(clients, *talker, 3100);
  ExpectOneCall(*listener, Delivered(3100, 2, kRfSrc, kListener));
  ASSERT_TRUE(WaitUntil([&] { return stream_open.load(); }, std::chrono::seconds(3)));

  // Moves [report] http: the old server stops under its 40 stalled clients and the stream.
  const uint16_t old_http = http_;
  http_ = FreeLoopbackPort();
  hub_->RewriteConfig(Toml());
  const auto t1 = std::chrono::steady_clock::now();
  hub_->Signal(SIGHUP);
  ASSERT_TRUE(WaitUntil(
      [&] {
        httplib::Client moved("127.0.0.1", http_);
        const httplib::Result r = moved.Get("/api/v1/hub");
        return r && r->status == 200;
      },
      std::chrono::seconds(5)))
      << hub_->Log();
  const auto moved_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t1);
  EXPECT_LT(moved_ms, std::chrono::seconds(2));
  std::printf("VmRSS %llu KiB before the endless header, %llu after; [report] moved in %lld ms\n",
              static_cast<unsigned long long>(rss_before),
              static_cast<unsigned long long>(rss_after), static_cast<long long>(moved_ms.count()));
  ASSERT_TRUE(WaitUntil([&] { return stream_ended.load(); }, std::chrono::seconds(2)));
  stream.join();
  for (const std::unique_ptr<RawHttp>& c : slow) {
    bool ended = false;
    c->Read(1000, &ended);
    EXPECT_TRUE(ended);
  }
  EXPECT_FALSE(RawHttp(old_http).connected());
  Call(clients, *talker, 3100);
  ExpectOneCall(*listener, Delivered(3100, 2, kRfSrc, kListener));
}

}  // namespace
}  // namespace dmrswitch::e2e
