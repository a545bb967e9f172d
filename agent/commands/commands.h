// SPDX-License-Identifier: Apache-2.0
// One function per subcommand. Each returns the process exit code; errors are thrown.
#pragma once

#include "cli/options.h"

#include <string>

namespace shadowtap {

int runCommand(const RunOptions &options, const std::string &bpffs);
int setCommand(const SetOptions &options, const std::string &bpffs);
int statusCommand(const StatusOptions &options, const std::string &bpffs);
int detachCommand(const DetachOptions &options, const std::string &bpffs);

} // namespace shadowtap
