// SPDX-License-Identifier: Apache-2.0
// An enum's names for logs, JSON and metrics, as a table next to the enum instead of a switch
// written out each time: nameOf(kTable, value), "unknown" for a value not in it.
#pragma once

#include <cstddef>

namespace shadowtap {

template <class Enum> struct EnumName {
  Enum value;
  const char *name;
};

template <class Enum, size_t N> constexpr const char *nameOf(const EnumName<Enum> (&table)[N], Enum value) {
  for (const auto &entry : table)
    if (entry.value == value)
      return entry.name;
  return "unknown";
}

} // namespace shadowtap
