// The feeds' encodings, decoded by Python itself: the pickle protocol 2 encoder, netstrings,
// the HBlink/FreeDMR CONFIG/BRIDGES/BRDG_EVENT messages in the shapes HBmonitor and
// FDMR-Monitor read, and HBlink3 v3's NDJSON events.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "ctrlplane/report/hblink3_json_feed.h"
#include "ctrlplane/report/hblink_feed.h"
#include "ctrlplane/report/pickle.h"
#include "tests/report/python_decoder.h"
#include "tests/report/sample_model.h"
#include "tests/report/test_support.h"

namespace dmrswitch::cp::report {
namespace {

using namespace testing;  // NOLINT

// Decodes one pickle with Python; returns the typed value.
json PythonLoads(const std::string& pickle) {
  TempDir dir;
  WriteFile(dir.File("p"), pickle);
  bool ok = false;
  std::string raw;
  auto lines = Decode({"pickle", dir.File("p")}, &ok, &raw);
  EXPECT_TRUE(ok) << raw;
  EXPECT_EQ(lines.size(), 1u) << raw;
  return lines.empty() ? json() : lines[0];
}

TEST(Pickle, EveryTypeLoadsInPythonAsWritten) {
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  std::string big(13, '\0');  // 2**100: bit 100 set, little-endian, positive
  big[12] = 0x10;
  PyValue list = PyValue::List();
  for (int64_t v :
       {0LL, 255LL, 256LL, 65535LL, 65536LL, -1LL, -2147483648LL, 2147483647LL, 2147483648LL,
        -2147483649LL, 9223372036854775807LL, -9223372036854775807LL - 1}) {
    list.Append(PyValue::Int(v));
  }
  list.Append(PyValue::UInt(18446744073709551615ULL));
  list.Append(PyValue::BigInt(big));
  PyValue dict = PyValue::Dict();
  dict.Set("none", PyValue::None());
  dict.Set("true", PyValue::Bool(true));
  dict.Set("false", PyValue::Bool(false));
  dict.Set("ints", std::move(list));
  dict.Set("float", PyValue::Float(0.1));
  dict.Set("neg_float", PyValue::Float(-1.5e300));
  dict.Set("str", PyValue::Str("Grüße ✓ 73"));
  dict.Set("bad_utf8", PyValue::Str(std::string("a\xff\xc0\x80z")));
  dict.Set("empty_bytes", PyValue::Bytes(""));
  dict.Set("all_bytes", PyValue::Bytes(all_bytes));
  dict.Set(PyValue::Bytes(BigEndian(3100001, 4)), PyValue::Str("bytes key"));
  dict.Set(PyValue::Int(2), PyValue::Str("int key"));
  dict.Set("tuples",
           PyValue::List({PyValue::Tuple(), PyValue::Tuple({PyValue::Int(1)}),
                          PyValue::Tuple({PyValue::Int(1), PyValue::Int(2)}),
                          PyValue::Tuple({PyValue::Int(1), PyValue::Int(2), PyValue::Int(3)}),
                          PyValue::Tuple({PyValue::Int(1), PyValue::Int(2), PyValue::Int(3),
                                          PyValue::Str("four"), PyValue::None()})}));
  dict.Set("empty", PyValue::List({PyValue::List(), PyValue::Dict()}));

  json v = PythonLoads(EncodePickle(dict));
  EXPECT_EQ(Get(v, "none"), json());
  EXPECT_EQ(Get(v, "true"), true);
  EXPECT_EQ(Get(v, "false"), false);
  json expected_ints = {{"list",
                         {PyInt(0),
                          PyInt(255),
                          PyInt(256),
                          PyInt(65535),
                          PyInt(65536),
                          PyInt(-1),
                          PyInt(-2147483648LL),
                          PyInt(2147483647LL),
                          PyInt(2147483648LL),
                          PyInt(-2147483649LL),
                          PyInt(9223372036854775807LL),
                          PyInt(-9223372036854775807LL - 1),
                          {{"int", "18446744073709551615"}},
                          {{"int", "1267650600228229401496703205376"}}}}};
  EXPECT_EQ(Get(v, "ints"), expected_ints);
  EXPECT_EQ(Get(v, "float"), json({{"float", "0.1"}}));
  EXPECT_EQ(Get(v, "neg_float"), json({{"float", "-1.5e+300"}}));
  EXPECT_EQ(Get(v, "str"), PyStr("Grüße ✓ 73"));
  EXPECT_EQ(Get(v, "bad_utf8"), PyStr("a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDz"));
  EXPECT_EQ(Get(v, "empty_bytes"), PyBytes(""));
  EXPECT_EQ(Get(v, "all_bytes"), PyBytes(all_bytes));
  EXPECT_EQ(GetKey(v, PyBytes(BigEndian(3100001, 4))), PyStr("bytes key"));
  EXPECT_EQ(GetKey(v, PyInt(2)), PyStr("int key"));
  json tuples = Get(v, "tuples");
  ASSERT_EQ(tuples["list"].size(), 5u);
  EXPECT_EQ(tuples["list"][0], json({{"tuple", json::array()}}));
  EXPECT_EQ(tuples["list"][2], json({{"tuple", {PyInt(1), PyInt(2)}}}));
  EXPECT_EQ(tuples["list"][4]["tuple"][3], PyStr("four"));
  EXPECT_EQ(tuples["list"][4]["tuple"][4], json());
  EXPECT_EQ(Get(v, "empty"),
            json({{"list", {{{"list", json::array()}}, {{"dict", json::array()}}}}}));
}

TEST(Pickle, RepeatedKeysAreMemoizedAndLoadBack) {
  PyValue outer = PyValue::Dict();
  for (int i = 0; i < 300; ++i) {  // more than 256 memo entries: long memo indices too
    PyValue inner = PyValue::Dict();
    inner.Set("CALLSIGN", PyValue::Bytes("N0CALL"));
    inner.Set("key" + std::to_string(i), PyValue::Bytes(""));
    outer.Set(PyValue::Key("system" + std::to_string(i)), std::move(inner));
  }
  std::string pickle = EncodePickle(outer);
  // "CALLSIGN" is written once, then referred to.
  EXPECT_EQ(pickle.find("CALLSIGN"), pickle.rfind("CALLSIGN"));
  json v = PythonLoads(pickle);
  ASSERT_EQ(v["dict"].size(), 300u);
  json last = Get(v, "system299");
  EXPECT_EQ(Get(last, "CALLSIGN"), PyBytes("N0CALL"));
  EXPECT_EQ(Get(last, "key299"), PyBytes(""));
}

TEST(Pickle, DictSizeIsTheSumOfItsPairs) {
  PyValue d = PyValue::Dict();
  size_t pairs = 0;
  for (int i = 0; i < 50; ++i) {
    std::string name = "k";
    name += std::to_string(i);
    PyValue key = PyValue::Str(name);
    PyValue value = PyValue::List({PyValue::Int(i * 1000), PyValue::Str("xyz")});
    pairs += EncodedPairSize(key, value);
    d.Set(std::move(key), std::move(value));
  }
  EXPECT_EQ(EncodePickle(d).size(), pairs + kPickleDictOverhead);
}

TEST(Netstring, RoundTripAndTwistedLimits) {
  std::string stream = EncodeNetstring("hello") + EncodeNetstring("") + EncodeNetstring("a,b:c");
  EXPECT_EQ(stream, "5:hello,0:,5:a,b:c,");
  NetstringReader reader;
  std::vector<std::string> got;
  // Byte by byte, as TCP may deliver it.
  for (char c : stream) ASSERT_TRUE(reader.Feed(std::string_view(&c, 1), &got));
  EXPECT_EQ(got, (std::vector<std::string>{"hello", "", "a,b:c"}));

  NetstringReader limited(99999);
  got.clear();
  EXPECT_TRUE(limited.Feed(EncodeNetstring(std::string(99999, 'x')), &got));
  EXPECT_EQ(got.size(), 1u);
  EXPECT_FALSE(limited.Feed(EncodeNetstring(std::string(100000, 'x')), &got));
  NetstringReader garbage;
  EXPECT_FALSE(garbage.Feed("12a:", &got));
  NetstringReader unterminated;
  EXPECT_FALSE(unterminated.Feed("3:abc;", &got));
}

std::unique_ptr<HblinkFeedFormat> MakeFeed(HblinkFeedOptions options = {}) {
  auto feed = HblinkFeedFormat::Create(std::move(options));
  EXPECT_TRUE(feed.ok()) << feed.status();
  return std::move(feed).value();
}

// Decodes framed messages (netstrings of opcode + payload) with Python.
std::vector<json> PythonMessages(const std::vector<std::string>& framed) {
  TempDir dir;
  std::string all;
  for (const std::string& m : framed) all += m;
  WriteFile(dir.File("feed"), all);
  bool ok = false;
  std::string raw;
  auto lines = Decode({"netstrings", dir.File("feed")}, &ok, &raw);
  EXPECT_TRUE(ok) << raw;
  return lines;
}

TEST(HblinkFeed, ConfigHasTheShapesTheDashboardsRead) {
  auto feed = MakeFeed();
  auto state = SampleState(3);
  feed->UpdateState(*state);
  std::vector<std::string> framed;
  feed->Snapshot(*state, kSampleNow, &framed);
  ASSERT_EQ(framed.size(), 2u);
  auto messages = PythonMessages(framed);
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0]["opcode"], 1);  // CONFIG_SND
  EXPECT_EQ(messages[1]["opcode"], 3);  // BRIDGE_SND
  const json& config = messages[0]["value"];

