// SPDX-License-Identifier: Apache-2.0
// `shadowtap run --config FILE` (and `check-config FILE`): a YAML file shaped like mesh mirror
// rules (services with `mirror: {host, port}` and `mirrorPercentage: {value: N}`), read into the
// same RunOptions the flags fill. Every error names the file, the line and the key; nothing is
// attached before the whole file is valid. See deploy/shadowtap.yaml for a commented example.
#pragma once

#include "config/run_options.h"

#include <string>

namespace shadowtap {

// Throws UsageError "FILE:LINE: KEY: what is wrong".
RunOptions loadConfigFile(const std::string &path);

// Expands ${NAME} from the environment (for Kubernetes' downward API: "${NODE_IP}"). Throws
// UsageError naming the variable when it is not set.
std::string expandEnvironment(const std::string &text);

} // namespace shadowtap
