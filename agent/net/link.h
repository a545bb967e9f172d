// SPDX-License-Identifier: Apache-2.0
// The few link operations shadowtap needs, done over rtnetlink/ioctl directly (no `ip` child
// processes): look up, create a veth pair, bring up without ARP, disable IPv6, delete.
#pragma once

#include <string>
#include <vector>

namespace shadowtap {

int ifindexOf(const std::string &name); // 0 if there is no such interface
// The interface that holds `address` (IPv4 or IPv6), e.g. the node's IP. Throws UsageError.
std::string ifaceHoldingAddress(const std::string &address);
// Only the first check of ifaceHoldingAddress (an IPv4 or IPv6 address?), which needs no system.
void checkInterfaceAddress(const std::string &address);
std::string ifnameOf(int ifindex);       // "" if there is none
std::vector<std::string> interfaceNames(); // every interface of this network namespace, now
// The interface's driver as ethtool names it ("veth", "virtio_net", ...); "" if it does not say.
std::string linkDriver(const std::string &name);

void createVethPair(const std::string &name, const std::string &peer); // throws Error
// A VXLAN device sending every frame to `remote`:`port` with `vni` (no learning, outer UDP
// checksums on, so the collector can tell a damaged datagram). Throws Error.
void createVxlanLink(const std::string &name, uint32_t vni, const std::string &remote, uint16_t port);
void deleteLink(const std::string &name);                               // throws Error
// Up, IFF_NOARP, and IPv6 off: a mirror port must not talk (no ARP, no router solicitations).
void makeSilentAndUp(const std::string &name); // throws Error
void setMtu(const std::string &name, unsigned mtu); // throws Error

} // namespace shadowtap
