// SPDX-License-Identifier: Apache-2.0
// `shadowtap check-config FILE`: a config file checked as `run --config FILE` reads it, on any
// machine. The same parser and validate() as run, and every mirror target parsed; but no name is
// resolved and no interface looked up, since a cluster's config names hosts and addresses that
// exist only there. ${VAR}s expand from the environment, as in run.
#pragma once

#include <string>

namespace shadowtap {

// Throws UsageError; the message starts with the path ("FILE:LINE: KEY: ..." where the line is known).
void checkConfigFile(const std::string &path);

} // namespace shadowtap
