// SPDX-License-Identifier: Apache-2.0
// What the pipeline's capture end saw: frames read, frames lost before they could be read, and
// frames it could not use.
#pragma once

#include "stats/stat_fields.h"

namespace shadowtap {

struct CaptureStats {
  uint64_t frames = 0;
  uint64_t bytes = 0;
  uint64_t kernelDrops = 0; // lost before we could read them (packet ring or BPF ring full)
  uint64_t notTcp = 0;      // frames on the mirror that are not TCP (should be none)
  uint64_t malformed = 0;   // truncated or invalid headers (user-side drop, counted)
};

inline constexpr stats::Field<CaptureStats> kCaptureStatsFields[] = {
    {"frames", &CaptureStats::frames, stats::Kind::Counter, "Mirrored frames read by the agent."},
    {"bytes", &CaptureStats::bytes, stats::Kind::Counter, "Bytes of the mirrored frames read."},
    {"kernel_drops", &CaptureStats::kernelDrops, stats::Kind::Counter,
     "Mirrored frames lost before the agent could read them (capture ring or BPF ring full)."},
    {"not_tcp", &CaptureStats::notTcp, stats::Kind::Counter, "Frames that were not TCP."},
    {"malformed", &CaptureStats::malformed, stats::Kind::Counter, "Frames with truncated or invalid headers."},
};

} // namespace shadowtap
