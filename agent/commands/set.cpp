// SPDX-License-Identifier: Apache-2.0
#include "bpf/bpffs.h"
#include "commands/commands.h"
#include "common/error.h"
#include "config/value_parsers.h"
#include "tap/preflight.h"
#include "tap/tap.h"

#include <iostream>

namespace shadowtap {

int setCommand(const SetOptions &options, const std::string &bpffs) {
  requirePrivileges("set");
  auto maps = TapMaps::openPinned(pinDirFor(bpffs, options.iface));

  if (options.port) {
    // A new port inherits the tap's mirror target; a known one keeps its own.
    st_rule rule{0, maps.state().mirror_ifindex, ST_RULE_ENABLED, 0};
    if (auto existing = maps.rule(*options.port))
      rule = *existing;
    rule.rate_ppm = *options.ratePpm;
    maps.setRule(*options.port, rule);
    std::cout << "port " << *options.port << ": " << formatPercent(rule.rate_ppm) << "% of new connections\n";
  }
  for (const auto &cidr : options.excludes) {
    maps.addExclude(cidr.key);
    std::cout << "excluded " << cidr.text << "\n";
  }
  for (const auto &cidr : options.includes) {
    if (!maps.removeExclude(cidr.key))
      throw UsageError("--include-cidr " + cidr.text + ": not in the excluded list (see `shadowtap status`)");
    std::cout << "no longer excluded " << cidr.text << "\n";
  }
  if (options.enabled) {
    auto runtime = maps.runtime();
    runtime.enabled = *options.enabled ? 1 : 0;
    maps.setRuntime(runtime);
    std::cout << (*options.enabled ? "enabled" : "disabled") << "\n";
  }
  return 0;
}

} // namespace shadowtap
