// SPDX-License-Identifier: Apache-2.0
// Notes on the contract in comparison.h:
//  - routes_overflowed counts the responses (record() calls) put under "OTHER" because maxRoutes
//    routes were kept and none was idle; recordPair() and the body records file under "OTHER" the
//    same way but do not count again. routes_evicted counts routes whose rows were dropped to
//    make room (each at most once per admission).
//  - A route's "use" is any record, pair or body filed under it.
//  - A code-0 sample (no response) has no first byte: only its duration (time until the
//    connection ended) is recorded; its first-byte histogram stays empty (first_byte_p50_ms 0,
//    no first-byte series in Prometheus).
//  - Status classes: 0 is "no response", 1..99 "invalid", otherwise code / 100.
//  - Route and target strings are used as given when they are printable ASCII of at most
//    kMaxLabelChars (what routeOf() and HOST:PORT targets are); anything else is made so first,
//    so json() can always be dumped and labels stay bounded.
#include "compare/comparison.h"

#include "stats/prometheus_writer.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

namespace shadowtap::compare {
namespace {

constexpr size_t kMaxLabelChars = 256;

const std::string &safe(const std::string &s, std::string &scratch) {
  bool ok = s.size() <= kMaxLabelChars && std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
  if (ok)
    return s;
  scratch.clear();
  for (char c : s.substr(0, kMaxLabelChars))
    scratch += c >= 0x20 && c < 0x7f ? c : '?';
  return scratch;
}

int statusClass(unsigned code) {
  return code == 0 ? -1 : int(code / 100);
}

// Primary first, then shadows by name.
bool targetLess(const std::string &a, const std::string &b) {
  bool pa = a == kPrimaryTarget, pb = b == kPrimaryTarget;
  if (pa != pb)
    return pa;
  return a < b;
}

double roundedMs(double ns) {
  return std::round(ns / 1e3) / 1e3;
}

std::string number(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

void appendHistogram(std::string &out, const char *name, const std::string &labels, const LatencyHistogram &h) {
  std::string prefix = std::string(name) + "_bucket{" + labels + ",le=\"";
  for (uint64_t bound : LatencyHistogram::prometheusBoundsNs())
    out += prefix + number(double(bound) / 1e9) + "\"} " + std::to_string(h.countAtMost(bound)) + "\n";
  out += prefix + "+Inf\"} " + std::to_string(h.count()) + "\n";
  out += std::string(name) + "_sum{" + labels + "} " + number(double(h.sumNs()) / 1e9) + "\n";
  out += std::string(name) + "_count{" + labels + "} " + std::to_string(h.count()) + "\n";
}

// ---- formatReportTable helpers: tolerate any JSON (the CLI renders what it fetched). ----

std::string text(const nlohmann::json &obj, const char *key) {
  auto it = obj.find(key);
  if (it == obj.end())
    return "";
  std::string s = it->is_string() ? it->get<std::string>() : it->dump();
  for (char &c : s) // never send control bytes to a terminal
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      c = '?';
  return s;
}

double num(const nlohmann::json &obj, const char *key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_number() ? it->get<double>() : 0.0;
}

uint64_t count(const nlohmann::json &obj, const char *key) {
  double v = num(obj, key);
  return v > 0 ? uint64_t(v) : 0;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

struct Column {
  const char *header;
  bool right;
};

void appendTable(std::string &out, const std::vector<Column> &columns,
                 const std::vector<std::vector<std::string>> &rows) {
  std::vector<size_t> width;
  for (const auto &c : columns)
    width.push_back(std::string_view(c.header).size());
  for (const auto &row : rows)
    for (size_t i = 0; i < columns.size(); i++)
      width[i] = std::max(width[i], row[i].size());
  auto line = [&](auto cell) {
    std::string l;
    for (size_t i = 0; i < columns.size(); i++) {
      std::string v = cell(i);
      std::string pad(width[i] - v.size(), ' ');
      if (i)
        l += "  ";
      l += columns[i].right ? pad + v : v + pad;
    }
    l.erase(l.find_last_not_of(' ') + 1);
    out += l + "\n";
  };
  line([&](size_t i) { return std::string(columns[i].header); });
  for (const auto &row : rows)
    line([&](size_t i) { return row[i]; });
}

const nlohmann::json &arrayOf(const nlohmann::json &report, const char *key) {
  static const nlohmann::json empty = nlohmann::json::array();
  if (!report.is_object())
    return empty;
  auto it = report.find(key);
  return it != report.end() && it->is_array() ? *it : empty;
}

} // namespace

Comparison::Comparison(size_t maxRoutes, uint64_t routeIdleNs, std::function<uint64_t()> clock)
    : maxRoutes_(maxRoutes), routeIdleNs_(routeIdleNs), clock_(std::move(clock)) {
  if (!clock_)
    clock_ = [] {
      return static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
              .count());
    };
}

std::string Comparison::boundedRoute(const std::string &route, bool count) {
  if (route == kOverflowRoute)
    return route;
  uint64_t now = clock_();
  if (auto it = routes_.find(route); it != routes_.end()) {
    it->second.lastUsedNs = now;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return route;
  }
  if (routes_.size() >= maxRoutes_) {
    bool idle = !lru_.empty() && now - routes_[lru_.back()].lastUsedNs >= routeIdleNs_;
    if (!idle || maxRoutes_ == 0) {
      routesOverflowed_ += count ? 1 : 0;
      return kOverflowRoute;
    }
    evict(lru_.back());
  }
  lru_.push_front(route);
  routes_[route] = {now, lru_.begin()};
  return route;
}

void Comparison::evict(const std::string &victim) {
  std::string route = victim; // a copy: `victim` may live in lru_
  routesEvicted_++;
  lru_.erase(routes_[route].lru);
  routes_.erase(route);
  for (auto it = cells_.lower_bound({route, "", 0}); it != cells_.end() && std::get<0>(it->first) == route;)
    it = cells_.erase(it);
  for (auto it = agreements_.lower_bound({route, ""}); it != agreements_.end() && it->first.first == route;)
    it = agreements_.erase(it);
  for (auto it = bodies_.lower_bound({route, ""}); it != bodies_.end() && it->first.first == route;)
    it = bodies_.erase(it);
  noise_.erase(route);
}

void Comparison::record(const ResponseSample &sample) {
  std::lock_guard lock(mutex_);
  std::string routeScratch, targetScratch;
  std::string route = boundedRoute(safe(sample.route, routeScratch), true);
  Cell &cell = cells_[{route, safe(sample.target, targetScratch), sample.code}];
  cell.duration.record(sample.lastByteNs);
  if (sample.code != 0)
    cell.firstByte.record(sample.firstByteNs);
}

void Comparison::recordPair(const std::string &shadow, const std::string &route, unsigned primaryCode,
                            unsigned shadowCode) {
  std::lock_guard lock(mutex_);
  std::string routeScratch, targetScratch;
  // Same filing as record(), without counting the overflow a second time.
  std::string filed = boundedRoute(safe(route, routeScratch), false);
  Agreement &a = agreements_[{filed, safe(shadow, targetScratch)}];
  a.compared++;
  if (statusClass(primaryCode) != statusClass(shadowCode))
    a.differentClass++;
}

void Comparison::recordBodyCell(const std::string &target, const std::string &route, bool baseline,
                                const std::vector<std::string> &paths) {
  std::string routeScratch, targetScratch;
  std::string filed = boundedRoute(safe(route, routeScratch), false);
  BodyCell &cell = bodies_[{filed, safe(target, targetScratch)}];
  cell.baseline = baseline;
  cell.compared++;
  if (paths.empty())
    return;
  cell.different++;
  for (const auto &path : paths) {
    std::string scratch;
    const std::string &p = safe(path, scratch);
    if (cell.paths.count(p) || cell.paths.size() < kMaxDiffPaths)
      cell.paths[p]++;
    else
      cell.paths["..."]++; // more distinct paths than kept
  }
}

// Templated differing paths, without the ignored ones, each once.
static std::vector<std::string> templatedDiffs(const BodyDigest &a, const BodyDigest &b, const JsonPathFilter &ignore) {
  std::set<std::string> seen;
  std::vector<std::string> out;
  for (const auto &path : differingPaths(a, b)) {
    std::string t = templatePath(path);
    if (!ignore.ignored(t) && seen.insert(t).second)
      out.push_back(std::move(t));
  }
  return out;
}

std::set<std::string> Comparison::recordBaselineBody(const std::string &baseline, const std::string &route,
                                                     const BodyDigest &primary, const BodyDigest &body,
                                                     const JsonPathFilter &ignore) {
  auto paths = templatedDiffs(primary, body, ignore);
  std::lock_guard lock(mutex_); // workers share the comparison
  recordBodyCell(baseline, route, true, paths);
  std::string routeScratch;
  std::string filed = boundedRoute(safe(route, routeScratch), false);
  auto &learned = noise_[filed];
  for (const auto &p : paths)
    if (learned.size() < kMaxNoisePaths)
      learned.insert(p);
  return {paths.begin(), paths.end()};
}

void Comparison::recordBody(const std::string &shadow, const std::string &route, const BodyDigest &primary,
                            const BodyDigest &body, const std::set<std::string> &requestNoise,
                            const JsonPathFilter &ignore) {
  std::lock_guard lock(mutex_); // workers share the comparison
  std::string routeScratch;
  std::string filed = boundedRoute(safe(route, routeScratch), false);
  const std::set<std::string> *learned = nullptr;
  if (auto it = noise_.find(filed); it != noise_.end())
    learned = &it->second;
  std::vector<std::string> paths;
  for (auto &p : templatedDiffs(primary, body, ignore))
    if (!requestNoise.count(p) && !(learned && learned->count(p)))
      paths.push_back(std::move(p));
  recordBodyCell(shadow, route, false, paths);
}

namespace {

template <typename Map> std::vector<typename Map::const_pointer> sortedCells(const Map &cells) {
  std::vector<typename Map::const_pointer> out;
  for (const auto &entry : cells)
    out.push_back(&entry);
  std::sort(out.begin(), out.end(), [](auto a, auto b) {
    const auto &[ra, ta, ca] = a->first;
    const auto &[rb, tb, cb] = b->first;
    if (ra != rb)
      return ra < rb;
    if (ta != tb)
      return targetLess(ta, tb);
    return ca < cb;
  });
  return out;
}

template <typename Map> std::vector<typename Map::const_pointer> sortedAgreements(const Map &agreements) {
  std::vector<typename Map::const_pointer> out;
  for (const auto &entry : agreements)
    out.push_back(&entry);
  std::sort(out.begin(), out.end(), [](auto a, auto b) {
    if (a->first.first != b->first.first)
      return a->first.first < b->first.first;
    return targetLess(a->first.second, b->first.second);
  });
  return out;
}

} // namespace

nlohmann::ordered_json Comparison::json() const {
  std::lock_guard lock(mutex_);
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const auto *entry : sortedCells(cells_)) {
    const auto &[route, target, code] = entry->first;
    const Cell &cell = entry->second;
    nlohmann::ordered_json row;
    row["target"] = target;
    row["route"] = route;
    row["code"] = code;
    row["count"] = cell.duration.count();
    row["avg_ms"] = roundedMs(cell.duration.averageNs());
    row["p50_ms"] = roundedMs(cell.duration.quantileNs(0.50));
    row["p90_ms"] = roundedMs(cell.duration.quantileNs(0.90));
    row["p99_ms"] = roundedMs(cell.duration.quantileNs(0.99));
    row["first_byte_p50_ms"] = roundedMs(cell.firstByte.quantileNs(0.50));
    rows.push_back(std::move(row));
  }
  nlohmann::ordered_json disagreements = nlohmann::ordered_json::array();
  for (const auto *entry : sortedAgreements(agreements_)) {
    nlohmann::ordered_json d;
    d["target"] = entry->first.second;
    d["route"] = entry->first.first;
    d["compared"] = entry->second.compared;
    d["different_class"] = entry->second.differentClass;
    disagreements.push_back(std::move(d));
  }
  nlohmann::ordered_json bodies = nlohmann::ordered_json::array();
  for (const auto *entry : sortedAgreements(bodies_)) {
    const BodyCell &cell = entry->second;
    nlohmann::ordered_json b;
    b["target"] = entry->first.second;
    b["route"] = entry->first.first;
    b["role"] = cell.baseline ? "baseline" : "candidate";
    b["compared"] = cell.compared;
    b["different"] = cell.different;
    std::vector<std::pair<std::string, uint64_t>> paths(cell.paths.begin(), cell.paths.end());
    std::stable_sort(paths.begin(), paths.end(), [](const auto &x, const auto &y) { return x.second > y.second; });
    nlohmann::ordered_json p = nlohmann::ordered_json::object();
    for (const auto &[path, n] : paths)
      p[path] = n;
    b["paths"] = std::move(p);
    bodies.push_back(std::move(b));
  }
  nlohmann::ordered_json out;
  out["rows"] = std::move(rows);
  out["disagreements"] = std::move(disagreements);
  out["body_diffs"] = std::move(bodies);
  out["routes_overflowed"] = routesOverflowed_;
  out["routes_evicted"] = routesEvicted_;
  return out;
}

void Comparison::appendPrometheus(std::string &out) const {
  std::lock_guard lock(mutex_);
  auto cells = sortedCells(cells_);
  std::vector<std::string> labels;
  for (const auto *entry : cells) {
    const auto &[route, target, code] = entry->first;
    labels.push_back("target=\"" + stats::escapeLabelValue(target) + "\",route=\"" + stats::escapeLabelValue(route) + "\",code=\"" +
                     std::to_string(code) + "\"");
  }

  stats::appendFamilyHeader(out, "shadowtap_http_responses_total", "counter",
         "HTTP responses by target (primary or shadow), route and status code (0: no response).");
  for (size_t i = 0; i < cells.size(); i++)
    out +=
        "shadowtap_http_responses_total{" + labels[i] + "} " + std::to_string(cells[i]->second.duration.count()) + "\n";

  stats::appendFamilyHeader(out, "shadowtap_http_response_duration_seconds", "histogram",
         "Time from the request's last byte to the response's last byte.");
  for (size_t i = 0; i < cells.size(); i++)
    appendHistogram(out, "shadowtap_http_response_duration_seconds", labels[i], cells[i]->second.duration);

  stats::appendFamilyHeader(out, "shadowtap_http_response_first_byte_seconds", "histogram",
         "Time from the request's last byte to the response's first byte.");
  for (size_t i = 0; i < cells.size(); i++)
    if (cells[i]->second.firstByte.count())
      appendHistogram(out, "shadowtap_http_response_first_byte_seconds", labels[i], cells[i]->second.firstByte);

  auto agreements = sortedAgreements(agreements_);
  auto pairLabels = [](const auto *entry) {
    return "target=\"" + stats::escapeLabelValue(entry->first.second) + "\",route=\"" + stats::escapeLabelValue(entry->first.first) + "\"";
  };
  stats::appendFamilyHeader(out, "shadowtap_http_compared_total", "counter",
         "Requests answered by both the primary and this shadow (a response or no response).");
  for (const auto *entry : agreements)
    out += "shadowtap_http_compared_total{" + pairLabels(entry) + "} " + std::to_string(entry->second.compared) + "\n";
  stats::appendFamilyHeader(out, "shadowtap_http_disagreements_total", "counter",
         "Compared requests the shadow answered with a different status class than the primary.");
  for (const auto *entry : agreements)
    out += "shadowtap_http_disagreements_total{" + pairLabels(entry) + "} " +
           std::to_string(entry->second.differentClass) + "\n";

  auto bodies = sortedAgreements(bodies_);
  auto bodyLabels = [&](const auto *entry) {
    return pairLabels(entry) + ",role=\"" + (entry->second.baseline ? "baseline" : "candidate") + "\"";
  };
  stats::appendFamilyHeader(out, "shadowtap_http_body_compared_total", "counter",
                            "Response bodies compared with the primary's (both answered).");
  for (const auto *entry : bodies)
    out += "shadowtap_http_body_compared_total{" + bodyLabels(entry) + "} " + std::to_string(entry->second.compared) +
           "\n";
  stats::appendFamilyHeader(out, "shadowtap_http_body_different_total", "counter",
                            "Compared bodies that differed from the primary's beyond noise (baseline: every "
                            "difference, which is the noise).");
  for (const auto *entry : bodies)
    out += "shadowtap_http_body_different_total{" + bodyLabels(entry) + "} " + std::to_string(entry->second.different) +
           "\n";
  stats::appendFamilyHeader(out, "shadowtap_http_routes_overflowed_total", "counter",
                            "Responses counted under route OTHER: every kept route was in use.");
  out += "shadowtap_http_routes_overflowed_total " + std::to_string(routesOverflowed_) + "\n";
  stats::appendFamilyHeader(out, "shadowtap_http_routes_evicted_total", "counter",
                            "Routes dropped from the comparison after being idle, to make room for new ones.");
  out += "shadowtap_http_routes_evicted_total " + std::to_string(routesEvicted_) + "\n";
}

std::string formatReportTable(const nlohmann::json &report) {
  const auto &rows = arrayOf(report, "rows");
  const auto &disagreements = arrayOf(report, "disagreements");
  const auto &bodies = arrayOf(report, "body_diffs");
  if (rows.empty() && disagreements.empty() && bodies.empty())
    return "no HTTP responses compared yet (no request mirrored and answered since the agent started)\n";

  std::string out;
  std::vector<std::vector<std::string>> cells;
  for (const auto &row : rows) {
    if (!row.is_object())
      continue;
    cells.push_back({text(row, "route"), text(row, "target"), text(row, "code"), std::to_string(count(row, "count")),
                     fixed(num(row, "avg_ms"), 2), fixed(num(row, "p50_ms"), 2), fixed(num(row, "p90_ms"), 2),
                     fixed(num(row, "p99_ms"), 2)});
  }
  appendTable(out,
              {{"ROUTE", false},
               {"TARGET", false},
               {"CODE", true},
               {"COUNT", true},
               {"AVG_MS", true},
               {"P50_MS", true},
               {"P90_MS", true},
               {"P99_MS", true}},
              cells);

  out += "\nshadow vs primary (status class: 1xx..5xx, or no response)\n";
  cells.clear();
  for (const auto &d : disagreements) {
    if (!d.is_object())
      continue;
    uint64_t compared = count(d, "compared"), different = count(d, "different_class");
    cells.push_back({text(d, "route"), text(d, "target"), std::to_string(compared), std::to_string(different),
                     compared ? fixed(100.0 * double(different) / double(compared), 1) + "%" : "-"});
  }
  if (cells.empty())
    out += "no request answered by both the primary and a shadow yet\n";
  else
    appendTable(
        out, {{"ROUTE", false}, {"SHADOW", false}, {"COMPARED", true}, {"DIFFERENT_CLASS", true}, {"DIFFERENT", true}},
        cells);

  if (!bodies.empty()) {
    out += "\nresponse bodies vs primary (JSON paths that differed, noise removed; baseline: the noise)\n";
    cells.clear();
    for (const auto &b : bodies) {
      if (!b.is_object())
        continue;
      uint64_t compared = count(b, "compared"), different = count(b, "different");
      std::string top;
      if (auto it = b.find("paths"); it != b.end() && it->is_object()) {
        size_t shown = 0;
        for (const auto &[path, n] : it->items()) {
          if (shown++ == 3) {
            top += ", ...";
            break;
          }
          std::string name = path;
          for (char &c : name)
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
              c = '?';
          top += (top.empty() ? "" : ", ") + name + " x" + std::to_string(n.is_number() ? n.get<uint64_t>() : 0);
        }
      }
      std::string target = text(b, "target");
      if (text(b, "role") == "baseline")
        target += " (baseline)";
      cells.push_back({text(b, "route"), target, std::to_string(compared), std::to_string(different),
                       compared ? fixed(100.0 * double(different) / double(compared), 1) + "%" : "-",
                       top.empty() ? "-" : top});
    }
    appendTable(out,
                {{"ROUTE", false},
                 {"SHADOW", false},
                 {"COMPARED", true},
                 {"DIFFERENT", true},
                 {"SHARE", true},
                 {"TOP_PATHS", false}},
                cells);
  }

  if (report.is_object()) {
    if (uint64_t overflowed = count(report, "routes_overflowed"))
      out += "\nnote: " + std::to_string(overflowed) + " responses were counted under route \"" + kOverflowRoute +
             "\" (every kept route was in use)\n";
    if (uint64_t evicted = count(report, "routes_evicted"))
      out += "\nnote: " + std::to_string(evicted) + " idle routes were dropped to make room for new ones\n";
  }
  return out;
}

} // namespace shadowtap::compare
