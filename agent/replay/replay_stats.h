// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "stats/stat_fields.h"

#include <cstdint>

namespace shadowtap::replay {

// Per shadow target. Every replay connection ends in exactly one of completed, unconfirmed,
// aborted, shed_backlog, shed_stalled, shed_no_socket, connect_failed or write_failed; until then
// it is active:
//   opened == completed + unconfirmed + aborted + shed_backlog + shed_stalled + shed_no_socket
//             + connect_failed + write_failed + active
// shed_backoff counts connections never opened because the target was backing off, shed_limit
// those never opened because the target had --max-replay-conns open already,
// skipped_empty those never opened because the client sent nothing, not even a FIN, before its
// connection ended (resets right after the handshake, idle connections evicted), and pending
// those still waiting for their connection's first byte:
//   routed (established flows routed to the target x copies)
//     == opened + shed_backoff + shed_limit + skipped_empty + pending
struct TargetStats {
  uint64_t routed = 0;        // established flows routed here x copies: opened or counted not opened
  uint64_t opened = 0;
  uint64_t active = 0;        // gauge
  uint64_t completed = 0;     // every client byte written and half-closed; the shadow acknowledged all of
                              // it and closed (or, HTTP, answered every request): it read the whole stream
  uint64_t unconfirmed = 0;   // everything written and half-closed, but the shadow neither closed nor
                              // acknowledged it all within the drain timeout
  uint64_t aborted = 0;       // the mirrored connection was reset, broken, evicted or shed: RST sent
  uint64_t shedBacklog = 0;   // the shadow was too slow: backlog limit hit, connection dropped
  uint64_t shedStalled = 0;   // the shadow stopped reading: no write progress for the stall timeout
  uint64_t shedNoSocket = 0;  // no socket could be made (open file limit, memory): not the shadow's fault
  uint64_t shedBackoff = 0;   // the shadow was unreachable: not attempted during back-off
  uint64_t shedLimit = 0;     // the target had --max-replay-conns open: not attempted
  uint64_t skippedEmpty = 0;  // the client's connection ended before it sent a byte or a FIN
  uint64_t pending = 0;       // gauge: waiting for the connection's first byte to open
  uint64_t concurrencyLimit = 0; // gauge: replays this target may have open now (ConcurrencyWindow)
  uint64_t connectFailed = 0;
  uint64_t writeFailed = 0;   // the shadow reset or closed before taking everything
  uint64_t writeStalls = 0;   // data arrived while the previous write was still pending
  uint64_t bytesOut = 0;
  uint64_t bytesIn = 0;       // response bytes read and discarded
};

inline constexpr stats::Field<TargetStats> kTargetStatsFields[] = {
    {"routed", &TargetStats::routed, stats::Kind::Counter,
     "Established connections routed to the shadow, times copies: each is opened or counted as not opened."},
    {"opened", &TargetStats::opened, stats::Kind::Counter, "Replay connections opened to the shadow."},
    {"active", &TargetStats::active, stats::Kind::Gauge, "Replay connections open now."},
    {"completed", &TargetStats::completed, stats::Kind::Counter,
     "Replays that wrote every client byte and half-closed, and the shadow acknowledged it all and closed (or "
     "answered every request): it read the whole stream."},
    {"unconfirmed", &TargetStats::unconfirmed, stats::Kind::Counter,
     "Replays that wrote everything and half-closed, but the shadow never closed within the drain timeout."},
    {"aborted", &TargetStats::aborted, stats::Kind::Counter,
     "Replays reset because the mirrored connection was reset, broken, evicted or shed in flight (overload)."},
    {"shed_backlog", &TargetStats::shedBacklog, stats::Kind::Counter, "Replays dropped past the backlog limit."},
    {"shed_stalled", &TargetStats::shedStalled, stats::Kind::Counter,
     "Replays dropped because the shadow stopped reading (stall timeout)."},
    {"shed_no_socket", &TargetStats::shedNoSocket, stats::Kind::Counter,
     "Replays dropped because no socket could be made (open file limit, memory)."},
    {"shed_backoff", &TargetStats::shedBackoff, stats::Kind::Counter,
     "Replays not attempted while the shadow was backing off."},
    {"shed_limit", &TargetStats::shedLimit, stats::Kind::Counter,
     "Replays not attempted because the target had its concurrency limit open (--max-replay-conns, adapted "
     "down while the shadow refuses replays), or the agent its share of the open file limit (all but 1024 "
     "descriptors)."},
    {"skipped_empty", &TargetStats::skippedEmpty, stats::Kind::Counter,
     "Connections that ended before the client sent a byte or a FIN: nothing to replay."},
    {"pending", &TargetStats::pending, stats::Kind::Gauge,
     "Replays waiting for their connection's first client byte before they open."},
    {"concurrency_limit", &TargetStats::concurrencyLimit, stats::Kind::Gauge,
     "Replays the shadow may have open at once now (0: no limit): cut to half those open when it refuses "
     "one, grown as it takes them."},
    {"connect_failed", &TargetStats::connectFailed, stats::Kind::Counter, "Replays whose connect failed."},
    {"write_failed", &TargetStats::writeFailed, stats::Kind::Counter,
     "Replays the shadow reset or closed before taking everything."},
    {"write_stalls", &TargetStats::writeStalls, stats::Kind::Counter,
     "Client bytes that arrived while the previous write was still pending."},
    {"bytes_out", &TargetStats::bytesOut, stats::Kind::Counter, "Bytes written to the shadow."},
    {"bytes_in", &TargetStats::bytesIn, stats::Kind::Counter, "Response bytes read from the shadow and discarded."},
};

// The replayer as a whole.
struct ReplayStats {
  uint64_t backlogBytes = 0; // gauge
};

inline constexpr stats::Field<ReplayStats> kReplayStatsFields[] = {
    {"backlog_bytes", &ReplayStats::backlogBytes, stats::Kind::Gauge, "Bytes waiting for slow shadows."},
};

} // namespace shadowtap::replay
