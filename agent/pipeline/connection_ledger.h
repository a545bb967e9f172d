// SPDX-License-Identifier: Apache-2.0
// The wire-to-shadow ledger: what became of every connection the kernel admitted, stage by stage,
// from the kernel's counters and the agent's pipeline document (`status --json`'s "pipeline").
//
//   admitted at SYN (kernel flow_admitted)
//     -> followed by the agent (flows started)       short: SYN lost in capture (ring drops, clone
//                                                     failures: counted in frames, not connections)
//     -> established (the server's SYN-ACK seen)      short: never_established
//     -> routed to a target (x copies), opened        short: shed_limit, shed_backoff, skipped_empty,
//                                                     pending
//     -> the shadow took it whole (completed)         short: active, unconfirmed, aborted, shed_*,
//                                                     connect_failed, write_failed
//
// Each stage after the first says how many it received from the stage before, how many went on,
// and names every connection that did not by its counter; `unexplained` is what no counter
// explains (0 when the identities hold). The capture stage can only be bounded: its losses are
// counted in frames (a lost frame may or may not carry a SYN), and a retransmitted SYN is admitted
// twice; the frames lost are listed with it.
#pragma once

#include "bpf/counter_names.h"

#include <nlohmann/json.hpp>

namespace shadowtap::pipeline {

// [{"stage", "in", "out", "short": {reason: n}, "unexplained"}...], or [] without a pipeline.
nlohmann::ordered_json connectionLedger(const CounterValues &kernel, const nlohmann::ordered_json &pipeline);

} // namespace shadowtap::pipeline
