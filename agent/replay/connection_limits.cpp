// SPDX-License-Identifier: Apache-2.0
#include "replay/connection_limits.h"

#include "common/resource_limits.h"

#include <algorithm>
#include <sys/resource.h>

namespace shadowtap::replay {

void applyConnectionLimits(ReplayOptions &options, size_t maxReplayConns, size_t sources, size_t workers) {
  workers = std::max<size_t>(1, workers);
  options.maxConnectingPerTarget = std::max<size_t>(1, options.maxConnectingPerTarget / workers);
  options.poolConnectionsPerTarget = std::max<size_t>(1, options.poolConnectionsPerTarget / workers);
  if (maxReplayConns) {
    options.maxConnectionsPerTarget = std::max<size_t>(1, (maxReplayConns + workers - 1) / workers);
  } else if (size_t ports = connectPortsPerDestination()) {
    // Default: the ports connect() tries first towards one shadow, per source address. Past them
    // every new replay's connect() scans that whole half of the range: under churn (20k new
    // connections/s, replays lingering until the client's FIN is captured) the scan was 37 % of
    // the agent's CPU; capped here it is gone from the profile (docs/architecture.md, "Replay
    // concurrency"). The shadow's own capacity is found below it (ConcurrencyWindow).
    options.maxConnectionsPerTarget = std::max<size_t>(1, ports * std::max<size_t>(1, sources) / workers);
  }
  // Replays never take the last descriptors: past the open file limit the agent could not accept
  // a /healthz probe any more (measured under churn: /healthz unanswered for 3 s).
  if (rlimit files{}; getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    size_t reserved = std::min<size_t>(ReplayOptions::kReservedFiles, files.rlim_cur / 2);
    options.maxConnectionsTotal = std::max<size_t>(1, (files.rlim_cur - reserved) / workers);
  }
}

} // namespace shadowtap::replay
