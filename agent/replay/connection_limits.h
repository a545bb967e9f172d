// SPDX-License-Identifier: Apache-2.0
// How many replay connections may be open at once: one rule for `run` (per worker), `replay` and
// `collect`, so an offline replay at --speed max meets the same limits as the live agent instead
// of opening a socket per connection until the open file limit refuses them (measured:
// bench/pipeline.sh churn, 200,000 connections, 74,317 shed_no_socket before this).
#pragma once

#include "replay/replay_options.h"

#include <cstddef>

namespace shadowtap::replay {

// Sets maxConnectionsPerTarget (`maxReplayConns` if given, else half the local port range per
// source address) and maxConnectionsTotal (the open file limit less kReservedFiles), each
// divided among `workers`.
void applyConnectionLimits(ReplayOptions &options, size_t maxReplayConns, size_t sources, size_t workers);

} // namespace shadowtap::replay
