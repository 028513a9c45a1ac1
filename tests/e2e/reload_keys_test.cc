// End to end: a reload applies every live configuration key (issue 10 item 2). One case per live
// key of the key table (ctrlplane/config/keys.h): a hub starts with value A, a probe observes on
// the wire what A makes the hub do to a client or a peer, the file is rewritten with value B,
// SIGHUP, and the same probe observes what B makes it do. Only the keys whose job is a log or a
// report are observed there: hub.log_level (debug lines), hub.status_interval_s (the status line),
// obp[].name (dmrswitch-ctl status; and calls still reach the renamed peer), the [report] keys on
// the surfaces they shape (HTTP, both feeds as a dashboard reads them, a real mosquitto,
// dmrswitch-ctl lastheard; report.api_token_file by a write of the JSON API with its token) and the
// [xdp] keys by the shield's verdict counters (dmrswitch-ctl status) for a paced flood, the hub in
// a network namespace of its own behind a veth. The first test checks that the cases are exactly
// the table's live keys, so that a live key added later without a case fails.
//
// Then: a reload that changes restart keys keeps their running values (the hub serves on its old
// port) and applies the rest; one reload changing many keys at once leaves a live call whole; and
// peers added, removed, renamed, moved to another listener or put on an address the hub does not
// listen on, each by a reload in the middle of a call (from a client, or from a peer).
//
// Timing: calls go at the real 60 ms cadence (the hub rate-limits faster talkers), observations
// contrast large differences (3 s against 100 ms, 60 s against 1 s) so that a loaded two-core box
// cannot blur them, and a call follows the previous one by at least 400 ms, past the 360 ms
// collision window.

#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "ctrlplane/config/keys.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/hub_process.h"
#include "tests/e2e/observe_helpers.h"
#include "tests/ebpf/netns_lab.h"
#include "tests/report/mqtt_support.h"
#include "tools/sim/dmr_calls.h"
#include "tools/sim/hbp_client.h"
#include "tools/sim/obp_peer.h"

namespace dmrswitch::e2e {
namespace {

using sim::CallEndpoint;
using sim::HbpClient;
using sim::HbpClientOptions;
using sim::ObpMode;
using sim::ObpPeer;
using sim::ObpPeerOptions;
using sim::ReceivedCall;
using sim::VoiceCallSpec;
namespace report_testing = cp::report::testing;

// Clients. A client talks with rf_src = its ID + 1000.
constexpr uint32_t kTalker = 3120001;
constexpr uint32_t kTalker2 = 3120002;
constexpr uint32_t kX = 3120011;  // listeners
constexpr uint32_t kY = 3120012;
constexpr uint32_t kSession = 3120055;  // logged in before the reload, must stay
constexpr uint32_t kSilent = 3120061;   // never pings
constexpr uint32_t SrcOf(uint32_t client) { return client + 1000; }
// A subscriber talking through a peer.
constexpr uint32_t kPeerSrc = 2340001;
constexpr uint32_t kTg = 3100;

constexpr absl::Duration kCadence = absl::Milliseconds(60);
// After a call: frames still in flight arrive, and the next call starts past the collision window.
constexpr absl::Duration kAfterCall = absl::Milliseconds(400);

// ---------------------------------------------------------------------------------------------
// Configurations

// A configuration as a case writes it. "{HBP}", "{L0}".."{L3}", "{T0}".."{T2}" and "{CTL}" stand
// for the rig's HBP port, OpenBridge listener ports (L3 is in no starting configuration), peer
// ports and ctl socket; "{H0}" "{H1}" (HTTP), "{F0}" "{F1}" (HBlink feed), "{J0}" "{J1}" (JSON
// feed) and "{M0}" "{M1}" (mosquitto) for loopback TCP ports of the [report] cases, "{DIR}" for
// their scratch directory, "{HUBIF}" and "{NS}" for the shielded hub's interface and namespace.
struct Config {
  Config() = default;
  Config(std::vector<std::string> k, std::string t = "")
      : keys(std::move(k)), tables(std::move(t)) {}

  // "section.key = value" lines, each replacing the base configuration's line for that key.
  std::vector<std::string> keys;
  // [[hbp.static]], [[hbp.fixed_client]] and [[obp]] tables, as written.
  std::string tables;
  // The hub runs in a network namespace of its own behind a veth, with the XDP shield on it.
  bool shield = false;
};

// What every case starts from. Hang time 0: a listener's slot takes another TG right after a call
// (the group_hangtime_s case sets its own).
const std::vector<std::string>& BaseKeys() {
  static const std::vector<std::string> keys = {
      "hub.server_id = 310999",
      "hub.mode = \"kernel\"",
      "hub.shards = 2",
      "hub.control_plane = \"hosted\"",
      "hub.ctl_socket = \"{CTL}\"",
      "hbp.listen = \"127.0.0.1:{HBP}\"",
      "hbp.passphrase = \"passw0rd\"",
      "hbp.group_hangtime_s = 0",
  };
  return keys;
}

std::string Render(const Config& c, const std::vector<std::string>& more,
                   const std::vector<std::pair<std::string, std::string>>& names) {
  // Sections in order of first appearance, keys in order, later lines replacing earlier ones.
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> sections;
  const auto set = [&](const std::string& line) {
    const size_t dot = line.find('.');
    const size_t eq = line.find('=');
    const std::string section = line.substr(0, dot);
    const std::string key(absl::StripAsciiWhitespace(line.substr(dot + 1, eq - dot - 1)));
    const std::string value(absl::StripAsciiWhitespace(line.substr(eq + 1)));
    auto s = std::find_if(sections.begin(), sections.end(),
                          [&](const auto& x) { return x.first == section; });
    if (s == sections.end()) s = sections.insert(sections.end(), {section, {}});
    auto k = std::find_if(s->second.begin(), s->second.end(),
                          [&](const auto& x) { return x.first == key; });
    if (k == s->second.end()) {
      s->second.emplace_back(key, value);
    } else {
      k->second = value;
    }
  };
  for (const std::string& l : BaseKeys()) set(l);
  for (const std::string& l : c.keys) set(l);
  for (const std::string& l : more) set(l);
  std::string out;
  for (const auto& [section, keys] : sections) {
    absl::StrAppend(&out, "[", section, "]\n");
    for (const auto& [k, v] : keys) absl::StrAppend(&out, k, " = ", v, "\n");
    out += "\n";
  }
  out += c.tables;
  return absl::StrReplaceAll(out, names);
}

std::string Static(uint32_t client, const std::string& ts1, const std::string& ts2) {
  return absl::StrCat("[[hbp.static]]\nclient = ", client, "\nts1 = [", ts1, "]\nts2 = [", ts2,
                      "]\n\n");
}

// One [[obp]] table: listens on L<listen>, sends to T<target>.
struct PeerTable {
  std::string name = "p0";
  int listen = 0;
  int target = 0;
  int version = 1;
  uint32_t network_id = 2341;
  std::string passphrase = "pass0";
  std::string extra = "";  // more "key = value" lines
};

std::string Obp(const PeerTable& p) {
  return absl::StrCat("[[obp]]\nname = \"", p.name, "\"\nlisten = \"127.0.0.1:{L", p.listen,
                      "}\"\ntarget = \"127.0.0.1:{T", p.target, "}\"\nnetwork_id = ", p.network_id,
                      "\npassphrase = \"", p.passphrase, "\"\nversion = ", p.version, "\n", p.extra,
                      "\n");
}
// The second peer of the cases with two: L1, T1, its own key and network ID.
PeerTable P1(std::string extra = "") {
  return {.name = "p1",
          .listen = 1,
          .target = 1,
          .network_id = 2342,
          .passphrase = "pass1",
          .extra = std::move(extra)};
}

// A group voice call of `superframes` superframes (8 frames for one) at `cadence`.
VoiceCallSpec Call(uint32_t tg, unsigned ts, uint32_t rf_src, unsigned superframes = 1,
                   absl::Duration cadence = kCadence) {
  VoiceCallSpec s;
  s.tg = tg;
  s.ts = ts;
  s.rf_src = rf_src;
  s.superframes = superframes;
  s.cadence = cadence;
  return s;
}
// A call from a peer: OpenBridge carries TS1.
VoiceCallSpec PeerCall(uint32_t rf_src = kPeerSrc) { return Call(kTg, 1, rf_src); }
constexpr size_t FramesOfCall(unsigned superframes) { return 2 + 6 * size_t{superframes}; }

// ---------------------------------------------------------------------------------------------
// The rig: a hub, the clients and simulated peers a probe has created, and the ports.

class Rig {
 public:
  Rig() {
    std::set<uint16_t> used;
    const auto fresh = [&] {
      uint16_t p = FreeUdpPort();
      while (used.contains(p)) p = FreeUdpPort();
      used.insert(p);
      return p;
    };
    hbp_ = fresh();
    for (uint16_t& p : listeners_) p = fresh();
    for (uint16_t& p : targets_) p = fresh();
    static int counter = 0;
    ctl_ = absl::StrCat(std::filesystem::temp_directory_path().string(), "/dmrswitch-reload-",
                        getpid(), "-", counter++, ".sock");
    names_ = {{"{HBP}", absl::StrCat(hbp_)}, {"{CTL}", ctl_}, {"{DIR}", dir_.path()}};
    std::set<uint16_t> tcp_used;
    for (const char* name : {"H0", "H1", "F0", "F1", "J0", "J1", "M0", "M1"}) {
      uint16_t p = report_testing::FreeLoopbackPort();
      while (tcp_used.contains(p)) p = report_testing::FreeLoopbackPort();
      tcp_used.insert(p);
      tcp_[name] = p;
      names_.emplace_back(absl::StrCat("{", name, "}"), absl::StrCat(p));
    }
    // Secret files of the [report] cases: the MQTT password and a wrong one (the hub's user
    // only), an API token any user can read.
    WriteSecret("mqtt.pass", "mqtt-s3cret\n", 0600);
    WriteSecret("wrong.pass", "not-it\n", 0600);
    WriteSecret("api.token", "t0ken-0123456789abcdef\n", 0600);
    for (size_t i = 0; i < listeners_.size(); ++i) {
      names_.emplace_back(absl::StrCat("{L", i, "}"), absl::StrCat(listeners_[i]));
    }
    for (size_t i = 0; i < targets_.size(); ++i) {
      names_.emplace_back(absl::StrCat("{T", i, "}"), absl::StrCat(targets_[i]));
    }
  }
  ~Rig() {
    // Clients first (they say goodbye with RPTCL), then the hub (a clean stop takes the shield off
    // its interface), then the namespaces and the broker.
    clients_.clear();
    peers_.clear();
    if (hub_) hub_->Stop();
    std::error_code ec;
    if (lab_) {
      // What a hub that did not stop cleanly left pinned (its program went with the veth).
      std::filesystem::remove_all("/sys/fs/bpf/dmrswitch/" + lab_->hub_ns(), ec);
      lab_.reset();
    }
    std::filesystem::remove(ctl_, ec);
  }
  Rig(const Rig&) = delete;
  Rig& operator=(const Rig&) = delete;

