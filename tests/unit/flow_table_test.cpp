// SPDX-License-Identifier: Apache-2.0
#include "flow/flow_table.h"
#include "flow_test_support.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <map>
#include <optional>
#include <string>

using namespace shadowtap;
using namespace shadowtap::flow;

namespace {

struct RecordingSink : FlowSink {
  std::map<FlowId, std::string> client, server;
  std::map<FlowId, FlowEnd> ended;
  std::map<FlowId, bool> fin;
  std::map<FlowId, FlowInfo> started;
  void onFlowStart(FlowId id, const FlowInfo &info) override { started[id] = info; }
  void onClientData(FlowId id, std::span<const uint8_t> b) override { client[id].append(b.begin(), b.end()); }
  void onServerData(FlowId id, std::span<const uint8_t> b) override { server[id].append(b.begin(), b.end()); }
  void onClientFin(FlowId id) override { fin[id] = true; }
  std::map<FlowId, bool> serverFirst;
  void onServerClosedFirst(FlowId id) override { serverFirst[id] = true; }
  void onFlowEnd(FlowId id, FlowEnd end) override { ended[id] = end; }
};

constexpr uint32_t kClientIsn = 1000, kServerIsn = 90000;

// Builds packets of one connection 10.0.0.2:port -> 10.0.0.1:80. Server packets acknowledge
// everything the client has sent so far (unless `ack` is given), like a real server's would.
struct Conn {
  uint16_t port;
  std::string storage[64];
  int used = 0;
  uint32_t clientNext = kClientIsn;
  uint32_t serverNext = kServerIsn;

  TcpPacket pkt(bool fromClient, uint32_t seq, const std::string &data = "", bool syn = false, bool ack = true,
                bool fin = false, bool rst = false) {
    auto &keep = storage[used++ % 64];
    keep = data;
    uint32_t &next = fromClient ? clientNext : serverNext;
    uint32_t end = seq + static_cast<uint32_t>(data.size()) + (syn ? 1 : 0) + (fin ? 1 : 0);
    if (static_cast<int32_t>(end - next) > 0)
      next = end;
    return test::connSegment(port, fromClient, seq, fromClient ? serverNext : clientNext,
                             {reinterpret_cast<const uint8_t *>(keep.data()), keep.size()}, syn, ack, fin, rst);
  }
  // A pure ACK from the server: it has everything the client sent (or up to `upTo`).
  void ack(FlowTable &t, uint64_t now, std::optional<uint32_t> upTo = std::nullopt) {
    TcpPacket p = pkt(false, serverNext);
    if (upTo)
      p.ack = *upTo;
    t.onPacket(p, now);
  }
  void handshake(FlowTable &t, uint64_t now = 1) {
    t.onPacket(pkt(true, kClientIsn, "", true, false), now);
    t.onPacket(pkt(false, kServerIsn, "", true, true), now);
    t.onPacket(pkt(true, kClientIsn + 1), now);
  }
};

// A table with one connection (flow id 1) through its handshake: what most tests start from.
struct OneConnection {
  RecordingSink sink;
  FlowTable table;
  Conn c;
  explicit OneConnection(uint16_t port, const FlowLimits &limits = {}) : table(limits, sink), c{port} {
    c.handshake(table);
  }
};

} // namespace

