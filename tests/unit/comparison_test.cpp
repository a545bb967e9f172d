// SPDX-License-Identifier: Apache-2.0
#include "compare/comparison.h"

#include "compare/route_template.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace shadowtap::compare {
namespace {

constexpr uint64_t kMs = 1'000'000;

ResponseSample sample(std::string target, std::string route, unsigned code, uint64_t lastByteNs,
                      uint64_t firstByteNs = 0) {
  ResponseSample s;
  s.target = std::move(target);
  s.route = std::move(route);
  s.code = code;
  s.firstByteNs = firstByteNs ? firstByteNs : lastByteNs / 2;
  s.lastByteNs = lastByteNs;
  return s;
}

// ---- A strict-enough reader of the Prometheus text format (0.0.4) ----

struct Series {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> types; // family -> type
  std::vector<Series> series;
};

// Parses `text`, failing the test on anything malformed. Checks: HELP and TYPE once per family,
// HELP before TYPE before samples, every sample belongs to a declared family (histograms: _bucket,
// _sum, _count), label values escaped correctly, values are numbers, lines end with '\n'.
Exposition parsePrometheus(const std::string &text) {
  Exposition out;
  std::set<std::string> helps;
  EXPECT_TRUE(text.empty() || text.back() == '\n');
  std::istringstream in(text);
  std::string line;
  auto familyOf = [&](const std::string &name) -> std::string {
    if (out.types.count(name))
      return name;
    for (const char *suffix : {"_bucket", "_sum", "_count"}) {
      std::string s(suffix);
      if (name.size() > s.size() && name.ends_with(s)) {
        std::string base = name.substr(0, name.size() - s.size());
        if (out.types.count(base) && out.types[base] == "histogram")
          return base;
      }
    }
    return "";
  };
  while (std::getline(in, line)) {
    if (line.starts_with("# HELP ")) {
      std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(helps.insert(name).second) << "HELP twice: " << name;
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      std::istringstream words(line.substr(7));
      std::string name, type;
      words >> name >> type;
      EXPECT_TRUE(helps.count(name)) << "TYPE before HELP: " << name;
      EXPECT_FALSE(out.types.count(name)) << "TYPE twice: " << name;
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << line;
      out.types[name] = type;
      continue;
    }
    EXPECT_FALSE(line.starts_with("#")) << line;
    Series s;
    size_t i = 0;
    while (i < line.size() && (std::isalnum(static_cast<unsigned char>(line[i])) || line[i] == '_' || line[i] == ':'))
      i++;
    s.name = line.substr(0, i);
    EXPECT_FALSE(s.name.empty()) << line;
    EXPECT_NE(familyOf(s.name), "") << "sample of an undeclared family: " << line;
    if (i < line.size() && line[i] == '{') {
      i++;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        EXPECT_NE(eq, std::string::npos) << line;
        if (eq == std::string::npos)
          return out;
        std::string key = line.substr(i, eq - i);
        EXPECT_EQ(line[eq + 1], '"') << line;
        std::string value;
        size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; j++) {
          if (line[j] == '\\') {
            j++;
            EXPECT_TRUE(j < line.size() && (line[j] == '\\' || line[j] == '"' || line[j] == 'n')) << line;
            value += line[j] == 'n' ? '\n' : line[j];
          } else {
            value += line[j];
          }
        }
        EXPECT_LT(j, line.size()) << "unterminated label value: " << line;
        EXPECT_TRUE(s.labels.emplace(key, value).second) << "label twice: " << line;
        i = j + 1;
        if (i < line.size() && line[i] == ',')
          i++;
      }
      EXPECT_LT(i, line.size()) << line;
      i++;
    }
    EXPECT_EQ(line[i], ' ') << line;
    std::string number = line.substr(i + 1);
    char *end = nullptr;
    s.value = std::strtod(number.c_str(), &end);
    EXPECT_TRUE(!number.empty() && *end == '\0') << "bad value: " << line;
    out.series.push_back(std::move(s));
  }
  return out;
}

