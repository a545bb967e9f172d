// SPDX-License-Identifier: Apache-2.0
// An enum's names for logs, JSON, metrics and options, as a table next to the enum instead of a
// switch written out each time: nameOf(kTable, value), "unknown" for a value not in it;
// valueOf(kTable, name) back (nullopt for a name not in it), and choicesOf(kTable) for the error.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

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

template <class Enum, size_t N>
constexpr std::optional<Enum> valueOf(const EnumName<Enum> (&table)[N], std::string_view name) {
  for (const auto &entry : table)
    if (entry.name == name)
      return entry.value;
  return std::nullopt;
}

// "a, b or c": every name of the table, in its order.
template <class Enum, size_t N> std::string choicesOf(const EnumName<Enum> (&table)[N]) {
  std::string out;
  for (size_t i = 0; i < N; i++)
    out += std::string(i == 0 ? "" : i + 1 == N ? " or " : ", ") + table[i].name;
  return out;
}

} // namespace shadowtap
