// HttpHead: the request-head parser of `[report] http`, on its own (no sockets).
#include "ctrlplane/http_head.h"

#include <string>

#include "gtest/gtest.h"

namespace dmrswitch::cp {
namespace {

int Parse(const std::string& head, HttpHead* out, HttpLimits limits = HttpLimits()) {
  return ParseHttpHead(head, limits, out);
}

TEST(HttpHeadTest, LengthEndsAtTheBlankLine) {
  EXPECT_EQ(HttpHeadLength("GET / HTTP/1.1\r\nHost: x\r\n"), 0u);
  EXPECT_EQ(HttpHeadLength("GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY"), 27u);
  EXPECT_EQ(HttpHeadLength("GET / HTTP/1.1\nHost: x\n\nBODY"), 24u);
  EXPECT_EQ(HttpHeadLength("GET / HTTP/1.1\r\n\r\n"), 18u);
  EXPECT_EQ(HttpHeadLength(""), 0u);
  EXPECT_EQ(HttpHeadLength("no line end at all"), 0u);
}

TEST(HttpHeadTest, ParsesTheRequestLineFieldsAndQuery) {
  HttpHead h;
  ASSERT_EQ(Parse("GET /api/v1/lastheard?tg=91&id=3120001&x=a%20b+c&flag HTTP/1.1\r\n"
                  "Host: hub\r\nLast-Event-ID:  1700-5 \r\nX-Empty:\r\n\r\n",
                  &h),
            0);
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.path, "/api/v1/lastheard");
  EXPECT_EQ(h.target, "/api/v1/lastheard?tg=91&id=3120001&x=a%20b+c&flag");
  ASSERT_EQ(h.query.size(), 4u);
  EXPECT_EQ(h.query[0], (std::pair<std::string, std::string>{"tg", "91"}));
  EXPECT_EQ(h.query[2], (std::pair<std::string, std::string>{"x", "a b c"}));
  EXPECT_EQ(h.query[3], (std::pair<std::string, std::string>{"flag", ""}));
  ASSERT_EQ(h.fields.size(), 3u);
  EXPECT_EQ(h.fields[1], (std::pair<std::string, std::string>{"Last-Event-ID", "1700-5"}));
  EXPECT_EQ(h.fields[2].second, "");
  EXPECT_EQ(h.minor, 1);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_EQ(h.content_length, 0u);
}

TEST(HttpHeadTest, PathIsPercentDecodedButNeverToNul) {
  HttpHead h;
  ASSERT_EQ(Parse("GET /dash%62oard/ HTTP/1.1\r\n\r\n", &h), 0);
  EXPECT_EQ(h.path, "/dashboard/");
  EXPECT_EQ(Parse("GET /a%00b HTTP/1.1\r\n\r\n", &h), 400);
  EXPECT_EQ(Parse("GET /a%zz HTTP/1.1\r\n\r\n", &h), 400);
  EXPECT_EQ(Parse("GET /a%4 HTTP/1.1\r\n\r\n", &h), 400);
  EXPECT_EQ(Parse("GET /?q=%0 HTTP/1.1\r\n\r\n", &h), 400);
}

TEST(HttpHeadTest, ConnectionAndVersion) {
  HttpHead h;
  ASSERT_EQ(Parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &h), 0);
  EXPECT_FALSE(h.keep_alive);
  ASSERT_EQ(Parse("GET / HTTP/1.0\r\n\r\n", &h), 0);
  EXPECT_FALSE(h.keep_alive);
  EXPECT_EQ(h.minor, 0);
  ASSERT_EQ(Parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &h), 0);
  EXPECT_TRUE(h.keep_alive);
  ASSERT_EQ(Parse("GET / HTTP/1.1\r\nconnection: upgrade, CLOSE\r\n\r\n", &h), 0);
  EXPECT_FALSE(h.keep_alive);
  EXPECT_EQ(Parse("GET / HTTP/2.0\r\n\r\n", &h), 505);
  EXPECT_EQ(Parse("GET / HTTP/1.10\r\n\r\n", &h), 400);
  EXPECT_EQ(Parse("GET / http/1.1\r\n\r\n", &h), 400);
}

