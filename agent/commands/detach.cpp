// SPDX-License-Identifier: Apache-2.0
#include "commands/commands.h"
#include "tap/preflight.h"
#include "tap/tap.h"

#include <iostream>

namespace shadowtap {

int detachCommand(const DetachOptions &options, const std::string &bpffs) {
  requirePrivileges("detach");
  auto done = detachLeftovers(options.iface, bpffs);
  if (done.empty())
    std::cout << "nothing of shadowtap found on " << options.iface << "\n";
  for (const auto &line : done)
    std::cout << line << "\n";
  return 0;
}

} // namespace shadowtap
