// SPDX-License-Identifier: Apache-2.0
#pragma once

namespace shadowtap {

// Once everything is attached and opened, the agent keeps only what it still needs: NET_ADMIN
// (netlink: tc detach, veth removal, SO_MARK), NET_RAW (a capture a reload may start), BPF, and
// SYS_ADMIN only in XDP mode (libxdp looks programs up by id to detach, which needs it), and
// PERFMON only for an agent that follows interfaces by pattern (it loads programs for each new
// one, and the verifier wants CAP_PERFMON for what they do); each only if it held it. Exactly:
//   - effective and permitted: the kept capabilities, nothing else; inheritable and ambient: empty.
//   - bounding: reduced to the kept capabilities if the agent holds CAP_SETPCAP (root does), which
//     is used for that and then dropped too. Without CAP_SETPCAP (a container granted only the four
//     capabilities it needs) the kernel lets nobody shrink it: it stays as given.
//   - no_new_privs is set (needs no privilege), so an execve could never regain what was dropped,
//     whatever the bounding set holds.
// Failures are logged, never fatal: the agent then runs with what it was given.
void dropUnneededCapabilities(bool keepSysAdmin, bool keepPerfmon = false);

} // namespace shadowtap
