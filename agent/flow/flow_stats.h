// SPDX-License-Identifier: Apache-2.0
// The flow table's counters. Every connection followed from its SYN ends in exactly one way or
// is still active:
//   started == never_established + completed + reset + server_reset + broken + evicted
//              + idle_timeout + shutdown + shed_inflight + active
#pragma once

#include "stats/stat_fields.h"

namespace shadowtap::flow {

struct FlowStats {
  uint64_t packets = 0;
  uint64_t flowsStarted = 0;
  uint64_t established = 0;      // the server's SYN-ACK was seen
  uint64_t neverEstablished = 0; // ended (handshake timeout, reset, evicted) before a SYN-ACK
  uint64_t active = 0;           // gauge
  uint64_t flowsCompleted = 0;
  uint64_t flowsReset = 0;       // by the client
  uint64_t serverReset = 0;
  uint64_t flowsBroken = 0;          // gap timeout, FIN with a hole, overflow, cut copy
  uint64_t flowsBrokenOverflow = 0;  // of which: buffer limits
  uint64_t brokenTruncated = 0;      // of which: a client segment was captured cut short
  uint64_t brokenCaptureLoss = 0;    // of which: the server acknowledged bytes never captured
  uint64_t flowsEvicted = 0;
  uint64_t flowsIdle = 0;
  uint64_t flowsShutdown = 0;
  uint64_t flowsShed = 0;        // overload: given up in flight, whole
  uint64_t midstreamSkipped = 0; // connections first seen without a SYN
  uint64_t unacked = 0;          // ended holding client bytes the server never acknowledged
  uint64_t rstIgnored = 0;       // RSTs not at the receiver's next sequence number: no effect
  uint64_t outOfWindow = 0;      // segments ignored as not belonging to the stream
  uint64_t serverStreamsLost = 0; // response direction unusable (hole, overflow, cut): replay goes on
  uint64_t serverHeld = 0;        // server segments held until the client bytes they acknowledge came
  uint64_t clientBytes = 0;
  uint64_t serverBytes = 0;
  uint64_t bufferedBytes = 0; // gauge: memory held by reassembly (payload + per-segment overhead)
};

inline constexpr stats::Field<FlowStats> kFlowStatsFields[] = {
    {"packets", &FlowStats::packets, stats::Kind::Counter, "TCP segments of mirrored connections seen by the flow table."},
    {"started", &FlowStats::flowsStarted, stats::Kind::Counter, "Connections followed from their SYN."},
    {"established", &FlowStats::established, stats::Kind::Counter,
     "Connections whose handshake was seen (the server's SYN-ACK): only these are replayed."},
    {"never_established", &FlowStats::neverEstablished, stats::Kind::Counter,
     "Connections that ended before the server's SYN-ACK (half-open, refused, spoofed): not replayed."},
    {"active", &FlowStats::active, stats::Kind::Gauge, "Connections being followed now (half-open or established)."},
    {"completed", &FlowStats::flowsCompleted, stats::Kind::Counter, "Connections that ended with both FINs and no hole."},
    {"reset", &FlowStats::flowsReset, stats::Kind::Counter, "Connections the client reset (an in-window RST)."},
    {"server_reset", &FlowStats::serverReset, stats::Kind::Counter,
     "Connections the server reset: what it had acknowledged is replayed, then closed."},
    {"broken", &FlowStats::flowsBroken, stats::Kind::Counter,
     "Connections with a hole never filled (gap timeout, FIN with a hole, buffer limits, cut copy): replay reset."},
    {"broken_overflow", &FlowStats::flowsBrokenOverflow, stats::Kind::Counter,
     "Of the broken connections, those that hit a buffer limit."},
    {"broken_truncated", &FlowStats::brokenTruncated, stats::Kind::Counter,
     "Of the broken connections, those with a client segment captured cut short."},
    {"broken_capture_loss", &FlowStats::brokenCaptureLoss, stats::Kind::Counter,
     "Of the broken connections, those whose server acknowledged bytes the capture never delivered."},
    {"evicted", &FlowStats::flowsEvicted, stats::Kind::Counter, "Established connections pushed out of a full flow table."},
    {"idle_timeout", &FlowStats::flowsIdle, stats::Kind::Counter, "Connections ended by the idle timeout."},
    {"shutdown", &FlowStats::flowsShutdown, stats::Kind::Counter, "Connections open when the agent stopped."},
    {"shed_inflight", &FlowStats::flowsShed, stats::Kind::Counter,
     "Established connections given up in flight because the agent kept falling behind (the heaviest "
     "first): the kernel stops mirroring them and their replay is reset (aborted), instead of a hole in "
     "every stream."},
    {"midstream_skipped", &FlowStats::midstreamSkipped, stats::Kind::Counter,
     "Connections first seen without their SYN (open before the tap): not replayed."},
    {"unacked", &FlowStats::unacked, stats::Kind::Counter,
     "Connections that ended holding client bytes the server never acknowledged (never replayed)."},
    {"rst_ignored", &FlowStats::rstIgnored, stats::Kind::Counter,
     "RSTs not at the receiver's next sequence number (out of window or forged): ignored, as the server does."},
    {"out_of_window_segments", &FlowStats::outOfWindow, stats::Kind::Counter,
     "Segments or acknowledgements ignored as too far from the stream's position."},
    {"server_streams_lost", &FlowStats::serverStreamsLost, stats::Kind::Counter,
     "Response directions given up (hole, overflow, cut copy); the replay goes on."},
    {"server_segments_held", &FlowStats::serverHeld, stats::Kind::Counter,
     "Server segments captured before the client bytes they acknowledge (the two directions' copies "
     "crossed on the way to the capture): held, and delivered after those bytes."},
    {"client_bytes", &FlowStats::clientBytes, stats::Kind::Counter,
     "Client bytes delivered in order, as the server acknowledged them."},
    {"server_bytes", &FlowStats::serverBytes, stats::Kind::Counter, "Server bytes delivered in order."},
    {"buffered_bytes", &FlowStats::bufferedBytes, stats::Kind::Gauge,
     "Memory held by reassembly: bytes waiting for a hole or an acknowledgement, plus per-segment overhead."},
};

} // namespace shadowtap::flow
