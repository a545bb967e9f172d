// SPDX-License-Identifier: Apache-2.0
// Plays input timestamps back in real time scaled by a speed: an input stamped t is due at
// start + (t - first) / speed on CLOCK_MONOTONIC, where `first` is the first input's stamp and
// `start` when it was asked for. Speed 0 means as fast as possible (everything is due at once).
// A timerfd wakes the event loop when the next input falls due.
#pragma once

#include "common/unique_fd.h"

#include <cstdint>

namespace shadowtap {

class Pacer {
public:
  explicit Pacer(double speed); // throws Error if the timerfd cannot be made
  int fd() const { return timer_.get(); }
  double speed() const { return speed_; }

  // Monotonic time at which an input stamped `ts` is due (the first call anchors the clock).
  uint64_t due(uint64_t ts);
  bool isDue(uint64_t ts, uint64_t nowNs) { return due(ts) <= nowNs; }
  void wakeAt(uint64_t monotonicNs); // arms the timerfd (absolute)
  void acknowledge();                // reads the timerfd so it stops being readable
  bool started() const { return started_; }
  uint64_t firstTs() const { return firstTs_; }

private:
  double speed_;
  UniqueFd timer_;
  bool started_ = false;
  uint64_t firstTs_ = 0, startNs_ = 0;
};

} // namespace shadowtap
