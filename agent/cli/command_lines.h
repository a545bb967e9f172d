// SPDX-License-Identifier: Apache-2.0
// Each subcommand's command line: its flags parsed into its options (config/), `--help`, the log
// level, then the command itself (commands/). Each returns the exit code; errors are thrown, and
// main() prints them as one line.
#pragma once

#include <string>
#include <vector>

namespace shadowtap {

int runCommandLine(const std::vector<std::string> &args);
int setCommandLine(const std::vector<std::string> &args);
int statusCommandLine(const std::vector<std::string> &args);
int reportCommandLine(const std::vector<std::string> &args);
int replayCommandLine(const std::vector<std::string> &args);
int collectCommandLine(const std::vector<std::string> &args);
int reloadCommandLine(const std::vector<std::string> &args);
int detachCommandLine(const std::vector<std::string> &args);
int checkConfigCommandLine(const std::vector<std::string> &args);
int versionCommandLine(const std::vector<std::string> &args);

} // namespace shadowtap
