// SPDX-License-Identifier: Apache-2.0
// Prometheus text exposition of stats tables: one metric family per field,
// shadowtap_<section>_<field>[_total], typed counter or gauge, one sample per labelled instance.
#pragma once

#include "stats/stat_fields.h"

#include <string>
#include <utility>
#include <vector>

namespace shadowtap::stats {

std::string escapeLabelValue(const std::string &value);
void appendFamilyHeader(std::string &out, const std::string &name, const char *type, const char *help);

// A stats struct and the label set ("iface=\"eth0\",target=\"10.0.0.1:80\"") it is exported with.
template <class Stats> using Instance = std::pair<std::string, const Stats *>;

template <class Stats>
void appendPrometheus(std::string &out, const std::string &section, Fields<Stats> fields,
                      const std::vector<Instance<Stats>> &instances) {
  if (instances.empty())
    return;
  for (const auto &field : fields) {
    bool counter = field.kind == Kind::Counter;
    std::string name = "shadowtap_" + section + "_" + field.name + (counter ? "_total" : "");
    appendFamilyHeader(out, name, counter ? "counter" : "gauge", field.help);
    for (const auto &[labels, stats] : instances)
      out += name + "{" + labels + "} " + std::to_string(stats->*field.member) + "\n";
  }
}

} // namespace shadowtap::stats
