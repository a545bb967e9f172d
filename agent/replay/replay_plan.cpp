// SPDX-License-Identifier: Apache-2.0
#include "replay/replay_plan.h"

namespace shadowtap::replay {

ReplayPlan parseReplayPlan(const std::vector<ServiceRule> &services) {
  ReplayPlan plan;
  auto add = [&](const ShadowTarget &target) {
    for (const auto &existing : plan.targets)
      if (existing.name == target.name)
        return;
    plan.targets.push_back(target);
  };
  for (const auto &service : services) {
    for (const auto &text : service.shadows) {
      ShadowTarget target = parseShadowTarget(text);
      add(target);
      plan.routes[service.port].push_back({target.name, service.copies});
    }
    if (service.protocol != Protocol::Http)
      continue;
    plan.http[service.port] = std::make_shared<const http::HttpRules>(service.http);
    if (!service.compare.body)
      continue;
    auto settings = std::make_shared<compare::BodyCompareSettings>();
    settings->ignore = compare::JsonPathFilter(service.compare.ignore);
    if (service.compare.baseline) {
      ShadowTarget baseline = parseShadowTarget(*service.compare.baseline);
      add(baseline);
      plan.routes[service.port].push_back({baseline.name, 1}); // one copy: its answers are noise, not load
      settings->baseline = baseline.name;
    }
    plan.bodies[service.port] = std::move(settings);
  }
  return plan;
}

ReplayPlan buildReplayPlan(const std::vector<ServiceRule> &services) {
  ReplayPlan plan = parseReplayPlan(services);
  resolveTargets(plan.targets);
  return plan;
}

} // namespace shadowtap::replay
