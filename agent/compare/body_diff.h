// SPDX-License-Identifier: Apache-2.0
// Response bodies, compared Diffy-style: what a body is reduced to (BodyDigest), how two are
// diffed (differingPaths), and the paths an operator marks as noise (JsonPathFilter).
//
//  - A body is its decoded content (chunk framing removed; Content-Encoding is NOT undone: a
//    gzipped body is compared by hash). Every body gets a 64-bit hash of its content. A body that
//    looks like JSON (Content-Type *json*, or a first byte '{' or '[') and fits the limits is also
//    flattened into its leaves: one (path, value hash) per scalar, empty object or empty array,
//    with paths in JSONPath form, array indices kept: $.items[0].price, $['odd key'].
//  - Two JSON bodies differ at the leaf paths present in one only or holding other values (key
//    order and whitespace do not matter; 1 and 1.0 are the same number). Otherwise — either body
//    not JSON, or too large — they differ, as a whole, at "$" when their hashes do.
//  - Reports aggregate paths by template, indices collapsed: $.items[*].price.
//  - Memory: a body is held (to be flattened) only up to kMaxParsedBody bytes and while the shared
//    MemoryBudget has room; past either it is compared by hash alone. Digests are charged to the
//    same budget for as long as they live (until every side of the exchange has answered).
#pragma once

#include "common/memory_budget.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shadowtap::compare {

using shadowtap::MemoryBudget; // bodies held for comparison (common/memory_budget.h)

struct BodyDigest {
  uint64_t hash = 0; // FNV-1a 64 of the content
  uint64_t size = 0;
  bool json = false;                                    // `fields` holds the leaves
  bool overBudget = false;                              // could have been flattened, but the budget had no room
  std::vector<std::pair<std::string, uint64_t>> fields; // leaf path -> value hash, sorted by path

  BodyDigest() = default;
  BodyDigest(const BodyDigest &) = delete;
  BodyDigest &operator=(const BodyDigest &) = delete;
  ~BodyDigest();

private:
  friend class BodyCollector;
  std::shared_ptr<MemoryBudget> budget_;
  size_t charged_ = 0;
};

using BodyDigestPtr = std::shared_ptr<const BodyDigest>;

class BodyCollector {
public:
  static constexpr size_t kMaxParsedBody = 1u << 20; // larger bodies: by hash
  static constexpr size_t kMaxFields = 16384;        // more leaves: by hash
  static constexpr size_t kMaxDepth = 64;            // deeper JSON: by hash

  // `jsonHint`: the Content-Type says JSON.
  BodyCollector(std::shared_ptr<MemoryBudget> budget, bool jsonHint);
  ~BodyCollector();
  BodyCollector(const BodyCollector &) = delete;
  BodyCollector &operator=(const BodyCollector &) = delete;

  void append(std::span<const uint8_t> content);
  BodyDigestPtr finish();

private:
  void dropBuffer();
  std::shared_ptr<MemoryBudget> budget_;
  bool jsonHint_;
  bool holding_ = true; // still buffering the content to flatten it
  bool overBudget_ = false;
  bool decided_ = false; // the first byte was seen (JSON or not)
  uint64_t hash_;
  uint64_t size_ = 0;
  std::string buffer_;
  size_t charged_ = 0;
};

// "Content-Type: application/json", "application/problem+json", "text/json; charset=utf-8"...
bool isJsonContentType(std::string_view value);

// Exact leaf paths where a and b differ ("$" when they can only be compared by hash).
std::vector<std::string> differingPaths(const BodyDigest &a, const BodyDigest &b);

// $.items[3].price -> $.items[*].price
std::string templatePath(std::string_view path);

// Paths an operator calls noise (--ignore-json-path, compare.ignore): "$.meta.requestId",
// "$.items[*].updatedAt", or a subtree "$.debug" (everything under it). Indices in a pattern
// match any index ("$.items[0].x" is "$.items[*].x").
class JsonPathFilter {
public:
  JsonPathFilter() = default;
  explicit JsonPathFilter(const std::vector<std::string> &patterns);
  // `templated`: a path from templatePath().
  bool ignored(std::string_view templated) const;
  bool empty() const { return patterns_.empty(); }

private:
  std::vector<std::string> patterns_; // templated
};

// A service's body comparison, as the replay plan carries it.
struct BodyCompareSettings {
  JsonPathFilter ignore;
  std::string baseline; // the baseline target's name (HOST:PORT), empty: none
};

// Checks one --ignore-json-path pattern: "$", then .name, ['name'] or [N]/[*] steps. Throws
// UsageError naming `what`.
void validateJsonPath(const std::string &pattern, const std::string &what);

} // namespace shadowtap::compare
