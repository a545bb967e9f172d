// SPDX-License-Identifier: Apache-2.0
#include "common/pacer.h"

#include "common/clock.h"
#include "common/error.h"

#include <cerrno>
#include <sys/timerfd.h>

namespace shadowtap {

Pacer::Pacer(double speed) : speed_(speed), timer_(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) {
  if (!timer_.valid())
    throwErrno("failed to create timerfd", errno);
}

uint64_t Pacer::due(uint64_t ts) {
  if (!started_) {
    started_ = true;
    firstTs_ = ts;
    startNs_ = monotonicNs();
  }
  if (speed_ == 0 || ts <= firstTs_) // an input stamped before the first one is due at once
    return startNs_;
  return startNs_ + static_cast<uint64_t>(static_cast<double>(ts - firstTs_) / speed_);
}

void Pacer::wakeAt(uint64_t monotonicNs) {
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(monotonicNs / 1000000000ull);
  spec.it_value.tv_nsec = static_cast<long>(monotonicNs % 1000000000ull);
  if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0)
    spec.it_value.tv_nsec = 1; // zero would disarm it
  ::timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
}

void Pacer::acknowledge() {
  uint64_t expirations;
  [[maybe_unused]] auto n = ::read(timer_.get(), &expirations, sizeof(expirations));
}

} // namespace shadowtap
