// SPDX-License-Identifier: Apache-2.0
// `shadowtap report --prometheus URL`: the per-route primary-vs-shadow report aggregated over every
// agent, computed by the Prometheus that scrapes them all, through its HTTP API (instant queries,
// GET /api/v1/query). The report has the schema of the agent's own (compare::Comparison::json()):
//   rows           sum by (target, route, code) of shadowtap_http_responses_total (count);
//                  avg from the duration histograms' _sum / _count; p50/p90/p99 and the
//                  first-byte p50 from histogram_quantile over the summed buckets
//   disagreements  sum by (target, route) of shadowtap_http_compared_total / _disagreements_total
//   routes_overflowed  the responses counted under route "OTHER"
// Without a window the counters are taken as they are (totals since each agent started: the sum of
// the agents' own reports); with a window W (Prometheus duration, e.g. 1h) each series is
// increase(...[W]) (counts rounded to whole responses). Quantiles come from the exported bucket
// bounds (1 ms, 2.5 ms, 5 ms, ... 60 s), interpolated within a bucket: coarser than an agent's
// own report, whose histogram has 2 % buckets.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace shadowtap {

struct HttpUrl {
  std::string host; // name or address (IPv6 without brackets)
  std::string port; // "9090"
  std::string path; // prefix without a trailing '/': "" or "/prometheus"
};

// http://HOST[:PORT][/PREFIX]; no scheme means http; the port defaults to 80. Throws UsageError for
// anything else (https, credentials, a query string, a bad port), naming what is wrong.
HttpUrl parseHttpUrl(const std::string &url);
// Percent-encoding of a query parameter value (RFC 3986 unreserved characters kept).
std::string urlEncode(const std::string &value);
// A Prometheus duration ("30s", "1h30m", "7d"); throws UsageError otherwise.
void validatePrometheusDuration(const std::string &text, const char *flag);

// Runs one instant query and returns data.result (an array of {"metric": {...}, "value": [t, "v"]}).
using PromQuery = std::function<nlohmann::json(const std::string &promql)>;

// The HTTP API of the Prometheus at `url`: GET PREFIX/api/v1/query?query=...; throws Error with one
// line naming the URL for: unreachable, timed out, HTTP status other than 200 (with Prometheus'
// own error text when it sent one), a body that is not the API's JSON, status other than
// "success", a result that is not a vector.
PromQuery prometheusHttpQuery(const std::string &url, int timeoutMs = 10000);

// The report (Comparison::json() schema) from the queries above. `window` is "" or a duration.
nlohmann::ordered_json clusterReport(const PromQuery &query, const std::string &window);

} // namespace shadowtap
