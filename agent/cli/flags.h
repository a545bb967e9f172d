// SPDX-License-Identifier: Apache-2.0
// What every subcommand's flag parsing shares: Boost.Program_options errors turned into one
// UsageError that names `--help`, the flags of every command working on a tap, and telling a flag
// given on the command line from a default.
#pragma once

#include <boost/program_options.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace shadowtap {

struct ParsedFlags {
  boost::program_options::variables_map vm;
  bool help = false; // --help: print the command's usage instead of running it
};

// Throws UsageError "MESSAGE (see `shadowtap COMMAND --help`)". Without `positional`, words that
// are not flags are ignored, as they always were.
ParsedFlags parseFlags(const std::vector<std::string> &args, const boost::program_options::options_description &desc,
                       const char *command,
                       const boost::program_options::positional_options_description *positional = nullptr);

// With --help: prints `usage`, the flags and a newline, and returns true (the command then exits 0
// without doing anything else).
bool printedHelp(const ParsedFlags &parsed, std::string_view usage,
                 const boost::program_options::options_description &desc);

// --help, --iface, --bpffs, --log-level: taken by every command that works on a tap.
// `run`: --iface repeatable, each a name or a glob pattern.
boost::program_options::options_description tapFlags(bool manyInterfaces = false);

struct TapFlags {
  std::string iface; // empty when not given
  std::string bpffs;
  std::string logLevel;
  std::string netns; // --netns: entered by parseTapCommand / run before anything else
};
TapFlags tapFlagValues(const boost::program_options::variables_map &vm);

// Given on the command line, not a default: such flags override the config file.
bool given(const boost::program_options::variables_map &vm, const char *name);

} // namespace shadowtap
