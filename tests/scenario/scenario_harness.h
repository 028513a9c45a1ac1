// Deterministic scenario harness for the shard state machine: a world of clients and peers with
// a fake clock, one or more shards sharing one set of slot leases (steered by owner(), exactly as
// the I/O layers do), packets in, and the exact packets and events that came out.
//
// Expected egress bytes are built here from the wire layout in PROTOCOL.md (field by field), never
// by calling the shard's own fanout code.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/proto/dmr_lc.h"
#include "dataplane/proto/hbp.h"
#include "dataplane/route/events.h"
#include "dataplane/route/route_snapshot.h"
#include "dataplane/route/routing_core.h"
#include "dataplane/route/slot_lease.h"

namespace dmrswitch::scenario {

using route::Endpoint;
using route::Event;
using route::EventType;
using route::SystemRef;
using route::TimeNs;

struct Sent {
  SystemRef to;
  Endpoint addr;
  std::vector<uint8_t> bytes;
};

class RecordingSink : public route::PacketSink {
 public:
  // Names the destination system of a datagram from its listener and address (the world knows
  // which client or peer is where), for Sent::to.
  using Resolver = std::function<SystemRef(uint32_t listener, const Endpoint& addr)>;
  void SetResolver(Resolver r) { resolve_ = std::move(r); }

  uint8_t* Begin(uint32_t listener, const Endpoint& addr) override;
  void Commit(uint16_t len) override;
  std::vector<Sent> Take();
  // Makes Begin() fail for the next `n` packets (a full TX queue).
  void FailNext(int n) { fail_next_ = n; }
  // The voice frame being delivered (null: none). DPDK mode builds a voice frame's first egress
  // datagram in the received buffer itself (dataplane/io/dpdk_shard_loop.cc), so the first Begin()
  // poisons it: a shard that read the frame after asking for a buffer would send garbage.
  void Receiving(uint8_t* frame, size_t len) {
    receiving_ = frame;
    receiving_len_ = len;
  }

 private:
  Resolver resolve_;
  uint8_t* receiving_ = nullptr;
  size_t receiving_len_ = 0;
  std::vector<Sent> sent_;
  Sent pending_;
  uint8_t buf_[kMaxPacketBytes + 64];
  int fail_next_ = 0;
};

class RecordingEvents : public route::EventSink {
 public:
  void Emit(const Event& e) override { events_.push_back(e); }
  std::vector<Event> Take();

 private:
  std::vector<Event> events_;
};

// A DMRD frame as a client sends it (PROTOCOL.md §1.3); fields default to a TS2 group voice
// burst. `Bytes()` lays them out by hand.
struct Frame {
  uint8_t seq = 0;
  uint32_t rf_src = 3120101;
  uint32_t dst = 91;
  uint32_t repeater_id = 0;
  uint8_t flags = 0xA1;  // TS2, group, data sync, voice LC header
  uint32_t stream_id = 0x1000;
  std::array<uint8_t, 33> payload{};
  uint8_t ber = 0;
  uint8_t rssi = 0;
  size_t length = 55;

  std::vector<uint8_t> Bytes() const;
};

// One call as MMDVMHost sends it: header, voice bursts A..F cycling (0x90, 0x81..0x85 on TS2),
// terminator; seq from 0; the header/terminator carry a real BPTC-encoded LC and bursts B..E
// real embedded LC fragments, so LC rewrites can be checked.
std::vector<Frame> Call(uint32_t rf_src, uint32_t dst, uint32_t repeater_id, uint32_t stream_id,
                        unsigned ts, int voice_bursts, bool private_call = false);

struct ClientDef {
  uint32_t id;
  Endpoint addr;
  uint8_t slot_mask = 3;
  std::vector<std::pair<unsigned, uint32_t>> statics;  // (ts index, TG)
  uint32_t dial_tg = 0;
};

struct PeerDef {
  route::PeerSpec spec;
};

class World {
 public:
  // Each shard holds `parrot_recordings` parrot recordings of up to 60 s (1000 frames).
  explicit World(unsigned nshards = 1, uint32_t stream_capacity = 256,
                 uint32_t parrot_recordings = 2);

