// SPDX-License-Identifier: Apache-2.0
// A shadow target that is the primary itself — an address of this host (or network namespace)
// and a port being mirrored — would put shadow traffic on the production service, and its
// connections would be mirrored and replayed again. Such a configuration is refused up front.
#pragma once

#include "replay/replay_plan.h"

#include <boost/asio/ip/address.hpp>
#include <set>
#include <vector>

namespace shadowtap::replay {

// Addresses of every interface here, plus the loopback ranges.
std::vector<boost::asio::ip::address> localAddresses();

// Throws UsageError naming the target when one resolves to a local address on a mirrored port.
void refuseLoops(const ReplayPlan &plan, const std::set<uint16_t> &mirroredPorts,
                 const std::vector<boost::asio::ip::address> &local);

} // namespace shadowtap::replay
