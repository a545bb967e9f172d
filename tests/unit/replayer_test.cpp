// SPDX-License-Identifier: Apache-2.0
// The replayer against real loopback sockets: bytes arrive exactly, copies are distinct
// connections, a down shadow is counted and backed off, a stalled shadow is shed — and every
// replay connection ends in exactly one counted outcome.
#include "replay/replayer.h"

#include "common/clock.h"
#include "http/request_rules.h"
#include "replay_test_support.h"

#include <boost/asio.hpp>
#include <gtest/gtest.h>
#include <fstream>
#include <set>
#include <sstream>

using namespace shadowtap;
using namespace shadowtap::replay;
using namespace shadowtap::test;

namespace {

// Accepts connections and records each one's bytes and peer port, optionally never reading.
struct Recorder {
  tcp::acceptor acceptor;
  bool read = true;
  std::vector<std::string> streams;
  std::set<uint16_t> peerPorts;
  size_t closed = 0;
  size_t mostOpen = 0; // connections open at once, at most (accepted and not read to their end)

  explicit Recorder(asio::io_context &io) : acceptor(loopbackAcceptor(io)) {
    acceptEach(acceptor, [this](tcp::socket socket) {
      boost::system::error_code peerEc; // reset before it was accepted: no peer any more
      if (auto peer = socket.remote_endpoint(peerEc); !peerEc)
        peerPorts.insert(peer.port());
      streams.emplace_back();
      mostOpen = std::max(mostOpen, streams.size() - closed);
      auto s = std::make_shared<tcp::socket>(std::move(socket));
      if (read)
        readFrom(s, streams.size() - 1);
      else
        idle_.push_back(s);
    });
  }
  uint16_t port() const { return acceptor.local_endpoint().port(); }
  void readFrom(std::shared_ptr<tcp::socket> s, size_t index) {
    auto buf = std::make_shared<std::array<char, 65536>>();
    s->async_read_some(asio::buffer(*buf), [this, s, buf, index](boost::system::error_code ec, size_t n) {
      if (ec) {
        closed++;
        return;
      }
      streams[index].append(buf->data(), n);
      readFrom(s, index);
    });
  }
  std::vector<std::shared_ptr<tcp::socket>> idle_;
};

// Every flow in these tests has server port 0 (a default FlowInfo): route port 0 to the targets.
ReplayPlan planFor(std::vector<ShadowTarget> targets, unsigned copies = 1) {
  ReplayPlan plan;
  for (const auto &t : targets)
    plan.routes[0].push_back({t.name, copies});
  plan.targets = std::move(targets);
  return plan;
}

void expectAccounted(const TargetStats &s) {
  EXPECT_EQ(s.opened,
            s.completed + s.aborted + s.shedBacklog + s.shedStalled + s.connectFailed + s.writeFailed + s.active);
}

} // namespace

TEST(Replayer, ReplaysEachFlowToEveryTargetAndCopy) {
  asio::io_context io;
  Recorder a(io), b(io);
  ReplayOptions options;
  options.drainTimeout = std::chrono::milliseconds(200);
  Replayer replayer(io, options, planFor({loopbackTarget(a.port()), loopbackTarget(b.port())}, 3));

  std::string request = "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
  for (flow::FlowId id = 1; id <= 4; id++) {
    replayer.onFlowStart(id, {});
    replayer.onClientData(id, bytes(request));
    replayer.onClientData(id, bytes(std::to_string(id)));
    replayer.onClientFin(id);
    replayer.onFlowEnd(id, flow::FlowEnd::Completed);
  }
  runFor(io, 1000);
  for (auto *r : {&a, &b}) {
    ASSERT_EQ(r->streams.size(), 12u); // 4 flows x 3 copies
    EXPECT_EQ(r->peerPorts.size(), 12u); // each copy its own source port
    std::multiset<std::string> got(r->streams.begin(), r->streams.end());
    for (int id = 1; id <= 4; id++)
      EXPECT_EQ(got.count(request + std::to_string(id)), 3u);
    EXPECT_EQ(r->closed, 12u); // half-closed after the client's FIN
  }
  for (const auto &target : replayer.targets()) {
    const auto &s = target.stats;
    EXPECT_EQ(s.opened, 12u);
    EXPECT_EQ(s.completed, 12u);
    EXPECT_EQ(s.bytesOut, 4u * 3u * (request.size() + 1));
    expectAccounted(s);
  }
}

