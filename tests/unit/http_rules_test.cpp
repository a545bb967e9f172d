// SPDX-License-Identifier: Apache-2.0
#include "common/error.h"
#include "http/request_rules.h"

#include <chrono>
#include <gtest/gtest.h>
#include <vector>

using namespace shadowtap;
using namespace shadowtap::http;

namespace {

MessageHead request(std::string method, std::string target, std::vector<Header> headers) {
  MessageHead head;
  head.method = std::move(method);
  head.target = std::move(target);
  head.headers = std::move(headers);
  return head;
}

MessageHead get(std::vector<Header> headers) { return request("GET", "/books/7?x=1", std::move(headers)); }

// The message of the UsageError `f` throws ("" if none).
template <typename F> std::string errorOf(F f) {
  try {
    f();
  } catch (const UsageError &e) {
    return e.what();
  }
  return "";
}

RequestMatch exclusion(const char *text) { return headerExclusion(parseHeaderMatch(text, "--exclude-header")); }

} // namespace

// --- StringMatch -----------------------------------------------------------------------------------

// Exact is whole and case-sensitive; prefix is a case-sensitive prefix; regex (RE2 syntax: Perl
// classes, non-capturing groups) must match the whole value, never a search.
TEST(HttpRules, StringMatchKinds) {
  struct Case {
    MatchKind kind;
    const char *pattern;
    std::vector<const char *> match, miss;
  };
  const Case cases[] = {
      {MatchKind::Exact, "GET", {"GET"}, {"get", "GETX", "GE", ""}},
      {MatchKind::Exact, "", {""}, {"x"}},
      {MatchKind::Prefix, "/books", {"/books", "/books/7", "/booksX"}, {"/Books", "/book", ""}},
      {MatchKind::Prefix, "", {"anything", ""}, {}},
      {MatchKind::Regex, "/books/[0-9]+", {"/books/7", "/books/123"}, {"/books/7/reviews", "x/books/7", "/books/"}},
      {MatchKind::Regex, R"(\d+(?:\.\d+)?)", {"12.5", "12"}, {"12."}},
  };
  for (const auto &c : cases) {
    auto m = makeStringMatch(c.kind, c.pattern, "x");
    EXPECT_EQ(static_cast<bool>(m.re), c.kind == MatchKind::Regex) << c.pattern;
    for (const char *value : c.match)
      EXPECT_TRUE(m.matches(value)) << c.pattern << " vs " << value;
    for (const char *value : c.miss)
      EXPECT_FALSE(m.matches(value)) << c.pattern << " vs " << value;
  }
}

TEST(HttpRules, RegexIsCompiledOnceAndSharedByCopies) {
  auto m = makeStringMatch(MatchKind::Regex, "a+", "x");
  StringMatch copy = m;
  EXPECT_EQ(copy.re.get(), m.re.get());
  EXPECT_FALSE(makeStringMatch(MatchKind::Exact, "a+", "x").re);
  // A hand-built regex match without the compiled form still gives the same answer.
  StringMatch byHand;
  byHand.kind = MatchKind::Regex;
  byHand.text = "a+";
  EXPECT_TRUE(byHand.matches("aaa"));
  EXPECT_FALSE(byHand.matches("ab"));
}

TEST(HttpRules, BadRegexNamesWhat) {
  EXPECT_EQ(errorOf([] { makeStringMatch(MatchKind::Regex, "(unclosed", "services[0].http.match[0].uri.regex"); })
                .rfind("services[0].http.match[0].uri.regex: invalid regex '(unclosed': ", 0),
            0u);
  EXPECT_NE(errorOf([] { makeStringMatch(MatchKind::Regex, "[z-a]", "what"); }).find("what: invalid regex"),
            std::string::npos);
  // What RE2 does not do (it could not in linear time) is refused at load, not at match time.
  for (const char *pattern : {"(a)\\1", "a(?=b)", "a(?!b)", "(?<=a)b"})
    EXPECT_NE(errorOf([&] { makeStringMatch(MatchKind::Regex, pattern, "what"); }).find("what: invalid regex"),
              std::string::npos)
        << pattern;
  // Exact/prefix text is never compiled: any text goes.
  EXPECT_NO_THROW(makeStringMatch(MatchKind::Exact, "(unclosed", "x"));
  EXPECT_NO_THROW(makeStringMatch(MatchKind::Prefix, "(unclosed", "x"));
}

