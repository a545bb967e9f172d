// SPDX-License-Identifier: Apache-2.0
// Checks run before anything is attached, each failing with one line a user can act on.
#pragma once

#include <string>

namespace shadowtap {

void requirePrivileges(const char *command); // root, or CAP_BPF/CAP_SYS_ADMIN + CAP_NET_ADMIN
void requireBtf();                           // the kernel exposes its BTF (CO-RE needs it)
int requireIfindex(const std::string &iface, const char *flag);

} // namespace shadowtap
