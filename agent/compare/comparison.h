// SPDX-License-Identifier: Apache-2.0
// The primary-vs-shadow comparison: per target ("primary" or a shadow's HOST:PORT) x route x
// status code, the count and the latency distribution of the responses; per route and shadow,
// how many requests both answered and how many of those the shadow answered with a different
// status class (2xx/3xx/4xx/5xx) than the primary; and, with body comparison on, per route and
// shadow how many response bodies were compared with the primary's and how many differed, at
// which JSON paths (body_diff.h), noise removed.
//
// Routes are bounded, and the bound never fills up for good: at most maxRoutes routes are kept,
// least recently used first out. A new route takes the slot of the least recently used one only
// if that one has been idle for routeIdle (10 min): its rows go (counted: routes_evicted).
// Otherwise — every route busy, e.g. during a scan of random paths — the new route's responses
// are counted under the route "OTHER" (counted: routes_overflowed). So a scanner's one-off paths
// can neither push live routes out nor stay in the report after the scan: once idle, they make
// room for the next new route.
//
// Noise (Diffy's idea): with a baseline — a second copy of the primary's own version — the paths
// where the baseline's body differs from the primary's are noise (timestamps, ids, random
// values). They are learned per route (at most kMaxNoisePaths) and, together with the paths
// given by hand (JsonPathFilter), never count against a candidate. A candidate's response is
// "different" when some other path differs.
//
// Rendered three ways: `shadowtap report` text, its --json form, and Prometheus series.
// Thread-safe: every worker's HTTP stage records into the one comparison (a mutex per call; a
// recorded response is far rarer than a packet), the control thread renders it.
#pragma once

#include "compare/body_diff.h"
#include "compare/latency_histogram.h"

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>

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
  static constexpr uint64_t kDefaultRouteIdleNs = 600'000'000'000ull; // 10 min
  static constexpr size_t kMaxNoisePaths = 256;                       // learned noise paths per route
  static constexpr size_t kMaxDiffPaths = 64; // distinct differing paths kept per route x target

  // A cell is up to ~8 KiB: routes x targets x codes. `clock`: monotonic ns (tests pass their own).
  explicit Comparison(size_t maxRoutes = 256, uint64_t routeIdleNs = kDefaultRouteIdleNs,
                      std::function<uint64_t()> clock = {});

  void record(const ResponseSample &sample);
  // A request both the primary and `shadow` answered: did the status class differ?
  void recordPair(const std::string &shadow, const std::string &route, unsigned primaryCode, unsigned shadowCode);

  // Bodies, once every side of an exchange has answered. The baseline's body against the
  // primary's: its differing paths are recorded under the baseline's name and become noise for
  // the route; returns them (templated) — the noise of this very request.
  std::set<std::string> recordBaselineBody(const std::string &baseline, const std::string &route,
                                           const BodyDigest &primary, const BodyDigest &body,
                                           const JsonPathFilter &ignore);
  // A candidate's body against the primary's: different when a path differs that is neither
  // ignored, nor this request's noise, nor learned noise of the route.
  void recordBody(const std::string &shadow, const std::string &route, const BodyDigest &primary,
                  const BodyDigest &body, const std::set<std::string> &requestNoise, const JsonPathFilter &ignore);

  // {"rows": [{"target","route","code","count","avg_ms","p50_ms","p90_ms","p99_ms",
  //            "first_byte_p50_ms"}...],
  //  "disagreements": [{"target","route","compared","different_class"}...],
  //  "body_diffs": [{"target","route","role","compared","different","paths":{"$.a": N}}...],
  //  "routes_overflowed": N, "routes_evicted": N}
  // Rows sorted by route, then target (primary first), then code. body_diffs: role "candidate"
  // (a shadow) or "baseline" (its paths are the noise); paths sorted by count, then name.
  nlohmann::ordered_json json() const;
  // Prometheus text: shadowtap_http_responses_total{target,route,code},
  // shadowtap_http_response_duration_seconds histogram {target,route,code},
  // shadowtap_http_response_first_byte_seconds histogram {target,route,code},
  // shadowtap_http_compared_total / shadowtap_http_disagreements_total {target,route},
  // shadowtap_http_body_compared_total / shadowtap_http_body_different_total {target,route,role},
  // shadowtap_http_routes_overflowed_total, shadowtap_http_routes_evicted_total.
  void appendPrometheus(std::string &out) const;

  size_t routes() const {
    std::lock_guard lock(mutex_);
    return routes_.size();
  }

private:
  // The route a record is filed under: its own (admitted, maybe evicting an idle one) or OTHER.
  // `count`: whether an overflow is counted (record() counts, the others file alike silently).
  std::string boundedRoute(const std::string &route, bool count);
  void evict(const std::string &route);
  void recordBodyCell(const std::string &target, const std::string &route, bool baseline,
                      const std::vector<std::string> &paths);
  mutable std::mutex mutex_;
  struct Cell {
    LatencyHistogram duration;
    LatencyHistogram firstByte;
  };
  struct Agreement {
    uint64_t compared = 0;
    uint64_t differentClass = 0;
  };
  struct BodyCell {
    bool baseline = false;
    uint64_t compared = 0;
    uint64_t different = 0;
    std::map<std::string, uint64_t> paths; // templated path -> responses differing there
  };
  struct RouteSlot {
    uint64_t lastUsedNs = 0;
    std::list<std::string>::iterator lru;
  };
  size_t maxRoutes_;
  uint64_t routeIdleNs_;
  std::function<uint64_t()> clock_;
  std::unordered_map<std::string, RouteSlot> routes_;
  std::list<std::string> lru_; // front: most recently used
  uint64_t routesOverflowed_ = 0;
  uint64_t routesEvicted_ = 0;
  std::map<std::tuple<std::string, std::string, unsigned>, Cell> cells_; // route, target, code
  std::map<std::pair<std::string, std::string>, Agreement> agreements_;  // route, target
  std::map<std::pair<std::string, std::string>, BodyCell> bodies_;       // route, target
  std::map<std::string, std::set<std::string>> noise_;                   // route -> learned noise paths
};

// The `shadowtap report` table, from json() (so the CLI can render what it fetched).
std::string formatReportTable(const nlohmann::json &report);

} // namespace shadowtap::compare
