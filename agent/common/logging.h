// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>

namespace shadowtap {

// Sets spdlog's level from a user string (trace|debug|info|warn|error|off); throws UsageError.
void setLogLevel(const std::string &level);

// Routes libbpf and libxdp messages into spdlog one level lower than they claim (their "warn"
// is often a probe that is expected to fail), so the default output stays quiet.
void routeLibraryLogs();

} // namespace shadowtap