  // Use with ASSERT_NO_FATAL_FAILURE.
  void Start(const Config& c) {
    current_ = c;
    HubProcess::Options o;
    if (c.shield) {
      auto lab = io::testing::VethLab::Create("rk");
      ASSERT_TRUE(lab.ok()) << lab.status();
      lab_ = *std::move(lab);
      names_.emplace_back("{HUBIF}", lab_->hub_if());
      names_.emplace_back("{NS}", lab_->hub_ns());
      o.wrapper = {"nsenter", absl::StrCat("--net=/run/netns/", lab_->hub_ns()), "--"};
    }
    o.toml = Render(c, {}, names_);
    // A broker the hub's configuration names is up before the hub.
    if (absl::StrContains(o.toml, absl::StrCat(":", tcp_["M0"], "\"")) ||
        absl::StrContains(o.toml, absl::StrCat(":", tcp_["M1"], "\""))) {
      ASSERT_NO_FATAL_FAILURE(StartBroker());
    }
    auto h = HubProcess::Start(o);
    ASSERT_TRUE(h.ok()) << h.status();
    hub_ = *std::move(h);
    log_mark_ = 0;
  }
  // Rewrites the file with `c` (and `more` key lines), sends SIGHUP and waits for the outcome
  // while every client and peer keeps being serviced. True if the hub applied the file, false if
  // it refused it (or said nothing).
  bool Reload(const Config& c, const std::vector<std::string>& more = {}) {
    current_ = c;
    const size_t from = hub_->LogSize();
    hub_->RewriteConfig(Render(c, more, names_));
    hub_->Signal(SIGHUP);
    bool applied = false, refused = false;
    PollUntil(
        [&] {
          const std::string log = hub_->Log();
          applied = log.find("configuration reloaded", from) != std::string::npos;
          refused = log.find("reload refused", from) != std::string::npos;
          return applied || refused;
        },
        absl::Seconds(5));
    EXPECT_TRUE(applied || refused) << "no answer to SIGHUP:\n" << LogTail();
    log_mark_ = from;
    // The snapshot with the new configuration (and, for peers, the one after) reaches the shards.
    PollFor(kAfterCall);
    return applied;
  }
  // The configuration in effect with `more` key lines on top (probes that reload themselves).
  bool ReloadWith(const std::vector<std::string>& more) { return Reload(current_, more); }

  HubProcess& hub() { return *hub_; }
  // What the hub logged since it started or since the last reload began.
  std::string LogSinceStartOrReload() const { return hub_->Log().substr(log_mark_); }
  const std::string& ctl() const { return ctl_; }
  // The loopback TCP port "{name}" stands for.
  uint16_t tcp(const std::string& name) const { return tcp_.at(name); }
  io::testing::VethLab* lab() const { return lab_.get(); }

  // A mosquitto with two listeners: M0 anonymous (subscribers, and hubs without credentials),
  // M1 for the user "hub" with the password in mqtt.pass only. It runs as root (mosquitto
  // otherwise drops to its own user, who may not read this directory).
  void StartBroker() {
    if (broker_.running()) return;
    const std::string pw = dir_.File("mosquitto.pw");
    auto made = HubProcess::RunCommand({"mosquitto_passwd", "-b", "-c", pw, "hub", "mqtt-s3cret"},
                                       absl::Seconds(10));
    ASSERT_TRUE(made.ok() && made->first == 0) << "mosquitto_passwd failed";
    report_testing::WriteFile(
        dir_.File("mosquitto.conf"),
        absl::StrCat("user root\nper_listener_settings true\npersistence false\nlog_dest stderr\n",
                     "listener ", tcp_["M0"], " 127.0.0.1\nallow_anonymous true\n", "listener ",
                     tcp_["M1"], " 127.0.0.1\nallow_anonymous false\npassword_file ", pw, "\n"));
    ASSERT_TRUE(
        broker_.Start({report_testing::MosquittoBinary(), "-c", dir_.File("mosquitto.conf")},
                      dir_.File("mosquitto.out"), dir_.File("mosquitto.err")));
    ASSERT_TRUE(report_testing::WaitUntil(
                    [&] {
                      return !broker_.running() || (report_testing::CanConnect(tcp_["M0"]) &&
                                                    report_testing::CanConnect(tcp_["M1"]));
                    },
                    std::chrono::seconds(5)) &&
                broker_.running())
        << report_testing::ReadFile(dir_.File("mosquitto.err"));
  }
  std::string LogTail() const {
    const std::string log = hub_->Log();
    return log.size() > 4000 ? "..." + log.substr(log.size() - 4000) : log;
  }
  uint16_t hbp_port() const { return hbp_; }
  uint16_t listener(int i) const { return listeners_[i]; }

  // The client `id`, logged in on first use (`tweak` adjusts its options then).
  HbpClient* Client(uint32_t id, const std::function<void(HbpClientOptions&)>& tweak = nullptr) {
    if (auto it = clients_.find(id); it != clients_.end()) return it->second.get();
    HbpClientOptions o = ClientOptions(id, "passw0rd", hbp_);
    if (tweak) tweak(o);
    auto c = std::make_unique<HbpClient>(o);
    const absl::Status st = c->Login(absl::Seconds(5));
    EXPECT_TRUE(st.ok()) << "client " << id << ": " << st;
    settle_due_ = true;
    return clients_.emplace(id, std::move(c)).first->second.get();
  }
  // A fresh client's login to `port` (0: the HBP port): "logs in", "refused" (MSTNAK) or "no
  // answer". It says goodbye (RPTCL) at once.
  std::string TryLogin(uint32_t id, const std::string& passphrase, uint16_t port = 0) {
    HbpClientOptions o = ClientOptions(id, passphrase, port == 0 ? hbp_ : port);
    o.auto_reconnect = false;
    HbpClient c(o);
    const absl::Status st = c.Login(absl::Seconds(2));
    if (st.ok()) return "logs in";
    return absl::IsPermissionDenied(st) ? "refused" : "no answer";
  }
  uint32_t NextClientId() { return next_client_id_++; }
  // One login of `id` with the right passphrase, then goodbye (RPTCL): true if it logged in.
  bool ChurnLogin(uint32_t id) {
    HbpClientOptions o = ClientOptions(id, "passw0rd", hbp_);
    o.auto_reconnect = false;
    HbpClient c(o);
    if (!c.Login(absl::Milliseconds(900)).ok()) return false;
    c.Close();
    return true;
  }

  // The simulated peer bound at T<at>, sending to L<to> (created on first use, `tweak` adjusts
  // it then). Classic OBP, network ID 2341, passphrase "pass0" unless tweaked.
  ObpPeer* Peer(int at, int to, const std::function<void(ObpPeerOptions&)>& tweak = nullptr) {
    if (auto it = peers_.find(at); it != peers_.end()) return it->second.get();
    ObpPeerOptions o;
    o.mode = ObpMode::kObpV1;
    o.network_id = 2341;
    o.passphrase = "pass0";
    o.hub = {"127.0.0.1", listeners_[to]};
    o.local = {"127.0.0.1", targets_[at]};
    o.keepalive_interval = absl::Seconds(1);
    if (tweak) tweak(o);
    auto p = std::make_unique<ObpPeer>(o);
    EXPECT_TRUE(p->status().ok()) << p->status();
    return peers_.emplace(at, std::move(p)).first->second.get();
  }
  ObpPeer* Peer(int at) { return Peer(at, at); }

  std::vector<sim::Pollable*> All() const {
    std::vector<sim::Pollable*> v;
    for (const auto& [id, c] : clients_) v.push_back(c.get());
    for (const auto& [at, p] : peers_) v.push_back(p.get());
    return v;
  }
  // Services every client and peer for `d`.
  void PollFor(absl::Duration d) const {
    const std::vector<sim::Pollable*> v = All();
    sim::PollFor(v, d);
  }
  // ... until `done` (checked at least every 20 ms), or `timeout`.
  bool PollUntil(const std::function<bool()>& done, absl::Duration timeout) const {
    const std::vector<sim::Pollable*> v = All();
    const absl::Time deadline = absl::Now() + timeout;
    while (!done()) {
      if (absl::Now() >= deadline) return false;
      sim::PollOnce(v, std::min(absl::Milliseconds(20), deadline - absl::Now()));
    }
    return true;
  }

  // `from` sends a call; returns its stream ID once it is out and the frames have arrived (and
  // the collision window has passed). What anybody received before is forgotten first.
  uint32_t Talk(CallEndpoint* from, const VoiceCallSpec& spec) {
    Settle();
    const uint32_t id = from->StartVoiceCall(spec);
    FinishTransmission(from);
    return id;
  }
  // `from` sends these frames (one stream, possibly part of one).
  void Send(CallEndpoint* from, std::vector<sim::DmrdFrame> frames) {
    Settle();
    from->StartFrames(std::move(frames), kCadence);
    FinishTransmission(from);
  }
  // Frames of stream `id` that `rx` has received (what it received is taken).
  static size_t FramesOf(CallEndpoint* rx, uint32_t id) {
    size_t n = 0;
    for (const ReceivedCall& c : rx->TakeReceived()) {
      if (c.stream_id == id) n += c.frame_count();
    }
    return n;
  }

  void ForgetReceived() {
    for (const auto& [id, c] : clients_) c->TakeReceived();
    for (const auto& [at, p] : peers_) p->TakeReceived();
  }

  // dmrswitch-ctl status, as JSON (null if it failed).
  nlohmann::json CtlStatus() const {
    auto r = HubProcess::RunCommand({HubProcess::CtlPath(), "--socket", ctl_, "status"},
                                    absl::Seconds(10));
    if (!r.ok() || r->first != 0) return {};
    return nlohmann::json::parse(r->second, nullptr, false);
  }

 private:
  static HbpClientOptions ClientOptions(uint32_t id, const std::string& passphrase, uint16_t port) {
    HbpClientOptions o;
    o.id = id;
    o.passphrase = passphrase;
    o.hub = {"127.0.0.1", port};
    o.retry_interval = absl::Seconds(1);
    o.ping_interval = absl::Seconds(1);
    return o;
  }
  // Clients that logged in since the last call: the hub publishes them (and their statics) in
  // the next snapshot, within tens of milliseconds.
  void Settle() {
    if (settle_due_) PollFor(absl::Milliseconds(300));
    settle_due_ = false;
    ForgetReceived();
  }
  void FinishTransmission(CallEndpoint* from) {
    EXPECT_TRUE(PollUntil([from] { return !from->transmitting(); }, absl::Seconds(10)));
    PollFor(kAfterCall);
  }

  void WriteSecret(const std::string& name, const std::string& text, mode_t mode) {
    report_testing::WriteFile(dir_.File(name), text);
    chmod(dir_.File(name).c_str(), mode);
  }

