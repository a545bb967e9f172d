// SPDX-License-Identifier: Apache-2.0
// The HTTP stage (http_stage.h). Notes:
//  - Ingress times of requests: each HTTP flow keeps the (end offset, timestamp) of the client
//    data packets that brought new bytes, in arrival order, offsets counted from the SYN-ACK's
//    acknowledgement (the client's first data byte). A request ending at offset E ended when the
//    first packet reaching E arrived. Entries are dropped once every byte they cover has been
//    delivered, so they cover only captured-but-unacknowledged bytes (kMaxSegments at most: past
//    that the oldest go, and those requests fall back to the time their bytes were released).
//    A TCP Fast Open SYN's data shifts the offsets by its length: such a flow's times come from
//    the nearest later packet instead (still a packet time, never the loop's clock).
//  - A stopped flow (fail-closed) ends its replay with a FIN after what was sent, or — if nothing
//    was — never opens one (the replayer counts it skipped_empty). The client's own FIN then
//    changes nothing; a client reset still aborts it.
//  - Responses after a stop are framed only to answer the requests already paired; the rest are
//    not counted as unpaired (the requests they answer were never framed).
#include "pipeline/http_stage.h"

#include "compare/route_template.h"

#include <deque>
#include <spdlog/spdlog.h>

namespace shadowtap {

using namespace http;

namespace {
// Requests waiting for the primary's answer, per flow. Only a primary whose responses we cannot
// see (response direction lost) lets this grow; past it the flow stops pairing (dropping one
// request would pair every later response with the wrong one), counted.
constexpr size_t kMaxPendingPerFlow = 1024;
// Client packets remembered per flow for request timing (bytes captured, not yet delivered).
constexpr size_t kMaxSegments = 4096;
} // namespace

// One HTTP flow: its request stream, response framer, and the requests waiting for the primary.
struct HttpStage::Flow : RequestStreamSink {
  struct Pending {
    replay::ExchangePtr exchange; // null: not mirrored (framed and paired, but not compared)
    uint64_t requestEndNs = 0;
  };
  struct Segment {
    uint64_t end; // offset just past the packet's bytes
    uint64_t ns;
  };

  // Server -> client: the primary's responses, paired in order.
  struct Responses : FramerListener {
    Flow &flow;
    explicit Responses(Flow &f) : flow(f) {}
    void onMessageBegin() override { flow.responseBeganNs = flow.stage.nowNs_; }
    void onHead(const MessageHead &head, std::span<const uint8_t>) override { flow.onResponseHead(head); }
    void onBody(std::span<const uint8_t>) override {}
    void onBodyContent(std::span<const uint8_t> content) override {
      if (flow.body)
        flow.body->append(content);
    }
    void onMessageEnd() override { flow.onResponseEnd(); }
    void onPassthrough(std::span<const uint8_t>) override {}
  };

  Flow(HttpStage &s, flow::FlowId i, const flow::FlowInfo &info, std::shared_ptr<const HttpRules> r,
       std::shared_ptr<const compare::BodyCompareSettings> b)
      : stage(s), id(i), key(info.key), clientPort(info.clientPort), rules(r), bodies(std::move(b)),
        requests(
            std::move(r), *this, [&s] { return static_cast<uint32_t>(s.random_()); }, &s.headBudget_),
        responseListener(*this), responses(MessageKind::Response, responseListener, &s.headBudget_) {
    std::memcpy(client, info.client, sizeof client);
    if (bodies && !bodies->baseline.empty())
      baselineTarget = stage.targetIndex(bodies->baseline);
  }