  // A fixed set of systems: HBP-001..HBP-100, then the OpenBridge peers.
  ASSERT_EQ(config["dict"].size(), 102u);
  EXPECT_EQ(config["dict"][0][0], PyStr("HBP-001"));
  EXPECT_EQ(config["dict"][99][0], PyStr("HBP-100"));
  for (const json& kv : config["dict"]) {
    EXPECT_EQ(Get(kv[1], "ENABLED"), true);
  }

  // Client 3100001 is in HBP-001 as HBlink keeps a peer after RPTC.
  EXPECT_EQ(feed->SystemOf(3100001), "HBP-001");
  json system = Get(config, "HBP-001");
  EXPECT_EQ(Get(system, "MODE"), PyStr("MASTER"));
  EXPECT_EQ(Get(system, "REPEAT"), true);
  EXPECT_EQ(Get(system, "TS1_STATIC"), PyStr("91"));
  EXPECT_EQ(Get(system, "TS2_STATIC"), PyStr("3100"));
  EXPECT_EQ(Get(system, "_default_options"), PyStr("TS1_STATIC=91;TS2_STATIC=3100,31000"));
  json peers = Get(system, "PEERS");
  ASSERT_EQ(peers["dict"].size(), 1u);
  EXPECT_EQ(peers["dict"][0][0], PyBytes(BigEndian(3100001, 4)));  // int_id() reads it back
  json peer = peers["dict"][0][1];
  ClientView c = SampleClient(3100001);
  EXPECT_EQ(Get(peer, "CONNECTION"), PyStr("YES"));
  EXPECT_DOUBLE_EQ(PyFloat(Get(peer, "CONNECTED")), c.logged_in_unix_ns / 1e9);
  EXPECT_DOUBLE_EQ(PyFloat(Get(peer, "LAST_PING")), c.last_ping_unix_ns / 1e9);
  EXPECT_EQ(Get(peer, "PINGS_RECEIVED"), PyInt(720));
  EXPECT_EQ(Get(peer, "IP"), PyStr(c.address));
  EXPECT_EQ(Get(peer, "PORT"), PyInt(c.port));
  EXPECT_EQ(Get(peer, "RADIO_ID"), PyStr("3100001"));
  EXPECT_EQ(Get(peer, "CALLSIGN"), PyBytes(c.callsign));
  EXPECT_EQ(Get(peer, "RX_FREQ"), PyBytes("438800000"));
  EXPECT_EQ(Get(peer, "TX_FREQ"), PyBytes("431200000"));
  EXPECT_EQ(Get(peer, "COLORCODE"), PyBytes("01"));
  EXPECT_EQ(Get(peer, "SLOTS"), PyBytes("3"));
  EXPECT_EQ(Get(peer, "LOCATION"), PyBytes("Springfield"));
  EXPECT_EQ(Get(peer, "DESCRIPTION"), PyBytes("hotspot"));
  EXPECT_EQ(Get(peer, "URL"), PyBytes(c.url));
  EXPECT_EQ(Get(peer, "SOFTWARE_ID"), PyBytes("20230101_Pi-Star"));
  EXPECT_EQ(Get(peer, "PACKAGE_ID"), PyBytes("MMDVM_MMDVM_HS_Hat"));