std::vector<Series> named(const Exposition &e, const std::string &name) {
  std::vector<Series> out;
  for (const auto &s : e.series)
    if (s.name == name)
      out.push_back(s);
  return out;
}

// ---- Aggregation and JSON ----

TEST(Comparison, EmptyJsonShape) {
  Comparison c;
  auto j = c.json();
  EXPECT_EQ(j.dump(), R"({"rows":[],"disagreements":[],"body_diffs":[],"routes_overflowed":0,"routes_evicted":0})");
}

TEST(Comparison, AggregatesPerTargetRouteAndCode) {
  Comparison c;
  for (uint64_t ms : {1, 2, 3, 4})
    c.record(sample("primary", "GET /books/{id}", 200, ms * kMs));
  c.record(sample("primary", "GET /books/{id}", 404, 7 * kMs));
  c.record(sample("10.0.0.3:8080", "GET /books/{id}", 200, 10 * kMs));

  auto rows = c.json()["rows"];
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["target"], "primary");
  EXPECT_EQ(rows[0]["code"], 200);
  EXPECT_EQ(rows[0]["count"], 4);
  EXPECT_DOUBLE_EQ(rows[0]["avg_ms"].get<double>(), 2.5);
  EXPECT_NEAR(rows[0]["p50_ms"].get<double>(), 2.5, 2.5 * 0.02);
  EXPECT_NEAR(rows[0]["p99_ms"].get<double>(), 3.97, 3.97 * 0.02);
  EXPECT_LE(rows[0]["p99_ms"].get<double>(), 4.0);
  EXPECT_NEAR(rows[0]["first_byte_p50_ms"].get<double>(), 1.25, 1.25 * 0.02);
  EXPECT_EQ(rows[1]["code"], 404);
  EXPECT_EQ(rows[1]["count"], 1);
  EXPECT_DOUBLE_EQ(rows[1]["p90_ms"].get<double>(), 7.0);
  EXPECT_EQ(rows[2]["target"], "10.0.0.3:8080");
}

TEST(Comparison, RowFieldsInContractOrderAndMillisecondsRounded) {
  Comparison c;
  c.record(sample("primary", "GET /", 200, 1'234'567, 345'678));
  auto row = c.json()["rows"][0];
  std::vector<std::string> keys;
  for (const auto &[key, value] : row.items())
    keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"target", "route", "code", "count", "avg_ms", "p50_ms", "p90_ms", "p99_ms",
                                            "first_byte_p50_ms"}));
  EXPECT_TRUE(row["avg_ms"].is_number_float());
  EXPECT_DOUBLE_EQ(row["avg_ms"].get<double>(), 1.235);
  EXPECT_DOUBLE_EQ(row["p50_ms"].get<double>(), 1.235);
  EXPECT_DOUBLE_EQ(row["first_byte_p50_ms"].get<double>(), 0.346);
  EXPECT_EQ(row.dump(), R"({"target":"primary","route":"GET /","code":200,"count":1,"avg_ms":1.235,"p50_ms":1.235,)"
                        R"("p90_ms":1.235,"p99_ms":1.235,"first_byte_p50_ms":0.346})");
}

TEST(Comparison, RowsSortedByRouteThenPrimaryThenShadowsThenCode) {
  Comparison c;
  // Recorded in a scrambled order; "10.x" sorts before "primary" as a string but must not here.
  c.record(sample("zeta:1", "GET /b", 500, kMs));
  c.record(sample("10.0.0.3:8080", "GET /b", 200, kMs));
  c.record(sample("primary", "GET /b", 503, kMs));
  c.record(sample("primary", "GET /b", 200, kMs));
  c.record(sample("10.0.0.3:8080", "GET /a", 200, kMs));
  c.record(sample("primary", "GET /a", 0, kMs));
  std::vector<std::string> order;
  auto report = c.json();
  for (const auto &row : report["rows"])
    order.push_back(row["route"].get<std::string>() + "|" + row["target"].get<std::string>() + "|" +
                    std::to_string(row["code"].get<unsigned>()));
  EXPECT_EQ(order, (std::vector<std::string>{"GET /a|primary|0", "GET /a|10.0.0.3:8080|200", "GET /b|primary|200",
                                             "GET /b|primary|503", "GET /b|10.0.0.3:8080|200", "GET /b|zeta:1|500"}));
}