TEST(HttpHeadTest, BodiesNeedOneBoundedContentLength) {
  HttpHead h;
  ASSERT_EQ(Parse("POST /x HTTP/1.1\r\nContent-Length: 4096\r\n\r\n", &h), 0);
  EXPECT_EQ(h.content_length, 4096u);
  ASSERT_EQ(Parse("POST /x HTTP/1.1\r\nContent-Length: 12\r\ncontent-length: 12\r\n\r\n", &h), 0);
  EXPECT_EQ(Parse("POST /x HTTP/1.1\r\nContent-Length: 4097\r\n\r\n", &h), 413);
  EXPECT_EQ(Parse("POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", &h), 413);
  EXPECT_EQ(Parse("POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", &h), 400);
  EXPECT_EQ(Parse("POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", &h), 400);
  EXPECT_EQ(Parse("POST /x HTTP/1.1\r\nContent-Length: 1,1\r\n\r\n", &h), 400);
  EXPECT_EQ(Parse("POST /x HTTP/1.1\r\nContent-Length:\r\n\r\n", &h), 400);
  EXPECT_EQ(Parse("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &h), 411);
  EXPECT_EQ(
      Parse("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", &h),
      400);
  ASSERT_EQ(Parse("PUT /x HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n", &h), 0);
  EXPECT_TRUE(h.expect_continue);
  EXPECT_EQ(Parse("PUT /x HTTP/1.1\r\nExpect: something-else\r\n\r\n", &h), 417);
}

TEST(HttpHeadTest, MalformedHeadsAre400) {
  HttpHead h;
  for (const char* bad : {
           "GET  / HTTP/1.1\r\n\r\n",               // two spaces
           "GET / HTTP/1.1 x\r\n\r\n",              // three parts
           "GET http://evil/ HTTP/1.1\r\n\r\n",     // absolute-form
           "GET * HTTP/1.1\r\n\r\n",                // asterisk-form
           "G(T / HTTP/1.1\r\n\r\n",                // method not a token
           "GET /a#frag HTTP/1.1\r\n\r\n",          // fragment
           "GET /\x7f HTTP/1.1\r\n\r\n",            // DEL in the target
           "GET / HTTP/1.1\r\nNo-Colon\r\n\r\n",    // field without a colon
           "GET / HTTP/1.1\r\nName : v\r\n\r\n",    // space before the colon
           "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",  // obs-fold
           "GET / HTTP/1.1\r\nA: b\x01\r\n\r\n",    // control byte in a value
           "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",     // bare CR
           "GET / HTTP/1.1\r\n\r\nX",               // bytes after the head
       }) {
    EXPECT_EQ(Parse(bad, &h), 400) << bad;
  }
}

TEST(HttpHeadTest, BoundsAreKept) {
  HttpLimits limits;
  limits.max_head_bytes = 128;
  limits.max_target_bytes = 32;
  limits.max_fields = 2;
  HttpHead h;
  EXPECT_EQ(Parse("GET /" + std::string(31, 'a') + " HTTP/1.1\r\n\r\n", &h, limits), 0);
  EXPECT_EQ(Parse("GET /" + std::string(32, 'a') + " HTTP/1.1\r\n\r\n", &h, limits), 414);
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n", &h, limits), 0);
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", &h, limits), 431);
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nA: " + std::string(120, 'x') + "\r\n\r\n", &h, limits), 431);
  EXPECT_EQ(Parse("GETTINGVERYLONGMETHOD / HTTP/1.1\r\n\r\n", &h, limits), 400);
}

}  // namespace
}  // namespace dmrswitch::cp
