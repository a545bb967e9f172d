// SPDX-License-Identifier: Apache-2.0
#include "metrics/prometheus_text.h"

#include "stats/prometheus_writer.h"

namespace shadowtap {

std::string renderKernelCounters(const LabelledCounters &kernel) {
  std::string out;
  stats::appendFamilyHeader(
      out, "shadowtap_packets_total", "counter",
      "Packets seen by the BPF programs, by the reason they were or were not mirrored (reason=\"seen\": all).");
  for (const auto &[labels, values] : kernel)
    for (uint32_t i = 0; i < ST_C_MAX; i++)
      out += "shadowtap_packets_total{" + labels + ",reason=\"" + std::string(counterName(i)) + "\"} " +
             std::to_string(values[i]) + "\n";
  return out;
}

} // namespace shadowtap
