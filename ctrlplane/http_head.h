// HttpHead: one HTTP/1.x request head (the request line and the header fields, RFC 9112 §2-3,
// §5), parsed from bytes under the bounds that `[report] http` keeps. No sockets and no clock:
// HttpServer reads and times, this decides — so it is tested and fuzzed on its own.
//
// Deliberately narrow: origin-form targets only, no obs-fold, no request bodies without a
// Content-Length (a chunked upload is answered 411), one Content-Length. Anything outside is an
// error status for the server to answer before it closes the connection.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dmrswitch::cp {

struct HttpLimits {
  size_t max_head_bytes = 8192;  // request line + fields + blank line (431 beyond)
  size_t max_target_bytes = 2048;
  size_t max_fields = 64;
  size_t max_body_bytes = 4096;  // Content-Length beyond: 413
};

struct HttpHead {
  std::string method;                                       // as sent (methods are case-sensitive)
  std::string target;                                       // as sent
  std::string path;                                         // the target's path, percent-decoded
  std::vector<std::pair<std::string, std::string>> query;   // decoded, in order
  std::vector<std::pair<std::string, std::string>> fields;  // values trimmed, in order
  int minor = 1;                                            // HTTP/1.minor
  size_t content_length = 0;
  bool keep_alive = true;  // HTTP/1.1 unless "Connection: close"; 1.0 only with "keep-alive"
  bool expect_continue = false;
};

// The length of the head at the start of `buf`, through its blank line; 0 while incomplete.
// Lines end in CRLF or a bare LF (RFC 9112 §2.2).
size_t HttpHeadLength(std::string_view buf);
// The same, resuming at `*line_start` (the start of a line of `buf`, 0 at first): a server that
// reads a head in pieces scans each byte once. While incomplete, `*line_start` is left at the
// start of the last, unfinished line.
size_t HttpHeadLength(std::string_view buf, size_t* line_start);

// Parses a complete head (HttpHeadLength bytes). Returns 0 with `*out` filled, or the status to
// answer: 400 malformed, 411 a body without Content-Length, 413 a body over the limit, 414 a
// target over the limit, 417 an unknown expectation, 431 too many fields, 505 not HTTP/1.x.
int ParseHttpHead(std::string_view head, const HttpLimits& limits, HttpHead* out);

// Percent-decoding of a path (`plus_is_space` false) or a query component (true). False on a
// malformed escape or a NUL (sent or decoded).
bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out);

}  // namespace dmrswitch::cp
