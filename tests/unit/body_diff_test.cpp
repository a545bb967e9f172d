// SPDX-License-Identifier: Apache-2.0
// Body digests (JSON leaves, hashes), their diff, path templates and filters, and the memory bound.
#include "compare/body_diff.h"

#include "common/error.h"

#include <gtest/gtest.h>

namespace shadowtap::compare {
namespace {

std::span<const uint8_t> span(const std::string &s) {
  return {reinterpret_cast<const uint8_t *>(s.data()), s.size()};
}

BodyDigestPtr digest(const std::string &body, bool jsonType = true, std::shared_ptr<MemoryBudget> budget = nullptr,
                     size_t piece = 0) {
  BodyCollector c(std::move(budget), jsonType);
  if (piece == 0) {
    c.append(span(body));
  } else {
    for (size_t i = 0; i < body.size(); i += piece)
      c.append(span(body.substr(i, piece)));
  }
  return c.finish();
}

std::vector<std::string> paths(const BodyDigest &d) {
  std::vector<std::string> out;
  for (const auto &[p, h] : d.fields)
    out.push_back(p);
  return out;
}

std::vector<std::string> diff(const std::string &a, const std::string &b) {
  return differingPaths(*digest(a), *digest(b));
}

using V = std::vector<std::string>;

} // namespace

TEST(BodyDiff, JsonIsFlattenedIntoLeafPaths) {
  auto d = digest(R"({"id": 7, "items": [{"price": 3.5, "tags": []}, {"price": 4}], "meta": {}, "odd key": null,
                      "it's": true})");
  ASSERT_TRUE(d->json);
  EXPECT_EQ(paths(*d), (V{"$.id", "$.items[0].price", "$.items[0].tags", "$.items[1].price", "$.meta", "$['it\\'s']",
                          "$['odd key']"}));
  auto top = digest("[1, [2, 3]]");
  EXPECT_EQ(paths(*top), (V{"$[0]", "$[1][0]", "$[1][1]"}));
  auto scalar = digest("\"just a string\"");
  EXPECT_TRUE(scalar->json);
  EXPECT_EQ(paths(*scalar), (V{"$"}));
}

TEST(BodyDiff, SameJsonWhateverTheKeyOrderSpacingAndSplit) {
  EXPECT_EQ(diff(R"({"a":1,"b":[1,2]})", "{ \"b\" : [1, 2],\n \"a\" : 1 }"), V{});
  EXPECT_EQ(diff(R"({"n":1})", R"({"n":1.0})"), V{}) << "1 and 1.0 are one number";
  EXPECT_EQ(diff(R"({"n":-0.0})", R"({"n":0})"), V{});
  auto whole = digest(R"({"a":{"b":[true,false,null]}})");
  auto split = digest(R"({"a":{"b":[true,false,null]}})", true, nullptr, 3);
  EXPECT_EQ(differingPaths(*whole, *split), V{});
}

TEST(BodyDiff, DifferencesAreNamedByPath) {
  EXPECT_EQ(diff(R"({"a":1,"b":2})", R"({"a":1,"b":3})"), V{"$.b"});
  EXPECT_EQ(diff(R"({"a":1})", R"({"a":1,"c":true})"), V{"$.c"});
  EXPECT_EQ(diff(R"({"a":"1"})", R"({"a":1})"), V{"$.a"}) << "a string is not a number";
  EXPECT_EQ(diff(R"({"a":{}})", R"({"a":[]})"), V{"$.a"});
  EXPECT_EQ(diff(R"({"l":[1,2]})", R"({"l":[1,2,3]})"), V{"$.l[2]"});
  EXPECT_EQ(diff(R"({"x":null})", R"({"x":false})"), V{"$.x"});
}

TEST(BodyDiff, NotJsonIsComparedByHashAsAWhole) {
  auto a = digest("<html>one</html>", false), b = digest("<html>two</html>", false);
  EXPECT_FALSE(a->json);
  EXPECT_EQ(differingPaths(*a, *b), V{"$"});
  EXPECT_EQ(differingPaths(*a, *digest("<html>one</html>", false)), V{});
  // JSON on one side only: compared as a whole too.
  EXPECT_EQ(differingPaths(*digest(R"({"a":1})"), *digest("not json")), V{"$"});
  // Broken JSON: by hash.
  EXPECT_FALSE(digest(R"({"a":)")->json);
  // No Content-Type hint, but it starts like JSON: flattened.
  EXPECT_TRUE(digest(R"(  {"a":1})", false)->json);
  EXPECT_FALSE(digest("plain", false)->json);
}

