// Drives the shard state machine (two shards sharing slot leases) with a structured packet
// stream: mostly well-formed DMRD/DMRE/OBP packets from logged-in clients and configured peers, so
// that the fuzzer gets past admission and MAC checks, mixed with raw bytes and clock steps.
// Checks: no crash or sanitizer report, egress sizes and tags are valid, counters add up.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "dataplane/proto/bytes.h"
#include "dataplane/proto/crypto.h"
#include "dataplane/proto/hbp.h"
#include "dataplane/proto/obp.h"
#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/routing_core.h"
#include "ebpf/steer_common.h"

namespace {

using namespace dmrswitch;
using route::Endpoint;
using route::kMs;
using route::kSec;

class CheckingSink : public route::PacketSink {
 public:
  uint8_t* Begin(uint32_t listener, const Endpoint&) override {
    to_client_ = listener == route::kHbpListener;
    std::memset(buf_, 0xEE, sizeof(buf_));
    return buf_;
  }
  void Commit(uint16_t len) override {
    if (len > kMaxPacketBytes) std::abort();
    if (to_client_) {
      // HBP clients only ever get 55-byte DMRD (PROTOCOL.md Part A §4).
      if (len != proto::kDmrdBytes || std::memcmp(buf_, "DMRD", 4) != 0) std::abort();
      proto::DmrdView v;
      if (proto::DecodeDmrd(proto::ByteSpan(buf_, len), &v) != proto::Reject::kOk) std::abort();
    } else if (len != proto::kObpV1Bytes && len != proto::kDmreV5Bytes &&
               len != proto::kBcsqBytes) {
      std::abort();
    }
  }

 private:
  bool to_client_ = false;
  uint8_t buf_[kMaxPacketBytes];
};

class CountingEvents : public route::EventSink {
 public:
  void Emit(const route::Event&) override { ++n; }
  uint64_t n = 0;
};

constexpr uint32_t kClients = 4;
constexpr uint32_t kPeers = 2;

struct Rig {
  Rig() : leases(kClients) {
    route::HubPolicy policy;
    policy.server_id = 310999;
    route::RouteSnapshotBuilder b(policy, kClients);
    for (uint32_t i = 0; i < kClients; ++i) {
      route::ClientSpec c;
      c.id = 3120001 + i;
      c.addr = Endpoint{0xC6120100 + i, static_cast<uint16_t>(50001 + i)};
      c.slot_mask = i == 3 ? 2 : 3;
      if (!b.AddClient(i, c).ok()) std::abort();
      (void)b.Subscribe(i, route::kTs2, 91, route::MemberKind::kStatic);
      (void)b.Subscribe(i, route::kTs1, 3100, route::MemberKind::kStatic);
    }
    (void)b.SetDial(1, 3100);
    for (uint32_t i = 0; i < kPeers; ++i) {
      route::PeerSpec p;
      p.listener = 1 + i;
      p.name = i == 0 ? "obp" : "fbp";
      p.network_id = 310990 + i;
      p.target = Endpoint{0xC6120200 + i, static_cast<uint16_t>(62035 + i)};
      p.version = i == 0 ? 1 : 5;
      p.relay = i == 1;
      p.passphrase = "fuzzpass";
      if (!b.AddPeer(p).ok()) std::abort();
    }
    b.AddSubscriberLocation(3120101, 2, route::kTs2);
    snap = *b.Build(1);
    for (uint32_t i = 0; i < 2; ++i) {
      route::RoutingCoreConfig cfg;
      cfg.stream_capacity = 8;  // tiny, so that "table full" paths run too
      cfg.table_seed = i;
      cfg.parrot_recordings = 2;  // the parrot records and plays back (9990 is among kDst)
      cfg.parrot_max_frames = 6;  // tiny, so that recordings fill up and get cut
      shards[i] = std::make_unique<route::RoutingCore>(cfg, &leases, &sink, &events);
      shards[i]->SetSnapshot(snap, now);
    }
  }