  // An unused system has no peers and no statics (False, as FDMR-Monitor expects).
  json unused = Get(config, "HBP-050");
  EXPECT_EQ(Get(unused, "PEERS"), json({{"dict", json::array()}}));
  EXPECT_EQ(Get(unused, "TS1_STATIC"), false);

  json obp = Get(config, "OBP-US");
  EXPECT_EQ(Get(obp, "MODE"), PyStr("OPENBRIDGE"));
  EXPECT_EQ(Get(obp, "NETWORK_ID"), PyBytes(BigEndian(310999, 4)));
  EXPECT_EQ(Get(obp, "TARGET_IP"), PyStr("198.19.0.2"));
  EXPECT_EQ(Get(obp, "TARGET_PORT"), PyInt(62044));
  EXPECT_EQ(Get(Get(config, "FBP-EU"), "VER"), PyInt(5));

  // Bridges: named by TG; members with 3-byte TGIDs, static ones without timer.
  const json& bridges = messages[1]["value"];
  json tg91 = Get(bridges, "91");
  ASSERT_EQ(tg91["list"].size(), 3u);  // three clients have TG 91 static on TS1
  json entry = tg91["list"][0];
  EXPECT_EQ(Get(entry, "SYSTEM"), PyStr("HBP-001"));
  EXPECT_EQ(Get(entry, "TS"), PyInt(1));
  EXPECT_EQ(Get(entry, "TGID"), PyBytes(BigEndian(91, 3)));
  EXPECT_EQ(Get(entry, "ACTIVE"), true);
  EXPECT_EQ(Get(entry, "TO_TYPE"), PyStr("NONE"));
  EXPECT_EQ(Get(entry, "ON"), json({{"list", json::array()}}));
  json dynamic = Get(bridges, "9991")["list"][0];  // client 3100001: 9990 + 3100001 % 5
  EXPECT_EQ(Get(dynamic, "TO_TYPE"), PyStr("ON"));
  EXPECT_EQ(Get(dynamic, "TIMEOUT"), PyInt(900));
  EXPECT_DOUBLE_EQ(PyFloat(Get(dynamic, "TIMER")), (kSampleNow + 600 * kSecNs) / 1e9);
}

