// SPDX-License-Identifier: Apache-2.0
#include "bpf/counter_names.h"

#include <gtest/gtest.h>
#include <set>
#include <string>

using namespace shadowtap;

TEST(CounterNames, EveryCounterHasAUniqueSnakeCaseName) {
  std::set<std::string> seen;
  for (uint32_t i = 0; i < ST_C_MAX; i++) {
    std::string name(counterName(i));
    EXPECT_FALSE(name.empty()) << i;
    EXPECT_NE(name, "unknown") << i;
    EXPECT_EQ(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_"), std::string::npos) << name;
    EXPECT_TRUE(seen.insert(name).second) << "duplicate " << name;
  }
  EXPECT_EQ(counterName(ST_C_MAX), "unknown");
}

TEST(CounterNames, NamesMatchTheirEnumValues) {
  EXPECT_EQ(counterName(ST_C_SEEN), "seen");
  EXPECT_EQ(counterName(ST_C_NOT_TCP), "not_tcp");
  EXPECT_EQ(counterName(ST_C_MALFORMED_IPV6), "malformed_ipv6");
  EXPECT_EQ(counterName(ST_C_CLONED), "cloned");
  EXPECT_EQ(counterName(ST_C_RING_FULL), "ring_full");
  EXPECT_EQ(counterName(ST_C_FLOW_RECORD_FAILED), "flow_record_failed");
  EXPECT_EQ(counterName(ST_C_RING_TRUNCATED), "ring_truncated");
}

TEST(CounterNames, TerminalReasonsExcludeSeenAndEvents) {
  EXPECT_FALSE(isTerminalCounter(ST_C_SEEN));
  EXPECT_TRUE(isTerminalCounter(ST_C_DISABLED));
  EXPECT_TRUE(isTerminalCounter(ST_C_CLONED));
  EXPECT_TRUE(isTerminalCounter(ST_C_RING_FAILED));
  EXPECT_FALSE(isTerminalCounter(ST_C_FLOW_DECIDED));
  EXPECT_FALSE(isTerminalCounter(ST_C_FLOW_STATELESS));
  EXPECT_FALSE(isTerminalCounter(ST_C_RING_TRUNCATED));
  EXPECT_EQ(counterName(ST_C_SHED_OVERLOAD), "shed_overload");
  EXPECT_FALSE(isTerminalCounter(ST_C_SHED_OVERLOAD));
  EXPECT_EQ(counterName(ST_C_FLOW_ADMITTED), "flow_admitted");
  EXPECT_FALSE(isTerminalCounter(ST_C_FLOW_ADMITTED));
  EXPECT_EQ(counterName(ST_C_SHED_INFLIGHT), "shed_inflight");
  EXPECT_EQ(counterName(ST_C_SHED_BUDGET), "shed_budget");
  EXPECT_FALSE(isTerminalCounter(ST_C_SHED_INFLIGHT));
}

TEST(CounterNames, DecapsulationEventsAreNamedAndNotTerminal) {
  EXPECT_EQ(counterName(ST_C_DECAP_VXLAN), "decap_vxlan");
  EXPECT_EQ(counterName(ST_C_DECAP_GENEVE), "decap_geneve");
  EXPECT_EQ(counterName(ST_C_DECAP_IPIP), "decap_ipip");
  EXPECT_EQ(counterName(ST_C_DECAP_IP6IP6), "decap_ip6ip6");
  for (uint32_t c : {ST_C_DECAP_VXLAN, ST_C_DECAP_GENEVE, ST_C_DECAP_IPIP, ST_C_DECAP_IP6IP6})
    EXPECT_FALSE(isTerminalCounter(c)) << counterName(c);
}
