// SPDX-License-Identifier: Apache-2.0
// Pooled HTTP replay (--http-pool, replay/request_pool.h) against a real loopback shadow: the
// requests of many one-request client connections reach it over one kept-alive connection, each
// answered and paired; past the pool's size requests are pipelined, past that shed and counted;
// a request cut short never reaches the shadow as if whole. Every counter adds up.
#include "replay/replayer.h"

#include "common/clock.h"
#include "http/request_rules.h"
#include "replay_test_support.h"

#include <boost/asio/write.hpp>
#include <gtest/gtest.h>
#include <map>

using namespace shadowtap;
using namespace shadowtap::replay;
using namespace shadowtap::test;

namespace {

// An HTTP shadow: answers every request (a head ending in a blank line, then Content-Length
// bytes of body if it says so) with `reply`, or never answers; records the requests (the head,
// the body's size) and how many connections carried them.
struct HttpShadow {
  tcp::acceptor acceptor;
  bool answer = true;
  std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  size_t connections = 0;
  std::vector<std::string> requests;
  std::vector<size_t> bodies;
  std::vector<std::shared_ptr<tcp::socket>> sockets;

  explicit HttpShadow(asio::io_context &io) : acceptor(loopbackAcceptor(io)) {
    acceptEach(acceptor, [this](tcp::socket socket) {
      connections++;
      auto s = std::make_shared<tcp::socket>(std::move(socket));
      sockets.push_back(s);
      read(s, std::make_shared<std::string>());
    });
  }
  uint16_t port() const { return acceptor.local_endpoint().port(); }
  void read(std::shared_ptr<tcp::socket> s, std::shared_ptr<std::string> pending) {
    auto buf = std::make_shared<std::array<char, 4096>>();
    s->async_read_some(asio::buffer(*buf), [this, s, buf, pending](boost::system::error_code ec, size_t n) {
      if (ec)
        return;
      pending->append(buf->data(), n);
      for (size_t end; (end = pending->find("\r\n\r\n")) != std::string::npos;) {
        std::string head = pending->substr(0, end + 4);
        size_t length = 0, field = head.find("Content-Length: ");
        if (field != std::string::npos)
          length = std::stoul(head.substr(field + 16));
        if (pending->size() < end + 4 + length)
          break; // the body is still coming
        requests.push_back(head);
        bodies.push_back(length);
        pending->erase(0, end + 4 + length);
        if (answer)
          asio::write(*s, asio::buffer(reply));
      }
      read(s, pending);
    });
  }
};

struct Answers : ExchangeObserver {
  std::map<unsigned, size_t> byCode; // 0: no response
  void onShadowResponse(Exchange &, const ShadowResponse &response) override { byCode[response.code]++; }
  void onShadowUnpaired() override { unpaired++; }
  void onComparisonsAbandoned(size_t) override {}
  size_t unpaired = 0;
};

ReplayPlan pooledPlan(uint16_t port) {
  ReplayPlan plan;
  plan.targets = {loopbackTarget(port)};
  plan.routes[0].push_back({plan.targets[0].name, 1});
  auto rules = std::make_shared<http::HttpRules>();
  rules->pooled = true;
  plan.http[0] = rules;
  return plan;
}

ExchangePtr exchange() {
  auto e = std::make_shared<Exchange>();
  e->method = "GET";
  return e;
}

// One client connection carrying one request, as a `Connection: close` client sends it.
void oneRequestFlow(Replayer &replayer, flow::FlowId id, const std::string &request) {
  replayer.onFlowStart(id, {});
  replayer.beginRequest(id, 0);
  replayer.onClientData(id, bytes(request));
  replayer.endRequest(id, exchange());
  replayer.onClientFin(id);
  replayer.onFlowEnd(id, flow::FlowEnd::Completed);
}

void expectAccounted(const TargetStats &s, uint64_t flows) {
  EXPECT_EQ(s.routed, flows + s.poolOpened);
  EXPECT_EQ(s.routed, s.opened + s.shedBackoff + s.shedLimit + s.skippedEmpty + s.pending + s.queued + s.pooled);
  EXPECT_EQ(s.opened,
            s.completed + s.unconfirmed + s.aborted + s.shedBacklog + s.shedStalled + s.shedNoSocket +
                s.connectFailed + s.writeFailed + s.active);
}

ReplayOptions paced(int ms, size_t poolSize = ReplayOptions{}.poolConnectionsPerTarget) {
  ReplayOptions options;
  options.paceDelay = std::chrono::milliseconds(ms);
  options.poolConnectionsPerTarget = poolSize;
  return options;
}

} // namespace

