// SPDX-License-Identifier: Apache-2.0
#pragma once

namespace shadowtap {

// Raises RLIMIT_NOFILE's soft limit to the hard limit (logged); returns the limit in force.
unsigned long raiseOpenFileLimit();

} // namespace shadowtap