// TCP connections on this host in TIME_WAIT from local port `from` to remote port `to`
// (/proc/net/tcp, IPv4). Both ports: the kernel hands a new connect() an ephemeral port that an
// earlier test's replay still holds in TIME_WAIT toward another listener (the 4-tuples differ), so
// the local port alone matched a stranger in about 1 run of 30.
size_t timeWaitsBetween(uint16_t from, uint16_t to) {
  auto portOf = [](const std::string &endpoint) {
    return std::stoul(endpoint.substr(endpoint.find(':') + 1), nullptr, 16);
  };
  std::ifstream table("/proc/net/tcp");
  std::string line;
  std::getline(table, line); // header
  size_t found = 0;
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    if (state == "06" && portOf(local) == from && portOf(remote) == to)
      found++;
  }
  return found;
}

// The primary's server closed first (nginx after Connection: close), but the client's FIN reaches
// the agent before the slower shadow has answered: the shadow gets the chance to close first too
// (ReplayOptions::closeGrace), so the 60 s TIME_WAIT stays on its side, as it did on the primary's,
// not on the agent's where it would slow every later connect() to that shadow. The replay is still
// completed, whole. (A client that closed first is replayed closing first: the other tests.)
TEST(Replayer, ShadowThatClosesAfterAnsweringKeepsTheTimeWait) {
  asio::io_context io;
  auto acceptor = loopbackAcceptor(io);
  const std::string request = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
  std::string got;
  uint16_t replayPort = 0;
  bool closedFirst = false, eofBeforeItsClose = false, eofAfter = false;
  tcp::socket server(io);
  asio::steady_timer answerLater(io);
  std::array<char, 4096> buf{};
  std::function<void()> readRequest = [&] {
    server.async_read_some(asio::buffer(buf), [&](boost::system::error_code ec, size_t n) {
      if (ec) { // the agent's FIN
        (closedFirst ? eofAfter : eofBeforeItsClose) = true;
        return;
      }
      got.append(buf.data(), n);
      if (got.size() == request.size()) {
        // Answer and close 50 ms later: long after the agent saw the client's FIN.
        answerLater.expires_after(std::chrono::milliseconds(50));
        answerLater.async_wait([&](boost::system::error_code) {
          if (eofBeforeItsClose)
            return;
          asio::write(server, asio::buffer(std::string("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")));
          server.shutdown(tcp::socket::shutdown_send);
          closedFirst = true;
        });
      }
      readRequest();
    });
  };
  acceptor.async_accept(server, [&](boost::system::error_code ec) {
    ASSERT_FALSE(ec);
    replayPort = server.remote_endpoint().port();
    readRequest();
  });
  ReplayOptions options;
  // Far above the shadow's 50 ms: a loaded CI machine (sanitizers) must not make the wait run out.
  // The shadow's FIN ends it early, so the test takes no longer.
  options.closeGrace = std::chrono::milliseconds(2000);
  Replayer replayer(io, options, planFor({loopbackTarget(acceptor.local_endpoint().port())}));
  replayer.onFlowStart(1, {});
  replayer.onClientData(1, bytes(request));
  replayer.onServerClosedFirst(1); // the primary's server closed first (its FIN before the client's)
  replayer.onClientFin(1);
  replayer.onFlowEnd(1, flow::FlowEnd::Completed);
  runFor(io, 600);
  EXPECT_EQ(got, request);
  EXPECT_FALSE(eofBeforeItsClose) << "the agent's FIN came before the shadow could close first";
  EXPECT_TRUE(eofAfter); // ...and after the shadow's, it did come
  const auto &s = replayer.target(0).stats;
  EXPECT_EQ(s.completed, 1u);
  expectAccounted(s);
  ASSERT_NE(replayPort, 0);
  EXPECT_EQ(timeWaitsBetween(replayPort, acceptor.local_endpoint().port()), 0u) << "the agent's side of the replay is in TIME_WAIT";
}