TEST(Comparison, NoResponseHasNoFirstByte) {
  Comparison c;
  c.record(sample("shadow:1", "GET /", 0, 30 * kMs, 0));
  auto row = c.json()["rows"][0];
  EXPECT_EQ(row["code"], 0);
  EXPECT_EQ(row["count"], 1);
  EXPECT_DOUBLE_EQ(row["p50_ms"].get<double>(), 30.0);
  EXPECT_DOUBLE_EQ(row["first_byte_p50_ms"].get<double>(), 0.0);
}

TEST(Comparison, RoutesPastTheLimitGoToOther) {
  Comparison c(2);
  c.record(sample("primary", "GET /a", 200, kMs));
  c.record(sample("primary", "GET /b", 200, kMs));
  c.record(sample("primary", "GET /c", 200, kMs)); // third distinct route
  c.record(sample("primary", "GET /d", 200, kMs));
  c.record(sample("primary", "GET /a", 200, kMs)); // known: still its own row
  c.recordPair("s:1", "GET /e", 200, 200);         // filed under OTHER, not counted again
  auto j = c.json();
  EXPECT_EQ(j["routes_overflowed"], 2);
  ASSERT_EQ(j["rows"].size(), 3u);
  EXPECT_EQ(j["rows"][0]["route"], "GET /a");
  EXPECT_EQ(j["rows"][0]["count"], 2);
  EXPECT_EQ(j["rows"][1]["route"], "GET /b");
  EXPECT_EQ(j["rows"][2]["route"], kOverflowRoute);
  EXPECT_EQ(j["rows"][2]["count"], 2);
  ASSERT_EQ(j["disagreements"].size(), 1u);
  EXPECT_EQ(j["disagreements"][0]["route"], kOverflowRoute);
}

TEST(Comparison, PairsRegisterRoutesToo) {
  Comparison c(1);
  c.recordPair("s:1", "GET /a", 200, 200);
  c.record(sample("primary", "GET /b", 200, kMs)); // the one slot is taken by the pair's route
  auto j = c.json();
  EXPECT_EQ(j["rows"][0]["route"], kOverflowRoute);
  EXPECT_EQ(j["disagreements"][0]["route"], "GET /a");
  EXPECT_EQ(j["routes_overflowed"], 1);
}

TEST(Comparison, DisagreementIsADifferentStatusClass) {
  Comparison c;
  const std::string r = "GET /x";
  c.recordPair("s:1", r, 200, 201); // same class
  c.recordPair("s:1", r, 200, 204);
  c.recordPair("s:1", r, 200, 500); // differs
  c.recordPair("s:1", r, 404, 410); // same class
  c.recordPair("s:1", r, 302, 200); // differs
  c.recordPair("s:1", r, 0, 0);     // neither answered: agree
  c.recordPair("s:1", r, 200, 0);   // the shadow did not answer: differs
  c.recordPair("s:1", r, 0, 99);    // no response vs an invalid code: differs
  c.recordPair("a:2", r, 500, 503);
  auto d = c.json()["disagreements"];
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].dump(), R"({"target":"a:2","route":"GET /x","compared":1,"different_class":0})");
  EXPECT_EQ(d[1].dump(), R"({"target":"s:1","route":"GET /x","compared":8,"different_class":4})");
}

