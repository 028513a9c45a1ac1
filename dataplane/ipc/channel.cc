#include "dataplane/ipc/channel.h"

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace dmrswitch::ipc {
namespace {

constexpr uint16_t kPrivSize = RTE_ALIGN(sizeof(PacketMeta), RTE_MBUF_PRIV_ALIGN);
// Control datagrams are small (RPTC is the largest at 302 bytes), so a small data room is enough
// and keeps the pool compact on small boxes.
constexpr uint16_t kDataRoom = RTE_PKTMBUF_HEADROOM + 512;
constexpr unsigned kPoolSize = 8191;
// A separate cp's mbufs: the supply covers what it sends between two visits of the dp's main
// lcore (every 10 ms), the return what it receives (the pkt_up rings hold 4096 each).
constexpr uint32_t kSupplySize = 1024;
constexpr uint32_t kReturnSize = 8192;

absl::StatusOr<rte_ring*> MakeRing(const std::string& name, unsigned esize, uint32_t size,
                                   unsigned flags = RING_F_SP_ENQ | RING_F_SC_DEQ) {
  rte_ring* r = rte_ring_create_elem(name.c_str(), esize, size, SOCKET_ID_ANY, flags);
  if (r == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot create ring ", name, ": ", rte_strerror(rte_errno)));
  }
  return r;
}

}  // namespace

absl::StatusOr<ChannelSet> ChannelSet::Create(const std::string& prefix, uint32_t nshards,
                                              uint32_t ring_size) {
  ChannelSet set;
  set.pool_ = rte_pktmbuf_pool_create((prefix + "_ctlpool").c_str(), kPoolSize, 64, kPrivSize,
                                      kDataRoom, SOCKET_ID_ANY);
  if (set.pool_ == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot create the control packet pool: ", rte_strerror(rte_errno)));
  }
  auto cp_cmd = MakeRing(prefix + "_cp_cmd", sizeof(Message), 64, RING_F_SC_DEQ);
  if (!cp_cmd.ok()) return cp_cmd.status();
  set.cp_cmd_ = *cp_cmd;
  auto supply = MakeRing(prefix + "_cp_supply", sizeof(rte_mbuf*), kSupplySize);
  if (!supply.ok()) return supply.status();
  set.cp_supply_ = *supply;
  auto returned = MakeRing(prefix + "_cp_return", sizeof(rte_mbuf*), kReturnSize);
  if (!returned.ok()) return returned.status();
  set.cp_return_ = *returned;
  for (uint32_t i = 0; i < nshards; ++i) {
    ShardChannel c;
    const std::string base = absl::StrCat(prefix, "_s", i);
    auto cmd = MakeRing(base + "_cmd", sizeof(Message), ring_size);
    auto evt = MakeRing(base + "_evt", sizeof(Message), ring_size);
    auto sup = MakeRing(base + "_sup", sizeof(Message), 1024);
    auto up = MakeRing(base + "_up", sizeof(rte_mbuf*), ring_size);
    auto down = MakeRing(base + "_down", sizeof(rte_mbuf*), ring_size);
    for (const auto* s : {&cmd, &evt, &sup, &up, &down}) {
      if (!s->ok()) return s->status();
    }
    c.cmd = *cmd;
    c.evt = *evt;
    c.sup = *sup;
    c.pkt_up = *up;
    c.pkt_down = *down;
    set.shards_.push_back(c);
  }
  return set;
}

absl::StatusOr<ChannelSet> ChannelSet::Attach(const std::string& prefix, uint32_t nshards) {
  ChannelSet set;
  const auto find = [](const std::string& name) -> absl::StatusOr<rte_ring*> {
    rte_ring* r = rte_ring_lookup(name.c_str());
    if (r == nullptr) return absl::NotFoundError(absl::StrCat("ring ", name, " does not exist"));
    return r;
  };
  set.pool_ = rte_mempool_lookup((prefix + "_ctlpool").c_str());
  if (set.pool_ == nullptr) {
    return absl::NotFoundError(absl::StrCat("mempool ", prefix, "_ctlpool does not exist"));
  }
  auto cp_cmd = find(prefix + "_cp_cmd");
  if (!cp_cmd.ok()) return cp_cmd.status();
  set.cp_cmd_ = *cp_cmd;
  auto supply = find(prefix + "_cp_supply");
  if (!supply.ok()) return supply.status();
  set.cp_supply_ = *supply;
  auto returned = find(prefix + "_cp_return");
  if (!returned.ok()) return returned.status();
  set.cp_return_ = *returned;
  for (uint32_t i = 0; i < nshards; ++i) {
    const std::string base = absl::StrCat(prefix, "_s", i);
    auto cmd = find(base + "_cmd");
    auto evt = find(base + "_evt");
    auto sup = find(base + "_sup");
    auto up = find(base + "_up");
    auto down = find(base + "_down");
    for (const auto* s : {&cmd, &evt, &sup, &up, &down}) {
      if (!s->ok()) return s->status();
    }
    set.shards_.push_back(ShardChannel{*cmd, *evt, *sup, *up, *down});
  }
  return set;
}

bool SendMessage(rte_ring* r, const Message& m) {
  // DPDK takes a non-const pointer but only reads the element.
  return rte_ring_enqueue_elem(r, const_cast<Message*>(&m), sizeof(Message)) == 0;
}

unsigned RingFill(const rte_ring* r) { return rte_ring_count(r); }
unsigned RingCapacity(const rte_ring* r) { return rte_ring_get_capacity(r); }

unsigned ReceiveMessages(rte_ring* r, Message* out, unsigned max) {
  return rte_ring_dequeue_burst_elem(r, out, sizeof(Message), max, nullptr);
}

rte_mbuf* PacketToMbuf(rte_mempool* pool, std::span<const uint8_t> bytes, const PacketMeta& meta) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  if (m == nullptr) return nullptr;
  if (!FillMbuf(m, bytes, meta)) {
    rte_pktmbuf_free(m);
    return nullptr;
  }
  return m;
}

