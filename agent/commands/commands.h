// SPDX-License-Identifier: Apache-2.0
// One function per subcommand. Each returns the process exit code; errors are thrown.
#pragma once

#include "config/command_options.h"
#include "config/run_options.h"

#include <functional>
#include <string>

namespace shadowtap {

// `reload` (null without --config) re-reads the file and re-applies the flags, validated.
int runCommand(const RunOptions &options, const std::string &bpffs, const std::function<RunOptions()> &reload);
int replayCommand(const ReplayCommandOptions &options);
int collectCommand(const CollectCommandOptions &options);
int reloadCommand(const std::string &iface, const std::string &bpffs);
int setCommand(const SetOptions &options, const std::string &bpffs);
int statusCommand(const StatusOptions &options, const std::string &bpffs);
int detachCommand(const DetachOptions &options, const std::string &bpffs);
int reportCommand(const ReportOptions &options);
int checkConfigCommand(const std::string &path); // prints "FILE: ok", or throws Error (exit 1)

} // namespace shadowtap