  // RequestStreamSink
  void requestBegin(const MessageHead &head, Verdict verdict) override {
    auto &stats = stage.stats_;
    stats.requests++;
    if (pending.size() >= kMaxPendingPerFlow) {
      for (const auto &p : pending)
        stats.primaryUnanswered += p.exchange ? 1 : 0;
      pending.clear();
      pairing = false;
    }
    if (pairing)
      responses.expectResponseTo(head.method);
    current.reset();
    if (verdict != Verdict::Mirror) {
      (verdict == Verdict::Excluded     ? stats.excluded
       : verdict == Verdict::NotMatched ? stats.notMatched
                                        : stats.sampledOut)++;
      if (pairing)
        pending.push_back({nullptr, 0});
      return;
    }
    stats.mirrored++;
    if (rewrites(*rules, head))
      stats.rewritten++;
    auto exchange = std::make_shared<replay::Exchange>();
    exchange->route = compare::routeOf(head.method, head.target);
    exchange->method = head.method;
    if (bodies) {
      exchange->bodyBudget = stage.bodyBudget_;
      exchange->bodySettings = bodies;
      exchange->baselineTarget = baselineTarget;
    }
    if (pairing)
      pending.push_back({exchange, 0});
    current = std::move(exchange);
    // Its bytes come in the chunk being fed: the packet of the chunk's first byte times it.
    stage.replayer_.beginRequest(id, ingressNs(clientDelivered + 1));
  }

  void forward(std::span<const uint8_t> bytes) override {
    forwarded = true;
    stage.replayer_.onClientData(id, bytes);
  }

  void requestEnd(uint64_t endOffset) override {
    if (current) // the shadows pair their responses even when the primary's cannot be
      stage.replayer_.endRequest(id, current);
    if (pairing && !pending.empty())
      pending.back().requestEndNs = ingressNs(endOffset);
    current.reset();
  }

  void stopped(StopReason reason) override {
    stage.stats_.privacyStopped++;
    spdlog::debug("http: flow {}: mirroring stopped ({}): the rest of the connection is not replayed", id,
                  stopReasonName(reason));
    current.reset();
    if (forwarded && !finSent) {
      finSent = true;
      stage.replayer_.onClientFin(id); // ends the replay after what it has
    }
  }

  // The arrival time of the packet that brought byte endOffset-1 (else: now, the release time).
  uint64_t ingressNs(uint64_t endOffset) const {
    for (const auto &segment : segments)
      if (segment.end >= endOffset)
        return segment.ns;
    return stage.nowNs_;
  }

  void noteClientPacket(const TcpPacket &packet, uint64_t ns) {
    if (!baseKnown || packet.payload.empty())
      return;
    uint32_t seq = packet.syn ? packet.seq + 1 : packet.seq;
    int64_t start = static_cast<int32_t>(seq - base);
    int64_t end = start + static_cast<int64_t>(packet.payload.size());
    if (end <= 0 || static_cast<uint64_t>(end) <= maxEnd)
      return; // nothing new: the first copy of a byte is the one that counts
    maxEnd = static_cast<uint64_t>(end);
    if (segments.size() >= kMaxSegments)
      segments.pop_front();
    segments.push_back({maxEnd, ns});
  }

  void delivered(size_t bytes) {
    clientDelivered += bytes;
    while (!segments.empty() && segments.front().end <= clientDelivered)
      segments.pop_front();
  }

  void onResponseHead(const MessageHead &head) {
    responseCode = head.status;
    interim = head.status >= 100 && head.status < 200 && head.status != 101; // 100-continue etc.
    body.reset();
    if (interim)
      return;
    finalResponses++;
    if (uint64_t upgrade = requests.awaitingSwitchOf(); upgrade && upgrade == finalResponses)
      requests.serverSwitched(head.upgrade);
    if (pairing && !pending.empty() && pending.front().exchange && pending.front().exchange->bodyBudget) {
      const Header *type = head.find("Content-Type");
      body =
          std::make_unique<compare::BodyCollector>(stage.bodyBudget_, type && compare::isJsonContentType(type->value));
    }
  }

  void onResponseEnd() {
    if (interim || !pairing)
      return; // 100 Continue: the final response is still to come
    uint64_t now = stage.nowNs_;
    compare::BodyDigestPtr digest = body ? body->finish() : nullptr;
    body.reset();
    if (digest && digest->overBudget)
      stage.stats_.bodiesOverBudget++;
    if (pending.empty()) {
      if (!requests.stopped())
        stage.stats_.primaryUnpaired++;
    } else {
      Pending p = std::move(pending.front());
      pending.pop_front();
      if (p.exchange) {
        uint64_t start = std::max(p.requestEndNs ? p.requestEndNs : responseBeganNs, lastResponseEndNs);
        auto since = [start](uint64_t t) { return t > start ? t - start : 0; };
        stage.primaryAnswered(*p.exchange, responseCode, since(responseBeganNs), since(now), std::move(digest));
      }
    }
    lastResponseEndNs = now;
  }

