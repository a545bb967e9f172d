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
// How long ago the file was last replaced, in seconds (its mtime against the wall clock), or
// nullopt without one. An agent that stopped answering stopped publishing too: the file is as old
// as the stall, not "a second".
std::optional<double> statsFileAgeSeconds(const std::string &path);

} // namespace shadowtap
