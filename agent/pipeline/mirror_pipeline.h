// SPDX-License-Identifier: Apache-2.0
// Mirrored frames in (from any FrameSource), replayed connections out: parse -> flow table
// (reassembly) -> HTTP stage (HTTP ports only: rules, pairing, comparison) -> replayer.
// Single-threaded, driven by one io_context; nothing here blocks.
#pragma once

#include "capture/capture_stats.h"
#include "capture/frame_source.h"
#include "capture/packet_parser.h"
#include "compare/comparison.h"
#include "flow/flow_table.h"
#include "pipeline/http_stage.h"
#include "pipeline/pipeline_stats.h"
#include "record/recording_sink.h"
#include "replay/replayer.h"

namespace shadowtap {

class MirrorPipeline {
public:
  // `comparison` is shared by every worker's pipeline (it locks per recorded response).
  // `recorder`: `run --record`: every connection the flow table hands on is also written down.
  MirrorPipeline(boost::asio::io_context &io, const flow::FlowLimits &limits, replay::ReplayOptions replay,
                 const replay::ReplayPlan &plan, compare::Comparison &comparison,
                 std::unique_ptr<record::RecordWriter> recorder = nullptr, HttpStageLimits httpLimits = {});

  // nowNs: the agent's monotonic clock (timeouts); the frame's own timestamp times HTTP responses.
  void onFrame(const Frame &frame, uint64_t nowNs);
  void tick(uint64_t nowNs) {
    flows_.tick(nowNs);
    replayer_.tick(nowNs);
    recording_.flush();
  }
  void addKernelDrops(uint64_t drops) { capture_.kernelDrops += drops; }
  void setRingGuardShed(uint64_t connections) { capture_.ringGuardShed = connections; } // the guard's own count
  // Overload (InflightShedder), once per look: gives up that share of the connections in flight,
  // heaviest first; their keys, for the kernel.
  std::vector<st_flow_key> shedShareOfRecentBytes(double share) { return flows_.shedShareOfRecentBytes(share); }
  // ... weighing the frames still waiting in the capture buffer too (FrameSource::peekUnread).
  void weighUnread(const Frame &frame);
  size_t endShedInKernel(const std::function<bool(const st_flow_key &)> &shedInKernel) {
    return flows_.endShedInKernel(shedInKernel);
  }
  void shutdown(); // ends every flow and aborts every replay
  // Offline input (`shadowtap replay`): the input ended. Flows still open end (counted shutdown):
  // a replay that already has its client's FIN finishes on its own, any other is reset.
  void endOfInput() {
    flows_.closeAll(flow::FlowEnd::Shutdown);
    replayer_.finishPools();
  }
  // No replay connection open or waiting to open: everything handed to the replayer is done.
  bool replaysIdle() const;
  // Replay connections open or waiting to open: the busiest target's, and all targets' together.
  struct OpenReplays {
    size_t busiestTarget = 0, total = 0;
  };
  OpenReplays openReplays() const;
  // Where reassembled connections go after the flow table (a recording is replayed into it), and
  // the time its HTTP stage stamps the primary's events with.
  flow::FlowSink &sink() { return http_; }
  void setPacketTime(uint64_t ns) { http_.setPacketTime(ns); }
  const record::RecordWriter *recorder() const { return recording_.writer(); }
  // Reload: new replay plan and flow limits for connections from now on.
  void reconfigure(const flow::FlowLimits &limits, const replay::ReplayPlan &plan);

  PipelineStats stats() const;
  size_t backlogBytes() const { return replayer_.backlogBytes(); } // offline replay paces itself by it
  bool poolsNearlyFull() const { return replayer_.poolsNearlyFull(); } // ...and by this (--http-pool)
  uint64_t connectionsRouted() const { return replayer_.connectionsRouted(); } // ... and --rate by this

private:
  replay::Replayer replayer_;
  HttpStage http_;
  record::RecordingSink recording_; // flows_ -> recording_ -> http_
  flow::FlowTable flows_;
  CaptureStats capture_;
  TcpPacket packet_;
  bool serverPayload_; // false: responses arrive cut to their headers on purpose (FlowLimits)
};

} // namespace shadowtap
