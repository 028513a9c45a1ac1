// Talker alias (ETSI TS 102 361-2 §7.2.18; FLCO 4 header, 5..7 blocks 1..3): the text a radio
// sends about its user in the embedded LC of a call, which MMDVMHost forwards as DMRA side
// packets (PROTOCOL.md §1.7), the 7 bytes after FLCO/FID of each block.
//
// Header byte 0: format (bits 7..6: 0 7-bit, 1 ISO 8859-1, 2 UTF-8, 3 UTF-16BE), length in
// characters (bits 5..1) and the first data bit (bit 0, used by the 7-bit format only). The data
// continues in header bytes 1..6 and in blocks 1..3 (7 bytes each).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace dmrswitch::proto::dmr {

inline constexpr size_t kTalkerAliasBlockBytes = 7;
inline constexpr size_t kTalkerAliasBlocks = 4;  // the header and blocks 1..3

enum class TalkerAliasFormat : uint8_t { k7Bit = 0, kIso8859 = 1, kUtf8 = 2, kUtf16 = 3 };

// The alias as UTF-8 once the header and the blocks its length needs have arrived (`have`: bit
// b set = block b of `blocks`, block 0 being the header), else nullopt. Characters that are not
// printable (controls, malformed UTF-8 or UTF-16) become '?'; trailing spaces and NULs are
// dropped, so an alias padded by the radio compares equal to the unpadded one.
std::optional<std::string> DecodeTalkerAlias(
    std::span<const uint8_t, kTalkerAliasBlockBytes * kTalkerAliasBlocks> blocks, uint8_t have);

// The first word of an alias ("DL1ABC Hans" → "DL1ABC"): what a radio user's callsign usually is.
std::string TalkerAliasCallsign(const std::string& alias);

}  // namespace dmrswitch::proto::dmr
