// SPDX-License-Identifier: Apache-2.0
// The HTTP stage between a (simulated) flow table and the real replayer, against a real loopback
// HTTP shadow: excluded requests are never sent, heads are rewritten, the primary's responses are
// timed from packet timestamps, the shadow's by the replay connection, codes are compared — and a
// stream that is not HTTP still goes through byte for byte.
#include "compare/comparison.h"
#include "pipeline/http_stage.h"
#include "replay/replayer.h"
#include "replay_test_support.h"

#include <arpa/inet.h>
#include <cstring>

#include <boost/asio.hpp>
#include <functional>
#include <gtest/gtest.h>

using namespace shadowtap;
using namespace shadowtap::replay;
using namespace shadowtap::test;

namespace {

// A minimal HTTP/1.1 shadow: answers each request (GET, no body) in order. /slow/* after 150 ms,
// /books/<even> with 500, anything else 200. Records the raw bytes it received per connection.
struct ShadowServer {
  asio::io_context &io;
  tcp::acceptor acceptor;
  std::vector<std::string> streams;
  bool http = true; // false: echo nothing, just record
  std::function<std::string(const std::string &path)> bodyFor; // default "ok"

  explicit ShadowServer(asio::io_context &i, bool answers = true)
      : io(i), acceptor(loopbackAcceptor(i)), http(answers) {
    acceptEach(acceptor, [this](tcp::socket socket) {
      streams.emplace_back();
      read(std::make_shared<Conn>(Conn{std::move(socket), asio::steady_timer(io), {}, streams.size() - 1}));
    });
  }
  uint16_t port() const { return acceptor.local_endpoint().port(); }
  struct Conn {
    tcp::socket socket;
    asio::steady_timer timer;
    std::string pending;
    size_t index;
  };
  void read(std::shared_ptr<Conn> c) {
    auto buf = std::make_shared<std::array<char, 4096>>();
    c->socket.async_read_some(asio::buffer(*buf), [this, c, buf](boost::system::error_code ec, size_t n) {
      if (ec) {
        boost::system::error_code ignored;
        c->socket.shutdown(tcp::socket::shutdown_send, ignored);
        return;
      }
      streams[c->index].append(buf->data(), n);
      c->pending.append(buf->data(), n);
      if (http)
        answer(c);
      else
        read(c);
    });
  }
  void answer(std::shared_ptr<Conn> c) {
    auto end = c->pending.find("\r\n\r\n");
    if (end == std::string::npos) {
      read(c);
      return;
    }
    std::string head = c->pending.substr(0, end);
    c->pending.erase(0, end + 4);
    std::string path = head.substr(head.find(' ') + 1);
    path = path.substr(0, path.find(' '));
    int code = 200;
    if (path.rfind("/books/", 0) == 0 && !bodyFor && (std::stoi(path.substr(7)) % 2) == 0)
      code = 500;
    std::string body = bodyFor ? bodyFor(path) : "ok";
    auto respond = [this, c, code, body] {
      auto text = std::make_shared<std::string>(
          "HTTP/1.1 " + std::to_string(code) +
          " X\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
      asio::async_write(c->socket, asio::buffer(*text), [this, c, text](boost::system::error_code, size_t) { answer(c); });
    };
    if (path.rfind("/slow", 0) == 0) {
      c->timer.expires_after(std::chrono::milliseconds(150));
      c->timer.async_wait([respond](boost::system::error_code) { respond(); });
    } else {
      respond();
    }
  }
};

ReplayPlan httpPlan(uint16_t shadowPort, http::HttpRules rules) {
  ReplayPlan plan;
  plan.targets = {loopbackTarget(shadowPort)};
  plan.routes[0].push_back({plan.targets[0].name, 1});
  plan.http[0] = std::make_shared<const http::HttpRules>(std::move(rules));
  return plan;
}

const nlohmann::ordered_json *row(const nlohmann::ordered_json &report, const std::string &target, const std::string &route, unsigned code) {
  for (const auto &r : report["rows"])
    if (r["target"] == target && r["route"] == route && r["code"] == code)
      return &r;
  return nullptr;
}

constexpr uint64_t kMs = 1'000'000;

http::HttpRules privacyRules() {
  http::HttpRules rules;
  rules.exclude.push_back(http::headerExclusion(http::parseHeaderMatch("end-user: bbo", "test")));
  rules.removeHeaders.push_back("Authorization");
  return rules;
}

ReplayOptions drainingFor(int ms) {
  ReplayOptions options;
  options.drainTimeout = std::chrono::milliseconds(ms);
  return options;
}

// One shadow on loopback (answering, or only recording), a replayer toward it and the HTTP stage
// in front of that: what most tests here need.
struct StageRig {
  asio::io_context io;
  ShadowServer shadow;
  ReplayPlan plan;
  Replayer replayer;
  compare::Comparison comparison;
  HttpStage stage;
  StageRig(int drainMs, http::HttpRules rules = {}, bool answers = true)
      : shadow(io, answers), plan(httpPlan(shadow.port(), std::move(rules))), replayer(io, drainingFor(drainMs), plan),
        stage(replayer, comparison, plan) {}
};

} // namespace

TEST(HttpStage, MirrorsByRuleRewritesTimesAndCompares) {
  StageRig rig(2000, privacyRules());
  auto &[io, shadow, plan, replayer, comparison, stage] = rig;

  // Four pipelined requests from one client; the second is excluded.
  std::string r1 = "GET /books/1 HTTP/1.1\r\nHost: books:8080\r\nAuthorization: secret\r\n\r\n";
  std::string r2 = "GET /books/3 HTTP/1.1\r\nHost: books:8080\r\nend-user: bbo\r\n\r\n";
  std::string r3 = "GET /books/4 HTTP/1.1\r\nHost: books:8080\r\n\r\n";
  std::string r4 = "GET /slow/7 HTTP/1.1\r\nHost: books:8080\r\n\r\n";
  auto ok = [](int code) { return "HTTP/1.1 " + std::to_string(code) + " X\r\nContent-Length: 3\r\n\r\nabc"; };

  stage.setPacketTime(100 * kMs);
  stage.onFlowStart(1, {});
  std::string all = r1 + r2 + r3 + r4;
  // Split awkwardly: the framer must not care.
  stage.onClientData(1, bytes(all.substr(0, 10)));
  stage.setPacketTime(101 * kMs);
  stage.onClientData(1, bytes(all.substr(10)));
  stage.setPacketTime(104 * kMs); // primary answers r1 after 3 ms
  stage.onServerData(1, bytes(ok(200)));
  stage.setPacketTime(105 * kMs); // r2 (excluded: not compared)
  stage.onServerData(1, bytes(ok(200)));
  stage.setPacketTime(107 * kMs); // r3: 200 from the primary (the shadow will say 500)
  stage.onServerData(1, bytes(ok(200)));
  stage.setPacketTime(110 * kMs); // r4
  stage.onServerData(1, bytes(ok(200)));
  stage.onClientFin(1);
  stage.onFlowEnd(1, flow::FlowEnd::Completed);
  runFor(io, 1500);

  ASSERT_EQ(shadow.streams.size(), 1u);
  const std::string &got = shadow.streams[0];
  EXPECT_EQ(got.find("bbo"), std::string::npos) << got;
  EXPECT_EQ(got.find("Authorization"), std::string::npos) << got;
  EXPECT_NE(got.find("GET /books/1 HTTP/1.1\r\nHost: books-shadow:8080\r\n\r\n"), std::string::npos) << got;
  EXPECT_NE(got.find("GET /slow/7 HTTP/1.1\r\n"), std::string::npos) << got;

  const auto &s = stage.stats();
  EXPECT_EQ(s.requests, 4u);
  EXPECT_EQ(s.mirrored, 3u);
  EXPECT_EQ(s.excluded, 1u);
  EXPECT_EQ(s.primaryResponses, 3u);
  EXPECT_EQ(s.shadowResponses, 3u);
  EXPECT_EQ(s.shadowNoResponse, 0u);

  auto report = comparison.json();
  std::string shadowName = replayer.target(0).target.name;
  // Primary: from the packet timestamps. r1 ended at 101 ms, answered at 104 ms.
  auto *p1 = row(report, "primary", "GET /books/{id}", 200);
  ASSERT_TRUE(p1) << report.dump(2);
  EXPECT_EQ((*p1)["count"], 2); // r1 and r3
  auto *p4 = row(report, "primary", "GET /slow/{id}", 200);
  ASSERT_TRUE(p4);
  // r4 could start only when r3's response ended (107 ms): 3 ms, not 9 ms.
  EXPECT_NEAR((*p4)["p50_ms"].get<double>(), 3.0, 0.1);
  // Shadow: measured on the replay connection; /slow takes 150 ms there.
  auto *s4 = row(report, shadowName, "GET /slow/{id}", 200);
  ASSERT_TRUE(s4) << report.dump(2);
  EXPECT_GE((*s4)["p50_ms"].get<double>(), 140.0);
  EXPECT_LE((*s4)["p50_ms"].get<double>(), 1000.0);
  EXPECT_TRUE(row(report, shadowName, "GET /books/{id}", 500));
  EXPECT_TRUE(row(report, shadowName, "GET /books/{id}", 200));
  bool sawDisagreement = false;
  for (const auto &d : report["disagreements"])
    if (d["route"] == "GET /books/{id}" && d["target"] == shadowName) {
      EXPECT_EQ(d["compared"], 2);
      EXPECT_EQ(d["different_class"], 1);
      sawDisagreement = true;
    }
  EXPECT_TRUE(sawDisagreement) << report.dump(2);
}

TEST(HttpStage, NotHttpOnAnHttpPortIsReplayedByteForByte) {
  StageRig rig(300, {}, /*answers=*/false);
  auto &[io, shadow, plan, replayer, comparison, stage] = rig;

  std::string stream = "SSH-2.0-OpenSSH_9.2\r\n";
  for (int i = 0; i < 256; i++)
    stream += static_cast<char>(i);
  stage.onFlowStart(1, {});
  for (size_t i = 0; i < stream.size(); i += 7)
    stage.onClientData(1, bytes(stream.substr(i, 7)));
  stage.onClientFin(1);
  stage.onFlowEnd(1, flow::FlowEnd::Completed);
  runFor(io, 800);
  ASSERT_EQ(shadow.streams.size(), 1u);
  EXPECT_EQ(shadow.streams[0], stream);
  EXPECT_EQ(stage.stats().notHttp, 1u);
  EXPECT_EQ(stage.stats().requests, 0u);
}

TEST(HttpStage, ShadowThatNeverAnswersIsCountedAsNoResponse) {
  StageRig rig(200, {}, /*answers=*/false); // reads, never answers
  auto &[io, shadow, plan, replayer, comparison, stage] = rig;
  stage.onFlowStart(1, {});
  stage.onClientData(1, bytes("GET /a HTTP/1.1\r\nHost: a\r\n\r\n"));
  stage.onClientFin(1);
  stage.onServerData(1, bytes("HTTP/1.1 204 No Content\r\n\r\n"));
  stage.onFlowEnd(1, flow::FlowEnd::Completed);
  runFor(io, 800);
  EXPECT_EQ(stage.stats().shadowNoResponse, 1u);
  auto report = comparison.json();
  EXPECT_TRUE(row(report, replayer.target(0).target.name, "GET /a", 0)) << report.dump(2);
  EXPECT_TRUE(row(report, "primary", "GET /a", 204)) << report.dump(2);
}

// Fail closed: an excluded request whose body does not parse stops the connection's mirroring;
// the replay ends cleanly (FIN) after what was sent, and nothing after it reaches the shadow.
TEST(HttpStage, PrivacyStopEndsTheReplayCleanly) {
  StageRig rig(300, privacyRules(), /*answers=*/false);
  auto &[io, shadow, plan, replayer, comparison, stage] = rig;

  std::string ok = "GET /ok HTTP/1.1\r\nHost: books:8080\r\nAuthorization: Bearer SECRET-0\r\n\r\n";
  std::string bad = "POST /mine HTTP/1.1\r\nHost: books:8080\r\nend-user: bbo\r\nAuthorization: Bearer SECRET-1\r\n"
                    "Transfer-Encoding: chunked\r\n\r\nzz\r\n";
  std::string next =
      "GET /next HTTP/1.1\r\nHost: books:8080\r\nend-user: bbo\r\nAuthorization: Bearer SECRET-2\r\n\r\n";
  stage.onFlowStart(1, {});
  stage.onClientData(1, bytes(ok + bad));
  stage.onClientData(1, bytes(next));
  stage.onClientFin(1);
  stage.onFlowEnd(1, flow::FlowEnd::Completed);
  // A second connection that never gets to a request: no replay is even opened.
  stage.onFlowStart(2, {});
  stage.onClientData(2, bytes("\x16\x03\x01 not http, SECRET-3"));
  stage.onClientFin(2);
  stage.onFlowEnd(2, flow::FlowEnd::Completed);
  runFor(io, 1000);

  ASSERT_EQ(shadow.streams.size(), 1u);
  EXPECT_EQ(shadow.streams[0], "GET /ok HTTP/1.1\r\nHost: books-shadow:8080\r\n\r\n");
  EXPECT_EQ(stage.stats().privacyStopped, 2u);
  const auto &t = replayer.target(0).stats;
  EXPECT_EQ(t.completed, 1u) << "ended with a FIN, not a reset";
  EXPECT_EQ(t.aborted, 0u);
  EXPECT_EQ(t.skippedEmpty, 1u);
}

// The primary's request end is the client packet that carried its last byte (ingress), not the
// server ACK that released it to the replay later.
TEST(HttpStage, PrimaryIsTimedFromTheIngressPacket) {
  StageRig rig(300);
  auto &[io, shadow, plan, replayer, comparison, stage] = rig;

  flow::FlowInfo info;
  __u32 client[4] = {0, 0, htonl(0xffff), htonl(0x0a000002)}, server[4] = {0, 0, htonl(0xffff), htonl(0x0a000001)};
  std::memcpy(info.client, client, sizeof client);
  std::memcpy(info.server, server, sizeof server);
  info.clientPort = 40000;
  info.serverPort = 0;
  st_flow_key_make(&info.key.tuple, client, 40000, server, 0);
  auto packet = [&](bool fromClient, uint32_t seq, uint32_t ack, const std::string &payload, bool syn = false) {
    TcpPacket p{};
    std::memcpy(p.src, fromClient ? client : server, sizeof client);
    std::memcpy(p.dst, fromClient ? server : client, sizeof client);
    p.sport = fromClient ? 40000 : 0;
    p.dport = fromClient ? 0 : 40000;
    p.seq = seq;
    p.ack = ack;
    p.syn = syn;
    p.ack_flag = true;
    p.payload = bytes(payload);
    return p;
  };
  std::string request = "GET /books/1 HTTP/1.1\r\nHost: b\r\n\r\n";
  std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  auto synAck = packet(false, 5000, 1001, "", true);
  stage.onPacket(synAck, 10 * kMs);
  stage.onFlowStart(1, info);
  auto data = packet(true, 1001, 5001, request);
  stage.onPacket(data, 100 * kMs); // the request arrives...
  auto ack = packet(false, 5001, 1001 + request.size(), "");
  stage.onPacket(ack, 104 * kMs); // ...the server's ACK releases it 4 ms later...
  stage.onClientData(1, bytes(request));
  auto answer = packet(false, 5001, 1001 + request.size(), response);
  stage.onPacket(answer, 107 * kMs); // ...and it answers 7 ms after the request came.
  stage.onServerData(1, bytes(response));
  stage.onClientFin(1);
  stage.onFlowEnd(1, flow::FlowEnd::Completed);
  runFor(io, 600);
  auto report = comparison.json();
  auto *p = row(report, "primary", "GET /books/{id}", 200);
  ASSERT_TRUE(p) << report.dump(2);
  EXPECT_NEAR((*p)["p50_ms"].get<double>(), 7.0, 0.1);
}

// Bodies: the baseline's differences are noise; the candidate's other differences are counted.
TEST(HttpStage, BodiesAreComparedAgainstTheBaseline) {
  asio::io_context io;
  ShadowServer candidate(io), baseline(io);
  int calls = 0;
  // Every answer carries its own nonce; the candidate flips "price" for /books/2.
  auto jsonFor = [&calls](bool flip) {
    return [&calls, flip](const std::string &path) {
      bool odd = path.back() == '1';
      return std::string("{\"path\":\"") + path + "\",\"nonce\":" + std::to_string(++calls) +
             ",\"price\":" + (flip && !odd ? "11" : "10") + "}";
    };
  };
  candidate.bodyFor = jsonFor(true);
  baseline.bodyFor = jsonFor(false);
  std::vector<ShadowTarget> t{loopbackTarget(candidate.port()), loopbackTarget(baseline.port())};
  ReplayPlan plan;
  plan.targets = t;
  plan.routes[0] = {{t[0].name, 1}, {t[1].name, 1}};
  plan.http[0] = std::make_shared<const http::HttpRules>();
  auto settings = std::make_shared<compare::BodyCompareSettings>();
  settings->baseline = t[1].name;
  plan.bodies[0] = settings;
  Replayer replayer(io, drainingFor(500), plan);
  compare::Comparison comparison;
  HttpStage stage(replayer, comparison, plan);

  for (int id : {1, 2, 1, 2}) {
    std::string path = "/books/" + std::to_string(id);
    std::string primaryBody = "{\"path\":\"" + path + "\",\"nonce\":" + std::to_string(1000 + id) + ",\"price\":10}";
    flow::FlowId flow = static_cast<flow::FlowId>(10 + calls);
    stage.onFlowStart(flow, {});
    stage.onClientData(flow, bytes("GET " + path + " HTTP/1.1\r\nHost: b\r\n\r\n"));
    stage.onServerData(flow, bytes("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                                   std::to_string(primaryBody.size()) + "\r\n\r\n" + primaryBody));
    stage.onClientFin(flow);
    stage.onFlowEnd(flow, flow::FlowEnd::Completed);
    runFor(io, 300);
  }
  runFor(io, 500);
  auto report = comparison.json();
  const nlohmann::ordered_json *cand = nullptr, *base = nullptr;
  for (const auto &b : report["body_diffs"]) {
    if (b["target"] == t[0].name)
      cand = &b;
    if (b["target"] == t[1].name)
      base = &b;
  }
  ASSERT_TRUE(cand && base) << report.dump(2);
  EXPECT_EQ((*cand)["compared"], 4);
  EXPECT_EQ((*cand)["different"], 2);
  EXPECT_EQ((*cand)["paths"].dump(), R"({"$.price":2})");
  EXPECT_EQ((*base)["role"], "baseline");
  EXPECT_EQ((*base)["paths"].dump(), R"({"$.nonce":4})");
  EXPECT_EQ(stage.stats().bodyBufferBytes, 0u) << "every digest is given back once judged";
}