  report_testing::TempDir dir_;
  report_testing::Child broker_;
  std::unique_ptr<io::testing::VethLab> lab_;
  std::map<std::string, uint16_t> tcp_;
  size_t log_mark_ = 0;
  uint16_t hbp_ = 0;
  std::array<uint16_t, 4> listeners_{};
  std::array<uint16_t, 3> targets_{};
  std::string ctl_;
  std::vector<std::pair<std::string, std::string>> names_;
  Config current_;
  std::unique_ptr<HubProcess> hub_;
  std::map<uint32_t, std::unique_ptr<HbpClient>> clients_;
  std::map<int, std::unique_ptr<ObpPeer>> peers_;
  bool settle_due_ = false;
  uint32_t next_client_id_ = 3120100;
};

// A client logged in before the reload is still served after it: its keepalives are answered,
// nothing closed it.
void ExpectSessionKept(Rig& r, HbpClient* c) {
  const uint64_t pongs = c->counters().pongs;
  r.PollFor(absl::Milliseconds(1500));
  EXPECT_TRUE(c->running());
  EXPECT_EQ(c->counters().mstcl, 0u);
  EXPECT_GT(c->counters().pongs, pongs) << "client " << c->id() << " keepalives unanswered";
}

std::string HeardOr(size_t frames, const char* heard, const char* not_heard) {
  return frames > 0 ? heard : not_heard;
}

// ---------------------------------------------------------------------------------------------
// Probes: what a client, a peer or the operator observes, as a short text. Each runs once under A
// and once under B; clients and peers it creates under A are still there under B.

enum class Phase { kA, kB };
using Probe = std::string (*)(Rig&, Phase);

// Bytes 11..14 of the frames the classic OBP peer p0 receives for a client's call.
std::string PeerSeesRepeaterId(Rig& r, Phase) {
  ObpPeer* p0 = r.Peer(0);
  const uint32_t id = r.Talk(r.Client(kTalker), Call(kTg, 2, SrcOf(kTalker)));
  for (const ReceivedCall& c : p0->TakeReceived()) {
    if (c.stream_id == id) return absl::StrCat(c.repeater_id);
  }
  return "nothing";
}

std::string StatusLines(Rig& r, Phase) {
  const size_t from = r.hub().LogSize();
  r.PollFor(absl::Milliseconds(2500));
  const std::string log = r.hub().Log();
  int n = 0;
  for (size_t at = log.find("status: clients", from); at != std::string::npos;
       at = log.find("status: clients", at + 1)) {
    ++n;
  }
  return n == 0 ? "no status line in 2.5 s" : n >= 2 ? "a status line every second" : "one";
}

std::string StreamDebugLines(Rig& r, Phase) {
  const size_t from = r.hub().LogSize();
  r.Talk(r.Client(kTalker), Call(kTg, 2, SrcOf(kTalker)));
  return r.hub().WaitForLog("started: rf_src", absl::Milliseconds(500), from)
             ? "a debug line per stream"
             : "no debug lines";
}

std::string LoginsByPassphrase(Rig& r, Phase phase) {
  HbpClient* session = r.Client(kSession);
  const std::string out = absl::StrCat("passw0rd ", r.TryLogin(r.NextClientId(), "passw0rd"),
                                       ", s3cret ", r.TryLogin(r.NextClientId(), "s3cret"));
  if (phase == Phase::kB) ExpectSessionKept(r, session);
  return out;
}

// allow_null_passphrase guards against a file whose passphrase is empty: with it the hub opens
// (any password logs in), without it the reload is refused and the hub stays closed.
std::string EmptyingThePassphrase(Rig& r, Phase) {
  const bool applied = r.ReloadWith({"hbp.passphrase = \"\""});
  const bool open = r.TryLogin(r.NextClientId(), "not-the-password") == "logs in";
  return absl::StrCat("empty passphrase ", applied ? "applied" : "refused", ", hub ",
                      open ? "open" : "closed");
}

// A client that never sends a keepalive.
std::string SilentClient(Rig& r, Phase) {
  HbpClient* c = r.Client(kSilent, [](HbpClientOptions& o) {
    o.ping_interval = absl::Hours(1);
    o.auto_reconnect = false;
  });
  r.PollUntil([c] { return c->counters().mstcl > 0; }, absl::Seconds(4));
  return c->counters().mstcl > 0 ? "closed (MSTCL)" : "stays logged in";
}

// X (static TS2 3100 and 3101) hears a call, and 400 ms after its end a call on the other TG.
std::string OtherTgRightAfterACall(Rig& r, Phase phase) {
  // Under B the first call repeats A's last TG: the hang time left by A's calls does not hold it.
  const uint32_t first = phase == Phase::kA ? 3100 : 3101;
  const uint32_t second = phase == Phase::kA ? 3101 : 3100;
  HbpClient* x = r.Client(kX);
  const uint32_t a = r.Talk(r.Client(kTalker), Call(first, 2, SrcOf(kTalker)));
  const std::string heard_a = HeardOr(Rig::FramesOf(x, a), " heard", " held off");
  const uint32_t b = r.Talk(r.Client(kTalker2), Call(second, 2, SrcOf(kTalker2)));
  return absl::StrCat(first, heard_a, ", then ", second,
                      HeardOr(Rig::FramesOf(x, b), " heard", " held off"));
}

// Y keys up on a TG (a user activation) and listens to it 3 s later.
std::string UaTgThreeSecondsLater(Rig& r, Phase phase) {
  const uint32_t tg = phase == Phase::kA ? 2345 : 2346;
  HbpClient* y = r.Client(kY);
  HbpClient* t = r.Client(kTalker);
  r.Talk(y, Call(tg, 2, SrcOf(kY)));
  r.PollFor(absl::Seconds(3));
  return HeardOr(Rig::FramesOf(y, r.Talk(t, Call(tg, 2, SrcOf(kTalker)))),
                 "still a member after 3 s", "expired within 3 s");
}

// X (static TS2 3100) talks on a user-activated TG, then a call comes on its static.
std::string StaticWhileOnAUaTg(Rig& r, Phase phase) {
  HbpClient* x = r.Client(kX);
  HbpClient* t = r.Client(kTalker);
  r.Talk(x, Call(phase == Phase::kA ? 2345 : 2346, 2, SrcOf(kX)));
  return HeardOr(Rig::FramesOf(x, r.Talk(t, Call(kTg, 2, SrcOf(kTalker)))), "static heard",
                 "static suspended");
}

// Y's first transmission on a TG it is not a member of; X (static TS2 2345, 2346) listens.
std::string FirstKeyUpOnANewTg(Rig& r, Phase phase) {
  HbpClient* x = r.Client(kX);
  const uint32_t id = r.Talk(r.Client(kY), Call(phase == Phase::kA ? 2345 : 2346, 2, SrcOf(kY)));
  return HeardOr(Rig::FramesOf(x, id), "routed", "not routed");
}

// Login churn (the limiter charges correct logins per source IP and client ID): a fresh ID logs in
// and says goodbye `first` times back to back, `pause` later `second` times more. Returns how many
// of each round logged in. A blocked pair's RPTL is not answered: a login that gets no RPTACK
// within 900 ms (the client would retry RPTL after 1 s) is not in.
std::string LoginRounds(Rig& r, int first, absl::Duration pause, int second) {
  const uint32_t id = r.NextClientId();
  const auto round = [&](int n) {
    int in = 0;
    for (int i = 0; i < n; ++i) in += r.ChurnLogin(id) ? 1 : 0;
    return in;
  };
  const int a = round(first);
  r.PollFor(pause);
  const int b = round(second);
  return absl::StrCat(a, "+", b, " logged in");
}
std::string ThreeLogins(Rig& r, Phase) { return LoginRounds(r, 3, absl::ZeroDuration(), 0); }
std::string TwoLoginsTwiceASecondApart(Rig& r, Phase) {
  return LoginRounds(r, 2, absl::Milliseconds(1200), 2);
}
std::string TwoLoginsThenOneAfterASecond(Rig& r, Phase) {
  return LoginRounds(r, 2, absl::Milliseconds(1500), 1);
}

// X (static TS2 3100) hears a call; 400 ms after its end another client talks on 3100.
std::string SameTgRightAfterACall(Rig& r, Phase) {
  HbpClient* x = r.Client(kX);
  const uint32_t a = r.Talk(r.Client(kTalker), Call(kTg, 2, SrcOf(kTalker)));
  EXPECT_GT(Rig::FramesOf(x, a), 0u);
  const uint32_t b = r.Talk(r.Client(kTalker2), Call(kTg, 2, SrcOf(kTalker2)));
  return HeardOr(Rig::FramesOf(x, b), "second talker heard", "second talker held off");
}

// Half a call without a terminator, 2.5 s of silence, then the rest under the same stream ID.
std::string CallBackAfterSilence(Rig& r, Phase) {
  HbpClient* x = r.Client(kX);
  HbpClient* t = r.Client(kTalker);
  VoiceCallSpec spec = Call(kTg, 2, SrcOf(kTalker));
  spec.stream_id = sim::RandomStreamId();
  const std::vector<sim::DmrdFrame> frames = sim::BuildVoiceCall(spec, kTalker);
  r.Send(t, std::vector<sim::DmrdFrame>(frames.begin(), frames.begin() + 4));
  EXPECT_EQ(Rig::FramesOf(x, spec.stream_id), 4u);
  r.PollFor(absl::Milliseconds(2500));
  r.Send(t, std::vector<sim::DmrdFrame>(frames.begin() + 4, frames.end()));
  return HeardOr(Rig::FramesOf(x, spec.stream_id), "resumed after the silence",
                 "ended by the silence");
}

// A whole call; 3.6 s after its terminator, three of its voice frames again. The hub remembers an
// ended stream for stream_forget_s but never less than 2 x fbp.max_age_s + 1 s (anti-replay): the
// case sets fbp.max_age_s = 1, so 3 s.
std::string LateFramesOfAnEndedCall(Rig& r, Phase) {
  HbpClient* x = r.Client(kX);
  HbpClient* t = r.Client(kTalker);
  VoiceCallSpec spec = Call(kTg, 2, SrcOf(kTalker));
  spec.stream_id = sim::RandomStreamId();
  const std::vector<sim::DmrdFrame> frames = sim::BuildVoiceCall(spec, kTalker);
  r.Send(t, frames);
  EXPECT_EQ(Rig::FramesOf(x, spec.stream_id), frames.size());
  r.PollFor(absl::Milliseconds(3600));
  r.Send(t, std::vector<sim::DmrdFrame>(frames.begin() + 1, frames.begin() + 4));
  return HeardOr(Rig::FramesOf(x, spec.stream_id), "routed as a new stream", "dropped");
}

// X (static TS2 3100) listens to a call of 26 frames.
std::string CallOf26Frames(Rig& r, absl::Duration cadence) {
  HbpClient* x = r.Client(kX);
  const uint32_t id = r.Talk(r.Client(kTalker), Call(kTg, 2, SrcOf(kTalker), 4, cadence));
  const size_t n = Rig::FramesOf(x, id);
  return n == FramesOfCall(4) ? "complete" : n > 0 ? "cut short" : "nothing";
}
// 1.5 s long, at the real cadence.
std::string LongCall(Rig& r, Phase) { return CallOf26Frames(r, kCadence); }
// 50 packets a second (voice is 16.7).
std::string FastCall(Rig& r, Phase) { return CallOf26Frames(r, absl::Milliseconds(20)); }

std::string WhoHearsACallOn3100(Rig& r, Phase) {
  HbpClient* x = r.Client(kX);
  HbpClient* y = r.Client(kY);
  const uint32_t id = r.Talk(r.Client(kTalker), Call(kTg, 2, SrcOf(kTalker)));
  std::vector<std::string> who;
  if (Rig::FramesOf(x, id) > 0) who.push_back("X");
  if (Rig::FramesOf(y, id) > 0) who.push_back("Y");
  return who.empty() ? "nobody" : absl::StrJoin(who, " and ");
}

// Which of TG 3100 and 3101 X hears on `ts`.
std::string TgsXHears(Rig& r, unsigned ts) {
  HbpClient* x = r.Client(kX);
  HbpClient* t = r.Client(kTalker);
  std::vector<uint32_t> heard;
  for (const uint32_t tg : {3100u, 3101u}) {
    if (Rig::FramesOf(x, r.Talk(t, Call(tg, ts, SrcOf(kTalker)))) > 0) heard.push_back(tg);
  }
  return heard.empty() ? "none" : absl::StrJoin(heard, ", ");
}
std::string TgsXHearsOnTs1(Rig& r, Phase) { return TgsXHears(r, 1); }
std::string TgsXHearsOnTs2(Rig& r, Phase) { return TgsXHears(r, 2); }

// A login of an ID in 3120050..3120059 (B denies them); the session of 3120055, logged in under
// A, stays (acl.reg applies at the next login).
std::string LoginOfListedId(Rig& r, Phase phase) {
  HbpClient* session = r.Client(kSession);
  const std::string out = r.TryLogin(phase == Phase::kA ? 3120050 : 3120051, "passw0rd");
  if (phase == Phase::kB) ExpectSessionKept(r, session);
  return out;
}

// The talker (rf_src 3121001) calls 3100 on `ts`; X (static 3100 on that slot) listens.
std::string XHearsTheTalker(Rig& r, unsigned ts) {
  HbpClient* x = r.Client(kX);
  return HeardOr(Rig::FramesOf(x, r.Talk(r.Client(kTalker), Call(kTg, ts, SrcOf(kTalker)))),
                 "heard", "refused");
}
std::string XHearsTheTalkerOnTs1(Rig& r, Phase) { return XHearsTheTalker(r, 1); }
std::string XHearsTheTalkerOnTs2(Rig& r, Phase) { return XHearsTheTalker(r, 2); }

// The name dmrswitch-ctl status reports for the FBP peer p0, and whether a client's call still
// reaches it (routing never depends on a name). Its simulator sent one BCKA when it was created.
std::string PeerNameAndCalls(Rig& r, Phase phase) {
  ObpPeer* p0 = r.Peer(0, 0, [](ObpPeerOptions& o) {
    o.mode = ObpMode::kFbpV5;
    o.keepalive_interval = absl::Hours(1);
  });
  if (phase == Phase::kA) r.PollFor(absl::Milliseconds(500));  // alive once heard
  const nlohmann::json status = r.CtlStatus();
  std::vector<std::string> names;
  if (status.is_object() && status.contains("peers")) {
    for (const nlohmann::json& p : status["peers"]) names.push_back(p.value("name", "?"));
  }
  const uint32_t id = r.Talk(r.Client(kTalker), Call(kTg, 2, SrcOf(kTalker)));
  return absl::StrCat(names.empty() ? "no status" : absl::StrJoin(names, ", "), ", ",
                      HeardOr(Rig::FramesOf(p0, id), "gets calls", "gets nothing"));
}

// p0's simulator expects the hub at L1 (and takes frames from anywhere): which listener the hub
// sends to it from, and whether its calls to L1 reach X (static TS2 3100).
std::string ListenerOfP0(Rig& r, Phase) {
  ObpPeer* p0 = r.Peer(0, 1, [](ObpPeerOptions& o) { o.accept_any_source = true; });
  HbpClient* x = r.Client(kX);
  const uint64_t foreign = p0->counters().foreign_source;
  const uint32_t out = r.Talk(r.Client(kTalker), Call(kTg, 2, SrcOf(kTalker)));
  const size_t sent = Rig::FramesOf(p0, out);
  const bool via_l0 = p0->counters().foreign_source > foreign;
  const uint32_t in = r.Talk(p0, PeerCall());
  return absl::StrCat(sent == 0 ? "no egress"
                      : via_l0  ? "egress via L0"
                                : "egress via L1",
                      ", its calls to L1 ", HeardOr(Rig::FramesOf(x, in), "routed", "dropped"));
}

// Simulated peers at T0 and T1: which gets a client's call.
std::string WhichPeerAddressGetsACall(Rig& r, Phase) {
  ObpPeer* at_t0 = r.Peer(0, 0);
  ObpPeer* at_t1 = r.Peer(1, 0);
  const uint32_t id = r.Talk(r.Client(kTalker), Call(kTg, 2, SrcOf(kTalker)));
  std::vector<std::string> who;
  if (Rig::FramesOf(at_t0, id) > 0) who.push_back("T0");
  if (Rig::FramesOf(at_t1, id) > 0) who.push_back("T1");
  return who.empty() ? "neither" : absl::StrJoin(who, " and ");
}

// p0's simulator puts 2342 in bytes 11..14; X (static TS2 3100) listens.
std::string PeerCallCarrying2342(Rig& r, Phase) {
  ObpPeer* p0 = r.Peer(0, 0, [](ObpPeerOptions& o) { o.network_id = 2342; });
  HbpClient* x = r.Client(kX);
  return HeardOr(Rig::FramesOf(x, r.Talk(p0, PeerCall())), "heard", "dropped");
}

// p0's simulator is keyed with "pass9": do the frames it gets for a client's call verify?
std::string PeerKeyedPass9(Rig& r, Phase) {
  ObpPeer* p0 = r.Peer(0, 0, [](ObpPeerOptions& o) { o.passphrase = "pass9"; });
  const sim::ObpPeerCounters before = p0->counters();
  r.Talk(r.Client(kTalker), Call(kTg, 2, SrcOf(kTalker)));
  const sim::ObpPeerCounters& after = p0->counters();
  if (after.dmrd_rx > before.dmrd_rx) return "MAC verifies";
  return after.bad_mac > before.bad_mac ? "bad MAC" : "nothing";
}

// An FBP simulator (sending BCKA every second, so alive as a v5 peer): the format of the frames
// it gets for a client's call.
std::string PeerWireFormat(Rig& r, Phase phase) {
  ObpPeer* p0 = r.Peer(0, 0, [](ObpPeerOptions& o) { o.mode = ObpMode::kFbpV5; });
  // A peer switched to v5 is alive once heard: the simulator's next BCKA.
  if (phase == Phase::kB) r.PollFor(absl::Milliseconds(1500));
  const sim::ObpPeerCounters before = p0->counters();
  r.Talk(r.Client(kTalker), Call(kTg, 2, SrcOf(kTalker)));
  const sim::ObpPeerCounters& after = p0->counters();
  std::vector<std::string> got;
  if (after.dmrd_rx > before.dmrd_rx) got.push_back("OBP v1 DMRD");
  if (after.dmre_rx > before.dmre_rx) got.push_back("FBP DMRE");
  return got.empty() ? "nothing" : absl::StrJoin(got, " and ");
}

// p0's simulator sends from T2 (p0's target is T0); X (static TS2 3100) listens.
std::string PeerCallFromAnotherPort(Rig& r, Phase) {
  ObpPeer* from_t2 = r.Peer(2, 0);
  HbpClient* x = r.Client(kX);
  return HeardOr(Rig::FramesOf(x, r.Talk(from_t2, PeerCall())), "accepted", "dropped");
}

// p0 calls 3100: does p1 get it? X (static TS2 3100) hears it either way.
std::string RelayedFromP0ToP1(Rig& r, Phase) {
  ObpPeer* p0 = r.Peer(0);
  ObpPeer* p1 = r.Peer(1, 1, [](ObpPeerOptions& o) {
    o.network_id = 2342;
    o.passphrase = "pass1";
  });
  HbpClient* x = r.Client(kX);
  const uint32_t id = r.Talk(p0, PeerCall());
  EXPECT_GT(Rig::FramesOf(x, id), 0u);
  return HeardOr(Rig::FramesOf(p1, id), "relayed", "not relayed");
}

std::string PeerGetsACallOn3100(Rig& r, Phase) {
  ObpPeer* p0 = r.Peer(0);
  return HeardOr(Rig::FramesOf(p0, r.Talk(r.Client(kTalker), Call(kTg, 2, SrcOf(kTalker)))),
                 "gets it", "filtered");
}

// p0 calls 3100 from subscriber 2340001; X (static TS2 3100) listens.
std::string PeerCallFrom2340001(Rig& r, Phase) {
  ObpPeer* p0 = r.Peer(0);
  HbpClient* x = r.Client(kX);
  return HeardOr(Rig::FramesOf(x, r.Talk(p0, PeerCall(2340001))), "heard", "refused");
}

// How often two FBP peers get BCKA / BCVE from the hub: p0, whose timer the case changes, and
// p1, whose timer stays (per-peer timers).
std::string ControlPacketRate(Rig& r, uint64_t sim::ObpPeerCounters::*counter, const char* what) {
  ObpPeer* sims[] = {r.Peer(0, 0, [](ObpPeerOptions& o) { o.mode = ObpMode::kFbpV5; }),
                     r.Peer(1, 1, [](ObpPeerOptions& o) {
                       o.mode = ObpMode::kFbpV5;
                       o.network_id = 2342;
                       o.passphrase = "pass1";
                     })};
  uint64_t before[2];
  for (int i = 0; i < 2; ++i) before[i] = sims[i]->counters().*counter;
  r.PollFor(absl::Milliseconds(2500));
  std::vector<std::string> rates;
  for (int i = 0; i < 2; ++i) {
    const uint64_t n = sims[i]->counters().*counter - before[i];
    rates.push_back(absl::StrCat("p", i, n >= 2 ? " every second" : " at most once in 2.5 s"));
  }
  return absl::StrCat(what, ": ", absl::StrJoin(rates, ", "));
}
std::string BckaRate(Rig& r, Phase) {
  return ControlPacketRate(r, &sim::ObpPeerCounters::bcka_rx, "BCKA");
}
std::string BcveRate(Rig& r, Phase) {
  return ControlPacketRate(r, &sim::ObpPeerCounters::bcve_rx, "BCVE");
}

// An FBP peer that sent one BCKA (when created) and nothing since: a client's call 2.5 s later.
std::string QuietPeerGetsACall(Rig& r, Phase) {
  ObpPeer* p0 = r.Peer(0, 0, [](ObpPeerOptions& o) {
    o.mode = ObpMode::kFbpV5;
    o.keepalive_interval = absl::Hours(1);
  });
  r.PollFor(absl::Milliseconds(2500));
  return HeardOr(Rig::FramesOf(p0, r.Talk(r.Client(kTalker), Call(kTg, 2, SrcOf(kTalker)))),
                 "gets it", "gets nothing (dead)");
}

// An FBP peer's call whose DMRE says 5 hops / is 10 s old; X (static TS2 3100) listens.
std::string FbpCall(Rig& r, const std::function<void(ObpPeerOptions&)>& tweak) {
  ObpPeer* p0 = r.Peer(0, 0, [&](ObpPeerOptions& o) {
    o.mode = ObpMode::kFbpV5;
    tweak(o);
  });
  HbpClient* x = r.Client(kX);
  return HeardOr(Rig::FramesOf(x, r.Talk(p0, PeerCall())), "heard", "dropped");
}
std::string DmreWithFiveHops(Rig& r, Phase) {
  return FbpCall(r, [](ObpPeerOptions& o) { o.hops = 5; });
}
std::string DmreTenSecondsOld(Rig& r, Phase) {
  return FbpCall(r, [](ObpPeerOptions& o) { o.timestamp_offset = absl::Seconds(-10); });
}

// --- [xdp]: the shield, in front of a hub in a namespace of its own ----------------------------

// The verdict counter `name` of the shield, from dmrswitch-ctl status (-1 if it is not attached).
int64_t ShieldVerdict(Rig& r, const std::string& name) {
  const nlohmann::json status = r.CtlStatus();
  if (!status.is_object() || !status.contains("xdp") ||
      status["xdp"].value("state", "") != "attached") {
    return -1;
  }
  return status["xdp"]["verdicts"].value(name, int64_t{0});
}

// 198.18.0.2 sends 1000 well-formed DMRD to the HBP port at 2000 pps (a new source port each
// phase: a bucket of its own); how many the shield dropped for the rate, read from its verdicts.
std::string PacedFloodFromOneSource(Rig& r, Phase phase) {
  const uint16_t hbp = r.hbp_port();
  const uint16_t src_port = phase == Phase::kA ? 50001 : 50002;
  const int64_t before = ShieldVerdict(r, "drop_rate_limited");
  if (before < 0) return "shield not attached";
  const pid_t child = r.lab()->SpawnInClient(
      [hbp, src_port] { return io::testing::SendCall(hbp, src_port, 2000, 1000) == 1000 ? 0 : 1; });
  EXPECT_EQ(io::testing::WaitChild(child), 0) << "the flood was not sent";
  r.PollFor(absl::Milliseconds(200));
  const int64_t dropped = ShieldVerdict(r, "drop_rate_limited") - before;
  return dropped == 0     ? "all passed"
         : dropped >= 800 ? "most dropped"
                          : absl::StrCat(dropped, " dropped");
}

// 200 well-formed IPv6 DMRD datagrams to the HBP port, each from another address of one /64
// (2001:2::/64, one source port per phase), written raw onto the client end of the veth (the
// shield judges them at the hub end before any neighbour or socket matters). Under /64 buckets
// they share one; under /128 each address has its own.
std::string RotatingIpv6SourcesInOneSlash64(Rig& r, Phase phase) {
  const uint16_t hbp = r.hbp_port();
  const uint16_t src_port = phase == Phase::kA ? 50003 : 50004;
  const std::string ifname = r.lab()->client_if();
  const int64_t before = ShieldVerdict(r, "drop_rate_limited");
  if (before < 0) return "shield not attached";
  const pid_t child = r.lab()->SpawnInClient([hbp, src_port, ifname] {
    const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) return 1;
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    to.sll_halen = 6;
    int sent = 0;
    for (int i = 0; i < 200; ++i) {
      std::array<uint8_t, 14 + 40 + 8 + 55> f{};
      std::fill(f.begin(), f.begin() + 6, 0xFF);
      f[6] = 0x02;
      f[11] = 0x02;
      f[12] = 0x86;
      f[13] = 0xDD;
      uint8_t* ip = f.data() + 14;
      ip[0] = 0x60;
      ip[5] = 8 + 55;
      ip[6] = 17;
      ip[7] = 64;
      const uint8_t prefix[8] = {0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0};
      std::memcpy(ip + 8, prefix, 8);
      ip[22] = static_cast<uint8_t>(1 + i / 250);
      ip[23] = static_cast<uint8_t>(2 + i % 250);
      std::memcpy(ip + 24, prefix, 8);
      ip[39] = 1;
      uint8_t* udp = ip + 40;
      udp[0] = static_cast<uint8_t>(src_port >> 8);
      udp[1] = static_cast<uint8_t>(src_port);
      udp[2] = static_cast<uint8_t>(hbp >> 8);
      udp[3] = static_cast<uint8_t>(hbp);
      udp[5] = 8 + 55;
      uint8_t* dmrd = udp + 8;
      std::memset(dmrd, 0x5A, 55);
      std::memcpy(dmrd, "DMRD", 4);
      dmrd[4] = static_cast<uint8_t>(i);
      if (sendto(fd, f.data(), f.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) ==
          static_cast<ssize_t>(f.size())) {
        ++sent;
      }
      usleep(500);  // 2000 pps
    }
    close(fd);
    return sent == 200 ? 0 : 1;
  });
  EXPECT_EQ(io::testing::WaitChild(child), 0) << "the frames were not sent";
  r.PollFor(absl::Milliseconds(200));
  const int64_t dropped = ShieldVerdict(r, "drop_rate_limited") - before;
  return dropped == 0     ? "all passed"
         : dropped >= 150 ? "most dropped"
                          : absl::StrCat(dropped, " dropped");
}

// --- [report] --------------------------------------------------------------------------------

// Which of the listed loopback TCP ports ("H0", ...) pass `serves`.
std::string PortsThat(Rig& r, std::vector<std::string> names,
                      const std::function<bool(uint16_t)>& serves) {
  std::vector<std::string> at;
  for (const std::string& n : names) {
    if (serves(r.tcp(n))) at.push_back(n);
  }
  return at.empty() ? "nowhere" : absl::StrJoin(at, " and ");
}

std::string WhereMetricsAreServed(Rig& r, Phase) {
  return PortsThat(r, {"H0", "H1"}, [](uint16_t port) {
    return absl::StrContains(HttpGet(port, "/metrics"), "dmrswitch_");
  });
}

// A dashboard's connection to 127.0.0.1:port: what the hub sent it, and whether it closed it.
class Dashboard {
 public:
  explicit Dashboard(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~Dashboard() { close(fd_); }
  Dashboard(const Dashboard&) = delete;
  Dashboard& operator=(const Dashboard&) = delete;
  // Reads for `d` (or until `enough` holds for what came so far).
  void Read(Rig& r, absl::Duration d, const std::function<bool()>& enough = nullptr) {
    r.PollUntil(
        [&] {
          while (connected_ && !closed_) {
            pollfd p{fd_, POLLIN, 0};
            if (poll(&p, 1, 0) <= 0) break;
            char buf[65536];
            const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
            if (n <= 0) {
              closed_ = true;
            } else {
              bytes_.append(buf, static_cast<size_t>(n));
            }
          }
          return !connected_ || closed_ || (enough && enough());
        },
        d);
  }
  bool served() const { return connected_ && !bytes_.empty(); }
  bool closed() const { return closed_; }
  // The complete netstrings so far ("<length>:<payload>,": the HBlink feed).
  std::vector<std::string> Netstrings() const {
    std::vector<std::string> out;
    size_t pos = 0;
    while (true) {
      const size_t colon = bytes_.find(':', pos);
      if (colon == std::string::npos) break;
      const size_t len = std::strtoul(bytes_.c_str() + pos, nullptr, 10);
      if (colon + 1 + len + 1 > bytes_.size()) break;
      out.push_back(bytes_.substr(colon + 1, len));
      pos = colon + 1 + len + 1;
    }
    return out;
  }
  // The HBlink feed's first CONFIG_SND (opcode 0x01), "" if none came.
  std::string ConfigSnd() const {
    for (const std::string& m : Netstrings()) {
      if (!m.empty() && m[0] == 0x01) return m;
    }
    return "";
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  std::string bytes_;
};

// Where a dashboard that connects gets the HBlink feed's snapshot (CONFIG_SND).
std::string WhereTheFeedIsServed(Rig& r, Phase) {
  return PortsThat(r, {"F0", "F1"}, [&](uint16_t port) {
    Dashboard d(port);
    d.Read(r, absl::Milliseconds(800), [&] { return !d.ConfigSnd().empty(); });
    return !d.ConfigSnd().empty();
  });
}

// Where a dashboard that connects gets the JSON feed's snapshot (a line).
std::string WhereTheJsonFeedIsServed(Rig& r, Phase) {
  return PortsThat(r, {"J0", "J1"}, [&](uint16_t port) {
    Dashboard d(port);
    d.Read(r, absl::Milliseconds(800));
    return d.served();
  });
}

// Two dashboards on the HBlink feed at once.
std::string SecondDashboard(Rig& r, Phase) {
  Dashboard first(r.tcp("F0"));
  first.Read(r, absl::Milliseconds(800), [&] { return !first.ConfigSnd().empty(); });
  Dashboard second(r.tcp("F0"));
  second.Read(r, absl::Milliseconds(800), [&] { return !second.ConfigSnd().empty(); });
  EXPECT_FALSE(first.ConfigSnd().empty()) << "the first dashboard got no snapshot";
  return second.closed() && !second.served() ? "second dashboard refused"
         : !second.ConfigSnd().empty()       ? "second dashboard served"
                                             : "second dashboard left waiting";
}

// The synthetic systems ("HBP-1", or "HBP-001".."HBP-100": as many digits as the count has) named
// in the snapshot a dashboard gets.
std::string SystemsInTheFeed(Rig& r, Phase) {
  Dashboard d(r.tcp("F0"));
  d.Read(r, absl::Seconds(1), [&] { return !d.ConfigSnd().empty(); });
  const std::string config = d.ConfigSnd();
  if (config.empty()) return "no snapshot";
  std::set<std::string> systems;
  for (size_t at = config.find("HBP-"); at != std::string::npos; at = config.find("HBP-", at + 1)) {
    size_t end = at + 4;
    while (end < config.size() && absl::ascii_isdigit(static_cast<unsigned char>(config[end]))) {
      ++end;
    }
    if (end > at + 4) systems.insert(config.substr(at, end - at));
  }
  return systems.size() == 1 ? "one system" : absl::StrCat(systems.size(), " systems");
}

// Eight clients logged in (each fills a system of the snapshot: about 360 bytes); the longest
// message a dashboard then gets in its first second (the snapshot is the long one).
std::string LongestFeedMessage(Rig& r, Phase phase) {
  if (phase == Phase::kA) {
    for (uint32_t i = 0; i < 8; ++i) r.Client(3120200 + i);
    r.PollFor(absl::Milliseconds(1200));  // the feed's state follows logins within a second
  }
  Dashboard d(r.tcp("F0"));
  d.Read(r, absl::Seconds(1), [&] { return !d.ConfigSnd().empty(); });
  size_t longest = 0;
  for (const std::string& m : d.Netstrings()) longest = std::max(longest, m.size());
  if (longest == 0) return "nothing";
  return longest > 4096 ? "a message over 4096 bytes" : "every message within 4096 bytes";
}

// Two calls (one from each talker, on `tg1` and `tg2`); then dmrswitch-ctl lastheard: how many
// of the two calls, and of the two TGs, it lists.
std::string LastheardAfterTwoCalls(Rig& r, uint32_t tg1, uint32_t tg2) {
  const uint32_t a = r.Talk(r.Client(kTalker), Call(tg1, 2, SrcOf(kTalker)));
  const uint32_t b = r.Talk(r.Client(kTalker2), Call(tg2, 2, SrcOf(kTalker2)));
  nlohmann::json lh;
  int calls = 0, tgs = 0;
  r.PollUntil(
      [&] {
        lh = CtlJson(r.ctl(), {"lastheard", "--limit", "100"});
        calls = tgs = 0;
        if (!lh.is_object()) return false;
        bool b_ended = false;
        for (const nlohmann::json& c : lh["lastheard"]) {
          if (c["stream_id"] == a || c["stream_id"] == b) ++calls;
          if (c["stream_id"] == b && c["live"] == false) b_ended = true;
        }
        for (const nlohmann::json& t : lh["talkgroups"]) {
          if (t["tg"] == tg1 || t["tg"] == tg2) ++tgs;
        }
        return b_ended;
      },
      absl::Seconds(2));
  return absl::StrCat(calls, " of 2 calls, ", tgs, " of 2 talkgroups listed");
}
std::string LastheardCalls(Rig& r, Phase phase) {
  const std::string all = phase == Phase::kA ? LastheardAfterTwoCalls(r, 3100, 3101)
                                             : LastheardAfterTwoCalls(r, 3102, 3103);
  return all.substr(0, all.find(','));
}
std::string LastheardTalkgroups(Rig& r, Phase phase) {
  const std::string all = phase == Phase::kA ? LastheardAfterTwoCalls(r, 3100, 3101)
                                             : LastheardAfterTwoCalls(r, 3102, 3103);
  return all.substr(all.find(',') + 2);
}

// A write of the JSON API with the token of {DIR}/api.token (POST /api/v1/resume).
std::string WriteWithTheToken(Rig& r, Phase) {
  httplib::Client c("127.0.0.1", r.tcp("H0"));
  auto res = c.Post("/api/v1/resume", {{"Authorization", "Bearer t0ken-0123456789abcdef"}}, "",
                    "text/plain");
  if (!res) return "no answer";
  return res->status == 200   ? "a write with the token is done"
         : res->status == 403 ? "every write is refused"
                              : absl::StrCat("answered ", res->status);
}

// A fresh subscriber to everything on the broker's open listener (retained messages come at
// once): the topics "dmrswitch/310999/status" and "hub/a/status" whose last status says online.
std::string OnlineStatusTopics(Rig& r, Phase) {
  r.StartBroker();
  report_testing::Subscriber sub(r.tcp("M0"), "#");
  std::vector<std::string> online;
  r.PollUntil(
      [&] {
        online.clear();
        for (const char* topic : {"dmrswitch/310999/status", "hub/a/status"}) {
          const std::vector<report_testing::Message> m = sub.On(topic);
          if (m.empty()) continue;
          const nlohmann::json j = nlohmann::json::parse(m.back().payload, nullptr, false);
          if (j.is_object() && j.value("online", false)) online.push_back(topic);
        }
        return !online.empty();
      },
      absl::Seconds(2));
  return online.empty() ? "no status online" : absl::StrJoin(online, " and ") + " online";
}

// A call while a subscriber listens to the hub's topics: messages on <prefix>/Session.
std::string SessionMessagesOfACall(Rig& r, Phase) {
  report_testing::Subscriber sub(r.tcp("M0"), "dmrswitch/310999/#");
  EXPECT_TRUE(r.PollUntil(
      [&] {
        const std::vector<report_testing::Message> m = sub.On("dmrswitch/310999/status");
        return !m.empty() && absl::StrContains(m.back().payload, "\"online\":true");
      },
      absl::Seconds(3)))
      << "the hub's status never came online";
  r.Talk(r.Client(kTalker), Call(kTg, 2, SrcOf(kTalker)));
  r.PollFor(absl::Milliseconds(300));
  const size_t n = sub.On("dmrswitch/310999/Session").size();
  return n == 0 ? "no Session messages" : "Session messages";
}

// ---------------------------------------------------------------------------------------------
// The cases: one per live key.

struct KeyCase {
  std::string key;
  Config a, b;
  Probe probe;
  std::string under_a, under_b;  // what the probe observes
};

// A configuration of the hub behind the XDP shield: in a namespace of its own, HBP on the veth.
Config Shielded(std::vector<std::string> keys) {
  Config c(std::move(keys));
  c.keys.insert(c.keys.begin(), {"hbp.listen = \"198.18.0.1:{HBP}\"", "xdp.interface = \"{HUBIF}\"",
                                 "hub.runtime_name = \"{NS}\""});
  c.shield = true;
  return c;
}

std::vector<KeyCase> LiveKeyCases() {
  const std::string x_3100 = Static(kX, "", "3100");
  const std::string p0 = Obp({});
  const auto fbp = [](std::string extra) { return Obp({.version = 5, .extra = std::move(extra)}); };
  const auto fbp_p1 = [](std::string extra) {
    PeerTable p = P1(std::move(extra));
    p.version = 5;
    return Obp(p);
  };
  const std::string listen_a = Obp({}) + Obp(P1()) + x_3100;
  const std::string listen_b = Obp({.listen = 1}) + Obp(P1()) + x_3100;
  const std::string relay_a = Obp({}) + Obp(P1()) + x_3100;
  const std::string relay_b = Obp({}) + Obp(P1("relay = true\n")) + x_3100;
  return {
      // [hub]
      {"hub.server_id",
       {{}, p0},
       {{"hub.server_id = 311000"}, p0},
       PeerSeesRepeaterId,
       "310999",
       "311000"},
      {"hub.status_interval_s",
       {{"hub.status_interval_s = 3600"}},
       {{"hub.status_interval_s = 1"}},
       StatusLines,
       "no status line in 2.5 s",
       "a status line every second"},
      {"hub.log_level",
       {{"hub.log_level = \"info\""}},
       {{"hub.log_level = \"debug\""}},
       StreamDebugLines,
       "no debug lines",
       "a debug line per stream"},
      // [hbp]
      {"hbp.passphrase",
       {},
       {{"hbp.passphrase = \"s3cret\""}},
       LoginsByPassphrase,
       "passw0rd logs in, s3cret refused",
       "passw0rd refused, s3cret logs in"},
      {"hbp.allow_null_passphrase",
       {{"hbp.allow_null_passphrase = true"}},
       {{"hbp.allow_null_passphrase = false"}},
       EmptyingThePassphrase,
       "empty passphrase applied, hub open",
       "empty passphrase refused, hub closed"},
      {"hbp.ping_time_s",
       {{"hbp.ping_time_s = 60", "hbp.max_missed = 2"}},
       {{"hbp.ping_time_s = 1", "hbp.max_missed = 2"}},
       SilentClient,
       "stays logged in",
       "closed (MSTCL)"},
      {"hbp.max_missed",
       {{"hbp.ping_time_s = 1", "hbp.max_missed = 60"}},
       {{"hbp.ping_time_s = 1", "hbp.max_missed = 2"}},
       SilentClient,
       "stays logged in",
       "closed (MSTCL)"},
      {"hbp.group_hangtime_s",
       {{"hbp.group_hangtime_s = 0"}, Static(kX, "", "3100, 3101")},
       {{"hbp.group_hangtime_s = 10"}, Static(kX, "", "3100, 3101")},
       OtherTgRightAfterACall,
       "3100 heard, then 3101 heard",
       "3101 heard, then 3100 held off"},
      {"hbp.default_ua_timer_min",
       {{"hbp.default_ua_timer_min = 0.01"}},
       {{"hbp.default_ua_timer_min = 10"}},
       UaTgThreeSecondsLater,
       "expired within 3 s",
       "still a member after 3 s"},
      {"hbp.single_mode",
       {{"hbp.single_mode = true"}, x_3100},
       {{"hbp.single_mode = false"}, x_3100},
       StaticWhileOnAUaTg,
       "static suspended",
       "static heard"},
      {"hbp.activate_on",
       {{"hbp.activate_on = \"start\""}, Static(kX, "", "2345, 2346")},
       {{"hbp.activate_on = \"end\""}, Static(kX, "", "2345, 2346")},
       FirstKeyUpOnANewTg,
       "routed",
       "not routed"},
      {"hbp.login_burst",
       {{"hbp.login_burst = 100"}},
       {{"hbp.login_burst = 2"}},
       ThreeLogins,
       "3+0 logged in",
       "2+0 logged in"},
      {"hbp.login_window_s",
       {{"hbp.login_burst = 2", "hbp.login_window_s = 1"}},
       {{"hbp.login_burst = 2", "hbp.login_window_s = 60"}},
       TwoLoginsTwiceASecondApart,
       "2+2 logged in",
       "2+0 logged in"},
      {"hbp.login_block_s",
       {{"hbp.login_burst = 1", "hbp.login_window_s = 1", "hbp.login_block_s = 300"}},
       {{"hbp.login_burst = 1", "hbp.login_window_s = 1", "hbp.login_block_s = 1"}},
       TwoLoginsThenOneAfterASecond,
       "1+0 logged in",
       "1+1 logged in"},
      {"hbp.stream_timeout_ms",
       {{"hbp.stream_timeout_ms = 3000"}, x_3100},
       {{"hbp.stream_timeout_ms = 100"}, x_3100},
       SameTgRightAfterACall,
       "second talker held off",
       "second talker heard"},
      {"hbp.stream_lost_s",
       {{"hbp.stream_lost_s = 10"}, x_3100},
       {{"hbp.stream_lost_s = 1"}, x_3100},
       CallBackAfterSilence,
       "resumed after the silence",
       "ended by the silence"},
      {"hbp.stream_forget_s",
       {{"hbp.stream_forget_s = 60", "fbp.max_age_s = 1"}, x_3100},
       {{"hbp.stream_forget_s = 1", "fbp.max_age_s = 1"}, x_3100},
       LateFramesOfAnEndedCall,
       "dropped",
       "routed as a new stream"},
      {"hbp.max_stream_age_s",
       {{"hbp.max_stream_age_s = 180"}, x_3100},
       {{"hbp.max_stream_age_s = 1"}, x_3100},
       LongCall,
       "complete",
       "cut short"},
      {"hbp.rate_limit_after_packets",
       {{"hbp.rate_limit_after_packets = 18"}, x_3100},
       {{"hbp.rate_limit_after_packets = 1000"}, x_3100},
       FastCall,
       "cut short",
       "complete"},
      {"hbp.rate_limit_pps",
       {{"hbp.rate_limit_pps = 25"}, x_3100},
       {{"hbp.rate_limit_pps = 1000"}, x_3100},
       FastCall,
       "cut short",
       "complete"},
      // [[hbp.static]]
      {"hbp.static[].client",
       {{}, Static(kX, "", "3100")},
       {{}, Static(kY, "", "3100")},
       WhoHearsACallOn3100,
       "X",
       "Y"},
      {"hbp.static[].ts1",
       {{}, Static(kX, "3100", "")},
       {{}, Static(kX, "3101", "")},
       TgsXHearsOnTs1,
       "3100",
       "3101"},
      {"hbp.static[].ts2",
       {{}, Static(kX, "", "3100")},
       {{}, Static(kX, "", "3101")},
       TgsXHearsOnTs2,
       "3100",
       "3101"},
      // [acl]
      {"acl.reg",
       {{"acl.reg = \"PERMIT:ALL\""}},
       {{"acl.reg = \"DENY:3120050-3120059\""}},
       LoginOfListedId,
       "logs in",
       "refused"},
      {"acl.sub",
       {{"acl.sub = \"DENY:1\""}, x_3100},
       {{"acl.sub = \"DENY:3121001\""}, x_3100},
       XHearsTheTalkerOnTs2,
       "heard",
       "refused"},
      {"acl.tg_ts1",
       {{}, Static(kX, "3100", "")},
       {{"acl.tg_ts1 = \"DENY:3100\""}, Static(kX, "3100", "")},
       XHearsTheTalkerOnTs1,
       "heard",
       "refused"},
      {"acl.tg_ts2",
       {{}, x_3100},
       {{"acl.tg_ts2 = \"DENY:3100\""}, x_3100},
       XHearsTheTalkerOnTs2,
       "heard",
       "refused"},
      // [[obp]]
      {"obp[].name",
       {{}, Obp({.name = "alpha", .version = 5})},
       {{}, Obp({.name = "beta", .version = 5})},
       PeerNameAndCalls,
       "alpha, gets calls",
       "beta, gets calls"},
      {"obp[].listen",
       {{}, listen_a},
       {{}, listen_b},
       ListenerOfP0,
       "egress via L0, its calls to L1 dropped",
       "egress via L1, its calls to L1 routed"},
      {"obp[].target",
       {{}, Obp({.target = 0})},
       {{}, Obp({.target = 1})},
       WhichPeerAddressGetsACall,
       "T0",
       "T1"},
      {"obp[].network_id",
       {{}, Obp({.network_id = 2341}) + x_3100},
       {{}, Obp({.network_id = 2342}) + x_3100},
       PeerCallCarrying2342,
       "dropped",
       "heard"},
      {"obp[].passphrase",
       {{}, Obp({.passphrase = "pass0"})},
       {{}, Obp({.passphrase = "pass9"})},
       PeerKeyedPass9,
       "bad MAC",
       "MAC verifies"},
      {"obp[].version",
       {{}, Obp({.version = 1})},
       {{}, Obp({.version = 5})},
       PeerWireFormat,
       "OBP v1 DMRD",
       "FBP DMRE"},
      {"obp[].id_mode",
       {{}, Obp({.extra = "id_mode = \"freedmr\"\n"})},
       {{}, Obp({.extra = "id_mode = \"hblink3\"\n"})},
       PeerSeesRepeaterId,
       "310999",
       "2341"},
      {"obp[].relax_checks",
       {{}, Obp({.extra = "relax_checks = true\n"}) + x_3100},
       {{}, Obp({.extra = "relax_checks = false\n"}) + x_3100},
       PeerCallFromAnotherPort,
       "accepted",
       "dropped"},
      {"obp[].relay", {{}, relay_a}, {{}, relay_b}, RelayedFromP0ToP1, "not relayed", "relayed"},
      {"obp[].use_acl",
       {{}, Obp({.extra = "use_acl = false\ntgid_acl = \"DENY:3100\"\n"})},
       {{}, Obp({.extra = "use_acl = true\ntgid_acl = \"DENY:3100\"\n"})},
       PeerGetsACallOn3100,
       "gets it",
       "filtered"},
      {"obp[].sub_acl",
       {{}, Obp({.extra = "use_acl = true\nsub_acl = \"DENY:1\"\n"}) + x_3100},
       {{}, Obp({.extra = "use_acl = true\nsub_acl = \"DENY:2340001\"\n"}) + x_3100},
       PeerCallFrom2340001,
       "heard",
       "refused"},
      {"obp[].tgid_acl",
       {{}, Obp({.extra = "use_acl = true\ntgid_acl = \"PERMIT:ALL\"\n"})},
       {{}, Obp({.extra = "use_acl = true\ntgid_acl = \"DENY:3100\"\n"})},
       PeerGetsACallOn3100,
       "gets it",
       "filtered"},
      {"obp[].keepalive_s",
       {{}, fbp("keepalive_s = 10\n") + fbp_p1("keepalive_s = 10\n")},
       {{}, fbp("keepalive_s = 1\n") + fbp_p1("keepalive_s = 10\n")},
       BckaRate,
       "BCKA: p0 at most once in 2.5 s, p1 at most once in 2.5 s",
       "BCKA: p0 every second, p1 at most once in 2.5 s"},
      {"obp[].dead_after_s",
       {{}, fbp("keepalive_s = 1\ndead_after_s = 60\n")},
       {{}, fbp("keepalive_s = 1\ndead_after_s = 2\n")},
       QuietPeerGetsACall,
       "gets it",
       "gets nothing (dead)"},
      {"obp[].bcve_interval_s",
       {{}, fbp("bcve_interval_s = 3600\n") + fbp_p1("bcve_interval_s = 3600\n")},
       {{}, fbp("bcve_interval_s = 1\n") + fbp_p1("bcve_interval_s = 3600\n")},
       BcveRate,
       "BCVE: p0 at most once in 2.5 s, p1 at most once in 2.5 s",
       "BCVE: p0 every second, p1 at most once in 2.5 s"},
      // [xdp]: 1000 packets at 2000 pps from one source
      {"xdp.source_pps", Shielded({"xdp.source_pps = 10", "xdp.source_burst = 100"}),
       Shielded({"xdp.source_pps = 100000", "xdp.source_burst = 100"}), PacedFloodFromOneSource,
       "most dropped", "all passed"},
      {"xdp.source_burst", Shielded({"xdp.source_pps = 10", "xdp.source_burst = 100000"}),
       Shielded({"xdp.source_pps = 10", "xdp.source_burst = 20"}), PacedFloodFromOneSource,
       "all passed", "most dropped"},
      {"xdp.source_prefix6",
       Shielded({"xdp.source_pps = 10", "xdp.source_burst = 20", "xdp.source_prefix6 = 64"}),
       Shielded({"xdp.source_pps = 10", "xdp.source_burst = 20", "xdp.source_prefix6 = 128"}),
       RotatingIpv6SourcesInOneSlash64, "most dropped", "all passed"},
      {"xdp.exempt", Shielded({"xdp.source_pps = 10", "xdp.source_burst = 20"}),
       Shielded({"xdp.source_pps = 10", "xdp.source_burst = 20", "xdp.exempt = [\"198.18.0.2\"]"}),
       PacedFloodFromOneSource, "most dropped", "all passed"},
      // [fbp]
      {"fbp.max_hops",
       {{"fbp.max_hops = 10"}, fbp("") + x_3100},
       {{"fbp.max_hops = 3"}, fbp("") + x_3100},
       DmreWithFiveHops,
       "heard",
       "dropped"},
      {"fbp.max_age_s",
       {{"fbp.max_age_s = 60"}, fbp("") + x_3100},
       {{"fbp.max_age_s = 5"}, fbp("") + x_3100},
       DmreTenSecondsOld,
       "heard",
       "dropped"},
      // [report]
      {"report.http",
       {{"report.http = \"127.0.0.1:{H0}\""}},
       {{"report.http = \"127.0.0.1:{H1}\""}},
       WhereMetricsAreServed,
       "H0",
       "H1"},
      {"report.feed",
       {{"report.feed = \"127.0.0.1:{F0}\""}},
       {{"report.feed = \"127.0.0.1:{F1}\""}},
       WhereTheFeedIsServed,
       "F0",
       "F1"},
      {"report.feed_json",
       {{"report.feed_json = \"127.0.0.1:{J0}\""}},
       {{"report.feed_json = \"127.0.0.1:{J1}\""}},
       WhereTheJsonFeedIsServed,
       "J0",
       "J1"},
      {"report.mqtt",
       {{"report.mqtt = \"\""}},
       {{"report.mqtt = \"127.0.0.1:{M0}\""}},
       OnlineStatusTopics,
       "no status online",
       "dmrswitch/310999/status online"},
      {"report.mqtt_topic",
       {{"report.mqtt = \"127.0.0.1:{M0}\"", "report.mqtt_topic = \"dmrswitch/{server_id}\""}},
       {{"report.mqtt = \"127.0.0.1:{M0}\"", "report.mqtt_topic = \"hub/a\""}},
       OnlineStatusTopics,
       "dmrswitch/310999/status online",
       "hub/a/status online"},
      {"report.mqtt_username",
       {{"report.mqtt = \"127.0.0.1:{M1}\"", "report.mqtt_username = \"someone\"",
         "report.mqtt_password_file = \"{DIR}/mqtt.pass\""}},
       {{"report.mqtt = \"127.0.0.1:{M1}\"", "report.mqtt_username = \"hub\"",
         "report.mqtt_password_file = \"{DIR}/mqtt.pass\""}},
       OnlineStatusTopics,
       "no status online",
       "dmrswitch/310999/status online"},
      {"report.mqtt_password_file",
       {{"report.mqtt = \"127.0.0.1:{M1}\"", "report.mqtt_username = \"hub\"",
         "report.mqtt_password_file = \"{DIR}/wrong.pass\""}},
       {{"report.mqtt = \"127.0.0.1:{M1}\"", "report.mqtt_username = \"hub\"",
         "report.mqtt_password_file = \"{DIR}/mqtt.pass\""}},
       OnlineStatusTopics,
       "no status online",
       "dmrswitch/310999/status online"},
      {"report.mqtt_bm_session",
       {{"report.mqtt = \"127.0.0.1:{M0}\"", "report.mqtt_bm_session = true"}},
       {{"report.mqtt = \"127.0.0.1:{M0}\"", "report.mqtt_bm_session = false"}},
       SessionMessagesOfACall,
       "Session messages",
       "no Session messages"},
      {"report.feed_systems",
       {{"report.feed = \"127.0.0.1:{F0}\"", "report.feed_systems = 1"}},
       {{"report.feed = \"127.0.0.1:{F0}\"", "report.feed_systems = 100"}},
       SystemsInTheFeed,
       "one system",
       "100 systems"},
      {"report.feed_max_message",
       {{"report.feed = \"127.0.0.1:{F0}\"", "report.feed_systems = 40",
         "report.feed_max_message = 99999"}},
       {{"report.feed = \"127.0.0.1:{F0}\"", "report.feed_systems = 40",
         "report.feed_max_message = 4096"}},
       LongestFeedMessage,
       "a message over 4096 bytes",
       "every message within 4096 bytes"},
      {"report.feed_max_connections",
       {{"report.feed = \"127.0.0.1:{F0}\"", "report.feed_max_connections = 1"}},
       {{"report.feed = \"127.0.0.1:{F0}\"", "report.feed_max_connections = 16"}},
       SecondDashboard,
       "second dashboard refused",
       "second dashboard served"},
      {"report.lastheard_size",
       {{"report.lastheard_size = 1"}},
       {{"report.lastheard_size = 100"}},
       LastheardCalls,
       "1 of 2 calls",
       "2 of 2 calls"},
      {"report.talkgroups_size",
       {{"report.talkgroups_size = 1"}},
       {{"report.talkgroups_size = 100"}},
       LastheardTalkgroups,
       "1 of 2 talkgroups listed",
       "2 of 2 talkgroups listed"},
      {"report.api_token_file",
       {{"report.http = \"127.0.0.1:{H0}\"", "report.api_token_file = \"\""}},
       {{"report.http = \"127.0.0.1:{H0}\"", "report.api_token_file = \"{DIR}/api.token\""}},
       WriteWithTheToken,
       "every write is refused",
       "a write with the token is done"},
  };
}

TEST(ReloadKeys, CasesAreExactlyTheLiveKeysOfTheTable) {
  std::set<std::string> live;
  for (const cp::ConfigKey* k : cp::AllConfigKeys()) {
    if (k->reload == cp::ReloadClass::kLive) live.insert(std::string(k->path));
  }
  std::multiset<std::string> cases;
  for (const KeyCase& c : LiveKeyCases()) cases.insert(c.key);
  for (const std::string& k : live) {
    EXPECT_EQ(cases.count(k), 1u) << k << ": a live key needs exactly one case here";
  }
  for (const std::string& k : cases) {
    EXPECT_TRUE(live.contains(k)) << k << ": not a live key of cp::AllConfigKeys()";
  }
}

class ReloadKey : public ::testing::TestWithParam<KeyCase> {};

TEST_P(ReloadKey, SighupChangesWhatTheHubDoes) {
  const KeyCase& c = GetParam();
  Rig rig;
  ASSERT_NO_FATAL_FAILURE(rig.Start(c.a));
  const std::string under_a = c.probe(rig, Phase::kA);
  EXPECT_EQ(under_a, c.under_a) << "before the reload (" << c.key << " as A)\n" << rig.LogTail();
  ASSERT_TRUE(rig.Reload(c.b)) << rig.LogTail();
  const std::string under_b = c.probe(rig, Phase::kB);
  EXPECT_EQ(under_b, c.under_b) << "after the reload (" << c.key << " as B)\n" << rig.LogTail();
  EXPECT_TRUE(rig.hub().running());
}

INSTANTIATE_TEST_SUITE_P(LiveKeys, ReloadKey, ::testing::ValuesIn(LiveKeyCases()),
                         [](const ::testing::TestParamInfo<KeyCase>& info) {
                           std::string name = info.param.key;
                           for (char& ch : name) {
                             if (!absl::ascii_isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

// ---------------------------------------------------------------------------------------------
// Restart keys, many keys at once, peers.

// `talker` sends a 44-frame call on 3100 at the real cadence (2.6 s); the file becomes `next` and
// is reloaded 800 ms into the call. Returns the call's stream ID once it is over.
uint32_t ReloadDuringACall(Rig& r, CallEndpoint* talker, const VoiceCallSpec& spec,
                           const Config& next) {
  r.PollFor(absl::Milliseconds(300));  // the snapshots with every client and peer
  r.ForgetReceived();
  const uint32_t id = talker->StartVoiceCall(spec);
  r.PollFor(absl::Milliseconds(800));
  EXPECT_TRUE(talker->transmitting());
  EXPECT_TRUE(r.Reload(next)) << r.LogTail();
  EXPECT_TRUE(talker->transmitting()) << "the reload took longer than the call";
  EXPECT_TRUE(r.PollUntil([talker] { return !talker->transmitting(); }, absl::Seconds(10)));
  r.PollFor(kAfterCall);
  return id;
}
// A client's call (TS2).
uint32_t ReloadDuringACall(Rig& r, HbpClient* talker, const Config& next) {
  return ReloadDuringACall(r, talker, Call(kTg, 2, SrcOf(talker->id()), 7), next);
}
// A peer's call (TS1).
uint32_t ReloadDuringACall(Rig& r, ObpPeer* talker, const Config& next) {
  return ReloadDuringACall(r, talker, Call(kTg, 1, kPeerSrc, 7), next);
}

// `rx` received every frame of the 44-frame call `id`, in order, header to terminator.
void ExpectWholeCall(CallEndpoint* rx, uint32_t id, const std::string& who) {
  SCOPED_TRACE(who);
  std::vector<ReceivedCall> calls = rx->TakeReceived();
  const auto c = std::find_if(calls.begin(), calls.end(),
                              [id](const ReceivedCall& x) { return x.stream_id == id; });
  ASSERT_NE(c, calls.end()) << who << " received nothing of the call";
  EXPECT_EQ(c->frame_count(), FramesOfCall(7)) << c->DebugString();
  EXPECT_EQ(c->seq_gaps, 0u);
  EXPECT_TRUE(c->header_first);
  EXPECT_TRUE(c->terminator_last);
}

TEST(ReloadKeys, RestartKeysKeepTheirRunningValuesAndTheRestApplies) {
  Rig r;
  ASSERT_NO_FATAL_FAILURE(r.Start({}));
  HbpClient* session = r.Client(kSession);
  const Config next{{"hbp.listen = \"127.0.0.1:{L3}\"", "hub.shards = 3", "hbp.max_clients = 1",
                     "hub.stream_capacity = 128", "acl.reg = \"DENY:3120080\""},
                    "[[hbp.fixed_client]]\nid = 3120090\naddress = \"127.0.0.1:{T2}\"\n\n"};
  const size_t from = r.hub().LogSize();
  ASSERT_TRUE(r.Reload(next)) << r.LogTail();
  // The hub still serves HBP on its old port (hbp.listen kept), and not on the new one; more
  // than one client logs in (hbp.max_clients kept); 3120090 logs in from anywhere (no fixed
  // client was added: its ID would be reserved for its address).
  EXPECT_EQ(r.TryLogin(r.NextClientId(), "passw0rd"), "logs in");
  EXPECT_EQ(r.TryLogin(r.NextClientId(), "passw0rd", r.listener(3)), "no answer");
  EXPECT_EQ(r.TryLogin(3120090, "passw0rd"), "logs in");
  const nlohmann::json status = r.CtlStatus();
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status["shards"].size(), 2u) << "hub.shards kept";
  ExpectSessionKept(r, session);
  // The live key of the same file applied.
  EXPECT_EQ(r.TryLogin(3120080, "passw0rd"), "refused");
  // And the reload said which keys it kept.
  const std::string log = r.hub().Log().substr(from);
  EXPECT_NE(log.find("kept until restart"), std::string::npos) << log;
  for (const char* key : {"hbp.listen", "hub.shards", "hbp.max_clients", "hub.stream_capacity",
                          "hbp.fixed_client[0].id"}) {
    EXPECT_NE(log.find(key), std::string::npos) << key << " not named:\n" << log;
  }
}

TEST(ReloadKeys, ManyKeysInOneReloadLeaveALiveCallWhole) {
  Rig r;
  ASSERT_NO_FATAL_FAILURE(r.Start({{}, Static(kX, "", "3100") + Obp({})}));
  HbpClient* x = r.Client(kX);
  HbpClient* y = r.Client(kY);
  HbpClient* t = r.Client(kTalker);
  ObpPeer* p0 = r.Peer(0);
  const Config next{
      {// live
       "hub.server_id = 311000", "hub.log_level = \"debug\"", "hub.status_interval_s = 2",
       "hbp.ping_time_s = 5", "hbp.stream_timeout_ms = 200", "hbp.rate_limit_pps = 30",
       "hbp.group_hangtime_s = 1", "acl.sub = \"DENY:3129999\"", "acl.tg_ts1 = \"DENY:3200\"",
       "fbp.max_hops = 8",
       // restart
       "hub.shards = 3", "hbp.listen = \"127.0.0.1:{L3}\"", "hbp.max_clients = 2",
       "hub.stream_capacity = 1024"},
      Static(kX, "", "3100") + Static(kY, "", "3100") +
          Obp({.extra = "id_mode = \"hblink3\"\nrelay = true\n"})};
  const uint32_t call = ReloadDuringACall(r, t, next);
  ExpectWholeCall(x, call, "X");
  ExpectWholeCall(p0, call, "p0");
  y->TakeReceived();  // Y's static arrived mid-call: it may have heard the rest of it
  // The live keys apply to the next call: Y's new static, p0's ID mode.
  const uint32_t next_call = r.Talk(t, Call(kTg, 2, SrcOf(kTalker)));
  EXPECT_EQ(Rig::FramesOf(x, next_call), FramesOfCall(1));
  EXPECT_EQ(Rig::FramesOf(y, next_call), FramesOfCall(1));
  // p0 is in hblink3 ID mode now: its frames carry its network ID.
  EXPECT_EQ(PeerSeesRepeaterId(r, Phase::kB), "2341");
  EXPECT_TRUE(r.hub().running());
}

// Peers by reload under live traffic: p0 (L0 → T0) and p1 (L1 → T1), X (static TS2 3100); the
// talker's call is in progress when the file changes.
class ReloadPeers : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(r_.Start({{}, Obp({}) + Obp(P1()) + Static(kX, "", "3100")}));
    x_ = r_.Client(kX);
    t_ = r_.Client(kTalker);
  }
  ObpPeer* SimP1() {
    return r_.Peer(1, 1, [](ObpPeerOptions& o) {
      o.network_id = 2342;
      o.passphrase = "pass1";
    });
  }
  Rig r_;
  HbpClient* x_ = nullptr;
  HbpClient* t_ = nullptr;
};

TEST_F(ReloadPeers, AddedOnAListenerTheHubHasCarriesCalls) {
  ObpPeer* p0 = r_.Peer(0);
  ObpPeer* p1 = SimP1();
  // p2 shares p1's listener L1 and sends from T2.
  ObpPeer* p2 = r_.Peer(2, 1, [](ObpPeerOptions& o) {
    o.network_id = 2343;
    o.passphrase = "pass2";
  });
  const std::string p2_table =
      Obp({.name = "p2", .listen = 1, .target = 2, .network_id = 2343, .passphrase = "pass2"});
  const uint32_t call =
      ReloadDuringACall(r_, t_, {{}, Obp({}) + Obp(P1()) + p2_table + Static(kX, "", "3100")});
  ExpectWholeCall(x_, call, "X");
  ExpectWholeCall(p0, call, "p0");
  ExpectWholeCall(p1, call, "p1");
  p2->TakeReceived();  // p2 may have joined mid-call
  // The next call reaches the new peer, and the new peer's calls reach X.
  const uint32_t out = r_.Talk(t_, Call(kTg, 2, SrcOf(kTalker)));
  EXPECT_EQ(Rig::FramesOf(p2, out), FramesOfCall(1));
  EXPECT_EQ(Rig::FramesOf(p0, out), FramesOfCall(1));
  EXPECT_EQ(Rig::FramesOf(x_, r_.Talk(p2, PeerCall())), FramesOfCall(1));
  EXPECT_TRUE(r_.hub().running());
}

TEST_F(ReloadPeers, RemovedPeerGetsNothingMore) {
  ObpPeer* p0 = r_.Peer(0);
  ObpPeer* p1 = SimP1();
  // p0 goes: p1 becomes peer 0 of the snapshot while the call runs.
  const uint32_t call = ReloadDuringACall(r_, t_, {{}, Obp(P1()) + Static(kX, "", "3100")});
  ExpectWholeCall(x_, call, "X");
  ExpectWholeCall(p1, call, "p1");
  p0->TakeReceived();
  const uint32_t out = r_.Talk(t_, Call(kTg, 2, SrcOf(kTalker)));
  EXPECT_EQ(Rig::FramesOf(p0, out), 0u) << "a removed peer still gets calls";
  EXPECT_EQ(Rig::FramesOf(p1, out), FramesOfCall(1));
  EXPECT_EQ(Rig::FramesOf(x_, r_.Talk(p1, PeerCall())), FramesOfCall(1));
  EXPECT_EQ(Rig::FramesOf(x_, r_.Talk(p0, PeerCall())), 0u) << "a removed peer's call is routed";
  EXPECT_TRUE(r_.hub().running());
}

// Peer numbers follow the file: removing p0 makes p1 peer 0 while p1's call runs.
TEST_F(ReloadPeers, RemovingAnEarlierPeerLeavesACallFromALaterOneWhole) {
  ObpPeer* p1 = SimP1();
  const uint32_t call = ReloadDuringACall(r_, p1, {{}, Obp(P1()) + Static(kX, "", "3100")});
  ExpectWholeCall(x_, call, "X");
  EXPECT_TRUE(r_.hub().running());
}

// Routing never depends on a name: p1 renamed in place keeps its call and its link.
TEST_F(ReloadPeers, RenamedPeerKeepsItsCall) {
  ObpPeer* p1 = SimP1();
  PeerTable renamed = P1();
  renamed.name = "p1-renamed";
  const uint32_t call =
      ReloadDuringACall(r_, p1, {{}, Obp({}) + Obp(renamed) + Static(kX, "", "3100")});
  ExpectWholeCall(x_, call, "X");
  const uint32_t out = r_.Talk(t_, Call(kTg, 2, SrcOf(kTalker)));
  EXPECT_EQ(Rig::FramesOf(p1, out), FramesOfCall(1));
}

TEST_F(ReloadPeers, MovedToAnotherListenerTheHubHas) {
  // p0's simulator sends to L1 and takes frames from either listener (it counts those from L0).
  ObpPeer* p0 = r_.Peer(0, 1, [](ObpPeerOptions& o) { o.accept_any_source = true; });
  const uint32_t call =
      ReloadDuringACall(r_, t_, {{}, Obp({.listen = 1}) + Obp(P1()) + Static(kX, "", "3100")});
  ExpectWholeCall(x_, call, "X");
  ExpectWholeCall(p0, call, "p0");
  const uint64_t from_l0 = p0->counters().foreign_source;
  const uint32_t out = r_.Talk(t_, Call(kTg, 2, SrcOf(kTalker)));
  EXPECT_EQ(Rig::FramesOf(p0, out), FramesOfCall(1));
  EXPECT_EQ(p0->counters().foreign_source, from_l0) << "p0 still served from L0";
  EXPECT_EQ(Rig::FramesOf(x_, r_.Talk(p0, PeerCall())), FramesOfCall(1));
  EXPECT_TRUE(r_.hub().running());
}

TEST_F(ReloadPeers, OnAnAddressTheHubDoesNotListenOnIsNotServed) {
  ObpPeer* p0 = r_.Peer(0);
  // p0 asks for L3 too: it keeps L0. p2 is new, on L3, sending from T2.
  ObpPeer* p2 = r_.Peer(2, 3, [](ObpPeerOptions& o) {
    o.network_id = 2343;
    o.passphrase = "pass2";
  });
  const std::string p2_table =
      Obp({.name = "p2", .listen = 3, .target = 2, .network_id = 2343, .passphrase = "pass2"});
  const uint32_t call = ReloadDuringACall(
      r_, t_, {{}, Obp({.listen = 3}) + Obp(P1()) + p2_table + Static(kX, "", "3100")});
  ExpectWholeCall(x_, call, "X");
  ExpectWholeCall(p0, call, "p0");
  // Traffic for and from p2: none goes anywhere, and the hub carries on.
  const uint32_t out = r_.Talk(t_, Call(kTg, 2, SrcOf(kTalker)));
  EXPECT_EQ(Rig::FramesOf(p2, out), 0u);
  EXPECT_EQ(Rig::FramesOf(p0, out), FramesOfCall(1)) << "p0 left its listener";
  EXPECT_EQ(Rig::FramesOf(x_, r_.Talk(p2, PeerCall())), 0u);
  EXPECT_EQ(Rig::FramesOf(x_, r_.Talk(p0, PeerCall())), FramesOfCall(1));
  EXPECT_TRUE(r_.hub().running());
  const nlohmann::json status = r_.CtlStatus();
  ASSERT_TRUE(status.is_object());
  ASSERT_EQ(status["peers"].size(), 3u);
  EXPECT_TRUE(status["peers"][0].value("served", false));
  EXPECT_FALSE(status["peers"][2].value("served", true));
}

}  // namespace
}  // namespace dmrswitch::e2e
