// SPDX-License-Identifier: Apache-2.0
// The checks of a whole set of options that need no system access (whether an interface exists,
// what a shadow's name resolves to: the commands find that out). Pure; throw UsageError.
#pragma once

#include "config/command_options.h"
#include "config/run_options.h"

namespace shadowtap {

void validateIfaceName(const std::string &name, const char *flag);
void validate(const RunOptions &options);
void validate(const CollectCommandOptions &options);
// validate() but for the interface name, which a config file may leave to interfaceFromAddress
// (resolved on the node): what `shadowtap check-config` can check on any machine.
void validateAllButIface(const RunOptions &options);
void validate(const SetOptions &options);
void validate(const ReplayCommandOptions &options);
// The services' ports, rates, copies (run and replay alike).
void validateServices(const std::vector<ServiceRule> &services);

} // namespace shadowtap