TEST(Replayer, ResetOrBrokenFlowsAbortTheirReplays) {
  asio::io_context io;
  Recorder r(io);
  ReplayOptions options;
  Replayer replayer(io, options, planFor({loopbackTarget(r.port())}));
  replayer.onFlowStart(1, {});
  replayer.onClientData(1, bytes("partial"));
  replayer.onFlowStart(2, {});
  replayer.onClientData(2, bytes("x"));
  runFor(io, 200);
  replayer.onFlowEnd(1, flow::FlowEnd::Reset);
  replayer.onFlowEnd(2, flow::FlowEnd::Broken);
  runFor(io, 300);
  const auto &s = replayer.target(0).stats;
  EXPECT_EQ(s.aborted, 2u);
  EXPECT_EQ(s.active, 0u);
  expectAccounted(s);
}

// A SYN flood: connections that never send a byte never cost a socket or reach a shadow. One
// that closes without a byte is still replayed, as a connect and a FIN.
TEST(Replayer, HalfOpenFlowsNeverReachTheShadow) {
  asio::io_context io;
  Recorder r(io);
  ReplayOptions options;
  options.drainTimeout = std::chrono::milliseconds(100);
  Replayer replayer(io, options, planFor({loopbackTarget(r.port())}, 2));
  for (flow::FlowId id = 1; id <= 100; id++)
    replayer.onFlowStart(id, {});
  runFor(io, 100);
  for (flow::FlowId id = 1; id <= 100; id++)
    replayer.onFlowEnd(id, id % 2 ? flow::FlowEnd::Evicted : flow::FlowEnd::Reset);
  replayer.onFlowStart(101, {});
  replayer.onClientFin(101);
  replayer.onFlowEnd(101, flow::FlowEnd::Completed);
  runFor(io, 300);
  const auto &s = replayer.target(0).stats;
  EXPECT_EQ(s.skippedEmpty, 200u); // 100 flows x 2 copies
  EXPECT_EQ(s.opened, 2u);         // flow 101's two copies
  EXPECT_EQ(s.completed, 2u);
  EXPECT_EQ(r.streams, std::vector<std::string>(2, ""));
  EXPECT_EQ(r.closed, 2u);
  expectAccounted(s);
}

TEST(Replayer, DownShadowIsCountedAndBackedOff) {
  asio::io_context io;
  uint16_t closedPort = refusedLoopbackPort(io);
  ReplayOptions options;
  Replayer replayer(io, options, planFor({loopbackTarget(closedPort)}));
  replayer.onFlowStart(1, {});
  replayer.onClientData(1, bytes("x"));
  runFor(io, 200);
  for (flow::FlowId id = 2; id <= 20; id++) { // within the back-off: not even attempted
    replayer.onFlowStart(id, {});
    replayer.onClientData(id, bytes("x"));
  }
  runFor(io, 100);
  const auto &s = replayer.target(0).stats;
  EXPECT_EQ(s.connectFailed, 1u);
  EXPECT_EQ(s.shedBackoff, 19u);
  EXPECT_EQ(s.active, 0u);
  expectAccounted(s);
  for (flow::FlowId id = 1; id <= 20; id++)
    replayer.onFlowEnd(id, flow::FlowEnd::Completed);
}

TEST(Replayer, ARefusedAddressFallsThroughToTheTargetsNext) {
  asio::io_context io;
  uint16_t closedPort = refusedLoopbackPort(io);
  Recorder shadow(io);
  ShadowTarget target = loopbackTarget(closedPort);
  target.endpoints.push_back(loopbackTarget(shadow.port()).endpoints.at(0)); // a name with two addresses
  ReplayOptions options;
  Replayer replayer(io, options, planFor({target}));
  replayer.onFlowStart(1, {});
  replayer.onClientData(1, bytes("first write"));
  runFor(io, 100);
  replayer.onClientData(1, bytes(std::string(3000, 'b'))); // more than one segment, after the first
  replayer.onClientFin(1);
  replayer.onFlowEnd(1, flow::FlowEnd::Completed);
  runFor(io, 300);
  ASSERT_EQ(shadow.streams.size(), 1u);
  EXPECT_EQ(shadow.streams[0], "first write" + std::string(3000, 'b'));
  const auto &s = replayer.target(0).stats;
  EXPECT_EQ(s.connectFailed, 0u);
  EXPECT_EQ(s.completed, 1u);
  EXPECT_EQ(s.shedBackoff, 0u);
  expectAccounted(s);
}

