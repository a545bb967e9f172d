// SPDX-License-Identifier: Apache-2.0
#include "bpf/bpffs.h"
#include "commands/commands.h"
#include "common/error.h"
#include "tap/preflight.h"
#include "tap/tap.h"

#include <cerrno>
#include <csignal>
#include <iostream>

namespace shadowtap {

// `shadowtap reload`: the same as `kill -HUP <agent>`, finding the agent through its pinned state.
int reloadCommand(const std::string &iface, const std::string &bpffs) {
  requirePrivileges("reload");
  auto state = TapMaps::openPinned(pinDirFor(bpffs, iface)).state();
  auto pid = static_cast<pid_t>(state.agent_pid);
  if (pid <= 0 || ::kill(pid, SIGHUP) != 0)
    throw Error("the agent tapping " + iface + " (pid " + std::to_string(pid) +
                ") is not running: nothing to reload (`shadowtap detach` removes what it left)");
  std::cout << "asked agent pid " << pid << " to reload its config (see its log for the result)\n";
  return 0;
}

} // namespace shadowtap
