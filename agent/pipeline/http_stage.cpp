// SPDX-License-Identifier: Apache-2.0
#include "pipeline/http_stage.h"

#include "compare/route_template.h"

#include <deque>

namespace shadowtap {

using namespace http;

namespace {
// Requests waiting for the primary's answer, per flow. Only a primary whose responses we cannot
// see (response direction lost) lets this grow; past it the flow stops pairing (dropping one
// request would pair every later response with the wrong one), counted.
constexpr size_t kMaxPendingPerFlow = 1024;

std::span<const uint8_t> bytesOf(const std::string &text) {
  return {reinterpret_cast<const uint8_t *>(text.data()), text.size()};
}
} // namespace

// One HTTP flow: its two framers and the requests waiting for the primary's answer.
struct HttpStage::Flow {
  struct Pending {
    replay::ExchangePtr exchange; // null: not mirrored (framed and paired, but not compared)
    uint64_t requestEndNs = 0;
  };

  // Client -> server: requests. Decides and forwards each one.
  struct Requests : FramerListener {
    Flow &flow;
    explicit Requests(Flow &f) : flow(f) {}
    void onHead(const MessageHead &head, std::span<const uint8_t> raw) override { flow.onRequestHead(head, raw); }
    void onBody(std::span<const uint8_t> raw) override {
      if (flow.mirroring)
        flow.stage.replayer_.onClientData(flow.id, raw);
    }
    void onMessageEnd() override { flow.onRequestEnd(); }
    void onPassthrough(std::span<const uint8_t> raw) override { flow.stage.replayer_.onClientData(flow.id, raw); }
  };

  // Server -> client: the primary's responses, paired in order.
  struct Responses : FramerListener {
    Flow &flow;
    explicit Responses(Flow &f) : flow(f) {}
    void onMessageBegin() override { flow.responseBeganNs = flow.stage.nowNs_; }
    void onHead(const MessageHead &head, std::span<const uint8_t>) override {
      flow.responseCode = head.status;
      flow.interim = head.status >= 100 && head.status < 200 && head.status != 101;
    }
    void onBody(std::span<const uint8_t>) override {}
    void onMessageEnd() override { flow.onResponseEnd(); }
    void onPassthrough(std::span<const uint8_t>) override {}
  };

  Flow(HttpStage &s, flow::FlowId i, std::shared_ptr<const HttpRules> r)
      : stage(s), id(i), rules(std::move(r)), requestListener(*this), responseListener(*this),
        requests(MessageKind::Request, requestListener), responses(MessageKind::Response, responseListener) {}

  void onRequestHead(const MessageHead &head, std::span<const uint8_t> raw) {
    auto &stats = stage.stats_;
    stats.requests++;
    if (pending.size() >= kMaxPendingPerFlow) {
      for (const auto &p : pending)
        stats.primaryUnanswered += p.exchange ? 1 : 0;
      pending.clear();
      pairing = false;
    }
    auto verdict = decide(*rules, head, static_cast<uint32_t>(stage.random_() % 1'000'000));
    if (pairing)
      responses.expectResponseTo(head.method);
    mirroring = verdict == Verdict::Mirror;
    if (!mirroring) {
      (verdict == Verdict::Excluded ? stats.excluded : verdict == Verdict::NotMatched ? stats.notMatched : stats.sampledOut)++;
      if (pairing)
        pending.push_back({nullptr, 0});
      return;
    }
    stats.mirrored++;
    auto exchange = std::make_shared<replay::Exchange>();
    exchange->route = compare::routeOf(head.method, head.target);
    exchange->method = head.method;
    if (pairing)
      pending.push_back({exchange, 0});
    current = exchange;
    if (rewrites(*rules, head)) {
      stats.rewritten++;
      stage.replayer_.onClientData(id, bytesOf(rewriteHead(*rules, head)));
    } else {
      stage.replayer_.onClientData(id, raw);
    }
  }

  void onRequestEnd() {
    if (mirroring) // the shadows pair their responses even when the primary's cannot be
      stage.replayer_.endRequest(id, current);
    if (pairing && !pending.empty())
      pending.back().requestEndNs = stage.nowNs_;
    mirroring = false;
    current.reset();
  }

  void onResponseEnd() {
    if (interim || !pairing)
      return; // 100 Continue: the final response is still to come
    uint64_t now = stage.nowNs_;
    if (pending.empty()) {
      stage.stats_.primaryUnpaired++;
    } else {
      Pending p = std::move(pending.front());
      pending.pop_front();
      if (p.exchange) {
        uint64_t start = std::max(p.requestEndNs ? p.requestEndNs : responseBeganNs, lastResponseEndNs);
        auto since = [start](uint64_t t) { return t > start ? t - start : 0; };
        stage.primaryAnswered(*p.exchange, responseCode, since(responseBeganNs), since(now));
      }
    }
    lastResponseEndNs = now;
  }

