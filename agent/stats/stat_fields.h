// SPDX-License-Identifier: Apache-2.0
// One description per stats struct: each field's name, member, kind (counter or gauge) and help
// text. The structs and their tables (`kXxxFields`) are generated, with docs/metrics.md, from one
// schema, agent/stats/stats_schema.toml, by scripts/gen_stats.py (into the build tree, at build
// time). JSON (`status --json`, the stats file), Prometheus text, `status` text and the exit log
// are all generated from these tables, so a new counter appears everywhere by adding it to the
// schema, and a gauge is never exported as a counter.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>

namespace shadowtap::stats {

enum class Kind {
  Counter, // only ever grows; Prometheus name gets _total
  Gauge,   // a level that goes up and down (active connections, buffered bytes)
};

template <class Stats> struct Field {
  const char *name; // JSON key and Prometheus name suffix, snake_case
  uint64_t Stats::*member;
  Kind kind;
  const char *help;
};

template <class Stats> using Fields = std::span<const Field<Stats>>;

// {"name": value, ...} in table order.
template <class Stats> nlohmann::ordered_json toJson(const Stats &stats, Fields<Stats> fields) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const auto &field : fields)
    out[field.name] = stats.*field.member;
  return out;
}

// into += from, field by field (workers' snapshots add up: counters and gauges alike).
template <class Stats> void accumulate(Stats &into, const Stats &from, Fields<Stats> fields) {
  for (const auto &field : fields)
    into.*field.member += from.*field.member;
}

} // namespace shadowtap::stats
