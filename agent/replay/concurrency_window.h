// SPDX-License-Identifier: Apache-2.0
// How many replay connections one shadow gets open at once: additive increase, multiplicative
// decrease, as TCP sizes its congestion window. The window grows by one for every window's worth
// of replays the shadow took whole, and drops to half the replays open (at most once per kCooldown, so the refusals of
// replays opened before a cut do not cut it again and again) when the shadow refused one: it closed
// or reset before reading everything (a server shedding connections past its own limit: nginx past
// worker_connections closes accepted connections unread), stopped reading, or fell a backlog
// behind. Past the window a new replay waits in the replay queue (Replayer) or, that full, is shed
// whole at its start (shed_limit), so a shadow that can take 2,000 connections at once is not sent
// 14,000 of which it drops most unread (measured under churn: bench/churn.sh, docs/benchmarks.md).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>

namespace shadowtap::replay {

class ConcurrencyWindow {
public:
  static constexpr size_t kFloor = 16;
  static constexpr std::chrono::milliseconds kCooldown{100};
  using Clock = std::chrono::steady_clock;

  // ceiling: --max-replay-conns (or the agent's default); 0: none. The window starts there.
  explicit ConcurrencyWindow(size_t ceiling = 0) { setCeiling(ceiling); }

  void setCeiling(size_t ceiling) {
    ceiling_ = ceiling ? static_cast<double>(ceiling) : kUnbounded;
    window_ = ceiling_;
  }
  size_t limit() const { return static_cast<size_t>(window_); }
  // For the counters: 0 while nothing bounds it.
  size_t limitShown() const { return window_ >= kUnbounded ? 0 : limit(); }

  void onTaken() { window_ = std::min(ceiling_, window_ + 1.0 / window_); }
  // open: replays open to the shadow when it refused one (what it was actually given).
  void onRefused(size_t open, Clock::time_point now) {
    if (now < cutAllowedAt_)
      return;
    double given = std::min(window_, static_cast<double>(open));
    window_ = std::max(std::min(static_cast<double>(kFloor), ceiling_), given / 2);
    cutAllowedAt_ = now + kCooldown;
  }

private:
  static constexpr double kUnbounded = 1e12;
  double ceiling_ = kUnbounded;
  double window_ = kUnbounded;
  Clock::time_point cutAllowedAt_{};
};

} // namespace shadowtap::replay
