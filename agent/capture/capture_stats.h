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
  uint64_t badChecksum = 0; // TCP checksum wrong and not vouched for by the kernel (dropped, counted)
  uint64_t truncated = 0;   // TCP frames whose copy is shorter than the frame (marked, passed on)
  uint64_t responseHeadersOnly = 0; // responses copied up to their TCP header on purpose (not truncated)
};

inline constexpr stats::Field<CaptureStats> kCaptureStatsFields[] = {
    {"frames", &CaptureStats::frames, stats::Kind::Counter, "Mirrored frames read by the agent."},
    {"bytes", &CaptureStats::bytes, stats::Kind::Counter, "Bytes of the mirrored frames read."},
    {"kernel_drops", &CaptureStats::kernelDrops, stats::Kind::Counter,
     "Mirrored frames lost before the agent could read them (capture ring or BPF ring full)."},
    {"not_tcp", &CaptureStats::notTcp, stats::Kind::Counter, "Frames that were not TCP."},
    {"malformed", &CaptureStats::malformed, stats::Kind::Counter, "Frames with truncated or invalid headers."},
    {"bad_checksum", &CaptureStats::badChecksum, stats::Kind::Counter,
     "TCP frames dropped for a wrong checksum the kernel had not verified (the primary drops them too)."},
    {"truncated", &CaptureStats::truncated, stats::Kind::Counter,
     "TCP frames whose copy is shorter than the frame (snaplen, or a frame beyond the largest copy)."},
    {"response_headers_only", &CaptureStats::responseHeadersOnly, stats::Kind::Counter,
     "Response frames copied up to the end of their TCP header on purpose: no HTTP service needs their bytes."},
};

} // namespace shadowtap
