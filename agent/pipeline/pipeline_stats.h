// SPDX-License-Identifier: Apache-2.0
// A snapshot of one pipeline's counters, stage by stage (capture -> flows -> replay per target
// -> http), and its two renderings: the JSON `status` and the stats file carry, and Prometheus
// text. Both are generated from the field tables next to each stats struct.
#pragma once

#include "capture/capture_stats.h"
#include "flow/flow_stats.h"
#include "pipeline/http_stats.h"
#include "replay/replay_stats.h"

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace shadowtap {

struct PipelineStats {
  CaptureStats capture;
  flow::FlowStats flows;
  replay::ReplayStats replay;
  std::vector<std::pair<std::string, replay::TargetStats>> targets; // target name, its counters
  HttpStats http;
};

// Adds `more` into `total` (every worker's snapshot, or every pass of a looped replay): counters
// and gauges alike; targets by position (every worker and pass has the same plan).
void accumulate(PipelineStats &total, const PipelineStats &more);

// {"capture": {...}, "flows": {...}, "replay": {"backlog_bytes", "targets": [{"target", ...}]},
//  "http": {...}}
nlohmann::ordered_json toJson(const PipelineStats &stats);
// `labels`: the labels every sample carries, e.g. iface="eth0".
void appendPrometheus(std::string &out, const std::string &labels, const PipelineStats &stats);

} // namespace shadowtap
