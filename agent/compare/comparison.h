// SPDX-License-Identifier: Apache-2.0
// The primary-vs-shadow comparison: per target ("primary" or a shadow's HOST:PORT) x route x
// status code, the count and the latency distribution of the responses; per route and shadow,
// how many requests both answered and how many of those the shadow answered with a different
// status class (2xx/3xx/4xx/5xx) than the primary. Bounded: past maxRoutes distinct routes, new
// ones are counted under the route "OTHER" (and the overflow is counted).
//
// Rendered three ways: `shadowtap report` text, its --json form, and Prometheus series.
// Thread-safe: every worker's HTTP stage records into the one comparison (a mutex per call; a
// recorded response is far rarer than a packet), the control thread renders it.
#pragma once

#include "compare/latency_histogram.h"

#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>

namespace shadowtap::compare {

inline constexpr const char *kPrimaryTarget = "primary";
inline constexpr const char *kOverflowRoute = "OTHER";

struct ResponseSample {
  std::string target;
  std::string route;
  unsigned code = 0;       // 0: no response (connection closed or reset before one came)
  uint64_t firstByteNs = 0; // request's last byte -> response's first byte
  uint64_t lastByteNs = 0;  // request's last byte -> response's last byte (the "duration")
};

class Comparison {
public:
  explicit Comparison(size_t maxRoutes = 256); // a cell is up to ~8 KiB: routes x targets x codes

  void record(const ResponseSample &sample);
  // A request both the primary and `shadow` answered: did the status class differ?
  void recordPair(const std::string &shadow, const std::string &route, unsigned primaryCode, unsigned shadowCode);

  // {"rows": [{"target","route","code","count","avg_ms","p50_ms","p90_ms","p99_ms",
  //            "first_byte_p50_ms"}...],
  //  "disagreements": [{"target","route","compared","different_class"}...],
  //  "routes_overflowed": N}
  // Rows sorted by route, then target (primary first), then code.
  nlohmann::ordered_json json() const;
  // Prometheus text: shadowtap_http_responses_total{target,route,code},
  // shadowtap_http_response_duration_seconds histogram {target,route,code},
  // shadowtap_http_response_first_byte_seconds histogram {target,route,code},
  // shadowtap_http_compared_total / shadowtap_http_disagreements_total {target,route}.
  void appendPrometheus(std::string &out) const;

private:
  std::string boundedRoute(const std::string &route);
  mutable std::mutex mutex_;
  struct Cell {
    LatencyHistogram duration;
    LatencyHistogram firstByte;
  };
  struct Agreement {
    uint64_t compared = 0;
    uint64_t differentClass = 0;
  };
  size_t maxRoutes_;
  std::set<std::string> routes_;
  uint64_t routesOverflowed_ = 0;
  std::map<std::tuple<std::string, std::string, unsigned>, Cell> cells_; // route, target, code
  std::map<std::pair<std::string, std::string>, Agreement> agreements_;  // route, target
};

// The `shadowtap report` table, from json() (so the CLI can render what it fetched).
std::string formatReportTable(const nlohmann::json &report);

} // namespace shadowtap::compare
