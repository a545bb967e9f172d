// SPDX-License-Identifier: Apache-2.0
#include "runtime/admission_control.h"

#include <algorithm>
#include <spdlog/spdlog.h>

namespace shadowtap {

bool AdmissionControl::report(size_t worker, double load, Rewrite rewrite) {
  std::lock_guard lock(mutex_);
  if (worker >= behind_.size())
    return stats_.paused;
  if (load >= kHigh)
    behind_[worker] = true;
  else if (load < kLow)
    behind_[worker] = false;
  apply(std::any_of(behind_.begin(), behind_.end(), [](bool b) { return b; }), rewrite);
  return stats_.paused;
}

void AdmissionControl::apply(bool paused, Rewrite rewrite) {
  if (paused == static_cast<bool>(stats_.paused) && rewrite == Rewrite::OnChange)
    return;
  if (paused && !stats_.paused) {
    stats_.pauses++;
    spdlog::warn("overload: a worker is behind; new connections are not mirrored until it catches up");
  } else if (!paused && stats_.paused) {
    spdlog::info("overload over: admitting new connections again");
  }
  stats_.paused = paused;
  setPaused_(paused); // fails open: an interface whose map cannot be written keeps mirroring
}

AdmissionStats AdmissionControl::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

} // namespace shadowtap
