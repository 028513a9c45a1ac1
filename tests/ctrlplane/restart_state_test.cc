// RestartState: everything a restarted control plane continues from survives the encoding, and
// damaged or foreign bytes are refused with a status rather than misread.

#include "ctrlplane/restart_state.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace dmrswitch::cp {
namespace {

// GCC 12 at -O3 reports a bogus overlap in std::string's assignment from a literal (GCC PR
// 105329); the test data is plain.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wrestrict"
RestartState Sample() {
  RestartState s;
  ClientRecord c;
  c.id = 3120001;
  c.slot = 7;
  c.addr = {0x7F000001, 40001};
  c.slots = '2';
  c.slot_mask = 2;
  c.callsign = "N0CALL";
  c.rx_freq = "434000000";
  c.tx_freq = "439000000";
  c.tx_power = "25";
  c.color_code = "1";
  c.latitude = "50.0000";
  c.longitude = "-1.0000";
  c.height = "10";
  c.location = "Somewhere";
  c.description = "A hotspot";
  c.url = "https://example.org";
  c.software_id = "20230101";
  c.package_id = "MMDVM";
  c.options = "TS2=3100;DIAL=0";
  c.logged_in_at = 123456789;
  c.side.alias_rf_src = 3120001;
  c.side.alias[0] = 'A';
  c.side.alias_blocks = 3;
  c.side.gps[6] = 9;
  c.side.home_latitude = "+50.0000";
  s.clients.push_back(c);
  ClientRecord fixed;
  fixed.id = 3129001;
  fixed.fixed = true;
  s.clients.push_back(fixed);

  RestoredClient r;
  r.id = 3120001;
  r.slot = 7;
  r.slot_mask = 2;
  r.options = "TS2=3100";
  r.members = {{1, 3100, 0}, {1, 91, 987654321}};
  r.dial_tg = 2350;
  r.dial_expires_at = 555;
  r.default_unlinked = true;
  r.suspension[1] = {777, 91};
  s.subscriptions.push_back(r);
  s.heard = {{2345678, route::SystemRef::Client(7), 1, 42},
             {2341999, route::SystemRef::Peer(2), 0, 43}};  // heard from an FBP peer
  s.streams_started = 99;
  return s;
}
#pragma GCC diagnostic pop

TEST(RestartStateTest, AClientRecordRoundTripsEveryField) {
  const RestartState in = Sample();
  ASSERT_FALSE(in.clients.empty());
  auto out = DecodeClientRestart(EncodeClientRestart(in.clients[0], in.subscriptions[0]));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->first, in.clients[0]);
  EXPECT_EQ(out->second, in.subscriptions[0]);
}

TEST(RestartStateTest, TheHubRecordRoundTrips) {
  auto out = DecodeHubRestart(EncodeHubRestart(123456789012345ull));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, 123456789012345ull);
}

// What a restarted control plane reads back from a published snapshot: each client's record
// from its chunk, the subscriber locations with their age, the hub-wide part from the root.
TEST(RestartStateTest, ReadFromASnapshot) {
  RestartState in = Sample();
  RestoredClient fixed_subs;  // every logged-in client has a record of both kinds
  fixed_subs.id = in.clients[1].id;
  fixed_subs.slot = in.clients[1].slot;
  in.subscriptions.push_back(fixed_subs);
  ASSERT_EQ(in.clients.size(), in.subscriptions.size());
  route::RouteSnapshotBuilder b(route::HubPolicy{}, 16);
  for (size_t i = 0; i < in.clients.size(); ++i) {
    const ClientRecord& c = in.clients[i];
    ASSERT_TRUE(b.SetClient(c.slot, c.Spec()).ok());
    b.SetClientRestart(c.slot, EncodeClientRestart(c, in.subscriptions[i]));
  }
  for (const HeardSubscriber& h : in.heard) b.AddSubscriberLocation(h.rf_src, h.where, h.ts, h.at);
  b.SetControlState(EncodeHubRestart(in.streams_started));
  auto snap = b.Build(1);
  ASSERT_TRUE(snap.ok()) << snap.status();
  auto out = ReadRestartState(**snap);
  ASSERT_TRUE(out.ok()) << out.status();
  // Read back in slot order.
  std::sort(out->clients.begin(), out->clients.end(),
            [](const ClientRecord& a, const ClientRecord& b) { return a.id < b.id; });
  std::sort(out->subscriptions.begin(), out->subscriptions.end(),
            [](const RestoredClient& a, const RestoredClient& b) { return a.id < b.id; });
  EXPECT_EQ(out->clients, in.clients);
  EXPECT_EQ(out->subscriptions, in.subscriptions);
  auto heard = out->heard;
  auto want = in.heard;
  const auto by_rf_src = [](const HeardSubscriber& a, const HeardSubscriber& b) {
    return a.rf_src < b.rf_src;
  };
  std::sort(heard.begin(), heard.end(), by_rf_src);
  std::sort(want.begin(), want.end(), by_rf_src);
  EXPECT_EQ(heard, want);
  EXPECT_EQ(out->streams_started, in.streams_started);
}