TEST(Comparison, UnsafeStringsAreMadeDumpable) {
  Comparison c;
  c.record(sample("bad\xff\n", "GET /\x01", 200, kMs));
  c.record(sample("t", std::string(1000, 'r'), 200, kMs));
  auto j = c.json();
  std::string dumped;
  EXPECT_NO_THROW(dumped = j.dump());
  EXPECT_EQ(j["rows"][0]["target"], "bad??");
  EXPECT_EQ(j["rows"][0]["route"], "GET /?");
  EXPECT_EQ(j["rows"][1]["route"].get<std::string>().size(), 256u);
}

TEST(Comparison, WorksWithRouteOf) {
  Comparison c;
  c.record(sample("primary", routeOf("GET", "/books/17?x=1"), 200, kMs));
  c.record(sample("primary", routeOf("GET", "/books/42"), 200, 3 * kMs));
  auto rows = c.json()["rows"];
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["route"], "GET /books/{id}");
  EXPECT_EQ(rows[0]["count"], 2);
}

// ---- Prometheus ----

TEST(ComparisonPrometheus, EmptyStillDeclaresEveryFamily) {
  Comparison c;
  std::string text;
  c.appendPrometheus(text);
  auto e = parsePrometheus(text);
  ASSERT_EQ(e.series.size(), 2u); // the two route counters, unlabelled
  EXPECT_EQ(e.series[0].name, "shadowtap_http_routes_overflowed_total");
  EXPECT_EQ(e.series[1].name, "shadowtap_http_routes_evicted_total");
  EXPECT_EQ(e.types, (std::map<std::string, std::string>{
                         {"shadowtap_http_responses_total", "counter"},
                         {"shadowtap_http_response_duration_seconds", "histogram"},
                         {"shadowtap_http_response_first_byte_seconds", "histogram"},
                         {"shadowtap_http_compared_total", "counter"},
                         {"shadowtap_http_disagreements_total", "counter"},
                         {"shadowtap_http_body_compared_total", "counter"},
                         {"shadowtap_http_body_different_total", "counter"},
                         {"shadowtap_http_routes_overflowed_total", "counter"},
                         {"shadowtap_http_routes_evicted_total", "counter"},
                     }));
}

TEST(ComparisonPrometheus, AppendsToExistingText) {
  Comparison c;
  std::string text = "# HELP other_metric x\n# TYPE other_metric gauge\nother_metric 1\n";
  c.appendPrometheus(text);
  EXPECT_TRUE(text.starts_with("# HELP other_metric x\n# TYPE other_metric gauge\nother_metric 1\n# HELP "));
  parsePrometheus(text);
}

