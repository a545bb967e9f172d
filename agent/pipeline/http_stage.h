// SPDX-License-Identifier: Apache-2.0
// The HTTP stage sits between the flow table and the replayer, for the ports whose service is
// `--protocol http` (other flows pass straight through, byte-exact):
//
//   client bytes -> request framer -> per-request rules -> (rewritten head + raw body) -> replayer
//   server bytes -> response framer -> paired with the requests, in order -> comparison (primary)
//   replayer's shadow responses ------------------------------------------> comparison (shadows)
//
// A request that is not mirrored is not sent at all, and its response is not compared: the
// shadow connection sees a consistent stream of whole requests. A stream that is not HTTP (or
// stops being HTTP: Upgrade, parse error) is replayed as raw bytes from that point on.
// Primary latencies come from packet timestamps (setPacketTime before each packet), measured like
// the shadows' (see replay/shadow_connection.h): from the later of the request's last byte and
// the previous response's end, to the response's first and last byte.
#pragma once

#include "compare/comparison.h"
#include "flow/flow_sink.h"
#include "http/message_framer.h"
#include "http/request_rules.h"
#include "pipeline/http_stats.h"
#include "replay/replayer.h"

#include <memory>
#include <random>
#include <unordered_map>

namespace shadowtap {

class HttpStage : public flow::FlowSink, public replay::ExchangeObserver {
public:
  HttpStage(replay::Replayer &replayer, compare::Comparison &comparison, const replay::ReplayPlan &plan);
  ~HttpStage() override;
  void setPlan(const replay::ReplayPlan &plan); // new flows use the new rules
  void setPacketTime(uint64_t ns) { nowNs_ = ns; }

  void onFlowStart(flow::FlowId id, const flow::FlowInfo &info) override;
  void onClientData(flow::FlowId id, std::span<const uint8_t> bytes) override;
  void onClientFin(flow::FlowId id) override;
  void onServerData(flow::FlowId id, std::span<const uint8_t> bytes) override;
  void onFlowEnd(flow::FlowId id, flow::FlowEnd end) override;

  void onShadowResponse(replay::Exchange &exchange, const replay::ShadowResponse &response) override;
  void onShadowUnpaired() override { stats_.shadowUnpaired++; }
  void onComparisonsAbandoned(size_t requests) override { stats_.comparisonsAbandoned += requests; }

  const HttpStats &stats() const { return stats_; }
  size_t activeFlows() const { return stats_.active; }

private:
  struct Flow;
  friend struct Flow;
  void primaryAnswered(replay::Exchange &exchange, unsigned code, uint64_t firstNs, uint64_t lastNs);
  replay::Replayer &replayer_;
  compare::Comparison &comparison_;
  std::map<uint16_t, std::shared_ptr<const http::HttpRules>> rules_;
  std::unordered_map<flow::FlowId, std::unique_ptr<Flow>> flows_;
  HttpStats stats_;
  uint64_t nowNs_ = 0;
  std::minstd_rand random_;
};

} // namespace shadowtap