  route::HubPolicy policy;
  std::vector<ClientDef> clients;
  // Peers whose `listener` is route::kNoListener are published on listener 1 + their index (a
  // listener each), so most scenarios need not care.
  std::vector<route::PeerSpec> peers;
  // (client index, ts, tg, expiry) user-activated memberships.
  struct Ua {
    uint32_t client;
    unsigned ts;
    uint32_t tg;
    TimeNs expires;
  };
  std::vector<Ua> ua;
  // rf_src → (client index, ts) where it was last heard.
  std::vector<std::pair<uint32_t, std::pair<uint32_t, unsigned>>> subscriber_locations;
  // rf_src → the peer (index) it was last heard from.
  std::vector<std::pair<uint32_t, uint32_t>> peer_locations;

  // (Re)builds the snapshot from the fields above and publishes it to every shard.
  void Publish();
  uint64_t generation() const { return generation_; }

  TimeNs now() const { return now_; }
  // The wall clock as the shards see it (now() + the wall offset; equal to now() until a test
  // steps it), and a step of it: every shard's wall offset changes, nothing else.
  TimeNs wall() const { return now_ + wall_offset_; }
  void StepWallClock(int64_t by_ns);
  // Moves the clock and runs every shard's timers.
  void Advance(TimeNs dt);

  // A frame from client `i` (its own address unless `from` is given) on the HBP listener.
  route::Verdict FromClient(size_t i, const Frame& f, const Endpoint* from = nullptr);
  route::Verdict FromClientBytes(size_t i, const std::vector<uint8_t>& bytes);
  // Raw datagram on the HBP listener from any address.
  route::Verdict HbpDatagram(const std::vector<uint8_t>& bytes, Endpoint from);
  // Raw datagram on peer `p`'s listener (from its target address unless `from` is given).
  route::Verdict FromPeer(size_t p, const std::vector<uint8_t>& bytes,
                          const Endpoint* from = nullptr);
  // Sends a whole call from client `i`, one frame per 60 ms.
  void PlayCall(size_t i, const std::vector<Frame>& frames);

  std::vector<Sent> TakeSent() { return sink_.Take(); }
  std::vector<Event> TakeEvents() { return events_.Take(); }
  RecordingSink& sink() { return sink_; }
  route::RoutingCore& shard(unsigned i) { return *shards_[i]; }
  unsigned shard_count() const { return static_cast<unsigned>(shards_.size()); }
  unsigned OwnerOf(uint32_t stream_id) const;
  // The listener peer `peer` is published on.
  uint32_t PublishedListener(size_t peer) const;
  route::SlotLeases& leases() { return leases_; }
  uint64_t TotalDrops(route::DropReason r) const;
  // Routes resolved by every shard so far (new streams, and streams whose route inputs changed).
  uint64_t TotalResolutions() const;
  uint64_t TotalRejects(proto::Reject r) const;

  // What client `i` receives for `f`: 55 bytes, bytes 11..14 = its ID, slot and TG as given.
  std::vector<uint8_t> ExpectedHbp(const Frame& f, size_t client, unsigned ts, uint32_t tg,
                                   bool rewrite_lc) const;
  // What classic OBP peer `p` receives: 53 bytes (TS1, TG, bytes 11..14 per id mode) + HMAC.
  std::vector<uint8_t> ExpectedObpV1(const Frame& f, size_t p, uint32_t tg) const;
  // What FBP peer `p` receives: 89-byte DMRE v5.
  // `keep_slot`: private calls and unit data keep their slot bit on FBP (Part A §9).
  std::vector<uint8_t> ExpectedDmre(const Frame& f, size_t p, uint32_t tg, uint32_t origin_server,
                                    uint32_t origin_repeater, uint8_t hops, TimeNs ts,
                                    bool keep_slot = false) const;
  // A classic OBP packet as peer `p` would send it for `f` (bytes 11..14 = its network ID).
  std::vector<uint8_t> ObpV1From(size_t p, Frame f) const;
  // A DMRE v5 as peer `p` would send it.
  std::vector<uint8_t> DmreFrom(size_t p, Frame f, uint32_t origin_server, uint32_t origin_repeater,
                                uint8_t hops, TimeNs ts) const;

 private:
  TimeNs now_ = 1'700'000'000 * route::kSec;
  TimeNs wall_offset_ = 0;
  uint64_t generation_ = 0;
  route::SlotLeases leases_;
  RecordingSink sink_;
  RecordingEvents events_;
  std::vector<std::unique_ptr<route::RoutingCore>> shards_;
  std::vector<uint32_t> client_slot_;  // client index → slot in the snapshot
  std::unique_ptr<route::RouteSnapshotBuilder> builder_;
  std::vector<uint32_t> published_locations_;
};

// Readable failure messages.
std::string Hex(const std::vector<uint8_t>& b);
std::string Describe(const Event& e);

}  // namespace dmrswitch::scenario