// RE2 decides every value in linear time: a long value is matched like a short one, and a
// pattern that makes backtracking engines explode ("(a+)+b": std::regex took minutes on 32 "a"s)
// answers at once.
TEST(HttpRules, RegexIsLinearTimeOnAnyValue) {
  auto m = makeStringMatch(MatchKind::Regex, "(a|b)*c?", "x");
  EXPECT_TRUE(m.matches(std::string(4097, 'a')));
  EXPECT_TRUE(m.matches(std::string(80 * 1024, 'a'))); // the framer's head limit: decided, no crash

  auto evil = makeStringMatch(MatchKind::Regex, "(a+)+b", "x");
  auto started = std::chrono::steady_clock::now();
  for (size_t n : {32, 64, 4096, 80 * 1024})
    EXPECT_FALSE(evil.matches(std::string(n, 'a')));
  EXPECT_TRUE(evil.matches(std::string(80 * 1024, 'a') + "b"));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(1));

  HttpRules rules;
  rules.exclude.push_back(headerExclusion(HeaderMatch{"cookie", makeStringMatch(MatchKind::Regex, ".*secret.*", "x")}));
  EXPECT_EQ(decide(rules, get({{"Cookie", "a=1"}}), 0), Verdict::Mirror);
  EXPECT_EQ(decide(rules, get({{"Cookie", "secret"}}), 0), Verdict::Excluded);
  EXPECT_EQ(decide(rules, get({{"Cookie", std::string(5000, 'a')}}), 0), Verdict::Mirror);
  EXPECT_EQ(decide(rules, get({{"Cookie", std::string(5000, 'a') + "secret"}}), 0), Verdict::Excluded);
}

// Values are bytes, not UTF-8: `.` matches any byte, so a stray non-UTF-8 byte cannot carry an
// excluded value past the rule (the http_stage fuzz target found "a \xb2...MARK" mirrored).
TEST(HttpRules, RegexMatchesBytesNotUtf8) {
  HttpRules rules;
  rules.exclude.push_back(headerExclusion(HeaderMatch{"end-user", makeStringMatch(MatchKind::Regex, ".*bbo.*", "x")}));
  EXPECT_EQ(decide(rules, get({{"end-user", "a \xb2\xb2" "bbo"}}), 0), Verdict::Excluded);
  EXPECT_EQ(decide(rules, get({{"end-user", "\xff"}}), 0), Verdict::Mirror);
  EXPECT_TRUE(makeStringMatch(MatchKind::Regex, "caf\xc3\xa9.", "x").matches("caf\xc3\xa9\x80")); // UTF-8 literal: its bytes
  EXPECT_TRUE(makeStringMatch(MatchKind::Regex, "...", "x").matches("\xc3\xa9!")); // one byte per `.`
}

// A match that cannot be decided (a hand-built regex RE2 refuses) is not mirrored: an exclusion
// excludes, a match entry does not match.
TEST(HttpRules, UndecidableRegexIsNotMirrored) {
  StringMatch refused;
  refused.kind = MatchKind::Regex;
  refused.text = "(a)\\1"; // a backreference: RE2 refuses it
  EXPECT_FALSE(refused.matches("aa"));
  HttpRules rules;
  rules.exclude.push_back(headerExclusion(HeaderMatch{"x-id", refused}));
  EXPECT_EQ(decide(rules, get({{"x-id", "aa"}}), 0), Verdict::Excluded);
  EXPECT_EQ(decide(rules, get({{"other", "aa"}}), 0), Verdict::Mirror); // no such header: a decided no
  // ...and a decided "no" on another part still rules the entry out.
  rules.exclude[0].method = makeStringMatch(MatchKind::Exact, "POST", "x");
  EXPECT_EQ(decide(rules, get({{"x-id", "aa"}}), 0), Verdict::Mirror);

  HttpRules only;
  only.match.push_back(headerExclusion(HeaderMatch{"x-id", refused}));
  EXPECT_EQ(decide(only, get({{"x-id", "aa"}}), 0), Verdict::NotMatched);
  // One header of the name undecided, another one matching: it matches.
  only.match.push_back(headerExclusion(HeaderMatch{"x-id", makeStringMatch(MatchKind::Regex, "a*", "x")}));
  EXPECT_EQ(decide(only, get({{"x-id", "aa"}}), 0), Verdict::Mirror);
}

// --- HeaderMatch / RequestMatch --------------------------------------------------------------------

