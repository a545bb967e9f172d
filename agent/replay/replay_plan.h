// SPDX-License-Identifier: Apache-2.0
// Which shadow targets each service port's connections are replayed to, and how many times.
// Built from the configured services; swapped live on reload (targets are matched by name, so
// a target that stays keeps its counters and its connections in flight).
#pragma once

#include "config/run_options.h"
#include "replay/shadow_target.h"

#include <map>
#include <memory>
#include <vector>

namespace shadowtap::replay {

struct Route {
  std::string target; // ShadowTarget::name
  unsigned copies = 1;
};

struct ReplayPlan {
  std::vector<ShadowTarget> targets;           // unique by name, resolved once built
  std::map<uint16_t, std::vector<Route>> routes; // server port -> replays
  // Ports whose services are HTTP (--protocol http) -> their per-request rules. A flow keeps the
  // rules it started with across a reload.
  std::map<uint16_t, std::shared_ptr<const http::HttpRules>> http;
};

// Parses (UsageError) and resolves (Error) every --shadow of every service.
ReplayPlan buildReplayPlan(const std::vector<ServiceRule> &services);

} // namespace shadowtap::replay
