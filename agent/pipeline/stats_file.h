// SPDX-License-Identifier: Apache-2.0
// The running agent's user-space counters, published for `shadowtap status` as a root-only JSON
// file (/run/shadowtap/<iface>.json), replaced atomically so a reader never sees half a file.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace shadowtap {

inline constexpr const char *kRunDir = "/run/shadowtap";

std::string statsFilePath(const std::string &iface);
void writeStatsFile(const std::string &path, const nlohmann::ordered_json &stats); // logs on failure
std::optional<nlohmann::ordered_json> readStatsFile(const std::string &path);

} // namespace shadowtap
