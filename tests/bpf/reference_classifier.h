// SPDX-License-Identifier: Apache-2.0
// A user-space model of what st_capture() must decide, written from the spec (shared.h and the
// design comments), not from the BPF code: parse L2..L4, match the service port by direction,
// check the client against the excluded CIDRs, then the sticky per-connection sampling decision.
// The fuzz tests run every packet through both and require the same terminal reason and events.
#pragma once

#include "packet_builder.h"
#include "shadowtap/shared.h"

#include <cstdint>
#include <map>
#include <vector>

namespace shadowtap::test {

struct ReferenceConfig {
  bool enabled = true;
  uint32_t skipMark = ST_DEFAULT_MARK;
  uint32_t seed = 0;
  uint32_t runtimeFlags = 0; // st_runtime.flags
  std::map<uint16_t, st_rule> rules;
  std::vector<st_lpm_key> excludes;
};

struct ReferenceVerdict {
  uint32_t reason = ST_C_MAX;   // terminal st_counter
  std::vector<uint32_t> events; // ST_C_FLOW_* counted besides it
  uint32_t flowHash = 0;        // valid once the packet reached the sampling step
};

class ReferenceClassifier {
public:
  explicit ReferenceClassifier(ReferenceConfig config) : config_(std::move(config)) {}

  // `egress`: the packet leaves the host (responses: the service port is the source).
  // `xdp`: no mark is visible. `ringOutput`: mirrored packets go to the ring, not a clone.
  ReferenceVerdict classify(const Bytes &packet, bool egress, bool xdp, bool ringOutput, uint32_t mark);

  const ReferenceConfig &config() const { return config_; }

private:
  struct KeyLess {
    bool operator()(const st_flow_key &a, const st_flow_key &b) const;
  };
  ReferenceConfig config_;
  std::map<st_flow_key, bool, KeyLess> flows_; // the decisions st_flows should hold
};

} // namespace shadowtap::test
