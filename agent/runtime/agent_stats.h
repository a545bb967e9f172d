// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "stats/stat_fields.h"

namespace shadowtap {

// Configuration reloads (SIGHUP / `shadowtap reload`).
struct ConfigStats {
  uint64_t reloads = 0;
  uint64_t reloadFailures = 0; // rejected: the running configuration stayed
};

inline constexpr stats::Field<ConfigStats> kConfigStatsFields[] = {
    {"reloads", &ConfigStats::reloads, stats::Kind::Counter, "Configuration reloads applied."},
    {"reload_failures", &ConfigStats::reloadFailures, stats::Kind::Counter,
     "Configuration reloads rejected (the running configuration stayed)."},
};

} // namespace shadowtap
