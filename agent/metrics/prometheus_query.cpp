// SPDX-License-Identifier: Apache-2.0
#include "metrics/prometheus_query.h"

#include "common/error.h"
#include "compare/comparison.h"
#include "metrics/http_get.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <regex>
#include <tuple>

namespace shadowtap {

HttpUrl parseHttpUrl(const std::string &url) {
  auto bad = [&](const std::string &why) {
    return UsageError("invalid --prometheus URL '" + url + "': " + why + " (expected http://HOST[:PORT][/PREFIX])");
  };
  std::string rest = url;
  auto scheme = rest.find("://");
  if (scheme != std::string::npos) {
    std::string name = rest.substr(0, scheme);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    if (name == "https")
      throw bad("https is not supported (reach Prometheus over http, e.g. through `kubectl port-forward`)");
    if (name != "http")
      throw bad("scheme '" + name + "' is not http");
    rest = rest.substr(scheme + 3);
  }
  if (rest.find_first_of("?#") != std::string::npos)
    throw bad("a query string or fragment is not allowed");
  if (std::any_of(rest.begin(), rest.end(), [](unsigned char c) { return c <= 0x20 || c >= 0x7f; }))
    throw bad("spaces or control characters");
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash), path = slash == std::string::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string::npos)
    throw bad("credentials in the URL are not supported");
  HttpUrl out;
  std::string portText;
  bool portGiven = false;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos)
      throw bad("unclosed '[' in the host");
    out.host = authority.substr(1, close - 1);
    std::string after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':')
      throw bad("unexpected '" + after + "' after the IPv6 address");
    portGiven = !after.empty();
    if (portGiven)
      portText = after.substr(1);
    if (out.host.find(':') == std::string::npos)
      throw bad("'[" + out.host + "]' is not an IPv6 address");
  } else {
    auto colon = authority.find(':');
    out.host = authority.substr(0, colon);
    portGiven = colon != std::string::npos;
    if (portGiven)
      portText = authority.substr(colon + 1);
    if (portText.find(':') != std::string::npos)
      throw bad("an IPv6 address must be in brackets");
  }
  if (out.host.empty())
    throw bad("no host");
  if (portGiven && portText.empty())
    throw bad("empty port");
  if (!portGiven)
    portText = "80";
  char *end = nullptr;
  long port = std::strtol(portText.c_str(), &end, 10);
  if (*end != '\0' || port < 1 || port > 65535 || !std::isdigit(static_cast<unsigned char>(portText.front())))
    throw bad("port '" + portText + "' is not 1-65535");
  out.port = std::to_string(port);
  while (!path.empty() && path.back() == '/')
    path.pop_back();
  out.path = path;
  return out;
}