TEST(Replayer, StalledShadowIsShedPastTheBacklog) {
  asio::io_context io;
  Recorder r(io);
  r.read = false; // accepts, never reads: the kernel buffers fill, then our backlog
  ReplayOptions options;
  options.maxBacklogPerConnection = 1u << 20;
  Replayer replayer(io, options, planFor({loopbackTarget(r.port())}));
  replayer.onFlowStart(1, {});
  runFor(io, 200);
  std::string chunk(64 * 1024, 'x');
  for (int i = 0; i < 200 && replayer.target(0).stats.shedBacklog == 0; i++) { // up to 12.5 MiB
    replayer.onClientData(1, bytes(chunk));
    runFor(io, 5);
  }
  const auto &s = replayer.target(0).stats;
  EXPECT_EQ(s.shedBacklog, 1u);
  EXPECT_EQ(s.active, 0u);
  EXPECT_LE(replayer.backlogBytes(), options.maxBacklogPerConnection);
  expectAccounted(s);
  replayer.onFlowEnd(1, flow::FlowEnd::Completed);
  runFor(io, 50);
  EXPECT_EQ(replayer.backlogBytes(), 0u);
}

TEST(Replayer, RoutesByServicePortAndTakesANewPlanLive) {
  asio::io_context io;
  Recorder a(io), b(io);
  ReplayOptions options;
  options.drainTimeout = std::chrono::milliseconds(100);
  ReplayPlan plan;
  plan.targets = {loopbackTarget(a.port())};
  plan.routes[80] = {{plan.targets[0].name, 1}};
  Replayer replayer(io, options, plan);
  flow::FlowInfo web{}, other{};
  web.serverPort = 80;
  other.serverPort = 443; // mirrored, but no shadow configured: not replayed
  auto replay = [&](flow::FlowId id, const flow::FlowInfo &info) {
    replayer.onFlowStart(id, info);
    replayer.onClientData(id, bytes("x"));
    replayer.onClientFin(id);
    replayer.onFlowEnd(id, flow::FlowEnd::Completed);
  };
  replay(1, web);
  replay(2, other);
  runFor(io, 300);
  EXPECT_EQ(a.streams.size(), 1u);

  ReplayPlan next; // reload: port 80 now also goes to b, port 443 to b twice
  next.targets = {loopbackTarget(b.port()), loopbackTarget(a.port())};
  next.routes[80] = {{next.targets[1].name, 1}, {next.targets[0].name, 1}};
  next.routes[443] = {{next.targets[0].name, 2}};
  replayer.setPlan(next);
  ASSERT_EQ(replayer.targets().size(), 2u);
  EXPECT_EQ(replayer.target(0).target.port, a.port()); // a kept its index and counters
  replay(3, web);
  replay(4, other);
  runFor(io, 300);
  EXPECT_EQ(a.streams.size(), 2u);
  EXPECT_EQ(b.streams.size(), 3u);
  EXPECT_EQ(replayer.target(0).stats.opened, 2u);
  EXPECT_EQ(replayer.target(1).stats.opened, 3u);
}