TEST(FlowTable, CompleteConnectionIsDeliveredBothWaysAndCompletes) {
  OneConnection one(40000);
  auto &[sink, table, c] = one;
  table.onPacket(c.pkt(true, kClientIsn + 1, "GET / HTTP/1.1\r\n\r\n"), 2);
  table.onPacket(c.pkt(false, kServerIsn + 1, "HTTP/1.1 200 OK\r\n\r\n"), 3);
  table.onPacket(c.pkt(true, kClientIsn + 19, "", false, true, true), 4);
  EXPECT_FALSE(sink.fin[1]); // not before the server acknowledged it
  table.onPacket(c.pkt(false, kServerIsn + 20, "", false, true, true), 5);
  EXPECT_TRUE(sink.fin[1]);
  ASSERT_EQ(sink.started.size(), 1u);
  EXPECT_EQ(sink.started[1].clientPort, 40000);
  EXPECT_EQ(sink.client[1], "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(sink.server[1], "HTTP/1.1 200 OK\r\n\r\n");
  EXPECT_EQ(sink.ended[1], FlowEnd::Completed);
  EXPECT_EQ(table.stats().flowsCompleted, 1u);
  EXPECT_EQ(table.activeFlows(), 0u);
  // The last ACK arrives after completion: absorbed by the tombstone, not a "mid-stream" flow.
  table.onPacket(c.pkt(true, kClientIsn + 20), 6);
  EXPECT_EQ(table.stats().midstreamSkipped, 0u);
}

// A collector (`shadowtap collect`) hears many nodes: the same addresses and ports in two VXLAN
// networks (zones) are two connections, each whole, never one stream mixing both.
TEST(FlowTable, TheSameTupleInTwoZonesIsTwoConnections) {
  RecordingSink sink;
  FlowTable table({}, sink);
  Conn a{40000}, b{40000};
  auto in = [](TcpPacket p, uint32_t zone) {
    p.zone = zone;
    return p;
  };
  for (auto [conn, zone] : {std::pair{&a, 7u}, std::pair{&b, 8u}}) {
    table.onPacket(in(conn->pkt(true, kClientIsn, "", true, false), zone), 1);
    table.onPacket(in(conn->pkt(false, kServerIsn, "", true, true), zone), 1);
    table.onPacket(in(conn->pkt(true, kClientIsn + 1), zone), 1);
  }
  table.onPacket(in(a.pkt(true, kClientIsn + 1, "from seven"), 7), 2);
  table.onPacket(in(b.pkt(true, kClientIsn + 1, "from eight"), 8), 2);
  a.ack(table, 3); // zone 0: nobody's
  table.onPacket(in(a.pkt(false, a.serverNext), 7), 3);
  table.onPacket(in(b.pkt(false, b.serverNext), 8), 3);
  ASSERT_EQ(sink.started.size(), 2u);
  EXPECT_EQ(sink.started[1].key.zone, 7u);
  EXPECT_EQ(sink.started[2].key.zone, 8u);
  EXPECT_EQ(std::memcmp(&sink.started[1].key.tuple, &sink.started[2].key.tuple, sizeof(st_flow_key)), 0);
  EXPECT_EQ(sink.client[1], "from seven");
  EXPECT_EQ(sink.client[2], "from eight");
  EXPECT_EQ(table.stats().midstreamSkipped, 1u); // the zone-0 ACK: no connection of its own there
}

TEST(FlowTable, ConnectionsWithoutSynAreSkippedAndCountedOnce) {
  RecordingSink sink;
  FlowTable table({}, sink);
  Conn c{40001};
  for (int i = 0; i < 5; i++)
    table.onPacket(c.pkt(true, 5000 + i * 10, "0123456789"), 1);
  EXPECT_EQ(table.stats().midstreamSkipped, 1u);
  EXPECT_TRUE(sink.started.empty());
  // A new SYN on the same tuple starts a real flow.
  c.handshake(table, 2);
  EXPECT_EQ(sink.started.size(), 1u);
}

TEST(FlowTable, ClientResetEndsTheFlow) {
  OneConnection one(40002);
  auto &[sink, table, c] = one;
  table.onPacket(c.pkt(true, kClientIsn + 1, "abc"), 2);
  c.ack(table, 2);
  table.onPacket(c.pkt(true, kClientIsn + 4, "", false, true, false, true), 3);
  EXPECT_EQ(sink.ended[1], FlowEnd::Reset);
  EXPECT_EQ(table.stats().flowsReset, 1u);
}

// The server reset right after a complete request: what it had acknowledged is the request, and
// the replay gets it whole (the flow ends as server_reset, not as a client abort).
TEST(FlowTable, ServerResetAfterACompleteRequestStillDeliversIt) {
  OneConnection one(40012);
  auto &[sink, table, c] = one;
  table.onPacket(c.pkt(true, kClientIsn + 1, "GET / HTTP/1.1\r\n\r\n"), 2);
  table.onPacket(c.pkt(false, kServerIsn + 1, "", false, true, false, true), 3); // RST, ACK
  EXPECT_EQ(sink.client[1], "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(sink.ended[1], FlowEnd::ServerReset);
  EXPECT_EQ(table.stats().serverReset, 1u);
  EXPECT_EQ(table.stats().flowsReset, 0u);
}

// RFC 5961: only a RST at the receiver's next sequence number counts; any other (in window or
// not, forged or stale) is ignored, as Linux ignores it (it answers with a challenge ACK).
TEST(FlowTable, ResetsOutsideTheExactNextSequenceAreIgnored) {
  OneConnection one(40013);
  auto &[sink, table, c] = one;
  table.onPacket(c.pkt(true, kClientIsn + 1, "abcdef"), 2);
  c.ack(table, 2);
  table.onPacket(c.pkt(true, kClientIsn + 1000, "", false, false, false, true), 3);       // in window
  table.onPacket(c.pkt(true, kClientIsn + 0x40000000u, "", false, false, false, true), 3); // far away
  table.onPacket(c.pkt(false, kServerIsn + 77, "", false, true, false, true), 3);         // server, wrong seq
  EXPECT_EQ(sink.ended.count(1), 0u);
  EXPECT_EQ(table.stats().rstIgnored, 3u);
  table.onPacket(c.pkt(true, kClientIsn + 7, "ghi"), 4);
  c.ack(table, 4);
  EXPECT_EQ(sink.client[1], "abcdefghi");
  table.onPacket(c.pkt(true, kClientIsn + 10, "", false, false, false, true), 5); // exact
  EXPECT_EQ(sink.ended[1], FlowEnd::Reset);
}

TEST(FlowTable, UnfilledHoleBreaksTheFlowAfterTheGapTimeout) {
  OneConnection one(40003, {.gapTimeoutNs = 1000});
  auto &[sink, table, c] = one;
  table.onPacket(c.pkt(true, kClientIsn + 1, "aaaa"), 10);
  c.ack(table, 10);
  table.onPacket(c.pkt(true, kClientIsn + 9, "cccc"), 20); // bytes 5..8 missing
  table.tick(500);
  EXPECT_TRUE(sink.ended.empty());
  table.tick(20 + 1000);
  EXPECT_EQ(sink.ended[1], FlowEnd::Broken);
  EXPECT_EQ(sink.client[1], "aaaa"); // never anything after the hole
  EXPECT_EQ(table.stats().flowsBroken, 1u);
}

TEST(FlowTable, HoleFilledInTimeIsNotBroken) {
  OneConnection one(40004, {.gapTimeoutNs = 1000});
  auto &[sink, table, c] = one;
  table.onPacket(c.pkt(true, kClientIsn + 5, "bbbb"), 10);
  table.onPacket(c.pkt(true, kClientIsn + 1, "aaaa"), 900);
  c.ack(table, 950);
  table.tick(5000);
  EXPECT_EQ(sink.client[1], "aaaabbbb");
  EXPECT_EQ(sink.ended.count(1), 0u);
}

TEST(FlowTable, SynFloodStaysWithinMaxFlowsAndCountsEvictions) {
  RecordingSink sink;
  FlowTable table({.maxFlows = 1000}, sink);
  for (uint32_t i = 0; i < 50000; i++) {
    Conn c{static_cast<uint16_t>(1024 + i % 60000)};
    TcpPacket syn = c.pkt(true, i, "", true, false);
    syn.src[3] = htonl(0x0a000000 + 2 + i / 60000 + 0x100 * (i % 7));
    table.onPacket(syn, i);
    ASSERT_LE(table.activeFlows(), 1000u);
  }
  const auto &s = table.stats();
  EXPECT_EQ(s.flowsStarted, 50000u);
  // Half-open flows pushed out are never-established ones, not evicted connections.
  EXPECT_EQ(s.neverEstablished, 50000u - 1000u);
  EXPECT_EQ(s.flowsEvicted, 0u);
  EXPECT_EQ(s.flowsStarted, s.neverEstablished + table.activeFlows()); // every flow accounted for
  EXPECT_TRUE(sink.started.empty()); // no SYN-ACK: nothing reached the replay
}

// A SYN flood fills the table with half-open flows: they, not the established connection, are
// what gets pushed out, and the connection still replays whole.
TEST(FlowTable, SynFloodNeverPushesOutAnEstablishedConnection) {
  RecordingSink sink;
  FlowTable table({.maxFlows = 100}, sink);
  Conn real{40014};
  real.handshake(table, 1);
  table.onPacket(real.pkt(true, kClientIsn + 1, "hello "), 2);
  for (uint32_t i = 0; i < 5000; i++) {
    Conn c{static_cast<uint16_t>(1024 + i)};
    table.onPacket(c.pkt(true, i, "", true, false), 3 + i);
  }
  table.onPacket(real.pkt(true, kClientIsn + 7, "world"), 6000);
  real.ack(table, 6000);
  EXPECT_EQ(sink.client[1], "hello world");
  EXPECT_EQ(sink.ended.count(1), 0u);
  EXPECT_EQ(table.stats().flowsEvicted, 0u);
  EXPECT_EQ(table.stats().neverEstablished, 5000u - 99u);
}

// A SYN flood the server answers (SYN cookies): every flood flow is established a round trip later,
// so the half-open list holds only handshakes in flight. A real client's connection between its SYN
// and the SYN-ACK is one of them: the oldest established flood flow goes instead, and the real
// connection replays whole.
TEST(FlowTable, AHandshakeInProgressOutlivesAnAnsweredSynFlood) {
  RecordingSink sink;
  FlowTable table({.maxFlows = 100}, sink);
  uint64_t now = 1;
  for (uint16_t i = 0; i < 150; i++) {
    Conn flood{static_cast<uint16_t>(1024 + i)};
    flood.handshake(table, now++);
  }
  Conn real{40020};
  table.onPacket(real.pkt(true, kClientIsn, "", true, false), now++); // flow 151
  for (uint16_t i = 150; i < 170; i++) {
    Conn flood{static_cast<uint16_t>(1024 + i)};
    flood.handshake(table, now++);
  }
  table.onPacket(real.pkt(false, kServerIsn, "", true, true), now++);
  table.onPacket(real.pkt(true, kClientIsn + 1, "hello"), now++);
  real.ack(table, now++);
  EXPECT_EQ(sink.client[151], "hello");
  EXPECT_EQ(sink.ended.count(151), 0u);
  EXPECT_EQ(table.stats().neverEstablished, 0u);
  EXPECT_EQ(table.stats().flowsEvicted, 71u); // 171 flows into 100 places
}

TEST(FlowTable, IdleFlowsTimeOut) {
  RecordingSink sink;
  FlowTable table({.idleTimeoutNs = 100}, sink);
  Conn c{40005};
  c.handshake(table, 1);
  table.tick(50);
  EXPECT_EQ(sink.ended.count(1), 0u);
  table.tick(200);
  EXPECT_EQ(sink.ended[1], FlowEnd::IdleTimeout);
}

TEST(FlowTable, BufferLimitBreaksTheFlow) {
  OneConnection one(40006, {.maxBufferedPerDirection = 100});
  auto &[sink, table, c] = one;
  table.onPacket(c.pkt(true, kClientIsn + 50, std::string(200, 'x')), 2);
  EXPECT_EQ(sink.ended[1], FlowEnd::Broken);
  EXPECT_EQ(table.stats().flowsBrokenOverflow, 1u);
  EXPECT_EQ(table.bufferedBytes(), 0u);
}

TEST(FlowTable, ShutdownEndsEveryFlow) {
  RecordingSink sink;
  FlowTable table({}, sink);
  for (uint16_t p = 1; p <= 10; p++) {
    Conn c{p};
    c.handshake(table);
  }
  table.closeAll(FlowEnd::Shutdown);
  EXPECT_EQ(sink.ended.size(), 10u);
  EXPECT_EQ(table.stats().flowsShutdown, 10u);
  EXPECT_EQ(table.activeFlows(), 0u);
}

TEST(FlowTable, ResponseDirectionHoleDropsOnlyThatStream) {
  OneConnection one(40007, {.gapTimeoutNs = 1000});
  auto &[sink, table, c] = one;
  table.onPacket(c.pkt(true, kClientIsn + 1, "request"), 10);
  table.onPacket(c.pkt(false, kServerIsn + 100, "tail of a response cut short"), 20); // hole before it
  table.tick(20 + 1000);
  EXPECT_EQ(sink.ended.count(1), 0u); // the replay is not affected
  EXPECT_EQ(table.stats().serverStreamsLost, 1u);
  table.onPacket(c.pkt(true, kClientIsn + 8, "", false, true, true), 30);
  c.ack(table, 30);
  EXPECT_TRUE(sink.fin[1]);
  table.onPacket(c.pkt(false, kServerIsn + 500, "", false, true, true), 40);
  EXPECT_EQ(sink.ended[1], FlowEnd::Completed);
  EXPECT_EQ(sink.client[1], "request");
  EXPECT_EQ(table.bufferedBytes(), 0u);
}

// Replay what the server accepted (issue: a spoofed client half reached the shadow as a request).
TEST(FlowTable, SpoofedClientHalfWithoutSynAckIsNeverReplayed) {
  RecordingSink sink;
  FlowTable table({.handshakeTimeoutNs = 1000}, sink);
  Conn c{40020};
  table.onPacket(c.pkt(true, kClientIsn, "", true, false), 1);
  table.onPacket(c.pkt(true, kClientIsn + 1, "GET /admin HTTP/1.1\r\n\r\n", false, true), 2);
  table.onPacket(c.pkt(true, kClientIsn + 24, "", false, true, true), 3);
  table.tick(500);
  EXPECT_EQ(table.activeFlows(), 1u);
  table.tick(3 + 1000);
  EXPECT_TRUE(sink.started.empty());
  EXPECT_TRUE(sink.client.empty());
  EXPECT_EQ(table.stats().neverEstablished, 1u);
  EXPECT_EQ(table.stats().unacked, 1u);
  EXPECT_EQ(table.activeFlows(), 0u);
}

TEST(FlowTable, BytesTheServerNeverAcknowledgedAreNeverReplayed) {
  OneConnection one(40021, {.idleTimeoutNs = 1000});
  auto &[sink, table, c] = one;
  table.onPacket(c.pkt(true, kClientIsn + 1, "accepted"), 2);
  table.onPacket(c.pkt(true, kClientIsn + 9, "dropped by the server"), 3);
  c.ack(table, 4, kClientIsn + 9); // the server took only the first segment
  EXPECT_EQ(sink.client[1], "accepted");
  table.tick(4 + 1000);
  EXPECT_EQ(sink.client[1], "accepted");
  EXPECT_EQ(sink.ended[1], FlowEnd::IdleTimeout);
  EXPECT_EQ(table.stats().unacked, 1u);
}

// The capture may deliver the server's ACK before the client's data (clones of different CPUs):
// bytes that arrive already acknowledged go out at once.
TEST(FlowTable, AcknowledgementSeenBeforeItsDataReleasesTheDataOnArrival) {
  OneConnection one(40022);
  auto &[sink, table, c] = one;
  c.ack(table, 2, kClientIsn + 1 + 5);
  EXPECT_TRUE(sink.client[1].empty());
  table.onPacket(c.pkt(true, kClientIsn + 1, "early"), 3);
  EXPECT_EQ(sink.client[1], "early");
}

// The copies of the two directions reach the capture through per-CPU queues and can cross: a
// response may be captured before the request it answers. Its acknowledgement says so; it waits
// for the request, so the sink (HTTP pairing) always sees a request before its response.
// Who closed first is told to the replay, which keeps that order (ReplayOptions::closeGrace).
TEST(FlowTable, TheServerClosingFirstIsToldOnlyWhenItsFinComesFirst) {
  RecordingSink sink;
  FlowTable table({}, sink);
  Conn server{40031}, client{40032};
  for (Conn *c : {&server, &client}) {
    c->handshake(table);
    table.onPacket(c->pkt(true, kClientIsn + 1, "GET / HTTP/1.1\r\n\r\n"), 2);
  }
  // Connection 1: response and FIN from the server, then the client's FIN.
  table.onPacket(server.pkt(false, kServerIsn + 1, "HTTP/1.1 200 OK\r\n\r\n", false, true, true), 3);
  table.onPacket(server.pkt(true, server.clientNext, "", false, true, true), 4);
  server.ack(table, 5);
  // Connection 2: the client's FIN, then the server's response and FIN (acknowledging it at once).
  table.onPacket(client.pkt(true, client.clientNext, "", false, true, true), 3);
  table.onPacket(client.pkt(false, kServerIsn + 1, "HTTP/1.1 200 OK\r\n\r\n", false, true, true), 4);
  EXPECT_TRUE(sink.serverFirst[1]);
  EXPECT_FALSE(sink.serverFirst[2]);
  EXPECT_TRUE(sink.fin[1]);
  EXPECT_TRUE(sink.fin[2]);
}

TEST(FlowTable, ResponseCapturedBeforeItsRequestIsDeliveredAfterIt) {
  struct OrderSink : RecordingSink {
    std::string order;
    void onClientData(FlowId id, std::span<const uint8_t> b) override {
      order += 'C';
      RecordingSink::onClientData(id, b);
    }
    void onServerData(FlowId id, std::span<const uint8_t> b) override {
      order += 'S';
      RecordingSink::onServerData(id, b);
    }
  } sink;
  FlowTable table({}, sink);
  Conn c{40023};
  c.handshake(table);
  TcpPacket response = c.pkt(false, kServerIsn + 1, "HTTP/1.1 200 OK\r\n\r\n");
  response.ack = kClientIsn + 1 + 18; // it acknowledges the request below
  table.onPacket(response, 2);
  EXPECT_TRUE(sink.server[1].empty());
  EXPECT_EQ(table.stats().serverHeld, 1u);
  EXPECT_GT(table.bufferedBytes(), 0u);
  table.onPacket(c.pkt(true, kClientIsn + 1, "GET / HTTP/1.1\r\n\r\n"), 3);
  EXPECT_EQ(sink.order, "CS");
  EXPECT_EQ(sink.client[1], "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(sink.server[1], "HTTP/1.1 200 OK\r\n\r\n");
  EXPECT_EQ(table.bufferedBytes(), 0u);
  // In order from here on: nothing more is held.
  table.onPacket(c.pkt(true, kClientIsn + 19, "GET /2 HTTP/1.1\r\n\r\n"), 4);
  table.onPacket(c.pkt(false, kServerIsn + 20, "HTTP/1.1 204 No Content\r\n\r\n"), 5);
  EXPECT_EQ(sink.order, "CSCS");
  EXPECT_EQ(table.stats().serverHeld, 1u);
}

// A response acknowledging bytes the capture lost: held, never delivered, freed when the flow breaks.
TEST(FlowTable, ResponseHeldForLostRequestBytesIsFreedWhenTheFlowBreaks) {
  OneConnection one(40024, {.gapTimeoutNs = 100});
  auto &[sink, table, c] = one;
  TcpPacket response = c.pkt(false, kServerIsn + 1, "HTTP/1.1 200 OK\r\n\r\n");
  response.ack = kClientIsn + 1 + 18;
  table.onPacket(response, 2);
  table.tick(1000);
  EXPECT_EQ(sink.ended[1], FlowEnd::Broken);
  EXPECT_TRUE(sink.server[1].empty());
  EXPECT_EQ(table.bufferedBytes(), 0u);
}

TEST(FlowTable, FastOpenDataInTheSynIsPartOfTheStream) {
  RecordingSink sink;
  FlowTable table({}, sink);
  Conn c{40023};
  table.onPacket(c.pkt(true, kClientIsn, "GET /tfo HTTP/1.1\r\n\r\n", true, false), 1);
  table.onPacket(c.pkt(false, kServerIsn, "", true, true), 2); // the SYN-ACK acknowledges the data
  table.onPacket(c.pkt(true, kClientIsn + 22, "more"), 3);
  c.ack(table, 4);
  EXPECT_EQ(sink.client[1], "GET /tfo HTTP/1.1\r\n\r\nmore");
}

TEST(FlowTable, RefusedFastOpenDataIsReplayedOnceFromItsRetransmission) {
  RecordingSink sink;
  FlowTable table({}, sink);
  Conn c{40024};
  table.onPacket(c.pkt(true, kClientIsn, "hello", true, false), 1);
  TcpPacket synAck = c.pkt(false, kServerIsn, "", true, true);
  synAck.ack = kClientIsn + 1; // no valid cookie: the server took the SYN, not its data
  table.onPacket(synAck, 2);
  EXPECT_TRUE(sink.client[1].empty());
  table.onPacket(c.pkt(true, kClientIsn + 1, "hello"), 3); // the client sends it again
  c.ack(table, 4);
  EXPECT_EQ(sink.client[1], "hello");
}

TEST(FlowTable, AcknowledgedBytesTheCaptureNeverDeliveredBreakTheFlow) {
  OneConnection one(40025, {.gapTimeoutNs = 1000});
  auto &[sink, table, c] = one;
  table.onPacket(c.pkt(true, kClientIsn + 1, "seen"), 2);
  c.ack(table, 3, kClientIsn + 1 + 4 + 100); // the server got 100 bytes we never saw
  EXPECT_EQ(sink.client[1], "seen");
  table.tick(3 + 1000);
  EXPECT_EQ(sink.ended[1], FlowEnd::Broken);
  EXPECT_EQ(table.stats().brokenCaptureLoss, 1u);
}

TEST(FlowTable, ClientSegmentCutShortBreaksOnlyItsFlow) {
  RecordingSink sink;
  FlowTable table({}, sink);
  Conn a{40026}, b{40027};
  a.handshake(table);
  b.handshake(table);
  TcpPacket cut = a.pkt(true, kClientIsn + 1, "only a prefix of a large segment");
  cut.truncated = true;
  table.onPacket(cut, 2);
  table.onPacket(b.pkt(true, kClientIsn + 1, "fine"), 2);
  b.ack(table, 3);
  EXPECT_EQ(sink.ended[1], FlowEnd::Broken);
  EXPECT_EQ(table.stats().brokenTruncated, 1u);
  EXPECT_EQ(sink.client[2], "fine");
  EXPECT_EQ(sink.ended.count(2), 0u);
}

TEST(FlowTable, RefusedConnectionIsNeverEstablished) {
  RecordingSink sink;
  FlowTable table({}, sink);
  Conn c{40028};
  table.onPacket(c.pkt(true, kClientIsn, "", true, false), 1);
  table.onPacket(c.pkt(false, 0, "", false, true, false, true), 2); // RST, ACK isn+1: port closed
  EXPECT_EQ(table.stats().neverEstablished, 1u);
  EXPECT_EQ(table.activeFlows(), 0u);
  EXPECT_TRUE(sink.started.empty());
}

// Every way a flow can end is counted once: the identity `status` documents.
TEST(FlowTable, OverloadShedsTheHeaviestEstablishedFlowWholeAndAbsorbsItsLatePackets) {
  RecordingSink sink;
  FlowTable table({}, sink);
  Conn light{40100}, heavy{40101}, halfOpen{40102};
  light.handshake(table);
  heavy.handshake(table);
  table.onPacket(halfOpen.pkt(true, kClientIsn, "", true, false), 1); // never answered: not sheddable
  EXPECT_TRUE(table.shedShareOfRecentBytes(1.0).empty()); // no bytes yet: nothing to shed
  table.onPacket(light.pkt(true, kClientIsn + 1, "ab"), 2);
  table.onPacket(heavy.pkt(true, kClientIsn + 1, std::string(100, 'x')), 2);
  heavy.ack(table, 3);
  auto shed = table.shedShareOfRecentBytes(1e-9); // the smallest share: the heaviest alone
  ASSERT_EQ(shed.size(), 1u);
  st_flow_key heavyKey;
  TcpPacket probe = heavy.pkt(true, kClientIsn + 101);
  st_flow_key_make(&heavyKey, probe.src, probe.sport, probe.dst, probe.dport);
  EXPECT_EQ(std::memcmp(&shed[0], &heavyKey, sizeof(heavyKey)), 0);
  EXPECT_EQ(sink.ended[2], FlowEnd::Shed);
  EXPECT_EQ(sink.client[2], std::string(100, 'x')); // what was delivered before stays delivered
  EXPECT_EQ(table.stats().flowsShed, 1u);
  // Its frames still in the capture ring are absorbed: no mid-stream flow, nothing delivered.
  table.onPacket(heavy.pkt(true, kClientIsn + 101, "more"), 4);
  heavy.ack(table, 4);
  EXPECT_EQ(table.stats().midstreamSkipped, 0u);
  EXPECT_EQ(sink.client[2], std::string(100, 'x'));
  // The next look weighs only what came since the last: the light flow is next, then nothing.
  EXPECT_TRUE(table.shedShareOfRecentBytes(1.0).empty());
  table.onPacket(light.pkt(true, kClientIsn + 3, "c"), 5);
  EXPECT_EQ(table.shedShareOfRecentBytes(1e-9).size(), 1u);
  EXPECT_EQ(sink.ended[1], FlowEnd::Shed);
  EXPECT_EQ(table.stats().flowsShed, 2u);
  EXPECT_EQ(table.activeFlows(), 1u); // the half-open one
}

// One look sheds the fewest heaviest flows that make up the share; a look with share 0 sheds
// nothing and still starts the next look (bytes before it no longer weigh).
TEST(FlowTable, OverloadShedsTheFewestHeaviestFlowsThatMakeUpTheShare) {
  RecordingSink sink;
  FlowTable table({}, sink);
  std::vector<Conn> conns{{40200}, {40201}, {40202}, {40203}};
  const size_t sizes[] = {10, 40, 20, 30}; // 100 bytes in all
  for (size_t i = 0; i < conns.size(); i++) {
    conns[i].handshake(table);
    table.onPacket(conns[i].pkt(true, kClientIsn + 1, std::string(sizes[i], 'x')), 2);
  }
  EXPECT_TRUE(table.shedShareOfRecentBytes(0).empty()); // share 0: a look that sheds nothing
  EXPECT_TRUE(table.shedShareOfRecentBytes(1.0).empty()); // those bytes were the last look's
  for (size_t i = 0; i < conns.size(); i++)
    table.onPacket(conns[i].pkt(true, kClientIsn + 1 + sizes[i], std::string(sizes[i], 'y')), 3);
  // 0.6 of 100 bytes: the 40 and the 30 (70), not the 40 alone, and not the 20 as well.
  auto shed = table.shedShareOfRecentBytes(0.6);
  EXPECT_EQ(shed.size(), 2u);
  EXPECT_EQ(sink.ended.count(1), 0u);
  EXPECT_EQ(sink.ended.count(3), 0u);
  EXPECT_EQ(sink.ended[2], FlowEnd::Shed);
  EXPECT_EQ(sink.ended[4], FlowEnd::Shed);
  for (size_t i : {0, 2})
    table.onPacket(conns[i].pkt(true, kClientIsn + 1 + 2 * sizes[i], "z"), 4);
  EXPECT_EQ(table.shedShareOfRecentBytes(1.0).size(), 2u); // the whole share: every one that brought bytes
  EXPECT_EQ(table.stats().flowsShed, 4u);
}

TEST(FlowTable, EndingsAddUpToStarted) {
  RecordingSink sink;
  FlowTable table({.maxFlows = 50, .gapTimeoutNs = 100, .idleTimeoutNs = 10000, .handshakeTimeoutNs = 1000}, sink);
  for (uint16_t i = 0; i < 400; i++) {
    Conn c{static_cast<uint16_t>(2000 + i)};
    uint64_t t = 10ull * i;
    table.onPacket(c.pkt(true, kClientIsn, "", true, false), t);
    if (i % 5 == 0)
      continue; // half-open
    table.onPacket(c.pkt(false, kServerIsn, "", true, true), t);
    table.onPacket(c.pkt(true, kClientIsn + 1, "data"), t);
    if (i % 5 == 1)
      c.ack(table, t);
    if (i % 5 == 2)
      table.onPacket(c.pkt(true, kClientIsn + 5, "", false, true, false, true), t);
    if (i % 5 == 3)
      table.onPacket(c.pkt(true, kClientIsn + 50, "gap"), t);
    table.tick(t);
  }
  table.tick(100000);
  const auto &s = table.stats();
  EXPECT_EQ(s.flowsStarted, 400u);
  EXPECT_EQ(s.flowsStarted, s.neverEstablished + s.flowsCompleted + s.flowsReset + s.serverReset + s.flowsBroken +
                                s.flowsEvicted + s.flowsIdle + s.flowsShutdown + s.flowsShed + s.active);
  EXPECT_EQ(s.active, 0u);
  EXPECT_EQ(s.established, s.flowsStarted - s.neverEstablished);
}

namespace {
// The SYN and SYN-ACK of `c`, offering these window scale shifts (-1: no option).
void handshakeOffering(FlowTable &table, Conn &c, int8_t clientScale, int8_t serverScale) {
  TcpPacket syn = c.pkt(true, kClientIsn, "", true, false);
  syn.windowScale = clientScale;
  table.onPacket(syn, 1);
  TcpPacket synAck = c.pkt(false, kServerIsn, "", true, true);
  synAck.windowScale = serverScale;
  table.onPacket(synAck, 1);
}

// A 64 KiB segment is lost before the tap; the client goes on for `beyond` more bytes (the server
// answering each with a duplicate ACK that advertises `window`, shifted by its scale when both SYNs
// offered one), then retransmits it. Returns the flow's end (nullopt: still open) and the bytes delivered.
std::pair<std::optional<FlowEnd>, size_t> lostSegmentThenRest(int8_t clientScale, int8_t serverScale,
                                                              uint16_t window, size_t beyond,
                                                              FlowLimits limits = {}) {
  RecordingSink sink;
  FlowTable table(limits, sink);
  Conn c{41000};
  handshakeOffering(table, c, clientScale, serverScale);
  table.onPacket(c.pkt(true, kClientIsn + 1), 1);
  constexpr size_t kSegment = 64u << 10;
  const std::string chunk(kSegment, 'x');
  auto dupAck = [&](uint64_t now) {
    TcpPacket a = c.pkt(false, c.serverNext);
    a.ack = kClientIsn + 1; // the lost segment is the first one: nothing after it is acknowledged
    a.window = window;
    table.onPacket(a, now);
  };
  dupAck(2);
  for (size_t at = kSegment; at < kSegment + beyond && sink.ended.empty(); at += kSegment) {
    table.onPacket(c.pkt(true, kClientIsn + 1 + static_cast<uint32_t>(at), chunk), 3);
    dupAck(3);
  }
  table.onPacket(c.pkt(true, kClientIsn + 1, chunk), 4); // the retransmission
  c.ack(table, 4);
  std::optional<FlowEnd> end;
  if (sink.ended.count(1))
    end = sink.ended[1];
  return {end, sink.client[1].size()};
}
} // namespace

// Behind a segment lost before the tap, the client may send a whole window the server advertised
// before the retransmission comes (line-rate streams: several MiB). The client's bytes are held up
// to that window, not the fixed per-direction bound, so the stream is replayed whole; without window
// scaling, or past maxBufferedFollowingWindow, the fixed bounds hold.
TEST(FlowTable, BytesPastALostSegmentAreHeldUpToTheWindowTheServerAdvertised) {
  constexpr size_t kBeyond = 6u << 20, kWhole = kBeyond + (64u << 10);
  auto [end, delivered] = lostSegmentThenRest(7, 7, 65535, kBeyond); // 8 MiB window
  EXPECT_FALSE(end.has_value()) << "ended " << flowEndName(*end);
  EXPECT_EQ(delivered, kWhole);

  // A 64 KiB window (the client offered no scale, so none applies): 6 MiB past the hole is more than
  // any sender could have sent, and more than the 4 MiB bound.
  std::tie(end, delivered) = lostSegmentThenRest(-1, 7, 65535, kBeyond);
  EXPECT_EQ(end, FlowEnd::Broken);
  EXPECT_EQ(delivered, 0u);

  // A 1 GiB window is followed only up to maxBufferedFollowingWindow.
  std::tie(end, delivered) = lostSegmentThenRest(14, 14, 65535, kBeyond, {.maxBufferedFollowingWindow = 5u << 20});
  EXPECT_EQ(end, FlowEnd::Broken);
  // ...and never past the total.
  std::tie(end, delivered) = lostSegmentThenRest(14, 14, 65535, kBeyond, {.maxBufferedTotal = 5u << 20});
  EXPECT_EQ(end, FlowEnd::Broken);
  std::tie(end, delivered) = lostSegmentThenRest(14, 14, 65535, kBeyond);
  EXPECT_FALSE(end.has_value());
  EXPECT_EQ(delivered, kWhole);
}

// The response direction the same way: a download past a segment lost before the tap is held up to
// the window the client advertised (HTTP mode reassembles responses).
TEST(FlowTable, ResponseBytesPastALostSegmentAreHeldUpToTheWindowTheClientAdvertised) {
  for (bool clientScales : {true, false}) {
    RecordingSink sink;
    FlowTable table({}, sink);
    Conn c{41001};
    handshakeOffering(table, c, clientScales ? 8 : -1, 8);
    TcpPacket ack = c.pkt(true, kClientIsn + 1);
    ack.window = 65535; // 16 MiB when both SYNs offered the scale, else 64 KiB
    table.onPacket(ack, 1);
    constexpr size_t kSegment = 64u << 10, kBeyond = 6u << 20;
    const std::string chunk(kSegment, 'r');
    for (size_t at = kSegment; at < kSegment + kBeyond && sink.ended.empty(); at += kSegment)
      table.onPacket(c.pkt(false, kServerIsn + 1 + static_cast<uint32_t>(at), chunk), 2);
    table.onPacket(c.pkt(false, kServerIsn + 1, chunk), 3); // the retransmission
    if (clientScales) {
      EXPECT_EQ(sink.server[1].size(), kBeyond + kSegment);
      EXPECT_EQ(table.stats().serverStreamsLost, 0u);
    } else { // past the 4 MiB bound: the response stream is given up, the flow goes on
      EXPECT_EQ(sink.server[1].size(), 0u);
      EXPECT_EQ(table.stats().serverStreamsLost, 1u);
    }
    EXPECT_EQ(sink.ended.count(1), 0u);
  }
}
