// SPDX-License-Identifier: Apache-2.0
// Where shadowtap keeps its pinned maps: <bpffs>/shadowtap/<iface>/ (root-only, mode 0700).
#pragma once

#include <string>

namespace shadowtap {

inline constexpr const char *kDefaultBpffs = "/sys/fs/bpf";

// Makes sure a BPF filesystem is mounted at `mountPoint`, mounting one if not. Throws Error.
void ensureBpffs(const std::string &mountPoint);

std::string pinDirFor(const std::string &bpffs, const std::string &iface);

// Creates the pin directory (and the shadowtap/ level) with mode 0700. Throws Error.
void createPinDir(const std::string &dir);

// Unlinks every pinned object in `dir`, then the directory. Logs and goes on: used in cleanup.
void removePinDir(const std::string &dir);

bool pathExists(const std::string &path);

} // namespace shadowtap
