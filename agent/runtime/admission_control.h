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
  // called on every tick's report, so a runtime rewritten behind our back (`shadowtap set`) is
  // corrected, and on any report that changes it.
  AdmissionControl(std::function<void(bool)> setPaused, size_t workers)
      : setPaused_(std::move(setPaused)), behind_(workers, false) {}
  // From worker `worker`'s thread: every tick (`Rewrite::Always`) and at each overload look
  // (`Rewrite::OnChange`, every few ms while it reads: a worker that crosses kHigh pauses admission
  // at once, not up to a tick later). `load`: 0..1. Returns whether admission is paused now.
  enum class Rewrite { Always, OnChange };
  bool report(size_t worker, double load, Rewrite rewrite = Rewrite::Always);
  AdmissionStats stats() const;

private:
  void apply(bool paused, Rewrite rewrite); // with mutex_ held

  std::function<void(bool)> setPaused_;
  mutable std::mutex mutex_;
  std::vector<bool> behind_;
  AdmissionStats stats_;
};

} // namespace shadowtap
