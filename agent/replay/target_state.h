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
  // It doubles per round of attempts, as a retransmission timer does: only an attempt started
  // after the back-off was last set is new evidence. Attempts already in flight then (under
  // churn, hundreds whose SYNs an overflowing accept queue dropped, timing out together) would
  // otherwise double it once each: measured with bench/churn.sh, 308 and 891 such failures took
  // it to its 10 s maximum and shed 87,100 and 107,238 replays (docs/architecture.md, 2026-12-06).
  using Clock = std::chrono::steady_clock;
  unsigned failures = 0;
  Clock::time_point backoffUntil{};
  Clock::time_point backoffSetAt{};

  bool backingOff(Clock::time_point now) const { return now < backoffUntil; }
  void connectSucceeded() { failures = 0; }
  // attemptStarted: when the failed replay began connecting.
  void connectFailed(std::chrono::milliseconds maxBackoff, Clock::time_point attemptStarted) {
    if (attemptStarted < backoffSetAt)
      return; // in flight when the back-off was set: the same round
    failures++;
    auto now = Clock::now();
    auto delay = std::chrono::milliseconds(100) * (1u << std::min(failures - 1, 10u));
    backoffUntil = now + std::min<std::chrono::milliseconds>(delay, maxBackoff);
    backoffSetAt = now;
  }
};

} // namespace shadowtap::replay