  route::SlotLeases leases;
  CheckingSink sink;
  CountingEvents events;
  std::shared_ptr<const route::RouteSnapshot> snap;
  std::unique_ptr<route::RoutingCore> shards[2];
  route::TimeNs now = 1'700'000'000 * kSec;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Rig rig;
  const proto::HmacSha1 hmac(proto::ObpKeyFromPassphrase("fuzzpass"));
  const proto::Blake2bMac128 blake(proto::ObpKeyFromPassphrase("fuzzpass"));
  size_t i = 0;
  auto take = [&](size_t n) -> const uint8_t* {
    if (i + n > size) return nullptr;
    const uint8_t* p = data + i;
    i += n;
    return p;
  };
  while (i < size) {
    const uint8_t* op = take(1);
    if (op == nullptr) break;
    switch (*op % 6) {
      case 0: {  // clock step, 0..2.55 s
        const uint8_t* d = take(1);
        if (d == nullptr) break;
        rig.now += uint64_t{*d} * 10 * kMs;
        for (auto& s : rig.shards) {
          s->Expire(rig.now);
          s->Play(rig.now);
        }
        break;
      }
      case 1: {  // raw datagram on the HBP listener from a client address
        const uint8_t* n = take(1);
        if (n == nullptr) break;
        const uint8_t* p = take(*n % 120);
        if (p == nullptr) break;
        std::vector<uint8_t> pkt(p, p + *n % 120);
        const uint32_t owner = pkt.size() >= 20 ? dmrswitch_owner(proto::LoadBe32(&pkt[16]), 2) : 0;
        rig.shards[owner]->OnHbpPacket(
            pkt, Endpoint{0xC6120100u + (*n & 3u), static_cast<uint16_t>(50001u + (*n & 3u))},
            rig.now);
        break;
      }
      case 2:    // well-formed DMRD from a client
      case 3: {  // ... or a DMRE / OBP v1 from a peer with a valid MAC
        const uint8_t* f = take(12);
        if (f == nullptr) break;
        proto::DmrdFields d;
        d.seq = f[0];
        const uint32_t client = f[1] % kClients;
        d.rf_src = 3120100 + (f[2] & 7);
        static constexpr uint32_t kDst[] = {91, 3100, 9, 4000, 5000, 3120101, 2, 9990};
        d.dst = kDst[f[3] & 7];
        d.repeater_id = (f[4] & 0x80) ? 3120001 + client : 3129999;
        d.flags = proto::DmrdFlags{f[5]};
        d.stream_id = 0x100 + (f[6] & 15);
        std::memcpy(d.payload.data(), f + 7, 5);
        std::vector<uint8_t> pkt(proto::kDmrdBytes);
        proto::EncodeDmrd(d, pkt);
        const uint32_t owner = dmrswitch_owner(d.stream_id, 2);
        if (*op % 6 == 2) {
          rig.shards[owner]->OnHbpPacket(
              pkt, Endpoint{0xC6120100 + client, static_cast<uint16_t>(50001 + client)}, rig.now);
        } else if (f[11] & 1) {
          proto::StoreBe32(&pkt[11], 310991);
          proto::DmreTrailer t;
          t.timestamp_ns = rig.now - uint64_t{f[8]} * 100 * kMs;
          t.origin_server = (f[9] & 1) ? 310991 : 12;
          t.origin_repeater = 3120001;
          t.hops = f[10] & 15;
          std::vector<uint8_t> out(proto::kDmreV5Bytes);
          proto::EncodeDmre(pkt.data(), t, blake, out);
          rig.shards[owner]->OnObpPacket(1, out, Endpoint{0xC6120201, 62036}, rig.now);
        } else {
          proto::StoreBe32(&pkt[11], 310990);
          std::vector<uint8_t> out(proto::kObpV1Bytes);
          proto::EncodeObpV1(pkt.data(), hmac, out);
          rig.shards[owner]->OnObpPacket(0, out, Endpoint{0xC6120200, 62035}, rig.now);
        }
        break;
      }
      case 4: {  // a BCSQ from the FBP peer
        const uint8_t* f = take(1);
        if (f == nullptr) break;
        std::vector<uint8_t> out(proto::kBcsqBytes);
        const uint32_t stream = 0x100 + (*f & 15);
        proto::EncodeBcsq(proto::Bcsq{3100, stream}, hmac, out);
        rig.shards[dmrswitch_owner(stream, 2)]->OnObpPacket(1, out, Endpoint{0xC6120201, 62036},
                                                            rig.now);
        break;
      }
      case 5: {  // raw datagram on a peer listener
        const uint8_t* n = take(1);
        if (n == nullptr) break;
        const uint8_t* p = take(*n % 100);
        if (p == nullptr) break;
        std::vector<uint8_t> pkt(p, p + *n % 100);
        rig.shards[*n & 1]->OnObpPacket(*n & 1, pkt, Endpoint{0xC6120200, 62035}, rig.now);
        break;
      }
    }
  }
  for (auto& s : rig.shards) {
    const auto& c = s->counters();
    if (s->tracked_streams() > 8) std::abort();
    if (c.streams_ended + c.streams_lost > c.streams_started) std::abort();
    if (s->parrot().in_use() > s->parrot().size()) std::abort();
    if (c.parrot_played + c.parrot_dropped > c.parrot_recorded) std::abort();
  }
  return 0;
}
