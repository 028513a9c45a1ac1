#include "dataplane/proto/talker_alias.h"

namespace dmrswitch::proto::dmr {
namespace {

// Printable code points as UTF-8; controls, surrogates and out-of-range values as '?'.
void AppendPrintable(uint32_t cp, std::string* out) {
  if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) || (cp >= 0xD800 && cp <= 0xDFFF) ||
      cp > 0x10FFFF) {
    out->push_back('?');
  } else if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// One UTF-8 sequence at data[*i] (bounded by `end`): the code point, or 0xFFFFFFFF for a
// malformed one (one byte consumed), or nullopt when the sequence runs past `end`.
std::optional<uint32_t> NextUtf8(std::span<const uint8_t> data, size_t* i, size_t end) {
  constexpr uint32_t kBad = 0xFFFFFFFF;
  const uint8_t lead = data[*i];
  size_t extra = 0;
  uint32_t cp = 0, min = 0;
  if (lead < 0x80) {
    ++*i;
    return lead;
  } else if ((lead & 0xE0) == 0xC0) {
    extra = 1, cp = lead & 0x1F, min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    extra = 2, cp = lead & 0x0F, min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    extra = 3, cp = lead & 0x07, min = 0x10000;
  } else {
    ++*i;
    return kBad;
  }
  if (*i + extra >= end) return std::nullopt;
  for (size_t k = 1; k <= extra; ++k) {
    const uint8_t b = data[*i + k];
    if ((b & 0xC0) != 0x80) {
      ++*i;
      return kBad;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  *i += extra + 1;
  return cp < min ? kBad : cp;  // overlong forms are malformed
}

}  // namespace

std::optional<std::string> DecodeTalkerAlias(
    std::span<const uint8_t, kTalkerAliasBlockBytes * kTalkerAliasBlocks> blocks, uint8_t have) {
  if ((have & 1u) == 0) return std::nullopt;
  const auto format = static_cast<TalkerAliasFormat>(blocks[0] >> 6);
  const unsigned length = (blocks[0] >> 1) & 0x1Fu;
  // Only the blocks that follow the header without a gap can be read.
  size_t in = 1;
  while (in < kTalkerAliasBlocks && ((have >> in) & 1u) != 0) ++in;
  const size_t end = in * kTalkerAliasBlockBytes;
  std::string out;
  unsigned chars = 0;
  bool terminated = false;  // a NUL ends an alias early (radios pad with NULs)
  auto put = [&](uint32_t cp) {
    if (cp == 0) {
      terminated = true;
    } else {
      AppendPrintable(cp, &out);
      ++chars;
    }
  };
  switch (format) {
    case TalkerAliasFormat::k7Bit: {
      size_t bit = 7;  // after format and length: bit 0 of byte 0 (bit positions from its MSB)
      while (!terminated && chars < length && bit + 7 <= end * 8) {
        uint32_t c = 0;
        for (int k = 0; k < 7; ++k, ++bit) c = (c << 1) | ((blocks[bit / 8] >> (7 - bit % 8)) & 1u);
        put(c);
      }
      break;
    }
    case TalkerAliasFormat::kIso8859:
      for (size_t i = 1; !terminated && chars < length && i < end; ++i) put(blocks[i]);
      break;
    case TalkerAliasFormat::kUtf8: {
      size_t i = 1;
      while (!terminated && chars < length && i < end) {
        const std::optional<uint32_t> cp = NextUtf8(blocks, &i, end);
        if (!cp) break;  // the rest of the sequence is in a block not received
        put(*cp);
      }
      break;
    }
    case TalkerAliasFormat::kUtf16: {
      size_t i = 1;
      while (!terminated && chars < length && i + 1 < end) {
        uint32_t u = (uint32_t{blocks[i]} << 8) | blocks[i + 1];
        if (u >= 0xD800 && u < 0xDC00) {
          if (i + 3 >= end) break;
          const uint32_t low = (uint32_t{blocks[i + 2]} << 8) | blocks[i + 3];
          if (low >= 0xDC00 && low < 0xE000) {
            u = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00);
            i += 2;
          }
        }
        i += 2;
        put(u);
      }
      break;
    }
  }
  // Complete: the length is reached, a NUL ended it, or every block is in (a length the blocks
  // cannot hold is read as far as they go).
  if (!terminated && chars < length && in < kTalkerAliasBlocks) return std::nullopt;
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.empty()) return std::nullopt;
  return out;
}

std::string TalkerAliasCallsign(const std::string& alias) {
  const size_t start = alias.find_first_not_of(' ');
  if (start == std::string::npos) return "";
  return alias.substr(start, alias.find(' ', start) - start);
}

}  // namespace dmrswitch::proto::dmr
