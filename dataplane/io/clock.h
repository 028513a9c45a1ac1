// The packet plane's clock: wall-clock nanoseconds, because FBP timestamps are wall-clock
// (PROTOCOL.md §2.2). The routing core never reads a clock; its callers pass this in.
#pragma once

#include <ctime>

#include "dataplane/route/types.h"

namespace dmrswitch::io {

inline route::TimeNs RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<route::TimeNs>(ts.tv_sec) * route::kSec +
         static_cast<route::TimeNs>(ts.tv_nsec);
}

}  // namespace dmrswitch::io
