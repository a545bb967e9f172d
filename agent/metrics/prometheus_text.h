// SPDX-License-Identifier: Apache-2.0
// The kernel's per-reason packet counters in the Prometheus text format. (The pipeline's
// counters are rendered from their field tables: pipeline/pipeline_stats.h.)
#pragma once

#include "bpf/counter_names.h"

#include <string>
#include <utility>
#include <vector>

namespace shadowtap {

// shadowtap_packets_total{LABELS,reason="..."}, one family with a series per (labels, reason);
// labels e.g. iface="eth0".
using LabelledCounters = std::vector<std::pair<std::string, CounterValues>>;
std::string renderKernelCounters(const LabelledCounters &kernel);

} // namespace shadowtap
