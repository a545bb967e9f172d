// SPDX-License-Identifier: Apache-2.0
// `--netns NAME|PATH`: work in another network namespace, e.g. tap the interface inside a pod
// (`--netns /proc/PID/ns/net`, or a named one from `ip netns`). The process enters it before
// anything else (no thread exists yet, and every thread made later inherits it), so the tap, the
// mirror, the capture, the replays and the endpoint are all there.
//
// Interface names are per namespace (every pod has an eth0) but pins and run files live in one
// filesystem: inside a namespace entered by --netns they are keyed `<iface>@<label>` (label: the
// namespace's name, or `ns<inode>` for a path), and `status`/`set`/`detach`/`report` given the
// same --netns find them.
#pragma once

#include <string>

namespace shadowtap {

// Enters the namespace (a name in /run/netns, or a path); throws Error naming it.
void enterNetns(const std::string &nameOrPath);
// `iface` as pins and run files are keyed: as is, or `iface@label` after enterNetns.
std::string tapKey(const std::string &iface);

} // namespace shadowtap
