// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>

namespace shadowtap {

// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the limit in force (0: unknown).
unsigned long raiseOpenFileLimit();
// Warns when that limit would cap replay connections (below 65,536).
void warnIfFewFiles(unsigned long openFileLimit);
// The ports connect() picks from first towards one destination: half of this network namespace's
// ip_local_port_range (Linux tries the ports of one parity first and, once they are all taken,
// scans every one of them on every connect before trying the others). 0: unknown.
size_t connectPortsPerDestination();

} // namespace shadowtap