bool FillMbuf(rte_mbuf* m, std::span<const uint8_t> bytes, const PacketMeta& meta) {
  if (bytes.size() > UINT16_MAX) return false;
  char* p = rte_pktmbuf_append(m, static_cast<uint16_t>(bytes.size()));
  if (p == nullptr) return false;
  std::memcpy(p, bytes.data(), bytes.size());
  MetaOf(m) = meta;
  return true;
}

unsigned ServeControlMbufs(ChannelSet& channels) {
  rte_mbuf* m[64];
  unsigned freed = 0;
  while (unsigned n = ReceiveMbufs(channels.cp_return(), m, 64)) {
    rte_pktmbuf_free_bulk(m, n);
    freed += n;
  }
  for (unsigned room = rte_ring_free_count(channels.cp_supply()); room > 0;) {
    const unsigned n = std::min<unsigned>(room, 64);
    if (rte_pktmbuf_alloc_bulk(channels.pool(), m, n) != 0) break;  // the pool is short
    const unsigned sent =
        rte_ring_enqueue_burst_elem(channels.cp_supply(), m, sizeof(rte_mbuf*), n, nullptr);
    if (sent < n) rte_pktmbuf_free_bulk(m + sent, n - sent);
    if (sent == 0) break;
    room -= sent;
  }
  return freed;
}

PacketMeta& MetaOf(rte_mbuf* m) { return *static_cast<PacketMeta*>(rte_mbuf_to_priv(m)); }

std::span<const uint8_t> BytesOf(const rte_mbuf* m) {
  return {rte_pktmbuf_mtod(m, const uint8_t*), m->data_len};
}

void FreeMbuf(rte_mbuf* m) { rte_pktmbuf_free(m); }

bool SendMbuf(rte_ring* r, rte_mbuf* m) { return rte_ring_enqueue_elem(r, &m, sizeof(m)) == 0; }

unsigned ReceiveMbufs(rte_ring* r, rte_mbuf** out, unsigned max) {
  return rte_ring_dequeue_burst_elem(r, out, sizeof(rte_mbuf*), max, nullptr);
}

}  // namespace dmrswitch::ipc
