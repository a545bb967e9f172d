// SPDX-License-Identifier: Apache-2.0
#include "commands/check_config.h"

#include "commands/commands.h"
#include "common/error.h"
#include "config/config_file.h"
#include "config/validation.h"
#include "metrics/metrics_server.h"
#include "net/link.h"
#include "replay/shadow_target.h"

#include <iostream>

namespace shadowtap {
namespace {

// The checks run makes after reading the file, minus the lookups. Their errors know no line.
void checkLoadedOptions(const RunOptions &o) {
  if (o.ifaceFromAddress)
    checkInterfaceAddress(*o.ifaceFromAddress);
  else if (o.iface.empty())
    throw UsageError("missing interface (or interfaceFromAddress)");
  else
    validateIfaceName(o.iface, "interface");
  validateAllButIface(o);
  if (o.metricsAddr != "off")
    parseListenAddress(o.metricsAddr);
  for (size_t i = 0; i < o.services.size(); i++)
    for (const auto &shadow : o.services[i].shadows) {
      try {
        replay::parseShadowTarget(shadow);
      } catch (const UsageError &e) {
        throw UsageError("services[" + std::to_string(i) + "].mirror: " + e.what());
      }
    }
}

} // namespace

void checkConfigFile(const std::string &path) {
  RunOptions options = loadConfigFile(path); // its errors already read "FILE:LINE: KEY: ..."
  try {
    checkLoadedOptions(options);
  } catch (const UsageError &e) {
    throw UsageError(path + ": " + e.what());
  }
}

int checkConfigCommand(const std::string &path) {
  try {
    checkConfigFile(path);
  } catch (const UsageError &e) {
    throw Error(e.what()); // the command was used right: a bad file is its finding (exit 1), not a usage error
  }
  std::cout << path << ": ok\n";
  return 0;
}

} // namespace shadowtap
