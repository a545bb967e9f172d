// SPDX-License-Identifier: Apache-2.0
#include "pipeline/pipeline_stats.h"

#include "stats/prometheus_writer.h"

namespace shadowtap {

void accumulate(PipelineStats &total, const PipelineStats &more) {
  stats::accumulate<CaptureStats>(total.capture, more.capture, kCaptureStatsFields);
  stats::accumulate<flow::FlowStats>(total.flows, more.flows, flow::kFlowStatsFields);
  stats::accumulate<replay::ReplayStats>(total.replay, more.replay, replay::kReplayStatsFields);
  stats::accumulate<HttpStats>(total.http, more.http, kHttpStatsFields);
  for (size_t i = 0; i < more.targets.size(); i++) {
    if (i == total.targets.size())
      total.targets.push_back(more.targets[i]);
    else
      stats::accumulate<replay::TargetStats>(total.targets[i].second, more.targets[i].second,
                                             replay::kTargetStatsFields);
  }
}

nlohmann::ordered_json toJson(const PipelineStats &s) {
  nlohmann::ordered_json out;
  out["capture"] = stats::toJson<CaptureStats>(s.capture, kCaptureStatsFields);
  out["flows"] = stats::toJson<flow::FlowStats>(s.flows, flow::kFlowStatsFields);
  auto replay = stats::toJson<replay::ReplayStats>(s.replay, replay::kReplayStatsFields);
  auto targets = nlohmann::ordered_json::array();
  for (const auto &[name, target] : s.targets) {
    nlohmann::ordered_json entry = {{"target", name}};
    entry.update(stats::toJson<replay::TargetStats>(target, replay::kTargetStatsFields));
    targets.push_back(std::move(entry));
  }
  replay["targets"] = std::move(targets);
  out["replay"] = std::move(replay);
  out["http"] = stats::toJson<HttpStats>(s.http, kHttpStatsFields);
  return out;
}

void appendPrometheus(std::string &out, const std::string &labels, const PipelineStats &s) {
  stats::appendPrometheus<CaptureStats>(out, "capture", kCaptureStatsFields, {{labels, &s.capture}});
  stats::appendPrometheus<flow::FlowStats>(out, "flows", flow::kFlowStatsFields, {{labels, &s.flows}});
  stats::appendPrometheus<replay::ReplayStats>(out, "replay", replay::kReplayStatsFields, {{labels, &s.replay}});
  std::vector<stats::Instance<replay::TargetStats>> targets;
  for (const auto &[name, target] : s.targets)
    targets.emplace_back(labels + ",target=\"" + stats::escapeLabelValue(name) + "\"", &target);
  stats::appendPrometheus<replay::TargetStats>(out, "replay", replay::kTargetStatsFields, targets);
  stats::appendPrometheus<HttpStats>(out, "http", kHttpStatsFields, {{labels, &s.http}});
}

} // namespace shadowtap
