// SPDX-License-Identifier: Apache-2.0
#include "compare/route_template.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace shadowtap::compare {
namespace {

struct Case {
  const char *method;
  const char *target;
  const char *route;
};

class RouteOfTable : public ::testing::TestWithParam<Case> {};

TEST_P(RouteOfTable, Templates) {
  const Case &c = GetParam();
  EXPECT_EQ(routeOf(c.method, c.target), c.route) << c.method << " " << c.target;
}

INSTANTIATE_TEST_SUITE_P(
    Identifiers, RouteOfTable,
    ::testing::Values(Case{"GET", "/books/17/reviews?x=1", "GET /books/{id}/reviews"},
                      Case{"GET", "/books/42/reviews", "GET /books/{id}/reviews"},
                      Case{"GET", "/books/0", "GET /books/{id}"},
                      Case{"DELETE", "/users/123e4567-e89b-12d3-a456-426614174000", "DELETE /users/{id}"},
                      Case{"GET", "/users/123E4567-E89B-12D3-A456-426614174000/x", "GET /users/{id}/x"},
                      Case{"GET", "/objects/507f1f77bcf86cd799439011", "GET /objects/{id}"}, // 24-hex ObjectId
                      Case{"GET", "/commits/abc12345", "GET /commits/{id}"},
                      Case{"GET", "/sessions/k7Qz9xw2Lm4Pq8Rt", "GET /sessions/{id}"}, // 16 mixed
                      Case{"GET", "/t/eyJhbGciOiJIUzI1NiJ9-_abc", "GET /t/{id}"},      // base64url
                      Case{"GET", "/files/17.json", "GET /files/{id}.json"},
                      Case{"GET", "/t/aGVsbG8gd29ybGQgdGhpcyBpcyBsb25nZXI", "GET /t/{id}"}, // 36 base64, no digit
                      Case{"GET", "/days/2024-01-05", "GET /days/{id}"},
                      Case{"GET", "/tel/555_123_4567", "GET /tel/{id}"},
                      Case{"GET", "/a/1/b/2/c/3", "GET /a/{id}/b/{id}/c/{id}"}));

INSTANTIATE_TEST_SUITE_P(
    Words, RouteOfTable,
    ::testing::Values(Case{"GET", "/api/v2/books", "GET /api/v2/books"}, Case{"GET", "/deadbeef", "GET /deadbeef"},
                      Case{"GET", "/2fa/setup", "GET /2fa/setup"}, Case{"GET", "/v1.2/x", "GET /v1.2/x"},
                      Case{"GET", "/docs/1.2", "GET /docs/1.2"}, // not an id + extension
                      Case{"GET", "/internationalization", "GET /internationalization"},
                      Case{"GET", "/blog/release-notes-2024-edition-v2", "GET /blog/release-notes-2024-edition-v2"},
                      Case{"GET", "/abcdef1", "GET /abcdef1"}, // hex, but shorter than 8
                      Case{"GET", "/a-very-long-lower-case-article-slug-about-things",
                           "GET /a-very-long-lower-case-article-slug-about-things"},
                      Case{"GET", "/v1-2", "GET /v1-2"}, Case{"GET", "/2024-1", "GET /2024-1"}));

INSTANTIATE_TEST_SUITE_P(TargetForms, RouteOfTable,
                         ::testing::Values(Case{"GET", "/", "GET /"}, Case{"GET", "", "GET /"},
                                           Case{"GET", "?q=1", "GET /"}, Case{"GET", "/a#frag", "GET /a"},
                                           Case{"GET", "/a/", "GET /a/"}, Case{"GET", "//a", "GET //a"},
                                           Case{"GET", "http://example.com/books/9?x", "GET /books/{id}"},
                                           Case{"GET", "https://user@example.com:8443", "GET /"},
                                           Case{"GET", "HTTP://example.com?x=/y", "GET /"},
                                           Case{"OPTIONS", "*", "OPTIONS *"},
                                           Case{"CONNECT", "example.com:443", "CONNECT example.com:443"},
                                           Case{"CONNECT", "/odd/7", "CONNECT /odd/{id}"},
                                           Case{"GET", "books/7", "GET /books/{id}"}, Case{"get", "/x", "get /x"}));

TEST(RouteOf, MethodIsSanitizedAndBounded) {
  EXPECT_EQ(routeOf("", "/"), "- /");
  EXPECT_EQ(routeOf("G T\n", "/"), "G_T_ /");
  EXPECT_EQ(routeOf("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "/"), "ABCDEFGHIJKLMNOP /");
}

TEST(RouteOf, UnsafeBytesArePercentEncoded) {
  EXPECT_EQ(routeOf("GET", "/a b"), "GET /a%20b");
  EXPECT_EQ(routeOf("GET", std::string("/a\nb\0c", 6)), "GET /a%0Ab%00c");
  EXPECT_EQ(routeOf("GET", "/caf\xc3\xa9"), "GET /caf%C3%A9");
  EXPECT_EQ(routeOf("GET", "/q\"\\"), "GET /q%22%5C");
  // Literal braces cannot be mistaken for our markers.
  EXPECT_EQ(routeOf("GET", "/{id}"), "GET /%7Bid%7D");
}

TEST(RouteOf, ManySegmentsEndWithTheMarker) {
  std::string target;
  for (int i = 0; i < 20; i++)
    target += "/s" + std::string(1, char('a' + i));
  // 15 segments kept, the 16th is the marker.
  EXPECT_EQ(routeOf("GET", target), "GET /sa/sb/sc/sd/se/sf/sg/sh/si/sj/sk/sl/sm/sn/so/{...}");
  // Exactly 16 segments: nothing dropped.
  std::string sixteen;
  for (int i = 0; i < 16; i++)
    sixteen += "/x";
  EXPECT_EQ(routeOf("GET", sixteen), "GET " + sixteen);
}

TEST(RouteOf, LongPathIsCutWithTheMarker) {
  std::string longWord(300, 'w');
  std::string route = routeOf("GET", "/" + longWord);
  EXPECT_EQ(route, "GET /" + std::string(194, 'w') + "{...}");
  EXPECT_EQ(route.size(), 4u + 200u);

  // Several medium segments: the cut still leaves the marker in place.
  std::string target;
  for (int i = 0; i < 5; i++)
    target += "/" + std::string(60, char('a' + i));
  route = routeOf("GET", target);
  EXPECT_EQ(route.size(), 4u + 200u);
  EXPECT_TRUE(route.ends_with("{...}")) << route;
  EXPECT_TRUE(route.starts_with("GET /" + std::string(60, 'a') + "/")) << route;
}

TEST(RouteOf, CutDoesNotSplitAnEncodedByte) {
  // 194 characters fit before the marker.
  EXPECT_EQ(routeOf("GET", "/" + std::string(193, 'a') + "\n\n\n"), "GET /" + std::string(193, 'a') + "{...}");
  EXPECT_EQ(routeOf("GET", "/" + std::string(192, 'a') + "\n\n\n"), "GET /" + std::string(192, 'a') + "{...}");
  EXPECT_EQ(routeOf("GET", "/" + std::string(191, 'a') + "\n\n\n"), "GET /" + std::string(191, 'a') + "%0A{...}");
}

TEST(RouteOf, LongConnectAuthorityIsBounded) {
  std::string route = routeOf("CONNECT", std::string(500, 'h') + ":443");
  EXPECT_EQ(route.size(), 8u + 200u);
  EXPECT_TRUE(route.ends_with("{...}"));
}

TEST(RouteOf, OutputIsAlwaysPrintableAsciiAndBounded) {
  // A cheap deterministic fuzz: random bytes in method and target.
  uint32_t seed = 12345;
  auto next = [&] { return seed = seed * 1103515245u + 12345u, (seed >> 16) & 0xff; };
  for (int round = 0; round < 2000; round++) {
    std::string method, target;
    for (unsigned i = 0, n = next() % 24; i < n; i++)
      method += char(next());
    for (unsigned i = 0, n = next() * 2; i < n; i++) {
      unsigned b = next();
      target += b % 5 == 0 ? '/' : char(b);
    }
    std::string route = routeOf(method, target);
    ASSERT_LE(route.size(), 16u + 1u + 200u);
    for (char c : route)
      ASSERT_TRUE(c >= 0x20 && c < 0x7f) << route;
    ASSERT_EQ(std::count(route.begin(), route.end(), ' '), 1) << route;
    ASSERT_EQ(route.find_first_of("\"\\"), std::string::npos) << route;
  }
}

} // namespace
} // namespace shadowtap::compare