// Single mode has switched off client 3100001's static 3100 for two minutes: its bridge member
// is inactive and bridge.py's own OFF timer says when it comes back; the other client's is not.
TEST(HblinkFeed, AStaticThatSingleModeSwitchedOffIsInactiveUntilItsTimer) {
  auto feed = MakeFeed();
  auto state = std::make_shared<HubState>(*SampleState(2));
  TalkgroupSubscription& off = state->clients[0].talkgroups[1];
  ASSERT_EQ(off.tg, 3100u);
  off.suspended = true;
  off.suspended_until_unix_ns = kSampleNow + 120 * kSecNs;
  feed->UpdateState(*state);
  std::vector<std::string> framed;
  feed->Snapshot(*state, kSampleNow, &framed);
  auto messages = PythonMessages(framed);
  ASSERT_EQ(messages.size(), 2u);
  json tg3100 = Get(messages[1]["value"], "3100");
  ASSERT_EQ(tg3100["list"].size(), 2u);
  json suspended = tg3100["list"][0];
  EXPECT_EQ(Get(suspended, "SYSTEM"), PyStr("HBP-001"));
  EXPECT_EQ(Get(suspended, "ACTIVE"), false);
  EXPECT_EQ(Get(suspended, "TO_TYPE"), PyStr("OFF"));
  EXPECT_DOUBLE_EQ(PyFloat(Get(suspended, "TIMER")), (kSampleNow + 120 * kSecNs) / 1e9);
  json on = tg3100["list"][1];
  EXPECT_EQ(Get(on, "SYSTEM"), PyStr("HBP-002"));
  EXPECT_EQ(Get(on, "ACTIVE"), true);
  EXPECT_EQ(Get(on, "TO_TYPE"), PyStr("NONE"));
}

