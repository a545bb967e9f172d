// SPDX-License-Identifier: Apache-2.0
#include "replay/replay_plan.h"

namespace shadowtap::replay {

ReplayPlan buildReplayPlan(const std::vector<ServiceRule> &services) {
  ReplayPlan plan;
  for (const auto &service : services) {
    for (const auto &text : service.shadows) {
      ShadowTarget target = parseShadowTarget(text);
      bool known = false;
      for (const auto &existing : plan.targets)
        known = known || existing.name == target.name;
      if (!known)
        plan.targets.push_back(target);
      plan.routes[service.port].push_back({target.name, service.copies});
    }
    if (service.protocol == Protocol::Http)
      plan.http[service.port] = std::make_shared<const http::HttpRules>(service.http);
  }
  resolveTargets(plan.targets);
  return plan;
}

} // namespace shadowtap::replay
