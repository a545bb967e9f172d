// SPDX-License-Identifier: Apache-2.0
// One shadow target as the replayer keeps it: where it is, its counters, and its back-off.
#pragma once

#include "replay/concurrency_window.h"
#include "replay/replay_stats.h"
#include "replay/shadow_target.h"

#include <algorithm>
#include <chrono>

namespace shadowtap::replay {

struct TargetState {
  size_t index = 0; // position in the replayer's targets: stable for the agent's lifetime
  ShadowTarget target;
  TargetStats stats;
  ConcurrencyWindow window; // replays open at once: adapts to what the shadow takes

  void replayTaken() {
    window.onTaken();
    stats.concurrencyLimit = window.limitShown();
  }
  void replayRefused() {
    window.onRefused(stats.active, std::chrono::steady_clock::now());
    stats.concurrencyLimit = window.limitShown();
  }

  // Back-off: a refused connect puts the target in back-off (100 ms doubling to maxBackoff);
  // flows starting during it are shed and counted instead of each paying a connect attempt.
  unsigned failures = 0;
  std::chrono::steady_clock::time_point backoffUntil{};

  bool backingOff(std::chrono::steady_clock::time_point now) const { return now < backoffUntil; }
  void connectSucceeded() { failures = 0; }
  void connectFailed(std::chrono::milliseconds maxBackoff) {
    failures++;
    auto delay = std::chrono::milliseconds(100) * (1u << std::min(failures - 1, 10u));
    backoffUntil = std::chrono::steady_clock::now() + std::min<std::chrono::milliseconds>(delay, maxBackoff);
  }
};

} // namespace shadowtap::replay
