// SPDX-License-Identifier: Apache-2.0
// The kernel's per-reason packet counters in the Prometheus text format. (The pipeline's
// counters are rendered from their field tables: pipeline/pipeline_stats.h.)
#pragma once

#include "bpf/counter_names.h"

#include <string>

namespace shadowtap {

// shadowtap_packets_total{LABELS,reason="..."}; `labels` e.g. iface="eth0".
std::string renderKernelCounters(const std::string &labels, const CounterValues &kernel);

} // namespace shadowtap