  HttpStage &stage;
  flow::FlowId id;
  flow::FlowKey key;
  __u32 client[4]{};
  uint16_t clientPort;
  std::shared_ptr<const HttpRules> rules;
  std::shared_ptr<const compare::BodyCompareSettings> bodies;
  size_t baselineTarget = SIZE_MAX;
  RequestStream requests;
  Responses responseListener;
  MessageFramer responses;
  std::deque<Pending> pending; // every request, in order, until the primary answers it
  replay::ExchangePtr current; // the mirrored request being framed
  bool pairing = true;         // false once the primary's answers could no longer be paired
  bool forwarded = false;      // some byte went to the replayer
  bool finSent = false;        // the replay was ended (stop or client FIN)
  bool interim = false;
  unsigned responseCode = 0;
  uint64_t finalResponses = 0;
  uint64_t responseBeganNs = 0;
  uint64_t lastResponseEndNs = 0;
  std::unique_ptr<compare::BodyCollector> body; // the primary's response body being collected
  // Request timing (ingress)
  bool baseKnown = false;
  uint32_t base = 0; // sequence number of client offset 0
  uint64_t maxEnd = 0;
  uint64_t clientDelivered = 0;
  std::deque<Segment> segments;
};

HttpStage::HttpStage(replay::Replayer &replayer, compare::Comparison &comparison, const replay::ReplayPlan &plan,
                     HttpStageLimits limits)
    : replayer_(replayer), comparison_(comparison), headBudget_(limits.headBudgetBytes),
      bodyBudget_(std::make_shared<compare::MemoryBudget>(limits.bodyBudgetBytes)), random_(std::random_device{}()) {
  setPlan(plan);
  replayer_.setObserver(this);
}

HttpStage::~HttpStage() {
  flows_.clear(); // the framers give their head bytes back to headBudget_ first
  replayer_.setObserver(nullptr);
}

void HttpStage::setPlan(const replay::ReplayPlan &plan) {
  rules_ = plan.http;
  bodies_ = plan.bodies;
}

size_t HttpStage::targetIndex(const std::string &name) const {
  for (const auto &target : replayer_.targets())
    if (target.target.name == name)
      return target.index;
  return SIZE_MAX;
}

void HttpStage::onPacket(const TcpPacket &packet, uint64_t tsNs) {
  nowNs_ = tsNs;
  packet_ = &packet;
  if (byKey_.empty() || packet.payload.empty())
    return;
  auto it = byKey_.find(flow::flowKeyOf(packet));
  if (it == byKey_.end())
    return;
  Flow &flow = *it->second;
  if (packet.sport == flow.clientPort && std::memcmp(packet.src, flow.client, sizeof flow.client) == 0)
    flow.noteClientPacket(packet, tsNs);
}

void HttpStage::onFlowStart(flow::FlowId id, const flow::FlowInfo &info) {
  if (auto rules = rules_.find(info.serverPort); rules != rules_.end()) {
    stats_.flows++;
    std::shared_ptr<const compare::BodyCompareSettings> bodies;
    if (auto b = bodies_.find(info.serverPort); b != bodies_.end())
      bodies = b->second;
    auto flow = std::make_unique<Flow>(*this, id, info, rules->second, std::move(bodies));
    // The flow starts on the server's SYN-ACK: it acknowledges the client's first data byte.
    if (packet_ && packet_->syn && packet_->ack_flag) {
      flow->base = packet_->ack;
      flow->baseKnown = true;
    }
    byKey_[info.key] = flow.get();
    flows_[id] = std::move(flow);
    stats_.active = flows_.size();
  }
  replayer_.onFlowStart(id, info);
  if (flows_.count(id) && packet_ && packet_->syn && packet_->ack_flag)
    replayer_.paceConnect(id, nowNs_); // the SYN-ACK's time on the tap
}

void HttpStage::onClientData(flow::FlowId id, std::span<const uint8_t> bytes) {
  auto it = flows_.find(id);
  if (it == flows_.end()) {
    replayer_.onClientData(id, bytes);
    return;
  }
  Flow &flow = *it->second;
  flow.requests.feed(bytes);
  flow.delivered(bytes.size());
}

void HttpStage::onClientFin(flow::FlowId id) {
  auto it = flows_.find(id);
  if (it == flows_.end()) {
    replayer_.onClientFin(id);
    return;
  }
  Flow &flow = *it->second;
  flow.requests.finish(); // may stop the flow (a head cut short)
  if (flow.requests.stopped() || flow.finSent)
    return;
  flow.finSent = true;
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
    const auto &rq = flow.requests.framerStats();
    const auto &rs = flow.responses.stats();
    if (rq.messages == 0 && rq.parseErrors)
      stats_.notHttp++;
    else
      stats_.parseErrors += rq.parseErrors;
    stats_.parseErrors += rs.parseErrors;
    stats_.upgrades += rq.upgrades || rs.upgrades ? 1 : 0;
    stats_.headBudgetExceeded += rq.overBudget + rs.overBudget;
    byKey_.erase(flow.key);
    flows_.erase(it);
    stats_.active = flows_.size();
  }
  replayer_.onFlowEnd(id, end);
}