// One test's loop, HTTP shadow and the shadow's answers as observed; start() makes the pooled
// replayer.
class RequestPoolTest : public ::testing::Test {
protected:
  Replayer &start(ReplayOptions options) {
    replayer_ = std::make_unique<Replayer>(io, std::move(options), pooledPlan(shadow.port()));
    replayer_->setObserver(&answers);
    return *replayer_;
  }
  asio::io_context io;
  HttpShadow shadow{io};
  Answers answers;

private:
  std::unique_ptr<Replayer> replayer_;
};

TEST_F(RequestPoolTest, OneRequestConnectionsShareOneKeptAliveConnection) {
  Replayer &replayer = start(paced(0));

  for (flow::FlowId id = 1; id <= 20; id++) {
    oneRequestFlow(replayer, id, "GET /books/" + std::to_string(id) + " HTTP/1.1\r\nHost: books\r\n\r\n");
    runFor(io, 20); // answered before the next one comes: the pool's connection is idle again
  }
  EXPECT_EQ(shadow.connections, 1u);
  ASSERT_EQ(shadow.requests.size(), 20u);
  EXPECT_EQ(shadow.requests[19], "GET /books/20 HTTP/1.1\r\nHost: books\r\n\r\n");
  EXPECT_EQ(answers.byCode[200], 20u);
  const TargetStats &s = replayer.target(0).stats;
  EXPECT_EQ(s.pooled, 20u);
  EXPECT_EQ(s.poolOpened, 1u);
  EXPECT_EQ(s.poolRequests, 20u);
  EXPECT_EQ(s.poolShed, 0u);
  EXPECT_EQ(s.active, 1u) << "kept open for the next request";
  expectAccounted(s, 20);

  replayer.abortAll();
  EXPECT_EQ(s.active, 0u);
  expectAccounted(s, 20);
}

// The requests that come in one turn gather on one open connection, up to kMaxPipelined, and
// leave in one send, rather than one per idle connection (or a new one each): the next one past
// that takes another connection.
TEST_F(RequestPoolTest, OneTurnsRequestsGatherOnOneConnection) {
  Replayer &replayer = start(paced(0));
  oneRequestFlow(replayer, 1, "GET /first HTTP/1.1\r\n\r\n");
  runFor(io, 50); // connected and answered: idle, the pool's only connection

  const flow::FlowId burst = RequestPool::kMaxPipelined;
  for (flow::FlowId id = 2; id <= 1 + burst; id++)
    oneRequestFlow(replayer, id, "GET /burst HTTP/1.1\r\n\r\n");
  runFor(io, 50);
  EXPECT_EQ(shadow.connections, 1u) << "one turn's " << burst << " requests on the open connection";
  EXPECT_EQ(answers.byCode[200], 1 + burst);

  for (flow::FlowId id = 2 + burst; id <= 2 + 2 * burst; id++) // one more than the connection takes
    oneRequestFlow(replayer, id, "GET /burst HTTP/1.1\r\n\r\n");
  runFor(io, 50);
  EXPECT_EQ(shadow.connections, 2u) << "the one past kMaxPipelined goes elsewhere";
  EXPECT_EQ(answers.byCode[200], 2 + 2 * burst);
  const TargetStats &s = replayer.target(0).stats;
  EXPECT_EQ(s.poolShed, 0u);
  expectAccounted(s, 2 + 2 * burst);
  replayer.abortAll();
}

