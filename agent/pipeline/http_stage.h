// SPDX-License-Identifier: Apache-2.0
// The HTTP stage sits between the flow table and the replayer, for the ports whose service is
// `--protocol http` (other flows pass straight through, byte-exact):
//
//   client bytes -> RequestStream (framer + rules, fail-closed) -> (rewritten head + raw body) -> replayer
//   server bytes -> response framer -> paired with the requests, in order -> comparison (primary)
//   replayer's shadow responses ------------------------------------------> comparison (shadows)
//
// A request that is not mirrored is not sent at all, and its response is not compared: the
// shadow connection sees a consistent stream of whole requests. What happens to bytes that cannot
// be framed is http::RequestStream's contract: with privacy rules the connection's mirroring
// stops (its replay ends with a FIN after what was sent; counted privacy_stopped), without them
// the rest is replayed raw.
//
// Timing, the same definition on both sides, all from kernel timestamps (CLOCK_REALTIME):
//  - primary: from the request's last byte seen at the tap's ingress (the timestamp of the client
//    packet that carried it — not the later server ACK that released it to the replay) to the
//    response's first and last byte seen at the tap's egress (onPacket() before every packet);
//  - shadows: from the request's last byte leaving the agent (a software TX timestamp) to the
//    response's first and last byte reaching it (software RX timestamps): see
//    replay/shadow_connection.h. Both from the later of that start and the previous response's
//    end (HTTP/1.1 answers in order: a pipelined request is not charged for the one before it).
//
// Bodies (per service, `compare.body`): the primary's response bodies come from the server
// direction of the flow, the shadows' from their replay connections; each exchange is judged
// once the primary and the baseline (if any) have answered (compare/comparison.h).
//
// Memory: request and response heads held by every framer of the stage share one HeadBudget;
// bodies being compared share one MemoryBudget (HttpStageLimits).
#pragma once

#include "capture/packet_parser.h"
#include "compare/comparison.h"
#include "flow/flow_sink.h"
#include "http/message_framer.h"
#include "http/request_stream.h"
#include "pipeline/http_stats.h"
#include "replay/replayer.h"

#include <memory>
#include <random>
#include <unordered_map>

namespace shadowtap {

// The agent's budgets (these defaults); each of N workers' stages gets 1/N (Agent::httpLimits).
struct HttpStageLimits {
  size_t headBudgetBytes = 64u << 20; // request and response heads being framed, all flows
  size_t bodyBudgetBytes = 64u << 20; // bodies held for comparison, all flows
};

class HttpStage : public flow::FlowSink, public replay::ExchangeObserver {
public:
  HttpStage(replay::Replayer &replayer, compare::Comparison &comparison, const replay::ReplayPlan &plan,
            HttpStageLimits limits = {});
  ~HttpStage() override;
  void setPlan(const replay::ReplayPlan &plan); // new flows use the new rules
  // Every captured TCP packet, before the flow table: its timestamp times whatever the table
  // delivers for it, and client data packets of HTTP flows time the requests (ingress).
  void onPacket(const TcpPacket &packet, uint64_t tsNs);
  // The time of what follows, without a packet (tests).
  void setPacketTime(uint64_t ns) { nowNs_ = ns; }

  void onFlowStart(flow::FlowId id, const flow::FlowInfo &info) override;
  void onClientData(flow::FlowId id, std::span<const uint8_t> bytes) override;
  void onClientFin(flow::FlowId id) override;
  void onServerClosedFirst(flow::FlowId id) override { replayer_.onServerClosedFirst(id); }
  void onServerData(flow::FlowId id, std::span<const uint8_t> bytes) override;
  void onFlowEnd(flow::FlowId id, flow::FlowEnd end) override;

  void onShadowResponse(replay::Exchange &exchange, const replay::ShadowResponse &response) override;
  void onShadowUnpaired() override { stats_.shadowUnpaired++; }
  void onComparisonsAbandoned(size_t requests) override { stats_.comparisonsAbandoned += requests; }

  HttpStats stats() const;
  size_t activeFlows() const { return stats_.active; }

private:
  struct Flow;
  friend struct Flow;
  void primaryAnswered(replay::Exchange &exchange, unsigned code, uint64_t firstNs, uint64_t lastNs,
                       compare::BodyDigestPtr body);
  void judgeBodies(replay::Exchange &exchange);
  size_t targetIndex(const std::string &name) const;

  replay::Replayer &replayer_;
  compare::Comparison &comparison_;
  std::map<uint16_t, std::shared_ptr<const http::HttpRules>> rules_;
  std::map<uint16_t, std::shared_ptr<const compare::BodyCompareSettings>> bodies_;
  std::unordered_map<flow::FlowId, std::unique_ptr<Flow>> flows_;
  std::unordered_map<flow::FlowKey, Flow *, flow::FlowKeyHash> byKey_;
  http::HeadBudget headBudget_;
  std::shared_ptr<compare::MemoryBudget> bodyBudget_;
  HttpStats stats_;
  uint64_t nowNs_ = 0;
  const TcpPacket *packet_ = nullptr; // the packet being processed (onPacket .. its flow-table turn)
  std::minstd_rand random_;
};

} // namespace shadowtap
