#include "tests/scenario/scenario_harness.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "dataplane/proto/bytes.h"
#include "dataplane/proto/crypto.h"
#include "ebpf/steer_common.h"

namespace dmrswitch::scenario {

using proto::LoadBe32;
using proto::StoreBe24;
using proto::StoreBe32;

namespace {

// DMRD or DMRE: the frames DPDK mode may forward in their own receive buffer.
bool IsVoiceTag(const std::vector<uint8_t>& b) {
  return b.size() >= 4 &&
         (std::memcmp(b.data(), "DMRD", 4) == 0 || std::memcmp(b.data(), "DMRE", 4) == 0);
}

}  // namespace

uint8_t* RecordingSink::Begin(uint32_t listener, const Endpoint& addr) {
  if (fail_next_ > 0) {
    --fail_next_;
    return nullptr;
  }
  if (receiving_ != nullptr) {
    std::memset(receiving_, 0xEE, receiving_len_);
    receiving_ = nullptr;
  }
  pending_ = Sent{resolve_ ? resolve_(listener, addr) : SystemRef{}, addr, {}};
  // Poison the buffer so that a byte the shard forgot to write shows up in the comparison.
  std::memset(buf_, 0xEE, sizeof(buf_));
  return buf_;
}

void RecordingSink::Commit(uint16_t len) {
  if (len > kMaxPacketBytes) throw std::logic_error("packet larger than kMaxPacketBytes");
  pending_.bytes.assign(buf_, buf_ + len);
  sent_.push_back(std::move(pending_));
}

std::vector<Sent> RecordingSink::Take() { return std::exchange(sent_, {}); }
std::vector<Event> RecordingEvents::Take() { return std::exchange(events_, {}); }

std::vector<uint8_t> Frame::Bytes() const {
  std::vector<uint8_t> b(55);
  std::memcpy(b.data(), "DMRD", 4);
  b[4] = seq;
  StoreBe24(&b[5], rf_src);
  StoreBe24(&b[8], dst);
  StoreBe32(&b[11], repeater_id);
  b[15] = flags;
  StoreBe32(&b[16], stream_id);
  std::memcpy(&b[20], payload.data(), 33);
  b[53] = ber;
  b[54] = rssi;
  b.resize(length);
  return b;
}

std::vector<Frame> Call(uint32_t rf_src, uint32_t dst, uint32_t repeater_id, uint32_t stream_id,
                        unsigned ts, int voice_bursts, bool private_call) {
  namespace dmr = proto::dmr;
  dmr::Lc lc = dmr::Lc::GroupVoice(dst, rf_src);
  if (private_call) lc.bytes[0] = 0x03;  // unit-to-unit voice channel user
  const uint8_t slot_bit = ts == route::kTs2 ? 0x80 : 0x00;
  const uint8_t call_bit = private_call ? 0x40 : 0x00;
  std::array<uint8_t, 33> middle{};
  // A recognisable slot type + sync region (bits 98..165) that rewrites must keep.
  for (size_t i = 0; i < 33; ++i) middle[i] = static_cast<uint8_t>(0x5A ^ (i * 7));
  const dmr::EmbeddedLcFragments frags = dmr::EncodeEmbeddedLc(lc);

  std::vector<Frame> frames;
  auto add = [&](uint8_t flags, const std::array<uint8_t, 33>& payload) {
    Frame f;
    f.seq = static_cast<uint8_t>(frames.size());
    f.rf_src = rf_src;
    f.dst = dst;
    f.repeater_id = repeater_id;
    f.flags = flags | slot_bit | call_bit;
    f.stream_id = stream_id;
    f.payload = payload;
    f.ber = 1;
    f.rssi = 70;
    frames.push_back(f);
  };
  std::array<uint8_t, 33> header = middle;
  dmr::EncodeFullLc(lc, dmr::FullLcKind::kVoiceHeader, header);
  add(0x21, header);
  for (int i = 0; i < voice_bursts; ++i) {
    const unsigned vseq = static_cast<unsigned>(i % 6);
    std::array<uint8_t, 33> voice{};
    for (size_t k = 0; k < 33; ++k) voice[k] = static_cast<uint8_t>(i * 13 + k);
    if (vseq >= 1 && vseq <= 4) dmr::SetEmbeddedFragment(voice, frags[vseq - 1]);
    add(vseq == 0 ? 0x10 : static_cast<uint8_t>(vseq), voice);
  }
  std::array<uint8_t, 33> term = middle;
  dmr::EncodeFullLc(lc, dmr::FullLcKind::kTerminator, term);
  add(0x22, term);
  return frames;
}

// ---------------------------------------------------------------------------------------------

World::World(unsigned nshards, uint32_t stream_capacity, uint32_t parrot_recordings) : leases_(64) {
  sink_.SetResolver([this](uint32_t listener, const Endpoint& addr) {
    if (listener == route::kHbpListener) {
      for (size_t i = 0; i < clients.size() && i < client_slot_.size(); ++i) {
        if (clients[i].addr == addr) return SystemRef::Client(client_slot_[i]);
      }
      return SystemRef{};
    }
    for (size_t p = 0; p < peers.size(); ++p) {
      if (PublishedListener(p) == listener && peers[p].target == addr) {
        return SystemRef::Peer(static_cast<uint32_t>(p));
      }
    }
    return SystemRef{};
  });
  for (unsigned i = 0; i < nshards; ++i) {
    route::RoutingCoreConfig cfg;
    cfg.stream_capacity = stream_capacity;
    cfg.table_seed = 0x1234 + i;
    cfg.parrot_recordings = parrot_recordings;
    cfg.parrot_max_frames = 1000;
    shards_.push_back(std::make_unique<route::RoutingCore>(cfg, &leases_, &sink_, &events_));
  }
}

void World::Publish() {
  // One persistent builder, fed the whole world each time as the control plane feeds its
  // changes: what did not change keeps its pieces (and live streams keep their routes).
  if (builder_ == nullptr) {
    builder_ = std::make_unique<route::RouteSnapshotBuilder>(policy, leases_.max_clients());
  }
  route::RouteSnapshotBuilder& b = *builder_;
  b.SetPolicy(policy);
  std::vector<route::PeerSpec> specs;
  for (size_t i = 0; i < peers.size(); ++i) {
    specs.push_back(peers[i]);
    specs.back().listener = PublishedListener(i);
  }
  if (auto st = b.SetPeers(specs); !st.ok()) throw std::runtime_error(st.ToString());
  for (size_t slot = clients.size(); slot < client_slot_.size(); ++slot) {
    b.RemoveClient(static_cast<uint32_t>(slot));
  }
  client_slot_.clear();
  for (size_t i = 0; i < clients.size(); ++i) {
    const ClientDef& c = clients[i];
    route::ClientSpec spec;
    spec.id = c.id;
    spec.addr = c.addr;
    spec.slot_mask = c.slot_mask;
    const uint32_t slot = static_cast<uint32_t>(i);
    if (auto st = b.SetClient(slot, spec); !st.ok()) throw std::runtime_error(st.ToString());
    client_slot_.push_back(slot);
    std::vector<route::MemberSpec> members;
    for (const auto& [ts, tg] : c.statics) {
      members.push_back({static_cast<uint8_t>(ts), tg, route::MemberKind::kStatic, 0});
    }
    for (const Ua& u : ua) {
      if (u.client != slot) continue;
      members.push_back(
          {static_cast<uint8_t>(u.ts), u.tg, route::MemberKind::kUserActivated, u.expires});
    }
    if (auto st = b.SetMemberships(slot, members, c.dial_tg); !st.ok()) {
      throw std::runtime_error(st.ToString());
    }
  }
  std::vector<uint32_t> now_located;
  for (const auto& [rf_src, loc] : subscriber_locations) {
    b.AddSubscriberLocation(rf_src, loc.first, loc.second);
    now_located.push_back(rf_src);
  }
  for (const auto& [rf_src, peer] : peer_locations) {
    b.AddSubscriberLocation(rf_src, SystemRef::Peer(peer), route::kTs1);
    now_located.push_back(rf_src);
  }
  for (uint32_t rf_src : published_locations_) {
    if (std::find(now_located.begin(), now_located.end(), rf_src) == now_located.end()) {
      b.RemoveSubscriberLocation(rf_src);
    }
  }
  published_locations_ = std::move(now_located);
  auto snap = b.Build(++generation_);
  if (!snap.ok()) throw std::runtime_error(snap.status().ToString());
  for (auto& s : shards_) s->SetSnapshot(*snap, now_);
}

void World::StepWallClock(int64_t by_ns) {
  wall_offset_ += static_cast<TimeNs>(by_ns);
  for (auto& s : shards_) s->SetWallOffset(wall_offset_);
}

void World::Advance(TimeNs dt) {
  now_ += dt;
  for (auto& s : shards_) {
    s->Expire(now_);
    s->Play(now_);
  }
}

uint64_t World::TotalResolutions() const {
  uint64_t n = 0;
  for (const auto& s : shards_) n += s->counters().route_resolutions;
  return n;
}

uint32_t World::PublishedListener(size_t peer) const {
  const uint32_t l = peers.at(peer).listener;
  return l == route::kNoListener ? static_cast<uint32_t>(1 + peer) : l;
}

unsigned World::OwnerOf(uint32_t stream_id) const {
  return dmrswitch_owner(stream_id, static_cast<uint32_t>(shards_.size()));
}

route::Verdict World::HbpDatagram(const std::vector<uint8_t>& bytes, Endpoint from) {
  // Steering as the I/O layers do it: DMRD by stream ID, everything else to shard 0.
  unsigned owner = 0;
  if (bytes.size() >= 20 && std::memcmp(bytes.data(), "DMRD", 4) == 0) {
    owner = OwnerOf(LoadBe32(&bytes[16]));
  }
  // An exact-size heap copy so that sanitizers catch any read past the datagram.
  std::unique_ptr<uint8_t[]> copy(new uint8_t[bytes.size() + (bytes.empty() ? 1 : 0)]);
  if (!bytes.empty()) std::memcpy(copy.get(), bytes.data(), bytes.size());
  if (IsVoiceTag(bytes)) sink_.Receiving(copy.get(), bytes.size());
  const route::Verdict v =
      shards_[owner]->OnHbpPacket(proto::ByteSpan(copy.get(), bytes.size()), from, now_);
  sink_.Receiving(nullptr, 0);
  return v;
}

route::Verdict World::FromClient(size_t i, const Frame& f, const Endpoint* from) {
  Frame g = f;
  if (g.repeater_id == 0) g.repeater_id = clients.at(i).id;
  return HbpDatagram(g.Bytes(), from != nullptr ? *from : clients.at(i).addr);
}

route::Verdict World::FromClientBytes(size_t i, const std::vector<uint8_t>& bytes) {
  return HbpDatagram(bytes, clients.at(i).addr);
}

route::Verdict World::FromPeer(size_t p, const std::vector<uint8_t>& bytes, const Endpoint* from) {
  unsigned owner = 0;
  if (bytes.size() >= 20 &&
      (std::memcmp(bytes.data(), "DMRD", 4) == 0 || std::memcmp(bytes.data(), "DMRE", 4) == 0)) {
    owner = OwnerOf(LoadBe32(&bytes[16]));
  } else if (bytes.size() >= 11 && std::memcmp(bytes.data(), "BCSQ", 4) == 0) {
    owner = OwnerOf(LoadBe32(&bytes[7]));
  }
  std::unique_ptr<uint8_t[]> copy(new uint8_t[bytes.size() + 1]);
  if (!bytes.empty()) std::memcpy(copy.get(), bytes.data(), bytes.size());
  if (IsVoiceTag(bytes)) sink_.Receiving(copy.get(), bytes.size());
  const route::Verdict v = shards_[owner]->OnObpPacket(
      static_cast<uint32_t>(p), proto::ByteSpan(copy.get(), bytes.size()),
      from != nullptr ? *from : peers.at(p).target, now_);
  sink_.Receiving(nullptr, 0);
  return v;
}

void World::PlayCall(size_t i, const std::vector<Frame>& frames) {
  for (const Frame& f : frames) {
    FromClient(i, f);
    Advance(60 * route::kMs);
  }
}

uint64_t World::TotalDrops(route::DropReason r) const {
  uint64_t n = 0;
  for (const auto& s : shards_) n += s->counters().drop(r);
  return n;
}

uint64_t World::TotalRejects(proto::Reject r) const {
  uint64_t n = 0;
  for (const auto& s : shards_) n += s->counters().rejects[r];
  return n;
}

namespace {

// Bits 0..97 and 166..263 of a header/terminator, bits 116..147 of bursts B..E. The stream's LC
// in these scenarios is what Call() put in its header (group or private voice LC of the frame's
// own source), with the destination TG replaced.
void RewriteLcBits(Frame* f, uint32_t tg) {
  namespace dmr = proto::dmr;
  const unsigned ft = (f->flags >> 4) & 3;
  const unsigned nib = f->flags & 0x0F;
  dmr::Lc lc = dmr::Lc::GroupVoice(tg, f->rf_src);
  if (f->flags & 0x40) lc.bytes[0] = 0x03;
  if (ft == 2 && nib == 1) dmr::EncodeFullLc(lc, dmr::FullLcKind::kVoiceHeader, f->payload);
  if (ft == 2 && nib == 2) dmr::EncodeFullLc(lc, dmr::FullLcKind::kTerminator, f->payload);
  if (ft == 0 && nib >= 1 && nib <= 4) {
    dmr::SetEmbeddedFragment(f->payload, dmr::EncodeEmbeddedLc(lc)[nib - 1]);
  }
}

// A DMRE v5 laid out by hand (PROTOCOL.md §2.2) from a 55-byte DMRD image.
std::vector<uint8_t> DmreV5(std::vector<uint8_t> b, const std::string& passphrase,
                            uint32_t origin_server, uint32_t origin_repeater, uint8_t hops,
                            TimeNs ts) {
  std::memcpy(b.data(), "DMRE", 4);
  b.resize(89);
  b[55] = 5;
  proto::StoreBe64(&b[56], ts);
  StoreBe32(&b[64], origin_server);
  StoreBe32(&b[68], origin_repeater);
  b[72] = hops;
  proto::Blake2bMac128 m(proto::ObpKeyFromPassphrase(passphrase));
  m.Sign(proto::ByteSpan(b.data(), 73), &b[73]);
  return b;
}

}  // namespace

std::vector<uint8_t> World::ExpectedHbp(const Frame& f, size_t client, unsigned ts, uint32_t tg,
                                        bool rewrite_lc) const {
  Frame g = f;
  g.repeater_id = clients.at(client).id;
  g.flags = static_cast<uint8_t>((f.flags & 0x7F) | (ts << 7));
  if (tg != f.dst) {
    g.dst = tg;
    if (rewrite_lc) RewriteLcBits(&g, tg);
  }
  if (g.length == 53) {
    g.ber = 0;
    g.rssi = 0;
  }
  g.length = 55;  // always 55 bytes to HBP clients (PROTOCOL.md Part A §4)
  return g.Bytes();
}

std::vector<uint8_t> World::ExpectedObpV1(const Frame& f, size_t p, uint32_t tg) const {
  const route::PeerSpec& peer = peers.at(p);
  Frame g = f;
  g.flags = f.flags & 0x7F;
  g.repeater_id = peer.id_mode == route::PeerIdMode::kFreeDmr ? policy.server_id : peer.network_id;
  if (tg != f.dst) {
    g.dst = tg;
    RewriteLcBits(&g, tg);
  }
  std::vector<uint8_t> b = g.Bytes();
  b.resize(53);
  const auto key = proto::ObpKeyFromPassphrase(peer.passphrase);
  proto::HmacSha1 h(key);
  uint8_t mac[20];
  h.Sign(b, mac);
  b.insert(b.end(), mac, mac + 20);
  return b;
}

std::vector<uint8_t> World::ExpectedDmre(const Frame& f, size_t p, uint32_t tg,
                                         uint32_t origin_server, uint32_t origin_repeater,
                                         uint8_t hops, TimeNs ts, bool keep_slot) const {
  const route::PeerSpec& peer = peers.at(p);
  Frame g = f;
  if (!keep_slot) g.flags = f.flags & 0x7F;
  g.repeater_id = policy.server_id;
  if (tg != f.dst) {
    g.dst = tg;
    RewriteLcBits(&g, tg);
  }
  if (g.length == 53) {
    g.ber = 0;
    g.rssi = 0;
  }
  g.length = 55;
  return DmreV5(g.Bytes(), peer.passphrase, origin_server, origin_repeater, hops, ts);
}

std::vector<uint8_t> World::ObpV1From(size_t p, Frame f) const {
  const route::PeerSpec& peer = peers.at(p);
  f.repeater_id = peer.network_id;
  std::vector<uint8_t> b = f.Bytes();
  b.resize(53);
  proto::HmacSha1 h(proto::ObpKeyFromPassphrase(peer.passphrase));
  uint8_t mac[20];
  h.Sign(b, mac);
  b.insert(b.end(), mac, mac + 20);
  return b;
}

std::vector<uint8_t> World::DmreFrom(size_t p, Frame f, uint32_t origin_server,
                                     uint32_t origin_repeater, uint8_t hops, TimeNs ts) const {
  const route::PeerSpec& peer = peers.at(p);
  f.repeater_id = peer.network_id;
  f.length = 55;
  return DmreV5(f.Bytes(), peer.passphrase, origin_server, origin_repeater, hops, ts);
}

std::string Hex(const std::vector<uint8_t>& b) {
  std::string s;
  char buf[4];
  for (uint8_t x : b) {
    std::snprintf(buf, sizeof(buf), "%02x", x);
    s += buf;
  }
  return s;
}

std::string Describe(const Event& e) {
  char buf[320];
  std::snprintf(buf, sizeof(buf),
                "{type=%d action=%d ts=%u ct=%u data=%u src=%d/%u id=%u stream=%08x rf=%u dst=%u "
                "tg=%u dests=%u pk=%u lost=%u late=%u early=%u jitter=%ux10us end=%d dur=%ums}",
                static_cast<int>(e.type), static_cast<int>(e.action), unsigned{e.ts},
                unsigned{e.call_type}, unsigned{e.data}, static_cast<int>(e.source.kind),
                static_cast<unsigned>(e.source.index), e.source_id, e.stream_id, e.rf_src, e.dst,
                e.tg, unsigned{e.destinations}, e.packets, unsigned{e.lost}, unsigned{e.late},
                unsigned{e.early}, unsigned{e.jitter_10us}, static_cast<int>(e.end), e.duration_ms);
  return buf;
}

}  // namespace dmrswitch::scenario
