// SPDX-License-Identifier: Apache-2.0
// The Prometheus text exposition of the agent's counters: the kernel's per-reason packet counters
// and the pipeline's capture / flow / replay counters (per target).
#pragma once

#include "bpf/counter_names.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace shadowtap {

std::string renderPrometheus(const std::string &iface, const CounterValues &kernel,
                             const std::optional<nlohmann::ordered_json> &pipeline);

} // namespace shadowtap
