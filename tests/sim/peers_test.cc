// The simulator's network endpoints over real loopback sockets: two OBP/FBP peers talking to each
// other (signing verified by the project's decoders on the receiving side), the HBP client's
// packets as a passive observer sees them on the wire (no hub logic is simulated here: logins are
// tested end to end against the real hub), and pacing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <vector>

#include "dataplane/proto/crypto.h"
#include "dataplane/proto/hbp.h"
#include "dataplane/proto/obp.h"
#include "tools/sim/hbp_client.h"
#include "tools/sim/obp_peer.h"
#include "tools/sim/udp.h"

namespace dmrswitch::sim {
namespace {

using ::testing::HasSubstr;

// Two free loopback ports (bound then released; the peers bind them again right away).
std::array<uint16_t, 2> FreePorts() {
  absl::StatusOr<UdpSocket> a = UdpSocket::Open({"127.0.0.1", 0});
  absl::StatusOr<UdpSocket> b = UdpSocket::Open({"127.0.0.1", 0});
  EXPECT_TRUE(a.ok() && b.ok());
  return {a->local().port, b->local().port};
}

std::vector<Pollable*> Both(ObpPeer& a, ObpPeer& b) { return {&a, &b}; }

TEST(ObpPeerTest, SignedFramesVerifyWithTheProjectDecoders) {
  ObpPeer v1({.mode = ObpMode::kObpV1, .network_id = 23450, .passphrase = "mypass"});
  ObpPeer v5({.mode = ObpMode::kFbpV5,
              .network_id = 23450,
              .passphrase = "mypass",
              .origin_repeater = 312000101,
              .hops = 2});
  const DmrdFrame frame = BuildVoiceCall({.tg = 91, .ts = 1, .rf_src = 3120001}, 23450)[1];
  const absl::Time now = absl::Now();

  const std::vector<uint8_t> p1 = v1.Sign(frame, now);
  ASSERT_EQ(p1.size(), proto::kObpV1Bytes);
  const std::array<uint8_t, 20> key = proto::ObpKeyFromPassphrase("mypass");
  const proto::HmacSha1 hmac({key.data(), key.size()});
  proto::DmrdView v;
  ASSERT_EQ(proto::DecodeObpV1(p1, hmac, &v), proto::Reject::kOk);
  EXPECT_EQ(v.dst, 91u);
  EXPECT_EQ(v.repeater_id, 23450u);

  const std::vector<uint8_t> p5 = v5.Sign(frame, now);
  ASSERT_EQ(p5.size(), proto::kDmreV5Bytes);
  const proto::Blake2bMac128 blake({key.data(), key.size()});
  proto::DmreView e;
  ASSERT_EQ(proto::DecodeDmre(p5, blake, &e), proto::Reject::kOk);
  EXPECT_EQ(e.version, 5);
  EXPECT_EQ(e.origin_server, 23450u);
  EXPECT_EQ(e.origin_repeater, 312000101u);
  EXPECT_EQ(e.hops, 2);
  EXPECT_EQ(e.timestamp_ns, static_cast<uint64_t>(absl::ToUnixNanos(now)));

  const std::array<uint8_t, 20> wrong = proto::ObpKeyFromPassphrase("other");
  EXPECT_EQ(proto::DecodeObpV1(p1, proto::HmacSha1({wrong.data(), wrong.size()}), &v),
            proto::Reject::kBadMac);
}

TEST(ObpPeerTest, FbpV5CallKeepalivesAndControlPacketsBetweenTwoPeers) {
  const auto [pa, pb] = FreePorts();
  ObpPeer a({.mode = ObpMode::kFbpV5,
             .network_id = 1001,
             .passphrase = "mypass",
             .hub = {"127.0.0.1", pb},
             .local = {"127.0.0.1", pa}});
  ObpPeer b({.mode = ObpMode::kFbpV5,
             .network_id = 2002,
             .passphrase = "mypass",
             .hub = {"127.0.0.1", pa},
             .local = {"127.0.0.1", pb}});
  ASSERT_TRUE(a.status().ok()) << a.status();
  ASSERT_TRUE(b.status().ok()) << b.status();

  const uint32_t stream = a.StartVoiceCall(
      {.tg = 3100, .ts = 1, .rf_src = 3120001, .superframes = 2, .cadence = absl::Milliseconds(5)});
  std::vector<Pollable*> both = Both(a, b);
  ASSERT_TRUE(PollUntil(
      both, [&] { return !a.transmitting(); }, absl::Seconds(5)));
  const std::vector<ReceivedCall> calls = b.Receive(absl::Seconds(2));
  ASSERT_EQ(calls.size(), 1u);
  const ReceivedCall& c = calls[0];
  EXPECT_EQ(c.stream_id, stream);
  EXPECT_TRUE(
      Verify(c, {.tg = 3100, .ts = 1, .rf_src = 3120001, .repeater_id = 1001, .frames = 14}).ok())
      << Verify(c, {}).message();
  ASSERT_TRUE(c.frames[0].dmre.has_value());
  EXPECT_EQ(c.frames[0].dmre->version, 5);
  EXPECT_EQ(c.frames[0].dmre->origin_server, 1001u);
  EXPECT_EQ(c.frames[0].dmre->hops, 1);
  EXPECT_LT(absl::FromUnixNanos(static_cast<int64_t>(c.frames[0].dmre->timestamp_ns)),
            c.frames[0].arrival + absl::Milliseconds(1));
  EXPECT_EQ(b.counters().dmre_rx, 14u);
  // Each side sent a BCKA at its first poll.
  EXPECT_GE(b.counters().bcka_rx, 1u);
  EXPECT_GE(a.counters().bcka_rx, 1u);

  b.SendBcsq(3100, stream);
  b.SendBcve(5);
  b.SendBcst();
  ASSERT_TRUE(PollUntil(
      both, [&] { return a.counters().bcst_rx == 1; }, absl::Seconds(2)));
  ASSERT_EQ(a.quenches().size(), 1u);
  EXPECT_EQ(a.quenches()[0].tg, 3100u);
  EXPECT_EQ(a.quenches()[0].stream_id, stream);
  EXPECT_EQ(a.last_bcve_version(), 5);
  EXPECT_EQ(a.counters().bad_mac, 0u);
}

TEST(ObpPeerTest, ClassicV1CallAndBadKeyAndForeignSource) {
  const auto [pa, pb] = FreePorts();
  ObpPeer a({.mode = ObpMode::kObpV1,
             .network_id = 1001,
             .passphrase = "mypass",
             .hub = {"127.0.0.1", pb},
             .local = {"127.0.0.1", pa}});
  ObpPeer b({.mode = ObpMode::kObpV1,
             .network_id = 2002,
             .passphrase = "mypass",
             .hub = {"127.0.0.1", pa},
             .local = {"127.0.0.1", pb}});
  a.SendVoiceCall(
      {.tg = 91, .ts = 1, .rf_src = 3120001, .superframes = 1, .cadence = absl::ZeroDuration()});
  std::vector<ReceivedCall> calls = b.Receive(absl::Seconds(2));
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_TRUE(Verify(calls[0], {.tg = 91, .ts = 1, .repeater_id = 1001, .frame_bytes = 53}).ok())
      << Verify(calls[0], {}).message();
  EXPECT_EQ(b.counters().bcka_rx, 0u);  // classic OBP sends no keepalives by default

  // Not the configured peer address: dropped before any MAC check.
  {
    ObpPeer stranger({.mode = ObpMode::kObpV1, .passphrase = "nope", .hub = {"127.0.0.1", pb}});
    stranger.SendVoiceCall(
        {.tg = 91, .ts = 1, .rf_src = 1, .superframes = 1, .cadence = absl::ZeroDuration()});
  }
  b.RunFor(absl::Milliseconds(100));
  EXPECT_EQ(b.counters().foreign_source, 8u);
  EXPECT_EQ(b.counters().bad_mac, 0u);
  EXPECT_TRUE(b.TakeReceived().empty());

  // The configured peer address with a damaged packet: bad MAC.
  std::vector<uint8_t> forged = a.Sign(BuildVoiceCall({.tg = 91, .ts = 1}, 1)[0], absl::Now());
  forged[30] ^= 1;
  ASSERT_TRUE(a.SendRaw(forged).ok());
  b.RunFor(absl::Milliseconds(100));
  EXPECT_EQ(b.counters().bad_mac, 1u);
}

// ---------------------------------------------------------------------------------------------
// HbpClient, seen from a passive socket standing where the hub would be.

TEST(HbpClientTest, LoginPacketsOnTheWireAndRetryAndRptclOnClose) {
  absl::StatusOr<UdpSocket> observer = UdpSocket::Open({"127.0.0.1", 0});
  ASSERT_TRUE(observer.ok());
  HbpClient c({.id = 3120001,
               .passphrase = "passw0rd",
               .hub = observer->local(),
               .retry_interval = absl::Milliseconds(50)});
  ASSERT_TRUE(c.status().ok()) << c.status();
  const absl::Status s = c.Login(absl::Milliseconds(180));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(s.message(), HasSubstr("WAITING_LOGIN"));
  EXPECT_EQ(c.state(), HbpClientState::kWaitingLogin);
  EXPECT_GE(c.counters().resends, 2u);
  c.Close();
  EXPECT_EQ(c.state(), HbpClientState::kClosed);

  std::array<uint8_t, 512> buf;
  std::vector<proto::HbpIdPacket> got;
  std::optional<Endpoint> from;
  for (;;) {
    absl::StatusOr<std::optional<Datagram>> d = observer->Receive(buf);
    ASSERT_TRUE(d.ok());
    if (!d->has_value()) break;
    proto::HbpIdPacket p;
    ASSERT_EQ(proto::DecodeHbpIdPacket({buf.data(), (*d)->length}, &p), proto::Reject::kOk);
    got.push_back(p);
    const Endpoint src = FromSockaddr((*d)->from);
    if (from) {
      EXPECT_EQ(src.port, from->port) << "source port must stay fixed";
    }
    from = src;
  }
  ASSERT_GE(got.size(), 3u);
  for (size_t i = 0; i + 1 < got.size(); ++i) {
    EXPECT_EQ(got[i].type, proto::HbpType::kRptl);
    EXPECT_EQ(got[i].value, 3120001u);
  }
  EXPECT_EQ(got.back().type, proto::HbpType::kRptcl);
  EXPECT_EQ(from->port, c.local_address().port);
}

TEST(HbpClientTest, LoginToAClosedPortReportsUnreachable) {
  const uint16_t port = FreePorts()[0];
  HbpClient c({.id = 1, .hub = {"127.0.0.1", port}, .retry_interval = absl::Milliseconds(30)});
  const absl::Status s = c.Login(absl::Milliseconds(150));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(s.message(), HasSubstr("unreachable"));
  EXPECT_GE(c.counters().icmp_errors, 1u);
}

TEST(HbpClientTest, VoiceCallIsPacedAndDecodes) {
  absl::StatusOr<UdpSocket> observer = UdpSocket::Open({"127.0.0.1", 0});
  ASSERT_TRUE(observer.ok());
  HbpClient c({.id = 312000101, .hub = observer->local()});
  const SentCall sent = c.SendVoiceCall({.tg = 3100,
                                         .ts = 2,
                                         .rf_src = 3120001,
                                         .superframes = 1,
                                         .cadence = absl::Milliseconds(20)});
  EXPECT_EQ(sent.frames, 8u);
  EXPECT_GE(sent.last_sent - sent.first_sent, absl::Milliseconds(7 * 20));
  EXPECT_EQ(c.counters().dmrd_tx, 8u);

  std::array<uint8_t, 512> buf;
  StreamCollector col;
  for (;;) {
    absl::StatusOr<std::optional<Datagram>> d = observer->Receive(buf);
    ASSERT_TRUE(d.ok());
    if (!d->has_value()) break;
    proto::DmrdView v;
    ASSERT_EQ(proto::DecodeDmrd({buf.data(), (*d)->length}, &v), proto::Reject::kOk);
    col.Add(MakeReceivedFrame(buf.data(), (*d)->length, (*d)->arrival));
  }
  const std::vector<ReceivedCall> calls = col.Take();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].stream_id, sent.stream_id);
  EXPECT_TRUE(
      Verify(calls[0],
             {.tg = 3100, .ts = 2, .rf_src = 3120001, .repeater_id = 312000101, .frames = 8})
          .ok())
      << Verify(calls[0], {}).message();
  // Kernel arrival stamps show the pacing (≥ 7 gaps of ~20 ms, allowing scheduler slack).
  EXPECT_GE(calls[0].duration(), absl::Milliseconds(7 * 20 - 5));
}

}  // namespace
}  // namespace dmrswitch::sim
