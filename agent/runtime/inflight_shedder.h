// SPDX-License-Identifier: Apache-2.0
// Overload, second step. The first (AdmissionControl) refuses new connections at their SYN once a
// worker's capture buffer is half full; when it keeps filling anyway — the connections already
// admitted bring more than the worker can take, e.g. a few line-rate uploads — the worker gives
// up one connection in flight, whole: the one that brought the most bytes since the last look.
// The kernel stops mirroring it (st_flows: ST_FLOW_SHED) and its replay is reset (counted
// shed_inflight and aborted). Without this step the buffer overflows and every connection in it
// gets a hole at once (broken_capture_loss): all of them lost instead of one.
//
// A look is taken at most every kLookEveryNs. Past kShedAt (where new connections are refused) and
// fuller than at the last look (losing ground: a shed has had time to show), it sheds one; past
// kDanger and not emptier, two (a worker held back by a CPU quota looks only every few tens of ms,
// and the buffer must not overflow between two looks). A worker catching up sheds nothing, however
// full its buffer is: draining is not losing ground, and the first look after a stall (stopped,
// descheduled: longer than kStaleNs since the last) sees a jump, not a trend.
// 2 ms: a 64 MiB ring filling at 16 Gbit/s goes from kShedAt to full in about 16 ms.
#pragma once

#include <cstdint>

namespace shadowtap {

class InflightShedder {
public:
  static constexpr double kShedAt = 0.5;
  static constexpr double kDanger = 0.75;
  static constexpr uint64_t kLookEveryNs = 2'000'000;
  static constexpr uint64_t kStaleNs = 250'000'000;

  // Whether a look is due (the fill is worth measuring: it walks the ring's block headers).
  bool due(uint64_t nowNs) const { return !looked_ || nowNs - lastLookNs_ >= kLookEveryNs; }
  // `fill`: the capture buffer's fill, 0..1. How many connections to shed now (0, 1 or 2).
  unsigned shedCount(double fill, uint64_t nowNs) {
    if (!due(nowNs))
      return 0;
    bool trend = looked_ && nowNs - lastLookNs_ <= kStaleNs;
    unsigned n = 0;
    if (trend && fill >= kDanger && fill >= lastFill_)
      n = 2;
    else if (trend && fill >= kShedAt && fill > lastFill_)
      n = 1;
    looked_ = true;
    lastLookNs_ = nowNs;
    lastFill_ = fill;
    return n;
  }

private:
  bool looked_ = false;
  uint64_t lastLookNs_ = 0;
  double lastFill_ = 0;
};

} // namespace shadowtap
