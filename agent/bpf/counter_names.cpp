// SPDX-License-Identifier: Apache-2.0
#include "bpf/counter_names.h"

namespace shadowtap {
namespace {

// Same order as enum st_counter in shadowtap/shared.h; the static_assert catches a missing name.
constexpr std::array<std::string_view, ST_C_MAX> kNames = {
    "seen",
    "disabled",
    "marked",
    "not_ip",
    "vlan_too_deep",
    "not_tcp",
    "fragment",
    "malformed_l2",
    "malformed_ipv4",
    "malformed_ipv6",
    "malformed_tcp",
    "port_miss",
    "excluded",
    "not_sampled",
    "cloned",
    "clone_failed",
    "ring_sent",
    "ring_full",
    "ring_failed",
    "flow_decided",
    "flow_stateless",
    "flow_record_failed",
    "ring_truncated",
    "shed_overload",
    "decap_vxlan",
    "decap_geneve",
    "decap_ipip",
    "decap_ip6ip6",
    "flow_admitted",
    "shed_inflight",
    "shed_budget",
    "other_iface",
    "ring_guard",
};
static_assert(kNames.size() == ST_C_MAX, "one name per st_counter");
static_assert(ST_C_RING_GUARD + 1 == ST_C_MAX, "update kNames when adding a counter");

} // namespace

std::string_view counterName(uint32_t index) { return index < kNames.size() ? kNames[index] : "unknown"; }

nlohmann::ordered_json countersJson(const CounterValues &values, bool nonZeroOnly) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (uint32_t i = 0; i < ST_C_MAX; i++)
    if (values[i] || !nonZeroOnly)
      out[std::string(counterName(i))] = values[i];
  return out;
}

bool isTerminalCounter(uint32_t index) { return index >= ST_C_DISABLED && index <= ST_C_RING_FAILED; }

} // namespace shadowtap
