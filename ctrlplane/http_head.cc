#include "ctrlplane/http_head.h"

#include <cstdint>

#include "absl/strings/ascii.h"

namespace dmrswitch::cp {
namespace {

// RFC 9110 §5.6.2 tchar.
bool IsTokenChar(char c) {
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// A field value's bytes: visible ASCII, obs-text, SP and HTAB (RFC 9110 §5.5). No CR, LF, NUL or
// other controls.
bool IsFieldValue(std::string_view s) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 && c != '\t') return false;
    if (c == 0x7f) return false;
  }
  return true;
}

// (Debian's Abseil has its own string_view, so these two are written out here.)
bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (absl::ascii_tolower(static_cast<unsigned char>(a[i])) !=
        absl::ascii_tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// The parts of `s` between `sep`s, empty ones included.
std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    const size_t at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The next line of `*rest` (without its CRLF or LF); false when `*rest` holds no line end or the
// line holds a bare CR.
bool NextLine(std::string_view* rest, std::string_view* line) {
  const size_t nl = rest->find('\n');
  if (nl == std::string_view::npos) return false;
  std::string_view l = rest->substr(0, nl);
  if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  rest->remove_prefix(nl + 1);
  if (l.find('\r') != std::string_view::npos) return false;
  *line = l;
  return true;
}

}  // namespace

size_t HttpHeadLength(std::string_view buf) {
  size_t start = 0;
  return HttpHeadLength(buf, &start);
}

size_t HttpHeadLength(std::string_view buf, size_t* line_start) {
  size_t start = *line_start;
  while (true) {
    const size_t nl = buf.find('\n', start);
    if (nl == std::string_view::npos) {
      *line_start = start;
      return 0;
    }
    const size_t len = nl - start;
    if (len == 0 || (len == 1 && buf[start] == '\r')) {
      if (start != 0) return nl + 1;
      *line_start = 0;  // an empty first line is no head (the server drops those first)
      return 0;
    }
    start = nl + 1;
  }
}

bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = HexValue(in[i + 1]);
      const int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      const char d = static_cast<char>(hi * 16 + lo);
      if (d == '\0') return false;
      out->push_back(d);
      i += 2;
    } else if (c == '\0') {
      return false;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

int ParseHttpHead(std::string_view head, const HttpLimits& limits, HttpHead* out) {
  *out = HttpHead();
  if (head.size() > limits.max_head_bytes) return 431;
  std::string_view rest = head;
  std::string_view line;
  if (!NextLine(&rest, &line)) return 400;

  // request-line = method SP request-target SP HTTP-version (single spaces).
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return 400;
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return 400;
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method) || method.size() > 16) return 400;
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      !absl::ascii_isdigit(static_cast<unsigned char>(version[5])) ||
      !absl::ascii_isdigit(static_cast<unsigned char>(version[7]))) {
    return 400;
  }
  if (version[5] != '1') return 505;
  out->minor = version[7] - '0';
  if (target.size() > limits.max_target_bytes) return 414;
  if (target.empty() || target.front() != '/') return 400;  // origin-form only
  for (char ch : target) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f) return 400;
  }
  out->method = std::string(method);
  out->target = std::string(target);
  const size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  if (const size_t hash = path.find('#'); hash != std::string_view::npos) return 400;
  if (!PercentDecode(path, /*plus_is_space=*/false, &out->path)) return 400;
  if (q != std::string_view::npos) {
    std::string_view query = target.substr(q + 1);
    if (const size_t hash = query.find('#'); hash != std::string_view::npos) return 400;
    for (std::string_view pair : Split(query, '&')) {
      if (pair.empty()) continue;
      const size_t eq = pair.find('=');
      std::string k;
      std::string v;
      if (!PercentDecode(pair.substr(0, eq), true, &k)) return 400;
      if (eq != std::string_view::npos && !PercentDecode(pair.substr(eq + 1), true, &v)) {
        return 400;
      }
      out->query.emplace_back(std::move(k), std::move(v));
    }
  }

  bool have_length = false;
  bool chunked = false;
  bool close = false;
  bool keep_alive = false;
  while (true) {
    if (!NextLine(&rest, &line)) return 400;
    if (line.empty()) break;
    if (out->fields.size() >= limits.max_fields) return 431;
    if (line.front() == ' ' || line.front() == '\t') return 400;  // obs-fold
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return 400;
    const std::string_view name = line.substr(0, colon);  // no space before the colon
    const std::string_view value = TrimOws(line.substr(colon + 1));
    if (!IsToken(name) || !IsFieldValue(value)) return 400;
    if (EqualsIgnoreCase(name, "Content-Length")) {
      size_t n = 0;
      if (value.empty() || value.size() > 18) return value.empty() ? 400 : 413;
      for (char c : value) {
        if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return 400;
        n = n * 10 + static_cast<size_t>(c - '0');
      }
      // Two different lengths are a smuggling attempt, not a choice to make.
      if (have_length && n != out->content_length) return 400;
      have_length = true;
      out->content_length = n;
    } else if (EqualsIgnoreCase(name, "Transfer-Encoding")) {
      chunked = true;
    } else if (EqualsIgnoreCase(name, "Connection")) {
      for (std::string_view token : Split(value, ',')) {
        token = TrimOws(token);
        if (EqualsIgnoreCase(token, "close")) close = true;
        if (EqualsIgnoreCase(token, "keep-alive")) keep_alive = true;
      }
    } else if (EqualsIgnoreCase(name, "Expect")) {
      if (!EqualsIgnoreCase(value, "100-continue")) return 417;
      out->expect_continue = true;
    }
    out->fields.emplace_back(std::string(name), std::string(value));
  }
  if (!rest.empty()) return 400;  // bytes after the blank line are not this head's
  if (chunked) return have_length ? 400 : 411;
  if (out->content_length > limits.max_body_bytes) return 413;
  out->keep_alive = out->minor >= 1 ? !close : (keep_alive && !close);
  return 0;
}

}  // namespace dmrswitch::cp
