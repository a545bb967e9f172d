// SPDX-License-Identifier: Apache-2.0
// The flow table's counters. Every started flow ends in exactly one way or is still active:
//   started == completed + reset + broken + evicted + idle_timeout + shutdown + active
#pragma once

#include "stats/stat_fields.h"

namespace shadowtap::flow {

struct FlowStats {
  uint64_t packets = 0;
  uint64_t flowsStarted = 0;
  uint64_t active = 0; // gauge
  uint64_t flowsCompleted = 0;
  uint64_t flowsReset = 0;
  uint64_t flowsBroken = 0;         // gap timeout, FIN with a hole, or overflow
  uint64_t flowsBrokenOverflow = 0; // of which: buffer limits
  uint64_t flowsEvicted = 0;
  uint64_t flowsIdle = 0;
  uint64_t flowsShutdown = 0;
  uint64_t midstreamSkipped = 0;    // connections first seen without a SYN
  uint64_t outOfWindow = 0;         // segments ignored as not belonging to the stream
  uint64_t serverStreamsLost = 0;   // response direction unusable (hole or overflow): replay goes on
  uint64_t clientBytes = 0;
  uint64_t serverBytes = 0;
  uint64_t bufferedBytes = 0; // gauge: out-of-order bytes waiting for a hole to fill
};

inline constexpr stats::Field<FlowStats> kFlowStatsFields[] = {
    {"packets", &FlowStats::packets, stats::Kind::Counter, "TCP segments of mirrored connections seen by the flow table."},
    {"started", &FlowStats::flowsStarted, stats::Kind::Counter, "Connections followed from their SYN."},
    {"active", &FlowStats::active, stats::Kind::Gauge, "Connections being reassembled now."},
    {"completed", &FlowStats::flowsCompleted, stats::Kind::Counter, "Connections that ended with both FINs and no hole."},
    {"reset", &FlowStats::flowsReset, stats::Kind::Counter, "Connections ended by a RST."},
    {"broken", &FlowStats::flowsBroken, stats::Kind::Counter,
     "Connections with a hole never filled (gap timeout, FIN with a hole, buffer limits): replay reset."},
    {"broken_overflow", &FlowStats::flowsBrokenOverflow, stats::Kind::Counter,
     "Of the broken connections, those that hit a buffer limit."},
    {"evicted", &FlowStats::flowsEvicted, stats::Kind::Counter, "Connections pushed out of a full flow table."},
    {"idle_timeout", &FlowStats::flowsIdle, stats::Kind::Counter, "Connections ended by the idle timeout."},
    {"shutdown", &FlowStats::flowsShutdown, stats::Kind::Counter, "Connections open when the agent stopped."},
    {"midstream_skipped", &FlowStats::midstreamSkipped, stats::Kind::Counter,
     "Connections first seen without their SYN (open before the tap): not replayed."},
    {"out_of_window_segments", &FlowStats::outOfWindow, stats::Kind::Counter,
     "Segments ignored as too far from the stream's position."},
    {"server_streams_lost", &FlowStats::serverStreamsLost, stats::Kind::Counter,
     "Response directions given up (hole or overflow); the replay goes on."},
    {"client_bytes", &FlowStats::clientBytes, stats::Kind::Counter, "Client bytes delivered in order."},
    {"server_bytes", &FlowStats::serverBytes, stats::Kind::Counter, "Server bytes delivered in order."},
    {"buffered_bytes", &FlowStats::bufferedBytes, stats::Kind::Gauge, "Out-of-order bytes waiting for a hole to fill."},
};

} // namespace shadowtap::flow
