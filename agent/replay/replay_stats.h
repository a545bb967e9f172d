// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>

namespace shadowtap::replay {

// Per shadow target. Every replay connection ends in exactly one of completed, aborted,
// shed_backlog, shed_stalled, connect_failed or write_failed; until then it is active:
//   opened == completed + aborted + shed_backlog + shed_stalled + connect_failed + write_failed + active
// shed_backoff counts connections never opened because the target was backing off, and
// skipped_empty those never opened because the client sent nothing, not even a FIN, before its
// connection ended (half-open SYN-flood entries, resets right after the handshake):
//   flows routed to the target x copies == opened + shed_backoff + skipped_empty
struct TargetStats {
  uint64_t opened = 0;
  uint64_t completed = 0;     // every client byte written, half-closed like the client
  uint64_t aborted = 0;       // the mirrored connection was reset, broken or evicted: RST sent
  uint64_t shedBacklog = 0;   // the shadow was too slow: backlog limit hit, connection dropped
  uint64_t shedStalled = 0;   // the shadow stopped reading: no write progress for the stall timeout
  uint64_t shedBackoff = 0;   // the shadow was unreachable: not attempted during back-off
  uint64_t skippedEmpty = 0;  // the client's connection ended before it sent a byte or a FIN
  uint64_t connectFailed = 0;
  uint64_t writeFailed = 0;   // the shadow reset or closed before taking everything
  uint64_t active = 0;
  uint64_t bytesOut = 0;
  uint64_t bytesIn = 0;       // response bytes read and discarded
  uint64_t writeStalls = 0;   // data arrived while the previous write was still pending
};

// HTTP mode, all targets.
struct ReplayHttpStats {
  uint64_t shadowUnpaired = 0;       // responses with no request waiting for them (not compared)
  uint64_t comparisonsAbandoned = 0; // requests left uncompared: >1024 unanswered on one replay
};

} // namespace shadowtap::replay
