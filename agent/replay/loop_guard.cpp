// SPDX-License-Identifier: Apache-2.0
#include "replay/loop_guard.h"

#include "common/error.h"

#include <ifaddrs.h>
#include <netinet/in.h>

namespace shadowtap::replay {

namespace ip = boost::asio::ip;

std::vector<ip::address> localAddresses() {
  std::vector<ip::address> out;
  ifaddrs *list = nullptr;
  if (getifaddrs(&list) != 0)
    return out;
  for (ifaddrs *a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr)
      continue;
    if (a->ifa_addr->sa_family == AF_INET) {
      auto *sin = reinterpret_cast<sockaddr_in *>(a->ifa_addr);
      out.push_back(ip::address_v4(ntohl(sin->sin_addr.s_addr)));
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      auto *sin6 = reinterpret_cast<sockaddr_in6 *>(a->ifa_addr);
      ip::address_v6::bytes_type bytes;
      std::copy(std::begin(sin6->sin6_addr.s6_addr), std::end(sin6->sin6_addr.s6_addr), bytes.begin());
      out.push_back(ip::address_v6(bytes));
    }
  }
  freeifaddrs(list);
  return out;
}

void refuseLoops(const ReplayPlan &plan, const std::set<uint16_t> &mirroredPorts,
                 const std::vector<ip::address> &local) {
  for (const auto &target : plan.targets) {
    if (!mirroredPorts.count(target.port))
      continue;
    for (const auto &endpoint : target.endpoints) {
      auto address = endpoint.address();
      if (address.is_v6() && address.to_v6().is_v4_mapped())
        address = ip::make_address_v4(ip::v4_mapped, address.to_v6());
      bool isLocal = address.is_loopback() || address.is_unspecified();
      for (const auto &mine : local)
        isLocal = isLocal || mine == address;
      if (isLocal)
        throw UsageError("refusing --shadow " + target.name + ": it is this host's own port " +
                         std::to_string(target.port) + ", which is being mirrored (the primary itself: its " +
                         "users' service would get the shadow traffic, and the replays would be mirrored again)");
    }
  }
}

} // namespace shadowtap::replay
