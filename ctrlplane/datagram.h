// What control-plane components exchange with the packet plane: whole datagrams with the
// listener they arrived on (or leave from) and the remote address. Components are pure: they take
// datagrams and the time as inputs and append the datagrams they want sent to an output vector;
// the host (hosted thread or dmrswitch-cp) moves them over the DPDK rings.
#pragma once

#include <cstdint>
#include <vector>

#include "dataplane/route/types.h"

namespace dmrswitch::cp {

// Which socket a datagram belongs to: the HBP listener, or the listener of OpenBridge peer
// `peer` (its index in the configuration and in the RouteSnapshot).
struct Listener {
  enum Kind : uint8_t { kHbp = 0, kObp = 1 };
  Kind kind = kHbp;
  uint32_t peer = 0;
  static Listener Hbp() { return {kHbp, 0}; }
  static Listener Obp(uint32_t peer) { return {kObp, peer}; }
  bool operator==(const Listener&) const = default;
};

struct Datagram {
  Listener listener;
  route::Endpoint addr;  // source (inbound) or destination (outbound)
  std::vector<uint8_t> bytes;
};

using Outbox = std::vector<Datagram>;

}  // namespace dmrswitch::cp
