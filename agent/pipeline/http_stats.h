// SPDX-License-Identifier: Apache-2.0
// The HTTP stage's counters: what the per-request rules decided, and how the primary's and the
// shadows' responses were paired.
#pragma once

#include "stats/stat_fields.h"

namespace shadowtap {

struct HttpStats {
  uint64_t flows = 0;             // HTTP-port flows started
  uint64_t active = 0;            // gauge
  uint64_t notHttp = 0;           // flows whose client stream was not HTTP: replayed as plain TCP
  uint64_t parseErrors = 0;       // streams that stopped parsing after an error (either direction)
  uint64_t upgrades = 0;          // streams that switched protocols: the rest replayed raw
  uint64_t requests = 0;
  uint64_t mirrored = 0;
  uint64_t excluded = 0;          // an exclusion rule matched (e.g. end-user: demo-user)
  uint64_t notMatched = 0;        // a `match` list was given and no entry matched
  uint64_t sampledOut = 0;        // per-request percentage
  uint64_t rewritten = 0;         // mirrored with a rewritten head
  uint64_t primaryResponses = 0;  // responses to mirrored requests seen on the tap
  uint64_t primaryUnpaired = 0;   // responses with no request waiting for them
  uint64_t primaryUnanswered = 0; // mirrored requests whose flow ended before the primary answered
  uint64_t shadowResponses = 0;
  uint64_t shadowNoResponse = 0;  // mirrored requests a shadow never answered
  uint64_t shadowUnpaired = 0;    // shadow responses with no request waiting for them
  uint64_t comparisonsAbandoned = 0; // requests left uncompared: >1024 unanswered on one replay
  uint64_t privacyStopped = 0;       // connections with privacy rules whose mirroring stopped (fail-closed)
  uint64_t headBudgetExceeded = 0;   // streams that stopped framing: the head budget was full
  uint64_t headBufferBytes = 0;      // gauge: head bytes held by the framers
  uint64_t bodyBufferBytes = 0;      // gauge: body bytes and digests held for comparison
  uint64_t bodiesOverBudget = 0;     // bodies compared by hash only: the body budget was full
};

inline constexpr stats::Field<HttpStats> kHttpStatsFields[] = {
    {"flows", &HttpStats::flows, stats::Kind::Counter, "Connections to HTTP services started."},
    {"active", &HttpStats::active, stats::Kind::Gauge, "HTTP connections being framed now."},
    {"not_http", &HttpStats::notHttp, stats::Kind::Counter,
     "Connections whose client stream was not HTTP: replayed as plain TCP."},
    {"parse_errors", &HttpStats::parseErrors, stats::Kind::Counter, "Streams that stopped parsing after an error."},
    {"upgrades", &HttpStats::upgrades, stats::Kind::Counter, "Streams that switched protocols (Upgrade, CONNECT)."},
    {"requests", &HttpStats::requests, stats::Kind::Counter, "Requests framed."},
    {"mirrored", &HttpStats::mirrored, stats::Kind::Counter, "Requests sent to the shadows."},
    {"excluded", &HttpStats::excluded, stats::Kind::Counter, "Requests an exclusion rule kept from the shadows."},
    {"not_matched", &HttpStats::notMatched, stats::Kind::Counter, "Requests no `match` entry selected."},
    {"sampled_out", &HttpStats::sampledOut, stats::Kind::Counter, "Requests left out by the per-request percentage."},
    {"rewritten", &HttpStats::rewritten, stats::Kind::Counter, "Mirrored requests with a rewritten head."},
    {"primary_responses", &HttpStats::primaryResponses, stats::Kind::Counter,
     "Primary responses to mirrored requests, seen on the tap."},
    {"primary_unpaired", &HttpStats::primaryUnpaired, stats::Kind::Counter,
     "Primary responses with no request waiting for them."},
    {"primary_unanswered", &HttpStats::primaryUnanswered, stats::Kind::Counter,
     "Mirrored requests whose connection ended before the primary answered."},
    {"shadow_responses", &HttpStats::shadowResponses, stats::Kind::Counter, "Shadow responses to mirrored requests."},
    {"shadow_no_response", &HttpStats::shadowNoResponse, stats::Kind::Counter,
     "Mirrored requests a shadow never answered."},
    {"shadow_unpaired", &HttpStats::shadowUnpaired, stats::Kind::Counter,
     "Shadow responses with no request waiting for them (not compared)."},
    {"comparisons_abandoned", &HttpStats::comparisonsAbandoned, stats::Kind::Counter,
     "Requests left uncompared because one replay had over 1024 unanswered."},
    {"privacy_stopped", &HttpStats::privacyStopped, stats::Kind::Counter,
     "Connections with exclusion or header rules whose mirroring stopped because they could not be framed any "
     "more (parse error, head budget, an Upgrade or CONNECT the rules did not mirror or the server refused)."},
    {"head_budget_exceeded", &HttpStats::headBudgetExceeded, stats::Kind::Counter,
     "Streams that stopped being framed because the heads held across connections reached their budget."},
    {"head_buffer_bytes", &HttpStats::headBufferBytes, stats::Kind::Gauge,
     "Request and response head bytes held by the framers now."},
    {"body_buffer_bytes", &HttpStats::bodyBufferBytes, stats::Kind::Gauge,
     "Response body bytes and digests held for the body comparison now."},
    {"bodies_over_budget", &HttpStats::bodiesOverBudget, stats::Kind::Counter,
     "Response bodies compared by hash only because the body budget was full."},
};

} // namespace shadowtap