// A shadow that does not answer: requests are pipelined on the pool's connections, 8 at most
// each, and past that shed and counted, never queued without bound.
TEST_F(RequestPoolTest, PastThePoolRequestsArePipelinedThenShed) {
  Replayer &replayer = start(paced(0, 2));
  shadow.answer = false;

  const size_t flows = 2 * RequestPool::kMaxPipelined + 3;
  for (flow::FlowId id = 1; id <= flows; id++)
    oneRequestFlow(replayer, id, "GET /slow HTTP/1.1\r\n\r\n");
  runFor(io, 100);
  const TargetStats &s = replayer.target(0).stats;
  EXPECT_EQ(shadow.connections, 2u);
  EXPECT_EQ(shadow.requests.size(), 2 * RequestPool::kMaxPipelined);
  EXPECT_EQ(s.poolRequests, 2 * RequestPool::kMaxPipelined);
  EXPECT_EQ(s.poolShed, 3u);
  expectAccounted(s, flows);

  replayer.abortAll(); // the waiting requests are answered "no response", not dropped
  EXPECT_EQ(answers.byCode[0], 2 * RequestPool::kMaxPipelined);
  expectAccounted(s, flows);
}

// Pacing holds each request until its ingress time plus paceDelay: requests held are not
// pipelined (by their time the ones before them are answered), so a burst of them is not shed.
TEST_F(RequestPoolTest, RequestsHeldByPacingAreNotCountedPipelined) {
  Replayer &replayer = start(paced(200, 1));

  const size_t flows = 4 * RequestPool::kMaxPipelined;
  uint64_t ingress = realtimeNs();
  for (flow::FlowId id = 1; id <= flows; id++) {
    replayer.onFlowStart(id, {});
    replayer.beginRequest(id, ingress + id * 1'000'000); // 1 ms apart, all due 200 ms from now
    replayer.onClientData(id, bytes("GET /paced HTTP/1.1\r\n\r\n"));
    replayer.endRequest(id, exchange());
    replayer.onFlowEnd(id, flow::FlowEnd::Completed);
  }
  const TargetStats &s = replayer.target(0).stats;
  EXPECT_EQ(s.poolShed, 0u);
  runFor(io, 100);
  EXPECT_TRUE(shadow.requests.empty()) << "held until their time";
  runFor(io, 400);
  EXPECT_EQ(shadow.connections, 1u);
  EXPECT_EQ(shadow.requests.size(), flows);
  EXPECT_EQ(answers.byCode[200], flows);
  expectAccounted(s, flows);
  replayer.abortAll();
}

// A client that resets inside its request: the pool connection that carried its first bytes is
// reset (the shadow never takes a truncated request for a whole one) and leaves the pool; the
// next request opens another. Bytes outside any request are counted, not sent.
TEST_F(RequestPoolTest, ARequestCutShortResetsItsConnection) {
  Replayer &replayer = start(paced(0));

  shadow.answer = false; // it would answer the head before the body came
  replayer.onFlowStart(1, {});
  replayer.onClientData(1, bytes("before any request"));
  EXPECT_EQ(replayer.stats().unpooledBytes, 18u);
  replayer.beginRequest(1, 0);
  replayer.onClientData(1, bytes("POST /upload HTTP/1.1\r\nContent-Length: 100\r\n\r\nfirst part"));
  runFor(io, 50);
  replayer.onFlowEnd(1, flow::FlowEnd::Reset);
  runFor(io, 50);
  const TargetStats &s = replayer.target(0).stats;
  EXPECT_EQ(s.aborted, 1u);
  EXPECT_EQ(answers.byCode[0], 0u) << "its request never ended: nothing to answer";

  shadow.answer = true;
  oneRequestFlow(replayer, 2, "GET /next HTTP/1.1\r\n\r\n");
  runFor(io, 50);
  EXPECT_EQ(s.poolOpened, 2u);
  EXPECT_EQ(shadow.connections, 2u);
  EXPECT_EQ(answers.byCode[200], 1u);
  expectAccounted(s, 2);
  replayer.abortAll();
}

