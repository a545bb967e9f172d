// SPDX-License-Identifier: Apache-2.0
#include "flow/flow_table.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <map>
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
  void onFlowEnd(FlowId id, FlowEnd end) override { ended[id] = end; }
};

constexpr uint32_t kClientIsn = 1000, kServerIsn = 90000;

// Builds packets of one connection 10.0.0.2:port -> 10.0.0.1:80.
struct Conn {
  uint16_t port;
  std::string storage[64];
  int used = 0;

  TcpPacket pkt(bool fromClient, uint32_t seq, const std::string &data = "", bool syn = false, bool ack = true,
                bool fin = false, bool rst = false) {
    TcpPacket p{};
    __u32 c[4] = {0, 0, htonl(0xffff), htonl(0x0a000002)};
    __u32 s[4] = {0, 0, htonl(0xffff), htonl(0x0a000001)};
    std::memcpy(p.src, fromClient ? c : s, 16);
    std::memcpy(p.dst, fromClient ? s : c, 16);
    p.sport = fromClient ? port : 80;
    p.dport = fromClient ? 80 : port;
    p.seq = seq;
    p.syn = syn;
    p.ack_flag = ack;
    p.fin = fin;
    p.rst = rst;
    auto &keep = storage[used++ % 64];
    keep = data;
    p.payload = {reinterpret_cast<const uint8_t *>(keep.data()), keep.size()};
    return p;
  }
  void handshake(FlowTable &t, uint64_t now = 1) {
    t.onPacket(pkt(true, kClientIsn, "", true, false), now);
    t.onPacket(pkt(false, kServerIsn, "", true, true), now);
    t.onPacket(pkt(true, kClientIsn + 1), now);
  }
};

} // namespace

TEST(FlowTable, CompleteConnectionIsDeliveredBothWaysAndCompletes) {
  RecordingSink sink;
  FlowTable table({}, sink);
  Conn c{40000};
  c.handshake(table);
  table.onPacket(c.pkt(true, kClientIsn + 1, "GET / HTTP/1.1\r\n\r\n"), 2);
  table.onPacket(c.pkt(false, kServerIsn + 1, "HTTP/1.1 200 OK\r\n\r\n"), 3);
  table.onPacket(c.pkt(true, kClientIsn + 19, "", false, true, true), 4);
  EXPECT_TRUE(sink.fin[1]);
  table.onPacket(c.pkt(false, kServerIsn + 20, "", false, true, true), 5);
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

TEST(FlowTable, ResetEndsTheFlow) {
  RecordingSink sink;
  FlowTable table({}, sink);
  Conn c{40002};
  c.handshake(table);
  table.onPacket(c.pkt(true, kClientIsn + 1, "abc"), 2);
  table.onPacket(c.pkt(false, kServerIsn + 1, "", false, true, false, true), 3);
  EXPECT_EQ(sink.ended[1], FlowEnd::Reset);
  EXPECT_EQ(table.stats().flowsReset, 1u);
}

TEST(FlowTable, UnfilledHoleBreaksTheFlowAfterTheGapTimeout) {
  RecordingSink sink;
  FlowLimits limits;
  limits.gapTimeoutNs = 1000;
  FlowTable table(limits, sink);
  Conn c{40003};
  c.handshake(table);
  table.onPacket(c.pkt(true, kClientIsn + 1, "aaaa"), 10);
  table.onPacket(c.pkt(true, kClientIsn + 9, "cccc"), 20); // bytes 5..8 missing
  table.tick(500);
  EXPECT_TRUE(sink.ended.empty());
  table.tick(20 + 1000);
  EXPECT_EQ(sink.ended[1], FlowEnd::Broken);
  EXPECT_EQ(sink.client[1], "aaaa"); // never anything after the hole
  EXPECT_EQ(table.stats().flowsBroken, 1u);
}

TEST(FlowTable, HoleFilledInTimeIsNotBroken) {
  RecordingSink sink;
  FlowLimits limits;
  limits.gapTimeoutNs = 1000;
  FlowTable table(limits, sink);
  Conn c{40004};
  c.handshake(table);
  table.onPacket(c.pkt(true, kClientIsn + 5, "bbbb"), 10);
  table.onPacket(c.pkt(true, kClientIsn + 1, "aaaa"), 900);
  table.tick(5000);
  EXPECT_EQ(sink.client[1], "aaaabbbb");
  EXPECT_EQ(sink.ended.count(1), 0u);
}

TEST(FlowTable, SynFloodStaysWithinMaxFlowsAndCountsEvictions) {
  RecordingSink sink;
  FlowLimits limits;
  limits.maxFlows = 1000;
  FlowTable table(limits, sink);
  for (uint32_t i = 0; i < 50000; i++) {
    Conn c{static_cast<uint16_t>(1024 + i % 60000)};
    TcpPacket syn = c.pkt(true, i, "", true, false);
    syn.src[3] = htonl(0x0a000000 + 2 + i / 60000 + 0x100 * (i % 7));
    table.onPacket(syn, i);
    ASSERT_LE(table.activeFlows(), 1000u);
  }
  const auto &s = table.stats();
  EXPECT_EQ(s.flowsStarted, 50000u);
  EXPECT_EQ(s.flowsEvicted, 50000u - 1000u);
  EXPECT_EQ(s.flowsStarted, s.flowsEvicted + table.activeFlows()); // every flow accounted for
}

TEST(FlowTable, IdleFlowsTimeOut) {
  RecordingSink sink;
  FlowLimits limits;
  limits.idleTimeoutNs = 100;
  FlowTable table(limits, sink);
  Conn c{40005};
  c.handshake(table, 1);
  table.tick(50);
  EXPECT_EQ(sink.ended.count(1), 0u);
  table.tick(200);
  EXPECT_EQ(sink.ended[1], FlowEnd::IdleTimeout);
}

TEST(FlowTable, BufferLimitBreaksTheFlow) {
  RecordingSink sink;
  FlowLimits limits;
  limits.maxBufferedPerDirection = 100;
  FlowTable table(limits, sink);
  Conn c{40006};
  c.handshake(table);
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
  RecordingSink sink;
  FlowLimits limits;
  limits.gapTimeoutNs = 1000;
  FlowTable table(limits, sink);
  Conn c{40007};
  c.handshake(table);
  table.onPacket(c.pkt(true, kClientIsn + 1, "request"), 10);
  table.onPacket(c.pkt(false, kServerIsn + 100, "tail of a response cut short"), 20); // hole before it
  table.tick(20 + 1000);
  EXPECT_EQ(sink.ended.count(1), 0u); // the replay is not affected
  EXPECT_EQ(table.stats().serverStreamsLost, 1u);
  table.onPacket(c.pkt(true, kClientIsn + 8, "", false, true, true), 30);
  EXPECT_TRUE(sink.fin[1]);
  table.onPacket(c.pkt(false, kServerIsn + 500, "", false, true, true), 40);
  EXPECT_EQ(sink.ended[1], FlowEnd::Completed);
  EXPECT_EQ(sink.client[1], "request");
  EXPECT_EQ(table.bufferedBytes(), 0u);
}