std::string urlEncode(const std::string &value) {
  static const char *hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      out += char(c);
    else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

void validatePrometheusDuration(const std::string &text, const char *flag) {
  static const std::regex duration("([0-9]+(ms|s|m|h|d|w|y))+");
  if (!std::regex_match(text, duration))
    throw UsageError(std::string("invalid ") + flag + " '" + text + "': expected a Prometheus duration such as 30m, 1h, 7d");
}

PromQuery prometheusHttpQuery(const std::string &url, int timeoutMs) {
  HttpUrl parsed = parseHttpUrl(url);
  return [parsed, url, timeoutMs](const std::string &promql) {
    std::string target = parsed.path + "/api/v1/query?query=" + urlEncode(promql);
    HttpResponse response;
    try {
      response = httpGet(parsed.host, parsed.port, target, timeoutMs);
    } catch (const HttpGetError &e) {
      throw Error("cannot query Prometheus at " + url + ": " + e.what());
    }
    auto body = nlohmann::json::parse(response.body, nullptr, false);
    bool api = body.is_object() && body.contains("status") && body["status"].is_string();
    std::string apiError = api && body.contains("error") && body["error"].is_string() ? body["error"].get<std::string>() : "";
    for (char &c : apiError) // one line, printable
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
        c = ' ';
    if (response.status != 200)
      throw Error("Prometheus at " + url + " answered " + parsed.path + "/api/v1/query with " + response.statusLine +
                  (apiError.empty() ? " (is this the URL of a Prometheus server?)" : ": " + apiError));
    if (!api)
      throw Error("the answer of " + url + " to " + parsed.path +
                  "/api/v1/query is not Prometheus' API JSON (is this the URL of a Prometheus server?)");
    if (body["status"] != "success")
      throw Error("Prometheus at " + url + " failed the query: " + (apiError.empty() ? "no reason given" : apiError));
    const auto &data = body.value("data", nlohmann::json::object());
    if (!data.is_object() || data.value("resultType", "") != "vector" || !data.contains("result") ||
        !data["result"].is_array())
      throw Error("Prometheus at " + url + " answered with something other than an instant vector");
    return data["result"];
  };
}

namespace {

using CellKey = std::tuple<std::string, std::string, unsigned>; // route, target, code

std::string label(const nlohmann::json &sample, const char *name) {
  if (!sample.is_object() || !sample.contains("metric") || !sample["metric"].is_object())
    return "";
  const auto &metric = sample["metric"];
  auto it = metric.find(name);
  return it != metric.end() && it->is_string() ? it->get<std::string>() : "";
}

// The sample's value; NaN and +-Inf (an empty histogram's quantile) as 0.
double value(const nlohmann::json &sample) {
  if (!sample.is_object() || !sample.contains("value") || !sample["value"].is_array() || sample["value"].size() != 2 ||
      !sample["value"][1].is_string())
    return 0.0;
  double v = std::strtod(sample["value"][1].get<std::string>().c_str(), nullptr);
  return std::isfinite(v) ? v : 0.0;
}

unsigned codeOf(const std::string &text) {
  char *end = nullptr;
  unsigned long code = std::strtoul(text.c_str(), &end, 10);
  return text.empty() || *end != '\0' || code > 999 ? 0 : unsigned(code);
}

// By (route, target, code), or by (route, target) with code 0 when `withCode` is false.
std::map<CellKey, double> byCell(const nlohmann::json &result, bool withCode = true) {
  std::map<CellKey, double> out;
  for (const auto &sample : result)
    out[{label(sample, "route"), label(sample, "target"), withCode ? codeOf(label(sample, "code")) : 0}] += value(sample);
  return out;
}

double roundedMs(double seconds) { return std::round(seconds * 1e6) / 1e3; }

uint64_t wholeCount(double v) { return v > 0 ? uint64_t(std::llround(v)) : 0; }

// Primary first, then shadows by name (as the agent's own report).
bool cellLess(const CellKey &a, const CellKey &b) {
  const auto &[ra, ta, ca] = a;
  const auto &[rb, tb, cb] = b;
  if (ra != rb)
    return ra < rb;
  if (ta != tb) {
    bool pa = ta == compare::kPrimaryTarget, pb = tb == compare::kPrimaryTarget;
    return pa != pb ? pa : ta < tb;
  }
  return ca < cb;
}

// The cells of `counts` that count at least one, in the report's order.
std::vector<CellKey> countedCells(const std::map<CellKey, double> &counts) {
  std::vector<CellKey> cells;
  for (const auto &[key, count] : counts)
    if (wholeCount(count) > 0)
      cells.push_back(key);
  std::sort(cells.begin(), cells.end(), cellLess);
  return cells;
}

} // namespace

nlohmann::ordered_json clusterReport(const PromQuery &query, const std::string &window) {
  auto over = [&](const std::string &series) { return window.empty() ? series : "increase(" + series + "[" + window + "])"; };
  auto sumBy = [&](const char *by, const std::string &series) { return std::string("sum by (") + by + ") (" + over(series) + ")"; };
  auto quantile = [&](const char *q, const char *histogram) {
    return std::string("histogram_quantile(") + q + ", " + sumBy("target, route, code, le", std::string(histogram) + "_bucket") + ")";
  };
  const char *cell = "target, route, code";
  auto counts = byCell(query(sumBy(cell, "shadowtap_http_responses_total")));
  auto sums = byCell(query(sumBy(cell, "shadowtap_http_response_duration_seconds_sum")));
  auto durations = byCell(query(sumBy(cell, "shadowtap_http_response_duration_seconds_count")));
  auto p50 = byCell(query(quantile("0.5", "shadowtap_http_response_duration_seconds")));
  auto p90 = byCell(query(quantile("0.9", "shadowtap_http_response_duration_seconds")));
  auto p99 = byCell(query(quantile("0.99", "shadowtap_http_response_duration_seconds")));
  auto firstByte = byCell(query(quantile("0.5", "shadowtap_http_response_first_byte_seconds")));
  auto compared = byCell(query(sumBy("target, route", "shadowtap_http_compared_total")), false);
  auto different = byCell(query(sumBy("target, route", "shadowtap_http_disagreements_total")), false);
  auto overflow = query("sum(" + over(std::string("shadowtap_http_responses_total{route=\"") + compare::kOverflowRoute + "\"}") + ")");

  auto at = [](const std::map<CellKey, double> &m, const CellKey &k) {
    auto it = m.find(k);
    return it == m.end() ? 0.0 : it->second;
  };
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const auto &key : countedCells(counts)) {
    const auto &[route, target, code] = key;
    nlohmann::ordered_json row;
    row["target"] = target;
    row["route"] = route;
    row["code"] = code;
    row["count"] = wholeCount(at(counts, key));
    double n = at(durations, key);
    row["avg_ms"] = n > 0 ? roundedMs(at(sums, key) / n) : 0.0;
    row["p50_ms"] = roundedMs(at(p50, key));
    row["p90_ms"] = roundedMs(at(p90, key));
    row["p99_ms"] = roundedMs(at(p99, key));
    row["first_byte_p50_ms"] = roundedMs(at(firstByte, key));
    rows.push_back(std::move(row));
  }

  nlohmann::ordered_json disagreements = nlohmann::ordered_json::array();
  for (const auto &key : countedCells(compared)) {
    nlohmann::ordered_json d;
    d["target"] = std::get<1>(key);
    d["route"] = std::get<0>(key);
    d["compared"] = wholeCount(at(compared, key));
    d["different_class"] = wholeCount(at(different, key));
    disagreements.push_back(std::move(d));
  }

  nlohmann::ordered_json out;
  out["rows"] = std::move(rows);
  out["disagreements"] = std::move(disagreements);
  out["routes_overflowed"] = overflow.empty() ? 0 : wholeCount(value(overflow[0]));
  return out;
}

} // namespace shadowtap