TEST(RestartStateTest, RefusesNothingGarbageTruncatedAndForeignFormats) {
  EXPECT_EQ(DecodeClientRestart({}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(DecodeHubRestart({}).status().code(), absl::StatusCode::kNotFound);
  const std::vector<uint8_t> garbage = {0xC1, 0x00, 0xFF};
  EXPECT_EQ(DecodeClientRestart(garbage).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeHubRestart(garbage).status().code(), absl::StatusCode::kDataLoss);
  const RestartState sample = Sample();
  std::vector<uint8_t> bytes = EncodeClientRestart(sample.clients[0], sample.subscriptions[0]);
  for (size_t cut : {size_t{1}, bytes.size() / 2, bytes.size() - 1}) {
    std::vector<uint8_t> truncated(bytes.begin(), bytes.begin() + static_cast<long>(cut));
    EXPECT_FALSE(DecodeClientRestart(truncated).ok()) << "cut at " << cut;
  }
  // {"format": 2} in MessagePack.
  const std::vector<uint8_t> future = {0x81, 0xA6, 'f', 'o', 'r', 'm', 'a', 't', 0x02};
  const auto st = DecodeHubRestart(future).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("format 2"), std::string::npos) << st;
}

// A record is input: a number that does not fit its field (a float, a negative, a too-large
// integer, the wrong type) is refused and named, never cast. fuzz_restart_state found the float
// case (a float-cast-overflow under UBSan).
TEST(RestartStateTest, RefusesAFieldOfTheWrongTypeOrOutOfRangeAndNamesIt) {
  using nlohmann::json;
  const RestartState sample = Sample();
  const json good =
      json::from_msgpack(EncodeClientRestart(sample.clients[0], sample.subscriptions[0]));
  struct Case {
    json::json_pointer where;
    json value;
    std::string field;
  };
  const std::vector<Case> cases = {
      {json::json_pointer("/client/id"), 1e300, "id"},
      {json::json_pointer("/client/id"), 3120001.0, "id"},
      {json::json_pointer("/client/id"), -1, "id"},
      {json::json_pointer("/client/id"), uint64_t{1} << 32, "id"},
      {json::json_pointer("/client/port"), 65536, "port"},
      {json::json_pointer("/client/slot_mask"), 256, "slot_mask"},
      {json::json_pointer("/client/logged_in_at"), -5, "logged_in_at"},
      {json::json_pointer("/client/fixed"), 1, "fixed"},
      {json::json_pointer("/client/callsign"), 7, "callsign"},
      {json::json_pointer("/client/side/alias"), json::array({1, 2}), "alias"},
      {json::json_pointer("/client/side/gps"), json::array({0, 0, 0, 0, 0, 0, 256}), "gps"},
      {json::json_pointer("/client/side/alias_time"), -1e300, "alias_time"},
      {json::json_pointer("/subscriptions/members/0/tg"), 1.5, "tg"},
      {json::json_pointer("/subscriptions/members/0/ts"), 300, "ts"},
      {json::json_pointer("/subscriptions/suspension/1/until"), "soon", "until"},
  };
  for (const Case& c : cases) {
    json bad = good;
    bad[c.where] = c.value;
    const auto st = DecodeClientRestart(json::to_msgpack(bad)).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << c.where << " = " << c.value;
    EXPECT_NE(st.message().find(c.field + ":"), std::string::npos) << st;
  }
  for (const json& streams : {json(1e300), json(-1), json(2.5), json("99")}) {
    const json hub = {{"format", 1}, {"streams_started", streams}};
    EXPECT_EQ(DecodeHubRestart(json::to_msgpack(hub)).status().code(), absl::StatusCode::kDataLoss)
        << streams;
  }
  const json float_format = {{"format", 1.0e10}, {"streams_started", 1}};
  EXPECT_FALSE(DecodeHubRestart(json::to_msgpack(float_format)).ok());
}

}  // namespace
}  // namespace dmrswitch::cp

namespace dmrswitch::cp {
namespace {

// The fuzz target's seeds (tests/fuzz/corpus/fuzz_restart_state) must be records the current
// encoding reads, or libFuzzer starts from bytes that are refused at the first check and the
// seeds are worth nothing. After a change of the encoding, write them again with
//   DMRSWITCH_WRITE_FUZZ_SEEDS=1 build/tests/ctrlplane/ctrlplane_restart_state_test
void WriteFile(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

TEST(RestartStateTest, TheFuzzSeedsAreRecordsOfTheCurrentEncoding) {
  const std::filesystem::path dir = DMRSWITCH_RESTART_SEEDS;
  if (std::getenv("DMRSWITCH_WRITE_FUZZ_SEEDS") != nullptr) {
    const RestartState s = Sample();
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    WriteFile(dir / "client_hotspot", EncodeClientRestart(s.clients[0], s.subscriptions[0]));
    WriteFile(dir / "client_fixed", EncodeClientRestart(s.clients[1], RestoredClient{}));
    WriteFile(dir / "hub", EncodeHubRestart(s.streams_started));
  }
  int clients = 0, hubs = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                     std::istreambuf_iterator<char>());
    const bool client = DecodeClientRestart(bytes).ok();
    const bool hub = DecodeHubRestart(bytes).ok();
    EXPECT_TRUE(client || hub) << entry.path() << " is neither a client nor a hub record";
    clients += client;
    hubs += hub;
  }
  EXPECT_GE(clients, 2);
  EXPECT_GE(hubs, 1);
}

}  // namespace
}  // namespace dmrswitch::cp