TEST(HttpRules, HeaderNamesAreCaseInsensitiveValuesAreNot) {
  HeaderMatch m{"End-User", makeStringMatch(MatchKind::Exact, "bbo", "x")};
  EXPECT_TRUE(m.matches(get({{"end-user", "bbo"}})));
  EXPECT_TRUE(m.matches(get({{"END-USER", "bbo"}})));
  EXPECT_TRUE(m.matches(get({{"End-User", "bbo"}})));
  EXPECT_FALSE(m.matches(get({{"end-user", "BBO"}})));
  EXPECT_FALSE(m.matches(get({{"end-users", "bbo"}})));
  EXPECT_FALSE(m.matches(get({})));
}

TEST(HttpRules, AnyHeaderOfTheNameMayMatch) {
  HeaderMatch m{"x-tag", makeStringMatch(MatchKind::Exact, "b", "x")};
  EXPECT_TRUE(m.matches(get({{"x-tag", "a"}, {"Host", "h"}, {"X-Tag", "b"}})));
  EXPECT_TRUE(m.matches(get({{"x-tag", "b"}, {"x-tag", "a"}})));
  EXPECT_FALSE(m.matches(get({{"x-tag", "a"}, {"x-tag", "c"}})));
  // A prefix on an empty match text: the header is present.
  HeaderMatch present{"x-tag", makeStringMatch(MatchKind::Prefix, "", "x")};
  EXPECT_TRUE(present.matches(get({{"x-tag", ""}})));
  EXPECT_FALSE(present.matches(get({{"x-other", ""}})));
}

TEST(HttpRules, RequestMatchNeedsEveryPart) {
  RequestMatch m;
  EXPECT_TRUE(m.matches(get({}))); // nothing to check
  m.method = makeStringMatch(MatchKind::Exact, "GET", "x");
  m.path = makeStringMatch(MatchKind::Prefix, "/books", "x");
  m.headers.push_back({"x-canary", makeStringMatch(MatchKind::Exact, "1", "x")});
  m.headers.push_back({"x-region", makeStringMatch(MatchKind::Regex, "eu-.*", "x")});
  MessageHead all = get({{"X-Canary", "1"}, {"x-region", "eu-west"}});
  EXPECT_TRUE(m.matches(all));
  MessageHead post = all;
  post.method = "POST";
  EXPECT_FALSE(m.matches(post));
  MessageHead other = all;
  other.target = "/authors/1";
  EXPECT_FALSE(m.matches(other));
  EXPECT_FALSE(m.matches(get({{"X-Canary", "1"}})));                          // one header missing
  EXPECT_FALSE(m.matches(get({{"X-Canary", "2"}, {"x-region", "eu-west"}}))); // one header differs
}

TEST(HttpRules, PathIsMatchedWithoutTheQueryString) {
  RequestMatch m;
  m.path = makeStringMatch(MatchKind::Exact, "/books/7", "x");
  EXPECT_TRUE(m.matches(request("GET", "/books/7?x=1", {})));
  EXPECT_TRUE(m.matches(request("GET", "/books/7", {})));
  EXPECT_FALSE(m.matches(request("GET", "/books/77", {})));
  m.path = makeStringMatch(MatchKind::Regex, "/books/[0-9]+", "x");
  EXPECT_TRUE(m.matches(request("GET", "/books/7?q=/books/x", {})));
}

// --- decide() --------------------------------------------------------------------------------------

