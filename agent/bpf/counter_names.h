// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "shadowtap/shared.h"

#include <array>
#include <nlohmann/json.hpp>
#include <cstdint>
#include <string_view>

namespace shadowtap {

// Name of each enum st_counter value, as shown by `status` and exported as metrics.
std::string_view counterName(uint32_t index);
// True for the reasons of which every packet gets exactly one (seen == their sum).
bool isTerminalCounter(uint32_t index);

using CounterValues = std::array<uint64_t, ST_C_MAX>;
// {"seen": N, ...} in counter order; `nonZeroOnly`: the counters that moved.
nlohmann::ordered_json countersJson(const CounterValues &values, bool nonZeroOnly = false);

} // namespace shadowtap