TEST(ComparisonPrometheus, SeriesAndCumulativeHistograms) {
  Comparison c;
  // 0.5 ms, 1 ms (exactly on a bound), 3 ms, 20 ms, 2 s, 90 s (above the last finite bound)
  for (uint64_t ns : {500'000ULL, 1'000'000ULL, 3'000'000ULL, 20'000'000ULL, 2'000'000'000ULL, 90'000'000'000ULL})
    c.record(sample("primary", "GET /a", 200, ns, ns / 2));
  c.record(sample("10.0.0.3:8080", "GET /a", 502, 4 * kMs));
  c.record(sample("10.0.0.3:8080", "GET /a", 0, 4 * kMs, 0));
  c.recordPair("10.0.0.3:8080", "GET /a", 200, 502);
  c.recordPair("10.0.0.3:8080", "GET /a", 200, 200);
  std::string text;
  c.appendPrometheus(text);
  auto e = parsePrometheus(text);

  auto totals = named(e, "shadowtap_http_responses_total");
  ASSERT_EQ(totals.size(), 3u);
  EXPECT_EQ(totals[0].labels,
            (std::map<std::string, std::string>{{"target", "primary"}, {"route", "GET /a"}, {"code", "200"}}));
  EXPECT_EQ(totals[0].value, 6);
  EXPECT_EQ(totals[1].labels.at("code"), "0");
  EXPECT_EQ(totals[2].labels.at("code"), "502");

  // The primary's duration buckets: cumulative, le ascending, +Inf last and equal to _count.
  std::vector<std::pair<std::string, double>> buckets;
  for (const auto &s : named(e, "shadowtap_http_response_duration_seconds_bucket"))
    if (s.labels.at("target") == "primary") {
      EXPECT_EQ(s.labels.size(), 4u);
      buckets.emplace_back(s.labels.at("le"), s.value);
    }
  ASSERT_EQ(buckets.size(), 16u);
  std::vector<std::string> les;
  for (const auto &[le, n] : buckets)
    les.push_back(le);
  EXPECT_EQ(les, (std::vector<std::string>{"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
                                           "1", "2.5", "5", "10", "30", "60", "+Inf"}));
  std::map<std::string, double> le(buckets.begin(), buckets.end());
  EXPECT_EQ(le["0.001"], 2); // 0.5 ms and exactly 1 ms
  EXPECT_EQ(le["0.005"], 3); // + 3 ms
  EXPECT_EQ(le["0.025"], 4); // + 20 ms
  EXPECT_EQ(le["2.5"], 5);   // + 2 s
  EXPECT_EQ(le["60"], 5);    // 90 s only in +Inf
  EXPECT_EQ(le["+Inf"], 6);
  for (size_t i = 1; i < buckets.size(); i++)
    EXPECT_GE(buckets[i].second, buckets[i - 1].second) << buckets[i].first;

  auto sums = named(e, "shadowtap_http_response_duration_seconds_sum");
  auto counts = named(e, "shadowtap_http_response_duration_seconds_count");
  ASSERT_EQ(sums.size(), 3u);
  ASSERT_EQ(counts.size(), 3u);
  EXPECT_NEAR(sums[0].value, 92.0245, 1e-9); // seconds
  EXPECT_EQ(counts[0].value, 6);

  // First byte: no series for the code-0 cell (there was no first byte).
  auto firstByteCounts = named(e, "shadowtap_http_response_first_byte_seconds_count");
  ASSERT_EQ(firstByteCounts.size(), 2u);
  for (const auto &s : firstByteCounts)
    EXPECT_NE(s.labels.at("code"), "0");

  auto compared = named(e, "shadowtap_http_compared_total");
  auto disagreements = named(e, "shadowtap_http_disagreements_total");
  ASSERT_EQ(compared.size(), 1u);
  ASSERT_EQ(disagreements.size(), 1u);
  EXPECT_EQ(compared[0].labels, (std::map<std::string, std::string>{{"target", "10.0.0.3:8080"}, {"route", "GET /a"}}));
  EXPECT_EQ(compared[0].value, 2);
  EXPECT_EQ(disagreements[0].value, 1);
}

TEST(ComparisonPrometheus, LabelValuesAreEscaped) {
  Comparison c;
  c.record(sample("we\"ird\\host:1", "GET /q\"uote", 200, kMs));
  c.record(sample("line\nbreak", "GET /", 200, kMs)); // control bytes never reach a label
  std::string text;
  c.appendPrometheus(text);
  EXPECT_NE(text.find(R"(shadowtap_http_responses_total{target="we\"ird\\host:1",route="GET /q\"uote",code="200"} 1)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(target="line?break")"), std::string::npos) << text;
  auto e = parsePrometheus(text); // the reader unescapes: round trip
  bool found = false;
  for (const auto &s : named(e, "shadowtap_http_responses_total"))
    found = found || (s.labels.at("target") == "we\"ird\\host:1" && s.labels.at("route") == "GET /q\"uote");
  EXPECT_TRUE(found);
}

// ---- The report table ----

TEST(ReportTable, EmptyReportSaysSo) {
  Comparison c;
  std::string table = formatReportTable(c.json());
  EXPECT_NE(table.find("no HTTP responses compared yet"), std::string::npos) << table;
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 1);
  // Not a report at all: same, no throw.
  EXPECT_NE(formatReportTable(nlohmann::json()).find("no HTTP responses compared yet"), std::string::npos);
  EXPECT_NE(formatReportTable(nlohmann::json::array()).find("no HTTP responses compared yet"), std::string::npos);
}

std::vector<std::string> lines(const std::string &text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    out.push_back(l);
  return out;
}

TEST(ReportTable, AlignedColumnsAndShadowSection) {
  Comparison c;
  for (int i = 0; i < 120; i++) {
    c.record(sample("primary", "GET /books/{id}", 200, 1'210'000));
    c.record(sample("10.0.0.3:8080", "GET /books/{id}", 200, 1'300'000));
    c.recordPair("10.0.0.3:8080", "GET /books/{id}", 200, 200);
  }
  for (int i = 0; i < 3; i++) {
    c.record(sample("primary", "POST /books", 201, 5 * kMs));
    c.record(sample("10.0.0.3:8080", "POST /books", 500, 2 * kMs));
    c.recordPair("10.0.0.3:8080", "POST /books", 201, 500);
  }
  std::string table = formatReportTable(c.json());
  auto l = lines(table);
  ASSERT_GE(l.size(), 9u) << table;
  EXPECT_EQ(l[0], "ROUTE            TARGET         CODE  COUNT  AVG_MS  P50_MS  P90_MS  P99_MS") << table;
  EXPECT_EQ(l[1], "GET /books/{id}  primary         200    120    1.21    1.21    1.21    1.21") << table;
  EXPECT_EQ(l[2], "GET /books/{id}  10.0.0.3:8080   200    120    1.30    1.30    1.30    1.30") << table;
  EXPECT_EQ(l[3], "POST /books      primary         201      3    5.00    5.00    5.00    5.00") << table;
  EXPECT_EQ(l[4], "POST /books      10.0.0.3:8080   500      3    2.00    2.00    2.00    2.00") << table;
  EXPECT_EQ(l[5], "");
  EXPECT_TRUE(l[6].starts_with("shadow vs primary")) << table;
  EXPECT_EQ(l[7], "ROUTE            SHADOW         COMPARED  DIFFERENT_CLASS  DIFFERENT") << table;
  EXPECT_EQ(l[8], "GET /books/{id}  10.0.0.3:8080       120                0       0.0%") << table;
  EXPECT_EQ(l[9], "POST /books      10.0.0.3:8080         3                3     100.0%") << table;
  EXPECT_EQ(table.find("note:"), std::string::npos);
}

TEST(ReportTable, NoShadowPairsAndOverflowNote) {
  Comparison c(1);
  c.record(sample("primary", "GET /a", 200, kMs));
  c.record(sample("primary", "GET /b", 200, kMs));
  std::string table = formatReportTable(c.json());
  EXPECT_NE(table.find("no request answered by both the primary and a shadow yet"), std::string::npos) << table;
  EXPECT_NE(table.find("note: 1 responses were counted under route \"OTHER\""), std::string::npos) << table;
}

// ---- Route bounds: least recently used first out, but only once idle ----

struct FakeClock {
  uint64_t now = 1;
  std::function<uint64_t()> fn() {
    return [this] { return now; };
  }
};

constexpr uint64_t kIdle = 60 * 1'000'000'000ull;

std::vector<std::string> routesOf(const nlohmann::ordered_json &report) {
  std::vector<std::string> out;
  for (const auto &row : report["rows"])
    out.push_back(row["route"]);
  return out;
}

TEST(ComparisonRoutes, AScanCannotPushBusyRoutesOut) {
  FakeClock clock;
  Comparison c(3, kIdle, clock.fn());
  c.record(sample("primary", "GET /a", 200, kMs));
  c.record(sample("primary", "GET /b", 200, kMs));
  c.record(sample("primary", "GET /c", 200, kMs));
  for (int i = 0; i < 1000; i++) { // a scanner's random paths, all within the idle time
    clock.now += 1'000'000;
    c.record(sample("primary", "GET /scan" + std::to_string(i), 404, kMs));
  }
  auto j = c.json();
  EXPECT_EQ(routesOf(j), (std::vector<std::string>{"GET /a", "GET /b", "GET /c", kOverflowRoute}));
  EXPECT_EQ(j["routes_overflowed"], 1000);
  EXPECT_EQ(j["routes_evicted"], 0);
}

TEST(ComparisonRoutes, IdleRoutesMakeRoomSoTheReportRecovers) {
  FakeClock clock;
  Comparison c(2, kIdle, clock.fn());
  // The table fills with one-off scanner paths...
  c.record(sample("primary", "GET /scan1", 404, kMs));
  c.record(sample("primary", "GET /scan2", 404, kMs));
  c.recordPair("s:1", "GET /scan2", 404, 404);
  // ...a real route arriving now goes to OTHER (both are fresh)...
  c.record(sample("primary", "GET /books/{id}", 200, kMs));
  EXPECT_EQ(c.json()["routes_overflowed"], 1);
  // ...but once they have been idle long enough, it takes the least recently used one's place.
  clock.now += kIdle;
  c.record(sample("primary", "GET /books/{id}", 200, kMs));
  c.record(sample("primary", "GET /authors", 200, kMs));
  auto j = c.json();
  EXPECT_EQ(routesOf(j), (std::vector<std::string>{"GET /authors", "GET /books/{id}", kOverflowRoute}));
  EXPECT_EQ(j["routes_evicted"], 2);
  EXPECT_TRUE(j["disagreements"].empty()) << "an evicted route's pairs go with it";
  // A used route is kept: the next new one waits for an idle slot again.
  clock.now += 1;
  c.record(sample("primary", "GET /new", 200, kMs));
  EXPECT_EQ(c.json()["routes_overflowed"], 2);
}

// ---- Bodies ----

std::span<const uint8_t> bytesOf(const std::string &s) {
  return {reinterpret_cast<const uint8_t *>(s.data()), s.size()};
}

BodyDigestPtr body(const std::string &json) {
  BodyCollector c(nullptr, true);
  c.append(bytesOf(json));
  return c.finish();
}

const nlohmann::ordered_json *bodyRow(const nlohmann::ordered_json &report, const std::string &target) {
  for (const auto &b : report["body_diffs"])
    if (b["target"] == target)
      return &b;
  return nullptr;
}

TEST(ComparisonBodies, BaselineNoiseIsNotReportedForCandidates) {
  Comparison c;
  const std::string route = "GET /items/{id}";
  JsonPathFilter ignore({"$.served_at"});
  for (int id = 0; id < 10; id++) {
    std::string common = "\"id\":" + std::to_string(id) + ",\"served_at\":" + std::to_string(id * 7);
    auto primary = body("{" + common + ",\"nonce\":" + std::to_string(id * 3) + ",\"price\":10}");
    auto baseline = body("{" + common + ",\"nonce\":" + std::to_string(id * 5 + 1) + ",\"price\":10}");
    // The candidate flips the price for even ids, and has its own nonce and served_at.
    auto candidate =
        body("{\"id\":" + std::to_string(id) + ",\"served_at\":1,\"nonce\":" + std::to_string(id * 11 + 2) +
             ",\"price\":" + (id % 2 ? "10" : "11") + "}");
    auto noise = c.recordBaselineBody("baseline:1", route, *primary, *baseline, ignore);
    EXPECT_EQ(noise, (std::set<std::string>{"$.nonce"}));
    c.recordBody("cand:1", route, *primary, *candidate, noise, ignore);
  }
  auto j = c.json();
  auto *cand = bodyRow(j, "cand:1");
  ASSERT_TRUE(cand) << j.dump(2);
  EXPECT_EQ((*cand)["role"], "candidate");
  EXPECT_EQ((*cand)["compared"], 10);
  EXPECT_EQ((*cand)["different"], 5);
  EXPECT_EQ((*cand)["paths"].dump(), R"({"$.price":5})");
  auto *base = bodyRow(j, "baseline:1");
  ASSERT_TRUE(base);
  EXPECT_EQ((*base)["role"], "baseline");
  EXPECT_EQ((*base)["different"], 10);
  EXPECT_EQ((*base)["paths"].dump(), R"({"$.nonce":10})");
}

TEST(ComparisonBodies, LearnedNoiseCoversRequestsWhereTheBaselineHappenedToAgree) {
  Comparison c;
  JsonPathFilter none;
  auto p1 = body(R"({"flip":true,"v":1})"), b1 = body(R"({"flip":false,"v":1})");
  auto noise = c.recordBaselineBody("base", "GET /", *p1, *b1, none);
  EXPECT_EQ(noise.count("$.flip"), 1u);
  // Next request: the baseline agrees by chance; the candidate differs on the noisy field only.
  auto p2 = body(R"({"flip":true,"v":1})"), b2 = body(R"({"flip":true,"v":1})"), c2 = body(R"({"flip":false,"v":1})");
  auto noise2 = c.recordBaselineBody("base", "GET /", *p2, *b2, none);
  EXPECT_TRUE(noise2.empty());
  c.recordBody("cand", "GET /", *p2, *c2, noise2, none);
  auto j = c.json();
  auto *cand = bodyRow(j, "cand");
  ASSERT_TRUE(cand);
  EXPECT_EQ((*cand)["different"], 0);
}

TEST(ComparisonBodies, IndicesAreCollapsedAndCountedOncePerResponse) {
  Comparison c;
  auto p = body(R"({"items":[{"price":1},{"price":2}]})"), s = body(R"({"items":[{"price":9},{"price":8}]})");
  c.recordBody("s", "GET /", *p, *s, {}, JsonPathFilter());
  auto j = c.json();
  auto *row = bodyRow(j, "s");
  ASSERT_TRUE(row);
  EXPECT_EQ((*row)["paths"].dump(), R"({"$.items[*].price":1})");
}

TEST(ComparisonBodies, ReportTableAndPrometheus) {
  Comparison c;
  auto p = body(R"({"a":1,"b":2})"), s = body(R"({"a":1,"b":3})");
  c.recordBody("10.0.0.3:8080", "GET /x", *p, *s, {}, JsonPathFilter());
  c.recordBody("10.0.0.3:8080", "GET /x", *p, *p, {}, JsonPathFilter());
  std::string table = formatReportTable(c.json());
  EXPECT_NE(table.find("response bodies vs primary"), std::string::npos) << table;
  EXPECT_NE(table.find("GET /x  10.0.0.3:8080         2          1  50.0%  $.b x1"), std::string::npos) << table;
  std::string text;
  c.appendPrometheus(text);
  auto e = parsePrometheus(text);
  bool compared = false, different = false;
  for (const auto &series : e.series) {
    if (series.name == "shadowtap_http_body_compared_total") {
      compared = true;
      EXPECT_EQ(series.value, 2);
      EXPECT_EQ(series.labels.at("role"), "candidate");
    }
    if (series.name == "shadowtap_http_body_different_total") {
      different = true;
      EXPECT_EQ(series.value, 1);
    }
  }
  EXPECT_TRUE(compared && different) << text;
}

TEST(ReportTable, ToleratesOddJson) {
  auto report = nlohmann::json::parse(R"({"rows":[{"route":"GET /\u0007","target":5,"code":"x","count":-3},7],
                                          "disagreements":[{"compared":0}],"routes_overflowed":"many"})");
  std::string table;
  ASSERT_NO_THROW(table = formatReportTable(report));
  EXPECT_NE(table.find("GET /?"), std::string::npos) << table;
  EXPECT_EQ(table.find('\a'), std::string::npos);
  EXPECT_NE(table.find(" -"), std::string::npos) << table; // no percentage without comparisons
}

} // namespace
} // namespace shadowtap::compare