// SINGLE_MODE and GROUP_HANGTIME are the hub's as it runs: a client's own SINGLE= shows on its
// system, the hub's default on the empty ones.
TEST(HblinkFeed, SingleModeIsTheClientsAndHangTimeTheHubs) {
  auto feed = MakeFeed();
  auto state = std::make_shared<HubState>(*SampleState(2));
  state->hub.single_mode = false;
  state->hub.group_hangtime_s = 7;
  state->clients[0].single_mode = true;  // SINGLE=1 against the hub's default
  state->clients[1].single_mode = false;
  feed->UpdateState(*state);
  std::vector<std::string> framed;
  feed->Snapshot(*state, kSampleNow, &framed);
  auto messages = PythonMessages(framed);
  ASSERT_EQ(messages.size(), 2u);
  const json& config = messages[0]["value"];
  EXPECT_EQ(Get(Get(config, "HBP-001"), "SINGLE_MODE"), true);
  EXPECT_EQ(Get(Get(config, "HBP-002"), "SINGLE_MODE"), false);
  EXPECT_EQ(Get(Get(config, "HBP-050"), "SINGLE_MODE"), false) << "nobody there: the default";
  EXPECT_EQ(Get(Get(config, "HBP-001"), "GROUP_HANGTIME"), PyInt(7));
}

TEST(HblinkFeed, NoSecretEverAppears) {
  auto feed = MakeFeed();
  auto state = SampleState(5);
  feed->UpdateState(*state);
  std::vector<std::string> framed;
  feed->Snapshot(*state, kSampleNow, &framed);
  for (const json& m : PythonMessages(framed)) {
    std::vector<std::string> text;
    CollectText(m["value"], &text);
    for (const std::string& t : text) {
      for (const char* secret : {"PASSPHRASE", "SALT", "KEY", "PASSWORD", "TOKEN", "SECRET"}) {
        EXPECT_EQ(t.find(secret), std::string::npos) << t;
      }
    }
  }
}

TEST(HblinkFeed, BridgeEventsAreTheCsvLinesHblinkSends) {
  auto feed = MakeFeed();
  auto state = SampleState(3);
  feed->UpdateState(*state);
  std::vector<std::string> framed;
  feed->Event(ReportEvent(SampleCall(0xdeadbeef, false)), &framed);
  feed->Event(ReportEvent(SampleCall(0xdeadbeef, true)), &framed);
  CallRecord from_peer = SampleCall(77, true);
  from_peer.source = CallSource{CallSource::Kind::kPeer, 0, "", "OBP-US", 310999};
  from_peer.type = CallType::kPrivateVoice;
  from_peer.destination_clients.clear();
  feed->Event(ReportEvent(from_peer), &framed);
  CallRecord data = SampleCall(78, false);
  data.type = CallType::kUnitData;
  feed->Event(ReportEvent(data), &framed);
  data.type = CallType::kGroupData;
  feed->Event(ReportEvent(data), &framed);  // not reported on this feed

  auto messages = PythonMessages(framed);
  std::vector<std::string> lines;
  for (const json& m : messages) {
    EXPECT_EQ(m["opcode"], 7);  // BRDG_EVENT
    lines.push_back(m["text"]);
  }
  EXPECT_EQ(lines, (std::vector<std::string>{
                       "GROUP VOICE,START,RX,HBP-001,3735928559,3100001,3112345,2,3100",
                       "GROUP VOICE,START,TX,HBP-002,3735928559,3100001,3112345,2,3100",
                       "GROUP VOICE,START,TX,HBP-003,3735928559,3100001,3112345,2,3100",
                       "GROUP VOICE,END,RX,HBP-001,3735928559,3100001,3112345,2,3100,4.50",
                       "GROUP VOICE,END,TX,HBP-002,3735928559,3100001,3112345,2,3100,4.50",
                       "GROUP VOICE,END,TX,HBP-003,3735928559,3100001,3112345,2,3100,4.50",
                       "UNIT VOICE,END,RX,OBP-US,77,310999,3112345,2,3100,4.50",
                       "UNIT DATA HEADER,DATA,RX,HBP-001,78,3100001,3112345,2,3100",
                   }));
}

