// SPDX-License-Identifier: Apache-2.0
// Overload, second step. The first (AdmissionControl) refuses new connections at their SYN once a
// worker's capture buffer is half full; when it keeps filling anyway — the connections already
// admitted bring more than the worker can take, e.g. a few line-rate uploads — the worker gives
// up connections in flight, whole, the heaviest first (FlowTable::shedShareOfRecentBytes). The
// kernel stops mirroring them (st_flows: ST_FLOW_SHED) and their replays are reset (counted
// shed_inflight and aborted). Without this step the buffer overflows and every connection in it
// gets a hole at once (broken_capture_loss): all of them lost instead of a few.
//
// How many: as many as it takes to stop losing ground. Between two looks the buffer grew by
// `grown` while the worker read `read` (both in whole buffers), so `grown / (grown + read)` of what
// arrived is more than the worker takes: that share of the bytes the connections brought since
// the last look is shed, heaviest connection first. When the room left is less than two more
// looks at this pace, it sheds enough to read the buffer back down as well: all but half of what
// the worker read. A worker held to a CPU quota looks only every few tens of ms (a drain turn
// spans several quota periods), and one connection per look was far too few: a 5 % quota against
// four 500 Mbit/s uploads overflowed the ring between the look that shed the first and the next
// (tests/e2e/load/upload_test.sh). Past kDanger and not emptier, at least one goes even when the
// fill did not rise by a whole block.
//
// Only once admission has been paused for kPauseFirstNs (runtime/worker.cpp): without that, at
// 5,000 new connections a second, it gave up hundreds of short connections that refusing new
// ones would have caught up with. Never while it drains (draining is not losing ground), nor on
// the first look after a stall
// (stopped, descheduled: longer than kStaleNs since the last), which sees a jump, not a trend.
// A look is taken at most every kLookEveryNs: 2 ms, a 64 MiB ring filling at 16 Gbit/s goes from
// kShedAt to full in about 16 ms.
#pragma once

#include <algorithm>
#include <cstdint>

namespace shadowtap {

class InflightShedder {
public:
  static constexpr double kShedAt = 0.5;
  static constexpr double kDanger = 0.75;
  static constexpr uint64_t kLookEveryNs = 2'000'000;
  static constexpr uint64_t kStaleNs = 250'000'000;
  // The smallest share that still sheds one connection (the heaviest).
  static constexpr double kOne = 1e-9;
  // Admission pauses first (AdmissionControl::kHigh, the same half-full mark); connections in
  // flight are shed only once it has been paused this long (runtime/worker.cpp).
  static constexpr uint64_t kPauseFirstNs = 10'000'000;
  // At most this much of what waits in the buffer is walked to weigh connections (the newest).
  static constexpr size_t kPeekBytes = 4u << 20;

  // Whether a look is due (the fill is worth measuring: it walks the ring's block headers).
  bool due(uint64_t nowNs) const { return !looked_ || nowNs - lastLookNs_ >= kLookEveryNs; }
  // `fill`: the capture buffer's fill, 0..1; `consumed`: how much of it has been read since the
  // start, in whole buffers. Returns the share, 0..1, of the bytes the connections brought since
  // the last look that must be shed now (0: none).
  double shedShare(double fill, double consumed, uint64_t nowNs) {
    if (!due(nowNs))
      return 0;
    bool trend = looked_ && nowNs - lastLookNs_ <= kStaleNs;
    double grown = fill - lastFill_, read = std::max(0.0, consumed - lastConsumed_);
    double share = 0;
    if (trend && fill >= kShedAt && grown > 0) {
      bool overflowsSoon = 1 - fill < 2 * grown;
      share = (grown + (overflowsSoon ? read / 2 : 0)) / (grown + read);
    }
    if (trend && fill >= kDanger && grown >= 0)
      share = std::max(share, kOne);
    looked_ = true;
    lastLookNs_ = nowNs;
    lastFill_ = fill;
    lastConsumed_ = consumed;
    return std::min(share, 1.0);
  }

private:
  bool looked_ = false;
  uint64_t lastLookNs_ = 0;
  double lastFill_ = 0;
  double lastConsumed_ = 0;
};

} // namespace shadowtap