TEST(BodyDiff, LargeOrDeepBodiesAreComparedByHash) {
  std::string big = "[" + std::string(BodyCollector::kMaxParsedBody, ' ') + "1]";
  EXPECT_FALSE(digest(big)->json);
  std::string deep(BodyCollector::kMaxDepth + 1, '[');
  deep += std::string(BodyCollector::kMaxDepth + 1, ']');
  EXPECT_FALSE(digest(deep)->json);
  std::string many = "[";
  for (size_t i = 0; i <= BodyCollector::kMaxFields; i++)
    many += (i ? ",1" : "1");
  many += "]";
  EXPECT_FALSE(digest(many)->json);
}

TEST(BodyDiff, TheBudgetBoundsWhatIsHeldAndIsGivenBack) {
  auto budget = std::make_shared<MemoryBudget>(1000);
  {
    auto small = digest(R"({"a":1,"b":2})", true, budget);
    EXPECT_TRUE(small->json);
    EXPECT_GT(budget->used(), 0u) << "the digest's leaves are charged while it lives";
    auto tooBig = digest("[" + std::string(2000, ' ') + "1]", true, budget);
    EXPECT_FALSE(tooBig->json);
    EXPECT_TRUE(tooBig->overBudget);
    EXPECT_EQ(differingPaths(*tooBig, *digest("[" + std::string(2000, ' ') + "1]")), V{}) << "by hash, still right";
  }
  EXPECT_EQ(budget->used(), 0u);
  {
    BodyCollector pending(budget, true);
    pending.append(span(std::string(500, ' ')));
    EXPECT_EQ(budget->used(), 500u);
  }
  EXPECT_EQ(budget->used(), 0u) << "a collector that goes away gives its buffer back";
}

TEST(BodyDiff, PathTemplatesCollapseIndices) {
  EXPECT_EQ(templatePath("$.items[3].price"), "$.items[*].price");
  EXPECT_EQ(templatePath("$[0][12]"), "$[*][*]");
  EXPECT_EQ(templatePath("$['a[1]'].b"), "$['a[1]'].b");
  EXPECT_EQ(templatePath("$"), "$");
}

TEST(BodyDiff, FilterMatchesPathsAndSubtrees) {
  JsonPathFilter f({"$.meta", "$.items[0].updatedAt", "$['odd key']"});
  EXPECT_TRUE(f.ignored("$.meta"));
  EXPECT_TRUE(f.ignored("$.meta.requestId"));
  EXPECT_TRUE(f.ignored("$.meta[*]"));
  EXPECT_FALSE(f.ignored("$.metadata"));
  EXPECT_TRUE(f.ignored("$.items[*].updatedAt")) << "an index in a pattern matches any index";
  EXPECT_FALSE(f.ignored("$.items[*].price"));
  EXPECT_TRUE(f.ignored("$['odd key']"));
  EXPECT_TRUE(JsonPathFilter({"$"}).ignored("$.anything"));
  EXPECT_FALSE(JsonPathFilter().ignored("$.a"));
}

TEST(BodyDiff, JsonPathPatternsAreChecked) {
  for (const char *good : {"$", "$.a", "$.a_b.c1", "$.items[*].price", "$[0]", "$['odd key'].x", "$['it\\'s']"})
    EXPECT_NO_THROW(validateJsonPath(good, "k")) << good;
  for (const char *bad : {"", "a.b", "$.", "$..a", "$.a-b", "$[x]", "$[", "$['open", "$.a b"}) {
    try {
      validateJsonPath(bad, "compare.ignore[0]");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const UsageError &e) {
      EXPECT_EQ(std::string(e.what()).rfind("compare.ignore[0]: invalid JSON path", 0), 0u) << e.what();
    }
  }
}

TEST(BodyDiff, ContentTypes) {
  EXPECT_TRUE(isJsonContentType("application/json"));
  EXPECT_TRUE(isJsonContentType("application/problem+json; charset=utf-8"));
  EXPECT_TRUE(isJsonContentType("Text/JSON"));
  EXPECT_FALSE(isJsonContentType("text/html; note=json"));
}

} // namespace shadowtap::compare
