// SPDX-License-Identifier: Apache-2.0
#pragma once

namespace shadowtap {

// Once everything is attached and opened, the agent keeps only what it still needs: NET_ADMIN
// (netlink: tc detach, veth removal, SO_MARK), NET_RAW (a capture a reload may start), BPF, and
// SYS_ADMIN only in XDP mode (libxdp looks programs up by id to detach, which needs it). Every other
// capability leaves the effective, permitted and bounding sets for good.
void dropUnneededCapabilities(bool keepSysAdmin);

} // namespace shadowtap
