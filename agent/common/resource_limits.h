// SPDX-License-Identifier: Apache-2.0
#pragma once

namespace shadowtap {

// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the limit in force (0: unknown).
unsigned long raiseOpenFileLimit();
// Warns when that limit would cap replay connections (below 65,536).
void warnIfFewFiles(unsigned long openFileLimit);

} // namespace shadowtap
