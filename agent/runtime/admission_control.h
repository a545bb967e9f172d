// SPDX-License-Identifier: Apache-2.0
// Overload: whole connections or nothing. Every tick each worker reports how loaded it is (its
// capture ring's fill: the agent's own lag; a slow shadow is handled per replay, shed_backlog). While any worker is
// behind, the BPF programs admit no new connection (st_runtime.admit_paused): the kernel records
// those SYNs as not mirrored and counts them (shed_overload), so a connection is either mirrored
// from its SYN or not at all, instead of every stream getting a hole when the ring overflows.
// Hysteresis (behind from kHigh until back under kLow) keeps admission from flapping.
// When refusing new connections is not enough, a worker gives up admitted ones in flight, whole
// (runtime/inflight_shedder.h).
#pragma once

#include "runtime/admission_stats.h" // AdmissionStats: generated from stats/stats_schema.toml

#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

namespace shadowtap {

class AdmissionControl {
public:
  static constexpr double kHigh = 0.5; // a worker at half its buffer is behind...
  static constexpr double kLow = 0.2;  // ...until it is back under a fifth of it

  // `setPaused`: writes st_runtime.admit_paused on every tapped interface (TapSet::setAdmitPaused);
  // called on every report, so a runtime rewritten behind our back (`shadowtap set`) is corrected.
  AdmissionControl(std::function<void(bool)> setPaused, size_t workers)
      : setPaused_(std::move(setPaused)), behind_(workers, false) {}
  // From worker `worker`'s thread, every tick. `load`: 0..1.
  void report(size_t worker, double load);
  AdmissionStats stats() const;

private:
  void apply(bool paused); // with mutex_ held

  std::function<void(bool)> setPaused_;
  mutable std::mutex mutex_;
  std::vector<bool> behind_;
  AdmissionStats stats_;
};

} // namespace shadowtap
