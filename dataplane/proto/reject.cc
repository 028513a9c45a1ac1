#include "dataplane/proto/reject.h"

namespace dmrswitch::proto {
static_assert(kRejectNames.size() == static_cast<size_t>(Reject::kCount));
}  // namespace dmrswitch::proto
