// SPDX-License-Identifier: Apache-2.0
#include "stats/prometheus_writer.h"

namespace shadowtap::stats {

std::string escapeLabelValue(const std::string &value) {
  std::string out;
  for (char c : value) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '\\' || c == '"')
      out += '\\';
    out += c;
  }
  return out;
}

void appendFamilyHeader(std::string &out, const std::string &name, const char *type, const char *help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

} // namespace shadowtap::stats
