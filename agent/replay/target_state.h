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
  // Not when another connect to it succeeded within kAliveWindow: the shadow is up and its accept
  // queue full (a SYN dropped, the connect timed out), which is its capacity, as when it refuses a
  // replay: the concurrency window is cut instead. Backing off there shed every new connection for
  // 100 ms per failed connect: under saturated churn with 2 workers, 920 timeouts shed 63,890
  // replays (shed_backoff) while the shadow was taking the others (bench/churn.sh, 2026-12-06).
  static constexpr std::chrono::seconds kAliveWindow{1};
  unsigned failures = 0;
  std::chrono::steady_clock::time_point backoffUntil{};
  std::chrono::steady_clock::time_point lastConnected{}; // the epoch: never

  bool backingOff(std::chrono::steady_clock::time_point now) const { return now < backoffUntil; }
  void connectSucceeded() {
    failures = 0;
    lastConnected = std::chrono::steady_clock::now();
  }
  void connectFailed(std::chrono::milliseconds maxBackoff) {
    auto now = std::chrono::steady_clock::now();
    if (lastConnected != std::chrono::steady_clock::time_point{} && now - lastConnected < kAliveWindow) {
      replayRefused();
      return;
    }
    failures++;
    auto delay = std::chrono::milliseconds(100) * (1u << std::min(failures - 1, 10u));
    backoffUntil = now + std::min<std::chrono::milliseconds>(delay, maxBackoff);
  }
};

} // namespace shadowtap::replay
