// SPDX-License-Identifier: Apache-2.0
// Mirrored frames in (from the mirror interface's packet ring or the BPF ring), replayed
// connections out: parse -> flow table (reassembly) -> HTTP stage (HTTP ports only: rules,
// pairing, comparison) -> replayer. Single-threaded, driven by the run loop's io_context;
// nothing here blocks.
#pragma once

#include "capture/packet_parser.h"
#include "compare/comparison.h"
#include "flow/flow_table.h"
#include "http/http_stage.h"
#include "replay/replayer.h"

#include <nlohmann/json.hpp>
#include <span>

namespace shadowtap {

struct CaptureStats {
  uint64_t frames = 0;
  uint64_t bytes = 0;
  uint64_t kernelDrops = 0;   // lost before we could read them (packet ring or BPF ring full)
  uint64_t notTcp = 0;        // frames on the mirror that are not TCP (should be none)
  uint64_t malformed = 0;     // truncated or invalid headers (user-side drop, counted)
};

class MirrorPipeline {
public:
  MirrorPipeline(boost::asio::io_context &io, const flow::FlowLimits &limits, replay::ReplayOptions replay,
                 const replay::ReplayPlan &plan);

  // nowNs: the agent's monotonic clock (timeouts); packetNs: when the packet was captured (any
  // clock, consistently: it only times HTTP responses).
  void onFrame(std::span<const uint8_t> frame, uint64_t nowNs, uint64_t packetNs);
  void tick(uint64_t nowNs) { flows_.tick(nowNs); }
  void addKernelDrops(uint64_t drops) { capture_.kernelDrops += drops; }
  void shutdown(); // ends every flow and aborts every replay
  // Reload: new replay plan and flow limits for connections from now on.
  void reconfigure(const flow::FlowLimits &limits, const replay::ReplayPlan &plan);

  nlohmann::ordered_json statsJson() const;
  const compare::Comparison &comparison() const { return comparison_; }

private:
  replay::Replayer replayer_;
  compare::Comparison comparison_;
  http::HttpStage http_;
  flow::FlowTable flows_;
  CaptureStats capture_;
  TcpPacket packet_;
};

} // namespace shadowtap
