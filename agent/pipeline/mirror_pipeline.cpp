// SPDX-License-Identifier: Apache-2.0
#include "pipeline/mirror_pipeline.h"

namespace shadowtap {

MirrorPipeline::MirrorPipeline(boost::asio::io_context &io, const flow::FlowLimits &limits,
                               replay::ReplayOptions replay, const replay::ReplayPlan &plan)
    : replayer_(io, std::move(replay), plan), http_(replayer_, comparison_, plan), flows_(limits, http_) {}

void MirrorPipeline::reconfigure(const flow::FlowLimits &limits, const replay::ReplayPlan &plan) {
  flows_.setLimits(limits);
  replayer_.setPlan(plan);
  http_.setPlan(plan);
}

void MirrorPipeline::onFrame(std::span<const uint8_t> frame, uint64_t nowNs, uint64_t packetNs) {
  capture_.frames++;
  capture_.bytes += frame.size();
  switch (parseTcpFrame(frame, packet_)) {
  case ParseError::None:
    http_.setPacketTime(packetNs);
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

void MirrorPipeline::shutdown() {
  flows_.closeAll(flow::FlowEnd::Shutdown);
  replayer_.abortAll();
}

nlohmann::ordered_json MirrorPipeline::statsJson() const {
  nlohmann::ordered_json out;
  out["capture"] = {{"frames", capture_.frames},
                    {"bytes", capture_.bytes},
                    {"kernel_drops", capture_.kernelDrops},
                    {"not_tcp", capture_.notTcp},
                    {"malformed", capture_.malformed}};
  const auto &f = flows_.stats();
  out["flows"] = {{"packets", f.packets},
                  {"started", f.flowsStarted},
                  {"active", flows_.activeFlows()},
                  {"completed", f.flowsCompleted},
                  {"reset", f.flowsReset},
                  {"broken", f.flowsBroken},
                  {"broken_overflow", f.flowsBrokenOverflow},
                  {"evicted", f.flowsEvicted},
                  {"idle_timeout", f.flowsIdle},
                  {"shutdown", f.flowsShutdown},
                  {"midstream_skipped", f.midstreamSkipped},
                  {"out_of_window_segments", f.outOfWindow},
                  {"server_streams_lost", f.serverStreamsLost},
                  {"client_bytes", f.clientBytes},
                  {"server_bytes", f.serverBytes},
                  {"buffered_bytes", flows_.bufferedBytes()}};
  auto targets = nlohmann::ordered_json::array();
  for (size_t i = 0; i < replayer_.targets().size(); i++) {
    const auto &s = replayer_.stats()[i];
    targets.push_back({{"target", replayer_.targets()[i].name},
                       {"opened", s.opened},
                       {"active", s.active},
                       {"completed", s.completed},
                       {"aborted", s.aborted},
                       {"shed_backlog", s.shedBacklog},
                       {"shed_stalled", s.shedStalled},
                       {"shed_backoff", s.shedBackoff},
                       {"skipped_empty", s.skippedEmpty},
                       {"connect_failed", s.connectFailed},
                       {"write_failed", s.writeFailed},
                       {"write_stalls", s.writeStalls},
                       {"bytes_out", s.bytesOut},
                       {"bytes_in", s.bytesIn}});
  }
  out["replay"] = {{"backlog_bytes", replayer_.backlogBytes()}, {"targets", targets}};
  const auto &h = http_.stats();
  out["http"] = {{"flows", h.flows},
                 {"active", http_.activeFlows()},
                 {"not_http", h.notHttp},
                 {"parse_errors", h.parseErrors},
                 {"upgrades", h.upgrades},
                 {"requests", h.requests},
                 {"mirrored", h.mirrored},
                 {"excluded", h.excluded},
                 {"not_matched", h.notMatched},
                 {"sampled_out", h.sampledOut},
                 {"rewritten", h.rewritten},
                 {"primary_responses", h.primaryResponses},
                 {"primary_unpaired", h.primaryUnpaired},
                 {"primary_unanswered", h.primaryUnanswered},
                 {"shadow_responses", h.shadowResponses},
                 {"shadow_no_response", h.shadowNoResponse},
                 {"shadow_unpaired", replayer_.httpStats().shadowUnpaired},
                 {"comparisons_abandoned", replayer_.httpStats().comparisonsAbandoned}};
  return out;
}

} // namespace shadowtap
