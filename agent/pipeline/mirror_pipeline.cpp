// SPDX-License-Identifier: Apache-2.0
#include "pipeline/mirror_pipeline.h"

#include <algorithm>

#include "capture/tcp_checksum.h"

namespace shadowtap {

MirrorPipeline::MirrorPipeline(boost::asio::io_context &io, const flow::FlowLimits &limits,
                               replay::ReplayOptions replay, const replay::ReplayPlan &plan,
                               compare::Comparison &comparison, std::unique_ptr<record::RecordWriter> recorder,
                               HttpStageLimits httpLimits)
    : replayer_(io, std::move(replay), plan), http_(replayer_, comparison, plan, httpLimits),
      recording_(http_, std::move(recorder),
                 [&plan] {
                   std::set<uint16_t> ports;
                   for (const auto &[port, rules] : plan.http)
                     ports.insert(port);
                   return ports;
                 }()),
      flows_(limits, recording_, replayer_.chunkPool()), serverPayload_(limits.serverPayload) {}

void MirrorPipeline::reconfigure(const flow::FlowLimits &limits, const replay::ReplayPlan &plan) {
  flows_.setLimits(limits);
  serverPayload_ = limits.serverPayload;
  replayer_.setPlan(plan);
  http_.setPlan(plan);
}

void MirrorPipeline::onFrame(const Frame &frame, uint64_t nowNs) {
  capture_.frames++;
  capture_.bytes += frame.data.size();
  switch (parseTcpFrame(frame.data, packet_)) {
  case ParseError::None:
    packet_.zone = frame.zone;
    packet_.truncated = packet_.truncated || frame.cut();
    if (packet_.truncated && !serverPayload_ && packet_.payload.empty()) {
      capture_.responseHeadersOnly++; // cut by the capture filter on purpose (still marked: see FlowTable)
    } else if (packet_.truncated) {
      capture_.truncated++; // marked on the packet: the flow table decides what a cut copy is worth
    } else if (frame.checksum == FrameChecksum::Unverified &&
               checkTcpChecksum(packet_) == TcpChecksumResult::Invalid) {
      capture_.badChecksum++; // the primary's kernel drops it too; its retransmission will come
      break;
    }
    http_.onPacket(packet_, frame.tsNs); // times what the flow table delivers for it
    recording_.setPacketTime(frame.tsNs);
    flows_.onPacket(packet_, nowNs);
    break;
  case ParseError::NotIp:
  case ParseError::NotTcp:
  case ParseError::Fragment:
    capture_.notTcp++;
    break;
  case ParseError::Truncated:
  case ParseError::BadHeader:
    capture_.malformed++;
    break;
  }
}

void MirrorPipeline::weighUnread(const Frame &frame) {
  TcpPacket packet;
  if (parseTcpFrame(frame.data, packet) == ParseError::None) {
    packet.zone = frame.zone;
    flows_.weighUnread(packet);
  }
}

void MirrorPipeline::shutdown() {
  flows_.closeAll(flow::FlowEnd::Shutdown);
  recording_.flush();
  replayer_.abortAll();
}

bool MirrorPipeline::replaysIdle() const {
  for (const auto &target : replayer_.targets())
    if (target.stats.active || target.stats.pending || target.stats.queued)
      return false;
  return true;
}

MirrorPipeline::OpenReplays MirrorPipeline::openReplays() const {
  OpenReplays out;
  for (const auto &target : replayer_.targets()) {
    // Queued too: an offline replay that read on while replays waited in the replay queue (past
    // the 1,024 connects in progress) filled it to its memory bound, and the rest were shed:
    // 27,266 of bench/pipeline.sh's 200,000 (shed_limit), where it can simply read later.
    size_t open = target.stats.active + target.stats.pending + target.stats.queued;
    out.busiestTarget = std::max(out.busiestTarget, open);
    out.total += open;
  }
  return out;
}

PipelineStats MirrorPipeline::stats() const {
  PipelineStats out;
  out.capture = capture_;
  out.flows = flows_.stats();
  out.replay = replayer_.stats();
  for (const auto &target : replayer_.targets())
    out.targets.emplace_back(target.target.name, target.stats);
  out.http = http_.stats();
  return out;
}

} // namespace shadowtap