TEST(HttpRules, DefaultRulesMirrorEverything) {
  HttpRules rules;
  EXPECT_EQ(decide(rules, get({}), 0), Verdict::Mirror);
  EXPECT_EQ(decide(rules, get({}), 999'999), Verdict::Mirror);
}

TEST(HttpRules, ExclusionComesFirst) {
  HttpRules rules;
  rules.exclude.push_back(exclusion("end-user: bbo"));
  rules.exclude.push_back(exclusion("x-debug: 1"));
  rules.match.push_back(headerExclusion(parseHeaderMatch("end-user: bbo", "test"))); // would match
  rules.requestRatePpm = 0;                                                            // would sample out
  EXPECT_EQ(decide(rules, get({{"End-User", "bbo"}}), 0), Verdict::Excluded);
  EXPECT_EQ(decide(rules, get({{"x-debug", "1"}}), 0), Verdict::Excluded);
  EXPECT_EQ(decide(rules, get({{"end-user", "other"}}), 0), Verdict::NotMatched);
  rules.match.clear();
  EXPECT_EQ(decide(rules, get({{"end-user", "other"}}), 0), Verdict::SampledOut);
}

TEST(HttpRules, MatchListNeedsOneEntry) {
  HttpRules rules;
  RequestMatch books;
  books.path = makeStringMatch(MatchKind::Prefix, "/books", "x");
  RequestMatch posts;
  posts.method = makeStringMatch(MatchKind::Exact, "POST", "x");
  rules.match = {books, posts};
  EXPECT_EQ(decide(rules, request("GET", "/books/1", {}), 0), Verdict::Mirror);
  EXPECT_EQ(decide(rules, request("POST", "/authors", {}), 0), Verdict::Mirror);
  EXPECT_EQ(decide(rules, request("GET", "/authors", {}), 0), Verdict::NotMatched);
  // Not matched comes before the percentage.
  rules.requestRatePpm = 0;
  EXPECT_EQ(decide(rules, request("GET", "/authors", {}), 0), Verdict::NotMatched);
  EXPECT_EQ(decide(rules, request("GET", "/books", {}), 0), Verdict::SampledOut);
}

TEST(HttpRules, PercentBoundaries) {
  HttpRules rules;
  MessageHead head = get({});
  rules.requestRatePpm = 0; // 0%: nothing
  EXPECT_EQ(decide(rules, head, 0), Verdict::SampledOut);
  EXPECT_EQ(decide(rules, head, 999'999), Verdict::SampledOut);
  rules.requestRatePpm = 1'000'000; // 100%: everything
  EXPECT_EQ(decide(rules, head, 0), Verdict::Mirror);
  EXPECT_EQ(decide(rules, head, 999'999), Verdict::Mirror);
  EXPECT_EQ(decide(rules, head, 1'000'000), Verdict::Mirror); // even a draw out of range
  rules.requestRatePpm = 500'000; // 50%: draw < rate
  EXPECT_EQ(decide(rules, head, 0), Verdict::Mirror);
  EXPECT_EQ(decide(rules, head, 499'999), Verdict::Mirror);
  EXPECT_EQ(decide(rules, head, 500'000), Verdict::SampledOut);
  EXPECT_EQ(decide(rules, head, 999'999), Verdict::SampledOut);
  rules.requestRatePpm = 1; // the finest rate: one draw in a million
  EXPECT_EQ(decide(rules, head, 0), Verdict::Mirror);
  EXPECT_EQ(decide(rules, head, 1), Verdict::SampledOut);
  rules.requestRatePpm = 999'999;
  EXPECT_EQ(decide(rules, head, 999'998), Verdict::Mirror);
  EXPECT_EQ(decide(rules, head, 999'999), Verdict::SampledOut);
}

TEST(HttpRules, VerdictNames) {
  EXPECT_STREQ(verdictName(Verdict::Mirror), "mirror");
  EXPECT_STREQ(verdictName(Verdict::Excluded), "excluded");
  EXPECT_STREQ(verdictName(Verdict::NotMatched), "not_matched");
  EXPECT_STREQ(verdictName(Verdict::SampledOut), "sampled_out");
}

// --- shadowHost() ----------------------------------------------------------------------------------

TEST(HttpRules, ShadowHostFollowsEnvoy) {
  EXPECT_EQ(shadowHost("books"), "books-shadow");
  EXPECT_EQ(shadowHost("books:8080"), "books-shadow:8080");
  EXPECT_EQ(shadowHost("books.example:8080"), "books.example-shadow:8080");
  EXPECT_EQ(shadowHost("reviews.bookinfo.svc.cluster.local"), "reviews.bookinfo.svc.cluster.local-shadow");
  // IP literals are left alone.
  EXPECT_EQ(shadowHost("10.0.0.1"), "10.0.0.1");
  EXPECT_EQ(shadowHost("10.0.0.1:8080"), "10.0.0.1:8080");
  EXPECT_EQ(shadowHost("[::1]"), "[::1]");
  EXPECT_EQ(shadowHost("[::1]:80"), "[::1]:80");
  EXPECT_EQ(shadowHost("[fd00::7]:8080"), "[fd00::7]:8080");
  EXPECT_EQ(shadowHost("fd00::7"), "fd00::7"); // unbracketed (invalid): left alone
  // Nothing to suffix.
  EXPECT_EQ(shadowHost(""), "");
  EXPECT_EQ(shadowHost(":8080"), ":8080");
}

// --- rewriteHead() / rewrites() --------------------------------------------------------------------

TEST(HttpRules, NoRulesButHostSuffix) {
  HttpRules rules;
  MessageHead head = get({{"Host", "books:8080"}, {"Accept", "*/*"}});
  EXPECT_TRUE(rewrites(rules, head));
  EXPECT_EQ(rewriteHead(rules, head), "GET /books/7?x=1 HTTP/1.1\r\nHost: books-shadow:8080\r\nAccept: */*\r\n\r\n");
  rules.hostSuffix = false;
  EXPECT_FALSE(rewrites(rules, head));
  EXPECT_EQ(rewriteHead(rules, head), "GET /books/7?x=1 HTTP/1.1\r\nHost: books:8080\r\nAccept: */*\r\n\r\n");
}

TEST(HttpRules, RequestLineKeepsMethodTargetAndVersion) {
  HttpRules rules;
  MessageHead head = request("POST", "/a%20b?c=d#e", {});
  head.versionMinor = 0;
  EXPECT_FALSE(rewrites(rules, head)); // no Host (HTTP/1.0): nothing to do
  EXPECT_EQ(rewriteHead(rules, head), "POST /a%20b?c=d#e HTTP/1.0\r\n\r\n");
}

TEST(HttpRules, HostCases) {
  HttpRules rules;
  auto rewritten = [&](std::vector<Header> headers) { return rewriteHead(rules, get(std::move(headers))); };
  const std::string line = "GET /books/7?x=1 HTTP/1.1\r\n";
  EXPECT_EQ(rewritten({{"host", "books"}}), line + "host: books-shadow\r\n\r\n"); // name kept as sent
  EXPECT_EQ(rewritten({{"Host", "[::1]:8080"}}), line + "Host: [::1]:8080\r\n\r\n");
  EXPECT_EQ(rewritten({{"Host", "192.0.2.1"}}), line + "Host: 192.0.2.1\r\n\r\n");
  EXPECT_EQ(rewritten({{"Host", ""}}), line + "Host: \r\n\r\n");
  EXPECT_EQ(rewritten({}), line + "\r\n");
  EXPECT_FALSE(rewrites(rules, get({{"Host", "[::1]:8080"}})));
  EXPECT_FALSE(rewrites(rules, get({{"Host", "10.1.2.3:80"}})));
  EXPECT_FALSE(rewrites(rules, get({{"Host", ""}})));
  EXPECT_FALSE(rewrites(rules, get({})));
  EXPECT_TRUE(rewrites(rules, get({{"HOST", "books"}})));
}

TEST(HttpRules, RemovalsDropEveryOccurrenceCaseInsensitively) {
  HttpRules rules;
  rules.hostSuffix = false;
  rules.removeHeaders = {"authorization", "Cookie"};
  MessageHead head = get({{"Host", "b"}, {"Authorization", "Bearer x"}, {"cookie", "a=1"}, {"Accept", "*/*"},
                          {"COOKIE", "b=2"}});
  EXPECT_TRUE(rewrites(rules, head));
  EXPECT_EQ(rewriteHead(rules, head), "GET /books/7?x=1 HTTP/1.1\r\nHost: b\r\nAccept: */*\r\n\r\n");
  // A removal of a header that is not there changes nothing.
  EXPECT_FALSE(rewrites(rules, get({{"Host", "b"}, {"Accept", "*/*"}})));
}

TEST(HttpRules, SetReplacesTheFirstOccurrenceInPlaceAndDropsTheOthers) {
  HttpRules rules;
  rules.hostSuffix = false;
  rules.setHeaders = {{"X-Shadowed", "true"}, {"x-env", "staging"}};
  MessageHead head = get({{"Host", "b"}, {"x-shadowed", "no"}, {"Accept", "*/*"}, {"X-SHADOWED", "again"}});
  EXPECT_TRUE(rewrites(rules, head));
  // Replaced where it was (spelled as the rule spells it), the duplicate gone, the absent one appended.
  EXPECT_EQ(rewriteHead(rules, head),
            "GET /books/7?x=1 HTTP/1.1\r\nHost: b\r\nX-Shadowed: true\r\nAccept: */*\r\nx-env: staging\r\n\r\n");
}

TEST(HttpRules, SetAppendsInRuleOrder) {
  HttpRules rules;
  rules.hostSuffix = false;
  rules.setHeaders = {{"b", "2"}, {"a", "1"}};
  EXPECT_EQ(rewriteHead(rules, get({{"Host", "h"}})), "GET /books/7?x=1 HTTP/1.1\r\nHost: h\r\nb: 2\r\na: 1\r\n\r\n");
  rules.setHeaders = {{"x-empty", ""}};
  EXPECT_EQ(rewriteHead(rules, get({})), "GET /books/7?x=1 HTTP/1.1\r\nx-empty: \r\n\r\n");
}

TEST(HttpRules, RewritesOnlyWhenTheHeadWouldChange) {
  HttpRules rules;
  rules.hostSuffix = false;
  rules.setHeaders = {{"x-shadowed", "true"}};
  EXPECT_TRUE(rewrites(rules, get({})));                                              // appended
  EXPECT_TRUE(rewrites(rules, get({{"x-shadowed", "false"}})));                       // other value
  EXPECT_TRUE(rewrites(rules, get({{"x-shadowed", "true"}, {"x-shadowed", "true"}}))); // duplicate dropped
  EXPECT_FALSE(rewrites(rules, get({{"X-Shadowed", "true"}})));                        // already so
  EXPECT_TRUE(rewrites(rules, get({{"X-Shadowed", "TRUE"}})));                        // values are exact
}

TEST(HttpRules, SetWinsOverRemoveOfTheSameName) {
  HttpRules rules;
  rules.hostSuffix = false;
  rules.removeHeaders = {"x-user"};
  rules.setHeaders = {{"X-User", "shadow"}};
  MessageHead head = get({{"x-user", "alice"}, {"Accept", "*/*"}, {"x-user", "bob"}});
  EXPECT_TRUE(rewrites(rules, head));
  EXPECT_EQ(rewriteHead(rules, head), "GET /books/7?x=1 HTTP/1.1\r\nX-User: shadow\r\nAccept: */*\r\n\r\n");
  EXPECT_FALSE(rewrites(rules, get({{"x-user", "shadow"}})));
  EXPECT_EQ(rewriteHead(rules, get({})), "GET /books/7?x=1 HTTP/1.1\r\nX-User: shadow\r\n\r\n");
}

TEST(HttpRules, AllRulesTogetherKeepTheOriginalOrder) {
  HttpRules rules;
  rules.removeHeaders = {"Authorization"};
  rules.setHeaders = {{"x-shadowed", "true"}};
  MessageHead head = get({{"Accept", "*/*"}, {"Authorization", "s"}, {"Host", "books.example:8080"},
                          {"X-Shadowed", "0"}, {"User-Agent", "curl/8"}});
  EXPECT_EQ(rewriteHead(rules, head), "GET /books/7?x=1 HTTP/1.1\r\n"
                                      "Accept: */*\r\n"
                                      "Host: books.example-shadow:8080\r\n"
                                      "x-shadowed: true\r\n"
                                      "User-Agent: curl/8\r\n"
                                      "\r\n");
}

// --- Command-line parsers --------------------------------------------------------------------------

TEST(HttpRules, ParseHeaderMatch) {
  auto m = parseHeaderMatch("end-user: bbo", "--exclude-header");
  EXPECT_EQ(m.name, "end-user");
  EXPECT_EQ(m.value.kind, MatchKind::Exact);
  EXPECT_EQ(m.value.text, "bbo");
  auto spaced = parseHeaderMatch("  X-Id :  a:b c \t", "--exclude-header"); // split at the FIRST colon
  EXPECT_EQ(spaced.name, "X-Id");
  EXPECT_EQ(spaced.value.text, "a:b c");
  EXPECT_EQ(parseHeaderMatch("x:1", "f").value.text, "1");
  auto ex = headerExclusion(parseHeaderMatch("end-user: bbo", "f"));
  EXPECT_FALSE(ex.method);
  EXPECT_FALSE(ex.path);
  ASSERT_EQ(ex.headers.size(), 1u);
  EXPECT_EQ(ex.headers[0].name, "end-user");
}

TEST(HttpRules, ParseHeaderMatchErrors) {
  auto err = [](const char *text) { return errorOf([&] { parseHeaderMatch(text, "--exclude-header"); }); };
  EXPECT_EQ(err("no colon here"), "--exclude-header: expected 'NAME: VALUE', got 'no colon here'");
  EXPECT_EQ(err(""), "--exclude-header: expected 'NAME: VALUE', got ''");
  EXPECT_EQ(err(": bbo"), "--exclude-header: expected 'NAME: VALUE', got ': bbo' (no name)");
  EXPECT_EQ(err("end-user:"), "--exclude-header: expected 'NAME: VALUE', got 'end-user:' (the value is empty)");
  EXPECT_EQ(err("end-user:   "), "--exclude-header: expected 'NAME: VALUE', got 'end-user:   ' (the value is empty)");
  EXPECT_EQ(err("end user: bbo"),
            "--exclude-header: 'end user' in 'end user: bbo' is not a header name (letters, digits and "
            "!#$%&'*+-.^_`|~)");
  EXPECT_EQ(err("x(y): 1"),
            "--exclude-header: 'x(y)' in 'x(y): 1' is not a header name (letters, digits and !#$%&'*+-.^_`|~)");
  EXPECT_EQ(err("x: a\r\nInjected: 1"), "--exclude-header: the value in 'x: a\\r\\nInjected: 1' holds a control "
                                        "character (CR, LF, NUL...): it would split the request head");
  EXPECT_EQ(errorOf([] { parseHeaderMatch(std::string("x: a\0b", 6), "--exclude-header"); }),
            "--exclude-header: the value in 'x: a\\x00b' holds a control character (CR, LF, NUL...): it would "
            "split the request head");
  EXPECT_NO_THROW(parseHeaderMatch("x: a\tb", "f")); // TAB is fine inside a value
}

TEST(HttpRules, ParseHeaderAssignment) {
  Header h = parseHeaderAssignment("X-Shadowed: true", "--set-header");
  EXPECT_EQ(h.name, "X-Shadowed");
  EXPECT_EQ(h.value, "true");
  EXPECT_EQ(parseHeaderAssignment("x-url: http://a:1/b", "f").value, "http://a:1/b");
  // An empty value is allowed: a field with an empty value is valid HTTP.
  Header empty = parseHeaderAssignment("x-empty:", "--set-header");
  EXPECT_EQ(empty.name, "x-empty");
  EXPECT_EQ(empty.value, "");
}

TEST(HttpRules, ParseHeaderAssignmentErrors) {
  auto err = [](const char *text) { return errorOf([&] { parseHeaderAssignment(text, "--set-header"); }); };
  EXPECT_EQ(err("x-shadowed=true"), "--set-header: expected 'NAME: VALUE', got 'x-shadowed=true'");
  EXPECT_EQ(err(":v"), "--set-header: expected 'NAME: VALUE', got ':v' (no name)");
  EXPECT_EQ(err("a/b: v"),
            "--set-header: 'a/b' in 'a/b: v' is not a header name (letters, digits and !#$%&'*+-.^_`|~)");
  EXPECT_EQ(err("x: v\n"),
            "--set-header: the value in 'x: v\\n' holds a control character (CR, LF, NUL...): it would split the "
            "request head");
}

TEST(HttpRules, ParseHeaderName) {
  EXPECT_EQ(parseHeaderName("Authorization", "--remove-header"), "Authorization");
  EXPECT_EQ(parseHeaderName("  cookie ", "--remove-header"), "cookie");
  auto err = [](const std::string &text) { return errorOf([&] { parseHeaderName(text, "--remove-header"); }); };
  EXPECT_EQ(err(""), "--remove-header: expected a header name (letters, digits and !#$%&'*+-.^_`|~), got ''");
  EXPECT_EQ(err("Cookie: a"),
            "--remove-header: expected a header name (letters, digits and !#$%&'*+-.^_`|~), got 'Cookie: a'");
  EXPECT_EQ(err("a b"), "--remove-header: expected a header name (letters, digits and !#$%&'*+-.^_`|~), got 'a b'");
  EXPECT_EQ(err("a\nb"),
            "--remove-header: expected a header name (letters, digits and !#$%&'*+-.^_`|~), got 'a\\nb'");
}

// --- validate() ------------------------------------------------------------------------------------

TEST(HttpRules, ValidateAcceptsOrdinaryRules) {
  HttpRules rules;
  EXPECT_NO_THROW(validate(rules));
  rules.exclude.push_back(exclusion("end-user: bbo"));
  rules.setHeaders = {{"x-shadowed", "true"}, {"x-empty", ""}};
  rules.removeHeaders = {"Authorization", "Cookie"};
  rules.requestRatePpm = 0;
  EXPECT_NO_THROW(validate(rules));
  rules.requestRatePpm = 1'000'000;
  EXPECT_NO_THROW(validate(rules));
}

TEST(HttpRules, ValidateRefusesFramingAndHost) {
  auto setting = [](const char *name) {
    HttpRules rules;
    rules.setHeaders = {{name, "1"}};
    return errorOf([&] { validate(rules); });
  };
  auto removing = [](const char *name) {
    HttpRules rules;
    rules.removeHeaders = {name};
    return errorOf([&] { validate(rules); });
  };
  const std::string body = "Content-Length and Transfer-Encoding frame the body, which is forwarded as it came";
  EXPECT_EQ(setting("Content-Length"), "cannot set header 'Content-Length': " + body);
  EXPECT_EQ(setting("transfer-encoding"), "cannot set header 'transfer-encoding': " + body);
  EXPECT_EQ(removing("content-length"), "cannot remove header 'content-length': " + body);
  EXPECT_EQ(removing("Transfer-Encoding"), "cannot remove header 'Transfer-Encoding': " + body);
  const std::string conn = "it frames the connection, which carries the requests that follow as they came";
  EXPECT_EQ(setting("Connection"), "cannot set header 'Connection': " + conn);
  EXPECT_EQ(removing("upgrade"), "cannot remove header 'upgrade': " + conn);
  const std::string host = "the mirrored copy keeps the request's Host (hostSuffix makes it '<host>-shadow'; "
                           "HTTP/1.1 servers answer 400 without one)";
  EXPECT_EQ(setting("Host"), "cannot set header 'Host': " + host);
  EXPECT_EQ(removing("HOST"), "cannot remove header 'HOST': " + host);
}

TEST(HttpRules, ValidateRefusesMalformedRules) {
  HttpRules twice;
  twice.setHeaders = {{"x-a", "1"}, {"X-A", "2"}};
  EXPECT_EQ(errorOf([&] { validate(twice); }), "header 'X-A' is set twice: give it once");
  HttpRules badName;
  badName.setHeaders = {{"a b", "1"}};
  EXPECT_EQ(errorOf([&] { validate(badName); }),
            "cannot set header 'a b': not a header name (letters, digits and !#$%&'*+-.^_`|~)");
  HttpRules badValue;
  badValue.setHeaders = {{"x", "a\r\nb: c"}};
  EXPECT_EQ(errorOf([&] { validate(badValue); }),
            "cannot set header 'x' to 'a\\r\\nb: c': the value holds a control character (CR, LF, NUL...)");
  HttpRules badRemove;
  badRemove.removeHeaders = {""};
  EXPECT_EQ(errorOf([&] { validate(badRemove); }),
            "cannot remove header '': not a header name (letters, digits and !#$%&'*+-.^_`|~)");
  HttpRules rate;
  rate.requestRatePpm = 1'000'001;
  EXPECT_EQ(errorOf([&] { validate(rate); }), "invalid request percentage: above 100");
}

// Pooled replay (--http-pool): the copy of a request that would close its connection keeps the
// pool's connection open instead; one that keeps it open, or upgrades it, is left as it came.
TEST(HttpRules, PooledCopiesKeepTheConnectionOpen) {
  HttpRules rules;
  rules.hostSuffix = false;
  rules.pooled = true;
  MessageHead closing = get({{"Host", "books"}, {"Connection", "close"}, {"Accept", "*/*"}});
  closing.keepAlive = false;
  EXPECT_TRUE(rewrites(rules, closing));
  EXPECT_EQ(rewriteHead(rules, closing), "GET /books/7?x=1 HTTP/1.1\r\nHost: books\r\nAccept: */*\r\n\r\n");

  MessageHead old = get({{"Host", "books"}}); // HTTP/1.0: closes unless it asks for keep-alive
  old.versionMinor = 0;
  old.keepAlive = false;
  EXPECT_EQ(rewriteHead(rules, old), "GET /books/7?x=1 HTTP/1.0\r\nHost: books\r\nConnection: keep-alive\r\n\r\n");

  MessageHead open = get({{"Host", "books"}});
  EXPECT_FALSE(rewrites(rules, open));
  // Whatever http_parser made of a Connection header (`close<TAB>` is keep-alive to it, `close`
  // once written anew), none of the client's goes to the shared connection (fuzz, http_stage).
  MessageHead tabbed = get({{"Host", "books"}, {"Connection", "close"}});
  EXPECT_TRUE(rewrites(rules, tabbed));
  EXPECT_EQ(rewriteHead(rules, tabbed), "GET /books/7?x=1 HTTP/1.1\r\nHost: books\r\n\r\n");
  MessageHead v2 = get({{"Host", "books"}}); // x.0: keep-alive only when asked for, as for 1.0
  v2.versionMajor = 2;
  v2.versionMinor = 0;
  EXPECT_EQ(rewriteHead(rules, v2), "GET /books/7?x=1 HTTP/2.0\r\nHost: books\r\nConnection: keep-alive\r\n\r\n");
  MessageHead upgrade = get({{"Host", "books"}, {"Connection", "Upgrade"}, {"Upgrade", "websocket"}});
  upgrade.upgrade = true;
  upgrade.keepAlive = false;
  EXPECT_FALSE(rewrites(rules, upgrade)) << "the pool retires an upgraded connection; its request is left whole";

  rules.pooled = false; // per-connection replay: the copy closes as the request did
  EXPECT_FALSE(rewrites(rules, closing));
}
