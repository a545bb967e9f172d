// SPDX-License-Identifier: Apache-2.0
// `shadowtap run`'s flags: their descriptions, and the options they give. The config file, if
// there is one, is read first; every flag that was given (not defaulted) is applied on top of it:
// --port replaces the file's services, --percent/--shadow/--copies/--protocol and the HTTP rule
// flags adjust every service. No system access besides reading that file and ${VAR}s: the
// interface lookup for --iface-from-address is passed in, so all of it is unit-tested.
#pragma once

#include "config/run_options.h"

#include <boost/program_options.hpp>
#include <functional>
#include <string>
#include <vector>

namespace shadowtap {

inline constexpr const char *kRunUsage = "usage: shadowtap run (--iface IF --port P[,P...] | --config FILE) [options]";

// run's flags, the ones every tap command takes (cli/flags.h) included.
boost::program_options::options_description runFlags();

// --protocol and the HTTP rule flags (run and replay take them alike), and applying the given ones
// to every service (each flag given replaces that kind of rule). Throws UsageError.
void addHttpFlags(boost::program_options::options_description &desc);
void applyHttpFlags(const boost::program_options::variables_map &flags, std::vector<ServiceRule> &services);

// The interface holding an address (net/link.h's ifaceHoldingAddress in the agent). Throws UsageError.
using InterfaceLookup = std::function<std::string(const std::string &address)>;

// The options `run` starts with, validated. Called again on each reload with the same flags, so
// they keep winning over the new file. Throws UsageError naming the flag or FILE:LINE: KEY.
RunOptions buildRunOptions(const boost::program_options::variables_map &flags,
                           const InterfaceLookup &ifaceHoldingAddress);

} // namespace shadowtap
