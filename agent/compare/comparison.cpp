// SPDX-License-Identifier: Apache-2.0
// Notes on the contract in comparison.h:
//  - routes_overflowed counts the responses (record() calls) put under "OTHER" because maxRoutes
//    distinct routes were already known; recordPair() files pairs under "OTHER" the same way but
//    does not count them again.
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

Comparison::Comparison(size_t maxRoutes) : maxRoutes_(maxRoutes) {}

std::string Comparison::boundedRoute(const std::string &route) {
  if (routes_.count(route))
    return route;
  if (routes_.size() < maxRoutes_) {
    routes_.insert(route);
    return route;
  }
  routesOverflowed_++;
  return kOverflowRoute;
}

void Comparison::record(const ResponseSample &sample) {
  std::lock_guard lock(mutex_);
  std::string routeScratch, targetScratch;
  std::string route = boundedRoute(safe(sample.route, routeScratch));
  Cell &cell = cells_[{route, safe(sample.target, targetScratch), sample.code}];
  cell.duration.record(sample.lastByteNs);
  if (sample.code != 0)
    cell.firstByte.record(sample.firstByteNs);
}

void Comparison::recordPair(const std::string &shadow, const std::string &route, unsigned primaryCode,
                            unsigned shadowCode) {
  std::lock_guard lock(mutex_);
  std::string routeScratch, targetScratch;
  const std::string &r = safe(route, routeScratch);
  // Same filing as record(), without counting the overflow a second time.
  std::string filed = kOverflowRoute;
  if (routes_.count(r) || routes_.size() < maxRoutes_) {
    routes_.insert(r);
    filed = r;
  }
  Agreement &a = agreements_[{filed, safe(shadow, targetScratch)}];
  a.compared++;
  if (statusClass(primaryCode) != statusClass(shadowCode))
    a.differentClass++;
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
  nlohmann::ordered_json out;
  out["rows"] = std::move(rows);
  out["disagreements"] = std::move(disagreements);
  out["routes_overflowed"] = routesOverflowed_;
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
}

std::string formatReportTable(const nlohmann::json &report) {
  const auto &rows = arrayOf(report, "rows");
  const auto &disagreements = arrayOf(report, "disagreements");
  if (rows.empty() && disagreements.empty())
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

  if (report.is_object())
    if (uint64_t overflowed = count(report, "routes_overflowed"))
      out += "\nnote: " + std::to_string(overflowed) + " responses were counted under route \"" + kOverflowRoute +
             "\" (the route limit was reached)\n";
  return out;
}

} // namespace shadowtap::compare
