// SPDX-License-Identifier: Apache-2.0
// Body digests and diffs (body_diff.h). Notes:
//  - JSON is flattened with nlohmann's SAX interface, never into a DOM: memory is the leaves, and
//    nothing recurses (the parser keeps its own stack; depth is bounded by kMaxDepth anyway).
//  - A leaf's value hash covers its type and value: strings by their bytes, numbers by value
//    (an integral float within int64 hashes as that integer, so 1 and 1.0 agree), true, false,
//    null, {} and [] by a tag.
//  - Paths: .name when the name is an identifier ([A-Za-z_][A-Za-z0-9_]*), else ['name'] with '
//    and \ escaped by a backslash; [N] for array elements.
//  - Memory: the content is charged to the budget as it is buffered (kMaxParsedBody at most);
//    at finish() the buffer is given back and the leaves charged instead (path bytes + 48 per
//    leaf). Whatever the budget refuses is compared by hash only (`overBudget`).
#include "compare/body_diff.h"

#include "common/error.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

namespace shadowtap::compare {
namespace {

constexpr uint64_t kFnvOffset = 1469598103934665603ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;
constexpr size_t kLeafOverhead = 48; // a vector element (string + hash) beyond the path's bytes

uint64_t fnv(uint64_t h, const void *data, size_t n) {
  auto *p = static_cast<const uint8_t *>(data);
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= kFnvPrime;
  }
  return h;
}

uint64_t tagged(char tag, const void *data = nullptr, size_t n = 0) {
  uint64_t h = fnv(kFnvOffset, &tag, 1);
  return fnv(h, data, n);
}

bool isIdentifier(std::string_view s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_'))
    return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

void appendKey(std::string &path, std::string_view key) {
  if (isIdentifier(key)) {
    path += '.';
    path += key;
    return;
  }
  path += "['";
  for (char c : key) {
    if (c == '\'' || c == '\\')
      path += '\\';
    path += c;
  }
  path += "']";
}

// Flattens JSON into leaves. Returning false from a callback aborts the parse (too big, too deep).
class Flattener : public nlohmann::json_sax<nlohmann::json> {
public:
  std::vector<std::pair<std::string, uint64_t>> fields;
  bool tooBig = false;

  bool null() override { return leaf(tagged('n')); }
  bool boolean(bool v) override { return leaf(tagged(v ? 't' : 'f')); }
  bool number_integer(number_integer_t v) override {
    int64_t i = v;
    return leaf(tagged('i', &i, sizeof i));
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (v <= static_cast<uint64_t>(INT64_MAX)) {
      int64_t i = static_cast<int64_t>(v);
      return leaf(tagged('i', &i, sizeof i));
    }
    uint64_t u = v;
    return leaf(tagged('u', &u, sizeof u));
  }
  bool number_float(number_float_t v, const string_t &) override {
    if (std::isfinite(v) && std::trunc(v) == v && std::fabs(v) < 9.2e18) {
      int64_t i = static_cast<int64_t>(v);
      return leaf(tagged('i', &i, sizeof i));
    }
    double d = v == 0 ? 0.0 : v; // -0.0 == 0.0
    return leaf(tagged('d', &d, sizeof d));
  }
  bool string(string_t &v) override { return leaf(tagged('s', v.data(), v.size())); }
  bool binary(binary_t &) override { return leaf(tagged('b')); }

  bool start_object(std::size_t) override { return open(false); }
  bool key(string_t &k) override {
    Frame &f = frames_.back();
    path_.resize(f.pathLength);
    appendKey(path_, k);
    f.children++;
    return true;
  }
  bool end_object() override { return close('o'); }
  bool start_array(std::size_t) override { return open(true); }
  bool end_array() override { return close('a'); }
  bool parse_error(std::size_t, const std::string &, const nlohmann::detail::exception &) override { return false; }

private:
  struct Frame {
    bool array;
    size_t pathLength; // the container's own path
    size_t children = 0;
  };

  // The path of the value starting now: in an array, the next index.
  void elementPath() {
    if (frames_.empty() || !frames_.back().array)
      return;
    Frame &f = frames_.back();
    path_.resize(f.pathLength);
    path_ += '[' + std::to_string(f.children++) + ']';
  }
  bool leaf(uint64_t hash) {
    elementPath();
    if (fields.size() >= BodyCollector::kMaxFields) {
      tooBig = true;
      return false;
    }
    fields.emplace_back(path_, hash);
    return true;
  }
  bool open(bool array) {
    elementPath();
    if (frames_.size() >= BodyCollector::kMaxDepth) {
      tooBig = true;
      return false;
    }
    frames_.push_back({array, path_.size()});
    return true;
  }
  bool close(char tag) {
    Frame f = frames_.back();
    frames_.pop_back();
    path_.resize(f.pathLength);
    if (f.children == 0) // {} and [] are values too
      return leafHere(tagged(tag));
    return true;
  }
  bool leafHere(uint64_t hash) {
    if (fields.size() >= BodyCollector::kMaxFields) {
      tooBig = true;
      return false;
    }
    fields.emplace_back(path_, hash);
    return true;
  }

  std::string path_ = "$";
  std::vector<Frame> frames_;
};

size_t leavesCost(const std::vector<std::pair<std::string, uint64_t>> &fields) {
  size_t cost = 0;
  for (const auto &[path, hash] : fields)
    cost += path.size() + kLeafOverhead;
  return cost;
}

} // namespace

BodyDigest::~BodyDigest() {
  if (budget_ && charged_)
    budget_->give(charged_);
}

BodyCollector::BodyCollector(std::shared_ptr<MemoryBudget> budget, bool jsonHint)
    : budget_(std::move(budget)), jsonHint_(jsonHint), hash_(kFnvOffset) {}

BodyCollector::~BodyCollector() {
  dropBuffer();
}

void BodyCollector::dropBuffer() {
  holding_ = false;
  std::string().swap(buffer_);
  if (budget_ && charged_)
    budget_->give(charged_);
  charged_ = 0;
}

void BodyCollector::append(std::span<const uint8_t> content) {
  if (content.empty())
    return;
  hash_ = fnv(hash_, content.data(), content.size());
  size_ += content.size();
  if (!decided_) {
    decided_ = true;
    // JSON by its type, or by its first byte when the type says nothing useful.
    size_t i = 0;
    while (i < content.size() && std::isspace(content[i]))
      i++;
    bool looksJson = i < content.size() && (content[i] == '{' || content[i] == '[');
    if (!jsonHint_ && !looksJson)
      holding_ = false;
  }
  if (!holding_)
    return;
  if (buffer_.size() + content.size() > kMaxParsedBody) {
    dropBuffer();
    return;
  }
  if (budget_ && !budget_->take(content.size())) {
    overBudget_ = true;
    dropBuffer();
    return;
  }
  charged_ += budget_ ? content.size() : 0;
  buffer_.append(reinterpret_cast<const char *>(content.data()), content.size());
}

BodyDigestPtr BodyCollector::finish() {
  auto digest = std::make_shared<BodyDigest>();
  digest->hash = hash_;
  digest->size = size_;
  digest->overBudget = overBudget_;
  if (holding_ && !buffer_.empty()) {
    Flattener flat;
    bool ok = nlohmann::json::sax_parse(buffer_, &flat, nlohmann::json::input_format_t::json, /*strict=*/true);
    dropBuffer();
    if (ok && !flat.tooBig) {
      std::stable_sort(flat.fields.begin(), flat.fields.end(),
                       [](const auto &a, const auto &b) { return a.first < b.first; });
      size_t cost = leavesCost(flat.fields);
      if (!budget_ || budget_->take(cost)) {
        digest->json = true;
        digest->fields = std::move(flat.fields);
        digest->budget_ = budget_;
        digest->charged_ = budget_ ? cost : 0;
      } else {
        digest->overBudget = true;
      }
    }
  }
  dropBuffer();
  return digest;
}

bool isJsonContentType(std::string_view value) {
  std::string lower;
  for (char c : value.substr(0, value.find(';')))
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find("json") != std::string::npos;
}

std::vector<std::string> differingPaths(const BodyDigest &a, const BodyDigest &b) {
  if (!a.json || !b.json) {
    if (a.hash != b.hash || a.size != b.size)
      return {"$"};
    return {};
  }
  std::vector<std::string> out;
  auto ia = a.fields.begin(), ib = b.fields.begin();
  while (ia != a.fields.end() || ib != b.fields.end()) {
    // The next path in order, and the values both sides hold for it (duplicates: as multisets).
    const std::string &path =
        ib == b.fields.end() || (ia != a.fields.end() && ia->first <= ib->first) ? ia->first : ib->first;
    std::vector<uint64_t> va, vb;
    for (; ia != a.fields.end() && ia->first == path; ++ia)
      va.push_back(ia->second);
    for (; ib != b.fields.end() && ib->first == path; ++ib)
      vb.push_back(ib->second);
    std::sort(va.begin(), va.end());
    std::sort(vb.begin(), vb.end());
    if (va != vb)
      out.push_back(path);
  }
  return out;
}

std::string templatePath(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (size_t i = 0; i < path.size(); i++) {
    char c = path[i];
    if (c == '[' && i + 1 < path.size() && path[i + 1] == '\'') { // ['key']: copied as it is
      size_t j = i + 2;
      while (j < path.size() && path[j] != '\'') {
        if (path[j] == '\\')
          j++;
        j++;
      }
      size_t end = std::min(path.size(), j + 2); // past "']"
      out.append(path.substr(i, end - i));
      i = end - 1;
      continue;
    }
    if (c == '[') {
      size_t j = i + 1;
      while (j < path.size() && std::isdigit(static_cast<unsigned char>(path[j])))
        j++;
      if (j > i + 1 && j < path.size() && path[j] == ']') {
        out += "[*]";
        i = j;
        continue;
      }
    }
    out += c;
  }
  return out;
}

void validateJsonPath(const std::string &pattern, const std::string &what) {
  auto bad = [&](const std::string &why) {
    throw UsageError(what + ": invalid JSON path '" + pattern + "': " + why +
                     " (expected $ then .name, ['name'], [N] or [*] steps, e.g. $.items[*].price)");
  };
  if (pattern.empty() || pattern[0] != '$')
    bad("it must start with $");
  size_t i = 1;
  while (i < pattern.size()) {
    char c = pattern[i];
    if (c == '.') {
      size_t j = i + 1;
      while (j < pattern.size() && (std::isalnum(static_cast<unsigned char>(pattern[j])) || pattern[j] == '_'))
        j++;
      if (!isIdentifier(std::string_view(pattern).substr(i + 1, j - i - 1)))
        bad("a name after '.' must be letters, digits and _ (use ['name'] for others)");
      i = j;
    } else if (c == '[' && i + 1 < pattern.size() && pattern[i + 1] == '\'') {
      size_t j = i + 2;
      while (j < pattern.size() && pattern[j] != '\'') {
        if (pattern[j] == '\\')
          j++;
        j++;
      }
      if (j + 1 >= pattern.size() || pattern[j + 1] != ']')
        bad("unterminated ['name']");
      i = j + 2;
    } else if (c == '[') {
      size_t j = i + 1;
      if (j < pattern.size() && pattern[j] == '*')
        j++;
      else
        while (j < pattern.size() && std::isdigit(static_cast<unsigned char>(pattern[j])))
          j++;
      if (j == i + 1 || j >= pattern.size() || pattern[j] != ']')
        bad("expected [N] or [*]");
      i = j + 1;
    } else {
      bad(std::string("unexpected '") + c + "'");
    }
  }
}

JsonPathFilter::JsonPathFilter(const std::vector<std::string> &patterns) {
  for (const auto &p : patterns)
    patterns_.push_back(templatePath(p));
}

bool JsonPathFilter::ignored(std::string_view templated) const {
  for (const auto &p : patterns_) {
    if (p == "$" || templated == p)
      return true;
    // A subtree: the pattern is a prefix ending at a step boundary.
    if (templated.size() > p.size() && templated.substr(0, p.size()) == p &&
        (templated[p.size()] == '.' || templated[p.size()] == '['))
      return true;
  }
  return false;
}

} // namespace shadowtap::compare