  HttpStage &stage;
  flow::FlowId id;
  std::shared_ptr<const HttpRules> rules;
  Requests requestListener;
  Responses responseListener;
  MessageFramer requests;
  MessageFramer responses;
  std::deque<Pending> pending; // every request, in order, until the primary answers it
  bool mirroring = false;      // the request being framed is being sent to the shadows
  replay::ExchangePtr current; // ... as this exchange
  bool pairing = true;         // false once the primary's answers could no longer be paired
  bool interim = false;
  unsigned responseCode = 0;
  uint64_t responseBeganNs = 0;
  uint64_t lastResponseEndNs = 0;
};

HttpStage::HttpStage(replay::Replayer &replayer, compare::Comparison &comparison, const replay::ReplayPlan &plan)
    : replayer_(replayer), comparison_(comparison), random_(std::random_device{}()) {
  setPlan(plan);
  replayer_.setObserver(this);
}

HttpStage::~HttpStage() { replayer_.setObserver(nullptr); }

void HttpStage::setPlan(const replay::ReplayPlan &plan) { rules_ = plan.http; }

void HttpStage::onFlowStart(flow::FlowId id, const flow::FlowInfo &info) {
  if (auto rules = rules_.find(info.serverPort); rules != rules_.end()) {
    stats_.flows++;
    flows_[id] = std::make_unique<Flow>(*this, id, rules->second);
    stats_.active = flows_.size();
  }
  replayer_.onFlowStart(id, info);
}

void HttpStage::onClientData(flow::FlowId id, std::span<const uint8_t> bytes) {
  auto it = flows_.find(id);
  if (it == flows_.end())
    replayer_.onClientData(id, bytes);
  else
    it->second->requests.feed(bytes);
}

void HttpStage::onClientFin(flow::FlowId id) {
  if (auto it = flows_.find(id); it != flows_.end())
    it->second->requests.finish();
  replayer_.onClientFin(id);
}

void HttpStage::onServerData(flow::FlowId id, std::span<const uint8_t> bytes) {
  if (auto it = flows_.find(id); it != flows_.end())
    it->second->responses.feed(bytes);
}

void HttpStage::onFlowEnd(flow::FlowId id, flow::FlowEnd end) {
  if (auto it = flows_.find(id); it != flows_.end()) {
    Flow &flow = *it->second;
    if (end == flow::FlowEnd::Completed)
      flow.responses.finish(); // the server's FIN ends a close-delimited response
    for (const auto &p : flow.pending)
      if (p.exchange)
        stats_.primaryUnanswered++;
    const auto &rq = flow.requests.stats();
    const auto &rs = flow.responses.stats();
    if (rq.messages == 0 && rq.parseErrors)
      stats_.notHttp++;
    else
      stats_.parseErrors += rq.parseErrors;
    stats_.parseErrors += rs.parseErrors;
    stats_.upgrades += rq.upgrades || rs.upgrades ? 1 : 0;
    flows_.erase(it);
    stats_.active = flows_.size();
  }
  replayer_.onFlowEnd(id, end);
}

void HttpStage::primaryAnswered(replay::Exchange &exchange, unsigned code, uint64_t firstNs, uint64_t lastNs) {
  stats_.primaryResponses++;
  comparison_.record({compare::kPrimaryTarget, exchange.route, code, firstNs, lastNs});
  exchange.primaryAnswered = true;
  exchange.primaryCode = code;
  for (const auto &[target, shadowCode] : exchange.earlyShadowCodes)
    comparison_.recordPair(replayer_.target(target).target.name, exchange.route, code, shadowCode);
  exchange.earlyShadowCodes.clear();
}

void HttpStage::onShadowResponse(replay::Exchange &exchange, const replay::ShadowResponse &response) {
  (response.code ? stats_.shadowResponses : stats_.shadowNoResponse)++;
  const std::string &target = replayer_.target(response.target).target.name;
  comparison_.record({target, exchange.route, response.code, response.firstByteNs, response.lastByteNs});
  if (exchange.primaryAnswered)
    comparison_.recordPair(target, exchange.route, exchange.primaryCode, response.code);
  else
    exchange.earlyShadowCodes.emplace_back(response.target, response.code);
}

} // namespace shadowtap