// A shadow that answers `Connection: close`, or switches protocols (101), will not take another
// request on that connection: it leaves the pool once answered, and the next request opens
// another. Every answer is paired and counted.
TEST_F(RequestPoolTest, AConnectionTheShadowEndsLeavesThePool) {
  const std::pair<std::string, unsigned> replies[] = {
      {"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", 200},
      {"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 101}};
  for (const auto &[reply, code] : replies) {
    SCOPED_TRACE(reply);
    asio::io_context io;
    HttpShadow shadow{io};
    shadow.reply = reply;
    Answers answers;
    Replayer replayer(io, paced(0), pooledPlan(shadow.port()));
    replayer.setObserver(&answers);
    for (flow::FlowId id = 1; id <= 3; id++) {
      oneRequestFlow(replayer, id, "GET /chat HTTP/1.1\r\nHost: books\r\n\r\n");
      runFor(io, 50); // answered before the next one comes
    }
    const TargetStats &s = replayer.target(0).stats;
    EXPECT_EQ(shadow.requests.size(), 3u);
    EXPECT_EQ(shadow.connections, 3u) << "one connection per answer that ends it";
    EXPECT_EQ(s.poolOpened, 3u);
    EXPECT_EQ(answers.byCode[code], 3u);
    expectAccounted(s, 3);
    replayer.abortAll();
    expectAccounted(s, 3);
  }
}

// An upload over the pool: a 4 MiB body that comes over many turns, in capture-sized pieces,
// reaches the shadow whole on one connection (no other request's bytes in between: the
// connection is leased until the request ends), and that connection then carries the next
// request.
TEST_F(RequestPoolTest, AnUploadReachesTheShadowWholeAndTheConnectionIsReused) {
  Replayer &replayer = start(paced(0));
  const size_t body = 4 << 20, piece = 64000;

  replayer.onFlowStart(1, {});
  replayer.beginRequest(1, 0);
  replayer.onClientData(1, bytes("POST /upload HTTP/1.1\r\nContent-Length: " + std::to_string(body) + "\r\n\r\n"));
  oneRequestFlow(replayer, 2, "GET /during HTTP/1.1\r\n\r\n"); // meanwhile: another connection
  std::string chunk(piece, 'u');
  for (size_t sent = 0; sent < body; sent += piece) {
    io.poll(); // a turn of the loop between pieces, as between capture blocks
    replayer.onClientData(1, bytes(chunk.substr(0, std::min(piece, body - sent))));
  }
  replayer.endRequest(1, exchange()); // in the turn its last bytes came (as the HTTP stage does)
  replayer.onClientFin(1);
  replayer.onFlowEnd(1, flow::FlowEnd::Completed);
  runFor(io, 500);
  oneRequestFlow(replayer, 3, "GET /after HTTP/1.1\r\n\r\n");
  runFor(io, 50);

  const TargetStats &s = replayer.target(0).stats;
  ASSERT_EQ(shadow.requests.size(), 3u);
  EXPECT_EQ(shadow.bodies[0] + shadow.bodies[1] + shadow.bodies[2], body) << "the body whole, once";
  EXPECT_EQ(shadow.connections, 2u) << "the upload's, and the one the request during it took";
  EXPECT_EQ(answers.byCode[200], 3u);
  EXPECT_EQ(answers.unpaired, 0u);
  EXPECT_EQ(s.shedBacklog, 0u);
  expectAccounted(s, 3);
  replayer.abortAll();
}
