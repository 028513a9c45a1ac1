// The ring message ABI between the packet plane (shards) and the control plane (DESIGN.md §6).
//
// Every message is one 64-byte cache line: an 8-byte header (type, ABI version, shard, sequence)
// and a 56-byte body holding one trivially copyable struct. Bodies are copied in and out with
// memcpy, so any POD of at most 56 bytes can travel, and the layout is the same in the hosted
// control plane (a thread of dmrswitch-dp) and in dmrswitch-cp (a DPDK secondary process).
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "dataplane/route/events.h"
#include "dataplane/route/types.h"

namespace dmrswitch::ipc {

inline constexpr uint8_t kAbiVersion = 1;

enum class MsgType : uint16_t {
  kNone = 0,
  // shard → cp
  kEvent,         // body: route::Event
  kSnapshotAck,   // body: SnapshotAck
  kWorkerHealth,  // body: WorkerHealth
  kClientLost,    // body: ClientLost
  // cp → shard
  kSnapshotPublish,  // body: SnapshotPublish
  kStop,             // no body: leave the shard loop
  kDrainBegin,       // no body: admit no new streams (DESIGN.md §7); answered by a WorkerHealth
  kDrainEnd,         // no body: admit new streams again
  kPing,             // body: Ping — answered at once with kPong on the sup ring (probe)
  // shard → cp (continued)
  kPong,  // body: Ping, as received
  // anyone → cp
  kReload,  // no body: re-read the configuration file
  kDrain,   // body: DrainRequest — drain every shard
  kResume,  // no body: end a drain
  // shard → cp (continued), on the event ring
  kClientPings,  // body: ClientPings
};

// cp → shard → cp: a probe of the control channel's round trip (dmrswitch-ctl probe).
struct Ping {
  uint64_t seq;
  uint64_t sent_ns;  // the control plane's clock
};

// → cp: drain, and give live streams up to `timeout_ms` to end.
struct DrainRequest {
  uint32_t timeout_ms;
};

// cp → shard: switch to snapshot `generation`. `snapshot` points at a route::RouteSnapshot that
// the control plane keeps alive until every shard has acknowledged a newer generation.
struct SnapshotPublish {
  uint64_t generation;
  const void* snapshot;
};

// shard → cp: the shard routes with `generation` from now on and no longer reads older ones.
struct SnapshotAck {
  uint64_t generation;
};

// shard → cp: the client in `slot` (ID `id`) sent no keepalive for ping_time × max_missed.
struct ClientLost {
  uint32_t slot;
  uint32_t id;
  route::TimeNs at;
  // The address of the session that went silent (its snapshot entry's): a report is about that
  // session only, never about a later login of the same ID from elsewhere.
  route::Endpoint addr;
};

// shard → cp, at most once a second per client: the keepalives of the session at `addr` that
// the shard owning the client answered (reporting's last ping and ping count).
struct ClientPings {
  uint32_t slot;
  uint32_t id;
  route::TimeNs last_ping;  // the shard's monotonic clock
  uint64_t pings;           // since the shard first saw this session in a snapshot
  route::Endpoint addr;
};

// shard → cp, about once a second: liveness and the counters the status line sums.
struct WorkerHealth {
  uint64_t packets_in;
  uint64_t packets_out;
  uint64_t dropped;         // rejects + drops + sink full
  uint64_t events_dropped;  // event ring was full
  uint32_t live_streams;
  uint32_t generation_low;  // low 32 bits of the snapshot generation in use
  route::TimeNs at;
  uint8_t draining;  // 1: the shard admits no new streams
};

struct alignas(64) Message {
  MsgType type = MsgType::kNone;
  uint8_t version = kAbiVersion;
  uint8_t shard = 0;
  uint32_t seq = 0;
  alignas(8) uint8_t body[56] = {};

  template <typename T>
  static Message Make(MsgType type, uint8_t shard, const T& body) {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= sizeof(Message::body));
    Message m;
    m.type = type;
    m.shard = shard;
    std::memcpy(m.body, &body, sizeof(T));
    return m;
  }
  static Message Make(MsgType type, uint8_t shard) {
    Message m;
    m.type = type;
    m.shard = shard;
    return m;
  }
  template <typename T>
  T As() const {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= sizeof(Message::body));
    T t;
    std::memcpy(&t, body, sizeof(T));
    return t;
  }
};
static_assert(sizeof(Message) == 64, "one message, one cache line");
static_assert(std::is_trivially_copyable_v<Message>);
static_assert(std::is_trivially_copyable_v<route::Event>);

}  // namespace dmrswitch::ipc