void HttpStage::primaryAnswered(replay::Exchange &exchange, unsigned code, uint64_t firstNs, uint64_t lastNs,
                                compare::BodyDigestPtr body) {
  stats_.primaryResponses++;
  comparison_.record({compare::kPrimaryTarget, exchange.route, code, firstNs, lastNs});
  exchange.primaryAnswered = true;
  exchange.primaryCode = code;
  for (const auto &[target, shadowCode] : exchange.earlyShadowCodes)
    comparison_.recordPair(replayer_.target(target).target.name, exchange.route, code, shadowCode);
  exchange.earlyShadowCodes.clear();
  if (exchange.bodyBudget) {
    exchange.primaryBodyDone = true;
    exchange.primaryBody = std::move(body);
    judgeBodies(exchange);
  }
}

void HttpStage::onShadowResponse(replay::Exchange &exchange, const replay::ShadowResponse &response) {
  (response.code ? stats_.shadowResponses : stats_.shadowNoResponse)++;
  const std::string &target = replayer_.target(response.target).target.name;
  comparison_.record({target, exchange.route, response.code, response.firstByteNs, response.lastByteNs});
  if (exchange.primaryAnswered)
    comparison_.recordPair(target, exchange.route, exchange.primaryCode, response.code);
  else
    exchange.earlyShadowCodes.emplace_back(response.target, response.code);
  if (!exchange.bodyBudget)
    return;
  if (response.body && response.body->overBudget)
    stats_.bodiesOverBudget++;
  if (response.target == exchange.baselineTarget) {
    exchange.baselineDone = true;
    exchange.baselineBody = response.body;
  } else {
    exchange.waitingBodies.emplace_back(response.target, response.body);
  }
  judgeBodies(exchange);
}

// Once the primary and the baseline (if any) have answered: the baseline's differences are this
// request's noise; every candidate answered so far is judged against the primary without them.
void HttpStage::judgeBodies(replay::Exchange &exchange) {
  if (!exchange.primaryBodyDone)
    return;
  if (exchange.baselineTarget != SIZE_MAX && !exchange.baselineDone)
    return;
  const auto &settings = *exchange.bodySettings;
  if (!exchange.noiseKnown) {
    exchange.noiseKnown = true;
    if (exchange.primaryBody && exchange.baselineBody)
      exchange.noise = comparison_.recordBaselineBody(settings.baseline, exchange.route, *exchange.primaryBody,
                                                      *exchange.baselineBody, settings.ignore);
  }
  for (const auto &[target, body] : exchange.waitingBodies)
    if (exchange.primaryBody && body)
      comparison_.recordBody(replayer_.target(target).target.name, exchange.route, *exchange.primaryBody, *body,
                             exchange.noise, settings.ignore);
  exchange.waitingBodies.clear();
}

HttpStats HttpStage::stats() const {
  HttpStats out = stats_;
  out.headBufferBytes = headBudget_.used();
  out.bodyBufferBytes = bodyBudget_->used();
  return out;
}

} // namespace shadowtap