TEST(HblinkFeed, SystemsAreStableAndReused) {
  auto feed = MakeFeed({.systems = 3});
  auto state = std::make_shared<HubState>(*SampleState(3));
  feed->UpdateState(*state);
  EXPECT_EQ(feed->SystemOf(3100002), "HBP-2");
  // 3100001 logs out, 3100009 logs in: it takes the freed system, the others keep theirs.
  state->clients.erase(state->clients.begin());
  state->clients.push_back(SampleClient(3100009));
  feed->UpdateState(*state);
  EXPECT_EQ(feed->SystemOf(3100001), "");
  EXPECT_EQ(feed->SystemOf(3100002), "HBP-2");
  EXPECT_EQ(feed->SystemOf(3100003), "HBP-3");
  EXPECT_EQ(feed->SystemOf(3100009), "HBP-1");
  // A fourth client finds no system: counted, and its calls name a system no table has.
  state->clients.push_back(SampleClient(3100010));
  feed->UpdateState(*state);
  EXPECT_EQ(feed->SystemOf(3100010), "");
  EXPECT_EQ(feed->clients_without_system(), 1u);
}

// A stock HBmonitor drops any netstring over 99,999 bytes. Document what fits (docs/reporting.md):
// typical hotspots, 200 systems: all shown; 300: some trimmed; every RPTC field at its longest:
// the default 100 systems still hold every client.
TEST(HblinkFeed, SnapshotsStayWithinTheStockDashboardLimit) {
  for (size_t systems : {100, 200, 300}) {
    auto feed = MakeFeed({.systems = systems});
    auto state = SampleState(static_cast<int>(systems));
    feed->UpdateState(*state);
    std::vector<std::string> framed;
    feed->Snapshot(*state, kSampleNow, &framed);
    ASSERT_EQ(framed.size(), 2u);
    auto messages = PythonMessages(framed);  // the reader enforces MAX_LENGTH 99999
    ASSERT_EQ(messages.size(), 2u);
    size_t shown = 0;
    for (const json& kv : messages[0]["value"]["dict"]) {
      json peers = Get(kv[1], "PEERS");
      if (peers.is_object()) shown += peers["dict"].size();
    }
    EXPECT_EQ(shown + feed->clients_trimmed(), systems);
    EXPECT_LE(messages[0]["size"].get<size_t>(), 99999u);
    EXPECT_LE(messages[1]["size"].get<size_t>(), 99999u);
    std::printf(
        "systems=%zu: %zu clients shown, %zu trimmed; CONFIG_SND %zu bytes, "
        "BRIDGE_SND %zu bytes, %zu bridge entries trimmed\n",
        systems, shown, static_cast<size_t>(feed->clients_trimmed()),
        messages[0]["size"].get<size_t>(), messages[1]["size"].get<size_t>(),
        static_cast<size_t>(feed->bridge_entries_trimmed()));
    if (systems <= 200) {
      EXPECT_EQ(shown, systems);
    } else {
      EXPECT_GT(feed->clients_trimmed(), 0u);
    }
  }
  {
    auto feed = MakeFeed();
    auto state = std::make_shared<HubState>(*SampleState(100));
    for (ClientView& c : state->clients) {  // RPTC's field widths, all used
      c.callsign = std::string(8, 'C');
      c.location = std::string(20, 'L');
      c.description = std::string(19, 'D');
      c.url = std::string(124, 'U');
      c.software_id = std::string(40, 'S');
      c.package_id = std::string(40, 'P');
    }
    feed->UpdateState(*state);
    std::vector<std::string> framed;
    feed->Snapshot(*state, kSampleNow, &framed);
    ASSERT_EQ(framed.size(), 2u);
    EXPECT_LE(framed[0].size(), 99999u + 7);
    std::printf("longest RPTC fields, 100 systems: %zu trimmed, CONFIG_SND netstring %zu bytes\n",
                static_cast<size_t>(feed->clients_trimmed()), framed[0].size());
    EXPECT_EQ(feed->clients_trimmed(), 0u);
  }
  // Too many systems to fit even empty: refused with a message that says what to change.
  auto refused = HblinkFeedFormat::Create({.systems = 2000});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("fewer systems"), std::string::npos);
}

