// The options string a client sends after login (HBP RPTO; DMRGateway `Options=`, Pi-Star's
// options field), PROTOCOL.md §3.4. Parsing is pure and lenient like FreeDMR's: a bad entry is
// skipped with a warning and the rest still applies. Only an oversized string is an error.
//
//   TS1=91,235;TS2=3100;DIAL=262;TIMER=15;SINGLE=0;VOICE=1;LANG=en_GB;KEY=s3cret
//
// * Before splitting, NUL bytes, non-ASCII bytes and quotes (" and ') are removed.
// * Entries are separated by ';', key and value by the first '='; both are trimmed of blanks.
//   Keys are case-insensitive.
// * A key that is absent leaves the setting unchanged (or at its default); every field of
//   ClientOptions is therefore optional.
//
// Keys (aliases in parentheses):
//   TS1 / TS2 (TS1_1..TS1_9, TS2_1..TS2_9)  comma list of static TGs; all entries for one slot are
//                                           merged; a present key replaces the slot's previous
//                                           option statics (an empty list clears them)
//   DIAL (StartRef)       default dial-a-TG link, 0 = none
//   TIMER (RelinkTime)    user-activation timer in minutes, 0 = never expires
//   VOICE (IDENT)         0/1 voice ident (stored only)
//   IDENTTG (VOICETG)     TG of the voice ident (stored only)
//   LANG                  announcement language, e.g. en_GB (stored only)
//   SINGLE                0/1 single-TG mode
//   KEY                   the client's options key (latched by Subscriptions)
//   UserLink              ignored, without a warning
//
// Static TGs must be user-activatable (route::IsUserActivatableTg) and not reserved (0-5, 9,
// 9990-9999); the DIAL TG must be dialable (route::IsDialableTg). Other values are dropped with a
// warning, on both timeslots (FreeDMR's quirk of still applying a reserved TS1 TG is not copied).
// Unknown keys, entries without '=' and malformed numbers are warnings too.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace dmrswitch::cp {

// Longest options string accepted (bytes, before stripping). RPTO bodies are a few hundred bytes.
inline constexpr size_t kMaxOptionsBytes = 1024;
// Most static TGs one options string may set per timeslot; more are dropped with a warning.
inline constexpr size_t kMaxOptionStaticsPerSlot = 64;
// Longest KEY and LANG values accepted; longer ones are dropped with a warning.
inline constexpr size_t kMaxOptionKeyBytes = 64;
inline constexpr size_t kMaxOptionLangBytes = 16;

struct ClientOptions {
  // Static TGs by timeslot index (route::kTs1, route::kTs2), sorted, without duplicates.
  std::array<std::optional<std::vector<uint32_t>>, 2> statics;
  std::optional<uint32_t> dial;           // 0 = no default link
  std::optional<uint32_t> timer_minutes;  // 0 = user-activated TGs never expire
  std::optional<bool> voice;
  std::optional<uint32_t> ident_tg;
  std::optional<std::string> lang;
  std::optional<bool> single;
  std::optional<std::string> key;
  std::vector<std::string> warnings;  // one sentence each, naming the entry
};

// Fails (InvalidArgument) only when `text` is longer than kMaxOptionsBytes.
absl::StatusOr<ClientOptions> ParseOptions(std::string_view text);

}  // namespace dmrswitch::cp
