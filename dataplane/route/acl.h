// FreeDMR/HBlink3 access lists (PROTOCOL.md §3.9): "PERMIT|DENY:entry,entry,..." where an entry
// is an ID, "lo-hi" or "ALL". Listed IDs get the action, unlisted IDs the opposite; an empty
// string permits everything. Parsed on the control path, evaluated on the packet path. Part of
// RouteSnapshot, so its ranges live in snapshot memory (shared_memory.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "dataplane/route/shared_memory.h"

namespace dmrswitch::route {

class Acl {
 public:
  // ID ranges that each ACL key accepts; anything outside refuses the configuration.
  static constexpr uint32_t kSubTgMin = 1, kSubTgMax = 16776415;
  static constexpr uint32_t kRegMin = 1, kRegMax = 0xFFFFFFFF;

  static absl::StatusOr<Acl> Parse(std::string_view text, uint32_t min_id = kSubTgMin,
                                   uint32_t max_id = kSubTgMax);
  static Acl PermitAll() { return Acl(); }

  bool Permits(uint32_t id) const {
    if (ranges_.empty()) return !listed_permit_;  // nothing listed: unlisted action for all
    return Listed(id) == listed_permit_;
  }
  std::string ToString() const;
  // The same decisions for every ID (the parse is canonical: sorted, merged ranges).
  bool operator==(const Acl&) const = default;

 private:
  bool Listed(uint32_t id) const;

  bool listed_permit_ = false;  // with no ranges: DENY of nothing = permit all
  SnapshotVector<std::pair<uint32_t, uint32_t>> ranges_;  // sorted, merged, inclusive
};

}  // namespace dmrswitch::route