TEST(Hblink3JsonFeed, SnapshotAndEventsAreV3Lines) {
  Hblink3JsonFeedFormat feed;
  auto state = SampleState(2);
  std::vector<std::string> lines;
  feed.Snapshot(*state, kSampleNow, &lines);
  ASSERT_EQ(lines.size(), 2u);
  json config = json::parse(lines[0]);
  EXPECT_EQ(config["type"], "config");
  EXPECT_EQ(config["ping_time"], 5);
  EXPECT_EQ(config["report_interval"], 10);
  const json& server = config["systems"]["HBP"];
  EXPECT_EQ(server["MODE"], "SERVER");
  const json& r = server["REPEATERS"]["3100001"];
  EXPECT_EQ(r["RADIO_ID"], 3100001);
  EXPECT_EQ(r["CALLSIGN"], SampleClient(3100001).callsign);
  EXPECT_EQ(r["CONNECTION"], "YES");
  EXPECT_EQ(r["RX_FREQ"], "438800000");
  EXPECT_EQ(r["SLOTS"], "3");
  EXPECT_DOUBLE_EQ(r["CONNECTED"].get<double>(), SampleClient(1).logged_in_unix_ns / 1e9);
  EXPECT_EQ(config["systems"]["OBP-US"]["MODE"], "OPENBRIDGE");
  EXPECT_EQ(config["systems"]["OBP-US"]["NETWORK_ID"], 310999);
  json bridges = json::parse(lines[1]);
  EXPECT_EQ(bridges["type"], "bridges");
  EXPECT_EQ(bridges["bridges"]["91"][0]["SYSTEM"], "HBP");
  EXPECT_EQ(bridges["bridges"]["91"][0]["TS"], 1);
  EXPECT_EQ(bridges["bridges"]["91"][0]["TGID"], 91);
  EXPECT_EQ(bridges["bridges"]["91"][0]["TO_TYPE"], "NONE");
  EXPECT_EQ(bridges["bridges"]["9991"][0]["TO_TYPE"], "ON");
  for (const std::string& l : lines) EXPECT_EQ(l.back(), '\n');

  std::vector<std::string> events;
  feed.Event(ReportEvent(SampleCall(42, false)), &events);
  feed.Event(ReportEvent(SampleCall(42, true)), &events);
  ClientEvent login{ClientEvent::Kind::kLogin,
                    3100007,
                    "N0NEW",
                    "",
                    kSampleNow,
                    std::make_shared<ClientView>(SampleClient(3100007))};
  feed.Event(ReportEvent(login), &events);
  ClientEvent lost{ClientEvent::Kind::kLost, 3100007,    "N0NEW",
                   "keepalive_timeout",      kSampleNow, nullptr};
  feed.Event(ReportEvent(lost), &events);
  ASSERT_EQ(events.size(), 4u);
  json start = json::parse(events[0]);
  EXPECT_EQ(start["type"], "stream_start");
  EXPECT_EQ(start["call_type"], "GROUP VOICE");
  EXPECT_EQ(start["action"], "START");
  EXPECT_EQ(start["trx"], "RX");
  EXPECT_EQ(start["system"], "HBP");
  EXPECT_EQ(start["stream_id"], 42);
  EXPECT_EQ(start["peer"], 3100001);
  EXPECT_EQ(start["src"], 3112345);
  EXPECT_EQ(start["slot"], 2);
  EXPECT_EQ(start["dst"], 3100);
  EXPECT_FALSE(start.contains("duration"));
  json end = json::parse(events[1]);
  EXPECT_EQ(end["type"], "stream_end");
  EXPECT_DOUBLE_EQ(end["duration"].get<double>(), 4.5);
  EXPECT_EQ(end["dmrswitch"]["frames_lost"], 2);
  EXPECT_EQ(end["dmrswitch"]["end_reason"], "terminator");
  EXPECT_DOUBLE_EQ(end["dmrswitch"]["jitter_ms"].get<double>(), 4.25);
  json connected = json::parse(events[2]);
  EXPECT_EQ(connected["type"], "repeater_connected");
  EXPECT_EQ(connected["radio_id"], 3100007);
  EXPECT_EQ(connected["info"]["RADIO_ID"], 3100007);
  json disconnected = json::parse(events[3]);
  EXPECT_EQ(disconnected["type"], "repeater_disconnected");
  EXPECT_EQ(disconnected["system"], "HBP");
}

