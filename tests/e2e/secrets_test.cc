// End to end (issue 14): no secret in any output — the hub's refusals of a bad configuration,
// its log through logins, failed logins, refused options and a reload, what dmrswitch-ctl
// prints, and every report surface (HTTP, both feeds, MQTT through a real mosquitto) — and table
// sizes bounded by the memory they need.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/e2e/e2e_sim_util.h"
#include "tests/e2e/hub_process.h"
#include "tests/e2e/observe_helpers.h"
#include "tests/report/mqtt_support.h"
#include "tests/report/test_support.h"

namespace dmrswitch::e2e {
namespace {

using sim::HbpClient;

// Every secret below contains this, so one search finds any of them.
constexpr char kMark[] = "Zq8s3cret";

std::string Hub(uint16_t hbp, uint16_t obp, const std::string& ctl, const std::string& pass,
                const std::string& peer_pass) {
  return absl::StrCat("[hub]\nserver_id = 310999\nstatus_interval_s = 1\nctl_socket = \"", ctl,
                      "\"\n[hbp]\nlisten = \"127.0.0.1:", hbp, "\"\npassphrase = \"", pass,
                      "\"\n[[hbp.fixed_client]]\nid = 3120599\naddress = \"127.0.0.1:9\"\n",
                      "options = \"TS2=91;KEY=fixed-", kMark, "\"\n",
                      "[[obp]]\nname = \"p\"\nlisten = \"127.0.0.1:", obp,
                      "\"\ntarget = \"127.0.0.1:9\"\nnetwork_id = 2\npassphrase = \"", peer_pass,
                      "\"\nversion = 5\n");
}

TEST(Secrets, NoConfigurationErrorPrintsASecret) {
  const uint16_t hbp = FreeUdpPort(), obp = FreeUdpPort();
  const std::string good = Hub(hbp, obp, "/tmp/dmrswitch-secrets-e2e-1.sock",
                               absl::StrCat("hub-", kMark), absl::StrCat("p-", kMark));
  struct Case {
    const char* what;
    std::string toml;
    const char* error;
  } cases[] = {
      {"peer passphrase too long",
       absl::StrReplaceAll(good,
                           {{absl::StrCat("p-", kMark), absl::StrCat("p-", kMark, "-0123456789")}}),
       "obp[0].passphrase: must be 1..20 bytes"},
      {"misspelt passphrase key",
       absl::StrReplaceAll(good, {{"passphrase = \"hub-", "pasphrase = \"hub-"}}),
       "hbp.pasphrase: unknown key"},
      {"passphrase as a number",
       absl::StrReplaceAll(good, {{absl::StrCat("\"hub-", kMark, "\""), "7351713"}}),
       "hbp.passphrase: expected a string"},
      {"bad escape in a passphrase",
       absl::StrReplaceAll(good,
                           {{absl::StrCat("hub-", kMark), absl::StrCat("hub-", kMark, "\\q")}}),
       "unknown escape sequence"},
      {"fixed client options too long",
       absl::StrReplaceAll(good, {{"TS2=91;", "TS2=91;" + std::string(300, 'x') + ";"}}),
       "hbp.fixed_client[0].options: longer than 300 bytes"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto r = HubProcess::RunToExit(c.toml, absl::Seconds(10));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_NE(r->first, 0);
    EXPECT_NE(r->second.find(c.error), std::string::npos) << r->second;
    EXPECT_EQ(r->second.find(kMark), std::string::npos) << r->second;
    EXPECT_EQ(r->second.find("7351713"), std::string::npos) << r->second;
  }
}

// A login with a KEY in its options, an RPTO with the wrong KEY, and a login with a wrong
// passphrase. Returns the client that stays logged in.
std::unique_ptr<HbpClient> ClientsWithSecrets(uint16_t hbp, const std::string& pass) {
  sim::HbpClientOptions o = ClientOptions(hbp, 3120501);
  o.passphrase = pass;
  o.options = absl::StrCat("TS2=91;KEY=client-", kMark);
  o.auto_reconnect = false;
  auto client = std::make_unique<HbpClient>(o);
  EXPECT_TRUE(client->Login(absl::Seconds(5)).ok()) << client->status();
  EXPECT_TRUE(client->SendOptions(absl::StrCat("TS2=92;KEY=wrong-", kMark)).ok());
  client->RunFor(absl::Milliseconds(500));
  sim::HbpClientOptions g = ClientOptions(hbp, 3120502);
  g.passphrase = absl::StrCat("guess-", kMark);
  HbpClient guesser(g);
  EXPECT_FALSE(guesser.Login(absl::Seconds(3)).ok());
  return client;
}

TEST(Secrets, NeitherTheLogNorDmrswitchCtlShowsASecret) {
  const uint16_t hbp = FreeUdpPort(), obp = FreeUdpPort();
  const std::string ctl = absl::StrCat("/tmp/dmrswitch-secrets-e2e-", getpid(), ".sock");
  const std::string pass = absl::StrCat("hub-", kMark);
  auto started = HubProcess::Start(Hub(hbp, obp, ctl, pass, absl::StrCat("p-", kMark)));
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<HubProcess> hub = *std::move(started);

  const std::unique_ptr<HbpClient> client = ClientsWithSecrets(hbp, pass);
  // A reload that changes both passphrases.
  const size_t from = hub->LogSize();
  hub->RewriteConfig(Hub(hbp, obp, ctl, absl::StrCat("hub2-", kMark), absl::StrCat("p2-", kMark)));
  hub->Signal(SIGHUP);
  ASSERT_TRUE(hub->WaitForLog("configuration reloaded", absl::Seconds(3), from)) << hub->Log();
  ASSERT_TRUE(hub->WaitForLog("status:", absl::Seconds(3), hub->LogSize()));

  std::string ctl_out;
  for (const char* cmd : {"status", "reload"}) {
    auto r =
        HubProcess::RunCommand({HubProcess::CtlPath(), "--socket", ctl, cmd}, absl::Seconds(10));
    ASSERT_TRUE(r.ok()) << r.status();
    ctl_out += r->second;
  }
  EXPECT_NE(ctl_out.find("\"ok\""), std::string::npos) << ctl_out;
  EXPECT_EQ(ctl_out.find(kMark), std::string::npos) << ctl_out;
  const std::string log = hub->Log();
  EXPECT_NE(log.find("RPTO refused"), std::string::npos) << log;
  EXPECT_NE(log.find("bad passphrase"), std::string::npos) << log;
  EXPECT_NE(log.find("passphrase changed (secret)"), std::string::npos) << log;
  EXPECT_EQ(log.find(kMark), std::string::npos) << log;
}

// Everything a TCP server on 127.0.0.1:`port` sends in `for_ms` after the connect.
std::string ReadTcp(uint16_t port, int for_ms) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string got;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(for_ms);
    char buf[65536];
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            until - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return got;
}

// The report surfaces, read while a client that latched a KEY is logged in and after a wrong
// KEY and a wrong passphrase were tried: the HBlink/FreeDMR feed (its CONFIG_SND describes every
// system, where FreeDMR's carries the passphrases), HBlink3's JSON feed, the HTTP API and
// /metrics, every event published to a real mosquitto, and every dmrswitch-ctl report. The MQTT
// password and the API token come from files holding a secret too.
TEST(Secrets, NoReportSurfaceShowsASecret) {
  using cp::report::testing::Broker;
  using cp::report::testing::FreeLoopbackPort;
  using cp::report::testing::Subscriber;
  using cp::report::testing::TempDir;
  using cp::report::testing::WriteFile;
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  Broker broker(dir);
  ASSERT_TRUE(broker.Start()) << "mosquitto is not installed (tools/install-deps.sh)";
  Subscriber mqtt(broker.port(), "#");
  const uint16_t hbp = FreeUdpPort(), obp = FreeUdpPort();
  const uint16_t http = FreeLoopbackPort(), feed = FreeLoopbackPort(),
                 feed_json = FreeLoopbackPort();
  const std::string ctl = dir.File("ctl.sock");
  const std::string pass = absl::StrCat("hub-", kMark);
  WriteFile(dir.File("mqtt.pass"), absl::StrCat("mqtt-", kMark, "\n"));
  const std::string token = absl::StrCat("token-", kMark, "-0123");
  WriteFile(dir.File("api.token"), token + "\n");
  ::chmod(dir.File("mqtt.pass").c_str(), 0600);
  ::chmod(dir.File("api.token").c_str(), 0600);
  const std::string toml = absl::StrCat(
      Hub(hbp, obp, ctl, pass, absl::StrCat("p-", kMark)), "[report]\nhttp = \"127.0.0.1:", http,
      "\"\nfeed = \"127.0.0.1:", feed, "\"\nfeed_json = \"127.0.0.1:", feed_json,
      "\"\nmqtt = \"127.0.0.1:", broker.port(), "\"\nmqtt_username = \"hub\"\n",
      "mqtt_password_file = \"", dir.File("mqtt.pass"), "\"\napi_token_file = \"",
      dir.File("api.token"), "\"\napi_options_file = \"", dir.File("api-options.json"), "\"\n");
  auto started = HubProcess::Start(toml);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<HubProcess> hub = *std::move(started);

  const std::unique_ptr<HbpClient> client = ClientsWithSecrets(hbp, pass);
  // The JSON API's live events, read while the writes below happen: options with a KEY set with
  // the token, a wrong bearer that carries the mark, a hotspot's key used for another hotspot.
  std::string events;
  std::atomic<bool> opened{false};
  std::thread sse([&] {
    httplib::Client c("127.0.0.1", http);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    c.Get("/api/v1/events", [&](const char* data, size_t n) {
      events.append(data, n);
      if (events.find("retry: ") != std::string::npos) opened = true;
      return std::chrono::steady_clock::now() < until;
    });
    opened = true;
  });
  for (int i = 0; i < 50 && !opened; ++i) client->RunFor(absl::Milliseconds(20));
  {
    httplib::Client c("127.0.0.1", http);
    const httplib::Headers admin = {{"Authorization", "Bearer " + token}};
    auto r =
        c.Put("/api/v1/clients/3120501/options", admin,
              absl::StrCat(R"({"options":"TS2=93;KEY=api-)", kMark, R"("})"), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    r = c.Post("/api/v1/clients/3120501/talkgroups", admin, R"({"slot":2,"tg":94})",
               "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    r = c.Post("/api/v1/clients/3120501/kick",
               {{"Authorization", absl::StrCat("Bearer wrong-", kMark)}}, "", "text/plain");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << r->body;
    r = c.Post("/api/v1/clients/3120599/talkgroups",
               {{"Authorization", absl::StrCat("Bearer client-", kMark)}}, R"({"slot":2,"tg":94})",
               "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403) << r->body;
  }
  client->RunFor(absl::Seconds(1));  // a status interval: the client's state is published
  sse.join();

  struct Surface {
    std::string name, text;
  };
  std::vector<Surface> seen;
  seen.push_back({"feed", ReadTcp(feed, 1500)});
  seen.push_back({"feed_json", ReadTcp(feed_json, 1500)});
  for (const char* path :
       {"/metrics", "/api/v1", "/api/v1/hub", "/api/v1/clients", "/api/v1/clients/3120501",
        "/api/v1/peers", "/api/v1/calls", "/api/v1/lastheard", "/api/v1/talkgroups",
        "/api/v1/talkgroups/91", "/api/v1/counters", "/v2/device/3120501/profile", "/dashboard/"}) {
    seen.push_back({path, HttpGet(http, path)});
  }
  for (std::vector<std::string> args : {std::vector<std::string>{"status"},
                                        {"stats", "--json"},
                                        {"errors", "--json"},
                                        {"lastheard", "--json"},
                                        {"blocked"}}) {
    seen.push_back({absl::StrCat("dmrswitch-ctl ", args[0]), Ctl(ctl, args).second});
  }
  std::string published;
  for (const cp::report::testing::Message& m : mqtt.All()) {
    absl::StrAppend(&published, m.topic, " ", m.payload, "\n");
  }
  seen.push_back({"mqtt", published});
  seen.push_back({"log", hub->Log()});
  seen.push_back({"/api/v1/events", events});
  for (const Surface& s : seen) {
    SCOPED_TRACE(s.name);
    EXPECT_FALSE(s.text.empty()) << "nothing read, so nothing checked";
    EXPECT_EQ(s.text.find(kMark), std::string::npos) << s.text.substr(0, 4000);
  }
  // What was read is the client's state, not an empty page.
  EXPECT_NE(seen[1].text.find("3120501"), std::string::npos) << seen[1].text.substr(0, 2000);
  EXPECT_NE(published.find("3120501"), std::string::npos) << published.substr(0, 2000);
  EXPECT_NE(events.find("3120501"), std::string::npos) << events.substr(0, 2000);
  EXPECT_NE(hub->Log().find("api: add_static client 3120501 by the API token"), std::string::npos);
}

TEST(TableMemory, AbsurdSizesAreRefusedNamingTheMemoryTheyNeed) {
  const std::string toml = absl::StrCat(
      "[hub]\nshards = 64\nstream_capacity = 4194304\n[hbp]\nlisten = \"127.0.0.1:", FreeUdpPort(),
      "\"\npassphrase = \"p\"\n");
  auto r = HubProcess::RunToExit(toml, absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(r->first, 0);
  EXPECT_NE(r->second.find("hub.stream_capacity = 4194304 (per shard) with hub.shards = 64"),
            std::string::npos)
      << r->second;
  EXPECT_NE(r->second.find(" GiB of memory for the hub's tables"), std::string::npos) << r->second;
  EXPECT_NE(r->second.find("lower hub.stream_capacity"), std::string::npos) << r->second;
}

}  // namespace
}  // namespace dmrswitch::e2e