TEST(Replayer, ShadowThatStopsReadingIsShedAfterTheStallTimeout) {
  asio::io_context io;
  Recorder r(io);
  r.read = false;
  ReplayOptions options;
  options.stallTimeout = std::chrono::milliseconds(300);
  Replayer replayer(io, options, planFor({loopbackTarget(r.port())}));
  replayer.onFlowStart(1, {});
  std::string chunk(1 << 20, 'x'); // 8 MiB: well under the backlog limit, far over socket buffers
  for (int i = 0; i < 8; i++)
    replayer.onClientData(1, bytes(chunk));
  replayer.onClientFin(1);
  replayer.onFlowEnd(1, flow::FlowEnd::Completed); // the replay outlives its flow...
  runFor(io, 1500);
  const auto &s = replayer.target(0).stats;
  EXPECT_EQ(s.shedStalled, 1u); // ...but not a shadow that never reads
  EXPECT_EQ(s.active, 0u);
  EXPECT_EQ(replayer.backlogBytes(), 0u); // every buffered byte released
  expectAccounted(s);
}

// HTTP pacing: a request reaches the shadow no earlier than its ingress time plus paceDelay, and
// one whose time has passed (a replay running late) is not held at all.
TEST(Replayer, HttpRequestsArePacedFromTheirIngressTime) {
  asio::io_context io;
  Recorder a(io);
  ReplayOptions options;
  options.drainTimeout = std::chrono::milliseconds(200);
  options.paceDelay = std::chrono::milliseconds(300);
  ReplayPlan plan = planFor({loopbackTarget(a.port())});
  plan.http[0] = std::make_shared<const http::HttpRules>();
  Replayer replayer(io, options, plan);

  std::string first = "GET /now HTTP/1.1\r\n\r\n", second = "GET /later HTTP/1.1\r\n\r\n";
  uint64_t now = realtimeNs();
  replayer.onFlowStart(1, {});
  replayer.beginRequest(1, now - 1'000'000'000ull); // ingress 1 s ago: already due
  replayer.onClientData(1, bytes(first));
  replayer.beginRequest(1, now); // due in 300 ms
  replayer.onClientData(1, bytes(second));
  runFor(io, 150);
  ASSERT_EQ(a.streams.size(), 1u);
  EXPECT_EQ(a.streams[0], first); // the late one went at once, the paced one waits
  runFor(io, 350);
  EXPECT_EQ(a.streams[0], first + second);
  EXPECT_GE(realtimeNs() - now, 300'000'000ull);

  options.paceDelay = std::chrono::milliseconds(0); // off: nothing is held
  Replayer unpaced(io, options, plan);
  unpaced.onFlowStart(2, {});
  unpaced.beginRequest(2, realtimeNs());
  unpaced.onClientData(2, bytes(second));
  runFor(io, 100);
  ASSERT_EQ(a.streams.size(), 2u);
  EXPECT_EQ(a.streams[1], second);
}

// The copies of one connection are paced paceSpread apart in target order: the first target's at
// ingress + paceDelay, the second's paceSpread later (shadows sharing a host never take the same
// request at the same instant).
TEST(Replayer, HttpCopiesArePacedApartInTargetOrder) {
  asio::io_context io;
  Recorder a(io), b(io);
  ReplayOptions options;
  options.drainTimeout = std::chrono::milliseconds(200);
  options.paceDelay = std::chrono::milliseconds(100);
  options.paceSpread = std::chrono::milliseconds(300);
  ReplayPlan plan = planFor({loopbackTarget(a.port()), loopbackTarget(b.port())});
  plan.http[0] = std::make_shared<const http::HttpRules>();
  Replayer replayer(io, options, plan);

  std::string request = "GET /paced HTTP/1.1\r\n\r\n";
  uint64_t now = realtimeNs();
  replayer.onFlowStart(1, {});
  replayer.beginRequest(1, now);
  replayer.onClientData(1, bytes(request));
  runFor(io, 250); // past the first copy's 100 ms, before the second's 400 ms
  ASSERT_EQ(a.streams.size(), 1u);
  EXPECT_EQ(a.streams[0], request);
  EXPECT_TRUE(b.streams.empty() || b.streams[0].empty());
  runFor(io, 300);
  ASSERT_EQ(b.streams.size(), 1u);
  EXPECT_EQ(b.streams[0], request);
  EXPECT_GE(realtimeNs() - now, 400'000'000ull);
}

// Replays never take the agent's last file descriptors: past maxConnectionsTotal open (every
// target together) a new replay is shed whole, counted shed_limit, and a later one opens again once
// replays have ended.
TEST(Replayer, ReplaysAcrossTargetsStopAtTheDescriptorBudget) {
  asio::io_context io;
  Recorder a(io), b(io);
  ReplayOptions options;
  options.drainTimeout = std::chrono::milliseconds(200);
  options.maxConnectionsTotal = 3;
  options.maxQueuedPerTarget = 0; // shed at once (the queue has its own tests below)
  Replayer replayer(io, options, planFor({loopbackTarget(a.port()), loopbackTarget(b.port())}));

  std::string request = "GET / HTTP/1.1\r\n\r\n";
  for (flow::FlowId id = 1; id <= 2; id++) { // 2 flows x 2 targets: the 4th copy is over the budget
    replayer.onFlowStart(id, {});
    replayer.onClientData(id, bytes(request));
  }
  const auto &sa = replayer.targets()[0].stats, &sb = replayer.targets()[1].stats;
  EXPECT_EQ(sa.active + sb.active, 3u);
  EXPECT_EQ(sa.shedLimit + sb.shedLimit, 1u);
  for (flow::FlowId id = 1; id <= 2; id++) {
    replayer.onClientFin(id);
    replayer.onFlowEnd(id, flow::FlowEnd::Completed);
  }
  runFor(io, 500);
  EXPECT_EQ(sa.active + sb.active, 0u);
  replayer.onFlowStart(3, {}); // room again: both copies open
  replayer.onClientData(3, bytes(request));
  EXPECT_EQ(sa.active + sb.active, 2u);
  EXPECT_EQ(sa.shedLimit + sb.shedLimit, 1u);
  expectAccounted(sa);
  expectAccounted(sb);
}

static void expectRouted(const TargetStats &s) {
  EXPECT_EQ(s.routed, s.opened + s.shedBackoff + s.shedLimit + s.skippedEmpty + s.pending + s.queued);
}

// Past the target's limit a replay waits in the queue with its bytes and FIN, holding no socket,
// and opens when a replay closes, oldest first: all of a burst reaches the shadow whole, never
// more open at once than the limit.
TEST(Replayer, ReplaysPastTheLimitWaitInTheQueueAndOpenWhole) {
  asio::io_context io;
  Recorder a(io);
  ReplayOptions options;
  options.drainTimeout = std::chrono::milliseconds(200);
  options.maxConnectionsPerTarget = 2;
  Replayer replayer(io, options, planFor({loopbackTarget(a.port())}));

  std::string request = "GET /queued HTTP/1.1\r\n\r\n";
  for (flow::FlowId id = 1; id <= 6; id++) {
    replayer.onFlowStart(id, {});
    replayer.onClientData(id, bytes(request));
    replayer.onClientData(id, bytes(std::to_string(id)));
    replayer.onClientFin(id);
    replayer.onFlowEnd(id, flow::FlowEnd::Completed);
  }
  const auto &s = replayer.targets()[0].stats;
  EXPECT_EQ(s.active, 2u);
  EXPECT_EQ(s.queued, 4u);
  EXPECT_EQ(s.shedLimit, 0u);
  expectRouted(s);
  runFor(io, 1500);
  ASSERT_EQ(a.streams.size(), 6u);
  std::multiset<std::string> got(a.streams.begin(), a.streams.end());
  for (int id = 1; id <= 6; id++)
    EXPECT_EQ(got.count(request + std::to_string(id)), 1u) << id;
  EXPECT_LE(a.mostOpen, 2u);
  EXPECT_EQ(s.queued, 0u);
  EXPECT_EQ(s.opened, 6u);
  EXPECT_EQ(s.completed, 6u);
  expectAccounted(s);
  expectRouted(s);
}

// The queue is bounded in entries and in time, and a replay that leaves it unopened is shed whole
// (shed_limit): past maxQueuedPerTarget at once, after maxQueueWait, or when its connection is
// reset while it waits. The shadow never sees any of them.
TEST(Replayer, QueuedReplaysAreShedWholePastTheQueueLimitOrWait) {
  asio::io_context io;
  Recorder a(io);
  ReplayOptions options;
  options.drainTimeout = std::chrono::milliseconds(200);
  options.maxConnectionsPerTarget = 1;
  options.maxQueuedPerTarget = 3;
  options.maxQueueWait = std::chrono::milliseconds(200);
  Replayer replayer(io, options, planFor({loopbackTarget(a.port())}));

  std::string request = "GET / HTTP/1.1\r\n\r\n";
  for (flow::FlowId id = 1; id <= 5; id++) { // 1 opens and stays open; 2, 3, 4 wait; 5 is shed
    replayer.onFlowStart(id, {});
    replayer.onClientData(id, bytes(request));
  }
  const auto &s = replayer.targets()[0].stats;
  EXPECT_EQ(s.active, 1u);
  EXPECT_EQ(s.queued, 3u);
  EXPECT_EQ(s.shedLimit, 1u);
  replayer.onFlowEnd(3, flow::FlowEnd::Reset); // reset while waiting: shed, never opened
  EXPECT_EQ(s.queued, 2u);
  EXPECT_EQ(s.shedLimit, 2u);
  expectRouted(s);
  runFor(io, 400); // past the wait: the tick sheds 2 and 4
  replayer.tick(0);
  EXPECT_EQ(s.queued, 0u);
  EXPECT_EQ(s.shedLimit, 4u);
  EXPECT_EQ(s.opened, 1u);
  replayer.onClientFin(1);
  replayer.onFlowEnd(1, flow::FlowEnd::Completed);
  runFor(io, 500);
  EXPECT_EQ(a.streams.size(), 1u);
  EXPECT_EQ(s.completed, 1u);
  expectAccounted(s);
  expectRouted(s);
}

// Shutting down with replays queued: they are shed (counted), none is started on the way out.
TEST(Replayer, AbortAllShedsTheQueueWithoutOpeningIt) {
  asio::io_context io;
  Recorder a(io);
  ReplayOptions options;
  options.maxConnectionsPerTarget = 1;
  Replayer replayer(io, options, planFor({loopbackTarget(a.port())}));
  std::string request = "GET / HTTP/1.1\r\n\r\n";
  for (flow::FlowId id = 1; id <= 3; id++) {
    replayer.onFlowStart(id, {});
    replayer.onClientData(id, bytes(request));
    replayer.onClientFin(id);
  }
  const auto &s = replayer.targets()[0].stats;
  EXPECT_EQ(s.queued, 2u);
  replayer.abortAll();
  EXPECT_EQ(s.queued, 0u);
  EXPECT_EQ(s.active, 0u);
  EXPECT_EQ(s.opened, 1u);
  EXPECT_EQ(s.aborted, 1u);
  EXPECT_EQ(s.shedLimit, 2u);
  runFor(io, 300);
  EXPECT_LE(a.streams.size(), 1u);
  expectAccounted(s);
  expectRouted(s);
}

// Waiting replays hold bytes, but only within half the shared backlog budget: the other half stays
// for the open replays, which must not be shed (shed_backlog) for the queue's sake.
TEST(Replayer, QueuedReplaysTakeAtMostHalfTheBacklogBudget) {
  asio::io_context io;
  Recorder a(io);
  ReplayOptions options;
  options.maxConnectionsPerTarget = 1;
  options.maxBacklogTotal = 1000;
  options.maxBacklogPerConnection = 1000;
  options.queuedReplayCost = 0; // bytes only here; the entries' charge has its own test below
  Replayer replayer(io, options, planFor({loopbackTarget(a.port())}));
  replayer.onFlowStart(1, {});
  replayer.onClientData(1, bytes("x")); // opens; connecting: its byte waits in its backlog
  replayer.onFlowStart(2, {});
  replayer.onClientData(2, bytes(std::string(400, 'q'))); // waits: 401 of the 500 for the queue
  replayer.onFlowStart(3, {});
  replayer.onClientData(3, bytes(std::string(200, 'r'))); // 601 > 500: shed, never opened
  const auto &s = replayer.targets()[0].stats;
  EXPECT_EQ(s.queued, 1u);
  EXPECT_EQ(s.shedLimit, 1u);
  replayer.onClientData(1, bytes(std::string(500, 'y'))); // the open replay still has the whole budget
  EXPECT_EQ(s.active, 1u);
  EXPECT_EQ(s.shedBacklog, 0u);
  expectRouted(s);
  replayer.abortAll();
}

// A waiting replay costs memory besides its bytes (queuedReplayCost), charged to the queue's half
// of the backlog budget: a burst of tiny requests fills the queue by memory, not only by count,
// and is shed whole past it; the open replays keep the other half.
TEST(Replayer, EachWaitingReplayIsChargedToTheQueuesHalfOfTheBudget) {
  asio::io_context io;
  Recorder a(io);
  ReplayOptions options;
  options.maxConnectionsPerTarget = 1;
  options.maxQueuedPerTarget = 100; // the count is not what stops it
  options.maxBacklogTotal = 1000;
  options.maxBacklogPerConnection = 1000;
  options.queuedReplayCost = 100;
  Replayer replayer(io, options, planFor({loopbackTarget(a.port())}));
  for (flow::FlowId id = 1; id <= 6; id++) { // 1 opens; 2-5 wait (1 + 4 x 100 + 4 bytes of 500); 6 is shed
    replayer.onFlowStart(id, {});
    replayer.onClientData(id, bytes("x"));
  }
  const auto &s = replayer.targets()[0].stats;
  EXPECT_EQ(s.active, 1u);
  EXPECT_EQ(s.queued, 4u);
  EXPECT_EQ(s.shedLimit, 1u);
  replayer.onFlowEnd(2, flow::FlowEnd::Reset); // one leaves the queue: its charge is given back
  replayer.onFlowStart(7, {});
  replayer.onClientData(7, bytes("x"));
  EXPECT_EQ(s.queued, 4u);
  EXPECT_EQ(s.shedLimit, 2u); // 6, and 2 shed when its flow reset
  replayer.onClientData(1, bytes(std::string(500, 'y'))); // 5 + 400 + 500 of the 1000: the open replay is not shed
  EXPECT_EQ(s.active, 1u);
  EXPECT_EQ(s.shedBacklog, 0u);
  expectRouted(s);
  replayer.abortAll();
  EXPECT_EQ(s.queued, 0u);
}

// A shadow whose accept queue is full drops SYNs, and its connects hang until the SYN is sent
// again (1 s later): past maxConnectingPerTarget in progress, new replays wait in the queue
// instead of piling up connecting, and start as connects complete.
TEST(Replayer, ReplaysPastTheConnectsInProgressWaitInTheQueue) {
  asio::io_context io;
  tcp::acceptor full(io);
  full.open(tcp::v4());
  full.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  full.listen(0); // one connection in the accept queue, then SYNs dropped until it is accepted
  ReplayOptions options;
  options.maxConnectingPerTarget = 2;
  Replayer replayer(io, options, planFor({loopbackTarget(full.local_endpoint().port())}));
  std::string request = "GET / HTTP/1.1\r\n\r\n";
  for (flow::FlowId id = 1; id <= 6; id++) {
    replayer.onFlowStart(id, {});
    replayer.onClientData(id, bytes(request));
  }
  const auto &target = replayer.targets()[0];
  runFor(io, 300); // 1 connects (the accept queue's one place), 2 and then 3 hang: 4-6 wait
  EXPECT_EQ(target.stats.connecting, 2u);
  EXPECT_EQ(target.stats.opened, 3u);
  EXPECT_EQ(target.stats.queued, 3u);
  expectRouted(target.stats);
  full.listen(16); // room again (listen() on a listening socket only changes its backlog)
  std::vector<tcp::socket> accepted;
  acceptEach(full, [&](tcp::socket s) { accepted.push_back(std::move(s)); });
  runFor(io, 2500); // the SYNs sent again are answered; each connect done lets a waiting one start
  EXPECT_EQ(target.stats.connecting, 0u);
  EXPECT_EQ(target.stats.opened, 6u);
  EXPECT_EQ(target.stats.queued, 0u);
  EXPECT_EQ(target.stats.connectFailed, 0u);
  expectRouted(target.stats);
  replayer.abortAll();
}
