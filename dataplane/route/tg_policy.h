// Talkgroup numbers and what each range may be used for, in one place (PROTOCOL.md §2.1, §2.2,
// §3.3–3.5, FreeDMR's rules). The routing core, the configuration parser, the options parser and
// the subscriptions all ask these named predicates instead of spelling the ranges themselves.
#pragma once

#include <cstdint>

#include "dataplane/route/types.h"

namespace dmrswitch::route {

// Echo/parrot and information services (9990..9999): local to each hub.
constexpr bool IsEchoOrInfoTg(uint32_t tg) { return tg >= 9990 && tg <= 9999; }
// FreeDMR's D-APRS gateway TG, local to each hub.
inline constexpr uint32_t kDaprsTg = 900999;

// A TG a client may subscribe to, by static, user activation or dial link: 5..16776415, but not
// the control IDs 9 (dial), 4000 (unlink) and 5000 (status).
constexpr bool IsUserActivatableTg(uint32_t tg) {
  return tg >= 5 && tg != kDialTg && tg != kUnlinkId && tg != kStatusId && tg <= kMaxSubscriberId;
}

// A TG a private call may dial (FreeDMR): 5..999999, not 8 or 9, not 4000..5000, not 9991..9999.
constexpr bool IsDialableTg(uint32_t tg) {
  if (tg < 5 || tg > 999999) return false;
  if (tg == 8 || tg == kDialTg) return false;
  if (tg >= kUnlinkId && tg <= kStatusId) return false;
  if (tg >= 9991 && tg <= 9999) return false;
  return true;
}

// Reserved for static subscriptions (PROTOCOL.md §3.4): 0..5, 9 and the echo/info range.
constexpr bool IsReservedStaticTg(uint32_t tg) {
  return tg <= 5 || tg == kDialTg || IsEchoOrInfoTg(tg);
}
// A TG that may be a static subscription (configuration or options): not reserved, and one a
// client can be a member of at all.
constexpr bool IsValidStaticTg(uint32_t tg) {
  return !IsReservedStaticTg(tg) && IsUserActivatableTg(tg);
}

// Local to a hub, never carried on OpenBridge/FBP in either direction: 0..79, echo/info, D-APRS.
constexpr bool IsHubLocalTg(uint32_t tg) {
  return tg <= 79 || IsEchoOrInfoTg(tg) || tg == kDaprsTg;
}
// Regional TGs, accepted from an FBP peer only when its originating server shares a prefix with
// ours (PROTOCOL.md §2.2): 92..199 by the first 4 digits, 80..89 and 800..899 by the first 3.
constexpr bool IsFourDigitScopedTg(uint32_t tg) { return tg >= 92 && tg <= 199; }
constexpr bool IsThreeDigitScopedTg(uint32_t tg) {
  return (tg >= 80 && tg <= 89) || (tg >= 800 && tg <= 899);
}

// Group calls a classic OBP (v1) peer may send us (FreeDMR's v1 ingress scope, §2.1): not
// hub-local, and not the 4-digit regional range.
constexpr bool ObpV1AcceptsGroupTg(uint32_t tg) {
  return !IsHubLocalTg(tg) && !IsFourDigitScopedTg(tg);
}
// Group calls we send to OpenBridge/FBP peers (FreeDMR bridges TG >= 80 to OpenBridge): not
// hub-local and a valid TG number.
constexpr bool PeerCarriesTg(uint32_t tg) { return !IsHubLocalTg(tg) && tg <= kMaxSubscriberId; }

}  // namespace dmrswitch::route