// The one SERVER member of a TG and slot is active while any client's membership is; when
// single mode has switched off every client's static, it is inactive until the first comes back.
TEST(Hblink3JsonFeed, TheServerMemberIsInactiveOnlyWhileEveryClientsStaticIsSuspended) {
  Hblink3JsonFeedFormat feed;
  auto state = std::make_shared<HubState>(*SampleState(3));
  const auto member_3100 = [&] {
    std::vector<std::string> lines;
    feed.Snapshot(*state, kSampleNow, &lines);
    EXPECT_EQ(lines.size(), 2u);
    const json members = json::parse(lines.at(1))["bridges"]["3100"];
    EXPECT_EQ(members.size(), 1u);
    return members.at(0);
  };
  const int64_t until[] = {kSampleNow + 300 * kSecNs, kSampleNow + 60 * kSecNs, 0};
  for (int i : {0, 1}) {
    TalkgroupSubscription& t = state->clients[i].talkgroups[1];
    ASSERT_EQ(t.tg, 3100u);
    t.suspended = true;
    t.suspended_until_unix_ns = until[i];
  }
  json m = member_3100();
  EXPECT_EQ(m["ACTIVE"], true) << "client 3 still has 3100";
  EXPECT_EQ(m["TO_TYPE"], "NONE");

  state->clients[2].talkgroups[1].suspended = true;  // no timer: comes back last
  m = member_3100();
  EXPECT_EQ(m["ACTIVE"], false);
  EXPECT_EQ(m["TO_TYPE"], "OFF");
  EXPECT_DOUBLE_EQ(m["TIMER"].get<double>(), until[1] / 1e9) << "the first to come back";
}

TEST(Hblink3JsonFeed, LongConfigsArePagedIntoRepeaterEvents) {
  Hblink3JsonFeedFormat feed({.max_line = 4000});
  auto state = SampleState(40);
  std::vector<std::string> lines;
  feed.Snapshot(*state, kSampleNow, &lines);
  std::set<int> seen;
  for (const std::string& l : lines) {
    EXPECT_LE(l.size(), 4000u);
    json j = json::parse(l);
    if (j["type"] == "config") {
      for (auto& [id, r] : j["systems"]["HBP"]["REPEATERS"].items()) seen.insert(std::stoi(id));
    } else if (j["type"] == "repeater_connected") {
      seen.insert(j["radio_id"].get<int>());
    }
  }
  EXPECT_EQ(seen.size(), 40u);
  EXPECT_GT(feed.repeaters_paged(), 0u);
}

}  // namespace
}  // namespace dmrswitch::cp::report
