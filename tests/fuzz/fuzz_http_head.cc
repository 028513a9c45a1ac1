// Fuzzes the request-head parser of `[report] http` (ctrlplane/http_head.h) on an exact-size
// heap copy of the input: a head found in pieces is the head found whole; whatever the parser
// accepts must keep the bounds it was given — a token method, an origin-form target within the
// limit, a decoded path without NUL, at most `max_fields` fields of clean bytes, a body length
// within the limit — and a refusal must be one of the statuses it documents.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

#include "ctrlplane/http_head.h"

namespace {

namespace cp = dmrswitch::cp;

void Check(bool ok) {
  if (!ok) std::abort();
}

bool Clean(std::string_view s) {
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

void ParseWith(std::string_view head, const cp::HttpLimits& limits) {
  cp::HttpHead h;
  const int status = cp::ParseHttpHead(head, limits, &h);
  if (status != 0) {
    Check(status == 400 || status == 411 || status == 413 || status == 414 || status == 417 ||
          status == 431 || status == 505);
    return;
  }
  Check(head.size() <= limits.max_head_bytes);
  Check(!h.method.empty() && h.method.size() <= 16 && Clean(h.method));
  Check(!h.target.empty() && h.target.front() == '/' && h.target.size() <= limits.max_target_bytes);
  Check(h.path.find('\0') == std::string::npos);
  Check(h.fields.size() <= limits.max_fields);
  for (const auto& [k, v] : h.fields) Check(!k.empty() && Clean(k) && Clean(v));
  for (const auto& [k, v] : h.query)
    Check(k.find('\0') == std::string::npos && v.find('\0') == std::string::npos);
  Check(h.content_length <= limits.max_body_bytes);
  Check(h.minor >= 0 && h.minor <= 9);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<char[]> copy(new char[size == 0 ? 1 : size]);
  if (size != 0) std::memcpy(copy.get(), data, size);
  const std::string_view in(copy.get(), size);

  const size_t length = cp::HttpHeadLength(in);
  Check(length <= size);
  // Read in pieces (as the server reads a slow sender), resuming each scan: the same answer.
  size_t line_start = 0;
  size_t pieced = 0;
  for (size_t end = 0; end <= size && pieced == 0; end += 1 + (end % 7)) {
    pieced = cp::HttpHeadLength(in.substr(0, std::min(end, size)), &line_start);
    Check(line_start <= std::min(end, size));
    if (end >= size) break;
  }
  if (pieced == 0) pieced = cp::HttpHeadLength(in, &line_start);
  Check(pieced == length);
  if (length != 0) {
    ParseWith(in.substr(0, length), cp::HttpLimits());
    cp::HttpLimits tight;
    tight.max_head_bytes = 64;
    tight.max_target_bytes = 16;
    tight.max_fields = 2;
    tight.max_body_bytes = 8;
    ParseWith(in.substr(0, length), tight);
  }
  std::string decoded;
  if (cp::PercentDecode(in, size % 2 == 0, &decoded)) {
    Check(decoded.size() <= size && decoded.find('\0') == std::string::npos);
  }
  return 0;
}
